//! Starting the data plane: EAL arguments, capture ports, worker lcores, and the replay of a
//! capture file through DPDK's `net_pcap` driver.
//!
//! A replay first scans the capture in Rust (link type, packet count, snaplen-cut frames), splits
//! it into one file per worker by a symmetric host hash when there are several workers, then
//! starts the EAL with one `net_pcap` device serving one file per Rx queue, and runs one worker
//! per queue on its own lcore until every worker has seen its file's packets.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::dpdk::{self, DpdkError, Eal, Mempool, Port, PortConfig, PortStats};
use crate::filter::{CaptureFilter, FilterEngine, QueueFilters};
use crate::flow::FlowRecord;
use crate::io::pcap::{scan, CaptureError, CaptureInfo};
use crate::io::{split, WireLengths};
use crate::time::Timestamp;
use crate::worker::{
    AlertRecord, EngineSlot, Export, PacketClock, Published, RunControl, Worker, WorkerConfig,
};

/// Link types the decoder understands (pcap numbering).
pub const SUPPORTED_LINK_TYPES: &[(u32, &str)] = &[
    (0, "BSD loopback (DLT_NULL)"),
    (1, "Ethernet"),
    (12, "raw IP"),
    (14, "raw IP"),
    (101, "raw IP"),
    (108, "OpenBSD loopback"),
    (113, "Linux cooked"),
    (228, "raw IPv4"),
    (229, "raw IPv6"),
];

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("{path}: unsupported link type {link_type} (supported: Ethernet, DLT_NULL/loopback, raw IP, Linux cooked)")]
    UnsupportedLinkType { path: PathBuf, link_type: u32 },
    #[error("{0}: the capture holds no packets")]
    Empty(PathBuf),
    #[error("{path}: the capture port cannot open a path containing ',' or '='")]
    BadPath { path: PathBuf },
    #[error("DPDK: {0}")]
    Dpdk(#[from] DpdkError),
    #[error("cannot create a working directory: {0}")]
    WorkDir(std::io::Error),
    #[error("{0} workers requested: at least 1 and at most 64")]
    Workers(usize),
    #[error(
        "{0} workers requested: a capture replay takes 1 to {MAX_REPLAY_WORKERS} (one net_pcap \
         Rx queue each)"
    )]
    ReplayWorkers(usize),
    #[error("worker {0} panicked")]
    WorkerPanicked(usize),
    #[error("invalid worker configuration: {0}")]
    Config(String),
    #[error("port {port}: {source}")]
    Filter {
        port: String,
        source: crate::filter::FilterError,
    },
    #[error(
        "{0} workers requested: an inline replay writing a capture takes one worker (the \
         order of what is forwarded is one worker's)"
    )]
    InlineOutWorkers(usize),
}

/// Most workers a capture replay can have: `net_pcap` serves at most 16 Rx queues
/// (`RTE_PMD_PCAP_MAX_QUEUES`) and each worker polls one.
pub const MAX_REPLAY_WORKERS: usize = 16;

/// EAL settings from the configuration (the `[dpdk]` section).
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EalConfig {
    /// Run without hugepages (CI, laptops); real appliances set this to false.
    pub no_huge: bool,
    /// Skip PCI probing (virtual devices only).
    pub no_pci: bool,
    /// Memory in MB to reserve (with `no_huge`, taken from ordinary pages).
    pub memory_mb: u32,
    /// Runtime-file prefix. Empty (the default): a prefix unique to the process, which shares
    /// nothing with secondary DPDK processes and leaves no runtime files behind (`--in-memory`,
    /// or `--no-shconf` without hugepages; no telemetry socket). Set it to let secondary
    /// processes (`dpdk-proc-info`, `dpdk-pdump`) attach: DPDK then keeps its shared files
    /// under `/var/run/dpdk/<prefix>`, reused by the next process with the same prefix.
    pub file_prefix: String,
    /// EAL log level (`error`, `warning`, `notice`, `info`, `debug`).
    pub log_level: String,
    /// Extra EAL arguments passed as they are (e.g. `-a 0000:3b:00.0`).
    pub extra_args: Vec<String>,
}

impl Default for EalConfig {
    fn default() -> Self {
        EalConfig {
            no_huge: true,
            no_pci: true,
            memory_mb: 512,
            file_prefix: String::new(),
            log_level: "error".into(),
            extra_args: Vec::new(),
        }
    }
}

impl EalConfig {
    /// The EAL arguments for a main lcore plus `workers` worker lcores, with `vdevs`.
    pub fn args(&self, workers: usize, vdevs: &[String], memory_mb: u32) -> Vec<String> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        // lcore 0 is the main (control) lcore on CPU 0; worker k runs on CPU k mod cpus, so on a
        // 2-core machine one worker gets a core of its own.
        let mut lcores = vec!["0@0".to_string()];
        for k in 1..=workers {
            lcores.push(format!("{k}@{}", k % cpus));
        }
        let mut a = vec!["--lcores".into(), lcores.join(",")];
        if self.no_huge {
            a.push("--no-huge".into());
        }
        if self.no_pci {
            a.push("--no-pci".into());
        }
        a.push("-m".into());
        a.push(memory_mb.max(self.memory_mb).to_string());
        let prefix = if self.file_prefix.is_empty() {
            // A process of its own shares no memory with secondary processes, so it needs no
            // shared runtime files. DPDK 22.11 refuses `--in-memory` with `--no-huge` (which
            // implies legacy memory); `--no-shconf` is the part of it that applies there.
            a.push(
                if self.no_huge {
                    "--no-shconf"
                } else {
                    "--in-memory"
                }
                .into(),
            );
            a.push("--no-telemetry".into());
            unique_prefix()
        } else {
            self.file_prefix.clone()
        };
        a.push(format!("--file-prefix={prefix}"));
        a.push(format!("--log-level={}", self.log_level));
        for v in vdevs {
            a.push("--vdev".into());
            a.push(v.clone());
        }
        a.extend(self.extra_args.iter().cloned());
        a
    }
}

