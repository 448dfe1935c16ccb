//! Decoder conformance on captures from outside the project:
//! - suricata-verify (OISF, commit 10a45e4bad6d): the decoder-event tests of the subset, checked
//!   as "how many packets raise event X", which is what `decode-event:` rules alert on;
//! - public_mix.pcap: every packet decodes, counters add up.
//!
//! Files are read from `../shared/data` beside the workspace; a missing file skips its check
//! with a printed note.

use dataplane::decode::{DecodeConfig, DecodeEvent, Decoder, LinkType, L4};
use dataplane::time::Timestamp;

/// A capture loaded in memory: (time, bytes) per packet.
type Capture = Vec<(Timestamp, Vec<u8>)>;

/// Reads a classic pcap: link type and its packets.
fn read_pcap(rel: &str) -> Option<(LinkType, Capture)> {
    let path = vocab::testing::shared_data(rel)?;
    let file = std::fs::File::open(&path).expect("capture opens");
    let mut reader = pcap_file::pcap::PcapReader::new(std::io::BufReader::new(file)).ok()?;
    let link = LinkType::try_from(u32::from(reader.header().datalink)).expect("link type");
    let mut out = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.expect("pcap record");
        let ts = Timestamp(pkt.timestamp.as_nanos() as u64);
        out.push((ts, pkt.data.into_owned()));
    }
    Some((link, out))
}

const SV: &str = "suricata-verify/tests/";

/// (test directory, pcap, event, packets that must raise it) from each test's `test.yaml`.
const EVENT_CASES: &[(&str, &str, &str, usize)] = &[
    ("ipv4-truncated", "truncated.pcap", "ipv4.trunc_pkt", 1),
    ("bug-7146", "input.pcap", "ipv4.unknown_protocol", 1),
    (
        "bug-7964-02",
        "wrong-version-ipv6-ipv6.pcap",
        "ipv6.ipv6_in_ipv6_wrong_version",
        1,
    ),
    (
        "ipv6-evasion/ipv6-covert-dstopts",
        "covert_send6.pcap",
        "ipv6.dstopts_unknown_opt",
        18,
    ),
    (
        "ipv6-evasion/ipv6-dos-with-ext-headers-6",
        "denial6-6.pcap",
        "ipv6.frag_invalid_length",
        39812,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-11",
        "frag-11.pcap",
        "ipv6.exthdr_useless_fh",
        1,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-11",
        "frag-11.pcap",
        "ipv6.exthdr_dupl_fh",
        1,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-12",
        "frag-12.pcap",
        "ipv6.exthdr_useless_fh",
        1,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-12",
        "frag-12.pcap",
        "ipv6.exthdr_dupl_fh",
        1,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-2",
        "frag-2.pcap",
        "ipv6.frag_overlap",
        1,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-3",
        "frag-3.pcap",
        "ipv6.frag_overlap",
        1,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-4",
        "frag-4.pcap",
        "ipv6.frag_overlap",
        1,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-7",
        "frag-7.pcap",
        "ipv6.frag_overlap",
        1,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-29",
        "frag-29.pcap",
        "ipv6.frag_overlap",
        1,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-22",
        "frag-22.pcap",
        "ipv6.frag_invalid_length",
        1,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-23",
        "frag-23.pcap",
        "ipv6.frag_invalid_length",
        1,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-26",
        "frag-26.pcap",
        "ipv6.trunc_exthdr",
        1,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-26",
        "frag-26.pcap",
        "ipv6.exthdr_useless_fh",
        1,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-28",
        "frag-28.pcap",
        "ipv6.trunc_exthdr",
        1,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-28",
        "frag-28.pcap",
        "ipv6.exthdr_useless_fh",
        1,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-32",
        "frag-32.pcap",
        "ipv6.frag_pkt_too_large",
        1,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-32",
        "frag-32.pcap",
        "ipv6.frag_invalid_length",
        1,
    ),
];

