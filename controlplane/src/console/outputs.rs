//! `osprey ctl outputs deadletter list|retry`: the webhooks' dead letters.

use std::io::Write;

use serde_json::json;

use super::render::{print_json, table};
use super::{status_err, Clients};
use crate::proto;
use vocab::calendar::eve_timestamp as format_timestamp;

/// `osprey ctl outputs ...`
#[derive(clap::Subcommand, Debug, Clone)]
pub enum OutputsCmd {
    /// Webhook deliveries that failed every attempt.
    #[command(subcommand)]
    Deadletter(DeadLetterCmd),
}

/// `osprey ctl outputs deadletter ...`
#[derive(clap::Subcommand, Debug, Clone)]
pub enum DeadLetterCmd {
    /// Lists dead letters, oldest first.
    List {
        /// Only this webhook's.
        #[arg(long)]
        webhook: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        page_token: Option<String>,
    },
    /// Queues dead letters on their webhook again (and removes them).
    Retry {
        /// Dead letter ids.
        #[arg(required_unless_present = "all")]
        ids: Vec<u64>,
        /// Every dead letter (of `--webhook` when given).
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        #[arg(long, requires = "all")]
        webhook: Option<String>,
    },
}

fn dead_letter_json(d: &proto::DeadLetter) -> serde_json::Value {
    let body: serde_json::Value = serde_json::from_str(&d.body).unwrap_or_else(|_| json!(d.body));
    json!({"id": d.id, "webhook": d.webhook, "kind": d.kind, "attempts": d.attempts,
           "last_error": d.last_error, "failed_ns": d.failed_ns, "body": body})
}

const HEADER: [&str; 6] = ["ID", "WEBHOOK", "KIND", "ATTEMPTS", "FAILED", "LAST ERROR"];

fn row(d: &proto::DeadLetter) -> Vec<String> {
    vec![
        d.id.to_string(),
        d.webhook.clone(),
        d.kind.clone(),
        d.attempts.to_string(),
        format_timestamp(d.failed_ns),
        d.last_error.clone(),
    ]
}

/// Runs an outputs command.
pub(super) async fn run(
    c: &mut Clients,
    cmd: OutputsCmd,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let OutputsCmd::Deadletter(cmd) = cmd;
    match cmd {
        DeadLetterCmd::List {
            webhook,
            limit,
            page_token,
        } => {
            let p = c
                .outputs
                .list_dead_letters(proto::ListDeadLettersRequest {
                    webhook: webhook.unwrap_or_default(),
                    page_size: limit,
                    page_token: page_token.unwrap_or_default(),
                })
                .await
                .map_err(|e| status_err("outputs deadletter list", e))?
                .into_inner();
            if js {
                return print_json(
                    out,
                    &json!({"dead_letters": p.dead_letters.iter().map(dead_letter_json).collect::<Vec<_>>(),
                            "next_page_token": p.next_page_token}),
                );
            }
            let rows: Vec<Vec<String>> = p.dead_letters.iter().map(row).collect();
            table(out, &HEADER, &rows)?;
            if !p.next_page_token.is_empty() {
                writeln!(out, "more: --page-token {}", p.next_page_token)?;
            }
        }
        DeadLetterCmd::Retry { ids, all, webhook } => {
            let r = c
                .outputs
                .retry_dead_letters(proto::RetryDeadLettersRequest {
                    ids,
                    all,
                    webhook: webhook.unwrap_or_default(),
                })
                .await
                .map_err(|e| status_err("outputs deadletter retry", e))?
                .into_inner();
            if js {
                let failed: Vec<_> = r
                    .failed
                    .iter()
                    .map(|f| json!({"id": f.id, "reason": f.reason}))
                    .collect();
                return print_json(out, &json!({"retried": r.retried, "failed": failed}));
            }
            writeln!(out, "queued again: {:?}", r.retried)?;
            for f in &r.failed {
                writeln!(out, "not queued {}: {}", f.id, f.reason)?;
            }
        }
    }
    Ok(())
}
