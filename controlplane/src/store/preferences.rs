//! The console's per-identity preferences: one JSON document per identity under key prefix
//! `console_pref/` + the identity in the `meta` column family.

use rocksdb::WriteBatch;

use super::{Store, CF_META};

use crate::error::Result;

const PREFIX: &[u8] = b"console_pref/";

fn key(identity: &str) -> Vec<u8> {
    let mut k = PREFIX.to_vec();
    k.extend_from_slice(identity.as_bytes());
    k
}

impl Store {
    /// The stored preferences of `identity` (JSON), if any.
    pub fn preferences(&self, identity: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(CF_META)?, key(identity))?)
    }

    /// Replaces the preferences of `identity`.
    pub fn put_preferences(&self, identity: &str, json: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_META)?, key(identity), json);
        self.write(batch, "storing console preferences")
    }
}
