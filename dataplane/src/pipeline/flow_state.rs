//! The pipeline's per-flow record: app-layer and detection state kept beside the flow table's
//! entry, in the same slot.

use std::net::IpAddr;

use crate::app::AppLayer;
use crate::detect::{FlowDetectState, TxAlerts};
use crate::flow::{FlowHandle, FlowId, FlowTuple};

/// One flow's app-layer and detection state: the pipeline's half of the per-flow record, kept
/// in the slot of the flow's table entry ([`FlowHandle::slot`]).
#[derive(Debug)]
pub(super) struct AppSlot {
    /// The flow this state belongs to; `FlowId(0)` (no flow has it) while the slot is vacant.
    pub(super) id: FlowId,
    pub(super) app: Option<AppLayer>,
    pub(super) detect: FlowDetectState,
    /// Rules that alerted per transaction (app-layer rules alert once per transaction).
    pub(super) tx_alerts: TxAlerts,
    /// TCP payload bytes seen from the client and from the server (`stream_size`).
    pub(super) bytes: [u64; 2],
    /// The flow's tuple, client → server.
    pub(super) tuple: FlowTuple,
    /// Last bytes of each direction's inspected stream (overlap for the next chunk).
    pub(super) tail: [Vec<u8>; 2],
    /// Stream offset just past each tail.
    pub(super) tail_end: [u64; 2],
    /// Protocol detection finished and a packet was inspected since.
    pub(super) pd_done: bool,
    /// App-layer events already rendered as `anomaly` records (a prefix of `app.events`).
    pub(super) events_logged: u8,
    /// The flow was dropped (inline mode): every later packet of it is dropped uninspected.
    pub(super) dropped: bool,
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
            dropped: false,
        }
    }
}

impl AppSlot {
    /// Makes this state flow `id`'s, client → server `tuple`, forgetting whatever an earlier
    /// flow left in it; the tails keep their memory.
    pub(super) fn reset(&mut self, id: FlowId, tuple: FlowTuple, app: Option<AppLayer>) {
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
        self.dropped = false;
    }
}

/// The per-flow states, indexed like the flow table's slab: a packet reaches its flow's state
/// with the slot the table's lookup already found, and checks only that the slot still holds
/// the same flow.
///
/// Memory: `size_of::<AppSlot>()` bytes per slot (424 on x86-64), reserved up front for the
/// table's `max_flows` like the table's slab (pages are touched only as slots are used), plus
/// what the flow's parser state, stream tails and alert marks allocate; those are kept and
/// reused by later flows, except the parser state, allocated once per flow that gets one. The flow memcap (`flow.memuse`)
/// counts the table's own bytes per flow ([`flow::FLOW_BYTES_ACCOUNTED`]: entry, index
/// bucket, sweep slot), not these; they are bounded by the same flow count.
#[derive(Debug)]
pub(super) struct AppStates {
    /// By flow-table slot; grows as the table's slab does.
    pub(super) slots: Vec<AppSlot>,
    /// States of flows that ended during the current table call, taken out of their slots
    /// (which a new flow may take at once) until the flow's end is processed.
    pub(super) ended: Vec<AppSlot>,
    /// Vacant states whose buffers are kept for reuse.
    pub(super) spare: Vec<AppSlot>,
    /// FTP data connections the worker's control flows announced.
    pub(super) ftp_expect: crate::app::ftp::expect::Expectations,
}

/// Announced FTP data connections a worker waits for at once.
const FTP_EXPECT_CAP: usize = 256;

impl AppStates {
    pub(super) fn new(max_flows: usize) -> AppStates {
        AppStates {
            slots: Vec::with_capacity(max_flows),
            ended: Vec::with_capacity(64),
            spare: Vec::with_capacity(64),
            ftp_expect: crate::app::ftp::expect::Expectations::new(FTP_EXPECT_CAP),
        }
    }

    /// Flow `h`'s state, if it has one.
    #[inline]
    pub(super) fn get_mut(&mut self, h: FlowHandle) -> Option<&mut AppSlot> {
        self.slots.get_mut(h.slot()).filter(|s| s.id == h.id)
    }

    /// Flow `h`'s state, if it has one.
    #[inline]
    pub(super) fn get(&self, h: FlowHandle) -> Option<&AppSlot> {
        self.slots.get(h.slot()).filter(|s| s.id == h.id)
    }

    /// Flow `h`'s state, also when the flow ended during the current table call.
    pub(super) fn find_mut(&mut self, h: FlowHandle) -> Option<&mut AppSlot> {
        match self.slots.get_mut(h.slot()) {
            Some(s) if s.id == h.id => Some(s),
            _ => self.ended.iter_mut().find(|s| s.id == h.id),
        }
    }

    /// Gives new flow `h` a fresh state.
    pub(super) fn open(&mut self, h: FlowHandle, tuple: FlowTuple, app: Option<AppLayer>) {
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
    pub(super) fn flow_ended(&mut self, h: FlowHandle) {
        let Some(s) = self.slots.get_mut(h.slot()).filter(|s| s.id == h.id) else {
            return;
        };
        let vacant = self.spare.pop().unwrap_or_default();
        self.ended.push(std::mem::replace(s, vacant));
    }

    /// The state of flow `id`, which ended.
    pub(super) fn take_ended(&mut self, id: FlowId) -> Option<AppSlot> {
        let i = self.ended.iter().position(|s| s.id == id)?;
        Some(self.ended.swap_remove(i))
    }

    /// Keeps a finished state's memory for a later flow.
    pub(super) fn recycle(&mut self, mut s: AppSlot) {
        s.id = FlowId(0);
        s.app = None;
        self.spare.push(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{self, proto, FlowConfig, FlowRecord, FlowTable};
    use crate::time::Timestamp;

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
                payload: &[],
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
            s.dropped = true;
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
        assert!(!s.dropped);
        assert_eq!(s.detect, FlowDetectState::default());
        assert!(s.tx_alerts.is_empty());
    }
}
