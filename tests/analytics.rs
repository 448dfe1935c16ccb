//! End-to-end tests of flow features and the flow anomaly model: `osprey replay
//! --flow-features` (EVE `flow.features`, `ml` records) and `osprey ml eval` on the committed
//! synthetic attack capture (`tests/data/ml/`, made by its `make_attacks.py`).

mod common;

use common::{eve_records, one_error_line, osprey, run, write_replay_config};
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/ml")
        .join(name)
}

/// A configuration whose model warms up on 64 flows.
fn small_window_config(dir: &Path) -> PathBuf {
    let cfg = dir.join("osprey.toml");
    write_replay_config(
        &cfg,
        &data("attacks.pcap"),
        "[analytics]\nflow_features = true\nwindow = 64\ntrees = 16\ndepth = 8\n",
    );
    cfg
}

fn replay_eve(dir: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let eve = dir.join("eve.json");
    let out = run(osprey()
        .args(["replay", "--quiet", "--flags", "checksum-off", "--pcap"])
        .arg(data("attacks.pcap"))
        .args(args)
        .arg("--eve")
        .arg(&eve));
    assert!(out.status.success());
    eve_records(&eve)
}

#[test]
fn flow_records_carry_features_only_when_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let plain = replay_eve(dir.path(), &[]);
    assert!(plain.iter().all(|r| r.get("features").is_none()));
    assert!(plain.iter().all(|r| r["event_type"] != "ml"));
    let cfg = small_window_config(dir.path());
    let recs = replay_eve(dir.path(), &["-c", cfg.to_str().unwrap()]);
    let flows: Vec<_> = recs.iter().filter(|r| r["event_type"] == "flow").collect();
    assert_eq!(
        flows.len(),
        plain.iter().filter(|r| r["event_type"] == "flow").count()
    );
    assert!(flows.iter().all(|r| r["features"].is_object()));
    // The generator's first slowloris connection: handshake 10 ms + 10 ms, the request and
    // 24 header lines pushed, the server silent.
    let slow = flows
        .iter()
        .find(|r| r["src_ip"] == "203.0.113.77" && r["src_port"] == 50000)
        .expect("slowloris flow");
    let f = &slow["features"];
    assert_eq!(f["rtt_us"]["syn_synack"], 10_000);
    assert_eq!(f["rtt_us"]["synack_ack"], 10_000);
    assert_eq!(f["tcp_flags"]["toserver"]["psh"], 25);
    assert_eq!(f["tcp_flags"]["toclient"]["syn"], 1);
    assert_eq!(f["payload"]["toclient"]["max"], 0.0);
    assert_eq!(f["payload"]["toserver"]["n"], 27);
    assert!(f["iat_us"]["toserver"]["mean"].as_f64().unwrap() > 5e6);
    // A scan probe: one SYN, answered by RST/ACK.
    let probe = flows
        .iter()
        .find(|r| r["src_ip"] == "203.0.113.66")
        .expect("scan probe");
    assert_eq!(probe["features"]["tcp_flags"]["toserver"]["syn"], 1);
    assert_eq!(probe["features"]["tcp_flags"]["toclient"]["rst"], 1);
    assert_eq!(probe["features"]["iat_us"]["toserver"]["n"], 0);
}

#[test]
fn replay_writes_an_ml_record_per_scored_flow() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_window_config(dir.path());
    let recs = replay_eve(dir.path(), &["-c", cfg.to_str().unwrap()]);
    let flows: Vec<_> = recs.iter().filter(|r| r["event_type"] == "flow").collect();
    let ml: Vec<_> = recs.iter().filter(|r| r["event_type"] == "ml").collect();
    // Every flow after the 64 of the warm-up is scored.
    assert_eq!(ml.len(), flows.len() - 64);
    let ids: std::collections::HashSet<_> = flows.iter().map(|r| r["flow_id"].clone()).collect();
    for r in &ml {
        assert!(ids.contains(&r["flow_id"]), "{r}");
        assert!(r["src_ip"].is_string() && r["proto"].is_string());
        let m = &r["ml"];
        let score = m["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score), "{score}");
        assert_eq!(m["model"], "hst");
        assert_eq!(m["version"], 1);
        for t in m["top_features"].as_array().unwrap() {
            assert!(t["name"].as_str().is_some_and(|n| !n.is_empty()));
            assert!(t["share"].as_f64().unwrap() > 0.0);
        }
    }
    // `--eve-types ml` alone: the scores without the flows.
    let only = replay_eve(
        dir.path(),
        &["-c", cfg.to_str().unwrap(), "--eve-types", "ml"],
    );
    assert_eq!(only.len(), ml.len());
    assert!(only.iter().all(|r| r["event_type"] == "ml"));
}

