use std::sync::Arc;

use super::*;
use crate::app::{AppConfig, AppCounters, Direction, Transport};

const BUNDLE: &str = r#"{"type": "bundle", "id": "bundle--1", "objects": [
  {"type": "indicator", "id": "indicator--addr", "pattern": "[ipv4-addr:value = '198.51.100.7']",
   "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z",
   "confidence": 90, "labels": ["scanner"]},
  {"type": "indicator", "id": "indicator--dst443", "pattern": "[network-traffic:dst_ref.value = '203.0.113.0/24' AND network-traffic:dst_port = 443]",
   "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z"},
  {"type": "indicator", "id": "indicator--dom", "pattern": "[domain-name:value = 'evil.example']",
   "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z"},
  {"type": "indicator", "id": "indicator--later", "pattern": "[ipv4-addr:value = '192.0.2.99']",
   "pattern_type": "stix", "valid_from": "2040-01-01T00:00:00Z"},
  {"type": "malware", "id": "malware--m", "name": "Evil RAT"},
  {"type": "relationship", "id": "relationship--1", "relationship_type": "indicates",
   "source_ref": "indicator--dom", "target_ref": "malware--m"}
]}"#;

fn matcher() -> Matcher {
    let mut s = stix::IntelSet::new();
    s.add_text("feed.json", BUNDLE.as_bytes()).unwrap();
    let c = s.compile(0);
    assert_eq!(c.report.active, 4, "{}", c.report);
    Matcher::new(Some(Arc::new(Table::compile(c))))
}

fn tuple(src: &str, sp: u16, dst: &str, dp: u16, proto: u8) -> FlowTuple {
    FlowTuple {
        zone: 0,
        proto,
        src: src.parse().unwrap(),
        src_port: sp,
        dst: dst.parse().unwrap(),
        dst_port: dp,
    }
}

/// 2021-06-01, inside every indicator's validity but the one that starts in 2040.
const NOW: Timestamp = Timestamp(1_622_505_600_000_000_000);

fn at(t: &FlowTuple) -> At<'_> {
    At {
        tuple: t,
        flow_id: 42,
        pcap_cnt: 7,
        now: NOW,
    }
}

fn records(
    m: &mut Matcher,
    f: impl FnOnce(&mut Matcher, &mut dyn FnMut(&[u8])),
) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    f(m, &mut |l: &[u8]| {
        out.push(serde_json::from_slice(l).unwrap())
    });
    out
}

#[test]
fn flow_addresses_hit_with_side_port_and_validity() {
    let mut m = matcher();
    let t = tuple("198.51.100.7", 5555, "192.0.2.1", 80, 6);
    let got = records(&mut m, |m, e| m.flow_start(at(&t), e));
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r["event_type"], "intel");
    assert_eq!(r["flow_id"], 42);
    assert_eq!(r["src_ip"], "198.51.100.7");
    assert_eq!(r["intel"]["indicator_id"], "indicator--addr");
    assert_eq!(r["intel"]["matched_field"], "src_ip");
    assert_eq!(r["intel"]["matched_value"], "198.51.100.7");
    assert_eq!(r["intel"]["confidence"], 90);
    assert_eq!(r["intel"]["labels"][0], "scanner");
    assert_eq!(r["intel"]["source"], "feed.json");
    // Destination side and port: only the server on 443 matches.
    let t = tuple("192.0.2.1", 5555, "203.0.113.9", 443, 6);
    let got = records(&mut m, |m, e| m.flow_start(at(&t), e));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["intel"]["matched_field"], "dest_ip");
    let t = tuple("192.0.2.1", 5555, "203.0.113.9", 80, 6);
    assert!(records(&mut m, |m, e| m.flow_start(at(&t), e)).is_empty());
    let t = tuple("203.0.113.9", 443, "192.0.2.1", 443, 6);
    assert!(
        records(&mut m, |m, e| m.flow_start(at(&t), e)).is_empty(),
        "source side"
    );
    // Not yet valid, and expired.
    let t = tuple("192.0.2.99", 1, "192.0.2.1", 2, 17);
    assert!(records(&mut m, |m, e| m.flow_start(at(&t), e)).is_empty());
    let late = At {
        now: Timestamp(1_900_000_000_000_000_000),
        ..at(&t)
    };
    let t2 = tuple("198.51.100.7", 1, "192.0.2.1", 2, 17);
    assert!(records(&mut m, |m, e| m.flow_start(At { tuple: &t2, ..late }, e)).is_empty());
    let c = m.counters();
    assert_eq!(
        (c.hits, c.constraint_mismatch, c.outside_validity),
        (2, 2, 2),
        "{c:?}"
    );
}

/// A DNS query for `name`, type A.
fn dns_query(name: &str) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in name.split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

