//! Who is calling the console, with the gRPC API's identities and roles
//! ([`crate::api::auth::Authenticator`]).
//!
//! In order: `Authorization: Bearer <token>`; the `osprey_session` cookie of a login (`POST
//! /login` with the same token); a TLS client certificate; the anonymous role (plaintext
//! loopback only, as for gRPC). A cookie that names no live session is refused (401) even
//! when an anonymous role exists, so a forged or expired cookie never passes silently.
//!
//! Sessions live in memory: a random 256-bit id (the cookie, `HttpOnly`, `SameSite=Strict`,
//! `Secure` on TLS), kept under its SHA-256 so a lookup's timing says nothing about the ids,
//! with an expiry (`console.session_ttl`) and a cap (`console.max_sessions`, refusals
//! counted). CSRF: every mutating request (POST, PUT, PATCH, DELETE) of a caller the browser
//! authenticates by itself (cookie, client certificate, anonymous) must carry
//! `X-CSRF-Token`, compared in constant time with the token bound to its session (or, without
//! a session, the server's own random token), which `GET /api/v1/session` tells only to that
//! caller. A bearer token is never sent by a browser on its own and needs none.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::{ConnInfo, ConsoleCounters, WebState};
use crate::api::auth::{Principal, Via};
use crate::model::Role;

/// The session cookie's name.
pub const COOKIE: &str = "osprey_session";
/// The header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// One login.
#[derive(Clone, Debug)]
struct Session {
    principal: Principal,
    csrf: [u8; 32],
    expires: Instant,
}

/// The live sessions.
#[derive(Debug)]
pub struct Sessions {
    by_hash: Mutex<HashMap<[u8; 32], Session>>,
    ttl: Duration,
    cap: usize,
    /// CSRF token of callers without a session (client certificate, anonymous).
    server_csrf: [u8; 32],
    counters: Arc<ConsoleCounters>,
}

/// A session that could not be opened: the cap is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionsFull;

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

fn hash(id: &[u8]) -> [u8; 32] {
    Sha256::digest(id).into()
}

impl Sessions {
    pub fn new(ttl: Duration, cap: usize, counters: Arc<ConsoleCounters>) -> Self {
        Sessions {
            by_hash: Mutex::new(HashMap::new()),
            ttl,
            cap,
            server_csrf: rand::random(),
            counters,
        }
    }

    /// Opens a session; its id (the cookie) and CSRF token. Expired sessions are dropped
    /// first; with the cap still reached the login is refused (counted).
    pub fn open(&self, principal: Principal) -> Result<([u8; 32], [u8; 32]), SessionsFull> {
        let now = Instant::now();
        let mut m = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= self.cap {
            m.retain(|_, s| s.expires > now);
        }
        if m.len() >= self.cap {
            self.counters
                .sessions_refused
                .fetch_add(1, Ordering::Relaxed);
            return Err(SessionsFull);
        }
        let (id, csrf): ([u8; 32], [u8; 32]) = (rand::random(), rand::random());
        m.insert(
            hash(&id),
            Session {
                principal,
                csrf,
                expires: now + self.ttl,
            },
        );
        self.counters
            .sessions
            .store(m.len() as u64, Ordering::Relaxed);
        Ok((id, csrf))
    }

    /// The live session of cookie value `id` (hex), if any; an expired one is removed.
    fn find(&self, id_hex: &str) -> Option<Session> {
        let id = hex::decode(id_hex).ok().filter(|b| b.len() == 32)?;
        let key = hash(&id);
        let mut m = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        let live = m.get(&key).filter(|s| s.expires > Instant::now()).cloned();
        if live.is_none() && m.remove(&key).is_some() {
            self.counters
                .sessions_expired
                .fetch_add(1, Ordering::Relaxed);
            self.counters
                .sessions
                .store(m.len() as u64, Ordering::Relaxed);
        }
        live
    }

    /// Ends the session of cookie value `id_hex`.
    fn close(&self, id_hex: &str) {
        if let Some(id) = hex::decode(id_hex).ok().filter(|b| b.len() == 32) {
            let mut m = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
            m.remove(&hash(&id));
            self.counters
                .sessions
                .store(m.len() as u64, Ordering::Relaxed);
        }
    }

    /// Sessions open now (expired ones included until they are next looked at).
    pub fn len(&self) -> usize {
        self.by_hash.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// True when no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a caller was recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    Bearer,
    Session,
    Certificate,
    Anonymous,
}

/// An authenticated caller, in the request's extensions of every `/api` handler.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub credential: Credential,
    /// The CSRF token this caller's mutating requests carry (none for bearer tokens).
    csrf: Option<[u8; 32]>,
}

impl Caller {
    /// The token `GET /api/v1/session` tells the caller, hex; empty for bearer callers.
    pub fn csrf_hex(&self) -> String {
        self.csrf.map(hex::encode).unwrap_or_default()
    }

