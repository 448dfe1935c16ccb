//! Rule buffers the app layer provides, by Suricata keyword, and their accessors.
//!
//! The detection stage maps a rule's sticky buffer or content modifier to a [`BufferId`] with
//! [`BufferId::from_keyword`], then asks the flow's transaction for it: [`BufferId::http`],
//! [`BufferId::tls`], [`BufferId::websocket`]; multi-buffers are indexed from 0 until `None`
//! (`http.request_header` via [`BufferId::http_multi`], `dns.query` via [`BufferId::dns`],
//! `tls.certs` via [`BufferId::tls`]). Direction matters for keywords that exist on both sides
//! (`http.header`, `http.protocol`, `http.content_type`, ...).

use super::dns::DnsTx;
use super::http::HttpTx;
use super::smtp::tx::SmtpTx;
use super::smtp::SmtpState;
use super::tls::TlsInfo;
use super::websocket::WsFrame;
use super::Direction;

/// A buffer a rule can inspect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum BufferId {
    HttpMethod,
    HttpUri,
    HttpUriRaw,
    HttpProtocol,
    HttpRequestLine,
    HttpHeader,
    HttpHeaderRaw,
    HttpHeaderNames,
    HttpHost,
    HttpHostRaw,
    HttpUserAgent,
    HttpCookie,
    HttpAccept,
    HttpAcceptEnc,
    HttpAcceptLang,
    HttpReferer,
    HttpContentType,
    HttpContentLen,
    HttpConnection,
    HttpStart,
    HttpRequestBody,
    HttpResponseBody,
    HttpStatCode,
    HttpStatMsg,
    HttpResponseLine,
    HttpServer,
    HttpLocation,
    /// Multi-buffer: one `Name: value` per request header.
    HttpRequestHeader,
    /// Multi-buffer: one `Name: value` per response header.
    HttpResponseHeader,
    /// Multi-buffer: one query name per question.
    DnsQuery,
    TlsSni,
    TlsCertSubject,
    TlsCertIssuer,
    TlsCertSerial,
    TlsCertFingerprint,
    /// Multi-buffer: each DER certificate of the chain.
    TlsCerts,
    Ja3Hash,
    Ja3String,
    Ja3sHash,
    Ja3sString,
    Ja4Hash,
    WebSocketPayload,
    /// Multi-buffer: each attachment's decoded content (`file.data` on SMTP).
    SmtpFileData,
    /// Multi-buffer: each attachment's name (`file.name`).
    SmtpFileName,
    SmtpHelo,
    SmtpMailFrom,
    /// Multi-buffer: each `RCPT TO`.
    SmtpRcptTo,
    EmailFrom,
    EmailSubject,
    EmailTo,
    EmailCc,
    EmailDate,
    EmailMessageId,
    EmailXMailer,
    /// Multi-buffer: each URL of the message's text.
    EmailUrl,
    /// Multi-buffer: each `Received` field.
    EmailReceived,
}

