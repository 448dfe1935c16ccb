//! The per-worker packet pipeline, independent of where packets come from: decode → flow table
//! and TCP reassembly → application layer → records for export.
//!
//! [`Pipeline::process`] takes one frame and its packet time; the DPDK worker loop and the pcap
//! reader ([`crate::io::pcap`]) both drive it, so tests and tools run the exact code the
//! workers run. Flow-end records and app-layer events leave through an [`EventSink`].

use std::net::IpAddr;
use std::sync::Arc;

use crate::app::{self, AppConfig, AppCounters, AppLayer};
use crate::counters::CounterSet;
use crate::decode::{DecodeConfig, Decoder, LinkType, Packet, L4};
use crate::decode::{HwChecksums, IpInfo, TcpInfo, UdpInfo};
use crate::detect::{
    AlertEvent, DetectConfig, Detector, FlowDetectState, PacketView, TxAlerts, Verdict,
};
use crate::eve;
use crate::flow::{
    self, proto, FlowConfig, FlowHandle, FlowId, FlowRecord, FlowRecordSink, FlowSnapshot,
    FlowTable, FlowTuple, StreamSink, TcpFlags, TcpSegment,
};
use crate::time::Timestamp;
use crate::txbuf::{HeaderLines, TxBuffers, TxRef};

/// Settings of a pipeline.
#[derive(Clone, Debug, Default)]
pub struct PipelineConfig {
    pub decode: DecodeConfig,
    pub flow: FlowConfig,
    pub app: AppConfig,
    /// The compiled ruleset; `None` runs no detection.
    pub engine: Option<Arc<rules::Engine>>,
    pub detect: DetectConfig,
    /// Which anomalies become EVE `anomaly` records.
    pub anomaly: AnomalyTypes,
}

/// Which anomalies become EVE `anomaly` records (Suricata's `anomaly.types`). Suricata's
/// default configuration logs only app-layer anomalies; Osprey's default logs all three.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnomalyTypes {
    /// Decoder events (`"type": "decode"`).
    pub decode: bool,
    /// TCP stream events (`"type": "stream"`).
    pub stream: bool,
    /// App-layer parser events (`"type": "applayer"`).
    pub applayer: bool,
}

impl AnomalyTypes {
    /// Suricata's default configuration (`anomaly.types`): app-layer anomalies only.
    pub const SURICATA_DEFAULT: AnomalyTypes = AnomalyTypes {
        decode: false,
        stream: false,
        applayer: true,
    };

    /// The types named (`decode`, `stream`, `applayer`); the others off. An unknown name is
    /// returned as the error.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, &'a str> {
        let mut t = AnomalyTypes {
            decode: false,
            stream: false,
            applayer: false,
        };
        for n in names {
            match n {
                "decode" => t.decode = true,
                "stream" => t.stream = true,
                "applayer" => t.applayer = true,
                other => return Err(other),
            }
        }
        Ok(t)
    }
}

impl Default for AnomalyTypes {
    fn default() -> Self {
        AnomalyTypes {
            decode: true,
            stream: true,
            applayer: true,
        }
    }
}

/// Tracked flows from which the worker prefetches each burst's flows: about 9 MiB of entries
/// and index, past what the caches keep warm beside everything else a worker touches.
pub const PREFETCH_MIN_FLOWS: usize = 32_768;

/// Where an alert happened: the packet's addresses (sender first), its flow and number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertContext {
    pub flow_id: u64,
    pub pcap_cnt: u64,
    pub proto: u8,
    pub src: IpAddr,
    pub src_port: u16,
    pub dst: IpAddr,
    pub dst_port: u16,
    /// The flow's application protocol (Suricata's name), `None` when not known.
    pub app_proto: Option<&'static str>,
    /// The app-layer transaction the alert is about (its metadata goes into the record).
    pub tx_id: Option<u64>,
    /// The packet's VLAN tags.
    pub vlan: crate::eve::Vlans,
    /// The packet's ICMP type and code.
    pub icmp: Option<[u8; 2]>,
}

/// An alert waiting for the inspection that raised it to finish.
type Pending = Vec<(AlertEvent, AlertContext)>;

/// What leaves the pipeline besides counters.
pub trait EventSink {
    /// A flow ended (timeout, close, eviction, shutdown).
    fn flow_end(&mut self, rec: &FlowRecord);
    /// A rule matched.
    fn alert(&mut self, _ev: &AlertEvent, _ctx: &AlertContext) {}
    /// One whole EVE record (a JSON object without trailing newline) the worker rendered with
    /// [`crate::eve::Json`]: app-layer transactions, anomalies. `event_type` is the record's
    /// `event_type` field (consumers filter on it without parsing). The bytes live in reused
    /// memory; copy them out before returning.
    fn eve_line(&mut self, _event_type: &str, _line: &[u8]) {}
    /// Whether [`EventSink::eve_line`] records are wanted; when false the pipeline does not
    /// render them at all.
    fn wants_eve(&self) -> bool {
        true
    }
    /// True when the sink also wants each alert as a rendered EVE record through
    /// [`EventSink::eve_line`] (with flow counters and transaction metadata, which only the
    /// worker has), besides [`EventSink::alert`].
    fn wants_eve_alerts(&self) -> bool {
        false
    }
}

/// A sink that keeps nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullEvents;

impl EventSink for NullEvents {
    fn flow_end(&mut self, _: &FlowRecord) {}
    fn wants_eve(&self) -> bool {
        false
    }
}

impl<F: FnMut(&FlowRecord)> EventSink for F {
    fn flow_end(&mut self, rec: &FlowRecord) {
        self(rec)
    }
    fn wants_eve(&self) -> bool {
        false
    }
}

/// Counters of the glue itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineCounters {
    /// Packets that belong to no flow (non-IP, undecodable L3).
    pub no_flow: u64,
    /// Packets the flow table refused (memcap, no slot).
    pub flow_drop: u64,
    /// Flows that got no app-layer state for want of room. Every flow-table slot has room
    /// for its flow's state, so this stays 0; kept so the counter set does not change.
    pub app_state_cap: u64,
    /// EVE `anomaly` records rendered.
    pub anomalies_logged: u64,
}

impl CounterSet for PipelineCounters {
    fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        f("flow.no_flow", self.no_flow);
        f("flow.drop", self.flow_drop);
        f("app_layer.state_cap", self.app_state_cap);
        f("eve.anomaly", self.anomalies_logged);
    }
}

/// One flow's app-layer and detection state: the pipeline's half of the per-flow record, kept
/// in the slot of the flow's table entry ([`FlowHandle::slot`]).
#[derive(Debug)]
struct AppSlot {
    /// The flow this state belongs to; `FlowId(0)` (no flow has it) while the slot is vacant.
    id: FlowId,
    app: Option<AppLayer>,
    detect: FlowDetectState,
    /// Rules that alerted per transaction (app-layer rules alert once per transaction).
    tx_alerts: TxAlerts,
    /// TCP payload bytes seen from the client and from the server (`stream_size`).
    bytes: [u64; 2],
    /// The flow's tuple, client → server.
    tuple: FlowTuple,
    /// Last bytes of each direction's inspected stream (overlap for the next chunk).
    tail: [Vec<u8>; 2],
    /// Stream offset just past each tail.
    tail_end: [u64; 2],
    /// Protocol detection finished and a packet was inspected since.
    pd_done: bool,
    /// App-layer events already rendered as `anomaly` records (a prefix of `app.events`).
    events_logged: u8,
}

impl Default for AppSlot {
    fn default() -> Self {
        let unspecified = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        AppSlot {
            id: FlowId(0),
            app: None,
            detect: FlowDetectState::default(),
            tx_alerts: TxAlerts::default(),
            bytes: [0; 2],
            tuple: FlowTuple {
                zone: 0,
                proto: 0,
                src: unspecified,
                src_port: 0,
                dst: unspecified,
                dst_port: 0,
            },
            tail: Default::default(),
            tail_end: [0; 2],
            pd_done: false,
            events_logged: 0,
        }
    }
}

