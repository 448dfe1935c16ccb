//! The gRPC management API (`osprey.v1`): [`SystemService`](system), [`RulesService`](rules),
//! `AlertsService` and `FlowsService` ([`records`]), `AuditService` ([`audit`]),
//! `BlockService` ([`blocks`]), `OutputService` ([`outputs`]), `PlaybookService` ([`playbooks`]), `EvidenceService` ([`evidence`]), `ReportService` ([`reports`]). Every
//! service sits behind [`guard`], which refuses unknown callers, oversized requests and
//! calls over their role's concurrency before the body is decoded. Handlers authorize first
//! (refusals are audited), audit every mutating call, run RocksDB work on the blocking pool,
//! and return [`crate::error::Error`], turned into a `tonic::Status` by its one `From` impl
//! (in `status.rs`). [`auth`] is the one check of identity, role and audit.

pub mod audit;
pub mod auth;
pub mod blocks;
pub mod evidence;
pub mod guard;
pub mod incidents;
pub mod intel;
pub mod outputs;
pub mod playbooks;
pub mod records;
pub mod reports;
pub mod rules;
mod status;
pub mod system;

use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use crate::api::auth::Authenticator;
use crate::api::guard::Admission;
use crate::config::ApiConfig;
use crate::error::{Error, Kind, Result};
use crate::events::Bus;
use crate::ingest::IngestShared;
use crate::seams::{Appliance, RuleCompiler};
use crate::store::{AlertKey, Store};

/// Default page size when a request asks for 0.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// Counters of the API layer.
#[derive(Debug, Default)]
pub struct ApiCounters {
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
}

/// Everything the handlers share.
pub struct ApiContext {
    pub store: Arc<Store>,
    pub auth: Arc<Authenticator>,
    /// Limits applied before a handler runs (and their refusal counters).
    pub admission: Arc<Admission>,
    pub appliance: Arc<dyn Appliance>,
    pub compiler: Arc<dyn RuleCompiler>,
    pub ingest: Arc<IngestShared>,
    /// The live event stream (the tail subscribes to it).
    pub events: Arc<Bus>,
    /// The correlator, when `[incidents]` is enabled.
    pub incidents: Option<Arc<crate::incidents::IncidentsShared>>,
    /// The syslog output's counters, when `[syslog]` is enabled.
    pub syslog: Option<Arc<crate::outputs::syslog::SyslogCounters>>,
    /// The webhook outputs (`[[webhooks]]`; none configured: empty).
    pub webhooks: Arc<crate::outputs::webhook::Webhooks>,
    /// The playbook engine, when incidents are enabled.
    pub playbooks: Option<Arc<crate::playbooks::PlaybooksShared>>,
    /// Evidence and its chain of custody, when `[evidence]` is enabled.
    pub evidence: Option<Arc<crate::evidence::Evidence>>,
    /// Queue of each tail on the event stream (`ingest.subscriber_buffer`).
    pub subscriber_buffer: usize,
    pub config: ApiConfig,
    pub started: Instant,
    pub counters: ApiCounters,
    /// The dynamic block list.
    pub blocks: Arc<crate::blocks::BlockList>,
    /// Threat-intelligence feeds, indicators and hits.
    pub intel: Arc<crate::intel::Intel>,
    /// Serialises reloads: one compile at a time, generations in order.
    pub reload_lock: tokio::sync::Mutex<()>,
    /// Flipped to `true` when the appliance is asked to stop; servers and streams watch it.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// The stall watchdog, when `watchdog` is configured.
    pub watchdog: Option<Arc<crate::health::Watchdog>>,
    /// The web console's counters (zero while `[console]` is off).
    pub console: Arc<crate::web::ConsoleCounters>,
    /// Reports: generation, storage, counters.
    pub reports: Arc<crate::reports::Reports>,
}

impl std::fmt::Debug for ApiContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiContext").finish_non_exhaustive()
    }
}

impl ApiContext {
    /// Checks a requested page size against the configured cap.
    pub fn page_size(&self, requested: u32) -> Result<usize> {
        let max = self.config.max_page_size;
        match requested {
            0 => Ok(DEFAULT_PAGE_SIZE.min(max) as usize),
            n if n > max => Err(Error::invalid(format!(
                "page_size {n} exceeds the maximum of {max}"
            ))),
            n => Ok(n as usize),
        }
    }
}

