//! Running the server as operators do: TLS with client certificates, the
//! Prometheus endpoint, a TOML configuration file with unknown keys refused.

use crate::common;

use common::{Server, new_key};
use dbond::client::{Client, ClientTls};
use dbond::proto as pb;
use std::io::{Read, Write};

struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
}

impl Pki {
    /// A CA, a server certificate for localhost/127.0.0.1 and a client certificate.
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "dbond test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        for (name, sans) in [
            (
                "server",
                vec!["localhost".to_string(), "127.0.0.1".to_string()],
            ),
            ("client", vec!["bank-a.client".to_string()]),
        ] {
            let key = rcgen::KeyPair::generate().unwrap();
            let params = rcgen::CertificateParams::new(sans).unwrap();
            let cert = params.signed_by(&key, &issuer).unwrap();
            write(&format!("{name}.crt"), cert.pem());
            write(&format!("{name}.key"), key.serialize_pem());
        }
        write("ca.crt", ca_cert.pem());
        Pki {
            ca_pem: ca_cert.pem(),
            dir,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(name)).unwrap()
    }
}

#[tokio::test]
async fn tls_with_client_certificates() {
    let pki = Pki::new();
    let server = Server::start_with(&[
        "--tls-cert",
        &pki.path("server.crt"),
        "--tls-key",
        &pki.path("server.key"),
        "--tls-client-ca",
        &pki.path("ca.crt"),
    ]);
    let host = server.addr.trim_start_matches("http://").to_string();
    let tls = ClientTls {
        ca_pem: pki.ca_pem.clone().into_bytes(),
        identity_pem: Some((pki.read("client.crt"), pki.read("client.key"))),
        domain: Some("localhost".into()),
    };
    let admin = Client::connect_with(&host, server.admin_key(), Some(&tls))
        .await
        .expect("TLS with a client certificate");
    admin
        .register(
            "bank-a",
            pb::Role::Bank,
            &new_key().verifying_key(),
            "Bank A",
        )
        .await
        .unwrap();
    assert_eq!(admin.list_participants().await.unwrap().len(), 2);

    // Without a client certificate, with the wrong CA, or in plaintext: no service.
    let no_identity = ClientTls {
        identity_pem: None,
        ..tls.clone()
    };
    let refused = match Client::connect_with(&host, server.admin_key(), Some(&no_identity)).await {
        Err(_) => true,
        Ok(c) => c.list_participants().await.is_err(),
    };
    assert!(refused, "a client without a certificate must be refused");
    let other = Pki::new();
    let wrong_ca = ClientTls {
        ca_pem: other.ca_pem.into_bytes(),
        ..tls.clone()
    };
    assert!(
        Client::connect_with(&host, server.admin_key(), Some(&wrong_ca))
            .await
            .is_err(),
        "server certificate from an unknown CA"
    );
    assert!(
        Client::connect(&server.addr, server.admin_key())
            .await
            .is_err(),
        "plaintext to a TLS server"
    );

    // The command line speaks TLS too.
    let admin_key = server.data.join("admin.key");
    let (ok, out, err) = Server::dbond(&[
        "participant",
        "list",
        "--server",
        &format!("https://{host}"),
        "--key",
        admin_key.to_str().unwrap(),
        "--tls-ca",
        &pki.path("ca.crt"),
        "--tls-client-cert",
        &pki.path("client.crt"),
        "--tls-client-key",
        &pki.path("client.key"),
        "--tls-domain",
        "localhost",
    ]);
    assert!(ok && out.contains("bank-a"), "{out} {err}");
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[tokio::test]
async fn prometheus_metrics_count_requests_flushes_and_ledger_size() {
    let server = Server::start_with(&["--metrics-listen", "127.0.0.1:0"]);
    let metrics_addr = server
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("metrics on http://"))
        .map(|a| a.trim_end_matches("/metrics").to_string())
        .expect("metrics address printed");
    let admin = server.admin().await;
    for i in 0..3 {
        admin
            .register(
                &format!("bank-{i}"),
                pb::Role::Bank,
                &new_key().verifying_key(),
                "Bank",
            )
            .await
            .unwrap();
    }
    let _ = admin
        .register("Bad Id", pb::Role::Bank, &new_key().verifying_key(), "Bank")
        .await;
    let text = http_get(&metrics_addr, "/metrics");
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("dbond_ledger_entries 4"), "{text}");
    assert!(
        text.contains(
            "method=\"/diaspora.bonds.v1.ParticipantService/RegisterParticipant\",code=\"Ok\"} 3"
        ),
        "{text}"
    );
    assert!(text.contains("code=\"InvalidArgument\"} 1"), "{text}");
    assert!(
        text.contains("dbond_group_commit_entries_total 3"),
        "{text}"
    );
    assert!(
        text.contains("dbond_flush_duration_seconds_count"),
        "{text}"
    );
    assert!(http_get(&metrics_addr, "/other").starts_with("HTTP/1.1 404"));
}

#[test]
fn a_config_file_sets_the_server_and_unknown_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("dbond.toml");
    std::fs::write(&config, format!("data = {:?}\nlisten = \"127.0.0.1:0\"\norigin = \"ops.example/test\"\n[limits]\nmessage_bytes_max = 1048576\n", data.to_str().unwrap())).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dbond"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.starts_with("listening on 127.0.0.1:"), "{line}");
    assert!(
        data.join("admin.key").exists(),
        "the data folder came from the file"
    );
    let _ = child.kill();
    let _ = child.wait();

    std::fs::write(&config, "data = \"x\"\nlisen = \"127.0.0.1:0\"\n").unwrap();
    let (ok, _, err) = Server::dbond(&["serve", "--config", config.to_str().unwrap()]);
    assert!(!ok && err.contains("lisen"), "unknown key named: {err}");
    let (ok, _, err) = Server::dbond(&[
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("not loopback"), "{err}");
}
