//! One hand-built packet per decoder event family: each must raise exactly the expected
//! Suricata event, mark the packet invalid exactly when the event is an "invalid" one, and
//! count it under `decoder.event.*`.

use dataplane::decode::{DecodeConfig, DecodeEvent, Decoder, LinkType, L4};
use dataplane::time::Timestamp;

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// IPv4 header (IHL from `opts`) + `l4`, total length consistent.
fn ipv4(proto: u8, opts: &[u8], l4: &[u8]) -> Vec<u8> {
    let ihl = 20 + opts.len();
    let mut h = vec![0x40 | (ihl / 4) as u8, 0];
    h.extend_from_slice(&((ihl + l4.len()) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    h.extend_from_slice(opts);
    h.extend_from_slice(l4);
    h
}

fn ipv6(nh: u8, rest: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(rest.len() as u16).to_be_bytes());
    h.extend_from_slice(&[nh, 64]);
    h.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    h.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    h.extend_from_slice(rest);
    h
}

fn tcp_hdr(doff: u8, opts: &[u8]) -> Vec<u8> {
    let mut t = vec![
        0,
        80,
        0x1f,
        0x90,
        0,
        0,
        0,
        1,
        0,
        0,
        0,
        0,
        doff << 4,
        0x02,
        0xff,
        0xff,
    ];
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(opts);
    t
}

fn check(link: LinkType, frame: &[u8], want: &str) {
    let event: DecodeEvent = want.parse().unwrap();
    let mut d = Decoder::new(DecodeConfig {
        checksum_validation: false,
        ..DecodeConfig::default()
    })
    .unwrap();
    let p = d.decode(link, frame, Timestamp(0));
    assert!(p.validate().is_ok());
    assert!(
        p.has_event(event),
        "{want}: got {:?}",
        p.anomalies
            .iter()
            .map(|a| a.event.name())
            .collect::<Vec<_>>()
    );
    let invalid = p.invalid;
    let a = p
        .anomalies
        .iter()
        .find(|a| a.event == event)
        .copied()
        .unwrap();
    assert!(a.offset as usize <= frame.len());
    if event.is_invalid() {
        assert!(invalid, "{want} should make the packet invalid");
    }
    assert_eq!(d.counters().event(event), 1);
    assert_eq!(d.counters().invalid, u64::from(invalid));
}

#[test]
fn link_layer_events() {
    check(LinkType::Ethernet, &[0; 10], "ethernet.pkt_too_small");
    check(LinkType::Null, &[2, 0], "ltnull.pkt_too_small");
    check(
        LinkType::Null,
        &[99, 0, 0, 0, 0x45],
        "ltnull.unsupported_type",
    );
    check(LinkType::Raw, &[0x50, 0, 0], "ipraw.invalid_ip_version");
    check(LinkType::LinuxSll, &[0; 10], "sll.pkt_too_small");
    check(
        LinkType::Ethernet,
        &eth(0x8100, &[0, 1]),
        "vlan.header_too_small",
    );
    let mut tags = Vec::new();
    for _ in 0..4 {
        tags.extend_from_slice(&[0, 1, 0x81, 0]);
    }
    check(
        LinkType::Ethernet,
        &eth(0x8100, &tags),
        "vlan.too_many_layers",
    );
    check(
        LinkType::Ethernet,
        &eth(0x8100, &[0, 1, 0x12, 0x34]),
        "vlan.unknown_type",
    );
}

#[test]
fn mpls_and_ppp_events() {
    check(
        LinkType::Ethernet,
        &eth(0x8847, &[0, 0]),
        "mpls.header_too_small",
    );
    check(
        LinkType::Ethernet,
        &eth(0x8847, &[0, 0x11, 0x01, 64]),
        "mpls.pkt_too_small",
    );
    // Bottom-of-stack router alert (label 1), implicit null (3), reserved (7).
    check(
        LinkType::Ethernet,
        &eth(0x8847, &[0, 0, 0x11, 64, 0x45]),
        "mpls.bad_label_router_alert",
    );
    check(
        LinkType::Ethernet,
        &eth(0x8847, &[0, 0, 0x31, 64, 0x45]),
        "mpls.bad_label_implicit_null",
    );
    check(
        LinkType::Ethernet,
        &eth(0x8847, &[0, 0, 0x71, 64, 0x45]),
        "mpls.bad_label_reserved",
    );
    check(
        LinkType::Ethernet,
        &eth(0x8847, &[0, 1, 0x01, 64, 0x95]),
        "mpls.unknown_payload_type",
    );
    check(
        LinkType::Ethernet,
        &eth(0x8864, &[0x11, 0, 0, 1]),
        "pppoe.pkt_too_small",
    );
    check(
        LinkType::Ethernet,
        &eth(0x8864, &[0x11, 7, 0, 1, 0, 2, 0, 0x21]),
        "pppoe.wrong_code",
    );
    check(
        LinkType::Ethernet,
        &eth(0x8863, &[0x11, 0x09, 0, 0, 0, 3, 1, 1, 0]),
        "pppoe.malformed_tags",
    );
    check(
        LinkType::Ethernet,
        &eth(0x8864, &[0x11, 0, 0, 1, 0, 4, 0, 0x21, 0x45, 0]),
        "ppp.ip4_pkt_too_small",
    );
    check(
        LinkType::Ethernet,
        &eth(0x8864, &[0x11, 0, 0, 1, 0, 4, 0, 0x57, 0x60, 0]),
        "ppp.ip6_pkt_too_small",
    );
    check(
        LinkType::Ethernet,
        &eth(0x8864, &[0x11, 0, 0, 1, 0, 4, 0xc0, 0x21, 1, 1]),
        "ppp.unsup_proto",
    );
    check(
        LinkType::Ethernet,
        &eth(0x8864, &[0x11, 0, 0, 1, 0, 4, 0x00, 0x42, 1, 1]),
        "ppp.wrong_type",
    );
}

#[test]
fn ipv4_events() {
    check(
        LinkType::Ethernet,
        &eth(0x0800, &[0x45; 10]),
        "ipv4.pkt_too_small",
    );
    let mut p = ipv4(6, &[], &[]);
    p[0] = 0x44;
    check(LinkType::Ethernet, &eth(0x0800, &p), "ipv4.hlen_too_small");
    let mut p = ipv4(6, &[], &[]);
    p[3] = 10;
    check(
        LinkType::Ethernet,
        &eth(0x0800, &p),
        "ipv4.iplen_smaller_than_hlen",
    );
    let mut p = ipv4(6, &[], &[0; 20]);
    p.truncate(30);
    check(LinkType::Ethernet, &eth(0x0800, &p), "ipv4.trunc_pkt");
    let mut p = ipv4(6, &[], &[]);
    p[0] = 0x55;
    check(LinkType::Raw, &p, "ipraw.invalid_ip_version");
    check(LinkType::Ipv4, &p, "ipv4.wrong_ip_version");
    check(LinkType::Ipv4, &ipv4(58, &[], &[0; 8]), "ipv4.icmpv6");
    check(
        LinkType::Ipv4,
        &ipv4(200, &[], &[0; 8]),
        "ipv4.unknown_protocol",
    );
    check(
        LinkType::Ipv4,
        &ipv4(17, &[0x94, 3, 0, 0], &[0; 8]),
        "ipv4.opt_invalid_len",
    );
    check(
        LinkType::Ipv4,
        &ipv4(17, &[0x94, 9, 0, 0], &[0; 8]),
        "ipv4.opt_malformed",
    );
    check(
        LinkType::Ipv4,
        &ipv4(17, &[0x94, 4, 0, 0, 0x94, 4, 0, 0], &[0; 8]),
        "ipv4.opt_duplicate",
    );
    check(
        LinkType::Ipv4,
        &ipv4(17, &[0x9e, 4, 0, 0], &[0; 8]),
        "ipv4.opt_unknown",
    );
    check(
        LinkType::Ipv4,
        &ipv4(17, &[0, 1, 2, 3], &[0; 8]),
        "ipv4.opt_pad_required",
    );
}

#[test]
fn transport_events() {
    check(LinkType::Ipv4, &ipv4(6, &[], &[0; 10]), "tcp.pkt_too_small");
    check(
        LinkType::Ipv4,
        &ipv4(6, &[], &tcp_hdr(10, &[])),
        "tcp.hlen_too_small",
    );
    check(
        LinkType::Ipv4,
        &ipv4(6, &[], &tcp_hdr(4, &[])),
        "tcp.invalid_optlen",
    );
    check(
        LinkType::Ipv4,
        &ipv4(6, &[], &tcp_hdr(6, &[2, 3, 5, 0])),
        "tcp.opt_invalid_len",
    );
    check(
        LinkType::Ipv4,
        &ipv4(6, &[], &tcp_hdr(7, &[4, 2, 4, 2, 0, 0, 0, 0])),
        "tcp.opt_duplicate",
    );
    check(LinkType::Ipv4, &ipv4(17, &[], &[0; 4]), "udp.pkt_too_small");
    check(
        LinkType::Ipv4,
        &ipv4(17, &[], &[0, 1, 0, 2, 0, 4, 0, 0]),
        "udp.hlen_too_small",
    );
    check(
        LinkType::Ipv4,
        &ipv4(17, &[], &[0, 1, 0, 2, 0, 20, 0, 0]),
        "udp.hlen_invalid",
    );
    check(
        LinkType::Ipv4,
        &ipv4(1, &[], &[8, 0, 0]),
        "icmpv4.pkt_too_small",
    );
    check(
        LinkType::Ipv4,
        &ipv4(1, &[], &[99, 0, 0, 0, 0, 0, 0, 0]),
        "icmpv4.unknown_type",
    );
    check(
        LinkType::Ipv4,
        &ipv4(1, &[], &[0, 5, 0, 0, 0, 0, 0, 0]),
        "icmpv4.unknown_code",
    );
    check(
        LinkType::Ipv4,
        &ipv4(1, &[], &[3, 1, 0, 0, 0, 0, 0, 0, 0x45]),
        "icmpv4.ipv4_trunc_pkt",
    );
    let mut quoted = vec![3, 1, 0, 0, 0, 0, 0, 0];
    quoted.extend_from_slice(&[0x65; 28]);
    check(
        LinkType::Ipv4,
        &ipv4(1, &[], &quoted),
        "icmpv4.ipv4_unknown_ver",
    );
    check(
        LinkType::Ipv4,
        &ipv4(132, &[], &[0; 4]),
        "sctp.pkt_too_small",
    );
    check(LinkType::Ipv6, &ipv6(58, &[1, 0]), "icmpv6.pkt_too_small");
    check(
        LinkType::Ipv6,
        &ipv6(58, &[50, 0, 0, 0, 0, 0, 0, 0]),
        "icmpv6.unassigned_type",
    );
    check(
        LinkType::Ipv6,
        &ipv6(58, &[200, 0, 0, 0, 0, 0, 0, 0]),
        "icmpv6.experimentation_type",
    );
    check(
        LinkType::Ipv6,
        &ipv6(58, &[128, 3, 0, 0, 0, 0, 0, 0]),
        "icmpv6.unknown_code",
    );
    check(
        LinkType::Ipv6,
        &ipv6(58, &[130, 0, 0, 0, 0, 0, 0, 0]),
        "icmpv6.mld_message_with_invalid_hl",
    );
    check(
        LinkType::Ipv6,
        &ipv6(58, &[1, 0, 0, 0, 0, 0, 0, 0, 0x60]),
        "icmpv6.ipv6_trunc_pkt",
    );
    let mut quoted = vec![1, 0, 0, 0, 0, 0, 0, 0];
    quoted.extend_from_slice(&[0x45; 40]);
    check(
        LinkType::Ipv6,
        &ipv6(58, &quoted),
        "icmpv6.ipv6_unknown_version",
    );
}

#[test]
fn ipv6_events() {
    check(LinkType::Ipv6, &[0x60; 20], "ipv6.pkt_too_small");
    let mut p = ipv6(59, &[]);
    p[0] = 0x40;
    check(LinkType::Ipv6, &p, "ipv6.wrong_ip_version");
    let mut p = ipv6(17, &[0; 16]);
    p.truncate(50);
    check(LinkType::Ipv6, &p, "ipv6.trunc_pkt");
    check(
        LinkType::Ipv6,
        &ipv6(0, &[59, 4, 1, 0]),
        "ipv6.trunc_exthdr",
    );
    check(
        LinkType::Ipv6,
        &ipv6(0, &[59, 0, 1, 4, 0, 0, 0, 0]),
        "ipv6.hopopts_only_padding",
    );
    check(
        LinkType::Ipv6,
        &ipv6(0, &[59, 0, 0x3e, 2, 0, 0, 1, 0]),
        "ipv6.hopopts_unknown_opt",
    );
    check(
        LinkType::Ipv6,
        &ipv6(60, &[59, 0, 0x3e, 2, 0, 0, 1, 0]),
        "ipv6.dstopts_unknown_opt",
    );
    check(
        LinkType::Ipv6,
        &ipv6(60, &[59, 0, 1, 4, 0, 0, 0, 0]),
        "ipv6.dstopts_only_padding",
    );
    check(
        LinkType::Ipv6,
        &ipv6(60, &[59, 0, 1, 0, 1, 0, 1, 0]),
        "ipv6.zero_len_padn",
    );
    check(
        LinkType::Ipv6,
        &ipv6(60, &[59, 0, 1, 9, 0, 0, 0, 0]),
        "ipv6.exthdr_invalid_optlen",
    );
    check(
        LinkType::Ipv6,
        &ipv6(0, &[0, 0, 1, 4, 0, 0, 0, 0, 59, 0, 1, 4, 0, 0, 0, 0]),
        "ipv6.exthdr_dupl_hh",
    );
    check(
        LinkType::Ipv6,
        &ipv6(43, &[59, 0, 0, 0, 0, 0, 0, 0]),
        "ipv6.rh_type_0",
    );
    check(
        LinkType::Ipv6,
        &ipv6(43, &[43, 0, 2, 0, 0, 0, 0, 0, 59, 0, 2, 0, 0, 0, 0, 0]),
        "ipv6.exthdr_dupl_rh",
    );
    check(
        LinkType::Ipv6,
        &ipv6(51, &[59, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
        "ipv6.exthdr_ah_res_not_null",
    );
    check(
        LinkType::Ipv6,
        &ipv6(
            51,
            &[
                51, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 59, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        ),
        "ipv6.exthdr_dupl_ah",
    );
    check(
        LinkType::Ipv6,
        &ipv6(44, &[59, 1, 0, 0, 0, 0, 0, 1]),
        "ipv6.fh_non_zero_reserved_field",
    );
    check(
        LinkType::Ipv6,
        &ipv6(44, &[17, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]),
        "ipv6.frag_invalid_length",
    );
    check(
        LinkType::Ipv6,
        &ipv6(59, &[1, 2, 3]),
        "ipv6.data_after_none_header",
    );
    check(
        LinkType::Ipv6,
        &ipv6(89, &[0; 8]),
        "ipv6.unknown_next_header",
    );
    check(
        LinkType::Ipv6,
        &ipv6(1, &[8, 0, 0, 0, 0, 0, 0, 0]),
        "ipv6.icmpv4",
    );
    check(
        LinkType::Ipv6,
        &ipv6(4, &[0x45; 10]),
        "ipv6.ipv4_in_ipv6_too_small",
    );
    check(
        LinkType::Ipv6,
        &ipv6(4, &[0x65; 20]),
        "ipv6.ipv4_in_ipv6_wrong_version",
    );
    check(
        LinkType::Ipv6,
        &ipv6(41, &[0x60; 20]),
        "ipv6.ipv6_in_ipv6_too_small",
    );
    check(
        LinkType::Ipv6,
        &ipv6(41, &[0x40; 40]),
        "ipv6.ipv6_in_ipv6_wrong_version",
    );
    // Offset 65528 + 16 bytes runs past the 65,535-byte limit.
    let mut frag = vec![17, 0, 0xff, 0xf8, 0, 0, 0, 1];
    frag.extend_from_slice(&[0; 16]);
    check(LinkType::Ipv6, &ipv6(44, &frag), "ipv6.frag_pkt_too_large");
}

#[test]
fn tunnel_events() {
    let g = |b: &[u8]| ipv4(47, &[], b);
    check(LinkType::Ipv4, &g(&[0, 0]), "gre.pkt_too_small");
    check(LinkType::Ipv4, &g(&[0, 2, 8, 0]), "gre.wrong_version");
    check(LinkType::Ipv4, &g(&[0x01, 0, 8, 0]), "gre.version0_recur");
    check(LinkType::Ipv4, &g(&[0, 0x08, 8, 0]), "gre.version0_flags");
    check(
        LinkType::Ipv4,
        &g(&[0x20, 0, 8, 0, 0, 0]),
        "gre.version0_hdr_too_big",
    );
    check(
        LinkType::Ipv4,
        &g(&[0x40, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0]),
        "gre.version0_malformed_sre_hdr",
    );
    check(
        LinkType::Ipv4,
        &g(&[0xa0, 1, 0x88, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0]),
        "gre.version1_chksum",
    );
    check(
        LinkType::Ipv4,
        &g(&[0x60, 1, 0x88, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0]),
        "gre.version1_route",
    );
    check(
        LinkType::Ipv4,
        &g(&[0x28, 1, 0x88, 0x0b, 0, 0, 0, 0]),
        "gre.version1_ssr",
    );
    check(
        LinkType::Ipv4,
        &g(&[0x21, 1, 0x88, 0x0b, 0, 0, 0, 0]),
        "gre.version1_recur",
    );
    check(
        LinkType::Ipv4,
        &g(&[0x20, 0x09, 0x88, 0x0b, 0, 0, 0, 0]),
        "gre.version1_flags",
    );
    check(
        LinkType::Ipv4,
        &g(&[0x00, 1, 0x88, 0x0b]),
        "gre.version1_no_key",
    );
    check(
        LinkType::Ipv4,
        &g(&[0x20, 1, 0x08, 0x00, 0, 0, 0, 0]),
        "gre.version1_wrong_protocol",
    );
    check(
        LinkType::Ipv4,
        &g(&[0x30, 1, 0x88, 0x0b, 0, 0, 0, 0]),
        "gre.version1_hdr_too_big",
    );
    // VXLAN to 4789 whose inner frame is not IP/ARP/VLAN.
    let mut v = vec![0x12, 0x34, 0x12, 0xb5, 0, 30, 0, 0, 8, 0, 0, 0, 0, 0, 1, 0];
    v.extend_from_slice(&eth(0x1234, &[])[..14]);
    check(
        LinkType::Ipv4,
        &ipv4(17, &[], &v),
        "vxlan.unknown_payload_type",
    );
    // IP-in-IP nested past the layer limit.
    let mut inner = ipv4(17, &[], &[0, 1, 0, 2, 0, 8, 0, 0]);
    for _ in 0..20 {
        inner = ipv4(4, &[], &inner);
    }
    check(LinkType::Ipv4, &inner, "too_many_layers");
}

#[test]
fn erspan_and_nsh_events() {
    // GRE with a sequence number (ERSPAN type II) carrying `inner`.
    let erspan2 = |inner: &[u8]| {
        let mut b = vec![0x10, 0, 0x88, 0xbe, 0, 0, 0, 1];
        b.extend_from_slice(inner);
        ipv4(47, &[], &b)
    };
    check(
        LinkType::Ipv4,
        &erspan2(&[0x10, 0x17, 0x08]),
        "erspan.header_too_small",
    );
    check(
        LinkType::Ipv4,
        &erspan2(&[0x20, 0x17, 0x08, 0x64, 0, 0, 0, 0]),
        "erspan.unsupported_version",
    );
    // Two 802.1Q tags already, then ERSPAN's VLAN: one more than the packet can hold.
    let mut tagged = eth(
        0x8100,
        &[0, 1, 0x81, 0x00, 0, 2, 0x81, 0x00, 0, 3, 0x08, 0x00],
    );
    tagged.extend_from_slice(&erspan2(&[0x10, 0x17, 0x08, 0x64, 0, 0, 0, 0]));
    check(LinkType::Ethernet, &tagged, "erspan.too_many_vlan_layers");

    let nsh = |h: &[u8], rest: &[u8]| {
        let mut b = h.to_vec();
        b.extend_from_slice(rest);
        eth(0x894f, &b)
    };
    let ip = ipv4(17, &[], &[0, 1, 0, 2, 0, 8, 0, 0]);
    check(
        LinkType::Ethernet,
        &nsh(&[0, 6, 1, 1], &[]),
        "nsh.header_too_small",
    );
    check(
        LinkType::Ethernet,
        &nsh(&[0x40, 2, 2, 1, 0, 0, 1, 2], &ip),
        "nsh.unsupported_version",
    );
    // Length 6 words but only 8 bytes follow.
    check(
        LinkType::Ethernet,
        &nsh(&[0, 6, 1, 1, 0, 0, 1, 2], &[]),
        "nsh.bad_header_length",
    );
    // MD type 1 must be 6 words long.
    check(
        LinkType::Ethernet,
        &nsh(&[0, 2, 1, 1, 0, 0, 1, 2], &ip),
        "nsh.bad_header_length",
    );
    check(
        LinkType::Ethernet,
        &nsh(&[0, 2, 0, 1, 0, 0, 1, 2], &ip),
        "nsh.reserved_type",
    );
    check(
        LinkType::Ethernet,
        &nsh(&[0, 2, 3, 1, 0, 0, 1, 2], &ip),
        "nsh.unsupported_type",
    );
    check(
        LinkType::Ethernet,
        &nsh(&[0, 2, 2, 0x99, 0, 0, 1, 2], &ip),
        "nsh.unknown_payload",
    );
}

/// ERSPAN type II and NSH decode to the inner packet; ERSPAN's VLAN becomes the packet's.
#[test]
fn erspan_and_nsh_reach_the_inner_packet() {
    let mut d = Decoder::new(DecodeConfig {
        checksum_validation: false,
        ..DecodeConfig::default()
    })
    .unwrap();
    let udp = [0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0];
    let inner = eth(0x0800, &ipv4(17, &[], &udp));
    let mut gre = vec![
        0x10, 0, 0x88, 0xbe, 0, 0, 0, 7, 0x10, 0x17, 0x08, 0x64, 0, 0, 0, 0,
    ];
    gre.extend_from_slice(&inner);
    let f = ipv4(47, &[], &gre);
    let p = d.decode(LinkType::Ipv4, &f, Timestamp(0));
    assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
    assert_eq!((p.vlan_len, p.vlan[0]), (1, 23));
    assert!(matches!(p.l4, L4::Udp(u) if u.src_port == 12345));
    // ERSPAN type I (no GRE sequence number): the bare frame, no VLAN.
    let mut gre = vec![0, 0, 0x88, 0xbe];
    gre.extend_from_slice(&inner);
    let f = ipv4(47, &[], &gre);
    let p = d.decode(LinkType::Ipv4, &f, Timestamp(0));
    assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
    assert_eq!(p.vlan_len, 0);
    assert!(matches!(p.l4, L4::Udp(u) if u.src_port == 12345));
    // NSH, MD type 1 (24 bytes), then IPv4.
    let mut n = vec![0, 6, 1, 1, 0, 0, 1, 2];
    n.extend_from_slice(&[0; 16]);
    n.extend_from_slice(&ipv4(17, &[], &udp));
    let f = eth(0x894f, &n);
    let p = d.decode(LinkType::Ethernet, &f, Timestamp(0));
    assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
    assert!(matches!(p.l4, L4::Udp(u) if u.src_port == 12345));
    let c = d.counters();
    assert_eq!((c.erspan, c.nsh), (2, 1));
}
