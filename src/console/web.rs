//! The console's HTTP side: the embedded page and its assets, the JSON views, and
//! the event stream that tells pages the ledger changed. Every request passes the
//! access guard first; every response carries headers that keep the page to its
//! own origin (no inline script, no framing, no referrer).

use super::Ctx;
use super::access::{self, Exposure, Verdict};
use super::views::{self, ApiError, ProofTarget};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::convert::Infallible;
use std::sync::Arc;
use tokio_stream::StreamExt;

/// The page and its assets, compiled into the binary: the console works with no
/// network beyond the ledger server.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("assets/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    (
        "verify.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/verify.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("assets/style.css"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/vendor/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_str!("assets/vendor/uPlot.min.css"),
    ),
];

const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn router(ctx: Arc<Ctx>, exposure: Exposure) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
        .route("/api/me", get(me))
        .route("/api/treasury", get(treasury))
        .route("/api/bank", get(bank))
        .route("/api/ledger", get(ledger))
        .route("/api/entries", get(entries))
        .route("/api/entry/{index}", get(entry))
        .route("/api/proof", get(proof))
        .route("/api/events", get(events))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::new(exposure), guard))
        .with_state(ctx)
}

/// The access check (`access::verdict`) and the headers every answer carries.
async fn guard(State(exposure): State<Arc<Exposure>>, request: Request, next: Next) -> Response {
    let mut response = match access::verdict(&exposure, request.headers(), request.uri()) {
        Verdict::Allow => next.run(request).await,
        Verdict::SetCookieAndRedirect { cookie, location } => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let (Ok(c), Ok(l)) = (
                HeaderValue::from_str(&cookie),
                HeaderValue::from_str(&location),
            ) {
                r.headers_mut().insert(header::SET_COOKIE, c);
                r.headers_mut().insert(header::LOCATION, l);
            }
            r
        }
        Verdict::Refuse { status, message } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{message}\n"),
        )
            .into_response(),
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: "no such page: the console serves /, /assets/* and /api/*".into(),
    }
}

fn serve_asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => {
            ([(header::CONTENT_TYPE, *content_type)], *body).into_response()
        }
        None => ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("no asset {name:?}"),
        }
        .into_response(),
    }
}

async fn index() -> Response {
    serve_asset("index.html")
}

async fn asset(Path(name): Path<String>) -> Response {
    serve_asset(&name)
}

async fn me(State(ctx): State<Arc<Ctx>>) -> Json<serde_json::Value> {
    Json(views::me(&ctx))
}

async fn treasury(State(ctx): State<Arc<Ctx>>) -> Result<Json<serde_json::Value>, ApiError> {
    views::treasury(&ctx).await.map(Json)
}

async fn bank(State(ctx): State<Arc<Ctx>>) -> Result<Json<serde_json::Value>, ApiError> {
    views::bank(&ctx).await.map(Json)
}

async fn ledger(State(ctx): State<Arc<Ctx>>) -> Json<serde_json::Value> {
    Json(views::ledger(&ctx))
}

#[derive(serde::Deserialize)]
struct EntriesQuery {
    before: Option<u64>,
    count: Option<u64>,
}

async fn entries(
    State(ctx): State<Arc<Ctx>>,
    Query(q): Query<EntriesQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    views::entries(&ctx, q.before, q.count).await.map(Json)
}

async fn entry(
    State(ctx): State<Arc<Ctx>>,
    Path(index): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let index: u64 = index.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "an entry index is a whole number from 0, found {index:?}"
        ))
    })?;
    views::entry(&ctx, index).await.map(Json)
}

#[derive(serde::Deserialize)]
struct ProofQuery {
    index: Option<String>,
    subscription: Option<String>,
}

async fn proof(
    State(ctx): State<Arc<Ctx>>,
    Query(q): Query<ProofQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let number = |what: &str, s: &str| {
        s.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("{what} is a whole number from 0, found {s:?}"))
        })
    };
    let target = match (&q.index, &q.subscription) {
        (Some(i), None) => ProofTarget::Index(number("index", i)?),
        (None, Some(s)) => ProofTarget::Subscription(number("subscription", s)?),
        _ => {
            return Err(ApiError::bad_request(
                "name exactly one entry: ?index=N or ?subscription=ID",
            ));
        }
    };
    views::proof(&ctx, target).await.map(Json)
}

/// Server-sent events: a `pulse` (ledger size and any problem) now and on every
/// change the follower sees.
async fn events(
    State(ctx): State<Arc<Ctx>>,
) -> Sse<impl tokio_stream::Stream<Item = Result<Event, Infallible>>> {
    let pulses = tokio_stream::wrappers::WatchStream::new(ctx.feed.pulse.subscribe());
    let stream = pulses.map(|p| {
        Ok(Event::default()
            .event("pulse")
            .data(serde_json::to_string(&p).unwrap_or_else(|_| "{}".into())))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
