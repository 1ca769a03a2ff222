//! The client as a source of a ledger's signed head, entries and registry, for
//! online verification and export (`audit::source`).

use super::Client;
use crate::audit::source::{EntrySource, RegistrySource, SignedHead, SourcedEntry};
use crate::proto as pb;
use std::pin::Pin;
use tokio_stream::{Stream, StreamExt};

/// A refused call, named by its RPC.
fn refused(rpc: &str, s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{rpc}: {} ({:?})", s.message(), s.code())
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
