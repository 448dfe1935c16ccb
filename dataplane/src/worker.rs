//! The worker: one per pinned lcore, run-to-completion over bursts of packets.
//!
//! [`Worker::handle`] is the per-packet entry point shared by every source (DPDK queue, pcap
//! file, in-memory frames); [`Worker::run_queues`] is the DPDK poll loop. The loop reads the
//! clock and the stop flag once per burst, never per packet, and publishes a counter snapshot
//! for the control plane at most every [`PUBLISH_EVERY`] packets or when idle.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::counters::CounterSet;
use crate::decode::{HwChecksums, LinkType};
use crate::detect::Verdict;
use crate::dpdk::{Burst, RxQueue};
use crate::export::{EveProducer, Producer};
use crate::filter::QueueFilters;
use crate::flow::FlowRecord;
use crate::inline::InlineIo;
use crate::io::WireLengths;
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::snapshot::Offer;
use crate::time::Timestamp;

/// Largest frame a worker linearises (jumbo frames arrive as mbuf chains).
pub const MAX_FRAME: usize = 65_536;

/// Packets between two counter publications.
pub const PUBLISH_EVERY: u64 = 4_096;

/// Counters of the capture stage, in Suricata's naming where one exists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureCounters {
    /// Packets received (`capture.kernel_packets` in Suricata).
    pub packets: u64,
    /// Wire bytes received.
    pub bytes: u64,
    /// Bytes actually captured (below `bytes` when the snap length cut frames).
    pub captured_bytes: u64,
    /// Bursts that returned at least one packet.
    pub bursts: u64,
    /// Frames longer than [`MAX_FRAME`]: inspected up to that length.
    pub oversize: u64,
    /// Frames that arrived as a chain of several mbufs.
    pub multi_segment: u64,
    /// Frames without a device timestamp (the previous packet time was used).
    pub no_timestamp: u64,
}

impl CounterSet for CaptureCounters {
    fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        f("capture.kernel_packets", self.packets);
        f("capture.bytes", self.bytes);
        f("capture.captured_bytes", self.captured_bytes);
        f("capture.bursts", self.bursts);
        f("capture.oversize", self.oversize);
        f("capture.multi_segment", self.multi_segment);
        f("capture.no_timestamp", self.no_timestamp);
    }
}

/// A worker's counters as last published, readable from any thread.
#[derive(Debug)]
pub struct Published {
    names: Vec<&'static str>,
    values: Vec<AtomicU64>,
    /// Frames each port's capture filter rejected in this worker, by port index of the run.
    filter_rejected: Vec<AtomicU64>,
    /// Poll-loop iterations so far, idle or not (the control plane's watchdog).
    heartbeat: Heartbeat,
}

/// A counter on a cache line of its own: the worker stores it every poll, the control plane
/// reads it a few times a second.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Heartbeat(AtomicU64);

impl Published {
    fn new(names: Vec<&'static str>, ports: usize) -> Self {
        let values = names.iter().map(|_| AtomicU64::new(0)).collect();
        let filter_rejected = (0..ports).map(|_| AtomicU64::new(0)).collect();
        Published {
            names,
            values,
            filter_rejected,
            heartbeat: Heartbeat::default(),
        }
    }

    /// Frames port `port`'s capture filter rejected in this worker.
    pub fn filter_rejected(&self, port: usize) -> u64 {
        self.filter_rejected
            .get(port)
            .map_or(0, |v| v.load(Ordering::Relaxed))
    }

    /// Poll-loop iterations of the worker so far: advances while its loop runs, with
    /// packets or without; stands still while it is stuck.
    pub fn heartbeat(&self) -> u64 {
        self.heartbeat.0.load(Ordering::Relaxed)
    }

    /// (name, value) pairs, in a stable order.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        self.names
            .iter()
            .zip(&self.values)
            .map(|(n, v)| (*n, v.load(Ordering::Relaxed)))
            .collect()
    }

    /// One counter by name.
    pub fn get(&self, name: &str) -> Option<u64> {
        let i = self.names.iter().position(|n| *n == name)?;
        Some(self.values[i].load(Ordering::Relaxed))
    }
}

/// Environment variable that makes a worker stall once, for tests of the control plane's
/// watchdog: `<worker>:<milliseconds>` sleeps worker `<worker>` that long after its first
/// burst. Read once when the worker starts; never set in production.
pub const TEST_STALL_ENV: &str = "OSPREY_TEST_STALL_WORKER";

/// The stall [`TEST_STALL_ENV`] asks of worker `id`, if any.
fn test_stall(id: usize) -> Option<Duration> {
    let v = std::env::var(TEST_STALL_ENV).ok()?;
    let (w, ms) = v.split_once(':')?;
    (w.trim().parse::<usize>().ok()? == id).then_some(())?;
    let ms = ms.trim().parse::<u64>().ok()?;
    tracing::warn!(
        worker = id,
        ms,
        "{TEST_STALL_ENV} is set: this worker will stall once"
    );
    Some(Duration::from_millis(ms))
}

