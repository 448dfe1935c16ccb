//! Playbooks: declarative responses to incidents.
//!
//! ```text
//!  incident changes (broadcast) ─► engine task ─ condition ─► actions in order ─► records
//!                                    │                         block · notify · raise_priority
//!                                    │                         run · acquire_memory · playbook
//!                                    │                         capture_evidence
//!                                    └─ playbooks file, polled: validated, swapped
//!  records ─► IncidentsShared::update (the incident's `responses`) ─► audit log
//! ```
//!
//! - [`spec`]: the TOML (`[[playbooks]]` in the config and a `playbooks_file`), validated:
//!   unknown keys (with their line), unknown actions, unknown webhooks and chains with a
//!   cycle are refused.
//! - [`condition`]: the condition on an incident; [`actions`]: doing one action;
//!   [`record`]: what is recorded, and the per-action rate limits.
//!
//! A playbook acts at most once per incident: the first change of an incident that meets its
//! condition fires it, and the records on the incident say it has. A dry-run playbook (or
//! `[response] dry_run`) records what it would do and does nothing. Blocks are added through
//! the block list with origin `playbook` and a time to live; [`PlaybooksShared::rollback`]
//! removes those of an incident. The engine reads incident changes with its own lagging
//! receiver: changes it misses are counted (`playbooks.lagged`), ingest never waits.

pub mod actions;
pub mod condition;
pub mod record;
pub mod spec;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;
use tokio::task::JoinHandle;

pub use record::{ActionRecord, Outcome};
pub use spec::{Playbook, PlaybookConfig};

use crate::error::{Error, Kind, Result};
use crate::incidents::{Assets, Incident, IncidentsShared};
use crate::model::AuditRecord;
use actions::Executor;
use record::RateLimits;
use spec::Action;

/// The action name of a rollback's record.
pub const ROLLBACK: &str = "rollback";

/// The audit method of playbook actions (`<this>.<action>`).
pub const AUDIT_METHOD: &str = "playbook";

/// Counters (`playbooks.*`).
#[derive(Debug, Default)]
pub struct Counters {
    /// Playbooks fired on an incident.
    pub fired: AtomicU64,
    pub actions_ok: AtomicU64,
    pub actions_failed: AtomicU64,
    pub dry_run: AtomicU64,
    pub rate_limited: AtomicU64,
    /// Incident changes missed because the engine lagged behind.
    pub lagged: AtomicU64,
    /// Records that could not be written on their incident.
    pub record_errors: AtomicU64,
    pub reloads: AtomicU64,
    pub reload_errors: AtomicU64,
}

/// What the engine is told at start.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// `[[playbooks]]` of the config file.
    pub inline: Vec<PlaybookConfig>,
    /// `[response] playbooks_file`, polled for changes.
    pub file: Option<PathBuf>,
    pub reload_interval: Duration,
    /// Every playbook in dry-run.
    pub dry_run: bool,
    /// Names of the configured webhooks (notify targets).
    pub webhooks: Vec<String>,
    /// Whether `[syslog]` runs ([`SYSLOG_TARGET`] is a notify target then).
    pub syslog: bool,
}

/// The notify target that names the `[syslog]` output.
pub const SYSLOG_TARGET: &str = "syslog";

/// Loads the inline playbooks and the file's, validated together.
pub fn load(s: &Settings) -> std::result::Result<Vec<Playbook>, String> {
    let mut all = s.inline.clone();
    if let Some(f) = &s.file {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        all.extend(spec::parse_file(&text).map_err(|e| format!("{}: {e}", f.display()))?);
    }
    let mut targets = s.webhooks.clone();
    if s.syslog {
        targets.push(SYSLOG_TARGET.to_owned());
    }
    spec::validate(&all, &targets).map_err(|e| e.to_string())
}

/// What the engine task and the API share.
pub struct PlaybooksShared {
    current: RwLock<Arc<Vec<Playbook>>>,
    settings: Settings,
    /// The last reload's error, if it failed (the previous playbooks stay).
    pub last_error: Mutex<Option<String>>,
    pub counters: Counters,
    incidents: Arc<IncidentsShared>,
    assets: Assets,
    exec: Executor,
    limits: Mutex<RateLimits>,
}

