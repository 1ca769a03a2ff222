//! TreasuryService, BankService and RegistryService: series lifecycle,
//! subscriptions and registry queries.

use super::{Ctx, receipt, status};
use crate::codec::{self, bonds as cb};
use crate::limits;
use crate::proto as pb;
use crate::registry::{InvestorRef, ParticipantId, Role, SeriesId};
use crate::store::Committed;
use pb::command::Kind;
use tonic::{Request, Response, Status};

/// Who may read everything in the registry.
const OVERSEERS: [Role; 4] = [Role::Admin, Role::Treasury, Role::Auditor, Role::Engine];

impl Ctx {
    /// Authenticates, converts and writes a mutating request.
    async fn execute(
        &self,
        signed: Option<pb::SignedRequest>,
        rpc: &'static str,
    ) -> Result<(Committed, Kind), Status> {
        let auth = self.auth.check_write(signed, rpc)?;
        let command = codec::command_from_kind(&auth.command).map_err(|e| status::registry(&e))?;
        let kind = auth.command.clone();
        let committed = self.write(auth, command).await?;
        Ok((committed, kind))
    }

    fn series_view(&self, id: &SeriesId) -> Option<pb::Series> {
        self.ledger.read(|p| {
            p.state
                .series(id)
                .map(|s| cb::series_to_pb(s, p.state.book(id)))
        })
    }

    async fn series_rpc(
        &self,
        signed: Option<pb::SignedRequest>,
        rpc: &'static str,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        let (committed, kind) = self.execute(signed, rpc).await?;
        let id = match &kind {
            Kind::CreateSeries(c) => c.terms.as_ref().map(|t| t.series_id.clone()),
            Kind::AmendSeries(c) => c.terms.as_ref().map(|t| t.series_id.clone()),
            Kind::OpenSeries(c) => Some(c.series_id.clone()),
            Kind::CloseSeries(c) => Some(c.series_id.clone()),
            Kind::CancelSeries(c) => Some(c.series_id.clone()),
            Kind::AllotSeries(c) => Some(c.series_id.clone()),
            Kind::ReleaseUnsettled(c) => Some(c.series_id.clone()),
            Kind::IssueSeries(c) => Some(c.series_id.clone()),
            _ => None,
        };
        let series = id
            .and_then(|id| SeriesId::parse("series_id", &id).ok())
            .and_then(|id| self.series_view(&id));
        Ok(Response::new(pb::SeriesResponse {
            receipt: Some(receipt(&committed)),
            series,
        }))
    }

    async fn subscription_rpc(
        &self,
        signed: Option<pb::SignedRequest>,
        rpc: &'static str,
    ) -> Result<Response<pb::SubscriptionResponse>, Status> {
        let (committed, kind) = self.execute(signed, rpc).await?;
        let id = match &kind {
            Kind::SubmitSubscription(_) => committed.first_index,
            Kind::WithdrawSubscription(c) => c.subscription_id,
            Kind::ConfirmSettlement(c) => c.subscription_id,
            _ => 0,
        };
        let subscription = self
            .ledger
            .read(|p| p.state.subscription(id).map(cb::subscription_to_pb));
        Ok(Response::new(pb::SubscriptionResponse {
            receipt: Some(receipt(&committed)),
            subscription,
            idempotent_replay: committed.replayed,
        }))
    }
}

#[tonic::async_trait]
impl pb::treasury_service_server::TreasuryService for Ctx {
    async fn create_series(
        &self,
        r: Request<pb::CreateSeriesRequest>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        self.series_rpc(r.into_inner().signed, "CreateSeries").await
    }
    async fn amend_series(
        &self,
        r: Request<pb::AmendSeriesRequest>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        self.series_rpc(r.into_inner().signed, "AmendSeries").await
    }
    async fn open_series(
        &self,
        r: Request<pb::OpenSeriesRequest>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        self.series_rpc(r.into_inner().signed, "OpenSeries").await
    }
    async fn close_series(
        &self,
        r: Request<pb::CloseSeriesRequest>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        self.series_rpc(r.into_inner().signed, "CloseSeries").await
    }
    async fn cancel_series(
        &self,
        r: Request<pb::CancelSeriesRequest>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        self.series_rpc(r.into_inner().signed, "CancelSeries").await
    }
    async fn allot_series(
        &self,
        r: Request<pb::AllotSeriesRequest>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        self.series_rpc(r.into_inner().signed, "AllotSeries").await
    }
    async fn release_unsettled(
        &self,
        r: Request<pb::ReleaseUnsettledRequest>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        self.series_rpc(r.into_inner().signed, "ReleaseUnsettled")
            .await
    }
    async fn issue_series(
        &self,
        r: Request<pb::IssueSeriesRequest>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        self.series_rpc(r.into_inner().signed, "IssueSeries").await
    }
    async fn publish_fixing(
        &self,
        r: Request<pb::PublishFixingRequest>,
    ) -> Result<Response<pb::PublishFixingResponse>, Status> {
        self.publish_fixing_impl(r).await
    }
}

