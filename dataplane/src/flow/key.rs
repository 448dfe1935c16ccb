//! Flow identity: the tuple a decoded packet carries, the direction-free key the table stores,
//! and the 64-bit flow id.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol numbers the flow layer gives special treatment.
pub mod proto {
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// The zone of a packet in VLAN `vlan` (its 12-bit id) inside a tunnel with id `tunnel` (VXLAN
/// VNI, GRE key; 0 when none): the VLAN in the low 12 bits, so that [`zone_vlan`] gives it back
/// for output, and the tunnel id folded into the 20 bits above.
#[inline]
pub const fn zone(vlan: u16, tunnel: u32) -> u32 {
    let folded = (tunnel ^ (tunnel >> 20)) & 0xf_ffff;
    (folded << 12) | (vlan as u32 & 0xfff)
}

/// The VLAN id a [`zone`] was made with (0: untagged).
#[inline]
pub const fn zone_vlan(zone: u32) -> u16 {
    (zone & 0xfff) as u16
}

/// A packet's flow tuple as the decoder sees it (source is this packet's sender).
///
/// `zone` separates identical tuples that live in different VLANs or tunnels (the glue puts
/// [`zone`] of the VLAN id and the VXLAN VNI or GRE key there; 0 when none). For ICMP the glue puts the echo id (or 0)
/// in both ports so that each echo session is its own flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowTuple {
    /// VLAN / tunnel id, 0 when untagged.
    pub zone: u32,
    /// IP protocol number.
    pub proto: u8,
    /// Sender address.
    pub src: IpAddr,
    /// Sender port.
    pub src_port: u16,
    /// Receiver address.
    pub dst: IpAddr,
    /// Receiver port.
    pub dst_port: u16,
}

impl FlowTuple {
    /// The same tuple seen from the other side.
    pub const fn reversed(&self) -> FlowTuple {
        FlowTuple {
            zone: self.zone,
            proto: self.proto,
            src: self.dst,
            src_port: self.dst_port,
            dst: self.src,
            dst_port: self.src_port,
        }
    }
}

/// Which way a packet travels relative to the flow's initiator (the client).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to server: the direction of the flow's first packet (or of the SYN).
    ToServer = 0,
    /// Server to client.
    ToClient = 1,
}

impl Direction {
    /// 0 for to-server, 1 for to-client: index into per-direction arrays.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }
    /// The opposite direction.
    #[inline]
    pub const fn other(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
}

/// Direction-free flow key: both directions of a flow map to the same key.
///
/// Endpoints are ordered so that `lo <= hi` by (address, port); the table remembers which side
/// is the client. Addresses are stored as 16 bytes (IPv4 as v4-mapped) with a family flag so that
/// an IPv4 flow never equals the v4-mapped IPv6 one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    lo_addr: [u8; 16],
    hi_addr: [u8; 16],
    lo_port: u16,
    hi_port: u16,
    zone: u32,
    proto: u8,
    v6: bool,
}

impl std::hash::Hash for FlowKey {
    // Few wide writes instead of the derived byte-slice writes: this runs for every packet.
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u128(u128::from_ne_bytes(self.lo_addr));
        h.write_u128(u128::from_ne_bytes(self.hi_addr));
        h.write_u64(
            (self.lo_port as u64) << 32
                | (self.hi_port as u64) << 16
                | (self.proto as u64) << 8
                | self.v6 as u64,
        );
        h.write_u32(self.zone);
    }
}

/// Which endpoint of a [`FlowKey`] sent a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The lower (address, port) endpoint.
    Lo,
    /// The higher (address, port) endpoint.
    Hi,
}

/// The address as a big-endian integer (IPv4 v4-mapped) and its family.
#[inline]
fn addr_bits(a: IpAddr) -> (u128, bool) {
    match a {
        IpAddr::V4(v4) => ((0xffff << 32) | v4.to_bits() as u128, false),
        IpAddr::V6(v6) => (v6.to_bits(), true),
    }
}

impl FlowKey {
    /// Normalizes a tuple; also says which endpoint sent the packet.
    #[inline]
    pub fn from_tuple(t: &FlowTuple) -> (FlowKey, Side) {
        // Integers, not byte arrays: array tuples compare byte by byte.
        let (s, v6) = addr_bits(t.src);
        let (d, _) = addr_bits(t.dst);
        let src_is_lo = (s, t.src_port) <= (d, t.dst_port);
        let (lo_addr, lo_port, hi_addr, hi_port, side) = if src_is_lo {
            (s, t.src_port, d, t.dst_port, Side::Lo)
        } else {
            (d, t.dst_port, s, t.src_port, Side::Hi)
        };
        (
            FlowKey {
                lo_addr: lo_addr.to_be_bytes(),
                hi_addr: hi_addr.to_be_bytes(),
                lo_port,
                hi_port,
                zone: t.zone,
                proto: t.proto,
                v6,
            },
            side,
        )
    }

