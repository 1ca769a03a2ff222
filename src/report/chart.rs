//! SVG charts of one series, drawn with plotters' SVG backend. Text is written as
//! SVG `<text>` elements laid out by plotters' font-free estimator, so no system
//! font is needed to draw a chart (the viewer's fonts render it).
//!
//! Invariant: this is the only place figures become floats, and only as chart
//! coordinates (display-only). Every number written as text comes from the
//! `Decimal` figures through `format`, never from a float.

use super::ReportError;
use super::figures::{Savings, SeriesReport, category_label, total};
use super::format;
use crate::pricing::CashFlowKind;
use chrono::{DateTime, Utc};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// Chart width in pixels.
const WIDTH_PX: u32 = 960;
/// Height of a one-panel chart, and of each panel of a two-panel chart.
const PANEL_HEIGHT_PX: u32 = 380;
/// Height of the title and subtitle band above the panels.
const HEADER_HEIGHT_PX: u32 = 64;
/// A category label is given about this many pixels per character.
const LABEL_CHAR_PX: u32 = 7;

const FONT: &str = "sans-serif";
const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
const MUTED: RGBColor = RGBColor(0x66, 0x66, 0x66);
const BLUE: RGBColor = RGBColor(0x1f, 0x5f, 0xa8);
const LIGHT_BLUE: RGBColor = RGBColor(0x9e, 0xc5, 0xeb);
const GREEN: RGBColor = RGBColor(0x2e, 0x7d, 0x32);
const LIGHT_GREEN: RGBColor = RGBColor(0xa5, 0xd6, 0xa7);
const ORANGE: RGBColor = RGBColor(0xe0, 0x7b, 0x00);
const RED: RGBColor = RGBColor(0xc6, 0x28, 0x28);

fn chart_err(e: impl std::fmt::Display) -> ReportError {
    ReportError::Chart(e.to_string())
}

/// Display-only: a decimal as a chart coordinate. Never used for a figure.
fn coord(d: Decimal) -> f64 {
    d.to_f64().filter(|v| v.is_finite()).unwrap_or(0.0)
}

/// Display-only: a unit count as a chart coordinate.
fn coord_units(n: u64) -> f64 {
    n as f64
}

/// Axis tick text: 1,250,000 -> "1.25M". Display-only (ticks are rounded
/// positions on the axis, not figures of the ledger).
fn tick(v: f64) -> String {
    let a = v.abs();
    let (div, suffix) = if a >= 1e9 {
        (1e9, "B")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let s = format!("{:.2}", v / div);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{suffix}")
}

/// A y range that shows `max` with headroom; never empty or NaN.
fn y_top(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.12
    } else {
        1.0
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// Draws the title and subtitle band, returning the area below it.
fn header<'a>(root: &Area<'a>, title: &str, subtitle: &str) -> Result<Area<'a>, ReportError> {
    root.fill(&WHITE).map_err(chart_err)?;
    let (band, body) = root.split_vertically(HEADER_HEIGHT_PX);
    band.draw_text(
        title,
        &TextStyle::from((FONT, 26).into_font()).color(&INK),
        (16, 8),
    )
    .map_err(chart_err)?;
    band.draw_text(
        subtitle,
        &TextStyle::from((FONT, 18).into_font()).color(&MUTED),
        (16, 38),
    )
    .map_err(chart_err)?;
    Ok(body)
}

/// One bar series: a legend name, a colour and one value per category.
pub struct Bars {
    pub name: String,
    pub color: RGBColor,
    pub values: Vec<f64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Grouped,
    Stacked,
}

/// A bar chart over named categories.
pub struct BarPanel<'a> {
    pub caption: String,
    pub categories: &'a [String],
    pub bars: Vec<Bars>,
    pub layout: Layout,
    pub y_desc: &'a str,
    /// Draw a legend row under the chart (off when the categories already name
    /// the bars).
    pub legend: bool,
    /// Text above each category's bar (empty: none). Written from the decimal
    /// figures, never from the coordinates.
    pub top_labels: Vec<String>,
}

