//! The ruleset (one JSON record per rule) and its reload history, in the `rules` column
//! family; the current generation in `meta`.

use rocksdb::WriteBatch;

use super::{Store, CF_META, CF_RULES, META_GENERATION};
use crate::error::{Error, Kind, Result};
use crate::model::{ReloadRecord, StoredRule};

fn rule_key(gid: u32, sid: u32) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'r';
    k[1..5].copy_from_slice(&gid.to_be_bytes());
    k[5..9].copy_from_slice(&sid.to_be_bytes());
    k
}

impl Store {
    // ---- rules ----

    /// Writes rules (insert or replace) in one batch.
    pub fn put_rules(&self, rules: &[StoredRule]) -> Result<()> {
        let cf = self.cf(CF_RULES)?;
        let mut batch = WriteBatch::default();
        for r in rules {
            let v = serde_json::to_vec(r).map_err(|e| Error::internal(e.to_string()))?;
            batch.put_cf(cf, rule_key(r.gid, r.sid), v);
        }
        self.write(batch, "storing rules")
    }

    pub fn get_rule(&self, gid: u32, sid: u32) -> Result<Option<StoredRule>> {
        match self.db.get_cf(self.cf(CF_RULES)?, rule_key(gid, sid))? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| Error::new(Kind::Corrupt, format!("rule {gid}:{sid}: {e}"))),
        }
    }

    pub fn delete_rule(&self, gid: u32, sid: u32) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_RULES)?, rule_key(gid, sid));
        self.write(batch, "deleting rule")
    }

    /// Every stored rule in (gid, sid) order.
    pub fn all_rules(&self) -> Result<Vec<StoredRule>> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_RULES)?);
        it.seek([b'r']);
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if k.first() != Some(&b'r') {
                break;
            }
            out.push(
                serde_json::from_slice(v)
                    .map_err(|e| Error::new(Kind::Corrupt, format!("rule record: {e}")))?,
            );
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Records a completed reload and makes its generation the current one.
    pub fn append_reload(&self, rec: &ReloadRecord) -> Result<()> {
        let cf = self.cf(CF_RULES)?;
        let mut key = vec![b'h'];
        key.extend_from_slice(&rec.generation.to_be_bytes());
        let mut batch = WriteBatch::default();
        batch.put_cf(
            cf,
            key,
            serde_json::to_vec(rec).map_err(|e| Error::internal(e.to_string()))?,
        );
        batch.put_cf(
            self.cf(CF_META)?,
            META_GENERATION,
            rec.generation.to_be_bytes(),
        );
        self.write(batch, "storing reload record")
    }

    /// Generation of the last recorded reload, 0 if none.
    pub fn generation(&self) -> Result<u64> {
        Ok(self.meta_u64(META_GENERATION)?.unwrap_or(0))
    }

    /// Newest reloads first.
    pub fn reload_history(&self, limit: usize) -> Result<Vec<ReloadRecord>> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_RULES)?);
        let mut end = vec![b'h'];
        end.extend_from_slice(&u64::MAX.to_be_bytes());
        it.seek_for_prev(&end);
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if k.first() != Some(&b'h') || out.len() >= limit {
                break;
            }
            out.push(
                serde_json::from_slice(v)
                    .map_err(|e| Error::new(Kind::Corrupt, format!("reload record: {e}")))?,
            );
            it.prev();
        }
        it.status()?;
        Ok(out)
    }
}
