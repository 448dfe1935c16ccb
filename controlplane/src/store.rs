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
//! | `alerts`  | `akey` = `ts_nanos:u64 ‖ alert_id:u64` | [`crate::record`] (fixed little-endian layout) |
//! | `idx_sid` | `sid:u32 ‖ max_akey` | posting: the batch's other akeys of that sid ([`crate::posting`]) |
//! | `idx_src` | `ip16 ‖ max_akey` | posting, by source address |
//! | `idx_dst` | `ip16 ‖ max_akey` | posting, by destination address |
//! | `flows`   | `end_nanos:u64 ‖ record_id:u64` | protobuf `osprey.v1.Flow` |
//! | `rules`   | `'r' ‖ gid:u32 ‖ sid:u32` | JSON [`StoredRule`] |
//! | `rules`   | `'h' ‖ generation:u64` | JSON [`ReloadRecord`] |
//! | `audit`   | `time_nanos:u64 ‖ seq:u64` | JSON [`AuditRecord`] |
//! | `meta`    | `format_version` | `u32` (= [`FORMAT_VERSION`]) |
//! | `meta`    | `next_alert_id`, `next_flow_id`, `generation` | `u64` |
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
//! Writes are refused with [`Kind::Storage`] while the volume has less than
//! `min_free_bytes` free, so RocksDB itself never hits ENOSPC in a write. If a write fails
//! anyway (another process filled the disk), all further writes are refused until restart:
//! RocksDB's WAL writer is in an error state then, and writing to it again is undefined (a
//! library built with assertions aborts).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use prost::Message;
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, DBRawIterator, Options, WriteBatch, DB,
};

use crate::error::{Error, Kind, Result};
use crate::model::{Alert, AuditRecord, FlowRecord, ReloadRecord, StoredRule};
use crate::{posting, proto, record};

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
const ALL_CFS: [&str; 8] = [
    CF_ALERTS, CF_IDX_SID, CF_IDX_SRC, CF_IDX_DST, CF_FLOWS, CF_RULES, CF_AUDIT, CF_META,
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

/// Opening options.
#[derive(Clone, Debug, Default)]
pub struct StoreOptions {
    /// fsync each batch (see `StorageConfig::sync_writes`).
    pub sync_writes: bool,
    /// Refuse writes while the volume has less free space than this; 0 = no check.
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

/// Which end of the range a query starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// Alert query. Times are packet times in nanoseconds, `end_ns` exclusive; 0 = unbounded.
#[derive(Clone, Debug, Default)]
pub struct AlertFilter {
    pub start_ns: u64,
    pub end_ns: u64,
    pub sid: Option<u32>,
    /// Matches source or destination.
    pub address: Option<IpAddr>,
    pub order: Order,
    /// Continue after this key (from [`Page::next`]).
    pub after: Option<AlertKey>,
    pub limit: usize,
}

/// Flow query.
#[derive(Clone, Debug, Default)]
pub struct FlowFilter {
    pub start_ns: u64,
    pub end_ns: u64,
    pub address: Option<IpAddr>,
    pub app_proto: Option<String>,
    pub order: Order,
    pub after: Option<AlertKey>,
    pub limit: usize,
}

/// One page of results and where to continue, if anywhere.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<AlertKey>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Page {
            items: Vec::new(),
            next: None,
        }
    }
}

/// Result of one retention pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub alerts_deleted: u64,
    pub flows_deleted_before_ns: u64,
    pub size_bytes: u64,
}

