//! BatchService: many signed writes in one call. Each request is checked exactly as
//! its own RPC checks it (key, signature, freshness, nonce, role) and becomes the
//! same entries; a batch shares round trips and group commits, never outcomes: one
//! result per request, in order, and a refused request writes nothing.

use super::{Ctx, receipt, status};
use crate::codec;
use crate::limits;
use crate::proto as pb;
use crate::registry::Role;
use crate::store::{Committed, WriteRequest};
use tonic::{Request, Response, Status};

/// Requests one task checks (signatures and all) before it yields: enough to pay
/// for the task, few enough (about half a millisecond of work) not to hold a
/// runtime thread from other connections for long. The chunks of a batch run on
/// every runtime thread at once.
const CHECK_CHUNK: usize = 16;

#[tonic::async_trait]
impl pb::batch_service_server::BatchService for Ctx {
    async fn submit_batch(
        &self,
        request: Request<pb::SubmitBatchRequest>,
    ) -> Result<Response<pb::SubmitBatchResponse>, Status> {
        let pb::SubmitBatchRequest { signed, requests } = request.into_inner();
        // The envelope first: an unknown caller costs one signature check, not a
        // thousand.
        let envelope = self.auth.check(signed, "SubmitBatch", &Role::ALL)?;
        let pb::command::Kind::SubmitBatch(c) = &envelope.command else {
            return Err(Status::internal(
                "command kind changed after authentication",
            ));
        };
        if requests.len() > limits::BATCH_REQUESTS_MAX {
            return Err(Status::invalid_argument(format!(
                "the batch has {} requests; the limit is {} (send several batches)",
                requests.len(),
                limits::BATCH_REQUESTS_MAX
            )));
        }
        if c.request_count as usize != requests.len() {
            return Err(Status::invalid_argument(format!(
                "the signed envelope says {} requests, the batch carries {}",
                c.request_count,
                requests.len()
            )));
        }
        let count = requests.len();
        let mut checks = Vec::with_capacity(count.div_ceil(CHECK_CHUNK));
        let mut requests = requests.into_iter();
        loop {
            let chunk: Vec<pb::SignedRequest> = requests.by_ref().take(CHECK_CHUNK).collect();
            if chunk.is_empty() {
                break;
            }
            let ctx = self.clone();
            checks.push(tokio::spawn(async move {
                let verified = ctx.auth.verify_ahead(&chunk);
                chunk
                    .into_iter()
                    .zip(verified)
                    .map(|(signed, verified)| ctx.admit(signed, verified))
                    .collect::<Vec<_>>()
            }));
        }
        // Admitted requests go to the writer together, in the batch's order; the
        // slots of refused ones keep their refusal.
        let mut results: Vec<Option<Result<Committed, Status>>> = Vec::with_capacity(count);
        let mut admitted = Vec::new();
        for check in checks {
            let chunk = check
                .await
                .map_err(|e| Status::internal(format!("checking the batch failed: {e}")))?;
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
        let mut written = self.ledger.write_many(admitted).await.into_iter();
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
                        .map_err(|e| status::write(&e)),
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

impl Ctx {
    /// Checks one request of a batch and turns it into a write.
    fn admit(
        &self,
        signed: pb::SignedRequest,
        verified: Option<bool>,
    ) -> Result<WriteRequest, Status> {
        let auth = self.auth.check_batched(signed, verified)?;
        let command = codec::command_from_kind(&auth.command).map_err(|e| status::registry(&e))?;
        Ok(super::participants::write_request(auth, command))
    }
}
