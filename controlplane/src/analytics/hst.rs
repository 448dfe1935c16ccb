//! Half-Space Trees (Tan, Ting and Liu, "Fast Anomaly Detection for Streaming Data", IJCAI
//! 2011): an ensemble of random binary trees over the normalised feature space, built before
//! any data is seen. Each node halves its parent's work space along a random dimension and
//! keeps two masses: `r`, the points of the last full window (the reference), and `l`, those
//! of the window being filled. A point's score is the reference mass of the node where it
//! stops (the deepest node, or the first holding fewer than `size_limit` reference points)
//! times 2^depth, summed over trees: points in dense regions score high, isolated ones low.
//! After every `window` points, `l` becomes `r` and `l` restarts at zero, so the model
//! follows drift with constant memory and constant time per point.
//!
//! [`Forest::anomaly`] turns the mass score around (1 − its log share of the largest
//! possible), so that here a higher value means more anomalous, in [0, 1].

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::features::{Vector, DIMS};

/// Shape of a forest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Trees in the ensemble.
    pub trees: u16,
    /// Depth of each tree (a tree has 2^(depth+1) − 1 nodes).
    pub depth: u8,
    /// Points per window.
    pub window: u32,
    /// Seed of the random work spaces and splits.
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            trees: 32,
            depth: 12,
            window: 1024,
            seed: 1,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Node {
    dim: u8,
    split: f64,
    r: u32,
    l: u32,
}

/// A Half-Space Trees ensemble. Trees are complete and stored in heap order (children of node
/// i at 2i + 1 and 2i + 2).
#[derive(Clone, Debug)]
pub struct Forest {
    params: Params,
    size_limit: u32,
    nodes: Vec<Node>,
    per_tree: usize,
    in_window: u32,
    windows: u64,
}

/// Where a point's score came from: for each dimension, how much reference mass the point
/// left behind when a split on it sent the point to the sparser side.
pub type Attribution = [f64; DIMS];

impl Forest {
    /// Builds the trees (random work spaces and splits from the seed).
    pub fn new(params: Params) -> Forest {
        let per_tree = (1usize << (usize::from(params.depth) + 1)) - 1;
        let mut nodes = vec![Node::default(); per_tree * usize::from(params.trees)];
        let mut rng = StdRng::seed_from_u64(params.seed);
        for tree in nodes.chunks_mut(per_tree) {
            let mut lo = [0.0; DIMS];
            let mut hi = [0.0; DIMS];
            for d in 0..DIMS {
                let s: f64 = rng.random();
                let half = 2.0 * s.max(1.0 - s);
                lo[d] = s - half;
                hi[d] = s + half;
            }
            build(tree, 0, &mut lo, &mut hi, &mut rng);
        }
        Forest {
            size_limit: (params.window / 10).max(1),
            params,
            nodes,
            per_tree,
            in_window: 0,
            windows: 0,
        }
    }

    /// The forest's shape.
    pub fn params(&self) -> Params {
        self.params
    }

    /// Whether a reference window exists (scores before the first swap mean nothing).
    pub fn ready(&self) -> bool {
        self.windows > 0
    }

    /// Full windows seen.
    pub fn windows(&self) -> u64 {
        self.windows
    }

    /// Adds a point to the window being filled; swaps windows when it is full.
    pub fn learn(&mut self, x: &Vector) {
        let depth = usize::from(self.params.depth);
        for tree in self.nodes.chunks_mut(self.per_tree) {
            let mut i = 0;
            for _ in 0..=depth {
                tree[i].l += 1;
                if 2 * i + 1 >= tree.len() {
                    break;
                }
                i = child(&tree[i], i, x);
            }
        }
        self.in_window += 1;
        if self.in_window >= self.params.window {
            self.swap();
        }
    }

    /// The window being filled becomes the reference now, however full it is (after a
    /// training pass shorter than a window).
    pub fn swap(&mut self) {
        for n in &mut self.nodes {
            n.r = n.l;
            n.l = 0;
        }
        self.in_window = 0;
        self.windows += 1;
    }

    /// The paper's mass score: high in dense regions.
    pub fn mass(&self, x: &Vector) -> f64 {
        self.walk(x, None)
    }

    /// Anomaly score in [0, 1], higher for isolated points, with the attribution by
    /// dimension when asked.
    pub fn anomaly(&self, x: &Vector, why: Option<&mut Attribution>) -> f64 {
        let mass = self.walk(x, why) / f64::from(self.params.trees);
        let most = f64::from(self.params.window) * 2f64.powi(i32::from(self.params.depth));
        1.0 - (mass.ln_1p() / most.ln_1p()).clamp(0.0, 1.0)
    }