/// The open database.
pub struct Store {
    db: DB,
    path: PathBuf,
    write_opts: rocksdb::WriteOptions,
    next_alert_id: Mutex<u64>,
    next_flow_id: Mutex<u64>,
    audit_seq: AtomicU64,
    min_free_bytes: u64,
    /// (last check, bytes free then).
    free_space: Mutex<Option<(std::time::Instant, u64)>>,
    /// First write failure; once set, every write is refused.
    failed: std::sync::OnceLock<String>,
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

fn rule_key(gid: u32, sid: u32) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'r';
    k[1..5].copy_from_slice(&gid.to_be_bytes());
    k[5..9].copy_from_slice(&sid.to_be_bytes());
    k
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
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        // One writer at a time (appends hold the id lock): plain, not CAS, skiplist inserts.
        opts.set_allow_concurrent_memtable_write(false);
        opts.set_bytes_per_sync(1 << 20);
        // Never let RocksDB keep unbounded WAL around while one CF (audit) is idle.
        opts.set_max_total_wal_size(256 << 20);
        let mut cf_opts = Options::default();
        cf_opts.set_write_buffer_size(64 << 20);
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
        if path.join("CURRENT").exists() {
            // Open every CF the database has, or RocksDB refuses to open it.
            let existing = DB::list_cf(&opts, path).map_err(|e| opened_err(path, e))?;
            for n in existing {
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
        let cfs = names.iter().map(|n| {
            let o = if n.starts_with("idx_") {
                idx_opts.clone()
            } else {
                cf_opts.clone()
            };
            ColumnFamilyDescriptor::new(n, o)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| opened_err(path, e))?;
        let mut write_opts = rocksdb::WriteOptions::default();
        write_opts.set_sync(options.sync_writes);
        write_opts.disable_wal(false);
        let mut store = Store {
            db,
            path: path.to_owned(),
            write_opts,
            next_alert_id: Mutex::new(1),
            next_flow_id: Mutex::new(1),
            audit_seq: AtomicU64::new(0),
            min_free_bytes: options.min_free_bytes,
            free_space: Mutex::new(None),
            failed: std::sync::OnceLock::new(),
            counters: StoreCounters::default(),
        };
        store.check_format()?;
        let next_alert = store.meta_u64(META_NEXT_ALERT)?.unwrap_or(1);
        let next_flow = store.meta_u64(META_NEXT_FLOW)?.unwrap_or(1);
        store.next_alert_id = Mutex::new(next_alert);
        store.next_flow_id = Mutex::new(next_flow);
        let seq = store.last_audit_seq()?;
        store.audit_seq = AtomicU64::new(seq);
        Ok(store)
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
        if free < self.min_free_bytes {
            return Err(Error::new(
                Kind::Storage,
                format!(
                    "only {free} bytes free on the volume of {} (storage.min_free_bytes = {}); writes refused",
                    self.path.display(),
                    self.min_free_bytes
                ),
            ));
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
        if let Some(first) = self.failed.get() {
            return Err(Error::new(
                Kind::Storage,
                format!("writes stopped after a storage failure ({first})"),
            )
            .context(what));
        }
        self.db.write_opt(batch, &self.write_opts).map_err(|e| {
            self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
            let e = Error::from(e);
            let _ = self.failed.set(e.context.clone());
            e.context(what)
        })
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

    fn last_audit_seq(&self) -> Result<u64> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_AUDIT)?);
        it.seek_to_last();
        Ok(it
            .key()
            .and_then(|k| k.get(8..16))
            .and_then(be_u64)
            .unwrap_or(0))
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

    /// Pages through alerts. Uses the sid index when a sid is given, else the address
    /// indices, else the alerts themselves; further filters are checked on the record.
    pub fn query_alerts(&self, f: &AlertFilter) -> Result<Page<Alert>> {
        let limit = f.limit.max(1);
        let (lo, hi) = bounds(f.start_ns, f.end_ns, f.after, f.order);
        let mut page = Page::default();
        if lo >= hi {
            return Ok(page);
        }
        // Plain time range: the values come with the keys.
        if f.sid.is_none() && f.address.is_none() {
            let mut src =
                KeySource::new(&self.db, self.cf(CF_ALERTS)?, Vec::new(), lo, hi, f.order);
            while let Some(key) = src.peek() {
                if page.items.len() == limit {
                    page.next = page.items.last().map(|a: &Alert| AlertKey {
                        ts_nanos: a.ts_nanos,
                        id: a.id,
                    });
                    break;
                }
                if let Some(v) = src.value() {
                    page.items.push(decode_alert(v)?);
                }
                let _ = key;
                src.advance();
            }
            src.status()?;
            return Ok(page);
        }
        let mut sources = Vec::with_capacity(2);
        if let Some(sid) = f.sid {
            sources.push(PostingSource::new(
                &self.db,
                self.cf(CF_IDX_SID)?,
                sid.to_be_bytes().to_vec(),
                lo,
                hi,
                f.order,
            ));
        } else if let Some(ip) = f.address {
            for cf in [CF_IDX_SRC, CF_IDX_DST] {
                sources.push(PostingSource::new(
                    &self.db,
                    self.cf(cf)?,
                    ip16(ip).to_vec(),
                    lo,
                    hi,
                    f.order,
                ));
            }
        }
        let cf_a = self.cf(CF_ALERTS)?;
        let mut scanned = 0usize;
        let mut pending: Vec<AlertKey> = Vec::with_capacity(limit);
        let mut last_examined: Option<AlertKey> = None;
        let mut exhausted = true;
        loop {
            // The next key over all sources, in order; equal heads (src == dst) collapse.
            let next = sources
                .iter_mut()
                .filter_map(|s| s.peek())
                .reduce(|a, b| match f.order {
                    Order::NewestFirst => a.max(b),
                    Order::OldestFirst => a.min(b),
                });
            let Some(key) = next else { break };
            if page.items.len() + pending.len() >= limit || scanned >= SCAN_BUDGET {
                exhausted = false;
                break;
            }
            for s in sources.iter_mut() {
                if s.peek() == Some(key) {
                    s.advance();
                }
            }
            scanned += 1;
            let key = AlertKey::from_u128(key);
            last_examined = Some(key);
            pending.push(key);
            // Fetch in chunks so multi_get amortises lookups.
            if pending.len() >= 128 || page.items.len() + pending.len() >= limit {
                self.resolve(cf_a, &mut pending, f, &mut page.items)?;
            }
        }
        for s in &sources {
            s.status()?;
        }
        self.resolve(cf_a, &mut pending, f, &mut page.items)?;
        if !exhausted {
            page.next = last_examined;
        }
        Ok(page)
    }

    fn resolve(
        &self,
        cf_a: &ColumnFamily,
        pending: &mut Vec<AlertKey>,
        f: &AlertFilter,
        out: &mut Vec<Alert>,
    ) -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let keys: Vec<[u8; 16]> = pending.iter().map(|k| k.bytes()).collect();
        let values = self.db.multi_get_cf(keys.iter().map(|k| (cf_a, k)));
        for v in values {
            // A missing record is an index entry whose alert retention just removed.
            if let Some(bytes) = v? {
                let a = decode_alert(&bytes)?;
                let sid_ok = f.sid.is_none_or(|s| a.sid == s);
                let addr_ok = f.address.is_none_or(|ip| a.src_ip == ip || a.dst_ip == ip);
                if sid_ok && addr_ok {
                    out.push(a);
                }
            }
        }
        pending.clear();
        Ok(())
    }

    /// Pages through flow records by end time.
    pub fn query_flows(&self, f: &FlowFilter) -> Result<Page<FlowRecord>> {
        let limit = f.limit.max(1);
        let (lo, hi) = bounds(f.start_ns, f.end_ns, f.after, f.order);
        let mut page = Page::default();
        if lo >= hi {
            return Ok(page);
        }
        let mut src = KeySource::new(&self.db, self.cf(CF_FLOWS)?, Vec::new(), lo, hi, f.order);
        let mut scanned = 0usize;
        while let Some(key) = src.peek() {
            if page.items.len() == limit || scanned >= SCAN_BUDGET {
                page.next = Some(AlertKey::from_u128(key).prev_in(f.order));
                break;
            }
            scanned += 1;
            if let Some(v) = src.value() {
                let p = proto::Flow::decode(v)
                    .map_err(|e| Error::new(Kind::Corrupt, format!("flow record: {e}")))?;
                let rec = FlowRecord::from(p);
                let addr_ok = f
                    .address
                    .is_none_or(|ip| rec.src_ip == ip || rec.dst_ip == ip);
                let app_ok = f
                    .app_proto
                    .as_deref()
                    .is_none_or(|a| rec.app_proto.eq_ignore_ascii_case(a));
                if addr_ok && app_ok {
                    page.items.push(rec);
                }
            }
            src.advance();
        }
        src.status()?;
        Ok(page)
    }

    // ---- rules ----

    /// Writes rules (insert or replace) in one batch.
    pub fn put_rules(&self, rules: &[StoredRule]) -> Result<()> {
        let cf = self.cf(CF_RULES)?;
        let mut batch = WriteBatch::default();
        for r in rules {
            let v = serde_json::to_vec(r).map_err(|e| Error::internal(e.to_string()))?;
            batch.put_cf(cf, rule_key(r.gid, r.sid), v);
        }
        self.write(batch, "storing rules")
    }

    pub fn get_rule(&self, gid: u32, sid: u32) -> Result<Option<StoredRule>> {
        match self.db.get_cf(self.cf(CF_RULES)?, rule_key(gid, sid))? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| Error::new(Kind::Corrupt, format!("rule {gid}:{sid}: {e}"))),
        }
    }

    pub fn delete_rule(&self, gid: u32, sid: u32) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_RULES)?, rule_key(gid, sid));
        self.write(batch, "deleting rule")
    }

    /// Every stored rule in (gid, sid) order.
    pub fn all_rules(&self) -> Result<Vec<StoredRule>> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_RULES)?);
        it.seek([b'r']);
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if k.first() != Some(&b'r') {
                break;
            }
            out.push(
                serde_json::from_slice(v)
                    .map_err(|e| Error::new(Kind::Corrupt, format!("rule record: {e}")))?,
            );
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Records a completed reload and makes its generation the current one.
    pub fn append_reload(&self, rec: &ReloadRecord) -> Result<()> {
        let cf = self.cf(CF_RULES)?;
        let mut key = vec![b'h'];
        key.extend_from_slice(&rec.generation.to_be_bytes());
        let mut batch = WriteBatch::default();
        batch.put_cf(
            cf,
            key,
            serde_json::to_vec(rec).map_err(|e| Error::internal(e.to_string()))?,
        );
        batch.put_cf(
            self.cf(CF_META)?,
            META_GENERATION,
            rec.generation.to_be_bytes(),
        );
        self.write(batch, "storing reload record")
    }

    /// Generation of the last recorded reload, 0 if none.
    pub fn generation(&self) -> Result<u64> {
        Ok(self.meta_u64(META_GENERATION)?.unwrap_or(0))
    }

    /// Newest reloads first.
    pub fn reload_history(&self, limit: usize) -> Result<Vec<ReloadRecord>> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_RULES)?);
        let mut end = vec![b'h'];
        end.extend_from_slice(&u64::MAX.to_be_bytes());
        it.seek_for_prev(&end);
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if k.first() != Some(&b'h') || out.len() >= limit {
                break;
            }
            out.push(
                serde_json::from_slice(v)
                    .map_err(|e| Error::new(Kind::Corrupt, format!("reload record: {e}")))?,
            );
            it.prev();
        }
        it.status()?;
        Ok(out)
    }

    // ---- audit ----

    /// Appends an audit record; durable when this returns.
    pub fn append_audit(&self, rec: &AuditRecord) -> Result<()> {
        let seq = self.audit_seq.fetch_add(1, Ordering::Relaxed) + 1;
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&rec.time_nanos.to_be_bytes());
        key[8..].copy_from_slice(&seq.to_be_bytes());
        let v = serde_json::to_vec(rec).map_err(|e| Error::internal(e.to_string()))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_AUDIT)?, key, v);
        self.write(batch, "writing audit record")
    }

    /// Newest audit records first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditRecord>> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_AUDIT)?);
        it.seek_to_last();
        let mut out = Vec::new();
        while let Some(v) = it.value() {
            if out.len() >= limit {
                break;
            }
            out.push(
                serde_json::from_slice(v)
                    .map_err(|e| Error::new(Kind::Corrupt, format!("audit record: {e}")))?,
            );
            it.prev();
        }
        it.status()?;
        Ok(out)
    }

    // ---- retention ----

    /// Deletes alerts and flows older than `max_age_ns` before the newest stored record
    /// (packet time, so a replayed old capture is not wiped at once), then the oldest
    /// alerts while the database is larger than `max_bytes`. Each pass deletes at most
    /// `budget` alerts so it never stalls the API for long. 0 disables a limit.
    pub fn enforce_retention(
        &self,
        max_age_ns: u64,
        max_bytes: u64,
        budget: usize,
    ) -> Result<RetentionReport> {
        self.counters.retention_runs.fetch_add(1, Ordering::Relaxed);
        let mut report = RetentionReport::default();
        let mut budget = budget;
        if max_age_ns > 0 {
            if let Some(newest) = self.newest_key(CF_ALERTS)? {
                let cutoff = newest.ts_nanos.saturating_sub(max_age_ns);
                let n = self.delete_oldest_alerts(Some(cutoff), budget)?;
                report.alerts_deleted += n;
                budget = budget.saturating_sub(n as usize);
            }
            if let Some(newest) = self.newest_key(CF_FLOWS)? {
                let cutoff = newest.ts_nanos.saturating_sub(max_age_ns);
                if cutoff > 0 {
                    let to = AlertKey {
                        ts_nanos: cutoff,
                        id: 0,
                    }
                    .bytes();
                    let mut batch = WriteBatch::default();
                    batch.delete_range_cf(self.cf(CF_FLOWS)?, [0u8; 16], to);
                    self.write_deletes(batch, "flow retention")?;
                    report.flows_deleted_before_ns = cutoff;
                }
            }
        }
        if max_bytes > 0 && self.size_bytes() > max_bytes && budget > 0 {
            // Drop a slice of the oldest alerts, then compact so the files really shrink.
            let total = self.alerts_estimate().max(1);
            let over = self.size_bytes() - max_bytes;
            let per_alert = (self.size_bytes() / total).max(1);
            let want = ((over / per_alert) as usize + 1).max(1000).min(budget);
            report.alerts_deleted += self.delete_oldest_alerts(None, want)?;
            for name in [CF_ALERTS, CF_IDX_SID, CF_IDX_SRC, CF_IDX_DST, CF_FLOWS] {
                self.db
                    .compact_range_cf(self.cf(name)?, None::<&[u8]>, None::<&[u8]>);
            }
        }
        report.size_bytes = self.size_bytes();
        self.counters
            .retention_alerts_deleted
            .fetch_add(report.alerts_deleted, Ordering::Relaxed);
        Ok(report)
    }

    fn newest_key(&self, cf: &str) -> Result<Option<AlertKey>> {
        let mut it = self.db.raw_iterator_cf(self.cf(cf)?);
        it.seek_to_last();
        let k = it.key().and_then(AlertKey::parse);
        it.status()?;
        Ok(k)
    }

    /// Deletes up to `max` oldest alerts (those before `before_ns` if given) with the index
    /// postings they end, in chunks of [`RETENTION_CHUNK`] alerts, each chunk one batch.
    ///
    /// A posting is keyed by its newest alert, which has the posting's prefix; so the
    /// postings a chunk ends are among `prefix ‖ key` of its alerts (see
    /// [`Store::delete_postings`]). Deleting them in the same batch as the alerts keeps "a
    /// posting exists as long as its newest alert" true across crashes.
    fn delete_oldest_alerts(&self, before_ns: Option<u64>, max: usize) -> Result<u64> {
        let (cf_a, cf_sid, cf_src, cf_dst) = (
            self.cf(CF_ALERTS)?,
            self.cf(CF_IDX_SID)?,
            self.cf(CF_IDX_SRC)?,
            self.cf(CF_IDX_DST)?,
        );
        let mut deleted = 0u64;
        let mut it = self.db.raw_iterator_cf(cf_a);
        it.seek_to_first();
        let mut sids: Vec<([u8; 4], u128)> = Vec::new();
        let mut srcs: Vec<([u8; 16], u128)> = Vec::new();
        let mut dsts: Vec<([u8; 16], u128)> = Vec::new();
        loop {
            let mut batch = WriteBatch::default();
            sids.clear();
            srcs.clear();
            dsts.clear();
            while (deleted as usize) < max && sids.len() < RETENTION_CHUNK {
                let (Some(k), Some(v)) = (it.key(), it.value()) else {
                    break;
                };
                let Some(key) = AlertKey::parse(k) else {
                    return Err(Error::new(Kind::Corrupt, "alert key is not 16 bytes"));
                };
                if before_ns.is_some_and(|b| key.ts_nanos >= b) {
                    break;
                }
                let a = decode_alert(v)?;
                batch.delete_cf(cf_a, k);
                let k = key.to_u128();
                sids.push((a.sid.to_be_bytes(), k));
                srcs.push((ip16(a.src_ip), k));
                dsts.push((ip16(a.dst_ip), k));
                deleted += 1;
                it.next();
            }
            it.status()?;
            if sids.is_empty() {
                break;
            }
            self.delete_postings(&mut batch, cf_sid, &mut sids)?;
            self.delete_postings(&mut batch, cf_src, &mut srcs)?;
            self.delete_postings(&mut batch, cf_dst, &mut dsts)?;
            self.write_deletes(batch, "retention")?;
        }
        Ok(deleted)
    }

    /// Adds deletes of the postings that end at the chunk's alerts: `entries` are the chunk's
    /// (prefix, alert key) pairs. A posting's key names its newest alert, so the candidates
    /// are exactly `prefix ‖ key` of these pairs. A prefix with one alert in the chunk gets a
    /// blind delete of its one candidate (no read); one with several gets a seek over
    /// `[its first key, its last key]`, so only real postings get tombstones.
    fn delete_postings<const N: usize>(
        &self,
        batch: &mut WriteBatch,
        cf: &ColumnFamily,
        entries: &mut [([u8; N], u128)],
    ) -> Result<()> {
        entries.sort_unstable();
        let mut it = self.db.raw_iterator_cf(cf);
        let mut target = Vec::with_capacity(N + 16);
        for run in entries.chunk_by(|a, b| a.0 == b.0) {
            let (p, first) = run[0];
            let last = run[run.len() - 1].1;
            target.clear();
            target.extend_from_slice(&p);
            target.extend_from_slice(&first.to_be_bytes());
            if run.len() == 1 {
                batch.delete_cf(cf, &target);
                continue;
            }
            it.seek(&target);
            while let Some(k) = it.key() {
                let Some(rest) = k.strip_prefix(p.as_slice()) else {
                    break;
                };
                let max = match <[u8; 16]>::try_from(rest) {
                    Ok(m) if u128::from_be_bytes(m) <= last => u128::from_be_bytes(m),
                    _ => break,
                };
                // Only postings ending at an alert of this chunk: a batch stored since the
                // chunk was read may hold an older alert of this prefix, still stored.
                if run.binary_search_by_key(&max, |e| e.1).is_ok() {
                    batch.delete_cf(cf, k);
                }
                it.next();
            }
            it.status()?;
        }
        Ok(())
    }

    /// Flushes memtables to SST files (used before a clean shutdown and by benches).
    pub fn flush(&self) -> Result<()> {
        for name in ALL_CFS {
            self.db.flush_cf(self.cf(name)?)?;
        }
        Ok(())
    }
}

