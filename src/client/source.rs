//! The client as a source of a ledger's signed head, entries and registry, for
//! online verification and export (`audit::source`).

use super::Client;
use crate::audit::source::{
    EntrySource, ProofSource, RegistrySource, SignedHead, SourceError, SourcedEntry,
};
use crate::ledger::merkle::Hash;
use crate::proto as pb;
use std::pin::Pin;
use tokio_stream::{Stream, StreamExt};

/// A refused call, named by its RPC. The refusals that say something about this
/// caller or this request are not transient; the rest (unreachable, restarting,
/// overloaded, a range the source does not hold at this moment) may pass.
fn refused(rpc: &'static str, s: tonic::Status) -> anyhow::Error {
    use tonic::Code;
    let transient = !matches!(
        s.code(),
        Code::Unauthenticated
            | Code::PermissionDenied
            | Code::InvalidArgument
            | Code::NotFound
            | Code::FailedPrecondition
            | Code::Unimplemented
    );
    SourceError {
        rpc,
        message: format!("{} ({:?})", s.message(), s.code()),
        transient,
    }
    .into()
}

impl EntrySource for Client {
    type Entries = Pin<Box<dyn Stream<Item = anyhow::Result<SourcedEntry>> + Send>>;

    async fn head(&self) -> anyhow::Result<SignedHead> {
        let head = self
            .checkpoint()
            .await
            .map_err(|s| refused("GetCheckpoint", s))?;
        Ok(SignedHead {
            tree_size: head.tree_size,
            checkpoint: head.checkpoint,
        })
    }

    async fn entries(&self, start: u64, end: u64) -> anyhow::Result<Self::Entries> {
        let stream = self
            .stream_entries(start, end)
            .await
            .map_err(|s| refused("StreamEntries", s))?;
        Ok(Box::pin(stream.map(|item| {
            item.map(|m| SourcedEntry {
                index: m.index,
                bytes: m.entry,
            })
            .map_err(|s| refused("StreamEntries", s))
        })))
    }
}

impl ProofSource for Client {
    async fn consistency_proof(&self, old_size: u64, new_size: u64) -> anyhow::Result<Vec<Hash>> {
        let proof = Client::consistency_proof(self, old_size, new_size)
            .await
            .map_err(|s| refused("GetConsistencyProof", s))?;
        proof
            .proof
            .iter()
            .map(|h| {
                Hash::try_from(h.as_slice()).map_err(|_| {
                    anyhow::Error::from(SourceError {
                        rpc: "GetConsistencyProof",
                        message: format!("a proof hash of {} bytes, not 32", h.len()),
                        transient: false,
                    })
                })
            })
            .collect()
    }
}

impl RegistrySource for Client {
    async fn participants(&self) -> anyhow::Result<Vec<pb::Participant>> {
        self.list_participants()
            .await
            .map_err(|s| refused("ListParticipants", s))
    }

    async fn series(&self) -> anyhow::Result<Vec<pb::Series>> {
        self.list_series()
            .await
            .map_err(|s| refused("ListSeries", s))
    }

    async fn subscriptions(&self, series_id: &str) -> anyhow::Result<Vec<pb::Subscription>> {
        self.all_subscriptions(series_id)
            .await
            .map_err(|s| refused("ListSubscriptions", s))
    }

    async fn holders(&self, series_id: &str) -> anyhow::Result<Vec<pb::Holding>> {
        self.all_holders(series_id, crate::limits::PAGE_SIZE_MAX)
            .await
            .map_err(|s| refused("ListHolders", s))
    }
}
