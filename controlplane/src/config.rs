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

/// `[reports]`: executive summaries on demand and by schedule (see `crate::reports`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Scheduled reports: `"daily"` (the previous 24 hours, at `hour`), `"weekly"` (the
    /// previous 7 days, Mondays at `hour`), `"hourly"`, or `"every <duration>"` (`"every
    /// 10m"`: the previous 10 minutes, every 10 minutes).
    pub schedule: Vec<String>,
    /// Hour of the day (UTC, 0–23) of daily and weekly reports.
    pub hour: u8,
    /// Formats of scheduled reports: `"html"`, `"pdf"`.
    pub formats: Vec<String>,
    /// The headless browser that prints PDF reports (Debian's `chromium`).
    pub chromium: PathBuf,
    /// A PDF print taking longer than this is stopped and counted as failed.
    pub pdf_timeout_secs: u64,
    /// Reports kept; the oldest beyond this are deleted when one is stored.
    pub keep: u32,
    /// Longest range a report may cover.
    pub max_span_days: u64,
    /// The appliance's throughput is sampled this often for the traffic and performance
    /// sections (samples older than `[storage] max_age_secs` are deleted).
    pub sample_secs: u64,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            schedule: Vec::new(),
            hour: 6,
            formats: vec!["html".into()],
            chromium: PathBuf::from("chromium"),
            pdf_timeout_secs: 60,
            keep: 200,
            max_span_days: 400,
            sample_secs: 60,
        }
    }
}

/// `[evidence]`: incident evidence with a signed chain of custody (see `crate::evidence`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvidenceConfig {
    pub enabled: bool,
    /// Directory of the items, the custody log and the appliance's signing key; empty: the
    /// storage path with `-evidence` added (`data` → `data-evidence`).
    pub path: PathBuf,
    /// Bytes of each worker's ring of recent packets; 0: no ring, no packet captures.
    pub ring_bytes: usize,
    /// Packets older than this (packet time) leave the ring; 0: no age limit.
    pub ring_seconds: u32,
    /// Bytes kept of each packet.
    pub snaplen: u16,
    /// Packets of an alerting flow captured after the alert.
    pub after_packets: u32,
    /// Which alerts capture their flow's packets: `"none"`, `"all"`, or a list of sids.
    pub capture: CaptureSetting,
    /// A captured flow is stored as a `pcap` item once no packet of it came for this long.
    pub capture_idle_secs: u64,
}

/// `[evidence] capture`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CaptureSetting {
    /// `"none"` or `"all"`.
    Word(String),
    /// Signature ids.
    Sids(Vec<u32>),
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            enabled: true,
            path: PathBuf::new(),
            ring_bytes: 16 << 20,
            ring_seconds: 60,
            snaplen: 1518,
            after_packets: 100,
            capture: CaptureSetting::Word("none".into()),
            capture_idle_secs: 2,
        }
    }
}

impl ControlPlaneConfig {
    /// The evidence directory (`[evidence] path`, else beside the storage directory).
    pub fn evidence_dir(&self) -> PathBuf {
        if !self.evidence.path.as_os_str().is_empty() {
            return self.evidence.path.clone();
        }
        let mut name = self
            .storage
            .path
            .file_name()
            .map(std::ffi::OsStr::to_os_string)
            .unwrap_or_else(|| "data".into());
        name.push("-evidence");
        self.storage.path.with_file_name(name)
    }
}

/// `[response]`: how playbooks (`[[playbooks]]` here and in `playbooks_file`) run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseConfig {
    /// Every playbook records what it would do and does nothing.
    pub dry_run: bool,
    /// A TOML file of `[[playbooks]]`, validated at start (an error stops the start) and
    /// reloaded when it changes (an error keeps the playbooks in force).
    pub playbooks_file: Option<PathBuf>,
    /// How often the file is checked for changes.
    pub reload_interval_ms: u64,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        ResponseConfig {
            dry_run: false,
            playbooks_file: None,
            reload_interval_ms: 2000,
        }
    }
}

