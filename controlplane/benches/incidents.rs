//! The correlator's throughput on one core (`incidents::correlate`: grouping, scoring and
//! the change set, no storage; `incidents::correlate_and_store`: the same steps stored in
//! RocksDB as the correlator thread does, headers checkpointed once a second;
//! `..._every_step`: every changed header stored after every step) and its memory with many open members (printed
//! once, before the timings).
//!
//! Alerts: 10,000 internal hosts drawn log-uniformly (a few very busy), 500 sids, tactics
//! cycling through the kill chain, 1,024 alerts per step as the correlator thread takes them.

mod common;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use common::Rng;
use controlplane::incidents::{persist, Assets, Cidr, Correlator, GroupBy, Input, Settings};
use controlplane::model::{Alert, Attack};
use controlplane::store::{Store, StoreOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const STEP: usize = 1024;
const TACTICS: [&str; 5] = ["TA0043", "TA0001", "TA0002", "TA0011", ""];

fn settings(max_open: usize, max_members: u64, checkpoint_ns: u64) -> Settings {
    Settings {
        group_by: GroupBy::Host,
        window_ns: 3600 * 1_000_000_000,
        killchain_window_ns: 86_400 * 1_000_000_000,
        home_net: vec![Cidr::parse("10.0.0.0/8").unwrap()],
        max_open,
        max_members,
        assets: Assets::default(),
        checkpoint_ns,
    }
}

fn alerts(n: usize, hosts: u64, seed: u64) -> Vec<Input> {
    let mut rng = Rng(seed);
    (0..n as u64)
        .map(|i| {
            let h = rng.heavy(hosts) as u32;
            let sid = 2_000_000 + rng.heavy(500) as u32;
            Input::Alert(Arc::new(Alert {
                id: i + 1,
                ts_nanos: 1_700_000_000_000_000_000 + i * 1_000_000,
                sid,
                severity: (sid % 3) as u8 + 1,
                msg: format!("ET TEST rule {sid}"),
                src_ip: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | h)),
                dst_ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, (sid % 250) as u8)),
                attack: Attack {
                    tactic_id: TACTICS[(sid % 5) as usize].into(),
                    ..Attack::default()
                },
                ..Alert::default()
            }))
        })
        .collect()
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Resident memory of a correlator holding `members` members over `hosts` open incidents.
fn memory(members: usize, hosts: u64) {
    let input = alerts(members, hosts, 7);
    let before = rss_bytes();
    let mut c = Correlator::new(settings(usize::MAX, u64::MAX, 0), Vec::new(), 1);
    for chunk in input.chunks(STEP) {
        for a in chunk {
            c.observe(a, 0);
        }
        black_box(c.take_changes());
    }
    let after = rss_bytes();
    println!(
        "incidents::memory: {members} members in {} open incidents: {:.1} MiB resident for the correlator ({} B per incident)",
        c.open_count(),
        (after.saturating_sub(before)) as f64 / (1 << 20) as f64,
        after.saturating_sub(before) / c.open_count().max(1) as u64
    );
}

fn bench(cr: &mut Criterion) {
    memory(1_000_000, 10_000);
    memory(1_000_000, 1_000_000);
    let input = alerts(STEP * 64, 10_000, 1);
    let mut g = cr.benchmark_group("incidents");
    g.throughput(Throughput::Elements(input.len() as u64));
    g.bench_function("correlate", |b| {
        b.iter(|| {
            let mut c = Correlator::new(settings(100_000, 1000, 0), Vec::new(), 1);
            for chunk in input.chunks(STEP) {
                for a in chunk {
                    c.observe(a, 0);
                }
                black_box(c.take_changes());
            }
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
    g.sample_size(10);
    // Stored steps over a simulated wall clock at 100k alerts/s (a step of 1,024 every
    // 10.24 ms): with the default 1 s checkpoint a busy incident's header is stored about
    // once a second; with 0, after every step that changed it.
    let long = alerts(STEP * 256, 10_000, 1);
    g.throughput(Throughput::Elements(long.len() as u64));
    for (name, checkpoint_ns) in [
        ("correlate_and_store", 1_000_000_000),
        ("correlate_and_store_every_step", 0),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut c = Correlator::new(settings(100_000, 1000, checkpoint_ns), Vec::new(), 1);
                for (i, chunk) in long.chunks(STEP).enumerate() {
                    let wall = i as u64 * 10_240_000;
                    for a in chunk {
                        c.observe(a, wall);
                    }
                    persist::write_changes(&store, &c.take_due(wall)).unwrap();
                }
                persist::write_changes(&store, &c.take_changes()).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
