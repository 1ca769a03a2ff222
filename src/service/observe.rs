//! Request observation: a tower layer that times every gRPC call and records it
//! in the metrics by method and status code, and the Prometheus endpoint.

use http::{Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

/// Records every request's method, status code and latency.
#[derive(Clone, Copy, Debug, Default)]
pub struct ObserveLayer;

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner }
    }
}

#[derive(Clone, Debug)]
pub struct Observe<S> {
    inner: S,
}

/// The status code name of a response: gRPC errors carry `grpc-status` in the
/// headers (trailers-only responses); success carries it in the trailers, after
/// the body, so a response without it in the headers counts as OK.
fn code_name<B>(response: &Response<B>) -> String {
    response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<i32>().ok())
        .map(|c| format!("{:?}", tonic::Code::from_i32(c)))
        .unwrap_or_else(|| "Ok".into())
}

impl<S, B, R> tower::Service<Request<B>> for Observe<S>
where
    S: tower::Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone that was polled ready serves this call (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let method = request.uri().path().to_string();
        let started = Instant::now();
        Box::pin(async move {
            let result = inner.call(request).await;
            let code = match &result {
                Ok(response) => code_name(response),
                Err(_) => "Transport".into(),
            };
            let took = started.elapsed();
            crate::metrics::global().record_request(&method, &code, took);
            tracing::debug!(%method, %code, micros = took.as_micros() as u64, "request");
            result
        })
    }
}

/// Serves `GET /metrics` (Prometheus text format) on `listener` until `shutdown`.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    ledger: crate::store::Ledger,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => return,
        };
        let Ok((mut socket, _)) = accepted else {
            continue;
        };
        let ledger = ledger.clone();
        tokio::spawn(async move {
            // Read the request head (up to a blank line or 2 KiB).
            let mut buf = [0u8; 2048];
            let mut n = 0;
            while n < buf.len() && !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                match tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    socket.read(&mut buf[n..]),
                )
                .await
                {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                    Ok(Ok(m)) => n += m,
                }
            }
            let head = String::from_utf8_lossy(&buf[..n]);
            let (status, body) = if head.starts_with("GET /metrics") {
                ("200 OK", crate::metrics::global().render(ledger.size()))
            } else {
                (
                    "404 Not Found",
                    "only GET /metrics is served here\n".to_string(),
                )
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        });
    }
}