impl ControlPlaneConfig {
    /// The playbook engine's settings (not yet validated: [`crate::playbooks::load`]).
    pub fn playbook_settings(&self) -> crate::playbooks::Settings {
        crate::playbooks::Settings {
            inline: self.playbooks.clone(),
            file: self.response.playbooks_file.clone(),
            reload_interval: std::time::Duration::from_millis(self.response.reload_interval_ms),
            dry_run: self.response.dry_run,
            webhooks: self.webhooks.iter().map(|w| w.name.clone()).collect(),
            syslog: self.syslog.enabled,
        }
    }
}

/// `[[webhooks]]`: JSON POSTs of alerts and incident changes to an HTTP(S) receiver (see
/// `crate::outputs::webhook`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// How playbooks and `osprey ctl outputs` name it: letters, digits, `_`, `-`.
    pub name: String,
    /// `http://` or `https://` URL the JSON is posted to.
    pub url: String,
    /// Post every stored alert (its EVE record).
    #[serde(default)]
    pub alerts: bool,
    /// Post every incident change.
    #[serde(default)]
    pub incidents: bool,
    /// One attempt's limit, connecting included.
    #[serde(default = "WebhookConfig::default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts before the delivery is stored as a dead letter.
    #[serde(default = "WebhookConfig::default_attempts")]
    pub attempts: u32,
    /// Wait after the first failed attempt, doubling after each up to `backoff_max_ms`.
    #[serde(default = "WebhookConfig::default_backoff_min_ms")]
    pub backoff_min_ms: u64,
    #[serde(default = "WebhookConfig::default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Deliveries queued per source; beyond, dropped and counted (`webhook.<name>.overflow`,
    /// `events.webhook_<name>.dropped`), never slowing ingest.
    #[serde(default = "WebhookConfig::default_queue")]
    pub queue: usize,
    /// CA certificate(s), PEM, trusted for this receiver instead of the system's roots.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// File holding a bearer token sent as `Authorization: Bearer <token>`.
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// File holding an HMAC key: each body is signed in `X-Osprey-Signature`.
    #[serde(default)]
    pub hmac_key_file: Option<PathBuf>,
}

impl WebhookConfig {
    fn default_timeout_ms() -> u64 {
        5000
    }
    fn default_attempts() -> u32 {
        5
    }
    fn default_backoff_min_ms() -> u64 {
        500
    }
    fn default_backoff_max_ms() -> u64 {
        60_000
    }
    fn default_queue() -> usize {
        10_000
    }

