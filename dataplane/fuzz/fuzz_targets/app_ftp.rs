//! FTP control channel under hostile bytes. Invariants: no panic; transactions, reply lines
//! and request lines within their caps; the same bytes split anywhere give the same
//! transactions (commands, replies, ports, completion) and the same announced data ports.
#![no_main]

use dataplane::app::ftp::{FtpState, MAX_REPLY_LINES};
use dataplane::app::{AppConfig, AppCounters, Direction, EventSet};
use libfuzzer_sys::fuzz_target;

type Summary = (Vec<(Option<&'static str>, Vec<u8>, Vec<Vec<u8>>, u16, bool, bool)>, Vec<(u16, Vec<u8>)>);

/// Feeds `data` as alternating to-server / to-client chunks (a 0xff byte switches the
/// direction), each chunk cut into pieces of at most `piece` bytes.
fn run(cfg: &AppConfig, data: &[u8], piece: usize) -> Summary {
    let client = Some(std::net::IpAddr::from([192, 0, 2, 1]));
    let mut s = FtpState::new(cfg, client);
    let mut ev = EventSet::default();
    let mut c = AppCounters::default();
    let mut announced = Vec::new();
    let mut dir = Direction::ToServer;
    for chunk in data.split(|&b| b == 0xff) {
        for p in chunk.chunks(piece.max(1)) {
            s.parse(cfg, dir, p, &mut ev, &mut c);
            if let Some(e) = s.take_expectation() {
                announced.push((e.port, e.name().to_vec()));
            }
        }
        dir = match dir {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        };
    }
    assert!(s.txs().count() <= cfg.ftp_max_txs);
    let txs = s
        .txs()
        .map(|t| {
            assert!(t.request().len() <= cfg.ftp_max_line);
            assert!(t.reply_count() <= MAX_REPLY_LINES);
            assert!(t.reply_lines().all(|l| l.len() <= cfg.ftp_max_line));
            (
                t.command.map(|c| c.name()),
                t.request().to_vec(),
                t.reply_lines().map(<[u8]>::to_vec).collect(),
                t.dyn_port,
                t.active,
                t.done,
            )
        })
        .collect();
    (txs, announced)
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let cfg = AppConfig {
        ftp_max_line: 64,
        ftp_max_txs: 16,
        ..AppConfig::default()
    };
    let piece = usize::from(data[0] % 17) + 1;
    let whole = run(&cfg, &data[1..], usize::MAX);
    let split = run(&cfg, &data[1..], piece);
    assert_eq!(whole, split, "split at {piece}");
});
