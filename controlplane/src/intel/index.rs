//! The metadata indexer: a thread of its own that takes the workers' `dns`, `tls`, `http`
//! and `fileinfo` EVE records and the stored flows from the event stream (a dropping subscriber: a
//! slow store costs index entries, counted in `events.hunt.dropped`, never ingest's pace),
//! turns each into a [`MetaRecord`] and writes whatever is queued as one batch
//! ([`Store::append_metadata`]), for [`super::hunt`] to search when indicators arrive later.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::events::{Bus, Event, Interest, Policy};
use crate::model::FlowRecord;
use crate::store::hunt::{MetaField, MetaRecord};
use crate::store::Store;

/// The event-stream consumer's name (`events.hunt.*`).
pub const CONSUMER: &str = "hunt";
/// Events taken from the queue per write batch at most.
const EVENTS_PER_BATCH: usize = 256;

/// Counters of the indexer (`intel.metadata_*`).
#[derive(Debug, Default)]
pub struct IndexCounters {
    /// Records written with their index entries.
    pub records: AtomicU64,
    /// Records lost because storage refused the batch.
    pub lost: AtomicU64,
    /// `dns`/`tls`/`http` lines that could not be read.
    pub unreadable: AtomicU64,
}

/// The record of a flow: its addresses, at its start.
pub fn flow_record(f: &FlowRecord) -> MetaRecord {
    MetaRecord {
        ts_nanos: f.start_nanos,
        flow_id: f.flow_id,
        src_ip: f.src_ip,
        src_port: f.src_port,
        dest_ip: f.dst_ip,
        dest_port: f.dst_port,
        proto: f.proto,
        values: vec![
            (MetaField::SrcIp, f.src_ip.to_string()),
            (MetaField::DestIp, f.dst_ip.to_string()),
        ],
    }
}

/// A lowercase name without a trailing dot.
fn name(s: &str) -> String {
    s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase()
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut v = v;
    for k in path {
        v = v.get(k)?;
    }
    v.as_str().filter(|s| !s.is_empty())
}

/// The IP protocol number of an EVE `proto` name.
pub fn proto_number(name: &str) -> u8 {
    (0..=255u8)
        .find(|p| vocab::proto::name(*p).eq_ignore_ascii_case(name))
        .unwrap_or(0)
}

/// `http://host[:port]/uri` as the workers build it for URL indicators.
fn http_url(host: &str, uri: &str, dest_port: u16) -> Option<String> {
    if uri.contains("://") {
        return stix::observable::normalize_url(uri);
    }
    let port = if dest_port == 80 {
        String::new()
    } else {
        format!(":{dest_port}")
    };
    let slash = if uri.starts_with('/') { "" } else { "/" };
    stix::observable::normalize_url(&format!("http://{host}{port}{slash}{uri}"))
}

