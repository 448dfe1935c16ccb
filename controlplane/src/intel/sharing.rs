//! Sharing back (`[intel.sharing]`): this network's sightings of indicators posted as STIX 2.1
//! `sighting` objects to a writable TAXII 2.1 collection.
//!
//! - Every stored hit (live, and retro-hunt findings) is offered to a bounded queue after it
//!   is stored; a full queue drops it (`intel.sharing_dropped`), never the hits thread's pace.
//! - A task on the management runtime takes what waits every `interval`, groups it by
//!   indicator (one sighting each: `first_seen`, `last_seen`, `count`, `sighting_of_ref`,
//!   `where_sighted_refs` the appliance's identity, as [`super::export`] writes them) and
//!   posts at most `batch_size` sightings per request, the identity with the first.
//! - A failed post keeps what waits and retries with back-off (1 s doubling up to the
//!   interval), each failure counted (`intel.sharing_failures`) with its reason shown.
//! - What was posted is remembered in the store after each request: the id below which
//!   every hit is done, and the ids above it posted already (at most the queue's size), so a
//!   restart posts nothing twice, and hits stored but not yet posted before the restart are
//!   read back from the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::export::{appliance_name, identity, sightings};
use super::feed::{Cause, FeedError};
use super::taxii::{Access, Client};
use super::{Intel, StoredHit};
use crate::config::SharingConfig;
use crate::error::{Error, Result};

/// First retry after a failed post.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// A hit waiting to be shared.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Waiting {
    id: u64,
    indicator: String,
    ts_nanos: u64,
}

/// What sharing remembers across restarts (stored in the `intel` column family).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SharingState {
    /// Every hit with an id up to this one has been posted (or dropped before it waited).
    pub posted_through: u64,
    /// Hits above `posted_through` posted already (at most the queue's size: those of the
    /// waiting hits whose indicators were posted before the others').
    pub posted_above: Vec<u64>,
    /// The identity's `created` (so it is posted once, as one version).
    pub identity_created_ns: u64,
    pub identity_posted: bool,
    pub sightings_posted: u64,
    pub hits_posted: u64,
}

/// Counters of sharing (`intel.sharing_*`, `osprey_intel_sharing_*`).
#[derive(Debug, Default)]
pub struct SharingCounters {
    /// Hits offered to the queue.
    pub queued: AtomicU64,
    /// Hits left out on a full queue.
    pub dropped: AtomicU64,
    /// Successful POSTs.
    pub posts: AtomicU64,
    pub sightings_posted: AtomicU64,
    pub hits_posted: AtomicU64,
    /// Objects the server's status resource reported as failed (already held, refused).
    pub refused: AtomicU64,
    /// Failed POSTs (each retried).
    pub failures: AtomicU64,
    /// Hits waiting (a gauge).
    pub pending: AtomicU64,
}

/// Sharing as the manager holds it.
pub struct Sharing {
    cfg: SharingConfig,
    client: Client,
    tx: SyncSender<Waiting>,
    rx: Mutex<Option<Receiver<Waiting>>>,
    pub counters: SharingCounters,
    status: Mutex<SharingStatus>,
}

/// What `osprey ctl intel status` shows of sharing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SharingStatus {
    pub url: String,
    pub collection: String,
    pub posted_through: u64,
    pub last_post_ns: u64,
    pub last_error: String,
    /// The next attempt after a failure, in milliseconds (0: on the interval).
    pub retry_in_ms: u64,
}

impl std::fmt::Debug for Sharing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sharing").finish_non_exhaustive()
    }
}

impl Sharing {
    /// Sharing as configured: its client made now (secrets and CA read), so a bad
    /// configuration stops the start with its reason.
    pub fn new(cfg: &SharingConfig, read_timeout: Duration, max_bytes: u64) -> Result<Sharing> {
        let client = Client::new(&cfg.as_feed(), read_timeout, max_bytes)
            .map_err(|e| Error::config(format!("[intel.sharing]: {e}")))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(cfg.queue.max(1));
        Ok(Sharing {
            cfg: cfg.clone(),
            client,
            tx,
            rx: Mutex::new(Some(rx)),
            counters: SharingCounters::default(),
            status: Mutex::new(SharingStatus {
                url: cfg.url.clone(),
                collection: cfg.collection.clone().unwrap_or_default(),
                ..SharingStatus::default()
            }),
        })
    }

