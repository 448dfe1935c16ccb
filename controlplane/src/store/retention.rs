//! Retention: alerts, flows and protocol metadata older than a packet-time age; then, while
//! the database is over its size cap, the oldest slice of all three (one time horizon for
//! everything stored). Each alert is deleted in one batch with the postings it ends. The
//! pass reports its horizon, before which closed incidents are deleted too
//! ([`crate::incidents::IncidentsShared::enforce_retention`]); open incidents stay.

use std::sync::atomic::Ordering;

use rocksdb::{ColumnFamily, WriteBatch};

use super::{
    decode_alert, ip16, AlertKey, Store, CF_ALERTS, CF_FLOWS, CF_HUNT, CF_IDX_DST, CF_IDX_HUNT,
    CF_IDX_SID, CF_IDX_SRC, RETENTION_CHUNK,
};
use crate::error::{Error, Kind, Result};

/// Result of one retention pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub alerts_deleted: u64,
    pub flows_deleted_before_ns: u64,
    /// Protocol metadata records deleted with their index entries ([`super::hunt`]).
    pub metadata_deleted: u64,
    pub size_bytes: u64,
    /// Packet time before which no alert is stored after the pass: the oldest stored
    /// alert's, or when none is left the furthest cutoff applied (0: none). Closed
    /// incidents whose last member is older go too (`crate::incidents`).
    pub horizon_ns: u64,
    /// The size cap was over: what is deleted after the pass should be compacted away.
    pub trimmed: bool,
}

impl Store {
    // ---- retention ----

    /// Deletes alerts and flows older than `max_age_ns` before the newest stored record
    /// (packet time, so a replayed old capture is not wiped at once), then the oldest
    /// alerts while the database is larger than `max_bytes`. Each pass deletes at most
    /// `budget` alerts so it never stalls the API for long. 0 disables a limit.
    pub fn enforce_retention(
        &self,
        max_age_ns: u64,
        max_bytes: u64,
        budget: usize,
    ) -> Result<RetentionReport> {
        self.counters.retention_runs.fetch_add(1, Ordering::Relaxed);
        let mut report = RetentionReport::default();
        let mut budget = budget;
        if max_age_ns > 0 {
            if let Some(newest) = self.newest_key(CF_ALERTS)? {
                let cutoff = newest.ts_nanos.saturating_sub(max_age_ns);
                let n = self.delete_oldest_alerts(Some(cutoff), budget)?;
                report.alerts_deleted += n;
                report.horizon_ns = cutoff;
                budget = budget.saturating_sub(n as usize);
            }
            if let Some(newest) = self.newest_key(CF_FLOWS)? {
                let cutoff = newest.ts_nanos.saturating_sub(max_age_ns);
                if cutoff > 0 {
                    let to = AlertKey {
                        ts_nanos: cutoff,
                        id: 0,
                    }
                    .bytes();
                    let mut batch = WriteBatch::default();
                    batch.delete_range_cf(self.cf(CF_FLOWS)?, [0u8; 16], to);
                    self.write_deletes(batch, "flow retention")?;
                    report.flows_deleted_before_ns = cutoff;
                }
            }
            let (n, _) = self.expire_metadata(max_age_ns, budget)?;
            report.metadata_deleted = n;
        }
        if max_bytes > 0 && self.size_bytes() > max_bytes && budget > 0 {
            self.trim_to_size(max_bytes, budget, &mut report)?;
            report.trimmed = true;
        }
        if let Some(oldest) = self.oldest_key(CF_ALERTS)? {
            report.horizon_ns = oldest.ts_nanos;
        }
        report.size_bytes = self.size_bytes();
        self.counters
            .retention_alerts_deleted
            .fetch_add(report.alerts_deleted, Ordering::Relaxed);
        Ok(report)
    }

