//! Configuration of the control plane's part of the appliance config: the `[api]`,
//! `[storage]`, `[metrics]`, `[auth]`, `[ingest]`, `[eve]`, `[syslog]`, `[incidents]`,
//! `[[webhooks]]`, `[response]`, `[[playbooks]]` and `[evidence]` sections. Every struct denies
//! unknown fields; [`ControlPlaneConfig::validate`] checks what serde cannot and names the key.
//!
//! ```toml
//! [api]
//! listen = "127.0.0.1:50051"
//! allow_plaintext = true          # honoured only on a loopback address
//! # [api.tls]
//! # cert = "/etc/osprey/api.crt"
//! # key = "/etc/osprey/api.key"
//! # client_ca = "/etc/osprey/clients-ca.crt"   # enables mTLS client certificates
//!
//! max_rules_bytes = 8388608      # largest rule text of an Add or Validate (any role)
//! max_request_bytes = 65536      # every other request
//! # [api.concurrency]            # expensive calls per role and method at once
//! # viewer = 1
//!
//! [storage]
//! path = "data"
//! max_age_secs = 604800
//! max_bytes = 10737418240
//! audit_max_age_secs = 7776000
//! audit_max_records = 100000
//!
//! [incidents]
//! group_by = "host"               # or "pair" (source → destination)
//! window_secs = 3600              # a member joins if within this of the last one
//! home_net = ["192.0.2.0/24"]
//! [[incidents.assets]]
//! name = "servers"
//! cidrs = ["192.0.2.0/28"]
//! criticality = 10                # 0..=10
//!
//! [auth]
//! anonymous_role = "admin"        # only for plaintext loopback
//! [[auth.tokens]]
//! name = "ci"
//! role = "operator"
//! sha256 = "<hex of sha256(token)>"
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::Role;

mod analytics;
mod intel;
mod response;

pub use analytics::*;
pub use intel::*;
pub use response::*;

/// A config problem, naming the key it is about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("config `{key}`: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

fn cfg_err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// The control plane's sections of the appliance config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlPlaneConfig {
    pub api: ApiConfig,
    pub storage: StorageConfig,
    pub metrics: MetricsConfig,
    pub auth: AuthConfig,
    pub ingest: IngestConfig,
    pub eve: EveConfig,
    pub blocklist: BlocklistConfig,
    pub syslog: SyslogConfig,
    pub incidents: IncidentsConfig,
    /// The stall watchdog: a running worker without a heartbeat for this long is reported
    /// (component `workers`); `None`: no watchdog.
    pub watchdog: Option<std::time::Duration>,
    pub webhooks: Vec<WebhookConfig>,
    pub response: ResponseConfig,
    pub playbooks: Vec<crate::playbooks::PlaybookConfig>,
    pub evidence: EvidenceConfig,
    pub intel: IntelConfig,
    /// `[console]`; absent, no console is served (the appliance's embedded default has one).
    pub console: Option<ConsoleConfig>,
    pub reports: ReportsConfig,
}

/// `[api]`: the gRPC listener.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    /// Serve without TLS. Refused unless `listen` is a loopback address.
    pub allow_plaintext: bool,
    pub tls: Option<TlsConfig>,
    /// Largest page a query may ask for.
    pub max_page_size: u32,
    /// How long a reload waits for every worker to run the new generation.
    pub reload_confirm_timeout_ms: u64,
    /// Largest rule text one call carries: the largest rule file an operator may `Add`, and
    /// the largest text anyone may `Validate` (a viewer included). Larger requests are
    /// refused with RESOURCE_EXHAUSTED before they are read.
    pub max_rules_bytes: usize,
    /// Largest request of every other method (queries, status, shutdown, a viewer's `Add`).
    pub max_request_bytes: usize,
    /// Unauthenticated calls refused per second and peer address (token bucket refill);
    /// beyond the bucket every call from that address is refused with RESOURCE_EXHAUSTED
    /// without looking at its credentials, until the bucket refills.
    pub refusals_per_sec: u32,
    /// Size of that bucket: refusals a peer may cause in a burst.
    pub refusals_burst: u32,
    /// Refused unauthenticated calls are audited as one summary record per this interval,
    /// not one record each.
    pub refusal_summary_secs: u64,
    /// Expensive calls (`Validate`, `Add`, `Reload`, queries) in progress at once per role
    /// and method; one more is refused with RESOURCE_EXHAUSTED.
    pub concurrency: ConcurrencyConfig,
}

