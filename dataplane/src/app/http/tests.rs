//! HTTP parser tests: hand-written exchanges and real captures.

use super::*;
use crate::app::AppConfig;

pub(crate) struct Harness {
    pub cfg: AppConfig,
    pub state: HttpState,
    pub events: EventSet,
    pub ctr: AppCounters,
}

impl Harness {
    pub fn new(cfg: AppConfig) -> Harness {
        let state = HttpState::new(&cfg);
        Harness {
            cfg,
            state,
            events: EventSet::default(),
            ctr: AppCounters::default(),
        }
    }
    pub fn feed(&mut self, dir: Direction, data: &[u8]) -> Progress {
        self.state.parse(
            &self.cfg,
            dir,
            data,
            Timestamp(0),
            &mut self.events,
            &mut self.ctr,
        )
    }
    pub fn req(&mut self, data: &[u8]) -> Progress {
        self.feed(Direction::ToServer, data)
    }
    pub fn resp(&mut self, data: &[u8]) -> Progress {
        self.feed(Direction::ToClient, data)
    }
}

#[test]
fn simple_exchange() {
    let mut h = Harness::new(AppConfig::default());
    assert_eq!(
        h.req(b"GET /a/../b%20c?x=%20 HTTP/1.1\r\nHost: WWW.Example.com:8080\r\nUser-Agent: t/1\r\nCookie: a=b\r\n\r\n"),
        Progress::Done
    );
    assert_eq!(
        h.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: ng1nx\r\nSet-Cookie: s=1\r\n\r\nhello"),
        Progress::Done
    );
    let tx = h.state.txs().next().unwrap();
    assert_eq!(tx.method(), b"GET");
    assert_eq!(tx.uri_raw(), b"/a/../b%20c?x=%20");
    assert_eq!(tx.uri(), b"/b c?x=%20");
    assert_eq!(tx.request_protocol(), b"HTTP/1.1");
    assert_eq!(tx.host(), Some(&b"www.example.com"[..]));
    assert_eq!(tx.host_raw(), Some(&b"WWW.Example.com:8080"[..]));
    assert_eq!(
        tx.request.header_buffer(),
        b"Host: WWW.Example.com:8080\r\nUser-Agent: t/1\r\n"
    );
    assert_eq!(
        tx.request.header_names(),
        b"\r\nHost\r\nUser-Agent\r\nCookie\r\n\r\n"
    );
    assert_eq!(tx.status_code(), b"200");
    assert_eq!(tx.status_msg(), b"OK");
    assert_eq!(tx.response.body(), b"hello");
    assert_eq!(
        tx.response.header_buffer(),
        b"Content-Length: 5\r\nServer: ng1nx\r\n"
    );
    assert!(tx.is_complete());
    assert!(h.events.is_empty(), "{:?}", h.events);
    assert_eq!(h.ctr.tx_http, 1);
}

#[test]
fn pipelining_folding_duplicates_and_chunked() {
    let mut h = Harness::new(AppConfig::default());
    h.req(
        b"GET /one HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\nX-Long: first\r\n  second\r\n\r\n\
          POST /two HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
          GET /three HTTP/1.0\r\n\r\n",
    );
    h.resp(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n\
          HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n\
          HTTP/1.0 302 Found\r\nLocation: /x\r\n\r\nclose-delimited",
    );
    let txs: Vec<_> = h.state.txs().collect();
    assert_eq!(txs.len(), 3);
    assert_eq!(txs[0].request.header(b"x-a"), Some(&b"1, 2"[..]));
    assert_eq!(txs[0].request.header(b"X-LONG"), Some(&b"first second"[..]));
    assert_eq!(txs[0].status_code(), b"404");
    assert_eq!(txs[1].request.body(), b"abc");
    assert_eq!(txs[1].response.body(), b"ok");
    assert_eq!(txs[2].uri(), b"/three");
    assert_eq!(txs[2].response.header(b"location"), Some(&b"/x"[..]));
    assert_eq!(txs[2].response.progress, MsgProgress::Headers);
    h.state.end(
        &h.cfg,
        Direction::ToClient,
        Timestamp(0),
        &mut h.events,
        &mut h.ctr,
    );
    let t2 = h.state.tx(2).unwrap();
    assert_eq!(t2.response.body(), b"close-delimited");
    assert!(t2.is_complete());
}

