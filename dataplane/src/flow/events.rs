//! TCP anomalies the tracker raises ([`StreamEvent`], named after Suricata's
//! `stream-events.rules`) and the set one packet raised ([`StreamEvents`]): below both the
//! tracker that raises them and the counters that count them.

macro_rules! stream_events {
    ($($(#[$doc:meta])* $v:ident = $name:literal,)*) => {
        /// A TCP anomaly, named after Suricata's `stream-events.rules`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum StreamEvent { $($(#[$doc])* $v,)* }
        impl StreamEvent {
            /// Every event, in discriminant order.
            pub const ALL: &'static [StreamEvent] = &[$(StreamEvent::$v,)*];
            /// Number of events.
            pub const COUNT: usize = Self::ALL.len();
            /// Suricata's event (and counter) name.
            pub const fn name(self) -> &'static str {
                match self { $(StreamEvent::$v => $name,)* }
            }
        }
    };
}

stream_events! {
    /// SYN retransmitted with another sequence number.
    ThreeWhsSynResendDiffSeq = "stream.3whs_syn_resend_diff_seq",
    /// SYN/ACK sent by the client.
    ThreeWhsSynackInWrongDirection = "stream.3whs_synack_in_wrong_direction",
    /// SYN/ACK that does not acknowledge the SYN.
    ThreeWhsSynackWithWrongAck = "stream.3whs_synack_with_wrong_ack",
    /// SYN/ACK retransmitted with another ACK.
    ThreeWhsSynackResendWithDiffAck = "stream.3whs_synack_resend_with_diff_ack",
    /// Handshake ACK sent by the server.
    ThreeWhsAckInWrongDir = "stream.3whs_ack_in_wrong_dir",
    /// Handshake ACK with a wrong sequence or ACK number.
    ThreeWhsWrongSeqWrongAck = "stream.3whs_wrong_seq_wrong_ack",
    /// Segment outside the receiver's window.
    EstPacketOutOfWindow = "stream.est_packet_out_of_window",
    /// ACK for data far beyond anything the peer could have sent.
    EstInvalidAck = "stream.est_invalid_ack",
    /// RST with a wrong ACK during the handshake.
    RstInvalidAck = "stream.rst_invalid_ack",
    /// RST on a flow without a session.
    RstButNoSession = "stream.rst_but_no_session",
    /// Overlapping data that differs from what was buffered.
    ReassemblyOverlapDifferentData = "stream.reassembly_overlap_different_data",
    /// A hole in the stream was skipped.
    ReassemblySeqGap = "stream.reassembly_seq_gap",
    /// Data after the session closed.
    PktAfterClose = "stream.pkt_after_close",
}

/// A set of [`StreamEvent`]s raised by one packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamEvents(u32);

// One bit per event.
const _: () = assert!(StreamEvent::COUNT <= 32);

impl StreamEvents {
    /// Adds an event.
    #[inline]
    pub fn insert(&mut self, ev: StreamEvent) {
        self.0 |= 1 << ev as u32;
    }
    /// Whether `ev` is in the set.
    pub const fn contains(self, ev: StreamEvent) -> bool {
        self.0 & (1 << ev as u32) != 0
    }
    /// Whether no event was raised.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The events in the set, in discriminant order.
    pub fn iter(self) -> impl Iterator<Item = StreamEvent> {
        // Set bits only: every TCP segment counts its events, and almost all raise none, so
        // walking all `COUNT` events per segment was a loop of ~25 tests for nothing.
        let mut bits = self.0;
        std::iter::from_fn(move || {
            let i = bits.trailing_zeros() as usize;
            bits &= bits.wrapping_sub(1);
            StreamEvent::ALL.get(i).copied()
        })
    }
}
