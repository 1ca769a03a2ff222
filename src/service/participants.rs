//! ParticipantService: register, rotate, revoke, list; and the write path every
//! write RPC shares.

use super::auth::Authenticated;
use super::rpc::WriteCommand;
use super::{Services, receipt};
use crate::codec;
use crate::proto as pb;
use crate::registry::{ParticipantId, RegistryError};
use crate::store::{Committed, WriteRequest};
use pb::command::Kind;
use tonic::{Request, Response, Status};

#[tonic::async_trait]
impl pb::participant_service_server::ParticipantService for Services {
    async fn register_participant(
        &self,
        request: Request<pb::RegisterParticipantRequest>,
    ) -> Result<Response<pb::RegisterParticipantResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::RegisterParticipant>(request.into_inner().signed)?;
        let id = ParticipantId::parse("participant_id", &auth.command.participant_id)?;
        let committed = self.write(auth).await?;
        Ok(Response::new(pb::RegisterParticipantResponse {
            receipt: Some(receipt(&committed)),
            participant: self.participant(&id),
        }))
    }

    async fn rotate_key(
        &self,
        request: Request<pb::RotateKeyRequest>,
    ) -> Result<Response<pb::RotateKeyResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::RotateKey>(request.into_inner().signed)?;
        let id = ParticipantId::parse("participant_id", &auth.command.participant_id)?;
        let committed = self.write(auth).await?;
        Ok(Response::new(pb::RotateKeyResponse {
            receipt: Some(receipt(&committed)),
            participant: self.participant(&id),
        }))
    }

    async fn revoke_participant(
        &self,
        request: Request<pb::RevokeParticipantRequest>,
    ) -> Result<Response<pb::RevokeParticipantResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::RevokeParticipant>(request.into_inner().signed)?;
        let id = ParticipantId::parse("participant_id", &auth.command.participant_id)?;
        let committed = self.write(auth).await?;
        Ok(Response::new(pb::RevokeParticipantResponse {
            receipt: Some(receipt(&committed)),
            participant: self.participant(&id),
        }))
    }

    async fn rotate_ledger_key(
        &self,
        request: Request<pb::RotateLedgerKeyRequest>,
    ) -> Result<Response<pb::RotateLedgerKeyResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::RotateLedgerKey>(request.into_inner().signed)?;
        let committed = self.write(auth).await?;
        let handover = committed
            .events
            .iter()
            .find_map(|e| match codec::event_to_pb(e).kind {
                Some(pb::event::Kind::LedgerKeyRotated(h)) => Some(h),
                _ => None,
            });
        Ok(Response::new(pb::RotateLedgerKeyResponse {
            receipt: Some(receipt(&committed)),
            handover,
        }))
    }

    async fn set_recovery_quorum(
        &self,
        request: Request<pb::SetRecoveryQuorumRequest>,
    ) -> Result<Response<pb::SetRecoveryQuorumResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::SetRecoveryQuorum>(request.into_inner().signed)?;
        let committed = self.write(auth).await?;
        Ok(Response::new(pb::SetRecoveryQuorumResponse {
            receipt: Some(receipt(&committed)),
        }))
    }

    async fn emergency_rotate_ledger_key(
        &self,
        request: Request<pb::EmergencyRotateLedgerKeyRequest>,
    ) -> Result<Response<pb::EmergencyRotateLedgerKeyResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::EmergencyRotateLedgerKey>(request.into_inner().signed)?;
        let committed = self.write(auth).await?;
        let replacement = committed
            .events
            .iter()
            .find_map(|e| match codec::event_to_pb(e).kind {
                Some(pb::event::Kind::LedgerKeyReplaced(r)) => Some(r),
                _ => None,
            });
        Ok(Response::new(pb::EmergencyRotateLedgerKeyResponse {
            receipt: Some(receipt(&committed)),
            replacement,
        }))
    }

    async fn list_participants(
        &self,
        request: Request<pb::ListParticipantsRequest>,
    ) -> Result<Response<pb::ListParticipantsResponse>, Status> {
        self.auth
            .check::<pb::ListParticipants>(request.into_inner().signed)?;
        let participants = self.ledger.read(|p| {
            p.state
                .participants()
                .map(codec::participant_to_pb)
                .collect()
        });
        Ok(Response::new(pb::ListParticipantsResponse { participants }))
    }
}

impl Services {
    fn participant(&self, id: &ParticipantId) -> Option<pb::Participant> {
        self.ledger
            .read(|p| p.state.participant(id).map(codec::participant_to_pb))
    }

    /// Writes an authenticated write request and waits until it is durable.
    pub(super) async fn write<C: WriteCommand>(
        &self,
        mut auth: Authenticated<C>,
    ) -> Result<Committed, Status> {
        let arrival = auth.arrival.take();
        let request = write_request(auth.map(C::into_kind))?;
        Ok(match arrival {
            Some(arrival) => self.ledger.write_arrived(request, arrival).await?,
            None => self.ledger.write(request).await?,
        })
    }
}

/// The write an authenticated request asks for: its signed bytes and the
/// registry's command for what it carries.
pub(super) fn write_request(auth: Authenticated<Kind>) -> Result<WriteRequest, RegistryError> {
    let command = codec::command_from_kind(&auth.command)?;
    Ok(WriteRequest {
        key_id: auth.caller.key_id,
        payload: auth.payload,
        signature: auth.signature,
        command,
    })
}
