//! Ingest: the stage between the workers and everything else.
//!
//! Each worker gets a [`WorkerEndpoint`] with three SPSC rings (`rtrb`): alerts, flow records
//! and counter samples. The worker side only calls `push_*`, which never blocks, never
//! allocates and counts a full ring as overflow for that worker and ring.
//!
//! One ingest thread (pinned to a management core when configured) drains every ring,
//! enriches alerts from the [`SignatureCatalog`] of the active ruleset, writes them to the
//! store in batches (ids are assigned there), and only then fans them out to the EVE output
//! and to live subscribers: anything a subscriber sees is already stored. When storage
//! fails (full disk), alerts wait in a bounded retry buffer; once that is full the thread
//! stops draining alert rings, so the pressure shows up as counted ring overflow at the
//! workers instead of blocking them or losing what was already acknowledged.
//!
//! The RocksDB write itself (most of an alert's cost) runs on a second thread, `osprey-store`,
//! one batch at a time: while it writes a batch, the ingest thread drains and enriches the
//! next, and acknowledges the written batch once its outcome is back (or as soon as the rings
//! are idle). With two management cores the stage's throughput is the slower of the two
//! halves instead of their sum; on one core it costs a thread hand-off per batch.
//!
//! Sync policy: each round drains up to `batch_max` alerts per worker and writes them as one
//! RocksDB `WriteBatch` (alerts, their three index entries and the next id) with the WAL on.
//! An alert is acknowledged as stored (`ingest.alerts_stored`, visible to queries, live
//! subscribers and the EVE file) only after its batch's write returned, so every acknowledged
//! alert survives `kill -9` of the appliance; with `storage.sync_writes` the WAL is also
//! fsynced per batch and it survives power loss. Batching many alerts per write is what makes
//! the WAL affordable: one append per batch instead of one per alert.
//!
//! Sources are either this crate's `rtrb` rings ([`Ingest::start`], [`WorkerEndpoint`]) or any
//! [`RecordSource`] ([`Ingest::start_sources`]): the appliance drains the data plane's own
//! export rings that way.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::config::IngestConfig;
use crate::eve::EveWriter;
use crate::model::{Action, Alert, Direction, FlowEndReason, FlowRecord, FlowState, StoredRule};
use crate::store::Store;

/// Bytes of payload an alert record carries.
pub const PAYLOAD_EXCERPT: usize = 128;

/// Fixed-size alert record pushed by a worker. `Copy`, no heap: the hot path fills it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertEvent {
    pub ts_nanos: u64,
    pub gid: u32,
    pub sid: u32,
    pub rev: u32,
    pub action: Action,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    pub proto: u8,
    /// "http", "tls", ... or "" when unknown.
    pub app_proto: &'static str,
    pub flow_id: u64,
    pub direction: Direction,
    pub packet_no: u64,
    pub payload_len: u16,
    pub payload: [u8; PAYLOAD_EXCERPT],
}

impl Default for AlertEvent {
    fn default() -> Self {
        AlertEvent {
            ts_nanos: 0,
            gid: 1,
            sid: 0,
            rev: 0,
            action: Action::Alert,
            src_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            src_port: 0,
            dst_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst_port: 0,
            proto: 0,
            app_proto: "",
            flow_id: 0,
            direction: Direction::ToServer,
            packet_no: 0,
            payload_len: 0,
            payload: [0; PAYLOAD_EXCERPT],
        }
    }
}

impl AlertEvent {
    /// Copies up to [`PAYLOAD_EXCERPT`] bytes of `data` into the record.
    pub fn set_payload(&mut self, data: &[u8]) {
        let n = data.len().min(PAYLOAD_EXCERPT);
        self.payload[..n].copy_from_slice(&data[..n]);
        self.payload_len = n as u16;
    }
}

