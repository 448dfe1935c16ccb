//! Flow table and reassembly benchmarks.
//!
//! `flow::lookup_zipf/{1k,100k,1m}`: one packet through `FlowTable::process` (hash, lookup,
//! counters) with flow keys drawn from a Zipf(1.0) distribution over N live UDP flows;
//! `flow::lookup_zipf/burst32/{1k,100k,1m}`: the same keys in bursts of 32, each burst's flows
//! prefetched (`FlowTable::prefetch_burst`) before any is processed (throughput per packet).
//! `reassembly::{in_order,reordered}`: a 64 KiB request through a full TCP session (handshake,
//! 1460-byte segments acknowledged every 8 segments, RST), IDS mode, bytes handed to a consumer.
//! `flow::public_mix`: every packet of `shared/data/pcaps/public_mix.pcap` (headers extracted
//! beforehand, so no decoding) with a sweep every 32 packets and a final drain: the flow
//! layer's share of the per-packet budget. The table is made once and drained by every
//! iteration, as a running worker's is: a fresh table per iteration would also time the page
//! faults of its first use (zeroing the slab's pages was 30% of the samples).
//! `flow::public_mix_table`: the same with reassembly depth 0, so no stream data is stored or
//! handed on: the table's part (lookup, insert, TCP state tracking, sweep, records), the
//! issue's "flow" cost; `public_mix` minus `public_mix_table` is the reassembly's part.
//! The input (one array of extracted headers, payloads in one buffer) is read front to back,
//! which the hardware prefetcher streams, and is small per packet (about 100 bytes of headers):
//! unlike 72 MB of frames it does not stand for memory a PMD would have in cache.
//! First-use page zeroing (`clear_page_erms` under `FlowTable::process`, huge pages of the
//! slab, index and segment pool faulted in once) happens in criterion's warm-up: the
//! process's page faults do not grow with the run, and `perf script` puts every such sample in
//! the first 1.5 s of a 7 s profile.

#[path = "support/mix.rs"]
mod mix;
#[path = "support/thread_cpu.rs"]
mod thread_cpu;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dataplane::flow::{
    proto, Direction, FlowConfig, FlowHandle, FlowRecord, FlowTable, FlowTuple, Packet,
    StreamConfig, StreamSink, TcpFlags, TcpSegment, FLOW_BYTES_ACCOUNTED,
};
use dataplane::time::Timestamp;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::Zipf;
use thread_cpu::ThreadCpu;

type Crit = Criterion<ThreadCpu>;

fn udp_tuple(i: u32) -> FlowTuple {
    FlowTuple {
        zone: 0,
        proto: proto::UDP,
        src: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i >> 8))),
        src_port: 1024 + (i & 0xff) as u16,
        dst: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)),
        dst_port: 53,
    }
}

/// Packets per burst, as the worker receives them.
const BURST: usize = 32;

fn lookup_zipf(c: &mut Crit) {
    let mut g = c.benchmark_group("flow::lookup_zipf");
    for (name, n) in [("1k", 1_000u32), ("100k", 100_000), ("1m", 1_000_000)] {
        let cfg = FlowConfig {
            memcap: n as usize * FLOW_BYTES_ACCOUNTED * 2,
            max_flows: n + 1,
            hash_seed: Some([11, 22, 33, 44]),
            ..FlowConfig::default()
        };
        let mut table = FlowTable::new(cfg).unwrap();
        let now = Timestamp::from_micros(1_700_000_000, 0);
        let mut sink = |_: &FlowRecord| {};
        let mut streams = dataplane::flow::NullStreamSink;
        for i in 0..n {
            let pkt = Packet {
                icmp: None,
                payload: &[],
                tuple: udp_tuple(i),
                wire_len: 100,
                tcp: None,
            };
            table.process(&pkt, now, &mut streams, &mut sink).unwrap();
        }
        // Popular flows spread over the key space, not clustered at low ids.
        let mut rng = StdRng::seed_from_u64(7);
        let mut perm: Vec<u32> = (0..n).collect();
        perm.shuffle(&mut rng);
        let zipf = Zipf::new(n as f64, 1.0).unwrap();
        let seq: Vec<Packet<'static>> = (0..1 << 16)
            .map(|_| {
                let rank = rng.sample(zipf) as usize - 1;
                let mut tuple = udp_tuple(perm[rank]);
                if rng.random::<bool>() {
                    tuple = tuple.reversed();
                }
                Packet {
                    icmp: None,
                    payload: &[],
                    tuple,
                    wire_len: 100,
                    tcp: None,
                }
            })
            .collect();
        let mut k = 0usize;
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let pkt = &seq[k & 0xffff];
                k += 1;
                black_box(table.process(pkt, now, &mut streams, &mut sink).unwrap());
            })
        });
        // The worker's way: a burst of 32 packets, every flow prefetched before any is
        // processed, so the cache misses of different packets overlap.
        g.throughput(Throughput::Elements(BURST as u64));
        g.bench_function(BenchmarkId::new("burst32", name), |b| {
            b.iter(|| {
                // Burst-aligned, so a burst never runs past the end of `seq`.
                let start = k & 0xffff & !(BURST - 1);
                let burst = &seq[start..start + BURST];
                k = start + BURST;
                let tuples: [FlowTuple; BURST] = std::array::from_fn(|i| burst[i].tuple);
                table.prefetch_burst(&tuples);
                for pkt in burst {
                    black_box(table.process(pkt, now, &mut streams, &mut sink).unwrap());
                }
            })
        });
        assert_eq!(table.active(), n as usize);
    }
    g.finish();
}

