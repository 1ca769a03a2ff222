//! `dbond report`: HTML reports with SVG charts, per series, from a stopped store.

use super::say;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A stopped server's data folder (or its `store` folder). Read only.
    #[arg(long)]
    pub data: PathBuf,
    /// Folder to write the report into (created if missing): index.html, one
    /// page per series and its SVG charts.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let store = if args.data.join("store").is_dir() {
        args.data.join("store")
    } else {
        args.data.clone()
    };
    let view = crate::report::load(&store)?;
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
