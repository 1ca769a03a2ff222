//! `dbond report`: HTML reports with SVG charts, per series, from a stopped store
//! or a PostgreSQL one.

use super::say;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A stopped server's data folder (or its `store` folder). Read only.
    #[arg(long, required_unless_present = "store", conflicts_with = "store")]
    pub data: Option<PathBuf>,
    /// A ledger kept in PostgreSQL (a libpq URL), read through one consistent
    /// view while its servers run.
    #[arg(long)]
    pub store: Option<String>,
    /// Folder to write the report into (created if missing): index.html, one
    /// page per series and its SVG charts.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let location = super::store_location(args.data.as_deref(), args.store.as_deref())?;
    let view = crate::report::load_from(crate::store::RawStore::open_at(&location)?)?;
    let written = crate::report::write(&view, &args.out)?;
    for s in &written.series {
        say!(
            "series {}: {} ({} charts in {})",
            s.series_id,
            s.page.display(),
            s.charts.len(),
            args.out.join(&s.series_id).display()
        )?;
    }
    say!(
        "report written to {} ({} series, from {} verified entries)",
        written.index.display(),
        written.series.len(),
        view.size
    )?;
    Ok(())
}
