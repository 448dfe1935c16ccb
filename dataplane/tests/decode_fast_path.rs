//! The decoder's fast path (`DecodeConfig::fast_path`) must give exactly what the general layer
//! walk gives: the same `Packet` (every field, the slices pointing at the same bytes) and the
//! same counters, packet after packet. Checked over every packet of public_mix.pcap (from
//! `../shared/data`; without it the check is skipped with a note, or fails under `CI`), over mutated and truncated copies of
//! them, and over generated frames built around the fast path's shape and its edges (tags,
//! IHL, lengths, fragment bits, protocols, TCP option layouts, UDP tunnel ports), under
//! several configurations and NIC checksum verdicts.

use dataplane::decode::{DecodeConfig, Decoder, HwChecksums, HwCsum, LinkType, Packet};
use dataplane::time::Timestamp;
use dataplane::wire::checksum;
use proptest::prelude::*;

/// The NIC verdicts cycled through, so that both the offloaded and computed checksum branches
/// are compared.
const VERDICTS: [HwChecksums; 5] = [
    HwChecksums::UNKNOWN,
    HwChecksums {
        ip: HwCsum::Good,
        l4: HwCsum::Good,
    },
    HwChecksums {
        ip: HwCsum::Bad,
        l4: HwCsum::Bad,
    },
    HwChecksums {
        ip: HwCsum::Good,
        l4: HwCsum::Unknown,
    },
    HwChecksums {
        ip: HwCsum::Unknown,
        l4: HwCsum::Bad,
    },
];

/// Where a sub-slice starts in `outer` (None for an empty slice, whose address is arbitrary).
fn at(outer: &[u8], inner: &[u8]) -> Option<usize> {
    (!inner.is_empty()).then(|| inner.as_ptr() as usize - outer.as_ptr() as usize)
}

/// A fast and a general decoder fed the same packets.
struct Pair {
    fast: Decoder,
    slow: Decoder,
}

impl Pair {
    fn new(cfg: DecodeConfig) -> Self {
        Pair {
            fast: Decoder::new(DecodeConfig {
                fast_path: true,
                ..cfg
            })
            .expect("config"),
            slow: Decoder::new(DecodeConfig {
                fast_path: false,
                ..cfg
            })
            .expect("config"),
        }
    }

    /// Decodes `frame` both ways and returns a description of the first difference.
    fn check(
        &mut self,
        link: LinkType,
        frame: &[u8],
        now: Timestamp,
        hw: HwChecksums,
    ) -> Result<(), String> {
        let mut a = Packet::new(link, frame);
        self.fast.decode_offloaded(link, frame, now, hw, &mut a);
        let mut b = Packet::new(link, frame);
        self.slow.decode_offloaded(link, frame, now, hw, &mut b);
        if a != b {
            return Err(format!("packets differ:\nfast {a:?}\nslow {b:?}"));
        }
        if let Err(e) = a.validate() {
            return Err(format!("invalid summary ({e}) {a:?}"));
        }
        // Equality compares contents; the summaries must also point at the same bytes.
        let (da, db) = (a.data, b.data);
        let where_a = (at(da, a.ip_header), at(da, a.payload), da.as_ptr());
        let where_b = (at(db, b.ip_header), at(db, b.payload), db.as_ptr());
        if a.reassembled {
            // Rebuilt datagrams live in each decoder's own buffer: compare offsets only.
            if (where_a.0, where_a.1) != (where_b.0, where_b.1) {
                return Err(format!("slices differ: {where_a:?} {where_b:?}"));
            }
        } else if where_a != where_b {
            return Err(format!("slices differ: {where_a:?} {where_b:?}"));
        }
        if self.fast.counters() != self.slow.counters() {
            return Err(format!(
                "counters differ:\nfast {:?}\nslow {:?}",
                self.fast.counters(),
                self.slow.counters()
            ));
        }
        Ok(())
    }
}

/// Small deterministic generator for the mutations of real packets.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A capture loaded in memory: (time, bytes) per packet.
type Capture = Vec<(Timestamp, Vec<u8>)>;

