//! The embedded default's demo: `osprey run` replays the bundled demo capture
//! (`configs/samples/demo-mix.pcap`) at the capture's own pace times `[capture] speed`, each
//! pass of the loop with new flows, into a store bounded by `[storage] max_bytes`.
//!
//! Expected counts come from the capture's own timestamps, read here; the bands are wide
//! because the machine is shared, but far from what an unpaced replay delivers.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{osprey_run, run_within, sample, write_replay_config};

/// Seconds from the first packet of every packet of a classic pcap (microseconds).
fn offsets(pcap: &Path) -> Vec<f64> {
    let bytes = std::fs::read(pcap).unwrap();
    let mut at = 24;
    let mut out = Vec::new();
    while at + 16 <= bytes.len() {
        let word = |i: usize| u32::from_le_bytes(bytes[at + i..at + i + 4].try_into().unwrap());
        out.push(word(0) as f64 + word(4) as f64 / 1e6);
        at += 16 + word(8) as usize;
    }
    let first = out[0];
    out.iter().map(|t| t - first).collect()
}

/// Packets of `offsets` due within `secs` of capture time.
fn due_within(offsets: &[f64], secs: f64) -> usize {
    offsets.iter().filter(|&&t| t <= secs).count()
}

/// The packet count of `osprey run`'s last line (`stopped: N packets, ...`).
fn stopped_packets(stdout: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("stopped: "))
        .unwrap_or_else(|| panic!("no stopped line in {stdout}"));
    line["stopped: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn run_demo(dir: &Path, capture: &str, rest: &str, seconds: u64) -> std::process::Output {
    let cfg = dir.join("osprey.toml");
    let rules = format!(
        "[rules]\nfiles = [{:?}, {:?}]\n",
        sample("demo.rules").display().to_string(),
        sample("et-demo.rules").display().to_string()
    );
    write_replay_config(
        &cfg,
        &sample("demo-mix.pcap"),
        &format!("loop = true\n{capture}\n[dpdk]\nno_huge = true\nno_pci = true\n{rest}\n{rules}"),
    );
    let out = run_within(
        osprey_run(&dir.join("data"))
            .arg("-c")
            .arg(&cfg)
            .args(["--seconds", &seconds.to_string()]),
        Duration::from_secs(seconds + 120),
    );
    assert!(out.status.success(), "osprey run failed");
    out
}

#[test]
fn a_paced_replay_delivers_the_captures_rate_times_speed() {
    let tmp = tempfile::tempdir().unwrap();
    let offsets = offsets(&sample("demo-mix.pcap"));
    let (seconds, speed) = (6u64, 10.0);
    let out = run_demo(
        tmp.path(),
        &format!("pace = \"capture\"\nspeed = {speed}"),
        "",
        seconds,
    );
    let got = stopped_packets(&String::from_utf8_lossy(&out.stdout));
    // The run's clock starts with the workers, a little after the process: allow up to 2.5 s
    // less, and 1 s more, than the run lasted.
    let low = due_within(&offsets, (seconds as f64 - 2.5) * speed);
    let high = due_within(&offsets, (seconds as f64 + 1.0) * speed);
    assert!(
        (low as u64..=high as u64).contains(&got),
        "{got} packets in {seconds} s at {speed}×: expected {low}..={high}"
    );
    assert!(
        high < offsets.len(),
        "the band must not cover the whole capture, or an unpaced run would pass"
    );
}

#[test]
fn a_looping_paced_replay_starts_new_flows_on_every_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let offsets = offsets(&sample("demo-mix.pcap"));
    let speed = 200.0;
    let pass = offsets.last().unwrap() / speed;
    let eve = tmp.path().join("eve.json");
    let out = run_demo(
        tmp.path(),
        &format!("pace = \"capture\"\nspeed = {speed}"),
        &format!(
            "[eve]\nenabled = true\npath = {:?}\n",
            eve.display().to_string()
        ),
        (pass * 3.0).ceil() as u64 + 1,
    );
    let got = stopped_packets(&String::from_utf8_lossy(&out.stdout));
    assert!(
        got > 2 * offsets.len() as u64,
        "{got} packets: not two passes"
    );
    // The same conversation (5-tuple) in every pass, each time a new flow starting later.
    let mut starts: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in common::eve_records(&eve) {
        if r["event_type"] != "flow" {
            continue;
        }
        let key = format!(
            "{} {}:{} {}:{}",
            r["proto"], r["src_ip"], r["src_port"], r["dest_ip"], r["dest_port"]
        );
        starts
            .entry(key)
            .or_default()
            .push(r["flow"]["start"].as_str().unwrap().to_owned());
    }
    let repeated: Vec<_> = starts.values().filter(|s| s.len() >= 2).collect();
    assert!(
        repeated.len() > 10,
        "conversations seen in more than one pass: {}",
        repeated.len()
    );
    for s in repeated {
        let mut sorted = s.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            s.len(),
            "a pass repeated a flow's start: {s:?}"
        );
    }
}

#[test]
fn the_store_stays_under_its_cap() {
    let tmp = tempfile::tempdir().unwrap();
    // As fast as the worker goes: even a debug build stores about 1 MiB of alerts a second
    // (14 MiB in this run's 12 s without a cap, measured), against a 2 MiB cap. The cap
    // trims alerts, flows and protocol metadata; incident timelines are bounded by
    // `[incidents] max_members` per incident instead (the demo's few hosts fill theirs
    // within seconds at this pace: 1,000 members each would be about 8 MB), so this run
    // keeps them short.
    let cap: u64 = 2 << 20;
    let out = run_demo(
        tmp.path(),
        "pace = \"max\"",
        &format!(
            "[storage]\nmax_bytes = {cap}\nretention_interval_secs = 1\nmin_free_bytes = 1048576\n[incidents]\nmax_members = 20\n"
        ),
        12,
    );
    let packets = stopped_packets(&String::from_utf8_lossy(&out.stdout));
    assert!(
        packets > 50_000,
        "{packets} packets: too few to fill the cap"
    );
    let sst: u64 = std::fs::read_dir(tmp.path().join("data"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "sst"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(sst > 0, "nothing stored");
    // Retention runs once a second and deletes the oldest alerts then; between runs the
    // store may pass the cap by a second of ingest.
    assert!(sst <= 2 * cap, "{sst} bytes of tables over a cap of {cap}");
}
