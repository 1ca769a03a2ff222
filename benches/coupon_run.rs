//! The coupon run at scale: a series issued to N holdings (default 100,000;
//! `DBOND_BENCH_HOLDINGS=1000000` for the issue's million), then
//!   1. accrual of every holding as of one date (the pure engine over the state);
//!   2. the coupon run: the engine posts the record date and the coupon, every
//!      per-holding payment its own signed entry, all durable (one atomic batch).
//!
//! Then, on the ledger that built (about 5 entries per holding), how cost grows
//! with ledger size:
//!   3. offline verification of the whole store (`dbond verify --data`), next to the
//!      batch signature-verification limit of the same cores;
//!   4. opening the store (full replay and cross-check, as `dbond serve` starts);
//!   5. inclusion and consistency proofs at that size;
//!   6. durable appends at that size (concurrent participant registrations).
//!
//! Everything runs in process on the real store (no gRPC), with a simulated clock.
//! Setting up N holdings takes a while (N subscriptions, allotment, N settlements,
//! issue); only the steps above are timed.
//!
//! The build goes in stages, each process handing on to a fresh process image
//! (`exec`) after `DBOND_BENCH_SEGMENT` entries (default 1,000,000) and before each
//! event that writes an entry per holding in one batch (allotment, issue, coupon
//! run), so that each timed step starts from a fresh heap, as section 5 of
//! docs/BENCHMARKS.md measures it (`DBOND_BENCH_ONE_PROCESS` runs the programme
//! in one process instead). The data folder keeps the keys and a `progress` file
//! between the stages.
//!
//! Run: `cargo bench --bench coupon_run` (add `DBOND_BENCH_HOLDINGS=1000000`;
//! `DBOND_BENCH_HOLDINGS=2000` gives a ledger of about 10,000 entries, 200000 about
//! a million). `DBOND_BENCH_DIR` puts the store elsewhere than target/tmp.
//! Under `cargo test --benches` it runs a 200-holding smoke pass.
//!
//! `DBOND_BENCH_ONE_PROCESS=1`: the whole programme (N subscriptions, allotment,
//! N settlements, issue, the coupon run) in one process, as one server takes it,
//! with the server's allocator setting (freed memory kept, `src/main.rs`). After
//! each stage it prints a `memory` line: resident memory (`VmRSS`), the peak since
//! the last line (`VmHWM`, reset with `/proc/self/clear_refs`), the heap the
//! program holds (counted by this bench's allocator) and its peak. Then it closes
//! the store and opens it in a fresh process image, the same lines after the open,
//! so the end of the run compares with a restart; steps 3 to 6 are skipped.
//!
//! `DBOND_BENCH_ENTRIES=N`: after step 2, the engine goes on posting the later
//! coupons (as when catching up after a long stop) until the ledger has N entries,
//! for steps 3 to 6 at that size: `DBOND_BENCH_HOLDINGS=1000000
//! DBOND_BENCH_ENTRIES=10000000` is a million holders and five more coupons, ten
//! million entries.

use chrono::{DateTime, Utc};
use dbond::accrual;
use dbond::client::{CommandKind, nonce, sign_request};
use dbond::clock::{Clock, ManualClock};
use dbond::ledger::keys::{self, KeyId};
use dbond::proto as pb;
use dbond::registry::coupons::{self, EngineSeries};
use dbond::registry::subscriptions::SubscriptionStatus;
use dbond::registry::{ParticipantId, SeriesId};
use dbond::store::{Genesis, Store, WriteRequest};
use dbond_testkit::{Life, Terms, at};
use ed25519_dalek::SigningKey;
use std::sync::Arc;
use std::time::Instant;

/// The global allocator: mimalloc, as in the `dbond` binary (src/main.rs), with
/// the bytes the program holds counted, so that a `memory` line can tell what the
/// program holds from what the allocator keeps.
struct Counting;

static HEAP_BYTES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

