//! A ledger's life on an engine: created with its genesis entry, opened with the
//! roll-back of an unfinished group, a full replay and the cross-check of the
//! stored state, then handed to the writer.
//!
//! Invariants: nothing is published or written before the whole stored ledger has
//! replayed and agreed with its checkpoint and state; an engine that holds no
//! ledger is never opened as one, and one that holds a ledger is never created
//! over.

use super::check::{StoredDigest, check_stored};
use super::handle::{Inner, Published, Store};
use super::writer::{self, Appender, WriterParts};
use super::{
    Engine, EngineError, Group, MemoryNodes, SledEngine, StoreError, StoreOptions, Taken, corrupt,
    named, recovery, replay,
};
use crate::clock::Clock;
use crate::ledger::checkpoint;
use crate::ledger::entry::{self, Origin};
use crate::ledger::genesis::GenesisRequest;
use crate::ledger::keys::{self, KeyId};
use crate::ledger::merkle::{Frontier, Hash};
use crate::ledger::signer::{LedgerKey, Signer};
use crate::registry::{self, Changes, EntryMeta, LedgerIdentity, State};
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

/// Parameters of a new ledger.
pub struct Genesis<'a> {
    pub origin: String,
    pub admin_participant_id: registry::ParticipantId,
    pub admin_key: &'a SigningKey,
}

/// A stored ledger replayed and checked, not yet written to: what a writer (or a
/// reader that appends entries sealed elsewhere) starts from.
pub(crate) struct Checked {
    pub engine: Arc<dyn Engine>,
    pub identity: LedgerIdentity,
    pub ledger_public_key: VerifyingKey,
    /// The replayed state: the writer's working copy.
    pub state: State,
    pub frontier: Frontier,
    pub last_hash: Hash,
    /// The readers' view, with their own copy of the state.
    pub published: Arc<RwLock<Published>>,
    pub nodes: MemoryNodes,
}

impl Store {
    /// Creates a new ledger in the folder `path`: genesis (signed by the new admin
    /// key) is written and made durable before this returns.
    pub fn create(
        path: &Path,
        ledger_key: impl Into<LedgerKey>,
        genesis: Genesis<'_>,
        clock: Arc<dyn Clock>,
    ) -> Result<Store, StoreError> {
        Store::create_with(path, ledger_key, genesis, clock, StoreOptions::default())
    }

    /// [`Store::create`] with options for the engine and the writer it starts.
    pub fn create_with(
        path: &Path,
        ledger_key: impl Into<LedgerKey>,
        genesis: Genesis<'_>,
        clock: Arc<dyn Clock>,
        options: StoreOptions,
    ) -> Result<Store, StoreError> {
        // The engine stays open into the writer: closing the folder and opening it
        // again would race sled's background threads for its lock.
        let engine = Arc::new(SledEngine::open(path, options.batch_records())?);
        Store::create_on(engine, ledger_key, genesis, clock, options)
    }

    /// Creates a new ledger on `engine`, which must hold nothing, and starts its
    /// writer. A rehearsal clock (`Clock::simulated`) makes a rehearsal ledger:
    /// its genesis says its clock is simulated.
    pub fn create_on(
        engine: Arc<dyn Engine>,
        ledger_key: impl Into<LedgerKey>,
        genesis: Genesis<'_>,
        clock: Arc<dyn Clock>,
        options: StoreOptions,
    ) -> Result<Store, StoreError> {
        if let Some(shared) = engine.shared() {
            // Only the writer may write genesis; a second server creating the
            // same ledger at once finds the role taken, or the ledger there.
            if let Taken::HeldBy(holder) = shared.take_role()? {
                return Err(StoreError::Invalid(format!(
                    "cannot create a ledger in {}: another server holds its writer role ({})",
                    engine.location(),
                    holder.describe()
                )));
            }
        }
        let ledger_key = ledger_key.into();
        let simulated = clock.simulated().is_some();
        write_genesis(&*engine, &ledger_key, genesis, simulated, clock.now())?;
        Store::open_on(engine, ledger_key, clock, options)
    }

