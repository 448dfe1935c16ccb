//! The validated rule IR: typed meaning of every keyword, addresses and ports resolved
//! against variables, matches grouped per inspection buffer.
//!
//! [`Buffer`] is the single source of truth for where a match applies: the data plane keys its
//! inspection on it, the compiler keys its Hyperscan databases on it.

use crate::ast::{Action, Arrow};
use serde::Serialize;
use std::sync::Arc;
use vocab::{AppProto, Direction};

/// Protocol of the rule header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Proto {
    /// Any IP packet.
    Ip,
    /// TCP packets and stream.
    Tcp,
    /// TCP packets only (no reassembled stream).
    TcpPkt,
    /// Reassembled TCP stream only.
    TcpStream,
    /// UDP.
    Udp,
    /// ICMPv4 and ICMPv6.
    Icmp,
    /// ICMPv4.
    Icmpv4,
    /// ICMPv6.
    Icmpv6,
    /// SCTP.
    Sctp,
    /// An application-layer protocol (never [`AppProto::Unknown`] or [`AppProto::Failed`]).
    App(AppProto),
}

impl Proto {
    /// Parses a header protocol name as Suricata accepts it.
    pub fn from_name(s: &str) -> Option<Proto> {
        Some(match s.to_ascii_lowercase().as_str() {
            "ip" | "ipv4" | "ipv6" | "pkthdr" => Proto::Ip,
            "tcp" => Proto::Tcp,
            "tcp-pkt" => Proto::TcpPkt,
            "tcp-stream" => Proto::TcpStream,
            "udp" => Proto::Udp,
            "icmp" => Proto::Icmp,
            "icmpv4" => Proto::Icmpv4,
            "icmpv6" => Proto::Icmpv6,
            "sctp" => Proto::Sctp,
            other => {
                return AppProto::from_name(other)
                    .filter(|a| a.is_known())
                    .map(Proto::App)
            }
        })
    }

    /// IP protocol number the rule is restricted to, if any (app-layer protocols ride on
    /// TCP or UDP and are told apart by the app-layer detector).
    pub fn ip_proto(self) -> Option<u8> {
        match self {
            Proto::Tcp | Proto::TcpPkt | Proto::TcpStream => Some(6),
            Proto::Udp => Some(17),
            Proto::Icmpv4 => Some(1),
            Proto::Icmpv6 => Some(58),
            Proto::Sctp => Some(132),
            _ => None,
        }
    }
}

/// A set of IP addresses as sorted, merged inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct IpSet {
    /// IPv4 ranges.
    pub v4: Vec<(u32, u32)>,
    /// IPv6 ranges.
    pub v6: Vec<(u128, u128)>,
}

impl IpSet {
    /// Every address.
    pub fn any() -> Self {
        IpSet {
            v4: vec![(0, u32::MAX)],
            v6: vec![(0, u128::MAX)],
        }
    }

    /// `true` when the set holds every address.
    pub fn is_any(&self) -> bool {
        *self == IpSet::any()
    }

    /// `true` when the set holds no address.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Membership test.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        match ip {
            std::net::IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().any(|&(lo, hi)| lo <= a && a <= hi)
            }
            std::net::IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().any(|&(lo, hi)| lo <= a && a <= hi)
            }
        }
    }
}

/// A set of ports as sorted, merged inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
pub struct PortSet(pub Vec<(u16, u16)>);

impl PortSet {
    /// Every port.
    pub fn any() -> Self {
        PortSet(vec![(0, u16::MAX)])
    }

    /// `true` when the set holds every port.
    pub fn is_any(&self) -> bool {
        self.0 == [(0, u16::MAX)]
    }

    /// Membership test.
    pub fn contains(&self, p: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| lo <= p && p <= hi)
    }
}