    /// IP protocol number.
    pub const fn proto(&self) -> u8 {
        self.proto
    }

    /// The tuple with `client` as source.
    pub fn tuple_from(&self, client: Side) -> FlowTuple {
        let conv = |b: [u8; 16]| -> IpAddr {
            if self.v6 {
                IpAddr::V6(Ipv6Addr::from(b))
            } else {
                IpAddr::V4(Ipv4Addr::new(b[12], b[13], b[14], b[15]))
            }
        };
        let lo = (conv(self.lo_addr), self.lo_port);
        let hi = (conv(self.hi_addr), self.hi_port);
        let ((src, src_port), (dst, dst_port)) = match client {
            Side::Lo => (lo, hi),
            Side::Hi => (hi, lo),
        };
        FlowTuple {
            zone: self.zone,
            proto: self.proto,
            src,
            src_port,
            dst,
            dst_port,
        }
    }
}

/// A flow's id, unique per worker for the worker's lifetime.
///
/// Layout: worker id in bits 44..52, a per-worker counter in bits 0..44 (17.6 trillion flows
/// before it wraps). The value stays below 2^53 so JSON consumers that parse numbers as doubles
/// (as with Suricata's `flow_id`) read it exactly. Unlike Suricata's hash-derived id it is never
/// reused by a later flow with the same tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FlowId(pub u64);

impl FlowId {
    const COUNTER_BITS: u32 = 44;
    /// Builds the id of the `seq`-th flow of worker `worker`.
    pub const fn new(worker: u8, seq: u64) -> FlowId {
        FlowId(((worker as u64) << Self::COUNTER_BITS) | (seq & ((1 << Self::COUNTER_BITS) - 1)))
    }
    /// The worker that created this flow.
    pub const fn worker(self) -> u8 {
        (self.0 >> Self::COUNTER_BITS) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(src: &str, sp: u16, dst: &str, dp: u16) -> FlowTuple {
        FlowTuple {
            zone: 0,
            proto: proto::TCP,
            src: src.parse().unwrap(),
            src_port: sp,
            dst: dst.parse().unwrap(),
            dst_port: dp,
        }
    }

    #[test]
    fn both_directions_share_a_key() {
        let a = t("10.0.0.1", 1234, "10.0.0.2", 80);
        let (k1, s1) = FlowKey::from_tuple(&a);
        let (k2, s2) = FlowKey::from_tuple(&a.reversed());
        assert_eq!(k1, k2);
        assert_ne!(s1, s2);
        assert_eq!(k1.tuple_from(s1), a);
        assert_eq!(k1.tuple_from(s2), a.reversed());
    }

    #[test]
    fn families_and_zones_are_distinct() {
        let v4 = t("10.0.0.1", 1, "10.0.0.2", 2);
        let v6 = t("::ffff:10.0.0.1", 1, "::ffff:10.0.0.2", 2);
        assert_ne!(FlowKey::from_tuple(&v4).0, FlowKey::from_tuple(&v6).0);
        let mut z = v4;
        z.zone = 7;
        assert_ne!(FlowKey::from_tuple(&v4).0, FlowKey::from_tuple(&z).0);
        let (k6, s6) = FlowKey::from_tuple(&v6);
        assert_eq!(k6.tuple_from(s6), v6);
    }

    #[test]
    fn zones_keep_the_vlan_and_separate_tunnels() {
        assert_eq!(zone(0, 0), 0);
        for vlan in [0, 1, 23, 4095] {
            for vni in [0, 1, 0xab_cdef, 0xff_ffff, u32::MAX] {
                assert_eq!(zone_vlan(zone(vlan, vni)), vlan);
            }
        }
        // VXLAN's 24-bit VNIs are kept apart (they fold onto 20 bits only above 2^20).
        assert_ne!(zone(5, 1), zone(5, 2));
        assert_ne!(zone(5, 0), zone(5, 0x10_0000));
        assert_ne!(zone(5, 0), zone(6, 0));
    }

    #[test]
    fn same_address_different_ports() {
        let a = t("10.0.0.1", 2000, "10.0.0.1", 1000);
        let (k1, s1) = FlowKey::from_tuple(&a);
        let (k2, s2) = FlowKey::from_tuple(&a.reversed());
        assert_eq!(k1, k2);
        assert_eq!(s1, Side::Hi);
        assert_eq!(s2, Side::Lo);
    }

    #[test]
    fn flow_id_layout() {
        let id = FlowId::new(3, 42);
        assert_eq!(id.worker(), 3);
        assert!(FlowId::new(255, u64::MAX).0 < 1 << 53);
    }
}
