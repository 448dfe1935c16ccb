//! The layer walk behind [`super::Decoder::decode`].
//!
//! Each layer function gets its bytes (`b`, a sub-slice of the packet's data) and their offset
//! in the data (`off`, used for anomaly offsets), records what it found in the packet, and
//! returns the next [`Step`]. The driver loop counts layers, so stacked headers and tunnels
//! cannot run forever.

use super::counters::DecodeCounters;
use super::defrag::{Defragmenter, FragKey, Fragment};
use super::events::DecodeEvent as E;
use super::packet::{
    Anomaly, Csum, FragInfo, HwChecksums, HwCsum, IcmpInfo, IpInfo, OuterIp, Packet, TcpInfo,
    TcpOpts, TunnelKind, UdpInfo, L4, MAX_VLANS,
};
use super::{DecodeConfig, Decoder, LinkType};
use crate::time::Timestamp;
use crate::wire::{
    checksum, erspan, ethernet, ethertype, geneve, gre, icmpv4, icmpv6, ipproto, ipv4, ipv6, mpls,
    nsh, null, pppoe, sll, tcp, udp, vlan, vxlan,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod fast;
mod transport;
mod tunnels;

/// What to decode next.
enum Step<'p> {
    Done,
    Ethernet(&'p [u8], usize),
    EtherType(u16, &'p [u8], usize),
    Ipv4(&'p [u8], usize),
    Ipv6(&'p [u8], usize),
    Ppp(&'p [u8], usize),
    /// A fragment and the offset of its data in the packet's bytes.
    Frag(Fragment<'p>, usize),
}

#[derive(Clone, Copy)]
enum Pseudo {
    V4([u8; 4], [u8; 4]),
    V6([u8; 16], [u8; 16]),
}

impl Pseudo {
    fn sum(self, proto: u8, len: usize) -> u64 {
        match self {
            Pseudo::V4(s, d) => checksum::pseudo_v4(s, d, proto, len as u32),
            Pseudo::V6(s, d) => checksum::pseudo_v6(s, d, proto, len as u32),
        }
    }
    fn is_v6(self) -> bool {
        matches!(self, Pseudo::V6(..))
    }
}

/// IPv6 next-header values walked as extension headers.
const fn is_ext_header(nh: u8) -> bool {
    matches!(
        nh,
        ipproto::HOPOPTS
            | ipproto::ROUTING
            | ipproto::DSTOPTS
            | ipproto::FRAGMENT
            | ipproto::AH
            | ipproto::MOBILITY
            | ipproto::HIP
            | ipproto::SHIM6
    )
}

struct Dec<'c, 'p> {
    cfg: &'c DecodeConfig,
    counters: &'c mut DecodeCounters,
    /// The caller's summary, written in place: returning a ~400-byte `Packet` by value cost a
    /// `memcpy` per packet.
    pkt: &'c mut Packet<'p>,
    in_reassembled: bool,
    /// The NIC's verdicts on the outermost IPv4 header and the segment after it; cleared on
    /// entering a tunnel or a rebuilt datagram, whose checksums are computed.
    hw: HwChecksums,
}

/// Decodes into `out`, which holds `Packet::new(link, frame)`.
pub(super) fn decode<'p>(
    dec: &'p mut Decoder,
    link: LinkType,
    frame: &'p [u8],
    now: Timestamp,
    hw: HwChecksums,
    out: &mut Packet<'p>,
) {
    let Decoder {
        cfg,
        counters,
        defrag,
    } = dec;
    let cfg = &*cfg;
    counters.pkts += 1;
    counters.bytes += frame.len() as u64;
    counters.max_pkt_size = counters.max_pkt_size.max(frame.len() as u64);
    let mut d = Dec {
        cfg,
        counters,
        pkt: out,
        in_reassembled: false,
        hw,
    };
    // The fast path raises no invalid event (only TCP option events, which are not), so
    // there is no `decoder.invalid` to count after it.
    if cfg.fast_path && link == LinkType::Ethernet && d.fast_ethernet(frame) {
        return;
    }
    let mut defrag = Some(defrag);
    let mut step = d.link(link, frame);
    loop {
        if matches!(step, Step::Done) {
            break;
        }
        d.pkt.layers = d.pkt.layers.saturating_add(1);
        if d.pkt.layers > d.cfg.max_layers {
            d.counters.too_many_layers += 1;
            d.event(E::TooManyLayers, 0, 0, 0);
            break;
        }
        step = match step {
            Step::Done => Step::Done,
            Step::Ethernet(b, off) => d.ethernet(b, off),
            Step::EtherType(et, b, off) => d.ethertype(et, b, off),
            Step::Ipv4(b, off) => d.ipv4(b, off),
            Step::Ipv6(b, off) => d.ipv6(b, off),
            Step::Ppp(b, off) => d.ppp(b, off),
            Step::Frag(frag, off) => match defrag.take() {
                Some(df) => d.reassemble(df, frag, off, now),
                None => {
                    // A second fragment layer inside a rebuilt datagram: not rebuilt again.
                    let ev = if frag.key.v6 {
                        E::Ipv6FragIgnored
                    } else {
                        E::Ipv4FragIgnored
                    };
                    d.event(ev, off, 0, frag.data.len());
                    Step::Done
                }
            },
        };
    }
    if d.pkt.invalid {
        d.counters.invalid += 1;
    }
}

impl<'p> Dec<'_, 'p> {
    /// The NIC's verdict for a checksum of the outermost IP layer, `None` when it must be
    /// computed: no verdict, inside a tunnel or in a datagram rebuilt from fragments (entering
    /// either clears `hw`).
    #[inline]
    fn hw_verdict(&self, v: HwCsum) -> Option<bool> {
        match v {
            HwCsum::Unknown => None,
            HwCsum::Good => Some(true),
            HwCsum::Bad => Some(false),
        }
    }

    /// Records an event once per packet and counts it.
    fn event(&mut self, event: E, offset: usize, needed: usize, available: usize) {
        if self.pkt.anomalies.contains(event) {
            return;
        }
        self.counters.events[event.index()] += 1;
        if event.is_invalid() {
            self.pkt.invalid = true;
        }
        let stored = self.pkt.anomalies.push(Anomaly {
            event,
            layer: event.layer(),
            offset: offset as u32,
            needed: needed as u32,
            available: available as u32,
            in_reassembled: self.in_reassembled,
        });
        if !stored {
            self.counters.anomalies_dropped += 1;
        }
    }

    fn link(&mut self, link: LinkType, frame: &'p [u8]) -> Step<'p> {
        match link {
            LinkType::Ethernet => {
                self.counters.ethernet += 1;
                Step::Ethernet(frame, 0)
            }
            LinkType::Null | LinkType::Loop => {
                self.counters.null += 1;
                self.pkt.layers += 1;
                let Ok(h) = null::NullHeader::new_checked(frame) else {
                    self.event(E::LtnullPktTooSmall, 0, null::HEADER_LEN, frame.len());
                    return Step::Done;
                };
                let rest = &frame[null::HEADER_LEN..];
                match h.family() {
                    null::NullFamily::Ipv4 => Step::Ipv4(rest, null::HEADER_LEN),
                    null::NullFamily::Ipv6 => Step::Ipv6(rest, null::HEADER_LEN),
                    null::NullFamily::Unknown(_) => {
                        self.event(E::LtnullUnsupportedType, 0, 0, frame.len());
                        Step::Done
                    }
                }
            }
            LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => {
                self.counters.raw += 1;
                match (link, frame.first().map(|b| b >> 4)) {
                    (LinkType::Ipv4, _) | (LinkType::Raw, Some(4)) => Step::Ipv4(frame, 0),
                    (LinkType::Ipv6, _) | (LinkType::Raw, Some(6)) => Step::Ipv6(frame, 0),
                    _ => {
                        self.event(E::IprawInvalidIpVersion, 0, 1, frame.len());
                        Step::Done
                    }
                }
            }
            LinkType::LinuxSll => {
                self.counters.sll += 1;
                self.pkt.layers += 1;
                let Ok(h) = sll::SllHeader::new_checked(frame) else {
                    self.event(E::SllPktTooSmall, 0, sll::HEADER_LEN, frame.len());
                    return Step::Done;
                };
                Step::EtherType(h.protocol(), &frame[sll::HEADER_LEN..], sll::HEADER_LEN)
            }
        }
    }

    fn ethernet(&mut self, b: &'p [u8], off: usize) -> Step<'p> {
        let Ok(f) = ethernet::EthernetFrame::new_checked(b) else {
            self.event(E::EthernetPktTooSmall, off, ethernet::HEADER_LEN, b.len());
            return Step::Done;
        };
        Step::EtherType(
            f.ethertype(),
            &b[ethernet::HEADER_LEN..],
            off + ethernet::HEADER_LEN,
        )
    }

    fn ethertype(&mut self, et: u16, b: &'p [u8], off: usize) -> Step<'p> {
        match et {
            ethertype::IPV4 => Step::Ipv4(b, off),
            ethertype::IPV6 => Step::Ipv6(b, off),
            ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD => self.vlan(b, off),
            ethertype::MPLS_UNICAST | ethertype::MPLS_MULTICAST => self.mpls(b, off),
            ethertype::ARP => {
                self.counters.arp += 1;
                Step::Done
            }
            ethertype::PPPOE_SESSION => self.pppoe_session(b, off),
            ethertype::PPPOE_DISCOVERY => self.pppoe_discovery(b, off),
            ethertype::TEB => Step::Ethernet(b, off),
            ethertype::NSH => self.nsh(b, off),
            _ => {
                self.counters.unknown_ethertype += 1;
                Step::Done
            }
        }
    }

    fn vlan(&mut self, b: &'p [u8], off: usize) -> Step<'p> {
        let Ok(tag) = vlan::VlanTag::new_checked(b) else {
            self.event(E::VlanHeaderTooSmall, off, vlan::HEADER_LEN, b.len());
            return Step::Done;
        };
        let Some(idx) = self.push_vlan(tag.vid()) else {
            self.event(E::VlanTooManyLayers, off, 0, b.len());
            return Step::Done;
        };
        match idx {
            0 => self.counters.vlan += 1,
            1 => self.counters.vlan_qinq += 1,
            _ => self.counters.vlan_qinqinq += 1,
        }
        let inner = tag.ethertype();
        let known = matches!(
            inner,
            ethertype::IPV4
                | ethertype::IPV6
                | ethertype::ARP
                | ethertype::MPLS_UNICAST
                | ethertype::MPLS_MULTICAST
                | ethertype::PPPOE_SESSION
                | ethertype::PPPOE_DISCOVERY
        ) || vlan::is_vlan_tpid(inner);
        if !known {
            self.event(E::VlanUnknownType, off, 0, b.len());
        }
        Step::EtherType(inner, &b[vlan::HEADER_LEN..], off + vlan::HEADER_LEN)
    }

    /// Records the packet's next VLAN id; its index, or `None` when the packet holds the most
    /// it can.
    fn push_vlan(&mut self, vid: u16) -> Option<usize> {
        let idx = usize::from(self.pkt.vlan_len);
        if idx >= MAX_VLANS {
            return None;
        }
        self.pkt.vlan[idx] = vid;
        self.pkt.vlan_len += 1;
        Some(idx)
    }

    fn mpls(&mut self, b: &'p [u8], off: usize) -> Step<'p> {
        self.counters.mpls += 1;
        let mut pos = 0;
        let label = loop {
            let Ok(e) = mpls::MplsEntry::new_checked(&b[pos..]) else {
                self.event(
                    E::MplsHeaderTooSmall,
                    off + pos,
                    mpls::HEADER_LEN,
                    b.len() - pos,
                );
                return Step::Done;
            };
            self.pkt.mpls_labels = self.pkt.mpls_labels.saturating_add(1);
            pos += mpls::HEADER_LEN;
            if e.bottom_of_stack() {
                break e.label();
            }
            // Each label is a layer: a long stack ends in too_many_layers, not a long loop.
            self.pkt.layers = self.pkt.layers.saturating_add(1);
            if self.pkt.layers > self.cfg.max_layers {
                return Step::Ipv4(&[], off + pos); // the driver reports too_many_layers
            }
        };
        let rest = &b[pos..];
        let roff = off + pos;
        if rest.is_empty() {
            self.event(E::MplsPktTooSmall, roff, 1, 0);
            return Step::Done;
        }
        match label {
            mpls::LABEL_IPV4_EXPLICIT_NULL => return Step::Ipv4(rest, roff),
            mpls::LABEL_IPV6_EXPLICIT_NULL => return Step::Ipv6(rest, roff),
            mpls::LABEL_ROUTER_ALERT => {
                self.event(E::MplsBadLabelRouterAlert, roff - 4, 0, rest.len());
                return Step::Done;
            }
            mpls::LABEL_IMPLICIT_NULL => {
                self.event(E::MplsBadLabelImplicitNull, roff - 4, 0, rest.len());
                return Step::Done;
            }
            l if l <= mpls::LABEL_MAX_RESERVED => {
                self.event(E::MplsBadLabelReserved, roff - 4, 0, rest.len());
                return Step::Done;
            }
            _ => {}
        }
        match rest[0] >> 4 {
            4 => Step::Ipv4(rest, roff),
            6 => Step::Ipv6(rest, roff),
            0 => {
                // Pseudowire control word (RFC 4385) then Ethernet.
                if rest.len() < 4 + ethernet::HEADER_LEN {
                    self.event(
                        E::MplsPktTooSmall,
                        roff,
                        4 + ethernet::HEADER_LEN,
                        rest.len(),
                    );
                    return Step::Done;
                }
                Step::Ethernet(&rest[4..], roff + 4)
            }
            _ => {
                self.event(E::MplsUnknownPayloadType, roff, 0, rest.len());
                Step::Done
            }
        }
    }

    fn pppoe_session(&mut self, b: &'p [u8], off: usize) -> Step<'p> {
        self.counters.pppoe += 1;
        if b.len() < pppoe::SESSION_HEADER_LEN {
            self.event(E::PppoePktTooSmall, off, pppoe::SESSION_HEADER_LEN, b.len());
            return Step::Done;
        }
        let h = pppoe::PppoeHeader::new_unchecked(b);
        if h.code() != 0 {
            self.event(E::PppoeWrongCode, off, 0, b.len());
            return Step::Done;
        }
        let len = usize::from(h.length());
        if len < 2 || pppoe::HEADER_LEN + len > b.len() {
            self.event(E::PppoePktTooSmall, off, pppoe::HEADER_LEN + len, b.len());
            return Step::Done;
        }
        let payload = &b[pppoe::SESSION_HEADER_LEN..pppoe::HEADER_LEN + len];
        self.ppp_protocol(h.ppp_protocol(), payload, off + pppoe::SESSION_HEADER_LEN)
    }

    fn pppoe_discovery(&mut self, b: &'p [u8], off: usize) -> Step<'p> {
        self.counters.pppoe += 1;
        let Ok(h) = pppoe::PppoeHeader::new_checked(b) else {
            self.event(E::PppoePktTooSmall, off, pppoe::HEADER_LEN, b.len());
            return Step::Done;
        };
        // RFC 2516 §5: PADI, PADO, PADR, PADS, PADT.
        if !matches!(h.code(), 0x09 | 0x07 | 0x19 | 0x65 | 0xa7) {
            self.event(E::PppoeWrongCode, off, 0, b.len());
            return Step::Done;
        }
        let declared = usize::from(h.length());
        let tags = h.payload();
        if tags.len() < declared {
            self.event(
                E::PppoePktTooSmall,
                off,
                pppoe::HEADER_LEN + declared,
                b.len(),
            );
            return Step::Done;
        }
        // Tags: type(2) length(2) value. Each step consumes at least 4 bytes.
        let mut pos = 0;
        while pos < tags.len() {
            if pos + 4 > tags.len() {
                self.event(E::PppoeMalformedTags, off + pppoe::HEADER_LEN + pos, 4, 0);
                break;
            }
            let tlen = usize::from(u16::from_be_bytes([tags[pos + 2], tags[pos + 3]]));
            if pos + 4 + tlen > tags.len() {
                self.event(
                    E::PppoeMalformedTags,
                    off + pppoe::HEADER_LEN + pos,
                    tlen,
                    0,
                );
                break;
            }
            let ttype = u16::from_be_bytes([tags[pos], tags[pos + 1]]);
            pos += 4 + tlen;
            if ttype == 0 {
                break; // End-Of-List
            }
        }
        Step::Done
    }

    /// PPP in HDLC-like framing (PPTP over GRE): optional address/control, 1- or 2-byte
    /// protocol (RFC 1661 §6.5 protocol field compression).
    fn ppp(&mut self, b: &'p [u8], off: usize) -> Step<'p> {
        self.counters.ppp += 1;
        let mut pos = 0;
        if b.len() >= 2 && b[0] == 0xff && b[1] == 0x03 {
            pos = 2;
        }
        let Some(&first) = b.get(pos) else {
            self.event(E::PppPktTooSmall, off, pos + 1, b.len());
            return Step::Done;
        };
        let proto = if first & 1 == 1 {
            pos += 1;
            u16::from(first)
        } else {
            let Some(&second) = b.get(pos + 1) else {
                self.event(E::PppPktTooSmall, off, pos + 2, b.len());
                return Step::Done;
            };
            pos += 2;
            u16::from_be_bytes([first, second])
        };
        self.ppp_protocol(proto, &b[pos..], off + pos)
    }

    fn ppp_protocol(&mut self, proto: u16, b: &'p [u8], off: usize) -> Step<'p> {
        use pppoe::ppp;
        match proto {
            ppp::IPV4 => {
                if b.len() < ipv4::MIN_HEADER_LEN {
                    self.event(E::PppIp4PktTooSmall, off, ipv4::MIN_HEADER_LEN, b.len());
                    return Step::Done;
                }
                Step::Ipv4(b, off)
            }
            ppp::IPV6 => {
                if b.len() < ipv6::HEADER_LEN {
                    self.event(E::PppIp6PktTooSmall, off, ipv6::HEADER_LEN, b.len());
                    return Step::Done;
                }
                Step::Ipv6(b, off)
            }
            ppp::VJ_UNCOMP => {
                if b.len() < ipv4::MIN_HEADER_LEN {
                    self.event(E::PppVjuPktTooSmall, off, ipv4::MIN_HEADER_LEN, b.len());
                    return Step::Done;
                }
                // Uncompressed VJ carries an IPv4 header whose protocol byte holds the slot id.
                if b[0] >> 4 == 4 {
                    Step::Ipv4(b, off)
                } else {
                    Step::Done
                }
            }
            // Valid PPP protocols that carry no IP (control, authentication, compression).
            ppp::VJ_COMP | 0x8000..=0xffff => {
                self.event(E::PppUnsupProto, off, 0, b.len());
                Step::Done
            }
            _ => {
                self.event(E::PppWrongType, off, 0, b.len());
                Step::Done
            }
        }
    }

    /// Remembers the outermost IP header when entering a tunnel whose inner bytes start at
    /// `inner_off`.
    fn enter_tunnel(&mut self, kind: TunnelKind, id: u32, inner_off: usize) {
        if self.pkt.outer.is_none() {
            if let Some(ip) = self.pkt.ip {
                self.pkt.outer = Some(OuterIp {
                    src: ip.src,
                    dst: ip.dst,
                    proto: ip.proto,
                });
            }
        }
        self.pkt.tunnel.kind = kind;
        self.pkt.tunnel.id = id;
        self.pkt.tunnel.depth = self.pkt.tunnel.depth.saturating_add(1);
        self.pkt.tunnel.inner_offset = inner_off as u32;
        self.pkt.tunnel.in_data = self.in_reassembled;
        self.hw = HwChecksums::UNKNOWN;
    }

    /// Resets the per-IP-layer fields before a (possibly inner) IP header is decoded.
    fn reset_ip_layer(&mut self) {
        self.pkt.l4 = L4::None;
        self.pkt.payload = &[];
        self.pkt.csum.ipv4 = Csum::NotChecked;
        self.pkt.csum.l4 = Csum::NotChecked;
    }

    fn ipv4(&mut self, b: &'p [u8], off: usize) -> Step<'p> {
        self.counters.ipv4 += 1;
        if b.len() < ipv4::MIN_HEADER_LEN {
            self.event(E::Ipv4PktTooSmall, off, ipv4::MIN_HEADER_LEN, b.len());
            return Step::Done;
        }
        let p = ipv4::Ipv4Packet::new_unchecked(b);
        if p.version() != 4 {
            self.event(E::Ipv4WrongIpVersion, off, 0, b.len());
            return Step::Done;
        }
        let hl = p.header_len();
        if hl < ipv4::MIN_HEADER_LEN {
            self.event(E::Ipv4HlenTooSmall, off, ipv4::MIN_HEADER_LEN, hl);
            return Step::Done;
        }
        let tl = usize::from(p.total_len());
        if tl < hl {
            self.event(E::Ipv4IplenSmallerThanHlen, off, hl, tl);
            return Step::Done;
        }
        if b.len() < tl {
            self.event(E::Ipv4TruncPkt, off, tl, b.len());
            return Step::Done;
        }
        // Bytes past the total length are link padding.
        let b = &b[..tl];
        self.reset_ip_layer();
        let (src, dst) = (p.src_addr(), p.dst_addr());
        let proto = p.protocol();
        let frag = FragInfo {
            dont_fragment: p.dont_frag(),
            more_fragments: p.more_frags(),
            offset: p.frag_offset(),
            is_fragment: p.more_frags() || p.frag_offset() > 0,
            reserved_bit: p.reserved_flag(),
        };
        self.pkt.ip = Some(IpInfo {
            version: 4,
            src: IpAddr::V4(Ipv4Addr::from(src)),
            dst: IpAddr::V4(Ipv4Addr::from(dst)),
            proto,
            ttl: p.ttl(),
            tos: p.tos(),
            id: u32::from(p.ident()),
            frag,
            options_present: hl > ipv4::MIN_HEADER_LEN,
            total_len: tl as u32,
            flow_label: 0,
        });
        self.pkt.ip_header = &b[..hl];
        if hl > ipv4::MIN_HEADER_LEN {
            self.ipv4_options(&b[ipv4::MIN_HEADER_LEN..hl], off + ipv4::MIN_HEADER_LEN);
        }
        if self.cfg.checksum_validation {
            self.ipv4_checksum(&b[..hl]);
        }
        let payload = &b[hl..];
        if frag.is_fragment {
            self.pkt.payload = payload;
            let mut s = [0u8; 16];
            s[..4].copy_from_slice(&src);
            let mut d = [0u8; 16];
            d[..4].copy_from_slice(&dst);
            return Step::Frag(
                Fragment {
                    key: FragKey {
                        v6: false,
                        src: s,
                        dst: d,
                        id: u32::from(p.ident()),
                        proto,
                        vlan: self.pkt.inner_vlan(),
                    },
                    header: &b[..hl],
                    nh_pos: 0,
                    next_header: proto,
                    offset: usize::from(frag.offset),
                    more: frag.more_fragments,
                    data: payload,
                },
                off + hl,
            );
        }
        self.transport(proto, payload, off + hl, Pseudo::V4(src, dst))
    }

    /// Checks (or takes the NIC's verdict on) the IPv4 header `h`, options included.
    #[inline(always)]
    fn ipv4_checksum(&mut self, h: &[u8]) {
        let ok = match self.hw_verdict(self.hw.ip) {
            Some(ok) => ok,
            None => checksum::verify(h),
        };
        if ok {
            self.pkt.csum.ipv4 = Csum::Ok;
        } else {
            self.pkt.csum.ipv4 = Csum::Bad;
            self.counters.ipv4_csum_bad += 1;
        }
    }

    fn ipv4_options(&mut self, opts: &[u8], off: usize) {
        let mut seen = [false; 256];
        let mut it = ipv4::Ipv4Options::new(opts);
        for o in it.by_ref() {
            match o {
                Err(ipv4::Ipv4OptError::MissingLength { offset }) => {
                    self.event(E::Ipv4OptMalformed, off + offset, 2, opts.len() - offset);
                    return;
                }
                Err(ipv4::Ipv4OptError::InvalidLength { offset, len }) => {
                    let ev = if len < 2 {
                        E::Ipv4OptInvalidLen
                    } else {
                        E::Ipv4OptMalformed
                    };
                    self.event(ev, off + offset, usize::from(len), opts.len() - offset);
                    return;
                }
                Ok(o) => {
                    if o.kind == ipv4::opt::EOL || o.kind == ipv4::opt::NOP {
                        continue;
                    }
                    if seen[usize::from(o.kind)] {
                        self.event(E::Ipv4OptDuplicate, off + o.offset, 0, 0);
                    }
                    seen[usize::from(o.kind)] = true;
                    let total = o.data.len() + 2;
                    // RFC 791 / RFC 2113 / RFC 4782 sizes.
                    let ok = match o.kind {
                        ipv4::opt::RR | ipv4::opt::LSRR | ipv4::opt::SSRR => {
                            total >= 7 && (total - 3) % 4 == 0
                        }
                        ipv4::opt::TS => (4..=40).contains(&total),
                        ipv4::opt::SEC | ipv4::opt::ESEC | ipv4::opt::CIPSO => total >= 3,
                        ipv4::opt::SID | ipv4::opt::RTRALT => total == 4,
                        ipv4::opt::QS => total == 8,
                        _ => {
                            self.event(E::Ipv4OptUnknown, off + o.offset, 0, 0);
                            true
                        }
                    };
                    if !ok {
                        self.event(E::Ipv4OptInvalidLen, off + o.offset, 0, total);
                    }
                }
            }
        }
        // Anything but zero padding after EOL means the options area was not padded.
        if it.remaining().iter().any(|&b| b != 0) {
            self.event(
                E::Ipv4OptPadRequired,
                off + opts.len() - it.remaining().len(),
                0,
                0,
            );
        }
    }

    // Kept whole (about 190 lines): one walk of the fixed header and the extension-header
    // chain, each header's checks beside the RFC 8200 rule they apply; split, the walk's
    // cursor and next-header state would travel through arguments on every packet.
    fn ipv6(&mut self, b: &'p [u8], off: usize) -> Step<'p> {
        self.counters.ipv6 += 1;
        if b.len() < ipv6::HEADER_LEN {
            self.event(E::Ipv6PktTooSmall, off, ipv6::HEADER_LEN, b.len());
            return Step::Done;
        }
        let p = ipv6::Ipv6Packet::new_unchecked(b);
        if p.version() != 6 {
            self.event(E::Ipv6WrongIpVersion, off, 0, b.len());
            return Step::Done;
        }
        let total = ipv6::HEADER_LEN + usize::from(p.payload_len());
        if b.len() < total {
            self.event(E::Ipv6TruncPkt, off, total, b.len());
            return Step::Done;
        }
        let b = &b[..total];
        self.reset_ip_layer();
        let (src, dst) = (p.src_addr(), p.dst_addr());
        let mut info = IpInfo {
            version: 6,
            src: IpAddr::V6(Ipv6Addr::from(src)),
            dst: IpAddr::V6(Ipv6Addr::from(dst)),
            proto: p.next_header(),
            ttl: p.hop_limit(),
            tos: p.traffic_class(),
            id: 0,
            frag: FragInfo::default(),
            options_present: false,
            total_len: total as u32,
            flow_label: p.flow_label(),
        };
        self.pkt.ip = Some(info);
        let mut nh = p.next_header();
        let mut nh_pos = 6; // where the byte naming the current header lives
        let mut pos = ipv6::HEADER_LEN;
        let (mut hh, mut rh, mut fh, mut ah, mut dh) = (false, false, false, false, 0u8);
        let mut rh_since_dh = false;
        // Every extension header is at least 8 bytes, so this loop runs at most
        // payload_len / 8 times.
        loop {
            let rest = &b[pos..];
            // Inside an extension header chain every header, the upper-layer one included,
            // needs at least its first two bytes (Suricata raises `trunc_exthdr` here too).
            let in_chain = pos > ipv6::HEADER_LEN || is_ext_header(nh);
            if in_chain && nh != ipproto::NONE && rest.len() < 2 {
                self.event(E::Ipv6TruncExthdr, off + pos, 2, rest.len());
                self.pkt.ip_header = &b[..pos];
                return Step::Done;
            }
            match nh {
                ipproto::HOPOPTS
                | ipproto::ROUTING
                | ipproto::DSTOPTS
                | ipproto::AH
                | ipproto::MOBILITY
                | ipproto::HIP
                | ipproto::SHIM6 => {
                    let is_ah = nh == ipproto::AH;
                    let e = ipv6::ExtHeader::new_unchecked(rest, is_ah);
                    if rest.len() < 2 || e.header_len() > rest.len() {
                        self.event(E::Ipv6TruncExthdr, off + pos, e.header_len(), rest.len());
                        self.pkt.ip_header = &b[..pos];
                        return Step::Done;
                    }
                    match nh {
                        ipproto::HOPOPTS => {
                            if hh {
                                self.event(E::Ipv6ExthdrDuplHh, off + pos, 0, 0);
                            }
                            hh = true;
                            self.ipv6_options(e.data(), off + pos + 2, true);
                        }
                        ipproto::DSTOPTS => {
                            // One before and one after a routing header are legitimate.
                            dh += 1;
                            if dh > 2 || (dh == 2 && !rh_since_dh) {
                                self.event(E::Ipv6ExthdrDuplDh, off + pos, 0, 0);
                            }
                            rh_since_dh = false;
                            self.ipv6_options(e.data(), off + pos + 2, false);
                        }
                        ipproto::ROUTING => {
                            if rh {
                                self.event(E::Ipv6ExthdrDuplRh, off + pos, 0, 0);
                            }
                            rh = true;
                            rh_since_dh = true;
                            if e.routing_type() == 0 {
                                self.event(E::Ipv6RhType0, off + pos, 0, 0);
                            }
                        }
                        ipproto::AH => {
                            if ah {
                                self.event(E::Ipv6ExthdrDuplAh, off + pos, 0, 0);
                            }
                            ah = true;
                            if e.ah_reserved() != 0 {
                                self.event(E::Ipv6ExthdrAhResNotNull, off + pos, 0, 0);
                            }
                        }
                        _ => {}
                    }
                    nh_pos = pos;
                    nh = e.next_header();
                    pos += e.header_len();
                }
                ipproto::FRAGMENT => {
                    let Ok(f) = ipv6::FragmentHeader::new_checked(rest) else {
                        self.event(
                            E::Ipv6TruncExthdr,
                            off + pos,
                            ipv6::FRAG_HEADER_LEN,
                            rest.len(),
                        );
                        self.pkt.ip_header = &b[..pos];
                        return Step::Done;
                    };
                    if fh {
                        self.event(E::Ipv6ExthdrDuplFh, off + pos, 0, 0);
                    }
                    fh = true;
                    if f.reserved() != 0 || f.reserved2() != 0 {
                        self.event(E::Ipv6FhNonZeroReservedField, off + pos, 0, 0);
                    }
                    info.id = f.ident();
                    if f.frag_offset() == 0 && !f.more_frags() {
                        // RFC 6946 atomic fragment: nothing to reassemble, keep walking.
                        self.event(E::Ipv6ExthdrUselessFh, off + pos, 0, 0);
                        nh_pos = pos;
                        nh = f.next_header();
                        pos += ipv6::FRAG_HEADER_LEN;
                        continue;
                    }
                    let data = &b[pos + ipv6::FRAG_HEADER_LEN..];
                    info.frag = FragInfo {
                        dont_fragment: false,
                        more_fragments: f.more_frags(),
                        offset: f.frag_offset(),
                        is_fragment: true,
                        reserved_bit: false,
                    };
                    info.proto = f.next_header();
                    info.options_present = true;
                    self.pkt.ip = Some(info);
                    self.pkt.ip_header = &b[..pos + ipv6::FRAG_HEADER_LEN];
                    self.pkt.payload = data;
                    // RFC 8200 §4.5: every fragment but the last is a multiple of 8 bytes.
                    if f.more_frags() && data.len() % 8 != 0 {
                        self.event(E::Ipv6FragInvalidLength, off + pos, 0, data.len());
                        return Step::Done;
                    }
                    return Step::Frag(
                        Fragment {
                            key: FragKey {
                                v6: true,
                                src,
                                dst,
                                id: f.ident(),
                                proto: 0,
                                vlan: self.pkt.inner_vlan(),
                            },
                            header: &b[..pos],
                            nh_pos,
                            next_header: f.next_header(),
                            offset: usize::from(f.frag_offset()),
                            more: f.more_frags(),
                            data,
                        },
                        off + pos + ipv6::FRAG_HEADER_LEN,
                    );
                }
                ipproto::NONE => {
                    if !rest.is_empty() {
                        self.event(E::Ipv6DataAfterNoneHeader, off + pos, 0, rest.len());
                    }
                    info.proto = nh;
                    info.options_present = pos > ipv6::HEADER_LEN;
                    self.pkt.ip = Some(info);
                    self.pkt.ip_header = &b[..pos];
                    self.pkt.l4 = L4::Other(nh);
                    self.pkt.payload = rest;
                    return Step::Done;
                }
                _ => break,
            }
        }
        info.proto = nh;
        info.options_present = pos > ipv6::HEADER_LEN;
        self.pkt.ip = Some(info);
        self.pkt.ip_header = &b[..pos];
        self.transport(nh, &b[pos..], off + pos, Pseudo::V6(src, dst))
    }

    fn ipv6_options(&mut self, data: &[u8], off: usize, hop: bool) {
        let mut only_padding = true;
        for o in ipv6::Ipv6Options::new(data) {
            match o {
                Err(e) => {
                    self.event(E::Ipv6ExthdrInvalidOptlen, off + e.offset, 0, 0);
                    return;
                }
                Ok(o) => match o.kind {
                    ipv6::opt::PAD1 => {}
                    ipv6::opt::PADN => {
                        if o.data.is_empty() {
                            self.event(E::Ipv6ZeroLenPadn, off + o.offset, 0, 0);
                        }
                    }
                    ipv6::opt::ROUTER_ALERT | ipv6::opt::JUMBO | ipv6::opt::HOME_ADDRESS => {
                        only_padding = false;
                    }
                    _ => {
                        only_padding = false;
                        let ev = if hop {
                            E::Ipv6HopoptsUnknownOpt
                        } else {
                            E::Ipv6DstoptsUnknownOpt
                        };
                        self.event(ev, off + o.offset, 0, 0);
                    }
                },
            }
        }
        if only_padding {
            let ev = if hop {
                E::Ipv6HopoptsOnlyPadding
            } else {
                E::Ipv6DstoptsOnlyPadding
            };
            self.event(ev, off, 0, 0);
        }
    }

    fn reassemble(
        &mut self,
        df: &'p mut Defragmenter,
        frag: Fragment<'p>,
        off: usize,
        now: Timestamp,
    ) -> Step<'p> {
        let v6 = frag.key.v6;
        let len = frag.data.len();
        let mut raised = [None; 4];
        let mut n = 0;
        let refused = self.counters.defrag.refusals();
        let rebuilt = df.insert(frag, now, &mut self.counters.defrag, |e| {
            if n < raised.len() {
                raised[n] = Some(e);
                n += 1;
            }
        });
        if self.counters.defrag.refusals() != refused {
            self.pkt.defrag_refused = true;
        }
        // Events point at the fragment's data in the bytes this packet was decoded from.
        for e in raised.into_iter().flatten() {
            self.event(e, off, 0, len);
        }
        match rebuilt {
            // No layer left to decode the datagram with: stop at the fragment, which the
            // summary still describes (switching `data` to an undecoded datagram would leave
            // `ip_header` and `payload` pointing outside it).
            Some(_) if self.pkt.layers >= self.cfg.max_layers => {
                self.counters.too_many_layers += 1;
                self.event(E::TooManyLayers, 0, 0, 0);
                Step::Done
            }
            Some(buf) => {
                self.pkt.data = buf;
                self.pkt.reassembled = true;
                self.in_reassembled = true;
                self.hw = HwChecksums::UNKNOWN;
                if v6 {
                    Step::Ipv6(buf, 0)
                } else {
                    Step::Ipv4(buf, 0)
                }
            }
            None => Step::Done,
        }
    }
}
