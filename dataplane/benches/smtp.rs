//! SMTP + MIME parser throughput on real mail sessions: the SMTP flows (port 25) of
//! suricata-verify's SMTP captures (an Outlook message with a quoted-printable HTML part and
//! a base64 attachment, a base64 zip attachment with an RFC 2231 name, an MD5-checked
//! attachment, a plain-text message with URLs), fed as captured (one call per TCP segment).
//! Reported as bytes of payload per second; each iteration parses every flow from a fresh
//! state, attachments hashed as with EVE `fileinfo` on.
//!
//! `cargo bench -p dataplane --bench smtp` (group `app::smtp`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::app::smtp::SmtpState;
use dataplane::app::{AppConfig, AppCounters, Direction, EventSet};
use dataplane::time::Timestamp;

#[path = "../src/app/testpcap.rs"]
mod testpcap;

const CAPTURES: &[&str] = &[
    "bug-3616-smtp/input.pcap",
    "smtp-rfc2231/input.pcap",
    "smtp-attachment-md5/input.pcap",
    "smtp-extract-url-schemes/input.pcap",
];

type Flow = Vec<(Direction, Vec<u8>)>;

fn flows() -> Vec<Flow> {
    let mut out = Vec::new();
    for c in CAPTURES {
        let Some(path) = vocab::testing::shared_data(format!("suricata-verify/tests/{c}")) else {
            continue;
        };
        let Some(all) = testpcap::read_flows(&path.to_string_lossy()) else {
            continue;
        };
        for f in all.into_iter().filter(|f| f.proto == 6 && f.server.1 == 25) {
            out.push(
                f.pieces
                    .into_iter()
                    .map(|p| {
                        let d = if p.to_server {
                            Direction::ToServer
                        } else {
                            Direction::ToClient
                        };
                        (d, p.data)
                    })
                    .collect(),
            );
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let cfg = AppConfig {
        eve_logging: true,
        ..AppConfig::default()
    };
    let now = Timestamp(0);
    let flows = flows();
    if flows.is_empty() {
        eprintln!("note: no SMTP captures found; app::smtp skipped");
        return;
    }
    let bytes: u64 = flows
        .iter()
        .flat_map(|f| f.iter().map(|(_, b)| b.len() as u64))
        .sum();
    let mut g = c.benchmark_group("app::smtp");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("sv_mail_sessions", |b| {
        b.iter(|| {
            let mut ctr = AppCounters::default();
            let mut n = 0;
            for f in &flows {
                let mut s = SmtpState::new(&cfg);
                let mut ev = EventSet::default();
                for (d, p) in f {
                    s.parse(*d, p, now, &mut ev, &mut ctr);
                }
                n += s.txs().count();
            }
            assert!(ctr.files.opened > 0);
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