    /// The output's settings, or the first bad key (`webhooks[i].key`).
    pub fn settings(
        &self,
        i: usize,
    ) -> Result<crate::outputs::webhook::WebhookSettings, ConfigError> {
        let key = |k: &str| format!("webhooks[{i}].{k}");
        if self.name.is_empty()
            || self.name.len() > 64
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(cfg_err(&key("name"), "1 to 64 letters, digits, `_` or `-`"));
        }
        let url = reqwest::Url::parse(&self.url)
            .map_err(|e| cfg_err(&key("url"), format!("{:?}: {e}", self.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(cfg_err(&key("url"), "must be an http:// or https:// URL"));
        }
        if self.timeout_ms == 0 {
            return Err(cfg_err(&key("timeout_ms"), "must be > 0"));
        }
        if !(1..=100).contains(&self.attempts) {
            return Err(cfg_err(&key("attempts"), "must be within 1..=100"));
        }
        if self.backoff_min_ms == 0 || self.backoff_min_ms > self.backoff_max_ms {
            return Err(cfg_err(
                &key("backoff_min_ms"),
                "must be > 0 and at most backoff_max_ms",
            ));
        }
        if self.queue == 0 {
            return Err(cfg_err(&key("queue"), "must be > 0"));
        }
        let secret = |k: &str, p: &Option<PathBuf>| -> Result<Option<String>, ConfigError> {
            p.as_ref()
                .map(|p| {
                    let t = std::fs::read_to_string(p)
                        .map_err(|e| cfg_err(&key(k), format!("{}: {e}", p.display())))?;
                    let t = t.trim().to_owned();
                    if t.is_empty() {
                        return Err(cfg_err(&key(k), format!("{} is empty", p.display())));
                    }
                    Ok(t)
                })
                .transpose()
        };
        let bearer_token = secret("bearer_token_file", &self.bearer_token_file)?;
        if bearer_token
            .as_deref()
            .is_some_and(|t| t.chars().any(|c| !c.is_ascii_graphic()))
        {
            return Err(cfg_err(
                &key("bearer_token_file"),
                "the token must be printable ASCII without spaces",
            ));
        }
        let hmac_key = secret("hmac_key_file", &self.hmac_key_file)?.map(String::into_bytes);
        Ok(crate::outputs::webhook::WebhookSettings {
            name: self.name.clone(),
            url,
            events: crate::outputs::webhook::Events {
                alerts: self.alerts,
                incidents: self.incidents,
            },
            timeout: std::time::Duration::from_millis(self.timeout_ms),
            attempts: self.attempts,
            backoff_min: std::time::Duration::from_millis(self.backoff_min_ms),
            backoff_max: std::time::Duration::from_millis(self.backoff_max_ms),
            queue: self.queue,
            ca: self.ca.clone(),
            bearer_token,
            hmac_key,
        })
    }
}

impl ControlPlaneConfig {
    /// Every webhook's settings, or the first bad key; names must be unique.
    pub fn webhook_settings(
        &self,
    ) -> Result<Vec<crate::outputs::webhook::WebhookSettings>, ConfigError> {
        let mut out: Vec<crate::outputs::webhook::WebhookSettings> = Vec::new();
        for (i, w) in self.webhooks.iter().enumerate() {
            let s = w.settings(i)?;
            if s.name == crate::playbooks::SYSLOG_TARGET {
                return Err(cfg_err(
                    &format!("webhooks[{i}].name"),
                    "\"syslog\" names the [syslog] output as a playbook's notify target",
                ));
            }
            if out.iter().any(|o| o.name == s.name) {
                return Err(cfg_err(
                    &format!("webhooks[{i}].name"),
                    format!("{:?} is used by another webhook", s.name),
                ));
            }
            out.push(s);
        }
        Ok(out)
    }
}

/// `[syslog]`: every stored alert's EVE record as an RFC 5424 message to a SIEM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    pub enabled: bool,
    /// `"udp"`, `"tcp"` (octet-counted frames) or `"tls"` (RFC 5425: octet-counted frames
    /// over TLS).
    pub transport: crate::outputs::syslog::Transport,
    pub server: SocketAddr,
    /// Syslog facility, 0..=23 (16 = local0).
    pub facility: u8,
    /// HOSTNAME field; empty = `-`.
    pub hostname: String,
    /// Alerts queued for the output; beyond, they are dropped for it (counted in
    /// `events.syslog.dropped`), never slowing ingest.
    pub queue: usize,
    /// TLS: CA certificate(s), PEM, that sign the server's certificate (else the Mozilla
    /// roots).
    pub ca: Option<PathBuf>,
    /// TLS: the name the server's certificate must carry; empty = the server's address.
    pub tls_server_name: String,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            enabled: false,
            transport: crate::outputs::syslog::Transport::Udp,
            server: SocketAddr::from(([127, 0, 0, 1], 514)),
            facility: 16,
            hostname: String::new(),
            queue: 65_536,
            ca: None,
            tls_server_name: String::new(),
        }
    }
}