impl AppSlot {
    /// Makes this state flow `id`'s, client → server `tuple`, forgetting whatever an earlier
    /// flow left in it; the tails keep their memory.
    fn reset(&mut self, id: FlowId, tuple: FlowTuple, app: Option<AppLayer>) {
        self.id = id;
        self.app = app;
        self.detect = FlowDetectState::default();
        self.tx_alerts.clear();
        self.bytes = [0; 2];
        self.tuple = tuple;
        for t in &mut self.tail {
            t.clear();
        }
        self.tail_end = [0; 2];
        self.pd_done = false;
        self.events_logged = 0;
    }
}

/// The per-flow states, indexed like the flow table's slab: a packet reaches its flow's state
/// with the slot the table's lookup already found, and checks only that the slot still holds
/// the same flow.
///
/// Memory: `size_of::<AppSlot>()` bytes per slot, reserved up front for the table's
/// `max_flows` like the table's slab (pages are touched only as slots are used), plus what the
/// flow's parsers and stream tails allocate once per flow. The flow memcap (`flow.memuse`)
/// counts the table's own bytes per flow ([`flow::FLOW_BYTES_ACCOUNTED`]: entry, index
/// bucket, sweep slot), not these; they are bounded by the same flow count.
#[derive(Debug)]
struct AppStates {
    /// By flow-table slot; grows as the table's slab does.
    slots: Vec<AppSlot>,
    /// States of flows that ended during the current table call, taken out of their slots
    /// (which a new flow may take at once) until the flow's end is processed.
    ended: Vec<AppSlot>,
    /// Vacant states whose buffers are kept for reuse.
    spare: Vec<AppSlot>,
}

impl AppStates {
    fn new(max_flows: usize) -> AppStates {
        AppStates {
            slots: Vec::with_capacity(max_flows),
            ended: Vec::with_capacity(64),
            spare: Vec::with_capacity(64),
        }
    }

    /// Flow `h`'s state, if it has one.
    #[inline]
    fn get_mut(&mut self, h: FlowHandle) -> Option<&mut AppSlot> {
        self.slots.get_mut(h.slot()).filter(|s| s.id == h.id)
    }

    /// Flow `h`'s state, if it has one.
    #[inline]
    fn get(&self, h: FlowHandle) -> Option<&AppSlot> {
        self.slots.get(h.slot()).filter(|s| s.id == h.id)
    }

    /// Flow `h`'s state, also when the flow ended during the current table call.
    fn find_mut(&mut self, h: FlowHandle) -> Option<&mut AppSlot> {
        match self.slots.get_mut(h.slot()) {
            Some(s) if s.id == h.id => Some(s),
            _ => self.ended.iter_mut().find(|s| s.id == h.id),
        }
    }

    /// Gives new flow `h` a fresh state.
    fn open(&mut self, h: FlowHandle, tuple: FlowTuple, app: Option<AppLayer>) {
        let i = h.slot();
        while self.slots.len() <= i {
            // The table hands out new slots in order: one at a time, within the reserve.
            let s = self.spare.pop().unwrap_or_default();
            self.slots.push(s);
        }
        self.slots[i].reset(h.id, tuple, app);
    }

    /// Flow `h` ended: its state leaves the slot for [`AppStates::take_ended`], and a vacant
    /// one takes its place.
    fn flow_ended(&mut self, h: FlowHandle) {
        let Some(s) = self.slots.get_mut(h.slot()).filter(|s| s.id == h.id) else {
            return;
        };
        let vacant = self.spare.pop().unwrap_or_default();
        self.ended.push(std::mem::replace(s, vacant));
    }

    /// The state of flow `id`, which ended.
    fn take_ended(&mut self, id: FlowId) -> Option<AppSlot> {
        let i = self.ended.iter().position(|s| s.id == id)?;
        Some(self.ended.swap_remove(i))
    }

    /// Keeps a finished state's memory for a later flow.
    fn recycle(&mut self, mut s: AppSlot) {
        s.id = FlowId(0);
        s.app = None;
        self.spare.push(s);
    }
}

/// One worker's pipeline.
pub struct Pipeline {
    link: LinkType,
    decoder: Decoder,
    flows: FlowTable,
    apps: AppStates,
    app_cfg: AppConfig,
    app_counters: AppCounters,
    counters: PipelineCounters,
    pcap_cnt: u64,
    /// Flow records produced while the flow table is borrowed, emitted right after; reused.
    ended: Vec<FlowRecord>,
    detector: Option<Detector>,
    /// App-layer inspection scratch.
    txi: TxInspect,
    /// Alerts of the current inspection, emitted once it is over; reused.
    pending: Pending,
    /// Worker-rendered EVE records are built here (reused, no allocation once warm).
    eve_buf: Vec<u8>,
    /// Stream inspection window; reused.
    stream_buf: Vec<u8>,
    /// Stream overlap kept between chunks (see [`StreamDetect::overlap`]).
    overlap: usize,
    /// Stream windows of the current packet; reused.
    windows: Vec<Window>,
    anomaly: AnomalyTypes,
}

/// Scratch and settings of transaction inspection.
#[derive(Debug, Default)]
struct TxInspect {
    lines: HeaderLines,
    /// Some rule reads per-line HTTP header buffers.
    want_lines: bool,
    /// Optional EVE content: like Suricata, JA3 fingerprints are computed and logged only
    /// when a loaded rule uses them.
    eve_opts: crate::app::eve::EveOptions,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Pipeline({:?}, {} flows)",
            self.link,
            self.flows.active()
        )
    }
}

