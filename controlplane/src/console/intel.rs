//! `osprey ctl intel feeds|indicators|hits|import|verdict|hunt|stats` (alias `status`): threat-intelligence
//! feeds, the indicators the workers run with their confidence scores, stored hits (retro-hunt
//! findings among them), bundle and list imports, analyst verdicts on hits, retro-hunts.

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use super::render::{print_json, table};
use super::{status_err, Clients};
use crate::proto;
use vocab::calendar::eve_timestamp as format_timestamp;

/// `osprey ctl intel ...`
#[derive(clap::Subcommand, Debug, Clone)]
pub enum IntelCmd {
    /// Every feed: kind, last poll, objects fetched, errors, indicators, hits.
    Feeds,
    /// Indicators in the workers' tables.
    Indicators {
        /// Only this feed.
        #[arg(long)]
        feed: Option<String>,
        /// Only this kind of value: ipv4-addr, ipv6-addr, domain-name, url, x509-certificate,
        /// ja3, ja3s, ja4, file.
        #[arg(long = "type")]
        kind: Option<String>,
        /// Only indicators whose pattern or value contains this.
        #[arg(long)]
        value: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        page_token: Option<String>,
    },
    /// Stored hits, newest first.
    Hits {
        #[arg(long)]
        feed: Option<String>,
        #[arg(long)]
        indicator: Option<String>,
        /// Only retro-hunt findings (indicators found in stored metadata after the traffic).
        #[arg(long)]
        retro: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        page_token: Option<String>,
    },
    /// Imports a STIX 2.1 bundle or a plain list into an import feed.
    Import {
        file: PathBuf,
        /// The import feed (default `import`).
        #[arg(long)]
        feed: Option<String>,
    },
    /// Totals over every feed, and sharing's state (sightings posted to TAXII).
    #[command(alias = "status")]
    Stats,
    /// Alerts and hits of a time range as a STIX 2.1 bundle: a sighting per indicator hit,
    /// an observed-data per alert, by the appliance's identity.
    Export {
        /// Start: unix seconds, `<n>ns`, or an age (`24h`); default the beginning.
        #[arg(long)]
        from: Option<String>,
        /// End (exclusive), the same forms; default now.
        #[arg(long)]
        to: Option<String>,
        /// Write the bundle here instead of standard output.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// What else relates to a hit: alerts, flows and hits of its hosts around it, the STIX
    /// objects its indicator relates to and the indicators relating to those.
    Related {
        /// The hit's id (`osprey ctl intel hits`).
        hit: u64,
        /// Either side of the hit (`30m`, `1h`; default an hour, at most a week).
        #[arg(long, value_parser = humantime::parse_duration)]
        window: Option<std::time::Duration>,
        /// Of each kind at most.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Runs a retro-hunt now: the indicators searched for in the stored protocol metadata
    /// (DNS, TLS, HTTP, flow addresses), each new match stored as a hit with `retro`; with
    /// `--list`, the past hunts instead.
    Hunt {
        /// Only records this recent (`1h`, `7d`), before the newest kept; default all.
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<std::time::Duration>,
        /// Only this indicator.
        #[arg(long)]
        indicator: Option<String>,
        /// Only this feed's indicators.
        #[arg(long)]
        feed: Option<String>,
        /// List past hunts, newest first.
        #[arg(long, conflicts_with_all = ["since", "indicator", "feed"])]
        list: bool,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// An analyst's verdict on a stored hit: retrains the confidence-scoring model.
    Verdict {
        /// The hit's id (`osprey ctl intel hits`).
        hit: u64,
        verdict: Verdict,
    },
}

/// What a hit was.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    TruePositive,
    FalsePositive,
}

fn time(ns: u64) -> String {
    match ns {
        0 => "-".into(),
        n => format_timestamp(n),
    }
}

fn counts_json(c: Option<proto::IndicatorCounts>) -> serde_json::Value {
    let c = c.unwrap_or_default();
    json!({"active": c.active, "expired": c.expired, "unsupported": c.unsupported,
           "revoked": c.revoked, "malformed": c.malformed})
}

fn feed_json(f: &proto::Feed) -> serde_json::Value {
    let errors: serde_json::Map<String, serde_json::Value> = f
        .errors
        .iter()
        .map(|e| (e.cause.clone(), json!(e.count)))
        .collect();
    json!({"name": f.name, "kind": f.kind, "location": f.location, "collection": f.collection,
           "poll_secs": f.poll_secs, "last_poll_ns": f.last_poll_ns, "last_ok_ns": f.last_ok_ns,
           "last_error": f.last_error, "objects_fetched": f.objects_fetched,
           "objects": f.objects, "errors": errors, "indicators": counts_json(f.indicators),
           "hits": f.hits, "retro_findings": f.retro_findings, "alerts": f.alerts})
}

fn hit_json(h: &proto::Hit) -> serde_json::Value {
    json!({"id": h.id, "retro": h.retro, "ts_nanos": h.ts_nanos, "feed": h.feed, "indicator_id": h.indicator_id,
           "pattern": h.pattern, "matched_field": h.matched_field,
           "matched_value": h.matched_value,
           "confidence": (h.confidence >= 0).then_some(h.confidence),
           "flow_id": h.flow_id, "src_ip": h.src_ip, "src_port": h.src_port,
           "dest_ip": h.dest_ip, "dest_port": h.dest_port, "proto": h.proto})
}

fn score_json(s: Option<&proto::Score>) -> serde_json::Value {
    let s = s.cloned().unwrap_or_default();
    let factors: Vec<serde_json::Value> = s
        .factors
        .iter()
        .map(|f| json!({"feature": f.feature, "value": f.value, "weight": f.weight}))
        .collect();
    json!({"score": s.score, "model_version": s.model_version, "factors": factors})
}

/// A score with its two heaviest features: `72 (confidence +1.80, reliability +1.00)`.
fn score_text(s: Option<&proto::Score>) -> String {
    let Some(s) = s else { return "-".into() };
    let why: Vec<String> = s
        .factors
        .iter()
        .take(2)
        .map(|f| format!("{} {:+.2}", f.feature, f.weight))
        .collect();
    format!("{} ({})", s.score, why.join(", "))
}

fn indicator_json(i: &proto::Indicator) -> serde_json::Value {
    json!({"id": i.id, "feed": i.feed, "pattern": i.pattern, "state": i.state,
           "confidence": (i.confidence >= 0).then_some(i.confidence), "labels": i.labels,
           "valid_from_ns": i.valid_from_ns, "valid_until_ns": i.valid_until_ns,
           "values": i.values, "score": score_json(i.score.as_ref())})
}

async fn verdict(
    c: &mut Clients,
    hit: u64,
    v: Verdict,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let r = c
        .intel
        .verdict(proto::VerdictRequest {
            hit,
            true_positive: v == Verdict::TruePositive,
        })
        .await
        .map_err(|e| status_err("intel verdict", e))?
        .into_inner();
    if js {
        return print_json(
            out,
            &json!({"hit": r.hit, "indicator_id": r.indicator_id,
                    "true_positive": r.true_positive, "before": score_json(r.before.as_ref()),
                    "after": score_json(r.after.as_ref()), "examples": r.examples}),
        );
    }
    let model = r.after.as_ref().map_or(0, |s| s.model_version);
    writeln!(
        out,
        "hit {} ({}) marked {}: score {} -> {}; model version {model}, trained on {} verdict(s)",
        r.hit,
        r.indicator_id,
        if r.true_positive {
            "true positive"
        } else {
            "false positive"
        },
        score_text(r.before.as_ref()),
        score_text(r.after.as_ref()),
        r.examples
    )?;
    Ok(())
}

async fn feeds(c: &mut Clients, js: bool, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let r = c
        .intel
        .list_feeds(proto::ListFeedsRequest {})
        .await
        .map_err(|e| status_err("intel feeds", e))?
        .into_inner();
    if js {
        return print_json(
            out,
            &json!({"feeds": r.feeds.iter().map(feed_json).collect::<Vec<_>>(),
                    "generation": r.generation, "worker_generations": r.worker_generations}),
        );
    }
    let rows: Vec<Vec<String>> = r
        .feeds
        .iter()
        .map(|f| {
            let n = f.indicators.unwrap_or_default();
            let errors: u64 = f.errors.iter().map(|e| e.count).sum();
            vec![
                f.name.clone(),
                f.kind.clone(),
                time(f.last_poll_ns),
                f.objects_fetched.to_string(),
                format!("{}/{}/{}", n.active, n.expired, n.unsupported),
                errors.to_string(),
                f.hits.to_string(),
                f.last_error.clone(),
            ]
        })
        .collect();
    table(
        out,
        &[
            "FEED",
            "KIND",
            "LAST POLL",
            "FETCHED",
            "ACTIVE/EXPIRED/UNSUPPORTED",
            "ERRORS",
            "HITS",
            "LAST ERROR",
        ],
        &rows,
    )?;
    writeln!(
        out,
        "\ngeneration {}, workers {:?}",
        r.generation, r.worker_generations
    )?;
    Ok(())
}

fn hunt_json(r: &proto::HuntRun) -> serde_json::Value {
    json!({"id": r.id, "started_ns": r.started_ns, "duration_ns": r.duration_ns,
           "trigger": r.trigger, "feed": r.feed, "indicator_id": r.indicator_id,
           "since_ns": r.since_ns, "passes": r.passes, "indicators": r.indicators,
           "unhuntable": r.unhuntable, "entries": r.entries, "matches": r.matches,
           "findings": r.findings, "duplicates": r.duplicates, "truncated": r.truncated,
           "error": r.error})
}

fn hunt_row(r: &proto::HuntRun) -> Vec<String> {
    vec![
        r.id.to_string(),
        time(r.started_ns),
        r.trigger.clone(),
        if r.indicator_id.is_empty() {
            r.feed.clone()
        } else {
            r.indicator_id.clone()
        },
        r.indicators.to_string(),
        r.entries.to_string(),
        r.findings.to_string(),
        r.duplicates.to_string(),
        format!("{:.1}", r.duration_ns as f64 / 1e6),
        if r.truncated { "yes" } else { "no" }.to_owned(),
    ]
}

const HUNT_HEADER: [&str; 10] = [
    "ID",
    "STARTED",
    "TRIGGER",
    "FEED/INDICATOR",
    "INDICATORS",
    "ENTRIES",
    "FINDINGS",
    "DUPLICATES",
    "MS",
    "TRUNCATED",
];

async fn hunt(
    c: &mut Clients,
    q: proto::HuntRequest,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let r = c
        .intel
        .hunt(q)
        .await
        .map_err(|e| status_err("intel hunt", e))?
        .into_inner();
    if js {
        return print_json(out, &hunt_json(&r));
    }
    writeln!(
        out,
        "hunt {}: {} indicator(s) searched in {} pass(es), {} index entries read, {} new finding(s), {} already reported, {:.1} ms{}",
        r.id,
        r.indicators,
        r.passes,
        r.entries,
        r.findings,
        r.duplicates,
        r.duration_ns as f64 / 1e6,
        if r.truncated { " (truncated: raise [intel.hunt] scan_budget or narrow it)" } else { "" }
    )?;
    if r.unhuntable > 0 {
        writeln!(
            out,
            "{} lookup(s) the metadata cannot answer (file hashes, certificate SHA-256)",
            r.unhuntable
        )?;
    }
    if !r.error.is_empty() {
        writeln!(out, "error: {}", r.error)?;
    }
    if r.findings > 0 {
        writeln!(out, "see: osprey ctl intel hits --retro")?;
    }
    Ok(())
}

async fn hunts(
    c: &mut Clients,
    limit: u32,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let r = c
        .intel
        .list_hunts(proto::ListHuntsRequest { page_size: limit })
        .await
        .map_err(|e| status_err("intel hunt --list", e))?
        .into_inner();
    if js {
        return print_json(
            out,
            &json!({"hunts": r.hunts.iter().map(hunt_json).collect::<Vec<_>>()}),
        );
    }
    let rows: Vec<Vec<String>> = r.hunts.iter().map(hunt_row).collect();
    table(out, &HUNT_HEADER, &rows)?;
    Ok(())
}

async fn export(
    c: &mut Clients,
    q: proto::ExportRequest,
    output: Option<PathBuf>,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let r = c
        .intel
        .export(q)
        .await
        .map_err(|e| status_err("intel export", e))?
        .into_inner();
    let Some(path) = output else {
        out.write_all(&r.bundle)?;
        writeln!(out)?;
        return Ok(());
    };
    std::fs::write(&path, &r.bundle)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    let summary = json!({"path": path, "sightings": r.sightings, "alerts": r.alerts,
                         "truncated": r.truncated, "bytes": r.bundle.len()});
    if js {
        return print_json(out, &summary);
    }
    writeln!(
        out,
        "wrote {} ({} bytes): {} sighting(s), {} alert(s) as observed-data{}",
        path.display(),
        r.bundle.len(),
        r.sightings,
        r.alerts,
        if r.truncated {
            " (more alerts in the range: narrow it)"
        } else {
            ""
        }
    )?;
    Ok(())
}

async fn related(
    c: &mut Clients,
    q: proto::RelatedRequest,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let r = c
        .intel
        .related(q)
        .await
        .map_err(|e| status_err("intel related", e))?
        .into_inner();
    let hit = r.hit.unwrap_or_default();
    let objects: Vec<serde_json::Value> = r
        .objects
        .iter()
        .map(
            |o| json!({"type": o.r#type, "id": o.id, "name": o.name, "external_id": o.external_id}),
        )
        .collect();
    let indicators: Vec<serde_json::Value> = r
        .indicators
        .iter()
        .map(|i| json!({"id": i.id, "feed": i.feed, "pattern": i.pattern, "via": i.via}))
        .collect();
    if js {
        let flows: Vec<serde_json::Value> = r
            .flows
            .iter()
            .map(|f| {
                json!({"flow_id": f.flow_id, "src_ip": f.src_ip, "src_port": f.src_port,
                            "dest_ip": f.dest_ip, "dest_port": f.dest_port, "proto": f.proto,
                            "app_proto": f.app_proto, "start_ns": f.start_ns, "end_ns": f.end_ns})
            })
            .collect();
        return print_json(
            out,
            &json!({"hit": hit_json(&hit), "window_ns": r.window_ns,
                    "alerts": r.alerts.iter().map(super::render::alert_json).collect::<Vec<_>>(),
                    "flows": flows, "hits": r.hits.iter().map(hit_json).collect::<Vec<_>>(),
                    "objects": objects, "indicators": indicators}),
        );
    }
    writeln!(
        out,
        "hit {} at {}: {} {} ({}), {}:{} -> {}:{}; within {} s either side:",
        hit.id,
        time(hit.ts_nanos),
        hit.matched_field,
        hit.matched_value,
        hit.indicator_id,
        hit.src_ip,
        hit.src_port,
        hit.dest_ip,
        hit.dest_port,
        r.window_ns / 1_000_000_000
    )?;
    writeln!(out, "\nalerts ({})", r.alerts.len())?;
    let rows: Vec<Vec<String>> = r.alerts.iter().map(super::render::alert_row).collect();
    table(out, &super::render::ALERT_HEADER, &rows)?;
    writeln!(out, "\nflows ({})", r.flows.len())?;
    let rows: Vec<Vec<String>> = r.flows.iter().map(super::records::flow_row).collect();
    table(
        out,
        &[
            "FLOW", "END", "SRC", "DST", "PROTO", "APP", "PKTS", "BYTES", "STATE", "REASON",
        ],
        &rows,
    )?;
    writeln!(out, "\nhits ({})", r.hits.len())?;
    let rows: Vec<Vec<String>> = r
        .hits
        .iter()
        .map(|h| {
            vec![
                h.id.to_string(),
                time(h.ts_nanos),
                format!("{} {}", h.matched_field, h.matched_value),
                h.indicator_id.clone(),
            ]
        })
        .collect();
    table(out, &["ID", "TIME", "MATCHED", "INDICATOR"], &rows)?;
    writeln!(out, "\nSTIX objects ({})", r.objects.len())?;
    let rows: Vec<Vec<String>> = r
        .objects
        .iter()
        .map(|o| {
            vec![
                o.r#type.clone(),
                o.name.clone(),
                o.external_id.clone(),
                o.id.clone(),
            ]
        })
        .collect();
    table(out, &["TYPE", "NAME", "ATT&CK", "ID"], &rows)?;
    writeln!(
        out,
        "\nindicators relating to them ({})",
        r.indicators.len()
    )?;
    let rows: Vec<Vec<String>> = r
        .indicators
        .iter()
        .map(|i| {
            vec![
                i.id.clone(),
                i.feed.clone(),
                i.pattern.clone(),
                i.via.join(", "),
            ]
        })
        .collect();
    table(out, &["ID", "FEED", "PATTERN", "VIA"], &rows)?;
    Ok(())
}

/// Runs an intel command.
pub(super) async fn run(
    c: &mut Clients,
    cmd: IntelCmd,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    match cmd {
        IntelCmd::Feeds => feeds(c, js, out).await?,
        IntelCmd::Verdict { hit, verdict: v } => verdict(c, hit, v, js, out).await?,
        IntelCmd::Indicators {
            feed,
            kind,
            value,
            limit,
            page_token,
        } => {
            let q = proto::ListIndicatorsRequest {
                feed: feed.unwrap_or_default(),
                r#type: kind.unwrap_or_default(),
                value: value.unwrap_or_default(),
                page_size: limit,
                page_token: page_token.unwrap_or_default(),
            };
            let r = c
                .intel
                .list_indicators(q)
                .await
                .map_err(|e| status_err("intel indicators", e))?
                .into_inner();
            if js {
                return print_json(
                    out,
                    &json!({"indicators": r.indicators.iter().map(indicator_json).collect::<Vec<_>>(),
                            "next_page_token": r.next_page_token}),
                );
            }
            let rows: Vec<Vec<String>> = r
                .indicators
                .iter()
                .map(|i| {
                    vec![
                        i.id.clone(),
                        i.feed.clone(),
                        i.state.clone(),
                        if i.confidence >= 0 {
                            i.confidence.to_string()
                        } else {
                            "-".into()
                        },
                        score_text(i.score.as_ref()),
                        time(i.valid_until_ns),
                        i.values.join(", "),
                    ]
                })
                .collect();
            table(
                out,
                &[
                    "ID",
                    "FEED",
                    "STATE",
                    "CONF",
                    "SCORE",
                    "VALID UNTIL",
                    "VALUES",
                ],
                &rows,
            )?;
            if !r.next_page_token.is_empty() {
                writeln!(out, "more: --page-token {}", r.next_page_token)?;
            }
        }
        IntelCmd::Export { from, to, output } => {
            let now = super::now_ns();
            let at = |t: Option<&str>| -> anyhow::Result<u64> {
                Ok(t.map(|s| super::parse_time(s, now))
                    .transpose()?
                    .unwrap_or(0))
            };
            let q = proto::ExportRequest {
                from_ns: at(from.as_deref())?,
                to_ns: at(to.as_deref())?,
            };
            export(c, q, output, js, out).await?
        }
        IntelCmd::Related { hit, window, limit } => {
            let q = proto::RelatedRequest {
                hit,
                window_secs: window.map_or(0, |d| d.as_secs().max(1)),
                limit,
            };
            related(c, q, js, out).await?
        }
        IntelCmd::Hunt {
            since,
            indicator,
            feed,
            list,
            limit,
        } => {
            if list {
                hunts(c, limit, js, out).await?
            } else {
                let q = proto::HuntRequest {
                    since_secs: since.map_or(0, |d| d.as_secs().max(1)),
                    indicator_id: indicator.unwrap_or_default(),
                    feed: feed.unwrap_or_default(),
                };
                hunt(c, q, js, out).await?
            }
        }
        IntelCmd::Hits {
            feed,
            indicator,
            retro,
            limit,
            page_token,
        } => {
            let q = proto::ListHitsRequest {
                retro,
                feed: feed.unwrap_or_default(),
                indicator_id: indicator.unwrap_or_default(),
                page_size: limit,
                page_token: page_token.unwrap_or_default(),
            };
            let r = c
                .intel
                .list_hits(q)
                .await
                .map_err(|e| status_err("intel hits", e))?
                .into_inner();
            if js {
                return print_json(
                    out,
                    &json!({"hits": r.hits.iter().map(hit_json).collect::<Vec<_>>(),
                            "next_page_token": r.next_page_token}),
                );
            }
            let rows: Vec<Vec<String>> = r
                .hits
                .iter()
                .map(|h| {
                    vec![
                        h.id.to_string(),
                        time(h.ts_nanos),
                        if h.retro { "retro" } else { "live" }.to_owned(),
                        h.feed.clone(),
                        format!("{} {}", h.matched_field, h.matched_value),
                        format!(
                            "{}:{} -> {}:{}",
                            h.src_ip, h.src_port, h.dest_ip, h.dest_port
                        ),
                        h.indicator_id.clone(),
                    ]
                })
                .collect();
            table(
                out,
                &["ID", "TIME", "HOW", "FEED", "MATCHED", "FLOW", "INDICATOR"],
                &rows,
            )?;
            if !r.next_page_token.is_empty() {
                writeln!(out, "more: --page-token {}", r.next_page_token)?;
            }
        }
        IntelCmd::Import { file, feed } => {
            let content = std::fs::read(&file)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
            let r = c
                .intel
                .import(proto::ImportRequest {
                    feed: feed.unwrap_or_default(),
                    content,
                })
                .await
                .map_err(|e| status_err("intel import", e))?
                .into_inner();
            if js {
                return print_json(
                    out,
                    &json!({"feed": r.feed, "objects": r.objects,
                            "indicators": counts_json(r.indicators),
                            "generation": r.generation, "left_out": r.left_out}),
                );
            }
            let n = r.indicators.unwrap_or_default();
            writeln!(
                out,
                "imported {} object(s) into feed {}: {} active, {} expired, {} unsupported, {} revoked, {} malformed; generation {} running in every worker",
                r.objects, r.feed, n.active, n.expired, n.unsupported, n.revoked, n.malformed, r.generation
            )?;
            for l in &r.left_out {
                writeln!(out, "left out {l}")?;
            }
        }
        IntelCmd::Stats => {
            let s = c
                .intel
                .stats(proto::IntelStatsRequest {})
                .await
                .map_err(|e| status_err("intel stats", e))?
                .into_inner();
            let j = json!({"feeds": s.feeds, "objects": s.objects,
                           "indicators": counts_json(s.indicators), "lookups": s.lookups,
                           "generation": s.generation, "worker_generations": s.worker_generations,
                           "hits_stored": s.hits_stored, "hits_pruned": s.hits_pruned,
                           "hits_lost": s.hits_lost, "alerts_raised": s.alerts_raised,
                           "alerts_dropped": s.alerts_dropped,
                           "metadata_records": s.metadata_records,
                           "metadata_index_bytes": s.metadata_index_bytes,
                           "hunts": s.hunts, "hunt_findings": s.hunt_findings,
                           "sharing": s.sharing.as_ref().map(sharing_json)});
            if js {
                return print_json(out, &j);
            }
            let mut rows: Vec<Vec<String>> = j
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| *k != "sharing")
                .map(|(k, v)| vec![k.clone(), v.to_string()])
                .collect();
            match j["sharing"].as_object() {
                None => rows.push(vec!["sharing".into(), "off".into()]),
                Some(o) => rows.extend(o.iter().map(|(k, v)| {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    vec![format!("sharing.{k}"), v]
                })),
            }
            table(out, &["STAT", "VALUE"], &rows)?;
        }
    }
    Ok(())
}

fn sharing_json(s: &proto::SharingStats) -> serde_json::Value {
    json!({"url": s.url, "collection": s.collection, "queued": s.queued,
           "dropped": s.dropped, "pending": s.pending, "posts": s.posts,
           "sightings_posted": s.sightings_posted, "hits_posted": s.hits_posted,
           "refused": s.refused, "failures": s.failures, "posted_through": s.posted_through,
           "last_post_ns": s.last_post_ns, "last_error": s.last_error,
           "retry_in_ms": s.retry_in_ms})
}
