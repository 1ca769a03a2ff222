//! Conversion of withholding, unclaimed-payment and reopening events and
//! commands between their wire form and the registry's types.

use super::bonds::series_id_from_pb;
use super::coupons::event_id;
use super::terms::{rule_from_pb, rule_to_pb};
use super::wire::{date, decimal, money, rate, s, units};
use super::{timestamp_from_pb, timestamp_to_pb};
use crate::money::Currency;
use crate::proto as pb;
use crate::registry::reopening::{ReopenSeries, TrancheTerms};
use crate::registry::unclaimed::{
    PaymentUndeliverable, RecordClaim, ReportUndeliverable, UnclaimedPaymentClaimed,
};
use crate::registry::withholding::{
    BankWithholding, CountryWithholding, PaymentWithholding, RecordResidence, ResidenceRecorded,
    SetWithholdingTable, WithholdingSummary, WithholdingTableSet,
};
use crate::registry::{
    Command, Country, Event, HoldingUnits, InvestorRef, ParticipantId, RegistryError, SeriesId,
};
use std::str::FromStr;

fn invalid(field: &str, reason: impl Into<String>) -> RegistryError {
    RegistryError::invalid(field, reason)
}

fn sid(s: &str) -> Result<SeriesId, RegistryError> {
    SeriesId::parse("series_id", s)
}

/// An optional series id: empty for the programme.
fn opt_sid(s: &str) -> Result<Option<SeriesId>, RegistryError> {
    if s.is_empty() {
        Ok(None)
    } else {
        sid(s).map(Some)
    }
}

fn opt_country(field: &str, s: &str) -> Result<Option<Country>, RegistryError> {
    if s.is_empty() {
        Ok(None)
    } else {
        Country::parse(field, s).map(Some)
    }
}

fn country_text(c: &Option<Country>) -> String {
    c.map(|c| c.to_string()).unwrap_or_default()
}

pub fn payment_withholding_to_pb(w: &PaymentWithholding) -> pb::PaymentWithholding {
    pb::PaymentWithholding {
        residence: country_text(&w.residence),
        rate: s(&w.rate),
        withheld: s(&w.withheld),
        net: s(&w.net),
    }
}

pub fn payment_withholding_from_pb(
    w: &pb::PaymentWithholding,
) -> Result<PaymentWithholding, RegistryError> {
    Ok(PaymentWithholding {
        residence: opt_country("withholding.residence", &w.residence)?,
        rate: decimal("withholding.rate", &w.rate)?,
        withheld: decimal("withholding.withheld", &w.withheld)?,
        net: decimal("withholding.net", &w.net)?,
    })
}

pub fn summary_to_pb(w: &WithholdingSummary) -> pb::CouponWithholding {
    pb::CouponWithholding {
        rounding: w.rounding.as_str().to_string(),
        gross: s(&w.gross),
        withheld: s(&w.withheld),
        net: s(&w.net),
        by_bank: w
            .by_bank
            .iter()
            .map(|b| pb::BankWithholding {
                bank_id: b.bank_id.to_string(),
                holdings: b.holdings,
                gross: s(&b.gross),
                withheld: s(&b.withheld),
                net: s(&b.net),
            })
            .collect(),
        by_country: w
            .by_country
            .iter()
            .map(|c| pb::CountryWithholding {
                country: country_text(&c.country),
                rate: s(&c.rate),
                holdings: c.holdings,
                gross: s(&c.gross),
                withheld: s(&c.withheld),
                net: s(&c.net),
            })
            .collect(),
    }
}

pub fn summary_from_pb(w: &pb::CouponWithholding) -> Result<WithholdingSummary, RegistryError> {
    Ok(WithholdingSummary {
        rounding: crate::money::RoundingRule::from_str(&w.rounding)
            .map_err(|e| invalid("withholding.rounding", e.to_string()))?,
        gross: decimal("withholding.gross", &w.gross)?,
        withheld: decimal("withholding.withheld", &w.withheld)?,
        net: decimal("withholding.net", &w.net)?,
        by_bank: w
            .by_bank
            .iter()
            .map(|b| {
                Ok(BankWithholding {
                    bank_id: ParticipantId::parse("withholding.by_bank.bank_id", &b.bank_id)?,
                    holdings: b.holdings,
                    gross: decimal("withholding.by_bank.gross", &b.gross)?,
                    withheld: decimal("withholding.by_bank.withheld", &b.withheld)?,
                    net: decimal("withholding.by_bank.net", &b.net)?,
                })
            })
            .collect::<Result<_, RegistryError>>()?,
        by_country: w
            .by_country
            .iter()
            .map(|c| {
                Ok(CountryWithholding {
                    country: opt_country("withholding.by_country.country", &c.country)?,
                    rate: decimal("withholding.by_country.rate", &c.rate)?,
                    holdings: c.holdings,
                    gross: decimal("withholding.by_country.gross", &c.gross)?,
                    withheld: decimal("withholding.by_country.withheld", &c.withheld)?,
                    net: decimal("withholding.by_country.net", &c.net)?,
                })
            })
            .collect::<Result<_, RegistryError>>()?,
    })
}

