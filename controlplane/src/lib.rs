//! Osprey's control plane: drains worker records, stores them in RocksDB, writes outputs and
//! serves the gRPC management API. It never touches packets and never blocks a worker.
#![forbid(unsafe_code)]