#[tonic::async_trait]
impl pb::bank_service_server::BankService for Ctx {
    async fn submit_subscription(
        &self,
        r: Request<pb::SubmitSubscriptionRequest>,
    ) -> Result<Response<pb::SubscriptionResponse>, Status> {
        self.subscription_rpc(r.into_inner().signed, "SubmitSubscription")
            .await
    }
    async fn withdraw_subscription(
        &self,
        r: Request<pb::WithdrawSubscriptionRequest>,
    ) -> Result<Response<pb::SubscriptionResponse>, Status> {
        self.subscription_rpc(r.into_inner().signed, "WithdrawSubscription")
            .await
    }
    async fn confirm_settlement(
        &self,
        r: Request<pb::ConfirmSettlementRequest>,
    ) -> Result<Response<pb::SubscriptionResponse>, Status> {
        self.subscription_rpc(r.into_inner().signed, "ConfirmSettlement")
            .await
    }
}

fn page_size(requested: u32) -> usize {
    match requested {
        0 => limits::PAGE_SIZE_DEFAULT as usize,
        n => n.min(limits::PAGE_SIZE_MAX) as usize,
    }
}

fn bad(e: crate::registry::RegistryError) -> Status {
    status::registry(&e)
}

#[tonic::async_trait]
impl pb::registry_service_server::RegistryService for Ctx {
    async fn get_series(
        &self,
        r: Request<pb::GetSeriesRequest>,
    ) -> Result<Response<pb::GetSeriesResponse>, Status> {
        let auth = self
            .auth
            .check(r.into_inner().signed, "GetSeries", &Role::ALL)?;
        let Kind::GetSeries(c) = &auth.command else {
            return Err(Status::internal("command kind changed"));
        };
        let id = cb::series_id_from_pb(&c.series_id).map_err(bad)?;
        let series = self
            .series_view(&id)
            .ok_or_else(|| Status::not_found(format!("series {id} does not exist")))?;
        Ok(Response::new(pb::GetSeriesResponse {
            series: Some(series),
        }))
    }

    async fn list_series(
        &self,
        r: Request<pb::ListSeriesRequest>,
    ) -> Result<Response<pb::ListSeriesResponse>, Status> {
        self.auth
            .check(r.into_inner().signed, "ListSeries", &Role::ALL)?;
        let series = self.ledger.read(|p| {
            p.state
                .all_series()
                .map(|s| cb::series_to_pb(s, p.state.book(&s.terms.series_id)))
                .collect()
        });
        Ok(Response::new(pb::ListSeriesResponse { series }))
    }

    async fn get_subscription(
        &self,
        r: Request<pb::GetSubscriptionRequest>,
    ) -> Result<Response<pb::GetSubscriptionResponse>, Status> {
        let auth = self
            .auth
            .check(r.into_inner().signed, "GetSubscription", &Role::ALL)?;
        let Kind::GetSubscription(c) = &auth.command else {
            return Err(Status::internal("command kind changed"));
        };
        let sub = self
            .ledger
            .read(|p| p.state.subscription(c.subscription_id).cloned())
            .ok_or_else(|| {
                Status::not_found(format!("subscription {} does not exist", c.subscription_id))
            })?;
        if auth.caller.role == Role::Bank && sub.bank_id != auth.caller.participant_id {
            return Err(Status::permission_denied(format!(
                "subscription {} belongs to another bank; {} reads only its own",
                c.subscription_id, auth.caller.participant_id
            )));
        }
        Ok(Response::new(pb::GetSubscriptionResponse {
            subscription: Some(cb::subscription_to_pb(&sub)),
        }))
    }

