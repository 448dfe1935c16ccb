//! Threat-intelligence matching on a worker: the indicator [`Table`] (compiled off the hot
//! path from [`stix::Compiled`], published to workers through an [`IntelSlot`]) and the
//! worker's [`Matcher`], which checks
//!
//! - a flow's addresses once, when the flow starts (`src_ip`, `dest_ip`, client → server);
//! - each app-layer transaction once, when its record is due: DNS queries and answers, TLS
//!   SNI, certificate fingerprint (SHA-1, and SHA-256 when the table asks for it), JA3, JA3S
//!   and JA4, HTTP host and URL.
//!
//! A hit whose constraints hold (side, ports) and whose indicator is valid at packet time
//! becomes an EVE `intel` record ([`eve::write_hit`]). Nothing here allocates once the
//! scratch buffers are warm; a name longer than a DNS name can be is counted and skipped.

pub mod eve;
mod table;

use std::net::IpAddr;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use stix::Side;

use crate::app::eve::TxRef;
use crate::app::{AppLayer, AppState};
use crate::counters::CounterSet;
use crate::flow::FlowTuple;
use crate::time::Timestamp;

pub use table::{Entry, Table, TableStats, ValueKind};

/// One worker's mailbox for new indicator tables.
pub type IntelSlot = crate::snapshot::Slot<Table>;

/// Where in the traffic a value was found (`intel.matched_field`, Suricata's buffer names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    SrcIp,
    DestIp,
    DnsQuery,
    DnsAnswer,
    TlsSni,
    TlsCertSha1,
    TlsCertSha256,
    Ja3,
    Ja3s,
    Ja4,
    HttpHost,
    HttpUrl,
    FileMd5,
    FileSha1,
    FileSha256,
}

impl Field {
    /// The field's name in the `intel` record.
    pub const fn name(self) -> &'static str {
        match self {
            Field::SrcIp => "src_ip",
            Field::DestIp => "dest_ip",
            Field::DnsQuery => "dns.query",
            Field::DnsAnswer => "dns.answer",
            Field::TlsSni => "tls.sni",
            Field::TlsCertSha1 => "tls.cert_fingerprint",
            Field::TlsCertSha256 => "tls.cert_sha256",
            Field::Ja3 => "ja3.hash",
            Field::Ja3s => "ja3s.hash",
            Field::Ja4 => "ja4.hash",
            Field::HttpHost => "http.host",
            Field::HttpUrl => "http.url",
            Field::FileMd5 => "fileinfo.md5",
            Field::FileSha1 => "fileinfo.sha1",
            Field::FileSha256 => "fileinfo.sha256",
        }
    }
}

/// Counters of intel matching (`intel.*`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntelCounters {
    /// Values looked up (addresses, names, hashes).
    pub lookups: u64,
    /// Hits reported.
    pub hits: u64,
    /// Hits of indicators not valid at packet time (before `valid_from`, from `valid_until`).
    pub outside_validity: u64,
    /// Hits whose side or port constraint did not hold.
    pub constraint_mismatch: u64,
    /// Values too long to be looked up (names over 253 bytes, URLs over 8 KiB).
    pub too_long: u64,
}

impl CounterSet for IntelCounters {
    fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        f("intel.lookups", self.lookups);
        f("intel.hits", self.hits);
        f("intel.outside_validity", self.outside_validity);
        f("intel.constraint_mismatch", self.constraint_mismatch);
        f("intel.too_long", self.too_long);
    }
}

/// Longest URL looked up.
const MAX_URL: usize = 8192;

/// Where and when a check happens: the flow (client → server), its id, the packet number
/// (0 at a flow's end) and packet time.
#[derive(Clone, Copy, Debug)]
pub struct At<'a> {
    pub tuple: &'a FlowTuple,
    pub flow_id: u64,
    pub pcap_cnt: u64,
    pub now: Timestamp,
}

/// A worker's intel matching: the table it runs and reused scratch.
#[derive(Debug, Default)]
pub struct Matcher {
    table: Option<Arc<Table>>,
    counters: IntelCounters,
    /// Lowercased names, built URLs; reused.
    scratch: Vec<u8>,
    /// The record being rendered; reused.
    line: Vec<u8>,
}

impl Matcher {
    /// A matcher running `table` (`None`: matching off).
    pub fn new(table: Option<Arc<Table>>) -> Matcher {
        Matcher {
            table: table.filter(|t| !t.is_empty()),
            scratch: Vec::with_capacity(512),
            line: Vec::with_capacity(1024),
            ..Matcher::default()
        }
    }

    /// Runs `table` from now on (between bursts).
    pub fn set_table(&mut self, table: Arc<Table>) {
        self.table = (!table.is_empty()).then_some(table);
    }

    /// Whether the table holds file-hash indicators (files are then hashed).
    pub fn wants_file_hashes(&self) -> bool {
        self.table
            .as_ref()
            .is_some_and(|t| t.stats().file_hashes > 0)
    }

