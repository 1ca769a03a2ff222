//! End to end: durable signed appends through gRPC. Runs the real `dbond serve` (the
//! binary cargo built with this bench) on 127.0.0.1, then N concurrent clients over a
//! few HTTP/2 connections send signed requests for a fixed time, of one of two
//! workloads: `subscribe` (banks' SubmitSubscription requests, the append a
//! distribution day makes by the hundred thousand, each signed by one of 8 banks,
//! over 4 open series) and `register` (the admin's RegisterParticipant requests,
//! each registering a new key: rare in use, and dearer, since the server also
//! validates the new key and writes two records under random ids).
//! Reports appends/s, latency percentiles, group-commit sizes (distinct tree sizes in
//! receipts) and where the CPU went (server threads from /proc, the client process),
//! next to the signature-work limit measured here with the same code:
//!   cores / (strict verify + sign), the server's signature work per append,
//!   timed on every one of the server's cores at once, in time on a CPU.
//!
//! Two modes: `inline` (each client signs its request just before sending it, as a
//! real client does; that signing shares the cores with the server) and `presigned`
//! (requests signed before the timed window, which leaves the cores to the server and
//! the gRPC client machinery).
//!
//! Each client sends one request per call (`batch` 1: the unary RPC) or several in
//! one `SubmitBatch` call (`batch` > 1, each request still signed and checked on
//! its own; the latency is the call's).
//!
//! Run: `cargo bench --bench appends` (about 3 minutes). Settings (environment):
//!   DBOND_BENCH_SECS (3), DBOND_BENCH_WARMUP_SECS (1), DBOND_BENCH_CONCURRENCY
//!   ("1,16,64,256"), DBOND_BENCH_CONNECTIONS (4), DBOND_BENCH_MODES
//!   ("inline,presigned"), DBOND_BENCH_BATCH ("1,50": requests per call),
//!   DBOND_BENCH_WORKLOADS ("subscribe,register"),
//!   DBOND_BENCH_DIR (default: CARGO_TARGET_TMPDIR), DBOND_BENCH_SPLIT_CORES
//!   (unset: server and client share every core; `1`: the server is pinned to
//!   the first half of the cores and this process, the client, to the rest, with
//!   `taskset`, so the server-alone figure is measured, not projected, and the
//!   limit counts the server's cores only), DBOND_BENCH_SERVER (another `dbond`
//!   binary to run as the server instead of this build's, for alternating runs
//!   of two builds).
//! Without `--bench` (as under `cargo test --benches`) it runs a short smoke pass.

use dbond::cli::load::Subscribers;
use dbond::client::{Client, CommandKind};
use dbond::ledger::keys::{self, REQUEST_CONTEXT};
use dbond::proto as pb;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Time spent on each limit micro-measurement.
const LIMIT_MEASURE: Duration = Duration::from_millis(700);
/// Fewest participant keys (or presigned requests) prepared for one run.
const PREPARED_MIN: usize = 2_000;
/// Banks and series of the `subscribe` workload (as `dbond load` sets up).
const BANKS: usize = 8;
const SERIES: usize = 4;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// Banks submit subscriptions.
    Subscribe,
    /// The admin registers participants.
    Register,
}