/// A prefix no other process on the machine uses: pid plus a per-process counter.
fn unique_prefix() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "osprey-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// What to replay and how.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    pub pcap: PathBuf,
    pub workers: usize,
    pub eal: EalConfig,
    /// Loop over the capture forever (`net_pcap`'s `infinite_rx`), until stopped.
    pub infinite: bool,
    /// With `infinite`: stop after this long.
    pub duration: Option<Duration>,
    /// Stop flag shared with signal handlers / the API.
    pub stop: Arc<AtomicBool>,
    /// Decoder and pipeline settings.
    pub worker: WorkerConfig,
    /// Run inline (IPS): forward what is not dropped to this peer; `None` watches only.
    pub inline: Option<InlinePeer>,
    /// A BPF capture filter on the capture port ([`crate::filter`]).
    pub filter: Option<String>,
    /// Play the capture at its own pace times this factor ([`crate::pace`]); `None`: as fast
    /// as the workers go.
    pub pace: Option<f64>,
}

/// Where an inline replay forwards what its verdicts let through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InlinePeer {
    /// A capture file (`net_pcap`'s `tx_pcap`): what would have been forwarded, in order,
    /// with the answers to rejected packets (one worker).
    Pcap(PathBuf),
    /// `net_null`, which takes every packet (benchmarks).
    Null,
}

/// Counters of one worker at the end of a run.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerReport {
    pub worker: usize,
    pub lcore: u32,
    pub packets: u64,
    pub bytes: u64,
    pub captured_bytes: u64,
    /// Packet time of the last packet the worker handled (nanoseconds since the epoch).
    pub last_packet_time: Timestamp,
    /// CPU time the worker's thread used (user + system), when the clock could be read.
    pub cpu_secs: Option<f64>,
    /// Every counter of the worker by name.
    pub counters: std::collections::BTreeMap<&'static str, u64>,
}

/// Drops by reason (all zero on a clean replay).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Drops {
    /// Packets the device dropped for lack of Rx descriptors (`imissed`).
    pub imissed: u64,
    /// Packets lost for lack of mbufs (`rx_nombuf`).
    pub rx_nombuf: u64,
    /// Receive errors (`ierrors`).
    pub ierrors: u64,
    /// Packets in the capture that never reached a worker.
    pub undelivered: u64,
}

/// The outcome of a replay.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayReport {
    pub pcap: PathBuf,
    pub link_type: u32,
    pub packets: u64,
    /// Wire bytes (`capinfos -d`).
    pub bytes: u64,
    pub captured_bytes: u64,
    pub per_worker: Vec<WorkerReport>,
    pub drops: Drops,
    pub port: PortStats,
    pub capture: CaptureInfo,
    pub elapsed_secs: f64,
    pub tsc_hz: u64,
    /// Sum over workers of TSC cycles spent in their poll loops.
    pub worker_cycles: u64,
    pub dpdk_version: String,
    pub port_info: dpdk::PortInfo,
    /// What ran the capture filter (`rte_bpf-jit`, `rte_bpf-interpreter`, `libpcap`); `None`:
    /// no filter.
    pub filter_engine: Option<&'static str>,
}

/// The decoder's `LinkType` is the one list of what is supported; `SUPPORTED_LINK_TYPES`
/// only names them for people.
fn check_link(path: &Path, link: u32) -> Result<crate::decode::LinkType, RuntimeError> {
    crate::decode::LinkType::try_from(link).map_err(|_| RuntimeError::UnsupportedLinkType {
        path: path.to_owned(),
        link_type: link,
    })
}

/// A progress callback: called about once a second on the main lcore with each worker's
/// published counters and the ports' summed statistics.
pub type Progress<'a> = &'a mut dyn FnMut(&[Arc<Published>], &PortStats, Duration);

/// One capture port to start: a DPDK device name, the `--vdev` string that creates it (for
/// virtual devices) and its number of Rx queues.
#[derive(Clone, Debug)]
pub struct PortPlan {
    pub name: String,
    pub vdev: Option<String>,
    pub rx_queues: u16,
    /// Tx queues: one per worker on a port of an inline pair (each worker transmits on its
    /// own), else 1.
    pub tx_queues: u16,
    /// A BPF capture filter (tcpdump syntax): frames it rejects are counted and not
    /// inspected; inline they are forwarded as they came.
    pub filter: Option<String>,
}

/// Where packets of a worker's Rx queue go inline: indices into [`Plan::ports`]. The worker
/// transmits on Tx queue number `worker index` of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanRoute {
    /// The peer port: forwarded packets, answers to the receiver.
    pub peer: usize,
    /// The receiving port: answers to the sender.
    pub back: usize,
}

