use std::net::IpAddr;

use vocab::block::{BlockEntry, BlockMatch, Origin, Side};

use super::{BlockTable, Probe};

fn entry(id: u64, text: &str, side: Side) -> BlockEntry {
    BlockEntry {
        id,
        matcher: BlockMatch::parse(text, side).unwrap(),
        origin: Origin::Api,
        reason: format!("entry {id}"),
    }
}

fn probe(proto: u8, src: &str, sp: u16, dst: &str, dp: u16) -> Probe {
    Probe {
        proto,
        src: src.parse::<IpAddr>().unwrap(),
        src_port: sp,
        dst: dst.parse::<IpAddr>().unwrap(),
        dst_port: dp,
    }
}

fn hit(t: &BlockTable, p: &Probe) -> Option<u64> {
    t.lookup(p).map(|e| e.id)
}

#[test]
fn empty_table_blocks_nothing() {
    let t = BlockTable::new([]);
    assert!(t.is_empty());
    assert_eq!(hit(&t, &probe(6, "192.0.2.1", 1, "198.51.100.1", 80)), None);
}

#[test]
fn ipv4_hosts_and_networks_by_side() {
    let t = BlockTable::new([
        entry(1, "192.0.2.7", Side::Src),
        entry(2, "198.51.100.0/24", Side::Dst),
        entry(3, "203.0.113.0/25", Side::Either),
    ]);
    // A source-side entry matches the packet's source only.
    assert_eq!(
        hit(&t, &probe(6, "192.0.2.7", 1, "192.0.2.99", 80)),
        Some(1)
    );
    assert_eq!(hit(&t, &probe(6, "192.0.2.99", 80, "192.0.2.7", 1)), None);
    // A destination-side network.
    assert_eq!(
        hit(&t, &probe(17, "192.0.2.99", 5, "198.51.100.200", 53)),
        Some(2)
    );
    assert_eq!(
        hit(&t, &probe(17, "198.51.100.200", 53, "192.0.2.99", 5)),
        None
    );
    // Either side, both directions; the network's edge.
    assert_eq!(
        hit(&t, &probe(6, "203.0.113.127", 1, "192.0.2.99", 2)),
        Some(3)
    );
    assert_eq!(
        hit(&t, &probe(6, "192.0.2.99", 2, "203.0.113.0", 1)),
        Some(3)
    );
    assert_eq!(
        hit(&t, &probe(6, "203.0.113.128", 1, "192.0.2.99", 2)),
        None
    );
}

#[test]
fn ipv6_hosts_and_networks() {
    let t = BlockTable::new([
        entry(1, "2001:db8::/32", Side::Either),
        entry(2, "2001:db8:0:1::5", Side::Dst),
    ]);
    assert_eq!(
        hit(&t, &probe(6, "2001:db8:ffff::1", 1, "2001:db9::1", 2)),
        Some(1)
    );
    assert_eq!(
        hit(&t, &probe(6, "2001:db9::1", 2, "2001:db8:0:1::5", 1)),
        Some(2)
    );
    assert_eq!(hit(&t, &probe(6, "2001:db9::1", 2, "2001:dba::5", 1)), None);
    // An IPv4 address with the same bits is another family.
    assert_eq!(hit(&t, &probe(6, "32.1.13.184", 1, "192.0.2.1", 2)), None);
}

#[test]
fn five_tuples_match_both_directions_and_nothing_else() {
    let t = BlockTable::new([
        entry(1, "tcp 192.0.2.1:40000 -> 198.51.100.2:80", Side::Either),
        entry(
            2,
            "udp [2001:db8::1]:53 -> [2001:db8::2]:5353",
            Side::Either,
        ),
    ]);
    assert_eq!(
        hit(&t, &probe(6, "192.0.2.1", 40000, "198.51.100.2", 80)),
        Some(1)
    );
    assert_eq!(
        hit(&t, &probe(6, "198.51.100.2", 80, "192.0.2.1", 40000)),
        Some(1)
    );
    assert_eq!(
        hit(&t, &probe(17, "192.0.2.1", 40000, "198.51.100.2", 80)),
        None
    );
    assert_eq!(
        hit(&t, &probe(6, "192.0.2.1", 40001, "198.51.100.2", 80)),
        None
    );
    assert_eq!(
        hit(&t, &probe(17, "2001:db8::2", 5353, "2001:db8::1", 53)),
        Some(2)
    );
}

#[test]
fn overlapping_entries_report_the_most_specific() {
    let t = BlockTable::new([
        entry(1, "198.51.100.0/24", Side::Either),
        entry(2, "198.51.100.0/28", Side::Either),
        entry(3, "198.51.100.9", Side::Src),
        entry(4, "tcp 198.51.100.9:1 -> 192.0.2.1:2", Side::Either),
    ]);
    assert_eq!(t.prefix_lengths(), (3, 0));
    assert_eq!(
        hit(&t, &probe(6, "198.51.100.9", 1, "192.0.2.1", 2)),
        Some(4)
    );
    assert_eq!(
        hit(&t, &probe(6, "198.51.100.9", 7, "192.0.2.1", 2)),
        Some(3)
    );
    // The /32 is for the source only: as a destination the /28 is the most specific.
    assert_eq!(
        hit(&t, &probe(6, "192.0.2.1", 2, "198.51.100.9", 7)),
        Some(2)
    );
    assert_eq!(
        hit(&t, &probe(6, "192.0.2.1", 2, "198.51.100.200", 7)),
        Some(1)
    );
}

#[test]
fn a_zero_length_prefix_blocks_the_whole_family() {
    let t = BlockTable::new([entry(1, "0.0.0.0/0", Side::Src)]);
    assert_eq!(hit(&t, &probe(6, "192.0.2.1", 1, "192.0.2.2", 2)), Some(1));
    assert_eq!(hit(&t, &probe(6, "2001:db8::1", 1, "2001:db8::2", 2)), None);
}

