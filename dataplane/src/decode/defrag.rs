//! IPv4 and IPv6 fragment reassembly with bounded, preallocated memory.
//!
//! Layout, all allocated once in [`Defragmenter::new`]:
//! - a fixed array of trackers, one per datagram being reassembled, found through a
//!   `hashbrown` map with a randomly keyed hasher (fragment ids and addresses are
//!   attacker-chosen), preallocated so inserting never allocates;
//! - a pool of fragment records (`max_frags`, Suricata's `defrag.max-frags`), linked per
//!   tracker;
//! - a pool of fixed-size data blocks (the memcap) from which each fragment's bytes take a
//!   chain of blocks;
//! - per tracker, a bitmap of the 8-byte units received, so overlap detection and the
//!   "is it complete" test cost O(fragment length / 512) instead of a walk over every earlier
//!   fragment (a datagram may legitimately arrive in thousands of tiny fragments);
//! - a creation-ordered list of trackers: since every tracker lives at most `timeout` after
//!   its first fragment, the head is always the next to expire, so expiry is O(1) per call.
//!
//! Policy (Suricata's default, "BSD"): where fragments overlap, the fragment with the lower
//! offset wins; between fragments at the same offset, the first to arrive wins. Every overlap
//! raises `ipv4.frag_overlap` / `ipv6.frag_overlap` on the fragment that caused it. The
//! datagram is rebuilt when the last fragment (MF clear) has been seen and every unit from 0
//! to its end has arrived. Limits raise events instead of failing silently: a datagram that
//! would exceed 65,535 bytes (`frag_pkt_too_large`), a fragment that finds no free tracker,
//! record or block (`frag_ignored`, plus the matching `defrag.*` counter).

use super::counters::DefragCounters;
use super::events::DecodeEvent;
use crate::time::Timestamp;
use crate::wire::checksum;
use hashbrown::{DefaultHashBuilder, HashMap};

/// Bytes per pool block.
pub const BLOCK_SIZE: usize = 256;
/// Longest unfragmentable header kept from the first fragment (IPv4 header, or IPv6 header plus
/// extension headers before the fragment header).
pub const MAX_HEADER: usize = 256;
/// Largest datagram (IPv4 total length / IPv6 header + payload length).
pub const MAX_DATAGRAM: usize = 65_535 + 40;
/// 8-byte units in the largest fragmentable part.
const UNITS: usize = 65_536 / 8;
const WORDS: usize = UNITS / 64;

const NIL: u32 = u32::MAX;

/// Reassembly limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefragConfig {
    /// Reassemble at all; when off, fragments are counted and decoded as they are.
    pub enabled: bool,
    /// Bytes of fragment data buffered at most (rounded down to whole blocks).
    pub memcap: usize,
    /// Datagrams in reassembly at once.
    pub max_trackers: usize,
    /// Fragments buffered at once, all datagrams together (Suricata: 65,535).
    pub max_frags: usize,
    /// Seconds a datagram may take to complete, from its first fragment (Suricata: 60).
    pub timeout_secs: u64,
}

impl Default for DefragConfig {
    fn default() -> Self {
        DefragConfig {
            enabled: true,
            memcap: 16 << 20,
            max_trackers: 2048,
            max_frags: 65_535,
            timeout_secs: 60,
        }
    }
}

/// Identifies a datagram: addresses, identification, protocol (IPv4 only, RFC 791) and the
/// innermost VLAN id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragKey {
    /// True for IPv6.
    pub v6: bool,
    /// Source address (IPv4 in the first 4 bytes).
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
    /// Identification.
    pub id: u32,
    /// IPv4 protocol (0 for IPv6).
    pub proto: u8,
    /// VLAN id.
    pub vlan: u16,
}

/// One fragment offered for reassembly.
#[derive(Debug, Clone, Copy)]
pub struct Fragment<'a> {
    /// The datagram it belongs to.
    pub key: FragKey,
    /// Unfragmentable header bytes (kept from the first fragment only).
    pub header: &'a [u8],
    /// IPv6: offset inside `header` of the next-header byte that names the fragment header.
    pub nh_pos: usize,
    /// IPv6: next header carried by the fragment header.
    pub next_header: u8,
    /// Offset of `data` in the datagram's fragmentable part, in bytes.
    pub offset: usize,
    /// More fragments follow.
    pub more: bool,
    /// The fragment's data.
    pub data: &'a [u8],
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    offset: u32,
    len: u32,
    first_block: u32,
    arrival: u32,
    next: u32,
}

