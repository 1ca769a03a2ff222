//! The streaming verifier. Feed it entries in order with [`Verifier::push`], then
//! [`Verifier::finish`].

use crate::codec;
use crate::ledger::checkpoint::{self, Checkpoint};
use crate::ledger::entry::{self, GENESIS_PREV_HASH};
use crate::ledger::handover::{HANDOVER_CONTEXT, Handover};
use crate::ledger::keys::{self, ENTRY_CONTEXT, KeyId, REQUEST_CONTEXT};
use crate::ledger::merkle::{Frontier, Hash};
use crate::limits;
use crate::proto as pb;
use crate::registry::{self, Changes, Decision, EntryMeta, Event, LedgerIdentity, State};
use ed25519_dalek::VerifyingKey;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

/// Signature checks are gathered and verified this many at a time (in parallel
/// batches of [`BATCH`]).
const PENDING_MAX: usize = 16_384;
const BATCH: usize = 64;
/// Signature batches checked in the background while entries are decoded and
/// replayed; beyond this, the reader waits.
const INFLIGHT_MAX: usize = 2;

/// Where verification failed and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("entry {index}: {reason}")]
pub struct VerifyFailure {
    pub index: u64,
    pub reason: String,
}

fn fail(index: u64, reason: impl Into<String>) -> VerifyFailure {
    VerifyFailure {
        index,
        reason: reason.into(),
    }
}

/// The first figure in which a recorded event differs from the one its request
/// decides, as "`path` is X on the ledger, the request decides Y" (`path` the
/// field names from the event down, such as `payments.withholding.withheld`).
/// Read from the two events' pretty-printed forms, one field a line; `None`
/// when they differ only in their kind (the message names both kinds).
fn first_difference(recorded: &Event, decided: &Event) -> Option<String> {
    if recorded.kind() != decided.kind() {
        return None;
    }
    let (a, b) = (format!("{recorded:#?}"), format!("{decided:#?}"));
    // The fields that enclose the current line: (indent, name).
    let mut enclosing: Vec<(usize, &str)> = Vec::new();
    for (x, y) in a.lines().zip(b.lines()) {
        let indent = x.len() - x.trim_start().len();
        while enclosing.last().is_some_and(|(i, _)| *i >= indent) {
            enclosing.pop();
        }
        let (name, value) = field(x.trim());
        if x != y {
            let (_, other) = field(y.trim());
            let path: Vec<&str> = enclosing
                .iter()
                .map(|(_, n)| *n)
                .chain(Some(name))
                .filter(|n| !n.is_empty())
                .collect();
            let path = if path.is_empty() {
                "the event".to_string()
            } else {
                path.join(".")
            };
            return Some(format!(
                "{path} is {value} on the ledger, the request decides {other}"
            ));
        }
        if value.ends_with(['{', '(', '[']) {
            enclosing.push((indent, name));
        }
    }
    None
}

/// A pretty-printed line as (field name, value): `amount: 30.00,` gives
/// ("amount", "30.00"); a line without a field name gives ("", the line).
fn field(line: &str) -> (&str, &str) {
    let line = line.trim_end_matches(',');
    match line.split_once(": ") {
        Some((name, value))
            if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') =>
        {
            (name, value)
        }
        _ => ("", line),
    }
}

#[derive(Clone)]
struct SigCheck {
    index: u64,
    what: &'static str,
    key: VerifyingKey,
    context: &'static [u8],
    message: Vec<u8>,
    signature: Vec<u8>,
}

/// What a successful verification established.
#[derive(Debug, Clone)]
pub struct Verified {
    pub size: u64,
    pub root: Hash,
    pub state: State,
    /// Roots at the sizes asked for with [`Verifier::want_root_at`].
    pub roots: BTreeMap<u64, Hash>,
}

