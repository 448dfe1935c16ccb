//! Compilation: each feed is compiled on its own when it changes ([`compile_feed`]), and the
//! feeds' compilations are joined into the one set the workers' tables are built from
//! ([`merge`]), leaving out indicators past `valid_until`. A feed that fails to update keeps
//! its last compilation, so it never takes the others' indicators with it.

use std::collections::HashMap;

use serde_json::Value;
use stix::{Compiled, IntelSet};

use super::feed::{Content, IndicatorCounts};

/// Compiles one feed's content under its name (the `source` of its hits); a file that is
/// neither a bundle nor a list is refused whole.
pub(crate) fn compile_feed(
    name: &str,
    content: &Content,
    now_ns: u64,
) -> Result<Compiled, stix::set::SourceError> {
    let mut set = IntelSet::new();
    match content {
        Content::Empty => {}
        Content::Text(t) => set.add_text(name, t)?,
        Content::Objects(m) => set.add_bundle(name, bundle_of(m))?,
    }
    let mut c = set.compile(now_ns);
    if c.sources.is_empty() {
        c.sources.push(name.to_owned());
    }
    Ok(c)
}

fn bundle_of(m: &HashMap<String, Value>) -> stix::Bundle {
    stix::Bundle {
        kind: "bundle".into(),
        id: String::new(),
        objects: m.values().cloned().map(stix::Object::from_value).collect(),
        extra: Default::default(),
    }
}

/// The feeds' sets joined (feed `i` is source `i`), without the indicators expired at
/// `now_ns`; with each feed's counts and the next `valid_until` after `now_ns`.
pub(crate) fn merge(feeds: &[&Compiled], now_ns: u64) -> (Compiled, Vec<IndicatorCounts>, u64) {
    let mut out = Compiled::default();
    let mut counts = Vec::with_capacity(feeds.len());
    let mut next_expiry = u64::MAX;
    for (src, c) in feeds.iter().enumerate() {
        let src16 = u16::try_from(src).unwrap_or(u16::MAX);
        out.sources
            .push(c.sources.first().cloned().unwrap_or_default());
        let r = &c.report;
        let mut n = IndicatorCounts {
            unsupported: r.unsupported,
            revoked: r.revoked,
            malformed: r.malformed,
            ..IndicatorCounts::default()
        };
        // Old index → new index, for the indicators kept.
        let mut map = vec![u32::MAX; c.indicators.len()];
        for (i, info) in c.indicators.iter().enumerate() {
            match info.valid_until {
                Some(u) if u <= now_ns => {
                    n.expired += 1;
                    continue;
                }
                Some(u) => next_expiry = next_expiry.min(u),
                None => {}
            }
            map[i] = out.indicators.len() as u32;
            let mut info = info.clone();
            info.source = src16;
            out.indicators.push(info);
            n.active += 1;
        }
        out.matches.extend(
            c.matches
                .iter()
                .filter(|(i, _)| map[*i as usize] != u32::MAX)
                .map(|(i, m)| (map[*i as usize], m.clone())),
        );
        out.report.objects += r.objects;
        out.report.indicators += r.indicators;
        out.report.revoked += r.revoked;
        out.report.unsupported += r.unsupported;
        out.report.malformed += r.malformed;
        out.report.expired += n.expired;
        counts.push(n);
    }
    out.report.active = out.indicators.len() as u64;
    (out, counts, next_expiry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const T2021: u64 = 1_609_459_200_000_000_000;

    fn feed(objs: &str) -> Content {
        let text = format!(r#"{{"type": "bundle", "id": "bundle--x", "objects": [{objs}]}}"#);
        Content::Text(Arc::from(text.into_bytes()))
    }

    fn ind(id: &str, value: &str, until: &str) -> String {
        format!(
            r#"{{"type": "indicator", "id": "indicator--{id}", "pattern": "[ipv4-addr:value = '{value}']", "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z"{until}}}"#
        )
    }

    #[test]
    fn feeds_join_with_their_own_sources_and_expired_ones_leave() {
        let a = compile_feed(
            "a",
            &feed(
                &[
                    ind("1", "192.0.2.1", ""),
                    ind(
                        "2",
                        "192.0.2.2",
                        r#", "valid_until": "2020-06-01T00:00:00Z""#,
                    ),
                ]
                .join(","),
            ),
            0,
        )
        .unwrap();
        let b = compile_feed(
            "b",
            &feed(&[ind("3", "198.51.100.1", r#", "valid_until": "2030-01-01T00:00:00Z""#), r#"{"type": "indicator", "id": "indicator--bad", "pattern": "[x:y = ", "pattern_type": "stix"}"#.to_string()].join(",")),
            0,
        )
        .unwrap();
        let (m, counts, next) = merge(&[&a, &b], T2021);
        assert_eq!(m.sources, ["a", "b"]);
        let kept: Vec<(&str, u16)> = m
            .indicators
            .iter()
            .map(|i| (i.id.as_str(), i.source))
            .collect();
        assert_eq!(kept, [("indicator--1", 0), ("indicator--3", 1)]);
        // Every lookup points at a kept indicator with the right value.
        assert_eq!(m.matches.len(), 2);
        assert!(m
            .matches
            .iter()
            .all(|(i, _)| (*i as usize) < m.indicators.len()));
        assert_eq!((counts[0].active, counts[0].expired), (1, 1));
        assert_eq!((counts[1].active, counts[1].unsupported), (1, 1));
        assert_eq!(
            next,
            stix::object::timestamp_nanos("2030-01-01T00:00:00Z").unwrap()
        );
        // Before the first expiry both of a's are in.
        let (m, _, _) = merge(&[&a, &b], 0);
        assert_eq!(m.indicators.len(), 3);
    }
}
