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

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ANOMALIES: &str = "decode,stream,applayer";

fn osprey() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_osprey"));
    c.env_remove("OSPREY_LOG");
    c
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A file under `../shared/data`; `None` when absent (a failure under CI, which must have it).
fn shared(rel: &str) -> Option<PathBuf> {
    let p = root().join("../shared/data").join(rel);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is absent (CI must provide ../shared/data)",
        p.display()
    );
    eprintln!("skipping: {} is absent", p.display());
    None
}

fn output(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn osprey");
    eprintln!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The EVE file's records, each line parsed, sorted by their text; the `stats` record without
/// its wall-clock fields.
fn records(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut v: Vec<String> = text
        .lines()
        .map(|l| {
            let mut r: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
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
    let out = output(
        osprey()
            .args(["replay", "-q", "--anomaly-types", ANOMALIES, "--pcap"])
            .arg(pcap)
            .arg("--rules")
            .arg(rules)
            .arg("--eve")
            .arg(&eve)
            .args(extra),
    );
    assert!(out.status.success(), "replay failed");
    records(&eve)
}

/// `osprey run` of `pcap` once with `rules` imported into a new store; returns the EVE file's
/// records after the appliance exited by itself.
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
             [eve]\nenabled = true\npath = {eve:?}\nanomaly_types = [\"decode\", \"stream\", \"applayer\"]\n",
            dir.join("db"),
            std::env::temp_dir().join("osprey-hyperscan-cache"),
        ),
    )
    .unwrap();
    let mut child = osprey()
        .args(["run", "-c"])
        .arg(&cfg)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn osprey run");
    // It must stop by itself once the capture is processed and every record written.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("osprey run with loop = false did not exit by itself");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
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

/// Ethernet + IPv4 + TCP 10.0.0.1:1234 → 10.0.0.2:80, the IPv4 header claiming `ip_len`.
fn tcp_frame(ip_len: u16, flags: u8, seq: u32) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&1234u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    f.extend_from_slice(&tcp);
    f
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
    let mut f = std::fs::File::create(path).unwrap();
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&65535u32.to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes());
    f.write_all(&h).unwrap();
    for (i, r) in frames.iter().enumerate() {
        let mut rec = Vec::new();
        rec.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        rec.extend_from_slice(&0u32.to_le_bytes());
        rec.extend_from_slice(&(r.len() as u32).to_le_bytes());
        rec.extend_from_slice(&(r.len() as u32).to_le_bytes());
        f.write_all(&rec).unwrap();
        f.write_all(r).unwrap();
    }
}

/// The first `n` rules of each ET Open file, with the classification beside them.
fn et_open_subset(dir: &Path, n: usize) -> Option<PathBuf> {
    let et = shared("et-open")?;
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
    std::fs::copy(root().join("configs/samples/demo.rules"), &demo_rules).unwrap();
    std::fs::copy(
        root().join("configs/samples/classification.config"),
        demo_rules.with_file_name("classification.config"),
    )
    .unwrap();
    let anomalies = tmp.path().join("anomalies.pcap");
    write_anomalies_pcap(&anomalies);
    let mut cases: Vec<(String, PathBuf, PathBuf)> = vec![
        (
            "demo".into(),
            root().join("configs/samples/demo.pcap"),
            demo_rules.clone(),
        ),
        ("anomalies".into(), anomalies, demo_rules.clone()),
    ];
    for rel in [
        "suricata-verify/tests/eve-flow-vlan/input.pcap",
        "suricata-verify/tests/output-eve-anomaly-02/input.pcap",
        "suricata-verify/tests/ipv4-truncated/truncated.pcap",
    ] {
        if let Some(p) = shared(rel) {
            cases.push((rel.into(), p, demo_rules.clone()));
        }
    }
    if let (Some(pcap), Some(rules)) = (
        shared("pcaps/public_mix.pcap"),
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
    let pcap = root().join("configs/samples/demo.pcap");
    let rules = root().join("configs/samples/demo.rules");
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
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    let c = &s["per_worker"][0]["counters"];
    assert_eq!(c["eve.queue_overflow"], 0, "{c}");
    assert_eq!(c["eve.queue_overflow.alert"], 0, "{c}");
    assert!(
        c["eve.queue_waits"].as_u64().unwrap() > 0,
        "a 4 KiB ring cannot hold the demo's records without waiting: {c}"
    );
}
