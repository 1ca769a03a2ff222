//! Conversion of series events, subscriptions, allotments and holdings between
//! their wire form and the registry's types.

pub use super::terms::{
    category_from_pb, category_to_pb, figures_to_pb, flow_to_pb, terms_from_pb, terms_to_pb,
};
pub use super::wire::{date, decimal, opt_decimal, units};

use super::holdings::{registration_from_pb, registration_to_pb};
use super::terms::{defined_from_pb, defined_to_pb, rule_from_pb, rule_to_pb};
use super::timestamp_to_pb;
use super::wire::{Form, money, s};
use crate::money::{Currency, Units};
use crate::proto as pb;
use crate::registry::{
    AllotmentLine, Country, Event, Holding, HoldingUnits, InvestorRef, ParticipantId,
    RegistryError, Series, SeriesId, SeriesStatus, SubmitSubscription, Subscription,
    SubscriptionStatus, SubscriptionSubmitted,
};

fn invalid(field: &str, reason: impl Into<String>) -> RegistryError {
    RegistryError::invalid(field, reason)
}

pub fn series_status_to_pb(s: SeriesStatus) -> pb::SeriesStatus {
    match s {
        SeriesStatus::Draft => pb::SeriesStatus::Draft,
        SeriesStatus::Open => pb::SeriesStatus::Open,
        SeriesStatus::Closed => pb::SeriesStatus::Closed,
        SeriesStatus::Allotted => pb::SeriesStatus::Allotted,
        SeriesStatus::Issued => pb::SeriesStatus::Issued,
        SeriesStatus::Matured => pb::SeriesStatus::Matured,
        SeriesStatus::Cancelled => pb::SeriesStatus::Cancelled,
    }
}

pub fn subscription_status_to_pb(s: SubscriptionStatus) -> pb::SubscriptionStatus {
    match s {
        SubscriptionStatus::Submitted => pb::SubscriptionStatus::Submitted,
        SubscriptionStatus::Withdrawn => pb::SubscriptionStatus::Withdrawn,
        SubscriptionStatus::Allotted => pb::SubscriptionStatus::Allotted,
        SubscriptionStatus::Settled => pb::SubscriptionStatus::Settled,
        SubscriptionStatus::Released => pb::SubscriptionStatus::Released,
        SubscriptionStatus::Refunded => pb::SubscriptionStatus::Refunded,
        SubscriptionStatus::Issued => pb::SubscriptionStatus::Issued,
    }
}
fn pairs_to_pb(list: &[(u64, Units)]) -> Vec<pb::Refund> {
    list.iter()
        .map(|(id, u)| pb::Refund {
            subscription_id: *id,
            units: u.to_string(),
        })
        .collect()
}

fn pairs_from_pb(list: &[pb::Refund]) -> Result<Vec<(u64, Units)>, RegistryError> {
    list.iter()
        .map(|r| Ok((r.subscription_id, units("units", &r.units)?)))
        .collect()
}

