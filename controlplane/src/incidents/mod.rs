//! Incidents: stored alerts correlated into the few stories an analyst works on.
//!
//! ```text
//!  events::Bus ─(own queue, drops counted)─► correlator thread ─► incidents CF (RocksDB)
//!                                              │  Correlator (sans-I/O, packet time)
//!                                              └► watchers (IncidentService/Watch)
//!  IncidentService (List, Get, Update) ─► IncidentsShared::update ─► audit log
//! ```
//!
//! - [`attack`]: ATT&CK tactic/technique of each rule (metadata, else the classtype table);
//!   ingest stamps it on every alert through the signature catalog.
//! - [`correlate`]: grouping by key and window, bounded; input is an enum ([`Input`]) so
//!   intel hits and anomalies can join as members later.
//! - [`score`]: the priority and its explanation; [`incident`]: the record and its workflow;
//!   [`persist`]: the column family's layout; [`codec`]: the stored form of a member.
//!
//! The correlator subscribes to the event stream with [`Policy::Drop`]: a correlator that
//! falls behind by more than `[incidents] queue` events loses them (counted as
//! `events.incidents.dropped`) and never slows ingest or storage.

pub mod attack;
pub mod cidr;
pub mod codec;
pub mod correlate;
pub mod incident;
pub mod persist;
pub mod score;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

pub use cidr::Cidr;
pub use correlate::{Changes, Correlator, Counters, Input, Settings};
pub use incident::{GroupBy, GroupKey, Incident, Member, State};
pub use score::{Asset, Assets};

use crate::error::{Error, Result};
use crate::events::{Bus, Event, Interest, Next, Policy, Subscription};
use crate::health::now_nanos;
use crate::store::Store;

/// The correlator's name on the event stream (`events.incidents.*`).
pub const CONSUMER: &str = "incidents";

/// Events the correlator takes per step (one stored batch).
const STEP: usize = 1024;

/// How long the correlator waits for events before storing headers whose checkpoint came.
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// Live changes a watcher may lag behind before it misses some.
const WATCH_QUEUE: usize = 1024;

/// What the correlator thread and the API share.
#[derive(Debug)]
pub struct IncidentsShared {
    correlator: Mutex<Correlator>,
    pub store: Arc<Store>,
    pub counters: Arc<Counters>,
    /// Stored incidents by state, in [`State::ALL`] order.
    pub by_state: [AtomicU64; 6],
    /// Failed writes of correlator steps or workflow changes.
    pub write_errors: AtomicU64,
    /// Closed incidents deleted (with their timelines) by retention.
    pub retention_deleted: AtomicU64,
    /// Incidents in memory after the last step or change: read without the correlator's
    /// lock, which a step holds while storage is slow (status and metrics never wait).
    in_memory: AtomicU64,
    /// Every stored change, for live watchers.
    pub changes: tokio::sync::broadcast::Sender<Arc<Incident>>,
}

impl IncidentsShared {
    fn lock(&self) -> MutexGuard<'_, Correlator> {
        self.correlator.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The correlator's settings (home networks, asset groups), copied.
    pub fn settings(&self) -> Settings {
        self.lock().settings().clone()
    }

    /// Incidents in memory (open, within their window).
    pub fn open_in_memory(&self) -> usize {
        self.in_memory.load(Ordering::Relaxed) as usize
    }

    /// Brings stored headers up to date: an incident still in memory is served as it is
    /// there (its stored header may wait for its checkpoint), and each is scored again as
    /// of the newest packet seen (recency moves on after an incident's last change); the
    /// same input still gives the same scores.
    pub fn rescore(&self, incidents: &mut [Incident]) {
        let mut c = self.lock();
        let now = c.now_ns();
        for i in incidents {
            if let Some(live) = c.get_mut(i.id) {
                i.clone_from(live);
            }
            score::score(i, &c.settings().assets, now.max(i.last_ns));
        }
    }

    /// Counters by name (`incidents.*`); `incidents.state.<state>` are gauges.
    pub fn counter_values(&self) -> Vec<(String, u64)> {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let c = &self.counters;
        let mut out = vec![
            ("incidents.events".to_owned(), l(&c.events)),
            ("incidents.opened".to_owned(), l(&c.opened)),
            ("incidents.members".to_owned(), l(&c.members)),
            (
                "incidents.members_dropped".to_owned(),
                l(&c.members_dropped),
            ),
            ("incidents.overflow".to_owned(), l(&c.overflow)),
            ("incidents.expired".to_owned(), l(&c.expired)),
            ("incidents.write_errors".to_owned(), l(&self.write_errors)),
            (
                "incidents.retention_deleted".to_owned(),
                l(&self.retention_deleted),
            ),
            (
                "incidents.in_memory".to_owned(),
                self.open_in_memory() as u64,
            ),
        ];
        for (s, n) in State::ALL.iter().zip(&self.by_state) {
            out.push((format!("incidents.state.{}", s.as_str()), l(n)));
        }
        out
    }

