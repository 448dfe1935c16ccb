//! Queries: pages of alerts (by time, sid or address, merging index postings lazily) and of
//! flow records, each bounded by [`SCAN_BUDGET`] entries examined.

use std::net::IpAddr;

use prost::Message;
use rocksdb::{ColumnFamily, DBRawIterator, DB};

use super::{
    decode_alert, ip16, posting, AlertKey, Store, CF_ALERTS, CF_FLOWS, CF_IDX_DST, CF_IDX_SID,
    CF_IDX_SRC, SCAN_BUDGET,
};
use crate::error::{Error, Kind, Result};
use crate::model::{Alert, FlowRecord};
use crate::proto;

/// Which end of the range a query starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// Alert query. Times are packet times in nanoseconds, `end_ns` exclusive; 0 = unbounded.
#[derive(Clone, Debug, Default)]
pub struct AlertFilter {
    pub start_ns: u64,
    pub end_ns: u64,
    pub sid: Option<u32>,
    /// Matches source or destination.
    pub address: Option<IpAddr>,
    pub order: Order,
    /// Continue after this key (from [`Page::next`]).
    pub after: Option<AlertKey>,
    pub limit: usize,
}

/// Flow query.
#[derive(Clone, Debug, Default)]
pub struct FlowFilter {
    pub start_ns: u64,
    pub end_ns: u64,
    pub address: Option<IpAddr>,
    pub app_proto: Option<String>,
    pub order: Order,
    pub after: Option<AlertKey>,
    pub limit: usize,
}

/// One page of results and where to continue, if anywhere.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<AlertKey>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Page {
            items: Vec::new(),
            next: None,
        }
    }
}

impl Store {
    /// Pages through alerts. Uses the sid index when a sid is given, else the address
    /// indices, else the alerts themselves; further filters are checked on the record.
    pub fn query_alerts(&self, f: &AlertFilter) -> Result<Page<Alert>> {
        let limit = f.limit.max(1);
        let (lo, hi) = bounds(f.start_ns, f.end_ns, f.after, f.order);
        let mut page = Page::default();
        if lo >= hi {
            return Ok(page);
        }
        // Plain time range: the values come with the keys.
        if f.sid.is_none() && f.address.is_none() {
            let mut src =
                KeySource::new(&self.db, self.cf(CF_ALERTS)?, Vec::new(), lo, hi, f.order);
            while let Some(key) = src.peek() {
                if page.items.len() == limit {
                    page.next = page.items.last().map(|a: &Alert| AlertKey {
                        ts_nanos: a.ts_nanos,
                        id: a.id,
                    });
                    break;
                }
                if let Some(v) = src.value() {
                    page.items.push(decode_alert(v)?);
                }
                let _ = key;
                src.advance();
            }
            src.status()?;
            return Ok(page);
        }
        let mut sources = Vec::with_capacity(2);
        if let Some(sid) = f.sid {
            sources.push(PostingSource::new(
                &self.db,
                self.cf(CF_IDX_SID)?,
                sid.to_be_bytes().to_vec(),
                lo,
                hi,
                f.order,
            ));
        } else if let Some(ip) = f.address {
            for cf in [CF_IDX_SRC, CF_IDX_DST] {
                sources.push(PostingSource::new(
                    &self.db,
                    self.cf(cf)?,
                    ip16(ip).to_vec(),
                    lo,
                    hi,
                    f.order,
                ));
            }
        }
        let cf_a = self.cf(CF_ALERTS)?;
        let mut scanned = 0usize;
        let mut pending: Vec<AlertKey> = Vec::with_capacity(limit);
        let mut last_examined: Option<AlertKey> = None;
        let mut exhausted = true;
        loop {
            // The next key over all sources, in order; equal heads (src == dst) collapse.
            let next = sources
                .iter_mut()
                .filter_map(|s| s.peek())
                .reduce(|a, b| match f.order {
                    Order::NewestFirst => a.max(b),
                    Order::OldestFirst => a.min(b),
                });
            let Some(key) = next else { break };
            if page.items.len() + pending.len() >= limit || scanned >= SCAN_BUDGET {
                exhausted = false;
                break;
            }
            for s in sources.iter_mut() {
                if s.peek() == Some(key) {
                    s.advance();
                }
            }
            scanned += 1;
            let key = AlertKey::from_u128(key);
            last_examined = Some(key);
            pending.push(key);
            // Fetch in chunks so multi_get amortises lookups.
            if pending.len() >= 128 || page.items.len() + pending.len() >= limit {
                self.resolve(cf_a, &mut pending, f, &mut page.items)?;
            }
        }
        for s in &sources {
            s.status()?;
        }
        self.resolve(cf_a, &mut pending, f, &mut page.items)?;
        if !exhausted {
            page.next = last_examined;
        }
        Ok(page)
    }

