//! HTTP parser under hostile bytes. Invariants: no panic; caps hold (open transactions, body
//! depths); and parsing the same two streams in one piece or split at an arbitrary point gives
//! identical transactions (chunk-boundary invariance), unless decompression cut a body.
#![no_main]

use dataplane::app::http::HttpState;
use dataplane::app::{AppConfig, AppCounters, AppEvent, Direction, EventSet};
use dataplane::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fn summary(s: &HttpState) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for t in s.txs() {
        for b in [
            t.method(),
            t.uri(),
            t.uri_raw(),
            t.request_protocol(),
            t.request.header_buffer(),
            t.request.raw_headers(),
            t.request.header_names(),
            t.request.body(),
            t.status_code(),
            t.status_msg(),
            t.response.header_buffer(),
            t.response.body(),
        ] {
            out.push(b.to_vec());
        }
        out.push(format!("{} {:?} {:?}", t.id, t.request.progress, t.response.progress).into_bytes());
    }
    out
}

fn run(cfg: &AppConfig, req: &[u8], resp: &[u8], split: usize) -> (Vec<Vec<u8>>, EventSet) {
    let mut s = HttpState::new(cfg);
    let mut ev = EventSet::default();
    let mut c = AppCounters::default();
    let now = Timestamp(0);
    let (a, b) = req.split_at(split.min(req.len()));
    let (x, y) = resp.split_at(split.min(resp.len()));
    // Same direction order in every run (requests, then responses): only chunking differs.
    s.parse(cfg, Direction::ToServer, a, now, &mut ev, &mut c);
    s.parse(cfg, Direction::ToServer, b, now, &mut ev, &mut c);
    s.parse(cfg, Direction::ToClient, x, now, &mut ev, &mut c);
    s.parse(cfg, Direction::ToClient, y, now, &mut ev, &mut c);
    assert!(s.txs().count() <= cfg.http_max_txs);
    for t in s.txs() {
        assert!(t.request.body().len() <= cfg.http_request_body_limit);
        assert!(t.response.body().len() <= cfg.http_response_body_limit);
    }
    (summary(&s), ev)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
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
    let (whole, ev) = run(&cfg, req, resp, usize::MAX);
    let (parts, ev2) = run(&cfg, req, resp, split);
    let cut = |e: &EventSet| {
        e.contains(AppEvent::HttpCompressionBomb) || e.contains(AppEvent::HttpGzipDecompressionFailed)
    };
    let cut_bodies = cut(&ev) || cut(&ev2);
    if !cut_bodies {
        assert_eq!(whole, parts);
    }
});