struct CountSink(u64);

impl StreamSink for CountSink {
    fn data(&mut self, _: FlowHandle, _: Direction, _: u64, data: &[u8]) {
        self.0 += black_box(data).len() as u64;
    }
    fn gap(&mut self, _: FlowHandle, _: Direction, _: u64, _: u64) {}
    fn end(&mut self, _: FlowHandle, _: Direction) {}
}

const STREAM: usize = 64 << 10;
const MSS: usize = 1460;

/// After every 8th segment, the receiver's cumulative ACK: the contiguous prefix it holds.
fn ack_points(order: &[usize], len: usize) -> Vec<Option<usize>> {
    let mut have = vec![false; order.len() + 1];
    let mut contiguous = 0;
    order
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            have[i] = true;
            while have[contiguous] {
                contiguous += 1;
            }
            (n % 8 == 7).then_some((contiguous * MSS).min(len))
        })
        .collect()
}

fn session(
    table: &mut FlowTable,
    order: &[usize],
    acks: &[Option<usize>],
    payload: &[u8],
    isn: u32,
    sink: &mut CountSink,
) {
    let client = FlowTuple {
        zone: 0,
        proto: proto::TCP,
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        src_port: 40000,
        dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        dst_port: 80,
    };
    let now = Timestamp::from_micros(1_700_000_000, 0);
    let mut recs = |_: &FlowRecord| {};
    let mut send =
        |table: &mut FlowTable, to_server: bool, seq: u32, ack: u32, flags: u8, p: &[u8]| {
            let pkt = Packet {
                icmp: None,
                payload: &[],
                tuple: if to_server { client } else { client.reversed() },
                wire_len: 54 + p.len() as u32,
                tcp: Some(TcpSegment {
                    seq,
                    ack,
                    flags: TcpFlags(flags),
                    window: 65535,
                    wscale: Some(7),
                    payload: p,
                }),
            };
            table.process(&pkt, now, sink, &mut recs).unwrap();
        };
    let (syn, ack, rst) = (TcpFlags::SYN, TcpFlags::ACK, TcpFlags::RST);
    send(table, true, isn, 0, syn, b"");
    send(table, false, 9, isn.wrapping_add(1), syn | ack, b"");
    send(table, true, isn.wrapping_add(1), 10, ack, b"");
    for (n, &i) in order.iter().enumerate() {
        let a = i * MSS;
        let b = (a + MSS).min(payload.len());
        send(
            table,
            true,
            isn.wrapping_add(1 + a as u32),
            10,
            ack,
            &payload[a..b],
        );
        if let Some(acked) = acks[n] {
            send(
                table,
                false,
                10,
                isn.wrapping_add(1 + acked as u32),
                ack,
                b"",
            );
        }
    }
    send(
        table,
        false,
        10,
        isn.wrapping_add(1 + payload.len() as u32),
        ack,
        b"",
    );
    send(
        table,
        true,
        isn.wrapping_add(1 + payload.len() as u32),
        10,
        rst,
        b"",
    );
}

