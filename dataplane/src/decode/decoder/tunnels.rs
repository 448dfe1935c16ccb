//! Tunnel layers of the walk: GRE (and ERSPAN inside it), VXLAN, Geneve and NSH.

use super::*;

impl<'p> Dec<'_, 'p> {
    /// ERSPAN inside GRE: type II (the GRE header has a sequence number) has its own header
    /// with the mirrored frame's VLAN, which becomes the packet's next VLAN id as Suricata
    /// records it; type I is the bare frame.
    pub(super) fn erspan(&mut self, b: &'p [u8], off: usize, type2: bool) -> Step<'p> {
        self.counters.erspan += 1;
        if !type2 {
            self.counters.ethernet += 1;
            return Step::Ethernet(b, off);
        }
        let Ok(h) = erspan::ErspanHeader::new_checked(b) else {
            self.event(E::ErspanHeaderTooSmall, off, erspan::HEADER_LEN, b.len());
            return Step::Done;
        };
        if h.version() != erspan::VERSION_TYPE2 {
            self.event(E::ErspanUnsupportedVersion, off, 0, b.len());
            return Step::Done;
        }
        if h.vlan() != 0 && self.push_vlan(h.vlan()).is_none() {
            self.event(E::ErspanTooManyVlanLayers, off, 0, b.len());
            return Step::Done;
        }
        self.counters.ethernet += 1;
        Step::Ethernet(&b[erspan::HEADER_LEN..], off + erspan::HEADER_LEN)
    }

    /// NSH (RFC 8300): checks as Suricata's decoder does, then the next protocol.
    pub(super) fn nsh(&mut self, b: &'p [u8], off: usize) -> Step<'p> {
        self.counters.nsh += 1;
        let Ok(h) = nsh::NshHeader::new_checked(b) else {
            self.event(E::NshHeaderTooSmall, off, nsh::BASE_LEN, b.len());
            return Step::Done;
        };
        if h.version() != 0 {
            self.event(E::NshUnsupportedVersion, off, 0, b.len());
            return Step::Done;
        }
        let len = h.header_len();
        // The header can't be shorter than its fixed part, and something must follow it.
        if len < nsh::BASE_LEN || len >= b.len() {
            self.event(E::NshBadHeaderLength, off, len + 1, b.len());
            return Step::Done;
        }
        match h.md_type() {
            0 | 0xf => {
                self.event(E::NshReservedType, off, 0, b.len());
                return Step::Done;
            }
            1 if len != nsh::MD1_LEN => {
                self.event(E::NshBadHeaderLength, off, nsh::MD1_LEN, len);
                return Step::Done;
            }
            1 | 2 => {}
            _ => {
                self.event(E::NshUnsupportedType, off, 0, b.len());
                return Step::Done;
            }
        }
        let inner = &b[len..];
        let ioff = off + len;
        match h.next_protocol() {
            nsh::next::IPV4 => Step::Ipv4(inner, ioff),
            nsh::next::IPV6 => Step::Ipv6(inner, ioff),
            nsh::next::ETHERNET => {
                self.counters.ethernet += 1;
                Step::Ethernet(inner, ioff)
            }
            nsh::next::MPLS => self.mpls(inner, ioff),
            _ => {
                self.event(E::NshUnknownPayload, off, 0, b.len());
                Step::Done
            }
        }
    }

    pub(super) fn geneve(&mut self, b: &'p [u8], off: usize) -> Step<'p> {
        let Ok(h) = geneve::GeneveHeader::new_checked(b) else {
            return Step::Done; // too short for its options: leave it as plain UDP
        };
        if h.version() != 0 {
            return Step::Done;
        }
        let inner_off = off + h.header_len();
        let inner: &'p [u8] = b.get(h.header_len()..).unwrap_or(&[]);
        let step = match h.protocol() {
            geneve::ETHERNET if inner.len() >= ethernet::HEADER_LEN => {
                self.counters.ethernet += 1;
                Step::Ethernet(inner, inner_off)
            }
            ethertype::IPV4 => Step::Ipv4(inner, inner_off),
            ethertype::IPV6 => Step::Ipv6(inner, inner_off),
            _ => {
                self.event(E::GeneveUnknownPayloadType, off, 0, inner.len());
                return Step::Done;
            }
        };
        self.counters.geneve += 1;
        self.enter_tunnel(TunnelKind::Geneve, h.vni(), inner_off);
        step
    }

    pub(super) fn vxlan(&mut self, b: &'p [u8], off: usize) -> Step<'p> {
        let Ok(h) = vxlan::VxlanHeader::new_checked(b) else {
            return Step::Done; // not VXLAN: leave it as plain UDP
        };
        // RFC 7348 §5: only the I flag may be set and the reserved bytes are zero.
        if h.flags() != 0x08 || b[1..4] != [0, 0, 0] || b[7] != 0 {
            return Step::Done;
        }
        let inner = &b[vxlan::HEADER_LEN..];
        if inner.len() < ethernet::HEADER_LEN {
            self.event(
                E::VxlanUnknownPayloadType,
                off,
                ethernet::HEADER_LEN,
                inner.len(),
            );
            return Step::Done;
        }
        let et = u16::from_be_bytes([inner[12], inner[13]]);
        if !matches!(et, ethertype::IPV4 | ethertype::IPV6 | ethertype::ARP)
            && !vlan::is_vlan_tpid(et)
        {
            self.event(E::VxlanUnknownPayloadType, off, 0, inner.len());
            return Step::Done;
        }
        self.counters.vxlan += 1;
        self.counters.ethernet += 1;
        self.enter_tunnel(TunnelKind::Vxlan, h.vni(), off + vxlan::HEADER_LEN);
        Step::Ethernet(inner, off + vxlan::HEADER_LEN)
    }

    pub(super) fn gre(&mut self, b: &'p [u8], off: usize) -> Step<'p> {
        self.counters.gre += 1;
        if b.len() < gre::BASE_LEN {
            self.event(E::GrePktTooSmall, off, gre::BASE_LEN, b.len());
            return Step::Done;
        }
        let g = gre::GrePacket::new_unchecked(b);
        let hl = match g.version() {
            0 => {
                if g.recursion() != 0 {
                    self.event(E::GreVersion0Recur, off, 0, 0);
                    return Step::Done;
                }
                if g.has(gre::flags::RESERVED | gre::flags::ACK) {
                    self.event(E::GreVersion0Flags, off, 0, 0);
                    return Step::Done;
                }
                match g.header_len() {
                    Ok(hl) if hl <= b.len() => hl,
                    Ok(hl) => {
                        self.event(E::GreVersion0HdrTooBig, off, hl, b.len());
                        return Step::Done;
                    }
                    Err(_) => {
                        self.event(E::GreVersion0MalformedSreHdr, off, 0, b.len());
                        return Step::Done;
                    }
                }
            }
            1 => {
                let checks = [
                    (gre::flags::CHECKSUM, E::GreVersion1Chksum),
                    (gre::flags::ROUTING, E::GreVersion1Route),
                    (gre::flags::STRICT, E::GreVersion1Ssr),
                    (gre::flags::RECUR, E::GreVersion1Recur),
                    (gre::flags::RESERVED, E::GreVersion1Flags),
                ];
                for (flag, ev) in checks {
                    if g.has(flag) {
                        self.event(ev, off, 0, 0);
                        return Step::Done;
                    }
                }
                if !g.has(gre::flags::KEY) {
                    self.event(E::GreVersion1NoKey, off, 0, 0);
                    return Step::Done;
                }
                if g.protocol() != gre::PROTO_PPP {
                    self.event(E::GreVersion1WrongProtocol, off, 0, 0);
                    return Step::Done;
                }
                match g.header_len() {
                    Ok(hl) if hl <= b.len() => hl,
                    Ok(hl) => {
                        self.event(E::GreVersion1HdrTooBig, off, hl, b.len());
                        return Step::Done;
                    }
                    Err(_) => {
                        self.event(E::GreVersion1MalformedSreHdr, off, 0, b.len());
                        return Step::Done;
                    }
                }
            }
            _ => {
                self.event(E::GreWrongVersion, off, 0, 0);
                return Step::Done;
            }
        };
        let payload = &b[hl..];
        let poff = off + hl;
        if g.version() == 1 {
            self.enter_tunnel(TunnelKind::Pptp, g.key().unwrap_or(0) & 0xffff, poff);
            return Step::Ppp(payload, poff);
        }
        self.enter_tunnel(TunnelKind::Gre, g.key().unwrap_or(0), poff);
        match g.protocol() {
            gre::PROTO_PPP => Step::Ppp(payload, poff),
            erspan::GRE_PROTO => self.erspan(payload, poff, g.has(gre::flags::SEQ)),
            ethertype::TEB => {
                self.counters.ethernet += 1;
                Step::Ethernet(payload, poff)
            }
            et => Step::EtherType(et, payload, poff),
        }
    }
}
