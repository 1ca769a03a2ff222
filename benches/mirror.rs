//! Verified mirrors and online backups, end to end with the real binaries on
//! 127.0.0.1 (server, mirror and this load generator share the cores).
//!
//! 1. Lag: `dbond serve` takes banks' subscriptions (`SubmitSubscription`, one per
//!    call, 8 banks over 4 series) paced at a target rate, while `dbond mirror
//!    --listen` follows it. For every acknowledged subscription the bench notes
//!    when its reply came and when the mirror first held its entry (the mirror's
//!    size, polled every 5 ms through the unsigned `GetLedgerInfo`): the
//!    difference is how far behind the mirror was for that entry. Reports the
//!    rate reached, the delay's percentiles and maximum, the mirror's own
//!    `dbond_mirror_lag_seconds` (its largest sample), and each process's CPU.
//! 2. Backup: the ledger is grown to a number of entries with `dbond load
//!    --batch 50`, then `dbond backup` writes a fresh copy of it (timed, with its
//!    peak resident memory), a second `dbond backup --from-size` continues it
//!    after 10,000 more subscriptions, and `dbond verify --data` checks it.
//!
//! Run: `cargo bench --bench mirror` (about 2 minutes). Settings (environment):
//!   DBOND_BENCH_RATE (5000 subscriptions/s), DBOND_BENCH_SECS (20),
//!   DBOND_BENCH_BACKUP_ENTRIES (200000; 1000000 for the million-entry figure,
//!   about 3 more minutes and 2 GB of disk), DBOND_BENCH_DIR (default:
//!   CARGO_TARGET_TMPDIR).
//! Without `--bench` (as under `cargo test --benches`) it runs a short smoke pass.

use dbond::client::Client;
use dbond::ledger::keys;
use dbond::proto as pb;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Settings {
    rate: u64,
    window: Duration,
    backup_entries: u64,
    dir: PathBuf,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

impl Settings {
    /// Read in `main` only; a run without `--bench` is a short smoke pass.
    fn from_env() -> Settings {
        let bench = std::env::args().any(|a| a == "--bench");
        let number = |name: &str, default: &str| -> u64 {
            env_or(name, default)
                .parse()
                .unwrap_or_else(|_| panic!("{name} is not a number"))
        };
        let (rate, secs, entries) = if bench {
            (
                number("DBOND_BENCH_RATE", "5000"),
                number("DBOND_BENCH_SECS", "20"),
                number("DBOND_BENCH_BACKUP_ENTRIES", "200000"),
            )
        } else {
            (500, 2, 3_000)
        };
        Settings {
            rate,
            window: Duration::from_secs(secs),
            backup_entries: entries,
            dir: PathBuf::from(env_or("DBOND_BENCH_DIR", env!("CARGO_TARGET_TMPDIR"))),
        }
    }
}

// ---------------------------------------------------------------------------------
// The processes.

fn dbond() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dbond"));
    c.env("DBOND_LOG", "warn");
    c
}

/// A running `dbond serve` or `dbond mirror`, killed when dropped.
struct Process {
    child: Child,
    url: String,
    /// The metrics address, if it serves them.
    metrics: Option<String>,
}

