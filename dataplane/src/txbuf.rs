//! The bridge between the app layer's transactions and the detection engine's buffers: a
//! [`BufferSource`] over one transaction, answering each rule buffer ([`rules::ir::Buffer`])
//! with the bytes Suricata defines for it.
//!
//! Buffers that exist on one side only (`http.uri`, `http.stat_code`, `tls.sni`, ...) answer
//! from that side whatever the inspection direction, so a rule that combines request and
//! response buffers matches once the response arrives; two-sided buffers (`http.header`,
//! `http.protocol`, `file.data`, ...) answer from the side being inspected.

use rules::ir::Buffer;

use crate::app::buffers::BufferId;
use crate::app::dns::{DnsTx, Section};
use crate::app::http::HttpTx;
use crate::app::tls::TlsInfo;
use crate::app::websocket::WsFrame;
use crate::app::Direction;
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

impl BufferSource for TxBuffers<'_> {
    fn buffer(&self, buffer: Buffer, instance: usize) -> Option<&[u8]> {
        if buffer == Buffer::Payload {
            return (instance == 0 && !self.payload.is_empty()).then_some(self.payload);
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
            TxRef::WebSocket(f) => match buffer {
                // `websocket.payload` has no rule buffer of its own yet: rules reach it as
                // `file.data`, as Suricata's WebSocket keyword docs suggest for payloads.
                Buffer::FileData if instance == 0 => BufferId::WebSocketPayload.websocket(f),
                _ => None,
            },
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
        };
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
        assert_eq!(b.buffer(Buffer::DnsQuery, 0), None);
        assert_eq!(b.buffer(Buffer::Payload, 0), None);
    }
}