    fn resolve(
        &self,
        cf_a: &ColumnFamily,
        pending: &mut Vec<AlertKey>,
        f: &AlertFilter,
        out: &mut Vec<Alert>,
    ) -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let keys: Vec<[u8; 16]> = pending.iter().map(|k| k.bytes()).collect();
        let values = self.db.multi_get_cf(keys.iter().map(|k| (cf_a, k)));
        for v in values {
            // A missing record is an index entry whose alert retention just removed.
            if let Some(bytes) = v? {
                let a = decode_alert(&bytes)?;
                let sid_ok = f.sid.is_none_or(|s| a.sid == s);
                let addr_ok = f.address.is_none_or(|ip| a.src_ip == ip || a.dst_ip == ip);
                if sid_ok && addr_ok {
                    out.push(a);
                }
            }
        }
        pending.clear();
        Ok(())
    }

    /// Pages through flow records by end time.
    pub fn query_flows(&self, f: &FlowFilter) -> Result<Page<FlowRecord>> {
        let limit = f.limit.max(1);
        let (lo, hi) = bounds(f.start_ns, f.end_ns, f.after, f.order);
        let mut page = Page::default();
        if lo >= hi {
            return Ok(page);
        }
        let mut src = KeySource::new(&self.db, self.cf(CF_FLOWS)?, Vec::new(), lo, hi, f.order);
        let mut scanned = 0usize;
        while let Some(key) = src.peek() {
            if page.items.len() == limit || scanned >= SCAN_BUDGET {
                page.next = Some(AlertKey::from_u128(key).prev_in(f.order));
                break;
            }
            scanned += 1;
            if let Some(v) = src.value() {
                let p = proto::Flow::decode(v)
                    .map_err(|e| Error::new(Kind::Corrupt, format!("flow record: {e}")))?;
                let rec = FlowRecord::from(p);
                let addr_ok = f
                    .address
                    .is_none_or(|ip| rec.src_ip == ip || rec.dst_ip == ip);
                let app_ok = f
                    .app_proto
                    .as_deref()
                    .is_none_or(|a| rec.app_proto.eq_ignore_ascii_case(a));
                if addr_ok && app_ok {
                    page.items.push(rec);
                }
            }
            src.advance();
        }
        src.status()?;
        Ok(page)
    }
}

impl AlertKey {
    /// The cursor to continue from when `self` is the first key not yet returned.
    fn prev_in(self, order: Order) -> AlertKey {
        let v = self.to_u128();
        AlertKey::from_u128(match order {
            Order::NewestFirst => v.saturating_add(1),
            Order::OldestFirst => v.saturating_sub(1),
        })
    }
}

/// `[lo, hi)` over alert keys as u128 for a time range and an optional cursor.
fn bounds(start_ns: u64, end_ns: u64, after: Option<AlertKey>, order: Order) -> (u128, u128) {
    let mut lo = u128::from(start_ns) << 64;
    let mut hi = if end_ns == 0 {
        u128::MAX
    } else {
        u128::from(end_ns) << 64
    };
    if let Some(c) = after {
        match order {
            Order::NewestFirst => hi = hi.min(c.to_u128()),
            Order::OldestFirst => lo = lo.max(c.to_u128().saturating_add(1)),
        }
    }
    (lo, hi)
}

/// Walks `prefix ‖ akey` keys of one CF within `[lo, hi)` in the query's order.
struct KeySource<'a> {
    it: DBRawIterator<'a>,
    prefix: Vec<u8>,
    lo: u128,
    hi: u128,
    order: Order,
}

impl<'a> KeySource<'a> {
    fn new(
        db: &'a DB,
        cf: &ColumnFamily,
        prefix: Vec<u8>,
        lo: u128,
        hi: u128,
        order: Order,
    ) -> Self {
        let mut it = db.raw_iterator_cf(cf);
        let mut target = prefix.clone();
        match order {
            Order::OldestFirst => {
                target.extend_from_slice(&lo.to_be_bytes());
                it.seek(&target);
            }
            Order::NewestFirst => {
                target.extend_from_slice(&(hi - 1).to_be_bytes());
                it.seek_for_prev(&target);
            }
        }
        KeySource {
            it,
            prefix,
            lo,
            hi,
            order,
        }
    }

    /// The current key if it is still inside the prefix and range.
    fn peek(&self) -> Option<u128> {
        let k = self.it.key()?;
        let rest = k.strip_prefix(self.prefix.as_slice())?;
        let v = u128::from_be_bytes(rest.try_into().ok()?);
        (v >= self.lo && v < self.hi).then_some(v)
    }

