//! HoldingsService: registration forms, transfers and gifts, death notices and
//! early redemption. Each write is decided by the registry (which checks who
//! may act on which holding) and answered, once durable, with its receipt and
//! the records it changed as they stand after it.

use super::error::ReadError;
use super::{Services, receipt};
use crate::codec::bonds as cb;
use crate::codec::holdings as ch;
use crate::proto as pb;
use crate::registry::{Event, InvestorRef, ParticipantId, Role, SeriesId, State};
use tonic::{Request, Response, Status};

/// The holding (series, investor, bank), if it exists.
fn holding_view(state: &State, series: &str, investor: &str, bank: &str) -> Option<pb::Holding> {
    let series = SeriesId::parse("series_id", series).ok()?;
    let investor = InvestorRef::parse("investor_ref", investor).ok()?;
    let bank = ParticipantId::parse("bank_id", bank).ok()?;
    state
        .investor_holdings(&bank, &investor)
        .find(|h| h.series_id == series)
        .map(cb::holding_to_pb)
}

impl Services {
    /// The event of entry `index`, as recorded.
    fn recorded_event(&self, index: u64) -> Result<pb::event::Kind, Status> {
        let inconsistent = |reason: String| ReadError::Inconsistent { reason };
        let bytes = self
            .ledger
            .entry(index)?
            .ok_or_else(|| inconsistent(format!("entry {index} is not stored")))?;
        crate::ledger::entry::open(&bytes)
            .map_err(|e| inconsistent(format!("stored entry {index} does not open: {e}")))?
            .body
            .event
            .and_then(|e| e.kind)
            .ok_or_else(|| inconsistent(format!("stored entry {index} has no event")).into())
    }

    fn transfer_view(&self, id: u64) -> Option<pb::Transfer> {
        self.ledger
            .read(|p| p.state.transfer(id).map(ch::transfer_to_pb))
    }
}

#[tonic::async_trait]
impl pb::holdings_service_server::HoldingsService for Services {
    async fn change_registration(
        &self,
        r: Request<pb::ChangeRegistrationRequest>,
    ) -> Result<Response<pb::HoldingResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::ChangeRegistration>(r.into_inner().signed)?;
        let c = auth.command.clone();
        let bank = if c.bank_id.is_empty() {
            auth.caller.participant_id.to_string()
        } else {
            c.bank_id.clone()
        };
        let committed = self.write(auth).await?;
        let holding = self
            .ledger
            .read(|p| holding_view(&p.state, &c.series_id, &c.investor_ref, &bank));
        Ok(Response::new(pb::HoldingResponse {
            receipt: Some(receipt(&committed)),
            holding,
        }))
    }

    async fn request_transfer(
        &self,
        r: Request<pb::RequestTransferRequest>,
    ) -> Result<Response<pb::TransferResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::RequestTransfer>(r.into_inner().signed)?;
        let committed = self.write(auth).await?;
        Ok(Response::new(pb::TransferResponse {
            receipt: Some(receipt(&committed)),
            transfer: self.transfer_view(committed.first_index),
        }))
    }

    async fn confirm_transfer(
        &self,
        r: Request<pb::ConfirmTransferRequest>,
    ) -> Result<Response<pb::TransferResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::ConfirmTransfer>(r.into_inner().signed)?;
        let id = auth.command.transfer_id;
        let committed = self.write(auth).await?;
        Ok(Response::new(pb::TransferResponse {
            receipt: Some(receipt(&committed)),
            transfer: self.transfer_view(id),
        }))
    }

    async fn refuse_transfer(
        &self,
        r: Request<pb::RefuseTransferRequest>,
    ) -> Result<Response<pb::TransferResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::RefuseTransfer>(r.into_inner().signed)?;
        let id = auth.command.transfer_id;
        let committed = self.write(auth).await?;
        Ok(Response::new(pb::TransferResponse {
            receipt: Some(receipt(&committed)),
            transfer: self.transfer_view(id),
        }))
    }

    async fn file_death_notice(
        &self,
        r: Request<pb::FileDeathNoticeRequest>,
    ) -> Result<Response<pb::FileDeathNoticeResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::FileDeathNotice>(r.into_inner().signed)?;
        let committed = self.write(auth).await?;
        // The holdings the notice changed, from the entries that follow it.
        let changes = match self.recorded_event(committed.first_index)? {
            pb::event::Kind::DeathNoticeFiled(n) => n.changes,
            _ => 0,
        };
        let mut keys: Vec<(String, String, String)> = Vec::new();
        for i in 1..=changes {
            match self.recorded_event(committed.first_index + i)? {
                pb::event::Kind::HoldingPassed(p) => {
                    keys.push((p.series_id.clone(), p.from_investor_ref, p.bank_id.clone()));
                    keys.push((p.series_id, p.to_investor_ref, p.bank_id));
                }
                pb::event::Kind::RegistrationChanged(c) => {
                    keys.push((c.series_id, c.investor_ref, c.bank_id));
                }
                _ => {}
            }
        }
        keys.sort();
        keys.dedup();
        let holdings = self.ledger.read(|p| {
            keys.iter()
                .filter_map(|(s, i, b)| holding_view(&p.state, s, i, b))
                .collect()
        });
        Ok(Response::new(pb::FileDeathNoticeResponse {
            receipt: Some(receipt(&committed)),
            holdings,
        }))
    }

    async fn redeem_early(
        &self,
        r: Request<pb::RedeemEarlyRequest>,
    ) -> Result<Response<pb::RedeemEarlyResponse>, Status> {
        let auth = self.auth.check::<pb::RedeemEarly>(r.into_inner().signed)?;
        let committed = self.write(auth).await?;
        // The recorded event, its amount at the currency's minor unit.
        let redemption = match self.recorded_event(committed.first_index)? {
            kind @ pb::event::Kind::EarlyRedeemed(_) => match ch::event_from_pb(&kind) {
                Some(Ok(Event::EarlyRedeemed(e))) => Some(ch::early_redeemed_view(&e)),
                _ => {
                    return Err(ReadError::Inconsistent {
                        reason: format!(
                            "stored entry {} does not read as an early redemption",
                            committed.first_index
                        ),
                    }
                    .into());
                }
            },
            _ => None,
        };
        let holding = redemption.as_ref().and_then(|e| {
            self.ledger
                .read(|p| holding_view(&p.state, &e.series_id, &e.investor_ref, &e.bank_id))
        });
        Ok(Response::new(pb::RedeemEarlyResponse {
            receipt: Some(receipt(&committed)),
            redemption,
            holding,
        }))
    }

    async fn list_transfers(
        &self,
        r: Request<pb::ListTransfersRequest>,
    ) -> Result<Response<pb::ListTransfersResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::ListTransfers>(r.into_inner().signed)?;
        let c = &auth.command;
        let series = if c.series_id.is_empty() {
            None
        } else {
            Some(cb::series_id_from_pb(&c.series_id)?)
        };
        // A bank sees the transfers it is a side of; the overseers see all.
        let me = (auth.caller.role == Role::Bank).then(|| auth.caller.participant_id.clone());
        let transfers = self.ledger.read(|p| {
            p.state
                .transfers()
                .filter(|t| series.as_ref().is_none_or(|s| &t.series_id == s))
                .filter(|t| !c.pending_only || t.status == crate::registry::TransferStatus::Pending)
                .filter(|t| {
                    me.as_ref()
                        .is_none_or(|b| &t.from_bank == b || &t.to_bank == b)
                })
                .map(ch::transfer_to_pb)
                .collect()
        });
        Ok(Response::new(pb::ListTransfersResponse { transfers }))
    }
}
