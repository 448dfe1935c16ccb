//! TCP stream reassembly: per-direction ordered segment lists over one bounded chunk pool.
//!
//! Payload is copied into fixed-size chunks ([`CHUNK_SIZE`] bytes) taken from a per-worker
//! [`SegmentPool`] whose memory is reserved once up to the reassembly memcap, so storing a
//! segment never calls the allocator. Each direction keeps a singly linked list of chunks sorted
//! by stream offset, without overlaps (offset 0 is the byte after the SYN, or the first byte
//! seen when the stream was picked up midstream).
//!
//! # Overlap policy
//! **First data wins** (Suricata's default `bsd`-like behaviour for the common case): bytes
//! already buffered are kept; the overlapping part of a later segment is compared with them and
//! discarded. A difference raises `stream.reassembly_overlap_different_data` and counts
//! `tcp.overlap_diff_data`; every overlap counts `tcp.overlap`. Data that overlaps bytes already
//! handed to consumers cannot be compared any more (it has been released) and is dropped,
//! counted as `tcp.overlap`.
//!
//! # Hand-off
//! `SegmentPool::deliver` hands the in-order prefix to a [`StreamSink`] up to a data limit,
//! and reports a gap for a hole once the hole lies below the gap limit (the receiver acknowledged
//! bytes we never saw, or the stream is being flushed at its end). The TCP layer picks the
//! limits: in IDS mode both are the peer's ACK; inline, data goes at once and gaps wait for the
//! ACK. Nothing is handed on past the reassembly depth.

use super::key::{Direction, FlowHandle};
use super::stats::TcpCounters;

/// Bytes per pool chunk. 512 stores a 1460-byte segment in three chunks (95% fill) while
/// keeping small segments from wasting much.
pub const CHUNK_SIZE: usize = 512;
const NONE: u32 = u32::MAX;

/// Receives in-order stream data, per flow and direction.
///
/// Each call names the flow by its [`FlowHandle`], whose slot indexes per-flow state kept
/// beside the table (see [`FlowHandle::slot`]).
pub trait StreamSink {
    /// `data` starts at byte `offset` of the direction's stream (0 = first byte after the SYN).
    fn data(&mut self, flow: FlowHandle, dir: Direction, offset: u64, data: &[u8]);
    /// `len` bytes starting at `offset` were never seen and will never be delivered.
    fn gap(&mut self, flow: FlowHandle, dir: Direction, offset: u64, len: u64);
    /// The direction's stream is over (FIN handed on, RST, flow end or depth reached); no
    /// further calls for this direction follow.
    fn end(&mut self, flow: FlowHandle, dir: Direction);
    /// The flow is over: its streams handed on everything, and its record follows. Its slot
    /// may hold another flow as soon as this returns, so state kept by slot must be taken or
    /// reset here.
    fn flow_ended(&mut self, _flow: FlowHandle) {}
}

/// A sink that discards everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullStreamSink;

impl StreamSink for NullStreamSink {
    fn data(&mut self, _: FlowHandle, _: Direction, _: u64, _: &[u8]) {}
    fn gap(&mut self, _: FlowHandle, _: Direction, _: u64, _: u64) {}
    fn end(&mut self, _: FlowHandle, _: Direction) {}
}

/// Stream offsets that bound one [`SegmentPool::deliver`]: contiguous data below `data` is
/// handed on, a hole below `gap` is reported as a gap, nothing past `depth`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub data: u64,
    pub gap: u64,
    pub depth: u64,
}

#[derive(Clone, Copy, Debug)]
struct Node {
    /// Stream offset of the first byte this chunk still holds.
    off: u64,
    next: u32,
    /// Where that byte sits inside the chunk.
    start: u16,
    len: u16,
}

/// Per-direction reassembly state, embedded in the flow entry (32 bytes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reasm {
    /// Sequence number of stream offset 0.
    pub origin: u32,
    /// Next stream offset to hand on.
    pub base_off: u64,
    /// Stream offset of the FIN, `u64::MAX` until one is seen.
    pub fin_off: u64,
    head: u32,
    tail: u32,
    chunks: u16,
    pub flags: u8,
}

