//! MITRE ATT&CK mapping of alerts: a rule's own `metadata` (`mitre_tactic_id`,
//! `mitre_tactic_name`, `mitre_technique_id`, `mitre_technique_name`, as ET Open writes them
//! on thousands of rules) first, else the documented classtype → tactic table
//! (`controlplane/data/classtype-tactics.toml`), else nothing. Runs when a ruleset's
//! signature catalog is built, never per alert.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::model::Attack;

/// The table shipped with the appliance.
const BUILTIN: &str = include_str!("../../data/classtype-tactics.toml");

/// Classtype → (tactic id, tactic name).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClasstypeTable {
    tactics: HashMap<String, (String, String)>,
}

/// Why a classtype table was refused.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("classtype table: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("classtype table: `{classtype}` maps to `{id}`, which is not a tactic id (TA0000)")]
    BadId { classtype: String, id: String },
}

impl ClasstypeTable {
    /// Parses and checks a table in the shipped file's format.
    pub fn parse(text: &str) -> Result<Self, TableError> {
        let t: ClasstypeTable = toml::from_str(text)?;
        for (classtype, (id, _)) in &t.tactics {
            if tactic_stage(id).is_none() {
                return Err(TableError::BadId {
                    classtype: classtype.clone(),
                    id: id.clone(),
                });
            }
        }
        Ok(t)
    }

    /// The shipped table, parsed once. A test holds the file valid.
    pub fn builtin() -> &'static ClasstypeTable {
        static T: OnceLock<ClasstypeTable> = OnceLock::new();
        T.get_or_init(|| ClasstypeTable::parse(BUILTIN).unwrap_or_default())
    }

    /// The tactic of `classtype`, if the table has one.
    pub fn tactic(&self, classtype: &str) -> Option<(&str, &str)> {
        self.tactics
            .get(classtype)
            .map(|(id, name)| (id.as_str(), name.as_str()))
    }

    pub fn len(&self) -> usize {
        self.tactics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tactics.is_empty()
    }
}

/// The ATT&CK mapping of a rule from its text (one line) and classtype.
pub fn of_rule(text: &str, classtype: &str, table: &ClasstypeTable) -> Attack {
    let mut a = Attack::default();
    for (k, v) in metadata_pairs(text) {
        let slot = match k {
            "mitre_tactic_id" => &mut a.tactic_id,
            "mitre_tactic_name" => &mut a.tactic_name,
            "mitre_technique_id" => &mut a.technique_id,
            "mitre_technique_name" => &mut a.technique_name,
            _ => continue,
        };
        if slot.is_empty() {
            v.clone_into(slot);
        }
    }
    if a.tactic_id.is_empty() {
        if let Some((id, name)) = table.tactic(classtype) {
            id.clone_into(&mut a.tactic_id);
            name.clone_into(&mut a.tactic_name);
        }
    }
    a
}

/// The `key value` pairs of every `metadata:` option of a rule's text.
pub fn metadata_pairs(text: &str) -> Vec<(&str, &str)> {
    let Some(open) = text.find('(') else {
        return Vec::new();
    };
    options(&text[open + 1..])
        .filter_map(|o| o.trim().strip_prefix("metadata:"))
        .flat_map(|m| m.split(','))
        .filter_map(|kv| {
            let kv = kv.trim();
            let (k, v) = kv.split_once(char::is_whitespace)?;
            Some((k, v.trim()))
        })
        .collect()
}

/// The options of a rule body (after its `(`), split at `;` outside quotes, honouring `\`.
fn options(body: &str) -> impl Iterator<Item = &str> {
    let b = body.as_bytes();
    let mut cuts = Vec::new();
    let (mut i, mut quoted) = (0, false);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'"' => quoted = !quoted,
            b';' if !quoted => cuts.push(i),
            _ => {}
        }
        i += 1;
    }
    let mut start = 0;
    cuts.into_iter().map(move |c| {
        let s = &body[start..c];
        start = c + 1;
        s
    })
}

