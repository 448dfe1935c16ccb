//! `osprey rules ...`: clap types and the entry point the binary dispatches to.
//!
//! ```text
//! osprey rules check FILE... [--json]
//! osprey rules compile FILE... [--json] [--cache-dir DIR]
//! osprey rules export --format suricata|json FILE...
//! ```

use crate::compile::{CompileOptions, Engine};
use crate::config::{parse_threshold_config, Classifications};
use crate::load::apply_thresholds;
use crate::load::{load_files, LoadOptions, Ruleset};
use crate::vars::Vars;
use anyhow::Context;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `osprey rules`.
#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: RulesCommand,
}

/// Subcommands of `osprey rules`.
#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// Parse and validate rules; print counts and diagnostics.
    Check(CheckArgs),
    /// Compile rules to Hyperscan databases; print time, sizes and memory.
    Compile(CompileArgs),
    /// Print the loaded rules back.
    Export(ExportArgs),
}

/// Inputs shared by every subcommand.
#[derive(Debug, clap::Args)]
pub struct InputArgs {
    /// Rule files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// TOML file with `[address]` / `[port]` variable overrides.
    #[arg(long)]
    pub vars: Option<PathBuf>,
    /// `classification.config` (default: the one beside the first rule file, if present).
    #[arg(long)]
    pub classification: Option<PathBuf>,
    /// `threshold.config` to apply (threshold, event_filter, suppress, rate_filter).
    #[arg(long)]
    pub threshold: Option<PathBuf>,
}

/// `osprey rules check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Inputs.
    #[command(flatten)]
    pub input: InputArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `osprey rules compile`.
#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// Inputs.
    #[command(flatten)]
    pub input: InputArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Serialized-database cache directory.
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
}

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// Suricata rule syntax.
    Suricata,
    /// One JSON object per rule (the validated IR).
    Json,
}

/// `osprey rules export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "suricata")]
    pub format: ExportFormat,
    /// Inputs.
    #[command(flatten)]
    pub input: InputArgs,
}

/// Runs a subcommand; returns the process exit code (0 ok, 1 some rules failed).
pub fn run(args: RulesArgs) -> anyhow::Result<i32> {
    run_to(args, &mut std::io::stdout().lock())
}

/// [`run`] writing to `out`.
pub fn run_to(args: RulesArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let mut out = out;
    match args.command {
        RulesCommand::Check(a) => {
            let rs = load(&a.input, Purpose::Check)?;
            if a.json {
                serde_json::to_writer_pretty(&mut *out, &rs.report)?;
                writeln!(out)?;
            } else {
                write!(out, "{}", rs.report)?;
            }
            Ok(i32::from(rs.report.failed > 0))
        }
        RulesCommand::Compile(a) => {
            let t0 = Instant::now();
            let rs = load(&a.input, Purpose::Run)?;
            let load_ms = t0.elapsed().as_millis();
            let t1 = Instant::now();
            let engine = Engine::compile(
                &rs.rules,
                &CompileOptions {
                    cache_dir: a.cache_dir.clone(),
                    threads: 0,
                    ..CompileOptions::default()
                },
            )?;
            let compile_ms = t1.elapsed().as_millis();
            let report = CompileReport {
                read: rs.report.read,
                loaded: rs.report.loaded,
                skipped: rs.report.skipped,
                failed: rs.report.failed,
                load_ms,
                compile_ms,
                total_ms: t0.elapsed().as_millis(),
                engine_bytes: engine.memory_bytes(),
                peak_rss_bytes: proc_status_kb("VmHWM:"),
                rss_bytes: proc_status_kb("VmRSS:"),
                stats: engine.stats.clone(),
            };
            if a.json {
                serde_json::to_writer_pretty(&mut *out, &report)?;
                writeln!(out)?;
            } else {
                report.write_text(&mut out)?;
            }
            Ok(i32::from(rs.report.failed > 0))
        }
        RulesCommand::Export(a) => {
            let rs = load(&a.input, Purpose::Export)?;
            for r in &rs.rules {
                match a.format {
                    ExportFormat::Suricata => writeln!(out, "{}", r.ast()?)?,
                    ExportFormat::Json => {
                        serde_json::to_writer(&mut *out, &*r.ir)?;
                        writeln!(out)?;
                    }
                }
            }
            Ok(0)
        }
    }
}

/// What the rules are loaded for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Counted and diagnosed only: no rule is kept.
    Check,
    /// Printed, never run: no PCRE2 JIT.
    Export,
    /// Compiled and run.
    Run,
}

/// Loads the input files for `purpose`.
fn load(input: &InputArgs, purpose: Purpose) -> anyhow::Result<Ruleset> {
    let vars = match &input.vars {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str::<Vars>(&text).with_context(|| format!("parsing {}", p.display()))?
        }
        None => Vars::default(),
    };
    let class_path = input.classification.clone().or_else(|| {
        let p = input
            .files
            .first()?
            .parent()
            .unwrap_or(Path::new("."))
            .join("classification.config");
        p.exists().then_some(p)
    });
    let classes = match class_path {
        Some(p) => {
            let text =
                std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
            let (c, errs) = Classifications::parse(&text);
            for e in errs {
                eprintln!("{}:{}: {}", p.display(), e.line, e.message);
            }
            Some(c)
        }
        None => None,
    };
    let threshold_text = match &input.threshold {
        Some(p) => Some((
            p.clone(),
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )),
        None => None,
    };
    let mut rs = load_files(
        &input.files,
        LoadOptions {
            vars: vars.clone(),
            classes,
            validate_only: purpose != Purpose::Run,
            check_only: purpose == Purpose::Check,
            ..LoadOptions::default()
        },
    )?;
    if let Some((p, text)) = threshold_text {
        let (entries, errs) = parse_threshold_config(&text, &vars);
        for e in errs {
            eprintln!("{}:{}: {}", p.display(), e.line, e.message);
        }
        apply_thresholds(&mut rs.rules, &entries);
    }
    Ok(rs)
}

