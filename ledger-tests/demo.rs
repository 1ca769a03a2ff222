//! `dbond demo` completes, its summary is right, and the store it keeps verifies
//! with `dbond verify` and can be served again.

use crate::common;

use common::Server;
use rust_decimal::Decimal;
use std::str::FromStr;

fn figure(out: &str, label: &str, ccy: &str) -> Decimal {
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with(label) && l.contains(ccy))
        .unwrap_or_else(|| panic!("no {label} {ccy} line in:\n{out}"));
    let value = line
        .split(ccy)
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    Decimal::from_str(value).unwrap()
}

#[test]
fn the_demo_runs_a_whole_programme_and_its_store_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let data_s = data.to_str().unwrap();
    let (ok, out, err) = Server::dbond(&["demo", "--data", data_s]);
    assert!(ok, "demo failed:\n{out}\n{err}");
    for step in 1..=11 {
        assert!(
            out.contains(&format!("[{step:>2}]")),
            "step {step} narrated:\n{out}"
        );
    }
    // Oversubscribed books fill both caps (4000 and 3000 units of 1000): the EUR
    // series at par, the USD series at or a little below it (its coupon is the
    // par coupon rounded down to an eighth of a percent, and its price then
    // solved at the diaspora yield; the demo's dates follow today's, and on
    // some days the par coupon is within a cent a unit of an eighth).
    let raised = figure(&out, "money raised", "USD");
    assert!(
        raised > Decimal::from(3_960_000) && raised <= Decimal::from(4_000_000),
        "{raised}"
    );
    assert_eq!(
        figure(&out, "money raised", "EUR"),
        Decimal::from(3_000_000)
    );
    // The USD series was reopened for 500 more units; two of its units are
    // redeemed early (face + accrued - three months of coupon), so 4,498 reach
    // maturity.
    assert!(
        out.contains("reopening               500 units sold"),
        "{out}"
    );
    assert_eq!(
        figure(&out, "principal redeemed", "USD"),
        Decimal::from(4_498_000)
    );
    let early = figure(&out, "redeemed early", "USD");
    assert!(
        early > Decimal::from(1_900) && early < Decimal::from(2_100),
        "{early}"
    );
    for life in [
        "files a death notice for",
        "bank-baku confirms",
        "gives 3 units to gift-001",
        "redeems 2 units early",
    ] {
        assert!(out.contains(life), "{life}:\n{out}");
    }
    // Its coupons withheld tax (15 %, 10 % or 5 % by residence), and the payment
    // reported undeliverable was claimed.
    let withheld = figure(&out, "tax withheld", "USD");
    assert!(
        withheld > Decimal::from(40_000) && withheld < Decimal::from(110_000),
        "{withheld}"
    );
    assert!(out.contains("withheld by country: "), "{out}");
    assert!(out.contains("claimed as BAKU-PAY-000417"), "{out}");
    assert_eq!(
        figure(&out, "principal redeemed", "EUR"),
        Decimal::from(3_000_000)
    );
    // Coupons: 5% a year for 3 years on 4.5M, about 3.26% for 2 years on 3M.
    let usd = figure(&out, "coupons paid", "USD");
    let eur = figure(&out, "coupons paid", "EUR");
    assert!(
        usd > Decimal::from(640_000) && usd < Decimal::from(700_000),
        "{usd}"
    );
    assert!(
        eur > Decimal::from(190_000) && eur < Decimal::from(200_000),
        "{eur}"
    );
    assert!(figure(&out, "saved the issuer", "USD") > Decimal::ZERO);
    assert!(
        out.contains("investors               100 subscriptions, 100 holdings"),
        "{out}"
    );
    let entries: u64 = out
        .lines()
        .find(|l| l.contains("ledger ") && l.trim_end().ends_with("entries"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .expect("ledger size line");
    assert!(
        out.contains(&format!("verification            OK: {entries} entries")),
        "{out}"
    );
    // The kept store verifies offline and serves again.
    let (ok, vout, verr) = Server::dbond(&["verify", "--data", data_s]);
    assert!(ok, "{vout} {verr}");
    assert!(
        vout.contains(&format!("verified {entries} entries")),
        "{vout}"
    );
    // The ledger's public key is kept beside it, and the kept receipt verifies
    // against it pinned.
    let ledger_pub = data.join("ledger.pub");
    let pinned = dbond::ledger::keys::read_public_key(&ledger_pub).expect("ledger.pub");
    let receipt = data.join("receipt.json");
    let (ok, rout, rerr) = Server::dbond(&[
        "verify-receipt",
        "--receipt",
        receipt.to_str().unwrap(),
        "--ledger-key",
        ledger_pub.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{rout} {rerr}");
    let checked: serde_json::Value = serde_json::from_str(&rout).unwrap();
    assert_eq!(checked["pinned"], true, "{rout}");
    assert_eq!(
        checked["ledger_key_id"],
        dbond::ledger::keys::KeyId::of(&pinned).to_string(),
        "{rout}"
    );
}
