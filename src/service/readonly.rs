//! The write refusal of a server that holds a copy of another's ledger (a
//! mirror): a tower layer that answers every write RPC (the rows of
//! [`rpc::WRITES`] and `SubmitBatch`) with FAILED_PRECONDITION naming the ledger
//! it mirrors, before anything is decoded or authenticated. Reads pass through
//! to the same handlers as on the server, with the same authorization.
//!
//! Invariant: a write RPC never reaches a handler of a read-only server, so
//! nothing a caller sends there is queued, checked or recorded.

use super::error::ReadOnlyError;
use super::rpc::{self, RpcCommand};
use crate::proto as pb;
use http::{Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Whether the gRPC method at `path` (`/package.Service/Method`) writes.
pub fn is_write(path: &str) -> bool {
    let method = path.rsplit('/').next().unwrap_or("");
    rpc::write_roles(method).is_some() || method == pb::SubmitBatch::RPC
}

/// Refuses writes when `mirror_of` names a source; passes everything through
/// otherwise (a server's own ledger).
#[derive(Clone, Debug, Default)]
pub struct ReadOnlyLayer {
    pub mirror_of: Option<Arc<str>>,
}

impl<S> tower::Layer<S> for ReadOnlyLayer {
    type Service = ReadOnly<S>;
    fn layer(&self, inner: S) -> ReadOnly<S> {
        ReadOnly {
            inner,
            mirror_of: self.mirror_of.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ReadOnly<S> {
    inner: S,
    mirror_of: Option<Arc<str>>,
}

impl<S, B, R> tower::Service<Request<B>> for ReadOnly<S>
where
    S: tower::Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if let Some(source) = &self.mirror_of {
            let path = request.uri().path();
            if is_write(path) {
                let refusal = ReadOnlyError::Mirror {
                    rpc: path.rsplit('/').next().unwrap_or(path).to_string(),
                    mirror_of: source.to_string(),
                };
                let response = tonic::Status::from(refusal).into_http::<R>();
                return Box::pin(async move { Ok(response) });
            }
        }
        // The clone that was polled ready serves this call (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move { inner.call(request).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_write_and_the_batch_are_writes_and_no_read_is() {
        for (rpc, _) in rpc::WRITES {
            assert!(
                is_write(&format!("/diaspora.bonds.v1.AnyService/{rpc}")),
                "{rpc}"
            );
        }
        assert!(is_write("/diaspora.bonds.v1.BatchService/SubmitBatch"));
        for read in [
            "GetLedgerInfo",
            "GetEntry",
            "StreamEntries",
            "GetCheckpoint",
            "GetConsistencyProof",
            "GetReceipt",
            "ListHolders",
            "Schedule",
            "ListParticipants",
        ] {
            assert!(
                !is_write(&format!("/diaspora.bonds.v1.AnyService/{read}")),
                "{read}"
            );
        }
        assert!(!is_write("/grpc.health.v1.Health/Check"));
        assert!(!is_write(""));
    }
}
