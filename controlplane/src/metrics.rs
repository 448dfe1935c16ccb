//! Prometheus `/metrics` over HTTP (axum), text exposition format 0.0.4.
//!
//! Worker counters keep Suricata's dotted names, turned into metric names with the `osprey_`
//! prefix (`decoder.pkts` → `osprey_decoder_pkts{worker="w0"}`), so no external exporter is
//! needed. Control-plane counters get the same treatment without a label, except three labelled
//! families: the API's refusals, `osprey_api_refused_total{cause="..."}` (unauthenticated,
//! rate_limited, permission, too_large, concurrency), and lost alerts,
//! `osprey_alerts_dropped{cause="..."}` (one series per cause of
//! [`crate::ingest::ALERT_DROP_CAUSES`]), and block-list hits,
//! `osprey_blocklist_hits_total{origin="..."}` (packets the block list matched, summed over the
//! workers, by the entry's origin). `osprey_degraded{component="..."}` is 1 while a component's
//! health is degraded; with the watchdog, `osprey_worker_stalled{worker="..."}` is 1 while a
//! worker makes no progress and `osprey_worker_stalls_total` counts stalls; `osprey_incidents{state="..."}` counts stored incidents by workflow
//! state. Threat intelligence per feed: `osprey_intel_objects_fetched_total{feed}`,
//! `osprey_intel_indicators{feed,state}` (active, expired, unsupported, revoked, malformed),
//! `osprey_intel_hits_total{feed}`, `osprey_intel_retro_findings_total{feed}` (retro-hunt
//! findings among the hits), `osprey_intel_feed_errors_total{feed,cause}`. The web
//! console: `osprey_console_requests_total{route,status}`, `osprey_console_sessions`,
//! `osprey_console_ws_clients`, `osprey_console_ws_missed_total` and its refusal counters.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::api::system::SystemApi;
use crate::api::ApiContext;

/// `osprey_` + the name with every character outside `[a-zA-Z0-9_]` turned into `_`.
pub fn metric_name(dotted: &str) -> String {
    let mut s = String::with_capacity(dotted.len() + 7);
    s.push_str("osprey_");
    for c in dotted.chars() {
        s.push(if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        });
    }
    s
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Control-plane values that go up and down.
fn is_gauge(name: &str) -> bool {
    matches!(
        name,
        "store.size_bytes"
            | "store.hunt_records"
            | "store.hunt_record_bytes"
            | "store.hunt_index_bytes"
            | "blocklist.entries"
            | "blocklist.max_entries"
            | "blocklist.published_generation"
            | "incidents.in_memory"
            | "playbooks.loaded"
            | "intel.feeds"
            | "intel.published_generation"
            | "intel.score_model_version"
            | "intel.sharing_pending"
            | "intel.sharing_posted_through"
    ) || (name.starts_with("events.") && name.ends_with(".subscribers"))
}

/// Renders the exposition text.
pub fn render(ctx: &ApiContext) -> String {
    let mut out = String::with_capacity(8192);
    // name -> [(worker, value)], sorted by name for stable output.
    let mut by_name: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for (worker, counters) in SystemApi::worker_counters(ctx) {
        for (n, v) in counters {
            by_name
                .entry(metric_name(&n))
                .or_default()
                .push((worker.clone(), v));
        }
    }
    for (name, rows) in &by_name {
        let _ = writeln!(out, "# TYPE {name} untyped");
        for (w, v) in rows {
            let _ = writeln!(out, "{name}{{worker=\"{}\"}} {v}", escape_label(w));
        }
    }
    for (n, v) in SystemApi::control_plane_counters(ctx) {
        if n.starts_with("api.refused.")
            || n.starts_with("ingest.alerts_dropped.")
            || n.starts_with("incidents.state.")
            || n.starts_with("reports.")
        {
            continue; // the labelled families below
        }
        let name = metric_name(&n);
        let kind = if is_gauge(&n) { "gauge" } else { "counter" };
        let _ = writeln!(out, "# TYPE {name} {kind}\n{name} {v}");
    }
    let _ = writeln!(out, "# TYPE osprey_api_refused_total counter");
    for (cause, n) in ctx.admission.refusals() {
        let _ = writeln!(out, "osprey_api_refused_total{{cause=\"{cause}\"}} {n}");
    }
    let _ = writeln!(out, "# TYPE osprey_alerts_dropped counter");
    for (cause, n) in ctx.ingest.alert_drops() {
        let _ = writeln!(out, "osprey_alerts_dropped{{cause=\"{cause}\"}} {n}");
    }
    let _ = writeln!(out, "# TYPE osprey_blocklist_hits_total counter");
    let totals = ctx.appliance.stats().totals();
    for origin in vocab::block::Origin::ALL {
        let name = format!("blocklist.hits.{}", origin.name());
        let n = totals
            .iter()
            .find(|(k, _)| *k == name)
            .map_or(0, |(_, v)| *v);
        let _ = writeln!(
            out,
            "osprey_blocklist_hits_total{{origin=\"{}\"}} {n}",
            origin.name()
        );
    }
    if let Some(inc) = &ctx.incidents {
        let _ = writeln!(out, "# TYPE osprey_incidents gauge");
        for (n, v) in inc.counter_values() {
            if let Some(state) = n.strip_prefix("incidents.state.") {
                let _ = writeln!(out, "osprey_incidents{{state=\"{state}\"}} {v}");
            }
        }
    }
    intel_families(&mut out, &ctx.intel.feeds());
    let _ = writeln!(out, "# TYPE osprey_degraded gauge");
    for h in SystemApi::health(ctx) {
        let _ = writeln!(
            out,
            "osprey_degraded{{component=\"{}\"}} {}",
            h.component,
            u8::from(h.state != crate::health::State::Ok)
        );
    }
    if let Some(wd) = &ctx.watchdog {
        let _ = writeln!(out, "# TYPE osprey_worker_stalled gauge");
        for (w, stalled) in wd.stalled() {
            let _ = writeln!(
                out,
                "osprey_worker_stalled{{worker=\"{}\"}} {}",
                escape_label(&w),
                u8::from(stalled)
            );
        }
        let _ = writeln!(
            out,
            "# TYPE osprey_worker_stalls_total counter\nosprey_worker_stalls_total {}",
            wd.stalls()
        );
    }
    console_families(&mut out, &ctx.console);
    let st = ctx.appliance.status();
    let _ = writeln!(
        out,
        "# TYPE osprey_ruleset_generation gauge\nosprey_ruleset_generation {}",
        st.active_generation()
    );
    let _ = writeln!(
        out,
        "# TYPE osprey_uptime_seconds gauge\nosprey_uptime_seconds {}",
        ctx.started.elapsed().as_secs()
    );
    let _ = writeln!(out, "# TYPE osprey_port_link_up gauge");
    for p in &st.ports {
        let _ = writeln!(
            out,
            "osprey_port_link_up{{port=\"{}\"}} {}",
            escape_label(&p.name),
            u8::from(p.link_up)
        );
    }
    // Also in `osprey ctl stats` as reports.generated.<format>, reports.failed.<format>.
    report_families(&mut out, &ctx.reports.counters);
    out
}