impl SyslogConfig {
    /// The output's settings, or the first bad key.
    pub fn settings(&self) -> Result<crate::outputs::syslog::SyslogSettings, ConfigError> {
        if self.facility > 23 {
            return Err(cfg_err("syslog.facility", "must be within 0..=23"));
        }
        if self.queue == 0 {
            return Err(cfg_err("syslog.queue", "must be > 0"));
        }
        if self.hostname.chars().any(|c| !c.is_ascii_graphic()) || self.hostname.len() > 255 {
            return Err(cfg_err(
                "syslog.hostname",
                "at most 255 printable ASCII characters without spaces (RFC 5424)",
            ));
        }
        let tls = match self.transport {
            crate::outputs::syslog::Transport::Tls => Some(self.tls_settings()?),
            _ if self.ca.is_some() => {
                return Err(cfg_err("syslog.ca", "is only for transport = \"tls\""))
            }
            _ => None,
        };
        Ok(crate::outputs::syslog::SyslogSettings {
            transport: self.transport,
            server: self.server,
            facility: self.facility,
            hostname: self.hostname.clone(),
            queue: self.queue,
            tls,
        })
    }

    fn tls_settings(&self) -> Result<crate::outputs::syslog::TlsSettings, ConfigError> {
        let pem = self
            .ca
            .as_ref()
            .map(|p| {
                std::fs::read(p).map_err(|e| cfg_err("syslog.ca", format!("{}: {e}", p.display())))
            })
            .transpose()?;
        let name = if self.tls_server_name.is_empty() {
            self.server.ip().to_string()
        } else {
            self.tls_server_name.clone()
        };
        crate::outputs::syslog::TlsSettings::new(pem.as_deref(), &name).map_err(|m| {
            let key = if m.starts_with("server name") {
                "syslog.tls_server_name"
            } else {
                "syslog.ca"
            };
            cfg_err(key, m)
        })
    }
}

/// `[incidents]`: correlation of stored alerts into incidents (see `crate::incidents`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentsConfig {
    pub enabled: bool,
    /// `"host"`: one incident per internal host; `"pair"`: per source → destination.
    pub group_by: crate::incidents::GroupBy,
    /// A member joins an open incident of its key when within this many seconds (packet
    /// time) of its last member; later ones open a new incident.
    pub window_secs: u64,
    /// Successive tactics of one incident within this many seconds are a kill-chain
    /// progression.
    pub killchain_window_secs: u64,
    /// Internal networks (CIDR blocks); the default is Suricata's default `HOME_NET`.
    pub home_net: Vec<String>,
    /// Incidents open in memory at most; an alert that would open one more is counted
    /// (`incidents.overflow`) and not grouped.
    pub max_open: usize,
    /// Members kept on one incident's timeline; later ones are counted only.
    pub max_members: u64,
    /// Queue of the correlator on the event stream; a full queue drops (counted in
    /// `events.incidents.dropped`), never slowing ingest.
    pub queue: usize,
    /// Asset groups, first match wins.
    pub assets: Vec<AssetConfig>,
    /// A changed incident's header is stored (and told to watchers and playbooks) at most
    /// once per this many milliseconds; new and closing incidents at once, and members
    /// always with their step. 0 stores every change of every step.
    pub checkpoint_ms: u64,
}

/// `[[incidents.assets]]`: a named group of addresses and how much they matter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    pub name: String,
    pub cidrs: Vec<String>,
    /// 0 (nothing of value) to 10 (crown jewels).
    pub criticality: u8,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        IncidentsConfig {
            enabled: true,
            group_by: crate::incidents::GroupBy::Host,
            window_secs: 3600,
            killchain_window_secs: 86_400,
            home_net: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]
                .map(String::from)
                .to_vec(),
            max_open: 100_000,
            max_members: 1000,
            queue: 65_536,
            assets: Vec::new(),
            checkpoint_ms: 1000,
        }
    }
}

