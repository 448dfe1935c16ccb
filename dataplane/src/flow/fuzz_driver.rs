//! Byte-driven exerciser of the flow table, TCP tracking and reassembly, shared by the
//! `flow_reassembly` cargo-fuzz target and a proptest. It panics when an invariant breaks:
//!
//! - stream offsets handed to the consumer are contiguous (data and gaps), nothing follows
//!   `end`, and nothing goes past the reassembly depth;
//! - every data byte sits at its right place: payload byte = low byte of its sequence number,
//!   so `byte - offset` is constant per stream (unless the input sent conflicting bytes);
//! - consumers never get more data bytes than were sent;
//! - flow and stream memory stay under their caps; counters add up
//!   (`total = active + ended`, per-protocol counts sum to `total`);
//! - after `drain_all` nothing is tracked or buffered and every stream that produced output
//!   got exactly one `end`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::time::Timestamp;

#[derive(Default)]
struct StreamCheck {
    next: u64,
    base: Option<u8>,
    ended: u32,
    data: u64,
}

#[derive(Default)]
struct Checker {
    streams: HashMap<(FlowId, usize), StreamCheck>,
    /// Tuples that were sent conflicting bytes (either direction).
    tainted: Vec<u8>,
    /// The tuple of the packet being processed: a flow it creates is new to `tuple_of`.
    current: u8,
    tuple_of: HashMap<FlowId, u8>,
    depth: u64,
    delivered: u64,
}

impl Checker {
    fn stream(&mut self, flow: FlowId, dir: Direction) -> &mut StreamCheck {
        self.streams.entry((flow, dir.index())).or_default()
    }
}

impl StreamSink for Checker {
    fn data(&mut self, flow: FlowHandle, dir: Direction, offset: u64, data: &[u8]) {
        let flow = flow.id;
        let depth = self.depth;
        let t = *self.tuple_of.entry(flow).or_insert(self.current);
        let tainted = self.tainted.contains(&t);
        self.delivered += data.len() as u64;
        let s = self.stream(flow, dir);
        assert_eq!(s.ended, 0, "data after end");
        assert_eq!(offset, s.next, "data offset not contiguous");
        assert!(!data.is_empty(), "empty data call");
        assert!(offset + data.len() as u64 <= depth, "data past depth");
        if !tainted {
            for (i, &b) in data.iter().enumerate() {
                let rel = b.wrapping_sub((offset + i as u64) as u8);
                match s.base {
                    None => s.base = Some(rel),
                    Some(base) => {
                        assert_eq!(base, rel, "byte at wrong offset {}", offset + i as u64)
                    }
                }
            }
        }
        s.next += data.len() as u64;
        s.data += data.len() as u64;
    }
    fn gap(&mut self, flow: FlowHandle, dir: Direction, offset: u64, len: u64) {
        let flow = flow.id;
        let depth = self.depth;
        let s = self.stream(flow, dir);
        assert_eq!(s.ended, 0, "gap after end");
        assert_eq!(offset, s.next, "gap offset not contiguous");
        assert!(len > 0, "empty gap");
        assert!(offset + len <= depth, "gap past depth");
        s.next += len;
    }
    fn end(&mut self, flow: FlowHandle, dir: Direction) {
        self.stream(flow.id, dir).ended += 1;
    }
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([
            self.u8()?,
            self.u8()?,
            self.u8()?,
            self.u8()?,
        ]))
    }
}

const TUPLES: u8 = 6;

fn tuple(i: u8) -> FlowTuple {
    FlowTuple {
        zone: 0,
        // Tuple 5 is UDP so that other protocols share the table.
        proto: if i == 5 { proto::UDP } else { proto::TCP },
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + i % 3)),
        src_port: 1000 + i as u16,
        dst: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)),
        dst_port: 80,
    }
}