/// Where a match applies. One variant per inspection buffer the data plane provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Buffer {
    /// Packet payload, or the reassembled stream for stream-capable rules (`pkt_data`).
    Payload,
    HttpUri,
    HttpUriRaw,
    HttpMethod,
    HttpRequestLine,
    HttpProtocol,
    HttpHeader,
    HttpHeaderRaw,
    HttpHeaderNames,
    HttpCookie,
    HttpUserAgent,
    HttpHost,
    HttpHostRaw,
    HttpReferer,
    HttpContentType,
    HttpContentLen,
    HttpAccept,
    HttpAcceptEnc,
    HttpAcceptLang,
    HttpConnection,
    HttpStart,
    HttpRequestBody,
    HttpResponseBody,
    HttpStatCode,
    HttpStatMsg,
    HttpResponseLine,
    HttpServer,
    HttpLocation,
    /// `file.data`: file content (HTTP bodies, SMTP attachments, ...).
    FileData,
    DnsQuery,
    TlsSni,
    TlsCertSubject,
    TlsCertIssuer,
    TlsCertSerial,
    TlsCertFingerprint,
    /// Every certificate of the chain, one at a time.
    TlsCerts,
    Ja3Hash,
    Ja3String,
    Ja3sHash,
    Ja3sString,
    SshSoftware,
    SshProto,
    /// Output of the rule's `base64_decode`.
    Base64Data,
    /// Each DNS query name (`dns.queries.rrname`).
    DnsQueriesRrname,
    /// Each DNS answer name (`dns.answers.rrname`).
    DnsAnswersRrname,
    /// Each request header line, one at a time (`http.request_header`, HTTP/2 too).
    HttpRequestHeader,
    /// Each response header line, one at a time (`http.response_header`).
    HttpResponseHeader,
    /// `file.name`: the name of each file of the transaction, one at a time.
    FileName,
    /// `ftp.command`: the command's canonical name.
    FtpCommand,
    /// `ftp.command_data`: the command's argument.
    FtpCommandData,
    /// `ftp.reply`: each reply line's text, one at a time.
    FtpReply,
    /// `ftp.completion_code`: each reply line's code, one at a time.
    FtpCompletionCode,
    SmtpHelo,
    SmtpMailFrom,
    /// Each `RCPT TO` parameter.
    SmtpRcptTo,
    EmailFrom,
    EmailSubject,
    EmailTo,
    EmailCc,
    EmailDate,
    EmailMessageId,
    EmailXMailer,
    /// Each URL found in the message's text.
    EmailUrl,
    /// Each `Received` header field.
    EmailReceived,
}

