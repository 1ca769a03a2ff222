//! Succession: a bank files a death notice for an owner reference (the date of
//! death and the SHA-256 of the supporting document, never the document), and
//! every holding of that owner at the bank passes by its form.
//!
//! - joint: the owner leaves the registration; two or more survivors keep it
//!   (a change of form); a single survivor takes the holding (in place when
//!   the holding is registered under the survivor's reference, else its units
//!   pass to the survivor's holding);
//! - beneficiary: the units pass to the beneficiaries in equal whole units; the
//!   remainder (units mod beneficiaries) goes one unit each to the first
//!   beneficiaries in the order listed;
//! - sole or minor: the units pass to the estate reference the bank names.
//!
//! Units a successor receives join the successor's holding of the series at the
//! same bank under that holding's form, or open a sole one. Payments already made
//! are not reversed; a payment whose holders of record are fixed but which is not
//! yet paid goes to the successors (they take the holding with every unpaid
//! entitlement), and every later record date finds them as holders.

use super::{
    HoldingChangeKind, HoldingKey, check_current, fail, give_units, holding_mut, take_units,
};
use crate::money::Units;
use crate::registry::series::series;
use crate::registry::{
    ApplyError, Caller, Changes, DecideCtx, EntryMeta, Event, Holding, InvestorRef, ParticipantId,
    RegistrationChanged, RegistrationForm, RegistryError, Role, SeriesId, SeriesStatus, State,
    StateKey,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A bank's death notice for one of its clients' owner references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDeathNotice {
    pub owner_ref: InvestorRef,
    pub date_of_death: NaiveDate,
    /// SHA-256 of the supporting document.
    pub document_hash: [u8; 32],
    /// Where sole and minor holdings pass: the bank's reference for the estate.
    pub estate_ref: Option<InvestorRef>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeathNoticeFiled {
    /// The index of this entry.
    pub notice_id: u64,
    pub bank_id: ParticipantId,
    pub owner_ref: InvestorRef,
    pub date_of_death: NaiveDate,
    pub document_hash: [u8; 32],
    pub estate_ref: Option<InvestorRef>,
    /// The entries that follow (one per holding change).
    pub changes: u64,
}

/// Why units pass to a successor. Named in snake case.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SuccessionPath {
    /// The last surviving joint owner.
    Survivor,
    /// A beneficiary of a payable-on-death registration.
    Beneficiary,
    /// The estate of a sole owner (or of a minor).
    Estate,
}

impl SuccessionPath {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Units of a deceased owner's holding passing to one successor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldingPassed {
    pub notice_id: u64,
    pub series_id: SeriesId,
    pub bank_id: ParticipantId,
    pub from_investor: InvestorRef,
    pub to_investor: InvestorRef,
    pub units: Units,
    pub path: SuccessionPath,
}

/// A death notice as the registry keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeathNotice {
    pub notice_id: u64,
    pub bank_id: ParticipantId,
    pub owner_ref: InvestorRef,
    pub date_of_death: NaiveDate,
    /// SHA-256 of the supporting document, hex.
    pub document_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estate_ref: Option<InvestorRef>,
    pub recorded_at: DateTime<Utc>,
    pub changes: u64,
}

/// The holdings at `bank` that `owner` owns, with units, in series still
/// issued: in (series, investor) order.
fn affected<'a>(
    state: &'a State,
    bank: &ParticipantId,
    owner: &InvestorRef,
) -> Result<Vec<&'a Holding>, RegistryError> {
    let index = state.decide.as_ref().ok_or(RegistryError::ReadersCopy)?;
    let mut keys: BTreeSet<(SeriesId, InvestorRef)> = BTreeSet::new();
    for h in state.investor_holdings(bank, owner) {
        if !matches!(h.registration, RegistrationForm::Joint { .. }) {
            keys.insert((h.series_id.clone(), h.investor_ref.clone()));
        }
    }
    if let Some(joint) = index.joint_owners.get(&(bank.clone(), owner.clone())) {
        keys.extend(joint.iter().cloned());
    }
    Ok(keys
        .into_iter()
        .filter_map(|(s, i)| state.holdings.get(&(s, i, bank.clone())))
        .filter(|h| h.units > 0 && h.registration.owners(&h.investor_ref).contains(&owner))
        .filter(|h| {
            state
                .series(&h.series_id)
                .is_some_and(|s| s.status == SeriesStatus::Issued)
        })
        .collect())
}

/// Units split in equal whole units over `n` successors; the remainder one
/// each to the first successors in order.
pub fn shares(units: u64, n: usize) -> Vec<u64> {
    let n64 = n as u64;
    if n64 == 0 {
        return Vec::new();
    }
    let (base, rest) = (units / n64, units % n64);
    (0..n64).map(|i| base + u64::from(i < rest)).collect()
}

