//! Authentication of signed requests: the key is registered, current and its
//! participant active; the signature verifies over the exact payload bytes; the
//! payload is for this ledger, fresh, not seen before, and carries the command of
//! the RPC it was sent to.

use super::status;
use crate::clock::Clock;
use crate::ledger::keys::{self, KeyId, REQUEST_CONTEXT};
use crate::limits;
use crate::proto as pb;
use crate::registry::{Caller, ParticipantStatus, Role};
use crate::store::Ledger;
use chrono::{DateTime, Utc};
use prost::Message;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tonic::Status;

/// A request whose signature, freshness and nonce checked out.
#[derive(Debug)]
pub struct Authenticated {
    pub caller: Caller,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
    pub command: pb::command::Kind,
}

/// Remembers (key, nonce) pairs for as long as a request carrying them could be
/// accepted, so a captured request is accepted once.
///
/// A pair is kept as its SHA-256 digest: 32 bytes and no allocation, where the
/// pair itself took two allocations in the map and two more in the expiry queue
/// (about 130 bytes a request with the tables' slack, against about 240). The
/// cache holds every request of the last six minutes (the freshness window),
/// which at 15,000 requests a second is 5.4 million pairs: about 0.7 GB kept as
/// digests, 1.3 GB as pairs. Two pairs share a digest only if SHA-256
/// collides, and the key id is hashed in, so one participant's nonces never touch
/// another's.
#[derive(Default)]
pub struct NonceCache {
    inner: Mutex<NonceInner>,
}

type PairDigest = [u8; 32];

#[derive(Default)]
struct NonceInner {
    /// Digest -> the time after which it may be forgotten.
    seen: HashMap<PairDigest, i64, foldhash::fast::RandomState>,
    /// In insertion order, which is nearly the order of forgetting (requests carry
    /// their own issue times): an entry whose time has come is checked against
    /// `seen` before it is dropped.
    expiry: VecDeque<(i64, PairDigest)>,
}

fn pair_digest(key: &KeyId, nonce: &[u8]) -> PairDigest {
    use sha2::Digest;
    // Key ids are fixed-length hex, so the concatenation is unambiguous; the
    // separator keeps it so if that ever changes.
    sha2::Sha256::new()
        .chain_update(key.as_str().as_bytes())
        .chain_update([0u8])
        .chain_update(nonce)
        .finalize()
        .into()
}

impl NonceCache {
    /// Records the pair; `false` if it was already there (a replay).
    pub fn insert(&self, key: &KeyId, nonce: &[u8], forget_after: i64, now: i64) -> bool {
        let digest = pair_digest(key, nonce);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(&(t, old)) = inner.expiry.front() {
            if t >= now {
                break;
            }
            inner.expiry.pop_front();
            if inner.seen.get(&old).is_some_and(|t| *t < now) {
                inner.seen.remove(&old);
            }
        }
        if inner.seen.contains_key(&digest) {
            return false;
        }
        inner.seen.insert(digest, forget_after);
        inner.expiry.push_back((forget_after, digest));
        true
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seen
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Checks signed requests against the published ledger state.
#[derive(Clone)]
pub struct Authenticator {
    ledger: Ledger,
    clock: Arc<dyn Clock>,
    nonces: Arc<NonceCache>,
    /// Decompressed public keys by key id: decompression costs more than a hash
    /// lookup, and a key's bytes never change under its id.
    parsed: Arc<std::sync::RwLock<HashMap<KeyId, ed25519_dalek::VerifyingKey>>>,
}

/// What a request must carry: the command of one RPC (and one of its roles), or,
/// in a batch, any write (with that write's roles).
enum Expect<'a> {
    Rpc(&'static str, &'a [Role]),
    AnyWrite,
}

/// Every write RPC (the name its command carries) and the roles that may call it:
/// the one table the unary write RPCs and batches are checked against. The
/// registry checks authority again when it decides (a treasury may not act for a
/// bank's client, a participant may rotate only its own key).
pub const WRITES: &[(&str, &[Role])] = &[
    ("RegisterParticipant", &[Role::Admin]),
    ("RotateKey", &Role::ALL),
    ("RevokeParticipant", &[Role::Admin]),
    ("CreateSeries", &[Role::Treasury]),
    ("AmendSeries", &[Role::Treasury]),
    ("OpenSeries", &[Role::Treasury]),
    ("CloseSeries", &[Role::Treasury]),
    ("CancelSeries", &[Role::Treasury]),
    ("AllotSeries", &[Role::Treasury]),
    ("ReleaseUnsettled", &[Role::Treasury]),
    ("IssueSeries", &[Role::Treasury]),
    ("SubmitSubscription", &[Role::Bank]),
    ("WithdrawSubscription", &[Role::Bank]),
    ("ConfirmSettlement", &[Role::Bank]),
    ("PublishFixing", &[Role::Treasury]),
    ("PostAccrualEvent", &[Role::Engine]),
];

/// The roles that may call the write RPC `rpc`; `None` if it is not a write.
pub fn write_roles(rpc: &str) -> Option<&'static [Role]> {
    WRITES
        .iter()
        .find(|(name, _)| *name == rpc)
        .map(|(_, roles)| *roles)
}

