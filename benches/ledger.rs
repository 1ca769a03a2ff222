//! Benchmarks of the ledger's write path and of the machine limits under it: Ed25519
//! sign and verify, SHA-256 of entry bytes, durable sled flushes, then the store alone
//! (`Store::write`, no gRPC) at several concurrencies, which shows what group commit
//! does. The end-to-end gRPC run lives in `benches/appends.rs`.
//!
//! Every measurement is timed by `iter_custom` and also tallied (all work over all
//! time, warm-up included) so that one table at the end puts each figure next to the
//! limit it is bounded by. Criterion's own lines give the confidence intervals.
//!
//! Run: `cargo bench --bench ledger` (about a minute); one part: `-- limits`, `-- store`.
//! Stores live under `CARGO_TARGET_TMPDIR` (the disk the build uses, not a tmpfs);
//! `DBOND_BENCH_DIR` puts them elsewhere.

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use dbond::client::{Client, CommandKind};
use dbond::clock::{Clock, SystemClock};
use dbond::codec;
use dbond::ledger::entry;
use dbond::ledger::keys::{self, KeyId, REQUEST_CONTEXT};
use dbond::ledger::merkle::{self, hash_leaf};
use dbond::proto as pb;
use dbond::registry::ParticipantId;
use dbond::store::{Genesis, Store, WriteRequest};
use ed25519_dalek::SigningKey;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use std::collections::HashSet;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Signatures per batch in the batch-verify benchmark.
const BATCH_VERIFY_SIGNATURES: usize = 64;
/// Inserts per flush in the second sled benchmark.
const SLED_INSERTS_PER_FLUSH: usize = 100;
/// Block written per fdatasync in the disk benchmarks, and the preallocated file's
/// size in blocks (16 MiB).
const DISK_BLOCK_BYTES: usize = 4096;
const DISK_PREALLOCATED_BLOCKS: u64 = 4096;
/// Concurrent writers in the store benchmark (one outstanding write each).
const STORE_CONCURRENCY: [usize; 4] = [1, 8, 64, 256];

/// Where temporary stores go: the build's disk unless `DBOND_BENCH_DIR` says otherwise.
fn bench_dir() -> PathBuf {
    let dir = std::env::var_os("DBOND_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&dir).expect("create the bench directory");
    dir
}

// ---------------------------------------------------------------------------------
// The summary table's tallies.

/// Work and time summed over every call criterion made for one benchmark.
#[derive(Clone, Copy, Default)]
struct Tally {
    /// Operations done (appends, signatures, flushes, hashes).
    elements: u64,
    nanos: u128,
    /// Group commits seen (store benchmarks only).
    groups: u64,
    /// Bytes per element, for MB/s (hash benchmark only).
    bytes_per_element: u64,
    /// The writer thread's time on a core and runnable but waiting for one (store
    /// benchmarks only; Linux).
    writer: Sched,
}

impl Tally {
    fn per_sec(&self) -> f64 {
        if self.nanos == 0 {
            return 0.0;
        }
        self.elements as f64 * 1e9 / self.nanos as f64
    }

    fn micros_per_element(&self) -> f64 {
        if self.elements == 0 {
            return 0.0;
        }
        self.nanos as f64 / 1e3 / self.elements as f64
    }
}

static TALLIES: Mutex<Vec<(String, Tally)>> = Mutex::new(Vec::new());

fn tally(name: &str, elements: u64, elapsed: Duration, groups: u64, bytes_per_element: u64) {
    tally_writer(
        name,
        elements,
        elapsed,
        groups,
        bytes_per_element,
        Sched::default(),
    );
}

fn tally_writer(
    name: &str,
    elements: u64,
    elapsed: Duration,
    groups: u64,
    bytes_per_element: u64,
    writer: Sched,
) {
    let mut all = TALLIES.lock().unwrap_or_else(|e| e.into_inner());
    let i = match all.iter().position(|(n, _)| n == name) {
        Some(i) => i,
        None => {
            all.push((name.to_string(), Tally::default()));
            all.len() - 1
        }
    };
    let t = &mut all[i].1;
    t.elements += elements;
    t.nanos += elapsed.as_nanos();
    t.groups += groups;
    t.bytes_per_element = bytes_per_element;
    t.writer.cpu_ns += writer.cpu_ns;
    t.writer.wait_ns += writer.wait_ns;
}

/// Nanoseconds a thread spent on a core and runnable but waiting for one, from
/// /proc/self/task/<tid>/schedstat. The rest of its wall time it was blocked.
#[derive(Clone, Copy, Debug, Default)]
struct Sched {
    cpu_ns: u64,
    wait_ns: u64,
}

/// Scheduler times of this process's threads named `name`, by thread id.
fn threads_named(name: &str) -> Vec<(u64, Sched)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| {
            let tid = task.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            if comm.trim() != name {
                return None;
            }
            let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            let mut f = stat.split_whitespace().map(|x| x.parse().unwrap_or(0));
            Some((
                tid,
                Sched {
                    cpu_ns: f.next()?,
                    wait_ns: f.next()?,
                },
            ))
        })
        .collect()
}

