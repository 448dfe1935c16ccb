//! The running appliance as the control plane sees it: the real implementations of
//! [`controlplane::seams::Appliance`] (status, counters, shutdown of the DPDK data plane) and
//! [`controlplane::seams::RuleCompiler`] (the `rules` crate, with hot swaps into the workers),
//! and the [`controlplane::ingest::RecordSource`] that drains each worker's export rings.
//!
//! Engines are kept by generation for the few generations still live, so an alert is
//! rendered (msg, classtype, priority) with the engine that raised it, even when it is drained
//! after a reload.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use controlplane::evidence::capture::Captures;
use controlplane::evidence::pcap::Packet as CapturedPacket;
use controlplane::ingest::RecordSource;
use controlplane::model::{self, Alert, StoredRule};
use controlplane::seams::{
    Appliance, ApplianceStatus, CompileError, Diagnostic, PortStatus, ReloadOutcome, RuleCompiler,
    RuleMeta, Severity, StatsSnapshot, Validation, WorkerStats, WorkerStatus,
};
use dataplane::blocklist::{BlockSlot, BlockTable};
use dataplane::export::{Consumer, EveConsumer};
use dataplane::flow::FlowRecord;
use dataplane::intel::{IntelSlot, Table as IntelTable};
use dataplane::runtime::Attach;
use dataplane::worker::EngineSlot;
use vocab::AlertRecord;

/// Generations whose rule catalogs are kept for rendering alerts still in the rings.
const LIVE_GENERATIONS: usize = 4;

/// What rendering an alert needs of its ruleset generation: each rule's message, category and
/// priority, by rule index. Kept instead of the engine itself, which holds the compiled
/// Hyperscan databases and PCRE code (about 150 MB for ET Open against a few MB here), so
/// the generations kept for alerts still in the rings cost little.
#[derive(Debug, Default)]
pub struct RuleCatalog {
    rules: Vec<CatalogEntry>,
}

#[derive(Debug)]
struct CatalogEntry {
    msg: Box<str>,
    category: Arc<str>,
    priority: u8,
}

impl RuleCatalog {
    /// The catalog of `engine`'s rules (categories shared between rules).
    pub fn of(engine: &rules::Engine) -> RuleCatalog {
        let mut categories: std::collections::HashMap<&str, Arc<str>> = Default::default();
        let rules = engine
            .rules
            .iter()
            .map(|rule| {
                let c = engine.category(rule);
                let category = categories.entry(c).or_insert_with(|| Arc::from(c)).clone();
                CatalogEntry {
                    msg: rule.meta.msg.as_str().into(),
                    category,
                    priority: rule.meta.priority,
                }
            })
            .collect();
        RuleCatalog { rules }
    }
}

/// State shared by the appliance, the compiler and the record sources.
pub struct Shared {
    /// Filled in by the data plane as it starts (workers, ports).
    pub attach: Arc<Attach>,
    /// One per worker, in order; set before the data plane starts.
    pub slots: OnceLock<Vec<Arc<EngineSlot>>>,
    /// Each worker's block-table slot, in order (the control plane publishes into them from
    /// its start, before the workers run).
    pub block_slots: Vec<Arc<BlockSlot>>,
    /// Each worker's indicator-table slot, in order (published into like `block_slots`).
    pub intel_slots: Vec<Arc<IntelSlot>>,
    /// Rule catalogs by generation (the newest [`LIVE_GENERATIONS`]).
    catalogs: Mutex<BTreeMap<u64, Arc<RuleCatalog>>>,
    /// The data plane's stop flag (signals, `--seconds`, API shutdown).
    pub stop: Arc<AtomicBool>,
    /// "replay" or "ids".
    pub mode: String,
    /// Version with git revision and DPDK version.
    pub version: String,
    /// Hyperscan database cache for compiles.
    pub cache_dir: Option<PathBuf>,
    /// `classification.config` for compiles: classtypes' categories and default priorities.
    pub classes: Option<rules::config::Classifications>,
    /// Per worker: (alert ring overflow, flow ring overflow), shared with the sources.
    overflow: Mutex<Vec<(u64, u64)>>,
    /// One compile at a time.
    compiling: Mutex<()>,
    /// Evidence packets the workers hand over, gathered per flow.
    pub captures: Arc<Captures>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub fn new(
        stop: Arc<AtomicBool>,
        mode: &str,
        version: &str,
        cache_dir: Option<PathBuf>,
        classes: Option<rules::config::Classifications>,
        workers: usize,
    ) -> Self {
        Shared {
            attach: Arc::new(Attach::default()),
            slots: OnceLock::new(),
            block_slots: (0..workers).map(|_| Arc::new(BlockSlot::new(0))).collect(),
            intel_slots: (0..workers).map(|_| Arc::new(IntelSlot::new(0))).collect(),
            catalogs: Mutex::new(BTreeMap::new()),
            stop,
            mode: mode.to_owned(),
            version: version.to_owned(),
            cache_dir,
            classes,
            overflow: Mutex::new(vec![(0, 0); workers]),
            compiling: Mutex::new(()),
            captures: Arc::default(),
        }
    }

