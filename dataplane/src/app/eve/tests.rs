//! EVE records against hand-built transactions and against suricata-verify's expected output
//! for the same captures (`../shared/data/suricata-verify`, read in place).

use std::net::{IpAddr, Ipv4Addr};

use serde_json::Value;

use super::*;
use crate::app::testpcap::read_flows;
use crate::app::{AppConfig, AppCounters, Transport};
use crate::time::Timestamp;

fn cfg() -> AppConfig {
    AppConfig {
        eve_logging: true,
        ..AppConfig::default()
    }
}

fn env() -> Envelope<'static> {
    Envelope {
        ts: Timestamp::from_micros(1_700_000_000, 1),
        flow_id: 9,
        pcap_cnt: 3,
        event_type: "",
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        src_port: 40000,
        dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        dst_port: 80,
        proto: 6,
        vlan: crate::eve::Vlans::NONE,
        icmp: None,
    }
}

fn parse(buf: &[u8]) -> Value {
    serde_json::from_slice(buf).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(buf)))
}

/// Feeds `(dir, bytes)` to a TCP app layer and returns every record due along the way and at
/// the end, rendered and parsed.
fn tcp_records(dport: u16, pieces: &[(Direction, &[u8])], opts: &EveOptions) -> Vec<Value> {
    tcp_records_raw(dport, pieces, opts)
        .iter()
        .map(|r| parse(r.as_bytes()))
        .collect()
}

/// [`tcp_records`] as the JSON text written.
fn tcp_records_raw(dport: u16, pieces: &[(Direction, &[u8])], opts: &EveOptions) -> Vec<String> {
    let cfg = cfg();
    let mut ctr = AppCounters::default();
    let mut app = AppLayer::new(Transport::Tcp, 40000, dport);
    let mut out = Vec::new();
    let mut recs = Vec::new();
    let mut e = env();
    e.dst_port = dport;
    for (d, b) in pieces {
        app.on_stream(&cfg, *d, b, Timestamp(0), &mut ctr);
        app.take_completed(|a, r| {
            out.clear();
            assert!(write_app_record(&mut out, &e, a, r, opts));
            recs.push(String::from_utf8(out.clone()).expect("UTF-8"));
        });
    }
    app.on_end(&cfg, Direction::ToServer, Timestamp(0), &mut ctr);
    app.on_end(&cfg, Direction::ToClient, Timestamp(0), &mut ctr);
    app.flush(|a, r| {
        out.clear();
        assert!(write_app_record(&mut out, &e, a, r, opts));
        recs.push(String::from_utf8(out.clone()).expect("UTF-8"));
    });
    recs
}