fn dns_values(d: &Value, out: &mut Vec<(MetaField, String)>) {
    let list = |k: &str| {
        d.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for q in list("queries") {
        if let Some(n) = str_at(&q, &["rrname"]) {
            out.push((MetaField::DnsQuery, name(n)));
        }
    }
    let mut answer = |rdata: &str| match rdata.parse::<IpAddr>() {
        Ok(a) => out.push((MetaField::DnsAnswerAddr, a.to_string())),
        Err(_) if rdata.contains('.') && !rdata.contains(' ') => {
            out.push((MetaField::DnsAnswerName, name(rdata)))
        }
        Err(_) => {}
    };
    for a in list("answers") {
        if let Some(r) = str_at(&a, &["rdata"]) {
            answer(r);
        }
    }
    // Suricata's grouped answer format: `{"A": ["192.0.2.1"], "CNAME": [...]}`.
    if let Some(g) = d.get("grouped").and_then(Value::as_object) {
        for vals in g.values().filter_map(Value::as_array) {
            vals.iter().filter_map(Value::as_str).for_each(&mut answer);
        }
    }
}

fn tls_values(t: &Value, out: &mut Vec<(MetaField, String)>) {
    if let Some(s) = str_at(t, &["sni"]) {
        out.push((MetaField::TlsSni, name(s)));
    }
    if let Some(f) = str_at(t, &["fingerprint"]) {
        let hex: String = f.chars().filter(|c| *c != ':').collect();
        out.push((MetaField::TlsCertSha1, hex.to_ascii_lowercase()));
    }
    for (path, field) in [
        (&["ja3", "hash"][..], MetaField::Ja3),
        (&["ja3s", "hash"][..], MetaField::Ja3s),
        (&["ja4"][..], MetaField::Ja4),
    ] {
        if let Some(h) = str_at(t, path) {
            out.push((field, h.to_ascii_lowercase()));
        }
    }
}

/// A file's digests (EVE `fileinfo`, present when the file ended without gaps).
fn file_values(f: &Value, out: &mut Vec<(MetaField, String)>) {
    for (k, field) in [
        ("md5", MetaField::FileMd5),
        ("sha1", MetaField::FileSha1),
        ("sha256", MetaField::FileSha256),
    ] {
        if let Some(h) = str_at(f, &[k]) {
            out.push((field, h.to_ascii_lowercase()));
        }
    }
}

/// The record of a worker's `dns`, `tls`, `http` or `fileinfo` EVE line; `None` for other lines, and
/// for those without a value worth indexing.
pub fn line_record(line: &[u8]) -> Option<MetaRecord> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let kind = v.get("event_type")?.as_str()?;
    let mut values = Vec::new();
    let dest_port = v.get("dest_port").and_then(Value::as_u64).unwrap_or(0) as u16;
    match (kind, v.get(kind)) {
        ("dns", Some(d)) => dns_values(d, &mut values),
        ("tls", Some(t)) => tls_values(t, &mut values),
        ("fileinfo", Some(f)) => file_values(f, &mut values),
        ("http", Some(h)) => {
            let host = str_at(h, &["hostname"]).map(name);
            if let Some(host) = &host {
                values.push((MetaField::HttpHost, host.clone()));
            }
            if let Some(u) = str_at(h, &["url"]) {
                let host = host.as_deref().unwrap_or_default();
                if let Some(u) = http_url(host, u, dest_port) {
                    values.push((MetaField::HttpUrl, u));
                }
            }
        }
        _ => return None,
    }
    if values.is_empty() {
        return None;
    }
    let ip = |k: &str| {
        str_at(&v, &[k])
            .and_then(|s| s.parse().ok())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    };
    let ts = str_at(&v, &["timestamp"])
        .and_then(|t| stix::object::timestamp_nanos(t.split('+').next().unwrap_or(t)))?;
    Some(MetaRecord {
        ts_nanos: ts,
        flow_id: v.get("flow_id").and_then(Value::as_u64).unwrap_or(0),
        src_ip: ip("src_ip"),
        src_port: v.get("src_port").and_then(Value::as_u64).unwrap_or(0) as u16,
        dest_ip: ip("dest_ip"),
        dest_port,
        proto: proto_number(str_at(&v, &["proto"]).unwrap_or_default()),
        values,
    })
}

/// A cheap test before parsing (the workers write compact JSON).
fn is_metadata_line(line: &[u8]) -> bool {
    const KEYS: [&[u8]; 4] = [
        br#""event_type":"dns""#,
        br#""event_type":"tls""#,
        br#""event_type":"http""#,
        br#""event_type":"fileinfo""#,
    ];
    // `event_type` comes within the envelope, in the first 200 bytes.
    let head = &line[..line.len().min(200)];
    KEYS.iter().any(|k| head.windows(k.len()).any(|w| w == *k))
}

