//! `osprey.v1.SystemService`: status, counters and shutdown.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::api::auth::Role;
use crate::health::{ComponentHealth, State};
use crate::proto;
use crate::proto::system_service_server::SystemService;

use super::ApiContext;

/// The service; cheap to clone.
#[derive(Clone, Debug)]
pub struct SystemApi {
    pub ctx: Arc<ApiContext>,
}

const SVC: &str = "osprey.v1.SystemService";

fn counters(v: Vec<(String, u64)>) -> Vec<proto::Counter> {
    v.into_iter()
        .map(|(name, value)| proto::Counter { name, value })
        .collect()
}

impl SystemApi {
    /// Counters of the control plane itself, in the same dotted naming.
    pub fn control_plane_counters(ctx: &ApiContext) -> Vec<(String, u64)> {
        let l = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let i = &ctx.ingest.counters;
        let s = &ctx.store.counters;
        let a = &ctx.auth.counters;
        let api = &ctx.counters;
        let mut out = vec![
            ("ingest.alerts_received".into(), l(&i.alerts_received)),
            ("ingest.alerts_stored".into(), l(&i.alerts_stored)),
            ("ingest.flows_received".into(), l(&i.flows_received)),
            ("ingest.flows_stored".into(), l(&i.flows_stored)),
            ("ingest.flows_dropped".into(), l(&i.flows_dropped)),
            ("ingest.discarded_at_stop".into(), l(&i.discarded_at_stop)),
            ("ingest.alerts_dropped".into(), ctx.ingest.alerts_dropped()),
            ("ingest.store_errors".into(), l(&i.store_errors)),
            ("ingest.eve_errors".into(), l(&i.eve_errors)),
            ("ingest.batches".into(), l(&i.batches)),
            ("ingest.unknown_signatures".into(), l(&i.unknown_signatures)),
            ("store.alerts_stored".into(), l(&s.alerts_stored)),
            ("store.flows_stored".into(), l(&s.flows_stored)),
            ("store.write_errors".into(), l(&s.write_errors)),
            ("store.corruption_errors".into(), l(&s.corruption_errors)),
            ("store.retention_runs".into(), l(&s.retention_runs)),
            (
                "store.retention_alerts_deleted".into(),
                l(&s.retention_alerts_deleted),
            ),
            ("store.size_bytes".into(), ctx.store.size_bytes()),
            (
                "store.hunt_records".into(),
                ctx.store.hunt_storage().records,
            ),
            (
                "store.hunt_record_bytes".into(),
                ctx.store.hunt_storage().record_bytes,
            ),
            (
                "store.hunt_index_bytes".into(),
                ctx.store.hunt_storage().index_bytes,
            ),
            ("blocklist.entries".into(), ctx.blocks.len() as u64),
            (
                "blocklist.max_entries".into(),
                ctx.blocks.max_entries() as u64,
            ),
            (
                "blocklist.published_generation".into(),
                ctx.blocks.generation(),
            ),
            ("blocklist.expired".into(), l(&ctx.blocks.expired)),
            (
                "auth.refused_unauthenticated".into(),
                l(&a.refused_unauthenticated),
            ),
            ("auth.refused_permission".into(), l(&a.refused_permission)),
            ("auth.audit_write_errors".into(), l(&a.audit_write_errors)),
            ("api.reloads".into(), l(&api.reloads)),
            ("api.reload_failures".into(), l(&api.reload_failures)),
        ];
        for (cause, n) in ctx.admission.refusals() {
            out.push((format!("api.refused.{cause}"), n));
        }
        for (cause, n) in ctx.ingest.alert_drops() {
            out.push((format!("ingest.alerts_dropped.{cause}"), n));
        }
        let events = &ctx.events;
        // Kept under its earlier name: alerts a slow tail did not get.
        let tail_dropped = events
            .consumer(super::records::TAIL_CONSUMER)
            .map_or(0, |c| l(&c.dropped));
        out.push(("api.tail_lagged".into(), tail_dropped));
        out.push(("events.published".into(), events.published()));
        for (name, c) in events.counters() {
            out.push((format!("events.{name}.delivered"), l(&c.delivered)));
            out.push((format!("events.{name}.dropped"), l(&c.dropped)));
            out.push((format!("events.{name}.waits"), l(&c.waits)));
            out.push((format!("events.{name}.subscribers"), l(&c.subscribers)));
        }
        if let Some(inc) = &ctx.incidents {
            out.extend(inc.counter_values());
        }
        out.extend(ctx.intel.counter_values());
        if let Some(s) = &ctx.syslog {
            out.push(("syslog.sent".into(), l(&s.sent)));
            out.push(("syslog.dropped".into(), l(&s.dropped)));
            out.push(("syslog.send_errors".into(), l(&s.send_errors)));
            out.push(("syslog.connects".into(), l(&s.connects)));
        }
        out.extend(ctx.webhooks.counter_values());
        if let Some(p) = &ctx.playbooks {
            out.extend(p.counter_values());
        }
        for (format, generated, failed) in ctx.reports.counters.values() {
            out.push((format!("reports.generated.{format}"), generated));
            out.push((format!("reports.failed.{format}"), failed));
        }
        out
    }

    /// Health of each component: storage, alerts (lost or not) and, with the watchdog,
    /// workers (stalled or not).
    pub fn health(ctx: &ApiContext) -> Vec<ComponentHealth> {
        let mut h = vec![ctx.store.health(), ctx.ingest.health()];
        if let Some(wd) = &ctx.watchdog {
            h.push(wd.health());
        }
        h
    }