/// The sequence-number origin of the stream is known.
pub(crate) const R_ORIGIN: u8 = 0x01;
/// Depth reached: further data is dropped.
pub(crate) const R_DEPTH: u8 = 0x02;
/// `end` was delivered.
pub(crate) const R_ENDED: u8 = 0x04;

impl Default for Reasm {
    fn default() -> Self {
        Reasm {
            origin: 0,
            base_off: 0,
            fin_off: u64::MAX,
            head: NONE,
            tail: NONE,
            chunks: 0,
            flags: 0,
        }
    }
}

impl Reasm {
    /// Sets offset 0 at sequence number `seq`.
    pub fn set_origin(&mut self, seq: u32) {
        self.origin = seq;
        self.flags |= R_ORIGIN;
    }
    /// Whether the origin is known.
    pub fn has_origin(&self) -> bool {
        self.flags & R_ORIGIN != 0
    }
    /// Stream offset of sequence number `seq`, relative to the delivery point so that
    /// wrap-around and streams longer than 4 GiB work. Negative: before offset 0.
    #[inline]
    pub fn off_of(&self, seq: u32) -> i64 {
        let base_seq = self.origin.wrapping_add(self.base_off as u32);
        self.base_off as i64 + seq.wrapping_sub(base_seq) as i32 as i64
    }
    /// Number of pool chunks this direction holds.
    pub fn chunks(&self) -> u16 {
        self.chunks
    }
}

/// What an insert found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct InsertOutcome {
    /// Some bytes overlapped buffered data with different content.
    pub diff_overlap: bool,
    /// Some bytes could not be stored (memcap or per-direction cap).
    pub dropped: bool,
}

/// The bounded chunk store shared by all flows of one worker.
pub struct SegmentPool {
    nodes: Vec<Node>,
    data: Vec<u8>,
    free: u32,
    cap: u32,
    in_use: u32,
    max_per_dir: u16,
}

impl std::fmt::Debug for SegmentPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentPool")
            .field("cap", &self.cap)
            .field("in_use", &self.in_use)
            .finish()
    }
}

impl SegmentPool {
    /// A pool of at most `memcap` bytes of chunks; one direction holds at most
    /// `max_bytes_per_dir` of them. The memory is reserved now and touched as it is used.
    pub fn new(memcap: usize, max_bytes_per_dir: usize) -> SegmentPool {
        let cap = (memcap / CHUNK_SIZE).min(NONE as usize - 1) as u32;
        let max_per_dir = (max_bytes_per_dir / CHUNK_SIZE).clamp(1, u16::MAX as usize) as u16;
        SegmentPool {
            nodes: Vec::with_capacity(cap as usize),
            data: Vec::with_capacity(cap as usize * CHUNK_SIZE),
            free: NONE,
            cap,
            in_use: 0,
            max_per_dir,
        }
    }

    /// Bytes of chunks in use (`tcp.reassembly_memuse`).
    pub fn memuse(&self) -> usize {
        self.in_use as usize * CHUNK_SIZE
    }

    /// The memcap in bytes, rounded down to whole chunks.
    pub fn memcap(&self) -> usize {
        self.cap as usize * CHUNK_SIZE
    }

    fn alloc(&mut self) -> Option<u32> {
        let n = if self.free != NONE {
            let n = self.free;
            self.free = self.nodes[n as usize].next;
            n
        } else if (self.nodes.len() as u32) < self.cap {
            // Grows inside the capacity reserved in `new`: no reallocation.
            self.nodes.push(Node {
                off: 0,
                next: NONE,
                start: 0,
                len: 0,
            });
            self.data.resize(self.data.len() + CHUNK_SIZE, 0);
            self.nodes.len() as u32 - 1
        } else {
            return None;
        };
        self.in_use += 1;
        Some(n)
    }

    fn release(&mut self, n: u32) {
        self.nodes[n as usize].next = self.free;
        self.free = n;
        self.in_use -= 1;
    }

    #[inline]
    fn bytes(&self, n: u32) -> &[u8] {
        let node = &self.nodes[n as usize];
        let base = n as usize * CHUNK_SIZE + node.start as usize;
        &self.data[base..base + node.len as usize]
    }

