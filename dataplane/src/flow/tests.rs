//! Flow table, TCP tracking and reassembly driven on simulated time.

use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;

use super::*;
use crate::counters::CounterSet;
use crate::time::Timestamp;

const SYN: u8 = TcpFlags::SYN;
const ACK: u8 = TcpFlags::ACK;
const FIN: u8 = TcpFlags::FIN;
const RST: u8 = TcpFlags::RST;
const PSH: u8 = TcpFlags::PSH;

/// Records everything a consumer would see and checks offsets are contiguous.
#[derive(Default, Debug)]
struct Consumer {
    data: [Vec<u8>; 2],
    gaps: [Vec<(u64, u64)>; 2],
    next: [u64; 2],
    ends: [u32; 2],
    calls_after_end: u32,
}

impl StreamSink for Consumer {
    fn data(&mut self, _: FlowHandle, dir: Direction, offset: u64, data: &[u8]) {
        let d = dir.index();
        assert_eq!(offset, self.next[d], "data offsets must be contiguous");
        assert!(!data.is_empty());
        self.calls_after_end += self.ends[d];
        self.data[d].extend_from_slice(data);
        self.next[d] += data.len() as u64;
    }
    fn gap(&mut self, _: FlowHandle, dir: Direction, offset: u64, len: u64) {
        let d = dir.index();
        assert_eq!(offset, self.next[d], "gap offsets must be contiguous");
        assert!(len > 0);
        self.calls_after_end += self.ends[d];
        self.gaps[d].push((offset, len));
        self.next[d] += len;
    }
    fn end(&mut self, _: FlowHandle, dir: Direction) {
        self.ends[dir.index()] += 1;
    }
}

struct Sim {
    table: FlowTable,
    now: Timestamp,
    out: Consumer,
    records: Vec<FlowRecord>,
    client: FlowTuple,
}

fn tuple(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, proto: u8) -> FlowTuple {
    FlowTuple {
        zone: 0,
        proto,
        src: IpAddr::V4(Ipv4Addr::from(src)),
        src_port: sport,
        dst: IpAddr::V4(Ipv4Addr::from(dst)),
        dst_port: dport,
    }
}

fn config(inline: bool) -> FlowConfig {
    FlowConfig {
        memcap: 4 << 20,
        hash_seed: Some([1, 2, 3, 4]),
        stream: StreamConfig {
            inline,
            memcap: 4 << 20,
            ..StreamConfig::default()
        },
        ..FlowConfig::default()
    }
}

impl Sim {
    fn new(cfg: FlowConfig) -> Sim {
        Sim {
            table: FlowTable::new(cfg).unwrap(),
            now: Timestamp::from_micros(1_700_000_000, 0),
            out: Consumer::default(),
            records: Vec::new(),
            client: tuple([10, 0, 0, 1], 40000, [10, 0, 0, 2], 80, proto::TCP),
        }
    }

    fn send(&mut self, tuple: FlowTuple, seg: Option<TcpSegment<'_>>) -> PacketOutcome {
        let pkt = Packet {
            icmp: None,
            payload: &[],
            tuple,
            wire_len: 54 + seg.map_or(0, |s| s.payload.len() as u32),
            tcp: seg,
        };
        let records = &mut self.records;
        self.table
            .process(&pkt, self.now, &mut self.out, &mut |r: &FlowRecord| {
                records.push(*r)
            })
            .unwrap()
    }

    fn tcp(
        &mut self,
        to_server: bool,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) -> PacketOutcome {
        let t = if to_server {
            self.client
        } else {
            self.client.reversed()
        };
        let seg = TcpSegment {
            seq,
            ack,
            flags: TcpFlags(flags),
            window: 65535,
            wscale: None,
            payload,
        };
        self.send(t, Some(seg))
    }

    fn handshake(&mut self, c: u32, s: u32) {
        assert_eq!(
            self.tcp(true, c, 0, SYN, b"").tcp_state,
            Some(TcpState::SynSent)
        );
        assert_eq!(
            self.tcp(false, s, c.wrapping_add(1), SYN | ACK, b"")
                .tcp_state,
            Some(TcpState::SynRecv)
        );
        let o = self.tcp(true, c.wrapping_add(1), s.wrapping_add(1), ACK, b"");
        assert_eq!(o.tcp_state, Some(TcpState::Established));
    }

    fn advance(&mut self, secs: u64) {
        self.now = self.now.plus_secs(secs);
    }

    fn sweep_all(&mut self) -> usize {
        let records = &mut self.records;
        self.table.sweep(
            self.now,
            usize::MAX,
            &mut self.out,
            &mut |r: &FlowRecord| records.push(*r),
        )
    }

    fn drain(&mut self) {
        let records = &mut self.records;
        self.table
            .drain_all(&mut self.out, &mut |r: &FlowRecord| records.push(*r));
    }

    fn event_count(&self, ev: StreamEvent) -> u64 {
        self.table.tcp_counters().events[ev as usize]
    }
}

#[test]
fn flow_entry_fits_in_256_bytes() {
    println!("flow entry: {FLOW_ENTRY_BYTES} bytes, accounted {FLOW_BYTES_ACCOUNTED}");
    let size = std::hint::black_box(FLOW_ENTRY_BYTES);
    assert!(size <= 256, "{size}");
}

