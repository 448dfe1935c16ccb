//! The console over a large store: writes N alerts through the store's batch API
//! (`Store::append_alerts`, 10,000 per batch) and then serves the console on that store,
//! so a browser can time the alerts page and its queries with millions of alerts kept.
//!
//! ```sh
//! nice -n 19 cargo run -p controlplane --example console_store \
//!     --config 'profile.dev.package.controlplane.opt-level=3' \
//!     --config 'profile.dev.package.controlplane.debug-assertions=false' \
//!     --config 'profile.dev.package.controlplane.overflow-checks=false' -- \
//!     --alerts 10000000 --dir /tmp/console-store --serve-secs 600 --listen 127.0.0.1:8443
//! ```
//!
//! Alerts: packet times evenly spread over the `--span-secs` (default a day) ending now, so
//! the page's default hour holds 1/24 of them; 200 signatures, the first ones far more
//! frequent (signature `k` of 200 about 1/k as often); sources among the 256 addresses of
//! 192.0.2.0/24, destinations among the 512 of 198.51.100.0/24 and 203.0.113.0/24; a tactic
//! on a third of them; a 64-byte payload excerpt.
//! Writing stops after `--max-write-secs` (default 900) and says how many were written. A
//! store that already holds alerts is written to again (`--alerts 0` serves it as it is).
//! The console takes the bearer token `--token` (default `scale-token`, admin).

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod sim;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use controlplane::config::{ConsoleConfig, ControlPlaneConfig, TokenConfig};
use controlplane::model::{Alert, Attack, Role};
use controlplane::server::ControlPlane;
use controlplane::store::{Store, StoreOptions};

const BATCH: usize = 10_000;
const SIDS: u64 = 200;

struct Args {
    alerts: u64,
    dir: std::path::PathBuf,
    span_secs: u64,
    max_write_secs: u64,
    serve_secs: u64,
    listen: std::net::SocketAddr,
    token: String,
}

fn args() -> Args {
    let mut a = Args {
        alerts: 10_000_000,
        dir: "/tmp/console-store".into(),
        span_secs: 86_400,
        max_write_secs: 900,
        serve_secs: 0,
        listen: "127.0.0.1:0".parse().expect("an address"),
        token: "scale-token".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        let n = || {
            v.parse::<u64>()
                .unwrap_or_else(|_| panic!("{k}: `{v}` is not a number"))
        };
        match k.as_str() {
            "--alerts" => a.alerts = n(),
            "--dir" => a.dir = v.clone().into(),
            "--span-secs" => a.span_secs = n().max(1),
            "--max-write-secs" => a.max_write_secs = n(),
            "--serve-secs" => a.serve_secs = n(),
            "--listen" => a.listen = v.parse().unwrap_or_else(|_| panic!("--listen: `{v}`")),
            "--token" => a.token = v.clone(),
            _ => panic!("unknown argument {k}: --alerts --dir --span-secs --max-write-secs --serve-secs --listen --token"),
        }
    }
    a
}

/// splitmix64: a fixed pseudo-random sequence.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Signature of a draw: `k` about 1/k as often (a discrete log-uniform draw).
fn sid_of(r: u64) -> u32 {
    let u = (r % 1_000_000) as f64 / 1_000_000.0;
    let k = (SIDS as f64).powf(u) as u64;
    2_100_000 + k.clamp(1, SIDS) as u32
}

const TACTICS: [(&str, &str); 3] = [
    ("TA0011", "Command_And_Control"),
    ("TA0001", "Initial_Access"),
    ("TA0007", "Discovery"),
];

fn alert(i: u64, start_ns: u64, step_ns: u64) -> Alert {
    let r = mix(i);
    let sid = sid_of(r);
    let inside = IpAddr::V4(Ipv4Addr::new(192, 0, 2, (r >> 20) as u8));
    let third = if r >> 40 & 1 == 0 { 100 } else { 113 };
    let second = if third == 100 { 51 } else { 0 };
    let first = if third == 100 { 198 } else { 203 };
    let outside = IpAddr::V4(Ipv4Addr::new(first, second, third, (r >> 28) as u8));
    let tactic = TACTICS.get((r >> 50) as usize % 9);
    Alert {
        ts_nanos: start_ns + i * step_ns,
        gid: 1,
        sid,
        rev: 1,
        msg: format!("OSPREY SCALE signature {sid}"),
        category: "A Network Trojan was detected".into(),
        severity: 1 + (sid % 3) as u8,
        src_ip: inside,
        src_port: 40_000 + (r % 20_000) as u16,
        dst_ip: outside,
        dst_port: [80, 443, 53, 8080][(r >> 8) as usize % 4],
        proto: 6,
        app_proto: "http".into(),
        flow_id: r,
        payload: (0..64u8).map(|b| b.wrapping_add(r as u8)).collect(),
        worker: "w0".into(),
        generation: 1,
        attack: tactic.map_or_else(Attack::default, |(id, name)| Attack {
            tactic_id: (*id).into(),
            tactic_name: (*name).into(),
            ..Attack::default()
        }),
        ..Alert::default()
    }
}

/// Writes the alerts; returns how many were written.
fn write(a: &Args) -> u64 {
    let store = Store::open(&a.dir.join("db"), &StoreOptions::default()).expect("open the store");
    let end = now_ns();
    let start = end - a.span_secs * 1_000_000_000;
    let step = (a.span_secs * 1_000_000_000) / a.alerts.max(1);
    let t = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    let mut written = 0;
    while written < a.alerts {
        if t.elapsed() > Duration::from_secs(a.max_write_secs) {
            eprintln!("stopped after {} s (--max-write-secs)", a.max_write_secs);
            break;
        }
        batch.clear();
        let n = (a.alerts - written).min(BATCH as u64);
        batch.extend((written..written + n).map(|i| alert(i, start, step)));
        store.append_alerts(&mut batch).expect("append");
        written += n;
        if written % 1_000_000 == 0 {
            eprintln!("{written} alerts in {:.0} s", t.elapsed().as_secs_f64());
        }
    }
    store.flush().expect("flush");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{{\"alerts_written\":{written},\"write_secs\":{secs:.1},\"alerts_per_sec\":{:.0},\"store_bytes\":{}}}",
        written as f64 / secs.max(1e-9),
        store.size_bytes()
    );
    written
}

async fn serve(a: &Args) {
    let mut cfg = ControlPlaneConfig::default();
    cfg.api.listen = "127.0.0.1:0".parse().expect("an address");
    cfg.metrics.enabled = false;
    cfg.storage.path = a.dir.join("db");
    // Retention would start deleting a day-old store at once with a small cap: none here.
    cfg.storage.max_age_secs = 0;
    cfg.auth.tokens = vec![TokenConfig {
        name: "scale".into(),
        role: Role::Admin,
        sha256: controlplane::api::auth::token_sha256_hex(&a.token),
    }];
    cfg.console = Some(ConsoleConfig {
        listen: a.listen,
        ..ConsoleConfig::default()
    });
    let sim = sim::SimAppliance::new(&[]);
    let compiler = sim.compiler(Duration::ZERO);
    let cp = ControlPlane::start_with_sources(cfg, Vec::new(), sim, compiler)
        .await
        .expect("start the control plane");
    println!(
        "{{\"console\":\"http://{}\"}}",
        cp.console_addr.expect("a console")
    );
    tokio::time::sleep(Duration::from_secs(a.serve_secs)).await;
    cp.request_shutdown();
    cp.wait().await;
}

fn main() {
    let a = args();
    if a.alerts > 0 {
        write(&a);
    }
    if a.serve_secs > 0 {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(serve(&a));
    }
}