/// Why a pipeline could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("decoder: {0}")]
    Decode(#[from] crate::decode::ConfigError),
    #[error("flow table: {0}")]
    Flow(#[from] flow::FlowConfigError),
    #[error("detection: {0}")]
    Detect(#[from] crate::detect::DetectError),
}

/// Routes reassembled stream data to the flow's app layer.
struct StreamToApp<'a, 'p> {
    apps: &'a mut AppStates,
    cfg: &'a AppConfig,
    counters: &'a mut AppCounters,
    now: Timestamp,
    /// Stream inspection, when detection runs.
    detect: Option<StreamDetect<'a, 'p>>,
}

/// Inspects reassembled stream data as it is handed on (IDS mode: once acknowledged; inline:
/// at once), so rules see patterns split across segments. While a packet is processed, the
/// windows are kept and inspected after the packet itself ([`Pipeline::process`]), so a rule
/// that alerted on the packet does not alert again on the same bytes in the stream.
struct StreamDetect<'a, 'p> {
    det: &'a mut Detector,
    /// Windows: each chunk preceded by the previous chunk's tail.
    buf: &'a mut Vec<u8>,
    pending: &'a mut Pending,
    /// Windows waiting for the packet's own inspection; `None`: inspect at once.
    deferred: Option<&'a mut Vec<Window>>,
    /// The packet being processed; `None` at sweep and shutdown (a pseudo packet stands in).
    pkt: Option<&'a Packet<'p>>,
    pcap_cnt: u64,
    /// Bytes of each chunk kept to overlap the next (longest prefilter literal − 1, capped).
    overlap: usize,
}

/// A stream window kept for inspection: `buf[lo..hi]` starts at stream offset `start`.
#[derive(Clone, Copy, Debug)]
struct Window {
    flow: FlowHandle,
    dir: flow::Direction,
    start: u64,
    lo: usize,
    hi: usize,
}

/// Most bytes of a direction's stream kept to overlap its next chunk.
const MAX_STREAM_OVERLAP: usize = 256;
/// [`TxAlerts`] keys of stream inspection, per direction (rules that alerted on a packet or
/// the stream of that direction).
const STREAM_KEY: [u64; 2] = [(1 << 60) | 1, (1 << 60) | 2];

impl StreamDetect<'_, '_> {
    fn data(
        &mut self,
        slot: &mut AppSlot,
        flow: FlowHandle,
        dir: flow::Direction,
        offset: u64,
        data: &[u8],
        now: Timestamp,
    ) {
        let d = usize::from(dir == flow::Direction::ToClient);
        let contiguous = slot.tail_end[d] == offset && !slot.tail[d].is_empty();
        if self.deferred.is_none() {
            self.buf.clear();
        }
        let lo = self.buf.len();
        if contiguous {
            self.buf.extend_from_slice(&slot.tail[d]);
        }
        let start = offset - (self.buf.len() - lo) as u64;
        self.buf.extend_from_slice(data);
        let hi = self.buf.len();
        let keep = self.overlap.min(hi - lo);
        let tail = &mut slot.tail[d];
        tail.clear();
        tail.extend_from_slice(&self.buf[hi - keep..hi]);
        slot.tail_end[d] = offset + data.len() as u64;
        match self.deferred.as_deref_mut() {
            Some(w) => w.push(Window {
                flow,
                dir,
                start,
                lo,
                hi,
            }),
            None => inspect_window(
                self.det,
                self.pending,
                self.pkt,
                self.pcap_cnt,
                slot,
                flow.id,
                dir,
                start,
                &self.buf[lo..hi],
                now,
            ),
        }
    }
}

/// Inspects one stream window of `flow`'s direction `dir` (see [`Detector::inspect_stream`]).
#[allow(clippy::too_many_arguments)]
fn inspect_window(
    det: &mut Detector,
    pending: &mut Pending,
    pkt: Option<&Packet<'_>>,
    pcap_cnt: u64,
    slot: &mut AppSlot,
    flow: FlowId,
    dir: flow::Direction,
    start: u64,
    window: &[u8],
    now: Timestamp,
) {
    let d = usize::from(dir == flow::Direction::ToClient);
    let tuple = match dir {
        flow::Direction::ToServer => slot.tuple,
        flow::Direction::ToClient => slot.tuple.reversed(),
    };
    let p = match pkt {
        Some(p) if sent_by(p, &tuple) => *p,
        Some(p) => turned(p),
        None => pseudo_packet(&tuple),
    };
    let proto = slot.app.as_ref().map(|a| a.proto());
    let app_proto = proto.and_then(rules_app_proto);
    let view = PacketView {
        pkt: &p,
        dir: Some(match dir {
            flow::Direction::ToServer => rules::ir::FlowDir::ToServer,
            flow::Direction::ToClient => rules::ir::FlowDir::ToClient,
        }),
        established: true,
        app_proto,
        flow_id: flow.0,
        stream_active: true,
        stream_bytes: seq_space(&slot.bytes),
        proto_detected: false,
    };
    let ctx = alert_context(&p, flow.0, pcap_cnt, app_proto.and(proto).map(|p| p.name()));
    det.inspect_stream(
        &view,
        window,
        start,
        Some((STREAM_KEY[d], &mut slot.tx_alerts)),
        Some(&mut slot.detect),
        now,
        &mut |ev| pending.push((ev, ctx)),
    );
}

/// True when `p` travels in `tuple`'s direction (sender = tuple source).
fn sent_by(p: &Packet<'_>, tuple: &FlowTuple) -> bool {
    p.src_addr() == tuple.src && p.ports().0 == tuple.src_port
}

fn app_dir(d: flow::Direction) -> app::Direction {
    match d {
        flow::Direction::ToServer => app::Direction::ToServer,
        flow::Direction::ToClient => app::Direction::ToClient,
    }
}

impl StreamSink for StreamToApp<'_, '_> {
    fn data(&mut self, flow: FlowHandle, dir: flow::Direction, offset: u64, data: &[u8]) {
        let Some(slot) = self.apps.get_mut(flow) else {
            return;
        };
        // The app layer first: the stream inspection then knows the protocol.
        if let Some(app) = slot.app.as_mut() {
            app.on_stream(self.cfg, app_dir(dir), data, self.now, self.counters);
        }
        if let Some(sd) = self.detect.as_mut() {
            sd.data(slot, flow, dir, offset, data, self.now);
        }
    }
    fn gap(&mut self, flow: FlowHandle, dir: flow::Direction, _offset: u64, len: u64) {
        if let Some(app) = self.apps.get_mut(flow).and_then(|s| s.app.as_mut()) {
            app.on_gap(app_dir(dir), len, self.counters);
        }
    }
    fn end(&mut self, flow: FlowHandle, dir: flow::Direction) {
        if let Some(app) = self.apps.get_mut(flow).and_then(|s| s.app.as_mut()) {
            app.on_end(self.cfg, app_dir(dir), self.now, self.counters);
        }
    }
    fn flow_ended(&mut self, flow: FlowHandle) {
        self.apps.flow_ended(flow);
    }
}

/// Ends flows: records out, app states released.
struct EndFlows<'a, E: EventSink> {
    apps: &'a mut AppStates,
    events: &'a mut E,
    detector: Option<&'a mut Detector>,
    txi: &'a mut TxInspect,
    pcap_cnt: u64,
    pending: &'a mut Pending,
    eve_buf: &'a mut Vec<u8>,
    /// EVE app-layer records are written.
    eve_logging: bool,
    /// App-layer events become `anomaly` records.
    app_anomalies: bool,
    counters: &'a mut PipelineCounters,
}

impl<E: EventSink> FlowRecordSink for EndFlows<'_, E> {
    fn flow_end(&mut self, rec: &FlowRecord) {
        let mut rec = *rec;
        if let Some(mut slot) = self.apps.take_ended(rec.id) {
            if self.app_anomalies && self.events.wants_eve() {
                // Events the flow's end raised (a stream cut short, a transaction left
                // incomplete), on a pseudo packet at the flow's last packet time, as the
                // flow's transactions are logged.
                log_app_anomalies(
                    self.eve_buf,
                    &mut slot,
                    &pseudo_packet(&rec.tuple),
                    rec.id.0,
                    0,
                    rec.end,
                    self.events,
                    self.counters,
                );
            }
            // Transactions the flow's end completed (bodies delimited by close, unanswered
            // requests) are inspected one last time, on a pseudo packet as Suricata does.
            if let Some(det) = self.detector.as_deref_mut() {
                let pseudo = pseudo_packet(&rec.tuple);
                inspect_txs(
                    det,
                    self.txi,
                    &mut slot,
                    &pseudo,
                    flow::Direction::ToServer,
                    rec.id.0,
                    rec.state == flow::FlowState::Established
                        || rec.state == flow::FlowState::Closed,
                    self.pcap_cnt,
                    rec.end,
                    true,
                    self.pending,
                );
                // Alerts of this flow still pending: from its last stream data or the
                // transactions just inspected.
                if self.pending.iter().any(|(_, c)| c.flow_id == rec.id.0) {
                    rec.alerted = true;
                }
                let snap = FlowSnapshot {
                    tuple: rec.tuple,
                    pkts: [rec.pkts_toserver, rec.pkts_toclient],
                    bytes: [rec.bytes_toserver, rec.bytes_toclient],
                    start: rec.start,
                };
                emit_alerts(
                    self.pending,
                    self.eve_buf,
                    det,
                    Some(rec.id.0),
                    Some(&snap),
                    Some(&slot),
                    self.events,
                );
            }
            if self.eve_logging {
                // What the flow's end completed or cut short, at the flow's last packet time.
                log_app_records(
                    &mut slot,
                    rec.id.0,
                    0,
                    rec.end,
                    true,
                    &self.txi.eve_opts,
                    self.eve_buf,
                    self.events,
                );
            }
            if let Some(app) = slot.app.as_ref() {
                rec.app_proto = flow_app_proto(app.proto());
            }
            self.apps.recycle(slot);
        }
        self.events.flow_end(&rec);
    }
}

