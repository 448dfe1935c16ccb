//! Protocol metadata kept for retro-hunting: what the workers saw (DNS queries and answers,
//! TLS SNI, certificate fingerprint and JA3/JA3S/JA4, HTTP host and URL, flow addresses),
//! one [`MetaRecord`] per transaction or flow in the `hunt` column family, and every value
//! of it indexed in `idx_hunt` by (kind, normalised value, time), so an indicator that
//! arrives later is looked up with one seek per value instead of a scan of the history.
//!
//! | column family | key | value |
//! |---|---|---|
//! | `hunt`     | `ts_nanos:u64 ‖ record_id:u64` | [`MetaRecord`], [`encode`]d |
//! | `idx_hunt` | `kind:u8 ‖ value ‖ 0 ‖ ts_nanos:u64 ‖ record_id:u64` | empty |
//!
//! Addresses are indexed as 16 bytes (IPv4 mapped) without the 0 separator, so a prefix is
//! one key range; domain names with their labels reversed (`example.evil.c2`), so a domain
//! and its subdomains are one prefix. Records and their index entries are written in one
//! batch per group of records; retention deletes a record and its index entries in one
//! batch, so an index entry never outlives its record.

use std::net::IpAddr;

use rocksdb::WriteBatch;

use super::{ip16, AlertKey, Store, CF_HUNT, CF_IDX_HUNT, CF_INTEL, CF_META, RETENTION_CHUNK};
use crate::error::{Error, Kind, Result};
use crate::intel::hunt::HuntRun;
use crate::intel::StoredHit;

const META_NEXT_RECORD: &[u8] = b"next_hunt_record_id";
const META_NEXT_RUN: &[u8] = b"next_hunt_run_id";

/// `'r' ‖ record key ‖ indicator id` in `intel`: the record was found for the indicator
/// (so a later hunt does not report it again); deleted with the record by retention.
fn marker_key(key: AlertKey, indicator: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(17 + indicator.len());
    k.push(b'r');
    k.extend_from_slice(&key.bytes());
    k.extend_from_slice(indicator.as_bytes());
    k
}

/// `'x' ‖ run id` in `intel`: a hunt as recorded.
fn run_key(id: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'x';
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// Where in the traffic a value was seen; the names are the workers' `matched_field`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MetaField {
    SrcIp = 1,
    DestIp = 2,
    DnsQuery = 3,
    DnsAnswerName = 4,
    DnsAnswerAddr = 5,
    TlsSni = 6,
    TlsCertSha1 = 7,
    Ja3 = 8,
    Ja3s = 9,
    Ja4 = 10,
    HttpHost = 11,
    HttpUrl = 12,
    FileMd5 = 13,
    FileSha1 = 14,
    FileSha256 = 15,
}

/// The key space a value is indexed in (one per kind of indicator lookup).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum IndexKind {
    Addr = 1,
    Domain = 2,
    Url = 3,
    CertSha1 = 4,
    Ja3 = 5,
    Ja3s = 6,
    Ja4 = 7,
    FileMd5 = 8,
    FileSha1 = 9,
    FileSha256 = 10,
}

impl MetaField {
    const ALL: [MetaField; 15] = [
        MetaField::SrcIp,
        MetaField::DestIp,
        MetaField::DnsQuery,
        MetaField::DnsAnswerName,
        MetaField::DnsAnswerAddr,
        MetaField::TlsSni,
        MetaField::TlsCertSha1,
        MetaField::Ja3,
        MetaField::Ja3s,
        MetaField::Ja4,
        MetaField::HttpHost,
        MetaField::HttpUrl,
        MetaField::FileMd5,
        MetaField::FileSha1,
        MetaField::FileSha256,
    ];

    fn from_u8(b: u8) -> Option<MetaField> {
        MetaField::ALL.into_iter().find(|f| *f as u8 == b)
    }

