//! Test harness: runs the real `dbond` binary on 127.0.0.1 with a fresh data
//! folder (and, on PostgreSQL, a fresh database on the test binary's throwaway
//! cluster), and connects signing clients to it.
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

/// Which store a server keeps its ledger in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The sled store in the data folder.
    Sled,
    /// A fresh database on the test binary's PostgreSQL cluster
    /// (`dbond_testkit::pg`), with the keys in the data folder.
    Postgres,
}

/// A fresh database on the test binary's PostgreSQL cluster with dbond's tables,
/// made by `dbond store init`; returns its URL.
pub fn postgres_store() -> String {
    let url = dbond_testkit::pg::database();
    let (ok, out, err) = Server::dbond(&["store", "init", "--store", &url]);
    assert!(
        ok && out.contains("created"),
        "dbond store init: {out} {err}"
    );
    url
}

pub struct Server {
    pub child: Option<Child>,
    pub addr: String,
    pub data: PathBuf,
    /// The PostgreSQL URL of the ledger, when it is kept there.
    pub store: Option<String>,
    /// What the server printed on stdout before its "listening on" line.
    pub banner: Vec<String>,
    /// Extra `dbond serve` arguments, given again on restart.
    extra: Vec<String>,
    /// Extra environment variables of the server process, set again on restart.
    env: Vec<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

/// Waits until `done` gives a value, checking every 20 ms, for at most a minute
/// (a generous deadline: it is no timing assumption, only a bound on a hang).
pub async fn until<T, F, Fut>(what: &str, mut done: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(out) = done().await {
            return out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited a minute for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
            store: None,
            banner,
            extra: extra.iter().map(|a| a.to_string()).collect(),
            env,
            _dir: Some(dir),
        }
    }

    /// A fresh server on `backend`.
    pub fn start_on_backend(backend: Backend) -> Server {
        match backend {
            Backend::Sled => Server::start(),
            Backend::Postgres => Server::start_postgres(&[]),
        }
    }

    /// A fresh server keeping its ledger in a new PostgreSQL database, with extra
    /// `dbond serve` arguments.
    pub fn start_postgres(extra: &[&str]) -> Server {
        let url = postgres_store();
        let mut args = vec!["--store", url.as_str()];
        args.extend_from_slice(extra);
        let mut server = Server::start_with(&args);
        server.store = Some(url);
        server
    }

    /// The arguments that name this server's store to an offline verb
    /// (`--data DIR`, or `--store URL` on PostgreSQL).
    pub fn store_args(&self) -> Vec<String> {
        match &self.store {
            Some(url) => vec!["--store".into(), url.clone()],
            None => vec!["--data".into(), self.data.display().to_string()],
        }
    }

    /// A server on an existing data folder (which the caller keeps).
    pub fn start_on(data: &Path) -> Server {
        Server::start_on_with(data, &[])
    }

    /// A server on an existing data folder with extra `dbond serve` arguments
    /// (`--store URL` among them for a ledger kept in PostgreSQL).
    pub fn start_on_with(data: &Path, extra: &[&str]) -> Server {
        let (child, addr, banner) = spawn_full(data, extra, &[]);
        let store = extra
            .iter()
            .position(|a| *a == "--store")
            .and_then(|i| extra.get(i + 1))
            .map(|u| u.to_string());
        Server {
            child: Some(child),
            addr,
            data: data.to_path_buf(),
            store,
            banner,
            extra: extra.iter().map(|a| a.to_string()).collect(),
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

    /// Freezes the server with SIGSTOP, as a stalled machine or a long pause
    /// freezes it: it neither answers nor renews anything until `resume`.
    pub fn pause(&self) {
        let child = self.child.as_ref().expect("server running");
        // SAFETY: kill(2) on our own child process.
        unsafe { libc_kill(child.id() as i32, 19) };
    }

    /// Lets a paused server go on (SIGCONT) from where it stopped.
    pub fn resume(&self) {
        let child = self.child.as_ref().expect("server running");
        // SAFETY: as above.
        unsafe { libc_kill(child.id() as i32, 18) };
    }

    /// Starts the server again on the same data folder.
    /// Restarts a stopped server with other extra `dbond serve` arguments (the
    /// environment kept), which later restarts give again.
    pub fn restart_with(&mut self, extra: &[&str]) {
        self.extra = extra.iter().map(|a| a.to_string()).collect();
        self.restart();
    }

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
    /// The next ledger key the server holds, which a `RotateLedgerKey` hands
    /// the ledger over to.
    pub next_ledger_key: SigningKey,
    pub ledger: dbond::store::Store,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl InProcess {
    pub async fn start(start: chrono::DateTime<chrono::Utc>) -> InProcess {
        InProcess::start_on(start, Backend::Sled).await
    }

    /// An in-process server keeping its ledger on `backend`.
    pub async fn start_on(start: chrono::DateTime<chrono::Utc>, backend: Backend) -> InProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = std::sync::Arc::new(dbond::clock::ManualClock::new(start));
        let admin_key = keys::generate();
        let ledger_key = keys::generate();
        let next_ledger_key = keys::generate();
        let options = dbond::store::StoreOptions {
            next_ledger_key: Some(dbond::store::NextLedgerKey::new(next_ledger_key.clone())),
            ..Default::default()
        };
        let genesis = dbond::store::Genesis {
            origin: "test.example/dbond".into(),
            admin_participant_id: dbond::registry::ParticipantId::parse("id", "admin").unwrap(),
            admin_key: &admin_key,
        };
        let ledger = match backend {
            Backend::Sled => dbond::store::Store::create_with(
                &dir.path().join("store"),
                &ledger_key,
                genesis,
                clock.clone(),
                options,
            ),
            Backend::Postgres => {
                let url = dbond::store::PgUrl::parse(&postgres_store()).unwrap();
                let engine = dbond::store::PgEngine::open(
                    &url,
                    dbond::store::PgOptions::default(),
                    dbond::limits::STORE_BATCH_RECORDS_DEFAULT,
                )
                .expect("open the PostgreSQL store");
                dbond::store::Store::create_on(
                    std::sync::Arc::new(engine),
                    &ledger_key,
                    genesis,
                    clock.clone(),
                    options,
                )
            }
        }
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
            next_ledger_key,
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
