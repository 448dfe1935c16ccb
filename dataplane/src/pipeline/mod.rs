//! The per-worker packet pipeline, independent of where packets come from: decode → flow table
//! and TCP reassembly → application layer → records for export.
//!
//! [`Pipeline::process`] takes one frame and its packet time; the DPDK worker loop and the pcap
//! reader ([`crate::io::pcap`]) both drive it, so tests and tools run the exact code the
//! workers run. Flow-end records and app-layer events leave through an [`EventSink`].

//!
//! One file per stage:
//! - [`sink`]: the [`EventSink`] and the records handed to it;
//! - [`flow_state`]: the per-flow app-layer and detection state, kept by flow-table slot;
//! - [`stream_app`]: reassembled stream data → the flow's app-layer parser;
//! - [`stream_inspect`]: stream-window inspection (patterns split across segments);
//! - [`tx_inspect`] and [`tx_buffers`]: app-layer transaction inspection and the rule buffers a
//!   transaction answers;
//! - [`flow_end`]: what a flow's end emits;
//! - [`alerts`], [`anomalies`], [`app_records`]: EVE `alert`, `anomaly` and app-layer records;
//! - [`views`]: pseudo and turned packets for inspections no packet of the right side triggers.
//!
//! Lower layers (`decode`, `flow`, `app`, `detect`, `eve`) never import this module.

mod alerts;
mod anomalies;
mod app_records;
mod flow_end;
mod flow_state;
mod sink;
mod stream_app;
mod stream_inspect;
#[cfg(test)]
mod tests;
mod tx_buffers;
mod tx_inspect;
mod views;

use std::net::IpAddr;
use std::sync::Arc;

use crate::app::{self, AppConfig, AppCounters, AppLayer};
use crate::counters::CounterSet;
use crate::decode::{DecodeConfig, Decoder, HwChecksums, LinkType, Packet, L4};
use crate::detect::{DetectConfig, Detector, PacketView, Verdict};
use crate::flow::{
    self, proto, FlowConfig, FlowRecord, FlowRecordSink, FlowTable, FlowTuple, TcpFlags, TcpSegment,
};
use crate::time::Timestamp;

use alerts::{alert_context, emit_alerts, Pending};
use anomalies::{log_app_anomalies, log_packet_anomalies};
use app_records::log_app_records;
use flow_end::EndFlows;
use flow_state::AppStates;
use stream_app::{app_dir, StreamToApp};
use stream_inspect::{inspect_window, stream_overlap, StreamDetect, Window, STREAM_KEY};
use tx_buffers::HeaderLines;
use tx_inspect::{inspect_txs, TxInspect};
use views::icmp_of;

pub use anomalies::AnomalyTypes;
pub use sink::{AlertContext, EventSink, NullEvents};

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

/// Tracked flows from which the worker prefetches each burst's flows: about 9 MiB of entries
/// and index, past what the caches keep warm beside everything else a worker touches.
pub const PREFETCH_MIN_FLOWS: usize = 32_768;

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

/// `stream_size` values as Suricata computes them from sequence numbers: payload bytes plus
/// the one sequence number each side's SYN takes.
pub(super) fn seq_space(bytes: &[u64; 2]) -> [u64; 2] {
    [bytes[0] + 1, bytes[1] + 1]
}

pub(super) fn flow_app_proto(p: app::AppProto) -> flow::AppProto {
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
                    .is_some_and(tx_buffers::uses_header_lines),
                eve_opts: crate::app::eve::EveOptions {
                    ja3: cfg.engine.as_deref().is_some_and(tx_buffers::uses_ja3),
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
        let want_lines = tx_buffers::uses_header_lines(&engine);
        let ja3 = tx_buffers::uses_ja3(&engine);
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

pub(super) fn rules_app_proto(p: app::AppProto) -> Option<rules::ir::AppProto> {
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
