//! Records leaving a worker: one bounded single-producer/single-consumer ring per worker and
//! record kind, drained by the control plane.
//!
//! What a full ring does depends on the source ([`WhenFull`]). Live, the worker never blocks:
//! a full ring drops the record and counts it (`overflow`), so a slow consumer costs records,
//! never packets; in the EVE ring alerts keep a reserved share that lower-priority records
//! cannot take, and drops are counted by event type. Offline (a capture replayed once) the
//! worker waits for the consumer instead, so nothing is lost, and counts how often it waited.
//!
//! Records are fixed-size values written into preallocated slots (no allocation per push).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;

/// What a producer does when its ring is full.
#[derive(Clone, Debug, Default)]
pub enum WhenFull {
    /// Drop the record and count it: the worker never waits (live capture).
    #[default]
    Drop,
    /// Wait until the consumer makes room (a capture replayed once: nothing is lost). The
    /// wait ends, dropping and counting the record, when the flag is set (shutdown) or the
    /// consumer is gone.
    Wait(Arc<AtomicBool>),
}

impl WhenFull {
    /// Waits a little for the consumer; false when waiting is over (not in wait mode, stop
    /// requested, or `gone`).
    #[cold]
    fn wait(&self, spins: &mut u32, gone: bool) -> bool {
        let WhenFull::Wait(stop) = self else {
            return false;
        };
        if gone || stop.load(Ordering::Relaxed) {
            return false;
        }
        // Spin briefly, then give the core away: offline the consumer may share it.
        if *spins < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
        *spins += 1;
        true
    }
}

struct Shared<T> {
    queue: ArrayQueue<T>,
    /// Records dropped because the ring was full (written by the producer, read by anyone).
    overflow: AtomicU64,
}

/// The worker's end of a ring.
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    overflow: u64,
    when_full: WhenFull,
    waits: u64,
}

/// The control plane's end of a ring.
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
}

impl<T> std::fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Producer(cap {})", self.shared.queue.capacity())
    }
}

impl<T> std::fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Consumer(len {})", self.shared.queue.len())
    }
}

/// A ring of `capacity` records (at least 1).
pub fn ring<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let shared = Arc::new(Shared {
        queue: ArrayQueue::new(capacity.max(1)),
        overflow: AtomicU64::new(0),
    });
    (
        Producer {
            shared: shared.clone(),
            overflow: 0,
            when_full: WhenFull::Drop,
            waits: 0,
        },
        Consumer { shared },
    )
}

impl<T> Producer<T> {
    /// Sets what a full ring does (default: drop).
    pub fn set_when_full(&mut self, w: WhenFull) {
        self.when_full = w;
    }

    /// Pushes a record; on a full ring waits ([`WhenFull::Wait`]) or drops it, counts it and
    /// returns false.
    #[inline]
    pub fn push(&mut self, record: T) -> bool {
        match self.shared.queue.push(record) {
            Ok(()) => true,
            Err(r) => self.push_full(r),
        }
    }

    #[cold]
    fn push_full(&mut self, mut record: T) -> bool {
        let mut spins = 0;
        while self
            .when_full
            .wait(&mut spins, Arc::strong_count(&self.shared) == 1)
        {
            match self.shared.queue.push(record) {
                Ok(()) => {
                    self.waits += 1;
                    return true;
                }
                Err(r) => record = r,
            }
        }
        self.overflow += 1;
        // Relaxed store of the producer's own count: no read-modify-write on the hot path,
        // and readers only need an eventually consistent value.
        self.shared.overflow.store(self.overflow, Ordering::Relaxed);
        false
    }

    /// Pushes that found the ring full and waited for room.
    pub fn waits(&self) -> u64 {
        self.waits
    }

    /// Records dropped so far.
    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    /// True when the next push would be dropped. The producer is the only one filling the
    /// ring, so `false` means the next push succeeds.
    pub fn is_full(&self) -> bool {
        self.shared.queue.is_full()
    }

    /// Records waiting in the ring.
    pub fn len(&self) -> usize {
        self.shared.queue.len()
    }

    /// True when the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.shared.queue.is_empty()
    }
}

