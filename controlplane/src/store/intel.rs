//! Threat intelligence in the `intel` column family: each feed's STIX objects (the newest
//! version of each id, so a restart compiles the same set without polling), each feed's
//! cursor (`added_after` and counters), and the hits the workers reported, by id (the oldest
//! pruned beyond `[intel] max_hits`), retro-hunt findings among them; the retro-hunt
//! markers and runs are kept by [`super::hunt`] under `'r'` and `'x'`.
//!
//! Objects are written in batches of [`BATCH`], never one write per indicator.

use rocksdb::WriteBatch;

use super::{Store, CF_INTEL, CF_META};
use crate::error::{Error, Kind, Result};
use crate::intel::sharing::SharingState;
use crate::intel::{FeedCursor, StoredHit};

/// Objects per write batch.
pub const BATCH: usize = 10_000;
const META_NEXT_HIT: &[u8] = b"next_intel_hit_id";
/// What sharing posted (`'s'`: no other key of the family starts so).
const SHARING_KEY: &[u8] = b"sharing";

fn object_prefix(feed: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(feed.len() + 2);
    k.push(b'o');
    k.extend_from_slice(feed.as_bytes());
    k.push(0);
    k
}

fn cursor_key(feed: &str) -> Vec<u8> {
    let mut k = vec![b'f'];
    k.extend_from_slice(feed.as_bytes());
    k
}

pub(super) fn hit_key(id: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'h';
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(Kind::Corrupt, format!("{what}: {e}"))
}

impl Store {
    /// Writes `objects` (id, JSON) of `feed`, replacing those with the same id, in batches.
    pub fn put_intel_objects(&self, feed: &str, objects: &[(String, Vec<u8>)]) -> Result<()> {
        let cf = self.cf(CF_INTEL)?;
        let prefix = object_prefix(feed);
        for chunk in objects.chunks(BATCH) {
            let mut batch = WriteBatch::default();
            for (id, v) in chunk {
                let mut k = prefix.clone();
                k.extend_from_slice(id.as_bytes());
                batch.put_cf(cf, k, v);
            }
            self.write(batch, "storing intel objects")?;
        }
        Ok(())
    }

    /// Deletes every object of `feed` and its cursor.
    pub fn delete_intel_feed(&self, feed: &str) -> Result<()> {
        let cf = self.cf(CF_INTEL)?;
        let mut from = object_prefix(feed);
        let mut to = from.clone();
        *to.last_mut().expect("prefix ends in 0") = 1;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(cf, &from, &to);
        from = cursor_key(feed);
        batch.delete_cf(cf, &from);
        self.write_deletes(batch, "deleting an intel feed")
    }