    /// The name in `intel` records (`matched_field`).
    pub const fn name(self) -> &'static str {
        match self {
            MetaField::SrcIp => "src_ip",
            MetaField::DestIp => "dest_ip",
            MetaField::DnsQuery => "dns.query",
            MetaField::DnsAnswerName | MetaField::DnsAnswerAddr => "dns.answer",
            MetaField::TlsSni => "tls.sni",
            MetaField::TlsCertSha1 => "tls.cert_fingerprint",
            MetaField::Ja3 => "ja3.hash",
            MetaField::Ja3s => "ja3s.hash",
            MetaField::Ja4 => "ja4.hash",
            MetaField::HttpHost => "http.host",
            MetaField::HttpUrl => "http.url",
            MetaField::FileMd5 => "fileinfo.md5",
            MetaField::FileSha1 => "fileinfo.sha1",
            MetaField::FileSha256 => "fileinfo.sha256",
        }
    }

    /// The key space its values are indexed in.
    pub const fn kind(self) -> IndexKind {
        match self {
            MetaField::SrcIp | MetaField::DestIp | MetaField::DnsAnswerAddr => IndexKind::Addr,
            MetaField::DnsQuery
            | MetaField::DnsAnswerName
            | MetaField::TlsSni
            | MetaField::HttpHost => IndexKind::Domain,
            MetaField::TlsCertSha1 => IndexKind::CertSha1,
            MetaField::Ja3 => IndexKind::Ja3,
            MetaField::Ja3s => IndexKind::Ja3s,
            MetaField::Ja4 => IndexKind::Ja4,
            MetaField::HttpUrl => IndexKind::Url,
            MetaField::FileMd5 => IndexKind::FileMd5,
            MetaField::FileSha1 => IndexKind::FileSha1,
            MetaField::FileSha256 => IndexKind::FileSha256,
        }
    }
}

/// One transaction's or flow's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaRecord {
    /// Packet time, nanoseconds since the epoch.
    pub ts_nanos: u64,
    pub flow_id: u64,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dest_ip: IpAddr,
    pub dest_port: u16,
    /// IP protocol number.
    pub proto: u8,
    /// Values as indexed: addresses as text, names lowercase without a trailing dot,
    /// hashes lowercase hex.
    pub values: Vec<(MetaField, String)>,
}

/// Values longer than this are not kept (a URL is cut by the workers at 2 KiB already).
pub const MAX_VALUE_BYTES: usize = 2048;

/// The record's value bytes: `flow_id:u64 ‖ src ip16 ‖ src_port:u16 ‖ dst ip16 ‖
/// dst_port:u16 ‖ proto:u8`, then per value `field:u8 ‖ len:u16 ‖ bytes`.
pub fn encode(r: &MetaRecord, out: &mut Vec<u8>) {
    out.extend_from_slice(&r.flow_id.to_be_bytes());
    out.extend_from_slice(&ip16(r.src_ip));
    out.extend_from_slice(&r.src_port.to_be_bytes());
    out.extend_from_slice(&ip16(r.dest_ip));
    out.extend_from_slice(&r.dest_port.to_be_bytes());
    out.push(r.proto);
    for (f, v) in &r.values {
        let v = &v.as_bytes()[..v.len().min(MAX_VALUE_BYTES)];
        out.push(*f as u8);
        out.extend_from_slice(&(v.len() as u16).to_be_bytes());
        out.extend_from_slice(v);
    }
}

