//! Participants, batches, and the ledger: entries, checkpoints, proofs and receipts.

use super::{Client, CommandKind};
use crate::proto as pb;
use tonic::transport::Channel;

impl Client {
    pub fn participants(
        &self,
    ) -> pb::participant_service_client::ParticipantServiceClient<Channel> {
        pb::participant_service_client::ParticipantServiceClient::new(self.channel.clone())
            .max_decoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
    }

    pub fn batches(&self) -> pb::batch_service_client::BatchServiceClient<Channel> {
        pb::batch_service_client::BatchServiceClient::new(self.channel.clone())
            .max_decoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
            .max_encoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
    }

    /// Sends signed write requests (any signer's) in one `SubmitBatch` call, its
    /// envelope signed with this client's key: one result per request, in order.
    pub async fn submit_batch(
        &self,
        requests: Vec<pb::SignedRequest>,
    ) -> Result<Vec<pb::BatchResult>, tonic::Status> {
        let request_count = u32::try_from(requests.len())
            .map_err(|_| tonic::Status::invalid_argument("too many requests for one batch"))?;
        let signed = self.sign(CommandKind::SubmitBatch(pb::SubmitBatch { request_count }));
        Ok(self
            .batches()
            .submit_batch(pb::SubmitBatchRequest {
                signed: Some(signed),
                requests,
            })
            .await?
            .into_inner()
            .results)
    }

