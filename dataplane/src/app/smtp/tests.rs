use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::app::eve::{write_app_record, EveOptions, TxRef};
use crate::app::{AppLayer, AppProto, AppState, BufferId, Transport};
use crate::eve::Envelope;

const CLIENT: &[&[u8]] = &[
    b"EHLO client.example\r\n",
    b"MAIL FROM:<a@example.com> SIZE=100\r\nRCPT TO:<b@example.com>\r\nRCPT TO: <c@example.com>\r\nDATA\r\n",
    b"From: A <a@example.com>\r\nTo: b@example.com,\r\n c@example.com\r\nSubject: hi\r\n",
    b"Content-Type: multipart/mixed; boundary=\"xx\"\r\n\r\n--xx\r\nContent-Type: text/plain\r\n\r\n",
    b"..leading dot, see http://www.example.org/x\r\n--xx\r\n",
    b"Content-Disposition: attachment; filename=\"a.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    b"TVqQAAMAAAAEAAAA\r\n--xx--\r\n.\r\nQUIT\r\n",
];

const SERVER: &[u8] = b"220 mx.example ESMTP\r\n250-mx.example\r\n250 PIPELINING\r\n\
250 ok\r\n250 ok\r\n250 ok\r\n354 go ahead\r\n250 queued\r\n221 bye\r\n";

fn cfg() -> AppConfig {
    AppConfig {
        eve_logging: true,
        ..AppConfig::default()
    }
}

pub(super) fn env() -> Envelope<'static> {
    Envelope {
        ts: Timestamp(0),
        flow_id: 1,
        pcap_cnt: 0,
        event_type: "",
        src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        src_port: 40000,
        dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        dst_port: 25,
        proto: 6,
        vlan: crate::eve::Vlans::NONE,
        icmp: None,
    }
}

/// Feeds the session split every `chunk` bytes; returns the flow and its EVE records.
fn session(chunk: usize) -> (AppLayer, AppCounters, Vec<String>) {
    let cfg = cfg();
    let mut ctr = AppCounters::default();
    let mut app = AppLayer::new(Transport::Tcp, 40000, 25);
    let client: Vec<u8> = CLIENT.concat();
    let mut records = Vec::new();
    let take = |app: &mut AppLayer, records: &mut Vec<String>| {
        while let Some(r) = app.next_record() {
            let mut out = Vec::new();
            assert!(write_app_record(
                &mut out,
                &env(),
                app,
                r,
                &EveOptions::default()
            ));
            records.push(String::from_utf8(out).unwrap());
        }
    };
    app.on_stream(
        &cfg,
        Direction::ToClient,
        &SERVER[..22],
        Timestamp(0),
        &mut ctr,
    );
    for c in client.chunks(chunk) {
        app.on_stream(&cfg, Direction::ToServer, c, Timestamp(0), &mut ctr);
        take(&mut app, &mut records);
    }
    app.on_stream(
        &cfg,
        Direction::ToClient,
        &SERVER[22..],
        Timestamp(0),
        &mut ctr,
    );
    take(&mut app, &mut records);
    for d in [Direction::ToServer, Direction::ToClient] {
        app.on_end(&cfg, d, Timestamp(0), &mut ctr);
    }
    take(&mut app, &mut records);
    (app, ctr, records)
}