fn ip_from16(b: &[u8]) -> IpAddr {
    let a: [u8; 16] = b.try_into().unwrap_or([0; 16]);
    let v6 = std::net::Ipv6Addr::from(a);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// The record stored under `key`.
pub fn decode(key: AlertKey, v: &[u8]) -> Result<MetaRecord> {
    let bad = || Error::new(Kind::Corrupt, format!("hunt record {key:?} is malformed"));
    if v.len() < 45 {
        return Err(bad());
    }
    let mut r = MetaRecord {
        ts_nanos: key.ts_nanos,
        flow_id: u64::from_be_bytes(v[0..8].try_into().map_err(|_| bad())?),
        src_ip: ip_from16(&v[8..24]),
        src_port: u16::from_be_bytes([v[24], v[25]]),
        dest_ip: ip_from16(&v[26..42]),
        dest_port: u16::from_be_bytes([v[42], v[43]]),
        proto: v[44],
        values: Vec::new(),
    };
    let mut at = 45;
    while at < v.len() {
        let f = MetaField::from_u8(v[at]).ok_or_else(bad)?;
        let n = usize::from(u16::from_be_bytes(
            v.get(at + 1..at + 3)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        ));
        let s = v.get(at + 3..at + 3 + n).ok_or_else(bad)?;
        r.values.push((f, String::from_utf8_lossy(s).into_owned()));
        at += 3 + n;
    }
    Ok(r)
}

/// `evil.example` → `example.evil`.
pub fn reverse_domain(d: &str) -> String {
    let mut out = String::with_capacity(d.len());
    for (i, label) in d.rsplit('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(label);
    }
    out
}

/// The index key bytes of a value before the time (`kind ‖ value [‖ 0]`), `None` for a
/// value that cannot be indexed (an address that does not parse, a NUL byte).
pub fn value_prefix(kind: IndexKind, value: &str) -> Option<Vec<u8>> {
    let mut k = Vec::with_capacity(value.len() + 2);
    k.push(kind as u8);
    match kind {
        IndexKind::Addr => k.extend_from_slice(&ip16(value.parse().ok()?)),
        _ if value.contains('\0') || value.is_empty() => return None,
        IndexKind::Domain => {
            k.extend_from_slice(reverse_domain(value).as_bytes());
            k.push(0);
        }
        _ => {
            k.extend_from_slice(value.as_bytes());
            k.push(0);
        }
    }
    Some(k)
}

/// A range of index keys to read: `[from, to)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRange {
    pub from: Vec<u8>,
    pub to: Vec<u8>,
}

impl KeyRange {
    /// Every entry of exactly this value.
    pub fn exact(kind: IndexKind, value: &str) -> Option<KeyRange> {
        let from = value_prefix(kind, value)?;
        let mut to = from.clone();
        if kind == IndexKind::Addr {
            to.extend_from_slice(&[0xff; 17]);
        } else {
            *to.last_mut()? = 1;
        }
        Some(KeyRange { from, to })
    }

    /// Entries of the domain's subdomains (`*.evil.example`), beside [`KeyRange::exact`].
    pub fn subdomains(domain: &str) -> Option<KeyRange> {
        let mut from = value_prefix(IndexKind::Domain, domain)?;
        from.pop();
        let mut to = from.clone();
        from.push(b'.');
        to.push(b'.' + 1);
        Some(KeyRange { from, to })
    }

    /// Entries of every address in `first..=last` (one family).
    pub fn addresses(first: IpAddr, last: IpAddr) -> KeyRange {
        let mut from = vec![IndexKind::Addr as u8];
        from.extend_from_slice(&ip16(first));
        let mut to = vec![IndexKind::Addr as u8];
        to.extend_from_slice(&ip16(last));
        to.extend_from_slice(&[0xff; 17]);
        KeyRange { from, to }
    }
}

/// What [`Store::hunt_scan`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Record keys, in index order.
    pub keys: Vec<AlertKey>,
    /// Index entries read.
    pub entries: u64,
    /// The budget ran out before the range did.
    pub truncated: bool,
}

/// Sizes of the metadata kept (`osprey ctl stats`, `store.hunt_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HuntStorage {
    /// RocksDB's estimate of the records kept.
    pub records: u64,
    pub record_bytes: u64,
    pub index_bytes: u64,
}

