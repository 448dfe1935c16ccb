//! Osprey's control plane: drains worker records, stores them in RocksDB, publishes them to
//! the outputs and live consumers, and serves the gRPC management API. It never touches
//! packets and never blocks a worker.
//!
//! ```text
//!  RecordSource per worker ─► ingest ─► store (ids, acknowledged) ─► events (the live stream)
//!   (seams: the data plane)     │                                     ├─► outputs::EveOutput
//!                               └ signature catalog                   ├─► api: alerts tail
//!                                                                      └─► incidents (correlation)
//!  api (gRPC, auth, one error → status mapping) ◄─ console (`osprey ctl`), metrics (/metrics)
//! ```
//!
//! Rooms, one folder or file per capability:
//! - [`ingest`]: the worker-facing stage. One [`ingest::RecordSource`] per worker (the
//!   appliance's drains the data plane's rings, tests and benches bring their own), one pinned
//!   thread that drains them, completes alerts from the ruleset's catalog, has the store write
//!   them in batches and only then publishes them.
//! - [`store`]: RocksDB with column families for alerts, indices, flows, rules and audit:
//!   the write path in `store/mod.rs`, queries and their iterators (`query.rs`), retention,
//!   rule history and the audit log in their own files; [`store::record`] is the stored form
//!   of an alert, [`store::posting`] the batch-level index postings.
//! - [`events`]: the live event stream, the one seam after storage. Ingest publishes each
//!   stored record once; every consumer subscribes with its own bounded queue and counters
//!   and chooses to drop (counted) or to wait when it is full, so a slow consumer never costs
//!   another one anything and can never make storage lose an alert.
//! - [`outputs`]: consumers that write records out: the EVE JSON file ([`outputs::eve`]).
//! - [`api`]: the tonic services (`osprey.v1.*`), [`api::auth`] (TLS, mTLS or bearer tokens,
//!   roles, audit) and the one mapping of [`error::Error`] to `tonic::Status`.
//! - [`blocks`]: the dynamic block list: entries in the store, published to every worker as
//!   an immutable table, expired by a task of its own.
//! - [`console`]: the `osprey ctl` client, one file per command group.
//! - [`metrics`]: Prometheus `/metrics`; [`health`]: each component ok or degraded, with why.
//! - [`web`]: the web console (`[console]`): pages, the REST API under `/api/v1` (the gRPC
//!   services called in-process: one authorization, paging and audit) and WebSocket streams.
//! - [`config`], [`model`] (the records stored and served), [`error`], [`seams`] (the traits
//!   the data plane and the rule compiler implement), [`server`] (starts and stops all of it).
//!
//! - [`incidents`]: ATT&CK mapping, the streaming correlator, scores and the workflow.
//! - [`intel`]: threat-intelligence feeds (files, TAXII 2.1, imports), stored, compiled and
//!   published to every worker; hits stored and turned into alerts.
//!
//! A capability that comes later gets a folder of its own beside these (threat intel,
//! incidents and correlation, analytics, the fleet) and, if it reacts to records, a
//! subscription to [`events`].
#![forbid(unsafe_code)]

pub mod analytics;
pub mod api;
pub mod blocks;
pub mod config;
pub mod console;
pub mod error;
pub mod events;
pub mod evidence;
pub mod health;
pub mod incidents;
pub mod ingest;
pub mod intel;
pub mod metrics;
pub mod model;
pub mod outputs;
pub mod playbooks;
pub mod reports;
pub mod seams;
pub mod server;
pub mod store;
pub mod web;

/// Generated protobuf and gRPC code for `osprey.v1`.
pub mod proto {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("osprey.v1");

    /// Encoded `FileDescriptorSet` of every `osprey.v1` proto, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("osprey_descriptor");
}
