//! The per-worker packet pipeline, independent of where packets come from: decode → flow table
//! and TCP reassembly → application layer → records for export.
//!
//! [`Pipeline::process`] takes one frame and its packet time; the DPDK worker loop and the pcap
//! reader ([`crate::io::pcap`]) both drive it, so tests and tools run the exact code the
//! workers run. Flow-end records and app-layer events leave through an [`EventSink`].

//!
//! One file per stage:
//! - [`blocklist`]: the block list, checked first (a hit inline drops the packet);
//! - [`sink`]: the [`EventSink`] and the records handed to it;
//! - [`flow_state`]: the per-flow app-layer and detection state, kept by flow-table slot;
//! - [`stream_app`]: reassembled stream data → the flow's app-layer parser;
//! - [`stream_inspect`]: stream-window inspection (patterns split across segments);
//! - [`packet_inspect`]: the packet's own rules in its flow;
//! - [`tx_inspect`] and [`tx_buffers`]: app-layer transaction inspection and the rule buffers a
//!   transaction answers;
//! - [`flow_end`]: what a flow's end emits;
//! - [`alerts`], [`anomalies`], [`app_records`]: EVE `alert`, `anomaly` and app-layer records;
//! - [`context`]: what the stages share (where and when, the detector and its pending
//!   alerts, protocol names across layers);
//! - [`views`]: pseudo and turned packets for inspections no packet of the right side triggers;
//! - [`bypass`]: bypassed flows (the `bypass` rule keyword, `stream.bypass`);
//! - [`exception`]: exception policies (flow, stream and defrag memcaps, app-layer errors);
//! - [`verdict`]: the packet's verdict, the one way any stage drops a packet (and, inline, its
//!   flow).
//!
//! Lower layers (`decode`, `flow`, `app`, `detect`, `eve`) never import this module.

mod alerts;
mod anomalies;
mod app_records;
mod blocklist;
mod bypass;
mod context;
pub mod evidence;
mod exception;
mod file_match;
mod flow_end;
mod flow_state;
mod packet_inspect;
mod sink;
mod stream_app;
mod stream_inspect;
#[cfg(test)]
mod tests;
mod tx_buffers;
mod tx_inspect;
mod verdict;
mod views;

use std::net::IpAddr;
use std::sync::Arc;

use crate::app::{self, AppConfig, AppCounters, AppLayer};
use crate::counters::CounterSet;
use crate::decode::{DecodeConfig, Decoder, HwChecksums, LinkType, Packet, L4};
use crate::detect::{DetectConfig, Detector, PacketView, Verdict};
use crate::flow::{
    self, proto, FlowConfig, FlowHandle, FlowRecord, FlowRecordSink, FlowTable, FlowTuple,
    TcpFlags, TcpSegment,
};
use crate::time::Timestamp;

use alerts::{collect, emit_alerts, packet_side, Pending};
use anomalies::{log_app_anomalies, log_packet_anomalies};
use app_records::{log_app_records, AppRecords};
use blocklist::{BlockOutcome, Blocks};
use context::{flow_app_proto, At, Detection};
use exception::Cause;
use flow_end::EndFlows;
use flow_state::AppStates;
use stream_app::StreamToApp;
use stream_inspect::{inspect_window, stream_overlap, StreamDetect, StreamWindow, Window};
use tx_buffers::HeaderLines;
use tx_inspect::TxInspect;
use views::icmp_of;

pub use anomalies::AnomalyTypes;
pub use blocklist::BlockCounters;
pub use context::PipelineCounters;
pub use exception::{ExceptionPolicies, ExceptionPolicy};
pub use sink::{EventSink, NullEvents};

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
    /// What to do when a packet or its flow escapes inspection.
    pub exceptions: ExceptionPolicies,
    /// Indicators matched on flows and transactions (EVE `intel` records); `None`: none.
    pub intel: Option<Arc<crate::intel::Table>>,
    /// The block list to start with (a hit drops the packet when `detect.inline`).
    pub blocklist: Option<Arc<crate::blocklist::BlockTable>>,
    /// The packet ring kept for evidence (off by default).
    pub evidence: evidence::RingConfig,
}

