//! Threat intelligence in the control plane: feeds (files, TAXII 2.1 collections, imported
//! bundles and lists), their indicators stored in RocksDB ([`crate::store`], column family
//! `intel`), compiled into the set every worker's indicator table is built from and
//! published through [`crate::seams::Appliance::publish_intel`] with a new generation that
//! each worker confirms between bursts, as block lists are.
//!
//! - [`feed`]: a feed's origin, content, cursor and status;
//! - [`compile`]: each feed compiled on its own when it changes, the feeds joined for the
//!   workers without the indicators past `valid_until`;
//! - [`taxii`]: the TAXII 2.1 client (discovery, API root, collections, paged objects);
//! - [`poll`]: one task per TAXII feed, polling on its interval with exponential back-off;
//! - [`hits`]: the workers' `intel` records taken from the event stream, stored, counted per
//!   feed, and turned into alerts when the feed says so;
//! - [`index`]: the workers' DNS, TLS and HTTP records and the flows kept as protocol
//!   metadata indexed by value ([`crate::store::hunt`]);
//! - [`hunt`]: new indicators searched for in that metadata (retro-hunting), each match a
//!   hit with `retro: true` and the original time;
//! - [`export`]: alerts and hits of a time range as a STIX bundle (sightings,
//!   observed-data);
//! - [`sharing`]: sightings posted to a TAXII 2.1 collection (`[intel.sharing]`);
//! - [`related`]: what else relates to a hit (alerts, flows, hits of its hosts around it;
//!   STIX objects and indicators through relationships).
//!
//! A feed whose poll or read fails keeps what it had (its last compilation), so a broken feed
//! never clears the indicators of the others. Every change republishes; an indicator that
//! expires republishes at the next check (`[intel] expiry_check_ms`).

pub mod compile;
pub mod export;
pub mod feed;
pub mod hits;
pub mod hunt;
pub mod index;
pub mod poll;
pub mod related;
pub mod score;
pub mod sharing;
pub mod taxii;
pub mod verdict;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use stix::Compiled;

use crate::config::IntelConfig;
use crate::error::{Error, Kind, Result};
use crate::seams::Appliance;
use crate::store::Store;

pub use feed::{Cause, FeedCursor, FeedError, FeedStatus, IndicatorCounts, Origin};
pub use hits::{HitFilter, StoredHit};
pub use verdict::VerdictOutcome;

use feed::{keep_newest, Content};

/// Name of the feed that imports go to when the request names none.
pub const IMPORT_FEED: &str = "import";
/// Imported bytes at most per request.
pub const MAX_IMPORT_BYTES: usize = 64 << 20;

/// One feed as held.
struct Feed {
    origin: Origin,
    content: Content,
    /// Its last compilation (kept when an update fails).
    compiled: Arc<Compiled>,
    cursor: FeedCursor,
    status: FeedStatus,
}

/// Counters of the manager (`intel.*` in `osprey ctl stats`).
#[derive(Debug, Default)]
pub struct IntelCounters {
    /// Generations published.
    pub published: AtomicU64,
    /// Republished because indicators expired.
    pub expiry_republished: AtomicU64,
    pub hits_stored: AtomicU64,
    /// Oldest hits deleted beyond `[intel] max_hits`.
    pub hits_pruned: AtomicU64,
    /// Hits lost: a line that is no `intel` record, or storage refused them.
    pub hits_lost: AtomicU64,
    pub alerts_raised: AtomicU64,
    /// Alerts of hits dropped on a full queue to ingest.
    pub alerts_dropped: AtomicU64,
    /// Analyst verdicts on hits recorded (each retrains the scoring model).
    pub verdicts: AtomicU64,
}

