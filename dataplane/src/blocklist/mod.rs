//! The block list a worker reads: an immutable table of [`vocab::block::BlockEntry`]s built
//! off the hot path by the control plane and published to every worker through a
//! [`crate::snapshot::Slot`] ([`BlockSlot`]), swapped in between bursts.
//!
//! A lookup tests, in order: the packet's exact 5-tuple (either direction), the most specific
//! network holding its source address (entries on `src` or `either`), then the most specific
//! one holding its destination (`dst` or `either`). The first found is the hit reported; when
//! entries overlap, that is the most specific one on the first side that matches. IPv4 hosts
//! (/32) are one hash set, IPv4 networks a multibit trie ([`dir`]: one to three array reads
//! whatever the lengths in use), IPv6 one hash set per prefix length in use ([`prefix`]). A
//! lookup never allocates and costs nothing for an empty table (`cargo bench -p dataplane
//! --bench blocklist`); [`BlockTable::memory_bytes`] says what a table holds.
//!
//! Ports are those of TCP and UDP; a 5-tuple entry for another protocol matches its packets
//! with ports 0.

mod dir;
mod prefix;

use std::net::IpAddr;

use hashbrown::HashMap;
use vocab::block::{BlockEntry, BlockMatch, Side};

use dir::V4Nets;
use prefix::Prefixes;

/// One worker's mailbox for new block tables.
pub type BlockSlot = crate::snapshot::Slot<BlockTable>;

/// What a lookup needs of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    pub proto: u8,
    pub src: IpAddr,
    pub src_port: u16,
    pub dst: IpAddr,
    pub dst_port: u16,
}

/// A flow key that is the same for both directions: the lower endpoint first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TupleKey {
    proto: u8,
    v6: bool,
    lo: (u128, u16),
    hi: (u128, u16),
}

impl TupleKey {
    #[inline]
    fn new(proto: u8, a: IpAddr, a_port: u16, b: IpAddr, b_port: u16) -> TupleKey {
        let a_is_v6 = a.is_ipv6();
        let a = (bits(a), a_port);
        let b = (bits(b), b_port);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        TupleKey {
            proto,
            v6: a_is_v6,
            lo,
            hi,
        }
    }
}

impl std::hash::Hash for TupleKey {
    /// One word instead of 40 bytes: hashing is most of a probe's cost, and equal words of
    /// different keys only share a bucket (equality still compares the whole key).
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let fold = |a: u128| (a as u64) ^ ((a >> 64) as u64).rotate_left(17);
        let ports =
            (u64::from(self.lo.1) << 16 | u64::from(self.hi.1)) << 8 | u64::from(self.proto);
        state.write_u64(fold(self.lo.0) ^ fold(self.hi.0).rotate_left(29) ^ ports.rotate_left(40));
    }
}

/// An address as a number (IPv4 in the low 32 bits; the family is kept beside it).
#[inline]
fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The immutable table a worker matches packets against.
#[derive(Default)]
pub struct BlockTable {
    entries: Vec<BlockEntry>,
    v4: V4,
    v6: Prefixes<u128>,
    tuples: HashMap<TupleKey, u32>,
}

impl std::fmt::Debug for BlockTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockTable({} entries)", self.entries.len())
    }
}

const SRC_SIDES: [usize; 2] = [Side::Src as usize, Side::Either as usize];
const DST_SIDES: [usize; 2] = [Side::Dst as usize, Side::Either as usize];

/// IPv4: hosts by hash, shorter networks in the trie, each looked up in the view of the
/// packet's side (0: source, 1: destination).
#[derive(Default)]
struct V4 {
    hosts: Prefixes<u32>,
    nets: V4Nets,
    /// Network prefix lengths in use (bit `len`), for [`BlockTable::prefix_lengths`].
    net_lengths: u32,
}