/// `[api.concurrency]`: calls of one expensive method each role may have in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConcurrencyConfig {
    pub viewer: u32,
    pub operator: u32,
    pub admin: u32,
}

impl Default for ConcurrencyConfig {
    fn default() -> Self {
        ConcurrencyConfig {
            viewer: 1,
            operator: 2,
            admin: 4,
        }
    }
}

impl ConcurrencyConfig {
    /// The limit of `role`.
    pub fn of(&self, role: Role) -> u32 {
        match role {
            Role::Viewer => self.viewer,
            Role::Operator => self.operator,
            Role::Admin => self.admin,
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            allow_plaintext: true,
            tls: None,
            max_page_size: 1000,
            reload_confirm_timeout_ms: 10_000,
            // The largest ET Open file is 3.7 MB.
            max_rules_bytes: 8 << 20,
            max_request_bytes: 64 << 10,
            refusals_per_sec: 2,
            refusals_burst: 20,
            refusal_summary_secs: 60,
            concurrency: ConcurrencyConfig::default(),
        }
    }
}

/// `[api.tls]`: PEM files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA that signs client certificates; when set, clients may authenticate with a
    /// certificate (mTLS) instead of a token.
    pub client_ca: Option<PathBuf>,
}

/// `[storage]`: RocksDB and retention.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub path: PathBuf,
    /// fsync every batch. Off, a stored alert survives a process kill (the WAL is in the
    /// page cache); on, it also survives power loss, at a throughput cost.
    pub sync_writes: bool,
    /// Alerts and flows older than this (by packet time) are deleted; 0 keeps them.
    pub max_age_secs: u64,
    /// Oldest alerts are deleted while the database is larger than this; 0 = no limit.
    pub max_bytes: u64,
    pub retention_interval_secs: u64,
    /// Writes are refused (a counted storage error) while the volume has less free space
    /// than this, so RocksDB never runs into ENOSPC mid-write.
    pub min_free_bytes: u64,
    /// Audit records older than this (wall-clock time) are deleted; 0 keeps them.
    pub audit_max_age_secs: u64,
    /// The oldest audit records are deleted while more than this many are stored; 0 = no
    /// limit.
    pub audit_max_records: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: PathBuf::from("data"),
            sync_writes: false,
            max_age_secs: 7 * 24 * 3600,
            max_bytes: 0,
            retention_interval_secs: 60,
            min_free_bytes: 256 << 20,
            audit_max_age_secs: 90 * 24 * 3600,
            audit_max_records: 100_000,
        }
    }
}

/// `[metrics]`: Prometheus endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9477)),
        }
    }
}

/// `[console]`: the web console and its REST and WebSocket API (see `crate::web`). TLS is the
/// API's: with `[api.tls]` the console serves HTTPS with the same certificate and client CA,
/// without it plaintext, allowed only on a loopback address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    pub enabled: bool,
    /// Port 0 picks a free port (written to `osprey run`'s address file, key `console`).
    pub listen: SocketAddr,
    /// How long a login session lasts, as `humantime` text (`"8h"`, `"30m"`).
    pub session_ttl: String,
    /// Sessions held at once; a login beyond is refused (counted) until one expires.
    pub max_sessions: usize,
    /// Events a WebSocket client may have queued; beyond, it is told how many it missed.
    pub ws_queue: usize,
    /// WebSocket clients at once; one more is refused with 503.
    pub max_ws_clients: usize,
    /// Longest a request may take before it is answered 503 `unavailable`.
    pub request_timeout_secs: u64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            session_ttl: "8h".into(),
            max_sessions: 1024,
            ws_queue: 1024,
            max_ws_clients: 256,
            request_timeout_secs: 30,
        }
    }
}

impl ConsoleConfig {
    /// The session lifetime; validation has checked the text.
    pub fn session_ttl(&self) -> Result<std::time::Duration, ConfigError> {
        match humantime::parse_duration(self.session_ttl.trim()) {
            Ok(d) if !d.is_zero() => Ok(d),
            Ok(_) => Err(cfg_err("console.session_ttl", "must be longer than zero")),
            Err(e) => Err(cfg_err(
                "console.session_ttl",
                format!("`{}`: {e} (write e.g. \"8h\" or \"30m\")", self.session_ttl),
            )),
        }
    }

