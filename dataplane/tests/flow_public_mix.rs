//! The flow layer over `public_mix.pcap` (shared test material, see
//! `shared/data/README.md`): flow count against Suricata 8.0.6's 13,692, and the flow-layer
//! invariants on real traffic.

#[path = "../benches/support/mix.rs"]
mod mix;

use dataplane::counters::CounterSet;
use dataplane::flow::{
    Direction, FlowConfig, FlowHandle, FlowRecord, FlowTable, StreamConfig, StreamSink,
};

#[derive(Default)]
struct Bytes {
    data: u64,
    gaps: u64,
    ends: u64,
}

impl StreamSink for Bytes {
    fn data(&mut self, _: FlowHandle, _: Direction, _: u64, data: &[u8]) {
        self.data += data.len() as u64;
    }
    fn gap(&mut self, _: FlowHandle, _: Direction, _: u64, _: u64) {
        self.gaps += 1;
    }
    fn end(&mut self, _: FlowHandle, _: Direction) {
        self.ends += 1;
    }
}

#[test]
fn public_mix_flow_count() {
    let Some(path) = vocab::testing::shared_data("pcaps/public_mix.pcap") else {
        return;
    };
    let file = std::fs::read(path).expect("capture reads");
    let cap = mix::load(&file).expect("classic pcap");
    let mut table = FlowTable::new(FlowConfig {
        hash_seed: Some([1, 2, 3, 4]),
        stream: StreamConfig {
            midstream: true,
            ..StreamConfig::default()
        },
        ..FlowConfig::default()
    })
    .unwrap();
    let mut streams = Bytes::default();
    let mut records: Vec<FlowRecord> = Vec::new();
    for i in 0..cap.packets.len() {
        let now = cap.packets[i].ts;
        table
            .process(&cap.packet(i), now, &mut streams, &mut |r: &FlowRecord| {
                records.push(*r)
            })
            .unwrap();
        if i % 32 == 0 {
            table.sweep(now, 64, &mut streams, &mut |r: &FlowRecord| {
                records.push(*r)
            });
        }
    }
    table.drain_all(&mut streams, &mut |r: &FlowRecord| records.push(*r));
    let c = table.counters();
    println!(
        "packets {} (skipped {}), flows {} (tcp {} udp {} icmpv4 {} icmpv6 {} other {}), reuse {}",
        cap.packets.len(),
        cap.skipped,
        c.total,
        c.tcp,
        c.udp,
        c.icmpv4,
        c.icmpv6,
        c.other,
        c.tcp_reuse
    );
    println!(
        "stream bytes {} gaps {} ends {}",
        streams.data, streams.gaps, streams.ends
    );
    let mut names = Vec::new();
    table.visit(&mut |n, v| {
        if v != 0 {
            names.push(format!("{n}={v}"))
        }
    });
    println!("{}", names.join(" "));
    assert_eq!(records.len() as u64, c.total);
    assert_eq!(table.reassembly_memuse(), 0);
    let pkts: u64 = records
        .iter()
        .map(|r| r.pkts_toserver + r.pkts_toclient)
        .sum();
    assert_eq!(pkts, cap.packets.len() as u64);
    // Suricata 8.0.6 reports 13,692 flows on this capture. Its decoder sets up flows only for
    // the protocols it decodes, so IGMP (IP protocol 2) packets get none; the glue will skip
    // them the same way.
    let igmp = records.iter().filter(|r| r.tuple.proto == 2).count() as u64;
    let ratio = (c.total - igmp) as f64 / 13_692.0;
    println!(
        "flows without IGMP {} ({igmp} IGMP), ratio to Suricata: {ratio:.4}",
        c.total - igmp
    );
    assert!((0.97..1.03).contains(&ratio), "{ratio}");
}
