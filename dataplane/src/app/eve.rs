//! EVE JSON records of the app layer, written directly into a reused buffer with
//! [`crate::eve::Json`], field by field as Suricata 8 writes them with its default
//! `suricata.yaml` (`http: extended`, `tls: extended`, `dns` version 3 with both answer
//! formats, `websocket` on).
//!
//! - [`write_http`], [`write_dns`], [`write_tls`], [`write_websocket`]: the protocol object
//!   (`"http": {...}`, ...).
//! - [`write_app_record`]: a whole `event_type: http|dns|tls|websocket` record (one JSON object,
//!   no newline) for a transaction the flow's [`AppLayer::next_record`] said is due.
//! - [`write_alert_app_metadata`]: what an alert on a transaction carries (`ts_progress`,
//!   `tc_progress` and the protocol object), and [`write_flow_app_fields`]: `app_proto` and
//!   `app_proto_orig` for `flow` and alert records.
//!
//! Orientation: pass every [`Envelope`] in the flow's client → server orientation
//! (`src` = the flow's initiator). HTTP and TLS records keep it, as Suricata's loggers do
//! (`LOG_DIR_FLOW`); a DNS response and a server's WebSocket frame are written server →
//! client, as Suricata writes them (the packet's direction).
//!
//! Nothing here allocates once the output buffer has grown to its working size.

use super::dns::{rcode_name, rrtype_name, DnsRecord, DnsTx, RData, Section};
use super::http::{HttpTx, MsgProgress};
use super::tls::{alpn_names, version_name, TlsInfo, TlsState};
use super::websocket::WsFrame;
use super::{AppLayer, AppProto, AppState, Direction};
use crate::eve::{Envelope, Json};

/// Optional record content that Suricata writes only when enabled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EveOptions {
    /// `tls.ja3`/`tls.ja3s`: Suricata computes (and logs) JA3 only when
    /// `app-layer.protocols.tls.ja3-fingerprints` is on or a loaded rule uses a `ja3` keyword.
    pub ja3: bool,
    /// `tls.ja4`: likewise for `ja4-fingerprints` / the `ja4.hash` keyword.
    pub ja4: bool,
}

/// A transaction whose record is due (from [`AppLayer::next_record`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxRef {
    /// HTTP transaction [`HttpTx::id`].
    Http(u64),
    /// DNS message [`DnsTx::tx_id`].
    Dns(u64),
    /// The flow's TLS handshake (one per flow).
    Tls,
    /// WebSocket frame `id` of direction `dir`.
    WebSocket {
        /// Direction the frame travelled.
        dir: Direction,
        /// [`WsFrame::id`].
        id: u64,
    },
    /// FTP command [`super::ftp::FtpTx::id`].
    Ftp(u64),
    /// The one transaction of an FTP data connection.
    FtpData,
    /// SMTP transaction [`super::smtp::tx::SmtpTx::id`].
    Smtp(u64),
    /// POP3 transaction [`super::pop3::Pop3Tx::id`].
    Pop3(u64),
    /// A file that ended ([`crate::files::TrackedFile::id`] in direction `dir`).
    File {
        /// Direction the file travelled.
        dir: Direction,
        /// Its sequence number in that direction.
        id: u64,
    },
}

impl TxRef {
    /// The record's `event_type`.
    pub const fn event_type(self) -> &'static str {
        match self {
            TxRef::Http(_) => "http",
            TxRef::Dns(_) => "dns",
            TxRef::Tls => "tls",
            TxRef::WebSocket { .. } => "websocket",
            TxRef::Ftp(_) => "ftp",
            TxRef::FtpData => "ftp_data",
            TxRef::Smtp(_) => "smtp",
            TxRef::Pop3(_) => "pop3",
            TxRef::File { .. } => "fileinfo",
        }
    }
}