fn draw_bars(area: &Area<'_>, root: &Area<'_>, p: &BarPanel<'_>) -> Result<(), ReportError> {
    let n = p.categories.len();
    let max = match p.layout {
        Layout::Grouped => p
            .bars
            .iter()
            .flat_map(|b| b.values.iter().copied())
            .fold(0.0, f64::max),
        Layout::Stacked => (0..n)
            .map(|i| {
                p.bars
                    .iter()
                    .map(|b| b.values.get(i).copied().unwrap_or(0.0).max(0.0))
                    .sum::<f64>()
            })
            .fold(0.0, f64::max),
    };
    let x_max = n.max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(&p.caption, (FONT, 18).into_font().color(&INK))
        .margin(12)
        .x_label_area_size(if p.legend { 50 } else { 30 })
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..x_max, 0.0..y_top(max))
        .map_err(chart_err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(6)
        .y_desc(p.y_desc)
        .y_label_formatter(&|v| tick(*v))
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 14))
        .draw()
        .map_err(chart_err)?;

    let series_count = p.bars.len().max(1) as f64;
    let mut stack = vec![0.0f64; n];
    for (k, bars) in p.bars.iter().enumerate() {
        let color = bars.color;
        let rects: Vec<Rectangle<(f64, f64)>> = (0..n)
            .filter_map(|i| {
                let v = bars.values.get(i).copied().unwrap_or(0.0);
                if !(v.is_finite() && v > 0.0) {
                    return None;
                }
                let x = i as f64;
                let (x0, x1, y0, y1) = match p.layout {
                    Layout::Grouped => {
                        let w = 0.8 / series_count;
                        let x0 = x + 0.1 + w * k as f64;
                        (x0, x0 + w * 0.92, 0.0, v)
                    }
                    Layout::Stacked => {
                        let y0 = stack[i];
                        stack[i] += v;
                        (x + 0.15, x + 0.85, y0, y0 + v)
                    }
                };
                Some(Rectangle::new([(x0, y0), (x1, y1)], color.filled()))
            })
            .collect();
        chart.draw_series(rects).map_err(chart_err)?;
    }

    // Category names under the bars, thinned out so that they never overlap.
    let plot_px = chart.plotting_area().dim_in_pixel().0.max(1);
    let label_px = p
        .categories
        .iter()
        .map(|c| c.chars().count() as u32)
        .max()
        .unwrap_or(1)
        * LABEL_CHAR_PX
        + 12;
    let fit = (plot_px / label_px.max(1)).max(1) as usize;
    let every = n.div_ceil(fit).max(1);
    let style = TextStyle::from((FONT, 14).into_font())
        .color(&INK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    for (i, name) in p.categories.iter().enumerate().step_by(every) {
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        root.draw_text(name, &style, (x, y + 6))
            .map_err(chart_err)?;
    }
    let above = TextStyle::from((FONT, 15).into_font())
        .color(&INK)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    for (i, text) in p.top_labels.iter().enumerate().take(n) {
        let top = p
            .bars
            .iter()
            .map(|b| b.values.get(i).copied().unwrap_or(0.0).max(0.0))
            .fold(0.0, |acc, v| match p.layout {
                Layout::Stacked => acc + v,
                Layout::Grouped => f64::max(acc, v),
            });
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, top));
        root.draw_text(text, &above, (x, y - 4))
            .map_err(chart_err)?;
    }
    if p.legend {
        // One row under the category names: a swatch and a name per series.
        let (left, bottom) = chart.backend_coord(&(0.0, 0.0));
        let y = bottom + 30;
        let mut x = left;
        let style = TextStyle::from((FONT, 14).into_font())
            .color(&INK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for bars in &p.bars {
            root.draw(&Rectangle::new(
                [(x, y - 6), (x + 12, y + 6)],
                bars.color.filled(),
            ))
            .map_err(chart_err)?;
            root.draw_text(&bars.name, &style, (x + 18, y))
                .map_err(chart_err)?;
            x += 18 + (bars.name.chars().count() as i32 + 3) * LABEL_CHAR_PX as i32;
        }
    }
    if n == 0 {
        let (x, y) = chart.backend_coord(&(0.5, y_top(max) / 2.0));
        root.draw_text("no data", &style, (x, y))
            .map_err(chart_err)?;
    }
    Ok(())
}

