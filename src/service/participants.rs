//! ParticipantService: register, rotate, revoke, list.

use super::{Ctx, receipt};
use crate::codec;
use crate::proto as pb;
use crate::registry::{ParticipantId, Role};
use crate::store::WriteRequest;
use tonic::{Request, Response, Status};

#[tonic::async_trait]
impl pb::participant_service_server::ParticipantService for Ctx {
    async fn register_participant(
        &self,
        request: Request<pb::RegisterParticipantRequest>,
    ) -> Result<Response<pb::RegisterParticipantResponse>, Status> {
        let auth = self
            .auth
            .check_write(request.into_inner().signed, "RegisterParticipant")?;
        let pb::command::Kind::RegisterParticipant(c) = &auth.command else {
            return Err(Status::internal(
                "command kind changed after authentication",
            ));
        };
        let command = codec::register_from_pb(c).map_err(|e| super::status::registry(&e))?;
        let id = ParticipantId::parse("participant_id", &c.participant_id)
            .map_err(|e| super::status::registry(&e))?;
        let committed = self.write(auth, command).await?;
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
            .check_write(request.into_inner().signed, "RotateKey")?;
        let pb::command::Kind::RotateKey(c) = &auth.command else {
            return Err(Status::internal(
                "command kind changed after authentication",
            ));
        };
        let command = codec::rotate_from_pb(c).map_err(|e| super::status::registry(&e))?;
        let id = ParticipantId::parse("participant_id", &c.participant_id)
            .map_err(|e| super::status::registry(&e))?;
        let committed = self.write(auth, command).await?;
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
            .check_write(request.into_inner().signed, "RevokeParticipant")?;
        let pb::command::Kind::RevokeParticipant(c) = &auth.command else {
            return Err(Status::internal(
                "command kind changed after authentication",
            ));
        };
        let command = codec::revoke_from_pb(c).map_err(|e| super::status::registry(&e))?;
        let id = ParticipantId::parse("participant_id", &c.participant_id)
            .map_err(|e| super::status::registry(&e))?;
        let committed = self.write(auth, command).await?;
        Ok(Response::new(pb::RevokeParticipantResponse {
            receipt: Some(receipt(&committed)),
            participant: self.participant(&id),
        }))
    }

    async fn list_participants(
        &self,
        request: Request<pb::ListParticipantsRequest>,
    ) -> Result<Response<pb::ListParticipantsResponse>, Status> {
        self.auth
            .check(request.into_inner().signed, "ListParticipants", &Role::ALL)?;
        let participants = self.ledger.read(|p| {
            p.state
                .participants()
                .map(codec::participant_to_pb)
                .collect()
        });
        Ok(Response::new(pb::ListParticipantsResponse { participants }))
    }
}

impl Ctx {
    fn participant(&self, id: &ParticipantId) -> Option<pb::Participant> {
        self.ledger
            .read(|p| p.state.participant(id).map(codec::participant_to_pb))
    }

    pub(super) async fn write(
        &self,
        auth: super::auth::Authenticated,
        command: crate::registry::Command,
    ) -> Result<crate::store::Committed, Status> {
        self.ledger
            .write(write_request(auth, command))
            .await
            .map_err(|e| super::status::write(&e))
    }
}

/// The write an authenticated request asks for: its signed bytes and command.
pub(super) fn write_request(
    auth: super::auth::Authenticated,
    command: crate::registry::Command,
) -> WriteRequest {
    WriteRequest {
        key_id: auth.caller.key_id,
        payload: auth.payload,
        signature: auth.signature,
        command,
    }
}