impl AlertKey {
    /// The cursor to continue from when `self` is the first key not yet returned.
    fn prev_in(self, order: Order) -> AlertKey {
        let v = self.to_u128();
        AlertKey::from_u128(match order {
            Order::NewestFirst => v.saturating_add(1),
            Order::OldestFirst => v.saturating_sub(1),
        })
    }
}

fn decode_alert(v: &[u8]) -> Result<Alert> {
    record::decode(v).map_err(|e| Error::new(Kind::Corrupt, e.to_string()))
}

/// `[lo, hi)` over alert keys as u128 for a time range and an optional cursor.
fn bounds(start_ns: u64, end_ns: u64, after: Option<AlertKey>, order: Order) -> (u128, u128) {
    let mut lo = u128::from(start_ns) << 64;
    let mut hi = if end_ns == 0 {
        u128::MAX
    } else {
        u128::from(end_ns) << 64
    };
    if let Some(c) = after {
        match order {
            Order::NewestFirst => hi = hi.min(c.to_u128()),
            Order::OldestFirst => lo = lo.max(c.to_u128().saturating_add(1)),
        }
    }
    (lo, hi)
}

/// Walks `prefix ‖ akey` keys of one CF within `[lo, hi)` in the query's order.
struct KeySource<'a> {
    it: DBRawIterator<'a>,
    prefix: Vec<u8>,
    lo: u128,
    hi: u128,
    order: Order,
}