#[test]
fn a_session_parses_the_same_in_any_chunking() {
    let (_, ctr, first) = session(usize::MAX);
    // A file's record is written when it closes, with the message as far as it got then.
    let mails = |r: &[String]| -> Vec<String> {
        r.iter()
            .filter(|r| !r.contains("\"fileinfo\""))
            .cloned()
            .collect()
    };
    for chunk in [1, 2, 7, 64] {
        let (app, _, records) = session(chunk);
        assert_eq!(app.proto(), AppProto::Smtp);
        assert_eq!(mails(&records), mails(&first), "chunk {chunk}");
        assert_eq!(records.len(), first.len());
    }
    assert_eq!(ctr.flow_smtp, 1);
    assert_eq!(ctr.tx_smtp, 2, "the mail, then QUIT's transaction");
    assert_eq!(ctr.files.opened, 1);
    assert_eq!(ctr.files.closed, 1);
    let fileinfo = first.iter().find(|r| r.contains("\"fileinfo\"")).unwrap();
    assert!(fileinfo.contains("\"filename\":\"a.exe\""), "{fileinfo}");
    assert!(fileinfo.contains("\"size\":12"), "{fileinfo}");
    assert!(fileinfo.contains("\"app_proto\":\"smtp\""), "{fileinfo}");
    let mail = first.iter().find(|r| r.contains("\"tx_id\":0")).unwrap();
    for want in [
        "\"event_type\":\"smtp\"",
        "\"smtp\":{\"helo\":\"client.example\",\"mail_from\":\"<a@example.com>\",\
         \"rcpt_to\":[\"<b@example.com>\",\"<c@example.com>\"]}",
        "\"status\":\"PARSE_DONE\"",
        "\"from\":\"A <a@example.com>\"",
        "\"to\":[\"b@example.com\",\"c@example.com\"]",
        "\"subject\":\"hi\"",
        "\"attachment\":[\"a.exe\"]",
        "\"url\":[\"www.example.org/x\"]",
    ] {
        assert!(mail.contains(want), "{want} not in {mail}");
    }
    let quit = first.iter().find(|r| r.contains("\"tx_id\":1")).unwrap();
    assert!(!quit.contains("\"email\""), "{quit}");
}

#[test]
fn buffers_of_a_mail() {
    let (app, _, _) = session(usize::MAX);
    let AppState::Smtp(s) = app.state() else {
        panic!("not smtp")
    };
    let tx = s.tx(0).unwrap();
    let get = |k: &str, i| BufferId::from_keyword(k).unwrap().smtp(s, tx, i);
    assert_eq!(get("smtp.helo", 0), Some(&b"client.example"[..]));
    assert_eq!(get("smtp.rcpt_to", 1), Some(&b"<c@example.com>"[..]));
    assert_eq!(get("smtp.rcpt_to", 2), None);
    assert_eq!(get("email.subject", 0), Some(&b"hi"[..]));
    assert_eq!(get("email.cc", 0), None);
    assert_eq!(get("email.url", 0), Some(&b"www.example.org/x"[..]));
    assert_eq!(get("email.received", 0), None);
    // The attachment, decoded: an MZ header.
    assert_eq!(
        BufferId::SmtpFileData.smtp(s, tx, 0),
        Some(&b"MZ\x90\0\x03\0\0\0\x04\0\0\0"[..])
    );
    assert_eq!(BufferId::SmtpFileName.smtp(s, tx, 0), Some(&b"a.exe"[..]));
}

#[test]
fn starttls_hands_the_flow_to_tls() {
    let cfg = cfg();
    let mut ctr = AppCounters::default();
    let mut app = AppLayer::new(Transport::Tcp, 40000, 25);
    let mut feed = |app: &mut AppLayer, d, b: &[u8]| {
        app.on_stream(&cfg, d, b, Timestamp(0), &mut ctr);
    };
    feed(&mut app, Direction::ToClient, b"220 mx ESMTP Postfix\r\n");
    feed(&mut app, Direction::ToServer, b"EHLO c\r\n");
    feed(&mut app, Direction::ToClient, b"250 STARTTLS\r\n");
    feed(&mut app, Direction::ToServer, b"STARTTLS\r\n");
    feed(&mut app, Direction::ToClient, b"220 ready\r\n");
    // The SMTP transaction is due before the first TLS byte.
    assert_eq!(app.next_record(), Some(TxRef::Smtp(0)));
    feed(
        &mut app,
        Direction::ToServer,
        &[0x16, 3, 1, 0, 4, 1, 0, 0, 0],
    );
    assert_eq!(app.proto(), AppProto::Tls);
    assert_eq!(app.original_proto(), AppProto::Smtp);
    assert!(matches!(app.state(), AppState::Tls(_)));
    // A refused STARTTLS keeps SMTP.
    let mut app = AppLayer::new(Transport::Tcp, 40000, 25);
    feed(&mut app, Direction::ToServer, b"EHLO c\r\nSTARTTLS\r\n");
    feed(
        &mut app,
        Direction::ToClient,
        b"220 mx ESMTP\r\n250 ok\r\n454 no\r\n",
    );
    assert_eq!(app.proto(), AppProto::Smtp);
    assert!(app.events.contains(AppEvent::SmtpTlsRejected));
}

