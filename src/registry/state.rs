//! The registry state and its persisted form: one record per object, keyed so that
//! the store can write exactly what an event changed in the same batch as the entry.
//!
//! Invariants: the records are exactly what replaying the ledger's events from
//! genesis gives; the derived indexes (`books`, `DecideIndexes`,
//! `holdings_by_investor`) are never persisted and always agree with the
//! records they summarise (`registry::invariants` checks both).

use super::{
    ApplyError, DeathNotice, Holding, InvestorRef, KeyRecord, LedgerIdentity, Participant,
    ParticipantId, RegistrationForm, Series, SeriesId, Subscription, Transfer,
};
use crate::ids::KeyId;
use chrono::{DateTime, Utc};
use imbl::{GenericHashMap, OrdMap, Vector};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// A hash map for the derived indexes, which replay at open fills for every
/// subscription: foldhash (randomly seeded per process) hashes these short keys
/// with less work than the standard SipHash.
pub(super) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A persistent (structurally shared) hash map with the same hasher, for the
/// indexes readers also use: a copy shares every node with the original, and a
/// change copies only the nodes on its path.
pub(super) type SharedMap<K, V> =
    GenericHashMap<K, V, foldhash::fast::RandomState, imbl::shared_ptr::DefaultSharedPtr>;

/// Subscriptions by id. An id is the index of the entry that recorded it, so ids
/// arrive in increasing order and none is ever removed: a vector sorted by id,
/// appended to and searched by bisection, holds them. The vector is persistent
/// (`imbl`, a tree of 64-element chunks): the readers' copy shares every chunk
/// with the writer's state, and an append copies only the last chunk.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Subscriptions(Vector<Subscription>);

impl Subscriptions {
    fn position(&self, id: u64) -> Result<usize, usize> {
        self.0.binary_search_by_key(&id, |s| s.subscription_id)
    }
    pub(super) fn get(&self, id: &u64) -> Option<&Subscription> {
        self.position(*id).ok().and_then(|i| self.0.get(i))
    }
    pub(super) fn get_mut(&mut self, id: &u64) -> Option<&mut Subscription> {
        self.position(*id).ok().and_then(|i| self.0.get_mut(i))
    }
    /// Adds a subscription whose id is greater than every id held; false (and
    /// nothing added) otherwise.
    pub(super) fn push(&mut self, sub: Subscription) -> bool {
        if self
            .0
            .last()
            .is_some_and(|last| last.subscription_id >= sub.subscription_id)
        {
            return false;
        }
        self.0.push_back(sub);
        true
    }
    /// Subscriptions with id greater than `id`, in order.
    pub(super) fn after(&self, id: u64) -> impl Iterator<Item = &Subscription> {
        // Never `Equal`: the search ends at the first id greater than `id`.
        let first = self
            .0
            .binary_search_by(|s| {
                if s.subscription_id <= id {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                }
            })
            .unwrap_or_else(|at| at);
        let focus = self.0.focus();
        let len = focus.len();
        focus.narrow(first.min(len)..).into_iter()
    }
    pub(super) fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.0.iter().map(|s| s.subscription_id)
    }
}

/// Where and when an entry was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryMeta {
    pub index: u64,
    pub recorded_at: DateTime<Utc>,
}

impl EntryMeta {
    /// The index of the entry after this one. Exact: `apply` refuses an entry
    /// at the last index a `u64` holds.
    pub fn next_index(&self) -> u64 {
        self.index.saturating_add(1)
    }
}

