//! Who is calling and what they may do.
//!
//! A caller is identified by, in order: a bearer token (`authorization: Bearer <token>`,
//! compared by SHA-256 against the configured hashes), a TLS client certificate (its subject
//! CN mapped to a role; the certificate chain itself is verified by rustls against
//! `api.tls.client_ca` during the handshake), or the configured anonymous role (plaintext
//! loopback only). Roles are ordered: viewer (read) < operator (rules, alerts) < admin
//! (config, shutdown).
//!
//! Every refusal and every mutating call is written to the audit log (who, what, when,
//! result). A certificate the CA did not sign never reaches this layer: the TLS handshake
//! fails and the client sees `UNAVAILABLE`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

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
    pub refused_permission: AtomicU64,
    pub audit_write_errors: AtomicU64,
}

/// Identifies callers, checks roles, writes the audit log.
pub struct Authenticator {
    tokens: Vec<(String, Role, [u8; 32])>,
    clients: Vec<(String, Role)>,
    anonymous: Option<Role>,
    store: Arc<Store>,
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
            counters: AuthCounters::default(),
        })
    }

    /// Who is calling, or `Unauthenticated`.
    pub fn identify<T>(&self, req: &tonic::Request<T>) -> Result<Principal, Error> {
        if let Some(v) = req.metadata().get("authorization") {
            let text = v.to_str().map_err(|_| {
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
        if let Some(certs) = req.peer_certs() {
            if let Some(first) = certs.first() {
                let cn = cert_subject_cn(first.as_ref()).ok_or_else(|| {
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

    /// Identifies the caller and checks it holds `need`. Refusals are audited.
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
                self.counters
                    .refused_unauthenticated
                    .fetch_add(1, Ordering::Relaxed);
                self.record("anonymous", "none", method, target, Err(&e));
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
        let log = store.audit_log(10).unwrap();
        assert_eq!(log.len(), 3);
        assert_eq!(log[2].method, "m.Shutdown");
        assert_eq!(log[2].result, "PermissionDenied");
        assert_eq!(log[0].result, "Unauthenticated");
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
