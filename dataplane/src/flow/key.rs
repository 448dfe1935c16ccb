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

/// Which way a packet travels relative to the flow's initiator (the one type the workspace uses).
pub use vocab::Direction;

/// Direction-free flow key: both directions of a flow map to the same key.
///
/// Endpoints are ordered so that `lo <= hi` by (address, port); the table remembers which side
/// is the client. Addresses are stored as 128-bit numbers (IPv4 as v4-mapped) with a family
/// flag so that an IPv4 flow never equals the v4-mapped IPv6 one.
///
/// Six 64-bit words, built, hashed and compared as words: every packet builds one, hashes it
/// and compares it with a stored one, and byte arrays cost byte swaps and byte-wise work there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    /// Lower endpoint's address, high and low 64 bits.
    lo: [u64; 2],
    /// Higher endpoint's address, high and low 64 bits.
    hi: [u64; 2],
    /// `lo_port << 48 | hi_port << 32 | zone`.
    ports_zone: u64,
    /// `v6 << 8 | proto`.
    proto_family: u64,
}

impl std::hash::Hash for FlowKey {
    // Three wide writes (one mixing round each) instead of the derived per-field writes.
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let pair = |w: [u64; 2]| (w[0] as u128) << 64 | w[1] as u128;
        h.write_u128(pair(self.lo));
        h.write_u128(pair(self.hi));
        h.write_u128(pair([self.ports_zone, self.proto_family]));
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

/// The address as a big-endian number in two words (IPv4 v4-mapped) and its family.
#[inline]
fn addr_words(a: IpAddr) -> ([u64; 2], bool) {
    match a {
        IpAddr::V4(v4) => ([0, 0xffff << 32 | v4.to_bits() as u64], false),
        IpAddr::V6(v6) => {
            let b = v6.to_bits();
            ([(b >> 64) as u64, b as u64], true)
        }
    }
}

impl FlowKey {
    /// Normalizes a tuple; also says which endpoint sent the packet.
    #[inline]
    pub fn from_tuple(t: &FlowTuple) -> (FlowKey, Side) {
        let (s, v6) = addr_words(t.src);
        let (d, _) = addr_words(t.dst);
        let src_is_lo = (s, t.src_port) <= (d, t.dst_port);
        let (lo, lo_port, hi, hi_port, side) = if src_is_lo {
            (s, t.src_port, d, t.dst_port, Side::Lo)
        } else {
            (d, t.dst_port, s, t.src_port, Side::Hi)
        };
        (
            FlowKey {
                lo,
                hi,
                ports_zone: (lo_port as u64) << 48 | (hi_port as u64) << 32 | t.zone as u64,
                proto_family: (v6 as u64) << 8 | t.proto as u64,
            },
            side,
        )
    }

    /// IP protocol number.
    #[inline]
    pub const fn proto(&self) -> u8 {
        self.proto_family as u8
    }

    /// The tuple with `client` as source.
    pub fn tuple_from(&self, client: Side) -> FlowTuple {
        let v6 = self.proto_family >> 8 != 0;
        let conv = |w: [u64; 2]| -> IpAddr {
            if v6 {
                IpAddr::V6(Ipv6Addr::from_bits((w[0] as u128) << 64 | w[1] as u128))
            } else {
                IpAddr::V4(Ipv4Addr::from_bits(w[1] as u32))
            }
        };
        let lo = (conv(self.lo), (self.ports_zone >> 48) as u16);
        let hi = (conv(self.hi), (self.ports_zone >> 32) as u16);
        let ((src, src_port), (dst, dst_port)) = match client {
            Side::Lo => (lo, hi),
            Side::Hi => (hi, lo),
        };
        FlowTuple {
            zone: self.ports_zone as u32,
            proto: self.proto(),
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

/// Refers to a live flow; stale handles (the flow ended) are detected by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowHandle {
    slot: u32,
    /// The flow's id.
    pub id: FlowId,
}

impl FlowHandle {
    /// The handle of the flow `id` in table slot `slot` (only the table hands them out).
    #[inline]
    pub(super) const fn new(slot: u32, id: FlowId) -> FlowHandle {
        FlowHandle { slot, id }
    }

    /// The flow's dense slot in the table: below [`crate::flow::FlowTable::max_flows`], reused by a later
    /// flow once this one ends ([`crate::flow::StreamSink::flow_ended`]). State kept by slot
    /// beside the table is found with it in one index, no lookup by id.
    #[inline]
    pub fn slot(self) -> usize {
        self.slot as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    fn addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from_bits(a))),
            any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from_bits(a))),
            // Few distinct values, so that equal addresses and ports come up.
            (0u32..3).prop_map(|a| IpAddr::V4(Ipv4Addr::from_bits(a))),
        ]
    }

    proptest! {
        #[test]
        fn keys_round_trip_and_order_endpoints(
            zone in any::<u32>(),
            proto in any::<u8>(),
            src in addr(),
            dst in addr(),
            src_port in prop_oneof![any::<u16>(), 0u16..3],
            dst_port in prop_oneof![any::<u16>(), 0u16..3],
        ) {
            // Both endpoints of one family, as a decoded packet has them.
            let dst = match (src, dst) {
                (IpAddr::V4(_), IpAddr::V6(d)) => IpAddr::V4(Ipv4Addr::from_bits(d.to_bits() as u32)),
                (IpAddr::V6(_), IpAddr::V4(d)) => IpAddr::V6(d.to_ipv6_mapped()),
                _ => dst,
            };
            let a = FlowTuple { zone, proto, src, src_port, dst, dst_port };
            let (k, side) = FlowKey::from_tuple(&a);
            let (kr, side_r) = FlowKey::from_tuple(&a.reversed());
            prop_assert_eq!(k, kr);
            prop_assert_eq!(k.proto(), proto);
            prop_assert_eq!(k.tuple_from(side), a);
            prop_assert_eq!(k.tuple_from(side_r), a.reversed());
            // The lower endpoint is the smaller (address as a number, port).
            let num = |ip: IpAddr| match ip {
                IpAddr::V4(v4) => 0xffff_u128 << 32 | v4.to_bits() as u128,
                IpAddr::V6(v6) => v6.to_bits(),
            };
            let src_lo = (num(src), src_port) <= (num(dst), dst_port);
            prop_assert_eq!(side == Side::Lo, src_lo);
            if (src, src_port) != (dst, dst_port) {
                prop_assert_ne!(side, side_r);
            }
        }
    }

    #[test]
    fn flow_id_layout() {
        let id = FlowId::new(3, 42);
        assert_eq!(id.worker(), 3);
        assert!(FlowId::new(255, u64::MAX).0 < 1 << 53);
    }
}
