//! TCP session tracking: handshake, sequence/ACK/window validation, FIN/RST close, and the
//! hand-off policy that drives reassembly.
//!
//! One [`TcpConn`] lives inside each TCP flow entry; half `0` is the client's sending side,
//! half `1` the server's. The tracker is lenient like an IDS must be: a packet that does not fit
//! raises a [`StreamEvent`] (named after Suricata's `stream.*` events) and is ignored for state,
//! it never aborts the flow.
//!
//! Hand-off (RFC 793 sequence space, RFC 7323 window scaling):
//! - IDS mode (`inline = false`): a direction's bytes go to consumers once the other side has
//!   acknowledged them, so what detection sees is what the receiver accepted.
//! - Inline mode: in-order bytes go at once; holes are reported as gaps once acknowledged.
//!
//! On RST, on the close of both sides and at flow end, everything buffered is flushed (holes
//! become gaps) and each direction gets one `end`.

use super::key::{Direction, FlowHandle};
use super::reassembly::{Limits, Reasm, SegmentPool, StreamSink, R_DEPTH, R_ENDED};
use super::stats::TcpCounters;

pub use super::events::{StreamEvent, StreamEvents};

/// TCP header flags (RFC 793, RFC 3168).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;

    /// Whether every bit of `mask` is set.
    #[inline]
    pub const fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

/// The TCP fields the tracker needs from one segment; cheap to build from a decoded header.
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful with ACK).
    pub ack: u32,
    /// Header flags.
    pub flags: TcpFlags,
    /// Raw (unscaled) window field.
    pub window: u16,
    /// Window scale option (SYN and SYN/ACK only), shift count.
    pub wscale: Option<u8>,
    /// TCP payload.
    pub payload: &'a [u8],
}

/// Session state, named as in Suricata's EVE `tcp.state`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum TcpState {
    /// No session: nothing usable seen yet.
    #[default]
    None,
    /// SYN seen.
    SynSent,
    /// SYN/ACK seen.
    SynRecv,
    /// Handshake completed, or picked up midstream.
    Established,
    /// One side sent FIN.
    FinWait1,
    /// One side's FIN acknowledged.
    FinWait2,
    /// Both sides sent FIN, neither acknowledged.
    Closing,
    /// Both FINs seen, one acknowledged.
    TimeWait,
    /// Both FINs acknowledged, or RST.
    Closed,
}

impl TcpState {
    /// Suricata's name for the state.
    pub const fn name(self) -> &'static str {
        match self {
            TcpState::None => "none",
            TcpState::SynSent => "syn_sent",
            TcpState::SynRecv => "syn_recv",
            TcpState::Established => "established",
            TcpState::FinWait1 => "fin_wait1",
            TcpState::FinWait2 => "fin_wait2",
            TcpState::Closing => "closing",
            TcpState::TimeWait => "time_wait",
            TcpState::Closed => "closed",
        }
    }
}

/// Stream tracking and reassembly settings (Suricata's `stream:` section).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamConfig {
    /// Inline (IPS) hand-off: data goes to consumers at once instead of once acknowledged.
    pub inline: bool,
    /// Pick up sessions whose handshake was not seen.
    pub midstream: bool,
    /// Reassembly depth per direction in bytes (Suricata's default: 1 MiB).
    pub depth: u64,
    /// Reassembly memcap per worker in bytes.
    pub memcap: usize,
    /// Most bytes one direction may hold buffered (unacknowledged or out of order).
    pub max_buffered_per_dir: usize,
    /// Suricata's `stream.bypass`: once either direction of a TCP flow reached `depth` (and
    /// was handed on up to it), the flow is bypassed: later packets are counted, not
    /// tracked or inspected.
    pub bypass: bool,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            inline: false,
            midstream: false,
            depth: 1 << 20,
            memcap: 64 << 20,
            max_buffered_per_dir: 1 << 20,
            bypass: false,
        }
    }
}

// Half flags.
const H_SEEN: u8 = 0x01;
const H_ACK_SEEN: u8 = 0x02;
const H_FIN: u8 = 0x04;
const H_FIN_ACKED: u8 = 0x08;
const H_WSCALE: u8 = 0x10;

// Connection flags.
const C_MIDSTREAM: u8 = 0x01;
/// Window sizes unknown (midstream: the scale factors were in the SYNs we missed).
const C_NO_WINDOW_CHECK: u8 = 0x02;
/// Split handshake (SYN, SYN, SYN/ACK, ACK): the server answered the SYN with a SYN of its own,
/// so the client sends the SYN/ACK and the server the final ACK.
const C_4WHS: u8 = 0x04;

