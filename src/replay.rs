//! `osprey replay`: one pass of a capture through DPDK `net_pcap` and the workers, with its
//! EVE file and `--stats-json`; the end-of-run `stats` record that `osprey run` writes too.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::{config, load_engine, stop_on_signals};
use anyhow::Context;
use clap::Args;
use dataplane::runtime::{self, ReplayOptions};
use dataplane::worker::WorkerConfig;

#[derive(Args, Debug)]
pub(crate) struct ReplayArgs {
    /// The capture (pcap or pcapng).
    #[arg(long)]
    pcap: PathBuf,
    /// BPF capture filter (tcpdump syntax, e.g. "not port 22"): rejected frames are counted
    /// (`filter.rejected`) and not inspected.
    #[arg(long)]
    filter: Option<String>,
    /// A block list to apply: one entry per line as `osprey ctl block add` takes it (`#`
    /// starts a comment). A hit is recorded (EVE `drop`); inline (`--inline-out`) the packet
    /// is dropped.
    #[arg(long)]
    blocklist: Option<PathBuf>,
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
    #[arg(long, value_delimiter = ',', value_parser = ["alert", "flow", "anomaly", "http", "dns", "tls", "intel", "drop", "stats", "ml"])]
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
    /// Run inline (IPS) and write what would have been forwarded to this capture, in order,
    /// with the answers to rejected packets: `drop` drops the packet and the rest of its
    /// flow, `reject` also answers with a TCP RST or ICMP unreachable. One worker.
    #[arg(long)]
    inline_out: Option<PathBuf>,
    /// Exception policies, comma-separated: a policy for every cause (`drop-flow`), or
    /// `CAUSE=POLICY` with causes `flow-memcap`, `stream-memcap`, `defrag-memcap`,
    /// `app-layer-error` and policies `auto`,
    /// `ignore`, `pass-packet`, `pass-flow`, `bypass`, `drop-packet`, `drop-flow`, `reject`.
    /// Default: the config file's `[exception_policy]`, else `ignore` (`auto` is `drop-flow`
    /// inline, `ignore` in IDS mode).
    #[arg(long, value_parser = parse_exception_policies)]
    exception_policy: Option<dataplane::pipeline::ExceptionPolicies>,
    #[command(flatten)]
    limits: LimitArgs,
    /// Engine mode flags, comma-separated: `checksum-off` (do not validate checksums, like
    /// Suricata's `-k none`), `stream-inline`, `midstream`, `simulate-ips` (act as inline:
    /// `drop`/`reject` alerts say `blocked` and dropped flows are no longer inspected, while
    /// nothing is forwarded).
    #[arg(long, default_value = "", value_parser = parse_flags)]
    flags: Flags,
    /// Threat-intelligence files to match (STIX 2.1 bundles, or lists of addresses, prefixes,
    /// domains, URLs and hashes; Suricata dataset and IP reputation files); hits are EVE
    /// `intel` records. Each option takes one or more files.
    #[arg(long, num_args = 1..)]
    intel: Vec<PathBuf>,
    /// Print nothing on success.
    #[arg(short, long)]
    quiet: bool,
}

/// Reassembly and defragmentation limits on the command line, over the configuration
/// file's `[stream]` and `[defrag]`.
#[derive(Args, Debug, Clone, Copy)]
pub(crate) struct LimitArgs {
    /// Bytes of TCP reassembly buffers per worker (default: `[stream]`, else 64 MiB); a
    /// segment that does not fit is the `stream-memcap` exception.
    #[arg(long)]
    stream_memcap: Option<usize>,
    /// Bytes reassembled per direction of a TCP flow (default: `[stream]`, else 1 MiB).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    stream_depth: Option<u64>,
    /// Bypass a TCP flow once a direction was reassembled up to the depth: its later
    /// packets are counted (`flow.bypassed_packets`), not inspected (Suricata's
    /// `stream.bypass`).
    #[arg(long)]
    stream_bypass: bool,
    /// Bytes of IP fragment data buffered per worker (default: `[defrag]`, else 16 MiB); a
    /// fragment that does not fit is the `defrag-memcap` exception.
    #[arg(long)]
    defrag_memcap: Option<usize>,
    /// Files tracked at once per worker (default: `[files]`, else 65,536); more are counted
    /// `files.dropped_cap`.
    #[arg(long)]
    files_max_open: Option<u64>,
    /// Measure flow features (`[analytics] flow_features`): EVE `flow` records gain a
    /// `features` object, and `osprey replay --eve` writes an `ml` record per scored flow.
    #[arg(long)]
    flow_features: bool,
}

