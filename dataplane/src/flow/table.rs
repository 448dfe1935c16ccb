//! The per-worker flow table.
//!
//! Entries live in a slab (`Vec<FlowEntry>` whose capacity is reserved once for `max_flows`)
//! indexed by an open-addressing array of (slab slot, hash tag) buckets at most half full
//! (linear probing, backward-shift deletion); neither reallocates after start-up, so a packet
//! never allocates. A lookup reads one index cache line and the one entry whose tag and key
//! match; [`FlowTable::prefetch_burst`] prefetches both for a whole burst first.
//!
//! Flow keys are attacker-controlled (anyone can send packets with chosen addresses and ports),
//! so the index hashes with a keyed hasher (aHash, random keys per table unless a seed is
//! configured for reproducible tests) to keep collision floods from degrading lookups.
//!
//! Lifetimes are driven by packet time only: a flow expires when idle longer than its
//! protocol's and state's timeout (Suricata's defaults, see [`FlowTimeouts`]). Expiry is found
//! on lookup (a packet on an expired flow starts a new one) and by [`FlowTable::sweep`], which
//! examines a bounded number of slots per call. When the table is full it enters emergency mode:
//! the emergency timeouts apply and each new flow evicts one victim chosen among a bounded scan
//! of slots — expired flows first, then closed, then new (unestablished), then established, the
//! least recently seen within a class — so a SYN flood recycles its own half-open flows while
//! established flows that keep talking stay tracked. Emergency mode ends once the table is
//! below `100 - emergency_recovery` percent of its capacity.

use ahash::RandomState;

use super::events::StreamEvents;
use super::features::FeatureState;
use super::key::{proto, Direction, FlowHandle, FlowId, FlowKey, FlowTuple, Side};
use super::reassembly::{SegmentPool, StreamSink};
use super::record::{AppProto, EndReason, FlowRecord, FlowRecordSink, FlowState};
use super::stats::{FlowCounters, TcpCounters};
use super::tcp::{StreamConfig, TcpConn, TcpCx, TcpFlags, TcpSegment, TcpState};
use crate::counters::CounterSet;
use crate::time::Timestamp;

/// Timeouts of one protocol class, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Flow not established yet.
    pub new: u32,
    /// Established flow.
    pub established: u32,
    /// Closed TCP session.
    pub closed: u32,
    /// `new` in emergency mode.
    pub emergency_new: u32,
    /// `established` in emergency mode.
    pub emergency_established: u32,
    /// `closed` in emergency mode.
    pub emergency_closed: u32,
}

/// Per-protocol timeouts (Suricata's `flow-timeouts:`); defaults are Suricata's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowTimeouts {
    /// TCP: 60 / 600 / 60, emergency 5 / 100 / 10.
    pub tcp: Timeouts,
    /// UDP: 30 / 300, emergency 10 / 100.
    pub udp: Timeouts,
    /// ICMP (v4 and v6): 30 / 300, emergency 10 / 100.
    pub icmp: Timeouts,
    /// Everything else: 30 / 300 / 0, emergency 10 / 100 / 0.
    pub default: Timeouts,
}

impl Default for FlowTimeouts {
    fn default() -> Self {
        let other = Timeouts {
            new: 30,
            established: 300,
            closed: 0,
            emergency_new: 10,
            emergency_established: 100,
            emergency_closed: 0,
        };
        FlowTimeouts {
            tcp: Timeouts {
                new: 60,
                established: 600,
                closed: 60,
                emergency_new: 5,
                emergency_established: 100,
                emergency_closed: 10,
            },
            udp: other,
            icmp: other,
            default: other,
        }
    }
}

/// Flow table settings (Suricata's `flow:` section plus `stream:`).
#[derive(Clone, Debug)]
pub struct FlowConfig {
    /// Worker id, tagged into every [`FlowId`].
    pub worker_id: u8,
    /// Bytes the table may use for flow entries and their index (`flow.memcap`). Default
    /// 128 MiB, Suricata's shipped value; stream buffers are capped separately by
    /// [`StreamConfig::memcap`].
    pub memcap: usize,
    /// Most flows tracked; 0 derives it from `memcap`.
    pub max_flows: u32,
    /// Idle timeouts.
    pub timeouts: FlowTimeouts,
    /// Leave emergency mode once this percentage of capacity is free again (Suricata: 30).
    pub emergency_recovery: u8,
    /// Slots examined to choose an eviction victim.
    pub eviction_scan: u32,
    /// Fixed hash keys for reproducible runs; `None` draws random keys (the default).
    pub hash_seed: Option<[u64; 4]>,
    /// TCP tracking and reassembly.
    pub stream: StreamConfig,
    /// Measure flow features ([`super::features`]) and carry them in flow records.
    pub features: bool,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            worker_id: 0,
            memcap: 128 << 20,
            max_flows: 0,
            timeouts: FlowTimeouts::default(),
            emergency_recovery: 30,
            eviction_scan: 32,
            hash_seed: None,
            stream: StreamConfig::default(),
            features: false,
        }
    }
}

/// A configuration the table cannot run with.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum FlowConfigError {
    /// The memcap does not hold a single flow.
    #[error("flow memcap of {memcap} bytes holds no flow (one flow needs {per_flow} bytes)")]
    MemcapTooSmall {
        /// Configured memcap.
        memcap: usize,
        /// Bytes accounted per flow.
        per_flow: usize,
    },
    /// More flows than slot indices can address.
    #[error("max_flows {0} exceeds the supported 2^31")]
    TooManyFlows(u64),
    /// Recovery percentage above 100.
    #[error("emergency_recovery {0} is not a percentage")]
    BadRecovery(u8),
}

/// Why a packet got no flow.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum FlowDrop {
    /// The table is full and nothing could be evicted (counted as `flow.memcap_drop`).
    #[error("flow table full")]
    TableFull,
}