#[test]
fn http_record_fields() {
    let req: &[u8] =
        b"GET /index.html?a=1 HTTP/1.1\r\nHost: Suricata.IO:8080\r\nUser-Agent: UA/1\r\n\
        Referer: http://r/\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n";
    let resp: &[u8] =
        b"HTTP/1.1 206 Partial\r\nLocation: /new\r\nContent-Type: text/html; charset=utf-8\r\n\
        Content-Range: bytes 0-2/10\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let raw = tcp_records_raw(
        80,
        &[(Direction::ToServer, req), (Direction::ToClient, resp)],
        &EveOptions::default(),
    );
    // The response body is a file: its record follows the transaction's.
    assert_eq!(raw.len(), 2);
    let f = &parse(raw[1].as_bytes());
    assert_eq!(f["event_type"], "fileinfo");
    assert_eq!(
        f["src_port"], 80,
        "written in the direction the file travelled"
    );
    assert_eq!(f["http"]["url"], "/index.html?a=1");
    assert_eq!(f["app_proto"], "http");
    let fi = &f["fileinfo"];
    assert_eq!(fi["filename"], "/index.html");
    assert_eq!(
        (fi["size"].as_u64(), fi["tx_id"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(
        (fi["state"].as_str(), fi["gaps"].as_bool()),
        (Some("CLOSED"), Some(false))
    );
    assert_eq!(fi["md5"], "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(fi["stored"], false);
    let v = &parse(raw[0].as_bytes());
    assert_eq!(v["event_type"], "http");
    assert_eq!(v["tx_id"], 0);
    assert_eq!(v["src_port"], 40000);
    assert_eq!(v["dest_port"], 80);
    assert!(
        v.get("app_proto").is_none(),
        "http records carry no app_proto"
    );
    let h = &v["http"];
    assert_eq!(h["hostname"], "suricata.io");
    assert_eq!(h["http_port"], 8080);
    assert_eq!(h["url"], "/index.html?a=1");
    assert_eq!(h["http_user_agent"], "UA/1");
    assert_eq!(h["xff"], "1.2.3.4");
    assert_eq!(h["http_content_type"], "text/html");
    assert_eq!(h["content_range"]["raw"], "bytes 0-2/10");
    assert_eq!(h["content_range"]["start"], 0);
    assert_eq!(h["content_range"]["end"], 2);
    assert_eq!(h["content_range"]["size"], 10);
    assert_eq!(h["http_refer"], "http://r/");
    assert_eq!(h["http_method"], "GET");
    assert_eq!(h["protocol"], "HTTP/1.1");
    assert_eq!(h["status"], 206);
    assert_eq!(h["redirect"], "/new");
    // libhtp's message length counts the chunk framing but not the trailer section after the
    // last chunk: "3\r\nabc\r\n0\r\n" (its http-evader-059 case: 17 chunks of 4 give 156).
    assert_eq!(h["length"], 11);
    // Suricata's field order, read from the text written.
    let body = &raw[0][raw[0].find("\"http\":{").expect("http object")..];
    let mut keys: Vec<(usize, &str)> = h
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (body.find(&format!("\"{k}\":")).expect("key"), k.as_str()))
        .collect();
    keys.sort();
    let keys: Vec<&str> = keys.into_iter().map(|(_, k)| k).collect();
    assert_eq!(
        keys,
        [
            "hostname",
            "http_port",
            "url",
            "http_user_agent",
            "xff",
            "http_content_type",
            "content_range",
            "http_refer",
            "http_method",
            "protocol",
            "status",
            "redirect",
            "length"
        ]
    );
}

#[test]
fn http_waits_for_the_response_and_flushes_unanswered() {
    let cfg = cfg();
    let mut ctr = AppCounters::default();
    let mut app = AppLayer::new(Transport::Tcp, 40000, 80);
    app.on_stream(
        &cfg,
        Direction::ToServer,
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
        Timestamp(0),
        &mut ctr,
    );
    assert_eq!(app.next_record(), None, "no response yet");
    app.on_stream(
        &cfg,
        Direction::ToClient,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        Timestamp(0),
        &mut ctr,
    );
    assert_eq!(app.next_record(), Some(TxRef::Http(0)));
    assert_eq!(app.next_record(), None, "each transaction once");
    assert_eq!(app.next_record_at_end(), Some(TxRef::Http(1)));
    assert_eq!(app.next_record_at_end(), None);
    let mut out = Vec::new();
    assert!(write_app_record(
        &mut out,
        &env(),
        &app,
        TxRef::Http(1),
        &EveOptions::default()
    ));
    let v = parse(&out);
    assert_eq!(v["http"]["url"], "/b");
    assert_eq!(v["http"]["length"], 0);
    assert!(v["http"].get("status").is_none());
    // Gone transactions write nothing.
    out.clear();
    assert!(!write_app_record(
        &mut out,
        &env(),
        &app,
        TxRef::Http(7),
        &EveOptions::default()
    ));
    assert!(out.is_empty());
}

#[test]
fn logging_is_a_condition_of_retirement() {
    let cfg = cfg();
    let mut ctr = AppCounters::default();
    let mut app = AppLayer::new(Transport::Tcp, 40000, 80);
    let ex = |app: &mut AppLayer, ctr: &mut AppCounters, path: &str| {
        let req = format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n");
        app.on_stream(&cfg, Direction::ToServer, req.as_bytes(), Timestamp(0), ctr);
        app.on_stream(
            &cfg,
            Direction::ToClient,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            Timestamp(0),
            ctr,
        );
        if let AppState::Http(s) = app.state_mut() {
            for t in s.txs_mut() {
                t.take_changes();
            }
        }
    };
    ex(&mut app, &mut ctr, "/one");
    // Inspected and complete, but not logged: the next transaction must not recycle it.
    ex(&mut app, &mut ctr, "/two");
    assert_eq!(app.next_record(), Some(TxRef::Http(0)));
    assert_eq!(app.next_record(), Some(TxRef::Http(1)));
    // Logged now: the next transaction recycles both.
    ex(&mut app, &mut ctr, "/three");
    let AppState::Http(s) = app.state() else {
        panic!("http")
    };
    assert_eq!(s.txs().map(|t| t.id).collect::<Vec<_>>(), [2]);
    assert_eq!(ctr.eve_unlogged, 0);
}

#[test]
fn transaction_cap_counts_unlogged() {
    let cfg = AppConfig {
        http_max_txs: 2,
        ..cfg()
    };
    let mut ctr = AppCounters::default();
    let mut app = AppLayer::new(Transport::Tcp, 40000, 80);
    for _ in 0..4 {
        app.on_stream(
            &cfg,
            Direction::ToServer,
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
            Timestamp(0),
            &mut ctr,
        );
    }
    assert_eq!(ctr.eve_unlogged, 2);
}

/// A response for `www.example.com`: CNAME, A, AAAA, TXT with two strings, an SOA in the
/// authority section and an OPT record with a cookie option.
fn dns_response() -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0x81, 0xc0, 0, 1, 0, 4, 0, 1, 0, 2];
    m.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
    m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6]);
    m.extend_from_slice(b"\x03web\xc0\x10");
    m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 93, 184, 216, 34]);
    m.extend_from_slice(&[0xc0, 12, 0, 28, 0, 1, 0, 0, 1, 0, 0, 16]);
    m.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    m.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 5, 0, 6]);
    m.extend_from_slice(b"\x02ab\x02cd");
    // SOA: mname ns.example.com (compressed), rname admin.example.com, 5 numbers.
    m.extend_from_slice(&[0xc0, 16, 0, 6, 0, 1, 0, 0, 0, 9, 0, 33]);
    m.extend_from_slice(b"\x02ns\xc0\x10\x05admin\xc0\x10");
    for n in [2024u32, 7200, 3600, 1_209_600, 300] {
        m.extend_from_slice(&n.to_be_bytes());
    }
    // OPT with no options (left out), then OPT with a cookie option (written).
    m.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 6, 0, 10, 0, 2, 0xab, 0xcd]);
    m
}

