//! TreasuryService, BankService and RegistryService: series lifecycle,
//! subscriptions and registry queries.

use super::error::ReadError;
use super::rpc::WriteCommand;
use super::{Services, receipt, status};
use crate::codec::bonds as cb;
use crate::limits;
use crate::proto as pb;
use crate::registry::{InvestorRef, ParticipantId, Role, SeriesId};
use tonic::{Request, Response, Status};

impl Services {
    fn series_view(&self, id: &SeriesId) -> Option<pb::Series> {
        self.ledger
            .read(|p| p.state.series(id).map(|s| cb::series_view(&p.state, s)))
    }

    /// A write to one series, answered with its receipt and the series as it
    /// stands after it. `series_of`: the series the command names.
    async fn series_rpc<C: WriteCommand>(
        &self,
        signed: Option<pb::SignedRequest>,
        series_of: impl FnOnce(&C) -> Option<&str>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        let auth = self.auth.check::<C>(signed)?;
        let id = series_of(&auth.command).map(str::to_string);
        let committed = self.write(auth).await?;
        let series = id
            .and_then(|id| SeriesId::parse("series_id", &id).ok())
            .and_then(|id| self.series_view(&id));
        Ok(Response::new(pb::SeriesResponse {
            receipt: Some(receipt(&committed)),
            series,
        }))
    }

    /// A write to one subscription, answered with its receipt and the
    /// subscription as it stands after it. `subscription_of`: the subscription the
    /// command names (`None`: the one it creates, whose id is its entry's index).
    async fn subscription_rpc<C: WriteCommand>(
        &self,
        signed: Option<pb::SignedRequest>,
        subscription_of: impl FnOnce(&C) -> Option<u64>,
    ) -> Result<Response<pb::SubscriptionResponse>, Status> {
        let auth = self.auth.check::<C>(signed)?;
        let named = subscription_of(&auth.command);
        let committed = self.write(auth).await?;
        let id = named.unwrap_or(committed.first_index);
        let subscription = self.ledger.read(|p| {
            p.state
                .subscription(id)
                .map(|s| cb::subscription_view(&p.state, s))
        });
        Ok(Response::new(pb::SubscriptionResponse {
            receipt: Some(receipt(&committed)),
            subscription,
            idempotent_replay: committed.replayed,
        }))
    }
}

fn terms_series(terms: &Option<pb::SeriesTerms>) -> Option<&str> {
    terms.as_ref().map(|t| t.series_id.as_str())
}

#[tonic::async_trait]
impl pb::treasury_service_server::TreasuryService for Services {
    async fn create_series(
        &self,
        r: Request<pb::CreateSeriesRequest>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        self.series_rpc(r.into_inner().signed, |c: &pb::CreateSeries| {
            terms_series(&c.terms)
        })
        .await
    }
    async fn amend_series(
        &self,
        r: Request<pb::AmendSeriesRequest>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        self.series_rpc(r.into_inner().signed, |c: &pb::AmendSeries| {
            terms_series(&c.terms)
        })
        .await
    }
    async fn open_series(
        &self,
        r: Request<pb::OpenSeriesRequest>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        self.series_rpc(r.into_inner().signed, |c: &pb::OpenSeries| {
            Some(c.series_id.as_str())
        })
        .await
    }
    async fn close_series(
        &self,
        r: Request<pb::CloseSeriesRequest>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        self.series_rpc(r.into_inner().signed, |c: &pb::CloseSeries| {
            Some(c.series_id.as_str())
        })
        .await
    }
    async fn cancel_series(
        &self,
        r: Request<pb::CancelSeriesRequest>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        self.series_rpc(r.into_inner().signed, |c: &pb::CancelSeries| {
            Some(c.series_id.as_str())
        })
        .await
    }
    async fn allot_series(
        &self,
        r: Request<pb::AllotSeriesRequest>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        self.series_rpc(r.into_inner().signed, |c: &pb::AllotSeries| {
            Some(c.series_id.as_str())
        })
        .await
    }
    async fn release_unsettled(
        &self,
        r: Request<pb::ReleaseUnsettledRequest>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        self.series_rpc(r.into_inner().signed, |c: &pb::ReleaseUnsettled| {
            Some(c.series_id.as_str())
        })
        .await
    }
    async fn issue_series(
        &self,
        r: Request<pb::IssueSeriesRequest>,
    ) -> Result<Response<pb::SeriesResponse>, Status> {
        self.series_rpc(r.into_inner().signed, |c: &pb::IssueSeries| {
            Some(c.series_id.as_str())
        })
        .await
    }
    async fn publish_fixing(
        &self,
        r: Request<pb::PublishFixingRequest>,
    ) -> Result<Response<pb::PublishFixingResponse>, Status> {
        self.publish_fixing_impl(r).await
    }
}

