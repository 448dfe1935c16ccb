//! The per-worker packet pipeline, independent of where packets come from: decode → flow table
//! and TCP reassembly → application layer → records for export.
//!
//! [`Pipeline::process`] takes one frame and its packet time; the DPDK worker loop and the pcap
//! reader ([`crate::io::pcap`]) both drive it, so tests and tools run the exact code the
//! workers run. Flow-end records and app-layer events leave through an [`EventSink`].

use hashbrown::HashMap;

use crate::app::{self, AppConfig, AppCounters, AppLayer};
use crate::counters::CounterSet;
use crate::decode::{DecodeConfig, Decoder, LinkType, Packet, L4};
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
}

/// What leaves the pipeline besides counters.
pub trait EventSink {
    /// A flow ended (timeout, close, eviction, shutdown).
    fn flow_end(&mut self, rec: &FlowRecord);
}

/// A sink that keeps nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullEvents;

impl EventSink for NullEvents {
    fn flow_end(&mut self, _: &FlowRecord) {}
}

impl<F: FnMut(&FlowRecord)> EventSink for F {
    fn flow_end(&mut self, rec: &FlowRecord) {
        self(rec)
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
}

impl CounterSet for PipelineCounters {
    fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        f("flow.no_flow", self.no_flow);
        f("flow.drop", self.flow_drop);
        f("app_layer.state_cap", self.app_state_cap);
    }
}

/// One flow's app-layer state.
struct AppSlot {
    app: AppLayer,
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
        if let Some(slot) = self.apps.by_flow.get_mut(&flow) {
            slot.app
                .on_stream(self.cfg, app_dir(dir), data, self.now, self.counters);
        }
    }
    fn gap(&mut self, flow: FlowId, dir: flow::Direction, _offset: u64, len: u64) {
        if let Some(slot) = self.apps.by_flow.get_mut(&flow) {
            slot.app.on_gap(app_dir(dir), len, self.counters);
        }
    }
    fn end(&mut self, flow: FlowId, dir: flow::Direction) {
        if let Some(slot) = self.apps.by_flow.get_mut(&flow) {
            slot.app
                .on_end(self.cfg, app_dir(dir), self.now, self.counters);
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
        if let Some(slot) = self.apps.by_flow.remove(&rec.id) {
            rec.app_proto = flow_app_proto(slot.app.proto());
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
    }

    /// Processes one frame captured at `now`.
    pub fn process<E: EventSink>(&mut self, frame: &[u8], now: Timestamp, events: &mut E) {
        self.pcap_cnt += 1;
        let Pipeline {
            link,
            decoder,
            flows,
            apps,
            app_cfg,
            app_counters,
            counters,
            ended,
            ..
        } = self;
        let pkt = decoder.decode(*link, frame, now);
        let Some(fp) = flow_packet(&pkt) else {
            counters.no_flow += 1;
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
                return;
            }
        };
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
                if let Some(t) = transport {
                    streams.apps.by_flow.insert(
                        outcome.flow.id,
                        AppSlot {
                            app: AppLayer::new(t, client.src_port, client.dst_port),
                        },
                    );
                }
            }
        }
        if fp.tuple.proto == proto::UDP && !pkt.payload.is_empty() {
            if let Some(slot) = streams.apps.by_flow.get_mut(&outcome.flow.id) {
                slot.app.on_datagram(
                    streams.cfg,
                    app_dir(outcome.dir),
                    pkt.payload,
                    now,
                    streams.counters,
                );
            }
        }
        if let Some(slot) = streams.apps.by_flow.get(&outcome.flow.id) {
            flows.set_app_proto(outcome.flow, flow_app_proto(slot.app.proto()));
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
