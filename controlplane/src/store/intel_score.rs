//! Confidence scoring in the `intel` column family: analyst verdicts on hits (`v` + hit id,
//! one each, a later verdict replacing an earlier) and every version of the scoring model's
//! coefficients (`m` + version), the newest in use.

use rocksdb::WriteBatch;

use super::intel::hit_key;
use super::{Store, CF_INTEL};
use crate::error::{Error, Kind, Result};
use crate::intel::score::{Example, Model};
use crate::intel::StoredHit;

fn verdict_key(hit: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'v';
    k[1..].copy_from_slice(&hit.to_be_bytes());
    k
}

fn model_key(version: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'm';
    k[1..].copy_from_slice(&version.to_be_bytes());
    k
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(Kind::Corrupt, format!("{what}: {e}"))
}

impl Store {
    /// Stored hit `id`, if kept.
    pub fn intel_hit(&self, id: u64) -> Result<Option<StoredHit>> {
        match self.db.get_cf(self.cf(CF_INTEL)?, hit_key(id))? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| corrupt("intel hit", e)),
        }
    }

    /// Stores a verdict and the model trained with it, in one write.
    pub fn put_intel_verdict(&self, e: &Example, model: &Model) -> Result<()> {
        let cf = self.cf(CF_INTEL)?;
        let v = serde_json::to_vec(e).map_err(|e| Error::internal(e.to_string()))?;
        let m = serde_json::to_vec(model).map_err(|e| Error::internal(e.to_string()))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(cf, verdict_key(e.hit), v);
        batch.put_cf(cf, model_key(model.version), m);
        self.write(batch, "storing an intel verdict")
    }

    /// Every stored verdict, by hit id.
    pub fn intel_verdicts(&self) -> Result<Vec<Example>> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_INTEL)?);
        it.seek([b'v']);
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if k.first() != Some(&b'v') {
                break;
            }
            out.push(serde_json::from_slice(v).map_err(|e| corrupt("intel verdict", e))?);
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// The newest stored model (none before the first verdict).
    pub fn intel_model(&self) -> Result<Option<Model>> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_INTEL)?);
        it.seek_for_prev(model_key(u64::MAX));
        match (it.key(), it.value()) {
            (Some(k), Some(v)) if k.first() == Some(&b'm') => serde_json::from_slice(v)
                .map(Some)
                .map_err(|e| corrupt("intel scoring model", e)),
            _ => {
                it.status()?;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::StoreOptions;
    use super::*;
    use crate::intel::score::Features;

    #[test]
    fn verdicts_replace_by_hit_and_the_newest_model_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        assert_eq!(s.intel_model().unwrap(), None);
        let ex = |hit, tp| Example {
            hit,
            indicator_id: "indicator--a".into(),
            features: Features::default(),
            true_positive: tp,
            at_ns: 1,
        };
        let m1 = Model::prior().train(&[ex(7, true)]);
        s.put_intel_verdict(&ex(7, true), &m1).unwrap();
        let m2 = m1.train(&[ex(7, false)]);
        s.put_intel_verdict(&ex(7, false), &m2).unwrap();
        let m3 = m2.train(&[ex(7, false), ex(300, true)]);
        s.put_intel_verdict(&ex(300, true), &m3).unwrap();
        let v = s.intel_verdicts().unwrap();
        assert_eq!(
            v.iter()
                .map(|e| (e.hit, e.true_positive))
                .collect::<Vec<_>>(),
            [(7, false), (300, true)]
        );
        // JSON keeps the coefficients to the last bit or so.
        let back = s.intel_model().unwrap().unwrap();
        assert_eq!((back.version, back.examples), (m3.version, m3.examples));
        assert!((back.bias - m3.bias).abs() < 1e-12, "{back:?} {m3:?}");
        for (a, b) in back.weights.iter().zip(m3.weights) {
            assert!((a - b).abs() < 1e-12);
        }
        // Objects, cursors and hits of feeds are not verdicts.
        s.put_intel_objects("f", &[("indicator--a".into(), b"{}".to_vec())])
            .unwrap();
        assert_eq!(s.intel_verdicts().unwrap().len(), 2);
    }
}