/// `[blocklist]`: the dynamic block list's cap and the entries the configuration file
/// itself holds (origin `config`, added at start when missing, never expiring).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlocklistConfig {
    /// Entries the list may hold; one more is refused with RESOURCE_EXHAUSTED.
    pub max_entries: usize,
    /// How often the expiry task looks for expired entries.
    pub expiry_check_ms: u64,
    /// `[[blocklist.entries]]`.
    pub entries: Vec<StaticBlockConfig>,
}

impl Default for BlocklistConfig {
    fn default() -> Self {
        BlocklistConfig {
            max_entries: 100_000,
            expiry_check_ms: 1_000,
            entries: Vec::new(),
        }
    }
}

/// One `[[blocklist.entries]]`: `target` (address, network or 5-tuple), `side`, `reason`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticBlockConfig {
    pub target: String,
    #[serde(default = "either")]
    pub side: String,
    #[serde(default)]
    pub reason: String,
}

fn either() -> String {
    "either".into()
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

/// `[intel]`: threat-intelligence feeds (files and TAXII 2.1 collections) the control plane
/// keeps, stores and publishes to every worker (EVE `intel` records, stored hits).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntelConfig {
    /// `[[intel.feeds]]`.
    pub feeds: Vec<IntelFeed>,
    /// Hits of every feed without its own `alert_sid` also raise an alert with this sid.
    pub alert_sid: Option<u32>,
    pub alert_gid: u32,
    /// The alerts' severity (1 highest).
    pub alert_priority: u8,
    /// Hits kept in storage; beyond, the oldest go (counted in `intel.hits_pruned`).
    pub max_hits: u64,
    /// Objects a feed may hold; beyond, a poll's further objects are left out (counted as
    /// error cause `too_many_objects`).
    pub max_objects_per_feed: usize,
    /// How often expired indicators are looked for (they leave the workers' tables).
    pub expiry_check_ms: u64,
    /// A TAXII response larger than this is refused (error cause `too_large`).
    pub max_response_bytes: u64,
    /// How long one TAXII request may take (a slow server's sorting included).
    pub read_timeout_secs: u64,
    /// Alerts of hits queued for ingest; beyond, dropped and counted (`intel.alerts_dropped`).
    pub alert_queue: usize,
    /// `[intel.hunt]`: protocol metadata kept and searched when indicators arrive.
    pub hunt: HuntConfig,
}

/// `[intel.hunt]`: retro-hunting. The workers' DNS, TLS and HTTP records and the flows are
/// kept (for the storage retention window) indexed by value; new indicators are searched for
/// in them, each match stored as a hit with `retro: true`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HuntConfig {
    /// Keep the metadata and hunt new indicators automatically.
    pub enabled: bool,
    /// Event-stream batches waiting for the indexer; beyond, dropped (`events.hunt.dropped`).
    pub index_queue: usize,
    /// Hunts waiting; beyond, dropped and counted (`intel.hunt_requests_dropped`).
    pub queue: usize,
    /// Indicators searched per pass; a larger hunt runs as several passes.
    pub max_indicators_per_pass: usize,
    /// Index entries read per pass at most (the pass is marked truncated beyond).
    pub scan_budget: u64,
    /// Findings per indicator and pass at most.
    pub max_findings_per_indicator: usize,
    /// Hunts kept in the list (`osprey ctl intel hunt`).
    pub max_runs: u64,
}

impl Default for HuntConfig {
    fn default() -> Self {
        HuntConfig {
            enabled: true,
            index_queue: 4096,
            queue: 64,
            max_indicators_per_pass: 10_000,
            scan_budget: 2_000_000,
            max_findings_per_indicator: 1000,
            max_runs: 1000,
        }
    }
}

