//! Health of the appliance's parts, as `osprey ctl status`, the API's `Status` and
//! `/metrics` report it: each component is `ok` or `degraded`, with the reason and since when.
//!
//! A component is degraded while records are being lost or storage is not doing its job
//! (corruption found, background errors, writes refused or stalled), or while a worker makes
//! no progress ([`Watchdog`], component `workers`). The data plane keeps running in every
//! case; the point is that nothing fails silently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::seams::Heartbeat;

/// Whether a component does its job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Ok,
    /// Working with a loss or a fault that needs an operator.
    Degraded,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Degraded => "degraded",
        }
    }
}

/// The health of one component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentHealth {
    /// `storage`, `alerts`, ...
    pub component: &'static str,
    pub state: State,
    /// What is wrong and what to do; empty when ok.
    pub reason: String,
    /// Wall-clock time (ns since the epoch) the current state began; 0 when ok.
    pub since_nanos: u64,
}

impl ComponentHealth {
    pub fn ok(component: &'static str) -> Self {
        ComponentHealth {
            component,
            state: State::Ok,
            reason: String::new(),
            since_nanos: 0,
        }
    }

    pub fn degraded(component: &'static str, reason: String, since_nanos: u64) -> Self {
        ComponentHealth {
            component,
            state: State::Degraded,
            reason,
            since_nanos,
        }
    }
}

/// Wall-clock nanoseconds since the Unix epoch.
pub fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// When a condition was first seen (0 = never): set once, by whoever sees it first.
#[derive(Debug, Default)]
pub struct Since(AtomicU64);

impl Since {
    /// Records now as the start, unless a start is already recorded; returns the start.
    pub fn mark(&self) -> u64 {
        let now = now_nanos().max(1);
        match self
            .0
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => now,
            Err(t) => t,
        }
    }

    /// Forgets the start (the condition cleared).
    pub fn clear(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    /// The recorded start, 0 when none.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The stall watchdog: a worker whose heartbeat has not advanced for `timeout` while its
/// poll loop runs is stalled (it polls even when idle, so only a stuck worker stands still).
/// Sans-I/O: [`Watchdog::observe`] takes the heartbeats and the time and returns what
/// changed; the caller logs each change once.
#[derive(Debug)]
pub struct Watchdog {
    timeout: Duration,
    watched: Mutex<Vec<Watched>>,
    stalls: AtomicU64,
}

#[derive(Debug)]
struct Watched {
    worker: String,
    beats: u64,
    /// When `beats` last changed (or the worker was first seen).
    changed: Instant,
    /// Wall-clock start of the current stall (ns since the epoch); `None` while healthy.
    stalled_since: Option<u64>,
}

/// A worker's change of state, seen by [`Watchdog::observe`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StallChange {
    /// No heartbeat for `silent`.
    Stalled { worker: String, silent: Duration },
    /// Beating again after `silent` without a heartbeat.
    Recovered { worker: String, silent: Duration },
}

/// The component the watchdog reports as.
pub const WORKERS: &str = "workers";

impl Watchdog {
    pub fn new(timeout: Duration) -> Watchdog {
        Watchdog {
            timeout,
            watched: Mutex::new(Vec::new()),
            stalls: AtomicU64::new(0),
        }
    }

    /// How long a worker may go without a heartbeat.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Watched>> {
        self.watched.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the workers' heartbeats at `now`; returns the workers that stalled or recovered
    /// since the last call.
    pub fn observe(&self, beats: &[Heartbeat], now: Instant) -> Vec<StallChange> {
        let mut watched = self.lock();
        let mut changes = Vec::new();
        for b in beats {
            let i = match watched.iter().position(|w| w.worker == b.worker) {
                Some(i) => i,
                None => {
                    watched.push(Watched {
                        worker: b.worker.clone(),
                        beats: b.beats,
                        changed: now,
                        stalled_since: None,
                    });
                    continue;
                }
            };
            let w = &mut watched[i];
            let silent = now.saturating_duration_since(w.changed);
            if b.beats != w.beats || !b.running {
                if w.stalled_since.take().is_some() {
                    changes.push(StallChange::Recovered {
                        worker: w.worker.clone(),
                        silent,
                    });
                }
                w.beats = b.beats;
                w.changed = now;
            } else if silent >= self.timeout && w.stalled_since.is_none() {
                let wall = now_nanos().saturating_sub(silent.as_nanos() as u64);
                w.stalled_since = Some(wall.max(1));
                self.stalls.fetch_add(1, Ordering::Relaxed);
                changes.push(StallChange::Stalled {
                    worker: w.worker.clone(),
                    silent,
                });
            }
        }
        changes
    }

