//! The packet's verdict, with Suricata's semantics: what the rules (and any other stage that
//! blocks, such as a block list) decided, settled once per packet.
//!
//! Inline mode ([`crate::detect::DetectConfig::inline`]) enforces it: a blocking verdict
//! drops the packet and marks its flow dropped ([`super::flow_state::AppSlot::dropped`]), so
//! every later packet of the flow is dropped without inspection; a `reject` also asks the
//! worker to answer (TCP RST or ICMP unreachable). IDS mode enforces nothing: every packet is
//! accepted and the flow keeps being inspected.
//!
//! Dropping has one entry point, [`Stages::block`]: any stage calls it with the verdict it
//! wants for the current packet, and [`Stages::settle`] applies it to the packet's flow.

use crate::detect::Verdict;
use crate::flow::FlowHandle;

use super::Stages;

impl Stages {
    /// Asks for verdict `v` on the packet being processed (merged with what the rules and
    /// other stages asked for: a reject beats a drop, a drop an accept). In inline mode the
    /// packet's flow is dropped with it once the packet is settled.
    #[inline]
    pub(super) fn block(&mut self, v: Verdict) {
        self.verdict = self.verdict.merge(v);
    }

    /// Asks for verdict `v` on the packet being processed only: its flow is not dropped with
    /// it (an exception policy's `drop-packet`).
    #[inline]
    pub(super) fn block_packet(&mut self, v: Verdict) {
        self.packet_verdict = self.packet_verdict.merge(v);
    }

    /// A packet of a dropped flow: dropped without inspection (counted).
    #[inline]
    pub(super) fn dropped_flow_packet(&mut self) {
        self.counters.dropped_flow_packets += 1;
        self.block(Verdict::Drop);
    }

    /// The packet's verdict, once every stage had its say: the rules' verdict merged with
    /// [`Stages::block`]'s. Inline, a blocking verdict drops flow `flow` too; in IDS mode the
    /// packet is always accepted.
    #[inline]
    pub(super) fn settle(&mut self, flow: Option<FlowHandle>) -> Verdict {
        let rules = self
            .detector
            .as_mut()
            .map_or(Verdict::Accept, |d| d.take_verdict());
        let flow_v = std::mem::take(&mut self.verdict).merge(rules);
        let v = std::mem::take(&mut self.packet_verdict).merge(flow_v);
        if !self.enforce || !v.blocks() {
            return Verdict::Accept;
        }
        self.counters.verdict_blocked += 1;
        if let Verdict::Reject(_) = v {
            self.counters.verdict_rejected += 1;
        }
        if let Some(slot) = flow
            .filter(|_| flow_v.blocks())
            .and_then(|h| self.apps.get_mut(h))
        {
            if !slot.dropped {
                slot.dropped = true;
                self.counters.flows_dropped += 1;
            }
        }
        v
    }
}
