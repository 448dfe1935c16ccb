//! `osprey bench`: a capture looped from memory for a fixed time, throughput per worker.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::{load_engine, stop_on_signals};
use clap::Args;
use dataplane::runtime::{self, ReplayOptions};
use dataplane::worker::WorkerConfig;

#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// The capture (pcap or pcapng), looped from memory by net_pcap's infinite_rx.
    #[arg(long)]
    pcap: PathBuf,
    /// How long to run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Worker lcores.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Configuration file for the `[dpdk]` settings and the `[evidence]` packet ring.
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Rule files to detect with while benchmarking.
    #[arg(long, num_args = 1..)]
    rules: Vec<PathBuf>,
    /// `ids` watches only; `inline` forwards every packet its verdict lets through to a
    /// `net_null` peer (from the same mbuf) and reports the forwarded rate and the time
    /// packets spend in the box.
    #[arg(long, default_value = "ids", value_parser = ["ids", "inline"])]
    mode: String,
    /// Threat-intelligence files matched while benchmarking (as `osprey replay --intel`).
    #[arg(long, num_args = 1..)]
    intel: Vec<PathBuf>,
    /// BPF capture filter (tcpdump syntax): rejected frames are counted, not inspected.
    #[arg(long)]
    filter: Option<String>,
    /// A block list to apply (one `osprey ctl block add` entry per line); inline, hits are
    /// dropped.
    #[arg(long)]
    blocklist: Option<PathBuf>,
    /// Pace the capture at its own times × this factor (`[capture] pace = "capture"`); a
    /// factor far above what the worker reaches measures what pacing costs per packet.
    #[arg(long)]
    speed: Option<f64>,
    /// Render every transaction's EVE record (JA3/JA4 included) as `osprey run` has the
    /// workers do for retro-hunting (`[intel.hunt] enabled`), handed over the EVE ring and
    /// counted: what keeping protocol metadata costs the worker.
    #[arg(long)]
    app_records: bool,
    #[command(flatten)]
    limits: crate::replay::LimitArgs,
}

#[derive(serde::Serialize)]
struct BenchWorker {
    worker: usize,
    lcore: u32,
    packets: u64,
    pps: f64,
    gbps: f64,
    cycles_per_packet: f64,
    /// CPU seconds the worker's thread ran (less than `seconds` when other processes
    /// preempted it on a shared machine).
    cpu_seconds: Option<f64>,
    /// Packets per CPU second of the worker: its rate on a core of its own.
    pps_per_cpu_second: Option<f64>,
    /// Inline: packets forwarded per second.
    forwarded_pps: Option<f64>,
    /// Inline: time from a burst's receipt to the return of its transmission, per packet
    /// sent, median and 99th percentile, in microseconds.
    latency_p50_us: Option<f64>,
    latency_p99_us: Option<f64>,
}

#[derive(serde::Serialize)]
struct BenchReport {
    pcap: PathBuf,
    mode: String,
    seconds: f64,
    packets: u64,
    bytes: u64,
    pps: f64,
    gbps: f64,
    cycles_per_packet: f64,
    tsc_hz: u64,
    per_worker: Vec<BenchWorker>,
    drops: runtime::Drops,
}

