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
