//! Feature normalisation: every feature is log-scaled (`ln(1 + x)`: counts, sizes and times
//! span orders of magnitude) and mapped onto [0, 1] by a robust range, the 1st to 99th
//! percentile of the values the model warmed up on, so one outlier in the warm-up does not
//! squash everything else into a corner. Values outside the range are clamped to [-1, 2],
//! inside the trees' work space.

use super::features::{Vector, DIMS};

/// Lower and upper percentile of the robust range.
const LOW_PCT: f64 = 0.01;
const HIGH_PCT: f64 = 0.99;

/// Per-feature ranges of log-scaled values.
#[derive(Clone, Debug, PartialEq)]
pub struct Normaliser {
    /// Lower bound per feature (log scale).
    pub lo: [f64; DIMS],
    /// Upper bound per feature (log scale).
    pub hi: [f64; DIMS],
}

/// `ln(1 + x)` for x ≥ 0; negative values (none are expected) count as 0.
pub fn log_scale(x: f64) -> f64 {
    x.max(0.0).ln_1p()
}

impl Normaliser {
    /// Ranges from `warmup` (at least one vector).
    pub fn fit(warmup: &[Vector]) -> Normaliser {
        let mut lo = [0.0; DIMS];
        let mut hi = [0.0; DIMS];
        let mut col = Vec::with_capacity(warmup.len());
        for d in 0..DIMS {
            col.clear();
            col.extend(warmup.iter().map(|v| log_scale(v[d])));
            col.sort_unstable_by(f64::total_cmp);
            lo[d] = percentile(&col, LOW_PCT);
            hi[d] = percentile(&col, HIGH_PCT);
        }
        Normaliser { lo, hi }
    }

    /// `v` on the model's scale: 0 at the range's low end, 1 at its high end (0.5 for a
    /// feature that did not vary in the warm-up, unless the value differs from it).
    pub fn apply(&self, v: &Vector) -> Vector {
        let mut out = [0.0; DIMS];
        for d in 0..DIMS {
            let x = log_scale(v[d]);
            let span = self.hi[d] - self.lo[d];
            out[d] = if span > 1e-12 {
                ((x - self.lo[d]) / span).clamp(-1.0, 2.0)
            } else if (x - self.lo[d]).abs() <= 1e-12 {
                0.5
            } else if x > self.lo[d] {
                2.0
            } else {
                -1.0
            };
        }
        out
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(d: usize, x: f64) -> Vector {
        let mut v = [0.0; DIMS];
        v[d] = x;
        v
    }

    #[test]
    fn one_outlier_does_not_stretch_the_range() {
        let mut warm: Vec<Vector> = (0..200).map(|i| with(3, f64::from(i % 100))).collect();
        warm.push(with(3, 1e12));
        let n = Normaliser::fit(&warm);
        assert!((n.hi[3] - log_scale(99.0)).abs() < 1e-9, "{}", n.hi[3]);
        let mid = n.apply(&with(3, 9.0))[3];
        assert!(mid > 0.3 && mid < 0.7, "{mid}");
        assert_eq!(n.apply(&with(3, 1e12))[3], 2.0);
    }

    #[test]
    fn constant_features_sit_in_the_middle_and_changes_at_the_edges() {
        let n = Normaliser::fit(&[with(0, 5.0), with(0, 5.0)]);
        assert_eq!(n.apply(&with(0, 5.0))[0], 0.5);
        assert_eq!(n.apply(&with(0, 6.0))[0], 2.0);
        assert_eq!(n.apply(&with(0, 5.0))[1], 0.5);
    }
}