impl Default for IntelConfig {
    fn default() -> Self {
        IntelConfig {
            feeds: Vec::new(),
            alert_sid: None,
            alert_gid: 1,
            alert_priority: 2,
            max_hits: 100_000,
            max_objects_per_feed: 2_000_000,
            expiry_check_ms: 1000,
            max_response_bytes: 64 << 20,
            read_timeout_secs: 300,
            alert_queue: 4096,
            hunt: HuntConfig::default(),
        }
    }
}

/// One `[[intel.feeds]]` entry: a file (`path`) or a TAXII 2.1 collection (`url`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntelFeed {
    /// The feed's name in `intel` records (`source`), the API and the metrics.
    pub name: String,
    /// A STIX 2.1 bundle or plain indicator list, read at start.
    pub path: Option<std::path::PathBuf>,
    /// A TAXII 2.1 server: its discovery URL (`https://host/taxii2/`) or an API root
    /// (`https://host/api1/`).
    pub url: Option<String>,
    /// The collection's id or title (default: the only readable one).
    pub collection: Option<String>,
    /// Time between polls (`"10m"`, `"1h"`; default one hour).
    pub poll: Option<String>,
    /// Objects asked for per page (the server may send fewer).
    pub page_size: Option<u32>,
    pub auth: Option<IntelAuth>,
    /// PEM file of the CA that signs the server's certificate (instead of none trusted).
    pub ca: Option<std::path::PathBuf>,
    /// Hits of this feed also raise an alert with this sid (overrides `[intel] alert_sid`).
    pub alert_sid: Option<u32>,
    pub alert_gid: Option<u32>,
    pub alert_priority: Option<u8>,
    /// How far the feed is trusted, 0..=100 (default 50): a feature of its indicators'
    /// confidence scores.
    pub reliability: Option<u8>,
}

/// `[intel.feeds.auth]`: HTTP basic (`username` with `password` or, better, `password_file`)
/// or bearer (`token` or `token_file`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntelAuth {
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<std::path::PathBuf>,
    pub token: Option<String>,
    pub token_file: Option<std::path::PathBuf>,
}

impl IntelFeed {
    /// Time between polls.
    pub fn poll_interval(&self) -> Result<std::time::Duration, String> {
        match &self.poll {
            None => Ok(std::time::Duration::from_secs(3600)),
            Some(p) => humantime::parse_duration(p)
                .map_err(|e| format!("[[intel.feeds]] {:?} poll {p:?}: {e}", self.name))
                .and_then(|d| {
                    if d < std::time::Duration::from_millis(100) {
                        Err(format!(
                            "[[intel.feeds]] {:?} poll {p:?}: at least 100ms",
                            self.name
                        ))
                    } else {
                        Ok(d)
                    }
                }),
        }
    }

    fn validate(&self) -> Result<(), String> {
        let name = &self.name;
        if name.trim().is_empty() {
            return Err(format!(
                "[[intel.feeds]] with path {:?} / url {:?} has an empty name",
                self.path, self.url
            ));
        }
        if name.len() > 64 || name.contains(['\0', '"', '\n']) {
            return Err(format!(
                "[[intel.feeds]] name {name:?}: at most 64 bytes, no quotes or control characters"
            ));
        }
        if self.reliability.is_some_and(|r| r > 100) {
            return Err(format!("[[intel.feeds]] {name:?}: reliability is 0..=100"));
        }
        match (&self.path, &self.url) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(format!(
                    "[[intel.feeds]] {name:?}: set exactly one of path (a file) or url (TAXII 2.1)"
                ))
            }
            (Some(_), None) => {
                let taxii_only = self.collection.is_some()
                    || self.poll.is_some()
                    || self.auth.is_some()
                    || self.ca.is_some()
                    || self.page_size.is_some();
                if taxii_only {
                    return Err(format!(
                        "[[intel.feeds]] {name:?}: collection, poll, page_size, auth and ca apply to a url feed"
                    ));
                }
            }
            (None, Some(u)) => {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(format!(
                        "[[intel.feeds]] {name:?} url {u:?}: http:// or https:// expected"
                    ));
                }
                self.poll_interval()?;
            }
        }
        if let Some(a) = &self.auth {
            let basic = a.username.is_some();
            let passwords =
                usize::from(a.password.is_some()) + usize::from(a.password_file.is_some());
            let tokens = usize::from(a.token.is_some()) + usize::from(a.token_file.is_some());
            let ok = if basic {
                passwords == 1 && tokens == 0
            } else {
                passwords == 0 && tokens == 1
            };
            if !ok {
                return Err(format!(
                    "[[intel.feeds]] {name:?} auth: username with one of password or password_file, or one of token or token_file"
                ));
            }
        }
        Ok(())
    }
}