    /// Moves a rehearsal server's simulated clock forward to `to` (admin), and
    /// this client's copy of it with it. Returns the server's new time.
    pub async fn advance_clock(
        &self,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<chrono::DateTime<chrono::Utc>, tonic::Status> {
        let signed = self.sign(CommandKind::AdvanceClock(pb::AdvanceClock {
            to: Some(crate::codec::timestamp_to_pb(to)),
        }));
        let reply = pb::clock_service_client::ClockServiceClient::new(self.channel.clone())
            .advance_clock(pb::AdvanceClockRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner();
        let now = crate::codec::timestamp_from_pb("now", reply.now.as_ref())
            .map_err(|e| tonic::Status::internal(format!("the server's reply: {e}")))?;
        self.follow_server_time(now);
        Ok(now)
    }

    /// Asks a rehearsal server for its time again (after another participant
    /// moved its clock) and moves this client's copy of it there. Nothing to do
    /// on a production ledger.
    pub async fn sync_clock(&self) -> anyhow::Result<()> {
        let info = super::ledger_info(&self.channel).await?;
        if let (true, Some(now)) = (info.simulated_clock, info.now) {
            self.follow_server_time(crate::codec::timestamp_from_pb("now", Some(&now))?);
        }
        Ok(())
    }

    /// Moves this client's copy of a simulated clock to the server's `now` (a
    /// copy shared with the server itself is there already).
    fn follow_server_time(&self, now: chrono::DateTime<chrono::Utc>) {
        if let Some(simulated) = self.clock.simulated() {
            let _ = simulated.advance_to(now);
        }
    }

    pub fn ledger(&self) -> pb::ledger_service_client::LedgerServiceClient<Channel> {
        pb::ledger_service_client::LedgerServiceClient::new(self.channel.clone())
            .max_decoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
    }

    pub async fn register(
        &self,
        participant_id: &str,
        role: pb::Role,
        public_key: &ed25519_dalek::VerifyingKey,
        display_name: &str,
    ) -> Result<pb::RegisterParticipantResponse, tonic::Status> {
        let signed = self.sign(CommandKind::RegisterParticipant(pb::RegisterParticipant {
            participant_id: participant_id.to_string(),
            role: role as i32,
            public_key: public_key.to_bytes().to_vec(),
            display_name: display_name.to_string(),
        }));
        Ok(self
            .participants()
            .register_participant(pb::RegisterParticipantRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn rotate(
        &self,
        participant_id: &str,
        new_key: &ed25519_dalek::VerifyingKey,
    ) -> Result<pb::RotateKeyResponse, tonic::Status> {
        let signed = self.sign(CommandKind::RotateKey(pb::RotateKey {
            participant_id: participant_id.to_string(),
            new_public_key: new_key.to_bytes().to_vec(),
        }));
        Ok(self
            .participants()
            .rotate_key(pb::RotateKeyRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    /// Asks the server to hand the ledger's signing over to `new_key`, its
    /// next ledger key (admin).
    pub async fn rotate_ledger_key(
        &self,
        new_key: &ed25519_dalek::VerifyingKey,
    ) -> Result<pb::RotateLedgerKeyResponse, tonic::Status> {
        let signed = self.sign(CommandKind::RotateLedgerKey(pb::RotateLedgerKey {
            new_public_key: new_key.to_bytes().to_vec(),
        }));
        Ok(self
            .participants()
            .rotate_ledger_key(pb::RotateLedgerKeyRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    /// Registers the recovery quorum: `threshold` of `recovery_keys` (admin).
    pub async fn set_recovery_quorum(
        &self,
        threshold: u32,
        recovery_keys: &[ed25519_dalek::VerifyingKey],
    ) -> Result<pb::SetRecoveryQuorumResponse, tonic::Status> {
        let signed = self.sign(CommandKind::SetRecoveryQuorum(pb::SetRecoveryQuorum {
            threshold,
            recovery_public_keys: recovery_keys
                .iter()
                .map(|k| k.to_bytes().to_vec())
                .collect(),
        }));
        Ok(self
            .participants()
            .set_recovery_quorum(pb::SetRecoveryQuorumRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    /// Asks the server to replace the ledger key in force by `new_key`, the key
    /// it holds, as entry `after_size`, on the recovery quorum's `approvals`
    /// (admin).
    pub async fn emergency_rotate_ledger_key(
        &self,
        new_key: &ed25519_dalek::VerifyingKey,
        after_size: u64,
        approvals: Vec<pb::RecoveryApproval>,
    ) -> Result<pb::EmergencyRotateLedgerKeyResponse, tonic::Status> {
        let signed = self.sign(CommandKind::EmergencyRotateLedgerKey(
            pb::EmergencyRotateLedgerKey {
                new_public_key: new_key.to_bytes().to_vec(),
                after_size,
                approvals,
            },
        ));
        Ok(self
            .participants()
            .emergency_rotate_ledger_key(pb::EmergencyRotateLedgerKeyRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn revoke(
        &self,
        participant_id: &str,
        reason: &str,
    ) -> Result<pb::RevokeParticipantResponse, tonic::Status> {
        let signed = self.sign(CommandKind::RevokeParticipant(pb::RevokeParticipant {
            participant_id: participant_id.to_string(),
            reason: reason.to_string(),
        }));
        Ok(self
            .participants()
            .revoke_participant(pb::RevokeParticipantRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn list_participants(&self) -> Result<Vec<pb::Participant>, tonic::Status> {
        let signed = self.sign(CommandKind::ListParticipants(pb::ListParticipants {}));
        Ok(self
            .participants()
            .list_participants(pb::ListParticipantsRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner()
            .participants)
    }

    pub async fn checkpoint(&self) -> Result<pb::GetCheckpointResponse, tonic::Status> {
        let signed = self.sign(CommandKind::GetCheckpoint(pb::GetCheckpoint {}));
        Ok(self
            .ledger()
            .get_checkpoint(pb::GetCheckpointRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn entry(&self, index: u64) -> Result<pb::GetEntryResponse, tonic::Status> {
        let signed = self.sign(CommandKind::GetEntry(pb::GetEntry { index }));
        Ok(self
            .ledger()
            .get_entry(pb::GetEntryRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn inclusion_proof(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<pb::GetInclusionProofResponse, tonic::Status> {
        let signed = self.sign(CommandKind::GetInclusionProof(pb::GetInclusionProof {
            index,
            tree_size,
        }));
        Ok(self
            .ledger()
            .get_inclusion_proof(pb::GetInclusionProofRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<pb::GetConsistencyProofResponse, tonic::Status> {
        let signed = self.sign(CommandKind::GetConsistencyProof(pb::GetConsistencyProof {
            old_size,
            new_size,
        }));
        Ok(self
            .ledger()
            .get_consistency_proof(pb::GetConsistencyProofRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    /// A receipt for one entry: the entry, its inclusion proof and the signed
    /// checkpoint it is proved against.
    pub async fn receipt(
        &self,
        target: pb::get_receipt::Target,
    ) -> Result<pb::EntryReceipt, tonic::Status> {
        let signed = self.sign(CommandKind::GetReceipt(pb::GetReceipt {
            target: Some(target),
        }));
        self.ledger()
            .get_receipt(pb::GetReceiptRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner()
            .receipt
            .ok_or_else(|| tonic::Status::internal("the server sent no receipt"))
    }

    /// Streams entries `start..end` (end 0 = current size), in order.
    pub async fn stream_entries(
        &self,
        start: u64,
        end: u64,
    ) -> Result<tonic::Streaming<pb::StreamEntriesResponse>, tonic::Status> {
        let signed = self.sign(CommandKind::StreamEntries(pb::StreamEntries { start, end }));
        Ok(self
            .ledger()
            .stream_entries(pb::StreamEntriesRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }
}
