//! The block list a worker reads: an immutable table of [`vocab::block::BlockEntry`]s built
//! off the hot path by the control plane and published to every worker through a
//! [`crate::snapshot::Slot`] ([`BlockSlot`]), swapped in between bursts.
//!
//! A lookup tests, in order: the packet's exact 5-tuple (either direction), the most specific
//! network holding its source address (entries on `src` or `either`), then the most specific
//! one holding its destination (`dst` or `either`). The first found is the hit reported; when
//! entries overlap, that is the most specific one on the first side that matches. Networks
//! are kept per address family as one hash set per prefix length in use ([`prefix`]), so a
//! lookup costs one probe per length in use per address, nothing for an empty table, and
//! never allocates (`cargo bench -p dataplane --bench blocklist`).
//!
//! Ports are those of TCP and UDP; a 5-tuple entry for another protocol matches its packets
//! with ports 0.

mod prefix;

use std::net::IpAddr;

use hashbrown::HashMap;
use vocab::block::{BlockEntry, BlockMatch, Side};

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
    v4: Prefixes<u32>,
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

impl BlockTable {
    /// A table of `entries`. Two entries with the same match keep the later one's id.
    pub fn new(entries: impl IntoIterator<Item = BlockEntry>) -> BlockTable {
        let mut t = BlockTable::default();
        for e in entries {
            let index = t.entries.len() as u32;
            match e.matcher {
                BlockMatch::Net { net, side } => match net.addr() {
                    IpAddr::V4(a) => t.v4.insert(u32::from(a), net.len(), side as usize, index),
                    IpAddr::V6(a) => t.v6.insert(u128::from(a), net.len(), side as usize, index),
                },
                BlockMatch::Tuple(f) => {
                    let key = TupleKey::new(f.proto, f.src, f.src_port, f.dst, f.dst_port);
                    t.tuples.insert(key, index);
                }
            }
            t.entries.push(e);
        }
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

    /// Prefix lengths in use (IPv4, IPv6): what a lookup's cost grows with.
    pub fn prefix_lengths(&self) -> (usize, usize) {
        (self.v4.lengths(), self.v6.lengths())
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
        self.address(p.src, SRC_SIDES)
            .or_else(|| self.address(p.dst, DST_SIDES))
    }

    #[inline]
    fn address(&self, ip: IpAddr, sides: [usize; 2]) -> Option<u32> {
        match ip {
            IpAddr::V4(a) => self.v4.lookup(u32::from(a), sides),
            IpAddr::V6(a) => self.v6.lookup(u128::from(a), sides),
        }
    }
}

#[cfg(test)]
mod tests;