/// Window assumed when the receiver's is smaller: an IDS must not reject what a real stack with
/// a slightly different view would accept.
const MIN_WINDOW: u32 = 65_535;

/// One sending side of a session.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Half {
    isn: u32,
    /// Next sequence number expected from this sender (highest end seen).
    next_seq: u32,
    /// Latest ACK this sender sent (acknowledges the other half's data).
    last_ack: u32,
    /// Window this sender advertised, scaled.
    window: u32,
    fin_seq: u32,
    wscale: u8,
    flags: u8,
    pub(crate) reasm: Reasm,
}

impl Half {
    fn start(&mut self, isn: u32, window: u16) {
        *self = Half {
            isn,
            next_seq: isn.wrapping_add(1),
            window: window as u32,
            flags: H_SEEN,
            ..Half::default()
        };
        self.reasm.set_origin(isn.wrapping_add(1));
    }
    fn window_limit(&self) -> u32 {
        self.window.max(MIN_WINDOW)
    }
}

/// Per-flow TCP state (embedded in the flow entry).
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpConn {
    pub(crate) half: [Half; 2],
    state: TcpState,
    flags: u8,
}

/// Everything a packet's TCP processing may touch besides the connection.
pub(crate) struct TcpCx<'a, S> {
    pub cfg: &'a StreamConfig,
    pub pool: &'a mut SegmentPool,
    pub ctr: &'a mut TcpCounters,
    pub sink: &'a mut S,
    pub flow: FlowHandle,
}

#[inline]
fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

#[inline]
fn seq_ge(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}

const DIRS: [Direction; 2] = [Direction::ToServer, Direction::ToClient];

impl TcpConn {
    /// Current session state.
    pub fn state(&self) -> TcpState {
        self.state
    }

    /// Whether the session was picked up midstream.
    pub fn is_midstream(&self) -> bool {
        self.flags & C_MIDSTREAM != 0
    }

    /// Whether the flow's orientation should flip before this packet: the first SYN came from
    /// the side we took as server, or a SYN/ACK from the side we took as client.
    pub(crate) fn wants_swap(&self, dir: Direction, flags: TcpFlags) -> bool {
        self.state == TcpState::None
            && flags.has(TcpFlags::SYN)
            && !flags.has(TcpFlags::RST)
            && (flags.has(TcpFlags::ACK) == (dir == Direction::ToServer))
    }

    /// Whether a SYN starts a new session on a closed one (port reuse).
    pub(crate) fn is_reuse(&self, dir: Direction, seg: &TcpSegment<'_>) -> bool {
        matches!(self.state, TcpState::TimeWait | TcpState::Closed)
            && seg.flags.0 & (TcpFlags::SYN | TcpFlags::ACK | TcpFlags::RST) == TcpFlags::SYN
            && !(dir == Direction::ToServer && seg.seq == self.half[0].isn)
    }

    /// Swaps client and server (only before any session state exists).
    pub(crate) fn swap(&mut self) {
        self.half.swap(0, 1);
    }

    /// Tracks one segment travelling in `dir`. Returns the events it raised (already counted).
    #[inline]
    pub(crate) fn process<S: StreamSink>(
        &mut self,
        dir: Direction,
        seg: &TcpSegment<'_>,
        cx: &mut TcpCx<'_, S>,
    ) -> StreamEvents {
        let mut ev = StreamEvents::default();
        let f = seg.flags;
        if f.has(TcpFlags::SYN) {
            if f.has(TcpFlags::ACK) {
                cx.ctr.synack += 1;
            } else {
                cx.ctr.syn += 1;
            }
        }
        if f.has(TcpFlags::RST) {
            cx.ctr.rst += 1;
        }
        match self.state {
            TcpState::None => self.on_none(dir, seg, cx, &mut ev),
            TcpState::SynSent => self.on_syn_sent(dir, seg, cx, &mut ev),
            TcpState::SynRecv => self.on_syn_recv(dir, seg, cx, &mut ev),
            TcpState::Closed => {
                if !seg.payload.is_empty() {
                    ev.insert(StreamEvent::PktAfterClose);
                }
            }
            _ => self.on_established(dir, seg, cx, &mut ev),
        }
        for e in ev.iter() {
            cx.ctr.events[e as usize] += 1;
        }
        ev
    }

