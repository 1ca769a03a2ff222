//! Conversion of fixings, record dates, coupon payments and redemptions.

use super::wire::{date, decimal, units};
use crate::accrual::EventId;
use crate::money::{Currency, Rate, RoundingRule};
use crate::proto as pb;
use crate::registry::coupons::{BankTotal, CouponPaid, Payment, RecordDateFixed, Redeemed};
use crate::registry::{Event, InvestorRef, ParticipantId, RegistryError, SeriesId};
use std::str::FromStr;

fn invalid(field: &str, reason: impl Into<String>) -> RegistryError {
    RegistryError::invalid(field, reason)
}

pub fn event_id(field: &str, s: &str) -> Result<EventId, RegistryError> {
    EventId::from_str(s).map_err(|e| invalid(field, e.to_string()))
}

fn rounding(s: &str) -> Result<RoundingRule, RegistryError> {
    RoundingRule::from_str(s).map_err(|e| invalid("rounding", e.to_string()))
}

fn currency(s: &str) -> Result<Currency, RegistryError> {
    Currency::from_str(s).map_err(|e| invalid("currency", e.to_string()))
}

fn sid(s: &str) -> Result<SeriesId, RegistryError> {
    SeriesId::parse("series_id", s)
}

fn payments_to_pb(list: &[Payment]) -> Vec<pb::Payment> {
    list.iter()
        .map(|p| pb::Payment {
            investor_ref: p.investor_ref.to_string(),
            bank_id: p.bank_id.to_string(),
            units: p.units.to_string(),
            amount: p.amount.to_string(),
            withholding: p
                .withholding
                .as_ref()
                .map(super::servicing::payment_withholding_to_pb),
        })
        .collect()
}

fn payments_from_pb(list: &[pb::Payment]) -> Result<Vec<Payment>, RegistryError> {
    list.iter()
        .map(|p| {
            Ok(Payment {
                investor_ref: InvestorRef::parse("investor_ref", &p.investor_ref)?,
                bank_id: ParticipantId::parse("bank_id", &p.bank_id)?,
                units: units("units", &p.units)?,
                amount: decimal("amount", &p.amount)?,
                withholding: p
                    .withholding
                    .as_ref()
                    .map(super::servicing::payment_withholding_from_pb)
                    .transpose()?,
            })
        })
        .collect()
}

fn totals_to_pb(list: &[BankTotal]) -> Vec<pb::BankTotal> {
    list.iter()
        .map(|b| pb::BankTotal {
            bank_id: b.bank_id.to_string(),
            holdings: b.holdings,
            units: b.units.to_string(),
            amount: b.amount.to_string(),
        })
        .collect()
}

fn totals_from_pb(list: &[pb::BankTotal]) -> Result<Vec<BankTotal>, RegistryError> {
    list.iter()
        .map(|b| {
            Ok(BankTotal {
                bank_id: ParticipantId::parse("bank_id", &b.bank_id)?,
                holdings: b.holdings,
                units: units("units", &b.units)?,
                amount: decimal("amount", &b.amount)?,
            })
        })
        .collect()
}

pub fn event_to_pb(event: &Event) -> Option<pb::event::Kind> {
    use pb::event::Kind;
    Some(match event {
        Event::FixingPublished {
            reference,
            date,
            rate,
        } => Kind::RateFixingPublished(pb::RateFixingPublished {
            reference_rate: reference.clone(),
            fixing_date: date.to_string(),
            rate: rate.to_string(),
        }),
        Event::RecordDateFixed(e) => Kind::RecordDateFixed(pb::RecordDateFixed {
            event_id: e.id.to_string(),
            series_id: e.series_id.to_string(),
            flow: e.flow,
            record_date: e.record_date.to_string(),
            payment_date: e.payment_date.to_string(),
            holders: e.holders,
            units: e.units.to_string(),
            holders_digest: e.holders_digest.to_vec(),
        }),
        Event::CouponPaid(e) => Kind::CouponPaid(pb::CouponPaid {
            event_id: e.id.to_string(),
            series_id: e.series_id.to_string(),
            flow: e.flow,
            accrual_start: e.accrual_start.to_string(),
            accrual_end: e.accrual_end.to_string(),
            payment_date: e.payment_date.to_string(),
            rate: e.rate.to_string(),
            amount_per_unit: e.amount_per_unit.to_string(),
            rounding: e.rounding.as_str().to_string(),
            total: e.total.to_string(),
            residue: e.residue.to_string(),
            holdings: e.holdings,
            bank_totals: totals_to_pb(&e.bank_totals),
            currency: e.currency.as_str().to_string(),
            withholding: e.withholding.as_ref().map(super::servicing::summary_to_pb),
        }),
        Event::CouponPayments {
            id,
            series_id,
            payments,
        } => Kind::CouponPayments(pb::CouponPayments {
            event_id: id.to_string(),
            series_id: series_id.to_string(),
            payments: payments_to_pb(payments),
        }),
        Event::Redeemed(e) => Kind::Redeemed(pb::Redeemed {
            event_id: e.id.to_string(),
            series_id: e.series_id.to_string(),
            payment_date: e.payment_date.to_string(),
            amount_per_unit: e.amount_per_unit.to_string(),
            rounding: e.rounding.as_str().to_string(),
            total: e.total.to_string(),
            residue: e.residue.to_string(),
            holdings: e.holdings,
            bank_totals: totals_to_pb(&e.bank_totals),
            currency: e.currency.as_str().to_string(),
        }),
        Event::RedemptionPayments {
            id,
            series_id,
            payments,
        } => Kind::RedemptionPayments(pb::RedemptionPayments {
            event_id: id.to_string(),
            series_id: series_id.to_string(),
            payments: payments_to_pb(payments),
        }),
        Event::SeriesMatured { series_id } => Kind::SeriesMatured(pb::SeriesMatured {
            series_id: series_id.to_string(),
        }),
        _ => return None,
    })
}

