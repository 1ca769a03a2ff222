//! Conversion of registration forms, transfers, death notices, successions and
//! early redemptions between their wire form and the registry's types.
//!
//! Sole registration, no transfers and no early redemption are the absent
//! field, so entries and state recorded before these existed read as they
//! always did, and every value accepted is written back in the same form.

use super::terms::{category_from_pb, category_to_pb};
use super::timestamp_to_pb;
use super::wire::{date, decimal, opt_decimal, os, s, units};
use crate::money::{Currency, RoundingRule};
use crate::proto as pb;
use crate::registry::{
    ChangeRegistration, Command, Country, DeathNoticeFiled, EarlyRedeemed, EarlyRedemptionTerms,
    Event, FileDeathNotice, HoldingPassed, InvestorRef, ParticipantId, RedeemEarly,
    RedemptionReason, RegistrationChanged, RegistrationForm, RegistryError, RequestTransfer,
    SeriesId, SuccessionPath, Transfer, TransferConfirmed, TransferKind, TransferPolicy,
    TransferRefused, TransferRequested,
};
use std::str::FromStr;

fn invalid(field: &str, reason: impl Into<String>) -> RegistryError {
    RegistryError::invalid(field, reason)
}

fn sid(s: &str) -> Result<SeriesId, RegistryError> {
    SeriesId::parse("series_id", s)
}

fn investor(field: &str, s: &str) -> Result<InvestorRef, RegistryError> {
    InvestorRef::parse(field, s)
}

fn bank(field: &str, s: &str) -> Result<ParticipantId, RegistryError> {
    ParticipantId::parse(field, s)
}

/// An optional bank: empty for the caller's own.
fn opt_bank(field: &str, s: &str) -> Result<Option<ParticipantId>, RegistryError> {
    if s.is_empty() {
        Ok(None)
    } else {
        bank(field, s).map(Some)
    }
}

fn opt_investor(field: &str, s: &str) -> Result<Option<InvestorRef>, RegistryError> {
    if s.is_empty() {
        Ok(None)
    } else {
        investor(field, s).map(Some)
    }
}

/// A SHA-256 digest: exactly 32 bytes.
pub fn hash32(field: &str, bytes: &[u8]) -> Result<[u8; 32], RegistryError> {
    bytes.try_into().map_err(|_| {
        invalid(
            field,
            format!(
                "expected the 32-byte SHA-256 of the document, found {} bytes",
                bytes.len()
            ),
        )
    })
}

/// A digest that may be absent (no bytes).
fn opt_hash32(field: &str, bytes: &[u8]) -> Result<Option<[u8; 32]>, RegistryError> {
    if bytes.is_empty() {
        Ok(None)
    } else {
        hash32(field, bytes).map(Some)
    }
}

fn refs_to_pb(refs: &[InvestorRef]) -> Vec<String> {
    refs.iter().map(|r| r.to_string()).collect()
}

fn refs_from_pb(field: &str, refs: &[String]) -> Result<Vec<InvestorRef>, RegistryError> {
    if refs.len() > crate::limits::REGISTRATION_REFS_MAX {
        return Err(invalid(
            field,
            format!(
                "names {} references; at most {}",
                refs.len(),
                crate::limits::REGISTRATION_REFS_MAX
            ),
        ));
    }
    refs.iter().map(|r| investor(field, r)).collect()
}

/// A form's wire form: `None` for sole.
pub fn registration_to_pb(form: &RegistrationForm) -> Option<pb::Registration> {
    use pb::registration::Form;
    let form = match form {
        RegistrationForm::Sole => return None,
        RegistrationForm::Joint { owners } => Form::Joint(pb::JointRegistration {
            owners: refs_to_pb(owners),
        }),
        RegistrationForm::Minor {
            custodian,
            custody_ends,
        } => Form::Minor(pb::MinorRegistration {
            custodian_ref: custodian.to_string(),
            custody_ends: custody_ends.to_string(),
        }),
        RegistrationForm::Beneficiary { beneficiaries } => {
            Form::Beneficiary(pb::BeneficiaryRegistration {
                beneficiaries: refs_to_pb(beneficiaries),
            })
        }
    };
    Some(pb::Registration { form: Some(form) })
}