fn forget_after(issued_at: DateTime<Utc>) -> i64 {
    issued_at.timestamp() + limits::REQUEST_AGE_SECS_MAX + 1
}

impl Authenticator {
    /// Builds the authenticator, remembering the nonces of requests recorded on the
    /// ledger recently enough to be replayed now (so a restart does not reopen the
    /// replay window for writes).
    pub fn new(ledger: Ledger, clock: Arc<dyn Clock>) -> Self {
        let nonces = Arc::new(NonceCache::default());
        let now = clock.now();
        let horizon = now
            - chrono::Duration::seconds(
                limits::REQUEST_AGE_SECS_MAX + limits::REQUEST_FUTURE_SKEW_SECS_MAX,
            );
        let mut index = ledger.size();
        while index > 0 {
            index -= 1;
            let Ok(Some(bytes)) = ledger.entry(index) else {
                break;
            };
            let Ok(opened) = crate::ledger::entry::open(&bytes) else {
                break;
            };
            let recorded = opened
                .body
                .recorded_at
                .as_ref()
                .and_then(|t| DateTime::from_timestamp(t.seconds, 0));
            if recorded.is_none_or(|t| t < horizon) {
                break;
            }
            if let Some(actor) = &opened.body.actor {
                if let (Some(key), Ok(payload)) = (
                    KeyId::parse(&actor.key_id),
                    pb::RequestPayload::decode(actor.request.as_slice()),
                ) {
                    if let Some(issued) = payload
                        .issued_at
                        .and_then(|t| DateTime::from_timestamp(t.seconds, 0))
                    {
                        nonces.insert(&key, &payload.nonce, forget_after(issued), now.timestamp());
                    }
                }
            }
        }
        Authenticator {
            ledger,
            clock,
            nonces,
            parsed: Default::default(),
        }
    }

    /// Authenticates `signed` for the RPC `rpc` (the command name it must carry),
    /// allowing only `roles`.
    pub fn check(
        &self,
        signed: Option<pb::SignedRequest>,
        rpc: &'static str,
        roles: &[Role],
    ) -> Result<Authenticated, Status> {
        self.check_as(signed, Expect::Rpc(rpc, roles), None)
    }

    /// Authenticates `signed` for the write RPC `rpc`, allowing the roles
    /// [`WRITES`] gives it (the table batches are checked against too).
    pub fn check_write(
        &self,
        signed: Option<pb::SignedRequest>,
        rpc: &'static str,
    ) -> Result<Authenticated, Status> {
        let roles = write_roles(rpc).ok_or_else(|| {
            Status::internal(format!("{rpc} is missing from the table of writes"))
        })?;
        self.check_as(signed, Expect::Rpc(rpc, roles), None)
    }

    /// Authenticates one request of a batch: any write, checked exactly as its own
    /// RPC would check it.
    /// `verified`: the signature check's result if [`Self::verify_ahead`] made it.
    pub fn check_batched(
        &self,
        signed: pb::SignedRequest,
        verified: Option<bool>,
    ) -> Result<Authenticated, Status> {
        self.check_as(Some(signed), Expect::AnyWrite, verified)
    }