/// Writes the whole EVE record for `what` at the end of `out`: the envelope (`env` in the
/// flow's client → server orientation; its `event_type` is replaced), `tx_id` for HTTP as
/// Suricata writes it, and the protocol object. Returns `false` (and writes nothing) if the
/// transaction is no longer kept.
pub fn write_app_record(
    out: &mut Vec<u8>,
    env: &Envelope<'_>,
    app: &AppLayer,
    what: TxRef,
    opts: &EveOptions,
) -> bool {
    let mut e = *env;
    e.event_type = what.event_type();
    let reversed = |e: &mut Envelope<'_>| {
        core::mem::swap(&mut e.src, &mut e.dst);
        core::mem::swap(&mut e.src_port, &mut e.dst_port);
    };
    match (what, app.state()) {
        (TxRef::Http(id), AppState::Http(s)) => {
            let Some(tx) = s.tx(id) else { return false };
            let mut j = Json::new(out);
            j.envelope(&e).u64("tx_id", id);
            write_http(&mut j, tx);
            j.end();
        }
        (TxRef::Dns(id), AppState::Dns(s)) => {
            let Some(tx) = s.tx(id) else { return false };
            if tx.dir == Some(Direction::ToClient) {
                reversed(&mut e);
            }
            let mut j = Json::new(out);
            j.envelope(&e);
            write_dns(&mut j, tx);
            j.end();
        }
        (TxRef::Tls, AppState::Tls(s)) => {
            let mut j = Json::new(out);
            j.envelope(&e);
            write_tls_with(&mut j, &s.info, opts);
            j.end();
        }
        (TxRef::WebSocket { dir, id }, AppState::Http(s)) => {
            let Some(f) = s.websocket(dir).frame(id) else {
                return false;
            };
            if dir == Direction::ToClient {
                reversed(&mut e);
            }
            let mut j = Json::new(out);
            j.envelope(&e);
            write_websocket(&mut j, f);
            j.end();
        }
        (TxRef::File { dir, id }, AppState::Http(s)) => {
            let Some(f) = s.files(dir).get(id) else {
                return false;
            };
            // Suricata writes a file's record in the direction it travelled.
            if dir == Direction::ToClient {
                reversed(&mut e);
            }
            let mut j = Json::new(out);
            j.envelope(&e);
            if let Some(tx) = s.tx(f.tx_id) {
                write_http(&mut j, tx);
            }
            j.str("app_proto", app.proto().name());
            j.fileinfo(&f.info());
            j.end();
        }
        (TxRef::Ftp(id), AppState::Ftp(s)) => {
            let Some(tx) = s.tx(id) else { return false };
            let mut j = Json::new(out);
            j.envelope(&e).u64("tx_id", id);
            super::ftp::eve::write_ftp(&mut j, tx);
            j.end();
        }
        (TxRef::FtpData, AppState::FtpData(s)) => {
            let mut j = Json::new(out);
            j.envelope(&e).u64("tx_id", 0);
            super::ftp::eve::write_ftp_data(&mut j, s);
            j.end();
        }
        (TxRef::File { dir, id }, AppState::FtpData(s)) => {
            let Some(f) = s.files(dir).get(id) else {
                return false;
            };
            if dir == Direction::ToClient {
                reversed(&mut e);
            }
            let mut j = Json::new(out);
            j.envelope(&e);
            j.str("app_proto", app.proto().name());
            j.fileinfo(&f.info());
            j.end();
        }
        (TxRef::Smtp(id), AppState::Smtp(s)) => {
            let Some(tx) = s.tx(id) else { return false };
            let mut j = Json::new(out);
            j.envelope(&e).u64("tx_id", id);
            super::smtp::eve::write_smtp(&mut j, s, tx);
            j.end();
        }
        (TxRef::Pop3(id), AppState::Pop3(s)) => {
            let Some(tx) = s.tx(id) else { return false };
            let mut j = Json::new(out);
            j.envelope(&e).u64("tx_id", id);
            super::pop3::eve::write_pop3(&mut j, tx);
            j.end();
        }
        (TxRef::File { id, .. }, AppState::Pop3(s)) => {
            let Some(f) = s.files().get(id) else {
                return false;
            };
            // Retrieved mail travels server → client.
            reversed(&mut e);
            let mut j = Json::new(out);
            j.envelope(&e);
            if let Some(tx) = s.tx(f.tx_id) {
                super::pop3::eve::write_pop3(&mut j, tx);
            }
            j.str("app_proto", app.original_proto().name());
            j.fileinfo(&f.info());
            j.end();
        }
        (TxRef::File { id, .. }, AppState::Smtp(s)) => {
            let Some(f) = s.files().get(id) else {
                return false;
            };
            let mut j = Json::new(out);
            j.envelope(&e);
            if let Some(tx) = s.tx(f.tx_id) {
                super::smtp::eve::write_smtp(&mut j, s, tx);
            }
            j.str("app_proto", app.original_proto().name());
            j.fileinfo(&f.info());
            j.end();
        }
        _ => return false,
    }
    true
}

