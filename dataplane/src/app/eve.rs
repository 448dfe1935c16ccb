//! EVE JSON rendering of app-layer records, in Suricata's field names (off the hot path: the
//! control plane or an exporter calls these with a finished transaction).
//!
//! [`http`], [`dns`] and [`tls`] build the protocol object that goes under the record's
//! `http`/`dns`/`tls` key, both for `event_type: http|dns|tls` records and as the transaction
//! metadata inside an alert. [`write_record`] writes a whole line with the common envelope.

use std::io::Write;

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::dns::{rcode_name, rrtype_name, DnsTx, Section};
use super::http::HttpTx;
use super::tls::{version_name, TlsInfo};
use super::AppProto;

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The `http` object (Suricata's `http` logger fields).
pub fn http(tx: &HttpTx) -> Value {
    let mut m = Map::new();
    let req = &tx.request;
    let resp = &tx.response;
    if let Some(h) = tx.host() {
        m.insert("hostname".into(), s(h).into());
    }
    if !tx.uri_raw().is_empty() {
        m.insert("url".into(), s(tx.uri_raw()).into());
    }
    let hdr = |m: &mut Map<String, Value>, key: &str, v: Option<&[u8]>| {
        if let Some(v) = v {
            m.insert(key.into(), s(v).into());
        }
    };
    hdr(&mut m, "http_user_agent", req.header(b"user-agent"));
    hdr(&mut m, "http_content_type", resp.header(b"content-type"));
    hdr(&mut m, "http_refer", req.header(b"referer"));
    if !tx.method().is_empty() {
        m.insert("http_method".into(), s(tx.method()).into());
    }
    if !tx.request_protocol().is_empty() {
        m.insert("protocol".into(), s(tx.request_protocol()).into());
    } else if !tx.response_protocol().is_empty() {
        m.insert("protocol".into(), s(tx.response_protocol()).into());
    }
    if let Some(code) = tx.status() {
        m.insert("status".into(), code.into());
    }
    hdr(&mut m, "redirect", resp.header(b"location"));
    m.insert("length".into(), resp.body_len().into());
    Value::Object(m)
}

/// The `dns` object in Suricata 8's version 3 format.
pub fn dns(tx: &DnsTx) -> Value {
    let mut m = Map::new();
    m.insert("version".into(), 3.into());
    let resp = tx.is_response();
    m.insert(
        "type".into(),
        if resp { "response" } else { "request" }.into(),
    );
    m.insert("tx_id".into(), tx.tx_id.into());
    m.insert("id".into(), tx.id.into());
    m.insert("flags".into(), format!("{:04x}", tx.flags).into());
    let f = tx.flags;
    for (bit, name) in [
        (0x8000, "qr"),
        (0x0400, "aa"),
        (0x0200, "tc"),
        (0x0100, "rd"),
        (0x0080, "ra"),
        (0x0020, "z"),
    ] {
        if f & bit != 0 {
            m.insert(name.into(), true.into());
        }
    }
    m.insert("opcode".into(), tx.opcode().into());
    if resp {
        let rc = rcode_name(tx.rcode());
        let rc = if rc.is_empty() {
            tx.rcode().to_string()
        } else {
            rc.to_string()
        };
        m.insert("rcode".into(), rc.into());
    }
    let queries: Vec<Value> = tx
        .queries()
        .iter()
        .enumerate()
        .map(|(i, q)| {
            json!({
                "rrname": s(tx.query_name(i).unwrap_or_default()),
                "rrtype": rrtype(q.rrtype),
            })
        })
        .collect();
    if !queries.is_empty() {
        m.insert("queries".into(), queries.into());
    }
    for (section, key) in [
        (Section::Answer, "answers"),
        (Section::Authority, "authorities"),
    ] {
        let recs: Vec<Value> = tx
            .records(section)
            .iter()
            .map(|r| {
                let mut o = json!({
                    "rrname": s(tx.record_name(r)),
                    "rrtype": rrtype(r.rrtype),
                    "ttl": r.ttl,
                });
                let rd = tx.record_rdata(r);
                if !rd.is_empty() {
                    o["rdata"] = s(rd).into();
                }
                o
            })
            .collect();
        if !recs.is_empty() {
            m.insert(key.into(), recs.into());
        }
    }
    // `grouped`: answer rdata by type, as Suricata's default dns logger adds.
    let mut grouped = Map::new();
    for r in tx.records(Section::Answer) {
        let rd = tx.record_rdata(r);
        if rd.is_empty() {
            continue;
        }
        if let Value::Array(a) = grouped
            .entry(rrtype(r.rrtype))
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            a.push(s(rd).into());
        }
    }
    if !grouped.is_empty() {
        m.insert("grouped".into(), grouped.into());
    }
    Value::Object(m)
}

