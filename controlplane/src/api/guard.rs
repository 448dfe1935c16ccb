//! Admission: what a call may cost before any handler sees it.
//!
//! Every `osprey.v1` service is wrapped in [`Guarded`], which runs before the request body is
//! read or decoded:
//! 1. A peer address that has caused more than its budget of refused calls (token bucket,
//!    `api.refusals_per_sec`, `api.refusals_burst`) is refused with `RESOURCE_EXHAUSTED`
//!    without its credentials being examined.
//! 2. The caller is identified ([`Authenticator::identify_parts`]); an unknown caller is
//!    refused with `UNAUTHENTICATED` and takes a token from its peer's bucket. Both kinds of
//!    refusal are counted and summed up in one audit record per interval, not one each.
//! 3. Expensive methods (`Validate`, `Add`, `Reload`, queries) take a permit of their
//!    method's semaphore for the caller's role (`[api.concurrency]`); none free is
//!    `RESOURCE_EXHAUSTED`. The permit is held until the answer is built.
//! 4. The body is read through [`SizeLimit`], which checks each gRPC message's length
//!    prefix against the limit of the method and role (`api.max_rules_bytes` for rule text,
//!    `api.max_request_bytes` for everything else) and refuses a larger message with
//!    `RESOURCE_EXHAUSTED` before a byte of it is buffered.
//!
//! The handlers still check roles ([`Authenticator::authorize`]); they find the principal
//! this layer identified in the request's extensions.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::Frame;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::body::Body;
use tonic::codegen::{http, BoxFuture, Bytes, Service};
use tonic::server::NamedService;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::Status;

use super::auth::{Authenticator, Role};
use crate::config::ApiConfig;

/// Peers whose refusal buckets are remembered; beyond, idle (full) buckets are forgotten
/// and, if none is idle, unknown peers share one bucket.
const MAX_PEERS: usize = 4096;

/// Expensive methods, each with its own semaphores per role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Validate,
    Add,
    Reload,
    Query,
}

impl Class {
    const ALL: [Class; 4] = [Class::Validate, Class::Add, Class::Reload, Class::Query];

