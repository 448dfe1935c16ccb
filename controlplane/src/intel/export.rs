//! Alerts and hits of a time range as one STIX 2.1 bundle (`osprey ctl intel export`).
//!
//! - The appliance is an `identity` (`identity_class: system`), its id derived from its
//!   name, so every export and every shared sighting names the same one.
//! - Hits become `sighting`s, one per indicator: `sighting_of_ref` the indicator,
//!   `first_seen`/`last_seen`/`count` over its hits in the range (live and retro-hunt alike:
//!   both are sightings on this network), `where_sighted_refs` the appliance.
//! - Alerts become `observed-data`: an alert is an observation of traffic that matched a
//!   rule, not of a STIX object someone sent (a `sighting` needs one in `sighting_of_ref`).
//!   Each carries its `network-traffic` and address objects in `object_refs` (included in
//!   the bundle) and the rule in `x_osprey_alert` (gid, sid, rev, msg, category, severity).
//!
//! Ids of derived objects are UUIDs made from a SHA-256 of what they stand for, so the same
//! range exports the same ids (a consumer deduplicates) without state.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{Intel, StoredHit};
use crate::error::{Error, Result};
use crate::model::Alert;
use crate::store::{AlertFilter, Order};

/// Alerts exported at most per bundle (the bundle says when more were left out).
pub const MAX_EXPORT_ALERTS: usize = 100_000;

/// `kind--<uuid>` from a SHA-256 of `seed` (version 5 and variant bits set).
pub fn derived_id(kind: &str, seed: &str) -> String {
    let d = Sha256::digest(format!("{kind}\0{seed}").as_bytes());
    let mut b: [u8; 16] = d[..16].try_into().expect("32 bytes");
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{kind}--{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A STIX timestamp (`2024-01-01T00:00:01.000Z`).
pub fn stix_time(ns: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns);
    humantime::format_rfc3339_millis(t).to_string()
}

/// The appliance's identity object, named `name`.
pub fn identity(name: &str, created_ns: u64) -> Value {
    let t = stix_time(created_ns);
    json!({"type": "identity", "spec_version": "2.1", "id": derived_id("identity", name),
           "created": t, "modified": t, "name": name, "identity_class": "system"})
}

/// The appliance's name in STIX: `Osprey <host name>`.
pub fn appliance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    match host.trim() {
        "" => "Osprey".to_owned(),
        h => format!("Osprey {h}"),
    }
}

/// One sighting per indicator of `hits` (indicator id, packet time), by `identity_id`;
/// `seed` joins what the sightings' ids are derived from (the same hits and seed, the same
/// ids).
pub fn sightings<'h>(
    hits: impl IntoIterator<Item = (&'h str, u64)>,
    identity_id: &str,
    seed: &str,
    now_ns: u64,
) -> Vec<Value> {
    let mut by: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for (ind, ts) in hits {
        let e = by.entry(ind).or_insert((u64::MAX, 0, 0));
        e.0 = e.0.min(ts);
        e.1 = e.1.max(ts);
        e.2 += 1;
    }
    let t = stix_time(now_ns);
    by.into_iter()
        .map(|(ind, (first, last, n))| {
            let seed = format!("{identity_id} {ind} {first} {last} {n}{seed}");
            json!({"type": "sighting", "spec_version": "2.1",
                   "id": derived_id("sighting", &seed), "created": t, "modified": t,
                   "created_by_ref": identity_id, "sighting_of_ref": ind,
                   "first_seen": stix_time(first), "last_seen": stix_time(last), "count": n,
                   "where_sighted_refs": [identity_id]})
        })
        .collect()
}

/// [`sightings`] of stored hits.
pub fn hit_sightings(hits: &[StoredHit], identity_id: &str, now_ns: u64) -> Vec<Value> {
    let it = hits.iter().map(|h| (h.indicator_id.as_str(), h.ts_nanos));
    sightings(it, identity_id, "", now_ns)
}

fn address(ip: IpAddr) -> Value {
    let kind = if ip.is_ipv4() {
        "ipv4-addr"
    } else {
        "ipv6-addr"
    };
    json!({"type": kind, "spec_version": "2.1", "id": derived_id(kind, &ip.to_string()),
           "value": ip.to_string()})
}