pub fn event_from_pb(kind: &pb::event::Kind) -> Option<Result<Event, RegistryError>> {
    use pb::event::Kind;
    let result = (|| {
        Ok(match kind {
            Kind::RateFixingPublished(e) => Event::FixingPublished {
                reference: e.reference_rate.clone(),
                date: date("fixing_date", &e.fixing_date)?,
                rate: Rate::new(decimal("rate", &e.rate)?),
            },
            Kind::RecordDateFixed(e) => Event::RecordDateFixed(RecordDateFixed {
                id: event_id("event_id", &e.event_id)?,
                series_id: sid(&e.series_id)?,
                flow: e.flow,
                record_date: date("record_date", &e.record_date)?,
                payment_date: date("payment_date", &e.payment_date)?,
                holders: e.holders,
                units: units("units", &e.units)?,
                holders_digest: e
                    .holders_digest
                    .as_slice()
                    .try_into()
                    .map_err(|_| invalid("holders_digest", "must be 32 bytes"))?,
            }),
            Kind::CouponPaid(e) => Event::CouponPaid(CouponPaid {
                id: event_id("event_id", &e.event_id)?,
                series_id: sid(&e.series_id)?,
                flow: e.flow,
                accrual_start: date("accrual_start", &e.accrual_start)?,
                accrual_end: date("accrual_end", &e.accrual_end)?,
                payment_date: date("payment_date", &e.payment_date)?,
                rate: Rate::new(decimal("rate", &e.rate)?),
                amount_per_unit: decimal("amount_per_unit", &e.amount_per_unit)?,
                rounding: rounding(&e.rounding)?,
                total: decimal("total", &e.total)?,
                residue: decimal("residue", &e.residue)?,
                holdings: e.holdings,
                bank_totals: totals_from_pb(&e.bank_totals)?,
                currency: currency(&e.currency)?,
                withholding: e
                    .withholding
                    .as_ref()
                    .map(super::servicing::summary_from_pb)
                    .transpose()?,
            }),
            Kind::CouponPayments(e) => Event::CouponPayments {
                id: event_id("event_id", &e.event_id)?,
                series_id: sid(&e.series_id)?,
                payments: payments_from_pb(&e.payments)?,
            },
            Kind::Redeemed(e) => Event::Redeemed(Redeemed {
                id: event_id("event_id", &e.event_id)?,
                series_id: sid(&e.series_id)?,
                payment_date: date("payment_date", &e.payment_date)?,
                amount_per_unit: decimal("amount_per_unit", &e.amount_per_unit)?,
                rounding: rounding(&e.rounding)?,
                total: decimal("total", &e.total)?,
                residue: decimal("residue", &e.residue)?,
                holdings: e.holdings,
                bank_totals: totals_from_pb(&e.bank_totals)?,
                currency: currency(&e.currency)?,
            }),
            Kind::RedemptionPayments(e) => Event::RedemptionPayments {
                id: event_id("event_id", &e.event_id)?,
                series_id: sid(&e.series_id)?,
                payments: payments_from_pb(&e.payments)?,
            },
            Kind::SeriesMatured(e) => Event::SeriesMatured {
                series_id: sid(&e.series_id)?,
            },
            _ => return Err(invalid("event", "not a coupon event")),
        })
    })();
    match kind {
        Kind::RateFixingPublished(_)
        | Kind::RecordDateFixed(_)
        | Kind::CouponPaid(_)
        | Kind::CouponPayments(_)
        | Kind::Redeemed(_)
        | Kind::RedemptionPayments(_)
        | Kind::SeriesMatured(_) => Some(result),
        _ => None,
    }
}
