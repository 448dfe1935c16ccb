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