/// Position of an Enterprise (or mobile C2) tactic in the kill chain, 1 (reconnaissance) to
/// 14 (impact); `None` for an unknown id.
pub fn tactic_stage(id: &str) -> Option<u8> {
    Some(match id {
        "TA0043" => 1,             // Reconnaissance
        "TA0042" => 2,             // Resource Development
        "TA0001" => 3,             // Initial Access
        "TA0002" => 4,             // Execution
        "TA0003" => 5,             // Persistence
        "TA0004" => 6,             // Privilege Escalation
        "TA0005" => 7,             // Defense Evasion
        "TA0006" => 8,             // Credential Access
        "TA0007" => 9,             // Discovery
        "TA0008" => 10,            // Lateral Movement
        "TA0009" => 11,            // Collection
        "TA0011" | "TA0037" => 12, // Command and Control (enterprise, mobile)
        "TA0010" => 13,            // Exfiltration
        "TA0040" => 14,            // Impact
        _ => return None,
    })
}

/// The last stage, [`tactic_stage`] of impact.
pub const LAST_STAGE: u8 = 14;

#[cfg(test)]
mod tests {
    use super::*;

    const ET: &str = r#"alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET MALWARE x\; y"; flow:established,to_server; classtype:trojan-activity; sid:2031000; rev:1; metadata:affected_product Windows_XP_Vista_7_8_10_Server_32_64_Bit, attack_target Client_Endpoint, created_at 2020_12_08, mitre_tactic_id TA0010, mitre_tactic_name Exfiltration, mitre_technique_id T1041, mitre_technique_name Exfiltration_Over_C2_Channel;)"#;

    #[test]
    fn rule_metadata_wins_over_the_classtype() {
        let a = of_rule(ET, "trojan-activity", ClasstypeTable::builtin());
        assert_eq!(a.tactic_id, "TA0010");
        assert_eq!(a.tactic_name, "Exfiltration");
        assert_eq!(a.technique_id, "T1041");
        assert_eq!(a.technique_name, "Exfiltration_Over_C2_Channel");
    }

    #[test]
    fn classtype_fills_in_a_tactic_but_never_a_technique() {
        let r = r#"alert tcp any any -> any any (msg:"scan; metadata:mitre_tactic_id TA0001"; classtype:network-scan; sid:1;)"#;
        let a = of_rule(r, "network-scan", ClasstypeTable::builtin());
        assert_eq!(
            (a.tactic_id.as_str(), a.technique_id.as_str()),
            ("TA0043", "")
        );
        let none = of_rule(r, "policy-violation", ClasstypeTable::builtin());
        assert_eq!(none, Attack::default());
    }

    #[test]
    fn the_shipped_table_parses_and_bad_ids_are_refused() {
        assert!(ClasstypeTable::parse(BUILTIN).unwrap().len() > 20);
        let e = ClasstypeTable::parse("[tactics]\n\"x\" = [\"T1041\", \"n\"]\n").unwrap_err();
        assert!(e.to_string().contains("`x` maps to `T1041`"), "{e}");
        assert!(ClasstypeTable::parse("[tactic]\n").is_err());
    }

    #[test]
    fn every_et_open_mitre_tactic_has_a_stage() {
        let Some(dir) = vocab::testing::shared_data("et-open") else {
            return;
        };
        let entries = std::fs::read_dir(&dir).unwrap();
        let mut seen = 0;
        for e in entries.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            for line in text.lines().filter(|l| l.contains("mitre_tactic_id")) {
                let a = of_rule(line, "", ClasstypeTable::builtin());
                assert!(tactic_stage(&a.tactic_id).is_some(), "{}", a.tactic_id);
                assert!(!a.technique_id.is_empty(), "{line}");
                seen += 1;
            }
        }
        assert!(seen > 1000, "only {seen} rules with ATT&CK metadata");
    }
}
