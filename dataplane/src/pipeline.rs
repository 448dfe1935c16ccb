//! The per-worker packet pipeline, independent of where packets come from: decode → flow table
//! and TCP reassembly → application layer → records for export.
//!
//! [`Pipeline::process`] takes one frame and its packet time; the DPDK worker loop and the pcap
//! reader ([`crate::io::pcap`]) both drive it, so tests and tools run the exact code the
//! workers run. Flow-end records and app-layer events leave through an [`EventSink`].

use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashMap;

use crate::app::{self, AppConfig, AppCounters, AppLayer};
use crate::counters::CounterSet;
use crate::decode::{DecodeConfig, Decoder, LinkType, Packet, L4};
use crate::detect::{AlertEvent, DetectConfig, Detector, FlowDetectState, PacketView};
use crate::eve;
use crate::flow::{
    self, proto, FlowConfig, FlowId, FlowRecord, FlowRecordSink, FlowTable, FlowTuple, StreamSink,
    TcpFlags, TcpSegment,
};
use crate::time::Timestamp;

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
}

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
    /// App-layer states refused because the per-worker cap was reached.
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

/// One flow's app-layer and detection state.
struct AppSlot {
    app: Option<AppLayer>,
    detect: FlowDetectState,
    /// App-layer events already rendered as `anomaly` records (a prefix of `app.events`).
    events_logged: u8,
}

/// App-layer states by flow, bounded; freed states are kept for reuse.
struct AppStates {
    by_flow: HashMap<FlowId, AppSlot>,
    cap: usize,
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
    anomaly: AnomalyTypes,
    /// Worker-rendered EVE records are built here (reused, no allocation once warm).
    eve_buf: Vec<u8>,
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
struct StreamToApp<'a> {
    apps: &'a mut AppStates,
    cfg: &'a AppConfig,
    counters: &'a mut AppCounters,
    now: Timestamp,
}

fn app_dir(d: flow::Direction) -> app::Direction {
    match d {
        flow::Direction::ToServer => app::Direction::ToServer,
        flow::Direction::ToClient => app::Direction::ToClient,
    }
}

impl StreamSink for StreamToApp<'_> {
    fn data(&mut self, flow: FlowId, dir: flow::Direction, _offset: u64, data: &[u8]) {
        if let Some(app) = self
            .apps
            .by_flow
            .get_mut(&flow)
            .and_then(|s| s.app.as_mut())
        {
            app.on_stream(self.cfg, app_dir(dir), data, self.now, self.counters);
        }
    }
    fn gap(&mut self, flow: FlowId, dir: flow::Direction, _offset: u64, len: u64) {
        if let Some(app) = self
            .apps
            .by_flow
            .get_mut(&flow)
            .and_then(|s| s.app.as_mut())
        {
            app.on_gap(app_dir(dir), len, self.counters);
        }
    }
    fn end(&mut self, flow: FlowId, dir: flow::Direction) {
        if let Some(app) = self
            .apps
            .by_flow
            .get_mut(&flow)
            .and_then(|s| s.app.as_mut())
        {
            app.on_end(self.cfg, app_dir(dir), self.now, self.counters);
        }
    }
}

/// Ends flows: records out, app states released.
struct EndFlows<'a, E: EventSink> {
    apps: &'a mut AppStates,
    events: &'a mut E,
}

