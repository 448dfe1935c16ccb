//! Osprey's data plane: everything a pinned worker core does to a packet.
//!
//! Layers, bottom up:
//! - [`dpdk`]: the only module allowed `unsafe` — safe wrappers over `dpdk-ffi` (EAL, mempools,
//!   ports, mbufs, lcores, rings).
//! - [`offload`]: what the NIC vouches for about a frame (checksum verdicts), shared by `dpdk`
//!   and `decode`.
//! - [`io`]: packet sources (DPDK ports, pcap/pcapng files) behind one burst interface.
//! - [`wire`]: zero-copy typed views of protocol headers.
//! - [`decode`]: lenient layered decoding into a packet summary plus counted anomalies.
//! - [`flow`]: per-worker flow table, TCP tracking and stream reassembly.
//! - [`app`]: application-layer parsers (HTTP, DNS, TLS) over reassembled streams.
//! - [`detect`]: per-worker rule matching (Hyperscan prefilter, option verification, verdicts).
//! - [`inline`]: answers to rejected packets and the inline path's counters.
//! - [`filter`]: BPF capture filters, one per port, compiled by libpcap and run by `rte_bpf`'s JIT
//!   (else libpcap) on each frame before it is decoded.
//! - [`blocklist`]: the block table a worker drops packets by (addresses, networks, 5-tuples).
//! - [`pipeline`]: one packet through decode → flow → app layer → detection → records, with
//!   each flow's app-layer and detection state beside its flow-table entry; nothing below
//!   imports it.
//! - [`snapshot`]: immutable tables the control plane publishes to workers (rule engines,
//!   block tables).
//! - [`pace`]: when each packet of a paced replay is due (the worker checks, never waits).
//! - [`worker`]: the per-lcore poll loop; [`runtime`]: EAL start-up, ports, replay.
//! - [`eve`]: direct EVE JSON writing for records the workers render.
//! - [`counters`]: plain per-worker counters, summed by the control plane.
//! - [`time`]: packet time.
//!
//! Everything below `io` is sans-I/O: functions take bytes and `now` (packet time) and never read
//! the clock or touch a socket, so they behave the same under DPDK, pcap replay and unit tests.
#![deny(unsafe_code)]

pub mod app;
pub mod blocklist;
pub mod counters;
pub mod decode;
pub mod detect;
pub mod dpdk;
pub mod eve;
pub mod export;
pub mod files;
pub mod filter;
pub mod flow;
pub mod inline;
pub mod intel;
pub mod io;
pub mod offload;
pub mod pace;
pub mod pipeline;
pub mod runtime;
pub mod snapshot;
pub mod time;
pub mod wire;
pub mod worker;