#[derive(Debug, Clone)]
struct Tracker {
    key: FragKey,
    expires: Timestamp,
    /// Head of this datagram's fragment records (newest first).
    slots: u32,
    nslots: u32,
    /// 8-byte units received.
    units: [u64; WORDS],
    units_set: u32,
    header: [u8; MAX_HEADER],
    header_len: usize,
    nh_pos: usize,
    next_header: u8,
    have_first: bool,
    /// End of the datagram's fragmentable part, known once the last fragment arrived.
    total: Option<u32>,
    prev: u32,
    next: u32,
}

impl Tracker {
    fn empty() -> Self {
        Tracker {
            key: FragKey {
                v6: false,
                src: [0; 16],
                dst: [0; 16],
                id: 0,
                proto: 0,
                vlan: 0,
            },
            expires: Timestamp(0),
            slots: NIL,
            nslots: 0,
            units: [0; WORDS],
            units_set: 0,
            header: [0; MAX_HEADER],
            header_len: 0,
            nh_pos: 0,
            next_header: 0,
            have_first: false,
            total: None,
            prev: NIL,
            next: NIL,
        }
    }

    /// True when every unit of `0..total` bytes has arrived (units past the end may be set too).
    fn covers(&self, total: u32) -> bool {
        let units = (total as usize).div_ceil(8);
        if (self.units_set as usize) < units {
            return false;
        }
        let full = units / 64;
        let rest = units % 64;
        self.units[..full].iter().all(|&w| w == u64::MAX)
            && (rest == 0 || {
                let mask = (1u64 << rest) - 1;
                self.units[full] & mask == mask
            })
    }

    /// Marks units `[a, b)`; returns whether any was already set (an overlap).
    fn mark(&mut self, a: usize, b: usize) -> bool {
        let mut overlap = false;
        let mut u = a;
        while u < b {
            let (w, bit) = (u / 64, u % 64);
            let n = (64 - bit).min(b - u);
            let mask = if n == 64 {
                u64::MAX
            } else {
                ((1u64 << n) - 1) << bit
            };
            overlap |= self.units[w] & mask != 0;
            self.units_set += (mask & !self.units[w]).count_ones();
            self.units[w] |= mask;
            u += n;
        }
        overlap
    }
}

/// The per-worker reassembler. All memory is allocated in [`Defragmenter::new`].
pub struct Defragmenter {
    cfg: DefragConfig,
    trackers: Vec<Tracker>,
    free_trackers: Vec<u32>,
    index: HashMap<FragKey, u32, DefaultHashBuilder>,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    blocks: Vec<u8>,
    block_next: Vec<u32>,
    free_blocks: Vec<u32>,
    lru_head: u32,
    lru_tail: u32,
    /// Scratch for sorting one datagram's fragments at rebuild time.
    order: Vec<u32>,
    out: Vec<u8>,
}

impl core::fmt::Debug for Defragmenter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Defragmenter")
            .field("cfg", &self.cfg)
            .field("active", &self.active())
            .field("memuse", &self.memuse())
            .finish()
    }
}

impl Defragmenter {
    /// Preallocates trackers, the index, fragment records and the block pool.
    pub fn new(cfg: DefragConfig) -> Self {
        let on = cfg.enabled;
        let ntrack = if on { cfg.max_trackers } else { 0 };
        let nslots = if on { cfg.max_frags } else { 0 };
        let nblocks = if on { cfg.memcap / BLOCK_SIZE } else { 0 };
        let empty = Slot {
            offset: 0,
            len: 0,
            first_block: NIL,
            arrival: 0,
            next: NIL,
        };
        Defragmenter {
            cfg,
            trackers: vec![Tracker::empty(); ntrack],
            free_trackers: (0..ntrack as u32).rev().collect(),
            // Twice the trackers: with at most half the capacity live, hashbrown clears
            // tombstones by rehashing in place and never grows (no allocation per packet).
            index: HashMap::with_capacity_and_hasher(2 * ntrack, DefaultHashBuilder::default()),
            slots: vec![empty; nslots],
            free_slots: (0..nslots as u32).rev().collect(),
            blocks: vec![0; nblocks * BLOCK_SIZE],
            block_next: vec![NIL; nblocks],
            free_blocks: (0..nblocks as u32).rev().collect(),
            lru_head: NIL,
            lru_tail: NIL,
            order: Vec::with_capacity(nslots),
            out: vec![0; if on { MAX_DATAGRAM } else { 0 }],
        }
    }