/// One packet as the flow layer needs it; the glue builds it from the decoder's summary.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// Flow tuple, source = this packet's sender.
    pub tuple: FlowTuple,
    /// Bytes counted for the flow (the packet's length as captured).
    pub wire_len: u32,
    /// TCP fields when `tuple.proto` is TCP and the header decoded.
    pub tcp: Option<TcpSegment<'a>>,
    /// ICMP type and code when `tuple.proto` is ICMP or ICMPv6.
    pub icmp: Option<[u8; 2]>,
    /// The transport payload (read only for flow features).
    pub payload: &'a [u8],
}

/// A live flow's counters at one moment (index 0: to server, 1: to client).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowSnapshot {
    /// Tuple oriented client → server.
    pub tuple: FlowTuple,
    /// Packets per direction.
    pub pkts: [u64; 2],
    /// Bytes per direction.
    pub bytes: [u64; 2],
    /// First packet's time.
    pub start: Timestamp,
}

/// What the table did with a packet.
#[derive(Clone, Copy, Debug)]
pub struct PacketOutcome {
    /// The packet's flow.
    pub flow: FlowHandle,
    /// The packet's direction within its flow.
    pub dir: Direction,
    /// This packet created the flow.
    pub new_flow: bool,
    /// Flow state after the packet.
    pub state: FlowState,
    /// TCP session state after the packet (TCP flows only).
    pub tcp_state: Option<TcpState>,
    /// Stream anomalies the packet raised (already counted).
    pub events: StreamEvents,
    /// The flow was bypassed before this packet: the packet was counted
    /// (`flow.bypassed_packets`), not tracked, and is not to be inspected.
    pub bypassed: bool,
}

/// One tracked flow. Big per-flow state (stream buffers) lives in the segment pool.
///
/// Laid out by hand and cache-line aligned: the first 64 bytes hold what every lookup reads
/// (key, orientation, hash, last-seen time), the second the per-packet counters, the rest the
/// TCP state only TCP packets touch.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct FlowEntry {
    key: FlowKey,
    client: Side,
    seen_dirs: u8,
    tcp_flags: [u8; 2],
    /// ICMP type and code of each direction's first packet.
    icmp: [[u8; 2]; 2],
    hash: u64,
    last: Timestamp,
    id: FlowId,
    start: Timestamp,
    pkts: [u64; 2],
    bytes: [u64; 2],
    app_proto: AppProto,
    alerted: bool,
    /// Bypassed: packets are counted, not tracked or inspected.
    bypassed: bool,
    live: bool,
    tcp: TcpConn,
}

impl FlowEntry {
    #[inline]
    fn dir_of(&self, sender: Side) -> Direction {
        if sender == self.client {
            Direction::ToServer
        } else {
            Direction::ToClient
        }
    }

    fn state(&self) -> FlowState {
        // TCP is established by its handshake (or a midstream pick-up) only; packets of a
        // session the tracker never picked up in both directions do not make it so.
        if self.key.proto() == proto::TCP {
            match self.tcp.state() {
                TcpState::None | TcpState::SynSent | TcpState::SynRecv => FlowState::New,
                TcpState::TimeWait | TcpState::Closed => FlowState::Closed,
                _ => FlowState::Established,
            }
        } else if self.seen_dirs == 0b11 {
            FlowState::Established
        } else {
            FlowState::New
        }
    }

    fn swap_sides(&mut self) {
        self.client = match self.client {
            Side::Lo => Side::Hi,
            Side::Hi => Side::Lo,
        };
        self.pkts.swap(0, 1);
        self.bytes.swap(0, 1);
        self.tcp_flags.swap(0, 1);
        self.icmp.swap(0, 1);
        self.seen_dirs = ((self.seen_dirs & 1) << 1) | ((self.seen_dirs >> 1) & 1);
        self.tcp.swap();
    }
}

/// One index bucket: the entry's slab slot plus one in the low half (0: empty, so that fresh
/// zeroed memory is an empty index without being written) and the low half of its hash in the
/// high half (the tag, which also names the bucket the entry belongs in), so that probing
/// compares tags inside the index and touches only the entry that matches: one entry access
/// per lookup, and none for a prefetch.
type Bucket = u64;

const EMPTY: Bucket = 0;

#[inline]
fn tag_of(hash: u64) -> u32 {
    hash as u32
}

#[inline]
fn bucket(slot: u32, tag: u32) -> Bucket {
    (tag as u64) << 32 | (slot as u64 + 1)
}

#[inline]
fn bucket_slot(b: Bucket) -> u32 {
    (b as u32).wrapping_sub(1)
}

#[inline]
fn bucket_tag(b: Bucket) -> u32 {
    (b >> 32) as u32
}

/// Smallest bucket array: 16 KiB.
const INDEX_MIN_BUCKETS: usize = 2048;

/// Buckets moved to the new array per insertion and per [`Index::step`] while the index
/// grows. Growth starts when the old array is half full, and the new one (twice as large)
/// reaches half full only after as many insertions as the old array has buckets over two:
/// moving at least two buckets per insertion finishes first, four leaves a margin.
const MIGRATE_STEP: usize = 4;

/// The flow index: open addressing with linear probing over a power-of-two bucket array at
/// most half full, deletion by backward shift (no tombstones, so probe lengths never degrade).
/// Buckets are 8 bytes, eight per cache line; a lookup's probe usually stays within one line,
/// which is what [`FlowTable::prefetch_burst`] prefetches before any lookup of a burst runs.
///
/// The array is sized by the flows tracked now, not by the most the table may hold: sized
/// for the default memcap's 441k flows (8 MiB) while 13.7k flows were live, every lookup
/// missed the core's caches, since each flow's bucket had a line to itself; the index load
/// was the largest single stall of decode + flow. It doubles when half full, without a pause:
/// both arrays are reserved up front at the largest size (zeroed, so untouched pages cost no
/// memory), new entries go to the new array, and each insertion and each
/// [`FlowTable::process`] moves a few whole probe runs (clusters) of the old one across.
/// While that lasts, a lookup that misses the new array also probes the old one.
struct Index {
    /// The current array (`cur`) and the other one: the previous array while growing, else
    /// unused (all zero within its old size).
    arrays: [Box<[Bucket]>; 2],
    cur: usize,
    /// Buckets in use in the current array, minus one.
    mask: usize,
    /// Entries in the index.
    len: usize,
    /// Growing: the old array's mask, where its scan started (an empty bucket), and how many
    /// of its buckets have been moved.
    old: Option<Migration>,
}