    /// Remembers `engine` as `generation`, forgetting the oldest beyond the live few.
    pub fn remember(&self, generation: u64, engine: &rules::Engine) {
        let catalog = Arc::new(RuleCatalog::of(engine));
        let mut g = self.catalogs.lock().unwrap_or_else(|p| p.into_inner());
        g.insert(generation, catalog);
        while g.len() > LIVE_GENERATIONS {
            let Some((&oldest, _)) = g.iter().next() else {
                break;
            };
            g.remove(&oldest);
        }
    }

    /// The rule catalog of `generation`, if still kept.
    pub fn catalog(&self, generation: u64) -> Option<Arc<RuleCatalog>> {
        self.catalogs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&generation)
            .cloned()
    }
}

/// Compile options for the appliance: the Hyperscan cache directory, if any.
fn compile_options(cache_dir: &Option<PathBuf>) -> rules::CompileOptions {
    rules::CompileOptions {
        cache_dir: cache_dir.clone(),
        ..Default::default()
    }
}

/// Loads and compiles rule texts (one rule per entry) with `classes` (classtypes' categories
/// and default priorities, as Suricata's `classification.config`); returns the engine with
/// the load report.
pub fn compile_texts(
    texts: &[&str],
    cache_dir: &Option<PathBuf>,
    classes: Option<&rules::config::Classifications>,
) -> Result<(rules::Engine, rules::CheckReport), String> {
    // Parsing and validating (PCRE compile included) is most of a reload whose Hyperscan
    // databases come from the cache (ET Open: about 1.3 s of 1.5 s): chunks of rules are
    // loaded on every core the calling thread may use, merged in order as if sequential.
    const CHUNK: usize = 1024;
    let chunks: Vec<(String, String)> = texts
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, part)| {
            let mut joined = String::with_capacity(part.iter().map(|t| t.len() + 1).sum());
            for t in part {
                joined.push_str(t);
                joined.push('\n');
            }
            (format!("ruleset[{}..]", i * CHUNK), joined)
        })
        .collect();
    let mut loader = rules::Loader::new(rules::LoadOptions {
        classes: classes.cloned(),
        ..Default::default()
    });
    loader.add_many(&chunks, 0);
    let set = loader.finish();
    let mut engine = rules::Engine::compile(&set.rules, &compile_options(cache_dir))
        .map_err(|e| e.to_string())?;
    if let Some(c) = classes {
        engine = engine.with_classifications(c);
    }
    Ok((engine, set.report))
}

/// The data plane behind the API.
#[derive(Debug)]
pub struct DataPlane {
    pub shared: Arc<Shared>,
}

