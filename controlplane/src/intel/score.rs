//! Confidence scoring: every indicator gets a score in [0, 100], the probability (× 100)
//! that a hit of it is a true positive under a logistic-regression model over the features
//! the indicator has. The model starts from a documented prior and learns from analyst
//! verdicts on hits (`osprey ctl intel verdict HIT true-positive|false-positive`); its
//! coefficients are stored with a version that grows with every training.
//!
//! Features, each in [0, 1] (or [-1, 1] for the verdict balance):
//!
//! | feature | value | prior weight |
//! |---|---|---|
//! | `reliability` | the feed's `reliability` (0..=100, default 50) / 100 | 2.0 |
//! | `confidence` | STIX `confidence` / 100 (0.5 when absent) | 2.0 |
//! | `freshness` | 2^(−age / 30 days), age since `valid_from` | 1.0 |
//! | `feeds` | independent feeds listing the same value: min(n − 1, 3) / 3 | 1.0 |
//! | `sightings` | hits of it on this network: ln(1 + n) / ln(101), at most 1 | 0.5 |
//! | `verdicts` | (true − false positives) / (verdicts + 1) on its earlier hits | 3.0 |
//!
//! and a bias of −3.0, so an indicator of an average feed with no confidence, a year old,
//! seen nowhere else scores low (about 27) and a fresh, confident one of a reliable feed
//! high (about 83). Training is maximum a posteriori: gradient descent on the verdicts'
//! log-loss plus an L2 pull towards the prior, so a few verdicts move the model a little
//! and many move it far. The same verdicts give the same model.

use serde::{Deserialize, Serialize};

/// Names of the features, in the order of [`Features::values`] and [`Model::weights`].
pub const FEATURES: [&str; 6] = [
    "reliability",
    "confidence",
    "freshness",
    "feeds",
    "sightings",
    "verdicts",
];
const N: usize = FEATURES.len();
/// The prior's weights and bias.
pub const PRIOR_WEIGHTS: [f64; N] = [2.0, 2.0, 1.0, 1.0, 0.5, 3.0];
pub const PRIOR_BIAS: f64 = -3.0;
/// Half-life of freshness.
pub const HALF_LIFE_NS: u64 = 30 * 86_400 * 1_000_000_000;
/// Strength of the pull towards the prior (per verdict, as L2 weight over the whole set).
const PRIOR_STRENGTH: f64 = 1.0;
const STEPS: usize = 500;
const RATE: f64 = 0.5;

/// What is known of an indicator when it is scored.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Facts {
    /// The feed's reliability, 0..=100.
    pub reliability: u8,
    pub confidence: Option<u8>,
    /// `valid_from` (0: unknown, taken as now).
    pub valid_from_ns: u64,
    /// Feeds listing one of its values (itself included).
    pub feeds: u32,
    pub sightings: u64,
    pub true_positives: u64,
    pub false_positives: u64,
}

/// An indicator's features.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Features {
    pub values: [f64; N],
}

impl Features {
    /// The features of `f` at time `now_ns`.
    pub fn of(f: &Facts, now_ns: u64) -> Features {
        let age = if f.valid_from_ns == 0 {
            0
        } else {
            now_ns.saturating_sub(f.valid_from_ns)
        };
        let verdicts = (f.true_positives + f.false_positives) as f64;
        Features {
            values: [
                f64::from(f.reliability.min(100)) / 100.0,
                f.confidence.map_or(0.5, |c| f64::from(c.min(100)) / 100.0),
                (-(age as f64) / HALF_LIFE_NS as f64).exp2(),
                f64::from(f.feeds.saturating_sub(1).min(3)) / 3.0,
                ((1.0 + f.sightings as f64).ln() / 101f64.ln()).min(1.0),
                (f.true_positives as f64 - f.false_positives as f64) / (verdicts + 1.0),
            ],
        }
    }
}

