//! Answers to rejected packets, built as bytes (sans-I/O): a TCP RST for a TCP packet, an
//! ICMP (RFC 792) or ICMPv6 (RFC 4443 §3.1) port unreachable otherwise, as Suricata's
//! `reject` sends them.
//!
//! The answer keeps the frame's link header (Ethernet addresses swapped when it goes back
//! to the sender, VLAN tags kept as they are) and takes its numbers from the rejected packet:
//!
//! ```text
//! to the sender:   RST|ACK  seq = SEG.ACK (0 without ACK)  ack = SEG.SEQ + SEG.LEN
//! to the receiver: RST|ACK  seq = SEG.SEQ + SEG.LEN        ack = SEG.ACK
//! ```
//!
//! (RFC 793 §3.4, "Reset Generation"; SEG.LEN counts SYN and FIN.) An ICMP unreachable quotes
//! the offending IP header and the first 8 bytes after it (RFC 792; RFC 4443 asks for as much
//! as fits, the same quote is used for both). ICMP errors are never answered with ICMP errors
//! (RFC 1122 §3.2.2).

use crate::decode::LinkType;
use crate::wire::checksum;

/// VLAN tags an answered frame may carry (QinQ).
pub const MAX_TAGS: usize = 2;

/// Largest answer: an Ethernet header with [`MAX_TAGS`] VLAN tags, then IPv4 and ICMP
/// quoting an IPv4 header with options (60 bytes) plus 8, or IPv6 and ICMPv6 quoting IPv6.
pub const MAX_REPLY: usize = 14 + 4 * MAX_TAGS + 20 + 8 + 60 + 8;

/// Which side of the rejected packet an answer goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The packet's sender (`reject`, `rejectsrc`, `rejectboth`).
    Src,
    /// The packet's receiver (`rejectdst`, `rejectboth`).
    Dst,
}

/// What was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// A TCP RST.
    TcpRst,
    /// An ICMP or ICMPv6 port unreachable (the packet was not TCP).
    IcmpUnreachable,
}

/// Why a rejected packet gets no answer; each is counted (`reject.<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RejectError {
    /// The frame ends before the headers an answer is built from.
    #[error("too short to answer")]
    TooShort,
    /// Neither IPv4 nor IPv6 after the link header.
    #[error("not IP")]
    NotIp,
    /// A link type without an Ethernet or raw IP header.
    #[error("unsupported link type")]
    UnsupportedLink,
    /// An ICMP error, which is never answered with another.
    #[error("an ICMP error")]
    IcmpError,
    /// More than [`MAX_TAGS`] VLAN tags.
    #[error("more than {MAX_TAGS} VLAN tags")]
    TooManyTags,
}

impl RejectError {
    /// Counter name.
    pub fn counter(self) -> &'static str {
        match self {
            RejectError::TooShort => "reject.too_short",
            RejectError::NotIp => "reject.not_ip",
            RejectError::UnsupportedLink => "reject.unsupported_link",
            RejectError::IcmpError => "reject.icmp_error",
            RejectError::TooManyTags => "reject.too_many_tags",
        }
    }
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const VLAN_TAGS: [u16; 3] = [0x8100, 0x88a8, 0x9100];
const TCP: u8 = 6;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;
const TTL: u8 = 64;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;
const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
/// Bytes of the offending datagram quoted after its IP header.
const QUOTE: usize = 8;

/// The rejected packet's layers, as offsets into the frame.
struct Parsed<'a> {
    frame: &'a [u8],
    /// Link header length (Ethernet with its VLAN tags; 0 for raw IP).
    l2: usize,
    v6: bool,
    /// IP header length (IPv6: the fixed 40 bytes).
    ihl: usize,
    proto: u8,
    /// Bytes of the transport layer by the IP length, within the frame.
    l4_len: usize,
    /// A later fragment (no transport header).
    later_fragment: bool,
}

