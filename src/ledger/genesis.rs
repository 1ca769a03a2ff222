//! The genesis request: the `Genesis` command the new admin key signs, which entry 0
//! carries as its actor's request. Built here, where requests are encoded and
//! signed; the store seals the entry that records it.
//!
//! Invariant: the request names exactly the origin and keys the genesis event
//! records (auditors compare the two), and its nonce is fresh randomness.

use super::keys::{self, KeyId, REQUEST_CONTEXT};
use crate::proto as pb;
use ed25519_dalek::{SigningKey, VerifyingKey};
use prost::Message;

/// Length of the genesis request's nonce.
const NONCE_BYTES: usize = 16;

/// The admin's signed genesis request.
#[derive(Clone, Debug)]
pub struct GenesisRequest {
    /// The admin key's id: the actor of entry 0.
    pub admin_key_id: KeyId,
    /// The encoded `RequestPayload`, exactly as signed.
    pub payload: Vec<u8>,
    /// The admin key's signature over `payload` (request context).
    pub signature: Vec<u8>,
}

impl GenesisRequest {
    /// Builds and signs the request that creates the ledger `origin`, whose entries
    /// and checkpoints `ledger_key` signs and whose first participant is
    /// `admin_participant_id`, holding `admin_key`; `simulated_clock` for a
    /// rehearsal ledger.
    pub fn sign(
        origin: &str,
        ledger_key: &VerifyingKey,
        admin_participant_id: &str,
        admin_key: &SigningKey,
        simulated_clock: bool,
        issued_at: prost_types::Timestamp,
    ) -> GenesisRequest {
        let admin_public = admin_key.verifying_key();
        let command = pb::Command {
            kind: Some(pb::command::Kind::Genesis(pb::Genesis {
                origin: origin.to_string(),
                ledger_public_key: ledger_key.to_bytes().to_vec(),
                admin_participant_id: admin_participant_id.to_string(),
                admin_public_key: admin_public.to_bytes().to_vec(),
                simulated_clock,
            })),
        };
        let mut nonce = [0u8; NONCE_BYTES];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let payload = pb::RequestPayload {
            ledger_origin: origin.to_string(),
            issued_at: Some(issued_at),
            nonce: nonce.to_vec(),
            command: Some(command),
        }
        .encode_to_vec();
        let signature = keys::sign(admin_key, REQUEST_CONTEXT, &payload);
        GenesisRequest {
            admin_key_id: KeyId::of(&admin_public),
            payload,
            signature: signature.to_bytes().to_vec(),
        }
    }

    /// The actor entry 0 records: who signed, what, and the signature.
    pub fn into_actor(self) -> pb::Actor {
        pb::Actor {
            key_id: self.admin_key_id.to_string(),
            request: self.payload,
            signature: self.signature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_names_what_genesis_records_and_verifies_under_the_admin_key() {
        let (ledger_key, admin) = (keys::generate(), keys::generate());
        let at = prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 5,
        };
        let request = GenesisRequest::sign(
            "genesis.test/dbond",
            &ledger_key.verifying_key(),
            "admin",
            &admin,
            false,
            at,
        );
        assert_eq!(request.admin_key_id, KeyId::of(&admin.verifying_key()));
        assert!(keys::verify(
            &admin.verifying_key(),
            REQUEST_CONTEXT,
            &request.payload,
            &request.signature
        ));
        let payload = pb::RequestPayload::decode(request.payload.as_slice()).unwrap();
        assert_eq!(payload.ledger_origin, "genesis.test/dbond");
        assert_eq!(payload.issued_at, Some(at));
        assert_eq!(payload.nonce.len(), NONCE_BYTES);
        let Some(pb::command::Kind::Genesis(g)) = payload.command.and_then(|c| c.kind) else {
            panic!("not a genesis command");
        };
        assert_eq!(g.origin, "genesis.test/dbond");
        assert_eq!(g.ledger_public_key, ledger_key.verifying_key().to_bytes());
        assert_eq!(g.admin_public_key, admin.verifying_key().to_bytes());
        assert_eq!(g.admin_participant_id, "admin");
        assert!(!g.simulated_clock);
        let again = GenesisRequest::sign(
            "genesis.test/dbond",
            &ledger_key.verifying_key(),
            "admin",
            &admin,
            true,
            at,
        );
        assert_ne!(request.payload, again.payload, "each carries a fresh nonce");
        let actor = request.clone().into_actor();
        assert_eq!(actor.key_id, request.admin_key_id.as_str());
        assert_eq!(actor.request, request.payload);
    }
}
