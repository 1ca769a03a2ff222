//! Test harness: runs the real `dbond` binary on 127.0.0.1 with a fresh data
//! folder, and connects signing clients to it.
#![allow(dead_code)]

pub mod debian;
pub mod programme;
pub mod python;
pub mod wire;

use dbond::client::Client;
use dbond::ledger::keys;
use ed25519_dalek::SigningKey;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Server {
    pub child: Option<Child>,
    pub addr: String,
    pub data: PathBuf,
    /// What the server printed on stdout before its "listening on" line.
    pub banner: Vec<String>,
    /// Extra `dbond serve` arguments, given again on restart.
    extra: Vec<String>,
    /// Extra environment variables of the server process, set again on restart.
    env: Vec<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

/// Starts `dbond serve` on `data`, waiting for its "listening on" line.
fn spawn(data: &Path, extra: &[&str], env: &[(String, String)]) -> (Child, String) {
    let (child, addr, _) = spawn_full(data, extra, env);
    (child, addr)
}

/// Like `spawn`, also returning the lines printed before "listening on".
fn spawn_full(
    data: &Path,
    extra: &[&str],
    env: &[(String, String)],
) -> (Child, String, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbond"))
        .arg("serve")
        .arg("--data")
        .arg(data)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .args(extra)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("DBOND_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dbond serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut banner = Vec::new();
    let addr = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(a) = line.strip_prefix("listening on ") {
                    break a.split_whitespace().next().unwrap_or("").to_string();
                }
                banner.push(line);
            }
            _ => {
                let status = child.wait().expect("wait");
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                panic!("dbond serve exited ({status}) before listening: {err}");
            }
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    if let Some(stderr) = child.stderr.take() {
        std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
    }
    (child, format!("http://{addr}"), banner)
}

impl Server {
    /// A fresh server on a new temporary data folder.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// A fresh server with extra `dbond serve` arguments.
    pub fn start_with(extra: &[&str]) -> Server {
        Server::start_with_env(extra, &[])
    }

    /// A fresh server with extra arguments and environment variables.
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (child, addr, banner) = spawn_full(&data, extra, &env);
        Server {
            child: Some(child),
            addr,
            data,
            banner,
            extra: extra.iter().map(|a| a.to_string()).collect(),
            env,
            _dir: Some(dir),
        }
    }

    /// A server on an existing data folder (which the caller keeps).
    pub fn start_on(data: &Path) -> Server {
        let (child, addr, banner) = spawn_full(data, &[], &[]);
        Server {
            child: Some(child),
            addr,
            data: data.to_path_buf(),
            banner,
            extra: Vec::new(),
            env: Vec::new(),
            _dir: None,
        }
    }

    pub fn admin_key(&self) -> SigningKey {
        keys::read_private_key(&self.data.join("admin.key")).expect("admin key")
    }

    pub async fn admin(&self) -> Client {
        Client::connect(&self.addr, self.admin_key())
            .await
            .expect("connect")
    }

    pub async fn client(&self, key: SigningKey) -> Client {
        Client::connect(&self.addr, key).await.expect("connect")
    }

    /// Kills the server with SIGKILL (no chance to flush or clean up).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server with SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        #[cfg(unix)]
        unsafe {
            libc_kill(child.id() as i32, 15);
        }
        for _ in 0..600 {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        panic!("server did not stop within 30 s of SIGTERM");
    }

    /// Starts the server again on the same data folder.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill first");
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let (child, addr) = spawn(&self.data, &extra, &self.env);
        self.child = Some(child);
        self.addr = addr;
    }

    /// Runs `dbond` with arguments, returning (success, stdout, stderr).
    pub fn dbond(args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_dbond"))
            .args(args)
            .output()
            .expect("run dbond");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

#[cfg(unix)]
unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn new_key() -> SigningKey {
    keys::generate()
}

/// A server run in this process on 127.0.0.1 with a clock the test moves: for
/// runs from issue to maturity without waiting years.
pub struct InProcess {
    pub addr: String,
    pub clock: std::sync::Arc<dbond::clock::ManualClock>,
    pub admin_key: SigningKey,
    /// The ledger key, so tests can forge entries a verifier must refuse.
    pub ledger_key: SigningKey,
    pub ledger: dbond::store::Ledger,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl InProcess {
    pub async fn start(start: chrono::DateTime<chrono::Utc>) -> InProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = std::sync::Arc::new(dbond::clock::ManualClock::new(start));
        let admin_key = keys::generate();
        let ledger_key = keys::generate();
        let ledger = dbond::store::Ledger::create(
            &dir.path().join("store"),
            &ledger_key,
            dbond::store::Genesis {
                origin: "test.example/dbond".into(),
                admin_participant_id: dbond::registry::ParticipantId::parse("id", "admin").unwrap(),
                admin_key: &admin_key,
            },
            clock.clone(),
        )
        .expect("create ledger");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = ledger.clone();
        let server_clock: std::sync::Arc<dyn dbond::clock::Clock> = clock.clone();
        tokio::spawn(async move {
            let _ =
                dbond::service::serve(served, server_clock, listener, Default::default(), async {
                    let _ = stopped.await;
                })
                .await;
        });
        InProcess {
            addr,
            clock,
            admin_key,
            ledger_key,
            ledger,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// A client signing with the server's (manual) clock.
    pub async fn client(&self, key: SigningKey) -> Client {
        Client::connect(&self.addr, key)
            .await
            .expect("connect")
            .with_clock(self.clock.clone())
    }

    pub async fn admin(&self) -> Client {
        self.client(self.admin_key.clone()).await
    }

    pub fn set_time(&self, t: chrono::DateTime<chrono::Utc>) {
        self.clock.set(t);
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Verifies the whole ledger of a running server from its entry stream: every
/// signature, link and event, and the signed checkpoint. Returns the entry count.
pub async fn verify_over_the_wire(client: &Client) -> u64 {
    let mut verifier = dbond::audit::Verifier::new();
    let mut stream = client.stream_entries(0, 0).await.expect("stream");
    while let Some(m) = stream.message().await.expect("entry") {
        verifier
            .push(&m.entry)
            .unwrap_or_else(|e| panic!("ledger does not verify: {e}"));
    }
    let verified = verifier.finish().expect("ledger verifies");
    let cp = client.checkpoint().await.expect("checkpoint");
    verified
        .check_checkpoint(&cp.checkpoint)
        .expect("checkpoint matches");
    verified.size
}
