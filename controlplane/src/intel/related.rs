//! "What else is related to this hit": the alerts, flows and other hits of the hit's hosts
//! (its source or destination address) within a time window around it, through the one
//! query layer over the store; and, through STIX relationships, the objects its indicator
//! relates to (malware, campaign, intrusion set, threat actor, attack pattern, within three
//! hops, as compiled with the indicator) and the other indicators that relate to any of them.
//!
//! Every list is capped (`limit`); the hits looked through are the stored ones (at most
//! `[intel] max_hits`), newest first.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::{Intel, StoredHit};
use crate::error::{Error, Kind, Result};
use crate::model::{Alert, FlowRecord};
use crate::store::{AlertFilter, FlowFilter, Order};

/// An indicator related through a shared STIX object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelatedIndicator {
    pub id: String,
    pub feed: String,
    pub pattern: String,
    /// The shared objects (`malware--…`).
    pub via: Vec<String>,
}

/// What is related to a hit.
#[derive(Clone, Debug, Default)]
pub struct RelatedSet {
    pub hit: StoredHit,
    pub window_ns: u64,
    pub alerts: Vec<Alert>,
    pub flows: Vec<FlowRecord>,
    pub hits: Vec<StoredHit>,
    /// The indicator's related objects (type, id, name, ATT&CK id).
    pub objects: Vec<stix::Related>,
    pub indicators: Vec<RelatedIndicator>,
}

fn hosts(h: &StoredHit) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = [&h.src_ip, &h.dest_ip]
        .iter()
        .filter_map(|s| s.parse().ok())
        .filter(|a: &IpAddr| !a.is_unspecified())
        .collect();
    v.dedup();
    v
}

impl Intel {
    /// What is related to hit `id` within `window_ns` either side of it, at most `limit`
    /// of each kind.
    pub fn related(&self, id: u64, window_ns: u64, limit: usize) -> Result<RelatedSet> {
        let store = &self.store;
        let hit = store
            .intel_hit(id)?
            .ok_or_else(|| Error::new(Kind::NotFound, format!("no hit {id}")))?;
        let (from, to) = (
            hit.ts_nanos.saturating_sub(window_ns),
            hit.ts_nanos.saturating_add(window_ns),
        );
        let mut out = RelatedSet {
            window_ns,
            ..RelatedSet::default()
        };
        for a in hosts(&hit) {
            let page = store.query_alerts(&AlertFilter {
                start_ns: from,
                end_ns: to,
                address: Some(a),
                order: Order::OldestFirst,
                limit,
                ..AlertFilter::default()
            })?;
            out.alerts.extend(page.items);
            let page = store.query_flows(&FlowFilter {
                start_ns: from,
                end_ns: to,
                address: Some(a),
                order: Order::OldestFirst,
                limit,
                ..FlowFilter::default()
            })?;
            out.flows.extend(page.items);
        }
        out.alerts.sort_by_key(|a| (a.ts_nanos, a.id));
        out.alerts.dedup_by_key(|a| a.id);
        out.alerts.truncate(limit);
        out.flows.sort_by_key(|f| (f.start_nanos, f.flow_id));
        out.flows.dedup_by(|a, b| a == b);
        out.flows.truncate(limit);
        let hs = hosts(&hit);
        out.hits = store.intel_hits(0, limit, &|h| {
            h.id != id
                && h.ts_nanos >= from
                && h.ts_nanos <= to
                && hosts(h).iter().any(|a| hs.contains(a))
        })?;
        let (objects, indicators) = self.related_intel(&hit.indicator_id, limit);
        out.objects = objects;
        out.indicators = indicators;
        out.hit = hit;
        Ok(out)
    }

    /// The objects indicator `id` relates to, and the other indicators relating to any.
    fn related_intel(&self, id: &str, limit: usize) -> (Vec<stix::Related>, Vec<RelatedIndicator>) {
        let feeds = self.lock();
        let mut objects: Vec<stix::Related> = feeds
            .values()
            .flat_map(|f| f.compiled.indicators.iter())
            .filter(|i| i.id == id)
            .flat_map(|i| i.related.iter().cloned())
            .collect();
        objects.sort();
        objects.dedup();
        let ids: BTreeSet<&str> = objects.iter().map(|o| o.id.as_str()).collect();
        let mut indicators = Vec::new();
        'feeds: for (name, f) in feeds.iter() {
            for i in f.compiled.indicators.iter().filter(|i| i.id != id) {
                let mut via: Vec<String> = i
                    .related
                    .iter()
                    .filter(|r| ids.contains(r.id.as_str()))
                    .map(|r| r.id.clone())
                    .collect();
                if via.is_empty() {
                    continue;
                }
                if indicators.len() == limit {
                    break 'feeds;
                }
                via.sort();
                indicators.push(RelatedIndicator {
                    id: i.id.clone(),
                    feed: name.clone(),
                    pattern: i.pattern.clone(),
                    via,
                });
            }
        }
        (objects, indicators)
    }
}