/// The labels with one family turned benign, so that both classes are present.
fn labels_with_benign(dir: &Path, family: &str) -> PathBuf {
    let text = std::fs::read_to_string(data("labels.csv")).unwrap();
    let relabelled: String = text
        .lines()
        .map(|l| {
            if l.ends_with(&format!(",malicious,{family}")) {
                l.replace(",malicious,", ",benign,")
            } else {
                l.to_owned()
            }
        })
        .map(|l| l + "\n")
        .collect();
    let p = dir.join("labels.csv");
    std::fs::write(&p, relabelled).unwrap();
    p
}

fn eval(dir: &Path, labels: &Path, extra: &[&str]) -> std::process::Output {
    let cfg = small_window_config(dir);
    run(osprey()
        .args(["ml", "eval", "-c"])
        .arg(&cfg)
        .arg("--pcap")
        .arg(data("attacks.pcap"))
        .arg("--labels")
        .arg(labels)
        .args(extra))
}

#[test]
fn ml_eval_prints_auc_and_families_as_a_table_and_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let labels = labels_with_benign(dir.path(), "dns_tunnel");
    let out = eval(dir.path(), &labels, &["--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &v["report"];
    let auc = r["auc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&auc));
    let flows = r["flows"].as_u64().unwrap();
    assert_eq!(v["warmup"], 64);
    assert_eq!(flows + 64 + v["unlabelled"].as_u64().unwrap(), 939);
    let fams: Vec<&str> = r["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["family"].as_str().unwrap())
        .collect();
    assert_eq!(fams, ["dns_tunnel", "flood", "scan", "slowloris"]);
    let benign = &r["families"][0];
    assert_eq!(benign["malicious"], false);
    assert_eq!(
        r["malicious"].as_u64().unwrap(),
        flows - benign["flows"].as_u64().unwrap()
    );
    let out = eval(dir.path(), &labels, &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("ROC AUC: {auc:.4}")), "{text}");
    assert!(text.contains("precision at top 1%:"));
    assert!(text
        .lines()
        .any(|l| l.starts_with("slowloris") && l.contains("malicious")));
}

#[test]
fn ml_eval_refuses_one_class_and_bad_labels() {
    let dir = tempfile::tempdir().unwrap();
    // Every flow of the capture is malicious: no AUC without benign flows.
    let out = eval(dir.path(), &data("labels.csv"), &[]);
    assert!(one_error_line(&out).contains("benign and malicious"));
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "src,dst\n").unwrap();
    assert!(one_error_line(&eval(dir.path(), &bad, &[])).contains("header must be"));
    std::fs::write(
        &bad,
        "proto,src_ip,src_port,dst_ip,dst_port,first_ts,label,family\n\
         tcp,192.0.2.1,1,192.0.2.2,2,0.0,evil,scan\n",
    )
    .unwrap();
    let e = one_error_line(&eval(dir.path(), &bad, &[]));
    assert!(
        e.contains("line 2") && e.contains("neither benign nor malicious"),
        "{e}"
    );
}

#[test]
fn analytics_config_refuses_unknown_keys_and_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("osprey.toml");
    for (section, want) in [
        ("[analytics]\nflow_feature = true\n", "flow_feature"),
        ("[analytics]\ndepth = 0\n", "analytics.depth"),
    ] {
        write_replay_config(&cfg, &data("attacks.pcap"), section);
        let out = run(osprey()
            .args(["replay", "--quiet", "-c"])
            .arg(&cfg)
            .arg("--pcap")
            .arg(data("attacks.pcap")));
        let e = one_error_line(&out);
        assert!(e.contains(want), "{e}");
    }
}
