//! Zero-copy typed views of protocol headers, one module per protocol.
//!
//! Every view wraps a byte buffer (`T: AsRef<[u8]>`) and follows one shape:
//! `new_unchecked` wraps without checking, `check_len` verifies that every fixed field (and, where
//! the header carries its own length, the whole header) is inside the buffer, and `new_checked`
//! does both. Field offsets live in a private `field` module per protocol. After a successful
//! `check_len` no getter panics; getters that read past the fixed part return `Option` or an
//! empty slice instead of indexing blindly, so a view over hostile bytes is always safe.
//!
//! Views only describe bytes; deciding what a malformed header *means* (which decoder event,
//! whether to keep going) is the job of [`crate::decode`]. Unknown protocol numbers are kept as
//! plain integers and never rejected here.

pub mod arp;
pub mod checksum;
pub mod erspan;
pub mod ethernet;
pub mod geneve;
pub mod gre;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod mpls;
pub mod nsh;
pub mod null;
pub mod pppoe;
pub mod sll;
pub mod tcp;
pub mod udp;
pub mod vlan;
pub mod vxlan;

/// A byte range inside a header.
pub(crate) type Field = core::ops::Range<usize>;

/// Why a view could not be built over a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer is shorter than the header needs.
    #[error("truncated header: need {needed} bytes, have {available}")]
    Truncated {
        /// Bytes the header needs.
        needed: usize,
        /// Bytes the buffer holds.
        available: usize,
    },
    /// A length or version field makes the header impossible to interpret.
    #[error("malformed header: {0}")]
    Malformed(&'static str),
}

/// Result of wire-level checks.
pub type Result<T> = core::result::Result<T, WireError>;

/// Fails with [`WireError::Truncated`] unless `buf` holds at least `needed` bytes.
#[inline]
pub(crate) fn need(buf: &[u8], needed: usize) -> Result<()> {
    if buf.len() < needed {
        Err(WireError::Truncated {
            needed,
            available: buf.len(),
        })
    } else {
        Ok(())
    }
}

/// Big-endian u16 at `off`; 0 when out of range (only reached on unchecked views).
#[inline]
pub(crate) fn be16(buf: &[u8], off: usize) -> u16 {
    match buf.get(off..off + 2) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]),
        None => 0,
    }
}

/// Big-endian u32 at `off`; 0 when out of range (only reached on unchecked views).
#[inline]
pub(crate) fn be32(buf: &[u8], off: usize) -> u32 {
    match buf.get(off..off + 4) {
        Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

/// Byte at `off`; 0 when out of range (only reached on unchecked views).
#[inline]
pub(crate) fn byte(buf: &[u8], off: usize) -> u8 {
    buf.get(off).copied().unwrap_or(0)
}

/// Fixed-size array at `off`; zeroes when out of range (only reached on unchecked views).
#[inline]
pub(crate) fn array<const N: usize>(buf: &[u8], off: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(b) = buf.get(off..off + N) {
        out.copy_from_slice(b);
    }
    out
}

/// Sub-slice `from..` clamped to the buffer.
#[inline]
pub(crate) fn tail(buf: &[u8], from: usize) -> &[u8] {
    buf.get(from..).unwrap_or(&[])
}

/// Sub-slice `from..to` clamped to the buffer.
#[inline]
pub(crate) fn slice(buf: &[u8], from: usize, to: usize) -> &[u8] {
    let to = to.min(buf.len());
    buf.get(from..to).unwrap_or(&[])
}

/// EtherType values the decoder understands (IEEE registry).
pub mod ethertype {
    /// Internet Protocol version 4.
    pub const IPV4: u16 = 0x0800;
    /// Address Resolution Protocol.
    pub const ARP: u16 = 0x0806;
    /// IEEE 802.1Q customer VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// IEEE 802.1ad service VLAN tag (QinQ outer tag).
    pub const QINQ: u16 = 0x88a8;
    /// Pre-standard QinQ tag used by some switches.
    pub const QINQ_OLD: u16 = 0x9100;
    /// Internet Protocol version 6.
    pub const IPV6: u16 = 0x86dd;
    /// MPLS unicast.
    pub const MPLS_UNICAST: u16 = 0x8847;
    /// MPLS multicast.
    pub const MPLS_MULTICAST: u16 = 0x8848;
    /// PPPoE discovery stage.
    pub const PPPOE_DISCOVERY: u16 = 0x8863;
    /// PPPoE session stage.
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// Transparent Ethernet bridging (Ethernet inside GRE).
    pub const TEB: u16 = 0x6558;
    /// Network Service Header (RFC 8300).
    pub const NSH: u16 = 0x894f;
}

/// IP protocol numbers the decoder understands (IANA "Assigned Internet Protocol Numbers").
pub mod ipproto {
    /// IPv6 hop-by-hop options.
    pub const HOPOPTS: u8 = 0;
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// IPv4 encapsulated in IP.
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 encapsulated in IP.
    pub const IPV6: u8 = 41;
    /// IPv6 routing header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = 44;
    /// Generic Routing Encapsulation.
    pub const GRE: u8 = 47;
    /// Encapsulating Security Payload.
    pub const ESP: u8 = 50;
    /// Authentication Header.
    pub const AH: u8 = 51;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 "no next header".
    pub const NONE: u8 = 59;
    /// IPv6 destination options.
    pub const DSTOPTS: u8 = 60;
    /// SCTP.
    pub const SCTP: u8 = 132;
    /// IPv6 mobility header.
    pub const MOBILITY: u8 = 135;
    /// Host Identity Protocol.
    pub const HIP: u8 = 139;
    /// Shim6.
    pub const SHIM6: u8 = 140;
}