    /// Every stored object of `feed`, as JSON bytes, by id.
    pub fn intel_objects(&self, feed: &str) -> Result<Vec<Vec<u8>>> {
        let prefix = object_prefix(feed);
        let mut it = self.db.raw_iterator_cf(self.cf(CF_INTEL)?);
        it.seek(&prefix);
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if !k.starts_with(&prefix) {
                break;
            }
            out.push(v.to_vec());
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Stores `feed`'s cursor.
    pub fn put_intel_cursor(&self, feed: &str, c: &FeedCursor) -> Result<()> {
        let v = serde_json::to_vec(c).map_err(|e| Error::internal(e.to_string()))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_INTEL)?, cursor_key(feed), v);
        self.write(batch, "storing an intel feed cursor")
    }

    /// `feed`'s stored cursor.
    pub fn intel_cursor(&self, feed: &str) -> Result<Option<FeedCursor>> {
        match self.db.get_cf(self.cf(CF_INTEL)?, cursor_key(feed))? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| corrupt("intel feed cursor", e)),
        }
    }

    /// Names of the feeds with stored objects or a cursor.
    pub fn intel_feeds(&self) -> Result<Vec<String>> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_INTEL)?);
        it.seek([b'f']);
        let mut out = Vec::new();
        while let Some(k) = it.key() {
            if k.first() != Some(&b'f') {
                break;
            }
            out.push(String::from_utf8_lossy(&k[1..]).into_owned());
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// What sharing has posted, if it ever ran.
    pub fn sharing_state(&self) -> Result<Option<SharingState>> {
        match self.db.get_cf(self.cf(CF_INTEL)?, SHARING_KEY)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| corrupt("intel sharing state", e)),
        }
    }

    /// Stores what sharing has posted.
    pub fn put_sharing_state(&self, s: &SharingState) -> Result<()> {
        let v = serde_json::to_vec(s).map_err(|e| Error::internal(e.to_string()))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_INTEL)?, SHARING_KEY, v);
        self.write(batch, "storing the intel sharing state")
    }

    /// At most `limit` hits with ids above `after`, oldest first, and how many more there
    /// are.
    pub fn intel_hits_after(&self, after: u64, limit: usize) -> Result<(Vec<StoredHit>, u64)> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_INTEL)?);
        it.seek(hit_key(after.saturating_add(1)));
        let (mut out, mut more) = (Vec::new(), 0);
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if k.first() != Some(&b'h') {
                break;
            }
            if out.len() < limit {
                out.push(serde_json::from_slice(v).map_err(|e| corrupt("intel hit", e))?);
            } else {
                more += 1;
            }
            it.next();
        }
        it.status()?;
        Ok((out, more))
    }

    /// Assigns ids to `hits`, writes them in one batch and deletes the oldest beyond `max`;
    /// returns how many were pruned.
    pub fn append_intel_hits(&self, hits: &mut [StoredHit], max: u64) -> Result<u64> {
        self.append_hits_with(hits, max, &[])
    }

    /// [`Store::append_intel_hits`], writing the (empty-valued) keys `marks` of the `intel`
    /// column family in the same batch.
    pub(super) fn append_hits_with(
        &self,
        hits: &mut [StoredHit],
        max: u64,
        marks: &[Vec<u8>],
    ) -> Result<u64> {
        if hits.is_empty() {
            return Ok(0);
        }
        let cf = self.cf(CF_INTEL)?;
        let next = self.meta_u64(META_NEXT_HIT)?.unwrap_or(1);
        let mut batch = WriteBatch::default();
        for (i, h) in hits.iter_mut().enumerate() {
            h.id = next + i as u64;
            let v = serde_json::to_vec(h).map_err(|e| Error::internal(e.to_string()))?;
            batch.put_cf(cf, hit_key(h.id), v);
        }
        let end = next + hits.len() as u64;
        batch.put_cf(self.cf(CF_META)?, META_NEXT_HIT, end.to_be_bytes());
        // Ids are dense: everything below `end - max` goes.
        let keep_from = end.saturating_sub(max).max(1);
        let pruned = keep_from.saturating_sub(next.saturating_sub(max).max(1));
        if keep_from > 1 {
            batch.delete_range_cf(cf, hit_key(0), hit_key(keep_from));
        }
        for m in marks {
            batch.put_cf(cf, m, []);
        }
        self.write(batch, "storing intel hits")?;
        Ok(pruned)
    }

    /// Hits with ids below `before` (0: from the newest), newest first, that pass `keep`;
    /// at most `limit`.
    pub fn intel_hits(
        &self,
        before: u64,
        limit: usize,
        keep: &dyn Fn(&StoredHit) -> bool,
    ) -> Result<Vec<StoredHit>> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_INTEL)?);
        if before == 0 {
            it.seek_for_prev(hit_key(u64::MAX));
        } else {
            it.seek_for_prev(hit_key(before - 1));
        }
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if k.first() != Some(&b'h') || out.len() >= limit {
                break;
            }
            let h: StoredHit = serde_json::from_slice(v).map_err(|e| corrupt("intel hit", e))?;
            if keep(&h) {
                out.push(h);
            }
            it.prev();
        }
        it.status()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::StoreOptions;
    use super::*;

    fn hit(feed: &str, n: u64) -> StoredHit {
        StoredHit {
            feed: feed.into(),
            indicator_id: format!("indicator--{n}"),
            ..StoredHit::default()
        }
    }

    #[test]
    fn hits_are_numbered_pruned_beyond_the_cap_and_listed_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        let mut a: Vec<StoredHit> = (0..3).map(|n| hit("a", n)).collect();
        assert_eq!(s.append_intel_hits(&mut a, 4).unwrap(), 0);
        assert_eq!(a.iter().map(|h| h.id).collect::<Vec<_>>(), [1, 2, 3]);
        let mut b: Vec<StoredHit> = (3..6).map(|n| hit("b", n)).collect();
        // Six hits, four kept: the two oldest go.
        assert_eq!(s.append_intel_hits(&mut b, 4).unwrap(), 2);
        let all = s.intel_hits(0, 100, &|_| true).unwrap();
        assert_eq!(all.iter().map(|h| h.id).collect::<Vec<_>>(), [6, 5, 4, 3]);
        let only_a = s.intel_hits(0, 100, &|h| h.feed == "a").unwrap();
        assert_eq!(only_a.iter().map(|h| h.id).collect::<Vec<_>>(), [3]);
        // Paging: ids below 5.
        let page = s.intel_hits(5, 1, &|_| true).unwrap();
        assert_eq!(page.iter().map(|h| h.id).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn objects_and_cursors_belong_to_their_feed() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        let objs: Vec<(String, Vec<u8>)> = (0..(BATCH + 5))
            .map(|i| {
                (
                    format!("indicator--{i}"),
                    format!("{{\"n\":{i}}}").into_bytes(),
                )
            })
            .collect();
        s.put_intel_objects("f", &objs).unwrap();
        s.put_intel_objects("f2", &objs[..2]).unwrap();
        let c = FeedCursor {
            kind: "taxii".into(),
            added_after: Some("2024-01-01T00:00:00Z".into()),
            ..FeedCursor::default()
        };
        s.put_intel_cursor("f", &c).unwrap();
        s.put_intel_cursor("f2", &c).unwrap();
        assert_eq!(s.intel_objects("f").unwrap().len(), BATCH + 5);
        assert_eq!(s.intel_objects("f2").unwrap().len(), 2);
        assert_eq!(s.intel_cursor("f").unwrap(), Some(c));
        assert_eq!(s.intel_feeds().unwrap(), ["f", "f2"]);
        s.delete_intel_feed("f").unwrap();
        assert!(s.intel_objects("f").unwrap().is_empty());
        assert_eq!(s.intel_objects("f2").unwrap().len(), 2);
        assert_eq!(s.intel_feeds().unwrap(), ["f2"]);
    }
}
