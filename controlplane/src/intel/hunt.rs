//! Retro-hunting: indicators searched for in the protocol metadata already stored
//! ([`crate::store::hunt`]), each match stored as a hit with `retro: true` and the original
//! time, so an indicator published today finds last week's traffic.
//!
//! Hunts run on a thread of their own (`osprey-hunt`), fed by a bounded queue: a feed poll,
//! an import or a file feed at start asks for its new indicators to be hunted (a full queue
//! drops the request, counted); `osprey ctl intel hunt` runs one at once on a blocking
//! thread. One hunt at a time; each pass takes at most `[intel.hunt]
//! max_indicators_per_pass` indicators and reads at most `scan_budget` index entries, so a
//! million new indicators become many short passes and never hold the store for long.
//!
//! Validity is not applied to history: an indicator's `valid_from` is usually when it was
//! published, and the point of the hunt is the traffic before. A record found once for an
//! indicator is not reported again (a marker kept with the record until retention).

use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use stix::{Compiled, Match, Observable};

use super::{Intel, StoredHit};
use crate::error::Result;
use crate::store::hunt::{IndexKind, KeyRange, MetaField, MetaRecord};
use crate::store::AlertKey;

/// Why a hunt ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A feed's poll brought new or changed indicators.
    Feed,
    /// An import.
    Import,
    /// A file feed read at start.
    Start,
    /// Asked for (`osprey ctl intel hunt`).
    Manual,
}

impl Trigger {
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Feed => "feed",
            Trigger::Import => "import",
            Trigger::Start => "start",
            Trigger::Manual => "manual",
        }
    }
}

/// What to hunt for.
#[derive(Clone, Debug)]
pub struct HuntRequest {
    pub trigger: Trigger,
    /// Only this feed's indicators.
    pub feed: Option<String>,
    /// Only these indicator ids (`None`: every indicator of the feeds chosen).
    pub indicators: Option<HashSet<String>>,
    /// Only records at or after this packet time (0: everything kept).
    pub since_ns: u64,
}

/// A hunt as recorded and answered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HuntRun {
    pub id: u64,
    pub started_ns: u64,
    pub duration_ns: u64,
    /// `feed`, `import`, `start`, `manual`.
    pub trigger: String,
    /// The feed hunted (empty: every feed).
    pub feed: String,
    /// The one indicator hunted, when asked for.
    pub indicator: String,
    pub since_ns: u64,
    pub passes: u64,
    /// Indicators searched for.
    pub indicators: u64,
    /// Their lookups that the metadata cannot hold (SHA-256 of certificates).
    pub unhuntable: u64,
    /// Index entries read.
    pub entries: u64,
    /// Records found that match (findings and duplicates).
    pub matches: u64,
    /// New findings stored as hits.
    pub findings: u64,
    /// Matches reported by an earlier hunt.
    pub duplicates: u64,
    /// A pass ran out of its scan budget or an indicator of its findings cap.
    pub truncated: bool,
    /// Set when storing the findings failed.
    pub error: String,
}

impl HuntRun {
    fn add(&mut self, p: &HuntRun) {
        self.passes += 1;
        self.indicators += p.indicators;
        self.unhuntable += p.unhuntable;
        self.entries += p.entries;
        self.matches += p.matches;
        self.findings += p.findings;
        self.duplicates += p.duplicates;
        self.truncated |= p.truncated;
        if self.error.is_empty() {
            self.error.clone_from(&p.error);
        }
    }
}

/// Counters of hunting (`intel.hunt_*`).
#[derive(Debug, Default)]
pub struct HuntCounters {
    pub runs: AtomicU64,
    pub passes: AtomicU64,
    pub indicators: AtomicU64,
    pub findings: AtomicU64,
    pub duration_ns: AtomicU64,
    /// Requests left out on a full queue.
    pub requests_dropped: AtomicU64,
    /// Findings that storage refused.
    pub findings_lost: AtomicU64,
}

/// The queue of hunts for the hunt thread.
pub(super) struct HuntQueue {
    tx: SyncSender<HuntRequest>,
    rx: Mutex<Option<Receiver<HuntRequest>>>,
}

