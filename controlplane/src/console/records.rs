//! `osprey ctl alerts query|tail` and `osprey ctl flows query`.

use std::io::Write;

use serde_json::json;

use super::render::{alert_json, alert_row, print_json, table, ALERT_HEADER};
use super::{now_ns, parse_time, status_err, AlertsCmd, Clients, FlowsCmd};
use crate::proto;
use vocab::calendar::eve_timestamp as format_timestamp;
use vocab::proto::name as proto_name;

/// `--since`/`--until` as nanoseconds (0 = unbounded).
fn time_range(since: Option<&str>, until: Option<&str>) -> anyhow::Result<(u64, u64)> {
    let now = now_ns();
    let at = |t: Option<&str>| -> anyhow::Result<u64> {
        Ok(t.map(|s| parse_time(s, now)).transpose()?.unwrap_or(0))
    };
    Ok((at(since)?, at(until)?))
}

/// `alerts ...`.
pub(super) async fn alerts(
    c: &mut Clients,
    cmd: AlertsCmd,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    match cmd {
        AlertsCmd::Query {
            since,
            until,
            sid,
            address,
            limit,
            page_token,
            oldest_first,
        } => {
            let (start_ns, end_ns) = time_range(since.as_deref(), until.as_deref())?;
            let q = proto::AlertQuery {
                start_ns,
                end_ns,
                sid,
                address: address.unwrap_or_default(),
                page_size: limit,
                page_token: page_token.unwrap_or_default(),
                oldest_first,
            };
            alerts_query(c, q, js, out).await
        }
        AlertsCmd::Tail {
            sid,
            address,
            count,
        } => {
            let q = proto::TailRequest {
                sid,
                address: address.unwrap_or_default(),
            };
            alerts_tail(c, q, count, js, out).await
        }
    }
}

async fn alerts_query(
    c: &mut Clients,
    q: proto::AlertQuery,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let p = c
        .alerts
        .query(q)
        .await
        .map_err(|e| status_err("alerts query", e))?
        .into_inner();
    if js {
        print_json(
            out,
            &json!({"alerts": p.alerts.iter().map(alert_json).collect::<Vec<_>>(), "next_page_token": p.next_page_token}),
        )?;
    } else {
        let rows: Vec<Vec<String>> = p.alerts.iter().map(alert_row).collect();
        table(out, &ALERT_HEADER, &rows)?;
        if !p.next_page_token.is_empty() {
            writeln!(out, "\nmore: --page-token {}", p.next_page_token)?;
        }
    }
    Ok(())
}

/// Prints alerts as they are stored, until `count` (if given) or the server ends the stream.
async fn alerts_tail(
    c: &mut Clients,
    q: proto::TailRequest,
    count: Option<u64>,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let mut stream = c
        .alerts
        .tail(q)
        .await
        .map_err(|e| status_err("alerts tail", e))?
        .into_inner();
    if !js {
        table(out, &ALERT_HEADER, &[])?;
    }
    let mut n = 0u64;
    while count.is_none_or(|m| n < m) {
        let Some(a) = stream
            .message()
            .await
            .map_err(|e| status_err("alerts tail", e))?
        else {
            break;
        };
        n += 1;
        if js {
            writeln!(out, "{}", alert_json(&a))?;
        } else {
            writeln!(out, "{}", alert_row(&a).join("  "))?;
        }
        out.flush()?;
    }
    Ok(())
}

/// `flows query`.
pub(super) async fn flows(
    c: &mut Clients,
    cmd: FlowsCmd,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let FlowsCmd::Query {
        since,
        until,
        address,
        app_proto,
        limit,
        page_token,
        oldest_first,
    } = cmd;
    let (start_ns, end_ns) = time_range(since.as_deref(), until.as_deref())?;
    let q = proto::FlowQuery {
        start_ns,
        end_ns,
        address: address.unwrap_or_default(),
        app_proto: app_proto.unwrap_or_default(),
        page_size: limit,
        page_token: page_token.unwrap_or_default(),
        oldest_first,
    };
    let p = c
        .flows
        .query(q)
        .await
        .map_err(|e| status_err("flows query", e))?
        .into_inner();
    if js {
        let v: Vec<_> = p.flows.iter().map(|f| json!({
            "flow_id": f.flow_id, "src_ip": f.src_ip, "src_port": f.src_port, "dest_ip": f.dest_ip,
            "dest_port": f.dest_port, "proto": proto_name(u8::try_from(f.proto).unwrap_or(0)).into_owned(), "app_proto": f.app_proto,
            "pkts_toserver": f.pkts_toserver, "pkts_toclient": f.pkts_toclient,
            "bytes_toserver": f.bytes_toserver, "bytes_toclient": f.bytes_toclient,
            "start": format_timestamp(f.start_ns), "end": format_timestamp(f.end_ns),
            "state": f.state, "reason": f.reason, "alerted": f.alerted, "worker": f.worker})).collect();
        return print_json(
            out,
            &json!({"flows": v, "next_page_token": p.next_page_token}),
        );
    }
    let rows: Vec<Vec<String>> = p.flows.iter().map(flow_row).collect();
    table(
        out,
        &[
            "FLOW", "END", "SRC", "DST", "PROTO", "APP", "PKTS", "BYTES", "STATE", "REASON",
        ],
        &rows,
    )?;
    if !p.next_page_token.is_empty() {
        writeln!(out, "\nmore: --page-token {}", p.next_page_token)?;
    }
    Ok(())
}

pub(super) fn flow_row(f: &proto::Flow) -> Vec<String> {
    vec![
        f.flow_id.to_string(),
        format_timestamp(f.end_ns),
        format!("{}:{}", f.src_ip, f.src_port),
        format!("{}:{}", f.dest_ip, f.dest_port),
        proto_name(u8::try_from(f.proto).unwrap_or(0)).into_owned(),
        f.app_proto.clone(),
        format!("{}/{}", f.pkts_toserver, f.pkts_toclient),
        format!("{}/{}", f.bytes_toserver, f.bytes_toclient),
        f.state.clone(),
        f.reason.clone(),
    ]
}
