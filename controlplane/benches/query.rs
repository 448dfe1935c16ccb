//! Query latency over a large stored set (default 10,000,000 alerts, `OSPREY_BENCH_ALERTS`).
//!
//! Fills a fresh database in a temporary directory (`TMPDIR`; removed at the end) with alerts
//! spread like a sensor's day: packet times over 24 hours in bursts, signatures and addresses
//! drawn from heavy-tailed (log-uniform) distributions, so a few signatures and hosts carry most
//! alerts and many appear only a handful of times. Then, for time-range, sid and address
//! queries (pages of 100, newest first, as the console asks):
//!
//! - `query::first_page_*`: p50/p99 of the first page over 1000 random queries;
//! - `query::deep_page_*`: p50/p99 of pages 2..=50 reached by following the paging cursor
//!   (up to 5,000 alerts deep) over 100 random queries.
//!
//! Prints load time, database size and the percentiles; criterion is not used because one
//! fill takes minutes. `cargo bench -p controlplane --bench query`

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use controlplane::model::Alert;
use controlplane::store::{AlertFilter, Order, Store, StoreOptions};

mod common;
use common::{first_pages, percentiles, Rng};

/// 2023-11-14T22:13:20Z: a day's worth of alerts follows.
const BASE_TS: u64 = 1_700_000_000_000_000_000;
const DAY_NS: u64 = 86_400 * 1_000_000_000;
const SIDS: u64 = 20_000;
const SOURCES: u64 = 200_000;
const DESTS: u64 = 5_000;
const PAGE: usize = 100;
const DEEP_PAGES: usize = 50;

fn sid_of(i: u64) -> u32 {
    2_000_000 + i as u32
}
fn src_of(i: u64) -> IpAddr {
    // Sources: a /16 of clients and, for the tail, addresses outside it.
    IpAddr::V4(Ipv4Addr::from(
        0x0a00_0000u32.wrapping_add((i * 2_654_435_761) as u32 % 0x00ff_ffff),
    ))
}
fn dst_of(i: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0xc0a8_0000u32 + i as u32))
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|d| {
            d.flatten()
                .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let n: u64 = std::env::var("OSPREY_BENCH_ALERTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let dir = tempfile::Builder::new()
        .prefix("osprey-query-bench-")
        .tempdir()
        .expect("temporary directory");
    let path = dir.path().join("db");
    let store = Store::open(&path, &StoreOptions::default()).expect("open");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let t = Instant::now();
    // Times: bursts of alerts a few microseconds apart, separated by gaps, averaging a day.
    let mean_gap = DAY_NS / n.max(1);
    let mut ts = BASE_TS;
    let mut i = 0u64;
    let mut batch: Vec<Alert> = Vec::with_capacity(16_384);
    while i < n {
        batch.clear();
        while batch.len() < 16_384 && i < n {
            let r = rng.next();
            ts += if r % 8 == 0 {
                (mean_gap * 8).saturating_sub(7 * 2_000)
            } else {
                2_000
            };
            let sid = rng.heavy(SIDS);
            let src = rng.heavy(SOURCES);
            let dst = rng.heavy(DESTS);
            let inbound = r & 0x100 != 0;
            let (s, d) = if inbound {
                (dst_of(dst), src_of(src))
            } else {
                (src_of(src), dst_of(dst))
            };
            batch.push(Alert {
                ts_nanos: ts,
                gid: 1,
                sid: sid_of(sid),
                rev: 1 + (sid % 7) as u32,
                msg: format!("ET TEST signature {sid} seen on the wire"),
                category: "Potentially Bad Traffic".into(),
                severity: 2,
                src_ip: s,
                src_port: (r >> 16) as u16,
                dst_ip: d,
                dst_port: [80, 443, 53, 3306, 445][(r >> 32) as usize % 5],
                proto: 6,
                app_proto: "http".into(),
                flow_id: r,
                packet_no: i,
                payload: vec![0x41; 64],
                worker: "w0".into(),
                ..Alert::default()
            });
            i += 1;
        }
        store.append_alerts(&mut batch).expect("append");
    }
    let load = t.elapsed();
    store.flush().expect("flush");
    let end_ts = ts + 1;
    eprintln!(
        "query: loaded {n} alerts in {:.1} s ({:.0} alerts/s, WAL on), flushed after {:.1} s; \
         database {:.2} GB on disk",
        load.as_secs_f64(),
        n as f64 / load.as_secs_f64(),
        t.elapsed().as_secs_f64(),
        dir_size(&path) as f64 / 1e9
    );

    type MakeFilter = Box<dyn Fn(&mut Rng) -> AlertFilter>;
    let cases: Vec<(&str, MakeFilter)> = vec![
        (
            "time",
            Box::new(move |r: &mut Rng| AlertFilter {
                start_ns: BASE_TS,
                end_ns: BASE_TS + r.next() % (end_ts - BASE_TS) + 1,
                limit: PAGE,
                ..Default::default()
            }),
        ),
        (
            "sid",
            Box::new(|r: &mut Rng| AlertFilter {
                sid: Some(sid_of(r.heavy(SIDS))),
                limit: PAGE,
                ..Default::default()
            }),
        ),
        (
            "address",
            Box::new(|r: &mut Rng| AlertFilter {
                address: Some(if r.next() % 2 == 0 {
                    src_of(r.heavy(SOURCES))
                } else {
                    dst_of(r.heavy(DESTS))
                }),
                limit: PAGE,
                ..Default::default()
            }),
        ),
        (
            "sid_in_hour",
            Box::new(move |r: &mut Rng| {
                let start = BASE_TS + r.next() % (end_ts - BASE_TS);
                AlertFilter {
                    sid: Some(sid_of(r.heavy(SIDS))),
                    start_ns: start,
                    end_ns: start + 3_600_000_000_000,
                    limit: PAGE,
                    ..Default::default()
                }
            }),
        ),
    ];
    for (name, mk) in &cases {
        let (mut lat, per_page) = first_pages(&store, 1000, 7, mk.as_ref());
        let (p50, p99, max) = percentiles(&mut lat);
        eprintln!(
            "query::first_page_{name} over {n}: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms, \
             {per_page:.1} alerts per page"
        );
        let mut r = Rng(13);
        let mut lat = Vec::with_capacity(100 * DEEP_PAGES);
        let mut pages = 0usize;
        for _ in 0..100 {
            let mut f = mk(&mut r);
            f.order = Order::NewestFirst;
            for page in 0..DEEP_PAGES {
                let t = Instant::now();
                let p = store.query_alerts(&f).expect("query");
                let took = t.elapsed();
                if page > 0 {
                    lat.push(took);
                    pages += 1;
                }
                match p.next {
                    Some(k) => f.after = Some(k),
                    None => break,
                }
            }
        }
        if pages > 0 {
            let (p50, p99, max) = percentiles(&mut lat);
            eprintln!(
                "query::deep_page_{name} over {n}: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms \
                 ({pages} pages 2..={DEEP_PAGES})"
            );
        }
    }
    drop(store);
    // The directory goes with `dir`; say so, since it can be gigabytes.
    eprintln!("query: removing {}", dir.path().display());
}
