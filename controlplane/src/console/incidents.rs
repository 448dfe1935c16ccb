//! `osprey ctl incidents list|show|ack|assign|note|resolve`.

use std::io::Write;

use serde_json::json;

use super::render::{attack_cell, print_json, table};
use super::{status_err, Clients};
use crate::proto;
use vocab::calendar::eve_timestamp as format_timestamp;

/// `osprey ctl incidents ...`
#[derive(clap::Subcommand, Debug, Clone)]
pub enum IncidentsCmd {
    /// Incidents, newest first (or by score).
    List {
        /// Only this state (repeatable): new, acknowledged, investigating, contained,
        /// resolved, false_positive.
        #[arg(long)]
        state: Vec<String>,
        /// Only incidents involving this address.
        #[arg(long)]
        address: Option<String>,
        #[arg(long, default_value_t = 0.0)]
        min_score: f64,
        /// Only incidents that reached this tactic id (e.g. TA0011).
        #[arg(long)]
        tactic: Option<String>,
        /// Highest score first.
        #[arg(long)]
        by_score: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        page_token: Option<String>,
    },
    /// One incident: score explanation, workflow, notes and the timeline.
    Show {
        id: u64,
        /// Timeline members shown at most (0 = all kept).
        #[arg(long, default_value_t = 50)]
        members: u32,
    },
    /// Acknowledge (new → acknowledged).
    Ack { id: u64 },
    /// Assign to someone (empty string unassigns).
    Assign { id: u64, who: String },
    /// Add a note.
    Note { id: u64, text: String },
    /// Add a tag.
    Tag { id: u64, tag: String },
    /// Move to any state: investigating, contained, resolved, false_positive, ...
    State { id: u64, state: String },
    /// Resolve, or with `--false-positive` close as a false positive.
    Resolve {
        id: u64,
        #[arg(long)]
        false_positive: bool,
        /// A closing note.
        #[arg(long)]
        note: Option<String>,
    },
}

const HEADER: [&str; 9] = [
    "ID", "SCORE", "STATE", "HOST", "ALERTS", "SEV", "ATT&CK", "LAST", "TITLE",
];

fn row(i: &proto::Incident) -> Vec<String> {
    let tactics: Vec<&str> = i.tactics.iter().map(|t| t.tactic_id.as_str()).collect();
    let host = if i.peer.is_empty() {
        i.host.clone()
    } else {
        format!("{}→{}", i.host, i.peer)
    };
    vec![
        i.id.to_string(),
        format!("{:.1}", i.score),
        i.state.clone(),
        host,
        i.alerts.to_string(),
        i.severity.to_string(),
        if tactics.is_empty() {
            "-".into()
        } else {
            tactics.join(",")
        },
        format_timestamp(i.last_ns),
        i.title.clone(),
    ]
}

/// An incident as the console's JSON.
pub(super) fn incident_json(i: &proto::Incident) -> serde_json::Value {
    json!({"id": i.id, "group_by": i.group_by, "host": i.host, "peer": i.peer, "title": i.title,
        "first": format_timestamp(i.first_ns), "last": format_timestamp(i.last_ns),
        "first_ns": i.first_ns, "last_ns": i.last_ns, "alerts": i.alerts,
        "members_kept": i.members_kept, "members_dropped": i.members_dropped,
        "severity": i.severity, "hosts": i.hosts, "sids": i.sids,
        "tactics": i.tactics.iter().map(|t| json!({"tactic_id": t.tactic_id, "first_ns": t.first_ns})).collect::<Vec<_>>(),
        "stage": i.stage, "kill_chain": i.kill_chain, "intel_confidence": i.intel_confidence,
        "score": i.score,
        "explanation": i.explanation.iter().map(|c| json!({"factor": c.factor, "detail": c.detail, "points": c.points})).collect::<Vec<_>>(),
        "state": i.state, "state_since_ns": i.state_since_ns,
        "time_in_state_ns": i.time_in_state.iter().map(|t| (t.state.clone(), json!(t.ns))).collect::<serde_json::Map<_, _>>(),
        "assignee": i.assignee,
        "notes": i.notes.iter().map(|n| json!({"time_ns": n.time_ns, "who": n.who, "text": n.text})).collect::<Vec<_>>(),
        "tags": i.tags, "updated_ns": i.updated_ns, "techniques": i.techniques,
        "responses": i.responses.iter().map(super::playbooks::response_json).collect::<Vec<_>>()})
}

fn member_json(m: &proto::Member) -> serde_json::Value {
    json!({"timestamp": format_timestamp(m.timestamp_ns), "timestamp_ns": m.timestamp_ns,
        "kind": m.kind, "alert_id": m.alert_id, "sid": m.sid, "msg": m.msg,
        "severity": m.severity, "src_ip": m.src_ip, "dest_ip": m.dest_ip,
        "tactic_id": m.tactic_id, "tactic_name": m.tactic_name,
        "technique_id": m.technique_id, "technique_name": m.technique_name})
}

