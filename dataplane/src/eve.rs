//! Direct EVE JSON writing into reused memory, for records the workers render themselves
//! (app-layer transactions, anomalies): no intermediate `serde_json::Value`, no allocation once
//! the output buffer has grown to its working size.
//!
//! A record is built as `Json::new(buf)` → [`Json::envelope`] (the common fields every EVE
//! record starts with) → fields → [`Json::end`]. The result is one JSON object without a
//! trailing newline, which the pipeline hands to [`crate::pipeline::EventSink::eve_line`].

use std::io::Write;
use std::net::IpAddr;

use crate::time::Timestamp;

/// The VLAN ids an EVE record lists in `vlan` (outermost first; none: the field is left out).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Vlans {
    ids: [u16; crate::decode::MAX_VLANS],
    len: u8,
}

impl Vlans {
    /// No VLAN.
    pub const NONE: Vlans = Vlans {
        ids: [0; crate::decode::MAX_VLANS],
        len: 0,
    };

    /// The tags a packet carried (as many as the decoder kept).
    pub fn of_packet(p: &crate::decode::Packet<'_>) -> Vlans {
        Vlans {
            ids: p.vlan,
            len: p.vlan_len.min(crate::decode::MAX_VLANS as u8),
        }
    }

    /// The VLAN a flow was keyed by (its innermost tag).
    pub fn of_zone(zone: u32) -> Vlans {
        match crate::flow::zone_vlan(zone) {
            0 => Vlans::NONE,
            v => Vlans {
                ids: [v, 0, 0],
                len: 1,
            },
        }
    }

    /// The ids, outermost first.
    pub fn ids(&self) -> &[u16] {
        &self.ids[..usize::from(self.len)]
    }
}

/// The common fields at the start of every EVE record.
#[derive(Clone, Copy, Debug)]
pub struct Envelope<'a> {
    /// Packet time of the event.
    pub ts: Timestamp,
    /// Flow id (0: no flow, the field is left out).
    pub flow_id: u64,
    /// Packet number in the capture (0: left out).
    pub pcap_cnt: u64,
    /// `event_type`.
    pub event_type: &'a str,
    /// Source address (the packet's sender, or the flow's client for transaction records).
    pub src: IpAddr,
    /// Source port (left out when the protocol has no ports).
    pub src_port: u16,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port.
    pub dst_port: u16,
    /// IP protocol number.
    pub proto: u8,
    /// VLAN tags (`vlan`).
    pub vlan: Vlans,
    /// ICMP type and code of the packet (`icmp_type`, `icmp_code`), `None` when not ICMP.
    pub icmp: Option<[u8; 2]>,
}

/// Writes one JSON object into `out` (appending).
#[derive(Debug)]
pub struct Json<'o> {
    out: &'o mut Vec<u8>,
    /// A field was written at the current nesting level (a comma is due before the next).
    need_comma: bool,
}