/// public_mix.pcap's link type and packets.
fn public_mix() -> Option<(LinkType, Capture)> {
    let path = vocab::testing::shared_data("pcaps/public_mix.pcap")?;
    let file = std::fs::File::open(path).expect("capture opens");
    let mut r = pcap_file::pcap::PcapReader::new(std::io::BufReader::new(file)).ok()?;
    let link = LinkType::try_from(u32::from(r.header().datalink)).expect("link type");
    let mut pkts = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.expect("pcap record");
        pkts.push((
            Timestamp(p.timestamp.as_nanos() as u64),
            p.data.into_owned(),
        ));
    }
    Some((link, pkts))
}

#[test]
fn fast_path_is_identical_on_public_mix() {
    let Some((link, pkts)) = public_mix() else {
        return;
    };
    for csum in [true, false] {
        let mut pair = Pair::new(DecodeConfig {
            checksum_validation: csum,
            ..DecodeConfig::default()
        });
        for (i, (ts, frame)) in pkts.iter().enumerate() {
            let hw = VERDICTS[i % VERDICTS.len()];
            if let Err(e) = pair.check(link, frame, *ts, hw) {
                panic!("packet {} (checksums {csum}): {e}", i + 1);
            }
        }
        assert_eq!(pair.fast.counters().pkts, pkts.len() as u64);
    }
}

#[test]
fn fast_path_is_identical_on_mutated_public_mix() {
    let Some((link, pkts)) = public_mix() else {
        return;
    };
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut pair = Pair::new(DecodeConfig {
        max_layers: 5,
        ..DecodeConfig::default()
    });
    let mut buf = Vec::new();
    // Every 7th packet, mutated three ways: cut short, bytes of the first 80 flipped, and both.
    for (i, (ts, frame)) in pkts.iter().enumerate().step_by(7) {
        for round in 0..3 {
            buf.clear();
            buf.extend_from_slice(frame);
            if round != 0 {
                for _ in 0..1 + rng.below(3) {
                    let pos = rng.below(buf.len().min(80));
                    if let Some(b) = buf.get_mut(pos) {
                        *b ^= 1 << rng.below(8);
                    }
                }
            }
            if round != 1 {
                let cut = rng.below(buf.len().min(100) + 1);
                buf.truncate(cut);
            }
            let hw = VERDICTS[rng.below(VERDICTS.len())];
            if let Err(e) = pair.check(link, &buf, *ts, hw) {
                panic!("packet {} mutation {round} {buf:02x?}: {e}", i + 1);
            }
        }
    }
}

/// A frame around the fast path's shape; every field can also take a value just outside it.
#[derive(Debug, Clone)]
struct Spec {
    /// (TPID, TCI) per tag.
    tags: Vec<(u16, u16)>,
    ethertype: u16,
    ver_ihl: u8,
    /// Added to the true total length.
    tl_delta: i8,
    flags_frag: u16,
    proto: u8,
    ttl: u8,
    l4: L4Spec,
    payload: Vec<u8>,
    /// Link padding after the datagram.
    padding: u8,
    /// Corrupt the IPv4 / L4 checksums.
    bad_ip_csum: bool,
    bad_l4_csum: bool,
    /// IPv6 instead of IPv4 (`ver_ihl` 0x45 then means version 6, an EtherType of IPv4
    /// becomes IPv6, `tl_delta` is added to the payload length), with a hop-by-hop header.
    v6: Option<bool>,
}

#[derive(Debug, Clone)]
enum L4Spec {
    /// Data offset (in words) and the option bytes.
    Tcp(u8, Vec<u8>),
    /// Destination port, added length, zero checksum, payload replaced by a VXLAN and a
    /// Geneve header (whichever the port names) and an inner frame.
    Udp(u16, i8, bool, bool),
    /// Raw bytes after the IPv4 header.
    Raw(Vec<u8>),
}

