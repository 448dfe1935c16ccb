//! App-layer parser throughput on real traffic: the HTTP (port 80), TLS (port 443) and DNS
//! (UDP 53) flows of `shared/data/pcaps/public_mix.pcap`, fed as captured (one call per TCP
//! segment or datagram). Reported as bytes of payload per second.
//!
//! EVE rendering of the same flows' records (`app::eve_http`, `app::eve_dns`, `app::eve_tls`)
//! is reported per record.
//!
//! `cargo bench -p dataplane --bench app` (groups `app::http`, `app::tls`, `app::dns`,
//! `app::eve_*`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::app::dns::DnsState;
use dataplane::app::eve::{write_app_record, EveOptions, TxRef};
use dataplane::app::http::HttpState;
use dataplane::app::tls::TlsState;
use dataplane::app::{AppConfig, AppCounters, AppLayer, Direction, EventSet, Transport};
use dataplane::eve::Envelope;
use dataplane::time::Timestamp;

#[path = "../src/app/testpcap.rs"]
mod testpcap;

const PCAP: &str = "pcaps/public_mix.pcap";

/// Every flow of the capture; `None` (with a note, or a failure under `CI`) when it is absent.
fn all_flows() -> Option<Vec<testpcap::PcapFlow>> {
    let path = vocab::testing::shared_data(PCAP)?;
    Some(testpcap::read_flows(&path.to_string_lossy()).expect("capture reads"))
}

type Flow = Vec<(Direction, Vec<u8>)>;

fn flows(proto: u8, port: u16) -> Vec<Flow> {
    let Some(all) = all_flows() else {
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
        eprintln!("note: no HTTP flows in {PCAP}; app::http skipped");
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

/// Flows run through whole app layers, with their envelope.
type Apps = Vec<(AppLayer, Envelope<'static>)>;

/// The flows to `port` run through whole app layers, with every record they produce (flow
/// index, transaction).
fn app_records(proto: u8, port: u16) -> (Apps, Vec<(usize, TxRef)>) {
    let Some(all) = all_flows() else {
        return (Vec::new(), Vec::new());
    };
    let cfg = AppConfig {
        eve_logging: true,
        ..AppConfig::default()
    };
    let mut ctr = AppCounters::default();
    let mut apps = Vec::new();
    let mut recs = Vec::new();
    for f in all
        .into_iter()
        .filter(|f| f.proto == proto && f.server.1 == port)
    {
        let transport = if proto == 6 {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        let mut app = AppLayer::new(transport, f.client.1, f.server.1);
        let mut ts = 0;
        for p in &f.pieces {
            let d = if p.to_server {
                Direction::ToServer
            } else {
                Direction::ToClient
            };
            ts = p.ts;
            match transport {
                Transport::Tcp => app.on_stream(&cfg, d, &p.data, Timestamp(ts), &mut ctr),
                Transport::Udp => app.on_datagram(&cfg, d, &p.data, Timestamp(ts), &mut ctr),
            };
        }
        app.on_end(&cfg, Direction::ToServer, Timestamp(ts), &mut ctr);
        app.on_end(&cfg, Direction::ToClient, Timestamp(ts), &mut ctr);
        let i = apps.len();
        app.flush(|_, r| recs.push((i, r)));
        let env = Envelope {
            ts: Timestamp(ts),
            flow_id: 1 + i as u64,
            pcap_cnt: 1,
            event_type: "",
            src: f.client.0,
            src_port: f.client.1,
            dst: f.server.0,
            dst_port: f.server.1,
            proto,
            vlan: dataplane::eve::Vlans::NONE,
            icmp: None,
        };
        apps.push((app, env));
    }
    (apps, recs)
}

/// Rendering of records: ns per record (criterion's element throughput).
fn bench_eve(c: &mut Criterion) {
    for (name, proto, port) in [
        ("app::eve_http", 6, 80),
        ("app::eve_dns", 17, 53),
        ("app::eve_tls", 6, 443),
    ] {
        let (apps, recs) = app_records(proto, port);
        if recs.is_empty() {
            eprintln!("note: no records for {name} in {PCAP}; skipped");
            continue;
        }
        let opts = EveOptions::default();
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(recs.len() as u64));
        g.bench_function("public_mix", |b| {
            let mut out = Vec::with_capacity(64 * 1024);
            b.iter(|| {
                let mut bytes = 0;
                for (i, r) in &recs {
                    out.clear();
                    let (app, env) = &apps[*i];
                    write_app_record(&mut out, env, app, *r, &opts);
                    bytes += out.len();
                }
                black_box(bytes)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench, bench_eve);
criterion_main!(benches);