impl Store {
    /// Assigns ids to `records` and writes them with their index entries in one batch.
    pub fn append_metadata(&self, records: &[MetaRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let (cf_r, cf_i, cf_meta) = (self.cf(CF_HUNT)?, self.cf(CF_IDX_HUNT)?, self.cf(CF_META)?);
        let mut next = self.next_hunt_id.lock().unwrap_or_else(|p| p.into_inner());
        let mut id = *next;
        let mut batch = WriteBatch::default();
        let mut buf = Vec::with_capacity(256);
        let mut ik = Vec::with_capacity(128);
        for r in records {
            let key = AlertKey {
                ts_nanos: r.ts_nanos,
                id,
            };
            id += 1;
            buf.clear();
            encode(r, &mut buf);
            batch.put_cf(cf_r, key.bytes(), &buf);
            for (f, v) in &r.values {
                if let Some(p) = value_prefix(f.kind(), v) {
                    ik.clear();
                    ik.extend_from_slice(&p);
                    ik.extend_from_slice(&key.bytes());
                    batch.put_cf(cf_i, &ik, []);
                }
            }
        }
        batch.put_cf(cf_meta, META_NEXT_RECORD, id.to_be_bytes());
        self.write(batch, "storing protocol metadata")?;
        *next = id;
        Ok(())
    }

    /// Record keys in `range` at or after `since_ns`, reading at most `budget` entries.
    pub fn hunt_scan(&self, range: &KeyRange, since_ns: u64, budget: u64) -> Result<Scan> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_IDX_HUNT)?);
        it.seek(&range.from);
        let mut s = Scan::default();
        while let Some(k) = it.key() {
            if k >= range.to.as_slice() {
                break;
            }
            if s.entries >= budget {
                s.truncated = true;
                break;
            }
            s.entries += 1;
            if let Some(key) = k
                .len()
                .checked_sub(16)
                .and_then(|n| AlertKey::parse(&k[n..]))
            {
                if key.ts_nanos >= since_ns {
                    s.keys.push(key);
                }
            }
            it.next();
        }
        it.status()?;
        Ok(s)
    }

    /// The record under `key`, if it is still kept.
    pub fn metadata_record(&self, key: AlertKey) -> Result<Option<MetaRecord>> {
        match self.db.get_cf(self.cf(CF_HUNT)?, key.bytes())? {
            None => Ok(None),
            Some(v) => decode(key, &v).map(Some),
        }
    }

    /// Deletes records older than `max_age_ns` before the newest (packet time), each with
    /// its index entries in the same batch, at most `budget`; returns how many went and the
    /// cutoff (0: none).
    pub(super) fn expire_metadata(&self, max_age_ns: u64, budget: usize) -> Result<(u64, u64)> {
        let Some(newest) = self.newest_key(CF_HUNT)? else {
            return Ok((0, 0));
        };
        let cutoff = newest.ts_nanos.saturating_sub(max_age_ns);
        Ok((self.delete_metadata_before(cutoff, budget)?, cutoff))
    }

    /// Deletes records before packet time `cutoff`, each with its index entries in the same
    /// batch, at most `budget`; returns how many went.
    pub(super) fn delete_metadata_before(&self, cutoff: u64, budget: usize) -> Result<u64> {
        let (cf_r, cf_i) = (self.cf(CF_HUNT)?, self.cf(CF_IDX_HUNT)?);
        let mut it = self.db.raw_iterator_cf(cf_r);
        it.seek_to_first();
        let mut deleted = 0u64;
        loop {
            let mut batch = WriteBatch::default();
            let mut n = 0;
            while n < RETENTION_CHUNK && (deleted as usize) < budget {
                let (Some(k), Some(v)) = (it.key(), it.value()) else {
                    break;
                };
                let key = AlertKey::parse(k)
                    .ok_or_else(|| Error::new(Kind::Corrupt, "hunt record key is not 16 bytes"))?;
                if key.ts_nanos >= cutoff {
                    break;
                }
                let r = decode(key, v)?;
                for (f, v) in &r.values {
                    if let Some(mut p) = value_prefix(f.kind(), v) {
                        p.extend_from_slice(&key.bytes());
                        batch.delete_cf(cf_i, p);
                    }
                }
                batch.delete_cf(cf_r, k);
                n += 1;
                deleted += 1;
                it.next();
            }
            it.status()?;
            if n == 0 {
                break;
            }
            self.write_deletes(batch, "metadata retention")?;
        }
        // The markers of the records gone: every key below the oldest record kept.
        let oldest = self.oldest_key(CF_HUNT)?.unwrap_or(AlertKey {
            ts_nanos: cutoff,
            id: 0,
        });
        let mut to = vec![b'r'];
        to.extend_from_slice(&oldest.bytes());
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.cf(CF_INTEL)?, vec![b'r'], to);
        self.write_deletes(batch, "retro-hunt marker retention")?;
        Ok(deleted)
    }

    /// Packet time of the newest record kept (0: none).
    pub fn newest_metadata_ns(&self) -> Result<u64> {
        Ok(self.newest_key(CF_HUNT)?.map_or(0, |k| k.ts_nanos))
    }

    /// Sizes of the kept metadata.
    pub fn hunt_storage(&self) -> HuntStorage {
        let prop = |cf: &str, p: &str| {
            self.cf(cf)
                .ok()
                .and_then(|h| self.db.property_int_value_cf(h, p).ok().flatten())
                .unwrap_or(0)
        };
        let bytes = |cf: &str| {
            prop(cf, "rocksdb.total-sst-files-size") + prop(cf, "rocksdb.cur-size-all-mem-tables")
        };
        HuntStorage {
            records: prop(CF_HUNT, "rocksdb.estimate-num-keys"),
            record_bytes: bytes(CF_HUNT),
            index_bytes: bytes(CF_IDX_HUNT),
        }
    }

    /// Whether record `key` was already reported for `indicator`.
    pub fn retro_marked(&self, key: AlertKey, indicator: &str) -> Result<bool> {
        Ok(self
            .db
            .get_pinned_cf(self.cf(CF_INTEL)?, marker_key(key, indicator))?
            .is_some())
    }

    /// Stores retro-hunt findings as hits (ids assigned, the oldest hits beyond `max`
    /// pruned; returns how many), each with its record's marker, in one batch.
    pub fn append_retro_findings(
        &self,
        hits: &mut [StoredHit],
        records: &[AlertKey],
        max: u64,
    ) -> Result<u64> {
        let marks: Vec<Vec<u8>> = hits
            .iter()
            .zip(records)
            .map(|(h, k)| marker_key(*k, &h.indicator_id))
            .collect();
        self.append_hits_with(hits, max, &marks)
    }

    /// Records a hunt under the next id, deleting the oldest beyond `keep`; returns the id.
    pub fn put_hunt_run(&self, run: &HuntRun, keep: u64) -> Result<u64> {
        let cf = self.cf(CF_INTEL)?;
        let _serial = self.next_hunt_id.lock().unwrap_or_else(|p| p.into_inner());
        let id = self.meta_u64(META_NEXT_RUN)?.unwrap_or(1);
        let mut run = run.clone();
        run.id = id;
        let v = serde_json::to_vec(&run).map_err(|e| Error::internal(e.to_string()))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(cf, run_key(id), v);
        batch.put_cf(self.cf(CF_META)?, META_NEXT_RUN, (id + 1).to_be_bytes());
        let keep_from = (id + 1).saturating_sub(keep.max(1));
        if keep_from > 1 {
            batch.delete_range_cf(cf, run_key(0), run_key(keep_from));
        }
        self.write(batch, "storing a hunt")?;
        Ok(id)
    }

    /// The newest `limit` hunts, newest first.
    pub fn hunt_runs(&self, limit: usize) -> Result<Vec<HuntRun>> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_INTEL)?);
        it.seek_for_prev(run_key(u64::MAX));
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if k.first() != Some(&b'x') || out.len() >= limit {
                break;
            }
            out.push(
                serde_json::from_slice(v)
                    .map_err(|e| Error::new(Kind::Corrupt, format!("hunt run: {e}")))?,
            );
            it.prev();
        }
        it.status()?;
        Ok(out)
    }

    pub(super) fn load_next_hunt_id(&self) -> Result<u64> {
        Ok(self.meta_u64(META_NEXT_RECORD)?.unwrap_or(1))
    }
}

