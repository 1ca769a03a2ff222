//! ServicingService: withholding tables and residences, unclaimed payments,
//! reopenings, the tax report and the list of unclaimed payments.

use super::error::ReadError;
use super::rpc::WriteCommand;
use super::{Services, receipt};
use crate::codec::bonds::{self as cb, date};
use crate::codec::servicing as cs;
use crate::codec::wire::money;
use crate::money::Currency;
use crate::proto as pb;
use crate::registry::{ParticipantId, Role, SeriesId, State, unclaimed, withholding};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};

impl Services {
    /// A servicing write, answered with its receipt (and, for a payment named
    /// by event and investor, the unclaimed payment as it stands after it).
    async fn servicing_write<C: WriteCommand>(
        &self,
        signed: Option<pb::SignedRequest>,
        payment_of: impl FnOnce(&C) -> Option<(String, String)>,
    ) -> Result<Response<pb::ServicingWriteResponse>, Status> {
        let auth = self.auth.check::<C>(signed)?;
        let bank = auth.caller.participant_id.clone();
        let named = payment_of(&auth.command);
        let committed = self.write(auth).await?;
        let today = self.clock.now().date_naive();
        let unclaimed = named.and_then(|(event, investor)| {
            self.ledger.read(|p| {
                unclaimed::all(&p.state)
                    .find(|u| {
                        u.event_id == event
                            && u.investor_ref.as_str() == investor
                            && u.bank_id == bank
                    })
                    .map(|u| unclaimed_pb(&p.state, u, today))
            })
        });
        Ok(Response::new(pb::ServicingWriteResponse {
            receipt: Some(receipt(&committed)),
            unclaimed,
        }))
    }
}

fn unclaimed_pb(state: &State, u: &unclaimed::Unclaimed, as_of: NaiveDate) -> pb::UnclaimedPayment {
    let (currency, period) = state
        .series(&u.series_id)
        .map(|s| (Some(s.terms.currency), s.terms.unclaimed_period_days))
        .unwrap_or((None, None));
    cs::unclaimed_to_pb(u, currency, unclaimed::overdue(u, period, as_of))
}

/// The unclaimed payments of one series (or all) as of a date, and the
/// balances per series; a bank sees only its own clients'.
pub fn unclaimed_list(
    state: &State,
    series: Option<&SeriesId>,
    bank: Option<&ParticipantId>,
    as_of: NaiveDate,
) -> pb::ListUnclaimedResponse {
    let mut out = pb::ListUnclaimedResponse {
        as_of: as_of.to_string(),
        ..Default::default()
    };
    for s in state
        .all_series()
        .filter(|s| series.is_none_or(|id| *id == s.terms.series_id))
    {
        let id = &s.terms.series_id;
        let period = s.terms.unclaimed_period_days;
        let (mut balance, mut overdue, mut any) = (Decimal::ZERO, Decimal::ZERO, false);
        for u in unclaimed::of_series(state, id).filter(|u| bank.is_none_or(|b| *b == u.bank_id)) {
            any = true;
            let late = unclaimed::overdue(u, period, as_of);
            if u.claim.is_none() {
                balance = balance.saturating_add(u.amount);
            }
            if late {
                overdue = overdue.saturating_add(u.amount);
            }
            out.payments
                .push(cs::unclaimed_to_pb(u, Some(s.terms.currency), late));
        }
        if any {
            out.balances.push(pb::UnclaimedBalance {
                series_id: id.to_string(),
                currency: s.terms.currency.as_str().to_string(),
                balance: money(&balance, s.terms.currency),
                overdue: money(&overdue, s.terms.currency),
                period_days: period.unwrap_or(0),
            });
        }
    }
    out
}

/// A tax report in its wire form, its amounts at the currency's minor unit.
pub fn tax_report_pb(r: &withholding::TaxReport) -> pb::GetTaxReportResponse {
    let currency = r.currency.parse::<Currency>().ok();
    let amount = |d: &Decimal| match currency {
        Some(c) => money(d, c),
        None => d.to_string(),
    };
    let line = |l: &withholding::TaxLine| pb::TaxLine {
        key: l.key.clone(),
        payments: l.payments,
        gross: amount(&l.gross),
        withheld: amount(&l.withheld),
        net: amount(&l.net),
    };
    pb::GetTaxReportResponse {
        series_id: r.series_id.clone(),
        year: r.year,
        currency: r.currency.clone(),
        coupons: r.coupons,
        gross: amount(&r.gross),
        withheld: amount(&r.withheld),
        net: amount(&r.net),
        by_country: r.by_country.iter().map(line).collect(),
        by_bank: r.by_bank.iter().map(line).collect(),
    }
}