    fn on_none<S: StreamSink>(
        &mut self,
        dir: Direction,
        seg: &TcpSegment<'_>,
        cx: &mut TcpCx<'_, S>,
        ev: &mut StreamEvents,
    ) {
        let f = seg.flags;
        let d = dir.index();
        if f.has(TcpFlags::RST) {
            ev.insert(StreamEvent::RstButNoSession);
            return;
        }
        if f.has(TcpFlags::SYN) && !f.has(TcpFlags::ACK) {
            // The table oriented the flow so that the SYN travels to the server.
            self.start_syn(d, seg);
            self.syn_data(d, seg, cx, ev);
            self.state = TcpState::SynSent;
            cx.ctr.sessions += 1;
            return;
        }
        if !cx.cfg.midstream {
            cx.ctr.no_session += 1;
            return;
        }
        cx.ctr.sessions += 1;
        cx.ctr.midstream_pickups += 1;
        self.flags |= C_MIDSTREAM | C_NO_WINDOW_CHECK;
        if f.has(TcpFlags::SYN) {
            // SYN/ACK without the SYN: the sender is the server.
            let s = &mut self.half[d];
            s.start(seg.seq, seg.window);
            s.last_ack = seg.ack;
            s.flags |= H_ACK_SEEN;
            self.half[1 - d].start(seg.ack.wrapping_sub(1), 0);
            self.state = TcpState::SynRecv;
            return;
        }
        self.half[d].start(seg.seq.wrapping_sub(1), seg.window);
        if f.has(TcpFlags::ACK) {
            self.half[1 - d].start(seg.ack.wrapping_sub(1), 0);
        }
        self.state = TcpState::Established;
        self.on_established(dir, seg, cx, ev);
    }

    /// TCP Fast Open (RFC 7413): data in the SYN is the first bytes of the stream.
    fn syn_data<S: StreamSink>(
        &mut self,
        d: usize,
        seg: &TcpSegment<'_>,
        cx: &mut TcpCx<'_, S>,
        ev: &mut StreamEvents,
    ) {
        if seg.payload.is_empty() {
            return;
        }
        let me = &mut self.half[d];
        let first = seg.seq.wrapping_add(1);
        let out = cx
            .pool
            .insert(&mut me.reasm, first, seg.payload, cx.cfg.depth, cx.ctr);
        if out.diff_overlap {
            ev.insert(StreamEvent::ReassemblyOverlapDifferentData);
        }
        if out.dropped {
            cx.ctr.segment_memcap_drop += 1;
        }
        me.next_seq = first.wrapping_add(seg.payload.len() as u32);
    }

    fn start_syn(&mut self, d: usize, seg: &TcpSegment<'_>) {
        self.half = [Half::default(); 2];
        let h = &mut self.half[d];
        h.start(seg.seq, seg.window);
        if let Some(ws) = seg.wscale {
            h.flags |= H_WSCALE;
            // RFC 7323 §2.3: shift counts above 14 are treated as 14.
            h.wscale = ws.min(14);
        }
    }

