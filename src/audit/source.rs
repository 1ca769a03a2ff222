//! What verifying a running ledger needs from it, as traits: a source of signed
//! heads and entries (what a verifier, an exporter or a mirror follows), of
//! consistency proofs between two of its sizes (what a mirror checks each new
//! head with), and the registry the ledger's server reports (what online
//! verification compares with its replay). `client::Client` implements them over
//! gRPC; nothing here knows how the bytes travel.
//!
//! Invariant: a source is never trusted. Whatever it sends is verified from the
//! bytes (`Verifier`, checkpoints against the ledger key) before it counts.

use crate::ledger::merkle::Hash;
use crate::proto as pb;
use std::future::Future;
use tokio_stream::Stream;

/// A ledger's latest signed head: its size and the checkpoint note covering it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHead {
    pub tree_size: u64,
    /// The C2SP signed note (docs/LEDGER_FORMAT.md).
    pub checkpoint: String,
}

/// One entry as a source sends it: the index it claims and the stored bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourcedEntry {
    pub index: u64,
    pub bytes: Vec<u8>,
}

/// A ledger to follow: its signed head and its entries, in order.
pub trait EntrySource {
    /// Entries of one [`EntrySource::entries`] call.
    type Entries: Stream<Item = anyhow::Result<SourcedEntry>> + Unpin + Send;

    /// The latest signed head.
    fn head(&self) -> impl Future<Output = anyhow::Result<SignedHead>> + Send;

    /// Entries `start..end`, in order (`end` at most the head's size, and at most
    /// `limits::STREAM_ENTRIES_PER_CALL_MAX` past `start`).
    fn entries(
        &self,
        start: u64,
        end: u64,
    ) -> impl Future<Output = anyhow::Result<Self::Entries>> + Send;
}

/// A source's refusal of a call, as a follower needs to judge it: `transient`
/// when trying again later may succeed (the source is unreachable, restarting or
/// busy), not when the source refuses this caller or this request.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{rpc}: {message}")]
pub struct SourceError {
    pub rpc: &'static str,
    pub message: String,
    pub transient: bool,
}

/// True unless `e` is a [`SourceError`] that trying again will not cure.
pub fn is_transient(e: &anyhow::Error) -> bool {
    e.downcast_ref::<SourceError>().is_none_or(|s| s.transient)
}

/// A ledger that proves how it grew.
pub trait ProofSource {
    /// The consistency proof from the tree of `old_size` entries to the tree of
    /// `new_size` (RFC 9162), as the source computes it.
    fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> impl Future<Output = anyhow::Result<Vec<Hash>>> + Send;
}

/// The registry as a ledger's server reports it, in its wire form.
pub trait RegistrySource {
    /// Every participant.
    fn participants(&self) -> impl Future<Output = anyhow::Result<Vec<pb::Participant>>> + Send;

    /// Every series.
    fn series(&self) -> impl Future<Output = anyhow::Result<Vec<pb::Series>>> + Send;

    /// Every subscription to the series `series_id`.
    fn subscriptions(
        &self,
        series_id: &str,
    ) -> impl Future<Output = anyhow::Result<Vec<pb::Subscription>>> + Send;

    /// Every holding of the series `series_id`.
    fn holders(
        &self,
        series_id: &str,
    ) -> impl Future<Output = anyhow::Result<Vec<pb::Holding>>> + Send;
}