    /// Applies a workflow change to incident `id` and stores it; serialised with the
    /// correlator, so a change never races a new member.
    pub fn update(
        &self,
        id: u64,
        change: impl FnOnce(&mut Incident) -> Result<()>,
    ) -> Result<Incident> {
        let mut c = self.lock();
        let mut inc = match c.get_mut(id) {
            Some(i) => i.clone(),
            None => persist::get(&self.store, id)?
                .ok_or_else(|| Error::not_found(format!("incident {id}")))?,
        };
        let before = inc.state;
        change(&mut inc)?;
        persist::write_header(&self.store, &inc)?;
        if inc.state != before {
            self.by_state[before as usize].fetch_sub(1, Ordering::Relaxed);
            self.by_state[inc.state as usize].fetch_add(1, Ordering::Relaxed);
        }
        match c.get_mut(id) {
            Some(_) if inc.state.is_closed() => c.forget(id),
            Some(mem) => *mem = inc.clone(),
            None => {}
        }
        self.in_memory
            .store(c.open_count() as u64, Ordering::Relaxed);
        drop(c);
        let _ = self.changes.send(Arc::new(inc.clone()));
        Ok(inc)
    }

    /// Deletes closed incidents whose last member is older than `horizon_ns` (the packet
    /// time before which retention left no alert), with their timelines, at most `budget`;
    /// compacts them away when `compact` (the size cap was over). Open incidents are never
    /// deleted; holding the correlator's lock, no workflow change reopens one meanwhile.
    pub fn enforce_retention(&self, horizon_ns: u64, budget: usize, compact: bool) -> Result<u64> {
        if horizon_ns == 0 {
            return Ok(0);
        }
        let c = self.lock();
        let gone = persist::expire_closed(&self.store, horizon_ns, budget)?;
        drop(c);
        for (n, state) in gone.by_state.iter().zip(&self.by_state) {
            state.fetch_sub(*n, Ordering::Relaxed);
        }
        self.retention_deleted
            .fetch_add(gone.incidents, Ordering::Relaxed);
        if compact && gone.incidents > 0 {
            self.store.compact_incidents()?;
        }
        Ok(gone.incidents)
    }

    /// One correlator step over `events`; stores what is due and tells watchers.
    fn step(&self, events: &[Event]) {
        let now = now_nanos();
        let mut c = self.lock();
        let opened = self.counters.opened.load(Ordering::Relaxed);
        for ev in events {
            if let Event::Alert(a) = ev {
                c.observe(&Input::Alert(a.clone()), now);
            }
        }
        let new = self.counters.opened.load(Ordering::Relaxed) - opened;
        self.by_state[State::New as usize].fetch_add(new, Ordering::Relaxed);
        let ch = c.take_due(now);
        self.commit(c, ch);
    }

    /// Stores the headers whose checkpoint came while no events did, or every waiting one
    /// (`all`, at the end).
    fn checkpoint(&self, all: bool) {
        let mut c = self.lock();
        if !c.has_pending() {
            return;
        }
        let ch = if all {
            c.take_changes()
        } else {
            c.take_due(now_nanos())
        };
        self.commit(c, ch);
    }

    fn commit(&self, c: MutexGuard<'_, Correlator>, ch: Changes) {
        self.in_memory
            .store(c.open_count() as u64, Ordering::Relaxed);
        if let Err(e) = persist::write_changes(&self.store, &ch) {
            self.write_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, "incident changes not stored");
        }
        drop(c);
        for h in ch.headers {
            let _ = self.changes.send(Arc::new(h));
        }
    }
}

/// The running correlator.
#[derive(Debug)]
pub struct Incidents {
    pub shared: Arc<IncidentsShared>,
    thread: Option<JoinHandle<()>>,
}

impl Incidents {
    /// Resumes from storage and subscribes to `bus` (before ingest starts, to miss nothing).
    pub fn start(settings: Settings, queue: usize, store: Arc<Store>, bus: &Bus) -> Result<Self> {
        let loaded = persist::load(&store)?;
        let correlator = Correlator::resume(settings, loaded.open, loaded.tails, loaded.next_id);
        let in_memory = AtomicU64::new(correlator.open_count() as u64);
        let (changes, _) = tokio::sync::broadcast::channel(WATCH_QUEUE);
        let shared = Arc::new(IncidentsShared {
            counters: correlator.counters.clone(),
            correlator: Mutex::new(correlator),
            store,
            by_state: loaded.by_state.map(AtomicU64::new),
            write_errors: AtomicU64::new(0),
            retention_deleted: AtomicU64::new(0),
            in_memory,
            changes,
        });
        let sub = bus.subscribe(CONSUMER, Interest::ALERTS, Policy::Drop, queue);
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("incidents".into())
            .spawn(move || run(&s, sub))
            .map_err(|e| Error::internal(format!("starting the incidents thread: {e}")))?;
        Ok(Incidents {
            shared,
            thread: Some(thread),
        })
    }

    /// Waits for the thread, which ends once the event stream is closed and drained.
    pub fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &IncidentsShared, mut sub: Subscription) {
    let mut batch = Vec::with_capacity(STEP);
    loop {
        let next = if shared.lock().has_pending() {
            sub.recv_within(IDLE_CHECK)
        } else {
            sub.blocking_recv().map_or(Next::Closed, Next::Event)
        };
        let first = match next {
            Next::Event(ev) => ev,
            Next::Idle => {
                shared.checkpoint(false);
                continue;
            }
            Next::Closed => break,
        };
        batch.push(first);
        while batch.len() < STEP {
            match sub.try_recv() {
                Some(ev) => batch.push(ev),
                None => break,
            }
        }
        shared.step(&batch);
        batch.clear();
    }
    shared.checkpoint(true);
}
