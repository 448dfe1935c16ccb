//! Threat intelligence end to end: `osprey replay --intel` over a real capture, with
//! indicators whose values an independent tool took from the same capture.
//!
//! `tests/intel/plant_indicators.py` reads `public_mix.pcap` with the Python `dpkt` library
//! (installed into `.venv/` by `deploy/install-deps.sh`) and writes a STIX bundle of DNS
//! names, TLS SNI and JA3 hashes, HTTP URLs and server addresses it found, each saying what it
//! planted. Without the capture or `dpkt` the test says so and checks nothing, or fails when
//! `CI` is set (`vocab::testing`).
//!
//! A TAXII 2.1 feed is polled from a real medallion server (`tests/intel/medallion.rs`) by
//! `osprey run`: its indicators hit, raise alerts, a new object is picked up by the next poll
//! through `added_after`, and a server that dies costs counted errors, not indicators.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{eve_records, osprey, read_json, root, run, run_within};
use serde_json::{json, Value};
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
        (
            format!(
                "[[intel.feeds]]\nname = \"a\"\npath = {:?}\n",
                d.join("missing.txt")
            ),
            "missing.txt",
        ),
    ] {
        std::fs::write(&cfg, config(&feeds)).unwrap();
        let out = run_within(osprey().args(["run", "-c"]).arg(&cfg), Duration::from_secs(60));
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(error), "{stderr}");
    }
}

#[path = "intel/medallion.rs"]
mod medallion;

