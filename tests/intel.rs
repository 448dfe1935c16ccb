//! Threat intelligence end to end: `osprey replay --intel` over a real capture, with
//! indicators whose values an independent tool took from the same capture.
//!
//! `tests/intel/plant_indicators.py` reads `public_mix.pcap` with the Python `dpkt` library
//! (installed into `.venv/` by `deploy/install-deps.sh`) and writes a STIX bundle of DNS
//! names, TLS SNI and JA3 hashes, HTTP URLs and server addresses it found, each saying what it
//! planted. Without the capture or `dpkt` the test says so and checks nothing, or fails when
//! `CI` is set (`vocab::testing`).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{eve_records, osprey, read_json, root, run, run_within};
use serde_json::Value;
use vocab::testing::{in_ci, material, shared_data};

/// The project's Python with `dpkt`, when `deploy/install-deps.sh` made it.
fn python_with_dpkt() -> Option<PathBuf> {
    let py = material(root().join(".venv/bin/python"))?;
    let ok = Command::new(&py)
        .args(["-c", "import dpkt"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !in_ci(),
            "{} has no dpkt: run deploy/install-deps.sh",
            py.display()
        );
        eprintln!(
            "note: {} has no dpkt; this test checked nothing",
            py.display()
        );
        return None;
    }
    Some(py)
}

/// The bundle the independent tool plants from `pcap`.
fn planted_bundle(py: &Path, pcap: &Path, out: &Path) -> Vec<Value> {
    let o = Command::new(py)
        .arg(root().join("tests/intel/plant_indicators.py"))
        .arg(pcap)
        .output()
        .expect("run plant_indicators.py");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(out, &o.stdout).unwrap();
    let b: Value = serde_json::from_slice(&o.stdout).unwrap();
    b["objects"].as_array().unwrap().clone()
}

/// Whether a hit's value is what the indicator planted: the same value, or for a domain a
/// subdomain of it.
fn hit_is_planted(hit: &Value, planted: &Value) -> bool {
    let got = hit["intel"]["matched_value"].as_str().unwrap_or_default();
    let want = planted["value"].as_str().unwrap();
    // Names compare without case; URLs (paths and queries) exactly.
    let name = got.to_ascii_lowercase();
    got == want || (!want.contains('/') && (name == want || name.ends_with(&format!(".{want}"))))
}

#[test]
fn every_indicator_planted_from_public_mix_hits() {
    let Some(pcap) = shared_data("pcaps/public_mix.pcap") else {
        return;
    };
    let Some(py) = python_with_dpkt() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("planted.json");
    let objects = planted_bundle(&py, &pcap, &bundle);
    let planted: BTreeMap<&str, &Value> = objects
        .iter()
        .map(|o| (o["id"].as_str().unwrap(), &o["x_osprey_planted"]))
        .collect();
    let by_field = |f: &str| planted.values().filter(|p| p["field"] == f).count();
    for f in [
        "dns.query",
        "tls.sni",
        "ja3.hash",
        "http.url",
        "address",
        "dest_ip",
    ] {
        assert!(
            by_field(f) >= 2,
            "the capture gave too few {f} values: {planted:?}"
        );
    }
    let eve = dir.path().join("eve.json");
    let stats = dir.path().join("stats.json");
    let out = run(osprey()
        .args([
            "replay",
            "--flags",
            "checksum-off",
            "--eve-types",
            "intel",
            "--pcap",
        ])
        .arg(&pcap)
        .arg("--intel")
        .arg(&bundle)
        .arg("--eve")
        .arg(&eve)
        .arg("--stats-json")
        .arg(&stats));
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 unsupported") && stderr.contains("FOLLOWEDBY"),
        "the unmatchable control is reported: {stderr}"
    );
    let hits = eve_records(&eve);
    assert!(hits.iter().all(|h| h["event_type"] == "intel"));
    let mut by_indicator: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for h in &hits {
        by_indicator
            .entry(h["intel"]["indicator_id"].as_str().unwrap())
            .or_default()
            .push(h);
    }
    for (id, p) in &planted {
        let got = by_indicator.get(id).map_or(&[][..], Vec::as_slice);
        match p["field"].as_str().unwrap() {
            "none" | "unsupported" => assert!(got.is_empty(), "{id} {p}: {got:?}"),
            field => {
                let on_field = got.iter().filter(|h| {
                    let f = h["intel"]["matched_field"].as_str().unwrap();
                    (f == field || (field == "address" && (f == "src_ip" || f == "dest_ip")))
                        && hit_is_planted(h, p)
                });
                assert!(
                    on_field.count() > 0,
                    "planted {p} ({id}) never hit on its field: {got:?}"
                );
                for h in got {
                    assert!(hit_is_planted(h, p), "{id} hit another value: {h}");
                    assert_eq!(h["intel"]["confidence"], 75);
                    assert_eq!(h["intel"]["labels"][0], "planted");
                    assert!(h["flow_id"].as_u64().is_some_and(|f| f > 0), "{h}");
                }
            }
        }
    }
    let s = read_json(&stats);
    let counted: u64 = s["per_worker"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["counters"]["intel.hits"].as_u64().unwrap())
        .sum();
    assert_eq!(
        counted,
        hits.len() as u64,
        "every hit counted once and written once"
    );
}