#[derive(Clone, Copy, Debug)]
struct Migration {
    mask: usize,
    start: usize,
    done: usize,
}

impl Index {
    /// An index for up to `max` entries (at most half the buckets in use).
    fn new(max: usize) -> Index {
        let n_max = (max.max(1) * 2).next_power_of_two();
        let array = |n: usize| {
            // Zeroed: a fresh mapping the kernel backs only where written. Huge pages are
            // advised before the first write (see `FlowTable::new`).
            let mut a = vec![EMPTY; n].into_boxed_slice();
            crate::dpdk::advise_hugepages(&mut a);
            a
        };
        // Both at the largest size: the arrays take turns as the new one, and which of them
        // reaches the largest size depends on how often it grew.
        let arrays = [array(n_max), array(n_max)];
        let n = n_max.min(INDEX_MIN_BUCKETS);
        Index {
            arrays,
            cur: 0,
            mask: n - 1,
            len: 0,
            old: None,
        }
    }

    /// The current array's buckets in use.
    #[cfg(test)]
    fn buckets(&self) -> &[Bucket] {
        &self.arrays[self.cur][..=self.mask]
    }

    /// The bucket where probing for `hash` starts.
    #[inline]
    fn first(&self, hash: u64) -> &Bucket {
        &self.arrays[self.cur][tag_of(hash) as usize & self.mask]
    }

    /// The slot whose tag matches `hash` and for which `eq` holds.
    #[inline]
    fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let found = probe(&self.arrays[self.cur], self.mask, tag_of(hash), &mut eq);
        match self.old {
            Some(m) if found.is_none() => {
                probe(&self.arrays[1 - self.cur], m.mask, tag_of(hash), &mut eq)
            }
            _ => found,
        }
    }

    /// Adds `slot` (not present) under `hash`.
    fn insert(&mut self, hash: u64, slot: u32) {
        if self.old.is_some() {
            self.step(MIGRATE_STEP);
        }
        if (self.len + 1) * 2 > self.mask + 1 {
            // Growing never reaches this point (see `MIGRATE_STEP`); if it did, the move
            // would be finished at once rather than the array filled past half.
            self.step(usize::MAX);
            self.grow();
        }
        let a = &mut self.arrays[self.cur];
        place(a, self.mask, bucket(slot, tag_of(hash)));
        self.len += 1;
    }

    /// Removes `slot`, filed under `hash`; shifts the following run back to close the hole.
    fn remove(&mut self, hash: u64, slot: u32) {
        let tag = tag_of(hash);
        if unplace(&mut self.arrays[self.cur], self.mask, tag, slot) {
            self.len -= 1;
            return;
        }
        if let Some(m) = self.old {
            // In the old array's part not moved yet: a backward shift there stays within the
            // run it happens in, which the scan has not reached.
            if unplace(&mut self.arrays[1 - self.cur], m.mask, tag, slot) {
                self.len -= 1;
            }
        }
    }

    /// Starts doubling (unless at the largest size): the current array becomes the old one.
    fn grow(&mut self) {
        let n = self.mask + 1;
        let new = 1 - self.cur;
        if 2 * n > self.arrays[new].len() {
            // At the largest size, which holds `max` entries at most half full.
            return;
        }
        // Start the scan at an empty bucket, so that no run is cut in two (one exists: at
        // most half the buckets are full).
        let start = self.arrays[self.cur][..n]
            .iter()
            .position(|&b| b == EMPTY)
            .unwrap_or(0);
        self.old = Some(Migration {
            mask: n - 1,
            start,
            done: 0,
        });
        self.cur = new;
        self.mask = 2 * n - 1;
    }

    /// Moves at least `budget` buckets of the old array (whole runs) to the current one.
    fn step(&mut self, budget: usize) {
        let Some(mut m) = self.old else {
            return;
        };
        let n = m.mask + 1;
        let (cur, old) = if self.cur == 0 {
            let (a, b) = self.arrays.split_at_mut(1);
            (&mut a[0], &mut b[0])
        } else {
            let (a, b) = self.arrays.split_at_mut(1);
            (&mut b[0], &mut a[0])
        };
        let mut moved = 0;
        while moved < budget && m.done < n {
            let i = (m.start + m.done) & m.mask;
            let b = old[i];
            m.done += 1;
            moved += 1;
            if b == EMPTY {
                continue;
            }
            // A run: this bucket and those up to the next empty one, moved whole, so that no
            // probe in the old array crosses a hole.
            old[i] = EMPTY;
            place(cur, self.mask, b);
            while m.done < n {
                let j = (m.start + m.done) & m.mask;
                let b = old[j];
                if b == EMPTY {
                    break;
                }
                old[j] = EMPTY;
                place(cur, self.mask, b);
                m.done += 1;
                moved += 1;
            }
        }
        self.old = (m.done < n).then_some(m);
    }
}

/// Linear probe of `a[..=mask]` for a bucket with `tag` whose slot satisfies `eq`.
#[inline]
fn probe(a: &[Bucket], mask: usize, tag: u32, eq: &mut impl FnMut(u32) -> bool) -> Option<u32> {
    let mut i = tag as usize & mask;
    // Bounded: at least half the buckets are empty.
    for _ in 0..=mask {
        let b = a[i];
        if b == EMPTY {
            return None;
        }
        if bucket_tag(b) == tag && eq(bucket_slot(b)) {
            return Some(bucket_slot(b));
        }
        i = (i + 1) & mask;
    }
    None
}

/// Puts `b` in the first empty bucket from its home.
#[inline]
fn place(a: &mut [Bucket], mask: usize, b: Bucket) {
    let mut i = bucket_tag(b) as usize & mask;
    for _ in 0..=mask {
        if a[i] == EMPTY {
            a[i] = b;
            return;
        }
        i = (i + 1) & mask;
    }
    // Unreachable while the array is at most half full.
    debug_assert!(false, "flow index full");
}