fn svg(
    height: u32,
    draw: impl FnOnce(&Area<'_>) -> Result<(), ReportError>,
) -> Result<String, ReportError> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (WIDTH_PX, height)).into_drawing_area();
        draw(&root)?;
        root.present().map_err(chart_err)?;
    }
    Ok(buf)
}

/// Cumulative units subscribed by ledger time, with the cap.
pub fn book_timeline(r: &SeriesReport) -> Result<String, ReportError> {
    let title = format!("{}: subscription book over time", r.id);
    let subtitle = format!(
        "{} units subscribed in {} subscriptions; cap {} units; {} allotted",
        format::units(r.book.subscribed_units),
        format::units(r.book.subscriptions),
        format::units(r.cap_units),
        format::units(r.book.allotted_units),
    );
    svg(HEADER_HEIGHT_PX + PANEL_HEIGHT_PX, |root| {
        let body = header(root, &title, &subtitle)?;
        let secs = |t: DateTime<Utc>| t.timestamp() as f64;
        let (mut x0, mut x1) = match (r.timeline.first(), r.timeline.last()) {
            (Some(a), Some(b)) => (secs(a.at), secs(b.at)),
            _ => (0.0, 0.0),
        };
        if x1 - x0 < 60.0 {
            x0 -= 30.0;
            x1 += 30.0;
        }
        let span = x1 - x0;
        let max = r
            .timeline
            .iter()
            .map(|p| coord_units(p.units))
            .fold(coord_units(r.cap_units), f64::max);
        let mut chart = ChartBuilder::on(&body)
            .caption(
                "live units in the book (submissions less withdrawals), by recorded time (UTC)",
                (FONT, 18).into_font().color(&INK),
            )
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(72)
            .build_cartesian_2d(x0..x1, 0.0..y_top(max))
            .map_err(chart_err)?;
        let time_label = move |x: &f64| {
            let fmt = if span > 3.0 * 86_400.0 {
                "%Y-%m-%d"
            } else if span > 86_400.0 {
                "%m-%d %H:%M"
            } else {
                "%H:%M:%S"
            };
            DateTime::<Utc>::from_timestamp(*x as i64, 0)
                .map(|t| t.format(fmt).to_string())
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&time_label)
            .y_label_formatter(&|v| tick(*v))
            .y_desc("units")
            .axis_desc_style((FONT, 15))
            .label_style((FONT, 14))
            .draw()
            .map_err(chart_err)?;
        // A step line: each change holds until the next one.
        let mut steps: Vec<(f64, f64)> = Vec::with_capacity(r.timeline.len() * 2);
        for p in &r.timeline {
            let (x, y) = (secs(p.at), coord_units(p.units));
            if let Some(&(_, prev)) = steps.last() {
                steps.push((x, prev));
            }
            steps.push((x, y));
        }
        chart
            .draw_series(LineSeries::new(steps, BLUE.stroke_width(3)))
            .map_err(chart_err)?
            .label("units subscribed")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], BLUE.stroke_width(3)));
        let cap = coord_units(r.cap_units);
        chart
            .draw_series(DashedLineSeries::new(
                [(x0, cap), (x1, cap)],
                8,
                5,
                RED.stroke_width(2),
            ))
            .map_err(chart_err)?
            .label(format!("cap {} units", format::units(r.cap_units)))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], RED.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(MUTED)
            .label_font((FONT, 14))
            .draw()
            .map_err(chart_err)?;
        if r.timeline.is_empty() {
            let style = TextStyle::from((FONT, 14).into_font())
                .color(&MUTED)
                .pos(Pos::new(HPos::Center, VPos::Center));
            let (x, y) = chart.backend_coord(&((x0 + x1) / 2.0, y_top(max) / 2.0));
            root.draw_text("no subscriptions yet", &style, (x, y))
                .map_err(chart_err)?;
        }
        Ok(())
    })
}

/// Which breakdown of the book a chart shows.
#[derive(Clone, Copy)]
pub enum Breakdown {
    Country,
    Category,
}