/// Bond-domain events to their ledger form; `None` for other events.
pub fn event_to_pb(event: &Event) -> Option<pb::event::Kind> {
    use pb::event::Kind;
    Some(match event {
        Event::SeriesCreated(d) => {
            let (terms, figures, schedule) = defined_to_pb(d);
            Kind::SeriesCreated(pb::SeriesCreated {
                terms,
                figures,
                schedule,
            })
        }
        Event::SeriesAmended(d) => {
            let (terms, figures, schedule) = defined_to_pb(d);
            Kind::SeriesAmended(pb::SeriesAmended {
                terms,
                figures,
                schedule,
            })
        }
        Event::SeriesOpened(id) => Kind::SeriesOpened(pb::SeriesOpened {
            series_id: id.to_string(),
        }),
        Event::SeriesClosed { series_id, early } => Kind::SeriesClosed(pb::SeriesClosed {
            series_id: series_id.to_string(),
            early: *early,
        }),
        Event::SeriesCancelled {
            series_id,
            reason,
            subscriptions,
        } => Kind::SeriesCancelled(pb::SeriesCancelled {
            series_id: series_id.to_string(),
            reason: reason.clone(),
            subscriptions: *subscriptions,
        }),
        Event::SubscriptionsRefunded { series_id, refunds } => {
            Kind::SubscriptionsRefunded(pb::SubscriptionsRefunded {
                series_id: series_id.to_string(),
                refunds: pairs_to_pb(refunds),
            })
        }
        Event::AllotmentDecided {
            series_id,
            rule,
            cap_units,
            subscribed_units,
            allotted_units,
            subscriptions,
        } => {
            let (rule, retail_priority_units) = rule_to_pb(*rule);
            Kind::AllotmentDecided(pb::AllotmentDecided {
                series_id: series_id.to_string(),
                rule: rule as i32,
                retail_priority_units,
                cap_units: cap_units.to_string(),
                subscribed_units: subscribed_units.to_string(),
                allotted_units: allotted_units.to_string(),
                subscriptions: *subscriptions,
            })
        }
        Event::SubscriptionsAllotted {
            series_id,
            allotments,
        } => Kind::SubscriptionsAllotted(pb::SubscriptionsAllotted {
            series_id: series_id.to_string(),
            allotments: allotments
                .iter()
                .map(|a| pb::Allotment {
                    subscription_id: a.subscription_id,
                    allotted_units: a.allotted_units.to_string(),
                    refunded_units: a.refunded_units.to_string(),
                    amount_due: s(&a.amount_due),
                })
                .collect(),
        }),
        Event::UnsettledReleased {
            series_id,
            released,
        } => Kind::UnsettledReleased(pb::UnsettledReleased {
            series_id: series_id.to_string(),
            released: pairs_to_pb(released),
        }),
        Event::SeriesIssued {
            series_id,
            units,
            holdings,
            amount_raised,
        } => Kind::SeriesIssued(pb::SeriesIssued {
            series_id: series_id.to_string(),
            units: units.to_string(),
            holdings: *holdings,
            amount_raised: s(amount_raised),
        }),
        Event::HoldingsCreated {
            series_id,
            holdings,
        } => Kind::HoldingsCreated(pb::HoldingsCreated {
            series_id: series_id.to_string(),
            holdings: holdings
                .iter()
                .map(|h| pb::HoldingUnits {
                    investor_ref: h.investor_ref.to_string(),
                    bank_id: h.bank_id.to_string(),
                    units: h.units.to_string(),
                    registration: registration_to_pb(&h.registration),
                })
                .collect(),
        }),
        Event::SubscriptionSubmitted(e) => Kind::SubscriptionSubmitted(pb::SubscriptionSubmitted {
            subscription_id: e.subscription_id,
            series_id: e.series_id.to_string(),
            bank_id: e.bank_id.to_string(),
            investor_ref: e.investor_ref.to_string(),
            category: category_to_pb(e.category) as i32,
            country: e.country.to_string(),
            units: e.units.to_string(),
            idempotency_key: e.idempotency_key.to_string(),
            registration: registration_to_pb(&e.registration),
        }),
        Event::SubscriptionWithdrawn { subscription_id } => {
            Kind::SubscriptionWithdrawn(pb::SubscriptionWithdrawn {
                subscription_id: *subscription_id,
            })
        }
        Event::SettlementConfirmed {
            subscription_id,
            amount,
        } => Kind::SettlementConfirmed(pb::SettlementConfirmed {
            subscription_id: *subscription_id,
            amount: s(amount),
        }),
        _ => return None,
    })
}

fn sid(s: &str) -> Result<SeriesId, RegistryError> {
    SeriesId::parse("series_id", s)
}

