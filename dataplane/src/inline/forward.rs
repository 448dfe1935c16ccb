//! A worker's side of the inline path: where each received packet goes once its verdict is
//! known. Accepted packets leave on the peer port of their pair from the same mbuf (no copy),
//! blocked ones are freed with their burst, answers to rejected packets are built into mbufs
//! from the worker's pool; everything queued is sent once per burst on the worker's own Tx
//! queues.

use std::sync::Arc;

use crate::decode::LinkType;
use crate::detect::Verdict;
use crate::dpdk::{Burst, Mempool, TxBatch, TxQueue};

use super::reject::{Side, MAX_REPLY};
use super::InlineCounters;

/// Times the unsent tail of a full Tx queue is offered again within a burst before it is
/// freed and counted (`tx.dropped`): a few microseconds at most, never a wait.
pub const TX_RETRIES: u32 = 4;

/// Where packets of one Rx queue go: indices into [`InlineIo`]'s Tx queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The peer port's queue: forwarded packets and answers to the packet's receiver.
    pub peer: usize,
    /// The receiving port's own queue: answers to the packet's sender.
    pub back: usize,
}

/// One worker's Tx side: its queues, a batch per queue, the route of each of its Rx queues.
pub struct InlineIo {
    tx: Vec<TxQueue>,
    batches: Vec<TxBatch>,
    routes: Vec<Option<Route>>,
    pool: Arc<Mempool>,
    reply: Box<[u8; MAX_REPLY]>,
    /// What was forwarded, dropped and answered.
    pub counters: InlineCounters,
    /// TSC when the current burst was received.
    burst_tsc: u64,
    /// Cycles from a burst's receipt to the return of its transmission, per packet sent.
    pub latency: Latency,
}

/// A histogram of cycles with 8 sub-buckets per power of two (at most 12.5% error), fixed
/// size: recording costs a few instructions and never allocates.
#[derive(Clone, Debug)]
pub struct Latency {
    buckets: Box<[u64; 64 * 8]>,
    count: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            buckets: Box::new([0; 64 * 8]),
            count: 0,
        }
    }
}

impl Latency {
    fn bucket(cycles: u64) -> usize {
        if cycles < 8 {
            return cycles as usize;
        }
        let msb = 63 - cycles.leading_zeros() as usize;
        let sub = ((cycles >> (msb - 3)) & 7) as usize;
        (msb - 2) * 8 + sub
    }

    /// Lowest value of bucket `b`.
    fn floor(b: usize) -> u64 {
        if b < 8 {
            return b as u64;
        }
        let msb = b / 8 + 2;
        ((8 + (b % 8)) as u64) << (msb - 3)
    }

    /// Records `n` packets that each took `cycles`.
    #[inline]
    pub fn record(&mut self, cycles: u64, n: u64) {
        self.buckets[Self::bucket(cycles)] += n;
        self.count += n;
    }

    /// The `q`-quantile (0..=1) in cycles (the floor of its bucket), 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((self.count as f64 * q).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (b, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::floor(b);
            }
        }
        0
    }
}

impl std::fmt::Debug for InlineIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineIo")
            .field("tx", &self.tx)
            .field("routes", &self.routes)
            .finish()
    }
}

/// A route naming a Tx queue the worker does not have.
#[derive(Debug, thiserror::Error)]
#[error("route {route:?} of rx queue {rx} names a tx queue beyond the {tx} given")]
pub struct RouteError {
    rx: usize,
    route: Route,
    tx: usize,
}

impl InlineIo {
    /// A Tx side over `tx`; `routes[k]` says where packets of the worker's k-th Rx queue go
    /// (`None`: that queue only watches). Answers are allocated from `pool`.
    pub fn new(
        tx: Vec<TxQueue>,
        routes: Vec<Option<Route>>,
        pool: Arc<Mempool>,
    ) -> Result<InlineIo, RouteError> {
        for (rx, r) in routes.iter().enumerate() {
            if let Some(route) = *r {
                if route.peer >= tx.len() || route.back >= tx.len() {
                    return Err(RouteError {
                        rx,
                        route,
                        tx: tx.len(),
                    });
                }
            }
        }
        Ok(InlineIo {
            batches: tx.iter().map(|_| TxBatch::default()).collect(),
            tx,
            routes,
            pool,
            reply: Box::new([0; MAX_REPLY]),
            counters: InlineCounters::default(),
            burst_tsc: 0,
            latency: Latency::default(),
        })
    }

