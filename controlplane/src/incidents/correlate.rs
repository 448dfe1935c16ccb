//! The streaming correlator, without I/O: it takes member events in order with their packet
//! time, groups them into incidents by key and window, and hands back what changed for the
//! caller to store. It never reads a clock for grouping (wall time is passed in only for the
//! workflow's "state since"), so the same input gives the same incidents.
//!
//! Grouping: an event joins the open incident of its key (the internal host, or the
//! source → destination pair) when it comes within `window` of that incident's last member;
//! otherwise it opens a new one. An incident whose last member is older than `window`
//! (packet time) leaves memory; it stays stored. Closed incidents (resolved, false
//! positive) take no members: the next event of their key opens a new incident.
//!
//! Storage: members are a log, appended with every step; headers are checkpoints. A changed
//! header is handed back at once when its incident is new or leaves memory, else at most
//! once per `checkpoint` (wall time), so a busy incident costs one header write per
//! checkpoint instead of one per step. A restart replays the members stored past each
//! header ([`Correlator::resume`]), so nothing is lost between checkpoints.
//!
//! Bounds: at most `max_open` incidents in memory (an event that would open one more is
//! counted in `overflow` and not grouped) and `max_members` members kept per incident (later
//! ones are counted in `members_dropped`). Memory holds incident headers only; the timeline
//! goes to storage as it grows.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::attack::tactic_stage;
use super::cidr::Cidr;
use super::incident::{GroupBy, GroupKey, Incident, Member, MAX_HOSTS, MAX_SIDS};
use super::score::{score, Assets};
use crate::model::Alert;

/// What the correlator consumes. Intel hits and anomalies join as further variants.
#[derive(Clone, Debug)]
pub enum Input {
    Alert(Arc<Alert>),
}

/// Validated settings (from `[incidents]`).
#[derive(Clone, Debug)]
pub struct Settings {
    pub group_by: GroupBy,
    pub window_ns: u64,
    pub killchain_window_ns: u64,
    pub home_net: Vec<Cidr>,
    pub max_open: usize,
    pub max_members: u64,
    pub assets: Assets,
    /// Wall nanoseconds between two stored headers of one changed incident (0: every step).
    pub checkpoint_ns: u64,
}

/// Counters, read by the API and Prometheus.
#[derive(Debug, Default)]
pub struct Counters {
    pub events: AtomicU64,
    pub opened: AtomicU64,
    pub members: AtomicU64,
    /// Members beyond an incident's `max_members`, counted only.
    pub members_dropped: AtomicU64,
    /// Events not grouped because `max_open` incidents were open.
    pub overflow: AtomicU64,
    /// Incidents that left memory after their window.
    pub expired: AtomicU64,
}

/// What one step changed, to be stored: headers to (re)write and members to append as
/// (incident id, member index, member).
#[derive(Debug, Default)]
pub struct Changes {
    pub headers: Vec<Incident>,
    pub members: Vec<(u64, u64, Member)>,
    /// The next incident id to assign (stored with the batch).
    pub next_id: u64,
}

/// The correlator's state.
#[derive(Debug)]
pub struct Correlator {
    settings: Settings,
    open: HashMap<GroupKey, Incident>,
    by_id: HashMap<u64, GroupKey>,
    next_id: u64,
    /// Newest packet time seen.
    now_ns: u64,
    swept_ns: u64,
    /// Keys changed since the last [`Correlator::take_changes`], in first-change order.
    dirty: Vec<GroupKey>,
    dirty_set: HashSet<GroupKey>,
    /// Changed incidents that left memory before their change was taken.
    finished: Vec<Incident>,
    members: Vec<(u64, u64, Member)>,
    /// Wall time each in-memory incident's header was last handed back, by id.
    checkpointed: HashMap<u64, u64>,
    /// The newest wall time passed in.
    wall_ns: u64,
    pub counters: Arc<Counters>,
}

impl Correlator {
    /// A correlator that resumes from stored open incidents and the next id.
    pub fn new(settings: Settings, resume: Vec<Incident>, next_id: u64) -> Correlator {
        Correlator::resume(settings, resume, Vec::new(), next_id)
    }