/// Fixed-size flow record pushed by a worker when a flow ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowEvent {
    pub flow_id: u64,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    pub proto: u8,
    pub pkts_toserver: u64,
    pub pkts_toclient: u64,
    pub bytes_toserver: u64,
    pub bytes_toclient: u64,
    pub start_nanos: u64,
    pub end_nanos: u64,
    pub state: FlowState,
    pub reason: FlowEndReason,
    pub app_proto: &'static str,
    pub alerted: bool,
}

/// One counter sample: workers push their counters periodically (not per packet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsEvent {
    /// Suricata-style dotted name, e.g. `decoder.pkts`.
    pub name: &'static str,
    pub value: u64,
}

/// Ring overflow of one worker, per ring.
#[derive(Debug, Default)]
pub struct RingOverflow {
    pub alerts: AtomicU64,
    pub flows: AtomicU64,
    pub stats: AtomicU64,
}

/// The worker's side of its rings. Owned by exactly one worker thread.
pub struct WorkerEndpoint {
    name: String,
    alerts: rtrb::Producer<AlertEvent>,
    flows: rtrb::Producer<FlowEvent>,
    stats: rtrb::Producer<StatsEvent>,
    overflow: Arc<RingOverflow>,
}

impl std::fmt::Debug for WorkerEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerEndpoint")
            .field("name", &self.name)
            .finish()
    }
}

