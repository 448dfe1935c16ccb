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
use crate::model::{Alert, FlowRecord};
use crate::store::Store;
use writer::AlertWriter;

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
        });
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
                let mut l = Loop {
                    shared: sh,
                    store,
                    bus,
                    sources,
                    batch_max,
                    retry_alerts: Vec::new(),
                    retry_flows: Vec::new(),
                    writer,
                    samples: Vec::new(),
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
    store: Arc<Store>,
    bus: Arc<Bus>,
    sources: Vec<Box<dyn RecordSource>>,
    batch_max: usize,
    retry_alerts: Vec<Alert>,
    retry_flows: Vec<FlowRecord>,
    writer: AlertWriter,
    /// Scratch for counter samples.
    samples: Vec<StatsEvent>,
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
                    if self.finish_in_flight() {
                        backoff_until = Some(Instant::now() + Duration::from_millis(200));
                    }
                    continue;
                }
                if stopping {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.finish_in_flight();
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

    /// Waits for the alert batch in flight and acknowledges it (counts it, publishes each
    /// alert), or on failure puts it back in front of the retry buffer. Returns true when
    /// storage failed.
    fn finish_in_flight(&mut self) -> bool {
        let Some((mut batch, r)) = self.writer.collect() else {
            return false;
        };
        let c = &self.shared.counters;
        match r {
            Ok(()) => {
                c.batches.fetch_add(1, Ordering::Relaxed);
                c.alerts_stored
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                // Without consumers there is nothing to hand over.
                if self.bus.wants(Interest::ALERTS) {
                    for a in batch.iter_mut() {
                        self.bus.publish(Event::Alert(Arc::new(std::mem::take(a))));
                    }
                }
                false
            }
            Err(e) => {
                c.store_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, pending = batch.len() + self.retry_alerts.len(), "alert batch not stored; will retry");
                batch.append(&mut self.retry_alerts);
                self.retry_alerts = batch;
                true
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
        if !flows.is_empty() {
            failed |= self.store_flows(flows, retry_cap);
        }
        (moved, failed)
    }

    /// Takes at most one batch of source `w`'s alerts (so no worker starves the others) and
    /// completes those without a message from the catalog. Returns how many.
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
            if !a.msg.is_empty() {
                continue;
            }
            match catalog.get(a.gid, a.sid) {
                Some(info) => {
                    a.msg.clone_from(&info.msg);
                    a.category.clone_from(&info.category);
                    a.severity = info.severity;
                }
                None => {
                    c.unknown_signatures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        n
    }

    /// Copies source `w`'s own overflow counts, when it keeps them.
    fn note_overflow(&self, w: usize) {
        if let Some((a, f)) = self.sources[w].overflow() {
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
            if self.finish_in_flight() {
                // Storage refused the previous batch: keep order (it is now at the front of
                // the retry buffer) and stop writing for this round.
                self.retry_alerts.append(&mut rest);
                return true;
            }
            let tail = rest.split_off(rest.len().min(self.batch_max.max(1)));
            let chunk = std::mem::replace(&mut rest, tail);
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

    /// Stores flow records and publishes them; on failure keeps the newest `retry_cap` for
    /// the next round (older ones are counted as dropped). Returns true when storage failed.
    fn store_flows(&mut self, mut flows: Vec<FlowRecord>, retry_cap: usize) -> bool {
        let c = &self.shared.counters;
        match self.store.append_flows(&flows) {
            Ok(()) => {
                c.flows_stored
                    .fetch_add(flows.len() as u64, Ordering::Relaxed);
                if self.bus.wants(Interest::FLOWS) {
                    for f in flows {
                        self.bus.publish(Event::Flow(Arc::new(f)));
                    }
                }
                false
            }
            Err(e) => {
                c.store_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "flow batch not stored; will retry");
                if flows.len() > retry_cap {
                    let drop_n = flows.len() - retry_cap;
                    flows.drain(..drop_n);
                    c.flows_dropped.fetch_add(drop_n as u64, Ordering::Relaxed);
                }
                self.retry_flows = flows;
                true
            }
        }
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