    /// Datagrams currently in reassembly.
    pub fn active(&self) -> usize {
        self.trackers.len() - self.free_trackers.len()
    }

    /// Bytes of block pool in use.
    pub fn memuse(&self) -> usize {
        (self.block_next.len() - self.free_blocks.len()) * BLOCK_SIZE
    }

    /// Fragments currently buffered.
    pub fn fragments(&self) -> usize {
        self.slots.len() - self.free_slots.len()
    }

    /// Frees trackers whose time is up. Called once per packet; O(expired).
    pub fn expire(&mut self, now: Timestamp, counters: &mut DefragCounters) {
        while self.lru_head != NIL {
            let t = self.lru_head;
            if self.trackers[t as usize].expires > now {
                break;
            }
            counters.timeouts += 1;
            self.release(t);
            counters.memuse = self.memuse() as u64;
        }
    }

    /// Adds a fragment. Returns the rebuilt datagram (IP header first) when this fragment
    /// completed one. `event` receives every anomaly this fragment raises.
    pub fn insert<F: FnMut(DecodeEvent)>(
        &mut self,
        frag: Fragment<'_>,
        now: Timestamp,
        counters: &mut DefragCounters,
        mut event: F,
    ) -> Option<&[u8]> {
        let v6 = frag.key.v6;
        let (too_large, overlap, ignored) = if v6 {
            counters.ipv6_fragments += 1;
            (
                DecodeEvent::Ipv6FragPktTooLarge,
                DecodeEvent::Ipv6FragOverlap,
                DecodeEvent::Ipv6FragIgnored,
            )
        } else {
            counters.ipv4_fragments += 1;
            (
                DecodeEvent::Ipv4FragPktTooLarge,
                DecodeEvent::Ipv4FragOverlap,
                DecodeEvent::Ipv4FragIgnored,
            )
        };
        if !self.cfg.enabled {
            return None;
        }
        self.expire(now, counters);
        // RFC 791 / RFC 8200: the rebuilt datagram must fit the 16-bit length field.
        let end = frag.offset + frag.data.len();
        if frag.header.len() + end > 65_535 + if v6 { 40 } else { 0 } {
            event(too_large);
            return None;
        }
        if frag.offset == 0 && frag.header.len() > MAX_HEADER {
            event(ignored);
            return None;
        }
        if self.free_slots.is_empty() {
            counters.max_frag_hits += 1;
            event(ignored);
            return None;
        }
        let nblocks = frag.data.len().div_ceil(BLOCK_SIZE);
        if nblocks > self.free_blocks.len() {
            counters.memcap_exceeded += 1;
            event(ignored);
            return None;
        }
        let t = match self.index.get(&frag.key) {
            Some(&t) => t,
            None => {
                let Some(t) = self.free_trackers.pop() else {
                    counters.max_trackers_reached += 1;
                    event(ignored);
                    return None;
                };
                let tr = &mut self.trackers[t as usize];
                tr.key = frag.key;
                tr.expires = now.plus_secs(self.cfg.timeout_secs);
                tr.slots = NIL;
                tr.nslots = 0;
                tr.units = [0; WORDS];
                tr.units_set = 0;
                tr.header_len = 0;
                tr.have_first = false;
                tr.total = None;
                self.index.insert(frag.key, t);
                self.lru_push(t);
                t
            }
        };
        let first_block = self.store(frag.data);
        let Some(slot) = self.free_slots.pop() else {
            return None; // unreachable: checked above
        };
        let tr = &mut self.trackers[t as usize];
        // Units touched, rounding the end up: a short last fragment still covers its unit.
        if tr.mark(frag.offset / 8, end.div_ceil(8)) {
            event(overlap);
        }
        self.slots[slot as usize] = Slot {
            offset: frag.offset as u32,
            len: frag.data.len() as u32,
            first_block,
            arrival: tr.nslots,
            next: tr.slots,
        };
        tr.slots = slot;
        tr.nslots += 1;
        if frag.offset == 0 && !tr.have_first {
            tr.have_first = true;
            tr.header[..frag.header.len()].copy_from_slice(frag.header);
            tr.header_len = frag.header.len();
            tr.nh_pos = frag.nh_pos;
            tr.next_header = frag.next_header;
        }
        if !frag.more && tr.total.is_none() {
            tr.total = Some(end as u32);
        }
        let complete = tr.have_first && tr.total.is_some_and(|total| tr.covers(total));
        counters.memuse = self.memuse() as u64;
        if complete {
            let len = self.rebuild(t);
            if v6 {
                counters.ipv6_reassembled += 1;
            } else {
                counters.ipv4_reassembled += 1;
            }
            self.release(t);
            counters.memuse = self.memuse() as u64;
            return Some(&self.out[..len]);
        }
        None
    }

