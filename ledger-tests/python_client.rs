//! The example Python client (`examples/python/dbond_client.py`, grpcio) against a
//! real server: it generates its stubs from `proto/` with stock tools, signs a
//! subscription with a key `dbond keygen` could have written, and the ledger
//! records it under the bank's key. It needs only `python3`: the example's
//! packages go into a virtual environment of the tests' own, made on first use
//! (`common::python`).

use crate::common;

use common::{Server, new_key};
use dbond::client::SeriesAction;
use dbond::ledger::keys::{self, KeyId};
use dbond::proto as pb;
use dbond_testkit::{Life, Terms};
use prost::Message;
use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python/dbond_client.py")
}

fn terms(series_id: &str) -> pb::SeriesTerms {
    Terms::new(series_id, Life::selling_now(chrono::Duration::hours(1), 36))
        .name("Diaspora bond, Python client test")
        .cap_units(1000)
        .day_count("30/360 US")
        .allotment_rule(pb::AllotmentRule::FirstComeFirstServed)
        .categories(&[
            pb::DiasporaCategory::CitizenAbroad,
            pb::DiasporaCategory::FormerCitizen,
        ])
        .build()
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
    let out = Command::new(common::python::python())
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
        .expect("run the virtual environment's python");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_submits_a_signed_subscription() {
    // First, so that a missing python3 or package index fails before a server starts.
    common::python::python();
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
/// protoc-gen-go-grpc, `go build`), by `examples/go/check.sh`. The toolchain is
/// Debian's; the test installs it when it is missing (see `common::debian`).
#[test]
fn the_protos_compile_with_the_go_toolchain() {
    let has = |tool: &str| {
        Command::new(tool)
            .arg(if tool == "go" { "version" } else { "--version" })
            .output()
            .is_ok_and(|o| o.status.success())
    };
    common::debian::require(
        "the Go example's check compiles the protos with Go",
        &[
            "golang-go",
            "protobuf-compiler",
            "libprotobuf-dev",
            "golang-google-protobuf-dev",
            "golang-google-grpc-dev",
        ],
        || {
            has("go")
                && has("protoc")
                && Path::new("/usr/include/google/protobuf/timestamp.proto").exists()
                && Path::new("/usr/share/gocode/src/google.golang.org/grpc").exists()
                && Path::new("/usr/share/gocode/src/google.golang.org/protobuf").exists()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
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
