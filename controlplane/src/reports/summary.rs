//! The numbers of an executive summary, gathered from the store for one range. Each section
//! says whether it has data; a section without any is rendered as "no data in this range",
//! never as an empty chart.

use std::collections::HashMap;

use serde::Serialize;

use super::{Context, Range, Sample};
use crate::error::Result;
use crate::incidents::persist;
use crate::store::{AlertFilter, Order, Store};

/// Most alerts counted for one report; a range with more says so (`alerts.capped`).
pub const MAX_ALERTS_SCANNED: u64 = 2_000_000;
/// Most intel hits counted for one report.
pub const MAX_HITS_SCANNED: usize = 200_000;
/// Most throughput samples read for one report (a year at one a minute).
pub const MAX_SAMPLES: usize = 600_000;
/// Points of a time chart.
pub const CHART_POINTS: usize = 96;
/// Rows of a top-N table.
pub const TOP: usize = 10;

/// An executive summary of one range.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub range: Range,
    pub generated_ns: u64,
    pub traffic: Traffic,
    pub alerts: Alerts,
    pub incidents: Incidents,
    pub intel: Intel,
    pub storage: Storage,
}

/// Traffic volume and the appliance's own throughput, from the throughput samples.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Traffic {
    /// Sampling intervals inside the range.
    pub intervals: usize,
    pub packets: u64,
    pub bytes: u64,
    pub alerts: u64,
    pub drops: u64,
    pub mean_pps: f64,
    pub peak_pps: f64,
    pub mean_bps: f64,
    /// Packets per second over time (the performance trend): (wall ns, packets/s).
    pub pps: Vec<(u64, f64)>,
    /// Bits per second over time.
    pub bps: Vec<(u64, f64)>,
}

/// A count by name.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Count {
    /// A sid, a tactic or technique id, an indicator.
    pub key: String,
    /// The signature's message, the tactic's name, the feed.
    pub name: String,
    pub count: u64,
}

/// Alerts of the range: totals, top signatures and ATT&CK tactics and techniques.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Alerts {
    pub total: u64,
    /// True when the range held more than [`MAX_ALERTS_SCANNED`] alerts (counts are of the
    /// first ones).
    pub capped: bool,
    pub top_signatures: Vec<Count>,
    pub tactics: Vec<Count>,
    pub techniques: Vec<Count>,
    /// Alerts per chart interval: (wall ns of the interval's start, alerts).
    pub series: Vec<(u64, f64)>,
}

/// Incidents opened and closed in the range.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Incidents {
    pub opened: u64,
    pub closed: u64,
    /// Mean time from first alert to closing, of those closed in the range.
    pub mean_time_to_resolve_ns: Option<u64>,
    /// Still open at generation time, of those opened in the range.
    pub still_open: u64,
}

/// Threat-intelligence hits in the range.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Intel {
    pub hits: u64,
    pub capped: bool,
    pub top_indicators: Vec<Count>,
}

/// Storage at generation time.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Storage {
    pub size_bytes: u64,
    pub max_bytes: u64,
    pub alerts_stored: u64,
    /// Packet time of the oldest stored alert (the retention horizon), when any.
    pub oldest_alert_ns: Option<u64>,
    pub max_age_secs: u64,
    /// `ok` or `degraded`.
    pub state: String,
    pub reason: String,
}

impl Summary {
    /// Gathers every section of `range` from `store`.
    pub fn build(store: &Store, ctx: &Context, range: Range, now_ns: u64) -> Result<Summary> {
        Ok(Summary {
            range,
            generated_ns: now_ns,
            traffic: traffic(store, range)?,
            alerts: alerts(store, range)?,
            incidents: incidents(store, range)?,
            intel: intel(store, range)?,
            storage: storage(store, ctx)?,
        })
    }
}