#[test]
fn lists_and_bad_files_are_reported_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.txt");
    // The frame's server, 10.0.0.2, as a prefix; and a line that is no indicator.
    std::fs::write(&list, "10.0.0.2/31\nnot a value\n").unwrap();
    let pcap = dir.path().join("syn.pcap");
    let syn = common::tcp_frame(40, 0x02, 1);
    common::write_pcap(&pcap, common::ETHERNET, &[&syn]);
    let eve = dir.path().join("eve.json");
    let out = run(osprey()
        .args(["replay", "--flags", "checksum-off", "--pcap"])
        .arg(&pcap)
        .arg("--intel")
        .arg(&list)
        .arg("--eve")
        .arg(&eve));
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 active") && stderr.contains("1 malformed"),
        "{stderr}"
    );
    assert!(stderr.contains(":2: not an indicator value"), "{stderr}");
    let hits: Vec<Value> = eve_records(&eve)
        .into_iter()
        .filter(|r| r["event_type"] == "intel")
        .collect();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["intel"]["matched_field"], "dest_ip");
    assert_eq!(hits[0]["intel"]["matched_value"], "10.0.0.2");
    assert_eq!(
        hits[0]["intel"]["pattern"],
        "[ipv4-addr:value = '10.0.0.2/31']"
    );
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"type\": \"bundle\", \"objects\": [").unwrap();
    let out = run(osprey()
        .args(["replay", "--pcap"])
        .arg(&pcap)
        .arg("--intel")
        .arg(&bad));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.json") && stderr.contains("not JSON"),
        "{stderr}"
    );
}

#[test]
fn run_matches_configured_feeds_and_refuses_bad_feed_config() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let list = d.join("list.txt");
    std::fs::write(&list, "10.0.0.2\n").unwrap();
    let pcap = d.join("syn.pcap");
    let syn = common::tcp_frame(40, 0x02, 1);
    common::write_pcap(&pcap, common::ETHERNET, &[&syn]);
    let eve = d.join("eve.json");
    let config = |feeds: &str| {
        format!(
            "[capture]\nmode = \"replay\"\npcap = {pcap:?}\nloop = false\nworkers = 1\n\
             [api]\nlisten = \"127.0.0.1:0\"\nallow_plaintext = true\n\
             [metrics]\nenabled = false\n\
             [storage]\npath = {:?}\n\
             [eve]\nenabled = true\npath = {eve:?}\n{feeds}",
            d.join("db"),
        )
    };
    let cfg = d.join("osprey.toml");
    std::fs::write(
        &cfg,
        config(&format!(
            "[[intel.feeds]]\nname = \"blocklist\"\npath = {list:?}\n"
        )),
    )
    .unwrap();
    let out = run_within(
        osprey().args(["run", "-c"]).arg(&cfg),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hits: Vec<Value> = eve_records(&eve)
        .into_iter()
        .filter(|r| r["event_type"] == "intel")
        .collect();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["intel"]["source"], "blocklist");
    assert_eq!(hits[0]["intel"]["matched_value"], "10.0.0.2");
    for (feeds, error) in [
        (
            format!("[[intel.feeds]]\nname = \"a\"\npath = {list:?}\nurl = \"x\"\n"),
            "exactly one of path",
        ),
        (
            format!("[[intel.feeds]]\nname = \"a\"\npath = {list:?}\n[[intel.feeds]]\nname = \"a\"\npath = {list:?}\n"),
            "used twice",
        ),
    ] {
        std::fs::write(&cfg, config(&feeds)).unwrap();
        let out = run_within(osprey().args(["run", "-c"]).arg(&cfg), Duration::from_secs(60));
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(error), "{stderr}");
    }
}