/// A form from its wire form: absent is sole; a registration without a form is
/// refused (sole is written by leaving the registration out).
pub fn registration_from_pb(
    field: &str,
    r: Option<&pb::Registration>,
) -> Result<RegistrationForm, RegistryError> {
    use pb::registration::Form;
    let Some(r) = r else {
        return Ok(RegistrationForm::Sole);
    };
    Ok(match &r.form {
        None => {
            return Err(invalid(
                field,
                "give a form (joint, minor or beneficiary), or leave the registration out for sole",
            ));
        }
        Some(Form::Joint(j)) => RegistrationForm::Joint {
            owners: refs_from_pb("registration.joint.owners", &j.owners)?,
        },
        Some(Form::Minor(m)) => RegistrationForm::Minor {
            custodian: investor("registration.minor.custodian_ref", &m.custodian_ref)?,
            custody_ends: date("registration.minor.custody_ends", &m.custody_ends)?,
        },
        Some(Form::Beneficiary(b)) => RegistrationForm::Beneficiary {
            beneficiaries: refs_from_pb(
                "registration.beneficiary.beneficiaries",
                &b.beneficiaries,
            )?,
        },
    })
}

pub fn policy_to_pb(p: TransferPolicy) -> pb::Transfers {
    match p {
        TransferPolicy::None => pb::Transfers::None,
        TransferPolicy::BetweenBanks => pb::Transfers::BetweenBanks,
        TransferPolicy::Gifts => pb::Transfers::Gifts,
    }
}

pub fn policy_from_pb(field: &str, v: i32) -> Result<TransferPolicy, RegistryError> {
    match pb::Transfers::try_from(v) {
        Ok(pb::Transfers::None) => Ok(TransferPolicy::None),
        Ok(pb::Transfers::BetweenBanks) => Ok(TransferPolicy::BetweenBanks),
        Ok(pb::Transfers::Gifts) => Ok(TransferPolicy::Gifts),
        Err(_) => Err(invalid(field, format!("unknown transfers value {v}"))),
    }
}

pub fn early_to_pb(t: &Option<EarlyRedemptionTerms>) -> Option<pb::EarlyRedemption> {
    t.as_ref().map(|t| pb::EarlyRedemption {
        on_request: t.on_request,
        lockup_months: t.lockup_months,
        penalty_months: t.penalty_months,
        death_put: t.death_put,
        hardship_put: t.hardship_put,
        hardship_quota: os(&t.hardship_quota),
    })
}

pub fn early_from_pb(
    t: Option<&pb::EarlyRedemption>,
) -> Result<Option<EarlyRedemptionTerms>, RegistryError> {
    let Some(t) = t else {
        return Ok(None);
    };
    Ok(Some(EarlyRedemptionTerms {
        on_request: t.on_request,
        lockup_months: t.lockup_months,
        penalty_months: t.penalty_months,
        death_put: t.death_put,
        hardship_put: t.hardship_put,
        hardship_quota: opt_decimal("early_redemption.hardship_quota", &t.hardship_quota)?,
    }))
}

pub fn kind_to_pb(k: TransferKind) -> pb::TransferKind {
    match k {
        TransferKind::Move => pb::TransferKind::Move,
        TransferKind::Gift => pb::TransferKind::Gift,
    }
}

pub fn kind_from_pb(field: &str, v: i32) -> Result<TransferKind, RegistryError> {
    match pb::TransferKind::try_from(v) {
        Ok(pb::TransferKind::Move) => Ok(TransferKind::Move),
        Ok(pb::TransferKind::Gift) => Ok(TransferKind::Gift),
        Ok(pb::TransferKind::Unspecified) => Err(invalid(field, "move or gift is required")),
        Err(_) => Err(invalid(field, format!("unknown transfer kind {v}"))),
    }
}

pub fn reason_to_pb(r: RedemptionReason) -> pb::RedemptionReason {
    match r {
        RedemptionReason::OnRequest => pb::RedemptionReason::OnRequest,
        RedemptionReason::Death => pb::RedemptionReason::Death,
        RedemptionReason::Hardship => pb::RedemptionReason::Hardship,
    }
}

