//! The bridge between the app layer's transactions and the detection engine's buffers: a
//! [`BufferSource`] over one transaction, answering each rule buffer ([`rules::ir::Buffer`])
//! with the bytes Suricata defines for it.
//!
//! Buffers that exist on one side only (`http.uri`, `http.stat_code`, `tls.sni`, ...) answer
//! from that side whatever the inspection direction, so a rule that combines request and
//! response buffers matches once the response arrives; two-sided buffers (`http.header`,
//! `http.protocol`, `file.data`, ...) answer from the side being inspected.

use rules::ir::{AppMatch, Buffer};

use crate::app::buffers::BufferId;
use crate::app::dns::{DnsTx, Section};
use crate::app::ftp::data::FtpDataState;
use crate::app::ftp::parser::Command;
use crate::app::ftp::{split_code, FtpTx};
use crate::app::http::HttpTx;
use crate::app::tls::TlsInfo;
use crate::app::websocket::WsFrame;
use crate::app::{AppEvent, Direction, EventSet};
use crate::detect::BufferSource;

/// One transaction, as detection sees it.
#[derive(Debug, Clone, Copy)]
pub enum TxRef<'a> {
    /// An HTTP request/response pair.
    Http(&'a HttpTx),
    /// A DNS message.
    Dns(&'a DnsTx),
    /// The TLS handshake of the flow.
    Tls(&'a TlsInfo),
    /// A WebSocket frame.
    WebSocket(&'a WsFrame),
    /// An FTP command and its reply; `bounce` when its PORT named another host.
    Ftp {
        /// The transaction.
        tx: &'a FtpTx,
        /// `ftpbounce` holds.
        bounce: bool,
    },
    /// An FTP data connection.
    FtpData(&'a FtpDataState),
    /// An SMTP mail, with the flow's SMTP state (session and message fields).
    Smtp(
        &'a crate::app::smtp::SmtpState,
        &'a crate::app::smtp::tx::SmtpTx,
    ),
}

/// Header lines of an HTTP transaction rendered as `Name: value` for `http.request_header`
/// and `http.response_header` (multi-buffers); reused across transactions.
#[derive(Debug, Default)]
pub struct HeaderLines {
    bytes: Vec<u8>,
    /// (side, start, end) per line.
    lines: Vec<(Direction, u32, u32)>,
}

impl HeaderLines {
    /// Renders both sides' header lines of `tx` (bounded by the parser's header caps).
    pub fn fill(&mut self, tx: &HttpTx) {
        self.bytes.clear();
        self.lines.clear();
        for (side, msg) in [
            (Direction::ToServer, &tx.request),
            (Direction::ToClient, &tx.response),
        ] {
            for (n, v) in msg.headers() {
                let start = self.bytes.len() as u32;
                self.bytes.extend_from_slice(n);
                self.bytes.extend_from_slice(b": ");
                self.bytes.extend_from_slice(v);
                self.lines.push((side, start, self.bytes.len() as u32));
            }
        }
    }

    /// Forgets the lines (no transaction rendered).
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.lines.clear();
    }

    fn nth(&self, side: Direction, i: usize) -> Option<&[u8]> {
        let &(_, s, e) = self.lines.iter().filter(|l| l.0 == side).nth(i)?;
        self.bytes.get(s as usize..e as usize)
    }
}

/// The buffers of one transaction inspected in direction `dir`.
#[derive(Debug, Clone, Copy)]
pub struct TxBuffers<'a> {
    /// The transaction.
    pub tx: TxRef<'a>,
    /// Side being inspected.
    pub dir: Direction,
    /// Header lines of an HTTP transaction (filled by the caller when rules use them).
    pub lines: &'a HeaderLines,
    /// The packet payload, for rules that mix app-layer buffers with `pkt_data`.
    pub payload: &'a [u8],
    /// The flow's parser anomalies (`app-layer-event`).
    pub events: &'a EventSet,
    /// The files of the inspected direction (file keywords look at the transaction's).
    pub files: Option<&'a crate::files::FileSet>,
}

/// The app layer's buffer id of a rule buffer and the side it is read from (`None`: the
/// inspected side).
fn http_id(b: Buffer) -> Option<(BufferId, Option<Direction>)> {
    use Buffer as B;
    use BufferId as I;
    let id = match b {
        B::HttpUri => I::HttpUri,
        B::HttpUriRaw => I::HttpUriRaw,
        B::HttpMethod => I::HttpMethod,
        B::HttpRequestLine => I::HttpRequestLine,
        B::HttpProtocol => I::HttpProtocol,
        B::HttpHeader => I::HttpHeader,
        B::HttpHeaderRaw => I::HttpHeaderRaw,
        B::HttpHeaderNames => I::HttpHeaderNames,
        B::HttpCookie => I::HttpCookie,
        B::HttpUserAgent => I::HttpUserAgent,
        B::HttpHost => I::HttpHost,
        B::HttpHostRaw => I::HttpHostRaw,
        B::HttpReferer => I::HttpReferer,
        B::HttpContentType => I::HttpContentType,
        B::HttpContentLen => I::HttpContentLen,
        B::HttpAccept => I::HttpAccept,
        B::HttpAcceptEnc => I::HttpAcceptEnc,
        B::HttpAcceptLang => I::HttpAcceptLang,
        B::HttpConnection => I::HttpConnection,
        B::HttpStart => I::HttpStart,
        B::HttpRequestBody => I::HttpRequestBody,
        // `http.response_body` is the response's; `file.data` follows the inspected side.
        B::HttpResponseBody => return Some((I::HttpResponseBody, Some(Direction::ToClient))),
        B::FileData => return Some((I::HttpResponseBody, None)),
        B::HttpStatCode => I::HttpStatCode,
        B::HttpStatMsg => I::HttpStatMsg,
        B::HttpResponseLine => I::HttpResponseLine,
        B::HttpServer => I::HttpServer,
        B::HttpLocation => I::HttpLocation,
        _ => return None,
    };
    Some((id, id.direction()))
}

fn smtp_id(b: Buffer) -> Option<BufferId> {
    use Buffer as B;
    use BufferId as I;
    Some(match b {
        B::FileData => I::SmtpFileData,
        B::FileName => I::SmtpFileName,
        B::SmtpHelo => I::SmtpHelo,
        B::SmtpMailFrom => I::SmtpMailFrom,
        B::SmtpRcptTo => I::SmtpRcptTo,
        B::EmailFrom => I::EmailFrom,
        B::EmailSubject => I::EmailSubject,
        B::EmailTo => I::EmailTo,
        B::EmailCc => I::EmailCc,
        B::EmailDate => I::EmailDate,
        B::EmailMessageId => I::EmailMessageId,
        B::EmailXMailer => I::EmailXMailer,
        B::EmailUrl => I::EmailUrl,
        B::EmailReceived => I::EmailReceived,
        _ => return None,
    })
}

fn tls_id(b: Buffer) -> Option<BufferId> {
    use Buffer as B;
    use BufferId as I;
    Some(match b {
        B::TlsSni => I::TlsSni,
        B::TlsCertSubject => I::TlsCertSubject,
        B::TlsCertIssuer => I::TlsCertIssuer,
        B::TlsCertSerial => I::TlsCertSerial,
        B::TlsCertFingerprint => I::TlsCertFingerprint,
        B::TlsCerts => I::TlsCerts,
        B::Ja3Hash => I::Ja3Hash,
        B::Ja3String => I::Ja3String,
        B::Ja3sHash => I::Ja3sHash,
        B::Ja3sString => I::Ja3sString,
        _ => return None,
    })
}

/// True when some rule of `engine` reads per-line HTTP header buffers (then the caller fills
/// [`HeaderLines`] before inspecting an HTTP transaction).
pub fn uses_header_lines(engine: &rules::Engine) -> bool {
    engine.rules.iter().any(|r| {
        r.lists.iter().any(|l| {
            matches!(
                l.buffer,
                Buffer::HttpRequestHeader | Buffer::HttpResponseHeader
            )
        })
    })
}

/// `dns.rrtype` values of a message: a request's question types, a response's answer types.
fn rrtypes(tx: &DnsTx) -> impl Iterator<Item = u16> + '_ {
    let response = tx.is_response();
    let q = tx.queries().iter().map(|q| q.rrtype);
    let a = tx.records(Section::Answer).iter().map(|r| r.rrtype);
    q.filter(move |_| !response)
        .chain(a.filter(move |_| response))
}

fn ssl_state_matches(spec: &str, state: u32) -> bool {
    let mut any_positive = false;
    let mut positive_hit = false;
    for item in spec.split('|') {
        let item = item.trim();
        let (neg, name) = match item.strip_prefix('!') {
            Some(n) => (true, n),
            None => (false, item),
        };
        let Some(bits) = crate::app::tls::ssl_state_from_name(name) else {
            return false;
        };
        let present = if bits == 0 {
            state == 0
        } else {
            state & bits != 0
        };
        if neg {
            if present {
                return false;
            }
        } else {
            any_positive = true;
            positive_hit |= present;
        }
    }
    !any_positive || positive_hit
}

impl TxBuffers<'_> {
    /// `file.name`: the names of the transaction's files in the inspected direction.
    fn file_name(&self, instance: usize) -> Option<&[u8]> {
        let tx_id = match self.tx {
            TxRef::Http(tx) => Some(tx.id),
            TxRef::FtpData(_) => None,
            _ => return None,
        };
        let f = self
            .files?
            .iter()
            .filter(|f| tx_id.is_none_or(|id| f.tx_id == id) && !f.name().is_empty())
            .nth(instance)?;
        Some(f.name())
    }

    fn app_state_match(&self, m: &AppMatch) -> bool {
        match (m, self.tx) {
            (AppMatch::DnsOpcode(c), TxRef::Dns(tx)) => c.matches(u64::from(tx.opcode())),
            // Either direction's header, as Suricata 8 (a request's RCODE is normally 0).
            (AppMatch::DnsRcode(c), TxRef::Dns(tx)) => c.matches(u64::from(tx.rcode())),
            (AppMatch::DnsRrtype { cmp, index }, TxRef::Dns(tx)) => match index {
                // `all` (or no index): every value matches, and there is one.
                None => {
                    rrtypes(tx).next().is_some() && rrtypes(tx).all(|t| cmp.matches(u64::from(t)))
                }
                Some(i) if *i >= 0 => rrtypes(tx)
                    .nth(*i as usize)
                    .is_some_and(|t| cmp.matches(u64::from(t))),
                Some(i) => {
                    let n = rrtypes(tx).count();
                    let back = i.unsigned_abs() as usize;
                    n >= back
                        && rrtypes(tx)
                            .nth(n - back)
                            .is_some_and(|t| cmp.matches(u64::from(t)))
                }
            },
            (AppMatch::SslState(spec), TxRef::Tls(info)) => ssl_state_matches(spec, info.state),
            (AppMatch::SslVersion(list), TxRef::Tls(info)) => {
                let v = if info.version != 0 {
                    info.version
                } else {
                    info.client_version
                };
                v != 0
                    && list.iter().any(|n| {
                        let (neg, n) = match n.trim().strip_prefix('!') {
                            Some(x) => (true, x),
                            None => (false, n.as_str()),
                        };
                        (crate::app::tls::version_from_name(n) == Some(v)) != neg
                    })
            }
            // FTP keeps its anomalies per transaction, as Suricata does.
            (AppMatch::Event(name), TxRef::Ftp { tx, .. }) => {
                AppEvent::from_name(name.trim()).is_some_and(|e| tx.has_event(e))
            }
            (AppMatch::Event(name), _) => {
                AppEvent::from_name(name.trim()).is_some_and(|e| self.events.contains(e))
            }
            (AppMatch::File(m), TxRef::Http(tx)) => self.files.is_some_and(|files| {
                files
                    .iter()
                    .any(|f| f.tx_id == tx.id && super::file_match::matches(m, f))
            }),
            (AppMatch::File(m), TxRef::FtpData(_)) => self
                .files
                .is_some_and(|files| files.iter().any(|f| super::file_match::matches(m, f))),
            (m, TxRef::Ftp { tx, bounce }) => ftp_match(m, tx, bounce, self.dir),
            (AppMatch::FtpdataCommand { stor }, TxRef::FtpData(s)) => {
                let want = if *stor { Command::Stor } else { Command::Retr };
                s.origin.command == Some(want)
            }
            (AppMatch::File(m), TxRef::Smtp(s, tx)) => s
                .files()
                .iter()
                .any(|f| f.tx_id == tx.id && super::file_match::matches(m, f)),
            (AppMatch::TlsVersion(name), TxRef::Tls(info)) => {
                let v = if info.version != 0 {
                    info.version
                } else {
                    info.client_version
                };
                v != 0 && crate::app::tls::version_from_name(name) == Some(v)
            }
            _ => false,
        }
    }
}