/// Units subscribed and allotted per country of residence or diaspora category.
pub fn book_breakdown(r: &SeriesReport, by: Breakdown) -> Result<String, ReportError> {
    let (buckets, what, labels): (_, _, Vec<String>) = match by {
        Breakdown::Country => (
            &r.by_country,
            "country of residence",
            r.by_country.iter().map(|b| b.key.clone()).collect(),
        ),
        Breakdown::Category => (
            &r.by_category,
            "diaspora category",
            r.by_category
                .iter()
                .map(|b| category_label(&b.key))
                .collect(),
        ),
    };
    let title = format!("{}: the book by {what}", r.id);
    let subtitle = format!(
        "{} units subscribed, {} allotted, across {} {}",
        format::units(r.book.subscribed_units),
        format::units(r.book.allotted_units),
        buckets.len(),
        match by {
            Breakdown::Country => "countries",
            Breakdown::Category => "categories",
        }
    );
    svg(HEADER_HEIGHT_PX + PANEL_HEIGHT_PX, |root| {
        let body = header(root, &title, &subtitle)?;
        let panel = BarPanel {
            caption: format!("units per {what}"),
            categories: &labels,
            bars: vec![
                Bars {
                    name: "subscribed".into(),
                    color: LIGHT_BLUE,
                    values: buckets
                        .iter()
                        .map(|b| coord_units(b.subscribed_units))
                        .collect(),
                },
                Bars {
                    name: "allotted".into(),
                    color: BLUE,
                    values: buckets
                        .iter()
                        .map(|b| coord_units(b.allotted_units))
                        .collect(),
                },
            ],
            layout: Layout::Grouped,
            y_desc: "units",
            legend: true,
            top_labels: Vec::new(),
        };
        draw_bars(&body, root, &panel)
    })
}

/// Coupons and principal by payment date, paid and still to pay.
pub fn debt_service(r: &SeriesReport) -> Result<String, ReportError> {
    let cur = r.currency;
    let coupons = r.debt_service_total(CashFlowKind::Coupon);
    let principal = r.debt_service_total(CashFlowKind::Redemption);
    let title = format!("{}: debt service by payment date", r.id);
    let subtitle = format!(
        "on {} units ({}): {} in all; paid so far {}",
        format::units(r.units_outstanding),
        r.units_basis.describe(),
        format::money_cur(coupons.saturating_add(principal), cur),
        format::money_cur(r.paid_total(), cur),
    );
    // One category per payment date, in date order.
    let mut dates: Vec<chrono::NaiveDate> = r.debt_service.iter().map(|l| l.payment_date).collect();
    dates.sort();
    dates.dedup();
    let labels: Vec<String> = dates.iter().map(|d| d.to_string()).collect();
    let column = |kind: CashFlowKind, paid: bool| -> Vec<f64> {
        dates
            .iter()
            .map(|d| {
                coord(total(
                    r.debt_service
                        .iter()
                        .filter(|l| l.payment_date == *d && l.kind == kind && l.paid == paid)
                        .filter_map(|l| l.amount),
                ))
            })
            .collect()
    };
    let y_desc = cur.as_str();
    svg(HEADER_HEIGHT_PX + 2 * PANEL_HEIGHT_PX, |root| {
        let body = header(root, &title, &subtitle)?;
        let (top, bottom) = body.split_vertically(PANEL_HEIGHT_PX);
        draw_bars(
            &top,
            root,
            &BarPanel {
                caption: format!(
                    "coupons {} and principal {}",
                    format::money(coupons, cur),
                    format::money_cur(principal, cur)
                ),
                categories: &labels,
                bars: vec![
                    Bars {
                        name: "coupon, paid".into(),
                        color: GREEN,
                        values: column(CashFlowKind::Coupon, true),
                    },
                    Bars {
                        name: "coupon, scheduled".into(),
                        color: LIGHT_GREEN,
                        values: column(CashFlowKind::Coupon, false),
                    },
                    Bars {
                        name: "principal, paid".into(),
                        color: BLUE,
                        values: column(CashFlowKind::Redemption, true),
                    },
                    Bars {
                        name: "principal, scheduled".into(),
                        color: LIGHT_BLUE,
                        values: column(CashFlowKind::Redemption, false),
                    },
                ],
                layout: Layout::Stacked,
                y_desc,
                legend: true,
                top_labels: Vec::new(),
            },
        )?;
        draw_bars(
            &bottom,
            root,
            &BarPanel {
                caption: format!("coupons alone: {} in all", format::money_cur(coupons, cur)),
                categories: &labels,
                bars: vec![
                    Bars {
                        name: "coupon, paid".into(),
                        color: GREEN,
                        values: column(CashFlowKind::Coupon, true),
                    },
                    Bars {
                        name: "coupon, scheduled".into(),
                        color: LIGHT_GREEN,
                        values: column(CashFlowKind::Coupon, false),
                    },
                ],
                layout: Layout::Stacked,
                y_desc,
                legend: true,
                top_labels: Vec::new(),
            },
        )
    })
}

