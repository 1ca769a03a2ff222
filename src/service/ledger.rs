//! LedgerService: entries, checkpoints and proofs.

use super::Ctx;
use crate::ledger::merkle;
use crate::limits;
use crate::proto as pb;
use crate::registry::{Caller, InvestorRef, ParticipantId, Role};
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

    async fn get_receipt(
        &self,
        request: Request<pb::GetReceiptRequest>,
    ) -> Result<Response<pb::GetReceiptResponse>, Status> {
        let auth = self
            .auth
            .check(request.into_inner().signed, "GetReceipt", &Role::ALL)?;
        let pb::command::Kind::GetReceipt(c) = &auth.command else {
            return Err(Status::internal(
                "command kind changed after authentication",
            ));
        };
        let target = c.target.as_ref().ok_or_else(|| {
            Status::invalid_argument(
                "name the entry to prove: index, subscription_id, holding or payment",
            )
        })?;
        let index = self.locate(target, &auth.caller)?;
        let bytes = self.read_entry(index)?;
        if auth.caller.role == Role::Bank && !self.entry_belongs_to(&bytes, &auth.caller)? {
            return Err(Status::permission_denied(format!(
                "entry {index} is not about {}'s clients; banks get receipts only for their own",
                auth.caller.participant_id
            )));
        }
        // The published checkpoint always covers the published size.
        let (checkpoint, tree_size) = self.ledger.read(|p| (p.checkpoint.clone(), p.size()));
        let nodes = self.ledger.nodes();
        let proof = merkle::inclusion_proof(index, tree_size, &nodes).map_err(proof_status)?;
        let identity = self.ledger.identity();
        Ok(Response::new(pb::GetReceiptResponse {
            receipt: Some(pb::EntryReceipt {
                origin: identity.origin.clone(),
                ledger_public_key: identity.ledger_public_key.0.to_vec(),
                index,
                entry: bytes,
                tree_size,
                inclusion_proof: proof.iter().map(|h| h.to_vec()).collect(),
                checkpoint,
            }),
        }))
    }
}

/// The (investor, bank) an issue or payment entry is about, when it holds exactly one item.
fn item_key(event: &pb::event::Kind) -> Option<(&str, &str)> {
    use pb::event::Kind;
    match event {
        Kind::HoldingsCreated(h) => match h.holdings.as_slice() {
            [one] => Some((one.investor_ref.as_str(), one.bank_id.as_str())),
            _ => None,
        },
        Kind::CouponPayments(p) => match p.payments.as_slice() {
            [one] => Some((one.investor_ref.as_str(), one.bank_id.as_str())),
            _ => None,
        },
        Kind::RedemptionPayments(p) => match p.payments.as_slice() {
            [one] => Some((one.investor_ref.as_str(), one.bank_id.as_str())),
            _ => None,
        },
        _ => None,
    }
}

fn event_of(bytes: &[u8]) -> Result<pb::event::Kind, Status> {
    crate::ledger::entry::open(bytes)
        .map_err(|e| Status::internal(format!("stored entry does not open: {e}")))?
        .body
        .event
        .and_then(|e| e.kind)
        .ok_or_else(|| Status::internal("stored entry has no event"))
}

impl Ctx {
    fn read_entry(&self, index: u64) -> Result<Vec<u8>, Status> {
        self.ledger
            .entry(index)
            .map_err(|e| super::status::store(&e))?
            .ok_or_else(|| {
                Status::not_found(format!(
                    "entry {index} does not exist; the ledger has {} entries",
                    self.ledger.size()
                ))
            })
    }

    /// The custodian bank a holding or payment is named by: a bank names its own
    /// (or leaves it empty); others must say which.
    fn bank_for(&self, bank_id: &str, caller: &Caller) -> Result<ParticipantId, Status> {
        let bad = |e: crate::registry::RegistryError| super::status::registry(&e);
        if caller.role == Role::Bank {
            if !bank_id.is_empty() && bank_id != caller.participant_id.as_str() {
                return Err(Status::permission_denied(format!(
                    "{} gets receipts only for its own clients, not those at {}",
                    caller.participant_id,
                    super::status::quote(bank_id)
                )));
            }
            Ok(caller.participant_id.clone())
        } else {
            ParticipantId::parse("bank_id", bank_id).map_err(bad)
        }
    }

