//! WebSocket fan-out: `console::ws_fanout`. Alerts are pushed into a worker ring as fast as
//! ingest takes them (`OSPREY_BENCH_WS_ALERTS`, default 50,000) while
//! `OSPREY_BENCH_WS_CLIENTS` (default 100; a list such as `10,100` alternates those counts)
//! WebSocket clients on `/api/v1/stream?topics=alerts` read them; runs alternate without and
//! with the clients (`OSPREY_BENCH_WS_ROUNDS` rounds, default 2). With
//! `OSPREY_BENCH_WS_RATE` (alerts/s, default 0 = as fast as ingest goes) the pushes are paced,
//! so the question becomes whether ingest keeps the offered rate with the clients. Printed per run:
//! the ingest rate (push start to the last alert stored), and with clients what they
//! received, what they were told they missed, and the lag from push to receipt (p50 and p99
//! over each client, then the median and worst client's p99).
//!
//! `cargo bench -p controlplane --bench console` (release), or with `--profile dev` for a
//! quick look (the control plane then runs unoptimised; dependencies are optimised).

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod sim;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlplane::config::{ConsoleConfig, ControlPlaneConfig};
use controlplane::ingest::RecordSource;
use controlplane::model::{Alert, FlowRecord, Role};
use controlplane::server::ControlPlane;
use futures_util::StreamExt as _;

const RING: usize = 65_536;

struct RingSource {
    rx: rtrb::Consumer<Alert>,
}

impl RecordSource for RingSource {
    fn name(&self) -> &str {
        "w0"
    }

    fn drain_alerts(&mut self, max: usize, out: &mut Vec<Alert>) -> usize {
        let mut n = 0;
        while n < max {
            let Ok(a) = self.rx.pop() else { break };
            out.push(a);
            n += 1;
        }
        n
    }