impl Verified {
    /// Checks a signed checkpoint note against the verified ledger: signed by the
    /// ledger key in force for its size (genesis's, or the last to take over at
    /// or before it), for this origin, and its root equal to the root the entries
    /// give at its size (which must be the final size or one asked for in
    /// advance).
    pub fn check_checkpoint(&self, note: &str) -> Result<Checkpoint, VerifyFailure> {
        let last = self.size.saturating_sub(1);
        let identity = self.state.identity().ok_or_else(|| fail(0, "no genesis"))?;
        let (unverified, _) = checkpoint::parse_unverified(note)
            .map_err(|e| fail(last, format!("checkpoint: {e}")))?;
        let in_force = self
            .state
            .ledger_key_at(unverified.size)
            .ok_or_else(|| fail(0, "no genesis"))?;
        let key = keys::parse_public_key(&in_force.0).map_err(|e| fail(0, e.to_string()))?;
        let cp = checkpoint::open(note, &identity.origin, &key).map_err(|e| {
            fail(
                last,
                format!(
                    "checkpoint of size {}: {e} (the ledger key in force at that size is {})",
                    unverified.size,
                    KeyId::of(&key)
                ),
            )
        })?;
        if cp.origin != identity.origin {
            return Err(fail(
                last,
                format!(
                    "checkpoint origin {:?} is not the ledger's {:?}",
                    cp.origin, identity.origin
                ),
            ));
        }
        let root = if cp.size == self.size {
            self.root
        } else if let Some(r) = self.roots.get(&cp.size) {
            *r
        } else {
            return Err(fail(
                last,
                format!(
                    "checkpoint is for size {} but the ledger verified has {} entries",
                    cp.size, self.size
                ),
            ));
        };
        if root != cp.root {
            return Err(fail(
                cp.size.saturating_sub(1),
                format!(
                    "merkle root mismatch at size {}: checkpoint says {}, entries give {}",
                    cp.size,
                    hex::encode(cp.root),
                    hex::encode(root)
                ),
            ));
        }
        Ok(cp)
    }
}

/// Verifies a ledger entry by entry. Cloning one that has checked a prefix lets a
/// caller try several continuations of it.
#[derive(Clone)]
pub struct Verifier {
    state: State,
    frontier: Frontier,
    last_hash: Hash,
    /// The ledger key in force: genesis's, then each key a verified hand-over
    /// names, from the entry after the hand-over.
    ledger_key: Option<VerifyingKey>,
    pending: Vec<SigCheck>,
    inflight: VecDeque<std::sync::Arc<InFlight>>,
    /// Participant keys already decompressed.
    parsed: std::collections::HashMap<KeyId, VerifyingKey>,
    /// Events the current request still has to produce, and its first index.
    expected: VecDeque<Event>,
    cause: u64,
    nonces: HashSet<(KeyId, Vec<u8>)>,
    want_roots: BTreeSet<u64>,
    roots: BTreeMap<u64, Hash>,
    /// The state records the entries' events touched: those of the last entry
    /// only, or (once [`Verifier::keep_changes`] was called) of every entry since
    /// [`Verifier::take_changes`].
    changes: Changes,
    keep_changes: bool,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    pub fn new() -> Self {
        Verifier {
            state: State::new(),
            frontier: Frontier::new(),
            last_hash: GENESIS_PREV_HASH,
            ledger_key: None,
            pending: Vec::new(),
            inflight: VecDeque::new(),
            parsed: std::collections::HashMap::new(),
            expected: VecDeque::new(),
            cause: 0,
            nonces: HashSet::new(),
            want_roots: BTreeSet::new(),
            roots: BTreeMap::new(),
            changes: Changes::default(),
            keep_changes: false,
        }
    }

    /// A verifier that goes on from a ledger's first `frontier.size()` entries,
    /// already verified and replayed into `state` (ending in the entry hashed
    /// `last_hash`): a mirror's own copy, which it verified before storing and
    /// whose open replayed and cross-checked it. `nonces` are the (key, nonce)
    /// pairs of the requests those entries carry ([`request_nonce`]), since a
    /// nonce is never used twice by one key on a ledger. The entries must end a
    /// request (as every signed checkpoint's size does).
    pub fn resume(
        state: State,
        frontier: Frontier,
        last_hash: Hash,
        nonces: impl IntoIterator<Item = (KeyId, Vec<u8>)>,
    ) -> Result<Verifier, VerifyFailure> {
        let size = frontier.size();
        if state.size() != size {
            return Err(fail(
                size,
                format!(
                    "the state has {} entries applied, the tree {size}",
                    state.size()
                ),
            ));
        }
        let in_force = state
            .ledger_key_in_force()
            .ok_or_else(|| fail(0, "the first entry is not a genesis entry"))?;
        let ledger_key =
            keys::parse_public_key(&in_force.0).map_err(|e| fail(0, format!("ledger key: {e}")))?;
        let mut verifier = Verifier::new();
        verifier.state = state;
        verifier.frontier = frontier;
        verifier.last_hash = last_hash;
        verifier.ledger_key = Some(ledger_key);
        verifier.cause = size.saturating_sub(1);
        verifier.nonces.extend(nonces);
        Ok(verifier)
    }

