//! STIX 2.1 objects and bundles (STIX 2.1, sections 4–7): the types a threat-intelligence
//! feed sends that Osprey uses, each with the properties it reads typed and every other
//! property kept as it came (`extra`), so an object is written back unchanged.
//!
//! An object of a type not listed here is kept whole as [`Object::Other`].

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A STIX bundle: `{"type": "bundle", "id": ..., "objects": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub objects: Vec<Object>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One STIX object.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    Indicator(Indicator),
    /// `malware`, `threat-actor`, `campaign`, `intrusion-set`, `attack-pattern`, `identity`:
    /// named domain objects (their kind is in [`Named::kind`]).
    Named(Named),
    Relationship(Relationship),
    Sighting(Sighting),
    MarkingDefinition(MarkingDefinition),
    /// Any other type, kept whole.
    Other(Value),
    /// An object of a listed type that lacks what its type requires (kept whole, with why):
    /// counted and listed by whoever reads the bundle, never fatal to the rest.
    Malformed {
        value: Value,
        error: String,
    },
}

impl Serialize for Object {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Object::Indicator(o) => o.serialize(s),
            Object::Named(o) => o.serialize(s),
            Object::Relationship(o) => o.serialize(s),
            Object::Sighting(o) => o.serialize(s),
            Object::MarkingDefinition(o) => o.serialize(s),
            Object::Other(v) | Object::Malformed { value: v, .. } => v.serialize(s),
        }
    }
}

/// Types read as [`Named`].
pub const NAMED_TYPES: [&str; 6] = [
    "malware",
    "threat-actor",
    "campaign",
    "intrusion-set",
    "attack-pattern",
    "identity",
];

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Object::from_value(Value::deserialize(d)?))
    }
}

impl Object {
    /// The typed object for a JSON value; one that does not fit its type is
    /// [`Object::Malformed`].
    pub fn from_value(v: Value) -> Object {
        let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
        let typed = match kind {
            "indicator" => Deserialize::deserialize(&v).map(Object::Indicator),
            "relationship" => Deserialize::deserialize(&v).map(Object::Relationship),
            "sighting" => Deserialize::deserialize(&v).map(Object::Sighting),
            "marking-definition" => Deserialize::deserialize(&v).map(Object::MarkingDefinition),
            k if NAMED_TYPES.contains(&k) => Deserialize::deserialize(&v).map(Object::Named),
            _ => return Object::Other(v),
        };
        typed.unwrap_or_else(|e| Object::Malformed {
            value: v,
            error: e.to_string(),
        })
    }
}

impl Object {
    /// The object's `id`.
    pub fn id(&self) -> &str {
        match self {
            Object::Indicator(o) => &o.id,
            Object::Named(o) => &o.id,
            Object::Relationship(o) => &o.id,
            Object::Sighting(o) => &o.id,
            Object::MarkingDefinition(o) => &o.id,
            Object::Other(v) | Object::Malformed { value: v, .. } => {
                v.get("id").and_then(Value::as_str).unwrap_or_default()
            }
        }
    }

    /// The object's `type`.
    pub fn kind(&self) -> &str {
        match self {
            Object::Indicator(o) => &o.kind,
            Object::Named(o) => &o.kind,
            Object::Relationship(o) => &o.kind,
            Object::Sighting(o) => &o.kind,
            Object::MarkingDefinition(o) => &o.kind,
            Object::Other(v) | Object::Malformed { value: v, .. } => {
                v.get("type").and_then(Value::as_str).unwrap_or_default()
            }
        }
    }
}

fn indicator_type() -> String {
    "indicator".into()
}

/// An `indicator`: a pattern and when it is valid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    #[serde(rename = "type", default = "indicator_type")]
    pub kind: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub pattern: String,
    #[serde(default = "stix_pattern_type")]
    pub pattern_type: String,
    /// RFC 3339 (`2016-01-01T00:00:00Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
    /// 0–100 (STIX 2.1, section 3.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indicator_types: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn stix_pattern_type() -> String {
    "stix".into()
}

/// A named domain object: malware, threat actor, campaign, intrusion set, attack pattern,
/// identity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Named {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_references: Vec<ExternalReference>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Named {
    /// The ATT&CK id (`T1071`) of an attack pattern, from its `mitre-attack` reference.
    pub fn attack_id(&self) -> Option<&str> {
        self.external_references
            .iter()
            .find(|r| r.source_name.starts_with("mitre"))
            .and_then(|r| r.external_id.as_deref())
    }
}

