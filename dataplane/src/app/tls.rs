//! TLS (and SSLv3) handshake inspection over reassembled streams.
//!
//! Records (RFC 8446 §5.1: type, version, 16-bit length) are framed per direction from a 5-byte
//! header collected byte by byte, so any chunking parses the same. Handshake records are
//! reassembled into a capped per-direction buffer (messages may span records, and several
//! messages may share one record) and each complete message is parsed with `tls-parser`;
//! certificates with `x509-parser`. After a ChangeCipherSpec (or TLS 1.3 protected records)
//! payloads are skipped without copying.
//!
//! Buffers, formatted as Suricata does: `tls.sni`, `tls.version`, `tls.cert_subject` /
//! `tls.cert_issuer` (RDNs as `C=US, O=Org, CN=name`, values as sent), `tls.cert_serial`
//! (uppercase hex bytes joined by `:`), `tls.cert_fingerprint` (SHA-1 of the DER, lowercase hex
//! joined by `:`), `tls.certs` (each DER certificate), `ja3.hash`/`ja3.string`,
//! `ja3s.hash`/`ja3s.string` (GREASE excluded), `ja4.hash`.

use std::fmt::Write as _;

use md5::{Digest as _, Md5};
use sha1::Sha1;
use sha2::Sha256;

use super::{AppConfig, AppCounters, AppError, AppEvent, Direction, EventSet, Progress};
use crate::time::Timestamp;

/// Largest record payload accepted (2^14 plus the expansion TLS 1.2 allows).
pub const MAX_RECORD: usize = (1 << 14) + 2048;
/// Certificates kept per chain.
pub const MAX_CERTS: usize = 16;
/// Subject alternative names kept per certificate.
pub const MAX_SANS: usize = 256;

/// `ssl_state` bits.
pub mod state {
    /// ClientHello seen.
    pub const CLIENT_HELLO: u32 = 1;
    /// ServerHello seen.
    pub const SERVER_HELLO: u32 = 2;
    /// ClientKeyExchange seen.
    pub const CLIENT_KEYX: u32 = 4;
    /// ServerKeyExchange seen.
    pub const SERVER_KEYX: u32 = 8;
    /// Certificate seen.
    pub const CERTIFICATE: u32 = 16;
    /// Application data seen.
    pub const APP_DATA: u32 = 32;
}

/// One certificate of the server's chain, with fields as Suricata renders them.
#[derive(Clone, Debug, Default)]
pub struct CertInfo {
    /// Subject DN.
    pub subject: Vec<u8>,
    /// Issuer DN.
    pub issuer: Vec<u8>,
    /// Serial, `01:AB:...`.
    pub serial: String,
    /// SHA-1 fingerprint, `ab:cd:...`.
    pub fingerprint: String,
    /// Validity start, seconds since the epoch.
    pub not_before: i64,
    /// Validity end, seconds since the epoch.
    pub not_after: i64,
    /// DER encoding.
    pub der: Vec<u8>,
    /// Subject alternative names as Suricata renders them (DNS names and URIs as sent, IP
    /// addresses as a byte list `[10, 0, 0, 1]`).
    pub sans: Vec<Vec<u8>>,
}

/// What the handshake revealed.
#[derive(Clone, Debug, Default)]
pub struct TlsInfo {
    /// `ssl_state` bits ([`state`]).
    pub state: u32,
    /// Legacy version of the ClientHello.
    pub client_version: u16,
    /// Negotiated version (ServerHello, or its `supported_versions` for TLS 1.3).
    pub version: u16,
    /// Server name from the ClientHello's SNI extension.
    pub sni: Vec<u8>,
    /// JA3 string.
    pub ja3: String,
    /// JA3 MD5, lowercase hex.
    pub ja3_hash: String,
    /// JA3S string.
    pub ja3s: String,
    /// JA3S MD5, lowercase hex.
    pub ja3s_hash: String,
    /// JA4 fingerprint.
    pub ja4: String,
    /// First ALPN protocol offered by the client.
    pub alpn: Vec<u8>,
    /// The client's ALPN `protocol_name_list` as sent (length-prefixed names; [`alpn_names`]).
    pub client_alpns: Vec<u8>,
    /// The server's ALPN `protocol_name_list` as sent.
    pub server_alpns: Vec<u8>,
    /// Server certificate chain, leaf first.
    pub certs: Vec<CertInfo>,
    /// Not yet inspected by the detection stage.
    pub changed: bool,
}

