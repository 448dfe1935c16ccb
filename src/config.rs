//! The appliance configuration file (TOML). Unknown keys are errors; every error names the key
//! and its line. The embedded default (`configs/osprey.toml`) replays the bundled demo capture
//! and serves the management API on loopback.
//!
//! Data-plane sections reuse `dataplane::runtime::EalConfig`; the control plane's sections
//! (`[api]`, `[storage]`, `[metrics]`, `[auth]`, `[ingest]`, `[eve]`, `[blocklist]`,
//! `[syslog]`, `[incidents]`, `[[webhooks]]`, `[response]`, `[[playbooks]]`, `[evidence]`,
//! `[console]`) reuse
//! `controlplane::config`'s types and its cross-field validation.

use std::path::{Path, PathBuf};

use controlplane::config::{
    ApiConfig, AuthConfig, BlocklistConfig, ControlPlaneConfig, EveConfig, IncidentsConfig,
    IngestConfig, MetricsConfig, StorageConfig, SyslogConfig,
};
use dataplane::pipeline::{ExceptionPolicies, ExceptionPolicy};
use dataplane::runtime::{EalConfig, MAX_REPLAY_WORKERS};
use serde::Deserialize;

/// The embedded default configuration.
pub const DEFAULT_CONFIG: &str = include_str!("../configs/osprey.toml");

/// Top-level configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub dpdk: EalConfig,
    pub capture: Capture,
    #[serde(default)]
    pub status: Status,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default = "default_storage")]
    pub storage: StorageConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub eve: EveSection,
    #[serde(default)]
    pub rules: RulesSection,
    #[serde(default)]
    pub intel: controlplane::config::IntelConfig,
    #[serde(default)]
    pub analytics: controlplane::config::AnalyticsConfig,
    #[serde(default)]
    pub management: Management,
    #[serde(default)]
    pub reports: controlplane::config::ReportsConfig,
    #[serde(default)]
    pub exception_policy: ExceptionPolicySection,
    #[serde(default)]
    pub runtime: RuntimeSection,
    #[serde(default)]
    pub stream: StreamSection,
    #[serde(default)]
    pub defrag: DefragSection,
    #[serde(default)]
    pub files: FilesSection,
    #[serde(default)]
    pub blocklist: BlocklistConfig,
    #[serde(default)]
    pub incidents: IncidentsConfig,
    #[serde(default)]
    pub syslog: SyslogConfig,
    #[serde(default)]
    pub webhooks: Vec<controlplane::config::WebhookConfig>,
    #[serde(default)]
    pub response: controlplane::config::ResponseConfig,
    #[serde(default)]
    pub playbooks: Vec<controlplane::playbooks::PlaybookConfig>,
    #[serde(default)]
    pub evidence: controlplane::config::EvidenceConfig,
    /// Absent: no console (the embedded default has one on loopback).
    #[serde(default)]
    pub console: Option<controlplane::config::ConsoleConfig>,
}

/// `[exception_policy]`: Suricata's exception policies (`auto`, `ignore`, `pass-packet`,
/// `pass-flow`, `bypass`, `drop-packet`, `drop-flow`, `reject`): `master` for every cause,
/// then one key per cause.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExceptionPolicySection {
    pub master: Option<String>,
    pub flow_memcap: Option<String>,
    pub stream_memcap: Option<String>,
    pub defrag_memcap: Option<String>,
    pub app_layer_error: Option<String>,
}

impl ExceptionPolicySection {
    /// The policies, or the key whose value is not one.
    pub fn policies(&self) -> Result<ExceptionPolicies, String> {
        let parse = |key: &str, v: &Option<String>| -> Result<Option<ExceptionPolicy>, String> {
            v.as_deref()
                .map(|s| {
                    ExceptionPolicy::parse(s).ok_or_else(|| {
                        let known: Vec<_> = ExceptionPolicy::ALL.iter().map(|(_, n)| *n).collect();
                        format!(
                            "exception_policy.{key} = {s:?}: one of {}",
                            known.join(", ")
                        )
                    })
                })
                .transpose()
        };
        let master = parse("master", &self.master)?.unwrap_or_default();
        let mut p = ExceptionPolicies::all(master);
        if let Some(v) = parse("flow_memcap", &self.flow_memcap)? {
            p.flow_memcap = v;
        }
        for (key, v) in [
            ("flow_memcap", &self.flow_memcap),
            ("stream_memcap", &self.stream_memcap),
            ("defrag_memcap", &self.defrag_memcap),
            ("app_layer_error", &self.app_layer_error),
        ] {
            if let Some(v) = parse(key, v)? {
                p.set(key, v);
            }
        }
        Ok(p)
    }
}

/// `[runtime]`: the stall watchdog.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSection {
    /// A running worker whose poll loop makes no progress for this long (`"2s"`, `"500ms"`)
    /// is reported stalled; `"off"` disables the watchdog. Default `"5s"`.
    pub watchdog: String,
}

impl Default for RuntimeSection {
    fn default() -> Self {
        RuntimeSection {
            watchdog: "5s".into(),
        }
    }
}

