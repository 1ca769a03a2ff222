//! A holding's life between issue and maturity: its registration form
//! (`registration`), succession on an owner's death (`succession`), moves
//! between custodian banks and gifts (`transfers`), and early redemption
//! (`redemption`).
//!
//! Invariants: units are conserved (every path moves units from one holding to
//! another, or retires them by early redemption, which the series counts); a
//! holding's pending units (promised to transfers awaiting confirmation) and
//! the units it received as a gift never exceed its units; every change is
//! kept in the holding's history, so a statement shows the whole path; holdings
//! change only while the series is issued, the engine has posted everything
//! due, and (except for succession) outside a closed period between a record
//! date and its payment.

pub mod redemption;
pub mod registration;
pub mod succession;
pub mod transfers;

#[cfg(test)]
mod tests;

use super::coupons;
use super::series::{SeriesStatus, series};
use super::{
    ApplyError, Caller, Changes, EntryMeta, Holding, InvestorRef, ParticipantId, RegistryError,
    Series, SeriesId, State, StateKey,
};
use crate::pricing::CashFlowKind;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub use redemption::{EarlyRedeemed, EarlyRedemptionTerms, RedeemEarly, RedemptionReason};
pub use registration::{ChangeRegistration, RegistrationChanged, RegistrationForm};
pub use succession::{
    DeathNotice, DeathNoticeFiled, FileDeathNotice, HoldingPassed, SuccessionPath,
};
pub use transfers::{
    RequestTransfer, Transfer, TransferConfirmed, TransferKind, TransferPolicy, TransferRefused,
    TransferRequested, TransferStatus,
};

/// The key of a holding: (series, investor, custodian bank).
pub type HoldingKey = (SeriesId, InvestorRef, ParticipantId);

/// What changed a holding after issue. Named in snake case.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum HoldingChangeKind {
    /// Units arrived from the same investor's holding at another bank.
    MovedIn,
    /// Units left for the same investor's holding at another bank.
    MovedOut,
    /// Units arrived as a gift.
    GiftIn,
    /// Units given away.
    GiftOut,
    /// Units inherited from a deceased owner's holding.
    SuccessionIn,
    /// Units passed to successors on an owner's death.
    SuccessionOut,
    /// Units redeemed early and retired.
    EarlyRedeemed,
    /// The registration form changed.
    Registration,
}

impl HoldingChangeKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// +1 for units in, -1 for units out, 0 for a change of form.
    pub fn sign(self) -> i8 {
        use HoldingChangeKind as K;
        match self {
            K::MovedIn | K::GiftIn | K::SuccessionIn => 1,
            K::MovedOut | K::GiftOut | K::SuccessionOut | K::EarlyRedeemed => -1,
            K::Registration => 0,
        }
    }
}

/// One change of a holding, kept on its record: the path a statement shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldingChange {
    /// The entry that made the change.
    pub index: u64,
    pub recorded_at: DateTime<Utc>,
    pub kind: HoldingChangeKind,
    /// Units in or out (0 for a change of form).
    pub units: u64,
    /// The other holding of a move, gift or succession: (investor, bank).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterpart: Option<(InvestorRef, ParticipantId)>,
    /// The transfer, death notice or early redemption (each is the index of
    /// the entry that recorded it).
    pub reference: u64,
}

/// The units a holding held just after entry `index`: its units now, less what
/// came in after, plus what went out after.
pub fn units_after(h: &Holding, index: u64) -> u64 {
    let mut units = i128::from(h.units);
    for c in h.history.iter().filter(|c| c.index > index) {
        units -= i128::from(c.kind.sign()) * i128::from(c.units);
    }
    u64::try_from(units.max(0)).unwrap_or(0)
}

pub(super) fn fail(meta: &EntryMeta, reason: String) -> ApplyError {
    ApplyError {
        index: meta.index,
        reason,
    }
}

/// The bank a command names for a holding (`None`: the caller's own), refused
/// when it is another bank's.
pub(super) fn own_bank(
    caller: &Caller,
    named: Option<&ParticipantId>,
) -> Result<ParticipantId, RegistryError> {
    match named {
        Some(bank) if bank != &caller.participant_id => Err(RegistryError::NotYourHolding {
            bank: bank.clone(),
            caller: caller.participant_id.clone(),
        }),
        _ => Ok(caller.participant_id.clone()),
    }
}

