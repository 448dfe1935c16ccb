//! The `incidents` column family as plain keys and values: its layout belongs to
//! [`crate::incidents`], which alone reads and writes it.

use rocksdb::{ColumnFamily, Direction, IteratorMode, WriteBatch};

use super::{Store, CF_INCIDENTS};
use crate::error::Result;

/// Writes to the `incidents` column family gathered into one `WriteBatch`: a correlator
/// step's members and headers go in with one write (WAL on, like alerts). RocksDB copies
/// each key and value into the batch, so callers encode into reused buffers.
pub struct IncidentBatch<'a> {
    store: &'a Store,
    cf: &'a ColumnFamily,
    batch: WriteBatch,
}

impl IncidentBatch<'_> {
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.batch.put_cf(self.cf, key, value);
    }

    pub fn delete(&mut self, key: &[u8]) {
        self.batch.delete_cf(self.cf, key);
    }

    /// Deletes the keys in `[from, to)`.
    pub fn delete_range(&mut self, from: &[u8], to: &[u8]) {
        self.batch.delete_range_cf(self.cf, from, to);
    }

    /// Operations gathered.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Writes the batch (refused, and counted, when storage is failing or the volume is
    /// nearly full).
    pub fn commit(self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.store.write(self.batch, "storing incidents")
    }

    /// Writes a batch of deletes even on a nearly full volume (retention is how space
    /// comes back).
    pub fn commit_deletes(self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.store.write_deletes(self.batch, "incident retention")
    }
}

impl Store {
    /// A batch of writes to the `incidents` column family.
    pub fn incident_batch(&self) -> Result<IncidentBatch<'_>> {
        Ok(IncidentBatch {
            store: self,
            cf: self.cf(CF_INCIDENTS)?,
            batch: WriteBatch::default(),
        })
    }

    pub fn get_incident_record(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(CF_INCIDENTS)?, key)?)
    }

    /// Compacts the `incidents` column family so that deleted records give their space
    /// back (after a size-capped retention pass).
    pub fn compact_incidents(&self) -> Result<()> {
        self.db
            .compact_range_cf(self.cf(CF_INCIDENTS)?, None::<&[u8]>, None::<&[u8]>);
        Ok(())
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
