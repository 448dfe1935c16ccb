//! The `incidents` column family as plain keys and values: its layout belongs to
//! [`crate::incidents`], which alone reads and writes it.

use rocksdb::{Direction, IteratorMode, WriteBatch};

use super::{Store, CF_INCIDENTS};
use crate::error::Result;

impl Store {
    /// Writes `puts` in one batch (WAL on, like alerts).
    pub fn put_incident_records(&self, puts: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        if puts.is_empty() {
            return Ok(());
        }
        let cf = self.cf(CF_INCIDENTS)?;
        let mut batch = WriteBatch::default();
        for (k, v) in puts {
            batch.put_cf(cf, k, v);
        }
        self.write(batch, "storing incidents")
    }

    pub fn get_incident_record(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(CF_INCIDENTS)?, key)?)
    }

    /// Up to `limit` records whose key starts with `prefix`, from `from` (inclusive) in key
    /// order, or backwards from `from` when `reverse`.
    pub fn scan_incident_records(
        &self,
        prefix: &[u8],
        from: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let dir = if reverse {
            Direction::Reverse
        } else {
            Direction::Forward
        };
        let it = self
            .db
            .iterator_cf(self.cf(CF_INCIDENTS)?, IteratorMode::From(from, dir));
        let mut out = Vec::new();
        for item in it {
            let (k, v) = item?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }
}
