//! Authentication of signed requests: the key is registered, current and its
//! participant active; the signature verifies over the exact payload bytes; the
//! payload is for this ledger, fresh, not seen before, and carries the command of
//! the RPC it was sent to.

use super::error::AuthError;
use super::rpc::{RpcCommand, write_roles};
use crate::clock::Clock;
use crate::ledger::keys::{self, KeyId, REQUEST_CONTEXT};
use crate::limits;
use crate::proto as pb;
use crate::registry::{Caller, ParticipantStatus, PublicKey, Role};
use crate::store::{Arrival, Store};
use chrono::{DateTime, Utc};
use pb::command::Kind;
use prost::Message;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// A request whose signature, freshness, nonce and role checked out, with the
/// command it carries: `C` is the command message of the RPC it was sent to (a
/// batched request carries any write: `Kind`).
#[derive(Debug)]
pub struct Authenticated<C> {
    pub caller: Caller,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
    pub command: C,
    /// The request's arrival at the writer, announced as its checks began; it
    /// ends once the request is queued (`Store::write_arrived`) or dropped.
    pub arrival: Option<Arrival>,
}

impl<C> Authenticated<C> {
    /// The same request with its command changed by `f`.
    pub fn map<D>(self, f: impl FnOnce(C) -> D) -> Authenticated<D> {
        Authenticated {
            caller: self.caller,
            payload: self.payload,
            signature: self.signature,
            command: f(self.command),
            arrival: self.arrival,
        }
    }
}

/// Remembers (key, nonce) pairs for as long as a request carrying them could be
/// accepted, so a captured request is accepted once.
///
/// A pair is kept as its SHA-256 digest: 32 bytes and no allocation per request,
/// so the cache's memory is the request rate times the freshness window times
/// some 130 bytes (digest, expiry and the tables' slack). Two pairs share a digest
/// only if SHA-256 collides, and the key id is hashed in, so one participant's
/// nonces never touch another's.
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
    ledger: Store,
    clock: Arc<dyn Clock>,
    nonces: Arc<NonceCache>,
    /// Decompressed public keys by key id: decompression costs more than a hash
    /// lookup, and a key's bytes never change under its id.
    parsed: Arc<std::sync::RwLock<HashMap<KeyId, ed25519_dalek::VerifyingKey>>>,
}

/// A payload that checked out up to its command: signed by a current key of an
/// active participant, for this ledger, fresh, with a nonce of the right length
/// and nothing the server does not read.
struct Opened {
    caller: Caller,
    nonce: Vec<u8>,
    issued_at: DateTime<Utc>,
    now: DateTime<Utc>,
}

fn forget_after(issued_at: DateTime<Utc>) -> i64 {
    issued_at.timestamp() + limits::REQUEST_AGE_SECS_MAX + 1
}

