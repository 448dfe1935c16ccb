//! RocksDB storage of alerts, their indices, flow records, the ruleset with its reload
//! history, and the audit log.
//!
//! # Key layout, format version 3
//!
//! All integers are big-endian so that byte order is numeric order. `ip16` is the address as
//! 16 bytes (IPv4 mapped into IPv6, `::ffff:a.b.c.d`). `akey` is an alert key.
//!
//! | column family | key | value |
//! |---|---|---|
//! | `alerts`  | `akey` = `ts_nanos:u64 ‖ alert_id:u64` | [`record`] (fixed little-endian layout) |
//! | `idx_sid` | `sid:u32 ‖ max_akey` | posting: the batch's other akeys of that sid ([`posting`]) |
//! | `idx_src` | `ip16 ‖ max_akey` | posting, by source address |
//! | `idx_dst` | `ip16 ‖ max_akey` | posting, by destination address |
//! | `flows`   | `end_nanos:u64 ‖ record_id:u64` | protobuf `osprey.v1.Flow` |
//! | `rules`   | `'r' ‖ gid:u32 ‖ sid:u32` | JSON [`StoredRule`](crate::model::StoredRule) |
//! | `rules`   | `'h' ‖ generation:u64` | JSON [`ReloadRecord`](crate::model::ReloadRecord) |
//! | `audit`   | `time_nanos:u64 ‖ seq:u64` | JSON [`AuditRecord`](crate::model::AuditRecord) |
//! | `incidents` | opaque keys and values of [`crate::incidents`] (its `persist.rs`) | |
//! | `intel`   | `'o' ‖ feed ‖ 0 ‖ object id`, `'f' ‖ feed`, `'h' ‖ hit_id:u64` | STIX object JSON, feed cursor, hit (`intel.rs`) |
//! | `hunt`, `idx_hunt` | protocol metadata for retro-hunting and its index by value ([`hunt`]) | |
//! | `meta`    | `format_version` | `u32` (= [`FORMAT_VERSION`]) |
//! | `meta`    | `next_alert_id`, `next_flow_id`, `generation`, `next_dead_letter_id` | `u64` |
//! | `meta`    | `dead_letter/` ‖ `id:u64` | JSON [`DeadLetter`] (a webhook delivery given up) |
//!
//! Time-ordered keys make range queries and age retention sequential scans. The indices hold
//! batch-level postings: one entry per sid (source, destination) per write batch and time
//! bucket (2^30 ns), keyed by the newest alert key it lists, its value the other alert keys,
//! delta-coded. Newest-first queries walk postings backwards and merge them lazily (an entry
//! is returned once no unread posting can hold a newer one), so pages come in alert-key order
//! and the cursor is an alert key as before. Version 2 had one empty-valued index entry per
//! alert and index; three skiplist inserts per alert were most of the write path.
//!
//! An alert batch, its postings and the new `next_alert_id` go into one `WriteBatch` with the
//! WAL on: once [`Store::append_alerts`] returns, the alerts survive a kill of the process
//! (and a power loss too with `sync_writes`). Retention deletes a posting in the same
//! `WriteBatch` as the alert its key names (its newest), so a posting exists exactly as long
//! as that alert; its older alerts may be gone before it, and queries skip them.
//!
//! A database with another format version is refused at open with a clear error, never
//! guessed at.
//!
//! # Full disk
//!
//! Writes are refused with [`Kind::Storage`] while the volume has less than the free-space
//! floor: `min_free_bytes`, but never less than [`FLUSH_HEADROOM_BYTES`] (the largest
//! memtable flush plus the WAL cap), so RocksDB itself never hits ENOSPC in a write and a
//! restart, which flushes what the WAL holds, finds room for it. If a write fails anyway
//! (another process filled the disk), all further writes are refused until restart:
//! RocksDB's WAL writer is in an error state then, and writing to it again is undefined (a
//! library built with assertions aborts). If even the restart finds no room, the database
//! is opened read-only (queries work, nothing is stored) and [`Store::health`] says what to
//! do.
//!
//! # Health
//!
//! Damage is looked for, not waited for: `paranoid_checks` at open, checksums verified on
//! every read, and at open the newest SST files (up to [`VERIFY_AT_OPEN_BYTES`]) are read
//! through once ([`Store::verify_newest`]), so a corrupted file is reported, by name, before
//! a compaction trips over it. RocksDB's background errors (a failed flush or compaction
//! stops its writes) are polled (`rocksdb.background-errors`). [`Store::health`] turns all
//! of it, and refused or stalled writes, into a degraded state the API reports; the data
//! plane keeps running whatever storage does.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use prost::Message;
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, Options, ReadOptions, WriteBatch, DB,
};