/// Removes `slot` filed under `tag` from `a[..=mask]` by backward shift; false if absent.
fn unplace(a: &mut [Bucket], mask: usize, tag: u32, slot: u32) -> bool {
    let mut i = tag as usize & mask;
    let mut found = None;
    for _ in 0..=mask {
        let b = a[i];
        if b == EMPTY {
            break;
        }
        if bucket_slot(b) == slot {
            found = Some(i);
            break;
        }
        i = (i + 1) & mask;
    }
    let Some(mut hole) = found else {
        return false;
    };
    let mut j = hole;
    for _ in 0..=mask {
        j = (j + 1) & mask;
        let b = a[j];
        if b == EMPTY {
            break;
        }
        // `b` may fill the hole when the hole lies between its home and where it sits.
        let home = bucket_tag(b) as usize & mask;
        if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
            a[hole] = b;
            hole = j;
        }
    }
    a[hole] = EMPTY;
    true
}

/// Bytes of index accounted per flow: 8-byte buckets, 2 to 4 per flow in the current array
/// (at most half full, power-of-two rounding), and the pages of the other array, half as
/// large, written while it was current.
const INDEX_BYTES_PER_FLOW: usize = 48;

/// What the sweep reads of a slot, kept apart from the 256-byte entries: the sweep examines a
/// few dozen slots per burst, and reading whole entries for that was four cache lines per slot
/// (6.6% of a worker without rules in `osprey bench`); these are four slots per line. Written
/// at the end of every [`FlowTable::process`] and when a slot is filled or freed, so it always
/// equals the entry's `last`, state and liveness.
#[derive(Clone, Copy, Debug)]
struct SweepSlot {
    last: Timestamp,
    /// Timeout class of the protocol ([`timeout_class`]).
    class: u8,
    state: FlowState,
    live: bool,
}

const SWEEP_BYTES_PER_FLOW: usize = std::mem::size_of::<SweepSlot>();

/// [`FlowTable::timeout_of`]'s table: ns by [emergency][timeout class][state].
fn timeout_table(t: &FlowTimeouts) -> [[[u64; 3]; 4]; 2] {
    let ns = |secs: u32| u64::from(secs) * 1_000_000_000;
    let mut tab = [[[0; 3]; 4]; 2];
    for (class, c) in [&t.tcp, &t.udp, &t.icmp, &t.default]
        .into_iter()
        .enumerate()
    {
        tab[0][class] = [ns(c.new), ns(c.established), ns(c.closed)];
        tab[1][class] = [
            ns(c.emergency_new),
            ns(c.emergency_established),
            ns(c.emergency_closed),
        ];
    }
    tab
}

/// Index of a protocol's timeouts: TCP, UDP, ICMP, other.
#[inline]
fn timeout_class(p: u8) -> u8 {
    match p {
        proto::TCP => 0,
        proto::UDP => 1,
        proto::ICMP | proto::ICMPV6 => 2,
        _ => 3,
    }
}

/// Size of one flow entry in bytes (excluding stream buffers).
pub const FLOW_ENTRY_BYTES: usize = std::mem::size_of::<FlowEntry>();
// The budget for an entry without its stream buffers.
const _: () = assert!(FLOW_ENTRY_BYTES <= 256);

/// Bytes accounted against the memcap per tracked flow.
pub const FLOW_BYTES_ACCOUNTED: usize =
    FLOW_ENTRY_BYTES + INDEX_BYTES_PER_FLOW + SWEEP_BYTES_PER_FLOW;

/// One worker's flows. Never shared: symmetric RSS sends both directions of a flow to the same
/// worker.
pub struct FlowTable {
    entries: Vec<FlowEntry>,
    /// Parallel to `entries`.
    sweep: Vec<SweepSlot>,
    free: Vec<u32>,
    index: Index,
    hasher: RandomState,
    cfg: FlowConfig,
    /// Timeouts in ns by [emergency][timeout class][state], from `cfg.timeouts`: every lookup
    /// and every swept slot needs one, and a table is a load where the match was a chain of
    /// branches.
    timeout_ns_tab: [[[u64; 3]; 4]; 2],
    max_flows: u32,
    next_seq: u64,
    sweep_cursor: u32,
    evict_cursor: u32,
    /// Slot of the flow the last packet went to (checked by key and liveness before use).
    recent: u32,
    emergency: bool,
    pool: SegmentPool,
    ctr: FlowCounters,
    tcp_ctr: TcpCounters,
    /// Flow features by slot; empty when they are off.
    features: Vec<FeatureState>,
}

impl std::fmt::Debug for FlowTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowTable")
            .field("active", &self.ctr.active)
            .field("max_flows", &self.max_flows)
            .field("emergency", &self.emergency)
            .finish()
    }
}

impl FlowTable {
    /// Builds a table, reserving its memory up front.
    pub fn new(cfg: FlowConfig) -> Result<FlowTable, FlowConfigError> {
        if cfg.emergency_recovery > 100 {
            return Err(FlowConfigError::BadRecovery(cfg.emergency_recovery));
        }
        let by_memcap = (cfg.memcap / FLOW_BYTES_ACCOUNTED) as u64;
        let max = if cfg.max_flows == 0 {
            by_memcap
        } else {
            by_memcap.min(cfg.max_flows as u64)
        };
        if max == 0 {
            return Err(FlowConfigError::MemcapTooSmall {
                memcap: cfg.memcap,
                per_flow: FLOW_BYTES_ACCOUNTED,
            });
        }
        if max > 1 << 31 {
            return Err(FlowConfigError::TooManyFlows(max));
        }
        let max_flows = max as u32;
        let hasher = match cfg.hash_seed {
            Some([a, b, c, d]) => RandomState::with_seeds(a, b, c, d),
            None => RandomState::new(),
        };
        let timeout_ns_tab = timeout_table(&cfg.timeouts);
        let mut entries = Vec::with_capacity(max_flows as usize);
        // Lookups land anywhere in the slab (hundreds of MB at a million flows): on 4 KiB
        // pages most of them would miss the TLB as well as the caches. The slab is reserved
        // here and written only as flows arrive, so the advice comes before any page faults.
        crate::dpdk::advise_hugepages(entries.spare_capacity_mut());
        Ok(FlowTable {
            entries,
            sweep: Vec::with_capacity(max_flows as usize),
            free: Vec::with_capacity(max_flows as usize),
            index: Index::new(max_flows as usize),
            hasher,
            pool: SegmentPool::new(cfg.stream.memcap, cfg.stream.max_buffered_per_dir),
            max_flows,
            // Ids start at 1: EVE writers read 0 as "no flow".
            next_seq: 1,
            sweep_cursor: 0,
            evict_cursor: 0,
            recent: 0,
            emergency: false,
            ctr: FlowCounters::default(),
            tcp_ctr: TcpCounters::default(),
            features: if cfg.features {
                Vec::with_capacity(max_flows as usize)
            } else {
                Vec::new()
            },
            timeout_ns_tab,
            cfg,
        })
    }

