//! `osprey replay --blocklist FILE`: a block list tried offline. Inline (`--inline-out`) the
//! output holds exactly the input minus the packets an entry matches, in order; in IDS mode
//! every packet goes through and each blocked flow is one EVE `drop` record naming the entry
//! (its line number); a bad line stops the run at start naming the file and the line.

mod common;

use std::path::Path;

use common::{eve_records, one_error_line, osprey, read_json, run, write_pcap, ETHERNET};
use dataplane::io::pcap::PcapSource;

fn frames(path: &Path) -> Vec<Vec<u8>> {
    let mut src = PcapSource::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        out.push(f.data.to_vec());
    }
    out
}

/// A UDP frame `src`:`sport` → 198.51.100.2:53.
fn udp(src: [u8; 4], sport: u16) -> Vec<u8> {
    let data = b"hello";
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&((28 + data.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&[198, 51, 100, 2]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&53u16.to_be_bytes());
    f.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(data);
    f
}

/// Three sources, two flows each: 203.0.113.0/24 (listed on `src`) and one 5-tuple of
/// 192.0.2.1 are blocked; 192.0.2.1's other flow and 192.0.2.9 are not.
fn input() -> Vec<Vec<u8>> {
    (0..36u16)
        .map(|i| match i % 3 {
            0 => udp([203, 0, 113, 5], 1000 + i % 2),
            1 => udp([192, 0, 2, 1], 2000 + i % 2),
            _ => udp([192, 0, 2, 9], 3000),
        })
        .collect()
}

const LIST: &str = "# offline test list\n\
                    203.0.113.0/24 --side src --reason \"scanner net\"\n\
                    \"udp 192.0.2.1:2000 -> 198.51.100.2:53\" --origin playbook\n\
                    198.51.100.2 --side src\n";

fn blocked(f: &[u8]) -> bool {
    f[26..30] == [203, 0, 113, 5]
        || (f[26..30] == [192, 0, 2, 1] && f[34..36] == 2000u16.to_be_bytes())
}

#[test]
fn inline_a_replay_forwards_exactly_what_the_list_lets_through() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = input();
    let refs: Vec<&[u8]> = input.iter().map(Vec::as_slice).collect();
    let pcap = d.join("in.pcap");
    write_pcap(&pcap, ETHERNET, &refs);
    let list = d.join("block.txt");
    std::fs::write(&list, LIST).unwrap();
    let (out, stats) = (d.join("out.pcap"), d.join("stats.json"));
    let o = run(osprey()
        .args(["replay", "--quiet", "--pcap"])
        .arg(&pcap)
        .arg("--blocklist")
        .arg(&list)
        .arg("--inline-out")
        .arg(&out)
        .arg("--stats-json")
        .arg(&stats));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let expect: Vec<Vec<u8>> = input.iter().filter(|f| !blocked(f)).cloned().collect();
    assert_eq!(expect.len(), 18);
    assert_eq!(frames(&out), expect);
    let c = &read_json(&stats)["per_worker"][0]["counters"];
    assert_eq!(c["blocklist.hits"], 18);
    assert_eq!(c["blocklist.table_entries"], 3);
    assert_eq!(c["blocklist.hits.playbook"], 6);
}

#[test]
fn in_ids_mode_each_blocked_flow_is_one_drop_record_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = input();
    let refs: Vec<&[u8]> = input.iter().map(Vec::as_slice).collect();
    let pcap = d.join("in.pcap");
    write_pcap(&pcap, ETHERNET, &refs);
    let list = d.join("block.txt");
    std::fs::write(&list, LIST).unwrap();
    let eve = d.join("eve.json");
    let o = run(osprey()
        .args(["replay", "--quiet", "--pcap"])
        .arg(&pcap)
        .arg("--blocklist")
        .arg(&list)
        .arg("--eve")
        .arg(&eve)
        .args(["--eve-types", "drop,stats"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let recs = eve_records(&eve);
    let mut drops: Vec<(u64, u64, String)> = recs
        .iter()
        .filter(|r| r["event_type"] == "drop")
        .map(|r| {
            assert_eq!(r["drop"]["action"], "allowed", "{r}");
            (
                r["blocklist"]["id"].as_u64().unwrap(),
                r["src_port"].as_u64().unwrap(),
                r["blocklist"]["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    drops.sort();
    assert_eq!(
        drops,
        vec![
            (2, 1000, "scanner net".to_owned()),
            (2, 1001, "scanner net".to_owned()),
            (3, 2000, String::new()),
        ]
    );
    let stats = recs.iter().find(|r| r["event_type"] == "stats").unwrap();
    assert_eq!(
        stats["stats"]["decoder"]["pkts"], 36,
        "IDS inspects everything"
    );
}

#[test]
fn a_bad_line_stops_the_replay_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("block.txt");
    std::fs::write(&list, "192.0.2.1\n198.51.100.0/16 --side src\n").unwrap();
    let o = run(osprey()
        .args(["replay", "--pcap"])
        .arg(common::sample("demo.pcap"))
        .arg("--blocklist")
        .arg(&list));
    assert!(!o.status.success());
    let line = one_error_line(&o);
    assert!(line.contains("block.txt:2:"), "{line}");
    assert!(line.contains("host bits"), "{line}");
}