fn sched_delta(after: &[(u64, Sched)], before: &[(u64, Sched)]) -> Sched {
    after.iter().fold(Sched::default(), |sum, (tid, a)| {
        let b = before
            .iter()
            .find(|(t, _)| t == tid)
            .map(|(_, b)| *b)
            .unwrap_or_default();
        Sched {
            cpu_ns: sum.cpu_ns + (a.cpu_ns - b.cpu_ns),
            wait_ns: sum.wait_ns + (a.wait_ns - b.wait_ns),
        }
    })
}

fn tallied(name: &str) -> Option<Tally> {
    TALLIES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| *t)
        .filter(|t| t.elements > 0)
}

// ---------------------------------------------------------------------------------
// Representative bytes: a signed RegisterParticipant payload and a sealed entry.

const ORIGIN: &str = "diaspora-bonds/bench";

fn register_command(id: &str, public_key: &[u8; 32]) -> CommandKind {
    CommandKind::RegisterParticipant(pb::RegisterParticipant {
        participant_id: id.to_string(),
        role: pb::Role::Bank as i32,
        public_key: public_key.to_vec(),
        display_name: "Bench Bank".into(),
    })
}

/// A client that never connects: only its signing is used. Needs a runtime context.
fn signing_client(rt: &tokio::runtime::Runtime, key: SigningKey, origin: &str) -> Client {
    let _guard = rt.enter();
    let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:9").connect_lazy();
    Client::with_channel(channel, key, origin.to_string())
}

/// A sealed entry exactly as the writer builds one for a registration.
fn sample_entry(admin: &Client, ledger_key: &SigningKey) -> Vec<u8> {
    let participant = keys::generate().verifying_key();
    let signed = admin.sign(register_command("bank-sample", &participant.to_bytes()));
    let event =
        dbond::registry::Event::ParticipantRegistered(dbond::registry::ParticipantRegistered {
            participant_id: ParticipantId::parse("id", "bank-sample").unwrap(),
            role: dbond::registry::Role::Bank,
            public_key: dbond::registry::PublicKey(participant.to_bytes()),
            key_id: KeyId::of(&participant),
            display_name: "Bench Bank".into(),
        });
    entry::seal(
        1,
        codec::timestamp_to_pb(SystemClock.now()),
        &[7u8; 32],
        codec::event_to_pb(&event),
        entry::Origin::Actor(pb::Actor {
            key_id: signed.key_id,
            request: signed.payload,
            signature: signed.signature,
        }),
        ledger_key,
    )
    .bytes
}

fn runtime() -> tokio::runtime::Runtime {
    // The server's shape: one worker per core.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        )
        .enable_all()
        .build()
        .expect("tokio runtime")
}

// ---------------------------------------------------------------------------------
// Machine limits.

