//! App-layer parser throughput on real traffic: the HTTP (port 80), TLS (port 443) and DNS
//! (UDP 53) flows of `shared/data/pcaps/public_mix.pcap`, fed as captured (one call per TCP
//! segment or datagram). Reported as bytes of payload per second.
//!
//! `cargo bench -p dataplane --bench app` (groups `app::http`, `app::tls`, `app::dns`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::app::dns::DnsState;
use dataplane::app::http::HttpState;
use dataplane::app::tls::TlsState;
use dataplane::app::{AppConfig, AppCounters, Direction, EventSet, Transport};
use dataplane::time::Timestamp;

#[path = "../src/app/testpcap.rs"]
mod testpcap;

const PCAP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/pcaps/public_mix.pcap"
);

type Flow = Vec<(Direction, Vec<u8>)>;

fn flows(proto: u8, port: u16) -> Vec<Flow> {
    let Some(all) = testpcap::read_flows(PCAP) else {
        return Vec::new();
    };
    all.into_iter()
        .filter(|f| f.proto == proto && f.server.1 == port)
        .map(|f| {
            f.pieces
                .into_iter()
                .map(|p| {
                    let d = if p.to_server {
                        Direction::ToServer
                    } else {
                        Direction::ToClient
                    };
                    (d, p.data)
                })
                .collect()
        })
        .collect()
}

fn bytes(fl: &[Flow]) -> u64 {
    fl.iter()
        .flat_map(|f| f.iter().map(|(_, b)| b.len() as u64))
        .sum()
}

fn bench(c: &mut Criterion) {
    let cfg = AppConfig::default();
    let now = Timestamp(0);
    let http = flows(6, 80);
    if http.is_empty() {
        eprintln!("note: {PCAP} absent or without HTTP flows; skipping");
        return;
    }
    let mut g = c.benchmark_group("app::http");
    g.throughput(Throughput::Bytes(bytes(&http)));
    g.bench_function("public_mix", |b| {
        b.iter(|| {
            let mut ctr = AppCounters::default();
            let mut txs = 0;
            for f in &http {
                let mut s = HttpState::new(&cfg);
                let mut ev = EventSet::default();
                for (d, p) in f {
                    s.parse(&cfg, *d, p, now, &mut ev, &mut ctr);
                }
                txs += s.txs().count();
            }
            black_box(txs)
        })
    });

    g.finish();

    let tls = flows(6, 443);
    let mut g = c.benchmark_group("app::tls");
    g.throughput(Throughput::Bytes(bytes(&tls)));
    g.bench_function("public_mix", |b| {
        b.iter(|| {
            let mut ctr = AppCounters::default();
            let mut n = 0;
            for f in &tls {
                let mut s = TlsState::new();
                let mut ev = EventSet::default();
                for (d, p) in f {
                    s.parse(&cfg, *d, p, now, &mut ev, &mut ctr);
                }
                n += s.info.ja3.len();
            }
            black_box(n)
        })
    });

    g.finish();

    let dns = flows(17, 53);
    let mut g = c.benchmark_group("app::dns");
    g.throughput(Throughput::Bytes(bytes(&dns)));
    g.bench_function("public_mix", |b| {
        b.iter(|| {
            let mut ctr = AppCounters::default();
            let mut n = 0;
            for f in &dns {
                let mut s = DnsState::new(Transport::Udp);
                let mut ev = EventSet::default();
                for (d, p) in f {
                    s.parse_datagram(&cfg, *d, p, now, &mut ev, &mut ctr);
                }
                n += s.txs().count();
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