/// `app_proto` (when the protocol is known, `failed` included) and `app_proto_orig` (when it
/// changed, e.g. an HTTP flow upgraded to WebSocket), as Suricata adds them to `flow` and
/// alert records.
pub fn write_flow_app_fields(j: &mut Json<'_>, app: &AppLayer) {
    if app.proto() != AppProto::Unknown {
        j.str("app_proto", app.proto().name());
    }
    if app.original_proto() != app.proto() && app.original_proto() != AppProto::Unknown {
        j.str("app_proto_orig", app.original_proto().name());
    }
}

/// What an alert on transaction `tx_id` of this flow carries, as Suricata 8 adds it:
/// the transaction's EVE `tx_id`, `ts_progress`/`tc_progress` (HTTP and TLS) and the protocol object (`http`, `dns` in its
/// detailed form, `tls` extended, `websocket`). Suricata adds these only to alerts that
/// matched on a transaction: pass `None` for packet/stream matches and nothing is written.
/// Returns whether anything was written.
pub fn write_alert_app_metadata(j: &mut Json<'_>, app: &AppLayer, tx_id: Option<u64>) -> bool {
    write_alert_app_metadata_with(j, app, tx_id, &EveOptions::default())
}

/// [`write_alert_app_metadata`] with the optional TLS fingerprints.
pub fn write_alert_app_metadata_with(
    j: &mut Json<'_>,
    app: &AppLayer,
    tx_id: Option<u64>,
    opts: &EveOptions,
) -> bool {
    let Some(id) = tx_id else { return false };
    match app.state() {
        AppState::Http(s) if app.proto() == AppProto::WebSocket => {
            // Frame ids are unique across both directions.
            let f = s
                .websocket(Direction::ToServer)
                .frame(id)
                .or_else(|| s.websocket(Direction::ToClient).frame(id));
            let Some(f) = f else { return false };
            j.u64("tx_id", f.id);
            write_websocket(j, f);
        }
        AppState::Http(s) => {
            let Some(tx) = s.tx(id) else { return false };
            j.u64("tx_id", tx.id);
            j.str("ts_progress", http_progress_name(tx.request.progress, true));
            j.str(
                "tc_progress",
                http_progress_name(tx.response.progress, false),
            );
            j.object("http");
            http_fields(j, tx);
            j.close();
        }
        AppState::Dns(s) => {
            let Some(tx) = s.tx(id) else { return false };
            j.u64("tx_id", tx.eve_tx_id);
            dns_object(j, tx, false);
        }
        AppState::Tls(s) => {
            let (ts, tc) = tls_progress_names(s);
            // The handshake is the flow's one TLS transaction.
            j.u64("tx_id", 0);
            j.str("ts_progress", ts);
            j.str("tc_progress", tc);
            write_tls_with(j, &s.info, opts);
        }
        AppState::Ftp(s) => {
            let Some(tx) = s.tx(id) else { return false };
            j.u64("tx_id", tx.id);
            super::ftp::eve::write_ftp(j, tx);
        }
        AppState::FtpData(s) => {
            j.u64("tx_id", 0);
            super::ftp::eve::write_ftp_data(j, s);
        }
        AppState::Smtp(s) => {
            let Some(tx) = s.tx(id) else { return false };
            j.u64("tx_id", tx.id);
            super::smtp::eve::write_smtp(j, s, tx);
            super::smtp::eve::write_files(j, s, tx);
        }
        AppState::Pop3(s) => {
            let Some(tx) = s.tx(id) else { return false };
            j.u64("tx_id", tx.id);
            super::pop3::eve::write_pop3(j, tx);
        }
        AppState::None => return false,
    }
    true
}

