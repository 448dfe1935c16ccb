//! Decoder throughput over real traffic.
//!
//! `decode::public_mix`: every packet of `shared/data/pcaps/public_mix.pcap` (272,826 packets,
//! Ethernet), preloaded in memory, decoded in capture order with checksum validation on and
//! off; one iteration decodes the whole capture, so criterion's time / 272,826 is ns/packet.
//! Skips with a message when the capture is absent.
//!
//! Run: `cargo bench -p dataplane --bench decode`
//!
//! The capture (72 MB of frames) does not fit in cache, so the first read of each frame's
//! Ethernet header is a memory miss: `perf annotate` puts about half of `decode`'s samples on
//! that load. Under a PMD the NIC writes frames into cache (DDIO) and bursts are prefetched, so
//! the plain cases overstate the per-packet cost of a worker. `decode/public_mix_burst32` does
//! what the worker does: each burst of 32 frames has its first cache lines prefetched
//! (`RxPacket::prefetch_data`) before the first is decoded, so the misses overlap.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::decode::{DecodeConfig, Decoder, LinkType};
use dataplane::time::Timestamp;
use std::hint::black_box;

/// A capture loaded in memory: (time, bytes) per packet.
type Capture = Vec<(Timestamp, Vec<u8>)>;

fn load() -> Option<(LinkType, Capture)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/pcaps/public_mix.pcap"
    );
    let Ok(file) = std::fs::File::open(path) else {
        eprintln!("note: {path} absent, decode::public_mix skipped");
        return None;
    };
    let mut r = pcap_file::pcap::PcapReader::new(std::io::BufReader::new(file)).ok()?;
    let link = LinkType::try_from(u32::from(r.header().datalink)).ok()?;
    let mut pkts = Vec::new();
    while let Some(Ok(p)) = r.next_packet() {
        pkts.push((
            Timestamp(p.timestamp.as_nanos() as u64),
            p.data.into_owned(),
        ));
    }
    Some((link, pkts))
}

/// (name, checksum validation, burst size); a burst of 1 prefetches nothing.
const CASES: [(&str, bool, usize); 3] = [
    ("public_mix", true, 1),
    ("public_mix_nocsum", false, 1),
    ("public_mix_burst32", true, 32),
];

/// As the worker does for each received burst: the first cache line of every frame.
fn prefetch_burst(chunk: &[(Timestamp, Vec<u8>)], burst: usize) {
    if burst > 1 {
        for (_, f) in chunk {
            if let Some(b) = f.first() {
                dataplane::dpdk::prefetch(b);
            }
        }
    }
}

fn bench_decode(c: &mut Criterion) {
    let Some((link, pkts)) = load() else {
        return;
    };
    let bytes: u64 = pkts.iter().map(|(_, b)| b.len() as u64).sum();
    let mut g = c.benchmark_group("decode");
    g.sample_size(20);
    g.throughput(Throughput::Elements(pkts.len() as u64));
    for (name, csum, burst) in CASES {
        let cfg = DecodeConfig {
            checksum_validation: csum,
            ..DecodeConfig::default()
        };
        let mut dec = Decoder::new(cfg).expect("config");
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut acc = 0usize;
                for chunk in pkts.chunks(burst) {
                    prefetch_burst(chunk, burst);
                    for (ts, frame) in chunk {
                        let p = dec.decode(link, frame, *ts);
                        acc += p.payload.len() + usize::from(p.invalid);
                    }
                }
                black_box(acc)
            })
        });
    }
    g.finish();
    eprintln!(
        "decode::public_mix: {} packets, {} bytes per iteration",
        pkts.len(),
        bytes
    );
    // On a shared, loaded machine wall time overstates the cost; also report this thread's
    // CPU time (user + system, from /proc) per packet over a fixed number of passes.
    for (name, csum, burst) in CASES {
        let cfg = DecodeConfig {
            checksum_validation: csum,
            ..DecodeConfig::default()
        };
        let mut dec = Decoder::new(cfg).expect("config");
        let passes = 20;
        let Some(t0) = thread_cpu_ticks() else {
            return;
        };
        let mut acc = 0usize;
        for _ in 0..passes {
            for chunk in pkts.chunks(burst) {
                prefetch_burst(chunk, burst);
                for (ts, frame) in chunk {
                    acc += dec.decode(link, frame, *ts).payload.len();
                }
            }
        }
        black_box(acc);
        let Some(t1) = thread_cpu_ticks() else {
            return;
        };
        // Linux reports these in USER_HZ (100 per second).
        let ns = (t1 - t0) as f64 * 1e7 / (passes as f64 * pkts.len() as f64);
        eprintln!("decode::{name} thread CPU time: {ns:.1} ns/packet over {passes} passes");
    }
}

/// utime + stime of the current thread in clock ticks, from /proc (Linux only).
fn thread_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
