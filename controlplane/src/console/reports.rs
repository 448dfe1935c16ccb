//! `osprey ctl report` (generate one) and `osprey ctl reports list|get` (stored ones).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use serde_json::json;

use super::render::{print_json, table};
use super::{now_ns, parse_time, status_err, Clients};
use crate::proto;
use vocab::calendar::eve_timestamp as format_timestamp;

/// `osprey ctl report ...`: generate a report now.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// Start of the range: RFC 3339 (`2026-12-07T00:00:00Z`), unix seconds, `<n>ns`, or an
    /// age (`24h`, `7d`). Default: 24 hours ago.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the range (same forms). Default: now.
    #[arg(long)]
    pub to: Option<String>,
    /// `html` or `pdf` (printed by the appliance's headless Chromium).
    #[arg(long, default_value = "html")]
    pub format: String,
    /// Write the report here (required for pdf); without it an HTML report goes to stdout.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
}

/// `osprey ctl reports ...`
#[derive(clap::Subcommand, Debug, Clone)]
pub enum ReportsCmd {
    /// Stored reports, newest first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Writes a stored report to a file.
    Get {
        id: u64,
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
}

/// A time of `--from`/`--to`: RFC 3339, else what [`parse_time`] reads.
fn time_arg(s: &str, now: u64) -> anyhow::Result<u64> {
    if let Ok(t) = humantime::parse_rfc3339_weak(s.trim()) {
        let d = t
            .duration_since(std::time::UNIX_EPOCH)
            .with_context(|| format!("time `{s}` is before 1970"))?;
        return Ok(d.as_nanos().min(u64::MAX as u128) as u64);
    }
    parse_time(s, now)
}

fn info_json(r: &proto::ReportInfo) -> serde_json::Value {
    json!({"id": r.id, "from_ns": r.from_ns, "to_ns": r.to_ns, "format": r.format,
           "size": r.size, "sha256": r.sha256, "created_ns": r.created_ns, "origin": r.origin})
}

const HEADER: [&str; 8] = [
    "ID", "FROM", "TO", "FORMAT", "BYTES", "SHA-256", "CREATED", "ORIGIN",
];

fn rows(list: &[proto::ReportInfo]) -> Vec<Vec<String>> {
    list.iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                format_timestamp(r.from_ns),
                format_timestamp(r.to_ns),
                r.format.clone(),
                r.size.to_string(),
                r.sha256.clone(),
                format_timestamp(r.created_ns),
                r.origin.clone(),
            ]
        })
        .collect()
}

fn write_file(path: &PathBuf, content: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))
}

/// `osprey ctl report`: generates, stores and saves a report.
pub(super) async fn generate(
    c: &mut Clients,
    a: ReportArgs,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let now = now_ns();
    let to = a.to.as_deref().map_or(Ok(now), |t| time_arg(t, now))?;
    let from = match a.from.as_deref() {
        Some(f) => time_arg(f, now)?,
        None => to.saturating_sub(86_400 * 1_000_000_000),
    };
    let format = a.format.trim().to_ascii_lowercase();
    if format == "pdf" && a.output.is_none() {
        bail!("--format pdf needs -o FILE");
    }
    let r = c
        .reports
        .generate(proto::GenerateReportRequest {
            from_ns: from,
            to_ns: to,
            format,
        })
        .await
        .map_err(|e| status_err("report", e))?
        .into_inner();
    let info = r.report.unwrap_or_default();
    match &a.output {
        Some(path) => {
            write_file(path, &r.content)?;
            if js {
                print_json(out, &info_json(&info))?;
            } else {
                table(out, &HEADER, &rows(std::slice::from_ref(&info)))?;
                writeln!(out, "\nwritten to {}", path.display())?;
            }
        }
        None => out.write_all(&r.content)?,
    }
    Ok(())
}

/// `osprey ctl reports list|get`.
pub(super) async fn run(
    c: &mut Clients,
    cmd: ReportsCmd,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    match cmd {
        ReportsCmd::List { limit } => {
            let r = c
                .reports
                .list(proto::ListReportsRequest { limit })
                .await
                .map_err(|e| status_err("reports list", e))?
                .into_inner();
            if js {
                print_json(
                    out,
                    &json!({"reports": r.reports.iter().map(info_json).collect::<Vec<_>>()}),
                )?;
            } else {
                table(out, &HEADER, &rows(&r.reports))?;
            }
        }
        ReportsCmd::Get { id, output } => {
            let r = c
                .reports
                .get(proto::GetReportRequest { id })
                .await
                .map_err(|e| status_err("reports get", e))?
                .into_inner();
            write_file(&output, &r.content)?;
            let info = r.report.unwrap_or_default();
            if js {
                print_json(out, &info_json(&info))?;
            } else {
                table(out, &HEADER, &rows(std::slice::from_ref(&info)))?;
                writeln!(out, "\nwritten to {}", output.display())?;
            }
        }
    }
    Ok(())
}