    /// The ledger key genesis names, once genesis is verified.
    pub fn ledger_key(&self) -> Option<VerifyingKey> {
        let genesis = self.state.identity()?.ledger_public_key;
        keys::parse_public_key(&genesis.0).ok()
    }

    /// The ledger key in force after the entries pushed so far: the one that
    /// signs the next entry and the checkpoint of this size.
    pub fn ledger_key_in_force(&self) -> Option<VerifyingKey> {
        self.ledger_key
    }

    /// The state replayed from the entries pushed so far.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The root of the tree of the entries pushed so far.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// From now on, keeps the state records every entry's event touches (until
    /// [`Verifier::take_changes`]), for a caller that stores the replayed state.
    pub fn keep_changes(&mut self) {
        self.keep_changes = true;
        self.changes.clear();
    }

    /// The state records touched since [`Verifier::keep_changes`] or the last call.
    pub fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.changes)
    }

    /// Asks for the root at `size` to be kept (to check an older checkpoint).
    pub fn want_root_at(&mut self, size: u64) {
        self.want_roots.insert(size);
    }

    /// Number of entries accepted so far.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Checks the next entry, given as its stored bytes.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), VerifyFailure> {
        self.push_applied(bytes).map(|_| ())
    }

    /// [`Verifier::push`], handing back the entry's index, recorded time and
    /// event, as applied to the state. Its signatures may still be being checked:
    /// [`Verifier::settle`] says when every one has been.
    pub fn push_applied(&mut self, bytes: &[u8]) -> Result<(EntryMeta, Event), VerifyFailure> {
        self.push_entry(bytes).map_err(|e| {
            // Report the first fault: an earlier entry whose signature is still
            // being checked may be the real cause (a changed entry breaks the link
            // of the next one).
            match self.flush_signatures() {
                Err(earlier) if earlier.index <= e.index => earlier,
                _ => e,
            }
        })
    }

    fn push_entry(&mut self, bytes: &[u8]) -> Result<(EntryMeta, Event), VerifyFailure> {
        let index = self.frontier.size();
        let opened = entry::open(bytes).map_err(|e| fail(index, e.to_string()))?;
        if opened.index() != index {
            return Err(fail(
                index,
                format!(
                    "entry says it is entry {} (entries reordered, dropped or duplicated?)",
                    opened.index()
                ),
            ));
        }
        if opened.prev_hash() != self.last_hash {
            return Err(fail(
                index,
                format!(
                    "previous-hash link broken: expected {}, found {}",
                    hex::encode(self.last_hash),
                    hex::encode(opened.prev_hash())
                ),
            ));
        }
        let recorded_at = codec::timestamp_from_pb("recorded_at", opened.body.recorded_at.as_ref())
            .map_err(|e| fail(index, e.to_string()))?;
        let pb_event = opened
            .body
            .event
            .as_ref()
            .ok_or_else(|| fail(index, "event missing"))?;
        let event =
            codec::event_from_pb(pb_event).map_err(|e| fail(index, format!("event: {e}")))?;
        let meta = EntryMeta { index, recorded_at };

        if index == 0 {
            self.check_genesis(&opened, &event, recorded_at)?;
        }
        let in_force = self
            .ledger_key
            .ok_or_else(|| fail(index, "the first entry is not a genesis entry"))?;
        // A replacement entry is signed by the key it brings in (its request,
        // re-decided below, and its approvals say whether that key may sign).
        let ledger_key = match &event {
            Event::LedgerKeyReplaced(r) => keys::parse_public_key(&r.new_public_key.0)
                .map_err(|e| fail(index, format!("replacing ledger key: {e}")))?,
            _ => in_force,
        };
        self.pending.push(SigCheck {
            index,
            what: "ledger signature",
            key: ledger_key,
            context: ENTRY_CONTEXT,
            message: opened.body_bytes.clone(),
            signature: opened.ledger_signature.clone(),
        });

        match &opened.body.actor {
            Some(actor) => {
                if let Some(missing) = self.expected.front() {
                    return Err(fail(
                        index,
                        format!(
                            "request at entry {} should still produce a {} entry",
                            self.cause,
                            missing.kind()
                        ),
                    ));
                }
                if index != 0 {
                    self.expected = self.check_request(index, recorded_at, actor)?.into();
                    self.cause = index;
                } else {
                    self.expected = VecDeque::from([event.clone()]);
                }
            }
            None => {
                if opened.body.cause_index != self.cause || self.expected.is_empty() {
                    return Err(fail(
                        index,
                        format!(
                            "entry claims to derive from entry {}, which produced no further entries",
                            opened.body.cause_index
                        ),
                    ));
                }
            }
        }
        let want = self
            .expected
            .pop_front()
            .ok_or_else(|| fail(index, "entry has no request"))?;
        // A hand-over is decided without the new key's signature, which is
        // checked on its own below.
        let decided = match &event {
            Event::LedgerKeyRotated(h) => &Event::LedgerKeyRotated(h.unsigned()),
            other => other,
        };
        if want != *decided {
            let figure = first_difference(decided, &want)
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            return Err(fail(
                index,
                format!(
                    "recorded {} event differs from what its request decides ({}){figure}",
                    event.kind(),
                    want.kind()
                ),
            ));
        }
        if !self.keep_changes {
            self.changes.clear();
        }
        registry::apply(&mut self.state, &meta, &event, &mut self.changes)
            .map_err(|e| fail(index, e.reason))?;
        match &event {
            Event::LedgerKeyRotated(h) => self.take_handover(index, h, ledger_key)?,
            Event::LedgerKeyReplaced(r) => self.take_replacement(index, r, in_force, ledger_key)?,
            _ => {}
        }
        self.frontier.append(opened.hash, |_, _, _| {});
        self.last_hash = opened.hash;
        if self.want_roots.contains(&self.frontier.size()) {
            self.roots
                .insert(self.frontier.size(), self.frontier.root());
        }
        if self.pending.len() >= PENDING_MAX {
            self.launch_signatures()?;
        }
        Ok((meta, event))
    }

    /// Follows a hand-over at entry `index` (signed, as every entry, by `old`,
    /// the key in force): the new key's signature over the hand-over message is
    /// checked with the others, and the new key signs from the next entry on.
    fn take_handover(
        &mut self,
        index: u64,
        h: &registry::LedgerKeyRotated,
        old: VerifyingKey,
    ) -> Result<(), VerifyFailure> {
        if h.old_public_key.0 != old.to_bytes() {
            return Err(fail(
                index,
                "the hand-over names another old ledger key than the key in force",
            ));
        }
        let new = keys::parse_public_key(&h.new_public_key.0)
            .map_err(|e| fail(index, format!("new ledger key: {e}")))?;
        let origin = &self
            .state
            .identity()
            .ok_or_else(|| fail(index, "no genesis"))?
            .origin;
        let message = Handover {
            origin,
            old: &old,
            new: &new,
            from_index: h.from_index,
        }
        .message();
        self.pending.push(SigCheck {
            index,
            what: "new ledger key's hand-over signature",
            key: new,
            context: HANDOVER_CONTEXT,
            message: message.into_bytes(),
            signature: h.new_key_signature.clone(),
        });
        self.ledger_key = Some(new);
        Ok(())
    }

    /// Follows a replacement at entry `index` (signed by `new`, the key it
    /// brings in, in place of `old`, the key in force): every approval must
    /// verify over the statement of this ledger, key and size, and the new
    /// key signs from this entry on. The re-decision already checked the rest
    /// (the quorum in force, distinct approvers, enough of them, the size).
    fn take_replacement(
        &mut self,
        index: u64,
        r: &registry::LedgerKeyReplaced,
        old: VerifyingKey,
        new: VerifyingKey,
    ) -> Result<(), VerifyFailure> {
        if r.old_public_key.0 != old.to_bytes() {
            return Err(fail(
                index,
                "the replacement names another old ledger key than the key in force",
            ));
        }
        let origin = &self
            .state
            .identity()
            .ok_or_else(|| fail(index, "no genesis"))?
            .origin;
        let statement = crate::ledger::recovery::Statement {
            origin,
            new: &new,
            after_size: r.after_size,
        };
        for approval in &r.approvals {
            let key = keys::parse_public_key(&approval.recovery_public_key.0)
                .map_err(|e| fail(index, format!("recovery key: {e}")))?;
            statement
                .verify(&key, &approval.signature)
                .map_err(|e| fail(index, e.to_string()))?;
        }
        self.ledger_key = Some(new);
        Ok(())
    }

    fn check_genesis(
        &mut self,
        opened: &entry::Opened,
        event: &Event,
        recorded_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), VerifyFailure> {
        let Event::Genesis(g) = event else {
            return Err(fail(
                0,
                format!("the first entry must be genesis, found {}", event.kind()),
            ));
        };
        let ledger_key = keys::parse_public_key(&g.ledger_public_key.0)
            .map_err(|e| fail(0, format!("ledger key: {e}")))?;
        let admin_key = keys::parse_public_key(&g.admin_public_key.0)
            .map_err(|e| fail(0, format!("admin key: {e}")))?;
        let actor = opened
            .body
            .actor
            .as_ref()
            .ok_or_else(|| fail(0, "genesis must be signed by the admin key"))?;
        if actor.key_id != KeyId::of(&admin_key).as_str() {
            return Err(fail(0, "genesis is not signed by the admin key it names"));
        }
        // Genesis is a request like any other: its bytes all read, issued inside
        // the window around its recorded time, with a nonce of the usual length.
        let payload = open_request(0, recorded_at, &actor.request)?;
        self.nonces
            .insert((KeyId::of(&admin_key), payload.nonce.clone()));
        let Some(pb::command::Kind::Genesis(c)) = payload.command.and_then(|c| c.kind) else {
            return Err(fail(0, "genesis request does not carry a Genesis command"));
        };
        if c.origin != g.origin
            || payload.ledger_origin != g.origin
            || c.ledger_public_key != g.ledger_public_key.0
            || c.admin_public_key != g.admin_public_key.0
            || c.admin_participant_id != g.admin_participant_id.as_str()
            || c.simulated_clock != g.simulated_clock
        {
            return Err(fail(
                0,
                "genesis event differs from the genesis request the admin signed",
            ));
        }
        self.pending.push(SigCheck {
            index: 0,
            what: "admin signature on genesis",
            key: admin_key,
            context: REQUEST_CONTEXT,
            message: actor.request.clone(),
            signature: actor.signature.clone(),
        });
        self.ledger_key = Some(ledger_key);
        Ok(())
    }

    /// Checks a request carried by entry `index` and returns the events the state
    /// machine decides for it.
    fn check_request(
        &mut self,
        index: u64,
        recorded_at: chrono::DateTime<chrono::Utc>,
        actor: &pb::Actor,
    ) -> Result<Vec<Event>, VerifyFailure> {
        let key_id = KeyId::parse(&actor.key_id).ok_or_else(|| {
            fail(
                index,
                format!("actor key id {:?} is malformed", actor.key_id),
            )
        })?;
        let caller = crate::store::authorize(&self.state, &key_id, index)
            .map_err(|e| fail(index, format!("participant signature: {e}")))?;
        let record = self
            .state
            .key(&key_id)
            .ok_or_else(|| fail(index, "key vanished"))?;
        // Decompressing a key costs a field inversion: once per key, not per request.
        let key = match self.parsed.get(&key_id) {
            Some(k) => *k,
            None => {
                let k = keys::parse_public_key(&record.public_key.0)
                    .map_err(|e| fail(index, e.to_string()))?;
                self.parsed.insert(key_id.clone(), k);
                k
            }
        };
        self.pending.push(SigCheck {
            index,
            what: "participant signature",
            key,
            context: REQUEST_CONTEXT,
            message: actor.request.clone(),
            signature: actor.signature.clone(),
        });
        let payload = open_request(index, recorded_at, &actor.request)?;
        let identity: &LedgerIdentity = self
            .state
            .identity()
            .ok_or_else(|| fail(index, "no genesis"))?;
        if payload.ledger_origin != identity.origin {
            return Err(fail(
                index,
                format!("request was signed for ledger {:?}", payload.ledger_origin),
            ));
        }
        if !self.nonces.insert((key_id, payload.nonce.clone())) {
            return Err(fail(
                index,
                "request replayed: its nonce was already used by this key",
            ));
        }
        let kind = payload
            .command
            .and_then(|c| c.kind)
            .ok_or_else(|| fail(index, "request carries no command"))?;
        let command =
            codec::command_from_kind(&kind).map_err(|e| fail(index, format!("request: {e}")))?;
        match registry::decide(
            &self.state,
            &caller,
            &registry::DecideCtx { index, recorded_at },
            &command,
        ) {
            Ok(Decision::Append(events)) if !events.is_empty() => Ok(events),
            Ok(_) => Err(fail(index, "request decides no entry but one was recorded")),
            Err(e) => Err(fail(
                index,
                format!("request should have been refused: {e}"),
            )),
        }
    }

    /// Hands the gathered signature checks to the thread pool and goes on with
    /// the entries; waits only when too many batches are in flight.
    fn launch_signatures(&mut self) -> Result<(), VerifyFailure> {
        let pending = std::mem::take(&mut self.pending);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rayon::spawn(move || {
            let _ = tx.send(check_signatures(pending));
        });
        self.inflight.push_back(std::sync::Arc::new(InFlight {
            rx: std::sync::Mutex::new(Some(rx)),
            result: std::sync::OnceLock::new(),
        }));
        while self.inflight.len() > INFLIGHT_MAX {
            if let Some(batch) = self.inflight.pop_front() {
                if let Some(failure) = batch.wait() {
                    return Err(failure);
                }
            }
        }
        Ok(())
    }

    /// Waits for every signature check, in flight or gathered; the first failure
    /// (lowest index) is the error.
    fn flush_signatures(&mut self) -> Result<(), VerifyFailure> {
        let mut first: Option<VerifyFailure> = None;
        let mut keep = |f: Option<VerifyFailure>| {
            if let Some(f) = f {
                if first.as_ref().is_none_or(|g| f.index < g.index) {
                    first = Some(f);
                }
            }
        };
        for batch in std::mem::take(&mut self.inflight) {
            keep(batch.wait());
        }
        keep(check_signatures(std::mem::take(&mut self.pending)));
        first.map_or(Ok(()), Err)
    }

    /// Finishes: checks outstanding signatures and that no request is left short.
    pub fn finish(mut self) -> Result<Verified, VerifyFailure> {
        self.settle()?;
        Ok(Verified {
            size: self.frontier.size(),
            root: self.frontier.root(),
            state: self.state,
            roots: self.roots,
        })
    }

    /// What is verified so far, as [`Verifier::finish`] would say, without ending:
    /// more entries may be pushed afterwards (a server's ledger that grew while it
    /// was being verified). Copies the state.
    pub fn checkpoint_here(&mut self) -> Result<Verified, VerifyFailure> {
        self.settle()?;
        Ok(Verified {
            size: self.frontier.size(),
            root: self.frontier.root(),
            state: self.state.clone(),
            roots: self.roots.clone(),
        })
    }

    /// Like [`Verifier::finish`], for a prefix of a ledger that may end inside a
    /// request (an export of the first N entries): the request's remaining entries
    /// lie beyond the prefix. Returns the index of that request, if any.
    pub fn finish_prefix(mut self) -> Result<(Verified, Option<u64>), VerifyFailure> {
        let open = (!self.expected.is_empty()).then_some(self.cause);
        self.expected.clear();
        self.finish().map(|v| (v, open))
    }

    /// Waits for every signature check and checks that the last request produced
    /// all its entries: after it, every entry pushed is verified. More entries may
    /// be pushed afterwards.
    pub fn settle(&mut self) -> Result<(), VerifyFailure> {
        self.flush_signatures()?;
        if let Some(missing) = self.expected.front() {
            return Err(fail(
                self.frontier.size(),
                format!(
                    "the ledger ends before request {} produced its {} entry",
                    self.cause,
                    missing.kind()
                ),
            ));
        }
        if self.frontier.size() == 0 {
            return Err(fail(0, "the ledger is empty"));
        }
        Ok(())
    }
}

