//! The two seams to the rest of the appliance. The data plane implements [`Appliance`]; the
//! rules crate implements [`RuleCompiler`]. The control plane calls them from management
//! threads only (never from a worker), and may call them concurrently.

use std::sync::Arc;
use std::time::Duration;

use crate::model::StoredRule;

/// One NIC port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortStatus {
    pub port_id: u16,
    pub name: String,
    pub link_up: bool,
    pub speed_mbps: u32,
    pub driver: String,
    /// The port's BPF capture filter (empty: none) and what runs it (`rte_bpf-jit`,
    /// `rte_bpf-interpreter`, `libpcap`).
    pub filter: String,
    pub filter_engine: String,
}

/// One worker lcore.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerStatus {
    pub name: String,
    pub lcore: u32,
    pub running: bool,
    /// Ruleset generation the worker swapped in at its last burst boundary.
    pub ruleset_generation: u64,
}

/// What the data plane reports about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplianceStatus {
    pub version: String,
    /// "ids", "ips", "replay".
    pub mode: String,
    pub ports: Vec<PortStatus>,
    pub workers: Vec<WorkerStatus>,
}

impl ApplianceStatus {
    /// Generation that every worker runs (the minimum), 0 if there are no workers.
    pub fn active_generation(&self) -> u64 {
        self.workers
            .iter()
            .map(|w| w.ruleset_generation)
            .min()
            .unwrap_or(0)
    }
}

/// Counters of one worker in Suricata's dotted naming (`capture.kernel_drops`,
/// `decoder.pkts`, `flow.memcap`, `tcp.reassembly_gap`, `app_layer.flow.http`,
/// `detect.alert`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    pub worker: String,
    pub counters: Vec<(String, u64)>,
}

/// All workers' counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub workers: Vec<WorkerStats>,
}

impl StatsSnapshot {
    /// Sums each counter over the workers, in first-seen order.
    pub fn totals(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = Vec::new();
        let mut index = std::collections::HashMap::new();
        for w in &self.workers {
            for (name, v) in &w.counters {
                match index.get(name) {
                    Some(&i) => {
                        let slot: &mut (String, u64) = &mut out[i];
                        slot.1 = slot.1.saturating_add(*v);
                    }
                    None => {
                        index.insert(name.clone(), out.len());
                        out.push((name.clone(), *v));
                    }
                }
            }
        }
        out
    }
}

/// The running data plane, as the control plane sees it.
pub trait Appliance: Send + Sync {
    fn status(&self) -> ApplianceStatus;
    fn stats(&self) -> StatsSnapshot;
    /// Asks the workers to stop after their current burst; returns at once.
    fn shutdown(&self);
    /// Builds a block table of `entries` and publishes it as `generation` to every worker,
    /// which swaps it in at its next burst boundary. A data plane without block lists
    /// ignores it.
    fn publish_blocks(&self, _generation: u64, _entries: &[vocab::block::BlockEntry]) {}
    /// The block-table generation each running worker confirmed (empty: none running).
    fn block_generations(&self) -> Vec<u64> {
        Vec::new()
    }
    /// Builds an indicator table of `set` and publishes it as `generation` to every worker,
    /// which swaps it in at its next burst boundary. A data plane without intel ignores it.
    fn publish_intel(&self, _generation: u64, _set: stix::Compiled) {}
    /// The indicator-table generation each running worker confirmed (empty: none running).
    fn intel_generations(&self) -> Vec<u64> {
        Vec::new()
    }
    /// Where the workers' evidence packets are gathered (`None`: no packet captures).
    fn captures(&self) -> Option<Arc<crate::evidence::capture::Captures>> {
        None
    }
    /// Each worker's heartbeat, for the stall watchdog (empty: nothing to watch).
    fn heartbeats(&self) -> Vec<Heartbeat> {
        Vec::new()
    }
}

/// A worker's sign of life: a counter its poll loop advances, idle or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// `w0`, `w1`, ... as in [`WorkerStatus::name`].
    pub worker: String,
    /// Its poll loop has not returned (a finished replay is not stalled).
    pub running: bool,
    pub beats: u64,
}

/// How bad a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// A problem found in rule text, with a 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub line: u32,
    pub column: u32,
    pub message: String,
    /// Sid of the rule on that line when it could be read.
    pub sid: Option<u32>,
}

/// What the compiler read from one valid rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleMeta {
    /// 1-based line in the submitted text.
    pub line: u32,
    pub gid: u32,
    pub sid: u32,
    pub rev: u32,
    pub msg: String,
    pub classtype: String,
    pub priority: u8,
    /// The rule as submitted (trimmed, one line).
    pub text: String,
}

/// Result of [`RuleCompiler::validate`]: the rules that parsed, and every diagnostic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validation {
    pub rules: Vec<RuleMeta>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Validation {
    /// True when no diagnostic is an error.
    pub fn is_valid(&self) -> bool {
        !self
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// What a completed reload did. `generation` is the one the control plane asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloadOutcome {
    pub generation: u64,
    pub rules_loaded: u32,
    pub rules_failed: u32,
    /// Rules that failed to compile (their line is 0, `sid` is set).
    pub failures: Vec<Diagnostic>,
    pub compile_time: Duration,
}

/// Why a reload did not happen; the running ruleset is untouched then.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("ruleset failed to compile: {0}")]
    Failed(String),
    #[error("a reload is already in progress")]
    Busy,
    #[error("the data plane is not running")]
    NotRunning,
}

/// The rule engine, as the control plane sees it.
pub trait RuleCompiler: Send + Sync {
    /// Parses `text` (one rule per line; blank lines and `#` comments skipped).
    fn validate(&self, text: &str) -> Validation;
    /// Builds an engine from `rules` off the hot path and publishes it as `generation`;
    /// workers swap it in at their next burst boundary. Returns once published.
    fn compile_and_swap(
        &self,
        generation: u64,
        rules: &[StoredRule],
    ) -> Result<ReloadOutcome, CompileError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_by_name() {
        let s = StatsSnapshot {
            workers: vec![
                WorkerStats {
                    worker: "w0".into(),
                    counters: vec![("decoder.pkts".into(), 5), ("flow.memcap".into(), 1)],
                },
                WorkerStats {
                    worker: "w1".into(),
                    counters: vec![("decoder.pkts".into(), 7)],
                },
            ],
        };
        assert_eq!(
            s.totals(),
            vec![
                ("decoder.pkts".to_string(), 12),
                ("flow.memcap".to_string(), 1)
            ]
        );
    }

    #[test]
    fn active_generation_is_the_slowest_worker() {
        let st = ApplianceStatus {
            workers: vec![
                WorkerStatus {
                    ruleset_generation: 4,
                    ..Default::default()
                },
                WorkerStatus {
                    ruleset_generation: 3,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(st.active_generation(), 3);
    }
}