/// The growth of a cumulative counter between two samples; a counter that went down was
/// reset (the appliance restarted) and its new value is the growth.
fn growth(before: u64, after: u64) -> u64 {
    if after >= before {
        after - before
    } else {
        after
    }
}

/// Index of the chart interval `ts` falls in.
fn bucket(range: Range, ts: u64, n: usize) -> usize {
    let off = ts.saturating_sub(range.from_ns) as u128;
    ((off * n as u128) / range.span_ns().max(1) as u128).min(n as u128 - 1) as usize
}

fn bucket_start(range: Range, i: usize, n: usize) -> u64 {
    range.from_ns + (range.span_ns() as u128 * i as u128 / n as u128) as u64
}

fn traffic(store: &Store, range: Range) -> Result<Traffic> {
    let samples = store.samples(range.from_ns, range.to_ns, MAX_SAMPLES)?;
    let mut t = Traffic::default();
    let n = CHART_POINTS;
    let (mut pkts, mut bytes, mut secs) = (vec![0u64; n], vec![0u64; n], vec![0f64; n]);
    for w in samples.windows(2) {
        let (a, b): (&Sample, &Sample) = (&w[0], &w[1]);
        if b.ts_ns < range.from_ns || b.ts_ns <= a.ts_ns {
            continue;
        }
        let dt = (b.ts_ns - a.ts_ns) as f64 / 1e9;
        let (p, by) = (growth(a.packets, b.packets), growth(a.bytes, b.bytes));
        t.intervals += 1;
        t.packets += p;
        t.bytes += by;
        t.alerts += growth(a.alerts, b.alerts);
        t.drops += growth(a.drops, b.drops);
        t.peak_pps = t.peak_pps.max(p as f64 / dt);
        let i = bucket(range, b.ts_ns, n);
        pkts[i] += p;
        bytes[i] += by;
        secs[i] += dt;
    }
    let total_secs: f64 = secs.iter().sum();
    if total_secs > 0.0 {
        t.mean_pps = t.packets as f64 / total_secs;
        t.mean_bps = t.bytes as f64 * 8.0 / total_secs;
    }
    for i in (0..n).filter(|&i| secs[i] > 0.0) {
        let at = bucket_start(range, i, n);
        t.pps.push((at, pkts[i] as f64 / secs[i]));
        t.bps.push((at, bytes[i] as f64 * 8.0 / secs[i]));
    }
    Ok(t)
}

/// Counts by key, the `TOP` largest (ties by key), with their names.
fn top(counts: HashMap<String, (String, u64)>) -> Vec<Count> {
    let mut v: Vec<Count> = counts
        .into_iter()
        .map(|(key, (name, count))| Count { key, name, count })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    v.truncate(TOP);
    v
}

fn bump(m: &mut HashMap<String, (String, u64)>, key: &str, name: &str) {
    if key.is_empty() {
        return;
    }
    m.entry(key.to_owned())
        .or_insert_with(|| (name.to_owned(), 0))
        .1 += 1;
}

fn alerts(store: &Store, range: Range) -> Result<Alerts> {
    let mut out = Alerts::default();
    let (mut sigs, mut tactics, mut techniques) = (HashMap::new(), HashMap::new(), HashMap::new());
    let mut series = vec![0u64; CHART_POINTS];
    let mut filter = AlertFilter {
        start_ns: range.from_ns,
        end_ns: range.to_ns,
        order: Order::OldestFirst,
        limit: 10_000,
        ..AlertFilter::default()
    };
    loop {
        let page = store.query_alerts(&filter)?;
        for a in &page.items {
            if out.total >= MAX_ALERTS_SCANNED {
                out.capped = true;
                break;
            }
            out.total += 1;
            bump(&mut sigs, &format!("{}:{}", a.gid, a.sid), &a.msg);
            bump(&mut tactics, &a.attack.tactic_id, &a.attack.tactic_name);
            bump(
                &mut techniques,
                &a.attack.technique_id,
                &a.attack.technique_name,
            );
            series[bucket(range, a.ts_nanos, CHART_POINTS)] += 1;
        }
        match page.next {
            Some(k) if !out.capped => filter.after = Some(k),
            _ => break,
        }
    }
    out.top_signatures = top(sigs);
    out.tactics = top(tactics);
    out.techniques = top(techniques);
    if out.total > 0 {
        out.series = (0..CHART_POINTS)
            .map(|i| (bucket_start(range, i, CHART_POINTS), series[i] as f64))
            .collect();
    }
    Ok(out)
}

