//! A signing gRPC client for dbond: every request is wrapped in a SignedRequest
//! (fresh nonce, current time, this ledger's origin). Used by the command line, the
//! load generator, the demo and the tests.

use crate::ledger::keys::{self, KeyId, REQUEST_CONTEXT};
use crate::proto as pb;
use ed25519_dalek::SigningKey;
use prost::Message;
use tonic::transport::{Channel, Endpoint};

pub use pb::command::Kind as CommandKind;

/// A connection acting as one participant.
#[derive(Clone)]
pub struct Client {
    channel: Channel,
    key: SigningKey,
    key_id: KeyId,
    origin: String,
}

/// Opens a channel to `url` (`http://host:port`; a bare `host:port` is accepted).
pub async fn channel(url: &str) -> anyhow::Result<Channel> {
    let url = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    let endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| anyhow::anyhow!("bad server address {url:?}: {e}"))?
        .tcp_nodelay(true)
        .connect_timeout(std::time::Duration::from_secs(10));
    endpoint.connect().await.map_err(|e| {
        anyhow::anyhow!("cannot connect to {url}: {e} (is `dbond serve` running there?)")
    })
}

/// The ledger's public identity.
pub async fn ledger_info(channel: &Channel) -> anyhow::Result<pb::GetLedgerInfoResponse> {
    let mut ledger = pb::ledger_service_client::LedgerServiceClient::new(channel.clone());
    Ok(ledger
        .get_ledger_info(pb::GetLedgerInfoRequest {})
        .await?
        .into_inner())
}

impl Client {
    /// Connects and learns the ledger's origin.
    pub async fn connect(url: &str, key: SigningKey) -> anyhow::Result<Client> {
        let channel = channel(url).await?;
        let info = ledger_info(&channel).await?;
        Ok(Client::with_channel(channel, key, info.origin))
    }

    pub fn with_channel(channel: Channel, key: SigningKey, origin: String) -> Client {
        let key_id = KeyId::of(&key.verifying_key());
        Client {
            channel,
            key,
            key_id,
            origin,
        }
    }

    /// The same connection acting with another key.
    pub fn as_key(&self, key: SigningKey) -> Client {
        Client::with_channel(self.channel.clone(), key, self.origin.clone())
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Signs `command` with a fresh nonce and the current time.
    pub fn sign(&self, command: CommandKind) -> pb::SignedRequest {
        let mut nonce = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut nonce);
        self.sign_with(command, chrono::Utc::now(), &nonce)
    }

    /// Signs with a given time and nonce (tests of staleness and replay).
    pub fn sign_with(
        &self,
        command: CommandKind,
        issued_at: chrono::DateTime<chrono::Utc>,
        nonce: &[u8],
    ) -> pb::SignedRequest {
        let payload = pb::RequestPayload {
            ledger_origin: self.origin.clone(),
            issued_at: Some(crate::codec::timestamp_to_pb(issued_at)),
            nonce: nonce.to_vec(),
            command: Some(pb::Command {
                kind: Some(command),
            }),
        }
        .encode_to_vec();
        let signature = keys::sign(&self.key, REQUEST_CONTEXT, &payload);
        pb::SignedRequest {
            payload,
            key_id: self.key_id.to_string(),
            signature: signature.to_bytes().to_vec(),
        }
    }

    pub fn participants(
        &self,
    ) -> pb::participant_service_client::ParticipantServiceClient<Channel> {
        pb::participant_service_client::ParticipantServiceClient::new(self.channel.clone())
            .max_decoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
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