#[test]
fn handshake_data_close_ids_mode() {
    let mut s = Sim::new(config(false));
    s.handshake(1000, 5000);
    // Request: not handed on until the server acknowledges it.
    s.tcp(true, 1001, 5001, ACK | PSH, b"GET / HTTP/1.1\r\n\r\n");
    assert!(s.out.data[0].is_empty());
    s.tcp(false, 5001, 1019, ACK | PSH, b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(s.out.data[0], b"GET / HTTP/1.1\r\n\r\n");
    assert!(s.out.data[1].is_empty());
    // Client acknowledges the response and closes.
    s.tcp(true, 1019, 5020, ACK | FIN, b"");
    assert_eq!(s.out.data[1], b"HTTP/1.1 200 OK\r\n\r\n");
    let o = s.tcp(false, 5020, 1020, ACK | FIN, b"");
    assert_eq!(o.tcp_state, Some(TcpState::TimeWait));
    let o = s.tcp(true, 1020, 5021, ACK, b"");
    assert_eq!(o.tcp_state, Some(TcpState::Closed));
    assert_eq!(o.state, FlowState::Closed);
    assert_eq!(s.out.ends, [1, 1]);
    assert_eq!(s.out.calls_after_end, 0);
    assert!(s.out.gaps[0].is_empty() && s.out.gaps[1].is_empty());
    // The closed flow ends after the TCP closed timeout (60 s).
    s.advance(30);
    assert_eq!(s.sweep_all(), 0);
    s.advance(31);
    assert_eq!(s.sweep_all(), 1);
    let r = s.records[0];
    assert_eq!(r.reason, EndReason::TcpClosed);
    assert_eq!(r.tuple, s.client);
    assert_eq!((r.pkts_toserver, r.pkts_toclient), (5, 3));
    assert_eq!(r.tcp_flags_ts.0, SYN | ACK | PSH | FIN);
    assert_eq!(r.tcp_flags_tc.0, SYN | ACK | PSH | FIN);
    assert_eq!(r.tcp_state, Some(TcpState::Closed));
    assert_eq!(s.table.counters().timeout_closed, 1);
    assert_eq!(s.table.counters().active, 0);
    assert_eq!(s.table.reassembly_memuse(), 0);
    assert_eq!(s.table.tcp_counters().sessions, 1);
    assert_eq!(s.table.tcp_counters().syn, 1);
    assert_eq!(s.table.tcp_counters().synack, 1);
}

#[test]
fn inline_mode_hands_on_at_once() {
    let mut s = Sim::new(config(true));
    s.handshake(1, 2);
    s.tcp(true, 2, 3, ACK, b"hello");
    assert_eq!(s.out.data[0], b"hello");
    // Out of order: held back until the hole fills.
    s.tcp(true, 12, 3, ACK, b"world");
    assert_eq!(s.out.data[0], b"hello");
    s.tcp(true, 7, 3, ACK, b", you");
    assert_eq!(s.out.data[0], b"hello, youworld");
    // A hole is not skipped until the receiver acknowledges past it.
    s.tcp(true, 20, 3, ACK, b"!");
    assert!(s.out.gaps[0].is_empty());
    s.tcp(false, 3, 20, ACK, b"");
    assert_eq!(s.out.gaps[0], vec![(15, 3)]);
    assert_eq!(s.out.data[0], b"hello, youworld!");
}

#[test]
fn rst_closes_and_flushes() {
    let mut s = Sim::new(config(false));
    s.handshake(100, 200);
    s.tcp(true, 101, 201, ACK, b"abc");
    let o = s.tcp(false, 201, 101, RST, b"");
    assert_eq!(o.tcp_state, Some(TcpState::Closed));
    // Unacknowledged data is flushed at close.
    assert_eq!(s.out.data[0], b"abc");
    assert_eq!(s.out.ends, [1, 1]);
    assert_eq!(s.table.tcp_counters().rst, 1);
    // Data after close is an anomaly, not a crash.
    let o = s.tcp(true, 104, 201, ACK, b"late");
    assert!(o.events.contains(StreamEvent::PktAfterClose));
}

#[test]
fn rst_out_of_window_is_ignored() {
    let mut s = Sim::new(config(false));
    s.handshake(100, 200);
    let o = s.tcp(false, 201 + 10_000_000, 101, RST, b"");
    assert!(o.events.contains(StreamEvent::EstPacketOutOfWindow));
    assert_eq!(o.tcp_state, Some(TcpState::Established));
}

#[test]
fn refused_connection() {
    let mut s = Sim::new(config(false));
    s.tcp(true, 7, 0, SYN, b"");
    let o = s.tcp(false, 0, 9, RST | ACK, b"");
    assert!(o.events.contains(StreamEvent::RstInvalidAck));
    let o = s.tcp(false, 0, 8, RST | ACK, b"");
    assert_eq!(o.tcp_state, Some(TcpState::Closed));
}

#[test]
fn reordered_segments_reassemble() {
    let mut s = Sim::new(config(false));
    s.handshake(0, 0);
    s.tcp(true, 11, 1, ACK, b"world");
    s.tcp(true, 6, 1, ACK, b" big ");
    s.tcp(true, 1, 1, ACK, b"hello");
    s.tcp(false, 1, 16, ACK, b"");
    assert_eq!(s.out.data[0], b"hello big world");
    assert!(s.out.gaps[0].is_empty());
}

#[test]
fn overlaps_first_data_wins() {
    let mut s = Sim::new(config(false));
    s.handshake(0, 0);
    s.tcp(true, 1, 1, ACK, b"AAAAAAAAAA");
    // Same bytes again: overlap, no anomaly.
    let o = s.tcp(true, 3, 1, ACK, b"AAAA");
    assert!(!o
        .events
        .contains(StreamEvent::ReassemblyOverlapDifferentData));
    assert_eq!(s.table.tcp_counters().overlap, 1);
    // Conflicting bytes spanning the end: old bytes kept, new tail appended.
    let o = s.tcp(true, 9, 1, ACK, b"XXYY");
    assert!(o
        .events
        .contains(StreamEvent::ReassemblyOverlapDifferentData));
    assert_eq!(s.table.tcp_counters().overlap_diff_data, 1);
    assert_eq!(
        s.event_count(StreamEvent::ReassemblyOverlapDifferentData),
        1
    );
    s.tcp(false, 1, 13, ACK, b"");
    assert_eq!(s.out.data[0], b"AAAAAAAAAAYY");
}

#[test]
fn overlap_filling_holes_between_buffered_segments() {
    let mut s = Sim::new(config(false));
    s.handshake(0, 0);
    s.tcp(true, 3, 1, ACK, b"cd");
    s.tcp(true, 7, 1, ACK, b"gh");
    // Covers both buffered pieces and the holes around them.
    s.tcp(true, 1, 1, ACK, b"abXdefZhij");
    assert_eq!(s.table.tcp_counters().overlap_diff_data, 2);
    s.tcp(false, 1, 11, ACK, b"");
    assert_eq!(s.out.data[0], b"abcdefghij");
}

#[test]
fn duplicates_are_delivered_once() {
    let mut s = Sim::new(config(true));
    s.handshake(0, 0);
    for _ in 0..3 {
        s.tcp(true, 1, 1, ACK, b"once");
    }
    s.tcp(true, 5, 1, ACK, b"twice");
    s.tcp(true, 5, 1, ACK, b"twice");
    assert_eq!(s.out.data[0], b"oncetwice");
}

#[test]
fn lost_segment_becomes_gap_when_acked() {
    let mut s = Sim::new(config(false));
    s.handshake(0, 0);
    s.tcp(true, 1, 1, ACK, b"aaaa");
    // Bytes 5..9 lost.
    s.tcp(true, 9, 1, ACK, b"cccc");
    s.tcp(false, 1, 5, ACK, b"");
    assert_eq!(s.out.data[0], b"aaaa");
    assert!(s.out.gaps[0].is_empty());
    // The server acknowledges everything: the hole is a gap.
    let o = s.tcp(false, 1, 13, ACK, b"");
    assert!(o.events.contains(StreamEvent::ReassemblySeqGap));
    assert_eq!(s.out.gaps[0], vec![(4, 4)]);
    assert_eq!(s.out.data[0], b"aaaacccc");
    assert_eq!(s.table.tcp_counters().reassembly_gap, 1);
    // Data acknowledged without ever being seen at the end of the stream.
    s.tcp(false, 1, 20, ACK, b"");
    assert_eq!(s.out.gaps[0], vec![(4, 4), (12, 7)]);
}

#[test]
fn depth_limit() {
    let mut cfg = config(true);
    cfg.stream.depth = 10;
    let mut s = Sim::new(cfg);
    s.handshake(0, 0);
    s.tcp(true, 1, 1, ACK, b"0123456");
    s.tcp(true, 8, 1, ACK, b"789abcdef");
    s.tcp(true, 17, 1, ACK, b"more");
    assert_eq!(s.out.data[0], b"0123456789");
    assert_eq!(s.out.ends[0], 1);
    assert_eq!(s.table.tcp_counters().stream_depth_reached, 1);
    assert_eq!(s.table.reassembly_memuse(), 0);
}

#[test]
fn reassembly_memcap_drops_and_counts() {
    let mut cfg = config(false);
    cfg.stream.memcap = 4 * CHUNK_SIZE;
    let mut s = Sim::new(cfg);
    s.handshake(0, 0);
    let big = vec![b'x'; 3000];
    s.tcp(true, 1, 1, ACK, &big);
    assert!(s.table.reassembly_memuse() <= 4 * CHUNK_SIZE);
    assert_eq!(s.table.tcp_counters().segment_memcap_drop, 1);
    // The ACK covers all 3000 bytes: what was stored is handed on, the rest is a gap.
    s.tcp(false, 1, 3001, ACK, b"");
    assert_eq!(s.out.data[0].len(), 4 * CHUNK_SIZE);
    assert_eq!(s.out.gaps[0], vec![(2048, 952)]);
    assert_eq!(s.table.reassembly_memuse(), 0);
}

#[test]
fn sequence_wraparound() {
    let mut s = Sim::new(config(false));
    let isn = u32::MAX - 5;
    s.handshake(isn, 77);
    s.tcp(true, isn.wrapping_add(1), 78, ACK, b"0123456789");
    s.tcp(true, isn.wrapping_add(11), 78, ACK, b"abc");
    s.tcp(false, 78, isn.wrapping_add(14), ACK, b"");
    assert_eq!(s.out.data[0], b"0123456789abc");
}

#[test]
fn midstream_pickup_is_optional() {
    let mut s = Sim::new(config(false));
    let o = s.tcp(true, 500, 900, ACK, b"data");
    assert_eq!(o.tcp_state, Some(TcpState::None));
    assert_eq!(s.table.tcp_counters().no_session, 1);

    let mut cfg = config(false);
    cfg.stream.midstream = true;
    let mut s = Sim::new(cfg);
    let o = s.tcp(true, 500, 900, ACK, b"data");
    assert_eq!(o.tcp_state, Some(TcpState::Established));
    s.tcp(false, 900, 504, ACK, b"resp");
    assert_eq!(s.out.data[0], b"data");
    s.tcp(true, 504, 904, ACK, b"");
    assert_eq!(s.out.data[1], b"resp");
    assert_eq!(s.table.tcp_counters().midstream_pickups, 1);
}

#[test]
fn synack_first_flips_orientation() {
    let mut cfg = config(false);
    cfg.stream.midstream = true;
    let mut s = Sim::new(cfg);
    // SYN/ACK from the server is the first packet seen.
    let o = s.tcp(false, 5000, 1001, SYN | ACK, b"");
    assert_eq!(o.dir, Direction::ToClient);
    assert_eq!(o.tcp_state, Some(TcpState::SynRecv));
    let o = s.tcp(true, 1001, 5001, ACK, b"hi");
    assert_eq!(o.dir, Direction::ToServer);
    assert_eq!(o.tcp_state, Some(TcpState::Established));
    s.drain();
    assert_eq!(s.records[0].tuple, s.client);
    assert_eq!(s.out.data[0], b"hi");
}

#[test]
fn syn_from_server_side_flips_orientation() {
    let mut s = Sim::new(config(false));
    // A stray packet from what turns out to be the server creates the flow first.
    s.send(s.client.reversed(), None);
    s.handshake(10, 20);
    s.drain();
    let r = s.records[0];
    assert_eq!(r.tuple, s.client);
    assert_eq!((r.pkts_toserver, r.pkts_toclient), (2, 2));
}

#[test]
fn handshake_anomalies() {
    let mut s = Sim::new(config(false));
    s.tcp(true, 100, 0, SYN, b"");
    let o = s.tcp(false, 300, 999, SYN | ACK, b"");
    assert!(o.events.contains(StreamEvent::ThreeWhsSynackWithWrongAck));
    let o = s.tcp(true, 300, 101, SYN | ACK, b"");
    assert!(o
        .events
        .contains(StreamEvent::ThreeWhsSynackInWrongDirection));
    let o = s.tcp(true, 150, 0, SYN, b"");
    assert!(o.events.contains(StreamEvent::ThreeWhsSynResendDiffSeq));
    s.tcp(false, 300, 151, SYN | ACK, b"");
    let o = s.tcp(true, 151, 999, ACK, b"");
    assert!(o.events.contains(StreamEvent::ThreeWhsWrongSeqWrongAck));
    assert_eq!(o.tcp_state, Some(TcpState::SynRecv));
    let o = s.tcp(false, 301, 151, ACK, b"");
    assert!(o.events.contains(StreamEvent::ThreeWhsAckInWrongDir));
    let o = s.tcp(true, 151, 301, ACK, b"");
    assert_eq!(o.tcp_state, Some(TcpState::Established));
    let o = s.tcp(true, 151 + 1_000_000, 301, ACK, b"far");
    assert!(o.events.contains(StreamEvent::EstPacketOutOfWindow));
    let o = s.tcp(true, 151, 301 + 10_000_000, ACK, b"");
    assert!(o.events.contains(StreamEvent::EstInvalidAck));
    let mut names = Vec::new();
    s.table.visit(&mut |n, v| names.push((n, v)));
    assert!(names.contains(&("stream.3whs_synack_with_wrong_ack", 1)));
    assert!(names.contains(&("flow.active", 1)));
    assert!(names.iter().any(|(n, _)| *n == "tcp.reassembly_memuse"));
}

#[test]
fn tcp_port_reuse_starts_a_new_flow() {
    let mut s = Sim::new(config(false));
    s.handshake(10, 20);
    s.tcp(true, 11, 21, RST, b"");
    let first = s.tcp(true, 11, 21, ACK, b"").flow;
    let o = s.tcp(true, 5000, 0, SYN, b"");
    assert!(o.new_flow);
    assert_ne!(o.flow.id, first.id);
    assert!(!s.table.is_live(first));
    assert_eq!(s.records.len(), 1);
    assert_eq!(s.records[0].reason, EndReason::TcpReuse);
    assert_eq!(s.table.counters().tcp_reuse, 1);
}

fn udp(s: &mut Sim, to_server: bool) -> PacketOutcome {
    let t = tuple([10, 0, 0, 1], 5353, [10, 0, 0, 9], 53, proto::UDP);
    s.send(if to_server { t } else { t.reversed() }, None)
}

#[test]
fn timeouts_per_state() {
    let mut s = Sim::new(config(false));
    // UDP one-way: new timeout (30 s).
    udp(&mut s, true);
    s.advance(30);
    assert_eq!(s.sweep_all(), 0);
    s.advance(1);
    assert_eq!(s.sweep_all(), 1);
    assert_eq!(s.table.counters().timeout_new, 1);
    // UDP both ways: established timeout (300 s).
    udp(&mut s, true);
    assert_eq!(udp(&mut s, false).state, FlowState::Established);
    s.advance(299);
    assert_eq!(s.sweep_all(), 0);
    s.advance(2);
    assert_eq!(s.sweep_all(), 1);
    assert_eq!(s.table.counters().timeout_established, 1);
    // TCP half-open: 60 s.
    s.tcp(true, 1, 0, SYN, b"");
    s.advance(59);
    assert_eq!(s.sweep_all(), 0);
    s.advance(2);
    assert_eq!(s.sweep_all(), 1);
    // TCP established: 600 s.
    s.handshake(1, 1);
    s.advance(599);
    assert_eq!(s.sweep_all(), 0);
    s.advance(2);
    assert_eq!(s.sweep_all(), 1);
    assert_eq!(s.records.len(), 4);
    assert!(s.records.iter().all(|r| r.reason == EndReason::Timeout));
    // A packet on an expired flow that the sweep has not reached starts a new flow.
    let first = udp(&mut s, true).flow;
    s.advance(31);
    let o = udp(&mut s, true);
    assert!(o.new_flow);
    assert_ne!(o.flow.id, first.id);
    assert_eq!(s.records.len(), 5);
    assert_eq!(s.table.counters().timeout_new, 3);
}

#[test]
fn sweep_is_incremental() {
    let mut s = Sim::new(config(false));
    for p in 0..100u16 {
        s.send(tuple([10, 0, 0, 1], p, [10, 0, 0, 2], 53, proto::UDP), None);
    }
    s.advance(100);
    let records = &mut s.records;
    let mut sink = |r: &FlowRecord| records.push(*r);
    let ended = s.table.sweep(s.now, 10, &mut s.out, &mut sink);
    assert_eq!(ended, 10);
    let mut total = ended;
    for _ in 0..20 {
        total += s.table.sweep(s.now, 10, &mut s.out, &mut sink);
    }
    assert_eq!(total, 100);
    assert_eq!(s.table.active(), 0);
}

#[test]
fn emergency_mode_evicts_and_recovers() {
    let mut cfg = config(false);
    cfg.max_flows = 100;
    let mut s = Sim::new(cfg);
    for p in 0..100u16 {
        s.send(tuple([10, 0, 0, 1], p, [10, 0, 0, 2], 53, proto::UDP), None);
    }
    assert!(!s.table.in_emergency());
    s.advance(1);
    for p in 100..150u16 {
        s.send(tuple([10, 0, 0, 1], p, [10, 0, 0, 2], 53, proto::UDP), None);
    }
    assert!(s.table.in_emergency());
    assert_eq!(s.table.active(), 100);
    assert_eq!(s.table.counters().emerg_mode_entered, 1);
    assert_eq!(s.table.counters().get_used_eviction, 50);
    assert_eq!(s.records.len(), 50);
    assert!(s.records.iter().all(|r| r.reason == EndReason::Evicted));
    // Emergency timeout for new UDP flows is 10 s instead of 30 s.
    s.advance(11);
    assert_eq!(s.sweep_all(), 100);
    assert!(!s.table.in_emergency());
    assert_eq!(s.table.counters().emerg_mode_over, 1);
}

#[test]
fn syn_flood_of_a_million_sources() {
    let mut cfg = config(false);
    cfg.memcap = 8 << 20;
    let mut s = Sim::new(cfg);
    let max = s.table.max_flows() as usize;
    s.handshake(1000, 2000);
    let mut seq = 1001u32;
    let mut delivered = 0usize;
    for i in 0..1_000_000u32 {
        let src = (0xC000_0000u32 | i).to_be_bytes();
        let t = tuple(
            src,
            (i % 60000) as u16 + 1024,
            [10, 0, 0, 2],
            80,
            proto::TCP,
        );
        let seg = TcpSegment {
            seq: i,
            ack: 0,
            flags: TcpFlags(SYN),
            window: 1024,
            wscale: None,
            payload: b"",
        };
        s.send(t, Some(seg));
        if i % 1000 == 0 {
            // The established flow keeps talking through the flood.
            s.now = Timestamp(s.now.0 + 1_000_000);
            let o = s.tcp(true, seq, 2001, ACK, b"ping");
            assert_eq!(o.tcp_state, Some(TcpState::Established), "at {i}");
            assert!(!o.new_flow, "established flow evicted at {i}");
            seq += 4;
            s.tcp(false, 2001, seq, ACK, b"");
            delivered += 4;
        }
        assert!(s.table.active() <= max);
        assert!(s.table.counters().memuse as usize <= 8 << 20);
    }
    assert_eq!(s.out.data[0].len(), delivered);
    let c = s.table.counters();
    assert!(c.emerg_mode_entered >= 1);
    assert!(c.get_used_eviction + c.timeout_new >= 1_000_000 - max as u64);
    println!(
        "max_flows {max}, evictions {}, records {}",
        c.get_used_eviction,
        s.records.len()
    );
}

#[test]
fn drain_all_reports_every_flow_once() {
    let mut s = Sim::new(config(false));
    s.handshake(1, 1);
    s.tcp(true, 2, 2, ACK, b"pending");
    udp(&mut s, true);
    s.send(tuple([10, 0, 0, 1], 0, [10, 0, 0, 3], 0, proto::ICMP), None);
    s.drain();
    assert_eq!(s.records.len(), 3);
    assert!(s.records.iter().all(|r| r.reason == EndReason::Shutdown));
    assert_eq!(s.out.data[0], b"pending");
    assert_eq!(s.table.counters().end_shutdown, 3);
    assert_eq!(s.table.counters().icmpv4, 1);
    assert_eq!(s.table.active(), 0);
    assert_eq!(s.table.counters().memuse, 0);
}

#[test]
fn app_proto_and_alerted_reach_the_record() {
    let mut s = Sim::new(config(false));
    let h = udp(&mut s, true).flow;
    s.table.set_app_proto(h, AppProto::Dns);
    s.table.set_alerted(h);
    s.drain();
    assert_eq!(s.records[0].app_proto, AppProto::Dns);
    assert!(s.records[0].alerted);
    // Stale handles are ignored.
    s.table.set_alerted(h);
    assert!(!s.table.is_live(h));
}

#[test]
fn config_errors() {
    let cfg = FlowConfig {
        memcap: 10,
        ..FlowConfig::default()
    };
    assert!(matches!(
        FlowTable::new(cfg),
        Err(FlowConfigError::MemcapTooSmall { .. })
    ));
}

/// Splits `data` into segments per `cuts`, shuffles, duplicates some, and feeds them through a
/// handshaken session, then acknowledges everything.
fn reassemble(
    data: &[u8],
    cuts: &[usize],
    order: &[usize],
    dups: &[usize],
    inline: bool,
    isn: u32,
) -> Consumer {
    let mut s = Sim::new(config(inline));
    s.handshake(isn, 7);
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    bounds.push(0);
    bounds.push(data.len());
    bounds.sort_unstable();
    bounds.dedup();
    let mut segs: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
    for (i, o) in order.iter().enumerate() {
        if !segs.is_empty() {
            let n = segs.len();
            segs.swap(i % n, o % n);
        }
    }
    for d in dups {
        if !segs.is_empty() {
            segs.push(segs[d % segs.len()]);
        }
    }
    for (a, b) in segs {
        s.tcp(true, isn.wrapping_add(1 + a as u32), 8, ACK, &data[a..b]);
    }
    s.tcp(false, 8, isn.wrapping_add(1 + data.len() as u32), ACK, b"");
    std::mem::take(&mut s.out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn random_segmentation_reassembles(
        data in proptest::collection::vec(any::<u8>(), 0..4000),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
        order in proptest::collection::vec(any::<usize>(), 0..40),
        dups in proptest::collection::vec(any::<usize>(), 0..8),
        inline in any::<bool>(),
        isn in any::<u32>(),
    ) {
        let out = reassemble(&data, &cuts, &order, &dups, inline, isn);
        prop_assert_eq!(&out.data[0], &data);
        prop_assert!(out.gaps[0].is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// The fuzz target's invariants on random inputs.
    #[test]
    fn fuzz_driver_invariants(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        super::fuzz_driver::run(&data);
    }
}

/// The driver reaches reassembly: a scripted input delivers data.
#[test]
fn fuzz_driver_delivers() {
    // Mode 0 (IDS), zero bases, handshake on tuple 0, 120 bytes to the server, server ACK.
    let mut input = vec![0u8];
    input.extend([0u8; 48]);
    input.push(0x24);
    input.extend([0x42, 0x10, 0, 0, 0, 0, 10, 0xff, 0xff]);
    input.extend([0x48, 0x10, 0, 0, 120, 0, 0, 0xff, 0xff]);
    assert_eq!(super::fuzz_driver::run(&input), 120);
}

/// Fuzz finding: conflicting bytes delivered in the same call that created the flow.
#[test]
fn fuzz_regression_corrupt_on_new_flow() {
    let mut input = vec![3u8];
    input.extend([0u8; 11]);
    input.extend([0x6c; 47]);
    input.extend([0u8; 14]);
    input.extend([
        0x10, 0, 0, 0, 0, 0, 0, 0, 0x24, 0x42, 0x10, 0x01, 0, 0, 0x09, 0x49, 0,
    ]);
    input.extend([
        0x10, 0xf0, 0, 0, 0, 0x0a, 0xff, 0xff, 0xe2, 0x0a, 0xff, 0xff, 0, 0xc8, 0xc8,
    ]);
    super::fuzz_driver::run(&input);
}

/// RFC 7323: the receive window used for validation is scaled only when both SYNs offered it.
#[test]
fn window_scaling_widens_the_receive_window() {
    for (ws_client, ws_server, expect_event) in [
        (Some(7), Some(7), false),
        (Some(7), None, true),
        (None, None, true),
    ] {
        let mut s = Sim::new(config(true));
        let seg = |seq, ack, flags, wscale| TcpSegment {
            seq,
            ack,
            flags: TcpFlags(flags),
            window: 65535,
            wscale,
            payload: b"",
        };
        let c = s.client;
        s.send(c, Some(seg(0, 0, SYN, ws_client)));
        s.send(c.reversed(), Some(seg(0, 1, SYN | ACK, ws_server)));
        s.send(c, Some(seg(1, 1, ACK, None)));
        // The server advertises its (possibly scaled) window with an ACK.
        s.send(c.reversed(), Some(seg(1, 1, ACK, None)));
        let far = TcpSegment {
            payload: b"x",
            ..seg(1 + 1_000_000, 1, ACK, None)
        };
        let o = s.send(c, Some(far));
        assert_eq!(
            o.events.contains(StreamEvent::EstPacketOutOfWindow),
            expect_event,
            "{ws_client:?}/{ws_server:?}"
        );
    }
}

#[test]
fn split_handshake_is_tracked() {
    // SYN, SYN from the server, SYN/ACK from the client, ACK from the server (the 4-way
    // "split handshake"; a stray server ACK first makes it the 5-way one).
    for five in [false, true] {
        let mut s = Sim::new(config(true));
        assert_eq!(
            s.tcp(true, 1000, 0, SYN, b"").tcp_state,
            Some(TcpState::SynSent)
        );
        if five {
            s.tcp(false, 2000, 1001, ACK, b"");
        }
        assert_eq!(
            s.tcp(false, 3000, 0, SYN, b"").tcp_state,
            Some(TcpState::SynSent)
        );
        assert_eq!(
            s.tcp(true, 1000, 3001, SYN | ACK, b"").tcp_state,
            Some(TcpState::SynRecv)
        );
        let o = s.tcp(false, 3001, 1001, ACK, b"");
        assert_eq!(o.tcp_state, Some(TcpState::Established));
        assert_eq!(o.state, FlowState::Established);
        s.tcp(true, 1001, 3001, ACK | PSH, b"EVIL");
        assert_eq!(s.out.data[0], b"EVIL");
        // A wrong acknowledgement does not complete it.
        let mut s = Sim::new(config(true));
        s.tcp(true, 1000, 0, SYN, b"");
        s.tcp(false, 3000, 0, SYN, b"");
        s.tcp(true, 1000, 3001, SYN | ACK, b"");
        let o = s.tcp(false, 3001, 7, ACK, b"");
        assert_eq!(o.tcp_state, Some(TcpState::SynRecv));
        assert!(o.events.contains(StreamEvent::ThreeWhsWrongSeqWrongAck));
    }
}

#[test]
fn fast_open_data_in_the_syn_is_stream_data() {
    // RFC 7413: the SYN carries the request; the SYN/ACK acknowledges it.
    let mut s = Sim::new(config(false));
    s.tcp(true, 1000, 0, SYN, b"GET / HTTP/1.1\r\n\r\n");
    let o = s.tcp(false, 5000, 1019, SYN | ACK, b"");
    assert_eq!(o.tcp_state, Some(TcpState::SynRecv));
    let o = s.tcp(true, 1019, 5001, ACK, b"");
    assert_eq!(o.tcp_state, Some(TcpState::Established));
    // IDS mode hands the client's data on with the server's next packet, as Suricata does.
    assert!(s.out.data[0].is_empty());
    s.tcp(false, 5001, 1019, ACK, b"");
    assert_eq!(s.out.data[0], b"GET / HTTP/1.1\r\n\r\n");
    // The server did not take the data: the client sends it again after the handshake.
    let mut s = Sim::new(config(false));
    s.tcp(true, 1000, 0, SYN, b"GET / HTTP/1.1\r\n\r\n");
    s.tcp(false, 5000, 1001, SYN | ACK, b"");
    let o = s.tcp(true, 1001, 5001, ACK | PSH, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(o.tcp_state, Some(TcpState::Established));
    s.tcp(false, 5001, 1019, ACK, b"");
    assert_eq!(s.out.data[0], b"GET / HTTP/1.1\r\n\r\n");
}

/// Found by `cargo +nightly fuzz run flow_reassembly` (550k runs): a SYN carrying data (from
/// the server, picked up midstream) whose bytes the driver wrote one sequence number early;
/// the reassembler placed them right, the driver's model of the bytes was wrong.
#[test]
fn fuzz_regression_syn_data_starts_after_the_syn() {
    const INPUT: [u8; 351] = [
        0xc3, 0xff, 0xff, 0xff, 0xff, 0x49, 0x49, 0xff, 0xff, 0xff, 0x48, 0x0a, 0x49, 0x49, 0x35,
        0x35, 0x36, 0x30, 0x38, 0x2e, 0x31, 0x30, 0xff, 0xff, 0xff, 0xff, 0x04, 0x00, 0x00, 0x02,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x69, 0x00, 0x49, 0x00, 0x49, 0x49, 0x49, 0x49, 0x49,
        0x49, 0x49, 0x49, 0x49, 0x49, 0x49, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x49, 0x48, 0x0a,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x49, 0x49, 0xff, 0xff, 0xff, 0x48, 0x0a, 0x49, 0x49,
        0x49, 0x49, 0x49, 0x48, 0x0a, 0x48, 0x70, 0x33, 0x35, 0x32, 0x31, 0x30, 0x3f, 0x00, 0x04,
        0x35, 0x35, 0x35, 0x35, 0x30, 0x32, 0x35, 0x32, 0x33, 0x49, 0x49, 0x49, 0x49, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x49, 0x48, 0x36, 0x2f, 0x3f, 0x22, 0x00, 0xff, 0xff, 0x24, 0x0f,
        0x3f, 0x04, 0x31, 0x30, 0x33, 0x35, 0x32, 0x31, 0x30, 0x3f, 0x00, 0x04, 0x35, 0x35, 0x35,
        0x35, 0x35, 0x35, 0x36, 0x30, 0x38, 0x2e, 0x31, 0x32, 0x35, 0x32, 0x33, 0x36, 0x2f, 0x3f,
        0x22, 0x00, 0xff, 0xff, 0x24, 0x0f, 0x3f, 0x04, 0x31, 0x30, 0x33, 0x35, 0x32, 0x31, 0x30,
        0x3f, 0x00, 0x04, 0x35, 0x35, 0x35, 0x35, 0x35, 0x35, 0x36, 0x30, 0x38, 0x2e, 0x31, 0x30,
        0xff, 0xff, 0xff, 0xff, 0x04, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x69,
        0x00, 0x49, 0x00, 0x49, 0x49, 0x49, 0x49, 0x49, 0x49, 0x49, 0x49, 0x49, 0x49, 0x49, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x49, 0x48, 0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x49,
        0x49, 0xff, 0xff, 0xff, 0x48, 0x0a, 0x49, 0x49, 0x49, 0x49, 0x49, 0x48, 0x0a, 0x48, 0x70,
        0x33, 0x35, 0x32, 0x31, 0x30, 0x3f, 0x00, 0x04, 0x7e, 0x7e, 0x39, 0x0a, 0x57, 0x57, 0x57,
        0x57, 0x47, 0x57, 0x57, 0x57, 0x57, 0x02, 0x80, 0xde, 0xde, 0xde, 0xde, 0xde, 0x31, 0x30,
        0x3f, 0x00, 0x04, 0x35, 0x35, 0x35, 0x35, 0x30, 0x32, 0x35, 0x32, 0x33, 0x49, 0x49, 0x49,
        0x49, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xde, 0xde, 0xde, 0xde, 0xde, 0xde, 0xde, 0xde,
        0xde, 0xde, 0xde, 0xde, 0xde, 0xde, 0x04, 0x00, 0x00, 0x22, 0x00, 0x57, 0xc3, 0xc3, 0xc3,
        0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xa2, 0xc3, 0xc3, 0xc1, 0xc3, 0xc3,
        0xc3, 0xc3, 0x06, 0x00, 0x00, 0x00, 0xc3, 0xbd, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3,
        0xc3, 0xc3, 0xc3, 0xc3, 0x57, 0x2f,
    ];
    super::fuzz_driver::run(&INPUT);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Prefetching changes nothing: whatever was prefetched (other packets, a skipped one, a
    /// stale burst), every packet reaches the same flow as in a table that never prefetches.
    /// (It also held for a table reusing the prefetch's hashes in `process`.)
    #[test]
    fn prefetched_hashes_find_the_same_flows(
        steps in proptest::collection::vec(
            (proptest::collection::vec(0u8..12, 0..40), proptest::collection::vec(0u8..12, 0..40)),
            1..12,
        ),
    ) {
        let cfg = FlowConfig {
            max_flows: 8,
            hash_seed: Some([5, 6, 7, 8]),
            ..FlowConfig::default()
        };
        let mut plain = FlowTable::new(cfg.clone()).unwrap();
        let mut pre = FlowTable::new(cfg).unwrap();
        let t = |i: u8| {
            let tu = tuple([10, 0, 0, 1 + i % 4], 1000 + u16::from(i % 6), [10, 0, 1, 1], 53, proto::UDP);
            if i >= 6 { tu.reversed() } else { tu }
        };
        let mut now = Timestamp::from_micros(1_700_000_000, 0);
        let mut streams = NullStreamSink;
        for (prefetched, processed) in &steps {
            let tuples: Vec<FlowTuple> = prefetched.iter().map(|&i| t(i)).collect();
            pre.prefetch_burst(&tuples);
            for &i in processed {
                now = Timestamp(now.0 + 1_000);
                let pkt = Packet { tuple: t(i), wire_len: 60, tcp: None, icmp: None, payload: &[] };
                let a = plain.process(&pkt, now, &mut streams, &mut |_: &FlowRecord| {});
                let b = pre.process(&pkt, now, &mut streams, &mut |_: &FlowRecord| {});
                match (a, b) {
                    (Ok(a), Ok(b)) => {
                        prop_assert_eq!(a.flow, b.flow);
                        prop_assert_eq!(a.dir, b.dir);
                        prop_assert_eq!(a.new_flow, b.new_flow);
                    }
                    (a, b) => prop_assert_eq!(a.is_err(), b.is_err()),
                }
            }
        }
        prop_assert_eq!(plain.active(), pre.active());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// The shortcut for a packet of the previous packet's flow changes nothing: through flows
    /// that expire, are evicted from a full table, end with a RST or are reused by a new SYN,
    /// every packet reaches the same flow, and the same records come out, as in a table that
    /// always looks flows up through the index.
    #[test]
    fn the_previous_packets_flow_is_found_as_through_the_index(
        steps in proptest::collection::vec((0u8..10, 0u8..5, any::<bool>(), 0u16..3), 1..200),
    ) {
        let cfg = FlowConfig {
            max_flows: 4,
            hash_seed: Some([1, 3, 5, 7]),
            ..FlowConfig::default()
        };
        let mut fast = FlowTable::new(cfg.clone()).unwrap();
        let mut slow = FlowTable::new(cfg).unwrap();
        let (mut fast_recs, mut slow_recs) = (Vec::new(), Vec::new());
        let mut now = Timestamp::from_micros(1_700_000_000, 0);
        let mut streams = NullStreamSink;
        for &(flow, kind, reverse, gap) in &steps {
            // Gaps of 1 ms, 40 s (past UDP's and new TCP flows' timeouts) or 10 min.
            now = Timestamp(now.0 + [1_000_000, 40_000_000_000, 600_000_000_000][gap as usize]);
            let proto = if flow < 6 { proto::TCP } else { proto::UDP };
            let mut t = tuple([10, 0, 0, 1 + flow % 3], 1000 + u16::from(flow), [10, 0, 1, 1], 80, proto);
            if reverse {
                t = t.reversed();
            }
            let flags = [SYN, SYN | ACK, ACK, ACK | FIN, RST][kind as usize];
            let seg = TcpSegment {
                seq: 1000 * u32::from(kind),
                ack: 1,
                flags: TcpFlags(flags),
                window: 65535,
                wscale: None,
                payload: if kind == 2 { b"data" } else { b"" },
            };
            let pkt = Packet {
                tuple: t,
                wire_len: 60,
                tcp: (proto == proto::TCP).then_some(seg),
                icmp: None,
                payload: &[],
            };
            if gap == 2 {
                // The sweep ends flows between packets, the previous packet's among them.
                fast.sweep(now, 8, &mut streams, &mut |r: &FlowRecord| fast_recs.push(*r));
                slow.sweep(now, 8, &mut streams, &mut |r: &FlowRecord| slow_recs.push(*r));
            }
            slow.forget_recent();
            let a = fast.process(&pkt, now, &mut streams, &mut |r: &FlowRecord| fast_recs.push(*r));
            let b = slow.process(&pkt, now, &mut streams, &mut |r: &FlowRecord| slow_recs.push(*r));
            prop_assert_eq!(a.is_ok(), b.is_ok());
            if let (Ok(a), Ok(b)) = (a, b) {
                prop_assert_eq!(a.flow, b.flow);
                prop_assert_eq!(a.dir, b.dir);
                prop_assert_eq!(a.new_flow, b.new_flow);
                prop_assert_eq!(a.state, b.state);
                prop_assert_eq!(a.tcp_state, b.tcp_state);
            }
        }
        prop_assert_eq!(fast.active(), slow.active());
        prop_assert_eq!(&fast_recs, &slow_recs);
    }
}