impl BufferId {
    /// Maps a sticky-buffer keyword or a legacy content modifier to its buffer. `file.data`
    /// and `file_data` are the HTTP bodies (the response body to the client, the request body
    /// to the server), as Suricata treats them for HTTP.
    pub fn from_keyword(kw: &str) -> Option<BufferId> {
        use BufferId::*;
        Some(match kw {
            "http.method" | "http_method" => HttpMethod,
            "http.uri" | "http_uri" | "uricontent" => HttpUri,
            "http.uri.raw" | "http_raw_uri" => HttpUriRaw,
            "http.protocol" | "http_protocol" => HttpProtocol,
            "http.request_line" | "http_request_line" => HttpRequestLine,
            "http.header" | "http_header" => HttpHeader,
            "http.header.raw" | "http_raw_header" => HttpHeaderRaw,
            "http.header_names" | "http_header_names" => HttpHeaderNames,
            "http.host" | "http_host" => HttpHost,
            "http.host.raw" | "http_raw_host" => HttpHostRaw,
            "http.user_agent" | "http_user_agent" => HttpUserAgent,
            "http.cookie" | "http_cookie" => HttpCookie,
            "http.accept" | "http_accept" => HttpAccept,
            "http.accept_enc" | "http_accept_enc" => HttpAcceptEnc,
            "http.accept_lang" | "http_accept_lang" => HttpAcceptLang,
            "http.referer" | "http_referer" => HttpReferer,
            "http.content_type" | "http_content_type" => HttpContentType,
            "http.content_len" | "http_content_len" => HttpContentLen,
            "http.connection" | "http_connection" => HttpConnection,
            "http.start" | "http_start" => HttpStart,
            "http.request_body" | "http_client_body" => HttpRequestBody,
            "http.response_body" | "http_server_body" | "http.server_body" | "file.data"
            | "file_data" => HttpResponseBody,
            "http.stat_code" | "http_stat_code" => HttpStatCode,
            "http.stat_msg" | "http_stat_msg" => HttpStatMsg,
            "http.response_line" | "http_response_line" => HttpResponseLine,
            "http.server" => HttpServer,
            "http.location" => HttpLocation,
            "http.request_header" => HttpRequestHeader,
            "http.response_header" => HttpResponseHeader,
            "dns.query" | "dns_query" => DnsQuery,
            "tls.sni" | "tls_sni" => TlsSni,
            "tls.cert_subject" | "tls_cert_subject" => TlsCertSubject,
            "tls.cert_issuer" | "tls_cert_issuer" => TlsCertIssuer,
            "tls.cert_serial" | "tls_cert_serial" => TlsCertSerial,
            "tls.cert_fingerprint" | "tls_cert_fingerprint" => TlsCertFingerprint,
            "tls.certs" => TlsCerts,
            "ja3.hash" | "ja3_hash" => Ja3Hash,
            "ja3.string" | "ja3_string" => Ja3String,
            "ja3s.hash" | "ja3s_hash" => Ja3sHash,
            "ja3s.string" | "ja3s_string" => Ja3sString,
            "ja4.hash" => Ja4Hash,
            "websocket.payload" => WebSocketPayload,
            "smtp.helo" => SmtpHelo,
            "smtp.mail_from" => SmtpMailFrom,
            "smtp.rcpt_to" => SmtpRcptTo,
            "email.from" => EmailFrom,
            "email.subject" => EmailSubject,
            "email.to" => EmailTo,
            "email.cc" => EmailCc,
            "email.date" => EmailDate,
            "email.message_id" => EmailMessageId,
            "email.x_mailer" => EmailXMailer,
            "email.url" => EmailUrl,
            "email.received" => EmailReceived,
            _ => return None,
        })
    }

    /// True for buffers inspected one instance at a time.
    pub fn is_multi(self) -> bool {
        matches!(
            self,
            BufferId::HttpRequestHeader
                | BufferId::HttpResponseHeader
                | BufferId::DnsQuery
                | BufferId::TlsCerts
                | BufferId::SmtpFileData
                | BufferId::SmtpFileName
                | BufferId::SmtpRcptTo
                | BufferId::EmailUrl
                | BufferId::EmailReceived
        )
    }

    /// The only direction the buffer exists in, if it is one-sided.
    pub fn direction(self) -> Option<Direction> {
        use BufferId::*;
        match self {
            HttpMethod | HttpUri | HttpUriRaw | HttpRequestLine | HttpHost | HttpHostRaw
            | HttpUserAgent | HttpAccept | HttpAcceptEnc | HttpAcceptLang | HttpReferer
            | HttpConnection | HttpRequestBody | HttpRequestHeader | TlsSni | Ja3Hash
            | Ja3String | Ja4Hash | SmtpFileData | SmtpFileName | SmtpHelo | SmtpMailFrom
            | SmtpRcptTo | EmailFrom | EmailSubject | EmailTo | EmailCc | EmailDate
            | EmailMessageId | EmailXMailer | EmailUrl | EmailReceived => Some(Direction::ToServer),
            HttpStatCode | HttpStatMsg | HttpResponseLine | HttpServer | HttpLocation
            | HttpResponseHeader | TlsCertSubject | TlsCertIssuer | TlsCertSerial
            | TlsCertFingerprint | TlsCerts | Ja3sHash | Ja3sString => Some(Direction::ToClient),
            _ => None,
        }
    }