impl<T> Consumer<T> {
    /// Takes the oldest record.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        self.shared.queue.pop()
    }

    /// Takes up to `max` records into `f`; returns how many.
    pub fn drain(&mut self, max: usize, mut f: impl FnMut(T)) -> usize {
        let mut n = 0;
        while n < max {
            match self.shared.queue.pop() {
                Some(r) => {
                    f(r);
                    n += 1;
                }
                None => break,
            }
        }
        n
    }

    /// Records the producer dropped so far.
    pub fn overflow(&self) -> u64 {
        self.shared.overflow.load(Ordering::Relaxed)
    }

    /// Records waiting.
    pub fn len(&self) -> usize {
        self.shared.queue.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.shared.queue.is_empty()
    }

    /// True once the producer is gone and nothing is left.
    pub fn is_finished(&self) -> bool {
        Arc::strong_count(&self.shared) == 1 && self.shared.queue.is_empty()
    }
}

/// Bytes of a byte-ring record's header: the record length (u32, little endian) and the
/// length of its event type (u8).
const EVE_HEADER: usize = 5;

/// EVE event types whose dropped records are counted separately
/// (`eve.queue_overflow.<type>`); any other type counts as `other`.
pub const EVE_TYPES: [&str; 11] = [
    "alert",
    "flow",
    "http",
    "dns",
    "tls",
    "websocket",
    "anomaly",
    "stats",
    "intel",
    "drop",
    "other",
];

/// The counter names of [`EVE_TYPES`]' drops, in the same order.
pub const EVE_OVERFLOW_COUNTERS: [&str; 11] = [
    "eve.queue_overflow.alert",
    "eve.queue_overflow.flow",
    "eve.queue_overflow.http",
    "eve.queue_overflow.dns",
    "eve.queue_overflow.tls",
    "eve.queue_overflow.websocket",
    "eve.queue_overflow.anomaly",
    "eve.queue_overflow.stats",
    "eve.queue_overflow.intel",
    "eve.queue_overflow.drop",
    "eve.queue_overflow.other",
];

/// The share of an EVE ring (1/`ALERT_RESERVE_DIV` of its bytes) that only alerts may fill
/// when records are dropped on a full ring: a burst of lower-priority records never takes the
/// last room from an alert.
pub const ALERT_RESERVE_DIV: usize = 4;

/// The worker's end of an EVE byte ring: variable-length records (a rendered EVE JSON object
/// and its `event_type`) copied into a preallocated byte ring, no allocation per record.
pub struct EveProducer {
    ring: rtrb::Producer<u8>,
    shared: Arc<AtomicU64>,
    overflow: u64,
    /// Drops by [`EVE_TYPES`] index.
    overflow_by_type: [u64; EVE_TYPES.len()],
    pushed: u64,
    when_full: WhenFull,
    waits: u64,
    capacity: usize,
}

/// The main lcore's end of an EVE byte ring.
pub struct EveConsumer {
    ring: rtrb::Consumer<u8>,
    shared: Arc<AtomicU64>,
    /// A record that wraps around the end of the ring is copied here to be handed out whole.
    scratch: Vec<u8>,
}

impl std::fmt::Debug for EveProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EveProducer(cap {} bytes)",
            self.ring.buffer().capacity()
        )
    }
}

impl std::fmt::Debug for EveConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EveConsumer({} bytes waiting)", self.ring.slots())
    }
}

/// An EVE byte ring holding `capacity_bytes` bytes of records (each record also costs
/// a 5-byte header and its event type's length).
pub fn eve_ring(capacity_bytes: usize) -> (EveProducer, EveConsumer) {
    let capacity = capacity_bytes.max(EVE_HEADER + 1);
    let (p, c) = rtrb::RingBuffer::new(capacity);
    let shared = Arc::new(AtomicU64::new(0));
    (
        EveProducer {
            ring: p,
            shared: shared.clone(),
            overflow: 0,
            overflow_by_type: [0; EVE_TYPES.len()],
            pushed: 0,
            when_full: WhenFull::Drop,
            waits: 0,
            capacity,
        },
        EveConsumer {
            ring: c,
            shared,
            scratch: Vec::new(),
        },
    )
}

impl EveProducer {
    /// Sets what a full ring does (default: drop, with a share reserved for alerts).
    pub fn set_when_full(&mut self, w: WhenFull) {
        self.when_full = w;
    }

