//! Test doubles for the two seams, with real behaviour: a rule compiler that parses rule
//! headers and options itself (line/column diagnostics, sid/rev/msg/classtype), and a
//! simulated data plane whose worker threads swap rulesets only at burst boundaries and
//! raise alerts for the sids of the ruleset they are running. Its records reach the control
//! plane the way `osprey run`'s do: one `RecordSource` per worker ([`source`]), given to
//! `ControlPlane::start_with_sources`, draining bounded rings whose worker side never blocks.
#![allow(dead_code)]

pub mod console;
pub mod source;
pub mod tls;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use controlplane::ingest::{RecordSource, StatsEvent};
use controlplane::model::{Alert, FlowEndReason, FlowRecord, FlowState, StoredRule};
use controlplane::seams::{
    Appliance, ApplianceStatus, CompileError, Diagnostic, PortStatus, ReloadOutcome, RuleCompiler,
    RuleMeta, Severity, StatsSnapshot, Validation, WorkerStats, WorkerStatus,
};

const ACTIONS: [&str; 4] = ["alert", "drop", "reject", "pass"];
const PROTOS: [&str; 12] = [
    "ip", "tcp", "udp", "icmp", "http", "tls", "dns", "smtp", "ftp", "ssh", "smb", "tcp-pkt",
];
/// Keywords this compiler "supports"; rules using others validate but fail to compile,
/// like an engine that parses a keyword it cannot yet match.
const SUPPORTED: [&str; 14] = [
    "msg",
    "sid",
    "rev",
    "gid",
    "classtype",
    "content",
    "nocase",
    "flow",
    "priority",
    "reference",
    "metadata",
    "http.uri",
    "depth",
    "offset",
];

fn err(line: u32, col: usize, msg: impl Into<String>, sid: Option<u32>) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        line,
        column: col as u32 + 1,
        message: msg.into(),
        sid,
    }
}

/// Splits `k:v; k2; ...` respecting quotes and backslash escapes; yields (offset, text).
fn split_options(s: &str) -> Result<Vec<(usize, &str)>, usize> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i, mut quoted) = (0usize, 0usize, false);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'"' => quoted = !quoted,
            b';' if !quoted => {
                out.push((start, &s[start..i]));
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if quoted {
        return Err(s.len());
    }
    if !s[start..].trim().is_empty() {
        return Err(start);
    }
    Ok(out)
}

/// A fixed epoch the tests' alert times count from (November 2023), and one second in ns.
pub const T0: u64 = 1_700_000_000_000_000_000;
pub const SEC: u64 = 1_000_000_000;

/// A TCP alert of `sid` from `src`:40000 to `dst`:80, `at_secs` after [`T0`], by worker w0.
pub fn alert_at(at_secs: u64, src: &str, dst: &str, sid: u32) -> Alert {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    Alert {
        ts_nanos: T0 + at_secs * SEC,
        sid,
        rev: 1,
        src_ip: ip(src),
        src_port: 40_000,
        dst_ip: ip(dst),
        dst_port: 80,
        proto: 6,
        worker: "w0".into(),
        ..Alert::default()
    }
}