#[test]
fn dns_version_3_objects() {
    let cfg = cfg();
    let mut ctr = AppCounters::default();
    let mut app = AppLayer::new(Transport::Udp, 5353, 53);
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
    app.on_datagram(&cfg, Direction::ToServer, &q, Timestamp(0), &mut ctr);
    app.on_datagram(
        &cfg,
        Direction::ToClient,
        &dns_response(),
        Timestamp(0),
        &mut ctr,
    );
    // The response sets the Z bit on purpose (it must show in the record).
    assert_eq!(
        app.events.iter().collect::<Vec<_>>(),
        [crate::app::AppEvent::DnsZFlagSet]
    );
    let mut e = env();
    e.proto = 17;
    e.dst_port = 53;
    let mut recs = Vec::new();
    app.take_completed(|a, r| {
        let mut out = Vec::new();
        assert!(write_app_record(&mut out, &e, a, r, &EveOptions::default()));
        recs.push(parse(&out));
    });
    assert_eq!(recs.len(), 2);
    let (rq, rs) = (&recs[0], &recs[1]);
    // Requests keep the flow's orientation; responses are written server to client.
    assert_eq!(rq["src_ip"], "10.0.0.1");
    assert_eq!(rq["dest_port"], 53);
    assert_eq!(rs["src_ip"], "10.0.0.2");
    assert_eq!(rs["src_port"], 53);
    assert!(rq.get("tx_id").is_none(), "dns records carry tx_id inside");
    let d = &rq["dns"];
    assert_eq!(d["version"], 3);
    assert_eq!(d["type"], "request");
    assert_eq!(d["tx_id"], 0);
    assert_eq!(d["id"], 0x1234);
    assert_eq!(d["flags"], "100");
    assert_eq!(d["rd"], true);
    assert!(d.get("qr").is_none());
    assert_eq!(d["opcode"], 0);
    assert_eq!(d["rcode"], "NOERROR");
    assert_eq!(d["queries"][0]["rrname"], "www.example.com");
    assert_eq!(d["queries"][0]["rrtype"], "A");
    assert!(d.get("answers").is_none() && d.get("grouped").is_none());

    let d = &rs["dns"];
    assert_eq!(d["type"], "response");
    assert_eq!(d["tx_id"], 1);
    assert_eq!(d["flags"], "81c0");
    assert_eq!(
        (
            d["qr"].clone(),
            d["rd"].clone(),
            d["ra"].clone(),
            d["z"].clone()
        ),
        (true.into(), true.into(), true.into(), true.into())
    );
    let a = d["answers"].as_array().unwrap();
    assert_eq!(a.len(), 5, "TXT strings are separate entries: {a:?}");
    assert_eq!(a[0]["rrtype"], "CNAME");
    assert_eq!(a[0]["rdata"], "web.example.com");
    assert_eq!(a[0]["ttl"], 60);
    assert_eq!(a[1]["rdata"], "93.184.216.34");
    assert_eq!(a[2]["rdata"], "2001:0db8:0000:0000:0000:0000:0000:0001");
    assert_eq!(a[3]["rdata"], "ab");
    assert_eq!(a[4]["rdata"], "cd");
    assert_eq!(d["grouped"]["A"][0], "93.184.216.34");
    assert_eq!(d["grouped"]["TXT"], serde_json::json!(["ab", "cd"]));
    assert_eq!(d["grouped"]["CNAME"][0], "web.example.com");
    let soa = &d["authorities"][0];
    assert_eq!(soa["rrname"], "example.com");
    assert_eq!(soa["rrtype"], "SOA");
    assert!(soa.get("rdata").is_none());
    assert_eq!(soa["soa"]["mname"], "ns.example.com");
    assert_eq!(soa["soa"]["rname"], "admin.example.com");
    assert_eq!(soa["soa"]["serial"], 2024);
    assert_eq!(soa["soa"]["minimum"], 300);
    let add = d["additionals"].as_array().unwrap();
    assert_eq!(add.len(), 1, "empty OPT left out");
    assert_eq!(add[0]["rrname"], "");
    assert_eq!(add[0]["rrtype"], "OPT");
    assert_eq!(add[0]["opt"][0]["code"], 10);
    assert_eq!(add[0]["opt"][0]["data"], "abcd");

    // In an alert: the detailed form only.
    let mut out = Vec::new();
    let mut j = Json::new(&mut out);
    assert!(write_alert_app_metadata(&mut j, &app, Some(1)));
    j.end();
    let v = parse(&out);
    assert_eq!(v["dns"]["answers"][1]["rdata"], "93.184.216.34");
    assert!(v["dns"].get("grouped").is_none());
    assert!(v.get("ts_progress").is_none());
}

