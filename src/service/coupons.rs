//! Fixings, the engine's due events and postings, accrued interest, investor
//! statements and debt-service schedules.

use super::error::ReadError;
use super::{Services, receipt, status};
use crate::accrual::{self, Due};
use crate::codec::bonds::{self as cb, date};
use crate::codec::holdings::holding_change_to_pb;
use crate::codec::wire::{money, rate};
use crate::money::round_to_minor;
use crate::pricing::{Bond, CashFlowKind};
use crate::proto as pb;
use crate::registry::coupons::{self, EngineSeries, PAYMENT_ROUNDING};
use crate::registry::{
    InvestorRef, ParticipantId, RegistryError, Role, SeriesId, SeriesStatus, State, unclaimed,
    withholding,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};

/// A figure the terms and fixings cannot give yet.
fn not_computable(e: impl std::fmt::Display) -> ReadError {
    ReadError::NotComputable {
        reason: e.to_string(),
    }
}

fn due_kind(d: &Due) -> &'static str {
    match d {
        Due::RecordDate { .. } => "record_date",
        Due::Coupon { .. } => "coupon",
        Due::Redemption { .. } => "redemption",
    }
}

/// Everything due on every issued series through `through`, in posting order per
/// series, and the coupons waiting for a fixing.
pub fn due_everywhere(
    state: &State,
    through: NaiveDate,
) -> Result<pb::ListDueEventsResponse, RegistryError> {
    let mut out = pb::ListDueEventsResponse::default();
    for s in state
        .all_series()
        .filter(|s| s.status == SeriesStatus::Issued)
    {
        let id = &s.terms.series_id;
        let report = coupons::due(state, id, through)?;
        for d in &report.due {
            let amount = match d {
                Due::Coupon { total, .. } | Due::Redemption { total, .. } => {
                    money(total, s.terms.currency)
                }
                Due::RecordDate { .. } => String::new(),
            };
            out.due.push(pb::DueEvent {
                event_id: d.id().to_string(),
                series_id: id.to_string(),
                kind: due_kind(d).into(),
                date: d.date().to_string(),
                amount,
            });
        }
        for w in report.waiting {
            out.waiting.push(pb::WaitingCoupon {
                series_id: w.series_id,
                flow: w.flow,
                reference_rate: w.reference,
                fixing_date: w.fixing_date.to_string(),
                payment_date: w.payment_date.to_string(),
            });
        }
    }
    Ok(out)
}

impl Services {
    fn today(&self) -> NaiveDate {
        self.clock.now().date_naive()
    }

    fn bank_scope(
        &self,
        caller: &crate::registry::Caller,
        bank_id: &str,
    ) -> Result<ParticipantId, Status> {
        if caller.role == Role::Bank {
            if !bank_id.is_empty() && bank_id != caller.participant_id.as_str() {
                return Err(ReadError::ClientsOfAnotherBank {
                    bank: caller.participant_id.to_string(),
                    other: status::quote(bank_id),
                }
                .into());
            }
            return Ok(caller.participant_id.clone());
        }
        Ok(ParticipantId::parse("bank_id", bank_id)?)
    }
}

#[tonic::async_trait]
impl pb::engine_service_server::EngineService for Services {
    async fn list_due_events(
        &self,
        r: Request<pb::ListDueEventsRequest>,
    ) -> Result<Response<pb::ListDueEventsResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::ListDueEvents>(r.into_inner().signed)?;
        let c = &auth.command;
        let today = self.today();
        let through = if c.through.is_empty() {
            today
        } else {
            date("through", &c.through)?.min(today)
        };
        let ledger = self.ledger.clone();
        let response =
            tokio::task::spawn_blocking(move || ledger.read(|p| due_everywhere(&p.state, through)))
                .await
                .map_err(|e| ReadError::TaskFailed {
                    reason: e.to_string(),
                })??;
        Ok(Response::new(response))
    }

    async fn post_accrual_event(
        &self,
        r: Request<pb::PostAccrualEventRequest>,
    ) -> Result<Response<pb::PostAccrualEventResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::PostAccrualEvent>(r.into_inner().signed)?;
        let committed = self.write(auth).await?;
        Ok(Response::new(pb::PostAccrualEventResponse {
            receipt: Some(receipt(&committed)),
            already_posted: committed.replayed,
        }))
    }
}