/// Parses one rule line; `line` is 1-based.
pub fn parse_rule(line: u32, text: &str) -> Result<RuleMeta, Diagnostic> {
    let lead = text.len() - text.trim_start().len();
    let t = text.trim();
    let mut fields = Vec::new();
    let mut pos = 0;
    for _ in 0..7 {
        let rest = &t[pos..];
        let skip = rest.len() - rest.trim_start().len();
        let rest = rest.trim_start();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        if end == 0 || rest.starts_with('(') {
            return Err(err(
                line,
                lead + pos + skip,
                "rule header is incomplete (action proto src sport -> dst dport)",
                None,
            ));
        }
        fields.push((lead + pos + skip, &rest[..end]));
        pos += skip + end;
    }
    let (acol, action) = fields[0];
    if !ACTIONS.contains(&action) {
        return Err(err(line, acol, format!("unknown action `{action}`"), None));
    }
    let (pcol, proto) = fields[1];
    if !PROTOS.contains(&proto) {
        return Err(err(line, pcol, format!("unknown protocol `{proto}`"), None));
    }
    let (dcol, dir) = fields[4];
    if dir != "->" && dir != "<>" {
        return Err(err(
            line,
            dcol,
            format!("direction must be -> or <>, not `{dir}`"),
            None,
        ));
    }
    let rest = t[pos..].trim_start();
    let ocol = lead + t.len() - rest.len();
    if !rest.starts_with('(') {
        return Err(err(line, ocol, "expected `(` to open the options", None));
    }
    if !rest.ends_with(')') {
        return Err(err(
            line,
            lead + t.len(),
            "expected `)` to close the options",
            None,
        ));
    }
    let body = &rest[1..rest.len() - 1];
    let opts = split_options(body).map_err(|o| {
        err(
            line,
            ocol + 1 + o,
            "unterminated option (missing `;` or quote)",
            None,
        )
    })?;
    let (mut sid, mut rev, mut gid, mut msg, mut classtype, mut prio) =
        (None, 1, 1, String::new(), String::new(), 3u8);
    for (off, o) in &opts {
        let col = ocol + 1 + off + (o.len() - o.trim_start().len());
        let o = o.trim();
        let (k, v) = match o.split_once(':') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (o, ""),
        };
        let num = |v: &str| {
            v.parse::<u32>()
                .map_err(|_| err(line, col, format!("`{k}` needs a number, not `{v}`"), sid))
        };
        match k {
            "sid" => sid = Some(num(v)?),
            "rev" => rev = num(v)?,
            "gid" => gid = num(v)?,
            "priority" => {
                prio = u8::try_from(num(v)?)
                    .map_err(|_| err(line, col, "priority out of range", sid))?
            }
            "classtype" => classtype = v.to_owned(),
            "msg" => {
                if !(v.len() >= 2 && v.starts_with('"') && v.ends_with('"')) {
                    return Err(err(line, col, "msg must be a quoted string", sid));
                }
                msg = v[1..v.len() - 1].to_owned();
            }
            "" => return Err(err(line, col, "empty option", sid)),
            _ => {}
        }
    }
    let sid = sid.ok_or_else(|| err(line, ocol, "rule has no sid", None))?;
    if sid == 0 {
        return Err(err(line, ocol, "sid 0 is reserved", Some(0)));
    }
    Ok(RuleMeta {
        line,
        gid,
        sid,
        rev,
        msg,
        classtype,
        priority: prio,
        text: t.to_owned(),
    })
}

fn uses_only_supported(text: &str) -> bool {
    let Some(open) = text.find('(') else {
        return false;
    };
    let body = &text[open + 1..text.len().saturating_sub(1)];
    split_options(body)
        .map(|opts| {
            opts.iter().all(|(_, o)| {
                let k = o.trim().split(':').next().unwrap_or("").trim();
                SUPPORTED.contains(&k)
            })
        })
        .unwrap_or(false)
}

/// A compiled ruleset as the simulated workers run it.
#[derive(Debug, Default)]
pub struct SimRuleset {
    pub generation: u64,
    pub sids: Vec<(u32, u32)>,
    /// (msg, classtype, priority) of each of `sids`, as the engine would render its alerts.
    pub meta: Vec<(String, String, u8)>,
}

/// The test compiler; publishes into a [`SimAppliance`].
pub struct TestCompiler {
    pub published: Arc<RwLock<Arc<SimRuleset>>>,
    pub compile_delay: Duration,
}

impl RuleCompiler for TestCompiler {
    fn validate(&self, text: &str) -> Validation {
        let mut v = Validation::default();
        for (i, l) in text.lines().enumerate() {
            let t = l.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            match parse_rule(i as u32 + 1, l) {
                Ok(m) => v.rules.push(m),
                Err(d) => v.diagnostics.push(d),
            }
        }
        v
    }

    fn compile_and_swap(
        &self,
        generation: u64,
        rules: &[StoredRule],
    ) -> Result<ReloadOutcome, CompileError> {
        let started = Instant::now();
        std::thread::sleep(self.compile_delay);
        let mut sids = Vec::new();
        let mut meta = Vec::new();
        let mut failures = Vec::new();
        for r in rules {
            if uses_only_supported(&r.text) {
                sids.push((r.gid, r.sid));
                meta.push((r.msg.clone(), r.classtype.clone(), r.priority));
            } else {
                failures.push(Diagnostic {
                    severity: Severity::Error,
                    line: 0,
                    column: 0,
                    message: "uses a keyword the engine does not support".into(),
                    sid: Some(r.sid),
                });
            }
        }
        let rs = Arc::new(SimRuleset {
            generation,
            sids,
            meta,
        });
        let loaded = rs.sids.len() as u32;
        *self.published.write().unwrap() = rs;
        Ok(ReloadOutcome {
            generation,
            rules_loaded: loaded,
            rules_failed: failures.len() as u32,
            failures,
            compile_time: started.elapsed(),
        })
    }
}