/// An indicator as listed.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct IndicatorView {
    pub id: String,
    pub feed: String,
    pub pattern: String,
    /// `active`, `expired`.
    pub state: &'static str,
    pub confidence: Option<u8>,
    pub labels: Vec<String>,
    pub valid_from_ns: u64,
    pub valid_until_ns: u64,
    /// The looked-up values (`ipv4-addr 192.0.2.1/32`, `domain-name evil.example`, ...).
    pub values: Vec<String>,
    /// Its confidence score and the features that weighed most ([`score`]).
    pub score: score::Scored,
}

/// Filters of [`Intel::indicators`].
#[derive(Clone, Debug, Default)]
pub struct IndicatorFilter {
    pub feed: Option<String>,
    /// The kind of looked-up value: `ipv4-addr`, `ipv6-addr`, `domain-name`, `url`, ...
    pub kind: Option<String>,
    /// A substring of a looked-up value or of the pattern.
    pub value: Option<String>,
    pub limit: usize,
    /// Skip this many matching ones (paging).
    pub offset: usize,
}

impl IndicatorFilter {
    /// Whether an indicator with looked-up `values` (as [`describe`] writes them) passes
    /// the kind and value filters (the feed is chosen before).
    fn keeps(&self, info: &stix::IndicatorInfo, values: &[String]) -> bool {
        let kind_ok = self.kind.as_ref().is_none_or(|k| {
            values
                .iter()
                .any(|v| v.split(' ').next() == Some(k.as_str()))
        });
        let value_ok = self.value.as_ref().is_none_or(|s| {
            info.pattern.contains(s.as_str()) || values.iter().any(|v| v.contains(s.as_str()))
        });
        kind_ok && value_ok
    }
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    pub feed: String,
    pub objects: u64,
    pub indicators: IndicatorCounts,
    pub generation: u64,
    /// What was left out and why (at most [`stix::set::MAX_LISTED`]).
    pub left_out: Vec<(String, String)>,
}

/// Totals over every feed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct IntelStats {
    pub feeds: u64,
    pub objects: u64,
    pub indicators: IndicatorCounts,
    pub lookups: u64,
    pub generation: u64,
    pub worker_generations: Vec<u64>,
    pub hits_stored: u64,
    pub hits_pruned: u64,
    pub hits_lost: u64,
    pub alerts_raised: u64,
    pub alerts_dropped: u64,
}

/// Batches of stored hits [`Intel::stored_hits`] holds for a lagging consumer.
const STORED_HITS_QUEUE: usize = 256;

/// The intel manager.
pub struct Intel {
    store: Arc<Store>,
    appliance: Arc<dyn Appliance>,
    cfg: IntelConfig,
    feeds: Mutex<BTreeMap<String, Feed>>,
    generation: AtomicU64,
    /// The next `valid_until` among published indicators (republish then).
    next_expiry: AtomicU64,
    pub counters: IntelCounters,
    /// The scoring model and sightings.
    score: Mutex<verdict::ScoreState>,
    /// Verdicts one at a time (each trains the next model version).
    verdict_serial: Mutex<()>,
    hunt_queue: hunt::HuntQueue,
    /// Hunts one at a time.
    hunt_serial: Mutex<()>,
    pub hunt_counters: hunt::HuntCounters,
    /// The metadata indexer's counters (shared with its thread).
    pub index_counters: Arc<index::IndexCounters>,
    /// Sightings posted to TAXII, when `[intel.sharing]` is set.
    pub sharing: Option<sharing::Sharing>,
    /// Where hits' alerts wait for ingest (set by the server before hits flow).
    alerts: std::sync::OnceLock<hits::AlertQueue>,
    /// Hits are stored one writer at a time ([`Intel::store_hits`]).
    hit_writes: Mutex<()>,
    /// Hits as stored (with their ids), for live consumers (the console's WebSocket); a
    /// consumer that lags loses the oldest and is told how many.
    pub stored_hits: tokio::sync::broadcast::Sender<Arc<[hits::StoredHit]>>,
}

impl std::fmt::Debug for Intel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intel").finish_non_exhaustive()
    }
}

