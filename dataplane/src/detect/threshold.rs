//! `threshold`, `detection_filter` and `threshold.config` rate state, per worker.
//!
//! One bounded table keyed by (rule, kind, tracked addresses). Addresses are attacker-chosen,
//! so the table uses hashbrown's default hasher, which is seeded per process. When the table
//! is full, an expired entry is reused if the probe finds one; otherwise the event is counted
//! in `detect.threshold_table_full` and treated as a first match (Suricata's behaviour when
//! its threshold memcap is reached is likewise to fall back to no state).

use crate::time::Timestamp;
use hashbrown::HashMap;
use rules::ir::{Threshold, ThresholdKind, Track, UniqueOn};

/// Distinct ports a `detection_filter ... unique_on` entry remembers; counts above this
/// saturate (the filter then fires as if the count were reached).
pub const MAX_UNIQUE_PORTS: usize = 32;

/// Default number of tracked (rule, address) entries per worker.
pub const DEFAULT_CAP: usize = 65_536;

/// What the threshold kind a table entry counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `threshold`.
    Threshold,
    /// `detection_filter`.
    DetectionFilter,
    /// `rate_filter`.
    RateFilter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    rule: u32,
    kind: Kind,
    a: u128,
    b: u128,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    first: Timestamp,
    count: u32,
    /// Window of the rule that owns the entry, nanoseconds.
    window: u64,
    /// `rate_filter`: new action active until this time.
    until: Timestamp,
    /// `unique_on`: distinct ports seen in the window (`count` of them valid).
    ports: [u16; MAX_UNIQUE_PORTS],
}

/// The tracked addresses of one event.
#[derive(Debug, Clone, Copy)]
pub struct Tracked {
    /// Source address as u128 (IPv4 mapped).
    pub src: u128,
    /// Destination.
    pub dst: u128,
    /// Flow id, for `by_flow`.
    pub flow: u64,
    /// Source port (0 without ports), for `unique_on src_port`.
    pub sport: u16,
    /// Destination port, for `unique_on dst_port`.
    pub dport: u16,
}

/// Per-worker threshold state.
#[derive(Debug)]
pub struct Thresholds {
    map: HashMap<Key, Entry>,
    cap: usize,
    /// Packet time of the last reclaim pass (one pass per second at most, so a flood of new
    /// keys against a full table costs one lookup each, not a table walk each).
    last_sweep: Option<Timestamp>,
    /// Events that found the table full.
    pub table_full: u64,
}

impl Thresholds {
    /// A table holding at most `cap` entries (allocated up front).
    pub fn new(cap: usize) -> Self {
        Thresholds {
            map: HashMap::with_capacity(cap),
            cap: cap.max(1),
            last_sweep: None,
            table_full: 0,
        }
    }

