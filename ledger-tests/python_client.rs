//! The example Python client (`examples/python/dbond_client.py`, grpcio) against a
//! real server: it generates its stubs from `proto/` with stock tools, signs a
//! subscription with a key `dbond keygen` could have written, and the ledger
//! records it under the bank's key. Needs `python3` with the example's packages
//! (`python3 -m pip install -r examples/python/requirements.txt`, which `.ci/run`
//! does); without them the test fails and says how to install them.

use crate::common;

use common::{Server, new_key};
use dbond::client::SeriesAction;
use dbond::ledger::keys::{self, KeyId};
use dbond::proto as pb;
use prost::Message;
use std::path::{Path, PathBuf};
use std::process::Command;

const INSTALL: &str = "python3 -m pip install -r examples/python/requirements.txt";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python/dbond_client.py")
}

/// Fails (never skips) when python3 or the example's packages are missing.
fn require_python() {
    let probe = Command::new("python3")
        .args([
            "-c",
            "import grpc, grpc_tools, grpc_reflection, cryptography, google.protobuf",
        ])
        .output();
    match probe {
        Err(e) => panic!(
            "python3 is needed to test the example Python client but cannot be run ({e}): install CPython 3.11, then `{INSTALL}`"
        ),
        Ok(out) if !out.status.success() => panic!(
            "the example Python client's packages are missing: run `{INSTALL}` (python3 said: {})",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Ok(_) => {}
    }
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn terms(series_id: &str) -> pb::SeriesTerms {
    let now = chrono::Utc::now();
    let issue = (now + chrono::Duration::days(10)).date_naive();
    let maturity = issue
        .checked_add_months(chrono::Months::new(36))
        .expect("date");
    pb::SeriesTerms {
        series_id: series_id.into(),
        name: "Diaspora bond, Python client test".into(),
        currency: "USD".into(),
        face_value: "1000".into(),
        min_units_per_investor: "1".into(),
        max_units_per_investor: "100".into(),
        cap_units: "1000".into(),
        coupon: Some(pb::Coupon {
            kind: Some(pb::coupon::Kind::Fixed(pb::FixedCoupon {
                rate: "0.05".into(),
            })),
        }),
        frequency: "semiannual".into(),
        day_count: "30/360 US".into(),
        business_day_convention: "following".into(),
        calendar: "weekends_only".into(),
        end_of_month: false,
        first_coupon_date: String::new(),
        record_date_lag_days: 5,
        issue_date: issue.to_string(),
        maturity_date: maturity.to_string(),
        window_opens_at: ts(now - chrono::Duration::hours(1)),
        window_closes_at: ts(now + chrono::Duration::hours(1)),
        allotment_rule: pb::AllotmentRule::FirstComeFirstServed as i32,
        retail_priority_units: String::new(),
        eligibility: Some(pb::Eligibility {
            categories: vec![
                pb::DiasporaCategory::CitizenAbroad as i32,
                pb::DiasporaCategory::FormerCitizen as i32,
            ],
            countries_allowed: vec![],
            countries_barred: vec![],
        }),
        pricing: Some(pb::Pricing {
            kind: Some(pb::pricing::Kind::IssuePrice(pb::FixedPrice {
                price: "100".into(),
            })),
        }),
        settlement_deadline: ts(now + chrono::Duration::hours(2)),
    }
}

/// Runs the example client; returns (success, stdout, stderr).
fn run_client(
    server: &str,
    key: &Path,
    series: &str,
    investor: &str,
    units: &str,
) -> (bool, String, String) {
    run_client_with(server, key, series, investor, units, &[])
}

fn run_client_with(
    server: &str,
    key: &Path,
    series: &str,
    investor: &str,
    units: &str,
    extra: &[&str],
) -> (bool, String, String) {
    let out = Command::new("python3")
        .arg(script())
        .args(["--server", server, "--key"])
        .arg(key)
        .args([
            "--series",
            series,
            "--investor",
            investor,
            "--units",
            units,
            "--category",
            "former_citizen",
            "--country",
            "GB",
        ])
        .args(extra)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run python3");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_submits_a_signed_subscription() {
    require_python();
    let server = Server::start();
    let admin = server.admin().await;
    let (treasury_key, bank_key) = (new_key(), new_key());
    admin
        .register(
            "treasury",
            pb::Role::Treasury,
            &treasury_key.verifying_key(),
            "MoF",
        )
        .await
        .expect("register treasury");
    admin
        .register(
            "bank-py",
            pb::Role::Bank,
            &bank_key.verifying_key(),
            "Bank Py",
        )
        .await
        .expect("register bank");
    let treasury = admin.as_key(treasury_key);
    let bank = admin.as_key(bank_key.clone());
    let series = "AZ-2029-PY";
    treasury
        .create_series(terms(series))
        .await
        .expect("create series");
    treasury
        .series_action(SeriesAction::Open, series)
        .await
        .expect("open series");

    // The key file as `dbond keygen` writes it (PKCS#8 PEM, mode 0600).
    let dir = tempfile::tempdir().expect("tempdir");
    let key_path = dir.path().join("bank-py.key");
    keys::write_private_key(&key_path, &bank_key).expect("write key");

    let (ok, stdout, stderr) = run_client(&server.addr, &key_path, series, "py-inv-001", "42");
    assert!(ok, "the Python client failed:\n{stdout}\n{stderr}");
    for service in [
        "diaspora.bonds.v1.BankService",
        "diaspora.bonds.v1.LedgerService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            stdout.contains(&format!("  {service}\n")),
            "reflection lists {service}: {stdout}"
        );
    }
    let bank_key_id = KeyId::of(&bank_key.verifying_key()).to_string();
    assert!(
        stdout.contains(&format!("signing as key {bank_key_id}")),
        "{stdout}"
    );

    // The subscription is on the ledger, as the Rust client sees it.
    let subs = bank.all_subscriptions(series).await.expect("list");
    assert_eq!(subs.len(), 1, "{subs:?}");
    let sub = &subs[0];
    assert_eq!(sub.investor_ref, "py-inv-001");
    assert_eq!(sub.units, "42");
    assert_eq!(sub.bank_id, "bank-py");
    assert_eq!(sub.country, "GB");
    assert_eq!(sub.category, pb::DiasporaCategory::FormerCitizen as i32);
    assert_eq!(sub.status, pb::SubscriptionStatus::Submitted as i32);
    assert_eq!(
        bank.get_subscription(sub.subscription_id)
            .await
            .expect("get"),
        *sub
    );

    // The receipt printed is the entry that records it, signed by the bank's key.
    let entry = bank.entry(sub.subscription_id).await.expect("entry");
    assert!(
        stdout.contains(&format!(
            "receipt: entry {}, entry hash {}",
            sub.subscription_id,
            hex::encode(&entry.entry_hash)
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "subscription {}: series {series}",
            sub.subscription_id
        )),
        "{stdout}"
    );
    let stored = pb::LedgerEntry::decode(entry.entry.as_slice()).expect("entry decodes");
    let body = pb::EntryBody::decode(stored.body.as_slice()).expect("body decodes");
    let actor = body.actor.expect("the entry carries the signed request");
    assert_eq!(actor.key_id, bank_key_id);
    // Every signature on the ledger, the Python-made one included, verifies.
    assert!(common::verify_over_the_wire(&treasury).await > 0);

    // Three more in one SubmitBatch call: each request signed by the bank,
    // recorded as its own entry, in order.
    let (ok, stdout, stderr) = run_client_with(
        &server.addr,
        &key_path,
        series,
        "py-batch",
        "5",
        &["--count", "3"],
    );
    assert!(ok, "the Python client's batch failed:\n{stdout}\n{stderr}");
    let subs = bank.all_subscriptions(series).await.expect("list");
    let batched: Vec<&pb::Subscription> = subs
        .iter()
        .filter(|s| s.investor_ref.starts_with("py-batch-"))
        .collect();
    assert_eq!(batched.len(), 3, "{subs:?}");
    for (i, sub) in batched.iter().enumerate() {
        assert_eq!(sub.investor_ref, format!("py-batch-{i}"));
        assert_eq!(sub.units, "5");
        let entry = bank.entry(sub.subscription_id).await.expect("entry");
        assert!(
            stdout.contains(&format!(
                "request {i}: entry {}, entry hash {}",
                sub.subscription_id,
                hex::encode(&entry.entry_hash)
            )),
            "{stdout}"
        );
    }
    assert!(common::verify_over_the_wire(&treasury).await > 0);

    // A key the ledger does not know is refused, and the client says why.
    let stranger = dir.path().join("stranger.key");
    keys::write_private_key(&stranger, &new_key()).expect("write key");
    let (ok, _, stderr) = run_client(&server.addr, &stranger, series, "py-inv-002", "1");
    assert!(!ok, "an unregistered key must be refused");
    assert!(stderr.contains("UNAUTHENTICATED"), "{stderr}");
    assert_eq!(
        bank.all_subscriptions(series).await.expect("list").len(),
        4,
        "the one and the three batched, nothing from the stranger"
    );
}

/// The protos compile with the standard Go toolchain (protoc, protoc-gen-go,
/// protoc-gen-go-grpc, `go build`), by `examples/go/check.sh`. Go is not part of
/// the Rust-only CI machine: without `go` and `protoc` this says so and passes,
/// unless `DBOND_REQUIRE_GO=1`, which makes their absence a failure.
#[test]
fn the_protos_compile_with_the_go_toolchain() {
    let has = |tool: &str| {
        Command::new(tool)
            .arg(if tool == "go" { "version" } else { "--version" })
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !(has("go") && has("protoc")) {
        assert!(
            std::env::var_os("DBOND_REQUIRE_GO").is_none(),
            "DBOND_REQUIRE_GO is set but go or protoc is missing: apt-get install golang-go protobuf-compiler golang-google-protobuf-dev golang-google-grpc-dev"
        );
        eprintln!("not checked: no Go toolchain here (see examples/go/README.md)");
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/go/check.sh"))
        .arg(scratch.path())
        .output()
        .expect("run examples/go/check.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "examples/go/check.sh failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("go stubs ok: a SubmitSubscription of"),
        "{stdout}"
    );
    // Every service has a generated Go client.
    let generated = scratch
        .path()
        .join("gopath/src/dbond/gen/go/diaspora/bonds/v1/services_grpc.pb.go");
    let code = std::fs::read_to_string(&generated).unwrap();
    for service in [
        "Participant",
        "Ledger",
        "Treasury",
        "Engine",
        "Bank",
        "Registry",
        "Pricing",
    ] {
        assert!(
            code.contains(&format!("func New{service}ServiceClient(")),
            "no Go client for {service}Service"
        );
    }
}