/// What one worker polls and when it stops.
#[derive(Clone, Debug)]
pub struct WorkerPlan {
    /// (index into `Plan::ports`, queue) pairs, polled round-robin.
    pub queues: Vec<(usize, u16)>,
    /// Inline: where each of `queues` forwards (same order; empty or `None`: watch only).
    pub routes: Vec<Option<PlanRoute>>,
    pub expected_packets: Option<u64>,
    pub wire: WireLengths,
    /// Time of the first packet of a replayed file (calibrates the device timestamp unit);
    /// `None` for live ports, whose packet time comes from the TSC.
    pub first_packet: Option<Timestamp>,
    /// A paced replay's schedule for this worker's packets (`None`: as fast as it goes).
    pub pace: Option<Arc<crate::pace::Schedule>>,
}

/// Everything needed to start the data plane.
#[derive(Clone, Debug)]
pub struct Plan {
    pub eal: EalConfig,
    pub ports: Vec<PortPlan>,
    pub workers: Vec<WorkerPlan>,
    pub link_type: u32,
    pub mbufs: u32,
    pub memory_mb: u32,
    /// Shift packet times when a looping source starts over.
    pub monotonic_time: bool,
    /// Stop a worker after this long without packets (finite sources).
    pub idle_timeout: Option<Duration>,
    /// Stop everything after this long.
    pub duration: Option<Duration>,
    pub stop: Arc<AtomicBool>,
    /// Decoder and pipeline settings.
    pub worker: WorkerConfig,
    /// Hand flow-end records to the `on_flow` callback of [`run`].
    pub export_flows: bool,
    /// Hand alerts to the `on_alert` callback of [`run`].
    pub export_alerts: bool,
    /// Hand worker-rendered EVE records to the `on_eve` callback of [`run`].
    pub export_eve: bool,
    /// A control plane to connect the workers to (their rings and engine slots replace the
    /// `export_*` callbacks).
    pub attach: Option<Arc<Attach>>,
}

/// One worker's connections to a control plane: the producer ends of its record rings (the
/// control plane holds the consumers) and its engine slot for hot reloads.
#[derive(Debug)]
pub struct WorkerAttach {
    pub alerts: crate::export::Producer<AlertRecord>,
    pub flows: crate::export::Producer<FlowRecord>,
    pub engine: Arc<EngineSlot>,
    /// Its block-table slot (`None`: the plan's starting block list stays).
    pub blocks: Option<Arc<crate::blocklist::BlockSlot>>,
    /// Its indicator-table slot (`None`: the plan's starting table stays).
    pub intel: Option<Arc<crate::intel::IntelSlot>>,
    /// Worker-rendered EVE records: each alert's own line (paired with its record, see
    /// `Export::join_alert_lines`), app-layer transactions and anomalies.
    pub eve: Option<crate::export::EveProducer>,
}

/// A worker as the control plane sees it while it runs.
#[derive(Clone, Debug)]
pub struct LiveWorker {
    pub worker: usize,
    pub lcore: u32,
    pub published: Arc<Published>,
    pub engine: Arc<EngineSlot>,
    pub blocks: Option<Arc<crate::blocklist::BlockSlot>>,
    /// Set when the worker's poll loop has returned.
    pub done: Arc<AtomicBool>,
}

/// A port as the control plane sees it: refreshed by the main lcore about once a second.
#[derive(Clone, Debug, Default)]
pub struct LivePort {
    pub port_id: u16,
    pub name: String,
    pub driver: String,
    pub link_up: bool,
    pub speed_mbps: u32,
    pub stats: PortStats,
    /// The port's capture filter and what runs it (`rte_bpf-jit`, ...); empty: none.
    pub filter: String,
    pub filter_engine: String,
}

/// Connects a run to a control plane. The caller creates the rings and engine slots before
/// the run (so the control plane can open storage and compile the first ruleset first);
/// [`run`] takes the worker ends, and publishes what it started in `workers`/`ports`.
#[derive(Debug, Default)]
pub struct Attach {
    /// Per worker, in plan order; taken by [`run`].
    pub pending: std::sync::Mutex<Vec<WorkerAttach>>,
    /// The running workers, set once they are launched.
    pub workers: std::sync::OnceLock<Vec<LiveWorker>>,
    /// The ports with their link state and counters.
    pub ports: std::sync::Mutex<Vec<LivePort>>,
}

impl Attach {
    /// An attachment for these workers' ends.
    pub fn new(workers: Vec<WorkerAttach>) -> Self {
        Attach {
            pending: std::sync::Mutex::new(workers),
            ..Attach::default()
        }
    }
}

/// Slots of each worker's alert ring.
const ALERT_RING: usize = 1 << 16;

/// A callback on the main lcore for each alert a worker exported.
pub type OnAlert<'a> = &'a mut dyn FnMut(usize, &AlertRecord);

/// Data bytes of one mbuf; longer frames arrive as chains.
pub const MBUF_DATA_ROOM: u32 = 2048;

/// Slots of each worker's flow-record ring.
const FLOW_RING: usize = 1 << 16;

/// A callback on the main lcore for each flow-end record a worker exported.
pub type OnFlow<'a> = &'a mut dyn FnMut(usize, &FlowRecord);

/// A callback on the main lcore for each EVE record a worker rendered:
/// `(worker, event_type, record)`; the record is one JSON object without a newline.
pub type OnEve<'a> = &'a mut dyn FnMut(usize, &str, &[u8]);

