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
