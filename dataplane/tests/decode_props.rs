//! Property tests: valid packets built from random fields decode back to those fields; any
//! prefix or random byte string decodes as far as it goes with the same invariants the fuzz
//! target checks (`Packet::validate`, counters adding up); fragments in any order rebuild the
//! datagram.

use dataplane::decode::{Csum, DecodeConfig, DecodeEvent, Decoder, LinkType, L4};
use dataplane::time::Timestamp;
use dataplane::wire::checksum;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Running totals to compare with the decoder's counters.
#[derive(Default)]
struct Totals {
    pkts: u64,
    bytes: u64,
    invalid: u64,
    events: u64,
}

/// Decodes `frame` and checks the invariants shared with the fuzz target; returns whether the
/// packet was invalid and whether it got an IP layer.
fn decode_checked(
    dec: &mut Decoder,
    t: &mut Totals,
    link: LinkType,
    frame: &[u8],
    now: u64,
) -> (bool, bool) {
    let p = dec.decode(link, frame, Timestamp(now));
    if let Err(e) = p.validate() {
        panic!("{e}: {p:?}");
    }
    let (invalid, has_ip) = (p.invalid, p.ip.is_some());
    t.pkts += 1;
    t.bytes += frame.len() as u64;
    t.invalid += u64::from(invalid);
    t.events += p.anomalies.total() as u64;
    let c = dec.counters();
    assert_eq!(
        (c.pkts, c.bytes, c.invalid, c.events_total()),
        (t.pkts, t.bytes, t.invalid, t.events)
    );
    (invalid, has_ip)
}

#[derive(Debug, Clone)]
struct TcpSpec {
    src: [u8; 4],
    dst: [u8; 4],
    ttl: u8,
    tos: u8,
    id: u16,
    df: bool,
    vlans: Vec<u16>,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u16,
    window: u16,
    mss: Option<u16>,
    wscale: Option<u8>,
    sack_perm: bool,
    ts: Option<(u32, u32)>,
    sack: Vec<(u32, u32)>,
    ip_rr: bool,
    payload: Vec<u8>,
}

fn tcp_spec() -> impl Strategy<Value = TcpSpec> {
    (
        (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            1u8..,
            any::<u8>(),
            any::<u16>(),
            any::<bool>(),
        ),
        prop::collection::vec(0u16..4096, 0..=2),
        (
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            0u16..0x200,
            any::<u16>(),
        ),
        (
            prop::option::of(any::<u16>()),
            prop::option::of(0u8..15),
            any::<bool>(),
            prop::option::of(any::<(u32, u32)>()),
            prop::collection::vec(any::<(u32, u32)>(), 0..=1),
            any::<bool>(),
        ),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(ip, vlans, t, o, payload)| TcpSpec {
            src: ip.0,
            dst: ip.1,
            ttl: ip.2,
            tos: ip.3,
            id: ip.4,
            df: ip.5,
            vlans,
            sport: t.0,
            dport: t.1,
            seq: t.2,
            ack: t.3,
            flags: t.4,
            window: t.5,
            mss: o.0,
            wscale: o.1,
            sack_perm: o.2,
            ts: o.3,
            sack: o.4,
            ip_rr: o.5,
            payload,
        })
}