pub fn reason_from_pb(field: &str, v: i32) -> Result<RedemptionReason, RegistryError> {
    match pb::RedemptionReason::try_from(v) {
        Ok(pb::RedemptionReason::OnRequest) => Ok(RedemptionReason::OnRequest),
        Ok(pb::RedemptionReason::Death) => Ok(RedemptionReason::Death),
        Ok(pb::RedemptionReason::Hardship) => Ok(RedemptionReason::Hardship),
        Ok(pb::RedemptionReason::Unspecified) => {
            Err(invalid(field, "on_request, death or hardship is required"))
        }
        Err(_) => Err(invalid(field, format!("unknown redemption reason {v}"))),
    }
}

/// A gift's recipient: both the category and the country, or neither.
fn recipient_from_pb(
    category: i32,
    country: &str,
) -> Result<Option<(crate::registry::DiasporaCategory, Country)>, RegistryError> {
    if category == 0 && country.is_empty() {
        return Ok(None);
    }
    Ok(Some((
        category_from_pb("recipient_category", category)?,
        Country::parse("recipient_country", country)?,
    )))
}

fn recipient_to_pb(r: &Option<(crate::registry::DiasporaCategory, Country)>) -> (i32, String) {
    match r {
        Some((c, k)) => (category_to_pb(*c) as i32, k.to_string()),
        None => (0, String::new()),
    }
}

fn path_from_pb(s: &str) -> Result<SuccessionPath, RegistryError> {
    match s {
        "survivor" => Ok(SuccessionPath::Survivor),
        "beneficiary" => Ok(SuccessionPath::Beneficiary),
        "estate" => Ok(SuccessionPath::Estate),
        other => Err(invalid(
            "path",
            format!("expected survivor, beneficiary or estate, found {other:?}"),
        )),
    }
}

/// Holding-life events to their ledger form; `None` for other events.
pub fn event_to_pb(event: &Event) -> Option<pb::event::Kind> {
    use pb::event::Kind;
    Some(match event {
        Event::RegistrationChanged(e) => Kind::RegistrationChanged(pb::RegistrationChanged {
            series_id: e.series_id.to_string(),
            investor_ref: e.investor_ref.to_string(),
            bank_id: e.bank_id.to_string(),
            previous: registration_to_pb(&e.previous),
            registration: registration_to_pb(&e.form),
            notice_id: e.notice_id.unwrap_or(0),
        }),
        Event::TransferRequested(e) => {
            let (recipient_category, recipient_country) = recipient_to_pb(&e.recipient);
            Kind::TransferRequested(pb::TransferRequested {
                transfer_id: e.transfer_id,
                kind: kind_to_pb(e.kind) as i32,
                series_id: e.series_id.to_string(),
                from_bank_id: e.from_bank.to_string(),
                from_investor_ref: e.from_investor.to_string(),
                to_bank_id: e.to_bank.to_string(),
                to_investor_ref: e.to_investor.to_string(),
                units: e.units.to_string(),
                recipient_category,
                recipient_country,
                registration: registration_to_pb(&e.registration),
            })
        }
        Event::TransferConfirmed(e) => Kind::TransferConfirmed(pb::TransferConfirmed {
            transfer_id: e.transfer_id,
            kind: kind_to_pb(e.kind) as i32,
            series_id: e.series_id.to_string(),
            from_bank_id: e.from_bank.to_string(),
            from_investor_ref: e.from_investor.to_string(),
            to_bank_id: e.to_bank.to_string(),
            to_investor_ref: e.to_investor.to_string(),
            units: e.units.to_string(),
            gift_units: e.gift_units.to_string(),
        }),
        Event::TransferRefused(e) => Kind::TransferRefused(pb::TransferRefused {
            transfer_id: e.transfer_id,
            series_id: e.series_id.to_string(),
            from_bank_id: e.from_bank.to_string(),
            to_bank_id: e.to_bank.to_string(),
            reason: e.reason.clone(),
        }),
        Event::DeathNoticeFiled(e) => Kind::DeathNoticeFiled(pb::DeathNoticeFiled {
            notice_id: e.notice_id,
            bank_id: e.bank_id.to_string(),
            owner_ref: e.owner_ref.to_string(),
            date_of_death: e.date_of_death.to_string(),
            document_hash: e.document_hash.to_vec(),
            estate_ref: e
                .estate_ref
                .as_ref()
                .map(|r| r.to_string())
                .unwrap_or_default(),
            changes: e.changes,
        }),
        Event::HoldingPassed(e) => Kind::HoldingPassed(pb::HoldingPassed {
            notice_id: e.notice_id,
            series_id: e.series_id.to_string(),
            bank_id: e.bank_id.to_string(),
            from_investor_ref: e.from_investor.to_string(),
            to_investor_ref: e.to_investor.to_string(),
            units: e.units.to_string(),
            path: e.path.as_str().to_string(),
        }),
        Event::EarlyRedeemed(e) => Kind::EarlyRedeemed(early_redeemed_to_pb(e)),
        _ => return None,
    })
}