/// The request payload an actor carries at entry `index`, checked as the server
/// checks it: every byte read (`entry::decode_exact`), an issue time inside the
/// window around `recorded_at` (to the nanosecond), and a nonce of
/// `NONCE_BYTES_MIN` to `NONCE_BYTES_MAX` bytes.
fn open_request(
    index: u64,
    recorded_at: chrono::DateTime<chrono::Utc>,
    bytes: &[u8],
) -> Result<pb::RequestPayload, VerifyFailure> {
    let payload: pb::RequestPayload =
        entry::decode_exact("request payload", bytes).map_err(|e| fail(index, e.to_string()))?;
    let issued_at = codec::timestamp_from_pb("issued_at", payload.issued_at.as_ref())
        .map_err(|e| fail(index, e.to_string()))?;
    crate::ledger::payload::check_window(issued_at, recorded_at).map_err(|e| {
        fail(
            index,
            format!("request {e}: outside the accepted window at its recorded time"),
        )
    })?;
    let nonce = payload.nonce.len();
    if !(limits::NONCE_BYTES_MIN..=limits::NONCE_BYTES_MAX).contains(&nonce) {
        return Err(fail(
            index,
            format!(
                "request nonce is {nonce} bytes; a nonce is {} to {} bytes",
                limits::NONCE_BYTES_MIN,
                limits::NONCE_BYTES_MAX
            ),
        ));
    }
    Ok(payload)
}