/// The outcome of a run, before capture facts are added.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub per_worker: Vec<WorkerReport>,
    pub port: PortStats,
    pub ports: Vec<dpdk::PortInfo>,
    pub elapsed_secs: f64,
    pub tsc_hz: u64,
    pub worker_cycles: u64,
    pub dpdk_version: String,
    /// Per port of the plan, what ran its capture filter (`None`: no filter).
    pub filter_engines: Vec<Option<&'static str>>,
}

/// Starts the EAL, the ports and the workers of `plan`, and waits until every worker stops.
pub fn run(
    plan: &Plan,
    progress: Option<Progress<'_>>,
    mut on_flow: Option<OnFlow<'_>>,
    mut on_alert: Option<OnAlert<'_>>,
    mut on_eve: Option<OnEve<'_>>,
) -> Result<RunReport, RuntimeError> {
    if plan.workers.is_empty() || plan.workers.len() > 64 {
        return Err(RuntimeError::Workers(plan.workers.len()));
    }
    let vdevs: Vec<String> = plan.ports.iter().filter_map(|p| p.vdev.clone()).collect();
    let args = plan.eal.args(plan.workers.len(), &vdevs, plan.memory_mb);
    tracing::debug!(?args, "starting EAL");
    let eal = Eal::init(&args)?;
    let pool = Arc::new(Mempool::new(
        &eal,
        "osprey_rx",
        plan.mbufs,
        256,
        MBUF_DATA_ROOM as u16,
    )?);
    let ports = start_ports(&eal, plan, &pool)?;
    let link = check_link(Path::new(&plan.ports[0].name), plan.link_type)?;
    let attached = take_attachments(plan)?;
    let engines = filter_engines(&eal, plan, link);
    let started = Instant::now();
    // Kept whole until the end: on an early return its stop guard drops before its jobs.
    let mut launched = launch_workers(&eal, plan, &ports, &pool, link, attached)?;
    if let Some(a) = &plan.attach {
        let _ = a.workers.set(std::mem::take(&mut launched.live));
        refresh_ports(a, plan, &ports, &engines);
    }
    let Launched {
        published,
        done_flags,
        flow_rings,
        alert_rings,
        eve_rings,
        ..
    } = &mut launched;
    let mut progress = progress;
    let mut next_tick = Instant::now() + Duration::from_secs(1);
    // Alerts and worker-rendered records first: a flow's record follows the events raised on
    // it.
    let mut drain = |flows: &mut Vec<crate::export::Consumer<FlowRecord>>,
                     alerts: &mut Vec<crate::export::Consumer<AlertRecord>>,
                     eves: &mut Vec<crate::export::EveConsumer>| {
        if let Some(f) = on_alert.as_mut() {
            for (w, c) in alerts.iter_mut().enumerate() {
                c.drain(usize::MAX, |r| f(w, &r));
            }
        }
        if let Some(f) = on_eve.as_mut() {
            for (w, c) in eves.iter_mut().enumerate() {
                c.drain(usize::MAX, |t, l| f(w, t, l));
            }
        }
        if let Some(f) = on_flow.as_mut() {
            for (w, c) in flows.iter_mut().enumerate() {
                c.drain(usize::MAX, |r| f(w, &r));
            }
        }
    };
    while !done_flags.iter().all(|d| d.load(Ordering::Acquire)) {
        std::thread::sleep(Duration::from_millis(10));
        drain(flow_rings, alert_rings, eve_rings);
        let now = Instant::now();
        if let Some(d) = plan.duration {
            if now.duration_since(started) >= d {
                plan.stop.store(true, Ordering::Relaxed);
            }
        }
        if now >= next_tick {
            next_tick += Duration::from_secs(1);
            if let Some(a) = &plan.attach {
                refresh_ports(a, plan, &ports, &engines);
            }
            if let Some(p) = progress.as_mut() {
                let stats = sum_port_stats(&ports)?;
                p(published, &stats, now.duration_since(started));
            }
        }
    }
    let elapsed = started.elapsed();
    drain(flow_rings, alert_rings, eve_rings);
    let joined = join_workers(std::mem::take(&mut launched.jobs));
    // Records pushed between the last drain and the worker's exit.
    drain(
        &mut launched.flow_rings,
        &mut launched.alert_rings,
        &mut launched.eve_rings,
    );
    let (per_worker, worker_cycles) = joined?;
    if let Some(a) = &plan.attach {
        refresh_ports(a, plan, &ports, &engines);
    }
    let total = sum_port_stats(&ports)?;
    let infos = ports.iter().map(|p| p.info().clone()).collect();
    let report = RunReport {
        per_worker,
        port: total,
        ports: infos,
        elapsed_secs: elapsed.as_secs_f64(),
        tsc_hz: eal.tsc_hz(),
        worker_cycles,
        dpdk_version: dpdk::version(),
        filter_engines: engines.iter().map(|e| e.map(FilterEngine::name)).collect(),
    };
    drop(launched);
    drop(ports);
    drop(pool);
    drop(eal);
    Ok(report)
}

/// Finds, configures and starts every port of `plan`, receiving into `pool`.
fn start_ports(eal: &Eal, plan: &Plan, pool: &Arc<Mempool>) -> Result<Vec<Port>, RuntimeError> {
    let mut ports = Vec::with_capacity(plan.ports.len());
    for pp in &plan.ports {
        let id = Port::by_name(eal, &pp.name)?;
        let cfg = PortConfig {
            rx_queues: pp.rx_queues,
            tx_queues: pp.tx_queues.max(1),
            ..PortConfig::default()
        };
        ports.push(Port::start(eal, id, &pp.name, &cfg, pool.clone())?);
    }
    Ok(ports)
}

