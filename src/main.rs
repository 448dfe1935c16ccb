//! `osprey`: the appliance binary. Subcommands dispatch to the crates; nothing here holds
//! packet logic.
//!
//! - `osprey run [-c FILE]`: the appliance (embedded default: replay the bundled demo capture in
//!   a loop): data plane, control plane (storage, gRPC API, metrics), live status line.
//! - `osprey ctl ...`: the management console (gRPC client of a running appliance).
//! - `osprey replay --pcap FILE`: one pass of a capture through DPDK `net_pcap` and the workers.
//! - `osprey bench --pcap FILE`: the same capture looped from memory for a fixed time.
//! - `osprey pcap scan|split`: capture-file tools.
//! - `osprey rules check|compile|export`: the rule tools of the `rules` crate.

mod appliance;
mod config;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use dataplane::dpdk::PortStats;
use dataplane::runtime::{self, EalConfig, Plan, PortPlan, ReplayOptions, WorkerPlan};
use dataplane::worker::{Published, WorkerConfig};

const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("OSPREY_GIT_REV"),
    ", DPDK ",
    env!("OSPREY_DPDK_VERSION"),
    ")"
);

#[derive(Parser, Debug)]
#[command(name = "osprey", version, long_version = LONG_VERSION, about = "Network intrusion detection and prevention appliance")]
struct Cli {
    /// Log filter (tracing syntax), e.g. `info` or `dataplane=debug`.
    #[arg(long, global = true, default_value = "warn", env = "OSPREY_LOG")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the appliance (embedded default: loop the bundled demo capture through net_pcap).
    Run(RunArgs),
    /// Replay a capture once through DPDK net_pcap and the worker pipeline.
    Replay(ReplayArgs),
    /// Loop a capture from memory for a fixed time and report throughput per worker.
    Bench(BenchArgs),
    /// Capture-file tools.
    #[command(subcommand)]
    Pcap(PcapCommand),
    /// Rule tools: check, compile, export.
    Rules(rules::cli::RulesArgs),
    /// Manage a running appliance over its gRPC API (status, stats, rules, alerts, flows).
    Ctl(controlplane::console::CtlArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Configuration file (TOML); the embedded default when absent.
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Stop after this many seconds (default: run until Ctrl-C/SIGTERM).
    #[arg(long)]
    seconds: Option<u64>,
    /// Write the bound API and metrics addresses to this file once they listen (JSON:
    /// `{"api": "127.0.0.1:50051", "metrics": ...}`), for scripts that start on port 0.
    #[arg(long)]
    addr_file: Option<PathBuf>,
    /// Override `[storage] path`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Override `[api] listen` (e.g. `127.0.0.1:0`).
    #[arg(long)]
    api_listen: Option<std::net::SocketAddr>,
    /// Override `[metrics] listen`.
    #[arg(long)]
    metrics_listen: Option<std::net::SocketAddr>,
}

#[derive(Args, Debug)]
struct ReplayArgs {
    /// The capture (pcap or pcapng).
    #[arg(long)]
    pcap: PathBuf,
    /// Worker lcores; the capture is split by a symmetric host hash, one file per worker.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Write the counters as JSON to this file.
    #[arg(long)]
    stats_json: Option<PathBuf>,
    /// Configuration file for the `[dpdk]` settings (default: no hugepages, no PCI).
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Rule files (Suricata syntax) to detect with; each option takes one or more files.
    #[arg(long, num_args = 1..)]
    rules: Vec<PathBuf>,
    /// Write EVE JSON events (one per line, Suricata's format) to this file.
    #[arg(long)]
    eve: Option<PathBuf>,
    /// EVE event types to write, comma-separated (default: every type). Produced today:
    /// `flow`, `alert` (with --rules), `anomaly`; `http`, `dns`, `tls` are accepted and written
    /// as their stages land.
    #[arg(long, value_delimiter = ',', value_parser = ["alert", "flow", "anomaly", "http", "dns", "tls", "stats"])]
    eve_types: Vec<String>,
    /// EVE `anomaly` record types, comma-separated: `decode` (decoder events), `stream` (TCP
    /// stream events), `applayer` (app-layer parser events). Default: the config file's
    /// `[eve] anomaly_types`, else Suricata's default configuration (`applayer`).
    #[arg(long, value_delimiter = ',', value_parser = ["decode", "stream", "applayer"])]
    anomaly_types: Option<Vec<String>>,
    /// Bytes of each worker's EVE record ring (default 4 MiB). A replay never drops records:
    /// when the ring is full the worker waits for the writer (`eve.queue_waits`).
    #[arg(long)]
    eve_ring_bytes: Option<usize>,
    /// Engine mode flags, comma-separated: `checksum-off` (do not validate checksums, like
    /// Suricata's `-k none`), `stream-inline`, `midstream`, `simulate-ips`.
    #[arg(long, default_value = "", value_parser = parse_flags)]
    flags: Flags,
    /// Print nothing on success.
    #[arg(short, long)]
    quiet: bool,
}

/// Engine mode flags (`--flags`).
#[derive(Clone, Copy, Debug, Default)]
struct Flags {
    checksum_off: bool,
    stream_inline: bool,
    midstream: bool,
    simulate_ips: bool,
}

fn parse_flags(s: &str) -> Result<Flags, String> {
    let mut f = Flags::default();
    for flag in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        match flag {
            "checksum-off" => f.checksum_off = true,
            "stream-inline" => f.stream_inline = true,
            "midstream" => f.midstream = true,
            "simulate-ips" => f.simulate_ips = true,
            other => {
                return Err(format!(
                    "unknown flag {other:?} (known: checksum-off, stream-inline, midstream, simulate-ips)"
                ))
            }
        }
    }
    Ok(f)
}