pub fn early_redeemed_to_pb(e: &EarlyRedeemed) -> pb::EarlyRedeemed {
    pb::EarlyRedeemed {
        redemption_id: e.redemption_id,
        series_id: e.series_id.to_string(),
        investor_ref: e.investor_ref.to_string(),
        bank_id: e.bank_id.to_string(),
        units: e.units.to_string(),
        reason: reason_to_pb(e.reason) as i32,
        redemption_date: e.redemption_date.to_string(),
        accrued_per_unit: s(&e.accrued_per_unit),
        penalty_months: e.penalty_months,
        penalty_per_unit: s(&e.penalty_per_unit),
        price_per_unit: s(&e.price_per_unit),
        amount: s(&e.amount),
        rounding: e.rounding.as_str().to_string(),
        currency: e.currency.as_str().to_string(),
        document_hash: e.document_hash.map(|h| h.to_vec()).unwrap_or_default(),
    }
}

/// An early redemption as the services show it: the amount due at the
/// currency's minor unit; the per-unit figures (rounded to 12 decimals) as
/// recorded.
pub fn early_redeemed_view(e: &EarlyRedeemed) -> pb::EarlyRedeemed {
    pb::EarlyRedeemed {
        amount: super::wire::money(&e.amount, e.currency),
        ..early_redeemed_to_pb(e)
    }
}

