//! Fixings, the accrual engine, accrued interest, statements and debt service.

use super::{Client, CommandKind};
use crate::proto as pb;
use tonic::transport::Channel;

impl Client {
    pub fn engine(&self) -> pb::engine_service_client::EngineServiceClient<Channel> {
        pb::engine_service_client::EngineServiceClient::new(self.channel.clone())
            .max_decoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
    }

    pub async fn publish_fixing(
        &self,
        reference: &str,
        date: &str,
        rate: &str,
    ) -> Result<pb::PublishFixingResponse, tonic::Status> {
        let signed = self.sign(CommandKind::PublishFixing(pb::PublishFixing {
            reference_rate: reference.into(),
            fixing_date: date.into(),
            rate: rate.into(),
        }));
        Ok(self
            .treasury()
            .publish_fixing(pb::PublishFixingRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn list_due(
        &self,
        through: &str,
    ) -> Result<pb::ListDueEventsResponse, tonic::Status> {
        let signed = self.sign(CommandKind::ListDueEvents(pb::ListDueEvents {
            through: through.into(),
        }));
        Ok(self
            .engine()
            .list_due_events(pb::ListDueEventsRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn post_accrual(
        &self,
        series_id: &str,
        event_id: &str,
    ) -> Result<pb::PostAccrualEventResponse, tonic::Status> {
        let signed = self.sign(CommandKind::PostAccrualEvent(pb::PostAccrualEvent {
            series_id: series_id.into(),
            event_id: event_id.into(),
        }));
        Ok(self
            .engine()
            .post_accrual_event(pb::PostAccrualEventRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn accrued(
        &self,
        series_id: &str,
        as_of: &str,
    ) -> Result<pb::GetAccruedResponse, tonic::Status> {
        let signed = self.sign(CommandKind::GetAccrued(pb::GetAccrued {
            series_id: series_id.into(),
            as_of: as_of.into(),
        }));
        Ok(self
            .registry()
            .get_accrued(pb::GetAccruedRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn statement(
        &self,
        investor_ref: &str,
        bank_id: &str,
        as_of: &str,
    ) -> Result<pb::GetInvestorStatementResponse, tonic::Status> {
        let signed = self.sign(CommandKind::GetInvestorStatement(
            pb::GetInvestorStatement {
                investor_ref: investor_ref.into(),
                bank_id: bank_id.into(),
                as_of: as_of.into(),
            },
        ));
        Ok(self
            .registry()
            .get_investor_statement(pb::GetInvestorStatementRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn debt_service(
        &self,
        series_id: &str,
    ) -> Result<pb::GetDebtServiceResponse, tonic::Status> {
        let signed = self.sign(CommandKind::GetDebtService(pb::GetDebtService {
            series_id: series_id.into(),
        }));
        Ok(self
            .registry()
            .get_debt_service(pb::GetDebtServiceRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn fixings(
        &self,
        reference: &str,
    ) -> Result<Vec<pb::RateFixingPublished>, tonic::Status> {
        let signed = self.sign(CommandKind::ListFixings(pb::ListFixings {
            reference_rate: reference.into(),
        }));
        Ok(self
            .registry()
            .list_fixings(pb::ListFixingsRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner()
            .fixings)
    }

    /// Posts everything due through `through`, in order. Returns (posted, already
    /// posted, coupons waiting for a fixing).
    pub async fn accrue(
        &self,
        through: &str,
        mut progress: impl FnMut(&pb::DueEvent, bool),
    ) -> Result<(u64, u64, Vec<pb::WaitingCoupon>), tonic::Status> {
        let due = self.list_due(through).await?;
        let (mut posted, mut already) = (0, 0);
        for d in &due.due {
            let r = self.post_accrual(&d.series_id, &d.event_id).await?;
            if r.already_posted {
                already += 1;
            } else {
                posted += 1;
            }
            progress(d, r.already_posted);
        }
        Ok((posted, already, due.waiting))
    }
}