/// The key id and nonce of the request entry `index` (its stored `bytes`)
/// carries, if it carries one (genesis and derived entries carry none): what
/// [`Verifier::resume`] needs of the entries verified before.
pub fn request_nonce(index: u64, bytes: &[u8]) -> Result<Option<(KeyId, Vec<u8>)>, VerifyFailure> {
    if index == 0 {
        return Ok(None);
    }
    let opened = entry::open(bytes).map_err(|e| fail(index, e.to_string()))?;
    let Some(actor) = &opened.body.actor else {
        return Ok(None);
    };
    let key_id = KeyId::parse(&actor.key_id).ok_or_else(|| {
        fail(
            index,
            format!("actor key id {:?} is malformed", actor.key_id),
        )
    })?;
    let payload: pb::RequestPayload = entry::decode_exact("request payload", &actor.request)
        .map_err(|e| fail(index, e.to_string()))?;
    Ok(Some((key_id, payload.nonce)))
}

/// A batch of signature checks running on the thread pool. Shared by clones of a
/// verifier: the first to wait receives the answer, all read it.
struct InFlight {
    rx: std::sync::Mutex<Option<std::sync::mpsc::Receiver<Option<VerifyFailure>>>>,
    result: std::sync::OnceLock<Option<VerifyFailure>>,
}