    /// Like [`Correlator::new`], also replaying each open incident's members stored after
    /// its header (`tails`: incident id and those members, in order).
    pub fn resume(
        settings: Settings,
        open: Vec<Incident>,
        tails: Vec<(u64, Vec<Member>)>,
        next_id: u64,
    ) -> Correlator {
        let mut c = Correlator {
            settings,
            open: HashMap::new(),
            by_id: HashMap::new(),
            next_id: next_id.max(1),
            now_ns: 0,
            swept_ns: 0,
            dirty: Vec::new(),
            dirty_set: HashSet::new(),
            finished: Vec::new(),
            members: Vec::new(),
            checkpointed: HashMap::new(),
            wall_ns: 0,
            counters: Arc::new(Counters::default()),
        };
        for inc in open {
            c.now_ns = c.now_ns.max(inc.last_ns);
            c.next_id = c.next_id.max(inc.id + 1);
            c.by_id.insert(inc.id, inc.key);
            c.open.insert(inc.key, inc);
        }
        for (id, members) in tails {
            c.replay(id, &members);
        }
        c.sweep();
        c
    }

    /// Adds stored members to in-memory incident `id` again (they are not stored again);
    /// its header is handed back with the next changes.
    fn replay(&mut self, id: u64, members: &[Member]) {
        let Some(&key) = self.by_id.get(&id) else {
            return;
        };
        for m in members {
            let a = m.to_alert();
            let (_, peer) = self.key_of(&a);
            self.now_ns = self.now_ns.max(a.ts_nanos);
            let Some(inc) = self.open.get_mut(&key) else {
                return;
            };
            join(inc, &a, peer, self.settings.killchain_window_ns);
            inc.members_kept += 1;
        }
        if !members.is_empty() && self.dirty_set.insert(key) {
            self.dirty.push(key);
        }
    }

    /// Whether a changed header waits for its checkpoint.
    pub fn has_pending(&self) -> bool {
        !self.dirty.is_empty() || !self.finished.is_empty()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The newest packet time seen.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// Incidents in memory.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// The in-memory incident `id`, if it is open and within its window.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut Incident> {
        let key = self.by_id.get(&id)?;
        self.open.get_mut(key)
    }

    /// Forgets the in-memory incident `id` (it was closed by the workflow).
    pub fn forget(&mut self, id: u64) {
        self.checkpointed.remove(&id);
        if let Some(k) = self.by_id.remove(&id) {
            self.open.remove(&k);
            if self.dirty_set.remove(&k) {
                self.dirty.retain(|d| *d != k);
            }
        }
    }

