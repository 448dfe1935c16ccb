//! Capture-filter cost per frame.
//!
//! `filter::accepts/{typical,reject_all}`: `CaptureFilter::accepts` (libpcap's interpreter,
//! `pcap_offline_filter`) over the frames of `configs/samples/demo.pcap` in order, for
//! `tcp port 80 or udp port 53` and for `not ip` (the shortest program). Times are the thread's
//! CPU time ([`thread_cpu`]).

#[path = "support/thread_cpu.rs"]
mod thread_cpu;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dataplane::decode::LinkType;
use dataplane::filter::CaptureFilter;
use thread_cpu::ThreadCpu;

/// The frames of the bundled demo capture (classic pcap, Ethernet).
fn frames() -> Vec<Vec<u8>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/samples/demo.pcap");
    let d = std::fs::read(path).expect("configs/samples/demo.pcap");
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= d.len() {
        let cap = u32::from_le_bytes(d[off + 8..off + 12].try_into().unwrap()) as usize;
        out.push(d[off + 16..off + 16 + cap].to_vec());
        off += 16 + cap;
    }
    out
}

fn accepts(c: &mut Criterion<ThreadCpu>) {
    let frames = frames();
    let mut g = c.benchmark_group("filter::accepts");
    g.throughput(Throughput::Elements(frames.len() as u64));
    for (name, expr) in [
        ("typical", "tcp port 80 or udp port 53"),
        ("reject_all", "not ip"),
    ] {
        let f = CaptureFilter::compile(expr, LinkType::Ethernet).unwrap();
        let kept = frames.iter().filter(|fr| f.accepts(fr)).count();
        eprintln!(
            "filter::accepts/{name}: {expr:?} keeps {kept} of {} frames",
            frames.len()
        );
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| frames.iter().filter(|fr| f.accepts(black_box(fr))).count())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = accepts
}
criterion_main!(benches);