    /// Copies one record in. When the ring is full: in [`WhenFull::Wait`] mode waits for
    /// room; else drops the record, counts it by type and returns false (records other than
    /// alerts also find the ring full when only the alerts' reserved share is left). A
    /// record longer than the ring is always dropped. `event_type` is cut to 255 bytes.
    #[inline]
    pub fn push(&mut self, event_type: &str, line: &[u8]) -> bool {
        let ty = &event_type.as_bytes()[..event_type.len().min(255)];
        let body = ty.len() + line.len();
        let total = EVE_HEADER + body;
        let Ok(len) = u32::try_from(body) else {
            return self.dropped(event_type);
        };
        if total > self.capacity {
            return self.dropped(event_type);
        }
        let need = match self.when_full {
            WhenFull::Drop if event_type != "alert" => total + self.capacity / ALERT_RESERVE_DIV,
            _ => total,
        };
        if self.ring.slots() < need && !self.wait_for(need) {
            return self.dropped(event_type);
        }
        // The whole record is committed at once, so the consumer never sees half of one.
        let Ok(mut chunk) = self.ring.write_chunk(total) else {
            return self.dropped(event_type);
        };
        let (a, b) = chunk.as_mut_slices();
        let mut w = SplitWriter { a, b, at: 0 };
        w.put(&len.to_le_bytes());
        w.put(&[ty.len() as u8]);
        w.put(ty);
        w.put(line);
        chunk.commit_all();
        self.pushed += 1;
        true
    }

    /// Waits for `need` free bytes ([`WhenFull::Wait`] only); true once they are there.
    #[cold]
    fn wait_for(&mut self, need: usize) -> bool {
        let mut spins = 0;
        while self.when_full.wait(&mut spins, self.ring.is_abandoned()) {
            if self.ring.slots() >= need {
                self.waits += 1;
                return true;
            }
        }
        false
    }

    #[cold]
    fn dropped(&mut self, event_type: &str) -> bool {
        let i = EVE_TYPES[..EVE_TYPES.len() - 1]
            .iter()
            .position(|t| *t == event_type)
            .unwrap_or(EVE_TYPES.len() - 1);
        self.overflow_by_type[i] += 1;
        self.overflow += 1;
        self.shared.store(self.overflow, Ordering::Relaxed);
        false
    }

    /// Records dropped so far (`eve.queue_overflow`).
    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    /// Records dropped so far by event type, in [`EVE_TYPES`] order.
    pub fn overflow_by_type(&self) -> &[u64; EVE_TYPES.len()] {
        &self.overflow_by_type
    }

    /// Pushes that found the ring full and waited for room ([`WhenFull::Wait`]).
    pub fn waits(&self) -> u64 {
        self.waits
    }

    /// Records pushed so far.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Free bytes in the ring.
    pub fn free_bytes(&self) -> usize {
        self.ring.slots()
    }
}

/// Writes consecutive bytes across the two halves of a wrapped ring chunk.
struct SplitWriter<'a> {
    a: &'a mut [u8],
    b: &'a mut [u8],
    at: usize,
}

impl SplitWriter<'_> {
    #[inline]
    fn put(&mut self, src: &[u8]) {
        let alen = self.a.len();
        let mut src = src;
        if self.at < alen {
            let n = src.len().min(alen - self.at);
            self.a[self.at..self.at + n].copy_from_slice(&src[..n]);
            self.at += n;
            src = &src[n..];
        }
        if !src.is_empty() {
            let off = self.at - alen;
            self.b[off..off + src.len()].copy_from_slice(src);
            self.at += src.len();
        }
    }
}

/// Copies `out.len()` bytes starting at `at` of the two halves `a`, `b` into `out`.
fn split_read(a: &[u8], b: &[u8], at: usize, out: &mut [u8]) {
    let n = out.len();
    if at + n <= a.len() {
        out.copy_from_slice(&a[at..at + n]);
    } else if at >= a.len() {
        let off = at - a.len();
        out.copy_from_slice(&b[off..off + n]);
    } else {
        let k = a.len() - at;
        out[..k].copy_from_slice(&a[at..]);
        out[k..].copy_from_slice(&b[..n - k]);
    }
}

