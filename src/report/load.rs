//! Reading a stopped store for a report: every entry goes through the auditor's
//! [`Verifier`] (so a report is only ever drawn from a ledger that verifies), and
//! the entries' recorded times give the subscription book's timeline, which the
//! registry state alone does not keep (it forgets when a subscription was
//! withdrawn).

use super::ReportError;
use crate::audit::Verifier;
use crate::ledger::entry;
use crate::ledger::merkle::Hash;
use crate::registry::{Event, SeriesId, State};
use crate::store::RawStore;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// A change to the live units of a series' book, at the entry's recorded time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BookChange {
    Submitted { at: DateTime<Utc>, units: u64 },
    Withdrawn { at: DateTime<Utc>, units: u64 },
}

impl BookChange {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            BookChange::Submitted { at, .. } | BookChange::Withdrawn { at, .. } => *at,
        }
    }
}

/// What the ledger's recorded times say about one series' book.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BookTimeline {
    pub opened_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// In ledger order (so recorded times never decrease).
    pub changes: Vec<BookChange>,
}

/// A verified ledger, ready to report on.
#[derive(Clone, Debug)]
pub struct LedgerView {
    pub state: State,
    pub size: u64,
    pub root: Hash,
    pub origin: String,
    pub timelines: BTreeMap<SeriesId, BookTimeline>,
}

/// Collects book timelines from events as they are replayed.
#[derive(Default)]
pub struct TimelineBuilder {
    timelines: BTreeMap<SeriesId, BookTimeline>,
    /// Subscription id -> (series, units), to attribute withdrawals.
    subscriptions: HashMap<u64, (SeriesId, u64)>,
}

impl TimelineBuilder {
    pub fn note(&mut self, at: DateTime<Utc>, event: &Event) {
        match event {
            Event::SeriesOpened(id) => {
                self.timelines.entry(id.clone()).or_default().opened_at = Some(at);
            }
            Event::SeriesClosed { series_id, .. } => {
                self.timelines
                    .entry(series_id.clone())
                    .or_default()
                    .closed_at = Some(at);
            }
            Event::SubscriptionSubmitted(s) => {
                self.subscriptions
                    .insert(s.subscription_id, (s.series_id.clone(), s.units.get()));
                self.timelines
                    .entry(s.series_id.clone())
                    .or_default()
                    .changes
                    .push(BookChange::Submitted {
                        at,
                        units: s.units.get(),
                    });
            }
            Event::SubscriptionWithdrawn { subscription_id } => {
                // A verified ledger only withdraws subscriptions it recorded; an
                // unknown id is ignored rather than trusted.
                if let Some((series, units)) = self.subscriptions.get(subscription_id) {
                    self.timelines
                        .entry(series.clone())
                        .or_default()
                        .changes
                        .push(BookChange::Withdrawn { at, units: *units });
                }
            }
            _ => {}
        }
    }

    pub fn finish(self) -> BTreeMap<SeriesId, BookTimeline> {
        self.timelines
    }
}

/// Opens a stopped store read-only, verifies every entry and the signed
/// checkpoint, and returns the replayed state with the book timelines.
pub fn load(store_path: &Path) -> Result<LedgerView, ReportError> {
    load_from(RawStore::open(store_path)?)
}

/// [`load`] from a store opened on any engine.
pub fn load_from(store: RawStore) -> Result<LedgerView, ReportError> {
    let mut verifier = Verifier::new();
    let mut timelines = TimelineBuilder::default();
    for item in store.entries() {
        let (index, bytes) = item?;
        if index != verifier.size() {
            return Err(ReportError::Verify(format!(
                "entry {}: missing from the store (next stored entry is {index})",
                verifier.size()
            )));
        }
        verifier
            .push(&bytes)
            .map_err(|e| ReportError::Verify(e.to_string()))?;
        // The verifier has just accepted these bytes, so they open and decode; the
        // errors are mapped all the same rather than assumed away.
        let opened =
            entry::open(&bytes).map_err(|e| ReportError::Verify(format!("entry {index}: {e}")))?;
        let at = crate::codec::timestamp_from_pb("recorded_at", opened.body.recorded_at.as_ref())
            .map_err(|e| ReportError::Verify(format!("entry {index}: {e}")))?;
        let event = opened
            .body
            .event
            .as_ref()
            .ok_or_else(|| ReportError::Verify(format!("entry {index}: event missing")))
            .and_then(|e| {
                crate::codec::event_from_pb(e)
                    .map_err(|e| ReportError::Verify(format!("entry {index}: {e}")))
            })?;
        timelines.note(at, &event);
    }
    let verified = verifier
        .finish()
        .map_err(|e| ReportError::Verify(e.to_string()))?;
    verified
        .check_checkpoint(&store.checkpoint()?)
        .map_err(|e| ReportError::Verify(e.to_string()))?;
    let origin = verified
        .state
        .identity()
        .map(|i| i.origin.clone())
        .unwrap_or_default();
    Ok(LedgerView {
        size: verified.size,
        root: verified.root,
        origin,
        state: verified.state,
        timelines: timelines.finish(),
    })
}