impl Appliance for DataPlane {
    fn status(&self) -> ApplianceStatus {
        let sh = &self.shared;
        let ports = sh
            .attach
            .ports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|p| PortStatus {
                port_id: p.port_id,
                name: p.name.clone(),
                link_up: p.link_up,
                speed_mbps: p.speed_mbps,
                driver: p.driver.clone(),
                filter: p.filter.clone(),
                filter_engine: p.filter_engine.clone(),
            })
            .collect();
        let workers = match sh.attach.workers.get() {
            Some(ws) => ws
                .iter()
                .map(|w| WorkerStatus {
                    name: format!("w{}", w.worker),
                    lcore: w.lcore,
                    running: !w.done.load(Ordering::Acquire),
                    ruleset_generation: w.engine.active(),
                })
                .collect(),
            None => Vec::new(),
        };
        ApplianceStatus {
            version: sh.version.clone(),
            mode: sh.mode.clone(),
            ports,
            workers,
        }
    }

    fn stats(&self) -> StatsSnapshot {
        let sh = &self.shared;
        let overflow = sh
            .overflow
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut workers: Vec<WorkerStats> = match sh.attach.workers.get() {
            Some(ws) => ws
                .iter()
                .map(|w| {
                    let mut counters: Vec<(String, u64)> = w
                        .published
                        .snapshot()
                        .into_iter()
                        .map(|(n, v)| (n.to_owned(), v))
                        .collect();
                    // Ring overflow: the newer of the worker's published count and the copy
                    // ingest took from the ring (either can lag: the worker publishes every
                    // few thousand packets, ingest only looks between batches).
                    let (a, f) = overflow.get(w.worker).copied().unwrap_or((0, 0));
                    set_max(&mut counters, "detect.alert_queue_overflow", a);
                    set_max(&mut counters, "flow.export_overflow", f);
                    set(
                        &mut counters,
                        "detect.engine_swap_failed",
                        w.engine.failed(),
                    );
                    WorkerStats {
                        worker: format!("w{}", w.worker),
                        counters,
                    }
                })
                .collect(),
            None => Vec::new(),
        };
        // Device counters belong to ports, not workers; Suricata reports them as capture.*.
        // A port's capture filter rejects frames in every worker polling it.
        let live = sh.attach.workers.get().map_or(&[][..], Vec::as_slice);
        for (i, p) in sh
            .attach
            .ports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .enumerate()
        {
            let rejected: u64 = live.iter().map(|w| w.published.filter_rejected(i)).sum();
            workers.push(WorkerStats {
                worker: format!("port:{}", p.name),
                counters: vec![
                    ("capture.port_packets".into(), p.stats.ipackets),
                    ("capture.port_bytes".into(), p.stats.ibytes),
                    ("capture.kernel_drops".into(), p.stats.imissed),
                    ("capture.rx_nombuf".into(), p.stats.rx_nombuf),
                    ("capture.errors".into(), p.stats.ierrors),
                    // Not `filter.rejected`: the workers' counters of the same frames, which
                    // the totals already sum.
                    ("filter.port_rejected".into(), rejected),
                ],
            });
        }
        StatsSnapshot { workers }
    }

    fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }

    fn publish_blocks(&self, generation: u64, entries: &[vocab::block::BlockEntry]) {
        let table = Arc::new(BlockTable::new(entries.iter().cloned()));
        for s in &self.shared.block_slots {
            s.publish(generation, table.clone());
        }
    }

    fn block_generations(&self) -> Vec<u64> {
        self.running_generations(self.shared.block_slots.iter().map(|s| s.active()))
    }

    fn publish_intel(&self, generation: u64, set: stix::Compiled) {
        let table = Arc::new(IntelTable::compile(set));
        for s in &self.shared.intel_slots {
            s.publish(generation, table.clone());
        }
    }

    fn intel_generations(&self) -> Vec<u64> {
        self.running_generations(self.shared.intel_slots.iter().map(|s| s.active()))
    }

    fn captures(&self) -> Option<Arc<controlplane::evidence::capture::Captures>> {
        Some(self.shared.captures.clone())
    }

    fn heartbeats(&self) -> Vec<controlplane::seams::Heartbeat> {
        self.shared.attach.workers.get().map_or(Vec::new(), |ws| {
            ws.iter()
                .map(|w| controlplane::seams::Heartbeat {
                    worker: format!("w{}", w.worker),
                    running: !w.done.load(Ordering::Acquire),
                    beats: w.published.heartbeat(),
                })
                .collect()
        })
    }
}

