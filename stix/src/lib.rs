//! Threat intelligence as Osprey reads it, independent of where it is matched or stored:
//!
//! - [`object`]: STIX 2.1 objects and bundles (unknown properties kept);
//! - [`pattern`]: the STIX patterning language, parsed and printed back;
//! - [`observable`]: what a pattern asks a worker to look up (addresses, domains, URLs,
//!   hashes, TLS fingerprints with port and side constraints), or why it cannot be matched;
//! - [`list`]: plain lists, Suricata datasets and IP reputation files, read as indicators;
//! - [`set`]: indicators from many sources, compiled with their context into what the
//!   workers' tables are built from.
//!
//! The data plane builds its tables from [`set::Compiled`]; the control plane stores and
//! serves the objects.

#![forbid(unsafe_code)]

pub mod list;
pub mod object;
pub mod observable;
pub mod pattern;
pub mod set;

pub use object::{Bundle, Indicator, Object};
pub use observable::{HashAlg, Match, Observable, Prefix, Side, Unsupported};
pub use set::{Compiled, IndicatorInfo, IntelSet, Related, Report};
