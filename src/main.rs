//! The `dbond` binary: argument parsing and wiring only. The one place that reads
//! the environment and argv.

use clap::{Parser, Subcommand};
use dbond::cli;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "dbond",
    version,
    about = "Diaspora bond issuance and registry ledger: a signed, append-only, provable registry"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a whole diaspora bond programme end to end through a real server, and verify it.
    Demo(cli::demo::DemoArgs),
    /// Run the ledger server (creates the ledger in --data or --store on first start).
    Serve(cli::serve::ServeArgs),
    /// Keep a verified copy of a running ledger, following it; optionally serve its reads.
    Mirror(cli::mirror::MirrorArgs),
    /// Write an online backup of a running ledger: a data folder as of its current signed checkpoint.
    Backup(cli::backup::BackupArgs),
    /// The PostgreSQL store's tables: `dbond store init --store URL`.
    #[command(subcommand)]
    Store(cli::store::StoreCommand),
    /// Serve the live web console for one participant's key (loopback by default).
    Console(cli::console::ConsoleArgs),
    /// Generate a participant key pair.
    Keygen(cli::keygen::KeygenArgs),
    /// The ledger's own key: make one in a PKCS#11 token, measure its signing rate.
    #[command(subcommand)]
    LedgerKey(cli::ledger_key::LedgerKeyCommand),
    /// Register, rotate, revoke and list participants.
    #[command(subcommand)]
    Participant(cli::participant::ParticipantCommand),
    /// A rehearsal server's simulated clock: move it forward (admin).
    #[command(subcommand)]
    Clock(cli::clock::ClockCommand),
    /// Series: create from a terms file, open, close, allot, issue, cancel, show, list.
    #[command(subcommand)]
    Series(cli::bonds::SeriesCommand),
    /// Submit a subscription for an investor (bank).
    Subscribe(cli::bonds::SubscribeArgs),
    /// Withdraw a subscription while the window is open (bank).
    Withdraw(cli::bonds::SubscriptionIdArgs),
    /// Confirm the funds for an allotted subscription were received (bank).
    Settle(cli::bonds::SubscriptionIdArgs),
    /// List subscriptions (banks see their own).
    Subscriptions(cli::bonds::SubscriptionsArgs),
    /// An investor's holdings.
    Holdings(cli::bonds::HoldingsArgs),
    /// Change the registration form of a client's holding (bank).
    Registration(cli::holdings::RegistrationVerb),
    /// File a death notice: the owner's holdings pass by their forms (bank).
    Succession(cli::holdings::SuccessionVerb),
    /// Moves between banks and gifts: request, confirm, refuse, list (banks).
    #[command(subcommand)]
    Transfer(cli::holdings::TransferCommand),
    /// Redeem some or all of a client's holding before maturity (bank).
    Redeem(cli::holdings::RedeemVerb),
    /// Run the accrual engine on demand: post every due record date, coupon and redemption (engine).
    Accrue(cli::coupons::AccrueArgs),
    /// Publish a reference-rate fixing (treasury).
    Fixing(cli::coupons::FixingArgs),
    /// An investor statement: holdings, accrued interest, coupons received, upcoming payments.
    Statement(cli::coupons::StatementArgs),
    /// A series' debt-service schedule: coupon and principal cash flows by date (treasury).
    DebtService(cli::coupons::SeriesDateArgs),
    /// Accrued interest of a series as of a date.
    Accrued(cli::coupons::SeriesDateArgs),
    /// Drive a running server with concurrent subscriptions from many banks and report rates.
    Load(cli::load::LoadArgs),
    /// Verify a whole ledger: a stopped store, an export file or a running server.
    Verify(cli::verify::VerifyArgs),
    /// Write the ledger to one export file an auditor verifies offline.
    Export(cli::audit::ExportArgs),
    /// Get a receipt for one entry (a subscription, holding or payment): entry, inclusion proof, signed checkpoint.
    Receipt(cli::audit::ReceiptArgs),
    /// Check a receipt offline, without any other entry.
    VerifyReceipt(cli::audit::VerifyReceiptArgs),
    /// Witness the ledger: fetch its signed checkpoint, prove it only grew since the saved ones, save it.
    Checkpoint(cli::audit::CheckpointArgs),
    /// Write HTML reports with SVG charts for every series of a stopped store.
    Report(cli::report::ReportArgs),
    /// Print the coupon and redemption cash flows of a bond (JSON).
    Schedule(cli::calc::ScheduleArgs),
    /// Price from yield, yield from price, or patriotic-discount pricing (JSON).
    Price(cli::calc::PriceArgs),
    /// Withholding tax of a series for a year, by country and by bank (table, --json or --csv).
    TaxReport(cli::servicing::TaxReportArgs),
    /// Withholding tables: set one in force from a date (treasury), or show them.
    #[command(subcommand)]
    Withholding(cli::servicing::WithholdingCommand),
    /// Record a client's change of residence, effective on a date (bank).
    Residence(cli::servicing::ResidenceArgs),
    /// Report a coupon or redemption payment to a client undeliverable (bank).
    Undeliverable(cli::servicing::PaymentArgs),
    /// Record that an unclaimed payment was paid out, with its reference (bank).
    Claim(cli::servicing::ClaimArgs),
    /// Payments reported undeliverable: balances, claims, and those overdue.
    Unclaimed(cli::servicing::UnclaimedArgs),
    /// Reopen an issued series for another window (a tap), priced at the day's yield (treasury).
    Reopen(cli::servicing::ReopenArgs),
}