/// Suricata's names of HTTP transaction progress. libhtp moves to `headers` as soon as the
/// line is parsed and to `body` once the headers are (a message without a body goes straight
/// to `complete`).
fn http_progress_name(p: MsgProgress, request: bool) -> &'static str {
    match (p, request) {
        (MsgProgress::None, true) => "request_started",
        (MsgProgress::Line, true) => "request_headers",
        (MsgProgress::Headers, true) => "request_body",
        (MsgProgress::Complete, true) => "request_complete",
        (MsgProgress::None, false) => "response_started",
        (MsgProgress::Line, false) => "response_headers",
        (MsgProgress::Headers, false) => "response_body",
        (MsgProgress::Complete, false) => "response_complete",
    }
}

/// Suricata's TLS progress names for the client and server sides (its finer steps that this
/// parser does not track, client certificates and ServerHelloDone, are not reported).
fn tls_progress_names(s: &TlsState) -> (&'static str, &'static str) {
    use super::tls::state;
    let st = s.info.state;
    let ts = if s.protected(Direction::ToServer) {
        "client_handshake_done"
    } else if st & state::CLIENT_HELLO != 0 {
        "client_hello_done"
    } else {
        "client_in_progress"
    };
    let tc = if s.protected(Direction::ToClient) {
        "server_handshake_done"
    } else if st & state::CERTIFICATE != 0 {
        "server_cert_done"
    } else if st & state::SERVER_HELLO != 0 {
        "server_hello"
    } else {
        "server_in_progress"
    };
    (ts, tc)
}

/// The `http` object of an `http` record (Suricata's basic and extended fields).
pub fn write_http(j: &mut Json<'_>, tx: &HttpTx) {
    j.object("http");
    http_fields(j, tx);
    j.close();
}

fn http_fields(j: &mut Json<'_>, tx: &HttpTx) {
    let req = &tx.request;
    let resp = &tx.response;
    if let Some(h) = tx.host() {
        j.bytes("hostname", h);
    }
    // Only when the Host header or the URI carries a port.
    if let Some(port) = tx.host_raw().and_then(host_port) {
        j.u64("http_port", u64::from(port));
    }
    if req.progress >= MsgProgress::Line {
        j.bytes("url", tx.uri_raw());
    }
    if let Some(v) = req.header(b"user-agent") {
        j.bytes("http_user_agent", v);
    }
    if let Some(v) = req.header(b"x-forwarded-for") {
        j.bytes("xff", v);
    }
    if let Some(v) = resp.header(b"content-type") {
        let end = v.iter().position(|&c| c == b';').unwrap_or(v.len());
        j.bytes("http_content_type", &v[..end]);
    }
    if let Some(v) = resp.header(b"content-range") {
        j.object("content_range").bytes("raw", v);
        if let Some((start, end, size)) = content_range(v) {
            for (k, n) in [("start", start), ("end", end), ("size", size)] {
                if let Ok(n) = u64::try_from(n) {
                    j.u64(k, n);
                }
            }
        }
        j.close();
    }
    // Extended fields.
    if let Some(v) = req.header(b"referer") {
        j.bytes("http_refer", v);
    }
    if req.progress >= MsgProgress::Line {
        j.bytes("http_method", tx.method());
        if !tx.request_protocol().is_empty() {
            j.bytes("protocol", tx.request_protocol());
        }
    }
    match tx.status() {
        Some(code) if code > 0 => {
            j.u64("status", u64::from(code));
        }
        _ if resp.progress >= MsgProgress::Line && !tx.status_code().is_empty() => {
            j.bytes("status_string", tx.status_code());
        }
        _ => {}
    }
    if let Some(v) = resp.header(b"location") {
        j.bytes("redirect", v);
    }
    j.u64("length", resp.message_len());
}