impl Buffer {
    /// Sticky-buffer keyword (current and legacy names) → buffer.
    pub fn from_sticky(name: &str) -> Option<Buffer> {
        use Buffer::*;
        Some(match name {
            "pkt_data" => Payload,
            "http.uri" => HttpUri,
            "http.uri.raw" => HttpUriRaw,
            "http.method" => HttpMethod,
            "http.request_line" | "http_request_line" => HttpRequestLine,
            "http.protocol" | "http_protocol" => HttpProtocol,
            "http.header" => HttpHeader,
            "http.header.raw" => HttpHeaderRaw,
            "http.header_names" | "http_header_names" => HttpHeaderNames,
            "http.cookie" => HttpCookie,
            "http.user_agent" => HttpUserAgent,
            "http.host" => HttpHost,
            "http.host.raw" => HttpHostRaw,
            "http.referer" => HttpReferer,
            "http.content_type" | "http_content_type" => HttpContentType,
            "http.content_len" | "http_content_len" => HttpContentLen,
            "http.accept" | "http_accept" => HttpAccept,
            "http.accept_enc" | "http_accept_enc" => HttpAcceptEnc,
            "http.accept_lang" | "http_accept_lang" => HttpAcceptLang,
            "http.connection" | "http_connection" => HttpConnection,
            "http.start" | "http_start" => HttpStart,
            "http.request_body" => HttpRequestBody,
            "http.response_body" => HttpResponseBody,
            "http.stat_code" => HttpStatCode,
            "http.stat_msg" => HttpStatMsg,
            "http.response_line" | "http_response_line" => HttpResponseLine,
            "http.server" | "http_server" => HttpServer,
            "http.location" | "http_location" => HttpLocation,
            "file.data" | "file_data" => FileData,
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
            "ssh.software" | "ssh_software" => SshSoftware,
            "ssh.proto" | "ssh_proto" => SshProto,
            "base64_data" => Base64Data,
            "dns.queries.rrname" => DnsQueriesRrname,
            "dns.answers.rrname" => DnsAnswersRrname,
            "http.request_header" => HttpRequestHeader,
            "http.response_header" => HttpResponseHeader,
            "file.name" => FileName,
            "ftp.command" => FtpCommand,
            "ftp.command_data" => FtpCommandData,
            "ftp.reply" => FtpReply,
            "ftp.completion_code" => FtpCompletionCode,
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

    /// Legacy content modifier (applies to the preceding content) → buffer.
    pub fn from_modifier(name: &str) -> Option<Buffer> {
        use Buffer::*;
        Some(match name {
            "http_uri" => HttpUri,
            "http_raw_uri" => HttpUriRaw,
            "http_method" => HttpMethod,
            "http_header" => HttpHeader,
            "http_raw_header" => HttpHeaderRaw,
            "http_cookie" => HttpCookie,
            "http_user_agent" => HttpUserAgent,
            "http_host" => HttpHost,
            "http_raw_host" => HttpHostRaw,
            "http_referer" => HttpReferer,
            "http_client_body" => HttpRequestBody,
            "http_server_body" => HttpResponseBody,
            "http_stat_code" => HttpStatCode,
            "http_stat_msg" => HttpStatMsg,
            _ => return None,
        })
    }

    /// The sticky-buffer keyword that selects this buffer (for export).
    pub fn keyword(self) -> &'static str {
        use Buffer::*;
        match self {
            Payload => "pkt_data",
            HttpUri => "http.uri",
            HttpUriRaw => "http.uri.raw",
            HttpMethod => "http.method",
            HttpRequestLine => "http.request_line",
            HttpProtocol => "http.protocol",
            HttpHeader => "http.header",
            HttpHeaderRaw => "http.header.raw",
            HttpHeaderNames => "http.header_names",
            HttpCookie => "http.cookie",
            HttpUserAgent => "http.user_agent",
            HttpHost => "http.host",
            HttpHostRaw => "http.host.raw",
            HttpReferer => "http.referer",
            HttpContentType => "http.content_type",
            HttpContentLen => "http.content_len",
            HttpAccept => "http.accept",
            HttpAcceptEnc => "http.accept_enc",
            HttpAcceptLang => "http.accept_lang",
            HttpConnection => "http.connection",
            HttpStart => "http.start",
            HttpRequestBody => "http.request_body",
            HttpResponseBody => "http.response_body",
            HttpStatCode => "http.stat_code",
            HttpStatMsg => "http.stat_msg",
            HttpResponseLine => "http.response_line",
            HttpServer => "http.server",
            HttpLocation => "http.location",
            FileData => "file.data",
            DnsQuery => "dns.query",
            TlsSni => "tls.sni",
            TlsCertSubject => "tls.cert_subject",
            TlsCertIssuer => "tls.cert_issuer",
            TlsCertSerial => "tls.cert_serial",
            TlsCertFingerprint => "tls.cert_fingerprint",
            TlsCerts => "tls.certs",
            Ja3Hash => "ja3.hash",
            Ja3String => "ja3.string",
            Ja3sHash => "ja3s.hash",
            Ja3sString => "ja3s.string",
            SshSoftware => "ssh.software",
            SshProto => "ssh.proto",
            Base64Data => "base64_data",
            DnsQueriesRrname => "dns.queries.rrname",
            DnsAnswersRrname => "dns.answers.rrname",
            HttpRequestHeader => "http.request_header",
            HttpResponseHeader => "http.response_header",
            FileName => "file.name",
            FtpCommand => "ftp.command",
            FtpCommandData => "ftp.command_data",
            FtpReply => "ftp.reply",
            FtpCompletionCode => "ftp.completion_code",
            SmtpHelo => "smtp.helo",
            SmtpMailFrom => "smtp.mail_from",
            SmtpRcptTo => "smtp.rcpt_to",
            EmailFrom => "email.from",
            EmailSubject => "email.subject",
            EmailTo => "email.to",
            EmailCc => "email.cc",
            EmailDate => "email.date",
            EmailMessageId => "email.message_id",
            EmailXMailer => "email.x_mailer",
            EmailUrl => "email.url",
            EmailReceived => "email.received",
        }
    }

    /// The application-layer protocol the buffer belongs to (`None` for payload-like
    /// buffers usable with any protocol).
    pub fn app_proto(self) -> Option<AppProto> {
        use Buffer::*;
        match self {
            Payload | FileData | FileName | Base64Data => None,
            SmtpHelo | SmtpMailFrom | SmtpRcptTo | EmailFrom | EmailSubject | EmailTo | EmailCc
            | EmailDate | EmailMessageId | EmailXMailer | EmailUrl | EmailReceived => {
                Some(AppProto::Smtp)
            }
            DnsQuery | DnsQueriesRrname | DnsAnswersRrname => Some(AppProto::Dns),
            TlsSni | TlsCertSubject | TlsCertIssuer | TlsCertSerial | TlsCertFingerprint
            | TlsCerts | Ja3Hash | Ja3String | Ja3sHash | Ja3sString => Some(AppProto::Tls),
            SshSoftware | SshProto => Some(AppProto::Ssh),
            FtpCommand | FtpCommandData | FtpReply | FtpCompletionCode => Some(AppProto::Ftp),
            _ => Some(AppProto::Http),
        }
    }

    /// Fast-pattern priority of the buffer (lower wins) when no content carries an explicit
    /// `fast_pattern`. As in Suricata, app-layer buffers (2) rank above the plain payload
    /// (3), except `http.method`, `http.stat_code` and `http.stat_msg`, which are short and
    /// common and rank with the payload.
    pub fn fast_pattern_priority(self) -> u8 {
        match self {
            Buffer::Payload | Buffer::HttpMethod | Buffer::HttpStatCode | Buffer::HttpStatMsg => 3,
            _ => 2,
        }
    }
}

/// A number or a `byte_extract`/`byte_math` variable.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Value {
    /// Literal.
    Lit(i64),
    /// Variable set earlier in the rule.
    Var(String),
}

/// Comparison operator of a numeric keyword (Suricata's `uint.rs` family).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CmpOp {
    /// `= a`
    Eq,
    /// `!a`
    Ne,
    /// `< a`
    Lt,
    /// `<= a`
    Le,
    /// `> a`
    Gt,
    /// `>= a`
    Ge,
    /// `a < x < b` (`a-b`, `a<>b`)
    Range,
    /// not `a < x < b`
    NotRange,
}