#[test]
fn malformed_dns_messages_are_not_records() {
    let cfg = cfg();
    let mut ctr = AppCounters::default();
    let mut app = AppLayer::new(Transport::Udp, 5353, 53);
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(b"\x01a\x00\x00\x01\x00\x01");
    // Truncated, then a response travelling to the server, then a good query.
    app.on_datagram(&cfg, Direction::ToServer, &q[..14], Timestamp(0), &mut ctr);
    let mut r = q.clone();
    r[2] |= 0x80;
    app.on_datagram(&cfg, Direction::ToServer, &r, Timestamp(0), &mut ctr);
    app.on_datagram(&cfg, Direction::ToServer, &q, Timestamp(0), &mut ctr);
    assert_eq!(app.next_record(), Some(TxRef::Dns(2)));
    assert_eq!(app.next_record(), None);
    // Its dns.tx_id counts only well-formed messages, as Suricata's transaction ids do.
    let mut out = Vec::new();
    let opts = EveOptions::default();
    assert!(write_app_record(
        &mut out,
        &env(),
        &app,
        TxRef::Dns(2),
        &opts
    ));
    assert_eq!(parse(&out)["dns"]["tx_id"], 0);
}

#[test]
fn alert_metadata_and_flow_fields() {
    let cfg = cfg();
    let mut ctr = AppCounters::default();
    let mut app = AppLayer::new(Transport::Tcp, 40000, 80);
    app.on_stream(
        &cfg,
        Direction::ToServer,
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
        Timestamp(0),
        &mut ctr,
    );
    let mut out = Vec::new();
    let mut j = Json::new(&mut out);
    write_flow_app_fields(&mut j, &app);
    assert!(write_alert_app_metadata(&mut j, &app, Some(1)));
    assert!(!write_alert_app_metadata(&mut j, &app, None));
    assert!(!write_alert_app_metadata(&mut j, &app, Some(9)));
    j.end();
    let v = parse(&out);
    assert_eq!(v["app_proto"], "http");
    assert!(v.get("app_proto_orig").is_none());
    assert_eq!(v["ts_progress"], "request_complete");
    assert_eq!(v["tc_progress"], "response_started");
    // The second request: transaction 1, as Suricata numbers them from 0.
    assert_eq!(v["tx_id"], 1);
    assert_eq!(v["http"]["url"], "/b");
    assert_eq!(v["http"]["length"], 0);

    // Unknown protocol: no app_proto at all; failed: "failed".
    let unknown = AppLayer::new(Transport::Tcp, 1, 2);
    let mut out = Vec::new();
    let mut j = Json::new(&mut out);
    write_flow_app_fields(&mut j, &unknown);
    j.end();
    assert_eq!(out, b"{}");
}

