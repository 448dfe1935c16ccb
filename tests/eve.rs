//! End-to-end tests of EVE output through the real binary and real DPDK (`net_pcap`):
//!
//! - `run_writes_the_same_records_as_replay`: `osprey run` with a replay-once configuration
//!   (`[capture] loop = false`, the API on 127.0.0.1:0, a temporary store) exits by itself and
//!   its EVE file holds the same records as `osprey replay --eve` over the same capture and
//!   rules: the bundled demo capture (HTTP, alerts), a capture with decoder anomalies, and
//!   from `../shared/data` captures with VLAN tags, ICMP and an ET Open subset when present.
//! - `tiny_eve_ring_replay_waits_and_drops_nothing`: a replay through a 4 KiB EVE ring writes
//!   exactly the records of a replay through the default ring, and says it waited.
//!
//! Records are compared as parsed JSON, sorted (a multiset: the two paths interleave the
//! workers' records differently), without the `stats` record's `timestamp` and `uptime`
//! (wall-clock facts of each run).

mod common;

use common::{
    eve_records, osprey, read_json, run, run_within, sample, tcp_frame, write_pcap, ETHERNET,
};
use std::path::{Path, PathBuf};
use std::time::Duration;
use vocab::testing::shared_data;

const ANOMALIES: &str = "decode,stream,applayer";

/// The EVE file's records, each line parsed, sorted by their text; the `stats` record without
/// its wall-clock fields.
fn records(path: &Path) -> Vec<String> {
    let mut v: Vec<String> = eve_records(path)
        .into_iter()
        .map(|mut r| {
            if r["event_type"] == "stats" {
                let o = r.as_object_mut().unwrap();
                o.remove("timestamp");
                o["stats"].as_object_mut().unwrap().remove("uptime");
            }
            r.to_string()
        })
        .collect();
    v.sort();
    v
}

fn count(recs: &[String], event_type: &str) -> usize {
    let needle = format!("\"event_type\":\"{event_type}\"");
    recs.iter().filter(|r| r.contains(&needle)).count()
}

/// `osprey replay --eve` of `pcap` with `rules`; returns the EVE file's records.
fn replay(dir: &Path, pcap: &Path, rules: &Path, extra: &[&str]) -> Vec<String> {
    let eve = dir.join("replay.json");
    let out = run(osprey()
        .args(["replay", "-q", "--anomaly-types", ANOMALIES, "--pcap"])
        .arg(pcap)
        .arg("--rules")
        .arg(rules)
        .arg("--eve")
        .arg(&eve)
        .args(extra));
    assert!(out.status.success(), "replay failed");
    records(&eve)
}

/// `osprey run` of `pcap` once with `rules` imported into a new store; returns the EVE file's
/// records after the appliance exited by itself. Retro-hunting is off: with it on, `tls`
/// records also carry JA3/JA3S/JA4 for the hunt index, which `replay` writes only when a
/// rule uses them.
fn run_once(dir: &Path, pcap: &Path, rules: &Path) -> Vec<String> {
    let eve = dir.join("run.json");
    let cfg = dir.join("osprey.toml");
    std::fs::write(
        &cfg,
        format!(
            "[capture]\nmode = \"replay\"\npcap = {pcap:?}\nloop = false\nworkers = 1\n\
             [api]\nlisten = \"127.0.0.1:0\"\nallow_plaintext = true\n\
             [auth]\nanonymous_role = \"admin\"\n\
             [metrics]\nenabled = false\n\
             [storage]\npath = {:?}\n\
             [rules]\nfiles = [{rules:?}]\ncache_dir = {:?}\n\
             [eve]\nenabled = true\npath = {eve:?}\nanomaly_types = [\"decode\", \"stream\", \"applayer\"]\n\
             [intel.hunt]\nenabled = false\n",
            dir.join("db"),
            std::env::temp_dir().join("osprey-hyperscan-cache"),
        ),
    )
    .unwrap();
    // It must stop by itself once the capture is processed and every record written.
    let out = run_within(
        osprey().args(["run", "-c"]).arg(&cfg),
        Duration::from_secs(120),
    );
    eprintln!(
        "run stdout:\n{}\nrun stderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "osprey run failed: {:?}", out.status);
    records(&eve)
}

fn assert_same(case: &str, run: &[String], replay: &[String]) {
    if run == replay {
        return;
    }
    let only = |a: &[String], b: &[String]| {
        let mut b = b.to_vec();
        a.iter()
            .filter(|r| match b.iter().position(|x| x == *r) {
                Some(i) => {
                    b.swap_remove(i);
                    false
                }
                None => true,
            })
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
    };
    panic!(
        "{case}: run wrote {} records, replay {}\nonly in run (first 5): {:#?}\nonly in replay (first 5): {:#?}",
        run.len(),
        replay.len(),
        only(run, replay),
        only(replay, run)
    );
}

/// A capture with decoder anomalies (IPv4 lengths beyond the frame, a frame cut inside the IP
/// header) and a TCP stream anomaly (a SYN resent with another sequence number), VLAN-tagged
/// and plain.
fn write_anomalies_pcap(path: &Path) {
    let mut frames = vec![
        tcp_frame(100, 0x02, 1),
        tcp_frame(40, 0x02, 1000),
        tcp_frame(40, 0x02, 2000),
        tcp_frame(40, 0x02, 2000)[..20].to_vec(),
    ];
    // The same flows again in VLAN 7.
    let tagged: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            let mut t = f[..12].to_vec();
            t.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
            t.extend_from_slice(&f[12..]);
            t
        })
        .collect();
    frames.extend(tagged);
    let frames: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    write_pcap(path, ETHERNET, &frames);
}