fn build_tcp(s: &TcpSpec) -> Vec<u8> {
    let mut opts = Vec::new();
    if let Some(m) = s.mss {
        opts.extend_from_slice(&[2, 4]);
        opts.extend_from_slice(&m.to_be_bytes());
    }
    if let Some(w) = s.wscale {
        opts.extend_from_slice(&[1, 3, 3, w]);
    }
    if s.sack_perm {
        opts.extend_from_slice(&[1, 1, 4, 2]);
    }
    if let Some((a, b)) = s.ts {
        opts.extend_from_slice(&[1, 1, 8, 10]);
        opts.extend_from_slice(&a.to_be_bytes());
        opts.extend_from_slice(&b.to_be_bytes());
    }
    for &(l, r) in &s.sack {
        opts.extend_from_slice(&[1, 1, 5, 10]);
        opts.extend_from_slice(&l.to_be_bytes());
        opts.extend_from_slice(&r.to_be_bytes());
    }
    while opts.len() % 4 != 0 {
        opts.push(0);
    }
    let thl = 20 + opts.len();
    let mut tcp = Vec::new();
    tcp.extend_from_slice(&s.sport.to_be_bytes());
    tcp.extend_from_slice(&s.dport.to_be_bytes());
    tcp.extend_from_slice(&s.seq.to_be_bytes());
    tcp.extend_from_slice(&s.ack.to_be_bytes());
    let off_flags = ((thl as u16 / 4) << 12) | s.flags;
    tcp.extend_from_slice(&off_flags.to_be_bytes());
    tcp.extend_from_slice(&s.window.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0]);
    tcp.extend_from_slice(&opts);
    tcp.extend_from_slice(&s.payload);
    let c = checksum::compute_with(checksum::pseudo_v4(s.src, s.dst, 6, tcp.len() as u32), &tcp);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());

    let ipopts: &[u8] = if s.ip_rr {
        &[7, 7, 4, 0, 0, 0, 0, 0] // record route, one empty slot, then EOL padding
    } else {
        &[]
    };
    let ihl = 20 + ipopts.len();
    let mut ip = vec![0x40 | (ihl / 4) as u8, s.tos];
    ip.extend_from_slice(&((ihl + tcp.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&s.id.to_be_bytes());
    ip.extend_from_slice(&(if s.df { 0x4000u16 } else { 0 }).to_be_bytes());
    ip.extend_from_slice(&[s.ttl, 6, 0, 0]);
    ip.extend_from_slice(&s.src);
    ip.extend_from_slice(&s.dst);
    ip.extend_from_slice(ipopts);
    let c = checksum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());

    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    for v in &s.vlans {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&tcp);
    f
}