/// Bond-domain events from their ledger form; `None` for other kinds.
pub fn event_from_pb(kind: &pb::event::Kind) -> Option<Result<Event, RegistryError>> {
    use pb::event::Kind;
    let result = (|| {
        Ok(match kind {
            Kind::SeriesCreated(e) => Event::SeriesCreated(defined_from_pb(
                e.terms.as_ref(),
                e.figures.as_ref(),
                &e.schedule,
            )?),
            Kind::SeriesAmended(e) => Event::SeriesAmended(defined_from_pb(
                e.terms.as_ref(),
                e.figures.as_ref(),
                &e.schedule,
            )?),
            Kind::SeriesOpened(e) => Event::SeriesOpened(sid(&e.series_id)?),
            Kind::SeriesClosed(e) => Event::SeriesClosed {
                series_id: sid(&e.series_id)?,
                early: e.early,
            },
            Kind::SeriesCancelled(e) => Event::SeriesCancelled {
                series_id: sid(&e.series_id)?,
                reason: e.reason.clone(),
                subscriptions: e.subscriptions,
            },
            Kind::SubscriptionsRefunded(e) => Event::SubscriptionsRefunded {
                series_id: sid(&e.series_id)?,
                refunds: pairs_from_pb(&e.refunds)?,
            },
            Kind::AllotmentDecided(e) => {
                let rule = rule_from_pb(e.rule, &e.retail_priority_units)?;
                Event::AllotmentDecided {
                    series_id: sid(&e.series_id)?,
                    rule,
                    cap_units: units("cap_units", &e.cap_units)?,
                    subscribed_units: units("subscribed_units", &e.subscribed_units)?,
                    allotted_units: units("allotted_units", &e.allotted_units)?,
                    subscriptions: e.subscriptions,
                }
            }
            Kind::SubscriptionsAllotted(e) => Event::SubscriptionsAllotted {
                series_id: sid(&e.series_id)?,
                allotments: e
                    .allotments
                    .iter()
                    .map(|a| {
                        Ok(AllotmentLine {
                            subscription_id: a.subscription_id,
                            allotted_units: units("allotted_units", &a.allotted_units)?,
                            refunded_units: units("refunded_units", &a.refunded_units)?,
                            amount_due: decimal("amount_due", &a.amount_due)?,
                        })
                    })
                    .collect::<Result<_, RegistryError>>()?,
            },
            Kind::UnsettledReleased(e) => Event::UnsettledReleased {
                series_id: sid(&e.series_id)?,
                released: pairs_from_pb(&e.released)?,
            },
            Kind::SeriesIssued(e) => Event::SeriesIssued {
                series_id: sid(&e.series_id)?,
                units: units("units", &e.units)?,
                holdings: e.holdings,
                amount_raised: decimal("amount_raised", &e.amount_raised)?,
            },
            Kind::HoldingsCreated(e) => Event::HoldingsCreated {
                series_id: sid(&e.series_id)?,
                holdings: e
                    .holdings
                    .iter()
                    .map(|h| {
                        Ok(HoldingUnits {
                            investor_ref: InvestorRef::parse("investor_ref", &h.investor_ref)?,
                            bank_id: ParticipantId::parse("bank_id", &h.bank_id)?,
                            units: units("units", &h.units)?,
                            registration: registration_from_pb(
                                "registration",
                                h.registration.as_ref(),
                            )?,
                        })
                    })
                    .collect::<Result<_, RegistryError>>()?,
            },
            Kind::SubscriptionSubmitted(e) => Event::SubscriptionSubmitted(SubscriptionSubmitted {
                subscription_id: e.subscription_id,
                series_id: sid(&e.series_id)?,
                bank_id: ParticipantId::parse("bank_id", &e.bank_id)?,
                investor_ref: InvestorRef::parse("investor_ref", &e.investor_ref)?,
                category: category_from_pb("category", e.category)?,
                country: Country::parse("country", &e.country)?,
                units: units("units", &e.units)?,
                idempotency_key: e.idempotency_key.as_str().into(),
                registration: registration_from_pb("registration", e.registration.as_ref())?,
            }),
            Kind::SubscriptionWithdrawn(e) => Event::SubscriptionWithdrawn {
                subscription_id: e.subscription_id,
            },
            Kind::SettlementConfirmed(e) => Event::SettlementConfirmed {
                subscription_id: e.subscription_id,
                amount: decimal("amount", &e.amount)?,
            },
            _ => return Err(invalid("event", "not a bond event")),
        })
    })();
    match kind {
        Kind::Genesis(_)
        | Kind::ParticipantRegistered(_)
        | Kind::KeyRotated(_)
        | Kind::ParticipantRevoked(_)
        | Kind::LedgerKeyRotated(_)
        | Kind::RecoveryQuorumSet(_)
        | Kind::LedgerKeyReplaced(_) => None,
        _ => Some(result),
    }
}

pub fn submit_from_pb(c: &pb::SubmitSubscription) -> Result<SubmitSubscription, RegistryError> {
    Ok(SubmitSubscription {
        series_id: sid(&c.series_id)?,
        investor_ref: InvestorRef::parse("investor_ref", &c.investor_ref)?,
        category: category_from_pb("category", c.category)?,
        country: Country::parse("country", &c.country)?,
        units: units("units", &c.units)?,
        idempotency_key: c.idempotency_key.clone(),
        registration: registration_from_pb("registration", c.registration.as_ref())?,
    })
}

pub fn series_id_from_pb(s: &str) -> Result<SeriesId, RegistryError> {
    sid(s)
}

/// A subscription as the services show it: its amount due at the minor unit
/// of `currency`, its series' currency.
pub fn subscription_to_pb(s: &Subscription, currency: Currency) -> pb::Subscription {
    subscription_with(s, money(&s.amount_due, currency))
}

fn subscription_with(s: &Subscription, amount_due: String) -> pb::Subscription {
    pb::Subscription {
        subscription_id: s.subscription_id,
        series_id: s.series_id.to_string(),
        bank_id: s.bank_id.to_string(),
        investor_ref: s.investor_ref.to_string(),
        category: category_to_pb(s.category) as i32,
        country: s.country.to_string(),
        units: s.units.to_string(),
        status: subscription_status_to_pb(s.status) as i32,
        allotted_units: s.allotted_units.to_string(),
        refunded_units: s.refunded_units.to_string(),
        amount_due,
        idempotency_key: s.idempotency_key.to_string(),
        submitted_at: Some(timestamp_to_pb(s.submitted_at)),
        registration: registration_to_pb(&s.registration),
    }
}

