//! IPv4 networks shorter than /32 as a multibit trie of strides 16, 8 and 8 (DIR-24-8's
//! layout, with its first level cut to /16): a lookup is one to three array reads, whatever
//! the number of entries or prefix lengths in use.
//!
//! The first level has one slot per /16 (512 KiB). A network of /16 or shorter fills the
//! slots it covers; a longer one gives its /16 a chunk of 256 slots (one per /24), and one
//! of /25 to /31 its /24 another. A slot holds, for each view of a packet's addresses (source,
//! destination), the index + 1 of the most specific entry covering it, or points to the chunk
//! below it ([`CHILD`] set). Networks are inserted shortest first, so each insertion may
//! overwrite everything in its range: what was there is as specific or less. Memory grows with
//! the /16s and /24s holding longer networks (2 KiB each), not with the entries (hosts are not
//! kept here: see [`super::V4`]).

/// A slot: per view, entry index + 1 (0: none); or, with [`CHILD`] in the first word, the
/// index of a chunk in the second.
type Slot = [u32; 2];

/// Marks a slot that points to a chunk.
const CHILD: u32 = 1 << 31;

/// Slots of a chunk (one per address byte).
const CHUNK: usize = 256;

/// The trie. Empty (no slot at all) until a network is inserted.
#[derive(Default)]
pub(super) struct V4Nets {
    root: Vec<Slot>,
    chunks: Vec<[Slot; CHUNK]>,
}

impl V4Nets {
    /// Sets, for the views in `views` (0 source, 1 destination), entry `index` on network
    /// `net/len` (`len` ≤ 31). Callers insert shortest first (see the module doc).
    pub(super) fn insert(&mut self, net: u32, len: u8, views: &[usize], index: u32) {
        debug_assert!(len < 32 && index < CHILD - 1);
        if self.root.is_empty() {
            self.root = vec![[0; 2]; 1 << 16];
        }
        let value = index + 1;
        let hi = (net >> 16) as usize;
        if len <= 16 {
            let n = 1usize << (16 - len);
            for s in hi..hi + n {
                self.set_slot(Level::Root, s, views, value);
            }
            return;
        }
        let c2 = self.child(Level::Root, hi);
        let mid = ((net >> 8) & 0xff) as usize;
        if len <= 24 {
            let n = 1usize << (24 - len);
            for s in mid..mid + n {
                self.set_slot(Level::Chunk(c2), s, views, value);
            }
            return;
        }
        let c3 = self.child(Level::Chunk(c2), mid);
        let lo = (net & 0xff) as usize;
        let n = 1usize << (32 - len);
        for s in lo..lo + n {
            self.set_slot(Level::Chunk(c3), s, views, value);
        }
    }

    /// The entry index + 1 (0: none) of the most specific network holding `addr` in view
    /// `view`.
    #[inline]
    pub(super) fn lookup(&self, addr: u32, view: usize) -> u32 {
        let Some(&slot) = self.root.get((addr >> 16) as usize) else {
            return 0;
        };
        let mut slot = slot;
        let mut shift = 8;
        while slot[0] & CHILD != 0 {
            let chunk = &self.chunks[slot[1] as usize];
            slot = chunk[((addr >> shift) & 0xff) as usize];
            shift = 0;
        }
        slot[view]
    }

    /// Bytes the trie holds.
    pub(super) fn memory_bytes(&self) -> usize {
        self.root.len() * size_of::<Slot>() + self.chunks.len() * size_of::<[Slot; CHUNK]>()
    }

    fn slot_mut(&mut self, level: Level, i: usize) -> &mut Slot {
        match level {
            Level::Root => &mut self.root[i],
            Level::Chunk(c) => &mut self.chunks[c][i],
        }
    }

    /// The chunk below slot `i` of `level`, made (filled with the slot's entries) if missing.
    fn child(&mut self, level: Level, i: usize) -> usize {
        let slot = *self.slot_mut(level, i);
        if slot[0] & CHILD != 0 {
            return slot[1] as usize;
        }
        let c = self.chunks.len();
        self.chunks.push([slot; CHUNK]);
        *self.slot_mut(level, i) = [CHILD, c as u32];
        c
    }

    /// Sets `value` in `views` of slot `i` of `level` and everything below it.
    fn set_slot(&mut self, level: Level, i: usize, views: &[usize], value: u32) {
        let slot = self.slot_mut(level, i);
        if slot[0] & CHILD == 0 {
            for &v in views {
                slot[v] = value;
            }
            return;
        }
        let c = slot[1] as usize;
        for j in 0..CHUNK {
            self.set_slot(Level::Chunk(c), j, views, value);
        }
    }
}

/// Where a slot is.
#[derive(Clone, Copy)]
enum Level {
    Root,
    Chunk(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<std::net::Ipv4Addr>().unwrap())
    }

    #[test]
    fn longest_prefix_wins_at_every_level() {
        let mut t = V4Nets::default();
        assert_eq!(t.lookup(ip("10.0.0.1"), 0), 0, "empty");
        t.insert(ip("10.0.0.0"), 8, &[0, 1], 0);
        t.insert(ip("10.1.0.0"), 16, &[0], 1);
        t.insert(ip("10.1.2.0"), 24, &[0, 1], 2);
        t.insert(ip("10.1.2.128"), 25, &[1], 3);
        t.insert(ip("10.1.2.130"), 31, &[0, 1], 4);
        let at = |a: &str| (t.lookup(ip(a), 0), t.lookup(ip(a), 1));
        assert_eq!(at("10.200.0.1"), (1, 1));
        assert_eq!(
            at("10.1.200.1"),
            (2, 1),
            "the /16 is on the source view only"
        );
        assert_eq!(at("10.1.2.1"), (3, 3));
        assert_eq!(at("10.1.2.129"), (3, 4));
        assert_eq!(at("10.1.2.131"), (5, 5));
        assert_eq!(
            at("10.1.3.0"),
            (2, 1),
            "a chunk keeps what covered its slot"
        );
        assert_eq!(at("11.0.0.0"), (0, 0));
        assert_eq!(t.chunks.len(), 2);
        assert_eq!(t.memory_bytes(), (65_536 + 2 * 256) * 8);
    }

    #[test]
    fn a_shorter_network_inserted_later_would_overwrite_so_order_matters() {
        // The table's builder sorts by length; this documents why.
        let mut t = V4Nets::default();
        t.insert(ip("192.0.2.0"), 24, &[0], 7);
        t.insert(ip("192.0.0.0"), 16, &[0], 8);
        assert_eq!(t.lookup(ip("192.0.2.1"), 0), 9);
    }
}