fn rrtype(t: u16) -> String {
    match rrtype_name(t) {
        "" => t.to_string(),
        n => n.to_string(),
    }
}

/// `2016-03-01T12:00:00` as Suricata writes certificate validity.
fn iso(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian), H. Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The `tls` object.
pub fn tls(info: &TlsInfo) -> Value {
    let mut m = Map::new();
    if let Some(c) = info.cert() {
        m.insert("subject".into(), s(&c.subject).into());
        m.insert("issuerdn".into(), s(&c.issuer).into());
        m.insert("serial".into(), c.serial.clone().into());
        m.insert("fingerprint".into(), c.fingerprint.clone().into());
        m.insert("notbefore".into(), iso(c.not_before).into());
        m.insert("notafter".into(), iso(c.not_after).into());
    }
    if !info.sni.is_empty() {
        m.insert("sni".into(), s(&info.sni).into());
    }
    let v = if info.version != 0 {
        info.version
    } else {
        info.client_version
    };
    m.insert("version".into(), version_name(v).into());
    if !info.ja3.is_empty() {
        m.insert(
            "ja3".into(),
            json!({"hash": info.ja3_hash, "string": info.ja3}),
        );
    }
    if !info.ja3s.is_empty() {
        m.insert(
            "ja3s".into(),
            json!({"hash": info.ja3s_hash, "string": info.ja3s}),
        );
    }
    if !info.ja4.is_empty() {
        m.insert("ja4".into(), info.ja4.clone().into());
    }
    Value::Object(m)
}

/// The transaction metadata an alert record carries (`"http": {...}`, `"dns": {...}`,
/// `"tls": {...}`), for the flow's transaction `tx_id` (ignored for TLS, whose handshake is
/// one record per flow). Returns the key and the object, or `None` if there is nothing to add.
pub fn alert_metadata(app: &super::AppLayer, tx_id: u64) -> Option<(&'static str, Value)> {
    use super::AppState;
    match app.state() {
        AppState::Http(s) => s.tx(tx_id).map(|t| ("http", http(t))),
        AppState::Dns(s) => s.txs().find(|t| t.tx_id == tx_id).map(|t| ("dns", dns(t))),
        AppState::Tls(s) => Some(("tls", tls(&s.info))),
        AppState::None => None,
    }
}

/// Fields a `flow` (or any) record adds for the flow's protocol: `app_proto`, and
/// `app_proto_orig` when it changed (an HTTP flow upgraded to WebSocket), as Suricata writes.
pub fn flow_app_fields(app: &super::AppLayer) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("app_proto".into(), app.proto().name().into());
    if app.original_proto() != app.proto() {
        m.insert("app_proto_orig".into(), app.original_proto().name().into());
    }
    m
}

/// The envelope every EVE record carries.
#[derive(Clone, Debug, Serialize)]
pub struct EveHeader {
    /// `2024-04-19T10:00:00.000000+0000`.
    pub timestamp: String,
    /// Flow id.
    pub flow_id: u64,
    /// `src_ip`.
    pub src_ip: String,
    /// `src_port`.
    pub src_port: u16,
    /// `dest_ip`.
    pub dest_ip: String,
    /// `dest_port`.
    pub dest_port: u16,
    /// `TCP`/`UDP`.
    pub proto: String,
}