/// A numeric comparison: `op` with operands `a` (and `b` for ranges).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct NumCmp {
    /// Operator.
    pub op: CmpOp,
    /// First operand.
    pub a: u64,
    /// Second operand (ranges).
    pub b: u64,
}

impl NumCmp {
    /// Evaluates the comparison on `x`.
    pub fn matches(&self, x: u64) -> bool {
        match self.op {
            CmpOp::Eq => x == self.a,
            CmpOp::Ne => x != self.a,
            CmpOp::Lt => x < self.a,
            CmpOp::Le => x <= self.a,
            CmpOp::Gt => x > self.a,
            CmpOp::Ge => x >= self.a,
            CmpOp::Range => self.a < x && x < self.b,
            CmpOp::NotRange => !(self.a < x && x < self.b),
        }
    }
}

/// `fast_pattern` as written on a content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct FastPattern {
    /// `fast_pattern:only` (legacy; the content needs no further verification).
    pub only: bool,
    /// `fast_pattern:offset,length`: use only this slice of the content.
    pub chop: Option<(u16, u16)>,
}

/// A `content` with its modifiers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Content {
    /// Bytes to find (hex and escapes decoded).
    pub pattern: Vec<u8>,
    /// `content:!"..."`.
    pub negated: bool,
    /// Case-insensitive.
    pub nocase: bool,
    /// Absolute start.
    pub offset: Option<Value>,
    /// Absolute end from the start of the buffer (or from `offset`).
    pub depth: Option<Value>,
    /// Relative start after the previous match.
    pub distance: Option<Value>,
    /// Relative end after the previous match.
    pub within: Option<Value>,
    /// Must be at the start of the buffer.
    pub startswith: bool,
    /// Must be at the end of the buffer.
    pub endswith: bool,
    /// Explicit `fast_pattern`.
    pub fast_pattern: Option<FastPattern>,
    /// `rawbytes` (accepted for compatibility; payload is always raw).
    pub rawbytes: bool,
}

impl Content {
    /// `true` when the match position depends on the previous match.
    pub fn is_relative(&self) -> bool {
        self.distance.is_some() || self.within.is_some()
    }
}

/// A `pcre` option.
#[derive(Clone, Debug, Serialize)]
pub struct Pcre {
    /// The expression between the slashes, as written.
    pub pattern: String,
    /// Flags after the closing slash, as written.
    pub flags: String,
    /// `pcre:!"..."`.
    pub negated: bool,
    /// `R`: relative to the previous match.
    pub relative: bool,
    /// Capture targets after the flags (`pkt:name`, `flow:name`, `alert:name`), in order.
    pub captures: Vec<String>,
    /// Compiled once at load time; `None` for rules that failed (never loaded) and for rules
    /// loaded only to be validated (`LoadOptions::validate_only`), which are never run.
    #[serde(skip)]
    pub regex: Option<Arc<pcre2::bytes::Regex>>,
}