/// Runs one `incidents` command.
pub(super) async fn run(
    c: &mut Clients,
    cmd: IncidentsCmd,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let update = |id: u64| proto::UpdateIncidentRequest {
        id,
        ..Default::default()
    };
    match cmd {
        IncidentsCmd::List {
            state,
            address,
            min_score,
            tactic,
            by_score,
            limit,
            page_token,
        } => {
            let q = proto::ListIncidentsRequest {
                states: state,
                address: address.unwrap_or_default(),
                min_score,
                tactic_id: tactic.unwrap_or_default(),
                by_score,
                page_size: limit,
                page_token: page_token.unwrap_or_default(),
            };
            list(c, q, js, out).await
        }
        IncidentsCmd::Show { id, members } => show(c, id, members, js, out).await,
        IncidentsCmd::Ack { id } => {
            let q = proto::UpdateIncidentRequest {
                state: "acknowledged".into(),
                ..update(id)
            };
            apply(c, q, js, out).await
        }
        IncidentsCmd::Assign { id, who } => {
            let q = proto::UpdateIncidentRequest {
                assignee: Some(who),
                ..update(id)
            };
            apply(c, q, js, out).await
        }
        IncidentsCmd::Note { id, text } => {
            let q = proto::UpdateIncidentRequest {
                note: text,
                ..update(id)
            };
            apply(c, q, js, out).await
        }
        IncidentsCmd::Tag { id, tag } => {
            let q = proto::UpdateIncidentRequest {
                tags: vec![tag],
                ..update(id)
            };
            apply(c, q, js, out).await
        }
        IncidentsCmd::State { id, state } => {
            let q = proto::UpdateIncidentRequest {
                state,
                ..update(id)
            };
            apply(c, q, js, out).await
        }
        IncidentsCmd::Resolve {
            id,
            false_positive,
            note,
        } => {
            let state = if false_positive {
                "false_positive"
            } else {
                "resolved"
            };
            let q = proto::UpdateIncidentRequest {
                state: state.into(),
                note: note.unwrap_or_default(),
                ..update(id)
            };
            apply(c, q, js, out).await
        }
    }
}

async fn list(
    c: &mut Clients,
    q: proto::ListIncidentsRequest,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let p = c
        .incidents
        .list(q)
        .await
        .map_err(|e| status_err("incidents list", e))?
        .into_inner();
    if js {
        print_json(
            out,
            &json!({"incidents": p.incidents.iter().map(incident_json).collect::<Vec<_>>(),
                    "next_page_token": p.next_page_token}),
        )?;
    } else {
        let rows: Vec<Vec<String>> = p.incidents.iter().map(row).collect();
        table(out, &HEADER, &rows)?;
        if !p.next_page_token.is_empty() {
            writeln!(out, "\nmore: --page-token {}", p.next_page_token)?;
        }
    }
    Ok(())
}

async fn show(
    c: &mut Clients,
    id: u64,
    members: u32,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let d = c
        .incidents
        .get(proto::GetIncidentRequest {
            id,
            max_members: members,
        })
        .await
        .map_err(|e| status_err("incidents show", e))?
        .into_inner();
    let i = d.incident.unwrap_or_default();
    if js {
        return print_json(
            out,
            &json!({"incident": incident_json(&i),
                    "timeline": d.timeline.iter().map(member_json).collect::<Vec<_>>()}),
        );
    }
    table(out, &HEADER, &[row(&i)])?;
    writeln!(out, "\nscore {:.1}:", i.score)?;
    let parts: Vec<Vec<String>> = i
        .explanation
        .iter()
        .map(|c| {
            vec![
                c.factor.clone(),
                format!("{:.1}", c.points),
                c.detail.clone(),
            ]
        })
        .collect();
    table(out, &["FACTOR", "POINTS", "WHY"], &parts)?;
    writeln!(
        out,
        "\nstate {}  assignee {}  tags {}",
        i.state,
        if i.assignee.is_empty() {
            "-"
        } else {
            &i.assignee
        },
        if i.tags.is_empty() {
            "-".to_owned()
        } else {
            i.tags.join(",")
        }
    )?;
    for n in &i.notes {
        writeln!(
            out,
            "note {} {}: {}",
            format_timestamp(n.time_ns),
            n.who,
            n.text
        )?;
    }
    super::playbooks::print_responses(out, &i.responses)?;
    writeln!(
        out,
        "\ntimeline ({} of {} alerts kept):",
        i.members_kept, i.alerts
    )?;
    let rows: Vec<Vec<String>> = d
        .timeline
        .iter()
        .map(|m| {
            vec![
                format_timestamp(m.timestamp_ns),
                m.alert_id.to_string(),
                m.sid.to_string(),
                format!("{}→{}", m.src_ip, m.dest_ip),
                attack_cell(&m.tactic_id, &m.technique_id),
                m.msg.clone(),
            ]
        })
        .collect();
    table(
        out,
        &["TIME", "ALERT", "SID", "FLOW", "ATT&CK", "MSG"],
        &rows,
    )?;
    Ok(())
}

async fn apply(
    c: &mut Clients,
    q: proto::UpdateIncidentRequest,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let i = c
        .incidents
        .update(q)
        .await
        .map_err(|e| status_err("incidents update", e))?
        .into_inner();
    if js {
        print_json(out, &incident_json(&i))
    } else {
        table(out, &HEADER, &[row(&i)])?;
        Ok(())
    }
}