    /// Over the size cap: deletes the oldest slice of alerts, flows and metadata alike, a
    /// share of the stored time span as large as the share of bytes over the cap (at least
    /// 1,000 alerts when nothing else is older), then compacts
    /// so the files really shrink.
    fn trim_to_size(
        &self,
        max_bytes: u64,
        budget: usize,
        report: &mut RetentionReport,
    ) -> Result<()> {
        let size = self.size_bytes().max(1);
        let over = size.saturating_sub(max_bytes);
        let mut oldest = u64::MAX;
        let mut newest = 0;
        for cf in [CF_ALERTS, CF_FLOWS, CF_HUNT] {
            if let Some(k) = self.oldest_key(cf)? {
                oldest = oldest.min(k.ts_nanos);
            }
            if let Some(k) = self.newest_key(cf)? {
                newest = newest.max(k.ts_nanos);
            }
        }
        if oldest > newest {
            return Ok(());
        }
        let span = newest - oldest;
        let slice = ((span as u128 * over as u128 / size as u128) as u64).max(1);
        let cutoff = oldest.saturating_add(slice).min(newest);
        report.horizon_ns = report.horizon_ns.max(cutoff);
        let flows_before = self
            .oldest_key(CF_FLOWS)?
            .is_some_and(|k| k.ts_nanos < cutoff);
        let mut n = self.delete_oldest_alerts(Some(cutoff), budget)?;
        let to = AlertKey {
            ts_nanos: cutoff,
            id: 0,
        }
        .bytes();
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.cf(CF_FLOWS)?, [0u8; 16], to);
        self.write_deletes(batch, "flow retention")?;
        report.flows_deleted_before_ns = report.flows_deleted_before_ns.max(cutoff);
        let m = self.delete_metadata_before(cutoff, budget)?;
        report.metadata_deleted += m;
        if n == 0 && m == 0 && !flows_before {
            // Nothing older than the slice but alerts within one second: a count instead.
            let total = self.alerts_estimate().max(1);
            let want = (over / (size / total).max(1)) as usize + 1;
            n = self.delete_oldest_alerts(None, want.max(1000).min(budget))?;
        }
        report.alerts_deleted += n;
        for name in [
            CF_ALERTS,
            CF_IDX_SID,
            CF_IDX_SRC,
            CF_IDX_DST,
            CF_FLOWS,
            CF_HUNT,
            CF_IDX_HUNT,
        ] {
            self.db
                .compact_range_cf(self.cf(name)?, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    pub(super) fn oldest_key(&self, cf: &str) -> Result<Option<AlertKey>> {
        let mut it = self.db.raw_iterator_cf(self.cf(cf)?);
        it.seek_to_first();
        let k = it.key().and_then(AlertKey::parse);
        it.status()?;
        Ok(k)
    }

    pub(super) fn newest_key(&self, cf: &str) -> Result<Option<AlertKey>> {
        let mut it = self.db.raw_iterator_cf(self.cf(cf)?);
        it.seek_to_last();
        let k = it.key().and_then(AlertKey::parse);
        it.status()?;
        Ok(k)
    }

    /// Deletes up to `max` oldest alerts (those before `before_ns` if given) with the index
    /// postings they end, in chunks of [`RETENTION_CHUNK`] alerts, each chunk one batch.
    ///
    /// A posting is keyed by its newest alert, which has the posting's prefix; so the
    /// postings a chunk ends are among `prefix ‖ key` of its alerts (see
    /// [`Store::delete_postings`]). Deleting them in the same batch as the alerts keeps "a
    /// posting exists as long as its newest alert" true across crashes.
    pub(super) fn delete_oldest_alerts(&self, before_ns: Option<u64>, max: usize) -> Result<u64> {
        let (cf_a, cf_sid, cf_src, cf_dst) = (
            self.cf(CF_ALERTS)?,
            self.cf(CF_IDX_SID)?,
            self.cf(CF_IDX_SRC)?,
            self.cf(CF_IDX_DST)?,
        );
        let mut deleted = 0u64;
        let mut it = self.db.raw_iterator_cf(cf_a);
        it.seek_to_first();
        let mut sids: Vec<([u8; 4], u128)> = Vec::new();
        let mut srcs: Vec<([u8; 16], u128)> = Vec::new();
        let mut dsts: Vec<([u8; 16], u128)> = Vec::new();
        loop {
            let mut batch = WriteBatch::default();
            sids.clear();
            srcs.clear();
            dsts.clear();
            while (deleted as usize) < max && sids.len() < RETENTION_CHUNK {
                let (Some(k), Some(v)) = (it.key(), it.value()) else {
                    break;
                };
                let Some(key) = AlertKey::parse(k) else {
                    return Err(Error::new(Kind::Corrupt, "alert key is not 16 bytes"));
                };
                if before_ns.is_some_and(|b| key.ts_nanos >= b) {
                    break;
                }
                let a = decode_alert(v)?;
                batch.delete_cf(cf_a, k);
                let k = key.to_u128();
                sids.push((a.sid.to_be_bytes(), k));
                srcs.push((ip16(a.src_ip), k));
                dsts.push((ip16(a.dst_ip), k));
                deleted += 1;
                it.next();
            }
            it.status()?;
            if sids.is_empty() {
                break;
            }
            self.delete_postings(&mut batch, cf_sid, &mut sids)?;
            self.delete_postings(&mut batch, cf_src, &mut srcs)?;
            self.delete_postings(&mut batch, cf_dst, &mut dsts)?;
            self.write_deletes(batch, "retention")?;
        }
        Ok(deleted)
    }

    /// Adds deletes of the postings that end at the chunk's alerts: `entries` are the chunk's
    /// (prefix, alert key) pairs. A posting's key names its newest alert, so the candidates
    /// are exactly `prefix ‖ key` of these pairs. A prefix with one alert in the chunk gets a
    /// blind delete of its one candidate (no read); one with several gets a seek over
    /// `[its first key, its last key]`, so only real postings get tombstones.
    pub(super) fn delete_postings<const N: usize>(
        &self,
        batch: &mut WriteBatch,
        cf: &ColumnFamily,
        entries: &mut [([u8; N], u128)],
    ) -> Result<()> {
        entries.sort_unstable();
        let mut it = self.db.raw_iterator_cf(cf);
        let mut target = Vec::with_capacity(N + 16);
        for run in entries.chunk_by(|a, b| a.0 == b.0) {
            let (p, first) = run[0];
            let last = run[run.len() - 1].1;
            target.clear();
            target.extend_from_slice(&p);
            target.extend_from_slice(&first.to_be_bytes());
            if run.len() == 1 {
                batch.delete_cf(cf, &target);
                continue;
            }
            it.seek(&target);
            while let Some(k) = it.key() {
                let Some(rest) = k.strip_prefix(p.as_slice()) else {
                    break;
                };
                let max = match <[u8; 16]>::try_from(rest) {
                    Ok(m) if u128::from_be_bytes(m) <= last => u128::from_be_bytes(m),
                    _ => break,
                };
                // Only postings ending at an alert of this chunk: a batch stored since the
                // chunk was read may hold an older alert of this prefix, still stored.
                if run.binary_search_by_key(&max, |e| e.1).is_ok() {
                    batch.delete_cf(cf, k);
                }
                it.next();
            }
            it.status()?;
        }
        Ok(())
    }
}
