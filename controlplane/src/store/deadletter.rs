//! The webhook outputs' dead letters: deliveries that failed every attempt, one JSON record
//! each under key prefix `dead_letter/` + big-endian id in the `meta` column family, the next
//! id under `next_dead_letter_id`. They stay until retried (`osprey ctl outputs deadletter
//! retry`) or removed.

use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use super::{Store, CF_META};

use crate::error::{Error, Kind, Result};

const PREFIX: &[u8] = b"dead_letter/";
const META_NEXT: &[u8] = b"next_dead_letter_id";

/// One delivery that failed every attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: u64,
    /// The webhook's name (`[[webhooks]] name`).
    pub webhook: String,
    /// `alert`, `incident` or `playbook`.
    pub kind: String,
    /// The JSON body that was posted.
    pub body: String,
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: String,
    /// When it was given up (wall clock, ns since the epoch).
    pub failed_ns: u64,
}

fn key(id: u64) -> Vec<u8> {
    let mut k = PREFIX.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

impl Store {
    /// Stores `dl` under a new id (the one it is given is ignored) and returns that id.
    pub fn add_dead_letter(&self, dl: &DeadLetter) -> Result<u64> {
        // Serialises id assignment (dead letters are rare; one lock for every store is
        // enough).
        static NEXT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _g = NEXT.lock().unwrap_or_else(|p| p.into_inner());
        let id = self.meta_u64(META_NEXT)?.unwrap_or(1);
        let mut stored = dl.clone();
        stored.id = id;
        let v = serde_json::to_vec(&stored).map_err(|e| Error::internal(e.to_string()))?;
        let cf = self.cf(CF_META)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(cf, key(id), v);
        batch.put_cf(cf, META_NEXT, (id + 1).to_be_bytes());
        self.write(batch, "storing a dead letter")?;
        Ok(id)
    }

    /// Dead letters with ids above `after`, oldest first, at most `limit`, of `webhook`
    /// only when not empty; and whether more follow.
    pub fn dead_letters(
        &self,
        webhook: &str,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<DeadLetter>, bool)> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_META)?);
        it.seek(key(after.saturating_add(1)));
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if !k.starts_with(PREFIX) {
                break;
            }
            let dl: DeadLetter = serde_json::from_slice(v)
                .map_err(|e| Error::new(Kind::Corrupt, format!("dead letter: {e}")))?;
            if webhook.is_empty() || dl.webhook == webhook {
                if out.len() == limit {
                    return Ok((out, true));
                }
                out.push(dl);
            }
            it.next();
        }
        it.status()?;
        Ok((out, false))
    }

    /// One dead letter by id.
    pub fn dead_letter(&self, id: u64) -> Result<Option<DeadLetter>> {
        match self.db.get_cf(self.cf(CF_META)?, key(id))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v).map_err(|e| {
                Error::new(Kind::Corrupt, format!("dead letter {id}: {e}"))
            })?)),
            None => Ok(None),
        }
    }

    /// Removes dead letter `id` (nothing when it is absent).
    pub fn delete_dead_letter(&self, id: u64) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_META)?, key(id));
        self.write(batch, "deleting a dead letter")
    }
}
