//! Ingest: the stage between the workers and everything else.
//!
//! Each worker is a [`RecordSource`] (the appliance's drains the data plane's export rings,
//! whose worker side only ever `try_push`es and counts overflow). One ingest thread (pinned to
//! a management core when configured) drains every source, completes alerts from the
//! [`SignatureCatalog`] of the active ruleset, writes them to the store in batches (ids are
//! assigned there), and only then publishes them on the live event stream
//! ([`crate::events`]), which feeds the EVE output and the API's live tail: anything a
//! consumer sees is already stored. When storage fails (full disk), alerts wait in a bounded
//! retry buffer; once that is full the thread stops draining alert rings, so the pressure
//! shows up as counted ring overflow at the workers instead of blocking them or losing what
//! was already acknowledged.
//!
//! Loss is loud: every alert lost is counted by cause ([`ALERT_DROP_CAUSES`]): dropped at a
//! worker's full alert ring while ingest was draining (`worker_ring`), while it held back
//! because storage refused writes and the retry buffer was full (`storage_refused`) or
//! because a write was stalled (`storage_stalled`), or still unstored when ingest stopped
//! (`shutdown`). [`IngestShared::health`] reports any of it as a degraded `alerts`
//! component. Alerts come first for storage: while an alert write is refused or stalled,
//! flow records wait in their own bounded retry buffer (dropping their oldest, counted).
//!
//! The RocksDB write itself (most of an alert's cost) runs on a second thread, `osprey-store`
//! (`writer.rs`), one batch at a time: while it writes a batch, the ingest thread drains and
//! enriches the next, and acknowledges the written batch once its outcome is back (or as soon
//! as the sources are idle). With two management cores the stage's throughput is the slower
//! of the two halves instead of their sum; on one core it costs a thread hand-off per batch.
//!
//! Sync policy: each round drains up to `batch_max` alerts per worker and writes them as one
//! RocksDB `WriteBatch` (alerts, their three index entries and the next id) with the WAL on.
//! An alert is acknowledged as stored (`ingest.alerts_stored`, visible to queries and
//! published to the stream) only after its batch's write returned, so every acknowledged alert
//! survives `kill -9` of the appliance; with `storage.sync_writes` the WAL is also fsynced per
//! batch and it survives power loss. Batching many alerts per write is what makes the WAL
//! affordable: one append per batch instead of one per alert.

mod catalog;
mod source;
mod writer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use catalog::{SignatureCatalog, SignatureInfo};
pub use source::{RecordSource, RingOverflow, StatsEvent};

use crate::config::IngestConfig;
use crate::events::{Bus, Event, Interest};
use crate::health::{ComponentHealth, Since};
use crate::model::{Alert, FlowRecord};
use crate::store::{Store, STALL_AFTER};
use writer::{AlertWriter, Collected, FlowWriter};

/// Causes of lost alerts, as counted in [`IngestCounters::alerts_dropped`] (and named
/// `ingest.alerts_dropped.<cause>` in the API, `osprey_alerts_dropped{cause=...}` in
/// Prometheus).
pub const ALERT_DROP_CAUSES: [&str; 4] = [
    "worker_ring",
    "storage_refused",
    "storage_stalled",
    "shutdown",
];
const WORKER_RING: usize = 0;
const STORAGE_REFUSED: usize = 1;
const STORAGE_STALLED: usize = 2;
const SHUTDOWN: usize = 3;

/// How long the ingest thread waits for a batch in flight before it goes on draining (and
/// counting) the sources; the batch stays in flight.
const COLLECT_WAIT: Duration = Duration::from_millis(200);

/// Counters of the ingest stage.
#[derive(Debug, Default)]
pub struct IngestCounters {
    pub alerts_received: AtomicU64,
    pub alerts_stored: AtomicU64,
    pub flows_received: AtomicU64,
    pub flows_stored: AtomicU64,
    pub store_errors: AtomicU64,
    /// Failed writes of the EVE output (counted by its thread).
    pub eve_errors: AtomicU64,
    pub batches: AtomicU64,
    /// Alerts with a sid the catalog does not know (msg left empty).
    pub unknown_signatures: AtomicU64,
    /// Flow records dropped after storage kept failing with a full retry buffer.
    pub flows_dropped: AtomicU64,
    /// Alerts and flow records still unstored when ingest stopped (storage refused them).
    pub discarded_at_stop: AtomicU64,
    /// Alerts lost, by [`ALERT_DROP_CAUSES`].
    pub alerts_dropped: [AtomicU64; 4],
}