    /// Entries in use.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn key(rule: u32, kind: Kind, track: Track, t: Tracked) -> Key {
        let (a, b) = match track {
            Track::BySrc => (t.src, 0),
            Track::ByDst => (t.dst, 0),
            Track::ByRule => (0, 0),
            Track::ByBoth => (t.src, t.dst),
            Track::ByFlow => (u128::from(t.flow), 0),
        };
        Key { rule, kind, a, b }
    }

    fn entry(&mut self, k: Key, now: Timestamp, window_ns: u64) -> Option<&mut Entry> {
        if !self.map.contains_key(&k) && self.map.len() >= self.cap {
            let due = self
                .last_sweep
                .is_none_or(|t| now.saturating_since(t) >= 1_000_000_000);
            if due {
                self.last_sweep = Some(now);
                self.map
                    .retain(|_, e| now.saturating_since(e.first) <= e.window || e.until > now);
            }
            if self.map.len() >= self.cap {
                self.table_full += 1;
                return None;
            }
        }
        Some(self.map.entry(k).or_insert(Entry {
            first: now,
            count: 0,
            window: window_ns,
            until: Timestamp(0),
            ports: [0; MAX_UNIQUE_PORTS],
        }))
    }

    /// Applies a `threshold` or `detection_filter` to one match; true when it should alert.
    pub fn check(&mut self, rule: u32, th: &Threshold, t: Tracked, now: Timestamp) -> bool {
        let kind = match th.kind {
            Some(_) => Kind::Threshold,
            None => Kind::DetectionFilter,
        };
        let window = u64::from(th.seconds) * 1_000_000_000;
        let k = Self::key(rule, kind, th.track, t);
        let Some(e) = self.entry(k, now, window) else {
            // No state: behave as for the first match.
            return match th.kind {
                Some(ThresholdKind::Limit) => true,
                Some(_) => th.count <= 1,
                None => th.count == 0,
            };
        };
        let port = match th.unique_on {
            Some(UniqueOn::SrcPort) => Some(t.sport),
            Some(UniqueOn::DstPort) => Some(t.dport),
            None => None,
        };
        if e.count == 0 || now.saturating_since(e.first) > window {
            e.first = now;
            e.count = 1;
            if let Some(p) = port {
                e.ports[0] = p;
            }
            return match th.kind {
                Some(ThresholdKind::Limit) => true,
                Some(ThresholdKind::Threshold) | Some(ThresholdKind::Both) => {
                    if th.count <= 1 {
                        if th.kind == Some(ThresholdKind::Threshold) {
                            e.count = 0;
                            e.first = now;
                        }
                        true
                    } else {
                        false
                    }
                }
                None => th.count == 0,
            };
        }
        if let Some(p) = port {
            // `unique_on`: only a port not seen in the window counts.
            let n = (e.count as usize).min(MAX_UNIQUE_PORTS);
            if e.ports[..n].contains(&p) {
                return e.count > th.count;
            }
            if n < MAX_UNIQUE_PORTS {
                e.ports[n] = p;
            }
        }
        e.count = e.count.saturating_add(1);
        match th.kind {
            Some(ThresholdKind::Limit) => e.count <= th.count,
            Some(ThresholdKind::Threshold) => {
                if e.count >= th.count {
                    // Suricata restarts the count (and the window) after each alert.
                    e.count = 0;
                    true
                } else {
                    false
                }
            }
            Some(ThresholdKind::Both) => e.count == th.count,
            None => e.count > th.count,
        }
    }

    /// Applies a `rate_filter`; true when the new action is in force for this match.
    pub fn rate(
        &mut self,
        rule: u32,
        th: &Threshold,
        timeout: u32,
        t: Tracked,
        now: Timestamp,
    ) -> bool {
        let window = u64::from(th.seconds) * 1_000_000_000;
        let k = Self::key(rule, Kind::RateFilter, th.track, t);
        let Some(e) = self.entry(k, now, window) else {
            return false;
        };
        if e.until > now {
            return true;
        }
        if e.count == 0 || now.saturating_since(e.first) > window {
            e.first = now;
            e.count = 1;
        } else {
            e.count = e.count.saturating_add(1);
        }
        if e.count > th.count {
            e.until = now.plus_secs(u64::from(timeout));
            e.count = 0;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn th(kind: Option<ThresholdKind>, track: Track, count: u32, seconds: u32) -> Threshold {
        Threshold {
            kind,
            track,
            count,
            seconds,
            unique_on: None,
        }
    }

    fn run(t: &Threshold, times: &[u64], srcs: &[u128]) -> Vec<bool> {
        let mut tab = Thresholds::new(16);
        times
            .iter()
            .zip(srcs.iter().cycle())
            .map(|(&s, &src)| {
                tab.check(
                    1,
                    t,
                    Tracked {
                        src,
                        dst: 9,
                        flow: 0,
                        sport: 0,
                        dport: 0,
                    },
                    Timestamp(s * 1_000_000_000),
                )
            })
            .collect()
    }

    #[test]
    fn kinds() {
        let limit = th(Some(ThresholdKind::Limit), Track::BySrc, 2, 60);
        assert_eq!(
            run(&limit, &[0, 1, 2, 3, 61], &[1]),
            [true, true, false, false, true]
        );
        let thr = th(Some(ThresholdKind::Threshold), Track::BySrc, 3, 60);
        assert_eq!(
            run(&thr, &[0, 1, 2, 3, 4, 5], &[1]),
            [false, false, true, false, false, true]
        );
        let both = th(Some(ThresholdKind::Both), Track::BySrc, 2, 60);
        assert_eq!(
            run(&both, &[0, 1, 2, 3, 100, 101], &[1]),
            [false, true, false, false, false, true]
        );
        let df = th(None, Track::BySrc, 2, 60);
        assert_eq!(run(&df, &[0, 1, 2, 3], &[1]), [false, false, true, true]);
        // by_src keeps sources apart; by_rule does not.
        assert_eq!(
            run(&limit, &[0, 0, 0, 0], &[1, 2]),
            [true, true, true, true]
        );
        let by_rule = th(Some(ThresholdKind::Limit), Track::ByRule, 2, 60);
        assert_eq!(
            run(&by_rule, &[0, 0, 0, 0], &[1, 2]),
            [true, true, false, false]
        );
    }

    #[test]
    fn full_table_is_counted() {
        let mut tab = Thresholds::new(2);
        let t = th(Some(ThresholdKind::Limit), Track::BySrc, 1, 60);
        for src in 0..5u128 {
            tab.check(
                1,
                &t,
                Tracked {
                    src,
                    dst: 0,
                    flow: 0,
                    sport: 0,
                    dport: 0,
                },
                Timestamp(0),
            );
        }
        assert_eq!(tab.len(), 2);
        assert_eq!(tab.table_full, 3);
    }

    #[test]
    fn unique_on_counts_distinct_ports() {
        let mut tab = Thresholds::new(16);
        let mut t = th(None, Track::BySrc, 2, 60);
        t.unique_on = Some(UniqueOn::DstPort);
        let mut go = |dport: u16, secs: u64| {
            tab.check(
                7,
                &t,
                Tracked {
                    src: 1,
                    dst: 2,
                    flow: 0,
                    sport: 40000,
                    dport,
                },
                Timestamp(secs * 1_000_000_000),
            )
        };
        // A port scan: the same port again does not count; the third distinct port fires.
        let got: Vec<bool> = [
            (22, 0),
            (22, 1),
            (23, 2),
            (23, 3),
            (25, 4),
            (26, 5),
            (22, 6),
        ]
        .iter()
        .map(|&(p, s)| go(p, s))
        .collect();
        assert_eq!(got, [false, false, false, false, true, true, true]);
        // A new window starts over.
        assert!(!go(22, 100));
    }
}
