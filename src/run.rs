//! `osprey run`: the appliance. Starts the control plane, the start-up ruleset and the data
//! plane, prints the live status line, and stops on a signal, `--seconds`, the API or the end
//! of a capture replayed once.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use dataplane::dpdk::PortStats;
use dataplane::runtime::{self, Plan, PlanRoute, PortPlan, ReplayOptions, WorkerPlan};
use dataplane::worker::{Published, WorkerConfig};

use crate::replay::{eve_stats_record, records_dropped};
use crate::{appliance, classifications, config, stop_on_signals, LONG_VERSION};

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// Configuration file (TOML); the embedded default when absent.
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Stop after this many seconds (default: run until Ctrl-C/SIGTERM).
    #[arg(long)]
    seconds: Option<u64>,
    /// Write the bound API, metrics and console addresses to this file once they listen
    /// (JSON: `{"api": "127.0.0.1:50051", "metrics": ..., "console": ...}`, null when off), for
    /// scripts that start on port 0.
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
    /// Override `[console] listen` (the web console; turns it on if the config has none).
    #[arg(long)]
    console_listen: Option<std::net::SocketAddr>,
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
        // Inline pairs: what was forwarded and blocked; packets a full Tx queue cost are drops.
        let forwarded = sum(published, "inline.forwarded").unwrap_or(0);
        let blocked = sum(published, "inline.dropped").unwrap_or(0);
        let tx_dropped = sum(published, "tx.dropped").unwrap_or(0);
        let inline = if forwarded + blocked > 0 {
            format!(" | forwarded {forwarded} blocked {blocked}")
        } else {
            String::new()
        };
        format!(
            "[{:>6.0}s] {:>10.0} pps {:>9.1} Mbps | packets {} | flows {} | alerts {}{inline} | drops {}{lost_note}{records}",
            elapsed.as_secs_f64(),
            pps,
            mbps,
            packets,
            opt(sum(published, "flow.active")),
            opt(sum(published, "detect.alerts")),
            port.imissed + port.rx_nombuf + port.ierrors + lost + tx_dropped
        )
    }
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

pub(crate) fn cmd_run(a: RunArgs) -> anyhow::Result<ExitCode> {
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
    if let Some(l) = a.console_listen {
        cfg.console.get_or_insert_with(Default::default).listen = l;
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
    // Ingest's signature catalog (each rule's ATT&CK mapping) follows the ruleset imported
    // just now; the control plane started before the import.
    match cp.ctx.store.all_rules() {
        Ok(rules) => {
            let enabled: Vec<_> = rules.into_iter().filter(|r| r.enabled).collect();
            cp.ctx
                .ingest
                .set_catalog(controlplane::ingest::SignatureCatalog::from_rules(&enabled));
        }
        Err(e) => tracing::warn!(error = %e, "signature catalog not refreshed"),
    }
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
        .zip(&shared.block_slots)
        .zip(&shared.intel_slots)
        .map(|((((alerts, flows, eve), s), b), i)| WorkerAttach {
            alerts,
            flows,
            engine: s.clone(),
            blocks: Some(b.clone()),
            intel: Some(i.clone()),
            eve: Some(eve),
        })
        .collect();

    let metrics = cp
        .metrics_addr
        .map_or_else(|| "off".to_string(), |m| format!("http://{m}/metrics"));
    let scheme = if cfg.api.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let console = cp
        .console_addr
        .map_or_else(|| "off".to_string(), |c| format!("{scheme}://{c}/"));
    println!(
        "osprey {LONG_VERSION}: API on {} ({}), metrics {metrics}, console {console}, storage {}, ruleset generation {generation} ({loaded} rules)",
        cp.grpc_addr,
        if cfg.api.tls.is_some() { "TLS" } else { "plaintext, loopback" },
        cp.ctx.store.path().display(),
    );
    if let Some(p) = &a.addr_file {
        let body = serde_json::json!({
            "api": cp.grpc_addr.to_string(),
            "metrics": cp.metrics_addr.map(|m| m.to_string()),
            "console": cp.console_addr.map(|c| c.to_string()),
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
    worker.pipeline.exceptions = cfg
        .exception_policy
        .policies()
        .map_err(anyhow::Error::msg)?;
    cfg.limits().apply(&mut worker.pipeline);
    worker.pipeline.evidence =
        crate::config::evidence_ring(&cfg.evidence).map_err(anyhow::Error::msg)?;
    // Indicators arrive through each worker's intel slot, published by the control plane.
    // Transactions are rendered as EVE records for an EVE file and for retro-hunting (their
    // metadata is kept indexed); alerts always carry their own rendering (stored with them).
    worker.pipeline.app.eve_logging = cfg.eve.enabled || cfg.intel.hunt.enabled;
    // Hunting keeps every handshake's JA3/JA4, not only those a rule asks for.
    worker.pipeline.app.tls_fingerprints = cfg.intel.hunt.enabled;
    worker.eve_ring_bytes = cfg.eve.ring_bytes;
    let c = &cfg.capture;
    let workers = &c.workers;
    match c.mode {
        config::Mode::Replay => {
            let pcap = c.pcap.as_ref().expect("validated");
            let looping = &c.looping;
            println!(
                "osprey: replaying {} through net_pcap{}{} with {workers} worker(s); Ctrl-C to stop",
                pcap.display(),
                match c.speed() {
                    Some(s) => format!(" at {s}× the capture's pace"),
                    None => String::new(),
                },
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
                inline: None,
                filter: None,
                pace: c.speed(),
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
            let peers = c.inline_peers();
            println!(
                "osprey: polling {} port(s) with {workers} worker(s){}; Ctrl-C to stop",
                ports.len(),
                match c.inline.len() {
                    0 => String::new(),
                    n => format!(", {n} inline pair(s) forwarding"),
                }
            );
            let plan = Plan {
                eal: cfg.dpdk.clone(),
                ports: ports
                    .iter()
                    .zip(&peers)
                    .map(|(p, peer)| PortPlan {
                        name: p.device.clone(),
                        vdev: p.vdev.clone(),
                        rx_queues: p.rx_queues.unwrap_or(*workers as u16),
                        // Each worker transmits on its own queue of an inline port.
                        tx_queues: if peer.is_some() { *workers as u16 } else { 1 },
                        filter: p.filter.clone(),
                    })
                    .collect(),
                workers: (0..*workers)
                    .map(|w| WorkerPlan {
                        queues: (0..ports.len()).map(|p| (p, w as u16)).collect(),
                        routes: peers
                            .iter()
                            .enumerate()
                            .map(|(p, peer)| peer.map(|q| PlanRoute { peer: q, back: p }))
                            .collect(),
                        expected_packets: None,
                        wire: Default::default(),
                        first_packet: None,
                        pace: None,
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