impl DataPlane {
    /// The generations of the running workers' slots (in worker order): one that stopped
    /// keeps its last generation and confirms nothing more.
    fn running_generations(&self, active: impl Iterator<Item = u64>) -> Vec<u64> {
        let running = |i: usize| match self.shared.attach.workers.get() {
            Some(ws) => ws.get(i).is_some_and(|w| !w.done.load(Ordering::Acquire)),
            None => false,
        };
        active
            .enumerate()
            .filter(|(i, _)| running(*i))
            .map(|(_, g)| g)
            .collect()
    }
}

/// Sets counter `name` to `v` unless it already holds more.
fn set_max(counters: &mut Vec<(String, u64)>, name: &str, v: u64) {
    match counters.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = slot.1.max(v),
        None => counters.push((name.to_owned(), v)),
    }
}

fn set(counters: &mut Vec<(String, u64)>, name: &str, v: u64) {
    match counters.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = v,
        None => counters.push((name.to_owned(), v)),
    }
}

/// The rules crate behind the API.
#[derive(Debug)]
pub struct Compiler {
    pub shared: Arc<Shared>,
}

/// Sid of the rule a diagnostic points into, when it parses that far.
fn to_diag(d: &rules::Diagnostic, line_base: Option<u32>) -> Diagnostic {
    Diagnostic {
        severity: match d.severity {
            rules::Severity::Error => Severity::Error,
            _ => Severity::Warning,
        },
        line: line_base.unwrap_or(u32::try_from(d.line).unwrap_or(u32::MAX)),
        column: u32::try_from(d.col).unwrap_or(u32::MAX),
        message: d.message.clone(),
        sid: d.sid,
    }
}

impl RuleCompiler for Compiler {
    fn validate(&self, text: &str) -> Validation {
        // Validation never runs the rules: no PCRE2 JIT code for them.
        let mut loader = rules::Loader::new(rules::LoadOptions {
            validate_only: true,
            ..rules::LoadOptions::default()
        });
        loader.add_str("request", text);
        let set = loader.finish();
        let mut metas: Vec<RuleMeta> = set
            .rules
            .iter()
            .map(|r| RuleMeta {
                line: u32::try_from(r.line).unwrap_or(u32::MAX),
                gid: r.ir.gid,
                sid: r.ir.sid,
                rev: r.ir.rev,
                msg: r.ir.meta.msg.clone(),
                classtype: r.ir.meta.classtype.clone().unwrap_or_default(),
                priority: r.ir.meta.priority,
                text: r.text.trim().to_owned(),
            })
            .collect();
        // The loader orders rules by action; the API wants them as submitted.
        metas.sort_by_key(|m| m.line);
        Validation {
            rules: metas,
            diagnostics: set
                .report
                .diagnostics
                .iter()
                .map(|d| to_diag(d, None))
                .collect(),
        }
    }

    fn compile_and_swap(
        &self,
        generation: u64,
        rules: &[StoredRule],
    ) -> Result<ReloadOutcome, CompileError> {
        let sh = &self.shared;
        let Ok(_guard) = sh.compiling.try_lock() else {
            return Err(CompileError::Busy);
        };
        let Some(slots) = sh.slots.get() else {
            return Err(CompileError::NotRunning);
        };
        if sh.stop.load(Ordering::Relaxed) {
            return Err(CompileError::NotRunning);
        }
        let started = Instant::now();
        let texts: Vec<&str> = rules.iter().map(|r| r.text.as_str()).collect();
        let (engine, report) = compile_texts(&texts, &sh.cache_dir, sh.classes.as_ref())
            .map_err(CompileError::Failed)?;
        let engine = Arc::new(engine);
        let compile_time = started.elapsed();
        // Known before any worker can raise an alert with it.
        sh.remember(generation, &engine);
        for s in slots {
            s.publish(generation, engine.clone());
        }
        let failures = report
            .diagnostics
            .iter()
            .filter(|d| d.severity == rules::Severity::Error)
            .map(|d| to_diag(d, Some(0)))
            .collect();
        Ok(ReloadOutcome {
            generation,
            rules_loaded: u32::try_from(report.loaded).unwrap_or(u32::MAX),
            rules_failed: u32::try_from(report.failed + report.skipped).unwrap_or(u32::MAX),
            failures,
            compile_time,
        })
    }
}

