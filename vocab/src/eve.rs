//! EVE JSON, Suricata's event format, written directly into reused memory: the one writer of
//! every EVE record Osprey produces (`alert`, `flow`, `http`, `dns`, `tls`, `websocket`,
//! `fileinfo`, `anomaly`, `stats`), whether a worker renders it or the control plane does, so `osprey run`
//! and `osprey replay` write the same records.
//!
//! A record is built as `Json::new(buf)` → [`Json::envelope`] (the common fields every EVE
//! record starts with) → fields → [`Json::end`]. The result is one JSON object without a
//! trailing newline. No intermediate `serde_json::Value`, no allocation once the output buffer
//! has grown to its working size.

use std::io::Write;
use std::net::IpAddr;

/// Most VLAN tags an EVE record lists (the decoder keeps as many).
pub const MAX_VLANS: usize = 3;

/// The VLAN ids an EVE record lists in `vlan` (outermost first; none: the field is left out),
/// fixed size and `Copy` so records that carry them (the alert record a worker hands over)
/// stay off the heap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Vlans {
    ids: [u16; MAX_VLANS],
    len: u8,
}

impl Vlans {
    /// No VLAN.
    pub const NONE: Vlans = Vlans {
        ids: [0; MAX_VLANS],
        len: 0,
    };

    /// The first [`MAX_VLANS`] of `ids`, outermost first.
    pub fn new(ids: &[u16]) -> Vlans {
        let mut v = Vlans::NONE;
        let n = ids.len().min(MAX_VLANS);
        v.ids[..n].copy_from_slice(&ids[..n]);
        v.len = n as u8;
        v
    }

    /// The ids, outermost first.
    pub fn ids(&self) -> &[u16] {
        &self.ids[..usize::from(self.len)]
    }
}

/// The common fields at the start of every EVE record about a packet or a flow.
#[derive(Clone, Copy, Debug)]
pub struct Envelope<'a> {
    /// Time of the event, nanoseconds since the epoch.
    pub ts_nanos: u64,
    /// Flow id (0: no flow, the field is left out).
    pub flow_id: u64,
    /// Packet number in the capture (0: left out).
    pub pcap_cnt: u64,
    /// `event_type`.
    pub event_type: &'a str,
    /// Source address (the packet's sender, or the flow's client for flow and transaction
    /// records).
    pub src: IpAddr,
    /// Source port (left out when the protocol has no ports).
    pub src_port: u16,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port.
    pub dst_port: u16,
    /// IP protocol number.
    pub proto: u8,
    /// VLAN ids (`vlan`, outermost first; empty: the field is left out).
    pub vlan: &'a [u16],
    /// ICMP type and code (`icmp_type`, `icmp_code`), `None` when not ICMP.
    pub icmp: Option<[u8; 2]>,
}