/// Ethernet + IPv4 + UDP between 10.0.0.1:40000 (client) and 10.0.0.2:53: a DNS query for
/// `name` with `id`, or its answer (an A record, 192.0.2.33). UDP checksum 0 (none).
fn dns_frame(id: u16, name: &str, answer: bool) -> Vec<u8> {
    let mut dns = Vec::new();
    dns.extend_from_slice(&id.to_be_bytes());
    dns.extend_from_slice(if answer { &[0x81, 0x80] } else { &[0x01, 0x00] });
    dns.extend_from_slice(&[0, 1, 0, u8::from(answer), 0, 0, 0, 0]);
    for label in name.split('.') {
        dns.push(label.len() as u8);
        dns.extend_from_slice(label.as_bytes());
    }
    dns.extend_from_slice(&[0, 0, 1, 0, 1]);
    if answer {
        dns.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 33]);
    }
    let (src, dst, sport, dport) = if answer {
        ([10, 0, 0, 2], [10, 0, 0, 1], 53u16, 40000u16)
    } else {
        ([10, 0, 0, 1], [10, 0, 0, 2], 40000, 53)
    };
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let ip_len = (20 + 8 + dns.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let sum: u32 = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&((8 + dns.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&dns);
    f
}

/// `osprey ctl --json ARGS` against `api`.
fn ctl(api: &str, args: &[&str]) -> Value {
    let out = osprey()
        .args(["ctl", "--endpoint", &format!("http://{api}"), "--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The body of `GET /metrics` from `addr`.
fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

/// The value of the metric line starting with `series`, if present.
fn metric(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// Waits up to a minute for `f` to hold, saying `what` otherwise.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn hit_values(api: &str) -> Vec<String> {
    ctl(
        api,
        &["intel", "hits", "--feed", "taxii", "--limit", "1000"],
    )["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["matched_value"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn taxii_feed_is_polled_matched_updated_and_kept_when_the_server_dies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = medallion::domain_indicator(
        "indicator--0b9f2c55-6a1c-4c3e-9a7e-0c2f4d1e8a01",
        "evil.example",
        "2024-01-01T00:00:00.000Z",
    );
    let objects = vec![
        first,
        json!({"type": "malware", "spec_version": "2.1", "id": "malware--a4d0c6a2-5f36-4a7b-8b0e-0f6b7a1f2c11",
               "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
               "name": "Evil RAT", "is_family": true}),
        json!({"type": "relationship", "spec_version": "2.1", "id": "relationship--3f1e2d4c-9b8a-4c7d-8e6f-5a4b3c2d1e01",
               "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
               "relationship_type": "indicates",
               "source_ref": "indicator--0b9f2c55-6a1c-4c3e-9a7e-0c2f4d1e8a01",
               "target_ref": "malware--a4d0c6a2-5f36-4a7b-8b0e-0f6b7a1f2c11"}),
        json!({"type": "indicator", "spec_version": "2.1", "id": "indicator--7c6b5a49-3e2d-4f10-9a8b-7c6d5e4f3a21",
               "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
               "pattern": "[domain-name:value = 'a.example'] FOLLOWEDBY [domain-name:value = 'b.example']",
               "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z"}),
        json!({"type": "indicator", "spec_version": "2.1", "id": "indicator--1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e51",
               "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
               "pattern": "[ipv4-addr:value = '203.0.113.9']",
               "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z"}),
    ];
    // Pages of two: the five objects take three pages.
    let Some(mut server) = medallion::Medallion::start(d, &objects, 2) else {
        return;
    };
    // Queries and answers for a name of the first indicator and one added later, among
    // filler packets that pace the capture's loop.
    let mut frames = vec![
        dns_frame(1, "c2.evil.example", false),
        dns_frame(1, "c2.evil.example", true),
        dns_frame(2, "late.bad.example", false),
        dns_frame(2, "late.bad.example", true),
    ];
    frames.extend((0..3000).map(|i| common::tcp_frame(40, 0x10, i)));
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let pcap = d.join("dns.pcap");
    common::write_pcap(&pcap, common::ETHERNET, &refs);
    let password = d.join("taxii.password");
    std::fs::write(&password, format!("{}\n", medallion::PASSWORD)).unwrap();
    let cfg = d.join("osprey.toml");
    std::fs::write(
        &cfg,
        format!(
            "[capture]\nmode = \"replay\"\npcap = {pcap:?}\nloop = true\nworkers = 1\n\
             [api]\nlisten = \"127.0.0.1:0\"\nallow_plaintext = true\n\
             [auth]\nanonymous_role = \"admin\"\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\n\
             [storage]\npath = {:?}\n\
             [intel]\nalert_sid = 9100017\n\
             [[intel.feeds]]\nname = \"taxii\"\nurl = {:?}\ncollection = {:?}\npoll = \"1s\"\npage_size = 2\n\
             [intel.feeds.auth]\nusername = {:?}\npassword_file = {password:?}\n",
            d.join("db"),
            server.url(),
            medallion::COLLECTION,
            medallion::USER,
        ),
    )
    .unwrap();
    let addr_file = d.join("addr.json");
    let child = osprey()
        .args(["run", "-c"])
        .arg(&cfg)
        .arg("--addr-file")
        .arg(&addr_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Guard(Some(child));
    wait_until("the address file", || addr_file.exists());
    let addrs = read_json(&addr_file);
    let api = addrs["api"].as_str().unwrap().to_owned();
    let metrics = addrs["metrics"].as_str().unwrap().to_owned();

    // Polled (three pages), compiled, running in the worker, and hitting.
    wait_until("the first poll", || {
        let f = ctl(&api, &["intel", "feeds"]);
        f["feeds"][0]["objects_fetched"] == 5
            && f["worker_generations"]
                .as_array()
                .is_some_and(|w| !w.is_empty() && w.iter().all(|g| *g == f["generation"]))
    });
    let feeds = ctl(&api, &["intel", "feeds"]);
    let feed = &feeds["feeds"][0];
    assert_eq!(feed["kind"], "taxii");
    assert_eq!(feed["indicators"]["active"], 2, "{feed}");
    assert_eq!(feed["indicators"]["unsupported"], 1, "{feed}");
    wait_until("a hit of the first indicator", || {
        hit_values(&api).iter().any(|v| v == "c2.evil.example")
    });
    let listed = ctl(&api, &["intel", "indicators", "--type", "domain-name"]);
    assert_eq!(
        listed["indicators"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
    assert_eq!(
        listed["indicators"][0]["values"][0],
        "domain-name evil.example"
    );
    let hits = ctl(&api, &["intel", "hits", "--limit", "1"]);
    assert_eq!(hits["hits"][0]["matched_field"], "dns.query", "{hits}");
    assert_eq!(hits["hits"][0]["confidence"], 90, "{hits}");
    // The hits raised alerts with the configured sid and the indicator as the message.
    wait_until("an alert of a hit", || {
        let a = ctl(
            &api,
            &["alerts", "query", "--sid", "9100017", "--limit", "5"],
        );
        a["alerts"].as_array().is_some_and(|a| {
            a.iter().any(|a| {
                a["msg"].as_str().is_some_and(|m| {
                    m.contains("evil.example") && m.contains("indicator--0b9f2c55")
                })
            })
        })
    });
    // ... which the correlator groups into an incident like any other alert.
    wait_until("an incident of the hits' alerts", || {
        let i = ctl(&api, &["incidents", "list"]);
        i["incidents"].as_array().is_some_and(|l| {
            l.iter().any(|i| {
                i["sids"]
                    .as_array()
                    .is_some_and(|s| s.contains(&json!(9100017)))
            })
        })
    });
    assert!(!hit_values(&api).iter().any(|v| v == "late.bad.example"));

    // A new object in the collection is picked up by the next poll, through added_after:
    // only it is fetched.
    server.add(&[medallion::domain_indicator(
        "indicator--9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a501",
        "late.bad.example",
        "2024-06-01T00:00:00.000Z",
    )]);
    wait_until("a hit of the added indicator", || {
        hit_values(&api).iter().any(|v| v == "late.bad.example")
    });
    let feeds = ctl(&api, &["intel", "feeds"]);
    assert_eq!(feeds["feeds"][0]["objects_fetched"], 6, "{feeds}");
    assert_eq!(feeds["feeds"][0]["indicators"]["active"], 3, "{feeds}");

    // The server dies: errors are counted, the indicators stay and keep hitting.
    server.kill();
    wait_until("a counted error", || {
        let m = scrape(&metrics);
        metric(
            &m,
            "osprey_intel_feed_errors_total{feed=\"taxii\",cause=\"unreachable\"}",
        )
        .is_some_and(|n| n >= 2)
    });
    let m = scrape(&metrics);
    let hits_then = metric(&m, "osprey_intel_hits_total{feed=\"taxii\"}").unwrap();
    assert_eq!(
        metric(
            &m,
            "osprey_intel_indicators{feed=\"taxii\",state=\"active\"}"
        ),
        Some(3),
        "{m}"
    );
    assert_eq!(
        metric(&m, "osprey_intel_objects_fetched_total{feed=\"taxii\"}"),
        Some(6)
    );
    wait_until("hits after the server died", || {
        metric(&scrape(&metrics), "osprey_intel_hits_total{feed=\"taxii\"}")
            .is_some_and(|n| n > hits_then)
    });
    let feeds = ctl(&api, &["intel", "feeds"]);
    assert!(
        feeds["feeds"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("unreachable")),
        "{feeds}"
    );
    assert!(common::signal(child.child(), "-TERM"));
    let out = child.0.take().unwrap().wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Kills the child when the test fails before stopping it.
struct Guard(Option<std::process::Child>);

impl Guard {
    fn child(&self) -> &std::process::Child {
        self.0.as_ref().expect("running")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `osprey run` with `body` (TOML after `[capture]`'s `pcap`) as its configuration; the
/// child (killed when the test fails) and the API's address once it listens.
fn start_run(d: &Path, name: &str, pcap: &Path, looping: bool, body: &str) -> (Guard, String) {
    let cfg = d.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "[capture]\nmode = \"replay\"\npcap = {pcap:?}\nloop = {looping}\nworkers = 1\n\
             [api]\nlisten = \"127.0.0.1:0\"\nallow_plaintext = true\n\
             [auth]\nanonymous_role = \"admin\"\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\n\
             [storage]\npath = {:?}\n{body}",
            d.join("db"),
        ),
    )
    .unwrap();
    let addr_file = d.join(format!("{name}.addr.json"));
    let child = osprey()
        .args(["run", "-c"])
        .arg(&cfg)
        .arg("--addr-file")
        .arg(&addr_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let child = Guard(Some(child));
    wait_until("the address file", || addr_file.exists());
    let api = read_json(&addr_file)["api"].as_str().unwrap().to_owned();
    (child, api)
}

#[test]
fn indicators_planted_from_public_mix_after_its_replay_are_found_by_the_retro_hunt() {
    let Some(pcap) = shared_data("pcaps/public_mix.pcap") else {
        return;
    };
    let Some(py) = python_with_dpkt() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let started_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    // The traffic first: the capture replayed once into the store (no indicators yet). The
    // indexer's queue holds the whole capture, so this offline run keeps every record.
    let hunt = "[intel.hunt]\nindex_queue = 1000000\n";
    let (mut first, _) = start_run(d, "first", &pcap, false, hunt);
    let out = first.0.take().unwrap().wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Then the indicators, whose values dpkt took from the capture, imported into an
    // appliance running on other traffic.
    let bundle = d.join("planted.json");
    let objects = planted_bundle(&py, &pcap, &bundle);
    let filler: Vec<Vec<u8>> = (0..3000).map(|i| common::tcp_frame(40, 0x10, i)).collect();
    let refs: Vec<&[u8]> = filler.iter().map(Vec::as_slice).collect();
    let other = d.join("other.pcap");
    common::write_pcap(&other, common::ETHERNET, &refs);
    let (mut second, api) = start_run(d, "second", &other, true, hunt);
    let stats = ctl(&api, &["intel", "stats"]);
    assert!(
        stats["metadata_records"].as_u64().unwrap() > 10_000,
        "{stats}"
    );
    ctl(
        &api,
        &[
            "intel",
            "import",
            bundle.to_str().unwrap(),
            "--feed",
            "late",
        ],
    );
    wait_until("the import's hunt", || {
        ctl(&api, &["intel", "hunt", "--list"])["hunts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["trigger"] == "import")
    });
    let found = ctl(&api, &["intel", "hits", "--retro", "--limit", "1000"]);
    let hits = found["hits"].as_array().unwrap();
    let mut by_indicator: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for h in hits {
        assert_eq!(h["retro"], true, "{h}");
        assert!(
            h["ts_nanos"].as_u64().unwrap() < started_ns - 86_400_000_000_000,
            "the capture's own time, not the hunt's: {h}"
        );
        by_indicator
            .entry(h["indicator_id"].as_str().unwrap())
            .or_default()
            .push(h);
    }
    for o in &objects {
        let (id, p) = (o["id"].as_str().unwrap(), &o["x_osprey_planted"]);
        let got = by_indicator.get(id).map_or(&[][..], Vec::as_slice);
        // As the workers would render it, for hit_is_planted.
        let as_eve = |h: &Value| json!({"intel": {"matched_value": h["matched_value"]}});
        match p["field"].as_str().unwrap() {
            "none" | "unsupported" => assert!(got.is_empty(), "{id} {p}: {got:?}"),
            // JA3 too: hunting has the workers record it for every handshake.
            field => {
                assert!(
                    got.iter().any(|h| {
                        let f = h["matched_field"].as_str().unwrap();
                        (f == field || (field == "address" && (f == "src_ip" || f == "dest_ip")))
                            && hit_is_planted(&as_eve(h), p)
                    }),
                    "planted {p} ({id}) was not found in the history: {got:?}"
                );
                assert!(
                    got.iter().all(|h| hit_is_planted(&as_eve(h), p)),
                    "{id}: {got:?}"
                );
            }
        }
    }
    let feeds = ctl(&api, &["intel", "feeds"]);
    assert!(
        feeds["feeds"][0]["retro_findings"].as_u64() >= Some(hits.len() as u64),
        "{feeds}"
    );
    assert!(common::signal(second.child(), "-TERM"));
    let out = second.0.take().unwrap().wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
