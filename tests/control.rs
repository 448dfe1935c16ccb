//! End-to-end tests of the running appliance and its console: the real `osprey run` (DPDK
//! `net_pcap` looping the bundled demo capture, the control plane on 127.0.0.1:0 with RocksDB
//! in a temp dir) driven by the real `osprey ctl`.
//!
//! - `run_serves_status_stats_rules_and_alerts_to_ctl`: the console sees the workers, the
//!   per-worker counters, the start-up ruleset and stored alerts rendered with its messages.
//! - `reload_ten_times_under_traffic`: ten hot reloads while the capture loops; no packet or
//!   record lost, each answer proves its generation runs, and alerts after the last reload
//!   come from the new ruleset only.
//!
//! The rules are written for `configs/samples/demo.pcap` (all HTTP on port 80): sid 9100001
//! matches the requests (`GET `), sid 9100002 the responses (`HTTP/1.`).

mod common;

use common::{
    eve_records, osprey, osprey_run, sample, signal, stdout_lines, wait_for_addresses, wait_within,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const RULE_A: &str = r#"alert tcp any any -> any 80 (msg:"TEST A request"; flow:to_server; content:"GET "; depth:4; sid:9100001; rev:1;)"#;
const RULE_H: &str = r#"alert http any any -> any any (msg:"TEST H method"; flow:to_server; http.method; content:"GET"; classtype:misc-activity; sid:9100003; rev:1;)"#;
const RULE_B: &str = r#"alert tcp any 80 -> any any (msg:"TEST B response"; flow:to_client; content:"HTTP/1."; depth:7; sid:9100002; rev:1;)"#;

/// A running `osprey run` child with its API address.
struct Running {
    child: Child,
    api: String,
    metrics: String,
    lines: Receiver<String>,
    /// The EVE file, when started with one.
    eve: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Running {
    /// Starts the appliance on the demo capture with `rules` imported at start.
    fn start(rules: &[&str], seconds: u64) -> Running {
        Self::start_with(rules, seconds, false)
    }

    /// Like [`Running::start`], with an EVE file (`[eve]`) when `eve` is set.
    fn start_with(rules: &[&str], seconds: u64, eve: bool) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let eve = eve.then(|| dir.path().join("eve.json"));
        let eve_toml = eve
            .as_ref()
            .map(|p| format!("[eve]\nenabled = true\npath = {p:?}\n"))
            .unwrap_or_default();
        let rules_file = dir.path().join("start.rules");
        std::fs::write(&rules_file, rules.join("\n")).unwrap();
        // Read beside the first rule file, as Suricata's classification.config.
        std::fs::write(
            dir.path().join("classification.config"),
            "config classification: misc-activity,Misc activity,3\n",
        )
        .unwrap();
        let cfg = dir.path().join("osprey.toml");
        std::fs::write(
            &cfg,
            format!(
                "[capture]\nmode = \"replay\"\npcap = {:?}\nloop = true\nworkers = 1\n\
                 [api]\nlisten = \"127.0.0.1:0\"\nallow_plaintext = true\n\
                 [auth]\nanonymous_role = \"admin\"\n\
                 [metrics]\nlisten = \"127.0.0.1:0\"\n\
                 [storage]\npath = {:?}\n\
                 [rules]\nfiles = [{:?}]\n{eve_toml}",
                sample("demo.pcap"),
                dir.path().join("db"),
                rules_file
            ),
        )
        .unwrap();
        let addr_file = dir.path().join("addr.json");
        let mut child = osprey()
            .args(["run", "--seconds", &seconds.to_string(), "-c"])
            .arg(&cfg)
            .arg("--addr-file")
            .arg(&addr_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = stdout_lines(&mut child);
        let v = wait_for_addresses(&mut child, &addr_file);
        let (api, metrics) = (
            v["api"].as_str().unwrap().to_owned(),
            v["metrics"].as_str().unwrap().to_owned(),
        );
        let r = Running {
            child,
            api,
            metrics,
            lines,
            eve,
            _dir: dir,
        };
        // The API listens before the data plane has started its workers; wait for them.
        let deadline = Instant::now() + Duration::from_secs(120);
        while r.ctl(&["status"])["workers"]
            .as_array()
            .is_none_or(|w| w.is_empty())
        {
            assert!(Instant::now() < deadline, "workers never started");
            std::thread::sleep(Duration::from_millis(100));
        }
        r
    }

    /// `osprey ctl --json ARGS` against this appliance; panics with its stderr on failure.
    fn ctl(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ctl_raw(args);
        assert!(
            out.status.success(),
            "ctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "ctl {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    fn ctl_raw(&self, args: &[&str]) -> std::process::Output {
        osprey()
            .args([
                "ctl",
                "--endpoint",
                &format!("http://{}", self.api),
                "--json",
            ])
            .args(args)
            .output()
            .unwrap()
    }

    /// Every stored alert, oldest first.
    fn all_alerts(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let mut args = vec!["alerts", "query", "--limit", "1000", "--oldest-first"];
            if !token.is_empty() {
                args.push("--page-token");
                args.push(&token);
            }
            let page = self.ctl(&args);
            out.extend(page["alerts"].as_array().unwrap().iter().cloned());
            token = page["next_page_token"].as_str().unwrap_or("").to_owned();
            if token.is_empty() {
                break;
            }
        }
        out
    }

    /// Waits for the child to exit and returns its remaining stdout lines.
    fn wait(mut self) -> Vec<String> {
        let st = wait_within(&mut self.child, Duration::from_secs(120))
            .expect("osprey run did not stop");
        assert!(st.success(), "osprey run: {st:?}");
        self.lines.try_iter().collect()
    }

    /// Stops the appliance and returns its EVE records (before the directory goes away).
    fn stop_reading_eve(mut self) -> Vec<serde_json::Value> {
        let _ = signal(&self.child, "-TERM");
        wait_within(&mut self.child, Duration::from_secs(120)).expect("osprey run did not stop");
        eve_records(self.eve.as_ref().expect("started with an EVE file"))
    }

    fn stop(self) -> Vec<String> {
        let _ = signal(&self.child, "-TERM");
        self.wait()
    }
}

impl Drop for Running {
    /// A failed test must not leave an appliance running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A plain HTTP/1.0 GET; returns the whole response.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn counter(stats: &serde_json::Value, name: &str) -> u64 {
    stats["total"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name}"))
}

#[test]
fn run_serves_status_stats_rules_and_alerts_to_ctl() {
    let app = Running::start(&[RULE_A, RULE_B], 60);
    let st = app.ctl(&["status"]);
    assert_eq!(st["mode"], "replay");
    assert!(st["version"].as_str().unwrap().contains("DPDK"), "{st}");
    let workers = st["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1, "{st}");
    assert_eq!(workers[0]["name"], "w0");
    // The start-up ruleset is generation 1 on every worker.
    assert_eq!(workers[0]["ruleset_generation"], 1, "{st}");
    assert_eq!(st["ruleset_generation"], 1);
    let ports = st["ports"].as_array().unwrap();
    assert_eq!(ports[0]["driver"], "net_pcap", "{st}");
    assert_eq!(ports[0]["link_up"], true);

    let rules = app.ctl(&["rules", "list"]);
    let sids: BTreeSet<u64> = rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sid"].as_u64().unwrap())
        .collect();
    assert_eq!(sids, BTreeSet::from([9_100_001, 9_100_002]));

    // Alerts arrive, stored and rendered with the rules' messages.
    let deadline = Instant::now() + Duration::from_secs(60);
    let alerts = loop {
        let q = app.ctl(&["alerts", "query", "--limit", "50"]);
        let a = q["alerts"].as_array().unwrap().clone();
        if a.len() == 50 {
            break a;
        }
        assert!(Instant::now() < deadline, "no alerts stored: {q}");
        std::thread::sleep(Duration::from_millis(200));
    };
    for a in &alerts {
        let (sid, msg) = (a["sid"].as_u64().unwrap(), a["msg"].as_str().unwrap());
        match sid {
            9_100_001 => assert_eq!(msg, "TEST A request"),
            9_100_002 => assert_eq!(msg, "TEST B response"),
            other => panic!("unexpected sid {other}"),
        }
        assert_eq!(a["worker"], "w0");
        assert_eq!(a["ruleset_generation"], 1);
        assert_eq!(a["dest_port"].as_u64().unwrap() == 80, sid == 9_100_001);
        // Wall-clock packet time (a looping appliance stamps from the TSC), not 1970.
        assert!(a["timestamp_ns"].as_u64().unwrap() > 1_600_000_000_000_000_000);
    }
    let by_sid = app.ctl(&["alerts", "query", "--sid", "9100002", "--limit", "20"]);
    assert!(by_sid["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["sid"] == 9_100_002));

    let stats = app.ctl(&["stats"]);
    assert!(counter(&stats, "capture.kernel_packets") > 0);
    assert!(counter(&stats, "decoder.pkts") > 0);
    assert!(counter(&stats, "detect.alerts_raised") > 0);
    assert_eq!(counter(&stats, "detect.alert_queue_overflow"), 0);
    assert!(stats["workers"]["w0"]["decoder.pkts"].as_u64().unwrap() > 0);
    assert!(
        stats["control_plane"]["ingest.alerts_stored"]
            .as_u64()
            .unwrap()
            >= 50
    );

    // Prometheus metrics with per-worker counters.
    let body = http_get(&app.metrics, "/metrics");
    assert!(body.contains("osprey_decoder_pkts"), "{body}");
    assert!(body.contains("w0"), "{body}");

    // Bad input over the console: a rule with an error is refused with its line and column,
    // and the running appliance is untouched.
    let bad = app.ctl_raw(&[
        "rules",
        "add",
        "--text",
        "alert tcp any any -> any any (msg:\"x\"; sid:9100003; rev:1;)\nalert tcp any any -> any any (msg:\"y\"; content:; sid:9100004;)",
    ]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("column"), "{err}");
    let rules = app.ctl(&["rules", "list"]);
    assert_eq!(rules.as_array().unwrap().len(), 2);

    let rest = app.stop();
    assert!(rest.iter().any(|l| l.starts_with("stopped: ")), "{rest:?}");
}

/// Sids each ruleset state enables.
/// Stored alerts and EVE alert lines of `osprey run` carry what the worker knows and the
/// fixed-size record does not: the flow's counters and the HTTP transaction (as
/// `osprey replay --eve` writes them).
#[test]
fn run_alerts_carry_flow_counters_and_transaction_metadata() {
    let app = Running::start_with(&[RULE_H], 60, true);
    let deadline = Instant::now() + Duration::from_secs(60);
    let alert = loop {
        let page = app.ctl(&["alerts", "query", "--limit", "10", "--sid", "9100003"]);
        if let Some(a) = page["alerts"].as_array().and_then(|v| v.first()) {
            break a.clone();
        }
        assert!(Instant::now() < deadline, "no alert stored");
        std::thread::sleep(Duration::from_millis(200));
    };
    let eve = &alert["eve"];
    assert_eq!(eve["event_type"], "alert", "{alert}");
    assert_eq!(eve["alert"]["signature_id"], 9100003, "{alert}");
    assert_eq!(eve["flow_id"], alert["flow_id"], "{alert}");
    assert!(
        eve["flow"]["pkts_toserver"].as_u64().unwrap_or(0) >= 1,
        "{alert}"
    );
    assert_eq!(eve["app_proto"], "http", "{alert}");
    assert!(eve["http"]["url"].is_string(), "{alert}");
    assert_eq!(eve["alert"]["category"], "Misc activity", "{alert}");
    let lines = app.stop_reading_eve();
    let alerts: Vec<_> = lines
        .iter()
        .filter(|v| v["event_type"] == "alert")
        .collect();
    assert!(!alerts.is_empty(), "no alert in the EVE file");
    for a in &alerts {
        assert!(a["flow"]["pkts_toserver"].as_u64().is_some(), "{a}");
        assert!(a["http"].is_object(), "{a}");
        // As `osprey replay --eve` writes it: the alert's id stays in the store and the API.
        assert!(a.get("osprey").is_none(), "{a}");
    }
    // The workers' transaction records reach the file too.
    assert!(
        lines.iter().any(|v| v["event_type"] == "http"),
        "no http record"
    );
}

fn expected_sids(use_b: bool) -> u64 {
    if use_b {
        9_100_002
    } else {
        9_100_001
    }
}

#[test]
fn reload_ten_times_under_traffic() {
    let app = Running::start(&[RULE_A, RULE_B], 300);
    // Start with A only.
    app.ctl(&["rules", "disable", "9100002"]);
    let r = app.ctl(&["rules", "reload"]);
    let mut generation = r["generation"].as_u64().unwrap();
    assert_eq!(r["rules_loaded"], 1, "{r}");
    // generation -> the one sid it may raise.
    let mut allowed: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    // The start-up generation ran both rules.
    allowed.insert(generation - 1, vec![9_100_001, 9_100_002]);
    allowed.insert(generation, vec![9_100_001]);
    let mut use_b = false;
    for i in 0..10 {
        // Let traffic (and alerts) flow on the current generation.
        std::thread::sleep(Duration::from_millis(400));
        use_b = !use_b;
        let (on, off) = if use_b {
            ("9100002", "9100001")
        } else {
            ("9100001", "9100002")
        };
        app.ctl(&["rules", "enable", on]);
        app.ctl(&["rules", "disable", off]);
        let r = app.ctl(&["rules", "reload"]);
        eprintln!("reload {i}: {r}");
        let g = r["generation"].as_u64().unwrap();
        assert_eq!(g, generation + 1, "reload {i}: {r}");
        assert_eq!(r["rules_loaded"], 1, "reload {i}: {r}");
        assert_eq!(r["rules_failed"], 0, "reload {i}: {r}");
        assert_eq!(r["ruleset_hash"].as_str().unwrap().len(), 64, "{r}");
        // The answer is the proof: every worker runs the new generation already.
        let st = app.ctl(&["status"]);
        assert!(
            st["workers"]
                .as_array()
                .unwrap()
                .iter()
                .all(|w| w["ruleset_generation"].as_u64().unwrap() >= g),
            "{st}"
        );
        generation = g;
        allowed.insert(g, vec![expected_sids(use_b)]);
    }
    let last = generation;
    let last_sid = expected_sids(use_b);
    // Traffic keeps flowing on the last ruleset.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let q = app.ctl(&["alerts", "query", "--limit", "20"]);
        let a = q["alerts"].as_array().unwrap();
        if a.len() == 20
            && a.iter()
                .all(|x| x["ruleset_generation"].as_u64() == Some(last))
        {
            // The newest alerts all come from the last ruleset.
            assert!(a.iter().all(|x| x["sid"].as_u64() == Some(last_sid)), "{q}");
            break;
        }
        assert!(Instant::now() < deadline, "no alerts of generation {last}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Every stored alert came from the ruleset of the generation that raised it; with the
    // generation id on each alert, that also shows no alert after a reload came from the
    // ruleset before it.
    let all = app.all_alerts();
    assert!(all.len() > 100, "{} alerts", all.len());
    let mut per_gen: BTreeMap<u64, u64> = BTreeMap::new();
    for a in &all {
        let g = a["ruleset_generation"].as_u64().unwrap();
        let sid = a["sid"].as_u64().unwrap();
        let ok = allowed.get(&g).is_some_and(|v| v.contains(&sid));
        assert!(
            ok,
            "alert {a} of generation {g} with sid {sid}: allowed {allowed:?}"
        );
        *per_gen.entry(g).or_default() += 1;
    }
    eprintln!("alerts per generation: {per_gen:?}");
    // Traffic flowed through the reloads: most generations raised alerts.
    assert!(per_gen.len() >= 8, "{per_gen:?}");
    // Ids are assigned in ring order: once an alert of a generation is stored, no alert of an
    // older generation follows it (one worker).
    let mut ids: Vec<(u64, u64)> = all
        .iter()
        .map(|a| {
            (
                a["id"].as_u64().unwrap(),
                a["ruleset_generation"].as_u64().unwrap(),
            )
        })
        .collect();
    ids.sort_unstable();
    assert!(
        ids.windows(2).all(|w| w[0].1 <= w[1].1),
        "generations out of order"
    );

    let stats = app.ctl(&["stats"]);
    let rest = app.stop();
    assert!(rest.iter().any(|l| l.starts_with("stopped: ")), "{rest:?}");

    // Nothing lost: device drops, mbuf shortage and ring overflow are all zero.
    let lost = counter(&stats, "capture.kernel_drops")
        + counter(&stats, "capture.rx_nombuf")
        + counter(&stats, "detect.alert_queue_overflow")
        + counter(&stats, "flow.export_overflow");
    assert_eq!(lost, 0, "{stats}");
    assert!(counter(&stats, "capture.kernel_packets") > 10_000);
    let final_line = rest.iter().find(|l| l.starts_with("stopped: ")).unwrap();
    assert!(final_line.contains("imissed 0 rx_nombuf 0"), "{final_line}");
}

/// Start-up failures of the control plane are one clear error line and a non-zero exit,
/// before any packet is read: a storage path that is not a directory, an API port in use.
#[test]
fn control_plane_start_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let not_dir = dir.path().join("file");
    std::fs::write(&not_dir, b"x").unwrap();
    let out = osprey_run(&not_dir)
        .args(["--seconds", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a directory"), "{err}");

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().to_string();
    let out = osprey()
        .args(["run", "--seconds", "1", "--api-listen", &port])
        .args(["--metrics-listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("db"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("api.listen") && err.contains(&port), "{err}");
}

/// A block added under traffic reaches the worker at its next burst (the answer proves the
/// generation runs), its hits are counted by origin, one EVE `drop` record per blocked flow
/// names the entry (`allowed`: `osprey run` here is IDS), and a removal stops the hits.
#[test]
fn block_added_under_traffic_is_hit_recorded_and_removed() {
    let app = Running::start_with(&[RULE_A], 60, true);
    let packets = |app: &Running| counter(&app.ctl(&["stats"]), "capture.kernel_packets");
    let start = Instant::now();
    while packets(&app) == 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "no traffic");
        std::thread::sleep(Duration::from_millis(50));
    }
    let stats = app.ctl(&["stats"]);
    assert_eq!(counter(&stats, "blocklist.hits"), 0);
    let added = app.ctl(&[
        "block",
        "add",
        "113.20.11.49",
        "--side",
        "dst",
        "--reason",
        "c2 server",
    ]);
    let id = added["entry"]["id"].as_u64().unwrap();
    let generation = added["generation"].as_u64().unwrap();
    assert_eq!(
        counter(&app.ctl(&["stats"]), "blocklist.generation"),
        generation
    );
    let hits = |app: &Running| {
        let s = app.ctl(&["stats"]);
        (
            counter(&s, "blocklist.hits"),
            counter(&s, "blocklist.hits.api"),
        )
    };
    let start = Instant::now();
    while hits(&app).0 == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no block-list hits"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (h, by_api) = hits(&app);
    assert_eq!(h, by_api, "every hit is of the api entry");
    let list = app.ctl(&["block", "list"]);
    assert_eq!(list["total"], 1);
    assert_eq!(list["worker_generations"][0].as_u64(), Some(generation));
    let metrics = http_get(&app.metrics, "/metrics");
    assert!(metrics.contains("osprey_blocklist_entries 1"), "{metrics}");
    assert!(
        metrics.contains("osprey_blocklist_hits_total{origin=\"api\"}"),
        "{metrics}"
    );

    let removed = app.ctl(&["block", "remove", &id.to_string()]);
    assert!(removed["generation"].as_u64().unwrap() > generation);
    let after = hits(&app).0;
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(hits(&app).0, after, "no hits once the entry is removed");

    let eve = app.stop_reading_eve();
    let drops: Vec<&serde_json::Value> = eve.iter().filter(|r| r["event_type"] == "drop").collect();
    assert!(!drops.is_empty(), "no drop records");
    for d in &drops {
        assert_eq!(d["dest_ip"], "113.20.11.49", "{d}");
        assert_eq!(d["drop"]["reason"], "blocklist", "{d}");
        assert_eq!(d["drop"]["action"], "allowed", "{d}");
        assert_eq!(d["blocklist"]["id"].as_u64(), Some(id), "{d}");
        assert_eq!(d["blocklist"]["reason"], "c2 server", "{d}");
        assert_eq!(d["blocklist"]["origin"], "api", "{d}");
    }
    // One per flow: the demo capture's flows to the server, each looped copy at most once
    // more (the worker remembers the last few thousand blocked flows).
    assert!(
        drops.len() as u64 <= after,
        "{} records for {after} hits",
        drops.len()
    );
}
