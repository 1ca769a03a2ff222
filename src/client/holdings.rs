//! Holdings after issue: registration forms, transfers and gifts, death notices
//! and early redemption (HoldingsService).

use super::{Client, CommandKind};
use crate::proto as pb;
use tonic::transport::Channel;

impl Client {
    pub fn holdings(&self) -> pb::holdings_service_client::HoldingsServiceClient<Channel> {
        pb::holdings_service_client::HoldingsServiceClient::new(self.channel.clone())
            .max_decoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
    }

    pub async fn change_registration(
        &self,
        c: pb::ChangeRegistration,
    ) -> Result<pb::HoldingResponse, tonic::Status> {
        let signed = self.sign(CommandKind::ChangeRegistration(c));
        Ok(self
            .holdings()
            .change_registration(pb::ChangeRegistrationRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn request_transfer(
        &self,
        c: pb::RequestTransfer,
    ) -> Result<pb::TransferResponse, tonic::Status> {
        let signed = self.sign(CommandKind::RequestTransfer(c));
        Ok(self
            .holdings()
            .request_transfer(pb::RequestTransferRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn confirm_transfer(
        &self,
        transfer_id: u64,
    ) -> Result<pb::TransferResponse, tonic::Status> {
        let signed = self.sign(CommandKind::ConfirmTransfer(pb::ConfirmTransfer {
            transfer_id,
        }));
        Ok(self
            .holdings()
            .confirm_transfer(pb::ConfirmTransferRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn refuse_transfer(
        &self,
        transfer_id: u64,
        reason: &str,
    ) -> Result<pb::TransferResponse, tonic::Status> {
        let signed = self.sign(CommandKind::RefuseTransfer(pb::RefuseTransfer {
            transfer_id,
            reason: reason.to_string(),
        }));
        Ok(self
            .holdings()
            .refuse_transfer(pb::RefuseTransferRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn file_death_notice(
        &self,
        c: pb::FileDeathNotice,
    ) -> Result<pb::FileDeathNoticeResponse, tonic::Status> {
        let signed = self.sign(CommandKind::FileDeathNotice(c));
        Ok(self
            .holdings()
            .file_death_notice(pb::FileDeathNoticeRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn redeem_early(
        &self,
        c: pb::RedeemEarly,
    ) -> Result<pb::RedeemEarlyResponse, tonic::Status> {
        let signed = self.sign(CommandKind::RedeemEarly(c));
        Ok(self
            .holdings()
            .redeem_early(pb::RedeemEarlyRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    /// Transfers of `series_id` (empty: every series), only pending ones if asked.
    pub async fn list_transfers(
        &self,
        series_id: &str,
        pending_only: bool,
    ) -> Result<Vec<pb::Transfer>, tonic::Status> {
        let signed = self.sign(CommandKind::ListTransfers(pb::ListTransfers {
            series_id: series_id.to_string(),
            pending_only,
        }));
        Ok(self
            .holdings()
            .list_transfers(pb::ListTransfersRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner()
            .transfers)
    }
}
