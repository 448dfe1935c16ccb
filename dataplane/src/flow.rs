//! Per-worker flow table, TCP state tracking and stream reassembly.