impl Intel {
    /// The configured feeds (files read now, TAXII and imported feeds from storage), and
    /// stored feeds no longer configured deleted; publishes generation 1 when there is any
    /// feed.
    pub fn open(
        store: Arc<Store>,
        appliance: Arc<dyn Appliance>,
        cfg: &IntelConfig,
        now_ns: u64,
    ) -> Result<Intel> {
        let score_state = verdict::ScoreState::open(&store)?;
        let sharing = cfg
            .sharing
            .as_ref()
            .map(|s| {
                sharing::Sharing::new(
                    s,
                    std::time::Duration::from_secs(cfg.read_timeout_secs),
                    cfg.max_response_bytes,
                )
            })
            .transpose()?;
        let intel = Intel {
            store,
            appliance,
            cfg: cfg.clone(),
            feeds: Mutex::new(BTreeMap::new()),
            generation: AtomicU64::new(0),
            next_expiry: AtomicU64::new(u64::MAX),
            counters: IntelCounters::default(),
            score: Mutex::new(score_state),
            verdict_serial: Mutex::new(()),
            hunt_queue: hunt::HuntQueue::new(cfg.hunt.queue),
            hunt_serial: Mutex::new(()),
            hunt_counters: hunt::HuntCounters::default(),
            index_counters: Arc::new(index::IndexCounters::default()),
            sharing,
            alerts: std::sync::OnceLock::new(),
            hit_writes: Mutex::new(()),
            stored_hits: tokio::sync::broadcast::channel(STORED_HITS_QUEUE).0,
        };
        let mut feeds = BTreeMap::new();
        for f in &cfg.feeds {
            let origin = match &f.path {
                Some(p) => Origin::File(p.clone()),
                None => Origin::Taxii(Box::new(f.clone())),
            };
            feeds.insert(f.name.clone(), intel.load_feed(&f.name, origin, now_ns)?);
        }
        for name in intel.store.intel_feeds()? {
            if feeds.contains_key(&name) {
                continue;
            }
            let kind = intel.store.intel_cursor(&name)?.map(|c| c.kind);
            if kind.as_deref() == Some("import") {
                let feed = intel.load_feed(&name, Origin::Import, now_ns)?;
                feeds.insert(name, feed);
            } else {
                intel.store.delete_intel_feed(&name)?;
            }
        }
        let mut held = intel.lock();
        *held = feeds;
        // Without feeds nothing is published: the workers run no table (generation 0), as
        // `osprey replay` without `--intel` does.
        if !held.is_empty() {
            intel.publish(&mut held, now_ns);
        }
        let files: Vec<String> = held
            .iter()
            .filter(|(_, f)| matches!(f.origin, Origin::File(_)))
            .map(|(n, _)| n.clone())
            .collect();
        drop(held);
        // A file feed may have changed while the appliance was down: its indicators are
        // hunted for (records reported before are not reported again).
        for feed in files {
            intel.request_hunt(hunt::HuntRequest {
                trigger: hunt::Trigger::Start,
                feed: Some(feed),
                indicators: None,
                since_ns: 0,
            });
        }
        Ok(intel)
    }