impl EveConsumer {
    /// Hands up to `max` waiting records to `f(event_type, line)`, oldest first; returns how
    /// many.
    pub fn drain(&mut self, max: usize, mut f: impl FnMut(&str, &[u8])) -> usize {
        let mut n = 0;
        while n < max {
            let avail = self.ring.slots();
            if avail < EVE_HEADER {
                break;
            }
            let Ok(chunk) = self.ring.read_chunk(avail) else {
                break;
            };
            let (a, b) = chunk.as_slices();
            let mut at = 0;
            while n < max && avail - at >= EVE_HEADER {
                let mut h = [0u8; EVE_HEADER];
                split_read(a, b, at, &mut h);
                let body = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
                let ty_len = h[4] as usize;
                // Records are committed whole, so a complete one is always there.
                if avail - at - EVE_HEADER < body || ty_len > body {
                    break;
                }
                let start = at + EVE_HEADER;
                let rec: &[u8] = if start + body <= a.len() {
                    &a[start..start + body]
                } else if start >= a.len() {
                    &b[start - a.len()..start - a.len() + body]
                } else {
                    self.scratch.resize(body, 0);
                    split_read(a, b, start, &mut self.scratch);
                    &self.scratch
                };
                let (ty, line) = rec.split_at(ty_len);
                f(std::str::from_utf8(ty).unwrap_or(""), line);
                at = start + body;
                n += 1;
            }
            chunk.commit(at);
            if at == 0 {
                break;
            }
        }
        n
    }

