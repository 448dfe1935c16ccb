//! The packet summary the decoder hands to later stages, and its anomaly list.

use super::events::{DecodeEvent, Layer};
use super::LinkType;
use std::net::{IpAddr, Ipv4Addr};

/// Anomalies kept inline per packet. More are still counted (`decoder.anomalies_dropped`
/// tells how many were not stored).
pub const MAX_ANOMALIES: usize = 8;
/// VLAN ids kept (outermost first).
pub const MAX_VLANS: usize = 3;

/// One malformed or suspicious detail of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anomaly {
    /// The Suricata decoder event.
    pub event: DecodeEvent,
    /// Layer it was found in.
    pub layer: Layer,
    /// Offset of the offending header in the bytes it was found in (see `in_reassembled`).
    pub offset: u32,
    /// Bytes the layer needed (0 when not a length problem).
    pub needed: u32,
    /// Bytes that were available from `offset`.
    pub available: u32,
    /// True when `offset` refers to [`Packet::data`] (a reassembled datagram) rather than
    /// [`Packet::frame`].
    pub in_reassembled: bool,
}

/// Fixed-capacity anomaly list; never allocates. Two lists are equal when they stored the
/// same anomalies in the same order and counted the same number.
#[derive(Debug, Clone, Copy)]
pub struct Anomalies {
    items: [Option<Anomaly>; MAX_ANOMALIES],
    len: u8,
    total: u16,
}

impl Default for Anomalies {
    fn default() -> Self {
        Anomalies {
            items: [None; MAX_ANOMALIES],
            len: 0,
            total: 0,
        }
    }
}

impl PartialEq for Anomalies {
    fn eq(&self, other: &Self) -> bool {
        self.total == other.total && self.iter().eq(other.iter())
    }
}

impl Eq for Anomalies {}

impl Anomalies {
    /// Stores `a` if there is room; returns false when it was counted but not stored.
    pub(crate) fn push(&mut self, a: Anomaly) -> bool {
        self.total = self.total.saturating_add(1);
        if usize::from(self.len) < MAX_ANOMALIES {
            self.items[usize::from(self.len)] = Some(a);
            self.len += 1;
            true
        } else {
            false
        }
    }
    /// The stored anomalies in the order found.
    pub fn iter(&self) -> impl Iterator<Item = &Anomaly> + '_ {
        self.items[..usize::from(self.len)].iter().flatten()
    }
    /// Stored anomalies.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }
    /// True when the packet raised no anomaly.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
    /// Anomalies raised, stored or not.
    pub fn total(&self) -> usize {
        usize::from(self.total)
    }
    /// True when `event` was raised and stored.
    pub fn contains(&self, event: DecodeEvent) -> bool {
        self.iter().any(|a| a.event == event)
    }
}

/// Result of a checksum check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Csum {
    /// Not checked: validation off, no checksum on the wire (UDP/IPv4 zero), fragment, or
    /// truncated.
    #[default]
    NotChecked,
    /// Verified.
    Ok,
    /// Failed.
    Bad,
}

/// The NIC's checksum verdicts live below both the receive path and the decoder.
pub use crate::offload::{HwChecksums, HwCsum};

/// Checksum status per layer (innermost IP and L4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checksums {
    /// IPv4 header checksum.
    pub ipv4: Csum,
    /// TCP, UDP, ICMPv4 or ICMPv6 checksum.
    pub l4: Csum,
}

/// Encapsulation the innermost packet was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TunnelKind {
    /// Not tunnelled.
    #[default]
    None,
    /// GRE (id = key when present).
    Gre,
    /// VXLAN (id = VNI).
    Vxlan,
    /// Geneve (id = VNI).
    Geneve,
    /// IPv4 or IPv6 in IPv4/IPv6.
    IpInIp,
    /// PPTP (GRE version 1 + PPP; id = call id).
    Pptp,
}

/// Tunnel summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tunnel {
    /// Innermost encapsulation.
    pub kind: TunnelKind,
    /// Number of encapsulations crossed.
    pub depth: u8,
    /// VXLAN VNI, GRE key or PPTP call id (0 when absent).
    pub id: u32,
    /// Where the innermost encapsulation's inner bytes start (after the GRE, VXLAN or Geneve
    /// header; the inner IP header of IP-in-IP), in [`Packet::data`] when `in_data` is set,
    /// else in [`Packet::frame`].
    pub inner_offset: u32,
    /// `inner_offset` refers to a reassembled datagram ([`Packet::data`]).
    pub in_data: bool,
}

