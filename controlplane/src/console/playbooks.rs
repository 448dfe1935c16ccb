//! `osprey ctl playbooks list|show|test|reload|rollback`, and the rendering of an
//! incident's responses (also used by `osprey ctl incidents show`).

use std::io::Write;

use serde_json::json;

use super::render::{print_json, table};
use super::{status_err, Clients};
use crate::proto;
use vocab::calendar::eve_timestamp as format_timestamp;

/// `osprey ctl playbooks ...`
#[derive(clap::Subcommand, Debug, Clone)]
pub enum PlaybooksCmd {
    /// The playbooks in force.
    List,
    /// One playbook as written (TOML).
    Show { name: String },
    /// Evaluates a playbook on an incident in dry-run: nothing is done or recorded.
    Test { name: String, incident: u64 },
    /// Reads the playbooks file again (the playbooks in force stay on error).
    Reload,
    /// Removes the block-list entries playbooks added for an incident.
    Rollback { incident: u64 },
}

/// JSON of one response action.
pub(super) fn response_json(r: &proto::ResponseAction) -> serde_json::Value {
    json!({"time": format_timestamp(r.time_ns), "time_ns": r.time_ns, "playbook": r.playbook,
           "action": r.action, "outcome": r.outcome, "detail": r.detail,
           "block_ids": r.block_ids, "rolled_back": r.rolled_back,
           "artefact_sha256": r.artefact_sha256})
}

fn response_rows(list: &[proto::ResponseAction]) -> Vec<Vec<String>> {
    list.iter()
        .map(|r| {
            let mut outcome = r.outcome.clone();
            if r.rolled_back {
                outcome.push_str(" (rolled back)");
            }
            vec![
                format_timestamp(r.time_ns),
                r.playbook.clone(),
                r.action.clone(),
                outcome,
                r.detail.clone(),
            ]
        })
        .collect()
}

const RESPONSE_HEADER: [&str; 5] = ["TIME", "PLAYBOOK", "ACTION", "OUTCOME", "DETAIL"];

/// Prints an incident's responses (nothing when there are none).
pub(super) fn print_responses(
    out: &mut (dyn Write + Send),
    list: &[proto::ResponseAction],
) -> anyhow::Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nresponses:")?;
    table(out, &RESPONSE_HEADER, &response_rows(list))?;
    Ok(())
}

/// Runs a playbooks command.
pub(super) async fn run(
    c: &mut Clients,
    cmd: PlaybooksCmd,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let err = |what: &'static str| move |e| status_err(what, e);
    match cmd {
        PlaybooksCmd::List => {
            let r = c
                .playbooks
                .list(proto::ListPlaybooksRequest {})
                .await
                .map_err(err("playbooks list"))?
                .into_inner();
            if js {
                let list: Vec<_> = r
                    .playbooks
                    .iter()
                    .map(|p| {
                        json!({"name": p.name, "enabled": p.enabled, "dry_run": p.dry_run,
                                    "condition": p.condition, "actions": p.actions})
                    })
                    .collect();
                return print_json(
                    out,
                    &json!({"playbooks": list, "dry_run": r.dry_run,
                            "reload_error": r.reload_error}),
                );
            }
            let rows: Vec<Vec<String>> = r
                .playbooks
                .iter()
                .map(|p| {
                    vec![
                        p.name.clone(),
                        if p.enabled { "yes" } else { "no" }.into(),
                        if p.dry_run || r.dry_run { "yes" } else { "no" }.into(),
                        p.condition.clone(),
                        p.actions.join(" → "),
                    ]
                })
                .collect();
            table(
                out,
                &["NAME", "ENABLED", "DRY RUN", "WHEN", "ACTIONS"],
                &rows,
            )?;
            if !r.reload_error.is_empty() {
                writeln!(out, "\nlast reload failed: {}", r.reload_error)?;
            }
        }
        PlaybooksCmd::Show { name } => {
            let r = c
                .playbooks
                .show(proto::PlaybookRef { name })
                .await
                .map_err(err("playbooks show"))?
                .into_inner();
            if js {
                return print_json(out, &json!({"name": r.name, "toml": r.toml}));
            }
            write!(out, "{}", r.toml)?;
        }
        PlaybooksCmd::Test { name, incident } => {
            let r = c
                .playbooks
                .test(proto::TestPlaybookRequest {
                    name: name.clone(),
                    incident_id: incident,
                })
                .await
                .map_err(err("playbooks test"))?
                .into_inner();
            if js {
                return print_json(
                    out,
                    &json!({"matched": r.matched, "reasons": r.reasons,
                            "actions": r.actions.iter().map(response_json).collect::<Vec<_>>()}),
                );
            }
            if r.matched {
                writeln!(
                    out,
                    "{name} matches incident {incident}: {}",
                    r.reasons.join(", ")
                )?;
                table(out, &RESPONSE_HEADER, &response_rows(&r.actions))?;
            } else {
                writeln!(
                    out,
                    "{name} does not match incident {incident}: {}",
                    r.reasons.join(", ")
                )?;
            }
        }
        PlaybooksCmd::Reload => {
            let r = c
                .playbooks
                .reload(proto::ReloadPlaybooksRequest {})
                .await
                .map_err(err("playbooks reload"))?
                .into_inner();
            if js {
                return print_json(out, &json!({"playbooks": r.playbooks}));
            }
            writeln!(out, "{} playbooks in force", r.playbooks)?;
        }
        PlaybooksCmd::Rollback { incident } => {
            let r = c
                .playbooks
                .rollback(proto::RollbackRequest {
                    incident_id: incident,
                })
                .await
                .map_err(err("playbooks rollback"))?
                .into_inner();
            if js {
                return print_json(out, &json!({"incident": incident, "removed": r.removed}));
            }
            writeln!(
                out,
                "incident {incident}: removed block-list entries {:?}",
                r.removed
            )?;
        }
    }
    Ok(())
}
