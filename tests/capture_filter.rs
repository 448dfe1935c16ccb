//! `osprey replay --filter`: a BPF expression compiled by libpcap keeps what it names; the
//! rest is counted as `filter.rejected` and not inspected; a bad expression stops the replay
//! at start with libpcap's reason.

mod common;

use common::{one_error_line, osprey, read_json, run, sample};

/// TCP SYNs to or from port 80 in a classic pcap of Ethernet frames, counted by reading the
/// headers here (independently of libpcap).
fn port_80_syns(pcap: &[u8]) -> u64 {
    let mut off = 24;
    let mut n = 0;
    while off + 16 <= pcap.len() {
        let cap = u32::from_le_bytes(pcap[off + 8..off + 12].try_into().unwrap()) as usize;
        let f = &pcap[off + 16..off + 16 + cap];
        off += 16 + cap;
        if f.len() < 34 || f[12..14] != [0x08, 0x00] || f[23] != 6 {
            continue;
        }
        let t = 14 + usize::from(f[14] & 15) * 4;
        let sport = u16::from_be_bytes([f[t], f[t + 1]]);
        let dport = u16::from_be_bytes([f[t + 2], f[t + 3]]);
        if (sport == 80 || dport == 80) && f[t + 13] & 2 != 0 {
            n += 1;
        }
    }
    n
}

#[test]
fn replay_filter_keeps_what_it_names_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = sample("demo.pcap");
    let expect = port_80_syns(&std::fs::read(&pcap).unwrap());
    assert!(expect > 0);
    let stats = dir.path().join("stats.json");
    let out = run(osprey()
        .args(["replay", "--pcap"])
        .arg(&pcap)
        .args([
            "--filter",
            "tcp port 80 and tcp[tcpflags] & tcp-syn != 0",
            "--stats-json",
        ])
        .arg(&stats));
    assert!(out.status.success());
    let v = read_json(&stats);
    let packets = v["packets"].as_u64().unwrap();
    let c = &v["per_worker"][0]["counters"];
    assert_eq!(
        c["decoder.pkts"].as_u64(),
        Some(expect),
        "only the SYNs are decoded"
    );
    assert_eq!(c["filter.rejected"].as_u64(), Some(packets - expect));
}

#[test]
fn a_bad_filter_is_refused_at_start_with_the_reason() {
    let out = run(osprey()
        .args(["replay", "--pcap"])
        .arg(sample("demo.pcap"))
        .args(["--filter", "tcp prot 80"]));
    assert!(!out.status.success());
    let line = one_error_line(&out);
    assert!(line.contains("capture filter \"tcp prot 80\""), "{line}");
    assert!(line.contains("syntax error"), "{line}");
}
