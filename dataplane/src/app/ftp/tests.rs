//! FTP control channel: framing, pairing, caps and announcements, on the exchanges of
//! suricata-verify's `bug-3519` (vsFTPd, active mode) and `ftp-epsv` (ProFTPD, EPSV).

use super::parser::{self, Command, LineReader};
use super::*;
use crate::app::{AppLayer, AppProto, AppState, Transport};
use crate::time::Timestamp;

fn state() -> (FtpState, AppConfig, EventSet, AppCounters) {
    let cfg = AppConfig {
        eve_logging: true,
        ..AppConfig::default()
    };
    let client = Some(IpAddr::from([192, 168, 0, 13]));
    (
        FtpState::new(&cfg, client),
        cfg,
        EventSet::default(),
        AppCounters::default(),
    )
}

fn feed(
    s: &mut FtpState,
    cfg: &AppConfig,
    ev: &mut EventSet,
    c: &mut AppCounters,
    d: Direction,
    b: &[u8],
) {
    s.parse(cfg, d, b, ev, c);
}

#[test]
fn lines_split_across_chunks_and_capped() {
    let mut r = LineReader::default();
    let mut got = Vec::new();
    for chunk in [&b"USER an"[..], b"onymous\r\nPA", b"SS x\r\n"] {
        r.feed(chunk, 16, |l, t| got.push((l.to_vec(), t)));
    }
    assert_eq!(
        got,
        vec![
            (b"USER anonymous".to_vec(), false),
            (b"PASS x".to_vec(), false)
        ]
    );
    // A line past the cap is handed on cut, the rest skipped up to its end.
    got.clear();
    r.feed(&[b'A'; 40], 16, |l, t| got.push((l.to_vec(), t)));
    r.feed(b"AAAA\r\nNOOP\r\n", 16, |l, t| got.push((l.to_vec(), t)));
    assert_eq!(got, vec![(vec![b'A'; 16], true), (b"NOOP".to_vec(), false)]);
    assert_eq!(r.held(), 0);
    // After a gap the reader resumes at the next line.
    got.clear();
    r.feed(b"RET", 16, |l, t| got.push((l.to_vec(), t)));
    r.gap();
    r.feed(b"R x\r\nQUIT\r\n", 16, |l, t| got.push((l.to_vec(), t)));
    assert_eq!(got, vec![(b"QUIT".to_vec(), false)]);
}

#[test]
fn arguments_of_port_eprt_pasv_epsv() {
    let v4 = |a: [u8; 4]| IpAddr::from(a);
    assert_eq!(
        parser::host_port(b"192,168,0,13,234,10"),
        Some((v4([192, 168, 0, 13]), 59914))
    );
    assert_eq!(parser::host_port(b"192,168,0,13,234"), None);
    assert_eq!(parser::host_port(b"192,168,0,300,1,1"), None);
    assert_eq!(
        parser::eprt(b"|1|132.235.1.2|6275|"),
        Some((v4([132, 235, 1, 2]), 6275))
    );
    assert_eq!(
        parser::eprt(b"|2|2001:db8::1|5282|"),
        Some(("2001:db8::1".parse().unwrap(), 5282))
    );
    assert_eq!(parser::eprt(b"|3|x|1|"), None);
    assert_eq!(
        parser::pasv_reply(b"Entering Passive Mode (192,0,2,1,184,237)."),
        Some(47341)
    );
    assert_eq!(
        parser::pasv_reply(b"Entering Passive Mode 192,0,2,1,184,237"),
        Some(47341)
    );
    assert_eq!(
        parser::epsv_reply(b"Entering Extended Passive Mode (|||58612|)"),
        Some(58612)
    );
    assert_eq!(
        parser::epsv_reply(b"Entering Extended Passive Mode (|||0|)"),
        None
    );
    assert_eq!(parser::reply_code(b"211-Features:"), Some((*b"211", true)));
    assert_eq!(parser::reply_code(b"211 End"), Some((*b"211", false)));
    assert_eq!(parser::reply_code(b" MDTM"), None);
    assert_eq!(Command::lookup(b"retr"), Some(Command::Retr));
    assert_eq!(Command::lookup(b"NLST").map(Command::name), Some("NLST"));
    assert_eq!(Command::lookup(b"XYZZY"), None);
}