    fn on_syn_sent<S: StreamSink>(
        &mut self,
        dir: Direction,
        seg: &TcpSegment<'_>,
        cx: &mut TcpCx<'_, S>,
        ev: &mut StreamEvents,
    ) {
        let f = seg.flags;
        let syn_ack_expected = self.half[0].isn.wrapping_add(1);
        match dir {
            Direction::ToServer => {
                if f.has(TcpFlags::SYN) && f.has(TcpFlags::ACK) && self.flags & C_4WHS != 0 {
                    // Split handshake: the client acknowledges the server's SYN.
                    if seg.ack != self.half[1].isn.wrapping_add(1) {
                        ev.insert(StreamEvent::ThreeWhsSynackWithWrongAck);
                        return;
                    }
                    let c = &mut self.half[0];
                    c.last_ack = seg.ack;
                    c.flags |= H_ACK_SEEN;
                    self.state = TcpState::SynRecv;
                } else if f.has(TcpFlags::SYN) && f.has(TcpFlags::ACK) {
                    ev.insert(StreamEvent::ThreeWhsSynackInWrongDirection);
                } else if f.has(TcpFlags::SYN) && seg.seq != self.half[0].isn {
                    ev.insert(StreamEvent::ThreeWhsSynResendDiffSeq);
                    // A new SYN starts over: Fast Open data of the old one is dropped.
                    for h in &mut self.half {
                        cx.pool.release_all(&mut h.reasm);
                    }
                    self.start_syn(0, seg);
                    self.syn_data(0, seg, cx, ev);
                } else if f.has(TcpFlags::RST) {
                    self.close(cx);
                }
            }
            Direction::ToClient => {
                if f.has(TcpFlags::RST) {
                    // Connection refused: the RST must answer the SYN (RFC 793 p. 37).
                    if !f.has(TcpFlags::ACK) || seg.ack == syn_ack_expected {
                        self.close(cx);
                    } else {
                        ev.insert(StreamEvent::RstInvalidAck);
                    }
                } else if f.has(TcpFlags::SYN) && !f.has(TcpFlags::ACK) {
                    // The server answers with a SYN of its own: a split (four- or five-way)
                    // handshake, which Suricata also accepts.
                    let s = &mut self.half[1];
                    s.start(seg.seq, seg.window);
                    if let Some(ws) = seg.wscale {
                        s.wscale = ws.min(14);
                    }
                    self.flags |= C_4WHS;
                } else if f.has(TcpFlags::SYN) && f.has(TcpFlags::ACK) {
                    // With Fast Open the SYN/ACK may also acknowledge the SYN's data.
                    let tfo_ok =
                        seq_gt(seg.ack, syn_ack_expected) && seq_ge(self.half[0].next_seq, seg.ack);
                    if seg.ack != syn_ack_expected && !tfo_ok {
                        ev.insert(StreamEvent::ThreeWhsSynackWithWrongAck);
                        return;
                    }
                    let scaled = self.half[0].flags & H_WSCALE != 0 && seg.wscale.is_some();
                    let s = &mut self.half[1];
                    s.start(seg.seq, seg.window);
                    s.last_ack = seg.ack;
                    s.flags |= H_ACK_SEEN;
                    if scaled {
                        s.wscale = seg.wscale.unwrap_or(0).min(14);
                    } else {
                        // RFC 7323 §1.3: scaling applies only when both SYNs carry the option.
                        self.half[0].wscale = 0;
                    }
                    self.state = TcpState::SynRecv;
                }
            }
        }
    }

    fn on_syn_recv<S: StreamSink>(
        &mut self,
        dir: Direction,
        seg: &TcpSegment<'_>,
        cx: &mut TcpCx<'_, S>,
        ev: &mut StreamEvents,
    ) {
        let f = seg.flags;
        if f.has(TcpFlags::RST) {
            self.on_established(dir, seg, cx, ev);
            return;
        }
        match dir {
            Direction::ToClient => {
                if f.has(TcpFlags::SYN) {
                    if f.has(TcpFlags::ACK) && seg.ack != self.half[1].last_ack {
                        ev.insert(StreamEvent::ThreeWhsSynackResendWithDiffAck);
                    }
                } else if self.flags & C_MIDSTREAM != 0 {
                    // Picked up at the SYN/ACK and the client's ACK was missed.
                    self.state = TcpState::Established;
                    self.on_established(dir, seg, cx, ev);
                } else if self.flags & C_4WHS != 0 && f.has(TcpFlags::ACK) {
                    // Split handshake: the server's ACK of the client's SYN/ACK completes it.
                    if seg.ack != self.half[0].isn.wrapping_add(1) {
                        ev.insert(StreamEvent::ThreeWhsWrongSeqWrongAck);
                        return;
                    }
                    let s = &mut self.half[1];
                    s.last_ack = seg.ack;
                    s.flags |= H_ACK_SEEN;
                    self.state = TcpState::Established;
                    self.on_established(dir, seg, cx, ev);
                } else if f.has(TcpFlags::ACK) {
                    ev.insert(StreamEvent::ThreeWhsAckInWrongDir);
                }
            }
            Direction::ToServer => {
                if f.has(TcpFlags::SYN) || !f.has(TcpFlags::ACK) {
                    return;
                }
                let server_next = self.half[1].isn.wrapping_add(1);
                // A client whose Fast Open data the server did not take sends it again
                // right after the SYN.
                let seq_ok = seg.seq == self.half[0].next_seq
                    || seg.seq == self.half[0].isn.wrapping_add(1)
                    || self.flags & C_MIDSTREAM != 0;
                if seg.ack != server_next || !seq_ok {
                    ev.insert(StreamEvent::ThreeWhsWrongSeqWrongAck);
                    return;
                }
                self.state = TcpState::Established;
                self.on_established(dir, seg, cx, ev);
            }
        }
    }