fn limits(c: &mut Criterion) {
    let rt = runtime();
    let admin = signing_client(&rt, keys::generate(), ORIGIN);
    let ledger_key = keys::generate();
    let participant = keys::generate().verifying_key();
    let payload = admin
        .sign(register_command("bank-sample", &participant.to_bytes()))
        .payload;
    // Sign and verify the bytes a client really sends for a registration.
    let key = keys::generate();
    let public = key.verifying_key();
    let signature = keys::sign(&key, REQUEST_CONTEXT, &payload).to_bytes();
    assert!(keys::verify(&public, REQUEST_CONTEXT, &payload, &signature));
    let entry_bytes = sample_entry(&admin, &ledger_key);

    let mut group = c.benchmark_group("limits");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ed25519_sign", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(keys::sign(&key, REQUEST_CONTEXT, black_box(&payload)));
            }
            let elapsed = start.elapsed();
            tally("ed25519 sign", iters, elapsed, 0, 0);
            elapsed
        })
    });
    group.bench_function("ed25519_verify_strict", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                assert!(keys::verify(
                    &public,
                    REQUEST_CONTEXT,
                    black_box(&payload),
                    &signature
                ));
            }
            let elapsed = start.elapsed();
            tally("ed25519 verify (strict)", iters, elapsed, 0, 0);
            elapsed
        })
    });

    // The server turns public-key bytes into a point (a field square root) each
    // time it checks a key: in auth, in codec and in the registry's decide and apply.
    let public_bytes = public.to_bytes();
    group.bench_function("parse_public_key", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(keys::parse_public_key(black_box(&public_bytes)).expect("key"));
            }
            let elapsed = start.elapsed();
            tally("parse_public_key (decompress)", iters, elapsed, 0, 0);
            elapsed
        })
    });

    // A batch of distinct keys and payloads, as a batching server would see.
    let signers: Vec<SigningKey> = (0..BATCH_VERIFY_SIGNATURES)
        .map(|_| keys::generate())
        .collect();
    let publics: Vec<_> = signers.iter().map(|k| k.verifying_key()).collect();
    let payloads: Vec<Vec<u8>> = (0..BATCH_VERIFY_SIGNATURES)
        .map(|i| {
            let mut p = payload.clone();
            p.extend_from_slice(&(i as u64).to_be_bytes());
            p
        })
        .collect();
    let signatures: Vec<[u8; 64]> = signers
        .iter()
        .zip(&payloads)
        .map(|(k, p)| keys::sign(k, REQUEST_CONTEXT, p).to_bytes())
        .collect();
    let items: Vec<keys::BatchItem<'_>> = (0..BATCH_VERIFY_SIGNATURES)
        .map(|i| {
            (
                &publics[i],
                REQUEST_CONTEXT,
                payloads[i].as_slice(),
                signatures[i].as_slice(),
            )
        })
        .collect();
    group.throughput(Throughput::Elements(BATCH_VERIFY_SIGNATURES as u64));
    group.bench_function("ed25519_verify_batch_64", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                assert!(keys::verify_batch(black_box(&items)));
            }
            let elapsed = start.elapsed();
            tally(
                "ed25519 batch verify (64)",
                iters * BATCH_VERIFY_SIGNATURES as u64,
                elapsed,
                0,
                0,
            );
            elapsed
        })
    });

    group.throughput(Throughput::Bytes(entry_bytes.len() as u64));
    group.bench_function(format!("sha256_leaf_{}_bytes", entry_bytes.len()), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(hash_leaf(black_box(&entry_bytes)));
            }
            let elapsed = start.elapsed();
            tally(
                "sha256 leaf hash",
                iters,
                elapsed,
                0,
                entry_bytes.len() as u64,
            );
            elapsed
        })
    });
    group.finish();

    // Durable writes: the store's own sled settings (no background flusher).
    let mut group = c.benchmark_group("limits_sled");
    group.sampling_mode(SamplingMode::Flat);
    let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(256 << 20)
        .flush_every_ms(None)
        .open()
        .expect("open sled");
    let tree = db.open_tree("bench").expect("open tree");
    let value = entry_bytes.clone();
    let mut next_key = 0u64;
    group.throughput(Throughput::Elements(1));
    group.bench_function("insert_flush_1", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                next_key += 1;
                tree.insert(next_key.to_be_bytes(), value.as_slice())
                    .expect("insert");
                db.flush().expect("flush");
            }
            let elapsed = start.elapsed();
            tally("sled insert + flush", iters, elapsed, iters, 0);
            elapsed
        })
    });
    // sled 0.34's flush ends in sync_file_range, which neither flushes the drive's
    // write cache nor the file's size; fdatasync on its file does both. This is the
    // price of an acknowledgement that survives power loss, not only a crash.
    let db_file = std::fs::File::open(dir.path().join("db")).expect("open sled's db file");
    group.bench_function("insert_flush_fdatasync_1", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                next_key += 1;
                tree.insert(next_key.to_be_bytes(), value.as_slice())
                    .expect("insert");
                db.flush().expect("flush");
                db_file.sync_data().expect("fdatasync");
            }
            let elapsed = start.elapsed();
            tally("sled insert + flush + fdatasync", iters, elapsed, iters, 0);
            elapsed
        })
    });
    // The disk's own limits. Overwriting a block of a preallocated file needs no
    // metadata, so fdatasync is one device cache flush; appending also grows the
    // file, so each fdatasync commits the file system's journal too.
    let block = vec![0x5au8; DISK_BLOCK_BYTES];
    let preallocated = {
        use std::io::Write;
        let mut f = std::fs::File::create(dir.path().join("preallocated")).expect("create file");
        for _ in 0..DISK_PREALLOCATED_BLOCKS {
            f.write_all(&block).expect("preallocate");
        }
        f.sync_all().expect("fsync");
        f
    };
    let mut block_index = 0u64;
    group.bench_function("file_overwrite_4k_fdatasync", |b| {
        b.iter_custom(|iters| {
            use std::os::unix::fs::FileExt;
            let start = Instant::now();
            for _ in 0..iters {
                block_index = (block_index + 1) % DISK_PREALLOCATED_BLOCKS;
                preallocated
                    .write_all_at(&block, block_index * DISK_BLOCK_BYTES as u64)
                    .expect("write");
                preallocated.sync_data().expect("fdatasync");
            }
            let elapsed = start.elapsed();
            tally("file 4 KiB overwrite + fdatasync", iters, elapsed, iters, 0);
            elapsed
        })
    });
    let mut appended = std::fs::File::create(dir.path().join("appended")).expect("create file");
    group.bench_function("file_append_4k_fdatasync", |b| {
        b.iter_custom(|iters| {
            use std::io::Write;
            let start = Instant::now();
            for _ in 0..iters {
                appended.write_all(&block).expect("write");
                appended.sync_data().expect("fdatasync");
            }
            let elapsed = start.elapsed();
            tally("file 4 KiB append + fdatasync", iters, elapsed, iters, 0);
            elapsed
        })
    });
    group.throughput(Throughput::Elements(SLED_INSERTS_PER_FLUSH as u64));
    group.bench_function(format!("insert_{SLED_INSERTS_PER_FLUSH}_flush_1"), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let mut batch = sled::Batch::default();
                for _ in 0..SLED_INSERTS_PER_FLUSH {
                    next_key += 1;
                    batch.insert(next_key.to_be_bytes().to_vec(), value.as_slice());
                }
                tree.apply_batch(batch).expect("apply batch");
                db.flush().expect("flush");
            }
            let elapsed = start.elapsed();
            tally(
                "sled 100 inserts + flush",
                iters * SLED_INSERTS_PER_FLUSH as u64,
                elapsed,
                iters,
                0,
            );
            elapsed
        })
    });
    group.finish();
}