/// The holding a bank acts on: its own client's, which must exist.
pub(super) fn own_holding<'a>(
    state: &'a State,
    caller: &Caller,
    series_id: &SeriesId,
    investor: &InvestorRef,
    named: Option<&ParticipantId>,
) -> Result<&'a Holding, RegistryError> {
    let bank = own_bank(caller, named)?;
    series(state, series_id)?;
    holding(state, series_id, investor, &bank)
}

/// The holding (series, investor, bank), which must exist.
pub(super) fn holding<'a>(
    state: &'a State,
    series_id: &SeriesId,
    investor: &InvestorRef,
    bank: &ParticipantId,
) -> Result<&'a Holding, RegistryError> {
    state
        .holdings
        .get(&(series_id.clone(), investor.clone(), bank.clone()))
        .ok_or_else(|| RegistryError::HoldingNotFound {
            series: series_id.clone(),
            investor: investor.clone(),
            bank: bank.clone(),
        })
}

/// The series is issued and the engine has posted every event due on it by
/// `today`: holders of record are fixed on time, so units move only after.
pub(super) fn check_current(
    state: &State,
    s: &Series,
    today: NaiveDate,
) -> Result<(), RegistryError> {
    let id = &s.terms.series_id;
    if s.status != SeriesStatus::Issued {
        return Err(RegistryError::SeriesNotLive {
            series: id.clone(),
            found: s.status,
        });
    }
    if let Some(event) = coupons::first_due(state, id, today)? {
        return Err(RegistryError::EventsDue {
            series: id.clone(),
            event,
        });
    }
    Ok(())
}

/// The register of a series is closed from a record date's entry until its
/// payment's: holders of record are fixed, so no unit moves by a transfer or
/// an early redemption (a succession still passes the unpaid payment on).
pub(super) fn check_register_open(state: &State, s: &Series) -> Result<(), RegistryError> {
    let id = s.terms.series_id.as_str();
    for (flow, f) in s.schedule.iter().enumerate() {
        let record = format!("{id}/record/{flow}");
        if state.posted(&record).is_none() {
            continue;
        }
        let payment = match f.kind {
            CashFlowKind::Redemption => format!("{id}/redemption"),
            CashFlowKind::Coupon => format!("{id}/coupon/{flow}"),
        };
        if state.posted(&payment).is_none() {
            return Err(RegistryError::RegisterClosed {
                series: s.terms.series_id.clone(),
                record_date: f.record_date,
                payment_date: f.payment_date,
            });
        }
    }
    Ok(())
}

pub(super) fn holding_mut<'a>(
    state: &'a mut State,
    meta: &EntryMeta,
    key: &HoldingKey,
) -> Result<&'a mut Holding, ApplyError> {
    state.holdings.get_mut(key).ok_or_else(|| {
        fail(
            meta,
            format!(
                "holding of {} at {} in series {} does not exist",
                key.1, key.2, key.0
            ),
        )
    })
}

/// Notes a change in the holding's history.
pub(super) fn record_change(
    h: &mut Holding,
    meta: &EntryMeta,
    kind: HoldingChangeKind,
    units: u64,
    counterpart: Option<(InvestorRef, ParticipantId)>,
    reference: u64,
) {
    h.history.push(HoldingChange {
        index: meta.index,
        recorded_at: meta.recorded_at,
        kind,
        units,
        counterpart,
        reference,
    });
}