/// Output of `osprey rules compile`.
#[derive(Debug, Serialize)]
pub struct CompileReport {
    /// Enabled rules read.
    pub read: usize,
    /// Rules loaded.
    pub loaded: usize,
    /// Rules skipped (unsupported keyword).
    pub skipped: usize,
    /// Rules failed.
    pub failed: usize,
    /// Read + parse + validate, ms.
    pub load_ms: u128,
    /// Grouping + Hyperscan (or cache), ms.
    pub compile_ms: u128,
    /// Whole run, ms.
    pub total_ms: u128,
    /// Engine memory estimate (databases + IR), bytes.
    pub engine_bytes: usize,
    /// Peak resident set of this process, bytes (Linux; includes the compiler's transient
    /// memory).
    pub peak_rss_bytes: Option<u64>,
    /// Resident set after compiling, bytes (Linux; loaded rules, AST and engine).
    pub rss_bytes: Option<u64>,
    /// Compiler statistics.
    pub stats: crate::compile::CompileStats,
}

impl CompileReport {
    fn write_text(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mb = |b: usize| b as f64 / 1e6;
        writeln!(
            out,
            "{} rules read, {} loaded, {} skipped, {} failed",
            self.read, self.loaded, self.skipped, self.failed
        )?;
        writeln!(
            out,
            "load {} ms, compile {} ms ({}), total {} ms",
            self.load_ms,
            self.compile_ms,
            if self.stats.from_cache {
                "from cache"
            } else {
                "cold"
            },
            self.total_ms
        )?;
        writeln!(
            out,
            "{} groups, {} databases, {} literals ({} unique), {} rules without fast pattern",
            self.stats.groups,
            self.stats.databases,
            self.stats.literals_total,
            self.stats.literals_unique,
            self.stats.always_rules
        )?;
        writeln!(
            out,
            "databases {:.1} MB, scratch {:.1} KB, engine {:.1} MB, RSS {} (peak {})",
            mb(self.stats.database_bytes),
            self.stats.scratch_bytes as f64 / 1e3,
            mb(self.engine_bytes),
            self.rss_bytes
                .map_or("n/a".to_string(), |b| format!("{:.1} MB", b as f64 / 1e6)),
            self.peak_rss_bytes
                .map_or("n/a".to_string(), |b| format!("{:.1} MB", b as f64 / 1e6))
        )?;
        for (b, (n, bytes)) in &self.stats.by_buffer {
            writeln!(out, "  {b:<22} {n:>4} dbs {:>8.1} KB", *bytes as f64 / 1e3)?;
        }
        Ok(())
    }
}

/// A `/proc/self/status` memory field in bytes (`VmHWM:` peak, `VmRSS:` current).
fn proc_status_kb(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: RulesCommand,
    }

    fn run_args(args: &[&str]) -> (i32, String) {
        let cli = Cli::try_parse_from(std::iter::once("rules").chain(args.iter().copied()))
            .expect("args");
        let mut out = Vec::new();
        let code = run_to(
            RulesArgs {
                command: cli.command,
            },
            &mut out,
        )
        .expect("run");
        (code, String::from_utf8(out).expect("utf8"))
    }

    #[test]
    fn check_compile_export() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("a.rules");
        std::fs::write(
            &f,
            "alert http any any -> any any (msg:\"x\"; http.uri; content:\"/a\"; sid:1;)\n\
             alert tcp any any -> any any (msg:\"y\"; asn1:oversize_length 1; sid:2;)\n\
             alert tcp any any -> any any (msg:\"z\"; content:\"a\"; depth:0; sid:3;)\n",
        )
        .expect("write");
        let f = f.to_str().expect("path");
        let (code, out) = run_args(&["check", f, "--json"]);
        assert_eq!(code, 1);
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["read"], 3);
        assert_eq!(v["loaded"], 1);
        assert_eq!(v["skipped"], 1);
        assert_eq!(v["failed"], 1);
        assert_eq!(v["skipped_by_keyword"]["asn1"], 1);
        let (_, text) = run_args(&["check", f]);
        assert!(text.contains("a.rules:3:"), "{text}");
        assert!(text.contains("3 rules read, 1 loaded"), "{text}");
        let cache = dir.path().join("cache");
        let (_, out) = run_args(&[
            "compile",
            f,
            "--json",
            "--cache-dir",
            cache.to_str().expect("p"),
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        // No flow direction: one group per direction, whose identical literal sets share one
        // database.
        assert_eq!(v["stats"]["groups"], 2);
        assert_eq!(v["stats"]["databases"], 1);
        assert_eq!(v["stats"]["from_cache"], false);
        let (_, out) = run_args(&[
            "compile",
            f,
            "--json",
            "--cache-dir",
            cache.to_str().expect("p"),
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["stats"]["from_cache"], true);
        let (_, out) = run_args(&["export", "--format", "suricata", f]);
        assert_eq!(out.lines().count(), 1);
        assert!(crate::parse_rule(out.trim()).is_ok());
        let (_, out) = run_args(&["export", "--format", "json", f]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
        assert_eq!(v["sid"], 1);
        assert_eq!(v["lists"][0]["buffer"], "http_uri");
    }
}