use crate::error::{Error, Kind, Result};
use crate::health::{now_nanos, ComponentHealth, Since};
use crate::model::{Alert, FlowRecord};
use crate::proto;

pub mod audit;
mod blocks;
mod deadletter;
pub mod hunt;
mod incidents;
mod intel;
mod intel_score;
pub mod posting;
mod preferences;
mod query;
pub mod record;
mod reports;
pub use deadletter::DeadLetter;
mod retention;
mod rules;

pub use audit::{AuditFilter, AuditPage, AuditRetention};
pub use query::{AlertFilter, FlowFilter, Order, Page};
pub use retention::RetentionReport;

/// Version of the key layout above. Bump it on any incompatible change.
pub const FORMAT_VERSION: u32 = 3;

const CF_ALERTS: &str = "alerts";
const CF_IDX_SID: &str = "idx_sid";
const CF_IDX_SRC: &str = "idx_src";
const CF_IDX_DST: &str = "idx_dst";
const CF_FLOWS: &str = "flows";
const CF_RULES: &str = "rules";
const CF_AUDIT: &str = "audit";
const CF_META: &str = "meta";
const CF_INCIDENTS: &str = "incidents";
const CF_INTEL: &str = "intel";
const CF_REPORTS: &str = "reports";
const CF_HUNT: &str = "hunt";
const CF_IDX_HUNT: &str = "idx_hunt";
const ALL_CFS: [&str; 13] = [
    CF_ALERTS,
    CF_IDX_SID,
    CF_IDX_SRC,
    CF_IDX_DST,
    CF_FLOWS,
    CF_RULES,
    CF_AUDIT,
    CF_META,
    CF_INCIDENTS,
    CF_INTEL,
    CF_REPORTS,
    CF_HUNT,
    CF_IDX_HUNT,
];

const META_FORMAT: &[u8] = b"format_version";
const META_NEXT_ALERT: &[u8] = b"next_alert_id";
const META_NEXT_FLOW: &[u8] = b"next_flow_id";
const META_GENERATION: &[u8] = b"generation";

/// Index entries examined per query before it returns a partial page with a token to
/// continue; bounds the work one request can cause.
pub const SCAN_BUDGET: usize = 200_000;

/// Alerts deleted per retention batch (with the postings they end).
const RETENTION_CHUNK: usize = 16_384;

/// Memtable size of the alert, flow, rule, audit and meta column families.
const WRITE_BUFFER_BYTES: u64 = 64 << 20;
/// WAL size beyond which RocksDB flushes the column families holding the oldest log.
const MAX_TOTAL_WAL_BYTES: u64 = 256 << 20;

/// Free space a restart needs: opening replays the WAL (at most its cap, plus the memtable
/// being written when the cap was crossed) and flushes it to SST files before the old log
/// is deleted, and it preallocates a new WAL (the memtable size and a tenth) and writes a
/// new manifest. The free-space floor is never below this.
pub const FLUSH_HEADROOM_BYTES: u64 =
    MAX_TOTAL_WAL_BYTES + WRITE_BUFFER_BYTES + WAL_PREALLOCATION_BYTES + MANIFEST_BYTES;
/// What RocksDB preallocates for a new WAL file.
const WAL_PREALLOCATION_BYTES: u64 = WRITE_BUFFER_BYTES + WRITE_BUFFER_BYTES / 10;
/// Room kept for a new manifest and the small files written at open.
const MANIFEST_BYTES: u64 = 8 << 20;

/// Bytes of the newest SST files read through (checksums verified) at open.
pub const VERIFY_AT_OPEN_BYTES: u64 = 256 << 20;

/// A write outstanding longer than this makes storage "stalled" in [`Store::health`].
pub const STALL_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Opening options.
#[derive(Clone, Debug, Default)]
pub struct StoreOptions {
    /// fsync each batch (see `StorageConfig::sync_writes`).
    pub sync_writes: bool,
    /// Refuse writes while the volume has less free space than this (raised to
    /// [`FLUSH_HEADROOM_BYTES`]); 0 = no check.
    pub min_free_bytes: u64,
}

/// How often the free-space check really asks the kernel.
const FREE_SPACE_CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Counters of the storage layer.
#[derive(Debug, Default)]
pub struct StoreCounters {
    pub alerts_stored: AtomicU64,
    pub flows_stored: AtomicU64,
    pub write_errors: AtomicU64,
    pub retention_alerts_deleted: AtomicU64,
    pub retention_runs: AtomicU64,
    /// Corrupt blocks found by reads and verifications.
    pub corruption_errors: AtomicU64,
}

/// Why storage is not doing its job, as last seen.
#[derive(Debug, Default)]
struct Faults {
    /// Damage found at open or by a verification: (when, reason naming the file).
    corruption: Option<(u64, String)>,
    /// The last write refused for lack of space: (since, reason). Cleared by a stored write.
    refused: Option<(u64, String)>,
}

