//! The ledger key in a PKCS#11 token, for real: each test prepares its own SoftHSM 2
//! (its own `SOFTHSM2_CONF` and token folder under a temporary folder, a token made
//! with `softhsm2-util --init-token`, the Ed25519 key made by `dbond ledger-key
//! generate` through cryptoki), runs `dbond serve` with that key, and verifies the
//! whole ledger.

use crate::common::{self, Server, new_key};
use dbond::ledger::keys::{self, KeyId};
use dbond::proto as pb;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's SoftHSM 2 module.
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const USER_PIN: &str = "20261207";

/// A SoftHSM 2 of the test's own, with one initialized token.
struct SoftHsm {
    dir: tempfile::TempDir,
    conf: PathBuf,
    /// A dbond configuration whose [pkcs11] section reaches the token.
    config: PathBuf,
}

impl SoftHsm {
    /// Installs SoftHSM 2 if it is missing, and makes a token labelled `label`.
    fn prepare(label: &str) -> SoftHsm {
        common::debian::require("the PKCS#11 tests run SoftHSM 2", &["softhsm2"], || {
            Path::new(MODULE).exists() && Path::new("/usr/bin/softhsm2-util").exists()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().expect("tempdir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let pin_file = dir.path().join("pin");
        std::fs::write(&pin_file, format!("{USER_PIN}\n")).unwrap();
        let config = dir.path().join("dbond.toml");
        std::fs::write(
            &config,
            format!(
                "[pkcs11]\nmodule = \"{MODULE}\"\npin_file = \"{}\"\n",
                pin_file.display()
            ),
        )
        .unwrap();
        let hsm = SoftHsm { dir, conf, config };
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label])
            .args(["--so-pin", "7777", "--pin", USER_PIN])
            .env("SOFTHSM2_CONF", &hsm.conf)
            .output()
            .expect("run softhsm2-util");
        assert!(
            out.status.success(),
            "softhsm2-util --init-token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        hsm
    }

    fn conf(&self) -> &str {
        self.conf.to_str().unwrap()
    }

    fn config(&self) -> &str {
        self.config.to_str().unwrap()
    }

    /// Runs `dbond` with this SoftHSM's configuration: (success, stdout, stderr).
    fn dbond(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_dbond"))
            .args(args)
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("run dbond");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Makes an Ed25519 key on the token with `dbond ledger-key generate`,
    /// returning the file its public key was written to.
    fn generate(&self, uri: &str) -> PathBuf {
        let public = self
            .dir
            .path()
            .join(format!("{}.pub", uri.rsplit('=').next().unwrap_or("key")));
        let (ok, out, err) = self.dbond(&[
            "ledger-key",
            "generate",
            uri,
            "--config",
            self.config(),
            "--public-out",
            public.to_str().unwrap(),
        ]);
        assert!(ok, "ledger-key generate: {out} {err}");
        let key = keys::read_public_key(&public).unwrap();
        assert!(
            out.contains(&format!("key id       {}", KeyId::of(&key))),
            "{out}"
        );
        public
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_signed_by_a_softhsm_key_from_genesis_on_verifies_whole() {
    let hsm = SoftHsm::prepare("dbond-ledger");
    let uri = "pkcs11:token=dbond-ledger;object=ledger-1";
    let public = hsm.generate(uri);
    let token_key = keys::read_public_key(&public).unwrap();

    let mut server = Server::start_with_env(
        &["--config", hsm.config(), "--ledger-key", uri],
        &[("SOFTHSM2_CONF", hsm.conf())],
    );
    // Genesis names the token's key; no key file was made.
    assert!(!server.data.join("ledger.key").exists());
    assert_eq!(
        keys::read_public_key(&server.data.join("ledger.pub")).unwrap(),
        token_key
    );
    let admin = server.admin().await;
    for i in 0..4 {
        admin
            .register(
                &format!("bank-{i}"),
                pb::Role::Bank,
                &new_key().verifying_key(),
                "Bank",
            )
            .await
            .expect("register");
    }
    assert_eq!(common::verify_over_the_wire(&admin).await, 5);

    // A restart opens the token again and goes on signing with it.
    server.stop();
    server.restart();
    let admin = server.admin().await;
    admin
        .register("bank-9", pb::Role::Bank, &new_key().verifying_key(), "Bank")
        .await
        .expect("register after restart");
    assert_eq!(common::verify_over_the_wire(&admin).await, 6);
    let (ok, out, err) = common::Server::dbond(&[
        "verify",
        "--server",
        &server.addr,
        "--key",
        server.data.join("admin.key").to_str().unwrap(),
    ]);
    assert!(ok && out.contains("verified 6 entries"), "{out} {err}");
    assert!(server.stop().success());

    // Offline, from the bytes alone.
    let (ok, out, err) = Server::dbond(&["verify", "--data", server.data.to_str().unwrap()]);
    assert!(ok && out.contains("verified 6 entries"), "{out} {err}");

    // Another key (a file in the data folder) is refused for this ledger.
    keys::write_private_key(&server.data.join("ledger.key"), &new_key()).unwrap();
    let (ok, out, err) = Server::dbond(&[
        "serve",
        "--data",
        server.data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!ok, "a server with the wrong ledger key started: {out}");
    assert!(
        err.contains(KeyId::of(&token_key).as_str()),
        "the refusal names the key genesis names: {err}"
    );
}

/// A ledger begun under a key file hands over to a token key on the ledger:
/// genesis and appends under the file key, `--next-ledger-key pkcs11:...`,
/// `dbond ledger-key rotate`, appends signed by the token, a restart with the
/// token key alone, and the whole ledger verified from the file key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_rotated_from_a_file_key_to_a_softhsm_key_verifies_whole() {
    let hsm = SoftHsm::prepare("dbond-rotate");
    let uri = "pkcs11:token=dbond-rotate;object=ledger-2";
    let public = hsm.generate(uri);
    let token_key = keys::read_public_key(&public).unwrap();

    let mut server = Server::start_with_env(
        &["--config", hsm.config(), "--next-ledger-key", uri],
        &[("SOFTHSM2_CONF", hsm.conf())],
    );
    let file_key = keys::read_public_key(&server.data.join("ledger.pub")).unwrap();
    assert!(
        server.data.join("ledger.key").exists(),
        "genesis under a key file"
    );
    let admin = server.admin().await;
    for i in 0..2 {
        admin
            .register(
                &format!("bank-{i}"),
                pb::Role::Bank,
                &new_key().verifying_key(),
                "Bank",
            )
            .await
            .expect("register under the file key");
    }
    let (ok, out, err) = hsm.dbond(&[
        "ledger-key",
        "rotate",
        "--server",
        &server.addr,
        "--admin-key",
        server.data.join("admin.key").to_str().unwrap(),
        "--new-key-file",
        public.to_str().unwrap(),
    ]);
    assert!(ok, "rotate: {out} {err}");
    assert!(out.contains("handed over at entry 3"), "{out}");
    for i in 2..4 {
        admin
            .register(
                &format!("bank-{i}"),
                pb::Role::Bank,
                &new_key().verifying_key(),
                "Bank",
            )
            .await
            .expect("register under the token key");
    }
    // The entries after the hand-over and the checkpoint are the token's.
    let head = admin.checkpoint().await.unwrap();
    let (cp, _) = dbond::ledger::checkpoint::parse_unverified(&head.checkpoint).unwrap();
    assert_eq!(cp.size, 6);
    assert!(dbond::ledger::checkpoint::open(&head.checkpoint, &cp.origin, &token_key).is_ok());
    assert!(dbond::ledger::checkpoint::open(&head.checkpoint, &cp.origin, &file_key).is_err());
    let entry = admin.entry(4).await.unwrap();
    let opened = dbond::ledger::entry::open(&entry.entry).unwrap();
    assert!(opened.ledger_signature_ok(&token_key));
    assert!(!opened.ledger_signature_ok(&file_key));

    // A restart with the token key alone goes on signing with it.
    assert!(server.stop().success());
    server.restart_with(&["--config", hsm.config(), "--ledger-key", uri]);
    let admin = server.admin().await;
    admin
        .register("bank-9", pb::Role::Bank, &new_key().verifying_key(), "Bank")
        .await
        .expect("register after the restart");
    assert_eq!(common::verify_over_the_wire(&admin).await, 7);
    assert!(server.stop().success());
    // Offline, from the bytes alone, pinned to genesis's file key.
    let (ok, out, err) = Server::dbond(&["verify", "--data", server.data.to_str().unwrap()]);
    assert!(ok && out.contains("verified 7 entries"), "{out} {err}");
    // The file key, rotated out, no longer opens the ledger.
    let (ok, out, err) = Server::dbond(&[
        "serve",
        "--data",
        server.data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!ok && err.contains("rotated out"), "{out} {err}");
}

#[test]
fn token_keys_are_refused_precisely_and_their_signing_rate_is_measured() {
    let hsm = SoftHsm::prepare("dbond-keys");
    let uri = "pkcs11:token=dbond-keys;object=ledger-1";
    hsm.generate(uri);

    // The same name twice: the key is never replaced.
    let (ok, _, err) = hsm.dbond(&["ledger-key", "generate", uri, "--config", hsm.config()]);
    assert!(!ok && err.contains("exists already"), "{err}");

    let bench = |key: &str, config: &str| {
        hsm.dbond(&[
            "ledger-key",
            "bench",
            key,
            "--config",
            config,
            "--count",
            "200",
        ])
    };
    let (ok, out, err) = bench(uri, hsm.config());
    assert!(ok && out.contains("200 signatures"), "{out} {err}");
    eprintln!("token: {out}");

    let refused = |key: &str, config: &str, says: &str| {
        let (ok, out, err) = bench(key, config);
        assert!(!ok, "{key}: accepted: {out}");
        assert!(err.contains(says), "{key}: {says}: {err}");
    };
    refused(
        "pkcs11:token=no-such;object=ledger-1",
        hsm.config(),
        "no token with this label",
    );
    refused(
        "pkcs11:token=dbond-keys;object=ledger-2",
        hsm.config(),
        "no Ed25519 private key with this name",
    );
    refused(
        "pkcs11:token=dbond-keys;object=ledger-1;pin-value=1",
        hsm.config(),
        "pin-value is refused",
    );
    let wrong_pin = hsm.dir.path().join("wrong-pin.toml");
    let pin_file = hsm.dir.path().join("wrong-pin");
    std::fs::write(&pin_file, "1111").unwrap();
    std::fs::write(
        &wrong_pin,
        format!(
            "[pkcs11]\nmodule = \"{MODULE}\"\npin_file = \"{}\"\n",
            pin_file.display()
        ),
    )
    .unwrap();
    refused(
        uri,
        wrong_pin.to_str().unwrap(),
        "logging in with the configured PIN",
    );
    let no_pin_var = hsm.dir.path().join("env-pin.toml");
    std::fs::write(
        &no_pin_var,
        format!("[pkcs11]\nmodule = \"{MODULE}\"\npin_env = \"DBOND_TEST_PIN_UNSET\"\n"),
    )
    .unwrap();
    refused(
        uri,
        no_pin_var.to_str().unwrap(),
        "DBOND_TEST_PIN_UNSET is not set",
    );
}