/// A packet without bytes carrying `tuple`'s addresses and ports (sender first), for
/// inspections that no packet triggers (flow end).
fn pseudo_packet(tuple: &FlowTuple) -> Packet<'static> {
    let mut p = Packet::new(LinkType::Raw, &[]);
    p.ip = Some(IpInfo {
        version: if tuple.src.is_ipv4() { 4 } else { 6 },
        src: tuple.src,
        dst: tuple.dst,
        proto: tuple.proto,
        ttl: 0,
        tos: 0,
        id: 0,
        frag: Default::default(),
        options_present: false,
        total_len: 0,
        flow_label: 0,
    });
    p.l4 = match tuple.proto {
        proto::TCP => L4::Tcp(TcpInfo {
            src_port: tuple.src_port,
            dst_port: tuple.dst_port,
            seq: 0,
            ack: 0,
            flags: 0x10,
            window: 0,
            header_len: 20,
            urgent: 0,
            options: Default::default(),
        }),
        proto::UDP => L4::Udp(UdpInfo {
            src_port: tuple.src_port,
            dst_port: tuple.dst_port,
            len: 8,
        }),
        other => L4::Other(other),
    };
    p
}

/// `pkt` as seen from the other side: addresses and ports swapped, no payload. Used when a
/// packet completes data of the opposite direction (an acknowledgement in IDS mode): the
/// inspection of that data sees the direction's own orientation, as rule headers expect.
fn turned<'p>(pkt: &Packet<'p>) -> Packet<'p> {
    let mut p = *pkt;
    if let Some(ip) = p.ip.as_mut() {
        std::mem::swap(&mut ip.src, &mut ip.dst);
    }
    match &mut p.l4 {
        L4::Tcp(t) => std::mem::swap(&mut t.src_port, &mut t.dst_port),
        L4::Udp(u) => std::mem::swap(&mut u.src_port, &mut u.dst_port),
        _ => {}
    }
    p.payload = &[];
    p
}

/// The stream overlap a detector needs, capped.
fn stream_overlap(d: &Detector) -> usize {
    d.stream_overlap().min(MAX_STREAM_OVERLAP)
}

/// Writes the EVE records of a flow's transactions that are due (all unlogged ones at the
/// flow's end), in the flow's client → server orientation.
#[allow(clippy::too_many_arguments)]
fn log_app_records<E: EventSink>(
    slot: &mut AppSlot,
    flow_id: u64,
    pcap_cnt: u64,
    now: Timestamp,
    at_end: bool,
    opts: &crate::app::eve::EveOptions,
    buf: &mut Vec<u8>,
    events: &mut E,
) {
    let t = slot.tuple;
    let Some(app) = slot.app.as_mut() else {
        return;
    };
    let env = crate::eve::Envelope {
        ts: now,
        flow_id,
        pcap_cnt,
        event_type: "",
        src: t.src,
        src_port: t.src_port,
        dst: t.dst,
        dst_port: t.dst_port,
        proto: t.proto,
        vlan: crate::eve::Vlans::of_zone(t.zone),
        icmp: None,
    };
    loop {
        let next = if at_end {
            app.next_record_at_end()
        } else {
            app.next_record()
        };
        let Some(r) = next else { break };
        buf.clear();
        if crate::app::eve::write_app_record(buf, &env, app, r, opts) {
            events.eve_line(r.event_type(), buf);
        }
    }
}

/// Hands the collected alerts to the sink, rendered as EVE records too when it wants them.
/// `flow` and `app` describe flow `current` (`None`: whichever flow each alert names); alerts
/// of other flows are rendered without them.
fn emit_alerts<E: EventSink>(
    pending: &mut Pending,
    buf: &mut Vec<u8>,
    det: &Detector,
    current: Option<u64>,
    flow: Option<&FlowSnapshot>,
    slot: Option<&AppSlot>,
    events: &mut E,
) {
    let eve = events.wants_eve() && events.wants_eve_alerts();
    for (ev, ctx) in pending.drain(..) {
        events.alert(&ev, &ctx);
        if eve {
            buf.clear();
            let mine = current.is_none_or(|c| c == ctx.flow_id);
            let (flow, slot) = if mine { (flow, slot) } else { (None, None) };
            let app = slot.and_then(|s| s.app.as_ref());
            let bits = slot.map(|s| det.flowbits(&s.detect)).into_iter().flatten();
            crate::alert::write_eve_alert(buf, det.engine(), &ev, &ctx, flow, app, bits);
            events.eve_line("alert", buf);
        }
    }
}

/// `stream_size` values as Suricata computes them from sequence numbers: payload bytes plus
/// the one sequence number each side's SYN takes.
fn seq_space(bytes: &[u64; 2]) -> [u64; 2] {
    [bytes[0] + 1, bytes[1] + 1]
}

/// Transaction key space: HTTP transactions by id, DNS messages, the TLS handshake and
/// WebSocket frames never collide.
const TX_DNS: u64 = 1 << 62;
const TX_TLS: u64 = 1 << 63;
const TX_WS: u64 = 1 << 61;

