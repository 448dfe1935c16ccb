//! End-to-end tests of the real DPDK path: the `osprey` binary runs as a child process, starts
//! the EAL (`--no-huge --no-pci`, a unique `--file-prefix` per process), replays captures through
//! `net_pcap` into pinned workers, and reports exact counts.
//!
//! Captures come from `../shared/data/` (public material, not in this repository); a test whose
//! capture is absent says so and passes vacuously, or fails naming the path when `CI` is set
//! (`vocab::testing`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn osprey() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_osprey"));
    c.env_remove("OSPREY_LOG");
    c
}

fn shared(rel: &str) -> Option<PathBuf> {
    vocab::testing::shared_data(rel)
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn osprey");
    eprintln!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn replay_stats(pcap: &Path, workers: usize) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let stats = dir.path().join("stats.json");
    let out = run(osprey()
        .args(["replay", "--pcap"])
        .arg(pcap)
        .args(["--workers", &workers.to_string(), "--stats-json"])
        .arg(&stats));
    assert!(out.status.success(), "replay failed");
    serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap()
}

/// `capinfos -c -d public_mix.pcap`: 272,826 packets, 73,149,407 bytes.
#[test]
fn public_mix_exact_counts_with_one_and_two_workers() {
    let Some(pcap) = shared("pcaps/public_mix.pcap") else {
        return;
    };
    for workers in [1usize, 2] {
        let s = replay_stats(&pcap, workers);
        assert_eq!(s["packets"], 272_826, "workers={workers}");
        assert_eq!(s["bytes"], 73_149_407, "workers={workers}");
        let per = s["per_worker"].as_array().unwrap();
        assert_eq!(per.len(), workers);
        let sum: u64 = per.iter().map(|w| w["packets"].as_u64().unwrap()).sum();
        assert_eq!(sum, 272_826);
        // Each worker got real work when there are several.
        assert!(per.iter().all(|w| w["packets"].as_u64().unwrap() > 1000));
        for k in ["imissed", "rx_nombuf", "ierrors", "undelivered"] {
            assert_eq!(s["drops"][k], 0, "{k}");
        }
        // The device saw what the workers saw.
        assert_eq!(s["port"]["ipackets"], 272_826);
        assert_eq!(s["port"]["ibytes"], s["captured_bytes"]);
        // Packet time is the capture's, in nanoseconds: the last packet each worker saw is no
        // later than the capture's last, and the latest of them is exactly it.
        let last = s["capture"]["last_ts"].as_u64().unwrap();
        let max_seen = per
            .iter()
            .map(|w| w["last_packet_time"].as_u64().unwrap())
            .max()
            .unwrap();
        assert_eq!(max_seen, last, "workers={workers}");
    }
}

/// Captures of other link types: BSD loopback (DLT_NULL), raw IP and Linux cooked, taken from
/// the suricata-verify tests named in the paths.
#[test]
fn null_raw_and_cooked_link_types_replay() {
    for rel in [
        "suricata-verify/tests/detect-bidir-flowbits/input.pcap",
        "suricata-verify/tests/detect-bytejump-01/input.pcap",
        "suricata-verify/tests/tcp-fastopen-05/tfo.pcap",
    ] {
        let Some(pcap) = shared(rel) else { continue };
        let scan = run(osprey().args(["pcap", "scan", "--json"]).arg(&pcap));
        assert!(scan.status.success());
        let info: serde_json::Value = serde_json::from_slice(&scan.stdout).unwrap();
        let s = replay_stats(&pcap, 1);
        assert_eq!(s["packets"], info["packets"], "{rel}");
        assert_eq!(s["bytes"], info["bytes"], "{rel}");
        assert_eq!(s["link_type"], info["link_type"], "{rel}");
    }
}

fn write_pcap(path: &Path, link: u32, records: &[&[u8]]) {
    let mut f = std::fs::File::create(path).unwrap();
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&65535u32.to_le_bytes());
    h.extend_from_slice(&link.to_le_bytes());
    f.write_all(&h).unwrap();
    for (i, r) in records.iter().enumerate() {
        let mut rec = Vec::new();
        rec.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        rec.extend_from_slice(&0u32.to_le_bytes());
        rec.extend_from_slice(&(r.len() as u32).to_le_bytes());
        rec.extend_from_slice(&(r.len() as u32).to_le_bytes());
        f.write_all(&rec).unwrap();
        f.write_all(r).unwrap();
    }
}

fn one_error_line(out: &Output) -> String {
    assert!(!out.status.success(), "expected failure");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one error line expected, got {lines:?}");
    assert!(lines[0].starts_with("osprey: error: "), "{}", lines[0]);
    assert!(!err.contains("panicked"));
    lines[0].to_string()
}