/// How a replay or live run ends.
#[derive(Clone, Debug)]
pub struct RunControl {
    /// Set by the control plane (Ctrl-C, API shutdown); checked once per burst.
    pub stop: Arc<AtomicBool>,
    /// Stop after this many packets (a finite capture's known length).
    pub expected_packets: Option<u64>,
    /// Stop after this long without a packet once `expected_packets` is unknown or unreachable
    /// (a capture port returns nothing at the end of its file).
    pub idle_timeout: Option<Duration>,
    /// Shift packet times forward when a looping replay starts over, so time never runs back.
    pub monotonic_time: bool,
    /// Where packet time comes from.
    pub clock: PacketClock,
    /// A paced replay: receive only the packets whose time has come (`None`: as fast as the
    /// worker goes).
    pub pace: Option<crate::pace::Pacer>,
}

/// The source of packet time.
#[derive(Clone, Copy, Debug)]
pub enum PacketClock {
    /// The device's Rx timestamp (a capture port replaying a file). Drivers differ in the unit
    /// (DPDK 22.11's `net_pcap` reports microseconds, later releases nanoseconds), so the first
    /// stamp is compared with the capture's known first packet time to find it.
    Device { first_packet: Timestamp },
    /// Wall-clock time derived from the TSC, read once per burst (live capture).
    Tsc {
        wall_at_start: Timestamp,
        tsc_at_start: u64,
        tsc_hz: u64,
    },
}

impl Default for RunControl {
    fn default() -> Self {
        RunControl {
            stop: Arc::new(AtomicBool::new(false)),
            expected_packets: None,
            idle_timeout: Some(Duration::from_secs(2)),
            monotonic_time: false,
            clock: PacketClock::Device {
                first_packet: Timestamp::default(),
            },
            pace: None,
        }
    }
}

/// Settings every worker of a run shares.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub pipeline: PipelineConfig,
    /// Bytes of each worker's EVE record ring (worker-rendered records: alerts, anomalies,
    /// app-layer transactions). Live, a full ring drops records and counts them by type
    /// (`eve.queue_overflow.<type>`); a capture replayed once waits instead.
    pub eve_ring_bytes: usize,
    /// Alerts also go into the EVE record ring, rendered by the worker with the flow's
    /// counters and the transaction's metadata (what `osprey replay --eve` writes).
    pub eve_alerts: bool,
}

/// Default bytes of a worker's EVE record ring: about 10,000 records of 400 bytes, several
/// drain periods (10 ms) of a busy worker.
pub const EVE_RING_BYTES: usize = 4 << 20;

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            pipeline: PipelineConfig::default(),
            eve_ring_bytes: EVE_RING_BYTES,
            eve_alerts: false,
        }
    }
}

/// Counters of the worker's waits for a full ring (offline replays): alerts, flows, EVE.
/// They measure the machine (how fast the consumer kept up), not the traffic.
pub const WAIT_COUNTERS: [&str; 3] = [
    "detect.alert_queue_waits",
    "flow.export_waits",
    "eve.queue_waits",
];

/// Flow records a sweep may end per burst (bounds the work the sweep adds to one burst).
const SWEEP_BUDGET: usize = 64;

/// An alert as it leaves the worker for the control plane: the workspace's one alert record.
pub use vocab::AlertRecord;

/// One worker's mailbox for new rule engines (hot reload).
pub type EngineSlot = crate::snapshot::Slot<rules::Engine>;

/// Takes what `slot` offers without waiting; `seen` follows the generations offered. Called
/// only when [`crate::snapshot::Slot::changed`].
#[cold]
fn take_offer<T>(slot: &crate::snapshot::Slot<T>, seen: &mut u64) -> Option<(u64, Arc<T>)> {
    match slot.take() {
        Offer::None => None,
        Offer::CatchUp(offered) => {
            *seen = offered;
            None
        }
        Offer::New(generation, snapshot) => {
            *seen = generation;
            Some((generation, snapshot))
        }
    }
}

/// Where a worker's records go: rings to the control plane, or nowhere.
#[derive(Default)]
pub struct Export {
    pub flows: Option<Producer<FlowRecord>>,
    pub alerts: Option<Producer<AlertRecord>>,
    /// Where new rule engines arrive (hot reload); `None` keeps the starting engine.
    pub engine: Option<Arc<EngineSlot>>,
    /// Where new indicator tables arrive; `None` keeps the starting table.
    pub intel: Option<Arc<crate::intel::IntelSlot>>,
    /// Where new block tables arrive; `None` keeps the starting one.
    pub blocks: Option<Arc<crate::blocklist::BlockSlot>>,
    /// Worker-rendered EVE records (anomalies, app-layer transactions).
    pub eve: Option<EveProducer>,
    /// Alerts are rendered into `eve` too.
    pub eve_alerts: bool,
    /// Each alert's rendered line goes into `eve` only when its record fits the alert ring,
    /// and the record says so ([`AlertRecord::eve`]): a consumer of both rings can pair every
    /// record with its line, whichever ring overflows (the control plane's ingest does).
    pub join_alert_lines: bool,
    /// An alert waiting for its rendered line (the pipeline hands over the line right after
    /// the alert).
    held: Option<AlertRecord>,
    /// Full rings wait for their consumer instead of dropping ([`crate::export::WhenFull`]).
    wait_when_full: bool,
    /// Alerts raised (exported or not).
    alerts_raised: u64,
    /// Generation of the engine in use, stamped on every alert.
    generation: u64,
    /// Engine generation last seen offered (compared once per poll).
    seen_offer: u64,
    /// Generation of the indicator table in use.
    intel_generation: u64,
    /// Indicator table generation last seen offered.
    seen_intel: u64,
    /// Generation of the block table in use, and the last one seen offered.
    block_generation: u64,
    seen_block_offer: u64,
    /// An evidence packet as it goes into `eve` ([`crate::export::encode_packet`]); reused.
    packet_buf: Vec<u8>,
}