/// The web console's counters and its requests by route and status.
fn console_families(out: &mut String, c: &crate::web::ConsoleCounters) {
    for (name, v, gauge) in c.values() {
        let kind = if gauge { "gauge" } else { "counter" };
        let _ = writeln!(out, "# TYPE {name} {kind}\n{name} {v}");
    }
    let _ = writeln!(out, "# TYPE osprey_console_requests_total counter");
    for ((route, status), n) in c.requests() {
        let _ = writeln!(
            out,
            "osprey_console_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
            escape_label(&route)
        );
    }
}

/// Reports generated and failed, by format.
fn report_families(out: &mut String, c: &crate::reports::Counters) {
    let values = c.values();
    let _ = writeln!(out, "# TYPE osprey_reports_generated_total counter");
    for (format, generated, _) in &values {
        let _ = writeln!(
            out,
            "osprey_reports_generated_total{{format=\"{format}\"}} {generated}"
        );
    }
    let _ = writeln!(out, "# TYPE osprey_reports_failed_total counter");
    for (format, _, failed) in &values {
        let _ = writeln!(
            out,
            "osprey_reports_failed_total{{format=\"{format}\"}} {failed}"
        );
    }
}

/// The labelled families of every intel feed.
fn intel_families(out: &mut String, feeds: &[crate::intel::FeedStatus]) {
    let _ = writeln!(out, "# TYPE osprey_intel_objects_fetched_total counter");
    for f in feeds {
        let feed = escape_label(&f.name);
        let _ = writeln!(
            out,
            "osprey_intel_objects_fetched_total{{feed=\"{feed}\"}} {}",
            f.objects_fetched
        );
    }
    let _ = writeln!(out, "# TYPE osprey_intel_indicators gauge");
    for f in feeds {
        let feed = escape_label(&f.name);
        let n = &f.indicators;
        for (state, v) in [
            ("active", n.active),
            ("expired", n.expired),
            ("unsupported", n.unsupported),
            ("revoked", n.revoked),
            ("malformed", n.malformed),
        ] {
            let _ = writeln!(
                out,
                "osprey_intel_indicators{{feed=\"{feed}\",state=\"{state}\"}} {v}"
            );
        }
    }
    let _ = writeln!(out, "# TYPE osprey_intel_hits_total counter");
    for f in feeds {
        let feed = escape_label(&f.name);
        let _ = writeln!(out, "osprey_intel_hits_total{{feed=\"{feed}\"}} {}", f.hits);
    }
    let _ = writeln!(out, "# TYPE osprey_intel_retro_findings_total counter");
    for f in feeds {
        let feed = escape_label(&f.name);
        let _ = writeln!(
            out,
            "osprey_intel_retro_findings_total{{feed=\"{feed}\"}} {}",
            f.retro_findings
        );
    }
    let _ = writeln!(out, "# TYPE osprey_intel_feed_errors_total counter");
    for f in feeds {
        let feed = escape_label(&f.name);
        for (cause, n) in &f.errors {
            let _ = writeln!(
                out,
                "osprey_intel_feed_errors_total{{feed=\"{feed}\",cause=\"{cause}\"}} {n}"
            );
        }
    }
}

async fn metrics(State(ctx): State<Arc<ApiContext>>) -> impl IntoResponse {
    // Store properties and appliance stats may take a moment; keep them off the reactor.
    let body = tokio::task::spawn_blocking(move || render(&ctx))
        .await
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

/// Serves `/metrics` on `listener` until the shutdown flag flips.
pub async fn serve(listener: tokio::net::TcpListener, ctx: Arc<ApiContext>) -> std::io::Result<()> {
    let mut shutdown = ctx.shutdown.subscribe();
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(ctx);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prefixed_and_sanitised() {
        assert_eq!(metric_name("decoder.pkts"), "osprey_decoder_pkts");
        assert_eq!(
            metric_name("app_layer.flow.dns-udp"),
            "osprey_app_layer_flow_dns_udp"
        );
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape_label("a\"b\\c"), "a\\\"b\\\\c");
    }
}
