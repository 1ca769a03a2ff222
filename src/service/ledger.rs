//! LedgerService: entries, checkpoints and proofs.

use super::Ctx;
use crate::ledger::merkle;
use crate::limits;
use crate::proto as pb;
use crate::registry::Role;
use std::pin::Pin;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

const READERS: [Role; 4] = [Role::Admin, Role::Treasury, Role::Auditor, Role::Engine];

type EntryStream = Pin<Box<dyn Stream<Item = Result<pb::StreamEntriesResponse, Status>> + Send>>;

fn proof_status(e: merkle::MerkleError) -> Status {
    Status::internal(format!("cannot build proof: {e}"))
}

#[tonic::async_trait]
impl pb::ledger_service_server::LedgerService for Ctx {
    async fn get_ledger_info(
        &self,
        _request: Request<pb::GetLedgerInfoRequest>,
    ) -> Result<Response<pb::GetLedgerInfoResponse>, Status> {
        let identity = self.ledger.identity();
        Ok(Response::new(pb::GetLedgerInfoResponse {
            origin: identity.origin.clone(),
            ledger_public_key: identity.ledger_public_key.0.to_vec(),
            format_version: identity.format_version,
            tree_size: self.ledger.size(),
            checkpoint_key_name: crate::store::checkpoint_key_name(identity).to_string(),
        }))
    }

    async fn get_entry(
        &self,
        request: Request<pb::GetEntryRequest>,
    ) -> Result<Response<pb::GetEntryResponse>, Status> {
        let auth = self
            .auth
            .check(request.into_inner().signed, "GetEntry", &Role::ALL)?;
        let pb::command::Kind::GetEntry(c) = &auth.command else {
            return Err(Status::internal(
                "command kind changed after authentication",
            ));
        };
        let bytes = self
            .ledger
            .entry(c.index)
            .map_err(|e| super::status::store(&e))?
            .ok_or_else(|| {
                Status::not_found(format!(
                    "entry {} does not exist; the ledger has {} entries",
                    c.index,
                    self.ledger.size()
                ))
            })?;
        if auth.caller.role == Role::Bank && !self.entry_belongs_to(&bytes, &auth.caller)? {
            return Err(Status::permission_denied(format!(
                "entry {} was not requested by {}; banks read only their own entries",
                c.index, auth.caller.participant_id
            )));
        }
        let entry_hash = merkle::hash_leaf(&bytes).to_vec();
        Ok(Response::new(pb::GetEntryResponse {
            entry: bytes,
            entry_hash,
        }))
    }

    type StreamEntriesStream = EntryStream;

