//! `lode-server`: the Lode ledger as an HTTP service (axum on tokio).
//!
//! - [`AppState`] holds the open store with its [`lode_projections::Ledger`] gate, the accepted
//!   [`auth::Tokens`], the [`metrics::Metrics`] and the [`Config`].
//! - [`router`] builds every route from one table ([`api`]), which also generates the OpenAPI
//!   document served at `/openapi.json`, so the document lists exactly the routes that exist.
//! - [`serve`] runs the service until a shutdown signal, then lets requests in flight finish,
//!   ends live subscriptions, and hands the store back to be closed.
//!
//! Appends go through the store's single writer like any other: the rules run there, so HTTP
//! writers race no differently from any other. Live subscriptions read the log themselves; the
//! writer only publishes its head, so a slow consumer slows no one else.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use lode_projections::Ledger;
//! use lode_store::{Options, Store};
//!
//! let ledger = Ledger::default();
//! let store = Store::open("lode-data".as_ref(), Options::default(), ledger.clone())?;
//! let tokens = lode_server::auth::Tokens::open("lode-data/tokens.json".into())?;
//! let state = Arc::new(lode_server::AppState::new(store, ledger, tokens, lode_server::Config::default()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7878").await?;
//! let store = lode_server::serve(listener, state, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! store.close()?;
//! # Ok(()) }
//! ```

pub mod api;
pub mod auth;
mod events;
pub mod metrics;
pub mod problem;
mod queries;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use lode_projections::Ledger;
use lode_query::checkpoint::SecretKey;
use lode_store::{Reader, Store};
use tokio::sync::{watch, Semaphore};
use tracing::Instrument;

pub use events::events_from_body;
pub use problem::Problem;

use auth::{Principal, Tokens};

/// The address `lode serve` binds unless told otherwise: loopback only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7878";

/// Named limits on what a client can make the server hold or do. Each refusal answers with its
/// own status and code (`docs/api.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body (413 `body_too_large`).
    pub body_bytes_max: usize,
    /// The most events in one `POST /v1/events` (413 `too_many_events`).
    pub request_events_max: usize,
    /// The most records one `GET /v1/events` answers with.
    pub page_events_max: usize,
    /// The most live subscriptions at once (503 `too_many_subscribers`).
    pub subscribers_max: usize,
    /// How long a request may take, its body included, before it is answered 408 `timeout`.
    /// Live subscriptions are exempt.
    pub request_timeout_ms: u64,
    /// The interval of the comment lines a subscription sends while no event comes.
    pub heartbeat_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes_max: 4 << 20,
            request_events_max: 1_000,
            page_events_max: 1_000,
            subscribers_max: 256,
            request_timeout_ms: 30_000,
            heartbeat_ms: 15_000,
        }
    }
}

/// How the server behaves.
#[derive(Debug, Default)]
pub struct Config {
    pub limits: Limits,
    /// Reads need no token.
    pub public_read: bool,
    /// The operator's key, which signs checkpoints and bundles; without it those routes answer
    /// 503 `no_signing_key`.
    pub key: Option<SecretKey>,
    /// The log's identity in checkpoints (`lode/<data directory name>` by default).
    pub origin: String,
}

/// What every request handler shares.
#[derive(Debug)]
pub struct AppState {
    store: Store<Ledger>,
    ledger: Ledger,
    reader: Reader,
    tokens: Tokens,
    pub metrics: metrics::Metrics,
    config: Config,
    subscribers: Arc<Semaphore>,
    shutdown_tx: watch::Sender<bool>,
}

impl AppState {
    pub fn new(store: Store<Ledger>, ledger: Ledger, tokens: Tokens, config: Config) -> Self {
        let reader = store.reader();
        let subscribers = Arc::new(Semaphore::new(config.limits.subscribers_max));
        let (shutdown_tx, _) = watch::channel(false);
        AppState { store, ledger, reader, tokens, metrics: Default::default(), config, subscribers, shutdown_tx }
    }