/// `common` three times out of four, else one of `rare`.
fn often<T: Clone + std::fmt::Debug + 'static>(
    common: T,
    rare: Vec<T>,
) -> impl Strategy<Value = T> {
    prop_oneof![3 => Just(common), 1 => prop::sample::select(rare)]
}

fn tcp_options() -> impl Strategy<Value = Vec<u8>> {
    let ts = any::<[u8; 8]>();
    prop_oneof![
        3 => Just(vec![]),
        3 => ts.prop_map(|t| [&[1, 1, 8, 10][..], &t].concat()),
        1 => (ts, 0u8..12).prop_map(|(t, l)| [&[1, 1, 8, l][..], &t].concat()),
        1 => (ts, any::<[u8; 8]>()).prop_map(|(a, b)| [&[1, 1, 8, 10][..], &a, &[1, 1, 8, 10], &b].concat()),
        1 => any::<[u8; 8]>().prop_map(|t| [&[8, 10][..], &t, &[1, 1]].concat()),
        1 => any::<u16>().prop_map(|m| [&[2, 4][..], &m.to_be_bytes()].concat()),
        1 => (any::<u16>(), ts, 0u8..15).prop_map(|(m, t, w)| [&[2, 4][..], &m.to_be_bytes(), &[4, 2, 8, 10], &t, &[1, 3, 3, w]].concat()),
        1 => (any::<[u8; 16]>()).prop_map(|s| [&[1, 1, 5, 18][..], &s, &[1, 1]].concat()),
        1 => prop::collection::vec(any::<u8>(), 0..=40),
        1 => prop::collection::vec(prop::sample::select(vec![0u8, 1, 2, 3, 4, 5, 8, 34, 66, 255]), 0..=40),
    ]
}

