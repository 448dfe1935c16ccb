//! `osprey`: the appliance binary. Subcommands dispatch to the crates; nothing here holds
//! packet logic.
//!
//! - `osprey run [-c FILE]`: the appliance (embedded default: replay the bundled demo capture in
//!   a loop): data plane, control plane (storage, gRPC API, metrics), live status line.
//! - `osprey ctl ...`: the management console (gRPC client of a running appliance).
//! - `osprey replay --pcap FILE`: one pass of a capture through DPDK `net_pcap` and the workers.
//! - `osprey bench --pcap FILE`: the same capture looped from memory for a fixed time.
//! - `osprey ml eval --pcap P --labels L`: the flow anomaly model's quality on labelled captures.
//! - `osprey pcap scan|split`: capture-file tools.
//! - `osprey rules check|compile|export`: the rule tools of the `rules` crate.
//!
//! Each command of the binary's own has its module (`run`, `replay`, `bench`, `pcap`); this file
//! holds the command line, the dispatch and what they share (signals, the EAL and rule
//! settings, quiet exits on a closed pipe).

mod appliance;
mod bench;
mod blockfile;
mod config;
mod ml;
mod pcap;
mod replay;
mod run;

use bench::{cmd_bench, BenchArgs};
use ml::{cmd_ml, MlCommand};
use pcap::{cmd_pcap, PcapCommand};
use replay::{cmd_replay, ReplayArgs};
use run::{cmd_run, RunArgs};

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// The process allocator is jemalloc: its arenas return freed memory to the system on their
/// own (decay), where glibc's per-thread arenas kept 3–6 MB of every rule reload for good.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    /// The flow anomaly model on captures (`eval`).
    #[command(subcommand)]
    Ml(MlCommand),
    /// Capture-file tools.
    #[command(subcommand)]
    Pcap(PcapCommand),
    /// Rule tools: check, compile, export.
    Rules(rules::cli::RulesArgs),
    /// Manage a running appliance over its gRPC API (status, stats, rules, alerts, flows).
    Ctl(controlplane::console::CtlArgs),
}

/// The appliance runs for months: jemalloc's background thread returns freed pages to the
/// system on its own schedule (without it, pages are purged only when the allocator is next
/// busy, so a burst of API work left its memory resident while the process sat idle).
fn purge_in_background() {
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(error = %e, "jemalloc background purging is not enabled");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if matches!(cli.command, Command::Run(_)) {
        purge_in_background();
    }
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
        Command::Ml(c) => cmd_ml(c),
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

fn cmd_ctl(a: controlplane::console::CtlArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the console runtime")?;
    let code = rt.block_on(controlplane::console::run(a))?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