    /// `workers`: degraded while a worker is stalled, naming each and how long it has been
    /// silent.
    pub fn health(&self) -> ComponentHealth {
        let watched = self.lock();
        let now = now_nanos();
        let stalled: Vec<(&str, u64)> = watched
            .iter()
            .filter_map(|w| w.stalled_since.map(|t| (w.worker.as_str(), t)))
            .collect();
        let Some(since) = stalled.iter().map(|(_, t)| *t).min() else {
            return ComponentHealth::ok(WORKERS);
        };
        let list: Vec<String> = stalled
            .iter()
            .map(|(w, t)| {
                let secs = now.saturating_sub(*t) as f64 / 1e9;
                format!("{w} made no progress for {secs:.1} s")
            })
            .collect();
        ComponentHealth::degraded(
            WORKERS,
            format!(
                "{} (watchdog {:?}): its packets wait uninspected; a worker stuck for long needs a restart",
                list.join(", "),
                self.timeout
            ),
            since,
        )
    }

    /// Each watched worker and whether it is stalled now.
    pub fn stalled(&self) -> Vec<(String, bool)> {
        self.lock()
            .iter()
            .map(|w| (w.worker.clone(), w.stalled_since.is_some()))
            .collect()
    }

    /// Stalls seen so far.
    pub fn stalls(&self) -> u64 {
        self.stalls.load(Ordering::Relaxed)
    }
}

