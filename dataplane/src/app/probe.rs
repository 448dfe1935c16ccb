//! Protocol detection, independent of ports: each protocol's probe looks at the first bytes of
//! a direction and says "match", "no match" or "need more". Ports only break ties for UDP DNS
//! (malformed DNS on port 53 is still parsed, so its anomalies are reported).
//!
//! Bytes seen while probing are kept (capped at [`AppConfig::probe_max_bytes`] per direction)
//! and replayed into the chosen parser, so the parser sees the stream from its first byte.

use super::{AppConfig, AppProto, Direction, Transport};

/// What probing concluded so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not enough bytes to decide.
    NeedMore,
    /// The flow speaks this protocol.
    Detected(AppProto),
    /// No probe matched within the budget.
    Failed,
}

/// One probe's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Matches.
    Match,
    /// Cannot match whatever follows.
    NoMatch,
    /// Could match with more bytes.
    NeedMore,
}

/// Request methods that start an HTTP/1.x request (libhtp's known methods plus WebDAV).
const HTTP_METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"CONNECT",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"SEARCH",
    b"REPORT",
    b"CHECKOUT",
    b"MERGE",
    b"SUBSCRIBE",
    b"NOTIFY",
    b"M-SEARCH",
];

/// HTTP request (to server) or response (to client).
pub fn probe_http(dir: Direction, b: &[u8]) -> Probe {
    match dir {
        Direction::ToServer => {
            // Leading blank lines are tolerated, as libhtp does.
            let b = trim_leading_crlf(b);
            if b.is_empty() {
                return Probe::NeedMore;
            }
            for m in HTTP_METHODS {
                let n = m.len().min(b.len());
                if b[..n].eq_ignore_ascii_case(&m[..n]) {
                    if b.len() <= m.len() {
                        return Probe::NeedMore;
                    }
                    if matches!(b[m.len()], b' ' | b'\t') {
                        return Probe::Match;
                    }
                }
            }
            Probe::NoMatch
        }
        Direction::ToClient => prefix_probe(b, b"HTTP/"),
    }
}

/// TLS record header: handshake (22) with a 3.x version, or an SSLv2-framed ClientHello.
pub fn probe_tls(_dir: Direction, b: &[u8]) -> Probe {
    if b.is_empty() {
        return Probe::NeedMore;
    }
    if b[0] == 0x16 {
        if b.len() < 3 {
            return if b.len() == 2 && b[1] != 3 {
                Probe::NoMatch
            } else {
                Probe::NeedMore
            };
        }
        return if b[1] == 3 && b[2] <= 4 {
            Probe::Match
        } else {
            Probe::NoMatch
        };
    }
    // SSLv2 record with the two-byte header: msg type 1 (ClientHello), version 3.x or 2.
    if b[0] & 0x80 != 0 {
        if b.len() < 5 {
            return Probe::NeedMore;
        }
        return if b[2] == 1 && (b[3] == 3 || (b[3] == 0 && b[4] == 2)) {
            Probe::Match
        } else {
            Probe::NoMatch
        };
    }
    Probe::NoMatch
}

/// DNS message header sanity (RFC 1035 §4.1.1): a request has QR=0, one or more questions
/// and no answers; a response has QR=1. Opcodes above 6 are unassigned.
pub fn probe_dns_message(dir: Direction, b: &[u8]) -> Probe {
    if b.len() < 12 {
        return Probe::NeedMore;
    }
    let flags = u16::from_be_bytes([b[2], b[3]]);
    let qr = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    let qd = u16::from_be_bytes([b[4], b[5]]);
    let an = u16::from_be_bytes([b[6], b[7]]);
    if opcode > 6 || qd > 64 {
        return Probe::NoMatch;
    }
    match dir {
        Direction::ToServer if !qr && qd >= 1 && an <= 16 => Probe::Match,
        Direction::ToClient if qr => Probe::Match,
        _ => Probe::NoMatch,
    }
}

/// DNS over TCP: the 2-byte length prefix must cover at least a header.
pub fn probe_dns_tcp(dir: Direction, b: &[u8]) -> Probe {
    if b.len() < 2 {
        return Probe::NeedMore;
    }
    let len = u16::from_be_bytes([b[0], b[1]]) as usize;
    if len < 12 {
        return Probe::NoMatch;
    }
    probe_dns_message(dir, &b[2..])
}

