//! Quality of scores against labels: ROC AUC, precision among the highest-scored flows, and
//! detection per family at a threshold chosen on the benign flows.

use std::collections::BTreeMap;

/// One labelled score.
#[derive(Clone, Debug, PartialEq)]
pub struct Labelled {
    /// The model's score (higher: more anomalous).
    pub score: f64,
    /// Ground truth.
    pub malicious: bool,
    /// The label's family (`browse`, `scan`, ...).
    pub family: String,
}

/// Why no evaluation could be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// AUC needs both classes.
    #[error("the labelled flows hold only {0} flows: ROC AUC needs benign and malicious ones")]
    OneClass(&'static str),
}

/// Detection of one family.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FamilyResult {
    /// The family.
    pub family: String,
    /// Whether its flows are malicious.
    pub malicious: bool,
    /// Its flows.
    pub flows: u64,
    /// Those scored at or above the threshold.
    pub detected: u64,
    /// ROC AUC of its flows against all benign flows (malicious families only).
    pub auc: Option<f64>,
}

/// The evaluation.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Report {
    /// Flows evaluated.
    pub flows: u64,
    /// Of which malicious.
    pub malicious: u64,
    /// ROC AUC over all flows.
    pub auc: f64,
    /// Share of malicious flows among the top 1% of scores.
    pub precision_at_1pct: f64,
    /// The threshold: the benign flows' 99th percentile score (1% false positives).
    pub threshold: f64,
    /// Per family, in name order.
    pub families: Vec<FamilyResult>,
}

/// ROC AUC by the rank-sum (Mann–Whitney) statistic; ties count half.
pub fn roc_auc(scores: &[(f64, bool)]) -> Result<f64, EvalError> {
    let pos = scores.iter().filter(|s| s.1).count();
    let neg = scores.len() - pos;
    if pos == 0 {
        return Err(EvalError::OneClass("benign"));
    }
    if neg == 0 {
        return Err(EvalError::OneClass("malicious"));
    }
    let mut sorted: Vec<(f64, bool)> = scores.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j].0 == sorted[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j share their mean.
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += mean_rank * sorted[i..j].iter().filter(|s| s.1).count() as f64;
        i = j;
    }
    let (p, n) = (pos as f64, neg as f64);
    Ok((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Share of malicious flows among the `frac` highest scores (at least one flow).
pub fn precision_at(scores: &[(f64, bool)], frac: f64) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    let mut sorted: Vec<(f64, bool)> = scores.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let k = ((scores.len() as f64 * frac).ceil() as usize).clamp(1, scores.len());
    sorted[..k].iter().filter(|s| s.1).count() as f64 / k as f64
}

/// Evaluates labelled scores.
pub fn evaluate(flows: &[Labelled]) -> Result<Report, EvalError> {
    let all: Vec<(f64, bool)> = flows.iter().map(|f| (f.score, f.malicious)).collect();
    let auc = roc_auc(&all)?;
    let mut benign: Vec<f64> = flows
        .iter()
        .filter(|f| !f.malicious)
        .map(|f| f.score)
        .collect();
    benign.sort_by(f64::total_cmp);
    let threshold = benign[((benign.len() - 1) as f64 * 0.99).round() as usize];
    let mut by_family: BTreeMap<(&str, bool), Vec<f64>> = BTreeMap::new();
    for f in flows {
        by_family
            .entry((&f.family, f.malicious))
            .or_default()
            .push(f.score);
    }
    let families = by_family
        .into_iter()
        .map(|((family, malicious), scores)| {
            let auc = malicious.then(|| {
                let mut v: Vec<(f64, bool)> = benign.iter().map(|&s| (s, false)).collect();
                v.extend(scores.iter().map(|&s| (s, true)));
                roc_auc(&v).ok()
            });
            FamilyResult {
                family: family.to_owned(),
                malicious,
                flows: scores.len() as u64,
                detected: scores.iter().filter(|&&s| s > threshold).count() as u64,
                auc: auc.flatten(),
            }
        })
        .collect();
    Ok(Report {
        flows: flows.len() as u64,
        malicious: flows.iter().filter(|f| f.malicious).count() as u64,
        auc,
        precision_at_1pct: precision_at(&all, 0.01),
        threshold,
        families,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_inverted_and_tied_rankings() {
        let perfect = [(0.1, false), (0.2, false), (0.8, true), (0.9, true)];
        assert_eq!(roc_auc(&perfect).unwrap(), 1.0);
        let inverted = [(0.9, false), (0.8, false), (0.2, true), (0.1, true)];
        assert_eq!(roc_auc(&inverted).unwrap(), 0.0);
        let tied = [(0.5, false), (0.5, true)];
        assert_eq!(roc_auc(&tied).unwrap(), 0.5);
        // One positive above two of three negatives: 2/3.
        let mixed = [(0.1, false), (0.2, false), (0.3, true), (0.4, false)];
        assert!((roc_auc(&mixed).unwrap() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn one_class_is_refused() {
        assert_eq!(roc_auc(&[(0.1, false)]), Err(EvalError::OneClass("benign")));
        assert_eq!(
            roc_auc(&[(0.1, true)]),
            Err(EvalError::OneClass("malicious"))
        );
    }

    #[test]
    fn precision_and_families() {
        let mut flows: Vec<Labelled> = (0..200)
            .map(|i| Labelled {
                score: f64::from(i) / 1000.0,
                malicious: false,
                family: "browse".into(),
            })
            .collect();
        for (score, fam) in [(0.9, "scan"), (0.95, "scan"), (0.1, "beacon")] {
            flows.push(Labelled {
                score,
                malicious: true,
                family: fam.into(),
            });
        }
        let r = evaluate(&flows).unwrap();
        // Top 1% of 203 flows: 3 flows, two of them scans.
        assert!((r.precision_at_1pct - 2.0 / 3.0).abs() < 1e-12);
        let scan = r.families.iter().find(|f| f.family == "scan").unwrap();
        assert_eq!((scan.flows, scan.detected, scan.auc), (2, 2, Some(1.0)));
        let beacon = r.families.iter().find(|f| f.family == "beacon").unwrap();
        assert_eq!(beacon.detected, 0);
        assert_eq!(
            r.families
                .iter()
                .find(|f| f.family == "browse")
                .unwrap()
                .auc,
            None
        );
    }
}
