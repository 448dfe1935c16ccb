//! The straight-line decode of the frames that make up most traffic: Ethernet, at most two
//! VLAN tags, IPv4 without options that is not a fragment or IPv6 without extension headers,
//! then TCP or UDP (not VXLAN or Geneve) with consistent lengths.
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
use crate::wire::{ethernet, ethertype, geneve, ipproto, ipv4, ipv6, tcp, udp, vlan, vxlan};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
        // The walker counts Ethernet, one EtherType dispatch per tag and one for IP, then the
        // IP header (TCP and UDP run inside the IP layer).
        let layers = 3 + tags as u8;
        if layers > self.cfg.max_layers {
            return false;
        }
        let b = &frame[off..];
        let (proto, l4, l4_off, ps) = match et {
            ethertype::IPV4 => {
                let Some((h, b)) = ipv4_shape(b) else {
                    return false;
                };
                let l4 = &b[ipv4::MIN_HEADER_LEN..];
                if !self.l4_shape(h[9], l4) {
                    return false;
                }
                // The frame is of the common shape: from here on, write what the walker
                // writes.
                self.l2_commit(&vids[..tags], layers);
                self.counters.ipv4 += 1;
                let flags_frag = u16::from_be_bytes([h[6], h[7]]);
                let src = [h[12], h[13], h[14], h[15]];
                let dst = [h[16], h[17], h[18], h[19]];
                self.pkt.ip = Some(IpInfo {
                    version: 4,
                    src: IpAddr::V4(Ipv4Addr::from(src)),
                    dst: IpAddr::V4(Ipv4Addr::from(dst)),
                    proto: h[9],
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
                    total_len: b.len() as u32,
                    flow_label: 0,
                });
                self.pkt.ip_header = &b[..ipv4::MIN_HEADER_LEN];
                if self.cfg.checksum_validation {
                    self.ipv4_checksum(&b[..ipv4::MIN_HEADER_LEN]);
                }
                (h[9], l4, off + ipv4::MIN_HEADER_LEN, Pseudo::V4(src, dst))
            }
            ethertype::IPV6 => {
                let Some((h, b)) = ipv6_shape(b) else {
                    return false;
                };
                let l4 = &b[ipv6::HEADER_LEN..];
                if !self.l4_shape(h[6], l4) {
                    return false;
                }
                self.l2_commit(&vids[..tags], layers);
                self.counters.ipv6 += 1;
                let vtf = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
                let mut src = [0u8; 16];
                src.copy_from_slice(&h[8..24]);
                let mut dst = [0u8; 16];
                dst.copy_from_slice(&h[24..40]);
                self.pkt.ip = Some(IpInfo {
                    version: 6,
                    src: IpAddr::V6(Ipv6Addr::from(src)),
                    dst: IpAddr::V6(Ipv6Addr::from(dst)),
                    proto: h[6],
                    ttl: h[7],
                    tos: (vtf >> 20) as u8,
                    id: 0,
                    frag: FragInfo::default(),
                    options_present: false,
                    total_len: b.len() as u32,
                    flow_label: vtf & 0x000f_ffff,
                });
                self.pkt.ip_header = &b[..ipv6::HEADER_LEN];
                (h[6], l4, off + ipv6::HEADER_LEN, Pseudo::V6(src, dst))
            }
            _ => return false,
        };
        if proto == ipproto::TCP {
            self.tcp(l4, l4_off, ps);
        } else {
            // Not VXLAN or Geneve (checked by l4_shape): plain UDP, nothing follows.
            let _ = self.udp(l4, l4_off, ps);
        }
        true
    }

    /// True when the walker would decode `l4` (IP protocol `proto`) as TCP, or as UDP with
    /// nothing after it, and not stop on a length.
    #[inline(always)]
    fn l4_shape(&self, proto: u8, l4: &[u8]) -> bool {
        match proto {
            ipproto::TCP => {
                let Some(t) = l4.first_chunk::<{ tcp::MIN_HEADER_LEN }>() else {
                    return false;
                };
                let hl = usize::from(t[12] >> 4) * 4;
                hl >= tcp::MIN_HEADER_LEN && hl <= l4.len()
            }
            ipproto::UDP => {
                let Some(u) = l4.first_chunk::<{ udp::HEADER_LEN }>() else {
                    return false;
                };
                let ulen = usize::from(u16::from_be_bytes([u[4], u[5]]));
                let dst = u16::from_be_bytes([u[2], u[3]]);
                ulen == l4.len()
                    && !(self.cfg.vxlan && dst == vxlan::UDP_PORT)
                    && !(self.cfg.geneve && dst == geneve::UDP_PORT)
            }
            _ => false,
        }
    }

    /// Writes what the walker writes for the link layer: Ethernet, the VLAN ids and their
    /// counters, and the layers walked to the IP header.
    #[inline(always)]
    fn l2_commit(&mut self, vids: &[u16], layers: u8) {
        self.counters.ethernet += 1;
        for &vid in vids {
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
    }
}

/// An IPv4 header of the common shape at the start of `b` (version 4, IHL 5, a total length
/// that covers the header and fits in `b`, not a fragment): the header and the datagram
/// (`b` without link padding).
#[inline(always)]
fn ipv4_shape(b: &[u8]) -> Option<(&[u8; ipv4::MIN_HEADER_LEN], &[u8])> {
    let h = b.first_chunk::<{ ipv4::MIN_HEADER_LEN }>()?;
    let tl = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // MF clear and offset zero: not a fragment.
    let frag = u16::from_be_bytes([h[6], h[7]]) & 0x3fff;
    (h[0] == 0x45 && tl >= ipv4::MIN_HEADER_LEN && tl <= b.len() && frag == 0)
        .then(|| (h, &b[..tl]))
}

/// An IPv6 header of the common shape at the start of `b` (version 6, a payload length that
/// fits in `b`): the header and the datagram. The caller's `l4_shape` on the next header
/// leaves out extension headers.
#[inline(always)]
fn ipv6_shape(b: &[u8]) -> Option<(&[u8; ipv6::HEADER_LEN], &[u8])> {
    let h = b.first_chunk::<{ ipv6::HEADER_LEN }>()?;
    let total = ipv6::HEADER_LEN + usize::from(u16::from_be_bytes([h[4], h[5]]));
    (h[0] >> 4 == 6 && total <= b.len()).then(|| (h, &b[..total]))
}