/// The control plane's ends for each worker, in plan order (none without a control plane).
fn take_attachments(plan: &Plan) -> Result<Vec<Option<WorkerAttach>>, RuntimeError> {
    let Some(a) = &plan.attach else {
        return Ok(Vec::new());
    };
    let mut g = a.pending.lock().unwrap_or_else(|p| p.into_inner());
    let v: Vec<_> = std::mem::take(&mut *g).into_iter().map(Some).collect();
    if v.len() != plan.workers.len() {
        return Err(RuntimeError::Config(format!(
            "{} worker attachments for {} workers",
            v.len(),
            plan.workers.len()
        )));
    }
    Ok(v)
}

/// What a worker's lcore job returns: the worker, the TSC cycles of its poll loop and the CPU
/// time its thread used.
type WorkerOutcome = (Worker, u64, Option<Duration>);

/// The launched workers and what the main lcore watches while they run.
struct Launched<'p> {
    /// Declared first, so dropped first: on an early return the workers are told to stop
    /// before their handles in `jobs` wait for them, never leaving a worker polling forever.
    _stop_workers: StopOnDrop<'p>,
    jobs: Vec<dpdk::LcoreJob<WorkerOutcome>>,
    published: Vec<Arc<Published>>,
    /// Set by each worker when its poll loop returns.
    done_flags: Vec<Arc<AtomicBool>>,
    /// The workers as the control plane sees them (attached runs only).
    live: Vec<LiveWorker>,
    /// Consumer ends of the rings that feed the `on_*` callbacks.
    flow_rings: Vec<crate::export::Consumer<FlowRecord>>,
    alert_rings: Vec<crate::export::Consumer<AlertRecord>>,
    eve_rings: Vec<crate::export::EveConsumer>,
}

/// Builds each worker with its exports and queues and launches it on its lcore.
fn launch_workers<'p>(
    eal: &Eal,
    plan: &'p Plan,
    ports: &[Port],
    pool: &Arc<Mempool>,
    link: crate::decode::LinkType,
    mut attached: Vec<Option<WorkerAttach>>,
) -> Result<Launched<'p>, RuntimeError> {
    let n = plan.workers.len();
    let mut l = Launched {
        _stop_workers: StopOnDrop(&plan.stop),
        jobs: Vec::with_capacity(n),
        published: Vec::with_capacity(n),
        done_flags: Vec::with_capacity(n),
        live: Vec::with_capacity(n),
        flow_rings: Vec::new(),
        alert_rings: Vec::new(),
        eve_rings: Vec::new(),
    };
    // A capture replayed once is offline: a full ring makes the worker wait for its consumer
    // (nothing is lost); live sources drop and count instead.
    let offline = plan.workers.iter().all(|w| w.expected_packets.is_some());
    let when_full = if offline {
        crate::export::WhenFull::Wait(plan.stop.clone())
    } else {
        crate::export::WhenFull::Drop
    };
    let lcores = eal.worker_lcores();
    let inline_cfg = inline_worker_config(&plan.worker);
    for (i, (wp, lcore)) in plan.workers.iter().zip(lcores.iter().copied()).enumerate() {
        let attach = attached.get_mut(i).and_then(Option::take);
        let slot = attach
            .as_ref()
            .map(|a| (a.engine.clone(), a.blocks.clone()));
        let mut export = worker_export(plan, attach, &mut l);
        export.set_when_full(&when_full);
        let inline = wp.routes.iter().any(Option::is_some);
        let cfg = if inline { &inline_cfg } else { &plan.worker };
        let mut worker = Worker::new(i, link, wp.wire.clone(), cfg, export)
            .map_err(|e| RuntimeError::Config(e.to_string()))?;
        let filters = queue_filters(eal, plan, wp, link)?;
        let queue_ports = wp.queues.iter().map(|&(p, _)| p).collect();
        worker.set_filters(filters, queue_ports, plan.ports.len());
        if inline {
            worker.set_inline(inline_io(i, wp, ports, pool)?);
        }
        l.published.push(worker.published());
        let mut queues = Vec::with_capacity(wp.queues.len());
        for &(p, q) in &wp.queues {
            let port = ports.get(p).ok_or(RuntimeError::Workers(i))?;
            queues.push(port.rx_queue(q)?);
        }
        let ctl = RunControl {
            stop: plan.stop.clone(),
            expected_packets: wp.expected_packets,
            idle_timeout: plan.idle_timeout,
            monotonic_time: plan.monotonic_time,
            clock: packet_clock(eal, wp),
            pace: wp
                .pace
                .clone()
                .map(|s| crate::pace::Pacer::new(s, eal.tsc_hz())),
        };
        let done = Arc::new(AtomicBool::new(false));
        l.done_flags.push(done.clone());
        if let Some((engine, blocks)) = slot {
            l.live.push(LiveWorker {
                worker: i,
                lcore: lcore.0,
                published: worker.published(),
                engine,
                blocks,
                done: done.clone(),
            });
        }
        let job = dpdk::launch(eal, lcore, move || {
            // The worker's own CPU time (two clock reads per run, not per packet): on a shared
            // machine the lcore may be preempted, and then wall time overstates its cost.
            let cpu = cpu_time::ThreadTime::try_now().ok();
            let t0 = dpdk::rdtsc();
            let w = worker.run_queues(queues, &ctl);
            let cycles = dpdk::rdtsc().wrapping_sub(t0);
            let cpu = cpu.and_then(|c| c.try_elapsed().ok());
            done.store(true, Ordering::Release);
            (w, cycles, cpu)
        })?;
        l.jobs.push(job);
    }
    Ok(l)
}