/// The first `n` rules of each ET Open file, with the classification beside them.
fn et_open_subset(dir: &Path, n: usize) -> Option<PathBuf> {
    let et = shared_data("et-open")?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&et)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .collect();
    files.sort();
    let mut text = String::new();
    for f in files {
        let t = std::fs::read_to_string(&f).unwrap();
        for l in t.lines().filter(|l| l.starts_with("alert ")).take(n) {
            text.push_str(l);
            text.push('\n');
        }
    }
    let dir = dir.join("et");
    std::fs::create_dir_all(&dir).unwrap();
    if let Ok(c) = std::fs::read(et.join("classification.config")) {
        std::fs::write(dir.join("classification.config"), c).unwrap();
    }
    let rules = dir.join("subset.rules");
    std::fs::write(&rules, text).unwrap();
    Some(rules)
}

#[test]
fn run_writes_the_same_records_as_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let demo_rules = tmp.path().join("demo").join("demo.rules");
    std::fs::create_dir_all(demo_rules.parent().unwrap()).unwrap();
    std::fs::copy(sample("demo.rules"), &demo_rules).unwrap();
    std::fs::copy(
        sample("classification.config"),
        demo_rules.with_file_name("classification.config"),
    )
    .unwrap();
    let anomalies = tmp.path().join("anomalies.pcap");
    write_anomalies_pcap(&anomalies);
    let mut cases: Vec<(String, PathBuf, PathBuf)> = vec![
        ("demo".into(), sample("demo.pcap"), demo_rules.clone()),
        ("anomalies".into(), anomalies, demo_rules.clone()),
    ];
    for rel in [
        "suricata-verify/tests/eve-flow-vlan/input.pcap",
        "suricata-verify/tests/output-eve-anomaly-02/input.pcap",
        "suricata-verify/tests/ipv4-truncated/truncated.pcap",
    ] {
        if let Some(p) = shared_data(rel) {
            cases.push((rel.into(), p, demo_rules.clone()));
        }
    }
    if let (Some(pcap), Some(rules)) = (
        shared_data("pcaps/public_mix.pcap"),
        et_open_subset(tmp.path(), 40),
    ) {
        cases.push(("public_mix with ET Open".into(), pcap, rules));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, (case, pcap, rules)) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("case{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let replayed = replay(&dir, pcap, rules, &[]);
        let ran = run_once(&dir, pcap, rules);
        assert_same(case, &ran, &replayed);
        assert_eq!(count(&ran, "stats"), 1, "{case}: one stats record");
        for t in ["alert", "flow", "http", "anomaly"] {
            if count(&ran, t) > 0 {
                seen.insert(t);
            }
        }
        if case == "anomalies" {
            assert!(
                ran.iter()
                    .any(|r| r.contains("\"type\":\"decode\"") && r.contains("\"vlan\":[7]")),
                "decoder anomalies in VLAN 7 written"
            );
            assert!(ran.iter().any(|r| r.contains("\"type\":\"stream\"")));
        }
    }
    // What the comparison covered.
    for t in ["alert", "flow", "http", "anomaly"] {
        assert!(seen.contains(t), "no {t} records compared");
    }
}

#[test]
fn tiny_eve_ring_replay_waits_and_drops_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let pcap = sample("demo.pcap");
    let rules = sample("demo.rules");
    let normal = replay(tmp.path(), &pcap, &rules, &[]);
    let stats = tmp.path().join("stats.json");
    let tiny_dir = tmp.path().join("tiny");
    std::fs::create_dir_all(&tiny_dir).unwrap();
    let tiny = replay(
        &tiny_dir,
        &pcap,
        &rules,
        &[
            "--eve-ring-bytes",
            "4096",
            "--stats-json",
            stats.to_str().unwrap(),
        ],
    );
    assert_same("4 KiB EVE ring", &tiny, &normal);
    assert!(count(&tiny, "alert") > 0 && count(&tiny, "http") > 0);
    let s = read_json(&stats);
    let c = &s["per_worker"][0]["counters"];
    assert_eq!(c["eve.queue_overflow"], 0, "{c}");
    assert_eq!(c["eve.queue_overflow.alert"], 0, "{c}");
    assert!(
        c["eve.queue_waits"].as_u64().unwrap() > 0,
        "a 4 KiB ring cannot hold the demo's records without waiting: {c}"
    );
}