fn holdings_to_pb(list: &[HoldingUnits]) -> Vec<pb::HoldingUnits> {
    list.iter()
        .map(|h| pb::HoldingUnits {
            investor_ref: h.investor_ref.to_string(),
            bank_id: h.bank_id.to_string(),
            units: h.units.to_string(),
            registration: super::holdings::registration_to_pb(&h.registration),
        })
        .collect()
}

fn holdings_from_pb(list: &[pb::HoldingUnits]) -> Result<Vec<HoldingUnits>, RegistryError> {
    list.iter()
        .map(|h| {
            Ok(HoldingUnits {
                investor_ref: InvestorRef::parse("investor_ref", &h.investor_ref)?,
                bank_id: ParticipantId::parse("bank_id", &h.bank_id)?,
                units: units("units", &h.units)?,
                registration: super::holdings::registration_from_pb(
                    "registration",
                    h.registration.as_ref(),
                )?,
            })
        })
        .collect()
}

/// A tranche's terms in their ledger form (the `SeriesReopened` event).
pub fn tranche_terms_to_pb(t: &TrancheTerms) -> pb::SeriesReopened {
    pb::SeriesReopened {
        series_id: t.series_id.to_string(),
        tranche: t.tranche,
        window_opens_at: Some(timestamp_to_pb(t.window_opens_at)),
        window_closes_at: Some(timestamp_to_pb(t.window_closes_at)),
        settlement_date: t.settlement_date.to_string(),
        settlement_deadline: Some(timestamp_to_pb(t.settlement_deadline)),
        cap_units: t.cap_units.to_string(),
        reference_yield: s(&t.reference_yield),
        discount_bps: s(&t.discount_bps),
        issue_yield: s(&t.issue_yield),
        clean_price: s(&t.clean_price),
        price_per_unit: s(&t.price_per_unit),
        accrued_per_unit: s(&t.accrued_per_unit),
    }
}

/// A tranche's terms as the services show them: the price per unit at the
/// minor unit of `currency` (the series'), yields and the clean price at
/// `wire::RATE_DECIMALS`; basis points and the accrued interest per unit
/// (unrounded) as computed.
fn tranche_terms_view(t: &TrancheTerms, currency: Currency) -> pb::SeriesReopened {
    pb::SeriesReopened {
        reference_yield: rate(&t.reference_yield),
        issue_yield: rate(&t.issue_yield),
        clean_price: rate(&t.clean_price),
        price_per_unit: money(&t.price_per_unit, currency),
        ..tranche_terms_to_pb(t)
    }
}

fn tranche_terms_from_pb(e: &pb::SeriesReopened) -> Result<TrancheTerms, RegistryError> {
    Ok(TrancheTerms {
        series_id: sid(&e.series_id)?,
        tranche: e.tranche,
        window_opens_at: timestamp_from_pb("window_opens_at", e.window_opens_at.as_ref())?,
        window_closes_at: timestamp_from_pb("window_closes_at", e.window_closes_at.as_ref())?,
        settlement_date: date("settlement_date", &e.settlement_date)?,
        settlement_deadline: timestamp_from_pb(
            "settlement_deadline",
            e.settlement_deadline.as_ref(),
        )?,
        cap_units: units("cap_units", &e.cap_units)?.get(),
        reference_yield: decimal("reference_yield", &e.reference_yield)?,
        discount_bps: decimal("discount_bps", &e.discount_bps)?,
        issue_yield: decimal("issue_yield", &e.issue_yield)?,
        clean_price: decimal("clean_price", &e.clean_price)?,
        price_per_unit: decimal("price_per_unit", &e.price_per_unit)?,
        accrued_per_unit: decimal("accrued_per_unit", &e.accrued_per_unit)?,
    })
}