/// Worker `wp`'s capture filters, one per polled queue: its port's, compiled for the run's
/// link type and loaded into `rte_bpf`. The first worker logs which engine runs each.
fn queue_filters(
    eal: &Eal,
    plan: &Plan,
    wp: &WorkerPlan,
    link: crate::decode::LinkType,
) -> Result<QueueFilters, RuntimeError> {
    let mut by_queue = Vec::with_capacity(wp.queues.len());
    for &(p, _) in &wp.queues {
        let port = plan.ports.get(p);
        let filter = match port.and_then(|pp| pp.filter.as_deref().map(|f| (pp, f))) {
            Some((pp, expr)) => {
                let f = CaptureFilter::load(expr, link, eal).map_err(|source| {
                    RuntimeError::Filter {
                        port: pp.name.clone(),
                        source,
                    }
                })?;
                tracing::debug!(port = %pp.name, filter = expr, engine = %f.engine(), "capture filter loaded");
                Some(f)
            }
            None => None,
        };
        by_queue.push(filter);
    }
    Ok(QueueFilters::new(by_queue))
}

/// The engine that runs each port's filter (`None`: no filter), from a probe load: what every
/// worker's copy of the same program gets.
fn filter_engines(
    eal: &Eal,
    plan: &Plan,
    link: crate::decode::LinkType,
) -> Vec<Option<FilterEngine>> {
    plan.ports
        .iter()
        .map(|p| {
            let expr = p.filter.as_deref()?;
            let f = CaptureFilter::load(expr, link, eal).ok()?;
            tracing::info!(port = %p.name, filter = expr, engine = %f.engine(), "capture filter");
            Some(f.engine())
        })
        .collect()
}

/// What an inline worker runs: the plan's settings with verdicts enforced and, as Suricata
/// does in IPS mode, stream data inspected at once instead of once acknowledged (a drop
/// must come before the data reaches the other side).
fn inline_worker_config(w: &WorkerConfig) -> WorkerConfig {
    let mut w = w.clone();
    w.pipeline.detect.inline = true;
    w.pipeline.flow.stream.inline = true;
    w
}

/// Worker `i`'s Tx side: its queue on every port its routes name.
fn inline_io(
    i: usize,
    wp: &WorkerPlan,
    ports: &[Port],
    pool: &Arc<Mempool>,
) -> Result<crate::inline::InlineIo, RuntimeError> {
    let mut used: Vec<usize> = Vec::new();
    let mut index = |p: usize| match used.iter().position(|&u| u == p) {
        Some(k) => k,
        None => {
            used.push(p);
            used.len() - 1
        }
    };
    let routes: Vec<Option<crate::inline::Route>> = wp
        .routes
        .iter()
        .map(|r| {
            r.map(|r| crate::inline::Route {
                peer: index(r.peer),
                back: index(r.back),
            })
        })
        .collect();
    let mut tx = Vec::with_capacity(used.len());
    for &p in &used {
        let port = ports.get(p).ok_or(RuntimeError::Workers(i))?;
        tx.push(port.tx_queue(i as u16)?);
    }
    crate::inline::InlineIo::new(tx, routes, pool.clone())
        .map_err(|e| RuntimeError::Config(e.to_string()))
}

/// Where one worker's records go: the control plane's rings when attached, else rings whose
/// consumers (kept in `l`) feed the `on_*` callbacks the plan asks for.
fn worker_export(plan: &Plan, attach: Option<WorkerAttach>, l: &mut Launched<'_>) -> Export {
    let mut export = Export::default();
    if let Some(a) = attach {
        export.alerts = Some(a.alerts);
        export.flows = Some(a.flows);
        export.engine = Some(a.engine);
        export.blocks = a.blocks;
        export.intel = a.intel;
        if let Some(e) = a.eve {
            export.eve = Some(e);
            export.eve_alerts = true;
            export.join_alert_lines = true;
        }
    } else if plan.export_flows {
        let (p, c) = crate::export::ring(FLOW_RING);
        l.flow_rings.push(c);
        export.flows = Some(p);
    }
    if plan.export_alerts && export.alerts.is_none() {
        let (p, c) = crate::export::ring(ALERT_RING);
        l.alert_rings.push(c);
        export.alerts = Some(p);
    }
    if plan.export_eve && export.eve.is_none() {
        let (p, c) = crate::export::eve_ring(plan.worker.eve_ring_bytes);
        l.eve_rings.push(c);
        export.eve = Some(p);
        export.eve_alerts = plan.worker.eve_alerts;
    }
    export
}

/// Packet time of a worker: the device's stamps for a replayed file, else the TSC from now.
fn packet_clock(eal: &Eal, wp: &WorkerPlan) -> PacketClock {
    match wp.first_packet {
        Some(first_packet) => PacketClock::Device { first_packet },
        None => PacketClock::Tsc {
            wall_at_start: Timestamp(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64),
            ),
            tsc_at_start: dpdk::rdtsc(),
            tsc_hz: eal.tsc_hz(),
        },
    }
}

