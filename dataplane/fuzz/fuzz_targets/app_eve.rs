//! EVE records of the app layer under hostile bytes. Invariants: every record that comes due
//! renders as one valid JSON object carrying its protocol object; each transaction comes due
//! once; alert metadata for any transaction id is valid JSON; nothing is due after the flush.
#![no_main]

use dataplane::app::eve::{
    write_alert_app_metadata_with, write_app_record, write_flow_app_fields, EveOptions, TxRef,
};
use dataplane::app::{AppConfig, AppCounters, AppLayer, Direction, Transport};
use dataplane::eve::{Envelope, Json};
use dataplane::time::Timestamp;
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};

fn check(app: &AppLayer, r: TxRef, seen: &mut Vec<TxRef>, out: &mut Vec<u8>) {
    assert!(!seen.contains(&r), "{r:?} due twice");
    seen.push(r);
    let env = Envelope {
        ts: Timestamp(1),
        flow_id: 1,
        pcap_cnt: 1,
        event_type: "",
        src: IpAddr::V4(Ipv4Addr::LOCALHOST),
        src_port: 1,
        dst: IpAddr::V4(Ipv4Addr::LOCALHOST),
        dst_port: 2,
        proto: 6,
        vlan: dataplane::eve::Vlans::NONE,
        icmp: None,
    };
    let opts = EveOptions { ja3: true, ja4: true };
    out.clear();
    assert!(write_app_record(out, &env, app, r, &opts), "{r:?} gone");
    let v: serde_json::Value = serde_json::from_slice(out).expect("valid record");
    assert!(v.get(r.event_type()).is_some_and(|o| o.is_object()));
    for id in [0, 1, 2, u64::MAX] {
        out.clear();
        let mut j = Json::new(out);
        write_flow_app_fields(&mut j, app);
        write_alert_app_metadata_with(&mut j, app, Some(id), &opts);
        j.end();
        serde_json::from_slice::<serde_json::Value>(out).expect("valid alert metadata");
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let cfg = AppConfig {
        eve_logging: true,
        http_max_txs: 4,
        ..AppConfig::default()
    };
    let (transport, dport) = match data[0] % 4 {
        0 => (Transport::Tcp, 80),
        1 => (Transport::Udp, 53),
        2 => (Transport::Tcp, 53),
        _ => (Transport::Tcp, 443),
    };
    let mut app = AppLayer::new(transport, 40000, dport);
    let mut ctr = AppCounters::default();
    let mut seen = Vec::new();
    let mut out = Vec::new();
    // Pieces: a length byte (high bit: direction), then that many bytes.
    let mut rest = &data[1..];
    while let Some((&h, tail)) = rest.split_first() {
        let n = ((h & 0x7f) as usize).min(tail.len());
        let dir = if h & 0x80 == 0 { Direction::ToServer } else { Direction::ToClient };
        let (piece, tail) = tail.split_at(n);
        rest = tail;
        match transport {
            Transport::Tcp => app.on_stream(&cfg, dir, piece, Timestamp(0), &mut ctr),
            Transport::Udp => app.on_datagram(&cfg, dir, piece, Timestamp(0), &mut ctr),
        };
        while let Some(r) = app.next_record() {
            check(&app, r, &mut seen, &mut out);
        }
    }
    app.on_end(&cfg, Direction::ToServer, Timestamp(0), &mut ctr);
    app.on_end(&cfg, Direction::ToClient, Timestamp(0), &mut ctr);
    while let Some(r) = app.next_record_at_end() {
        check(&app, r, &mut seen, &mut out);
    }
    assert_eq!(app.next_record_at_end(), None);
    assert_eq!(app.next_record(), None);
});