    /// Opens the existing ledger in the folder `path`, replaying and checking it in
    /// full, and starts the writer. Refuses a store that disagrees with itself.
    pub fn open(
        path: &Path,
        ledger_key: impl Into<LedgerKey>,
        clock: Arc<dyn Clock>,
    ) -> Result<Store, StoreError> {
        Store::open_with(path, ledger_key, clock, StoreOptions::default())
    }

    /// [`Store::open`] with options (tests use it to plan a storage failure).
    pub fn open_with(
        path: &Path,
        ledger_key: impl Into<LedgerKey>,
        clock: Arc<dyn Clock>,
        options: StoreOptions,
    ) -> Result<Store, StoreError> {
        let engine = Arc::new(SledEngine::open(path, options.batch_records())?);
        Store::open_on(engine, ledger_key, clock, options)
    }

    /// Opens the ledger `engine` holds, replaying and checking it in full, and
    /// starts the writer, which signs with `ledger_key` (the key genesis names).
    pub fn open_on(
        engine: Arc<dyn Engine>,
        ledger_key: impl Into<LedgerKey>,
        clock: Arc<dyn Clock>,
        options: StoreOptions,
    ) -> Result<Store, StoreError> {
        let ledger_key = ledger_key.into();
        let checked = open_checked(engine)?;
        // The key in force, read from the replayed hand-overs, must be the one
        // given: a key rotated out signs nothing more.
        let terms = checked.state.ledger_key_terms();
        let given = ledger_key.public_key();
        let in_force = terms.last().map(|t| t.public_key.0);
        let used = terms.iter().any(|t| t.public_key.0 == given.to_bytes());
        let awaiting = in_force != Some(given.to_bytes()) && options.emergency_rotation && !used;
        if awaiting && checked.state.recovery_quorum().is_none() {
            return Err(StoreError::Invalid(format!(
                "--emergency-rotation with ledger key {}: this ledger has no recovery quorum, so no replacement of its key can be approved; start the server with the key in force",
                KeyId::of(&given)
            )));
        }
        if awaiting {
            tracing::warn!(
                held = %KeyId::of(&given),
                in_force = %in_force.map(|k| KeyId::of_bytes(&k).to_string()).unwrap_or_default(),
                "emergency rotation: this server takes no write but the replacement of the ledger key in force by the key it holds"
            );
        } else if in_force != Some(given.to_bytes()) {
            let id = |k: &[u8; 32]| KeyId::of_bytes(k).to_string();
            let found = id(&given.to_bytes());
            return Err(match (in_force, used) {
                (Some(key), true) => StoreError::RotatedOut {
                    given: found,
                    in_force: id(&key),
                    from_index: terms.last().map_or(0, |t| t.from_index),
                },
                (key, _) => StoreError::KeyMismatch {
                    expected: key.as_ref().map_or_else(String::new, id),
                    found,
                },
            });
        }
        let next_ledger_key = options.next_ledger_key.as_ref().and_then(|k| k.take());
        if let Some(next) = &next_ledger_key {
            let next = next.public_key().to_bytes();
            if next == given.to_bytes() || terms.iter().any(|t| t.public_key.0 == next) {
                return Err(StoreError::Invalid(format!(
                    "the next ledger key {} already signed this ledger: a rotation needs a fresh key",
                    KeyId::of_bytes(&next)
                )));
            }
        }
        tracing::info!(key = %ledger_key.describe(), "ledger key ready");
        if let Some(shared) = checked.engine.shared() {
            // Writes if the role is free; otherwise follows the server that has it
            // and takes it when that server's term runs out.
            if let Taken::HeldBy(holder) = shared.take_role()? {
                tracing::info!(holder = %holder.describe(), "following the ledger's writer");
            }
        }
        let failure = Arc::new(Mutex::new(None));
        let stopped = Arc::new(tokio::sync::Notify::new());
        // A server that opened a shared store without the role says so from the
        // start, not only once its writer thread has begun following.
        let role = Arc::new(Mutex::new(
            checked
                .engine
                .shared()
                .filter(|s| s.role_held().is_none())
                .map(|_| "this server is not the ledger's writer".to_string()),
        ));
        let retiring = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let arriving = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let appender = Appender::new(
            checked.engine.clone(),
            checked.published.clone(),
            checked.nodes.clone(),
            options.observer,
            options.faults,
        );
        let (jobs, writer) = writer::spawn(WriterParts {
            ledger_key,
            next_ledger_key,
            identity: checked.identity.clone(),
            clock,
            state: checked.state,
            frontier: checked.frontier,
            last_hash: checked.last_hash,
            appender,
            failure: failure.clone(),
            stopped: stopped.clone(),
            role: role.clone(),
            retiring: retiring.clone(),
            arriving: arriving.clone(),
            arrival_wait: options
                .group_arrival_wait
                .unwrap_or(crate::limits::GROUP_ARRIVAL_WAIT),
        })?;
        Ok(Store {
            inner: Arc::new(Inner {
                engine: checked.engine,
                identity: checked.identity,
                ledger_public_key: checked.ledger_public_key,
                published: checked.published,
                jobs,
                failure,
                stopped,
                writer: Mutex::new(Some(writer)),
                nodes: checked.nodes,
                role,
                retiring,
                arriving,
            }),
        })
    }
}