/// Waits for every worker and collects its report and poll-loop cycles; the first worker that
/// panicked makes the run fail (after every job was waited for).
fn join_workers(
    jobs: Vec<dpdk::LcoreJob<WorkerOutcome>>,
) -> Result<(Vec<WorkerReport>, u64), RuntimeError> {
    let mut per_worker = Vec::with_capacity(jobs.len());
    let mut worker_cycles = 0u64;
    let mut panicked = None;
    for (i, job) in jobs.into_iter().enumerate() {
        let lcore = job.lcore().0;
        match job.join() {
            Ok((w, cycles, cpu)) => {
                worker_cycles += cycles;
                let mut counters = std::collections::BTreeMap::new();
                w.visit_counters(&mut |n, v| {
                    counters.insert(n, v);
                });
                per_worker.push(WorkerReport {
                    worker: i,
                    lcore,
                    packets: w.capture().packets,
                    bytes: w.capture().bytes,
                    captured_bytes: w.capture().captured_bytes,
                    last_packet_time: w.last_packet_time(),
                    cpu_secs: cpu.map(|d| d.as_secs_f64()),
                    counters,
                });
            }
            Err(_) => panicked = panicked.or(Some(i)),
        }
    }
    match panicked {
        Some(i) => Err(RuntimeError::WorkerPanicked(i)),
        None => Ok((per_worker, worker_cycles)),
    }
}

/// Sets a stop flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Link state and counters of every port into `a.ports` (main lcore, about once a second).
fn refresh_ports(a: &Attach, plan: &Plan, ports: &[Port], engines: &[Option<FilterEngine>]) {
    let v: Vec<LivePort> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (link_up, speed_mbps) = p.link();
            let filter = plan.ports.get(i).and_then(|pp| pp.filter.clone());
            LivePort {
                port_id: p.id().0,
                name: p.info().name.clone(),
                driver: p.info().driver.clone(),
                link_up,
                speed_mbps,
                stats: p.stats().unwrap_or_default(),
                filter: filter.unwrap_or_default(),
                filter_engine: engines
                    .get(i)
                    .copied()
                    .flatten()
                    .map_or_else(String::new, |e| e.name().to_owned()),
            }
        })
        .collect();
    *a.ports.lock().unwrap_or_else(|p| p.into_inner()) = v;
}

fn sum_port_stats(ports: &[Port]) -> Result<PortStats, DpdkError> {
    let mut total = PortStats::default();
    for p in ports {
        let s = p.stats()?;
        total.ipackets += s.ipackets;
        total.ibytes += s.ibytes;
        total.imissed += s.imissed;
        total.ierrors += s.ierrors;
        total.rx_nombuf += s.rx_nombuf;
        total.opackets += s.opackets;
        total.obytes += s.obytes;
        total.oerrors += s.oerrors;
    }
    Ok(total)
}

/// Replays a capture through `net_pcap` with pinned workers.
pub fn replay(
    opts: &ReplayOptions,
    progress: Option<Progress<'_>>,
    on_flow: Option<OnFlow<'_>>,
    on_alert: Option<OnAlert<'_>>,
    on_eve: Option<OnEve<'_>>,
) -> Result<ReplayReport, RuntimeError> {
    replay_with(opts, None, progress, on_flow, on_alert, on_eve)
}