impl Export {
    /// Sets what every ring of this export does when full (see [`crate::export::WhenFull`]).
    pub fn set_when_full(&mut self, w: &crate::export::WhenFull) {
        self.wait_when_full = matches!(w, crate::export::WhenFull::Wait(_));
        if let Some(p) = self.flows.as_mut() {
            p.set_when_full(w.clone());
        }
        if let Some(p) = self.alerts.as_mut() {
            p.set_when_full(w.clone());
        }
        if let Some(p) = self.eve.as_mut() {
            p.set_when_full(w.clone());
        }
    }

    /// Sends an alert still waiting for its line without one (between bursts; the pipeline
    /// always follows an alert with its line, so this only guards against a record stuck
    /// until the next alert).
    #[inline]
    fn release_held(&mut self) {
        if let (Some(rec), Some(p)) = (self.held.take(), self.alerts.as_mut()) {
            p.push(rec);
        }
    }
}

impl crate::pipeline::EventSink for Export {
    #[inline]
    fn flow_end(&mut self, rec: &FlowRecord) {
        if let Some(p) = self.flows.as_mut() {
            p.push(*rec);
        }
    }
    #[inline]
    fn alert(&mut self, rec: &AlertRecord) {
        self.alerts_raised += 1;
        let rec = AlertRecord {
            generation: self.generation,
            ..*rec
        };
        if self.join_alert_lines && self.eve_alerts && self.eve.is_some() {
            // Its line follows (`eve_line("alert", ..)`); a record still held means the
            // previous alert's line never came, so it goes without one.
            if let (Some(prev), Some(p)) = (self.held.replace(rec), self.alerts.as_mut()) {
                p.push(prev);
            }
            return;
        }
        if let Some(p) = self.alerts.as_mut() {
            p.push(rec);
        }
    }
    #[inline]
    fn wants_eve(&self) -> bool {
        self.eve.is_some()
    }
    #[inline]
    fn wants_eve_alerts(&self) -> bool {
        self.eve_alerts
    }
    fn evidence_packet(&mut self, rec: &crate::pipeline::evidence::Record<'_>) -> bool {
        let Some(p) = self.eve.as_mut() else {
            return false;
        };
        crate::export::encode_packet(rec, &mut self.packet_buf);
        p.push(crate::export::PACKET_RECORD, &self.packet_buf)
    }
    #[inline]
    fn eve_line(&mut self, event_type: &str, line: &[u8]) {
        if event_type == "alert" {
            if let Some(mut rec) = self.held.take() {
                if let Some(p) = self.alerts.as_mut() {
                    // The line is queued only when its record will fit (or wait for room), so
                    // no line is ever left without its record; a full alert ring drops (and
                    // counts) both.
                    if self.wait_when_full || !p.is_full() {
                        rec.eve = self.eve.as_mut().is_some_and(|e| e.push(event_type, line));
                    }
                    p.push(rec);
                }
                return;
            }
        }
        if let Some(p) = self.eve.as_mut() {
            p.push(event_type, line);
        }
    }
}

/// One worker's state. Owned by exactly one lcore while it runs.
pub struct Worker {
    id: usize,
    link: LinkType,
    pipeline: Pipeline,
    export: Export,
    capture: CaptureCounters,
    wire: WireLengths,
    scratch: Box<[u8]>,
    last_ts: Timestamp,
    ts_offset: u64,
    /// Multiplier from device timestamp units to nanoseconds, fixed at the first stamp.
    ts_scale: Option<u64>,
    published: Arc<Published>,
    since_publish: u64,
    /// The Tx side of an inline (IPS) worker; `None` watches only (IDS).
    inline: Option<InlineIo>,
    /// Capture filters of the polled queues' ports.
    filters: QueueFilters,
    /// For each polled queue, its port's index in the run (where its rejections publish).
    queue_ports: Vec<usize>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Worker({})", self.id)
    }
}