impl Workload {
    fn parse(s: &str) -> Workload {
        match s.trim() {
            "subscribe" => Workload::Subscribe,
            "register" => Workload::Register,
            other => {
                panic!("DBOND_BENCH_WORKLOADS: unknown workload {other:?} (subscribe, register)")
            }
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Workload::Subscribe => "subscribe",
            Workload::Register => "register",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Clients sign each request just before sending it.
    Inline,
    /// Requests are signed before the timed window.
    Presigned,
}

impl Mode {
    fn parse(s: &str) -> Mode {
        match s.trim() {
            "inline" => Mode::Inline,
            "presigned" => Mode::Presigned,
            other => panic!("DBOND_BENCH_MODES: unknown mode {other:?} (inline, presigned)"),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Mode::Inline => "inline",
            Mode::Presigned => "presigned",
        }
    }
}

struct Settings {
    measure: Duration,
    warm_up: Duration,
    concurrency: Vec<usize>,
    connections: usize,
    modes: Vec<Mode>,
    batches: Vec<usize>,
    workloads: Vec<Workload>,
    dir: PathBuf,
    /// The server's and the client's CPU lists (`taskset` form), when split.
    split: Option<(String, String)>,
}

/// Pins this process (the client; only the main thread exists yet) to the second
/// half of the cores and returns the two CPU lists, the server's first.
fn split_cores() -> (String, String) {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        n >= 2,
        "DBOND_BENCH_SPLIT_CORES needs at least 2 cores, found {n}"
    );
    let half = n / 2;
    let list = |from: usize, to: usize| {
        if from == to {
            from.to_string()
        } else {
            format!("{from}-{to}")
        }
    };
    let (server, client) = (list(0, half - 1), list(half, n - 1));
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", &client, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("DBOND_BENCH_SPLIT_CORES needs taskset (util-linux)");
    assert!(status.success(), "taskset could not pin the client");
    (server, client)
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

impl Settings {
    /// Read in `main` only; a run without `--bench` is a short smoke pass.
    fn from_env() -> Settings {
        let bench = std::env::args().any(|a| a == "--bench");
        let secs = |name: &str, default: &str| {
            Duration::from_secs_f64(env_or(name, default).parse().expect(name))
        };
        let (measure, warm_up, levels) = if bench {
            (
                secs("DBOND_BENCH_SECS", "3"),
                secs("DBOND_BENCH_WARMUP_SECS", "1"),
                env_or("DBOND_BENCH_CONCURRENCY", "1,16,64,256"),
            )
        } else {
            (
                Duration::from_millis(300),
                Duration::from_millis(100),
                "1,16".to_string(),
            )
        };
        let split =
            (std::env::var("DBOND_BENCH_SPLIT_CORES").as_deref() == Ok("1")).then(split_cores);
        Settings {
            split,
            measure,
            warm_up,
            concurrency: levels
                .split(',')
                .map(|s| s.trim().parse().expect("DBOND_BENCH_CONCURRENCY"))
                .collect(),
            connections: env_or("DBOND_BENCH_CONNECTIONS", "4")
                .parse()
                .expect("DBOND_BENCH_CONNECTIONS"),
            modes: env_or("DBOND_BENCH_MODES", "inline,presigned")
                .split(',')
                .map(Mode::parse)
                .collect(),
            batches: env_or("DBOND_BENCH_BATCH", "1,50")
                .split(',')
                .map(|s| match s.trim().parse() {
                    Ok(n) if n >= 1 => n,
                    _ => panic!("DBOND_BENCH_BATCH: {s:?} is not a batch size (1 or more)"),
                })
                .collect(),
            workloads: env_or("DBOND_BENCH_WORKLOADS", "subscribe,register")
                .split(',')
                .map(Workload::parse)
                .collect(),
            dir: std::env::var_os("DBOND_BENCH_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR"))),
        }
    }
}

// ---------------------------------------------------------------------------------
// Limits, measured in this process with the code the server runs.

/// This thread's time on a CPU so far, in seconds (Linux's schedstat).
fn thread_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Sched::parse(&stat).cpu)
}

/// Microseconds of CPU per call of `f`, over about `LIMIT_MEASURE`. Time on a
/// CPU, where the kernel reports it, not wall time: another process taking the
/// core meanwhile must not make the signature work look slower than it is (and
/// the server's share larger).
fn micros_per_call(mut f: impl FnMut()) -> f64 {
    for _ in 0..200 {
        f();
    }
    let start = Instant::now();
    let cpu_start = thread_cpu_secs();
    let mut calls = 0u64;
    while start.elapsed() < LIMIT_MEASURE {
        for _ in 0..100 {
            f();
        }
        calls += 100;
    }
    let secs = match (cpu_start, thread_cpu_secs()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => start.elapsed().as_secs_f64(),
    };
    secs * 1e6 / calls as f64
}