#[test]
fn websocket_frames_are_records() {
    let recs = tcp_records(
        80,
        &[
            (
                Direction::ToServer,
                b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
            ),
            (
                Direction::ToClient,
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi",
            ),
            (
                Direction::ToServer,
                &[0x82, 0x81, 0x01, 0x02, 0x03, 0x04, 0xff],
            ),
        ],
        &EveOptions::default(),
    );
    let types: Vec<&str> = recs
        .iter()
        .map(|r| r["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["http", "websocket", "websocket"]);
    assert_eq!(recs[0]["http"]["status"], 101);
    let server = &recs[1];
    assert_eq!(
        server["src_port"], 80,
        "a server frame is written server to client"
    );
    assert_eq!(server["websocket"]["opcode"], "text");
    assert_eq!(server["websocket"]["fin"], true);
    assert!(server["websocket"].get("mask").is_none());
    let client = &recs[2];
    assert_eq!(client["src_port"], 40000);
    assert_eq!(client["websocket"]["opcode"], "binary");
    assert_eq!(client["websocket"]["mask"], 0x0102_0304);

    // Alert metadata names frames by their flow-wide id: 0 the server's, 1 the client's.
    let cfg = cfg();
    let mut ctr = AppCounters::default();
    let mut app = AppLayer::new(Transport::Tcp, 40000, 80);
    app.on_stream(
        &cfg,
        Direction::ToServer,
        b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
        Timestamp(0),
        &mut ctr,
    );
    app.on_stream(
        &cfg,
        Direction::ToClient,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi",
        Timestamp(0),
        &mut ctr,
    );
    app.on_stream(
        &cfg,
        Direction::ToServer,
        &[0x82, 0x81, 0x01, 0x02, 0x03, 0x04, 0xff],
        Timestamp(0),
        &mut ctr,
    );
    for (id, opcode) in [(0, "text"), (1, "binary")] {
        let mut out = Vec::new();
        let mut j = Json::new(&mut out);
        write_flow_app_fields(&mut j, &app);
        assert!(write_alert_app_metadata(&mut j, &app, Some(id)));
        j.end();
        let v = parse(&out);
        assert_eq!(v["app_proto"], "websocket");
        assert_eq!(v["app_proto_orig"], "http");
        assert_eq!(v["websocket"]["opcode"], opcode);
    }
}

#[test]
fn helpers() {
    assert_eq!(host_port(b"h:8080"), Some(8080));
    assert_eq!(host_port(b"[::1]:81"), Some(81));
    assert_eq!(host_port(b"[::1]"), None);
    assert_eq!(host_port(b"h"), None);
    assert_eq!(host_port(b"h:99999"), None);
    assert_eq!(host_port(b"h:"), None);
    assert_eq!(content_range(b"bytes 0-99/1234"), Some((0, 99, 1234)));
    assert_eq!(content_range(b"bytes */1234"), Some((-1, -1, 1234)));
    assert_eq!(content_range(b"bytes 5-9/*"), Some((5, 9, -1)));
    assert_eq!(content_range(b"bytes x"), None);
    let mut b = [0u8; 5];
    assert_eq!(decimal(0, &mut b), "0");
    assert_eq!(decimal(65535, &mut b), "65535");
}

// ---- suricata-verify: records compared with the test's expected EVE output ----

/// Runs a capture flow by flow through the app layer as the pipeline would (records after
/// every packet, the rest at flow end) and returns the records; `None` if absent.
fn sv_records(pcap: &str, opts: &EveOptions) -> Option<Vec<Value>> {
    let path = vocab::testing::shared_data(format!("suricata-verify/tests/{pcap}"))?;
    let flows = read_flows(&path.to_string_lossy()).expect("capture reads");
    let cfg = cfg();
    let mut ctr = AppCounters::default();
    let mut recs = Vec::new();
    let mut out = Vec::new();
    for f in flows {
        let transport = if f.proto == 6 {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        let mut app = AppLayer::new(transport, f.client.1, f.server.1);
        let mut e = Envelope {
            ts: Timestamp(0),
            flow_id: 1,
            pcap_cnt: 0,
            event_type: "",
            src: f.client.0,
            src_port: f.client.1,
            dst: f.server.0,
            dst_port: f.server.1,
            proto: f.proto,
            vlan: crate::eve::Vlans::NONE,
            icmp: None,
        };
        let mut emit = |app: &AppLayer, r: TxRef, e: &Envelope<'_>| {
            out.clear();
            assert!(write_app_record(&mut out, e, app, r, opts));
            recs.push(parse(&out));
        };
        for p in &f.pieces {
            let dir = if p.to_server {
                Direction::ToServer
            } else {
                Direction::ToClient
            };
            let now = Timestamp(p.ts);
            match transport {
                Transport::Tcp => app.on_stream(&cfg, dir, &p.data, now, &mut ctr),
                Transport::Udp => app.on_datagram(&cfg, dir, &p.data, now, &mut ctr),
            };
            e.ts = now;
            e.pcap_cnt = p.pcap_cnt;
            app.take_completed(|a, r| emit(a, r, &e));
        }
        app.on_end(&cfg, Direction::ToServer, e.ts, &mut ctr);
        app.on_end(&cfg, Direction::ToClient, e.ts, &mut ctr);
        app.flush(|a, r| emit(a, r, &e));
    }
    Some(recs)
}

fn of_type<'a>(recs: &'a [Value], t: &str) -> Vec<&'a Value> {
    recs.iter().filter(|r| r["event_type"] == t).collect()
}

// tests/tcp-fastopen-07/test.yaml: one http record with these fields.
#[test]
fn sv_tcp_fastopen_07_http() {
    let Some(recs) = sv_records(
        "tcp-fastopen-07/tcp_fastopen_segmentation.pcap",
        &EveOptions::default(),
    ) else {
        return;
    };
    // The filter matches records with all the listed fields: exactly one does.
    let http: Vec<_> = of_type(&recs, "http")
        .into_iter()
        .filter(|r| r["http"]["hostname"] == "10.0.0.61")
        .collect();
    assert_eq!(http.len(), 1, "{recs:?}");
    let v = http[0];
    assert_eq!(v["proto"], "TCP");
    assert_eq!(v["dest_port"], 80);
    assert_eq!(v["tx_id"], 0);
    let h = &v["http"];
    assert_eq!(h["hostname"], "10.0.0.61");
    assert_eq!(
        h["url"],
        "//a1a2a3a4a5a6a7a8a9a0b1b2b3b4b5b6b7b8b9b0c1c2c3c4c5c6c7c8c9c0d1d2d3d4d5d6d7d8d9d0"
    );
    assert_eq!(h["http_user_agent"], "czxt2s");
    assert_eq!(h["http_content_type"], "text/html");
    assert_eq!(h["http_method"], "GET");
    assert_eq!(h["protocol"], "HTTP/1.1");
    assert_eq!(h["status"], 404);
    assert_eq!(h["length"], 153);
}