    /// Live subscriptions now.
    pub fn subscriber_count(&self) -> u64 {
        (self.config.limits.subscribers_max - self.subscribers.available_permits()) as u64
    }

    /// The caller, if the request carries a token; 401 for a token that is unknown or revoked,
    /// or an Authorization header that is not a bearer token.
    fn caller(&self, headers: &HeaderMap) -> Result<Option<Principal>, Problem> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Ok(None);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the Authorization header is not `Bearer <token>`",
                )
            })?;
        match self.tokens.check(token) {
            Some(p) => Ok(Some(p)),
            None => Err(Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "the token is unknown or revoked")),
        }
    }

    /// Allows a read: with a valid token, or without one when reads are public.
    fn allow_read(&self, headers: &HeaderMap) -> Result<(), Problem> {
        match self.caller(headers)? {
            Some(_) => Ok(()),
            None if self.config.public_read => Ok(()),
            None => Err(Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "reads need a bearer token")),
        }
    }

    /// The writer: a token is required.
    fn require_caller(&self, headers: &HeaderMap) -> Result<Principal, Problem> {
        self.caller(headers)?
            .ok_or_else(|| Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "writes need a bearer token"))
    }
}

/// Runs `f` off the async workers: the ledger's queries and the disk's reads block.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Problem> + Send + 'static) -> Result<T, Problem> {
    tokio::task::spawn_blocking(f).await.map_err(Problem::internal)?
}

/// Every route, with request ids, logging, metrics and timeouts around them.
pub fn router(state: Arc<AppState>) -> Router {
    let (api, _) = api::build();
    let timeout_ms = state.config.limits.request_timeout_ms;
    api.fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(move |req: Request, next: Next| timeout(timeout_ms, req, next)))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn no_route() -> Problem {
    Problem::not_found("no_route", "no such route; GET /openapi.json lists them")
}

async fn method_not_allowed() -> Problem {
    Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "the route does not take this method")
}

/// Answers 408 when a request (reading its body included) takes longer than the limit. A live
/// subscription is exempt once it has answered: only its start is timed.
async fn timeout(ms: u64, req: Request, next: Next) -> Response {
    match tokio::time::timeout(Duration::from_millis(ms), next.run(req)).await {
        Ok(r) => r,
        Err(_) => Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!("the request took longer than {ms} ms (request_timeout_ms)"),
        )
        .into_response(),
    }
}

/// One span per request with its id, method and route; one log line with status and latency; the
/// request counted in the metrics.
async fn observe(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = req.method().to_string();
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let span = tracing::info_span!("request", id = %id, method = %method, route = %route);
    let mut response = next.run(req).instrument(span.clone()).await;
    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let status = response.status().as_u16();
    let code = response.extensions().get::<problem::ProblemCode>().map(|c| c.0.clone());
    span.in_scope(|| match &code {
        Some(code) if status >= 500 => tracing::error!(status, latency_us = us, code = %code, "answered"),
        Some(code) => tracing::info!(status, latency_us = us, code = %code, "answered"),
        None => tracing::info!(status, latency_us = us, "answered"),
    });
    state.metrics.request(&route, &method, status, us);
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// Serves until `shutdown` completes; then stops accepting connections, ends live subscriptions,
/// waits for the requests in flight (appends included) and returns the store, to be closed.
///
/// # Errors
/// The listener's I/O errors.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<Store<Ledger>> {
    let app = router(state.clone());
    let tx = state.shutdown_tx.clone();
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing requests in flight");
            let _ = tx.send(true);
        })
        .await?;
    // Every handler has finished; blocking tasks they started may still hold the state briefly.
    let mut state = state;
    for _ in 0..1000 {
        match Arc::try_unwrap(state) {
            Ok(s) => return Ok(s.store),
            Err(s) => {
                state = s;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    Err(std::io::Error::other("requests still hold the ledger 10 s after shutdown"))
}
