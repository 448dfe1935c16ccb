//! Packet evidence: a per-worker ring of recent packets, and the flows whose packets are
//! copied out for a pcap evidence item when one of their alerts asks for it.
//!
//! The ring is one preallocated byte buffer (`[evidence] ring_bytes`) of records, each a
//! header and the frame's first `snaplen` bytes, written oldest-first over the oldest:
//!
//! ```text
//!  0        8        16          20          24
//!  +--------+--------+-----------+-----------+----------------------------+
//!  | ts ns  | flow   | orig len  | cap len   | cap len bytes, padded to 8 |
//!  +--------+--------+-----------+-----------+----------------------------+
//! ```
//!
//! A record never wraps: one that does not fit before the end of the buffer starts again at
//! its beginning and the tail left behind is skipped. Records older than `ring_seconds`
//! (packet time) are dropped as new ones arrive. Pushing a packet copies bytes and moves
//! offsets: no allocation, lock or system call.
//!
//! When an alert asks for capture ([`Evidence::request`], a fixed table of flows), the
//! worker, between bursts ([`Evidence::drain`]), hands over that flow's packets still in the
//! ring and then follows the flow: its next `after_packets` packets are handed over as they
//! are pushed. What receives them is the caller's ([`Export`]): a bounded queue that counts
//! what it cannot take, never waits.

/// Bytes of a record's header.
pub const HEADER: usize = 24;
const ALIGN: usize = 8;

/// Which alerts ask for their flow's packets (`[evidence] capture`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CaptureRule {
    /// None: the ring only keeps packets.
    #[default]
    None,
    /// Every alert.
    All,
    /// Alerts of these signature ids (sorted).
    Sids(std::sync::Arc<[u32]>),
}

impl CaptureRule {
    /// Whether an alert of `sid` asks for capture.
    #[inline]
    pub fn wants(&self, sid: u32) -> bool {
        match self {
            CaptureRule::None => false,
            CaptureRule::All => true,
            CaptureRule::Sids(s) => s.binary_search(&sid).is_ok(),
        }
    }
}

/// Settings of the packet ring (`[evidence]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingConfig {
    /// Bytes of the ring per worker; 0 keeps no packets.
    pub ring_bytes: usize,
    /// Packets older than this (packet time) are not kept; 0: no age limit.
    pub ring_seconds: u32,
    /// Bytes kept of each frame; longer frames are cut (and counted).
    pub snaplen: u16,
    /// Packets of a flow copied after its alert.
    pub after_packets: u32,
    /// Which alerts ask for capture.
    pub capture: CaptureRule,
}

impl Default for RingConfig {
    /// Off (no ring): pipelines built without a configuration keep no packets.
    fn default() -> Self {
        RingConfig {
            ring_bytes: 0,
            ring_seconds: 60,
            snaplen: 1518,
            after_packets: 100,
            capture: CaptureRule::None,
        }
    }
}

/// Flows followed at once per worker; a request beyond is counted in `follow_full`.
pub const MAX_FOLLOWED: usize = 64;

/// The ring's counters (`evidence.*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingCounters {
    /// Packets written into the ring.
    pub ring_packets: u64,
    /// Records overwritten by newer ones before they aged out.
    pub ring_overwritten: u64,
    /// Packets cut to the snap length.
    pub ring_truncated: u64,
    /// Capture requests refused because [`MAX_FOLLOWED`] flows were already followed.
    pub follow_full: u64,
    /// Packets handed to the export.
    pub exported: u64,
    /// Packets the export could not take (its queue was full).
    pub export_dropped: u64,
}

/// One packet as the ring hands it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub ts_ns: u64,
    pub flow: u64,
    /// The frame's length on the wire.
    pub orig_len: u32,
    /// Its first bytes, at most the snap length.
    pub data: &'a [u8],
}