impl RuntimeSection {
    /// The watchdog's timeout, `None` when off.
    pub fn watchdog(&self) -> Result<Option<std::time::Duration>, String> {
        if self.watchdog == "off" {
            return Ok(None);
        }
        match humantime::parse_duration(&self.watchdog) {
            Ok(d) if d >= std::time::Duration::from_millis(100) => Ok(Some(d)),
            Ok(_) => Err(format!(
                "runtime.watchdog = {:?}: at least 100ms, or \"off\"",
                self.watchdog
            )),
            Err(e) => Err(format!(
                "runtime.watchdog = {:?}: {e} (e.g. \"2s\", \"500ms\", \"off\")",
                self.watchdog
            )),
        }
    }
}

/// `[stream]`: TCP reassembly limits and Suricata's `stream.bypass`. Unset keys keep the
/// data plane's defaults (64 MiB memcap per worker, 1 MiB depth, no bypass).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamSection {
    /// Bytes of reassembly buffers per worker (`stream.reassembly.memcap`).
    pub reassembly_memcap_bytes: Option<usize>,
    /// Bytes reassembled per direction (`stream.reassembly.depth`).
    pub reassembly_depth_bytes: Option<u64>,
    /// Bypass a flow once a direction reached the depth (`stream.bypass`).
    pub bypass: Option<bool>,
}

/// `[defrag]`: IP defragmentation limits.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefragSection {
    /// Bytes of fragment data buffered per worker (`defrag.memcap`, default 16 MiB).
    pub memcap_bytes: Option<usize>,
}

/// `[files]`: file tracking (README "Files").
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesSection {
    /// Files open at once per worker (default 65,536); more are not tracked and count
    /// `files.dropped_cap`.
    pub max_open: Option<u64>,
    /// Bytes of a file name kept (default 1,024).
    pub max_name_bytes: Option<usize>,
}

/// Reassembly, defragmentation and file-tracking limits and whether flow features are
/// measured, from `[stream]`, `[defrag]`, `[files]` and `[analytics]` or the command line,
/// applied over a pipeline's defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub stream_memcap: Option<usize>,
    pub stream_depth: Option<u64>,
    pub stream_bypass: Option<bool>,
    pub defrag_memcap: Option<usize>,
    pub files_max_open: Option<u64>,
    pub files_max_name: Option<usize>,
    pub flow_features: Option<bool>,
}

impl Limits {
    /// `self`, with what it leaves unset taken from `under`.
    pub fn or(self, under: Limits) -> Limits {
        Limits {
            stream_memcap: self.stream_memcap.or(under.stream_memcap),
            stream_depth: self.stream_depth.or(under.stream_depth),
            stream_bypass: self.stream_bypass.or(under.stream_bypass),
            defrag_memcap: self.defrag_memcap.or(under.defrag_memcap),
            files_max_open: self.files_max_open.or(under.files_max_open),
            files_max_name: self.files_max_name.or(under.files_max_name),
            flow_features: self.flow_features.or(under.flow_features),
        }
    }

    /// Sets what is given on `p`.
    pub fn apply(&self, p: &mut dataplane::pipeline::PipelineConfig) {
        if let Some(m) = self.stream_memcap {
            p.flow.stream.memcap = m;
        }
        if let Some(d) = self.stream_depth {
            p.flow.stream.depth = d;
        }
        if let Some(b) = self.stream_bypass {
            p.flow.stream.bypass = b;
        }
        if let Some(m) = self.defrag_memcap {
            p.decode.defrag.memcap = m;
        }
        if let Some(n) = self.files_max_open {
            p.app.files.max_open = n;
        }
        if let Some(n) = self.files_max_name {
            p.app.files.max_name = n;
        }
        if let Some(f) = self.flow_features {
            p.flow.features = f;
        }
    }
}

impl Config {
    /// The `[stream]` and `[defrag]` limits.
    pub fn limits(&self) -> Limits {
        Limits {
            stream_memcap: self.stream.reassembly_memcap_bytes,
            stream_depth: self.stream.reassembly_depth_bytes,
            stream_bypass: self.stream.bypass,
            defrag_memcap: self.defrag.memcap_bytes,
            files_max_open: self.files.max_open,
            files_max_name: self.files.max_name_bytes,
            flow_features: self.analytics.flow_features.then_some(true),
        }
    }
}

/// Storage defaults for the appliance: a local `osprey-data` directory.
fn default_storage() -> StorageConfig {
    StorageConfig {
        path: PathBuf::from("osprey-data"),
        ..StorageConfig::default()
    }
}

/// `[eve]`: the control plane's EVE file (`controlplane::config::EveConfig`'s keys) and which
/// anomalies the workers render.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EveSection {
    pub enabled: bool,
    pub path: PathBuf,
    pub rotate_bytes: u64,
    pub keep: u32,
    /// Suricata's `anomaly.types`: any of `decode`, `stream`, `applayer` (default: Suricata's
    /// default configuration, `applayer` only).
    pub anomaly_types: Vec<AnomalyType>,
    /// Bytes of each worker's EVE record ring (default 4 MiB).
    pub ring_bytes: usize,
}

impl Default for EveSection {
    fn default() -> Self {
        let EveConfig {
            enabled,
            path,
            rotate_bytes,
            keep,
        } = EveConfig::default();
        EveSection {
            enabled,
            path,
            rotate_bytes,
            keep,
            anomaly_types: vec![AnomalyType::Applayer],
            ring_bytes: dataplane::worker::EVE_RING_BYTES,
        }
    }
}

