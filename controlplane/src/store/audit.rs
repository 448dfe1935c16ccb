//! The audit log: one JSON record per call, keyed by time and a sequence number.
//!
//! Every text field is capped at [`AUDIT_FIELD_MAX`] bytes when it is appended (the rest is
//! replaced by a marker that says how much was cut), so no caller decides how large the log
//! grows per call. Retention deletes records by age and keeps at most a configured number,
//! oldest first.

use std::sync::atomic::Ordering;

use rocksdb::WriteBatch;

use super::{be_u64, Store, CF_AUDIT, SCAN_BUDGET};
use crate::error::{Error, Kind, Result};
use crate::model::AuditRecord;

/// Longest text field (who, method, target, detail, ...) an audit record keeps, in bytes.
pub const AUDIT_FIELD_MAX: usize = 256;

/// `text` cut to at most `max` bytes (on a character boundary) followed by
/// `…[+N bytes]` naming how many bytes were cut; unchanged when it fits.
pub fn cap_field(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[+{} bytes]", &text[..end], text.len() - end)
}

/// Which audit records a listing returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Records at or after this time (ns since the epoch); 0 = unbounded.
    pub since_ns: u64,
    /// Records before this time; 0 = unbounded.
    pub until_ns: u64,
    /// Exactly this principal, when set.
    pub who: Option<String>,
    /// Methods containing this text (case-insensitive), when set.
    pub method: Option<String>,
    pub oldest_first: bool,
    /// Continue after (or before, newest first) this key.
    pub after: Option<[u8; 16]>,
    pub limit: usize,
}

/// A page of audit records with their keys; `next` is the key to continue after.
#[derive(Clone, Debug, Default)]
pub struct AuditPage {
    pub items: Vec<([u8; 16], AuditRecord)>,
    pub next: Option<[u8; 16]>,
}

/// Result of one audit retention pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuditRetention {
    /// Records removed for their age (a range delete: counted as the records seen before).
    pub deleted_by_age_before_ns: u64,
    /// Records removed because more than the maximum were stored.
    pub deleted_by_count: u64,
}