impl TlsInfo {
    /// The leaf certificate.
    pub fn cert(&self) -> Option<&CertInfo> {
        self.certs.first()
    }
}

/// The names of an ALPN `protocol_name_list` (bounded by its length).
pub fn alpn_names(mut list: &[u8]) -> impl Iterator<Item = &[u8]> {
    core::iter::from_fn(move || {
        let (&l, rest) = list.split_first()?;
        let l = (l as usize).min(rest.len());
        let (name, tail) = rest.split_at(l);
        list = tail;
        Some(name)
    })
}

/// Suricata's version name (`TLS 1.2`, `SSLv3`, ...).
pub fn version_name(v: u16) -> &'static str {
    match v {
        0x0200 => "SSLv2",
        0x0300 => "SSLv3",
        0x0301 => "TLSv1",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => "UNDETERMINED",
    }
}

/// `ssl_state` keyword value names to [`state`] bits (`client_hello`, `server_hello`,
/// `client_keyx`, `server_keyx`, `unknown` = none of them).
pub fn ssl_state_from_name(name: &str) -> Option<u32> {
    Some(match name.trim() {
        "client_hello" => state::CLIENT_HELLO,
        "server_hello" => state::SERVER_HELLO,
        "client_keyx" => state::CLIENT_KEYX,
        "server_keyx" => state::SERVER_KEYX,
        "unknown" => 0,
        _ => return None,
    })
}

/// `ssl_version` keyword value names (`sslv2`, `sslv3`, `tls1.0` ... `tls1.3`) and
/// `tls.version` values (`1.0` ... `1.3`, `3.0` for SSLv3) to wire versions.
pub fn version_from_name(name: &str) -> Option<u16> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "sslv2" => 0x0200,
        "sslv3" | "3.0" => 0x0300,
        "tls1.0" | "1.0" => 0x0301,
        "tls1.1" | "1.1" => 0x0302,
        "tls1.2" | "1.2" => 0x0303,
        "tls1.3" | "1.3" => 0x0304,
        _ => return None,
    })
}

/// GREASE values (RFC 8701): both bytes equal, low nibble 0xa.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

#[derive(Debug, Default)]
struct Dir {
    hdr: [u8; 5],
    hdr_len: usize,
    rec_type: u8,
    remaining: usize,
    encrypted: bool,
    hs: Vec<u8>,
    hs_skip: bool,
    lost: bool,
    records: u64,
    /// The first record is SSLv2-framed: its header is being collected.
    sslv2: bool,
    /// An application-data record was seen (TLS 1.3 protects its handshake in those).
    app_data: bool,
}

/// TLS state of one flow.
#[derive(Debug, Default)]
pub struct TlsState {
    dirs: [Dir; 2],
    /// Handshake facts and buffers.
    pub info: TlsInfo,
    logged: bool,
}

impl TlsState {
    /// A new flow's TLS state.
    pub fn new() -> TlsState {
        TlsState::default()
    }

    /// `dir` finished its handshake: it switched to protected records (ChangeCipherSpec, or
    /// application data, in which TLS 1.3 carries the rest of its handshake).
    pub fn protected(&self, dir: Direction) -> bool {
        let d = &self.dirs[dir.index()];
        d.encrypted || d.app_data
    }

    /// Both directions finished their handshake (a direction whose framing was lost counts as
    /// finished: nothing more will be learnt from it).
    pub fn handshake_done(&self) -> bool {
        self.dirs
            .iter()
            .all(|d| d.encrypted || d.app_data || d.lost)
            && self.info.state & state::CLIENT_HELLO != 0
    }

    /// True once the flow's `tls` record was written.
    pub fn logged(&self) -> bool {
        self.logged
    }

