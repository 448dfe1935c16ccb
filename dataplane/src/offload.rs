//! What the NIC vouches for about a received frame, in a form that needs no DPDK: the receive
//! path (`dpdk`) fills it from an mbuf's flags and the decoder (`decode`) consumes it. It sits
//! below both so that neither depends on the other.

/// A NIC's checksum verdict for one layer of a received frame (DPDK's
/// `RTE_MBUF_F_RX_*_CKSUM_*` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HwCsum {
    /// The NIC did not check it: the decoder computes it.
    #[default]
    Unknown,
    /// Verified by the NIC (or the data's integrity vouched for, DPDK's `CKSUM_NONE`).
    Good,
    /// The NIC found it wrong.
    Bad,
}

/// What the NIC found for the outermost IPv4 header and the TCP/UDP segment right after it,
/// when the port offloads checksum validation. Only for untunnelled frames: on a tunnel the
/// flags may describe either layer, so the receive path passes [`HwChecksums::UNKNOWN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HwChecksums {
    /// IPv4 header.
    pub ip: HwCsum,
    /// TCP or UDP checksum.
    pub l4: HwCsum,
}

impl HwChecksums {
    /// Nothing offloaded: every checksum is computed.
    pub const UNKNOWN: HwChecksums = HwChecksums {
        ip: HwCsum::Unknown,
        l4: HwCsum::Unknown,
    };
}
