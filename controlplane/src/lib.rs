//! Osprey's control plane: drains worker records, stores them in RocksDB, writes outputs and
//! serves the gRPC management API. It never touches packets and never blocks a worker.
//!
//! Layers, from the workers inwards:
//! - [`ingest`]: per-worker SPSC rings (the worker side only ever `try_push`es and counts
//!   overflow), drained by a pinned thread that assigns alert ids and fans out to
//!   [`store`], [`outputs::eve`] and live subscribers.
//! - [`store`]: RocksDB with column families for alerts, indices, flows, rules and audit;
//!   [`store::record`] is the stored form of an alert, [`store::posting`] the batch-level
//!   index postings.
//! - [`api`]: the tonic services (`osprey.v1.*`), with [`api::auth`] (TLS, mTLS or bearer tokens,
//!   roles, audit) and one error type ([`error::Error`]) mapped to `tonic::Status` once.
//! - [`metrics`]: Prometheus `/metrics`.
//! - [`console`]: the `osprey ctl` console library.
//! - [`server`]: starts all of it from a [`config::ControlPlaneConfig`].
//!
//! The data plane and the rule compiler are reached only through the [`seams`] traits.
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod console;
pub mod error;
pub mod events;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod outputs;
pub mod seams;
pub mod server;
pub mod store;

/// Generated protobuf and gRPC code for `osprey.v1`.
pub mod proto {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("osprey.v1");

    /// Encoded `FileDescriptorSet` of every `osprey.v1` proto, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("osprey_descriptor");
}