/// One simulated worker's shared state.
#[derive(Debug, Default)]
pub struct SimWorkerState {
    pub generation: AtomicU64,
    pub packets: AtomicU64,
    pub alerts: AtomicU64,
    pub alerts_not_queued: AtomicU64,
    pub running: AtomicBool,
}

/// Simulated data plane: worker threads process "bursts", swap the published ruleset only
/// between bursts, and raise one alert per burst for a sid of the ruleset they run.
pub struct SimAppliance {
    pub published: Arc<RwLock<Arc<SimRuleset>>>,
    pub workers: Vec<(String, Arc<SimWorkerState>)>,
    pub stop: Arc<AtomicBool>,
    pub shutdown_calls: AtomicU64,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Worker ends of the rings, taken by `run_workers`.
    producers: Mutex<Vec<source::Producer>>,
    /// Ingest ends of the rings, taken by `sources`.
    sources: Mutex<Vec<Box<dyn RecordSource>>>,
}

impl SimAppliance {
    pub fn new(names: &[String]) -> Arc<Self> {
        let (producers, sources) = names
            .iter()
            .map(|n| source::ring(n, source::RING_CAPACITY))
            .unzip();
        Arc::new(SimAppliance {
            published: Arc::new(RwLock::new(Arc::new(SimRuleset::default()))),
            workers: names
                .iter()
                .map(|n| (n.clone(), Arc::new(SimWorkerState::default())))
                .collect(),
            stop: Arc::new(AtomicBool::new(false)),
            shutdown_calls: AtomicU64::new(0),
            threads: Mutex::new(Vec::new()),
            producers: Mutex::new(producers),
            sources: Mutex::new(sources),
        })
    }

    /// The record sources ingest drains, one per worker in order (once).
    pub fn sources(&self) -> Vec<Box<dyn RecordSource>> {
        std::mem::take(&mut *self.sources.lock().unwrap())
    }

    pub fn compiler(&self, delay: Duration) -> Arc<TestCompiler> {
        Arc::new(TestCompiler {
            published: self.published.clone(),
            compile_delay: delay,
        })
    }

    /// Starts the worker threads on the rings behind [`SimAppliance::sources`].
    /// `burst_interval` paces bursts; each burst raises one alert if the ruleset has rules.
    pub fn run_workers(&self, burst_interval: Duration) {
        let mut th = self.threads.lock().unwrap();
        let producers = std::mem::take(&mut *self.producers.lock().unwrap());
        for (i, ep) in producers.into_iter().enumerate() {
            let state = self.workers[i].1.clone();
            let published = self.published.clone();
            let stop = self.stop.clone();
            state.running.store(true, Ordering::SeqCst);
            th.push(std::thread::spawn(move || {
                let mut current = published.read().unwrap().clone();
                let mut n: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    // Burst boundary: pick up a new ruleset if one was published.
                    let p = published.read().unwrap().clone();
                    if p.generation != current.generation {
                        current = p;
                    }
                    state.generation.store(current.generation, Ordering::SeqCst);
                    state.packets.fetch_add(32, Ordering::Relaxed);
                    burst(i, n, &current, &ep, &state);
                    n += 1;
                    std::thread::sleep(burst_interval);
                }
                state.running.store(false, Ordering::SeqCst);
            }));
        }
    }

    pub fn join(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.lock().unwrap().drain(..) {
            t.join().unwrap();
        }
    }
}

impl Appliance for SimAppliance {
    fn status(&self) -> ApplianceStatus {
        ApplianceStatus {
            version: "test".into(),
            mode: "ids".into(),
            ports: vec![PortStatus {
                port_id: 0,
                name: "net_ring0".into(),
                link_up: true,
                speed_mbps: 10_000,
                driver: "net_ring".into(),
                ..Default::default()
            }],
            workers: self
                .workers
                .iter()
                .enumerate()
                .map(|(i, (n, s))| WorkerStatus {
                    name: n.clone(),
                    lcore: i as u32 + 1,
                    running: s.running.load(Ordering::SeqCst),
                    ruleset_generation: s.generation.load(Ordering::SeqCst),
                })
                .collect(),
        }
    }

