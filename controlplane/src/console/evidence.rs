//! `osprey ctl evidence collect|list|show|export|verify`: incident evidence and its chain of
//! custody.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use super::render::{print_json, table};
use super::{status_err, Clients};
use crate::proto;
use vocab::calendar::eve_timestamp as format_timestamp;

/// `osprey ctl evidence ...`
#[derive(clap::Subcommand, Debug, Clone)]
pub enum EvidenceCmd {
    /// Collects an incident's evidence.
    Collect { incident: u64 },
    /// Evidence items, oldest first.
    List {
        /// Only this incident's.
        #[arg(long)]
        incident: Option<u64>,
    },
    /// Prints an item (logged as viewed).
    Show { id: u64 },
    /// Writes an item to a file (logged as exported).
    Export {
        id: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Recomputes every hash and signature of the custody log and every item's SHA-256;
    /// exit code 1 when something is broken.
    Verify,
}

fn item_json(i: &proto::EvidenceItem) -> serde_json::Value {
    json!({"id": i.id, "incident_id": i.incident_id, "kind": i.kind, "file": i.file,
           "sha256": i.sha256, "size": i.size, "collected_by": i.collected_by,
           "collected_ns": i.collected_ns, "note": i.note})
}

fn rows(items: &[proto::EvidenceItem]) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|i| {
            vec![
                i.id.to_string(),
                i.incident_id.to_string(),
                i.kind.clone(),
                i.size.to_string(),
                i.sha256.clone(),
                format_timestamp(i.collected_ns),
                i.collected_by.clone(),
            ]
        })
        .collect()
}

const HEADER: [&str; 7] = [
    "ID",
    "INCIDENT",
    "KIND",
    "BYTES",
    "SHA-256",
    "COLLECTED",
    "BY",
];

/// Runs an evidence command; the exit code (1 when verification finds damage).
pub(super) async fn run(
    c: &mut Clients,
    cmd: EvidenceCmd,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    let err = |what: &'static str| move |e| status_err(what, e);
    match cmd {
        EvidenceCmd::Collect { incident } => {
            let r = c
                .evidence
                .collect(proto::CollectEvidenceRequest {
                    incident_id: incident,
                })
                .await
                .map_err(err("evidence collect"))?
                .into_inner();
            if js {
                print_json(
                    out,
                    &json!({"items": r.items.iter().map(item_json).collect::<Vec<_>>()}),
                )?;
            } else {
                table(out, &HEADER, &rows(&r.items))?;
            }
        }
        EvidenceCmd::List { incident } => {
            let r = c
                .evidence
                .list(proto::ListEvidenceRequest {
                    incident_id: incident.unwrap_or(0),
                })
                .await
                .map_err(err("evidence list"))?
                .into_inner();
            if js {
                print_json(
                    out,
                    &json!({"items": r.items.iter().map(item_json).collect::<Vec<_>>(),
                            "public_key": r.public_key}),
                )?;
            } else {
                table(out, &HEADER, &rows(&r.items))?;
                writeln!(out, "\ncustody log signed by Ed25519 key {}", r.public_key)?;
            }
        }
        EvidenceCmd::Show { id } | EvidenceCmd::Export { id, .. } => {
            let (view, file) = match &cmd {
                EvidenceCmd::Export { out, .. } => (false, Some(out.clone())),
                _ => (true, None),
            };
            let r = c
                .evidence
                .export(proto::ExportEvidenceRequest { id, view })
                .await
                .map_err(err("evidence export"))?
                .into_inner();
            let item = r.item.unwrap_or_default();
            if let Some(path) = file {
                std::fs::write(&path, &r.content)
                    .with_context(|| format!("writing {}", path.display()))?;
                if js {
                    print_json(
                        out,
                        &json!({"item": item_json(&item), "out": path, "intact": r.intact}),
                    )?;
                } else {
                    writeln!(
                        out,
                        "item {id} ({}, {} bytes, sha256 {}) written to {}{}",
                        item.kind,
                        r.content.len(),
                        item.sha256,
                        path.display(),
                        if r.intact {
                            ""
                        } else {
                            " — ALTERED since collected"
                        }
                    )?;
                }
            } else {
                out.write_all(&r.content)?;
                if !r.intact {
                    writeln!(out, "\nwarning: item {id} was ALTERED since collected")?;
                }
            }
            if !r.intact {
                return Ok(1);
            }
        }
        EvidenceCmd::Verify => {
            let r = c
                .evidence
                .verify(proto::VerifyEvidenceRequest {})
                .await
                .map_err(err("evidence verify"))?
                .into_inner();
            if js {
                print_json(
                    out,
                    &json!({"ok": r.ok, "entries": r.entries, "items": r.items,
                            "broken_link": r.broken_link, "altered_items": r.altered_items}),
                )?;
            } else if r.ok {
                writeln!(
                    out,
                    "custody log intact: {} entries, {} items verified",
                    r.entries, r.items
                )?;
            } else {
                if !r.broken_link.is_empty() {
                    writeln!(out, "first broken link: {}", r.broken_link)?;
                }
                for a in &r.altered_items {
                    writeln!(out, "altered: {a}")?;
                }
            }
            if !r.ok {
                return Ok(1);
            }
        }
    }
    Ok(0)
}
