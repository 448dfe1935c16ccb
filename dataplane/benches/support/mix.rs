//! Just enough header extraction to drive the flow layer from a classic pcap (Ethernet,
//! 802.1Q/QinQ, IPv4, IPv6 with extension headers, TCP, UDP, ICMP) in tests and benches of the
//! flow module. Not the product's decoder (`dataplane::decode`): it skips what it does not
//! understand instead of reporting anomalies.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dataplane::flow::{proto, FlowTuple, Packet, TcpFlags, TcpSegment};
use dataplane::time::Timestamp;

/// One packet's flow-relevant fields; payload is a range of [`Capture::bytes`].
pub struct MixPacket {
    pub ts: Timestamp,
    pub tuple: FlowTuple,
    pub wire_len: u32,
    pub tcp: Option<(u32, u32, u8, u16, Option<u8>)>,
    pub payload: (usize, usize),
}

/// All packets of a capture, preloaded.
pub struct Capture {
    pub bytes: Vec<u8>,
    pub packets: Vec<MixPacket>,
    pub skipped: usize,
}

impl Capture {
    /// The flow layer's view of packet `i`.
    pub fn packet(&self, i: usize) -> Packet<'_> {
        let p = &self.packets[i];
        Packet {
            icmp: None,
            payload: &[],
            tuple: p.tuple,
            wire_len: p.wire_len,
            tcp: p.tcp.map(|(seq, ack, flags, window, wscale)| TcpSegment {
                seq,
                ack,
                flags: TcpFlags(flags),
                window,
                wscale,
                payload: &self.bytes[p.payload.0..p.payload.1],
            }),
        }
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses a little- or big-endian microsecond pcap with Ethernet link type.
pub fn load(file: &[u8]) -> Option<Capture> {
    let magic = file.get(..4)?;
    let le = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] => false,
        _ => return None,
    };
    let rd = |at: usize| -> Option<u32> {
        let b: [u8; 4] = file.get(at..at + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let mut cap = Capture {
        bytes: Vec::with_capacity(file.len()),
        packets: Vec::new(),
        skipped: 0,
    };
    let mut at = 24;
    while at + 16 <= file.len() {
        let (secs, usecs, incl, orig) = (rd(at)?, rd(at + 4)?, rd(at + 8)? as usize, rd(at + 12)?);
        let frame = file.get(at + 16..at + 16 + incl)?;
        at += 16 + incl;
        let base = cap.bytes.len();
        cap.bytes.extend_from_slice(frame);
        match parse(frame, base) {
            Some((tuple, tcp, payload)) => cap.packets.push(MixPacket {
                ts: Timestamp::from_micros(secs as u64, usecs),
                tuple,
                wire_len: orig,
                tcp,
                payload,
            }),
            None => cap.skipped += 1,
        }
    }
    Some(cap)
}

type Parsed = (
    FlowTuple,
    Option<(u32, u32, u8, u16, Option<u8>)>,
    (usize, usize),
);

fn parse(f: &[u8], base: usize) -> Option<Parsed> {
    let mut ethertype = be16(f, 12)?;
    let mut at = 14;
    let mut zone = 0u32;
    // Up to two VLAN tags.
    for _ in 0..2 {
        if ethertype == 0x8100 || ethertype == 0x88a8 {
            zone = (zone << 12) | (be16(f, at)? & 0x0fff) as u32;
            ethertype = be16(f, at + 2)?;
            at += 4;
        }
    }
    let (src, dst, l4, mut l4_at, l3_end) = match ethertype {
        0x0800 => {
            let ihl = (*f.get(at)? & 0x0f) as usize * 4;
            let total = be16(f, at + 2)? as usize;
            let frag = be16(f, at + 6)?;
            if frag & 0x1fff != 0 {
                return None; // non-first fragment: no ports
            }
            let src: [u8; 4] = f.get(at + 12..at + 16)?.try_into().ok()?;
            let dst: [u8; 4] = f.get(at + 16..at + 20)?.try_into().ok()?;
            let end = (at + total.max(ihl)).min(f.len());
            (
                IpAddr::V4(Ipv4Addr::from(src)),
                IpAddr::V4(Ipv4Addr::from(dst)),
                *f.get(at + 9)?,
                at + ihl,
                end,
            )
        }
        0x86dd => {
            let plen = be16(f, at + 4)? as usize;
            let src: [u8; 16] = f.get(at + 8..at + 24)?.try_into().ok()?;
            let dst: [u8; 16] = f.get(at + 24..at + 40)?.try_into().ok()?;
            let mut nh = *f.get(at + 6)?;
            let mut p = at + 40;
            // Extension headers: hop-by-hop, routing, destination options, fragment.
            for _ in 0..8 {
                match nh {
                    0 | 43 | 60 => {
                        nh = *f.get(p)?;
                        p += (*f.get(p + 1)? as usize + 1) * 8;
                    }
                    44 => {
                        if be16(f, p + 2)? & 0xfff8 != 0 {
                            return None;
                        }
                        nh = *f.get(p)?;
                        p += 8;
                    }
                    _ => break,
                }
            }
            (
                IpAddr::V6(Ipv6Addr::from(src)),
                IpAddr::V6(Ipv6Addr::from(dst)),
                nh,
                p,
                (at + 40 + plen).min(f.len()),
            )
        }
        _ => return None,
    };
    let mut tuple = FlowTuple {
        zone,
        proto: l4,
        src,
        src_port: 0,
        dst,
        dst_port: 0,
    };
    let mut tcp = None;
    match l4 {
        proto::TCP => {
            tuple.src_port = be16(f, l4_at)?;
            tuple.dst_port = be16(f, l4_at + 2)?;
            let seq = be32(f, l4_at + 4)?;
            let ack = be32(f, l4_at + 8)?;
            let hlen = (*f.get(l4_at + 12)? >> 4) as usize * 4;
            let flags = *f.get(l4_at + 13)?;
            let window = be16(f, l4_at + 14)?;
            let mut wscale = None;
            let opts = f.get(l4_at + 20..(l4_at + hlen).min(f.len()))?;
            let mut i = 0;
            while i < opts.len() {
                match opts[i] {
                    0 => break,
                    1 => i += 1,
                    kind => {
                        let len = *opts.get(i + 1)? as usize;
                        if kind == 3 && len == 3 {
                            wscale = Some(*opts.get(i + 2)?);
                        }
                        i += len.max(2);
                    }
                }
            }
            tcp = Some((seq, ack, flags, window, wscale));
            l4_at += hlen;
        }
        proto::UDP => {
            tuple.src_port = be16(f, l4_at)?;
            tuple.dst_port = be16(f, l4_at + 2)?;
            l4_at += 8;
        }
        proto::ICMP | proto::ICMPV6 => {
            let ty = *f.get(l4_at)?;
            // Echo request/reply: one flow per echo id.
            if matches!(ty, 0 | 8 | 128 | 129) {
                let id = be16(f, l4_at + 4)?;
                tuple.src_port = id;
                tuple.dst_port = id;
            }
        }
        _ => {}
    }
    let start = l4_at.min(l3_end);
    Some((tuple, tcp, (base + start, base + l3_end.max(start))))
}