impl Worker {
    /// A worker for frames of link type `link`; its records go to `export`'s rings.
    pub fn new(
        id: usize,
        link: LinkType,
        wire: WireLengths,
        cfg: &WorkerConfig,
        export: Export,
    ) -> Result<Self, crate::pipeline::PipelineError> {
        let mut export = export;
        match &export.engine {
            Some(slot) => {
                export.generation = slot.active();
                export.seen_offer = export.generation;
            }
            // A run without a control plane keeps its first ruleset: generation 1, as the
            // appliance numbers its first.
            None => export.generation = u64::from(cfg.pipeline.engine.is_some()),
        }
        export.intel_generation = match &export.intel {
            Some(slot) => slot.active(),
            None => u64::from(cfg.pipeline.intel.is_some()),
        };
        export.seen_intel = export.intel_generation;
        match &export.blocks {
            Some(slot) => {
                export.block_generation = slot.active();
                export.seen_block_offer = export.block_generation;
            }
            // Without a control plane the starting list (empty or not) is generation 1, as
            // the appliance numbers the first list it publishes.
            None => export.block_generation = 1,
        }
        let mut pcfg = cfg.pipeline.clone();
        pcfg.flow.worker_id = id as u8;
        let pipeline = Pipeline::new(link, &pcfg)?;
        let mut w = Worker {
            id,
            link,
            pipeline,
            export,
            capture: CaptureCounters::default(),
            wire,
            scratch: vec![0u8; MAX_FRAME].into_boxed_slice(),
            last_ts: Timestamp::default(),
            ts_offset: 0,
            ts_scale: None,
            published: Arc::new(Published::new(Vec::new(), 0)),
            since_publish: 0,
            inline: None,
            filters: QueueFilters::default(),
            queue_ports: Vec::new(),
        };
        w.published = Arc::new(w.new_published(0));
        Ok(w)
    }

    fn new_published(&self, ports: usize) -> Published {
        let mut names = Vec::new();
        self.visit_counters(&mut |n, _| names.push(n));
        Published::new(names, ports)
    }

    /// Filters the queues [`Worker::run_queues`] polls: `filters` in poll order, each queue's
    /// port index in `queue_ports`, of `ports` ports in the run. Call before handing out
    /// [`Worker::published`].
    pub fn set_filters(&mut self, filters: QueueFilters, queue_ports: Vec<usize>, ports: usize) {
        self.filters = filters;
        self.queue_ports = queue_ports;
        self.published = Arc::new(self.new_published(ports));
    }

    /// Makes the worker inline: packets of the Rx queues `io` routes are forwarded unless
    /// their verdict blocks them (the pipeline must run with `detect.inline` to give one).
    pub fn set_inline(&mut self, io: InlineIo) {
        self.inline = Some(io);
    }

    /// The worker's index.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The link type of the frames it decodes.
    pub fn link_type(&self) -> LinkType {
        self.link
    }

    /// The packet pipeline (decoder, flow table, app layer).
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Capture counters.
    pub fn capture(&self) -> &CaptureCounters {
        &self.capture
    }

    /// Time of the last packet handled.
    pub fn last_packet_time(&self) -> Timestamp {
        self.last_ts
    }

    /// A handle on the published counters, for the control plane.
    pub fn published(&self) -> Arc<Published> {
        self.published.clone()
    }

