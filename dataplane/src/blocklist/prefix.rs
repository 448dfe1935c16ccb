//! Longest-prefix match over one address family: one hash set per prefix length in use,
//! longest first (IPv6 networks, IPv4 hosts). A lookup costs one hash probe per length in use (block lists hold few
//! lengths: /32 hosts, a handful of network sizes), and nothing when the family is empty.

use hashbrown::HashMap;

/// Entry index + 1 per [`vocab::block::Side`] (0: none on that side).
pub(super) type BySide = [u32; 3];

/// An address family's key: `u32` for IPv4, `u128` for IPv6.
pub(super) trait Key: Copy + Eq + std::hash::Hash {
    const BITS: u8;
    fn mask(self, len: u8) -> Self;
}

impl Key for u32 {
    const BITS: u8 = 32;
    #[inline]
    fn mask(self, len: u8) -> u32 {
        self & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
    }
}

impl Key for u128 {
    const BITS: u8 = 128;
    #[inline]
    fn mask(self, len: u8) -> u128 {
        self & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
    }
}

/// The networks of one prefix length.
struct Level<K> {
    len: u8,
    /// hashbrown's default hasher (foldhash, seeded per process): the table's keys come from
    /// the control plane, lookups only probe.
    nets: HashMap<K, BySide>,
}

/// Networks of one family by prefix length, longest first.
pub(super) struct Prefixes<K> {
    levels: Vec<Level<K>>,
}

impl<K: Key> Default for Prefixes<K> {
    fn default() -> Self {
        Prefixes { levels: Vec::new() }
    }
}

impl<K: Key> Prefixes<K> {
    /// Adds entry `index` for network `net/len` on side `side` (an index into [`BySide`]). A
    /// second entry for the same network and side replaces the first (the table keeps one).
    pub(super) fn insert(&mut self, net: K, len: u8, side: usize, index: u32) {
        let at = match self.levels.iter().position(|l| l.len <= len) {
            Some(i) if self.levels[i].len == len => i,
            Some(i) => {
                self.levels.insert(i, Level::new(len));
                i
            }
            None => {
                self.levels.push(Level::new(len));
                self.levels.len() - 1
            }
        };
        self.levels[at].nets.entry(net.mask(len)).or_default()[side] = index + 1;
    }

    /// The most specific entry for `addr` on one of `sides` (indices into [`BySide`], the
    /// first one wins at equal length).
    #[inline]
    pub(super) fn lookup(&self, addr: K, sides: [usize; 2]) -> Option<u32> {
        for level in &self.levels {
            if let Some(by_side) = level.nets.get(&addr.mask(level.len)) {
                for s in sides {
                    if by_side[s] != 0 {
                        return Some(by_side[s] - 1);
                    }
                }
            }
        }
        None
    }

    /// Prefix lengths in use.
    pub(super) fn lengths(&self) -> usize {
        self.levels.len()
    }

    /// Bytes the hash sets hold (buckets and their control bytes).
    pub(super) fn memory_bytes(&self) -> usize {
        self.levels
            .iter()
            .map(|l| l.nets.capacity() * (size_of::<K>() + size_of::<BySide>() + 1))
            .sum()
    }
}

impl<K: Key> Level<K> {
    fn new(len: u8) -> Self {
        debug_assert!(len <= K::BITS);
        Level {
            len,
            nets: HashMap::default(),
        }
    }
}
