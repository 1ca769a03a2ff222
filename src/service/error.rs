//! Why the service refuses a request before or besides the writer: authentication
//! ([`AuthError`]), reads ([`ReadError`]), batch envelopes ([`BatchError`]) and
//! writes sent to a read-only mirror ([`ReadOnlyError`]).
//! `status.rs` maps each variant to its gRPC status; messages say what was
//! expected and what was found, and quote request values briefly
//! (`status::quote`).

use crate::limits;
use crate::registry::Role;

/// Why a signed request was not authenticated for its RPC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(test, derive(strum::EnumIter))]
pub enum AuthError {
    #[error("request is not signed: the `signed` field is missing")]
    Unsigned,
    #[error(
        "signed payload is {bytes} bytes; the limit is {}",
        limits::REQUEST_PAYLOAD_BYTES_MAX
    )]
    PayloadTooLarge { bytes: usize },
    /// `quoted`: the value sent, quoted for a message.
    #[error("key id {quoted} is not a key id (16 lowercase hex digits)")]
    NotAKeyId { quoted: String },
    #[error("key {key_id} is not registered on this ledger")]
    UnknownKey { key_id: String },
    #[error("key {key_id} has been rotated out or revoked")]
    KeyRetired { key_id: String },
    #[error("key {key_id} belongs to no participant")]
    KeyWithoutParticipant { key_id: String },
    #[error("participant {participant_id} is revoked")]
    ParticipantRevoked { participant_id: String },
    /// A registered key whose bytes do not parse: the state disagrees with itself.
    #[error("the registered public key of {key_id} does not parse: {reason}")]
    UnreadableKey { key_id: String, reason: String },
    #[error("signature does not verify with key {key_id}")]
    BadSignature { key_id: String },
    #[error("payload is not a RequestPayload: {reason}")]
    NotAPayload { reason: String },
    #[error("request was signed for ledger {signed_for:?}, this is {this:?}")]
    WrongLedger { signed_for: String, this: String },
    /// The payload's `issued_at` is missing or not a time; `message` names it.
    #[error("{message}")]
    BadIssueTime { message: String },
    /// `age`: exact decimal seconds ("300.001").
    #[error(
        "request is stale: issued {age} s ago, the limit is {} s",
        limits::REQUEST_AGE_SECS_MAX
    )]
    Stale { age: String },
    /// `ahead`: exact decimal seconds ("60.001").
    #[error(
        "request is issued {ahead} s in the future, the limit is {} s; check the client's clock",
        limits::REQUEST_FUTURE_SKEW_SECS_MAX
    )]
    FromTheFuture { ahead: String },
    #[error(
        "nonce must be {} to {} bytes, found {found}",
        limits::NONCE_BYTES_MIN,
        limits::NONCE_BYTES_MAX
    )]
    NonceLength { found: usize },
    #[error("payload carries no command (or one this server does not know)")]
    NoCommand,
    #[error(
        "payload is {bytes} bytes but its fields take {read}: sign exactly the RequestPayload, without unknown fields or repeats"
    )]
    UnknownFields { bytes: usize, read: usize },
    #[error("payload carries a {carried} command but was sent to {rpc}")]
    WrongCommand {
        carried: &'static str,
        rpc: &'static str,
    },
    #[error(
        "payload carries a {carried} command, which is not a write: a batch carries write requests only"
    )]
    NotAWrite { carried: &'static str },
    #[error("{rpc} is for {}; {participant_id} is {role}", role_list(.allowed))]
    RoleNotAllowed {
        rpc: &'static str,
        allowed: &'static [Role],
        participant_id: String,
        role: String,
    },
    #[error("replayed request: this nonce was already used with this key")]
    Replay,
}