    fn validate(&self, api: &ApiConfig) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        self.session_ttl()?;
        if api.tls.is_none() && !self.listen.ip().is_loopback() {
            return Err(cfg_err(
                "console.listen",
                format!(
                    "plaintext is allowed only on loopback, not on {} (set [api.tls]: the console uses the API's certificate)",
                    self.listen
                ),
            ));
        }
        for (key, n) in [
            ("console.max_sessions", self.max_sessions),
            ("console.ws_queue", self.ws_queue),
            ("console.max_ws_clients", self.max_ws_clients),
        ] {
            if !(1..=1 << 20).contains(&n) {
                return Err(cfg_err(key, "must be within 1..=1048576"));
            }
        }
        if !(1..=3600).contains(&self.request_timeout_secs) {
            return Err(cfg_err(
                "console.request_timeout_secs",
                "must be within 1..=3600",
            ));
        }
        Ok(())
    }
}

/// `[auth]`: who may call what.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Role granted to callers without credentials. Allowed only with plaintext on loopback
    /// (a local console, like a Unix socket).
    pub anonymous_role: Option<Role>,
    pub tokens: Vec<TokenConfig>,
    pub clients: Vec<ClientCertConfig>,
}

/// A bearer token, stored as the hex SHA-256 of the token so the config holds no secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub name: String,
    pub role: Role,
    pub sha256: String,
}

/// A client certificate subject (CN) and its role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertConfig {
    pub subject: String,
    pub role: Role,
}

/// `[ingest]`: worker rings and the draining thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Slots per worker ring (alerts; flows and stats rings get the same).
    pub ring_capacity: usize,
    /// Most records written in one RocksDB batch. Batches are only this large when alerts
    /// queue up; a larger batch puts more index entries of one sid or address next to each
    /// other in the memtable (16,384 took 28% less write CPU per alert than 4096).
    pub batch_max: usize,
    /// Management core to pin the ingest thread to; none = unpinned.
    pub core: Option<usize>,
    /// Queue of each live tail on the event stream: a tail this many alerts behind misses
    /// the next ones (counted in `events.tail.dropped`) until it catches up.
    pub subscriber_buffer: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            ring_capacity: 65_536,
            batch_max: 16_384,
            core: None,
            subscriber_buffer: 4096,
        }
    }
}

/// `[eve]`: EVE JSON file output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EveConfig {
    pub enabled: bool,
    pub path: PathBuf,
    /// Rotate when the file passes this size; 0 = never.
    pub rotate_bytes: u64,
    /// Rotated files kept (`eve.json.1` ... `eve.json.N`).
    pub keep: u32,
}

impl Default for EveConfig {
    fn default() -> Self {
        EveConfig {
            enabled: false,
            path: PathBuf::from("eve.json"),
            rotate_bytes: 256 * 1024 * 1024,
            keep: 5,
        }
    }
}