    fn on_established<S: StreamSink>(
        &mut self,
        dir: Direction,
        seg: &TcpSegment<'_>,
        cx: &mut TcpCx<'_, S>,
        ev: &mut StreamEvents,
    ) {
        let f = seg.flags;
        let d = dir.index();
        let o = 1 - d;
        if f.has(TcpFlags::SYN) && !f.has(TcpFlags::RST) {
            // Handshake retransmissions after the fact carry nothing to track.
            return;
        }
        if self.half[d].flags & H_SEEN == 0 {
            // First packet from this side of a midstream session whose peer sent no ACK.
            self.half[d].start(seg.seq.wrapping_sub(1), seg.window);
        }
        if self.flags & C_NO_WINDOW_CHECK == 0 {
            // RFC 793 p. 69: the segment must start inside the receive window.
            let ahead = seg.seq.wrapping_sub(self.half[d].next_seq) as i32;
            if ahead > 0 && ahead as u32 > self.half[o].window_limit() {
                ev.insert(StreamEvent::EstPacketOutOfWindow);
                return;
            }
        }
        if f.has(TcpFlags::RST) {
            self.close(cx);
            return;
        }
        if f.has(TcpFlags::ACK) {
            let my_limit = self.half[d].window_limit();
            let peer = &mut self.half[o];
            let beyond = seg.ack.wrapping_sub(peer.next_seq) as i32;
            if beyond > 0 && beyond as u32 > peer.window_limit().max(my_limit) {
                ev.insert(StreamEvent::EstInvalidAck);
            } else {
                if beyond > 0 {
                    // The receiver acknowledged bytes we never saw: they become a gap.
                    peer.next_seq = seg.ack;
                }
                let me = &mut self.half[d];
                if me.flags & H_ACK_SEEN == 0 || seq_gt(seg.ack, me.last_ack) {
                    me.last_ack = seg.ack;
                    me.flags |= H_ACK_SEEN;
                }
            }
            let me = &mut self.half[d];
            me.window = (seg.window as u32) << me.wscale;
        }
        let len = seg.payload.len() as u32;
        if len > 0 {
            let me = &mut self.half[d];
            let out = cx
                .pool
                .insert(&mut me.reasm, seg.seq, seg.payload, cx.cfg.depth, cx.ctr);
            if out.diff_overlap {
                ev.insert(StreamEvent::ReassemblyOverlapDifferentData);
            }
            if out.dropped {
                cx.ctr.segment_memcap_drop += 1;
            }
            let end = seg.seq.wrapping_add(len);
            if seq_gt(end, me.next_seq) {
                me.next_seq = end;
            }
        }
        if f.has(TcpFlags::FIN) && self.half[d].flags & H_FIN == 0 {
            let me = &mut self.half[d];
            let fin_seq = seg.seq.wrapping_add(len);
            me.fin_seq = fin_seq;
            me.flags |= H_FIN;
            let off = me.reasm.off_of(fin_seq);
            me.reasm.fin_off = off.max(me.reasm.base_off as i64) as u64;
            if seq_gt(fin_seq.wrapping_add(1), me.next_seq) {
                me.next_seq = fin_seq.wrapping_add(1);
            }
        }
        if f.has(TcpFlags::ACK) {
            let peer = &mut self.half[o];
            if peer.flags & (H_FIN | H_FIN_ACKED) == H_FIN
                && seq_ge(seg.ack, peer.fin_seq.wrapping_add(1))
            {
                peer.flags |= H_FIN_ACKED;
            }
        }
        self.deliver(dir, cx, ev);
        self.update_close_state(cx);
    }