    /// A single buffer of an HTTP transaction, for `dir` (which side's headers, protocol or
    /// body). `None` if the transaction does not have it (yet).
    pub fn http(self, tx: &HttpTx, dir: Direction) -> Option<&[u8]> {
        use BufferId::*;
        let req = &tx.request;
        let resp = &tx.response;
        let msg = match dir {
            Direction::ToServer => req,
            Direction::ToClient => resp,
        };
        let has_req = req.progress > super::http::MsgProgress::None;
        let has_resp = resp.progress > super::http::MsgProgress::None;
        let has = match dir {
            Direction::ToServer => has_req,
            Direction::ToClient => has_resp,
        };
        let b = match self {
            HttpMethod if has_req => tx.method(),
            HttpUri if has_req => tx.uri(),
            HttpUriRaw if has_req => tx.uri_raw(),
            HttpRequestLine if has_req => req.line(),
            HttpProtocol if has => match dir {
                Direction::ToServer => tx.request_protocol(),
                Direction::ToClient => tx.response_protocol(),
            },
            HttpHeader if has => msg.header_buffer(),
            HttpHeaderRaw if has => msg.raw_headers(),
            HttpHeaderNames if has => msg.header_names(),
            HttpStart if has => msg.start(),
            HttpHost => return tx.host(),
            HttpHostRaw => return tx.host_raw(),
            HttpUserAgent => return req.header(b"user-agent"),
            HttpCookie => {
                return match dir {
                    Direction::ToServer => req.header(b"cookie"),
                    Direction::ToClient => resp.header(b"set-cookie"),
                }
            }
            HttpAccept => return req.header(b"accept"),
            HttpAcceptEnc => return req.header(b"accept-encoding"),
            HttpAcceptLang => return req.header(b"accept-language"),
            HttpReferer => return req.header(b"referer"),
            HttpConnection => return req.header(b"connection"),
            HttpContentType => return msg.header(b"content-type"),
            HttpContentLen => return msg.header(b"content-length"),
            HttpServer => return resp.header(b"server"),
            HttpLocation => return resp.header(b"location"),
            HttpRequestBody if req.body_len() > 0 => req.body(),
            HttpResponseBody => {
                // file.data follows the direction: the request body when inspecting to-server.
                let m = msg;
                if m.body_len() == 0 {
                    return None;
                }
                m.body()
            }
            HttpStatCode if has_resp => tx.status_code(),
            HttpStatMsg if has_resp => tx.status_msg(),
            HttpResponseLine if has_resp => resp.line(),
            _ => return None,
        };
        Some(b)
    }