    /// The class of a gRPC path (`/osprey.v1.RulesService/Validate`), if it is expensive.
    pub fn of(path: &str) -> Option<Class> {
        match path.trim_start_matches('/') {
            "osprey.v1.RulesService/Validate" => Some(Class::Validate),
            "osprey.v1.RulesService/Add"
            | "osprey.v1.IntelService/Import"
            | "osprey.v1.IntelService/Verdict"
            | "osprey.v1.IntelService/Hunt" => Some(Class::Add),
            "osprey.v1.RulesService/Reload" => Some(Class::Reload),
            "osprey.v1.RulesService/List"
            | "osprey.v1.AlertsService/Query"
            | "osprey.v1.FlowsService/Query"
            | "osprey.v1.AuditService/List"
            | "osprey.v1.BlockService/List"
            | "osprey.v1.IncidentService/List"
            | "osprey.v1.OutputService/ListDeadLetters"
            | "osprey.v1.IntelService/ListIndicators"
            | "osprey.v1.IntelService/ListHits"
            | "osprey.v1.ReportService/Generate"
            | "osprey.v1.IntelService/ListHunts"
            | "osprey.v1.IntelService/Related"
            | "osprey.v1.IntelService/Export" => Some(Class::Query),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

fn role_index(role: Role) -> usize {
    match role {
        Role::Viewer => 0,
        Role::Operator => 1,
        Role::Admin => 2,
    }
}

/// Calls refused by this layer, by cause (the refusals of unknown callers are counted by
/// the [`Authenticator`]).
#[derive(Debug, Default)]
pub struct GuardCounters {
    pub too_large: AtomicU64,
    pub concurrency: AtomicU64,
}

/// A token bucket of refusals.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The limits and their state, shared by every wrapped service.
pub struct Admission {
    auth: Arc<Authenticator>,
    max_rules_bytes: usize,
    max_request_bytes: usize,
    refill_per_sec: f64,
    burst: f64,
    limits: [u32; 3],
    /// `[class][role]`.
    permits: Vec<[Arc<Semaphore>; 3]>,
    buckets: Mutex<HashMap<Option<IpAddr>, Bucket>>,
    pub counters: GuardCounters,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("max_rules_bytes", &self.max_rules_bytes)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Admission {
    pub fn new(cfg: &ApiConfig, auth: Arc<Authenticator>) -> Self {
        let limits = [Role::Viewer, Role::Operator, Role::Admin].map(|r| cfg.concurrency.of(r));
        Admission {
            auth,
            max_rules_bytes: cfg.max_rules_bytes,
            max_request_bytes: cfg.max_request_bytes,
            refill_per_sec: f64::from(cfg.refusals_per_sec),
            burst: f64::from(cfg.refusals_burst),
            limits,
            permits: Class::ALL
                .iter()
                .map(|_| limits.map(|n| Arc::new(Semaphore::new(n as usize))))
                .collect(),
            buckets: Mutex::new(HashMap::new()),
            counters: GuardCounters::default(),
        }
    }

    /// `api.max_request_bytes` and `api.max_rules_bytes`.
    pub fn request_limits(&self) -> (usize, usize) {
        (self.max_request_bytes, self.max_rules_bytes)
    }

    /// Largest gRPC message `role` may send to `path`, and the config key that sets it.
    pub fn size_limit(&self, path: &str, role: Option<Role>) -> (usize, &'static str) {
        let rules = (self.max_rules_bytes, "api.max_rules_bytes");
        match (Class::of(path), role) {
            (Some(Class::Validate), _) => rules,
            (Some(Class::Add), Some(r)) if r >= Role::Operator => rules,
            _ => (self.max_request_bytes, "api.max_request_bytes"),
        }
    }

    /// Refills `peer`'s bucket; true when it holds no token (the peer is refused at once).
    pub(crate) fn exhausted(&self, peer: Option<IpAddr>) -> bool {
        let mut g = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        g.get_mut(&peer).is_some_and(|b| {
            self.refill(b);
            b.tokens < 1.0
        })
    }

    /// Takes a token from `peer`'s bucket for a refusal.
    pub(crate) fn charge(&self, peer: Option<IpAddr>) {
        let mut g = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !g.contains_key(&peer) && g.len() >= MAX_PEERS {
            let now = Instant::now();
            let (rate, burst) = (self.refill_per_sec, self.burst);
            g.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let key = if g.contains_key(&peer) || g.len() < MAX_PEERS {
            peer
        } else {
            None
        };
        let b = g.entry(key).or_insert(Bucket {
            tokens: self.burst,
            at: Instant::now(),
        });
        self.refill(b);
        b.tokens = (b.tokens - 1.0).max(0.0);
    }

    fn refill(&self, b: &mut Bucket) {
        let now = Instant::now();
        let add = now.duration_since(b.at).as_secs_f64() * self.refill_per_sec;
        b.tokens = (b.tokens + add).min(self.burst);
        b.at = now;
    }

    /// Decides on a call before its body is read: the refusal, or the permit it holds and
    /// the size limit its body is read with.
    fn admit(
        &self,
        req: &mut http::Request<Body>,
    ) -> Result<(Option<OwnedSemaphorePermit>, usize, &'static str), Status> {
        let path = req.uri().path().to_owned();
        let method = path.trim_start_matches('/');
        let peer = peer_ip(req);
        if self.exhausted(peer) {
            self.auth.note_refusal(peer, method, true);
            return Err(Status::resource_exhausted(format!(
                "too many refused calls from {}: limited to {} per second (api.refusals_per_sec); retry later",
                peer.map_or_else(|| "this peer".to_owned(), |p| p.to_string()),
                self.refill_per_sec
            )));
        }
        let authorization = req.headers().get("authorization").map(|v| v.as_bytes());
        let certs = req
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(|i| i.peer_certs());
        let first = certs.as_ref().and_then(|c| c.first()).map(|c| c.as_ref());
        let principal = match self.auth.identify_parts(authorization, first) {
            Ok(p) => p,
            Err(e) => {
                self.charge(peer);
                self.auth.note_refusal(peer, method, false);
                return Err(e.into());
            }
        };
        let role = principal.role;
        req.extensions_mut().insert(principal);
        let permit = self.permit(&path, role)?;
        let (limit, key) = self.size_limit(&path, role);
        Ok((permit, limit, key))
    }

    /// The permit an expensive method (`path`, a gRPC path) takes for the caller's role, none
    /// for other methods; `RESOURCE_EXHAUSTED` (counted) when the role has none free. The
    /// console's REST routes take theirs here too, by the gRPC method they call.
    pub fn permit(
        &self,
        path: &str,
        role: Option<Role>,
    ) -> Result<Option<OwnedSemaphorePermit>, Status> {
        // A certificate without a role gets the smallest allowance; its handler refuses it.
        let r = role.unwrap_or(Role::Viewer);
        let Some(c) = Class::of(path) else {
            return Ok(None);
        };
        let sem = self.permits[c.index()][role_index(r)].clone();
        sem.try_acquire_owned().map(Some).map_err(|_| {
            self.counters.concurrency.fetch_add(1, Ordering::Relaxed);
            let n = self.limits[role_index(r)];
            Status::resource_exhausted(format!(
                "{}: {n} such calls of role {} are in progress (api.concurrency.{} = {n}); retry later",
                path.trim_start_matches('/'),
                r.as_str(),
                r.as_str()
            ))
        })
    }

    /// Permits of `class` that `role` has free now.
    pub fn available(&self, class: Class, role: Role) -> usize {
        self.permits[class.index()][role_index(role)].available_permits()
    }

    /// Counters of every refusal cause, `(cause, count)`.
    pub fn refusals(&self) -> [(&'static str, u64); 5] {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let a = &self.auth.counters;
        [
            ("unauthenticated", l(&a.refused_unauthenticated)),
            ("rate_limited", l(&a.refused_rate_limited)),
            ("permission", l(&a.refused_permission)),
            ("too_large", l(&self.counters.too_large)),
            ("concurrency", l(&self.counters.concurrency)),
        ]
    }
}

fn peer_ip<B>(req: &http::Request<B>) -> Option<IpAddr> {
    let ext = req.extensions();
    ext.get::<TcpConnectInfo>()
        .and_then(|i| i.remote_addr())
        .or_else(|| {
            ext.get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|i| i.get_ref().remote_addr())
        })
        .map(|a| a.ip())
}

/// A service behind [`Admission`].
#[derive(Clone, Debug)]
pub struct Guarded<S> {
    inner: S,
    admission: Arc<Admission>,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, admission: Arc<Admission>) -> Self {
        Guarded { inner, admission }
    }
}

impl<S: NamedService> NamedService for Guarded<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for Guarded<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        // The clone is not ready; keep the one that is for this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let admission = self.admission.clone();
        Box::pin(async move {
            let (permit, limit, key) = match admission.admit(&mut req) {
                Ok(v) => v,
                Err(status) => return Ok(status.into_http()),
            };
            let method = req.uri().path().trim_start_matches('/').to_owned();
            let req = req.map(|body| {
                Body::new(SizeLimit {
                    inner: body,
                    limit,
                    key,
                    method,
                    header: [0; 5],
                    have: 0,
                    remaining: 0,
                    admission: admission.clone(),
                })
            });
            let res = inner.call(req).await;
            drop(permit);
            res
        })
    }
}

/// A request body that refuses any gRPC message longer than `limit`, from its 5-byte
/// length prefix, before the message is buffered.
struct SizeLimit {
    inner: Body,
    limit: usize,
    key: &'static str,
    method: String,
    /// The prefix being read, `have` bytes of it so far.
    header: [u8; 5],
    have: usize,
    /// Bytes of the current message still to come.
    remaining: usize,
    admission: Arc<Admission>,
}

impl SizeLimit {
    fn scan(&mut self, mut data: &[u8]) -> Result<(), Status> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = self.remaining.min(data.len());
                self.remaining -= n;
                data = &data[n..];
                continue;
            }
            self.header[self.have] = data[0];
            self.have += 1;
            data = &data[1..];
            if self.have == self.header.len() {
                self.have = 0;
                let len = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]) as usize;
                if len > self.limit {
                    self.admission
                        .counters
                        .too_large
                        .fetch_add(1, Ordering::Relaxed);
                    return Err(Status::resource_exhausted(format!(
                        "{}: request of {len} bytes exceeds the limit of {} bytes ({} = {})",
                        self.method, self.limit, self.key, self.limit
                    )));
                }
                self.remaining = len;
            }
        }
        Ok(())
    }
}