    /// Makes the next [`FlowTable::process`] look its flow up through the index (tests compare
    /// the shortcut for a packet of the previous packet's flow with this).
    #[cfg(test)]
    pub(crate) fn forget_recent(&mut self) {
        self.recent = u32::MAX;
    }

    /// Most flows this table tracks at once.
    pub fn max_flows(&self) -> u32 {
        self.max_flows
    }

    /// Flows tracked now.
    pub fn active(&self) -> usize {
        self.ctr.active as usize
    }

    /// Whether the table is in emergency mode.
    pub fn in_emergency(&self) -> bool {
        self.emergency
    }

    /// Flow counters.
    pub fn counters(&self) -> &FlowCounters {
        &self.ctr
    }

    /// TCP and reassembly counters.
    pub fn tcp_counters(&self) -> &TcpCounters {
        &self.tcp_ctr
    }

    /// Bytes of stream buffers in use (`tcp.reassembly_memuse`).
    pub fn reassembly_memuse(&self) -> usize {
        self.pool.memuse()
    }

    /// The reassembly memcap in effect (whole chunks).
    pub fn reassembly_memcap(&self) -> usize {
        self.pool.memcap()
    }

    /// Sets a live flow's app-layer features (ignored when features are off or the flow is
    /// gone).
    pub fn set_app_features(&mut self, h: FlowHandle, app: vocab::flow::AppFeatures) {
        if let Some(f) = self.live_features(h) {
            f.set_app(app);
        }
    }

    /// A live flow's app-layer features so far (`None` when features are off or the flow is
    /// gone).
    pub fn app_features(&mut self, h: FlowHandle) -> Option<vocab::flow::AppFeatures> {
        self.live_features(h).map(|f| f.app())
    }

    fn live_features(&mut self, h: FlowHandle) -> Option<&mut FeatureState> {
        self.live_mut(h)?;
        self.features.get_mut(h.slot())
    }

    /// Records the application protocol of a live flow; ignored for a stale handle.
    pub fn set_app_proto(&mut self, h: FlowHandle, app: AppProto) {
        if let Some(e) = self.live_mut(h) {
            e.app_proto = app;
        }
    }

    /// Marks a live flow as having alerted; ignored for a stale handle.
    pub fn set_alerted(&mut self, h: FlowHandle) {
        if let Some(e) = self.live_mut(h) {
            e.alerted = true;
        }
    }

    /// Bypasses a live flow (Suricata's local bypass): its later packets are counted
    /// (`flow.bypassed_packets`, `flow.bypassed_bytes`) and neither tracked nor inspected, and
    /// its buffered stream data is freed. Returns whether it was newly bypassed; a stale
    /// handle is ignored.
    pub fn set_bypassed(&mut self, h: FlowHandle) -> bool {
        let Some(e) = self
            .entries
            .get_mut(h.slot())
            .filter(|e| e.live && e.id == h.id && !e.bypassed)
        else {
            return false;
        };
        e.bypassed = true;
        e.tcp.release(&mut self.pool);
        self.ctr.bypassed += 1;
        true
    }

    /// What a live flow counted so far, for records written while it runs (alerts).
    pub fn snapshot(&self, h: FlowHandle) -> Option<FlowSnapshot> {
        let e = self.entries.get(h.slot())?;
        (e.live && e.id == h.id).then(|| FlowSnapshot {
            tuple: e.key.tuple_from(e.client),
            pkts: e.pkts,
            bytes: e.bytes,
            start: e.start,
        })
    }

    /// Whether the handle still refers to a live flow.
    pub fn is_live(&self, h: FlowHandle) -> bool {
        self.entries
            .get(h.slot())
            .is_some_and(|e| e.live && e.id == h.id)
    }

    /// Stream chunks buffered by a live flow (both directions).
    pub fn buffered_chunks(&self, h: FlowHandle) -> Option<usize> {
        let e = self.entries.get(h.slot())?;
        (e.live && e.id == h.id).then(|| e.tcp.buffered_chunks())
    }

    fn live_mut(&mut self, h: FlowHandle) -> Option<&mut FlowEntry> {
        self.entries
            .get_mut(h.slot())
            .filter(|e| e.live && e.id == h.id)
    }

    fn timeout_ns(&self, e: &FlowEntry) -> u64 {
        self.timeout_of(timeout_class(e.key.proto()), e.state())
    }

    #[inline]
    fn timeout_of(&self, class: u8, state: FlowState) -> u64 {
        self.timeout_ns_tab[usize::from(self.emergency)][usize::from(class & 3)][state as usize]
    }

    #[inline]
    fn expired(&self, e: &FlowEntry, now: Timestamp) -> bool {
        now.saturating_since(e.last) > self.timeout_ns(e)
    }

