//! A playbook's condition on an incident: every clause given must hold; a list clause holds
//! when any of its values does. An empty condition holds for every incident.

use serde::{Deserialize, Serialize};

use crate::incidents::{Assets, Incident};

/// `[playbooks.when]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Condition {
    /// The incident's score is at least this.
    pub min_priority: Option<u32>,
    /// The incident went through one of these tactics (`TA0011`).
    pub tactic: Vec<String>,
    /// A member carried one of these techniques (`T1071`).
    pub technique: Vec<String>,
    /// A member was raised by one of these rules.
    pub sid: Vec<u32>,
    /// The best member severity is at most this (1 is the most severe).
    pub max_severity: Option<u8>,
    /// The highest indicator confidence of a member is at least this (0..=100).
    pub min_intel_confidence: Option<u8>,
    /// The incident's host is in one of these `[[incidents.assets]]` groups.
    pub asset_group: Vec<String>,
}

impl Condition {
    /// Refuses values that could never hold.
    pub fn check(&self) -> Result<(), String> {
        if self.max_severity.is_some_and(|s| s == 0) {
            return Err("max_severity must be >= 1".into());
        }
        if self.min_intel_confidence.is_some_and(|c| c > 100) {
            return Err("min_intel_confidence must be within 0..=100".into());
        }
        Ok(())
    }

    /// `Ok` with what held, or `Err` with the first clause that did not.
    pub fn evaluate(&self, inc: &Incident, assets: &Assets) -> Result<Vec<String>, String> {
        let mut held = Vec::new();
        if let Some(p) = self.min_priority {
            let score = inc.score;
            if score < f64::from(p) {
                return Err(format!("priority {score} < {p}"));
            }
            held.push(format!("priority {score} >= {p}"));
        }
        any(
            &mut held,
            "tactic",
            &self.tactic,
            inc.tactics.iter().map(|(t, _)| t),
        )?;
        any(
            &mut held,
            "technique",
            &self.technique,
            inc.techniques.iter(),
        )?;
        any(&mut held, "sid", &self.sid, inc.sids.iter())?;
        if let Some(s) = self.max_severity {
            if inc.severity > s {
                return Err(format!("severity {} > {s}", inc.severity));
            }
            held.push(format!("severity {} <= {s}", inc.severity));
        }
        if let Some(c) = self.min_intel_confidence {
            if inc.intel_confidence < c {
                return Err(format!("intel confidence {} < {c}", inc.intel_confidence));
            }
            held.push(format!("intel confidence {} >= {c}", inc.intel_confidence));
        }
        if !self.asset_group.is_empty() {
            let group = assets.of(inc.key.host).map(|a| a.name.as_str());
            match group {
                Some(g) if self.asset_group.iter().any(|w| w == g) => {
                    held.push(format!("{} in asset group {g}", inc.key.host));
                }
                _ => {
                    return Err(format!(
                        "{} is in asset group {} (wanted {:?})",
                        inc.key.host,
                        group.unwrap_or("none"),
                        self.asset_group
                    ))
                }
            }
        }
        Ok(held)
    }
}

/// A list clause: holds when `have` shares a value with `want` (or `want` is empty).
fn any<'a, T: PartialEq + std::fmt::Display + 'a>(
    held: &mut Vec<String>,
    what: &str,
    want: &[T],
    have: impl Iterator<Item = &'a T> + Clone,
) -> Result<(), String> {
    if want.is_empty() {
        return Ok(());
    }
    match have.clone().find(|h| want.contains(h)) {
        Some(h) => {
            held.push(format!("{what} {h}"));
            Ok(())
        }
        None => Err(format!(
            "no {what} of [{}] (has [{}])",
            join(want.iter()),
            join(have)
        )),
    }
}

fn join<'a, T: std::fmt::Display + 'a>(it: impl Iterator<Item = &'a T>) -> String {
    it.map(ToString::to_string).collect::<Vec<_>>().join(", ")
}
