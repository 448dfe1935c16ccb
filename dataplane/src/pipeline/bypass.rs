//! Flow bypass, Suricata's local bypass: a bypassed flow's later packets are counted by the
//! flow table (`flow.bypassed_packets`, `flow.bypassed_bytes`) and go through without
//! tracking, app-layer parsing or detection (inline: forwarded). A flow is bypassed by a rule
//! with the `bypass` keyword that matched one of its packets, by `stream.bypass` once a
//! direction reached the reassembly depth ([`crate::flow::StreamConfig::bypass`]), or by an
//! exception policy `bypass`. A flow dropped inline stays dropped.

use crate::flow::FlowHandle;

use super::Stages;

impl Stages {
    /// A packet of bypassed flow `h`: not inspected; dropped when the flow was dropped.
    #[inline]
    pub(super) fn bypassed_flow_packet(&mut self, h: FlowHandle) {
        if self.apps.get(h).is_some_and(|s| s.dropped) {
            self.dropped_flow_packet();
        }
    }

    /// After the packet's inspections: a rule with `bypass` matched, so its flow (if any) is
    /// bypassed from the next packet on.
    #[inline]
    pub(super) fn rule_bypass(&mut self, flow: Option<FlowHandle>) {
        let Some(det) = self.detector.as_mut() else {
            return;
        };
        if det.take_bypass() {
            if let Some(h) = flow {
                self.flows.set_bypassed(h);
            }
        }
    }
}