    fn stats(&self) -> StatsSnapshot {
        StatsSnapshot {
            workers: self
                .workers
                .iter()
                .map(|(n, s)| WorkerStats {
                    worker: n.clone(),
                    counters: vec![
                        (
                            "capture.kernel_packets".into(),
                            s.packets.load(Ordering::Relaxed),
                        ),
                        ("capture.imissed".into(), 0),
                        ("capture.rx_nombuf".into(), 0),
                        ("detect.alert".into(), s.alerts.load(Ordering::Relaxed)),
                    ],
                })
                .collect(),
        }
    }

    fn shutdown(&self) {
        self.shutdown_calls.fetch_add(1, Ordering::SeqCst);
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// One simulated burst of worker `i`: an alert for a sid of the running ruleset (rendered
/// as the worker renders its EVE line), every 16th burst a flow record, an app-layer record
/// and a counter sample.
fn burst(i: usize, n: u64, current: &SimRuleset, ep: &source::Producer, state: &SimWorkerState) {
    let t0 = 1_700_000_000_000_000_000 + n * 1000;
    let client = IpAddr::V4(Ipv4Addr::new(10, 0, i as u8, 1));
    if !current.sids.is_empty() {
        let k = (n as usize) % current.sids.len();
        let (gid, sid) = current.sids[k];
        // Rendered with the ruleset that raised it, as the appliance's source does with the
        // engine of the alert's generation.
        let (msg, category, priority) = current.meta[k].clone();
        let mut a = Alert {
            ts_nanos: t0 + i as u64,
            gid,
            sid,
            rev: 1,
            src_ip: client,
            src_port: 40000,
            dst_ip: IpAddr::V4(Ipv4Addr::new(192, 168, 1, (n % 200) as u8 + 1)),
            dst_port: 80,
            proto: 6,
            app_proto: "http".into(),
            flow_id: n,
            packet_no: n,
            payload: b"GET / HTTP/1.1".to_vec(),
            generation: current.generation,
            msg,
            category,
            severity: if priority == 0 { 3 } else { priority },
            ..Alert::default()
        };
        a.eve = serde_json::json!({
            "timestamp": n, "flow_id": n, "event_type": "alert", "src_ip": a.src_ip,
            "dest_ip": a.dst_ip, "alert": {"signature_id": sid, "gid": gid},
            "flow": {"pkts_toserver": 3},
        })
        .to_string();
        if ep.push_alert(a) {
            state.alerts.fetch_add(1, Ordering::Relaxed);
        } else {
            state.alerts_not_queued.fetch_add(1, Ordering::Relaxed);
        }
    }
    if n % 16 == 0 {
        ep.push_flow(FlowRecord {
            flow_id: n,
            src_ip: client,
            src_port: 40000,
            dst_ip: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)),
            dst_port: 80,
            proto: 6,
            pkts_toserver: 3,
            pkts_toclient: 2,
            bytes_toserver: 300,
            bytes_toclient: 1200,
            start_nanos: t0,
            end_nanos: t0 + 500,
            state: FlowState::Closed,
            reason: FlowEndReason::Timeout,
            app_proto: "http".into(),
            alerted: true,
            worker: String::new(),
            eve: String::new(),
        });
        ep.push_record(format!(
            "{{\"timestamp\":{n},\"flow_id\":{n},\"event_type\":\"http\",\"http\":{{\"url\":\"/\"}}}}"
        ));
        ep.push_stat(StatsEvent {
            name: "decoder.pkts",
            value: state.packets.load(Ordering::Relaxed),
        });
    }
}

/// Sids of a set of stored rules.
pub fn sid_set(rules: &[(u32, u32)]) -> HashSet<u32> {
    rules.iter().map(|(_, s)| *s).collect()
}

pub fn rule_text(sid: u32, msg: &str) -> String {
    format!("alert http any any -> any any (msg:\"{msg}\"; content:\"x{sid}\"; classtype:misc-activity; sid:{sid}; rev:1;)")
}