/// An alert key: packet time then id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlertKey {
    pub ts_nanos: u64,
    pub id: u64,
}

impl AlertKey {
    fn to_u128(self) -> u128 {
        (u128::from(self.ts_nanos) << 64) | u128::from(self.id)
    }
    fn from_u128(v: u128) -> Self {
        AlertKey {
            ts_nanos: (v >> 64) as u64,
            id: v as u64,
        }
    }
    /// The 16 key bytes.
    pub fn bytes(self) -> [u8; 16] {
        self.to_u128().to_be_bytes()
    }
    fn parse(b: &[u8]) -> Option<Self> {
        let a: [u8; 16] = b.try_into().ok()?;
        Some(Self::from_u128(u128::from_be_bytes(a)))
    }
}

/// The open database.
pub struct Store {
    db: DB,
    path: PathBuf,
    write_opts: rocksdb::WriteOptions,
    next_alert_id: Mutex<u64>,
    next_flow_id: Mutex<u64>,
    next_hunt_id: Mutex<u64>,
    audit_seq: AtomicU64,
    min_free_bytes: u64,
    /// (last check, bytes free then).
    free_space: Mutex<Option<(std::time::Instant, u64)>>,
    /// First write failure; once set, every write is refused.
    failed: std::sync::OnceLock<String>,
    failed_since: Since,
    /// Set when the database could only be opened read-only: why, and what to do.
    read_only: Option<String>,
    opened_nanos: u64,
    faults: Mutex<Faults>,
    /// Start (ns since the epoch) of the write in progress, 0 when none.
    write_started: AtomicU64,
    /// Writers hold it shared; [`Store::pause_writes`] exclusively.
    write_gate: RwLock<()>,
    pub counters: StoreCounters,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn ip16(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn be_u64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

/// Adds the postings of `entries` (sorted by prefix, then alert key) to `batch`.
fn put_postings<const N: usize>(
    batch: &mut WriteBatch,
    cf: &ColumnFamily,
    entries: &[([u8; N], u128)],
    keys: &mut Vec<u128>,
    value: &mut Vec<u8>,
) {
    let mut ik = Vec::with_capacity(N + 16);
    posting::group(entries, keys, |prefix, keys| {
        let Some(&max) = keys.last() else { return };
        ik.clear();
        ik.extend_from_slice(&prefix);
        ik.extend_from_slice(&max.to_be_bytes());
        value.clear();
        posting::encode(keys, value);
        batch.put_cf(cf, &ik, &value);
    });
}

/// True for RocksDB's ENOSPC ("IO error: No space left on device").
fn is_no_space(e: &rocksdb::Error) -> bool {
    let s = e.to_string();
    s.contains("No space left") || s.contains("NoSpace")
}

/// Bytes free for unprivileged use on the volume of `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    rustix::fs::statvfs(path)
        .ok()
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
}

/// Free space a (writable) open of the database at `path` needs: flushing its WAL files,
/// a new preallocated WAL (the memtable size and a tenth) and a new manifest.
fn open_needs(path: &Path) -> u64 {
    let wal: u64 = std::fs::read_dir(path)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    wal + WAL_PREALLOCATION_BYTES + MANIFEST_BYTES
}

/// The number of an SST file (`/000123.sst` → 123), 0 when the name has none.
fn sst_number(name: &str) -> u64 {
    name.trim_start_matches('/')
        .trim_end_matches(".sst")
        .parse()
        .unwrap_or(0)
}

fn opened_err(path: &Path, e: rocksdb::Error) -> Error {
    let e = Error::from(e);
    let hint = match e.kind {
        Kind::Corrupt => " (the database is damaged: restore it or move the directory aside)",
        _ => "",
    };
    Error::new(
        e.kind,
        format!("opening database {}: {}{hint}", path.display(), e.context),
    )
}

impl Store {
    /// Opens (or creates) the database at `path`. Refuses a directory that holds another
    /// format version or a damaged database, with an error that names the path.
    pub fn open(path: &Path, options: &StoreOptions) -> Result<Store> {
        if path.exists() && !path.is_dir() {
            return Err(Error::new(
                Kind::Corrupt,
                format!("opening database {}: not a directory", path.display()),
            ));
        }
        let mut opts = Options::default();
        // Verify what RocksDB reads at open (manifest, file sizes) and fail loudly on damage.
        opts.set_paranoid_checks(true);
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        // One writer at a time (appends hold the id lock): plain, not CAS, skiplist inserts.
        opts.set_allow_concurrent_memtable_write(false);
        opts.set_bytes_per_sync(1 << 20);
        // Never let RocksDB keep unbounded WAL around while one CF (audit) is idle.
        opts.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
        let mut cf_opts = Options::default();
        cf_opts.set_write_buffer_size(WRITE_BUFFER_BYTES as usize);
        // Flushes and the first compactions write uncompressed: on a machine whose cores the
        // workers own, background CPU is what keeps ingest fed; older levels, which hold most
        // of the data, use LZ4.
        cf_opts.set_compression_per_level(&[
            DBCompressionType::None,
            DBCompressionType::None,
            DBCompressionType::Lz4,
            DBCompressionType::Lz4,
            DBCompressionType::Lz4,
            DBCompressionType::Lz4,
            DBCompressionType::Lz4,
        ]);
        // Keep accepting writes while a full memtable is being flushed.
        cf_opts.set_max_write_buffer_number(4);
        let mut names: Vec<String> = ALL_CFS.iter().map(|s| s.to_string()).collect();
        // The CFs the database has: a read-only open can create none (a database from an
        // older version lacks the newer ones, whose reads then fail with a clear error).
        let mut existing = Vec::new();
        if path.join("CURRENT").exists() {
            // Open every CF the database has, or RocksDB refuses to open it.
            existing = DB::list_cf(&opts, path).map_err(|e| opened_err(path, e))?;
            for n in existing.clone() {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        } else if path.is_dir()
            && std::fs::read_dir(path)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false)
        {
            // Files but no CURRENT: not a database we created (or its CURRENT was lost).
            let looks_like_db = std::fs::read_dir(path)
                .map(|d| {
                    d.flatten().any(|e| {
                        let n = e.file_name();
                        let n = n.to_string_lossy();
                        n.starts_with("MANIFEST") || n.ends_with(".sst") || n.ends_with(".log")
                    })
                })
                .unwrap_or(false);
            if looks_like_db {
                return Err(Error::new(
                    Kind::Corrupt,
                    format!(
                        "opening database {}: CURRENT file missing (the database is damaged: restore it or move the directory aside)",
                        path.display()
                    ),
                ));
            }
        }
        // Index entries land all over their key space (one run per sid or address in a
        // batch), so each insert searches the memtable's skiplist; a smaller memtable keeps
        // that search in cache (16 MiB measured 17% less write-path CPU than 64 MiB). More
        // buffers absorb the more frequent flushes.
        let mut idx_opts = cf_opts.clone();
        idx_opts.set_write_buffer_size(16 << 20);
        idx_opts.set_max_write_buffer_number(6);
        // `only_existing`: for a read-only open, which can create none.
        let existing = &existing;
        let descriptors = |only_existing: bool| {
            names
                .iter()
                .filter(move |n| !only_existing || existing.contains(n))
                .map(|n| {
                    let o = if n.starts_with("idx_") {
                        idx_opts.clone()
                    } else {
                        cf_opts.clone()
                    };
                    ColumnFamilyDescriptor::new(n, o)
                })
        };
        // Opening flushes what the WAL holds and preallocates a new WAL; with no room for
        // that, serve what is stored read-only rather than not start at all. RocksDB is not
        // asked to try: after a failed write in an open it may abort the process.
        let need = open_needs(path);
        let free = free_bytes(path).unwrap_or(u64::MAX);
        let read_only_reason = |why: String| {
            format!(
                "storage volume of {} is full ({free} bytes free; {why}): opened read-only, \
                 new alerts and flows are not stored. Free space on that volume (or set \
                 storage.path to a larger one) and restart",
                path.display()
            )
        };
        let (db, read_only) = if path.join("CURRENT").exists() && free < need {
            let reason = read_only_reason(format!(
                "opening needs about {need} to flush the write-ahead log"
            ));
            tracing::error!("{reason}");
            let db = DB::open_cf_descriptors_read_only(&opts, path, descriptors(true), false)
                .map_err(|e| opened_err(path, e))?;
            (db, Some(reason))
        } else {
            match DB::open_cf_descriptors(&opts, path, descriptors(false)) {
                Ok(db) => (db, None),
                Err(e) if is_no_space(&e) => {
                    let reason = read_only_reason(e.to_string());
                    tracing::error!("{reason}");
                    let db =
                        DB::open_cf_descriptors_read_only(&opts, path, descriptors(true), false)
                            .map_err(|e| opened_err(path, e))?;
                    (db, Some(reason))
                }
                Err(e) => return Err(opened_err(path, e)),
            }
        };
        let mut write_opts = rocksdb::WriteOptions::default();
        write_opts.set_sync(options.sync_writes);
        write_opts.disable_wal(false);
        let mut store = Store {
            db,
            path: path.to_owned(),
            write_opts,
            next_alert_id: Mutex::new(1),
            next_flow_id: Mutex::new(1),
            next_hunt_id: Mutex::new(1),
            audit_seq: AtomicU64::new(0),
            min_free_bytes: if options.min_free_bytes == 0 {
                0
            } else {
                options.min_free_bytes.max(FLUSH_HEADROOM_BYTES)
            },
            free_space: Mutex::new(None),
            failed: std::sync::OnceLock::new(),
            failed_since: Since::default(),
            read_only,
            opened_nanos: now_nanos(),
            faults: Mutex::new(Faults::default()),
            write_started: AtomicU64::new(0),
            write_gate: RwLock::new(()),
            counters: StoreCounters::default(),
        };
        store.check_format()?;
        let next_alert = store.meta_u64(META_NEXT_ALERT)?.unwrap_or(1);
        let next_flow = store.meta_u64(META_NEXT_FLOW)?.unwrap_or(1);
        store.next_alert_id = Mutex::new(next_alert);
        store.next_flow_id = Mutex::new(next_flow);
        store.next_hunt_id = Mutex::new(store.load_next_hunt_id()?);
        let seq = store.last_audit_seq()?;
        store.audit_seq = AtomicU64::new(seq);
        if let Err(e) = store.verify_newest(VERIFY_AT_OPEN_BYTES) {
            tracing::error!(error = %e, "storage verification at open found damage");
        }
        Ok(store)
    }