struct Limits {
    cores: usize,
    /// One core at a time, the others idle.
    sign_us: f64,
    verify_us: f64,
    /// Per core while every one of the `cores` does the same at once: what the
    /// cores give together (here within 3 % of `cores` times one).
    sign_all_us: f64,
    verify_all_us: f64,
}

/// `f`'s per-call microseconds on each of `cores` threads run at once, averaged.
fn on_every_core(cores: usize, f: impl Fn() -> f64 + Sync) -> f64 {
    let each: Vec<f64> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..cores).map(|_| scope.spawn(&f)).collect();
        runs.into_iter()
            .map(|run| run.join().expect("a limit thread panicked"))
            .collect()
    });
    each.iter().sum::<f64>() / each.len() as f64
}

impl Limits {
    /// `cores`: the cores the server has.
    fn measure(payload: &[u8], cores: usize) -> Limits {
        let key = keys::generate();
        let public = key.verifying_key();
        let signature = keys::sign(&key, REQUEST_CONTEXT, payload).to_bytes();
        let sign = || {
            micros_per_call(|| {
                std::hint::black_box(keys::sign(&key, REQUEST_CONTEXT, payload));
            })
        };
        let verify = || {
            micros_per_call(|| {
                assert!(keys::verify(&public, REQUEST_CONTEXT, payload, &signature));
            })
        };
        Limits {
            cores,
            sign_us: sign(),
            verify_us: verify(),
            sign_all_us: on_every_core(cores, sign),
            verify_all_us: on_every_core(cores, verify),
        }
    }

    /// Appends/s the server's signature work alone allows: one strict verify of the
    /// participant's signature and one ledger signature per append, on every core
    /// at once.
    fn signature_work_per_sec(&self) -> f64 {
        self.cores as f64 * 1e6 / (self.verify_all_us + self.sign_all_us)
    }

    /// The same from one core's figures times the cores (what this bench used
    /// before it measured the cores together; kept for comparison).
    fn one_core_times_cores_per_sec(&self) -> f64 {
        self.cores as f64 * 1e6 / (self.verify_us + self.sign_us)
    }

    /// The same with the client's signature on the same cores (this machine's case).
    fn signature_work_with_client_per_sec(&self) -> f64 {
        self.cores as f64 * 1e6 / (self.verify_all_us + 2.0 * self.sign_all_us)
    }
}

// ---------------------------------------------------------------------------------
// The server under test.

struct Server {
    child: Child,
    url: String,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// `cpus`: the CPU list to pin the server to (`taskset` runs it, same pid).
    fn start(parent: &Path, cpus: Option<&str>) -> Server {
        std::fs::create_dir_all(parent).expect("create the bench directory");
        let dir = tempfile::tempdir_in(parent).expect("tempdir");
        let data = dir.path().join("data");
        // Another build's binary, for alternating runs against it.
        let binary = std::env::var_os("DBOND_BENCH_SERVER")
            .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_dbond")), PathBuf::from);
        let mut command = match cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.args(["-c", cpus]).arg(&binary);
                c
            }
            None => Command::new(&binary),
        };
        let mut child = command
            .arg("serve")
            .arg("--data")
            .arg(&data)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--origin")
            .arg("diaspora-bonds/bench")
            .env("DBOND_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dbond serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(a) = line.strip_prefix("listening on ") {
                        break a.trim().to_string();
                    }
                }
                _ => panic!("dbond serve exited before listening"),
            }
        };
        // Keep draining the pipes so the server never blocks on them.
        std::thread::spawn(move || for _ in lines {});
        if let Some(stderr) = child.stderr.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if line.contains("WARN") || line.contains("ERROR") {
                        eprintln!("server: {line}");
                    }
                }
            });
        }
        Server {
            child,
            url: format!("http://{addr}"),
            data,
            _dir: dir,
        }
    }

    fn admin_key(&self) -> ed25519_dalek::SigningKey {
        keys::read_private_key(&self.data.join("admin.key")).expect("admin key")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Our own child, by its handle; its data folder goes with the TempDir.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------
// Scheduler accounting from /proc/<pid>/task/<tid>/schedstat (Linux; empty elsewhere):
// nanoseconds on a CPU and nanoseconds runnable but waiting for one. The rest of a
// thread's wall time it was blocked (I/O, fsync, a lock, or waiting for work).

/// On-CPU and waiting-for-CPU seconds of one thread group.
#[derive(Clone, Copy, Debug, Default)]
struct Sched {
    cpu: f64,
    wait: f64,
}

impl Sched {
    /// A schedstat line: nanoseconds on a CPU, then waiting for one.
    fn parse(stat: &str) -> Sched {
        let mut f = stat
            .split_whitespace()
            .map(|x| x.parse::<f64>().unwrap_or(0.0) / 1e9);
        let (cpu, wait) = (f.next().unwrap_or(0.0), f.next().unwrap_or(0.0));
        Sched { cpu, wait }
    }
}

/// Per thread id: its name (digits stripped, so a pool adds up) and its times.
fn threads(pid: u32) -> BTreeMap<u64, (String, Sched)> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(task.path().join("comm")),
            std::fs::read_to_string(task.path().join("schedstat")),
        ) else {
            continue;
        };
        let name: String = comm
            .trim()
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect();
        out.insert(tid, (name, Sched::parse(&stat)));
    }
    out
}

