//! Analyst verdicts and confidence scores: the facts [`score`](super::score) features are
//! made of (the feed's reliability, STIX confidence, age, feeds listing the same value,
//! sightings, earlier verdicts), each verdict stored with the indicator's features at that
//! moment, and the model retrained on every verdict under a new version.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::score::{Example, Facts, Features, Model, Scored};
use super::{describe, IndicatorView, Intel, StoredHit};
use crate::error::{Error, Kind, Result};
use crate::store::Store;

/// A feed's reliability when its configuration gives none (imports, too).
pub const DEFAULT_RELIABILITY: u8 = 50;

/// The model in use and what the hits taught.
#[derive(Debug, Default)]
pub struct ScoreState {
    pub model: Model,
    /// Hits per indicator id (sightings on this network).
    pub sightings: HashMap<String, u64>,
}

impl ScoreState {
    /// The newest stored model (the prior before any verdict) and the stored hits counted.
    pub fn open(store: &Store) -> Result<ScoreState> {
        let mut s = ScoreState {
            model: store.intel_model()?.unwrap_or_default(),
            sightings: HashMap::new(),
        };
        for h in store.intel_hits(0, usize::MAX, &|_| true)? {
            *s.sightings.entry(h.indicator_id).or_default() += 1;
        }
        Ok(s)
    }
}

/// What a verdict did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct VerdictOutcome {
    pub hit: u64,
    pub indicator_id: String,
    pub true_positive: bool,
    /// The indicator's score before and after.
    pub before: Scored,
    pub after: Scored,
    /// Verdicts the model is trained on.
    pub examples: u64,
}

impl Intel {
    /// The model in use.
    pub fn model(&self) -> Model {
        self.scoring().model.clone()
    }

    fn scoring(&self) -> std::sync::MutexGuard<'_, ScoreState> {
        self.score.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts stored hits as sightings of their indicators.
    pub(crate) fn count_sightings(&self, hits: &[StoredHit]) {
        let mut s = self.scoring();
        for h in hits {
            *s.sightings.entry(h.indicator_id.clone()).or_default() += 1;
        }
    }

    /// `feed`'s configured reliability.
    pub fn reliability(&self, feed: &str) -> u8 {
        self.cfg
            .feeds
            .iter()
            .find(|f| f.name == feed)
            .and_then(|f| f.reliability)
            .unwrap_or(DEFAULT_RELIABILITY)
    }

    /// (true, false) positive verdicts per indicator id.
    fn verdict_counts(examples: &[Example]) -> HashMap<&str, (u64, u64)> {
        let mut m: HashMap<&str, (u64, u64)> = HashMap::new();
        for e in examples {
            let c = m.entry(e.indicator_id.as_str()).or_default();
            if e.true_positive {
                c.0 += 1;
            } else {
                c.1 += 1;
            }
        }
        m
    }

    /// For each value (`kind value`, as listed) in `wanted`, the feeds listing it.
    fn feeds_listing(&self, wanted: &HashSet<&str>) -> HashMap<String, BTreeSet<String>> {
        let sets: Vec<(String, Arc<stix::Compiled>)> = self
            .lock()
            .iter()
            .map(|(n, f)| (n.clone(), f.compiled.clone()))
            .collect();
        let mut out: HashMap<String, BTreeSet<String>> = HashMap::new();
        for (feed, set) in &sets {
            for (_, m) in &set.matches {
                let v = describe(&m.observable);
                if wanted.contains(v.as_str()) {
                    out.entry(v).or_default().insert(feed.clone());
                }
            }
        }
        out
    }

    /// The facts of each of `views`, counting the verdicts in `examples`.
    fn facts(&self, views: &[IndicatorView], examples: &[Example]) -> Vec<Facts> {
        let verdicts = Self::verdict_counts(examples);
        let wanted: HashSet<&str> = views
            .iter()
            .flat_map(|v| v.values.iter().map(String::as_str))
            .collect();
        let listing = self.feeds_listing(&wanted);
        let s = self.scoring();
        views
            .iter()
            .map(|v| {
                let feeds: BTreeSet<&String> = v
                    .values
                    .iter()
                    .filter_map(|x| listing.get(x))
                    .flatten()
                    .collect();
                let (tp, fp) = verdicts.get(v.id.as_str()).copied().unwrap_or_default();
                Facts {
                    reliability: self.reliability(&v.feed),
                    confidence: v.confidence,
                    valid_from_ns: v.valid_from_ns,
                    feeds: u32::try_from(feeds.len()).unwrap_or(u32::MAX).max(1),
                    sightings: s.sightings.get(&v.id).copied().unwrap_or(0),
                    true_positives: tp,
                    false_positives: fp,
                }
            })
            .collect()
    }

    /// Fills the scores of `views` as of `now_ns`.
    pub(crate) fn score_views(&self, views: &mut [IndicatorView], now_ns: u64) -> Result<()> {
        let examples = self.store.intel_verdicts()?;
        let facts = self.facts(views, &examples);
        let model = self.model();
        for (v, f) in views.iter_mut().zip(facts) {
            v.score = model.score(&Features::of(&f, now_ns));
        }
        Ok(())
    }

    /// The indicator a hit reports, as listed now (its feed may have dropped it since).
    fn hit_indicator(&self, h: &StoredHit) -> Option<IndicatorView> {
        let f = super::IndicatorFilter {
            feed: Some(h.feed.clone()),
            value: Some(h.pattern.clone()),
            limit: usize::MAX,
            ..super::IndicatorFilter::default()
        };
        self.listed(&f)
            .0
            .into_iter()
            .find(|v| v.id == h.indicator_id)
    }

    /// Records an analyst's verdict on stored hit `hit` (replacing an earlier one), retrains
    /// the model on every verdict and stores both; answers the indicator's score before and
    /// after.
    pub fn verdict(&self, hit: u64, true_positive: bool, now_ns: u64) -> Result<VerdictOutcome> {
        let _one = self
            .verdict_serial
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let h = self
            .store
            .intel_hit(hit)?
            .ok_or_else(|| Error::new(Kind::NotFound, format!("no stored intel hit {hit}")))?;
        let mut view = self.hit_indicator(&h).unwrap_or_else(|| IndicatorView {
            id: h.indicator_id.clone(),
            feed: h.feed.clone(),
            pattern: h.pattern.clone(),
            confidence: h.confidence,
            ..IndicatorView::default()
        });
        let mut examples: Vec<Example> = self
            .store
            .intel_verdicts()?
            .into_iter()
            .filter(|e| e.hit != hit)
            .collect();
        self.score_views(std::slice::from_mut(&mut view), now_ns)?;
        let before = view.score.clone();
        // The example's features count the other verdicts only: never its own label.
        let facts = self.facts(std::slice::from_ref(&view), &examples)[0];
        let features = Features::of(&facts, now_ns);
        let ex = Example {
            hit,
            indicator_id: h.indicator_id.clone(),
            features,
            true_positive,
            at_ns: now_ns,
        };
        examples.push(ex.clone());
        let model = self.scoring().model.train(&examples);
        self.store.put_intel_verdict(&ex, &model)?;
        self.scoring().model = model;
        self.counters.verdicts.fetch_add(1, Ordering::Relaxed);
        self.score_views(std::slice::from_mut(&mut view), now_ns)?;
        Ok(VerdictOutcome {
            hit,
            indicator_id: h.indicator_id,
            true_positive,
            before,
            after: view.score,
            examples: examples.len() as u64,
        })
    }
}
