//! LedgerService: entries, checkpoints and proofs.

use super::Services;
use super::error::ReadError;
use crate::ledger::merkle;
use crate::limits;
use crate::proto as pb;
use crate::registry::{Caller, InvestorRef, ParticipantId, Role};
use std::pin::Pin;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

type EntryStream = Pin<Box<dyn Stream<Item = Result<pb::StreamEntriesResponse, Status>> + Send>>;

/// Stored bytes that disagree with what the ledger wrote.
fn inconsistent(reason: impl Into<String>) -> ReadError {
    ReadError::Inconsistent {
        reason: reason.into(),
    }
}

#[tonic::async_trait]
impl pb::ledger_service_server::LedgerService for Services {
    async fn get_ledger_info(
        &self,
        _request: Request<pb::GetLedgerInfoRequest>,
    ) -> Result<Response<pb::GetLedgerInfoResponse>, Status> {
        let identity = self.ledger.identity();
        let terms = self.ledger.read(|p| p.state.ledger_key_terms());
        // Each key's hand-over or replacement entry, and for a replacement the
        // entry that set the recovery quorum that approved it, in index order.
        let indexes: std::collections::BTreeSet<u64> = terms
            .iter()
            .skip(1)
            .flat_map(|t| [Some(t.from_index.saturating_sub(1)), t.quorum_entry])
            .flatten()
            .collect();
        let handover_entries = indexes
            .into_iter()
            .map(|i| self.read_entry(i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Response::new(pb::GetLedgerInfoResponse {
            handover_entries,
            origin: identity.origin.clone(),
            ledger_public_key: identity.ledger_public_key.0.to_vec(),
            format_version: identity.format_version,
            tree_size: self.ledger.size(),
            checkpoint_key_name: crate::store::checkpoint_key_name(identity).to_string(),
            simulated_clock: identity.simulated_clock,
            now: Some(crate::codec::timestamp_to_pb(self.clock.now())),
        }))
    }

    async fn get_entry(
        &self,
        request: Request<pb::GetEntryRequest>,
    ) -> Result<Response<pb::GetEntryResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::GetEntry>(request.into_inner().signed)?;
        let index = auth.command.index;
        let bytes = self.read_entry(index)?;
        if auth.caller.role == Role::Bank && !self.entry_belongs_to(&bytes, &auth.caller)? {
            return Err(ReadError::EntryOfAnotherBank {
                index,
                bank: auth.caller.participant_id.to_string(),
            }
            .into());
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
        let c = self
            .auth
            .check::<pb::StreamEntries>(request.into_inner().signed)?
            .command;
        let size = self.ledger.size();
        let end = if c.end == 0 { size } else { c.end };
        if c.start > end || end > size {
            return Err(ReadError::RangeOutsideLedger {
                start: c.start,
                end,
                size,
            }
            .into());
        }
        if end - c.start > limits::STREAM_ENTRIES_PER_CALL_MAX {
            return Err(ReadError::RangeTooLong {
                start: c.start,
                end,
            }
            .into());
        }
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let ledger = self.ledger.clone();
        let start = c.start;
        tokio::task::spawn_blocking(move || {
            for item in ledger.entries(start, end) {
                let message = item
                    .map(|(index, entry)| pb::StreamEntriesResponse { index, entry })
                    .map_err(Status::from);
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
            .check::<pb::GetCheckpoint>(request.into_inner().signed)?;
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
        let c = self
            .auth
            .check::<pb::GetInclusionProof>(request.into_inner().signed)?
            .command;
        let size = self.ledger.size();
        let tree_size = if c.tree_size == 0 { size } else { c.tree_size };
        if tree_size > size {
            return Err(ReadError::TreeBeyondLedger { tree_size, size }.into());
        }
        if c.index >= tree_size {
            return Err(ReadError::IndexNotInTree {
                index: c.index,
                tree_size,
            }
            .into());
        }
        let nodes = self.ledger.nodes();
        let proof = merkle::inclusion_proof(c.index, tree_size, &nodes)?;
        let root = merkle::root_at(tree_size, &nodes)?;
        let leaf = merkle::NodeReader::node(&nodes, 0, c.index)?;
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
        let c = self
            .auth
            .check::<pb::GetConsistencyProof>(request.into_inner().signed)?
            .command;
        let size = self.ledger.size();
        let new_size = if c.new_size == 0 { size } else { c.new_size };
        if new_size > size {
            return Err(ReadError::TreeBeyondLedger {
                tree_size: new_size,
                size,
            }
            .into());
        }
        if c.old_size == 0 || c.old_size > new_size {
            return Err(ReadError::OldSizeOutOfRange {
                old_size: c.old_size,
                new_size,
            }
            .into());
        }
        let nodes = self.ledger.nodes();
        let proof = merkle::consistency_proof(c.old_size, new_size, &nodes)?;
        Ok(Response::new(pb::GetConsistencyProofResponse {
            old_size: c.old_size,
            new_size,
            proof: proof.iter().map(|h| h.to_vec()).collect(),
            old_root_hash: merkle::root_at(c.old_size, &nodes)?.to_vec(),
            new_root_hash: merkle::root_at(new_size, &nodes)?.to_vec(),
        }))
    }

    async fn get_receipt(
        &self,
        request: Request<pb::GetReceiptRequest>,
    ) -> Result<Response<pb::GetReceiptResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::GetReceipt>(request.into_inner().signed)?;
        let target = auth
            .command
            .target
            .as_ref()
            .ok_or(ReadError::NoReceiptTarget)?;
        let index = self.locate(target, &auth.caller)?;
        let bytes = self.read_entry(index)?;
        if auth.caller.role == Role::Bank && !self.entry_belongs_to(&bytes, &auth.caller)? {
            return Err(ReadError::ReceiptOfAnotherBank {
                index,
                bank: auth.caller.participant_id.to_string(),
            }
            .into());
        }
        // The published checkpoint always covers the published size.
        // Its key is the one that signs the checkpoint: the key in force at its size.
        let (checkpoint, tree_size, key) = self.ledger.read(|p| {
            (
                p.checkpoint.clone(),
                p.size(),
                p.state.ledger_key_in_force(),
            )
        });
        let nodes = self.ledger.nodes();
        let proof = merkle::inclusion_proof(index, tree_size, &nodes)?;
        let identity = self.ledger.identity();
        Ok(Response::new(pb::GetReceiptResponse {
            receipt: Some(pb::EntryReceipt {
                origin: identity.origin.clone(),
                ledger_public_key: key.unwrap_or(identity.ledger_public_key).0.to_vec(),
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

fn event_of(bytes: &[u8]) -> Result<pb::event::Kind, ReadError> {
    crate::ledger::entry::open(bytes)
        .map_err(|e| inconsistent(format!("stored entry does not open: {e}")))?
        .body
        .event
        .and_then(|e| e.kind)
        .ok_or_else(|| inconsistent("stored entry has no event"))
}

impl Services {
    fn read_entry(&self, index: u64) -> Result<Vec<u8>, Status> {
        Ok(self.ledger.entry(index)?.ok_or(ReadError::EntryNotFound {
            index,
            size: self.ledger.size(),
        })?)
    }

    /// The custodian bank a holding or payment is named by: a bank names its own
    /// (or leaves it empty); others must say which.
    fn bank_for(&self, bank_id: &str, caller: &Caller) -> Result<ParticipantId, Status> {
        if caller.role == Role::Bank {
            if !bank_id.is_empty() && bank_id != caller.participant_id.as_str() {
                return Err(ReadError::ReceiptForAnotherBanksClient {
                    bank: caller.participant_id.to_string(),
                    other: super::status::quote(bank_id),
                }
                .into());
            }
            Ok(caller.participant_id.clone())
        } else {
            Ok(ParticipantId::parse("bank_id", bank_id)?)
        }
    }

    /// Finds the index of the entry a receipt is asked for.
    fn locate(&self, target: &pb::get_receipt::Target, caller: &Caller) -> Result<u64, Status> {
        use pb::get_receipt::Target;
        match target {
            Target::Index(i) => Ok(*i),
            Target::SubscriptionId(id) => {
                let bank = self.ledger.read(|p| {
                    p.state.subscription(*id).map(|s| s.bank_id.clone()).ok_or(
                        ReadError::SubscriptionNotFound {
                            subscription_id: *id,
                        },
                    )
                })?;
                if caller.role == Role::Bank && bank != caller.participant_id {
                    return Err(ReadError::ReceiptForAnotherBanksSubscription {
                        subscription_id: *id,
                    }
                    .into());
                }
                Ok(*id)
            }
            Target::Holding(h) => {
                let series = crate::codec::bonds::series_id_from_pb(&h.series_id)?;
                let investor = InvestorRef::parse("holding.investor_ref", &h.investor_ref)?;
                let bank = self.bank_for(&h.bank_id, caller)?;
                let issued = self.ledger.read(|p| {
                    let s = p
                        .state
                        .series(&series)
                        .ok_or_else(|| ReadError::SeriesNotFound {
                            series_id: series.to_string(),
                        })?;
                    s.issued_at_index.ok_or_else(|| ReadError::SeriesNotIssued {
                        series_id: series.to_string(),
                    })
                })?;
                let count = match event_of(&self.read_entry(issued)?)? {
                    pb::event::Kind::SeriesIssued(e) => e.holdings,
                    _ => {
                        return Err(inconsistent(format!(
                            "entry {issued} is not the issue of {series}"
                        ))
                        .into());
                    }
                };
                let found = self.search(issued + 1, count, investor.as_str(), bank.as_str())?;
                Ok(found.ok_or_else(|| ReadError::NoHolding {
                    investor: investor.to_string(),
                    series_id: series.to_string(),
                    bank: bank.to_string(),
                })?)
            }
            Target::Payment(pay) => {
                let investor = InvestorRef::parse("payment.investor_ref", &pay.investor_ref)?;
                let bank = self.bank_for(&pay.bank_id, caller)?;
                let posted = self
                    .ledger
                    .read(|p| p.state.posted(&pay.event_id))
                    .ok_or_else(|| ReadError::EventNotPosted {
                        event_id: super::status::quote(&pay.event_id),
                    })?;
                let count = match event_of(&self.read_entry(posted)?)? {
                    pb::event::Kind::CouponPaid(e) => e.holdings,
                    pb::event::Kind::Redeemed(e) => e.holdings,
                    _ => {
                        return Err(ReadError::PaysNothing {
                            event_id: super::status::quote(&pay.event_id),
                        }
                        .into());
                    }
                };
                let found = self.search(posted + 1, count, investor.as_str(), bank.as_str())?;
                Ok(found.ok_or_else(|| ReadError::NothingPaid {
                    event_id: pay.event_id.clone(),
                    investor: investor.to_string(),
                    bank: bank.to_string(),
                })?)
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
            let key = item_key(&kind)
                .ok_or_else(|| inconsistent(format!("entry {mid} is not a one-holding entry")))?;
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
        let opened = crate::ledger::entry::open(bytes)
            .map_err(|e| inconsistent(format!("stored entry does not open: {e}")))?;
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
                Kind::TrancheHoldings(h) => {
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
                // A transfer is about the clients of the banks on both sides.
                Kind::TransferRequested(t) => Some(mine(&t.from_bank_id) || mine(&t.to_bank_id)),
                Kind::TransferConfirmed(t) => Some(mine(&t.from_bank_id) || mine(&t.to_bank_id)),
                Kind::TransferRefused(t) => Some(mine(&t.from_bank_id) || mine(&t.to_bank_id)),
                Kind::RegistrationChanged(x) => Some(mine(&x.bank_id)),
                Kind::DeathNoticeFiled(x) => Some(mine(&x.bank_id)),
                Kind::HoldingPassed(x) => Some(mine(&x.bank_id)),
                Kind::EarlyRedeemed(x) => Some(mine(&x.bank_id)),
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
                    .map_err(|e| inconsistent(format!("stored entry does not open: {e}")))?
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