impl HuntQueue {
    pub(super) fn new(capacity: usize) -> HuntQueue {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity.max(1));
        HuntQueue {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

/// One indicator to hunt for: its feed's compilation and its index there.
struct Target {
    feed: Arc<str>,
    set: Arc<Compiled>,
    indicator: u32,
    /// Its lookups (a range of `set.matches`).
    matches: std::ops::Range<usize>,
}

/// The index ranges an observable's values lie in; empty when the metadata cannot hold it.
fn ranges(o: &Observable) -> Vec<KeyRange> {
    let exact = |k: IndexKind, v: &str| KeyRange::exact(k, v).into_iter().collect();
    match o {
        Observable::Addr(p) => {
            let last = match p.addr {
                IpAddr::V4(a) => {
                    let host = u32::MAX.checked_shr(u32::from(p.len)).unwrap_or(0);
                    IpAddr::V4((u32::from(a) | host).into())
                }
                IpAddr::V6(a) => {
                    let host = u128::MAX.checked_shr(u32::from(p.len)).unwrap_or(0);
                    IpAddr::V6((u128::from(a) | host).into())
                }
            };
            vec![KeyRange::addresses(p.addr, last)]
        }
        Observable::Domain(d) => KeyRange::exact(IndexKind::Domain, d)
            .into_iter()
            .chain(KeyRange::subdomains(d))
            .collect(),
        Observable::Url(u) => exact(IndexKind::Url, u),
        Observable::CertHash(stix::HashAlg::Sha1, h) => exact(IndexKind::CertSha1, h),
        Observable::Ja3(h) => exact(IndexKind::Ja3, h),
        Observable::Ja3s(h) => exact(IndexKind::Ja3s, h),
        Observable::Ja4(h) => exact(IndexKind::Ja4, h),
        Observable::FileHash(a, h) => exact(file_field(*a).kind(), h),
        Observable::CertHash(..) => Vec::new(),
    }
}

/// The `fileinfo` digest a file-hash indicator of algorithm `a` is looked up in.
fn file_field(a: stix::HashAlg) -> MetaField {
    match a {
        stix::HashAlg::Md5 => MetaField::FileMd5,
        stix::HashAlg::Sha1 => MetaField::FileSha1,
        stix::HashAlg::Sha256 => MetaField::FileSha256,
    }
}

/// The value of `r` that `m` matches, with its field, if any (side and ports checked as
/// the workers do).
pub fn matched<'r>(m: &Match, r: &'r MetaRecord) -> Option<(MetaField, &'r str)> {
    if m.src_port.is_some_and(|p| p != r.src_port) || m.dst_port.is_some_and(|p| p != r.dest_port) {
        return None;
    }
    r.values
        .iter()
        .find(|(f, v)| match &m.observable {
            Observable::Addr(p) => {
                let side_ok = match m.side {
                    stix::Side::Any => true,
                    stix::Side::Src => *f == MetaField::SrcIp,
                    stix::Side::Dst => *f == MetaField::DestIp,
                };
                side_ok && f.kind() == IndexKind::Addr && v.parse().is_ok_and(|a| p.contains(a))
            }
            Observable::Domain(d) => {
                f.kind() == IndexKind::Domain
                    && (v == d || v.strip_suffix(d.as_str()).is_some_and(|h| h.ends_with('.')))
            }
            Observable::Url(u) => *f == MetaField::HttpUrl && v == u,
            Observable::CertHash(stix::HashAlg::Sha1, h) => *f == MetaField::TlsCertSha1 && v == h,
            Observable::Ja3(h) => *f == MetaField::Ja3 && v == h,
            Observable::Ja3s(h) => *f == MetaField::Ja3s && v == h,
            Observable::Ja4(h) => *f == MetaField::Ja4 && v == h,
            Observable::FileHash(a, h) => *f == file_field(*a) && v == h,
            _ => false,
        })
        .map(|(f, v)| (*f, v.as_str()))
}

/// The EVE `intel` record of a finding: the workers' shape, with `"retro": true`.
fn finding_eve(t: &Target, r: &MetaRecord, field: MetaField, value: &str) -> String {
    let info = &t.set.indicators[t.indicator as usize];
    let mut out = Vec::with_capacity(512);
    let mut j = vocab::eve::Json::new(&mut out);
    j.envelope(vocab::eve::Envelope {
        ts_nanos: r.ts_nanos,
        flow_id: r.flow_id,
        pcap_cnt: 0,
        event_type: "intel",
        src: r.src_ip,
        src_port: r.src_port,
        dst: r.dest_ip,
        dst_port: r.dest_port,
        proto: r.proto,
        vlan: &[],
        icmp: None,
    });
    j.object("intel")
        .str("indicator_id", &info.id)
        .str("pattern", &info.pattern)
        .str("matched_field", field.name())
        .str("matched_value", value);
    if let Some(c) = info.confidence {
        j.u64("confidence", u64::from(c));
    }
    j.array("labels");
    for l in &info.labels {
        j.sep().value_bytes(l.as_bytes());
    }
    j.close_array();
    j.str("source", &t.feed).bool("retro", true);
    j.array("related");
    for x in &info.related {
        j.element_object()
            .str("type", &x.kind)
            .str("id", &x.id)
            .str("name", &x.name);
        if let Some(e) = &x.external_id {
            j.str("external_id", e);
        }
        j.close();
    }
    j.close_array().close();
    j.end();
    String::from_utf8_lossy(&out).into_owned()
}

fn finding(t: &Target, r: &MetaRecord, field: MetaField, value: &str) -> StoredHit {
    let info = &t.set.indicators[t.indicator as usize];
    StoredHit {
        id: 0,
        ts_nanos: r.ts_nanos,
        feed: t.feed.to_string(),
        indicator_id: info.id.clone(),
        pattern: info.pattern.clone(),
        matched_field: field.name().to_owned(),
        matched_value: value.to_owned(),
        confidence: info.confidence,
        flow_id: r.flow_id,
        src_ip: r.src_ip.to_string(),
        src_port: r.src_port,
        dest_ip: r.dest_ip.to_string(),
        dest_port: r.dest_port,
        proto: vocab::proto::name(r.proto).into_owned(),
        eve: finding_eve(t, r, field, value),
        retro: true,
    }
}

/// The limits of one pass.
#[derive(Clone, Copy, Debug)]
struct Limits {
    since_ns: u64,
    scan_budget: u64,
    max_findings: usize,
}

impl Intel {
    /// Asks the hunt thread to hunt; a full queue drops the request (counted).
    pub fn request_hunt(&self, req: HuntRequest) {
        if !self.cfg.hunt.enabled {
            return;
        }
        match self.hunt_queue.tx.try_send(req) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.hunt_counters
                    .requests_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The indicators `req` names, feed by feed.
    fn targets(&self, req: &HuntRequest) -> Vec<Target> {
        let sets: Vec<(Arc<str>, Arc<Compiled>)> = self
            .lock()
            .iter()
            .filter(|(name, _)| req.feed.as_ref().is_none_or(|f| f == *name))
            .map(|(name, f)| (Arc::from(name.as_str()), f.compiled.clone()))
            .collect();
        let mut out = Vec::new();
        for (feed, set) in sets {
            let mut at = 0;
            for (n, info) in set.indicators.iter().enumerate() {
                let start = at;
                while at < set.matches.len() && set.matches[at].0 as usize == n {
                    at += 1;
                }
                if req.indicators.as_ref().is_none_or(|s| s.contains(&info.id)) {
                    out.push(Target {
                        feed: feed.clone(),
                        set: set.clone(),
                        indicator: n as u32,
                        matches: start..at,
                    });
                }
            }
        }
        out
    }

    /// Runs a hunt now (one pass per `max_indicators_per_pass` indicators, one hunt at a
    /// time), stores its findings and its record, and returns the record.
    pub fn hunt(&self, req: &HuntRequest, now_ns: u64) -> Result<HuntRun> {
        let cfg = &self.cfg.hunt;
        let started = Instant::now();
        let mut run = HuntRun {
            started_ns: now_ns,
            trigger: req.trigger.name().to_owned(),
            feed: req.feed.clone().unwrap_or_default(),
            indicator: match &req.indicators {
                Some(s) if s.len() == 1 => s.iter().next().cloned().unwrap_or_default(),
                _ => String::new(),
            },
            since_ns: req.since_ns,
            ..HuntRun::default()
        };
        let limits = Limits {
            since_ns: req.since_ns,
            scan_budget: cfg.scan_budget,
            max_findings: cfg.max_findings_per_indicator,
        };
        let targets = self.targets(req);
        for chunk in targets.chunks(cfg.max_indicators_per_pass.max(1)) {
            let _one = self.hunt_serial.lock().unwrap_or_else(|p| p.into_inner());
            let pass = self.pass(chunk, limits);
            run.add(&pass);
            let c = &self.hunt_counters;
            c.passes.fetch_add(1, Ordering::Relaxed);
            c.indicators.fetch_add(pass.indicators, Ordering::Relaxed);
        }
        run.duration_ns = started.elapsed().as_nanos() as u64;
        let c = &self.hunt_counters;
        c.runs.fetch_add(1, Ordering::Relaxed);
        c.duration_ns.fetch_add(run.duration_ns, Ordering::Relaxed);
        run.id = self.store.put_hunt_run(&run, cfg.max_runs)?;
        Ok(run)
    }

    /// One pass over `targets`: their matches in the metadata, the new ones stored.
    fn pass(&self, targets: &[Target], limits: Limits) -> HuntRun {
        let mut p = HuntRun {
            indicators: targets.len() as u64,
            ..HuntRun::default()
        };
        let mut budget = limits.scan_budget;
        let mut hits = Vec::new();
        let mut keys = Vec::new();
        for t in targets {
            if budget == 0 {
                p.truncated = true;
                break;
            }
            match self.hunt_one(t, limits, &mut budget, &mut p, &mut hits, &mut keys) {
                Ok(()) => {}
                Err(e) => {
                    p.error = e.to_string();
                    break;
                }
            }
        }
        self.store_findings(&mut hits, &keys, &mut p);
        p
    }

    /// Looks `t` up, adding its new findings to `hits` (and their records to `keys`).
    fn hunt_one(
        &self,
        t: &Target,
        limits: Limits,
        budget: &mut u64,
        p: &mut HuntRun,
        hits: &mut Vec<StoredHit>,
        keys: &mut Vec<AlertKey>,
    ) -> Result<()> {
        let store = &self.store;
        let info = &t.set.indicators[t.indicator as usize];
        let mut found = 0;
        // Records already taken for this indicator (through another of its lookups).
        let mut seen = HashSet::new();
        for (_, m) in &t.set.matches[t.matches.clone()] {
            let rs = ranges(&m.observable);
            if rs.is_empty() {
                p.unhuntable += 1;
                continue;
            }
            let mut records = BTreeSet::new();
            for r in &rs {
                let s = store.hunt_scan(r, limits.since_ns, *budget)?;
                *budget -= s.entries;
                p.entries += s.entries;
                p.truncated |= s.truncated;
                records.extend(s.keys);
            }
            for key in records {
                let Some(rec) = store.metadata_record(key)? else {
                    continue;
                };
                let Some((field, value)) = matched(m, &rec) else {
                    continue;
                };
                p.matches += 1;
                if !seen.insert(key) || store.retro_marked(key, &info.id)? {
                    p.duplicates += 1;
                    continue;
                }
                if found == limits.max_findings {
                    p.truncated = true;
                    return Ok(());
                }
                found += 1;
                hits.push(finding(t, &rec, field, value));
                keys.push(key);
            }
        }
        Ok(())
    }

    fn store_findings(&self, hits: &mut [StoredHit], keys: &[AlertKey], p: &mut HuntRun) {
        if hits.is_empty() {
            return;
        }
        let c = &self.hunt_counters;
        match self.store_hits(hits, Some(keys)) {
            Ok(pruned) => {
                p.findings = hits.len() as u64;
                c.findings.fetch_add(p.findings, Ordering::Relaxed);
                self.counters
                    .hits_stored
                    .fetch_add(p.findings, Ordering::Relaxed);
                self.counters
                    .hits_pruned
                    .fetch_add(pruned, Ordering::Relaxed);
                for h in hits.iter() {
                    self.count_retro(&h.feed);
                    if self.cfg.hunt.alert {
                        self.raise_alert(h);
                    }
                }
                self.count_sightings(hits);
            }
            Err(e) => {
                c.findings_lost
                    .fetch_add(hits.len() as u64, Ordering::Relaxed);
                p.error = e.to_string();
                tracing::warn!(error = %e, "retro-hunt findings not stored");
            }
        }
    }

    /// The hunt counters in dotted names.
    pub(super) fn hunt_counter_values(&self) -> Vec<(String, u64)> {
        let c = &self.hunt_counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let i = &self.index_counters;
        vec![
            ("intel.hunt_runs".into(), l(&c.runs)),
            ("intel.hunt_passes".into(), l(&c.passes)),
            ("intel.hunt_indicators".into(), l(&c.indicators)),
            ("intel.hunt_findings".into(), l(&c.findings)),
            ("intel.hunt_findings_lost".into(), l(&c.findings_lost)),
            ("intel.hunt_duration_ns".into(), l(&c.duration_ns)),
            ("intel.hunt_requests_dropped".into(), l(&c.requests_dropped)),
            ("intel.metadata_records".into(), l(&i.records)),
            ("intel.metadata_lost".into(), l(&i.lost)),
            ("intel.metadata_unreadable".into(), l(&i.unreadable)),
        ]
    }
}

/// The hunt thread: takes requests from the queue until stopped.
pub struct HuntThread {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HuntThread {
    /// Starts the thread (once; a second start finds the queue taken and returns `None`).
    pub fn start(intel: Arc<Intel>) -> std::io::Result<Option<HuntThread>> {
        let rx = intel
            .hunt_queue
            .rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(rx) = rx else { return Ok(None) };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("osprey-hunt".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    let Ok(req) = rx.recv_timeout(Duration::from_millis(100)) else {
                        continue;
                    };
                    if let Err(e) = intel.hunt(&req, crate::health::now_nanos()) {
                        tracing::warn!(error = %e, trigger = req.trigger.name(), "hunt failed");
                    }
                }
            })?;
        Ok(Some(HuntThread {
            stop,
            thread: Some(thread),
        }))
    }