// tests/detect-engine-proto/test.yaml (pcap of tcp-fastopen-01): two http records.
#[test]
fn sv_tfo_http_count() {
    let Some(recs) = sv_records("tcp-fastopen-01/tfo.pcap", &EveOptions::default()) else {
        return;
    };
    assert_eq!(of_type(&recs, "http").len(), 2, "{recs:?}");
}

// tests/bug-6269-01/test.yaml: one http record with this url.
#[test]
fn sv_bug_6269_url() {
    let Some(recs) = sv_records("bug-6269-01/input.pcap", &EveOptions::default()) else {
        return;
    };
    let http = of_type(&recs, "http");
    assert_eq!(http.len(), 1, "{recs:?}");
    assert_eq!(http[0]["http"]["url"], "/test_lastline_blocking");
}

// tests/dns/dns-forward-pointer/test.yaml: the request and the response records.
#[test]
fn sv_dns_forward_pointer() {
    let Some(recs) = sv_records("dns/dns-forward-pointer/input.pcap", &EveOptions::default())
    else {
        return;
    };
    let dns = of_type(&recs, "dns");
    let req = dns
        .iter()
        .find(|r| r["pcap_cnt"] == 1)
        .expect("request record");
    assert_eq!(req["src_ip"], "10.16.1.11");
    assert_eq!(req["src_port"], 51721);
    assert_eq!(req["dest_ip"], "8.8.8.8");
    assert_eq!(req["dest_port"], 53);
    assert_eq!(req["proto"], "UDP");
    let d = &req["dns"];
    assert_eq!(d["type"], "request");
    assert_eq!(d["id"], 36356);
    assert_eq!(d["queries"][0]["rrname"], "codemonkey.net");
    assert_eq!(d["queries"][0]["rrtype"], "A");
    assert_eq!(d["queries"][1]["rrname"], "codemonkey.net");
    assert_eq!(d["queries"][1]["rrtype"], "A");
    let resp = dns
        .iter()
        .find(|r| r["pcap_cnt"] == 2)
        .expect("response record");
    assert_eq!(resp["src_ip"], "8.8.8.8");
    assert_eq!(resp["src_port"], 53);
    assert_eq!(resp["dest_ip"], "10.16.1.11");
    assert_eq!(resp["dest_port"], 51721);
    let d = &resp["dns"];
    assert_eq!(d["type"], "response");
    assert_eq!(d["answers"][0]["rdata"], "152.53.82.239");
    assert_eq!(d["answers"][0]["rrname"], "codemonkey.net");
    assert_eq!(d["answers"][0]["rrtype"], "A");
    assert_eq!(d["answers"][0]["ttl"], 300);
    assert_eq!(d["queries"][0]["rrname"], "codemonkey.net");
    assert_eq!(d["queries"][0]["rrtype"], "A");
}

// tests/dns/dns-rcode/test.yaml: alerts on the response carry `dns.rcode: NXDOMAIN`, written
// server to client.
#[test]
fn sv_dns_rcode_alert_metadata() {
    let Some(path) = vocab::testing::shared_data("suricata-verify/tests/dns/dns-rcode/input.pcap")
    else {
        return;
    };
    let flows = read_flows(&path.to_string_lossy()).expect("capture reads");
    let cfg = cfg();
    let mut ctr = AppCounters::default();
    let mut checked = 0;
    for f in flows.iter().filter(|f| f.proto == 17) {
        let mut app = AppLayer::new(Transport::Udp, f.client.1, f.server.1);
        for p in &f.pieces {
            let dir = if p.to_server {
                Direction::ToServer
            } else {
                Direction::ToClient
            };
            app.on_datagram(&cfg, dir, &p.data, Timestamp(p.ts), &mut ctr);
        }
        let AppState::Dns(s) = app.state() else {
            continue;
        };
        let resp: Vec<u64> = s
            .txs()
            .filter(|t| t.dir == Some(Direction::ToClient))
            .map(|t| t.tx_id)
            .collect();
        for id in resp {
            let mut out = Vec::new();
            let mut j = Json::new(&mut out);
            write_flow_app_fields(&mut j, &app);
            assert!(write_alert_app_metadata(&mut j, &app, Some(id)));
            j.end();
            let v = parse(&out);
            assert_eq!(v["app_proto"], "dns");
            assert_eq!(v["dns"]["type"], "response");
            assert_eq!(v["dns"]["rcode"], "NXDOMAIN");
            checked += 1;
        }
        let mut out = Vec::new();
        let mut recs = Vec::new();
        let e = Envelope {
            ts: Timestamp(0),
            flow_id: 1,
            pcap_cnt: 0,
            event_type: "",
            src: f.client.0,
            src_port: f.client.1,
            dst: f.server.0,
            dst_port: f.server.1,
            proto: 17,
            vlan: crate::eve::Vlans::NONE,
            icmp: None,
        };
        app.take_completed(|a, r| {
            out.clear();
            assert!(write_app_record(&mut out, &e, a, r, &EveOptions::default()));
            recs.push(parse(&out));
        });
        for r in recs.iter().filter(|r| r["dns"]["type"] == "response") {
            assert_eq!(r["src_ip"], "8.8.4.4");
            assert_eq!(r["src_port"], 53);
            assert_eq!(r["dest_ip"], "10.16.1.11");
            assert_eq!(r["dest_port"], 59465);
        }
    }
    assert!(checked > 0, "a response in the capture");
}