/// What happens to one holding when `owner` dies.
fn outcome(
    h: &Holding,
    owner: &InvestorRef,
    notice_id: u64,
    estate: Option<&InvestorRef>,
) -> Result<Vec<Event>, RegistryError> {
    let passed = |to: &InvestorRef, units: u64, path| {
        Event::HoldingPassed(HoldingPassed {
            notice_id,
            series_id: h.series_id.clone(),
            bank_id: h.bank_id.clone(),
            from_investor: h.investor_ref.clone(),
            to_investor: to.clone(),
            units: Units::new(units),
            path,
        })
    };
    let changed = |form: RegistrationForm| {
        Event::RegistrationChanged(RegistrationChanged {
            series_id: h.series_id.clone(),
            investor_ref: h.investor_ref.clone(),
            bank_id: h.bank_id.clone(),
            previous: h.registration.clone(),
            form,
            notice_id: Some(notice_id),
        })
    };
    Ok(match &h.registration {
        RegistrationForm::Sole | RegistrationForm::Minor { .. } => {
            let estate = estate.ok_or_else(|| {
                RegistryError::invalid(
                    "estate_ref",
                    format!(
                        "the holding of {owner} in {} is {} without a beneficiary: name the estate reference its units pass to",
                        h.series_id,
                        h.registration.name()
                    ),
                )
            })?;
            vec![passed(estate, h.units, SuccessionPath::Estate)]
        }
        RegistrationForm::Beneficiary { beneficiaries } => beneficiaries
            .iter()
            .zip(shares(h.units, beneficiaries.len()))
            .filter(|(_, units)| *units > 0)
            .map(|(b, units)| passed(b, units, SuccessionPath::Beneficiary))
            .collect(),
        RegistrationForm::Joint { owners } => {
            let survivors: Vec<InvestorRef> =
                owners.iter().filter(|o| *o != owner).cloned().collect();
            match survivors.as_slice() {
                [one] if *one == h.investor_ref => vec![changed(RegistrationForm::Sole)],
                [one] => vec![passed(one, h.units, SuccessionPath::Survivor)],
                _ => vec![changed(RegistrationForm::Joint { owners: survivors })],
            }
        }
    })
}

pub(in crate::registry) fn decide(
    state: &State,
    caller: &Caller,
    ctx: &DecideCtx,
    c: &FileDeathNotice,
) -> Result<Vec<Event>, RegistryError> {
    caller.require(Role::Bank, "filing a death notice")?;
    let today = ctx.recorded_at.date_naive();
    if c.date_of_death > today {
        return Err(RegistryError::invalid(
            "date_of_death",
            format!(
                "the date of death {} is after the notice's date {today}",
                c.date_of_death
            ),
        ));
    }
    if c.estate_ref.as_ref() == Some(&c.owner_ref) {
        return Err(RegistryError::invalid(
            "estate_ref",
            "the estate needs a reference of its own, not the deceased owner's",
        ));
    }
    let bank = &caller.participant_id;
    let holdings = affected(state, bank, &c.owner_ref)?;
    if holdings.is_empty() {
        return Err(RegistryError::UnknownOwner {
            owner: c.owner_ref.clone(),
            bank: bank.clone(),
        });
    }
    let mut seen: BTreeSet<&SeriesId> = BTreeSet::new();
    for h in &holdings {
        if h.pending_units > 0 {
            return Err(RegistryError::TransferPending {
                series: h.series_id.clone(),
                investor: h.investor_ref.clone(),
                units: h.pending_units,
            });
        }
        if seen.insert(&h.series_id) {
            check_current(state, series(state, &h.series_id)?, today)?;
        }
    }
    let mut changes = Vec::new();
    for h in &holdings {
        changes.extend(outcome(h, &c.owner_ref, ctx.index, c.estate_ref.as_ref())?);
    }
    let mut events = vec![Event::DeathNoticeFiled(DeathNoticeFiled {
        notice_id: ctx.index,
        bank_id: bank.clone(),
        owner_ref: c.owner_ref.clone(),
        date_of_death: c.date_of_death,
        document_hash: c.document_hash,
        estate_ref: c.estate_ref.clone(),
        changes: changes.len() as u64,
    })];
    events.extend(changes);
    Ok(events)
}

pub(in crate::registry) fn apply_filed(
    state: &mut State,
    meta: &EntryMeta,
    e: &DeathNoticeFiled,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    if e.notice_id != meta.index || state.notices.contains_key(&e.notice_id) {
        return Err(fail(
            meta,
            format!(
                "death notice id {} must be the entry's own index",
                e.notice_id
            ),
        ));
    }
    state.notices.insert(
        e.notice_id,
        DeathNotice {
            notice_id: e.notice_id,
            bank_id: e.bank_id.clone(),
            owner_ref: e.owner_ref.clone(),
            date_of_death: e.date_of_death,
            document_hash: hex::encode(e.document_hash),
            estate_ref: e.estate_ref.clone(),
            recorded_at: meta.recorded_at,
            changes: e.changes,
        },
    );
    changes.touch(StateKey::DeathNotice(e.notice_id));
    Ok(())
}

pub(in crate::registry) fn apply_passed(
    state: &mut State,
    meta: &EntryMeta,
    e: &HoldingPassed,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let known = state
        .notices
        .get(&e.notice_id)
        .is_some_and(|n| n.bank_id == e.bank_id);
    if !known || e.from_investor == e.to_investor {
        return Err(fail(
            meta,
            format!(
                "units pass under death notice {}, which {} did not file",
                e.notice_id, e.bank_id
            ),
        ));
    }
    let from: HoldingKey = (
        e.series_id.clone(),
        e.from_investor.clone(),
        e.bank_id.clone(),
    );
    let to: HoldingKey = (
        e.series_id.clone(),
        e.to_investor.clone(),
        e.bank_id.clone(),
    );
    holding_mut(state, meta, &from)?;
    take_units(
        state,
        meta,
        &from,
        e.units.get(),
        false,
        true,
        (
            HoldingChangeKind::SuccessionOut,
            Some((to.1.clone(), to.2.clone())),
            e.notice_id,
        ),
        changes,
    )?;
    give_units(
        state,
        meta,
        &to,
        e.units.get(),
        0,
        &RegistrationForm::Sole,
        (
            HoldingChangeKind::SuccessionIn,
            Some((from.1.clone(), from.2.clone())),
            e.notice_id,
        ),
        changes,
    )
}
