//! SMTP and MIME parsers under hostile bytes. Invariants: no panic; caps hold (transactions,
//! recipients, attachment content kept, URLs, received lines); and parsing the same two
//! streams in one piece or split at an arbitrary point gives identical transactions and
//! messages (chunk-boundary invariance).
#![no_main]

use dataplane::app::mime::{self, Email};
use dataplane::app::smtp::{tx, SmtpState, MAX_TXS};
use dataplane::app::{AppConfig, AppCounters, Direction, EventSet};
use dataplane::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fn email(out: &mut Vec<Vec<u8>>, e: &Email) {
    for f in [&e.from, &e.to, &e.cc, &e.subject, &e.date, &e.message_id, &e.x_mailer] {
        out.push(f.clone());
    }
    for l in [&e.received, &e.attachments, &e.urls] {
        assert!(l.len() <= mime::MAX_LIST);
        out.extend(l.iter().cloned());
    }
    out.push(e.status.name().as_bytes().to_vec());
}

fn summary(s: &SmtpState) -> Vec<Vec<u8>> {
    let mut out = vec![s.helo.clone()];
    assert!(s.txs().count() <= MAX_TXS);
    for t in s.txs() {
        out.push(format!("{} {} {}", t.id, t.done, t.has_message).into_bytes());
        out.push(t.mail_from.clone());
        assert!(t.rcpt_to().count() <= tx::MAX_RCPT);
        out.extend(t.rcpt_to().map(<[u8]>::to_vec));
        let mut i = 0;
        while let Some(d) = t.file_data(i) {
            assert!(d.len() <= tx::FILE_DATA_MAX);
            out.push(d.to_vec());
            i += 1;
        }
        if let Some(e) = s.email(t) {
            email(&mut out, e);
        }
    }
    for f in s.files().iter() {
        out.push(f.name().to_vec());
        out.push(format!("{} {:?} {}", f.size, f.state, f.tx_id).into_bytes());
    }
    out
}

fn run(cfg: &AppConfig, client: &[u8], server: &[u8], split: usize) -> Vec<Vec<u8>> {
    let mut s = SmtpState::new(cfg);
    let mut ev = EventSet::default();
    let mut c = AppCounters::default();
    let now = Timestamp(0);
    let (a, b) = client.split_at(split.min(client.len()));
    let (x, y) = server.split_at(split.min(server.len()));
    for (d, bytes) in [
        (Direction::ToServer, a),
        (Direction::ToServer, b),
        (Direction::ToClient, x),
        (Direction::ToClient, y),
    ] {
        s.parse(d, bytes, now, &mut ev, &mut c);
    }
    s.end(Direction::ToServer, &mut ev, &mut c);
    s.end(Direction::ToClient, &mut ev, &mut c);
    summary(&s)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let cfg = AppConfig {
        eve_logging: true,
        ..AppConfig::default()
    };
    let cut = (data[0] as usize * data.len()) / 256;
    let split = data[1] as usize * 7;
    let (client, server) = data[2..].split_at(cut.min(data.len() - 2));
    let whole = run(&cfg, client, server, usize::MAX);
    let parts = run(&cfg, client, server, split);
    assert_eq!(whole, parts);
});