    /// Stops the thread after the hunt in progress.
    pub fn join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(values: &[(MetaField, &str)]) -> MetaRecord {
        MetaRecord {
            ts_nanos: 1,
            flow_id: 1,
            src_ip: "192.0.2.1".parse().unwrap(),
            src_port: 40000,
            dest_ip: "198.51.100.9".parse().unwrap(),
            dest_port: 443,
            proto: 6,
            values: values.iter().map(|(f, v)| (*f, v.to_string())).collect(),
        }
    }

    fn m(pattern: &str) -> Match {
        let p = stix::pattern::parse(pattern).unwrap();
        stix::observable::matches_of(&p).unwrap().remove(0)
    }

    #[test]
    fn records_match_as_the_workers_match() {
        let flow = rec(&[
            (MetaField::SrcIp, "192.0.2.1"),
            (MetaField::DestIp, "198.51.100.9"),
        ]);
        let any = m("[ipv4-addr:value = '198.51.100.0/24']");
        assert_eq!(
            matched(&any, &flow),
            Some((MetaField::DestIp, "198.51.100.9"))
        );
        let src = m("[network-traffic:src_ref.value = '198.51.100.9']");
        assert_eq!(matched(&src, &flow), None, "the address is the destination");
        let port = m(
            "[network-traffic:dst_ref.value = '198.51.100.9' AND network-traffic:dst_port = 80]",
        );
        assert_eq!(matched(&port, &flow), None, "another port");
        let sni = rec(&[(MetaField::TlsSni, "c2.evil.example")]);
        assert!(matched(&m("[domain-name:value = 'evil.example']"), &sni).is_some());
        assert!(matched(&m("[domain-name:value = 'l.example']"), &sni).is_none());
        let r = ranges(&m("[ipv4-addr:value = '198.51.100.0/24']").observable);
        assert_eq!(r.len(), 1);
        assert!(ranges(
            &m(&format!(
                "[x509-certificate:hashes.'SHA-256' = '{}']",
                "a".repeat(64)
            ))
            .observable
        )
        .is_empty());
        let sha256 = "ab".repeat(32);
        let file = m(&format!("[file:hashes.'SHA-256' = '{sha256}']"));
        assert_eq!(ranges(&file.observable).len(), 1);
        let fileinfo = rec(&[
            (MetaField::FileMd5, &"cd".repeat(16)),
            (MetaField::FileSha256, &sha256),
        ]);
        assert_eq!(
            matched(&file, &fileinfo),
            Some((MetaField::FileSha256, sha256.as_str()))
        );
        let sha1 = m(&format!("[file:hashes.'SHA-1' = '{}']", "cd".repeat(20)));
        assert_eq!(
            matched(&sha1, &fileinfo),
            None,
            "a digest the file does not have"
        );
    }
}
