//! What leaves the pipeline besides counters: the [`EventSink`] and the records handed to it.

use vocab::AlertRecord;

use crate::flow::FlowRecord;

/// What leaves the pipeline besides counters.
pub trait EventSink {
    /// A flow ended (timeout, close, eviction, shutdown).
    fn flow_end(&mut self, rec: &FlowRecord);
    /// A rule matched: the alert as it crosses to the control plane (the worker stamps its
    /// engine's generation).
    fn alert(&mut self, _rec: &AlertRecord) {}
    /// One whole EVE record (a JSON object without trailing newline) the worker rendered with
    /// [`crate::eve::Json`]: app-layer transactions, anomalies. `event_type` is the record's
    /// `event_type` field (consumers filter on it without parsing). The bytes live in reused
    /// memory; copy them out before returning.
    fn eve_line(&mut self, _event_type: &str, _line: &[u8]) {}
    /// Whether [`EventSink::eve_line`] records are wanted; when false the pipeline does not
    /// render them at all.
    fn wants_eve(&self) -> bool {
        true
    }
    /// True when the sink also wants each alert as a rendered EVE record through
    /// [`EventSink::eve_line`] (with flow counters and transaction metadata, which only the
    /// worker has), besides [`EventSink::alert`].
    fn wants_eve_alerts(&self) -> bool {
        false
    }
    /// A packet of a flow whose alert asked for capture (see [`super::evidence`]); `false`
    /// when it could not be taken (counted in `evidence.export_dropped`). Never waits.
    fn evidence_packet(&mut self, _rec: &super::evidence::Record<'_>) -> bool {
        false
    }
}

/// A sink as the evidence ring's export.
pub(super) struct ToSink<'a, E: EventSink>(pub &'a mut E);

impl<E: EventSink> super::evidence::Export for ToSink<'_, E> {
    #[inline]
    fn packet(&mut self, rec: &super::evidence::Record<'_>) -> bool {
        self.0.evidence_packet(rec)
    }
}

/// A sink that keeps nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullEvents;

impl EventSink for NullEvents {
    fn flow_end(&mut self, _: &FlowRecord) {}
    fn wants_eve(&self) -> bool {
        false
    }
}

impl<F: FnMut(&FlowRecord)> EventSink for F {
    fn flow_end(&mut self, rec: &FlowRecord) {
        self(rec)
    }
    fn wants_eve(&self) -> bool {
        false
    }
}
