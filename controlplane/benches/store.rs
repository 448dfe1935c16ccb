//! Storage benchmarks.
//!
//! - `store::append_alerts`: alerts per second into RocksDB with the WAL on (batches of 16,384,
//!   with one index posting per sid, source and destination of a batch), the write path ingest
//!   uses. Before criterion's
//!   runs, `OSPREY_BENCH_APPEND` alerts (default 1,000,000) are appended to a fresh store and
//!   the sustained rate and the writing thread's CPU time per alert are printed, then the rate
//!   of an age retention pass that deletes them all again.
//! - `ingest::alerts_to_rocksdb`: the whole ingest stage, alerts per second from worker rings
//!   to acknowledged-as-stored (a producer thread pushes 1,000,000 fixed-size alert records
//!   into an SPSC ring; the ingest thread drains them through a `RecordSource` that converts
//!   them as the appliance's does, batches and writes them with the WAL on). Printed once as
//!   alerts/s, then measured by criterion per 65,536 alerts.
//! - `store::query_page100_*`: latency of one page of 100 over a large stored set
//!   (`OSPREY_BENCH_ALERTS`, default 1,000,000), for a plain time-range page, a sid page and an
//!   address page. Besides criterion's estimate, p50/p99 over 1000 random pages are printed.
//!
//! `cargo bench -p controlplane --bench store`

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use controlplane::config::IngestConfig;
use controlplane::events::Bus;
use controlplane::ingest::{Ingest, RecordSource, SignatureCatalog};
use controlplane::model::{Alert, FlowRecord};
use controlplane::store::{AlertFilter, Order, Store, StoreOptions};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

mod common;
use common::{first_pages, percentiles, Rng};

const BASE_TS: u64 = 1_700_000_000_000_000_000;
/// Alerts per write batch: ingest's default `batch_max`.
const BATCH: u64 = 16_384;

fn make_alert(i: u64, rng: &mut Rng) -> Alert {
    let r = rng.next();
    Alert {
        ts_nanos: BASE_TS + i * 1000,
        gid: 1,
        sid: 2_000_000 + (r % 2000) as u32,
        rev: 3,
        msg: "ET POLICY Suspicious inbound to mySQL port 3306".into(),
        category: "Potentially Bad Traffic".into(),
        severity: 2,
        src_ip: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | ((r >> 16) as u32 & 0xffff))),
        src_port: (r >> 32) as u16,
        dst_ip: IpAddr::V4(Ipv4Addr::from(0xc0a8_0000 | ((r >> 40) as u32 & 0xff))),
        dst_port: 3306,
        proto: 6,
        app_proto: "mysql".into(),
        flow_id: r,
        packet_no: i,
        payload: vec![0x41; 64],
        worker: "w0".into(),
        ..Alert::default()
    }
}

/// Appends `n` alerts in batches of 16,384 to a fresh store and prints alerts/s of wall time
/// and the calling thread's CPU time per alert (the write path: encoding, WAL append,
/// memtable inserts; flushes and compactions run on RocksDB's own threads), which a loaded
/// machine disturbs much less than wall time.
fn append_sustained(n: u64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
    let t = Instant::now();
    let cpu = fill(&store, n, 0x9e37_79b9_7f4a_7c15);
    let wall = t.elapsed();
    eprintln!(
        "store::append_alerts sustained: {n} alerts in {:.2} s = {:.0} alerts/s; write path \
         {:.0} ns CPU per alert ({:.0} alerts per CPU-second)",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        cpu.as_nanos() as f64 / n as f64,
        n as f64 / cpu.as_secs_f64()
    );
    // Age retention over the same store: every alert but the newest goes, with the index
    // postings each chunk ends (one seek per sid/address of a chunk).
    store.flush().unwrap();
    let t = Instant::now();
    let r = store.enforce_retention(1, 0, usize::MAX).unwrap();
    eprintln!(
        "store::retention sustained: {} alerts deleted in {:.2} s = {:.0} alerts/s",
        r.alerts_deleted,
        t.elapsed().as_secs_f64(),
        r.alerts_deleted as f64 / t.elapsed().as_secs_f64()
    );
}

/// Appends `n` generated alerts in batches of [`BATCH`]; returns the appending thread's CPU
/// time spent in `append_alerts`.
fn fill(store: &Store, n: u64, seed: u64) -> std::time::Duration {
    let mut rng = Rng(seed);
    let mut cpu = std::time::Duration::ZERO;
    let mut i = 0u64;
    while i < n {
        let mut v: Vec<Alert> = (0..BATCH.min(n - i))
            .map(|k| make_alert(i + k, &mut rng))
            .collect();
        i += v.len() as u64;
        let c = cpu_time::ThreadTime::now();
        store.append_alerts(&mut v).unwrap();
        cpu += c.elapsed();
    }
    cpu
}

