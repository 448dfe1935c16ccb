//! Packet-level checks of a rule: protocol, addresses and ports (both orientations for `<>`),
//! `flow`, `dsize`, `stream_size` and the IP/TCP/ICMP header keywords.

use super::{InspectKind, PacketView};
use crate::decode::L4;
use rules::ast::Arrow;
use rules::ir::{self, CmpOp, HeaderMatch, Proto, StreamSide};
use vocab::Direction;

pub(super) fn in_ports(ps: &ir::PortSet, p: u16) -> bool {
    let i = ps.0.partition_point(|&(lo, _)| lo <= p);
    i > 0 && ps.0[i - 1].1 >= p
}

pub(super) fn in_addrs(s: &ir::IpSet, a: std::net::IpAddr) -> bool {
    match a {
        std::net::IpAddr::V4(v) => {
            let a = u32::from(v);
            let i = s.v4.partition_point(|&(lo, _)| lo <= a);
            i > 0 && s.v4[i - 1].1 >= a
        }
        std::net::IpAddr::V6(v) => {
            let a = u128::from(v);
            let i = s.v6.partition_point(|&(lo, _)| lo <= a);
            i > 0 && s.v6[i - 1].1 >= a
        }
    }
}

/// Protocol of the rule header against the packet.
fn proto_ok(p: Proto, l4: &L4, ip_proto: Option<u8>) -> bool {
    match p {
        Proto::Ip => true,
        Proto::Tcp | Proto::TcpPkt | Proto::TcpStream => matches!(l4, L4::Tcp(_)),
        Proto::Udp => matches!(l4, L4::Udp(_)),
        Proto::Icmp => matches!(l4, L4::Icmpv4(_) | L4::Icmpv6(_)),
        Proto::Icmpv4 => matches!(l4, L4::Icmpv4(_)),
        Proto::Icmpv6 => matches!(l4, L4::Icmpv6(_)),
        Proto::Sctp => ip_proto == Some(132),
        Proto::App(_) => matches!(l4, L4::Tcp(_) | L4::Udp(_)),
    }
}

fn flag_match(have: u8, want: u8, modifier: Option<char>) -> bool {
    match modifier {
        Some('+') => have & want == want,
        Some('*') => have & want != 0,
        Some('!') => have & want != want,
        _ => have == want,
    }
}

/// Checks everything about the packet itself.
pub fn header_ok(rule: &ir::Rule, view: &PacketView<'_>, kind: InspectKind) -> bool {
    let pkt = view.pkt;
    let ip = pkt.ip;
    if !proto_ok(rule.proto, &pkt.l4, ip.map(|i| i.proto)) {
        return false;
    }
    // Addresses and ports.
    let (sp, dp) = pkt.ports();
    let has_ports = matches!(pkt.l4, L4::Tcp(_) | L4::Udp(_));
    let ports = |a: u16, b: u16| {
        !has_ports || (in_ports(&rule.src_ports, a) && in_ports(&rule.dst_ports, b))
    };
    let (s, d) = (pkt.src_addr(), pkt.dst_addr());
    if ip.is_none() && !(rule.src.is_any() && rule.dst.is_any()) {
        return false;
    }
    let fwd = in_addrs(&rule.src, s) && in_addrs(&rule.dst, d) && ports(sp, dp);
    let ok = fwd
        || (rule.direction == Arrow::Both
            && in_addrs(&rule.src, d)
            && in_addrs(&rule.dst, s)
            && ports(dp, sp));
    if !ok {
        return false;
    }
    if let Some(f) = rule.flow {
        if let Some(want) = f.dir {
            if view.dir != Some(want) {
                return false;
            }
        }
        if let Some(est) = f.established {
            if view.dir.is_none() || view.established != est {
                return false;
            }
        }
        if let Some(st) = f.stream {
            if st != (kind == InspectKind::Stream) {
                return false;
            }
        }
    }
    rest_ok(rule, view, kind)
}

/// The packet keywords [`header_ok`] checks beyond protocol, addresses, ports and the `flow`
/// direction, state and stream options (those a [`super::gate::Gate`] covers): `flow`
/// fragment options, `dsize`, `stream_size` and the IP/TCP/ICMP header keywords.
pub fn rest_ok(rule: &ir::Rule, view: &PacketView<'_>, kind: InspectKind) -> bool {
    let pkt = view.pkt;
    let ip = pkt.ip;
    if let Some(fr) = rule.flow.and_then(|f| f.frag) {
        if fr != ip.is_some_and(|i| i.frag.is_fragment || pkt.reassembled) {
            return false;
        }
    }
    if let Some(ds) = rule.dsize {
        if kind != InspectKind::Packet || !ds.matches(pkt.payload.len() as u64) {
            return false;
        }
        // As in Suricata, only `<`, `<=` and `dsize:0` can hold on a packet without payload
        // (the others make the rule require one).
        let empty_ok = matches!(ds.op, CmpOp::Lt | CmpOp::Le) || (ds.op == CmpOp::Eq && ds.a == 0);
        if pkt.payload.is_empty() && !empty_ok {
            return false;
        }
    }
    if let Some(ss) = rule.stream_size {
        if view.dir.is_none() {
            return false;
        }
        let [c, sv] = view.stream_bytes;
        let ok = match ss.side {
            StreamSide::Client => ss.cmp.matches(c),
            StreamSide::Server => ss.cmp.matches(sv),
            StreamSide::Both => ss.cmp.matches(c) && ss.cmp.matches(sv),
            StreamSide::Either => ss.cmp.matches(c) || ss.cmp.matches(sv),
        };
        if !ok {
            return false;
        }
    }
    rule.header.iter().all(|h| keyword(h, view))
}

