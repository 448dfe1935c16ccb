//! A set of indicators gathered from bundles and lists, and its compilation into what the
//! workers look up ([`Compiled`]): every matchable indicator's lookups, the context each hit
//! carries (confidence, labels, the malware, campaigns, intrusion sets and ATT&CK techniques
//! related through relationships), and a [`Report`] of what was left out and why.
//!
//! An indicator id seen twice keeps the version with the later `modified` (a feed that
//! revokes what it sent sends a newer version with `revoked: true`).

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::list::{parse_list, BadLine};
use crate::object::{timestamp_nanos, Bundle, Indicator, Named, Object};

use crate::observable::{matches_of, Match, Unsupported};
use crate::pattern;

/// Reasons listed one by one in a [`Report`] (the rest are only counted).
pub const MAX_LISTED: usize = 1000;
/// Related objects kept per indicator.
pub const MAX_RELATED: usize = 16;
/// Relationship hops followed from an indicator (indicator → malware → campaign →
/// intrusion set).
pub const RELATED_DEPTH: usize = 3;

/// Indicators and the objects they relate to, from any number of sources.
#[derive(Debug, Default)]
pub struct IntelSet {
    sources: Vec<String>,
    indicators: Vec<(u16, Indicator)>,
    by_id: HashMap<String, usize>,
    named: HashMap<String, Named>,
    edges: HashMap<String, Vec<String>>,
    objects: u64,
    malformed: Vec<(String, String)>,
    malformed_count: u64,
}

/// An indicator as a hit reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct IndicatorInfo {
    pub id: String,
    pub pattern: String,
    pub confidence: Option<u8>,
    pub labels: Vec<String>,
    pub related: Vec<Related>,
    /// Validity, nanoseconds since the epoch (`None`: open).
    pub valid_from: Option<u64>,
    pub valid_until: Option<u64>,
    /// Index into [`Compiled::sources`].
    pub source: u16,
}

/// An object related to an indicator.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Related {
    pub kind: String,
    pub id: String,
    pub name: String,
    /// The ATT&CK technique id of an attack pattern.
    pub external_id: Option<String>,
}

/// A set ready for the workers.
#[derive(Clone, Debug, Default)]
pub struct Compiled {
    pub sources: Vec<String>,
    pub indicators: Vec<IndicatorInfo>,
    /// Every lookup, with the index of its indicator in `indicators`.
    pub matches: Vec<(u32, Match)>,
    pub report: Report,
}

/// What a compilation took and left.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// STIX objects read (all types).
    pub objects: u64,
    /// Distinct indicators (latest version of each id).
    pub indicators: u64,
    /// Indicators compiled for matching.
    pub active: u64,
    pub revoked: u64,
    /// Past `valid_until` at compile time (still compiled: hits are checked against packet
    /// time, so replays of old captures match).
    pub expired: u64,
    /// Patterns that cannot be matched on traffic (counted by reason in `by_reason`).
    pub unsupported: u64,
    /// Objects or lines that could not be read at all.
    pub malformed: u64,
    pub by_reason: BTreeMap<String, u64>,
    /// `(indicator id or source:line, reason)`, the first [`MAX_LISTED`].
    pub listed: Vec<(String, String)>,
}

impl Report {
    fn note(&mut self, what: String, reason: String, kind: &str) {
        *self.by_reason.entry(kind.to_string()).or_default() += 1;
        if self.listed.len() < MAX_LISTED {
            self.listed.push((what, reason));
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} objects, {} indicators: {} active, {} revoked, {} expired, {} unsupported, {} malformed",
            self.objects,
            self.indicators,
            self.active,
            self.revoked,
            self.expired,
            self.unsupported,
            self.malformed
        )
    }
}

/// Why a source could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}: {1}")]
    Bundle(String, crate::object::BundleError),
    #[error("more than {} sources", u16::MAX)]
    TooManySources,
    #[error("reading {0}: {1}")]
    Io(String, std::io::Error),
}

impl IntelSet {
    pub fn new() -> Self {
        Self::default()
    }

    fn source(&mut self, name: &str) -> Result<u16, SourceError> {
        let i = u16::try_from(self.sources.len()).map_err(|_| SourceError::TooManySources)?;
        self.sources.push(name.to_string());
        Ok(i)
    }