/// What each thread group did between two snapshots.
fn delta(
    after: &BTreeMap<u64, (String, Sched)>,
    before: &BTreeMap<u64, (String, Sched)>,
) -> BTreeMap<String, Sched> {
    let mut out: BTreeMap<String, Sched> = BTreeMap::new();
    for (tid, (name, a)) in after {
        let b = before.get(tid).map(|(_, b)| *b).unwrap_or_default();
        let e = out.entry(name.clone()).or_default();
        e.cpu += a.cpu - b.cpu;
        e.wait += a.wait - b.wait;
    }
    out.retain(|_, s| s.cpu > 0.0 || s.wait > 0.0);
    out
}

fn total(groups: &BTreeMap<String, Sched>) -> Sched {
    groups.values().fold(Sched::default(), |t, s| Sched {
        cpu: t.cpu + s.cpu,
        wait: t.wait + s.wait,
    })
}

// ---------------------------------------------------------------------------------
// One run: a workload, a mode, a batch size, a concurrency, a fixed window.

/// Subscription `n` of run `run`, signed by its bank: a new investor each. The
/// banks and series are the `subscribe` workload's, set up once per server as
/// `dbond load` sets up (the banks' clients only sign here).
fn sign_subscription(subscribers: &Subscribers, run: usize, n: usize) -> pb::SignedRequest {
    let Subscribers { banks, series } = subscribers;
    banks[n % banks.len()].sign(CommandKind::SubmitSubscription(pb::SubmitSubscription {
        series_id: series[(n / banks.len()) % series.len()].clone(),
        investor_ref: format!("inv-{run}-{n}"),
        category: pb::DiasporaCategory::CitizenAbroad as i32,
        country: "DE".into(),
        units: (1 + n % 100).to_string(),
        idempotency_key: format!("bench-{run}-{n}"),
        registration: None,
    }))
}

struct Prepared {
    workload: Workload,
    /// Public keys of participants to register, one per request (`register`).
    participant_keys: Vec<[u8; 32]>,
    /// Presigned requests (presigned mode).
    presigned: Vec<pb::SignedRequest>,
    next: AtomicUsize,
    /// Requests that found the prepared stock empty and were built in the window.
    built_late: AtomicUsize,
}

fn register_command(id: String, public_key: &[u8; 32]) -> CommandKind {
    CommandKind::RegisterParticipant(pb::RegisterParticipant {
        participant_id: id,
        role: pb::Role::Bank as i32,
        public_key: public_key.to_vec(),
        display_name: "Bench Bank".into(),
    })
}

fn participant_id(run: usize, n: usize) -> String {
    format!("r{run}-bank-{n}")
}