impl<'a> KeySource<'a> {
    fn new(
        db: &'a DB,
        cf: &ColumnFamily,
        prefix: Vec<u8>,
        lo: u128,
        hi: u128,
        order: Order,
    ) -> Self {
        let mut it = db.raw_iterator_cf(cf);
        let mut target = prefix.clone();
        match order {
            Order::OldestFirst => {
                target.extend_from_slice(&lo.to_be_bytes());
                it.seek(&target);
            }
            Order::NewestFirst => {
                target.extend_from_slice(&(hi - 1).to_be_bytes());
                it.seek_for_prev(&target);
            }
        }
        KeySource {
            it,
            prefix,
            lo,
            hi,
            order,
        }
    }

    /// The current key if it is still inside the prefix and range.
    fn peek(&self) -> Option<u128> {
        let k = self.it.key()?;
        let rest = k.strip_prefix(self.prefix.as_slice())?;
        let v = u128::from_be_bytes(rest.try_into().ok()?);
        (v >= self.lo && v < self.hi).then_some(v)
    }

    fn value(&self) -> Option<&[u8]> {
        self.it.value()
    }

    fn advance(&mut self) {
        match self.order {
            Order::OldestFirst => self.it.next(),
            Order::NewestFirst => self.it.prev(),
        }
    }

    fn status(&self) -> Result<()> {
        self.it.status().map_err(Error::from)
    }
}

/// Walks the postings of one prefix in one index CF and yields their alert keys within
/// `[lo, hi)` one by one, in the query's order.
///
/// Postings of different batches may overlap in time, so their keys are merged: loaded
/// postings' keys wait in a heap, and the best one is yielded once no unread posting can hold
/// a better one. Newest first, postings come in decreasing `max_akey` and an unread posting
/// holds nothing above its `max_akey`; oldest first, they come in increasing `max_akey` and
/// an unread one holds nothing below the start of its bucket. A page thus reads the postings
/// it needs, plus at most the rest of one bucket.
struct PostingSource<'a> {
    it: DBRawIterator<'a>,
    prefix: Vec<u8>,
    lo: u128,
    hi: u128,
    order: Order,
    /// Keys of loaded postings within `[lo, hi)`; oldest first they are stored inverted
    /// (`!k`) so the heap's maximum is always the next key in the query's order.
    heap: std::collections::BinaryHeap<u128>,
    /// No posting left to read.
    done: bool,
    scratch: Vec<u128>,
    err: Option<Error>,
}