    /// Instance `i` of an HTTP multi-buffer (`Name: value`, written into `scratch`).
    pub fn http_multi<'a>(
        self,
        tx: &HttpTx,
        i: usize,
        scratch: &'a mut Vec<u8>,
    ) -> Option<&'a [u8]> {
        let msg = match self {
            BufferId::HttpRequestHeader => &tx.request,
            BufferId::HttpResponseHeader => &tx.response,
            _ => return None,
        };
        let (n, v) = msg.headers().nth(i)?;
        scratch.clear();
        scratch.extend_from_slice(n);
        scratch.extend_from_slice(b": ");
        scratch.extend_from_slice(v);
        Some(scratch.as_slice())
    }

    /// Instance `i` of `dns.query`.
    pub fn dns(self, tx: &DnsTx, i: usize) -> Option<&[u8]> {
        match self {
            BufferId::DnsQuery => tx.query_name(i),
            _ => None,
        }
    }

    /// A TLS buffer; `i` indexes `tls.certs` (ignored otherwise).
    pub fn tls(self, info: &TlsInfo, i: usize) -> Option<&[u8]> {
        use BufferId::*;
        let nonempty = |b: &'_ [u8]| -> bool { !b.is_empty() };
        let b: &[u8] = match self {
            TlsSni => &info.sni,
            TlsCertSubject => &info.cert()?.subject,
            TlsCertIssuer => &info.cert()?.issuer,
            TlsCertSerial => info.cert()?.serial.as_bytes(),
            TlsCertFingerprint => info.cert()?.fingerprint.as_bytes(),
            TlsCerts => &info.certs.get(i)?.der,
            Ja3Hash => info.ja3_hash.as_bytes(),
            Ja3String => info.ja3.as_bytes(),
            Ja3sHash => info.ja3s_hash.as_bytes(),
            Ja3sString => info.ja3s.as_bytes(),
            Ja4Hash => info.ja4.as_bytes(),
            _ => return None,
        };
        nonempty(b).then_some(b)
    }

    /// Instance `i` of an SMTP buffer of transaction `tx` (single buffers: `i` = 0 only;
    /// empty fields are absent).
    pub fn smtp<'a>(self, s: &'a SmtpState, tx: &'a SmtpTx, i: usize) -> Option<&'a [u8]> {
        use BufferId::*;
        let single = |b: &'a [u8]| (i == 0 && !b.is_empty()).then_some(b);
        let email = || s.email(tx);
        match self {
            SmtpFileData => tx.file_data(i),
            SmtpFileName => s
                .files()
                .iter()
                .filter(|f| f.tx_id == tx.id)
                .nth(i)
                .map(|f| f.name()),
            SmtpHelo => single(&s.helo),
            SmtpMailFrom => single(&tx.mail_from),
            SmtpRcptTo => tx.rcpt(i),
            EmailFrom => single(&email()?.from),
            EmailSubject => single(&email()?.subject),
            EmailTo => single(&email()?.to),
            EmailCc => single(&email()?.cc),
            EmailDate => single(&email()?.date),
            EmailMessageId => single(&email()?.message_id),
            EmailXMailer => single(&email()?.x_mailer),
            EmailUrl => email()?.urls.get(i).map(Vec::as_slice),
            EmailReceived => email()?.received.get(i).map(Vec::as_slice),
            _ => None,
        }
    }

    /// `websocket.payload` of a frame.
    pub fn websocket(self, f: &WsFrame) -> Option<&[u8]> {
        match self {
            BufferId::WebSocketPayload => Some(&f.payload),
            _ => None,
        }
    }
}