/// The events of this part of the registry to their ledger form; `None` for
/// other events.
pub fn event_to_pb(event: &Event) -> Option<pb::event::Kind> {
    use pb::event::Kind;
    Some(match event {
        Event::WithholdingTableSet(e) => Kind::WithholdingTableSet(pb::WithholdingTableSet {
            series_id: e
                .series_id
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default(),
            effective_from: e.effective_from.to_string(),
            default_rate: s(&e.default_rate),
            treaty_rates: e
                .treaty_rates
                .iter()
                .map(|(c, r)| pb::TreatyRate {
                    country: c.to_string(),
                    rate: s(r),
                })
                .collect(),
        }),
        Event::ResidenceRecorded(e) => Kind::ResidenceRecorded(pb::ResidenceRecorded {
            bank_id: e.bank_id.to_string(),
            investor_ref: e.investor_ref.to_string(),
            country: e.country.to_string(),
            effective_from: e.effective_from.to_string(),
        }),
        Event::PaymentUndeliverable(e) => Kind::PaymentUndeliverable(pb::PaymentUndeliverable {
            series_id: e.series_id.to_string(),
            event_id: e.event_id.to_string(),
            investor_ref: e.investor_ref.to_string(),
            bank_id: e.bank_id.to_string(),
            payment_date: e.payment_date.to_string(),
            units: e.units.to_string(),
            gross: s(&e.gross),
            withheld: s(&e.withheld),
            amount: s(&e.amount),
        }),
        Event::UnclaimedPaymentClaimed(e) => {
            Kind::UnclaimedPaymentClaimed(pb::UnclaimedPaymentClaimed {
                series_id: e.series_id.to_string(),
                event_id: e.event_id.to_string(),
                investor_ref: e.investor_ref.to_string(),
                bank_id: e.bank_id.to_string(),
                amount: s(&e.amount),
                reference: e.reference.clone(),
            })
        }
        Event::SeriesReopened(t) => Kind::SeriesReopened(tranche_terms_to_pb(t)),
        Event::TrancheClosed {
            series_id,
            tranche,
            early,
        } => Kind::TrancheClosed(pb::TrancheClosed {
            series_id: series_id.to_string(),
            tranche: *tranche,
            early: *early,
        }),
        Event::TrancheCancelled {
            series_id,
            tranche,
            reason,
            subscriptions,
        } => Kind::TrancheCancelled(pb::TrancheCancelled {
            series_id: series_id.to_string(),
            tranche: *tranche,
            reason: reason.clone(),
            subscriptions: *subscriptions,
        }),
        Event::TrancheAllotted {
            series_id,
            tranche,
            rule,
            cap_units,
            subscribed_units,
            allotted_units,
            subscriptions,
        } => {
            let (rule, retail_priority_units) = rule_to_pb(*rule);
            Kind::TrancheAllotted(pb::TrancheAllotted {
                series_id: series_id.to_string(),
                tranche: *tranche,
                rule: rule as i32,
                retail_priority_units,
                cap_units: cap_units.to_string(),
                subscribed_units: subscribed_units.to_string(),
                allotted_units: allotted_units.to_string(),
                subscriptions: *subscriptions,
            })
        }
        Event::TrancheIssued {
            series_id,
            tranche,
            units,
            holdings,
            principal,
            accrued,
        } => Kind::TrancheIssued(pb::TrancheIssued {
            series_id: series_id.to_string(),
            tranche: *tranche,
            units: units.to_string(),
            holdings: *holdings,
            principal: s(principal),
            accrued: s(accrued),
        }),
        Event::TrancheHoldings {
            series_id,
            tranche,
            holdings,
        } => Kind::TrancheHoldings(pb::TrancheHoldings {
            series_id: series_id.to_string(),
            tranche: *tranche,
            holdings: holdings_to_pb(holdings),
        }),
        _ => return None,
    })
}

