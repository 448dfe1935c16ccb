//! `[intel]`: threat-intelligence feeds, their authentication, `[intel.hunt]` and
//! `[intel.sharing]`.

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
    /// `[intel.sharing]`: sightings posted to a TAXII 2.1 collection (absent: not shared).
    pub sharing: Option<SharingConfig>,
}

/// `[intel.sharing]`: sightings of indicators (this network's hits, live and retro-hunt
/// findings) posted as STIX 2.1 `sighting` objects to a writable TAXII 2.1 collection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SharingConfig {
    /// The TAXII 2.1 server: its discovery URL or an API root.
    pub url: String,
    /// The collection's id or title (default: the only writable one).
    pub collection: Option<String>,
    pub auth: Option<IntelAuth>,
    /// PEM file of the CA that signs the server's certificate.
    pub ca: Option<std::path::PathBuf>,
    /// Time between posts (`"1m"`; at least 100ms).
    pub interval: String,
    /// Sightings per POST at most.
    pub batch_size: usize,
    /// Hits waiting to be shared; beyond, dropped and counted (`intel.sharing_dropped`).
    pub queue: usize,
}

impl Default for SharingConfig {
    fn default() -> Self {
        SharingConfig {
            url: String::new(),
            collection: None,
            auth: None,
            ca: None,
            interval: "5m".into(),
            batch_size: 100,
            queue: 10_000,
        }
    }
}

impl SharingConfig {
    /// Time between posts.
    pub fn interval(&self) -> Result<std::time::Duration, String> {
        let d = humantime::parse_duration(&self.interval)
            .map_err(|e| format!("[intel.sharing] interval {:?}: {e}", self.interval))?;
        if d < std::time::Duration::from_millis(100) {
            return Err(format!(
                "[intel.sharing] interval {:?}: at least 100ms",
                self.interval
            ));
        }
        Ok(d)
    }

    /// The TAXII client's view of the server (the same client as feeds use).
    pub fn as_feed(&self) -> IntelFeed {
        IntelFeed {
            name: "sharing".into(),
            url: Some(self.url.clone()),
            collection: self.collection.clone(),
            auth: self.auth.clone(),
            ca: self.ca.clone(),
            ..IntelFeed::default()
        }
    }

    fn validate(&self) -> Result<(), String> {
        let u = &self.url;
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(format!(
                "[intel.sharing] url {u:?}: the TAXII 2.1 server, http:// or https:// expected"
            ));
        }
        self.interval()?;
        if self.batch_size == 0 || self.batch_size > 10_000 {
            return Err(format!(
                "[intel.sharing] batch_size {}: 1..=10000 sightings per post",
                self.batch_size
            ));
        }
        if self.queue == 0 {
            return Err("[intel.sharing] queue must be above 0".into());
        }
        if let Some(a) = &self.auth {
            a.validate("[intel.sharing] auth")?;
        }
        Ok(())
    }
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
    /// Findings of a feed with an `alert_sid` also raise alerts (as live hits do), with
    /// `"retro": true` and the original time.
    pub alert: bool,
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
            alert: true,
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
            sharing: None,
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
            a.validate(&format!("[[intel.feeds]] {name:?} auth"))?;
        }
        Ok(())
    }
}

impl IntelAuth {
    /// Refuses incomplete or mixed credentials; `what` names the section in the error.
    fn validate(&self, what: &str) -> Result<(), String> {
        let basic = self.username.is_some();
        let passwords =
            usize::from(self.password.is_some()) + usize::from(self.password_file.is_some());
        let tokens = usize::from(self.token.is_some()) + usize::from(self.token_file.is_some());
        let ok = if basic {
            passwords == 1 && tokens == 0
        } else {
            passwords == 0 && tokens == 1
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{what}: username with one of password or password_file, or one of token or token_file"
            ))
        }
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
        if let Some(s) = &self.sharing {
            s.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intel(text: &str) -> Result<IntelConfig, String> {
        let c: IntelConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate().map(|()| c)
    }

    #[test]
    fn sharing_is_off_unless_set_and_refused_with_the_key_named() {
        assert_eq!(intel("").unwrap().sharing, None);
        let ok = intel(
            "[sharing]\nurl = \"https://taxii.example.org/taxii2/\"\ncollection = \"sightings\"\n\
             interval = \"1m\"\nbatch_size = 50\n[sharing.auth]\ntoken = \"t\"\n",
        )
        .unwrap();
        let s = ok.sharing.unwrap();
        assert_eq!((s.batch_size, s.queue), (50, 10_000));
        assert_eq!(s.interval().unwrap(), std::time::Duration::from_secs(60));
        assert!(ok.hunt.alert, "findings alert by default");
        let bad = [
            ("[sharing]\nurl = \"ftp://x/\"\n", "[intel.sharing] url"),
            (
                "[sharing]\nurl = \"http://x/\"\ninterval = \"soon\"\n",
                "interval",
            ),
            (
                "[sharing]\nurl = \"http://x/\"\ninterval = \"10ms\"\n",
                "at least 100ms",
            ),
            (
                "[sharing]\nurl = \"http://x/\"\nbatch_size = 0\n",
                "batch_size",
            ),
            ("[sharing]\nurl = \"http://x/\"\nqueue = 0\n", "queue"),
            (
                "[sharing]\nurl = \"http://x/\"\n[sharing.auth]\nusername = \"u\"\n",
                "[intel.sharing] auth",
            ),
            (
                "[sharing]\nurl = \"http://x/\"\nserver = \"y\"\n",
                "unknown field",
            ),
        ];
        for (text, want) in bad {
            let e = intel(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
        assert!(!intel("[hunt]\nalert = false\n").unwrap().hunt.alert);
    }
}