#[test]
fn bad_captures_give_one_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("missing.pcap");
    let e = one_error_line(&run(osprey().args(["replay", "--pcap"]).arg(&missing)));
    assert!(
        e.contains("cannot open capture") && e.contains("missing.pcap"),
        "{e}"
    );

    let junk = d.path().join("junk.pcap");
    std::fs::write(&junk, b"GET / HTTP/1.1\r\nHost: example\r\n\r\n").unwrap();
    let e = one_error_line(&run(osprey().args(["replay", "--pcap"]).arg(&junk)));
    assert!(e.contains("not a pcap or pcapng capture"), "{e}");

    // Link type 147 (a user DLT) is not something the decoder understands.
    let odd = d.path().join("user.pcap");
    write_pcap(&odd, 147, &[b"abcdefgh"]);
    let e = one_error_line(&run(osprey().args(["replay", "--pcap"]).arg(&odd)));
    assert!(e.contains("unsupported link type 147"), "{e}");

    let empty = d.path().join("empty.pcap");
    write_pcap(&empty, 1, &[]);
    let e = one_error_line(&run(osprey().args(["replay", "--pcap"]).arg(&empty)));
    assert!(e.contains("holds no packets"), "{e}");

    let e = one_error_line(&run(osprey()
        .args(["replay", "--workers", "0", "--pcap"])
        .arg(&empty)));
    assert!(e.contains("workers"), "{e}");
}

/// A capture whose last record is cut off: the complete records are replayed and counted, the
/// truncation is reported, nothing hangs.
#[test]
fn truncated_last_record_is_reported() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("trunc.pcap");
    let frame = [0u8; 60];
    write_pcap(&p, 1, &[&frame, &frame, &frame]);
    let len = std::fs::metadata(&p).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let stats = d.path().join("s.json");
    let out = run(osprey()
        .args(["replay", "--pcap"])
        .arg(&p)
        .arg("--stats-json")
        .arg(&stats));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("truncated record"));
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    assert_eq!(s["packets"], 2);
    assert_eq!(s["capture"]["truncated_tail"], true);
}

/// Frames larger than one mbuf (2 KB) arrive as chains and are counted whole.
#[test]
fn jumbo_frames_arrive_whole() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("jumbo.pcap");
    let big = vec![0x45u8; 9000];
    let small = [0u8; 64];
    write_pcap(&p, 1, &[&big, &small, &big]);
    let stats = d.path().join("s.json");
    let out = run(osprey()
        .args(["replay", "--pcap"])
        .arg(&p)
        .arg("--stats-json")
        .arg(&stats));
    assert!(out.status.success());
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    assert_eq!(s["packets"], 3);
    assert_eq!(s["bytes"], 9000 * 2 + 64);
    assert_eq!(s["per_worker"][0]["counters"]["capture.multi_segment"], 2);
}

/// Two replays at once share the machine (unique EAL runtime prefixes).
#[test]
fn concurrent_replays_do_not_collide() {
    let Some(pcap) = shared("suricata-verify/tests/detect-bidir-flowbits/input.pcap") else {
        return;
    };
    let kids: Vec<_> = (0..2)
        .map(|_| {
            osprey()
                .args(["replay", "-q", "--pcap"])
                .arg(&pcap)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for k in kids {
        let out = k.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `osprey run` on the embedded default prints a live status line every second and stops
/// cleanly on SIGTERM with final counters.
#[test]
fn run_shows_status_and_stops_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let mut child = osprey()
        .arg("run")
        // The control plane on free loopback ports with its own store, so tests run side by side.
        .args([
            "--api-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data.path().join("db"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut status_lines = Vec::new();
    while status_lines.len() < 2 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) {
            if line.contains(" pps ") {
                status_lines.push(line);
            }
        }
    }
    assert!(status_lines.len() >= 2, "no status lines: {status_lines:?}");
    // Packets are flowing in a loop: the second line shows more than the first.
    let packets = |l: &str| -> u64 {
        l.split("packets ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap()
    };
    assert!(
        packets(&status_lines[1]) > packets(&status_lines[0]),
        "{status_lines:?}"
    );
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(status.success(), "exit {status:?}");
    assert!(
        rest.iter().any(|l| l.starts_with("stopped: ")),
        "no final counters: {rest:?}"
    );
}

/// A live `ports` configuration over a virtual `net_null` device (it delivers empty frames as
/// fast as it is polled): the same path a physical NIC takes.
#[test]
fn run_polls_configured_ports() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("null.toml");
    std::fs::write(
        &cfg,
        "[capture]\nmode = \"ports\"\nworkers = 1\n[[capture.ports]]\ndevice = \"net_null0\"\nvdev = \"net_null0\"\nrx_queues = 1\n",
    )
    .unwrap();
    let out = run(osprey()
        .args(["run", "--seconds", "2", "--api-listen", "127.0.0.1:0"])
        .args(["--metrics-listen", "127.0.0.1:0", "--data-dir"])
        .arg(d.path().join("db"))
        .arg("-c")
        .arg(&cfg));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("stopped: ")).unwrap();
    let packets: u64 = line
        .trim_start_matches("stopped: ")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(packets > 1000, "{line}");
}

#[test]
fn bad_config_names_key_and_line() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[capture]\nmode = \"replay\"\npcap = \"x.pcap\"\n\n[dpdk]\nno_hugepages = true\n",
    )
    .unwrap();
    let e = one_error_line(&run(osprey().args(["run", "-c"]).arg(&cfg)));
    assert!(e.contains("no_hugepages") && e.contains("line 6"), "{e}");
}