    /// Offers stored `hits` to the queue (a full queue drops and counts).
    pub fn offer(&self, hits: &[StoredHit]) {
        let c = &self.counters;
        for h in hits {
            let w = Waiting {
                id: h.id,
                indicator: h.indicator_id.clone(),
                ts_nanos: h.ts_nanos,
            };
            match self.tx.try_send(w) {
                Ok(()) => c.queued.fetch_add(1, Ordering::Relaxed),
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    c.dropped.fetch_add(1, Ordering::Relaxed)
                }
            };
        }
    }

    /// Its status now.
    pub fn status(&self) -> SharingStatus {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SharingStatus> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The counters in dotted names.
    pub fn counter_values(&self) -> Vec<(String, u64)> {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("intel.sharing_queued".into(), l(&c.queued)),
            ("intel.sharing_dropped".into(), l(&c.dropped)),
            ("intel.sharing_posts".into(), l(&c.posts)),
            (
                "intel.sharing_sightings_posted".into(),
                l(&c.sightings_posted),
            ),
            ("intel.sharing_hits_posted".into(), l(&c.hits_posted)),
            ("intel.sharing_refused".into(), l(&c.refused)),
            ("intel.sharing_failures".into(), l(&c.failures)),
            ("intel.sharing_pending".into(), l(&c.pending)),
            (
                "intel.sharing_posted_through".into(),
                self.lock().posted_through,
            ),
        ]
    }
}

/// The sharing task's working set.
struct Poster {
    intel: Arc<Intel>,
    rx: Receiver<Waiting>,
    state: SharingState,
    /// Waiting hits, in id order, at most `queue`.
    pending: Vec<Waiting>,
    /// API root and collection id, once found.
    place: Option<(String, String)>,
    identity: Value,
}

/// Starts the sharing task when `[intel.sharing]` is set; it stops when `shutdown` flips.
pub fn spawn(
    intel: &Arc<Intel>,
    shutdown: &tokio::sync::watch::Sender<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let sharing = intel.sharing.as_ref()?;
    let rx = sharing
        .rx
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()?;
    let (intel, mut sd) = (intel.clone(), shutdown.subscribe());
    Some(tokio::spawn(async move {
        let poster = match Poster::open(intel, rx) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "intel sharing cannot read what it posted; not sharing");
                return;
            }
        };
        tokio::select! {
            _ = crate::api::until_shutdown(&mut sd) => {}
            _ = poster.run() => {}
        }
    }))
}

impl Poster {
    /// The stored state, and the hits stored after what it posted (up to the queue's size;
    /// beyond, counted as dropped).
    fn open(intel: Arc<Intel>, rx: Receiver<Waiting>) -> Result<Poster> {
        let sharing = intel.sharing.as_ref().expect("spawned with sharing");
        let store = intel.store();
        let mut state = store.sharing_state()?.unwrap_or_default();
        if state.identity_created_ns == 0 {
            state.identity_created_ns = crate::health::now_nanos();
            store.put_sharing_state(&state)?;
        }
        // Those posted above `posted_through` are read again and left out.
        let cap = sharing.cfg.queue + state.posted_above.len();
        let (backlog, more) = store.intel_hits_after(state.posted_through, cap)?;
        sharing.counters.dropped.fetch_add(more, Ordering::Relaxed);
        let pending: Vec<Waiting> = backlog
            .into_iter()
            .filter(|h| !state.posted(h.id))
            .map(|h| Waiting {
                id: h.id,
                indicator: h.indicator_id,
                ts_nanos: h.ts_nanos,
            })
            .collect();
        sharing.lock().posted_through = state.posted_through;
        let identity = identity(&appliance_name(), state.identity_created_ns);
        Ok(Poster {
            intel,
            rx,
            state,
            pending,
            place: None,
            identity,
        })
    }

    fn sharing(&self) -> &Sharing {
        self.intel.sharing.as_ref().expect("spawned with sharing")
    }