fn build_ipv6_udp(src: [u8; 16], dst: [u8; 16], hop: u8, hbh: bool, payload: &[u8]) -> Vec<u8> {
    let (sport, dport) = (5353u16, 40000u16);
    let mut udp = Vec::new();
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let c = checksum::compute_with(checksum::pseudo_v6(src, dst, 17, udp.len() as u32), &udp);
    // A computed zero goes out as all ones (RFC 768): zero means "no checksum", which IPv6
    // forbids (RFC 8200 8.1), so the decoder rightly calls it bad.
    let c = if c == 0 { 0xffff } else { c };
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    let mut ext = Vec::new();
    if hbh {
        ext.extend_from_slice(&[17, 0, 5, 2, 0, 0, 1, 0]); // router alert + PadN(0)
    }
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&((ext.len() + udp.len()) as u16).to_be_bytes());
    ip.push(if hbh { 0 } else { 17 });
    ip.push(hop);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    ip.extend_from_slice(&ext);
    ip.extend_from_slice(&udp);
    ip
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ipv4_tcp_round_trips(s in tcp_spec()) {
        let frame = build_tcp(&s);
        let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
        let p = dec.decode(LinkType::Ethernet, &frame, Timestamp(1));
        prop_assert!(p.validate().is_ok());
        prop_assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        prop_assert!(!p.invalid);
        prop_assert_eq!(usize::from(p.vlan_len), s.vlans.len());
        prop_assert_eq!(&p.vlan[..s.vlans.len()], &s.vlans[..]);
        let ip = p.ip.unwrap();
        prop_assert_eq!(ip.src, IpAddr::V4(Ipv4Addr::from(s.src)));
        prop_assert_eq!(ip.dst, IpAddr::V4(Ipv4Addr::from(s.dst)));
        prop_assert_eq!((ip.ttl, ip.tos, ip.id, ip.proto), (s.ttl, s.tos, u32::from(s.id), 6));
        prop_assert_eq!(ip.frag.dont_fragment, s.df);
        prop_assert!(!ip.frag.is_fragment);
        prop_assert_eq!(ip.options_present, s.ip_rr);
        let L4::Tcp(t) = p.l4 else { panic!("no tcp: {:?}", p.l4) };
        prop_assert_eq!((t.src_port, t.dst_port, t.seq, t.ack), (s.sport, s.dport, s.seq, s.ack));
        prop_assert_eq!((t.flags, t.window), (s.flags, s.window));
        prop_assert_eq!(t.options.mss, s.mss);
        prop_assert_eq!(t.options.wscale, s.wscale);
        prop_assert_eq!(t.options.sack_permitted, s.sack_perm);
        prop_assert_eq!(t.options.timestamp, s.ts);
        prop_assert_eq!(usize::from(t.options.sack_len), s.sack.len());
        prop_assert_eq!(&t.options.sack[..s.sack.len()], &s.sack[..]);
        prop_assert_eq!(p.payload, &s.payload[..]);
        prop_assert_eq!(p.csum.ipv4, Csum::Ok);
        prop_assert_eq!(p.csum.l4, Csum::Ok);
    }

    #[test]
    fn ipv6_udp_round_trips(
        src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(), hop in any::<u8>(),
        hbh in any::<bool>(), payload in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let frame = build_ipv6_udp(src, dst, hop, hbh, &payload);
        let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
        let p = dec.decode(LinkType::Ipv6, &frame, Timestamp(1));
        prop_assert!(p.validate().is_ok());
        let ip = p.ip.unwrap();
        prop_assert_eq!(ip.src, IpAddr::V6(Ipv6Addr::from(src)));
        prop_assert_eq!(ip.dst, IpAddr::V6(Ipv6Addr::from(dst)));
        prop_assert_eq!((ip.ttl, ip.proto, ip.options_present), (hop, 17, hbh));
        prop_assert_eq!(p.ports(), (5353, 40000));
        prop_assert_eq!(p.payload, &payload[..]);
        prop_assert_eq!(p.csum.l4, Csum::Ok);
        // The hop-by-hop header holds a zero-length PadN, which Suricata flags.
        prop_assert_eq!(p.has_event(DecodeEvent::Ipv6ZeroLenPadn), hbh);
        prop_assert_eq!(p.anomalies.total(), usize::from(hbh));
    }

    /// Every strict prefix of a valid frame decodes as far as it goes and is reported
    /// invalid (a cut always lands inside a header or a declared length), never silently
    /// accepted; the complete frame is valid.
    #[test]
    fn prefixes_decode_as_far_as_they_go(s in tcp_spec()) {
        let frame = build_tcp(&s);
        let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
        let mut t = Totals::default();
        for cut in 0..=frame.len() {
            let (invalid, has_ip) =
                decode_checked(&mut dec, &mut t, LinkType::Ethernet, &frame[..cut], cut as u64);
            prop_assert_eq!(invalid, cut < frame.len(), "cut {}", cut);
            prop_assert_eq!(has_ip, cut == frame.len(), "cut {}", cut);
        }
    }

    #[test]
    fn random_bytes_any_link(link in 0usize..7, bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let links = [LinkType::Ethernet, LinkType::Null, LinkType::Loop, LinkType::Raw,
                     LinkType::Ipv4, LinkType::Ipv6, LinkType::LinuxSll];
        let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
        let mut t = Totals::default();
        decode_checked(&mut dec, &mut t, links[link], &bytes, 5);
    }

    /// The fuzz target's invariants on stable: sequences of IPv4 fragments with random ids,
    /// offsets, flags and lengths (so trackers fill, overlap, time out and complete) mixed
    /// with random frames, under small caps.
    #[test]
    fn fragment_sequences_keep_invariants(
        seq in prop::collection::vec(
            (any::<u8>(), 0u16..4, 0u16..64, any::<bool>(), 0usize..200, 0u8..90, any::<u8>()),
            1..120,
        )
    ) {
        use dataplane::decode::DefragConfig;
        let memcap = 64 * 1024;
        let mut dec = Decoder::new(DecodeConfig {
            defrag: DefragConfig { enabled: true, memcap, max_trackers: 4, max_frags: 32, timeout_secs: 60 },
            ..DecodeConfig::default()
        }).unwrap();
        let mut t = Totals::default();
        let mut now = 1_000_000_000u64;
        for (kind, id, off8, more, len, dt, fill) in seq {
            now += u64::from(dt) * 1_000_000_000;
            let frame = if kind < 230 {
                let mut h = vec![0x45, 0];
                h.extend_from_slice(&((20 + len) as u16).to_be_bytes());
                h.extend_from_slice(&id.to_be_bytes());
                h.extend_from_slice(&(off8 | if more { 0x2000 } else { 0 }).to_be_bytes());
                h.extend_from_slice(&[64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
                h.extend(std::iter::repeat_n(fill, len));
                h
            } else {
                vec![fill; len]
            };
            decode_checked(&mut dec, &mut t, LinkType::Ipv4, &frame, now);
            prop_assert!(dec.defragmenter().memuse() <= memcap);
            prop_assert!(dec.defragmenter().fragments() <= 32);
            prop_assert!(dec.defragmenter().active() <= 4);
            prop_assert_eq!(dec.counters().defrag.memuse as usize, dec.defragmenter().memuse());
        }
    }

    /// IPv6 fragments delivered in any order rebuild the datagram exactly.
    #[test]
    fn fragments_in_any_order_rebuild(
        payload in prop::collection::vec(any::<u8>(), 16..1500),
        chunk in 1usize..40,
        seed in any::<u64>(),
    ) {
        let src = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let dst = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let whole = build_ipv6_udp(src, dst, 64, false, &payload);
        let upper = &whole[40..]; // the UDP datagram is the fragmentable part
        // At least two fragments: a lone offset-0, last fragment is an atomic fragment.
        let step = (chunk * 8).min((upper.len() - 1) / 8 * 8);
        let mut frags: Vec<Vec<u8>> = Vec::new();
        let mut off = 0;
        while off < upper.len() {
            let end = (off + step).min(upper.len());
            let more = end < upper.len();
            let mut f = whole[..40].to_vec();
            f[6] = 44;
            f[4..6].copy_from_slice(&((8 + end - off) as u16).to_be_bytes());
            f.extend_from_slice(&[17, 0]);
            f.extend_from_slice(&((off as u16) | u16::from(more)).to_be_bytes());
            f.extend_from_slice(&0xdead_beefu32.to_be_bytes());
            f.extend_from_slice(&upper[off..end]);
            frags.push(f);
            off = end;
        }
        // Deterministic shuffle from the seed.
        let mut x = seed | 1;
        for i in (1..frags.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            frags.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
        let n = frags.len();
        for (i, f) in frags.iter().enumerate() {
            let p = dec.decode(LinkType::Ipv6, f, Timestamp(i as u64));
            prop_assert!(p.validate().is_ok());
            if i + 1 < n {
                prop_assert!(!p.reassembled);
            }
            if i + 1 == n {
                prop_assert!(p.reassembled, "not rebuilt after all {} fragments", n);
                prop_assert_eq!(p.data, &whole[..]);
                prop_assert_eq!(p.payload, &payload[..]);
                prop_assert_eq!(p.csum.l4, Csum::Ok);
            }
        }
        prop_assert_eq!(dec.defragmenter().memuse(), 0);
        prop_assert_eq!(dec.counters().defrag.ipv6_reassembled, 1);
    }
}

#[test]
fn checksum_off_mode_reports_not_checked() {
    let s = tcp_spec()
        .new_tree(&mut proptest::test_runner::TestRunner::deterministic())
        .unwrap()
        .current();
    let mut frame = build_tcp(&s);
    let last = frame.len() - 1;
    frame[last] ^= 0xff; // corrupt the TCP checksum coverage (or the checksum itself)
    let mut on = Decoder::new(DecodeConfig::default()).unwrap();
    assert_eq!(
        on.decode(LinkType::Ethernet, &frame, Timestamp(0)).csum.l4,
        Csum::Bad
    );
    assert_eq!(on.counters().tcp_csum_bad, 1);
    let mut off = Decoder::new(DecodeConfig {
        checksum_validation: false,
        ..DecodeConfig::default()
    })
    .unwrap();
    let p = off.decode(LinkType::Ethernet, &frame, Timestamp(0));
    assert_eq!(
        (p.csum.ipv4, p.csum.l4),
        (Csum::NotChecked, Csum::NotChecked)
    );
    assert!(p.anomalies.is_empty());
    assert_eq!(off.counters().tcp_csum_bad, 0);
}

proptest! {
    /// With the NIC's verdicts (checksum offload), the outer IPv4 and TCP checksums are taken
    /// from them instead of computed: a NIC-verified frame is good even with bytes changed after
    /// the check, a NIC-rejected one is bad and counted; without verdicts they are computed.
    #[test]
    fn nic_checksum_verdicts_replace_the_outer_computation(s in tcp_spec()) {
        use dataplane::decode::{HwChecksums, HwCsum};
        let good = build_tcp(&s);
        let mut corrupt = good.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        let ip_at = 14 + 4 * s.vlans.len();
        corrupt[ip_at + 8] ^= 0x01; // TTL: the IPv4 header checksum no longer holds
        let both = |ip, l4| HwChecksums { ip, l4 };
        let cases = [
            (&good, HwChecksums::UNKNOWN, (Csum::Ok, Csum::Ok)),
            (&corrupt, HwChecksums::UNKNOWN, (Csum::Bad, Csum::Bad)),
            (&corrupt, both(HwCsum::Good, HwCsum::Good), (Csum::Ok, Csum::Ok)),
            (&good, both(HwCsum::Bad, HwCsum::Bad), (Csum::Bad, Csum::Bad)),
            (&corrupt, both(HwCsum::Unknown, HwCsum::Good), (Csum::Bad, Csum::Ok)),
        ];
        for (frame, hw, want) in cases {
            let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
            let mut p = dataplane::decode::Packet::new(LinkType::Ethernet, frame);
            dec.decode_offloaded(LinkType::Ethernet, frame, Timestamp(0), hw, &mut p);
            prop_assert_eq!((p.csum.ipv4, p.csum.l4), want, "{:?}", hw);
            let c = dec.counters();
            prop_assert_eq!(
                (c.ipv4_csum_bad, c.tcp_csum_bad),
                (u64::from(want.0 == Csum::Bad), u64::from(want.1 == Csum::Bad))
            );
        }
        // Inside a tunnel the verdicts (which may be the outer layer's) are not used: the
        // inner segment is computed. The same frame in IPv4-in-IPv4:
        let inner = &corrupt[ip_at..];
        let mut tunnelled = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
        let mut outer = vec![0x45, 0];
        outer.extend_from_slice(&((20 + inner.len()) as u16).to_be_bytes());
        outer.extend_from_slice(&[0, 0, 0, 0, 64, 4, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
        let c = checksum::checksum(&outer);
        outer[10..12].copy_from_slice(&c.to_be_bytes());
        tunnelled.extend_from_slice(&outer);
        tunnelled.extend_from_slice(inner);
        let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
        let mut p = dataplane::decode::Packet::new(LinkType::Ethernet, &tunnelled);
        let hw = both(HwCsum::Good, HwCsum::Good);
        dec.decode_offloaded(LinkType::Ethernet, &tunnelled, Timestamp(0), hw, &mut p);
        prop_assert_eq!(p.tunnel.depth, 1);
        prop_assert_eq!((p.csum.ipv4, p.csum.l4), (Csum::Bad, Csum::Bad));
    }
}

#[test]
fn link_types_from_pcap_numbers() {
    for (n, l) in [
        (1, LinkType::Ethernet),
        (0, LinkType::Null),
        (108, LinkType::Loop),
        (101, LinkType::Raw),
        (12, LinkType::Raw),
        (14, LinkType::Raw),
        (228, LinkType::Ipv4),
        (229, LinkType::Ipv6),
        (113, LinkType::LinuxSll),
    ] {
        assert_eq!(LinkType::try_from(n), Ok(l));
    }
    assert_eq!(LinkType::Loop.to_pcap(), 108);
    assert!(LinkType::try_from(105).is_err()); // 802.11
    assert!(LinkType::try_from(276).is_err()); // SLL2 not supported yet
}

#[test]
fn giant_and_tiny_frames() {
    let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
    let mut t = Totals::default();
    for len in [0usize, 1, 13, 14, 15, 33, 34] {
        decode_checked(&mut dec, &mut t, LinkType::Ethernet, &vec![0x45; len], 0);
    }
    // A 1 MiB frame of IPv4-looking bytes: decoded as far as it goes, bounded work.
    let mut giant = vec![0u8; 1 << 20];
    giant[12] = 0x08;
    giant[14] = 0x45;
    giant[16] = 0xff;
    giant[17] = 0xff;
    giant[23] = 6;
    decode_checked(&mut dec, &mut t, LinkType::Ethernet, &giant, 0);
    // Deep VLAN stack and long MPLS stack stop at their limits.
    let mut vl = vec![0u8; 12];
    for _ in 0..200 {
        vl.extend_from_slice(&[0x81, 0x00, 0x00, 0x01]);
    }
    vl.extend_from_slice(&[0x08, 0x00]);
    decode_checked(&mut dec, &mut t, LinkType::Ethernet, &vl, 0);
    let p = dec.decode(LinkType::Ethernet, &vl, Timestamp(0));
    assert!(p.has_event(DecodeEvent::VlanTooManyLayers));
    let mut mp = vec![0u8; 12];
    mp.extend_from_slice(&[0x88, 0x47]);
    for _ in 0..500 {
        mp.extend_from_slice(&[0x00, 0x10, 0x00, 0x40]); // label 1, not bottom of stack
    }
    let p = dec.decode(LinkType::Ethernet, &mp, Timestamp(0));
    assert!(p.validate().is_ok());
    assert!(p.has_event(DecodeEvent::TooManyLayers));
}

/// A frame with an Ethernet + IPv4 header in front of random bytes, so the walk gets past L3
/// often enough to fill L4 fields and anomalies.
fn ipv4ish(tail: &[u8], proto: u8) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0]);
    f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    let total = (20 + tail.len()).min(0xffff) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f.extend_from_slice(tail);
    f
}

proptest! {
    /// `decode_into` overwrites whatever the caller's summary held: decoding frame `b` into a
    /// summary of frame `a` gives the same summary as decoding `b` alone.
    #[test]
    fn decode_into_overwrites_the_previous_summary(
        a in proptest::collection::vec(any::<u8>(), 0..200),
        b in proptest::collection::vec(any::<u8>(), 0..200),
        pa in prop_oneof![Just(6u8), Just(17), Just(1), any::<u8>()],
        pb in prop_oneof![Just(6u8), Just(17), Just(1), any::<u8>()],
    ) {
        let (fa, fb) = (ipv4ish(&a, pa), ipv4ish(&b, pb));
        let mut first = Decoder::new(DecodeConfig::default()).unwrap();
        let mut reused = Decoder::new(DecodeConfig::default()).unwrap();
        let mut fresh = Decoder::new(DecodeConfig::default()).unwrap();
        let mut p = first.decode(LinkType::Ethernet, &fa, Timestamp(1));
        reused.decode_into(LinkType::Ethernet, &fb, Timestamp(1), &mut p);
        let want = fresh.decode(LinkType::Ethernet, &fb, Timestamp(1));
        prop_assert_eq!(format!("{p:?}"), format!("{want:?}"));
        prop_assert!(p.validate().is_ok());
    }
}