    /// Prefetches what processing the packets of `tuples` will read, in two passes over the
    /// burst: every key is hashed and its index bucket prefetched, then every bucket is probed
    /// (now in cache) and the matching flow entry prefetched. Calling this before
    /// [`FlowTable::process`] on a burst's packets lets the CPU overlap the cache misses of
    /// different packets (DPDK's burst-lookup pattern) instead of paying them one after the
    /// other. Changes nothing; a prefetch that turns out stale only costs the hint.
    pub fn prefetch_burst(&self, tuples: &[FlowTuple]) {
        const N: usize = 32;
        for chunk in tuples.chunks(N) {
            let mut hashes = [0u64; N];
            for (h, t) in hashes.iter_mut().zip(chunk) {
                let (key, _) = FlowKey::from_tuple(t);
                *h = self.hasher.hash_one(key);
                crate::dpdk::prefetch(self.index.first(*h));
            }
            for (&h, t) in hashes.iter().zip(chunk) {
                // Tags only: touching the entry here would be the miss we want to hide.
                if let Some(i) = self.index.find(h, |_| true) {
                    if let Some(e) = self.entries.get(i as usize) {
                        // Every line `process` touches: the key's, the counters' (`last`
                        // starts the second line), the TCP state's for TCP, and the sweep
                        // slot. With the first line alone, 1M UDP flows cost 85 ns per
                        // packet in bursts (the counters' and the slot's misses).
                        crate::dpdk::prefetch(e);
                        crate::dpdk::prefetch(&e.last);
                        if t.proto == proto::TCP {
                            crate::dpdk::prefetch(&e.tcp.half[0]);
                            crate::dpdk::prefetch(&e.tcp.half[1]);
                        }
                    }
                    if let Some(s) = self.sweep.get(i as usize) {
                        crate::dpdk::prefetch(s);
                    }
                }
            }
        }
    }

    /// Tracks one packet: finds or creates its flow, updates counters and TCP state, and hands
    /// stream data that became deliverable to `streams`. Flows that end on the way (expired,
    /// evicted, reused) are reported to `records`.
    pub fn process<S: StreamSink, R: FlowRecordSink>(
        &mut self,
        pkt: &Packet<'_>,
        now: Timestamp,
        streams: &mut S,
        records: &mut R,
    ) -> Result<PacketOutcome, FlowDrop> {
        if self.index.old.is_some() {
            // Growing: lookups probe two arrays until the old one is moved across.
            self.index.step(MIGRATE_STEP);
        }
        let (key, side) = FlowKey::from_tuple(&pkt.tuple);
        // Packets come in trains: most follow the previous packet of their own flow (60% of
        // public_mix's), whose entry is still in L1. Checking that entry first skips the hash
        // and the index probe, whose load was the worker's largest single stall.
        let (hash, found) = match self.entries.get(self.recent as usize) {
            Some(e) if e.key == key && e.live => (e.hash, Some(self.recent)),
            _ => {
                let hash = self.hasher.hash_one(key);
                let entries = &self.entries;
                (
                    hash,
                    self.index.find(hash, |i| entries[i as usize].key == key),
                )
            }
        };
        let mut slot = None;
        if let Some(i) = found {
            let e = &self.entries[i as usize];
            let dir = e.dir_of(side);
            if self.expired(e, now) {
                self.count_timeout(i);
                let reason = self.timeout_reason(i);
                self.end_flow(i, reason, streams, records);
            } else if let Some(seg) = pkt.tcp.as_ref().filter(|_| key.proto() == proto::TCP) {
                if e.tcp.is_reuse(dir, seg) {
                    self.ctr.tcp_reuse += 1;
                    self.end_flow(i, EndReason::TcpReuse, streams, records);
                } else {
                    slot = Some(i);
                }
            } else {
                slot = Some(i);
            }
        }
        let new_flow = slot.is_none();
        let i = match slot {
            Some(i) => i,
            None => self.create(key, hash, side, now, streams, records)?,
        };
        let e = &mut self.entries[i as usize];
        let mut dir = e.dir_of(side);
        let tcp = pkt.tcp.as_ref().filter(|_| key.proto() == proto::TCP);
        if let Some(seg) = tcp {
            if e.tcp.wants_swap(dir, seg.flags) {
                e.swap_sides();
                if let Some(f) = self.features.get_mut(i as usize) {
                    f.swap();
                }
                dir = dir.other();
            }
            e.tcp_flags[dir.index()] |= seg.flags.0;
        }
        let d = dir.index();
        if let Some(tc) = pkt.icmp {
            if e.pkts[d] == 0 {
                e.icmp[d] = tc;
            }
        }
        if self.cfg.features {
            if let Some(f) = self.features.get_mut(i as usize) {
                f.packet(d, now, pkt.payload, tcp.map(|t| t.flags.0));
            }
        }
        e.pkts[d] += 1;
        e.bytes[d] += pkt.wire_len as u64;
        e.seen_dirs |= 1 << d;
        if now > e.last {
            e.last = now;
        }
        let bypassed = e.bypassed;
        if bypassed {
            self.ctr.bypassed_packets += 1;
            self.ctr.bypassed_bytes += pkt.wire_len as u64;
        }
        let events = match tcp.filter(|_| !bypassed) {
            Some(seg) => {
                let mut cx = TcpCx {
                    cfg: &self.cfg.stream,
                    pool: &mut self.pool,
                    ctr: &mut self.tcp_ctr,
                    sink: streams,
                    flow: FlowHandle::new(i, e.id),
                };
                let ev = e.tcp.process(dir, seg, &mut cx);
                if self.cfg.stream.bypass && e.tcp.depth_done() {
                    // Later packets skip inspection; this one's data up to the depth is
                    // inspected as usual.
                    e.bypassed = true;
                    e.tcp.release(&mut self.pool);
                    self.ctr.bypassed += 1;
                    self.ctr.bypassed_depth += 1;
                }
                ev
            }
            None => StreamEvents::default(),
        };
        let is_tcp = key.proto() == proto::TCP;
        let state = e.state();
        let out = PacketOutcome {
            flow: FlowHandle::new(i, e.id),
            dir,
            new_flow,
            state,
            tcp_state: is_tcp.then(|| e.tcp.state()),
            events,
            bypassed,
        };
        let last = e.last;
        let s = &mut self.sweep[i as usize];
        s.last = last;
        s.state = state;
        self.recent = i;
        Ok(out)
    }