    /// Adds a file ([`IntelSet::add_text`]), named by its path.
    pub fn add_file(&mut self, path: &std::path::Path) -> Result<(), SourceError> {
        let name = path.display().to_string();
        let text = std::fs::read(path).map_err(|e| SourceError::Io(name.clone(), e))?;
        self.add_text(&name, &text)
    }

    /// Adds a file's content: a STIX bundle (JSON) or a plain list, told apart by the first
    /// non-blank byte.
    pub fn add_text(&mut self, name: &str, text: &[u8]) -> Result<(), SourceError> {
        let first = text.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'{') {
            let src = self.source(name)?;
            // Object by object: a large bundle is never held as a vector of parsed objects.
            let mut de = serde_json::Deserializer::from_slice(text);
            let kind =
                serde::de::DeserializeSeed::deserialize(BundleSeed { set: self, src }, &mut de)
                    .and_then(|k| de.end().map(|()| k))
                    .map_err(|e| SourceError::Bundle(name.into(), e.into()))?;
            if kind != "bundle" {
                return Err(SourceError::Bundle(
                    name.into(),
                    crate::object::BundleError::NotABundle(kind),
                ));
            }
            Ok(())
        } else {
            self.add_list(name, &String::from_utf8_lossy(text))
        }
    }

    /// Adds a plain list's indicators ([`crate::list`]).
    pub fn add_list(&mut self, name: &str, text: &str) -> Result<(), SourceError> {
        let src = self.source(name)?;
        let (good, bad) = parse_list(name, text);
        for BadLine { line, reason } in bad {
            self.malformed_object(format!("{name}:{line}"), reason);
        }
        for i in good {
            self.objects += 1;
            self.add_indicator(src, i);
        }
        Ok(())
    }

    /// Adds a bundle's objects.
    pub fn add_bundle(&mut self, name: &str, b: Bundle) -> Result<(), SourceError> {
        let src = self.source(name)?;
        for o in b.objects {
            self.add_object(src, o);
        }
        Ok(())
    }

    fn malformed_object(&mut self, what: String, reason: String) {
        self.malformed_count += 1;
        if self.malformed.len() < MAX_LISTED {
            self.malformed.push((what, reason));
        }
    }

    fn add_object(&mut self, src: u16, o: Object) {
        self.objects += 1;
        match o {
            Object::Indicator(i) => self.add_indicator(src, i),
            Object::Named(n) => {
                self.named.insert(n.id.clone(), n);
            }
            Object::Relationship(r) if !r.revoked => {
                self.edges
                    .entry(r.source_ref.clone())
                    .or_default()
                    .push(r.target_ref.clone());
                self.edges
                    .entry(r.target_ref)
                    .or_default()
                    .push(r.source_ref);
            }
            Object::Malformed { value, error } => {
                let id = value
                    .get("id")
                    .and_then(|v| v.as_str())
                    .unwrap_or("(no id)");
                self.malformed_object(id.to_string(), error);
            }
            _ => {}
        }
    }

    fn add_indicator(&mut self, src: u16, i: Indicator) {
        match self.by_id.get(&i.id) {
            Some(&k) => {
                let newer = i.modified.as_deref().and_then(timestamp_nanos)
                    >= self.indicators[k]
                        .1
                        .modified
                        .as_deref()
                        .and_then(timestamp_nanos);
                if newer {
                    self.indicators[k] = (src, i);
                }
            }
            None => {
                self.by_id.insert(i.id.clone(), self.indicators.len());
                self.indicators.push((src, i));
            }
        }
    }

    /// Distinct indicators so far.
    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    /// Compiles the set; `now` (nanoseconds since the epoch) only decides what the report
    /// counts as expired.
    pub fn compile(&self, now: u64) -> Compiled {
        let mut out = Compiled {
            sources: self.sources.clone(),
            ..Compiled::default()
        };
        let r = &mut out.report;
        r.objects = self.objects;
        r.indicators = self.indicators.len() as u64;
        r.malformed = self.malformed_count;
        for (what, why) in &self.malformed {
            r.note(what.clone(), why.clone(), "malformed");
        }
        let graph = self.named_graph();
        for (src, ind) in &self.indicators {
            if ind.revoked {
                out.report.revoked += 1;
                continue;
            }
            let matches = match lookups(ind) {
                Ok(m) => m,
                Err(e) => {
                    out.report.unsupported += 1;
                    out.report
                        .note(ind.id.clone(), e.to_string(), reason_kind(&e));
                    continue;
                }
            };
            let info = self.info(*src, ind, &graph);
            if info.valid_until.is_some_and(|u| u <= now) {
                out.report.expired += 1;
            }
            let n = out.indicators.len() as u32;
            out.indicators.push(info);
            out.matches.extend(matches.into_iter().map(|m| (n, m)));
        }
        out.report.active = out.indicators.len() as u64;
        out
    }

    fn info(
        &self,
        source: u16,
        ind: &Indicator,
        graph: &HashMap<&str, Vec<&str>>,
    ) -> IndicatorInfo {
        IndicatorInfo {
            id: ind.id.clone(),
            pattern: ind.pattern.clone(),
            confidence: ind.confidence.map(|c| c.min(100)),
            labels: ind.labels.clone(),
            related: self.related(&ind.id, graph),
            valid_from: ind.valid_from.as_deref().and_then(timestamp_nanos),
            valid_until: ind.valid_until.as_deref().and_then(timestamp_nanos),
            source,
        }
    }

    /// A named object that may appear in `related` (not revoked, not an identity).
    fn usable(&self, id: &str) -> Option<&Named> {
        self.named
            .get(id)
            .filter(|n| !n.revoked && n.kind != "identity")
    }

    /// The relationships between usable named objects, by object: the graph `related` walks
    /// past an indicator's own relationships. Built once per compilation, so a malware object
    /// that a million indicators point at is not re-read for each of them.
    fn named_graph(&self) -> HashMap<&str, Vec<&str>> {
        let mut g: HashMap<&str, Vec<&str>> = HashMap::new();
        for id in self.named.keys() {
            if self.usable(id).is_none() {
                continue;
            }
            let next: Vec<&str> = self
                .edges
                .get(id)
                .into_iter()
                .flatten()
                .map(String::as_str)
                .filter(|n| self.usable(n).is_some())
                .collect();
            if !next.is_empty() {
                g.insert(id.as_str(), next);
            }
        }
        g
    }

    /// Named objects reachable from indicator `id` within [`RELATED_DEPTH`] relationships,
    /// through named objects only.
    fn related(&self, id: &str, graph: &HashMap<&str, Vec<&str>>) -> Vec<Related> {
        let Some(first) = self.edges.get(id) else {
            return Vec::new();
        };
        let mut seen = std::collections::HashSet::new();
        let mut queue: VecDeque<(&str, usize)> = first
            .iter()
            .map(String::as_str)
            .filter(|n| self.usable(n).is_some())
            .map(|n| (n, 1))
            .collect();
        let mut out = Vec::new();
        while let Some((at, depth)) = queue.pop_front() {
            if !seen.insert(at) {
                continue;
            }
            let n = self.usable(at).expect("only usable objects are queued");
            out.push(Related {
                kind: n.kind.clone(),
                id: n.id.clone(),
                name: n.name.clone(),
                external_id: n.attack_id().map(str::to_string),
            });
            if depth < RELATED_DEPTH {
                for next in graph.get(at).into_iter().flatten() {
                    queue.push_back((next, depth + 1));
                }
            }
        }
        out.sort();
        out.truncate(MAX_RELATED);
        out
    }
}