impl Flags {
    fn worker_config(self) -> WorkerConfig {
        let mut w = WorkerConfig::default();
        w.pipeline.decode.checksum_validation = !self.checksum_off;
        w.pipeline.flow.stream.inline = self.stream_inline;
        w.pipeline.flow.stream.midstream = self.midstream;
        w
    }
}

#[derive(Args, Debug)]
struct BenchArgs {
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
    /// Configuration file for the `[dpdk]` settings.
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Rule files to detect with while benchmarking.
    #[arg(long, num_args = 1..)]
    rules: Vec<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum PcapCommand {
    /// Print what a capture holds (format, link type, packets, bytes, cut frames).
    Scan {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Split a capture into one file per worker by a symmetric host hash.
    Split {
        file: PathBuf,
        #[arg(long)]
        workers: usize,
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if matches!(
        cli.command,
        Command::Pcap(_) | Command::Rules(_) | Command::Ctl(_)
    ) {
        // Commands without an EAL to clean up: a closed output pipe ends them at once.
        quiet_on_broken_pipe();
    }
    let result = match cli.command {
        Command::Run(a) => cmd_run(a),
        Command::Replay(a) => cmd_replay(a),
        Command::Bench(a) => cmd_bench(a),
        Command::Pcap(c) => cmd_pcap(c),
        Command::Rules(a) => {
            rules::cli::run(a).map(|code| ExitCode::from(code.clamp(0, 255) as u8))
        }
        Command::Ctl(a) => cmd_ctl(a),
    };
    match result {
        Ok(code) => code,
        // The reader of our output went away (`osprey ... | head`): nothing to report.
        Err(e) if is_broken_pipe(&e) => ExitCode::from(BROKEN_PIPE_EXIT),
        Err(e) => {
            // One line naming the problem, causes joined.
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                // Transparent wrappers repeat their source's text; say it once.
                if !msg.contains(&c) {
                    msg.push_str(": ");
                    msg.push_str(&c);
                }
            }
            // Not eprintln!: with stderr gone too (`2>&1 | head`) it would panic.
            let _ = writeln!(std::io::stderr(), "osprey: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// The exit status of a process killed by SIGPIPE as shells report it (128 + 13), which a
/// command whose output pipe was closed returns instead.
const BROKEN_PIPE_EXIT: u8 = 141;

/// True when `e` comes from writing to a pipe whose reader has gone.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `println!` panics when its pipe has been closed (Rust ignores SIGPIPE, so the write fails
/// with EPIPE instead of ending the process): exit quietly with [`BROKEN_PIPE_EXIT`] then, as a
/// Unix tool killed by SIGPIPE would; every other panic goes to the default hook.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        // std's message: "failed printing to stdout: Broken pipe (os error 32)" (EPIPE is 32
        // on Linux).
        let epipe = std::io::Error::from_raw_os_error(32).to_string();
        if msg.starts_with("failed printing to std") && msg.ends_with(&epipe) {
            std::process::exit(i32::from(BROKEN_PIPE_EXIT));
        }
        default(info);
    }));
}

/// A stop flag set by Ctrl-C and SIGTERM.
fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    ctrlc::set_handler(move || {
        if s.swap(true, Ordering::SeqCst) {
            // Second signal: the user insists. The EAL guard will not run; take its runtime
            // directory along (it holds nothing unless a file prefix was configured).
            dataplane::dpdk::remove_empty_runtime_dir();
            std::process::exit(130);
        }
    })
    .context("installing the signal handler")?;
    Ok(stop)
}

fn eal_config(path: Option<&PathBuf>) -> anyhow::Result<EalConfig> {
    Ok(match path {
        Some(p) => config::Config::load(Some(p))?.dpdk,
        None => EalConfig::default(),
    })
}

/// Like Suricata, the classtypes come from `classification.config` (`path`, or beside the
/// first rule file): they set the rules' default priority and the alerts' `category`. A
/// missing file leaves classtypes unchecked; its malformed lines are reported and skipped.
fn classifications(
    path: Option<&std::path::Path>,
    files: &[PathBuf],
) -> Option<rules::config::Classifications> {
    let p = match path {
        Some(p) => p.to_path_buf(),
        None => files
            .first()?
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("classification.config"),
    };
    let text = std::fs::read_to_string(&p).ok()?;
    let (c, errs) = rules::config::Classifications::parse(&text);
    for e in errs {
        tracing::warn!("{}:{}: {}", p.display(), e.line, e.message);
    }
    Some(c)
}

/// Loads and compiles rule files; diagnostics of rules that fail go to stderr, the rest load.
fn load_engine(files: &[PathBuf]) -> anyhow::Result<Option<Arc<rules::Engine>>> {
    if files.is_empty() {
        return Ok(None);
    }
    let classes = classifications(None, files);
    let load = rules::LoadOptions {
        classes: classes.clone(),
        ..Default::default()
    };
    let set = rules::load_files(files, load).context("reading rule files")?;
    for d in set.report.diagnostics.iter().take(20) {
        tracing::warn!("{d}");
    }
    let opts = rules::CompileOptions {
        cache_dir: Some(std::env::temp_dir().join("osprey-hyperscan-cache")),
        ..Default::default()
    };
    let mut engine = rules::Engine::compile(&set.rules, &opts).context("compiling rules")?;
    if let Some(c) = &classes {
        engine = engine.with_classifications(c);
    }
    Ok(Some(Arc::new(engine)))
}

/// What each replay worker runs: the flags, the engine, the anomaly types (flag, else the
/// configuration file, else Suricata's default) and which EVE records the workers render.
fn replay_worker_config(
    a: &ReplayArgs,
    engine: Option<Arc<rules::Engine>>,
    file_cfg: Option<&config::Config>,
    wants: impl Fn(&str) -> bool,
) -> anyhow::Result<WorkerConfig> {
    let mut worker = a.flags.worker_config();
    worker.pipeline.engine = engine;
    worker.pipeline.anomaly = match &a.anomaly_types {
        Some(names) => {
            dataplane::pipeline::AnomalyTypes::from_names(names.iter().map(String::as_str))
                .map_err(|n| anyhow::anyhow!("unknown anomaly type {n:?}"))?
        }
        None => file_cfg.map_or(dataplane::pipeline::AnomalyTypes::SURICATA_DEFAULT, |c| {
            c.eve.anomaly()
        }),
    };
    // Alerts, app-layer transactions and anomalies are rendered by the workers (they alone
    // have the flow's counters and the transactions); flows come from the flow records.
    worker.eve_alerts = a.eve.is_some() && wants("alert") && worker.pipeline.engine.is_some();
    worker.pipeline.app.eve_logging =
        a.eve.is_some() && ["http", "dns", "tls", "websocket"].iter().any(|t| wants(t));
    if let Some(b) = a.eve_ring_bytes {
        worker.eve_ring_bytes = b;
    }
    Ok(worker)
}

fn cmd_replay(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    let engine = load_engine(&a.rules)?;
    let file_cfg = match &a.config {
        Some(p) => Some(config::Config::load(Some(p))?),
        None => None,
    };
    let wants = |t: &str| a.eve_types.is_empty() || a.eve_types.iter().any(|x| x == t);
    let worker = replay_worker_config(&a, engine, file_cfg.as_ref(), wants)?;
    let opts = ReplayOptions {
        pcap: a.pcap.clone(),
        workers: a.workers,
        eal: file_cfg.map(|c| c.dpdk).unwrap_or_default(),
        infinite: false,
        duration: None,
        stop: stop_on_signals()?,
        worker,
    };
    let eve = match &a.eve {
        Some(p) => Some(std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    // Flow and worker-rendered records are written as they arrive; both callbacks share the
    // writer and the first write error.
    let eve = std::cell::RefCell::new(eve);
    let eve_error: std::cell::RefCell<Option<std::io::Error>> = Default::default();
    let written = std::cell::RefCell::new(EveWritten::default());
    let mut on_flow = |_worker: usize, rec: &dataplane::flow::FlowRecord| {
        let mut err = eve_error.borrow_mut();
        if let (Some(w), None) = (eve.borrow_mut().as_mut(), err.as_ref()) {
            match dataplane::flow::write_eve_flow(rec, &mut *w) {
                Ok(()) => written.borrow_mut().count("flow"),
                Err(e) => *err = Some(e),
            }
        }
    };
    let mut on_eve = |_worker: usize, event_type: &str, line: &[u8]| {
        if !wants(event_type) {
            return;
        }
        let mut err = eve_error.borrow_mut();
        if let (Some(w), None) = (eve.borrow_mut().as_mut(), err.as_ref()) {
            match w.write_all(line).and_then(|()| w.write_all(b"\n")) {
                Ok(()) => written.borrow_mut().count(event_type),
                Err(e) => *err = Some(e),
            }
        }
    };
    let flows_wanted = a.eve.is_some() && wants("flow");
    // Worker-rendered types (alert, anomaly, http, dns, tls, ...); filtered per record by type.
    let records_wanted =
        a.eve.is_some() && (a.eve_types.is_empty() || a.eve_types.iter().any(|t| t != "flow"));
    let report = runtime::replay(
        &opts,
        None,
        if flows_wanted {
            Some(&mut on_flow)
        } else {
            None
        },
        None,
        if records_wanted {
            Some(&mut on_eve)
        } else {
            None
        },
    )?;
    let mut eve = eve.into_inner();
    if let (Some(w), true) = (eve.as_mut(), wants("stats")) {
        let mut line = eve_stats_record(&report.per_worker, report.elapsed_secs);
        line.push(b'\n');
        w.write_all(&line).context("writing EVE")?;
        written.borrow_mut().count("stats");
    }
    if let Some(e) = eve_error.into_inner() {
        return Err(anyhow::Error::new(e).context("writing EVE"));
    }
    if let Some(mut w) = eve {
        w.flush().context("writing EVE")?;
    }
    if let Some(p) = &a.stats_json {
        let f = std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
        let stats = StatsJson {
            eve: EveStats {
                written: written.into_inner().0,
                queue_overflow: report
                    .per_worker
                    .iter()
                    .filter_map(|w| w.counters.get("eve.queue_overflow"))
                    .sum(),
            },
            report: &report,
        };
        serde_json::to_writer_pretty(std::io::BufWriter::new(f), &stats)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    if !a.quiet {
        let mut out = std::io::stdout().lock();
        for w in &report.per_worker {
            writeln!(
                out,
                "worker {} (lcore {}): {} packets, {} bytes",
                w.worker, w.lcore, w.packets, w.bytes
            )?;
        }
        writeln!(
            out,
            "total: {} packets, {} bytes ({} captured) in {:.3} s; drops: imissed {} rx_nombuf {} undelivered {}",
            report.packets,
            report.bytes,
            report.captured_bytes,
            report.elapsed_secs,
            report.drops.imissed,
            report.drops.rx_nombuf,
            report.drops.undelivered
        )?;
        if report.capture.truncated_tail {
            writeln!(
                out,
                "note: {} ends in a truncated record (ignored, as libpcap does)",
                a.pcap.display()
            )?;
        }
    }
    let dropped = records_dropped(&report.per_worker);
    if dropped > 0 {
        eprintln!("osprey: {dropped} record(s) dropped on full worker rings (stopped early)");
    }
    Ok(if report.drops.undelivered > 0 || dropped > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// EVE records written to the `--eve` file, by event type.
#[derive(Default, serde::Serialize)]
struct EveWritten(std::collections::BTreeMap<String, u64>);

impl EveWritten {
    fn count(&mut self, event_type: &str) {
        match self.0.get_mut(event_type) {
            Some(n) => *n += 1,
            None => {
                self.0.insert(event_type.to_owned(), 1);
            }
        }
    }
}

/// The EVE side of a replay in `--stats-json`.
#[derive(serde::Serialize)]
struct EveStats {
    /// Records written to the `--eve` file, by event type (empty without `--eve`).
    written: std::collections::BTreeMap<String, u64>,
    /// Records the workers rendered but could not queue for the writer (summed over workers).
    queue_overflow: u64,
}

/// `--stats-json`: the replay's counters, and the EVE records written and lost.
#[derive(serde::Serialize)]
struct StatsJson<'a> {
    #[serde(flatten)]
    report: &'a runtime::ReplayReport,
    eve: EveStats,
}

/// Suricata's end-of-run `stats` record (no newline), with the one EVE writer: every counter
/// summed over the workers, nested by its dotted name (`decoder.pkts` → `"decoder": {"pkts":
/// ...}`), stamped with the last packet's time. `osprey replay --eve` and `osprey run` write
/// it the same way. The workers' waits for a full ring are left out: they describe how fast
/// the writer kept up on this machine, not the traffic (`--stats-json`, `osprey ctl stats` and
/// the metrics have them).
fn eve_stats_record(per_worker: &[runtime::WorkerReport], elapsed_secs: f64) -> Vec<u8> {
    let last = per_worker
        .iter()
        .map(|w| w.last_packet_time)
        .max()
        .unwrap_or_default();
    let counters = per_worker.iter().flat_map(|w| {
        w.counters
            .iter()
            .filter(|(n, _)| !dataplane::worker::WAIT_COUNTERS.contains(n))
            .map(|(n, v)| (*n, *v))
    });
    let mut out = Vec::with_capacity(4096);
    vocab::eve::write_stats(&mut out, last.0, elapsed_secs.round() as u64, counters);
    out
}

/// Records the workers dropped on full rings (alerts, flows, EVE records).
fn records_dropped(per_worker: &[runtime::WorkerReport]) -> u64 {
    per_worker
        .iter()
        .flat_map(|w| {
            [
                "detect.alert_queue_overflow",
                "flow.export_overflow",
                "eve.queue_overflow",
            ]
            .iter()
            .map(|n| w.counters.get(n).copied().unwrap_or(0))
        })
        .sum()
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
}

#[derive(serde::Serialize)]
struct BenchReport {
    pcap: PathBuf,
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

fn cmd_bench(a: BenchArgs) -> anyhow::Result<ExitCode> {
    let mut worker = WorkerConfig::default();
    worker.pipeline.engine = load_engine(&a.rules)?;
    let opts = ReplayOptions {
        pcap: a.pcap.clone(),
        workers: a.workers,
        eal: eal_config(a.config.as_ref())?,
        infinite: true,
        duration: Some(Duration::from_secs(a.seconds.max(1))),
        stop: stop_on_signals()?,
        worker,
    };
    let r = runtime::replay(&opts, None, None, None, None)?;
    let secs = r.elapsed_secs.max(1e-9);
    // Cycles per packet per worker: the worker's whole poll loop (PMD receive included) over
    // the packets it handled.
    let per_worker: Vec<BenchWorker> = r
        .per_worker
        .iter()
        .map(|w| BenchWorker {
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
        })
        .collect();
    let report = BenchReport {
        pcap: a.pcap,
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
            println!(
                "worker {} (lcore {}): {:.3} Mpps, {:.2} Gbps, {:.0} cycles/packet{cpu}",
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

fn cmd_pcap(c: PcapCommand) -> anyhow::Result<ExitCode> {
    match c {
        PcapCommand::Scan { file, json } => {
            let info = dataplane::io::pcap::scan(&file)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                let link = runtime::SUPPORTED_LINK_TYPES
                    .iter()
                    .find(|(l, _)| *l == info.link_type)
                    .map_or("unsupported", |(_, n)| n);
                println!(
                    "{}: {:?}, link type {} ({link}), {} packets, {} bytes ({} captured), {} cut by snaplen{}",
                    file.display(),
                    info.format,
                    info.link_type,
                    info.packets,
                    info.bytes,
                    info.captured_bytes,
                    info.snaplen_cut,
                    if info.truncated_tail { ", truncated last record" } else { "" }
                );
            }
        }
        PcapCommand::Split { file, workers, out } => {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let s = dataplane::io::split::split(&file, workers, &out)?;
            for ((f, p), b) in s.files.iter().zip(&s.packets).zip(&s.bytes) {
                println!("{}: {p} packets, {b} bytes", f.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One status line: rates since the previous line, plus totals.
struct StatusLine {
    last_packets: u64,
    last_bytes: u64,
    last_elapsed: Duration,
    /// Alerts lost on their way to storage, by cause.
    ingest: Arc<controlplane::ingest::IngestShared>,
}

/// Alerts lost so far: dropped at the workers' alert rings (their own count, current even
/// while ingest is held up, or ingest's count by cause when that is ahead) plus those still
/// unstored when ingest stopped.
fn alerts_lost(published_ring: u64, drops: &[(&'static str, u64)]) -> u64 {
    let (mut ring, mut other) = (0, 0);
    for (cause, n) in drops {
        if *cause == "shutdown" {
            other += n;
        } else {
            ring += n;
        }
    }
    ring.max(published_ring) + other
}

fn sum(published: &[Arc<Published>], name: &str) -> Option<u64> {
    let mut any = false;
    let mut total = 0;
    for p in published {
        if let Some(v) = p.get(name) {
            any = true;
            total += v;
        }
    }
    any.then_some(total)
}

impl StatusLine {
    fn render(
        &mut self,
        published: &[Arc<Published>],
        port: &PortStats,
        elapsed: Duration,
    ) -> String {
        let packets = sum(published, "capture.kernel_packets").unwrap_or(0);
        let bytes = sum(published, "capture.bytes").unwrap_or(0);
        let dt = (elapsed - self.last_elapsed).as_secs_f64().max(1e-6);
        let pps = (packets - self.last_packets.min(packets)) as f64 / dt;
        let mbps = (bytes - self.last_bytes.min(bytes)) as f64 * 8.0 / dt / 1e6;
        self.last_packets = packets;
        self.last_bytes = bytes;
        self.last_elapsed = elapsed;
        let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        // Records the workers dropped on full rings, shown only once there are some.
        let records: u64 = [
            "detect.alert_queue_overflow",
            "flow.export_overflow",
            "eve.queue_overflow",
        ]
        .iter()
        .filter_map(|n| sum(published, n))
        .sum();
        let records = if records > 0 {
            format!(" | records dropped {records}")
        } else {
            String::new()
        };
        // Packets the ports dropped plus alerts lost, so that `drops 0` means nothing lost.
        let lost = alerts_lost(
            sum(published, "detect.alert_queue_overflow").unwrap_or(0),
            &self.ingest.alert_drops(),
        );
        let lost_note = if lost > 0 {
            format!(" (alerts lost {lost})")
        } else {
            String::new()
        };
        format!(
            "[{:>6.0}s] {:>10.0} pps {:>9.1} Mbps | packets {} | flows {} | alerts {} | drops {}{lost_note}{records}",
            elapsed.as_secs_f64(),
            pps,
            mbps,
            packets,
            opt(sum(published, "flow.active")),
            opt(sum(published, "detect.alerts")),
            port.imissed + port.rx_nombuf + port.ierrors + lost
        )
    }
}

fn cmd_ctl(a: controlplane::console::CtlArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the console runtime")?;
    let code = rt.block_on(controlplane::console::run(a))?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// CPUs for the management threads: the configured ones, else every CPU no worker runs on
/// (the EAL puts worker k on CPU k mod ncpu, see `EalConfig::args`). Empty when the workers
/// use every CPU: the threads then float.
fn management_cores(cfg: &config::Config) -> Vec<usize> {
    if !cfg.management.cores.is_empty() {
        return cfg.management.cores.clone();
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let used: Vec<usize> = (1..=cfg.capture.workers).map(|k| k % cpus).collect();
    (0..cpus).filter(|c| !used.contains(c)).collect()
}

/// The tokio runtime of the control plane, its threads pinned round-robin to `cores`.
fn management_runtime(cores: &[usize], threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let cores = cores.to_vec();
    let next = std::sync::atomic::AtomicUsize::new(0);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("osprey-mgmt")
        .enable_all()
        .on_thread_start(move || {
            if cores.is_empty() {
                return;
            }
            let i = next.fetch_add(1, Ordering::Relaxed) % cores.len();
            if !core_affinity::set_for_current(core_affinity::CoreId { id: cores[i] }) {
                tracing::warn!(core = cores[i], "could not pin a management thread");
            }
        })
        .build()
        .context("starting the management runtime")
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The ruleset the workers start with: the stored enabled rules (imported from
/// `[rules] files` into an empty store first), compiled before any packet flows, recorded as
/// the next generation in the reload history.
fn startup_ruleset(
    store: &controlplane::store::Store,
    cfg: &config::Config,
    compiler: &appliance::Compiler,
) -> anyhow::Result<(u64, Arc<rules::Engine>, usize)> {
    use controlplane::model::{ReloadRecord, StoredRule};
    use controlplane::seams::{RuleCompiler, Severity};
    let mut stored = store.all_rules().context("reading the stored ruleset")?;
    if stored.is_empty() && !cfg.rules.files.is_empty() {
        let now = now_nanos();
        let mut imported: Vec<StoredRule> = Vec::new();
        for f in &cfg.rules.files {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading rules.files {}", f.display()))?;
            let v = compiler.validate(&text);
            let errors: Vec<_> = v
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .collect();
            for d in errors.iter().take(10) {
                tracing::warn!(file = %f.display(), line = d.line, column = d.column, "{}", d.message);
            }
            if !errors.is_empty() {
                eprintln!(
                    "osprey: {}: {} rule(s) not imported (errors), {} imported",
                    f.display(),
                    errors.len(),
                    v.rules.len()
                );
            }
            imported.extend(v.rules.into_iter().map(|m| StoredRule {
                gid: m.gid,
                sid: m.sid,
                rev: m.rev,
                msg: m.msg,
                classtype: m.classtype,
                priority: m.priority,
                text: m.text,
                enabled: true,
                updated_nanos: now,
            }));
        }
        if store.is_read_only() {
            // Nothing can be stored: inspect with the files' rules all the same.
            stored = imported;
        } else {
            store
                .put_rules(&imported)
                .context("storing the imported rules")?;
            stored = store.all_rules().context("reading the stored ruleset")?;
        }
    }
    let enabled: Vec<StoredRule> = stored.into_iter().filter(|r| r.enabled).collect();
    let texts: Vec<&str> = enabled.iter().map(|r| r.text.as_str()).collect();
    let t = std::time::Instant::now();
    let (engine, report) = appliance::compile_texts(
        &texts,
        &cfg.rules.cache_dir,
        compiler.shared.classes.as_ref(),
    )
    .map_err(|e| anyhow::anyhow!("compiling the stored ruleset: {e}"))?;
    let generation = store
        .generation()
        .context("reading the ruleset generation")?
        + 1;
    if store.is_read_only() {
        return Ok((generation, Arc::new(engine), report.loaded));
    }
    store
        .append_reload(&ReloadRecord {
            generation,
            time_nanos: now_nanos(),
            rules_loaded: report.loaded as u32,
            rules_failed: (report.failed + report.skipped) as u32,
            ruleset_hash: controlplane::api::rules::ruleset_hash(&enabled),
            compile_us: t.elapsed().as_micros() as u64,
            swap_us: 0,
            who: "startup".into(),
        })
        .context("recording the start-up ruleset")?;
    Ok((generation, Arc::new(engine), report.loaded))
}

fn cmd_run(a: RunArgs) -> anyhow::Result<ExitCode> {
    use appliance::{Compiler, DataPlane, Shared, WorkerSource};
    use controlplane::ingest::RecordSource;
    use dataplane::runtime::WorkerAttach;
    use dataplane::worker::EngineSlot;

    let mut cfg = config::Config::load(a.config.as_deref())?;
    if let Some(d) = &a.data_dir {
        cfg.storage.path = d.clone();
    }
    if let Some(l) = a.api_listen {
        cfg.api.listen = l;
    }
    if let Some(l) = a.metrics_listen {
        cfg.metrics.listen = l;
    }
    cfg.control_plane()
        .validate()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if cfg.rules.cache_dir.is_none() {
        // Warm reloads by default: the same cache `replay --rules` uses.
        cfg.rules.cache_dir = Some(std::env::temp_dir().join("osprey-hyperscan-cache"));
    }
    let stop = stop_on_signals()?;
    let workers = cfg.capture.workers;
    let cores = management_cores(&cfg);
    if cfg.ingest.core.is_none() {
        cfg.ingest.core = cores.first().copied();
    }
    let rt = management_runtime(&cores, cfg.management.threads)?;
    let mode = match cfg.capture.mode {
        config::Mode::Replay => "replay",
        config::Mode::Ports => "ids",
    };
    let shared = Arc::new(Shared::new(
        stop.clone(),
        mode,
        LONG_VERSION,
        cfg.rules.cache_dir.clone(),
        classifications(cfg.rules.classification.as_deref(), &cfg.rules.files),
        workers,
    ));

    // The rings exist before the data plane so the control plane (storage, first ruleset)
    // is up before the first packet.
    let mut producers = Vec::with_capacity(workers);
    let mut sources: Vec<Box<dyn RecordSource>> = Vec::with_capacity(workers);
    for i in 0..workers {
        let (pa, ca) = dataplane::export::ring(cfg.ingest.ring_capacity);
        let (pf, cf) = dataplane::export::ring(cfg.ingest.ring_capacity);
        // Each alert's line as the worker renders it (flow counters, the transaction), paired
        // with its record by ingest; app-layer and anomaly records go to the EVE file.
        let (pe, ce) = dataplane::export::eve_ring(cfg.eve.ring_bytes);
        producers.push((pa, pf, pe));
        sources.push(Box::new(
            WorkerSource::new(i, ca, cf, ce, shared.clone()).with_eve_flows(cfg.eve.enabled),
        ));
    }
    let appliance = Arc::new(DataPlane {
        shared: shared.clone(),
    });
    let compiler = Arc::new(Compiler {
        shared: shared.clone(),
    });
    let cp = rt
        .block_on(controlplane::server::ControlPlane::start_with_sources(
            cfg.control_plane(),
            sources,
            appliance,
            compiler.clone(),
        ))
        .map_err(|e| anyhow::anyhow!("starting the control plane: {e}"))?;
    let startup = startup_ruleset(&cp.ctx.store, &cfg, &compiler);
    let (generation, engine, loaded) = match startup {
        Ok(v) => v,
        Err(e) => {
            rt.block_on(cp.shutdown());
            return Err(e);
        }
    };
    shared.remember(generation, &engine);
    let storage = cp.ctx.store.health();
    if storage.state != controlplane::health::State::Ok {
        eprintln!("osprey: storage degraded: {}", storage.reason);
    }
    let slots: Vec<Arc<EngineSlot>> = (0..workers)
        .map(|_| Arc::new(EngineSlot::new(generation)))
        .collect();
    let _ = shared.slots.set(slots.clone());
    *shared
        .attach
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = producers
        .into_iter()
        .zip(&slots)
        .map(|((alerts, flows, eve), s)| WorkerAttach {
            alerts,
            flows,
            engine: s.clone(),
            eve: Some(eve),
        })
        .collect();

    let metrics = cp
        .metrics_addr
        .map_or_else(|| "off".to_string(), |m| format!("http://{m}/metrics"));
    println!(
        "osprey {LONG_VERSION}: API on {} ({}), metrics {metrics}, storage {}, ruleset generation {generation} ({loaded} rules)",
        cp.grpc_addr,
        if cfg.api.tls.is_some() { "TLS" } else { "plaintext, loopback" },
        cp.ctx.store.path().display(),
    );
    if let Some(p) = &a.addr_file {
        let body = serde_json::json!({
            "api": cp.grpc_addr.to_string(),
            "metrics": cp.metrics_addr.map(|m| m.to_string()),
        });
        // Written whole then renamed, so a reader never sees half a file.
        let tmp = p.with_extension("tmp");
        std::fs::write(&tmp, body.to_string())
            .and_then(|()| std::fs::rename(&tmp, p))
            .with_context(|| format!("writing {}", p.display()))?;
    }

    let result = run_dataplane(
        &cfg,
        &a,
        stop.clone(),
        engine,
        shared.attach.clone(),
        cp.ctx.ingest.clone(),
    );
    // The data plane has stopped (the capture ended, a signal, --seconds, API shutdown or an
    // error): the stats record goes last into the EVE file, once ingest has drained the rings
    // into storage; then the servers stop and storage flushes.
    let ingest = cp.ctx.ingest.clone();
    if let (Ok(r), true) = (&result, cfg.eve.enabled) {
        let mut line = eve_stats_record(&r.per_worker, r.elapsed_secs);
        line.push(b'\n');
        ingest.write_eve_at_stop(&line);
    }
    stop.store(true, Ordering::SeqCst);
    rt.block_on(cp.shutdown());
    let r = result?;
    // Alerts lost anywhere (worker rings, storage refusing or stalled, unstored at stop), live
    // or not, fail the run, with the causes.
    let ring: u64 = r
        .per_worker
        .iter()
        .map(|w| {
            w.counters
                .get("detect.alert_queue_overflow")
                .copied()
                .unwrap_or(0)
        })
        .sum();
    let drops = ingest.alert_drops();
    let lost = alerts_lost(ring, &drops);
    if lost > 0 {
        let by: Vec<String> = drops
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        eprintln!("osprey: {lost} alert(s) lost ({})", by.join(", "));
    }
    // Records lost on the way to storage and the EVE file: refused by storage until the end,
    // or dropped on full worker rings by a run that should not drop (a capture replayed once).
    let discarded = ingest.discarded()
        + if r.offline {
            records_dropped(&r.per_worker)
        } else {
            0
        };
    if discarded > 0 {
        eprintln!("osprey: {discarded} record(s) discarded");
    }
    if discarded > 0 || lost > 0 {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// How the data plane's run ended.
struct DataplaneRun {
    per_worker: Vec<runtime::WorkerReport>,
    elapsed_secs: f64,
    /// A capture replayed once (the workers waited instead of dropping).
    offline: bool,
}

/// Runs the data plane of `cfg` until it stops, with the status line.
fn run_dataplane(
    cfg: &config::Config,
    a: &RunArgs,
    stop: Arc<AtomicBool>,
    engine: Arc<rules::Engine>,
    attach: Arc<runtime::Attach>,
    ingest: Arc<controlplane::ingest::IngestShared>,
) -> anyhow::Result<DataplaneRun> {
    let mut status = StatusLine {
        last_packets: 0,
        last_bytes: 0,
        last_elapsed: Duration::ZERO,
        ingest,
    };
    let interval = cfg.status.interval_secs.max(1);
    let mut ticks = 0u64;
    let mut progress = |p: &[Arc<Published>], port: &PortStats, e: Duration| {
        ticks += 1;
        if ticks % interval == 0 {
            println!("{}", status.render(p, port, e));
        }
    };
    let duration = a.seconds.map(Duration::from_secs);
    let mut worker = WorkerConfig::default();
    worker.pipeline.engine = Some(engine);
    worker.pipeline.anomaly = cfg.eve.anomaly();
    // Transactions are rendered as EVE records only for an EVE file; alerts always carry
    // their own rendering (stored with them).
    worker.pipeline.app.eve_logging = cfg.eve.enabled;
    worker.eve_ring_bytes = cfg.eve.ring_bytes;
    let c = &cfg.capture;
    let workers = &c.workers;
    match c.mode {
        config::Mode::Replay => {
            let pcap = c.pcap.as_ref().expect("validated");
            let looping = &c.looping;
            println!(
                "osprey: replaying {} through net_pcap{} with {workers} worker(s); Ctrl-C to stop",
                pcap.display(),
                if *looping { " in a loop" } else { "" }
            );
            let opts = ReplayOptions {
                pcap: pcap.clone(),
                workers: *workers,
                eal: cfg.dpdk.clone(),
                infinite: *looping,
                duration,
                stop,
                worker,
            };
            let r =
                runtime::replay_with(&opts, Some(attach), Some(&mut progress), None, None, None)?;
            println!(
                "stopped: {} packets, {} bytes in {:.1} s; drops: imissed {} rx_nombuf {} ierrors {}",
                r.packets,
                r.bytes,
                r.elapsed_secs,
                r.drops.imissed,
                r.drops.rx_nombuf,
                r.drops.ierrors
            );
            Ok(DataplaneRun {
                per_worker: r.per_worker,
                elapsed_secs: r.elapsed_secs,
                offline: !*looping,
            })
        }
        config::Mode::Ports => {
            let ports = &c.ports;
            println!(
                "osprey: polling {} port(s) with {workers} worker(s); Ctrl-C to stop",
                ports.len()
            );
            let plan = Plan {
                eal: cfg.dpdk.clone(),
                ports: ports
                    .iter()
                    .map(|p| PortPlan {
                        name: p.device.clone(),
                        vdev: p.vdev.clone(),
                        rx_queues: p.rx_queues.unwrap_or(*workers as u16),
                    })
                    .collect(),
                workers: (0..*workers)
                    .map(|w| WorkerPlan {
                        queues: (0..ports.len()).map(|p| (p, w as u16)).collect(),
                        expected_packets: None,
                        wire: Default::default(),
                        first_packet: None,
                    })
                    .collect(),
                link_type: 1,
                mbufs: 16_384 * (*workers as u32).max(1),
                memory_mb: cfg.dpdk.memory_mb,
                monotonic_time: false,
                idle_timeout: None,
                duration,
                stop,
                worker,
                export_flows: false,
                export_alerts: false,
                attach: Some(attach),
                export_eve: false,
            };
            let r = runtime::run(&plan, Some(&mut progress), None, None, None)?;
            let packets: u64 = r.per_worker.iter().map(|w| w.packets).sum();
            println!(
                "stopped: {packets} packets in {:.1} s; drops: imissed {} rx_nombuf {} ierrors {}",
                r.elapsed_secs, r.port.imissed, r.port.rx_nombuf, r.port.ierrors
            );
            Ok(DataplaneRun {
                per_worker: r.per_worker,
                elapsed_secs: r.elapsed_secs,
                offline: false,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::alerts_lost;

    #[test]
    fn lost_alerts_are_the_newer_ring_count_plus_those_unstored_at_stop() {
        let drops = [
            ("worker_ring", 5),
            ("storage_refused", 3),
            ("storage_stalled", 1),
            ("shutdown", 2),
        ];
        // Ingest's count by cause is ahead of the workers' published one...
        assert_eq!(alerts_lost(4, &drops), 11);
        // ...or behind it (ingest held up): the workers' own count wins.
        assert_eq!(alerts_lost(20, &drops), 22);
        let none = [("worker_ring", 0), ("shutdown", 0)];
        assert_eq!(alerts_lost(0, &none), 0);
    }
}
