//! A simulated worker's export rings and the `RecordSource` that drains them, shaped like the
//! appliance's `WorkerSource` (`src/appliance.rs`): bounded lock-free rings whose worker side
//! never blocks and counts a full ring as overflow, alerts carrying the line the worker
//! rendered, other rendered records drained for the EVE file, counter samples.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use controlplane::ingest::{RecordSource, StatsEvent};
use controlplane::model::{Alert, FlowRecord};
use crossbeam::queue::ArrayQueue;

/// Slots per ring (the default `ingest.ring_capacity`).
pub const RING_CAPACITY: usize = 65_536;

struct Rings {
    alerts: ArrayQueue<Alert>,
    flows: ArrayQueue<FlowRecord>,
    records: ArrayQueue<String>,
    stats: ArrayQueue<StatsEvent>,
    alerts_overflow: AtomicU64,
    flows_overflow: AtomicU64,
}

/// The worker's side. Every push returns at once; `false` (and an overflow count) when full.
pub struct Producer(Arc<Rings>);

impl Producer {
    pub fn push_alert(&self, a: Alert) -> bool {
        let ok = self.0.alerts.push(a).is_ok();
        if !ok {
            self.0.alerts_overflow.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    pub fn push_flow(&self, f: FlowRecord) -> bool {
        let ok = self.0.flows.push(f).is_ok();
        if !ok {
            self.0.flows_overflow.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// A rendered EVE record other than an alert (one JSON object, no newline).
    pub fn push_record(&self, line: String) -> bool {
        self.0.records.push(line).is_ok()
    }

    pub fn push_stat(&self, s: StatsEvent) -> bool {
        self.0.stats.push(s).is_ok()
    }
}

/// Ingest's side of one worker's rings.
pub struct SimSource {
    name: String,
    rings: Arc<Rings>,
}

/// A worker's rings of `capacity` slots each: (worker side, ingest side).
pub fn ring(name: &str, capacity: usize) -> (Producer, Box<dyn RecordSource>) {
    let rings = Arc::new(Rings {
        alerts: ArrayQueue::new(capacity),
        flows: ArrayQueue::new(capacity),
        records: ArrayQueue::new(capacity),
        stats: ArrayQueue::new(capacity),
        alerts_overflow: AtomicU64::new(0),
        flows_overflow: AtomicU64::new(0),
    });
    let source = SimSource {
        name: name.to_owned(),
        rings: rings.clone(),
    };
    (Producer(rings), Box::new(source))
}

impl RecordSource for SimSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn drain_alerts(&mut self, max: usize, out: &mut Vec<Alert>) -> usize {
        let mut n = 0;
        while n < max {
            let Some(mut a) = self.rings.alerts.pop() else {
                break;
            };
            a.worker.clone_from(&self.name);
            out.push(a);
            n += 1;
        }
        n
    }

    fn drain_flows(&mut self, max: usize, out: &mut Vec<FlowRecord>) -> usize {
        let mut n = 0;
        while n < max {
            let Some(mut f) = self.rings.flows.pop() else {
                break;
            };
            f.worker.clone_from(&self.name);
            out.push(f);
            n += 1;
        }
        n
    }

    fn drain_eve(&mut self, out: &mut Vec<u8>) -> usize {
        let mut n = 0;
        while let Some(line) = self.rings.records.pop() {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
            n += 1;
        }
        n
    }

    fn drain_stats(&mut self, out: &mut Vec<StatsEvent>) -> usize {
        let mut n = 0;
        while let Some(s) = self.rings.stats.pop() {
            out.push(s);
            n += 1;
        }
        n
    }

    fn overflow(&self) -> Option<(u64, u64)> {
        Some((
            self.rings.alerts_overflow.load(Ordering::Relaxed),
            self.rings.flows_overflow.load(Ordering::Relaxed),
        ))
    }
}