fn keyword(h: &HeaderMatch, view: &PacketView<'_>) -> bool {
    let pkt = view.pkt;
    let ip = pkt.ip;
    let icmp = match pkt.l4 {
        L4::Icmpv4(i) | L4::Icmpv6(i) => Some(i),
        _ => None,
    };
    let tcp = match pkt.l4 {
        L4::Tcp(t) => Some(t),
        _ => None,
    };
    match h {
        HeaderMatch::Ttl(c) => ip.is_some_and(|i| c.matches(u64::from(i.ttl))),
        HeaderMatch::IpProto(c) => ip.is_some_and(|i| c.matches(u64::from(i.proto))),
        HeaderMatch::Tos { negated, value } => ip.is_some_and(|i| (i.tos == *value) != *negated),
        HeaderMatch::Id(v) => ip.is_some_and(|i| i.version == 4 && i.id == u32::from(*v)),
        HeaderMatch::Sameip => ip.is_some_and(|i| i.src == i.dst),
        HeaderMatch::Fragoffset(c) => ip.is_some_and(|i| c.matches(u64::from(i.frag.offset / 8))),
        HeaderMatch::Fragbits(f) => ip.is_some_and(|i| {
            let have = u8::from(i.frag.more_fragments)
                | u8::from(i.frag.dont_fragment) << 1
                | u8::from(i.frag.reserved_bit) << 2;
            flag_match(have, f.bits, f.modifier)
        }),
        HeaderMatch::Ipopts(name) => {
            ip.is_some_and(|i| i.version == 4) && ipopts(pkt.ip_header, name)
        }
        HeaderMatch::Flags(f) => tcp.is_some_and(|t| {
            let have = (t.flags & 0xff) as u8 & !f.ignore;
            flag_match(have, f.set & !f.ignore, f.modifier)
        }),
        HeaderMatch::Seq(v) => tcp.is_some_and(|t| t.seq == *v),
        HeaderMatch::Ack(v) => tcp.is_some_and(|t| t.ack == *v),
        HeaderMatch::Window { negated, value } => {
            tcp.is_some_and(|t| (t.window == *value) != *negated)
        }
        HeaderMatch::Itype(c) => icmp.is_some_and(|i| c.matches(u64::from(i.kind))),
        HeaderMatch::Icode(c) => icmp.is_some_and(|i| c.matches(u64::from(i.code))),
        HeaderMatch::IcmpId(v) => icmp.is_some_and(|i| is_echo(pkt) && i.id == *v),
        HeaderMatch::IcmpSeq(v) => icmp.is_some_and(|i| is_echo(pkt) && i.seq == *v),
    }
}

/// `icmp_id`/`icmp_seq` only apply to echo-like messages.
fn is_echo(pkt: &crate::decode::Packet<'_>) -> bool {
    match pkt.l4 {
        L4::Icmpv4(i) => matches!(i.kind, 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18),
        L4::Icmpv6(i) => matches!(i.kind, 128 | 129),
        _ => false,
    }
}

/// IPv4 options present in the header (RFC 791 §3.1), bounded by the header length.
fn ipopts(hdr: &[u8], name: &str) -> bool {
    let want: u8 = match name {
        "eol" => 0,
        "nop" => 1,
        "rr" => 7,
        "ts" => 68,
        "sec" => 130,
        "esec" => 133,
        "lsrr" | "lsrre" => 131,
        "ssrr" => 137,
        "satid" => 136,
        "any" => 255,
        _ => return false,
    };
    let ihl = hdr.first().map_or(0, |b| usize::from(b & 0x0f) * 4);
    let opts = hdr.get(20..ihl.min(hdr.len())).unwrap_or(&[]);
    let mut i = 0;
    while i < opts.len() {
        let t = opts[i];
        if want == 255 || t == want {
            return true;
        }
        if t == 0 {
            break;
        }
        if t == 1 {
            i += 1;
            continue;
        }
        let len = usize::from(*opts.get(i + 1).unwrap_or(&0));
        if len < 2 {
            break;
        }
        i += len;
    }
    false
}

/// Direction helper for callers building views from a 5-tuple orientation.
pub fn dir_of(to_server: bool) -> Direction {
    if to_server {
        Direction::ToServer
    } else {
        Direction::ToClient
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_modifiers() {
        const S: u8 = 0x02;
        const A: u8 = 0x10;
        assert!(flag_match(S, S, None));
        assert!(!flag_match(S | A, S, None));
        assert!(flag_match(S | A, S, Some('+')));
        assert!(flag_match(A, S | A, Some('*')));
        assert!(flag_match(A, S, Some('!')));
        assert!(!flag_match(S, S, Some('!')));
    }

    #[test]
    fn ipv4_options() {
        let mut h = vec![0x46u8; 24];
        h[20..24].copy_from_slice(&[7, 3, 4, 0]); // record route, then EOL
        assert!(ipopts(&h, "rr"));
        assert!(ipopts(&h, "any"));
        assert!(!ipopts(&h, "ts"));
        assert!(!ipopts(&h[..20], "any"));
        // A zero length option stops the walk instead of looping.
        h[20..24].copy_from_slice(&[68, 0, 0, 0]);
        assert!(ipopts(&h, "ts"));
        assert!(!ipopts(&h, "rr"));
    }
}