    /// Takes one event; `wall_ns` is the wall-clock time, used only for workflow times.
    pub fn observe(&mut self, input: &Input, wall_ns: u64) {
        let Input::Alert(a) = input;
        self.counters.events.fetch_add(1, Ordering::Relaxed);
        self.wall_ns = self.wall_ns.max(wall_ns);
        self.now_ns = self.now_ns.max(a.ts_nanos);
        if self.now_ns.saturating_sub(self.swept_ns) >= self.settings.window_ns / 4 {
            self.sweep();
        }
        let (key, peer) = self.key_of(a);
        let window = self.settings.window_ns;
        let stale = self
            .open
            .get(&key)
            .is_some_and(|i| a.ts_nanos > i.last_ns.saturating_add(window));
        if stale {
            self.expire(key);
        }
        if !self.open.contains_key(&key) {
            if self.open.len() >= self.settings.max_open {
                self.counters.overflow.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let id = self.next_id;
            self.next_id += 1;
            self.by_id.insert(id, key);
            self.open.insert(key, Incident::open(id, key, a, wall_ns));
            self.counters.opened.fetch_add(1, Ordering::Relaxed);
        }
        let Some(inc) = self.open.get_mut(&key) else {
            return;
        };
        join(inc, a, peer, self.settings.killchain_window_ns);
        if inc.members_kept < self.settings.max_members {
            self.members
                .push((inc.id, inc.members_kept, Member::of_alert(a)));
            inc.members_kept += 1;
            self.counters.members.fetch_add(1, Ordering::Relaxed);
        } else {
            inc.members_dropped += 1;
            self.counters
                .members_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
        if self.dirty_set.insert(key) {
            self.dirty.push(key);
        }
    }

    /// Everything that changed since the last call, each incident scored as of its last
    /// member (not the newest packet seen, which depends on how events were batched).
    pub fn take_changes(&mut self) -> Changes {
        self.take(true)
    }

    /// What is due at wall time `wall_ns`: every member, and the headers of incidents that
    /// are new, left memory, or were last handed back a checkpoint ago or more.
    pub fn take_due(&mut self, wall_ns: u64) -> Changes {
        self.wall_ns = self.wall_ns.max(wall_ns);
        self.take(false)
    }

    fn take(&mut self, all: bool) -> Changes {
        let mut headers = std::mem::take(&mut self.finished);
        let (wall, every) = (self.wall_ns, self.settings.checkpoint_ns);
        let mut waiting = Vec::new();
        for key in std::mem::take(&mut self.dirty) {
            let Some(inc) = self.open.get_mut(&key) else {
                self.dirty_set.remove(&key);
                continue;
            };
            let due = all
                || self
                    .checkpointed
                    .get(&inc.id)
                    .is_none_or(|at| wall.saturating_sub(*at) >= every);
            if !due {
                waiting.push(key);
                continue;
            }
            self.dirty_set.remove(&key);
            self.checkpointed.insert(inc.id, wall);
            let last = inc.last_ns;
            score(inc, &self.settings.assets, last);
            headers.push(inc.clone());
        }
        self.dirty = waiting;
        Changes {
            headers,
            members: std::mem::take(&mut self.members),
            next_id: self.next_id,
        }
    }

    /// The grouping key of `a` and the peer it adds.
    fn key_of(&self, a: &Alert) -> (GroupKey, IpAddr) {
        match self.settings.group_by {
            GroupBy::Pair => (
                GroupKey {
                    by: GroupBy::Pair,
                    host: a.src_ip,
                    peer: Some(a.dst_ip),
                },
                a.dst_ip,
            ),
            GroupBy::Host => {
                let home = |ip: IpAddr| self.settings.home_net.iter().any(|c| c.contains(ip));
                // The internal end; the source when both or neither are internal.
                let (host, peer) = if !home(a.src_ip) && home(a.dst_ip) {
                    (a.dst_ip, a.src_ip)
                } else {
                    (a.src_ip, a.dst_ip)
                };
                (
                    GroupKey {
                        by: GroupBy::Host,
                        host,
                        peer: None,
                    },
                    peer,
                )
            }
        }
    }

    fn expire(&mut self, key: GroupKey) {
        if let Some(mut i) = self.open.remove(&key) {
            self.by_id.remove(&i.id);
            self.checkpointed.remove(&i.id);
            if self.dirty_set.remove(&key) {
                self.dirty.retain(|k| *k != key);
                let last = i.last_ns;
                score(&mut i, &self.settings.assets, last);
                self.finished.push(i);
            }
            self.counters.expired.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lets incidents whose window has passed leave memory (their last change is stored).
    fn sweep(&mut self) {
        self.swept_ns = self.now_ns;
        let horizon = self.now_ns.saturating_sub(self.settings.window_ns);
        let old: Vec<GroupKey> = self
            .open
            .iter()
            .filter(|(_, i)| i.last_ns < horizon)
            .map(|(k, _)| *k)
            .collect();
        for k in old {
            self.expire(k);
        }
    }
}

/// Adds `a` (whose other end is `peer`) to `inc`'s summary.
fn join(inc: &mut Incident, a: &Alert, peer: IpAddr, killchain_window_ns: u64) {
    inc.alerts += 1;
    inc.first_ns = inc.first_ns.min(a.ts_nanos);
    inc.last_ns = inc.last_ns.max(a.ts_nanos);
    if a.severity < inc.severity {
        inc.severity = a.severity;
        inc.title.clone_from(&a.msg);
    }
    if inc.hosts.len() < MAX_HOSTS && !inc.hosts.contains(&peer) {
        inc.hosts.push(peer);
    }
    if inc.sids.len() < MAX_SIDS && !inc.sids.contains(&a.sid) {
        inc.sids.push(a.sid);
    }
    let technique = &a.attack.technique_id;
    if !technique.is_empty()
        && inc.techniques.len() < super::incident::MAX_TECHNIQUES
        && !inc.techniques.contains(technique)
    {
        inc.techniques.push(technique.clone());
    }
    let tactic = &a.attack.tactic_id;
    let Some(stage) = tactic_stage(tactic) else {
        return;
    };
    if inc.tactics.iter().any(|(t, _)| t == tactic) {
        return;
    }
    // A progression: an earlier stage seen within the kill-chain window before this one.
    let since = a.ts_nanos.saturating_sub(killchain_window_ns);
    if inc
        .tactics
        .iter()
        .any(|(t, at)| *at >= since && tactic_stage(t).is_some_and(|s| s < stage))
    {
        inc.kill_chain = true;
    }
    inc.tactics.push((tactic.clone(), a.ts_nanos));
    inc.stage = inc.stage.max(stage);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Attack;

    const SEC: u64 = 1_000_000_000;

    fn settings(by: GroupBy) -> Settings {
        Settings {
            group_by: by,
            window_ns: 600 * SEC,
            killchain_window_ns: 3600 * SEC,
            home_net: vec![Cidr::parse("192.0.2.0/24").unwrap()],
            max_open: 3,
            max_members: 4,
            assets: Assets::default(),
            checkpoint_ns: 0,
        }
    }

    fn alert(id: u64, t: u64, src: &str, dst: &str, sid: u32, tactic: &str) -> Input {
        Input::Alert(Arc::new(Alert {
            id,
            ts_nanos: t * SEC,
            sid,
            severity: 2,
            msg: format!("sid {sid}"),
            src_ip: src.parse().unwrap(),
            dst_ip: dst.parse().unwrap(),
            attack: Attack {
                tactic_id: tactic.into(),
                ..Attack::default()
            },
            ..Alert::default()
        }))
    }

    fn run(c: &mut Correlator, inputs: &[Input]) -> Changes {
        for i in inputs {
            c.observe(i, 0);
        }
        c.take_changes()
    }

    #[test]
    fn an_internal_host_is_one_incident_whichever_side_it_is_on() {
        let mut c = Correlator::new(settings(GroupBy::Host), Vec::new(), 1);
        let ch = run(
            &mut c,
            &[
                alert(1, 10, "203.0.113.9", "192.0.2.5", 100, "TA0043"),
                alert(2, 20, "192.0.2.5", "198.51.100.1", 200, "TA0011"),
                alert(3, 30, "192.0.2.6", "198.51.100.1", 200, ""),
            ],
        );
        assert_eq!(ch.headers.len(), 2);
        let h = &ch.headers[0];
        assert_eq!(h.key.host, "192.0.2.5".parse::<IpAddr>().unwrap());
        assert_eq!((h.alerts, h.sids.clone(), h.stage), (2, vec![100, 200], 12));
        assert!(
            h.kill_chain,
            "recon then C2 within the window is a progression"
        );
        assert_eq!(ch.members.len(), 3);
        assert_eq!(ch.next_id, 3);
    }

    #[test]
    fn pairs_windows_and_caps_bound_the_grouping() {
        let mut c = Correlator::new(settings(GroupBy::Pair), Vec::new(), 1);
        let mut inputs: Vec<Input> = (0..6)
            .map(|i| alert(i, 10 + i, "192.0.2.5", "198.51.100.1", 1, ""))
            .collect();
        // Past the window: a new incident for the same pair.
        inputs.push(alert(6, 2000, "192.0.2.5", "198.51.100.1", 1, ""));
        inputs.push(alert(7, 2001, "192.0.2.5", "198.51.100.2", 1, ""));
        inputs.push(alert(8, 2002, "192.0.2.5", "198.51.100.3", 1, ""));
        inputs.push(alert(9, 2003, "192.0.2.5", "198.51.100.4", 1, ""));
        let ch = run(&mut c, &inputs);
        let first = ch.headers.iter().find(|h| h.id == 1).unwrap();
        assert_eq!(
            (first.alerts, first.members_kept, first.members_dropped),
            (6, 4, 2)
        );
        assert_eq!(c.counters.members_dropped.load(Ordering::Relaxed), 2);
        assert_eq!(c.counters.overflow.load(Ordering::Relaxed), 1);
        assert_eq!(c.counters.expired.load(Ordering::Relaxed), 1);
        assert_eq!(c.open_count(), 3);
        assert_eq!(ch.members.iter().filter(|m| m.0 == 1).count(), 4);
    }

    #[test]
    fn the_same_input_gives_the_same_incidents() {
        let inputs: Vec<Input> = (0..500)
            .map(|i| {
                let host = format!("192.0.2.{}", i % 7);
                let peer = format!("198.51.100.{}", i % 5);
                alert(
                    i,
                    i * 37 % 4000,
                    &host,
                    &peer,
                    (i % 11) as u32,
                    ["TA0043", "TA0001", "TA0011"][(i % 3) as usize],
                )
            })
            .collect();
        let once = |s| {
            let mut c = Correlator::new(s, Vec::new(), 1);
            let ch = run(&mut c, &inputs);
            (ch.headers, ch.members)
        };
        let mut s = settings(GroupBy::Host);
        s.max_open = 100;
        assert_eq!(once(s.clone()), once(s));
    }

    #[test]
    fn how_events_are_batched_into_steps_changes_nothing_stored() {
        // One host's alerts, then another's 25 hours later: the first incident leaves
        // memory in a different step depending on batching.
        let inputs: Vec<Input> = (0..300)
            .map(|i| {
                let host = if i < 150 { "192.0.2.1" } else { "192.0.2.2" };
                alert(i, i * 600, host, "198.51.100.1", (i % 5) as u32, "")
            })
            .collect();
        let mut s = settings(GroupBy::Host);
        s.window_ns = 3600 * SEC;
        s.max_members = 1000;
        let last_of = |steps: &[Changes]| {
            let mut by_id = std::collections::BTreeMap::new();
            for h in steps.iter().flat_map(|c| &c.headers) {
                by_id.insert(h.id, h.clone());
            }
            by_id
        };
        let mut one = Correlator::new(s.clone(), Vec::new(), 1);
        let once = vec![run(&mut one, &inputs)];
        let mut each = Correlator::new(s, Vec::new(), 1);
        let steps: Vec<Changes> = inputs.chunks(7).map(|c| run(&mut each, c)).collect();
        assert_eq!(last_of(&once), last_of(&steps));
    }

    #[test]
    fn a_resumed_correlator_continues_the_open_incidents() {
        let mut c = Correlator::new(settings(GroupBy::Host), Vec::new(), 1);
        let ch = run(&mut c, &[alert(1, 10, "192.0.2.5", "198.51.100.1", 1, "")]);
        let mut again = Correlator::new(settings(GroupBy::Host), ch.headers, ch.next_id);
        let ch = run(
            &mut again,
            &[alert(2, 20, "192.0.2.5", "198.51.100.1", 2, "")],
        );
        assert_eq!(ch.headers[0].id, 1);
        assert_eq!(ch.headers[0].alerts, 2);
        assert_eq!(ch.members[0].1, 1);
    }

    #[test]
    fn a_busy_header_waits_for_its_checkpoint_and_members_never_wait() {
        let s = Settings {
            checkpoint_ns: 10 * SEC,
            ..settings(GroupBy::Host)
        };
        let mut c = Correlator::new(s, Vec::new(), 1);
        let step = |c: &mut Correlator, id: u64, wall: u64| {
            c.observe(&alert(id, id, "192.0.2.5", "198.51.100.1", 1, ""), wall);
            c.take_due(wall)
        };
        // New: its header at once.
        let ch = step(&mut c, 1, 100 * SEC);
        assert_eq!((ch.headers.len(), ch.members.len()), (1, 1));
        // Changed within the checkpoint: its member only, the header waits.
        let ch = step(&mut c, 2, 105 * SEC);
        assert_eq!((ch.headers.len(), ch.members.len()), (0, 1));
        assert!(c.has_pending());
        // Past it: the header, with both members counted.
        let ch = c.take_due(110 * SEC);
        assert_eq!(ch.headers.len(), 1);
        assert_eq!(ch.headers[0].alerts, 2);
        assert!(!c.has_pending());
        // Nothing changed: nothing to store.
        assert!(c.take_due(200 * SEC).headers.is_empty());
    }

    #[test]
    fn a_restart_replays_the_members_stored_after_the_last_header() {
        let s = Settings {
            checkpoint_ns: 3600 * SEC,
            ..settings(GroupBy::Host)
        };
        let inputs = [
            alert(1, 10, "192.0.2.5", "198.51.100.1", 1, "TA0043"),
            alert(2, 20, "198.51.100.2", "192.0.2.5", 2, "TA0001"),
            alert(3, 30, "192.0.2.5", "198.51.100.3", 3, "TA0011"),
        ];
        // What a correlator that never stopped has.
        let mut whole = Correlator::new(s.clone(), Vec::new(), 1);
        let expected = run(&mut whole, &inputs).headers;
        // Stored: the first step's header, then members only (their headers wait).
        let mut c = Correlator::new(s.clone(), Vec::new(), 1);
        let mut headers = Vec::new();
        let mut stored = Vec::new();
        for (i, a) in inputs.iter().enumerate() {
            c.observe(a, SEC * i as u64);
            let ch = c.take_due(SEC * i as u64);
            headers.extend(ch.headers);
            stored.extend(ch.members.into_iter().map(|(_, _, m)| m));
        }
        assert_eq!(headers.len(), 1, "only the new incident's header was due");
        let kept = headers[0].members_kept as usize;
        let tail = stored[kept..].to_vec();
        let mut resumed = Correlator::resume(s, headers, vec![(1, tail)], c.next_id);
        let got = resumed.take_changes().headers;
        assert_eq!(got.len(), 1);
        let (g, e) = (&got[0], &expected[0]);
        assert_eq!(
            (g.alerts, g.members_kept, &g.hosts, &g.sids, &g.tactics),
            (e.alerts, e.members_kept, &e.hosts, &e.sids, &e.tactics)
        );
        assert_eq!(
            (g.stage, g.kill_chain, g.score),
            (e.stage, e.kill_chain, e.score)
        );
    }
}
