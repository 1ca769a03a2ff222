//! `dbond report` end to end: a series issued against a real server (two banks,
//! investors in several countries and categories, a withdrawal, pro-rata
//! allotment, settlement, issue) and a second series still open; the server is
//! stopped; the report's pages and charts exist, are well-formed, and carry the
//! totals the server itself reports.

use crate::common;

use common::{Server, new_key};
use dbond::client::{Client, SeriesAction};
use dbond::proto as pb;
use dbond_testkit::{ALL_CATEGORIES, Life, Terms};
use rust_decimal::Decimal;
use std::path::Path;
use std::str::FromStr;

/// A 5-year semiannual series with diaspora pricing, its window open now.
fn terms(series_id: &str, currency: &str, cap: u64) -> pb::SeriesTerms {
    Terms::new(series_id, Life::selling_now(chrono::Duration::hours(1), 60))
        .name(format!("Diaspora bond {series_id}"))
        .currency(currency)
        .cap_units(cap)
        .fixed_rate("")
        .categories(&ALL_CATEGORIES)
        .countries_barred(&["IR"])
        .diaspora_pricing("0.065", "150", true)
        .build()
}

const COUNTRIES: [&str; 5] = ["DE", "US", "GB", "TR", "CA"];

fn sub(series: &str, i: usize, units: u64) -> pb::SubmitSubscription {
    pb::SubmitSubscription {
        series_id: series.into(),
        investor_ref: format!("inv-{i:03}"),
        category: ALL_CATEGORIES[i % 4] as i32,
        country: COUNTRIES[i % COUNTRIES.len()].into(),
        units: units.to_string(),
        idempotency_key: format!("{series}-order-{i}"),
        registration: None,
    }
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|e| panic!("decimal {s:?}: {e}"))
}

/// "1234567.5" -> "1,234,567.5": how the report writes numbers.
fn grouped(plain: &str) -> String {
    let (int, frac) = plain.split_once('.').unwrap_or((plain, ""));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// Money as the report writes it: half even to cents, grouped, with currency.
fn money(amount: Decimal, currency: &str) -> String {
    let cents =
        amount.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven);
    format!("{} {currency}", grouped(&format!("{cents:.2}")))
}

/// A small XML well-formedness check: one root element, every tag closed in
/// order, attribute quotes balanced, no stray '<' or '&' in text.
fn check_xml(what: &str, text: &str) {
    let body = text.trim();
    let body = match body.strip_prefix("<?xml") {
        Some(rest) => {
            &rest[rest
                .find("?>")
                .unwrap_or_else(|| panic!("{what}: bad prolog"))
                + 2..]
        }
        None => body,
    };
    let mut open: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            assert!(open.is_empty(), "{what}: text after the root element");
            break;
        };
        let text_part = &rest[..lt];
        for (i, _) in text_part.match_indices('&') {
            let entity = &text_part[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&apos;"]
                    .iter()
                    .any(|e| entity.starts_with(e)),
                "{what}: bare '&' in text {entity:.20}"
            );
        }
        rest = &rest[lt + 1..];
        let gt = rest
            .find('>')
            .unwrap_or_else(|| panic!("{what}: a tag never closes"));
        let tag = &rest[..gt];
        assert!(!tag.contains('<'), "{what}: '<' inside a tag: {tag:.60}");
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "{what}: unbalanced quotes in {tag:.60}"
        );
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let expected = open.pop();
            assert_eq!(
                expected.as_deref(),
                Some(name.trim()),
                "{what}: closing tag out of order"
            );
        } else if !tag.starts_with('!') && !tag.starts_with('?') {
            let name: String = tag
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == ':')
                .collect();
            assert!(!name.is_empty(), "{what}: empty tag name");
            if open.is_empty() {
                roots += 1;
            }
            if !tag.ends_with('/') {
                open.push(name);
            }
        }
    }
    assert!(open.is_empty(), "{what}: unclosed tags {open:?}");
    assert_eq!(roots, 1, "{what}: expected exactly one root element");
}