    /// The decompressed key of `key_id` (whose bytes are `public_key`), from the
    /// cache when it is there.
    fn verifying_key(
        &self,
        key_id: &KeyId,
        public_key: &crate::registry::PublicKey,
    ) -> Result<ed25519_dalek::VerifyingKey, Status> {
        if let Some(vk) = self.cached_key(key_id) {
            return Ok(vk);
        }
        let vk =
            keys::parse_public_key(&public_key.0).map_err(|e| Status::internal(e.to_string()))?;
        self.parsed
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key_id.clone(), vk);
        Ok(vk)
    }

    fn cached_key(&self, key_id: &KeyId) -> Option<ed25519_dalek::VerifyingKey> {
        self.parsed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key_id)
            .copied()
    }

    /// Checks the signatures of `requests` one after the other, ahead of the rest
    /// of their checks: back to back, the curve tables stay in the core's caches
    /// (a check after other work costs about a third more). `None` for a request
    /// whose key this ledger cannot give (its own check says why).
    pub fn verify_ahead(&self, requests: &[pb::SignedRequest]) -> Vec<Option<bool>> {
        let keys: Vec<Option<ed25519_dalek::VerifyingKey>> = requests
            .iter()
            .map(|signed| {
                if signed.payload.len() > limits::REQUEST_PAYLOAD_BYTES_MAX {
                    return None;
                }
                let key_id = KeyId::parse(&signed.key_id)?;
                // A key once parsed keeps its bytes under its id: no state read.
                if let Some(vk) = self.cached_key(&key_id) {
                    return Some(vk);
                }
                let public_key = self
                    .ledger
                    .read(|p| p.state.key(&key_id).map(|k| k.public_key))?;
                self.verifying_key(&key_id, &public_key).ok()
            })
            .collect();
        requests
            .iter()
            .zip(keys)
            .map(|(signed, vk)| {
                vk.map(|vk| keys::verify(&vk, REQUEST_CONTEXT, &signed.payload, &signed.signature))
            })
            .collect()
    }

    fn check_as(
        &self,
        signed: Option<pb::SignedRequest>,
        expect: Expect<'_>,
        verified: Option<bool>,
    ) -> Result<Authenticated, Status> {
        let signed = signed.ok_or_else(|| {
            Status::unauthenticated("request is not signed: the `signed` field is missing")
        })?;
        if signed.payload.len() > limits::REQUEST_PAYLOAD_BYTES_MAX {
            return Err(Status::invalid_argument(format!(
                "signed payload is {} bytes; the limit is {}",
                signed.payload.len(),
                limits::REQUEST_PAYLOAD_BYTES_MAX
            )));
        }
        let key_id = KeyId::parse(&signed.key_id).ok_or_else(|| {
            Status::unauthenticated(format!(
                "key id {} is not a key id (16 lowercase hex digits)",
                status::quote(&signed.key_id)
            ))
        })?;
        let (caller, public_key) = self.ledger.read(|p| {
            let key = p.state.key(&key_id).ok_or_else(|| {
                Status::unauthenticated(format!("key {key_id} is not registered on this ledger"))
            })?;
            if key.retired_at_index.is_some() {
                return Err(Status::unauthenticated(format!(
                    "key {key_id} has been rotated out or revoked"
                )));
            }
            let participant = p.state.participant(&key.participant_id).ok_or_else(|| {
                Status::unauthenticated(format!("key {key_id} belongs to no participant"))
            })?;
            if participant.status != ParticipantStatus::Active {
                return Err(Status::unauthenticated(format!(
                    "participant {} is revoked",
                    participant.participant_id
                )));
            }
            Ok((
                Caller {
                    participant_id: participant.participant_id.clone(),
                    role: participant.role,
                    key_id: key_id.clone(),
                },
                key.public_key,
            ))
        })?;
        let verified = match verified {
            Some(verified) => verified,
            None => {
                let vk = self.verifying_key(&key_id, &public_key)?;
                keys::verify(&vk, REQUEST_CONTEXT, &signed.payload, &signed.signature)
            }
        };
        if !verified {
            return Err(Status::unauthenticated(format!(
                "signature does not verify with key {key_id}"
            )));
        }
        let payload = pb::RequestPayload::decode(signed.payload.as_slice()).map_err(|e| {
            Status::invalid_argument(format!("payload is not a RequestPayload: {e}"))
        })?;
        let origin = &self.ledger.identity().origin;
        if &payload.ledger_origin != origin {
            return Err(Status::unauthenticated(format!(
                "request was signed for ledger {:?}, this is {:?}",
                payload.ledger_origin, origin
            )));
        }
        let issued_at = crate::codec::timestamp_from_pb("issued_at", payload.issued_at.as_ref())
            .map_err(|e| status::registry(&e))?;
        let now = self.clock.now();
        let age = (now - issued_at).num_seconds();
        if age > limits::REQUEST_AGE_SECS_MAX {
            return Err(Status::unauthenticated(format!(
                "request is stale: issued {age} s ago, the limit is {} s",
                limits::REQUEST_AGE_SECS_MAX
            )));
        }
        if -age > limits::REQUEST_FUTURE_SKEW_SECS_MAX {
            return Err(Status::unauthenticated(format!(
                "request is issued {} s in the future; check the client's clock",
                -age
            )));
        }
        if !(limits::NONCE_BYTES_MIN..=limits::NONCE_BYTES_MAX).contains(&payload.nonce.len()) {
            return Err(Status::invalid_argument(format!(
                "nonce must be {} to {} bytes, found {}",
                limits::NONCE_BYTES_MIN,
                limits::NONCE_BYTES_MAX,
                payload.nonce.len()
            )));
        }
        // The ledger keeps the signed bytes for good: bytes the server does not
        // read (unknown fields, repeats, padding) would be stored unread.
        let read = payload.encoded_len();
        let command = payload.command.and_then(|c| c.kind).ok_or_else(|| {
            Status::invalid_argument(
                "payload carries no command (or one this server does not know)",
            )
        })?;
        if read != signed.payload.len() {
            return Err(Status::invalid_argument(format!(
                "payload is {} bytes but its fields take {read}: sign exactly the RequestPayload, without unknown fields or repeats",
                signed.payload.len()
            )));
        }
        let name = crate::codec::command_name(&command);
        let (rpc, roles) = match expect {
            Expect::Rpc(rpc, roles) => {
                if name != rpc {
                    return Err(Status::invalid_argument(format!(
                        "payload carries a {name} command but was sent to {rpc}"
                    )));
                }
                (rpc, roles)
            }
            Expect::AnyWrite => match write_roles(name) {
                Some(roles) => (name, roles),
                None => {
                    return Err(Status::invalid_argument(format!(
                        "payload carries a {name} command, which is not a write: a batch carries write requests only"
                    )));
                }
            },
        };
        if !roles.contains(&caller.role) {
            let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            return Err(Status::permission_denied(format!(
                "{rpc} is for {}; {} is {}",
                allowed.join(", "),
                caller.participant_id,
                caller.role
            )));
        }
        // Last, so a request refused above does not burn its nonce.
        if !self.nonces.insert(
            &key_id,
            &payload.nonce,
            forget_after(issued_at),
            now.timestamp(),
        ) {
            return Err(Status::unauthenticated(
                "replayed request: this nonce was already used with this key",
            ));
        }
        // The request id is the nonce's first bytes: unique per request, and found
        // again in the ledger entry's payload for writes.
        tracing::info!(
            rpc,
            participant = %caller.participant_id,
            role = %caller.role,
            key_id = %key_id,
            request_id = %hex::encode(&payload.nonce[..8.min(payload.nonce.len())]),
            "authenticated"
        );
        Ok(Authenticated {
            caller,
            payload: signed.payload,
            signature: signed.signature,
            command,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::command::Kind;

    #[test]
    fn the_nonce_cache_refuses_a_pair_until_its_time_has_passed() {
        let cache = NonceCache::default();
        let (a, b) = (
            KeyId::parse("0123456789abcdef").unwrap(),
            KeyId::parse("fedcba9876543210").unwrap(),
        );
        let nonce = [7u8; 16];
        assert!(cache.insert(&a, &nonce, 100, 10));
        assert!(!cache.insert(&a, &nonce, 100, 50), "a replay");
        assert!(
            cache.insert(&b, &nonce, 100, 50),
            "the same nonce, another key"
        );
        assert!(cache.insert(&a, &[7u8; 17], 100, 50), "another nonce");
        assert!(!cache.insert(&a, &nonce, 100, 100), "still inside its time");
        assert_eq!(cache.len(), 3);
        // Once its time has passed the pair is forgotten (the request is stale by
        // then and the freshness check refuses it first).
        assert!(cache.insert(&b, &[1u8; 16], 300, 101));
        assert_eq!(cache.len(), 1);
        assert!(cache.insert(&a, &nonce, 300, 101));
    }

    /// Every command kind, each with its fields left empty.
    fn every_kind() -> Vec<Kind> {
        vec![
            Kind::Genesis(Default::default()),
            Kind::RegisterParticipant(Default::default()),
            Kind::RotateKey(Default::default()),
            Kind::RevokeParticipant(Default::default()),
            Kind::ListParticipants(Default::default()),
            Kind::GetEntry(Default::default()),
            Kind::StreamEntries(Default::default()),
            Kind::GetCheckpoint(Default::default()),
            Kind::GetInclusionProof(Default::default()),
            Kind::GetConsistencyProof(Default::default()),
            Kind::GetReceipt(Default::default()),
            Kind::CreateSeries(Default::default()),
            Kind::AmendSeries(Default::default()),
            Kind::OpenSeries(Default::default()),
            Kind::CloseSeries(Default::default()),
            Kind::CancelSeries(Default::default()),
            Kind::AllotSeries(Default::default()),
            Kind::ReleaseUnsettled(Default::default()),
            Kind::IssueSeries(Default::default()),
            Kind::SubmitSubscription(Default::default()),
            Kind::WithdrawSubscription(Default::default()),
            Kind::ConfirmSettlement(Default::default()),
            Kind::GetSeries(Default::default()),
            Kind::ListSeries(Default::default()),
            Kind::GetSubscription(Default::default()),
            Kind::ListSubscriptions(Default::default()),
            Kind::GetInvestorHoldings(Default::default()),
            Kind::ListHolders(Default::default()),
            Kind::PriceSchedule(Default::default()),
            Kind::PriceFromYield(Default::default()),
            Kind::YieldFromPrice(Default::default()),
            Kind::PatrioticPricing(Default::default()),
            Kind::PublishFixing(Default::default()),
            Kind::PostAccrualEvent(Default::default()),
            Kind::ListDueEvents(Default::default()),
            Kind::GetAccrued(Default::default()),
            Kind::GetInvestorStatement(Default::default()),
            Kind::GetDebtService(Default::default()),
            Kind::ListFixings(Default::default()),
            Kind::SubmitBatch(Default::default()),
        ]
    }

    /// The table of writes (what batches admit, and the roles the unary writes
    /// check) holds exactly the commands the ledger records: those the codec turns
    /// into a registry command (empty fields may be refused, but for a field of
    /// their own, never as "not a change").
    #[test]
    fn the_table_of_writes_is_exactly_the_commands_that_change_the_ledger() {
        let kinds = every_kind();
        let names: std::collections::BTreeSet<&str> =
            kinds.iter().map(crate::codec::command_name).collect();
        assert_eq!(names.len(), kinds.len(), "one of each kind");
        let mut writes = 0;
        for kind in &kinds {
            let name = crate::codec::command_name(kind);
            let changes = match crate::codec::command_from_kind(kind) {
                Ok(_) => true,
                Err(crate::registry::RegistryError::Invalid { field, reason }) => {
                    field != "command" || !reason.contains("does not change the ledger")
                }
                Err(other) => panic!("{name}: unexpected {other}"),
            };
            // Genesis is written by the server itself, never requested.
            let requestable = changes && name != "Genesis";
            assert_eq!(
                write_roles(name).is_some(),
                requestable,
                "{name}: in WRITES exactly when it is a requestable write"
            );
            writes += usize::from(requestable);
        }
        assert_eq!(
            writes,
            WRITES.len(),
            "no row of WRITES names an unknown RPC"
        );
        for (name, roles) in WRITES {
            assert!(!roles.is_empty(), "{name} admits some role");
        }
    }
}