impl std::fmt::Debug for PlaybooksShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaybooksShared").finish_non_exhaustive()
    }
}

/// The outcome of evaluating one playbook on one incident.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// What held, or the first clause that did not.
    pub condition: std::result::Result<Vec<String>, String>,
    pub records: Vec<ActionRecord>,
}

impl PlaybooksShared {
    /// The playbooks in force.
    pub fn current(&self) -> Arc<Vec<Playbook>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// True when every playbook runs in dry-run (`[response] dry_run`).
    pub fn dry_run(&self) -> bool {
        self.settings.dry_run
    }

    /// Counters by name.
    pub fn counter_values(&self) -> Vec<(String, u64)> {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("playbooks.loaded".into(), self.current().len() as u64),
            ("playbooks.fired".into(), l(&c.fired)),
            ("playbooks.actions_ok".into(), l(&c.actions_ok)),
            ("playbooks.actions_failed".into(), l(&c.actions_failed)),
            ("playbooks.dry_run".into(), l(&c.dry_run)),
            ("playbooks.rate_limited".into(), l(&c.rate_limited)),
            ("playbooks.lagged".into(), l(&c.lagged)),
            ("playbooks.record_errors".into(), l(&c.record_errors)),
            ("playbooks.reloads".into(), l(&c.reloads)),
            ("playbooks.reload_errors".into(), l(&c.reload_errors)),
        ]
    }

    /// Reloads the playbooks; on error keeps the ones in force and says why.
    pub fn reload(&self) -> std::result::Result<usize, String> {
        match load(&self.settings) {
            Ok(list) => {
                let n = list.len();
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(list);
                self.limits
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                self.counters.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(playbooks = n, "playbooks reloaded");
                Ok(n)
            }
            Err(e) => {
                self.counters.reload_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "playbooks not reloaded; the previous ones stay");
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
                Err(e)
            }
        }
    }

    /// The stored incident `id`.
    async fn incident(&self, id: u64) -> Result<Incident> {
        let store = self.incidents.store.clone();
        crate::api::blocking(move || {
            crate::incidents::persist::get(&store, id)?
                .ok_or_else(|| Error::not_found(format!("incident {id}")))
        })
        .await
    }

    /// Evaluates playbook `name` on incident `id` in dry-run: nothing is done or recorded.
    pub async fn test(&self, name: &str, id: u64) -> Result<Evaluation> {
        let set = self.current();
        let pb = set
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::not_found(format!("playbook {name:?}")))?;
        let inc = self.incident(id).await?;
        let condition = pb.when.evaluate(&inc, &self.assets);
        let mut records = Vec::new();
        if condition.is_ok() {
            let (r, _) = self.run_steps(&set, pb, &inc, true, false).await;
            records = r;
        }
        Ok(Evaluation { condition, records })
    }

    /// Fires every enabled playbook whose condition `inc` meets and that has not acted on
    /// it yet.
    async fn on_change(&self, inc: &Incident) {
        if inc.state.is_closed() {
            return;
        }
        let set = self.current();
        for pb in set.iter().filter(|p| p.enabled) {
            if inc.responses.iter().any(|r| r.playbook == pb.name)
                || pb.when.evaluate(inc, &self.assets).is_err()
            {
                continue;
            }
            // The change may be older than the incident's last update.
            let Ok(latest) = self.incident(inc.id).await else {
                continue;
            };
            if latest.responses.iter().any(|r| r.playbook == pb.name) {
                continue;
            }
            self.counters.fired.fetch_add(1, Ordering::Relaxed);
            let dry = pb.dry_run || self.settings.dry_run;
            let (records, boost) = self.run_steps(&set, pb, &latest, dry, true).await;
            self.record(inc.id, records, boost).await;
        }
    }

    /// Runs `pb`'s steps (and those of the playbooks it chains) in order.
    async fn run_steps(
        &self,
        set: &[Playbook],
        pb: &Playbook,
        inc: &Incident,
        dry_run: bool,
        count: bool,
    ) -> (Vec<ActionRecord>, f64) {
        let mut records = Vec::new();
        let mut boost = 0.0;
        // Validation refused cycles, so the chain ends; the stack is its order.
        let mut stack: Vec<(&Playbook, usize)> = vec![(pb, 0)];
        while let Some((p, i)) = stack.pop() {
            let Some(step) = p.steps.get(i) else { continue };
            stack.push((p, i + 1));
            if let Some(max) = step.max_per_hour.filter(|_| !dry_run) {
                let now = crate::health::now_nanos();
                let admitted = self
                    .limits
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .admit(&p.name, i, max, now);
                if !admitted {
                    self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                    records.push(ActionRecord::new(
                        &p.name,
                        step.action.name(),
                        Outcome::RateLimited,
                        format!("over its limit of {max} per hour"),
                    ));
                    continue;
                }
            }
            let done = self.exec.act(p, &step.action, inc, dry_run).await;
            if count {
                let c = match done.record.outcome {
                    Outcome::Ok => &self.counters.actions_ok,
                    Outcome::DryRun => &self.counters.dry_run,
                    _ => &self.counters.actions_failed,
                };
                c.fetch_add(1, Ordering::Relaxed);
            }
            boost += done.boost;
            records.push(done.record);
            if let Action::Playbook { name } = &step.action {
                if let Some(next) = set.iter().find(|q| &q.name == name) {
                    stack.push((next, 0));
                }
            }
        }
        (records, boost)
    }

    /// Writes `records` on incident `id` (and `boost` into its score) and in the audit log.
    async fn record(&self, id: u64, records: Vec<ActionRecord>, boost: f64) {
        let incidents = self.incidents.clone();
        let recs = records.clone();
        let r = crate::api::blocking(move || {
            incidents.update(id, |inc| {
                append(inc, recs);
                inc.priority_boost += boost;
                Ok(())
            })
        })
        .await;
        if let Err(e) = r {
            self.counters.record_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(incident = id, error = %e, "playbook actions not recorded on the incident");
        }
        self.audit(id, &records).await;
    }

    async fn audit(&self, id: u64, records: &[ActionRecord]) {
        let store = self.incidents.store.clone();
        let rows: Vec<AuditRecord> = records
            .iter()
            .map(|r| AuditRecord {
                time_nanos: r.time_ns,
                who: format!("playbook:{}", r.playbook),
                role: "none".into(),
                method: format!("{AUDIT_METHOD}.{}", r.action),
                target: format!("incident {id}"),
                result: r.outcome.as_str().into(),
                detail: r.detail.clone(),
            })
            .collect();
        let res =
            crate::api::blocking(move || rows.iter().try_for_each(|r| store.append_audit(r))).await;
        if let Err(e) = res {
            self.counters.record_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(incident = id, error = %e, "playbook actions not audited");
        }
    }

    /// Removes the block-list entries playbooks added for incident `id` (by `who`), marks
    /// their records rolled back and records the rollback. Returns the ids removed.
    pub async fn rollback(&self, id: u64, who: &str) -> Result<Vec<u64>> {
        let inc = self.incident(id).await?;
        let pending: Vec<u64> = inc
            .responses
            .iter()
            .filter(|r| !r.rolled_back && r.action != ROLLBACK)
            .flat_map(|r| r.block_ids.iter().copied())
            .collect();
        if pending.is_empty() {
            return Err(Error::new(
                Kind::FailedPrecondition,
                format!("incident {id} has no playbook blocks to roll back"),
            ));
        }
        let list = self.exec.blocks.clone();
        let ids = pending.clone();
        let (removed, gone) = crate::api::blocking(move || {
            let (mut removed, mut gone) = (Vec::new(), Vec::new());
            for b in ids {
                match list.remove(b) {
                    Ok(_) => removed.push(b),
                    Err(e) if e.kind == Kind::NotFound => gone.push(b),
                    Err(e) => return Err(e),
                }
            }
            Ok((removed, gone))
        })
        .await?;
        let mut detail = format!("removed block-list entries {removed:?}");
        if !gone.is_empty() {
            detail.push_str(&format!(" ({gone:?} had expired or were removed already)"));
        }
        let mut rec = ActionRecord::new(who, ROLLBACK, Outcome::RolledBack, detail);
        rec.block_ids.clone_from(&removed);
        let incidents = self.incidents.clone();
        let r = rec.clone();
        crate::api::blocking(move || {
            incidents.update(id, |inc| {
                for x in &mut inc.responses {
                    if !x.block_ids.is_empty() && x.action != ROLLBACK {
                        x.rolled_back = true;
                    }
                }
                append(inc, vec![r]);
                Ok(())
            })
        })
        .await?;
        Ok(removed)
    }
}