impl LimitArgs {
    /// The limits given, over those of `file` (its `[stream]` and `[defrag]`).
    pub(crate) fn limits(&self, file: Option<&config::Config>) -> config::Limits {
        let given = config::Limits {
            stream_memcap: self.stream_memcap,
            stream_depth: self.stream_depth,
            stream_bypass: self.stream_bypass.then_some(true),
            defrag_memcap: self.defrag_memcap,
            files_max_open: self.files_max_open,
            files_max_name: None,
            flow_features: self.flow_features.then_some(true),
        };
        given.or(file.map(config::Config::limits).unwrap_or_default())
    }
}

fn parse_exception_policies(s: &str) -> Result<dataplane::pipeline::ExceptionPolicies, String> {
    use dataplane::pipeline::{ExceptionPolicies, ExceptionPolicy};
    let policy = |p: &str| {
        ExceptionPolicy::parse(p).ok_or_else(|| {
            let known: Vec<_> = ExceptionPolicy::ALL.iter().map(|(_, n)| *n).collect();
            format!(
                "unknown exception policy {p:?} (known: {})",
                known.join(", ")
            )
        })
    };
    let mut out = ExceptionPolicies::default();
    for part in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        match part.split_once('=') {
            None => out = ExceptionPolicies::all(policy(part)?),
            Some((cause, p)) => {
                if !out.set(cause, policy(p)?) {
                    return Err(format!(
                        "unknown exception cause {cause:?} (known: {})",
                        ExceptionPolicies::CAUSES.join(", ")
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// Patterns left out, listed on stderr before the rest is only counted.
const INTEL_LISTED: usize = 20;

/// The `--intel` files compiled into one indicator table; what was left out, and what the
/// load took (time, table size), go to stderr.
pub(crate) fn load_intel(
    files: &[PathBuf],
    quiet: bool,
) -> anyhow::Result<Option<Arc<dataplane::intel::Table>>> {
    let named: Vec<(String, PathBuf)> = files
        .iter()
        .map(|f| (f.display().to_string(), f.clone()))
        .collect();
    load_intel_sources(&named, quiet)
}

/// [`load_intel`] of sources with names of their own (`[[intel.feeds]]`).
pub(crate) fn load_intel_sources(
    sources: &[(String, PathBuf)],
    quiet: bool,
) -> anyhow::Result<Option<Arc<dataplane::intel::Table>>> {
    if sources.is_empty() {
        return Ok(None);
    }
    let started = std::time::Instant::now();
    let mut set = stix::IntelSet::new();
    for (name, path) in sources {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        set.add_text(name, &text)?;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let compiled = set.compile(now);
    // The objects as read are not needed once compiled: freed before the table is built.
    drop(set);
    let r = compiled.report.clone();
    if !quiet {
        eprintln!("intel: {r}");
        for (what, why) in r.listed.iter().take(INTEL_LISTED) {
            eprintln!("intel: left out {what}: {why}");
        }
        let more = (r.unsupported + r.malformed).saturating_sub(INTEL_LISTED as u64);
        if more > 0 {
            eprintln!("intel: ... and {more} more left out");
        }
    }
    let table = dataplane::intel::Table::compile(compiled);
    if !quiet {
        let bytes = table.memory();
        eprintln!(
            "intel: {} indicators loaded in {:.2} s; table {:.1} MiB ({} bytes per indicator); peak RSS {} MiB",
            r.active,
            started.elapsed().as_secs_f64(),
            bytes as f64 / (1 << 20) as f64,
            bytes as u64 / r.active.max(1),
            peak_rss_mib()
        );
    }
    Ok(Some(Arc::new(table)))
}

/// The process's peak resident set (`VmHWM`), in MiB; 0 where `/proc` does not say.
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
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
        w.pipeline.detect.inline = self.simulate_ips;
        w
    }
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
    a.limits.limits(file_cfg).apply(&mut worker.pipeline);
    // The same packet ring as `osprey run` keeps (its captures need a control plane).
    let ev = file_cfg.map(|c| c.evidence.clone()).unwrap_or_default();
    worker.pipeline.evidence = config::evidence_ring(&ev).map_err(anyhow::Error::msg)?;
    worker.pipeline.engine = engine;
    worker.pipeline.exceptions = match (&a.exception_policy, file_cfg) {
        (Some(p), _) => *p,
        (None, Some(c)) => c.exception_policy.policies().map_err(anyhow::Error::msg)?,
        (None, None) => Default::default(),
    };
    worker.pipeline.intel = load_intel(&a.intel, a.quiet)?;
    worker.pipeline.blocklist = crate::blockfile::load(a.blocklist.as_deref())?;
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
    worker.pipeline.app.eve_logging = a.eve.is_some()
        && ["http", "dns", "tls", "websocket", "smtp", "fileinfo"]
            .iter()
            .any(|t| wants(t));
    if let Some(b) = a.eve_ring_bytes {
        worker.eve_ring_bytes = b;
    }
    Ok(worker)
}

pub(crate) fn cmd_replay(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    let engine = load_engine(&a.rules)?;
    let file_cfg = match &a.config {
        Some(p) => Some(config::Config::load(Some(p))?),
        None => None,
    };
    let wants = |t: &str| a.eve_types.is_empty() || a.eve_types.iter().any(|x| x == t);
    let worker = replay_worker_config(&a, engine, file_cfg.as_ref(), wants)?;
    // With flow features, every flow is scored by the online anomaly model (`ml` records).
    let mut scorer = (a.eve.is_some() && wants("ml") && worker.pipeline.flow.features).then(|| {
        let params = file_cfg
            .as_ref()
            .map(|c| c.analytics.params())
            .unwrap_or_default();
        crate::ml::OnlineScorer::new(params)
    });
    let scoring = scorer.is_some();
    let mut ml_line = Vec::new();
    let opts = ReplayOptions {
        pcap: a.pcap.clone(),
        workers: a.workers,
        eal: file_cfg.map(|c| c.dpdk).unwrap_or_default(),
        infinite: false,
        duration: None,
        stop: stop_on_signals()?,
        worker,
        inline: a.inline_out.clone().map(runtime::InlinePeer::Pcap),
        filter: a.filter.clone(),
        pace: None,
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
            if wants("flow") {
                match dataplane::flow::write_eve_flow(rec, &mut *w) {
                    Ok(()) => written.borrow_mut().count("flow"),
                    Err(e) => *err = Some(e),
                }
            }
            if let Some(score) = scorer.as_mut().and_then(|s| s.score(rec)) {
                ml_line.clear();
                crate::ml::render_ml(rec, &score, &mut ml_line);
                ml_line.push(b'\n');
                match w.write_all(&ml_line) {
                    Ok(()) => written.borrow_mut().count("ml"),
                    Err(e) => *err = Some(e),
                }
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
    let flows_wanted = a.eve.is_some() && (wants("flow") || scoring);
    // Worker-rendered types (alert, anomaly, http, dns, tls, ...); filtered per record by type.
    let records_wanted = a.eve.is_some()
        && (a.eve_types.is_empty() || a.eve_types.iter().any(|t| t != "flow" && t != "ml"));
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
        if let Some(engine) = report.filter_engine {
            let rejected: u64 = report
                .per_worker
                .iter()
                .filter_map(|w| w.counters.get("filter.rejected"))
                .sum();
            writeln!(
                out,
                "filter: {rejected} rejected (not inspected), run by {engine}"
            )?;
        }
        if let Some(path) = &a.inline_out {
            let sum = |n: &str| -> u64 {
                report
                    .per_worker
                    .iter()
                    .filter_map(|w| w.counters.get(n))
                    .sum()
            };
            writeln!(
                out,
                "inline: {} forwarded, {} dropped, {} RST and {} ICMP answers written to {}; tx dropped {}",
                sum("inline.forwarded"),
                sum("inline.dropped"),
                sum("reject.rst"),
                sum("reject.icmp"),
                path.display(),
                sum("tx.dropped")
            )?;
        }
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
    let tx_dropped: u64 = report
        .per_worker
        .iter()
        .filter_map(|w| w.counters.get("tx.dropped"))
        .sum();
    if tx_dropped > 0 {
        eprintln!("osprey: {tx_dropped} packet(s) could not be written to the inline output");
    }
    Ok(
        if report.drops.undelivered > 0 || dropped > 0 || tx_dropped > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        },
    )
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
pub(crate) fn eve_stats_record(per_worker: &[runtime::WorkerReport], elapsed_secs: f64) -> Vec<u8> {
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
pub(crate) fn records_dropped(per_worker: &[runtime::WorkerReport]) -> u64 {
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