#[test]
fn commands_pair_with_replies() {
    let (mut s, cfg, mut ev, mut c) = state();
    use Direction::*;
    feed(
        &mut s,
        &cfg,
        &mut ev,
        &mut c,
        ToClient,
        b"220 (vsFTPd 2.3.5)\r\n",
    );
    feed(
        &mut s,
        &cfg,
        &mut ev,
        &mut c,
        ToServer,
        b"USER anonymous\r\n",
    );
    feed(
        &mut s,
        &cfg,
        &mut ev,
        &mut c,
        ToClient,
        b"331 Please specify the password.\r\n",
    );
    feed(
        &mut s,
        &cfg,
        &mut ev,
        &mut c,
        ToServer,
        b"PORT 192,168,0,13,234,22\r\nRETR temp.txt\r\n",
    );
    feed(
        &mut s,
        &cfg,
        &mut ev,
        &mut c,
        ToClient,
        b"200 PORT command successful.\r\n",
    );
    feed(
        &mut s,
        &cfg,
        &mut ev,
        &mut c,
        ToClient,
        b"150 Opening BINARY mode\r\n",
    );
    let txs: Vec<_> = s.txs().collect();
    assert_eq!(txs.len(), 4);
    // The banner answers no command.
    assert_eq!(txs[0].command, None);
    assert!(txs[0].done);
    assert_eq!(c.ftp_reply_without_command, 1);
    assert_eq!(txs[1].command.map(Command::name), Some("USER"));
    assert_eq!(txs[1].command_data(), b"anonymous");
    assert_eq!(
        txs[1].reply(0),
        Some((Some(&b"331"[..]), &b"Please specify the password."[..]))
    );
    assert_eq!(
        (txs[2].dyn_port, txs[2].active, txs[2].done),
        (59926, true, true)
    );
    // A preliminary reply keeps RETR open.
    assert!(!txs[3].done);
    let p = s.take_expectation().expect("RETR claimed the PORT");
    assert_eq!(
        (p.port, p.command, p.name()),
        (59926, Command::Retr, &b"temp.txt"[..])
    );
    assert!(s.take_expectation().is_none());
    feed(
        &mut s,
        &cfg,
        &mut ev,
        &mut c,
        ToClient,
        b"226 Transfer complete.\r\n",
    );
    let retr = s.txs().nth(3).unwrap();
    assert!(retr.done);
    assert_eq!(retr.reply_count(), 2);
    assert_eq!(c.tx_ftp, 4);
    assert!(ev.is_empty());
}

#[test]
fn multi_line_reply_and_epsv() {
    let (mut s, cfg, mut ev, mut c) = state();
    use Direction::*;
    feed(&mut s, &cfg, &mut ev, &mut c, ToServer, b"FEAT\r\n");
    feed(
        &mut s,
        &cfg,
        &mut ev,
        &mut c,
        ToClient,
        b"211-Features:\r\n MDTM\r\n SIZE\r\n",
    );
    assert!(!s.txs().next().unwrap().done);
    feed(&mut s, &cfg, &mut ev, &mut c, ToClient, b"211 End\r\n");
    let feat = s.txs().next().unwrap();
    assert!(feat.done);
    assert_eq!(feat.reply_count(), 4);
    assert_eq!(feat.reply(1), Some((None, &b" MDTM"[..])));
    feed(&mut s, &cfg, &mut ev, &mut c, ToServer, b"EPSV\r\n");
    feed(
        &mut s,
        &cfg,
        &mut ev,
        &mut c,
        ToClient,
        b"229 Entering Extended Passive Mode (|||58612|)\r\n",
    );
    let epsv = s.txs().nth(1).unwrap();
    assert_eq!((epsv.dyn_port, epsv.active), (58612, false));
    // A listing is an ftp-data connection too, without a file name.
    feed(&mut s, &cfg, &mut ev, &mut c, ToServer, b"LIST -la\r\n");
    let p = s.take_expectation().unwrap();
    assert_eq!(
        (p.port, p.command.name(), p.name()),
        (58612, "LIST", &b""[..])
    );
    assert!(s.take_expectation().is_none());
    feed(&mut s, &cfg, &mut ev, &mut c, ToServer, b"STOR README\r\n");
    let p = s.take_expectation().unwrap();
    assert_eq!(
        (p.port, p.command, p.name()),
        (58612, Command::Stor, &b"README"[..])
    );
}