fn reassembly(c: &mut Crit) {
    let mut g = c.benchmark_group("reassembly");
    let payload: Vec<u8> = (0..STREAM).map(|i| (i * 7) as u8).collect();
    let segs = STREAM.div_ceil(MSS);
    let in_order: Vec<usize> = (0..segs).collect();
    // Adjacent pairs swapped and every 8th segment delayed by 3 places.
    let mut reordered = in_order.clone();
    for p in reordered.chunks_mut(2) {
        p.reverse();
    }
    for i in (0..segs.saturating_sub(4)).step_by(8) {
        reordered[i..i + 4].rotate_left(1);
    }
    for (name, order) in [("in_order", &in_order), ("reordered", &reordered)] {
        let cfg = FlowConfig {
            memcap: 1 << 20,
            hash_seed: Some([1, 2, 3, 4]),
            stream: StreamConfig {
                memcap: 16 << 20,
                ..StreamConfig::default()
            },
            ..FlowConfig::default()
        };
        let mut table = FlowTable::new(cfg).unwrap();
        let acks = ack_points(order, STREAM);
        let mut sink = CountSink(0);
        let mut isn = 1000u32;
        g.throughput(Throughput::Bytes(STREAM as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                // A new ISN each time: the SYN reuses the closed flow's tuple.
                isn = isn.wrapping_add(1 << 20);
                session(&mut table, order, &acks, &payload, isn, &mut sink);
            })
        });
        // Zero when a filter skipped this benchmark.
        assert!(sink.0 % STREAM as u64 == 0, "{}", sink.0);
    }
    g.finish();
}

fn public_mix(c: &mut Crit) {
    let Some(path) = vocab::testing::shared_data("pcaps/public_mix.pcap") else {
        return;
    };
    let file = std::fs::read(path).expect("capture reads");
    let cap = mix::load(&file).expect("classic pcap");
    drop(file);
    let n = cap.packets.len();
    let mut g = c.benchmark_group("flow");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    // The table part alone: reassembly depth 0 stores and delivers no stream data, while
    // lookups, inserts, TCP state tracking, sweeps and flow records run as before.
    let mut tables = [0, 1 << 20].map(|depth| {
        FlowTable::new(FlowConfig {
            hash_seed: Some([1, 2, 3, 4]),
            stream: StreamConfig {
                depth,
                ..StreamConfig::default()
            },
            ..FlowConfig::default()
        })
        .unwrap()
    });
    for (name, table) in ["public_mix_table", "public_mix"]
        .into_iter()
        .zip(&mut tables)
    {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut streams = CountSink(0);
                let mut recs = |r: &FlowRecord| {
                    black_box(r);
                };
                for i in 0..n {
                    let now = cap.packets[i].ts;
                    let _ = black_box(table.process(&cap.packet(i), now, &mut streams, &mut recs));
                    if i % 32 == 0 {
                        table.sweep(now, 64, &mut streams, &mut recs);
                    }
                }
                table.drain_all(&mut streams, &mut recs);
            })
        });
        assert_eq!(table.active(), 0);
    }
    let [_, table] = &mut tables;
    // The same in bursts of 32 with each burst's flows prefetched first, as the worker does.
    g.bench_function("public_mix_burst32", |b| {
        b.iter(|| {
            let mut streams = CountSink(0);
            let mut recs = |r: &FlowRecord| {
                black_box(r);
            };
            for start in (0..n).step_by(BURST) {
                let end = (start + BURST).min(n);
                let mut tuples = [cap.packet(start).tuple; BURST];
                for (t, i) in tuples.iter_mut().zip(start..end) {
                    *t = cap.packet(i).tuple;
                }
                table.prefetch_burst(&tuples[..end - start]);
                for i in start..end {
                    let now = cap.packets[i].ts;
                    let _ = black_box(table.process(&cap.packet(i), now, &mut streams, &mut recs));
                }
                table.sweep(cap.packets[end - 1].ts, 64, &mut streams, &mut recs);
            }
            table.drain_all(&mut streams, &mut recs);
        })
    });
    assert_eq!(table.active(), 0);
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = lookup_zipf, reassembly, public_mix
}
criterion_main!(benches);