/// An entry of `external_references`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExternalReference {
    #[serde(default)]
    pub source_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `relationship` between two objects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Relationship {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub relationship_type: String,
    pub source_ref: String,
    pub target_ref: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `sighting` of an indicator or another object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sighting {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub sighting_of_ref: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub where_sighted_refs: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `marking-definition` (TLP and statements).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarkingDefinition {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition_type: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why a bundle could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("not JSON or not a STIX bundle: {0}")]
    Json(#[from] serde_json::Error),
    #[error("a {0:?} object where a bundle was expected")]
    NotABundle(String),
}

impl Bundle {
    /// Reads a bundle from its JSON text.
    pub fn from_json(text: &[u8]) -> Result<Bundle, BundleError> {
        let b: Bundle = serde_json::from_slice(text)?;
        if b.kind != "bundle" {
            return Err(BundleError::NotABundle(b.kind));
        }
        Ok(b)
    }
}

/// A STIX timestamp (RFC 3339, `Z`) as nanoseconds since the epoch.
pub fn timestamp_nanos(s: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    u64::try_from(d.as_nanos()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUNDLE: &str = r#"{
      "type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
      "objects": [
        {"type": "indicator", "spec_version": "2.1",
         "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
         "created": "2016-04-06T20:03:48.000Z", "modified": "2016-04-06T20:03:48.000Z",
         "indicator_types": ["malicious-activity"], "name": "Poison Ivy Malware",
         "pattern": "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
         "pattern_type": "stix", "valid_from": "2016-01-01T00:00:00Z",
         "confidence": 85, "x_custom": {"kept": [1, 2]}},
        {"type": "malware", "spec_version": "2.1", "id": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b",
         "name": "Poison Ivy", "is_family": true, "malware_types": ["remote-access-trojan"]},
        {"type": "attack-pattern", "spec_version": "2.1", "id": "attack-pattern--7e33a43e-e34b-40ec-89da-36c9bb2cacd5",
         "name": "Application Layer Protocol",
         "external_references": [{"source_name": "mitre-attack", "external_id": "T1071", "url": "https://attack.mitre.org/techniques/T1071"}]},
        {"type": "relationship", "spec_version": "2.1", "id": "relationship--29dcdf68-1b0c-4e16-94ed-bcc7a9572f69",
         "relationship_type": "indicates",
         "source_ref": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
         "target_ref": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"},
        {"type": "sighting", "spec_version": "2.1", "id": "sighting--ee20065d-2555-424f-ad9e-0f8428623c75",
         "sighting_of_ref": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "count": 3},
        {"type": "identity", "spec_version": "2.1", "id": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
         "name": "ACME", "identity_class": "organization"},
        {"type": "marking-definition", "spec_version": "2.1", "id": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
         "name": "TLP:AMBER", "definition_type": "tlp", "definition": {"tlp": "amber"}},
        {"type": "campaign", "id": "campaign--1", "name": "Operation X"},
        {"type": "threat-actor", "id": "threat-actor--1", "name": "Actor"},
        {"type": "intrusion-set", "id": "intrusion-set--1", "name": "APT-Z"},
        {"type": "x-unknown-thing", "id": "x-unknown-thing--1", "anything": [true]}
      ]}"#;

    #[test]
    fn every_listed_type_is_read_and_unknown_properties_survive() {
        let b = Bundle::from_json(BUNDLE.as_bytes()).unwrap();
        let kinds: Vec<&str> = b.objects.iter().map(Object::kind).collect();
        assert_eq!(
            kinds,
            [
                "indicator",
                "malware",
                "attack-pattern",
                "relationship",
                "sighting",
                "identity",
                "marking-definition",
                "campaign",
                "threat-actor",
                "intrusion-set",
                "x-unknown-thing"
            ]
        );
        let Object::Indicator(i) = &b.objects[0] else {
            panic!("indicator first")
        };
        assert_eq!(i.confidence, Some(85));
        assert_eq!(i.extra["x_custom"]["kept"][1], 2);
        let Object::Named(ap) = &b.objects[2] else {
            panic!("attack pattern")
        };
        assert_eq!(ap.attack_id(), Some("T1071"));
        // Written back, every object says the same thing.
        let again: Bundle = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!(again, b);
        let orig: Value = serde_json::from_str(BUNDLE).unwrap();
        let back = serde_json::to_value(&b).unwrap();
        assert_eq!(back["objects"][6], orig["objects"][6]);
        assert_eq!(
            back["objects"][0]["x_custom"],
            orig["objects"][0]["x_custom"]
        );
    }

    #[test]
    fn bad_bundles_say_why() {
        let e = Bundle::from_json(br#"{"type": "indicator", "id": "x"}"#).unwrap_err();
        assert!(e.to_string().contains("\"indicator\""), "{e}");
        let b = Bundle::from_json(
            br#"{"type": "bundle", "objects": [{"type": "indicator", "id": "indicator--1"}]}"#,
        )
        .unwrap();
        let Object::Malformed { error, .. } = &b.objects[0] else {
            panic!("an indicator without a pattern is kept as malformed")
        };
        assert!(error.contains("pattern"), "{error}");
        assert!(Bundle::from_json(b"[1,").is_err());
    }

    #[test]
    fn timestamps_read_as_nanoseconds() {
        assert_eq!(timestamp_nanos("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(
            timestamp_nanos("2016-01-01T00:00:00.5Z"),
            Some(1_451_606_400_500_000_000)
        );
        assert_eq!(timestamp_nanos("yesterday"), None);
    }
}
