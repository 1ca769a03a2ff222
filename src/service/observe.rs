//! Request observation: a tower layer that times every gRPC call and records it
//! in the server's metrics by method and status code, and the Prometheus
//! endpoint (hyper, HTTP/1.1).

use crate::metrics::Metrics;
use http::{Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Records every request's method, status code and latency into `metrics` (when
/// the server keeps metrics), and rewrites a too-large refusal's code.
#[derive(Clone, Debug, Default)]
pub struct ObserveLayer {
    pub metrics: Option<Arc<Metrics>>,
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Observe<S> {
    inner: S,
    metrics: Option<Arc<Metrics>>,
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

/// tonic refuses a message over the size limit with OUT_OF_RANGE ("decoded message
/// length too large"); gRPC's own servers, and clients' retry and alerting rules,
/// expect RESOURCE_EXHAUSTED for that. The refusal is a trailers-only response, so
/// its status is in the headers and is rewritten there, with tonic's detail kept.
fn too_large_is_resource_exhausted<B>(response: &mut Response<B>) {
    let headers = response.headers_mut();
    let out_of_range = headers
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == b"11");
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode)
        .unwrap_or_default();
    if !(out_of_range && message.contains("message length too large")) {
        return;
    }
    let clear = format!(
        "the message is larger than this server accepts (the limit is message_bytes_max): {}",
        message.trim_start_matches("Error, ")
    );
    // Printable ASCII without '%' needs no percent-encoding in grpc-message.
    let clear: String = clear
        .chars()
        .map(|c| {
            if (' '..='~').contains(&c) && c != '%' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if let Ok(value) = http::HeaderValue::from_str(&clear) {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
        headers.insert("grpc-message", value);
    }
}

/// Decodes a percent-encoded grpc-message (RFC 3986 style, as gRPC sends it).
fn percent_decode(m: &str) -> String {
    let bytes = m.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(b) = escaped {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
        let metrics = self.metrics.clone();
        let started = Instant::now();
        Box::pin(async move {
            let mut result = inner.call(request).await;
            if let Ok(response) = &mut result {
                too_large_is_resource_exhausted(response);
            }
            let code = match &result {
                Ok(response) => code_name(response),
                Err(_) => "Transport".into(),
            };
            let took = started.elapsed();
            if let Some(metrics) = &metrics {
                metrics.record_request(&method, &code, took);
            }
            tracing::debug!(%method, %code, micros = took.as_micros() as u64, "request");
            result
        })
    }
}

/// How long a scraper may take to send its request head.
const METRICS_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The ledger's size as of now, read when metrics are scraped.
pub type LedgerSize = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Serves `GET /metrics` (Prometheus text format) on `listener` until `shutdown`:
/// HTTP/1.1, one request per connection. `ledger_size` gives the ledger's size
/// at each scrape.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    ledger_size: LedgerSize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => return,
        };
        let Ok((socket, _)) = accepted else {
            continue;
        };
        let (metrics, ledger_size) = (metrics.clone(), ledger_size.clone());
        let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
            let response = metrics_response(&request, &metrics, &*ledger_size);
            async move { Ok::<_, std::convert::Infallible>(response) }
        });
        tokio::spawn(async move {
            let served = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(METRICS_HEADER_READ_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(socket), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "metrics connection");
            }
        });
    }
}

fn metrics_response<B>(
    request: &Request<B>,
    metrics: &Metrics,
    ledger_size: &(dyn Fn() -> u64 + Send + Sync),
) -> Response<http_body_util::Full<bytes::Bytes>> {
    let (status, content_type, body) =
        if request.method() == http::Method::GET && request.uri().path() == "/metrics" {
            (
                http::StatusCode::OK,
                crate::metrics::CONTENT_TYPE,
                metrics.render(ledger_size()),
            )
        } else {
            (
                http::StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "only GET /metrics is served here\n".to_string(),
            )
        };
    let mut response = Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}
