use super::*;
use crate::app::eve::{write_app_record, EveOptions, TxRef};
use crate::app::{AppConfig, AppLayer, AppProto, AppState, Transport};

fn feed(s: &mut Pop3State, d: Direction, b: &[u8]) -> (EventSet, AppCounters) {
    let mut ev = EventSet::default();
    let mut c = AppCounters::default();
    s.parse(d, b, Timestamp(0), &mut ev, &mut c);
    (ev, c)
}

fn summary(s: &Pop3State) -> Vec<String> {
    s.txs()
        .map(|t| {
            let args: Vec<_> = t
                .args()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let data: Vec<_> = t
                .data()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            format!(
                "{:?} {:?} {:?} {:?} {:?} {:?} {}",
                String::from_utf8_lossy(&t.command),
                args,
                t.status,
                String::from_utf8_lossy(&t.header),
                data,
                t.has_request,
                t.complete
            )
        })
        .collect()
}

/// A session, each client line with the server's answer.
const SESSION: &[(&[u8], &[u8])] = &[
    (b"", b"+OK ready\r\n"),
    (
        b"CAPA\r\n",
        b"+OK Capability list follows\r\nUSER\r\nTOP\r\n.\r\n",
    ),
    (b"USER alice\r\n", b"+OK\r\n"),
    (b"PASS secret\r\n", b"-ERR the password incorrect\r\n"),
    (b"LIST\r\n", b"+OK 1 messages\r\n1 120\r\n.\r\n"),
    (
        b"RETR 1\r\n",
        b"+OK 120 octets\r\nSubject: x\r\n\r\n..dot\r\n.\r\n",
    ),
    (b"AUTH XOAUTH2\r\n", b"+ \r\n"),
    (b"dGVzdA==\r\n", b"+OK Welcome.\r\n"),
    (b"QUIT\r\n", b"+OK bye\r\n"),
];

fn run(chunk: usize) -> Pop3State {
    let mut s = Pop3State::new(&AppConfig::default());
    for (c, r) in SESSION {
        for (d, b) in [(Direction::ToServer, c), (Direction::ToClient, r)] {
            for piece in b.chunks(chunk) {
                feed(&mut s, d, piece);
            }
        }
    }
    s
}

#[test]
fn commands_responses_and_data_in_any_chunking() {
    let want = summary(&run(usize::MAX));
    assert_eq!(want.len(), 9, "{want:#?}");
    assert_eq!(want[0], "\"\" [] Ok \"ready\" [] false true");
    assert_eq!(
        want[1],
        "\"CAPA\" [] Ok \"Capability list follows\" [\"USER\", \"TOP\"] true true"
    );
    assert_eq!(
        want[3],
        "\"PASS\" [\"secret\"] Err \"the password incorrect\" [] true true"
    );
    assert_eq!(
        want[5],
        "\"RETR\" [\"1\"] Ok \"120 octets\" [\"Subject: x\", \"\", \".dot\"] true true"
    );
    assert_eq!(want[7], "\"<SASL DATA>\" [] Ok \"Welcome.\" [] true true");
    for chunk in [1, 3, 10] {
        assert_eq!(summary(&run(chunk)), want, "chunk {chunk}");
    }
    // A capture that starts after the greeting: the first response answers the first
    // command.
    let mut s = Pop3State::default();
    feed(&mut s, Direction::ToServer, b"CAPA\r\n");
    feed(&mut s, Direction::ToClient, b"+OK caps\r\nTOP\r\n.\r\n");
    assert_eq!(s.txs().count(), 1);
    assert_eq!(s.txs().next().unwrap().data().next(), Some(&b"TOP"[..]));
}