/// An alert's `observed-data` and the objects it refers to.
fn observed(a: &Alert, identity_id: &str, now: &str, out: &mut BTreeMap<String, Value>) {
    let (src, dst) = (address(a.src_ip), address(a.dst_ip));
    let proto = vocab::proto::name(a.proto).to_ascii_lowercase();
    let nt_seed = format!(
        "{} {} {} {} {} {}",
        a.src_ip, a.src_port, a.dst_ip, a.dst_port, proto, a.flow_id
    );
    let nt = json!({"type": "network-traffic", "spec_version": "2.1",
                    "id": derived_id("network-traffic", &nt_seed),
                    "src_ref": src["id"], "dst_ref": dst["id"], "src_port": a.src_port,
                    "dst_port": a.dst_port, "protocols": [proto]});
    let t = stix_time(a.ts_nanos);
    let od = json!({"type": "observed-data", "spec_version": "2.1",
                    "id": derived_id("observed-data", &format!("{identity_id} alert {} {}", a.ts_nanos, a.id)),
                    "created": now, "modified": now, "created_by_ref": identity_id,
                    "first_observed": t, "last_observed": t, "number_observed": 1,
                    "object_refs": [nt["id"], src["id"], dst["id"]],
                    "x_osprey_alert": {"id": a.id, "gid": a.gid, "sid": a.sid, "rev": a.rev,
                                       "msg": a.msg, "category": a.category,
                                       "severity": a.severity, "flow_id": a.flow_id}});
    for v in [src, dst, nt, od] {
        if let Some(id) = v["id"].as_str() {
            out.insert(id.to_owned(), v);
        }
    }
}

/// What an export holds.
#[derive(Clone, Debug, Default)]
pub struct Exported {
    /// The bundle's JSON.
    pub bundle: Vec<u8>,
    pub sightings: u64,
    pub alerts: u64,
    /// More alerts were in the range than [`MAX_EXPORT_ALERTS`].
    pub truncated: bool,
}

impl Intel {
    /// The alerts and hits with packet times in `[from_ns, to_ns)` (0: unbounded) as a STIX
    /// bundle.
    pub fn export(&self, from_ns: u64, to_ns: u64, now_ns: u64) -> Result<Exported> {
        if to_ns != 0 && to_ns <= from_ns {
            return Err(Error::invalid("the range's end must be after its start"));
        }
        let me = identity(&appliance_name(), now_ns);
        let me_id = me["id"].as_str().unwrap_or_default().to_owned();
        let in_range = |ts: u64| ts >= from_ns && (to_ns == 0 || ts < to_ns);
        let hits = self
            .store
            .intel_hits(0, usize::MAX, &|h| in_range(h.ts_nanos))?;
        let page = self.store.query_alerts(&AlertFilter {
            start_ns: from_ns,
            end_ns: to_ns,
            order: Order::OldestFirst,
            limit: MAX_EXPORT_ALERTS,
            ..AlertFilter::default()
        })?;
        let now = stix_time(now_ns);
        let mut objects = BTreeMap::new();
        for a in &page.items {
            observed(a, &me_id, &now, &mut objects);
        }
        let sightings = hit_sightings(&hits, &me_id, now_ns);
        let out = Exported {
            sightings: sightings.len() as u64,
            alerts: page.items.len() as u64,
            truncated: page.next.is_some(),
            bundle: Vec::new(),
        };
        let mut all = vec![me];
        all.extend(sightings);
        all.extend(objects.into_values());
        let seed = format!("{me_id} export {from_ns} {to_ns} {now_ns}");
        let bundle = json!({"type": "bundle", "id": derived_id("bundle", &seed), "objects": all});
        let bundle =
            serde_json::to_vec_pretty(&bundle).map_err(|e| Error::internal(e.to_string()))?;
        Ok(Exported { bundle, ..out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_uuids_and_sightings_count_per_indicator() {
        let a = derived_id("sighting", "x");
        assert_eq!(a, derived_id("sighting", "x"));
        assert_ne!(a, derived_id("sighting", "y"));
        let u = a.strip_prefix("sighting--").unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "5", "version 5");
        assert_eq!(
            stix_time(1_704_067_201_000_000_000),
            "2024-01-01T00:00:01.000Z"
        );
        let hit = |ind: &str, s: u64| StoredHit {
            indicator_id: ind.into(),
            ts_nanos: s * 1_000_000_000,
            ..StoredHit::default()
        };
        let s = hit_sightings(
            &[
                hit("indicator--a", 20),
                hit("indicator--a", 10),
                hit("indicator--b", 5),
            ],
            "identity--x",
            0,
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0]["sighting_of_ref"], "indicator--a");
        assert_eq!(s[0]["count"], 2);
        assert_eq!(s[0]["first_seen"], "1970-01-01T00:00:10.000Z");
        assert_eq!(s[0]["last_seen"], "1970-01-01T00:00:20.000Z");
        let parsed: stix::Object = serde_json::from_value(s[1].clone()).unwrap();
        assert!(matches!(parsed, stix::Object::Sighting(_)), "{parsed:?}");
    }
}
