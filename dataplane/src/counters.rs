//! Per-worker counters.
//!
//! Counters are plain `u64` fields owned by one worker (no atomics on the hot path). Every
//! counter group implements [`CounterSet`] so the worker can publish a snapshot and the control
//! plane can sum workers by name. Names follow Suricata's stats naming (`decoder.pkts`,
//! `flow.memuse`, `tcp.reassembly_gap`, ...).

/// A group of named counters.
pub trait CounterSet {
    /// Calls `f` once per counter with its Suricata-style dotted name and current value.
    fn visit(&self, f: &mut dyn FnMut(&'static str, u64));
}
