//! The dynamic block list: entries stored in RocksDB ([`crate::store`], prefix `b`), kept in
//! memory by id, and published to every worker as an immutable table through
//! [`crate::seams::Appliance::publish_blocks`] after each change, with a new generation each
//! worker confirms between bursts.
//!
//! Every change (add, remove, expiry, the configuration's entries at start) is written to the
//! store first, then published, under one lock, so generations follow the order of changes.
//! The list holds at most `[blocklist] max_entries`; one more is refused with
//! RESOURCE_EXHAUSTED. Entries that overlap others are accepted, and the overlapping ids are
//! reported. An expiry task ([`BlockList::spawn_expiry`]) removes expired entries on its own,
//! audits each removal (who: `expiry`) and republishes.

mod entry;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use vocab::block::{BlockEntry, BlockMatch, Origin};

use crate::config::BlocklistConfig;
use crate::error::{Error, Kind, Result};
use crate::seams::Appliance;
use crate::store::Store;

pub use entry::{NewBlock, StoredBlock, MAX_REASON_BYTES};

/// What the workers' table needs of an entry, parsed once.
struct Held {
    stored: StoredBlock,
    entry: BlockEntry,
}

/// The entries and the id the next one gets.
#[derive(Default)]
struct State {
    entries: BTreeMap<u64, Held>,
    next_id: u64,
}

/// An added entry, the existing ones it overlaps, and the generation that carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Added {
    pub entry: StoredBlock,
    pub overlaps: Vec<u64>,
    pub generation: u64,
}

/// Filters of a listing.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub address: Option<IpAddr>,
    pub origin: Option<Origin>,
    /// Entries after this id.
    pub after: u64,
    pub limit: usize,
}

/// The block list.
pub struct BlockList {
    store: Arc<Store>,
    appliance: Arc<dyn Appliance>,
    max_entries: usize,
    state: Mutex<State>,
    generation: AtomicU64,
    /// Entries removed by the expiry task.
    pub expired: AtomicU64,
}

impl std::fmt::Debug for BlockList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockList")
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