#[test]
fn bench_reports_rates_per_worker() {
    let Some(pcap) = shared("suricata-verify/tests/detect-bidir-flowbits/input.pcap") else {
        return;
    };
    let out = run(osprey()
        .args(["bench", "--seconds", "1", "--json", "--pcap"])
        .arg(&pcap));
    assert!(out.status.success());
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["pps"].as_f64().unwrap() > 0.0);
    assert!(r["gbps"].as_f64().unwrap() > 0.0);
    assert!(r["cycles_per_packet"].as_f64().unwrap() > 0.0);
    assert_eq!(r["per_worker"].as_array().unwrap().len(), 1);
    // The worker's own CPU time: it polls for the whole run, at most the run's length (plus
    // start-up and clock granularity).
    let w = &r["per_worker"][0];
    let cpu = w["cpu_seconds"].as_f64().expect("worker CPU time");
    assert!(
        cpu > 0.0 && cpu <= r["seconds"].as_f64().unwrap() + 0.5,
        "{w}"
    );
    assert!(w["pps_per_cpu_second"].as_f64().unwrap() >= w["pps"].as_f64().unwrap() * 0.9);
}

#[test]
fn version_names_dpdk_and_revision() {
    let out = run(osprey().arg("--version"));
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(v.contains("DPDK 22.11"), "{v}");
    assert!(v.contains("git "), "{v}");
}

/// `bench` loops a capture with frames longer than one mbuf (net_pcap's `infinite_rx` holds
/// single-segment mbufs only): they are cut to one mbuf for the loop, and the run goes ahead.
#[test]
fn bench_loops_captures_with_jumbo_frames() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("jumbo.pcap");
    let big = vec![0x45u8; 9000];
    let small = [0u8; 64];
    write_pcap(&p, 1, &[&big, &small, &big, &small]);
    let out = run(osprey()
        .args(["bench", "--seconds", "1", "--json", "--pcap"])
        .arg(&p));
    assert!(out.status.success());
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["packets"].as_u64().unwrap() > 4, "{r}");
}

/// Ethernet + IPv4 (total length `ip_len`, checksum filled in) + TCP 10.0.0.1:1234 →
/// 10.0.0.2:80 with `flags` and `seq` (TCP checksum left 0: replayed with `checksum-off`).
fn tcp_frame(ip_len: u16, flags: u8, seq: u32) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    let sum: u32 = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
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