    /// Reads the newest SST files (by file number) through, up to `budget` bytes of them,
    /// with checksums verified; returns how many files were read. Damage found makes
    /// [`Store::health`] degraded with the file's name, and is returned as a
    /// [`Kind::Corrupt`] error.
    pub fn verify_newest(&self, budget: u64) -> Result<usize> {
        let mut files = self.db.live_files()?;
        files.sort_by_key(|f| std::cmp::Reverse(sst_number(&f.name)));
        let mut spent = 0u64;
        let mut read = 0;
        for f in files {
            if spent >= budget {
                break;
            }
            spent = spent.saturating_add(f.size as u64);
            let (Some(start), Some(end)) = (f.start_key.clone(), f.end_key.clone()) else {
                continue;
            };
            let cf = self.cf(&f.column_family_name)?;
            let mut ro = ReadOptions::default();
            ro.set_verify_checksums(true);
            ro.fill_cache(false);
            ro.set_iterate_lower_bound(start.clone());
            let mut upper = end;
            upper.push(0);
            ro.set_iterate_upper_bound(upper);
            let mut it = self.db.raw_iterator_cf_opt(cf, ro);
            it.seek(&start);
            while it.valid() {
                it.next();
            }
            read += 1;
            if let Err(e) = it.status() {
                let file = f.name.trim_start_matches('/').to_owned();
                self.counters
                    .corruption_errors
                    .fetch_add(1, Ordering::Relaxed);
                let reason = format!(
                    "corruption in {file} (column family {}, level {}) of {}: {}; records in \
                     it cannot be read and a compaction touching it stops every write: \
                     restore the database from a backup or move the directory aside",
                    f.column_family_name,
                    f.level,
                    self.path.display(),
                    e.into_string()
                );
                let mut g = self.faults.lock().unwrap_or_else(|p| p.into_inner());
                g.corruption = Some((now_nanos(), reason.clone()));
                return Err(Error::new(Kind::Corrupt, reason));
            }
        }
        Ok(read)
    }