/// Logs go to stderr; `filter` is a tracing filter (DBOND_LOG for client verbs).
/// Colours only on a terminal: a log file or a journal gets plain text.
fn init_logging(filter: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    if let Command::Serve(args) = &cli.command {
        return finish(args.resolve().and_then(|config| {
            let clock = args.serve_clock()?;
            init_logging(&config.log);
            runtime().and_then(|rt| rt.block_on(cli::serve::run(&config, clock)))
        }));
    }
    // A mirror runs for long and logs its lag; the other verbs log only trouble.
    let quiet = if matches!(cli.command, Command::Mirror(_)) {
        "info"
    } else {
        "warn"
    };
    init_logging(&std::env::var("DBOND_LOG").unwrap_or_else(|_| quiet.into()));
    let result = match cli.command {
        // Handled above, before logging starts.
        Command::Serve(_) => Ok(()),
        Command::Demo(a) => runtime().and_then(|rt| rt.block_on(cli::demo::run(&a))),
        Command::Mirror(a) => runtime().and_then(|rt| rt.block_on(cli::mirror::run(&a))),
        Command::Backup(a) => runtime().and_then(|rt| rt.block_on(cli::backup::run(&a))),
        Command::Console(a) => runtime().and_then(|rt| rt.block_on(cli::console::run(&a))),
        Command::Keygen(args) => cli::keygen::run(&args),
        Command::LedgerKey(command) => cli::ledger_key::run(&command),
        Command::Store(command) => cli::store::run(&command),
        Command::Participant(command) => {
            runtime().and_then(|rt| rt.block_on(cli::participant::run(&command)))
        }
        Command::Clock(command) => runtime().and_then(|rt| rt.block_on(cli::clock::run(&command))),
        Command::Series(c) => runtime().and_then(|rt| rt.block_on(cli::bonds::run_series(&c))),
        Command::Subscribe(a) => {
            runtime().and_then(|rt| rt.block_on(cli::bonds::run_subscribe(&a)))
        }
        Command::Withdraw(a) => runtime().and_then(|rt| rt.block_on(cli::bonds::run_withdraw(&a))),
        Command::Settle(a) => runtime().and_then(|rt| rt.block_on(cli::bonds::run_settle(&a))),
        Command::Subscriptions(a) => {
            runtime().and_then(|rt| rt.block_on(cli::bonds::run_subscriptions(&a)))
        }
        Command::Holdings(a) => runtime().and_then(|rt| rt.block_on(cli::bonds::run_holdings(&a))),
        Command::Registration(a) => {
            runtime().and_then(|rt| rt.block_on(cli::holdings::run_registration(&a)))
        }
        Command::Succession(a) => {
            runtime().and_then(|rt| rt.block_on(cli::holdings::run_succession(&a)))
        }
        Command::Transfer(c) => {
            runtime().and_then(|rt| rt.block_on(cli::holdings::run_transfer(&c)))
        }
        Command::Redeem(a) => runtime().and_then(|rt| rt.block_on(cli::holdings::run_redeem(&a))),
        Command::Accrue(a) => runtime().and_then(|rt| rt.block_on(cli::coupons::run_accrue(&a))),
        Command::Fixing(a) => runtime().and_then(|rt| rt.block_on(cli::coupons::run_fixing(&a))),
        Command::Statement(a) => {
            runtime().and_then(|rt| rt.block_on(cli::coupons::run_statement(&a)))
        }
        Command::DebtService(a) => {
            runtime().and_then(|rt| rt.block_on(cli::coupons::run_debt_service(&a)))
        }
        Command::Accrued(a) => runtime().and_then(|rt| rt.block_on(cli::coupons::run_accrued(&a))),
        Command::Load(a) => runtime().and_then(|rt| rt.block_on(cli::load::run(&a))),
        Command::Verify(args) => runtime().and_then(|rt| rt.block_on(cli::verify::run(&args))),
        Command::Export(a) => runtime().and_then(|rt| rt.block_on(cli::audit::run_export(&a))),
        Command::Receipt(a) => runtime().and_then(|rt| rt.block_on(cli::audit::run_receipt(&a))),
        Command::VerifyReceipt(a) => cli::audit::run_verify_receipt(&a),
        Command::Checkpoint(a) => {
            runtime().and_then(|rt| rt.block_on(cli::audit::run_checkpoint(&a)))
        }
        Command::Report(args) => cli::report::run(&args),
        Command::Schedule(args) => cli::calc::run_schedule(&args),
        Command::Price(args) => cli::calc::run_price(&args),
        Command::TaxReport(a) => {
            runtime().and_then(|rt| rt.block_on(cli::servicing::run_tax_report(&a)))
        }
        Command::Withholding(c) => {
            runtime().and_then(|rt| rt.block_on(cli::servicing::run_withholding(&c)))
        }
        Command::Residence(a) => {
            runtime().and_then(|rt| rt.block_on(cli::servicing::run_residence(&a)))
        }
        Command::Undeliverable(a) => {
            runtime().and_then(|rt| rt.block_on(cli::servicing::run_undeliverable(&a)))
        }
        Command::Claim(a) => runtime().and_then(|rt| rt.block_on(cli::servicing::run_claim(&a))),
        Command::Unclaimed(a) => {
            runtime().and_then(|rt| rt.block_on(cli::servicing::run_unclaimed(&a)))
        }
        Command::Reopen(a) => runtime().and_then(|rt| rt.block_on(cli::servicing::run_reopen(&a))),
    };
    finish(result)
}