/// The port of a `Host` value or URI authority (`h:8080`, `[::1]:8080`), if it has a valid one.
fn host_port(host: &[u8]) -> Option<u16> {
    let after = match host.first() {
        Some(b'[') => &host[host.iter().position(|&c| c == b']')? + 1..],
        _ => host,
    };
    let colon = after.iter().rposition(|&c| c == b':')?;
    let digits = after[colon + 1..].trim_ascii();
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// `Content-Range: bytes 0-99/1234` (or `*/1234`, or `0-99/*`) as `(start, end, size)` with
/// -1 for `*`, as Suricata parses it for EVE.
fn content_range(v: &[u8]) -> Option<(i64, i64, i64)> {
    let v = v.trim_ascii_start();
    let unit_end = v.iter().position(|&c| c == b' ').unwrap_or(v.len());
    let v = v[unit_end..].trim_ascii_start();
    let num = |b: &[u8]| -> Option<i64> {
        if b.is_empty() || b.len() > 18 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(b).ok()?.parse().ok()
    };
    let digits_end = |b: &[u8]| {
        b.iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(b.len())
    };
    let (range, rest) = v.split_at(v.iter().position(|&c| c == b'/')?);
    let rest = &rest[1..];
    let size = if rest.first() == Some(&b'*') {
        -1
    } else {
        num(&rest[..digits_end(rest)])?
    };
    if range == b"*" {
        return Some((-1, -1, size));
    }
    let dash = range.iter().position(|&c| c == b'-')?;
    Some((num(&range[..dash])?, num(&range[dash + 1..])?, size))
}

/// The `dns` object of a `dns` record: Suricata 8's version 3, answers both detailed and
/// grouped (its default `formats`).
pub fn write_dns(j: &mut Json<'_>, tx: &DnsTx) {
    dns_object(j, tx, true);
}

fn dns_object(j: &mut Json<'_>, tx: &DnsTx, grouped: bool) {
    j.object("dns");
    j.i64("version", 3);
    j.str(
        "type",
        if tx.dir == Some(Direction::ToClient) || (tx.dir.is_none() && tx.is_response()) {
            "response"
        } else {
            "request"
        },
    );
    j.u64("tx_id", tx.eve_tx_id);
    j.u64("id", u64::from(tx.id));
    j.str_fmt("flags", format_args!("{:x}", tx.flags));
    for (bit, name) in [
        (0x8000, "qr"),
        (0x0400, "aa"),
        (0x0200, "tc"),
        (0x0100, "rd"),
        (0x0080, "ra"),
        (0x0040, "z"),
    ] {
        if tx.flags & bit != 0 {
            j.bool(name, true);
        }
    }
    j.u64("opcode", u64::from(tx.opcode()));
    match rcode_name(tx.rcode()) {
        "" => j.str_fmt("rcode", format_args!("{}", tx.rcode())),
        n => j.str("rcode", n),
    };
    if !tx.queries().is_empty() {
        j.array("queries");
        for (i, q) in tx.queries().iter().enumerate() {
            j.element_object()
                .bytes("rrname", tx.query_name(i).unwrap_or_default());
            rrtype_field(j, "rrtype", q.rrtype);
            j.close();
        }
        j.close_array();
    }
    let answers = tx.records(Section::Answer);
    if !answers.is_empty() {
        j.array("answers");
        for r in answers {
            record_details(j, tx, r);
        }
        j.close_array();
        if grouped {
            dns_grouped(j, tx, answers);
        }
    }
    let auth = tx.records(Section::Authority);
    if !auth.is_empty() {
        j.array("authorities");
        for r in auth {
            record_details(j, tx, r);
        }
        j.close_array();
    }
    // OPT records without options are left out, as Suricata does.
    let mut open = false;
    for r in tx.records(Section::Additional) {
        if r.kind == RData::Opt && tx.record_opts(r).next().is_none() {
            continue;
        }
        if !open {
            j.array("additionals");
            open = true;
        }
        record_details(j, tx, r);
    }
    if open {
        j.close_array();
    }
    j.close();
}

/// `v` in decimal, in `buf`.
fn decimal(mut v: u16, buf: &mut [u8; 5]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    core::str::from_utf8(&buf[i..]).unwrap_or("0")
}

fn rrtype_field(j: &mut Json<'_>, key: &str, t: u16) {
    match rrtype_name(t) {
        "" => j.str_fmt(key, format_args!("{t}")),
        n => j.str(key, n),
    };
}

/// One detailed answer/authority/additional entry (TXT: one entry per string).
fn record_details(j: &mut Json<'_>, tx: &DnsTx, r: &DnsRecord) {
    if r.kind == RData::Txt {
        for s in tx.record_txt(r) {
            record_head(j, tx, r);
            j.bytes("rdata", s);
            j.close();
        }
        return;
    }
    record_head(j, tx, r);
    let rd = tx.record_rdata(r);
    match &r.kind {
        RData::Addr | RData::Name | RData::Null => {
            j.bytes("rdata", rd);
        }
        RData::Soa(soa) => {
            j.object("soa")
                .bytes("mname", rd)
                .bytes("rname", tx.soa_rname(soa))
                .u64("serial", u64::from(soa.serial))
                .u64("refresh", u64::from(soa.refresh))
                .u64("retry", u64::from(soa.retry))
                .u64("expire", u64::from(soa.expire))
                .u64("minimum", u64::from(soa.minimum))
                .close();
        }
        RData::Srv {
            priority,
            weight,
            port,
        } => {
            j.object("srv")
                .u64("priority", u64::from(*priority))
                .u64("weight", u64::from(*weight))
                .u64("port", u64::from(*port))
                .bytes("name", rd)
                .close();
        }
        RData::Sshfp { algo, fp_type } => {
            j.object("sshfp");
            hex_colon(j, "fingerprint", rd);
            j.u64("algo", u64::from(*algo))
                .u64("type", u64::from(*fp_type))
                .close();
        }
        RData::Opt => {
            j.array("opt");
            for (code, data) in tx.record_opts(r) {
                j.element_object().u64("code", u64::from(code));
                hex_plain(j, "data", data);
                j.close();
            }
            j.close_array();
        }
        RData::Txt | RData::Unknown => {}
    }
    j.close();
}

fn record_head(j: &mut Json<'_>, tx: &DnsTx, r: &DnsRecord) {
    j.element_object().bytes("rrname", tx.record_name(r));
    rrtype_field(j, "rrtype", r.rrtype);
    j.u64("ttl", u64::from(r.ttl));
}

/// `"fingerprint": "aa:bb:..."` (lowercase).
fn hex_colon(j: &mut Json<'_>, key: &str, b: &[u8]) {
    struct H<'a>(&'a [u8]);
    impl core::fmt::Display for H<'_> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            for (i, b) in self.0.iter().enumerate() {
                if i > 0 {
                    f.write_str(":")?;
                }
                write!(f, "{b:02x}")?;
            }
            Ok(())
        }
    }
    j.str_fmt(key, format_args!("{}", H(b)));
}