impl EveSection {
    /// The EVE file settings as the control plane takes them.
    pub fn file(&self) -> EveConfig {
        EveConfig {
            enabled: self.enabled,
            path: self.path.clone(),
            rotate_bytes: self.rotate_bytes,
            keep: self.keep,
        }
    }

    /// The anomaly types as the pipeline takes them.
    pub fn anomaly(&self) -> dataplane::pipeline::AnomalyTypes {
        let has = |t| self.anomaly_types.contains(&t);
        dataplane::pipeline::AnomalyTypes {
            decode: has(AnomalyType::Decode),
            stream: has(AnomalyType::Stream),
            applayer: has(AnomalyType::Applayer),
        }
    }
}

/// An EVE `anomaly` record type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnomalyType {
    Decode,
    Stream,
    Applayer,
}

/// `[rules]`: where the first ruleset comes from and the compile cache.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesSection {
    /// Rule files imported into the store at start when it holds no rules yet; afterwards the
    /// stored ruleset (changed over the API) is the one that runs.
    pub files: Vec<PathBuf>,
    /// Hyperscan database cache (warm reloads); none = no cache.
    pub cache_dir: Option<PathBuf>,
    /// Suricata's `classification.config` (alerts' `category`, rules' default priority);
    /// default: the one beside the first of `files`, if there is one.
    pub classification: Option<PathBuf>,
}

/// `[management]`: the control plane's threads.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Management {
    /// CPUs for the management threads (tokio, ingest); empty = every CPU no worker uses.
    pub cores: Vec<usize>,
    /// Tokio worker threads.
    pub threads: usize,
}

impl Default for Management {
    fn default() -> Self {
        Management {
            cores: Vec::new(),
            threads: 2,
        }
    }
}

/// Where packets come from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    pub mode: Mode,
    /// `replay`: the capture file.
    #[serde(default)]
    pub pcap: Option<PathBuf>,
    /// `replay`: start over at the end of the file (forever, until stopped). A looping
    /// appliance stamps packets with wall time, so every pass's flows are new.
    #[serde(default, rename = "loop")]
    pub looping: bool,
    /// `replay`: `"capture"` plays the file at its own pace (times `speed`), `"max"` as fast
    /// as the workers go.
    #[serde(default)]
    pub pace: Pace,
    /// `replay` with `pace = "capture"`: how many times faster than captured (0.5 = half
    /// speed).
    #[serde(default = "unit_speed")]
    pub speed: f64,
    /// Worker lcores; with `ports`, worker k polls Rx queue k of every port.
    #[serde(default = "one")]
    pub workers: usize,
    /// `ports`: the DPDK ports to poll.
    #[serde(default)]
    pub ports: Vec<PortEntry>,
    /// `ports`: inline (IPS) pairs of those ports; what one side receives and its verdict
    /// lets through leaves on the other.
    #[serde(default)]
    pub inline: Vec<InlinePair>,
}

/// Two ports of `[[capture.ports]]` (by `device`) joined inline: every packet received on one
/// is transmitted on the other unless its verdict drops it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlinePair {
    pub ports: [String; 2],
}

impl Capture {
    /// For each of `ports`, the index of its inline peer (`None`: watched only).
    pub fn inline_peers(&self) -> Vec<Option<usize>> {
        let index = |d: &str| self.ports.iter().position(|p| p.device == d);
        let mut peers = vec![None; self.ports.len()];
        for pair in &self.inline {
            if let (Some(a), Some(b)) = (index(&pair.ports[0]), index(&pair.ports[1])) {
                peers[a] = Some(b);
                peers[b] = Some(a);
            }
        }
        peers
    }

    /// Compiles every port's capture filter (ports deliver Ethernet frames) to refuse one
    /// libpcap cannot compile, naming the port and libpcap's reason.
    fn check_filters(&self) -> Result<(), String> {
        for (i, p) in self.ports.iter().enumerate() {
            if let Some(expr) = &p.filter {
                dataplane::filter::CaptureFilter::compile(
                    expr,
                    dataplane::decode::LinkType::Ethernet,
                )
                .map_err(|e| format!("capture.ports[{i}].filter (device {:?}): {e}", p.device))?;
            }
        }
        Ok(())
    }

    /// Refuses pairs naming unknown ports, a port twice, or one port on both sides.
    fn check_inline(&self) -> Result<(), String> {
        let mut seen: Vec<&str> = Vec::new();
        for (i, pair) in self.inline.iter().enumerate() {
            for d in &pair.ports {
                if !self.ports.iter().any(|p| &p.device == d) {
                    return Err(format!(
                        "capture.inline[{i}].ports: {d:?} is not a device of [[capture.ports]]"
                    ));
                }
                if seen.contains(&d.as_str()) {
                    return Err(format!(
                        "capture.inline[{i}].ports: {d:?} is already in an inline pair"
                    ));
                }
                seen.push(d);
            }
        }
        Ok(())
    }
}

/// Capture modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Replay a capture file through `net_pcap`.
    Replay,
    /// Poll DPDK ports (physical NICs bound to a DPDK driver, or virtual devices).
    Ports,
}

fn one() -> usize {
    1
}

fn unit_speed() -> f64 {
    1.0
}

/// How fast a replay plays its capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pace {
    /// As fast as the workers go (benchmarks, conformance).
    #[default]
    Max,
    /// At the capture's own pace times `speed` (a demo, a realistic load).
    Capture,
}

