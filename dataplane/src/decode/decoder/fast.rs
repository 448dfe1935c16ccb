//! The straight-line decode of the frames that make up most traffic: Ethernet, at most two
//! VLAN tags, IPv4 without options that is not a fragment, then TCP or UDP (not VXLAN or
//! Geneve) with consistent lengths.
//!
//! Every condition that could send the general walker down another road (a short header, an
//! unusual length, options, fragments, tunnels, the layer limit) is checked before anything
//! is written, and any of them hands the frame back untouched: the general walker then decodes
//! it from the start. What the fast path writes is what the walker writes for the same frame
//! (the same `Packet` fields, counters and events), in the same order where order shows; the
//! TCP and UDP layers are the walker's own functions. `decode_props::fast_path_is_identical`
//! holds it to that over real captures and generated frames.

use super::{Dec, Pseudo};
use crate::decode::packet::{FragInfo, IpInfo};
use crate::wire::{ethernet, ethertype, geneve, ipproto, ipv4, tcp, udp, vlan, vxlan};
use std::net::{IpAddr, Ipv4Addr};

/// VLAN tags the fast path follows (the walker's third tag is its own counter's business).
const MAX_TAGS: usize = 2;

impl<'p> Dec<'_, 'p> {
    /// Decodes `frame` (link type Ethernet) if it has the common shape and returns true; else
    /// returns false having changed nothing. `self.pkt` holds `Packet::new`.
    #[inline]
    pub(super) fn fast_ethernet(&mut self, frame: &'p [u8]) -> bool {
        let Some(eth) = frame.first_chunk::<{ ethernet::HEADER_LEN }>() else {
            return false;
        };
        let mut et = u16::from_be_bytes([eth[12], eth[13]]);
        let mut off = ethernet::HEADER_LEN;
        let mut vids = [0u16; MAX_TAGS];
        let mut tags = 0;
        // At most MAX_TAGS + 1 rounds: each either returns or takes one of the slots.
        while vlan::is_vlan_tpid(et) {
            if tags == MAX_TAGS {
                return false;
            }
            let Some(tag) = frame[off..].first_chunk::<{ vlan::HEADER_LEN }>() else {
                return false;
            };
            vids[tags] = u16::from_be_bytes([tag[0], tag[1]]) & 0x0fff;
            et = u16::from_be_bytes([tag[2], tag[3]]);
            tags += 1;
            off += vlan::HEADER_LEN;
        }
        // The walker counts Ethernet, one EtherType dispatch per tag and one for IPv4, then
        // the IPv4 header (TCP and UDP run inside the IPv4 layer).
        let layers = 3 + tags as u8;
        if et != ethertype::IPV4 || layers > self.cfg.max_layers {
            return false;
        }
        let b = &frame[off..];
        let Some(h) = b.first_chunk::<{ ipv4::MIN_HEADER_LEN }>() else {
            return false;
        };
        // Version 4, IHL 5: no options.
        if h[0] != 0x45 {
            return false;
        }
        let tl = usize::from(u16::from_be_bytes([h[2], h[3]]));
        let flags_frag = u16::from_be_bytes([h[6], h[7]]);
        // MF clear and offset zero: not a fragment.
        if tl < ipv4::MIN_HEADER_LEN || b.len() < tl || flags_frag & 0x3fff != 0 {
            return false;
        }
        let b = &b[..tl];
        let l4 = &b[ipv4::MIN_HEADER_LEN..];
        let proto = h[9];
        match proto {
            ipproto::TCP => {
                let Some(t) = l4.first_chunk::<{ tcp::MIN_HEADER_LEN }>() else {
                    return false;
                };
                let hl = usize::from(t[12] >> 4) * 4;
                if hl < tcp::MIN_HEADER_LEN || hl > l4.len() {
                    return false;
                }
            }
            ipproto::UDP => {
                let Some(u) = l4.first_chunk::<{ udp::HEADER_LEN }>() else {
                    return false;
                };
                let ulen = usize::from(u16::from_be_bytes([u[4], u[5]]));
                let dst = u16::from_be_bytes([u[2], u[3]]);
                if ulen != l4.len()
                    || (self.cfg.vxlan && dst == vxlan::UDP_PORT)
                    || (self.cfg.geneve && dst == geneve::UDP_PORT)
                {
                    return false;
                }
            }
            _ => return false,
        }

        // The frame is of the common shape: from here on, write what the walker writes.
        self.counters.ethernet += 1;
        for &vid in &vids[..tags] {
            // At most two tags, into a packet that holds none yet: always stored.
            if let Some(idx) = self.push_vlan(vid) {
                if idx == 0 {
                    self.counters.vlan += 1;
                } else {
                    self.counters.vlan_qinq += 1;
                }
            }
        }
        self.pkt.layers = layers;
        self.counters.ipv4 += 1;
        let src = [h[12], h[13], h[14], h[15]];
        let dst = [h[16], h[17], h[18], h[19]];
        self.pkt.ip = Some(IpInfo {
            version: 4,
            src: IpAddr::V4(Ipv4Addr::from(src)),
            dst: IpAddr::V4(Ipv4Addr::from(dst)),
            proto,
            ttl: h[8],
            tos: h[1],
            id: u32::from(u16::from_be_bytes([h[4], h[5]])),
            frag: FragInfo {
                dont_fragment: flags_frag & 0x4000 != 0,
                more_fragments: false,
                offset: 0,
                is_fragment: false,
                reserved_bit: flags_frag & 0x8000 != 0,
            },
            options_present: false,
            total_len: tl as u32,
            flow_label: 0,
        });
        self.pkt.ip_header = &b[..ipv4::MIN_HEADER_LEN];
        if self.cfg.checksum_validation {
            self.ipv4_checksum(&b[..ipv4::MIN_HEADER_LEN]);
        }
        let l4_off = off + ipv4::MIN_HEADER_LEN;
        let ps = Pseudo::V4(src, dst);
        if proto == ipproto::TCP {
            self.tcp(l4, l4_off, ps);
        } else {
            // Not VXLAN or Geneve (checked above): plain UDP, nothing follows.
            let _ = self.udp(l4, l4_off, ps);
        }
        true
    }
}
