//! The web console: an HTTP server in the control plane (axum on the management runtime,
//! never a worker core) serving the pages ([`pages`]), the REST API under `/api/v1`
//! ([`rest`], described by [`openapi`]) and live WebSocket streams ([`ws`]).
//!
//! It has the gRPC API's identities, roles, limits and audit because it calls the same
//! service implementations in-process ([`rest`]): a REST handler builds a `tonic::Request`
//! carrying the caller [`auth`] identified, takes the same admission permit by role, and the
//! service authorizes, audits, pages and errs exactly as on gRPC; [`error`] is the one
//! mapping of a status to HTTP. TLS is the API's (`[api.tls]`: certificate, key, optional
//! client CA); without it the console is plaintext and, like the API, loopback only.
//!
//! Bounded: connections (`MAX_CONNECTIONS`, refused counted), request bodies
//! (`api.max_request_bytes`, rule text `api.max_rules_bytes`), request time
//! (`console.request_timeout_secs`), sessions, WebSocket clients and their queues.

pub mod auth;
pub mod descriptor;
pub mod error;
pub mod json;
pub mod network;
pub mod openapi;
pub mod pages;
pub mod rest;
pub mod ws;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::task::JoinHandle;
use tokio_rustls::rustls;

use crate::api::ApiContext;
use crate::config::{ConsoleConfig, ControlPlaneConfig};
use crate::error::{Error, Kind, Result};

/// Connections served at once; one more is closed at once (counted).
pub const MAX_CONNECTIONS: usize = 1024;
/// Time a client has to finish the TLS handshake and send its request headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time open connections get to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Distinct (route, status) pairs counted; beyond, they count as route `other`.
const MAX_REQUEST_SERIES: usize = 512;

/// Counters of the console (Prometheus `osprey_console_*`).
#[derive(Debug, Default)]
pub struct ConsoleCounters {
    /// Requests answered, by route template and HTTP status.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// Sessions open now.
    pub sessions: AtomicU64,
    /// Logins refused because `console.max_sessions` were open.
    pub sessions_refused: AtomicU64,
    /// Sessions found expired.
    pub sessions_expired: AtomicU64,
    /// Logins with an unknown token.
    pub logins_failed: AtomicU64,
    /// Requests refused for want of valid credentials (401) or a peer over its budget (429).
    pub refused: AtomicU64,
    /// Mutating requests refused for a missing or wrong CSRF token.
    pub csrf_refused: AtomicU64,
    /// Connections closed at once because `MAX_CONNECTIONS` were open.
    pub connections_refused: AtomicU64,
    /// Requests answered 503 after `console.request_timeout_secs`.
    pub timeouts: AtomicU64,
    /// WebSocket clients connected now.
    pub ws_clients: AtomicU64,
    /// WebSocket clients refused because `console.max_ws_clients` were connected.
    pub ws_refused: AtomicU64,
    /// Events WebSocket clients missed because their queue was full.
    pub ws_missed: AtomicU64,
    /// Events sent to WebSocket clients.
    pub ws_sent: AtomicU64,
}

impl ConsoleCounters {
    fn count_request(&self, route: &str, status: u16) {
        let mut m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let key = (route.to_owned(), status);
        if m.len() >= MAX_REQUEST_SERIES && !m.contains_key(&key) {
            *m.entry(("other".to_owned(), status)).or_insert(0) += 1;
        } else {
            *m.entry(key).or_insert(0) += 1;
        }
    }

    /// `((route, status), count)` of every request answered.
    pub fn requests(&self) -> Vec<((String, u16), u64)> {
        let m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// The unlabelled counters and gauges, `(name, value, is_gauge)`.
    pub fn values(&self) -> Vec<(&'static str, u64, bool)> {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("osprey_console_sessions", l(&self.sessions), true),
            (
                "osprey_console_sessions_refused_total",
                l(&self.sessions_refused),
                false,
            ),
            (
                "osprey_console_sessions_expired_total",
                l(&self.sessions_expired),
                false,
            ),
            (
                "osprey_console_logins_failed_total",
                l(&self.logins_failed),
                false,
            ),
            ("osprey_console_refused_total", l(&self.refused), false),
            (
                "osprey_console_csrf_refused_total",
                l(&self.csrf_refused),
                false,
            ),
            (
                "osprey_console_connections_refused_total",
                l(&self.connections_refused),
                false,
            ),
            ("osprey_console_timeouts_total", l(&self.timeouts), false),
            ("osprey_console_ws_clients", l(&self.ws_clients), true),
            (
                "osprey_console_ws_refused_total",
                l(&self.ws_refused),
                false,
            ),
            ("osprey_console_ws_missed_total", l(&self.ws_missed), false),
            ("osprey_console_ws_sent_total", l(&self.ws_sent), false),
        ]
    }
}

/// The connection a request came on: its peer and, on TLS, the client certificate (DER).
#[derive(Clone, Debug, Default)]
pub struct ConnInfo {
    pub peer: Option<SocketAddr>,
    pub cert: Option<Vec<u8>>,
}