// tests/issues/issue-4759.1/test.yaml: four dns records (DNS over TCP).
#[test]
fn sv_dns_tcp_count() {
    let Some(recs) = sv_records("issues/issue-4759.1/tcpdns.pcap", &EveOptions::default()) else {
        return;
    };
    assert_eq!(of_type(&recs, "dns").len(), 4, "{recs:?}");
}

// tests/bug-5162/test.yaml: four dns records among the SMB/DCERPC traffic. Osprey also
// detects DNS by content on other ports (here LLMNR on 5355), where Suricata probes only port
// 53: those two records are Osprey's own.
#[test]
fn sv_bug_5162_dns_count() {
    let Some(recs) = sv_records("bug-5162/input.pcap", &EveOptions::default()) else {
        return;
    };
    let dns = of_type(&recs, "dns");
    let port53 = dns
        .iter()
        .filter(|d| d["dest_port"] == 53 || d["src_port"] == 53)
        .count();
    assert_eq!(port53, 4, "{dns:?}");
}

// tests/detect-bytetest-04/test.yaml (pcap of detect-bytetest-03): one dns record.
#[test]
fn sv_bytetest_dns_count() {
    let Some(recs) = sv_records("detect-bytetest-03/input.pcap", &EveOptions::default()) else {
        return;
    };
    assert_eq!(of_type(&recs, "dns").len(), 1, "{recs:?}");
}

// tests/sslv2-tls-upgrade-01/test.yaml: one tls record with these certificate fields.
#[test]
fn sv_sslv2_upgrade_tls() {
    let Some(recs) = sv_records(
        "sslv2-tls-upgrade-01/ssl-v2-s1.pcap",
        &EveOptions::default(),
    ) else {
        return;
    };
    let tls = of_type(&recs, "tls");
    assert_eq!(tls.len(), 1, "{recs:?}");
    let t = &tls[0]["tls"];
    assert_eq!(
        t["subject"],
        "C=US, ST=California, L=Sunnyvale, O=NetScreen Technologies, Inc., OU=Security Team, \
         CN=sigdb.secteam.netscreen.com, Email=aturner@netscreen.com"
    );
    assert_eq!(
        t["issuerdn"],
        "C=US, ST=California, L=Sunnyvale, O=OneSecure, Inc., OU=Fulfillment, \
         CN=jumper.sv-staging.onesecure.com, Email=fulfillment@onesecure.com"
    );
    assert_eq!(t["serial"], "55");
    assert_eq!(
        t["fingerprint"],
        "8c:90:bd:2a:b3:ae:e6:0b:d0:ea:b7:86:b0:1a:e4:b1:cc:57:ef:22"
    );
    assert_eq!(t["version"], "TLSv1");
    assert_eq!(t["notbefore"], "2003-03-29T00:57:44");
    assert_eq!(t["notafter"], "2008-03-27T00:57:44");
}

// tests/tls/tls-issuerdn and tls-subject (pcap of tls-cert-issuer): four tls records.
#[test]
fn sv_tls_cert_issuer() {
    let Some(recs) = sv_records("tls/tls-cert-issuer/tls.pcap", &EveOptions::default()) else {
        return;
    };
    let tls = of_type(&recs, "tls");
    assert_eq!(tls.len(), 4, "{recs:?}");
    for t in tls {
        assert_eq!(
            t["tls"]["issuerdn"],
            "C=FR, ST=IDF, L=Paris, O=Stamus, CN=SELKS"
        );
        assert_eq!(
            t["tls"]["subject"],
            "C=FR, ST=IDF, L=Paris, O=Stamus, CN=SELKS"
        );
    }
}

