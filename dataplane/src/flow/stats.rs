//! Flow and TCP counters of one worker, named like Suricata's stats.

use crate::counters::CounterSet;

use super::events::StreamEvent;

/// Flow table counters (`flow.*`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowCounters {
    /// Bytes of flow entries in use (`flow.memuse`).
    pub memuse: u64,
    /// Flows currently tracked (`flow.active`).
    pub active: u64,
    /// Flows created (`flow.total`).
    pub total: u64,
    /// TCP flows created (`flow.tcp`).
    pub tcp: u64,
    /// UDP flows created (`flow.udp`).
    pub udp: u64,
    /// ICMPv4 flows created (`flow.icmpv4`).
    pub icmpv4: u64,
    /// ICMPv6 flows created (`flow.icmpv6`).
    pub icmpv6: u64,
    /// Flows of other protocols created (`flow.other`).
    pub other: u64,
    /// Times the table entered emergency mode (`flow.emerg_mode_entered`).
    pub emerg_mode_entered: u64,
    /// Times the table left emergency mode (`flow.emerg_mode_over`).
    pub emerg_mode_over: u64,
    /// Flows ended by timeout while new (`flow.timeout_new`).
    pub timeout_new: u64,
    /// Flows ended by timeout while established (`flow.timeout_established`).
    pub timeout_established: u64,
    /// Flows ended by timeout while closed (`flow.timeout_closed`).
    pub timeout_closed: u64,
    /// Live flows evicted to make room (`flow.get_used_eviction`).
    pub get_used_eviction: u64,
    /// Packets that found no flow and could not get one (`flow.memcap_drop`).
    pub memcap_drop: u64,
    /// Closed TCP flows replaced by a new SYN on the same tuple (`flow.tcp_reuse`).
    pub tcp_reuse: u64,
    /// Flows ended at shutdown (`flow.end_shutdown`).
    pub end_shutdown: u64,
    /// Flow records handed to the record sink (`flow.records`).
    pub records: u64,
    /// Flows bypassed, for any reason (`flow.bypassed`).
    pub bypassed: u64,
    /// Flows bypassed because a direction reached the reassembly depth
    /// (`flow.bypassed_depth`, `stream.bypass`).
    pub bypassed_depth: u64,
    /// Packets of bypassed flows, counted and not inspected (`flow.bypassed_packets`).
    pub bypassed_packets: u64,
    /// Bytes of those packets (`flow.bypassed_bytes`).
    pub bypassed_bytes: u64,
}

impl CounterSet for FlowCounters {
    fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        f("flow.memuse", self.memuse);
        f("flow.active", self.active);
        f("flow.total", self.total);
        f("flow.tcp", self.tcp);
        f("flow.udp", self.udp);
        f("flow.icmpv4", self.icmpv4);
        f("flow.icmpv6", self.icmpv6);
        f("flow.other", self.other);
        f("flow.emerg_mode_entered", self.emerg_mode_entered);
        f("flow.emerg_mode_over", self.emerg_mode_over);
        f("flow.timeout_new", self.timeout_new);
        f("flow.timeout_established", self.timeout_established);
        f("flow.timeout_closed", self.timeout_closed);
        f("flow.get_used_eviction", self.get_used_eviction);
        f("flow.memcap_drop", self.memcap_drop);
        f("flow.tcp_reuse", self.tcp_reuse);
        f("flow.end_shutdown", self.end_shutdown);
        f("flow.records", self.records);
        f("flow.bypassed", self.bypassed);
        f("flow.bypassed_depth", self.bypassed_depth);
        f("flow.bypassed_packets", self.bypassed_packets);
        f("flow.bypassed_bytes", self.bypassed_bytes);
    }
}

/// TCP tracking and reassembly counters (`tcp.*`) plus one counter per stream event
/// (`stream.*`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpCounters {
    /// TCP sessions tracked: handshakes seen or midstream pick-ups (`tcp.sessions`).
    pub sessions: u64,
    /// Sessions picked up midstream (`tcp.midstream_pickups`).
    pub midstream_pickups: u64,
    /// TCP packets on a flow without a session (no SYN seen, midstream off) (`tcp.no_session`).
    pub no_session: u64,
    /// SYN packets (`tcp.syn`).
    pub syn: u64,
    /// SYN/ACK packets (`tcp.synack`).
    pub synack: u64,
    /// RST packets (`tcp.rst`).
    pub rst: u64,
    /// Gaps reported to consumers (`tcp.reassembly_gap`).
    pub reassembly_gap: u64,
    /// Segments (or parts) not stored because the reassembly memcap or the per-direction cap
    /// was reached (`tcp.segment_memcap_drop`).
    pub segment_memcap_drop: u64,
    /// Overlapping segments (`tcp.overlap`).
    pub overlap: u64,
    /// Overlaps whose data differed from the buffered data (`tcp.overlap_diff_data`).
    pub overlap_diff_data: u64,
    /// Directions that reached the reassembly depth (`tcp.stream_depth_reached`).
    pub stream_depth_reached: u64,
    /// Payload bytes handed to consumers (`tcp.reassembly_bytes`).
    pub reassembly_bytes: u64,
    /// Stream events raised, indexed by [`StreamEvent`].
    pub events: [u64; StreamEvent::COUNT],
}

impl CounterSet for TcpCounters {
    fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        f("tcp.sessions", self.sessions);
        f("tcp.midstream_pickups", self.midstream_pickups);
        f("tcp.no_session", self.no_session);
        f("tcp.syn", self.syn);
        f("tcp.synack", self.synack);
        f("tcp.rst", self.rst);
        f("tcp.reassembly_gap", self.reassembly_gap);
        f("tcp.segment_memcap_drop", self.segment_memcap_drop);
        f("tcp.overlap", self.overlap);
        f("tcp.overlap_diff_data", self.overlap_diff_data);
        f("tcp.stream_depth_reached", self.stream_depth_reached);
        f("tcp.reassembly_bytes", self.reassembly_bytes);
        for &ev in StreamEvent::ALL {
            f(ev.name(), self.events[ev as usize]);
        }
    }
}