/// The lookup as the module doc states it, by brute force over the entries: the exact
/// 5-tuple (either direction), else the most specific network holding the source on `src` or
/// `either` (at equal length `src` first), else the same for the destination; among equal
/// matches the later entry.
fn reference(entries: &[BlockEntry], p: &Probe) -> Option<u64> {
    let tuple = entries.iter().rev().find(|e| match &e.matcher {
        BlockMatch::Tuple(f) => {
            f.proto == p.proto
                && ((f.src, f.src_port, f.dst, f.dst_port)
                    == (p.src, p.src_port, p.dst, p.dst_port)
                    || (f.src, f.src_port, f.dst, f.dst_port)
                        == (p.dst, p.dst_port, p.src, p.src_port))
        }
        _ => false,
    });
    if let Some(e) = tuple {
        return Some(e.id);
    }
    let best = |addr: IpAddr, own: Side| {
        entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match &e.matcher {
                BlockMatch::Net { net, side }
                    if (*side == own || *side == Side::Either) && net.contains(addr) =>
                {
                    Some(((net.len(), *side == own, i), e.id))
                }
                _ => None,
            })
            .max_by_key(|(k, _)| *k)
            .map(|(_, id)| id)
    };
    best(p.src, Side::Src).or_else(|| best(p.dst, Side::Dst))
}

/// Random tables of overlapping IPv4 networks of every length, hosts, IPv6 networks and
/// 5-tuples on every side, probed with addresses inside and around them: the table agrees
/// with [`reference`] on every probe.
#[test]
fn lookups_agree_with_a_brute_force_reference() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use vocab::block::{Cidr, FiveTuple};
    let mut rng = StdRng::seed_from_u64(16);
    // Addresses cluster in a few /16s so networks nest and overlap.
    let v4 = |rng: &mut StdRng| -> u32 {
        let base = [0xc000_0200u32, 0xc633_6400, 0xcb00_7100, 0x0a00_0000][rng.random_range(0..4)];
        base ^ (rng.random::<u32>() & [0xff, 0xffff, 0xff_ffff][rng.random_range(0..3)])
    };
    for round in 0..40 {
        let n = rng.random_range(1..120);
        let entries: Vec<BlockEntry> = (0..n)
            .map(|i| {
                let side = Side::ALL[rng.random_range(0..3)];
                let matcher = match rng.random_range(0..10) {
                    0 => BlockMatch::Tuple(FiveTuple {
                        proto: 6,
                        src: IpAddr::from(v4(&mut rng).to_be_bytes()),
                        src_port: rng.random_range(1..4),
                        dst: IpAddr::from(v4(&mut rng).to_be_bytes()),
                        dst_port: 80,
                    }),
                    1 => {
                        let len = rng.random_range(0..=128u8);
                        let a = (0x2001_0db8u128 << 96 | u128::from(rng.random::<u8>()))
                            & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                        BlockMatch::Net {
                            net: Cidr::new(IpAddr::from(a.to_be_bytes()), len).unwrap(),
                            side,
                        }
                    }
                    _ => {
                        let len = rng.random_range(0..=32u8);
                        let a =
                            v4(&mut rng) & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                        BlockMatch::Net {
                            net: Cidr::new(IpAddr::from(a.to_be_bytes()), len).unwrap(),
                            side,
                        }
                    }
                };
                BlockEntry {
                    id: i,
                    matcher,
                    origin: Origin::Api,
                    reason: String::new(),
                }
            })
            .collect();
        let t = BlockTable::new(entries.clone());
        for _ in 0..2000 {
            let mut addr = || match rng.random_range(0..8) {
                0 => IpAddr::from(
                    (0x2001_0db8u128 << 96 | u128::from(rng.random::<u8>())).to_be_bytes(),
                ),
                1 => IpAddr::from(rng.random::<u32>().to_be_bytes()),
                _ => IpAddr::from(v4(&mut rng).to_be_bytes()),
            };
            let (src, dst) = (addr(), addr());
            let p = Probe {
                proto: 6,
                src,
                src_port: rng.random_range(1..4),
                dst,
                dst_port: 80,
            };
            assert_eq!(hit(&t, &p), reference(&entries, &p), "round {round}: {p:?}");
        }
        // Tuples probed exactly, both ways.
        for e in &entries {
            if let BlockMatch::Tuple(f) = &e.matcher {
                let p = probe_of(f);
                assert_eq!(hit(&t, &p), reference(&entries, &p));
            }
        }
    }
}

fn probe_of(f: &vocab::block::FiveTuple) -> Probe {
    Probe {
        proto: f.proto,
        src: f.dst,
        src_port: f.dst_port,
        dst: f.src,
        dst_port: f.src_port,
    }
}

#[test]
fn memory_is_reported_and_grows_with_networks_not_hosts() {
    let hosts = BlockTable::new((0..1000u32).map(|i| {
        entry(
            u64::from(i),
            &std::net::Ipv4Addr::from(0xc000_0000 + i * 977).to_string(),
            Side::Either,
        )
    }));
    assert_eq!(hosts.v4.nets.memory_bytes(), 0, "hosts need no trie");
    let nets = BlockTable::new([
        entry(1, "198.51.100.0/24", Side::Src),
        entry(2, "203.0.113.128/25", Side::Src),
    ]);
    // The /16 slots, one chunk for each /16 holding a longer network, one for the /25's /24.
    assert_eq!(nets.v4.nets.memory_bytes(), (65_536 + 3 * 256) * 8);
    assert!(nets.memory_bytes() >= nets.v4.nets.memory_bytes());
}
