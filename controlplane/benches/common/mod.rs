//! Helpers shared by the control-plane benches (each bench uses part of them).
#![allow(dead_code)]

/// xorshift64: deterministic, so runs are comparable.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Log-uniform index in [0, n): index i is drawn about 1/(i+1) as often as index 0.
    pub fn heavy(&mut self, n: u64) -> u64 {
        ((n as f64).powf(self.unit()) as u64)
            .saturating_sub(1)
            .min(n - 1)
    }
}

/// Latencies of `runs` first pages, each query made by `mk` from an `Rng` seeded with `seed`;
/// also the mean number of alerts per page.
pub fn first_pages(
    store: &controlplane::store::Store,
    runs: usize,
    seed: u64,
    mk: &dyn Fn(&mut Rng) -> controlplane::store::AlertFilter,
) -> (Vec<std::time::Duration>, f64) {
    let mut r = Rng(seed);
    let mut lat = Vec::with_capacity(runs);
    let mut returned = 0usize;
    for _ in 0..runs {
        let f = mk(&mut r);
        let t = std::time::Instant::now();
        let p = store.query_alerts(&f).expect("query");
        lat.push(t.elapsed());
        returned += p.items.len();
    }
    (lat, returned as f64 / runs.max(1) as f64)
}

/// (p50, p99, max) of `v` in milliseconds.
pub fn percentiles(v: &mut [std::time::Duration]) -> (f64, f64, f64) {
    v.sort_unstable();
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.99), at(1.0))
}
