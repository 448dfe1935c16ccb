//! What a playbook action did, as recorded on the incident and in the audit log, and the
//! per-action rate limit.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// How an action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Error,
    /// Over its `max_per_hour`: not done.
    RateLimited,
    /// Dry run: recorded, not done.
    DryRun,
    /// A rollback of the playbooks' blocks.
    RolledBack,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::RateLimited => "rate_limited",
            Outcome::DryRun => "dry_run",
            Outcome::RolledBack => "rolled_back",
        }
    }
}

/// One action on an incident's response timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// Wall clock, ns since the epoch.
    pub time_ns: u64,
    pub playbook: String,
    /// `block`, `notify`, ..., or `rollback`.
    pub action: String,
    pub outcome: Outcome,
    /// What was (or would have been) done, or why it failed.
    pub detail: String,
    /// Block-list entries the action added.
    #[serde(default)]
    pub block_ids: Vec<u64>,
    /// Set once a rollback removed those entries.
    #[serde(default)]
    pub rolled_back: bool,
    /// SHA-256 (hex) of an artefact the action obtained (acquire_memory).
    #[serde(default)]
    pub artefact_sha256: String,
}

impl ActionRecord {
    pub fn new(playbook: &str, action: &str, outcome: Outcome, detail: String) -> ActionRecord {
        ActionRecord {
            time_ns: crate::health::now_nanos(),
            playbook: playbook.to_owned(),
            action: action.to_owned(),
            outcome,
            detail,
            block_ids: Vec::new(),
            rolled_back: false,
            artefact_sha256: String::new(),
        }
    }
}

const HOUR_NS: u64 = 3_600 * 1_000_000_000;

/// Sliding one-hour windows of the times each action acted, by (playbook, action index).
#[derive(Debug, Default)]
pub struct RateLimits {
    windows: HashMap<(String, usize), VecDeque<u64>>,
}

impl RateLimits {
    /// True (and counted in the window) when the action may act at `now_ns`.
    pub fn admit(&mut self, playbook: &str, step: usize, max_per_hour: u32, now_ns: u64) -> bool {
        let w = self.windows.entry((playbook.to_owned(), step)).or_default();
        while w.front().is_some_and(|&t| t + HOUR_NS <= now_ns) {
            w.pop_front();
        }
        if w.len() >= max_per_hour as usize {
            return false;
        }
        w.push_back(now_ns);
        true
    }

    /// Forgets every window (after a reload, action indices may mean other actions).
    pub fn clear(&mut self) {
        self.windows.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_admits_its_maximum_per_hour_then_again_after_an_hour() {
        let mut r = RateLimits::default();
        let t = 10 * HOUR_NS;
        assert!(r.admit("p", 0, 2, t));
        assert!(r.admit("p", 0, 2, t + 1));
        assert!(!r.admit("p", 0, 2, t + 2));
        assert!(
            r.admit("p", 1, 2, t + 2),
            "another action has its own window"
        );
        assert!(r.admit("p", 0, 2, t + HOUR_NS));
    }
}