impl<'a> From<&Envelope<'a>> for Envelope<'a> {
    fn from(e: &Envelope<'a>) -> Self {
        *e
    }
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
    pub fn envelope<'e>(&mut self, e: impl Into<Envelope<'e>>) -> &mut Self {
        let e = e.into();
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
        match crate::proto::keyword(e.proto) {
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
    pub fn envelope_without_addresses<'e>(&mut self, e: impl Into<Envelope<'e>>) -> &mut Self {
        let e = e.into();
        self.key("timestamp");
        self.out.push(b'"');
        write_timestamp(self.out, e.ts_nanos);
        self.out.push(b'"');
        if e.flow_id != 0 {
            self.u64("flow_id", e.flow_id);
        }
        if e.pcap_cnt != 0 {
            self.u64("pcap_cnt", e.pcap_cnt);
        }
        self.str("event_type", e.event_type);
        if !e.vlan.is_empty() {
            self.array("vlan");
            for &id in e.vlan {
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

    /// A floating-point field, rounded to six decimals below 10^12; `null` when not finite
    /// (JSON has no NaN or infinity).
    pub fn f64(&mut self, name: &str, v: f64) -> &mut Self {
        self.key(name);
        if v.is_finite() {
            let r = if v.abs() < 1e12 {
                (v * 1e6).round() / 1e6
            } else {
                v
            };
            let _ = write!(self.out, "{r}");
        } else {
            self.out.extend_from_slice(b"null");
        }
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

    /// A timestamp field in EVE's format (`ts`: nanoseconds since the epoch).
    pub fn timestamp(&mut self, name: &str, ts: impl Into<u64>) -> &mut Self {
        self.key(name);
        self.out.push(b'"');
        write_timestamp(self.out, ts.into());
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

/// How a tracked file ended, as EVE's `fileinfo.state` names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FileState {
    /// Still receiving data (written only for records taken before the end).
    #[default]
    Open,
    /// Complete as the protocol delimited it.
    Closed,
    /// Cut short: a gap, the flow's end, or a cap.
    Truncated,
    /// The protocol reported an error for the file.
    Error,
}

impl FileState {
    /// The `state` value Suricata writes.
    pub const fn name(self) -> &'static str {
        match self {
            FileState::Open => "UNKNOWN",
            FileState::Closed => "CLOSED",
            FileState::Truncated => "TRUNCATED",
            FileState::Error => "ERROR",
        }
    }
}

/// The content of a `fileinfo` object (Suricata's `EveFileInfo`): what every protocol that
/// carries files reports about one of them.
#[derive(Clone, Copy, Debug)]
pub struct FileInfo<'a> {
    /// Name as the protocol gave it.
    pub filename: &'a [u8],
    /// Part of the file was never seen.
    pub gaps: bool,
    /// How it ended.
    pub state: FileState,
    /// Digests when computed (MD5 and SHA-1 are written for closed files only, as Suricata
    /// does; SHA-256 for any state).
    pub md5: Option<&'a [u8; 16]>,
    /// SHA-1.
    pub sha1: Option<&'a [u8; 20]>,
    /// SHA-256.
    pub sha256: Option<&'a [u8; 32]>,
    /// Contents were stored.
    pub stored: bool,
    /// Bytes tracked (gaps included).
    pub size: u64,
    /// Transaction of the protocol that carried the file.
    pub tx_id: u64,
}

impl Json<'_> {
    /// A field holding `v` as lowercase hex.
    pub fn hex(&mut self, name: &str, v: &[u8]) -> &mut Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        self.key(name);
        self.out.push(b'"');
        for b in v {
            self.out.push(DIGITS[usize::from(b >> 4)]);
            self.out.push(DIGITS[usize::from(b & 15)]);
        }
        self.out.push(b'"');
        self
    }

    /// The `fileinfo` object, field for field in Suricata 8's order.
    pub fn fileinfo(&mut self, f: &FileInfo<'_>) -> &mut Self {
        self.object("fileinfo");
        self.fileinfo_fields(f);
        self.close()
    }

    /// The fields of a `fileinfo` object, inside an object the caller opened (an alert's
    /// `files` array holds them too).
    pub fn fileinfo_fields(&mut self, f: &FileInfo<'_>) -> &mut Self {
        self.bytes("filename", f.filename);
        self.bool("gaps", f.gaps);
        self.str("state", f.state.name());
        if f.state == FileState::Closed {
            if let Some(h) = f.md5 {
                self.hex("md5", h);
            }
            if let Some(h) = f.sha1 {
                self.hex("sha1", h);
            }
        }
        if let Some(h) = f.sha256 {
            self.hex("sha256", h);
        }
        self.bool("stored", f.stored);
        self.u64("size", f.size);
        self.u64("tx_id", f.tx_id)
    }
}

/// Appends `v` in decimal (without the formatting machinery: numbers are most of a record's
/// fields).
pub fn write_u64(out: &mut Vec<u8>, mut v: u64) {
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

/// Appends `ts_nanos` (nanoseconds since the epoch) as `2024-01-01T00:00:00.000000+0000` (UTC).
pub fn write_timestamp(out: &mut Vec<u8>, ts_nanos: u64) {
    let secs = ts_nanos / 1_000_000_000;
    let micros = (ts_nanos % 1_000_000_000) / 1_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = crate::calendar::civil_from_days(days);
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

/// Appends Suricata's `stats` record: `counters` (dotted names, e.g. `decoder.pkts`) nested by
/// name (`"decoder": {"pkts": ...}`) with keys in sorted order, after `uptime` (seconds).
/// Counters of the same name are summed. A leaf never replaces a group of the same name: the
/// leaf moves into the group as `total`.
pub fn write_stats<'n>(
    out: &mut Vec<u8>,
    ts_nanos: u64,
    uptime_secs: u64,
    counters: impl IntoIterator<Item = (&'n str, u64)>,
) {
    use std::collections::BTreeMap;
    #[derive(Default)]
    struct Node {
        leaf: Option<u64>,
        children: BTreeMap<String, Node>,
    }
    let mut sums: BTreeMap<&str, u64> = BTreeMap::new();
    for (name, v) in counters {
        *sums.entry(name).or_default() += v;
    }
    let mut root = Node::default();
    root.children.insert(
        "uptime".into(),
        Node {
            leaf: Some(uptime_secs),
            ..Node::default()
        },
    );
    for (name, v) in sums {
        let mut node = &mut root;
        for part in name.split('.') {
            node = node.children.entry(part.to_owned()).or_default();
        }
        node.leaf.get_or_insert(v);
    }
    fn write(j: &mut Json<'_>, name: &str, n: &mut Node) {
        if n.children.is_empty() {
            j.u64(name, n.leaf.unwrap_or(0));
            return;
        }
        if let Some(v) = n.leaf {
            n.children.entry("total".into()).or_insert(Node {
                leaf: Some(v),
                ..Node::default()
            });
        }
        j.object(name);
        for (k, c) in n.children.iter_mut() {
            write(j, k, c);
        }
        j.close();
    }
    let mut j = Json::new(out);
    j.timestamp("timestamp", ts_nanos)
        .str("event_type", "stats");
    write(&mut j, "stats", &mut root);
    j.end();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn fileinfo_as_suricata_writes_it() {
        let mut out = Vec::new();
        let md5 = [0xabu8; 16];
        let sha256 = [0x01u8; 32];
        let mut f = FileInfo {
            filename: b"/a \"b\".txt",
            gaps: false,
            state: FileState::Closed,
            md5: Some(&md5),
            sha1: None,
            sha256: Some(&sha256),
            stored: false,
            size: 12,
            tx_id: 3,
        };
        let mut j = Json::new(&mut out);
        j.fileinfo(&f);
        j.end();
        let v: String = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            v,
            format!(
                "{{\"fileinfo\":{{\"filename\":\"/a \\\"b\\\".txt\",\"gaps\":false,\"state\":\"CLOSED\",\"md5\":\"{}\",\"sha256\":\"{}\",\"stored\":false,\"size\":12,\"tx_id\":3}}}}",
                "ab".repeat(16),
                "01".repeat(32)
            )
        );
        // MD5 and SHA-1 only for closed files.
        f.state = FileState::Truncated;
        f.gaps = true;
        out.clear();
        let mut j = Json::new(&mut out);
        j.fileinfo(&f);
        j.end();
        let v = String::from_utf8(out).unwrap();
        assert!(v.contains("\"state\":\"TRUNCATED\"") && v.contains("\"gaps\":true"));
        assert!(!v.contains("md5") && v.contains("sha256"));
    }

    fn env(proto: u8) -> Envelope<'static> {
        Envelope {
            ts_nanos: 1_709_210_096_789_012_000,
            flow_id: 42,
            pcap_cnt: 7,
            event_type: "http",
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            src_port: 1234,
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            dst_port: 80,
            proto,
            vlan: &[],
            icmp: None,
        }
    }

    #[test]
    fn vlans_keep_at_most_three_outermost_first() {
        assert_eq!(Vlans::new(&[]).ids(), &[] as &[u16]);
        assert_eq!(Vlans::new(&[10, 20]).ids(), [10, 20]);
        assert_eq!(Vlans::new(&[1, 2, 3, 4, 5]).ids(), [1, 2, 3]);
        assert_eq!(Vlans::NONE, Vlans::default());
    }

    #[test]
    fn envelope_and_nesting_parse_as_json() {
        let mut buf = Vec::new();
        let mut j = Json::new(&mut buf);
        j.envelope(env(6)).str("app_proto", "http");
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
    fn icmp_has_no_ports_and_vlans_are_listed() {
        let mut buf = Vec::new();
        let mut j = Json::new(&mut buf);
        j.envelope(Envelope {
            icmp: Some([8, 0]),
            vlan: &[10, 20],
            ..env(1)
        });
        j.end();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert!(v.get("src_port").is_none());
        assert_eq!(v["proto"], "ICMP");
        assert_eq!(v["icmp_type"], 8);
        assert_eq!(v["vlan"], serde_json::json!([10, 20]));
        let mut buf = Vec::new();
        let mut j = Json::new(&mut buf);
        j.envelope(Envelope {
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
    fn stats_nest_by_dotted_name() {
        let mut buf = Vec::new();
        write_stats(
            &mut buf,
            0,
            3,
            [
                ("decoder.pkts", 5),
                ("eve.queue_overflow", 1),
                ("eve.queue_overflow.alert", 1),
                ("decoder.pkts", 2),
                ("a.b.c", 9),
            ],
        );
        let text = String::from_utf8(buf).unwrap();
        assert!(
            text.starts_with(
                "{\"timestamp\":\"1970-01-01T00:00:00.000000+0000\",\"event_type\":\"stats\""
            ),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["stats"]["uptime"], 3);
        assert_eq!(v["stats"]["decoder"]["pkts"], 7);
        assert_eq!(v["stats"]["a"]["b"]["c"], 9);
        assert_eq!(v["stats"]["eve"]["queue_overflow"]["total"], 1);
        assert_eq!(v["stats"]["eve"]["queue_overflow"]["alert"], 1);
    }

    proptest::proptest! {
        /// The hand-written digits match the formatting machinery's.
        #[test]
        fn timestamps_and_numbers_match_formatting(ns in proptest::num::u64::ANY, n in proptest::num::u64::ANY) {
            let mut out = Vec::new();
            write_timestamp(&mut out, ns);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), crate::calendar::eve_timestamp(ns));
            let mut out = Vec::new();
            write_u64(&mut out, n);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
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

        /// Any counter names: the record is valid JSON and every counter is found where its
        /// dotted name says, or as `total` of a group of that name.
        #[test]
        fn any_counters_nest_to_valid_json(
            names in proptest::collection::vec(proptest::collection::vec(0u8..3, 1..4), 0..20),
        ) {
            let names: Vec<String> = names
                .iter()
                .map(|p| p.iter().map(|i| ["a", "b", "total"][*i as usize]).collect::<Vec<_>>().join("."))
                .collect();
            let mut buf = Vec::new();
            write_stats(&mut buf, 0, 0, names.iter().map(|n| (n.as_str(), 1)));
            let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
            for n in &names {
                let mut node = &v["stats"];
                for p in n.split('.') {
                    node = &node[p];
                }
                proptest::prop_assert!(node.is_u64() || node["total"].is_u64() || node.is_object(), "{} in {}", n, v);
            }
        }
    }
}
