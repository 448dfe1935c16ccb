//! `[intel]`: threat-intelligence feeds, their authentication, and `[intel.hunt]`.

use super::*;

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
