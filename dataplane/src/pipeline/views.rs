//! Packets as an inspection sees them when no packet or one of the other direction triggers it:
//! pseudo packets at flow end, packets turned around.

use crate::decode::{IpInfo, LinkType, Packet, TcpInfo, UdpInfo, L4};
use crate::flow::{proto, FlowTuple};

/// True when `p` travels in `tuple`'s direction (sender = tuple source).
pub(super) fn sent_by(p: &Packet<'_>, tuple: &FlowTuple) -> bool {
    p.src_addr() == tuple.src && p.ports().0 == tuple.src_port
}

/// A packet without bytes carrying `tuple`'s addresses and ports (sender first), for
/// inspections that no packet triggers (flow end).
pub(super) fn pseudo_packet(tuple: &FlowTuple) -> Packet<'static> {
    let mut p = Packet::new(LinkType::Raw, &[]);
    p.ip = Some(IpInfo {
        version: if tuple.src.is_ipv4() { 4 } else { 6 },
        src: tuple.src,
        dst: tuple.dst,
        proto: tuple.proto,
        ttl: 0,
        tos: 0,
        id: 0,
        frag: Default::default(),
        options_present: false,
        total_len: 0,
        flow_label: 0,
    });
    p.l4 = match tuple.proto {
        proto::TCP => L4::Tcp(TcpInfo {
            src_port: tuple.src_port,
            dst_port: tuple.dst_port,
            seq: 0,
            ack: 0,
            flags: 0x10,
            window: 0,
            header_len: 20,
            urgent: 0,
            options: Default::default(),
        }),
        proto::UDP => L4::Udp(UdpInfo {
            src_port: tuple.src_port,
            dst_port: tuple.dst_port,
            len: 8,
        }),
        other => L4::Other(other),
    };
    p
}

/// `pkt` as seen from the other side: addresses and ports swapped, no payload. Used when a
/// packet completes data of the opposite direction (an acknowledgement in IDS mode): the
/// inspection of that data sees the direction's own orientation, as rule headers expect.
pub(super) fn turned<'p>(pkt: &Packet<'p>) -> Packet<'p> {
    let mut p = *pkt;
    if let Some(ip) = p.ip.as_mut() {
        std::mem::swap(&mut ip.src, &mut ip.dst);
    }
    match &mut p.l4 {
        L4::Tcp(t) => std::mem::swap(&mut t.src_port, &mut t.dst_port),
        L4::Udp(u) => std::mem::swap(&mut u.src_port, &mut u.dst_port),
        _ => {}
    }
    p.payload = &[];
    p
}

/// The ICMP type and code of an ICMP or ICMPv6 packet.
pub(super) fn icmp_of(pkt: &Packet<'_>) -> Option<[u8; 2]> {
    match pkt.l4 {
        L4::Icmpv4(i) | L4::Icmpv6(i) => Some([i.kind, i.code]),
        _ => None,
    }
}