    /// Finds the index of the entry a receipt is asked for.
    fn locate(&self, target: &pb::get_receipt::Target, caller: &Caller) -> Result<u64, Status> {
        use pb::get_receipt::Target;
        let bad = |e: crate::registry::RegistryError| super::status::registry(&e);
        match target {
            Target::Index(i) => Ok(*i),
            Target::SubscriptionId(id) => {
                let bank = self.ledger.read(|p| {
                    p.state
                        .subscription(*id)
                        .map(|s| s.bank_id.clone())
                        .ok_or_else(|| {
                            Status::not_found(format!("subscription {id} does not exist"))
                        })
                })?;
                if caller.role == Role::Bank && bank != caller.participant_id {
                    return Err(Status::permission_denied(format!(
                        "subscription {id} was submitted by another bank; banks get receipts only for their own"
                    )));
                }
                Ok(*id)
            }
            Target::Holding(h) => {
                let series = crate::codec::bonds::series_id_from_pb(&h.series_id).map_err(bad)?;
                let investor =
                    InvestorRef::parse("holding.investor_ref", &h.investor_ref).map_err(bad)?;
                let bank = self.bank_for(&h.bank_id, caller)?;
                let issued = self.ledger.read(|p| {
                    let s = p.state.series(&series).ok_or_else(|| {
                        Status::not_found(format!("series {series} does not exist"))
                    })?;
                    s.issued_at_index.ok_or_else(|| {
                        Status::failed_precondition(format!(
                            "series {series} is not issued: it has no holdings yet"
                        ))
                    })
                })?;
                let count = match event_of(&self.read_entry(issued)?)? {
                    pb::event::Kind::SeriesIssued(e) => e.holdings,
                    _ => {
                        return Err(Status::internal(format!(
                            "entry {issued} is not the issue of {series}"
                        )));
                    }
                };
                self.search(issued + 1, count, investor.as_str(), bank.as_str())?
                    .ok_or_else(|| {
                        Status::not_found(format!("{investor} holds no {series} through {bank}"))
                    })
            }
            Target::Payment(pay) => {
                let investor =
                    InvestorRef::parse("payment.investor_ref", &pay.investor_ref).map_err(bad)?;
                let bank = self.bank_for(&pay.bank_id, caller)?;
                let posted = self
                    .ledger
                    .read(|p| p.state.posted(&pay.event_id))
                    .ok_or_else(|| {
                        Status::not_found(format!(
                            "accrual event {} has not been posted",
                            super::status::quote(&pay.event_id)
                        ))
                    })?;
                let count = match event_of(&self.read_entry(posted)?)? {
                    pb::event::Kind::CouponPaid(e) => e.holdings,
                    pb::event::Kind::Redeemed(e) => e.holdings,
                    _ => {
                        return Err(Status::invalid_argument(format!(
                            "event {:?} pays nothing (a record date); name a coupon or a redemption",
                            pay.event_id
                        )));
                    }
                };
                self.search(posted + 1, count, investor.as_str(), bank.as_str())?
                    .ok_or_else(|| {
                        Status::not_found(format!(
                            "{} paid nothing to {investor} through {bank}",
                            pay.event_id
                        ))
                    })
            }
        }
    }

    /// Binary search over `count` one-item entries from `start`, which the state
    /// machine writes in (investor, bank) order.
    fn search(
        &self,
        start: u64,
        count: u64,
        investor: &str,
        bank: &str,
    ) -> Result<Option<u64>, Status> {
        let (mut lo, mut hi) = (start, start + count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let kind = event_of(&self.read_entry(mid)?)?;
            let key = item_key(&kind).ok_or_else(|| {
                Status::internal(format!("entry {mid} is not a one-holding entry"))
            })?;
            match key.cmp(&(investor, bank)) {
                std::cmp::Ordering::Equal => return Ok(Some(mid)),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Ok(None)
    }

    /// Whether a bank may read the entry: it requested it (directly, or the entry
    /// derives from one of its requests), or the entry is about its clients only
    /// (a holding, a payment, an allotment or refund of its subscriptions).
    fn entry_belongs_to(&self, bytes: &[u8], caller: &Caller) -> Result<bool, Status> {
        use pb::event::Kind;
        let opened =
            crate::ledger::entry::open(bytes).map_err(|e| Status::internal(e.to_string()))?;
        let mine = |bank: &str| bank == caller.participant_id.as_str();
        let subscriptions_mine = |ids: &mut dyn Iterator<Item = u64>| {
            self.ledger.read(|p| {
                let mut any = false;
                for id in ids {
                    any = true;
                    match p.state.subscription(id) {
                        Some(s) if s.bank_id == caller.participant_id => {}
                        _ => return false,
                    }
                }
                any
            })
        };
        if let Some(kind) = opened.body.event.as_ref().and_then(|e| e.kind.as_ref()) {
            let about_clients = match kind {
                Kind::HoldingsCreated(h) => {
                    Some(!h.holdings.is_empty() && h.holdings.iter().all(|x| mine(&x.bank_id)))
                }
                Kind::CouponPayments(x) => {
                    Some(!x.payments.is_empty() && x.payments.iter().all(|x| mine(&x.bank_id)))
                }
                Kind::RedemptionPayments(x) => {
                    Some(!x.payments.is_empty() && x.payments.iter().all(|x| mine(&x.bank_id)))
                }
                Kind::SubscriptionsAllotted(a) => Some(subscriptions_mine(
                    &mut a.allotments.iter().map(|x| x.subscription_id),
                )),
                Kind::SubscriptionsRefunded(r) => Some(subscriptions_mine(
                    &mut r.refunds.iter().map(|x| x.subscription_id),
                )),
                Kind::UnsettledReleased(r) => Some(subscriptions_mine(
                    &mut r.released.iter().map(|x| x.subscription_id),
                )),
                _ => None,
            };
            if let Some(answer) = about_clients {
                return Ok(answer);
            }
        }
        let actor = match opened.body.actor {
            Some(a) => a,
            None => {
                let cause = self.read_entry(opened.body.cause_index)?;
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