/// Names one persisted state record.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StateKey {
    /// Ledger identity, size and last recorded time.
    Meta,
    Participant(ParticipantId),
    Key(KeyId),
    Series(SeriesId),
    Subscription(u64),
    /// (series, investor, custodian bank)
    Holding((SeriesId, InvestorRef, ParticipantId)),
    /// (reference rate, fixing date)
    Fixing((String, chrono::NaiveDate)),
    /// An accrual event id that is posted.
    Posted(String),
    /// A series' withholding tables (`None`: the programme's).
    Withholding(Option<SeriesId>),
    /// (bank, investor): the residence changes the bank recorded.
    Residence((ParticipantId, InvestorRef)),
    /// (series, event id, investor, bank): a payment reported undeliverable.
    Unclaimed(super::unclaimed::UnclaimedKey),
    /// A transfer, by id (the index of the entry that requested it).
    Transfer(u64),
    /// A death notice, by id (the index of the entry that filed it).
    DeathNotice(u64),
}

impl StateKey {
    /// The record's key bytes; the store prefixes them with its state namespace.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            StateKey::Meta => b"meta".to_vec(),
            StateKey::Participant(id) => [b"p/".as_slice(), id.as_str().as_bytes()].concat(),
            StateKey::Key(id) => [b"k/".as_slice(), id.as_str().as_bytes()].concat(),
            StateKey::Series(id) => [b"r/".as_slice(), id.as_str().as_bytes()].concat(),
            // Big-endian, so byte order is subscription order.
            StateKey::Subscription(id) => [b"u/".as_slice(), &id.to_be_bytes()].concat(),
            StateKey::Holding((s, i, b)) => [
                b"h/".as_slice(),
                s.as_str().as_bytes(),
                b"/",
                i.as_str().as_bytes(),
                b"/",
                b.as_str().as_bytes(),
            ]
            .concat(),
            StateKey::Fixing((r, d)) => format!("f/{r}/{d}").into_bytes(),
            StateKey::Posted(id) => format!("a/{id}").into_bytes(),
            // Series ids are never empty: "w/" alone is the programme's.
            StateKey::Withholding(s) => {
                format!("w/{}", s.as_ref().map_or("", |s| s.as_str())).into_bytes()
            }
            StateKey::Residence((b, i)) => format!("c/{b}/{i}").into_bytes(),
            StateKey::Unclaimed((s, e, i, b)) => format!("x/{s}/{e}/{i}/{b}").into_bytes(),
            StateKey::Transfer(id) => [b"t/".as_slice(), &id.to_be_bytes()].concat(),
            StateKey::DeathNotice(id) => [b"n/".as_slice(), &id.to_be_bytes()].concat(),
        }
    }
}

/// The state keys an applied batch of events touched (deduplicated, ordered).
#[derive(Clone, Debug, Default)]
pub struct Changes {
    keys: BTreeSet<StateKey>,
}

impl Changes {
    pub fn touch(&mut self, key: StateKey) {
        self.keys.insert(key);
    }
    pub fn keys(&self) -> impl Iterator<Item = &StateKey> {
        self.keys.iter()
    }
    pub fn clear(&mut self) {
        self.keys.clear();
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Meta {
    pub identity: Option<LedgerIdentity>,
    /// Number of entries applied (the next index).
    pub size: u64,
    pub last_recorded_at: Option<DateTime<Utc>>,
    /// The ledger keys that took over from genesis's, in ledger order. Left out
    /// of the stored record while empty, so a ledger that never rotated its key
    /// keeps the record it always had.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ledger_keys: Vec<LedgerKeyTerm>,
    /// The recovery quorum in force, once one was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_quorum: Option<RecoveryQuorum>,
}

/// A ledger key taking over: it signs every entry from `from_index` on and every
/// checkpoint of a size at least `from_index`, until the next hand-over. A key
/// that replaced a lost one also signs its replacement entry, `from_index - 1`,
/// and `quorum_entry` is the entry that set the recovery quorum that approved
/// it (`None` for genesis's key and keys handed over).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LedgerKeyTerm {
    pub from_index: u64,
    pub public_key: super::PublicKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_entry: Option<u64>,
}

/// The recovery quorum in force: `threshold` of `keys` approve an emergency
/// replacement of the ledger key; set by the entry `set_at`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecoveryQuorum {
    pub threshold: u32,
    pub keys: Vec<super::PublicKey>,
    pub set_at: u64,
}