impl Capture {
    /// The pacing speed factor a replay runs at (`None`: as fast as it goes).
    pub fn speed(&self) -> Option<f64> {
        (self.pace == Pace::Capture).then_some(self.speed)
    }
}

/// One DPDK port of a `ports` capture.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortEntry {
    /// Device name: a PCI address (`0000:3b:00.0`) or a virtual device name (`net_null0`).
    pub device: String,
    /// For virtual devices: the `--vdev` argument that creates it.
    #[serde(default)]
    pub vdev: Option<String>,
    /// Rx queues (usually one per worker).
    #[serde(default)]
    pub rx_queues: Option<u16>,
    /// A BPF capture filter (tcpdump syntax, e.g. `"not port 22"`): frames it rejects are
    /// counted (`filter.rejected`) and not inspected; inline they are forwarded as they came.
    #[serde(default)]
    pub filter: Option<String>,
}

/// The live status line.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Status {
    pub interval_secs: u64,
}

impl Default for Status {
    fn default() -> Self {
        Status { interval_secs: 1 }
    }
}

/// A configuration error: the file, and what is wrong where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Invalid { path: String, message: String },
}

impl Config {
    /// Parses and validates configuration text. `origin` names it in errors; relative paths in
    /// it resolve against `base`.
    pub fn parse(text: &str, origin: &str, base: &Path) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: origin.to_owned(),
            message,
        };
        let mut cfg: Config = toml::from_str(text).map_err(|e| {
            // toml's message carries the line, column and key; keep it on one line.
            invalid(e.to_string().trim().replace('\n', " | "))
        })?;
        let c = &mut cfg.capture;
        if c.workers == 0 || c.workers > 64 {
            return Err(invalid(format!(
                "capture.workers = {}: must be between 1 and 64",
                c.workers
            )));
        }
        match c.mode {
            Mode::Replay => {
                if c.workers > MAX_REPLAY_WORKERS {
                    return Err(invalid(format!(
                        "capture.workers = {}: a replay through net_pcap takes at most \
                         {MAX_REPLAY_WORKERS} workers (one Rx queue each)",
                        c.workers
                    )));
                }
                let Some(pcap) = c.pcap.as_mut() else {
                    return Err(invalid(
                        "capture.pcap: required with mode = \"replay\"".into(),
                    ));
                };
                if !c.ports.is_empty() || !c.inline.is_empty() {
                    return Err(invalid(
                        "capture.ports, capture.inline: only allowed with mode = \"ports\"".into(),
                    ));
                }
                if pcap.is_relative() {
                    *pcap = base.join(&*pcap);
                }
                if !(c.speed.is_finite() && c.speed > 0.0 && c.speed <= 1e6) {
                    return Err(invalid(format!(
                        "capture.speed = {}: must be above 0 and at most 1000000",
                        c.speed
                    )));
                }
            }
            Mode::Ports => {
                if c.ports.is_empty() {
                    return Err(invalid("capture.ports: at least one port is needed".into()));
                }
                if c.pcap.is_some() {
                    return Err(invalid(
                        "capture.pcap: only allowed with mode = \"replay\"".into(),
                    ));
                }
                c.check_inline().map_err(invalid)?;
                c.check_filters().map_err(invalid)?;
                for (i, p) in c.ports.iter().enumerate() {
                    if let Some(q) = p.rx_queues {
                        if (q as usize) < c.workers {
                            return Err(invalid(format!(
                                "capture.ports[{i}].rx_queues = {q}: each of the {} workers needs a queue",
                                c.workers
                            )));
                        }
                    }
                }
            }
        }
        cfg.exception_policy.policies().map_err(invalid)?;
        cfg.runtime.watchdog().map_err(invalid)?;
        if let Some(m) = cfg.defrag.memcap_bytes.filter(|&m| m < 65_536) {
            return Err(invalid(format!(
                "defrag.memcap_bytes = {m}: at least 65536 (the largest fragment) is needed"
            )));
        }
        if cfg.stream.reassembly_depth_bytes == Some(0) {
            return Err(invalid(
                "stream.reassembly_depth_bytes must be at least 1".into(),
            ));
        }
        if cfg.status.interval_secs == 0 {
            return Err(invalid("status.interval_secs must be at least 1".into()));
        }
        if let Some(&core) = cfg.management.cores.iter().find(|&&c| !cpu_exists(c)) {
            return Err(invalid(format!(
                "management.cores: CPU {core} does not exist on this machine"
            )));
        }
        if cfg.management.threads == 0 || cfg.management.threads > 64 {
            return Err(invalid(format!(
                "management.threads = {}: must be between 1 and 64",
                cfg.management.threads
            )));
        }
        cfg.control_plane()
            .validate()
            .map_err(|e| invalid(e.to_string()))?;
        cfg.intel.validate().map_err(invalid)?;
        cfg.analytics
            .validate()
            .map_err(|e| invalid(e.to_string()))?;
        if cfg.dpdk.memory_mb < 64 {
            return Err(invalid(format!(
                "dpdk.memory_mb = {}: at least 64 MB are needed",
                cfg.dpdk.memory_mb
            )));
        }
        Ok(cfg)
    }

    /// The control plane's sections as its crate takes them.
    pub fn control_plane(&self) -> ControlPlaneConfig {
        ControlPlaneConfig {
            api: self.api.clone(),
            storage: self.storage.clone(),
            metrics: self.metrics.clone(),
            auth: self.auth.clone(),
            ingest: self.ingest.clone(),
            eve: self.eve.file(),
            blocklist: self.blocklist.clone(),
            incidents: self.incidents.clone(),
            syslog: self.syslog.clone(),
            watchdog: self.runtime.watchdog().ok().flatten(),
            webhooks: self.webhooks.clone(),
            response: self.response.clone(),
            playbooks: self.playbooks.clone(),
            evidence: self.evidence.clone(),
            intel: self.intel.clone(),
            console: self.console.clone(),
            reports: self.reports.clone(),
        }
    }

    /// Loads `path`, or the embedded default when `None`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                let base = p.parent().unwrap_or(Path::new("."));
                // Paths in a config under configs/ are written relative to the repository root,
                // like the embedded default; fall back to the config's own directory.
                let root = Path::new(".");
                let cfg = Config::parse(&text, &p.display().to_string(), root)?;
                Ok(resolve_against(cfg, base))
            }
            None => {
                let root = Path::new(env!("CARGO_MANIFEST_DIR"));
                let cfg = Config::parse(DEFAULT_CONFIG, "<embedded default>", Path::new("."))?;
                Ok(resolve_against(cfg, root))
            }
        }
    }
}