#[test]
fn bad_input_is_capped_and_counted() {
    let (mut s, cfg, mut ev, mut c) = state();
    use Direction::*;
    // A PORT naming another host is a bounce.
    feed(
        &mut s,
        &cfg,
        &mut ev,
        &mut c,
        ToServer,
        b"PORT 192,0,2,7,0,80\r\n",
    );
    assert!(ev.contains(AppEvent::FtpBounce));
    assert_eq!(c.ftp_bounce, 1);
    assert_eq!(
        s.txs().next().unwrap().port_addr,
        Some(IpAddr::from([192, 0, 2, 7]))
    );
    // An endless command: cut at the cap, an event, parsing goes on.
    let long = vec![b'x'; cfg.ftp_max_line * 3];
    feed(&mut s, &cfg, &mut ev, &mut c, ToServer, b"RETR ");
    feed(&mut s, &cfg, &mut ev, &mut c, ToServer, &long);
    feed(&mut s, &cfg, &mut ev, &mut c, ToServer, b"\r\nNOOP\r\n");
    assert!(ev.contains(AppEvent::FtpRequestCommandTooLong));
    let retr = s.txs().nth(1).unwrap();
    assert!(retr.request_truncated);
    assert_eq!(retr.command_data().len(), cfg.ftp_max_line - 5);
    assert_eq!(
        s.txs().nth(2).unwrap().command.map(Command::name),
        Some("NOOP")
    );
    // Replies nobody asked for and unknown commands: transactions within the cap.
    for _ in 0..cfg.ftp_max_txs * 2 {
        feed(&mut s, &cfg, &mut ev, &mut c, ToClient, b"500 what\r\n");
        feed(&mut s, &cfg, &mut ev, &mut c, ToServer, b"XYZZY\r\n");
    }
    assert!(s.txs().count() <= cfg.ftp_max_txs);
    assert!(c.ftp_limit > 0);
    assert!(c.ftp_unknown_command >= cfg.ftp_max_txs as u64);
    // A long reply line is cut and flagged.
    feed(&mut s, &cfg, &mut ev, &mut c, ToClient, &long);
    feed(&mut s, &cfg, &mut ev, &mut c, ToClient, b"\r\n");
    assert!(ev.contains(AppEvent::FtpResponseCommandTooLong));
    assert!(s.txs().any(|t| t.reply_truncated));
}

#[test]
fn detected_by_banner_and_logged_as_suricata_writes_it() {
    let cfg = AppConfig {
        eve_logging: true,
        ..AppConfig::default()
    };
    let mut c = AppCounters::default();
    let mut app = AppLayer::new(Transport::Tcp, 59898, 21);
    app.set_client(IpAddr::from([192, 168, 0, 13]));
    let t = Timestamp(0);
    app.on_stream(
        &cfg,
        Direction::ToClient,
        b"220 (vsFTPd 2.3.5)\r\n",
        t,
        &mut c,
    );
    assert_eq!(app.proto(), AppProto::Ftp);
    app.on_stream(
        &cfg,
        Direction::ToServer,
        b"PORT 192,168,0,13,234,10\r\n",
        t,
        &mut c,
    );
    app.on_stream(
        &cfg,
        Direction::ToClient,
        b"200 PORT command successful.\r\n",
        t,
        &mut c,
    );
    assert!(matches!(app.state(), AppState::Ftp(_)));
    let mut out = Vec::new();
    let mut records = Vec::new();
    while let Some(r) = app.next_record() {
        let AppState::Ftp(s) = app.state() else {
            unreachable!()
        };
        let eve::TxRef::Ftp(id) = r else {
            panic!("{r:?}")
        };
        out.clear();
        let mut j = crate::eve::Json::new(&mut out);
        super::eve::write_ftp(&mut j, s.tx(id).unwrap());
        records.push(String::from_utf8(out.clone()).unwrap());
    }
    assert_eq!(records.len(), 2);
    assert!(
        records[0].contains(
            r#""completion_code":["220"],"reply":["(vsFTPd 2.3.5)"],"reply_received":"yes""#
        ),
        "{}",
        records[0]
    );
    assert!(!records[0].contains("command"));
    assert!(
        records[1].contains(
            r#""command":"PORT","command_data":"192,168,0,13,234,10","command_truncated":false"#
        ),
        "{}",
        records[1]
    );
    assert!(
        records[1].contains(
            r#""dynamic_port":59914,"mode":"active","reply_received":"yes","reply_truncated":false"#
        ),
        "{}",
        records[1]
    );
}

use crate::app::eve;