/// Reads a bundle's objects straight into a set; yields the bundle's `type`.
struct BundleSeed<'a> {
    set: &'a mut IntelSet,
    src: u16,
}

impl<'de> serde::de::DeserializeSeed<'de> for BundleSeed<'_> {
    type Value = String;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for BundleSeed<'_> {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a STIX bundle")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
        let mut kind = String::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => kind = map.next_value()?,
                "objects" => map.next_value_seed(ObjectsSeed {
                    set: &mut *self.set,
                    src: self.src,
                })?,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(kind)
    }
}

/// A bundle's `objects`, each added as it is read.
struct ObjectsSeed<'a> {
    set: &'a mut IntelSet,
    src: u16,
}

impl<'de> serde::de::DeserializeSeed<'de> for ObjectsSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ObjectsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of STIX objects")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<serde_json::Value>()? {
            self.set.add_object(self.src, Object::from_value(v));
        }
        Ok(())
    }
}

/// The lookups of an indicator's pattern.
pub fn lookups(ind: &Indicator) -> Result<Vec<Match>, Unsupported> {
    if ind.pattern_type != "stix" {
        return Err(Unsupported::PatternType(ind.pattern_type.clone()));
    }
    let p = pattern::parse(&ind.pattern).map_err(|e| Unsupported::Syntax(e.to_string()))?;
    matches_of(&p)
}