    /// Whether the flow's `tls` record is due now, marking it written: once per flow, when the
    /// handshake is done or (`at_end`) the flow closes, and only with a server certificate or
    /// for TLS 1.3 (which hides it), as Suricata's TLS logger does.
    pub(crate) fn take_due(&mut self, at_end: bool) -> bool {
        let v = self.info.version;
        let loggable = self.info.cert().is_some() || v == 0x0304 || v >> 8 == 0x7f;
        if self.logged || !loggable || !(at_end || self.handshake_done()) {
            return false;
        }
        self.logged = true;
        true
    }

    /// Parses an in-order chunk of `dir`.
    pub fn parse(
        &mut self,
        cfg: &AppConfig,
        dir: Direction,
        mut data: &[u8],
        _now: Timestamp,
        events: &mut EventSet,
        ctr: &mut AppCounters,
    ) -> Progress {
        let i = dir.index();
        if self.dirs[i].lost {
            return Progress::Error(AppError::Abandoned);
        }
        let mut result = Progress::NeedMore;
        // Every iteration consumes at least one byte or stops parsing the direction.
        while !data.is_empty() {
            let d = &mut self.dirs[i];
            if d.remaining == 0 && d.hdr_len < 5 {
                // SSLv2-framed ClientHello (2-byte header, high bit set) as the first record.
                if d.hdr_len == 0 && d.records == 0 && data[0] & 0x80 != 0 {
                    d.sslv2 = true;
                }
                let take = (5 - d.hdr_len).min(data.len());
                d.hdr[d.hdr_len..d.hdr_len + take].copy_from_slice(&data[..take]);
                d.hdr_len += take;
                data = &data[take..];
                if d.hdr_len < 5 {
                    break;
                }
                if d.sslv2 {
                    let h = d.hdr;
                    return self.sslv2(dir, &h, events, ctr);
                }
                let h = d.hdr;
                let len = u16::from_be_bytes([h[3], h[4]]) as usize;
                d.rec_type = h[0];
                d.records += 1;
                if !(20..=24).contains(&h[0]) {
                    events.push(AppEvent::TlsInvalidRecordType);
                    return self.lose(dir, ctr);
                }
                if h[1] != 3 {
                    events.push(AppEvent::TlsInvalidRecordVersion);
                    return self.lose(dir, ctr);
                }
                if len > MAX_RECORD {
                    events.push(AppEvent::TlsRecordOverflow);
                    return self.lose(dir, ctr);
                }
                if len == 0 {
                    d.hdr_len = 0;
                    continue;
                }
                d.remaining = len;
                if h[0] == 20 {
                    d.encrypted = true;
                }
                if h[0] == 23 {
                    self.info.state |= state::APP_DATA;
                    d.app_data = true;
                }
                continue;
            }
            let n = d.remaining.min(data.len());
            let (chunk, rest) = data.split_at(n);
            data = rest;
            d.remaining -= n;
            if d.remaining == 0 {
                d.hdr_len = 0;
            }
            if d.rec_type == 22 && !d.encrypted && !d.hs_skip {
                d.hs.extend_from_slice(chunk);
                if self.handshake(dir, events, ctr) {
                    result = Progress::Done;
                }
                // A message longer than the cap is never buffered whole: stop following this
                // direction's handshake (decided from the declared length, so chunking does
                // not matter).
                let d = &mut self.dirs[i];
                if d.hs.len() >= 4 {
                    let len = u32::from_be_bytes([0, d.hs[1], d.hs[2], d.hs[3]]) as usize;
                    if 4 + len > cfg.tls_max_handshake {
                        events.push(AppEvent::TlsInvalidHandshakeMessage);
                        ctr.error_tls += 1;
                        d.hs_skip = true;
                        d.hs = Vec::new();
                    }
                }
            }
        }
        result
    }

    fn lose(&mut self, dir: Direction, ctr: &mut AppCounters) -> Progress {
        let d = &mut self.dirs[dir.index()];
        d.lost = true;
        d.hs = Vec::new();
        ctr.error_tls += 1;
        Progress::Error(AppError::Malformed)
    }