impl<'a> PostingSource<'a> {
    fn new(
        db: &'a DB,
        cf: &ColumnFamily,
        prefix: Vec<u8>,
        lo: u128,
        hi: u128,
        order: Order,
    ) -> Self {
        let mut it = db.raw_iterator_cf(cf);
        let mut target = prefix.clone();
        match order {
            // A posting holding keys below `hi` ends at the latest in `hi - 1`'s bucket.
            Order::NewestFirst => {
                target.extend_from_slice(&posting::bucket_end(hi - 1).to_be_bytes());
                it.seek_for_prev(&target);
            }
            // A posting holding keys at or above `lo` has its maximum there too.
            Order::OldestFirst => {
                target.extend_from_slice(&lo.to_be_bytes());
                it.seek(&target);
            }
        }
        PostingSource {
            it,
            prefix,
            lo,
            hi,
            order,
            heap: std::collections::BinaryHeap::new(),
            done: false,
            scratch: Vec::new(),
            err: None,
        }
    }

    /// `max_akey` of the posting under the iterator, if it is one this query still needs.
    fn posting_max(&self) -> Option<u128> {
        let k = self.it.key()?;
        let rest = k.strip_prefix(self.prefix.as_slice())?;
        let max = u128::from_be_bytes(rest.try_into().ok()?);
        let needed = match self.order {
            Order::NewestFirst => max >= self.lo,
            Order::OldestFirst => posting::bucket_start(max) < self.hi,
        };
        needed.then_some(max)
    }

    /// Reads postings until the heap's best key is final (or nothing is left).
    fn fill(&mut self) {
        while !self.done {
            let Some(max) = self.posting_max() else {
                self.done = true;
                break;
            };
            if let Some(&top) = self.heap.peek() {
                let ready = match self.order {
                    Order::NewestFirst => top > max,
                    Order::OldestFirst => !top < posting::bucket_start(max),
                };
                if ready {
                    break;
                }
            }
            self.scratch.clear();
            let value = self.it.value().unwrap_or_default();
            if let Err(e) = posting::decode(max, value, &mut self.scratch) {
                self.err = Some(Error::new(
                    Kind::Corrupt,
                    format!("index posting {:032x}: {e}", max),
                ));
                self.done = true;
                self.heap.clear();
                break;
            }
            let (lo, hi) = (self.lo, self.hi);
            let inverted = self.order == Order::OldestFirst;
            self.heap.extend(
                self.scratch
                    .iter()
                    .filter(|&&k| k >= lo && k < hi)
                    .map(|&k| if inverted { !k } else { k }),
            );
            match self.order {
                Order::OldestFirst => self.it.next(),
                Order::NewestFirst => self.it.prev(),
            }
        }
    }

    /// The next key in order, if any.
    fn peek(&mut self) -> Option<u128> {
        self.fill();
        let top = *self.heap.peek()?;
        Some(match self.order {
            Order::NewestFirst => top,
            Order::OldestFirst => !top,
        })
    }

    fn advance(&mut self) {
        self.fill();
        self.heap.pop();
    }