impl PartialEq for Pcre {
    fn eq(&self, o: &Self) -> bool {
        self.pattern == o.pattern
            && self.flags == o.flags
            && self.negated == o.negated
            && self.relative == o.relative
    }
}

/// Byte order of a byte keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Endian {
    /// Network order (default).
    Big,
    /// Little-endian.
    Little,
    /// DCE/RPC: from the DCE header.
    Dce,
}

/// Number base of a `string` byte keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NumBase {
    /// Decimal.
    Dec,
    /// Hexadecimal.
    Hex,
    /// Octal.
    Oct,
}

/// Options shared by the byte keywords.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ByteOpts {
    /// Bytes to read (1-8 binary, up to 23 as string), or a variable (`byte_test` only).
    pub nbytes: Value,
    /// Offset of the read.
    pub offset: Value,
    /// Relative to the previous match.
    pub relative: bool,
    /// Byte order.
    pub endian: Endian,
    /// Read as text in this base.
    pub string: Option<NumBase>,
    /// AND the value with this mask first.
    pub bitmask: Option<u64>,
}

/// `byte_test` operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[allow(missing_docs)]
pub enum ByteTestOp {
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    And,
    Or,
}

/// `byte_math` operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[allow(missing_docs)]
pub enum MathOp {
    Add,
    Sub,
    Mul,
    Div,
    Shl,
    Shr,
}

/// One match of a buffer list, in rule order (relative matches chain on the previous one).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// `content`.
    Content(Content),
    /// `pcre`.
    Pcre(Pcre),
    /// `byte_test`.
    ByteTest {
        /// Read options.
        opts: ByteOpts,
        /// Negated operator.
        negated: bool,
        /// Operator.
        op: ByteTestOp,
        /// Right-hand value.
        value: Value,
    },
    /// `byte_jump`.
    ByteJump {
        /// Read options.
        opts: ByteOpts,
        /// Multiply the value read.
        multiplier: u32,
        /// Round up to a multiple of 4.
        align: bool,
        /// Jump from the buffer start instead of the current position.
        from_beginning: bool,
        /// Jump from the buffer end.
        from_end: bool,
        /// Added after the jump.
        post_offset: i32,
    },
    /// `byte_extract`.
    ByteExtract {
        /// Read options.
        opts: ByteOpts,
        /// Variable name.
        name: String,
        /// Multiply the value read.
        multiplier: u32,
        /// Align the position.
        align: u8,
    },
    /// `byte_math`.
    ByteMath {
        /// Read options.
        opts: ByteOpts,
        /// Operator.
        op: MathOp,
        /// Right operand.
        rvalue: Value,
        /// Variable receiving the result.
        result: String,
    },
    /// `isdataat`.
    IsDataAt {
        /// `!`.
        negated: bool,
        /// Position.
        offset: Value,
        /// Relative to the previous match.
        relative: bool,
    },
    /// `bsize`, and `urilen` on the URI buffers.
    Bsize(NumCmp),
    /// `base64_decode`: decodes into [`Buffer::Base64Data`].
    Base64Decode {
        /// Bytes to decode (0 = all).
        bytes: u32,
        /// Start offset.
        offset: u32,
        /// Relative to the previous match.
        relative: bool,
    },
}

/// A transform applied to a buffer before inspection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Transform {
    Dotprefix,
    StripWhitespace,
    CompressWhitespace,
    ToLowercase,
    ToUppercase,
    UrlDecode,
    ToMd5,
    ToSha1,
    ToSha256,
    StripPseudoHeaders,
    HeaderLowercase,
}

impl Transform {
    /// Transform keyword → transform.
    pub fn from_keyword(s: &str) -> Option<Transform> {
        Some(match s {
            "dotprefix" => Transform::Dotprefix,
            "strip_whitespace" => Transform::StripWhitespace,
            "compress_whitespace" => Transform::CompressWhitespace,
            "to_lowercase" => Transform::ToLowercase,
            "to_uppercase" => Transform::ToUppercase,
            "url_decode" => Transform::UrlDecode,
            "to_md5" => Transform::ToMd5,
            "to_sha1" => Transform::ToSha1,
            "to_sha256" => Transform::ToSha256,
            "strip_pseudo_headers" => Transform::StripPseudoHeaders,
            "header_lowercase" => Transform::HeaderLowercase,
            _ => return None,
        })
    }
}

