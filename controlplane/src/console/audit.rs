//! `osprey ctl audit`: the audit log, newest first.

use std::io::Write;

use serde_json::json;

use super::render::{print_json, table};
use super::{now_ns, parse_time, status_err, Clients};
use crate::proto;
use vocab::calendar::eve_timestamp as format_timestamp;

/// `osprey ctl audit` filters.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AuditArgs {
    /// Start: unix seconds, `<n>ns`, or an age like `15m`, `2h`, `7d`.
    #[arg(long)]
    pub since: Option<String>,
    /// End (exclusive), same forms.
    #[arg(long)]
    pub until: Option<String>,
    /// Only this caller (token name, `cert:<CN>`, `anonymous`).
    #[arg(long)]
    pub who: Option<String>,
    /// Only methods containing this text, e.g. `Shutdown` or `RulesService`.
    #[arg(long)]
    pub method: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    #[arg(long)]
    pub page_token: Option<String>,
    #[arg(long)]
    pub oldest_first: bool,
}

fn entry_json(e: &proto::AuditEntry) -> serde_json::Value {
    json!({"time": format_timestamp(e.time_ns), "time_ns": e.time_ns, "who": e.who,
           "role": e.role, "method": e.method, "target": e.target, "result": e.result,
           "detail": e.detail})
}

/// Lists audit records as a table or JSON.
pub(super) async fn run(
    c: &mut Clients,
    a: AuditArgs,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let now = now_ns();
    let at = |t: &Option<String>| -> anyhow::Result<u64> {
        Ok(t.as_deref()
            .map(|s| parse_time(s, now))
            .transpose()?
            .unwrap_or(0))
    };
    let q = proto::ListAuditRequest {
        since_ns: at(&a.since)?,
        until_ns: at(&a.until)?,
        who: a.who.unwrap_or_default(),
        method: a.method.unwrap_or_default(),
        page_size: a.limit,
        page_token: a.page_token.unwrap_or_default(),
        oldest_first: a.oldest_first,
    };
    let p = c
        .audit
        .list(q)
        .await
        .map_err(|e| status_err("audit", e))?
        .into_inner();
    if js {
        return print_json(
            out,
            &json!({"entries": p.entries.iter().map(entry_json).collect::<Vec<_>>(),
                    "next_page_token": p.next_page_token}),
        );
    }
    let rows: Vec<Vec<String>> = p
        .entries
        .iter()
        .map(|e| {
            vec![
                format_timestamp(e.time_ns),
                e.who.clone(),
                e.role.clone(),
                e.method.clone(),
                e.result.clone(),
                e.target.clone(),
                e.detail.clone(),
            ]
        })
        .collect();
    table(
        out,
        &[
            "TIME", "WHO", "ROLE", "METHOD", "RESULT", "TARGET", "DETAIL",
        ],
        &rows,
    )?;
    if !p.next_page_token.is_empty() {
        writeln!(out, "\nmore: --page-token {}", p.next_page_token)?;
    }
    Ok(())
}