/// SSH banner (RFC 4253 §4.2), either direction.
pub fn probe_ssh(_dir: Direction, b: &[u8]) -> Probe {
    prefix_probe(b, b"SSH-")
}

/// SMTP: a client greeting, or a server banner that names SMTP.
pub fn probe_smtp(dir: Direction, b: &[u8]) -> Probe {
    match dir {
        Direction::ToServer => any_prefix(
            b,
            &[
                b"EHLO ", b"HELO ", b"EHLO\r", b"HELO\r", b"EHLO\n", b"HELO\n",
            ],
        ),
        Direction::ToClient => banner_naming(b, b"220", &[b"SMTP", b"smtp", b"Postfix"]),
    }
}

/// FTP: a client login command, or a server banner that names FTP.
pub fn probe_ftp(dir: Direction, b: &[u8]) -> Probe {
    match dir {
        Direction::ToServer => any_prefix(b, &[b"USER ", b"AUTH TLS", b"AUTH SSL", b"FEAT\r"]),
        Direction::ToClient => banner_naming(b, b"220", &[b"FTP", b"ftp", b"FileZilla"]),
    }
}

/// IMAP (RFC 9051): the server's untagged greeting, or a client's tagged `CAPABILITY`
/// (Suricata's detection patterns).
pub fn probe_imap(dir: Direction, b: &[u8]) -> Probe {
    match dir {
        Direction::ToClient => any_prefix(b, &[b"* OK ", b"* PREAUTH "]),
        Direction::ToServer => {
            let tag = b.iter().take_while(|c| c.is_ascii_alphanumeric()).count();
            if tag == b.len() {
                return if tag > 16 {
                    Probe::NoMatch
                } else {
                    Probe::NeedMore
                };
            }
            if tag == 0 || tag > 16 {
                return Probe::NoMatch;
            }
            any_prefix(&b[tag..], &[b" CAPABILITY"])
        }
    }
}

/// POP3 (RFC 1939): a server status line, or a client command that only POP3 has (`USER`
/// belongs to FTP's probe).
pub fn probe_pop3(dir: Direction, b: &[u8]) -> Probe {
    match dir {
        Direction::ToClient => any_prefix(b, &[b"+OK ", b"+OK\r"]),
        Direction::ToServer => any_prefix(b, &[b"CAPA\r", b"STLS\r", b"APOP "]),
    }
}

fn trim_leading_crlf(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&c| c == b'\r' || c == b'\n').count();
    &b[n..]
}

fn prefix_probe(b: &[u8], prefix: &[u8]) -> Probe {
    let n = prefix.len().min(b.len());
    if b[..n] != prefix[..n] {
        Probe::NoMatch
    } else if n < prefix.len() {
        Probe::NeedMore
    } else {
        Probe::Match
    }
}

fn any_prefix(b: &[u8], prefixes: &[&[u8]]) -> Probe {
    let mut need = false;
    for p in prefixes {
        let n = p.len().min(b.len());
        if b[..n].eq_ignore_ascii_case(&p[..n]) {
            if n == p.len() {
                return Probe::Match;
            }
            need = true;
        }
    }
    if need {
        Probe::NeedMore
    } else {
        Probe::NoMatch
    }
}

