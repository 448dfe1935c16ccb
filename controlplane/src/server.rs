//! Starts the control plane from its config: storage, auth, ingest, the gRPC API (with
//! `grpc.health.v1` and server reflection), `/metrics`, the web console and periodic retention; stops it
//! gracefully when the shutdown flag flips (API `Shutdown`, or [`ControlPlane::shutdown`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::api::audit::AuditApi;
use crate::api::auth::Authenticator;
use crate::api::blocks::BlocksApi;
use crate::api::evidence::EvidenceApi;
use crate::api::guard::{Admission, Guarded};
use crate::api::incidents::IncidentsApi;
use crate::api::intel::IntelApi;
use crate::api::outputs::OutputsApi;
use crate::api::playbooks::PlaybooksApi;
use crate::api::records::{AlertsApi, FlowsApi};
use crate::api::reports::ReportsApi;
use crate::api::rules::RulesApi;
use crate::api::system::SystemApi;
use crate::api::{ApiContext, ApiCounters};
use crate::blocks::BlockList;
use crate::config::ControlPlaneConfig;
use crate::error::{Error, Kind, Result};
use crate::events::Bus;
use crate::evidence::Evidence;
use crate::incidents::Incidents;
use crate::ingest::{Ingest, RecordSource, SignatureCatalog};
use crate::intel::hits::HitsThread;
use crate::intel::hunt::HuntThread;
use crate::intel::index::IndexThread;
use crate::intel::Intel;
use crate::outputs::eve::EveWriter;
use crate::outputs::syslog::SyslogOutput;
use crate::outputs::webhook::Webhooks;
use crate::outputs::EveOutput;
use crate::playbooks::Playbooks;
use crate::proto;
use crate::seams::{Appliance, RuleCompiler};
use crate::store::{Store, StoreOptions};

/// Room for the fields around a rule text in an `Add` or `Validate` request.
const RULES_REQUEST_SLACK: usize = 4096;
/// How long playbooks may take at shutdown to act on the last incident changes.
const PLAYBOOK_GRACE: Duration = Duration::from_secs(30);
/// How long webhooks may take at shutdown to send what is queued.
const WEBHOOK_GRACE: Duration = Duration::from_secs(5);
/// Alerts deleted per retention pass at most.
const RETENTION_BUDGET: usize = 500_000;

/// The running control plane.
pub struct ControlPlane {
    pub ctx: Arc<ApiContext>,
    pub grpc_addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    /// The web console's address, when `[console]` is enabled.
    pub console_addr: Option<SocketAddr>,
    ingest: Ingest,
    eve: Option<EveOutput>,
    incidents: Option<Incidents>,
    syslog: Option<SyslogOutput>,
    playbooks: Option<Playbooks>,
    hits: Option<HitsThread>,
    hunt: Option<(IndexThread, Option<HuntThread>)>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("grpc_addr", &self.grpc_addr)
            .field("metrics_addr", &self.metrics_addr)
            .field("console_addr", &self.console_addr)
            .finish_non_exhaustive()
    }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn read_pem(what: &str, path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::config(format!("{what} {}: {e}", path.display())))
}

