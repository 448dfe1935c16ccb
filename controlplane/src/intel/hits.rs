//! Hits: the workers' EVE `intel` records, taken from the event stream by a thread of their
//! own (a dropping subscriber: a slow store costs hits, counted in `events.intel.dropped`,
//! never ingest's pace), stored in batches, counted per feed, and, for a feed with an
//! `alert_sid`, turned into an alert ([`vocab::AlertRecord`], the indicator as its message)
//! that ingest stores like any other through [`HitAlerts`], so hits join incidents; a
//! retro-hunt finding's alert carries the original time and `"retro": true`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Intel;
use crate::events::{Bus, Event, Interest, Policy};
use crate::ingest::RecordSource;
use crate::model::{Alert, FlowRecord};

/// The event-stream consumer's name (`events.intel.*`).
pub const CONSUMER: &str = "intel";
/// The name alerts of hits carry as their worker.
pub const SOURCE_NAME: &str = "intel";

/// A stored hit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoredHit {
    pub id: u64,
    /// Packet time, nanoseconds since the epoch.
    pub ts_nanos: u64,
    pub feed: String,
    pub indicator_id: String,
    pub pattern: String,
    pub matched_field: String,
    pub matched_value: String,
    pub confidence: Option<u8>,
    pub flow_id: u64,
    pub src_ip: String,
    pub src_port: u16,
    pub dest_ip: String,
    pub dest_port: u16,
    pub proto: String,
    /// The EVE record as the worker wrote it (a retro-hunt finding's as the hunt did).
    pub eve: String,
    /// Found by a retro-hunt in stored metadata, after the traffic ([`super::hunt`]).
    pub retro: bool,
}

/// Filters of a hit listing.
#[derive(Clone, Debug, Default)]
pub struct HitFilter {
    pub feed: Option<String>,
    pub indicator: Option<String>,
    /// Only retro-hunt findings (`Some(true)`) or only live hits (`Some(false)`).
    pub retro: Option<bool>,
    /// Ids below this (0: from the newest).
    pub before: u64,
    pub limit: usize,
}

impl HitFilter {
    pub fn keeps(&self, h: &StoredHit) -> bool {
        self.feed.as_ref().is_none_or(|f| *f == h.feed)
            && self.indicator.as_ref().is_none_or(|i| *i == h.indicator_id)
            && self.retro.is_none_or(|r| r == h.retro)
    }
}

