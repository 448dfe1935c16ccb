//! Osprey's shared vocabulary: each idea that more than one crate speaks about is defined here
//! once, at the bottom of the workspace, and used by `rules`, `dataplane`, `controlplane` and the
//! binary alike.
//!
//! - [`Direction`]: which way a packet or record travels relative to the flow's initiator.
//! - [`AlertRecord`]: the alert a worker hands to the control plane (and why an alert has
//!   two other shapes, one on each side).
//! - [`AppProto`]: application-layer protocols, with the one table of their Suricata names.
//! - [`block`]: block-list entries (networks by side, 5-tuples, origins) and their text.
//! - [`proto`]: IANA names of IP protocol numbers, spelled as Suricata writes them in EVE.
//! - [`calendar`]: days since the epoch to a civil date, and EVE's timestamp spelling.
//! - [`testing`]: where tests and benches find the shared material outside the repository, and
//!   what they do when it is missing (fail under `CI`, otherwise say so).
//! - [`eve`]: the one writer of EVE JSON records, for the workers and the control plane.
//! - [`flow`]: flow features a worker measures for the analytics models.
//!
//! Nothing here allocates on a hot path, reads the clock or does I/O ([`testing`] aside, which
//! only tests and benches call).
#![forbid(unsafe_code)]

pub mod alert;
pub mod app_proto;
pub mod block;
pub mod calendar;
pub mod direction;
pub mod eve;
pub mod flow;
pub mod proto;
pub mod testing;

pub use alert::AlertRecord;
pub use app_proto::AppProto;
pub use direction::Direction;
pub use flow::FlowFeatures;
