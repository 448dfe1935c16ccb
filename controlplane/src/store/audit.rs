//! The audit log: one JSON record per call, keyed by time and a sequence number.

use std::sync::atomic::Ordering;

use rocksdb::WriteBatch;

use super::{be_u64, Store, CF_AUDIT};
use crate::error::{Error, Kind, Result};
use crate::model::AuditRecord;

impl Store {
    pub(super) fn last_audit_seq(&self) -> Result<u64> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_AUDIT)?);
        it.seek_to_last();
        Ok(it
            .key()
            .and_then(|k| k.get(8..16))
            .and_then(be_u64)
            .unwrap_or(0))
    }

    // ---- audit ----

    /// Appends an audit record; durable when this returns.
    pub fn append_audit(&self, rec: &AuditRecord) -> Result<()> {
        let seq = self.audit_seq.fetch_add(1, Ordering::Relaxed) + 1;
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&rec.time_nanos.to_be_bytes());
        key[8..].copy_from_slice(&seq.to_be_bytes());
        let v = serde_json::to_vec(rec).map_err(|e| Error::internal(e.to_string()))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_AUDIT)?, key, v);
        self.write(batch, "writing audit record")
    }

    /// Newest audit records first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditRecord>> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_AUDIT)?);
        it.seek_to_last();
        let mut out = Vec::new();
        while let Some(v) = it.value() {
            if out.len() >= limit {
                break;
            }
            out.push(
                serde_json::from_slice(v)
                    .map_err(|e| Error::new(Kind::Corrupt, format!("audit record: {e}")))?,
            );
            it.prev();
        }
        it.status()?;
        Ok(out)
    }
}