fn reason_kind(e: &Unsupported) -> &'static str {
    match e {
        Unsupported::PatternType(_) => "pattern_type",
        Unsupported::Syntax(_) => "syntax",
        Unsupported::Correlation(_) => "correlation",
        Unsupported::Qualifier(_) => "qualifier",
        Unsupported::Property(_) => "property",
        Unsupported::Operator { .. } => "operator",
        Unsupported::Value { .. } => "value",
        Unsupported::Negation(_) => "negation",
        Unsupported::Lookups(_) => "lookups",
        Unsupported::TooManyAlternatives => "alternatives",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indicator(id: &str, pattern: &str, extra: &str) -> String {
        format!(
            r#"{{"type": "indicator", "id": "{id}", "pattern": "{pattern}", "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z"{extra}}}"#
        )
    }

    fn bundle(objects: &[String]) -> Vec<u8> {
        format!(
            r#"{{"type": "bundle", "id": "bundle--1", "objects": [{}]}}"#,
            objects.join(",")
        )
        .into_bytes()
    }

    #[test]
    fn context_comes_through_relationships() {
        let objs = vec![
            indicator("indicator--a", "[domain-name:value = 'c2.example']", r#", "confidence": 70, "labels": ["c2"]"#),
            r#"{"type": "malware", "id": "malware--m", "name": "Evil RAT"}"#.into(),
            r#"{"type": "campaign", "id": "campaign--c", "name": "Op Dawn"}"#.into(),
            r#"{"type": "intrusion-set", "id": "intrusion-set--i", "name": "APT-Z"}"#.into(),
            r#"{"type": "attack-pattern", "id": "attack-pattern--t", "name": "Application Layer Protocol", "external_references": [{"source_name": "mitre-attack", "external_id": "T1071"}]}"#.into(),
            r#"{"type": "identity", "id": "identity--x", "name": "Vendor"}"#.into(),
            r#"{"type": "relationship", "id": "relationship--1", "relationship_type": "indicates", "source_ref": "indicator--a", "target_ref": "malware--m"}"#.into(),
            r#"{"type": "relationship", "id": "relationship--2", "relationship_type": "uses", "source_ref": "campaign--c", "target_ref": "malware--m"}"#.into(),
            r#"{"type": "relationship", "id": "relationship--3", "relationship_type": "attributed-to", "source_ref": "campaign--c", "target_ref": "intrusion-set--i"}"#.into(),
            r#"{"type": "relationship", "id": "relationship--4", "relationship_type": "uses", "source_ref": "malware--m", "target_ref": "attack-pattern--t"}"#.into(),
            r#"{"type": "relationship", "id": "relationship--5", "relationship_type": "created-by", "source_ref": "indicator--a", "target_ref": "identity--x"}"#.into(),
        ];
        let mut s = IntelSet::new();
        s.add_text("b.json", &bundle(&objs)).unwrap();
        let c = s.compile(0);
        assert_eq!(c.report.active, 1, "{}", c.report);
        let info = &c.indicators[0];
        assert_eq!(info.confidence, Some(70));
        let kinds: Vec<(&str, &str)> = info
            .related
            .iter()
            .map(|r| (r.kind.as_str(), r.name.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("attack-pattern", "Application Layer Protocol"),
                ("campaign", "Op Dawn"),
                ("intrusion-set", "APT-Z"),
                ("malware", "Evil RAT")
            ]
        );
        assert_eq!(info.related[0].external_id.as_deref(), Some("T1071"));
    }

    #[test]
    fn bad_input_is_counted_and_listed_never_fatal() {
        let objs = vec![
            indicator("indicator--ok", "[ipv4-addr:value = '192.0.2.1']", ""),
            indicator("indicator--syntax", "[ipv4-addr:value = ", ""),
            indicator("indicator--corr", "[ipv4-addr:value = '192.0.2.1'] AND [ipv4-addr:value = '192.0.2.2']", ""),
            indicator("indicator--rev", "[ipv4-addr:value = '192.0.2.3']", r#", "revoked": true"#),
            indicator("indicator--old", "[ipv4-addr:value = '192.0.2.4']", r#", "valid_until": "2021-01-01T00:00:00Z""#),
            r#"{"type": "indicator", "id": "indicator--nopattern"}"#.into(),
            r#"{"type": "indicator", "id": "indicator--sigma", "pattern": "title: x", "pattern_type": "sigma"}"#.into(),
        ];
        let mut s = IntelSet::new();
        s.add_text("b.json", &bundle(&objs)).unwrap();
        let c = s.compile(timestamp_nanos("2022-01-01T00:00:00Z").unwrap());
        let r = &c.report;
        assert_eq!(
            (
                r.objects,
                r.indicators,
                r.active,
                r.revoked,
                r.expired,
                r.unsupported,
                r.malformed
            ),
            (7, 6, 2, 1, 1, 3, 1),
            "{r}"
        );
        let listed: Vec<&str> = r.listed.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            listed,
            [
                "indicator--nopattern",
                "indicator--syntax",
                "indicator--corr",
                "indicator--sigma"
            ]
        );
        assert_eq!(r.by_reason["syntax"], 1);
        assert!(matches!(
            s.add_text("x.json", b"{ not json"),
            Err(SourceError::Bundle(..))
        ));
        let e = s
            .add_text("i.json", br#"{"objects": [], "type": "indicator"}"#)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("\"indicator\" object where a bundle"),
            "{e}"
        );
        // `type` may follow `objects`; trailing bytes after the bundle are refused.
        let mut t = IntelSet::new();
        t.add_text("late.json", br#"{"objects": [{"type": "indicator", "id": "indicator--l", "pattern": "[ipv4-addr:value = '192.0.2.8']"}], "type": "bundle"}"#)
            .unwrap();
        assert_eq!(t.len(), 1);
        assert!(t
            .add_text("trail.json", br#"{"type": "bundle", "objects": []} x"#)
            .is_err());
    }

    #[test]
    fn a_newer_version_replaces_and_revokes() {
        let mut s = IntelSet::new();
        let v1 = indicator(
            "indicator--a",
            "[ipv4-addr:value = '192.0.2.1']",
            r#", "modified": "2020-01-01T00:00:00Z""#,
        );
        let v2 = indicator(
            "indicator--a",
            "[ipv4-addr:value = '192.0.2.1']",
            r#", "modified": "2020-02-01T00:00:00Z", "revoked": true"#,
        );
        s.add_text("feed", &bundle(std::slice::from_ref(&v1)))
            .unwrap();
        assert_eq!(s.compile(0).report.active, 1);
        s.add_text("feed", &bundle(&[v2])).unwrap();
        // An older copy arriving late does not bring it back.
        s.add_text("feed", &bundle(&[v1])).unwrap();
        let c = s.compile(0);
        assert_eq!(
            (c.report.indicators, c.report.active, c.report.revoked),
            (1, 0, 1)
        );
    }
}

/// Load time of a large file: `OSPREY_INTEL_LOAD=bundle.json cargo test --release -p stix
/// load_time -- --ignored --nocapture` (bundles from `tests/intel/generate_bundle.py`).
#[cfg(test)]
mod load_time {
    #[test]
    #[ignore]
    fn load_time() {
        let Some(path) = std::env::var_os("OSPREY_INTEL_LOAD") else {
            return;
        };
        let t = std::time::Instant::now();
        let mut s = super::IntelSet::new();
        s.add_file(std::path::Path::new(&path)).unwrap();
        let read = t.elapsed();
        let c = s.compile(0);
        eprintln!(
            "{}: read {:.2} s, compiled {:.2} s",
            c.report,
            read.as_secs_f64(),
            (t.elapsed() - read).as_secs_f64()
        );
    }
}