/// Fragmentation fields of the innermost IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FragInfo {
    /// IPv4 DF.
    pub dont_fragment: bool,
    /// MF (IPv4 flag or IPv6 fragment header M bit).
    pub more_fragments: bool,
    /// Offset in bytes.
    pub offset: u16,
    /// True when the header describes one fragment of a larger datagram.
    pub is_fragment: bool,
    /// IPv4 reserved ("evil") bit.
    pub reserved_bit: bool,
}

/// The innermost IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpInfo {
    /// 4 or 6.
    pub version: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper protocol (after IPv6 extension headers).
    pub proto: u8,
    /// TTL / hop limit.
    pub ttl: u8,
    /// TOS / traffic class.
    pub tos: u8,
    /// IPv4 identification or IPv6 fragment identification (0 if none).
    pub id: u32,
    /// Fragment fields.
    pub frag: FragInfo,
    /// IPv4 options or IPv6 extension headers present.
    pub options_present: bool,
    /// IPv4 total length or IPv6 40 + payload length.
    pub total_len: u32,
    /// IPv6 flow label (0 for IPv4).
    pub flow_label: u32,
}

/// The outermost IP header of a tunnelled packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OuterIp {
    /// Source.
    pub src: IpAddr,
    /// Destination.
    pub dst: IpAddr,
    /// Protocol carrying the tunnel.
    pub proto: u8,
}

/// Parsed TCP options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOpts {
    /// Maximum segment size.
    pub mss: Option<u16>,
    /// Window scale shift.
    pub wscale: Option<u8>,
    /// SACK permitted.
    pub sack_permitted: bool,
    /// SACK blocks (left, right), `sack_len` of them valid.
    pub sack: [(u32, u32); 4],
    /// Valid SACK blocks.
    pub sack_len: u8,
    /// Timestamp value and echo reply.
    pub timestamp: Option<(u32, u32)>,
    /// TCP Fast Open option present, with its cookie length (0 = cookie request).
    pub tfo_cookie_len: Option<u8>,
}

/// TCP header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flag bits (see [`crate::wire::tcp::flags`]).
    pub flags: u16,
    /// Raw window.
    pub window: u16,
    /// Header length in bytes.
    pub header_len: u8,
    /// Urgent pointer.
    pub urgent: u16,
    /// Parsed options.
    pub options: TcpOpts,
}

/// UDP header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpInfo {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Length field.
    pub len: u16,
}

/// ICMP (v4 or v6) header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpInfo {
    /// Type.
    pub kind: u8,
    /// Code.
    pub code: u8,
    /// Identifier (echo-like messages, else 0).
    pub id: u16,
    /// Sequence (echo-like messages, else 0).
    pub seq: u16,
}

/// The transport layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum L4 {
    /// None decoded (non-IP, fragment, or a malformed layer below).
    #[default]
    None,
    /// TCP.
    Tcp(TcpInfo),
    /// UDP.
    Udp(UdpInfo),
    /// ICMPv4.
    Icmpv4(IcmpInfo),
    /// ICMPv6.
    Icmpv6(IcmpInfo),
    /// Another protocol, not decoded further (SCTP, ESP, unknown...).
    Other(u8),
}

/// Everything later stages need from one packet, without re-parsing. Equality compares the
/// bytes that `frame`, `data`, `ip_header` and `payload` hold, not where they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Link type it was decoded as.
    pub link: LinkType,
    /// The captured frame.
    pub frame: &'a [u8],
    /// The bytes `ip_header` and `payload` point into: the frame, or the rebuilt datagram when
    /// `reassembled`.
    pub data: &'a [u8],
    /// This packet completed an IP datagram and describes the rebuilt datagram.
    pub reassembled: bool,
    /// The defragmenter had no room for this fragment (memcap, trackers or fragments): it
    /// was not kept (the `defrag-memcap` exception).
    pub defrag_refused: bool,
    /// VLAN ids, outermost first; `vlan_len` are valid.
    pub vlan: [u16; MAX_VLANS],
    /// Number of VLAN tags seen (may exceed `MAX_VLANS` in hostile frames).
    pub vlan_len: u8,
    /// MPLS labels seen.
    pub mpls_labels: u8,
    /// Tunnel summary.
    pub tunnel: Tunnel,
    /// Outermost IP header when tunnelled.
    pub outer: Option<OuterIp>,
    /// Innermost IP header, if one was decoded.
    pub ip: Option<IpInfo>,
    /// The innermost IP header bytes (IPv6 extension headers included).
    pub ip_header: &'a [u8],
    /// Transport layer.
    pub l4: L4,
    /// L4 payload (TCP/UDP data, ICMP body after 8 bytes, other protocols' bytes, or a
    /// fragment's data).
    pub payload: &'a [u8],
    /// Checksum status.
    pub csum: Checksums,
    /// Anomalies found.
    pub anomalies: Anomalies,
    /// A layer could not be decoded (counted in `decoder.invalid`).
    pub invalid: bool,
    /// Layers decoded.
    pub layers: u8,
}