    /// Minimal SSLv2 ClientHello from its first 5 bytes (2-byte length, msg type, version): no
    /// extensions, so no JA3/SNI.
    fn sslv2(
        &mut self,
        dir: Direction,
        data: &[u8; 5],
        events: &mut EventSet,
        ctr: &mut AppCounters,
    ) -> Progress {
        if dir == Direction::ToServer && data[2] == 1 {
            self.info.client_version = u16::from_be_bytes([data[3], data[4]]);
            self.info.state |= state::CLIENT_HELLO;
            self.info.changed = true;
            ctr.tx_tls += 1;
        } else {
            events.push(AppEvent::TlsInvalidRecordType);
        }
        // Nothing after it is framed the way this parser follows.
        let d = &mut self.dirs[dir.index()];
        d.lost = true;
        Progress::Done
    }

    /// Parses every complete handshake message in the direction's buffer.
    fn handshake(&mut self, dir: Direction, events: &mut EventSet, ctr: &mut AppCounters) -> bool {
        let mut hs = core::mem::take(&mut self.dirs[dir.index()].hs);
        let mut off = 0;
        let mut any = false;
        while hs.len() - off >= 4 {
            let len = u32::from_be_bytes([0, hs[off + 1], hs[off + 2], hs[off + 3]]) as usize;
            if hs.len() - off < 4 + len {
                break;
            }
            let msg = &hs[off..off + 4 + len];
            off += 4 + len;
            any = true;
            self.message(dir, msg, events, ctr);
        }
        hs.drain(..off);
        self.dirs[dir.index()].hs = hs;
        any
    }

    fn message(
        &mut self,
        dir: Direction,
        msg: &[u8],
        events: &mut EventSet,
        ctr: &mut AppCounters,
    ) {
        use tls_parser::{TlsMessage, TlsMessageHandshake as H};
        match msg[0] {
            16 => {
                self.info.state |= state::CLIENT_KEYX;
                return;
            }
            12 => {
                self.info.state |= state::SERVER_KEYX;
                return;
            }
            _ => {}
        }
        let parsed = tls_parser::parse_tls_message_handshake(msg);
        let Ok((_, TlsMessage::Handshake(h))) = parsed else {
            if matches!(msg[0], 1 | 2 | 11) {
                events.push(AppEvent::TlsInvalidHandshakeMessage);
                ctr.error_tls += 1;
            }
            return;
        };
        match h {
            H::ClientHello(ch) if dir == Direction::ToServer => {
                self.info.state |= state::CLIENT_HELLO;
                self.info.client_version = ch.version.0;
                let ciphers: Vec<u16> = ch.ciphers.iter().map(|c| c.0).collect();
                client_hello(
                    &mut self.info,
                    ch.version.0,
                    &ciphers,
                    ch.ext.unwrap_or(&[]),
                );
                self.info.changed = true;
                ctr.tx_tls += 1;
            }
            H::ServerHello(sh) if dir == Direction::ToClient => {
                self.info.state |= state::SERVER_HELLO;
                server_hello(
                    &mut self.info,
                    sh.version.0,
                    sh.cipher.0,
                    sh.ext.unwrap_or(&[]),
                );
                if self.info.version == 0x0304 {
                    // TLS 1.3: everything after ServerHello is protected.
                    self.dirs[1].encrypted = true;
                }
                self.info.changed = true;
            }
            H::Certificate(c) if dir == Direction::ToClient => {
                self.info.state |= state::CERTIFICATE;
                self.info.certs.clear();
                for raw in c.cert_chain.iter().take(MAX_CERTS) {
                    match cert_info(raw.data) {
                        Some(ci) => self.info.certs.push(ci),
                        None => {
                            events.push(AppEvent::TlsInvalidCertificate);
                            ctr.error_tls += 1;
                        }
                    }
                }
                self.info.changed = true;
            }
            _ => {}
        }
    }

    /// A gap: the direction's record framing is lost.
    pub fn gap(&mut self, dir: Direction) {
        let d = &mut self.dirs[dir.index()];
        d.lost = true;
        d.hs = Vec::new();
    }
}

/// Extensions of a hello: `(type, body)` in order. Malformed tails end the iteration.
pub fn extensions(mut ext: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if ext.len() < 4 {
            return None;
        }
        let t = u16::from_be_bytes([ext[0], ext[1]]);
        let l = u16::from_be_bytes([ext[2], ext[3]]) as usize;
        let body = ext.get(4..4 + l)?;
        ext = &ext[4 + l..];
        Some((t, body))
    })
}