/// Runs `wd` every quarter of its timeout until shutdown: each stall and recovery is logged
/// once, and the gRPC health service's overall status (`""`) is `NOT_SERVING` while a worker
/// is stalled.
pub fn spawn_watchdog(
    wd: std::sync::Arc<Watchdog>,
    appliance: std::sync::Arc<dyn crate::seams::Appliance>,
    reporter: tonic_health::server::HealthReporter,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    use tonic_health::ServingStatus;
    let every = (wd.timeout() / 4).max(Duration::from_millis(50));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let mut serving = true;
        loop {
            tokio::select! {
                _ = crate::api::until_shutdown(&mut shutdown) => break,
                _ = tick.tick() => {}
            }
            for c in wd.observe(&appliance.heartbeats(), Instant::now()) {
                match c {
                    StallChange::Stalled { worker, silent } => {
                        tracing::error!(%worker, ?silent, "worker stalled: no progress within the watchdog's time")
                    }
                    StallChange::Recovered { worker, silent } => {
                        tracing::warn!(%worker, ?silent, "worker progressing again after a stall")
                    }
                }
            }
            let ok = wd.stalled().iter().all(|(_, s)| !s);
            if ok != serving {
                serving = ok;
                let st = if ok {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                };
                reporter.set_service_status("", st).await;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_keeps_the_first_time_until_cleared() {
        let s = Since::default();
        assert_eq!(s.get(), 0);
        let t = s.mark();
        assert!(t > 0);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(s.mark(), t);
        s.clear();
        assert_eq!(s.get(), 0);
        assert!(s.mark() > t);
    }

    fn beat(worker: &str, beats: u64) -> Heartbeat {
        Heartbeat {
            worker: worker.into(),
            running: true,
            beats,
        }
    }

    /// A worker whose heartbeat stands still for the timeout is stalled once, reported by name
    /// and cleared when it beats again; a worker that beats, or whose loop ended, never is.
    #[test]
    fn watchdog_fires_once_per_stall_and_clears() {
        let wd = Watchdog::new(Duration::from_secs(2));
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert!(wd
            .observe(&[beat("w0", 1), beat("w1", 1)], at(0))
            .is_empty());
        assert!(wd
            .observe(&[beat("w0", 1), beat("w1", 9)], at(1500))
            .is_empty());
        assert_eq!(wd.health().state, State::Ok);
        let c = wd.observe(&[beat("w0", 1), beat("w1", 20)], at(2100));
        assert_eq!(
            c,
            [StallChange::Stalled {
                worker: "w0".into(),
                silent: Duration::from_millis(2100)
            }]
        );
        // Reported once, not at every look.
        assert!(wd
            .observe(&[beat("w0", 1), beat("w1", 30)], at(3000))
            .is_empty());
        let h = wd.health();
        assert_eq!((h.component, h.state), (WORKERS, State::Degraded));
        assert!(h.reason.contains("w0 made no progress for"), "{}", h.reason);
        assert!(!h.reason.contains("w1"), "{}", h.reason);
        assert_eq!(wd.stalled(), [("w0".into(), true), ("w1".into(), false)]);
        assert_eq!(wd.stalls(), 1);
        let c = wd.observe(&[beat("w0", 2), beat("w1", 40)], at(4000));
        assert_eq!(
            c,
            [StallChange::Recovered {
                worker: "w0".into(),
                silent: Duration::from_millis(4000)
            }]
        );
        assert_eq!(wd.health().state, State::Ok);
        // A loop that returned (a finished replay) is not stalled.
        let done = Heartbeat {
            running: false,
            ..beat("w0", 2)
        };
        assert!(wd.observe(std::slice::from_ref(&done), at(9000)).is_empty());
        assert!(wd.observe(&[done], at(20000)).is_empty());
        assert_eq!(wd.stalls(), 1);
    }

    /// A data plane whose only worker's heartbeat moves while `beating` is set.
    struct OneWorker {
        beats: AtomicU64,
        beating: std::sync::atomic::AtomicBool,
    }

    impl crate::seams::Appliance for OneWorker {
        fn status(&self) -> crate::seams::ApplianceStatus {
            Default::default()
        }
        fn stats(&self) -> crate::seams::StatsSnapshot {
            Default::default()
        }
        fn shutdown(&self) {}
        fn heartbeats(&self) -> Vec<Heartbeat> {
            if self.beating.load(Ordering::Relaxed) {
                self.beats.fetch_add(1, Ordering::Relaxed);
            }
            vec![beat("w0", self.beats.load(Ordering::Relaxed))]
        }
    }

    /// The gRPC health service's overall status follows the watchdog: `NOT_SERVING` while the
    /// worker is stalled, `SERVING` again once it beats.
    #[tokio::test]
    async fn the_health_service_is_not_serving_while_a_worker_is_stalled() {
        use std::sync::Arc;
        use tonic_health::pb::health_server::Health;
        use tonic_health::pb::{health_check_response::ServingStatus, HealthCheckRequest};
        let (reporter, _) = tonic_health::server::health_reporter();
        let svc = tonic_health::server::HealthService::from_health_reporter(reporter.clone());
        let app = Arc::new(OneWorker {
            beats: AtomicU64::new(0),
            beating: std::sync::atomic::AtomicBool::new(false),
        });
        let wd = Arc::new(Watchdog::new(Duration::from_millis(200)));
        let (stop, sd) = tokio::sync::watch::channel(false);
        let task = spawn_watchdog(wd.clone(), app.clone(), reporter, sd);
        let overall = || async {
            let r = svc
                .check(tonic::Request::new(HealthCheckRequest {
                    service: String::new(),
                }))
                .await
                .unwrap();
            r.into_inner().status()
        };
        let wait_for = |want: ServingStatus| {
            let overall = &overall;
            async move {
                for _ in 0..100 {
                    if overall().await == want {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                panic!("health never became {want:?}");
            }
        };
        wait_for(ServingStatus::NotServing).await;
        assert_eq!(wd.stalls(), 1);
        app.beating.store(true, Ordering::Relaxed);
        wait_for(ServingStatus::Serving).await;
        assert_eq!(wd.health().state, State::Ok);
        stop.send(true).unwrap();
        task.await.unwrap();
    }
}
