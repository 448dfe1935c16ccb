//! Decoder walks over real frames of `shared/data/pcaps/public_mix.pcap`, chosen by packet
//! number (1-based, as Wireshark counts), one per encapsulation. Expected values were read from
//! the bytes by hand. Without the capture the test says so and passes, unless `CI` is set (`vocab::testing`).

use dataplane::decode::{Csum, DecodeConfig, Decoder, LinkType, Packet, TunnelKind, L4};
use dataplane::time::Timestamp;
use std::collections::HashMap;
use std::net::IpAddr;

const PICKS: &[usize] = &[
    13, 49, 3150, 9695, 9700, 9704, 9831, 13074, 22533, 42256, 96216, 107802, 107805, 223231,
    267926,
];

fn load() -> Option<HashMap<usize, Vec<u8>>> {
    let path = vocab::testing::shared_data("pcaps/public_mix.pcap")?;
    let f = std::fs::File::open(path).expect("capture opens");
    let mut r = pcap_file::pcap::PcapReader::new(std::io::BufReader::new(f)).ok()?;
    let mut out = HashMap::new();
    let mut n = 0;
    while let Some(Ok(p)) = r.next_packet() {
        n += 1;
        if PICKS.contains(&n) {
            out.insert(n, p.data.into_owned());
        }
        if n > *PICKS.iter().max().unwrap() {
            break;
        }
    }
    Some(out)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn dec(frames: &HashMap<usize, Vec<u8>>, n: usize, d: &mut Decoder, f: impl FnOnce(Packet<'_>)) {
    let p = d.decode(LinkType::Ethernet, &frames[&n], Timestamp(0));
    assert!(p.validate().is_ok(), "packet {n}");
    f(p)
}

#[test]
fn encapsulations_from_capture() {
    let Some(fr) = load() else { return };
    let mut d = Decoder::new(DecodeConfig {
        checksum_validation: false,
        ..DecodeConfig::default()
    })
    .unwrap();

    // 13: ICMP echo request 172.16.16.128 -> 172.16.16.150, id 0x3de4 seq 0x0127 (code 9,
    // which Suricata flags as an unknown code for echo).
    dec(&fr, 13, &mut d, |p| {
        let i = p.ip.unwrap();
        assert_eq!((i.src, i.dst), (ip("172.16.16.128"), ip("172.16.16.150")));
        let L4::Icmpv4(c) = p.l4 else { panic!() };
        assert_eq!((c.kind, c.code, c.id, c.seq), (8, 9, 0x3de4, 0x0127));
        assert!(p.has_event("icmpv4.unknown_code".parse().unwrap()));
    });
    // 49: ARP request, no IP layer, nothing anomalous.
    dec(&fr, 49, &mut d, |p| {
        assert!(p.ip.is_none() && p.anomalies.is_empty() && !p.invalid);
    });
    // 3150: first fragment of a 10.10.0.3 -> 192.168.0.128 ICMP datagram: no L4 yet.
    dec(&fr, 3150, &mut d, |p| {
        let i = p.ip.unwrap();
        assert!(i.frag.is_fragment && i.frag.more_fragments && i.frag.offset == 0);
        assert_eq!(i.proto, 1);
        assert_eq!(p.l4, L4::None);
        assert_eq!(p.payload.len(), 1500 - 20);
    });
    // 9695: QinQ (VLAN 1624 then 505), IPv4 10.10.100.25 -> 10.10.101.2 inside IPv4 (proto 4).
    dec(&fr, 9695, &mut d, |p| {
        assert_eq!(&p.vlan[..usize::from(p.vlan_len)], &[1624, 505]);
        assert_eq!(p.tunnel.kind, TunnelKind::IpInIp);
        assert_eq!(p.tunnel.depth, 1);
        let i = p.ip.unwrap();
        assert_eq!((i.src, i.dst), (ip("10.10.100.25"), ip("10.10.101.2")));
        let o = p.outer.unwrap();
        assert_eq!(o.proto, 4);
        assert!(matches!(p.l4, L4::Udp(_)));
    });
    // 9700: IPv4 in IPv6 (next header 4), inner TCP 192.168.0.1:64455 -> 10.10.10.1:443.
    dec(&fr, 9700, &mut d, |p| {
        let i = p.ip.unwrap();
        assert_eq!(
            (i.version, i.src, i.dst),
            (4, ip("192.168.0.1"), ip("10.10.10.1"))
        );
        assert_eq!(p.ports(), (64455, 443));
        assert!(p.outer.unwrap().src.is_ipv6());
    });
    // 9704: IPv6 in IPv4 (6in4, proto 41) carrying ICMPv6.
    dec(&fr, 9704, &mut d, |p| {
        assert_eq!(p.ip.unwrap().version, 6);
        assert!(matches!(p.l4, L4::Icmpv6(_)));
        assert_eq!(p.outer.unwrap().proto, 41);
    });
    // 9831: IPv6 in IPv6 carrying UDP.
    dec(&fr, 9831, &mut d, |p| {
        assert_eq!(p.tunnel.kind, TunnelKind::IpInIp);
        assert!(matches!(p.l4, L4::Udp(_)));
    });
    // 13074: VLAN 7, TCP SYN 172.29.9.146:38856 -> 172.29.9.147:8009 with MSS 1460, SACK-perm,
    // timestamps and window scale 7.
    dec(&fr, 13074, &mut d, |p| {
        assert_eq!((p.vlan_len, p.vlan[0]), (1, 7));
        assert_eq!(p.ports(), (38856, 8009));
        let L4::Tcp(t) = p.l4 else { panic!() };
        assert_eq!(t.flags, 0x002);
        assert_eq!(t.options.mss, Some(1460));
        assert!(t.options.sack_permitted);
        assert_eq!(t.options.wscale, Some(7));
        assert_eq!(t.options.timestamp.map(|t| t.1), Some(0));
    });
    // 22533: two VLAN tags, PPPoE session 0x2175 carrying IPv6.
    dec(&fr, 22533, &mut d, |p| {
        assert_eq!(p.vlan_len, 2);
        assert_eq!(p.ip.unwrap().version, 6);
    });
    // 42256: VLAN 142, PPTP (GRE v1, call id 0x9850) -> PPP -> IPv4 UDP
    // 192.168.10.210:5060 -> 192.168.103.40:5060.
    dec(&fr, 42256, &mut d, |p| {
        assert_eq!(p.tunnel.kind, TunnelKind::Pptp);
        assert_eq!(p.tunnel.id, 0x9850);
        let i = p.ip.unwrap();
        assert_eq!((i.src, i.dst), (ip("192.168.10.210"), ip("192.168.103.40")));
        assert_eq!(p.ports(), (5060, 5060));
    });
    // 96216: VLAN 5, VXLAN VNI 1111 over UDP 4789, inner DNS query 10.10.20.4 -> 8.8.8.8:53.
    dec(&fr, 96216, &mut d, |p| {
        assert_eq!(p.tunnel.kind, TunnelKind::Vxlan);
        assert_eq!(p.tunnel.id, 1111);
        let i = p.ip.unwrap();
        assert_eq!((i.src, i.dst), (ip("10.10.20.4"), ip("8.8.8.8")));
        assert_eq!(p.ports().1, 53);
        assert_eq!(p.outer.unwrap().src, ip("192.168.22.4"));
    });
    // 267926: Geneve over UDP 6081 (192.168.33.179 -> 192.168.179.33), an Ethernet frame
    // inside carrying TCP 10.0.0.226:39088 <-> 95.217.228.176:80.
    dec(&fr, 267926, &mut d, |p| {
        assert_eq!(p.tunnel.kind, TunnelKind::Geneve);
        assert_eq!(p.outer.unwrap().src, ip("192.168.33.179"));
        let i = p.ip.unwrap();
        assert!(i.src == ip("10.0.0.226") || i.dst == ip("10.0.0.226"));
        assert!(matches!(p.l4, L4::Tcp(_)));
        assert!(p.ports() == (39088, 80) || p.ports() == (80, 39088));
    });
    // 107802: IPv6 destination options (PadN + home address) then TCP.
    dec(&fr, 107802, &mut d, |p| {
        let i = p.ip.unwrap();
        assert!(i.options_present);
        assert_eq!(i.proto, 6);
        assert_eq!(p.ip_header.len(), 40 + 24);
        assert!(matches!(p.l4, L4::Tcp(_)));
    });
    // 107805: IPv6 routing header type 0 (deprecated by RFC 5095, one segment left) then
    // ICMPv6: decoded through, flagged as Suricata does.
    dec(&fr, 107805, &mut d, |p| {
        assert_eq!(p.ip.unwrap().proto, 58);
        assert!(p.has_event("ipv6.rh_type_0".parse().unwrap()));
        assert!(!p.invalid);
        assert!(matches!(p.l4, L4::Icmpv6(_)));
    });
    // 223231: MPLS label 29 (bottom of stack) then IPv4 TCP 10.1.2.1 -> 10.34.0.1.
    dec(&fr, 223231, &mut d, |p| {
        assert_eq!(p.mpls_labels, 1);
        let i = p.ip.unwrap();
        assert_eq!((i.src, i.dst), (ip("10.1.2.1"), ip("10.34.0.1")));
        assert!(matches!(p.l4, L4::Tcp(_)));
        assert_eq!(p.csum.l4, Csum::NotChecked);
    });
}

/// The summary is returned by value per packet; keep it small enough to stay cheap.
#[test]
fn packet_summary_size() {
    let size = std::mem::size_of::<Packet<'static>>();
    println!("Packet: {size} bytes");
    assert!(size <= 512, "Packet grew to {size} bytes");
}