impl ControlPlaneConfig {
    /// Parses TOML and validates it.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let cfg: ControlPlaneConfig = toml::from_str(text).map_err(|e| ConfigError {
            key: e
                .span()
                .map(|s| format!("at byte {}", s.start))
                .unwrap_or_default(),
            message: e.message().to_owned(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the `[blocklist]` section: bounds, and every static entry parses.
    fn validate_blocklist(&self) -> Result<(), ConfigError> {
        let b = &self.blocklist;
        if !(1..=10_000_000).contains(&b.max_entries) {
            return Err(cfg_err(
                "blocklist.max_entries",
                "must be within 1..=10000000",
            ));
        }
        if !(10..=3_600_000).contains(&b.expiry_check_ms) {
            return Err(cfg_err(
                "blocklist.expiry_check_ms",
                "must be within 10..=3600000",
            ));
        }
        if b.entries.len() > b.max_entries {
            return Err(cfg_err(
                "blocklist.entries",
                format!(
                    "{} entries exceed max_entries {}",
                    b.entries.len(),
                    b.max_entries
                ),
            ));
        }
        for (i, e) in b.entries.iter().enumerate() {
            let side = vocab::block::Side::from_name(&e.side).ok_or_else(|| {
                cfg_err(
                    &format!("blocklist.entries[{i}].side"),
                    format!("{:?} is not src, dst or either", e.side),
                )
            })?;
            vocab::block::BlockMatch::parse(&e.target, side).map_err(|err| {
                cfg_err(&format!("blocklist.entries[{i}].target"), err.to_string())
            })?;
        }
        Ok(())
    }

    /// Checks cross-field rules serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        crate::reports::Settings::from_config(&self.reports)?;
        let loopback = self.api.listen.ip().is_loopback();
        if self.api.tls.is_none() {
            if !self.api.allow_plaintext {
                return Err(cfg_err(
                    "api.tls",
                    "missing: set [api.tls] or allow_plaintext on a loopback address",
                ));
            }
            if !loopback {
                return Err(cfg_err(
                    "api.allow_plaintext",
                    format!(
                        "plaintext is allowed only on loopback, not on {}",
                        self.api.listen
                    ),
                ));
            }
        }
        if self.auth.anonymous_role.is_some() && (self.api.tls.is_some() || !loopback) {
            return Err(cfg_err(
                "auth.anonymous_role",
                "allowed only for a plaintext API on a loopback address",
            ));
        }
        if let Some(tls) = &self.api.tls {
            if !self.auth.clients.is_empty() && tls.client_ca.is_none() {
                return Err(cfg_err(
                    "api.tls.client_ca",
                    "missing: [[auth.clients]] need a CA to verify client certificates",
                ));
            }
        }
        self.validate_blocklist()?;
        if let Some(c) = &self.console {
            c.validate(&self.api)?;
        }
        self.intel.validate().map_err(|e| cfg_err("intel", e))?;
        if self.api.max_page_size == 0 || self.api.max_page_size > 100_000 {
            return Err(cfg_err("api.max_page_size", "must be within 1..=100000"));
        }
        if !(1024..=256 << 20).contains(&self.api.max_rules_bytes) {
            return Err(cfg_err(
                "api.max_rules_bytes",
                "must be within 1024..=268435456",
            ));
        }
        if !(1024..=self.api.max_rules_bytes).contains(&self.api.max_request_bytes) {
            return Err(cfg_err(
                "api.max_request_bytes",
                "must be at least 1024 and at most api.max_rules_bytes",
            ));
        }
        if self.api.refusals_per_sec == 0 || self.api.refusals_burst == 0 {
            return Err(cfg_err(
                "api.refusals_per_sec",
                "refusals_per_sec and refusals_burst must be > 0",
            ));
        }
        if self.api.refusal_summary_secs == 0 {
            return Err(cfg_err("api.refusal_summary_secs", "must be > 0"));
        }
        for (role, n) in [
            ("viewer", self.api.concurrency.viewer),
            ("operator", self.api.concurrency.operator),
            ("admin", self.api.concurrency.admin),
        ] {
            if !(1..=1024).contains(&n) {
                return Err(cfg_err(
                    &format!("api.concurrency.{role}"),
                    "must be within 1..=1024",
                ));
            }
        }
        for (i, t) in self.auth.tokens.iter().enumerate() {
            if t.sha256.len() != 64 || hex::decode(&t.sha256).is_err() {
                return Err(cfg_err(
                    &format!("auth.tokens[{i}].sha256"),
                    "must be 64 hex digits (sha256 of the token)",
                ));
            }
            if t.name.is_empty() {
                return Err(cfg_err(
                    &format!("auth.tokens[{i}].name"),
                    "must not be empty",
                ));
            }
        }
        for (i, c) in self.auth.clients.iter().enumerate() {
            if c.subject.is_empty() {
                return Err(cfg_err(
                    &format!("auth.clients[{i}].subject"),
                    "must not be empty",
                ));
            }
        }
        if self.storage.path.as_os_str().is_empty() {
            return Err(cfg_err("storage.path", "must not be empty"));
        }
        if self.storage.retention_interval_secs == 0 {
            return Err(cfg_err("storage.retention_interval_secs", "must be > 0"));
        }
        if !self.ingest.ring_capacity.is_power_of_two() || self.ingest.ring_capacity < 64 {
            return Err(cfg_err(
                "ingest.ring_capacity",
                "must be a power of two, at least 64",
            ));
        }
        if self.ingest.batch_max == 0 || self.ingest.batch_max > 1 << 20 {
            return Err(cfg_err("ingest.batch_max", "must be within 1..=1048576"));
        }
        if self.ingest.subscriber_buffer == 0 {
            return Err(cfg_err("ingest.subscriber_buffer", "must be > 0"));
        }
        if let Some(core) = self.ingest.core {
            let known = core_affinity::get_core_ids().unwrap_or_default();
            if !known.iter().any(|c| c.id == core) {
                return Err(cfg_err(
                    "ingest.core",
                    format!("core {core} does not exist on this machine"),
                ));
            }
        }
        if self.eve.enabled && self.eve.path.as_os_str().is_empty() {
            return Err(cfg_err("eve.path", "must not be empty"));
        }
        self.incidents.settings()?;
        self.syslog.settings()?;
        self.webhook_settings()?;
        if self.response.reload_interval_ms == 0 {
            return Err(cfg_err("response.reload_interval_ms", "must be > 0"));
        }
        if !self.playbooks.is_empty() || self.response.playbooks_file.is_some() {
            if !self.incidents.enabled {
                return Err(cfg_err(
                    "playbooks",
                    "playbooks act on incidents: [incidents] enabled must be true",
                ));
            }
            crate::playbooks::load(&self.playbook_settings())
                .map_err(|m| cfg_err("playbooks", m))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_section_is_checked() {
        let ok = ControlPlaneConfig::from_toml_str(
            "[syslog]\nenabled = true\ntransport = \"tcp\"\nserver = \"192.0.2.10:6514\"\n",
        )
        .unwrap();
        assert_eq!(ok.syslog.settings().unwrap().server.port(), 6514);
        let bad = |t: &str| ControlPlaneConfig::from_toml_str(t).unwrap_err();
        assert_eq!(bad("[syslog]\nfacility = 24\n").key, "syslog.facility");
        assert_eq!(bad("[syslog]\nhostname = \"a b\"\n").key, "syslog.hostname");
        assert!(bad("[syslog]\ntransport = \"quic\"\n")
            .message
            .contains("unknown variant"));
    }

    #[test]
    fn incidents_section_is_checked_key_by_key() {
        let ok = ControlPlaneConfig::from_toml_str(
            "[incidents]\ngroup_by = \"pair\"\nhome_net = [\"192.0.2.0/24\"]\n\
             [[incidents.assets]]\nname = \"servers\"\ncidrs = [\"192.0.2.0/28\"]\ncriticality = 10\n",
        )
        .unwrap();
        let s = ok.incidents.settings().unwrap();
        assert_eq!(s.assets.0[0].criticality, 10);
        let bad = |t: &str| ControlPlaneConfig::from_toml_str(t).unwrap_err();
        assert!(bad("[incidents]\nwindow = 5\n")
            .message
            .contains("unknown field"));
        assert_eq!(
            bad("[incidents]\nhome_net = [\"10/8\"]\n").key,
            "incidents.home_net"
        );
        let e = bad(
            "[[incidents.assets]]\nname = \"x\"\ncidrs = [\"192.0.2.0/24\"]\ncriticality = 11\n",
        );
        assert_eq!(e.key, "incidents.assets[0].criticality");
        assert!(bad("[incidents]\ngroup_by = \"flow\"\n")
            .message
            .contains("unknown variant"));
    }

    #[test]
    fn console_settings_are_checked_by_key() {
        let parse = |t: &str| -> Result<(), ConfigError> {
            let c: ControlPlaneConfig =
                toml::from_str(t).map_err(|e| cfg_err("toml", e.to_string()))?;
            c.validate()
        };
        parse("[console]\nlisten = \"127.0.0.1:0\"\nsession_ttl = \"30m\"\n").unwrap();
        assert_eq!(parse("[console]\ncolour = 1\n").unwrap_err().key, "toml");
        assert_eq!(
            parse("[console]\nlisten = \"192.0.2.1:8443\"\n")
                .unwrap_err()
                .key,
            "console.listen"
        );
        assert_eq!(
            parse("[console]\nsession_ttl = \"soon\"\n")
                .unwrap_err()
                .key,
            "console.session_ttl"
        );
        assert_eq!(
            parse("[console]\nws_queue = 0\n").unwrap_err().key,
            "console.ws_queue"
        );
        // Off: not checked further.
        parse("[console]\nenabled = false\nlisten = \"192.0.2.1:8443\"\n").unwrap();
        // Without the section, no console.
        assert!(ControlPlaneConfig::default().console.is_none());
    }

    #[test]
    fn default_is_valid_and_loopback() {
        let c = ControlPlaneConfig::default();
        c.validate().unwrap();
        assert!(c.api.listen.ip().is_loopback());
    }

    #[test]
    fn module_doc_example_parses() {
        let text = r#"
[api]
listen = "127.0.0.1:50051"
allow_plaintext = true
[storage]
path = "data"
max_age_secs = 604800
max_bytes = 10737418240
[auth]
anonymous_role = "admin"
[[auth.tokens]]
name = "ci"
role = "operator"
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
"#;
        let c = ControlPlaneConfig::from_toml_str(text).unwrap();
        assert_eq!(c.auth.tokens[0].role, Role::Operator);
    }

    /// The `config_toml` fuzz target's invariant on a config with every section set.
    #[test]
    fn accepted_config_round_trips_through_toml() {
        let mut c = ControlPlaneConfig::default();
        c.auth.tokens.push(TokenConfig {
            name: "t".into(),
            role: Role::Viewer,
            sha256: "ab".repeat(32),
        });
        c.auth.anonymous_role = Some(Role::Viewer);
        c.storage.max_bytes = 1 << 30;
        c.eve.enabled = true;
        let text = toml::to_string(&c).unwrap();
        assert_eq!(ControlPlaneConfig::from_toml_str(&text).unwrap(), c);
    }

    #[test]
    fn limits_are_checked_by_key() {
        let e = ControlPlaneConfig::from_toml_str("[api]\nmax_rules_bytes = 10\n").unwrap_err();
        assert_eq!(e.key, "api.max_rules_bytes");
        let e = ControlPlaneConfig::from_toml_str(
            "[api]\nmax_rules_bytes = 4096\nmax_request_bytes = 8192\n",
        )
        .unwrap_err();
        assert_eq!(e.key, "api.max_request_bytes");
        let e = ControlPlaneConfig::from_toml_str("[api.concurrency]\nviewer = 0\n").unwrap_err();
        assert_eq!(e.key, "api.concurrency.viewer");
        let e = ControlPlaneConfig::from_toml_str("[api.concurrency]\nguest = 1\n").unwrap_err();
        assert!(e.message.contains("guest"), "{e}");
        let c = ControlPlaneConfig::from_toml_str(
            "[api.concurrency]\noperator = 3\n[storage]\naudit_max_records = 5\n",
        )
        .unwrap();
        assert_eq!(c.api.concurrency.of(Role::Operator), 3);
        assert_eq!(c.api.concurrency.of(Role::Viewer), 1);
        assert_eq!(c.storage.audit_max_records, 5);
    }

    #[test]
    fn unknown_key_is_refused() {
        let e = ControlPlaneConfig::from_toml_str("[api]\nlisten_addr = \"x\"\n").unwrap_err();
        assert!(e.message.contains("listen_addr"), "{e}");
    }

    #[test]
    fn plaintext_off_loopback_is_refused_by_key() {
        let e =
            ControlPlaneConfig::from_toml_str("[api]\nlisten = \"0.0.0.0:50051\"\n").unwrap_err();
        assert_eq!(e.key, "api.allow_plaintext");
    }

    #[test]
    fn bad_token_hash_names_the_entry() {
        let text = "[[auth.tokens]]\nname = \"a\"\nrole = \"viewer\"\nsha256 = \"zz\"\n";
        let e = ControlPlaneConfig::from_toml_str(text).unwrap_err();
        assert_eq!(e.key, "auth.tokens[0].sha256");
    }

    #[test]
    fn anonymous_needs_plaintext_loopback() {
        let text = "[api]\nlisten=\"127.0.0.1:1\"\n[api.tls]\ncert=\"c\"\nkey=\"k\"\n[auth]\nanonymous_role=\"viewer\"\n";
        let e = ControlPlaneConfig::from_toml_str(text).unwrap_err();
        assert_eq!(e.key, "auth.anonymous_role");
    }
}