// ---------------------------------------------------------------------------------
// The store alone.

/// A fresh ledger and the admin that signs registrations for it.
struct StoreRig {
    rt: tokio::runtime::Runtime,
    ledger: Store,
    admin: Client,
    next_participant: u64,
    _dir: tempfile::TempDir,
}

impl StoreRig {
    fn new() -> StoreRig {
        let rt = runtime();
        let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
        let ledger_key = keys::generate();
        let admin_key = keys::generate();
        let ledger = Store::create(
            &dir.path().join("store"),
            &ledger_key,
            Genesis {
                origin: ORIGIN.into(),
                admin_participant_id: ParticipantId::parse("admin", "admin").unwrap(),
                admin_key: &admin_key,
            },
            Arc::new(SystemClock),
        )
        .expect("create ledger");
        let origin = ledger.identity().origin.clone();
        let admin = signing_client(&rt, admin_key, &origin);
        StoreRig {
            rt,
            ledger,
            admin,
            next_participant: 0,
            _dir: dir,
        }
    }

    /// `count` signed registrations of fresh participants, built on every core
    /// (outside the timed part).
    fn requests(&mut self, count: usize) -> Vec<WriteRequest> {
        let first = self.next_participant;
        self.next_participant += count as u64;
        let admin = &self.admin;
        (0..count as u64)
            .into_par_iter()
            .map(|i| {
                let participant = keys::generate().verifying_key();
                let command =
                    register_command(&format!("bank-{}", first + i), &participant.to_bytes());
                let signed = admin.sign(command.clone());
                WriteRequest {
                    key_id: KeyId::parse(&signed.key_id).expect("key id"),
                    payload: signed.payload,
                    signature: signed.signature,
                    command: codec::command_from_kind(&command).expect("command"),
                }
            })
            .collect()
    }

