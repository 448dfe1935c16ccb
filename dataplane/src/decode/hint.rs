//! A flow hint: the tuple of a plain TCP or UDP packet read straight from its headers, without
//! validation, events or counters. The worker takes hints for a whole burst before decoding
//! any of its packets, to prefetch their flows; a wrong or missing hint only costs a useless or
//! missing prefetch, never a wrong result (the decoder and flow table do the real work).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::LinkType;

/// What a hint gives: the innermost VLAN id and the 5-tuple, sender first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowHint {
    pub vlan: u16,
    pub proto: u8,
    pub src: IpAddr,
    pub src_port: u16,
    pub dst: IpAddr,
    pub dst_port: u16,
}

/// The hint of an Ethernet frame carrying (up to two VLAN tags and) an unfragmented IPv4 or
/// IPv6 packet with TCP or UDP directly after the fixed header; `None` for anything else.
#[inline]
pub fn flow_hint(link: LinkType, frame: &[u8]) -> Option<FlowHint> {
    if link != LinkType::Ethernet {
        return None;
    }
    let mut off = 12;
    let mut ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let mut vlan = 0;
    for _ in 0..2 {
        if ethertype != 0x8100 && ethertype != 0x88a8 {
            break;
        }
        let tag = frame.get(off + 2..off + 6)?;
        vlan = u16::from_be_bytes([tag[0], tag[1]]) & 0x0fff;
        ethertype = u16::from_be_bytes([tag[2], tag[3]]);
        off += 4;
    }
    let ip = frame.get(off + 2..)?;
    let (proto, src, dst, l4) = match ethertype {
        0x0800 => {
            let h = ip.get(..20)?;
            let ihl = usize::from(h[0] & 0x0f) * 4;
            // Fragments (offset or more-fragments set) carry no ports after the first.
            if h[0] >> 4 != 4 || ihl < 20 || u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0 {
                return None;
            }
            let src = Ipv4Addr::new(h[12], h[13], h[14], h[15]);
            let dst = Ipv4Addr::new(h[16], h[17], h[18], h[19]);
            (h[9], IpAddr::V4(src), IpAddr::V4(dst), ip.get(ihl..)?)
        }
        0x86dd => {
            let h = ip.get(..40)?;
            if h[0] >> 4 != 6 {
                return None;
            }
            let src: [u8; 16] = h[8..24].try_into().ok()?;
            let dst: [u8; 16] = h[24..40].try_into().ok()?;
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            (h[6], IpAddr::V6(src), IpAddr::V6(dst), ip.get(40..)?)
        }
        _ => return None,
    };
    if proto != 6 && proto != 17 {
        return None;
    }
    let p = l4.get(..4)?;
    Some(FlowHint {
        vlan,
        proto,
        src,
        src_port: u16::from_be_bytes([p[0], p[1]]),
        dst,
        dst_port: u16::from_be_bytes([p[2], p[3]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{DecodeConfig, Decoder, L4};
    use crate::time::Timestamp;

    /// On real traffic (the first 30,000 frames of `public_mix.pcap`), every hint agrees with
    /// what the decoder finds for untunnelled packets.
    #[test]
    fn hints_agree_with_the_decoder_on_real_traffic() {
        let Some(path) = vocab::testing::shared_data("pcaps/public_mix.pcap") else {
            return;
        };
        let file = std::fs::File::open(path).unwrap();
        let mut r = pcap_file::pcap::PcapReader::new(std::io::BufReader::new(file)).unwrap();
        let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
        let (mut agreed, mut frames) = (0, 0);
        while let Some(Ok(p)) = r.next_packet() {
            frames += 1;
            if frames > 30_000 {
                break;
            }
            let hint = flow_hint(LinkType::Ethernet, &p.data);
            let pkt = dec.decode(LinkType::Ethernet, &p.data, Timestamp(0));
            let Some(h) = hint else {
                continue;
            };
            if pkt.outer.is_some() || pkt.tunnel.id != 0 || pkt.invalid {
                continue;
            }
            let ip = pkt.ip.expect("a hinted frame has an IP header");
            let ports = match pkt.l4 {
                L4::Tcp(t) => (t.src_port, t.dst_port),
                L4::Udp(u) => (u.src_port, u.dst_port),
                ref other => panic!("frame {frames}: hint {h:?}, decoder {other:?}"),
            };
            assert_eq!(
                (h.vlan, h.proto, h.src, h.src_port, h.dst, h.dst_port),
                (pkt.inner_vlan(), ip.proto, ip.src, ports.0, ip.dst, ports.1),
                "frame {frames}"
            );
            agreed += 1;
        }
        assert!(agreed > 20_000, "{agreed} of {frames}");
    }

    #[test]
    fn short_and_foreign_frames_give_no_hint() {
        assert_eq!(flow_hint(LinkType::Ethernet, &[]), None);
        assert_eq!(flow_hint(LinkType::Ethernet, &[0u8; 13]), None);
        let mut arp = vec![0u8; 60];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(flow_hint(LinkType::Ethernet, &arp), None);
        assert_eq!(flow_hint(LinkType::Raw, &[0x45; 60]), None);
    }
}
