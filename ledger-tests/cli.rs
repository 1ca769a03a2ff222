//! The `dbond` command line against a real server, as an operator would use it:
//! keys, participants, a series from a TOML terms file, subscriptions, allotment,
//! settlement, issue and queries, tables and JSON, and clear errors.

use crate::common;

use common::Server;
use serde_json::Value;

fn run(args: &[&str]) -> (bool, String, String) {
    Server::dbond(args)
}

fn ok(args: &[&str]) -> String {
    let (success, out, err) = run(args);
    assert!(success, "dbond {args:?} failed: {out}\n{err}");
    out
}

fn json(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&ok(&a)).expect("JSON output")
}

#[test]
fn an_issuance_driven_from_the_command_line() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let addr = server.addr.clone();
    let admin = server.data.join("admin.key").to_str().unwrap().to_string();

    let out = ok(&["keygen", "--out", &p("treasury")]);
    assert!(out.contains("key id"), "{out}");
    ok(&["keygen", "--out", &p("bank")]);
    let (success, _, err) = run(&["keygen", "--out", &p("bank")]);
    assert!(
        !success && err.contains("bank.key"),
        "keygen never overwrites a key: {err}"
    );

    let reg = json(&[
        "participant",
        "register",
        "--server",
        &addr,
        "--key",
        &admin,
        "--id",
        "treasury",
        "--role",
        "treasury",
        "--public-key",
        &p("treasury.pub"),
        "--name",
        "Ministry of Finance",
    ]);
    assert_eq!(reg["participants"][0]["participant_id"], "treasury");
    ok(&[
        "participant",
        "register",
        "--server",
        &addr,
        "--key",
        &admin,
        "--id",
        "bank-a",
        "--role",
        "bank",
        "--public-key",
        &p("bank.pub"),
        "--name",
        "Bank A",
    ]);
    let list = ok(&[
        "participant",
        "list",
        "--server",
        &addr,
        "--key",
        &p("bank.key"),
    ]);
    assert!(
        list.contains("treasury") && list.contains("bank-a") && list.contains("admin"),
        "{list}"
    );

    let now = chrono::Utc::now();
    let issue = (now + chrono::Duration::days(10)).date_naive();
    let terms = format!(
        r#"
series_id = "AZ-2029-GBP"
name = "Diaspora bond 2029"
currency = "GBP"
face_value = "100"
min_units_per_investor = "1"
max_units_per_investor = "50"
cap_units = "60"
frequency = "annual"
day_count = "ACT/365F"
business_day_convention = "modified_following"
calendar = "azerbaijan"
record_date_lag_days = 3
issue_date = "{issue}"
maturity_date = "{maturity}"
window_opens_at = "{opens}"
window_closes_at = "{closes}"
settlement_deadline = "{deadline}"
allotment_rule = "first_come_first_served"

[coupon]
type = "fixed"
rate = "0.045"

[eligibility]
categories = ["citizen_abroad", "former_citizen"]
countries_barred = ["IR"]

[pricing]
type = "diaspora"
reference_yield = "0.06"
discount_bps = "100"
"#,
        maturity = issue.checked_add_months(chrono::Months::new(36)).unwrap(),
        opens = (now - chrono::Duration::hours(1)).to_rfc3339(),
        closes = (now + chrono::Duration::hours(1)).to_rfc3339(),
        deadline = (now + chrono::Duration::hours(2)).to_rfc3339(),
    );
    std::fs::write(p("terms.toml"), terms).unwrap();
    let tk = p("treasury.key");
    let bk = p("bank.key");
    let t = |verb: &str| {
        [
            "series",
            verb,
            "--server",
            &addr,
            "--key",
            &tk,
            "--id",
            "AZ-2029-GBP",
        ]
        .map(String::from)
    };
    let created = json(&[
        "series",
        "create",
        "--server",
        &addr,
        "--key",
        &tk,
        "--file",
        &p("terms.toml"),
    ]);
    assert_eq!(created["status"], "draft");
    assert_eq!(
        created["figures"]["issue_yield"], "0.050000",
        "6% less 100 bp"
    );
    // An unknown key in the terms file is refused, with the key named.
    std::fs::write(p("bad.toml"), "series_idd = \"X\"\n").unwrap();
    let (success, _, err) = run(&[
        "series",
        "create",
        "--server",
        &addr,
        "--key",
        &tk,
        "--file",
        &p("bad.toml"),
    ]);
    assert!(!success && err.contains("series_idd"), "{err}");

    ok(&t("open").iter().map(String::as_str).collect::<Vec<_>>());
    let sub = |investor: &str, units: &str| {
        run(&[
            "subscribe",
            "--server",
            &addr,
            "--key",
            &bk,
            "--series",
            "AZ-2029-GBP",
            "--investor",
            investor,
            "--category",
            "citizen_abroad",
            "--country",
            "DE",
            "--units",
            units,
            "--json",
        ])
    };
    let (success, out, err) = sub("inv-1", "40");
    assert!(success, "{err}");
    let first: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(first["status"], "submitted");
    let (success, _, err) = sub("inv-2", "2.5");
    assert!(
        !success && err.contains("whole") && err.contains("InvalidArgument"),
        "{err}"
    );
    assert!(sub("inv-2", "30").0);
    let subs = ok(&["subscriptions", "--server", &addr, "--key", &bk]);
    assert!(subs.contains("inv-1") && subs.contains("inv-2"), "{subs}");

    ok(&t("close").iter().map(String::as_str).collect::<Vec<_>>());
    let allotted = json(&t("allot").iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        allotted["book"]["allotted_units"], "60",
        "first come, first served up to the cap of 60"
    );
    let all: Value = serde_json::from_str(&ok(&[
        "subscriptions",
        "--server",
        &addr,
        "--key",
        &bk,
        "--json",
    ]))
    .unwrap();
    let allotments: Vec<(&str, &str)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["investor_ref"].as_str().unwrap(),
                s["allotted_units"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(allotments, vec![("inv-1", "40"), ("inv-2", "20")]);
    for s in all.as_array().unwrap() {
        let id = s["subscription_id"].as_u64().unwrap().to_string();
        ok(&[
            "settle",
            "--server",
            &addr,
            "--key",
            &bk,
            "--subscription",
            &id,
        ]);
    }
    let issued = json(&t("issue").iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(issued["status"], "issued");
    assert_eq!(issued["book"]["issued_units"], "60");
    let holdings: Value = serde_json::from_str(&ok(&[
        "holdings",
        "--server",
        &addr,
        "--key",
        &bk,
        "--investor",
        "inv-2",
        "--json",
    ]))
    .unwrap();
    assert_eq!(holdings[0]["units"], "20");
    let show = ok(&t("show").iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        show.contains("issued") && show.contains("100 bp below"),
        "{show}"
    );
    // Errors are one clear line and a non-zero exit.
    let (success, _, err) = run(&[
        "series",
        "open",
        "--server",
        &addr,
        "--key",
        &bk,
        "--id",
        "AZ-2029-GBP",
    ]);
    assert!(!success && err.contains("PermissionDenied"), "{err}");
    let (success, _, err) = run(&[
        "series",
        "show",
        "--server",
        "http://127.0.0.1:1",
        "--key",
        &bk,
        "--id",
        "X",
    ]);
    assert!(!success && err.contains("cannot connect"), "{err}");
}

#[test]
fn the_load_generator_reports_rates_and_checks_every_acknowledged_write() {
    let server = Server::start();
    let admin = server.data.join("admin.key").to_str().unwrap().to_string();
    let out = ok(&[
        "load",
        "--server",
        &server.addr,
        "--admin-key",
        &admin,
        "--count",
        "300",
        "--concurrency",
        "16",
        "--banks",
        "3",
        "--series",
        "2",
    ]);
    let rate_line = out
        .lines()
        .find(|l| l.ends_with(" subscriptions/s"))
        .unwrap_or_else(|| panic!("no rate line: {out}"));
    let rate: u64 = rate_line
        .trim_end_matches(" subscriptions/s")
        .parse()
        .expect("rate is a number");
    assert!(rate > 0);
    assert!(
        out.contains("acknowledged: 300 subscriptions, 15 withdrawals"),
        "{out}"
    );
    assert!(out.contains("latency: p50"), "{out}");
    assert!(out.contains("errors: none"), "{out}");
    assert!(
        out.contains("check: all 315 acknowledged writes are on the ledger"),
        "{out}"
    );
}

#[test]
fn the_load_generator_sends_batches_and_checks_every_acknowledged_write() {
    let server = Server::start();
    let admin = server.data.join("admin.key").to_str().unwrap().to_string();
    let load = |batch: &str| {
        run(&[
            "load",
            "--server",
            &server.addr,
            "--admin-key",
            &admin,
            "--count",
            "250",
            "--concurrency",
            "3",
            "--banks",
            "3",
            "--series",
            "2",
            "--batch",
            batch,
        ])
    };
    let (success, out, err) = load("40");
    assert!(success, "{out}\n{err}");
    // 250 in batches of 40: six full batches and one of 10, each subscription
    // recorded on its own (5 % withdrawn one by one afterwards).
    assert!(
        out.contains("acknowledged: 250 subscriptions, 15 withdrawals"),
        "{out}"
    );
    assert!(out.contains("errors: none"), "{out}");
    assert!(
        out.contains("check: all 265 acknowledged writes are on the ledger"),
        "{out}"
    );
    let (success, _, err) = load("1001");
    assert!(
        !success && err.contains("--batch must be 1 to 1000"),
        "{err}"
    );
}

#[test]
fn the_terms_example_in_the_issuance_doc_is_valid() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ISSUANCE.md")).unwrap();
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + doc[start..].find("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("terms.toml");
    std::fs::write(&path, &doc[start..end]).unwrap();
    let terms = dbond::cli::bonds::TermsFile::read(&path)
        .expect("the documented terms parse")
        .to_pb()
        .unwrap();
    let parsed = dbond::codec::bonds::terms_from_pb(Some(&terms))
        .expect("the documented terms are well formed");
    let defined =
        dbond::registry::series::define(parsed).expect("the documented terms define a series");
    // 6.50% - 150 bp: the par coupon at 5%, as the comment says.
    let coupon = defined.figures.coupon_rate.unwrap();
    assert!(
        (coupon - rust_decimal::Decimal::new(5, 2)).abs() < rust_decimal::Decimal::new(1, 3),
        "{coupon}"
    );
    assert_eq!(
        defined.schedule.len(),
        9,
        "8 semiannual coupons and the redemption"
    );
}

#[cfg(unix)]
unsafe extern "C" {
    #[link_name = "pipe"]
    fn libc_pipe(fds: *mut i32) -> i32;
    #[link_name = "close"]
    fn libc_close(fd: i32) -> i32;
}

/// Runs `dbond args` with its standard output a pipe whose reader has already
/// gone, as `dbond ... | head` leaves it once `head` has read enough: every
/// write the verb makes fails with EPIPE. Its exit status and stderr.
#[cfg(unix)]
fn into_a_closed_pipe(args: &[&str]) -> (std::process::ExitStatus, String) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0i32; 2];
    // SAFETY: `pipe` fills `fds` with two new descriptors that nothing else owns;
    // the reader is closed at once, the writer handed to the child's stdout (and
    // closed in this process when the command is dropped).
    let writer = unsafe {
        assert_eq!(libc_pipe(fds.as_mut_ptr()), 0, "pipe");
        assert_eq!(libc_close(fds[0]), 0, "close the reader");
        OwnedFd::from_raw_fd(fds[1])
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dbond"))
        .args(args)
        .stdout(std::process::Stdio::from(writer))
        .output()
        .expect("run dbond");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A verb whose reader goes away ends quietly, as Unix tools do: no panic, no
/// error message, success; the same verb into an open pipe prints its output.
#[cfg(unix)]
#[test]
fn a_closed_standard_output_ends_a_verb_quietly() {
    let server = Server::start();
    let admin = server.data.join("admin.key").to_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let key_out = dir.path().join("k").to_str().unwrap().to_string();
    let list = [
        "participant",
        "list",
        "--server",
        &server.addr,
        "--key",
        &admin,
    ];
    let mut list_json = list.to_vec();
    list_json.push("--json");
    let verbs: [&[&str]; 3] = [&list, &list_json, &["keygen", "--out", &key_out]];
    for args in verbs {
        let (status, err) = into_a_closed_pipe(args);
        assert!(
            status.success() && err.is_empty(),
            "dbond {args:?} into a closed pipe: {status}, stderr {err:?}"
        );
    }
    // The same verbs print when someone reads (keygen into a fresh name: it never
    // overwrites a key).
    assert!(ok(&list).contains("admin"));
    assert!(ok(&list_json).contains("\"participant_id\": \"admin\""));
    let again = dir.path().join("k2").to_str().unwrap().to_string();
    assert!(ok(&["keygen", "--out", &again]).contains("key id"));

    // An export to standard output (`--out -`): quiet into a closed pipe, and a
    // whole export file when someone reads it.
    let mut server = server;
    server.stop();
    let data = server.data.to_str().unwrap().to_string();
    let export = ["export", "--data", &data, "--out", "-"];
    let (status, err) = into_a_closed_pipe(&export);
    assert!(
        status.success() && !err.contains("error") && !err.contains("panicked"),
        "export into a closed pipe: {status}, stderr {err:?}"
    );
    let file = dir.path().join("ledger.dbx");
    let written = std::process::Command::new(env!("CARGO_BIN_EXE_dbond"))
        .args(export)
        .stdout(std::fs::File::create(&file).unwrap())
        .status()
        .unwrap();
    assert!(written.success());
    let from_export = ok(&["verify", "--export", file.to_str().unwrap()]);
    let from_store = ok(&["verify", "--data", &data]);
    let entries = |out: &str| out.split(" entries").next().map(str::to_string);
    assert!(from_export.starts_with("verified "), "{from_export}");
    assert_eq!(entries(&from_export), entries(&from_store), "{from_export}");
}

/// Years after issue from the command line, on a rehearsal server whose clock
/// the admin moves: a withholding table with treaty rates and a change of
/// residence, a reopening sold, allotted at price plus accrued interest and
/// issued, a coupon that withholds, the tax report as a table, JSON and CSV,
/// and an undeliverable payment listed, claimed and listed again.
#[test]
fn servicing_from_the_command_line() {
    use rust_decimal::Decimal;
    let server = Server::start_with(&["--clock", "simulated", "--start", "2026-11-20T09:00:00Z"]);
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let addr = server.addr.clone();
    let admin = server.data.join("admin.key").to_str().unwrap().to_string();
    for (id, role) in [
        ("treasury", "treasury"),
        ("bank-a", "bank"),
        ("bank-b", "bank"),
        ("engine", "engine"),
    ] {
        ok(&["keygen", "--out", &p(id)]);
        ok(&[
            "participant",
            "register",
            "--server",
            &addr,
            "--key",
            &admin,
            "--id",
            id,
            "--role",
            role,
            "--public-key",
            &p(&format!("{id}.pub")),
            "--name",
            id,
        ]);
    }
    let (tk, ak, bk, ek) = (
        p("treasury.key"),
        p("bank-a.key"),
        p("bank-b.key"),
        p("engine.key"),
    );
    let as_key = |key: &str, args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        v.extend(["--server".into(), addr.clone(), "--key".into(), key.into()]);
        v
    };
    let run_as = |key: &str, args: &[&str]| -> String {
        let v = as_key(key, args);
        ok(&v.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let json_as = |key: &str, args: &[&str]| -> Value {
        let v = as_key(key, args);
        json(&v.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let advance = |to: &str| run_as(&admin, &["clock", "advance", "--to", to]);
    const S: &str = "AZ-2029-TAX";
    let series = |verb: &str| run_as(&tk, &["series", verb, "--id", S]);

    std::fs::write(
        p("terms.toml"),
        r#"
series_id = "AZ-2029-TAX"
name = "Diaspora bond 2029"
currency = "USD"
face_value = "1000"
min_units_per_investor = "1"
max_units_per_investor = "100"
cap_units = "1000"
frequency = "semiannual"
day_count = "ACT/ACT ICMA"
business_day_convention = "following"
calendar = "weekends_only"
record_date_lag_days = 5
issue_date = "2027-01-15"
maturity_date = "2029-01-15"
window_opens_at = "2026-12-01T00:00:00Z"
window_closes_at = "2027-01-10T00:00:00Z"
settlement_deadline = "2027-01-12T00:00:00Z"
allotment_rule = "first_come_first_served"
unclaimed_period_days = 30

[coupon]
type = "fixed"
rate = "0.05"

[eligibility]
categories = ["citizen_abroad"]

[pricing]
type = "issue_price"
price = "100"
"#,
    )
    .unwrap();
    run_as(&tk, &["series", "create", "--file", &p("terms.toml")]);
    series("open");
    advance("2026-12-02T09:00:00Z");
    let subscribe = |key: &str, investor: &str, country: &str, units: &str| -> u64 {
        json_as(
            key,
            &[
                "subscribe",
                "--series",
                S,
                "--investor",
                investor,
                "--category",
                "citizen_abroad",
                "--country",
                country,
                "--units",
                units,
            ],
        )["subscription_id"]
            .as_u64()
            .unwrap()
    };
    let first = [
        (ak.as_str(), subscribe(&ak, "a-1", "DE", "10")),
        (ak.as_str(), subscribe(&ak, "a-2", "GB", "20")),
        (bk.as_str(), subscribe(&bk, "b-1", "FR", "5")),
        (bk.as_str(), subscribe(&bk, "b-2", "DE", "4")),
    ];
    advance("2027-01-11T09:00:00Z");
    series("close");
    series("allot");
    for (key, id) in first {
        run_as(key, &["settle", "--subscription", &id.to_string()]);
    }
    series("issue");
    let out = run_as(
        &tk,
        &[
            "withholding",
            "set",
            "--series",
            S,
            "--effective",
            "2027-01-01",
            "--default-rate",
            "0.15",
            "--treaty",
            "DE=0.05",
            "--treaty",
            "FR=0.125",
            "--treaty",
            "US=0.10",
        ],
    );
    assert!(out.contains("default 15%, 3 treaty rates"), "{out}");
    let out = run_as(
        &ak,
        &[
            "residence",
            "--investor",
            "a-2",
            "--country",
            "US",
            "--effective",
            "2027-06-01",
        ],
    );
    assert!(out.contains("a-2 resides in US from 2027-06-01"), "{out}");

    // A reopening: 6 % less 100 bp, settling 2027-03-15, 59 of the first
    // coupon period's 181 days after issue.
    advance("2027-02-01T09:00:00Z");
    let tranche = json_as(
        &tk,
        &[
            "reopen",
            "--series",
            S,
            "--window-opens",
            "2027-02-01T00:00:00Z",
            "--window-closes",
            "2027-02-20T17:00:00Z",
            "--settlement-date",
            "2027-03-15",
            "--settlement-deadline",
            "2027-03-01T17:00:00Z",
            "--reference-yield",
            "0.06",
            "--discount-bps",
            "100",
            "--cap",
            "50",
        ],
    );
    let d = |v: &Value| -> Decimal { v.as_str().unwrap().parse().unwrap() };
    assert_eq!(tranche["tranche"], 1);
    assert_eq!(d(&tranche["issue_yield"]), Decimal::new(5, 2));
    let clean = d(&tranche["clean_price"]);
    let price = d(&tranche["price_per_unit"]);
    let accrued = d(&tranche["accrued_per_unit"]);
    // At a yield equal to the coupon the clean price is close to par.
    assert!(
        clean > Decimal::new(999, 1) && clean < Decimal::new(1001, 1),
        "{tranche}"
    );
    assert_eq!(price, (Decimal::TEN * clean).round_dp(2), "{tranche}");
    let expected_accrued = Decimal::from(25) * Decimal::from(59) / Decimal::from(181);
    assert!(
        (accrued - expected_accrued).abs() < Decimal::new(1, 20),
        "{tranche}"
    );
    let out = run_as(&tk, &["series", "show", "--id", S]);
    assert!(out.contains("issued"), "{out}");
    // Subscribed (a-1 adds to its holding), closed after the window, allotted.
    let tap = [
        (ak.as_str(), subscribe(&ak, "a-1", "DE", "4"), 4u32),
        (ak.as_str(), subscribe(&ak, "a-3", "DE", "6"), 6),
    ];
    advance("2027-02-21T09:00:00Z");
    series("close");
    series("allot");
    let subs = json_as(&ak, &["subscriptions", "--series", S]);
    for (_, id, units) in tap {
        let s = subs
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["subscription_id"].as_u64() == Some(id))
            .unwrap();
        assert_eq!(s["allotted_units"], units.to_string());
        let n = Decimal::from(units);
        // The price charged: the units at the price per unit plus their
        // accrued interest, each to the cent.
        let due = n * price + (n * accrued).round_dp(2);
        assert_eq!(d(&s["amount_due"]), due, "{s}");
    }
    for (key, id, _) in tap {
        run_as(key, &["settle", "--subscription", &id.to_string()]);
    }
    advance("2027-03-15T09:00:00Z");
    let issued = json_as(&tk, &["series", "issue", "--id", S]);
    assert_eq!(
        issued["book"]["issued_units"], "49",
        "39 at issue and 10 in the tranche"
    );
    let holdings = json_as(&ak, &["holdings", "--investor", "a-1"]);
    assert_eq!(
        holdings[0]["units"], "14",
        "10 at issue and 4 from the tranche"
    );
    let holdings = json_as(&ak, &["holdings", "--investor", "a-3"]);
    assert_eq!(holdings[0]["units"], "6");

    // The first coupon, 25.00 a unit on 2027-07-15, withholds by residence.
    advance("2027-07-16T09:00:00Z");
    run_as(&ek, &["accrue", "--through", "2027-07-16"]);
    let report = json_as(&tk, &["tax-report", "--series", S, "--year", "2027"]);
    assert_eq!(report["coupons"], 1, "{report}");
    assert_eq!(report["currency"], "USD");
    let totals = |v: &Value| -> (Decimal, Decimal, Decimal) {
        (d(&v["gross"]), d(&v["withheld"]), d(&v["net"]))
    };
    let amounts = |g: &str, w: &str, n: &str| -> (Decimal, Decimal, Decimal) {
        (g.parse().unwrap(), w.parse().unwrap(), n.parse().unwrap())
    };
    // a-1 14 units and a-3 6 (DE, 5 %), b-2 4 (DE); a-2 20 (US since June,
    // 10 %); b-1 5 (FR, 12.5 %: 15.625 withheld, 15.62 half even).
    assert_eq!(totals(&report), amounts("1225.00", "95.62", "1129.38"));
    let lines = |section: &str| -> Vec<(String, u64, (Decimal, Decimal, Decimal))> {
        report[section]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["key"].as_str().unwrap().to_string(),
                    l["payments"].as_u64().unwrap(),
                    totals(l),
                )
            })
            .collect()
    };
    assert_eq!(
        lines("by_country"),
        vec![
            ("DE".into(), 3, amounts("600.00", "30.00", "570.00")),
            ("FR".into(), 1, amounts("125.00", "15.62", "109.38")),
            ("US".into(), 1, amounts("500.00", "50.00", "450.00")),
        ]
    );
    assert_eq!(
        lines("by_bank"),
        vec![
            ("bank-a".into(), 3, amounts("1000.00", "75.00", "925.00")),
            ("bank-b".into(), 2, amounts("225.00", "20.62", "204.38")),
        ]
    );
    // Each breakdown balances to the totals.
    for section in ["by_country", "by_bank"] {
        let sum = lines(section).iter().fold(
            (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO),
            |acc, (_, _, (g, w, n))| (acc.0 + g, acc.1 + w, acc.2 + n),
        );
        assert_eq!(sum, totals(&report), "{section}");
    }
    let csv = run_as(
        &tk,
        &["tax-report", "--series", S, "--year", "2027", "--csv"],
    );
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        vec![
            "section,key,payments,gross,withheld,net",
            "country,DE,3,600.00,30.00,570.00",
            "country,FR,1,125.00,15.62,109.38",
            "country,US,1,500.00,50.00,450.00",
            "bank,bank-a,3,1000.00,75.00,925.00",
            "bank,bank-b,2,225.00,20.62,204.38",
            "total,AZ-2029-TAX,1,1225.00,95.62,1129.38",
        ]
    );
    let table = run_as(&tk, &["tax-report", "--series", S, "--year", "2027"]);
    assert!(
        table
            .contains("withholding tax of AZ-2029-TAX on coupons paid in 2027 (1 coupons), in USD"),
        "{table}"
    );
    for row in [
        ["DE", "3", "600.00", "30.00", "570.00"],
        ["FR", "1", "125.00", "15.62", "109.38"],
        ["bank-b", "2", "225.00", "20.62", "204.38"],
        ["total", "", "1225.00", "95.62", "1129.38"],
    ] {
        let found = table.lines().any(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            let want: Vec<&str> = row.iter().copied().filter(|c| !c.is_empty()).collect();
            cells == want
        });
        assert!(found, "no row {row:?} in\n{table}");
    }
    let none = json_as(&tk, &["tax-report", "--series", S, "--year", "2028"]);
    assert_eq!(
        (none["coupons"].as_u64(), d(&none["withheld"])),
        (Some(0), Decimal::ZERO)
    );

    // b-1's net payment cannot be delivered: listed, then claimed.
    let event = format!("{S}/coupon/0");
    let reported = json_as(
        &bk,
        &["undeliverable", "--event", &event, "--investor", "b-1"],
    );
    assert_eq!(
        (
            d(&reported["gross"]),
            d(&reported["withheld"]),
            d(&reported["amount"])
        ),
        amounts("125.00", "15.62", "109.38")
    );
    let listed = json_as(&tk, &["unclaimed", "--series", S, "--as-of", "2027-08-01"]);
    assert_eq!(
        d(&listed["balances"][0]["balance"]),
        "109.38".parse().unwrap()
    );
    assert_eq!(
        d(&listed["balances"][0]["overdue"]),
        Decimal::ZERO,
        "{listed}"
    );
    assert_eq!(listed["payments"][0]["investor_ref"], "b-1");
    assert_eq!(listed["payments"][0]["overdue"], false);
    let later = json_as(&tk, &["unclaimed", "--series", S, "--as-of", "2027-09-01"]);
    assert_eq!(
        later["payments"][0]["overdue"], true,
        "30 days after 2027-07-15"
    );
    assert_eq!(
        d(&later["balances"][0]["overdue"]),
        "109.38".parse().unwrap()
    );
    let table = run_as(&tk, &["unclaimed", "--series", S, "--as-of", "2027-09-01"]);
    assert!(
        table.lines().any(|l| l.contains(&event)
            && l.contains("b-1")
            && l.contains("109.38")
            && l.contains("overdue")),
        "{table}"
    );
    // A bank sees its own clients' payments only.
    let of_a = json_as(&ak, &["unclaimed", "--series", S]);
    assert!(of_a["payments"].as_array().unwrap().is_empty(), "{of_a}");
    let claimed = json_as(
        &bk,
        &[
            "claim",
            "--event",
            &event,
            "--investor",
            "b-1",
            "--reference",
            "PAY-7",
        ],
    );
    assert_eq!(claimed["claim_reference"], "PAY-7");
    let after = json_as(&tk, &["unclaimed", "--series", S, "--as-of", "2027-09-01"]);
    assert_eq!(
        d(&after["balances"][0]["balance"]),
        Decimal::ZERO,
        "{after}"
    );
    assert_eq!(after["payments"][0]["claim_reference"], "PAY-7");
    let table = run_as(&tk, &["unclaimed", "--series", S]);
    assert!(table.contains("claimed (PAY-7)"), "{table}");
    // Claimed once only.
    let v = as_key(
        &bk,
        &[
            "claim",
            "--event",
            &event,
            "--investor",
            "b-1",
            "--reference",
            "PAY-8",
        ],
    );
    let (success, _, err) = run(&v.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        !success && err.contains("already claimed") && err.contains("AlreadyExists"),
        "{err}"
    );
}
