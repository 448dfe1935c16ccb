//! Decoder events under Suricata's names (`decode-events.c`, Suricata 8).
//!
//! Each event has three spellings: [`DecodeEvent::name`] (`ipv4.trunc_pkt`, the
//! `decode-event:` rule keyword form), [`DecodeEvent::full_name`] (`decoder.ipv4.trunc_pkt`) and
//! [`DecodeEvent::counter_name`] (`decoder.event.ipv4.trunc_pkt`, the stats counter). `FromStr`
//! accepts the first two, with or without a leading `decode-event:`.
//!
//! "Invalid" events mark a layer that could not be decoded at all (Suricata's
//! `ENGINE_SET_INVALID_EVENT`): decoding stops there and the packet counts in
//! `decoder.invalid`. The others are informational and decoding continues.

/// The protocol layer an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// Capture link header (loopback, SLL, raw).
    Link,
    /// Ethernet.
    Ethernet,
    /// 802.1Q/802.1ad tags.
    Vlan,
    /// MPLS label stack.
    Mpls,
    /// PPP / PPPoE.
    Ppp,
    /// IPv4 and its options.
    Ipv4,
    /// IPv6 and its extension headers.
    Ipv6,
    /// IP fragment reassembly.
    Defrag,
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMPv4.
    Icmpv4,
    /// ICMPv6.
    Icmpv6,
    /// SCTP.
    Sctp,
    /// GRE.
    Gre,
    /// VXLAN.
    Vxlan,
    /// Geneve.
    Geneve,
    /// ERSPAN.
    Erspan,
    /// NSH.
    Nsh,
    /// Anything that is not one protocol's fault (layer count).
    Generic,
}

macro_rules! decode_events {
    ($( $variant:ident => $name:literal, $layer:ident, $invalid:literal; )*) => {
        /// A decoder event; see the module docs for naming.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DecodeEvent {
            $(
                #[doc = concat!("`decoder.", $name, "`")]
                $variant,
            )*
        }

        impl DecodeEvent {
            /// Every event, in counter order.
            pub const ALL: &'static [DecodeEvent] = &[$(DecodeEvent::$variant,)*];
            /// Number of events.
            pub const COUNT: usize = Self::ALL.len();

            /// Rule keyword form, e.g. `ipv4.trunc_pkt`.
            pub const fn name(self) -> &'static str {
                match self { $(DecodeEvent::$variant => $name,)* }
            }
            /// Full event name, e.g. `decoder.ipv4.trunc_pkt`.
            pub const fn full_name(self) -> &'static str {
                match self { $(DecodeEvent::$variant => concat!("decoder.", $name),)* }
            }
            /// Stats counter name, e.g. `decoder.event.ipv4.trunc_pkt`.
            pub const fn counter_name(self) -> &'static str {
                match self { $(DecodeEvent::$variant => concat!("decoder.event.", $name),)* }
            }
            /// Layer the event belongs to.
            pub const fn layer(self) -> Layer {
                match self { $(DecodeEvent::$variant => Layer::$layer,)* }
            }
            /// True when the event means the layer could not be decoded (the packet is invalid).
            pub const fn is_invalid(self) -> bool {
                match self { $(DecodeEvent::$variant => $invalid,)* }
            }
            /// Dense index, `0..COUNT`, for counter arrays.
            pub const fn index(self) -> usize {
                self as usize
            }
        }
    };
}

