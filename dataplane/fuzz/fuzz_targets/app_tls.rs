//! TLS parser under hostile bytes. Invariants: no panic; certificate chain within its cap; and
//! the handshake facts (SNI, versions, JA3/JA3S/JA4, certificates) do not depend on how the
//! stream was chunked.
#![no_main]

use dataplane::app::tls::{TlsState, MAX_CERTS};
use dataplane::app::{AppConfig, AppCounters, Direction, EventSet};
use dataplane::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fn facts(s: &TlsState) -> Vec<Vec<u8>> {
    let i = &s.info;
    let mut v = vec![
        i.sni.clone(),
        i.ja3.clone().into_bytes(),
        i.ja3s.clone().into_bytes(),
        i.ja4.clone().into_bytes(),
        vec![i.version as u8, (i.version >> 8) as u8, i.state as u8],
    ];
    for c in &i.certs {
        v.push(c.subject.clone());
        v.push(c.serial.clone().into_bytes());
    }
    v
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let cfg = AppConfig::default();
    let now = Timestamp(0);
    let dir = if data[0] & 1 == 0 { Direction::ToServer } else { Direction::ToClient };
    let step = (data[1] as usize).max(1);
    let stream = &data[2..];

    let mut a = TlsState::new();
    let mut b = TlsState::new();
    let mut ev = EventSet::default();
    let mut c = AppCounters::default();
    a.parse(&cfg, dir, stream, now, &mut ev, &mut c);
    for piece in stream.chunks(step) {
        b.parse(&cfg, dir, piece, now, &mut ev, &mut c);
    }
    assert!(a.info.certs.len() <= MAX_CERTS);
    assert_eq!(facts(&a), facts(&b));
});
