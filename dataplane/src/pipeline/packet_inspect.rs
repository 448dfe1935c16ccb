//! Packet inspection in its flow: the packet's own rules (marked so that stream inspection of
//! the same bytes does not match them again), then the transactions the packet changed.

use crate::app;
use crate::decode::Packet;
use crate::detect::PacketView;
use crate::flow;

use super::alerts::{collect, packet_side};
use super::context::{rules_app_proto, seq_space, At, Detection};
use super::flow_state::AppSlot;
use super::stream_inspect::STREAM_KEY;
use super::tx_inspect::{inspect_txs, TxInspect, TxPass};

impl Detection<'_> {
    /// Inspects `pkt` of the flow whose state is `slot`, `app` the flow's protocol so far.
    #[inline]
    pub(super) fn packet(
        &mut self,
        txi: &mut TxInspect,
        slot: &mut AppSlot,
        pkt: &Packet<'_>,
        outcome: &flow::PacketOutcome,
        app: Option<app::AppProto>,
        at: At,
    ) {
        let known = app.filter(|a| !matches!(a, app::AppProto::Unknown | app::AppProto::Failed));
        let view = PacketView {
            pkt,
            dir: Some(outcome.dir),
            established: outcome.state == flow::FlowState::Established,
            app_proto: known.and_then(rules_app_proto),
            flow_id: at.flow_id,
            // Payload rules see each packet's payload here, and the reassembled stream
            // afterwards (patterns split across segments).
            stream_active: false,
            stream_bytes: seq_space(&slot.bytes),
            proto_detected: if !slot.pd_done && app.is_some_and(|a| a != app::AppProto::Unknown) {
                slot.pd_done = true;
                true
            } else {
                false
            },
        };
        let key = STREAM_KEY[usize::from(outcome.dir == flow::Direction::ToClient)];
        let pending = &mut *self.pending;
        // Rules that match the packet are marked so the stream inspection of the same bytes
        // does not match them again.
        self.det.inspect_packet_marking(
            &view,
            Some((key, &mut slot.tx_alerts)),
            Some(&mut slot.detect),
            at.now,
            &mut collect(pending, || {
                packet_side(pkt, at.flow_id, at.pcap_cnt, known.unwrap_or_default())
            }),
        );
        // A closing session still counts as established for its transactions: Suricata
        // would match them on its flow-end pseudo packets, which are.
        let pass = TxPass {
            dir: outcome.dir,
            established: view.established || outcome.state == flow::FlowState::Closed,
            flush: false,
        };
        inspect_txs(self, txi, slot, pkt, at, pass);
    }
}