impl Authenticator {
    /// Builds the authenticator, remembering the nonces of requests recorded on the
    /// ledger recently enough to be replayed now (so a restart does not reopen the
    /// replay window for writes).
    pub fn new(ledger: Store, clock: Arc<dyn Clock>) -> Self {
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

    /// Authenticates `signed` for the RPC that takes the command `C`, allowing the
    /// roles `C` names, and hands back that command.
    pub fn check<C: RpcCommand>(
        &self,
        signed: Option<pb::SignedRequest>,
    ) -> Result<Authenticated<C>, AuthError> {
        let signed = signed.ok_or(AuthError::Unsigned)?;
        // From here until it is queued (or refused), the writer may wait for it.
        let arrival = self.ledger.arrival();
        let (opened, command) = self.open(&signed, None)?;
        let carried = crate::codec::command_name(&command);
        let command = C::from_kind(command).ok_or(AuthError::WrongCommand {
            carried,
            rpc: C::RPC,
        })?;
        allow(C::RPC, C::ROLES, &opened.caller)?;
        let mut admitted = self.admit(signed, opened, C::RPC, command)?;
        admitted.arrival = Some(arrival);
        Ok(admitted)
    }

    /// Authenticates one request of a batch: any write, checked exactly as its own
    /// RPC would check it (with the roles [`super::rpc::WRITES`] gives it).
    /// `verified`: the signature check's result if [`Self::verify_ahead`] made it.
    pub fn check_batched(
        &self,
        signed: pb::SignedRequest,
        verified: Option<bool>,
    ) -> Result<Authenticated<Kind>, AuthError> {
        let (opened, command) = self.open(&signed, verified)?;
        let rpc = crate::codec::command_name(&command);
        let roles = write_roles(rpc).ok_or(AuthError::NotAWrite { carried: rpc })?;
        allow(rpc, roles, &opened.caller)?;
        self.admit(signed, opened, rpc, command)
    }

    /// The decompressed key of `key_id` (whose bytes are `public_key`), from the
    /// cache when it is there.
    fn verifying_key(
        &self,
        key_id: &KeyId,
        public_key: &PublicKey,
    ) -> Result<ed25519_dalek::VerifyingKey, AuthError> {
        if let Some(vk) = self.cached_key(key_id) {
            return Ok(vk);
        }
        let vk = keys::parse_public_key(&public_key.0).map_err(|e| AuthError::UnreadableKey {
            key_id: key_id.to_string(),
            reason: e.to_string(),
        })?;
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
    /// of their checks: back to back, the curve tables stay in the core's caches.
    /// `None` for a request whose key this ledger cannot give (its own check says
    /// why).
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

    /// Checks everything but the command and the nonce: size, key, signature,
    /// ledger, freshness, nonce length, and that the payload holds only what the
    /// server reads.
    fn open(
        &self,
        signed: &pb::SignedRequest,
        verified: Option<bool>,
    ) -> Result<(Opened, Kind), AuthError> {
        if signed.payload.len() > limits::REQUEST_PAYLOAD_BYTES_MAX {
            return Err(AuthError::PayloadTooLarge {
                bytes: signed.payload.len(),
            });
        }
        let key_id = KeyId::parse(&signed.key_id).ok_or_else(|| AuthError::NotAKeyId {
            quoted: super::status::quote(&signed.key_id),
        })?;
        let (caller, public_key) = self.signer(key_id)?;
        let verified = match verified {
            Some(verified) => verified,
            None => {
                let vk = self.verifying_key(&caller.key_id, &public_key)?;
                keys::verify(&vk, REQUEST_CONTEXT, &signed.payload, &signed.signature)
            }
        };
        if !verified {
            return Err(AuthError::BadSignature {
                key_id: caller.key_id.to_string(),
            });
        }
        let payload = pb::RequestPayload::decode(signed.payload.as_slice()).map_err(|e| {
            AuthError::NotAPayload {
                reason: e.to_string(),
            }
        })?;
        self.for_this_ledger(&payload)?;
        let (issued_at, now) = self.fresh(&payload)?;
        nonce_length(&payload.nonce)?;
        // The ledger keeps the signed bytes for good: bytes the server does not
        // read (unknown fields, repeats, padding) would be stored unread.
        let read = payload.encoded_len();
        let command = payload
            .command
            .and_then(|c| c.kind)
            .ok_or(AuthError::NoCommand)?;
        if read != signed.payload.len() {
            return Err(AuthError::UnknownFields {
                bytes: signed.payload.len(),
                read,
            });
        }
        let opened = Opened {
            caller,
            nonce: payload.nonce,
            issued_at,
            now,
        };
        Ok((opened, command))
    }

    /// The caller a key speaks for, and the key's bytes: the key is registered and
    /// current, and its participant active.
    fn signer(&self, key_id: KeyId) -> Result<(Caller, PublicKey), AuthError> {
        self.ledger.read(|p| {
            let key = p.state.key(&key_id).ok_or_else(|| AuthError::UnknownKey {
                key_id: key_id.to_string(),
            })?;
            if key.retired_at_index.is_some() {
                return Err(AuthError::KeyRetired {
                    key_id: key_id.to_string(),
                });
            }
            let participant = p.state.participant(&key.participant_id).ok_or_else(|| {
                AuthError::KeyWithoutParticipant {
                    key_id: key_id.to_string(),
                }
            })?;
            if participant.status != ParticipantStatus::Active {
                return Err(AuthError::ParticipantRevoked {
                    participant_id: participant.participant_id.to_string(),
                });
            }
            Ok((
                Caller {
                    participant_id: participant.participant_id.clone(),
                    role: participant.role,
                    key_id: key_id.clone(),
                },
                key.public_key,
            ))
        })
    }

    fn for_this_ledger(&self, payload: &pb::RequestPayload) -> Result<(), AuthError> {
        let origin = &self.ledger.identity().origin;
        if &payload.ledger_origin != origin {
            return Err(AuthError::WrongLedger {
                signed_for: payload.ledger_origin.clone(),
                this: origin.clone(),
            });
        }
        Ok(())
    }

    /// The request's issue time and now: at most `REQUEST_AGE_SECS_MAX` old and
    /// `REQUEST_FUTURE_SKEW_SECS_MAX` ahead, to the nanosecond (the window the
    /// writer applies again at the recorded time, and auditors after it).
    fn fresh(
        &self,
        payload: &pb::RequestPayload,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>), AuthError> {
        use crate::ledger::payload::{OutsideWindow, check_window, seconds};
        let issued_at = crate::codec::timestamp_from_pb("issued_at", payload.issued_at.as_ref())
            .map_err(|e| AuthError::BadIssueTime {
                message: e.to_string(),
            })?;
        let now = self.clock.now();
        match check_window(issued_at, now) {
            Ok(()) => Ok((issued_at, now)),
            Err(OutsideWindow::Stale { age, .. }) => Err(AuthError::Stale { age: seconds(age) }),
            Err(OutsideWindow::Ahead { ahead, .. }) => Err(AuthError::FromTheFuture {
                ahead: seconds(ahead),
            }),
        }
    }

    /// Burns the request's nonce (last, so a request refused earlier keeps it) and
    /// hands the request on.
    fn admit<C>(
        &self,
        signed: pb::SignedRequest,
        opened: Opened,
        rpc: &'static str,
        command: C,
    ) -> Result<Authenticated<C>, AuthError> {
        let Opened {
            caller,
            nonce,
            issued_at,
            now,
        } = opened;
        if !self.nonces.insert(
            &caller.key_id,
            &nonce,
            forget_after(issued_at),
            now.timestamp(),
        ) {
            return Err(AuthError::Replay);
        }
        // The request id is the nonce's first bytes: unique per request, and found
        // again in the ledger entry's payload for writes.
        tracing::info!(
            rpc,
            participant = %caller.participant_id,
            role = %caller.role,
            key_id = %caller.key_id,
            request_id = %hex::encode(&nonce[..8.min(nonce.len())]),
            "authenticated"
        );
        Ok(Authenticated {
            caller,
            payload: signed.payload,
            signature: signed.signature,
            command,
            arrival: None,
        })
    }
}

fn nonce_length(nonce: &[u8]) -> Result<(), AuthError> {
    if !(limits::NONCE_BYTES_MIN..=limits::NONCE_BYTES_MAX).contains(&nonce.len()) {
        return Err(AuthError::NonceLength { found: nonce.len() });
    }
    Ok(())
}

/// The caller's role is one of `roles`, those of `rpc`.
fn allow(rpc: &'static str, roles: &'static [Role], caller: &Caller) -> Result<(), AuthError> {
    if roles.contains(&caller.role) {
        return Ok(());
    }
    Err(AuthError::RoleNotAllowed {
        rpc,
        allowed: roles,
        participant_id: caller.participant_id.to_string(),
        role: caller.role.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
