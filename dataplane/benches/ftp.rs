//! FTP control-channel parser throughput on real traffic: the port-21 flows of
//! `shared/data/pcaps/public_mix.pcap`, fed as captured (one call per TCP segment), through
//! the whole app layer (detection, then the FTP parser). Reported as bytes of payload per
//! second; `app::ftp_eve` renders every transaction's `ftp` record, per record.
//!
//! `cargo bench -p dataplane --bench ftp`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::app::eve::{write_app_record, EveOptions};
use dataplane::app::{AppConfig, AppCounters, AppLayer, Direction, Transport};
use dataplane::eve::Envelope;
use dataplane::time::Timestamp;

#[path = "../src/app/testpcap.rs"]
mod testpcap;

type Flow = Vec<(Direction, Vec<u8>)>;

fn control_flows() -> Vec<Flow> {
    let Some(path) = vocab::testing::shared_data("pcaps/public_mix.pcap") else {
        return Vec::new();
    };
    let all = testpcap::read_flows(&path.to_string_lossy()).expect("capture reads");
    all.into_iter()
        .filter(|f| f.proto == 6 && f.server.1 == 21)
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

fn parse_all(cfg: &AppConfig, flows: &[Flow]) -> Vec<AppLayer> {
    let mut c = AppCounters::default();
    flows
        .iter()
        .map(|f| {
            let mut app = AppLayer::new(Transport::Tcp, 40000, 21);
            for (d, b) in f {
                app.on_stream(cfg, *d, b, Timestamp(0), &mut c);
            }
            app
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let flows = control_flows();
    if flows.is_empty() {
        eprintln!("public_mix.pcap absent: app::ftp not measured");
        return;
    }
    let bytes: u64 = flows
        .iter()
        .flat_map(|f| f.iter().map(|(_, b)| b.len() as u64))
        .sum();
    let cfg = AppConfig::default();
    let mut g = c.benchmark_group("app::ftp");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("public_mix_port21", |b| {
        b.iter(|| black_box(parse_all(&cfg, &flows)))
    });
    g.finish();

    let logging = AppConfig {
        eve_logging: true,
        ..AppConfig::default()
    };
    let mut apps = parse_all(&logging, &flows);
    let mut refs = Vec::new();
    for (i, app) in apps.iter_mut().enumerate() {
        app.flush(|_, r| refs.push((i, r)));
    }
    let env = Envelope {
        ts: Timestamp(0),
        flow_id: 1,
        pcap_cnt: 1,
        event_type: "",
        src: std::net::IpAddr::from([192, 0, 2, 1]),
        src_port: 40000,
        dst: std::net::IpAddr::from([192, 0, 2, 2]),
        dst_port: 21,
        proto: 6,
        vlan: dataplane::eve::Vlans::NONE,
        icmp: None,
    };
    let mut g = c.benchmark_group("app::ftp_eve");
    g.throughput(Throughput::Elements(refs.len() as u64));
    g.bench_function("public_mix_port21", |b| {
        let mut out = Vec::with_capacity(64 * 1024);
        b.iter(|| {
            let mut n = 0;
            for (i, r) in &refs {
                out.clear();
                write_app_record(&mut out, &env, &apps[*i], *r, &EveOptions::default());
                n += out.len();
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
