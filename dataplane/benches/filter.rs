//! Capture-filter cost per frame, by engine.
//!
//! `filter::accepts/<case>/<engine>`: `CaptureFilter::accepts` over the first 4,096 frames
//! of `public_mix.pcap` (the shared material; `configs/samples/demo.pcap` when it is
//! missing), in order, with each engine that can run the program: `libpcap` (`pcap_offline_filter`),
//! `rte_bpf-interpreter` and `rte_bpf-jit` (DPDK 22.11's librte_bpf, loaded under an EAL
//! started here without hugepages or PCI). Cases: `typical` (`tcp and not port 22 and net
//! 192.0.2.0/24`), `ports` (`tcp port 80 or udp port 53`), `syn` (`tcp[tcpflags] & tcp-syn !=
//! 0`, which DPDK's JIT miscompiles: interpreter only) and `reject_all` (`not ip`, the
//! shortest program). Throughput is per frame; times are the thread's CPU time
//! ([`thread_cpu`]).

#[path = "support/thread_cpu.rs"]
mod thread_cpu;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dataplane::decode::LinkType;
use dataplane::dpdk::Eal;
use dataplane::filter::{CaptureFilter, FilterEngine};
use dataplane::io::pcap::PcapSource;
use thread_cpu::ThreadCpu;

/// Frames per pass: a worker filters a frame whose header it has just prefetched, so the
/// frames should stay in cache as they would there (about 1 MB of `public_mix.pcap`).
const FRAMES: usize = 4096;

/// The first [`FRAMES`] frames of the shared `public_mix.pcap`, else of the bundled demo
/// capture.
fn frames() -> Vec<Vec<u8>> {
    let path = vocab::testing::shared_data("pcaps/public_mix.pcap").unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/samples/demo.pcap").into()
    });
    let mut src = PcapSource::open(&path).expect("capture");
    let mut out = Vec::new();
    while let Some(f) = src.next_frame().expect("frame") {
        out.push(f.data.to_vec());
        if out.len() == FRAMES {
            break;
        }
    }
    eprintln!(
        "filter::accepts: {} frames of {}",
        out.len(),
        path.display()
    );
    out
}

fn accepts(c: &mut Criterion<ThreadCpu>) {
    let args = dataplane::runtime::EalConfig::default().args(0, &[], 128);
    let eal = Eal::init(&args).expect("EAL");
    let frames = frames();
    let mut g = c.benchmark_group("filter::accepts");
    g.throughput(Throughput::Elements(frames.len() as u64));
    for (name, expr) in [
        ("typical", "tcp and not port 22 and net 192.0.2.0/24"),
        ("ports", "tcp port 80 or udp port 53"),
        ("syn", "tcp[tcpflags] & tcp-syn != 0"),
        ("reject_all", "not ip"),
    ] {
        let mut f = CaptureFilter::load(expr, LinkType::Ethernet, &eal).unwrap();
        for engine in [
            FilterEngine::Libpcap,
            FilterEngine::Interpreter,
            FilterEngine::Jit,
        ] {
            if !f.use_engine(engine) {
                eprintln!("filter::accepts/{name}/{engine}: not available");
                continue;
            }
            let kept = frames.iter().filter(|fr| f.accepts(fr)).count();
            eprintln!(
                "filter::accepts/{name}/{engine}: {expr:?} keeps {kept} of {} frames",
                frames.len()
            );
            let id = BenchmarkId::new(name, engine.name());
            g.bench_function(id, |b| {
                b.iter(|| frames.iter().filter(|fr| f.accepts(black_box(fr))).count())
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = accepts
}
criterion_main!(benches);