/// Where packets of followed flows go; `false` when it cannot take one (counted).
pub trait Export {
    fn packet(&mut self, rec: &Record<'_>) -> bool;
}

/// The byte ring.
pub struct Ring {
    buf: Box<[u8]>,
    /// Absolute offset of the oldest record.
    head: u64,
    /// Absolute offset where the next record goes.
    tail: u64,
    max_age_ns: u64,
    snaplen: usize,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Ring({} of {} bytes)",
            self.tail - self.head,
            self.buf.len()
        )
    }
}

fn padded(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

impl Ring {
    /// A ring of `cfg.ring_bytes` (rounded down to 8), allocated and touched now.
    pub fn new(cfg: &RingConfig) -> Ring {
        let len = cfg.ring_bytes / ALIGN * ALIGN;
        Ring {
            buf: vec![0u8; len].into_boxed_slice(),
            head: 0,
            tail: 0,
            max_age_ns: u64::from(cfg.ring_seconds) * 1_000_000_000,
            snaplen: usize::from(cfg.snaplen),
        }
    }

    fn cap(&self) -> u64 {
        self.buf.len() as u64
    }

    /// Bytes a record of `orig_len` takes.
    fn size_of(&self, orig_len: usize) -> usize {
        HEADER + padded(orig_len.min(self.snaplen))
    }

    /// Writes a packet; returns false when the ring is off or the record cannot fit at all.
    pub fn push(&mut self, ts_ns: u64, flow: u64, frame: &[u8], c: &mut RingCounters) -> bool {
        let size = self.size_of(frame.len()) as u64;
        if frame.is_empty() || size > self.cap() {
            return false;
        }
        self.age_out(ts_ns);
        let mut at = self.tail;
        let rest = self.cap() - at % self.cap();
        if size > rest {
            at += rest;
        }
        loop {
            if self.is_empty() {
                (self.head, self.tail) = (at, at);
                break;
            }
            if at + size - self.head <= self.cap() {
                break;
            }
            self.pop();
            c.ring_overwritten += 1;
        }
        if self.tail < at && rest >= HEADER as u64 {
            // Marks the skipped tail: a zero original length.
            let p = (self.tail % self.cap()) as usize;
            self.buf[p + 16..p + 20].fill(0);
        }
        let cut = frame.len().min(self.snaplen);
        if cut < frame.len() {
            c.ring_truncated += 1;
        }
        let p = (at % self.cap()) as usize;
        let h = &mut self.buf[p..p + HEADER];
        h[0..8].copy_from_slice(&ts_ns.to_le_bytes());
        h[8..16].copy_from_slice(&flow.to_le_bytes());
        h[16..20].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        h[20..24].copy_from_slice(&(cut as u32).to_le_bytes());
        self.buf[p + HEADER..p + HEADER + cut].copy_from_slice(&frame[..cut]);
        self.tail = at + size;
        c.ring_packets += 1;
        true
    }

    fn age_out(&mut self, now_ns: u64) {
        if self.max_age_ns == 0 {
            return;
        }
        while let Some((_, rec)) = self.first() {
            if rec.ts_ns.saturating_add(self.max_age_ns) >= now_ns {
                break;
            }
            self.pop();
        }
    }

    /// The oldest record and its absolute offset.
    fn first(&self) -> Option<(u64, Record<'_>)> {
        (self.head < self.tail).then(|| self.at(self.head))
    }

    /// The record at or after absolute offset `at` (a skipped tail moves to the start).
    fn at(&self, mut at: u64) -> (u64, Record<'_>) {
        let pos = at % self.cap();
        let rest = self.cap() - pos;
        if rest < HEADER as u64 || self.u32_at(pos as usize + 16) == 0 {
            at += rest;
        }
        let p = (at % self.cap()) as usize;
        let word = |r: std::ops::Range<usize>| &self.buf[p + r.start..p + r.end];
        let cut = u32::from_le_bytes(word(20..24).try_into().unwrap_or_default()) as usize;
        let rec = Record {
            ts_ns: u64::from_le_bytes(word(0..8).try_into().unwrap_or_default()),
            flow: u64::from_le_bytes(word(8..16).try_into().unwrap_or_default()),
            orig_len: u32::from_le_bytes(word(16..20).try_into().unwrap_or_default()),
            data: &self.buf[p + HEADER..p + HEADER + cut],
        };
        (at, rec)
    }

    fn u32_at(&self, p: usize) -> u32 {
        u32::from_le_bytes(self.buf[p..p + 4].try_into().unwrap_or_default())
    }

    fn pop(&mut self) {
        if let Some((at, rec)) = self.first() {
            self.head = at + (HEADER + padded(rec.data.len())) as u64;
            if self.head >= self.tail {
                self.head = self.tail;
            }
        }
    }

    /// Calls `f` on every record still held, oldest first.
    pub fn for_each(&self, mut f: impl FnMut(&Record<'_>)) {
        let mut at = self.head;
        while at < self.tail {
            let (start, rec) = self.at(at);
            f(&rec);
            at = start + (HEADER + padded(rec.data.len())) as u64;
        }
    }

    /// Records held.
    pub fn len(&self) -> usize {
        let mut n = 0;
        self.for_each(|_| n += 1);
        n
    }

    /// True when no record is held.
    pub fn is_empty(&self) -> bool {
        self.head == self.tail
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Followed {
    flow: u64,
    /// Packets still to copy; 0: a free slot.
    left: u32,
    /// The ring's packets not handed over yet (set by a request, cleared by the drain).
    backlog: bool,
}

/// A worker's packet evidence: its ring and the flows it follows.
#[derive(Debug)]
pub struct Evidence {
    ring: Ring,
    after: u32,
    capture: CaptureRule,
    followed: [Followed; MAX_FOLLOWED],
    /// Slots of `followed` in use (the table is not searched per packet while none is).
    following: usize,
    pub counters: RingCounters,
}

impl Evidence {
    /// `None` when `cfg.ring_bytes` is 0 (the ring is off).
    pub fn new(cfg: &RingConfig) -> Option<Evidence> {
        (cfg.ring_bytes >= HEADER).then(|| Evidence {
            ring: Ring::new(cfg),
            after: cfg.after_packets,
            capture: cfg.capture.clone(),
            followed: [Followed::default(); MAX_FOLLOWED],
            following: 0,
            counters: RingCounters::default(),
        })
    }

    /// The ring (for inspection).
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Keeps a packet of `flow`; when the flow is followed, also hands it to `out`.
    pub fn packet(&mut self, ts_ns: u64, flow: u64, frame: &[u8], out: &mut impl Export) {
        self.ring.push(ts_ns, flow, frame, &mut self.counters);
        if self.following == 0 {
            return;
        }
        let Some(f) = self
            .followed
            .iter_mut()
            .find(|f| f.left > 0 && !f.backlog && f.flow == flow)
        else {
            return;
        };
        f.left -= 1;
        if f.left == 0 {
            self.following -= 1;
        }
        let cut = frame.len().min(self.ring.snaplen);
        let rec = Record {
            ts_ns,
            flow,
            orig_len: frame.len() as u32,
            data: &frame[..cut],
        };
        count(&mut self.counters, out.packet(&rec));
    }

    /// An alert of `sid` in `flow`: asks for the flow's packets when the capture rule
    /// wants it.
    #[inline]
    pub fn alert(&mut self, sid: u32, flow: u64) {
        if flow != 0 && self.capture.wants(sid) {
            self.request(flow);
        }
    }

    /// Every counter, by name.
    pub fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        let c = &self.counters;
        f("evidence.ring_packets", c.ring_packets);
        f("evidence.ring_overwritten", c.ring_overwritten);
        f("evidence.ring_truncated", c.ring_truncated);
        f("evidence.follow_full", c.follow_full);
        f("evidence.exported", c.exported);
        f("evidence.export_dropped", c.export_dropped);
    }

    /// Asks for `flow`'s packets (an alert with capture on): those in the ring at the next
    /// [`drain`](Self::drain), then its next `after_packets`. A flow already followed is
    /// left as it is; with every slot taken the request is counted in `follow_full`.
    pub fn request(&mut self, flow: u64) {
        if self.followed.iter().any(|f| f.left > 0 && f.flow == flow) {
            return;
        }
        match self.followed.iter_mut().find(|f| f.left == 0) {
            Some(f) => {
                *f = Followed {
                    flow,
                    left: self.after.max(1),
                    backlog: true,
                };
                self.following += 1;
            }
            None => self.counters.follow_full += 1,
        }
    }

    /// Between bursts: hands over the ring's packets of newly requested flows.
    pub fn drain(&mut self, out: &mut impl Export) {
        for i in 0..MAX_FOLLOWED {
            if !self.followed[i].backlog {
                continue;
            }
            let flow = self.followed[i].flow;
            let c = &mut self.counters;
            self.ring.for_each(|r| {
                if r.flow == flow {
                    count(c, out.packet(r));
                }
            });
            self.followed[i].backlog = false;
            if self.after == 0 {
                self.followed[i].left = 0;
                self.following -= 1;
            }
        }
    }
}

fn count(c: &mut RingCounters, taken: bool) {
    if taken {
        c.exported += 1;
    } else {
        c.export_dropped += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An export holding at most `cap` packets, as (flow, ts, orig len, bytes).
    struct Queue {
        cap: usize,
        got: Vec<(u64, u64, u32, Vec<u8>)>,
    }

    impl Export for Queue {
        fn packet(&mut self, r: &Record<'_>) -> bool {
            if self.got.len() >= self.cap {
                return false;
            }
            self.got
                .push((r.flow, r.ts_ns, r.orig_len, r.data.to_vec()));
            true
        }
    }

    fn queue(cap: usize) -> Queue {
        Queue {
            cap,
            got: Vec::new(),
        }
    }

    fn cfg(ring_bytes: usize) -> RingConfig {
        RingConfig {
            ring_bytes,
            ring_seconds: 0,
            snaplen: 64,
            after_packets: 3,
            capture: CaptureRule::All,
        }
    }

    fn frame(i: u64, len: usize) -> Vec<u8> {
        (0..len).map(|j| (i as usize + j) as u8).collect()
    }

    fn held(r: &Ring) -> Vec<(u64, u64)> {
        let mut v = Vec::new();
        r.for_each(|rec| v.push((rec.ts_ns, rec.flow)));
        v
    }

    #[test]
    fn wraps_and_overwrites_oldest_first() {
        // 40-byte frames: 24 + 40 = 64 bytes a record; 200 bytes hold 3 (the 8-byte tail
        // is skipped when the ring wraps).
        let mut r = Ring::new(&cfg(200));
        let mut c = RingCounters::default();
        for i in 0..10u64 {
            assert!(r.push(i, i % 2, &frame(i, 40), &mut c));
            let h = held(&r);
            assert_eq!(h.last(), Some(&(i, i % 2)));
            assert!(h.len() <= 3, "{h:?}");
            // Oldest first, consecutive: only the oldest are overwritten.
            for w in h.windows(2) {
                assert_eq!(w[1].0, w[0].0 + 1);
            }
        }
        assert_eq!(held(&r), vec![(7, 1), (8, 0), (9, 1)]);
        assert_eq!(c.ring_packets, 10);
        assert_eq!(c.ring_overwritten, 7);
        let mut data = Vec::new();
        r.for_each(|rec| data.push(rec.data.to_vec()));
        assert_eq!(data, vec![frame(7, 40), frame(8, 40), frame(9, 40)]);
    }

    #[test]
    fn mixed_sizes_keep_their_bytes_across_wraps() {
        let mut r = Ring::new(&cfg(512));
        let mut c = RingCounters::default();
        let mut sent = Vec::new();
        for i in 0..200u64 {
            let f = frame(i, 1 + (i as usize * 7) % 60);
            r.push(i, i, &f, &mut c);
            sent.push(f);
        }
        let mut got = Vec::new();
        r.for_each(|rec| got.push((rec.ts_ns, rec.data.to_vec(), rec.orig_len)));
        assert!(!got.is_empty());
        let first = got[0].0 as usize;
        assert_eq!(got.last().map(|g| g.0), Some(199));
        for (k, (ts, data, orig)) in got.iter().enumerate() {
            assert_eq!(*ts as usize, first + k);
            assert_eq!(data, &sent[*ts as usize]);
            assert_eq!(*orig as usize, data.len());
        }
        assert_eq!(c.ring_overwritten, 200 - got.len() as u64);
    }

    #[test]
    fn caps_truncation_and_age() {
        let mut c = RingCounters::default();
        let mut r = Ring::new(&cfg(1024));
        r.push(1, 1, &frame(1, 100), &mut c);
        assert_eq!(c.ring_truncated, 1);
        let mut seen = Vec::new();
        r.for_each(|rec| seen.push((rec.orig_len, rec.data.len())));
        assert_eq!(seen, vec![(100, 64)]);

        // A record larger than the whole ring is not kept.
        let mut tiny = Ring::new(&RingConfig {
            snaplen: 1500,
            ..cfg(64)
        });
        assert!(!tiny.push(1, 1, &frame(1, 100), &mut c));
        assert!(tiny.is_empty());

        // Packets older than ring_seconds go as new ones come.
        let mut aged = Ring::new(&RingConfig {
            ring_seconds: 2,
            ..cfg(4096)
        });
        let s = 1_000_000_000u64;
        for t in 0..5u64 {
            aged.push(t * s, 7, &frame(t, 10), &mut c);
        }
        assert_eq!(
            held(&aged).iter().map(|h| h.0 / s).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        assert_eq!(Evidence::new(&cfg(0)).map(|_| ()), None);
    }

    #[test]
    fn a_requested_flow_gets_its_ring_packets_then_the_next_ones() {
        let mut ev = Evidence::new(&cfg(4096)).expect("ring on");
        let mut q = queue(100);
        for i in 0..6u64 {
            ev.packet(i, i % 3, &frame(i, 20), &mut q);
        }
        assert!(q.got.is_empty());
        ev.request(1);
        ev.request(1);
        ev.drain(&mut q);
        assert_eq!(q.got.iter().map(|g| g.1).collect::<Vec<_>>(), vec![1, 4]);
        for i in 6..20u64 {
            ev.packet(i, i % 3, &frame(i, 20), &mut q);
        }
        // after_packets = 3: packets 7, 10, 13 of flow 1, no more.
        assert_eq!(
            q.got.iter().map(|g| g.1).collect::<Vec<_>>(),
            vec![1, 4, 7, 10, 13]
        );
        assert!(q.got.iter().all(|g| g.0 == 1));
        assert_eq!(q.got[2].3, frame(7, 20));
        assert_eq!(ev.counters.exported, 5);
    }

    #[test]
    fn a_full_export_and_a_full_follow_table_are_counted() {
        let mut ev = Evidence::new(&cfg(8192)).expect("ring on");
        let mut q = queue(2);
        for i in 0..5u64 {
            ev.packet(i, 9, &frame(i, 10), &mut q);
        }
        ev.request(9);
        ev.drain(&mut q);
        assert_eq!(q.got.len(), 2);
        assert_eq!(ev.counters.export_dropped, 3);

        for f in 0..MAX_FOLLOWED as u64 + 3 {
            ev.request(100 + f);
        }
        // Flow 9 holds a slot still (after_packets not reached).
        assert_eq!(ev.counters.follow_full, 4);
        assert_eq!(ev.following, MAX_FOLLOWED);
        // Flow 9's three packets free its slot, which the next request takes.
        for i in 0..3u64 {
            ev.packet(10 + i, 9, &frame(i, 10), &mut q);
        }
        assert_eq!(ev.following, MAX_FOLLOWED - 1);
        ev.request(500);
        assert_eq!((ev.following, ev.counters.follow_full), (MAX_FOLLOWED, 4));
    }
}