impl<'a> Parsed<'a> {
    fn ip(&self) -> &'a [u8] {
        &self.frame[self.l2..]
    }
    fn l4(&self) -> &'a [u8] {
        &self.ip()[self.ihl..self.ihl + self.l4_len]
    }
    fn addrs(&self) -> (&'a [u8], &'a [u8]) {
        let ip = self.ip();
        if self.v6 {
            (&ip[8..24], &ip[24..40])
        } else {
            (&ip[12..16], &ip[16..20])
        }
    }
}

fn parse(link: LinkType, frame: &[u8]) -> Result<Parsed<'_>, RejectError> {
    let (l2, v6) = match link {
        LinkType::Ethernet => ethernet(frame)?,
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => {
            let v = frame.first().ok_or(RejectError::TooShort)? >> 4;
            match v {
                4 => (0, false),
                6 => (0, true),
                _ => return Err(RejectError::NotIp),
            }
        }
        _ => return Err(RejectError::UnsupportedLink),
    };
    let ip = &frame[l2..];
    let (ihl, proto, total, later_fragment) = if v6 {
        if ip.len() < 40 || ip[0] >> 4 != 6 {
            return Err(RejectError::TooShort);
        }
        let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
        (40, ip[6], 40 + plen, false)
    } else {
        if ip.len() < 20 || ip[0] >> 4 != 4 {
            return Err(RejectError::TooShort);
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let frag_off = u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff;
        if ihl < 20 || ip.len() < ihl {
            return Err(RejectError::TooShort);
        }
        (ihl, ip[9], total.max(ihl), frag_off != 0)
    };
    // Ethernet padding is not part of the datagram; a cut frame keeps what was captured.
    let l4_len = total.min(ip.len()) - ihl;
    Ok(Parsed {
        frame,
        l2,
        v6,
        ihl,
        proto,
        l4_len,
        later_fragment,
    })
}

/// The Ethernet header's length with its VLAN tags, and whether IPv6 follows.
fn ethernet(frame: &[u8]) -> Result<(usize, bool), RejectError> {
    let mut off = 12;
    loop {
        let t = frame.get(off..off + 2).ok_or(RejectError::TooShort)?;
        let ty = u16::from_be_bytes([t[0], t[1]]);
        if VLAN_TAGS.contains(&ty) {
            if off >= 12 + 4 * MAX_TAGS {
                return Err(RejectError::TooManyTags);
            }
            off += 4;
            continue;
        }
        return match ty {
            ETHERTYPE_IPV4 => Ok((off + 2, false)),
            ETHERTYPE_IPV6 => Ok((off + 2, true)),
            _ => Err(RejectError::NotIp),
        };
    }
}

/// Builds the answer to `frame` (of link type `link`) for `side` into `out`: its length and
/// kind, or why there is none.
pub fn build(
    link: LinkType,
    frame: &[u8],
    side: Side,
    out: &mut [u8; MAX_REPLY],
) -> Result<(usize, ReplyKind), RejectError> {
    let p = parse(link, frame)?;
    if p.proto == TCP && !p.later_fragment {
        let n = tcp_rst(&p, side, out)?;
        return Ok((n, ReplyKind::TcpRst));
    }
    let n = icmp_unreachable(&p, side, out)?;
    Ok((n, ReplyKind::IcmpUnreachable))
}

/// Copies the link header, swapping the Ethernet addresses for an answer to the sender.
fn link_header(p: &Parsed<'_>, side: Side, out: &mut [u8]) {
    out[..p.l2].copy_from_slice(&p.frame[..p.l2]);
    if p.l2 >= 14 && side == Side::Src {
        out[0..6].copy_from_slice(&p.frame[6..12]);
        out[6..12].copy_from_slice(&p.frame[0..6]);
    }
}