impl V4 {
    /// Builds the trie from `nets` (network, length, side, entry index) in table order: for
    /// each length, shortest first, `either` entries before one-sided ones, so the more
    /// specific and, at equal length, the one-sided and then the later entry win.
    fn build_nets(&mut self, mut nets: Vec<(u32, u8, Side, u32)>) {
        nets.sort_by_key(|&(_, len, side, _)| (len, side != Side::Either));
        for (net, len, side, index) in nets {
            let views: &[usize] = match side {
                Side::Src => &[0],
                Side::Dst => &[1],
                Side::Either => &[0, 1],
            };
            self.nets.insert(net, len, views, index);
            self.net_lengths |= 1 << len;
        }
    }

    #[inline]
    fn lookup(&self, addr: u32, sides: [usize; 2], view: usize) -> Option<u32> {
        if let Some(i) = self.hosts.lookup(addr, sides) {
            return Some(i);
        }
        self.nets.lookup(addr, view).checked_sub(1)
    }
}

impl BlockTable {
    /// A table of `entries`. Two entries with the same match keep the later one's id.
    pub fn new(entries: impl IntoIterator<Item = BlockEntry>) -> BlockTable {
        let mut t = BlockTable::default();
        let mut v4_nets = Vec::new();
        for e in entries {
            let index = t.entries.len() as u32;
            match e.matcher {
                BlockMatch::Net { net, side } => match net.addr() {
                    IpAddr::V4(a) if net.len() == 32 => {
                        t.v4.hosts.insert(u32::from(a), 32, side as usize, index)
                    }
                    IpAddr::V4(a) => v4_nets.push((u32::from(a), net.len(), side, index)),
                    IpAddr::V6(a) => t.v6.insert(u128::from(a), net.len(), side as usize, index),
                },
                BlockMatch::Tuple(f) => {
                    let key = TupleKey::new(f.proto, f.src, f.src_port, f.dst, f.dst_port);
                    t.tuples.insert(key, index);
                }
            }
            t.entries.push(e);
        }
        t.v4.build_nets(v4_nets);
        t
    }

    /// Entries in the table.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table blocks nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Prefix lengths in use (IPv4, IPv6). An IPv6 lookup costs a probe per length; an IPv4
    /// one a host probe and at most three reads.
    pub fn prefix_lengths(&self) -> (usize, usize) {
        let v4 = self.v4.hosts.lengths() + self.v4.net_lengths.count_ones() as usize;
        (v4, self.v6.lengths())
    }

    /// Bytes the table's lookup structures hold (the entries' own text aside).
    pub fn memory_bytes(&self) -> usize {
        self.v4.nets.memory_bytes()
            + self.v4.hosts.memory_bytes()
            + self.v6.memory_bytes()
            + self.tuples.capacity() * (size_of::<TupleKey>() + size_of::<u32>() + 1)
            + self.entries.capacity() * size_of::<BlockEntry>()
    }

    /// The entry that blocks `p`, if any (see the module doc for which one when several do).
    #[inline]
    pub fn lookup(&self, p: &Probe) -> Option<&BlockEntry> {
        if self.entries.is_empty() {
            return None;
        }
        let index = self.lookup_index(p)?;
        self.entries.get(index as usize)
    }

    #[inline]
    fn lookup_index(&self, p: &Probe) -> Option<u32> {
        if !self.tuples.is_empty() {
            let key = TupleKey::new(p.proto, p.src, p.src_port, p.dst, p.dst_port);
            if let Some(&i) = self.tuples.get(&key) {
                return Some(i);
            }
        }
        self.address(p.src, SRC_SIDES, 0)
            .or_else(|| self.address(p.dst, DST_SIDES, 1))
    }

    #[inline]
    fn address(&self, ip: IpAddr, sides: [usize; 2], view: usize) -> Option<u32> {
        match ip {
            IpAddr::V4(a) => self.v4.lookup(u32::from(a), sides, view),
            IpAddr::V6(a) => self.v6.lookup(u128::from(a), sides),
        }
    }
}

#[cfg(test)]
mod tests;
