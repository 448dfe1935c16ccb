//! Priority of an incident: the sum of six contributions, each listed with why, 0 to 100
//! points in all. The defaults (documented in the README, "Incidents"):
//!
//! | factor | points |
//! |---|---|
//! | severity | 30 for severity 1, 20 for 2, 10 for 3, 5 otherwise |
//! | asset | 3 × the criticality (0..=10) of the first asset group holding the host |
//! | kill chain | 15 × stage / 14 (reconnaissance 1 … impact 14), +5 for a progression |
//! | breadth | 2 per sid beyond the first (at most 6), 1 per peer beyond the first (at most 4) |
//! | intel | 0.1 × the best indicator confidence (0..=100) of a member |
//! | recency | 5 when the last member is within an hour of the newest packet seen, falling to 0 at 24 h |
//!
//! "Now" for recency is the newest packet time the correlator has seen, so the same input
//! gives the same scores.

use std::net::IpAddr;

use super::attack::LAST_STAGE;
use super::cidr::Cidr;
use super::incident::{Contribution, Incident};

/// One configured asset group, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Asset {
    pub name: String,
    pub cidrs: Vec<Cidr>,
    /// 0 (nothing of value) to 10 (crown jewels).
    pub criticality: u8,
}

/// The asset groups, first match wins.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Assets(pub Vec<Asset>);

impl Assets {
    pub fn of(&self, ip: IpAddr) -> Option<&Asset> {
        self.0
            .iter()
            .find(|a| a.cidrs.iter().any(|c| c.contains(ip)))
    }
}

const HOUR_NS: u64 = 3_600 * 1_000_000_000;
const DAY_NS: u64 = 24 * HOUR_NS;

/// Scores `inc` as of packet time `now_ns`, filling its score and explanation.
pub fn score(inc: &mut Incident, assets: &Assets, now_ns: u64) {
    let mut parts = Vec::with_capacity(6);
    let mut add = |factor: &str, detail: String, points: f64| {
        parts.push(Contribution {
            factor: factor.to_owned(),
            detail,
            points: (points * 10.0).round() / 10.0,
        });
    };
    let sev = match inc.severity {
        1 => 30.0,
        2 => 20.0,
        3 => 10.0,
        _ => 5.0,
    };
    add("severity", format!("best severity {}", inc.severity), sev);
    match assets.of(inc.key.host) {
        Some(a) => add(
            "asset",
            format!(
                "{} in `{}` (criticality {})",
                inc.key.host, a.name, a.criticality
            ),
            3.0 * f64::from(a.criticality.min(10)),
        ),
        None => add("asset", format!("{} in no asset group", inc.key.host), 0.0),
    }
    let mut chain = 15.0 * f64::from(inc.stage) / f64::from(LAST_STAGE);
    let mut detail = match inc.tactics.last() {
        Some(_) => format!(
            "stage {}/{LAST_STAGE} via {}",
            inc.stage,
            inc.tactics
                .iter()
                .map(|(t, _)| t.as_str())
                .collect::<Vec<_>>()
                .join(" → ")
        ),
        None => "no tactic known".to_owned(),
    };
    if inc.kill_chain {
        chain += 5.0;
        detail.push_str(", progression");
    }
    add("kill_chain", detail, chain);
    let sids = inc.sids.len().saturating_sub(1).min(3) as f64 * 2.0;
    let peers = inc.hosts.len().saturating_sub(1).min(4) as f64;
    add(
        "breadth",
        format!("{} sids, {} peers", inc.sids.len(), inc.hosts.len()),
        sids + peers,
    );
    add(
        "intel",
        format!("indicator confidence {}", inc.intel_confidence),
        0.1 * f64::from(inc.intel_confidence.min(100)),
    );
    let age = now_ns.saturating_sub(inc.last_ns);
    let recency = if age <= HOUR_NS {
        5.0
    } else if age >= DAY_NS {
        0.0
    } else {
        5.0 * (DAY_NS - age) as f64 / (DAY_NS - HOUR_NS) as f64
    };
    add(
        "recency",
        format!(
            "last member {}s before the newest packet",
            age / 1_000_000_000
        ),
        recency,
    );
    if inc.priority_boost != 0.0 {
        add(
            "playbook",
            "raised by playbooks".to_owned(),
            inc.priority_boost,
        );
    }
    inc.score = (parts.iter().map(|c| c.points).sum::<f64>() * 10.0).round() / 10.0;
    inc.explanation = parts;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incidents::incident::{GroupBy, GroupKey};
    use crate::model::Alert;

    fn assets() -> Assets {
        Assets(vec![
            Asset {
                name: "servers".into(),
                cidrs: vec![Cidr::parse("192.0.2.0/28").unwrap()],
                criticality: 10,
            },
            Asset {
                name: "printers".into(),
                cidrs: vec![Cidr::parse("198.51.100.0/24").unwrap()],
                criticality: 1,
            },
        ])
    }

    fn incident(host: &str, severity: u8, tactics: &[(&str, u8)], sids: &[u32]) -> Incident {
        let key = GroupKey {
            by: GroupBy::Host,
            host: host.parse().unwrap(),
            peer: None,
        };
        let mut i = Incident::open(1, key, &Alert::default(), 0);
        i.severity = severity;
        i.tactics = tactics.iter().map(|(t, _)| (t.to_string(), 0)).collect();
        i.stage = tactics.iter().map(|(_, s)| *s).max().unwrap_or(0);
        i.sids = sids.to_vec();
        i.hosts = vec!["203.0.113.5".parse().unwrap()];
        i.first_ns = 1_000;
        i.last_ns = 1_000;
        i
    }

    #[test]
    fn a_c2_beacon_from_a_critical_server_outranks_a_printer_scan() {
        let a = assets();
        let mut c2 = incident("192.0.2.3", 1, &[("TA0011", 12)], &[2_031_000]);
        let mut scan = incident(
            "198.51.100.20",
            3,
            &[("TA0043", 1)],
            &[2_001_219, 2_001_220],
        );
        score(&mut c2, &a, 2_000);
        score(&mut scan, &a, 2_000);
        assert!(
            c2.score > scan.score + 30.0,
            "{} vs {}",
            c2.score,
            scan.score
        );
        let sum: f64 = c2.explanation.iter().map(|c| c.points).sum();
        assert!((sum - c2.score).abs() < 0.05);
        let asset = c2.explanation.iter().find(|c| c.factor == "asset").unwrap();
        assert_eq!(asset.points, 30.0);
        assert!(asset.detail.contains("`servers`"), "{}", asset.detail);
    }

    #[test]
    fn intel_progression_and_recency_each_count() {
        let a = assets();
        let mut base = incident("192.0.2.3", 2, &[("TA0001", 3)], &[1]);
        score(&mut base, &a, 2_000);
        let mut intel = base.clone();
        intel.intel_confidence = 90;
        score(&mut intel, &a, 2_000);
        assert!((intel.score - base.score - 9.0).abs() < 0.05);
        let mut chain = base.clone();
        chain.kill_chain = true;
        score(&mut chain, &a, 2_000);
        assert!((chain.score - base.score - 5.0).abs() < 0.05);
        let mut old = base.clone();
        score(&mut old, &a, 2 * DAY_NS);
        assert!((base.score - old.score - 5.0).abs() < 0.05);
    }
}
