//! The `dbond` binary: argument parsing and wiring only. The one place that reads
//! the environment and argv.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "dbond", version, about = "Diaspora bond issuance and registry ledger")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the coupon and redemption cash flows of a bond (JSON).
    Schedule(dbond::cli::calc::ScheduleArgs),
    /// Price from yield, yield from price, or patriotic-discount pricing (JSON).
    Price(dbond::cli::calc::PriceArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Schedule(args) => dbond::cli::calc::run_schedule(&args),
        Command::Price(args) => dbond::cli::calc::run_price(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