impl InFlight {
    fn wait(&self) -> Option<VerifyFailure> {
        self.result
            .get_or_init(|| {
                let rx = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take();
                match rx {
                    Some(rx) => receive(&rx),
                    None => Some(fail(0, "a signature batch was lost")),
                }
            })
            .clone()
    }
}

fn receive(rx: &std::sync::mpsc::Receiver<Option<VerifyFailure>>) -> Option<VerifyFailure> {
    rx.recv().unwrap_or_else(|_| {
        Some(fail(
            0,
            "a signature check stopped without an answer (a worker thread failed)",
        ))
    })
}

/// Checks signatures in batches on every core; the first failure, if any.
fn check_signatures(pending: Vec<SigCheck>) -> Option<VerifyFailure> {
    let bad: Option<u64> = pending
        .par_chunks(BATCH)
        .filter_map(|chunk| {
            let items: Vec<_> = chunk
                .iter()
                .map(|c| {
                    (
                        &c.key,
                        c.context,
                        c.message.as_slice(),
                        c.signature.as_slice(),
                    )
                })
                .collect();
            if keys::verify_batch(&items) {
                return None;
            }
            chunk
                .iter()
                .find(|c| !keys::verify(&c.key, c.context, &c.message, &c.signature))
                .map(|c| c.index)
        })
        .min();
    bad.map(|index| {
        let what = pending
            .iter()
            .find(|c| {
                c.index == index && !keys::verify(&c.key, c.context, &c.message, &c.signature)
            })
            .map_or("signature", |c| c.what);
        fail(index, format!("{what} does not verify"))
    })
}

