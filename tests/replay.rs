//! End-to-end tests of the real DPDK path: the `osprey` binary runs as a child process, starts
//! the EAL (`--no-huge --no-pci`, a unique `--file-prefix` per process), replays captures through
//! `net_pcap` into pinned workers, and reports exact counts.
//!
//! Captures come from `../shared/data/` (public material, not in this repository); a test whose
//! capture is absent says so and passes vacuously, or fails naming the path when `CI` is set
//! (`vocab::testing`).

mod common;

use common::{
    eve_records, finish, one_error_line, osprey, osprey_run, read_json, run, signal, spawn,
    status_lines, stdout_lines, tcp_frame, write_pcap, write_replay_config, ETHERNET,
};
use std::path::Path;
use std::process::Output;
use std::time::Duration;
use vocab::testing::shared_data;

/// `osprey replay --pcap PCAP ARGS --stats-json`: its output and the stats it wrote, after
/// it succeeded.
fn replay_with_stats(pcap: &Path, args: &[&str]) -> (Output, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let stats = dir.path().join("stats.json");
    let out = run(osprey()
        .args(["replay", "--pcap"])
        .arg(pcap)
        .args(args)
        .arg("--stats-json")
        .arg(&stats));
    assert!(out.status.success(), "replay failed");
    (out, read_json(&stats))
}

fn replay_stats(pcap: &Path, workers: usize) -> serde_json::Value {
    replay_with_stats(pcap, &["--workers", &workers.to_string()]).1
}

/// `capinfos -c -d public_mix.pcap`: 272,826 packets, 73,149,407 bytes.
#[test]
fn public_mix_exact_counts_with_one_and_two_workers() {
    let Some(pcap) = shared_data("pcaps/public_mix.pcap") else {
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
        let Some(pcap) = shared_data(rel) else {
            continue;
        };
        let scan = run(osprey().args(["pcap", "scan", "--json"]).arg(&pcap));
        assert!(scan.status.success());
        let info: serde_json::Value = serde_json::from_slice(&scan.stdout).unwrap();
        let s = replay_stats(&pcap, 1);
        assert_eq!(s["packets"], info["packets"], "{rel}");
        assert_eq!(s["bytes"], info["bytes"], "{rel}");
        assert_eq!(s["link_type"], info["link_type"], "{rel}");
    }
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
    write_pcap(&empty, ETHERNET, &[]);
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
    write_pcap(&p, ETHERNET, &[&frame, &frame, &frame]);
    let len = std::fs::metadata(&p).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let (out, s) = replay_with_stats(&p, &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("truncated record"));
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
    write_pcap(&p, ETHERNET, &[&big, &small, &big]);
    let (_, s) = replay_with_stats(&p, &[]);
    assert_eq!(s["packets"], 3);
    assert_eq!(s["bytes"], 9000 * 2 + 64);
    assert_eq!(s["per_worker"][0]["counters"]["capture.multi_segment"], 2);
}

/// Two replays at once share the machine (unique EAL runtime prefixes).
#[test]
fn concurrent_replays_do_not_collide() {
    let Some(pcap) = shared_data("suricata-verify/tests/detect-bidir-flowbits/input.pcap") else {
        return;
    };
    let kids: Vec<_> = (0..2)
        .map(|_| spawn(osprey().args(["replay", "-q", "--pcap"]).arg(&pcap)))
        .collect();
    for k in kids {
        finish(k, "replay");
    }
}

/// `osprey run` on the embedded default prints a live status line every second and stops
/// cleanly on SIGTERM with final counters.
#[test]
fn run_shows_status_and_stops_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let mut child = spawn(&mut osprey_run(&data.path().join("db")));
    let rx = stdout_lines(&mut child);
    // The demo plays at the capture's pace, whose quietest stretch is 4.2 s: six lines.
    let status_lines = status_lines(&rx, 6, Duration::from_secs(60));
    assert!(status_lines.len() >= 6, "no status lines: {status_lines:?}");
    // Packets are flowing in a loop: the last line shows more than the first.
    let packets = |l: &str| -> u64 {
        l.split("packets ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap()
    };
    assert!(
        packets(&status_lines[5]) > packets(&status_lines[0]),
        "{status_lines:?}"
    );
    assert!(signal(&child, "-TERM"));
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
    let out = run(osprey_run(&d.path().join("db"))
        .args(["--seconds", "2", "-c"])
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
    let Some(pcap) = shared_data("suricata-verify/tests/detect-bidir-flowbits/input.pcap") else {
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
    write_pcap(&p, ETHERNET, &[&big, &small, &big, &small]);
    let out = run(osprey()
        .args(["bench", "--seconds", "1", "--json", "--pcap"])
        .arg(&p));
    assert!(out.status.success());
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["packets"].as_u64().unwrap() > 4, "{r}");
}

/// A truncated IPv4 packet (its header claims 100 bytes), a SYN, and the SYN resent with
/// another sequence number.
fn write_anomalies_pcap(path: &Path) {
    let trunc = tcp_frame(100, 0x02, 1);
    let syn = tcp_frame(40, 0x02, 1000);
    let resend = tcp_frame(40, 0x02, 2000);
    write_pcap(path, ETHERNET, &[&trunc, &syn, &resend]);
}

/// Worker-rendered `anomaly` records cross the worker's EVE ring into `--eve`: a truncated
/// IPv4 packet (decoder event, no flow) and a SYN resent with another sequence number (stream
/// event on the flow); `--eve-types` narrows by event type, `--anomaly-types` (or the config
/// file's `[eve] anomaly_types`) by anomaly type, app-layer only by default as in Suricata.
#[test]
fn anomaly_records_reach_the_eve_file_and_types_filter_them() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("anomalies.pcap");
    write_anomalies_pcap(&p);
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
        let s = read_json(&stats);
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
    write_replay_config(&cfg, &p, "[eve]\nanomaly_types = [\"stream\"]\n");
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
    write_anomalies_pcap(&p);
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
        let s = read_json(&stats);
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