    /// The route of the worker's Rx queue `rx`.
    #[inline]
    pub fn route(&self, rx: usize) -> Option<Route> {
        self.routes.get(rx).copied().flatten()
    }

    /// Queues the answers a `reject` verdict asks for (to `frame`, received on `route`).
    #[inline]
    pub fn answer(&mut self, link: LinkType, frame: &[u8], v: Verdict, route: Route) {
        let Verdict::Reject(to) = v else {
            return;
        };
        let InlineIo {
            batches,
            pool,
            reply,
            counters,
            ..
        } = self;
        let tx_dropped = &mut 0u64;
        counters.answer(link, frame, to, reply, |side, bytes| {
            let q = match side {
                Side::Src => route.back,
                Side::Dst => route.peer,
            };
            let Some(m) = pool.try_alloc_copy(bytes) else {
                return false;
            };
            if batches[q].push(m).is_err() {
                // The batch holds a burst and an answer per packet: cannot fill up.
                *tx_dropped += 1;
            }
            true
        });
        counters.tx_dropped += *tx_dropped;
    }

    /// Forwards packet `i` of `burst` on `route`'s peer unless verdict `v` blocks it (then it
    /// is freed with the burst).
    #[inline]
    pub fn forward(&mut self, burst: &mut Burst, i: usize, v: Verdict, route: Route) {
        if v.blocks() {
            self.counters.dropped += 1;
            return;
        }
        if self.batches[route.peer].take_from(burst, i) {
            self.counters.forwarded += 1;
        } else {
            self.counters.tx_dropped += 1;
        }
    }

    /// A burst was received at TSC `tsc` (the start of its packets' time in the box).
    #[inline]
    pub fn begin_burst(&mut self, tsc: u64) {
        self.burst_tsc = tsc;
    }

    /// Sends every queued packet (once per burst, after the burst's last packet), and
    /// records how long the sent ones spent in the box.
    #[inline]
    pub fn flush(&mut self) {
        let mut sent = 0u64;
        for (q, b) in self.tx.iter_mut().zip(self.batches.iter_mut()) {
            if b.is_empty() {
                continue;
            }
            let o = q.send(b, TX_RETRIES);
            sent += u64::from(o.sent);
            self.counters.tx_full += u64::from(o.full);
            self.counters.tx_dropped += u64::from(o.dropped);
        }
        if sent > 0 {
            self.counters.tx_packets += sent;
            let cycles = crate::dpdk::rdtsc().wrapping_sub(self.burst_tsc);
            self.latency.record(cycles, sent);
        }
    }

    /// Counters of `io` (zeros for a worker that is not inline, so every worker has the
    /// same set), with the latency quantiles (`inline.latency_p50_cycles`, `_p99_cycles`).
    pub fn visit(io: Option<&InlineIo>, f: &mut dyn FnMut(&'static str, u64)) {
        use crate::counters::CounterSet;
        let idle = InlineCounters::default();
        io.map_or(&idle, |io| &io.counters).visit(f);
        let q = |p| io.map_or(0, |io| io.latency.quantile(p));
        f("inline.latency_p50_cycles", q(0.5));
        f("inline.latency_p99_cycles", q(0.99));
    }
}

#[cfg(test)]
mod tests {
    use super::Latency;

    #[test]
    fn latency_quantiles_are_within_a_bucket() {
        let mut l = Latency::default();
        assert_eq!(l.quantile(0.5), 0);
        for c in 1..=1000u64 {
            l.record(c * 100, 1);
        }
        let p50 = l.quantile(0.5);
        let p99 = l.quantile(0.99);
        assert!((50_000 * 7 / 8..=50_000).contains(&p50), "{p50}");
        assert!((99_000 * 7 / 8..=99_000).contains(&p99), "{p99}");
        for c in [0u64, 1, 7, 8, 9, 15, 16, 1 << 40, u64::MAX] {
            let b = Latency::bucket(c);
            assert!(Latency::floor(b) <= c, "{c}");
            assert!(b < 64 * 8);
        }
    }
}