/// `"data": "aabb..."` (lowercase hex).
fn hex_plain(j: &mut Json<'_>, key: &str, b: &[u8]) {
    struct H<'a>(&'a [u8]);
    impl core::fmt::Display for H<'_> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
        }
    }
    j.str_fmt(key, format_args!("{}", H(b)));
}

/// `grouped`: answer data by RR type, types in order of first appearance.
fn dns_grouped(j: &mut Json<'_>, tx: &DnsTx, answers: &[DnsRecord]) {
    let groupable = |r: &DnsRecord| !matches!(r.kind, RData::Unknown | RData::Opt);
    // Written whenever there are answers, empty if none has groupable data (as Suricata).
    j.object("grouped");
    for (i, first) in answers.iter().enumerate() {
        if !groupable(first)
            || answers[..i]
                .iter()
                .any(|p| p.rrtype == first.rrtype && groupable(p))
        {
            continue;
        }
        let mut num = [0u8; 5];
        j.array(match rrtype_name(first.rrtype) {
            "" => decimal(first.rrtype, &mut num),
            n => n,
        });
        for r in answers[i..]
            .iter()
            .filter(|r| r.rrtype == first.rrtype && groupable(r))
        {
            let rd = tx.record_rdata(r);
            match &r.kind {
                RData::Txt => {
                    for s in tx.record_txt(r) {
                        j.sep().value_bytes(s);
                    }
                }
                RData::Soa(soa) => {
                    j.element_object()
                        .bytes("mname", rd)
                        .bytes("rname", tx.soa_rname(soa))
                        .u64("serial", u64::from(soa.serial))
                        .u64("refresh", u64::from(soa.refresh))
                        .u64("retry", u64::from(soa.retry))
                        .u64("expire", u64::from(soa.expire))
                        .u64("minimum", u64::from(soa.minimum))
                        .close();
                }
                RData::Srv {
                    priority,
                    weight,
                    port,
                } => {
                    j.element_object()
                        .u64("priority", u64::from(*priority))
                        .u64("weight", u64::from(*weight))
                        .u64("port", u64::from(*port))
                        .bytes("name", rd)
                        .close();
                }
                RData::Sshfp { algo, fp_type } => {
                    j.element_object();
                    hex_colon(j, "fingerprint", rd);
                    j.u64("algo", u64::from(*algo))
                        .u64("type", u64::from(*fp_type))
                        .close();
                }
                _ => {
                    j.sep().value_bytes(rd);
                }
            }
        }
        j.close_array();
    }
    j.close();
}