/// The payments a series makes, per unit, as the engine pays them: an
/// accumulating bond's compounded interest is paid with (and counted in) the
/// redemption rather than as a coupon of its own.
fn payable_flows(
    bond: &Bond,
    terms: &crate::registry::SeriesTerms,
) -> Vec<(CashFlowKind, NaiveDate, Option<Decimal>)> {
    let accumulating = matches!(terms.coupon, crate::registry::CouponSpec::Accumulating(_));
    let mut out: Vec<(CashFlowKind, NaiveDate, Option<Decimal>)> = Vec::new();
    let mut interest = Decimal::ZERO;
    for f in bond.cashflows() {
        if accumulating && f.kind == CashFlowKind::Coupon {
            interest += f.amount.unwrap_or_default();
            continue;
        }
        let amount = if f.kind == CashFlowKind::Redemption {
            f.amount.map(|a| a + interest)
        } else {
            f.amount
        };
        out.push((f.kind, f.payment_date, amount));
    }
    out
}

fn accrued_response(
    state: &State,
    id: &SeriesId,
    as_of: NaiveDate,
) -> Result<pb::GetAccruedResponse, Status> {
    let es = EngineSeries::of(state, id)?;
    let holdings = es.holding_inputs();
    let a = accrual::accrued(&es.input(id), &holdings, &coupons::fixings(state), as_of)
        .map_err(not_computable)?;
    let units: u64 = es.holdings.iter().map(|h| h.2).sum();
    Ok(pb::GetAccruedResponse {
        series_id: id.to_string(),
        as_of: as_of.to_string(),
        currency: es.currency.as_str().into(),
        per_unit: a.per_unit.to_string(),
        units: units.to_string(),
        total: a.total.to_string(),
        holdings: es.holdings.len() as u64,
    })
}