/// Appends records to an incident's responses, within the cap (the newest beyond it are
/// dropped: the first responses are the ones that matter for a rollback).
fn append(inc: &mut Incident, records: Vec<ActionRecord>) {
    let room = crate::incidents::incident::MAX_RESPONSES.saturating_sub(inc.responses.len());
    inc.responses.extend(records.into_iter().take(room));
    inc.updated_ns = crate::health::now_nanos();
}

/// The running engine.
#[derive(Debug)]
pub struct Playbooks {
    pub shared: Arc<PlaybooksShared>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Playbooks {
    /// Validates and loads the playbooks (an error names the bad key or line) and starts
    /// the engine on `incidents`' changes, plus the file poller when a file is configured.
    pub fn start(
        settings: Settings,
        incidents: Arc<IncidentsShared>,
        assets: Assets,
        blocks: Arc<crate::blocks::BlockList>,
        webhooks: Arc<crate::outputs::webhook::Webhooks>,
        syslog: Option<crate::outputs::syslog::Notifier>,
        evidence: Option<Arc<crate::evidence::Evidence>>,
    ) -> Result<Playbooks> {
        let list = load(&settings).map_err(Error::config)?;
        let rx = incidents.changes.subscribe();
        let shared = Arc::new(PlaybooksShared {
            current: RwLock::new(Arc::new(list)),
            settings,
            last_error: Mutex::new(None),
            counters: Counters::default(),
            incidents,
            assets,
            exec: Executor {
                blocks,
                webhooks,
                syslog,
                evidence,
                http: reqwest::Client::new(),
            },
            limits: Mutex::new(RateLimits::default()),
        });
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut tasks = vec![tokio::spawn(run(shared.clone(), rx, stopped.clone()))];
        if shared.settings.file.is_some() {
            tasks.push(tokio::spawn(watch_file(shared.clone(), stopped)));
        }
        Ok(Playbooks {
            shared,
            stop,
            tasks,
        })
    }

    /// Acts on the incident changes still queued (call once the correlator has stopped),
    /// waiting up to `grace`, then stops.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        for t in self.tasks {
            let abort = t.abort_handle();
            if tokio::time::timeout_at(deadline, t).await.is_err() {
                abort.abort();
            }
        }
    }
}