/// Holding-life events from their ledger form; `None` for other kinds.
pub fn event_from_pb(kind: &pb::event::Kind) -> Option<Result<Event, RegistryError>> {
    use pb::event::Kind;
    Some(match kind {
        Kind::RegistrationChanged(e) => (|| {
            Ok(Event::RegistrationChanged(RegistrationChanged {
                series_id: sid(&e.series_id)?,
                investor_ref: investor("investor_ref", &e.investor_ref)?,
                bank_id: bank("bank_id", &e.bank_id)?,
                previous: registration_from_pb("previous", e.previous.as_ref())?,
                form: registration_from_pb("registration", e.registration.as_ref())?,
                notice_id: (e.notice_id != 0).then_some(e.notice_id),
            }))
        })(),
        Kind::TransferRequested(e) => (|| {
            Ok(Event::TransferRequested(TransferRequested {
                transfer_id: e.transfer_id,
                kind: kind_from_pb("kind", e.kind)?,
                series_id: sid(&e.series_id)?,
                from_bank: bank("from_bank_id", &e.from_bank_id)?,
                from_investor: investor("from_investor_ref", &e.from_investor_ref)?,
                to_bank: bank("to_bank_id", &e.to_bank_id)?,
                to_investor: investor("to_investor_ref", &e.to_investor_ref)?,
                units: units("units", &e.units)?,
                recipient: recipient_from_pb(e.recipient_category, &e.recipient_country)?,
                registration: registration_from_pb("registration", e.registration.as_ref())?,
            }))
        })(),
        Kind::TransferConfirmed(e) => (|| {
            Ok(Event::TransferConfirmed(TransferConfirmed {
                transfer_id: e.transfer_id,
                kind: kind_from_pb("kind", e.kind)?,
                series_id: sid(&e.series_id)?,
                from_bank: bank("from_bank_id", &e.from_bank_id)?,
                from_investor: investor("from_investor_ref", &e.from_investor_ref)?,
                to_bank: bank("to_bank_id", &e.to_bank_id)?,
                to_investor: investor("to_investor_ref", &e.to_investor_ref)?,
                units: units("units", &e.units)?,
                gift_units: units("gift_units", &e.gift_units)?,
            }))
        })(),
        Kind::TransferRefused(e) => (|| {
            Ok(Event::TransferRefused(TransferRefused {
                transfer_id: e.transfer_id,
                series_id: sid(&e.series_id)?,
                from_bank: bank("from_bank_id", &e.from_bank_id)?,
                to_bank: bank("to_bank_id", &e.to_bank_id)?,
                reason: e.reason.clone(),
            }))
        })(),
        Kind::DeathNoticeFiled(e) => (|| {
            Ok(Event::DeathNoticeFiled(DeathNoticeFiled {
                notice_id: e.notice_id,
                bank_id: bank("bank_id", &e.bank_id)?,
                owner_ref: investor("owner_ref", &e.owner_ref)?,
                date_of_death: date("date_of_death", &e.date_of_death)?,
                document_hash: hash32("document_hash", &e.document_hash)?,
                estate_ref: opt_investor("estate_ref", &e.estate_ref)?,
                changes: e.changes,
            }))
        })(),
        Kind::HoldingPassed(e) => (|| {
            Ok(Event::HoldingPassed(HoldingPassed {
                notice_id: e.notice_id,
                series_id: sid(&e.series_id)?,
                bank_id: bank("bank_id", &e.bank_id)?,
                from_investor: investor("from_investor_ref", &e.from_investor_ref)?,
                to_investor: investor("to_investor_ref", &e.to_investor_ref)?,
                units: units("units", &e.units)?,
                path: path_from_pb(&e.path)?,
            }))
        })(),
        Kind::EarlyRedeemed(e) => (|| {
            Ok(Event::EarlyRedeemed(EarlyRedeemed {
                redemption_id: e.redemption_id,
                series_id: sid(&e.series_id)?,
                investor_ref: investor("investor_ref", &e.investor_ref)?,
                bank_id: bank("bank_id", &e.bank_id)?,
                units: units("units", &e.units)?,
                reason: reason_from_pb("reason", e.reason)?,
                redemption_date: date("redemption_date", &e.redemption_date)?,
                accrued_per_unit: decimal("accrued_per_unit", &e.accrued_per_unit)?,
                penalty_months: e.penalty_months,
                penalty_per_unit: decimal("penalty_per_unit", &e.penalty_per_unit)?,
                price_per_unit: decimal("price_per_unit", &e.price_per_unit)?,
                amount: decimal("amount", &e.amount)?,
                rounding: RoundingRule::from_str(&e.rounding)
                    .map_err(|x| invalid("rounding", x.to_string()))?,
                currency: Currency::from_str(&e.currency)
                    .map_err(|x| invalid("currency", x.to_string()))?,
                document_hash: opt_hash32("document_hash", &e.document_hash)?,
            }))
        })(),
        _ => return None,
    })
}