impl IntelConfig {
    /// Refuses empty and repeated feed names, feeds with both or neither of `path` and `url`,
    /// incomplete auth and bad intervals.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for f in &self.feeds {
            f.validate()?;
            if !seen.insert(f.name.as_str()) {
                return Err(format!("[[intel.feeds]] name {:?} is used twice", f.name));
            }
        }
        if self.max_hits == 0 || self.expiry_check_ms == 0 || self.max_response_bytes == 0 {
            return Err(
                "[intel] max_hits, expiry_check_ms and max_response_bytes must be above 0".into(),
            );
        }
        let h = &self.hunt;
        if h.index_queue == 0
            || h.queue == 0
            || h.max_indicators_per_pass == 0
            || h.scan_budget == 0
            || h.max_findings_per_indicator == 0
            || h.max_runs == 0
        {
            return Err("[intel.hunt] queues and limits must be above 0".into());
        }
        Ok(())
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

impl IncidentsConfig {
    /// The correlator's settings, or the first bad key.
    pub fn settings(&self) -> Result<crate::incidents::Settings, ConfigError> {
        use crate::incidents::{Asset, Assets, Cidr};
        let positive = |key: &str, v: u64| {
            if v == 0 {
                Err(cfg_err(key, "must be > 0"))
            } else {
                Ok(v)
            }
        };
        let secs = 1_000_000_000u64;
        let window = positive("incidents.window_secs", self.window_secs)?;
        let kc = positive(
            "incidents.killchain_window_secs",
            self.killchain_window_secs,
        )?;
        positive("incidents.max_open", self.max_open as u64)?;
        positive("incidents.max_members", self.max_members)?;
        positive("incidents.queue", self.queue as u64)?;
        let cidrs = |key: String, list: &[String]| -> Result<Vec<Cidr>, ConfigError> {
            list.iter()
                .map(|c| Cidr::parse(c).map_err(|m| cfg_err(&key, m)))
                .collect()
        };
        let home_net = cidrs("incidents.home_net".into(), &self.home_net)?;
        let mut assets = Vec::new();
        for (i, a) in self.assets.iter().enumerate() {
            let key = format!("incidents.assets[{i}]");
            if a.name.trim().is_empty() {
                return Err(cfg_err(&format!("{key}.name"), "must not be empty"));
            }
            if a.criticality > 10 {
                return Err(cfg_err(
                    &format!("{key}.criticality"),
                    "must be within 0..=10",
                ));
            }
            if a.cidrs.is_empty() {
                return Err(cfg_err(
                    &format!("{key}.cidrs"),
                    "must list at least one block",
                ));
            }
            assets.push(Asset {
                name: a.name.clone(),
                cidrs: cidrs(format!("{key}.cidrs"), &a.cidrs)?,
                criticality: a.criticality,
            });
        }
        Ok(crate::incidents::Settings {
            group_by: self.group_by,
            window_ns: window.saturating_mul(secs),
            killchain_window_ns: kc.saturating_mul(secs),
            home_net,
            max_open: self.max_open,
            max_members: self.max_members,
            assets: Assets(assets),
            checkpoint_ns: self.checkpoint_ms.saturating_mul(1_000_000),
        })
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