    async fn list_subscriptions(
        &self,
        r: Request<pb::ListSubscriptionsRequest>,
    ) -> Result<Response<pb::ListSubscriptionsResponse>, Status> {
        let auth = self
            .auth
            .check(r.into_inner().signed, "ListSubscriptions", &Role::ALL)?;
        let Kind::ListSubscriptions(c) = &auth.command else {
            return Err(Status::internal("command kind changed"));
        };
        let series = if c.series_id.is_empty() {
            None
        } else {
            Some(cb::series_id_from_pb(&c.series_id).map_err(bad)?)
        };
        let bank = (auth.caller.role == Role::Bank).then(|| auth.caller.participant_id.clone());
        let n = page_size(c.page_size);
        let (subscriptions, next) = self.ledger.read(|p| {
            let mut out = Vec::with_capacity(n);
            let mut more = false;
            for s in p.state.subscriptions_after(c.after_subscription_id) {
                if bank.as_ref().is_some_and(|b| &s.bank_id != b)
                    || series.as_ref().is_some_and(|id| &s.series_id != id)
                {
                    continue;
                }
                if out.len() == n {
                    more = true;
                    break;
                }
                out.push(cb::subscription_to_pb(s));
            }
            let next = if more {
                out.last()
                    .map_or(0, |s: &pb::Subscription| s.subscription_id)
            } else {
                0
            };
            (out, next)
        });
        Ok(Response::new(pb::ListSubscriptionsResponse {
            subscriptions,
            next_after_subscription_id: next,
        }))
    }

    async fn get_investor_holdings(
        &self,
        r: Request<pb::GetInvestorHoldingsRequest>,
    ) -> Result<Response<pb::GetInvestorHoldingsResponse>, Status> {
        let auth = self
            .auth
            .check(r.into_inner().signed, "GetInvestorHoldings", &Role::ALL)?;
        let Kind::GetInvestorHoldings(c) = &auth.command else {
            return Err(Status::internal("command kind changed"));
        };
        let investor = InvestorRef::parse("investor_ref", &c.investor_ref).map_err(bad)?;
        let bank = if auth.caller.role == Role::Bank {
            if !c.bank_id.is_empty() && c.bank_id != auth.caller.participant_id.as_str() {
                return Err(Status::permission_denied(format!(
                    "{} reads only its own clients' holdings, not those at {}",
                    auth.caller.participant_id,
                    status::quote(&c.bank_id)
                )));
            }
            auth.caller.participant_id.clone()
        } else {
            ParticipantId::parse("bank_id", &c.bank_id).map_err(bad)?
        };
        let holdings = self.ledger.read(|p| {
            p.state
                .investor_holdings(&bank, &investor)
                .map(cb::holding_to_pb)
                .collect()
        });
        Ok(Response::new(pb::GetInvestorHoldingsResponse { holdings }))
    }

    async fn list_holders(
        &self,
        r: Request<pb::ListHoldersRequest>,
    ) -> Result<Response<pb::ListHoldersResponse>, Status> {
        let auth = self
            .auth
            .check(r.into_inner().signed, "ListHolders", &OVERSEERS)?;
        let Kind::ListHolders(c) = &auth.command else {
            return Err(Status::internal("command kind changed"));
        };
        let id = cb::series_id_from_pb(&c.series_id).map_err(bad)?;
        let after = if c.page_token.is_empty() {
            None
        } else {
            let (i, b) = c.page_token.split_once('/').ok_or_else(|| {
                Status::invalid_argument("page_token is not one this server issued")
            })?;
            Some((
                InvestorRef::parse("page_token", i).map_err(bad)?,
                ParticipantId::parse("page_token", b).map_err(bad)?,
            ))
        };
        let n = page_size(c.page_size);
        let (holdings, next) = self.ledger.read(|p| {
            if p.state.series(&id).is_none() {
                return Err(Status::not_found(format!("series {id} does not exist")));
            }
            let mut page: Vec<pb::Holding> = p
                .state
                .series_holdings(&id, after)
                .take(n + 1)
                .map(cb::holding_to_pb)
                .collect();
            let next = if page.len() > n {
                page.truncate(n);
                page.last()
                    .map(|h| format!("{}/{}", h.investor_ref, h.bank_id))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            Ok((page, next))
        })?;
        Ok(Response::new(pb::ListHoldersResponse {
            holdings,
            next_page_token: next,
        }))
    }

    async fn get_accrued(
        &self,
        r: Request<pb::GetAccruedRequest>,
    ) -> Result<Response<pb::GetAccruedResponse>, Status> {
        self.get_accrued_impl(r).await
    }

    async fn get_investor_statement(
        &self,
        r: Request<pb::GetInvestorStatementRequest>,
    ) -> Result<Response<pb::GetInvestorStatementResponse>, Status> {
        self.get_investor_statement_impl(r).await
    }

    async fn get_debt_service(
        &self,
        r: Request<pb::GetDebtServiceRequest>,
    ) -> Result<Response<pb::GetDebtServiceResponse>, Status> {
        self.get_debt_service_impl(r).await
    }

    async fn list_fixings(
        &self,
        r: Request<pb::ListFixingsRequest>,
    ) -> Result<Response<pb::ListFixingsResponse>, Status> {
        self.list_fixings_impl(r).await
    }
}
