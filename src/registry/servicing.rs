//! The registry's state for the years after issue: withholding tables,
//! residences and unclaimed payments (persisted records), and the units each
//! holding had before its units changed after issue (derived, rebuilt by
//! replay), which re-deriving a past payment needs.
//!
//! Invariant: every record here is written only by the events of this part of
//! the registry, so a ledger without them has none and its records are those
//! it always had.

use super::unclaimed::{Unclaimed, UnclaimedKey};
use super::withholding::{ResidenceEntry, TableEntry};
use super::{InvestorRef, ParticipantId, SeriesId, State};
use imbl::OrdMap;

/// A holding's key: (series, investor, bank).
pub type HoldingKey = (SeriesId, InvestorRef, ParticipantId);

/// Persistent maps (`imbl`), shared between the working state and the readers'
/// copy as `State`'s collections are.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct ServicingState {
    /// Withholding tables by series (`None`: the programme's), by effective date.
    pub(super) withholding: OrdMap<Option<SeriesId>, Vec<TableEntry>>,
    /// Residence changes by (bank, investor), in ledger order.
    pub(super) residences: OrdMap<(ParticipantId, InvestorRef), Vec<ResidenceEntry>>,
    /// Payments reported undeliverable.
    pub(super) unclaimed: OrdMap<UnclaimedKey, Unclaimed>,
    /// For each holding whose units changed after its series' issue (or that
    /// was created after it): (index of the change, units before it), in order.
    pub(super) units_history: OrdMap<HoldingKey, Vec<(u64, u64)>>,
}

impl State {
    /// Records that the holding `key` had `before` units until the entry at
    /// `index` changed them. Every event that creates a holding after its
    /// series' issue or changes a holding's units calls it before the change.
    pub(super) fn note_units_change(&mut self, key: &HoldingKey, before: u64, index: u64) {
        self.servicing
            .units_history
            .entry(key.clone())
            .or_default()
            .push((index, before));
    }

    /// The units the holding `key` (now holding `now`) had when the entry at
    /// `index` was decided: after every change recorded before that index.
    pub fn units_at(&self, key: &HoldingKey, now: u64, index: u64) -> u64 {
        self.servicing
            .units_history
            .get(key)
            .and_then(|list| list.iter().find(|(at, _)| *at >= index))
            .map_or(now, |(_, before)| *before)
    }

    /// The withholding tables of a series (`None`: the programme's), by
    /// effective date.
    pub fn withholding_tables(&self, series: Option<&SeriesId>) -> &[TableEntry] {
        self.servicing
            .withholding
            .get(&series.cloned())
            .map_or(&[], Vec::as_slice)
    }

    /// Every series (and the programme, `None`) with a withholding table.
    pub fn withholding_keys(&self) -> impl Iterator<Item = Option<&SeriesId>> {
        self.servicing.withholding.keys().map(Option::as_ref)
    }

    /// The residence changes a bank recorded for its client.
    pub fn residences(&self, bank: &ParticipantId, investor: &InvestorRef) -> &[ResidenceEntry] {
        self.servicing
            .residences
            .get(&(bank.clone(), investor.clone()))
            .map_or(&[], Vec::as_slice)
    }
}