/// Seals and stores the genesis entry, its state records and the first checkpoint
/// on an empty engine, as one atomic group.
fn write_genesis(
    engine: &dyn Engine,
    ledger_key: &LedgerKey,
    genesis: Genesis<'_>,
    simulated_clock: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    if !engine.is_empty()? {
        return Err(StoreError::AlreadyInitialised(engine.location()));
    }
    // The origin is also the checkpoint key name: printable, no spaces, no '+'.
    checkpoint::validate_key_name(&genesis.origin).map_err(|e| {
        StoreError::Invalid(format!(
            "origin {:?} cannot name a ledger: {e}",
            genesis.origin
        ))
    })?;
    let recorded_at = crate::codec::timestamp_to_pb(now);
    let request = GenesisRequest::sign(
        &genesis.origin,
        &ledger_key.public_key(),
        genesis.admin_participant_id.as_str(),
        genesis.admin_key,
        simulated_clock,
        recorded_at,
    );
    let admin_public = genesis.admin_key.verifying_key();
    let event = registry::Event::Genesis(registry::GenesisRecorded {
        format_version: crate::ledger::FORMAT_VERSION,
        origin: genesis.origin.clone(),
        ledger_public_key: registry::PublicKey(ledger_key.public_key().to_bytes()),
        admin_participant_id: genesis.admin_participant_id.clone(),
        admin_public_key: registry::PublicKey(admin_public.to_bytes()),
        admin_key_id: request.admin_key_id.clone(),
        simulated_clock,
    });
    let signing = |e: crate::ledger::signer::SignError| StoreError::Invalid(e.to_string());
    let sealed = entry::seal_with(
        0,
        recorded_at,
        &entry::GENESIS_PREV_HASH,
        crate::codec::event_to_pb(&event),
        Origin::Actor(request.into_actor()),
        ledger_key,
    )
    .map_err(signing)?;
    let mut state = State::new();
    let mut changes = Changes::default();
    registry::apply(
        &mut state,
        &EntryMeta {
            index: 0,
            recorded_at: now,
        },
        &event,
        &mut changes,
    )
    .map_err(|e| StoreError::Invalid(e.to_string()))?;
    let mut frontier = Frontier::new();
    frontier.append(sealed.hash, |_, _, _| {});
    let identity = state
        .identity()
        .cloned()
        .ok_or_else(|| StoreError::Invalid("genesis did not set the identity".into()))?;
    let group = Group {
        size_before: 0,
        entries: vec![sealed.bytes],
        records: changes
            .keys()
            .filter_map(|key| Some((key.to_bytes(), Some(state.record(key)?))))
            .collect(),
        checkpoint: writer::sign_checkpoint(&identity, &frontier, ledger_key).map_err(signing)?,
    };
    engine.write_group(&group, None).map_err(|e| match e {
        EngineError::Storage(m) => StoreError::Storage(m),
        lost @ EngineError::LostWriterRole(_) => StoreError::Storage(lost.to_string()),
    })
}