// tests/tls/tls-client-hello-frag-01/test.yaml: one tls record with this SNI.
#[test]
fn sv_tls_client_hello_frag_sni() {
    let Some(recs) = sv_records(
        "tls/tls-client-hello-frag-01/dump_mtu300.pcap",
        &EveOptions::default(),
    ) else {
        return;
    };
    let tls = of_type(&recs, "tls");
    assert_eq!(tls.len(), 1, "{recs:?}");
    assert_eq!(tls[0]["tls"]["sni"], "www.google.com");
    assert!(tls[0]["tls"].get("ja3").is_none(), "ja3 is off by default");
}

// Fingerprints when enabled (values checked independently in svtests.rs).
#[test]
fn sv_tls_fingerprints_when_enabled() {
    let opts = EveOptions {
        ja3: true,
        ja4: true,
    };
    let Some(recs) = sv_records("tls/tls-subject-zero/input.pcap", &opts) else {
        return;
    };
    let tls = of_type(&recs, "tls");
    assert!(!tls.is_empty(), "{recs:?}");
    let t = &tls[0]["tls"];
    assert_eq!(t["ja3"]["hash"], "5182f54f9c6e99d117d9dde3fa2b4cff");
    assert_eq!(t["ja4"], "t12d260700_db6bc8f7861c_595eacc76d13");
    assert!(t["ja3s"]["string"].as_str().unwrap().starts_with("771,"));
    assert_eq!(t["notbefore"], "2021-12-15T19:27:42");
    assert_eq!(t["notafter"], "2022-12-15T19:27:42");
    assert_eq!(t["version"], "TLS 1.2");
}

proptest::proptest! {
    /// Any bytes through any protocol's parser, in any split: every record due renders as one
    /// valid JSON object with its protocol object, each transaction is due once, and alerts'
    /// metadata is valid JSON too (the `app_eve` fuzz target checks the same).
    #[test]
    fn any_transaction_renders_valid_json(
        proto in 0u8..4,
        pieces in proptest::collection::vec(
            (proptest::bool::ANY, proptest::collection::vec(proptest::num::u8::ANY, 0..300)),
            0..8,
        ),
    ) {
        let cfg = cfg();
        let mut ctr = AppCounters::default();
        let (transport, dport, prefix): (Transport, u16, &[u8]) = match proto {
            0 => (Transport::Tcp, 80, b"GET / HTTP/1.1\r\nHost: a\r\n"),
            1 => (Transport::Udp, 53, b""),
            2 => (Transport::Tcp, 443, b"\x16\x03\x01\x00\x30\x01\x00\x00\x2c\x03\x03"),
            _ => (Transport::Tcp, 80, b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"),
        };
        let mut app = AppLayer::new(transport, 40000, dport);
        let mut out = Vec::new();
        let all = EveOptions { ja3: true, ja4: true };
        let mut seen: Vec<TxRef> = Vec::new();
        let mut check = |app: &AppLayer, r: TxRef| -> Result<(), proptest::test_runner::TestCaseError> {
            proptest::prop_assert!(!seen.contains(&r), "{:?} due twice", r);
            seen.push(r);
            out.clear();
            let written = write_app_record(&mut out, &env(), app, r, &all);
            proptest::prop_assert!(written);
            let v: Value = serde_json::from_slice(&out)
                .map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&out))))?;
            proptest::prop_assert!(v.get(r.event_type()).is_some());
            let mut meta = Vec::new();
            let mut j = Json::new(&mut meta);
            write_alert_app_metadata_with(&mut j, app, Some(0), &all);
            j.end();
            proptest::prop_assert!(serde_json::from_slice::<Value>(&meta).is_ok());
            Ok(())
        };
        let mut first = true;
        for (to_server, bytes) in &pieces {
            let dir = if *to_server || first { Direction::ToServer } else { Direction::ToClient };
            let mut data = if first { prefix.to_vec() } else { Vec::new() };
            first = false;
            data.extend_from_slice(bytes);
            if proto == 3 && dir == Direction::ToClient {
                data = [b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n\r\n".as_slice(), bytes].concat();
            }
            match transport {
                Transport::Tcp => app.on_stream(&cfg, dir, &data, Timestamp(0), &mut ctr),
                Transport::Udp => app.on_datagram(&cfg, dir, &data, Timestamp(0), &mut ctr),
            };
            let mut res = Ok(());
            app.take_completed(|a, r| { if res.is_ok() { res = check(a, r); } });
            res?;
        }
        app.on_end(&cfg, Direction::ToServer, Timestamp(0), &mut ctr);
        app.on_end(&cfg, Direction::ToClient, Timestamp(0), &mut ctr);
        let mut res = Ok(());
        app.flush(|a, r| { if res.is_ok() { res = check(a, r); } });
        res?;
        proptest::prop_assert_eq!(app.next_record_at_end(), None);
    }
}
