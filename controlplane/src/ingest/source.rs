//! Where ingest gets worker records from: one [`RecordSource`] per worker. The appliance's
//! source drains the data plane's export rings (`src/appliance.rs` in the root package);
//! tests and benches plug in their own, through the same entry point.

use std::sync::atomic::AtomicU64;

use crate::model::{Alert, FlowRecord};

/// One counter sample: workers push their counters periodically (not per packet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsEvent {
    /// Suricata-style dotted name, e.g. `decoder.pkts`.
    pub name: &'static str,
    pub value: u64,
}

/// Ring overflow of one worker, per ring, as its source last reported it
/// ([`RecordSource::overflow`]). Counter samples have none: each is a counter's latest
/// value, so one lost is superseded by the next.
#[derive(Debug, Default)]
pub struct RingOverflow {
    pub alerts: AtomicU64,
    pub flows: AtomicU64,
}

/// One worker's records as the ingest thread drains them ([`super::Ingest::start`]), converted
/// to the model types.
pub trait RecordSource: Send {
    /// The worker's name (`w0`, ...), stamped on its alerts and flows.
    fn name(&self) -> &str;
    /// Moves up to `max` alerts into `out`; returns how many. Alerts with an empty `msg` are
    /// completed from the [`super::SignatureCatalog`]; ids are assigned by the store.
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
    /// counts them; `None` when it does not.
    fn overflow(&self) -> Option<(u64, u64)> {
        None
    }
}