    /// Runs `per_writer` appends on each of `writers` concurrent writers; returns
    /// the time, the number of group commits (distinct tree sizes in receipts) and
    /// what the ledger's writer thread did meanwhile.
    fn run(&mut self, writers: usize, per_writer: usize) -> (Duration, u64, Sched) {
        let mut requests = self.requests(writers * per_writer);
        let mut lanes: Vec<Vec<WriteRequest>> = Vec::with_capacity(writers);
        for _ in 0..writers {
            let rest = requests.split_off(requests.len() - per_writer);
            lanes.push(rest);
        }
        let ledger = self.ledger.clone();
        let writer_before = threads_named("ledger-writer");
        let start = Instant::now();
        let sizes = self.rt.block_on(async move {
            let mut tasks = tokio::task::JoinSet::new();
            for lane in lanes {
                let ledger = ledger.clone();
                tasks.spawn(async move {
                    let mut sizes = Vec::with_capacity(lane.len());
                    for request in lane {
                        let committed = ledger.write(request).await.expect("append");
                        sizes.push(committed.tree_size);
                    }
                    sizes
                });
            }
            let mut sizes = HashSet::new();
            while let Some(lane) = tasks.join_next().await {
                sizes.extend(lane.expect("writer task"));
            }
            sizes
        });
        let elapsed = start.elapsed();
        let writer = sched_delta(&threads_named("ledger-writer"), &writer_before);
        (elapsed, sizes.len() as u64, writer)
    }
}

fn store(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_append");
    group.sampling_mode(SamplingMode::Flat);
    for writers in STORE_CONCURRENCY {
        let mut rig = StoreRig::new();
        // One criterion iteration is one append by each writer, so every writer has
        // work to the end of a sample and no sample ends on a half-empty group.
        group.throughput(Throughput::Elements(writers as u64));
        group.bench_function(BenchmarkId::new("concurrency", writers), |b| {
            b.iter_custom(|iters| {
                let (elapsed, groups, writer) = rig.run(writers, iters as usize);
                tally_writer(
                    &format!("store append, concurrency {writers}"),
                    iters * writers as u64,
                    elapsed,
                    groups,
                    0,
                    writer,
                );
                elapsed
            })
        });
        assert!(rig.ledger.failure().is_none(), "the writer stopped");
    }
    group.finish();
}

// ---------------------------------------------------------------------------------
// The table.

fn print_summary() {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!();
    println!(
        "## dbond ledger benchmarks ({cores} cores; total work / total time over every call, warm-up included)"
    );
    println!();
    println!("| figure | per second | µs each | compared with | that /s | ratio |");
    println!("|---|---:|---:|---|---:|---:|");
    let sign = tallied("ed25519 sign");
    let verify = tallied("ed25519 verify (strict)");
    let disk_sync = tallied("file 4 KiB overwrite + fdatasync");
    let row = |name: &str, t: &Tally, compared: Option<(&str, Option<Tally>)>| {
        let (what, per_sec, ratio) = match compared {
            Some((what, Some(c))) if c.per_sec() > 0.0 => (
                what.to_string(),
                format!("{:.0}", c.per_sec()),
                format!("{:.2}", t.per_sec() / c.per_sec()),
            ),
            _ => (String::new(), String::new(), String::new()),
        };
        println!(
            "| {name} | {:.0} | {:.2} | {what} | {per_sec} | {ratio} |",
            t.per_sec(),
            t.micros_per_element()
        );
    };
    let note = |text: String| println!("| &nbsp;&nbsp;{text} | | | | | |");
    for (name, label, compared) in [
        ("ed25519 sign", "ed25519 sign (one core)", None),
        (
            "ed25519 verify (strict)",
            "ed25519 verify_strict (one core)",
            None,
        ),
        (
            "ed25519 batch verify (64)",
            "ed25519 batch verify, 64 per batch, per signature",
            Some(("verify_strict", verify)),
        ),
        (
            "parse_public_key (decompress)",
            "parse_public_key (point decompression, one core)",
            None,
        ),
        ("sha256 leaf hash", "SHA-256 leaf hash of one entry", None),
        (
            "file 4 KiB overwrite + fdatasync",
            "disk: 4 KiB overwrite + fdatasync (preallocated file)",
            None,
        ),
        (
            "file 4 KiB append + fdatasync",
            "disk: 4 KiB append + fdatasync (file grows)",
            Some(("disk fdatasync", disk_sync)),
        ),
        (
            "sled insert + flush",
            "sled insert + flush (sync_file_range)",
            Some(("disk fdatasync", disk_sync)),
        ),
        (
            "sled insert + flush + fdatasync",
            "sled insert + flush + fdatasync",
            Some(("disk fdatasync", disk_sync)),
        ),
        (
            "sled 100 inserts + flush",
            "sled 100 inserts + flush, per insert",
            None,
        ),
    ] {
        if let Some(t) = tallied(name) {
            row(label, &t, compared);
            if t.bytes_per_element > 0 {
                note(format!(
                    "{} bytes per entry: {:.0} MB/s",
                    t.bytes_per_element,
                    t.per_sec() * t.bytes_per_element as f64 / 1e6
                ));
            }
        }
    }
    for writers in STORE_CONCURRENCY {
        let Some(t) = tallied(&format!("store append, concurrency {writers}")) else {
            continue;
        };
        // The writer thread signs every entry on one core: that is its ceiling.
        row(
            &format!("store append, {writers} concurrent writers"),
            &t,
            Some(("writer's signing (1 core)", sign)),
        );
        if t.groups > 0 {
            note(format!(
                "{:.1} appends per group commit, {:.0} flushes/s",
                t.elements as f64 / t.groups as f64,
                t.groups as f64 * 1e9 / t.nanos as f64
            ));
        }
        if t.writer.cpu_ns > 0 {
            let on = t.writer.cpu_ns as f64 / t.nanos as f64;
            let waiting = t.writer.wait_ns as f64 / t.nanos as f64;
            note(format!(
                "writer thread {:.1} µs CPU per append (ceiling {:.0}/s); on a core {:.0}%, \
                 waiting for one {:.0}%, blocked (flush or no work) {:.0}%",
                t.writer.cpu_ns as f64 / 1e3 / t.elements as f64,
                t.elements as f64 * 1e9 / t.writer.cpu_ns as f64,
                on * 100.0,
                waiting * 100.0,
                (1.0 - on - waiting).max(0.0) * 100.0
            ));
        }
    }
    if let (Some(s), Some(v)) = (sign, verify) {
        let per_append_us = s.micros_per_element() + v.micros_per_element();
        let limit = cores as f64 * 1e6 / per_append_us;
        let with_client = cores as f64 * 1e6 / (per_append_us + s.micros_per_element());
        println!();
        println!(
            "signature-work limit: {cores} cores / (verify {:.1} µs + sign {:.1} µs) = {limit:.0} appends/s \
             (target: half, {:.0}/s); with a client signing on the same cores: {with_client:.0}/s",
            v.micros_per_element(),
            s.micros_per_element(),
            limit / 2.0
        );
    }
    println!();
}