    fn value(&self) -> Option<&[u8]> {
        self.it.value()
    }

    fn advance(&mut self) {
        match self.order {
            Order::OldestFirst => self.it.next(),
            Order::NewestFirst => self.it.prev(),
        }
    }

    fn status(&self) -> Result<()> {
        self.it.status().map_err(Error::from)
    }
}

/// Walks the postings of one prefix in one index CF and yields their alert keys within
/// `[lo, hi)` one by one, in the query's order.
///
/// Postings of different batches may overlap in time, so their keys are merged: loaded
/// postings' keys wait in a heap, and the best one is yielded once no unread posting can hold
/// a better one. Newest first, postings come in decreasing `max_akey` and an unread posting
/// holds nothing above its `max_akey`; oldest first, they come in increasing `max_akey` and
/// an unread one holds nothing below the start of its bucket. A page thus reads the postings
/// it needs, plus at most the rest of one bucket.
struct PostingSource<'a> {
    it: DBRawIterator<'a>,
    prefix: Vec<u8>,
    lo: u128,
    hi: u128,
    order: Order,
    /// Keys of loaded postings within `[lo, hi)`; oldest first they are stored inverted
    /// (`!k`) so the heap's maximum is always the next key in the query's order.
    heap: std::collections::BinaryHeap<u128>,
    /// No posting left to read.
    done: bool,
    scratch: Vec<u128>,
    err: Option<Error>,
}

impl<'a> PostingSource<'a> {
    fn new(
        db: &'a DB,
        cf: &ColumnFamily,
        prefix: Vec<u8>,
        lo: u128,
        hi: u128,
        order: Order,
    ) -> Self {
        let mut it = db.raw_iterator_cf(cf);
        let mut target = prefix.clone();
        match order {
            // A posting holding keys below `hi` ends at the latest in `hi - 1`'s bucket.
            Order::NewestFirst => {
                target.extend_from_slice(&posting::bucket_end(hi - 1).to_be_bytes());
                it.seek_for_prev(&target);
            }
            // A posting holding keys at or above `lo` has its maximum there too.
            Order::OldestFirst => {
                target.extend_from_slice(&lo.to_be_bytes());
                it.seek(&target);
            }
        }
        PostingSource {
            it,
            prefix,
            lo,
            hi,
            order,
            heap: std::collections::BinaryHeap::new(),
            done: false,
            scratch: Vec::new(),
            err: None,
        }
    }

    /// `max_akey` of the posting under the iterator, if it is one this query still needs.
    fn posting_max(&self) -> Option<u128> {
        let k = self.it.key()?;
        let rest = k.strip_prefix(self.prefix.as_slice())?;
        let max = u128::from_be_bytes(rest.try_into().ok()?);
        let needed = match self.order {
            Order::NewestFirst => max >= self.lo,
            Order::OldestFirst => posting::bucket_start(max) < self.hi,
        };
        needed.then_some(max)
    }

    /// Reads postings until the heap's best key is final (or nothing is left).
    fn fill(&mut self) {
        while !self.done {
            let Some(max) = self.posting_max() else {
                self.done = true;
                break;
            };
            if let Some(&top) = self.heap.peek() {
                let ready = match self.order {
                    Order::NewestFirst => top > max,
                    Order::OldestFirst => !top < posting::bucket_start(max),
                };
                if ready {
                    break;
                }
            }
            self.scratch.clear();
            let value = self.it.value().unwrap_or_default();
            if let Err(e) = posting::decode(max, value, &mut self.scratch) {
                self.err = Some(Error::new(
                    Kind::Corrupt,
                    format!("index posting {:032x}: {e}", max),
                ));
                self.done = true;
                self.heap.clear();
                break;
            }
            let (lo, hi) = (self.lo, self.hi);
            let inverted = self.order == Order::OldestFirst;
            self.heap.extend(
                self.scratch
                    .iter()
                    .filter(|&&k| k >= lo && k < hi)
                    .map(|&k| if inverted { !k } else { k }),
            );
            match self.order {
                Order::OldestFirst => self.it.next(),
                Order::NewestFirst => self.it.prev(),
            }
        }
    }

    /// The next key in order, if any.
    fn peek(&mut self) -> Option<u128> {
        self.fill();
        let top = *self.heap.peek()?;
        Some(match self.order {
            Order::NewestFirst => top,
            Order::OldestFirst => !top,
        })
    }

    fn advance(&mut self) {
        self.fill();
        self.heap.pop();
    }

    fn status(&self) -> Result<()> {
        if let Some(e) = &self.err {
            return Err(e.clone());
        }
        self.it.status().map_err(Error::from)
    }
}
