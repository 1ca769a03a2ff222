//! `dbond schedule` and `dbond price`: the bond-math calculators. (placeholder: issue 3)

use std::path::PathBuf;

/// Arguments of `dbond schedule`.
#[derive(Debug, clap::Args)]
pub struct ScheduleArgs {
    /// Bond terms as a JSON file.
    #[arg(long)]
    pub terms: PathBuf,
}

/// Arguments of `dbond price`.
#[derive(Debug, clap::Args)]
pub struct PriceArgs {
    /// Bond terms as a JSON file.
    #[arg(long)]
    pub terms: PathBuf,
}

/// Runs `dbond schedule`, printing JSON to stdout.
pub fn run_schedule(_args: &ScheduleArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}

/// Runs `dbond price`, printing JSON to stdout.
pub fn run_price(_args: &PriceArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