fn bench_append(c: &mut Criterion) {
    let n: u64 = std::env::var("OSPREY_BENCH_APPEND")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    append_sustained(n);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut i = 0u64;
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(20);
    g.bench_function("append_alerts", |b| {
        b.iter_batched(
            || {
                (0..BATCH)
                    .map(|_| {
                        i += 1;
                        make_alert(i, &mut rng)
                    })
                    .collect::<Vec<_>>()
            },
            |mut v| store.append_alerts(&mut v).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// A worker's fixed-size alert record, `Copy` and heap-free as on the data plane's rings.
#[derive(Clone, Copy)]
struct Rec {
    ts_nanos: u64,
    sid: u32,
    src_ip: IpAddr,
    src_port: u16,
    dst_ip: IpAddr,
    flow_id: u64,
    packet_no: u64,
    payload: [u8; 64],
}

/// Drains the ring and converts each record to the control plane's alert, as the
/// appliance's source does on the ingest thread.
struct RingSource {
    name: String,
    rx: rtrb::Consumer<Rec>,
}

impl RecordSource for RingSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn drain_alerts(&mut self, max: usize, out: &mut Vec<Alert>) -> usize {
        let mut n = 0;
        while n < max {
            let Ok(r) = self.rx.pop() else { break };
            out.push(Alert {
                ts_nanos: r.ts_nanos,
                gid: 1,
                sid: r.sid,
                src_ip: r.src_ip,
                src_port: r.src_port,
                dst_ip: r.dst_ip,
                dst_port: 3306,
                proto: 6,
                flow_id: r.flow_id,
                packet_no: r.packet_no,
                payload: r.payload.to_vec(),
                worker: self.name.clone(),
                ..Alert::default()
            });
            n += 1;
        }
        n
    }

    fn drain_flows(&mut self, _max: usize, _out: &mut Vec<FlowRecord>) -> usize {
        0
    }
}

/// Pushes `n` alerts through one worker ring and waits until ingest has stored them all.
fn ingest_run(n: u64) -> std::time::Duration {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap());
    let cfg = IngestConfig::default();
    let (mut tx, rx) = rtrb::RingBuffer::new(cfg.ring_capacity);
    let source = RingSource {
        name: "w0".into(),
        rx,
    };
    let mut ingest = Ingest::start(
        &cfg,
        vec![Box::new(source)],
        store,
        Arc::new(Bus::new()),
        SignatureCatalog::default(),
    )
    .unwrap();
    let shared = ingest.shared.clone();
    let t = Instant::now();
    let producer = std::thread::spawn(move || {
        let mut rng = Rng(0x517c_c1b7_2722_0a95);
        let mut i = 0u64;
        while i < n {
            let r = rng.next();
            let mut rec = Rec {
                ts_nanos: BASE_TS + i * 1000,
                sid: 2_000_000 + (r % 2000) as u32,
                src_ip: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | ((r >> 16) as u32 & 0xffff))),
                dst_ip: IpAddr::V4(Ipv4Addr::from(0xc0a8_0000 | ((r >> 40) as u32 & 0xff))),
                src_port: (r >> 32) as u16,
                flow_id: r,
                packet_no: i,
                payload: [0x41; 64],
            };
            // A benchmark producer retries instead of dropping, to measure the consumer. It
            // sleeps rather than yields while the ring is full: on a 2-core machine a
            // yielding producer kept most of a core that the stage it measures needs (a
            // real worker has a core of its own); the ring holds 65,536 alerts.
            while let Err(rtrb::PushError::Full(back)) = tx.push(rec) {
                rec = back;
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
            i += 1;
        }
    });
    while shared.counters.alerts_stored.load(Ordering::Relaxed) < n {
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    let took = t.elapsed();
    producer.join().unwrap();
    ingest.stop();
    took
}

fn bench_ingest(c: &mut Criterion) {
    let n = 1_000_000;
    let took = ingest_run(n);
    eprintln!(
        "ingest::alerts_to_rocksdb: {n} alerts stored in {:.2} s = {:.0} alerts/s",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(65_536));
    g.sample_size(10);
    g.bench_function("alerts_to_rocksdb", |b| b.iter(|| ingest_run(65_536)));
    g.finish();
}

/// Builds the next query of a latency run.
type MakeFilter = Box<dyn Fn(&mut Rng) -> AlertFilter>;

fn bench_query(c: &mut Criterion) {
    let n: u64 = std::env::var("OSPREY_BENCH_ALERTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
    let t = Instant::now();
    fill(&store, n, 42);
    eprintln!(
        "loaded {n} alerts in {:.1} s ({:.0} alerts/s)",
        t.elapsed().as_secs_f64(),
        n as f64 / t.elapsed().as_secs_f64()
    );

    let filters: Vec<(&str, MakeFilter)> = vec![
        (
            "query_page100_time",
            Box::new(move |r: &mut Rng| AlertFilter {
                end_ns: BASE_TS + (r.next() % n) * 1000 + 1,
                limit: 100,
                ..Default::default()
            }),
        ),
        (
            "query_page100_sid",
            Box::new(move |r: &mut Rng| AlertFilter {
                sid: Some(2_000_000 + (r.next() % 2000) as u32),
                limit: 100,
                ..Default::default()
            }),
        ),
        (
            "query_page100_address",
            Box::new(|r: &mut Rng| AlertFilter {
                address: Some(IpAddr::V4(Ipv4Addr::from(
                    0xc0a8_0000 | (r.next() as u32 & 0xff),
                ))),
                limit: 100,
                order: Order::NewestFirst,
                ..Default::default()
            }),
        ),
    ];
    // Latencies as a live appliance sees them: the newest alerts (and index entries) still in
    // the memtables, as right after ingest; then the same after a flush.
    for state in ["live", "flushed"] {
        if state == "flushed" {
            store.flush().unwrap();
        }
        for (name, mk) in &filters {
            let (mut lat, per_page) = first_pages(&store, 1000, 7, mk.as_ref());
            let (p50, p99, _) = percentiles(&mut lat);
            eprintln!(
                "store::{name} over {n} alerts ({state}): p50 {p50:.2} ms, p99 {p99:.2} ms, \
                 {per_page:.1} alerts per page"
            );
        }
    }
    let mut g = c.benchmark_group("store");
    g.sample_size(50);
    for (name, mk) in &filters {
        let mut r = Rng(11);
        g.bench_function(*name, |b| {
            b.iter(|| store.query_alerts(&mk(&mut r)).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench_append, bench_ingest, bench_query);
criterion_main!(benches);