    fn walk(&self, x: &Vector, mut why: Option<&mut Attribution>) -> f64 {
        let depth = usize::from(self.params.depth);
        let mut total = 0.0;
        for tree in self.nodes.chunks(self.per_tree) {
            let mut i = 0;
            let mut k = 0;
            loop {
                let n = &tree[i];
                if k == depth || n.r < self.size_limit {
                    total += f64::from(n.r) * 2f64.powi(k as i32);
                    break;
                }
                let c = child(n, i, x);
                if let Some(w) = why.as_deref_mut() {
                    let lost = (f64::from(n.r) + 1.0) / (f64::from(tree[c].r) + 1.0);
                    w[usize::from(n.dim)] += lost.ln();
                }
                i = c;
                k += 1;
            }
        }
        total
    }
}

#[inline]
fn child(n: &Node, i: usize, x: &Vector) -> usize {
    if x[usize::from(n.dim)] < n.split {
        2 * i + 1
    } else {
        2 * i + 2
    }
}

fn build(
    tree: &mut [Node],
    i: usize,
    lo: &mut [f64; DIMS],
    hi: &mut [f64; DIMS],
    rng: &mut StdRng,
) {
    if 2 * i + 1 >= tree.len() {
        return;
    }
    let d = rng.random_range(0..DIMS);
    let split = (lo[d] + hi[d]) / 2.0;
    tree[i].dim = d as u8;
    tree[i].split = split;
    let old_hi = hi[d];
    hi[d] = split;
    build(tree, 2 * i + 1, lo, hi, rng);
    hi[d] = old_hi;
    let old_lo = lo[d];
    lo[d] = split;
    build(tree, 2 * i + 2, lo, hi, rng);
    lo[d] = old_lo;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Params {
        Params {
            trees: 25,
            depth: 8,
            window: 250,
            seed: 7,
        }
    }

    /// Points of a tight cluster around 0.5 in every dimension.
    fn cluster(rng: &mut StdRng) -> Vector {
        let mut v = [0.0; DIMS];
        for x in &mut v {
            *x = 0.5 + (rng.random::<f64>() - 0.5) * 0.1;
        }
        v
    }

    fn trained(p: Params) -> Forest {
        let mut f = Forest::new(p);
        let mut rng = StdRng::seed_from_u64(99);
        for _ in 0..p.window {
            f.learn(&cluster(&mut rng));
        }
        f
    }

    #[test]
    fn isolated_points_score_higher_than_dense_ones() {
        let f = trained(small());
        assert!(f.ready());
        let mut rng = StdRng::seed_from_u64(5);
        let mut corner = [0.5; DIMS];
        corner[3] = 0.02;
        corner[17] = 0.97;
        for _ in 0..50 {
            let dense = f.anomaly(&cluster(&mut rng), None);
            let lonely = f.anomaly(&corner, None);
            assert!(dense < lonely, "dense {dense} vs isolated {lonely}");
        }
        assert!(f.mass(&[0.5; DIMS]) > f.mass(&corner));
    }

    #[test]
    fn attribution_names_the_dimension_that_isolates() {
        let f = trained(small());
        let mut x = [0.5; DIMS];
        x[11] = 0.01;
        let mut why = [0.0; DIMS];
        f.anomaly(&x, Some(&mut why));
        let top = (0..DIMS)
            .max_by(|&a, &b| why[a].total_cmp(&why[b]))
            .unwrap();
        assert_eq!(top, 11, "{why:?}");
    }

    #[test]
    fn the_reference_changes_only_when_a_window_fills() {
        let p = small();
        let mut f = Forest::new(p);
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..p.window - 1 {
            f.learn(&cluster(&mut rng));
        }
        // Nothing in the reference yet: every point has zero mass.
        assert!(!f.ready());
        assert_eq!(f.mass(&[0.5; DIMS]), 0.0);
        f.learn(&cluster(&mut rng));
        assert!(f.ready());
        let before = f.mass(&[0.5; DIMS]);
        assert!(before > 0.0);
        // A second window elsewhere: the first reference holds until it is full.
        let far = [0.1; DIMS];
        for _ in 0..p.window - 1 {
            f.learn(&far);
        }
        assert_eq!(f.mass(&[0.5; DIMS]), before);
        f.learn(&far);
        assert_eq!(f.windows(), 2);
        assert!(f.mass(&[0.5; DIMS]) < before);
        assert!(f.mass(&far) > f.mass(&[0.5; DIMS]));
    }

    #[test]
    fn the_root_mass_of_a_full_window_is_the_window() {
        let p = small();
        let f = trained(p);
        // A point stopping at the root (size limit above any mass) scores r · 2^0 per tree.
        let total: u32 = f.nodes.chunks(f.per_tree).map(|t| t[0].r).sum();
        assert_eq!(total, p.window * u32::from(p.trees));
    }

    #[test]
    fn the_same_seed_gives_the_same_scores() {
        let a = trained(small());
        let b = trained(small());
        let c = trained(Params { seed: 8, ..small() });
        let mut rng = StdRng::seed_from_u64(3);
        let mut differs = false;
        for _ in 0..20 {
            let x = cluster(&mut rng);
            assert_eq!(a.anomaly(&x, None), b.anomaly(&x, None));
            differs |= a.mass(&x) != c.mass(&x);
        }
        assert!(differs);
    }
}