    fn create<S: StreamSink, R: FlowRecordSink>(
        &mut self,
        key: FlowKey,
        hash: u64,
        client: Side,
        now: Timestamp,
        streams: &mut S,
        records: &mut R,
    ) -> Result<u32, FlowDrop> {
        if self.ctr.active >= self.max_flows as u64 {
            if !self.emergency {
                self.emergency = true;
                self.ctr.emerg_mode_entered += 1;
            }
            if !self.evict_one(now, streams, records) {
                self.ctr.memcap_drop += 1;
                return Err(FlowDrop::TableFull);
            }
        }
        let id = FlowId::new(self.cfg.worker_id, self.next_seq);
        self.next_seq += 1;
        let entry = FlowEntry {
            key,
            hash,
            id,
            start: now,
            last: now,
            pkts: [0; 2],
            bytes: [0; 2],
            tcp: TcpConn::default(),
            client,
            tcp_flags: [0; 2],
            icmp: [[0; 2]; 2],
            app_proto: AppProto::Unknown,
            alerted: false,
            bypassed: false,
            seen_dirs: 0,
            live: true,
        };
        let slot = SweepSlot {
            last: now,
            class: timeout_class(key.proto()),
            state: entry.state(),
            live: true,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = entry;
                self.sweep[i as usize] = slot;
                if let Some(f) = self.features.get_mut(i as usize) {
                    *f = FeatureState::default();
                }
                i
            }
            None => {
                // Within the capacity reserved in `new` (active < max_flows here).
                self.entries.push(entry);
                self.sweep.push(slot);
                if self.cfg.features {
                    self.features.push(FeatureState::default());
                }
                self.entries.len() as u32 - 1
            }
        };
        self.index.insert(hash, i);
        self.ctr.active += 1;
        self.ctr.total += 1;
        self.ctr.memuse = self.ctr.active * FLOW_BYTES_ACCOUNTED as u64;
        match key.proto() {
            proto::TCP => self.ctr.tcp += 1,
            proto::UDP => self.ctr.udp += 1,
            proto::ICMP => self.ctr.icmpv4 += 1,
            proto::ICMPV6 => self.ctr.icmpv6 += 1,
            _ => self.ctr.other += 1,
        }
        Ok(i)
    }

    /// Frees one slot: the best victim among `eviction_scan` slots from the eviction cursor.
    fn evict_one<S: StreamSink, R: FlowRecordSink>(
        &mut self,
        now: Timestamp,
        streams: &mut S,
        records: &mut R,
    ) -> bool {
        let n = self.entries.len() as u32;
        if n == 0 {
            return false;
        }
        let scan = self.cfg.eviction_scan.clamp(1, n);
        let mut best: Option<(u8, Timestamp, u32)> = None;
        for _ in 0..scan {
            let i = self.evict_cursor;
            self.evict_cursor = (self.evict_cursor + 1) % n;
            let e = &self.entries[i as usize];
            if !e.live {
                continue;
            }
            let class = if self.expired(e, now) {
                0
            } else {
                match e.state() {
                    FlowState::Closed => 1,
                    FlowState::New => 2,
                    FlowState::Established => 3,
                }
            };
            if best.is_none_or(|(c, t, _)| (class, e.last) < (c, t)) {
                best = Some((class, e.last, i));
                if class == 0 {
                    break;
                }
            }
        }
        let Some((class, _, i)) = best else {
            return false;
        };
        if class == 0 {
            self.count_timeout(i);
            let reason = self.timeout_reason(i);
            self.end_flow(i, reason, streams, records);
        } else {
            self.ctr.get_used_eviction += 1;
            self.end_flow(i, EndReason::Evicted, streams, records);
        }
        true
    }

    fn timeout_reason(&self, i: u32) -> EndReason {
        if self.entries[i as usize].state() == FlowState::Closed {
            EndReason::TcpClosed
        } else {
            EndReason::Timeout
        }
    }

    fn count_timeout(&mut self, i: u32) {
        match self.entries[i as usize].state() {
            FlowState::New => self.ctr.timeout_new += 1,
            FlowState::Established => self.ctr.timeout_established += 1,
            FlowState::Closed => self.ctr.timeout_closed += 1,
        }
    }

    /// Ends expired flows among the next `budget` slots (round robin over the table). Returns
    /// how many flows ended. Call it once per burst with a small budget; the cost is bounded by
    /// `budget` plus the stream data flushed.
    pub fn sweep<S: StreamSink, R: FlowRecordSink>(
        &mut self,
        now: Timestamp,
        budget: usize,
        streams: &mut S,
        records: &mut R,
    ) -> usize {
        let n = self.sweep.len();
        let mut ended = 0;
        let mut left = budget.min(n);
        // The slab never shrinks, so the cursor is always below `n`; kept cheap and safe.
        let mut at = if (self.sweep_cursor as usize) < n {
            self.sweep_cursor as usize
        } else {
            0
        };
        // At most two contiguous runs (the cursor wraps once): a plain loop over each, where a
        // wrap test per slot cost as much as the expiry test.
        while left > 0 {
            let end = (at + left).min(n);
            for i in at..end {
                let s = self.sweep[i];
                if s.live && now.saturating_since(s.last) > self.timeout_of(s.class, s.state) {
                    debug_assert!(self.expired(&self.entries[i], now));
                    self.count_timeout(i as u32);
                    let reason = self.timeout_reason(i as u32);
                    self.end_flow(i as u32, reason, streams, records);
                    ended += 1;
                }
            }
            left -= end - at;
            at = if end == n { 0 } else { end };
        }
        self.sweep_cursor = at as u32;
        self.check_emergency_over();
        ended
    }

    fn check_emergency_over(&mut self) {
        let keep = 100 - self.cfg.emergency_recovery as u64;
        if self.emergency && self.ctr.active * 100 <= self.max_flows as u64 * keep {
            self.emergency = false;
            self.ctr.emerg_mode_over += 1;
        }
    }

    /// Ends every flow (shutdown), flushing streams and emitting one record per flow.
    pub fn drain_all<S: StreamSink, R: FlowRecordSink>(
        &mut self,
        streams: &mut S,
        records: &mut R,
    ) {
        for i in 0..self.entries.len() as u32 {
            if self.entries[i as usize].live {
                self.ctr.end_shutdown += 1;
                self.end_flow(i, EndReason::Shutdown, streams, records);
            }
        }
        self.check_emergency_over();
    }

    fn end_flow<S: StreamSink, R: FlowRecordSink>(
        &mut self,
        i: u32,
        reason: EndReason,
        streams: &mut S,
        records: &mut R,
    ) {
        let e = &mut self.entries[i as usize];
        let handle = FlowHandle::new(i, e.id);
        if e.key.proto() == proto::TCP {
            let mut cx = TcpCx {
                cfg: &self.cfg.stream,
                pool: &mut self.pool,
                ctr: &mut self.tcp_ctr,
                sink: &mut *streams,
                flow: handle,
            };
            e.tcp.finish(&mut cx);
        }
        streams.flow_ended(handle);
        let e = &self.entries[i as usize];
        let rec = FlowRecord {
            id: e.id,
            tuple: e.key.tuple_from(e.client),
            pkts_toserver: e.pkts[0],
            pkts_toclient: e.pkts[1],
            bytes_toserver: e.bytes[0],
            bytes_toclient: e.bytes[1],
            start: e.start,
            end: e.last,
            tcp_flags_ts: TcpFlags(e.tcp_flags[0]),
            tcp_flags_tc: TcpFlags(e.tcp_flags[1]),
            icmp: e.icmp,
            tcp_state: (e.key.proto() == proto::TCP).then(|| e.tcp.state()),
            state: e.state(),
            reason,
            app_proto: e.app_proto,
            alerted: e.alerted,
            bypassed: e.bypassed,
            features: self.features.get(i as usize).map(FeatureState::finish),
        };
        records.flow_end(&rec);
        self.ctr.records += 1;
        let hash = e.hash;
        self.index.remove(hash, i);
        self.entries[i as usize].live = false;
        self.sweep[i as usize].live = false;
        self.free.push(i);
        self.ctr.active -= 1;
        self.ctr.memuse = self.ctr.active * FLOW_BYTES_ACCOUNTED as u64;
    }
}