/// Writes an IP header for `payload_len` bytes of protocol `proto` from `src` to `dst` at
/// `out[..]`; returns its length. The IPv4 header checksum is filled in.
fn ip_header(
    v6: bool,
    src: &[u8],
    dst: &[u8],
    proto: u8,
    payload_len: usize,
    out: &mut [u8],
) -> usize {
    if v6 {
        out[..40].fill(0);
        out[0] = 0x60;
        out[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
        out[6] = proto;
        out[7] = TTL;
        out[8..24].copy_from_slice(src);
        out[24..40].copy_from_slice(dst);
        40
    } else {
        out[..20].fill(0);
        out[0] = 0x45;
        out[2..4].copy_from_slice(&((20 + payload_len) as u16).to_be_bytes());
        out[8] = TTL;
        out[9] = proto;
        out[12..16].copy_from_slice(src);
        out[16..20].copy_from_slice(dst);
        let c = checksum::checksum(&out[..20]);
        out[10..12].copy_from_slice(&c.to_be_bytes());
        20
    }
}

/// The pseudo-header sum of an answer.
fn pseudo(v6: bool, src: &[u8], dst: &[u8], proto: u8, len: usize) -> u64 {
    if v6 {
        let (mut s, mut d) = ([0u8; 16], [0u8; 16]);
        s.copy_from_slice(src);
        d.copy_from_slice(dst);
        checksum::pseudo_v6(s, d, proto, len as u32)
    } else {
        let (mut s, mut d) = ([0u8; 4], [0u8; 4]);
        s.copy_from_slice(src);
        d.copy_from_slice(dst);
        checksum::pseudo_v4(s, d, proto, len as u32)
    }
}

/// A RST for TCP packet `p`, to `side`.
fn tcp_rst(p: &Parsed<'_>, side: Side, out: &mut [u8; MAX_REPLY]) -> Result<usize, RejectError> {
    let t = p.l4();
    if t.len() < 20 {
        return Err(RejectError::TooShort);
    }
    let sport = [t[0], t[1]];
    let dport = [t[2], t[3]];
    let seq = u32::from_be_bytes([t[4], t[5], t[6], t[7]]);
    let ack = u32::from_be_bytes([t[8], t[9], t[10], t[11]]);
    let doff = usize::from(t[12] >> 4) * 4;
    let flags = t[13];
    let data = t.len().saturating_sub(doff.max(20)) as u32;
    let seg_len = data + u32::from(flags & SYN != 0) + u32::from(flags & FIN != 0);
    let (src, dst) = p.addrs();
    let (from, to, ports, seq_out, ack_out) = match side {
        Side::Src => {
            let s = if flags & ACK != 0 { ack } else { 0 };
            (dst, src, (dport, sport), s, seq.wrapping_add(seg_len))
        }
        Side::Dst => (src, dst, (sport, dport), seq.wrapping_add(seg_len), ack),
    };
    link_header(p, side, out);
    let ip_at = p.l2;
    let ip_len = ip_header(p.v6, from, to, TCP, 20, &mut out[ip_at..]);
    let th = &mut out[ip_at + ip_len..ip_at + ip_len + 20];
    th.fill(0);
    th[0..2].copy_from_slice(&ports.0);
    th[2..4].copy_from_slice(&ports.1);
    th[4..8].copy_from_slice(&seq_out.to_be_bytes());
    th[8..12].copy_from_slice(&ack_out.to_be_bytes());
    th[12] = 5 << 4;
    th[13] = RST | ACK;
    let c = checksum::compute_with(pseudo(p.v6, from, to, TCP, 20), th);
    th[16..18].copy_from_slice(&c.to_be_bytes());
    Ok(ip_at + ip_len + 20)
}

/// True when `p` is an ICMP error (never answered with another).
fn is_icmp_error(p: &Parsed<'_>) -> bool {
    let Some(&ty) = p.l4().first() else {
        return false;
    };
    match (p.v6, p.proto) {
        (false, ICMP) => matches!(ty, 3 | 4 | 5 | 11 | 12),
        (true, ICMPV6) => ty < 128,
        _ => false,
    }
}

/// An ICMP/ICMPv6 port unreachable about `p`, to `side`.
fn icmp_unreachable(
    p: &Parsed<'_>,
    side: Side,
    out: &mut [u8; MAX_REPLY],
) -> Result<usize, RejectError> {
    if is_icmp_error(p) {
        return Err(RejectError::IcmpError);
    }
    let quote_len = p.ihl + QUOTE;
    let ip = p.ip();
    if ip.len() < quote_len {
        return Err(RejectError::TooShort);
    }
    let quote = &ip[..quote_len];
    let (src, dst) = p.addrs();
    let (from, to) = match side {
        Side::Src => (dst, src),
        Side::Dst => (src, dst),
    };
    let (proto, ty, code) = if p.v6 { (ICMPV6, 1, 4) } else { (ICMP, 3, 3) };
    let icmp_len = 8 + quote_len;
    link_header(p, side, out);
    let ip_at = p.l2;
    let ip_len = ip_header(p.v6, from, to, proto, icmp_len, &mut out[ip_at..]);
    let m = &mut out[ip_at + ip_len..ip_at + ip_len + icmp_len];
    m[..8].fill(0);
    m[0] = ty;
    m[1] = code;
    m[8..].copy_from_slice(quote);
    let c = if p.v6 {
        checksum::compute_with(pseudo(true, from, to, ICMPV6, icmp_len), m)
    } else {
        checksum::checksum(m)
    };
    m[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(ip_at + ip_len + icmp_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Csum, DecodeConfig, Decoder, Packet, L4};
    use crate::time::Timestamp;
    use std::net::IpAddr;

    const C_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const S_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

    /// Ethernet (with `vlans`) + IPv4 `a` → `b` carrying `l4` of protocol `proto`, checksums
    /// filled in, padded to 60 bytes like a short frame on the wire.
    fn v4_frame(vlans: &[u16], proto: u8, l4: &[u8]) -> Vec<u8> {
        let (a, b) = ([192, 0, 2, 1], [198, 51, 100, 2]);
        let mut f = Vec::new();
        f.extend_from_slice(&S_MAC);
        f.extend_from_slice(&C_MAC);
        for v in vlans {
            f.extend_from_slice(&0x8100u16.to_be_bytes());
            f.extend_from_slice(&v.to_be_bytes());
        }
        f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        ip[8] = 64;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&a);
        ip[16..20].copy_from_slice(&b);
        let c = checksum::checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        let mut l4 = l4.to_vec();
        let at = match proto {
            TCP => Some(16),
            17 => Some(6),
            _ => None,
        };
        if let Some(at) = at {
            let c = checksum::compute_with(checksum::pseudo_v4(a, b, proto, l4.len() as u32), &l4);
            l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
        }
        f.extend_from_slice(&l4);
        f.resize(f.len().max(60), 0);
        f
    }

    /// Ethernet + IPv6 `2001:db8::1` → `2001:db8::2` carrying `l4` of protocol `proto`.
    fn v6_frame(proto: u8, l4: &[u8]) -> Vec<u8> {
        let a: [u8; 16] = "2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets();
        let b: [u8; 16] = "2001:db8::2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets();
        let mut f = Vec::new();
        f.extend_from_slice(&S_MAC);
        f.extend_from_slice(&C_MAC);
        f.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        let mut ip = [0u8; 40];
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
        ip[6] = proto;
        ip[7] = 64;
        ip[8..24].copy_from_slice(&a);
        ip[24..40].copy_from_slice(&b);
        f.extend_from_slice(&ip);
        let mut l4 = l4.to_vec();
        if proto == TCP {
            let c = checksum::compute_with(checksum::pseudo_v6(a, b, proto, l4.len() as u32), &l4);
            l4[16..18].copy_from_slice(&c.to_be_bytes());
        }
        f.extend_from_slice(&l4);
        f
    }

    /// A TCP header 40000 → 80 with `seq`, `ack`, `flags` and `data`.
    fn tcp(seq: u32, ack: u32, flags: u8, data: &[u8]) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&ack.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&1024u16.to_be_bytes());
        t.extend_from_slice(data);
        t
    }

    fn answer(frame: &[u8], side: Side) -> Result<(Vec<u8>, ReplyKind), RejectError> {
        let mut out = [0u8; MAX_REPLY];
        build(LinkType::Ethernet, frame, side, &mut out).map(|(n, k)| (out[..n].to_vec(), k))
    }

    /// Decodes an answer with checksum validation on; every checksum must verify.
    fn decoded(bytes: &[u8], f: impl FnOnce(&Packet<'_>)) {
        let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
        let p = dec.decode(LinkType::Ethernet, bytes, Timestamp(0));
        assert!(!p.invalid, "{bytes:02x?}");
        assert_ne!(p.csum.l4, Csum::Bad);
        assert_ne!(p.csum.ipv4, Csum::Bad);
        f(&p);
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rst_to_the_sender_acknowledges_the_segment_and_keeps_the_vlans() {
        let f = v4_frame(
            &[100, 200],
            TCP,
            &tcp(1000, 5000, ACK | 0x08, b"GET / HTTP/1.0\r\n"),
        );
        let (a, kind) = answer(&f, Side::Src).unwrap();
        assert_eq!(kind, ReplyKind::TcpRst);
        assert_eq!(&a[0..6], &C_MAC, "back to the sender's MAC");
        assert_eq!(&a[6..12], &S_MAC);
        decoded(&a, |p| {
            assert_eq!(&p.vlan[..2], &[100, 200]);
            assert_eq!(p.csum.l4, Csum::Ok);
            assert_eq!(p.csum.ipv4, Csum::Ok);
            let i = p.ip.unwrap();
            assert_eq!((i.src, i.dst), (ip("198.51.100.2"), ip("192.0.2.1")));
            let L4::Tcp(t) = p.l4 else {
                panic!("{:?}", p.l4)
            };
            assert_eq!((t.src_port, t.dst_port), (80, 40000));
            assert_eq!((t.seq, t.ack), (5000, 1000 + 16));
            assert_eq!(t.flags as u8, RST | ACK);
            assert!(p.payload.is_empty(), "the frame's padding is not data");
        });
    }

    #[test]
    fn rst_to_the_receiver_continues_the_senders_sequence() {
        // A SYN takes one sequence number; without ACK the answer to the sender starts at 0.
        let f = v4_frame(&[], TCP, &tcp(7, 0, SYN, b""));
        let (a, _) = answer(&f, Side::Dst).unwrap();
        assert_eq!(
            &a[0..12],
            &f[0..12],
            "towards the receiver: the frame's addresses"
        );
        decoded(&a, |p| {
            let i = p.ip.unwrap();
            assert_eq!((i.src, i.dst), (ip("192.0.2.1"), ip("198.51.100.2")));
            let L4::Tcp(t) = p.l4 else { panic!() };
            assert_eq!((t.src_port, t.dst_port, t.seq, t.ack), (40000, 80, 8, 0));
        });
        let (a, _) = answer(&f, Side::Src).unwrap();
        decoded(&a, |p| {
            let L4::Tcp(t) = p.l4 else { panic!() };
            assert_eq!((t.seq, t.ack), (0, 8));
        });
    }

    #[test]
    fn udp_gets_an_icmp_port_unreachable_quoting_its_header() {
        let mut udp = vec![0x9c, 0x40, 0, 53, 0, 12, 0, 0];
        udp.extend_from_slice(b"abcd");
        let f = v4_frame(&[], 17, &udp);
        let (a, kind) = answer(&f, Side::Src).unwrap();
        assert_eq!(kind, ReplyKind::IcmpUnreachable);
        decoded(&a, |p| {
            let i = p.ip.unwrap();
            assert_eq!((i.src, i.dst), (ip("198.51.100.2"), ip("192.0.2.1")));
            let L4::Icmpv4(m) = p.l4 else {
                panic!("{:?}", p.l4)
            };
            assert_eq!((m.kind, m.code), (3, 3));
            assert_eq!(p.csum.l4, Csum::Ok);
        });
        // The quote: the offending IP header and the first 8 bytes after it.
        assert_eq!(&a[14 + 20 + 8..], &f[14..14 + 20 + 8]);
    }

    #[test]
    fn ipv6_answers_verify_too() {
        let f = v6_frame(TCP, &tcp(1, 2, ACK, b"x"));
        let (a, kind) = answer(&f, Side::Src).unwrap();
        assert_eq!(kind, ReplyKind::TcpRst);
        decoded(&a, |p| {
            assert_eq!(p.csum.l4, Csum::Ok);
            let L4::Tcp(t) = p.l4 else { panic!() };
            assert_eq!((t.seq, t.ack), (2, 2));
        });
        let f = v6_frame(17, &[0x9c, 0x40, 0, 53, 0, 8, 0, 0]);
        let (a, kind) = answer(&f, Side::Src).unwrap();
        assert_eq!(kind, ReplyKind::IcmpUnreachable);
        decoded(&a, |p| {
            let L4::Icmpv6(m) = p.l4 else {
                panic!("{:?}", p.l4)
            };
            assert_eq!((m.kind, m.code), (1, 4));
            assert_eq!(p.csum.l4, Csum::Ok);
            assert_eq!(p.ip.unwrap().dst, ip("2001:db8::1"));
        });
    }

    #[test]
    fn what_cannot_be_answered_says_why() {
        let f = v4_frame(&[], TCP, &tcp(1, 2, ACK, b""));
        // Cut inside the TCP header: too short for a RST.
        assert_eq!(
            answer(&f[..14 + 20 + 10], Side::Src).unwrap_err(),
            RejectError::TooShort
        );
        assert_eq!(
            answer(&f[..20], Side::Src).unwrap_err(),
            RejectError::TooShort
        );
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(answer(&arp, Side::Src).unwrap_err(), RejectError::NotIp);
        let f3 = v4_frame(&[1, 2, 3], TCP, &tcp(1, 2, ACK, b""));
        assert_eq!(
            answer(&f3, Side::Src).unwrap_err(),
            RejectError::TooManyTags
        );
        // An ICMP error is not answered; an echo request is.
        let unreach = v4_frame(&[], ICMP, &[3, 3, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            answer(&unreach, Side::Src).unwrap_err(),
            RejectError::IcmpError
        );
        let echo = v4_frame(&[], ICMP, &[8, 0, 0, 0, 0, 1, 0, 1]);
        assert!(answer(&echo, Side::Src).is_ok());
        let mut out = [0u8; MAX_REPLY];
        assert_eq!(
            build(LinkType::LinuxSll, &f, Side::Src, &mut out).unwrap_err(),
            RejectError::UnsupportedLink
        );
    }

    /// No frame makes the builder panic or write past its buffer.
    #[test]
    fn any_prefix_of_any_frame_is_answered_or_refused() {
        let frames = [
            v4_frame(&[7, 8], TCP, &tcp(1, 2, ACK, b"data")),
            v6_frame(17, &[0; 8]),
            v4_frame(&[], ICMP, &[8, 0, 0, 0, 0, 1, 0, 1]),
        ];
        let mut out = [0u8; MAX_REPLY];
        for f in &frames {
            for n in 0..=f.len() {
                for side in [Side::Src, Side::Dst] {
                    let _ = build(LinkType::Ethernet, &f[..n], side, &mut out);
                    let _ = build(LinkType::Raw, &f[14.min(n)..n], side, &mut out);
                }
            }
        }
    }
}
