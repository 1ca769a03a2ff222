//! The HTML pages: one per series (figures, charts, the debt-service table) and
//! an index. Every text from the ledger is escaped; every number comes from the
//! `Decimal` figures through `format`.

use super::figures::{Savings, SeriesReport, category_label};
use super::format::{self, html_escape as esc};
use super::load::LedgerView;
use crate::pricing::CashFlowKind;
use std::fmt::Write as _;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1000px;color:#222;padding:0 1rem}\
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}\
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.25rem .7rem;border-bottom:1px solid #eee;text-align:left}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#666}\
img{max-width:100%;border:1px solid #eee;margin:.5rem 0}footer{margin-top:3rem;font-size:.85rem;color:#666}";

/// A chart file of a series page: its file name and what it shows.
pub struct ChartRef<'a> {
    pub file: &'a str,
    pub heading: &'a str,
    pub alt: String,
}

fn page(title: &str, body: &str, view: &LedgerView) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}<footer>Drawn from a verified ledger: origin {}, {} entries, Merkle root {} (every signature, hash link and event checked, and the root matched against the signed checkpoint).</footer>\n</body>\n</html>\n",
        esc(title),
        esc(&view.origin),
        view.size,
        hex::encode(view.root),
    )
}

fn row(out: &mut String, label: &str, value: &str) {
    let _ = writeln!(
        out,
        "<tr><th>{}</th><td class=\"n\">{}</td></tr>",
        esc(label),
        esc(value)
    );
}

fn opt_percent(v: Option<rust_decimal::Decimal>) -> String {
    v.map_or_else(|| "-".to_string(), |r| format::percent(r, 4))
}

/// The page of one series. `charts` are relative to the page.
pub fn series_page(r: &SeriesReport, charts: &[ChartRef<'_>], view: &LedgerView) -> String {
    let cur = r.currency;
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<p><a href=\"index.html\">All series</a></p>\n<h1>{} <span class=\"muted\">{}</span></h1>\n<p>Status: <strong>{}</strong>. {} {} face per unit, issued {} and maturing {}.</p>",
        esc(&r.name),
        esc(r.id.as_str()),
        r.status.as_str(),
        format::money(r.face_value, cur),
        cur,
        r.issue_date,
        r.maturity_date
    );

    b.push_str("<h2>Key figures</h2>\n<table>\n");
    row(
        &mut b,
        "money raised",
        &format::money_cur(r.amount_raised, cur),
    );
    row(
        &mut b,
        "subscriptions",
        &format::units(r.book.subscriptions),
    );
    row(
        &mut b,
        "units subscribed",
        &format::units(r.book.subscribed_units),
    );
    row(
        &mut b,
        "units allotted",
        &format::units(r.book.allotted_units),
    );
    row(
        &mut b,
        "units settled",
        &format::units(r.book.settled_units),
    );
    row(&mut b, "units issued", &format::units(r.book.issued_units));
    row(&mut b, "cap", &format::units(r.cap_units));
    row(&mut b, "holders", &format::units(r.holders));
    row(
        &mut b,
        "coupons paid",
        &format!(
            "{} ({})",
            r.coupons_paid,
            format::money_cur(r.coupons_paid_total, cur)
        ),
    );
    row(
        &mut b,
        "issue price",
        &format!("{}% of face", r.figures.issue_price.normalize()),
    );
    row(
        &mut b,
        "price per unit",
        &format::money_cur(r.figures.price_per_unit, cur),
    );
    row(&mut b, "coupon rate", &opt_percent(r.figures.coupon_rate));
    row(&mut b, "issue yield", &opt_percent(r.figures.issue_yield));
    b.push_str("</table>\n");

    for c in charts {
        let _ = writeln!(
            b,
            "<h2>{}</h2>\n<img src=\"{}\" alt=\"{}\"/>",
            esc(c.heading),
            esc(c.file),
            esc(&c.alt)
        );
        if c.file.ends_with("debt-service.svg") {
            debt_service_table(&mut b, r);
        }
        if c.file.ends_with("book-by-category.svg") {
            bucket_table(&mut b, r);
        }
    }
    match &r.savings {
        Savings::Derived(s) => {
            if !charts.iter().any(|c| c.file.ends_with("savings.svg")) {
                b.push_str("<h2>The patriotic discount</h2>\n");
            }
            b.push_str("<table>\n");
            row(
                &mut b,
                "reference yield",
                &format::percent(s.reference_yield, 4),
            );
            row(
                &mut b,
                "patriotic discount",
                &format!("{} bp", s.discount_bps.normalize()),
            );
            row(
                &mut b,
                "diaspora yield",
                &format::percent(s.diaspora_yield, 4),
            );
            row(&mut b, "market par coupon", &opt_percent(s.market_coupon));
            row(
                &mut b,
                "diaspora par coupon",
                &opt_percent(s.diaspora_coupon),
            );
            row(&mut b, "coupon in force", &opt_percent(s.coupon));
            row(
                &mut b,
                "issuer savings per unit at issue",
                &format!("{} {cur}", format::fine(s.per_unit, 4)),
            );
            row(&mut b, "units", &format::units(s.units));
            row(&mut b, "issuer savings", &format::money_cur(s.total, cur));
            b.push_str("</table>\n");
            if s.sales.len() > 1 {
                b.push_str("<table>\n<tr><th>sale</th><th>settles</th><th class=\"n\">reference yield</th><th class=\"n\">discount</th><th class=\"n\">units</th><th class=\"n\">per unit</th><th class=\"n\">savings</th></tr>\n");
                for sale in &s.sales {
                    let _ = writeln!(
                        b,
                        "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{} bp</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                        sale.tranche
                            .map_or_else(|| "issue".to_string(), |t| format!("tranche {t}")),
                        sale.settlement_date,
                        format::percent(sale.reference_yield, 4),
                        sale.discount_bps.normalize(),
                        format::units(sale.units),
                        format::fine(sale.per_unit, 4),
                        format::money(sale.total, cur)
                    );
                }
                b.push_str("</table>\n");
            }
            b.push_str("<p class=\"muted\">Savings = the sum over the sales (the issue, then each tranche issued) of units × face × (P(y) − P(r)) / 100: P the dirty price, on the sale's settlement date, of the series' cash flows with the coupon in force; y the sale's yield (its reference yield less the discount) and r its reference yield. That is what the discount saves at the coupon the series pays: the proceeds at the diaspora yield less the value of the same payments at the market yield.</p>\n");
        }
        Savings::NotDiaspora => {
            b.push_str("<h2>The patriotic discount</h2>\n<p>This series is priced at a stated issue price, without a patriotic discount: there are no savings to report.</p>\n");
        }
        Savings::Unavailable(reason) => {
            let _ = writeln!(
                b,
                "<h2>The patriotic discount</h2>\n<p>The savings could not be derived: {}.</p>",
                esc(reason)
            );
        }
    }
    tranches_table(&mut b, r);
    withholding_tables(&mut b, r);
    unclaimed_table(&mut b, r);
    page(&format!("{} ({})", r.name, r.id), &b, view)
}