    /// Stores `payload` whose first byte is at sequence number `seq`. Bytes before the delivery
    /// point or past `depth` are not stored.
    pub(crate) fn insert(
        &mut self,
        r: &mut Reasm,
        seq: u32,
        payload: &[u8],
        depth: u64,
        ctr: &mut TcpCounters,
    ) -> InsertOutcome {
        let mut out = InsertOutcome::default();
        let mut off = r.off_of(seq);
        let mut data = payload;
        if off < r.base_off as i64 {
            // Retransmission of bytes already handed on: they can no longer be compared.
            let skip = ((r.base_off as i64 - off) as u64).min(data.len() as u64) as usize;
            ctr.overlap += 1;
            data = &data[skip..];
            off += skip as i64;
        }
        if data.is_empty() {
            return out;
        }
        let mut off = off as u64;
        if off >= depth {
            self.depth_reached(r, ctr);
            return out;
        }
        if off + data.len() as u64 > depth {
            data = &data[..(depth - off) as usize];
        }
        // Fast path: in-order append after the tail, filling the tail chunk's free room first.
        if r.tail != NONE {
            let t = self.nodes[r.tail as usize];
            let t_end = t.off + t.len as u64;
            if off >= t_end {
                if off == t_end {
                    let room = CHUNK_SIZE - (t.start + t.len) as usize;
                    let take = room.min(data.len());
                    if take > 0 {
                        let at = r.tail as usize * CHUNK_SIZE + (t.start + t.len) as usize;
                        self.data[at..at + take].copy_from_slice(&data[..take]);
                        self.nodes[r.tail as usize].len += take as u16;
                        data = &data[take..];
                        off += take as u64;
                    }
                }
                let tail = r.tail;
                if !data.is_empty() && !self.link_after(r, tail, off, data).1 {
                    out.dropped = true;
                }
                return out;
            }
        }
        // General case: walk the list, fill holes, compare overlaps.
        let end = off + data.len() as u64;
        let mut cur = off;
        let mut prev = NONE;
        let mut n = r.head;
        while cur < end {
            if n == NONE {
                if !self
                    .link_after(r, prev, cur, &data[(cur - off) as usize..])
                    .1
                {
                    out.dropped = true;
                }
                break;
            }
            let node = self.nodes[n as usize];
            let ns = node.off;
            let ne = ns + node.len as u64;
            if ne <= cur {
                prev = n;
                n = node.next;
                continue;
            }
            if ns > cur {
                let hole_end = ns.min(end);
                let piece = &data[(cur - off) as usize..(hole_end - off) as usize];
                let (last, stored) = self.link_after(r, prev, cur, piece);
                if !stored {
                    out.dropped = true;
                    break;
                }
                prev = last;
                cur = hole_end;
                continue;
            }
            let ov_end = ne.min(end);
            let old = &self.bytes(n)[(cur - ns) as usize..(ov_end - ns) as usize];
            let new = &data[(cur - off) as usize..(ov_end - off) as usize];
            ctr.overlap += 1;
            if old != new {
                ctr.overlap_diff_data += 1;
                out.diff_overlap = true;
            }
            cur = ov_end;
            prev = n;
            n = node.next;
        }
        out
    }

    /// Links chunks holding `data` (stream offset `off`) after node `prev` (`NONE`: at the
    /// head). Returns the last chunk linked (or `prev`) and whether every byte was stored.
    fn link_after(
        &mut self,
        r: &mut Reasm,
        mut prev: u32,
        mut off: u64,
        data: &[u8],
    ) -> (u32, bool) {
        let mut rest = data;
        while !rest.is_empty() {
            if r.chunks >= self.max_per_dir {
                return (prev, false);
            }
            let Some(n) = self.alloc() else {
                return (prev, false);
            };
            let take = rest.len().min(CHUNK_SIZE);
            let at = n as usize * CHUNK_SIZE;
            self.data[at..at + take].copy_from_slice(&rest[..take]);
            let next = if prev == NONE {
                r.head
            } else {
                self.nodes[prev as usize].next
            };
            self.nodes[n as usize] = Node {
                off,
                next,
                start: 0,
                len: take as u16,
            };
            if prev == NONE {
                r.head = n;
            } else {
                self.nodes[prev as usize].next = n;
            }
            if next == NONE {
                r.tail = n;
            }
            r.chunks += 1;
            prev = n;
            off += take as u64;
            rest = &rest[take..];
        }
        (prev, true)
    }