    fn drain_flows(&mut self, _max: usize, _out: &mut Vec<FlowRecord>) -> usize {
        0
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one client saw.
#[derive(Default)]
struct Seen {
    alerts: u64,
    missed: u64,
    lags: Vec<Duration>,
}

async fn client(addr: std::net::SocketAddr, total: u64, done: Arc<AtomicU64>) -> Seen {
    let url = format!("ws://{addr}/api/v1/stream?topics=alerts");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let mut seen = Seen::default();
    while seen.alerts + seen.missed < total {
        let next = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
        let Ok(Some(Ok(m))) = next else { break };
        let tokio_tungstenite::tungstenite::Message::Text(t) = m else {
            continue;
        };
        if t.starts_with("{\"data\":{\"count\"") || t.contains("\"topic\":\"missed\"") {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
            seen.missed += v["data"]["count"].as_u64().unwrap_or(0);
            continue;
        }
        // The push time is the alert's timestamp; parsing the one field keeps the client cheap.
        if let Some(ts) = t
            .split("\"timestamp_ns\":")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<u64>().ok())
        {
            seen.lags
                .push(Duration::from_nanos(now_ns().saturating_sub(ts)));
            seen.alerts += 1;
        }
    }
    done.fetch_add(1, Ordering::Relaxed);
    seen
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

async fn run(alerts: u64, clients: u64, rate: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ControlPlaneConfig::default();
    cfg.api.listen = "127.0.0.1:0".parse().unwrap();
    cfg.metrics.enabled = false;
    cfg.incidents.enabled = false;
    cfg.evidence.enabled = false;
    cfg.storage.path = dir.path().join("db");
    cfg.auth.anonymous_role = Some(Role::Viewer);
    cfg.console = Some(ConsoleConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        max_ws_clients: clients.max(1) as usize,
        ..ConsoleConfig::default()
    });
    let (mut tx, rx) = rtrb::RingBuffer::new(RING);
    let sim = sim::SimAppliance::new(&[]);
    let compiler = sim.compiler(Duration::ZERO);
    let cp =
        ControlPlane::start_with_sources(cfg, vec![Box::new(RingSource { rx })], sim, compiler)
            .await
            .unwrap();
    let addr = cp.console_addr.unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(client(addr, alerts, done.clone())))
        .collect();
    let ws_clients = || {
        cp.ctx
            .console
            .values()
            .iter()
            .find(|v| v.0 == "osprey_console_ws_clients")
            .map_or(0, |v| v.1)
    };
    while ws_clients() < clients {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let counters = cp.ctx.ingest.clone();
    let t = Instant::now();
    let pusher = std::thread::spawn(move || {
        let start = Instant::now();
        for i in 0..alerts {
            if rate > 0 {
                let due = Duration::from_secs_f64(i as f64 / rate as f64);
                while start.elapsed() < due {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            let mut a = Alert {
                ts_nanos: now_ns(),
                gid: 1,
                sid: 2_000_000 + (i % 50) as u32,
                rev: 1,
                src_ip: "192.0.2.1".parse().unwrap(),
                dst_ip: "198.51.100.2".parse().unwrap(),
                src_port: 40_000,
                dst_port: 80,
                proto: 6,
                worker: "w0".into(),
                ..Alert::default()
            };
            loop {
                match tx.push(a) {
                    Ok(()) => break,
                    Err(rtrb::PushError::Full(back)) => {
                        a = back;
                        std::thread::yield_now();
                    }
                }
            }
        }
    });
    while counters.counters.alerts_stored.load(Ordering::Relaxed) < alerts {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    pusher.join().unwrap();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    let lost: u64 = counters.alert_drops().iter().map(|(_, n)| n).sum();
    print!(
        "clients {clients:>3}: ingest {:>8.0} alerts/s ({alerts} in {secs:.2} s, {lost} lost)",
        alerts as f64 / secs
    );
    if !seen.is_empty() {
        let received: u64 = seen.iter().map(|s| s.alerts).sum();
        let missed: u64 = seen.iter().map(|s| s.missed).sum();
        let mut p99: Vec<f64> = seen.iter_mut().map(|s| pct(&mut s.lags, 0.99)).collect();
        let mut p50: Vec<f64> = seen.iter_mut().map(|s| pct(&mut s.lags, 0.5)).collect();
        p99.sort_by(f64::total_cmp);
        p50.sort_by(f64::total_cmp);
        print!(
            "; clients received {:.1}% and were told they missed {:.1}%; lag p50 {:.1} ms, p99 median client {:.1} ms, worst {:.1} ms",
            100.0 * received as f64 / (alerts * clients) as f64,
            100.0 * missed as f64 / (alerts * clients) as f64,
            p50[p50.len() / 2],
            p99[p99.len() / 2],
            p99[p99.len() - 1],
        );
    }
    println!();
    cp.request_shutdown();
    cp.wait().await;
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("console::ws_fanout: benchmark");
        return;
    }
    let alerts = env("OSPREY_BENCH_WS_ALERTS", 50_000);
    let clients = client_counts();
    let rate = env("OSPREY_BENCH_WS_RATE", 0);
    let rounds = env("OSPREY_BENCH_WS_ROUNDS", 2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "console::ws_fanout: {alerts} alerts at {}, WebSocket clients {clients:?}, {rounds} rounds alternating",
        if rate == 0 {
            "full speed".to_owned()
        } else {
            format!("{rate}/s")
        }
    );
    for _ in 0..rounds {
        for &n in &clients {
            rt.block_on(run(alerts, n, rate));
        }
    }
}

/// `OSPREY_BENCH_WS_CLIENTS`: client counts to alternate, comma-separated (default `100`);
/// a run without clients comes first whether listed or not.
fn client_counts() -> Vec<u64> {
    let text = std::env::var("OSPREY_BENCH_WS_CLIENTS").unwrap_or_else(|_| "100".into());
    let mut counts = vec![0];
    for part in text.split(',') {
        let n: u64 = part
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("OSPREY_BENCH_WS_CLIENTS: `{part}` is not a number"));
        if !counts.contains(&n) {
            counts.push(n);
        }
    }
    counts
}