/// The reopenings (taps) of the series, if any.
fn tranches_table(b: &mut String, r: &SeriesReport) {
    if r.tranches.is_empty() {
        return;
    }
    let cur = r.currency;
    b.push_str("<h2>Tranches</h2>\n<p>Each reopening sells further units, fungible with the first issue's, at a clean price from the market yield of the day less the discount; buyers also pay the interest accrued since the last coupon.</p>\n<table>\n<tr><th>tranche</th><th>window closes</th><th>settles</th><th class=\"n\">yield</th><th class=\"n\">clean price</th><th class=\"n\">accrued per unit</th><th class=\"n\">units issued</th><th class=\"n\">principal</th><th class=\"n\">accrued</th><th>status</th></tr>\n");
    for t in &r.tranches {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}%</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            t.terms.tranche,
            t.terms.window_closes_at.date_naive(),
            t.terms.settlement_date,
            format::percent(t.terms.issue_yield, 4),
            t.terms.clean_price.normalize(),
            format::fine(t.terms.accrued_per_unit, 4),
            format::units(t.units_issued),
            format::money_cur(t.principal_raised, cur),
            format::money_cur(t.accrued_received, cur),
            t.status,
        );
    }
    b.push_str("</table>\n");
}

/// Tax withheld from the coupons paid, by country of residence and by bank.
fn withholding_tables(b: &mut String, r: &SeriesReport) {
    let w = &r.withholding;
    if w.coupons == 0 {
        return;
    }
    let cur = r.currency;
    let _ = writeln!(
        b,
        "<h2>Withholding tax</h2>\n<p>{} coupons paid with a withholding table in force: gross {}, withheld {}, net {} (withheld = gross × rate, half even to the minor unit, per holding).</p>",
        w.coupons,
        format::money_cur(w.gross, cur),
        format::money_cur(w.withheld, cur),
        format::money_cur(w.net, cur),
    );
    for (title, lines) in [
        ("country of residence", &w.by_country),
        ("bank", &w.by_bank),
    ] {
        let _ = writeln!(
            b,
            "<table>\n<tr><th>{title}</th><th class=\"n\">payments</th><th class=\"n\">gross</th><th class=\"n\">withheld</th><th class=\"n\">net</th></tr>"
        );
        for l in lines {
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&l.key),
                format::units(l.payments),
                format::money(l.gross, cur),
                format::money(l.withheld, cur),
                format::money(l.net, cur),
            );
        }
        b.push_str("</table>\n");
    }
}

