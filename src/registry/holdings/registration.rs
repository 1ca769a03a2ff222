//! Registration forms: who owns a subscription and the holding it becomes, and
//! what happens to it on an owner's death; and the holder's bank changing the
//! form of a holding later.
//!
//! Invariant: a form names pseudonymous references only (chosen by the bank,
//! like the holding's own), each at most once; `Sole` is the default, so
//! subscriptions and holdings recorded before forms existed read as sole.

use super::{HoldingChangeKind, fail, holding_mut, own_holding, record_change};
use crate::limits::REGISTRATION_REFS_MAX;
use crate::registry::series::{SeriesStatus, series};
use crate::registry::{
    ApplyError, Caller, Changes, DecideCtx, EntryMeta, Event, InvestorRef, ParticipantId,
    RegistryError, Role, SeriesId, State, StateKey,
};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// How a holding is registered. The holding's investor reference names the
/// registration; for every form but `Joint` it is also the owner's reference.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "form")]
pub enum RegistrationForm {
    /// One owner: the holding's investor reference.
    #[default]
    Sole,
    /// Two or more owners with survivorship: on an owner's death the survivors
    /// keep the holding.
    Joint { owners: Vec<InvestorRef> },
    /// A minor (the holding's investor reference) with a custodian who acts
    /// until `custody_ends`.
    Minor {
        custodian: InvestorRef,
        custody_ends: NaiveDate,
    },
    /// One owner (the holding's investor reference), payable on death to the
    /// beneficiaries, in the order listed.
    Beneficiary { beneficiaries: Vec<InvestorRef> },
}

impl RegistrationForm {
    pub fn is_sole(&self) -> bool {
        matches!(self, RegistrationForm::Sole)
    }

    /// The form's name: sole, joint, minor or beneficiary.
    pub fn name(&self) -> &'static str {
        match self {
            RegistrationForm::Sole => "sole",
            RegistrationForm::Joint { .. } => "joint",
            RegistrationForm::Minor { .. } => "minor",
            RegistrationForm::Beneficiary { .. } => "beneficiary",
        }
    }

    /// The owners of a holding of investor `investor` registered so.
    pub fn owners<'a>(&'a self, investor: &'a InvestorRef) -> Vec<&'a InvestorRef> {
        match self {
            RegistrationForm::Joint { owners } => owners.iter().collect(),
            _ => vec![investor],
        }
    }

    /// Checks the form of a registration named `investor`, made on `today`:
    /// two to `REGISTRATION_REFS_MAX` distinct joint owners; a custodian other
    /// than the minor, custody ending after today; one to
    /// `REGISTRATION_REFS_MAX` distinct beneficiaries other than the owner.
    pub fn check(&self, investor: &InvestorRef, today: NaiveDate) -> Result<(), RegistryError> {
        let distinct = |field: &str, refs: &[InvestorRef], min: usize| {
            if refs.len() < min || refs.len() > REGISTRATION_REFS_MAX {
                return Err(RegistryError::invalid(
                    field,
                    format!(
                        "must name {min} to {REGISTRATION_REFS_MAX} references, found {}",
                        refs.len()
                    ),
                ));
            }
            for (i, r) in refs.iter().enumerate() {
                if refs[..i].contains(r) {
                    return Err(RegistryError::invalid(field, format!("names {r} twice")));
                }
            }
            Ok(())
        };
        match self {
            RegistrationForm::Sole => Ok(()),
            RegistrationForm::Joint { owners } => distinct("registration.joint.owners", owners, 2),
            RegistrationForm::Minor {
                custodian,
                custody_ends,
            } => {
                if custodian == investor {
                    return Err(RegistryError::invalid(
                        "registration.minor.custodian_ref",
                        format!(
                            "the custodian must be another reference than the minor {investor}"
                        ),
                    ));
                }
                if *custody_ends <= today {
                    return Err(RegistryError::invalid(
                        "registration.minor.custody_ends",
                        format!("custody must end after {today}, found {custody_ends}"),
                    ));
                }
                Ok(())
            }
            RegistrationForm::Beneficiary { beneficiaries } => {
                distinct("registration.beneficiary.beneficiaries", beneficiaries, 1)?;
                if beneficiaries.contains(investor) {
                    return Err(RegistryError::invalid(
                        "registration.beneficiary.beneficiaries",
                        format!("the owner {investor} cannot be its own beneficiary"),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// A bank's request to change the form of one of its clients' holdings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRegistration {
    pub series_id: SeriesId,
    pub investor_ref: InvestorRef,
    /// The custodian bank; `None`: the caller.
    pub bank_id: Option<ParticipantId>,
    pub form: RegistrationForm,
}

/// A holding's form changed: by its bank's request (`notice_id` `None`), or by
/// the death notice at `notice_id` (a joint owner died).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationChanged {
    pub series_id: SeriesId,
    pub investor_ref: InvestorRef,
    pub bank_id: ParticipantId,
    pub previous: RegistrationForm,
    pub form: RegistrationForm,
    pub notice_id: Option<u64>,
}

pub(in crate::registry) fn decide_change(
    state: &State,
    caller: &Caller,
    ctx: &DecideCtx,
    c: &ChangeRegistration,
) -> Result<Vec<Event>, RegistryError> {
    caller.require(Role::Bank, "changing a holding's registration")?;
    c.form
        .check(&c.investor_ref, ctx.recorded_at.date_naive())?;
    let h = own_holding(
        state,
        caller,
        &c.series_id,
        &c.investor_ref,
        c.bank_id.as_ref(),
    )?;
    let s = series(state, &c.series_id)?;
    if s.status != SeriesStatus::Issued {
        return Err(RegistryError::SeriesNotLive {
            series: c.series_id.clone(),
            found: s.status,
        });
    }
    if h.units == 0 {
        return Err(RegistryError::EmptyHolding {
            series: c.series_id.clone(),
            investor: c.investor_ref.clone(),
            bank: h.bank_id.clone(),
        });
    }
    if h.registration == c.form {
        return Err(RegistryError::RegistrationUnchanged {
            series: c.series_id.clone(),
            investor: c.investor_ref.clone(),
            form: c.form.name(),
        });
    }
    Ok(vec![Event::RegistrationChanged(RegistrationChanged {
        series_id: c.series_id.clone(),
        investor_ref: c.investor_ref.clone(),
        bank_id: h.bank_id.clone(),
        previous: h.registration.clone(),
        form: c.form.clone(),
        notice_id: None,
    })])
}

pub(in crate::registry) fn apply_changed(
    state: &mut State,
    meta: &EntryMeta,
    e: &RegistrationChanged,
    changes: &mut Changes,
) -> Result<(), ApplyError> {
    let key = (
        e.series_id.clone(),
        e.investor_ref.clone(),
        e.bank_id.clone(),
    );
    let h = holding_mut(state, meta, &key)?;
    if h.registration != e.previous {
        return Err(fail(
            meta,
            format!(
                "the registration of {} at {} is {}, not the {} the entry replaces",
                e.investor_ref,
                e.bank_id,
                h.registration.name(),
                e.previous.name()
            ),
        ));
    }
    h.registration = e.form.clone();
    record_change(
        h,
        meta,
        HoldingChangeKind::Registration,
        0,
        None,
        e.notice_id.unwrap_or(meta.index),
    );
    super::index_joint(state, &key, &e.previous, &e.form);
    changes.touch(StateKey::Holding(key));
    Ok(())
}
