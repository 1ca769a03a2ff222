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
//! Run: `cargo bench --bench coupon_run` (add `DBOND_BENCH_HOLDINGS=1000000`;
//! `DBOND_BENCH_HOLDINGS=2000` gives a ledger of about 10,000 entries, 200000 about
//! a million). `DBOND_BENCH_DIR` puts the store elsewhere than target/tmp.
//! Under `cargo test --benches` it runs a 200-holding smoke pass.
//!
//! `DBOND_BENCH_ENTRIES=N` skips the programme and steps 1 and 2: the ledger is N
//! participant registrations, for steps 3 to 6 at sizes the programme cannot reach
//! in this machine's memory (ten million).

use chrono::{DateTime, TimeZone, Utc};
use dbond::accrual;
use dbond::client::{CommandKind, nonce, sign_request};
use dbond::clock::{Clock, ManualClock};
use dbond::ledger::keys::{self, KeyId};
use dbond::proto as pb;
use dbond::registry::coupons::{self, EngineSeries};
use dbond::registry::{ParticipantId, SeriesId};
use dbond::store::{Genesis, Ledger, WriteRequest};
use ed25519_dalek::SigningKey;
use std::sync::Arc;
use std::time::Instant;

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

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).single().unwrap()
}

struct World {
    ledger: Ledger,
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

fn terms(cap: u64) -> pb::SeriesTerms {
    let ts = |t: DateTime<Utc>| {
        Some(prost_types::Timestamp {
            seconds: t.timestamp(),
            nanos: 0,
        })
    };
    pb::SeriesTerms {
        series_id: "BENCH-2030-USD".into(),
        name: "bench".into(),
        currency: "USD".into(),
        face_value: "1000".into(),
        min_units_per_investor: "1".into(),
        max_units_per_investor: "100".into(),
        cap_units: cap.to_string(),
        coupon: Some(pb::Coupon {
            kind: Some(pb::coupon::Kind::Fixed(pb::FixedCoupon {
                rate: "0.05".into(),
            })),
        }),
        frequency: "semiannual".into(),
        day_count: "ACT/ACT ICMA".into(),
        business_day_convention: "following".into(),
        calendar: "weekends_only".into(),
        end_of_month: false,
        first_coupon_date: String::new(),
        record_date_lag_days: 5,
        issue_date: "2027-01-15".into(),
        maturity_date: "2030-01-15".into(),
        window_opens_at: ts(at(2026, 12, 1)),
        window_closes_at: ts(at(2027, 1, 10)),
        allotment_rule: pb::AllotmentRule::ProRata as i32,
        retail_priority_units: String::new(),
        eligibility: Some(pb::Eligibility {
            categories: vec![pb::DiasporaCategory::CitizenAbroad as i32],
            countries_allowed: vec![],
            countries_barred: vec![],
        }),
        pricing: Some(pb::Pricing {
            kind: Some(pb::pricing::Kind::IssuePrice(pb::FixedPrice {
                price: "100".into(),
            })),
        }),
        settlement_deadline: ts(at(2027, 1, 12)),
    }
}

fn main() {
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
    match std::env::var_os("DBOND_BENCH_MEASURE") {
        Some(root) => rt.block_on(measure(root.into())),
        None => rt.block_on(run(n)),
    }
}

async fn run(n: u64) {
    let base =
        std::env::var("DBOND_BENCH_DIR").unwrap_or_else(|_| env!("CARGO_TARGET_TMPDIR").into());
    let dir = tempfile::tempdir_in(base).unwrap();
    let clock = Arc::new(ManualClock::new(at(2026, 11, 20)));
    let admin = keys::generate();
    let ledger_key = keys::generate();
    let ledger = Ledger::create(
        &dir.path().join("store"),
        &ledger_key,
        Genesis {
            origin: "bench/coupon-run".into(),
            admin_participant_id: ParticipantId::parse("id", "admin").unwrap(),
            admin_key: &admin,
        },
        clock.clone(),
    )
    .unwrap();
    let w = World {
        ledger,
        clock: clock.clone(),
    };
    if let Some(entries) = std::env::var("DBOND_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        fill_with_registrations(&w, &admin, entries).await;
        return measure_in_a_fresh_process(w, dir, &ledger_key, &admin);
    }
    let (treasury, bank, engine) = (keys::generate(), keys::generate(), keys::generate());
    for (id, role, k) in [
        ("treasury", pb::Role::Treasury, &treasury),
        ("bank", pb::Role::Bank, &bank),
        ("engine", pb::Role::Engine, &engine),
    ] {
        w.run(
            &admin,
            CommandKind::RegisterParticipant(pb::RegisterParticipant {
                participant_id: id.into(),
                role: role as i32,
                public_key: k.verifying_key().to_bytes().to_vec(),
                display_name: id.into(),
            }),
        )
        .await;
    }
    let sid = "BENCH-2030-USD".to_string();
    let setup = Instant::now();
    w.run(
        &treasury,
        CommandKind::CreateSeries(pb::CreateSeries {
            terms: Some(terms(n * 100)),
        }),
    )
    .await;
    w.run(
        &treasury,
        CommandKind::OpenSeries(pb::OpenSeries {
            series_id: sid.clone(),
        }),
    )
    .await;
    clock.set(at(2026, 12, 2));
    let subs: Vec<CommandKind> = (0..n)
        .map(|i| {
            CommandKind::SubmitSubscription(pb::SubmitSubscription {
                series_id: sid.clone(),
                investor_ref: format!("inv-{i}"),
                category: pb::DiasporaCategory::CitizenAbroad as i32,
                country: "DE".into(),
                units: (1 + i % 100).to_string(),
                idempotency_key: format!("k{i}"),
            })
        })
        .collect();
    let first_sub = w.ledger.size();
    w.run_many(&bank, subs).await;
    eprintln!(
        "{n} subscriptions in {:.1?} (peak memory {})",
        setup.elapsed(),
        peak_memory()
    );
    clock.set(at(2027, 1, 11));
    w.run(
        &treasury,
        CommandKind::CloseSeries(pb::CloseSeries {
            series_id: sid.clone(),
        }),
    )
    .await;
    w.run(
        &treasury,
        CommandKind::AllotSeries(pb::AllotSeries {
            series_id: sid.clone(),
        }),
    )
    .await;
    eprintln!("closed and allotted (peak memory {})", peak_memory());
    let settles: Vec<CommandKind> = (first_sub..first_sub + n)
        .map(|id| {
            CommandKind::ConfirmSettlement(pb::ConfirmSettlement {
                subscription_id: id,
            })
        })
        .collect();
    w.run_many(&bank, settles).await;
    eprintln!("settled (peak memory {})", peak_memory());
    w.run(
        &treasury,
        CommandKind::IssueSeries(pb::IssueSeries {
            series_id: sid.clone(),
        }),
    )
    .await;
    eprintln!(
        "{n} holdings issued; setup took {:.1?}; ledger has {} entries (peak memory {})",
        setup.elapsed(),
        w.ledger.size(),
        peak_memory()
    );

    // 1. Accrual of every holding as of one date.
    let id = SeriesId::parse("id", &sid).unwrap();
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
    clock.set(at(2027, 7, 20));
    let before = w.ledger.size();
    let t = Instant::now();
    let due = w
        .ledger
        .read(|p| coupons::due(&p.state, &id, at(2027, 7, 20).date_naive()).unwrap());
    for d in &due.due {
        w.run(
            &engine,
            CommandKind::PostAccrualEvent(pb::PostAccrualEvent {
                series_id: sid.clone(),
                event_id: d.id().to_string(),
            }),
        )
        .await;
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
    measure_in_a_fresh_process(w, dir, &ledger_key, &admin)
}

/// A ledger of `entries` entries for the scale steps alone: participant
/// registrations (about 400 bytes each, one state record each), written
/// concurrently in chunks, with progress.
async fn fill_with_registrations(w: &World, admin: &SigningKey, entries: u64) {
    use rayon::prelude::*;
    let started = Instant::now();
    let mut next = w.ledger.size();
    while next < entries {
        let count = (entries - next).min(16_384);
        let kinds: Vec<CommandKind> = (next..next + count)
            .into_par_iter()
            .map(|i| {
                CommandKind::RegisterParticipant(pb::RegisterParticipant {
                    participant_id: format!("p-{i}"),
                    role: pb::Role::Bank as i32,
                    public_key: keys::generate().verifying_key().to_bytes().to_vec(),
                    display_name: "scale".into(),
                })
            })
            .collect();
        w.run_many(admin, kinds).await;
        next = w.ledger.size();
        if next % 1_048_576 < 16_384 || next >= entries {
            eprintln!(
                "{next} entries after {:.0?} (peak memory {})",
                started.elapsed(),
                peak_memory()
            );
        }
    }
}

/// Closes the ledger, writes its keys beside the store, and runs steps 3 to 6 in
/// a fresh process image on it.
fn measure_in_a_fresh_process(
    w: World,
    dir: tempfile::TempDir,
    ledger_key: &SigningKey,
    admin: &SigningKey,
) {
    w.ledger.close().unwrap();
    keys::write_private_key(&dir.path().join("ledger.key"), ledger_key).unwrap();
    keys::write_private_key(&dir.path().join("admin.key"), admin).unwrap();
    // Steps 3 to 6 run in a fresh process image: this one's heap, after building
    // the ledger in process, would distort them (memory pressure on the page
    // cache, allocator state). `exec` replaces this process and frees its memory.
    let root = dir.keep();
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--bench")
        .env("DBOND_BENCH_MEASURE", &root)
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
    let ledger = Ledger::open(&store, ledger_key, clock.clone()).unwrap();

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
                participant_id: format!("late-bank-{i}"),
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

// The same allocator as the `dbond` binary (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