/// The matches of one buffer, after its transforms.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BufferList {
    /// Which buffer.
    pub buffer: Buffer,
    /// Transforms in order.
    pub transforms: Vec<Transform>,
    /// Direction of the transaction this list inspects (`buffer: to_client`), if restricted.
    pub dir: Option<Direction>,
    /// Matches in rule order.
    pub matches: Vec<Match>,
}

/// `flow` keyword.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct FlowMatch {
    /// Direction.
    pub dir: Option<Direction>,
    /// `established` (true) / `not_established` (false).
    pub established: Option<bool>,
    /// `stateless`.
    pub stateless: bool,
    /// `only_stream` (true) / `no_stream` (false).
    pub stream: Option<bool>,
    /// `only_frag` (true) / `no_frag` (false).
    pub frag: Option<bool>,
}

/// `flowbits` command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum BitCmd {
    Set,
    Unset,
    Toggle,
    IsSet,
    IsNotSet,
}

/// `flowbits:cmd,names`: names joined by `|` (any) or `&` (all).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Flowbits {
    /// Command.
    pub cmd: BitCmd,
    /// Bit names.
    pub names: Vec<String>,
    /// `true` when the names were joined with `&`.
    pub all: bool,
}

/// `xbits:cmd,name,track ip_src|ip_dst|ip_pair[,expire N]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Xbits {
    /// Command.
    pub cmd: BitCmd,
    /// Bit name.
    pub name: String,
    /// `ip_src`, `ip_dst` or `ip_pair`.
    pub track: String,
    /// Expiry in seconds.
    pub expire: Option<u32>,
}

/// `flowint` operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum FlowintOp {
    Set,
    Add,
    Sub,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    IsSet,
    NotSet,
}

/// `flowint:name,op[,value]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Flowint {
    /// Variable.
    pub name: String,
    /// Operator.
    pub op: FlowintOp,
    /// Operand (a number or another flowint).
    pub value: Option<Value>,
}

/// `stream_size:side,op,value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct StreamSize {
    /// `client`, `server`, `both` or `either` (as 0..=3).
    pub side: StreamSide,
    /// Comparison.
    pub cmp: NumCmp,
}

/// Side of `stream_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum StreamSide {
    Client,
    Server,
    Both,
    Either,
}

/// TCP flags as bits (FIN 0x01 ... CWR 0x80).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct TcpFlags {
    /// Flags that must be set.
    pub set: u8,
    /// `+`: at least these (others allowed); `*`: any of these; `!`: none of these;
    /// empty: exactly these.
    pub modifier: Option<char>,
    /// Flags ignored (`flags:S,12` ignores CWR/ECE).
    pub ignore: u8,
}

/// `fragbits` flags: M=1, D=2, R=4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Fragbits {
    /// Bits.
    pub bits: u8,
    /// `+`, `*`, `!` or exact.
    pub modifier: Option<char>,
}

/// Header (IP/TCP/ICMP) keywords.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum HeaderMatch {
    Ttl(NumCmp),
    IpProto(NumCmp),
    Ipopts(String),
    Fragbits(Fragbits),
    Fragoffset(NumCmp),
    Flags(TcpFlags),
    Seq(u32),
    Ack(u32),
    Window { negated: bool, value: u16 },
    Itype(NumCmp),
    Icode(NumCmp),
    IcmpId(u16),
    IcmpSeq(u16),
    Tos { negated: bool, value: u8 },
    Id(u16),
    Sameip,
}

/// Who a threshold counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Track {
    BySrc,
    ByDst,
    ByRule,
    ByBoth,
    ByFlow,
}

impl Track {
    /// Parses `by_src`, `by_dst`, `by_rule`, `by_both` or `by_flow` (the `track` of rule
    /// keywords and of `threshold.config` alike).
    pub fn parse(s: &str) -> Result<Track, String> {
        Ok(match s.trim() {
            "by_src" => Track::BySrc,
            "by_dst" => Track::ByDst,
            "by_rule" => Track::ByRule,
            "by_both" => Track::ByBoth,
            "by_flow" => Track::ByFlow,
            o => return Err(format!("unknown track `{o}`")),
        })
    }
}

/// `threshold` type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ThresholdKind {
    Limit,
    Threshold,
    Both,
}

/// `detection_filter ... unique_on`: count distinct ports instead of events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UniqueOn {
    /// Distinct source ports.
    SrcPort,
    /// Distinct destination ports.
    DstPort,
}