fn eve_records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// Worker-rendered `anomaly` records cross the worker's EVE ring into `--eve`: a truncated
/// IPv4 packet (decoder event, no flow) and a SYN resent with another sequence number (stream
/// event on the flow); `--eve-types` narrows by event type, `--anomaly-types` (or the config
/// file's `[eve] anomaly_types`) by anomaly type, app-layer only by default as in Suricata.
#[test]
fn anomaly_records_reach_the_eve_file_and_types_filter_them() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("anomalies.pcap");
    let trunc = tcp_frame(100, 0x02, 1);
    let syn = tcp_frame(40, 0x02, 1000);
    let resend = tcp_frame(40, 0x02, 2000);
    write_pcap(&p, 1, &[&trunc, &syn, &resend]);
    let replay_with = |types: Option<&str>, extra: &[&str]| {
        let eve = d.path().join("eve.json");
        let stats = d.path().join("s.json");
        let mut cmd = osprey();
        cmd.args(["replay", "-q", "--flags", "checksum-off", "--pcap"])
            .arg(&p)
            .arg("--eve")
            .arg(&eve)
            .arg("--stats-json")
            .arg(&stats);
        if let Some(t) = types {
            cmd.args(["--eve-types", t]);
        }
        cmd.args(extra);
        assert!(run(&mut cmd).status.success());
        let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
        (eve_records(&eve), s)
    };
    let anomaly_types = |recs: &[serde_json::Value]| -> Vec<String> {
        recs.iter()
            .filter(|v| v["event_type"] == "anomaly")
            .map(|v| v["anomaly"]["type"].as_str().unwrap().to_string())
            .collect()
    };
    // Suricata's default: app-layer anomalies only (none here).
    let (dflt, _) = replay_with(None, &[]);
    assert_eq!(anomaly_types(&dflt), Vec::<String>::new(), "{dflt:?}");
    let cfg = d.path().join("osprey.toml");
    std::fs::write(
        &cfg,
        format!(
            "[capture]\nmode = \"replay\"\npcap = {:?}\n[eve]\nanomaly_types = [\"stream\"]\n",
            p.display().to_string()
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let (from_file, _) = replay_with(None, &["--config", cfg]);
    assert_eq!(anomaly_types(&from_file), ["stream"]);
    // The flag wins over the file.
    let (flag, _) = replay_with(None, &["--config", cfg, "--anomaly-types", "decode"]);
    assert_eq!(anomaly_types(&flag), ["decode"]);
    let replay = |types: Option<&str>| replay_with(types, &["--anomaly-types", "decode,stream"]);
    let (all, stats) = replay(None);
    let anomalies: Vec<_> = all
        .iter()
        .filter(|v| v["event_type"] == "anomaly")
        .collect();
    assert_eq!(anomalies.len(), 2, "{all:?}");
    assert_eq!(anomalies[0]["anomaly"]["type"], "decode");
    assert_eq!(anomalies[0]["anomaly"]["event"], "decoder.ipv4.trunc_pkt");
    assert_eq!(anomalies[0]["pcap_cnt"], 1);
    assert_eq!(anomalies[1]["anomaly"]["type"], "stream");
    assert_eq!(
        anomalies[1]["anomaly"]["event"],
        "stream.3whs_syn_resend_diff_seq"
    );
    assert_eq!(anomalies[1]["pcap_cnt"], 3);
    assert_eq!(anomalies[1]["src_ip"], "10.0.0.1");
    let flows: Vec<_> = all.iter().filter(|v| v["event_type"] == "flow").collect();
    assert_eq!(flows.len(), 1);
    assert_eq!(anomalies[1]["flow_id"], flows[0]["flow_id"]);
    let w = &stats["per_worker"][0]["counters"];
    assert_eq!(w["eve.anomaly"], 2);
    assert_eq!(w["eve.queue_overflow"], 0);

    let (only_anomaly, _) = replay(Some("anomaly"));
    assert_eq!(only_anomaly.len(), 2);
    assert!(only_anomaly.iter().all(|v| v["event_type"] == "anomaly"));
    let (only_flow, _) = replay(Some("flow"));
    assert_eq!(only_flow.len(), 1);
    assert_eq!(only_flow[0]["event_type"], "flow");
}

/// `--stats-json` says how many EVE records of each type reached the file, and how many the
/// workers could not queue: they add up to the file's lines.
#[test]
fn stats_json_counts_eve_records_by_type() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("anomalies.pcap");
    let trunc = tcp_frame(100, 0x02, 1);
    let syn = tcp_frame(40, 0x02, 1000);
    let resend = tcp_frame(40, 0x02, 2000);
    write_pcap(&p, 1, &[&trunc, &syn, &resend]);
    let eve = d.path().join("eve.json");
    let stats = d.path().join("s.json");
    let replay = |types: &str| {
        let mut cmd = osprey();
        cmd.args(["replay", "-q", "--flags", "checksum-off"])
            .args(["--anomaly-types", "decode,stream", "--eve-types", types])
            .arg("--pcap")
            .arg(&p)
            .arg("--eve")
            .arg(&eve)
            .arg("--stats-json")
            .arg(&stats);
        assert!(run(&mut cmd).status.success());
        let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
        (eve_records(&eve), s)
    };
    let (recs, s) = replay("anomaly,flow,stats");
    let mut by_type = std::collections::BTreeMap::<String, u64>::new();
    for r in &recs {
        *by_type
            .entry(r["event_type"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(by_type.len(), 3, "{by_type:?}");
    let written: std::collections::BTreeMap<String, u64> =
        serde_json::from_value(s["eve"]["written"].clone()).unwrap();
    assert_eq!(written, by_type);
    assert_eq!(s["eve"]["queue_overflow"], 0);
    // The replay's own counters are still at the top level.
    assert_eq!(s["packets"], 3);
    let (recs, s) = replay("flow");
    assert_eq!(recs.len(), 1);
    assert_eq!(s["eve"]["written"], serde_json::json!({"flow": 1}));
}
