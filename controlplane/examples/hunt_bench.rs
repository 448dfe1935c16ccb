//! Retro-hunt at scale: writes N protocol-metadata records through the store's batch API
//! (`Store::append_metadata`, 10,000 per batch), imports K new indicators and times one hunt
//! of all of them, printing one JSON line.
//!
//! ```sh
//! nice -n 19 cargo run -p controlplane --example hunt_bench \
//!     --config 'profile.dev.package.controlplane.opt-level=3' \
//!     --config 'profile.dev.package.stix.opt-level=3' \
//!     --config 'profile.dev.package.vocab.opt-level=3' -- \
//!     --records 10000000 --indicators 10000 --dir /tmp/hunt-bench
//! ```
//!
//! Records, by `i % 10`: 0–3 a DNS query and its answer address, 4–6 a TLS SNI and
//! certificate fingerprint, 7–9 a flow's two addresses; names drawn from 2M (`hN.example`),
//! server addresses from 198.18.0.0/15, packet times 50 µs apart. Indicators: of each
//! hundred, a name and an address of the pool, of each thousand a /24 of the servers; the
//! rest unseen names and addresses (100.64.0.0/10).
//! Writing stops after `--max-write-secs` (default 900), and says so.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use controlplane::config::IntelConfig;
use controlplane::intel::hunt::{HuntRequest, Trigger};
use controlplane::intel::Intel;
use controlplane::seams::{Appliance, ApplianceStatus, StatsSnapshot};
use controlplane::store::hunt::{MetaField, MetaRecord};
use controlplane::store::{Store, StoreOptions};

struct NoWorkers;

impl Appliance for NoWorkers {
    fn status(&self) -> ApplianceStatus {
        ApplianceStatus::default()
    }
    fn stats(&self) -> StatsSnapshot {
        StatsSnapshot::default()
    }
    fn shutdown(&self) {}
}

/// splitmix64: a fixed pseudo-random sequence.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const NAMES: u64 = 2_000_000;
const BASE_NS: u64 = 1_796_083_200_000_000_000; // 2026-12-01

fn server(n: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0xc612_0000 | (n as u32 & 0x1_ffff)))
}

fn record(i: u64) -> MetaRecord {
    let r = mix(i);
    let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (r as u32 & 0xff_ffff)));
    let name = format!("h{}.example", mix(r) % NAMES);
    let dst = server(mix(r ^ 1));
    let values = match i % 10 {
        0..=3 => vec![
            (MetaField::DnsQuery, name),
            (MetaField::DnsAnswerAddr, dst.to_string()),
        ],
        4..=6 => vec![
            (MetaField::TlsSni, name),
            (
                MetaField::TlsCertSha1,
                format!("{:016x}{:016x}{:08x}", r, mix(r), r as u32),
            ),
        ],
        _ => vec![
            (MetaField::SrcIp, client.to_string()),
            (MetaField::DestIp, dst.to_string()),
        ],
    };
    MetaRecord {
        ts_nanos: BASE_NS + i * 50_000,
        flow_id: i,
        src_ip: client,
        src_port: 40_000 + (r % 20_000) as u16,
        dest_ip: dst,
        dest_port: [53, 443, 443, 80][(i % 4) as usize],
        proto: if i % 10 < 4 { 17 } else { 6 },
        values,
    }
}

/// K distinct indicator values, one per line (a plain list): as with real feeds, few are on
/// this network: of each hundred, one name and one address of the pool, of each thousand
/// one /24 of the servers' range; the rest names and addresses never seen.
fn indicators(k: u64) -> String {
    let mut out = String::new();
    for j in 0..k {
        let r = mix(j ^ 0x5eed);
        let line = match j % 100 {
            0 => format!("h{}.example", r % NAMES),
            1 => server(r).to_string(),
            2 if j % 1000 == 2 => format!("198.18.{}.0/24", j / 1000 % 256),
            n if n % 2 == 0 => format!("h{}.example", NAMES + j),
            _ => IpAddr::V4(Ipv4Addr::from(0x6440_0000 | j as u32)).to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n = arg(&args, "--records", 10_000_000);
    let k = arg(&args, "--indicators", 10_000);
    let max_write = std::time::Duration::from_secs(arg(&args, "--max-write-secs", 900));
    let dir = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .map_or_else(|| std::env::temp_dir().join("hunt-bench"), Into::into);
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(Store::open(&dir.join("db"), &StoreOptions::default())?);

    let started = Instant::now();
    let mut written = 0u64;
    let mut batch = Vec::with_capacity(10_000);
    while written < n && started.elapsed() < max_write {
        batch.clear();
        batch.extend((written..(written + 10_000).min(n)).map(record));
        store.append_metadata(&batch)?;
        written += batch.len() as u64;
    }
    store.flush()?;
    let write_secs = started.elapsed().as_secs_f64();
    let sizes = store.hunt_storage();

    let cfg = IntelConfig::default();
    let intel = Intel::open(store.clone(), Arc::new(NoWorkers), &cfg, BASE_NS)?;
    let t = Instant::now();
    let imported = intel.import("bench", indicators(k).as_bytes(), BASE_NS)?;
    let import_secs = t.elapsed().as_secs_f64();
    let req = HuntRequest {
        trigger: Trigger::Manual,
        feed: Some("bench".into()),
        indicators: None,
        since_ns: 0,
    };
    let run = intel.hunt(&req, BASE_NS)?;
    // Again: every match is a duplicate now (the steady cost of re-hunting).
    let again = intel.hunt(&req, BASE_NS)?;
    let out = serde_json::json!({
        "records": written,
        "records_asked": n,
        "write_secs": write_secs,
        "records_per_sec": written as f64 / write_secs,
        "index_bytes": sizes.index_bytes,
        "record_bytes": sizes.record_bytes,
        "index_bytes_per_record": sizes.index_bytes as f64 / written as f64,
        "record_bytes_per_record": sizes.record_bytes as f64 / written as f64,
        "indicators": imported.indicators.active,
        "import_secs": import_secs,
        "hunt_ms": run.duration_ns as f64 / 1e6,
        "hunt_passes": run.passes,
        "entries_read": run.entries,
        "matches": run.matches,
        "findings": run.findings,
        "truncated": run.truncated,
        "rehunt_ms": again.duration_ns as f64 / 1e6,
        "rehunt_duplicates": again.duplicates,
    });
    println!("{out}");
    Ok(())
}
