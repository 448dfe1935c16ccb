//! The flow anomaly model: normalisation learnt on a warm-up window, then Half-Space Trees,
//! learning online. What it learnt is summarised (flows, refusals, feature ranges, labels) so
//! a stored model says what it was trained on.

use super::features::{self, FlowSample, NotFinite, Vector, DIMS, NAMES};
use super::hst::{Forest, Params};
use super::normalise::Normaliser;

/// The model's kind, as stored and reported.
pub const KIND: &str = "hst";

/// Features named in a score's explanation.
pub const TOP_FEATURES: usize = 3;

/// A flow's score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    /// Anomaly in [0, 1]; higher is more unusual.
    pub score: f64,
    /// The features that isolated the flow most, with their share of the explanation.
    pub top: [(&'static str, f64); TOP_FEATURES],
}

/// What a model was trained on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainingSummary {
    /// Flows learnt.
    pub flows: u64,
    /// Flows refused (a feature not finite).
    pub refused: u64,
    /// Robust ranges of the log-scaled features, once warmed up.
    pub ranges: Option<Normaliser>,
    /// Labelled flows learnt: benign, malicious (when the trainer knew labels).
    pub labels: [u64; 2],
}

/// Half-Space Trees over normalised flow features.
#[derive(Clone, Debug)]
pub struct AnomalyModel {
    forest: Forest,
    warmup: Vec<Vector>,
    norm: Option<Normaliser>,
    summary: TrainingSummary,
}

impl AnomalyModel {
    /// A model that warms up on its first `params.window` flows.
    pub fn new(params: Params) -> AnomalyModel {
        AnomalyModel {
            forest: Forest::new(params),
            warmup: Vec::with_capacity(params.window as usize),
            norm: None,
            summary: TrainingSummary::default(),
        }
    }

    /// The forest's shape.
    pub fn params(&self) -> Params {
        self.forest.params()
    }

    /// What the model learnt so far.
    pub fn summary(&self) -> &TrainingSummary {
        &self.summary
    }

    /// Whether scores mean anything yet (a window learnt after the warm-up).
    pub fn ready(&self) -> bool {
        self.forest.ready()
    }

    /// Learns one flow. A flow with a feature that is not finite is refused and counted.
    pub fn learn(&mut self, s: &FlowSample) -> Result<(), NotFinite> {
        let v = features::vector(s).inspect_err(|_| self.summary.refused += 1)?;
        self.summary.flows += 1;
        match &self.norm {
            Some(n) => self.forest.learn(&n.apply(&v)),
            None => {
                self.warmup.push(v);
                if self.warmup.len() >= self.params().window as usize {
                    self.end_warmup();
                }
            }
        }
        Ok(())
    }

    /// Ends a training pass: the warm-up (if short) fixes the ranges and the flows learnt so
    /// far become the reference.
    pub fn finish_training(&mut self) {
        if self.norm.is_none() && !self.warmup.is_empty() {
            self.end_warmup();
        } else if self.norm.is_some() {
            self.forest.swap();
        }
    }

    /// Counts a labelled flow in the training summary.
    pub fn note_label(&mut self, malicious: bool) {
        self.summary.labels[usize::from(malicious)] += 1;
    }

    fn end_warmup(&mut self) {
        let n = Normaliser::fit(&self.warmup);
        for v in std::mem::take(&mut self.warmup) {
            self.forest.learn(&n.apply(&v));
        }
        if !self.forest.ready() {
            self.forest.swap();
        }
        self.summary.ranges = Some(n.clone());
        self.norm = Some(n);
    }

    /// Scores one flow; `Ok(None)` while the model is warming up.
    pub fn score(&self, s: &FlowSample) -> Result<Option<Score>, NotFinite> {
        let v = features::vector(s)?;
        let (Some(n), true) = (&self.norm, self.forest.ready()) else {
            return Ok(None);
        };
        let mut why = [0.0; DIMS];
        let score = self.forest.anomaly(&n.apply(&v), Some(&mut why));
        Ok(Some(Score {
            score,
            top: top_features(&why),
        }))
    }
}

fn top_features(why: &[f64; DIMS]) -> [(&'static str, f64); TOP_FEATURES] {
    let total: f64 = why.iter().filter(|w| **w > 0.0).sum();
    let mut order: Vec<usize> = (0..DIMS).collect();
    order.sort_by(|&a, &b| why[b].total_cmp(&why[a]));
    let mut top = [("", 0.0); TOP_FEATURES];
    for (slot, &d) in top.iter_mut().zip(&order) {
        let share = if total > 0.0 {
            why[d].max(0.0) / total
        } else {
            0.0
        };
        *slot = (NAMES[d], share);
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn web_flow(rng: &mut StdRng) -> FlowSample {
        let mut s = FlowSample {
            proto: 6,
            dst_port: 443,
            duration_us: rng.random_range(50_000..400_000),
            pkts: [rng.random_range(8..20), rng.random_range(8..30)],
            bytes: [rng.random_range(800..3000), rng.random_range(5_000..60_000)],
            ..Default::default()
        };
        s.features.payload[0].push(rng.random_range(100.0..600.0));
        s.features.payload[1].push(rng.random_range(500.0..1400.0));
        s.features.rtt_syn_synack_us = rng.random_range(10_000..40_000);
        s.features.entropy = [7.5, 7.6];
        s
    }

    fn scan_probe(port: u16) -> FlowSample {
        let mut s = FlowSample {
            proto: 6,
            dst_port: port,
            duration_us: 40,
            pkts: [1, 1],
            bytes: [60, 54],
            ..Default::default()
        };
        s.features.tcp_flags[0][1] = 1;
        s.features.tcp_flags[1][2] = 1;
        s
    }

    #[test]
    fn scan_probes_score_above_the_traffic_learnt() {
        let p = Params {
            window: 200,
            ..Params::default()
        };
        let mut m = AnomalyModel::new(p);
        let mut rng = StdRng::seed_from_u64(11);
        assert_eq!(m.score(&web_flow(&mut rng)).unwrap(), None);
        for _ in 0..600 {
            m.learn(&web_flow(&mut rng)).unwrap();
        }
        assert!(m.ready());
        let benign: Vec<f64> = (0..100)
            .map(|_| m.score(&web_flow(&mut rng)).unwrap().unwrap().score)
            .collect();
        let worst_benign = benign.iter().copied().fold(0.0, f64::max);
        let probe = m.score(&scan_probe(8080)).unwrap().unwrap();
        assert!(
            probe.score > worst_benign,
            "{} vs {worst_benign}",
            probe.score
        );
        assert!(probe.top[0].1 > 0.0);
        assert_eq!(m.summary().flows, 600);
        assert!(m.summary().ranges.is_some());
    }

    #[test]
    fn refused_flows_are_counted_and_not_learnt() {
        let mut m = AnomalyModel::new(Params::default());
        let mut s = scan_probe(1);
        s.features.payload[0].mean = f64::NAN;
        assert!(m.learn(&s).is_err());
        assert!(m.score(&s).is_err());
        assert_eq!((m.summary().flows, m.summary().refused), (0, 1));
    }

    #[test]
    fn a_short_training_pass_still_gives_a_reference() {
        let mut m = AnomalyModel::new(Params::default());
        let mut rng = StdRng::seed_from_u64(2);
        for _ in 0..50 {
            m.learn(&web_flow(&mut rng)).unwrap();
        }
        assert!(!m.ready());
        m.finish_training();
        assert!(m.ready());
        assert!(m.score(&scan_probe(22)).unwrap().is_some());
    }
}