    /// Storage health: degraded while the database is read-only, damaged, in a RocksDB
    /// background error, refusing writes (full volume, an earlier failure) or stalled in a
    /// write; the reason says what to do.
    pub fn health(&self) -> ComponentHealth {
        const C: &str = "storage";
        if let Some(r) = &self.read_only {
            return ComponentHealth::degraded(C, r.clone(), self.opened_nanos);
        }
        let faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((t, r)) = &faults.corruption {
            return ComponentHealth::degraded(C, r.clone(), *t);
        }
        let bg = self
            .db
            .property_int_value("rocksdb.background-errors")
            .ok()
            .flatten()
            .unwrap_or(0);
        if bg > 0 {
            let t = self.failed_since.mark();
            let first = self
                .failed
                .get()
                .map_or(String::new(), |f| format!(": {f}"));
            return ComponentHealth::degraded(
                C,
                format!(
                    "{bg} RocksDB background error(s) (a flush or compaction failed; writes \
                     are stopped){first}. Check the volume of {} (space, I/O errors), then \
                     restart",
                    self.path.display()
                ),
                t,
            );
        }
        if let Some(first) = self.failed.get() {
            return ComponentHealth::degraded(
                C,
                format!("writes stopped after a storage failure ({first}); free space and restart"),
                self.failed_since.get(),
            );
        }
        if let Some((t, r)) = &faults.refused {
            return ComponentHealth::degraded(C, r.clone(), *t);
        }
        let started = self.write_started.load(Ordering::Relaxed);
        let now = now_nanos();
        if started != 0 && now.saturating_sub(started) >= STALL_AFTER.as_nanos() as u64 {
            return ComponentHealth::degraded(
                C,
                format!(
                    "a write has been waiting for {:.1} s (storage stalled); alerts are held \
                     back and dropped at the workers once their rings are full",
                    (now - started) as f64 / 1e9
                ),
                started,
            );
        }
        ComponentHealth::ok(C)
    }