impl BlockList {
    /// Loads the stored entries, brings the configuration's entries (origin `config`) in line
    /// with `cfg` (adds the missing, removes those no longer configured), and publishes the
    /// list as generation 1.
    pub fn open(
        store: Arc<Store>,
        appliance: Arc<dyn Appliance>,
        cfg: &BlocklistConfig,
        now_ns: u64,
    ) -> Result<BlockList> {
        let mut state = State {
            entries: BTreeMap::new(),
            next_id: store.next_block_id()?,
        };
        for b in store.all_blocks()? {
            state.next_id = state.next_id.max(b.id + 1);
            let entry = b.entry()?;
            state.entries.insert(b.id, Held { stored: b, entry });
        }
        let list = BlockList {
            store,
            appliance,
            max_entries: cfg.max_entries,
            state: Mutex::new(state),
            generation: AtomicU64::new(0),
            expired: AtomicU64::new(0),
        };
        list.sync_config(cfg, now_ns)?;
        let state = list.lock();
        list.publish(&state);
        drop(state);
        Ok(list)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds the configuration's entries that are missing and removes stored `config` entries
    /// the configuration no longer has.
    fn sync_config(&self, cfg: &BlocklistConfig, now_ns: u64) -> Result<()> {
        let mut st = self.lock();
        let mut wanted = Vec::new();
        for (i, c) in cfg.entries.iter().enumerate() {
            let side = vocab::block::Side::from_name(&c.side).ok_or_else(|| {
                Error::config(format!("blocklist.entries[{i}].side {:?}", c.side))
            })?;
            let m = BlockMatch::parse(&c.target, side)
                .map_err(|e| Error::config(format!("blocklist.entries[{i}].target: {e}")))?;
            wanted.push((m, c.reason.clone()));
        }
        let stale: Vec<u64> = st
            .entries
            .values()
            .filter(|h| h.entry.origin == Origin::Config)
            .filter(|h| {
                !wanted
                    .iter()
                    .any(|(m, r)| *m == h.entry.matcher && *r == h.entry.reason)
            })
            .map(|h| h.stored.id)
            .collect();
        let mut added = Vec::new();
        for (m, reason) in wanted {
            let have = st.entries.values().any(|h| {
                h.entry.origin == Origin::Config && h.entry.matcher == m && h.entry.reason == reason
            });
            if !have && !added.iter().any(|h: &Held| h.entry.matcher == m) {
                let id = st.next_id + added.len() as u64;
                added.push(held(id, m, Origin::Config, reason, "config", now_ns, 0));
            }
        }
        if !stale.is_empty() {
            self.store.delete_blocks(&stale)?;
            for id in stale {
                st.entries.remove(&id);
            }
        }
        if !added.is_empty() {
            let next = st.next_id + added.len() as u64;
            let rows: Vec<StoredBlock> = added.iter().map(|h| h.stored.clone()).collect();
            self.store.put_blocks(&rows, next)?;
            st.next_id = next;
            for h in added {
                st.entries.insert(h.stored.id, h);
            }
        }
        Ok(())
    }

    /// Adds an entry made by `who` and publishes the list.
    pub fn add(&self, req: &NewBlock, who: &str, now_ns: u64) -> Result<Added> {
        let (matcher, origin, expires) = req.parse(now_ns)?;
        let mut st = self.lock();
        if st.entries.len() >= self.max_entries {
            return Err(Error::new(
                Kind::Full,
                format!(
                    "the block list holds its maximum of {} entries ([blocklist] max_entries); remove some first",
                    self.max_entries
                ),
            ));
        }
        let overlaps: Vec<u64> = st
            .entries
            .values()
            .filter(|h| h.entry.matcher.overlaps(&matcher))
            .map(|h| h.stored.id)
            .collect();
        let id = st.next_id;
        let h = held(
            id,
            matcher,
            origin,
            req.reason.clone(),
            who,
            now_ns,
            expires,
        );
        self.store
            .put_blocks(std::slice::from_ref(&h.stored), id + 1)?;
        st.next_id = id + 1;
        let entry = h.stored.clone();
        st.entries.insert(id, h);
        let generation = self.publish(&st);
        Ok(Added {
            entry,
            overlaps,
            generation,
        })
    }

    /// Removes entry `id` and publishes the list.
    pub fn remove(&self, id: u64) -> Result<(StoredBlock, u64)> {
        let mut st = self.lock();
        if !st.entries.contains_key(&id) {
            return Err(Error::not_found(format!(
                "no block-list entry with id {id}"
            )));
        }
        self.store.delete_blocks(&[id])?;
        let h = st
            .entries
            .remove(&id)
            .ok_or_else(|| Error::internal("entry vanished"))?;
        let generation = self.publish(&st);
        Ok((h.stored, generation))
    }

    /// Removes every entry expired at `now_ns` and publishes the list if any was.
    pub fn expire(&self, now_ns: u64) -> Result<Vec<StoredBlock>> {
        let mut st = self.lock();
        let ids: Vec<u64> = st
            .entries
            .values()
            .filter(|h| h.stored.expires_ns != 0 && h.stored.expires_ns <= now_ns)
            .map(|h| h.stored.id)
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.store.delete_blocks(&ids)?;
        let gone: Vec<StoredBlock> = ids
            .iter()
            .filter_map(|id| st.entries.remove(id).map(|h| h.stored))
            .collect();
        self.publish(&st);
        self.expired.fetch_add(gone.len() as u64, Ordering::Relaxed);
        Ok(gone)
    }

    /// One entry.
    pub fn get(&self, id: u64) -> Result<StoredBlock> {
        self.lock()
            .entries
            .get(&id)
            .map(|h| h.stored.clone())
            .ok_or_else(|| Error::not_found(format!("no block-list entry with id {id}")))
    }

    /// Entries after `f.after` by id that pass the filters, at most `f.limit`; and whether
    /// more follow.
    pub fn list(&self, f: &ListFilter) -> (Vec<StoredBlock>, bool) {
        let st = self.lock();
        let mut out = Vec::new();
        let mut more = false;
        let matching = st
            .entries
            .range(f.after.saturating_add(1)..)
            .map(|(_, h)| h)
            .filter(|h| f.origin.is_none_or(|o| h.entry.origin == o))
            .filter(|h| {
                f.address
                    .is_none_or(|a| h.stored.concerns(&h.entry.matcher, a))
            });
        for h in matching {
            if out.len() == f.limit {
                more = true;
                break;
            }
            out.push(h.stored.clone());
        }
        (out, more)
    }

    /// Entries in the list.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cap.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Generation published last.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The generation each running worker confirmed.
    pub fn worker_generations(&self) -> Vec<u64> {
        self.appliance.block_generations()
    }

    /// Whether every running worker runs `generation` (or a later one).
    pub fn confirmed(&self, generation: u64) -> bool {
        self.appliance
            .block_generations()
            .iter()
            .all(|g| *g >= generation)
    }

    /// Publishes the entries of `st` as the next generation.
    fn publish(&self, st: &State) -> u64 {
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let entries: Vec<BlockEntry> = st.entries.values().map(|h| h.entry.clone()).collect();
        self.appliance.publish_blocks(generation, &entries);
        generation
    }
}

fn held(
    id: u64,
    matcher: BlockMatch,
    origin: Origin,
    reason: String,
    who: &str,
    now_ns: u64,
    expires_ns: u64,
) -> Held {
    Held {
        stored: StoredBlock {
            id,
            target: matcher.to_string(),
            side: matcher.side().name().to_owned(),
            origin: origin.name().to_owned(),
            reason: reason.clone(),
            created_by: who.to_owned(),
            created_ns: now_ns,
            expires_ns,
        },
        entry: BlockEntry {
            id,
            matcher,
            origin,
            reason,
        },
    }
}

/// The audit method of removals by the expiry task.
pub const EXPIRY_METHOD: &str = "osprey.v1.BlockService/Expire";

impl BlockList {
    /// Starts the task that removes expired entries every `every` until shutdown; each
    /// removal is audited (who `expiry`, method [`EXPIRY_METHOD`]).
    pub fn spawn_expiry(
        list: Arc<BlockList>,
        every: std::time::Duration,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        crate::api::spawn_periodic(every, shutdown, move || {
            if let Err(e) = list.expire_and_audit() {
                tracing::error!(error = %e, "block-list expiry pass failed");
            }
        })
    }

    fn expire_and_audit(&self) -> Result<()> {
        let now = crate::health::now_nanos();
        for b in self.expire(now)? {
            let rec = crate::model::AuditRecord {
                time_nanos: now,
                who: "expiry".into(),
                role: "none".into(),
                method: EXPIRY_METHOD.into(),
                target: format!("{} {} {}", b.id, b.side, b.target),
                result: "ok".into(),
                detail: String::new(),
            };
            self.store.append_audit(&rec)?;
        }
        Ok(())
    }
}