    /// Whether any check can hit.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.table.is_some()
    }

    pub fn counters(&self) -> &IntelCounters {
        &self.counters
    }

    /// A new flow: its client and server addresses.
    pub fn flow_start(&mut self, at: At<'_>, emit: &mut dyn FnMut(&[u8])) {
        // Taken out for the check (no reference count touched per flow), put back after.
        let Some(t) = self.table.take() else { return };
        self.addresses(&t, at, emit);
        self.table = Some(t);
    }

    fn addresses(&mut self, t: &Table, at: At<'_>, emit: &mut dyn FnMut(&[u8])) {
        for (field, a) in [(Field::SrcIp, at.tuple.src), (Field::DestIp, at.tuple.dst)] {
            self.counters.lookups += 1;
            for e in t.lookup_addr(a) {
                self.hit(t, at, e, field, Value::Addr(a), emit);
            }
        }
    }

    /// A transaction whose record is due.
    pub fn transaction(
        &mut self,
        at: At<'_>,
        app: &AppLayer,
        r: TxRef,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let Some(t) = self.table.take() else { return };
        self.transaction_in(&t, at, app, r, emit);
        self.table = Some(t);
    }

    fn transaction_in(
        &mut self,
        t: &Table,
        at: At<'_>,
        app: &AppLayer,
        r: TxRef,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        match (r, app.state()) {
            (TxRef::Dns(id), AppState::Dns(s)) => {
                let Some(tx) = s.tx(id) else { return };
                for i in 0..tx.queries().len() {
                    if let Some(q) = tx.query_name(i) {
                        self.domain(t, at, Field::DnsQuery, q, emit);
                    }
                }
                for rec in tx.records(crate::app::dns::Section::Answer) {
                    let rd = tx.record_rdata(rec);
                    match rec.kind {
                        crate::app::dns::RData::Addr => {
                            let a = std::str::from_utf8(rd).ok().and_then(|s| s.parse().ok());
                            if let Some(a) = a {
                                self.counters.lookups += 1;
                                for e in t.lookup_addr(a) {
                                    self.hit(t, at, e, Field::DnsAnswer, Value::Addr(a), emit);
                                }
                            }
                        }
                        crate::app::dns::RData::Name => {
                            self.domain(t, at, Field::DnsAnswer, rd, emit)
                        }
                        _ => {}
                    }
                }
            }
            (TxRef::Tls, AppState::Tls(s)) => self.tls(t, at, &s.info, emit),
            (TxRef::Http(id), AppState::Http(s)) => {
                let Some(tx) = s.tx(id) else { return };
                if let Some(host) = tx.host().filter(|h| !h.is_empty()) {
                    self.domain(t, at, Field::HttpHost, host, emit);
                }
                self.url(t, at, tx.host().unwrap_or_default(), tx.uri_raw(), emit);
            }
            (TxRef::File { dir, id }, AppState::Http(s)) => {
                if let Some(d) = s.files(dir).get(id).and_then(|f| f.digests()) {
                    self.file_digests(t, at, d, emit);
                }
            }
            (TxRef::File { dir, id }, AppState::FtpData(s)) => {
                if let Some(d) = s.files(dir).get(id).and_then(|f| f.digests()) {
                    self.file_digests(t, at, d, emit);
                }
            }
            // Mail attachments (one direction each).
            (TxRef::File { id, .. }, AppState::Smtp(s)) => {
                if let Some(d) = s.files().get(id).and_then(|f| f.digests()) {
                    self.file_digests(t, at, d, emit);
                }
            }
            (TxRef::File { id, .. }, AppState::Pop3(s)) => {
                if let Some(d) = s.files().get(id).and_then(|f| f.digests()) {
                    self.file_digests(t, at, d, emit);
                }
            }
            _ => {}
        }
    }

    /// A file's digests, as lowercase hex (STIX `file:hashes.'MD5'|'SHA-1'|'SHA-256'`).
    fn file_digests(
        &mut self,
        t: &Table,
        at: At<'_>,
        d: &crate::files::Digests,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let mut hex = [0u8; 64];
        for (kind, field, bytes) in [
            (ValueKind::FileMd5, Field::FileMd5, &d.md5[..]),
            (ValueKind::FileSha1, Field::FileSha1, &d.sha1[..]),
            (ValueKind::FileSha256, Field::FileSha256, &d.sha256[..]),
        ] {
            for (i, b) in bytes.iter().enumerate() {
                hex[2 * i] = HEX[usize::from(b >> 4)];
                hex[2 * i + 1] = HEX[usize::from(b & 15)];
            }
            self.exact(t, at, kind, field, &hex[..2 * bytes.len()], emit);
        }
    }

    fn tls(
        &mut self,
        t: &Table,
        at: At<'_>,
        info: &crate::app::tls::TlsInfo,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        if !info.sni.is_empty() {
            self.domain(t, at, Field::TlsSni, &info.sni, emit);
        }
        if let Some(c) = info.cert() {
            let mut hex = [0u8; 40];
            let n = c
                .fingerprint
                .bytes()
                .filter(|b| *b != b':')
                .take(40)
                .fold(0, |n, b| {
                    hex[n] = b.to_ascii_lowercase();
                    n + 1
                });
            self.exact(
                t,
                at,
                ValueKind::CertSha1,
                Field::TlsCertSha1,
                &hex[..n],
                emit,
            );
            if t.wants_cert_sha256() {
                let mut hex = [0u8; 64];
                let d = Sha256::digest(&c.der);
                for (i, b) in d.iter().enumerate() {
                    hex[2 * i] = HEX[usize::from(b >> 4)];
                    hex[2 * i + 1] = HEX[usize::from(b & 15)];
                }
                self.exact(
                    t,
                    at,
                    ValueKind::CertSha256,
                    Field::TlsCertSha256,
                    &hex,
                    emit,
                );
            }
        }
        for (kind, field, v) in [
            (ValueKind::Ja3, Field::Ja3, &info.ja3_hash),
            (ValueKind::Ja3s, Field::Ja3s, &info.ja3s_hash),
            (ValueKind::Ja4, Field::Ja4, &info.ja4),
        ] {
            if !v.is_empty() {
                self.exact(t, at, kind, field, v.as_bytes(), emit);
            }
        }
    }

    fn exact(
        &mut self,
        t: &Table,
        at: At<'_>,
        kind: ValueKind,
        field: Field,
        v: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        self.counters.lookups += 1;
        for e in t.lookup_value(kind, v) {
            self.hit(t, at, e, field, Value::Bytes(v), emit);
        }
    }

    /// A name and its parent domains, lowercased, without a trailing dot.
    fn domain(
        &mut self,
        t: &Table,
        at: At<'_>,
        field: Field,
        name: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let name = name.strip_suffix(b".").unwrap_or(name);
        if name.len() > 253 {
            self.counters.too_long += 1;
            return;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend(name.iter().map(u8::to_ascii_lowercase));
        self.counters.lookups += 1;
        for e in t.lookup_domain(&scratch) {
            self.hit(t, at, e, field, Value::Bytes(name), emit);
        }
        self.scratch = scratch;
    }

    /// `http://host[:port]/uri` as [`stix::observable::normalize_url`] writes URLs (an
    /// absolute-form request URI is used as sent, its scheme and host lowercased).
    fn url(&mut self, t: &Table, at: At<'_>, host: &[u8], uri: &[u8], emit: &mut dyn FnMut(&[u8])) {
        if uri.is_empty() {
            return;
        }
        if host.len() + uri.len() + 16 > MAX_URL {
            self.counters.too_long += 1;
            return;
        }
        let mut u = std::mem::take(&mut self.scratch);
        u.clear();
        if let Some(p) = memchr::memmem::find(uri, b"://") {
            let auth_end = uri[p + 3..]
                .iter()
                .position(|b| matches!(b, b'/' | b'?' | b'#'))
                .map_or(uri.len(), |i| p + 3 + i);
            u.extend(uri[..auth_end].iter().map(u8::to_ascii_lowercase));
            if auth_end == uri.len() || uri[auth_end] != b'/' {
                u.push(b'/');
            }
            u.extend_from_slice(&uri[auth_end..]);
        } else {
            u.extend_from_slice(b"http://");
            u.extend(host.iter().map(u8::to_ascii_lowercase));
            if at.tuple.dst_port != 80 {
                u.push(b':');
                let mut buf = [0u8; 5];
                let mut n = at.tuple.dst_port;
                let mut i = buf.len();
                loop {
                    i -= 1;
                    buf[i] = b'0' + (n % 10) as u8;
                    n /= 10;
                    if n == 0 {
                        break;
                    }
                }
                u.extend_from_slice(&buf[i..]);
            }
            if !uri.starts_with(b"/") {
                u.push(b'/');
            }
            u.extend_from_slice(uri);
        }
        self.counters.lookups += 1;
        for e in t.lookup_value(ValueKind::Url, &u) {
            self.hit(t, at, e, Field::HttpUrl, Value::Bytes(&u), emit);
        }
        self.scratch = u;
    }

    fn hit(
        &mut self,
        t: &Table,
        at: At<'_>,
        e: &Entry,
        field: Field,
        value: Value<'_>,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let side_ok = match e.side {
            Side::Any => true,
            Side::Src => field == Field::SrcIp,
            Side::Dst => field == Field::DestIp,
        };
        let ports_ok = e.src_port.is_none_or(|p| p == at.tuple.src_port)
            && e.dst_port.is_none_or(|p| p == at.tuple.dst_port);
        if !(side_ok && ports_ok) {
            self.counters.constraint_mismatch += 1;
            return;
        }
        let info = t.indicator(e.indicator);
        let now = at.now.0;
        if info.valid_from.is_some_and(|f| now < f) || info.valid_until.is_some_and(|u| now >= u) {
            self.counters.outside_validity += 1;
            return;
        }
        self.counters.hits += 1;
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        eve::write_hit(&mut line, at, t, e.indicator, field, value);
        emit(&line);
        self.line = line;
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The value that hit, as the record shows it.
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    Addr(IpAddr),
    Bytes(&'a [u8]),
}

#[cfg(test)]
mod tests;