    /// The role's name, `none` for a certificate without one.
    pub fn role_name(&self) -> &'static str {
        self.principal.role.map_or("none", Role::as_str)
    }
}

/// The `osprey_session` cookie's value, if sent.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// Who is calling, or why not.
pub fn identify(st: &WebState, headers: &HeaderMap, conn: &ConnInfo) -> Result<Caller, ApiError> {
    let auth = &st.ctx.auth;
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let p = auth.identify_parts(Some(v.as_bytes()), None)?;
        return Ok(Caller {
            principal: p,
            credential: Credential::Bearer,
            csrf: None,
        });
    }
    if let Some(id) = session_cookie(headers) {
        let s = st.sessions.find(id).ok_or_else(|| {
            ApiError::unauthenticated("the session is unknown or expired: log in again at /login")
        })?;
        return Ok(Caller {
            principal: s.principal,
            credential: Credential::Session,
            csrf: Some(s.csrf),
        });
    }
    let p = auth.identify_parts(None, conn.cert.as_deref())?;
    let credential = if p.via == Via::Certificate {
        Credential::Certificate
    } else {
        Credential::Anonymous
    };
    Ok(Caller {
        principal: p,
        credential,
        csrf: Some(st.sessions.server_csrf),
    })
}

fn mutating(m: &Method) -> bool {
    matches!(
        *m,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Refuses a mutating request whose CSRF token is missing or wrong.
fn check_csrf(caller: &Caller, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(want) = caller.csrf else {
        return Ok(());
    };
    if !mutating(method) {
        return Ok(());
    }
    let got = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|t| hex::decode(t.trim()).ok());
    match got {
        Some(g) if ct_eq(&g, &want) => Ok(()),
        Some(_) => Err(ApiError::forbidden(
            "the X-CSRF-Token header does not match this session's token (GET /api/v1/session)",
        )),
        None => Err(ApiError::forbidden(
            "a mutating request needs the X-CSRF-Token header (csrf_token of GET /api/v1/session)",
        )),
    }
}

/// Middleware of `/api`: identifies the caller (401 JSON otherwise), checks CSRF (403) and
/// leaves the [`Caller`] in the request. A peer over its budget of refusals is refused with
/// 429 without its credentials being looked at, as on gRPC.
pub async fn require_caller(
    State(st): State<Arc<WebState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let conn = req
        .extensions()
        .get::<ConnInfo>()
        .cloned()
        .unwrap_or_default();
    let peer = conn.peer.map(|a| a.ip());
    let path = req.uri().path().to_owned();
    if st.ctx.admission.exhausted(peer) {
        st.ctx.auth.note_refusal(peer, &path, true);
        st.counters.refused.fetch_add(1, Ordering::Relaxed);
        return ApiError::exhausted("too many refused requests from this address; retry later")
            .into_response();
    }
    let caller = match identify(&st, req.headers(), &conn) {
        Ok(c) => c,
        Err(e) => {
            st.ctx.admission.charge(peer);
            st.ctx.auth.note_refusal(peer, &path, false);
            st.counters.refused.fetch_add(1, Ordering::Relaxed);
            return e.into_response();
        }
    };
    if let Err(e) = check_csrf(&caller, req.method(), req.headers()) {
        st.counters.csrf_refused.fetch_add(1, Ordering::Relaxed);
        return e.into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Paths of the pages router served without a login (the login page's own assets).
pub const OPEN_PREFIX: &str = "/assets/";

/// Middleware of the pages: an unknown caller is sent to `/login` (303); assets under
/// [`OPEN_PREFIX`] are served to anyone.
pub async fn require_page_caller(
    State(st): State<Arc<WebState>>,
    req: Request,
    next: Next,
) -> Response {
    if req.uri().path().starts_with(OPEN_PREFIX) {
        return next.run(req).await;
    }
    let conn = req
        .extensions()
        .get::<ConnInfo>()
        .cloned()
        .unwrap_or_default();
    match identify(&st, req.headers(), &conn) {
        Ok(_) => next.run(req).await,
        Err(_) => Redirect::to("/login").into_response(),
    }
}

/// `POST /login`'s form.
#[derive(Debug)]
struct LoginForm {
    token: String,
}

fn login_page(status: StatusCode) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        super::pages::login_page(),
    )
        .into_response()
}

async fn get_login() -> Response {
    login_page(StatusCode::OK)
}

fn session_cookie_header(st: &WebState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if st.tls { "; Secure" } else { "" };
    let text =
        format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The form's `token`, or the error saying what is wrong with the form.
fn login_form(body: &[u8]) -> Result<LoginForm, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::invalid("token", "the login form is not UTF-8"))?;
    let token = super::rest::form_pairs(text)?
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
        .ok_or_else(|| {
            ApiError::invalid(
                "token",
                "the login form has no `token` (application/x-www-form-urlencoded)",
            )
        })?;
    Ok(LoginForm { token })
}

async fn post_login(
    State(st): State<Arc<WebState>>,
    conn: Option<axum::Extension<ConnInfo>>,
    body: axum::body::Bytes,
) -> Response {
    let f = match login_form(&body) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let peer = conn.and_then(|c| c.0.peer).map(|a| a.ip());
    if st.ctx.admission.exhausted(peer) {
        st.ctx.auth.note_refusal(peer, "console/Login", true);
        st.counters.refused.fetch_add(1, Ordering::Relaxed);
        return login_page(StatusCode::TOO_MANY_REQUESTS);
    }
    let bearer = format!("Bearer {}", f.token.trim());
    let p = match st.ctx.auth.identify_parts(Some(bearer.as_bytes()), None) {
        Ok(p) => p,
        Err(_) => {
            st.ctx.admission.charge(peer);
            st.ctx.auth.note_refusal(peer, "console/Login", false);
            st.counters.logins_failed.fetch_add(1, Ordering::Relaxed);
            return login_page(StatusCode::UNAUTHORIZED);
        }
    };
    match st.sessions.open(p.clone()) {
        Ok((id, _)) => {
            st.ctx
                .auth
                .audit(&p, "console/Login", "", &Ok::<(), crate::error::Error>(()));
            let cookie = session_cookie_header(&st, &hex::encode(id), st.sessions.ttl.as_secs());
            let mut r = Redirect::to("/").into_response();
            r.headers_mut().insert(header::SET_COOKIE, cookie);
            r
        }
        Err(SessionsFull) => login_page(StatusCode::SERVICE_UNAVAILABLE),
    }
}

async fn post_logout(
    State(st): State<Arc<WebState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(id) = session_cookie(&headers) {
        if let Some(s) = st.sessions.find(id) {
            let header_token = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let form = std::str::from_utf8(&body)
                .ok()
                .and_then(|b| super::rest::form_pairs(b).ok());
            let token = form
                .and_then(|f| {
                    f.into_iter()
                        .find(|(k, _)| k == "csrf_token")
                        .map(|(_, v)| v)
                })
                .filter(|t| !t.is_empty());
            let got = hex::decode(token.unwrap_or(header_token).trim()).unwrap_or_default();
            if !ct_eq(&got, &s.csrf) {
                st.counters.csrf_refused.fetch_add(1, Ordering::Relaxed);
                return ApiError::forbidden("logout needs the session's CSRF token")
                    .into_response();
            }
            st.sessions.close(id);
        }
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session_cookie_header(&st, "", 0));
    r
}

/// `GET /api/v1/session`: who the console thinks you are.
pub async fn session(axum::Extension(caller): axum::Extension<Caller>) -> Response {
    Json(serde_json::json!({
        "identity": caller.principal.name,
        "role": caller.role_name(),
        "csrf_token": caller.csrf_hex(),
    }))
    .into_response()
}

/// `/login` and `/logout`.
pub fn router() -> Router<Arc<WebState>> {
    Router::new()
        .route("/login", get(get_login).post(post_login))
        .route("/logout", post(post_logout))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> Principal {
        Principal {
            name: "ops".into(),
            role: Some(Role::Operator),
            via: Via::Token,
        }
    }

    #[test]
    fn sessions_expire_and_are_capped() {
        let c = Arc::new(ConsoleCounters::default());
        let s = Sessions::new(Duration::from_millis(30), 2, c.clone());
        let (a, _) = s.open(principal()).unwrap();
        s.open(principal()).unwrap();
        assert_eq!(s.open(principal()), Err(SessionsFull));
        assert_eq!(c.sessions_refused.load(Ordering::Relaxed), 1);
        assert!(s.find(&hex::encode(a)).is_some());
        assert!(s.find(&hex::encode([0u8; 32])).is_none());
        assert!(s.find("zz").is_none());
        std::thread::sleep(Duration::from_millis(40));
        assert!(s.find(&hex::encode(a)).is_none());
        // Expired sessions make room.
        s.open(principal()).unwrap();
    }

    #[test]
    fn cookies_and_csrf() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; osprey_session=abcd; b=2"),
        );
        assert_eq!(session_cookie(&h), Some("abcd"));
        let caller = Caller {
            principal: principal(),
            credential: Credential::Session,
            csrf: Some([7; 32]),
        };
        assert!(check_csrf(&caller, &Method::GET, &h).is_ok());
        assert_eq!(
            check_csrf(&caller, &Method::POST, &h).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        h.insert(
            CSRF_HEADER,
            HeaderValue::from_str(&hex::encode([7u8; 32])).unwrap(),
        );
        assert!(check_csrf(&caller, &Method::DELETE, &h).is_ok());
        h.insert(
            CSRF_HEADER,
            HeaderValue::from_str(&hex::encode([8u8; 32])).unwrap(),
        );
        assert!(check_csrf(&caller, &Method::PUT, &h).is_err());
    }
}