    fn status(&self) -> Result<()> {
        if let Some(e) = &self.err {
            return Err(e.clone());
        }
        self.it.status().map_err(Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(ts: u64, sid: u32, src: &str, dst: &str) -> Alert {
        Alert {
            ts_nanos: ts,
            sid,
            src_ip: src.parse().unwrap(),
            dst_ip: dst.parse().unwrap(),
            msg: format!("sid {sid}"),
            ..Alert::default()
        }
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        (dir, s)
    }

    #[test]
    fn ids_are_assigned_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db");
        {
            let s = Store::open(&p, &StoreOptions::default()).unwrap();
            let mut a = vec![
                alert(10, 1, "10.0.0.1", "10.0.0.2"),
                alert(5, 2, "10.0.0.1", "10.0.0.3"),
            ];
            s.append_alerts(&mut a).unwrap();
            assert_eq!((a[0].id, a[1].id), (1, 2));
        }
        let s = Store::open(&p, &StoreOptions::default()).unwrap();
        let mut b = vec![alert(1, 1, "10.0.0.1", "10.0.0.2")];
        s.append_alerts(&mut b).unwrap();
        assert_eq!(b[0].id, 3);
        let page = s
            .query_alerts(&AlertFilter {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        let ids: Vec<u64> = page.items.iter().map(|a| a.id).collect();
        assert_eq!(ids, vec![1, 2, 3], "newest packet time first");
    }

    #[test]
    fn filters_and_paging() {
        let (_d, s) = open();
        let mut v = Vec::new();
        for i in 0..250u64 {
            let sid = if i % 3 == 0 { 100 } else { 200 };
            let src = if i % 5 == 0 {
                "192.168.1.5"
            } else {
                "10.1.1.1"
            };
            v.push(alert(1000 + i, sid, src, "2001:db8::9"));
        }
        s.append_alerts(&mut v).unwrap();
        // sid filter, paged oldest first in pages of 7.
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let p = s
                .query_alerts(&AlertFilter {
                    sid: Some(100),
                    order: Order::OldestFirst,
                    after,
                    limit: 7,
                    ..Default::default()
                })
                .unwrap();
            seen.extend(p.items.iter().map(|a| a.ts_nanos));
            match p.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let want: Vec<u64> = (0..250u64)
            .filter(|i| i % 3 == 0)
            .map(|i| 1000 + i)
            .collect();
        assert_eq!(seen, want);
        // address as source or destination, newest first, within a time range.
        let p = s
            .query_alerts(&AlertFilter {
                address: Some("192.168.1.5".parse().unwrap()),
                start_ns: 1100,
                end_ns: 1200,
                limit: 1000,
                ..Default::default()
            })
            .unwrap();
        let want: Vec<u64> = (100..200u64)
            .rev()
            .filter(|i| i % 5 == 0)
            .map(|i| 1000 + i)
            .collect();
        assert_eq!(p.items.iter().map(|a| a.ts_nanos).collect::<Vec<_>>(), want);
        assert!(p.next.is_none());
        let p = s
            .query_alerts(&AlertFilter {
                address: Some("2001:db8::9".parse().unwrap()),
                limit: 1000,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(p.items.len(), 250);
        // sid and address together.
        let p = s
            .query_alerts(&AlertFilter {
                sid: Some(100),
                address: Some("192.168.1.5".parse().unwrap()),
                limit: 1000,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(p.items.len(), (0..250).filter(|i| i % 15 == 0).count());
    }

    #[test]
    fn src_equal_dst_is_returned_once() {
        let (_d, s) = open();
        let mut v = vec![alert(1, 1, "10.0.0.1", "10.0.0.1")];
        s.append_alerts(&mut v).unwrap();
        let p = s
            .query_alerts(&AlertFilter {
                address: Some("10.0.0.1".parse().unwrap()),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(p.items.len(), 1);
    }

    #[test]
    fn retention_by_age_removes_alerts_and_index_entries() {
        let (_d, s) = open();
        let mut v: Vec<Alert> = (0..100u64)
            .map(|i| alert(i * 1_000_000_000, 7, "10.0.0.1", "10.0.0.2"))
            .collect();
        s.append_alerts(&mut v).unwrap();
        // Keep the last 10 seconds before the newest (ts 99 s): ts >= 89 s.
        let r = s.enforce_retention(10_000_000_000, 0, 1_000_000).unwrap();
        assert_eq!(r.alerts_deleted, 89);
        let p = s
            .query_alerts(&AlertFilter {
                sid: Some(7),
                limit: 1000,
                order: Order::OldestFirst,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(p.items.len(), 11);
        assert_eq!(p.items[0].ts_nanos, 89_000_000_000);
    }

    /// The model a query must agree with: filter by brute force, order by (ts, id).
    fn expected(all: &[Alert], f: &AlertFilter) -> Vec<u64> {
        let mut v: Vec<&Alert> = all
            .iter()
            .filter(|a| a.ts_nanos >= f.start_ns && (f.end_ns == 0 || a.ts_nanos < f.end_ns))
            .filter(|a| f.sid.is_none_or(|s| a.sid == s))
            .filter(|a| f.address.is_none_or(|ip| a.src_ip == ip || a.dst_ip == ip))
            .collect();
        v.sort_by_key(|a| (a.ts_nanos, a.id));
        if f.order == Order::NewestFirst {
            v.reverse();
        }
        v.iter().map(|a| a.id).collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Paging through any filter returns exactly the matching alerts, in order, once.
        #[test]
        fn paged_queries_match_a_brute_force_model(
            rows in proptest::collection::vec((0u64..50, 0u32..4, 0u8..4, 0u8..4), 0..80),
            start in 0u64..50, len in 0u64..60, sid in proptest::option::of(0u32..4),
            addr in proptest::option::of(0u8..4), oldest in proptest::bool::ANY, page in 1usize..9,
        ) {
            let (_d, s) = open();
            let mut all: Vec<Alert> = rows
                .iter()
                .map(|(ts, sid, src, dst)| alert(*ts, *sid, &format!("10.0.0.{src}"), &format!("10.0.0.{dst}")))
                .collect();
            s.append_alerts(&mut all).unwrap();
            let mut f = AlertFilter {
                start_ns: start,
                end_ns: if len == 0 { 0 } else { start + len },
                sid,
                address: addr.map(|a| format!("10.0.0.{a}").parse().unwrap()),
                order: if oldest { Order::OldestFirst } else { Order::NewestFirst },
                after: None,
                limit: page,
            };
            let want = expected(&all, &f);
            let mut got = Vec::new();
            for _ in 0..200 {
                let p = s.query_alerts(&f).unwrap();
                proptest::prop_assert!(p.items.len() <= page);
                got.extend(p.items.iter().map(|a| a.id));
                match p.next {
                    Some(n) => f.after = Some(n),
                    None => break,
                }
            }
            proptest::prop_assert_eq!(got, want);
        }
    }

    /// Keys in one column family (index postings here).
    fn count_keys(s: &Store, cf: &str) -> usize {
        let mut it = s.db.raw_iterator_cf(s.cf(cf).unwrap());
        it.seek_to_first();
        let mut n = 0;
        while it.valid() {
            n += 1;
            it.next();
        }
        it.status().unwrap();
        n
    }

    /// Every posting's key names a stored alert of its prefix (postings never outlive the
    /// alert that ends them), and its keys decode.
    fn assert_postings_consistent(s: &Store) {
        for (cf, plen) in [(CF_IDX_SID, 4), (CF_IDX_SRC, 16), (CF_IDX_DST, 16)] {
            let mut it = s.db.raw_iterator_cf(s.cf(cf).unwrap());
            it.seek_to_first();
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                let max = AlertKey::parse(&k[plen..]).unwrap();
                let a = s
                    .get_alert(max)
                    .unwrap()
                    .expect("posting outlived its alert");
                let prefix = match cf {
                    CF_IDX_SID => a.sid.to_be_bytes().to_vec(),
                    CF_IDX_SRC => ip16(a.src_ip).to_vec(),
                    _ => ip16(a.dst_ip).to_vec(),
                };
                assert_eq!(&k[..plen], prefix.as_slice(), "{cf}");
                posting::decode(max.to_u128(), v, &mut Vec::new()).unwrap();
                it.next();
            }
        }
    }

    /// Pages through `f` to the end; the ids in order.
    fn page_all(s: &Store, mut f: AlertFilter) -> Vec<u64> {
        let mut got = Vec::new();
        for _ in 0..100_000 {
            let p = s.query_alerts(&f).unwrap();
            assert!(p.items.len() <= f.limit.max(1));
            got.extend(p.items.iter().map(|a| a.id));
            match p.next {
                Some(n) => f.after = Some(n),
                None => return got,
            }
        }
        panic!("paging did not end");
    }

    const B: u64 = 1 << posting::BUCKET_SHIFT;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        /// Postings from many batches whose times overlap and cross bucket boundaries: paging
        /// by sid or address, any time range, either order, returns exactly the brute-force
        /// answer over all stored alerts. Then retention by age or size, and again.
        #[test]
        fn postings_over_many_batches_match_a_brute_force_model(
            batches in proptest::collection::vec(
                proptest::collection::vec((0u64..4, 0u64..40, 0u32..3, 0u8..5, 0u8..3), 1..40),
                1..8,
            ),
            start in (0u64..4, 0u64..40), len in 0u64..(3 * B),
            sid in proptest::option::of(0u32..3), addr in 0u8..5,
            oldest in proptest::bool::ANY, page in 1usize..12,
            keep_age in 0u64..(4 * B), by_size in proptest::bool::ANY,
        ) {
            let (_d, s) = open();
            let mut all: Vec<Alert> = Vec::new();
            for rows in &batches {
                // Near the end of a bucket, so runs cross into the next one.
                let mut v: Vec<Alert> = rows
                    .iter()
                    .map(|(b, off, sid, src, dst)| {
                        // Destinations 10.0.0.0 and .1 are sources too: one address in both
                        // indices, and an alert with src == dst returned once.
                        let dst = if *dst < 2 { format!("10.0.0.{dst}") } else { format!("10.0.1.{dst}") };
                        alert(b * B + B - 20 + off, *sid, &format!("10.0.0.{src}"), &dst)
                    })
                    .collect();
                s.append_alerts(&mut v).unwrap();
                all.extend(v);
            }
            let run = |s: &Store, all: &[Alert]| -> std::result::Result<(), proptest::test_runner::TestCaseError> {
                let start_ns = start.0 * B + B - 20 + start.1;
                for (sid, address) in [
                    (sid, None),
                    (None, Some(format!("10.0.0.{addr}").parse().unwrap())),
                    (None, Some(format!("10.0.1.{}", addr % 3).parse().unwrap())),
                    (sid, Some(format!("10.0.0.{addr}").parse().unwrap())),
                ] {
                    if sid.is_none() && address.is_none() {
                        continue;
                    }
                    let f = AlertFilter {
                        start_ns,
                        end_ns: if len == 0 { 0 } else { start_ns + len },
                        sid,
                        address,
                        order: if oldest { Order::OldestFirst } else { Order::NewestFirst },
                        after: None,
                        limit: page,
                    };
                    proptest::prop_assert_eq!(page_all(s, f.clone()), expected(all, &f));
                }
                Ok(())
            };
            run(&s, &all)?;
            // Retention: what stays is the brute-force model's input, and no posting dangles.
            let postings_before = count_keys(&s, CF_IDX_SID);
            let deleted = if by_size {
                s.delete_oldest_alerts(None, all.len() / 2).unwrap()
            } else {
                s.enforce_retention(keep_age.max(1), 0, 1_000_000).unwrap().alerts_deleted
            };
            all.sort_by_key(|a| (a.ts_nanos, a.id));
            all.drain(..deleted as usize);
            assert_postings_consistent(&s);
            proptest::prop_assert!(count_keys(&s, CF_IDX_SID) <= postings_before);
            if all.is_empty() {
                for cf in [CF_IDX_SID, CF_IDX_SRC, CF_IDX_DST] {
                    proptest::prop_assert_eq!(count_keys(&s, cf), 0);
                }
            }
            run(&s, &all)?;
        }
    }

    #[test]
    fn a_batch_of_one_sid_is_one_posting() {
        let (_d, s) = open();
        let mut v: Vec<Alert> = (0..16_384u64)
            .map(|i| alert(5_000 + i * 7 % 1000, 42, "10.0.0.1", "10.0.0.2"))
            .collect();
        s.append_alerts(&mut v).unwrap();
        for cf in [CF_IDX_SID, CF_IDX_SRC, CF_IDX_DST] {
            assert_eq!(count_keys(&s, cf), 1, "{cf}");
        }
        let f = AlertFilter {
            sid: Some(42),
            limit: 100,
            ..Default::default()
        };
        let got = page_all(&s, f.clone());
        assert_eq!(got.len(), 16_384);
        assert_eq!(got, expected(&v, &f));
        // A second batch of the same sid, earlier in time, interleaves correctly.
        let mut w: Vec<Alert> = (0..1000u64)
            .map(|i| alert(4_500 + i, 42, "10.0.0.3", "10.0.0.2"))
            .collect();
        s.append_alerts(&mut w).unwrap();
        v.extend(w);
        assert_eq!(count_keys(&s, CF_IDX_SID), 2);
        for order in [Order::NewestFirst, Order::OldestFirst] {
            let f = AlertFilter {
                sid: Some(42),
                start_ns: 4_900,
                end_ns: 5_100,
                order,
                limit: 33,
                ..Default::default()
            };
            let got = page_all(&s, f.clone());
            assert!(!got.is_empty());
            assert_eq!(got, expected(&v, &f), "{order:?}");
        }
    }

    #[test]
    fn sid_within_a_time_range_across_buckets() {
        let (_d, s) = open();
        let mut all = Vec::new();
        // Ten batches, each spanning three buckets, times interleaved between batches.
        for b in 0..10u64 {
            let mut v: Vec<Alert> = (0..300u64)
                .map(|i| alert(i * B / 100 + b, (i % 4) as u32, "10.0.0.1", "10.0.0.2"))
                .collect();
            s.append_alerts(&mut v).unwrap();
            all.extend(v);
        }
        for (start_ns, end_ns) in [(B / 2, B + B / 2), (B - 1, B + 1), (0, 0), (2 * B, 3 * B)] {
            for order in [Order::NewestFirst, Order::OldestFirst] {
                let f = AlertFilter {
                    sid: Some(1),
                    start_ns,
                    end_ns,
                    order,
                    limit: 17,
                    ..Default::default()
                };
                assert_eq!(
                    page_all(&s, f.clone()),
                    expected(&all, &f),
                    "{start_ns}..{end_ns} {order:?}"
                );
            }
        }
    }

    #[test]
    fn retention_removes_postings_and_leaves_nothing_dangling() {
        let (_d, s) = open();
        let mut all = Vec::new();
        for b in 0..20u64 {
            let mut v: Vec<Alert> = (0..500u64)
                .map(|i| {
                    alert(
                        b * 1_000_000_000 + i * 1000,
                        (i % 5) as u32,
                        &format!("10.0.0.{}", i % 7),
                        "10.0.1.1",
                    )
                })
                .collect();
            s.append_alerts(&mut v).unwrap();
            all.extend(v);
        }
        let counts = |s: &Store| [CF_IDX_SID, CF_IDX_SRC, CF_IDX_DST].map(|cf| count_keys(s, cf));
        let before = counts(&s);
        // Keep the newest 5 s of packet time.
        let r = s.enforce_retention(5_000_000_000, 0, 1_000_000).unwrap();
        assert_eq!(r.alerts_deleted, 14 * 500 + 499);
        let after = counts(&s);
        for i in 0..3 {
            assert!(after[i] < before[i], "{before:?} -> {after:?}");
        }
        assert_postings_consistent(&s);
        all.retain(|a| a.ts_nanos >= 14_000_000_000 + 499 * 1000);
        for f in [
            AlertFilter {
                sid: Some(3),
                limit: 50,
                ..Default::default()
            },
            AlertFilter {
                address: Some("10.0.0.4".parse().unwrap()),
                limit: 50,
                ..Default::default()
            },
            AlertFilter {
                address: Some("10.0.1.1".parse().unwrap()),
                order: Order::OldestFirst,
                limit: 50,
                ..Default::default()
            },
        ] {
            assert_eq!(page_all(&s, f.clone()), expected(&all, &f));
        }
        // Everything goes: no index entry is left behind.
        let n = s.delete_oldest_alerts(None, usize::MAX).unwrap();
        assert_eq!(n as usize, all.len());
        assert_eq!(counts(&s), [0, 0, 0]);
    }

    #[test]
    fn retention_keeps_postings_of_alerts_stored_after_its_chunk_was_read() {
        let (_d, s) = open();
        let mut first = vec![
            alert(10, 1, "10.0.0.1", "10.0.0.2"),
            alert(30, 1, "10.0.0.1", "10.0.0.2"),
        ];
        s.append_alerts(&mut first).unwrap();
        // Stored after retention read its chunk (10 and 30): an alert between them.
        let mut late = vec![alert(20, 1, "10.0.0.3", "10.0.0.4")];
        s.append_alerts(&mut late).unwrap();
        let key = |a: &Alert| {
            AlertKey {
                ts_nanos: a.ts_nanos,
                id: a.id,
            }
            .to_u128()
        };
        let mut run = [
            (1u32.to_be_bytes(), key(&first[0])),
            (1u32.to_be_bytes(), key(&first[1])),
        ];
        let mut batch = WriteBatch::default();
        s.delete_postings(&mut batch, s.cf(CF_IDX_SID).unwrap(), &mut run)
            .unwrap();
        assert_eq!(batch.len(), 1, "only the posting ending at 30");
        s.write_deletes(batch, "test").unwrap();
        let p = s
            .query_alerts(&AlertFilter {
                sid: Some(1),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(p.items.iter().map(|a| a.ts_nanos).collect::<Vec<_>>(), [20]);
    }

    #[test]
    fn a_version_2_database_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db");
        {
            let s = Store::open(&p, &StoreOptions::default()).unwrap();
            let mut v = vec![alert(1, 1, "10.0.0.1", "10.0.0.2")];
            s.append_alerts(&mut v).unwrap();
            s.db.put_cf(s.cf(CF_META).unwrap(), META_FORMAT, 2u32.to_be_bytes())
                .unwrap();
        }
        let e = Store::open(&p, &StoreOptions::default()).unwrap_err();
        assert_eq!(e.kind, Kind::Corrupt);
        for want in [
            "format version 2",
            "reads version 3",
            "no in-place upgrade",
            "storage.path",
        ] {
            assert!(e.context.contains(want), "{want:?} not in {e}");
        }
        // Refusing changed nothing: still version 2.
        let e2 = Store::open(&p, &StoreOptions::default()).unwrap_err();
        assert_eq!(e2.context, e.context);
    }

    #[test]
    fn a_damaged_posting_is_an_error_not_a_wrong_page() {
        let (_d, s) = open();
        let mut v = vec![
            alert(10, 1, "10.0.0.1", "10.0.0.2"),
            alert(11, 1, "10.0.0.1", "10.0.0.2"),
        ];
        s.append_alerts(&mut v).unwrap();
        let mut k = 1u32.to_be_bytes().to_vec();
        k.extend_from_slice(
            &AlertKey {
                ts_nanos: 11,
                id: v[1].id,
            }
            .bytes(),
        );
        s.db.put_cf(s.cf(CF_IDX_SID).unwrap(), &k, [0x80]).unwrap();
        let e = s
            .query_alerts(&AlertFilter {
                sid: Some(1),
                limit: 10,
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.kind, Kind::Corrupt);
    }

    #[test]
    fn flows_page_by_end_time_with_filters() {
        let (_d, s) = open();
        let flows: Vec<FlowRecord> = (0..50u64)
            .map(|i| FlowRecord {
                flow_id: i,
                src_ip: "10.0.0.1".parse().unwrap(),
                src_port: 1000,
                dst_ip: if i % 2 == 0 { "10.0.0.2" } else { "10.0.0.3" }
                    .parse()
                    .unwrap(),
                dst_port: 80,
                proto: 6,
                pkts_toserver: i,
                pkts_toclient: 0,
                bytes_toserver: 0,
                bytes_toclient: 0,
                start_nanos: i,
                end_nanos: 100 + i,
                state: crate::model::FlowState::Closed,
                reason: crate::model::FlowEndReason::Timeout,
                app_proto: if i % 5 == 0 { "dns" } else { "http" }.into(),
                alerted: false,
                worker: "w0".into(),
                eve: String::new(),
            })
            .collect();
        s.append_flows(&flows).unwrap();
        for order in [Order::NewestFirst, Order::OldestFirst] {
            let mut f = FlowFilter {
                address: Some("10.0.0.2".parse().unwrap()),
                app_proto: Some("HTTP".into()),
                order,
                limit: 4,
                ..Default::default()
            };
            let mut got = Vec::new();
            loop {
                let p = s.query_flows(&f).unwrap();
                got.extend(p.items.iter().map(|r| r.flow_id));
                match p.next {
                    Some(n) => f.after = Some(n),
                    None => break,
                }
            }
            let mut want: Vec<u64> = (0..50).filter(|i| i % 2 == 0 && i % 5 != 0).collect();
            if order == Order::NewestFirst {
                want.reverse();
            }
            assert_eq!(got, want, "{order:?}");
        }
    }

    #[test]
    fn retention_by_size_deletes_oldest_until_under_the_cap() {
        let (_d, s) = open();
        for chunk in 0..10u64 {
            let mut v: Vec<Alert> = (0..2000u64)
                .map(|i| Alert {
                    payload: vec![i as u8; 300],
                    ..alert(chunk * 2000 + i, (i % 7) as u32, "10.0.0.1", "10.0.0.2")
                })
                .collect();
            s.append_alerts(&mut v).unwrap();
        }
        s.flush().unwrap();
        let before = s.size_bytes();
        assert!(before > 1_000_000, "{before}");
        let cap = before / 3;
        let mut deleted = 0;
        for _ in 0..10 {
            deleted += s
                .enforce_retention(0, cap, 1_000_000)
                .unwrap()
                .alerts_deleted;
            if s.size_bytes() <= cap {
                break;
            }
        }
        assert!(s.size_bytes() <= cap, "{} > {cap}", s.size_bytes());
        assert!(deleted > 0 && deleted < 20_000);
        // What remains is the newest, and the indices agree with it.
        let p = s
            .query_alerts(&AlertFilter {
                order: Order::OldestFirst,
                limit: 1,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(p.items[0].ts_nanos, deleted);
        let p = s
            .query_alerts(&AlertFilter {
                sid: Some(3),
                order: Order::OldestFirst,
                limit: 1,
                ..Default::default()
            })
            .unwrap();
        assert!(p.items[0].ts_nanos >= deleted);
    }

    #[test]
    fn unknown_format_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db");
        {
            let s = Store::open(&p, &StoreOptions::default()).unwrap();
            s.db.put_cf(s.cf(CF_META).unwrap(), META_FORMAT, 9u32.to_be_bytes())
                .unwrap();
        }
        let e = Store::open(&p, &StoreOptions::default()).unwrap_err();
        assert_eq!(e.kind, Kind::Corrupt);
        assert!(e.context.contains("format version 9"), "{e}");
    }

    #[test]
    fn audit_and_rules_round_trip() {
        let (_d, s) = open();
        for i in 0..3 {
            s.append_audit(&AuditRecord {
                time_nanos: 5,
                who: format!("u{i}"),
                role: "admin".into(),
                method: "m".into(),
                target: String::new(),
                result: "ok".into(),
                detail: String::new(),
            })
            .unwrap();
        }
        let log = s.audit_log(10).unwrap();
        assert_eq!(
            log.iter().map(|r| r.who.as_str()).collect::<Vec<_>>(),
            ["u2", "u1", "u0"]
        );
        let r = StoredRule {
            gid: 1,
            sid: 9,
            rev: 1,
            msg: "m".into(),
            classtype: String::new(),
            priority: 3,
            text: "alert ip any any -> any any (sid:9;)".into(),
            enabled: true,
            updated_nanos: 1,
        };
        s.put_rules(std::slice::from_ref(&r)).unwrap();
        assert_eq!(s.get_rule(1, 9).unwrap(), Some(r));
        s.delete_rule(1, 9).unwrap();
        assert!(s.all_rules().unwrap().is_empty());
    }
}