impl CounterSet for FlowTable {
    fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        self.ctr.visit(f);
        self.tcp_ctr.visit(f);
        f("tcp.reassembly_memuse", self.pool.memuse() as u64);
    }
}

#[cfg(test)]
mod index_tests {
    use super::*;
    use std::collections::HashMap;

    fn used(idx: &Index) -> usize {
        let mut n = idx.buckets().iter().filter(|&&b| b != EMPTY).count();
        if let Some(m) = idx.old {
            n += idx.arrays[1 - idx.cur][..=m.mask]
                .iter()
                .filter(|&&b| b != EMPTY)
                .count();
        }
        n
    }

    proptest::proptest! {
        /// Inserts and removes with heavy home-bucket collisions (hashes drawn from a small
        /// range) against a map model: every present slot is found under its hash, removed
        /// ones are not, and no probe run is broken by a deletion.
        #[test]
        fn index_matches_a_map_model(ops in proptest::collection::vec((0u64..40, proptest::bool::ANY), 1..400)) {
            let mut idx = Index::new(32);
            let mut model: HashMap<u32, u64> = HashMap::new();
            let mut next = 0u32;
            for (h, add) in ops {
                // Hash `h` spread over tag bits above the home bits too, so tags differ.
                let hash = h | (h << 40);
                if add && model.len() < 32 {
                    idx.insert(hash, next);
                    model.insert(next, hash);
                    next += 1;
                } else if let Some((&slot, &hash)) = model.iter().next() {
                    idx.remove(hash, slot);
                    model.remove(&slot);
                }
                for (&slot, &hash) in &model {
                    proptest::prop_assert_eq!(idx.find(hash, |s| s == slot), Some(slot));
                }
                proptest::prop_assert_eq!(used(&idx), model.len());
            }
        }

        /// The index grows from its smallest array to the largest while entries come and go
        /// and moves are interleaved at random: every present slot stays findable, none is
        /// lost or duplicated, the current array never passes half full, and once the moves
        /// end the old array is empty.
        #[test]
        fn growing_keeps_every_entry_findable(
            ops in proptest::collection::vec((proptest::prelude::any::<u64>(), 0u8..10), 1..6000),
        ) {
            let max = 5000;
            let mut idx = Index::new(max);
            let mut model: HashMap<u32, u64> = HashMap::new();
            let mut next = 0u32;
            let mut grew = false;
            for (i, &(h, op)) in ops.iter().enumerate() {
                // Few distinct homes among some of them, so runs form and cross the array end.
                let hash = if op == 9 { h & 0xffff_0000_0000_001f } else { h };
                if op < 7 && model.len() < max {
                    idx.insert(hash, next);
                    model.insert(next, hash);
                    next += 1;
                } else if op == 7 {
                    idx.step(MIGRATE_STEP);
                } else if let Some((&slot, &hash)) = model.iter().next() {
                    idx.remove(hash, slot);
                    model.remove(&slot);
                }
                grew |= idx.old.is_some();
                proptest::prop_assert!(idx.len * 2 <= idx.mask + 1);
                proptest::prop_assert_eq!(idx.len, model.len());
                // Checking everything each time is quadratic: every 97th operation and the end.
                if i % 97 == 0 || i + 1 == ops.len() {
                    for (&slot, &hash) in &model {
                        proptest::prop_assert_eq!(idx.find(hash, |s| s == slot), Some(slot));
                    }
                    proptest::prop_assert_eq!(used(&idx), model.len());
                }
            }
            idx.step(usize::MAX);
            proptest::prop_assert!(idx.old.is_none());
            let other = &idx.arrays[1 - idx.cur];
            proptest::prop_assert!(other.iter().all(|&b| b == EMPTY));
            for (&slot, &hash) in &model {
                proptest::prop_assert_eq!(idx.find(hash, |s| s == slot), Some(slot));
            }
            if model.len() > INDEX_MIN_BUCKETS {
                proptest::prop_assert!(grew);
            }
        }
    }
}
