//! Treasury, bank and registry calls: series and their lifecycle, subscriptions,
//! holdings.

use super::{Client, CommandKind};
use crate::proto as pb;
use tonic::transport::Channel;

impl Client {
    pub fn treasury(&self) -> pb::treasury_service_client::TreasuryServiceClient<Channel> {
        pb::treasury_service_client::TreasuryServiceClient::new(self.channel.clone())
            .max_decoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
    }

    pub fn bank(&self) -> pb::bank_service_client::BankServiceClient<Channel> {
        pb::bank_service_client::BankServiceClient::new(self.channel.clone())
            .max_decoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
    }

    pub fn registry(&self) -> pb::registry_service_client::RegistryServiceClient<Channel> {
        pb::registry_service_client::RegistryServiceClient::new(self.channel.clone())
            .max_decoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
    }

    pub async fn create_series(
        &self,
        terms: pb::SeriesTerms,
    ) -> Result<pb::SeriesResponse, tonic::Status> {
        let signed = self.sign(CommandKind::CreateSeries(pb::CreateSeries {
            terms: Some(terms),
        }));
        Ok(self
            .treasury()
            .create_series(pb::CreateSeriesRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn amend_series(
        &self,
        terms: pb::SeriesTerms,
    ) -> Result<pb::SeriesResponse, tonic::Status> {
        let signed = self.sign(CommandKind::AmendSeries(pb::AmendSeries {
            terms: Some(terms),
        }));
        Ok(self
            .treasury()
            .amend_series(pb::AmendSeriesRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    /// Moves a series along its lifecycle: `action` is open, close, allot,
    /// release-unsettled, issue or cancel (with `reason`).
    pub async fn series_action(
        &self,
        action: SeriesAction,
        series_id: &str,
    ) -> Result<pb::SeriesResponse, tonic::Status> {
        let id = series_id.to_string();
        let mut t = self.treasury();
        let r = match action {
            SeriesAction::Open => {
                let s = self.sign(CommandKind::OpenSeries(pb::OpenSeries { series_id: id }));
                t.open_series(pb::OpenSeriesRequest { signed: Some(s) })
                    .await?
            }
            SeriesAction::Close => {
                let s = self.sign(CommandKind::CloseSeries(pb::CloseSeries { series_id: id }));
                t.close_series(pb::CloseSeriesRequest { signed: Some(s) })
                    .await?
            }
            SeriesAction::Cancel(reason) => {
                let s = self.sign(CommandKind::CancelSeries(pb::CancelSeries {
                    series_id: id,
                    reason,
                }));
                t.cancel_series(pb::CancelSeriesRequest { signed: Some(s) })
                    .await?
            }
            SeriesAction::Allot => {
                let s = self.sign(CommandKind::AllotSeries(pb::AllotSeries { series_id: id }));
                t.allot_series(pb::AllotSeriesRequest { signed: Some(s) })
                    .await?
            }
            SeriesAction::ReleaseUnsettled => {
                let s = self.sign(CommandKind::ReleaseUnsettled(pb::ReleaseUnsettled {
                    series_id: id,
                }));
                t.release_unsettled(pb::ReleaseUnsettledRequest { signed: Some(s) })
                    .await?
            }
            SeriesAction::Issue => {
                let s = self.sign(CommandKind::IssueSeries(pb::IssueSeries { series_id: id }));
                t.issue_series(pb::IssueSeriesRequest { signed: Some(s) })
                    .await?
            }
        };
        Ok(r.into_inner())
    }

    pub async fn submit(
        &self,
        c: pb::SubmitSubscription,
    ) -> Result<pb::SubscriptionResponse, tonic::Status> {
        let signed = self.sign(CommandKind::SubmitSubscription(c));
        Ok(self
            .bank()
            .submit_subscription(pb::SubmitSubscriptionRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn withdraw(
        &self,
        subscription_id: u64,
    ) -> Result<pb::SubscriptionResponse, tonic::Status> {
        let signed = self.sign(CommandKind::WithdrawSubscription(
            pb::WithdrawSubscription { subscription_id },
        ));
        Ok(self
            .bank()
            .withdraw_subscription(pb::WithdrawSubscriptionRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn settle(
        &self,
        subscription_id: u64,
    ) -> Result<pb::SubscriptionResponse, tonic::Status> {
        let signed = self.sign(CommandKind::ConfirmSettlement(pb::ConfirmSettlement {
            subscription_id,
        }));
        Ok(self
            .bank()
            .confirm_settlement(pb::ConfirmSettlementRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn get_series(&self, series_id: &str) -> Result<pb::Series, tonic::Status> {
        let signed = self.sign(CommandKind::GetSeries(pb::GetSeries {
            series_id: series_id.to_string(),
        }));
        let r = self
            .registry()
            .get_series(pb::GetSeriesRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner();
        r.series
            .ok_or_else(|| tonic::Status::internal("reply without a series"))
    }

    pub async fn list_series(&self) -> Result<Vec<pb::Series>, tonic::Status> {
        let signed = self.sign(CommandKind::ListSeries(pb::ListSeries {}));
        Ok(self
            .registry()
            .list_series(pb::ListSeriesRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner()
            .series)
    }

    pub async fn get_subscription(
        &self,
        subscription_id: u64,
    ) -> Result<pb::Subscription, tonic::Status> {
        let signed = self.sign(CommandKind::GetSubscription(pb::GetSubscription {
            subscription_id,
        }));
        let r = self
            .registry()
            .get_subscription(pb::GetSubscriptionRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner();
        r.subscription
            .ok_or_else(|| tonic::Status::internal("reply without a subscription"))
    }

    /// Every subscription the caller may see (all pages), optionally of one series.
    pub async fn all_subscriptions(
        &self,
        series_id: &str,
    ) -> Result<Vec<pb::Subscription>, tonic::Status> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let signed = self.sign(CommandKind::ListSubscriptions(pb::ListSubscriptions {
                series_id: series_id.to_string(),
                after_subscription_id: after,
                page_size: crate::limits::PAGE_SIZE_MAX,
            }));
            let r = self
                .registry()
                .list_subscriptions(pb::ListSubscriptionsRequest {
                    signed: Some(signed),
                })
                .await?
                .into_inner();
            out.extend(r.subscriptions);
            if r.next_after_subscription_id == 0 {
                return Ok(out);
            }
            after = r.next_after_subscription_id;
        }
    }

    pub async fn investor_holdings(
        &self,
        investor_ref: &str,
        bank_id: &str,
    ) -> Result<Vec<pb::Holding>, tonic::Status> {
        let signed = self.sign(CommandKind::GetInvestorHoldings(pb::GetInvestorHoldings {
            investor_ref: investor_ref.to_string(),
            bank_id: bank_id.to_string(),
        }));
        Ok(self
            .registry()
            .get_investor_holdings(pb::GetInvestorHoldingsRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner()
            .holdings)
    }

    /// Every holder of a series (all pages of `page_size`).
    pub async fn all_holders(
        &self,
        series_id: &str,
        page_size: u32,
    ) -> Result<Vec<pb::Holding>, tonic::Status> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let signed = self.sign(CommandKind::ListHolders(pb::ListHolders {
                series_id: series_id.to_string(),
                page_token: token,
                page_size,
            }));
            let r = self
                .registry()
                .list_holders(pb::ListHoldersRequest {
                    signed: Some(signed),
                })
                .await?
                .into_inner();
            out.extend(r.holdings);
            if r.next_page_token.is_empty() {
                return Ok(out);
            }
            token = r.next_page_token;
        }
    }
}

/// A treasury lifecycle action on a series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeriesAction {
    Open,
    Close,
    Cancel(String),
    Allot,
    ReleaseUnsettled,
    Issue,
}