/// A verdict on a hit, as a training example.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub hit: u64,
    pub indicator_id: String,
    /// The indicator's features when the verdict was given (before it counted).
    pub features: Features,
    pub true_positive: bool,
    /// Wall-clock time of the verdict, nanoseconds.
    pub at_ns: u64,
}

/// The model: its coefficients and their version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// 0 for the prior; each training adds one.
    pub version: u64,
    pub bias: f64,
    pub weights: [f64; N],
    /// Verdicts it was trained on.
    pub examples: u64,
}

impl Default for Model {
    fn default() -> Model {
        Model::prior()
    }
}

/// One feature's share of a score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Contribution {
    pub feature: &'static str,
    pub value: f64,
    /// weight × value, in log-odds.
    pub weight: f64,
}

/// A score and why.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Scored {
    /// 0..=100.
    pub score: u8,
    pub model_version: u64,
    /// Every feature's contribution, the largest in magnitude first.
    pub explanation: Vec<Contribution>,
}

impl Scored {
    /// The explanation in one line: `confidence +1.70, verdicts -1.50, ...` (at most `n`).
    pub fn summary(&self, n: usize) -> String {
        self.explanation
            .iter()
            .take(n)
            .map(|c| format!("{} {:+.2}", c.feature, c.weight))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Model {
    /// The documented prior (version 0).
    pub fn prior() -> Model {
        Model {
            version: 0,
            bias: PRIOR_BIAS,
            weights: PRIOR_WEIGHTS,
            examples: 0,
        }
    }

    fn logit(&self, x: &Features) -> f64 {
        self.bias
            + self
                .weights
                .iter()
                .zip(x.values)
                .map(|(w, v)| w * v)
                .sum::<f64>()
    }

    /// The probability that a hit with features `x` is a true positive.
    pub fn probability(&self, x: &Features) -> f64 {
        sigmoid(self.logit(x))
    }

    /// The score of `x` and its explanation.
    pub fn score(&self, x: &Features) -> Scored {
        let mut explanation: Vec<Contribution> = FEATURES
            .iter()
            .zip(self.weights.iter().zip(x.values))
            .map(|(name, (w, v))| Contribution {
                feature: name,
                value: v,
                weight: w * v,
            })
            .collect();
        explanation.sort_by(|a, b| b.weight.abs().total_cmp(&a.weight.abs()));
        Scored {
            score: (self.probability(x) * 100.0).round().clamp(0.0, 100.0) as u8,
            model_version: self.version,
            explanation,
        }
    }

    /// The model trained on `examples` from the prior; its version is one past `self`'s.
    pub fn train(&self, examples: &[Example]) -> Model {
        let prior = Model::prior();
        let mut m = Model {
            version: self.version + 1,
            examples: examples.len() as u64,
            ..prior.clone()
        };
        if examples.is_empty() {
            return m;
        }
        let n = examples.len() as f64;
        for _ in 0..STEPS {
            let mut gw = [0.0; N];
            let mut gb = 0.0;
            for e in examples {
                let err = m.probability(&e.features) - f64::from(u8::from(e.true_positive));
                for (g, v) in gw.iter_mut().zip(e.features.values) {
                    *g += err * v / n;
                }
                gb += err / n;
            }
            // The prior as an L2 pull, weaker as verdicts accumulate.
            let pull = PRIOR_STRENGTH / (n + 1.0);
            for ((w, g), p) in m.weights.iter_mut().zip(gw).zip(prior.weights) {
                *w -= RATE * (g + pull * (*w - p));
            }
            m.bias -= RATE * (gb + pull * (m.bias - prior.bias));
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400 * 1_000_000_000;
    const NOW: u64 = 500 * DAY;

    fn facts(reliability: u8, confidence: Option<u8>) -> Facts {
        Facts {
            reliability,
            confidence,
            valid_from_ns: NOW,
            feeds: 1,
            ..Facts::default()
        }
    }

    fn example(hit: u64, f: &Facts, tp: bool) -> Example {
        Example {
            hit,
            indicator_id: format!("indicator--{hit}"),
            features: Features::of(f, NOW),
            true_positive: tp,
            at_ns: 0,
        }
    }

    #[test]
    fn the_prior_orders_what_it_knows() {
        let m = Model::prior();
        let now = NOW;
        let s = |f: &Facts| m.score(&Features::of(f, now)).score;
        let base = facts(50, None);
        let confident = facts(90, Some(90));
        assert!(
            s(&confident) > s(&base) + 20,
            "{} {}",
            s(&confident),
            s(&base)
        );
        let old = Facts {
            valid_from_ns: now - 365 * DAY,
            ..base
        };
        assert!(s(&old) < s(&base));
        let many = Facts { feeds: 4, ..base };
        assert!(s(&many) > s(&base));
        let seen = Facts {
            sightings: 50,
            ..base
        };
        assert!(s(&seen) > s(&base));
        let refuted = Facts {
            false_positives: 3,
            ..base
        };
        assert!(s(&refuted) < s(&base));
        assert!((0..=100).contains(&s(&Facts::default())));
    }

    #[test]
    fn the_explanation_sums_to_the_score_and_leads_with_the_heaviest() {
        let m = Model::prior();
        let x = Features::of(&facts(100, Some(100)), NOW);
        let sc = m.score(&x);
        let z: f64 = PRIOR_BIAS + sc.explanation.iter().map(|c| c.weight).sum::<f64>();
        assert_eq!(sc.score, (sigmoid(z) * 100.0).round() as u8);
        assert!(matches!(
            sc.explanation[0].feature,
            "reliability" | "confidence"
        ));
        assert!(sc.summary(2).contains("+2.00"), "{}", sc.summary(2));
    }

    #[test]
    fn verdicts_move_scores_the_right_way() {
        // A feed everyone trusts that is wrong: confident indicators of it are false
        // positives; a modest feed's unconfident ones are true positives.
        let loud = facts(90, Some(95));
        let quiet = facts(30, Some(20));
        let prior = Model::prior();
        let before = (
            prior.score(&Features::of(&loud, NOW)).score,
            prior.score(&Features::of(&quiet, NOW)).score,
        );
        let mut ex = Vec::new();
        for i in 0..20 {
            ex.push(example(i, &loud, false));
            ex.push(example(100 + i, &quiet, true));
        }
        let m = prior.train(&ex);
        assert_eq!(m.version, 1);
        assert_eq!(m.examples, 40);
        let after = (
            m.score(&Features::of(&loud, NOW)).score,
            m.score(&Features::of(&quiet, NOW)).score,
        );
        assert!(after.0 < before.0, "loud {before:?} -> {after:?}");
        assert!(after.1 > before.1, "quiet {before:?} -> {after:?}");
        // Training again on the same verdicts gives the same coefficients.
        let again = prior.train(&ex);
        assert_eq!(again, m);
        // No verdicts: back to the prior's coefficients under a new version.
        let reset = m.train(&[]);
        assert_eq!(
            (reset.weights, reset.bias, reset.version),
            (PRIOR_WEIGHTS, PRIOR_BIAS, 2)
        );
    }

    #[test]
    fn a_few_verdicts_move_the_model_less_than_many() {
        let f = facts(80, Some(80));
        let x = Features::of(&f, NOW);
        let p0 = Model::prior().probability(&x);
        let few: Vec<Example> = (0..2).map(|i| example(i, &f, false)).collect();
        let many: Vec<Example> = (0..50).map(|i| example(i, &f, false)).collect();
        let p_few = Model::prior().train(&few).probability(&x);
        let p_many = Model::prior().train(&many).probability(&x);
        assert!(p_few < p0 && p_many < p_few, "{p0} {p_few} {p_many}");
    }
}