decode_events! {
    Ipv4PktTooSmall => "ipv4.pkt_too_small", Ipv4, true;
    Ipv4HlenTooSmall => "ipv4.hlen_too_small", Ipv4, true;
    Ipv4IplenSmallerThanHlen => "ipv4.iplen_smaller_than_hlen", Ipv4, true;
    Ipv4TruncPkt => "ipv4.trunc_pkt", Ipv4, true;
    Ipv4OptInvalid => "ipv4.opt_invalid", Ipv4, false;
    Ipv4OptInvalidLen => "ipv4.opt_invalid_len", Ipv4, false;
    Ipv4OptMalformed => "ipv4.opt_malformed", Ipv4, false;
    Ipv4OptPadRequired => "ipv4.opt_pad_required", Ipv4, false;
    Ipv4OptEolRequired => "ipv4.opt_eol_required", Ipv4, false;
    Ipv4OptDuplicate => "ipv4.opt_duplicate", Ipv4, false;
    Ipv4OptUnknown => "ipv4.opt_unknown", Ipv4, false;
    Ipv4WrongIpVersion => "ipv4.wrong_ip_version", Ipv4, true;
    Ipv4Icmpv6 => "ipv4.icmpv6", Ipv4, true;
    Ipv4UnknownProtocol => "ipv4.unknown_protocol", Ipv4, false;
    Icmpv4PktTooSmall => "icmpv4.pkt_too_small", Icmpv4, true;
    Icmpv4UnknownType => "icmpv4.unknown_type", Icmpv4, false;
    Icmpv4UnknownCode => "icmpv4.unknown_code", Icmpv4, false;
    Icmpv4Ipv4TruncPkt => "icmpv4.ipv4_trunc_pkt", Icmpv4, false;
    Icmpv4Ipv4UnknownVer => "icmpv4.ipv4_unknown_ver", Icmpv4, false;
    Icmpv6UnknownType => "icmpv6.unknown_type", Icmpv6, false;
    Icmpv6UnknownCode => "icmpv6.unknown_code", Icmpv6, false;
    Icmpv6PktTooSmall => "icmpv6.pkt_too_small", Icmpv6, true;
    Icmpv6Ipv6UnknownVersion => "icmpv6.ipv6_unknown_version", Icmpv6, false;
    Icmpv6Ipv6TruncPkt => "icmpv6.ipv6_trunc_pkt", Icmpv6, false;
    Icmpv6MldMessageWithInvalidHl => "icmpv6.mld_message_with_invalid_hl", Icmpv6, false;
    Icmpv6UnassignedType => "icmpv6.unassigned_type", Icmpv6, false;
    Icmpv6ExperimentationType => "icmpv6.experimentation_type", Icmpv6, false;
    Ipv6PktTooSmall => "ipv6.pkt_too_small", Ipv6, true;
    Ipv6TruncPkt => "ipv6.trunc_pkt", Ipv6, true;
    Ipv6TruncExthdr => "ipv6.trunc_exthdr", Ipv6, true;
    Ipv6ExthdrDuplFh => "ipv6.exthdr_dupl_fh", Ipv6, false;
    Ipv6ExthdrUselessFh => "ipv6.exthdr_useless_fh", Ipv6, false;
    Ipv6ExthdrDuplRh => "ipv6.exthdr_dupl_rh", Ipv6, false;
    Ipv6ExthdrDuplHh => "ipv6.exthdr_dupl_hh", Ipv6, false;
    Ipv6ExthdrDuplDh => "ipv6.exthdr_dupl_dh", Ipv6, false;
    Ipv6ExthdrDuplAh => "ipv6.exthdr_dupl_ah", Ipv6, false;
    Ipv6ExthdrDuplEh => "ipv6.exthdr_dupl_eh", Ipv6, false;
    Ipv6ExthdrInvalidOptlen => "ipv6.exthdr_invalid_optlen", Ipv6, false;
    Ipv6WrongIpVersion => "ipv6.wrong_ip_version", Ipv6, true;
    Ipv6ExthdrAhResNotNull => "ipv6.exthdr_ah_res_not_null", Ipv6, false;
    Ipv6HopoptsUnknownOpt => "ipv6.hopopts_unknown_opt", Ipv6, false;
    Ipv6HopoptsOnlyPadding => "ipv6.hopopts_only_padding", Ipv6, false;
    Ipv6DstoptsUnknownOpt => "ipv6.dstopts_unknown_opt", Ipv6, false;
    Ipv6DstoptsOnlyPadding => "ipv6.dstopts_only_padding", Ipv6, false;
    Ipv6RhType0 => "ipv6.rh_type_0", Ipv6, false;
    Ipv6ZeroLenPadn => "ipv6.zero_len_padn", Ipv6, false;
    Ipv6FhNonZeroReservedField => "ipv6.fh_non_zero_reserved_field", Ipv6, false;
    Ipv6DataAfterNoneHeader => "ipv6.data_after_none_header", Ipv6, false;
    Ipv6UnknownNextHeader => "ipv6.unknown_next_header", Ipv6, false;
    Ipv6Icmpv4 => "ipv6.icmpv4", Ipv6, true;
    TcpPktTooSmall => "tcp.pkt_too_small", Tcp, true;
    TcpHlenTooSmall => "tcp.hlen_too_small", Tcp, true;
    TcpInvalidOptlen => "tcp.invalid_optlen", Tcp, true;
    TcpOptInvalidLen => "tcp.opt_invalid_len", Tcp, false;
    TcpOptDuplicate => "tcp.opt_duplicate", Tcp, false;
    UdpPktTooSmall => "udp.pkt_too_small", Udp, true;
    UdpHlenTooSmall => "udp.hlen_too_small", Udp, true;
    UdpHlenInvalid => "udp.hlen_invalid", Udp, true;
    SllPktTooSmall => "sll.pkt_too_small", Link, true;
    EthernetPktTooSmall => "ethernet.pkt_too_small", Ethernet, true;
    PppPktTooSmall => "ppp.pkt_too_small", Ppp, true;
    PppVjuPktTooSmall => "ppp.vju_pkt_too_small", Ppp, true;
    PppIp4PktTooSmall => "ppp.ip4_pkt_too_small", Ppp, true;
    PppIp6PktTooSmall => "ppp.ip6_pkt_too_small", Ppp, true;
    PppWrongType => "ppp.wrong_type", Ppp, true;
    PppUnsupProto => "ppp.unsup_proto", Ppp, false;
    PppoePktTooSmall => "pppoe.pkt_too_small", Ppp, true;
    PppoeWrongCode => "pppoe.wrong_code", Ppp, true;
    PppoeMalformedTags => "pppoe.malformed_tags", Ppp, true;
    GrePktTooSmall => "gre.pkt_too_small", Gre, true;
    GreWrongVersion => "gre.wrong_version", Gre, true;
    GreVersion0Recur => "gre.version0_recur", Gre, true;
    GreVersion0Flags => "gre.version0_flags", Gre, true;
    GreVersion0HdrTooBig => "gre.version0_hdr_too_big", Gre, true;
    GreVersion0MalformedSreHdr => "gre.version0_malformed_sre_hdr", Gre, true;
    GreVersion1Chksum => "gre.version1_chksum", Gre, true;
    GreVersion1Route => "gre.version1_route", Gre, true;
    GreVersion1Ssr => "gre.version1_ssr", Gre, true;
    GreVersion1Recur => "gre.version1_recur", Gre, true;
    GreVersion1Flags => "gre.version1_flags", Gre, true;
    GreVersion1NoKey => "gre.version1_no_key", Gre, true;
    GreVersion1WrongProtocol => "gre.version1_wrong_protocol", Gre, true;
    GreVersion1MalformedSreHdr => "gre.version1_malformed_sre_hdr", Gre, true;
    GreVersion1HdrTooBig => "gre.version1_hdr_too_big", Gre, true;
    VlanHeaderTooSmall => "vlan.header_too_small", Vlan, true;
    VlanUnknownType => "vlan.unknown_type", Vlan, false;
    VlanTooManyLayers => "vlan.too_many_layers", Vlan, true;
    Ieee8021ahHeaderTooSmall => "ieee8021ah.header_too_small", Vlan, true;
    IprawInvalidIpVersion => "ipraw.invalid_ip_version", Link, true;
    LtnullPktTooSmall => "ltnull.pkt_too_small", Link, true;
    LtnullUnsupportedType => "ltnull.unsupported_type", Link, true;
    SctpPktTooSmall => "sctp.pkt_too_small", Sctp, true;
    Ipv4FragPktTooLarge => "ipv4.frag_pkt_too_large", Defrag, true;
    Ipv6FragPktTooLarge => "ipv6.frag_pkt_too_large", Defrag, true;
    Ipv4FragOverlap => "ipv4.frag_overlap", Defrag, false;
    Ipv6FragOverlap => "ipv6.frag_overlap", Defrag, false;
    Ipv6FragInvalidLength => "ipv6.frag_invalid_length", Defrag, true;
    Ipv4FragIgnored => "ipv4.frag_ignored", Defrag, false;
    Ipv6FragIgnored => "ipv6.frag_ignored", Defrag, false;
    Ipv4InIpv6TooSmall => "ipv6.ipv4_in_ipv6_too_small", Ipv6, true;
    Ipv4InIpv6WrongVersion => "ipv6.ipv4_in_ipv6_wrong_version", Ipv6, true;
    Ipv6InIpv6TooSmall => "ipv6.ipv6_in_ipv6_too_small", Ipv6, true;
    Ipv6InIpv6WrongVersion => "ipv6.ipv6_in_ipv6_wrong_version", Ipv6, true;
    MplsHeaderTooSmall => "mpls.header_too_small", Mpls, true;
    MplsPktTooSmall => "mpls.pkt_too_small", Mpls, true;
    MplsBadLabelRouterAlert => "mpls.bad_label_router_alert", Mpls, false;
    MplsBadLabelImplicitNull => "mpls.bad_label_implicit_null", Mpls, false;
    MplsBadLabelReserved => "mpls.bad_label_reserved", Mpls, false;
    MplsUnknownPayloadType => "mpls.unknown_payload_type", Mpls, false;
    VxlanUnknownPayloadType => "vxlan.unknown_payload_type", Vxlan, false;
    GeneveUnknownPayloadType => "geneve.unknown_payload_type", Geneve, false;
    ErspanHeaderTooSmall => "erspan.header_too_small", Erspan, true;
    ErspanUnsupportedVersion => "erspan.unsupported_version", Erspan, true;
    ErspanTooManyVlanLayers => "erspan.too_many_vlan_layers", Erspan, true;
    NshHeaderTooSmall => "nsh.header_too_small", Nsh, true;
    NshUnsupportedVersion => "nsh.unsupported_version", Nsh, false;
    NshBadHeaderLength => "nsh.bad_header_length", Nsh, true;
    NshReservedType => "nsh.reserved_type", Nsh, false;
    NshUnsupportedType => "nsh.unsupported_type", Nsh, false;
    NshUnknownPayload => "nsh.unknown_payload", Nsh, false;
    TooManyLayers => "too_many_layers", Generic, true;
}