/// Resolves once the shutdown flag is set (or its sender is gone).
pub(crate) async fn until_shutdown(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Runs `pass` on a blocking thread every `every` until shutdown. A pass never overlaps the
/// next: the next tick waits for it. Periodic housekeeping (expiry, retention, flushing)
/// runs through this one loop.
pub(crate) fn spawn_periodic<F>(
    every: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    pass: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() + Send + Sync + 'static,
{
    let pass = std::sync::Arc::new(pass);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = until_shutdown(&mut shutdown) => break,
                _ = tick.tick() => {}
            }
            let p = pass.clone();
            let _ = tokio::task::spawn_blocking(move || p()).await;
        }
    })
}

/// Runs blocking storage work off the async threads.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("storage task failed: {e}")))?
}

const TOKEN_ALERT: u8 = b'a';
const TOKEN_RULE: u8 = b'r';

/// Opaque page token for a time-ordered cursor.
pub fn encode_key_token(key: AlertKey) -> String {
    let mut b = Vec::with_capacity(17);
    b.push(TOKEN_ALERT);
    b.extend_from_slice(&key.bytes());
    hex::encode(b)
}

/// Parses a token from [`encode_key_token`]; empty means the first page.
pub fn decode_key_token(token: &str) -> Result<Option<AlertKey>> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || Error::invalid("page_token is not one this server issued");
    let b = hex::decode(token).map_err(|_| bad())?;
    if b.len() != 17 || b[0] != TOKEN_ALERT {
        return Err(bad());
    }
    let ts = u64::from_be_bytes(b[1..9].try_into().map_err(|_| bad())?);
    let id = u64::from_be_bytes(b[9..17].try_into().map_err(|_| bad())?);
    Ok(Some(AlertKey { ts_nanos: ts, id }))
}

/// Opaque page token for a rule listing.
pub fn encode_rule_token(gid: u32, sid: u32) -> String {
    let mut b = vec![TOKEN_RULE];
    b.extend_from_slice(&gid.to_be_bytes());
    b.extend_from_slice(&sid.to_be_bytes());
    hex::encode(b)
}

/// Parses a token from [`encode_rule_token`].
pub fn decode_rule_token(token: &str) -> Result<Option<(u32, u32)>> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || Error::invalid("page_token is not one this server issued");
    let b = hex::decode(token).map_err(|_| bad())?;
    if b.len() != 9 || b[0] != TOKEN_RULE {
        return Err(bad());
    }
    let gid = u32::from_be_bytes(b[1..5].try_into().map_err(|_| bad())?);
    let sid = u32::from_be_bytes(b[5..9].try_into().map_err(|_| bad())?);
    Ok(Some((gid, sid)))
}

/// Parses an optional address filter.
pub fn parse_address(field: &str, text: &str) -> Result<Option<IpAddr>> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse().map(Some).map_err(|_| {
        Error::new(
            Kind::InvalidArgument,
            format!("{field} `{t}` is not an IP address"),
        )
    })
}

/// Checks a `[start, end)` time range (0 = unbounded).
pub fn check_range(start_ns: u64, end_ns: u64) -> Result<()> {
    if end_ns != 0 && start_ns >= end_ns {
        return Err(Error::invalid(format!(
            "start_ns {start_ns} is not before end_ns {end_ns}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn key_tokens_round_trip(ts in any::<u64>(), id in any::<u64>()) {
            let k = AlertKey { ts_nanos: ts, id };
            prop_assert_eq!(decode_key_token(&encode_key_token(k)).unwrap(), Some(k));
        }

        /// The same invariants as the `api_inputs` fuzz target.
        #[test]
        fn request_field_invariants(
            s in prop_oneof![".{0,60}", "(61|72|41|52)[0-9a-fA-F]{8,34}", "[0-9a-f:.]{2,40}"],
            a in any::<u64>(), b in any::<u64>(),
        ) {
            if let Ok(Some(k)) = decode_key_token(&s) {
                prop_assert_eq!(encode_key_token(k), s.to_ascii_lowercase());
            }
            if let Ok(Some((g, sid))) = decode_rule_token(&s) {
                prop_assert_eq!(encode_rule_token(g, sid), s.to_ascii_lowercase());
            }
            if let Ok(Some(ip)) = parse_address("address", &s) {
                prop_assert_eq!(ip, s.trim().parse::<IpAddr>().unwrap());
            }
            prop_assert_eq!(check_range(a, b).is_ok(), b == 0 || a < b);
            let _ = crate::console::parse_time(&s, 1_700_000_000_000_000_000);
        }
    }

    #[test]
    fn foreign_tokens_are_invalid_argument() {
        assert_eq!(
            decode_key_token("zz").unwrap_err().kind,
            Kind::InvalidArgument
        );
        let rule_tok = encode_rule_token(1, 2);
        assert!(decode_key_token(&rule_tok).is_err());
        assert_eq!(decode_rule_token(&rule_tok).unwrap(), Some((1, 2)));
    }
}
