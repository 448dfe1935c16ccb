//! Signature details of the active ruleset, to complete alerts whose source leaves `msg`
//! empty.

use std::collections::HashMap;

use crate::incidents::attack::{self, ClasstypeTable};
use crate::model::{Attack, StoredRule};

/// What ingest knows about a signature, to fill in alert fields workers do not carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignatureInfo {
    pub msg: String,
    pub category: String,
    pub severity: u8,
    /// ATT&CK tactic and technique, from the rule's metadata or its classtype.
    pub attack: Attack,
}

/// Signature details by (gid, sid), from the active ruleset.
#[derive(Clone, Debug, Default)]
pub struct SignatureCatalog {
    by_sid: HashMap<(u32, u32), SignatureInfo>,
}

impl SignatureCatalog {
    /// Builds from stored rules. `category` is the classtype; severity is the priority;
    /// ATT&CK from each rule's text and the shipped classtype table.
    pub fn from_rules(rules: &[StoredRule]) -> Self {
        let table = ClasstypeTable::builtin();
        let by_sid = rules
            .iter()
            .map(|r| {
                (
                    (r.gid, r.sid),
                    SignatureInfo {
                        msg: r.msg.clone(),
                        category: r.classtype.clone(),
                        severity: r.priority,
                        attack: attack::of_rule(&r.text, &r.classtype, table),
                    },
                )
            })
            .collect();
        SignatureCatalog { by_sid }
    }

    pub fn get(&self, gid: u32, sid: u32) -> Option<&SignatureInfo> {
        self.by_sid.get(&(gid, sid))
    }

    pub fn len(&self) -> usize {
        self.by_sid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_sid.is_empty()
    }
}