/// Tracked flows from which the worker prefetches each burst's flows: about 9 MiB of entries
/// and index, past what the caches keep warm beside everything else a worker touches.
pub const PREFETCH_MIN_FLOWS: usize = 32_768;

/// One worker's pipeline.
pub struct Pipeline {
    link: LinkType,
    decoder: Decoder,
    /// Everything after decoding, apart from the decoder that the packet being processed
    /// borrows.
    st: Stages,
    /// EVE app-layer records (`fileinfo` among them) are written.
    eve_logging: bool,
    /// The engine has `filemd5`/`filesha1`/`filesha256` rules.
    hash_rules: bool,
}

/// The stages after decoding and their reused scratch.
struct Stages {
    flows: FlowTable,
    /// Per-flow app-layer and detection state, by flow-table slot.
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
    /// Inline mode: verdicts are enforced (see [`verdict`]).
    enforce: bool,
    /// The verdict other stages asked for on the current packet and its flow
    /// ([`Stages::block`]).
    verdict: Verdict,
    /// The verdict asked for on the current packet alone ([`Stages::block_packet`]).
    packet_verdict: Verdict,
    exceptions: exception::Exceptions,
    intel: crate::intel::Matcher,
    blocks: Blocks,
    /// Recent packets kept for evidence; `None`: off.
    evidence: Option<evidence::Evidence>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Pipeline({:?}, {} flows)",
            self.link,
            self.st.flows.active()
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

impl Pipeline {
    /// A pipeline for frames of link type `link`.
    pub fn new(link: LinkType, cfg: &PipelineConfig) -> Result<Pipeline, PipelineError> {
        let decoder = Decoder::new(cfg.decode)?;
        let flows = FlowTable::new(cfg.flow.clone())?;
        let cap = flows.max_flows() as usize;
        let detector = match &cfg.engine {
            Some(e) => Some(Detector::new(e.clone(), cfg.detect)?),
            None => None,
        };
        let mut p = Pipeline {
            link,
            decoder,
            st: Stages {
                flows,
                apps: AppStates::new(cap),
                app_cfg: cfg.app.clone(),
                app_counters: AppCounters::default(),
                counters: PipelineCounters::default(),
                pcap_cnt: 0,
                ended: Vec::with_capacity(256),
                overlap: detector.as_ref().map_or(0, stream_overlap),
                detector,
                txi: TxInspect {
                    lines: HeaderLines::default(),
                    want_lines: cfg
                        .engine
                        .as_deref()
                        .is_some_and(tx_buffers::uses_header_lines),
                    eve_opts: crate::app::eve::EveOptions {
                        ja3: cfg.app.tls_fingerprints
                            || cfg.engine.as_deref().is_some_and(tx_buffers::uses_ja3),
                        ja4: cfg.app.tls_fingerprints,
                    },
                },
                pending: Vec::with_capacity(64),
                eve_buf: Vec::with_capacity(4096),
                stream_buf: Vec::new(),
                windows: Vec::new(),
                anomaly: cfg.anomaly,
                enforce: cfg.detect.inline,
                verdict: Verdict::Accept,
                packet_verdict: Verdict::Accept,
                exceptions: exception::Exceptions::new(&cfg.exceptions, cfg.detect.inline),
                intel: crate::intel::Matcher::new(cfg.intel.clone()),
                blocks: Blocks::new(cfg.blocklist.clone(), cfg.detect.inline),
                evidence: evidence::Evidence::new(&cfg.evidence),
            },
            eve_logging: cfg.app.eve_logging,
            hash_rules: cfg
                .engine
                .as_deref()
                .is_some_and(tx_buffers::uses_file_hashes),
        };
        p.decide_file_hashing();
        Ok(p)
    }

    /// Files are hashed only when something reads the digests: EVE `fileinfo` records, a
    /// `filemd5`-style rule, file-hash indicators.
    fn decide_file_hashing(&mut self) {
        self.st.app_cfg.files.hash =
            self.eve_logging || self.hash_rules || self.st.intel.wants_file_hashes();
    }