#[test]
fn expectations_are_claimed_once_expire_and_are_capped() {
    use super::expect::{ExpectCounters, Expectations, Pending, EXPECT_TIMEOUT};
    use crate::flow::FlowTuple;
    let tuple = |src: [u8; 4], sp, dst: [u8; 4], dp| FlowTuple {
        zone: 0,
        proto: 6,
        src: IpAddr::from(src),
        src_port: sp,
        dst: IpAddr::from(dst),
        dst_port: dp,
    };
    let (client, server) = ([192, 0, 2, 10], [198, 51, 100, 20]);
    let control = tuple(client, 40000, server, 21);
    let mut c = ExpectCounters::default();
    let mut t = Expectations::new(2);
    let t0 = Timestamp(1_000);
    let retr = Pending::new(50000, Command::Retr, b"a.txt");
    t.add(&control, 7, retr, t0, &mut c);
    // Another port, or a third host: not this entry.
    assert!(t
        .claim(&tuple(client, 40001, server, 50001), t0, &mut c)
        .is_none());
    assert!(t
        .claim(&tuple([203, 0, 113, 1], 40001, server, 50000), t0, &mut c)
        .is_none());
    // Active mode: the server connects to the client's port.
    let o = t
        .claim(&tuple(server, 20, client, 50000), t0, &mut c)
        .unwrap();
    assert_eq!(
        (o.command, o.name.as_slice(), o.control_flow),
        (Some(Command::Retr), &b"a.txt"[..], 7)
    );
    assert!(
        t.claim(&tuple(server, 20, client, 50000), t0, &mut c)
            .is_none(),
        "used once"
    );
    // Full: the third is refused and counted; an expired one makes room.
    for port in [1, 2, 3] {
        t.add(
            &control,
            7,
            Pending::new(port, Command::Stor, b""),
            t0,
            &mut c,
        );
    }
    assert_eq!((t.len(), c.dropped), (2, 1));
    let later = Timestamp(t0.0 + EXPECT_TIMEOUT.0 + 1);
    assert!(t
        .claim(&tuple(client, 40002, server, 1), later, &mut c)
        .is_none());
    t.add(
        &control,
        7,
        Pending::new(4, Command::Stor, b""),
        later,
        &mut c,
    );
    assert_eq!((t.len(), c.expired, c.created, c.matched), (1, 2, 4, 1));
}

/// Transactions as comparable values: command, request, reply lines, port, mode, done.
type TxSummary = (Option<&'static str>, Vec<u8>, Vec<Vec<u8>>, u16, bool, bool);

/// Feeds `parts` (direction, bytes) cut into pieces of `piece` bytes; checks the caps.
fn summarize(cfg: &AppConfig, parts: &[(bool, Vec<u8>)], piece: usize) -> Vec<TxSummary> {
    let mut s = FtpState::new(cfg, Some(IpAddr::from([192, 0, 2, 1])));
    let (mut ev, mut c) = (EventSet::default(), AppCounters::default());
    for (to_server, bytes) in parts {
        let d = if *to_server {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        for p in bytes.chunks(piece) {
            s.parse(cfg, d, p, &mut ev, &mut c);
        }
    }
    assert!(s.txs().count() <= cfg.ftp_max_txs);
    s.txs()
        .map(|t| {
            assert!(t.request().len() <= cfg.ftp_max_line);
            assert!(t.reply_count() <= MAX_REPLY_LINES);
            (
                t.command.map(Command::name),
                t.request().to_vec(),
                t.reply_lines().map(<[u8]>::to_vec).collect(),
                t.dyn_port,
                t.active,
                t.done,
            )
        })
        .collect()
}

proptest::proptest! {
    /// The same bytes split anywhere give the same transactions, within the caps (the
    /// `app_ftp` fuzz target checks the same over arbitrary bytes).
    #[test]
    fn any_split_gives_the_same_transactions(
        parts in proptest::collection::vec(
            (proptest::bool::ANY, proptest::collection::vec(
                proptest::sample::select(b"0123456789 -,|()\r\nPORTEPSVRETRLIST227229150226x".to_vec()),
                0..120,
            )),
            1..12,
        ),
        piece in 1usize..40,
    ) {
        let cfg = AppConfig { ftp_max_line: 32, ftp_max_txs: 8, ..AppConfig::default() };
        let whole = summarize(&cfg, &parts, usize::MAX);
        proptest::prop_assert_eq!(whole, summarize(&cfg, &parts, piece));
    }
}