fn incidents(store: &Store, range: Range) -> Result<Incidents> {
    let inside = |t: u64| (range.from_ns..range.to_ns).contains(&t);
    let (found, _) = persist::list(store, 0, usize::MAX, |i| {
        inside(i.first_ns) || (i.state.is_closed() && inside(i.state_since_ns))
    })?;
    let mut out = Incidents::default();
    let mut resolve_ns: u128 = 0;
    for i in &found {
        if inside(i.first_ns) {
            out.opened += 1;
            out.still_open += u64::from(!i.state.is_closed());
        }
        if i.state.is_closed() && inside(i.state_since_ns) {
            out.closed += 1;
            resolve_ns += i.state_since_ns.saturating_sub(i.first_ns) as u128;
        }
    }
    if out.closed > 0 {
        out.mean_time_to_resolve_ns = Some((resolve_ns / out.closed as u128) as u64);
    }
    Ok(out)
}

fn intel(store: &Store, range: Range) -> Result<Intel> {
    let inside = |t: u64| (range.from_ns..range.to_ns).contains(&t);
    let hits = store.intel_hits(0, MAX_HITS_SCANNED, &|h| inside(h.ts_nanos))?;
    let mut out = Intel {
        hits: hits.len() as u64,
        capped: hits.len() >= MAX_HITS_SCANNED,
        ..Intel::default()
    };
    let mut by = HashMap::new();
    for h in &hits {
        bump(&mut by, &h.matched_value, &h.feed);
    }
    out.top_indicators = top(by);
    Ok(out)
}

fn storage(store: &Store, ctx: &Context) -> Result<Storage> {
    let oldest = store.query_alerts(&AlertFilter {
        order: Order::OldestFirst,
        limit: 1,
        ..AlertFilter::default()
    })?;
    let health = store.health();
    Ok(Storage {
        size_bytes: store.size_bytes(),
        max_bytes: ctx.max_bytes,
        alerts_stored: store.alerts_estimate(),
        oldest_alert_ns: oldest.items.first().map(|a| a.ts_nanos),
        max_age_secs: ctx.max_age_secs,
        state: health.state.as_str().to_owned(),
        reason: health.reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_counter_grows_by_its_new_value() {
        assert_eq!(growth(10, 15), 5);
        assert_eq!(growth(10, 3), 3);
    }

    #[test]
    fn times_fall_in_their_interval() {
        let r = Range {
            from_ns: 1_000,
            to_ns: 2_000,
        };
        assert_eq!(bucket(r, 1_000, 10), 0);
        assert_eq!(bucket(r, 1_099, 10), 0);
        assert_eq!(bucket(r, 1_100, 10), 1);
        assert_eq!(bucket(r, 1_999, 10), 9);
        assert_eq!(bucket(r, 5_000, 10), 9, "clamped");
        assert_eq!(bucket_start(r, 3, 10), 1_300);
    }

    #[test]
    fn top_orders_by_count_then_key_and_keeps_ten() {
        let mut m = HashMap::new();
        for i in 0..15u64 {
            for _ in 0..(i % 4) {
                bump(&mut m, &format!("k{i:02}"), "n");
            }
        }
        let t = top(m);
        assert_eq!(t.len(), TOP);
        assert_eq!(t[0].key, "k03");
        assert_eq!(t[0].count, 3);
        assert!(t.windows(2).all(|w| w[0].count >= w[1].count));
    }
}