/// State shared between the ingest thread and the API.
pub struct IngestShared {
    pub counters: IngestCounters,
    catalog: RwLock<Arc<SignatureCatalog>>,
    latest_stats: Mutex<HashMap<String, Vec<(&'static str, u64)>>>,
    overflow: Vec<(String, Arc<RingOverflow>)>,
    stop: AtomicBool,
    /// EVE lines published last, after everything drained, when ingest stops (the `stats`
    /// record).
    eve_at_stop: Mutex<Vec<u8>>,
    /// When the first alert was lost.
    first_drop: Since,
}

impl std::fmt::Debug for IngestShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestShared").finish_non_exhaustive()
    }
}

impl IngestShared {
    /// Queues newline-terminated EVE lines to be published last, once every record is drained
    /// and stored at stop (the end-of-run `stats` record).
    pub fn write_eve_at_stop(&self, lines: &[u8]) {
        self.eve_at_stop
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(lines);
    }

    /// Records lost: alerts and flows storage refused until ingest stopped, and flows dropped
    /// from a full retry buffer.
    pub fn discarded(&self) -> u64 {
        self.counters.discarded_at_stop.load(Ordering::Relaxed)
            + self.counters.flows_dropped.load(Ordering::Relaxed)
    }

    /// Alerts lost so far, by cause ([`ALERT_DROP_CAUSES`]).
    pub fn alert_drops(&self) -> [(&'static str, u64); 4] {
        let d = &self.counters.alerts_dropped;
        std::array::from_fn(|i| (ALERT_DROP_CAUSES[i], d[i].load(Ordering::Relaxed)))
    }

    /// Alerts lost so far, over every cause.
    pub fn alerts_dropped(&self) -> u64 {
        self.alert_drops().iter().map(|(_, n)| n).sum()
    }

    /// The `alerts` component: degraded once an alert was lost, with the counts by cause and
    /// what to do.
    pub fn health(&self) -> ComponentHealth {
        const C: &str = "alerts";
        let drops = self.alert_drops();
        let total: u64 = drops.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return ComponentHealth::ok(C);
        }
        let by: Vec<String> = drops
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let hint = if drops[STORAGE_REFUSED].1 + drops[STORAGE_STALLED].1 + drops[SHUTDOWN].1 > 0 {
            "storage did not take them: see the storage component"
        } else {
            "ingest did not keep up with the workers: give ingest a core of its own \
             (ingest.core) or raise ingest.ring_capacity"
        };
        ComponentHealth::degraded(
            C,
            format!("{total} alert(s) lost ({}): {hint}", by.join(", ")),
            self.first_drop.get(),
        )
    }

    fn count_drops(&self, cause: usize, n: u64) {
        if n > 0 {
            self.counters.alerts_dropped[cause].fetch_add(n, Ordering::Relaxed);
            self.first_drop.mark();
        }
    }

    /// Replaces the signature catalog (after a reload).
    pub fn set_catalog(&self, c: SignatureCatalog) {
        let mut g = self.catalog.write().unwrap_or_else(|p| p.into_inner());
        *g = Arc::new(c);
    }