fn role_list(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a read was refused. Identifiers are as the caller sent them or as the
/// registry names them; values a caller chose are quoted (`other`, `event_id`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(test, derive(strum::EnumIter))]
pub enum ReadError {
    #[error("entry {index} does not exist; the ledger has {size} entries")]
    EntryNotFound { index: u64, size: u64 },
    #[error("range {start}..{end} is outside the ledger (size {size})")]
    RangeOutsideLedger { start: u64, end: u64, size: u64 },
    #[error(
        "range {start}..{end} holds {} entries; one call streams at most {}",
        .end.saturating_sub(*.start),
        limits::STREAM_ENTRIES_PER_CALL_MAX
    )]
    RangeTooLong { start: u64, end: u64 },
    #[error("tree size {tree_size} is beyond the ledger size {size}")]
    TreeBeyondLedger { tree_size: u64, size: u64 },
    #[error("entry {index} is not in a tree of size {tree_size}")]
    IndexNotInTree { index: u64, tree_size: u64 },
    #[error("old size must be 1 to {new_size}, found {old_size}")]
    OldSizeOutOfRange { old_size: u64, new_size: u64 },
    #[error("name the entry to prove: index, subscription_id, holding or payment")]
    NoReceiptTarget,
    #[error("entry {index} was not requested by {bank}; banks read only their own entries")]
    EntryOfAnotherBank { index: u64, bank: String },
    #[error("entry {index} is not about {bank}'s clients; banks get receipts only for their own")]
    ReceiptOfAnotherBank { index: u64, bank: String },
    #[error(
        "subscription {subscription_id} was submitted by another bank; banks get receipts only for their own"
    )]
    ReceiptForAnotherBanksSubscription { subscription_id: u64 },
    #[error("{bank} gets receipts only for its own clients, not those at {other}")]
    ReceiptForAnotherBanksClient { bank: String, other: String },
    #[error("subscription {subscription_id} belongs to another bank; {bank} reads only its own")]
    SubscriptionOfAnotherBank { subscription_id: u64, bank: String },
    #[error("{bank} reads only its own clients' holdings, not those at {other}")]
    HoldingsAtAnotherBank { bank: String, other: String },
    #[error("{bank} reads only its own clients, not those at {other}")]
    ClientsOfAnotherBank { bank: String, other: String },
    #[error("subscription {subscription_id} does not exist")]
    SubscriptionNotFound { subscription_id: u64 },
    #[error("series {series_id} does not exist")]
    SeriesNotFound { series_id: String },
    #[error("series {series_id} is not issued: it has no holdings yet")]
    SeriesNotIssued { series_id: String },
    #[error("{investor} holds no {series_id} through {bank}")]
    NoHolding {
        investor: String,
        series_id: String,
        bank: String,
    },
    #[error("accrual event {event_id} has not been posted")]
    EventNotPosted { event_id: String },
    #[error("event {event_id} pays nothing (a record date); name a coupon or a redemption")]
    PaysNothing { event_id: String },
    #[error("{event_id} paid nothing to {investor} through {bank}")]
    NothingPaid {
        event_id: String,
        investor: String,
        bank: String,
    },
    #[error("page_token is not one this server issued")]
    BadPageToken,
    /// Accrued interest, a statement or a schedule that the series' terms and
    /// fixings cannot give yet (a missing fixing, a date outside the schedule).
    #[error("{reason}")]
    NotComputable { reason: String },
    /// Stored entries or state that disagree with what the ledger wrote: a fault
    /// of the server, never of the request.
    #[error("{reason}")]
    Inconsistent { reason: String },
    /// A read's worker task ended without an answer.
    #[error("the read failed: {reason}")]
    TaskFailed { reason: String },
}

/// Why the rehearsal clock was not moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(test, derive(strum::EnumIter))]
pub enum ClockError {
    #[error(
        "this server runs on the system clock (a production ledger); clock controls exist only on a rehearsal server (dbond serve --clock simulated)"
    )]
    NotSimulated,
    /// `message` names the field and what is wrong with it.
    #[error("{message}")]
    BadTime { message: String },
    /// `message`: the clock's time and the time asked for.
    #[error("{message}")]
    Backwards { message: String },
}

/// Why a batch's envelope was refused (its requests are each judged on their own).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(test, derive(strum::EnumIter))]
pub enum BatchError {
    #[error(
        "the batch has {count} requests; the limit is {} (send several batches)",
        limits::BATCH_REQUESTS_MAX
    )]
    TooManyRequests { count: usize },
    #[error("the signed envelope says {signed} requests, the batch carries {carried}")]
    CountMismatch { signed: u32, carried: usize },
    #[error("checking the batch failed: {reason}")]
    CheckFailed { reason: String },
}

/// Why a server that holds a copy of another's ledger refuses a write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(test, derive(strum::EnumIter))]
pub enum ReadOnlyError {
    /// `rpc` writes; this server is a mirror of `mirror_of`.
    #[error(
        "{rpc} writes to the ledger, and this server is a read-only mirror of {mirror_of}: send writes to the ledger's own server"
    )]
    Mirror { rpc: String, mirror_of: String },
}