/// The events of this part of the registry from their ledger form; `None` for
/// other kinds.
pub fn event_from_pb(kind: &pb::event::Kind) -> Option<Result<Event, RegistryError>> {
    use pb::event::Kind;
    Some((|| {
        Ok(match kind {
            Kind::WithholdingTableSet(e) => Event::WithholdingTableSet(WithholdingTableSet {
                series_id: opt_sid(&e.series_id)?,
                effective_from: date("effective_from", &e.effective_from)?,
                default_rate: decimal("default_rate", &e.default_rate)?,
                treaty_rates: e
                    .treaty_rates
                    .iter()
                    .map(|t| {
                        Ok((
                            Country::parse("treaty_rates.country", &t.country)?,
                            decimal("treaty_rates.rate", &t.rate)?,
                        ))
                    })
                    .collect::<Result<_, RegistryError>>()?,
            }),
            Kind::ResidenceRecorded(e) => Event::ResidenceRecorded(ResidenceRecorded {
                bank_id: ParticipantId::parse("bank_id", &e.bank_id)?,
                investor_ref: InvestorRef::parse("investor_ref", &e.investor_ref)?,
                country: Country::parse("country", &e.country)?,
                effective_from: date("effective_from", &e.effective_from)?,
            }),
            Kind::PaymentUndeliverable(e) => Event::PaymentUndeliverable(PaymentUndeliverable {
                series_id: sid(&e.series_id)?,
                event_id: event_id("event_id", &e.event_id)?,
                investor_ref: InvestorRef::parse("investor_ref", &e.investor_ref)?,
                bank_id: ParticipantId::parse("bank_id", &e.bank_id)?,
                payment_date: date("payment_date", &e.payment_date)?,
                units: units("units", &e.units)?,
                gross: decimal("gross", &e.gross)?,
                withheld: decimal("withheld", &e.withheld)?,
                amount: decimal("amount", &e.amount)?,
            }),
            Kind::UnclaimedPaymentClaimed(e) => {
                Event::UnclaimedPaymentClaimed(UnclaimedPaymentClaimed {
                    series_id: sid(&e.series_id)?,
                    event_id: event_id("event_id", &e.event_id)?,
                    investor_ref: InvestorRef::parse("investor_ref", &e.investor_ref)?,
                    bank_id: ParticipantId::parse("bank_id", &e.bank_id)?,
                    amount: decimal("amount", &e.amount)?,
                    reference: e.reference.clone(),
                })
            }
            Kind::SeriesReopened(e) => Event::SeriesReopened(tranche_terms_from_pb(e)?),
            Kind::TrancheClosed(e) => Event::TrancheClosed {
                series_id: sid(&e.series_id)?,
                tranche: e.tranche,
                early: e.early,
            },
            Kind::TrancheCancelled(e) => Event::TrancheCancelled {
                series_id: sid(&e.series_id)?,
                tranche: e.tranche,
                reason: e.reason.clone(),
                subscriptions: e.subscriptions,
            },
            Kind::TrancheAllotted(e) => Event::TrancheAllotted {
                series_id: sid(&e.series_id)?,
                tranche: e.tranche,
                rule: rule_from_pb(e.rule, &e.retail_priority_units)?,
                cap_units: units("cap_units", &e.cap_units)?,
                subscribed_units: units("subscribed_units", &e.subscribed_units)?,
                allotted_units: units("allotted_units", &e.allotted_units)?,
                subscriptions: e.subscriptions,
            },
            Kind::TrancheIssued(e) => Event::TrancheIssued {
                series_id: sid(&e.series_id)?,
                tranche: e.tranche,
                units: units("units", &e.units)?,
                holdings: e.holdings,
                principal: decimal("principal", &e.principal)?,
                accrued: decimal("accrued", &e.accrued)?,
            },
            Kind::TrancheHoldings(e) => Event::TrancheHoldings {
                series_id: sid(&e.series_id)?,
                tranche: e.tranche,
                holdings: holdings_from_pb(&e.holdings)?,
            },
            _ => return Err(invalid("event", "not a servicing event")),
        })
    })())
    .filter(|_| {
        matches!(
            kind,
            Kind::WithholdingTableSet(_)
                | Kind::ResidenceRecorded(_)
                | Kind::PaymentUndeliverable(_)
                | Kind::UnclaimedPaymentClaimed(_)
                | Kind::SeriesReopened(_)
                | Kind::TrancheClosed(_)
                | Kind::TrancheCancelled(_)
                | Kind::TrancheAllotted(_)
                | Kind::TrancheIssued(_)
                | Kind::TrancheHoldings(_)
        )
    })
}

pub fn set_table_from_pb(c: &pb::SetWithholdingTable) -> Result<Command, RegistryError> {
    Ok(Command::SetWithholdingTable(SetWithholdingTable {
        series_id: opt_sid(&c.series_id)?,
        effective_from: date("effective_from", &c.effective_from)?,
        default_rate: decimal("default_rate", &c.default_rate)?,
        treaty_rates: c
            .treaty_rates
            .iter()
            .map(|t| {
                Ok((
                    Country::parse("treaty_rates.country", &t.country)?,
                    decimal("treaty_rates.rate", &t.rate)?,
                ))
            })
            .collect::<Result<_, RegistryError>>()?,
    }))
}