#[cfg(test)]
mod tests {
    use super::super::StoreOptions;
    use super::*;

    fn rec(ts_secs: u64, values: &[(MetaField, &str)]) -> MetaRecord {
        MetaRecord {
            ts_nanos: ts_secs * 1_000_000_000,
            flow_id: ts_secs,
            src_ip: "192.0.2.1".parse().unwrap(),
            src_port: 40000,
            dest_ip: "2001:db8::53".parse().unwrap(),
            dest_port: 53,
            proto: 17,
            values: values.iter().map(|(f, v)| (*f, v.to_string())).collect(),
        }
    }

    #[test]
    fn records_round_trip_and_refuse_truncation() {
        let r = rec(
            5,
            &[
                (MetaField::DnsQuery, "a.evil.example"),
                (MetaField::Ja4, "t13"),
            ],
        );
        let mut b = Vec::new();
        encode(&r, &mut b);
        let key = AlertKey {
            ts_nanos: r.ts_nanos,
            id: 1,
        };
        assert_eq!(decode(key, &b).unwrap(), r);
        assert!(decode(key, &b[..b.len() - 1]).is_err());
        assert!(decode(key, &b[..10]).is_err());
    }

    #[test]
    fn values_are_found_by_exact_value_subdomain_prefix_and_time_and_age_out() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        s.append_metadata(&[
            rec(100, &[(MetaField::DnsQuery, "c2.evil.example")]),
            rec(
                200,
                &[
                    (MetaField::TlsSni, "evil.example"),
                    (MetaField::DestIp, "198.51.100.7"),
                ],
            ),
            rec(300, &[(MetaField::HttpHost, "notevil.example")]),
            rec(400, &[(MetaField::SrcIp, "198.51.100.200")]),
        ])
        .unwrap();
        let n = |r: &KeyRange, since: u64| s.hunt_scan(r, since, 100).unwrap().keys.len();
        let exact = KeyRange::exact(IndexKind::Domain, "evil.example").unwrap();
        let subs = KeyRange::subdomains("evil.example").unwrap();
        assert_eq!((n(&exact, 0), n(&subs, 0)), (1, 1));
        // `notevil.example` is not a subdomain of `evil.example`.
        assert_eq!(n(&KeyRange::subdomains("example").unwrap(), 0), 3);
        assert_eq!(n(&subs, 150 * 1_000_000_000), 0, "since");
        let net = KeyRange::addresses(
            "198.51.100.0".parse().unwrap(),
            "198.51.100.255".parse().unwrap(),
        );
        assert_eq!(n(&net, 0), 2);
        assert_eq!(
            n(
                &KeyRange::exact(IndexKind::Addr, "198.51.100.7").unwrap(),
                0
            ),
            1
        );
        assert_eq!(
            n(
                &KeyRange::exact(IndexKind::Addr, "198.51.100.8").unwrap(),
                0
            ),
            0
        );
        let budget = s.hunt_scan(&net, 0, 1).unwrap();
        assert!(budget.truncated && budget.keys.len() == 1);
        let key = s.hunt_scan(&exact, 0, 10).unwrap().keys[0];
        let r = s.metadata_record(key).unwrap().unwrap();
        assert_eq!(r.dest_port, 53);
        assert_eq!(r.values[0], (MetaField::TlsSni, "evil.example".to_string()));
        assert!(s.hunt_storage().index_bytes > 0);

        // Older than 150 s before the newest (400 s): the first two go, with their entries.
        let (gone, _) = s.expire_metadata(150 * 1_000_000_000, 1000).unwrap();
        assert_eq!(gone, 2);
        assert_eq!((n(&exact, 0), n(&subs, 0), n(&net, 0)), (0, 0, 1));
        assert!(s.metadata_record(key).unwrap().is_none());
        let mut it = s.db.raw_iterator_cf(s.cf(CF_IDX_HUNT).unwrap());
        it.seek_to_first();
        let mut left = 0;
        while it.valid() {
            left += 1;
            it.next();
        }
        assert_eq!(left, 2, "the index entries of the two records kept");
    }
}