impl<'a> Packet<'a> {
    /// The summary of `frame` before any layer is decoded (what [`super::Decoder::decode_into`]
    /// starts from).
    pub fn new(link: LinkType, frame: &'a [u8]) -> Self {
        Packet {
            link,
            frame,
            data: frame,
            reassembled: false,
            defrag_refused: false,
            vlan: [0; MAX_VLANS],
            vlan_len: 0,
            mpls_labels: 0,
            tunnel: Tunnel::default(),
            outer: None,
            ip: None,
            ip_header: &[],
            l4: L4::None,
            payload: &[],
            csum: Checksums::default(),
            anomalies: Anomalies::default(),
            invalid: false,
            layers: 0,
        }
    }

    /// Bytes a flow counts for this packet: the captured frame, or for a tunnelled packet
    /// what follows the innermost encapsulation header, as Suricata counts its tunnel
    /// pseudo-packets.
    pub fn flow_len(&self) -> usize {
        if self.tunnel.depth == 0 {
            return self.frame.len();
        }
        let bytes = if self.tunnel.in_data {
            self.data
        } else {
            self.frame
        };
        bytes
            .len()
            .saturating_sub(self.tunnel.inner_offset as usize)
    }

    /// Source and destination ports of TCP/UDP (ICMP and others: zeros).
    pub fn ports(&self) -> (u16, u16) {
        match self.l4 {
            L4::Tcp(t) => (t.src_port, t.dst_port),
            L4::Udp(u) => (u.src_port, u.dst_port),
            _ => (0, 0),
        }
    }

    /// The innermost VLAN id, 0 when untagged.
    pub fn inner_vlan(&self) -> u16 {
        match self.vlan_len {
            0 => 0,
            n => self.vlan[usize::from(n.min(MAX_VLANS as u8)) - 1],
        }
    }

    /// Source address, or unspecified IPv4 for non-IP packets.
    pub fn src_addr(&self) -> IpAddr {
        self.ip
            .map(|i| i.src)
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    /// Destination address, or unspecified IPv4 for non-IP packets.
    pub fn dst_addr(&self) -> IpAddr {
        self.ip
            .map(|i| i.dst)
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    /// True when `event` was raised on this packet.
    pub fn has_event(&self, event: DecodeEvent) -> bool {
        self.anomalies.contains(event)
    }

    /// Checks the summary's structural promises: `data` is the frame unless reassembled,
    /// `ip_header` and `payload` lie inside `data`, anomaly offsets lie inside the bytes they
    /// refer to, an invalid packet carries an invalid event, and the VLAN list is consistent.
    /// Used by tests and the fuzz target; cheap enough for debug assertions.
    pub fn validate(&self) -> Result<(), &'static str> {
        if !self.reassembled && !core::ptr::eq(self.data, self.frame) {
            return Err("data differs from frame without reassembly");
        }
        for s in [self.ip_header, self.payload] {
            if !s.is_empty() && !contains(self.data, s) {
                return Err("slice outside packet data");
            }
        }
        for a in self.anomalies.iter() {
            let limit = if a.in_reassembled {
                self.data.len()
            } else {
                self.frame.len()
            };
            if a.offset as usize > limit {
                return Err("anomaly offset outside its bytes");
            }
            if a.layer != a.event.layer() {
                return Err("anomaly layer mismatch");
            }
        }
        if self.invalid && !self.anomalies.iter().any(|a| a.event.is_invalid()) {
            let stored_all = self.anomalies.len() == self.anomalies.total();
            if stored_all {
                return Err("invalid packet without an invalid event");
            }
        }
        if self.anomalies.len() > self.anomalies.total() {
            return Err("more anomalies stored than raised");
        }
        if self.reassembled && self.ip.is_none() {
            return Err("reassembled packet without IP");
        }
        Ok(())
    }
}

/// True when `inner` is a sub-slice of `outer` (by address, no unsafe).
fn contains(outer: &[u8], inner: &[u8]) -> bool {
    let o = outer.as_ptr() as usize;
    let i = inner.as_ptr() as usize;
    i >= o && i + inner.len() <= o + outer.len()
}