/// The process's exit: success, quietly too when standard output was closed by
/// its reader (`dbond ... | head` has all it wanted); otherwise the error on
/// stderr and failure.
fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if cli::out::is_stdout_closed(&err) => ExitCode::SUCCESS,
        Err(err) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

// mimalloc: the verifier and the writer keep many small state records and free
// many entry buffers on other threads, a pattern under which it keeps memory in
// step with the ledger's size.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_t` (libmimalloc-sys does not
/// name it; the version is pinned in Cargo.toml and the test below checks it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc to keep memory it has freed instead of returning it to the
/// system after its purge delay. A server frees and reuses memory all the time
/// (sled seals a log buffer every group commit; batches and requests come and go),
/// and every purged page that is used again costs a page fault and the kernel
/// zeroing it again. Memory freed after a burst therefore stays with the process.
/// `MIMALLOC_PURGE_DELAY` (milliseconds) still overrides.
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: called first thing in `main`, before any other thread exists
        // (the option is not set atomically).
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_mimalloc_v3_defaults_to_a_second() {
        // Nothing in the test binary sets it, so it reads mimalloc v3's default,
        // 1000 ms; a renumbered enum would read another option's value.
        let delay = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        let from_env = std::env::var("MIMALLOC_PURGE_DELAY").ok();
        assert_eq!(delay.to_string(), from_env.unwrap_or_else(|| "1000".into()));
    }
}