/// `threshold` or `detection_filter` (`kind` is `None` for the latter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Threshold {
    /// `None` for `detection_filter`.
    pub kind: Option<ThresholdKind>,
    /// Counting key.
    pub track: Track,
    /// Count.
    pub count: u32,
    /// Window.
    pub seconds: u32,
    /// `unique_on` (detection_filter only).
    pub unique_on: Option<UniqueOn>,
}

/// Application-layer state keywords that are not buffers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum AppMatch {
    /// `app-layer-protocol:[!]name`.
    Protocol { negated: bool, name: String },
    /// `app-layer-event:proto.event`.
    Event(String),
    /// `ssl_version:sslv3,tls1.0,...`.
    SslVersion(Vec<String>),
    /// `ssl_state:client_hello|...`.
    SslState(String),
    /// `tls.version:1.2`.
    TlsVersion(String),
    /// `dns.opcode`.
    DnsOpcode(NumCmp),
    /// `dns.rcode`.
    DnsRcode(NumCmp),
    /// `dns.rrtype:value[,index]` (`index` `None` = any record, `Some(-1)` = last).
    DnsRrtype {
        /// Record type comparison.
        cmp: NumCmp,
        /// Record index; `None` for `all`/absent.
        index: Option<i32>,
    },
    /// File keywords (`filename`, `fileext`, `filesize`, `filemd5`, ...): answered by the
    /// files of the inspected transaction.
    File(FileMatch),
    /// `ftp.dynamic_port`: the data port a command announced.
    FtpDynamicPort(NumCmp),
    /// `ftp.mode:active|passive`.
    FtpMode {
        /// `active`.
        active: bool,
    },
    /// `ftp.reply_received:yes|no` (also `on`/`off`, `true`/`false`).
    FtpReplyReceived(bool),
    /// `ftpdata_command:retr|stor`: the command that opened an `ftp-data` flow.
    FtpdataCommand {
        /// `stor` (else `retr`).
        stor: bool,
    },
    /// `ftpbounce`: a PORT command naming another host than the client.
    FtpBounce,
}

/// A file keyword: true when some file of the transaction, in the inspected direction,
/// satisfies it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileMatch {
    /// `filename:[!]"text"`: the name contains `text` (any case), or with `!` does not.
    Name {
        /// Bytes looked for.
        pattern: Vec<u8>,
        /// `!`.
        negated: bool,
    },
    /// `fileext:[!]"ext"`: the name's extension is `ext` (any case), or with `!` is not.
    Ext {
        /// Extension without the dot.
        ext: Vec<u8>,
        /// `!`.
        negated: bool,
    },
    /// `filesize`: the size of a file that ended.
    Size(NumCmp),
    /// `filemd5`/`filesha1`/`filesha256:[!]list`: the digest of a complete file is (with `!`:
    /// is not) in the list.
    Hash {
        /// `!`.
        negated: bool,
        /// The list, loaded when the rule was compiled.
        #[serde(serialize_with = "serialize_list")]
        list: std::sync::Arc<HashList>,
    },
    /// `filestore`: accepted; contents are not stored (`fileinfo.stored` stays false).
    Store,
}

/// Digest algorithm of a hash list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HashKind {
    /// 16 bytes.
    Md5,
    /// 20 bytes.
    Sha1,
    /// 32 bytes.
    Sha256,
}

impl HashKind {
    /// Digest length in bytes.
    pub const fn digest_len(self) -> usize {
        match self {
            HashKind::Md5 => 16,
            HashKind::Sha1 => 20,
            HashKind::Sha256 => 32,
        }
    }
}

/// The digests of a hash-list file, sorted for lookup without allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashList {
    /// File the list came from.
    pub path: String,
    /// Algorithm.
    pub kind: HashKind,
    digests: Vec<Vec<u8>>,
}

impl HashList {
    /// A list of `digests` (each `kind.len()` bytes) read from `path`.
    pub fn new(path: String, kind: HashKind, mut digests: Vec<Vec<u8>>) -> HashList {
        digests.sort_unstable();
        digests.dedup();
        HashList {
            path,
            kind,
            digests,
        }
    }
    /// `digest` is listed.
    pub fn contains(&self, digest: &[u8]) -> bool {
        self.digests
            .binary_search_by(|d| d.as_slice().cmp(digest))
            .is_ok()
    }
    /// Digests listed.
    pub fn len(&self) -> usize {
        self.digests.len()
    }
    /// No digest listed.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }
}

impl std::hash::Hash for HashList {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.path.hash(h);
        self.digests.len().hash(h);
    }
}