    /// Swaps the detection engine between bursts (hot reload). A pipeline started without
    /// an engine has no detector to swap into: it keeps running without detection.
    pub fn set_engine(
        &mut self,
        engine: Arc<rules::Engine>,
    ) -> Result<(), crate::detect::DetectError> {
        let want_lines = tx_buffers::uses_header_lines(&engine);
        let ja3 = tx_buffers::uses_ja3(&engine);
        if self.st.detector.is_some() {
            self.hash_rules = tx_buffers::uses_file_hashes(&engine);
            self.decide_file_hashing();
        }
        let st = &mut self.st;
        match st.detector.as_mut() {
            Some(d) => {
                d.set_engine(engine)?;
                st.overlap = stream_overlap(d);
                st.txi.want_lines = want_lines;
                st.txi.eve_opts.ja3 = ja3 || st.app_cfg.tls_fingerprints;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Runs `table`'s indicators from the next packet on (between bursts).
    pub fn set_intel(&mut self, table: Arc<crate::intel::Table>) {
        self.st.intel.set_table(table);
        self.decide_file_hashing();
    }

    /// Swaps the block list between bursts.
    pub fn set_blocklist(&mut self, table: Arc<crate::blocklist::BlockTable>) {
        self.st.blocks.set_table(table);
    }

    /// The flow table.
    pub fn flows(&self) -> &FlowTable {
        &self.st.flows
    }

    /// The decoder.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Packets processed so far (the packet number of the last one).
    pub fn pcap_cnt(&self) -> u64 {
        self.st.pcap_cnt
    }

    /// Every counter, by Suricata-style name.
    pub fn visit_counters(&self, f: &mut dyn FnMut(&'static str, u64)) {
        let st = &self.st;
        self.decoder.counters().visit(f);
        st.flows.counters().visit(f);
        st.flows.tcp_counters().visit(f);
        st.app_counters.visit(f);
        st.counters.visit(f);
        st.exceptions.visit(f);
        st.intel.counters().visit(f);
        st.blocks.counters.visit(f);
        if let Some(ev) = &st.evidence {
            ev.visit(f);
        }
        if let Some(d) = &st.detector {
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
        if self.st.flows.active() < PREFETCH_MIN_FLOWS {
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
        self.st.flows.prefetch_burst(&tuples[..n]);
    }

    /// Ends a burst: releases per-burst scratch memory.
    pub fn end_burst(&mut self) {
        if let Some(d) = self.st.detector.as_mut() {
            d.end_burst();
        }
    }

    /// Processes one frame captured at `now`.
    ///
    /// Returns the packet's verdict (see [`verdict`]): inline, [`Verdict::Drop`] when a `drop`
    /// rule matched it, its stream or its transactions, or its flow was dropped before, or the
    /// block list matched it (then it is not inspected at all); [`Verdict::Reject`] for the
    /// `reject` family; IDS mode accepts every packet.
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
        let Pipeline {
            link, decoder, st, ..
        } = self;
        st.pcap_cnt += 1;
        st.stream_buf.clear();
        st.windows.clear();
        // Decoded in place: returning the summary by value copied ~400 bytes per packet.
        let mut slot = None;
        let pkt = decoder.decode_offloaded_in(*link, frame, now, hw, &mut slot);
        let at = At {
            flow_id: 0,
            pcap_cnt: st.pcap_cnt,
            now,
        };
        // A listed address is dropped per packet before any flow work, so removing the entry
        // lets the flow's next packets through.
        if st.blocks.check(pkt, at, &mut st.eve_buf, events) == BlockOutcome::Drop {
            return Verdict::Drop;
        }
        if pkt.defrag_refused {
            st.packet_exception(Cause::DefragMemcap);
        }
        let flow = st.packet(pkt, now, events);
        if let (Some(ev), Some(h)) = (st.evidence.as_mut(), flow) {
            ev.packet(now.0, h.id.0, frame, &mut sink::ToSink(events));
        }
        st.settle(flow)
    }

    /// Expires idle flows (bounded work; call once per burst or when idle).
    pub fn sweep<E: EventSink>(&mut self, now: Timestamp, budget: usize, events: &mut E) {
        if let Some(ev) = self.st.evidence.as_mut() {
            ev.drain(&mut sink::ToSink(events));
        }
        self.st.end_flows(now, events, |flows, streams, mut ended| {
            flows.sweep(now, budget, streams, &mut ended);
        });
    }

    /// Ends every flow (shutdown, end of a capture): flushes streams and emits their records.
    pub fn finish<E: EventSink>(&mut self, now: Timestamp, events: &mut E) {
        if let Some(ev) = self.st.evidence.as_mut() {
            ev.drain(&mut sink::ToSink(events));
        }
        self.st.end_flows(now, events, |flows, streams, mut ended| {
            flows.drain_all(streams, &mut ended);
        });
    }
}

impl Stages {
    /// Everything after decoding, for one packet: flow tracking, the app layer, detection of
    /// the packet, its stream and its transactions, then the records that are due. Returns
    /// the packet's flow.
    #[inline]
    fn packet<E: EventSink>(
        &mut self,
        pkt: &Packet<'_>,
        now: Timestamp,
        events: &mut E,
    ) -> Option<FlowHandle> {
        let Some(fp) = flow_packet(pkt) else {
            self.counters.no_flow += 1;
            self.flowless(pkt, now, events);
            return None;
        };
        // Flows that end on the way (expired, evicted, reused) are collected, then emitted
        // once the table is no longer borrowed.
        self.ended.clear();
        let errors = exception::parser_errors(&self.app_counters);
        let refused = self.flows.tcp_counters().segment_memcap_drop;
        let outcome = match self.track(pkt, &fp, now) {
            Ok(o) => Some(o),
            Err(_) => {
                self.counters.flow_drop += 1;
                self.packet_exception(Cause::FlowMemcap);
                self.log_packet_anomalies(pkt, 0, Default::default(), now, events);
                None
            }
        };
        match outcome {
            Some(o) if o.bypassed => self.bypassed_flow_packet(o.flow),
            Some(o) => {
                self.log_packet_anomalies(pkt, o.flow.id.0, o.events, now, events);
                self.on_flow_packet(pkt, &fp, &o, now, events);
                if self.flows.tcp_counters().segment_memcap_drop != refused {
                    self.flow_exception(Cause::StreamMemcap, o.flow);
                }
                if exception::parser_errors(&self.app_counters) != errors {
                    self.flow_exception(Cause::AppLayerError, o.flow);
                }
            }
            None => {}
        }
        if self.detector.is_some() {
            self.inspect_windows(pkt, now);
            if !self.pending.is_empty() {
                self.emit_packet_alerts(outcome.map(|o| o.flow), events);
            }
            self.rule_bypass(outcome.map(|o| o.flow));
        }
        // EVE records of the transactions this packet completed, and their intel checks.
        if self.app_cfg.eve_logging || self.intel.is_on() {
            if let Some(o) = outcome.filter(|o| !o.bypassed) {
                if let Some(slot) = self.apps.get_mut(o.flow) {
                    let at = At {
                        flow_id: o.flow.id.0,
                        pcap_cnt: self.pcap_cnt,
                        now,
                    };
                    let out = AppRecords {
                        buf: &mut self.eve_buf,
                        opts: &self.txi.eve_opts,
                        write: self.app_cfg.eve_logging,
                        intel: &mut self.intel,
                    };
                    log_app_records(out, events, slot, at, false);
                }
            }
        }
        let mut end = self.end_flows_with(events);
        for rec in end.ended.iter() {
            end.end.flow_end(rec);
        }
        outcome.map(|o| o.flow)
    }

    /// A packet that belongs to no flow: its anomalies, then stateless detection.
    fn flowless<E: EventSink>(&mut self, pkt: &Packet<'_>, now: Timestamp, events: &mut E) {
        self.log_packet_anomalies(pkt, 0, Default::default(), now, events);
        let pending = &mut self.pending;
        if let Some(det) = self.detector.as_mut() {
            let pcap_cnt = self.pcap_cnt;
            let side = || packet_side(pkt, 0, pcap_cnt, vocab::AppProto::Unknown);
            det.inspect_packet(
                &PacketView::stateless(pkt),
                None,
                now,
                &mut collect(pending, side),
            );
            emit_alerts(pending, &mut self.eve_buf, det, Some(0), None, None, events);
            // No flow to bypass.
            det.take_bypass();
        }
    }

    /// Hands the packet to the flow table, its stream data on to the app layer (stream
    /// windows are kept in `windows` for inspection after the packet itself).
    #[inline]
    fn track(
        &mut self,
        pkt: &Packet<'_>,
        fp: &flow::Packet<'_>,
        now: Timestamp,
    ) -> Result<flow::PacketOutcome, flow::FlowDrop> {
        let Stages {
            flows,
            apps,
            app_cfg,
            app_counters,
            ended,
            detector,
            pending,
            stream_buf,
            overlap,
            windows,
            pcap_cnt,
            ..
        } = self;
        let mut streams = StreamToApp {
            apps,
            cfg: app_cfg,
            counters: app_counters,
            now,
            detect: detector.as_mut().map(|det| StreamDetect {
                det,
                buf: stream_buf,
                pending,
                deferred: Some(windows),
                pkt: Some(pkt),
                pcap_cnt: *pcap_cnt,
                overlap: *overlap,
            }),
        };
        flows.process(fp, now, &mut streams, &mut |r: &FlowRecord| ended.push(*r))
    }

    /// The packet's decoder and stream events as EVE `anomaly` records, when wanted.
    #[inline]
    fn log_packet_anomalies<E: EventSink>(
        &mut self,
        pkt: &Packet<'_>,
        flow_id: u64,
        stream: flow::StreamEvents,
        now: Timestamp,
        events: &mut E,
    ) {
        let types = self.anomaly;
        if !(events.wants_eve() && (types.decode || types.stream)) {
            return;
        }
        let at = At {
            flow_id,
            pcap_cnt: self.pcap_cnt,
            now,
        };
        let out = &mut anomalies::Out {
            buf: &mut self.eve_buf,
            events,
            counters: &mut self.counters,
        };
        log_packet_anomalies(out, pkt, at, types, stream);
    }

    /// The packet in its flow: the flow's state (created with the flow), the app layer of a
    /// datagram, app-layer anomalies, stream byte counts, then detection of the packet and of
    /// the transactions it changed.
    #[inline]
    fn on_flow_packet<E: EventSink>(
        &mut self,
        pkt: &Packet<'_>,
        fp: &flow::Packet<'_>,
        outcome: &flow::PacketOutcome,
        now: Timestamp,
        events: &mut E,
    ) {
        let h = outcome.flow;
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
            let app = transport.map(|t| {
                let mut a = AppLayer::new(t, client.src_port, client.dst_port);
                a.set_client(client.src);
                a
            });
            self.apps.open(h, client, app);
            if self.intel.is_on() {
                let at = crate::intel::At {
                    tuple: &client,
                    flow_id: h.id.0,
                    pcap_cnt: self.pcap_cnt,
                    now,
                };
                let wants = events.wants_eve();
                self.intel.flow_start(at, &mut |line: &[u8]| {
                    if wants {
                        events.eve_line("intel", line)
                    }
                });
            }
        }
        // The flow's state, found by the slot the table's lookup returned.
        let Some(slot) = self.apps.get_mut(h) else {
            return;
        };
        if slot.dropped {
            self.dropped_flow_packet();
            return;
        }
        if fp.tuple.proto == proto::UDP && !pkt.payload.is_empty() {
            if let Some(app) = slot.app.as_mut() {
                let dir = outcome.dir;
                app.on_datagram(&self.app_cfg, dir, pkt.payload, now, &mut self.app_counters);
            }
        }
        let at = At {
            flow_id: h.id.0,
            pcap_cnt: self.pcap_cnt,
            now,
        };
        if self.anomaly.applayer && events.wants_eve() {
            let out = &mut anomalies::Out {
                buf: &mut self.eve_buf,
                events,
                counters: &mut self.counters,
            };
            log_app_anomalies(out, slot, pkt, at);
        }
        if let L4::Tcp(_) = pkt.l4 {
            slot.bytes[usize::from(outcome.dir == flow::Direction::ToClient)] +=
                pkt.payload.len() as u64;
        }
        let app = slot.app.as_ref().map(|a| a.proto());
        if let Some(a) = app {
            self.flows.set_app_proto(h, flow_app_proto(a));
        }
        if let Some(det) = self.detector.as_mut() {
            let mut d = Detection {
                det,
                pending: &mut self.pending,
            };
            d.packet(&mut self.txi, slot, pkt, outcome, app, at);
        }
    }

    /// Stream data handed on while the packet was tracked: this flow's, and the last data of
    /// flows that ended on the way.
    fn inspect_windows(&mut self, pkt: &Packet<'_>, now: Timestamp) {
        let Some(det) = self.detector.as_mut() else {
            return;
        };
        let mut d = Detection {
            det,
            pending: &mut self.pending,
        };
        for w in self.windows.iter() {
            if let Some(s) = self.apps.find_mut(w.flow).filter(|s| !s.dropped) {
                let at = At {
                    flow_id: w.flow.id.0,
                    pcap_cnt: self.pcap_cnt,
                    now,
                };
                let win = StreamWindow {
                    dir: w.dir,
                    start: w.start,
                    bytes: &self.stream_buf[w.lo..w.hi],
                };
                inspect_window(&mut d, s, Some(pkt), at, win);
            }
        }
    }

    /// Emits the packet's alerts, with the counters and state of the packet's flow `cur`.
    fn emit_packet_alerts<E: EventSink>(&mut self, cur: Option<FlowHandle>, events: &mut E) {
        let Some(det) = self.detector.as_ref() else {
            return;
        };
        if let Some(ev) = self.evidence.as_mut() {
            for a in self.pending.iter() {
                ev.alert(a.sid, a.flow_id);
            }
        }
        if let Some(h) = cur {
            if self.pending.iter().any(|a| a.flow_id == h.id.0) {
                self.flows.set_alerted(h);
            }
        }
        let snap = cur.and_then(|h| self.flows.snapshot(h));
        let slot = cur.and_then(|h| self.apps.get(h));
        emit_alerts(
            &mut self.pending,
            &mut self.eve_buf,
            det,
            cur.map(|h| h.id.0),
            snap.as_ref(),
            slot,
            events,
        );
    }

    /// What processes the flows in `ended` once the table is no longer borrowed.
    fn end_flows_with<'a, E: EventSink>(&'a mut self, events: &'a mut E) -> Ending<'a, E> {
        Ending {
            ended: &self.ended,
            end: EndFlows {
                apps: &mut self.apps,
                events,
                detector: self.detector.as_mut(),
                txi: &mut self.txi,
                pcap_cnt: self.pcap_cnt,
                pending: &mut self.pending,
                eve_buf: &mut self.eve_buf,
                eve_logging: self.app_cfg.eve_logging,
                intel: &mut self.intel,
                app_anomalies: self.anomaly.applayer,
                counters: &mut self.counters,
            },
        }
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
        self.ended.clear();
        {
            let Stages {
                flows,
                apps,
                app_cfg,
                app_counters,
                ended,
                detector,
                pcap_cnt,
                pending,
                stream_buf,
                overlap,
                ..
            } = self;
            let mut streams = StreamToApp {
                apps,
                cfg: app_cfg,
                counters: app_counters,
                now,
                detect: detector.as_mut().map(|det| StreamDetect {
                    det,
                    buf: stream_buf,
                    pending,
                    deferred: None,
                    pkt: None,
                    pcap_cnt: *pcap_cnt,
                    overlap: *overlap,
                }),
            };
            end(flows, &mut streams, &mut |r: &FlowRecord| ended.push(*r));
        }
        let Ending { ended, mut end } = self.end_flows_with(events);
        for r in ended.iter() {
            end.flow_end(r);
        }
        if let Some(det) = end.detector.as_deref_mut() {
            // No packet is dropped outside a packet: these alerts were not blocking anything.
            for a in end.pending.iter_mut() {
                a.blocked = false;
            }
            if !end.pending.is_empty() {
                emit_alerts(end.pending, end.eve_buf, det, None, None, None, end.events);
            }
            // Outside a packet there is nothing to drop or bypass.
            det.take_verdict();
            det.take_bypass();
        }
    }
}

/// Flows that ended, and what processes their end.
struct Ending<'a, E: EventSink> {
    ended: &'a [FlowRecord],
    end: EndFlows<'a, E>,
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
        payload: pkt.payload,
    })
}