    /// Posts every interval; after a failure, retries with back-off (never returns).
    async fn run(mut self) {
        let every = self
            .sharing()
            .cfg
            .interval()
            .unwrap_or(Duration::from_secs(300));
        let mut backoff = FIRST_BACKOFF;
        let mut wait = every;
        loop {
            tokio::time::sleep(wait).await;
            self.take_waiting();
            let r = self.post_pending().await;
            let sharing = self.intel.sharing.as_ref().expect("spawned with sharing");
            sharing
                .counters
                .pending
                .store(self.pending.len() as u64, Ordering::Relaxed);
            wait = match r {
                Ok(()) => {
                    backoff = FIRST_BACKOFF;
                    let mut s = sharing.lock();
                    s.last_error.clear();
                    s.retry_in_ms = 0;
                    every
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "posting sightings failed");
                    sharing.counters.failures.fetch_add(1, Ordering::Relaxed);
                    let mut s = sharing.lock();
                    s.last_error = e.to_string();
                    s.retry_in_ms = backoff.as_millis() as u64;
                    // The collection is looked up again (it may have moved).
                    self.place = None;
                    let w = backoff;
                    backoff = (backoff * 2).min(every.max(FIRST_BACKOFF));
                    w
                }
            };
        }
    }

    /// Moves queued hits to `pending` (at most `queue` there), in id order, without those
    /// posted already.
    fn take_waiting(&mut self) {
        let cap = self.sharing().cfg.queue;
        while self.pending.len() < cap {
            match self.rx.try_recv() {
                Ok(w) if !self.state.posted(w.id) => self.pending.push(w),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        self.pending.sort_by_key(|w| w.id);
        self.pending.dedup_by_key(|w| w.id);
    }

    /// Posts everything pending: one sighting per indicator, `batch_size` per request,
    /// remembering each request's hits once the server took them.
    async fn post_pending(&mut self) -> std::result::Result<(), FeedError> {
        let intel = self.intel.clone();
        let sharing = intel.sharing.as_ref().expect("spawned with sharing");
        let groups = by_indicator(&self.pending);
        for chunk in groups.chunks(sharing.cfg.batch_size.max(1)) {
            let (root, coll) = self.place().await?;
            let ids: Vec<u64> = chunk
                .iter()
                .flatten()
                .map(|&i| self.pending[i].id)
                .collect();
            let me = self.identity["id"].as_str().unwrap_or_default().to_owned();
            let seed = format!(
                " hits {:?}",
                (ids.iter().min(), ids.iter().max(), ids.len())
            );
            let hits = chunk.iter().flatten().map(|&i| {
                let w = &self.pending[i];
                (w.indicator.as_str(), w.ts_nanos)
            });
            let found = sightings(hits, &me, &seed, crate::health::now_nanos());
            let mut objects = Vec::with_capacity(found.len() + 1);
            if !self.state.identity_posted {
                objects.push(self.identity.clone());
            }
            let n = found.len() as u64;
            objects.extend(found);
            let posted = sharing.client.post(&root, &coll, &objects).await?;
            let mut next = self.state.clone();
            next.identity_posted = true;
            next.sightings_posted += n;
            next.hits_posted += ids.len() as u64;
            next.mark_posted(&ids, &self.pending);
            self.intel
                .store()
                .put_sharing_state(&next)
                .map_err(|e| FeedError::new(Cause::Storage, e.to_string()))?;
            self.state = next;
            let c = &sharing.counters;
            c.posts.fetch_add(1, Ordering::Relaxed);
            c.sightings_posted.fetch_add(n, Ordering::Relaxed);
            c.hits_posted.fetch_add(ids.len() as u64, Ordering::Relaxed);
            c.refused.fetch_add(posted.failures, Ordering::Relaxed);
            let mut st = sharing.lock();
            st.posted_through = self.state.posted_through;
            st.last_post_ns = crate::health::now_nanos();
        }
        let state = &self.state;
        self.pending.retain(|w| !state.posted(w.id));
        Ok(())
    }

    /// The API root and the writable collection (looked up once, again after a failure).
    async fn place(&mut self) -> std::result::Result<(String, String), FeedError> {
        if let Some(p) = &self.place {
            return Ok(p.clone());
        }
        let intel = self.intel.clone();
        let client = &intel.sharing.as_ref().expect("spawned with sharing").client;
        let root = client.api_root().await?;
        let coll = client.collection_with(&root, Access::Write).await?;
        self.place = Some((root.clone(), coll.clone()));
        Ok((root, coll))
    }
}

/// Indexes of `pending` grouped by indicator, groups in the order of their first hit.
fn by_indicator(pending: &[Waiting]) -> Vec<Vec<usize>> {
    let mut at: HashMap<&str, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, w) in pending.iter().enumerate() {
        let g = *at.entry(w.indicator.as_str()).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    groups
}

impl SharingState {
    /// Whether hit `id` was posted.
    fn posted(&self, id: u64) -> bool {
        id <= self.posted_through || self.posted_above.binary_search(&id).is_ok()
    }

    /// Records `ids` (of `pending`, in id order) as posted: everything below the first hit
    /// of `pending` still unposted is done (posted, or dropped before it waited), the
    /// posted ones above it are listed.
    fn mark_posted(&mut self, ids: &[u64], pending: &[Waiting]) {
        self.posted_above.extend_from_slice(ids);
        self.posted_above.sort_unstable();
        self.posted_above.dedup();
        let first_left = pending.iter().map(|w| w.id).find(|id| !self.posted(*id));
        self.posted_through = match first_left {
            Some(id) => self.posted_through.max(id - 1),
            None => self
                .posted_through
                .max(self.posted_above.last().copied().unwrap_or(0)),
        };
        let through = self.posted_through;
        self.posted_above.retain(|id| *id > through);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_hits_group_by_indicator_and_what_was_posted_is_remembered_exactly() {
        let w = |id, ind: &str| Waiting {
            id,
            indicator: ind.into(),
            ts_nanos: id,
        };
        let p = [w(3, "a"), w(4, "b"), w(5, "a"), w(6, "c"), w(7, "b")];
        assert_eq!(by_indicator(&p), [vec![0, 2], vec![1, 4], vec![3]]);
        let mut s = SharingState {
            posted_through: 2,
            ..SharingState::default()
        };
        // b's hits first: nothing below 3 is left, 4 and 7 are listed.
        s.mark_posted(&[4, 7], &p);
        assert_eq!((s.posted_through, s.posted_above.clone()), (2, vec![4, 7]));
        assert!(s.posted(1) && s.posted(4) && s.posted(7));
        assert!(!s.posted(3) && !s.posted(5) && !s.posted(8));
        s.mark_posted(&[3, 5], &p);
        assert_eq!((s.posted_through, s.posted_above.clone()), (5, vec![7]));
        s.mark_posted(&[6], &p);
        assert_eq!((s.posted_through, s.posted_above.clone()), (7, vec![]));
    }

    #[test]
    fn secrets_are_read_at_start_and_a_full_queue_drops_and_counts() {
        let cfg = SharingConfig {
            url: "http://192.0.2.1/taxii2/".into(),
            auth: Some(crate::config::IntelAuth {
                username: Some("u".into()),
                password_file: Some("/nonexistent/osprey-sharing.password".into()),
                ..Default::default()
            }),
            ..SharingConfig::default()
        };
        let e = Sharing::new(&cfg, Duration::from_secs(1), 1 << 20).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("[intel.sharing]") && msg.contains("osprey-sharing.password"),
            "{msg}"
        );
        let mut ok = cfg;
        ok.auth = None;
        ok.queue = 1;
        let s = Sharing::new(&ok, Duration::from_secs(1), 1 << 20).unwrap();
        let hit = |id| StoredHit {
            id,
            indicator_id: "indicator--a".into(),
            ..StoredHit::default()
        };
        s.offer(&[hit(1), hit(2)]);
        let c = &s.counters;
        assert_eq!(
            (
                c.queued.load(Ordering::Relaxed),
                c.dropped.load(Ordering::Relaxed)
            ),
            (1, 1),
            "a full queue drops and counts"
        );
    }
}