/// One worker's export rings, converted to the control plane's records.
pub struct WorkerSource {
    name: String,
    index: usize,
    alerts: Consumer<AlertRecord>,
    flows: Consumer<FlowRecord>,
    eve: EveConsumer,
    /// Alert lines taken from the EVE ring before their records (oldest first).
    lines: std::collections::VecDeque<String>,
    /// Other EVE records (transactions, anomalies), newline-terminated, for the EVE file.
    other: Vec<u8>,
    shared: Arc<Shared>,
    /// The engine of the last generation rendered (a lookup only when it changes).
    catalog: Option<(u64, Arc<RuleCatalog>)>,
    /// Render each flow's EVE record (for the EVE file), as `osprey replay --eve` does.
    eve_flows: bool,
}

impl WorkerSource {
    pub fn new(
        index: usize,
        alerts: Consumer<AlertRecord>,
        flows: Consumer<FlowRecord>,
        eve: EveConsumer,
        shared: Arc<Shared>,
    ) -> Self {
        WorkerSource {
            name: format!("w{index}"),
            index,
            alerts,
            flows,
            eve,
            lines: std::collections::VecDeque::new(),
            other: Vec::new(),
            shared,
            catalog: None,
            eve_flows: false,
        }
    }

    /// Renders each flow's EVE `flow` record for the EVE file, with the function
    /// `osprey replay --eve` uses.
    pub fn with_eve_flows(mut self, on: bool) -> Self {
        self.eve_flows = on;
        self
    }

    /// Moves up to `max` records out of the EVE ring: alert lines queue for their records,
    /// the rest go to `other`.
    fn pull_eve(&mut self, max: usize) -> usize {
        let (lines, other) = (&mut self.lines, &mut self.other);
        let (captures, worker) = (&self.shared.captures, self.index);
        self.eve.drain(max, |ty, line| {
            if ty == dataplane::export::PACKET_RECORD {
                capture_packet(captures, worker, line);
            } else if ty == "alert" {
                lines.push_back(String::from_utf8_lossy(line).into_owned());
            } else {
                other.extend_from_slice(line);
                other.push(b'\n');
            }
        })
    }

    /// The line of the oldest alert record that has one. The worker queues a line before
    /// its record, so it is there by the time the record is.
    fn next_line(&mut self) -> Option<String> {
        while self.lines.is_empty() {
            if self.pull_eve(1) == 0 {
                return None;
            }
        }
        self.lines.pop_front()
    }

    fn catalog_for(&mut self, generation: u64) -> Option<Arc<RuleCatalog>> {
        if let Some((g, c)) = &self.catalog {
            if *g == generation {
                return Some(c.clone());
            }
        }
        let c = self.shared.catalog(generation)?;
        self.catalog = Some((generation, c.clone()));
        Some(c)
    }
}

/// Hands an evidence packet from worker `worker`'s EVE ring to the captures.
fn capture_packet(captures: &Captures, worker: usize, rec: &[u8]) {
    match dataplane::export::decode_packet(rec) {
        Some((ts_ns, flow, orig_len, data)) => {
            let data = data.to_vec();
            captures.packet(
                worker,
                flow,
                CapturedPacket {
                    ts_ns,
                    orig_len,
                    data,
                },
            );
        }
        None => captures.malformed(),
    }
}

/// The control plane's alert for a worker's record, with the rule's details from `catalog`
/// (the catalog of the record's generation).
pub fn convert_alert(r: &AlertRecord, catalog: Option<&RuleCatalog>, worker: &str) -> Alert {
    let mut a = Alert::from_record(r, worker);
    if let Some(rule) = catalog.and_then(|c| c.rules.get(r.rule as usize)) {
        a.msg = rule.msg.to_string();
        a.category = rule.category.to_string();
        if rule.priority != 0 {
            a.severity = rule.priority;
        }
    }
    a
}