impl WorkerEndpoint {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Queues an alert; `false` (and an overflow count) when the ring is full.
    #[inline]
    pub fn push_alert(&mut self, ev: AlertEvent) -> bool {
        match self.alerts.push(ev) {
            Ok(()) => true,
            Err(_) => {
                self.overflow.alerts.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Queues a flow record; `false` (and an overflow count) when the ring is full.
    #[inline]
    pub fn push_flow(&mut self, ev: FlowEvent) -> bool {
        match self.flows.push(ev) {
            Ok(()) => true,
            Err(_) => {
                self.overflow.flows.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Queues a counter sample; `false` (and an overflow count) when the ring is full.
    #[inline]
    pub fn push_stat(&mut self, ev: StatsEvent) -> bool {
        match self.stats.push(ev) {
            Ok(()) => true,
            Err(_) => {
                self.overflow.stats.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}

struct WorkerRings {
    name: String,
    alerts: rtrb::Consumer<AlertEvent>,
    flows: rtrb::Consumer<FlowEvent>,
    stats: rtrb::Consumer<StatsEvent>,
}

/// One worker's records as the ingest thread drains them. [`Ingest::start`] uses this crate's
/// own `rtrb` rings; the appliance plugs the data plane's rings in with
/// [`Ingest::start_sources`], converting its records to the model types.
pub trait RecordSource: Send {
    /// The worker's name (`w0`, ...), stamped on its alerts and flows.
    fn name(&self) -> &str;
    /// Moves up to `max` alerts into `out`; returns how many. Alerts with an empty `msg` are
    /// completed from the [`SignatureCatalog`]; ids are assigned by the store.
    fn drain_alerts(&mut self, max: usize, out: &mut Vec<Alert>) -> usize;
    /// Moves up to `max` flow records into `out`; returns how many.
    fn drain_flows(&mut self, max: usize, out: &mut Vec<FlowRecord>) -> usize;
    /// Appends worker-rendered EVE records other than alerts (app-layer transactions,
    /// anomalies) to `out`, one newline-terminated JSON object each; returns how many. They
    /// go to the EVE file as they are.
    fn drain_eve(&mut self, _out: &mut Vec<u8>) -> usize {
        0
    }
    /// Moves counter samples into `out` (latest value per name wins); returns how many.
    fn drain_stats(&mut self, _out: &mut Vec<StatsEvent>) -> usize {
        0
    }
    /// Records the worker dropped on full rings so far, (alerts, flows), when the source
    /// counts them itself; `None` when they are counted in the shared [`RingOverflow`].
    fn overflow(&self) -> Option<(u64, u64)> {
        None
    }
}

impl RecordSource for WorkerRings {
    fn name(&self) -> &str {
        &self.name
    }

    fn drain_alerts(&mut self, max: usize, out: &mut Vec<Alert>) -> usize {
        let mut n = 0;
        while n < max {
            let Ok(ev) = self.alerts.pop() else { break };
            n += 1;
            out.push(Alert {
                id: 0,
                ts_nanos: ev.ts_nanos,
                gid: ev.gid,
                sid: ev.sid,
                rev: ev.rev,
                action: ev.action,
                msg: String::new(),
                category: String::new(),
                severity: 3,
                src_ip: ev.src_ip,
                src_port: ev.src_port,
                dst_ip: ev.dst_ip,
                dst_port: ev.dst_port,
                proto: ev.proto,
                app_proto: ev.app_proto.to_owned(),
                flow_id: ev.flow_id,
                direction: ev.direction,
                packet_no: ev.packet_no,
                payload: ev.payload[..usize::from(ev.payload_len).min(PAYLOAD_EXCERPT)].to_vec(),
                worker: self.name.clone(),
                generation: 0,
                eve: String::new(),
            });
        }
        n
    }

    fn drain_flows(&mut self, max: usize, out: &mut Vec<FlowRecord>) -> usize {
        let mut n = 0;
        while n < max {
            let Ok(ev) = self.flows.pop() else { break };
            n += 1;
            out.push(FlowRecord {
                flow_id: ev.flow_id,
                src_ip: ev.src_ip,
                src_port: ev.src_port,
                dst_ip: ev.dst_ip,
                dst_port: ev.dst_port,
                proto: ev.proto,
                pkts_toserver: ev.pkts_toserver,
                pkts_toclient: ev.pkts_toclient,
                bytes_toserver: ev.bytes_toserver,
                bytes_toclient: ev.bytes_toclient,
                start_nanos: ev.start_nanos,
                end_nanos: ev.end_nanos,
                state: ev.state,
                reason: ev.reason,
                app_proto: ev.app_proto.to_owned(),
                alerted: ev.alerted,
                worker: self.name.clone(),
                eve: String::new(),
            });
        }
        n
    }

    fn drain_stats(&mut self, out: &mut Vec<StatsEvent>) -> usize {
        let mut n = 0;
        while let Ok(s) = self.stats.pop() {
            out.push(s);
            n += 1;
        }
        n
    }
}

/// What ingest knows about a signature, to fill in alert fields workers do not carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignatureInfo {
    pub msg: String,
    pub category: String,
    pub severity: u8,
}

/// Signature details by (gid, sid), from the active ruleset.
#[derive(Clone, Debug, Default)]
pub struct SignatureCatalog {
    by_sid: HashMap<(u32, u32), SignatureInfo>,
}

impl SignatureCatalog {
    /// Builds from stored rules. `category` is the classtype; severity is the priority.
    pub fn from_rules(rules: &[StoredRule]) -> Self {
        let by_sid = rules
            .iter()
            .map(|r| {
                (
                    (r.gid, r.sid),
                    SignatureInfo {
                        msg: r.msg.clone(),
                        category: r.classtype.clone(),
                        severity: r.priority,
                    },
                )
            })
            .collect();
        SignatureCatalog { by_sid }
    }

    pub fn get(&self, gid: u32, sid: u32) -> Option<&SignatureInfo> {
        self.by_sid.get(&(gid, sid))
    }

    pub fn len(&self) -> usize {
        self.by_sid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_sid.is_empty()
    }
}

/// Counters of the ingest stage.
#[derive(Debug, Default)]
pub struct IngestCounters {
    pub alerts_received: AtomicU64,
    pub alerts_stored: AtomicU64,
    pub flows_received: AtomicU64,
    pub flows_stored: AtomicU64,
    pub store_errors: AtomicU64,
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
    live: broadcast::Sender<Arc<Alert>>,
    stop: AtomicBool,
    /// EVE lines written after everything drained, when ingest stops (the `stats` record).
    eve_at_stop: Mutex<Vec<u8>>,
}

impl std::fmt::Debug for IngestShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestShared").finish_non_exhaustive()
    }
}

impl IngestShared {
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

    /// Queues newline-terminated EVE lines to be written last, once every record is drained
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

    /// A receiver of every alert stored from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Alert>> {
        self.live.subscribe()
    }

    /// Per worker: (name, alert ring overflow, flow ring overflow, stats ring overflow).
    pub fn ring_overflow(&self) -> Vec<(String, u64, u64, u64)> {
        self.overflow
            .iter()
            .map(|(n, o)| {
                (
                    n.clone(),
                    o.alerts.load(Ordering::Relaxed),
                    o.flows.load(Ordering::Relaxed),
                    o.stats.load(Ordering::Relaxed),
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
    /// Creates rings for `workers` and starts the draining thread. Returns the worker
    /// endpoints in the same order.
    pub fn start(
        cfg: &IngestConfig,
        workers: &[String],
        store: Arc<Store>,
        eve: Option<EveWriter>,
        catalog: SignatureCatalog,
    ) -> std::io::Result<(Ingest, Vec<WorkerEndpoint>)> {
        let mut endpoints = Vec::with_capacity(workers.len());
        let mut rings: Vec<Box<dyn RecordSource>> = Vec::with_capacity(workers.len());
        let mut overflow = Vec::with_capacity(workers.len());
        for name in workers {
            let (pa, ca) = rtrb::RingBuffer::new(cfg.ring_capacity);
            let (pf, cf) = rtrb::RingBuffer::new(cfg.ring_capacity);
            let (ps, cs) = rtrb::RingBuffer::new(cfg.ring_capacity);
            let o = Arc::new(RingOverflow::default());
            overflow.push((name.clone(), o.clone()));
            endpoints.push(WorkerEndpoint {
                name: name.clone(),
                alerts: pa,
                flows: pf,
                stats: ps,
                overflow: o,
            });
            rings.push(Box::new(WorkerRings {
                name: name.clone(),
                alerts: ca,
                flows: cf,
                stats: cs,
            }));
        }
        let ingest = Self::spawn(cfg, rings, overflow, store, eve, catalog)?;
        Ok((ingest, endpoints))
    }

    /// Starts the draining thread over `sources` (one per worker, e.g. the data plane's
    /// rings). Their overflow counts are read from [`RecordSource::overflow`].
    pub fn start_sources(
        cfg: &IngestConfig,
        sources: Vec<Box<dyn RecordSource>>,
        store: Arc<Store>,
        eve: Option<EveWriter>,
        catalog: SignatureCatalog,
    ) -> std::io::Result<Ingest> {
        let overflow = sources
            .iter()
            .map(|s| (s.name().to_owned(), Arc::new(RingOverflow::default())))
            .collect();
        Self::spawn(cfg, sources, overflow, store, eve, catalog)
    }

    fn spawn(
        cfg: &IngestConfig,
        rings: Vec<Box<dyn RecordSource>>,
        overflow: Vec<(String, Arc<RingOverflow>)>,
        store: Arc<Store>,
        eve: Option<EveWriter>,
        catalog: SignatureCatalog,
    ) -> std::io::Result<Ingest> {
        let (live, _) = broadcast::channel(cfg.subscriber_buffer);
        let shared = Arc::new(IngestShared {
            counters: IngestCounters::default(),
            catalog: RwLock::new(Arc::new(catalog)),
            latest_stats: Mutex::new(HashMap::new()),
            overflow,
            live,
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
                    eve,
                    rings,
                    batch_max,
                    retry_alerts: Vec::new(),
                    retry_flows: Vec::new(),
                    writer,
                };
                l.run();
            })?;
        Ok(Ingest {
            shared,
            thread: Some(thread),
        })
    }

    /// Drains what is queued, stores it, and stops the thread.
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
    eve: Option<EveWriter>,
    rings: Vec<Box<dyn RecordSource>>,
    batch_max: usize,
    retry_alerts: Vec<Alert>,
    retry_flows: Vec<FlowRecord>,
    writer: AlertWriter,
}

/// The thread that writes alert batches to the store, one batch at a time, so that the
/// ingest thread drains and enriches the next batch while RocksDB inserts the previous one
/// (the write is most of an alert's cost). At most one batch is in flight; its outcome comes
/// back with the batch, and only then is it acknowledged (counted, written to EVE, published).
struct AlertWriter {
    tx: Option<std::sync::mpsc::SyncSender<Vec<Alert>>>,
    rx: std::sync::mpsc::Receiver<(Vec<Alert>, crate::error::Result<()>)>,
    in_flight: bool,
    thread: Option<JoinHandle<()>>,
}

impl AlertWriter {
    fn start(store: Arc<Store>) -> std::io::Result<AlertWriter> {
        let (tx, jobs) = std::sync::mpsc::sync_channel::<Vec<Alert>>(1);
        let (done, rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("osprey-store".into())
            .spawn(move || {
                for mut batch in jobs {
                    let r = store.append_alerts(&mut batch);
                    if done.send((batch, r)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(AlertWriter {
            tx: Some(tx),
            rx,
            in_flight: false,
            thread: Some(thread),
        })
    }

    /// Hands a batch to the writer; the previous one must have been collected.
    fn submit(&mut self, batch: Vec<Alert>) -> std::result::Result<(), Vec<Alert>> {
        debug_assert!(!self.in_flight);
        let Some(tx) = &self.tx else {
            return Err(batch);
        };
        match tx.send(batch) {
            Ok(()) => {
                self.in_flight = true;
                Ok(())
            }
            Err(e) => Err(e.0),
        }
    }

    /// Waits for the batch in flight, if any.
    fn collect(&mut self) -> Option<(Vec<Alert>, crate::error::Result<()>)> {
        if !self.in_flight {
            return None;
        }
        self.in_flight = false;
        self.rx.recv().ok()
    }
}

impl Drop for AlertWriter {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
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
                if let Some(e) = self.eve.as_mut() {
                    if e.flush().is_err() {
                        self.shared
                            .counters
                            .eve_errors
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.finish_in_flight();
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
        if let Some(e) = self.eve.as_mut() {
            if e.write_lines(&last).and_then(|()| e.flush()).is_err() {
                self.shared
                    .counters
                    .eve_errors
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Waits for the alert batch in flight and acknowledges it, or on failure puts it back in
    /// front of the retry buffer. Returns true when storage failed.
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
                if let Some(e) = self.eve.as_mut() {
                    for a in batch.iter() {
                        if e.write_alert(a).is_err() {
                            c.eve_errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                // Without live subscribers there is nothing to hand over.
                if self.shared.live.receiver_count() > 0 {
                    for a in batch.iter_mut() {
                        // A subscriber leaving meanwhile is fine; the send just fails.
                        let _ = self.shared.live.send(Arc::new(std::mem::take(a)));
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
        let shared = self.shared.clone();
        let c = &shared.counters;
        let catalog = self.shared.catalog();
        let retry_cap = self.batch_max * 16;
        let mut alerts = std::mem::take(&mut self.retry_alerts);
        let mut flows = std::mem::take(&mut self.retry_flows);
        let mut moved = 0usize;
        let mut samples: Vec<StatsEvent> = Vec::new();
        let mut eve_lines: Vec<u8> = Vec::new();
        for (w, (_, over)) in self.rings.iter_mut().zip(&self.shared.overflow) {
            // Take at most one batch per worker per round so no worker starves the others.
            let room = retry_cap.saturating_sub(alerts.len()).min(self.batch_max);
            let first = alerts.len();
            let n = w.drain_alerts(room, &mut alerts);
            moved += n;
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
            let n = w.drain_eve(&mut eve_lines);
            moved += n;
            let room = retry_cap.saturating_sub(flows.len()).min(self.batch_max);
            let n = w.drain_flows(room, &mut flows);
            moved += n;
            c.flows_received.fetch_add(n as u64, Ordering::Relaxed);
            if let Some((a, f)) = w.overflow() {
                over.alerts.store(a, Ordering::Relaxed);
                over.flows.store(f, Ordering::Relaxed);
            }
            // Counter samples are small and bounded by the ring; keep only the latest value.
            samples.clear();
            let n = w.drain_stats(&mut samples);
            if n > 0 {
                moved += n;
                let mut g = self
                    .shared
                    .latest_stats
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let entry = g.entry(w.name().to_owned()).or_default();
                for s in samples.drain(..) {
                    match entry.iter_mut().find(|(n, _)| *n == s.name) {
                        Some(slot) => slot.1 = s.value,
                        None => entry.push((s.name, s.value)),
                    }
                }
            }
        }
        // Batches go to the writer one at a time; the last one stays in flight while the
        // next round drains the rings (acknowledged by the next round or when idle).
        let mut failed = false;
        let mut rest = alerts;
        while !rest.is_empty() {
            if self.finish_in_flight() {
                // Storage refused the previous batch: keep order (it is now at the front of
                // the retry buffer) and stop writing for this round.
                self.retry_alerts.append(&mut rest);
                failed = true;
                break;
            }
            let tail = rest.split_off(rest.len().min(self.batch_max.max(1)));
            let chunk = std::mem::replace(&mut rest, tail);
            if let Err(mut chunk) = self.writer.submit(chunk) {
                c.store_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!("alert writer thread is gone; alerts kept for retry");
                chunk.append(&mut rest);
                self.retry_alerts.append(&mut chunk);
                failed = true;
                break;
            }
        }
        if let Some(e) = self.eve.as_mut() {
            if e.write_lines(&eve_lines).is_err() {
                c.eve_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        if !flows.is_empty() {
            match self.store.append_flows(&flows) {
                Ok(()) => {
                    c.flows_stored
                        .fetch_add(flows.len() as u64, Ordering::Relaxed);
                    if let Some(e) = self.eve.as_mut() {
                        for f in &flows {
                            if e.write_flow(f).is_err() {
                                c.eve_errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
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
                    failed = true;
                }
            }
        }
        (moved, failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AlertFilter, StoreOptions};

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
            ring_capacity: 16,
            batch_max: 4,
            ..IngestConfig::default()
        };
        let (mut ingest, mut eps) = Ingest::start(
            &cfg,
            &["w0".into()],
            store.clone(),
            None,
            SignatureCatalog::default(),
        )
        .unwrap();
        let mut pushed = 0u64;
        for i in 0..400u64 {
            if eps[0].push_alert(AlertEvent {
                sid: 1,
                ts_nanos: i,
                ..AlertEvent::default()
            }) {
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
    fn full_ring_counts_overflow_and_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap());
        let cfg = IngestConfig {
            ring_capacity: 64,
            ..IngestConfig::default()
        };
        let (mut ingest, mut eps) = Ingest::start(
            &cfg,
            &["w0".into()],
            store.clone(),
            None,
            SignatureCatalog::default(),
        )
        .unwrap();
        // Stop the consumer first so the ring really fills.
        ingest.stop();
        let mut ok = 0;
        for i in 0..100u64 {
            if eps[0].push_alert(AlertEvent {
                sid: 1,
                ts_nanos: i,
                ..AlertEvent::default()
            }) {
                ok += 1;
            }
        }
        assert_eq!(ok, 64);
        assert_eq!(ingest.shared.ring_overflow()[0].1, 36);
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
        let (mut ingest, mut eps) = Ingest::start(
            &IngestConfig::default(),
            &["w0".into(), "w1".into()],
            store.clone(),
            None,
            catalog,
        )
        .unwrap();
        let mut rx = ingest.shared.subscribe();
        for (i, ep) in eps.iter_mut().enumerate() {
            let mut ev = AlertEvent {
                sid: 5,
                ts_nanos: 100 + i as u64,
                ..AlertEvent::default()
            };
            ev.set_payload(b"GET /x");
            assert!(ep.push_alert(ev));
            assert!(ep.push_stat(StatsEvent {
                name: "decoder.pkts",
                value: 10 + i as u64,
            }));
        }
        let mut got = Vec::new();
        while got.len() < 2 {
            let a = rx.blocking_recv().unwrap();
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
}
