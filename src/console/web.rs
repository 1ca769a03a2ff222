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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::{Identity, LedgerIdentity, TestHooks, feed};
    use crate::registry::Role;
    use axum::body::Body;
    use tower::ServiceExt;

    /// A console's handlers over a channel to nowhere: enough for the pages and
    /// `/api/me`, which ask the server nothing.
    fn app(exposure: Exposure) -> Router {
        let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        let key = crate::ledger::keys::generate();
        let ledger_key = crate::ledger::keys::generate().verifying_key();
        let ctx = Arc::new(Ctx {
            client: crate::client::Client::with_channel(channel, key, "test.example/dbond".into()),
            feed: feed::Feed::new(true, ledger_key),
            me: Identity {
                participant_id: "auditor".into(),
                role: Role::Auditor,
                display_name: "Auditor".into(),
                key_id: "0011223344556677".into(),
            },
            ledger: LedgerIdentity {
                origin: "test.example/dbond".into(),
                key_name: "test.example/dbond".into(),
                public_key_hex: hex::encode(ledger_key.as_bytes()),
            },
            pinned_ledger_key_hex: None,
            clock: Arc::new(crate::clock::SystemClock),
            hooks: TestHooks::default(),
            bank_cache: std::sync::Mutex::new(None),
        });
        router(ctx, exposure)
    }

    async fn get(app: &Router, uri: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = axum::http::Request::builder().uri(uri);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        app.clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    async fn body(r: Response) -> String {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn a_network_console_answers_only_with_its_token() {
        let token = access::AccessToken::generate();
        let good = token.as_str().to_string();
        let app = app(Exposure::Network(token));

        let r = get(&app, "/api/me", &[("host", "console.example")]).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        let text = body(r).await;
        assert!(text.contains("carries no access token"), "{text}");
        assert!(!text.contains(&good));

        let bearer = format!("Bearer {good}");
        let r = get(&app, "/api/me", &[("authorization", &bearer)]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let me: serde_json::Value = serde_json::from_str(&body(r).await).unwrap();
        assert_eq!(me["role"], "auditor");
        assert_eq!(me["pages"], serde_json::json!(["treasury", "auditor"]));

        let r = get(&app, &format!("/?token={good}"), &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[header::LOCATION], "/");
        let cookie = r.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("Secure"),
            "{cookie}"
        );
        let cookie = cookie.split(';').next().unwrap().to_string();
        let r = get(&app, "/assets/app.js", &[("cookie", &cookie)]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );

        let r = get(&app, "/api/me", &[("authorization", "Bearer 1234")]).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn a_loopback_console_refuses_other_names_and_serves_its_pages() {
        let app = app(Exposure::Loopback);
        let r = get(&app, "/api/me", &[("host", "rebound.example:8080")]).await;
        assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
        assert!(body(r).await.contains("rebound.example:8080"));

        let r = get(&app, "/", &[("host", "127.0.0.1:8080")]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert!(
            body(r)
                .await
                .contains("<script type=\"module\" src=\"/assets/app.js\">")
        );
        for (name, _, _) in ASSETS {
            let r = get(&app, &format!("/assets/{name}"), &[("host", "localhost")]).await;
            assert_eq!(r.status(), StatusCode::OK, "{name}");
        }
        let r = get(&app, "/assets/../Cargo.toml", &[("host", "localhost")]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = get(&app, "/api/entry/x", &[("host", "localhost")]).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(body(r).await.contains("whole number"));
        let r = get(&app, "/api/bank", &[("host", "localhost")]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(
            body(r)
                .await
                .contains("this console acts as auditor (auditor)")
        );
        let r = get(&app, "/api/proof", &[("host", "localhost")]).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(body(r).await.contains("?index=N or ?subscription=ID"));
    }
}