/// Inspects the transactions of one flow whose buffers changed, then marks them inspected.
/// `pkt` is the packet being processed (direction `pkt_dir`), or a pseudo packet oriented
/// client → server at flow end (`flush`: incomplete transactions are inspected too).
#[allow(clippy::too_many_arguments)]
fn inspect_txs(
    det: &mut Detector,
    txi: &mut TxInspect,
    slot: &mut AppSlot,
    pkt: &Packet<'_>,
    pkt_dir: flow::Direction,
    flow_id: u64,
    established: bool,
    pcap_cnt: u64,
    now: Timestamp,
    flush: bool,
    pending: &mut Pending,
) {
    use crate::app::http::change;
    let AppSlot {
        app,
        detect,
        tx_alerts,
        bytes,
        ..
    } = slot;
    let stream_bytes = seq_space(bytes);
    let Some(app) = app.as_mut() else {
        return;
    };
    let proto = app.proto();
    let app_proto = rules_app_proto(proto);
    let app_name = Some(proto.name());
    // A copy (small, fixed size): the transactions below borrow the app state mutably.
    let app_events = app.events.clone();
    // One inspection of `tx` in direction `d`.
    let mut run = |det: &mut Detector,
                   detect: &mut FlowDetectState,
                   tx_alerts: &mut TxAlerts,
                   lines: &HeaderLines,
                   tx: TxRef<'_>,
                   key: u64,
                   d: app::Direction| {
        let same = (d == app::Direction::ToServer) == (pkt_dir == flow::Direction::ToServer);
        // Only a transaction of the other direction needs the packet turned around.
        let turned_pkt;
        let p = if same {
            pkt
        } else {
            turned_pkt = turned(pkt);
            &turned_pkt
        };
        let view = PacketView {
            pkt: p,
            dir: Some(match d {
                app::Direction::ToServer => rules::ir::FlowDir::ToServer,
                app::Direction::ToClient => rules::ir::FlowDir::ToClient,
            }),
            established,
            app_proto,
            flow_id,
            stream_active: false,
            stream_bytes,
            proto_detected: false,
        };
        let src = TxBuffers {
            tx,
            dir: d,
            lines,
            payload: p.payload,
            events: &app_events,
        };
        let mut ctx = alert_context(p, flow_id, pcap_cnt, app_name);
        ctx.tx_id = Some(match tx {
            TxRef::Http(t) => t.id,
            TxRef::Dns(t) => t.tx_id,
            TxRef::Tls(_) => 0,
            TxRef::WebSocket(f) => f.id,
        });
        det.inspect_buffers(&view, &src, key, tx_alerts, Some(detect), now, &mut |ev| {
            pending.push((ev, ctx))
        });
    };
    match app.state_mut() {
        app::AppState::Http(s) => {
            const REQ: u32 =
                change::REQUEST_HEADERS | change::REQUEST_BODY | change::REQUEST_COMPLETE;
            const RESP: u32 =
                change::RESPONSE_HEADERS | change::RESPONSE_BODY | change::RESPONSE_COMPLETE;
            // A direction's transaction buffers are inspected on a packet of that direction
            // (or at flow end), as Suricata does: a request handed on by the server's
            // acknowledgement waits for the client's next packet.
            let mut mask = 0;
            if flush || pkt_dir == flow::Direction::ToServer {
                mask |= REQ | change::REQUEST_LINE;
            }
            if flush || pkt_dir == flow::Direction::ToClient {
                mask |= RESP | change::RESPONSE_LINE;
            }
            for tx in s.txs_mut() {
                let ch = tx.changes & mask;
                tx.changes &= !mask;
                if ch == 0 && !flush {
                    continue;
                }
                let tx: &crate::app::http::HttpTx = tx;
                let req = ch & REQ != 0 || (flush && ch & change::REQUEST_LINE != 0);
                let resp = ch & RESP != 0 || (flush && ch & change::RESPONSE_LINE != 0);
                if !(req || resp) {
                    continue;
                }
                if txi.want_lines {
                    txi.lines.fill(tx);
                } else {
                    txi.lines.clear();
                }
                if req {
                    run(
                        det,
                        detect,
                        tx_alerts,
                        &txi.lines,
                        TxRef::Http(tx),
                        tx.id,
                        app::Direction::ToServer,
                    );
                }
                if resp {
                    run(
                        det,
                        detect,
                        tx_alerts,
                        &txi.lines,
                        TxRef::Http(tx),
                        tx.id,
                        app::Direction::ToClient,
                    );
                }
            }
            if s.upgraded_to_websocket() {
                for d in [app::Direction::ToServer, app::Direction::ToClient] {
                    if !flush
                        && (d == app::Direction::ToServer) != (pkt_dir == flow::Direction::ToServer)
                    {
                        continue;
                    }
                    for f in s.websocket_mut(d).frames_mut() {
                        if !std::mem::take(&mut f.changed) {
                            continue;
                        }
                        let f: &crate::app::websocket::WsFrame = f;
                        let key = TX_WS | (f.id << 1) | u64::from(d == app::Direction::ToClient);
                        run(
                            det,
                            detect,
                            tx_alerts,
                            &txi.lines,
                            TxRef::WebSocket(f),
                            key,
                            d,
                        );
                    }
                }
            }
            s.retire_inspected();
        }
        app::AppState::Dns(s) => {
            for tx in s.txs_mut() {
                if !std::mem::take(&mut tx.changed) {
                    continue;
                }
                let tx: &crate::app::dns::DnsTx = tx;
                let d = tx.dir.unwrap_or(match pkt_dir {
                    flow::Direction::ToServer => app::Direction::ToServer,
                    flow::Direction::ToClient => app::Direction::ToClient,
                });
                run(
                    det,
                    detect,
                    tx_alerts,
                    &txi.lines,
                    TxRef::Dns(tx),
                    // A query and its response form one transaction, as in Suricata: keyed
                    // by the DNS id, so a rule alerts once for the pair.
                    TX_DNS | u64::from(tx.id),
                    d,
                );
            }
        }
        app::AppState::Tls(s) => {
            if std::mem::take(&mut s.info.changed) {
                // The handshake carries buffers of both sides: each side's rules see it in
                // their direction; every rule still alerts once per flow.
                for d in [app::Direction::ToServer, app::Direction::ToClient] {
                    run(
                        det,
                        detect,
                        tx_alerts,
                        &txi.lines,
                        TxRef::Tls(&s.info),
                        TX_TLS,
                        d,
                    );
                }
            }
        }
        app::AppState::None => {}
    }
}

fn flow_app_proto(p: app::AppProto) -> flow::AppProto {
    match p {
        app::AppProto::Unknown => flow::AppProto::UNKNOWN,
        app::AppProto::Failed => flow::AppProto::FAILED,
        app::AppProto::Http | app::AppProto::WebSocket => flow::AppProto::HTTP,
        app::AppProto::Dns => flow::AppProto::DNS,
        app::AppProto::Tls => flow::AppProto::TLS,
        app::AppProto::Smtp => flow::AppProto::SMTP,
        app::AppProto::Ssh => flow::AppProto::SSH,
        app::AppProto::Ftp => flow::AppProto::FTP,
    }
}

impl Pipeline {
    /// A pipeline for frames of link type `link`.
    pub fn new(link: LinkType, cfg: &PipelineConfig) -> Result<Pipeline, PipelineError> {
        let decoder = Decoder::new(cfg.decode)?;
        let flows = FlowTable::new(cfg.flow.clone())?;
        let cap = flows.max_flows() as usize;
        Ok(Pipeline {
            link,
            decoder,
            flows,
            apps: AppStates::new(cap),
            app_cfg: cfg.app.clone(),
            app_counters: AppCounters::default(),
            counters: PipelineCounters::default(),
            pcap_cnt: 0,
            ended: Vec::with_capacity(256),
            detector: match &cfg.engine {
                Some(e) => Some(Detector::new(e.clone(), cfg.detect)?),
                None => None,
            },
            txi: TxInspect {
                lines: HeaderLines::default(),
                want_lines: cfg
                    .engine
                    .as_deref()
                    .is_some_and(crate::txbuf::uses_header_lines),
                eve_opts: crate::app::eve::EveOptions {
                    ja3: cfg.engine.as_deref().is_some_and(crate::txbuf::uses_ja3),
                    ja4: false,
                },
            },
            pending: Vec::with_capacity(64),
            eve_buf: Vec::with_capacity(4096),
            stream_buf: Vec::new(),
            overlap: 0,
            windows: Vec::new(),
            anomaly: cfg.anomaly,
        })
        .map(|mut p| {
            p.overlap = p.detector.as_ref().map_or(0, stream_overlap);
            p
        })
    }