/// Verifies a stopped store in full: every entry, the stored checkpoint, and that
/// the stored registry state is exactly the replay.
pub fn verify_store(
    path: &std::path::Path,
    progress: impl FnMut(u64, u64),
) -> Result<Verified, anyhow::Error> {
    verify_store_keeping(path, &[], progress)
}

/// [`verify_store`], also keeping the roots at `sizes` (to check saved checkpoints).
pub fn verify_store_keeping(
    path: &std::path::Path,
    sizes: &[u64],
    progress: impl FnMut(u64, u64),
) -> Result<Verified, anyhow::Error> {
    verify_raw(&crate::store::RawStore::open(path)?, sizes, progress)
}

/// Verifies the ledger a store's raw view holds, on any engine: [`verify_store`]
/// after the store is open, also keeping the roots at `sizes`.
pub fn verify_raw(
    store: &crate::store::RawStore,
    sizes: &[u64],
    mut progress: impl FnMut(u64, u64),
) -> Result<Verified, anyhow::Error> {
    let total = store.len_hint();
    let mut verifier = Verifier::new();
    for size in sizes {
        verifier.want_root_at(*size);
    }
    for item in store.entries() {
        let (index, bytes) = item?;
        if index != verifier.size() {
            return Err(fail(
                verifier.size(),
                format!("entry {} is missing from the store", verifier.size()),
            )
            .into());
        }
        verifier.push(&bytes)?;
        if index % 4096 == 0 {
            progress(index, total);
        }
    }
    let verified = verifier.finish()?;
    progress(verified.size, total);
    verified.check_checkpoint(&store.checkpoint()?)?;
    store
        .check_state(&verified.state)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(verified)
}