/// The hit an EVE `intel` line reports, if it is one.
pub fn parse_hit(line: &[u8]) -> Option<StoredHit> {
    let v: Value = serde_json::from_slice(line).ok()?;
    if v.get("event_type")?.as_str()? != "intel" {
        return None;
    }
    let s = |o: &Value, k: &str| {
        o.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let n = |o: &Value, k: &str| o.get(k).and_then(Value::as_u64).unwrap_or(0);
    let i = v.get("intel")?;
    let ts = v
        .get("timestamp")
        .and_then(Value::as_str)
        // EVE writes `2024-01-01T00:00:01.000000+0000`, always UTC.
        .and_then(|t| stix::object::timestamp_nanos(t.split('+').next().unwrap_or(t)))
        .unwrap_or(0);
    Some(StoredHit {
        id: 0,
        ts_nanos: ts,
        feed: s(i, "source"),
        indicator_id: s(i, "indicator_id"),
        pattern: s(i, "pattern"),
        matched_field: s(i, "matched_field"),
        matched_value: s(i, "matched_value"),
        confidence: i
            .get("confidence")
            .and_then(Value::as_u64)
            .map(|c| c.min(100) as u8),
        flow_id: n(&v, "flow_id"),
        src_ip: s(&v, "src_ip"),
        src_port: n(&v, "src_port") as u16,
        dest_ip: s(&v, "dest_ip"),
        dest_port: n(&v, "dest_port") as u16,
        proto: s(&v, "proto"),
        eve: String::from_utf8_lossy(line).into_owned(),
        retro: false,
    })
}

/// The alert a hit raises with rule `(gid, sid, priority)`.
pub fn hit_alert(h: &StoredHit, (gid, sid, priority): (u32, u32, u8)) -> Alert {
    let ip = |s: &str| s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let rec = vocab::AlertRecord {
        ts_nanos: h.ts_nanos,
        gid,
        sid,
        rev: 1,
        src_ip: ip(&h.src_ip),
        src_port: h.src_port,
        dst_ip: ip(&h.dest_ip),
        dst_port: h.dest_port,
        proto: (0..=255u8)
            .find(|p| vocab::proto::name(*p).eq_ignore_ascii_case(&h.proto))
            .unwrap_or(0),
        flow_id: h.flow_id,
        ..vocab::AlertRecord::default()
    };
    let mut a = Alert::from_record(&rec, SOURCE_NAME);
    a.msg = format!(
        "OSPREY INTEL{} {} {} = {} ({}, feed {})",
        if h.retro { " RETRO" } else { "" },
        h.pattern,
        h.matched_field,
        h.matched_value,
        h.indicator_id,
        h.feed
    );
    a.category = "Threat Intelligence Indicator".into();
    a.severity = priority;
    if h.retro {
        a.eve = retro_eve(&a, h);
    }
    a
}

/// The EVE record of a retro-hunt finding's alert: the alert (at the original packet time)
/// with `"retro": true` and the finding's `intel` object.
fn retro_eve(a: &Alert, h: &StoredHit) -> String {
    let mut out = Vec::with_capacity(1024);
    crate::outputs::eve::render_alert(a, &mut out);
    let intel = serde_json::from_str::<Value>(&h.eve)
        .ok()
        .and_then(|v| v.get("intel").cloned())
        .unwrap_or(Value::Null);
    if out.last() == Some(&b'}') {
        out.pop();
        out.extend_from_slice(br#","retro":true,"intel":"#);
        out.extend_from_slice(intel.to_string().as_bytes());
        out.push(b'}');
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where hits' alerts wait for ingest: a bounded queue, one more is dropped and counted.
pub struct HitAlerts {
    rx: Receiver<Alert>,
}

/// The sending side of [`HitAlerts`].
pub type AlertQueue = SyncSender<Alert>;

/// A queue of `capacity` alerts.
pub fn alert_queue(capacity: usize) -> (AlertQueue, HitAlerts) {
    let (tx, rx) = std::sync::mpsc::sync_channel(capacity.max(1));
    (tx, HitAlerts { rx })
}

impl RecordSource for HitAlerts {
    fn name(&self) -> &str {
        SOURCE_NAME
    }

    fn drain_alerts(&mut self, max: usize, out: &mut Vec<Alert>) -> usize {
        let mut n = 0;
        while n < max {
            match self.rx.try_recv() {
                Ok(a) => {
                    out.push(a);
                    n += 1;
                }
                Err(_) => break,
            }
        }
        n
    }

    fn drain_flows(&mut self, _max: usize, _out: &mut Vec<FlowRecord>) -> usize {
        0
    }
}

/// The hits thread.
pub struct HitsThread {
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HitsThread {
    /// Subscribes to `bus` (before ingest starts) and starts the thread.
    pub fn start(
        intel: Arc<Intel>,
        bus: &Bus,
        queue: usize,
        alerts: AlertQueue,
    ) -> std::io::Result<HitsThread> {
        // Retro-hunt findings raise theirs through the same queue.
        intel.set_alert_queue(alerts);
        let mut sub = bus.subscribe(CONSUMER, Interest::RECORDS, Policy::Drop, queue);
        let thread = std::thread::Builder::new()
            .name("osprey-intel".into())
            .spawn(move || {
                while let Some(ev) = sub.blocking_recv() {
                    if let Event::Records(lines) = ev {
                        take(&intel, &lines);
                    }
                }
            })?;
        Ok(HitsThread {
            thread: Some(thread),
        })
    }

    /// Waits for the thread (it ends once the event stream is closed and drained).
    pub fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Stores, counts and raises the alerts of the hits among `lines`.
fn take(intel: &Intel, lines: &[u8]) {
    let mut hits: Vec<StoredHit> = lines
        .split(|b| *b == b'\n')
        .filter(|l| memchr_intel(l))
        .filter_map(parse_hit)
        .collect();
    if hits.is_empty() {
        return;
    }
    let c = &intel.counters;
    for h in &hits {
        let alerted = intel.raise_alert(h);
        intel.count_hit(&h.feed, alerted);
    }
    match intel.store_hits(&mut hits, None) {
        Ok(pruned) => {
            intel.count_sightings(&hits);
            c.hits_stored
                .fetch_add(hits.len() as u64, Ordering::Relaxed);
            c.hits_pruned.fetch_add(pruned, Ordering::Relaxed);
            // No receiver is not an error: nobody is watching live.
            let _ = intel.stored_hits.send(hits.into());
        }
        Err(e) => {
            c.hits_lost.fetch_add(hits.len() as u64, Ordering::Relaxed);
            tracing::warn!(error = %e, "intel hits not stored");
        }
    }
}

/// A cheap test before parsing: only `intel` records are (the workers write compact JSON).
fn memchr_intel(line: &[u8]) -> bool {
    const KEY: &[u8] = br#""event_type":"intel""#;
    line.windows(KEY.len()).any(|w| w == KEY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_intel_record_becomes_a_hit_and_its_alert() {
        let line = br#"{"timestamp":"2024-01-01T00:00:01.000000+0000","flow_id":7,"event_type":"intel","src_ip":"192.0.2.1","src_port":5353,"dest_ip":"198.51.100.2","dest_port":53,"proto":"UDP","intel":{"indicator_id":"indicator--a","pattern":"[domain-name:value = 'evil.example']","matched_field":"dns.query","matched_value":"a.evil.example","confidence":80,"labels":[],"source":"feed1","related":[]}}"#;
        assert!(memchr_intel(line));
        let h = parse_hit(line).unwrap();
        assert_eq!(
            (
                h.feed.as_str(),
                h.indicator_id.as_str(),
                h.matched_value.as_str(),
                h.confidence,
                h.flow_id,
                h.dest_port
            ),
            ("feed1", "indicator--a", "a.evil.example", Some(80), 7, 53)
        );
        assert_eq!(h.ts_nanos, 1_704_067_201_000_000_000);
        let a = hit_alert(&h, (1, 9_000_001, 1));
        assert_eq!((a.sid, a.gid, a.severity, a.proto), (9_000_001, 1, 1, 17));
        assert!(
            a.msg.contains("evil.example") && a.msg.contains("indicator--a"),
            "{}",
            a.msg
        );
        assert_eq!(a.dst_ip.to_string(), "198.51.100.2");
        assert!(parse_hit(br#"{"event_type":"dns"}"#).is_none());
        assert!(!memchr_intel(br#"{"event_type":"dns","x":"intel"}"#));
    }
}
