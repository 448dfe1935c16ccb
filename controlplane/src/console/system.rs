//! `osprey ctl status` and `osprey ctl stats`.

use std::io::Write;

use serde_json::json;

use super::render::{print_json, table};
use super::{status_err, Clients};
use crate::proto;

/// `status`: version, ports and links, workers and their ruleset generation.
pub(super) async fn status(
    c: &mut Clients,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let s = c
        .system
        .status(proto::StatusRequest {})
        .await
        .map_err(|e| status_err("status", e))?
        .into_inner();
    if js {
        print_json(
            out,
            &json!({
                "version": s.version, "uptime_secs": s.uptime_secs, "mode": s.mode,
                "ruleset_generation": s.ruleset_generation, "alerts_stored": s.alerts_stored,
                "storage_path": s.storage_path, "state": s.state,
                "health": s.health.iter().map(|h| json!({"component": h.component, "state": h.state, "reason": h.reason, "since_nanos": h.since_nanos})).collect::<Vec<_>>(),
                "ports": s.ports.iter().map(|p| json!({"port_id": p.port_id, "name": p.name, "link_up": p.link_up, "speed_mbps": p.speed_mbps, "driver": p.driver, "filter": p.filter, "filter_engine": p.filter_engine})).collect::<Vec<_>>(),
                "workers": s.workers.iter().map(|w| json!({"name": w.name, "lcore": w.lcore, "running": w.running, "ruleset_generation": w.ruleset_generation})).collect::<Vec<_>>(),
            }),
        )?;
    } else {
        print_status(out, &s)?;
    }
    Ok(())
}

fn print_status(out: &mut (dyn Write + Send), s: &proto::StatusResponse) -> anyhow::Result<()> {
    writeln!(out, "version            {}", s.version)?;
    writeln!(out, "mode               {}", s.mode)?;
    writeln!(out, "uptime             {}s", s.uptime_secs)?;
    writeln!(out, "ruleset generation {}", s.ruleset_generation)?;
    writeln!(out, "alerts stored      ~{}", s.alerts_stored)?;
    writeln!(out, "storage            {}", s.storage_path)?;
    if !s.state.is_empty() {
        writeln!(out, "state              {}", s.state)?;
    }
    for h in s.health.iter().filter(|h| h.state != "ok") {
        let since = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_nanos(h.since_nanos),
        );
        writeln!(
            out,
            "  {} {} since {since}: {}",
            h.component, h.state, h.reason
        )?;
    }
    writeln!(out)?;
    let rows: Vec<Vec<String>> = s
        .ports
        .iter()
        .map(|p| {
            vec![
                p.port_id.to_string(),
                p.name.clone(),
                if p.link_up {
                    "up".into()
                } else {
                    "down".into()
                },
                p.speed_mbps.to_string(),
                p.driver.clone(),
                match p.filter.as_str() {
                    "" => "-".into(),
                    f => format!("{f} ({})", p.filter_engine),
                },
            ]
        })
        .collect();
    table(
        out,
        &["PORT", "NAME", "LINK", "MBPS", "DRIVER", "FILTER"],
        &rows,
    )?;
    writeln!(out)?;
    let rows: Vec<Vec<String>> = s
        .workers
        .iter()
        .map(|w| {
            vec![
                w.name.clone(),
                w.lcore.to_string(),
                if w.running {
                    "running".into()
                } else {
                    "stopped".into()
                },
                w.ruleset_generation.to_string(),
            ]
        })
        .collect();
    table(out, &["WORKER", "LCORE", "STATE", "GENERATION"], &rows)?;
    Ok(())
}

/// `stats [--workers]`: counters in total (and per worker), then the control plane's.
pub(super) async fn stats(
    c: &mut Clients,
    workers: bool,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let s = c
        .system
        .stats(proto::StatsRequest {})
        .await
        .map_err(|e| status_err("stats", e))?
        .into_inner();
    let m = |v: &[proto::Counter]| -> serde_json::Map<String, serde_json::Value> {
        v.iter().map(|c| (c.name.clone(), json!(c.value))).collect()
    };
    if js {
        let w: serde_json::Map<String, serde_json::Value> = s
            .workers
            .iter()
            .map(|w| (w.worker.clone(), serde_json::Value::Object(m(&w.counters))))
            .collect();
        return print_json(
            out,
            &json!({"total": m(&s.total), "workers": w, "control_plane": m(&s.control_plane)}),
        );
    }
    let rows = |v: &[proto::Counter]| -> Vec<Vec<String>> {
        v.iter()
            .map(|c| vec![c.name.clone(), c.value.to_string()])
            .collect()
    };
    table(out, &["COUNTER", "TOTAL"], &rows(&s.total))?;
    if workers {
        for w in &s.workers {
            writeln!(out, "\n[{}]", w.worker)?;
            table(out, &["COUNTER", "VALUE"], &rows(&w.counters))?;
        }
    }
    writeln!(out)?;
    table(out, &["CONTROL PLANE", "VALUE"], &rows(&s.control_plane))?;
    Ok(())
}