    /// Compacts every column family now (RocksDB's manual compaction; errors it meets become
    /// background errors, reported by [`Store::health`]). For maintenance and fault tests.
    #[doc(hidden)]
    pub fn compact_all(&self) {
        for name in ALL_CFS {
            if let Ok(cf) = self.cf(name) {
                self.db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
            }
        }
    }

    /// True when the database was opened read-only (no room to flush at open).
    pub fn is_read_only(&self) -> bool {
        self.read_only.is_some()
    }

    /// Blocks every write until the guard is dropped (writes wait, they are not refused).
    /// For fault tests of what a storage stall does upstream.
    #[doc(hidden)]
    pub fn pause_writes(&self) -> std::sync::RwLockWriteGuard<'_, ()> {
        self.write_gate.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Directory of the database.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cf(&self, name: &str) -> Result<&ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| Error::new(Kind::Corrupt, format!("column family {name} missing")))
    }

    fn check_format(&self) -> Result<()> {
        let meta = self.cf(CF_META)?;
        match self.db.get_cf(meta, META_FORMAT)? {
            Some(v) => {
                let got = <[u8; 4]>::try_from(v.as_slice())
                    .map(u32::from_be_bytes)
                    .map_err(|_| {
                        Error::new(
                            Kind::Corrupt,
                            format!(
                                "database {}: format_version is {} bytes, expected 4",
                                self.path.display(),
                                v.len()
                            ),
                        )
                    })?;
                if got != FORMAT_VERSION {
                    // No in-place upgrade: rewriting every index of a large store at start-up
                    // would hold the sensor down for minutes; say what to do instead.
                    let what = if got < FORMAT_VERSION {
                        "written by an older build (version 3 changed the alert indices to \
                         batch postings); there is no in-place upgrade: move the directory \
                         aside (or set storage.path to a new one) to start a new store, and \
                         read the old one with the build that wrote it"
                    } else {
                        "written by a newer build; use that build or a new storage.path"
                    };
                    return Err(Error::new(
                        Kind::Corrupt,
                        format!(
                            "database {} has format version {got}; this build reads version \
                             {FORMAT_VERSION}: {what}",
                            self.path.display()
                        ),
                    ));
                }
                Ok(())
            }
            None => {
                // A database without a version must be empty, else it is not ours.
                let mut it = self.db.raw_iterator_cf(self.cf(CF_ALERTS)?);
                it.seek_to_first();
                if it.valid() {
                    return Err(Error::new(
                        Kind::Corrupt,
                        format!(
                            "database {} holds alerts but no format version",
                            self.path.display()
                        ),
                    ));
                }
                self.db.put_cf_opt(
                    meta,
                    META_FORMAT,
                    FORMAT_VERSION.to_be_bytes(),
                    &self.write_opts,
                )?;
                Ok(())
            }
        }
    }

    /// Refuses a write when an earlier one failed or the volume is nearly full.
    fn writable(&self) -> Result<()> {
        if let Some(r) = &self.read_only {
            return Err(Error::new(Kind::Storage, r.clone()));
        }
        if let Some(first) = self.failed.get() {
            return Err(Error::new(
                Kind::Storage,
                format!("writes stopped after a storage failure ({first}); free space and restart"),
            ));
        }
        if self.min_free_bytes == 0 {
            return Ok(());
        }
        let mut g = self.free_space.lock().unwrap_or_else(|p| p.into_inner());
        let stale = g.is_none_or(|(t, _)| t.elapsed() >= FREE_SPACE_CHECK_EVERY);
        if stale {
            let free = rustix::fs::statvfs(&self.path)
                .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
                .map_err(|e| {
                    Error::new(
                        Kind::Storage,
                        format!("checking free space on {}: {e}", self.path.display()),
                    )
                })?;
            *g = Some((std::time::Instant::now(), free));
        }
        let free = g.map_or(u64::MAX, |(_, f)| f);
        drop(g);
        if free < self.min_free_bytes {
            let reason = format!(
                "only {free} bytes free on the volume of {} (floor {} bytes: \
                 storage.min_free_bytes, at least the room a restart needs to flush); writes \
                 refused: free space or shorten retention",
                self.path.display(),
                self.min_free_bytes
            );
            let mut f = self.faults.lock().unwrap_or_else(|p| p.into_inner());
            let since = f.refused.as_ref().map_or_else(now_nanos, |(t, _)| *t);
            f.refused = Some((since, reason.clone()));
            return Err(Error::new(Kind::Storage, reason));
        }
        Ok(())
    }

    /// Writes a batch, latching the first I/O failure (see the module doc).
    fn write(&self, batch: WriteBatch, what: &str) -> Result<()> {
        if let Err(e) = self.writable() {
            self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
            return Err(e.context(what));
        }
        self.write_deletes(batch, what)
    }

    /// Like [`Store::write`] but without the free-space reserve: retention deletes are how
    /// space comes back, so they must run on a nearly full volume.
    fn write_deletes(&self, batch: WriteBatch, what: &str) -> Result<()> {
        if let Some(r) = &self.read_only {
            return Err(Error::new(Kind::Storage, r.clone()).context(what));
        }
        if let Some(first) = self.failed.get() {
            return Err(Error::new(
                Kind::Storage,
                format!("writes stopped after a storage failure ({first})"),
            )
            .context(what));
        }
        // Started when it begins to wait: a write held up anywhere counts as stalled.
        self.write_started
            .store(now_nanos().max(1), Ordering::Relaxed);
        let _gate = self.write_gate.read().unwrap_or_else(|p| p.into_inner());
        let r = self.db.write_opt(batch, &self.write_opts);
        self.write_started.store(0, Ordering::Relaxed);
        match r {
            Ok(()) => {
                let mut f = self.faults.lock().unwrap_or_else(|p| p.into_inner());
                f.refused = None;
                Ok(())
            }
            Err(e) => {
                self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
                let e = Error::from(e);
                if e.kind == Kind::Corrupt {
                    self.counters
                        .corruption_errors
                        .fetch_add(1, Ordering::Relaxed);
                }
                if self.failed.set(e.context.clone()).is_ok() {
                    self.failed_since.mark();
                    tracing::error!(error = %e, "storage write failed; writes stop until restart");
                }
                Err(e.context(what))
            }
        }
    }

    fn meta_u64(&self, key: &[u8]) -> Result<Option<u64>> {
        match self.db.get_cf(self.cf(CF_META)?, key)? {
            None => Ok(None),
            Some(v) => be_u64(&v).map(Some).ok_or_else(|| {
                Error::new(
                    Kind::Corrupt,
                    format!("meta {} is not a u64", String::from_utf8_lossy(key)),
                )
            }),
        }
    }

    /// Assigns ids to `alerts` and writes them with their index entries in one batch.
    /// On success every alert is durable (see the module doc); on error none is stored
    /// and the ids are not consumed.
    pub fn append_alerts(&self, alerts: &mut [Alert]) -> Result<()> {
        if alerts.is_empty() {
            return Ok(());
        }
        let (cf_a, cf_sid, cf_src, cf_dst, cf_meta) = (
            self.cf(CF_ALERTS)?,
            self.cf(CF_IDX_SID)?,
            self.cf(CF_IDX_SRC)?,
            self.cf(CF_IDX_DST)?,
            self.cf(CF_META)?,
        );
        // Poisoning only follows a panic elsewhere; the counter is still consistent.
        let mut next = self.next_alert_id.lock().unwrap_or_else(|p| p.into_inner());
        // One batch for the whole slice: a single WAL append and memtable insert round.
        let mut batch = WriteBatch::default();
        let mut buf = Vec::with_capacity(512);
        let mut id = *next;
        let mut by_sid: Vec<([u8; 4], u128)> = Vec::with_capacity(alerts.len());
        let mut by_src: Vec<([u8; 16], u128)> = Vec::with_capacity(alerts.len());
        let mut by_dst: Vec<([u8; 16], u128)> = Vec::with_capacity(alerts.len());
        for a in alerts.iter_mut() {
            a.id = id;
            id += 1;
            let key = AlertKey {
                ts_nanos: a.ts_nanos,
                id: a.id,
            };
            buf.clear();
            record::encode(a, &mut buf);
            batch.put_cf(cf_a, key.bytes(), &buf);
            let k = key.to_u128();
            by_sid.push((a.sid.to_be_bytes(), k));
            by_src.push((ip16(a.src_ip), k));
            by_dst.push((ip16(a.dst_ip), k));
        }
        // One posting per prefix and time bucket, written in key order: the memtable's
        // skiplist then inserts each next to the previous (its splice is reused).
        by_sid.sort_unstable();
        by_src.sort_unstable();
        by_dst.sort_unstable();
        let mut keys = Vec::new();
        put_postings(&mut batch, cf_sid, &by_sid, &mut keys, &mut buf);
        put_postings(&mut batch, cf_src, &by_src, &mut keys, &mut buf);
        put_postings(&mut batch, cf_dst, &by_dst, &mut keys, &mut buf);
        batch.put_cf(cf_meta, META_NEXT_ALERT, id.to_be_bytes());
        match self.write(batch, "storing alerts") {
            Ok(()) => {
                *next = id;
                self.counters
                    .alerts_stored
                    .fetch_add(alerts.len() as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                for a in alerts.iter_mut() {
                    a.id = 0;
                }
                Err(e)
            }
        }
    }

    /// Writes flow records in one batch.
    pub fn append_flows(&self, flows: &[FlowRecord]) -> Result<()> {
        if flows.is_empty() {
            return Ok(());
        }
        let cf = self.cf(CF_FLOWS)?;
        let cf_meta = self.cf(CF_META)?;
        let mut next = self.next_flow_id.lock().unwrap_or_else(|p| p.into_inner());
        let mut id = *next;
        let mut batch = WriteBatch::default();
        let mut buf = Vec::with_capacity(256);
        for f in flows {
            let key = AlertKey {
                ts_nanos: f.end_nanos,
                id,
            };
            id += 1;
            buf.clear();
            proto::Flow::from(f)
                .encode(&mut buf)
                .map_err(|e| Error::internal(format!("encoding flow: {e}")))?;
            batch.put_cf(cf, key.bytes(), &buf);
        }
        batch.put_cf(cf_meta, META_NEXT_FLOW, id.to_be_bytes());
        self.write(batch, "storing flows")?;
        *next = id;
        self.counters
            .flows_stored
            .fetch_add(flows.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Reads one alert by key.
    pub fn get_alert(&self, key: AlertKey) -> Result<Option<Alert>> {
        match self.db.get_cf(self.cf(CF_ALERTS)?, key.bytes())? {
            None => Ok(None),
            Some(v) => decode_alert(&v).map(Some),
        }
    }

    /// Estimated number of stored alerts (RocksDB's estimate; exact after compaction).
    pub fn alerts_estimate(&self) -> u64 {
        self.cf(CF_ALERTS)
            .ok()
            .and_then(|cf| {
                self.db
                    .property_int_value_cf(cf, "rocksdb.estimate-num-keys")
                    .ok()
                    .flatten()
            })
            .unwrap_or(0)
    }

    /// Bytes on disk plus in memtables over all column families.
    pub fn size_bytes(&self) -> u64 {
        let mut total = 0u64;
        for name in ALL_CFS {
            if let Ok(cf) = self.cf(name) {
                for prop in [
                    "rocksdb.total-sst-files-size",
                    "rocksdb.cur-size-all-mem-tables",
                ] {
                    total = total.saturating_add(
                        self.db
                            .property_int_value_cf(cf, prop)
                            .ok()
                            .flatten()
                            .unwrap_or(0),
                    );
                }
            }
        }
        total
    }

    /// Flushes memtables to SST files (used before a clean shutdown and by benches).
    pub fn flush(&self) -> Result<()> {
        for name in ALL_CFS {
            self.db.flush_cf(self.cf(name)?)?;
        }
        Ok(())
    }
}

/// How often [`watch_health`] looks at storage health (a property read and a lock).
pub const HEALTH_POLL: std::time::Duration = std::time::Duration::from_secs(5);
/// How often [`watch_health`] verifies the newest files again.
pub const VERIFY_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Watches `store` on a thread of its own until the store is dropped: logs each change of
/// its health (so a background error or corruption is in the log when it happens, not only
/// when someone asks) and reads the newest files through again every [`VERIFY_EVERY`]. Holds
/// the store only while looking.
pub fn watch_health(store: &std::sync::Arc<Store>) -> std::io::Result<()> {
    let weak = std::sync::Arc::downgrade(store);
    std::thread::Builder::new()
        .name("osprey-store-health".into())
        .spawn(move || {
            let mut last = String::new();
            let mut verified = std::time::Instant::now();
            loop {
                std::thread::sleep(HEALTH_POLL);
                let Some(store) = weak.upgrade() else { return };
                if verified.elapsed() >= VERIFY_EVERY {
                    verified = std::time::Instant::now();
                    if let Err(e) = store.verify_newest(VERIFY_AT_OPEN_BYTES) {
                        tracing::error!(error = %e, "storage verification found damage");
                    }
                }
                let h = store.health();
                if h.reason != last {
                    match h.state {
                        crate::health::State::Ok => tracing::info!("storage healthy again"),
                        crate::health::State::Degraded => {
                            tracing::error!(reason = %h.reason, "storage degraded")
                        }
                    }
                    last = h.reason;
                }
            }
        })?;
    Ok(())
}

fn decode_alert(v: &[u8]) -> Result<Alert> {
    record::decode(v).map_err(|e| Error::new(Kind::Corrupt, e.to_string()))
}

#[cfg(test)]
mod tests;