/// A holding-life command from its wire form; `None` for other kinds.
pub fn command_from_kind(kind: &pb::command::Kind) -> Option<Result<Command, RegistryError>> {
    use pb::command::Kind;
    Some(match kind {
        Kind::ChangeRegistration(c) => (|| {
            Ok(Command::ChangeRegistration(ChangeRegistration {
                series_id: sid(&c.series_id)?,
                investor_ref: investor("investor_ref", &c.investor_ref)?,
                bank_id: opt_bank("bank_id", &c.bank_id)?,
                form: registration_from_pb("registration", c.registration.as_ref())?,
            }))
        })(),
        Kind::RequestTransfer(c) => (|| {
            Ok(Command::RequestTransfer(RequestTransfer {
                kind: kind_from_pb("kind", c.kind)?,
                series_id: sid(&c.series_id)?,
                from_bank: bank("from_bank_id", &c.from_bank_id)?,
                from_investor: investor("from_investor_ref", &c.from_investor_ref)?,
                to_investor: investor("to_investor_ref", &c.to_investor_ref)?,
                units: units("units", &c.units)?,
                recipient: recipient_from_pb(c.recipient_category, &c.recipient_country)?,
                registration: registration_from_pb("registration", c.registration.as_ref())?,
            }))
        })(),
        Kind::ConfirmTransfer(c) => Ok(Command::ConfirmTransfer(c.transfer_id)),
        Kind::RefuseTransfer(c) => Ok(Command::RefuseTransfer {
            transfer_id: c.transfer_id,
            reason: c.reason.clone(),
        }),
        Kind::FileDeathNotice(c) => (|| {
            Ok(Command::FileDeathNotice(FileDeathNotice {
                owner_ref: investor("owner_ref", &c.owner_ref)?,
                date_of_death: date("date_of_death", &c.date_of_death)?,
                document_hash: hash32("document_hash", &c.document_hash)?,
                estate_ref: opt_investor("estate_ref", &c.estate_ref)?,
            }))
        })(),
        Kind::RedeemEarly(c) => (|| {
            Ok(Command::RedeemEarly(RedeemEarly {
                series_id: sid(&c.series_id)?,
                investor_ref: investor("investor_ref", &c.investor_ref)?,
                bank_id: opt_bank("bank_id", &c.bank_id)?,
                units: units("units", &c.units)?,
                reason: reason_from_pb("reason", c.reason)?,
                document_hash: opt_hash32("document_hash", &c.document_hash)?,
            }))
        })(),
        _ => return None,
    })
}

pub fn transfer_to_pb(t: &Transfer) -> pb::Transfer {
    let (recipient_category, recipient_country) = recipient_to_pb(&t.recipient);
    pb::Transfer {
        transfer_id: t.transfer_id,
        kind: kind_to_pb(t.kind) as i32,
        series_id: t.series_id.to_string(),
        from_bank_id: t.from_bank.to_string(),
        from_investor_ref: t.from_investor.to_string(),
        to_bank_id: t.to_bank.to_string(),
        to_investor_ref: t.to_investor.to_string(),
        units: t.units.to_string(),
        status: t.status.as_str().to_string(),
        requested_at: Some(timestamp_to_pb(t.requested_at)),
        closed_at_index: t.closed_at_index.unwrap_or(0),
        reason: t.reason.clone().unwrap_or_default(),
        recipient_category,
        recipient_country,
    }
}

pub fn holding_change_to_pb(c: &crate::registry::HoldingChange) -> pb::HoldingChange {
    let (investor, bank) = c
        .counterpart
        .as_ref()
        .map(|(i, b)| (i.to_string(), b.to_string()))
        .unwrap_or_default();
    pb::HoldingChange {
        index: c.index,
        recorded_at: Some(timestamp_to_pb(c.recorded_at)),
        kind: c.kind.as_str().to_string(),
        units: c.units.to_string(),
        counterpart_investor_ref: investor,
        counterpart_bank_id: bank,
        reference: c.reference,
    }
}