pub fn holding_to_pb(h: &Holding) -> pb::Holding {
    pb::Holding {
        series_id: h.series_id.to_string(),
        investor_ref: h.investor_ref.to_string(),
        bank_id: h.bank_id.to_string(),
        units: h.units.to_string(),
        redeemed_units: h.redeemed_units.to_string(),
        registration: registration_to_pb(&h.registration),
        pending_units: h.pending_units.to_string(),
        gift_units: h.gift_units.to_string(),
        early_redeemed_units: h.early_redeemed_units.to_string(),
    }
}

/// A subscription as the services show it, in its series' currency. A
/// subscription whose series the state does not hold (which a consistent state
/// never has) shows its amount due as recorded.
pub fn subscription_view(state: &crate::registry::State, sub: &Subscription) -> pb::Subscription {
    match state.series(&sub.series_id) {
        Some(series) => subscription_to_pb(sub, series.terms.currency),
        None => subscription_with(sub, s(&sub.amount_due)),
    }
}

/// The series as the services show it: its book summary from the registry's
/// subscriptions, its tranches and its unclaimed balance.
pub fn series_view(state: &crate::registry::State, s: &Series) -> pb::Series {
    let id = &s.terms.series_id;
    let mut out = series_to_pb(s, state.book(id));
    out.unclaimed_balance = money(
        &crate::registry::unclaimed::balance(state, id),
        s.terms.currency,
    );
    out
}

/// The series with its book summary computed from its subscriptions, in its
/// response form (money at the currency's minor unit, rates at
/// `wire::RATE_DECIMALS`).
pub fn series_to_pb<'a>(s: &Series, book: impl Iterator<Item = &'a Subscription>) -> pb::Series {
    use std::collections::BTreeMap;
    #[derive(Default)]
    struct B {
        subs: u64,
        subscribed: u64,
        allotted: u64,
    }
    let mut total = pb::BookSummary::default();
    let (mut subscribed, mut allotted, mut settled, mut issued) = (0u64, 0u64, 0u64, 0u64);
    let mut by_cat: BTreeMap<&'static str, B> = BTreeMap::new();
    let mut by_country: BTreeMap<String, B> = BTreeMap::new();
    for sub in book {
        if matches!(sub.status, SubscriptionStatus::Withdrawn) {
            continue;
        }
        total.subscriptions = total.subscriptions.saturating_add(1);
        let held = matches!(
            sub.status,
            SubscriptionStatus::Allotted | SubscriptionStatus::Settled | SubscriptionStatus::Issued
        );
        let a = if held { sub.allotted_units } else { 0 };
        subscribed = subscribed.saturating_add(sub.units);
        allotted = allotted.saturating_add(a);
        if matches!(
            sub.status,
            SubscriptionStatus::Settled | SubscriptionStatus::Issued
        ) {
            settled = settled.saturating_add(sub.allotted_units);
        }
        if sub.status == SubscriptionStatus::Issued {
            issued = issued.saturating_add(sub.allotted_units);
        }
        for b in [
            by_cat.entry(sub.category.as_str()).or_default(),
            by_country.entry(sub.country.to_string()).or_default(),
        ] {
            b.subs = b.subs.saturating_add(1);
            b.subscribed = b.subscribed.saturating_add(sub.units);
            b.allotted = b.allotted.saturating_add(a);
        }
    }
    let bucket = |(k, b): (String, B)| pb::BookBucket {
        key: k,
        subscriptions: b.subs,
        subscribed_units: b.subscribed.to_string(),
        allotted_units: b.allotted.to_string(),
    };
    total.subscribed_units = subscribed.to_string();
    total.allotted_units = allotted.to_string();
    total.settled_units = settled.to_string();
    total.issued_units = issued.to_string();
    total.amount_raised = money(&s.amount_raised, s.terms.currency);
    total.by_category = by_cat
        .into_iter()
        .map(|(k, b)| bucket((k.to_string(), b)))
        .collect();
    total.by_country = by_country.into_iter().map(bucket).collect();
    pb::Series {
        terms: Some(terms_to_pb(&s.terms, Form::Response)),
        figures: Some(figures_to_pb(&s.figures, s.terms.currency, Form::Response)),
        status: series_status_to_pb(s.status) as i32,
        schedule: s
            .schedule
            .iter()
            .map(|f| flow_to_pb(f, Form::Response))
            .collect(),
        book: Some(total),
        created_at_index: s.created_at_index,
        tranches: s
            .tranches
            .iter()
            .map(|t| super::servicing::tranche_to_pb(t, s.terms.currency))
            .collect(),
        // The registry service fills it in from the unclaimed payments.
        unclaimed_balance: String::new(),
    }
}