/// Adds the records of one event to `out`.
fn records_of(ev: &Event, out: &mut Vec<MetaRecord>, counters: &IndexCounters) {
    match ev {
        Event::Flow(f) => out.push(flow_record(f)),
        Event::Records(lines) => {
            for l in lines.split(|b| *b == b'\n').filter(|l| is_metadata_line(l)) {
                match line_record(l) {
                    Some(r) => out.push(r),
                    None => {
                        counters.unreadable.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        Event::Alert(_) => {}
    }
}

/// The indexer thread.
pub struct IndexThread {
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IndexThread {
    /// Subscribes to `bus` (before ingest starts) and starts the thread.
    pub fn start(
        store: Arc<Store>,
        bus: &Bus,
        queue: usize,
        counters: Arc<IndexCounters>,
    ) -> std::io::Result<IndexThread> {
        let interest = Interest::FLOWS.or(Interest::RECORDS);
        let mut sub = bus.subscribe(CONSUMER, interest, Policy::Drop, queue);
        let thread = std::thread::Builder::new()
            .name("osprey-hunt-idx".into())
            .spawn(move || {
                let mut batch = Vec::new();
                while let Some(ev) = sub.blocking_recv() {
                    batch.clear();
                    records_of(&ev, &mut batch, &counters);
                    for _ in 1..EVENTS_PER_BATCH {
                        match sub.try_recv() {
                            Some(ev) => records_of(&ev, &mut batch, &counters),
                            None => break,
                        }
                    }
                    let n = batch.len() as u64;
                    match store.append_metadata(&batch) {
                        Ok(()) => counters.records.fetch_add(n, Ordering::Relaxed),
                        Err(e) => {
                            tracing::warn!(error = %e, "protocol metadata not stored");
                            counters.lost.fetch_add(n, Ordering::Relaxed)
                        }
                    };
                }
            })?;
        Ok(IndexThread {
            thread: Some(thread),
        })
    }

    /// Waits for the thread (it ends once the event stream is closed and drained).
    pub fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_tls_http_and_fileinfo_lines_become_records() {
        let dns = br#"{"timestamp":"2024-01-01T00:00:05.083091+0000","flow_id":19,"event_type":"dns","src_ip":"198.51.100.41","src_port":53,"dest_ip":"192.0.2.107","dest_port":57692,"proto":"UDP","dns":{"type":"response","queries":[{"rrname":"WWW.Example.COM.","rrtype":"A"}],"answers":[{"rrname":"www.example.com","rrtype":"CNAME","rdata":"www.l.example.com"},{"rrname":"www.l.example.com","rrtype":"A","rdata":"203.0.113.147"},{"rrname":"x","rrtype":"TXT","rdata":"v=spf1 -all"}]}}"#;
        assert!(is_metadata_line(dns));
        let r = line_record(dns).unwrap();
        assert_eq!(
            r.values,
            [
                (MetaField::DnsQuery, "www.example.com".to_string()),
                (MetaField::DnsAnswerName, "www.l.example.com".to_string()),
                (MetaField::DnsAnswerAddr, "203.0.113.147".to_string()),
            ]
        );
        assert_eq!((r.flow_id, r.proto, r.src_port), (19, 17, 53));
        assert_eq!(r.ts_nanos, 1_704_067_205_083_091_000);

        let tls = br#"{"timestamp":"2024-01-01T00:18:33.975872+0000","flow_id":2440,"event_type":"tls","src_ip":"192.0.2.13","src_port":55523,"dest_ip":"198.51.100.130","dest_port":443,"proto":"TCP","tls":{"fingerprint":"DB:A7:e4:3e","sni":"www.example.org","ja3":{"hash":"ABC","string":"x"},"ja4":"t13d"}}"#;
        let r = line_record(tls).unwrap();
        let fields: Vec<_> = r
            .values
            .iter()
            .map(|(f, v)| (f.name(), v.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("tls.sni", "www.example.org"),
                ("tls.cert_fingerprint", "dba7e43e"),
                ("ja3.hash", "abc"),
                ("ja4.hash", "t13d"),
            ]
        );

        let http = br#"{"timestamp":"2024-01-01T00:00:05.180976+0000","flow_id":20,"event_type":"http","src_ip":"192.0.2.107","src_port":45691,"dest_ip":"198.51.100.147","dest_port":8080,"proto":"TCP","http":{"hostname":"www.Example.com","url":"/a?b=1"}}"#;
        let r = line_record(http).unwrap();
        assert_eq!(
            r.values[1],
            (
                MetaField::HttpUrl,
                "http://www.example.com:8080/a?b=1".to_string()
            )
        );
        // A file's digests, as the workers write them in `fileinfo`.
        let file = br#"{"timestamp":"2024-01-01T00:00:06.000000+0000","flow_id":20,"event_type":"fileinfo","src_ip":"198.51.100.147","src_port":8080,"dest_ip":"192.0.2.107","dest_port":45691,"proto":"TCP","http":{"hostname":"www.example.com","url":"/a"},"app_proto":"http","fileinfo":{"filename":"/a","gaps":false,"state":"CLOSED","md5":"900150983CD24FB0D6963F7D28E17F72","sha1":"a9993e364706816aba3e25717850c26c9cd0d89d","sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","stored":false,"size":3,"tx_id":0}}"#;
        assert!(is_metadata_line(file));
        let r = line_record(file).unwrap();
        let fields: Vec<_> = r
            .values
            .iter()
            .map(|(f, v)| (f.name(), v.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("fileinfo.md5", "900150983cd24fb0d6963f7d28e17f72"),
                ("fileinfo.sha1", "a9993e364706816aba3e25717850c26c9cd0d89d"),
                (
                    "fileinfo.sha256",
                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
                ),
            ]
        );
        assert_eq!(r.src_port, 8080, "the direction the file travelled");
        // Other records, and records without a value, are not metadata.
        assert!(line_record(br#"{"event_type":"flow","flow":{}}"#).is_none());
        assert!(line_record(
            br#"{"timestamp":"2024-01-01T00:00:05Z","event_type":"dns","dns":{}}"#
        )
        .is_none());
        assert!(!is_metadata_line(
            br#"{"event_type":"alert","x":"\"event_type\":\"dns\""}"#
        ));
    }
}