/// True when this process may run on CPU `id` (pinning a thread to any other panics or fails).
fn cpu_exists(id: usize) -> bool {
    core_affinity::get_core_ids().is_some_and(|ids| ids.iter().any(|c| c.id == id))
}

/// Keeps a relative capture path that exists from the working directory; otherwise tries it
/// against `alt`.
fn resolve_against(mut cfg: Config, alt: &Path) -> Config {
    let fix = |p: &mut PathBuf| {
        if !p.exists() {
            let stripped = p.strip_prefix(".").unwrap_or(p).to_path_buf();
            let candidate = alt.join(stripped);
            if candidate.exists() {
                *p = candidate;
            }
        }
    };
    if let Some(pcap) = cfg.capture.pcap.as_mut() {
        fix(pcap);
    }
    for f in &mut cfg.rules.files {
        fix(f);
    }
    for f in &mut cfg.intel.feeds {
        for p in [&mut f.path, &mut f.ca].into_iter().flatten() {
            fix(p);
        }
        if let Some(a) = f.auth.as_mut() {
            for p in [&mut a.password_file, &mut a.token_file]
                .into_iter()
                .flatten()
            {
                fix(p);
            }
        }
    }
    cfg
}

/// The workers' packet ring settings of `[evidence]`; an unknown `capture` word or a snap
/// length below 64 bytes is an error naming the key.
pub fn evidence_ring(
    e: &controlplane::config::EvidenceConfig,
) -> Result<dataplane::pipeline::evidence::RingConfig, String> {
    use controlplane::config::CaptureSetting;
    use dataplane::pipeline::evidence::{CaptureRule, RingConfig};
    let capture = match &e.capture {
        CaptureSetting::Word(w) if w == "none" => CaptureRule::None,
        CaptureSetting::Word(w) if w == "all" => CaptureRule::All,
        CaptureSetting::Word(w) => {
            return Err(format!(
                "evidence.capture: \"{w}\" is not \"none\", \"all\" or a list of sids"
            ))
        }
        CaptureSetting::Sids(s) => {
            let mut s = s.clone();
            s.sort_unstable();
            s.dedup();
            CaptureRule::Sids(s.into())
        }
    };
    if e.snaplen < 64 {
        return Err(format!("evidence.snaplen: {} is below 64 bytes", e.snaplen));
    }
    // A ring nothing captures from would only cost (about 11% of a worker with ET Open):
    // it is kept only when some alert can ask for capture.
    let keep = e.enabled && capture != CaptureRule::None;
    Ok(RingConfig {
        ring_bytes: if keep { e.ring_bytes } else { 0 },
        ring_seconds: e.ring_seconds,
        snaplen: e.snaplen,
        after_packets: e.after_packets,
        capture,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses_and_points_at_the_bundled_capture() {
        let cfg = Config::load(None).unwrap();
        assert_eq!(cfg.capture.mode, Mode::Replay);
        assert!(cfg.capture.looping);
        let pcap = cfg.capture.pcap.clone().unwrap();
        assert!(pcap.exists(), "{}", pcap.display());
        // Played at the capture's own pace, into a bounded store with the free-space floor.
        assert_eq!(cfg.capture.speed(), Some(1.0));
        assert!(cfg.storage.max_bytes > 0 && cfg.storage.max_bytes <= 1 << 30);
        assert!(cfg.storage.min_free_bytes > 0);
        for f in &cfg.rules.files {
            assert!(Path::new("configs/samples")
                .join(f.file_name().unwrap())
                .exists());
        }
    }

    #[test]
    fn pace_and_speed_are_checked() {
        let base = "[capture]\nmode = \"replay\"\npcap = \"x.pcap\"\n";
        let parse = |extra: &str| Config::parse(&format!("{base}{extra}"), "t", Path::new("."));
        assert_eq!(parse("").unwrap().capture.speed(), None, "max by default");
        let c = parse("pace = \"capture\"\nspeed = 2.5\n").unwrap();
        assert_eq!(c.capture.speed(), Some(2.5));
        for bad in ["0", "-1", "1e9", "nan"] {
            let e = parse(&format!("pace = \"capture\"\nspeed = {bad}\n")).unwrap_err();
            assert!(e.to_string().contains("capture.speed"), "{bad}: {e}");
        }
        let e = parse("pace = \"slow\"\n").unwrap_err();
        assert!(e.to_string().contains("capture"), "{e}");
    }

    #[test]
    fn embedded_default_serves_the_api_on_loopback() {
        let cfg = Config::load(None).unwrap();
        assert!(cfg.api.listen.ip().is_loopback());
        assert!(cfg.api.allow_plaintext && cfg.api.tls.is_none());
        assert!(cfg.metrics.listen.ip().is_loopback());
        let console = cfg
            .console
            .as_ref()
            .expect("the embedded default has a console");
        assert!(console.enabled && console.listen.ip().is_loopback());
        assert_eq!(console.listen.port(), 8443);
        assert_eq!(cfg.storage.path, PathBuf::from("osprey-data"));
        cfg.control_plane().validate().unwrap();
    }

    #[test]
    fn plaintext_off_loopback_is_refused_with_the_key() {
        let text = "[capture]\nmode = \"replay\"\npcap = \"x.pcap\"\n[api]\nlisten = \"0.0.0.0:50051\"\nallow_plaintext = true\n";
        let e = Config::parse(text, "t.toml", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("api.allow_plaintext"), "{e}");
        let text = "[capture]\nmode = \"replay\"\npcap = \"x.pcap\"\n[storage]\npaht = \"d\"\n";
        let e = Config::parse(text, "t.toml", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("paht"), "{e}");
    }

    #[test]
    fn blocklist_section_is_read_and_bad_entries_are_named() {
        let base = "[capture]\nmode = \"replay\"\npcap = \"x.pcap\"\n";
        let text = format!(
            "{base}[blocklist]\nmax_entries = 50\n[[blocklist.entries]]\ntarget = \"198.51.100.0/24\"\nside = \"src\"\nreason = \"lab\"\n"
        );
        let cfg = Config::parse(&text, "t.toml", Path::new(".")).unwrap();
        let cp = cfg.control_plane();
        assert_eq!(cp.blocklist.max_entries, 50);
        assert_eq!(cp.blocklist.entries[0].target, "198.51.100.0/24");
        let text = format!("{base}[[blocklist.entries]]\ntarget = \"198.51.100.1/24\"\n");
        let e = Config::parse(&text, "t.toml", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("blocklist.entries[0].target"), "{e}");
        let text = format!("{base}[blocklist]\nmax_entrys = 5\n");
        let e = Config::parse(&text, "t.toml", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("max_entrys"), "{e}");
    }

    #[test]
    fn example_appliance_config_parses() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/appliance-2x40g.toml");
        let text = std::fs::read_to_string(&p).unwrap();
        let cfg = Config::parse(&text, "appliance", Path::new(".")).unwrap();
        assert!(!cfg.dpdk.no_huge);
        assert_eq!(cfg.capture.mode, Mode::Ports);
        assert_eq!(cfg.capture.ports.len(), 2);
        assert!(cfg.capture.workers >= 1);
    }

    #[test]
    fn example_inline_config_pairs_its_two_ports() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/appliance-inline-2x40g.toml");
        let text = std::fs::read_to_string(&p).unwrap();
        let cfg = Config::parse(&text, "inline", Path::new(".")).unwrap();
        assert_eq!(cfg.capture.inline_peers(), vec![Some(1), Some(0)]);
    }

    #[test]
    fn port_filters_compile_at_start_and_a_bad_one_names_its_port() {
        let text = |f: &str| {
            format!(
                "[capture]\nmode = \"ports\"\n[[capture.ports]]\ndevice = \"a\"\nfilter = \"not port 22\"\n\
                 [[capture.ports]]\ndevice = \"b\"\nfilter = {f:?}\n"
            )
        };
        let ok = Config::parse(&text("tcp or udp"), "t", Path::new(".")).unwrap();
        assert_eq!(ok.capture.ports[0].filter.as_deref(), Some("not port 22"));
        let e = Config::parse(&text("tcp prot 80"), "t", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("capture.ports[1].filter (device \"b\")")
                && e.contains("capture filter \"tcp prot 80\"")
                && e.contains("syntax error"),
            "{e}"
        );
    }

    #[test]
    fn inline_pairs_must_name_distinct_known_ports() {
        let ports = "[capture]\nmode = \"ports\"\n[[capture.ports]]\ndevice = \"a\"\n\
                     [[capture.ports]]\ndevice = \"b\"\n[[capture.ports]]\ndevice = \"c\"\n";
        let parse = |pairs: &str| Config::parse(&format!("{ports}{pairs}"), "t", Path::new("."));
        let ok = parse("[[capture.inline]]\nports = [\"b\", \"c\"]\n").unwrap();
        assert_eq!(ok.capture.inline_peers(), vec![None, Some(2), Some(1)]);
        let e = parse("[[capture.inline]]\nports = [\"a\", \"x\"]\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("capture.inline[0].ports: \"x\" is not a device"),
            "{e}"
        );
        let e = parse("[[capture.inline]]\nports = [\"a\", \"b\"]\n[[capture.inline]]\nports = [\"c\", \"a\"]\n")
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("capture.inline[1].ports: \"a\" is already"),
            "{e}"
        );
        let e = parse("[[capture.inline]]\nports = [\"a\"]\n").unwrap_err();
        assert!(e.to_string().contains("ports"), "{e}");
        let e = parse("[[capture.inline]]\nports = [\"a\", \"b\"]\npeer = 1\n").unwrap_err();
        assert!(e.to_string().contains("peer"), "{e}");
        let replay = "[capture]\nmode = \"replay\"\npcap = \"x.pcap\"\n[[capture.inline]]\nports = [\"a\", \"b\"]\n";
        let e = Config::parse(replay, "t", Path::new(".")).unwrap_err();
        assert!(
            e.to_string().contains("only allowed with mode = \"ports\""),
            "{e}"
        );
    }

    #[test]
    fn files_section_sets_the_tracking_caps() {
        let base = "[capture]\nmode = \"replay\"\npcap = \"x.pcap\"\n";
        let cfg = Config::parse(
            &format!("{base}[files]\nmax_open = 10\nmax_name_bytes = 64\n"),
            "t",
            Path::new("."),
        )
        .unwrap();
        let mut p = dataplane::pipeline::PipelineConfig::default();
        cfg.limits().apply(&mut p);
        assert_eq!((p.app.files.max_open, p.app.files.max_name), (10, 64));
        let e = Config::parse(
            &format!("{base}[files]\nmax_opn = 1\n"),
            "t",
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.to_string().contains("max_opn"), "{e}");
    }

    #[test]
    fn exception_policies_are_read_per_cause_over_the_master_switch() {
        let base = "[capture]\nmode = \"replay\"\npcap = \"x.pcap\"\n";
        let cfg = Config::parse(
            &format!(
                "{base}[exception_policy]\nmaster = \"ignore\"\napp_layer_error = \"drop-flow\"\n"
            ),
            "t",
            Path::new("."),
        )
        .unwrap();
        let p = cfg.exception_policy.policies().unwrap();
        assert_eq!(p.flow_memcap, ExceptionPolicy::Ignore);
        assert_eq!(p.app_layer_error, ExceptionPolicy::DropFlow);
        let cfg = Config::parse(
            &format!(
                "{base}[exception_policy]\nmaster = \"drop-flow\"\nstream_memcap = \"bypass\"\n\
                 defrag_memcap = \"pass-packet\"\n"
            ),
            "t",
            Path::new("."),
        )
        .unwrap();
        let p = cfg.exception_policy.policies().unwrap();
        assert_eq!(p.flow_memcap, ExceptionPolicy::DropFlow);
        assert_eq!(p.stream_memcap, ExceptionPolicy::Bypass);
        assert_eq!(p.defrag_memcap, ExceptionPolicy::PassPacket);
        let e = Config::parse(
            &format!("{base}[exception_policy]\nflow_memcap = \"drop_flow\"\n"),
            "t",
            Path::new("."),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("exception_policy.flow_memcap = \"drop_flow\""),
            "{e}"
        );
    }

    #[test]
    fn the_watchdog_is_on_by_default_and_read() {
        let base = "[capture]\nmode = \"replay\"\npcap = \"x.pcap\"\n";
        let parse = |extra: &str| Config::parse(&format!("{base}{extra}"), "t", Path::new("."));
        let d = std::time::Duration::from_millis;
        assert_eq!(parse("").unwrap().control_plane().watchdog, Some(d(5000)));
        let cfg = parse("[runtime]\nwatchdog = \"750ms\"\n").unwrap();
        assert_eq!(cfg.control_plane().watchdog, Some(d(750)));
        let cfg = parse("[runtime]\nwatchdog = \"off\"\n").unwrap();
        assert_eq!(cfg.control_plane().watchdog, None);
        for bad in ["\"soon\"", "\"10ms\""] {
            let e = parse(&format!("[runtime]\nwatchdog = {bad}\n")).unwrap_err();
            assert!(e.to_string().contains("runtime.watchdog"), "{e}");
        }
    }

    #[test]
    fn stream_and_defrag_limits_are_read_and_checked() {
        let base = "[capture]\nmode = \"replay\"\npcap = \"x.pcap\"\n";
        let parse = |extra: &str| Config::parse(&format!("{base}{extra}"), "t", Path::new("."));
        let cfg = parse(
            "[stream]\nreassembly_memcap_bytes = 4096\nreassembly_depth_bytes = 100\nbypass = true\n\
             [defrag]\nmemcap_bytes = 65536\n",
        )
        .unwrap();
        let mut p = dataplane::pipeline::PipelineConfig::default();
        cfg.limits().apply(&mut p);
        assert_eq!(p.flow.stream.memcap, 4096);
        assert_eq!(p.flow.stream.depth, 100);
        assert!(p.flow.stream.bypass);
        assert_eq!(p.decode.defrag.memcap, 65536);
        let unset = parse("").unwrap().limits();
        assert_eq!(unset, Limits::default());
        let mut p = dataplane::pipeline::PipelineConfig::default();
        parse("[analytics]\nflow_features = true\n")
            .unwrap()
            .limits()
            .apply(&mut p);
        assert!(p.flow.features);
        let e = parse("[stream]\nreassembly_depth_bytes = 0\n").unwrap_err();
        assert!(e.to_string().contains("reassembly_depth_bytes"), "{e}");
        let e = parse("[stream]\ndepth = 5\n").unwrap_err();
        assert!(e.to_string().contains("depth"), "{e}");
        let e = parse("[defrag]\nmemcap_bytes = 4096\n").unwrap_err();
        assert!(e.to_string().contains("at least 65536"), "{e}");
        let e = parse("[defrag]\nmemcap = 5\n").unwrap_err();
        assert!(e.to_string().contains("memcap"), "{e}");
    }

    #[test]
    fn eve_anomaly_types_default_to_suricatas_and_are_read() {
        use dataplane::pipeline::AnomalyTypes;
        let base = "[capture]\nmode = \"replay\"\npcap = \"x.pcap\"\n";
        let cfg = Config::parse(base, "t.toml", Path::new(".")).unwrap();
        assert_eq!(cfg.eve.anomaly(), AnomalyTypes::SURICATA_DEFAULT);
        let text =
            format!("{base}[eve]\nenabled = true\nanomaly_types = [\"decode\", \"stream\"]\n");
        let cfg = Config::parse(&text, "t.toml", Path::new(".")).unwrap();
        assert!(cfg.control_plane().eve.enabled);
        let t = cfg.eve.anomaly();
        assert!(t.decode && t.stream && !t.applayer, "{t:?}");
        let text = format!("{base}[eve]\nanomaly_types = [\"decoder\"]\n");
        let e = Config::parse(&text, "t.toml", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("decoder"), "{e}");
        assert!(e.to_string().contains("line 5"), "{e}");
    }

    #[test]
    fn unknown_keys_name_key_and_line() {
        let text = "[capture]\nmode = \"replay\"\npcap = \"x.pcap\"\nworkres = 2\n";
        let e = Config::parse(text, "t.toml", Path::new(".")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("workres"), "{msg}");
        assert!(msg.contains("line 4"), "{msg}");
    }

    #[test]
    fn invalid_values_are_refused() {
        let text = "[capture]\nmode = \"replay\"\npcap = \"x.pcap\"\nworkers = 0\n";
        let e = Config::parse(text, "t.toml", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("capture.workers"), "{e}");
        let text = "[capture]\nmode = \"ports\"\nworkers = 4\n[[capture.ports]]\ndevice = \"0000:01:00.0\"\nrx_queues = 2\n";
        let e = Config::parse(text, "t.toml", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("rx_queues"), "{e}");
    }

    /// net_pcap serves 16 Rx queues: a replay with more workers is refused here, not by DPDK
    /// after the start-up. Live ports keep the wider limit.
    #[test]
    fn replay_workers_are_limited_to_net_pcaps_queues() {
        let replay = |w: usize| {
            let text = format!("[capture]\nmode = \"replay\"\npcap = \"x.pcap\"\nworkers = {w}\n");
            Config::parse(&text, "t.toml", Path::new("."))
        };
        assert!(replay(16).is_ok());
        for w in [17, 64] {
            let e = replay(w).unwrap_err().to_string();
            assert!(
                e.contains("capture.workers") && e.contains("at most 16"),
                "{e}"
            );
        }
        let text = "[capture]\nmode = \"ports\"\nworkers = 17\n[[capture.ports]]\ndevice = \"net_null0\"\n";
        assert!(Config::parse(text, "t.toml", Path::new(".")).is_ok());
    }

    #[test]
    fn management_cores_must_exist() {
        let base = "[capture]\nmode = \"replay\"\npcap = \"x.pcap\"\n[management]\n";
        let e = Config::parse(&format!("{base}cores = [1024]\n"), "t.toml", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(e.contains("management.cores") && e.contains("1024"), "{e}");
        let here = core_affinity::get_core_ids().unwrap()[0].id;
        let text = format!("{base}cores = [{here}, 99999]\n");
        let e = Config::parse(&text, "t.toml", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(e.contains("99999"), "{e}");
        let text = format!("{base}cores = [{here}]\n");
        assert!(Config::parse(&text, "t.toml", Path::new(".")).is_ok());
    }

    #[test]
    fn evidence_capture_settings() {
        use dataplane::pipeline::evidence::CaptureRule;
        let base = "[capture]\nmode = \"replay\"\npcap = \"x.pcap\"\n";
        let ring = |text: &str| {
            let text = format!("{base}{text}");
            let cfg = Config::parse(&text, "t.toml", Path::new(".")).unwrap();
            evidence_ring(&cfg.evidence)
        };
        let r = ring("[evidence]\ncapture = [9, 3, 9]\nring_bytes = 4096\n").unwrap();
        assert_eq!(r.capture, CaptureRule::Sids(vec![3, 9].into()));
        assert_eq!(r.ring_bytes, 4096);
        assert_eq!(
            ring("[evidence]\ncapture = \"all\"\n").unwrap().capture,
            CaptureRule::All
        );
        let idle = ring("[evidence]\nring_bytes = 4096\n").unwrap();
        assert_eq!(idle.ring_bytes, 0, "no capture asked for: no ring");
        let off = ring("[evidence]\nenabled = false\n").unwrap();
        assert_eq!((off.ring_bytes, off.capture), (0, CaptureRule::None));
        let e = ring("[evidence]\ncapture = \"some\"\n").unwrap_err();
        assert!(e.contains("evidence.capture") && e.contains("some"), "{e}");
        assert!(ring("[evidence]\nsnaplen = 20\n")
            .unwrap_err()
            .contains("snaplen"));
        let unknown = format!("{base}[evidence]\nring_size = 1\n");
        assert!(Config::parse(&unknown, "t.toml", Path::new(".")).is_err());
    }
}