/// Inclusion and consistency proofs over a tree of `DBOND_BENCH_MERKLE_LEAVES`
/// leaves (default ten million; a thousand in the smoke pass), the tree part of a
/// proof at that size. The store holds every level in memory too, so a proof
/// through it reads nothing from sled (section 7 of docs/BENCHMARKS.md measures
/// proofs through the store up to ten million entries).
fn merkle_proofs(c: &mut Criterion) {
    let bench = std::env::args().any(|a| a == "--bench");
    let leaves: u64 = std::env::var("DBOND_BENCH_MERKLE_LEAVES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench { 10_000_000 } else { 1_000 });
    let started = Instant::now();
    // Every level in memory, leaves included, as the store keeps them: its own
    // `NodeLevels`.
    let mut tree = dbond::store::NodeLevels::default();
    let mut frontier = merkle::Frontier::new();
    for i in 0..leaves {
        let leaf = merkle::hash_leaf(&i.to_be_bytes());
        frontier.append(leaf, |level, index, hash| tree.push(level, index, *hash));
    }
    eprintln!(
        "merkle tree of {leaves} leaves built in {:.1?}",
        started.elapsed()
    );
    let root = frontier.root();
    let mut group = c.benchmark_group(format!("merkle_{leaves}"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    group.bench_function("inclusion_proof", |b| {
        b.iter(|| {
            let index = rng.gen_range(0..leaves);
            merkle::inclusion_proof(index, leaves, &tree).unwrap()
        })
    });
    group.bench_function("consistency_proof", |b| {
        b.iter(|| {
            let old = rng.gen_range(1..=leaves);
            merkle::consistency_proof(old, leaves, &tree).unwrap()
        })
    });
    // The proofs verify: what was measured is what a client checks.
    let index = leaves / 3;
    let proof = merkle::inclusion_proof(index, leaves, &tree).unwrap();
    let leaf = merkle::NodeReader::node(&tree, 0, index).unwrap();
    merkle::verify_inclusion(&leaf, index, leaves, &proof, &root)
        .expect("the inclusion proof verifies");
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    limits(&mut c);
    store(&mut c);
    merkle_proofs(&mut c);
    c.final_summary();
    print_summary();
}