impl<'o> Json<'o> {
    /// Starts an object at the end of `out`.
    pub fn new(out: &'o mut Vec<u8>) -> Json<'o> {
        out.push(b'{');
        Json {
            out,
            need_comma: false,
        }
    }

    /// The common EVE fields: `timestamp`, `flow_id`, `pcap_cnt`, `event_type`, addresses,
    /// ports, `proto` and `ip_v`, in Suricata's order.
    pub fn envelope(&mut self, e: &Envelope<'_>) -> &mut Self {
        self.envelope_without_addresses(e);
        // A packet whose IP layer could not be decoded has no addresses: Suricata leaves the
        // fields out.
        if e.proto == 0 && e.src.is_unspecified() && e.dst.is_unspecified() {
            return self;
        }
        self.ip("src_ip", e.src);
        let ports = matches!(e.proto, 6 | 17 | 132);
        if ports {
            self.u64("src_port", u64::from(e.src_port));
        }
        self.ip("dest_ip", e.dst);
        if ports {
            self.u64("dest_port", u64::from(e.dst_port));
        }
        self.key("proto");
        self.out.push(b'"');
        match vocab::proto::keyword(e.proto) {
            Some(name) => self.out.extend_from_slice(name.as_bytes()),
            None => {
                let _ = write!(self.out, "{}", e.proto);
            }
        }
        self.out.push(b'"');
        self.u64("ip_v", if e.src.is_ipv4() { 4 } else { 6 });
        if let Some([kind, code]) = e.icmp {
            self.u64("icmp_type", u64::from(kind))
                .u64("icmp_code", u64::from(code));
        }
        self
    }

    /// The common fields of a record about a packet without IP addresses (a malformed or
    /// non-IP frame): `timestamp`, `flow_id`, `pcap_cnt`, `event_type`; `e`'s addresses,
    /// ports and protocol are not written.
    pub fn envelope_without_addresses(&mut self, e: &Envelope<'_>) -> &mut Self {
        self.key("timestamp");
        self.out.push(b'"');
        write_timestamp(self.out, e.ts);
        self.out.push(b'"');
        if e.flow_id != 0 {
            self.u64("flow_id", e.flow_id);
        }
        if e.pcap_cnt != 0 {
            self.u64("pcap_cnt", e.pcap_cnt);
        }
        self.str("event_type", e.event_type);
        if !e.vlan.ids().is_empty() {
            self.array("vlan");
            for &id in e.vlan.ids() {
                self.sep();
                let _ = write!(self.out, "{id}");
            }
            self.close_array();
        }
        self
    }

    /// Writes `"name":` (with a comma when needed).
    pub fn key(&mut self, name: &str) -> &mut Self {
        if self.need_comma {
            self.out.push(b',');
        }
        self.need_comma = true;
        self.out.push(b'"');
        escape_into(self.out, name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self
    }

    /// A string field.
    pub fn str(&mut self, name: &str, v: &str) -> &mut Self {
        self.bytes(name, v.as_bytes())
    }

    /// A string field from raw bytes: invalid UTF-8 becomes U+FFFD, control characters are
    /// escaped, as Suricata's JSON output does.
    pub fn bytes(&mut self, name: &str, v: &[u8]) -> &mut Self {
        self.key(name);
        self.value_bytes(v);
        self
    }

    /// A string value inside an array (after [`Json::array`]).
    pub fn value_bytes(&mut self, v: &[u8]) -> &mut Self {
        self.out.push(b'"');
        escape_into(self.out, v);
        self.out.push(b'"');
        self
    }

    /// An unsigned number field.
    pub fn u64(&mut self, name: &str, v: u64) -> &mut Self {
        self.key(name);
        write_u64(self.out, v);
        self
    }

    /// A signed number field.
    pub fn i64(&mut self, name: &str, v: i64) -> &mut Self {
        self.key(name);
        let _ = write!(self.out, "{v}");
        self
    }

    /// A boolean field.
    pub fn bool(&mut self, name: &str, v: bool) -> &mut Self {
        self.key(name);
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        self
    }

    /// An IP address as a string field.
    pub fn ip(&mut self, name: &str, v: IpAddr) -> &mut Self {
        self.key(name);
        self.out.push(b'"');
        let _ = write!(self.out, "{v}");
        self.out.push(b'"');
        self
    }

    /// A timestamp field in EVE's format.
    pub fn timestamp(&mut self, name: &str, ts: Timestamp) -> &mut Self {
        self.key(name);
        self.out.push(b'"');
        write_timestamp(self.out, ts);
        self.out.push(b'"');
        self
    }

    /// Opens a nested object under `name`; close it with [`Json::close`].
    pub fn object(&mut self, name: &str) -> &mut Self {
        self.key(name);
        self.out.push(b'{');
        self.need_comma = false;
        self
    }

    /// Opens an array under `name`; elements are separated with [`Json::sep`]; close it with
    /// [`Json::close_array`].
    pub fn array(&mut self, name: &str) -> &mut Self {
        self.key(name);
        self.out.push(b'[');
        self.need_comma = false;
        self
    }

    /// Starts an element of an open array (writes the comma when needed).
    pub fn sep(&mut self) -> &mut Self {
        if self.need_comma {
            self.out.push(b',');
        }
        self.need_comma = true;
        self
    }

    /// Opens an object as an array element.
    pub fn element_object(&mut self) -> &mut Self {
        self.sep();
        self.out.push(b'{');
        self.need_comma = false;
        self
    }

    /// Closes the innermost object.
    pub fn close(&mut self) -> &mut Self {
        self.out.push(b'}');
        self.need_comma = true;
        self
    }

    /// Closes the innermost array.
    pub fn close_array(&mut self) -> &mut Self {
        self.out.push(b']');
        self.need_comma = true;
        self
    }

    /// A string field from format arguments, written without an intermediate `String`. The
    /// text is escaped like [`Json::bytes`] when it needs to be.
    pub fn str_fmt(&mut self, name: &str, args: std::fmt::Arguments<'_>) -> &mut Self {
        self.key(name);
        self.value_fmt_inner(args);
        self
    }

    /// A string element of an open array from format arguments (see [`Json::str_fmt`]).
    pub fn value_fmt(&mut self, args: std::fmt::Arguments<'_>) -> &mut Self {
        self.sep();
        self.value_fmt_inner(args);
        self
    }

    fn value_fmt_inner(&mut self, args: std::fmt::Arguments<'_>) {
        self.out.push(b'"');
        let start = self.out.len();
        let _ = self.out.write_fmt(args);
        if self.out[start..]
            .iter()
            .any(|&c| c < 0x20 || c == b'"' || c == b'\\' || c >= 0x7f)
        {
            // Rare: move the text aside and write it escaped (only formatted values that
            // carry arbitrary text get here).
            let text = self.out.split_off(start);
            escape_into(self.out, &text);
        }
        self.out.push(b'"');
    }

    /// An unsigned number element of an open array.
    pub fn value_u64(&mut self, v: u64) -> &mut Self {
        self.sep();
        write_u64(self.out, v);
        self
    }

    /// Opens an array as an array element.
    pub fn element_array(&mut self) -> &mut Self {
        self.sep();
        self.out.push(b'[');
        self.need_comma = false;
        self
    }

    /// Raw JSON text as the value of `name` (the caller guarantees it is valid JSON).
    pub fn raw(&mut self, name: &str, json: &[u8]) -> &mut Self {
        self.key(name);
        self.out.extend_from_slice(json);
        self
    }

    /// Closes the record.
    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// Appends `v` in decimal (without the formatting machinery: numbers are most of a record's
/// fields).
fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// What an `anomaly` record reports, as Suricata's anomaly logger types it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anomaly<'a> {
    /// A decoder event (`decoder.ipv4.trunc_pkt`).
    Decode(&'a str),
    /// A TCP stream event (`stream.3whs_ack_in_wrong_dir`).
    Stream(&'a str),
    /// An app-layer parser event: the parser's protocol and the event's name without the
    /// protocol prefix (`request_field_too_long`).
    AppLayer { app_proto: &'a str, event: &'a str },
}

/// Appends one `anomaly` record to `out` (no newline). `env.event_type` is ignored
/// (`anomaly` is written); with `addresses` false the packet's addresses are left out (a
/// frame without a decodable IP header). App-layer records also carry the flow's
/// `app_proto` at the top level, as Suricata's do.
pub fn write_anomaly(out: &mut Vec<u8>, env: &Envelope<'_>, addresses: bool, a: Anomaly<'_>) {
    let env = Envelope {
        event_type: "anomaly",
        ..*env
    };
    let mut j = Json::new(out);
    if addresses {
        j.envelope(&env);
    } else {
        j.envelope_without_addresses(&env);
    }
    if let Anomaly::AppLayer { app_proto, .. } = a {
        j.str("app_proto", app_proto);
    }
    j.object("anomaly");
    match a {
        Anomaly::Decode(event) => {
            j.str("type", "decode").str("event", event);
        }
        Anomaly::Stream(event) => {
            j.str("type", "stream").str("event", event);
        }
        Anomaly::AppLayer { app_proto, event } => {
            j.str("app_proto", app_proto)
                .str("type", "applayer")
                .str("event", event)
                .str("layer", "proto_parser");
        }
    }
    j.close();
    j.end();
}

/// Appends `ts` as `2024-01-01T00:00:00.000000+0000` (UTC).
pub fn write_timestamp(out: &mut Vec<u8>, ts: Timestamp) {
    let secs = ts.0 / 1_000_000_000;
    let micros = (ts.0 % 1_000_000_000) / 1_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = vocab::calendar::civil_from_days(days);
    // Fixed-width digits by hand: every record starts with this, the formatting machinery
    // would be a good part of a record's cost.
    let mut b = *b"0000-00-00T00:00:00.000000+0000";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    if (0..=9999).contains(&y) {
        put(0, 4, y as u64);
        put(5, 2, u64::from(m));
        put(8, 2, u64::from(d));
        put(11, 2, rem / 3600);
        put(14, 2, (rem / 60) % 60);
        put(17, 2, rem % 60);
        put(20, 6, micros);
        out.extend_from_slice(&b);
    } else {
        let _ = write!(
            out,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+0000",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60
        );
    }
}

/// Appends `v` as the inside of a JSON string: valid UTF-8 is kept, invalid sequences become
/// U+FFFD, quotes, backslashes and control characters are escaped.
pub fn escape_into(out: &mut Vec<u8>, v: &[u8]) {
    // Fast path: printable ASCII without quotes or backslashes (nearly every field) is copied
    // as is.
    if v.iter()
        .all(|&c| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\')
    {
        out.extend_from_slice(v);
        return;
    }
    for chunk in v.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => {
                    let mut b = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn env(proto: u8) -> Envelope<'static> {
        Envelope {
            ts: Timestamp::from_micros(1_709_210_096, 789_012),
            flow_id: 42,
            pcap_cnt: 7,
            event_type: "http",
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            src_port: 1234,
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            dst_port: 80,
            proto,
            vlan: crate::eve::Vlans::NONE,
            icmp: None,
        }
    }

    #[test]
    fn envelope_and_nesting_parse_as_json() {
        let mut buf = Vec::new();
        let mut j = Json::new(&mut buf);
        j.envelope(&env(6)).str("app_proto", "http");
        j.object("http")
            .bytes("url", b"/a\"b\\c\n\x01\xff")
            .u64("status", 200);
        j.array("list")
            .sep()
            .value_bytes(b"x")
            .sep()
            .value_bytes(b"y");
        j.element_object().bool("t", true).close();
        j.close_array();
        j.close().i64("neg", -3);
        j.end();
        let v: serde_json::Value = serde_json::from_slice(&buf).expect("valid JSON");
        assert_eq!(v["timestamp"], "2024-02-29T12:34:56.789012+0000");
        assert_eq!(v["flow_id"], 42);
        assert_eq!(v["pcap_cnt"], 7);
        assert_eq!(v["src_port"], 1234);
        assert_eq!(v["proto"], "TCP");
        assert_eq!(v["ip_v"], 4);
        assert_eq!(v["http"]["url"], "/a\"b\\c\n\u{1}\u{fffd}");
        assert_eq!(v["http"]["status"], 200);
        assert_eq!(v["http"]["list"][1], "y");
        assert_eq!(v["http"]["list"][2]["t"], true);
        assert_eq!(v["neg"], -3);
    }

    #[test]
    fn icmp_has_no_ports() {
        let mut buf = Vec::new();
        let mut j = Json::new(&mut buf);
        j.envelope(&env(1));
        j.end();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert!(v.get("src_port").is_none());
        assert_eq!(v["proto"], "ICMP");
        let mut buf = Vec::new();
        let mut j = Json::new(&mut buf);
        j.envelope(&Envelope {
            proto: 253,
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            ..env(0)
        });
        j.end();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        // Numbers without an IANA keyword are written as digits, as Suricata does.
        assert_eq!(
            (v["proto"].as_str(), v["ip_v"].as_u64()),
            (Some("253"), Some(6))
        );
    }

    #[test]
    fn anomaly_records_have_suricatas_shape() {
        let mut buf = Vec::new();
        write_anomaly(
            &mut buf,
            &env(6),
            true,
            Anomaly::Decode("decoder.ipv4.trunc_pkt"),
        );
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["event_type"], "anomaly");
        assert_eq!(v["src_ip"], "10.0.0.1");
        assert_eq!(v["anomaly"]["type"], "decode");
        assert_eq!(v["anomaly"]["event"], "decoder.ipv4.trunc_pkt");

        buf.clear();
        write_anomaly(
            &mut buf,
            &env(6),
            false,
            Anomaly::Stream("stream.pkt_after_close"),
        );
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert!(v.get("src_ip").is_none() && v.get("proto").is_none());
        assert_eq!(v["pcap_cnt"], 7);
        assert_eq!(v["anomaly"]["type"], "stream");

        buf.clear();
        let a = Anomaly::AppLayer {
            app_proto: "http",
            event: "request_field_too_long",
        };
        write_anomaly(&mut buf, &env(6), true, a);
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["app_proto"], "http");
        assert_eq!(v["anomaly"]["app_proto"], "http");
        assert_eq!(v["anomaly"]["type"], "applayer");
        assert_eq!(v["anomaly"]["event"], "request_field_too_long");
        assert_eq!(v["anomaly"]["layer"], "proto_parser");
    }

    /// Collects worker-rendered records.
    #[derive(Default)]
    struct Lines(Vec<(String, serde_json::Value)>);

    impl crate::pipeline::EventSink for Lines {
        fn flow_end(&mut self, _: &crate::flow::FlowRecord) {}
        fn eve_line(&mut self, event_type: &str, line: &[u8]) {
            let v = serde_json::from_slice(line).expect("a record is one JSON object");
            self.0.push((event_type.to_string(), v));
        }
    }

    /// Ethernet + IPv4 (total length `ip_len`) + TCP header from 10.0.0.1:1234 to
    /// 10.0.0.2:80 with `flags`, `seq`, `ack`.
    fn tcp_frame(ip_len: u16, flags: u8, seq: u32, ack: u32) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
        f.extend_from_slice(&ip);
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&1234u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&ack.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = flags;
        tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
        f.extend_from_slice(&tcp);
        f
    }

    fn pipeline(anomaly: crate::pipeline::AnomalyTypes) -> crate::pipeline::Pipeline {
        let mut cfg = crate::pipeline::PipelineConfig::default();
        cfg.decode.checksum_validation = false;
        cfg.anomaly = anomaly;
        crate::pipeline::Pipeline::new(crate::decode::LinkType::Ethernet, &cfg).unwrap()
    }

    #[test]
    fn pipeline_renders_decoder_and_stream_anomalies_once_each() {
        let mut p = pipeline(Default::default());
        let mut sink = Lines::default();
        let t = Timestamp::from_micros(1_700_000_000, 0);
        // IPv4 says 100 bytes, 40 captured: decoder.ipv4.trunc_pkt, no flow.
        p.process(&tcp_frame(100, 0x02, 1, 0), t, &mut sink);
        assert_eq!(sink.0.len(), 1, "{:?}", sink.0);
        let (ty, v) = &sink.0[0];
        assert_eq!(ty, "anomaly");
        assert_eq!(v["anomaly"]["type"], "decode");
        assert_eq!(v["anomaly"]["event"], "decoder.ipv4.trunc_pkt");
        assert_eq!(v["pcap_cnt"], 1);
        // The IPv4 layer did not decode: no addresses, as Suricata writes it.
        assert!(v.get("src_ip").is_none());
        // A well-formed SYN raises nothing.
        p.process(&tcp_frame(40, 0x02, 1000, 0), t, &mut sink);
        assert_eq!(sink.0.len(), 1);
        // The client resends its SYN with another sequence number: a stream event.
        p.process(&tcp_frame(40, 0x02, 2000, 0), t, &mut sink);
        let stream: Vec<_> = sink.0[1..].iter().map(|(_, v)| v).collect();
        assert_eq!(stream.len(), 1, "{stream:?}");
        assert_eq!(
            stream[0]["anomaly"]["event"],
            "stream.3whs_syn_resend_diff_seq"
        );
        for v in &stream {
            assert_eq!(v["anomaly"]["type"], "stream");
            assert!(v["anomaly"]["event"]
                .as_str()
                .unwrap()
                .starts_with("stream."));
            assert!(v["flow_id"].as_u64().unwrap() > 0);
            assert_eq!(v["pcap_cnt"], 3);
            assert_eq!(v["src_ip"], "10.0.0.1");
            assert_eq!(v["dest_port"], 80);
        }
        let mut logged = 0;
        p.visit_counters(&mut |n, v| {
            if n == "eve.anomaly" {
                logged = v;
            }
        });
        assert_eq!(logged, sink.0.len() as u64);
    }

    #[test]
    fn anomaly_types_narrow_and_null_sinks_render_nothing() {
        let t = Timestamp::from_micros(1_700_000_000, 0);
        let mut p = pipeline(crate::pipeline::AnomalyTypes {
            decode: false,
            stream: true,
            applayer: true,
        });
        let mut sink = Lines::default();
        p.process(&tcp_frame(100, 0x02, 1, 0), t, &mut sink);
        assert!(sink.0.is_empty());
        let mut p = pipeline(Default::default());
        p.process(
            &tcp_frame(100, 0x02, 1, 0),
            t,
            &mut crate::pipeline::NullEvents,
        );
        let mut logged = 1;
        p.visit_counters(&mut |n, v| {
            if n == "eve.anomaly" {
                logged = v;
            }
        });
        assert_eq!(logged, 0);
    }

    proptest::proptest! {
        /// The hand-written digits match the formatting machinery's.
        #[test]
        fn timestamps_match_formatting(ns in proptest::num::u64::ANY, n in proptest::num::u64::ANY) {
            let mut out = Vec::new();
            write_timestamp(&mut out, Timestamp(ns));
            let secs = ns / 1_000_000_000;
            let rem = secs % 86_400;
            let (y, m, d) = vocab::calendar::civil_from_days((secs / 86_400) as i64);
            let want = format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}+0000",
                rem / 3600,
                (rem / 60) % 60,
                rem % 60,
                (ns % 1_000_000_000) / 1_000
            );
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), want);
            let mut out = Vec::new();
            write_u64(&mut out, n);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }

        /// Any frames through a pipeline: every worker-rendered record is one valid JSON
        /// object of its announced type, and the count matches `eve.anomaly`.
        #[test]
        fn any_frames_render_valid_anomaly_records(
            frames in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..80), 1..40),
        ) {
            let mut p = pipeline(Default::default());
            let mut sink = Lines::default();
            let t = Timestamp::from_micros(1_700_000_000, 0);
            for mut f in frames {
                // Mostly IPv4 over Ethernet, so decoding gets past the first layer.
                if f.len() > 14 {
                    f[12] = 0x08;
                    f[13] = 0x00;
                    f[14] = 0x45;
                }
                p.process(&f, t, &mut sink);
            }
            for (ty, v) in &sink.0 {
                proptest::prop_assert_eq!(ty.as_str(), "anomaly");
                proptest::prop_assert_eq!(&v["event_type"], "anomaly");
                let kind = v["anomaly"]["type"].as_str().unwrap_or("");
                proptest::prop_assert!(matches!(kind, "decode" | "stream" | "applayer"), "{}", v);
            }
            let mut logged = 0;
            p.visit_counters(&mut |n, v| {
                if n == "eve.anomaly" {
                    logged = v;
                }
            });
            proptest::prop_assert_eq!(logged, sink.0.len() as u64);
        }

        #[test]
        fn any_bytes_escape_to_valid_json(b in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let mut buf = Vec::new();
            let mut j = Json::new(&mut buf);
            j.bytes("k", &b);
            j.end();
            let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
            proptest::prop_assert_eq!(v["k"].as_str().unwrap(), String::from_utf8_lossy(&b));
        }
    }
}