#[tonic::async_trait]
impl pb::servicing_service_server::ServicingService for Services {
    async fn set_withholding_table(
        &self,
        r: Request<pb::SetWithholdingTableRequest>,
    ) -> Result<Response<pb::ServicingWriteResponse>, Status> {
        self.servicing_write(r.into_inner().signed, |_: &pb::SetWithholdingTable| None)
            .await
    }

    async fn record_residence(
        &self,
        r: Request<pb::RecordResidenceRequest>,
    ) -> Result<Response<pb::ServicingWriteResponse>, Status> {
        self.servicing_write(r.into_inner().signed, |_: &pb::RecordResidence| None)
            .await
    }

    async fn report_undeliverable(
        &self,
        r: Request<pb::ReportUndeliverableRequest>,
    ) -> Result<Response<pb::ServicingWriteResponse>, Status> {
        self.servicing_write(r.into_inner().signed, |c: &pb::ReportUndeliverable| {
            Some((c.event_id.clone(), c.investor_ref.clone()))
        })
        .await
    }

    async fn record_claim(
        &self,
        r: Request<pb::RecordClaimRequest>,
    ) -> Result<Response<pb::ServicingWriteResponse>, Status> {
        self.servicing_write(r.into_inner().signed, |c: &pb::RecordClaim| {
            Some((c.event_id.clone(), c.investor_ref.clone()))
        })
        .await
    }

    async fn reopen_series(
        &self,
        r: Request<pb::ReopenSeriesRequest>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        let auth = self.auth.check::<pb::ReopenSeries>(r.into_inner().signed)?;
        let id = auth.command.series_id.clone();
        let committed = self.write(auth).await?;
        let series = SeriesId::parse("series_id", &id).ok().and_then(|id| {
            self.ledger
                .read(|p| p.state.series(&id).map(|s| cb::series_view(&p.state, s)))
        });
        Ok(Response::new(pb::SeriesResponse {
            receipt: Some(receipt(&committed)),
            series,
        }))
    }

    async fn get_tax_report(
        &self,
        r: Request<pb::GetTaxReportRequest>,
    ) -> Result<Response<pb::GetTaxReportResponse>, Status> {
        let auth = self.auth.check::<pb::GetTaxReport>(r.into_inner().signed)?;
        let c = &auth.command;
        let id = cb::series_id_from_pb(&c.series_id)?;
        if !(1900..=9999).contains(&c.year) {
            return Err(crate::registry::RegistryError::invalid(
                "year",
                format!("expected a year such as 2028, found {}", c.year),
            )
            .into());
        }
        let report = self
            .ledger
            .read(|p| withholding::tax_report(&p.state, &id, c.year))?;
        Ok(Response::new(tax_report_pb(&report)))
    }

    async fn list_unclaimed(
        &self,
        r: Request<pb::ListUnclaimedRequest>,
    ) -> Result<Response<pb::ListUnclaimedResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::ListUnclaimed>(r.into_inner().signed)?;
        let c = &auth.command;
        let series = if c.series_id.is_empty() {
            None
        } else {
            Some(cb::series_id_from_pb(&c.series_id)?)
        };
        let as_of = if c.as_of.is_empty() {
            self.clock.now().date_naive()
        } else {
            date("as_of", &c.as_of)?
        };
        let bank = (auth.caller.role == Role::Bank).then(|| auth.caller.participant_id.clone());
        let response = self.ledger.read(|p| {
            if let Some(id) = &series {
                if p.state.series(id).is_none() {
                    return Err(ReadError::SeriesNotFound {
                        series_id: id.to_string(),
                    });
                }
            }
            Ok(unclaimed_list(
                &p.state,
                series.as_ref(),
                bank.as_ref(),
                as_of,
            ))
        })?;
        Ok(Response::new(response))
    }

    async fn get_withholding_tables(
        &self,
        r: Request<pb::GetWithholdingTablesRequest>,
    ) -> Result<Response<pb::GetWithholdingTablesResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::GetWithholdingTables>(r.into_inner().signed)?;
        let c = &auth.command;
        let series = if c.series_id.is_empty() {
            None
        } else {
            Some(cb::series_id_from_pb(&c.series_id)?)
        };
        let tables = self.ledger.read(|p| {
            if let Some(id) = &series {
                if p.state.series(id).is_none() {
                    return Err(ReadError::SeriesNotFound {
                        series_id: id.to_string(),
                    });
                }
            }
            let mut out: Vec<pb::WithholdingTable> = Vec::new();
            if let Some(id) = &series {
                out.extend(
                    p.state
                        .withholding_tables(Some(id))
                        .iter()
                        .map(|t| cs::table_to_pb(Some(id), t)),
                );
            }
            out.extend(
                p.state
                    .withholding_tables(None)
                    .iter()
                    .map(|t| cs::table_to_pb(None, t)),
            );
            Ok(out)
        })?;
        Ok(Response::new(pb::GetWithholdingTablesResponse { tables }))
    }
}
