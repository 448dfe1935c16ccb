//! Who is calling and what they may do.
//!
//! A caller is identified by, in order: a bearer token (`authorization: Bearer <token>`,
//! compared by SHA-256 against the configured hashes), a TLS client certificate (its subject
//! CN mapped to a role; the certificate chain itself is verified by rustls against
//! `api.tls.client_ca` during the handshake), or the configured anonymous role (plaintext
//! loopback only). Roles are ordered: viewer (read) < operator (rules, alerts) < admin
//! (config, shutdown).
//!
//! Every refusal of a known caller and every mutating call is written to the audit log (who,
//! what, when, result). Refused unauthenticated calls are counted instead and written as one
//! summary record per interval ([`Authenticator::flush_refusals`]): whoever is not known
//! decides neither how often nor how much the log grows. A certificate the CA did not sign
//! never reaches this layer: the TLS handshake fails and the client sees `UNAVAILABLE`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::config::AuthConfig;
use crate::error::{Error, Kind};
use crate::model::AuditRecord;
use crate::store::Store;

/// Access level, ordered from least to most (defined with the records that name it, below
/// both the configuration and the API).
pub use crate::model::Role;

/// How the caller proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Token,
    Certificate,
    Anonymous,
}

/// An identified caller. `role` is `None` for a certificate whose subject has no role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Option<Role>,
    pub via: Via,
}

/// Counters of the auth layer.
#[derive(Debug, Default)]
pub struct AuthCounters {
    pub refused_unauthenticated: AtomicU64,
    /// Calls refused because their peer address exceeded its budget of refusals.
    pub refused_rate_limited: AtomicU64,
    pub refused_permission: AtomicU64,
    pub audit_write_errors: AtomicU64,
}

/// Distinct peers and methods a refusal summary names; the rest are counted as "others".
const SUMMARY_NAMES: usize = 8;

/// Refused unauthenticated calls since the last summary record.
#[derive(Debug)]
struct RefusalSummary {
    since: Instant,
    unauthenticated: u64,
    rate_limited: u64,
    peers: BTreeMap<String, u64>,
    methods: BTreeMap<String, u64>,
}

impl RefusalSummary {
    fn new() -> Self {
        RefusalSummary {
            since: Instant::now(),
            unauthenticated: 0,
            rate_limited: 0,
            peers: BTreeMap::new(),
            methods: BTreeMap::new(),
        }
    }

    fn bump(map: &mut BTreeMap<String, u64>, name: &str) {
        if let Some(n) = map.get_mut(name) {
            *n += 1;
        } else if map.len() < SUMMARY_NAMES {
            map.insert(name.to_owned(), 1);
        } else {
            *map.entry("others".to_owned()).or_insert(0) += 1;
        }
    }

