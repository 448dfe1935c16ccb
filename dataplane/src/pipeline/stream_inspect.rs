//! Stream-window inspection: reassembled data inspected as it is handed on, each chunk preceded
//! by the previous chunk's tail so that patterns split across segments match.

use crate::decode::Packet;
use crate::detect::{Detector, PacketView, StreamChunk};
use crate::flow::{self, FlowHandle};
use crate::time::Timestamp;

use super::alerts::{collect, packet_side, Pending};
use super::context::{rules_app_proto, seq_space, At, Detection};
use super::flow_state::AppSlot;
use super::views::{pseudo_packet, sent_by, turned};

/// Inspects reassembled stream data as it is handed on (IDS mode: once acknowledged; inline:
/// at once), so rules see patterns split across segments. While a packet is processed, the
/// windows are kept and inspected after the packet itself ([`super::Pipeline::process`]), so a rule
/// that alerted on the packet does not alert again on the same bytes in the stream.
pub(super) struct StreamDetect<'a, 'p> {
    pub(super) det: &'a mut Detector,
    /// Windows: each chunk preceded by the previous chunk's tail.
    pub(super) buf: &'a mut Vec<u8>,
    pub(super) pending: &'a mut Pending,
    /// Windows waiting for the packet's own inspection; `None`: inspect at once.
    pub(super) deferred: Option<&'a mut Vec<Window>>,
    /// The packet being processed; `None` at sweep and shutdown (a pseudo packet stands in).
    pub(super) pkt: Option<&'a Packet<'p>>,
    pub(super) pcap_cnt: u64,
    /// Bytes of each chunk kept to overlap the next (longest prefilter literal − 1, capped).
    pub(super) overlap: usize,
}

/// A stream window kept for inspection: `buf[lo..hi]` starts at stream offset `start`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Window {
    pub(super) flow: FlowHandle,
    pub(super) dir: flow::Direction,
    pub(super) start: u64,
    pub(super) lo: usize,
    pub(super) hi: usize,
}

/// Most bytes of a direction's stream kept to overlap its next chunk.
const MAX_STREAM_OVERLAP: usize = 256;

/// [`crate::detect::TxAlerts`] keys of stream inspection, per direction (rules that alerted on a packet or
/// the stream of that direction).
pub(super) const STREAM_KEY: [u64; 2] = [(1 << 60) | 1, (1 << 60) | 2];

impl StreamDetect<'_, '_> {
    pub(super) fn data(
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
            None => {
                let mut d = Detection {
                    det: self.det,
                    pending: self.pending,
                };
                let at = At {
                    flow_id: flow.id.0,
                    pcap_cnt: self.pcap_cnt,
                    now,
                };
                let win = StreamWindow {
                    dir,
                    start,
                    bytes: &self.buf[lo..hi],
                };
                inspect_window(&mut d, slot, self.pkt, at, win);
            }
        }
    }
}

/// Stream bytes of one direction to inspect: `bytes` start at stream offset `start`.
#[derive(Clone, Copy, Debug)]
pub(super) struct StreamWindow<'w> {
    pub(super) dir: flow::Direction,
    pub(super) start: u64,
    pub(super) bytes: &'w [u8],
}

/// Inspects one stream window of the flow whose state is `slot` (see
/// [`Detector::inspect_stream`]); `pkt` is the packet that handed the data on, `None` outside a
/// packet (a pseudo packet stands in).
pub(super) fn inspect_window(
    d: &mut Detection<'_>,
    slot: &mut AppSlot,
    pkt: Option<&Packet<'_>>,
    at: At,
    win: StreamWindow<'_>,
) {
    let dir = win.dir;
    let i = usize::from(dir == flow::Direction::ToClient);
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
        dir: Some(dir),
        established: true,
        app_proto,
        flow_id: at.flow_id,
        stream_active: true,
        stream_bytes: seq_space(&slot.bytes),
        proto_detected: false,
    };
    let named = app_proto.and(proto).unwrap_or_default();
    let pending = &mut *d.pending;
    d.det.inspect_stream(
        &view,
        StreamChunk {
            data: win.bytes,
            offset: win.start,
        },
        Some((STREAM_KEY[i], &mut slot.tx_alerts)),
        Some(&mut slot.detect),
        at.now,
        &mut collect(pending, || packet_side(&p, at.flow_id, at.pcap_cnt, named)),
    );
}

/// The stream overlap a detector needs, capped.
pub(super) fn stream_overlap(d: &Detector) -> usize {
    d.stream_overlap().min(MAX_STREAM_OVERLAP)
}