impl<E: EventSink> FlowRecordSink for EndFlows<'_, E> {
    fn flow_end(&mut self, rec: &FlowRecord) {
        let mut rec = *rec;
        if let Some(app) = self.apps.by_flow.remove(&rec.id).and_then(|s| s.app) {
            rec.app_proto = flow_app_proto(app.proto());
        }
        self.events.flow_end(&rec);
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
            apps: AppStates {
                by_flow: HashMap::with_capacity(cap.min(1 << 16)),
                cap,
            },
            app_cfg: cfg.app.clone(),
            app_counters: AppCounters::default(),
            counters: PipelineCounters::default(),
            pcap_cnt: 0,
            ended: Vec::with_capacity(256),
            detector: match &cfg.engine {
                Some(e) => Some(Detector::new(e.clone(), cfg.detect)?),
                None => None,
            },
            anomaly: cfg.anomaly,
            eve_buf: Vec::with_capacity(1024),
        })
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
                    zone: u32::from(h.vlan),
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
    pub fn process<E: EventSink>(&mut self, frame: &[u8], now: Timestamp, events: &mut E) {
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
            anomaly,
            eve_buf,
            ..
        } = self;
        let pkt = decoder.decode(*link, frame, now);
        let log_anomalies = events.wants_eve() && (anomaly.decode || anomaly.stream);
        let Some(fp) = flow_packet(&pkt) else {
            counters.no_flow += 1;
            if log_anomalies {
                let types = *anomaly;
                log_packet_anomalies(
                    eve_buf,
                    &pkt,
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
                let ctx = alert_context(&pkt, 0, pcap_cnt, None);
                det.inspect_packet(&PacketView::stateless(&pkt), None, now, &mut |ev| {
                    events.alert(&ev, &ctx)
                });
            }
            return;
        };
        let mut streams = StreamToApp {
            apps,
            cfg: app_cfg,
            counters: app_counters,
            now,
        };
        // Flows that end on the way (expired, evicted, reused) are collected, then emitted
        // once the table is no longer borrowed.
        ended.clear();
        let outcome = flows.process(&fp, now, &mut streams, &mut |r: &FlowRecord| ended.push(*r));
        for rec in ended.iter() {
            EndFlows {
                apps: streams.apps,
                events,
            }
            .flow_end(rec);
        }
        let outcome = match outcome {
            Ok(o) => o,
            Err(_) => {
                counters.flow_drop += 1;
                if log_anomalies {
                    let types = *anomaly;
                    log_packet_anomalies(
                        eve_buf,
                        &pkt,
                        0,
                        pcap_cnt,
                        now,
                        types,
                        Default::default(),
                        events,
                        counters,
                    );
                }
                return;
            }
        };
        if log_anomalies {
            let types = *anomaly;
            log_packet_anomalies(
                eve_buf,
                &pkt,
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
            if streams.apps.by_flow.len() >= streams.apps.cap {
                counters.app_state_cap += 1;
            } else {
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
                streams.apps.by_flow.insert(
                    outcome.flow.id,
                    AppSlot {
                        app: transport.map(|t| AppLayer::new(t, client.src_port, client.dst_port)),
                        detect: FlowDetectState::default(),
                        events_logged: 0,
                    },
                );
            }
        }
        if fp.tuple.proto == proto::UDP && !pkt.payload.is_empty() {
            if let Some(app) = streams
                .apps
                .by_flow
                .get_mut(&outcome.flow.id)
                .and_then(|s| s.app.as_mut())
            {
                app.on_datagram(
                    streams.cfg,
                    app_dir(outcome.dir),
                    pkt.payload,
                    now,
                    streams.counters,
                );
            }
        }
        let mut slot = streams.apps.by_flow.get_mut(&outcome.flow.id);
        if anomaly.applayer && events.wants_eve() {
            if let Some(s) = slot.as_deref_mut() {
                log_app_anomalies(
                    eve_buf,
                    s,
                    &pkt,
                    outcome.flow.id.0,
                    pcap_cnt,
                    now,
                    events,
                    counters,
                );
            }
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
                pkt: &pkt,
                dir: Some(match outcome.dir {
                    flow::Direction::ToServer => rules::ir::FlowDir::ToServer,
                    flow::Direction::ToClient => rules::ir::FlowDir::ToClient,
                }),
                established: outcome.state == flow::FlowState::Established,
                app_proto: known.and_then(rules_app_proto),
                flow_id: outcome.flow.id.0,
                // Payload rules inspect each packet's payload; stream-chunk inspection across
                // segments is not wired yet.
                stream_active: false,
                stream_bytes: [0; 2],
            };
            let ctx = alert_context(&pkt, outcome.flow.id.0, pcap_cnt, known.map(|a| a.name()));
            let mut alerted = false;
            det.inspect_packet(
                &view,
                slot.as_deref_mut().map(|s| &mut s.detect),
                now,
                &mut |ev| {
                    alerted = true;
                    events.alert(&ev, &ctx)
                },
            );
            if alerted {
                flows.set_alerted(outcome.flow);
            }
        }
        // Detection may have taken (cleared) the flow's events: later ones start at 0.
        if let Some(s) = slot {
            let held = s.app.as_ref().map_or(0, |a| a.events.len());
            s.events_logged = s.events_logged.min(held as u8);
        }
    }

    /// Expires idle flows (bounded work; call once per burst or when idle).
    pub fn sweep<E: EventSink>(&mut self, now: Timestamp, budget: usize, events: &mut E) {
        let Pipeline {
            flows,
            apps,
            app_cfg,
            app_counters,
            ended,
            ..
        } = self;
        ended.clear();
        {
            let mut streams = StreamToApp {
                apps,
                cfg: app_cfg,
                counters: app_counters,
                now,
            };
            flows.sweep(now, budget, &mut streams, &mut |r: &FlowRecord| {
                ended.push(*r)
            });
        }
        let mut end = EndFlows { apps, events };
        for r in ended.iter() {
            end.flow_end(r);
        }
    }

    /// Ends every flow (shutdown, end of a capture): flushes streams and emits their records.
    pub fn finish<E: EventSink>(&mut self, now: Timestamp, events: &mut E) {
        let Pipeline {
            flows,
            apps,
            app_cfg,
            app_counters,
            ended,
            ..
        } = self;
        ended.clear();
        {
            let mut streams = StreamToApp {
                apps,
                cfg: app_cfg,
                counters: app_counters,
                now,
            };
            flows.drain_all(&mut streams, &mut |r: &FlowRecord| ended.push(*r));
        }
        let mut end = EndFlows { apps, events };
        for r in ended.iter() {
            end.flow_end(r);
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
    }
}

/// IP protocol number of IGMP.
const IGMP: u8 = 2;

/// The flow layer's view of a decoded packet; `None` for packets that belong to no flow.
fn flow_packet<'p>(pkt: &'p Packet<'p>) -> Option<flow::Packet<'p>> {
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
    let zone = (pkt.inner_vlan() as u32) ^ pkt.tunnel.id.rotate_left(12);
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
        wire_len: pkt.frame.len() as u32,
        tcp,
    })
}