// SAFETY: every call goes to mimalloc unchanged; the counter is only a statistic.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        HEAP_BYTES.fetch_add(layout.size(), std::sync::atomic::Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        HEAP_BYTES.fetch_add(layout.size(), std::sync::atomic::Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        HEAP_BYTES.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        HEAP_BYTES.fetch_add(new, std::sync::atomic::Ordering::Relaxed);
        HEAP_BYTES.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The largest `HEAP_BYTES` the sampler saw since the last `memory` line.
static HEAP_PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Samples the heap every 20 ms for its peak (a statistic: a peak shorter than
/// that can be missed).
fn sample_heap() {
    std::thread::spawn(|| {
        loop {
            let now = HEAP_BYTES.load(std::sync::atomic::Ordering::Relaxed);
            HEAP_PEAK.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
}

/// True under `DBOND_BENCH_ONE_PROCESS`: the whole programme in one process.
fn one_process() -> bool {
    std::env::var_os("DBOND_BENCH_ONE_PROCESS").is_some()
}

/// A field of /proc/self/status in MB.
fn status_mb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| {
                l[field.len()..]
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        })
        .map_or(0, |kb| kb / 1024)
}

/// Prints one point of the memory curve: after `stage`, with the ledger at
/// `size` entries. Then resets the kernel's peak (`VmHWM`) and the heap's, so
/// that the next line's peaks are that stage's.
fn memory_line(stage: &str, size: u64) {
    let heap = HEAP_BYTES.load(std::sync::atomic::Ordering::Relaxed);
    let heap_peak = HEAP_PEAK
        .fetch_max(heap, std::sync::atomic::Ordering::Relaxed)
        .max(heap);
    println!(
        "memory {stage:<22} entries {size:>9}  rss {:>6} MB  peak rss {:>6} MB  heap {:>6} MB  peak heap {:>6} MB",
        status_mb("VmRSS:"),
        status_mb("VmHWM:"),
        heap >> 20,
        heap_peak >> 20,
    );
    // "5" resets VmHWM to the current resident size (Linux 4.0 and later).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    HEAP_PEAK.store(heap, std::sync::atomic::Ordering::Relaxed);
}

/// What the server does first thing (src/main.rs): mimalloc keeps the memory it
/// frees, unless `MIMALLOC_PURGE_DELAY` says otherwise.
fn keep_freed_memory_as_the_server_does() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: called first thing in `main`, before any other thread exists;
        // 15 is `mi_option_purge_delay` (src/main.rs checks the number).
        unsafe { libmimalloc_sys::mi_option_set(15, -1) }
    }
}

/// This process's peak resident memory (`VmHWM`), as the kernel reports it.
fn peak_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

struct World {
    ledger: Store,
    clock: Arc<ManualClock>,
}

impl World {
    fn request(&self, key: &SigningKey, kind: CommandKind) -> WriteRequest {
        let signed = sign_request(
            key,
            &self.ledger.identity().origin,
            kind.clone(),
            self.clock.now(),
            &nonce(),
        );
        WriteRequest {
            key_id: KeyId::of(&key.verifying_key()),
            payload: signed.payload,
            signature: signed.signature,
            command: dbond::codec::command_from_kind(&kind).expect("valid command"),
        }
    }

    async fn run(&self, key: &SigningKey, kind: CommandKind) -> dbond::store::Committed {
        self.ledger
            .write(self.request(key, kind))
            .await
            .expect("write")
    }

    /// The engine posts one accrual event of the bench's series.
    async fn post(&self, engine: &SigningKey, event_id: String) {
        self.run(
            engine,
            CommandKind::PostAccrualEvent(pb::PostAccrualEvent {
                series_id: SERIES.into(),
                event_id,
            }),
        )
        .await;
    }

    /// Many writes concurrently (group commit), in chunks.
    async fn run_many(&self, key: &SigningKey, kinds: Vec<CommandKind>) {
        for chunk in kinds.chunks(4096) {
            let futures: Vec<_> = chunk
                .iter()
                .map(|k| self.ledger.write(self.request(key, k.clone())))
                .collect();
            for r in futures::future::join_all(futures).await {
                r.expect("write");
            }
        }
    }
}