/// Takes `units` out of a holding (its pending units when `pending` says
/// they are the ones leaving, else only units not pending). Units received as
/// a gift leave first when `gift_first`, last otherwise (a gift gives the
/// donor's own units); returns how many of those left.
#[allow(clippy::too_many_arguments)]
pub(super) fn take_units(
    state: &mut State,
    meta: &EntryMeta,
    key: &HoldingKey,
    units: u64,
    pending: bool,
    gift_first: bool,
    change: (HoldingChangeKind, Option<(InvestorRef, ParticipantId)>, u64),
    changes: &mut Changes,
) -> Result<u64, ApplyError> {
    let h = holding_mut(state, meta, key)?;
    let free = if pending {
        h.pending_units
    } else {
        h.units.saturating_sub(h.pending_units)
    };
    if units == 0 || units > free || units > h.units {
        return Err(fail(
            meta,
            format!(
                "{units} units cannot leave the holding of {} at {}: it has {} ({} pending)",
                key.1, key.2, h.units, h.pending_units
            ),
        ));
    }
    // What the holding held until now, for re-deriving earlier payments.
    let before = h.units;
    state.note_units_change(key, before, meta.index);
    let h = holding_mut(state, meta, key)?;
    let own = h.units - h.gift_units.min(h.units);
    let gift = if gift_first {
        units.min(h.gift_units)
    } else {
        units.saturating_sub(own).min(h.gift_units)
    };
    h.units -= units;
    if pending {
        h.pending_units -= units;
    }
    h.gift_units -= gift;
    let (kind, counterpart, reference) = change;
    record_change(h, meta, kind, units, counterpart, reference);
    changes.touch(StateKey::Holding(key.clone()));
    Ok(gift)
}

/// Adds `units` (of which `gift` received as a gift) to a holding, opening it
/// with `form` if it does not exist (an existing holding keeps its form).
#[allow(clippy::too_many_arguments)]
pub(super) fn give_units(
    state: &mut State,
    meta: &EntryMeta,
    key: &HoldingKey,
    units: u64,
    gift: u64,
    form: &RegistrationForm,
    change: (HoldingChangeKind, Option<(InvestorRef, ParticipantId)>, u64),
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    if !state.holdings.contains_key(key) {
        // The registry's own copies of the ids, shared with the series and bank.
        let series_id = state
            .series
            .get_key_value(&key.0)
            .map(|(id, _)| id.clone())
            .ok_or_else(|| fail(meta, format!("series {} does not exist", key.0)))?;
        let bank_id = state
            .participants
            .get_key_value(&key.2)
            .map_or_else(|| key.2.clone(), |(id, _)| id.clone());
        let key = (series_id.clone(), key.1.clone(), bank_id.clone());
        state.holdings.insert(
            key.clone(),
            Holding {
                series_id: series_id.clone(),
                investor_ref: key.1.clone(),
                bank_id: bank_id.clone(),
                units: 0,
                redeemed_units: 0,
                registration: form.clone(),
                pending_units: 0,
                gift_units: 0,
                early_redeemed_units: 0,
                history: Vec::new(),
            },
        );
        state
            .holdings_by_investor
            .entry((bank_id, key.1.clone()))
            .or_default()
            .insert(series_id);
        index_joint(state, &key, &RegistrationForm::Sole, form);
    }
    let h = holding_mut(state, meta, key)?;
    let total = h
        .units
        .checked_add(units)
        .filter(|t| *t <= super::series::UNITS_MAX);
    let Some(total) = total else {
        return Err(fail(
            meta,
            format!(
                "the holding of {} at {} would pass the units a series holds",
                key.1, key.2
            ),
        ));
    };
    // What the holding held until now (0 if this opens it), for re-deriving
    // earlier payments.
    let before = h.units;
    state.note_units_change(key, before, meta.index);
    let h = holding_mut(state, meta, key)?;
    h.units = total;
    h.gift_units += gift.min(units);
    let (kind, counterpart, reference) = change;
    record_change(h, meta, kind, units, counterpart, reference);
    changes.touch(StateKey::Holding(key.clone()));
    Ok(())
}

/// Keeps the index of joint owners (which only deciding a death notice reads)
/// in step with a holding's change of form.
pub(super) fn index_joint(
    state: &mut State,
    key: &HoldingKey,
    from: &RegistrationForm,
    to: &RegistrationForm,
) {
    let Some(index) = state.decide.as_mut() else {
        return;
    };
    if let RegistrationForm::Joint { owners } = from {
        for owner in owners {
            let k = (key.2.clone(), owner.clone());
            if let Some(set) = index.joint_owners.get_mut(&k) {
                set.remove(&(key.0.clone(), key.1.clone()));
                if set.is_empty() {
                    index.joint_owners.remove(&k);
                }
            }
        }
    }
    if let RegistrationForm::Joint { owners } = to {
        for owner in owners {
            index
                .joint_owners
                .entry((key.2.clone(), owner.clone()))
                .or_default()
                .insert((key.0.clone(), key.1.clone()));
        }
    }
}
