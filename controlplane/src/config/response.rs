//! Sections of what happens after a detection: `[reports]`, `[evidence]`, `[response]`,
//! `[[webhooks]]`, `[syslog]`, `[incidents]` and `[blocklist]`.

use super::*;

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