/// The bench's series: sold in December 2026, 13 years from 2027-01-15.
fn terms(cap: u64) -> pb::SeriesTerms {
    Terms::new("BENCH-2030-USD", Life::december_2026(13))
        .name("bench")
        .cap_units(cap)
        .build()
}

fn main() {
    if one_process() {
        keep_freed_memory_as_the_server_does();
        sample_heap();
    }
    let bench = std::env::args().any(|a| a == "--bench");
    let n: u64 = if bench {
        std::env::var("DBOND_BENCH_HOLDINGS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000)
    } else {
        200
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Some(root) = std::env::var_os("DBOND_BENCH_REOPEN") {
        return rt.block_on(reopen(root.into()));
    }
    match (
        std::env::var_os("DBOND_BENCH_MEASURE"),
        std::env::var_os("DBOND_BENCH_RESUME"),
    ) {
        (Some(root), _) => rt.block_on(measure(root.into())),
        (None, Some(root)) => rt.block_on(resume(root.into(), n)),
        (None, None) => rt.block_on(run(n)),
    }
}

/// Entries one process writes before it hands on to a fresh process image
/// (`DBOND_BENCH_SEGMENT`, default 1,000,000): a large ledger is built in
/// segments, each in a process of its own with a fresh heap; none under
/// `DBOND_BENCH_ONE_PROCESS`.
fn segment() -> u64 {
    if one_process() {
        return u64::MAX;
    }
    std::env::var("DBOND_BENCH_SEGMENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// The keys of a staged build, kept beside the store so that a fresh process can
/// go on where the last one stopped.
struct Keys {
    ledger: SigningKey,
    admin: SigningKey,
    treasury: SigningKey,
    bank: SigningKey,
    engine: SigningKey,
}

const KEY_FILES: [&str; 5] = ["ledger", "admin", "treasury", "bank", "engine"];

impl Keys {
    fn generate() -> Keys {
        Keys {
            ledger: keys::generate(),
            admin: keys::generate(),
            treasury: keys::generate(),
            bank: keys::generate(),
            engine: keys::generate(),
        }
    }

    fn all(&self) -> [&SigningKey; 5] {
        [
            &self.ledger,
            &self.admin,
            &self.treasury,
            &self.bank,
            &self.engine,
        ]
    }

    fn save(&self, root: &std::path::Path) {
        for (name, key) in KEY_FILES.iter().zip(self.all()) {
            keys::write_private_key(&root.join(format!("{name}.key")), key).unwrap();
        }
    }

    fn load(root: &std::path::Path) -> Keys {
        let read = |name: &str| keys::read_private_key(&root.join(format!("{name}.key"))).unwrap();
        Keys {
            ledger: read("ledger"),
            admin: read("admin"),
            treasury: read("treasury"),
            bank: read("bank"),
            engine: read("engine"),
        }
    }
}

/// Where a staged build stands: the next stage and the index of the first
/// subscription entry (settlements name subscriptions by it).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Stage {
    Subscribe,
    Allot,
    Settle,
    Issue,
    Coupon,
    LaterCoupons,
}

fn save_progress(root: &std::path::Path, stage: Stage, first_sub: u64) {
    std::fs::write(root.join("progress"), format!("{stage:?} {first_sub}")).unwrap();
}

fn load_progress(root: &std::path::Path) -> (Stage, u64) {
    let text = std::fs::read_to_string(root.join("progress")).unwrap();
    let (stage, first) = text.split_once(' ').unwrap();
    let stage = [
        Stage::Subscribe,
        Stage::Allot,
        Stage::Settle,
        Stage::Issue,
        Stage::Coupon,
        Stage::LaterCoupons,
    ]
    .into_iter()
    .find(|s| format!("{s:?}") == stage)
    .unwrap();
    (stage, first.parse().unwrap())
}

/// The simulated date each stage runs on.
fn stage_time(stage: Stage) -> DateTime<Utc> {
    match stage {
        Stage::Subscribe => at(2026, 12, 2),
        Stage::Allot | Stage::Settle | Stage::Issue => at(2027, 1, 11),
        Stage::Coupon => at(2027, 7, 20),
        Stage::LaterCoupons => at(2039, 12, 31),
    }
}

/// Saves where the build stands, closes the ledger and goes on in a fresh process
/// image (which frees everything this one holds).
fn hand_on(w: World, root: &std::path::Path, stage: Stage, first_sub: u64) -> ! {
    save_progress(root, stage, first_sub);
    eprintln!(
        "{stage:?}: ledger at {} entries; going on in a fresh process (this one's peak memory {})",
        w.ledger.size(),
        peak_memory()
    );
    w.ledger.close().unwrap();
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(std::env::current_exe().unwrap())
        .args(std::env::args_os().skip(1))
        .env("DBOND_BENCH_RESUME", root)
        .exec();
    panic!("cannot re-run the bench to go on: {err}");
}

async fn run(n: u64) {
    let base =
        std::env::var("DBOND_BENCH_DIR").unwrap_or_else(|_| env!("CARGO_TARGET_TMPDIR").into());
    let root = tempfile::tempdir_in(base).unwrap().keep();
    let clock = Arc::new(ManualClock::new(at(2026, 11, 20)));
    let k = Keys::generate();
    k.save(&root);
    let ledger = Store::create(
        &root.join("store"),
        &k.ledger,
        Genesis {
            origin: "bench/coupon-run".into(),
            admin_participant_id: ParticipantId::parse("id", "admin").unwrap(),
            admin_key: &k.admin,
        },
        clock.clone(),
    )
    .unwrap();
    let w = World {
        ledger,
        clock: clock.clone(),
    };
    for (id, role, key) in [
        ("treasury", pb::Role::Treasury, &k.treasury),
        ("bank", pb::Role::Bank, &k.bank),
        ("engine", pb::Role::Engine, &k.engine),
    ] {
        w.run(
            &k.admin,
            CommandKind::RegisterParticipant(pb::RegisterParticipant {
                participant_id: id.into(),
                role: role as i32,
                public_key: key.verifying_key().to_bytes().to_vec(),
                display_name: id.into(),
            }),
        )
        .await;
    }
    w.run(
        &k.treasury,
        CommandKind::CreateSeries(pb::CreateSeries {
            terms: Some(terms(n * 100)),
        }),
    )
    .await;
    w.run(
        &k.treasury,
        CommandKind::OpenSeries(pb::OpenSeries {
            series_id: SERIES.into(),
        }),
    )
    .await;
    let first_sub = w.ledger.size();
    go_on(w, &root, &k, n, Stage::Subscribe, first_sub).await
}

/// A later process of a staged build.
async fn resume(root: std::path::PathBuf, n: u64) {
    let (stage, first_sub) = load_progress(&root);
    let k = Keys::load(&root);
    let clock = Arc::new(ManualClock::new(stage_time(stage)));
    let t = Instant::now();
    let ledger = Store::open(&root.join("store"), k.ledger.clone(), clock.clone()).unwrap();
    eprintln!(
        "{stage:?}: opened {} entries in {:.1?}",
        ledger.size(),
        t.elapsed()
    );
    go_on(World { ledger, clock }, &root, &k, n, stage, first_sub).await
}

const SERIES: &str = "BENCH-2030-USD";

/// The ledger size `DBOND_BENCH_ENTRIES` asks for, if any: after the timed coupon
/// run, the engine posts the later coupons (one entry per holding each, catching
/// up as after a long stop) until the ledger is that large.
fn entries_wanted() -> Option<u64> {
    std::env::var("DBOND_BENCH_ENTRIES")
        .ok()
        .map(|v| v.parse().expect("DBOND_BENCH_ENTRIES is a number"))
}

/// Runs the stages from `stage` on: the programme (N subscriptions, allotment, N
/// settlements, issue), then steps 1 and 2, then steps 3 to 6 in a fresh process.
/// A process hands on after `segment()` entries, and before each event that
/// changes a record per holding in one batch (allotment, issue, coupon run), so
/// that each of those starts from a fresh heap (not under
/// `DBOND_BENCH_ONE_PROCESS`, which runs every stage in this process).
async fn go_on(w: World, root: &std::path::Path, k: &Keys, n: u64, stage: Stage, first_sub: u64) {
    let opened_at = w.ledger.size();
    let budget_spent = |w: &World| w.ledger.size() - opened_at >= segment();
    let started = Instant::now();
    let mut stage = stage;
    loop {
        w.clock.set(stage_time(stage));
        match stage {
            Stage::Subscribe => {
                let mut next = w.ledger.size() - first_sub;
                while next < n {
                    if budget_spent(&w) {
                        hand_on(w, root, stage, first_sub);
                    }
                    let count = (n - next).min(16_384);
                    let subs: Vec<CommandKind> = (next..next + count)
                        .map(|i| {
                            CommandKind::SubmitSubscription(pb::SubmitSubscription {
                                series_id: SERIES.into(),
                                investor_ref: format!("inv-{i}"),
                                category: pb::DiasporaCategory::CitizenAbroad as i32,
                                country: "DE".into(),
                                units: (1 + i % 100).to_string(),
                                idempotency_key: format!("k{i}"),
                                registration: None,
                            })
                        })
                        .collect();
                    w.run_many(&k.bank, subs).await;
                    let done = w.ledger.size() - first_sub;
                    if one_process() && done < n && done * 4 / n > next * 4 / n {
                        memory_line(&format!("{done} subscriptions"), w.ledger.size());
                    }
                    next = done;
                }
                if one_process() {
                    memory_line(&format!("{n} subscriptions"), w.ledger.size());
                }
                eprintln!(
                    "{n} subscriptions; {:.1?} in this process (peak memory {})",
                    started.elapsed(),
                    peak_memory()
                );
                stage = Stage::Allot;
            }
            Stage::Allot => {
                if w.ledger.size() > opened_at && !one_process() {
                    hand_on(w, root, stage, first_sub);
                }
                for kind in [
                    CommandKind::CloseSeries(pb::CloseSeries {
                        series_id: SERIES.into(),
                    }),
                    CommandKind::AllotSeries(pb::AllotSeries {
                        series_id: SERIES.into(),
                    }),
                ] {
                    w.run(&k.treasury, kind).await;
                }
                eprintln!("closed and allotted (peak memory {})", peak_memory());
                if one_process() {
                    memory_line("allotment", w.ledger.size());
                }
                stage = Stage::Settle;
            }
            Stage::Settle => {
                let id = SeriesId::parse("id", SERIES).unwrap();
                loop {
                    let unsettled: Vec<u64> = w.ledger.read(|p| {
                        p.state
                            .book(&id)
                            .filter(|s| {
                                s.status == SubscriptionStatus::Allotted && s.allotted_units > 0
                            })
                            .map(|s| s.subscription_id)
                            .take(16_384)
                            .collect()
                    });
                    if unsettled.is_empty() {
                        break;
                    }
                    if budget_spent(&w) {
                        hand_on(w, root, stage, first_sub);
                    }
                    let settles: Vec<CommandKind> = unsettled
                        .into_iter()
                        .map(|subscription_id| {
                            CommandKind::ConfirmSettlement(pb::ConfirmSettlement {
                                subscription_id,
                            })
                        })
                        .collect();
                    w.run_many(&k.bank, settles).await;
                }
                eprintln!("settled (peak memory {})", peak_memory());
                if one_process() {
                    memory_line("settlement", w.ledger.size());
                }
                stage = Stage::Issue;
            }
            Stage::Issue => {
                if w.ledger.size() > opened_at && !one_process() {
                    hand_on(w, root, stage, first_sub);
                }
                w.run(
                    &k.treasury,
                    CommandKind::IssueSeries(pb::IssueSeries {
                        series_id: SERIES.into(),
                    }),
                )
                .await;
                eprintln!(
                    "{n} holdings issued; ledger has {} entries (peak memory {})",
                    w.ledger.size(),
                    peak_memory()
                );
                if one_process() {
                    memory_line("issue", w.ledger.size());
                }
                stage = Stage::Coupon;
            }
            Stage::Coupon => {
                if w.ledger.size() > opened_at && !one_process() {
                    hand_on(w, root, stage, first_sub);
                }
                coupon_run(&w, k, n).await;
                if one_process() {
                    memory_line("coupon run", w.ledger.size());
                    return reopen_in_a_fresh_process(w, root);
                }
                match entries_wanted() {
                    Some(wanted) if w.ledger.size() < wanted => stage = Stage::LaterCoupons,
                    _ => return measure_in_a_fresh_process(w, root),
                }
            }
            Stage::LaterCoupons => {
                let wanted = entries_wanted().unwrap_or(0);
                let id = SeriesId::parse("id", SERIES).unwrap();
                while w.ledger.size() < wanted {
                    // Only the next event is needed, not every later coupon's payments.
                    let due = w.ledger.read(|p| {
                        coupons::due_limited(&p.state, &id, w.clock.now().date_naive(), 1).unwrap()
                    });
                    let Some(next) = due.due.first() else {
                        eprintln!(
                            "nothing more is due: the ledger stays at {} entries",
                            w.ledger.size()
                        );
                        break;
                    };
                    if budget_spent(&w) {
                        hand_on(w, root, stage, first_sub);
                    }
                    let t = Instant::now();
                    let before = w.ledger.size();
                    w.post(&k.engine, next.id().to_string()).await;
                    eprintln!(
                        "{}: {} entries in {:.1?}; ledger at {} (peak memory {})",
                        next.id(),
                        w.ledger.size() - before,
                        t.elapsed(),
                        w.ledger.size(),
                        peak_memory()
                    );
                }
                return measure_in_a_fresh_process(w, root);
            }
        }
    }
}

/// Steps 1 and 2 on the issued series, in a process that did nothing else.
async fn coupon_run(w: &World, k: &Keys, n: u64) {
    // 1. Accrual of every holding as of one date.
    let id = SeriesId::parse("id", SERIES).unwrap();
    let (es, fixings) = w.ledger.read(|p| {
        (
            EngineSeries::of(&p.state, &id).unwrap(),
            coupons::fixings(&p.state),
        )
    });
    let holdings = es.holding_inputs();
    let as_of = at(2027, 4, 15).date_naive();
    let t = Instant::now();
    let a = accrual::accrued(&es.input(&id), &holdings, &fixings, as_of).unwrap();
    let accrual_took = t.elapsed();
    assert_eq!(a.per_holding.len() as u64, n);

    // 2. The coupon run: record date, then the coupon with one entry per payment.
    let before = w.ledger.size();
    let t = Instant::now();
    let due = w
        .ledger
        .read(|p| coupons::due(&p.state, &id, w.clock.now().date_naive()).unwrap());
    for d in &due.due {
        w.post(&k.engine, d.id().to_string()).await;
    }
    let run_took = t.elapsed();
    let posted = w.ledger.size() - before;
    assert!(
        posted >= n,
        "one entry per payment: {posted} entries for {n} holdings"
    );
    println!("holdings: {n}");
    println!("accrual of every holding as of {as_of}: {accrual_took:.2?}");
    println!(
        "coupon run (record date + coupon, {posted} entries signed and durable): {run_took:.2?}"
    );
    println!(
        "ledger size: {} entries (peak memory of the run {})",
        w.ledger.size(),
        peak_memory()
    );
}

/// Closes the ledger, notes what the process holds without it, and opens the
/// store in a fresh process image (`reopen`).
fn reopen_in_a_fresh_process(w: World, root: &std::path::Path) {
    let size = w.ledger.size();
    w.ledger.close().unwrap();
    memory_line("store closed", size);
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(std::env::current_exe().unwrap())
        .args(std::env::args_os().skip(1))
        .env_remove("DBOND_BENCH_RESUME")
        .env("DBOND_BENCH_REOPEN", root)
        .exec();
    panic!("cannot re-run the bench to reopen the store: {err}");
}

/// The end of a one-process run: the store opened as a restarted server opens
/// it, and its memory then.
async fn reopen(root: std::path::PathBuf) {
    let ledger_key = keys::read_private_key(&root.join("ledger.key")).unwrap();
    let clock = Arc::new(ManualClock::new(at(2027, 7, 21)));
    let t = Instant::now();
    let ledger = Store::open(&root.join("store"), ledger_key, clock).unwrap();
    eprintln!("reopened {} entries in {:.1?}", ledger.size(), t.elapsed());
    memory_line("fresh open", ledger.size());
    ledger.close().unwrap();
    if std::env::var("DBOND_BENCH_KEEP").is_ok() {
        eprintln!("data folder kept in {}", root.display());
    } else {
        let _ = std::fs::remove_dir_all(&root);
    }
}

/// Closes the ledger and runs steps 3 to 6 on it in a fresh process image.
fn measure_in_a_fresh_process(w: World, root: &std::path::Path) {
    w.ledger.close().unwrap();
    // Steps 3 to 6 run in a fresh process image: this one's heap, after building
    // the ledger in process, would distort them (memory pressure on the page
    // cache, allocator state). `exec` replaces this process and frees its memory.
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(std::env::current_exe().unwrap())
        .args(std::env::args_os().skip(1))
        .env_remove("DBOND_BENCH_RESUME")
        .env("DBOND_BENCH_MEASURE", root)
        .exec();
    panic!("cannot re-run the bench for the measurements: {err}");
}

/// Steps 3 to 6 on the data folder `root` (store and ledger key) of `size` entries.
async fn measure(root: std::path::PathBuf) {
    let store = root.join("store");
    let ledger_key = keys::read_private_key(&root.join("ledger.key")).unwrap();
    let admin = keys::read_private_key(&root.join("admin.key")).unwrap();
    let size = dbond::store::RawStore::open(&store).unwrap().len_hint();
    let clock = Arc::new(ManualClock::new(at(2027, 7, 21)));

    // 3. Offline verification, next to the batch-verify limit of the same cores:
    // `dbond verify --data` in a process of its own, as an auditor runs it (this
    // process's heap, after building a million entries, would slow it down).
    let data = root.to_str().unwrap().to_string();
    let t = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dbond"))
        .args(["verify", "--data", &data])
        .output()
        .unwrap();
    let verify_took = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let limit = batch_verify_limit();
    // Two signatures per entry with an actor, one per derived entry: count them.
    let signatures = size + actors(&store);
    println!(
        "verify --data ({size} entries, {signatures} signatures): {verify_took:.2?} = {:.0} entries/s; batch-verify limit on {} cores {:.0} signatures/s, so the signatures alone need {:.2?} ({:.0}% of the time)",
        size as f64 / verify_took.as_secs_f64(),
        rayon::current_num_threads(),
        limit,
        std::time::Duration::from_secs_f64(signatures as f64 / limit),
        100.0 * signatures as f64 / limit / verify_took.as_secs_f64()
    );

    // 4. Opening: full replay and cross-check, as `dbond serve` starts (until it
    // listens).
    let t = Instant::now();
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_dbond"))
        .args(["serve", "--data", &data, "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = serve.stdout.take().unwrap();
    let listening = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .any(|l| l.starts_with("listening on"));
    let open_took = t.elapsed();
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(listening, "dbond serve did not start");
    println!("dbond serve start ({size} entries: replay, cross-check, listening): {open_took:.2?}");
    let ledger = Store::open(&store, ledger_key, clock.clone()).unwrap();
    // Requests are signed at the ledger's own time (the stages' simulated dates).
    if let Some(last) = ledger.read(|p| p.state.last_recorded_at()) {
        clock.set(last + chrono::Duration::days(1));
    }

    // 5. Proofs at this size.
    let nodes = ledger.nodes();
    let rounds = 2000u64;
    let mut rng = rand::thread_rng();
    let picks: Vec<u64> = (0..rounds)
        .map(|_| rand::Rng::gen_range(&mut rng, 0..size))
        .collect();
    let t = Instant::now();
    for &i in &picks {
        std::hint::black_box(dbond::ledger::merkle::inclusion_proof(i, size, &nodes).unwrap());
    }
    let inclusion = t.elapsed() / rounds as u32;
    let t = Instant::now();
    for &i in &picks {
        std::hint::black_box(
            dbond::ledger::merkle::consistency_proof(i.max(1), size, &nodes).unwrap(),
        );
    }
    let consistency = t.elapsed() / rounds as u32;
    println!(
        "proofs at {size} entries: inclusion {inclusion:.2?}, consistency {consistency:.2?} (mean of {rounds}, random indexes)"
    );

    // 6. Durable appends at this size.
    let w = World { ledger, clock };
    let appends = 20_000u64.min(size).max(100);
    let admin_registrations: Vec<CommandKind> = (0..appends)
        .map(|i| {
            CommandKind::RegisterParticipant(pb::RegisterParticipant {
                participant_id: format!("late-bank-{size}-{i}"),
                role: pb::Role::Bank as i32,
                public_key: keys::generate().verifying_key().to_bytes().to_vec(),
                display_name: "late".into(),
            })
        })
        .collect();
    let t = Instant::now();
    w.run_many(&admin, admin_registrations).await;
    let took = t.elapsed();
    println!(
        "appends at {size} entries: {appends} in {took:.2?} = {:.0} appends/s (requests signed in the same loop)",
        appends as f64 / took.as_secs_f64()
    );
    drop(w);
    // DBOND_BENCH_KEEP=1 keeps the data folder (store and keys) to try the verbs
    // on; otherwise it goes.
    if std::env::var("DBOND_BENCH_KEEP").is_ok() {
        eprintln!("data folder kept in {}", root.display());
    } else {
        let _ = std::fs::remove_dir_all(&root);
    }
}

/// Entries that carry a participant's request (and so a second signature).
fn actors(store: &std::path::Path) -> u64 {
    let raw = dbond::store::RawStore::open(store).unwrap();
    raw.entries()
        .filter(|e| {
            let (_, bytes) = e.as_ref().unwrap();
            dbond::ledger::entry::open(bytes)
                .unwrap()
                .body
                .actor
                .is_some()
        })
        .count() as u64
}

/// Signatures per second that batch verification (64 per batch) reaches on every
/// core: the ceiling of any verifier.
fn batch_verify_limit() -> f64 {
    use rayon::prelude::*;
    let key = keys::generate();
    let message = vec![7u8; 400];
    let signature = keys::sign(&key, keys::ENTRY_CONTEXT, &message)
        .to_bytes()
        .to_vec();
    let vk = key.verifying_key();
    let batches = 2000usize;
    let t = Instant::now();
    let ok = (0..batches)
        .into_par_iter()
        .filter(|_| {
            let items: Vec<_> = (0..64)
                .map(|_| {
                    (
                        &vk,
                        keys::ENTRY_CONTEXT,
                        message.as_slice(),
                        signature.as_slice(),
                    )
                })
                .collect();
            keys::verify_batch(&items)
        })
        .count();
    assert_eq!(ok, batches);
    (batches * 64) as f64 / t.elapsed().as_secs_f64()
}
