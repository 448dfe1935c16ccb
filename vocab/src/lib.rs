//! Osprey's shared vocabulary: each idea that more than one crate speaks about is defined here
//! once, at the bottom of the workspace, and used by `rules`, `dataplane`, `controlplane` and the
//! binary alike.
//!
//! - [`Direction`]: which way a packet or record travels relative to the flow's initiator.
//! - [`proto`]: IANA names of IP protocol numbers, spelled as Suricata writes them in EVE.
//! - [`calendar`]: days since the epoch to a civil date, and EVE's timestamp spelling.
//! - [`eve`]: the one writer of EVE JSON records, for the workers and the control plane.
//!
//! Nothing here allocates on a hot path, reads the clock or does I/O.
#![forbid(unsafe_code)]

pub mod calendar;
pub mod direction;
pub mod eve;
pub mod proto;

pub use direction::Direction;