impl Prepared {
    fn new(
        workload: Workload,
        admin: &Client,
        subscribers: Option<&Subscribers>,
        mode: Mode,
        run: usize,
        count: usize,
    ) -> Prepared {
        let participant_keys: Vec<[u8; 32]> = match workload {
            Workload::Register => (0..count)
                .into_par_iter()
                .map(|_| keys::generate().verifying_key().to_bytes())
                .collect(),
            Workload::Subscribe => Vec::new(),
        };
        let mut prepared = Prepared {
            workload,
            participant_keys,
            presigned: Vec::new(),
            next: AtomicUsize::new(0),
            built_late: AtomicUsize::new(0),
        };
        if mode == Mode::Presigned {
            prepared.presigned = (0..count)
                .into_par_iter()
                .map(|n| prepared.build(admin, subscribers, run, n))
                .collect();
        }
        prepared
    }

    /// Request `n` of run `run`, signed now.
    fn build(
        &self,
        admin: &Client,
        subscribers: Option<&Subscribers>,
        run: usize,
        n: usize,
    ) -> pb::SignedRequest {
        match self.workload {
            Workload::Register => {
                let key = match self.participant_keys.get(n) {
                    Some(k) => *k,
                    None => keys::generate().verifying_key().to_bytes(),
                };
                admin.sign(register_command(participant_id(run, n), &key))
            }
            Workload::Subscribe => sign_subscription(
                subscribers.expect("the subscribe workload's banks and series are set up"),
                run,
                n,
            ),
        }
    }

    fn take(
        &self,
        admin: &Client,
        subscribers: Option<&Subscribers>,
        mode: Mode,
        run: usize,
    ) -> pb::SignedRequest {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let stocked = match self.workload {
            Workload::Register => n < self.participant_keys.len(),
            Workload::Subscribe => mode == Mode::Inline || n < self.presigned.len(),
        };
        if !stocked {
            self.built_late.fetch_add(1, Ordering::Relaxed);
        }
        match (mode, self.presigned.get(n)) {
            (Mode::Presigned, Some(signed)) => signed.clone(),
            _ => self.build(admin, subscribers, run, n),
        }
    }
}

#[derive(Default)]
struct WorkerStats {
    latencies_us: Vec<u64>,
    tree_sizes: HashSet<u64>,
    errors: u64,
    first_error: Option<String>,
}

struct RunResult {
    workload: Workload,
    mode: Mode,
    batch: usize,
    concurrency: usize,
    connections: usize,
    appends: usize,
    window: Duration,
    latencies_us: Vec<u64>,
    groups: usize,
    errors: u64,
    first_error: Option<String>,
    server_threads: BTreeMap<String, Sched>,
    client_threads: BTreeMap<String, Sched>,
    built_late: usize,
}