/// What the patriotic discount saves: the issue figures, and the coupon saved on
/// each coupon date. `None` when the series has no diaspora pricing.
pub fn savings(r: &SeriesReport) -> Result<Option<String>, ReportError> {
    let Savings::Derived(s) = &r.savings else {
        return Ok(None);
    };
    let cur = r.currency;
    let title = format!("{}: what the patriotic discount saves", r.id);
    let subtitle = if s.sales.len() > 1 {
        format!(
            "issuer savings {} on {} units in {} sales, at the coupon in force (value at each sale)",
            format::money_cur(s.total, cur),
            format::units(s.units),
            s.sales.len(),
        )
    } else {
        format!(
            "issuer savings {} = {} per unit x {} units, at the coupon in force (value at issue)",
            format::money_cur(s.total, cur),
            format::fine(s.per_unit, 4),
            format::units(s.units),
        )
    };
    let mut figures = vec![
        ("reference yield", s.reference_yield),
        ("diaspora yield", s.diaspora_yield),
    ];
    if let (Some(m), Some(d)) = (s.market_coupon, s.diaspora_coupon) {
        figures.push(("market par coupon", m));
        figures.push(("diaspora par coupon", d));
    }
    if let Some(c) = s.coupon {
        figures.push(("coupon in force", c));
    }
    let names: Vec<String> = figures.iter().map(|(n, _)| n.to_string()).collect();
    let percents: Vec<String> = figures
        .iter()
        .map(|(_, r)| format::percent(*r, 4))
        .collect();
    // Percent, display-only.
    let values: Vec<f64> = figures.iter().map(|(_, r)| coord(*r) * 100.0).collect();
    let caption = format!(
        "{} - {} bp = {}",
        format::percent(s.reference_yield, 4),
        s.discount_bps.normalize(),
        format::percent(s.diaspora_yield, 4)
    );
    let per_date_total = total(s.per_date.iter().map(|(_, v)| *v));
    let dates: Vec<String> = s.per_date.iter().map(|(d, _)| d.to_string()).collect();
    svg(HEADER_HEIGHT_PX + 2 * PANEL_HEIGHT_PX, |root| {
        let body = header(root, &title, &subtitle)?;
        let (top, bottom) = body.split_vertically(PANEL_HEIGHT_PX);
        // One bar per figure: the category axis names it, one colour each.
        let palette = [RED, ORANGE, LIGHT_GREEN, GREEN, BLUE];
        let bars = values
            .iter()
            .enumerate()
            .map(|(i, v)| Bars {
                name: names.get(i).cloned().unwrap_or_default(),
                color: palette[i % palette.len()],
                values: (0..values.len())
                    .map(|j| if j == i { *v } else { 0.0 })
                    .collect(),
            })
            .collect();
        draw_bars(
            &top,
            root,
            &BarPanel {
                caption,
                categories: &names,
                bars,
                layout: Layout::Stacked,
                y_desc: "percent",
                legend: false,
                top_labels: percents,
            },
        )?;
        draw_bars(
            &bottom,
            root,
            &BarPanel {
                caption: if dates.is_empty() {
                    "no coupons: the saving is taken at issue, as extra proceeds".into()
                } else {
                    format!(
                        "coupon saved per coupon date (market par coupon less the coupon in force): {} undiscounted",
                        format::money_cur(per_date_total, cur)
                    )
                },
                categories: &dates,
                bars: vec![Bars {
                    name: "coupon saved".into(),
                    color: GREEN,
                    values: s.per_date.iter().map(|(_, v)| coord(*v)).collect(),
                }],
                layout: Layout::Grouped,
                y_desc: cur.as_str(),
                legend: false,
                top_labels: Vec::new(),
            },
        )
    })
    .map(Some)
}
