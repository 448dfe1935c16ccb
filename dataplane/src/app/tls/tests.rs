//! TLS tests.

use super::*;

#[test]
fn grease_values() {
    assert!(is_grease(0x0a0a));
    assert!(is_grease(0xfafa));
    assert!(!is_grease(0x0a1a));
    assert!(!is_grease(0x1301));
}

use crate::app::testpcap::read_flows;
use crate::app::{AppConfig, AppCounters, Direction, EventSet};
use crate::time::Timestamp;

/// Client and server streams of the TLS flow in suricata-verify's `tls-subject-zero` capture
/// (read in place from shared/data); `None` if the data set is absent.
fn streams() -> Option<(Vec<u8>, Vec<u8>)> {
    let p = vocab::testing::shared_data("suricata-verify/tests/tls/tls-subject-zero/input.pcap")?;
    let flows = read_flows(&p.to_string_lossy()).expect("capture reads");
    let f = flows.into_iter().find(|f| f.server.1 == 443)?;
    Some((f.stream(true), f.stream(false)))
}

fn parse_pieces(c: &[&[u8]], s: &[&[u8]]) -> (TlsState, EventSet) {
    let cfg = AppConfig::default();
    let mut st = TlsState::new();
    let mut ev = EventSet::default();
    let mut ctr = AppCounters::default();
    for p in c {
        st.parse(
            &cfg,
            Direction::ToServer,
            p,
            Timestamp(0),
            &mut ev,
            &mut ctr,
        );
    }
    for p in s {
        st.parse(
            &cfg,
            Direction::ToClient,
            p,
            Timestamp(0),
            &mut ev,
            &mut ctr,
        );
    }
    (st, ev)
}

fn facts(i: &TlsInfo) -> (Vec<u8>, String, String, String, u16, u32, Vec<Vec<u8>>) {
    (
        i.sni.clone(),
        i.ja3.clone(),
        i.ja3s.clone(),
        i.ja4.clone(),
        i.version,
        i.state,
        i.certs.iter().map(|c| c.der.clone()).collect(),
    )
}

#[test]
fn byte_at_a_time_equals_whole() {
    let Some((c, s)) = streams() else { return };
    let (whole, ev) = parse_pieces(&[&c], &[&s]);
    assert!(ev.is_empty(), "{ev:?}");
    assert!(whole.info.certs.len() >= 2);
    let cb: Vec<&[u8]> = c.chunks(1).collect();
    let sb: Vec<&[u8]> = s.chunks(1).collect();
    let (bytes, _) = parse_pieces(&cb, &sb);
    assert_eq!(facts(&whole.info), facts(&bytes.info));
}

#[test]
fn hostile_records_are_events() {
    let cfg = AppConfig::default();
    let mut ev = EventSet::default();
    let mut ctr = AppCounters::default();
    let mut st = TlsState::new();
    // Unknown record type.
    let r = st.parse(
        &cfg,
        Direction::ToServer,
        &[0x19, 3, 1, 0, 1, 0],
        Timestamp(0),
        &mut ev,
        &mut ctr,
    );
    assert!(matches!(r, Progress::Error(_)));
    assert!(ev.contains(AppEvent::TlsInvalidRecordType));
    // Oversized record.
    let r = st.parse(
        &cfg,
        Direction::ToClient,
        &[22, 3, 3, 0xff, 0xff],
        Timestamp(0),
        &mut ev,
        &mut ctr,
    );
    assert!(matches!(r, Progress::Error(_)));
    assert!(ev.contains(AppEvent::TlsRecordOverflow));
    // A handshake message declaring more than the cap stops handshake buffering.
    let mut st = TlsState::new();
    let mut rec = vec![22, 3, 3, 0, 8, 11, 0xff, 0xff, 0xff, 0, 0, 0, 0];
    rec.truncate(13);
    st.parse(
        &cfg,
        Direction::ToClient,
        &rec,
        Timestamp(0),
        &mut ev,
        &mut ctr,
    );
    assert!(ev.contains(AppEvent::TlsInvalidHandshakeMessage));
    assert!(st.info.certs.is_empty());
    // Garbage inside a well-framed handshake record is counted, not fatal.
    let mut st = TlsState::new();
    let mut ev = EventSet::default();
    st.parse(
        &cfg,
        Direction::ToServer,
        &[22, 3, 1, 0, 6, 1, 0, 0, 2, 0xde, 0xad],
        Timestamp(0),
        &mut ev,
        &mut ctr,
    );
    assert!(ev.contains(AppEvent::TlsInvalidHandshakeMessage));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Any chunking of a real handshake gives the same facts.
    #[test]
    fn chunking_does_not_matter(cuts in proptest::collection::vec(1usize..4000, 1..8)) {
        let Some((c, s)) = streams() else { return Ok(()) };
        let (whole, _) = parse_pieces(&[&c], &[&s]);
        let split = |b: &[u8]| -> Vec<Vec<u8>> {
            let mut v = Vec::new();
            let mut rest = b;
            for &n in cuts.iter().cycle() {
                if rest.is_empty() { break; }
                let (a, r) = rest.split_at(n.min(rest.len()));
                v.push(a.to_vec());
                rest = r;
            }
            v
        };
        let cs = split(&c);
        let ss = split(&s);
        let cr: Vec<&[u8]> = cs.iter().map(|v| v.as_slice()).collect();
        let sr: Vec<&[u8]> = ss.iter().map(|v| v.as_slice()).collect();
        let (parts, _) = parse_pieces(&cr, &sr);
        proptest::prop_assert_eq!(facts(&whole.info), facts(&parts.info));
    }

    /// Arbitrary bytes: no panic, caps hold.
    #[test]
    fn hostile_bytes(data in proptest::collection::vec(proptest::num::u8::ANY, 0..4096)) {
        let mut seeded = vec![22, 3, 1];
        seeded.extend_from_slice(&data);
        let (st, _) = parse_pieces(&[&seeded], &[&seeded]);
        proptest::prop_assert!(st.info.certs.len() <= MAX_CERTS);
    }
}

/// Regression (found by the `app_tls` fuzz target): an SSLv2-framed hello split before its
/// fifth byte was judged on the partial header.
#[test]
fn sslv2_hello_split() {
    let hello = [0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15];
    let (whole, _) = parse_pieces(&[&hello], &[]);
    let bytes: Vec<&[u8]> = hello.chunks(1).collect();
    let (split, _) = parse_pieces(&bytes, &[]);
    assert_eq!(whole.info.client_version, 0x0301);
    assert!(whole.info.state & state::CLIENT_HELLO != 0);
    assert_eq!(facts(&whole.info), facts(&split.info));
    assert_eq!(split.info.client_version, 0x0301);
}

#[test]
fn keyword_values() {
    assert_eq!(
        ssl_state_from_name("client_hello"),
        Some(state::CLIENT_HELLO)
    );
    assert_eq!(ssl_state_from_name("bogus"), None);
    assert_eq!(version_from_name("TLS1.2"), Some(0x0303));
    assert_eq!(version_from_name("1.3"), Some(0x0304));
    assert_eq!(version_name(0x0303), "TLS 1.2");
}