    fn load_feed(&self, name: &str, origin: Origin, now_ns: u64) -> Result<Feed> {
        let cursor = self.store.intel_cursor(name)?.unwrap_or_default();
        let mut status = FeedStatus {
            name: name.to_owned(),
            kind: origin.kind().to_owned(),
            location: origin.location(),
            ..FeedStatus::default()
        };
        let content = match &origin {
            // A file that cannot be read stops the start, as a rule file does: it is the
            // configuration's mistake, not a feed's bad day.
            Origin::File(p) => {
                let bytes = std::fs::read(p).map_err(|e| {
                    Error::config(format!("[[intel.feeds]] {name:?}: {}: {e}", p.display()))
                })?;
                status.last_ok_ns = now_ns;
                Content::Text(bytes.into())
            }
            Origin::Taxii(f) => {
                status.collection = f.collection.clone().unwrap_or_default();
                status.poll_secs = f.poll_interval().map_or(0, |d| d.as_secs());
                self.stored_objects(name)?
            }
            Origin::Import => self.stored_objects(name)?,
        };
        status.objects_fetched = cursor.objects_fetched;
        status.last_poll_ns = cursor.last_poll_ns;
        status.last_ok_ns = status.last_ok_ns.max(cursor.last_ok_ns);
        let compiled = compile::compile_feed(name, &content, now_ns)
            .map_err(|e| Error::config(format!("[[intel.feeds]] {name:?}: {e}")))?;
        let compiled = Arc::new(compiled);
        // A file is read once: its bytes are not kept beside its compilation.
        let content = match content {
            Content::Text(_) => Content::Empty,
            c => c,
        };
        Ok(Feed {
            origin,
            content,
            compiled,
            cursor,
            status,
        })
    }