pub(crate) fn cmd_bench(a: BenchArgs) -> anyhow::Result<ExitCode> {
    let mut worker = WorkerConfig::default();
    let file = match &a.config {
        Some(p) => Some(crate::config::Config::load(Some(p))?),
        None => None,
    };
    a.limits.limits(file.as_ref()).apply(&mut worker.pipeline);
    if let Some(f) = &file {
        worker.pipeline.evidence =
            crate::config::evidence_ring(&f.evidence).map_err(anyhow::Error::msg)?;
    }
    worker.pipeline.engine = load_engine(&a.rules)?;
    worker.pipeline.intel = crate::replay::load_intel(&a.intel, a.json)?;
    worker.pipeline.blocklist = crate::blockfile::load(a.blocklist.as_deref())?;
    worker.pipeline.app.eve_logging = a.app_records;
    worker.pipeline.app.tls_fingerprints = a.app_records;
    let opts = ReplayOptions {
        pcap: a.pcap.clone(),
        workers: a.workers,
        eal: file.map(|c| c.dpdk).unwrap_or_default(),
        infinite: true,
        duration: Some(Duration::from_secs(a.seconds.max(1))),
        stop: stop_on_signals()?,
        worker,
        inline: (a.mode == "inline").then_some(runtime::InlinePeer::Null),
        filter: a.filter.clone(),
        pace: a.speed,
    };
    let inline = opts.inline.is_some();
    let mut records = 0u64;
    let mut on_eve = |_worker: usize, _event_type: &str, _line: &[u8]| records += 1;
    let on_eve: Option<runtime::OnEve<'_>> = if a.app_records {
        Some(&mut on_eve)
    } else {
        None
    };
    let r = runtime::replay(&opts, None, None, None, on_eve)?;
    if a.app_records && !a.json {
        println!("app-layer records rendered and handed over: {records}");
    }
    let secs = r.elapsed_secs.max(1e-9);
    // Cycles per packet per worker: the worker's whole poll loop (PMD receive included) over
    // the packets it handled.
    let per_worker: Vec<BenchWorker> = r
        .per_worker
        .iter()
        .map(|w| {
            let c = |n: &str| w.counters.get(n).copied().unwrap_or(0) as f64;
            let us = |n: &str| c(n) * 1e6 / r.tsc_hz.max(1) as f64;
            BenchWorker {
                worker: w.worker,
                lcore: w.lcore,
                packets: w.packets,
                pps: w.packets as f64 / secs,
                gbps: w.captured_bytes as f64 * 8.0 / secs / 1e9,
                cycles_per_packet: if w.packets > 0 {
                    (r.tsc_hz as f64 * secs) / w.packets as f64
                } else {
                    0.0
                },
                cpu_seconds: w.cpu_secs,
                pps_per_cpu_second: w
                    .cpu_secs
                    .filter(|&c| c > 0.0)
                    .map(|c| w.packets as f64 / c),
                forwarded_pps: inline.then(|| c("inline.forwarded") / secs),
                latency_p50_us: inline.then(|| us("inline.latency_p50_cycles")),
                latency_p99_us: inline.then(|| us("inline.latency_p99_cycles")),
            }
        })
        .collect();
    let report = BenchReport {
        pcap: a.pcap,
        mode: a.mode,
        seconds: secs,
        packets: r.packets,
        bytes: r.captured_bytes,
        pps: r.packets as f64 / secs,
        gbps: r.captured_bytes as f64 * 8.0 / secs / 1e9,
        cycles_per_packet: if r.packets > 0 {
            r.worker_cycles as f64 / r.packets as f64
        } else {
            0.0
        },
        tsc_hz: r.tsc_hz,
        per_worker,
        drops: r.drops,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for w in &report.per_worker {
            let cpu = match (w.cpu_seconds, w.pps_per_cpu_second) {
                (Some(c), Some(p)) => {
                    format!("; {c:.2} s of CPU, {:.3} Mpps per CPU second", p / 1e6)
                }
                _ => String::new(),
            };
            let fwd = match (w.forwarded_pps, w.latency_p50_us, w.latency_p99_us) {
                (Some(f), Some(p50), Some(p99)) => format!(
                    "; forwarded {:.3} Mpps, in the box p50 {p50:.1} µs p99 {p99:.1} µs",
                    f / 1e6
                ),
                _ => String::new(),
            };
            println!(
                "worker {} (lcore {}): {:.3} Mpps, {:.2} Gbps, {:.0} cycles/packet{cpu}{fwd}",
                w.worker,
                w.lcore,
                w.pps / 1e6,
                w.gbps,
                w.cycles_per_packet
            );
        }
        println!(
            "total: {:.3} Mpps, {:.2} Gbps, {:.0} cycles/packet over {:.1} s ({} packets)",
            report.pps / 1e6,
            report.gbps,
            report.cycles_per_packet,
            report.seconds,
            report.packets
        );
    }
    Ok(ExitCode::SUCCESS)
}
