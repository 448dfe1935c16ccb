//! The transport layers of the walk: TCP (with its options), UDP, ICMPv4 and ICMPv6.

use super::*;

impl<'p> Dec<'_, 'p> {
    pub(super) fn transport(&mut self, proto: u8, b: &'p [u8], off: usize, ps: Pseudo) -> Step<'p> {
        let v6 = ps.is_v6();
        self.pkt.payload = b;
        match proto {
            ipproto::TCP => {
                self.tcp(b, off, ps);
                Step::Done
            }
            ipproto::UDP => self.udp(b, off, ps),
            ipproto::ICMP if v6 => {
                self.event(E::Ipv6Icmpv4, off, 0, b.len());
                Step::Done
            }
            ipproto::ICMP => {
                self.icmpv4(b, off);
                Step::Done
            }
            ipproto::ICMPV6 if !v6 => {
                self.event(E::Ipv4Icmpv6, off, 0, b.len());
                Step::Done
            }
            ipproto::ICMPV6 => {
                self.icmpv6(b, off, ps);
                Step::Done
            }
            ipproto::GRE => self.gre(b, off),
            ipproto::IPIP => {
                if v6 {
                    if b.len() < ipv4::MIN_HEADER_LEN {
                        self.event(E::Ipv4InIpv6TooSmall, off, ipv4::MIN_HEADER_LEN, b.len());
                        return Step::Done;
                    }
                    if b[0] >> 4 != 4 {
                        self.event(E::Ipv4InIpv6WrongVersion, off, 0, b.len());
                        return Step::Done;
                    }
                    self.counters.ipv4_in_ipv6 += 1;
                }
                self.enter_tunnel(TunnelKind::IpInIp, 0, off);
                Step::Ipv4(b, off)
            }
            ipproto::IPV6 => {
                if v6 {
                    if b.len() < ipv6::HEADER_LEN {
                        self.event(E::Ipv6InIpv6TooSmall, off, ipv6::HEADER_LEN, b.len());
                        return Step::Done;
                    }
                    if b[0] >> 4 != 6 {
                        self.event(E::Ipv6InIpv6WrongVersion, off, 0, b.len());
                        return Step::Done;
                    }
                    self.counters.ipv6_in_ipv6 += 1;
                }
                self.enter_tunnel(TunnelKind::IpInIp, 0, off);
                Step::Ipv6(b, off)
            }
            ipproto::SCTP => {
                self.counters.sctp += 1;
                if b.len() < 12 {
                    self.event(E::SctpPktTooSmall, off, 12, b.len());
                    return Step::Done;
                }
                self.pkt.l4 = L4::Other(proto);
                Step::Done
            }
            ipproto::ESP => {
                self.counters.esp += 1;
                self.pkt.l4 = L4::Other(proto);
                Step::Done
            }
            _ => {
                self.pkt.l4 = L4::Other(proto);
                if v6 {
                    self.event(E::Ipv6UnknownNextHeader, off, 0, b.len());
                } else if proto >= 143 {
                    // Unassigned (143-252), experimental (253, 254) and reserved (255).
                    self.event(E::Ipv4UnknownProtocol, off, 0, b.len());
                }
                Step::Done
            }
        }
    }

    #[inline(always)]
    pub(super) fn tcp(&mut self, b: &'p [u8], off: usize, ps: Pseudo) {
        self.counters.tcp += 1;
        let Some(h) = b.first_chunk::<{ tcp::MIN_HEADER_LEN }>() else {
            self.event(E::TcpPktTooSmall, off, tcp::MIN_HEADER_LEN, b.len());
            return;
        };
        let t = tcp::TcpPacket::new_unchecked(h);
        let hl = t.header_len();
        if hl > b.len() {
            self.event(E::TcpHlenTooSmall, off, hl, b.len());
            return;
        }
        if hl < tcp::MIN_HEADER_LEN {
            self.event(E::TcpInvalidOptlen, off, tcp::MIN_HEADER_LEN, hl);
            return;
        }
        self.pkt.l4 = L4::Tcp(TcpInfo {
            src_port: t.src_port(),
            dst_port: t.dst_port(),
            seq: t.seq(),
            ack: t.ack(),
            flags: t.flags(),
            window: t.window(),
            header_len: hl as u8,
            urgent: t.urgent(),
            options: TcpOpts::default(),
        });
        // The layout nearly every segment after the handshake carries is recognised before
        // the general walk, which it would go through without an event (part of the fast
        // path, so that turning that off checks it). The options are filled in place rather
        // than built beside the header and copied.
        let opts = &b[tcp::MIN_HEADER_LEN..hl];
        if !opts.is_empty() {
            match tcp::nop_nop_timestamp(opts) {
                Some(ts) if self.cfg.fast_path => {
                    if let L4::Tcp(info) = &mut self.pkt.l4 {
                        info.options.timestamp = Some(ts);
                    }
                }
                _ => {
                    let parsed = self.tcp_options(opts, off + tcp::MIN_HEADER_LEN);
                    if let L4::Tcp(info) = &mut self.pkt.l4 {
                        info.options = parsed;
                    }
                }
            }
        }
        self.pkt.payload = &b[hl..];
        if self.cfg.checksum_validation {
            let ok = match self.hw_verdict(self.hw.l4) {
                Some(ok) => ok,
                None => checksum::verify_with(ps.sum(ipproto::TCP, b.len()), b),
            };
            if ok {
                self.pkt.csum.l4 = Csum::Ok;
            } else {
                self.pkt.csum.l4 = Csum::Bad;
                self.counters.tcp_csum_bad += 1;
            }
        }
    }

    pub(super) fn tcp_options(&mut self, opts: &[u8], off: usize) -> TcpOpts {
        let mut out = TcpOpts::default();
        let mut seen = 0u64;
        for o in tcp::TcpOptions::new(opts) {
            let o = match o {
                Ok(o) => o,
                Err(e) => {
                    self.event(
                        E::TcpOptInvalidLen,
                        off + e.offset,
                        2,
                        opts.len() - e.offset,
                    );
                    break;
                }
            };
            if o.kind == tcp::opt::EOL || o.kind == tcp::opt::NOP {
                continue;
            }
            let bit = 1u64 << (o.kind % 64);
            if seen & bit != 0 {
                self.event(E::TcpOptDuplicate, off + o.offset, 0, 0);
                continue;
            }
            seen |= bit;
            let total = o.data.len() + 2;
            if let Some(want) = tcp::fixed_option_len(o.kind) {
                if total != want {
                    self.event(E::TcpOptInvalidLen, off + o.offset, want, total);
                    continue;
                }
            }
            let d = o.data;
            match o.kind {
                tcp::opt::MSS => out.mss = Some(u16::from_be_bytes([d[0], d[1]])),
                tcp::opt::WSCALE => out.wscale = Some(d[0]),
                tcp::opt::SACK_PERM => out.sack_permitted = true,
                tcp::opt::TIMESTAMP => {
                    out.timestamp = Some((
                        u32::from_be_bytes([d[0], d[1], d[2], d[3]]),
                        u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
                    ))
                }
                tcp::opt::SACK => {
                    // RFC 2018 §3: 1 to 4 blocks of 8 bytes.
                    if d.is_empty() || d.len() % 8 != 0 || d.len() > 32 {
                        self.event(E::TcpOptInvalidLen, off + o.offset, 0, total);
                        continue;
                    }
                    for (i, blk) in d.chunks_exact(8).enumerate() {
                        out.sack[i] = (
                            u32::from_be_bytes([blk[0], blk[1], blk[2], blk[3]]),
                            u32::from_be_bytes([blk[4], blk[5], blk[6], blk[7]]),
                        );
                    }
                    out.sack_len = (d.len() / 8) as u8;
                }
                tcp::opt::TFO => {
                    // RFC 7413 §4.1.1: empty (request) or a 4..=16-byte cookie.
                    if !(d.is_empty() || (4..=16).contains(&d.len())) {
                        self.event(E::TcpOptInvalidLen, off + o.offset, 0, total);
                        continue;
                    }
                    out.tfo_cookie_len = Some(d.len() as u8);
                }
                _ => {}
            }
        }
        out
    }

    pub(super) fn udp(&mut self, b: &'p [u8], off: usize, ps: Pseudo) -> Step<'p> {
        self.counters.udp += 1;
        if b.len() < udp::HEADER_LEN {
            self.event(E::UdpPktTooSmall, off, udp::HEADER_LEN, b.len());
            return Step::Done;
        }
        let u = udp::UdpPacket::new_unchecked(b);
        let ulen = usize::from(u.len());
        if ulen < udp::HEADER_LEN {
            self.event(E::UdpHlenTooSmall, off, udp::HEADER_LEN, ulen);
            return Step::Done;
        }
        if ulen != b.len() {
            self.event(E::UdpHlenInvalid, off, ulen, b.len());
            return Step::Done;
        }
        self.pkt.l4 = L4::Udp(UdpInfo {
            src_port: u.src_port(),
            dst_port: u.dst_port(),
            len: u.len(),
        });
        let payload = &b[udp::HEADER_LEN..];
        self.pkt.payload = payload;
        if self.cfg.checksum_validation {
            let ok = if u.checksum() == 0 {
                // Zero means "none" over IPv4 (RFC 768) but is forbidden over IPv6 (RFC 8200
                // §8.1).
                if ps.is_v6() {
                    Some(false)
                } else {
                    None
                }
            } else {
                Some(
                    self.hw_verdict(self.hw.l4)
                        .unwrap_or_else(|| checksum::verify_with(ps.sum(ipproto::UDP, b.len()), b)),
                )
            };
            match ok {
                Some(true) => self.pkt.csum.l4 = Csum::Ok,
                Some(false) => {
                    self.pkt.csum.l4 = Csum::Bad;
                    self.counters.udp_csum_bad += 1;
                }
                None => {}
            }
        }
        if self.cfg.vxlan && u.dst_port() == vxlan::UDP_PORT {
            return self.vxlan(payload, off + udp::HEADER_LEN);
        }
        if self.cfg.geneve && u.dst_port() == geneve::UDP_PORT {
            return self.geneve(payload, off + udp::HEADER_LEN);
        }
        Step::Done
    }

    pub(super) fn icmpv4(&mut self, b: &'p [u8], off: usize) {
        self.counters.icmpv4 += 1;
        let Ok(i) = icmpv4::Icmpv4Packet::new_checked(b) else {
            self.event(E::Icmpv4PktTooSmall, off, icmpv4::HEADER_LEN, b.len());
            return;
        };
        let (kind, code) = (i.msg_type(), i.msg_code());
        match icmpv4::max_code(kind) {
            None => self.event(E::Icmpv4UnknownType, off, 0, 0),
            Some(max) if code > max => self.event(E::Icmpv4UnknownCode, off + 1, 0, 0),
            Some(_) => {}
        }
        let echo = icmpv4::has_id_seq(kind);
        self.pkt.l4 = L4::Icmpv4(IcmpInfo {
            kind,
            code,
            id: if echo { i.ident() } else { 0 },
            seq: if echo { i.seq() } else { 0 },
        });
        self.pkt.payload = &b[icmpv4::HEADER_LEN..];
        if icmpv4::is_error(kind) {
            let quoted = &b[icmpv4::HEADER_LEN..];
            if quoted.len() < ipv4::MIN_HEADER_LEN {
                self.event(
                    E::Icmpv4Ipv4TruncPkt,
                    off + icmpv4::HEADER_LEN,
                    ipv4::MIN_HEADER_LEN,
                    quoted.len(),
                );
            } else if quoted[0] >> 4 != 4 {
                self.event(E::Icmpv4Ipv4UnknownVer, off + icmpv4::HEADER_LEN, 0, 0);
            }
        }
        if self.cfg.checksum_validation {
            if checksum::verify(b) {
                self.pkt.csum.l4 = Csum::Ok;
            } else {
                self.pkt.csum.l4 = Csum::Bad;
                self.counters.icmpv4_csum_bad += 1;
            }
        }
    }

    pub(super) fn icmpv6(&mut self, b: &'p [u8], off: usize, ps: Pseudo) {
        self.counters.icmpv6 += 1;
        let Ok(i) = icmpv6::Icmpv6Packet::new_checked(b) else {
            self.event(E::Icmpv6PktTooSmall, off, icmpv6::HEADER_LEN, b.len());
            return;
        };
        let (kind, code) = (i.msg_type(), i.msg_code());
        match icmpv6::classify(kind) {
            icmpv6::TypeClass::Unassigned => self.event(E::Icmpv6UnassignedType, off, 0, 0),
            icmpv6::TypeClass::Experimental => self.event(E::Icmpv6ExperimentationType, off, 0, 0),
            icmpv6::TypeClass::Known(max) if code > max => {
                self.event(E::Icmpv6UnknownCode, off + 1, 0, 0)
            }
            icmpv6::TypeClass::Known(_) => {}
        }
        // RFC 2710 §3 / RFC 3810 §5: MLD messages are sent with hop limit 1.
        if matches!(
            kind,
            icmpv6::msg::MLD_QUERY
                | icmpv6::msg::MLD_REPORT
                | icmpv6::msg::MLD_DONE
                | icmpv6::msg::MLD2_REPORT
        ) && self.pkt.ip.map(|ip| ip.ttl) != Some(1)
        {
            self.event(E::Icmpv6MldMessageWithInvalidHl, off, 0, 0);
        }
        let echo = matches!(kind, icmpv6::msg::ECHO_REQUEST | icmpv6::msg::ECHO_REPLY);
        self.pkt.l4 = L4::Icmpv6(IcmpInfo {
            kind,
            code,
            id: if echo { i.ident() } else { 0 },
            seq: if echo { i.seq() } else { 0 },
        });
        self.pkt.payload = &b[icmpv6::HEADER_LEN..];
        if icmpv6::is_error(kind) && matches!(kind, 1..=4) {
            let quoted = &b[icmpv6::HEADER_LEN..];
            if quoted.len() < ipv6::HEADER_LEN {
                self.event(
                    E::Icmpv6Ipv6TruncPkt,
                    off + icmpv6::HEADER_LEN,
                    ipv6::HEADER_LEN,
                    quoted.len(),
                );
            } else if quoted[0] >> 4 != 6 {
                self.event(E::Icmpv6Ipv6UnknownVersion, off + icmpv6::HEADER_LEN, 0, 0);
            }
        }
        if self.cfg.checksum_validation {
            if checksum::verify_with(ps.sum(ipproto::ICMPV6, b.len()), b) {
                self.pkt.csum.l4 = Csum::Ok;
            } else {
                self.pkt.csum.l4 = Csum::Bad;
                self.counters.icmpv6_csum_bad += 1;
            }
        }
    }
}