    /// Writes header + data into `out`; returns the datagram length.
    fn rebuild(&mut self, t: u32) -> usize {
        let tr = &self.trackers[t as usize];
        let hl = tr.header_len;
        let total = tr.total.unwrap_or(0) as usize;
        self.out[..hl].copy_from_slice(&tr.header[..hl]);
        self.out[hl..hl + total].fill(0);
        self.order.clear();
        let mut s = tr.slots;
        while s != NIL {
            self.order.push(s);
            s = self.slots[s as usize].next;
        }
        let slots = &self.slots;
        self.order
            .sort_unstable_by_key(|&i| (slots[i as usize].offset, slots[i as usize].arrival));
        // Write in reverse so the lowest offset and, among equals, the earliest arrival is
        // written last and wins (BSD policy).
        for &i in self.order.iter().rev() {
            let s = self.slots[i as usize];
            let mut block = s.first_block;
            let mut pos = s.offset as usize;
            let stop = (s.offset + s.len) as usize;
            while pos < stop && block != NIL {
                let n = (stop - pos).min(BLOCK_SIZE);
                if pos < total {
                    let w = n.min(total - pos);
                    let src = block as usize * BLOCK_SIZE;
                    self.out[hl + pos..hl + pos + w].copy_from_slice(&self.blocks[src..src + w]);
                }
                pos += n;
                block = self.block_next[block as usize];
            }
        }
        let len = hl + total;
        let out = &mut self.out[..len];
        if tr.key.v6 {
            // Unlink the fragment header: the header that named it now names its payload.
            if let Some(b) = out.get_mut(tr.nh_pos) {
                *b = tr.next_header;
            }
            let plen = (len - 40) as u16;
            out[4..6].copy_from_slice(&plen.to_be_bytes());
        } else {
            out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            out[6] = 0;
            out[7] = 0;
            out[10] = 0;
            out[11] = 0;
            let c = checksum::checksum(&out[..hl]);
            out[10..12].copy_from_slice(&c.to_be_bytes());
        }
        len
    }

    fn store(&mut self, data: &[u8]) -> u32 {
        let mut first = NIL;
        let mut prev = NIL;
        for chunk in data.chunks(BLOCK_SIZE) {
            let Some(b) = self.free_blocks.pop() else {
                break; // unreachable: the caller checked there are enough blocks
            };
            let off = b as usize * BLOCK_SIZE;
            self.blocks[off..off + chunk.len()].copy_from_slice(chunk);
            self.block_next[b as usize] = NIL;
            if prev == NIL {
                first = b;
            } else {
                self.block_next[prev as usize] = b;
            }
            prev = b;
        }
        first
    }

    fn release(&mut self, t: u32) {
        let mut s = self.trackers[t as usize].slots;
        while s != NIL {
            let slot = self.slots[s as usize];
            let mut b = slot.first_block;
            while b != NIL {
                let next = self.block_next[b as usize];
                self.block_next[b as usize] = NIL;
                self.free_blocks.push(b);
                b = next;
            }
            self.free_slots.push(s);
            s = slot.next;
        }
        let tr = &mut self.trackers[t as usize];
        tr.slots = NIL;
        tr.nslots = 0;
        let key = tr.key;
        self.index.remove(&key);
        self.lru_unlink(t);
        self.free_trackers.push(t);
    }

