//! What the stages share: where and when an inspection or a record happens, the detector
//! with its pending alerts, and the mappings between the layers' protocol names.

use crate::app;
use crate::counters::CounterSet;
use crate::detect::Detector;
use crate::time::Timestamp;

use super::alerts::Pending;

/// Where and when an inspection or a record happens: the flow (0: none), the packet number
/// (0: outside a packet) and the time.
#[derive(Clone, Copy, Debug)]
pub(super) struct At {
    pub(super) flow_id: u64,
    pub(super) pcap_cnt: u64,
    pub(super) now: Timestamp,
}

/// A detector and the alerts its inspections raised, waiting for the inspection to be over.
pub(super) struct Detection<'a> {
    pub(super) det: &'a mut Detector,
    pub(super) pending: &'a mut Pending,
}

/// `stream_size` values as Suricata computes them from sequence numbers: payload bytes plus
/// the one sequence number each side's SYN takes.
pub(super) fn seq_space(bytes: &[u64; 2]) -> [u64; 2] {
    [bytes[0] + 1, bytes[1] + 1]
}

/// The flow record names an upgraded WebSocket flow by the protocol it started as.
pub(super) fn flow_app_proto(p: app::AppProto) -> app::AppProto {
    match p {
        app::AppProto::WebSocket => app::AppProto::Http,
        p => p,
    }
}

/// The protocol rules see: an upgraded WebSocket flow is HTTP; unknown and failed name none.
pub(super) fn rules_app_proto(p: app::AppProto) -> Option<app::AppProto> {
    match p {
        app::AppProto::WebSocket => Some(app::AppProto::Http),
        p => p.is_known().then_some(p),
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
    /// Inline: packets given a blocking verdict (a `drop`/`reject` rule, a dropped flow).
    pub verdict_blocked: u64,
    /// Inline: packets given a `reject` verdict (answered by the worker).
    pub verdict_rejected: u64,
    /// Inline: flows dropped.
    pub flows_dropped: u64,
    /// Inline: packets of dropped flows, dropped without inspection.
    pub dropped_flow_packets: u64,
}

impl CounterSet for PipelineCounters {
    fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        f("flow.no_flow", self.no_flow);
        f("flow.drop", self.flow_drop);
        f("app_layer.state_cap", self.app_state_cap);
        f("eve.anomaly", self.anomalies_logged);
        f("verdict.blocked", self.verdict_blocked);
        f("verdict.rejected", self.verdict_rejected);
        f("verdict.flows_dropped", self.flows_dropped);
        f("verdict.dropped_flow_packets", self.dropped_flow_packets);
    }
}