impl RunResult {
    fn per_sec(&self) -> f64 {
        self.appends as f64 / self.window.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 * p).ceil() as usize)
            .clamp(1, self.latencies_us.len())
            - 1;
        self.latencies_us[i] as f64 / 1e3
    }

    /// What this server could do with the machine to itself, from its measured CPU
    /// per append: all cores busy with server work, but never faster than its one
    /// writer thread. A projection, not a measurement.
    fn server_ceiling_per_sec(&self, cores: usize) -> f64 {
        let server = total(&self.server_threads).cpu;
        let writer = self
            .server_threads
            .get("ledger-writer")
            .map_or(0.0, |s| s.cpu);
        if self.appends == 0 || server <= 0.0 {
            return 0.0;
        }
        let all_cores = cores as f64 * self.appends as f64 / server;
        let one_writer = if writer > 0.0 {
            self.appends as f64 / writer
        } else {
            f64::INFINITY
        };
        all_cores.min(one_writer)
    }

    fn us_per_append(&self, cpu_secs: f64) -> f64 {
        if self.appends == 0 {
            return 0.0;
        }
        cpu_secs * 1e6 / self.appends as f64
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_level(
    server: &Server,
    admins: &[Client],
    subscribers: Option<&Arc<Subscribers>>,
    settings: &Settings,
    workload: Workload,
    mode: Mode,
    batch: usize,
    concurrency: usize,
    run: usize,
    rate_max: f64,
) -> RunResult {
    let total = settings.warm_up + settings.measure;
    let count = ((rate_max * total.as_secs_f64() * 1.2) as usize).max(PREPARED_MIN);
    let prepared = Arc::new(Prepared::new(
        workload,
        &admins[0],
        subscribers.map(|s| s.as_ref()),
        mode,
        run,
        count,
    ));
    let start = Instant::now() + Duration::from_millis(20);
    let window_start = start + settings.warm_up;
    let stop = window_start + settings.measure;

    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let admin = admins[w % admins.len()].clone();
        let prepared = prepared.clone();
        let subscribers = subscribers.cloned();
        tasks.spawn(async move {
            tokio::time::sleep_until(start.into()).await;
            let mut participants = admin.participants();
            let mut bank = admin.bank();
            let mut stats = WorkerStats::default();
            while Instant::now() < stop {
                let mut requests: Vec<pb::SignedRequest> = (0..batch)
                    .map(|_| prepared.take(&admin, subscribers.as_deref(), mode, run))
                    .collect();
                let sent = Instant::now();
                // One outcome per request: its receipt's tree size, or why it failed.
                let outcomes: Vec<Result<u64, String>> = if batch == 1 {
                    let signed = requests.pop();
                    let receipt = match workload {
                        Workload::Register => participants
                            .register_participant(pb::RegisterParticipantRequest { signed })
                            .await
                            .map(|r| r.into_inner().receipt),
                        Workload::Subscribe => bank
                            .submit_subscription(pb::SubmitSubscriptionRequest { signed })
                            .await
                            .map(|r| r.into_inner().receipt),
                    };
                    match receipt {
                        Ok(receipt) => vec![Ok(receipt.map_or(0, |r| r.tree_size))],
                        Err(e) => vec![Err(e.to_string())],
                    }
                } else {
                    match admin.submit_batch(requests).await {
                        Ok(results) => results
                            .into_iter()
                            .map(|r| match r.outcome {
                                Some(pb::batch_result::Outcome::Receipt(receipt)) => {
                                    Ok(receipt.tree_size)
                                }
                                Some(pb::batch_result::Outcome::Error(e)) => {
                                    Err(format!("{}: {}", e.code_name, e.message))
                                }
                                None => Err("a result without an outcome".into()),
                            })
                            .collect(),
                        Err(e) => vec![Err(e.to_string()); batch],
                    }
                };
                let done = Instant::now();
                if done < window_start || done >= stop {
                    continue;
                }
                for outcome in outcomes {
                    match outcome {
                        Ok(tree_size) => {
                            stats.latencies_us.push((done - sent).as_micros() as u64);
                            stats.tree_sizes.insert(tree_size);
                        }
                        Err(e) => {
                            stats.errors += 1;
                            stats.first_error.get_or_insert(e);
                        }
                    }
                }
            }
            stats
        });
    }

    let server_pid = server.child.id();
    let own_pid = std::process::id();
    tokio::time::sleep_until(window_start.into()).await;
    let server_before = threads(server_pid);
    let client_before = threads(own_pid);
    tokio::time::sleep_until(stop.into()).await;
    let server_after = threads(server_pid);
    let client_after = threads(own_pid);

    let mut all = WorkerStats::default();
    while let Some(stats) = tasks.join_next().await {
        let stats = stats.expect("client task");
        all.latencies_us.extend(stats.latencies_us);
        all.tree_sizes.extend(stats.tree_sizes);
        all.errors += stats.errors;
        if all.first_error.is_none() {
            all.first_error = stats.first_error;
        }
    }
    all.latencies_us.sort_unstable();
    RunResult {
        workload,
        mode,
        batch,
        concurrency,
        connections: admins.len(),
        appends: all.latencies_us.len(),
        window: settings.measure,
        groups: all.tree_sizes.len(),
        latencies_us: all.latencies_us,
        errors: all.errors,
        first_error: all.first_error,
        server_threads: delta(&server_after, &server_before),
        client_threads: delta(&client_after, &client_before),
        built_late: prepared.built_late.load(Ordering::Relaxed),
    }
}

// ---------------------------------------------------------------------------------