#[test]
fn dns_queries_hit_the_domain_and_its_subdomains_with_context() {
    let mut m = matcher();
    let t = tuple("192.0.2.1", 5353, "192.0.2.53", 53, 17);
    for (name, hits) in [
        ("A.Evil.Example", 1),
        ("evil.example", 1),
        ("notevil.example", 0),
    ] {
        let mut app = AppLayer::new(Transport::Udp, 5353, 53);
        let cfg = AppConfig::default();
        let mut ctr = AppCounters::default();
        app.on_datagram(&cfg, Direction::ToServer, &dns_query(name), NOW, &mut ctr);
        let mut got = Vec::new();
        while let Some(r) = app.next_record() {
            got.extend(records(&mut m, |m, e| m.transaction(at(&t), &app, r, e)));
        }
        assert_eq!(got.len(), hits, "{name}");
        if let Some(r) = got.first() {
            assert_eq!(r["intel"]["matched_field"], "dns.query");
            assert_eq!(r["intel"]["matched_value"], name);
            assert_eq!(r["intel"]["related"][0]["type"], "malware");
            assert_eq!(r["intel"]["related"][0]["name"], "Evil RAT");
        }
    }
}

#[test]
fn an_empty_table_turns_matching_off() {
    let m = Matcher::new(Some(Arc::new(Table::empty())));
    assert!(!m.is_on());
    assert!(!Matcher::new(None).is_on());
}

#[test]
fn file_hash_indicators_hit_tracked_files() {
    // SHA-256 of "abc" (FIPS 180-2), as a STIX file indicator.
    let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    let bundle = format!(
        r#"{{"type": "bundle", "id": "bundle--f", "objects": [
          {{"type": "indicator", "id": "indicator--file", "pattern": "[file:hashes.'SHA-256' = '{sha}']",
           "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z"}}]}}"#
    );
    let mut s = stix::IntelSet::new();
    s.add_text("files.json", bundle.as_bytes()).unwrap();
    let table = Table::compile(s.compile(0));
    assert_eq!(table.stats().file_hashes, 1);
    let mut m = Matcher::new(Some(Arc::new(table)));
    let t = tuple("192.0.2.1", 40000, "192.0.2.80", 80, 6);
    let cfg = AppConfig {
        eve_logging: true,
        ..AppConfig::default()
    };
    let mut hits = Vec::new();
    for body in ["abc", "abd"] {
        let mut app = AppLayer::new(Transport::Tcp, 40000, 80);
        let mut ctr = AppCounters::default();
        let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{body}");
        app.on_stream(
            &cfg,
            Direction::ToServer,
            b"GET /f HTTP/1.1\r\nHost: h\r\n\r\n",
            NOW,
            &mut ctr,
        );
        app.on_stream(&cfg, Direction::ToClient, resp.as_bytes(), NOW, &mut ctr);
        while let Some(r) = app.next_record() {
            hits.extend(records(&mut m, |m, e| m.transaction(at(&t), &app, r, e)));
        }
    }
    assert_eq!(hits.len(), 1, "only the listed file: {hits:?}");
    assert_eq!(hits[0]["intel"]["matched_field"], "fileinfo.sha256");
    assert_eq!(hits[0]["intel"]["matched_value"], sha);
    assert_eq!(hits[0]["intel"]["indicator_id"], "indicator--file");
}

#[test]
fn file_hash_indicators_hit_mail_attachments() {
    // SHA-256 of "abc" (FIPS 180-2); "YWJj" is "abc" in base64.
    let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    let bundle = format!(
        r#"{{"type": "bundle", "id": "bundle--f", "objects": [
          {{"type": "indicator", "id": "indicator--file", "pattern": "[file:hashes.'SHA-256' = '{sha}']",
           "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z"}}]}}"#
    );
    let mut s = stix::IntelSet::new();
    s.add_text("files.json", bundle.as_bytes()).unwrap();
    let mut m = Matcher::new(Some(Arc::new(Table::compile(s.compile(0)))));
    let t = tuple("192.0.2.1", 40000, "192.0.2.25", 25, 6);
    let cfg = AppConfig {
        eve_logging: true,
        ..AppConfig::default()
    };
    let mut app = AppLayer::new(Transport::Tcp, 40000, 25);
    let mut ctr = AppCounters::default();
    app.on_stream(
        &cfg,
        Direction::ToClient,
        b"220 mx ESMTP\r\n",
        NOW,
        &mut ctr,
    );
    app.on_stream(
        &cfg,
        Direction::ToServer,
        b"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n\
          Content-Disposition: attachment; filename=a.txt\r\n\
          Content-Transfer-Encoding: base64\r\n\r\nYWJj\r\n.\r\n",
        NOW,
        &mut ctr,
    );
    let mut hits = Vec::new();
    while let Some(r) = app.next_record() {
        hits.extend(records(&mut m, |m, e| m.transaction(at(&t), &app, r, e)));
    }
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["intel"]["matched_value"], sha);
}