#[test]
fn gzip_response_and_bomb_is_cut() {
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(b"<html>decompressed</html>").unwrap();
    let gz = e.finish().unwrap();
    let mut h = Harness::new(AppConfig::default());
    h.req(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        gz.len()
    )
    .into_bytes();
    r.extend_from_slice(&gz);
    h.resp(&r);
    let tx = h.state.txs().next().unwrap();
    assert_eq!(tx.response.body(), b"<html>decompressed</html>");
    assert!(tx.is_complete());

    // 32 MiB of zeros: cut off by the ratio cap, counted, and the stream stays in sync.
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..32 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = e.finish().unwrap();
    let cfg = AppConfig {
        http_response_body_limit: usize::MAX,
        ..AppConfig::default()
    };
    let mut h = Harness::new(cfg);
    h.req(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        bomb.len()
    )
    .into_bytes();
    r.extend_from_slice(&bomb);
    r.extend_from_slice(b"HTTP/1.1 204 No Content\r\n\r\n");
    h.resp(&r);
    assert!(h.events.contains(AppEvent::HttpCompressionBomb));
    assert_eq!(h.ctr.http_compression_bomb, 1);
    let txs: Vec<_> = h.state.txs().collect();
    assert!(txs[0].decompression_cut);
    assert!(txs[0].response.body().len() <= h.cfg.http_decompress_max + (2 << 20));
    assert_eq!(txs[1].status_code(), b"204");
}

#[test]
fn caps_on_headers_and_transactions() {
    let cfg = AppConfig {
        http_max_header_bytes: 256,
        http_max_txs: 4,
        ..AppConfig::default()
    };
    let mut h = Harness::new(cfg);
    let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 1000));
    big.extend_from_slice(b"\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n");
    h.req(&big);
    assert!(h.events.contains(AppEvent::HttpRequestFieldTooLong));
    assert!(h.state.txs().any(|t| t.uri() == b"/after"));
    for i in 0..20 {
        h.req(format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    }
    assert!(h.state.txs().count() <= 4);
    assert!(h.events.contains(AppEvent::HttpRequestTooManyTransactions));
    assert!(h.ctr.http_limit > 0);
}