impl ControlPlane {
    /// Opens storage and starts every part, with ingest draining `sources` (one per worker:
    /// the data plane's rings in the appliance). Errors say which part failed and why (bad
    /// config key, damaged database, port in use, bad certificate).
    pub async fn start_with_sources(
        cfg: ControlPlaneConfig,
        sources: Vec<Box<dyn RecordSource>>,
        appliance: Arc<dyn Appliance>,
        compiler: Arc<dyn RuleCompiler>,
    ) -> Result<ControlPlane> {
        cfg.validate().map_err(|e| Error::config(e.to_string()))?;
        let store = Self::open_store(&cfg).await?;
        let blocks = {
            let (st, ap, bc) = (store.clone(), appliance.clone(), cfg.blocklist.clone());
            tokio::task::spawn_blocking(move || BlockList::open(st, ap, &bc, now_nanos()))
                .await
                .map_err(|e| Error::internal(e.to_string()))?
                .map_err(|e| e.context("opening the block list"))?
        };
        let blocks = Arc::new(blocks);
        let intel = {
            let (st, ap, ic) = (store.clone(), appliance.clone(), cfg.intel.clone());
            tokio::task::spawn_blocking(move || Intel::open(st, ap, &ic, now_nanos()))
                .await
                .map_err(|e| Error::internal(e.to_string()))?
                .map_err(|e| e.context("opening threat intelligence"))?
        };
        let intel = Arc::new(intel);
        let auth = Arc::new(Authenticator::new(&cfg.auth, store.clone())?);
        let admission = Arc::new(Admission::new(&cfg.api, auth.clone()));
        let enabled: Vec<_> = store
            .all_rules()?
            .into_iter()
            .filter(|r| r.enabled)
            .collect();
        let catalog = SignatureCatalog::from_rules(&enabled);
        let bus = Arc::new(Bus::new());
        bus.register(crate::api::records::TAIL_CONSUMER);
        // The EVE file subscribes before ingest starts, so it misses nothing.
        let eve = if cfg.eve.enabled {
            Some((EveWriter::open(&cfg.eve)?, EveOutput::subscribe(&bus)))
        } else {
            None
        };
        // The correlator too (it resumes from storage first).
        let incidents = if cfg.incidents.enabled {
            let settings = cfg
                .incidents
                .settings()
                .map_err(|e| Error::config(e.to_string()))?;
            Some(Incidents::start(
                settings,
                cfg.incidents.queue,
                store.clone(),
                &bus,
            )?)
        } else {
            None
        };
        let syslog =
            if cfg.syslog.enabled {
                let settings = cfg
                    .syslog
                    .settings()
                    .map_err(|e| Error::config(e.to_string()))?;
                Some(SyslogOutput::start(settings, &bus).map_err(|e| {
                    Error::internal(format!("starting the syslog output thread: {e}"))
                })?)
            } else {
                None
            };
        let webhooks = Arc::new(Webhooks::start(
            cfg.webhook_settings()
                .map_err(|e| Error::config(e.to_string()))?,
            &bus,
            incidents.as_ref().map(|i| &i.shared.changes),
            store.clone(),
        )?);
        // Hits of the workers' `intel` records are stored; those of a feed with an alert sid
        // come back to ingest as alerts, through one more source.
        let (hit_alerts, hit_source) = crate::intel::hits::alert_queue(cfg.intel.alert_queue);
        let mut sources = sources;
        sources.push(Box::new(hit_source));
        let hits = HitsThread::start(
            intel.clone(),
            &bus,
            cfg.ingest.subscriber_buffer,
            hit_alerts,
        )
        .map_err(|e| Error::internal(format!("starting the intel hits thread: {e}")))?;
        // Protocol metadata is indexed for retro-hunts, and new indicators hunted for in it.
        let hunt = if cfg.intel.hunt.enabled {
            let index = IndexThread::start(
                store.clone(),
                &bus,
                cfg.intel.hunt.index_queue,
                intel.index_counters.clone(),
            )
            .map_err(|e| Error::internal(format!("starting the metadata indexer: {e}")))?;
            let hunter = HuntThread::start(intel.clone())
                .map_err(|e| Error::internal(format!("starting the hunt thread: {e}")))?;
            Some((index, hunter))
        } else {
            None
        };
        let mut ingest =
            Ingest::start(&cfg.ingest, sources, store.clone(), bus.clone(), catalog)
                .map_err(|e| Error::internal(format!("starting the ingest thread: {e}")))?;
        let eve = match eve.map(|(w, sub)| EveOutput::start(w, sub, ingest.shared.clone())) {
            Some(Ok(o)) => Some(o),
            Some(Err(e)) => {
                ingest.stop();
                return Err(Error::internal(format!(
                    "starting the EVE output thread: {e}"
                )));
            }
            None => None,
        };
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let evidence = if cfg.evidence.enabled {
            let (dir, st) = (cfg.evidence_dir(), store.clone());
            let opened = tokio::task::spawn_blocking(move || Evidence::open(&dir, st))
                .await
                .map_err(|e| Error::internal(e.to_string()))
                .and_then(|r| r);
            match opened {
                Ok(e) => Some(Arc::new(e)),
                Err(e) => {
                    ingest.stop();
                    return Err(e.context("opening the evidence store"));
                }
            }
        } else {
            None
        };
        let playbooks = match &incidents {
            Some(i) => {
                let assets = cfg
                    .incidents
                    .settings()
                    .map_err(|e| Error::config(e.to_string()))?
                    .assets;
                match Playbooks::start(
                    cfg.playbook_settings(),
                    i.shared.clone(),
                    assets,
                    blocks.clone(),
                    webhooks.clone(),
                    syslog.as_ref().and_then(SyslogOutput::notifier),
                    evidence.clone(),
                ) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        ingest.stop();
                        return Err(e.context("loading the playbooks"));
                    }
                }
            }
            None => None,
        };
        let ctx = Arc::new(ApiContext {
            store: store.clone(),
            auth,
            admission,
            appliance,
            compiler,
            ingest: ingest.shared.clone(),
            events: bus,
            incidents: incidents.as_ref().map(|i| i.shared.clone()),
            syslog: syslog.as_ref().map(|s| s.counters.clone()),
            webhooks,
            playbooks: playbooks.as_ref().map(|p| p.shared.clone()),
            evidence,
            subscriber_buffer: cfg.ingest.subscriber_buffer,
            config: cfg.api.clone(),
            started: Instant::now(),
            counters: ApiCounters::default(),
            blocks: blocks.clone(),
            intel: intel.clone(),
            reload_lock: tokio::sync::Mutex::new(()),
            shutdown,
            watchdog: cfg
                .watchdog
                .map(|t| Arc::new(crate::health::Watchdog::new(t))),
            console: Arc::default(),
            reports: Arc::new(crate::reports::Reports::new(
                store.clone(),
                crate::reports::Settings::from_config(&cfg.reports)
                    .map_err(|e| Error::config(e.to_string()))?,
                crate::reports::Context {
                    max_bytes: cfg.storage.max_bytes,
                    max_age_secs: cfg.storage.max_age_secs,
                },
            )),
        });
        let expiry = Duration::from_millis(cfg.blocklist.expiry_check_ms);

        let mut tasks = Vec::new();
        let (grpc_addr, health) = Self::serve_grpc(&cfg, &ctx, &mut tasks).await?;
        if let Some(wd) = &ctx.watchdog {
            tasks.push(crate::health::spawn_watchdog(
                wd.clone(),
                ctx.appliance.clone(),
                health,
                ctx.shutdown.subscribe(),
            ));
        }
        let metrics_addr = Self::serve_metrics(&cfg, &ctx, &mut tasks).await?;
        let console_addr = match &cfg.console {
            Some(c) if c.enabled => Some(crate::web::serve(&cfg, c, &ctx, &mut tasks).await?),
            _ => None,
        };
        Self::spawn_retention(&cfg, &store, &ctx, &mut tasks);
        if let (Some(ev), Some(c)) = (&ctx.evidence, ctx.appliance.captures()) {
            let idle = Duration::from_secs(cfg.evidence.capture_idle_secs);
            let sd = ctx.shutdown.subscribe();
            let st = store.clone();
            tasks.push(crate::evidence::capture::spawn_flusher(
                c,
                ev.clone(),
                st,
                idle,
                sd,
            ));
        }
        Self::spawn_refusal_summary(&cfg, &ctx, &mut tasks);
        tasks.push(crate::reports::sampler::spawn(
            store.clone(),
            ctx.appliance.clone(),
            ctx.reports.settings.sample_every,
            Duration::from_secs(cfg.storage.max_age_secs),
            ctx.shutdown.subscribe(),
        ));
        tasks.extend(crate::reports::schedule::spawn(
            ctx.reports.clone(),
            ctx.shutdown.subscribe(),
        ));
        tasks.push(BlockList::spawn_expiry(
            blocks,
            expiry,
            ctx.shutdown.subscribe(),
        ));
        tasks.extend(crate::intel::poll::spawn(&intel, &ctx.shutdown));
        tasks.extend(crate::intel::sharing::spawn(&intel, &ctx.shutdown));
        tasks.push(Intel::spawn_expiry(
            intel,
            Duration::from_millis(cfg.intel.expiry_check_ms),
            ctx.shutdown.subscribe(),
        ));
        if let Err(e) = crate::store::watch_health(&store) {
            tracing::warn!(error = %e, "could not start the storage health watch");
        }
        tracing::info!(%grpc_addr, ?metrics_addr, storage = %store.path().display(), "control plane started");
        Ok(ControlPlane {
            ctx,
            grpc_addr,
            metrics_addr,
            console_addr,
            ingest,
            eve,
            incidents,
            syslog,
            playbooks,
            hits: Some(hits),
            hunt,
            tasks,
        })
    }

    async fn open_store(cfg: &ControlPlaneConfig) -> Result<Arc<Store>> {
        let path = cfg.storage.path.clone();
        let sopts = StoreOptions {
            sync_writes: cfg.storage.sync_writes,
            min_free_bytes: cfg.storage.min_free_bytes,
        };
        let store = tokio::task::spawn_blocking(move || Store::open(&path, &sopts))
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
        Ok(Arc::new(store))
    }

    /// Binds `api.listen` and serves the gRPC services (with TLS when configured, health and
    /// reflection) until the shutdown flag flips; returns the address and the health
    /// service's reporter.
    async fn serve_grpc(
        cfg: &ControlPlaneConfig,
        ctx: &Arc<ApiContext>,
        tasks: &mut Vec<JoinHandle<()>>,
    ) -> Result<(SocketAddr, tonic_health::server::HealthReporter)> {
        let listener = tokio::net::TcpListener::bind(cfg.api.listen)
            .await
            .map_err(|e| {
                Error::new(
                    Kind::Unavailable,
                    format!("api.listen {}: {e}", cfg.api.listen),
                )
            })?;
        let grpc_addr = listener
            .local_addr()
            .map_err(|e| Error::internal(e.to_string()))?;
        let mut builder = Server::builder();
        if let Some(tls) = &cfg.api.tls {
            let cert = read_pem("api.tls.cert", &tls.cert)?;
            let key = read_pem("api.tls.key", &tls.key)?;
            let mut t = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
            if let Some(ca) = &tls.client_ca {
                // Optional: token callers need no certificate; a presented one must verify.
                t = t
                    .client_ca_root(Certificate::from_pem(read_pem("api.tls.client_ca", ca)?))
                    .client_auth_optional(true);
            }
            builder = builder
                .tls_config(t)
                .map_err(|e| Error::config(format!("api.tls: {e}")))?;
        }
        let (health, health_svc) = tonic_health::server::health_reporter();
        health
            .set_serving::<proto::system_service_server::SystemServiceServer<SystemApi>>()
            .await;
        health
            .set_serving::<proto::rules_service_server::RulesServiceServer<RulesApi>>()
            .await;
        health
            .set_serving::<proto::alerts_service_server::AlertsServiceServer<AlertsApi>>()
            .await;
        health
            .set_serving::<proto::flows_service_server::FlowsServiceServer<FlowsApi>>()
            .await;
        health
            .set_serving::<proto::audit_service_server::AuditServiceServer<AuditApi>>()
            .await;
        health
            .set_serving::<proto::block_service_server::BlockServiceServer<BlocksApi>>()
            .await;
        health
            .set_serving::<proto::incident_service_server::IncidentServiceServer<IncidentsApi>>()
            .await;
        health
            .set_serving::<proto::output_service_server::OutputServiceServer<OutputsApi>>()
            .await;
        health
            .set_serving::<proto::playbook_service_server::PlaybookServiceServer<PlaybooksApi>>()
            .await;
        health
            .set_serving::<proto::evidence_service_server::EvidenceServiceServer<EvidenceApi>>()
            .await;
        health
            .set_serving::<proto::intel_service_server::IntelServiceServer<IntelApi>>()
            .await;
        health
            .set_serving::<proto::report_service_server::ReportServiceServer<ReportsApi>>()
            .await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| Error::internal(format!("reflection: {e}")))?;
        // Decoding limits per service back up the per-method and per-role ones of the guard.
        // Health and reflection stay open to unknown callers (probes, `grpcurl list`), with
        // the small limit.
        let small = cfg.api.max_request_bytes;
        let router = builder
            .add_service(health_svc.max_decoding_message_size(small))
            .add_service(reflection.max_decoding_message_size(small))
            .add_service(Guarded::new(
                proto::system_service_server::SystemServiceServer::new(SystemApi {
                    ctx: ctx.clone(),
                })
                .max_decoding_message_size(small),
                ctx.admission.clone(),
            ))
            .add_service(Guarded::new(
                proto::rules_service_server::RulesServiceServer::new(RulesApi { ctx: ctx.clone() })
                    .max_decoding_message_size(cfg.api.max_rules_bytes + RULES_REQUEST_SLACK),
                ctx.admission.clone(),
            ))
            .add_service(Guarded::new(
                proto::alerts_service_server::AlertsServiceServer::new(AlertsApi {
                    ctx: ctx.clone(),
                })
                .max_decoding_message_size(small),
                ctx.admission.clone(),
            ))
            .add_service(Guarded::new(
                proto::flows_service_server::FlowsServiceServer::new(FlowsApi { ctx: ctx.clone() })
                    .max_decoding_message_size(small),
                ctx.admission.clone(),
            ))
            .add_service(Guarded::new(
                proto::audit_service_server::AuditServiceServer::new(AuditApi { ctx: ctx.clone() })
                    .max_decoding_message_size(small),
                ctx.admission.clone(),
            ))
            .add_service(Guarded::new(
                proto::block_service_server::BlockServiceServer::new(BlocksApi {
                    ctx: ctx.clone(),
                })
                .max_decoding_message_size(small),
                ctx.admission.clone(),
            ))
            .add_service(Guarded::new(
                proto::incident_service_server::IncidentServiceServer::new(IncidentsApi {
                    ctx: ctx.clone(),
                })
                .max_decoding_message_size(small),
                ctx.admission.clone(),
            ))
            .add_service(Guarded::new(
                proto::output_service_server::OutputServiceServer::new(OutputsApi {
                    ctx: ctx.clone(),
                })
                .max_decoding_message_size(small),
                ctx.admission.clone(),
            ))
            .add_service(Guarded::new(
                proto::playbook_service_server::PlaybookServiceServer::new(PlaybooksApi {
                    ctx: ctx.clone(),
                })
                .max_decoding_message_size(small),
                ctx.admission.clone(),
            ))
            .add_service(Guarded::new(
                proto::evidence_service_server::EvidenceServiceServer::new(EvidenceApi {
                    ctx: ctx.clone(),
                })
                .max_decoding_message_size(small),
                ctx.admission.clone(),
            ))
            .add_service(Guarded::new(
                proto::intel_service_server::IntelServiceServer::new(IntelApi { ctx: ctx.clone() })
                    .max_decoding_message_size(cfg.api.max_rules_bytes + RULES_REQUEST_SLACK),
                ctx.admission.clone(),
            ))
            .add_service(Guarded::new(
                proto::report_service_server::ReportServiceServer::new(ReportsApi {
                    ctx: ctx.clone(),
                })
                .max_decoding_message_size(small),
                ctx.admission.clone(),
            ));
        let mut sd = ctx.shutdown.subscribe();
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        tasks.push(tokio::spawn(async move {
            let res = router
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = sd.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = res {
                tracing::error!(error = %e, "gRPC server stopped");
            }
        }));

        Ok((grpc_addr, health))
    }

    /// Serves `/metrics` when enabled; returns its address.
    async fn serve_metrics(
        cfg: &ControlPlaneConfig,
        ctx: &Arc<ApiContext>,
        tasks: &mut Vec<JoinHandle<()>>,
    ) -> Result<Option<SocketAddr>> {
        Ok(if cfg.metrics.enabled {
            let l = tokio::net::TcpListener::bind(cfg.metrics.listen)
                .await
                .map_err(|e| {
                    Error::new(
                        Kind::Unavailable,
                        format!("metrics.listen {}: {e}", cfg.metrics.listen),
                    )
                })?;
            let addr = l.local_addr().map_err(|e| Error::internal(e.to_string()))?;
            let c = ctx.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = crate::metrics::serve(l, c).await {
                    tracing::error!(error = %e, "metrics server stopped");
                }
            }));
            Some(addr)
        } else {
            None
        })
    }

    /// Runs retention every `storage.retention_interval_secs` when a limit is set: alerts,
    /// flows and closed incidents by packet time and size, the audit log by wall-clock age
    /// and count.
    fn spawn_retention(
        cfg: &ControlPlaneConfig,
        store: &Arc<Store>,
        ctx: &Arc<ApiContext>,
        tasks: &mut Vec<JoinHandle<()>>,
    ) {
        let max_age_ns = cfg.storage.max_age_secs.saturating_mul(1_000_000_000);
        let max_bytes = cfg.storage.max_bytes;
        let audit_age_ns = cfg.storage.audit_max_age_secs.saturating_mul(1_000_000_000);
        let audit_records = cfg.storage.audit_max_records;
        if max_age_ns > 0 || max_bytes > 0 || audit_age_ns > 0 || audit_records > 0 {
            let every = Duration::from_secs(cfg.storage.retention_interval_secs);
            let st = store.clone();
            let incidents = ctx.incidents.clone();
            let sd = ctx.shutdown.subscribe();
            tasks.push(crate::api::spawn_periodic(every, sd, move || {
                let audit = st.enforce_audit_retention(now_nanos(), audit_age_ns, audit_records);
                if let Err(e) = &audit {
                    tracing::error!(error = %e, "audit retention pass failed");
                }
                if max_age_ns == 0 && max_bytes == 0 {
                    return;
                }
                let rep = match st.enforce_retention(max_age_ns, max_bytes, RETENTION_BUDGET) {
                    Ok(rep) => rep,
                    Err(e) => {
                        tracing::error!(error = %e, "retention pass failed");
                        return;
                    }
                };
                if rep.alerts_deleted > 0 {
                    tracing::info!(
                        deleted = rep.alerts_deleted,
                        size = rep.size_bytes,
                        "retention"
                    );
                }
                let Some(inc) = &incidents else { return };
                match inc.enforce_retention(rep.horizon_ns, RETENTION_BUDGET, rep.trimmed) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(incidents = n, "retention of closed incidents"),
                    Err(e) => tracing::error!(error = %e, "incident retention pass failed"),
                }
            }));
        }
    }

    /// Writes the summary of refused unauthenticated calls every `api.refusal_summary_secs`
    /// (and once more at shutdown).
    fn spawn_refusal_summary(
        cfg: &ControlPlaneConfig,
        ctx: &Arc<ApiContext>,
        tasks: &mut Vec<JoinHandle<()>>,
    ) {
        let every = Duration::from_secs(cfg.api.refusal_summary_secs);
        let auth = ctx.auth.clone();
        let mut sd = ctx.shutdown.subscribe();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = crate::api::until_shutdown(&mut sd) => break,
                    _ = tick.tick() => {}
                }
                let a = auth.clone();
                let _ = tokio::task::spawn_blocking(move || a.flush_refusals()).await;
            }
            let _ = tokio::task::spawn_blocking(move || auth.flush_refusals()).await;
        }));
    }

    /// Flips the shutdown flag (what the API's `Shutdown` does after stopping the workers).
    pub fn request_shutdown(&self) {
        let _ = self.ctx.shutdown.send(true);
    }

    /// Waits for the shutdown flag, then stops servers, drains ingest, lets every consumer of
    /// the event stream finish (the EVE file is complete and flushed) and flushes storage.
    pub async fn wait(mut self) {
        let mut sd = self.ctx.shutdown.subscribe();
        let _ = sd.wait_for(|s| *s).await;
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        let mut ingest = self.ingest;
        let mut eve = self.eve;
        let mut incidents = self.incidents;
        let syslog = self.syslog;
        let mut hits = self.hits;
        let mut hunt = self.hunt;
        let store = self.ctx.store.clone();
        let events = self.ctx.events.clone();
        let _ = tokio::task::spawn_blocking(move || {
            ingest.stop();
            events.close();
            if let Some(e) = eve.as_mut() {
                e.join();
            }
            if let Some(i) = incidents.as_mut() {
                i.join();
            }
            if let Some(h) = hits.as_mut() {
                h.join();
            }
            if let Some((index, hunter)) = hunt.as_mut() {
                index.join();
                if let Some(h) = hunter.as_mut() {
                    h.join();
                }
            }
        })
        .await;
        // The correlator has stopped: playbooks act on its last changes, then syslog and
        // webhooks send what they queued.
        if let Some(p) = self.playbooks.take() {
            p.stop(PLAYBOOK_GRACE).await;
        }
        if let Some(mut s) = syslog {
            let _ = tokio::task::spawn_blocking(move || s.join()).await;
        }
        self.ctx.webhooks.join(WEBHOOK_GRACE).await;
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = store.flush() {
                tracing::error!(error = %e, "flushing storage at shutdown");
            }
        })
        .await;
    }

    /// Requests shutdown and waits for it.
    pub async fn shutdown(self) {
        self.request_shutdown();
        self.wait().await;
    }
}