/// Indexes that only deciding a command reads (never a query).
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct DecideIndexes {
    /// (bank, idempotency key) -> subscription id.
    pub(super) idempotency: FastMap<(ParticipantId, Arc<str>), u64>,
    /// Units in submitted (live, not yet allotted) subscriptions per (series,
    /// bank, investor).
    pub(super) investor_units: FastMap<(SeriesId, ParticipantId, InvestorRef), u64>,
    /// Units in submitted subscriptions per series: at most `UNITS_MAX`.
    pub(super) book_units: FastMap<SeriesId, u64>,
    /// The registration form of an investor's submitted subscriptions per
    /// (series, bank, investor), when it is not sole (they become one holding,
    /// so they share one form).
    pub(super) subscription_forms:
        FastMap<(SeriesId, ParticipantId, InvestorRef), RegistrationForm>,
    /// (bank, owner reference) -> the joint holdings (series, investor) that
    /// name the owner: where a death notice for the owner looks.
    pub(super) joint_owners:
        FastMap<(ParticipantId, InvestorRef), BTreeSet<(SeriesId, InvestorRef)>>,
}

/// Everything the registry knows. The store keeps a working copy that runs ahead
/// of durability and decides commands, and a readers' copy (`readers_copy`) that
/// answers queries. Every collection a reader uses is persistent (`imbl`): the
/// readers' copy of a working state shares all of its nodes with it, so taking
/// one costs a few pointer copies, and the working state's next change copies
/// only the nodes on its path. The registry is held once, plus the nodes the
/// writer changed since the readers' copy was taken.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub(super) meta: Meta,
    pub(super) participants: OrdMap<ParticipantId, Participant>,
    pub(super) keys: OrdMap<KeyId, KeyRecord>,
    pub(super) series: OrdMap<SeriesId, Series>,
    pub(super) subscriptions: Subscriptions,
    pub(super) holdings: OrdMap<(SeriesId, InvestorRef, ParticipantId), Holding>,
    pub(super) fixings: OrdMap<(String, chrono::NaiveDate), rust_decimal::Decimal>,
    /// Posted accrual event id -> index of the entry that posted it.
    pub(super) posted: OrdMap<String, u64>,
    /// Transfers between holdings, by id.
    pub(super) transfers: OrdMap<u64, Transfer>,
    /// Death notices, by id.
    pub(super) notices: OrdMap<u64, DeathNotice>,
    // Derived indexes, rebuilt by replay, never persisted.
    /// Subscription ids of each series, in ledger order.
    pub(super) books: SharedMap<SeriesId, Vector<u64>>,
    /// `None` in a readers' copy, which never decides, so that it neither holds
    /// nor copies indexes kept per subscription that no query reads.
    pub(super) decide: Option<DecideIndexes>,
    /// (bank, investor) -> series held.
    pub(super) holdings_by_investor: SharedMap<(ParticipantId, InvestorRef), BTreeSet<SeriesId>>,
    /// Withholding, residences, unclaimed payments and units history.
    pub(super) servicing: super::servicing::ServicingState,
}

impl Default for State {
    fn default() -> Self {
        State {
            meta: Meta::default(),
            participants: OrdMap::new(),
            keys: OrdMap::new(),
            series: OrdMap::new(),
            subscriptions: Subscriptions::default(),
            holdings: OrdMap::new(),
            fixings: OrdMap::new(),
            posted: OrdMap::new(),
            transfers: OrdMap::new(),
            notices: OrdMap::new(),
            books: SharedMap::default(),
            decide: Some(DecideIndexes::default()),
            holdings_by_investor: SharedMap::default(),
            servicing: Default::default(),
        }
    }
}