#[test]
fn bdat_chunks_and_pipelining() {
    let cfg = cfg();
    let mut ctr = AppCounters::default();
    let mut ev = EventSet::default();
    let mut s = SmtpState::new(&cfg);
    let body = b"Subject: chunked\r\n\r\nbody\r\n";
    let mut c = b"EHLO h\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 10\r\n".to_vec();
    c.extend_from_slice(&body[..10]);
    c.extend_from_slice(format!("BDAT {} LAST\r\n", body.len() - 10).as_bytes());
    c.extend_from_slice(&body[10..]);
    c.extend_from_slice(b"MAIL FROM:<second@x>\r\n");
    s.parse(Direction::ToServer, &c, Timestamp(0), &mut ev, &mut ctr);
    let tx = s.tx(0).unwrap();
    assert!(tx.done);
    assert_eq!(s.email(tx).unwrap().subject, b"chunked");
    assert_eq!(s.tx(1).unwrap().mail_from, b"<second@x>");
    // Replies for six commands arrive at once, in order.
    s.parse(
        Direction::ToClient,
        b"220 x\r\n250 a\r\n250 b\r\n250 c\r\n250 d\r\n250 e\r\n250 f\r\n",
        Timestamp(0),
        &mut ev,
        &mut ctr,
    );
    assert!(ev.is_empty(), "{ev:?}");
    s.parse(
        Direction::ToClient,
        b"250 extra\r\nbogus\r\n",
        Timestamp(0),
        &mut ev,
        &mut ctr,
    );
    assert!(ev.contains(AppEvent::SmtpUnableToMatchReplyWithRequest));
    assert!(ev.contains(AppEvent::SmtpInvalidReply));
}

#[test]
fn hostile_input_is_capped_and_counted() {
    let cfg = cfg();
    let mut ctr = AppCounters::default();
    let mut ev = EventSet::default();
    let mut s = SmtpState::new(&cfg);
    // A command line that never ends.
    let junk = vec![b'A'; 100_000];
    s.parse(
        Direction::ToServer,
        b"EHLO ",
        Timestamp(0),
        &mut ev,
        &mut ctr,
    );
    s.parse(Direction::ToServer, &junk, Timestamp(0), &mut ev, &mut ctr);
    assert!(ev.contains(AppEvent::SmtpTruncatedLine));
    assert_eq!(s.helo.len(), line::MAX_LINE - 5);
    // A mail that never ends: one transaction, its attachment truncated at the gap.
    s.parse(
        Direction::ToServer,
        b"\r\nMAIL FROM:<a@x>\r\nDATA\r\nContent-Disposition: attachment; filename=f\r\n\r\n",
        Timestamp(0),
        &mut ev,
        &mut ctr,
    );
    for _ in 0..1000 {
        s.parse(
            Direction::ToServer,
            &[b'x'; 1000],
            Timestamp(0),
            &mut ev,
            &mut ctr,
        );
        s.parse(
            Direction::ToServer,
            b"\r\n",
            Timestamp(0),
            &mut ev,
            &mut ctr,
        );
    }
    let tx = s.txs().last().unwrap();
    assert_eq!(tx.file_data(0).map(<[u8]>::len), Some(tx::FILE_DATA_MAX));
    s.gap(Direction::ToServer, &mut ev, &mut ctr);
    assert_eq!(ctr.files.truncated, 1);
    assert!(s.txs().last().unwrap().done);
    // Transactions are recycled past the cap, and the unlogged ones counted.
    for _ in 0..MAX_TXS * 2 {
        s.parse(
            Direction::ToServer,
            b"RSET\r\n",
            Timestamp(0),
            &mut ev,
            &mut ctr,
        );
    }
    assert_eq!(s.txs().count(), MAX_TXS);
    assert!(ctr.eve_unlogged > 0);
}