/// `urilen` semantics: length of the normalized (`norm`, the default) or raw URI.
pub fn urilen(tx: &HttpTx, raw: bool) -> usize {
    if raw {
        tx.uri_raw().len()
    } else {
        tx.uri().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_buffers_by_direction() {
        use crate::app::http::HttpState;
        use crate::app::{AppConfig, AppCounters, EventSet};
        use crate::time::Timestamp;
        let cfg = AppConfig::default();
        let mut s = HttpState::new(&cfg);
        let mut ev = EventSet::default();
        let mut c = AppCounters::default();
        let t0 = Timestamp(0);
        s.parse(
            &cfg,
            Direction::ToServer,
            b"POST /u HTTP/1.1\r\nHost: h\r\nCookie: c=1\r\nContent-Type: a/b\r\nAccept: */*\r\n\
              Accept-Encoding: gzip\r\nAccept-Language: en\r\nReferer: r\r\nConnection: close\r\n\
              Content-Length: 2\r\n\r\nhi",
            t0,
            &mut ev,
            &mut c,
        );
        let get = |s: &HttpState, k: &str, d: Direction| -> Option<Vec<u8>> {
            let tx = s.txs().next().unwrap();
            BufferId::from_keyword(k)
                .unwrap()
                .http(tx, d)
                .map(<[u8]>::to_vec)
        };
        let v = |b: &[u8]| Some(b.to_vec());
        // Response side not there yet.
        assert_eq!(get(&s, "http.stat_code", Direction::ToClient), None);
        assert_eq!(get(&s, "http.header", Direction::ToClient), None);
        s.parse(
            &cfg,
            Direction::ToClient,
            b"HTTP/1.1 200 OK\r\nSet-Cookie: s=2\r\nContent-Type: text/x\r\nServer: srv\r\n\
              Location: /l\r\nContent-Length: 3\r\n\r\nabc",
            t0,
            &mut ev,
            &mut c,
        );
        let (s2c, c2s) = (Direction::ToClient, Direction::ToServer);
        assert_eq!(get(&s, "http.cookie", c2s), v(b"c=1"));
        assert_eq!(get(&s, "http.cookie", s2c), v(b"s=2"));
        assert_eq!(get(&s, "http.content_type", c2s), v(b"a/b"));
        assert_eq!(get(&s, "http.content_type", s2c), v(b"text/x"));
        assert_eq!(get(&s, "http.content_len", c2s), v(b"2"));
        assert_eq!(get(&s, "http.accept", c2s), v(b"*/*"));
        assert_eq!(get(&s, "http.accept_enc", c2s), v(b"gzip"));
        assert_eq!(get(&s, "http.accept_lang", c2s), v(b"en"));
        assert_eq!(get(&s, "http.referer", c2s), v(b"r"));
        assert_eq!(get(&s, "http.connection", c2s), v(b"close"));
        assert_eq!(get(&s, "http.server", s2c), v(b"srv"));
        assert_eq!(get(&s, "http.location", s2c), v(b"/l"));
        assert_eq!(get(&s, "http_client_body", c2s), v(b"hi"));
        assert_eq!(get(&s, "file.data", s2c), v(b"abc"));
        assert_eq!(get(&s, "file.data", c2s), v(b"hi"));
        assert_eq!(get(&s, "http.request_line", c2s), v(b"POST /u HTTP/1.1"));
        assert_eq!(get(&s, "http.response_line", s2c), v(b"HTTP/1.1 200 OK"));
        assert_eq!(get(&s, "http.stat_msg", s2c), v(b"OK"));
        assert_eq!(get(&s, "http.user_agent", c2s), None);
        let start = get(&s, "http.start", s2c).unwrap();
        assert!(start.starts_with(b"HTTP/1.1 200 OK\r\nSet-Cookie: s=2\r\n"));
        assert!(start.ends_with(b"Content-Length: 3\r\n\r\n"));
        let hdr = get(&s, "http.header", s2c).unwrap();
        assert!(!hdr.windows(10).any(|w| w == b"Set-Cookie"));
        let names = get(&s, "http.header_names", c2s).unwrap();
        assert!(names.starts_with(b"\r\nHost\r\nCookie\r\n"));
        assert!(names.ends_with(b"Content-Length\r\n\r\n"));
    }

    #[test]
    fn keywords_map() {
        assert_eq!(
            BufferId::from_keyword("http_raw_uri"),
            Some(BufferId::HttpUriRaw)
        );
        assert_eq!(
            BufferId::from_keyword("uricontent"),
            Some(BufferId::HttpUri)
        );
        assert_eq!(
            BufferId::from_keyword("file_data"),
            Some(BufferId::HttpResponseBody)
        );
        assert_eq!(
            BufferId::from_keyword("dns.query"),
            Some(BufferId::DnsQuery)
        );
        assert!(BufferId::DnsQuery.is_multi());
        assert_eq!(BufferId::from_keyword("content"), None);
        assert_eq!(
            BufferId::HttpStatCode.direction(),
            Some(Direction::ToClient)
        );
    }
}
