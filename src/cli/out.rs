//! What the verbs print: lines on standard output, and tables. A reader that
//! closes the pipe early (`dbond subscriptions ... | head`) ends the verb quietly,
//! as Unix tools end, instead of a panic: every line is written through [`line`],
//! whose failure the verb returns, and `main` exits without a word on
//! [`StdoutClosed`].

use comfy_table::{CellAlignment, Table, presets};
use std::io::Write;

/// Standard output was closed by its reader: nothing more can be said there.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed by its reader")]
pub struct StdoutClosed;

/// Writes `args` and a newline to standard output. A closed pipe is
/// [`StdoutClosed`]; any other failure names standard output.
pub fn line(args: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                anyhow::Error::new(StdoutClosed)
            } else {
                anyhow::anyhow!("cannot write to standard output: {e}")
            }
        })
}

/// Whether `err` comes from standard output having been closed by its reader
/// (told by [`line`], or by [`StdoutBytes`] inside an `io::Error`).
pub fn is_stdout_closed(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.is::<StdoutClosed>()
            || cause
                .downcast_ref::<std::io::Error>()
                .and_then(|e| e.get_ref())
                .is_some_and(|inner| inner.is::<StdoutClosed>())
    })
}

/// Standard output as a sink of bytes (an export written to `-`), buffered; a
/// closed pipe is an `io::Error` carrying [`StdoutClosed`].
pub struct StdoutBytes(std::io::BufWriter<std::io::Stdout>);

impl StdoutBytes {
    pub fn new() -> StdoutBytes {
        StdoutBytes(std::io::BufWriter::with_capacity(
            1 << 20,
            std::io::stdout(),
        ))
    }
}

impl Default for StdoutBytes {
    fn default() -> Self {
        StdoutBytes::new()
    }
}

fn closed(e: std::io::Error) -> std::io::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::io::Error::new(std::io::ErrorKind::BrokenPipe, StdoutClosed)
    } else {
        e
    }
}

impl Write for StdoutBytes {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(closed)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(closed)
    }
}

/// `println!` that hands a failed write back (to be returned with `?`).
macro_rules! say {
    () => {
        $crate::cli::out::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// A table as the verbs print them: a header row, then one row per item; columns
/// separated by one space, no borders, the columns `right` aligned right.
pub fn table(header: &[&str], right: &[usize]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_header(header.to_vec());
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, 1));
        if right.contains(&i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// Prints `table` without trailing spaces.
pub fn print_table(table: &Table) -> anyhow::Result<()> {
    line(format_args!("{}", table.trim_fmt()))
}

/// A decimal amount for people: rounded half even to the minor unit of
/// `currency` (two places for an unknown code) and written with exactly that
/// many decimals; text that is not a decimal (an empty figure) is shown as it
/// is. `--json` keeps the exact figures.
pub fn amount(text: &str, currency: &str) -> String {
    let dp = currency
        .parse::<crate::money::Currency>()
        .map_or(2, |c| c.minor_units());
    match rust_decimal::Decimal::from_str_exact(text) {
        Ok(d) => {
            let mut r =
                d.round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::MidpointNearestEven);
            r.rescale(dp);
            r.to_string()
        }
        Err(_) => text.to_string(),
    }
}

/// True for a decimal string whose value is zero, at any scale ("0", "0.00").
pub fn is_zero(text: &str) -> bool {
    rust_decimal::Decimal::from_str_exact(text).is_ok_and(|d| d.is_zero())
}

/// A decimal for people, rounded half even to `dp` places.
pub fn rounded(text: &str, dp: u32) -> String {
    match rust_decimal::Decimal::from_str_exact(text) {
        Ok(d) => d
            .round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::MidpointNearestEven)
            .to_string(),
        Err(_) => text.to_string(),
    }
}

/// A rate (a decimal fraction) as a percentage for people: "0.05125" is
/// "5.125%", at most four decimals of a percent.
pub fn percent(text: &str) -> String {
    match rust_decimal::Decimal::from_str_exact(text) {
        Ok(d) => format!(
            "{}%",
            (d * rust_decimal::Decimal::ONE_HUNDRED)
                .round_dp_with_strategy(4, rust_decimal::RoundingStrategy::MidpointNearestEven)
                .normalize()
        ),
        Err(_) => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_for_people_are_rounded_to_sensible_scales() {
        assert_eq!(amount("26.123456789012345678901234567", "USD"), "26.12");
        assert_eq!(amount("26.125", "EUR"), "26.12");
        assert_eq!(amount("1234.5", "JPY"), "1234");
        assert_eq!(amount("4000", "USD"), "4000.00");
        assert_eq!(amount("4000.00", "USD"), "4000.00");
        assert_eq!(amount("12.5", "XYZ"), "12.50");
        assert_eq!(amount("4000", "JPY"), "4000");
        assert_eq!(amount("", "USD"), "");
        assert_eq!(amount("waiting", "USD"), "waiting");
        assert_eq!(percent("0.05125"), "5.125%");
        assert_eq!(percent("0.050065432"), "5.0065%");
        assert_eq!(rounded("98.123456789", 4), "98.1235");
        assert!(is_zero("0") && is_zero("0.00") && is_zero("-0.0"));
        assert!(!is_zero("0.01") && !is_zero("") && !is_zero("none"));
    }

    #[test]
    fn a_table_is_aligned_without_borders() {
        let mut t = table(&["ID", "SERIES", "UNITS"], &[0, 2]);
        t.add_row(vec!["7", "AZ-2031-USD", "25"]);
        t.add_row(vec!["1234", "AZ-2029-EUR", "1000"]);
        assert_eq!(
            t.trim_fmt(),
            "  ID SERIES      UNITS\n   7 AZ-2031-USD    25\n1234 AZ-2029-EUR  1000"
        );
    }

    #[test]
    fn a_closed_pipe_is_told_apart_from_other_failures() {
        let closed = anyhow::Error::new(StdoutClosed).context("printing the list");
        assert!(is_stdout_closed(&closed));
        let other = anyhow::anyhow!("cannot connect");
        assert!(!is_stdout_closed(&other));
        let io = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(
            !is_stdout_closed(&io),
            "a broken socket is not standard output"
        );
    }
}