/// A `220` banner line that contains one of `names`; decided at the end of the first line.
fn banner_naming(b: &[u8], code: &[u8], names: &[&[u8]]) -> Probe {
    match prefix_probe(b, code) {
        Probe::Match => {}
        other => return other,
    }
    let Some(eol) = b.iter().position(|&c| c == b'\n') else {
        return if b.len() > 512 {
            Probe::NoMatch
        } else {
            Probe::NeedMore
        };
    };
    let line = &b[..eol];
    if names.iter().any(|n| line.windows(n.len()).any(|w| w == *n)) {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

type ProbeFn = fn(Direction, &[u8]) -> Probe;

/// Stream probes in priority order.
const TCP_PROBES: &[(AppProto, ProbeFn)] = &[
    (AppProto::Http, probe_http),
    (AppProto::Tls, probe_tls),
    (AppProto::Ssh, probe_ssh),
    (AppProto::Smtp, probe_smtp),
    (AppProto::Ftp, probe_ftp),
    (AppProto::Dns, probe_dns_tcp),
    (AppProto::Imap, probe_imap),
    (AppProto::Pop3, probe_pop3),
];

/// Runs every stream probe over `b`.
pub fn probe_stream(dir: Direction, b: &[u8]) -> Verdict {
    let mut need = false;
    for (proto, f) in TCP_PROBES {
        match f(dir, b) {
            Probe::Match => return Verdict::Detected(*proto),
            Probe::NeedMore => need = true,
            Probe::NoMatch => {}
        }
    }
    if need {
        Verdict::NeedMore
    } else {
        Verdict::Failed
    }
}

/// Per-flow probing state: bytes held per direction until a probe decides.
#[derive(Debug)]
pub struct Prober {
    transport: Transport,
    sport: u16,
    dport: u16,
    failed: [bool; 2],
    /// Bytes seen per direction before detection (replayed into the parser).
    pub(super) pending: Pending,
}

/// Bytes buffered during probing, per direction.
#[derive(Debug, Default)]
pub struct Pending {
    bufs: [Vec<u8>; 2],
}

impl Pending {
    /// Takes the buffered bytes in replay order (to server first: requests precede responses).
    pub(super) fn drain(&mut self) -> impl Iterator<Item = (Direction, &[u8])> + '_ {
        let [a, b] = &self.bufs;
        [
            (Direction::ToServer, a.as_slice()),
            (Direction::ToClient, b.as_slice()),
        ]
        .into_iter()
        .filter(|(_, b)| !b.is_empty())
    }
    /// Frees the buffered bytes after replay.
    pub(super) fn clear(&mut self) {
        self.bufs = Default::default();
    }
}

impl Prober {
    /// A prober for a new flow.
    pub fn new(transport: Transport, sport: u16, dport: u16) -> Prober {
        Prober {
            transport,
            sport,
            dport,
            failed: [false; 2],
            pending: Pending::default(),
        }
    }

    /// Probes `data` appended to what this direction already showed. On a match the bytes of
    /// `data` are also held, so replaying [`Pending`] gives the parser everything.
    pub fn feed(&mut self, cfg: &AppConfig, dir: Direction, data: &[u8]) -> Verdict {
        let i = dir.index();
        if self.failed[i] {
            return Verdict::NeedMore;
        }
        let buf = &mut self.pending.bufs[i];
        // Hold at most the probing budget, but never drop bytes of a detected flow: the whole
        // chunk is kept once (it is replayed and then freed).
        buf.extend_from_slice(data);
        let window = &buf[..buf.len().min(cfg.probe_max_bytes)];
        let v = probe_stream(dir, window);
        match v {
            Verdict::Detected(_) => v,
            Verdict::NeedMore if buf.len() < cfg.probe_max_bytes => Verdict::NeedMore,
            _ => {
                self.failed[i] = true;
                buf.clear();
                buf.shrink_to_fit();
                if self.failed[0] && self.failed[1] {
                    Verdict::Failed
                } else {
                    Verdict::NeedMore
                }
            }
        }
    }

    /// Reassembly lost bytes of `dir` before detection: that direction can no longer be probed.
    pub fn gap(&mut self, dir: Direction) {
        self.failed[dir.index()] = true;
        self.pending.bufs[dir.index()] = Vec::new();
    }

    /// Probes one UDP payload (datagrams are self-contained).
    pub fn probe_datagram(&mut self, dir: Direction, data: &[u8]) -> Verdict {
        if self.transport != Transport::Udp {
            return Verdict::NeedMore;
        }
        // Like Suricata's default `detection-ports` for DNS over UDP: only flows on port 53
        // are DNS (on 443 a DNS-shaped datagram is far more likely QUIC).
        let port53 = self.sport == 53 || self.dport == 53;
        match probe_dns_message(dir, data) {
            _ if port53 => Verdict::Detected(AppProto::Dns),
            _ => {
                self.failed[dir.index()] = true;
                if self.failed[0] && self.failed[1] {
                    Verdict::Failed
                } else {
                    Verdict::NeedMore
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::*;

    #[test]
    fn http_methods_and_partial() {
        assert_eq!(probe_http(ToServer, b"GET / HTTP/1.1\r\n"), Probe::Match);
        assert_eq!(probe_http(ToServer, b"\r\nPOST /x"), Probe::Match);
        assert_eq!(probe_http(ToServer, b"GE"), Probe::NeedMore);
        assert_eq!(probe_http(ToServer, b"GETX /"), Probe::NoMatch);
        assert_eq!(probe_http(ToClient, b"HTTP/1.1 200 OK"), Probe::Match);
        assert_eq!(probe_http(ToClient, b"HTT"), Probe::NeedMore);
        assert_eq!(probe_http(ToClient, b"\x16\x03\x01"), Probe::NoMatch);
    }

    #[test]
    fn mail_retrieval_protocols() {
        let (c, s) = (Direction::ToClient, Direction::ToServer);
        assert_eq!(probe_imap(c, b"* OK IMAP4rev1 ready\r\n"), Probe::Match);
        assert_eq!(probe_imap(s, b"a0000 CAPABILITY\r\n"), Probe::Match);
        assert_eq!(probe_imap(s, b"a0000"), Probe::NeedMore);
        assert_eq!(probe_imap(s, b"a0000 LOGOUT\r\n"), Probe::NoMatch);
        assert_eq!(probe_imap(s, b"GET / HTTP/1.1"), Probe::NoMatch);
        assert_eq!(probe_pop3(c, b"+OK POP3 ready\r\n"), Probe::Match);
        assert_eq!(probe_pop3(c, b"+O"), Probe::NeedMore);
        assert_eq!(probe_pop3(s, b"CAPA\r\n"), Probe::Match);
        assert_eq!(probe_pop3(s, b"USER a\r\n"), Probe::NoMatch);
        assert_eq!(
            probe_stream(c, b"* OK ready\r\n"),
            Verdict::Detected(AppProto::Imap)
        );
        assert_eq!(
            probe_stream(c, b"+OK ready\r\n"),
            Verdict::Detected(AppProto::Pop3)
        );
    }

    #[test]
    fn tls_record_header() {
        assert_eq!(probe_tls(ToServer, &[0x16, 3, 1, 0, 5]), Probe::Match);
        assert_eq!(probe_tls(ToServer, &[0x16, 3]), Probe::NeedMore);
        assert_eq!(probe_tls(ToServer, &[0x16, 9, 1]), Probe::NoMatch);
        assert_eq!(probe_tls(ToServer, &[0x80, 0x2e, 1, 3, 1]), Probe::Match);
        assert_eq!(probe_tls(ToServer, b"GET "), Probe::NoMatch);
    }

    #[test]
    fn stream_detection_orders_and_fails() {
        assert_eq!(
            probe_stream(ToServer, b"SSH-2.0-OpenSSH_8.9\r\n"),
            Verdict::Detected(AppProto::Ssh)
        );
        assert_eq!(
            probe_stream(ToClient, b"220 mail.example.com ESMTP Postfix\r\n"),
            Verdict::Detected(AppProto::Smtp)
        );
        assert_eq!(
            probe_stream(ToClient, b"220 ProFTPD Server (FTP)\r\n"),
            Verdict::Detected(AppProto::Ftp)
        );
        assert_eq!(
            probe_stream(ToServer, b"\x00\x01\x02zzzzzz"),
            Verdict::Failed
        );
        let q = [
            0, 28, 0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 0, 0, 1, 0, 1,
        ];
        assert_eq!(probe_stream(ToServer, &q), Verdict::Detected(AppProto::Dns));
    }

    #[test]
    fn prober_accumulates_and_fails_both_directions() {
        let cfg = AppConfig::default();
        let mut p = Prober::new(Transport::Tcp, 1234, 80);
        assert_eq!(p.feed(&cfg, ToServer, b"PO"), Verdict::NeedMore);
        assert_eq!(
            p.feed(&cfg, ToServer, b"ST /a HTTP/1.0\r\n"),
            Verdict::Detected(AppProto::Http)
        );
        let replay: Vec<_> = p.pending.drain().map(|(d, b)| (d, b.to_vec())).collect();
        assert_eq!(replay, vec![(ToServer, b"POST /a HTTP/1.0\r\n".to_vec())]);

        let mut p = Prober::new(Transport::Tcp, 1234, 80);
        assert_eq!(
            p.feed(&cfg, ToServer, b"\x00\x01garbage"),
            Verdict::NeedMore
        );
        assert_eq!(p.feed(&cfg, ToClient, b"\x00\x02garbage"), Verdict::Failed);
    }
}