/// (test directory, pcap, ICMPv6 type, code, packets) for the subset's `itype`/`icode` tests
/// that depend on decoding through extension headers and fragments.
const ICMPV6_CASES: &[(&str, &str, u8, Option<u8>, usize)] = &[
    (
        "ipv6-evasion/ipv6-dos-with-ext-headers-5",
        "denial6-5.pcap",
        4,
        Some(1),
        15,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-30",
        "frag-30.pcap",
        3,
        Some(1),
        1,
    ),
    (
        "ipv6-evasion/ipv6-malformed-fragments-35",
        "frag-35.pcap",
        4,
        Some(0),
        1,
    ),
];

fn count_event(dir: &str, pcap: &str, event: DecodeEvent) -> Option<usize> {
    let (link, pkts) = read_pcap(&format!("{SV}{dir}/{pcap}"))?;
    let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
    let mut n = 0;
    for (ts, bytes) in &pkts {
        if dec.decode(link, bytes, *ts).has_event(event) {
            n += 1;
        }
    }
    assert_eq!(
        dec.counters().event(event) as usize,
        n,
        "{dir}: counter vs packets"
    );
    Some(n)
}

#[test]
fn suricata_verify_decoder_events() {
    let mut failures = Vec::new();
    for &(dir, pcap, name, want) in EVENT_CASES {
        let event: DecodeEvent = name.parse().unwrap();
        if let Some(got) = count_event(dir, pcap, event) {
            println!("{dir}: {name} on {got} packets (want {want})");
            if got != want {
                failures.push(format!("{dir}: {name} got {got} want {want}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn suricata_verify_icmpv6_through_extension_headers() {
    let mut failures = Vec::new();
    for &(dir, pcap, kind, code, want) in ICMPV6_CASES {
        let Some((link, pkts)) = read_pcap(&format!("{SV}{dir}/{pcap}")) else {
            continue;
        };
        let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
        let mut got = 0;
        for (ts, bytes) in &pkts {
            if let L4::Icmpv6(i) = dec.decode(link, bytes, *ts).l4 {
                if i.kind == kind && code.is_none_or(|c| c == i.code) {
                    got += 1;
                }
            }
        }
        println!("{dir}: icmpv6 {kind}/{code:?} on {got} packets (want {want})");
        if got != want {
            failures.push(format!("{dir}: got {got} want {want}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// ipv6-rsmurf: `alert icmpv6 any any -> ff00::/8 any (itype:128;)` must see 1000 echo
/// requests to multicast.
#[test]
fn suricata_verify_rsmurf() {
    let Some((link, pkts)) = read_pcap(&format!("{SV}ipv6-evasion/ipv6-rsmurf/rsmurf6.pcap"))
    else {
        return;
    };
    let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
    let mut n = 0;
    for (ts, b) in &pkts {
        let p = dec.decode(link, b, *ts);
        let multicast =
            matches!(p.ip.map(|i| i.dst), Some(std::net::IpAddr::V6(a)) if a.is_multicast());
        if multicast && matches!(p.l4, L4::Icmpv6(i) if i.kind == 128) {
            n += 1;
        }
    }
    assert_eq!(n, 1000);
}

/// bug-5633-gre-01: GRE (1.1.1.2 -> 1.1.1.1) carries UDP 2.2.2.3 -> 2.2.2.2 with "EVIL";
/// a `pass ip any any <> 2.2.2.2` rule must see the inner addresses, the outer ones stay
/// available.
#[test]
fn suricata_verify_gre_outer_address() {
    let Some((link, pkts)) = read_pcap(&format!("{SV}bug-5633-gre-01/gre-udp.pcap")) else {
        return;
    };
    let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
    let target: std::net::IpAddr = "2.2.2.2".parse().unwrap();
    let mut evil = 0;
    for (ts, b) in &pkts {
        let p = dec.decode(link, b, *ts);
        if p.payload.windows(4).any(|w| w == b"EVIL") {
            evil += 1;
            assert_eq!(p.tunnel.kind, dataplane::decode::TunnelKind::Gre);
            assert_eq!(p.ip.unwrap().dst, target);
            let o = p.outer.expect("outer header");
            assert_eq!(
                (o.src, o.dst),
                ("1.1.1.2".parse().unwrap(), "1.1.1.1".parse().unwrap())
            );
            assert!(matches!(p.l4, L4::Udp(_)));
        }
    }
    assert!(evil > 0);
}

/// bug-7146 and bug-7964-02 also check stats counters; ipv4-truncated checks that the alert
/// carries no addresses or ports, so the truncated packet must not expose any.
#[test]
fn suricata_verify_stats() {
    if let Some((link, pkts)) = read_pcap(&format!("{SV}ipv4-truncated/truncated.pcap")) {
        let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
        for (ts, b) in &pkts {
            let p = dec.decode(link, b, *ts);
            if p.has_event(DecodeEvent::Ipv4TruncPkt) {
                assert!(p.ip.is_none() && p.l4 == L4::None && p.ports() == (0, 0));
            }
        }
    }
    if let Some((link, pkts)) = read_pcap(&format!("{SV}bug-7146/input.pcap")) {
        let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
        for (ts, b) in &pkts {
            let p = dec.decode(link, b, *ts);
            assert_eq!(p.ip.unwrap().proto, 253);
        }
        let c = dec.counters();
        assert_eq!((c.pkts, c.ipv4), (1, 1));
        assert_eq!(c.event(DecodeEvent::Ipv4UnknownProtocol), 1);
    }
    if let Some((link, pkts)) = read_pcap(&format!("{SV}bug-7964-02/wrong-version-ipv6-ipv6.pcap"))
    {
        let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
        for (ts, b) in &pkts {
            let p = dec.decode(link, b, *ts);
            assert_eq!(p.ip.unwrap().version, 6);
        }
        let c = dec.counters();
        assert_eq!((c.pkts, c.invalid, c.ipv6), (1, 1, 1));
        assert_eq!(c.event(DecodeEvent::Ipv6InIpv6WrongVersion), 1);
    }
}

/// Every packet of public_mix.pcap decodes once, nothing panics, and the counters add up.
#[test]
fn public_mix_counters_add_up() {
    let Some((link, pkts)) = read_pcap("pcaps/public_mix.pcap") else {
        return;
    };
    let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
    let (mut bytes, mut invalid, mut anomalies, mut ip, mut tcp, mut udp) = (0, 0, 0, 0, 0, 0);
    let mut reassembled = 0;
    for (ts, b) in &pkts {
        let p = dec.decode(link, b, *ts);
        bytes += b.len() as u64;
        invalid += u64::from(p.invalid);
        anomalies += p.anomalies.total() as u64;
        ip += u64::from(p.ip.is_some());
        reassembled += u64::from(p.reassembled);
        match p.l4 {
            L4::Tcp(_) => tcp += 1,
            L4::Udp(_) => udp += 1,
            _ => {}
        }
        // Payload and IP header always lie inside the bytes the packet describes.
        let base = p.data.as_ptr() as usize;
        for s in [p.payload, p.ip_header] {
            if !s.is_empty() {
                let start = s.as_ptr() as usize - base;
                assert!(start + s.len() <= p.data.len());
            }
        }
    }
    let c = dec.counters();
    assert_eq!(c.pkts, pkts.len() as u64);
    assert_eq!(c.bytes, bytes);
    assert!(c.ethernet >= c.pkts);
    assert_eq!(c.invalid, invalid);
    assert_eq!(c.events_total(), anomalies);
    assert!(c.tcp >= tcp && c.udp >= udp);
    println!(
        "public_mix: {} pkts, {} with IP, tcp {tcp}, udp {udp}, invalid {invalid}, \
         anomalies {anomalies}, reassembled {reassembled}",
        c.pkts, ip
    );
    let mut nonzero = Vec::new();
    dataplane::counters::CounterSet::visit(c, &mut |name, v| {
        if v != 0 {
            nonzero.push(format!("{name}={v}"));
        }
    });
    println!("{}", nonzero.join("\n"));
    // Almost all of this capture is well-formed IP.
    assert!(ip * 100 / c.pkts >= 95, "only {ip} IP packets");
}