async fn run(
    shared: Arc<PlaybooksShared>,
    mut rx: broadcast::Receiver<Arc<Incident>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut stopping = false;
    loop {
        let inc = if stopping {
            match rx.try_recv() {
                Ok(i) => Ok(i),
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    Err(broadcast::error::RecvError::Lagged(n))
                }
                Err(_) => break,
            }
        } else {
            tokio::select! {
                _ = crate::api::until_shutdown(&mut stop) => {
                    stopping = true;
                    continue;
                }
                r = rx.recv() => r,
            }
        };
        match inc {
            Ok(i) => shared.on_change(&i).await,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                shared.counters.lagged.fetch_add(n, Ordering::Relaxed);
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// Reloads when the playbooks file's modification time or length changes.
async fn watch_file(
    shared: Arc<PlaybooksShared>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let Some(path) = shared.settings.file.clone() else {
        return;
    };
    let stamp = |p: &std::path::Path| -> Option<(SystemTime, u64)> {
        let m = std::fs::metadata(p).ok()?;
        Some((m.modified().ok()?, m.len()))
    };
    let mut seen = stamp(&path);
    let mut tick = tokio::time::interval(shared.settings.reload_interval);
    loop {
        tokio::select! {
            _ = crate::api::until_shutdown(&mut shutdown) => break,
            _ = tick.tick() => {}
        }
        let now = stamp(&path);
        if now != seen {
            seen = now;
            let s = shared.clone();
            let _ = tokio::task::spawn_blocking(move || s.reload()).await;
        }
    }
}
