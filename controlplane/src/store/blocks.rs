//! Block-list entries, one JSON record each under key prefix `b` in the `rules` column family
//! (what the workers enforce, beside the ruleset); the next entry id in `meta`.

use rocksdb::WriteBatch;

use super::{Store, CF_META, CF_RULES};
use crate::blocks::StoredBlock;
use crate::error::{Error, Kind, Result};

const META_NEXT_BLOCK: &[u8] = b"next_block_id";

fn block_key(id: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'b';
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

impl Store {
    /// Writes `entries` (insert or replace) and remembers `next_id` for the next one, in one
    /// batch.
    pub fn put_blocks(&self, entries: &[StoredBlock], next_id: u64) -> Result<()> {
        let cf = self.cf(CF_RULES)?;
        let mut batch = WriteBatch::default();
        for b in entries {
            let v = serde_json::to_vec(b).map_err(|e| Error::internal(e.to_string()))?;
            batch.put_cf(cf, block_key(b.id), v);
        }
        batch.put_cf(self.cf(CF_META)?, META_NEXT_BLOCK, next_id.to_be_bytes());
        self.write(batch, "storing block-list entries")
    }

    /// Deletes the entries `ids` in one batch.
    pub fn delete_blocks(&self, ids: &[u64]) -> Result<()> {
        let cf = self.cf(CF_RULES)?;
        let mut batch = WriteBatch::default();
        for id in ids {
            batch.delete_cf(cf, block_key(*id));
        }
        self.write(batch, "deleting block-list entries")
    }

    /// Every stored entry, by id.
    pub fn all_blocks(&self) -> Result<Vec<StoredBlock>> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_RULES)?);
        it.seek([b'b']);
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if k.first() != Some(&b'b') {
                break;
            }
            out.push(
                serde_json::from_slice(v)
                    .map_err(|e| Error::new(Kind::Corrupt, format!("block-list entry: {e}")))?,
            );
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// The id the next entry gets (1 in a new store).
    pub fn next_block_id(&self) -> Result<u64> {
        Ok(self.meta_u64(META_NEXT_BLOCK)?.unwrap_or(1))
    }
}