fn print_results(limits: &Limits, results: &[RunResult], settings: &Settings) {
    let limit = limits.signature_work_per_sec();
    println!();
    println!(
        "## dbond end-to-end appends (gRPC, durable) - {} cores, {:.1} s window after {:.1} s warm-up",
        limits.cores,
        settings.measure.as_secs_f64(),
        settings.warm_up.as_secs_f64()
    );
    println!();
    match &settings.split {
        Some((server, client)) => println!(
            "cores split: the server on CPUs {server}, the client on CPUs {client}; \
             \"cores\" and the limit count the server's cores, and appends/s is what \
             the server does alone"
        ),
        None => println!("the server and the client share every core"),
    }
    println!(
        "limits (this process, one core at a time): ed25519 sign {:.1} µs ({:.0}/s), strict verify {:.1} µs ({:.0}/s); {} cores times that: {:.0} appends/s",
        limits.sign_us,
        1e6 / limits.sign_us,
        limits.verify_us,
        1e6 / limits.verify_us,
        limits.cores,
        limits.one_core_times_cores_per_sec()
    );
    println!(
        "limits (every one of {} cores at once, per core): sign {:.1} µs, strict verify {:.1} µs",
        limits.cores, limits.sign_all_us, limits.verify_all_us
    );
    println!(
        "signature-work limit = {} cores / (verify + sign), all cores at once = {limit:.0} appends/s; target (half) {:.0}/s",
        limits.cores,
        limit / 2.0,
    );
    if settings.split.is_none() {
        println!(
            "with the client's signing on the same cores: {:.0}/s",
            limits.signature_work_with_client_per_sec()
        );
    }
    println!();
    println!(
        "| workload | mode | batch | clients | conns | appends/s | of sig. limit | p50 ms | p90 ms | p99 ms | max ms | appends/flush | server CPU µs/append | client CPU µs/append | our cores busy | our threads waiting for a core | server-alone ceiling /s | its share of sig. limit |"
    );
    println!(
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in results {
        let window = r.window.as_secs_f64();
        let (server, client) = (total(&r.server_threads), total(&r.client_threads));
        let ceiling = r.server_ceiling_per_sec(limits.cores);
        println!(
            "| {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {:.0} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} |",
            r.workload.as_str(),
            r.mode.as_str(),
            r.batch,
            r.concurrency,
            r.connections,
            r.per_sec(),
            r.per_sec() / limit,
            r.percentile_ms(0.50),
            r.percentile_ms(0.90),
            r.percentile_ms(0.99),
            r.percentile_ms(1.0),
            if r.groups == 0 {
                0.0
            } else {
                r.appends as f64 / r.groups as f64
            },
            r.us_per_append(server.cpu),
            r.us_per_append(client.cpu),
            (server.cpu + client.cpu) / window,
            (server.wait + client.wait) / window,
            ceiling,
            ceiling / limit,
        );
    }
    println!();
    println!(
        "(against one core's figures times {} cores, {:.0}/s, every share above is {:.2} times what it says)",
        limits.cores,
        limits.one_core_times_cores_per_sec(),
        limit / limits.one_core_times_cores_per_sec()
    );
    println!();
    println!(
        "server threads, CPU µs per append (ledger-writer: share of the window on a core / runnable but waiting for one / blocked: flush, I/O or no work):"
    );
    println!();
    let names: std::collections::BTreeSet<&String> = results
        .iter()
        .flat_map(|r| r.server_threads.keys())
        .collect();
    print!("| workload | mode | batch | clients |");
    for n in &names {
        print!(" {n} |");
    }
    println!(" ledger-writer on core / waiting / blocked |");
    print!("|---|---|---:|---:|");
    for _ in &names {
        print!("---:|");
    }
    println!("---|");
    for r in results {
        print!(
            "| {} | {} | {} | {} |",
            r.workload.as_str(),
            r.mode.as_str(),
            r.batch,
            r.concurrency
        );
        for n in &names {
            let cpu = r.server_threads.get(*n).map_or(0.0, |s| s.cpu);
            print!(" {:.0} |", r.us_per_append(cpu));
        }
        let w = r
            .server_threads
            .get("ledger-writer")
            .copied()
            .unwrap_or_default();
        let window = r.window.as_secs_f64();
        let (on, waiting) = (w.cpu / window, w.wait / window);
        println!(
            " {:.0}% / {:.0}% / {:.0}% |",
            on * 100.0,
            waiting * 100.0,
            (1.0 - on - waiting).max(0.0) * 100.0
        );
    }
    for r in results {
        if r.errors > 0 {
            println!(
                "{} {} batch {} {}: {} errors; first: {}",
                r.workload.as_str(),
                r.mode.as_str(),
                r.batch,
                r.concurrency,
                r.errors,
                r.first_error.as_deref().unwrap_or("")
            );
        }
        if r.built_late > 0 {
            println!(
                "{} {} batch {} {}: {} requests built inside the window (prepared stock ran out)",
                r.workload.as_str(),
                r.mode.as_str(),
                r.batch,
                r.concurrency,
                r.built_late
            );
        }
    }
    println!();
}

fn main() {
    let settings = Settings::from_env();
    let server = Server::start(
        &settings.dir,
        settings.split.as_ref().map(|(server, _)| server.as_str()),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        )
        .enable_all()
        .build()
        .expect("tokio runtime");
    let admin_key = server.admin_key();
    let admins: Vec<Client> = rt.block_on(async {
        let mut admins = Vec::new();
        for _ in 0..settings.connections.max(1) {
            admins.push(
                Client::connect(&server.url, admin_key.clone())
                    .await
                    .expect("connect"),
            );
        }
        admins
    });
    let sample = admins[0]
        .sign(register_command(
            "bank-sample".into(),
            &keys::generate().verifying_key().to_bytes(),
        ))
        .payload;
    // Split, this process is pinned to the client's half: its parallelism is
    // that half, and the server has the same number of cores.
    let limits = Limits::measure(
        &sample,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );

    let subscribers = settings.workloads.contains(&Workload::Subscribe).then(|| {
        let admin = &admins[0];
        let set_up = dbond::cli::load::set_up_subscribers(
            admin,
            std::slice::from_ref(admin.channel()),
            "bench",
            BANKS,
            SERIES,
        );
        Arc::new(rt.block_on(set_up).expect("set up the banks and series"))
    });

    let mut results = Vec::new();
    let mut run = 0;
    for &workload in &settings.workloads {
        for &batch in &settings.batches {
            for &mode in &settings.modes {
                // Prepare enough for the rate the last level suggests: at most eight
                // times it (one client to sixteen gains about that much; beyond,
                // more concurrency buys less), never beyond the signature-work
                // limit. Running short is reported, not fatal.
                let (mut last_rate, mut last_concurrency) = (2_000.0, 1usize);
                for &concurrency in &settings.concurrency {
                    run += 1;
                    let growth = (concurrency as f64 * batch as f64 / last_concurrency as f64)
                        .clamp(1.0, 8.0);
                    let rate_max = if batch > 1 {
                        // Batches go well past the unary rates and past the target.
                        limits.signature_work_per_sec() * 0.8
                    } else {
                        (last_rate * growth).min(limits.signature_work_per_sec())
                    };
                    let result = rt.block_on(run_level(
                        &server,
                        &admins,
                        subscribers.as_ref(),
                        &settings,
                        workload,
                        mode,
                        batch,
                        concurrency,
                        run,
                        rate_max,
                    ));
                    eprintln!(
                        "{} {} batch {batch} {concurrency:>4} clients: {:.0} appends/s, p50 {:.2} ms, p99 {:.2} ms",
                        workload.as_str(),
                        mode.as_str(),
                        result.per_sec(),
                        result.percentile_ms(0.5),
                        result.percentile_ms(0.99)
                    );
                    (last_rate, last_concurrency) =
                        (result.per_sec().max(last_rate), concurrency * batch);
                    results.push(result);
                }
            }
        }
    }
    print_results(&limits, &results, &settings);
    assert!(
        results.iter().all(|r| r.errors == 0 && r.appends > 0),
        "some runs failed or appended nothing"
    );
}
