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
use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, Options, WriteBatch, DB};

use crate::error::{Error, Kind, Result};
use crate::model::{Alert, FlowRecord};
use crate::proto;

pub mod audit;
pub mod posting;
mod query;
pub mod record;
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

fn decode_alert(v: &[u8]) -> Result<Alert> {
    record::decode(v).map_err(|e| Error::new(Kind::Corrupt, e.to_string()))
}

#[cfg(test)]
mod tests;
