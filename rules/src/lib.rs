//! Suricata-compatible rule language.
//!
//! A small compiler: text → AST with spans ([`Display`](std::fmt::Display) prints it back) →
//! validated keyword semantics → compiled rule groups with Hyperscan databases that the data
//! plane's workers run. Nothing here depends on DPDK.
#![forbid(unsafe_code)]
