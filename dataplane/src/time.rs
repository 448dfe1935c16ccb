//! Packet time. Every sans-I/O function takes `now` as a [`Timestamp`]: the capture's timestamp
//! in replay, the TSC-derived wall clock in live mode. Nothing below `io` reads a clock.

/// Nanoseconds since the Unix epoch.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Builds a timestamp from seconds and microseconds (pcap's classic resolution).
    pub const fn from_micros(secs: u64, usecs: u32) -> Self {
        Timestamp(secs * 1_000_000_000 + usecs as u64 * 1_000)
    }
    /// Whole seconds since the epoch.
    pub const fn secs(self) -> u64 {
        self.0 / 1_000_000_000
    }
    /// Nanoseconds elapsed since `earlier`, zero if `earlier` is later (captures can step back).
    pub const fn saturating_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
    /// This time plus `secs` seconds.
    pub const fn plus_secs(self, secs: u64) -> Self {
        Timestamp(self.0 + secs * 1_000_000_000)
    }
}