fn u16_list(b: &[u8]) -> impl Iterator<Item = u16> + '_ {
    b.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]))
}

fn join_dec(out: &mut String, vals: impl Iterator<Item = u16>) {
    let mut first = true;
    for v in vals {
        if !first {
            out.push('-');
        }
        first = false;
        let _ = write!(out, "{v}");
    }
}

/// JA3, JA4 and SNI from a ClientHello.
fn client_hello(info: &mut TlsInfo, version: u16, ciphers: &[u16], ext: &[u8]) {
    let mut ext_types = Vec::new();
    let mut groups: &[u8] = &[];
    let mut formats: &[u8] = &[];
    let mut sig_algs: &[u8] = &[];
    let mut versions: &[u8] = &[];
    let mut alpn_first: &[u8] = &[];
    info.sni.clear();
    info.client_alpns.clear();
    for (t, body) in extensions(ext) {
        ext_types.push(t);
        match t {
            // server_name_list: u16 len, then (type u8, u16 len, name).
            0 if body.len() >= 5 && body[2] == 0 => {
                let l = u16::from_be_bytes([body[3], body[4]]) as usize;
                if let Some(n) = body.get(5..5 + l) {
                    info.sni.extend_from_slice(n);
                }
            }
            10 if body.len() >= 2 => groups = &body[2..],
            11 if !body.is_empty() => formats = &body[1..],
            13 if body.len() >= 2 => sig_algs = &body[2..],
            16 if body.len() >= 3 => {
                let l = body[2] as usize;
                alpn_first = body.get(3..3 + l).unwrap_or(&[]);
                info.client_alpns.clear();
                info.client_alpns.extend_from_slice(&body[2..]);
            }
            43 if !body.is_empty() => versions = &body[1..],
            _ => {}
        }
    }
    info.alpn.clear();
    info.alpn.extend_from_slice(alpn_first);

    // JA3: SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats.
    let mut s = String::new();
    let _ = write!(s, "{version},");
    join_dec(&mut s, ciphers.iter().copied().filter(|c| !is_grease(*c)));
    s.push(',');
    join_dec(&mut s, ext_types.iter().copied().filter(|c| !is_grease(*c)));
    s.push(',');
    join_dec(&mut s, u16_list(groups).filter(|c| !is_grease(*c)));
    s.push(',');
    join_dec(&mut s, formats.iter().map(|&f| u16::from(f)));
    info.ja3_hash = hex::encode(Md5::digest(s.as_bytes()));
    info.ja3 = s;

    info.ja4 = ja4(
        version,
        ciphers,
        &ext_types,
        sig_algs,
        versions,
        alpn_first,
        !info.sni.is_empty(),
    );
}

/// JA4 (FoxIO's published definition, TCP): `t{ver}{d|i}{ciphers:02}{exts:02}{alpn}_{h(c)}_{h(e)}`.
fn ja4(
    version: u16,
    ciphers: &[u16],
    ext_types: &[u16],
    sig_algs: &[u8],
    versions: &[u8],
    alpn: &[u8],
    has_sni: bool,
) -> String {
    let best = u16_list(versions)
        .filter(|v| !is_grease(*v))
        .max()
        .unwrap_or(version);
    let ver = match best {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0200 => "s2",
        _ => "00",
    };
    let mut c: Vec<u16> = ciphers.iter().copied().filter(|x| !is_grease(*x)).collect();
    let e_all: Vec<u16> = ext_types
        .iter()
        .copied()
        .filter(|x| !is_grease(*x))
        .collect();
    let alpn_code = match (alpn.first(), alpn.last()) {
        (Some(&f), Some(&l)) if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() => {
            format!("{}{}", f as char, l as char)
        }
        (Some(&f), Some(&l)) => {
            let h = format!("{f:02x}{l:02x}");
            format!("{}{}", &h[..1], &h[3..])
        }
        _ => "00".to_string(),
    };
    let mut out = format!(
        "t{ver}{}{:02}{:02}{alpn_code}_",
        if has_sni { 'd' } else { 'i' },
        c.len().min(99),
        e_all.len().min(99)
    );
    c.sort_unstable();
    let cs = c
        .iter()
        .map(|x| format!("{x:04x}"))
        .collect::<Vec<_>>()
        .join(",");
    out.push_str(&trunc_sha256(&cs, c.is_empty()));
    out.push('_');
    let mut e: Vec<u16> = e_all.into_iter().filter(|x| *x != 0 && *x != 16).collect();
    e.sort_unstable();
    let mut es = e
        .iter()
        .map(|x| format!("{x:04x}"))
        .collect::<Vec<_>>()
        .join(",");
    let sigs: Vec<String> = u16_list(sig_algs).map(|x| format!("{x:04x}")).collect();
    if !sigs.is_empty() {
        es.push('_');
        es.push_str(&sigs.join(","));
    }
    out.push_str(&trunc_sha256(&es, e.is_empty()));
    out
}