/// Runs one input; panics on a broken invariant.
// Kept as one script (about 160 lines, test and fuzzing builds only): the input's bytes are
// read in order, and the reader sees every operation beside the invariant it checks.
pub fn run(data: &[u8]) -> u64 {
    let mut inp = Input(data);
    let Some(mode) = inp.u8() else { return 0 };
    let cfg = FlowConfig {
        max_flows: 4,
        memcap: 1 << 20,
        hash_seed: Some([1, 2, 3, 4]),
        eviction_scan: 3,
        stream: StreamConfig {
            inline: mode & 1 != 0,
            midstream: mode & 2 != 0,
            depth: if mode & 4 != 0 { 3000 } else { 1 << 20 },
            memcap: 24 * CHUNK_SIZE,
            max_buffered_per_dir: 10 * CHUNK_SIZE,
            bypass: false,
        },
        ..FlowConfig::default()
    };
    let depth = cfg.stream.depth;
    let mut table = FlowTable::new(cfg).unwrap();
    let memcap = table.reassembly_memcap();
    let mut chk = Checker {
        depth,
        ..Checker::default()
    };
    let mut records: Vec<FlowRecord> = Vec::new();
    let mut now = Timestamp::from_micros(1_600_000_000, 0);
    // Per tuple and direction: a base sequence number the input's offsets are relative to.
    let mut bases = [[0u32; 2]; TUPLES as usize];
    for b in bases.iter_mut().flatten() {
        *b = inp.u32().unwrap_or(0);
    }
    let mut sent = 0u64;
    let mut payload = Vec::new();
    // Each op consumes at least one byte: the loop is bounded by the input length.
    while let Some(op) = inp.u8() {
        match op >> 5 {
            0 => {
                let secs = inp.u8().unwrap_or(0) as u64;
                now = now.plus_secs(secs * secs / 16);
                let budget = inp.u8().unwrap_or(0) as usize;
                table.sweep(now, budget, &mut chk, &mut |r: &FlowRecord| {
                    records.push(*r)
                });
            }
            1 => {
                // A correct handshake: offset 0 of each direction is its base.
                let t = op % TUPLES;
                let [c, srv] = bases[t as usize];
                let steps = [
                    (true, c.wrapping_sub(1), 0, TcpFlags::SYN),
                    (false, srv.wrapping_sub(1), c, TcpFlags::SYN | TcpFlags::ACK),
                    (true, c, srv, TcpFlags::ACK),
                ];
                chk.current = t;
                for (to_server, seq, ack, flags) in steps {
                    let tup = if to_server {
                        tuple(t)
                    } else {
                        tuple(t).reversed()
                    };
                    let pkt = Packet {
                        icmp: None,
                        payload: &[],
                        tuple: tup,
                        wire_len: 54,
                        tcp: Some(TcpSegment {
                            seq,
                            ack,
                            flags: TcpFlags(flags),
                            window: 65535,
                            wscale: None,
                            payload: &[],
                        }),
                    };
                    now = Timestamp(now.0 + 1000);
                    let o = table
                        .process(&pkt, now, &mut chk, &mut |r: &FlowRecord| records.push(*r))
                        .expect("eviction always frees a slot");
                    chk.tuple_of.insert(o.flow.id, t);
                }
            }
            _ => {
                let t = op % TUPLES;
                let to_server = op & 0x08 == 0;
                let d = usize::from(!to_server);
                let flags = inp.u8().unwrap_or(0);
                let seq_delta = inp.u16().unwrap_or(0) as i16 as i32;
                let ack_delta = inp.u16().unwrap_or(0) as i16 as i32;
                let len = inp.u8().unwrap_or(0) as usize * 12;
                let corrupt = op >> 5 == 7;
                let seq = bases[t as usize][d].wrapping_add(seq_delta as u32);
                let ack = bases[t as usize][1 - d].wrapping_add(ack_delta as u32);
                // A SYN takes one sequence number before its data (RFC 9293 3.4; Fast Open data
                // rides on the SYN), so its first byte is the one of `seq + 1`.
                let first = if flags & TcpFlags::SYN != 0 {
                    seq.wrapping_add(1)
                } else {
                    seq
                };
                payload.clear();
                payload.extend(
                    (0..len as u32)
                        .map(|i| first.wrapping_add(i) as u8 ^ if corrupt { 0x80 } else { 0 }),
                );
                if corrupt && len > 0 {
                    chk.tainted.push(t);
                }
                chk.current = t;
                let tup = if to_server {
                    tuple(t)
                } else {
                    tuple(t).reversed()
                };
                let pkt = Packet {
                    icmp: None,
                    payload: &[],
                    tuple: tup,
                    wire_len: 54 + len as u32,
                    tcp: (tup.proto == proto::TCP).then_some(TcpSegment {
                        seq,
                        ack,
                        flags: TcpFlags(flags),
                        window: inp.u16().unwrap_or(65535),
                        wscale: (flags & 0x02 != 0).then_some(op & 0x0f),
                        payload: &payload,
                    }),
                };
                if tup.proto == proto::TCP {
                    sent += len as u64;
                }
                now = Timestamp(now.0 + 1000);
                let o = table
                    .process(&pkt, now, &mut chk, &mut |r: &FlowRecord| records.push(*r))
                    .expect("eviction always frees a slot");
                chk.tuple_of.insert(o.flow.id, t);
            }
        }
        let c = table.counters();
        assert!(table.reassembly_memuse() <= memcap, "reassembly memcap");
        assert!(c.active <= table.max_flows() as u64, "max flows");
        assert!(c.memuse as usize <= 1 << 20, "flow memcap");
        assert_eq!(
            c.total,
            c.active + records.len() as u64,
            "total = active + ended"
        );
        assert_eq!(c.records, records.len() as u64);
        assert_eq!(c.tcp + c.udp + c.icmpv4 + c.icmpv6 + c.other, c.total);
        assert!(chk.delivered <= sent, "more data delivered than sent");
    }
    table.drain_all(&mut chk, &mut |r: &FlowRecord| records.push(*r));
    let c = table.counters();
    assert_eq!(c.active, 0);
    assert_eq!(c.memuse, 0);
    assert_eq!(table.reassembly_memuse(), 0, "stream memory leaked");
    assert_eq!(c.total, records.len() as u64);
    for (key, s) in &chk.streams {
        assert_eq!(s.ended, 1, "stream {key:?} not ended exactly once");
    }
    let mut ids: Vec<FlowId> = records.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), records.len(), "a flow reported twice");
    chk.delivered
}