fn statement(
    state: &State,
    bank: &ParticipantId,
    investor: &InvestorRef,
    as_of: NaiveDate,
) -> Result<Vec<pb::StatementLine>, Status> {
    let fixings = coupons::fixings(state);
    let mut lines = Vec::new();
    for h in state.investor_holdings(bank, investor) {
        let s = state
            .series(&h.series_id)
            .ok_or_else(|| ReadError::SeriesNotFound {
                series_id: h.series_id.to_string(),
            })?;
        let es = EngineSeries::of(state, &h.series_id)?;
        let input = es.input(&h.series_id);
        let one = [accrual::HoldingInput {
            investor_ref: h.investor_ref.as_str(),
            bank_id: h.bank_id.as_str(),
            units: h.units.into(),
        }];
        let accrued = accrual::accrued(&input, &one, &fixings, as_of).map_err(not_computable)?;
        let kind = |k: CashFlowKind| k.as_str().to_string();
        let key = (
            h.series_id.clone(),
            h.investor_ref.clone(),
            h.bank_id.clone(),
        );
        let mut received = Vec::new();
        for p in s.paid.iter().filter(|p| p.payment_date <= as_of) {
            // Each payment as made: to the units the holding held when it was
            // posted (a holding's units move with reopenings, transfers,
            // successions and early redemptions), withheld as decided then.
            let Some(posted) = state.posted(&p.event_id) else {
                continue;
            };
            let units = state.units_at(&key, h.units, posted);
            if units == 0 {
                continue;
            }
            let gross = round_to_minor(
                Decimal::from(units).saturating_mul(p.amount_per_unit),
                s.terms.currency,
                PAYMENT_ROUNDING,
            );
            let withheld = match (p.kind, &p.withholding) {
                (CashFlowKind::Coupon, Some(_)) => withholding::withheld_from(
                    state,
                    &h.series_id,
                    s.terms.currency,
                    &h.bank_id,
                    &h.investor_ref,
                    p.payment_date,
                    posted,
                    gross,
                ),
                _ => None,
            };
            let (w, net, residence) = match &withheld {
                Some(w) => (w.withheld, w.net, w.residence.map(|c| c.to_string())),
                None => (Decimal::ZERO, gross, None),
            };
            let cur = s.terms.currency;
            received.push(pb::StatementPayment {
                kind: kind(p.kind),
                payment_date: p.payment_date.to_string(),
                amount: money(&gross, cur),
                event_id: p.event_id.clone(),
                gross: money(&gross, cur),
                withheld: money(&w, cur),
                net: money(&net, cur),
                residence: residence.unwrap_or_default(),
            });
        }
        let bond = Bond::new(&es.terms, &fixings).map_err(not_computable)?;
        // Upcoming as of the statement date: every flow paid after it.
        let upcoming = bond
            .cashflows()
            .iter()
            .filter(|f| f.payment_date > as_of)
            .map(|f| pb::StatementPayment {
                kind: kind(f.kind),
                payment_date: f.payment_date.to_string(),
                amount: f
                    .amount
                    .map(|a| a.saturating_mul(Decimal::from(h.units)).to_string())
                    .unwrap_or_default(),
                event_id: String::new(),
                gross: String::new(),
                withheld: String::new(),
                net: String::new(),
                residence: String::new(),
            })
            .collect();
        let unclaimed = unclaimed::of_series(state, &h.series_id)
            .filter(|u| u.investor_ref == h.investor_ref && u.bank_id == h.bank_id)
            .map(|u| {
                let late = unclaimed::overdue(u, s.terms.unclaimed_period_days, as_of);
                crate::codec::servicing::unclaimed_to_pb(u, Some(s.terms.currency), late)
            })
            .collect();
        lines.push(pb::StatementLine {
            holding: Some(cb::holding_to_pb(h)),
            currency: s.terms.currency.as_str().into(),
            accrued: accrued.total.to_string(),
            received,
            upcoming,
            unclaimed,
            history: h.history.iter().map(holding_change_to_pb).collect(),
        });
    }
    Ok(lines)
}

fn debt_service(
    state: &State,
    id: &SeriesId,
    today: NaiveDate,
) -> Result<pb::GetDebtServiceResponse, Status> {
    let s = state.series(id).ok_or_else(|| ReadError::SeriesNotFound {
        series_id: id.to_string(),
    })?;
    let es = EngineSeries::of(state, id)?;
    let units: u64 = es.holdings.iter().map(|h| h.2).sum();
    // Before issue, the debt service is that of the whole cap.
    let outstanding = if matches!(s.status, SeriesStatus::Issued | SeriesStatus::Matured) {
        units
    } else {
        s.terms.cap_units
    };
    let bond = Bond::new(&es.terms, &coupons::fixings(state)).map_err(not_computable)?;
    let mut lines: Vec<pb::DebtServiceLine> = payable_flows(&bond, &s.terms)
        .into_iter()
        .map(|(kind, date, amount)| {
            let paid = s
                .paid
                .iter()
                .find(|p| p.payment_date == date && p.kind == kind);
            let (amount, status) = match (paid, amount) {
                (Some(p), _) => (money(&p.total, s.terms.currency), "paid"),
                (None, None) => (String::new(), "waiting"),
                (None, Some(a)) => (
                    (a * Decimal::from(outstanding)).to_string(),
                    if date <= today { "due" } else { "scheduled" },
                ),
            };
            pb::DebtServiceLine {
                payment_date: date.to_string(),
                kind: kind.as_str().into(),
                amount,
                status: status.into(),
            }
        })
        .collect();
    // Early redemptions, paid and summed per date, among the scheduled flows
    // in date order (after the scheduled flows of the same date).
    for e in &s.early_redemptions {
        let date = e.date.to_string();
        let at = lines.partition_point(|l| l.payment_date <= date);
        lines.insert(
            at,
            pb::DebtServiceLine {
                payment_date: date,
                kind: "early_redemption".into(),
                amount: money(&e.amount, s.terms.currency),
                status: "paid".into(),
            },
        );
    }
    Ok(pb::GetDebtServiceResponse {
        series_id: id.to_string(),
        currency: s.terms.currency.as_str().into(),
        units_outstanding: outstanding.to_string(),
        lines,
        unclaimed_balance: money(&unclaimed::balance(state, id), s.terms.currency),
    })
}

