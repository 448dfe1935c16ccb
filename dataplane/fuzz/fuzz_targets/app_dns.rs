//! DNS parser under hostile bytes. Invariants: no panic; names and records within caps; a
//! TCP stream gives the same messages whatever the split; UDP and TCP framing of the same
//! message agree.
#![no_main]

use dataplane::app::dns::{DnsState, Section, MAX_NAME};
use dataplane::app::{AppConfig, AppCounters, Direction, EventSet, Transport};
use dataplane::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fn names(s: &DnsState) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for t in s.txs() {
        for i in 0..t.queries().len() {
            v.push(t.query_name(i).unwrap_or_default().to_vec());
        }
        for r in t.records(Section::Answer) {
            v.push(t.record_name(r).to_vec());
            v.push(t.record_rdata(r).to_vec());
        }
        v.push(vec![t.opcode(), t.rcode()]);
    }
    v
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let cfg = AppConfig {
        dns_max_records: 32,
        ..AppConfig::default()
    };
    let now = Timestamp(0);
    let dir = if data[0] & 1 == 0 { Direction::ToServer } else { Direction::ToClient };
    let msg = &data[1..];

    let mut udp = DnsState::new(Transport::Udp);
    let mut ev = EventSet::default();
    let mut c = AppCounters::default();
    udp.parse_datagram(&cfg, dir, msg, now, &mut ev, &mut c);
    for t in udp.txs() {
        assert!(t.queries().len() <= cfg.dns_max_records);
        assert!(t.records(Section::Answer).len() <= cfg.dns_max_records);
        for i in 0..t.queries().len() {
            // Dotted names: labels of at most 63 bytes plus dots, capped.
            assert!(t.query_name(i).unwrap_or_default().len() <= MAX_NAME + 64);
        }
    }

    // The same message over TCP, split at every 7th byte and whole.
    if msg.len() <= u16::MAX as usize {
        let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(msg);
        let mut a = DnsState::new(Transport::Tcp);
        let mut b = DnsState::new(Transport::Tcp);
        a.parse_stream(&cfg, dir, &framed, now, &mut ev, &mut c);
        for piece in framed.chunks(7) {
            b.parse_stream(&cfg, dir, piece, now, &mut ev, &mut c);
        }
        assert_eq!(names(&a), names(&b));
        assert_eq!(names(&a), names(&udp));
    }
});
