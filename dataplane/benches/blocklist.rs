//! Block-list lookup cost per packet.
//!
//! `blocklist::lookup/{0,1k,100k,1m}`: one [`BlockTable::lookup`] of a packet's probe against
//! a table of N entries shaped like a real list: 90% IPv4 hosts (/32, on `either` side), 5%
//! IPv4 networks (/16, /20, /24 on `src`), 3% IPv6 hosts and /48s, 2% exact 5-tuples. The
//! `blocklist::lookup/hosts/{100k,1m}`: IPv4 hosts only (one prefix length), the common shape
//! of a list fed by intel or playbooks. The
//! probes are random IPv4 TCP packets of which one in 64 hits a listed host (a block list is
//! mostly misses on a busy link); 4,096 probes are cycled so their addresses miss the caches
//! as live traffic does. Times are the thread's CPU time ([`thread_cpu`]).

#[path = "support/thread_cpu.rs"]
mod thread_cpu;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dataplane::blocklist::{BlockTable, Probe};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use thread_cpu::ThreadCpu;
use vocab::block::{BlockEntry, BlockMatch, Cidr, FiveTuple, Origin, Side};

fn v4(rng: &mut StdRng) -> Ipv4Addr {
    Ipv4Addr::from(rng.random::<u32>())
}

fn table(n: usize, hosts_only: bool, rng: &mut StdRng) -> (BlockTable, Vec<Ipv4Addr>) {
    let mut hosts = Vec::new();
    let entries = (0..n).map(|i| {
        let pick = if hosts_only { 0 } else { i % 100 };
        let matcher = if pick < 90 {
            let a = v4(rng);
            hosts.push(a);
            BlockMatch::Net {
                net: Cidr::new(IpAddr::V4(a), 32).unwrap(),
                side: Side::Either,
            }
        } else if pick < 95 {
            let len = [16u8, 20, 24][i % 3];
            let a = u32::from(v4(rng)) & (u32::MAX << (32 - len));
            BlockMatch::Net {
                net: Cidr::new(IpAddr::V4(a.into()), len).unwrap(),
                side: Side::Src,
            }
        } else if pick < 98 {
            let len = [128u8, 48][i % 2];
            let a =
                (0x2001_0db8u128 << 96 | rng.random::<u128>() >> 32) & (u128::MAX << (128 - len));
            BlockMatch::Net {
                net: Cidr::new(IpAddr::V6(Ipv6Addr::from(a)), len).unwrap(),
                side: Side::Either,
            }
        } else {
            BlockMatch::Tuple(FiveTuple {
                proto: 6,
                src: IpAddr::V4(v4(rng)),
                src_port: rng.random(),
                dst: IpAddr::V4(v4(rng)),
                dst_port: 443,
            })
        };
        BlockEntry {
            id: i as u64,
            matcher,
            origin: Origin::Intel,
            reason: String::new(),
        }
    });
    let entries: Vec<_> = entries.collect();
    (BlockTable::new(entries), hosts)
}

fn lookup(c: &mut Criterion<ThreadCpu>) {
    let mut g = c.benchmark_group("blocklist::lookup");
    g.throughput(Throughput::Elements(1));
    let cases = [
        ("0", 0, false),
        ("1k", 1_000, false),
        ("100k", 100_000, false),
        ("1m", 1_000_000, false),
        ("hosts/100k", 100_000, true),
        ("hosts/1m", 1_000_000, true),
    ];
    for (name, n, hosts_only) in cases {
        let mut rng = StdRng::seed_from_u64(7);
        let (t, hosts) = table(n, hosts_only, &mut rng);
        let probes: Vec<Probe> = (0..4096)
            .map(|i| {
                let src = match hosts.get(rng.random_range(0..hosts.len().max(1))) {
                    Some(h) if i % 64 == 0 => *h,
                    _ => v4(&mut rng),
                };
                Probe {
                    proto: 6,
                    src: IpAddr::V4(src),
                    src_port: rng.random(),
                    dst: IpAddr::V4(v4(&mut rng)),
                    dst_port: 80,
                }
            })
            .collect();
        let hits = probes.iter().filter(|p| t.lookup(p).is_some()).count();
        eprintln!(
            "blocklist::lookup/{name}: {} entries, prefix lengths {:?}, {} KiB, {hits} of {} probes hit",
            t.len(),
            t.prefix_lengths(),
            t.memory_bytes() >> 10,
            probes.len()
        );
        let mut i = 0usize;
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                i = (i + 1) & 4095;
                black_box(t.lookup(black_box(&probes[i])).map(|e| e.id))
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = lookup
}
criterion_main!(benches);