    /// Per-worker counters: the appliance's own, the samples workers pushed through their
    /// stats rings, and the control plane's ring overflow counts for that worker.
    pub fn worker_counters(ctx: &ApiContext) -> Vec<(String, Vec<(String, u64)>)> {
        let snap = ctx.appliance.stats();
        let mut out: Vec<(String, Vec<(String, u64)>)> = snap
            .workers
            .into_iter()
            .map(|w| (w.worker, w.counters))
            .collect();
        fn slot(name: &str, out: &mut Vec<(String, Vec<(String, u64)>)>) -> usize {
            match out.iter().position(|(w, _)| w == name) {
                Some(i) => i,
                None => {
                    out.push((name.to_owned(), Vec::new()));
                    out.len() - 1
                }
            }
        }
        for (w, samples) in ctx.ingest.worker_samples() {
            let i = slot(&w, &mut out);
            for (n, v) in samples {
                if !out[i].1.iter().any(|(m, _)| *m == n) {
                    out[i].1.push((n, v));
                }
            }
        }
        // The source of intel hits' alerts is no worker (its drops are `intel.alerts_dropped`).
        let workers = ctx
            .ingest
            .ring_overflow()
            .into_iter()
            .filter(|(w, ..)| w != crate::intel::hits::SOURCE_NAME);
        for (w, a, f) in workers {
            let i = slot(&w, &mut out);
            out[i].1.push(("ingest.alerts_ring_overflow".into(), a));
            out[i].1.push(("ingest.flows_ring_overflow".into(), f));
        }
        out
    }
}

#[tonic::async_trait]
impl SystemService for SystemApi {
    async fn status(
        &self,
        request: Request<proto::StatusRequest>,
    ) -> Result<Response<proto::StatusResponse>, Status> {
        let ctx = &self.ctx;
        ctx.auth
            .authorize(&request, &format!("{SVC}/Status"), "", Role::Viewer)?;
        let st = ctx.appliance.status();
        // Store properties: off the reactor.
        let c2 = ctx.clone();
        let health = tokio::task::spawn_blocking(move || Self::health(&c2))
            .await
            .map_err(|e| Status::internal(format!("health: {e}")))?;
        let degraded = health.iter().any(|h| h.state != State::Ok);
        Ok(Response::new(proto::StatusResponse {
            version: if st.version.is_empty() {
                env!("CARGO_PKG_VERSION").to_owned()
            } else {
                st.version.clone()
            },
            uptime_secs: ctx.started.elapsed().as_secs(),
            ruleset_generation: st.active_generation(),
            ports: st
                .ports
                .iter()
                .map(|p| proto::PortStatus {
                    port_id: p.port_id.into(),
                    name: p.name.clone(),
                    link_up: p.link_up,
                    speed_mbps: p.speed_mbps,
                    driver: p.driver.clone(),
                    filter: p.filter.clone(),
                    filter_engine: p.filter_engine.clone(),
                })
                .collect(),
            workers: st
                .workers
                .iter()
                .map(|w| proto::WorkerStatus {
                    name: w.name.clone(),
                    lcore: w.lcore,
                    running: w.running,
                    ruleset_generation: w.ruleset_generation,
                })
                .collect(),
            alerts_stored: ctx.store.alerts_estimate(),
            storage_path: ctx.store.path().display().to_string(),
            mode: st.mode,
            state: if degraded { State::Degraded } else { State::Ok }
                .as_str()
                .to_owned(),
            health: health
                .into_iter()
                .map(|h| proto::ComponentHealth {
                    component: h.component.to_owned(),
                    state: h.state.as_str().to_owned(),
                    reason: h.reason,
                    since_nanos: h.since_nanos,
                })
                .collect(),
        }))
    }

    async fn stats(
        &self,
        request: Request<proto::StatsRequest>,
    ) -> Result<Response<proto::StatsResponse>, Status> {
        let ctx = &self.ctx;
        ctx.auth
            .authorize(&request, &format!("{SVC}/Stats"), "", Role::Viewer)?;
        let workers = Self::worker_counters(ctx);
        let snap = crate::seams::StatsSnapshot {
            workers: workers
                .iter()
                .map(|(w, c)| crate::seams::WorkerStats {
                    worker: w.clone(),
                    counters: c.clone(),
                })
                .collect(),
        };
        Ok(Response::new(proto::StatsResponse {
            total: counters(snap.totals()),
            workers: workers
                .into_iter()
                .map(|(worker, c)| proto::WorkerCounters {
                    worker,
                    counters: counters(c),
                })
                .collect(),
            control_plane: counters(Self::control_plane_counters(ctx)),
        }))
    }

    async fn shutdown(
        &self,
        request: Request<proto::ShutdownRequest>,
    ) -> Result<Response<proto::ShutdownResponse>, Status> {
        let ctx = &self.ctx;
        let method = format!("{SVC}/Shutdown");
        let reason = request.get_ref().reason.clone();
        let who = ctx
            .auth
            .authorize(&request, &method, &reason, Role::Admin)?;
        ctx.appliance.shutdown();
        let res: crate::error::Result<()> = Ok(());
        ctx.auth.audit(&who, &method, &reason, &res);
        tracing::warn!(who = %who.name, reason = %reason, "shutdown requested over the API");
        // Let this answer go out before the servers start draining.
        let tx = ctx.shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let _ = tx.send(true);
        });
        Ok(Response::new(proto::ShutdownResponse { accepted: true }))
    }
}