/// The control plane's flow record for a worker's.
pub fn convert_flow(f: &FlowRecord, worker: &str) -> model::FlowRecord {
    use dataplane::flow::{EndReason, FlowState};
    let unspecified = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
    let t = &f.tuple;
    model::FlowRecord {
        flow_id: f.id.0,
        src_ip: if t.src.is_unspecified() {
            unspecified
        } else {
            t.src
        },
        src_port: t.src_port,
        dst_ip: t.dst,
        dst_port: t.dst_port,
        proto: t.proto,
        pkts_toserver: f.pkts_toserver,
        pkts_toclient: f.pkts_toclient,
        bytes_toserver: f.bytes_toserver,
        bytes_toclient: f.bytes_toclient,
        start_nanos: f.start.0,
        end_nanos: f.end.0,
        state: match f.state {
            FlowState::New => model::FlowState::New,
            FlowState::Established => model::FlowState::Established,
            FlowState::Closed => model::FlowState::Closed,
        },
        reason: match f.reason {
            EndReason::Timeout | EndReason::TcpClosed => model::FlowEndReason::Timeout,
            EndReason::Evicted => model::FlowEndReason::Forced,
            EndReason::TcpReuse => model::FlowEndReason::TcpReuse,
            EndReason::Shutdown => model::FlowEndReason::Shutdown,
        },
        app_proto: f.app_proto.eve_name().unwrap_or("").to_owned(),
        alerted: f.alerted,
        worker: worker.to_owned(),
        eve: String::new(),
    }
}

impl RecordSource for WorkerSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn drain_alerts(&mut self, max: usize, out: &mut Vec<Alert>) -> usize {
        let mut n = 0;
        while n < max {
            let Some(r) = self.alerts.pop() else { break };
            let catalog = self.catalog_for(r.generation);
            let mut a = convert_alert(&r, catalog.as_deref(), &self.name);
            if r.eve {
                a.eve = self.next_line().unwrap_or_default();
            }
            out.push(a);
            n += 1;
        }
        n
    }

    fn drain_eve(&mut self, out: &mut Vec<u8>) -> usize {
        self.pull_eve(usize::MAX);
        let n = self.other.iter().filter(|&&b| b == b'\n').count();
        out.append(&mut self.other);
        n
    }

    fn drain_flows(&mut self, max: usize, out: &mut Vec<model::FlowRecord>) -> usize {
        let (name, eve) = (&self.name, self.eve_flows);
        let mut line = Vec::new();
        self.flows.drain(max, |f| {
            let mut rec = convert_flow(&f, name);
            if eve {
                line.clear();
                dataplane::flow::render_eve_flow(&f, &mut line);
                rec.eve = String::from_utf8_lossy(&line).into_owned();
            }
            out.push(rec);
        })
    }

    fn overflow(&self) -> Option<(u64, u64)> {
        let v = (self.alerts.overflow(), self.flows.overflow());
        if let Some(slot) = self
            .shared
            .overflow
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(self.index)
        {
            *slot = v;
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_are_completed_from_their_generations_catalog() {
        let texts = [
            r#"alert tcp any any -> any 80 (msg:"first"; content:"GET"; classtype:trojan-activity; priority:2; sid:1; rev:1;)"#,
            r#"alert udp any any -> any 53 (msg:"second"; content:"x"; sid:2; rev:1;)"#,
        ];
        let (engine, _) = compile_texts(&texts, &None, None).expect("compiles");
        let catalog = RuleCatalog::of(&engine);
        for (i, rule) in engine.rules.iter().enumerate() {
            let r = AlertRecord {
                rule: u32::try_from(i).unwrap(),
                sid: rule.sid,
                ..AlertRecord::default()
            };
            let a = convert_alert(&r, Some(&catalog), "w0");
            assert_eq!(a.msg, rule.meta.msg, "sid {}", rule.sid);
            assert_eq!(a.category, engine.category(rule));
            if rule.meta.priority != 0 {
                assert_eq!(a.severity, rule.meta.priority);
            }
        }
        // A rule index the generation does not have leaves the alert as the worker sent it.
        let r = AlertRecord {
            rule: 99,
            ..AlertRecord::default()
        };
        assert!(convert_alert(&r, Some(&catalog), "w0").msg.is_empty());
    }
}