#[tonic::async_trait]
impl pb::bank_service_server::BankService for Services {
    async fn submit_subscription(
        &self,
        r: Request<pb::SubmitSubscriptionRequest>,
    ) -> Result<Response<pb::SubscriptionResponse>, Status> {
        self.subscription_rpc(r.into_inner().signed, |_: &pb::SubmitSubscription| None)
            .await
    }
    async fn withdraw_subscription(
        &self,
        r: Request<pb::WithdrawSubscriptionRequest>,
    ) -> Result<Response<pb::SubscriptionResponse>, Status> {
        self.subscription_rpc(r.into_inner().signed, |c: &pb::WithdrawSubscription| {
            Some(c.subscription_id)
        })
        .await
    }
    async fn confirm_settlement(
        &self,
        r: Request<pb::ConfirmSettlementRequest>,
    ) -> Result<Response<pb::SubscriptionResponse>, Status> {
        self.subscription_rpc(r.into_inner().signed, |c: &pb::ConfirmSettlement| {
            Some(c.subscription_id)
        })
        .await
    }
}

fn page_size(requested: u32) -> usize {
    match requested {
        0 => limits::PAGE_SIZE_DEFAULT as usize,
        n => n.min(limits::PAGE_SIZE_MAX) as usize,
    }
}

#[tonic::async_trait]
impl pb::registry_service_server::RegistryService for Services {
    async fn get_series(
        &self,
        r: Request<pb::GetSeriesRequest>,
    ) -> Result<Response<pb::GetSeriesResponse>, Status> {
        let auth = self.auth.check::<pb::GetSeries>(r.into_inner().signed)?;
        let c = &auth.command;
        let id = cb::series_id_from_pb(&c.series_id)?;
        let series = self
            .series_view(&id)
            .ok_or_else(|| ReadError::SeriesNotFound {
                series_id: id.to_string(),
            })?;
        Ok(Response::new(pb::GetSeriesResponse {
            series: Some(series),
        }))
    }

    async fn list_series(
        &self,
        r: Request<pb::ListSeriesRequest>,
    ) -> Result<Response<pb::ListSeriesResponse>, Status> {
        self.auth.check::<pb::ListSeries>(r.into_inner().signed)?;
        let series = self.ledger.read(|p| {
            p.state
                .all_series()
                .map(|s| cb::series_view(&p.state, s))
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
            .check::<pb::GetSubscription>(r.into_inner().signed)?;
        let c = &auth.command;
        let sub = self
            .ledger
            .read(|p| {
                p.state
                    .subscription(c.subscription_id)
                    .map(|s| cb::subscription_view(&p.state, s))
            })
            .ok_or(ReadError::SubscriptionNotFound {
                subscription_id: c.subscription_id,
            })?;
        if auth.caller.role == Role::Bank && sub.bank_id != auth.caller.participant_id.as_str() {
            return Err(ReadError::SubscriptionOfAnotherBank {
                subscription_id: c.subscription_id,
                bank: auth.caller.participant_id.to_string(),
            }
            .into());
        }
        Ok(Response::new(pb::GetSubscriptionResponse {
            subscription: Some(sub),
        }))
    }

    async fn list_subscriptions(
        &self,
        r: Request<pb::ListSubscriptionsRequest>,
    ) -> Result<Response<pb::ListSubscriptionsResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::ListSubscriptions>(r.into_inner().signed)?;
        let c = &auth.command;
        let series = if c.series_id.is_empty() {
            None
        } else {
            Some(cb::series_id_from_pb(&c.series_id)?)
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
                out.push(cb::subscription_view(&p.state, s));
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
            .check::<pb::GetInvestorHoldings>(r.into_inner().signed)?;
        let c = &auth.command;
        let investor = InvestorRef::parse("investor_ref", &c.investor_ref)?;
        let bank = if auth.caller.role == Role::Bank {
            if !c.bank_id.is_empty() && c.bank_id != auth.caller.participant_id.as_str() {
                return Err(ReadError::HoldingsAtAnotherBank {
                    bank: auth.caller.participant_id.to_string(),
                    other: status::quote(&c.bank_id),
                }
                .into());
            }
            auth.caller.participant_id.clone()
        } else {
            ParticipantId::parse("bank_id", &c.bank_id)?
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
        let auth = self.auth.check::<pb::ListHolders>(r.into_inner().signed)?;
        let c = &auth.command;
        let id = cb::series_id_from_pb(&c.series_id)?;
        let after = if c.page_token.is_empty() {
            None
        } else {
            let (i, b) = c
                .page_token
                .split_once('/')
                .ok_or(ReadError::BadPageToken)?;
            Some((
                InvestorRef::parse("page_token", i)?,
                ParticipantId::parse("page_token", b)?,
            ))
        };
        let n = page_size(c.page_size);
        let (holdings, next) = self.ledger.read(|p| {
            if p.state.series(&id).is_none() {
                return Err(ReadError::SeriesNotFound {
                    series_id: id.to_string(),
                });
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
