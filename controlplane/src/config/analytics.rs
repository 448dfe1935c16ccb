//! `[analytics]`: flow features from the workers and the flow anomaly model.
//!
//! ```toml
//! [analytics]
//! flow_features = false   # measure features per flow; EVE `flow` records gain `features`
//! trees = 32              # Half-Space Trees in the ensemble
//! depth = 12              # depth of each tree
//! window = 1024           # flows per window (the reference is the last full window)
//! seed = 1                # the trees' random splits
//! queue = 4096            # flows waiting to be scored; beyond, dropped and counted
//! ```

use super::*;
use crate::analytics::Params;

/// `[analytics]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsConfig {
    /// Workers measure flow features and carry them in flow records (EVE `flow.features`).
    /// Off by default: flow records stay as Suricata writes them.
    pub flow_features: bool,
    /// Trees in the anomaly model.
    pub trees: u16,
    /// Depth of each tree.
    pub depth: u8,
    /// Flows per window.
    pub window: u32,
    /// Seed of the trees.
    pub seed: u64,
    /// Flows waiting to be scored; beyond, dropped (`analytics.dropped`).
    pub queue: usize,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        let p = Params::default();
        AnalyticsConfig {
            flow_features: false,
            trees: p.trees,
            depth: p.depth,
            window: p.window,
            seed: p.seed,
            queue: 4096,
        }
    }
}

impl AnalyticsConfig {
    /// Checks ranges serde cannot, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=1024).contains(&self.trees) {
            return Err(cfg_err("analytics.trees", "must be 1 to 1024"));
        }
        if !(1..=20).contains(&self.depth) {
            return Err(cfg_err("analytics.depth", "must be 1 to 20"));
        }
        if self.window < 16 {
            return Err(cfg_err("analytics.window", "must be at least 16 flows"));
        }
        if self.queue == 0 {
            return Err(cfg_err("analytics.queue", "must be at least 1"));
        }
        Ok(())
    }

    /// The model's shape.
    pub fn params(&self) -> Params {
        Params {
            trees: self.trees,
            depth: self.depth,
            window: self.window,
            seed: self.seed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_unknown_keys_refused() {
        AnalyticsConfig::default().validate().unwrap();
        let c: AnalyticsConfig = toml::from_str("flow_features = true\nwindow = 64\n").unwrap();
        assert!(c.flow_features);
        assert_eq!(c.params().window, 64);
        let e = toml::from_str::<AnalyticsConfig>("flow_feature = true\n").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let bad = AnalyticsConfig {
            depth: 0,
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "analytics.depth");
    }
}