#[test]
fn gap_in_body_resyncs() {
    let mut h = Harness::new(AppConfig::default());
    h.req(b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123");
    h.state.gap(Direction::ToServer, 3, &mut h.ctr);
    h.req(b"789GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
    let txs: Vec<_> = h.state.txs().collect();
    assert_eq!(txs.len(), 2);
    assert!(txs[0].request.body_truncated);
    assert_eq!(txs[0].request.body(), b"0123789");
    assert_eq!(txs[1].uri(), b"/b");
    // A gap inside headers: skip to the next request line.
    h.req(b"GET /c HTT");
    h.state.gap(Direction::ToServer, 50, &mut h.ctr);
    h.req(b"garbage\r\nmore\r\nGET /d HTTP/1.1\r\n\r\n");
    assert!(h.state.txs().any(|t| t.uri() == b"/d"));
    assert!(!h.state.txs().any(|t| t.uri() == b"/c"));
}

#[test]
fn websocket_upgrade() {
    let mut h = Harness::new(AppConfig::default());
    h.req(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    h.resp(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi");
    assert!(h.state.upgraded_to_websocket());
    h.req(&[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    let c: Vec<_> = h.state.websocket(Direction::ToClient).frames().collect();
    assert_eq!(c[0].payload, b"hi");
    let s: Vec<_> = h.state.websocket(Direction::ToServer).frames().collect();
    assert_eq!(s[0].payload, b"Hello");
}

#[test]
fn lenient_lines() {
    let mut h = Harness::new(AppConfig::default());
    h.req(b"\r\n  GET  /x   HTTP/1.0\nNoColon\nName : v\n\n");
    let tx = h.state.txs().next().unwrap();
    assert_eq!(tx.method(), b"GET");
    assert_eq!(tx.uri_raw(), b"/x");
    assert_eq!(tx.request_protocol(), b"HTTP/1.0");
    assert_eq!(tx.request.header(b"name"), Some(&b"v"[..]));
    assert!(h
        .events
        .contains(AppEvent::HttpRequestLineLeadingWhitespace));
    assert!(h.events.contains(AppEvent::HttpRequestFieldMissingColon));
    assert!(h.events.contains(AppEvent::HttpRequestHeaderInvalid));
    // HTTP/0.9: no protocol, no headers.
    let mut h = Harness::new(AppConfig::default());
    h.req(b"GET /old\r\nGET /new HTTP/1.1\r\nHost: b\r\n\r\n");
    let v: Vec<_> = h.state.txs().map(|t| t.uri().to_vec()).collect();
    assert_eq!(v, vec![b"/old".to_vec(), b"/new".to_vec()]);
}

fn summary(s: &HttpState) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for t in s.txs() {
        for b in [
            t.method(),
            t.uri(),
            t.uri_raw(),
            t.request.header_buffer(),
            t.request.raw_headers(),
            t.request.body(),
            t.status_code(),
            t.response.header_buffer(),
            t.response.body(),
        ] {
            out.push(b.to_vec());
        }
        out.push(format!("{:?} {:?}", t.request.progress, t.response.progress).into_bytes());
    }
    out
}

const REQS: &[u8] = b"GET /a%20b/../c HTTP/1.1\r\nHost: x\r\nX: 1\r\n fold\r\n\r\n\
POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\n\
PUT /q HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody\n\nGET /r\r\n";
const RESPS: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc\
HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n\
HTTP/1.1 500 Err\r\n\r\ntail";

fn parse_split(reqs: &[&[u8]], resps: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut h = Harness::new(AppConfig::default());
    for r in reqs {
        h.req(r);
    }
    for r in resps {
        h.resp(r);
    }
    summary(&h.state)
}

proptest::proptest! {
    /// Any split of either stream yields identical transactions.
    #[test]
    fn chunk_boundaries_do_not_matter(
        cuts_a in proptest::collection::vec(0..REQS.len(), 0..6),
        cuts_b in proptest::collection::vec(0..RESPS.len(), 0..6),
    ) {
        let whole = parse_split(&[REQS], &[RESPS]);
        let pieces = |buf: &'static [u8], mut cuts: Vec<usize>| {
            cuts.sort_unstable();
            let mut v: Vec<&[u8]> = Vec::new();
            let mut prev = 0;
            for c in cuts {
                v.push(&buf[prev..c]);
                prev = c;
            }
            v.push(&buf[prev..]);
            v
        };
        let split = parse_split(&pieces(REQS, cuts_a), &pieces(RESPS, cuts_b));
        proptest::prop_assert_eq!(&whole, &split);
        proptest::prop_assert_eq!(whole.len(), 40);
    }

    /// Arbitrary bytes never panic, never loop, and respect the caps.
    #[test]
    fn hostile_bytes_respect_caps(a in proptest::collection::vec(proptest::num::u8::ANY, 0..2048),
                                  b in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
        let cfg = AppConfig { http_max_txs: 4, http_max_header_bytes: 128, http_request_body_limit: 64, http_response_body_limit: 64, ..AppConfig::default() };
        let mut h = Harness::new(cfg);
        let mut seeded = b"GET / HTTP/1.1\r\n".to_vec();
        seeded.extend_from_slice(&a);
        h.req(&seeded);
        let mut seeded = b"HTTP/1.1 200 OK\r\n".to_vec();
        seeded.extend_from_slice(&b);
        h.resp(&seeded);
        proptest::prop_assert!(h.state.txs().count() <= 4);
        for t in h.state.txs() {
            proptest::prop_assert!(t.request.body().len() <= 64);
            proptest::prop_assert!(t.response.body().len() <= 64);
        }
    }
}

/// Same check as the `app_http` fuzz target: one piece versus a split (requests first, then
/// responses), with the fuzz input's layout (`[cut, split, bytes...]`).
fn fuzz_layout_invariant(data: &[u8]) {
    let cfg = AppConfig {
        http_max_header_bytes: 512,
        http_max_txs: 8,
        http_request_body_limit: 256,
        http_response_body_limit: 256,
        ..AppConfig::default()
    };
    let cut = (data[0] as usize * data.len()) / 256;
    let split = data[1] as usize;
    let (req, resp) = data[2..].split_at(cut.min(data.len() - 2));
    let run = |at: usize| {
        let mut h = Harness::new(cfg.clone());
        let (a, b) = req.split_at(at.min(req.len()));
        let (x, y) = resp.split_at(at.min(resp.len()));
        h.req(a);
        h.req(b);
        h.resp(x);
        h.resp(y);
        summary(&h.state)
    };
    assert_eq!(run(usize::MAX), run(split));
}

/// Regression (found by the `app_http` fuzz target): a malformed chunk size consumed the rest
/// of the segment, so the next response was found or lost depending on segmentation.
#[test]
fn bad_chunk_resync_is_split_invariant() {
    const INPUT: &[u8] = &[
        0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x54, 0x72, 0x61, 0x6e, 0x73, 0x66, 0x65, 0x72, 0xd4,
        0x45, 0x6e, 0x63, 0x6f, 0x64, 0x69, 0x6e, 0x67, 0x3a, 0x20, 0x63, 0x68, 0x75, 0x6e, 0x6b,
        0x65, 0x64, 0x0d, 0x0a, 0x0d, 0x0a, 0x31, 0x31, 0x0d, 0x0a, 0x1f, 0x8b, 0x08, 0x00, 0x2f,
        0x31, 0x2e, 0x31, 0x20, 0x32, 0x30, 0x30, 0x20, 0x4f, 0x4b, 0x0d, 0x0a, 0x43, 0x6f, 0x6e,
        0x74, 0x65, 0x6e, 0x74, 0x2d, 0x45, 0x6e, 0x63, 0x6f, 0x64, 0x69, 0x6e, 0x67, 0x3a, 0x20,
        0x67, 0x7a, 0x69, 0x70, 0x0d, 0x0a, 0x54, 0x72, 0x61, 0x6e, 0x73, 0x66, 0x65, 0x72, 0x2d,
        0x45, 0x6e, 0x63, 0x6f, 0x64, 0x69, 0x6e, 0x67, 0x3a, 0x20, 0x63, 0x68, 0x75, 0x6e, 0x6b,
        0x65, 0x64, 0x0d, 0x0a, 0x0d, 0x0a, 0x31, 0x31, 0x0d, 0x0a, 0x1f, 0x29, 0x29, 0x29, 0x29,
        0x29, 0x29, 0x29, 0x29, 0x29, 0x29, 0x29, 0x29, 0x29, 0x29, 0x29, 0x29, 0x29, 0x29, 0x29,
        0x29, 0x29, 0x69, 0x6e, 0x67, 0x3a, 0x20, 0x63, 0x68, 0x75, 0x6e, 0x6b, 0x65, 0x64, 0x0d,
        0x0a, 0x0d, 0x0a, 0x35, 0x0d, 0x0a, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x0d, 0x0a, 0x30, 0x0d,
        0x0a, 0x0d, 0x0a, 0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e, 0x31, 0x20, 0x32, 0x30, 0x30,
        0x20, 0x4f, 0x4b, 0x0d, 0x0a, 0x43, 0x6f, 0x6e, 0x74, 0x65, 0x92, 0x0a, 0x0d, 0x0a,
    ];
    fuzz_layout_invariant(INPUT);
}

/// Regression (found by the `app_http` fuzz target): resynchronising after a bad chunk lost a
/// response whose status line was split right after its first byte.
#[test]
fn resync_across_split_status_line() {
    const INPUT: &[u8] = &[
        0x71, 0x47, 0x47, 0x45, 0x3a, 0x20, 0x31, 0x0d, 0x0a, 0x20, 0x66, 0x6f, 0x6c, 0x64, 0x0d,
        0x0a, 0x0d, 0x0a, 0x50, 0x4f, 0x53, 0x54, 0x20, 0x2f, 0x70, 0x20, 0x48, 0x54, 0x54, 0x50,
        0x2f, 0x31, 0x2e, 0x31, 0x0d, 0x0a, 0x54, 0x72, 0x61, 0x6e, 0x73, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0x10, 0x66, 0x65, 0x72, 0x2d, 0x45, 0x6e, 0x63, 0x6f, 0x64, 0x69, 0x6e,
        0x67, 0x3a, 0x20, 0x63, 0x68, 0x75, 0x6e, 0x6b, 0x65, 0x64, 0x0d, 0x0a, 0x0d, 0x0a, 0x35,
        0x0d, 0x0a, 0x68, 0x65, 0x38, 0x6c, 0x6c, 0x6f, 0x0d, 0x0a, 0x30, 0x0d, 0x0a, 0x0d, 0x0a,
        0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e, 0x31, 0x20, 0x32, 0x30, 0x30, 0x20, 0x4f, 0x4b,
        0x0d, 0x0a, 0x43, 0x6f, 0x6e, 0x74, 0x65, 0x6e, 0x74, 0x2d, 0x4c, 0x65, 0x6e, 0x67, 0x74,
        0x68, 0x3a, 0x20, 0x33, 0x0d, 0x0a, 0x0d, 0x0a, 0x61, 0x62, 0x63, 0x48, 0x54, 0x54, 0x50,
        0x2f, 0x31, 0x2e, 0x31, 0x20, 0x32, 0x30, 0x30, 0x20, 0x4f, 0x4b, 0x0d, 0x0a, 0x43, 0x6f,
        0x31, 0x2e, 0x31, 0x0d, 0x0a, 0x54, 0x72, 0x61, 0x6e, 0x73, 0x66, 0x65, 0x72, 0x2d, 0x45,
        0x6e, 0x63, 0x6f, 0x64, 0x69, 0x6e, 0x67, 0x3a, 0x20, 0x63, 0x68, 0x75, 0x6e, 0x6b, 0x65,
        0x64, 0x0d, 0x0a, 0x0d, 0x0a, 0x35, 0x0d, 0x0a, 0x68, 0x65, 0x38, 0x6c, 0x6c, 0x6f, 0x0d,
        0x0a, 0x30, 0x0d, 0x0a, 0x0d, 0x0a, 0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e, 0x31, 0x20,
        0x32, 0x30, 0x30, 0x20, 0x4f, 0x4b, 0x0d, 0x0a, 0x43, 0x6f, 0x6e, 0x74, 0x65, 0x6e, 0x74,
        0x2d, 0x4c, 0x65, 0x6e, 0x67, 0x74, 0x68, 0x3a, 0x20, 0x33, 0x0d, 0x0a, 0x0d, 0x0a, 0x61,
        0x62, 0x63, 0x48, 0x54, 0x6e, 0x74, 0x65, 0x6e, 0x74, 0x2d, 0x7a, 0x29, 0x70, 0x0d, 0x8b,
        0x08, 0x00, 0x62, 0x2f, 0x02, 0x6b, 0x02, 0xff, 0xc6, 0x48, 0xcd, 0xc9, 0xc9, 0x57, 0x28,
        0xcf, 0x2f, 0xca, 0x49, 0xc9, 0xa0, 0x3d, 0x13, 0x00, 0x97, 0x85, 0xb8, 0xe8, 0x6e, 0x00,
        0x00, 0x00, 0x0d, 0x0a, 0x30, 0x0d, 0x0a, 0x0d, 0x0a,
    ];
    fuzz_layout_invariant(INPUT);
}

#[test]
fn resync_held_prefix_any_split() {
    // A bad chunk, then blank lines and a response, split at every byte.
    let resp: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n\r\n\
                        HTTP/1.1 404 NF\r\nContent-Length: 1\r\n\r\nx";
    let run = |parts: &[&[u8]]| {
        let mut h = Harness::new(AppConfig::default());
        h.req(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
        for p in parts {
            h.resp(p);
        }
        summary(&h.state)
    };
    let whole = run(&[resp]);
    assert!(whole.iter().any(|b| b == b"404"));
    for at in 0..resp.len() {
        assert_eq!(run(&[&resp[..at], &resp[at..]]), whole, "split {at}");
    }
}