impl http_body::Body for SizeLimit {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if let Err(s) = this.scan(data) {
                        return Poll::Ready(Some(Err(s)));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AuthConfig, ConcurrencyConfig};
    use crate::store::{Store, StoreOptions};

    fn admission(cfg: &ApiConfig) -> (tempfile::TempDir, Admission) {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap());
        let auth = Arc::new(Authenticator::new(&AuthConfig::default(), store).unwrap());
        (dir, Admission::new(cfg, auth))
    }

    #[test]
    fn size_limits_follow_method_and_role() {
        let cfg = ApiConfig {
            max_rules_bytes: 4096,
            max_request_bytes: 1024,
            concurrency: ConcurrencyConfig::default(),
            ..ApiConfig::default()
        };
        let (_d, a) = admission(&cfg);
        let v = "/osprey.v1.RulesService/Validate";
        let add = "/osprey.v1.RulesService/Add";
        assert_eq!(a.size_limit(v, Some(Role::Viewer)).0, 4096);
        assert_eq!(a.size_limit(add, Some(Role::Operator)).0, 4096);
        assert_eq!(a.size_limit(add, Some(Role::Viewer)).0, 1024);
        assert_eq!(a.size_limit(add, None).0, 1024);
        assert_eq!(
            a.size_limit("/osprey.v1.SystemService/Shutdown", Some(Role::Admin)),
            (1024, "api.max_request_bytes")
        );
    }

    #[test]
    fn refusal_bucket_empties_and_refills() {
        let cfg = ApiConfig {
            refusals_per_sec: 1000,
            refusals_burst: 3,
            ..ApiConfig::default()
        };
        let (_d, a) = admission(&cfg);
        let ip: Option<IpAddr> = Some("192.0.2.7".parse().unwrap());
        for _ in 0..3 {
            assert!(!a.exhausted(ip));
            a.charge(ip);
        }
        assert!(a.exhausted(ip));
        // Another address has its own bucket.
        assert!(!a.exhausted(Some("192.0.2.8".parse().unwrap())));
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(!a.exhausted(ip));
    }

    #[test]
    fn length_prefixes_are_checked_across_frames() {
        let cfg = ApiConfig::default();
        let (_d, a) = admission(&cfg);
        let mut s = SizeLimit {
            inner: Body::empty(),
            limit: 10,
            key: "api.max_request_bytes",
            method: "m".into(),
            header: [0; 5],
            have: 0,
            remaining: 0,
            admission: Arc::new(a),
        };
        // A 10-byte message split over three frames, then an 11-byte prefix split in two.
        s.scan(&[0, 0, 0]).unwrap();
        s.scan(&[0, 10, 1, 2, 3]).unwrap();
        s.scan(&[4, 5, 6, 7, 8, 9, 10, 0, 0]).unwrap();
        let e = s.scan(&[0, 0, 11]).unwrap_err();
        assert_eq!(e.code(), tonic::Code::ResourceExhausted);
        assert!(e.message().contains("11 bytes"), "{}", e.message());
        assert_eq!(s.admission.counters.too_large.load(Ordering::Relaxed), 1);
    }
}