fn l4_spec() -> impl Strategy<Value = (u8, L4Spec)> {
    prop_oneof![
        6 => (tcp_options(), prop::option::weighted(0.8, Just(())), 0u8..16).prop_map(|(o, exact, doff)| {
            let words = if exact.is_some() { (20 + o.len()).div_ceil(4) as u8 } else { doff };
            let mut o = o;
            o.resize((usize::from(words) * 4).saturating_sub(20).max(o.len()), 0);
            (6, L4Spec::Tcp(words, o))
        }),
        3 => (
            prop::sample::select(vec![53u16, 4789, 6081, 443, 0]),
            often(0i8, vec![-1, 1, -8, 4]),
            any::<bool>(),
            any::<bool>(),
        ).prop_map(|(port, d, z, encap)| (17, L4Spec::Udp(port, d, z, encap))),
        1 => (prop::sample::select(vec![1u8, 6, 17, 47, 4, 41, 58, 132, 50, 200]), prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(p, b)| (p, L4Spec::Raw(b))),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    let tpid = prop::sample::select(vec![0x8100u16, 0x88a8, 0x9100, 0x0800, 0x86dd]);
    (
        prop::collection::vec((tpid, any::<u16>()), 0..=3),
        often(0x0800u16, vec![0x86dd, 0x0806, 0x8100, 0x1234]),
        often(0x45u8, vec![0x46, 0x44, 0x4f, 0x55, 0x65]),
        often(0i8, vec![-1, 1, -20, 3]),
        often(0x4000u16, vec![0, 0x8000, 0x2000, 0x0001, 0x4001, 0xe000]),
        l4_spec(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::sample::select(vec![0u8, 0, 0, 1, 6]),
        any::<bool>(),
        any::<bool>(),
        prop::option::weighted(0.3, prop::bool::weighted(0.2)),
    )
        .prop_map(
            |(
                tags,
                ethertype,
                ver_ihl,
                tl_delta,
                flags_frag,
                (proto, l4),
                ttl,
                payload,
                padding,
                bi,
                bl,
                v6,
            )| Spec {
                tags,
                ethertype,
                ver_ihl,
                tl_delta,
                flags_frag,
                proto,
                ttl,
                l4,
                payload,
                padding,
                bad_ip_csum: bi,
                bad_l4_csum: bl,
                v6,
            },
        )
}

/// A VXLAN header (RFC 7348) for port 4789, else a Geneve header (RFC 8926), then an inner
/// Ethernet frame with an ICMP echo.
fn tunnelled(port: u16) -> Vec<u8> {
    let mut b = if port == 4789 {
        vec![0x08, 0, 0, 0, 0, 0, 42, 0]
    } else {
        vec![0, 0, 0x65, 0x58, 0, 0, 42, 0]
    };
    b.extend_from_slice(&[2, 0, 0, 0, 0, 3, 2, 0, 0, 0, 0, 4, 8, 0]);
    let mut ip = vec![
        0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 10, 1, 1, 1, 10, 1, 1, 2,
    ];
    let c = checksum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    b.extend_from_slice(&ip);
    b.extend_from_slice(&[8, 0, 0xf7, 0xfd, 0, 1, 0, 1]);
    b
}

fn build(s: &Spec) -> Vec<u8> {
    let src = [10, 0, 0, 1];
    let dst = [192, 168, 7, 9];
    let src6 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let dst6 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    let pseudo = |proto: u8, len: usize| match s.v6 {
        Some(_) => checksum::pseudo_v6(src6, dst6, proto, len as u32),
        None => checksum::pseudo_v4(src, dst, proto, len as u32),
    };
    let mut l4 = match &s.l4 {
        L4Spec::Tcp(words, opts) => {
            let mut t = vec![0x04, 0xd2, 0x00, 0x50, 1, 2, 3, 4, 5, 6, 7, 8];
            t.push(words << 4);
            t.extend_from_slice(&[0x18, 0xff, 0xff, 0, 0, 0, 0]);
            t.extend_from_slice(opts);
            t.extend_from_slice(&s.payload);
            let c = checksum::compute_with(pseudo(6, t.len()), &t);
            t[16..18].copy_from_slice(&c.to_be_bytes());
            if s.bad_l4_csum {
                t[17] ^= 0x5a;
            }
            t
        }
        L4Spec::Udp(port, delta, zero, encap) => {
            let payload = if *encap {
                tunnelled(*port)
            } else {
                s.payload.clone()
            };
            let len = 8 + payload.len();
            let mut u = vec![0x30, 0x39];
            u.extend_from_slice(&port.to_be_bytes());
            u.extend_from_slice(&((len as i32 + i32::from(*delta)).max(0) as u16).to_be_bytes());
            u.extend_from_slice(&[0, 0]);
            u.extend_from_slice(&payload);
            if !zero {
                let c = checksum::compute_with(pseudo(17, len), &u);
                u[6..8].copy_from_slice(&c.to_be_bytes());
                if s.bad_l4_csum {
                    u[7] ^= 0x5a;
                }
            }
            u
        }
        L4Spec::Raw(b) => b.clone(),
    };
    let ip = match s.v6 {
        Some(ext) => ipv6_header(s, ext, src6, dst6, l4.len()),
        None => ipv4_header(s, src, dst, l4.len()),
    };
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    for (tpid, tci) in &s.tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
    }
    let et = match (s.v6, s.ethertype) {
        (Some(_), 0x0800) => 0x86dd,
        (_, et) => et,
    };
    f.extend_from_slice(&et.to_be_bytes());
    f.extend_from_slice(&ip);
    f.append(&mut l4);
    f.extend(std::iter::repeat_n(0u8, usize::from(s.padding)));
    f
}

fn ipv6_header(s: &Spec, ext: bool, src: [u8; 16], dst: [u8; 16], l4_len: usize) -> Vec<u8> {
    let first = if s.ver_ihl == 0x45 { 0x6a } else { s.ver_ihl };
    let mut ip = vec![first, 0xb1, 0x23, 0x45];
    let ext_len = if ext { 8 } else { 0 };
    let plen = (ext_len + l4_len) as i32 + i32::from(s.tl_delta);
    ip.extend_from_slice(&(plen.max(0) as u16).to_be_bytes());
    ip.extend_from_slice(&[if ext { 0 } else { s.proto }, s.ttl]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    if ext {
        // Hop-by-hop options holding one PadN.
        ip.extend_from_slice(&[s.proto, 0, 1, 4, 0, 0, 0, 0]);
    }
    ip
}

fn ipv4_header(s: &Spec, src: [u8; 4], dst: [u8; 4], l4_len: usize) -> Vec<u8> {
    let ihl = usize::from(s.ver_ihl & 0x0f) * 4;
    let opts_len = ihl.saturating_sub(20);
    let tl = (20 + opts_len + l4_len) as i32 + i32::from(s.tl_delta);
    let mut ip = vec![s.ver_ihl, 0x10];
    ip.extend_from_slice(&(tl.max(0) as u16).to_be_bytes());
    ip.extend_from_slice(&[0xab, 0xcd]);
    ip.extend_from_slice(&s.flags_frag.to_be_bytes());
    ip.extend_from_slice(&[s.ttl, s.proto, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    // Options: NOPs then EOL (valid padding).
    ip.extend(std::iter::repeat_n(1u8, opts_len.saturating_sub(1)));
    if opts_len > 0 {
        ip.push(0);
    }
    let c = checksum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    if s.bad_ip_csum {
        ip[11] ^= 0x5a;
    }
    ip
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Sequences of generated frames, each also cut short and with a byte flipped, under a
    /// random configuration.
    #[test]
    fn fast_path_is_identical_on_generated_frames(
        specs in prop::collection::vec((spec(), any::<u16>(), any::<(u16, u8)>(), 0usize..5), 1..6),
        csum in any::<bool>(),
        vxlan in any::<bool>(),
        geneve in any::<bool>(),
        max_layers in 4u8..=6,
    ) {
        let mut pair = Pair::new(DecodeConfig {
            checksum_validation: csum,
            vxlan,
            geneve,
            max_layers,
            ..DecodeConfig::default()
        });
        for (n, (s, cut, (flip_at, flip), hw)) in specs.iter().enumerate() {
            let frame = build(s);
            let now = Timestamp(n as u64 * 1_000_000);
            let hw = VERDICTS[*hw];
            let r = pair.check(LinkType::Ethernet, &frame, now, hw);
            prop_assert!(r.is_ok(), "{:?} {:02x?}: {}", s, frame, r.unwrap_err());
            let short = &frame[..usize::from(*cut) % (frame.len() + 1)];
            let r = pair.check(LinkType::Ethernet, short, now, hw);
            prop_assert!(r.is_ok(), "cut {:02x?}: {}", short, r.unwrap_err());
            let mut flipped = frame.clone();
            let pos = usize::from(*flip_at) % flipped.len();
            flipped[pos] ^= flip.max(&1);
            let r = pair.check(LinkType::Ethernet, &flipped, now, hw);
            prop_assert!(r.is_ok(), "flipped {:02x?}: {}", flipped, r.unwrap_err());
        }
    }
}

/// The comparison can fail: a decoder with a different configuration is told apart.
#[test]
fn comparison_detects_a_difference() {
    let s = Spec {
        tags: vec![],
        ethertype: 0x0800,
        ver_ihl: 0x45,
        tl_delta: 0,
        flags_frag: 0x4000,
        proto: 6,
        ttl: 64,
        l4: L4Spec::Tcp(8, vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
        payload: b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        padding: 0,
        bad_ip_csum: false,
        bad_l4_csum: true,
        v6: None,
    };
    let frame = build(&s);
    let mut pair = Pair::new(DecodeConfig::default());
    pair.check(
        LinkType::Ethernet,
        &frame,
        Timestamp(0),
        HwChecksums::UNKNOWN,
    )
    .expect("identical");
    pair.slow = Decoder::new(DecodeConfig {
        checksum_validation: false,
        fast_path: false,
        ..DecodeConfig::default()
    })
    .expect("config");
    assert!(pair
        .check(
            LinkType::Ethernet,
            &frame,
            Timestamp(0),
            HwChecksums::UNKNOWN
        )
        .is_err());
}
