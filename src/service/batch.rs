//! BatchService: many signed writes in one call. Each request is checked exactly as
//! its own RPC checks it (key, signature, freshness, nonce, role) and becomes the
//! same entries; a batch shares round trips and group commits, never outcomes: one
//! result per request, in order, and a refused request writes nothing.

use super::error::BatchError;
use super::{Services, receipt, status};
use crate::limits;
use crate::proto as pb;
use crate::store::{Committed, WriteRequest};
use tonic::{Request, Response, Status};

/// Requests one task checks (signatures and all) before it yields: enough to pay
/// for the task, few enough not to hold a runtime thread from other connections
/// for long. The chunks of a batch run on every runtime thread at once.
const CHECK_CHUNK: usize = 16;

#[tonic::async_trait]
impl pb::batch_service_server::BatchService for Services {
    async fn submit_batch(
        &self,
        request: Request<pb::SubmitBatchRequest>,
    ) -> Result<Response<pb::SubmitBatchResponse>, Status> {
        let pb::SubmitBatchRequest { signed, requests } = request.into_inner();
        // The envelope first: an unknown caller costs one signature check, not a
        // thousand.
        let envelope = self.auth.check::<pb::SubmitBatch>(signed)?;
        if requests.len() > limits::BATCH_REQUESTS_MAX {
            return Err(BatchError::TooManyRequests {
                count: requests.len(),
            }
            .into());
        }
        if envelope.command.request_count as usize != requests.len() {
            return Err(BatchError::CountMismatch {
                signed: envelope.command.request_count,
                carried: requests.len(),
            }
            .into());
        }
        let count = requests.len();
        let mut checks = Vec::with_capacity(count.div_ceil(CHECK_CHUNK));
        let mut requests = requests.into_iter();
        loop {
            let chunk: Vec<pb::SignedRequest> = requests.by_ref().take(CHECK_CHUNK).collect();
            if chunk.is_empty() {
                break;
            }
            let services = self.clone();
            checks.push(tokio::spawn(async move {
                let verified = services.auth.verify_ahead(&chunk);
                chunk
                    .into_iter()
                    .zip(verified)
                    .map(|(signed, verified)| services.admit(signed, verified))
                    .collect::<Vec<_>>()
            }));
        }
        // Admitted requests go to the writer together, in the batch's order; the
        // slots of refused ones keep their refusal.
        let mut results: Vec<Option<Result<Committed, Status>>> = Vec::with_capacity(count);
        let mut admitted = Vec::new();
        for check in checks {
            let chunk = check.await.map_err(|e| BatchError::CheckFailed {
                reason: e.to_string(),
            })?;
            for outcome in chunk {
                match outcome {
                    Ok(request) => {
                        admitted.push(request);
                        results.push(None);
                    }
                    Err(refused) => results.push(Some(Err(refused))),
                }
            }
        }
        let refused = count - admitted.len();
        // The envelope's arrival covers the batch's requests until they are queued.
        let mut written = self
            .ledger
            .write_many_arrived(admitted, envelope.arrival)
            .await
            .into_iter();
        let results: Vec<pb::BatchResult> = results
            .into_iter()
            .map(|slot| {
                let outcome = match slot {
                    Some(refused) => refused,
                    None => written
                        .next()
                        .unwrap_or_else(|| {
                            Err(crate::store::WriteError::Unavailable(
                                "the writer answered fewer requests than it was given".into(),
                            ))
                        })
                        .map_err(Status::from),
                };
                pb::BatchResult {
                    outcome: Some(match outcome {
                        Ok(committed) => pb::batch_result::Outcome::Receipt(receipt(&committed)),
                        Err(status) => pb::batch_result::Outcome::Error(pb::BatchError {
                            code: status.code() as i32,
                            code_name: status::code_name(status.code()).into(),
                            message: status.message().into(),
                        }),
                    }),
                }
            })
            .collect();
        tracing::info!(
            participant = %envelope.caller.participant_id,
            requests = count,
            refused,
            "batch"
        );
        Ok(Response::new(pb::SubmitBatchResponse { results }))
    }
}

impl Services {
    /// Checks one request of a batch and turns it into a write.
    fn admit(
        &self,
        signed: pb::SignedRequest,
        verified: Option<bool>,
    ) -> Result<WriteRequest, Status> {
        let auth = self.auth.check_batched(signed, verified)?;
        Ok(super::participants::write_request(auth)?)
    }
}