    /// Every counter of the worker, by name.
    pub fn visit_counters(&self, f: &mut dyn FnMut(&'static str, u64)) {
        self.capture.visit(f);
        self.filters.counters().visit(f);
        self.pipeline.visit_counters(f);
        f(
            "flow.export_overflow",
            self.export.flows.as_ref().map_or(0, |p| p.overflow()),
        );
        f("detect.alerts_raised", self.export.alerts_raised);
        f(
            "detect.alert_queue_overflow",
            self.export.alerts.as_ref().map_or(0, |p| p.overflow()),
        );
        f("detect.engine_generation", self.export.generation);
        f("intel.generation", self.export.intel_generation);
        f("blocklist.generation", self.export.block_generation);
        let eve = self.export.eve.as_ref();
        f("eve.queue_overflow", eve.map_or(0, |p| p.overflow()));
        let by_type = eve.map(|p| p.overflow_by_type());
        for (i, name) in crate::export::EVE_OVERFLOW_COUNTERS.iter().enumerate() {
            f(name, by_type.map_or(0, |b| b[i]));
        }
        // How often a full ring made the worker wait (offline replays only; live never waits).
        f(
            WAIT_COUNTERS[0],
            self.export.alerts.as_ref().map_or(0, |p| p.waits()),
        );
        f(
            WAIT_COUNTERS[1],
            self.export.flows.as_ref().map_or(0, |p| p.waits()),
        );
        f(WAIT_COUNTERS[2], eve.map_or(0, |p| p.waits()));
        InlineIo::visit(self.inline.as_ref(), f);
    }

    /// Ruleset generation this worker runs.
    pub fn generation(&self) -> u64 {
        self.export.generation
    }

    /// Swaps in a newly offered engine. Called between bursts: one relaxed load when nothing
    /// changed; the mutex is only touched (without waiting) when a new generation is offered.
    #[inline]
    pub fn poll_engine(&mut self) {
        self.export.release_held();
        let x = &mut self.export;
        let offer = match x.engine.as_deref() {
            Some(slot) if slot.changed(x.seen_offer) => take_offer(slot, &mut x.seen_offer),
            _ => return,
        };
        if let Some((generation, engine)) = offer {
            self.swap_engine(generation, engine);
        }
    }

    /// Indicator table generation this worker runs.
    pub fn intel_generation(&self) -> u64 {
        self.export.intel_generation
    }

    /// Swaps in a newly offered indicator table, like [`Worker::poll_engine`]: one relaxed
    /// load per poll when nothing changed.
    #[inline]
    pub fn poll_intel(&mut self) {
        let x = &mut self.export;
        let offer = match x.intel.as_deref() {
            Some(slot) if slot.changed(x.seen_intel) => take_offer(slot, &mut x.seen_intel),
            _ => return,
        };
        if let Some((generation, table)) = offer {
            self.pipeline.set_intel(table);
            self.export.intel_generation = generation;
            if let Some(slot) = &self.export.intel {
                slot.confirm(generation);
            }
            self.publish();
        }
    }

    /// Swaps in a newly offered block table, like [`Worker::poll_engine`]: one relaxed load
    /// when nothing changed.
    #[inline]
    pub fn poll_blocks(&mut self) {
        let x = &mut self.export;
        let offer = match x.blocks.as_deref() {
            Some(slot) if slot.changed(x.seen_block_offer) => {
                take_offer(slot, &mut x.seen_block_offer)
            }
            _ => return,
        };
        if let Some((generation, table)) = offer {
            self.pipeline.set_blocklist(table);
            self.export.block_generation = generation;
            if let Some(slot) = &self.export.blocks {
                slot.confirm(generation);
            }
            self.publish();
        }
    }

    #[cold]
    fn swap_engine(&mut self, generation: u64, engine: Arc<rules::Engine>) {
        let Some(slot) = self.export.engine.clone() else {
            return;
        };
        match self.pipeline.set_engine(engine) {
            Ok(()) => {
                self.export.generation = generation;
                slot.confirm(generation);
            }
            Err(e) => {
                slot.fail();
                tracing::error!(worker = self.id, generation, error = %e, "rule engine swap failed; the previous engine keeps running");
            }
        }
        // A swap can take a while on a large ruleset; counters show the new generation now.
        self.publish();
    }

    /// Publishes the current counters.
    pub fn publish(&mut self) {
        let mut i = 0;
        let published = self.published.clone();
        self.visit_counters(&mut |_, v| {
            if let Some(slot) = published.values.get(i) {
                slot.store(v, Ordering::Relaxed);
            }
            i += 1;
        });
        for (q, &p) in self.queue_ports.iter().enumerate() {
            if let Some(slot) = published.filter_rejected.get(p) {
                slot.store(self.filters.rejected(q), Ordering::Relaxed);
            }
        }
        self.since_publish = 0;
    }

    /// Processes one frame: `captured` bytes at packet time `ts`, `wire_len` bytes on the wire.
    /// Returns its verdict (always [`Verdict::Accept`] in IDS mode).
    #[inline]
    pub fn handle(&mut self, frame: &[u8], wire_len: u32, ts: Timestamp) -> Verdict {
        self.handle_offloaded(frame, wire_len, ts, HwChecksums::UNKNOWN)
    }

    /// [`Worker::handle`] for a frame whose outer checksums the NIC verified (`hw`).
    #[inline]
    pub fn handle_offloaded(
        &mut self,
        frame: &[u8],
        wire_len: u32,
        ts: Timestamp,
        hw: HwChecksums,
    ) -> Verdict {
        self.count_capture(frame, wire_len, ts);
        let v = self
            .pipeline
            .process_offloaded(frame, ts, hw, &mut self.export);
        self.count_published();
        v
    }

    /// [`Worker::handle_offloaded`] for a frame of polled queue `queue`: a frame its port's
    /// capture filter rejects is counted and accepted uninspected (inline: forwarded as it
    /// came).
    #[inline]
    fn handle_queued(
        &mut self,
        queue: usize,
        frame: &[u8],
        wire_len: u32,
        ts: Timestamp,
        hw: HwChecksums,
    ) -> Verdict {
        if self.filters.rejects(queue, frame) {
            self.count_capture(frame, wire_len, ts);
            self.count_published();
            return Verdict::Accept;
        }
        self.handle_offloaded(frame, wire_len, ts, hw)
    }

    #[inline]
    fn count_capture(&mut self, frame: &[u8], wire_len: u32, ts: Timestamp) {
        self.capture.packets += 1;
        self.capture.bytes += wire_len.max(frame.len() as u32) as u64;
        self.capture.captured_bytes += frame.len() as u64;
        self.last_ts = ts;
    }

    #[inline]
    fn count_published(&mut self) {
        self.since_publish += 1;
        if self.since_publish >= PUBLISH_EVERY {
            self.publish();
        }
    }

    fn packet_time(&mut self, raw: Option<u64>, ctl: &RunControl, burst_tsc: u64) -> Timestamp {
        let raw = match ctl.clock {
            PacketClock::Tsc {
                wall_at_start,
                tsc_at_start,
                tsc_hz,
            } => {
                let cycles = burst_tsc.wrapping_sub(tsc_at_start) as u128;
                let ns = cycles * 1_000_000_000 / tsc_hz.max(1) as u128;
                return Timestamp(wall_at_start.0 + ns as u64);
            }
            PacketClock::Device { first_packet } => match raw {
                Some(r) => {
                    let scale = *self.ts_scale.get_or_insert_with(|| {
                        let as_us = r.saturating_mul(1_000);
                        if as_us.abs_diff(first_packet.0) < r.abs_diff(first_packet.0) {
                            1_000
                        } else {
                            1
                        }
                    });
                    r.saturating_mul(scale)
                }
                None => {
                    self.capture.no_timestamp += 1;
                    return self.last_ts;
                }
            },
        };
        let mut ts = raw.saturating_add(self.ts_offset);
        if ctl.monotonic_time && ts < self.last_ts.0 {
            // A looping replay started over: continue from the last packet's time.
            self.ts_offset += self.last_ts.0 - ts + 1_000;
            ts = raw.saturating_add(self.ts_offset);
        }
        Timestamp(ts)
    }

    /// Polls `queues` round-robin until `ctl` says stop; returns the worker with its final
    /// counters.
    pub fn run_queues(mut self, mut queues: Vec<RxQueue>, ctl: &RunControl) -> Self {
        let mut burst = Burst::default();
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut idle_since: Option<Instant> = None;
        let nq = queues.len().max(1);
        let mut qi = 0usize;
        let published = self.published.clone();
        let mut beats = 0u64;
        let mut stall = test_stall(self.id);
        let mut pacer = ctl.pace.clone().map(|p| p.started(crate::dpdk::rdtsc()));
        loop {
            beats += 1;
            published.heartbeat.0.store(beats, Ordering::Relaxed);
            if ctl.stop.load(Ordering::Relaxed) {
                break;
            }
            self.poll_engine();
            self.poll_intel();
            self.poll_blocks();
            if let Some(n) = ctl.expected_packets {
                if self.capture.packets >= n {
                    break;
                }
            }
            let rx = qi;
            let Some(queue) = queues.get_mut(qi) else {
                break;
            };
            qi = (qi + 1) % nq;
            let want = match &pacer {
                Some(p) => p.due(crate::dpdk::rdtsc(), crate::dpdk::BURST_SIZE),
                None => crate::dpdk::BURST_SIZE,
            };
            if want == 0 {
                // Nothing due yet: not idle (the capture has packets to come), so the idle
                // timeout does not run.
                idle_since = None;
                if self.since_publish > 0 {
                    self.publish();
                }
                std::hint::spin_loop();
                continue;
            }
            let got = queue.rx_burst_upto(&mut burst, want);
            let pass_ended = pacer.as_mut().is_some_and(|p| p.received(got));
            if got == 0 {
                let now = Instant::now();
                let since = *idle_since.get_or_insert(now);
                if self.since_publish > 0 {
                    self.publish();
                }
                if let Some(limit) = ctl.idle_timeout {
                    if now.duration_since(since) >= limit {
                        break;
                    }
                }
                std::hint::spin_loop();
                continue;
            }
            idle_since = None;
            self.capture.bursts += 1;
            if let Some(d) = stall.take() {
                std::thread::sleep(d);
            }
            let burst_tsc = match ctl.clock {
                PacketClock::Tsc { .. } => crate::dpdk::rdtsc(),
                PacketClock::Device { .. } => 0,
            };
            // Headers of the whole burst on their way into cache before the first is decoded.
            for pkt in burst.iter() {
                pkt.prefetch_data();
            }
            // Then their flows: index buckets and entries of the whole burst.
            self.pipeline
                .prefetch_flows(burst.iter().map(|p| p.first_segment()));
            let route = self.inline.as_mut().and_then(|io| {
                io.begin_burst(crate::dpdk::rdtsc());
                io.route(rx)
            });
            for i in 0..burst.len() {
                let Some(pkt) = burst.get(i) else {
                    continue;
                };
                let len = pkt.len();
                if pkt.segments() > 1 {
                    self.capture.multi_segment += 1;
                }
                if len > scratch.len() {
                    self.capture.oversize += 1;
                }
                let ts = self.packet_time(pkt.timestamp(), ctl, burst_tsc);
                let number = self.capture.packets + 1;
                let wire = self.wire.wire_len(number, len as u32);
                let frame = pkt.bytes(&mut scratch);
                let v = self.handle_queued(rx, frame, wire, ts, pkt.hw_checksums());
                if let (Some(io), Some(r)) = (self.inline.as_mut(), route) {
                    io.answer(self.link, frame, v, r);
                    io.forward(&mut burst, i, v, r);
                }
            }
            burst.clear();
            if let Some(io) = self.inline.as_mut() {
                io.flush();
            }
            self.pipeline.end_burst();
            self.pipeline
                .sweep(self.last_ts, SWEEP_BUDGET, &mut self.export);
            if pass_ended {
                self.pipeline.finish(self.last_ts, &mut self.export);
            }
        }
        self.scratch = scratch;
        self.finish();
        self
    }

    /// Ends every flow (end of a capture, shutdown): their records go out, counters publish.
    pub fn finish(&mut self) {
        self.pipeline.finish(self.last_ts, &mut self.export);
        self.export.release_held();
        self.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(text: &str) -> Arc<rules::Engine> {
        let mut l = rules::Loader::new(rules::LoadOptions::default());
        l.add_str("t.rules", text);
        let rs = l.finish();
        assert_eq!(rs.report.loaded, 1, "{}", rs.report);
        Arc::new(rules::Engine::compile(&rs.rules, &rules::CompileOptions::default()).unwrap())
    }

    /// Ethernet + IPv4 + UDP 10.0.0.1:1000 → 10.0.0.2:53 with `payload` (checksums zero).
    fn udp_frame(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let total = (20 + 8 + payload.len()) as u16;
        f.extend_from_slice(&[
            0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&1000u16.to_be_bytes());
        f.extend_from_slice(&53u16.to_be_bytes());
        f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn engine_swaps_between_bursts_and_alerts_carry_the_generation() {
        let e1 = engine(r#"alert udp any any -> any any (msg:"one"; content:"abc"; sid:1;)"#);
        let e2 = engine(r#"alert udp any any -> any any (msg:"two"; content:"abc"; sid:2;)"#);
        let slot = Arc::new(EngineSlot::new(1));
        let (pa, mut ca) = crate::export::ring(64);
        let export = Export {
            alerts: Some(pa),
            engine: Some(slot.clone()),
            ..Export::default()
        };
        let mut cfg = WorkerConfig::default();
        cfg.pipeline.decode.checksum_validation = false;
        cfg.pipeline.engine = Some(e1);
        let mut w =
            Worker::new(0, LinkType::Ethernet, WireLengths::default(), &cfg, export).unwrap();
        assert_eq!(w.generation(), 1);
        let f = udp_frame(b"xxabcxx");
        w.handle(&f, f.len() as u32, Timestamp(1_000));
        w.poll_engine();
        assert_eq!(slot.active(), 1, "nothing offered, nothing swapped");
        slot.publish(2, e2);
        assert_eq!(slot.offered(), 2);
        // Packets of the burst in progress still run the old engine.
        w.handle(&f, f.len() as u32, Timestamp(2_000));
        assert_eq!(slot.active(), 1);
        // The burst boundary swaps it in and reports it.
        w.poll_engine();
        assert_eq!((slot.active(), w.generation()), (2, 2));
        w.handle(&f, f.len() as u32, Timestamp(3_000));
        let mut got = Vec::new();
        ca.drain(usize::MAX, |r: AlertRecord| got.push((r.sid, r.generation)));
        assert_eq!(got, vec![(1, 1), (1, 1), (2, 2)]);
        assert_eq!(slot.failed(), 0);
        let mut counters = std::collections::BTreeMap::new();
        w.visit_counters(&mut |n, v| {
            counters.insert(n, v);
        });
        assert_eq!(counters["detect.engine_generation"], 2);
    }

    /// A UDP frame to 192.0.2.2:53 from source port `sport` (a new flow per port).
    fn frame_to_doc_addr(sport: u16) -> Vec<u8> {
        let mut f = udp_frame(b"x");
        f[30..34].copy_from_slice(&[192, 0, 2, 2]);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f
    }

    #[test]
    fn indicator_tables_swap_between_bursts_and_hits_are_eve_records() {
        let mut set = stix::IntelSet::new();
        set.add_text("t.txt", b"192.0.2.2\n").unwrap();
        let table = Arc::new(crate::intel::Table::compile(set.compile(0)));
        let slot = Arc::new(crate::intel::IntelSlot::new(0));
        let (pe, mut ce) = crate::export::eve_ring(1 << 20);
        let export = Export {
            eve: Some(pe),
            intel: Some(slot.clone()),
            ..Export::default()
        };
        let mut cfg = WorkerConfig::default();
        cfg.pipeline.decode.checksum_validation = false;
        let mut w =
            Worker::new(0, LinkType::Ethernet, WireLengths::default(), &cfg, export).unwrap();
        assert_eq!(w.intel_generation(), 0);
        let f = frame_to_doc_addr(1000);
        w.handle(&f, f.len() as u32, Timestamp(1_000));
        slot.publish(1, table);
        // The burst in progress keeps the old (empty) table.
        let f = frame_to_doc_addr(1001);
        w.handle(&f, f.len() as u32, Timestamp(2_000));
        assert_eq!(slot.active(), 0);
        w.poll_intel();
        assert_eq!((slot.active(), w.intel_generation()), (1, 1));
        let f = frame_to_doc_addr(1002);
        w.handle(&f, f.len() as u32, Timestamp(3_000));
        let mut lines = Vec::new();
        ce.drain(usize::MAX, |ty, line| {
            if ty == "intel" {
                lines.push(String::from_utf8_lossy(line).into_owned());
            }
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("\"src_port\":1002"), "{}", lines[0]);
        assert!(
            lines[0].contains("\"matched_field\":\"dest_ip\""),
            "{}",
            lines[0]
        );
        let mut counters = std::collections::BTreeMap::new();
        w.visit_counters(&mut |n, v| {
            counters.insert(n, v);
        });
        assert_eq!(
            (counters["intel.generation"], counters["intel.hits"]),
            (1, 1)
        );
    }

    /// With joined alert lines, a record says whether its line is in the EVE ring, and a
    /// line is only there with its record: full alert ring drops both, full EVE ring only the
    /// line.
    #[test]
    fn joined_alert_lines_pair_with_their_records_whichever_ring_fills() {
        let e = engine(r#"alert udp any any -> any any (msg:"one"; content:"abc"; sid:7;)"#);
        let mut cfg = WorkerConfig::default();
        cfg.pipeline.decode.checksum_validation = false;
        cfg.pipeline.engine = Some(e);
        let f = udp_frame(b"xxabcxx");
        let run = |alert_slots: usize, eve_bytes: usize, packets: u64| {
            let (pa, mut ca) = crate::export::ring(alert_slots);
            let (pe, mut ce) = crate::export::eve_ring(eve_bytes);
            let export = Export {
                alerts: Some(pa),
                eve: Some(pe),
                eve_alerts: true,
                join_alert_lines: true,
                ..Export::default()
            };
            let mut w =
                Worker::new(0, LinkType::Ethernet, WireLengths::default(), &cfg, export).unwrap();
            for i in 0..packets {
                w.handle(&f, f.len() as u32, Timestamp(1_000 + i));
                w.poll_engine();
            }
            let mut recs = Vec::new();
            ca.drain(usize::MAX, |r: AlertRecord| recs.push(r.eve));
            let mut lines = Vec::new();
            ce.drain(usize::MAX, |ty, line| {
                if ty == "alert" {
                    lines.push(String::from_utf8_lossy(line).into_owned());
                }
            });
            (recs, lines)
        };
        // Room everywhere: every record has its line, and the line is this alert's.
        let (recs, lines) = run(64, 1 << 20, 3);
        assert_eq!(recs, vec![true; 3]);
        assert_eq!(lines.len(), 3);
        assert!(
            lines.iter().all(|l| l.contains("\"signature_id\":7")),
            "{lines:?}"
        );
        // Alert ring of 2: the third alert and its line are both dropped.
        let (recs, lines) = run(2, 1 << 20, 3);
        assert_eq!((recs, lines.len()), (vec![true, true], 2));
        // EVE ring too small for any line: records go out saying they have none.
        let (recs, lines) = run(64, 16, 3);
        assert_eq!((recs, lines.len()), (vec![false; 3], 0));
    }

    fn block_table(text: &str, side: vocab::block::Side) -> Arc<crate::blocklist::BlockTable> {
        Arc::new(crate::blocklist::BlockTable::new([
            vocab::block::BlockEntry {
                id: 9,
                matcher: vocab::block::BlockMatch::parse(text, side).unwrap(),
                origin: vocab::block::Origin::Playbook,
                reason: "test".into(),
            },
        ]))
    }

    /// A block table published under traffic applies from the next burst, is confirmed, and
    /// its hits are counted by origin with one `drop` record per flow.
    #[test]
    fn block_table_swaps_between_bursts_and_hits_are_counted_and_recorded() {
        for inline in [true, false] {
            let slot = Arc::new(crate::blocklist::BlockSlot::new(0));
            let (pe, mut ce) = crate::export::eve_ring(1 << 20);
            let (pf, mut cf) = crate::export::ring(16);
            let export = Export {
                blocks: Some(slot.clone()),
                eve: Some(pe),
                flows: Some(pf),
                ..Export::default()
            };
            let mut cfg = WorkerConfig::default();
            cfg.pipeline.decode.checksum_validation = false;
            cfg.pipeline.detect.inline = inline;
            let mut w =
                Worker::new(0, LinkType::Ethernet, WireLengths::default(), &cfg, export).unwrap();
            let f = udp_frame(b"x");
            w.handle(&f, f.len() as u32, Timestamp(1_000));
            slot.publish(1, block_table("10.0.0.2", vocab::block::Side::Dst));
            // The burst in progress still runs the empty table.
            w.handle(&f, f.len() as u32, Timestamp(2_000));
            w.poll_blocks();
            assert_eq!(slot.active(), 1);
            for i in 0..3 {
                w.handle(&f, f.len() as u32, Timestamp(3_000 + i));
            }
            let mut c = std::collections::BTreeMap::new();
            w.visit_counters(&mut |n, v| {
                c.insert(n, v);
            });
            assert_eq!(c["blocklist.hits"], 3, "inline {inline}");
            assert_eq!(c["blocklist.hits.playbook"], 3);
            assert_eq!(c["blocklist.hits.api"], 0);
            assert_eq!(
                (c["blocklist.generation"], c["blocklist.table_entries"]),
                (1, 1)
            );
            let mut drops = Vec::new();
            ce.drain(usize::MAX, |ty, line| {
                if ty == "drop" {
                    drops.push(String::from_utf8_lossy(line).into_owned());
                }
            });
            assert_eq!(drops.len(), 1, "{drops:?}");
            let action = if inline { "blocked" } else { "allowed" };
            let d = &drops[0];
            assert!(d.contains(&format!("\"action\":\"{action}\"")), "{d}");
            assert!(
                d.contains("\"id\":9") && d.contains("\"origin\":\"playbook\""),
                "{d}"
            );
            assert!(d.contains("\"match\":\"10.0.0.2\",\"side\":\"dst\""), "{d}");
            // An empty table again: nothing more is blocked.
            slot.publish(2, Arc::new(crate::blocklist::BlockTable::default()));
            w.poll_blocks();
            w.handle(&f, f.len() as u32, Timestamp(9_000));
            let mut hits = 0;
            w.visit_counters(&mut |n, v| {
                if n == "blocklist.hits" {
                    hits = v;
                }
            });
            assert_eq!((hits, slot.active()), (3, 2));
            // Inline, blocked packets never reach the flow table.
            w.finish();
            let mut packets = 0;
            cf.drain(usize::MAX, |r: FlowRecord| packets += r.pkts_toserver);
            assert_eq!(packets, if inline { 3 } else { 6 }, "inline {inline}");
        }
    }
}