    fn list(map: &BTreeMap<String, u64>) -> String {
        map.iter()
            .map(|(k, n)| format!("{k} x{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Identifies callers, checks roles, writes the audit log.
pub struct Authenticator {
    tokens: Vec<(String, Role, [u8; 32])>,
    clients: Vec<(String, Role)>,
    anonymous: Option<Role>,
    store: Arc<Store>,
    refusals: Mutex<RefusalSummary>,
    pub counters: AuthCounters,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("tokens", &self.tokens.len())
            .field("clients", &self.clients.len())
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

/// Hex SHA-256 of a token, the form `[[auth.tokens]] sha256` takes.
pub fn token_sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Equality that takes the same time wherever the inputs differ.
fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq as _;
    bool::from(a.ct_eq(b))
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Subject common name of a DER certificate.
fn cert_subject_cn(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_owned();
    Some(cn)
}

impl Authenticator {
    /// Builds from validated config; token hashes were checked by `ControlPlaneConfig::validate`.
    pub fn new(cfg: &AuthConfig, store: Arc<Store>) -> Result<Self, Error> {
        let mut tokens = Vec::with_capacity(cfg.tokens.len());
        for (i, t) in cfg.tokens.iter().enumerate() {
            let raw = hex::decode(&t.sha256)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok());
            let Some(h) = raw else {
                return Err(Error::config(format!(
                    "auth.tokens[{i}].sha256 is not 64 hex digits"
                )));
            };
            tokens.push((t.name.clone(), t.role, h));
        }
        Ok(Authenticator {
            tokens,
            clients: cfg
                .clients
                .iter()
                .map(|c| (c.subject.clone(), c.role))
                .collect(),
            anonymous: cfg.anonymous_role,
            store,
            refusals: Mutex::new(RefusalSummary::new()),
            counters: AuthCounters::default(),
        })
    }

    /// Who is calling, or `Unauthenticated`. The admission layer ([`super::guard`]) has
    /// usually identified the caller before the body was read and left the answer in the
    /// request's extensions.
    pub fn identify<T>(&self, req: &tonic::Request<T>) -> Result<Principal, Error> {
        if let Some(p) = req.extensions().get::<Principal>() {
            return Ok(p.clone());
        }
        let authorization = req.metadata().get("authorization").map(|v| v.as_bytes());
        let certs = req.peer_certs();
        let first = certs.as_ref().and_then(|c| c.first()).map(|c| c.as_ref());
        self.identify_parts(authorization, first)
    }

    /// Who is calling, from the `authorization` header and the first client certificate
    /// (DER), or `Unauthenticated`.
    pub fn identify_parts(
        &self,
        authorization: Option<&[u8]>,
        first_cert: Option<&[u8]>,
    ) -> Result<Principal, Error> {
        if let Some(v) = authorization {
            let text = std::str::from_utf8(v).map_err(|_| {
                Error::new(Kind::Unauthenticated, "authorization header is not text")
            })?;
            let token = text
                .strip_prefix("Bearer ")
                .or_else(|| text.strip_prefix("bearer "))
                .ok_or_else(|| {
                    Error::new(
                        Kind::Unauthenticated,
                        "authorization header must be `Bearer <token>`",
                    )
                })?;
            let h: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
            // Compare against all entries so timing does not tell which one matched.
            let mut found = None;
            for (name, role, want) in &self.tokens {
                if ct_eq(&h, want) && found.is_none() {
                    found = Some((name.clone(), *role));
                }
            }
            return match found {
                Some((name, role)) => Ok(Principal {
                    name,
                    role: Some(role),
                    via: Via::Token,
                }),
                None => Err(Error::new(Kind::Unauthenticated, "unknown bearer token")),
            };
        }
        if let Some(first) = first_cert {
            let cn = cert_subject_cn(first).ok_or_else(|| {
                Error::new(
                    Kind::Unauthenticated,
                    "client certificate has no subject CN",
                )
            })?;
            let role = self.clients.iter().find(|(s, _)| *s == cn).map(|(_, r)| *r);
            return Ok(Principal {
                name: format!("cert:{cn}"),
                role,
                via: Via::Certificate,
            });
        }
        match self.anonymous {
            Some(role) => Ok(Principal {
                name: "anonymous".into(),
                role: Some(role),
                via: Via::Anonymous,
            }),
            None => Err(Error::new(
                Kind::Unauthenticated,
                "no credentials: present a client certificate or `authorization: Bearer <token>`",
            )),
        }
    }

    /// Counts a refused unauthenticated call (`rate_limited`: refused because its peer had
    /// exceeded its refusal budget) for the next summary record.
    pub fn note_refusal(&self, peer: Option<IpAddr>, method: &str, rate_limited: bool) {
        let c = if rate_limited {
            &self.counters.refused_rate_limited
        } else {
            &self.counters.refused_unauthenticated
        };
        c.fetch_add(1, Ordering::Relaxed);
        let mut s = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        if rate_limited {
            s.rate_limited += 1;
        } else {
            s.unauthenticated += 1;
        }
        let peer = peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        RefusalSummary::bump(&mut s.peers, &peer);
        RefusalSummary::bump(&mut s.methods, method);
    }

    /// Writes one audit record summing up the unauthenticated calls refused since the last
    /// one (method `unauthenticated`, target the peers, detail the counts and methods);
    /// nothing when there were none. Returns the number of calls it summed up.
    pub fn flush_refusals(&self) -> u64 {
        let s = {
            let mut g = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
            if g.unauthenticated + g.rate_limited == 0 {
                return 0;
            }
            std::mem::replace(&mut *g, RefusalSummary::new())
        };
        let total = s.unauthenticated + s.rate_limited;
        let detail = format!(
            "{total} calls refused before authentication in {:.1} s ({} UNAUTHENTICATED, {} RESOURCE_EXHAUSTED unexamined, their peer over its refusal rate); methods: {}",
            s.since.elapsed().as_secs_f64(),
            s.unauthenticated,
            s.rate_limited,
            RefusalSummary::list(&s.methods)
        );
        let e = Error::new(Kind::Unauthenticated, detail);
        self.record(
            "anonymous",
            "none",
            "unauthenticated",
            &format!("peers: {}", RefusalSummary::list(&s.peers)),
            Err(&e),
        );
        total
    }

    /// Identifies the caller and checks it holds `need`. A known caller's refusal is
    /// audited; an unknown one's is counted for the summary record.
    pub fn authorize<T>(
        &self,
        req: &tonic::Request<T>,
        method: &str,
        target: &str,
        need: Role,
    ) -> Result<Principal, Error> {
        let p = match self.identify(req) {
            Ok(p) => p,
            Err(e) => {
                self.note_refusal(req.remote_addr().map(|a| a.ip()), method, false);
                return Err(e);
            }
        };
        let ok = p.role.is_some_and(|r| r >= need);
        if !ok {
            self.counters
                .refused_permission
                .fetch_add(1, Ordering::Relaxed);
            let e = Error::new(
                Kind::PermissionDenied,
                format!(
                    "{} (role {}) may not call {method}: needs {}",
                    p.name,
                    p.role.map_or("none", Role::as_str),
                    need.as_str()
                ),
            );
            self.record(
                &p.name,
                p.role.map_or("none", Role::as_str),
                method,
                target,
                Err(&e),
            );
            return Err(e);
        }
        Ok(p)
    }

    /// Audits the outcome of a mutating call.
    pub fn audit<T>(&self, p: &Principal, method: &str, target: &str, result: &Result<T, Error>) {
        self.record(
            &p.name,
            p.role.map_or("none", Role::as_str),
            method,
            target,
            result.as_ref().map(|_| ()),
        );
    }

    fn record(
        &self,
        who: &str,
        role: &str,
        method: &str,
        target: &str,
        result: Result<(), &Error>,
    ) {
        let (result, detail) = match result {
            Ok(()) => ("ok".to_owned(), String::new()),
            Err(e) => {
                let code = tonic::Status::from(e.clone()).code();
                (format!("{code:?}"), e.context.clone())
            }
        };
        let rec = AuditRecord {
            time_nanos: now_nanos(),
            who: who.to_owned(),
            role: role.to_owned(),
            method: method.to_owned(),
            target: target.to_owned(),
            result,
            detail,
        };
        if let Err(e) = self.store.append_audit(&rec) {
            self.counters
                .audit_write_errors
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, method, who, "audit record not written");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenConfig;
    use crate::store::StoreOptions;

    fn auth(anon: Option<Role>) -> (tempfile::TempDir, Arc<Store>, Authenticator) {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap());
        let cfg = AuthConfig {
            anonymous_role: anon,
            tokens: vec![TokenConfig {
                name: "ops".into(),
                role: Role::Operator,
                sha256: token_sha256_hex("s3cret"),
            }],
            clients: vec![],
        };
        let a = Authenticator::new(&cfg, store.clone()).unwrap();
        (dir, store, a)
    }

    fn req(auth: Option<&str>) -> tonic::Request<()> {
        let mut r = tonic::Request::new(());
        if let Some(a) = auth {
            r.metadata_mut().insert("authorization", a.parse().unwrap());
        }
        r
    }

    #[test]
    fn token_roles_and_refusals_are_audited() {
        let (_d, store, a) = auth(None);
        let p = a
            .authorize(
                &req(Some("Bearer s3cret")),
                "m.Add",
                "sid 1",
                Role::Operator,
            )
            .unwrap();
        assert_eq!(p.name, "ops");
        let e = a
            .authorize(&req(Some("Bearer s3cret")), "m.Shutdown", "", Role::Admin)
            .unwrap_err();
        assert_eq!(e.kind, Kind::PermissionDenied);
        let e = a
            .authorize(&req(Some("Bearer nope")), "m.List", "", Role::Viewer)
            .unwrap_err();
        assert_eq!(e.kind, Kind::Unauthenticated);
        let e = a
            .authorize(&req(None), "m.List", "", Role::Viewer)
            .unwrap_err();
        assert_eq!(e.kind, Kind::Unauthenticated);
        // The known caller's refusal is audited at once, the unknown ones' in one summary.
        let log = store.audit_log(10).unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].method, "m.Shutdown");
        assert_eq!(log[0].result, "PermissionDenied");
        assert_eq!(a.flush_refusals(), 2);
        assert_eq!(a.flush_refusals(), 0);
        let log = store.audit_log(10).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].method, "unauthenticated");
        assert_eq!(log[0].result, "Unauthenticated");
        assert!(
            log[0]
                .detail
                .starts_with("2 calls refused before authentication"),
            "{log:?}"
        );
        assert!(log[0].detail.contains("m.List x2"), "{log:?}");
        assert_eq!(
            a.counters.refused_unauthenticated.load(Ordering::Relaxed),
            2
        );
    }

    #[test]
    fn anonymous_role_applies_without_credentials_only() {
        let (_d, _s, a) = auth(Some(Role::Viewer));
        let p = a.authorize(&req(None), "m.List", "", Role::Viewer).unwrap();
        assert_eq!(p.via, Via::Anonymous);
        assert!(a
            .authorize(&req(None), "m.Add", "", Role::Operator)
            .is_err());
        // A wrong token is not silently downgraded to anonymous.
        assert!(a
            .authorize(&req(Some("Bearer x")), "m.List", "", Role::Viewer)
            .is_err());
    }
}