    /// Hands on what each direction may release under the configured policy. In IDS mode a
    /// direction's data is handed on while a packet of the other direction (the one that
    /// acknowledges it) is processed, as Suricata reassembles the opposing stream: Fast Open
    /// data acknowledged by the SYN/ACK thus reaches the app layer with the server's next
    /// packet, not with the client's handshake ACK.
    fn deliver<S: StreamSink>(
        &mut self,
        packet_dir: Direction,
        cx: &mut TcpCx<'_, S>,
        ev: &mut StreamEvents,
    ) {
        for (x, dir) in DIRS.into_iter().enumerate() {
            let (sender, receiver) = if x == 0 {
                let [a, b] = &mut self.half;
                (a, &*b)
            } else {
                let [a, b] = &mut self.half;
                (b, &*a)
            };
            if sender.reasm.flags & R_ENDED != 0 || !sender.reasm.has_origin() {
                continue;
            }
            let acked = if receiver.flags & H_ACK_SEEN != 0 {
                sender.reasm.off_of(receiver.last_ack).max(0) as u64
            } else {
                0
            };
            let data_limit = if cx.cfg.inline { u64::MAX } else { acked };
            let gaps = if !cx.cfg.inline && dir == packet_dir {
                0
            } else {
                let limits = Limits {
                    data: data_limit,
                    gap: acked,
                    depth: cx.cfg.depth,
                };
                cx.pool
                    .deliver(&mut sender.reasm, limits, cx.flow, dir, cx.sink, cx.ctr)
            };
            if gaps > 0 {
                ev.insert(StreamEvent::ReassemblySeqGap);
            }
            let r = &sender.reasm;
            if (sender.flags & H_FIN != 0 && r.base_off >= r.fin_off) || r.flags & R_DEPTH != 0 {
                cx.pool.finish(
                    &mut sender.reasm,
                    cx.cfg.depth,
                    cx.flow,
                    dir,
                    cx.sink,
                    cx.ctr,
                );
            }
        }
    }

    fn update_close_state<S: StreamSink>(&mut self, cx: &mut TcpCx<'_, S>) {
        let fins = [self.half[0].flags, self.half[1].flags].map(|fl| fl & H_FIN != 0);
        let acked = [self.half[0].flags, self.half[1].flags].map(|fl| fl & H_FIN_ACKED != 0);
        let next = match (fins[0] || fins[1], fins[0] && fins[1]) {
            (false, _) => return,
            (true, true) if acked[0] && acked[1] => TcpState::Closed,
            (true, true) if acked[0] || acked[1] => TcpState::TimeWait,
            (true, true) => TcpState::Closing,
            (true, false) if acked[0] || acked[1] => TcpState::FinWait2,
            (true, false) => TcpState::FinWait1,
        };
        if next == TcpState::Closed {
            self.close(cx);
        } else if next > self.state {
            self.state = next;
        }
    }

    /// Moves to `Closed`, flushing both directions.
    fn close<S: StreamSink>(&mut self, cx: &mut TcpCx<'_, S>) {
        self.state = TcpState::Closed;
        self.finish(cx);
    }

    /// Flushes and ends both directions (session close or flow end).
    pub(crate) fn finish<S: StreamSink>(&mut self, cx: &mut TcpCx<'_, S>) {
        for (h, dir) in self.half.iter_mut().zip(DIRS) {
            if h.flags & H_SEEN != 0 {
                cx.pool
                    .finish(&mut h.reasm, cx.cfg.depth, cx.flow, dir, cx.sink, cx.ctr);
            } else {
                cx.pool.release_all(&mut h.reasm);
            }
        }
    }

    /// Whether a direction reached the reassembly depth and was handed on up to it.
    pub(crate) fn depth_done(&self) -> bool {
        self.half
            .iter()
            .any(|h| h.reasm.flags & (R_DEPTH | R_ENDED) == R_DEPTH | R_ENDED)
    }

    /// Frees both directions' buffered chunks (the flow is bypassed: nothing more is handed
    /// on).
    pub(crate) fn release(&mut self, pool: &mut SegmentPool) {
        for h in &mut self.half {
            pool.release_all(&mut h.reasm);
        }
    }

    /// Chunks buffered by both directions.
    pub fn buffered_chunks(&self) -> usize {
        self.half[0].reasm.chunks() as usize + self.half[1].reasm.chunks() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_sets_list_exactly_their_members_in_order() {
        assert_eq!(StreamEvents::default().iter().count(), 0);
        for (i, &a) in StreamEvent::ALL.iter().enumerate() {
            for &b in &StreamEvent::ALL[i..] {
                let mut set = StreamEvents::default();
                set.insert(b);
                set.insert(a);
                let want: Vec<_> = StreamEvent::ALL
                    .iter()
                    .copied()
                    .filter(|e| *e == a || *e == b)
                    .collect();
                assert_eq!(set.iter().collect::<Vec<_>>(), want);
            }
        }
        let mut all = StreamEvents::default();
        StreamEvent::ALL.iter().for_each(|e| all.insert(*e));
        assert!(all.iter().eq(StreamEvent::ALL.iter().copied()));
    }
}