/// What every handler shares.
pub struct WebState {
    pub ctx: Arc<ApiContext>,
    pub sessions: auth::Sessions,
    pub counters: Arc<ConsoleCounters>,
    /// Served over TLS (cookies are `Secure`).
    pub tls: bool,
    pub ws_queue: usize,
    pub max_ws_clients: usize,
    pub request_timeout: Duration,
    /// Live events for the WebSocket clients.
    pub hub: Arc<ws::Hub>,
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebState")
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl WebState {
    /// The state of a console over `ctx` with the `console` settings (TLS from `cfg.api`).
    pub fn new(
        cfg: &ControlPlaneConfig,
        console: &ConsoleConfig,
        ctx: Arc<ApiContext>,
        hub: Arc<ws::Hub>,
    ) -> Result<Arc<WebState>> {
        let ttl = console
            .session_ttl()
            .map_err(|e| Error::config(e.to_string()))?;
        let counters = ctx.console.clone();
        Ok(Arc::new(WebState {
            sessions: auth::Sessions::new(ttl, console.max_sessions, counters.clone()),
            counters,
            tls: cfg.api.tls.is_some(),
            ws_queue: console.ws_queue,
            max_ws_clients: console.max_ws_clients,
            request_timeout: Duration::from_secs(console.request_timeout_secs),
            hub,
            ctx,
        }))
    }
}

/// Counts every answer by route template and status.
async fn count(State(st): State<Arc<WebState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let r = next.run(req).await;
    st.counters.count_request(&route, r.status().as_u16());
    r
}

/// Answers 503 `unavailable` when a request takes longer than `console.request_timeout_secs`.
async fn timeout(State(st): State<Arc<WebState>>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(st.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            st.counters.timeouts.fetch_add(1, Ordering::Relaxed);
            error::ApiError::unavailable(format!(
                "the request took longer than {} s (console.request_timeout_secs)",
                st.request_timeout.as_secs()
            ))
            .into_response()
        }
    }
}

async fn no_route(req: Request) -> Response {
    error::ApiError::no_route(req.method().as_str(), req.uri().path()).into_response()
}

/// The whole console: login, the REST API, the pages behind the login redirect.
pub fn router(st: Arc<WebState>) -> Router {
    Router::new()
        .merge(auth::router())
        .merge(rest::router(st.clone()))
        .merge(
            pages::router().route_layer(from_fn_with_state(st.clone(), auth::require_page_caller)),
        )
        .fallback(no_route)
        .layer(from_fn_with_state(st.clone(), timeout))
        .route_layer(from_fn_with_state(st.clone(), count))
        .with_state(st)
}

/// The rustls server config of `[api.tls]`: certificate, key and, with a client CA,
/// optional client certificates (a presented one must verify; token callers need none).
fn tls_config(cfg: &ControlPlaneConfig) -> Result<Option<Arc<rustls::ServerConfig>>> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let Some(tls) = &cfg.api.tls else {
        return Ok(None);
    };
    let bad = |key: &str, e: &dyn std::fmt::Display| Error::config(format!("{key}: {e}"));
    let certs = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|i| i.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| bad("api.tls.cert", &e))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| bad("api.tls.key", &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("api.tls", &e))?;
    let builder = match &tls.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).map_err(|e| bad("api.tls.client_ca", &e))? {
                roots
                    .add(c.map_err(|e| bad("api.tls.client_ca", &e))?)
                    .map_err(|e| bad("api.tls.client_ca", &e))?;
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| bad("api.tls.client_ca", &e))?;
            builder.with_client_cert_verifier(v)
        }
    };
    let mut sc = builder
        .with_single_cert(certs, key)
        .map_err(|e| bad("api.tls", &e))?;
    sc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(Arc::new(sc)))
}

/// Binds `console.listen` and serves the console until the shutdown flag flips, then lets
/// open requests finish (at most `DRAIN_TIMEOUT`); returns the bound address.
pub async fn serve(
    cfg: &ControlPlaneConfig,
    console: &ConsoleConfig,
    ctx: &Arc<ApiContext>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<SocketAddr> {
    let tls = tls_config(cfg)?.map(tokio_rustls::TlsAcceptor::from);
    let (hub, relay) = ws::Hub::start(
        &ctx.events,
        &ctx.intel,
        console.ws_queue,
        ctx.shutdown.subscribe(),
    );
    tasks.push(relay);
    let st = WebState::new(cfg, console, ctx.clone(), hub)?;
    let listener = tokio::net::TcpListener::bind(console.listen)
        .await
        .map_err(|e| {
            Error::new(
                Kind::Unavailable,
                format!("console.listen {}: {e}", console.listen),
            )
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::internal(e.to_string()))?;
    let app = router(st.clone());
    let mut sd = ctx.shutdown.subscribe();
    tasks.push(tokio::spawn(async move {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let open = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        loop {
            let (tcp, peer) = tokio::select! {
                _ = crate::api::until_shutdown(&mut sd) => break,
                r = listener.accept() => match r {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(error = %e, "console accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = open.clone().try_acquire_owned() else {
                st.counters
                    .connections_refused
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let (app, tls) = (app.clone(), tls.clone());
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let _permit = permit;
                serve_connection(tcp, peer, tls, app, watcher).await;
            });
        }
        drop(listener);
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("console connections still open after the drain time; closed");
        }
    }));
    Ok(addr)
}

/// One connection: TLS handshake (if any), then HTTP/1.1 or HTTP/2 with upgrades (WebSocket).
async fn serve_connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT);
    match tls {
        None => {
            let info = ConnInfo {
                peer: Some(peer),
                cert: None,
            };
            let svc = hyper_util::service::TowerToHyperService::new(with_conn(app, info));
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), svc);
            let _ = watcher.watch(conn.into_owned()).await;
        }
        Some(acceptor) => {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, %peer, "console TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let cert = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.as_ref().to_vec());
            let info = ConnInfo {
                peer: Some(peer),
                cert,
            };
            let svc = hyper_util::service::TowerToHyperService::new(with_conn(app, info));
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
            let _ = watcher.watch(conn.into_owned()).await;
        }
    }
}

/// The router with the connection's [`ConnInfo`] added to each request.
fn with_conn(
    app: Router,
    info: ConnInfo,
) -> impl tower::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    use tower::ServiceExt as _;
    app.map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(info.clone());
        req
    })
}

/// Wall-clock time, ns since the epoch.
pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