fn audit_key(time_nanos: u64, seq: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&time_nanos.to_be_bytes());
    key[8..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn decode(v: &[u8]) -> Result<AuditRecord> {
    serde_json::from_slice(v).map_err(|e| Error::new(Kind::Corrupt, format!("audit record: {e}")))
}

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

    /// Appends an audit record, each text field capped at [`AUDIT_FIELD_MAX`] bytes; durable
    /// when this returns.
    pub fn append_audit(&self, rec: &AuditRecord) -> Result<()> {
        let seq = self.audit_seq.fetch_add(1, Ordering::Relaxed) + 1;
        let key = audit_key(rec.time_nanos, seq);
        let cap = |s: &str| cap_field(s, AUDIT_FIELD_MAX);
        let capped = AuditRecord {
            time_nanos: rec.time_nanos,
            who: cap(&rec.who),
            role: cap(&rec.role),
            method: cap(&rec.method),
            target: cap(&rec.target),
            result: cap(&rec.result),
            detail: cap(&rec.detail),
        };
        let v = serde_json::to_vec(&capped).map_err(|e| Error::internal(e.to_string()))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_AUDIT)?, key, v);
        self.write(batch, "writing audit record")
    }

    /// Newest audit records first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditRecord>> {
        let page = self.query_audit(&AuditFilter {
            limit,
            ..AuditFilter::default()
        })?;
        Ok(page.items.into_iter().map(|(_, r)| r).collect())
    }

    /// A page of audit records matching `f`, with their keys; `next` continues the listing
    /// when the page is full or the scan budget ran out.
    pub fn query_audit(&self, f: &AuditFilter) -> Result<AuditPage> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_AUDIT)?);
        let lower = audit_key(f.since_ns, 0);
        let upper = (f.until_ns != 0).then(|| audit_key(f.until_ns, 0));
        match (f.oldest_first, f.after) {
            (true, Some(a)) => {
                it.seek(a);
                if it.key() == Some(&a[..]) {
                    it.next();
                }
            }
            (true, None) => it.seek(lower),
            (false, Some(a)) => it.seek_for_prev(a),
            (false, None) => match upper {
                Some(u) => it.seek_for_prev(u),
                None => it.seek_to_last(),
            },
        }
        if !f.oldest_first
            && it
                .key()
                .is_some_and(|k| Some(k) == f.after.as_ref().map(|a| &a[..]))
        {
            it.prev();
        }
        let method = f.method.as_ref().map(|m| m.to_lowercase());
        let mut items = Vec::new();
        let mut next = None;
        let mut last_scanned = None;
        let mut scanned = 0usize;
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let Ok(key) = <[u8; 16]>::try_from(k) else {
                return Err(Error::new(Kind::Corrupt, "audit key is not 16 bytes"));
            };
            if key < lower || upper.is_some_and(|u| key >= u) {
                if f.oldest_first || key < lower {
                    break;
                }
                it.prev();
                continue;
            }
            // Checked before the record is read: `next` is the last key examined.
            if items.len() == f.limit || scanned == SCAN_BUDGET {
                next = last_scanned;
                break;
            }
            scanned += 1;
            last_scanned = Some(key);
            let r = decode(v)?;
            let keep = f.who.as_ref().is_none_or(|w| r.who == *w)
                && method
                    .as_ref()
                    .is_none_or(|m| r.method.to_lowercase().contains(m.as_str()));
            if keep {
                items.push((key, r));
            }
            if f.oldest_first {
                it.next();
            } else {
                it.prev();
            }
        }
        it.status()?;
        Ok(AuditPage { items, next })
    }

    /// Deletes audit records older than `max_age_ns` before `now_ns` (wall clock), then the
    /// oldest while more than `max_records` are stored. 0 disables a limit. The count uses
    /// the sequence numbers in the keys (one per appended record), so a pass reads only the
    /// records it deletes.
    pub fn enforce_audit_retention(
        &self,
        now_ns: u64,
        max_age_ns: u64,
        max_records: u64,
    ) -> Result<AuditRetention> {
        let cf = self.cf(CF_AUDIT)?;
        let mut rep = AuditRetention::default();
        if max_age_ns > 0 && now_ns > max_age_ns {
            let cutoff = now_ns - max_age_ns;
            let mut batch = WriteBatch::default();
            batch.delete_range_cf(cf, [0u8; 16], audit_key(cutoff, 0));
            self.write_deletes(batch, "audit retention")?;
            rep.deleted_by_age_before_ns = cutoff;
        }
        if max_records > 0 {
            let last = self.audit_seq.load(Ordering::Relaxed);
            let keep_from = last.saturating_sub(max_records);
            let mut it = self.db.raw_iterator_cf(cf);
            it.seek_to_first();
            let mut batch = WriteBatch::default();
            while let Some(k) = it.key() {
                let seq = k.get(8..16).and_then(be_u64).unwrap_or(u64::MAX);
                if seq > keep_from {
                    break;
                }
                batch.delete_cf(cf, k);
                rep.deleted_by_count += 1;
                if batch.len() >= 16_384 {
                    self.write_deletes(std::mem::take(&mut batch), "audit retention")?;
                }
                it.next();
            }
            it.status()?;
            if !batch.is_empty() {
                self.write_deletes(batch, "audit retention")?;
            }
        }
        Ok(rep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    fn rec(t: u64, who: &str, method: &str) -> AuditRecord {
        AuditRecord {
            time_nanos: t,
            who: who.into(),
            role: "admin".into(),
            method: method.into(),
            target: String::new(),
            result: "ok".into(),
            detail: String::new(),
        }
    }

    /// Filters and pages against a plain filter over the appended records, both orders.
    #[test]
    fn listing_filters_and_pages_like_a_model() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        let mut all = Vec::new();
        for i in 0..60u64 {
            let r = rec(
                1000 + i * 10,
                ["ops", "ci", "anonymous"][(i % 3) as usize],
                ["m.Add", "m.Shutdown", "x.List", "m.Reload"][(i % 4) as usize],
            );
            s.append_audit(&r).unwrap();
            all.push(r);
        }
        for (who, method, since, until) in [
            (None, None, 0, 0),
            (Some("ops"), None, 0, 0),
            (None, Some("shutdown"), 1100, 1400),
            (Some("ci"), Some("m."), 1055, 0),
        ] {
            for oldest_first in [true, false] {
                let mut want: Vec<&AuditRecord> = all
                    .iter()
                    .filter(|r| r.time_nanos >= since && (until == 0 || r.time_nanos < until))
                    .filter(|r| who.is_none_or(|w| r.who == w))
                    .filter(|r| method.is_none_or(|m| r.method.to_lowercase().contains(m)))
                    .collect();
                if !oldest_first {
                    want.reverse();
                }
                let mut got = Vec::new();
                let mut after = None;
                loop {
                    let p = s
                        .query_audit(&AuditFilter {
                            since_ns: since,
                            until_ns: until,
                            who: who.map(str::to_owned),
                            method: method.map(str::to_owned),
                            oldest_first,
                            after,
                            limit: 7,
                        })
                        .unwrap();
                    assert!(p.items.len() <= 7);
                    got.extend(p.items.into_iter().map(|(_, r)| r));
                    match p.next {
                        Some(k) => after = Some(k),
                        None => break,
                    }
                }
                let got: Vec<&AuditRecord> = got.iter().collect();
                assert_eq!(
                    got, want,
                    "{who:?} {method:?} {since} {until} {oldest_first}"
                );
            }
        }
    }

    #[test]
    fn retention_by_age_then_count() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        for i in 0..100u64 {
            s.append_audit(&rec(1_000 + i, "ops", "m.Add")).unwrap();
        }
        // Older than 50 ns before now = 1_100: times below 1_050 go.
        s.enforce_audit_retention(1_100, 50, 0).unwrap();
        let left = s.audit_log(1000).unwrap();
        assert_eq!(left.len(), 50);
        assert_eq!(left.last().unwrap().time_nanos, 1_050);
        // At most 20: the newest 20 stay.
        let rep = s.enforce_audit_retention(1_100, 0, 20).unwrap();
        assert_eq!(rep.deleted_by_count, 30);
        let left = s.audit_log(1000).unwrap();
        assert_eq!(left.len(), 20);
        assert_eq!(left.last().unwrap().time_nanos, 1_080);
        assert_eq!(left[0].time_nanos, 1_099);
        // Appending after a pass keeps counting from the same sequence.
        s.append_audit(&rec(1_200, "ops", "m.Add")).unwrap();
        s.enforce_audit_retention(1_300, 0, 20).unwrap();
        let left = s.audit_log(1000).unwrap();
        assert_eq!((left.len(), left.last().unwrap().time_nanos), (20, 1_081));
    }

    #[test]
    fn appended_fields_are_capped() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        let mut r = rec(5, "ops", "m.Shutdown");
        r.target = "r".repeat(1 << 20);
        s.append_audit(&r).unwrap();
        let got = &s.audit_log(1).unwrap()[0];
        assert_eq!(
            got.target,
            format!("{}…[+{} bytes]", "r".repeat(256), (1 << 20) - 256)
        );
        assert_eq!(got.who, "ops");
    }

    #[test]
    fn fields_are_capped_with_a_marker_on_a_char_boundary() {
        assert_eq!(cap_field("short", 256), "short");
        let long = "x".repeat(1000);
        let c = cap_field(&long, 256);
        assert_eq!(c, format!("{}…[+744 bytes]", "x".repeat(256)));
        // "é" is 2 bytes: a cut in its middle moves back to its start.
        let s = format!("{}é{}", "a".repeat(255), "b".repeat(10));
        assert_eq!(
            cap_field(&s, 256),
            format!("{}…[+12 bytes]", "a".repeat(255))
        );
    }
}
