//! The `reports` column family: stored reports (metadata and content under one id, written
//! in one batch) and the appliance's throughput samples that reports chart.
//!
//! Keys: `m` + id (u64 BE) → [`ReportMeta`] as JSON; `c` + id → the content's bytes;
//! `s` + wall-clock ns (u64 BE) → [`Sample`] as JSON.

use rocksdb::{Direction, IteratorMode, WriteBatch};

use super::{Store, CF_REPORTS};
use crate::error::{Error, Kind, Result};
use crate::reports::{ReportMeta, Sample};

const META: u8 = b'm';
const CONTENT: u8 = b'c';
const SAMPLE: u8 = b's';

fn key(tag: u8, n: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = tag;
    k[1..].copy_from_slice(&n.to_be_bytes());
    k
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(Kind::Corrupt, format!("stored {what}: {e}"))
}

impl Store {
    /// Stores a report under the next id (set in `meta`) and deletes the oldest beyond
    /// `keep`; returns the id.
    pub fn put_report(&self, meta: &mut ReportMeta, content: &[u8], keep: usize) -> Result<u64> {
        let cf = self.cf(CF_REPORTS)?;
        let ids = self.report_ids()?;
        meta.id = ids.last().map_or(1, |l| l + 1);
        let mut batch = WriteBatch::default();
        let value = serde_json::to_vec(meta).map_err(|e| Error::internal(e.to_string()))?;
        batch.put_cf(cf, key(META, meta.id), value);
        batch.put_cf(cf, key(CONTENT, meta.id), content);
        let over = (ids.len() + 1).saturating_sub(keep.max(1));
        for &old in ids.iter().take(over) {
            batch.delete_cf(cf, key(META, old));
            batch.delete_cf(cf, key(CONTENT, old));
        }
        self.write(batch, "storing a report")?;
        Ok(meta.id)
    }

    /// Ids of the stored reports, oldest first.
    fn report_ids(&self) -> Result<Vec<u64>> {
        let it = self.db.iterator_cf(
            self.cf(CF_REPORTS)?,
            IteratorMode::From(&[META], Direction::Forward),
        );
        let mut ids = Vec::new();
        for item in it {
            let (k, _) = item?;
            if k.first() != Some(&META) || k.len() != 9 {
                break;
            }
            ids.push(u64::from_be_bytes(k[1..9].try_into().unwrap_or_default()));
        }
        Ok(ids)
    }

    /// Up to `limit` reports, newest first.
    pub fn list_reports(&self, limit: usize) -> Result<Vec<ReportMeta>> {
        let it = self.db.iterator_cf(
            self.cf(CF_REPORTS)?,
            IteratorMode::From(&key(META, u64::MAX), Direction::Reverse),
        );
        let mut out = Vec::new();
        for item in it {
            let (k, v) = item?;
            if k.first() != Some(&META) || out.len() >= limit {
                break;
            }
            out.push(serde_json::from_slice(&v).map_err(|e| corrupt("report", e))?);
        }
        Ok(out)
    }

    /// One report and its content.
    pub fn get_report(&self, id: u64) -> Result<Option<(ReportMeta, Vec<u8>)>> {
        let cf = self.cf(CF_REPORTS)?;
        let Some(meta) = self.db.get_cf(cf, key(META, id))? else {
            return Ok(None);
        };
        let meta = serde_json::from_slice(&meta).map_err(|e| corrupt("report", e))?;
        let content = self
            .db
            .get_cf(cf, key(CONTENT, id))?
            .ok_or_else(|| corrupt("report", format!("report {id} has no content")))?;
        Ok(Some((meta, content)))
    }

    /// Stores a throughput sample and deletes those older than `oldest_ns`.
    pub fn put_sample(&self, s: &Sample, oldest_ns: u64) -> Result<()> {
        let cf = self.cf(CF_REPORTS)?;
        let mut batch = WriteBatch::default();
        let value = serde_json::to_vec(s).map_err(|e| Error::internal(e.to_string()))?;
        batch.put_cf(cf, key(SAMPLE, s.ts_ns), value);
        if oldest_ns > 0 {
            batch.delete_range_cf(cf, key(SAMPLE, 0), key(SAMPLE, oldest_ns));
        }
        self.write(batch, "storing a throughput sample")
    }

    /// Samples with `from_ns <= ts < to_ns`, oldest first, at most `limit`, plus the one
    /// just before `from_ns` (the base of the first interval) when there is one.
    pub fn samples(&self, from_ns: u64, to_ns: u64, limit: usize) -> Result<Vec<Sample>> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_REPORTS)?);
        it.seek_for_prev(key(SAMPLE, from_ns.saturating_sub(1)));
        if it.key().is_none_or(|k| k.first() != Some(&SAMPLE)) {
            it.seek(key(SAMPLE, from_ns));
        }
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if k.first() != Some(&SAMPLE) || out.len() >= limit {
                break;
            }
            let s: Sample = serde_json::from_slice(v).map_err(|e| corrupt("sample", e))?;
            if s.ts_ns >= to_ns {
                break;
            }
            out.push(s);
            it.next();
        }
        it.status()?;
        Ok(out)
    }
}