/// Writes one EVE line: the envelope, `event_type`, `app_proto` and `body` under `key`
/// (for `event_type` `http`, `dns`, `tls` the key is the event type).
pub fn write_record(
    w: &mut dyn Write,
    hdr: &EveHeader,
    event_type: &str,
    app_proto: AppProto,
    key: &str,
    body: Value,
) -> std::io::Result<()> {
    let mut v = serde_json::to_value(hdr).map_err(std::io::Error::other)?;
    if let Value::Object(m) = &mut v {
        m.insert("event_type".into(), event_type.into());
        m.insert("app_proto".into(), app_proto.name().into());
        m.insert(key.into(), body);
    }
    serde_json::to_writer(&mut *w, &v).map_err(std::io::Error::other)?;
    w.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso(0), "1970-01-01T00:00:00");
        assert_eq!(iso(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(iso(1_713_520_861), "2024-04-19T10:01:01");
    }

    #[test]
    fn http_and_dns_objects() {
        use crate::app::http::HttpState;
        use crate::app::{AppConfig, AppCounters, Direction, EventSet};
        use crate::time::Timestamp;
        let cfg = AppConfig::default();
        let mut s = HttpState::new(&cfg);
        let mut ev = EventSet::default();
        let mut c = AppCounters::default();
        s.parse(
            &cfg,
            Direction::ToServer,
            b"GET /index.html?a=1 HTTP/1.1\r\nHost: Suricata.io\r\nUser-Agent: UA/1\r\n\r\n",
            Timestamp(0),
            &mut ev,
            &mut c,
        );
        s.parse(
            &cfg,
            Direction::ToClient,
            b"HTTP/1.1 301 Moved\r\nLocation: /new\r\nContent-Type: text/html\r\nContent-Length: 3\r\n\r\nabc",
            Timestamp(0),
            &mut ev,
            &mut c,
        );
        let v = http(s.txs().next().unwrap());
        assert_eq!(v["hostname"], "suricata.io");
        assert_eq!(v["url"], "/index.html?a=1");
        assert_eq!(v["http_user_agent"], "UA/1");
        assert_eq!(v["http_content_type"], "text/html");
        assert_eq!(v["http_method"], "GET");
        assert_eq!(v["protocol"], "HTTP/1.1");
        assert_eq!(v["status"], 301);
        assert_eq!(v["redirect"], "/new");
        assert_eq!(v["length"], 3);

        let mut tx = crate::app::dns::DnsTx::default();
        let mut m = vec![0x12, 0x34, 0x81, 0x83, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
        crate::app::dns::parse_message(&m, &mut tx, 16, &mut ev).unwrap();
        let v = dns(&tx);
        assert_eq!(v["version"], 3);
        assert_eq!(v["type"], "response");
        assert_eq!(v["id"], 0x1234);
        assert_eq!(v["rcode"], "NXDOMAIN");
        assert_eq!(v["flags"], "8183");
        assert_eq!(v["queries"][0]["rrname"], "example.com");
        assert_eq!(v["queries"][0]["rrtype"], "A");
        assert_eq!(v["answers"][0]["rdata"], "10.0.0.1");
        assert_eq!(v["answers"][0]["ttl"], 60);
        assert_eq!(v["grouped"]["A"][0], "10.0.0.1");
    }

    #[test]
    fn alert_metadata_picks_the_transaction() {
        use crate::app::{AppConfig, AppCounters, AppLayer, Direction, Transport};
        use crate::time::Timestamp;
        let cfg = AppConfig::default();
        let mut c = AppCounters::default();
        let mut app = AppLayer::new(Transport::Tcp, 1, 80);
        app.on_stream(
            &cfg,
            Direction::ToServer,
            b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
            Timestamp(0),
            &mut c,
        );
        assert_eq!(flow_app_fields(&app)["app_proto"], "http");
        assert!(!flow_app_fields(&app).contains_key("app_proto_orig"));
        let (k, v) = alert_metadata(&app, 1).unwrap();
        assert_eq!(k, "http");
        assert_eq!(v["url"], "/b");
        assert!(alert_metadata(&app, 9).is_none());
    }

    #[test]
    fn record_line() {
        let hdr = EveHeader {
            timestamp: "2024-04-19T10:00:00.000000+0000".into(),
            flow_id: 7,
            src_ip: "10.0.0.1".into(),
            src_port: 1234,
            dest_ip: "10.0.0.2".into(),
            dest_port: 53,
            proto: "UDP".into(),
        };
        let mut out = Vec::new();
        write_record(
            &mut out,
            &hdr,
            "dns",
            AppProto::Dns,
            "dns",
            json!({"version": 3}),
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["event_type"], "dns");
        assert_eq!(v["app_proto"], "dns");
        assert_eq!(v["dns"]["version"], 3);
        assert_eq!(v["dest_port"], 53);
        assert!(out.ends_with(b"\n"));
    }
}