impl State {
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy for answering queries: everything but the indexes only deciding
    /// a command needs. Applying events to it keeps it equal to the full state
    /// in every query; `decide` on it refuses. Cheap: the copy shares every
    /// node of the persistent collections with `self`.
    pub fn readers_copy(&self) -> State {
        let State {
            meta,
            participants,
            keys,
            series,
            subscriptions,
            holdings,
            fixings,
            posted,
            transfers,
            notices,
            books,
            decide: _,
            holdings_by_investor,
            servicing,
        } = self;
        State {
            meta: meta.clone(),
            participants: participants.clone(),
            keys: keys.clone(),
            series: series.clone(),
            subscriptions: subscriptions.clone(),
            holdings: holdings.clone(),
            fixings: fixings.clone(),
            posted: posted.clone(),
            transfers: transfers.clone(),
            notices: notices.clone(),
            books: books.clone(),
            decide: None,
            holdings_by_investor: holdings_by_investor.clone(),
            servicing: servicing.clone(),
        }
    }

    /// Number of entries applied so far.
    pub fn size(&self) -> u64 {
        self.meta.size
    }

    pub fn identity(&self) -> Option<&LedgerIdentity> {
        self.meta.identity.as_ref()
    }

    /// The ledger key that signs entry `index` and the checkpoint of size
    /// `index`: genesis's key, or the last to take over at or before `index`.
    /// `None` before genesis.
    pub fn ledger_key_at(&self, index: u64) -> Option<super::PublicKey> {
        let genesis = self.meta.identity.as_ref()?.ledger_public_key;
        Some(
            self.meta
                .ledger_keys
                .iter()
                .rev()
                .find(|t| t.from_index <= index)
                .map_or(genesis, |t| t.public_key),
        )
    }

    /// The ledger key that signs entry `index`: the key of
    /// [`State::ledger_key_at`], except for a replacement entry, which the key
    /// it brought in signs.
    pub fn entry_key_at(&self, index: u64) -> Option<super::PublicKey> {
        match self
            .meta
            .ledger_keys
            .iter()
            .find(|t| t.quorum_entry.is_some() && t.from_index == index.saturating_add(1))
        {
            Some(t) => Some(t.public_key),
            None => self.ledger_key_at(index),
        }
    }

    /// The recovery quorum in force, if one was set.
    pub fn recovery_quorum(&self) -> Option<&RecoveryQuorum> {
        self.meta.recovery_quorum.as_ref()
    }

    /// The ledger key in force now: the one that signs the next entry and the
    /// checkpoint of the ledger as it stands.
    pub fn ledger_key_in_force(&self) -> Option<super::PublicKey> {
        self.ledger_key_at(self.meta.size)
    }

    /// Every ledger key with the first index it signs, genesis's (from 0) first.
    pub fn ledger_key_terms(&self) -> Vec<LedgerKeyTerm> {
        let genesis = self.meta.identity.as_ref().map(|i| LedgerKeyTerm {
            from_index: 0,
            public_key: i.ledger_public_key,
            quorum_entry: None,
        });
        genesis
            .into_iter()
            .chain(self.meta.ledger_keys.iter().cloned())
            .collect()
    }

    pub fn last_recorded_at(&self) -> Option<DateTime<Utc>> {
        self.meta.last_recorded_at
    }

    pub fn participant(&self, id: &ParticipantId) -> Option<&Participant> {
        self.participants.get(id)
    }

    pub fn participants(&self) -> impl Iterator<Item = &Participant> {
        self.participants.values()
    }

    pub fn key(&self, id: &KeyId) -> Option<&KeyRecord> {
        self.keys.get(id)
    }

    pub fn series(&self, id: &SeriesId) -> Option<&Series> {
        self.series.get(id)
    }

    pub fn all_series(&self) -> impl Iterator<Item = &Series> {
        self.series.values()
    }

    pub fn subscription(&self, id: u64) -> Option<&Subscription> {
        self.subscriptions.get(&id)
    }