/// What one unit sold on `settle` (the issue date if `None`) at `reference`
/// less `bps` saves, with the series paying `coupon`: the library's formula,
/// face x (P(y) - P(r)) / 100.
fn savings_per_unit(
    terms: &pb::SeriesTerms,
    coupon: &str,
    settle: Option<chrono::NaiveDate>,
    reference: &str,
    bps: &str,
) -> Decimal {
    let t = dbond::codec::bonds::terms_from_pb(Some(terms)).expect("terms");
    let bond =
        dbond::registry::series::bond_terms(&t, dbond::pricing::CouponType::Fixed(dec(coupon)))
            .expect("bond terms");
    dbond::pricing::savings_at(
        &bond,
        settle.unwrap_or(t.issue_date),
        dec(reference),
        dec(bps),
    )
    .expect("savings")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn n(s: &str) -> u64 {
    s.parse().unwrap_or_else(|e| panic!("units {s:?}: {e}"))
}

/// Treasury, two banks, one issued series and one still open.
async fn issue(server: &Server) -> (pb::Series, pb::Series) {
    let admin = server.admin().await;
    let (t, a, b) = (new_key(), new_key(), new_key());
    admin
        .register("treasury", pb::Role::Treasury, &t.verifying_key(), "MoF")
        .await
        .expect("register treasury");
    admin
        .register("bank-a", pb::Role::Bank, &a.verifying_key(), "Bank A")
        .await
        .expect("register bank-a");
    admin
        .register("bank-b", pb::Role::Bank, &b.verifying_key(), "Bank B")
        .await
        .expect("register bank-b");
    let (treasury, bank_a, bank_b): (Client, Client, Client) =
        (admin.as_key(t), admin.as_key(a), admin.as_key(b));

    let issued = "AZ-2031-USD";
    treasury
        .create_series(terms(issued, "USD", 300))
        .await
        .expect("create");
    treasury
        .series_action(SeriesAction::Open, issued)
        .await
        .expect("open");
    let mut withdrawn = None;
    for i in 0..12usize {
        let bank = if i % 2 == 0 { &bank_a } else { &bank_b };
        let r = bank
            .submit(sub(issued, i, 10 + (i as u64 * 7) % 40))
            .await
            .expect("submit");
        if i == 3 {
            withdrawn = r.subscription.map(|s| s.subscription_id);
        }
    }
    bank_b
        .withdraw(withdrawn.expect("subscription 3"))
        .await
        .expect("withdraw");
    for action in [SeriesAction::Close, SeriesAction::Allot] {
        treasury
            .series_action(action, issued)
            .await
            .expect("close, allot");
    }
    for s in treasury.all_subscriptions(issued).await.expect("list") {
        if s.status != pb::SubscriptionStatus::Allotted as i32 {
            continue;
        }
        let bank = if s.bank_id == "bank-a" {
            &bank_a
        } else {
            &bank_b
        };
        bank.settle(s.subscription_id).await.expect("settle");
    }
    treasury
        .series_action(SeriesAction::Issue, issued)
        .await
        .expect("issue");

    let open = "AZ-2030-EUR";
    treasury
        .create_series(terms(open, "EUR", 500))
        .await
        .expect("create");
    treasury
        .series_action(SeriesAction::Open, open)
        .await
        .expect("open");
    bank_a.submit(sub(open, 20, 40)).await.expect("submit");
    bank_a.submit(sub(open, 21, 25)).await.expect("submit");

    (
        treasury.get_series(issued).await.expect("get"),
        treasury.get_series(open).await.expect("get"),
    )
}

const CHARTS: [&str; 5] = [
    "book-timeline.svg",
    "book-by-country.svg",
    "book-by-category.svg",
    "debt-service.svg",
    "savings.svg",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_with_pictures_carry_the_ledger_totals() {
    let mut server = Server::start();
    let (issued, open) = issue(&server).await;
    let data = server.data.to_str().expect("utf-8 path").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("report");
    let out_s = out.to_str().expect("utf-8 path").to_string();

    // A running server holds the store: the report says so and writes nothing.
    let (ok, _, err) = Server::dbond(&["report", "--data", &data, "--out", &out_s]);
    assert!(!ok, "report on a running server's store must fail");
    assert!(err.contains("server running"), "{err}");
    assert!(!out.join("index.html").exists());

    assert!(server.stop().success());
    let (ok, stdout, err) = Server::dbond(&["report", "--data", &data, "--out", &out_s]);
    assert!(ok, "dbond report failed: {stdout} {err}");
    let index_path = out.join("index.html");
    assert!(
        stdout.contains(&index_path.display().to_string()),
        "says where the report is: {stdout}"
    );

    let index = read(&index_path);
    check_xml("index.html", index.trim_start_matches("<!DOCTYPE html>"));
    for s in [&issued, &open] {
        let terms = s.terms.as_ref().expect("terms");
        let book = s.book.as_ref().expect("book");
        let figures = s.figures.as_ref().expect("figures");
        let id = terms.series_id.as_str();
        let cur = terms.currency.as_str();
        let page_path = out.join(format!("{id}.html"));
        let page = read(&page_path);
        check_xml(id, page.trim_start_matches("<!DOCTYPE html>"));
        assert!(
            index.contains(&format!("href=\"{id}.html\"")),
            "index links {id}"
        );
        for c in CHARTS {
            let svg = read(&out.join(id).join(c));
            check_xml(c, &svg);
            assert!(svg.contains("<svg") && svg.contains("</svg>"), "{id}/{c}");
            assert!(
                page.contains(&format!("src=\"{id}/{c}\"")),
                "{id}.html shows {c}"
            );
        }
        let chart = |c: &str| read(&out.join(id).join(c));

        // The book, as the server counts it.
        let subscribed = grouped(&book.subscribed_units);
        let allotted = grouped(&book.allotted_units);
        assert!(
            chart("book-timeline.svg").contains(&format!("{subscribed} units subscribed")),
            "{id}: timeline total {subscribed}"
        );
        for c in ["book-by-country.svg", "book-by-category.svg"] {
            let svg = chart(c);
            assert!(
                svg.contains(&format!(
                    "{subscribed} units subscribed, {allotted} allotted"
                )),
                "{id}/{c}: book totals"
            );
        }
        let countries: Vec<&str> = book.by_country.iter().map(|b| b.key.as_str()).collect();
        for country in &countries {
            assert!(
                chart("book-by-country.svg").contains(&format!(">\n{country}\n</text>")),
                "{id}: bar for {country}"
            );
        }
        for (label, value) in [
            ("units subscribed", &book.subscribed_units),
            ("units allotted", &book.allotted_units),
            ("units issued", &book.issued_units),
        ] {
            assert!(
                page.contains(&format!(
                    "<tr><th>{label}</th><td class=\"n\">{}</td></tr>",
                    grouped(value)
                )),
                "{id}.html: {label} = {value}"
            );
        }
        let raised = money(dec(&book.amount_raised), cur);
        assert!(page.contains(&raised), "{id}.html: money raised {raised}");
        assert!(index.contains(&raised), "index: money raised {raised}");

        // Debt service on the units issued, or the cap before issue.
        let units = if s.status == pb::SeriesStatus::Issued as i32 {
            n(&book.issued_units)
        } else {
            n(&terms.cap_units)
        };
        let units_d = Decimal::from(units);
        let (mut coupons, mut principal) = (Decimal::ZERO, Decimal::ZERO);
        for f in &s.schedule {
            let amount = dec(&f.amount_per_unit) * units_d;
            if f.kind == "coupon" {
                coupons += amount;
            } else {
                principal += amount;
            }
        }
        let ds = chart("debt-service.svg");
        assert!(
            ds.contains(&format!("on {} units", grouped(&units.to_string()))),
            "{id}: debt service units"
        );
        assert!(
            ds.contains(&money(coupons + principal, cur)),
            "{id}: debt service total {}",
            money(coupons + principal, cur)
        );
        assert!(ds.contains(&money(principal, cur)[..money(principal, cur).len() - 4]));
        assert_eq!(principal, units_d * dec(&terms.face_value));

        // The patriotic discount's savings: at the coupon in force, per unit x units.
        let per_unit = savings_per_unit(terms, &figures.coupon_rate, None, "0.065", "150");
        let recorded = dec(&figures.issuer_savings_per_unit);
        assert!(
            (per_unit - recorded).abs() < dec("0.01"),
            "{id}: at the par coupon as published ({per_unit}) or unrounded ({recorded})"
        );
        let savings = money(per_unit * units_d, cur);
        let sv = chart("savings.svg");
        assert!(
            sv.contains(&format!("issuer savings {savings}")),
            "{id}: savings {savings}"
        );
        assert!(sv.contains("6.5% - 150 bp = 5%"), "{id}: yields");
        assert!(page.contains(&savings), "{id}.html: savings");
    }
    // The issued series: holders and units in the index row.
    let book = issued.book.as_ref().expect("book");
    assert_eq!(
        n(&book.issued_units),
        300,
        "oversubscribed: allotted to the cap"
    );
    assert!(index.contains(&format!(
        "<td class=\"n\">{}</td><td class=\"n\">300</td>",
        grouped(&book.subscribed_units)
    )));

    // The same ledger gives the same report, byte for byte.
    let again = dir.path().join("again");
    let (ok, _, err) = Server::dbond(&[
        "report",
        "--data",
        &data,
        "--out",
        again.to_str().expect("utf-8"),
    ]);
    assert!(ok, "{err}");
    for rel in [
        "index.html".to_string(),
        "AZ-2031-USD.html".into(),
        "AZ-2031-USD/debt-service.svg".into(),
        "AZ-2030-EUR/book-timeline.svg".into(),
    ] {
        assert_eq!(read(&out.join(&rel)), read(&again.join(&rel)), "{rel}");
    }

    // The store was only read: it still verifies.
    let (ok, out, err) = Server::dbond(&["verify", "--data", &data]);
    assert!(ok, "verify after report: {out} {err}");
}

#[test]
fn a_missing_store_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nothing-here");
    let (ok, _, err) = Server::dbond(&[
        "report",
        "--data",
        missing.to_str().expect("utf-8"),
        "--out",
        dir.path().join("out").to_str().expect("utf-8"),
    ]);
    assert!(!ok);
    assert!(err.contains("no ledger"), "{err}");
}

#[test]
fn the_xml_check_can_fail() {
    for bad in [
        "<svg><g></svg>",
        "<svg>",
        "<svg></svg><svg></svg>",
        "<svg a=\"1></svg>",
        "<svg>a & b</svg>",
    ] {
        assert!(
            std::panic::catch_unwind(|| check_xml("bad", bad)).is_err(),
            "{bad} must be refused"
        );
    }
    check_xml(
        "good",
        "<?xml version=\"1.0\"?><svg a=\"1\"><g/><text>&amp;</text></svg>",
    );
}

/// A series whose coupon is the par coupon rounded down to a step, sold at issue
/// and again in a tranche: the report's savings are taken at the coupon paid,
/// sale by sale, on the units each sold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savings_are_at_the_coupon_in_force_over_the_issue_and_its_tranches() {
    use dbond::client::Reopening;
    let mut server = Server::start();
    let admin = server.admin().await;
    let (t, a) = (new_key(), new_key());
    admin
        .register("treasury", pb::Role::Treasury, &t.verifying_key(), "MoF")
        .await
        .expect("register treasury");
    admin
        .register("bank-a", pb::Role::Bank, &a.verifying_key(), "Bank A")
        .await
        .expect("register bank-a");
    let (treasury, bank) = (admin.as_key(t), admin.as_key(a));
    // 6.5 % less 140 bp: a par coupon of 5.1 %, paid as 5 % (a step of 0.25 %).
    let id = "AZ-2032-STEP";
    let now = chrono::Utc::now();
    let life = Life::selling_at(now, chrono::Duration::hours(1), 60);
    let issue_date = life.issue;
    let series_terms = Terms::new(id, life)
        .fixed_rate("")
        .cap_units(1000)
        .categories(&ALL_CATEGORIES)
        .diaspora_pricing("0.065", "140", true)
        .coupon_step("0.0025")
        .build();
    treasury
        .create_series(series_terms.clone())
        .await
        .expect("create");
    treasury
        .series_action(SeriesAction::Open, id)
        .await
        .expect("open");
    for i in 0..2 {
        bank.submit(sub(id, i, 20)).await.expect("submit");
    }
    let settle_all = async |series: &str| {
        for s in treasury.all_subscriptions(series).await.expect("list") {
            if s.status == pb::SubscriptionStatus::Allotted as i32 {
                bank.settle(s.subscription_id).await.expect("settle");
            }
        }
    };
    for action in [SeriesAction::Close, SeriesAction::Allot] {
        treasury
            .series_action(action, id)
            .await
            .expect("close, allot");
    }
    settle_all(id).await;
    treasury
        .series_action(SeriesAction::Issue, id)
        .await
        .expect("issue");
    let series = treasury.get_series(id).await.expect("get");
    let figures = series.figures.as_ref().expect("figures");
    assert_eq!(
        figures.coupon_rate, "0.050000",
        "5.1 % rounded down to 0.25 %, at six decimals"
    );
    assert!(dec(&figures.issue_price) < dec("100"), "{figures:?}");

    // A tranche of 15 units at 7 % less 100 bp, settling a week after issue.
    let settle = issue_date + chrono::Duration::days(7);
    treasury
        .reopen_series(&Reopening {
            series_id: id.into(),
            window_opens_at: now - chrono::Duration::minutes(1),
            window_closes_at: now + chrono::Duration::hours(1),
            settlement_date: settle.to_string(),
            settlement_deadline: now + chrono::Duration::hours(2),
            reference_yield: "0.07".into(),
            discount_bps: "100".into(),
            cap_units: "20".into(),
        })
        .await
        .expect("reopen");
    bank.submit(sub(id, 2, 15))
        .await
        .expect("submit to the tranche");
    for action in [SeriesAction::Close, SeriesAction::Allot] {
        treasury
            .series_action(action, id)
            .await
            .expect("close, allot the tranche");
    }
    settle_all(id).await;
    let issued = treasury
        .series_action(SeriesAction::Issue, id)
        .await
        .expect("issue the tranche");
    let book = issued.series.and_then(|s| s.book).expect("book");
    assert_eq!(book.issued_units, "55");

    // The report, from the stopped store.
    assert!(server.stop().success());
    let data = server.data.to_str().expect("utf-8 path").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("report");
    let (ok, stdout, err) = Server::dbond(&[
        "report",
        "--data",
        &data,
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(ok, "dbond report failed: {stdout} {err}");
    let page = read(&out.join(format!("{id}.html")));
    check_xml(id, page.trim_start_matches("<!DOCTYPE html>"));
    let chart = read(&out.join(id).join("savings.svg"));
    check_xml("savings.svg", &chart);

    // The issue saves at 5 %: what the ledger recorded at creation.
    let terms = series.terms.as_ref().expect("terms");
    let at_issue = savings_per_unit(terms, "0.05", None, "0.065", "140");
    assert_eq!(at_issue, dec(&figures.issuer_savings_per_unit));
    // The tranche saves at its own yields, on its settlement date.
    let at_tranche = savings_per_unit(terms, "0.05", Some(settle), "0.07", "100");
    let total = Decimal::from(40) * at_issue + Decimal::from(15) * at_tranche;
    let usd = |x: Decimal| money(x, "USD");
    assert!(
        chart.contains(&format!(
            "issuer savings {} on 55 units in 2 sales",
            usd(total)
        )),
        "savings {}: {chart:.600}",
        usd(total)
    );
    assert!(page.contains(&format!(
        "<tr><th>issuer savings</th><td class=\"n\">{}</td></tr>",
        usd(total)
    )));
    assert!(page.contains("<tr><th>coupon in force</th><td class=\"n\">5%</td></tr>"));
    assert!(page.contains("<tr><th>units</th><td class=\"n\">55</td></tr>"));
    let usd_plain = |x: Decimal| usd(x).trim_end_matches(" USD").to_string();
    for (sale, date, units, saved) in [
        ("issue", issue_date, 40, Decimal::from(40) * at_issue),
        ("tranche 1", settle, 15, Decimal::from(15) * at_tranche),
    ] {
        let row = format!("<tr><td>{sale}</td><td>{date}</td>");
        let at = page.find(&row).unwrap_or_else(|| panic!("no row {row}"));
        let line = &page[at..at + page[at..].find("</tr>").expect("row ends")];
        assert!(
            line.contains(&format!("<td class=\"n\">{units}</td>"))
                && line.contains(&usd_plain(saved)),
            "{line}"
        );
    }
    assert!(
        page.contains("Savings = the sum over the sales"),
        "the formula"
    );
    // The harness can fail: the recorded figure over every unit, or the
    // savings at the unrounded par coupon, are other figures.
    assert_ne!(usd(total), usd(Decimal::from(55) * at_issue));
    let at_par = savings_per_unit(terms, "0.051", None, "0.065", "140");
    assert!(at_par > at_issue, "{at_par} > {at_issue}");
}