    fn lru_push(&mut self, t: u32) {
        let tr = &mut self.trackers[t as usize];
        tr.prev = self.lru_tail;
        tr.next = NIL;
        if self.lru_tail != NIL {
            self.trackers[self.lru_tail as usize].next = t;
        } else {
            self.lru_head = t;
        }
        self.lru_tail = t;
    }

    fn lru_unlink(&mut self, t: u32) {
        let (prev, next) = {
            let tr = &self.trackers[t as usize];
            (tr.prev, tr.next)
        };
        if prev != NIL {
            self.trackers[prev as usize].next = next;
        } else {
            self.lru_head = next;
        }
        if next != NIL {
            self.trackers[next as usize].prev = prev;
        } else {
            self.lru_tail = prev;
        }
        let tr = &mut self.trackers[t as usize];
        tr.prev = NIL;
        tr.next = NIL;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_header(id: u16) -> [u8; 20] {
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[4..6].copy_from_slice(&id.to_be_bytes());
        h[8] = 64;
        h[9] = 17;
        h[12..16].copy_from_slice(&[10, 0, 0, 1]);
        h[16..20].copy_from_slice(&[10, 0, 0, 2]);
        h
    }

    fn key(id: u32) -> FragKey {
        let mut src = [0; 16];
        src[..4].copy_from_slice(&[10, 0, 0, 1]);
        let mut dst = [0; 16];
        dst[..4].copy_from_slice(&[10, 0, 0, 2]);
        FragKey {
            v6: false,
            src,
            dst,
            id,
            proto: 17,
            vlan: 0,
        }
    }

    fn frag<'a>(hdr: &'a [u8], offset: usize, more: bool, data: &'a [u8]) -> Fragment<'a> {
        Fragment {
            key: key(7),
            header: hdr,
            nh_pos: 0,
            next_header: 0,
            offset,
            more,
            data,
        }
    }

    fn small() -> Defragmenter {
        Defragmenter::new(DefragConfig {
            enabled: true,
            memcap: 64 * BLOCK_SIZE,
            max_trackers: 4,
            max_frags: 64,
            timeout_secs: 60,
        })
    }

    #[test]
    fn in_order_and_reverse_order() {
        let h = v4_header(7);
        let a = [1u8; 16];
        let b = [2u8; 300];
        for reverse in [false, true] {
            let mut d = small();
            let mut c = DefragCounters::default();
            let mut ev = Vec::new();
            let now = Timestamp::from_micros(100, 0);
            let (f1, f2) = (frag(&h, 0, true, &a), frag(&h, 16, false, &b));
            let order = if reverse { [f2, f1] } else { [f1, f2] };
            assert!(d.insert(order[0], now, &mut c, |e| ev.push(e)).is_none());
            let out = d
                .insert(order[1], now, &mut c, |e| ev.push(e))
                .unwrap()
                .to_vec();
            assert!(ev.is_empty());
            assert_eq!(out.len(), 20 + 316);
            assert_eq!(u16::from_be_bytes([out[2], out[3]]), 336);
            assert!(checksum::verify(&out[..20]));
            assert_eq!(&out[20..36], &a);
            assert_eq!(&out[36..], &b[..]);
            assert_eq!(d.active(), 0);
            assert_eq!(d.memuse(), 0);
            assert_eq!(c.ipv4_reassembled, 1);
        }
    }

    #[test]
    fn overlap_uses_bsd_policy_and_raises_event() {
        let h = v4_header(7);
        let mut d = small();
        let mut c = DefragCounters::default();
        let mut ev = Vec::new();
        let now = Timestamp(0);
        // Original covers 8..24 with 'A'; a later fragment at 0..16 with 'B' starts earlier and
        // wins 8..16; a later duplicate at 16..24 with 'C' loses to the original.
        assert!(d
            .insert(frag(&h, 8, true, &[b'A'; 16]), now, &mut c, |e| ev.push(e))
            .is_none());
        assert!(d
            .insert(frag(&h, 0, true, &[b'B'; 16]), now, &mut c, |e| ev.push(e))
            .is_none());
        assert!(d
            .insert(frag(&h, 16, true, &[b'C'; 8]), now, &mut c, |e| ev.push(e))
            .is_none());
        let out = d
            .insert(frag(&h, 24, false, &[b'D'; 8]), now, &mut c, |e| ev.push(e))
            .unwrap()
            .to_vec();
        assert_eq!(
            ev,
            vec![DecodeEvent::Ipv4FragOverlap, DecodeEvent::Ipv4FragOverlap]
        );
        assert_eq!(&out[20..], b"BBBBBBBBBBBBBBBBAAAAAAAADDDDDDDD");
    }

    #[test]
    fn timeout_frees_tracker_and_memory() {
        let h = v4_header(7);
        let mut d = small();
        let mut c = DefragCounters::default();
        let t0 = Timestamp::from_micros(1000, 0);
        assert!(d
            .insert(frag(&h, 0, true, &[0; 600]), t0, &mut c, |_| {})
            .is_none());
        assert_eq!(d.active(), 1);
        assert_eq!(d.memuse(), 3 * BLOCK_SIZE);
        d.expire(t0.plus_secs(59), &mut c);
        assert_eq!(d.active(), 1);
        d.expire(t0.plus_secs(60), &mut c);
        assert_eq!(d.active(), 0);
        assert_eq!(d.memuse(), 0);
        assert_eq!(c.timeouts, 1);
        // The late last fragment alone does not complete anything.
        assert!(d
            .insert(
                frag(&h, 600, false, &[0; 8]),
                t0.plus_secs(61),
                &mut c,
                |_| {}
            )
            .is_none());
    }

    #[test]
    fn limits_raise_ignored_and_count() {
        let h = v4_header(7);
        let mut d = small();
        let mut c = DefragCounters::default();
        let now = Timestamp(0);
        let mut ev = Vec::new();
        for id in 0..5u32 {
            let mut f = frag(&h, 8, true, &[0; 8]);
            f.key = key(id);
            d.insert(f, now, &mut c, |e| ev.push(e));
        }
        assert_eq!(c.max_trackers_reached, 1);
        assert_eq!(ev, vec![DecodeEvent::Ipv4FragIgnored]);
        ev.clear();
        // Memcap: 64 blocks total, 4 in use; a 16 KiB fragment needs 64.
        let mut big = frag(&h, 64, true, &[0; 16384]);
        big.key = key(0);
        d.insert(big, now, &mut c, |e| ev.push(e));
        assert_eq!(c.memcap_exceeded, 1);
        assert_eq!(ev, vec![DecodeEvent::Ipv4FragIgnored]);
        ev.clear();
        d.insert(frag(&h, 65_528, false, &[0; 16]), now, &mut c, |e| {
            ev.push(e)
        });
        assert_eq!(ev, vec![DecodeEvent::Ipv4FragPktTooLarge]);
    }

    #[test]
    fn fragment_record_cap_and_many_tiny_fragments() {
        let h = v4_header(7);
        let mut d = small();
        let mut c = DefragCounters::default();
        let now = Timestamp(0);
        for i in 0..67 {
            d.insert(frag(&h, 8 + i * 8, true, &[0; 8]), now, &mut c, |_| {});
        }
        assert_eq!(c.max_frag_hits, 3);
        assert_eq!(d.fragments(), 64);
        // A datagram in 2,000 fragments of 8 bytes rebuilds with the default limits.
        let mut d = Defragmenter::new(DefragConfig::default());
        let mut c = DefragCounters::default();
        let data: Vec<u8> = (0..16_000u32).map(|i| (i % 251) as u8).collect();
        let mut out = None;
        for (i, chunk) in data.chunks(8).enumerate().rev() {
            let more = (i + 1) * 8 < data.len();
            out = d
                .insert(frag(&h, i * 8, more, chunk), now, &mut c, |_| {})
                .map(|o| o.to_vec());
        }
        let out = out.expect("rebuilt");
        assert_eq!(&out[20..], &data[..]);
        assert_eq!(d.memuse(), 0);
    }
}