    /// Subscriptions with id greater than `after`, in order.
    pub fn subscriptions_after(&self, after: u64) -> impl Iterator<Item = &Subscription> {
        self.subscriptions.after(after)
    }

    /// The book of a series: its subscriptions in ledger order.
    pub fn book<'a>(&'a self, id: &SeriesId) -> impl Iterator<Item = &'a Subscription> + 'a {
        self.books
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|i| self.subscriptions.get(i))
    }

    /// Holdings of one investor at one bank.
    pub fn investor_holdings<'a>(
        &'a self,
        bank: &ParticipantId,
        investor: &InvestorRef,
    ) -> impl Iterator<Item = &'a Holding> + 'a {
        let (bank, investor) = (bank.clone(), investor.clone());
        let key = (bank.clone(), investor.clone());
        let series: Vec<SeriesId> = self
            .holdings_by_investor
            .get(&key)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        series
            .into_iter()
            .filter_map(move |s| self.holdings.get(&(s, investor.clone(), bank.clone())))
    }

    /// Holdings of a series after the given (investor, bank) key, in key order.
    pub fn series_holdings<'a>(
        &'a self,
        id: &SeriesId,
        after: Option<(InvestorRef, ParticipantId)>,
    ) -> impl Iterator<Item = &'a Holding> + 'a {
        use std::ops::Bound;
        let start = match after {
            Some((i, b)) => Bound::Excluded((id.clone(), i, b)),
            None => Bound::Included((id.clone(), InvestorRef::min(), ParticipantId::min())),
        };
        let id = id.clone();
        self.holdings
            .range((start, Bound::Unbounded))
            .take_while(move |(k, _)| k.0 == id)
            .map(|(_, h)| h)
    }

    /// Published fixings, by (reference rate, date).
    pub fn fixings(&self) -> &OrdMap<(String, chrono::NaiveDate), rust_decimal::Decimal> {
        &self.fixings
    }

    /// The index of the entry that posted an accrual event.
    pub fn posted(&self, event_id: &str) -> Option<u64> {
        self.posted.get(event_id).copied()
    }

    pub fn transfer(&self, id: u64) -> Option<&Transfer> {
        self.transfers.get(&id)
    }

    /// Every transfer, in id order.
    pub fn transfers(&self) -> impl Iterator<Item = &Transfer> {
        self.transfers.values()
    }

    pub fn death_notice(&self, id: u64) -> Option<&DeathNotice> {
        self.notices.get(&id)
    }

    /// Every death notice, in id order.
    pub fn death_notices(&self) -> impl Iterator<Item = &DeathNotice> {
        self.notices.values()
    }

    pub(super) fn check_next(&self, meta: &EntryMeta) -> Result<(), ApplyError> {
        if meta.index == u64::MAX {
            return Err(ApplyError {
                index: meta.index,
                reason: "the ledger holds no entry beyond index u64::MAX - 1".into(),
            });
        }
        if meta.index != self.meta.size {
            return Err(ApplyError {
                index: meta.index,
                reason: format!(
                    "expected entry index {}, found {}",
                    self.meta.size, meta.index
                ),
            });
        }
        if let Some(last) = self.meta.last_recorded_at {
            if meta.recorded_at < last {
                return Err(ApplyError {
                    index: meta.index,
                    reason: format!(
                        "recorded time {} goes back before {}",
                        meta.recorded_at, last
                    ),
                });
            }
        }
        Ok(())
    }

    pub(super) fn advance(&mut self, meta: &EntryMeta, changes: &mut Changes) {
        self.meta.size = meta.next_index();
        self.meta.last_recorded_at = Some(meta.recorded_at);
        changes.touch(StateKey::Meta);
    }

    /// The persisted form of one record, or `None` if the object does not exist.
    pub fn record(&self, key: &StateKey) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        self.record_into(key, &mut out).then_some(out)
    }

    /// Writes the persisted form of one record into `out` (cleared first); false if
    /// the object does not exist.
    pub fn record_into(&self, key: &StateKey, out: &mut Vec<u8>) -> bool {
        out.clear();
        let json = match key {
            StateKey::Meta => serde_json::to_writer(&mut *out, &self.meta),
            StateKey::Participant(id) => match self.participants.get(id) {
                Some(v) => serde_json::to_writer(&mut *out, v),
                None => return false,
            },
            StateKey::Key(id) => match self.keys.get(id) {
                Some(v) => serde_json::to_writer(&mut *out, v),
                None => return false,
            },
            StateKey::Series(id) => match self.series.get(id) {
                Some(v) => serde_json::to_writer(&mut *out, v),
                None => return false,
            },
            StateKey::Subscription(id) => match self.subscriptions.get(id) {
                Some(v) => serde_json::to_writer(&mut *out, v),
                None => return false,
            },
            StateKey::Holding(k) => match self.holdings.get(k) {
                Some(v) => serde_json::to_writer(&mut *out, v),
                None => return false,
            },
            StateKey::Fixing(k) => match self.fixings.get(k) {
                Some(v) => serde_json::to_writer(&mut *out, &(&k.0, k.1, v)),
                None => return false,
            },
            StateKey::Posted(k) => match self.posted.get(k) {
                Some(v) => serde_json::to_writer(&mut *out, v),
                None => return false,
            },
            StateKey::Withholding(k) => match self.servicing.withholding.get(k) {
                Some(v) => serde_json::to_writer(&mut *out, v),
                None => return false,
            },
            StateKey::Residence(k) => match self.servicing.residences.get(k) {
                Some(v) => serde_json::to_writer(&mut *out, v),
                None => return false,
            },
            StateKey::Unclaimed(k) => match self.servicing.unclaimed.get(k) {
                Some(v) => serde_json::to_writer(&mut *out, v),
                None => return false,
            },
            StateKey::Transfer(k) => match self.transfers.get(k) {
                Some(v) => serde_json::to_writer(&mut *out, v),
                None => return false,
            },
            StateKey::DeathNotice(k) => match self.notices.get(k) {
                Some(v) => serde_json::to_writer(&mut *out, v),
                None => return false,
            },
        };
        // Serialising plain data structs to a Vec cannot fail.
        json.is_ok()
    }

    /// Every record's key bytes and key, sorted by key bytes: what the store holds.
    pub fn record_keys(&self) -> Vec<(Vec<u8>, StateKey)> {
        let mut keys = vec![StateKey::Meta];
        keys.extend(self.participants.keys().cloned().map(StateKey::Participant));
        keys.extend(self.keys.keys().cloned().map(StateKey::Key));
        keys.extend(self.series.keys().cloned().map(StateKey::Series));
        keys.extend(self.subscriptions.ids().map(StateKey::Subscription));
        keys.extend(self.holdings.keys().cloned().map(StateKey::Holding));
        keys.extend(self.fixings.keys().cloned().map(StateKey::Fixing));
        keys.extend(self.posted.keys().cloned().map(StateKey::Posted));
        let s = &self.servicing;
        keys.extend(s.withholding.keys().cloned().map(StateKey::Withholding));
        keys.extend(s.residences.keys().cloned().map(StateKey::Residence));
        keys.extend(s.unclaimed.keys().cloned().map(StateKey::Unclaimed));
        keys.extend(self.transfers.keys().copied().map(StateKey::Transfer));
        keys.extend(self.notices.keys().copied().map(StateKey::DeathNotice));
        let mut out: Vec<(Vec<u8>, StateKey)> =
            keys.into_iter().map(|k| (k.to_bytes(), k)).collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Every record, sorted by key bytes: what the store must hold.
    pub fn records(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.record_keys()
            .into_iter()
            .filter_map(|(bytes, k)| Some((bytes, self.record(&k)?)))
            .collect()
    }
}