/// [`replay`] with the workers connected to a control plane through `attach` (one
/// [`WorkerAttach`] per worker, `opts.workers` of them).
pub fn replay_with(
    opts: &ReplayOptions,
    attach: Option<Arc<Attach>>,
    progress: Option<Progress<'_>>,
    on_flow: Option<OnFlow<'_>>,
    on_alert: Option<OnAlert<'_>>,
    on_eve: Option<OnEve<'_>>,
) -> Result<ReplayReport, RuntimeError> {
    if opts.workers == 0 || opts.workers > MAX_REPLAY_WORKERS {
        return Err(RuntimeError::ReplayWorkers(opts.workers));
    }
    if matches!(opts.inline, Some(InlinePeer::Pcap(_))) && opts.workers != 1 {
        return Err(RuntimeError::InlineOutWorkers(opts.workers));
    }
    let info = scan(&opts.pcap)?;
    check_link(&opts.pcap, info.link_type)?;
    if info.packets == 0 {
        return Err(RuntimeError::Empty(opts.pcap.clone()));
    }
    let work = tempfile::Builder::new()
        .prefix("osprey-replay-")
        .tempdir()
        .map_err(RuntimeError::WorkDir)?;
    // `infinite_rx` preloads the file into single-segment mbufs: frames longer than one mbuf's
    // data room are cut to it for a looping run (their wire length is kept).
    let snap = (opts.infinite && info.largest > MBUF_DATA_ROOM).then_some(MBUF_DATA_ROOM);
    let (files, counts, cuts, firsts) = if opts.workers == 1 && snap.is_none() {
        (
            vec![opts.pcap.clone()],
            vec![info.packets],
            vec![info.cut_frames.clone()],
            vec![info.first_ts],
        )
    } else {
        let s = split::split_snapped(&opts.pcap, opts.workers, work.path(), snap)?;
        (s.files, s.packets, s.cut_frames, s.first_ts)
    };
    let mut vdev = String::from("net_pcap0");
    for (i, f) in files.iter().enumerate() {
        let f = if f.to_string_lossy().contains([',', '=']) {
            // kvargs cannot carry these characters: go through a plain-named link.
            let link = work.path().join(format!("in{i}.pcap"));
            let target = std::fs::canonicalize(f).map_err(RuntimeError::WorkDir)?;
            std::os::unix::fs::symlink(target, &link).map_err(RuntimeError::WorkDir)?;
            link
        } else {
            f.clone()
        };
        if f.to_string_lossy().contains([',', '=']) {
            return Err(RuntimeError::BadPath { path: f });
        }
        vdev.push_str(&format!(",rx_pcap={}", f.display()));
    }
    if opts.infinite {
        vdev.push_str(",infinite_rx=1");
    }
    let mut ports = vec![PortPlan {
        name: "net_pcap0".into(),
        vdev: None,
        rx_queues: files.len() as u16,
        tx_queues: 1,
        filter: opts.filter.clone(),
    }];
    let route = match &opts.inline {
        None => None,
        Some(InlinePeer::Pcap(out)) => {
            if out.to_string_lossy().contains([',', '=']) {
                return Err(RuntimeError::BadPath { path: out.clone() });
            }
            vdev.push_str(&format!(",tx_pcap={}", out.display()));
            Some(PlanRoute { peer: 0, back: 0 })
        }
        Some(InlinePeer::Null) => {
            ports.push(PortPlan {
                name: "net_null0".into(),
                vdev: Some("net_null0,no-rx=1".into()),
                rx_queues: 1,
                tx_queues: files.len() as u16,
                filter: None,
            });
            Some(PlanRoute { peer: 1, back: 1 })
        }
    };
    ports[0].vdev = Some(vdev);
    // Mbufs: enough for the descriptors of every queue, and with `infinite_rx` for a copy of
    // every packet (the driver preloads the file), plus chains for jumbo frames.
    let mut mbufs = 8192 + 2048 * opts.workers as u64;
    if opts.infinite {
        // Frames are cut to one mbuf in this mode (see `snap`): the preloaded copy plus the
        // copies in flight.
        mbufs += info.packets * 2;
    }
    let mbufs = mbufs.min(u32::MAX as u64 / 2) as u32;
    // An mbuf with 2 KB of data room is a 2.2 KB pool element, but populating a large pool
    // without hugepages needs about twice that (measured: 624k mbufs fail with 2.4 GB and fit
    // in 2.8 GB); the EAL needs room for its own structures besides.
    let memory_mb = ((mbufs as u64 * 4608) >> 20) as u32 + 512;
    let live_clock = opts.infinite && attach.is_some();
    let schedules = match opts.pace {
        Some(speed) => schedules(&files, &info, speed)?,
        None => vec![None; files.len()],
    };
    let plan = Plan {
        eal: opts.eal.clone(),
        ports,
        workers: (0..files.len())
            .map(|i| WorkerPlan {
                queues: vec![(0, i as u16)],
                routes: vec![route],
                expected_packets: (!opts.infinite).then_some(counts[i]),
                wire: WireLengths::new(cuts[i].clone()),
                // `infinite_rx` delivers no device stamps; an appliance looping a capture
                // (attached to a control plane) stamps packets with wall time from the TSC
                // so stored alerts and flows carry real times.
                first_packet: (!live_clock).then(|| firsts[i].unwrap_or_default()),
                pace: schedules[i].clone(),
            })
            .collect(),
        link_type: info.link_type,
        mbufs,
        memory_mb,
        monotonic_time: opts.infinite,
        idle_timeout: (!opts.infinite).then_some(Duration::from_secs(2)),
        duration: opts.duration,
        stop: opts.stop.clone(),
        worker: opts.worker.clone(),
        export_flows: on_flow.is_some(),
        export_alerts: on_alert.is_some(),
        attach,
        export_eve: on_eve.is_some(),
    };
    let r = run(&plan, progress, on_flow, on_alert, on_eve)?;
    let packets: u64 = r.per_worker.iter().map(|w| w.packets).sum();
    Ok(ReplayReport {
        pcap: opts.pcap.clone(),
        link_type: info.link_type,
        packets,
        bytes: r.per_worker.iter().map(|w| w.bytes).sum(),
        captured_bytes: r.per_worker.iter().map(|w| w.captured_bytes).sum(),
        drops: Drops {
            imissed: r.port.imissed,
            rx_nombuf: r.port.rx_nombuf,
            ierrors: r.port.ierrors,
            undelivered: if opts.infinite {
                0
            } else {
                info.packets.saturating_sub(packets)
            },
        },
        port: r.port,
        per_worker: r.per_worker,
        capture: info,
        elapsed_secs: r.elapsed_secs,
        tsc_hz: r.tsc_hz,
        worker_cycles: r.worker_cycles,
        dpdk_version: r.dpdk_version,
        port_info: r.ports.into_iter().next().unwrap_or_default(),
        filter_engine: r.filter_engines.first().copied().flatten(),
    })
}

/// The pacing schedule of each worker's file: its packets' times within the whole capture.
fn schedules(
    files: &[PathBuf],
    info: &CaptureInfo,
    speed: f64,
) -> Result<Vec<Option<Arc<crate::pace::Schedule>>>, RuntimeError> {
    let first = info.first_ts.unwrap_or_default();
    let last = info.last_ts.unwrap_or(first);
    files
        .iter()
        .map(|f| {
            let mut src = crate::io::pcap::PcapSource::open(f)?;
            let mut times = Vec::new();
            while let Some(frame) = src.next_frame()? {
                times.push(frame.ts);
            }
            crate::pace::Schedule::new(&times, first, last, info.packets, speed)
                .map(|s| Some(Arc::new(s)))
                .map_err(|e| RuntimeError::Config(format!("{}: {e}", f.display())))
        })
        .collect()
}