/// FTP state keywords on a control-channel transaction, registered as Suricata 8 does:
/// `ftp.dynamic_port` and `ftp.mode` in both directions once a port is known,
/// `ftp.reply_received` to the client, `ftpbounce` to the server; none on a reply that
/// answered no command.
fn ftp_match(m: &AppMatch, tx: &FtpTx, bounce: bool, dir: Direction) -> bool {
    if tx.command.is_none() {
        return false;
    }
    match m {
        AppMatch::FtpDynamicPort(c) => tx.done && c.matches(u64::from(tx.dyn_port)),
        AppMatch::FtpMode { active } => tx.dyn_port != 0 && tx.active == *active,
        AppMatch::FtpReplyReceived(yes) => dir == Direction::ToClient && tx.done == *yes,
        AppMatch::FtpBounce => dir == Direction::ToServer && bounce,
        _ => false,
    }
}

/// An FTP buffer: the command side to the server, the reply side (once complete) to the
/// client.
fn ftp_buffer(tx: &FtpTx, buffer: Buffer, instance: usize, dir: Direction) -> Option<&[u8]> {
    match (buffer, dir) {
        (Buffer::FtpCommand, Direction::ToServer) if instance == 0 => {
            tx.command.map(|c| c.name().as_bytes())
        }
        (Buffer::FtpCommandData, Direction::ToServer) if instance == 0 => {
            let d = tx.command_data();
            (tx.command.is_some() && !d.is_empty()).then_some(d)
        }
        (Buffer::FtpReply, Direction::ToClient) if tx.done => {
            tx.reply_lines().nth(instance).map(|l| split_code(l).1)
        }
        (Buffer::FtpCompletionCode, Direction::ToClient) if tx.done => tx
            .reply_lines()
            .filter_map(|l| split_code(l).0)
            .nth(instance),
        _ => None,
    }
}