impl Process {
    /// Starts `command` and waits for its "listening on" line (and its "metrics
    /// on" line before it, if any).
    fn start(mut command: Command) -> Process {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dbond");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut metrics = None;
        let url = loop {
            let line = lines
                .next()
                .expect("dbond ended before listening")
                .expect("read stdout");
            if let Some(m) = line.strip_prefix("metrics on ") {
                metrics = Some(m.trim().to_string());
            }
            if let Some(a) = line.strip_prefix("listening on ") {
                break format!("http://{}", a.split_whitespace().next().unwrap_or(""));
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Process {
            child,
            url,
            metrics,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process's CPU time so far, in seconds (Linux; 0 elsewhere).
fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command's closing parenthesis; utime and stime are the
    // 14th and 15th fields of the line, in clock ticks (100 a second on Linux).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A process's peak resident memory so far, in MB (Linux; 0 elsewhere).
fn peak_rss_mb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// Runs `command` to its end: its wall time, peak resident memory (sampled
/// while it runs) and standard output.
fn timed(mut command: Command) -> (Duration, u64, String) {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start dbond");
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut text);
        text
    });
    let mut peak = 0;
    let status = loop {
        peak = peak.max(peak_rss_mb(child.id()));
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let text = reader.join().expect("stdout reader");
    assert!(status.success(), "{command:?} failed");
    (took, peak, text)
}

fn scrape(metrics: &str, name: &str) -> Option<f64> {
    let addr = metrics
        .trim_start_matches("http://")
        .trim_end_matches("/metrics");
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    use std::io::{Read, Write};
    stream
        .write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

// ---------------------------------------------------------------------------------
// 1. Lag at a rate.

struct Lag {
    acknowledged: u64,
    errors: u64,
    rate: f64,
    /// Each acknowledged entry's wait for the mirror, sorted.
    delays: Vec<Duration>,
    mirror_lag_seconds_max: f64,
    server_cpu: f64,
    mirror_cpu: f64,
    client_cpu: f64,
}

impl Lag {
    fn percentile(&self, p: f64) -> Duration {
        if self.delays.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.delays.len() - 1) as f64 * p).round() as usize;
        self.delays[i]
    }
}

async fn ledger_size(channel: &tonic::transport::Channel) -> u64 {
    let mut ledger = pb::ledger_service_client::LedgerServiceClient::new(channel.clone());
    ledger
        .get_ledger_info(pb::GetLedgerInfoRequest {})
        .await
        .map(|r| r.into_inner().tree_size)
        .unwrap_or(0)
}

async fn lag_at_rate(
    settings: &Settings,
    server: &Process,
    subscribers: &dbond::cli::load::Subscribers,
    mirror: &Process,
) -> Lag {
    let channel = dbond::client::channel(&mirror.url).await.expect("mirror");
    // The poller: (when, mirror size), and the mirror's own lag gauge.
    let polls = Arc::new(std::sync::Mutex::new(Vec::<(Instant, u64)>::new()));
    let gauge_max = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (polls, stop, channel) = (polls.clone(), stop.clone(), channel.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let size = ledger_size(&channel).await;
                polls.lock().unwrap().push((Instant::now(), size));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let gauge = mirror.metrics.clone().map(|metrics| {
        let (gauge_max, stop) = (gauge_max.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(lag) = scrape(&metrics, "dbond_mirror_lag_seconds") {
                    gauge_max.fetch_max((lag * 1e6) as u64, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    });

    let acks = Arc::new(std::sync::Mutex::new(Vec::<(Instant, u64)>::new()));
    let errors = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(4096));
    let cpu = (
        cpu_secs(server.pid()),
        cpu_secs(mirror.pid()),
        cpu_secs(std::process::id()),
    );
    let started = Instant::now();
    let per_tick = (settings.rate / 100).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut sent = 0u64;
    let mut tasks = Vec::new();
    while started.elapsed() < settings.window {
        tick.tick().await;
        for _ in 0..per_tick {
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                break;
            };
            let bank = subscribers.banks[sent as usize % subscribers.banks.len()].clone();
            let series = subscribers.series[sent as usize % subscribers.series.len()].clone();
            let (acks, errors) = (acks.clone(), errors.clone());
            let n = sent;
            tasks.push(tokio::spawn(async move {
                let reply = bank
                    .submit(pb::SubmitSubscription {
                        series_id: series,
                        investor_ref: format!("lag-{n}"),
                        category: pb::DiasporaCategory::CitizenAbroad as i32,
                        country: "DE".into(),
                        units: "1".into(),
                        idempotency_key: format!("lag-{n}"),
                        registration: None,
                    })
                    .await;
                match reply.ok().and_then(|r| r.receipt) {
                    Some(receipt) => acks.lock().unwrap().push((Instant::now(), receipt.index)),
                    None => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                drop(permit);
            }));
            sent += 1;
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed();
    let acks = std::mem::take(&mut *acks.lock().unwrap());
    let last = acks.iter().map(|(_, i)| *i).max().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(120);
    while ledger_size(&channel).await <= last {
        assert!(Instant::now() < deadline, "the mirror never caught up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cpu_after = (
        cpu_secs(server.pid()),
        cpu_secs(mirror.pid()),
        cpu_secs(std::process::id()),
    );
    stop.store(true, Ordering::Relaxed);
    let _ = poller.await;
    if let Some(g) = gauge {
        let _ = g.join();
    }
    let polls = std::mem::take(&mut *polls.lock().unwrap());
    let mut delays: Vec<Duration> = acks
        .iter()
        .map(|(acked, index)| {
            // Sizes only grow: the first poll that saw the entry.
            let at = polls.partition_point(|(_, size)| *size <= *index);
            polls.get(at).map_or(Duration::MAX, |(seen, _)| {
                seen.saturating_duration_since(*acked)
            })
        })
        .collect();
    delays.sort();
    let window = elapsed.as_secs_f64();
    Lag {
        acknowledged: acks.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        rate: acks.len() as f64 / window,
        delays,
        mirror_lag_seconds_max: gauge_max.load(Ordering::Relaxed) as f64 / 1e6,
        server_cpu: (cpu_after.0 - cpu.0) / window,
        mirror_cpu: (cpu_after.1 - cpu.1) / window,
        client_cpu: (cpu_after.2 - cpu.2) / window,
    }
}

// ---------------------------------------------------------------------------------
// 2. Backup.

/// Grows the ledger to at least `entries` with `dbond load --batch 50`.
fn grow(server: &Process, admin_key: &Path, entries: u64, now: u64) {
    if entries <= now {
        return;
    }
    let mut command = dbond();
    command
        .args(["load", "--server", &server.url, "--count"])
        .arg((entries - now).to_string())
        .args(["--batch", "50", "--concurrency", "16", "--no-check"])
        .args(["--withdraw-percent", "0", "--read-percent", "0"])
        .arg("--admin-key")
        .arg(admin_key)
        .stdout(Stdio::null());
    let status = command.status().expect("dbond load");
    assert!(status.success(), "dbond load failed");
}

fn backup(
    server: &Process,
    key: &Path,
    out: &Path,
    from_size: Option<u64>,
) -> (Duration, u64, serde_json::Value) {
    let mut command = dbond();
    command
        .args(["backup", "--server", &server.url, "--json", "--key"])
        .arg(key)
        .arg("--out")
        .arg(out);
    if let Some(n) = from_size {
        command.args(["--from-size", &n.to_string()]);
    }
    let (took, peak, text) = timed(command);
    (
        took,
        peak,
        serde_json::from_str(text.trim()).expect("backup JSON"),
    )
}

fn main() {
    let settings = Settings::from_env();
    std::fs::create_dir_all(&settings.dir).expect("bench directory");
    let dir = tempfile::tempdir_in(&settings.dir).expect("tempdir");
    let data = dir.path().join("server");
    let mut serve = dbond();
    serve
        .arg("serve")
        .arg("--data")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"]);
    let server = Process::start(serve);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let admin_key = keys::read_private_key(&data.join("admin.key")).expect("admin key");
    let auditor = keys::generate();
    let auditor_file = dir.path().join("auditor.key");
    keys::write_private_key(&auditor_file, &auditor).expect("auditor key");
    let subscribers = rt.block_on(async {
        let admin = Client::connect(&server.url, admin_key.clone())
            .await
            .expect("connect");
        admin
            .register(
                "auditor",
                pb::Role::Auditor,
                &auditor.verifying_key(),
                "Auditor",
            )
            .await
            .expect("register the auditor");
        let mut channels = Vec::new();
        for _ in 0..4 {
            channels.push(dbond::client::channel(&server.url).await.expect("channel"));
        }
        dbond::cli::load::set_up_subscribers(&admin, &channels, "lag", 8, 4)
            .await
            .expect("banks and series")
    });
    let mut follow = dbond();
    follow
        .arg("mirror")
        .args(["--from", &server.url])
        .arg("--data")
        .arg(dir.path().join("mirror"))
        .arg("--key")
        .arg(&auditor_file)
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"]);
    let mirror = Process::start(follow);

    eprintln!(
        "lag: {} subscriptions/s for {:?} with a mirror following",
        settings.rate, settings.window
    );
    let lag = rt.block_on(lag_at_rate(&settings, &server, &subscribers, &mirror));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!();
    println!(
        "| target /s | reached /s | acknowledged | errors | mirror delay p50 | p90 | p99 | max | mirror's lag gauge, max | CPU: server / mirror / load (cores) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    println!(
        "| {} | {:.0} | {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.2} s | {:.2} / {:.2} / {:.2} |",
        settings.rate,
        lag.rate,
        lag.acknowledged,
        lag.errors,
        ms(lag.percentile(0.5)),
        ms(lag.percentile(0.9)),
        ms(lag.percentile(0.99)),
        ms(*lag.delays.last().unwrap_or(&Duration::ZERO)),
        lag.mirror_lag_seconds_max,
        lag.server_cpu,
        lag.mirror_cpu,
        lag.client_cpu
    );
    drop(mirror);

    // 2. Backups of a ledger of `backup_entries`.
    let now = rt.block_on(async {
        let channel = dbond::client::channel(&server.url).await.expect("channel");
        ledger_size(&channel).await
    });
    eprintln!(
        "backup: growing the ledger from {now} to {} entries",
        settings.backup_entries
    );
    grow(
        &server,
        &data.join("admin.key"),
        settings.backup_entries,
        now,
    );
    let out = dir.path().join("backup");
    let (full, full_peak, first) = backup(&server, &auditor_file, &out, None);
    let size = first["size"].as_u64().expect("size");
    grow(&server, &data.join("admin.key"), size + 10_000, size);
    let (more, more_peak, second) = backup(&server, &auditor_file, &out, Some(size));
    let mut verify = dbond();
    verify.arg("verify").arg("--data").arg(&out);
    let (verified, verify_peak, _) = timed(verify);
    println!();
    println!("| backup | entries | added | wall time | entries/s | peak resident |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (what, took, peak, v) in [
        (
            "`dbond backup` into an empty folder",
            full,
            full_peak,
            &first,
        ),
        (
            "`dbond backup --from-size` after 10,000 more",
            more,
            more_peak,
            &second,
        ),
    ] {
        let added = v["added"].as_u64().unwrap_or(0);
        println!(
            "| {what} | {} | {added} | {:.2} s | {:.0} | {peak} MB |",
            v["size"],
            took.as_secs_f64(),
            added as f64 / took.as_secs_f64()
        );
    }
    println!(
        "| `dbond verify --data` of the backup | {} | | {:.2} s | {:.0} | {verify_peak} MB |",
        second["size"],
        verified.as_secs_f64(),
        second["size"].as_u64().unwrap_or(0) as f64 / verified.as_secs_f64()
    );
    println!();
    assert!(lag.acknowledged > 0 && lag.errors == 0, "the load failed");
    assert!(
        lag.delays.iter().all(|d| *d != Duration::MAX),
        "an entry never reached the mirror"
    );
}