pub fn residence_from_pb(c: &pb::RecordResidence) -> Result<Command, RegistryError> {
    Ok(Command::RecordResidence(RecordResidence {
        investor_ref: InvestorRef::parse("investor_ref", &c.investor_ref)?,
        country: Country::parse("country", &c.country)?,
        effective_from: date("effective_from", &c.effective_from)?,
    }))
}

pub fn report_from_pb(c: &pb::ReportUndeliverable) -> Result<Command, RegistryError> {
    Ok(Command::ReportUndeliverable(ReportUndeliverable {
        event_id: event_id("event_id", &c.event_id)?,
        investor_ref: InvestorRef::parse("investor_ref", &c.investor_ref)?,
    }))
}

pub fn claim_from_pb(c: &pb::RecordClaim) -> Result<Command, RegistryError> {
    Ok(Command::RecordClaim(RecordClaim {
        event_id: event_id("event_id", &c.event_id)?,
        investor_ref: InvestorRef::parse("investor_ref", &c.investor_ref)?,
        reference: c.reference.clone(),
    }))
}

pub fn reopen_from_pb(c: &pb::ReopenSeries) -> Result<Command, RegistryError> {
    Ok(Command::ReopenSeries(ReopenSeries {
        series_id: series_id_from_pb(&c.series_id)?,
        window_opens_at: timestamp_from_pb("window_opens_at", c.window_opens_at.as_ref())?,
        window_closes_at: timestamp_from_pb("window_closes_at", c.window_closes_at.as_ref())?,
        settlement_date: date("settlement_date", &c.settlement_date)?,
        settlement_deadline: timestamp_from_pb(
            "settlement_deadline",
            c.settlement_deadline.as_ref(),
        )?,
        reference_yield: decimal("reference_yield", &c.reference_yield)?,
        discount_bps: decimal("discount_bps", &c.discount_bps)?,
        cap_units: units("cap_units", &c.cap_units)?.get(),
    }))
}

/// A tranche as the registry service shows it, in its series' `currency`.
pub fn tranche_to_pb(t: &crate::registry::reopening::Tranche, currency: Currency) -> pb::Tranche {
    pb::Tranche {
        terms: Some(tranche_terms_view(&t.terms, currency)),
        status: t.status.to_string(),
        opened_at_index: t.opened_at_index,
        units_issued: t.units_issued.to_string(),
        principal_raised: money(&t.principal_raised, currency),
        accrued_received: money(&t.accrued_received, currency),
    }
}

/// An unclaimed payment as the services show it, in its series' `currency`
/// (`None` only for a series the state does not hold: amounts as recorded,
/// currency empty).
pub fn unclaimed_to_pb(
    u: &crate::registry::unclaimed::Unclaimed,
    currency: Option<Currency>,
    overdue: bool,
) -> pb::UnclaimedPayment {
    let amount = |d: &rust_decimal::Decimal| match currency {
        Some(c) => money(d, c),
        None => s(d),
    };
    pb::UnclaimedPayment {
        series_id: u.series_id.to_string(),
        event_id: u.event_id.clone(),
        investor_ref: u.investor_ref.to_string(),
        bank_id: u.bank_id.to_string(),
        kind: u.kind.as_str().to_string(),
        payment_date: u.payment_date.to_string(),
        units: u.units.to_string(),
        gross: amount(&u.gross),
        withheld: amount(&u.withheld),
        amount: amount(&u.amount),
        reported_at: Some(timestamp_to_pb(u.reported_at)),
        reported_at_index: u.reported_at_index,
        claim_reference: u
            .claim
            .as_ref()
            .map(|c| c.reference.clone())
            .unwrap_or_default(),
        claimed_at: u.claim.as_ref().map(|c| timestamp_to_pb(c.claimed_at)),
        overdue,
        currency: currency.map(|c| c.as_str().to_string()).unwrap_or_default(),
    }
}

/// A withholding table as the services show it: rates at `wire::RATE_DECIMALS`.
pub fn table_to_pb(
    series: Option<&SeriesId>,
    t: &crate::registry::withholding::TableEntry,
) -> pb::WithholdingTable {
    pb::WithholdingTable {
        series_id: series.map(|s| s.to_string()).unwrap_or_default(),
        effective_from: t.effective_from.to_string(),
        recorded_at_index: t.recorded_at_index,
        default_rate: rate(&t.default_rate),
        treaty_rates: t
            .treaty_rates
            .iter()
            .map(|(c, r)| pb::TreatyRate {
                country: c.to_string(),
                rate: rate(r),
            })
            .collect(),
    }
}