/// True when some rule of `engine` compares file digests (`filemd5`, `filesha1`,
/// `filesha256`): files are then hashed even without EVE `fileinfo` records.
pub fn uses_file_hashes(engine: &rules::Engine) -> bool {
    engine.rules.iter().any(|r| {
        r.app
            .iter()
            .any(|a| matches!(a, AppMatch::File(rules::ir::FileMatch::Hash { .. })))
    })
}

/// True when some rule of `engine` reads a JA3/JA3S buffer (Suricata then computes and logs
/// the fingerprints).
pub fn uses_ja3(engine: &rules::Engine) -> bool {
    engine.rules.iter().any(|r| {
        r.lists.iter().any(|l| {
            matches!(
                l.buffer,
                Buffer::Ja3Hash | Buffer::Ja3String | Buffer::Ja3sHash | Buffer::Ja3sString
            )
        })
    })
}

impl BufferSource for TxBuffers<'_> {
    fn app_match(&self, m: &AppMatch) -> bool {
        self.app_state_match(m)
    }

    fn buffer(&self, buffer: Buffer, instance: usize) -> Option<&[u8]> {
        if buffer == Buffer::Payload {
            return (instance == 0 && !self.payload.is_empty()).then_some(self.payload);
        }
        if buffer == Buffer::FileName && !matches!(self.tx, TxRef::Smtp(..)) {
            // Mail attachments' names are the SMTP state's (its own buffer ids below).
            return self.file_name(instance);
        }
        match self.tx {
            TxRef::Http(tx) => match buffer {
                Buffer::HttpRequestHeader => self.lines.nth(Direction::ToServer, instance),
                Buffer::HttpResponseHeader => self.lines.nth(Direction::ToClient, instance),
                _ => {
                    if instance != 0 {
                        return None;
                    }
                    let (id, side) = http_id(buffer)?;
                    id.http(tx, side.unwrap_or(self.dir))
                }
            },
            TxRef::Dns(tx) => match buffer {
                // `dns.query` is the request's question (Suricata registers it to-server
                // only); `dns.queries.rrname` reads questions of both directions.
                Buffer::DnsQuery if tx.is_response() => None,
                Buffer::DnsQuery | Buffer::DnsQueriesRrname => tx.query_name(instance),
                Buffer::DnsAnswersRrname => {
                    let r = tx.records(Section::Answer).get(instance)?;
                    Some(tx.record_name(r))
                }
                _ => None,
            },
            TxRef::Tls(info) => {
                let id = tls_id(buffer)?;
                if id != BufferId::TlsCerts && instance != 0 {
                    return None;
                }
                id.tls(info, instance)
            }
            TxRef::Ftp { tx, .. } => ftp_buffer(tx, buffer, instance, self.dir),
            TxRef::FtpData(s) => match buffer {
                Buffer::FileData if instance == 0 => s.content(self.dir),
                _ => None,
            },
            TxRef::WebSocket(f) => match buffer {
                // `websocket.payload` has no rule buffer of its own yet: rules reach it as
                // `file.data`, as Suricata's WebSocket keyword docs suggest for payloads.
                Buffer::FileData if instance == 0 => BufferId::WebSocketPayload.websocket(f),
                _ => None,
            },
            TxRef::Smtp(s, tx) => smtp_id(buffer)?.smtp(s, tx, instance),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::http::HttpState;
    use crate::app::{AppConfig, AppCounters, EventSet};
    use crate::time::Timestamp;

    #[test]
    fn http_sides_and_lines() {
        let cfg = AppConfig::default();
        let mut s = HttpState::new(&cfg);
        let mut ev = EventSet::default();
        let mut c = AppCounters::default();
        s.parse(
            &cfg,
            Direction::ToServer,
            b"POST /a%41 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nhi",
            Timestamp(0),
            &mut ev,
            &mut c,
        );
        s.parse(
            &cfg,
            Direction::ToClient,
            b"HTTP/1.1 404 Nope\r\nServer: s\r\nContent-Length: 3\r\n\r\nabc",
            Timestamp(0),
            &mut ev,
            &mut c,
        );
        let tx = s.txs().next().unwrap();
        let mut lines = HeaderLines::default();
        lines.fill(tx);
        let b = TxBuffers {
            tx: TxRef::Http(tx),
            dir: Direction::ToClient,
            lines: &lines,
            payload: b"",
            events: &EventSet::default(),
            files: Some(s.files(Direction::ToClient)),
        };
        // The response body is the transaction's file, named by the request path.
        let file = |m| AppMatch::File(m);
        let ext = |e: &[u8]| {
            file(rules::ir::FileMatch::Ext {
                ext: e.to_vec(),
                negated: false,
            })
        };
        assert!(!b.app_match(&ext(b"pdf")));
        let name = rules::ir::FileMatch::Name {
            pattern: b"/AA".to_vec(),
            negated: false,
        };
        assert!(b.app_match(&file(name)));
        let size = rules::keyword::uint::parse_cmp("3", 9).unwrap();
        assert!(b.app_match(&file(rules::ir::FileMatch::Size(size))));
        // One-sided buffers answer whatever side is inspected.
        assert_eq!(b.buffer(Buffer::HttpUriRaw, 0), Some(&b"/a%41"[..]));
        assert_eq!(b.buffer(Buffer::HttpUri, 0), Some(&b"/aA"[..]));
        assert_eq!(b.buffer(Buffer::HttpStatCode, 0), Some(&b"404"[..]));
        // Two-sided ones follow the inspected side.
        assert_eq!(b.buffer(Buffer::FileData, 0), Some(&b"abc"[..]));
        assert_eq!(b.buffer(Buffer::HttpResponseBody, 0), Some(&b"abc"[..]));
        let to_server = TxBuffers {
            dir: Direction::ToServer,
            ..b
        };
        assert_eq!(to_server.buffer(Buffer::FileData, 0), Some(&b"hi"[..]));
        assert_eq!(
            to_server.buffer(Buffer::HttpResponseBody, 0),
            Some(&b"abc"[..])
        );
        assert_eq!(b.buffer(Buffer::HttpRequestHeader, 1), Some(&b"X-A: 1"[..]));
        assert_eq!(
            b.buffer(Buffer::HttpResponseHeader, 0),
            Some(&b"Server: s"[..])
        );
        assert_eq!(b.buffer(Buffer::HttpResponseHeader, 2), None);
        assert_eq!(b.buffer(Buffer::FileName, 0), Some(&b"/aA"[..]));
        assert_eq!(b.buffer(Buffer::FileName, 1), None);
        assert_eq!(b.buffer(Buffer::DnsQuery, 0), None);
        assert_eq!(b.buffer(Buffer::Payload, 0), None);
    }

    #[test]
    fn dns_and_tls_state_keywords() {
        use crate::app::dns::parse_message;
        use rules::ir::{CmpOp, NumCmp};
        // A response (QR, opcode 0, rcode 3) to one A question with one A answer.
        let mut msg = vec![0x10, 0x32, 0x81, 0x83, 0, 1, 0, 1, 0, 0, 0, 0];
        msg.extend_from_slice(b"\x01a\x02io\x00\x00\x01\x00\x01");
        msg.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
        let mut tx = DnsTx::default();
        let mut ev = EventSet::default();
        parse_message(&msg, &mut tx, 16, &mut ev).expect("valid message");
        let lines = HeaderLines::default();
        let b = TxBuffers {
            tx: TxRef::Dns(&tx),
            dir: Direction::ToClient,
            lines: &lines,
            payload: b"",
            events: &EventSet::default(),
            files: None,
        };
        let eq = |a| NumCmp {
            op: CmpOp::Eq,
            a,
            b: 0,
        };
        assert!(b.app_match(&AppMatch::DnsOpcode(eq(0))));
        assert!(!b.app_match(&AppMatch::DnsOpcode(eq(4))));
        assert!(b.app_match(&AppMatch::DnsRcode(eq(3))));
        // A request's header RCODE counts too (suricata-verify dns/dns-rcode).
        let mut query = DnsTx::default();
        let mut q = msg[..12].to_vec();
        q[2] = 0x01; // QR clear, RD set; RCODE 3 kept
        q[7] = 0; // no answers
        q.extend_from_slice(b"\x01a\x02io\x00\x00\x01\x00\x01");
        parse_message(&q, &mut query, 16, &mut ev).expect("valid query");
        let qb = TxBuffers {
            tx: TxRef::Dns(&query),
            dir: Direction::ToServer,
            ..b
        };
        assert!(!query.is_response() && qb.app_match(&AppMatch::DnsRcode(eq(3))));
        let rr = |index| AppMatch::DnsRrtype { cmp: eq(1), index };
        assert!(b.app_match(&rr(None)));
        assert!(b.app_match(&rr(Some(0))));
        assert!(b.app_match(&rr(Some(-1))));
        assert!(!b.app_match(&rr(Some(2))));
        assert_eq!(b.buffer(Buffer::DnsQueriesRrname, 0), Some(&b"a.io"[..]));
        assert_eq!(b.buffer(Buffer::DnsQuery, 0), None);
        // TLS: state bits and versions.
        let info = TlsInfo {
            state: crate::app::tls::state::CLIENT_HELLO,
            client_version: 0x0303,
            ..TlsInfo::default()
        };
        let t = TxBuffers {
            tx: TxRef::Tls(&info),
            ..b
        };
        assert!(t.app_match(&AppMatch::SslState("client_hello".into())));
        assert!(t.app_match(&AppMatch::SslState("server_hello|client_hello".into())));
        assert!(!t.app_match(&AppMatch::SslState("!client_hello".into())));
        assert!(t.app_match(&AppMatch::TlsVersion("1.2".into())));
        assert!(t.app_match(&AppMatch::SslVersion(vec![
            "tls1.1".into(),
            "tls1.2".into()
        ])));
        assert!(!t.app_match(&AppMatch::SslVersion(vec!["sslv3".into()])));
        // `app-layer-event`: the flow's parser anomalies.
        let mut ev = EventSet::default();
        ev.push(AppEvent::DnsMalformedData);
        let with_event = TxBuffers { events: &ev, ..b };
        let malformed = AppMatch::Event("dns.malformed_data".into());
        assert!(with_event.app_match(&malformed));
        assert!(!b.app_match(&malformed));
        assert!(!with_event.app_match(&AppMatch::Event("dns.no_such_event".into())));
        // A state keyword of another protocol never holds.
        assert!(!t.app_match(&AppMatch::DnsOpcode(eq(0))));
    }
}