impl Services {
    pub(super) async fn get_accrued_impl(
        &self,
        r: Request<pb::GetAccruedRequest>,
    ) -> Result<Response<pb::GetAccruedResponse>, Status> {
        let auth = self.auth.check::<pb::GetAccrued>(r.into_inner().signed)?;
        let c = &auth.command;
        let id = cb::series_id_from_pb(&c.series_id)?;
        let as_of = if c.as_of.is_empty() {
            self.today()
        } else {
            date("as_of", &c.as_of)?
        };
        let ledger = self.ledger.clone();
        let resp = tokio::task::spawn_blocking(move || {
            ledger.read(|p| accrued_response(&p.state, &id, as_of))
        })
        .await
        .map_err(|e| ReadError::TaskFailed {
            reason: e.to_string(),
        })??;
        Ok(Response::new(resp))
    }

    pub(super) async fn get_investor_statement_impl(
        &self,
        r: Request<pb::GetInvestorStatementRequest>,
    ) -> Result<Response<pb::GetInvestorStatementResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::GetInvestorStatement>(r.into_inner().signed)?;
        let c = &auth.command;
        let investor = InvestorRef::parse("investor_ref", &c.investor_ref)?;
        let bank = self.bank_scope(&auth.caller, &c.bank_id)?;
        let as_of = if c.as_of.is_empty() {
            self.today()
        } else {
            date("as_of", &c.as_of)?
        };
        let holdings = self
            .ledger
            .read(|p| statement(&p.state, &bank, &investor, as_of))?;
        Ok(Response::new(pb::GetInvestorStatementResponse {
            investor_ref: investor.to_string(),
            bank_id: bank.to_string(),
            as_of: as_of.to_string(),
            holdings,
        }))
    }

    pub(super) async fn get_debt_service_impl(
        &self,
        r: Request<pb::GetDebtServiceRequest>,
    ) -> Result<Response<pb::GetDebtServiceResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::GetDebtService>(r.into_inner().signed)?;
        let c = &auth.command;
        let id = cb::series_id_from_pb(&c.series_id)?;
        let today = self.today();
        let resp = self.ledger.read(|p| debt_service(&p.state, &id, today))?;
        Ok(Response::new(resp))
    }

    pub(super) async fn list_fixings_impl(
        &self,
        r: Request<pb::ListFixingsRequest>,
    ) -> Result<Response<pb::ListFixingsResponse>, Status> {
        let auth = self.auth.check::<pb::ListFixings>(r.into_inner().signed)?;
        let c = &auth.command;
        let fixings = self.ledger.read(|p| {
            p.state
                .fixings()
                .iter()
                .filter(|((r, _), _)| c.reference_rate.is_empty() || *r == c.reference_rate)
                .map(|((r, d), v)| pb::RateFixingPublished {
                    reference_rate: r.clone(),
                    fixing_date: d.to_string(),
                    rate: rate(v),
                })
                .collect()
        });
        Ok(Response::new(pb::ListFixingsResponse { fixings }))
    }

    pub(super) async fn publish_fixing_impl(
        &self,
        r: Request<pb::PublishFixingRequest>,
    ) -> Result<Response<pb::PublishFixingResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::PublishFixing>(r.into_inner().signed)?;
        let committed = self.write(auth).await?;
        Ok(Response::new(pb::PublishFixingResponse {
            receipt: Some(receipt(&committed)),
        }))
    }
}