/// A name that is not a decoder event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown decoder event `{0}`")]
pub struct UnknownEvent(pub String);

impl core::str::FromStr for DecodeEvent {
    type Err = UnknownEvent;

    /// Parses `ipv4.trunc_pkt`, `decoder.ipv4.trunc_pkt` or either behind `decode-event:`
    /// (surrounding whitespace ignored). Names are matched exactly, as Suricata does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let t = t.strip_prefix("decode-event:").unwrap_or(t).trim();
        let t = t.strip_prefix("decoder.").unwrap_or(t);
        DecodeEvent::ALL
            .iter()
            .copied()
            .find(|e| e.name() == t)
            .ok_or_else(|| UnknownEvent(s.to_string()))
    }
}

impl core::fmt::Display for DecodeEvent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = HashSet::new();
        for (i, &e) in DecodeEvent::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
            assert!(seen.insert(e.name()), "duplicate {}", e.name());
            assert_eq!(e.name().parse::<DecodeEvent>(), Ok(e));
            assert_eq!(e.full_name().parse::<DecodeEvent>(), Ok(e));
            assert_eq!(format!("decode-event:{}", e.name()).parse(), Ok(e));
            assert_eq!(e.counter_name(), format!("decoder.event.{}", e.name()));
        }
        assert!("ipv4.nope".parse::<DecodeEvent>().is_err());
        assert!("IPV4.TRUNC_PKT".parse::<DecodeEvent>().is_err());
    }

    /// Every `decode-event:` keyword used by the suricata-verify subset must parse.
    #[test]
    fn suricata_verify_keywords_parse() {
        for name in [
            "ipv4.trunc_pkt",
            "ipv4.unknown_protocol",
            "ipv6.dstopts_unknown_opt",
            "ipv6.frag_invalid_length",
            "ipv6.exthdr_useless_fh",
            "ipv6.exthdr_dupl_fh",
            "ipv6.frag_overlap",
            "ipv6.trunc_exthdr",
            "ipv6.frag_pkt_too_large",
            "ipv6.ipv6_in_ipv6_wrong_version",
        ] {
            let e: DecodeEvent = name.parse().unwrap();
            assert_eq!(e.name(), name);
        }
        assert_eq!(DecodeEvent::Ipv4TruncPkt.layer(), Layer::Ipv4);
        assert!(DecodeEvent::Ipv4TruncPkt.is_invalid());
        assert!(!DecodeEvent::Ipv6FragOverlap.is_invalid());
    }
}