/// Opens the ledger `engine` holds: rolls back an unfinished group, replays every
/// entry while the stored state records are digested on their own thread, checks
/// the stored state against the replay, and makes the readers' view. Refuses a
/// store that disagrees with itself.
pub(crate) fn open_checked(engine: Arc<dyn Engine>) -> Result<Checked, StoreError> {
    // A store other servers append to is read through one consistent view, so
    // the entries, the checkpoint and the state records agree.
    let read = match engine.shared() {
        Some(shared) => shared.consistent_view()?,
        None => engine.clone(),
    };
    if read.is_empty()? {
        return Err(StoreError::NotInitialised(engine.location()));
    }
    let started = std::time::Instant::now();
    // A group commit interrupted between its steps is rolled back first: its
    // entries now, the state records it changed once the replay gives them.
    let unfinished = recovery::roll_back_entries(&*engine)?;
    let (replayed, mut stored_state) = std::thread::scope(|scope| {
        let state = named(scope, "state-read", || StoredDigest::of(&*read));
        let replayed = replay(&*read, |_| {});
        let stored = state.and_then(|s| {
            s.join()
                .unwrap_or_else(|_| Err(StoreError::Storage("a store reader panicked".into())))
        });
        (replayed, stored)
    });
    let mut replayed = replayed?;
    let replay_took = started.elapsed();
    let last = replayed.frontier.size().saturating_sub(1);
    if let Some(removed) = unfinished {
        stored_state?;
        recovery::restore_state_records(&*engine, &replayed.state)?;
        tracing::warn!(
            removed_entries = removed,
            size = replayed.frontier.size(),
            "an unfinished group commit (never acknowledged) was rolled back"
        );
        stored_state = StoredDigest::of(&*engine);
    }
    let check_started = std::time::Instant::now();
    stored_state.and_then(|stored| check_stored(&*read, &replayed.state, last, stored))?;
    let compare_took = check_started.elapsed();
    // The readers' state shares every node with the replayed (working) state.
    let published_state = replayed.state.readers_copy();
    tracing::info!(
        entries = replayed.frontier.size(),
        replay_ms = replay_took.as_millis() as u64,
        check_ms = (started.elapsed() - replay_took).as_millis() as u64,
        compare_ms = compare_took.as_millis() as u64,
        "ledger replayed and cross-checked"
    );
    let identity = replayed
        .state
        .identity()
        .cloned()
        .ok_or_else(|| corrupt(0, "no ledger identity after replay"))?;
    let ledger_public_key = keys::parse_public_key(&identity.ledger_public_key.0)
        .map_err(|e| corrupt(0, e.to_string()))?;
    let published = Arc::new(RwLock::new(Published {
        state: published_state,
        frontier: replayed.frontier.clone(),
        last_hash: replayed.last_hash,
        checkpoint: replayed.checkpoint.clone(),
    }));
    // The tree's levels stay in memory for proofs; the writer adds to them.
    let nodes = MemoryNodes::new(std::mem::take(&mut replayed.nodes));
    Ok(Checked {
        engine,
        identity,
        ledger_public_key,
        state: replayed.state,
        frontier: replayed.frontier,
        last_hash: replayed.last_hash,
        published,
        nodes,
    })
}