    fn catalog(&self) -> Arc<SignatureCatalog> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Per worker: (name, alert ring overflow, flow ring overflow).
    pub fn ring_overflow(&self) -> Vec<(String, u64, u64)> {
        self.overflow
            .iter()
            .map(|(n, o)| {
                (
                    n.clone(),
                    o.alerts.load(Ordering::Relaxed),
                    o.flows.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// Latest counter samples each worker pushed through its stats ring.
    pub fn worker_samples(&self) -> Vec<(String, Vec<(String, u64)>)> {
        let g = self.latest_stats.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = g
            .iter()
            .map(|(w, c)| {
                (
                    w.clone(),
                    c.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// The running ingest thread.
pub struct Ingest {
    pub shared: Arc<IngestShared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest").finish_non_exhaustive()
    }
}

impl Ingest {
    /// Starts the draining thread over `sources` (one per worker), storing into `store` and
    /// publishing what is stored on `bus`.
    pub fn start(
        cfg: &IngestConfig,
        sources: Vec<Box<dyn RecordSource>>,
        store: Arc<Store>,
        bus: Arc<Bus>,
        catalog: SignatureCatalog,
    ) -> std::io::Result<Ingest> {
        let overflow = sources
            .iter()
            .map(|s| (s.name().to_owned(), Arc::new(RingOverflow::default())))
            .collect();
        let shared = Arc::new(IngestShared {
            counters: IngestCounters::default(),
            catalog: RwLock::new(Arc::new(catalog)),
            latest_stats: Mutex::new(HashMap::new()),
            overflow,
            stop: AtomicBool::new(false),
            eve_at_stop: Mutex::new(Vec::new()),
            first_drop: Since::default(),
        });
        let n_sources = sources.len();
        let core = cfg.core;
        let batch_max = cfg.batch_max;
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("osprey-ingest".into())
            .spawn(move || {
                if let Some(id) = core {
                    if !core_affinity::set_for_current(core_affinity::CoreId { id }) {
                        tracing::warn!(core = id, "could not pin the ingest thread");
                    }
                }
                let writer = match AlertWriter::start(store.clone()) {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::error!(error = %e, "could not start the alert writer thread");
                        return;
                    }
                };
                let flow_writer = match FlowWriter::start(store.clone()) {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::error!(error = %e, "could not start the flow writer thread");
                        return;
                    }
                };
                let mut l = Loop {
                    shared: sh,
                    bus,
                    sources,
                    batch_max,
                    retry_alerts: Vec::new(),
                    retry_flows: Vec::new(),
                    writer,
                    flow_writer,
                    samples: Vec::new(),
                    seen_alert_overflow: vec![0; n_sources],
                    storage: StorageState::Ok,
                    in_flight_since: None,
                };
                l.run();
            })?;
        Ok(Ingest {
            shared,
            thread: Some(thread),
        })
    }

    /// Drains what is queued, stores and publishes it, and stops the thread.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("ingest thread panicked");
            }
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Loop {
    shared: Arc<IngestShared>,
    bus: Arc<Bus>,
    sources: Vec<Box<dyn RecordSource>>,
    batch_max: usize,
    retry_alerts: Vec<Alert>,
    retry_flows: Vec<FlowRecord>,
    writer: AlertWriter,
    flow_writer: FlowWriter,
    /// Scratch for counter samples.
    samples: Vec<StatsEvent>,
    /// Each source's alert ring overflow as last seen (to attribute the increase).
    seen_alert_overflow: Vec<u64>,
    /// What storage did last: the cause given to alerts the rings drop meanwhile.
    storage: StorageState,
    /// When the batch in flight was handed over.
    in_flight_since: Option<Instant>,
}

/// Storage as ingest last saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StorageState {
    Ok,
    Refused,
    Stalled,
}

/// The batch in flight, as [`Loop::finish_in_flight`] found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flight {
    /// Nothing in flight any more (acknowledged, or nothing was).
    Clear,
    /// Storage refused it; it is back in the retry buffer.
    Failed,
    /// Still being written.
    Pending,
}

impl Loop {
    fn run(&mut self) {
        let mut backoff_until: Option<Instant> = None;
        loop {
            let stopping = self.shared.stop.load(Ordering::Acquire);
            if backoff_until.is_some_and(|t| Instant::now() < t) && !stopping {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            backoff_until = None;
            let (moved, failed) = self.pass();
            if failed {
                // Storage is refusing writes; retry later without spinning.
                backoff_until = Some(Instant::now() + Duration::from_millis(200));
                if stopping {
                    tracing::error!(
                        pending = self.retry_alerts.len(),
                        "stopping with alerts that could not be stored"
                    );
                    break;
                }
                continue;
            }
            if moved == 0 {
                // Nothing new: acknowledge the batch in flight now rather than with the next.
                if self.writer.in_flight {
                    if self.finish_in_flight(Some(COLLECT_WAIT)) == Flight::Failed {
                        backoff_until = Some(Instant::now() + Duration::from_millis(200));
                    }
                    continue;
                }
                let flows_pending = self.flow_writer.in_flight || !self.retry_flows.is_empty();
                if stopping && !flows_pending {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.finish_in_flight(None);
        // The last flow batch: acknowledged, or counted below with the rest.
        if let Collected::Done(batch, r) = self.flow_writer.collect(None) {
            let c = &self.shared.counters;
            match r {
                Ok(()) => {
                    c.flows_stored
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    if self.bus.wants(Interest::FLOWS) {
                        for f in batch {
                            self.bus.publish(Event::Flow(Arc::new(f)));
                        }
                    }
                }
                Err(_) => {
                    c.store_errors.fetch_add(1, Ordering::Relaxed);
                    let mut batch = batch;
                    batch.append(&mut self.retry_flows);
                    self.retry_flows = batch;
                }
            }
        }
        self.account_at_stop();
    }

    /// At stop: counts what storage never took, and publishes the end-of-run EVE lines last.
    fn account_at_stop(&mut self) {
        let lost = self.retry_alerts.len() + self.retry_flows.len();
        if lost > 0 {
            tracing::error!(
                alerts = self.retry_alerts.len(),
                flows = self.retry_flows.len(),
                "stopped with records that could not be stored"
            );
        }
        self.shared
            .counters
            .discarded_at_stop
            .store(lost as u64, Ordering::Relaxed);
        self.shared
            .count_drops(SHUTDOWN, self.retry_alerts.len() as u64);
        let last = std::mem::take(
            &mut *self
                .shared
                .eve_at_stop
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        if !last.is_empty() {
            self.bus.publish(Event::Records(last.into()));
        }
    }

    /// Waits (at most `wait`, `None`: as long as it takes) for the alert batch in flight and
    /// acknowledges it (counts it, publishes each alert), or on failure puts it back in front
    /// of the retry buffer.
    fn finish_in_flight(&mut self, wait: Option<Duration>) -> Flight {
        let (mut batch, r) = match self.writer.collect(wait) {
            Collected::Idle => {
                self.in_flight_since = None;
                return Flight::Clear;
            }
            Collected::Pending => {
                if self
                    .in_flight_since
                    .is_some_and(|t| t.elapsed() >= STALL_AFTER)
                {
                    self.storage = StorageState::Stalled;
                }
                return Flight::Pending;
            }
            Collected::Done(batch, r) => (batch, r),
        };
        self.in_flight_since = None;
        let c = &self.shared.counters;
        match r {
            Ok(()) => {
                self.storage = StorageState::Ok;
                c.batches.fetch_add(1, Ordering::Relaxed);
                c.alerts_stored
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                // Without consumers there is nothing to hand over.
                if self.bus.wants(Interest::ALERTS) {
                    for a in batch.iter_mut() {
                        self.bus.publish(Event::Alert(Arc::new(std::mem::take(a))));
                    }
                }
                Flight::Clear
            }
            Err(e) => {
                self.storage = StorageState::Refused;
                c.store_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, pending = batch.len() + self.retry_alerts.len(), "alert batch not stored; will retry");
                batch.append(&mut self.retry_alerts);
                self.retry_alerts = batch;
                Flight::Failed
            }
        }
    }

    /// One drain-and-store round. Returns (records moved, storage failed).
    fn pass(&mut self) -> (usize, bool) {
        let catalog = self.shared.catalog();
        let retry_cap = self.batch_max * 16;
        let mut alerts = std::mem::take(&mut self.retry_alerts);
        let mut flows = std::mem::take(&mut self.retry_flows);
        let mut lines: Vec<u8> = Vec::new();
        let mut moved = 0usize;
        for w in 0..self.sources.len() {
            moved += self.drain_alerts(w, &catalog, retry_cap, &mut alerts);
            moved += self.sources[w].drain_eve(&mut lines);
            let room = retry_cap.saturating_sub(flows.len()).min(self.batch_max);
            let n = self.sources[w].drain_flows(room, &mut flows);
            moved += n;
            self.shared
                .counters
                .flows_received
                .fetch_add(n as u64, Ordering::Relaxed);
            self.note_overflow(w);
            moved += self.drain_stats(w);
        }
        let mut failed = self.submit_alerts(alerts);
        if !lines.is_empty() && self.bus.wants(Interest::RECORDS) {
            self.bus.publish(Event::Records(lines.into()));
        }
        if self.storage != StorageState::Ok {
            // Alerts first: while their write is refused or stalled, flows wait (bounded).
            self.keep_flows(flows, retry_cap);
        } else {
            failed |= self.store_flows(flows, retry_cap);
        }
        (moved, failed)
    }

    /// Keeps `flows` for a later round, the newest `retry_cap` of them (the rest counted as
    /// dropped).
    fn keep_flows(&mut self, mut flows: Vec<FlowRecord>, retry_cap: usize) {
        if flows.len() > retry_cap {
            let drop_n = flows.len() - retry_cap;
            flows.drain(..drop_n);
            self.shared
                .counters
                .flows_dropped
                .fetch_add(drop_n as u64, Ordering::Relaxed);
        }
        self.retry_flows = flows;
    }

    /// Takes at most one batch of source `w`'s alerts (so no worker starves the others) and
    /// completes those without a message from the catalog, and gives every known one its
    /// ATT&CK mapping. Returns how many.
    fn drain_alerts(
        &mut self,
        w: usize,
        catalog: &SignatureCatalog,
        retry_cap: usize,
        alerts: &mut Vec<Alert>,
    ) -> usize {
        let c = &self.shared.counters;
        let room = retry_cap.saturating_sub(alerts.len()).min(self.batch_max);
        let first = alerts.len();
        let n = self.sources[w].drain_alerts(room, alerts);
        c.alerts_received.fetch_add(n as u64, Ordering::Relaxed);
        for a in &mut alerts[first..] {
            match catalog.get(a.gid, a.sid) {
                Some(info) => {
                    if a.msg.is_empty() {
                        a.msg.clone_from(&info.msg);
                        a.category.clone_from(&info.category);
                        a.severity = info.severity;
                    }
                    a.attack.clone_from(&info.attack);
                }
                None if a.msg.is_empty() => {
                    c.unknown_signatures.fetch_add(1, Ordering::Relaxed);
                }
                None => {}
            }
        }
        n
    }

    /// Copies source `w`'s own overflow counts, when it keeps them.
    /// The increase since the last look is counted as alerts lost, with the cause storage
    /// gave ingest meanwhile.
    fn note_overflow(&mut self, w: usize) {
        if let Some((a, f)) = self.sources[w].overflow() {
            let seen = &mut self.seen_alert_overflow[w];
            let cause = match self.storage {
                StorageState::Ok => WORKER_RING,
                StorageState::Refused => STORAGE_REFUSED,
                StorageState::Stalled => STORAGE_STALLED,
            };
            self.shared.count_drops(cause, a.saturating_sub(*seen));
            *seen = (*seen).max(a);
            let over = &self.shared.overflow[w].1;
            over.alerts.store(a, Ordering::Relaxed);
            over.flows.store(f, Ordering::Relaxed);
        }
    }

    /// Counter samples are small and bounded by the ring; keeps only the latest value of each.
    fn drain_stats(&mut self, w: usize) -> usize {
        self.samples.clear();
        let source = &mut self.sources[w];
        let n = source.drain_stats(&mut self.samples);
        if n > 0 {
            let mut g = self
                .shared
                .latest_stats
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let entry = g.entry(source.name().to_owned()).or_default();
            for s in self.samples.drain(..) {
                match entry.iter_mut().find(|(n, _)| *n == s.name) {
                    Some(slot) => slot.1 = s.value,
                    None => entry.push((s.name, s.value)),
                }
            }
        }
        n
    }

    /// Hands `alerts` to the writer one batch at a time; the last one stays in flight while
    /// the next round drains the sources (acknowledged by the next round or when idle).
    /// Returns true when storage failed (what is left waits in the retry buffer, in order).
    fn submit_alerts(&mut self, alerts: Vec<Alert>) -> bool {
        let mut rest = alerts;
        while !rest.is_empty() {
            match self.finish_in_flight(Some(COLLECT_WAIT)) {
                Flight::Clear => {}
                Flight::Failed => {
                    // Storage refused the previous batch: keep order (it is now at the front
                    // of the retry buffer) and stop writing for this round.
                    self.retry_alerts.append(&mut rest);
                    return true;
                }
                Flight::Pending => {
                    // A slow write: keep the rest for the next round and go on draining
                    // (bounded by the retry buffer) and counting meanwhile.
                    self.retry_alerts.append(&mut rest);
                    return false;
                }
            }
            let tail = rest.split_off(rest.len().min(self.batch_max.max(1)));
            let chunk = std::mem::replace(&mut rest, tail);
            self.in_flight_since = Some(Instant::now());
            if let Err(mut chunk) = self.writer.submit(chunk) {
                self.shared
                    .counters
                    .store_errors
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!("alert writer thread is gone; alerts kept for retry");
                chunk.append(&mut rest);
                self.retry_alerts.append(&mut chunk);
                return true;
            }
        }
        false
    }

    /// Acknowledges the flow batch written since the last round (publishes it), then hands
    /// `flows` (with what failed before) to the flow writer; while a batch is still being
    /// written, keeps them for the next round. At most `retry_cap` wait; older ones are
    /// counted as dropped. Returns true when storage failed.
    fn store_flows(&mut self, mut flows: Vec<FlowRecord>, retry_cap: usize) -> bool {
        match self.flow_writer.collect(Some(Duration::ZERO)) {
            Collected::Pending => {
                self.keep_flows(flows, retry_cap);
                return false;
            }
            Collected::Done(mut batch, r) => {
                let c = &self.shared.counters;
                if let Err(e) = r {
                    c.store_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, "flow batch not stored; will retry");
                    batch.append(&mut flows);
                    self.keep_flows(batch, retry_cap);
                    return true;
                }
                c.flows_stored
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                if self.bus.wants(Interest::FLOWS) {
                    for f in batch {
                        self.bus.publish(Event::Flow(Arc::new(f)));
                    }
                }
            }
            Collected::Idle => {}
        }
        if flows.is_empty() {
            return false;
        }
        if let Err(f) = self.flow_writer.submit(flows) {
            self.shared
                .counters
                .store_errors
                .fetch_add(1, Ordering::Relaxed);
            self.keep_flows(f, retry_cap);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Policy;
    use crate::model::StoredRule;
    use crate::store::{AlertFilter, StoreOptions};
    use crossbeam::queue::ArrayQueue;

    /// A worker's ring as a source: the producer side pushes or counts overflow.
    struct QueueSource {
        name: String,
        alerts: Arc<ArrayQueue<Alert>>,
        stats: Arc<ArrayQueue<StatsEvent>>,
        overflow: Arc<AtomicU64>,
    }

    struct Producer {
        alerts: Arc<ArrayQueue<Alert>>,
        stats: Arc<ArrayQueue<StatsEvent>>,
        overflow: Arc<AtomicU64>,
    }

    impl Producer {
        fn push(&self, a: Alert) -> bool {
            let ok = self.alerts.push(a).is_ok();
            if !ok {
                self.overflow.fetch_add(1, Ordering::Relaxed);
            }
            ok
        }
    }

    fn queue(name: &str, capacity: usize) -> (Producer, Box<dyn RecordSource>) {
        let alerts = Arc::new(ArrayQueue::new(capacity));
        let stats = Arc::new(ArrayQueue::new(capacity));
        let overflow = Arc::new(AtomicU64::new(0));
        let p = Producer {
            alerts: alerts.clone(),
            stats: stats.clone(),
            overflow: overflow.clone(),
        };
        let s = QueueSource {
            name: name.into(),
            alerts,
            stats,
            overflow,
        };
        (p, Box::new(s))
    }

    impl RecordSource for QueueSource {
        fn name(&self) -> &str {
            &self.name
        }
        fn drain_alerts(&mut self, max: usize, out: &mut Vec<Alert>) -> usize {
            let mut n = 0;
            while n < max {
                let Some(mut a) = self.alerts.pop() else {
                    break;
                };
                a.worker.clone_from(&self.name);
                out.push(a);
                n += 1;
            }
            n
        }
        fn drain_flows(&mut self, _max: usize, _out: &mut Vec<FlowRecord>) -> usize {
            0
        }
        fn drain_stats(&mut self, out: &mut Vec<StatsEvent>) -> usize {
            let mut n = 0;
            while let Some(s) = self.stats.pop() {
                out.push(s);
                n += 1;
            }
            n
        }
        fn overflow(&self) -> Option<(u64, u64)> {
            Some((self.overflow.load(Ordering::Relaxed), 0))
        }
    }

    fn alert(sid: u32, ts_nanos: u64) -> Alert {
        Alert {
            sid,
            ts_nanos,
            gid: 1,
            ..Alert::default()
        }
    }

    #[test]
    fn refused_writes_acknowledge_nothing_and_push_back_as_ring_overflow() {
        // A volume that never has enough free space: every alert write is refused.
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            Store::open(
                &dir.path().join("db"),
                &StoreOptions {
                    min_free_bytes: u64::MAX,
                    ..StoreOptions::default()
                },
            )
            .unwrap(),
        );
        let cfg = IngestConfig {
            batch_max: 4,
            ..IngestConfig::default()
        };
        let (producer, source) = queue("w0", 16);
        let mut ingest = Ingest::start(
            &cfg,
            vec![source],
            store.clone(),
            Arc::new(Bus::new()),
            SignatureCatalog::default(),
        )
        .unwrap();
        let mut pushed = 0u64;
        for i in 0..400u64 {
            if producer.push(alert(1, i)) {
                pushed += 1;
            }
            if i % 8 == 7 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let c = &ingest.shared.counters;
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.store_errors.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        // Let a pass copy the source's overflow count.
        std::thread::sleep(Duration::from_millis(300));
        assert!(c.store_errors.load(Ordering::Relaxed) > 0);
        assert_eq!(c.alerts_stored.load(Ordering::Relaxed), 0);
        // The retry buffer (16 batches) plus the batch at the writer bound what is taken
        // from the ring; the rest waits in the ring or is counted as overflow there.
        let received = c.alerts_received.load(Ordering::Relaxed);
        assert!(received <= 16 * 4 + 4, "received {received}");
        let overflow = ingest.shared.ring_overflow()[0].1;
        assert_eq!(pushed + overflow, 400);
        assert!(overflow > 0);
        // Stopping with undeliverable alerts returns instead of hanging.
        ingest.stop();
        let page = store.query_alerts(&AlertFilter::default()).unwrap();
        assert!(page.items.is_empty());
    }

    #[test]
    fn alerts_are_enriched_stored_then_published() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap());
        let catalog = SignatureCatalog::from_rules(&[StoredRule {
            gid: 1,
            sid: 5,
            rev: 2,
            msg: "TEST five".into(),
            classtype: "misc-activity".into(),
            priority: 2,
            text: String::new(),
            enabled: true,
            updated_nanos: 0,
        }]);
        let bus = Arc::new(Bus::new());
        let mut sub = bus.subscribe("test", Interest::ALERTS, Policy::Wait, 16);
        let (p0, s0) = queue("w0", 64);
        let (p1, s1) = queue("w1", 64);
        let mut ingest = Ingest::start(
            &IngestConfig::default(),
            vec![s0, s1],
            store.clone(),
            bus.clone(),
            catalog,
        )
        .unwrap();
        for (i, p) in [p0, p1].iter().enumerate() {
            let mut a = alert(5, 100 + i as u64);
            a.payload = b"GET /x".to_vec();
            assert!(p.push(a));
            assert!(p
                .stats
                .push(StatsEvent {
                    name: "decoder.pkts",
                    value: 10 + i as u64,
                })
                .is_ok());
        }
        let mut got = Vec::new();
        while got.len() < 2 {
            let Some(Event::Alert(a)) = sub.blocking_recv() else {
                panic!("the stream ended early");
            };
            // Published only after it is stored.
            assert!(store
                .get_alert(crate::store::AlertKey {
                    ts_nanos: a.ts_nanos,
                    id: a.id
                })
                .unwrap()
                .is_some());
            got.push(a);
        }
        assert!(got
            .iter()
            .all(|a| a.msg == "TEST five" && a.severity == 2 && a.payload == b"GET /x"));
        ingest.stop();
        let p = store
            .query_alerts(&AlertFilter {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(p.items.len(), 2);
        let samples = ingest.shared.worker_samples();
        assert_eq!(samples[1].1, vec![("decoder.pkts".to_string(), 11)]);
    }

    #[test]
    fn a_consumer_that_never_reads_costs_ingest_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap());
        let bus = Arc::new(Bus::new());
        let _stuck = bus.subscribe("tail", Interest::ALERTS, Policy::Drop, 4);
        let (producer, source) = queue("w0", 1024);
        let mut ingest = Ingest::start(
            &IngestConfig::default(),
            vec![source],
            store.clone(),
            bus.clone(),
            SignatureCatalog::default(),
        )
        .unwrap();
        for i in 0..1000 {
            while !producer.push(alert(7, i)) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let c = &ingest.shared.counters;
        let deadline = Instant::now() + Duration::from_secs(20);
        while c.alerts_stored.load(Ordering::Relaxed) < 1000 {
            assert!(
                Instant::now() < deadline,
                "ingest stalled behind a consumer"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        ingest.stop();
        let tail = bus.consumer("tail").unwrap();
        assert_eq!(tail.delivered.load(Ordering::Relaxed), 4);
        assert_eq!(tail.dropped.load(Ordering::Relaxed), 996);
        let page = store
            .query_alerts(&AlertFilter {
                limit: 2000,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(page.items.len(), 1000);
    }
}