    /// Swaps the detection engine between bursts (hot reload). A pipeline started without
    /// an engine has no detector to swap into: it keeps running without detection.
    pub fn set_engine(
        &mut self,
        engine: Arc<rules::Engine>,
    ) -> Result<(), crate::detect::DetectError> {
        let want_lines = crate::txbuf::uses_header_lines(&engine);
        let ja3 = crate::txbuf::uses_ja3(&engine);
        match self.detector.as_mut() {
            Some(d) => {
                d.set_engine(engine)?;
                self.overlap = stream_overlap(d);
                self.txi.want_lines = want_lines;
                self.txi.eve_opts.ja3 = ja3;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The flow table.
    pub fn flows(&self) -> &FlowTable {
        &self.flows
    }

    /// The decoder.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Packets processed so far (the packet number of the last one).
    pub fn pcap_cnt(&self) -> u64 {
        self.pcap_cnt
    }

    /// Every counter, by Suricata-style name.
    pub fn visit_counters(&self, f: &mut dyn FnMut(&'static str, u64)) {
        self.decoder.counters().visit(f);
        self.flows.counters().visit(f);
        self.flows.tcp_counters().visit(f);
        self.app_counters.visit(f);
        self.counters.visit(f);
        if let Some(d) = &self.detector {
            d.counters().visit(f);
        }
    }

    /// Prefetches the flows of a burst's frames before any is processed (the hint is read
    /// straight from plain TCP/UDP headers, see [`crate::decode::flow_hint`]), so the cache
    /// misses of their flow lookups overlap instead of following one another.
    ///
    /// Skipped while the table is small enough to stay in cache (fewer than
    /// [`PREFETCH_MIN_FLOWS`]): there the extra hashing and probing cost more than the misses
    /// they hide (`flow/public_mix` 77 ns per packet plain, 91 ns with prefetching, 13.7k flows;
    /// `flow::lookup_zipf` at 1M flows 161 ns plain, 62 ns prefetched).
    pub fn prefetch_flows<'f>(&self, frames: impl Iterator<Item = &'f [u8]>) {
        const N: usize = 32;
        if self.flows.active() < PREFETCH_MIN_FLOWS {
            return;
        }
        let mut tuples = [FlowTuple {
            zone: 0,
            proto: 0,
            src: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            src_port: 0,
            dst: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            dst_port: 0,
        }; N];
        let mut n = 0;
        for f in frames.take(N) {
            if let Some(h) = crate::decode::flow_hint(self.link, f) {
                // The zone as `flow_packet` builds it for an untunnelled packet.
                tuples[n] = FlowTuple {
                    zone: flow::zone(h.vlan, 0),
                    proto: h.proto,
                    src: h.src,
                    src_port: h.src_port,
                    dst: h.dst,
                    dst_port: h.dst_port,
                };
                n += 1;
            }
        }
        self.flows.prefetch_burst(&tuples[..n]);
    }

    /// Ends a burst: releases per-burst scratch memory.
    pub fn end_burst(&mut self) {
        if let Some(d) = self.detector.as_mut() {
            d.end_burst();
        }
    }

    /// Processes one frame captured at `now`.
    ///
    /// Returns the packet's verdict: [`Verdict::Drop`] when a `drop`/`reject` rule matched it,
    /// its stream or its transactions (the inline mode drops it; IDS forwards everything).
    pub fn process<E: EventSink>(
        &mut self,
        frame: &[u8],
        now: Timestamp,
        events: &mut E,
    ) -> Verdict {
        self.process_offloaded(frame, now, HwChecksums::UNKNOWN, events)
    }

    /// [`Pipeline::process`] for a frame whose outer checksums the NIC verified (`hw`, see
    /// [`crate::decode::Decoder::decode_offloaded`]).
    pub fn process_offloaded<E: EventSink>(
        &mut self,
        frame: &[u8],
        now: Timestamp,
        hw: HwChecksums,
        events: &mut E,
    ) -> Verdict {
        let drops = self.detector.as_ref().map_or(0, |d| d.blocking_matches());
        self.process_inner(frame, now, hw, events);
        match &self.detector {
            Some(d) if d.blocking_matches() != drops => Verdict::Drop,
            _ => Verdict::Accept,
        }
    }

    fn process_inner<E: EventSink>(
        &mut self,
        frame: &[u8],
        now: Timestamp,
        hw: HwChecksums,
        events: &mut E,
    ) {
        self.pcap_cnt += 1;
        let pcap_cnt = self.pcap_cnt;
        let Pipeline {
            link,
            decoder,
            flows,
            apps,
            app_cfg,
            app_counters,
            counters,
            ended,
            detector,
            txi,
            pending,
            eve_buf,
            stream_buf,
            overlap,
            windows,
            anomaly,
            ..
        } = self;
        stream_buf.clear();
        windows.clear();
        // Decoded in place: returning the summary by value copied ~400 bytes per packet.
        let mut slot = None;
        let pkt = decoder.decode_offloaded_in(*link, frame, now, hw, &mut slot);
        let log_anomalies = events.wants_eve() && (anomaly.decode || anomaly.stream);
        let Some(fp) = flow_packet(pkt) else {
            counters.no_flow += 1;
            if log_anomalies {
                let types = *anomaly;
                log_packet_anomalies(
                    eve_buf,
                    pkt,
                    0,
                    pcap_cnt,
                    now,
                    types,
                    Default::default(),
                    events,
                    counters,
                );
            }
            if let Some(det) = detector.as_mut() {
                let ctx = alert_context(pkt, 0, pcap_cnt, None);
                det.inspect_packet(&PacketView::stateless(pkt), None, now, &mut |ev| {
                    pending.push((ev, ctx))
                });
                emit_alerts(pending, eve_buf, det, Some(0), None, None, events);
            }
            return;
        };
        // Flows that end on the way (expired, evicted, reused) are collected, then emitted
        // once the table is no longer borrowed.
        ended.clear();
        let outcome = {
            let mut streams = StreamToApp {
                apps: &mut *apps,
                cfg: app_cfg,
                counters: &mut *app_counters,
                now,
                detect: detector.as_mut().map(|det| StreamDetect {
                    det,
                    buf: &mut *stream_buf,
                    pending: &mut *pending,
                    deferred: Some(&mut *windows),
                    pkt: Some(pkt),
                    pcap_cnt,
                    overlap: *overlap,
                }),
            };
            flows.process(&fp, now, &mut streams, &mut |r: &FlowRecord| ended.push(*r))
        };
        let outcome = match outcome {
            Ok(o) => Some(o),
            Err(_) => {
                counters.flow_drop += 1;
                if log_anomalies {
                    let types = *anomaly;
                    log_packet_anomalies(
                        eve_buf,
                        pkt,
                        0,
                        pcap_cnt,
                        now,
                        types,
                        Default::default(),
                        events,
                        counters,
                    );
                }
                None
            }
        };
        if let Some(outcome) = outcome {
            if log_anomalies {
                let types = *anomaly;
                log_packet_anomalies(
                    eve_buf,
                    pkt,
                    outcome.flow.id.0,
                    pcap_cnt,
                    now,
                    types,
                    outcome.events,
                    events,
                    counters,
                );
            }
            if outcome.new_flow {
                let client = match outcome.dir {
                    flow::Direction::ToServer => fp.tuple,
                    flow::Direction::ToClient => fp.tuple.reversed(),
                };
                let transport = if fp.tuple.proto == proto::UDP {
                    Some(app::Transport::Udp)
                } else if fp.tuple.proto == proto::TCP {
                    Some(app::Transport::Tcp)
                } else {
                    None
                };
                let app = transport.map(|t| AppLayer::new(t, client.src_port, client.dst_port));
                apps.open(outcome.flow, client, app);
            }
            // The flow's state, found by the slot the table's lookup returned.
            let mut slot = apps.get_mut(outcome.flow);
            if fp.tuple.proto == proto::UDP && !pkt.payload.is_empty() {
                if let Some(app) = slot.as_deref_mut().and_then(|s| s.app.as_mut()) {
                    app.on_datagram(
                        app_cfg,
                        app_dir(outcome.dir),
                        pkt.payload,
                        now,
                        &mut *app_counters,
                    );
                }
            }
            if anomaly.applayer && events.wants_eve() {
                if let Some(s) = slot.as_deref_mut() {
                    log_app_anomalies(
                        eve_buf,
                        s,
                        pkt,
                        outcome.flow.id.0,
                        pcap_cnt,
                        now,
                        events,
                        counters,
                    );
                }
            }
            if let (Some(s), L4::Tcp(_)) = (slot.as_deref_mut(), pkt.l4) {
                s.bytes[usize::from(outcome.dir == flow::Direction::ToClient)] +=
                    pkt.payload.len() as u64;
            }
            let app = slot
                .as_ref()
                .and_then(|s| s.app.as_ref())
                .map(|a| a.proto());
            if let Some(a) = app {
                flows.set_app_proto(outcome.flow, flow_app_proto(a));
            }
            if let Some(det) = detector.as_mut() {
                let known =
                    app.filter(|a| !matches!(a, app::AppProto::Unknown | app::AppProto::Failed));
                let view = PacketView {
                    pkt,
                    dir: Some(match outcome.dir {
                        flow::Direction::ToServer => rules::ir::FlowDir::ToServer,
                        flow::Direction::ToClient => rules::ir::FlowDir::ToClient,
                    }),
                    established: outcome.state == flow::FlowState::Established,
                    app_proto: known.and_then(rules_app_proto),
                    flow_id: outcome.flow.id.0,
                    // Payload rules see each packet's payload here, and the reassembled
                    // stream below (patterns split across segments).
                    stream_active: false,
                    stream_bytes: slot.as_deref().map_or([0; 2], |s| seq_space(&s.bytes)),
                    proto_detected: match slot.as_deref_mut() {
                        Some(s)
                            if !s.pd_done && app.is_some_and(|a| a != app::AppProto::Unknown) =>
                        {
                            s.pd_done = true;
                            true
                        }
                        _ => false,
                    },
                };
                let ctx = alert_context(pkt, outcome.flow.id.0, pcap_cnt, known.map(|a| a.name()));
                let key = STREAM_KEY[usize::from(outcome.dir == flow::Direction::ToClient)];
                // Rules that match the packet are marked so the stream inspection of the same
                // bytes does not match them again.
                match slot.as_deref_mut() {
                    Some(s) => det.inspect_packet_marking(
                        &view,
                        Some((key, &mut s.tx_alerts)),
                        Some(&mut s.detect),
                        now,
                        &mut |ev| pending.push((ev, ctx)),
                    ),
                    None => det.inspect_packet(&view, None, now, &mut |ev| pending.push((ev, ctx))),
                };
                if let Some(s) = slot {
                    // A closing session still counts as established for its transactions:
                    // Suricata would match them on its flow-end pseudo packets, which are.
                    let tx_established =
                        view.established || outcome.state == flow::FlowState::Closed;
                    inspect_txs(
                        det,
                        txi,
                        s,
                        pkt,
                        outcome.dir,
                        outcome.flow.id.0,
                        tx_established,
                        pcap_cnt,
                        now,
                        false,
                        pending,
                    );
                }
            }
        }
        if let Some(det) = detector.as_mut() {
            // Stream data handed on while the packet was tracked: this flow's, and the last
            // data of flows that ended on the way.
            for w in windows.iter() {
                if let Some(s) = apps.find_mut(w.flow) {
                    inspect_window(
                        det,
                        pending,
                        Some(pkt),
                        pcap_cnt,
                        s,
                        w.flow.id,
                        w.dir,
                        w.start,
                        &stream_buf[w.lo..w.hi],
                        now,
                    );
                }
            }
            if !pending.is_empty() {
                let cur = outcome.map(|o| o.flow);
                if let Some(h) = cur {
                    if pending.iter().any(|(_, c)| c.flow_id == h.id.0) {
                        flows.set_alerted(h);
                    }
                }
                let snap = cur.and_then(|h| flows.snapshot(h));
                let slot = cur.and_then(|h| apps.get(h));
                emit_alerts(
                    pending,
                    eve_buf,
                    det,
                    cur.map(|h| h.id.0),
                    snap.as_ref(),
                    slot,
                    events,
                );
            }
        }
        // EVE records of the transactions this packet completed.
        if app_cfg.eve_logging {
            if let Some(s) = outcome.and_then(|o| apps.get_mut(o.flow).map(|s| (o, s))) {
                let (o, slot) = s;
                log_app_records(
                    slot,
                    o.flow.id.0,
                    pcap_cnt,
                    now,
                    false,
                    &txi.eve_opts,
                    eve_buf,
                    events,
                );
            }
        }
        for rec in ended.iter() {
            EndFlows {
                apps: &mut *apps,
                events,
                detector: detector.as_mut(),
                txi,
                pcap_cnt,
                pending,
                eve_buf,
                eve_logging: app_cfg.eve_logging,
                app_anomalies: anomaly.applayer,
                counters,
            }
            .flow_end(rec);
        }
    }

    /// Expires idle flows (bounded work; call once per burst or when idle).
    pub fn sweep<E: EventSink>(&mut self, now: Timestamp, budget: usize, events: &mut E) {
        self.end_flows(now, events, |flows, streams, mut ended| {
            flows.sweep(now, budget, streams, &mut ended);
        });
    }

    /// Ends every flow (shutdown, end of a capture): flushes streams and emits their records.
    pub fn finish<E: EventSink>(&mut self, now: Timestamp, events: &mut E) {
        self.end_flows(now, events, |flows, streams, mut ended| {
            flows.drain_all(streams, &mut ended);
        });
    }

    /// Ends flows outside a packet (`end`: a sweep or the final drain): their last stream data
    /// is inspected at once on pseudo packets, then each flow's transactions, alerts, app
    /// records and flow record are emitted.
    fn end_flows<E: EventSink>(
        &mut self,
        now: Timestamp,
        events: &mut E,
        end: impl FnOnce(&mut FlowTable, &mut StreamToApp<'_, '_>, &mut dyn FnMut(&FlowRecord)),
    ) {
        let Pipeline {
            flows,
            apps,
            app_cfg,
            app_counters,
            ended,
            detector,
            txi,
            pcap_cnt,
            pending,
            eve_buf,
            stream_buf,
            overlap,
            anomaly,
            counters,
            ..
        } = self;
        ended.clear();
        {
            let mut streams = StreamToApp {
                apps: &mut *apps,
                cfg: app_cfg,
                counters: &mut *app_counters,
                now,
                detect: detector.as_mut().map(|det| StreamDetect {
                    det,
                    buf: &mut *stream_buf,
                    pending: &mut *pending,
                    deferred: None,
                    pkt: None,
                    pcap_cnt: *pcap_cnt,
                    overlap: *overlap,
                }),
            };
            end(flows, &mut streams, &mut |r: &FlowRecord| ended.push(*r));
        }
        let mut end = EndFlows {
            apps,
            events,
            detector: detector.as_mut(),
            txi,
            pcap_cnt: *pcap_cnt,
            pending,
            eve_buf,
            eve_logging: app_cfg.eve_logging,
            app_anomalies: anomaly.applayer,
            counters,
        };
        for r in ended.iter() {
            end.flow_end(r);
        }
        if let Some(det) = end.detector.as_deref() {
            if !end.pending.is_empty() {
                emit_alerts(end.pending, end.eve_buf, det, None, None, None, end.events);
            }
        }
    }
}

/// The EVE envelope of a record about `pkt`.
fn packet_envelope(
    pkt: &Packet<'_>,
    flow_id: u64,
    pcap_cnt: u64,
    now: Timestamp,
) -> eve::Envelope<'static> {
    let (src_port, dst_port) = pkt.ports();
    eve::Envelope {
        ts: now,
        flow_id,
        pcap_cnt,
        event_type: "anomaly",
        src: pkt.src_addr(),
        src_port,
        dst: pkt.dst_addr(),
        dst_port,
        proto: pkt.ip.as_ref().map_or(0, |i| i.proto),
        vlan: eve::Vlans::of_packet(pkt),
        icmp: icmp_of(pkt),
    }
}

/// The ICMP type and code of an ICMP or ICMPv6 packet.
fn icmp_of(pkt: &Packet<'_>) -> Option<[u8; 2]> {
    match pkt.l4 {
        L4::Icmpv4(i) | L4::Icmpv6(i) => Some([i.kind, i.code]),
        _ => None,
    }
}

/// Renders the packet's decoder and stream events as EVE `anomaly` records (each event once).
#[allow(clippy::too_many_arguments)]
fn log_packet_anomalies<E: EventSink>(
    buf: &mut Vec<u8>,
    pkt: &Packet<'_>,
    flow_id: u64,
    pcap_cnt: u64,
    now: Timestamp,
    types: AnomalyTypes,
    stream: flow::StreamEvents,
    events: &mut E,
    counters: &mut PipelineCounters,
) {
    if (pkt.anomalies.is_empty() || !types.decode) && (stream.is_empty() || !types.stream) {
        return;
    }
    let env = packet_envelope(pkt, flow_id, pcap_cnt, now);
    let addresses = pkt.ip.is_some();
    if types.decode {
        for (i, a) in pkt.anomalies.iter().enumerate() {
            if pkt.anomalies.iter().take(i).any(|b| b.event == a.event) {
                continue;
            }
            buf.clear();
            eve::write_anomaly(
                buf,
                &env,
                addresses,
                eve::Anomaly::Decode(a.event.full_name()),
            );
            events.eve_line("anomaly", buf);
            counters.anomalies_logged += 1;
        }
    }
    if types.stream {
        for ev in stream.iter() {
            buf.clear();
            eve::write_anomaly(buf, &env, addresses, eve::Anomaly::Stream(ev.name()));
            events.eve_line("anomaly", buf);
            counters.anomalies_logged += 1;
        }
    }
}

/// Renders the app-layer events the flow raised since the last call as EVE `anomaly` records.
#[allow(clippy::too_many_arguments)]
fn log_app_anomalies<E: EventSink>(
    buf: &mut Vec<u8>,
    slot: &mut AppSlot,
    pkt: &Packet<'_>,
    flow_id: u64,
    pcap_cnt: u64,
    now: Timestamp,
    events: &mut E,
    counters: &mut PipelineCounters,
) {
    let Some(app) = slot.app.as_ref() else {
        return;
    };
    let held = app.events.len();
    let from = usize::from(slot.events_logged);
    if held <= from {
        return;
    }
    let env = packet_envelope(pkt, flow_id, pcap_cnt, now);
    let flow_proto = app.proto();
    for ev in app.events.iter().skip(from) {
        // `http.request_field_too_long`: the parser's protocol, then the event.
        let (proto, event) = ev.name().split_once('.').unwrap_or(("", ev.name()));
        let app_proto = match flow_proto {
            app::AppProto::Unknown | app::AppProto::Failed => proto,
            p => p.name(),
        };
        buf.clear();
        eve::write_anomaly(
            buf,
            &env,
            pkt.ip.is_some(),
            eve::Anomaly::AppLayer { app_proto, event },
        );
        events.eve_line("anomaly", buf);
        counters.anomalies_logged += 1;
    }
    slot.events_logged = held.min(u8::MAX as usize) as u8;
}

fn rules_app_proto(p: app::AppProto) -> Option<rules::ir::AppProto> {
    use rules::ir::AppProto as R;
    Some(match p {
        app::AppProto::Http | app::AppProto::WebSocket => R::Http,
        app::AppProto::Dns => R::Dns,
        app::AppProto::Tls => R::Tls,
        app::AppProto::Smtp => R::Smtp,
        app::AppProto::Ssh => R::Ssh,
        app::AppProto::Ftp => R::Ftp,
        app::AppProto::Unknown | app::AppProto::Failed => return None,
    })
}

fn alert_context(
    pkt: &Packet<'_>,
    flow_id: u64,
    pcap_cnt: u64,
    app_proto: Option<&'static str>,
) -> AlertContext {
    let unspecified = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
    let (src_port, dst_port) = pkt.ports();
    AlertContext {
        flow_id,
        pcap_cnt,
        proto: pkt.ip.as_ref().map_or(0, |i| i.proto),
        src: pkt.ip.as_ref().map_or(unspecified, |i| i.src),
        src_port,
        dst: pkt.ip.as_ref().map_or(unspecified, |i| i.dst),
        dst_port,
        app_proto,
        tx_id: None,
        vlan: crate::eve::Vlans::of_packet(pkt),
        icmp: icmp_of(pkt),
    }
}

/// IP protocol number of IGMP.
const IGMP: u8 = 2;

/// The flow layer's view of a decoded packet; `None` for packets that belong to no flow.
#[inline]
pub fn flow_packet<'p>(pkt: &'p Packet<'p>) -> Option<flow::Packet<'p>> {
    let ip = pkt.ip.as_ref()?;
    // Like Suricata, IGMP (multicast membership) sets up no flow.
    if ip.proto == IGMP {
        return None;
    }
    let (src_port, dst_port) = match pkt.l4 {
        L4::Tcp(t) => (t.src_port, t.dst_port),
        L4::Udp(u) => (u.src_port, u.dst_port),
        // Each echo session is its own flow: the echo id goes in both ports.
        L4::Icmpv4(i) | L4::Icmpv6(i) => (i.id, i.id),
        L4::Other(_) => (0, 0),
        // A fragment that was not reassembled, or a broken transport header: the flow layer
        // cannot place it without ports.
        L4::None => {
            if ip.frag.is_fragment {
                return None;
            }
            (0, 0)
        }
    };
    let zone = flow::zone(pkt.inner_vlan(), pkt.tunnel.id);
    let tuple = FlowTuple {
        zone,
        proto: ip.proto,
        src: ip.src,
        src_port,
        dst: ip.dst,
        dst_port,
    };
    let tcp = match pkt.l4 {
        L4::Tcp(t) => Some(TcpSegment {
            seq: t.seq,
            ack: t.ack,
            flags: TcpFlags(t.flags as u8),
            window: t.window,
            wscale: t.options.wscale,
            payload: pkt.payload,
        }),
        _ => None,
    };
    Some(flow::Packet {
        tuple,
        wire_len: pkt.flow_len() as u32,
        tcp,
        icmp: icmp_of(pkt),
    })
}

#[cfg(test)]
mod flow_state_tests {
    use super::*;

    /// The handle of a table's flow in `slot` (handles come from a table only).
    fn handle_of(slot: usize) -> FlowHandle {
        let mut t = FlowTable::new(FlowConfig::default()).unwrap();
        let mut h = None;
        for i in 0..=slot {
            let p = flow::Packet {
                tuple: FlowTuple {
                    zone: 0,
                    proto: proto::UDP,
                    src: IpAddr::from([10, 0, 0, 1]),
                    src_port: 1000 + i as u16,
                    dst: IpAddr::from([10, 0, 0, 2]),
                    dst_port: 53,
                },
                wire_len: 60,
                tcp: None,
                icmp: None,
            };
            let o = t
                .process(
                    &p,
                    Timestamp(1),
                    &mut flow::NullStreamSink,
                    &mut |_: &FlowRecord| {},
                )
                .unwrap();
            h = Some(o.flow);
        }
        h.unwrap()
    }

    /// A state used by one flow and recycled comes back to a new flow as if new.
    #[test]
    fn recycled_states_are_reset_for_the_next_flow() {
        let mut states = AppStates::new(16);
        let h0 = handle_of(0);
        let tuple = AppSlot::default().tuple;
        states.open(h0, tuple, None);
        {
            let s = states.get_mut(h0).unwrap();
            s.bytes = [10, 20];
            s.tail[0].extend_from_slice(b"old");
            s.tail_end = [3, 0];
            s.pd_done = true;
            s.events_logged = 2;
            s.detect.passed = true;
            s.tx_alerts.add(1, 7);
        }
        states.flow_ended(h0);
        assert!(
            states.get(h0).is_none(),
            "an ended flow's state leaves its slot"
        );
        let old = states.take_ended(h0.id).unwrap();
        states.recycle(old);
        // The recycled state goes to the next slot filled, then is made the new flow's.
        let h1 = handle_of(1);
        assert_ne!(h1.slot(), h0.slot());
        states.open(h1, tuple, None);
        let s = states.get(h1).unwrap();
        assert_eq!(s.id, h1.id);
        assert_eq!(s.bytes, [0, 0]);
        assert!(s.tail[0].is_empty());
        assert_eq!(s.tail_end, [0, 0]);
        assert!(!s.pd_done);
        assert_eq!(s.events_logged, 0);
        assert_eq!(s.detect, FlowDetectState::default());
        assert!(s.tx_alerts.is_empty());
    }
}