/// The `tls` object as Suricata's default (extended) TLS logger writes it, without the
/// fingerprints that are off by default (see [`EveOptions`]).
pub fn write_tls(j: &mut Json<'_>, info: &TlsInfo) {
    write_tls_with(j, info, &EveOptions::default());
}

/// The `tls` object with the optional fingerprints.
pub fn write_tls_with(j: &mut Json<'_>, info: &TlsInfo, opts: &EveOptions) {
    j.object("tls");
    let cert = info.cert();
    if let Some(c) = cert {
        j.bytes("subject", &c.subject);
        j.bytes("issuerdn", &c.issuer);
        if !c.sans.is_empty() {
            j.array("subjectaltname");
            for s in &c.sans {
                j.sep().value_bytes(s);
            }
            j.close_array();
        }
        j.str("serial", &c.serial);
        j.str("fingerprint", &c.fingerprint);
    }
    if !info.sni.is_empty() {
        j.bytes("sni", &info.sni);
    }
    // The server's version, or the client's until the server answered.
    let v = if info.version != 0 {
        info.version
    } else {
        info.client_version
    };
    match version_name(v) {
        "UNDETERMINED" if v != 0 => j.str_fmt("version", format_args!("{v}")),
        n => j.str("version", n),
    };
    if let Some(c) = cert {
        if c.not_before != 0 {
            iso_field(j, "notbefore", c.not_before);
        }
        if c.not_after != 0 {
            iso_field(j, "notafter", c.not_after);
        }
    }
    if opts.ja3 && !info.ja3.is_empty() {
        j.object("ja3")
            .str("hash", &info.ja3_hash)
            .str("string", &info.ja3)
            .close();
    }
    if opts.ja3 && !info.ja3s.is_empty() {
        j.object("ja3s")
            .str("hash", &info.ja3s_hash)
            .str("string", &info.ja3s)
            .close();
    }
    if opts.ja4 && !info.ja4.is_empty() {
        j.str("ja4", &info.ja4);
    }
    for (key, list) in [
        ("client_alpns", &info.client_alpns),
        ("server_alpns", &info.server_alpns),
    ] {
        if alpn_names(list).next().is_some() {
            j.array(key);
            for n in alpn_names(list) {
                j.sep().value_bytes(n);
            }
            j.close_array();
        }
    }
    j.close();
}

/// `2016-03-01T12:00:00` (UTC), as Suricata writes certificate validity.
fn iso_field(j: &mut Json<'_>, key: &str, ts: i64) {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let (y, m, d) = vocab::calendar::civil_from_days(days);
    j.str_fmt(
        key,
        format_args!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        ),
    );
}

/// The `websocket` object of a frame (Suricata's defaults: no payload).
pub fn write_websocket(j: &mut Json<'_>, f: &WsFrame) {
    j.object("websocket").bool("fin", f.fin);
    if let Some(m) = f.mask {
        j.u64("mask", u64::from(m));
    }
    match f.opcode {
        0 => j.str("opcode", "continuation"),
        1 => j.str("opcode", "text"),
        2 => j.str("opcode", "binary"),
        8 => j.str("opcode", "close"),
        9 => j.str("opcode", "ping"),
        10 => j.str("opcode", "pong"),
        o => j.str_fmt("opcode", format_args!("unknown-{o}")),
    };
    j.close();
}

#[cfg(test)]
mod tests;
