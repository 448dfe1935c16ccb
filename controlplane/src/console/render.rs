//! How the console prints: aligned tables, JSON objects of records, rule text input.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::json;

use crate::proto;
use vocab::calendar::eve_timestamp as format_timestamp;
use vocab::proto::name as proto_name;

/// Prints rows as an aligned table.
pub(super) fn table(
    out: &mut dyn Write,
    header: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < w.len() {
                w[i] = w[i].max(c.chars().count());
            }
        }
    }
    let line = |out: &mut dyn Write, cells: Vec<&str>| -> std::io::Result<()> {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, header.to_vec())?;
    for r in rows {
        line(out, r.iter().map(String::as_str).collect())?;
    }
    Ok(())
}

pub(super) fn rule_json(r: &proto::Rule) -> serde_json::Value {
    json!({"gid": r.gid, "sid": r.sid, "rev": r.rev, "msg": r.msg, "classtype": r.classtype,
           "enabled": r.enabled, "text": r.text, "updated_ns": r.updated_ns})
}

pub(super) fn alert_json(a: &proto::Alert) -> serde_json::Value {
    // The worker's rendering (flow counters, the transaction), as an object when it parses.
    let eve =
        serde_json::from_str::<serde_json::Value>(&a.eve_json).unwrap_or(serde_json::Value::Null);
    json!({"eve": eve,"id": a.id, "timestamp": format_timestamp(a.timestamp_ns), "timestamp_ns": a.timestamp_ns,
           "gid": a.gid, "sid": a.sid, "rev": a.rev, "action": a.action, "msg": a.msg,
           "category": a.category, "severity": a.severity, "src_ip": a.src_ip, "src_port": a.src_port,
           "dest_ip": a.dest_ip, "dest_port": a.dest_port, "proto": proto_name(u8::try_from(a.proto).unwrap_or(0)).into_owned(),
           "app_proto": a.app_proto, "flow_id": a.flow_id, "direction": a.direction,
           "packet_number": a.packet_number, "worker": a.worker,
           "ruleset_generation": a.ruleset_generation,
           "tactic_id": a.tactic_id, "tactic_name": a.tactic_name,
           "technique_id": a.technique_id, "technique_name": a.technique_name})
}

pub(super) fn alert_row(a: &proto::Alert) -> Vec<String> {
    vec![
        a.id.to_string(),
        format_timestamp(a.timestamp_ns),
        a.sid.to_string(),
        a.severity.to_string(),
        format!("{}:{}", a.src_ip, a.src_port),
        format!("{}:{}", a.dest_ip, a.dest_port),
        proto_name(u8::try_from(a.proto).unwrap_or(0)).into_owned(),
        attack_cell(&a.tactic_id, &a.technique_id),
        a.msg.clone(),
    ]
}

/// `TA0011/T1071`, `TA0011`, or `-`.
pub(super) fn attack_cell(tactic: &str, technique: &str) -> String {
    match (tactic, technique) {
        ("", "") => "-".into(),
        (t, "") => t.into(),
        ("", q) => q.into(),
        (t, q) => format!("{t}/{q}"),
    }
}

pub(super) const ALERT_HEADER: [&str; 9] = [
    "ID", "TIME", "SID", "SEV", "SRC", "DST", "PROTO", "ATT&CK", "MSG",
];

pub(super) fn read_rule_text(
    file: &Option<PathBuf>,
    text: &Option<String>,
) -> anyhow::Result<String> {
    match (file, text) {
        (_, Some(t)) => Ok(t.clone()),
        (Some(p), None) if p.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
            Ok(s)
        }
        (Some(p), None) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
        }
        (None, None) => bail!("give a rule file (or `-` for stdin) or --text"),
    }
}

pub(super) fn print_json(out: &mut dyn Write, v: &serde_json::Value) -> anyhow::Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(v)?)?;
    Ok(())
}
