//! Per-worker flow table, TCP state tracking and stream reassembly.
//!
//! The layer between decoding and the application layer. The worker's glue turns each decoded
//! packet into a [`Packet`] (tuple, length, TCP fields) and calls [`FlowTable::process`] with
//! the packet's time; the table finds or creates the flow, tracks the TCP session and hands
//! in-order stream data per direction to a [`StreamSink`] (the app-layer parsers). Flows that
//! end are reported as [`FlowRecord`]s to a [`FlowRecordSink`]; [`write_eve_flow`] renders one
//! as Suricata's EVE `flow` event.
//!
//! - [`key`]: tuples, direction-free keys, flow ids, handles of live flows.
//! - [`events`]: the TCP anomalies the tracker raises.
//! - [`table`]: the flow table: keyed-hash index over a preallocated slab, memcap, timeouts,
//!   incremental sweep, emergency eviction.
//! - [`tcp`]: TCP session tracking and hand-off policy (IDS: on ACK; inline: at once).
//! - [`reassembly`]: bounded segment pool, overlap policy (first data wins), gaps, depth.
//! - [`record`]: flow-end records and EVE rendering.
//! - [`features`]: per-flow feature accumulation for the analytics models.
//! - [`stats`]: counters named like Suricata's (`flow.*`, `tcp.*`, `stream.*`).
//!
//! Nothing here reads a clock, locks or allocates per packet; everything is bounded by
//! configured caps, and every cap has a counter.

pub mod events;
pub mod features;
pub mod key;
pub mod reassembly;
pub mod record;
pub mod stats;
pub mod table;
pub mod tcp;

pub use events::{StreamEvent, StreamEvents};
pub use key::{proto, zone, zone_vlan, Direction, FlowHandle, FlowId, FlowKey, FlowTuple, Side};
pub use reassembly::{NullStreamSink, SegmentPool, StreamSink, CHUNK_SIZE};
pub use record::{
    render_eve_flow, write_eve_flow, write_flow_envelope, AppProto, EndReason, FlowRecord,
    FlowRecordSink, FlowState,
};
pub use stats::{FlowCounters, TcpCounters};
pub use table::{
    FlowConfig, FlowConfigError, FlowDrop, FlowSnapshot, FlowTable, FlowTimeouts, Packet,
    PacketOutcome, Timeouts, FLOW_BYTES_ACCOUNTED, FLOW_ENTRY_BYTES,
};
pub use tcp::{StreamConfig, TcpConn, TcpFlags, TcpSegment, TcpState};

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzz_driver;
#[cfg(test)]
mod tests;