#[cfg(test)]
mod tests {
    use super::first_difference;
    use crate::registry::{Event, SeriesId};

    fn closed(tranche: u32, early: bool) -> Event {
        Event::TrancheClosed {
            series_id: SeriesId::parse("s", "AZ-2029").unwrap(),
            tranche,
            early,
        }
    }

    #[test]
    fn the_first_differing_figure_is_named_with_both_values() {
        assert_eq!(
            first_difference(&closed(2, true), &closed(2, false)).as_deref(),
            Some("early is true on the ledger, the request decides false")
        );
        assert_eq!(
            first_difference(&closed(3, false), &closed(2, false)).as_deref(),
            Some("tranche is 3 on the ledger, the request decides 2")
        );
        let other = Event::TrancheClosed {
            series_id: SeriesId::parse("s", "AZ-2030").unwrap(),
            tranche: 2,
            early: true,
        };
        assert_eq!(
            first_difference(&other, &closed(2, true)).as_deref(),
            Some("series_id is \"AZ-2030\" on the ledger, the request decides \"AZ-2029\"")
        );
        // Different kinds: the message names the kinds, not a figure.
        let cancelled = Event::TrancheCancelled {
            series_id: SeriesId::parse("s", "AZ-2029").unwrap(),
            tranche: 2,
            reason: "moved".into(),
            subscriptions: 0,
        };
        assert_eq!(first_difference(&cancelled, &closed(2, true)), None);
        assert_eq!(first_difference(&closed(2, true), &closed(2, true)), None);
    }
}