fn serialize_list<S: serde::Serializer>(
    l: &std::sync::Arc<HashList>,
    s: S,
) -> Result<S::Ok, S::Error> {
    l.serialize(s)
}

impl Serialize for HashList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.path)
    }
}

/// `tag:session|host,count,metric[,direction]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Tag {
    /// `session` or `host`.
    pub kind: String,
    /// Count.
    pub count: u32,
    /// `packets`, `seconds` or `bytes`.
    pub metric: String,
}

/// `target:src_ip|dest_ip`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The source is the target.
    SrcIp,
    /// The destination is the target.
    DestIp,
}

/// `reference:system,id`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Reference {
    /// System (`url`, `cve`, ...).
    pub system: String,
    /// Identifier in that system.
    pub id: String,
}

/// Meta keywords.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Meta {
    /// `msg`.
    pub msg: String,
    /// `classtype`.
    pub classtype: Option<String>,
    /// `priority` (explicit, else from the classtype, else 3).
    pub priority: u8,
    /// `reference`s.
    pub references: Vec<Reference>,
    /// `metadata` key/value pairs.
    pub metadata: Vec<(String, String)>,
    /// `target`.
    pub target: Option<Target>,
}

/// A validated rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rule {
    /// Generator id (1 unless `gid` says otherwise).
    pub gid: u32,
    /// Signature id.
    pub sid: u32,
    /// Revision.
    pub rev: u32,
    /// Action.
    pub action: Action,
    /// Header protocol.
    pub proto: Proto,
    /// Source addresses.
    pub src: IpSet,
    /// Source ports.
    pub src_ports: PortSet,
    /// `->` or `<>`.
    pub direction: Arrow,
    /// Destination addresses.
    pub dst: IpSet,
    /// Destination ports.
    pub dst_ports: PortSet,
    /// msg, classtype, priority, references, metadata, target.
    pub meta: Meta,
    /// Matches per buffer, in the order the buffers first appear.
    pub lists: Vec<BufferList>,
    /// `dsize`.
    pub dsize: Option<NumCmp>,
    /// `flow`.
    pub flow: Option<FlowMatch>,
    /// `flowbits`.
    pub flowbits: Vec<Flowbits>,
    /// `xbits`.
    pub xbits: Vec<Xbits>,
    /// `flowint`.
    pub flowints: Vec<Flowint>,
    /// `stream_size`.
    pub stream_size: Option<StreamSize>,
    /// Header keywords.
    pub header: Vec<HeaderMatch>,
    /// `threshold`.
    pub threshold: Option<Threshold>,
    /// `detection_filter`.
    pub detection_filter: Option<Threshold>,
    /// `decode-event` names.
    pub decode_events: Vec<String>,
    /// App-layer state keywords.
    pub app: Vec<AppMatch>,
    /// `tag`.
    pub tags: Vec<Tag>,
    /// `noalert` (or `flowbits:noalert`).
    pub noalert: bool,
    /// `bypass`: a match bypasses the flow (its later packets are not inspected).
    pub bypass: bool,
    /// `prefilter`: the rule asks for its non-content keyword to be the prefilter (a
    /// performance hint; matching is the same without it).
    pub prefilter_hint: bool,
    /// `suppress` entries of `threshold.config` for this rule: `None` suppresses every alert,
    /// `Some` only those whose tracked address is in the set.
    pub suppress: Vec<Option<(Track, IpSet)>>,
    /// `rate_filter` of `threshold.config`.
    pub rate_filter: Option<RateFilter>,
}

/// `rate_filter`: after `threshold.count` matches in `threshold.seconds`, use `new_action`
/// for `timeout` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct RateFilter {
    /// Counting.
    pub threshold: Threshold,
    /// Action while the filter is active.
    pub new_action: Action,
    /// Seconds the new action lasts.
    pub timeout: u32,
}

impl Rule {
    /// Matches of `buffer`, if the rule inspects it.
    pub fn list(&self, buffer: Buffer) -> Option<&BufferList> {
        self.lists.iter().find(|l| l.buffer == buffer)
    }

    /// Every content of the rule with its buffer, in order.
    pub fn contents(&self) -> impl Iterator<Item = (Buffer, &Content)> {
        self.lists.iter().flat_map(|l| {
            l.matches.iter().filter_map(move |m| match m {
                Match::Content(c) => Some((l.buffer, c)),
                _ => None,
            })
        })
    }
}