/// Payments reported undeliverable, and the series' unclaimed balance.
fn unclaimed_table(b: &mut String, r: &SeriesReport) {
    if r.unclaimed.is_empty() {
        return;
    }
    let cur = r.currency;
    let period = r.unclaimed_period_days.map_or_else(
        || "the series names no period".to_string(),
        |d| format!("overdue after {d} days"),
    );
    let _ = writeln!(
        b,
        "<h2>Unclaimed payments</h2>\n<p>Unclaimed balance {}, of which overdue {} ({period}).</p>\n<table>\n<tr><th>payment</th><th>investor</th><th>bank</th><th>paid on</th><th class=\"n\">amount</th><th>claimed</th></tr>",
        format::money_cur(r.unclaimed_balance, cur),
        format::money_cur(r.unclaimed_overdue, cur),
    );
    for u in &r.unclaimed {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&u.event_id),
            esc(u.investor_ref.as_str()),
            esc(u.bank_id.as_str()),
            u.payment_date,
            format::money(u.amount, cur),
            u.claim.as_ref().map_or_else(
                || "not claimed".to_string(),
                |c| format!("{} ({})", esc(&c.reference), c.claimed_at.date_naive())
            ),
        );
    }
    b.push_str("</table>\n");
}

fn debt_service_table(b: &mut String, r: &SeriesReport) {
    let cur = r.currency;
    let _ = writeln!(
        b,
        "<p>On {} units ({}). Coupons {}, principal {}; paid so far {}.</p>",
        format::units(r.units_outstanding),
        r.units_basis.describe(),
        format::money_cur(r.debt_service_total(CashFlowKind::Coupon), cur),
        format::money_cur(r.debt_service_total(CashFlowKind::Redemption), cur),
        format::money_cur(r.paid_total(), cur),
    );
    if r.waiting_for_fixing() > 0 {
        let _ = writeln!(
            b,
            "<p>{} floating coupons wait for their fixing and are not drawn.</p>",
            r.waiting_for_fixing()
        );
    }
    b.push_str("<table>\n<tr><th>payment date</th><th>kind</th><th class=\"n\">amount</th><th>status</th></tr>\n");
    for l in &r.debt_service {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            l.payment_date,
            l.kind.as_str(),
            l.amount.map_or_else(
                || "waiting for a fixing".to_string(),
                |a| format::money(a, cur)
            ),
            if l.paid { "paid" } else { "scheduled" }
        );
    }
    b.push_str("</table>\n");
}

fn bucket_table(b: &mut String, r: &SeriesReport) {
    b.push_str("<table>\n<tr><th>category</th><th class=\"n\">subscriptions</th><th class=\"n\">units subscribed</th><th class=\"n\">units allotted</th></tr>\n");
    for k in &r.by_category {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&category_label(&k.key)),
            format::units(k.subscriptions),
            format::units(k.subscribed_units),
            format::units(k.allotted_units)
        );
    }
    b.push_str("</table>\n");
}

/// The index: every series with its key totals, and a link to its page.
pub fn index_page(reports: &[SeriesReport], view: &LedgerView) -> String {
    let mut b = String::new();
    b.push_str("<h1>Diaspora bond series</h1>\n");
    if reports.is_empty() {
        b.push_str("<p>The ledger has no series yet.</p>\n");
    }
    b.push_str("<table>\n<tr><th>series</th><th>name</th><th>status</th><th class=\"n\">money raised</th><th class=\"n\">units subscribed</th><th class=\"n\">units issued</th><th class=\"n\">holders</th><th class=\"n\">coupons paid</th></tr>\n");
    for r in reports {
        let cur = r.currency;
        let _ = writeln!(
            b,
            "<tr><td><a href=\"{id}.html\">{id}</a></td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{} ({})</td></tr>",
            esc(&r.name),
            r.status.as_str(),
            esc(&format::money_cur(r.amount_raised, cur)),
            format::units(r.book.subscribed_units),
            format::units(r.book.issued_units),
            format::units(r.holders),
            r.coupons_paid,
            esc(&format::money_cur(r.coupons_paid_total, cur)),
            id = esc(r.id.as_str()),
        );
    }
    b.push_str("</table>\n");
    page("Diaspora bond series", &b, view)
}
