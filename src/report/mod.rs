//! Reports with pictures: per series, an HTML page with SVG charts (the book over
//! time, by country and by diaspora category, the debt-service profile and what
//! the patriotic discount saves), and an index of every series.
//!
//! Invariants: reports are drawn only from a ledger that verifies in full, read
//! from a stopped store without writing to it; the same ledger always gives the
//! same bytes (no clock, no randomness); money stays `Decimal` until it becomes a
//! chart coordinate in `chart`, the one place floats appear.

pub mod chart;
pub mod figures;
pub mod format;
pub mod html;
pub mod load;

#[cfg(test)]
mod tests;

pub use figures::{SeriesReport, series_report};
pub use load::{LedgerView, load, load_from};

use std::path::{Path, PathBuf};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the ledger does not verify, so no report is drawn from it: {0}")]
    Verify(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("drawing a chart: {0}")]
    Chart(String),
}

/// The files one series' report consists of.
#[derive(Clone, Debug)]
pub struct SeriesFiles {
    pub series_id: String,
    pub page: PathBuf,
    pub charts: Vec<PathBuf>,
}

/// What `write` wrote.
#[derive(Clone, Debug)]
pub struct Written {
    pub index: PathBuf,
    pub series: Vec<SeriesFiles>,
}

fn write_file(path: &Path, contents: &str) -> Result<(), ReportError> {
    std::fs::write(path, contents).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn create_dir(path: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(path).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The reports of every series of a verified ledger.
pub fn reports(view: &LedgerView) -> Vec<SeriesReport> {
    let empty = load::BookTimeline::default();
    view.state
        .all_series()
        .map(|s| {
            let timeline = view.timelines.get(&s.terms.series_id).unwrap_or(&empty);
            series_report(&view.state, s, timeline)
        })
        .collect()
}

/// Writes `index.html`, and per series `<SERIES>.html` with its charts in the
/// folder `<SERIES>/`, into `out` (created if missing). Series ids are upper-case
/// letters, digits and '-', so they are safe file names.
pub fn write(view: &LedgerView, out: &Path) -> Result<Written, ReportError> {
    create_dir(out)?;
    let reports = reports(view);
    let mut written = Vec::with_capacity(reports.len());
    for r in &reports {
        let id = r.id.as_str();
        let dir = out.join(id);
        create_dir(&dir)?;
        let mut charts: Vec<(String, &str, String, String)> = vec![
            (
                "book-timeline.svg".into(),
                "The book over time",
                format!(
                    "{} units subscribed by ledger time",
                    format::units(r.book.subscribed_units)
                ),
                chart::book_timeline(r)?,
            ),
            (
                "book-by-country.svg".into(),
                "The book by country of residence",
                "units subscribed and allotted per country".into(),
                chart::book_breakdown(r, chart::Breakdown::Country)?,
            ),
            (
                "book-by-category.svg".into(),
                "The book by diaspora category",
                "units subscribed and allotted per diaspora category".into(),
                chart::book_breakdown(r, chart::Breakdown::Category)?,
            ),
            (
                "debt-service.svg".into(),
                "Debt service",
                "coupons and principal by payment date".into(),
                chart::debt_service(r)?,
            ),
        ];
        if let Some(svg) = chart::savings(r)? {
            charts.push((
                "savings.svg".into(),
                "What the patriotic discount saves",
                "reference and diaspora yields, par coupons and the coupon saved per date".into(),
                svg,
            ));
        }
        let mut paths = Vec::with_capacity(charts.len());
        for (file, _, _, svg) in &charts {
            let path = dir.join(file);
            write_file(&path, svg)?;
            paths.push(path);
        }
        let files: Vec<String> = charts.iter().map(|c| format!("{id}/{}", c.0)).collect();
        let refs: Vec<html::ChartRef<'_>> = charts
            .iter()
            .zip(&files)
            .map(|(c, file)| html::ChartRef {
                file,
                heading: c.1,
                alt: c.2.clone(),
            })
            .collect();
        let page = out.join(format!("{id}.html"));
        write_file(&page, &html::series_page(r, &refs, view))?;
        written.push(SeriesFiles {
            series_id: id.to_string(),
            page,
            charts: paths,
        });
    }
    let index = out.join("index.html");
    write_file(&index, &html::index_page(&reports, view))?;
    Ok(Written {
        index,
        series: written,
    })
}