#[test]
fn records_bounds_and_stls() {
    let cfg = AppConfig {
        eve_logging: true,
        ..AppConfig::default()
    };
    let mut ctr = AppCounters::default();
    let mut app = AppLayer::new(Transport::Tcp, 40000, 110);
    let now = Timestamp(0);
    app.on_stream(&cfg, Direction::ToClient, b"+OK hi\r\n", now, &mut ctr);
    assert_eq!(app.proto(), AppProto::Pop3);
    app.on_stream(&cfg, Direction::ToServer, b"LIST\r\n", now, &mut ctr);
    let mut resp = b"+OK\r\n".to_vec();
    for i in 0..MAX_DATA_LINES + 10 {
        resp.extend_from_slice(format!("{i} 1\r\n").as_bytes());
    }
    resp.extend_from_slice(b".\r\nbogus\r\n");
    app.on_stream(&cfg, Direction::ToClient, &resp, now, &mut ctr);
    assert!(ctr.pop3_limit >= 10);
    assert!(app.events.contains(AppEvent::Pop3InvalidResponse));
    let mut records = Vec::new();
    while let Some(r) = app.next_record() {
        let mut out = Vec::new();
        assert!(write_app_record(
            &mut out,
            &crate::app::smtp::tests_env(),
            &app,
            r,
            &EveOptions::default()
        ));
        records.push(String::from_utf8(out).unwrap());
    }
    assert_eq!(records.len(), 2);
    assert!(records[0].contains(
        "\"pop3\":{\"response\":{\"success\":true,\"status\":\"OK\",\"header\":\"hi\",\"data\":[]}}"
    ));
    assert!(records[1].contains("\"request\":{\"command\":\"LIST\",\"args\":[]}"));
    let AppState::Pop3(s) = app.state() else {
        panic!("not pop3")
    };
    assert_eq!(s.tx(1).unwrap().data().count(), MAX_DATA_LINES);
    // STLS accepted: TLS from the next bytes on.
    app.on_stream(&cfg, Direction::ToServer, b"STLS\r\n", now, &mut ctr);
    app.on_stream(&cfg, Direction::ToClient, b"+OK go\r\n", now, &mut ctr);
    assert_eq!(app.next_record(), Some(TxRef::Pop3(2)));
    app.on_stream(
        &cfg,
        Direction::ToServer,
        &[0x16, 3, 1, 0, 1, 1],
        now,
        &mut ctr,
    );
    assert_eq!(app.proto(), AppProto::Tls);
    assert_eq!(app.original_proto(), AppProto::Pop3);
}

#[test]
fn retrieved_attachments_are_files() {
    let cfg = AppConfig {
        eve_logging: true,
        ..AppConfig::default()
    };
    let mut s = Pop3State::new(&cfg);
    let mut ev = EventSet::default();
    let mut c = AppCounters::default();
    let now = Timestamp(0);
    s.parse(Direction::ToClient, b"+OK hi\r\n", now, &mut ev, &mut c);
    s.parse(
        Direction::ToServer,
        b"RETR 1\r\nRETR 2\r\n",
        now,
        &mut ev,
        &mut c,
    );
    let msg = b"+OK\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Disposition: attachment; filename=\"r.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
UEsDBA==\r\n--b--\r\n.\r\n";
    s.parse(Direction::ToClient, msg, now, &mut ev, &mut c);
    // The second message is cut off by the end of the flow.
    s.parse(
        Direction::ToClient,
        b"+OK\r\nContent-Disposition: attachment; filename=cut.bin\r\n\r\nabc\r\n",
        now,
        &mut ev,
        &mut c,
    );
    s.end(Direction::ToClient, &mut ev, &mut c);
    let files: Vec<_> = s
        .files()
        .iter()
        .map(|f| (f.name().to_vec(), f.size, f.state))
        .collect();
    assert_eq!(
        files,
        vec![
            (b"r.zip".to_vec(), 4, FileState::Closed),
            (b"cut.bin".to_vec(), 3, FileState::Truncated)
        ]
    );
    assert_eq!(
        s.tx(1).unwrap().data().next(),
        Some(&b"Content-Type: multipart/mixed; boundary=b"[..])
    );
    assert_eq!(s.next_unlogged_file(), Some(0));
    assert_eq!(c.files.closed, 1);
}