    /// Hands on buffered data in order. Contiguous data below `data_limit` goes to the sink; a
    /// hole below `gap_limit` is reported as a gap and skipped. Nothing past `depth` or the FIN
    /// is handed on. Returns the number of gaps reported.
    pub(crate) fn deliver<S: StreamSink>(
        &mut self,
        r: &mut Reasm,
        limits: Limits,
        flow: FlowHandle,
        dir: Direction,
        sink: &mut S,
        ctr: &mut TcpCounters,
    ) -> u32 {
        let Limits {
            data: data_limit,
            gap: gap_limit,
            depth,
        } = limits;
        let stop = depth.min(r.fin_off);
        let data_limit = data_limit.min(stop);
        // A hole after the last chunk is only known to end at a finite limit: the ACK, or the
        // FIN when flushing.
        let tail_gap_limit = if gap_limit == u64::MAX && r.fin_off == u64::MAX {
            u64::MAX
        } else {
            gap_limit.min(stop)
        };
        let gap_limit = gap_limit.min(stop);
        let mut gaps = 0;
        // Each pass consumes a chunk or a hole or stops, so the loop is bounded by the chunk
        // count plus one.
        loop {
            if r.head == NONE {
                if tail_gap_limit != u64::MAX && tail_gap_limit > r.base_off {
                    sink.gap(flow, dir, r.base_off, tail_gap_limit - r.base_off);
                    ctr.reassembly_gap += 1;
                    gaps += 1;
                    r.base_off = tail_gap_limit;
                }
                break;
            }
            let h = r.head;
            let node = self.nodes[h as usize];
            if node.off > r.base_off {
                if r.base_off >= gap_limit {
                    break;
                }
                let gap_end = node.off.min(gap_limit);
                sink.gap(flow, dir, r.base_off, gap_end - r.base_off);
                ctr.reassembly_gap += 1;
                gaps += 1;
                r.base_off = gap_end;
                continue;
            }
            // Chunks never start before the delivery point (insert trims, deliver consumes).
            if r.base_off >= data_limit {
                break;
            }
            let take = (node.len as u64).min(data_limit - r.base_off) as usize;
            sink.data(flow, dir, r.base_off, &self.bytes(h)[..take]);
            ctr.reassembly_bytes += take as u64;
            r.base_off += take as u64;
            let node = &mut self.nodes[h as usize];
            node.off += take as u64;
            node.start += take as u16;
            node.len -= take as u16;
            if node.len == 0 {
                r.head = node.next;
                if r.head == NONE {
                    r.tail = NONE;
                }
                r.chunks -= 1;
                self.release(h);
            }
        }
        if r.base_off >= depth {
            self.depth_reached(r, ctr);
            self.release_all(r);
        }
        gaps
    }

    /// Frees every chunk of a direction.
    pub(crate) fn release_all(&mut self, r: &mut Reasm) {
        let mut n = r.head;
        // Bounded by the chunk count: each step frees one chunk.
        while n != NONE {
            let next = self.nodes[n as usize].next;
            self.release(n);
            n = next;
        }
        r.head = NONE;
        r.tail = NONE;
        r.chunks = 0;
    }

    /// Hands on everything buffered (holes between chunks become gaps), frees the direction's
    /// chunks and ends the direction's stream once.
    pub(crate) fn finish<S: StreamSink>(
        &mut self,
        r: &mut Reasm,
        depth: u64,
        flow: FlowHandle,
        dir: Direction,
        sink: &mut S,
        ctr: &mut TcpCounters,
    ) {
        if r.flags & R_ENDED != 0 {
            self.release_all(r);
            return;
        }
        let limits = Limits {
            data: u64::MAX,
            gap: u64::MAX,
            depth,
        };
        self.deliver(r, limits, flow, dir, sink, ctr);
        self.release_all(r);
        r.flags |= R_ENDED;
        sink.end(flow, dir);
    }

    fn depth_reached(&mut self, r: &mut Reasm, ctr: &mut TcpCounters) {
        if r.flags & R_DEPTH == 0 {
            r.flags |= R_DEPTH;
            ctr.stream_depth_reached += 1;
        }
    }
}