    fn stored_objects(&self, name: &str) -> Result<Content> {
        let mut m = HashMap::new();
        for v in self.store.intel_objects(name)? {
            match serde_json::from_slice::<Value>(&v) {
                Ok(v) => {
                    keep_newest(&mut m, v);
                }
                Err(e) => tracing::warn!(feed = name, error = %e, "stored intel object unreadable"),
            }
        }
        Ok(Content::Objects(m))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Feed>> {
        self.feeds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Joins every feed's compilation and publishes it as the next generation.
    fn publish(&self, feeds: &mut BTreeMap<String, Feed>, now_ns: u64) -> u64 {
        let all: Vec<&Compiled> = feeds.values().map(|f| f.compiled.as_ref()).collect();
        let (merged, counts, next) = compile::merge(&all, now_ns);
        // Counts are per feed, in the same order.
        for (f, n) in feeds.values_mut().zip(counts) {
            f.status.indicators = n;
        }
        self.next_expiry.store(next, Ordering::Release);
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.appliance.publish_intel(generation, merged);
        self.counters.published.fetch_add(1, Ordering::Relaxed);
        generation
    }

    /// Republishes when a published indicator's `valid_until` has passed; returns whether it
    /// did.
    pub fn expire(&self, now_ns: u64) -> bool {
        if now_ns < self.next_expiry.load(Ordering::Acquire) {
            return false;
        }
        let mut feeds = self.lock();
        self.publish(&mut feeds, now_ns);
        self.counters
            .expiry_republished
            .fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Adds `objects` fetched by `feed`'s poll: stored (in batches), kept when newer than the
    /// version held, the feed recompiled and everything republished. Returns how many
    /// objects changed.
    pub fn add_objects(
        &self,
        feed: &str,
        objects: Vec<Value>,
        cursor: FeedCursor,
        now_ns: u64,
    ) -> std::result::Result<u64, FeedError> {
        let mut feeds = self.lock();
        let f = feeds
            .get_mut(feed)
            .ok_or_else(|| FeedError::new(Cause::Read, format!("no feed {feed:?}")))?;
        let fetched = objects.len() as u64;
        let changed = f.absorb(objects, self.cfg.max_objects_per_feed)?;
        let rows: Vec<(String, Vec<u8>)> = changed
            .iter()
            .filter_map(|v| {
                let id = v.get("id")?.as_str()?.to_owned();
                Some((id, serde_json::to_vec(v).ok()?))
            })
            .collect();
        let mut cursor = cursor;
        cursor.kind = f.origin.kind().to_owned();
        cursor.objects_fetched = f.cursor.objects_fetched + fetched;
        let stored = self
            .store
            .put_intel_objects(feed, &rows)
            .and_then(|()| self.store.put_intel_cursor(feed, &cursor));
        if let Err(e) = stored {
            return Err(FeedError::new(Cause::Storage, e.to_string()));
        }
        f.cursor = cursor;
        f.status.objects_fetched = f.cursor.objects_fetched;
        f.status.last_poll_ns = now_ns;
        f.status.last_ok_ns = now_ns;
        f.status.last_error.clear();
        if !rows.is_empty() {
            let compiled = compile::compile_feed(feed, &f.content, now_ns)
                .map_err(|e| FeedError::new(Cause::Malformed, e.to_string()))?;
            f.compiled = Arc::new(compiled);
            let trigger = match f.origin {
                Origin::Import => hunt::Trigger::Import,
                _ => hunt::Trigger::Feed,
            };
            self.publish(&mut feeds, now_ns);
            drop(feeds);
            let new: std::collections::HashSet<String> = rows
                .iter()
                .filter(|(id, _)| id.starts_with("indicator--"))
                .map(|(id, _)| id.clone())
                .collect();
            if !new.is_empty() {
                self.request_hunt(hunt::HuntRequest {
                    trigger,
                    feed: Some(feed.to_owned()),
                    indicators: Some(new),
                    since_ns: 0,
                });
            }
        }
        Ok(rows.len() as u64)
    }

    /// Records a failed poll of `feed` (its indicators stay).
    pub fn feed_failed(&self, feed: &str, e: &FeedError, now_ns: u64) {
        if let Some(f) = self.lock().get_mut(feed) {
            f.status.last_poll_ns = now_ns;
            f.status.last_error = e.to_string();
            *f.status.errors.entry(e.cause.name()).or_default() += 1;
        }
    }

    /// The stored cursor of `feed` (where its next poll starts).
    pub fn cursor(&self, feed: &str) -> Option<FeedCursor> {
        self.lock().get(feed).map(|f| f.cursor.clone())
    }

    /// Imports a bundle or list into feed `feed` (an import feed, created when new).
    pub fn import(&self, feed: &str, text: &[u8], now_ns: u64) -> Result<Imported> {
        if text.len() > MAX_IMPORT_BYTES {
            return Err(Error::new(
                Kind::InvalidArgument,
                format!("an import is at most {MAX_IMPORT_BYTES} bytes"),
            ));
        }
        let objects = import_objects(text)?;
        let n = objects.len() as u64;
        {
            let mut feeds = self.lock();
            match feeds.get(feed) {
                Some(f) if f.origin != Origin::Import => {
                    return Err(Error::new(
                        Kind::InvalidArgument,
                        format!(
                            "feed {feed:?} is a {} feed; import into another name",
                            f.origin.kind()
                        ),
                    ))
                }
                Some(_) => {}
                None => {
                    let mut status = FeedStatus {
                        name: feed.to_owned(),
                        kind: "import".into(),
                        ..FeedStatus::default()
                    };
                    status.last_ok_ns = now_ns;
                    feeds.insert(
                        feed.to_owned(),
                        Feed {
                            origin: Origin::Import,
                            content: Content::Objects(HashMap::new()),
                            compiled: Arc::new(Compiled::default()),
                            cursor: FeedCursor::default(),
                            status,
                        },
                    );
                }
            }
        }
        let cursor = self.cursor(feed).unwrap_or_default();
        self.add_objects(feed, objects, cursor, now_ns)
            .map_err(|e| Error::new(Kind::InvalidArgument, e.to_string()))?;
        let feeds = self.lock();
        let f = feeds
            .get(feed)
            .ok_or_else(|| Error::internal("feed vanished"))?;
        Ok(Imported {
            feed: feed.to_owned(),
            objects: n,
            indicators: f.status.indicators,
            generation: self.generation(),
            left_out: f.compiled.report.listed.clone(),
        })
    }

    /// Every feed's status, by name, with its hits from `hits`.
    pub fn feeds(&self) -> Vec<FeedStatus> {
        self.lock()
            .values()
            .map(|f| {
                let mut s = f.status.clone();
                s.objects = match &f.content {
                    Content::Objects(m) => m.len() as u64,
                    _ => f.compiled.report.objects,
                };
                s
            })
            .collect()
    }

    /// Counts a hit (and an alert raised from it) for `feed`.
    pub(crate) fn count_hit(&self, feed: &str, alert: bool) {
        if let Some(f) = self.lock().get_mut(feed) {
            f.status.hits += 1;
            f.status.alerts += u64::from(alert);
        }
    }

    /// Stores `hits` (retro-hunt findings with their records' `marks`), numbering them,
    /// and offers them to sharing (when on); returns how many old hits were pruned. One
    /// writer at a time (the hits and hunt threads both store): ids are taken and written,
    /// and offered, in order, which is what sharing's "posted through" relies on.
    pub(crate) fn store_hits(
        &self,
        hits: &mut [StoredHit],
        marks: Option<&[crate::store::AlertKey]>,
    ) -> Result<u64> {
        let _order = self.hit_writes.lock().unwrap_or_else(|p| p.into_inner());
        let max = self.cfg.max_hits;
        let pruned = match marks {
            None => self.store.append_intel_hits(hits, max)?,
            Some(keys) => self.store.append_retro_findings(hits, keys, max)?,
        };
        if let Some(s) = &self.sharing {
            s.offer(hits);
        }
        Ok(pruned)
    }

    /// Sets where hits' alerts go (once, before hits flow).
    pub fn set_alert_queue(&self, q: hits::AlertQueue) {
        let _ = self.alerts.set(q);
    }

    /// Raises the alert of hit `h` (for a feed with an `alert_sid`; a retro-hunt finding's
    /// marked so); a full queue drops and counts. Returns whether the feed alerts.
    pub(crate) fn raise_alert(&self, h: &StoredHit) -> bool {
        let Some(rule) = self.alert_rule(&h.feed) else {
            return false;
        };
        let c = &self.counters;
        let sent = self
            .alerts
            .get()
            .is_some_and(|q| q.try_send(hits::hit_alert(h, rule)).is_ok());
        if sent {
            c.alerts_raised.fetch_add(1, Ordering::Relaxed);
        } else {
            c.alerts_dropped.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// Counts a retro-hunt finding for `feed`.
    pub(crate) fn count_retro(&self, feed: &str) {
        if let Some(f) = self.lock().get_mut(feed) {
            f.status.hits += 1;
            f.status.retro_findings += 1;
        }
    }

    /// The alert a hit of `feed` raises: (gid, sid, priority), if any.
    pub fn alert_rule(&self, feed: &str) -> Option<(u32, u32, u8)> {
        let own = self.cfg.feeds.iter().find(|f| f.name == feed);
        let sid = own.and_then(|f| f.alert_sid).or(self.cfg.alert_sid)?;
        let gid = own.and_then(|f| f.alert_gid).unwrap_or(self.cfg.alert_gid);
        let prio = own
            .and_then(|f| f.alert_priority)
            .unwrap_or(self.cfg.alert_priority);
        Some((gid, sid, prio))
    }

    /// The indicators of every feed's compilation that pass `f` (those past `valid_until`
    /// as `expired`), scored, and whether more follow.
    pub fn indicators(&self, f: &IndicatorFilter) -> Result<(Vec<IndicatorView>, bool)> {
        let (mut list, more) = self.listed(f);
        self.score_views(&mut list, crate::health::now_nanos())?;
        Ok((list, more))
    }

    /// [`Intel::indicators`] without their scores.
    fn listed(&self, f: &IndicatorFilter) -> (Vec<IndicatorView>, bool) {
        let sets: Vec<(String, Arc<Compiled>)> = self
            .lock()
            .iter()
            .filter(|(name, _)| f.feed.as_ref().is_none_or(|x| x == *name))
            .map(|(name, feed)| (name.clone(), feed.compiled.clone()))
            .collect();
        let now = crate::health::now_nanos();
        let mut out = Vec::new();
        let mut skipped = 0;
        for (feed, set) in &sets {
            // Lookups are in indicator order: one cursor walks them beside the indicators.
            let mut at = 0;
            for (n, info) in set.indicators.iter().enumerate() {
                let start = at;
                while at < set.matches.len() && set.matches[at].0 as usize == n {
                    at += 1;
                }
                let vals: Vec<String> = set.matches[start..at]
                    .iter()
                    .map(|(_, m)| describe(&m.observable))
                    .collect();
                if !f.keeps(info, &vals) {
                    continue;
                }
                if skipped < f.offset {
                    skipped += 1;
                    continue;
                }
                if out.len() == f.limit {
                    return (out, true);
                }
                out.push(IndicatorView {
                    id: info.id.clone(),
                    feed: feed.clone(),
                    pattern: info.pattern.clone(),
                    state: if info.valid_until.is_some_and(|u| u <= now) {
                        "expired"
                    } else {
                        "active"
                    },
                    confidence: info.confidence,
                    labels: info.labels.clone(),
                    valid_from_ns: info.valid_from.unwrap_or(0),
                    valid_until_ns: info.valid_until.unwrap_or(0),
                    values: vals,
                    score: score::Scored::default(),
                });
            }
        }
        (out, false)
    }

    /// Totals.
    pub fn stats(&self) -> IntelStats {
        let feeds = self.feeds();
        let c = &self.counters;
        let mut s = IntelStats {
            feeds: feeds.len() as u64,
            generation: self.generation(),
            worker_generations: self.appliance.intel_generations(),
            hits_stored: c.hits_stored.load(Ordering::Relaxed),
            hits_pruned: c.hits_pruned.load(Ordering::Relaxed),
            hits_lost: c.hits_lost.load(Ordering::Relaxed),
            alerts_raised: c.alerts_raised.load(Ordering::Relaxed),
            alerts_dropped: c.alerts_dropped.load(Ordering::Relaxed),
            ..IntelStats::default()
        };
        s.lookups = self
            .lock()
            .values()
            .map(|f| f.compiled.matches.len() as u64)
            .sum();
        for f in feeds {
            s.objects += f.objects;
            let (a, b) = (&mut s.indicators, f.indicators);
            a.active += b.active;
            a.expired += b.expired;
            a.unsupported += b.unsupported;
            a.revoked += b.revoked;
            a.malformed += b.malformed;
        }
        s
    }

    /// The manager's counters in dotted names (`intel.*`, in `osprey ctl stats` and, without
    /// labels, the metrics).
    pub fn counter_values(&self) -> Vec<(String, u64)> {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("intel.feeds".into(), self.lock().len() as u64),
            ("intel.published_generation".into(), self.generation()),
            ("intel.expiry_republished".into(), l(&c.expiry_republished)),
            ("intel.hits_stored".into(), l(&c.hits_stored)),
            ("intel.hits_pruned".into(), l(&c.hits_pruned)),
            ("intel.hits_lost".into(), l(&c.hits_lost)),
            ("intel.alerts_raised".into(), l(&c.alerts_raised)),
            ("intel.alerts_dropped".into(), l(&c.alerts_dropped)),
            ("intel.verdicts".into(), l(&c.verdicts)),
            ("intel.score_model_version".into(), self.model().version),
        ]
        .into_iter()
        .chain(self.hunt_counter_values())
        .chain(
            self.sharing
                .iter()
                .flat_map(sharing::Sharing::counter_values),
        )
        .collect()
    }

    /// Generation published last.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether every running worker runs `generation` (or a later one).
    pub fn confirmed(&self, generation: u64) -> bool {
        self.appliance
            .intel_generations()
            .iter()
            .all(|g| *g >= generation)
    }

    /// The store (hits).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &IntelConfig {
        &self.cfg
    }

    /// The TAXII feeds' configurations.
    pub fn taxii_feeds(&self) -> Vec<crate::config::IntelFeed> {
        self.cfg
            .feeds
            .iter()
            .filter(|f| f.url.is_some())
            .cloned()
            .collect()
    }
}

impl Feed {
    /// Keeps the objects newer than those held (at most `max` held); returns those kept.
    fn absorb(
        &mut self,
        objects: Vec<Value>,
        max: usize,
    ) -> std::result::Result<Vec<Value>, FeedError> {
        if !matches!(self.content, Content::Objects(_)) {
            self.content = Content::Objects(HashMap::new());
        }
        let Content::Objects(map) = &mut self.content else {
            unreachable!("set above")
        };
        let mut kept = Vec::new();
        let mut over = 0u64;
        for v in objects {
            let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
            if map.len() >= max && !map.contains_key(id) {
                over += 1;
                continue;
            }
            if keep_newest(map, v.clone()) {
                kept.push(v);
            }
        }
        if over > 0 {
            *self
                .status
                .errors
                .entry(Cause::TooManyObjects.name())
                .or_default() += 1;
            self.status.last_error = format!(
                "{}: {over} object(s) left out beyond [intel] max_objects_per_feed = {max}",
                Cause::TooManyObjects.name()
            );
        }
        Ok(kept)
    }
}

/// A bundle's objects, or a plain list's indicators as STIX indicators (their patterns
/// made from the values), for an import.
fn import_objects(text: &[u8]) -> Result<Vec<Value>> {
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        let v: Value = serde_json::from_slice(text)
            .map_err(|e| Error::new(Kind::InvalidArgument, format!("not JSON: {e}")))?;
        if v.get("type").and_then(Value::as_str) != Some("bundle") {
            return Err(Error::new(
                Kind::InvalidArgument,
                "a JSON import must be a STIX bundle (\"type\": \"bundle\")",
            ));
        }
        match v.get("objects") {
            Some(Value::Array(a)) => Ok(a.clone()),
            None => Ok(Vec::new()),
            Some(_) => Err(Error::new(
                Kind::InvalidArgument,
                "the bundle's objects is not a list",
            )),
        }
    } else {
        let text = String::from_utf8_lossy(text);
        let (good, bad) = stix::list::parse_list("import", &text);
        if good.is_empty() && !bad.is_empty() {
            return Err(Error::new(
                Kind::InvalidArgument,
                format!(
                    "no indicator in the list; line {}: {}",
                    bad[0].line, bad[0].reason
                ),
            ));
        }
        good.into_iter()
            .map(|i| serde_json::to_value(&i).map_err(|e| Error::internal(e.to_string())))
            .collect()
    }
}

/// A lookup as listed: its kind and value.
fn describe(o: &stix::Observable) -> String {
    use stix::Observable as O;
    match o {
        O::Addr(p) => format!(
            "{} {p}",
            if p.addr.is_ipv4() {
                "ipv4-addr"
            } else {
                "ipv6-addr"
            }
        ),
        O::Domain(d) => format!("domain-name {d}"),
        O::Url(u) => format!("url {u}"),
        O::FileHash(a, h) => format!("file {a:?} {h}"),
        O::CertHash(a, h) => format!("x509-certificate {a:?} {h}"),
        O::Ja3(h) => format!("ja3 {h}"),
        O::Ja3s(h) => format!("ja3s {h}"),
        O::Ja4(h) => format!("ja4 {h}"),
    }
}

impl Intel {
    /// Starts the task that republishes when indicators expire, every `every` until
    /// shutdown.
    pub fn spawn_expiry(
        intel: Arc<Intel>,
        every: std::time::Duration,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        crate::api::spawn_periodic(every, shutdown, move || {
            let _ = intel.expire(crate::health::now_nanos());
        })
    }
}