fn trunc_sha256(s: &str, empty: bool) -> String {
    if empty {
        return "000000000000".to_string();
    }
    let h = hex::encode(Sha256::digest(s.as_bytes()));
    h[..12].to_string()
}

/// JA3S and the negotiated version from a ServerHello.
fn server_hello(info: &mut TlsInfo, version: u16, cipher: u16, ext: &[u8]) {
    let mut types = Vec::new();
    info.version = version;
    for (t, body) in extensions(ext) {
        types.push(t);
        if t == 43 && body.len() == 2 {
            info.version = u16::from_be_bytes([body[0], body[1]]);
        }
        if t == 16 && body.len() >= 2 {
            info.server_alpns.clear();
            info.server_alpns.extend_from_slice(&body[2..]);
        }
    }
    let mut s = format!("{version},{cipher},");
    join_dec(&mut s, types.into_iter().filter(|c| !is_grease(*c)));
    info.ja3s_hash = hex::encode(Md5::digest(s.as_bytes()));
    info.ja3s = s;
}

/// Short names x509 DNs use in Suricata's rendering.
fn attr_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.5" => "serialNumber",
        "2.5.4.4" => "SN",
        "2.5.4.42" => "GN",
        "2.5.4.12" => "title",
        "2.5.4.9" => "street",
        "2.5.4.17" => "postalCode",
        "2.5.4.15" => "businessCategory",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        "1.2.840.113549.1.9.1" => "Email",
        _ => return None,
    })
}

/// `C=US, O=Org, CN=name`: RDNs in certificate order joined by `, `, multi-valued RDNs by ` + `,
/// values as sent (bytes such as NUL are kept, so evasion shows in the buffer).
fn render_dn(name: &x509_parser::x509::X509Name<'_>, out: &mut Vec<u8>) {
    for (i, rdn) in name.iter_rdn().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.extend_from_slice(b" + ");
            }
            let oid = atv.attr_type().to_id_string();
            match attr_name(&oid) {
                Some(n) => out.extend_from_slice(n.as_bytes()),
                None => out.extend_from_slice(oid.as_bytes()),
            }
            out.push(b'=');
            out.extend_from_slice(atv.as_slice());
        }
    }
}

/// Certificate fields as Suricata renders them; `None` if the DER does not parse.
pub fn cert_info(der: &[u8]) -> Option<CertInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut ci = CertInfo::default();
    render_dn(cert.subject(), &mut ci.subject);
    render_dn(cert.issuer(), &mut ci.issuer);
    ci.serial = cert
        .raw_serial()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    ci.fingerprint = Sha1::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    ci.not_before = cert.validity().not_before.timestamp();
    ci.not_after = cert.validity().not_after.timestamp();
    ci.der = der.to_vec();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        use x509_parser::extensions::GeneralName;
        for n in san.value.general_names.iter().take(MAX_SANS) {
            match n {
                GeneralName::DNSName(s) | GeneralName::URI(s) => {
                    ci.sans.push(s.as_bytes().to_vec())
                }
                GeneralName::IPAddress(b) => ci.sans.push(format!("{b:?}").into_bytes()),
                _ => {}
            }
        }
    }
    Some(ci)
}

#[cfg(test)]
mod tests;