    async fn stream_entries(
        &self,
        request: Request<pb::StreamEntriesRequest>,
    ) -> Result<Response<EntryStream>, Status> {
        let auth = self
            .auth
            .check(request.into_inner().signed, "StreamEntries", &READERS)?;
        let pb::command::Kind::StreamEntries(c) = &auth.command else {
            return Err(Status::internal(
                "command kind changed after authentication",
            ));
        };
        let size = self.ledger.size();
        let end = if c.end == 0 { size } else { c.end };
        if c.start > end || end > size {
            return Err(Status::out_of_range(format!(
                "range {}..{} is outside the ledger (size {size})",
                c.start, end
            )));
        }
        if end - c.start > limits::STREAM_ENTRIES_PER_CALL_MAX {
            return Err(Status::invalid_argument(format!(
                "range {}..{} holds {} entries; one call streams at most {}",
                c.start,
                end,
                end - c.start,
                limits::STREAM_ENTRIES_PER_CALL_MAX
            )));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let ledger = self.ledger.clone();
        let start = c.start;
        tokio::task::spawn_blocking(move || {
            for item in ledger.entries(start, end) {
                let message = item
                    .map(|(index, entry)| pb::StreamEntriesResponse { index, entry })
                    .map_err(|e| super::status::store(&e));
                if tx.blocking_send(message).is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::GetCheckpointResponse>, Status> {
        self.auth
            .check(request.into_inner().signed, "GetCheckpoint", &Role::ALL)?;
        let (checkpoint, tree_size, root) = self
            .ledger
            .read(|p| (p.checkpoint.clone(), p.size(), p.frontier.root()));
        let identity = self.ledger.identity();
        Ok(Response::new(pb::GetCheckpointResponse {
            checkpoint,
            tree_size,
            root_hash: root.to_vec(),
            ledger_public_key: identity.ledger_public_key.0.to_vec(),
            key_name: crate::store::checkpoint_key_name(identity).to_string(),
        }))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::GetInclusionProofResponse>, Status> {
        let auth = self
            .auth
            .check(request.into_inner().signed, "GetInclusionProof", &Role::ALL)?;
        let pb::command::Kind::GetInclusionProof(c) = &auth.command else {
            return Err(Status::internal(
                "command kind changed after authentication",
            ));
        };
        let size = self.ledger.size();
        let tree_size = if c.tree_size == 0 { size } else { c.tree_size };
        if tree_size > size {
            return Err(Status::out_of_range(format!(
                "tree size {tree_size} is beyond the ledger size {size}"
            )));
        }
        if c.index >= tree_size {
            return Err(Status::out_of_range(format!(
                "entry {} is not in a tree of size {tree_size}",
                c.index
            )));
        }
        let nodes = self.ledger.nodes();
        let proof = merkle::inclusion_proof(c.index, tree_size, &nodes).map_err(proof_status)?;
        let root = merkle::root_at(tree_size, &nodes).map_err(proof_status)?;
        let leaf = merkle::NodeReader::node(&nodes, 0, c.index).map_err(proof_status)?;
        Ok(Response::new(pb::GetInclusionProofResponse {
            index: c.index,
            tree_size,
            leaf_hash: leaf.to_vec(),
            proof: proof.iter().map(|h| h.to_vec()).collect(),
            root_hash: root.to_vec(),
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::GetConsistencyProofResponse>, Status> {
        let auth = self.auth.check(
            request.into_inner().signed,
            "GetConsistencyProof",
            &Role::ALL,
        )?;
        let pb::command::Kind::GetConsistencyProof(c) = &auth.command else {
            return Err(Status::internal(
                "command kind changed after authentication",
            ));
        };
        let size = self.ledger.size();
        let new_size = if c.new_size == 0 { size } else { c.new_size };
        if new_size > size {
            return Err(Status::out_of_range(format!(
                "tree size {new_size} is beyond the ledger size {size}"
            )));
        }
        if c.old_size == 0 || c.old_size > new_size {
            return Err(Status::invalid_argument(format!(
                "old size must be 1 to {new_size}, found {}",
                c.old_size
            )));
        }
        let nodes = self.ledger.nodes();
        let proof =
            merkle::consistency_proof(c.old_size, new_size, &nodes).map_err(proof_status)?;
        Ok(Response::new(pb::GetConsistencyProofResponse {
            old_size: c.old_size,
            new_size,
            proof: proof.iter().map(|h| h.to_vec()).collect(),
            old_root_hash: merkle::root_at(c.old_size, &nodes)
                .map_err(proof_status)?
                .to_vec(),
            new_root_hash: merkle::root_at(new_size, &nodes)
                .map_err(proof_status)?
                .to_vec(),
        }))
    }
}

impl Ctx {
    /// Whether the entry was requested by `caller` (directly, or derived from one
    /// of its requests).
    fn entry_belongs_to(
        &self,
        bytes: &[u8],
        caller: &crate::registry::Caller,
    ) -> Result<bool, Status> {
        let opened =
            crate::ledger::entry::open(bytes).map_err(|e| Status::internal(e.to_string()))?;
        let actor = match opened.body.actor {
            Some(a) => a,
            None => {
                let cause = self
                    .ledger
                    .entry(opened.body.cause_index)
                    .map_err(|e| super::status::store(&e))?
                    .ok_or_else(|| Status::internal("cause entry missing"))?;
                match crate::ledger::entry::open(&cause)
                    .map_err(|e| Status::internal(e.to_string()))?
                    .body
                    .actor
                {
                    Some(a) => a,
                    None => return Ok(false),
                }
            }
        };
        Ok(self.ledger.read(|p| {
            crate::ledger::keys::KeyId::parse(&actor.key_id)
                .and_then(|k| {
                    p.state
                        .key(&k)
                        .map(|r| r.participant_id == caller.participant_id)
                })
                .unwrap_or(false)
        }))
    }
}