/// The wire bytes of one event of each kind, against the vectors of
/// docs/LEDGER_FORMAT.md (section "Holdings after issue"), so an auditor's
/// decoder can be checked against the same bytes.
#[cfg(test)]
mod tests {
    use super::super::{event_from_pb, event_to_pb};
    use crate::money::{Currency, RoundingRule, Units};
    use crate::registry::*;
    use chrono::NaiveDate;
    use prost::Message;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn vectors() -> Vec<(&'static str, Event)> {
        let sid = SeriesId::parse("s", "AZ-2030-LIFE").unwrap();
        let r = |s: &str| InvestorRef::parse("i", s).unwrap();
        let p = |s: &str| ParticipantId::parse("p", s).unwrap();
        let d = |s: &str| NaiveDate::from_str(s).unwrap();
        let dec = |s: &str| Decimal::from_str(s).unwrap();
        vec![
            (
                "registration_changed",
                Event::RegistrationChanged(RegistrationChanged {
                    series_id: sid.clone(),
                    investor_ref: r("jnt"),
                    bank_id: p("bank-a"),
                    previous: RegistrationForm::Joint {
                        owners: vec![r("ali"), r("bab")],
                    },
                    form: RegistrationForm::Sole,
                    notice_id: Some(40),
                }),
            ),
            (
                "transfer_requested",
                Event::TransferRequested(TransferRequested {
                    transfer_id: 41,
                    kind: TransferKind::Gift,
                    series_id: sid.clone(),
                    from_bank: p("bank-a"),
                    from_investor: r("ali"),
                    to_bank: p("bank-b"),
                    to_investor: r("dan"),
                    units: Units::new(5),
                    recipient: Some((
                        DiasporaCategory::CitizenAbroad,
                        Country::parse("c", "DE").unwrap(),
                    )),
                    registration: RegistrationForm::Sole,
                }),
            ),
            (
                "transfer_confirmed",
                Event::TransferConfirmed(TransferConfirmed {
                    transfer_id: 41,
                    kind: TransferKind::Gift,
                    series_id: sid.clone(),
                    from_bank: p("bank-a"),
                    from_investor: r("ali"),
                    to_bank: p("bank-b"),
                    to_investor: r("dan"),
                    units: Units::new(5),
                    gift_units: Units::new(5),
                }),
            ),
            (
                "transfer_refused",
                Event::TransferRefused(TransferRefused {
                    transfer_id: 42,
                    series_id: sid.clone(),
                    from_bank: p("bank-a"),
                    to_bank: p("bank-b"),
                    reason: "client withdrew".into(),
                }),
            ),
            (
                "death_notice_filed",
                Event::DeathNoticeFiled(DeathNoticeFiled {
                    notice_id: 43,
                    bank_id: p("bank-a"),
                    owner_ref: r("ben"),
                    date_of_death: d("2027-07-01"),
                    document_hash: [0xd0; 32],
                    estate_ref: None,
                    changes: 3,
                }),
            ),
            (
                "holding_passed",
                Event::HoldingPassed(HoldingPassed {
                    notice_id: 43,
                    series_id: sid.clone(),
                    bank_id: p("bank-a"),
                    from_investor: r("ben"),
                    to_investor: r("kid-1"),
                    units: Units::new(4),
                    path: SuccessionPath::Beneficiary,
                }),
            ),
            (
                "early_redeemed",
                Event::EarlyRedeemed(EarlyRedeemed {
                    redemption_id: 47,
                    series_id: sid,
                    investor_ref: r("ali"),
                    bank_id: p("bank-a"),
                    units: Units::new(10),
                    reason: RedemptionReason::OnRequest,
                    redemption_date: d("2027-08-02"),
                    accrued_per_unit: dec("2.833333333333"),
                    penalty_months: 3,
                    penalty_per_unit: dec("15"),
                    price_per_unit: dec("987.833333333333"),
                    amount: dec("9878.33"),
                    rounding: RoundingRule::HalfEven,
                    currency: Currency::USD,
                    document_hash: None,
                }),
            ),
        ]
    }

    #[test]
    fn holdings_events_encode_to_the_documented_bytes_and_back() {
        let doc = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/LEDGER_FORMAT.md"
        ))
        .expect("read docs/LEDGER_FORMAT.md");
        let block = doc
            .split("<!-- holdings-vectors:begin -->")
            .nth(1)
            .and_then(|rest| rest.split("<!-- holdings-vectors:end -->").next())
            .unwrap_or("");
        let mut wrong = Vec::new();
        for (name, event) in vectors() {
            let wire = event_to_pb(&event);
            let bytes = wire.encode_to_vec();
            assert_eq!(event_from_pb(&wire).expect("decodes"), event, "{name}");
            let line = format!("{name} = {}", hex::encode(&bytes));
            if !block.lines().any(|l| l.trim() == line) {
                wrong.push(line);
            }
        }
        assert!(
            wrong.is_empty(),
            "docs/LEDGER_FORMAT.md lacks these vectors (or has others):\n{}",
            wrong.join("\n")
        );
    }
}