    /// Records the producer dropped so far.
    pub fn overflow(&self) -> u64 {
        self.shared.load(Ordering::Relaxed)
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// True once the producer is gone and nothing is left.
    pub fn is_finished(&self) -> bool {
        self.ring.is_abandoned() && self.ring.is_empty()
    }
}

/// The `event_type` of an evidence packet in an EVE byte ring (not an EVE record: the
/// consumer hands it to the evidence captures).
pub const PACKET_RECORD: &str = "packet";

/// An evidence packet as it crosses an EVE byte ring: time (ns), flow id, original length
/// (u64, u64, u32, little endian), then the captured bytes. `buf` is reused.
pub fn encode_packet(rec: &crate::pipeline::evidence::Record<'_>, buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(&rec.ts_ns.to_le_bytes());
    buf.extend_from_slice(&rec.flow.to_le_bytes());
    buf.extend_from_slice(&rec.orig_len.to_le_bytes());
    buf.extend_from_slice(rec.data);
}

/// The (time, flow id, original length, captured bytes) of an [`encode_packet`] record.
pub fn decode_packet(b: &[u8]) -> Option<(u64, u64, u32, &[u8])> {
    let ts = u64::from_le_bytes(b.get(0..8)?.try_into().ok()?);
    let flow = u64::from_le_bytes(b.get(8..16)?.try_into().ok()?);
    let orig = u32::from_le_bytes(b.get(16..20)?.try_into().ok()?);
    Some((ts, flow, orig, &b[20..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_ring_drops_and_counts_without_blocking() {
        let (mut p, mut c) = ring::<u32>(4);
        for i in 0..10 {
            p.push(i);
        }
        assert_eq!(p.overflow(), 6);
        assert_eq!(c.overflow(), 6);
        let mut got = Vec::new();
        c.drain(100, |r| got.push(r));
        assert_eq!(got, vec![0, 1, 2, 3]);
        assert!(!c.is_finished());
        drop(p);
        assert!(c.is_finished());
    }

    #[test]
    fn records_cross_threads_in_order() {
        let (mut p, mut c) = ring::<u64>(1024);
        let t = std::thread::spawn(move || {
            let mut sent = 0u64;
            let mut i = 0u64;
            while sent < 100_000 {
                if p.push(i) {
                    sent += 1;
                    i += 1;
                } else {
                    std::thread::yield_now();
                }
            }
            p.overflow()
        });
        let mut next = 0u64;
        while next < 100_000 {
            if let Some(v) = c.pop() {
                assert_eq!(v, next);
                next += 1;
            }
        }
        let dropped = t.join().unwrap();
        // Every drop was retried by this producer, so none is lost from the sequence.
        assert_eq!(next, 100_000);
        assert_eq!(c.overflow(), dropped);
    }

    fn drain_all(c: &mut EveConsumer) -> Vec<(String, Vec<u8>)> {
        let mut got = Vec::new();
        c.drain(usize::MAX, |t, l| got.push((t.to_string(), l.to_vec())));
        got
    }

    #[test]
    fn eve_ring_wraps_around_with_records_intact() {
        // 80 bytes: records of 5 + 4 + 24..34 bytes wrap around the end many times.
        let (mut p, mut c) = eve_ring(80);
        let mut expect = Vec::new();
        let mut got = Vec::new();
        for i in 0..200u32 {
            let line = format!(
                "{{\"n\":{i},\"pad\":\"{}\"}}",
                "x".repeat((i % 11) as usize)
            );
            // Alerts may fill the whole ring (no reserve to leave).
            assert!(
                p.push("alert", line.as_bytes()),
                "record {i} fits after a drain"
            );
            expect.push(("alert".to_string(), line.into_bytes()));
            if i % 2 == 1 {
                got.extend(drain_all(&mut c));
            }
        }
        got.extend(drain_all(&mut c));
        assert_eq!(got, expect);
        assert_eq!(p.overflow(), 0);
        assert_eq!(p.pushed(), 200);
        assert!(c.is_empty());
    }

    #[test]
    fn full_eve_ring_drops_counts_and_keeps_earlier_records() {
        let (mut p, mut c) = eve_ring(100);
        let line = [b'a'; 40];
        // 5 + 7 + 40 = 52 bytes per record: one fits, the second does not.
        assert!(p.push("anomaly", &line));
        assert!(!p.push("anomaly", &line));
        assert!(!p.push("anomaly", &[b'b'; 200]), "longer than the ring");
        assert_eq!(p.overflow(), 2);
        assert_eq!(c.overflow(), 2);
        let got = drain_all(&mut c);
        assert_eq!(got, vec![("anomaly".to_string(), line.to_vec())]);
        assert!(p.push("anomaly", &line), "room again after the drain");
        assert_eq!(drain_all(&mut c).len(), 1);
        assert!(!c.is_finished());
        drop(p);
        assert!(c.is_finished());
    }

    #[test]
    fn alerts_keep_a_reserved_share_and_drops_count_by_type() {
        // 400 bytes, 100 reserved for alerts; records of 5 + len(type) + 80 bytes.
        let (mut p, mut c) = eve_ring(400);
        let line = [b'x'; 80];
        let mut http = 0;
        while p.push("http", &line) {
            http += 1;
        }
        // Three http records (3 x 89 = 267 bytes) leave 133 bytes: less than a record plus
        // the reserve, so the fourth is dropped while an alert still fits.
        assert_eq!(http, 3);
        assert!(p.push("alert", &line), "the reserve is the alerts'");
        assert!(!p.push("dns", &line));
        assert!(!p.push("intel", &line));
        assert!(!p.push("custom", &line));
        let by_type = *p.overflow_by_type();
        let count = |t: &str| by_type[EVE_TYPES.iter().position(|x| *x == t).unwrap()];
        assert_eq!((count("http"), count("dns"), count("intel")), (1, 1, 1));
        assert_eq!((count("other"), count("alert")), (1, 0));
        assert_eq!(p.overflow(), 4);
        assert_eq!(c.overflow(), 4);
        let got = drain_all(&mut c);
        assert_eq!(got.len(), 4);
        assert_eq!(got[3].0, "alert");
        // Only alerts fill the ring to its end: then they are dropped too, and counted.
        while p.push("alert", &line) {}
        assert_eq!(p.overflow_by_type()[0], 1);
        assert_eq!(EVE_OVERFLOW_COUNTERS[0], "eve.queue_overflow.alert");
    }

    #[test]
    fn waiting_producers_lose_nothing_and_count_their_waits() {
        let stop = Arc::new(AtomicBool::new(false));
        let (mut p, mut c) = eve_ring(256);
        p.set_when_full(WhenFull::Wait(stop.clone()));
        let (mut pf, mut cf) = ring::<u64>(4);
        pf.set_when_full(WhenFull::Wait(stop.clone()));
        let n = 5_000u64;
        let t = std::thread::spawn(move || {
            for i in 0..n {
                let ty = if i % 3 == 0 { "alert" } else { "anomaly" };
                assert!(p.push(
                    ty,
                    format!("{i}:{}", "z".repeat((i % 50) as usize)).as_bytes()
                ));
            }
            for i in 0..n {
                assert!(pf.push(i));
            }
            (p.overflow(), p.waits(), pf.overflow(), pf.waits())
        });
        let (mut next, mut next_f) = (0u64, 0u64);
        while next < n || next_f < n {
            // A slow consumer: the producer must wait, never drop.
            std::thread::sleep(std::time::Duration::from_micros(200));
            c.drain(usize::MAX, |_, l| {
                let (i, _) = std::str::from_utf8(l).unwrap().split_once(':').unwrap();
                assert_eq!(i.parse::<u64>().unwrap(), next);
                next += 1;
            });
            cf.drain(usize::MAX, |v| {
                assert_eq!(v, next_f);
                next_f += 1;
            });
        }
        let (over, waits, over_f, waits_f) = t.join().unwrap();
        assert_eq!((over, over_f), (0, 0));
        assert!(waits > 0 && waits_f > 0, "{waits} {waits_f}");
    }

    #[test]
    fn waiting_ends_on_stop_or_when_the_consumer_is_gone() {
        let stop = Arc::new(AtomicBool::new(false));
        let (mut p, c) = eve_ring(64);
        p.set_when_full(WhenFull::Wait(stop.clone()));
        assert!(p.push("alert", &[b'a'; 40]));
        stop.store(true, Ordering::Relaxed);
        assert!(!p.push("alert", &[b'a'; 40]), "stop ends the wait");
        assert_eq!(p.overflow(), 1);
        stop.store(false, Ordering::Relaxed);
        drop(c);
        assert!(!p.push("alert", &[b'a'; 40]), "nobody will make room");
        let (mut pf, cf) = ring::<u8>(1);
        pf.set_when_full(WhenFull::Wait(stop));
        assert!(pf.push(1));
        drop(cf);
        assert!(!pf.push(2));
        assert_eq!(pf.overflow(), 1);
    }

    proptest::proptest! {
        /// Any interleaving of pushes (any sizes, some larger than the ring) and drains: the
        /// records that come out are exactly the accepted ones, in order and intact, and every
        /// refused one is counted.
        #[test]
        fn eve_ring_matches_a_queue_model(
            cap in 8usize..300,
            ops in proptest::collection::vec((0usize..120, proptest::bool::ANY), 1..200),
        ) {
            let (mut p, mut c) = eve_ring(cap);
            let mut model = std::collections::VecDeque::new();
            let mut refused = 0u64;
            for (n, (len, drain)) in ops.into_iter().enumerate() {
                let line: Vec<u8> = (0..len).map(|i| (n * 31 + i) as u8).collect();
                let ty = if n % 2 == 0 { "anomaly" } else { "http" };
                if p.push(ty, &line) {
                    model.push_back((ty.to_string(), line));
                } else {
                    refused += 1;
                }
                if drain {
                    let got = drain_all(&mut c);
                    let want: Vec<_> = model.drain(..).collect();
                    proptest::prop_assert_eq!(got, want);
                }
            }
            let got = drain_all(&mut c);
            let want: Vec<_> = model.drain(..).collect();
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert_eq!(p.overflow(), refused);
            proptest::prop_assert_eq!(c.overflow(), refused);
        }
    }

    #[test]
    fn eve_records_cross_threads_in_order() {
        let (mut p, mut c) = eve_ring(4096);
        let t = std::thread::spawn(move || {
            let mut i = 0u64;
            while i < 50_000 {
                let line = format!("{i}:{}", "y".repeat((i % 97) as usize));
                if p.push(if i % 3 == 0 { "anomaly" } else { "http" }, line.as_bytes()) {
                    i += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        });
        let mut next = 0u64;
        while next < 50_000 {
            c.drain(usize::MAX, |t, l| {
                assert_eq!(t, if next % 3 == 0 { "anomaly" } else { "http" });
                let (n, pad) = std::str::from_utf8(l).unwrap().split_once(':').unwrap();
                assert_eq!(n.parse::<u64>().unwrap(), next);
                assert_eq!(pad, "y".repeat((next % 97) as usize));
                next += 1;
            });
        }
        t.join().unwrap();
    }
}
