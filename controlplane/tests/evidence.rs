//! Evidence and its chain of custody through the real control plane (RocksDB on disk, gRPC
//! on 127.0.0.1:0, alerts and flows through a worker ring), collected by hand and by a
//! playbook (with a memory acquisition endpoint served by axum on 127.0.0.1:0), checked with
//! `osprey ctl evidence verify` before and after single bytes are flipped on disk.

mod common;

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use controlplane::api::auth::Role;
use controlplane::config::{AssetConfig, ControlPlaneConfig};
use controlplane::model::{Alert, FlowRecord, StoredRule};
use controlplane::server::ControlPlane;
use controlplane::store::{Store, StoreOptions};
use sha2::{Digest as _, Sha256};

use common::source::{ring, Producer};
use common::SimAppliance;

const ADMIN: &str = "admin-token";
const VIEWER: &str = "viewer-token";
const SERVER: &str = "192.0.2.3";
const C2: &str = "203.0.113.50";
const T0: u64 = 1_700_000_000_000_000_000;
const SEC: u64 = 1_000_000_000;
/// What the acquisition endpoint answers: the "memory image".
const IMAGE: &[u8] = b"memory image bytes of 192.0.2.3";

fn rule() -> StoredRule {
    StoredRule {
        gid: 1,
        sid: 100,
        rev: 1,
        msg: "test rule 100".into(),
        classtype: "trojan-activity".into(),
        priority: 1,
        text: "alert tcp any any -> any any (msg:\"test rule 100\"; metadata:mitre_tactic_id TA0011, mitre_tactic_name Command_And_Control; sid:100; rev:1;)".into(),
        enabled: true,
        updated_nanos: 0,
    }
}

async fn acquisition_endpoint() -> String {
    let app = Router::new().route("/acquire", post(|| async { IMAGE }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/acquire", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    url
}

fn config(dir: &Path, acquire_url: &str) -> ControlPlaneConfig {
    let mut cfg = ControlPlaneConfig::default();
    cfg.api.listen = "127.0.0.1:0".parse().unwrap();
    cfg.metrics.enabled = false;
    cfg.storage.path = dir.join("db");
    cfg.evidence.path = dir.join("evidence");
    cfg.incidents.home_net = vec!["192.0.2.0/24".into()];
    cfg.incidents.assets = vec![AssetConfig {
        name: "servers".into(),
        cidrs: vec!["192.0.2.0/28".into()],
        criticality: 10,
    }];
    let pb = format!(
        "[[playbooks]]\nname = \"forensics\"\n[playbooks.when]\ntactic = [\"TA0011\"]\n\
         [[playbooks.actions]]\naction = \"capture_evidence\"\n\
         [[playbooks.actions]]\naction = \"acquire_memory\"\nendpoint = \"{acquire_url}\"\ntimeout_ms = 5000\n"
    );
    let file = dir.join("playbooks.toml");
    std::fs::write(&file, pb).unwrap();
    cfg.response.playbooks_file = Some(file);
    cfg.auth.tokens = common::console::tokens(&[
        ("admin", Role::Admin, ADMIN),
        ("viewer", Role::Viewer, VIEWER),
    ]);
    cfg
}

struct Harness {
    cp: ControlPlane,
    ring: Producer,
    endpoint: String,
}

impl Harness {
    async fn start(cfg: ControlPlaneConfig) -> Harness {
        Store::open(&cfg.storage.path, &StoreOptions::default())
            .unwrap()
            .put_rules(&[rule()])
            .unwrap();
        let sim = SimAppliance::new(&[]);
        let compiler = sim.compiler(Duration::from_millis(1));
        let (ring, source) = ring("w0", 4096);
        let cp = ControlPlane::start_with_sources(cfg, vec![source], sim, compiler)
            .await
            .unwrap();
        let endpoint = format!("http://{}", cp.grpc_addr);
        Harness { cp, ring, endpoint }
    }

    async fn ctl(&self, token: &str, args: &[&str]) -> (i32, String) {
        let (r, out) = common::console::run(&self.endpoint, token, args).await;
        (r.unwrap_or_else(|e| panic!("{args:?}: {e:#}")), out)
    }

    async fn json(&self, token: &str, args: &[&str]) -> (i32, serde_json::Value) {
        let mut argv = args.to_vec();
        argv.push("--json");
        let (code, out) = self.ctl(token, &argv).await;
        (
            code,
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}")),
        )
    }

    async fn items(&self) -> Vec<serde_json::Value> {
        self.json(VIEWER, &["evidence", "list"]).await.1["items"]
            .as_array()
            .unwrap()
            .clone()
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_is_collected_signed_exported_and_tampering_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let url = acquisition_endpoint().await;
    let h = Harness::start(config(dir.path(), &url)).await;
    let key = dir.path().join("evidence/appliance.ed25519");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(h.ring.push_flow(FlowRecord {
        flow_id: 7,
        src_ip: ip(SERVER),
        src_port: 40_000,
        dst_ip: ip(C2),
        dst_port: 443,
        proto: 6,
        pkts_toserver: 3,
        pkts_toclient: 2,
        bytes_toserver: 300,
        bytes_toclient: 200,
        start_nanos: T0 + 9 * SEC,
        end_nanos: T0 + 30 * SEC,
        state: Default::default(),
        reason: Default::default(),
        app_proto: "tls".into(),
        alerted: true,
        worker: "w0".into(),
        eve: String::new(),
    }));
    for i in 0..2 {
        assert!(h.ring.push_alert(Alert {
            ts_nanos: T0 + (10 + i) * SEC,
            sid: 100,
            rev: 1,
            src_ip: ip(SERVER),
            src_port: 40_000,
            dst_ip: ip(C2),
            dst_port: 443,
            proto: 6,
            worker: "w0".into(),
            ..Alert::default()
        }));
    }

    // The playbook collected the incident's evidence and logged the memory image's hash.
    common::console::wait_for("the playbook's evidence", || {
        std::fs::read_to_string(dir.path().join("evidence/custody.log"))
            .is_ok_and(|l| l.contains("memory_image"))
    })
    .await;
    let items = h.items().await;
    let kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["incident", "alerts", "flows", "memory_image"]);
    assert!(items
        .iter()
        .all(|i| i["collected_by"] == "playbook:forensics"));
    let mem = &items[3];
    assert_eq!(mem["sha256"], hex::encode(Sha256::digest(IMAGE)));
    assert_eq!(mem["size"], IMAGE.len());
    assert_eq!(mem["file"], "");
    let incident = items[0]["incident_id"].as_u64().unwrap();

    // By hand: an operator collects again; the alerts item holds both alerts' EVE records.
    let (_, c) = h
        .json(ADMIN, &["evidence", "collect", &incident.to_string()])
        .await;
    let collected = c["items"].as_array().unwrap();
    assert_eq!(collected.len(), 3);
    let alerts_id = collected[1]["id"].as_u64().unwrap().to_string();
    let out = dir.path().join("alerts.json");
    let (code, e) = h
        .json(
            ADMIN,
            &[
                "evidence",
                "export",
                &alerts_id,
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .await;
    assert_eq!((code, &e["intact"]), (0, &serde_json::json!(true)));
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), collected[1]["sha256"]);
    let lines: Vec<serde_json::Value> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["alert"]["signature_id"] == 100));
    let flows_file = collected[2]["file"].as_str().unwrap().to_owned();
    let (_, shown) = h
        .ctl(
            ADMIN,
            &["evidence", "show", &collected[2]["id"].to_string()],
        )
        .await;
    assert!(shown.contains("\"event_type\":\"flow\""), "{shown}");

    // The log is intact and records who did what.
    let (code, v) = h.json(VIEWER, &["evidence", "verify"]).await;
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["items"], 6);
    let log = std::fs::read_to_string(dir.path().join("evidence/custody.log")).unwrap();
    for act in [
        "\"collected\"",
        "\"exported\"",
        "\"viewed\"",
        "\"verified\"",
    ] {
        assert!(log.contains(act), "{act} in {log}");
    }
    assert!(log.contains("\"who\":\"admin\""));

    // A viewer may not export; a missing item is NOT_FOUND.
    let (r, _) = common::console::run(&h.endpoint, VIEWER, &["evidence", "show", "1"]).await;
    assert!(format!("{:#}", r.unwrap_err()).contains("PermissionDenied"));
    let (r, _) = common::console::run(&h.endpoint, ADMIN, &["evidence", "show", "999"]).await;
    assert!(format!("{:#}", r.unwrap_err()).contains("NotFound"));

    // One byte of a stored item flipped: named.
    let item_path = dir.path().join("evidence/items").join(&flows_file);
    flip(&item_path, 10);
    let (code, v) = h.json(VIEWER, &["evidence", "verify"]).await;
    assert_eq!(code, 1);
    assert_eq!(v["broken_link"], "", "{v}");
    let altered = v["altered_items"].as_array().unwrap();
    assert_eq!(altered.len(), 1, "{v}");
    assert!(altered[0].as_str().unwrap().contains(&flows_file), "{v}");

    // One byte of the log flipped (inside entry 3's `who`): the first broken link is entry 3.
    let log_path = dir.path().join("evidence/custody.log");
    let text = std::fs::read(&log_path).unwrap();
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            text.iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    let third = &text[starts[2]..];
    let at = starts[2] + find(third, b"\"who\":\"") + 8;
    flip(&log_path, at);
    let (code, v) = h.json(VIEWER, &["evidence", "verify"]).await;
    assert_eq!(code, 1);
    let link = v["broken_link"].as_str().unwrap();
    assert!(
        link.starts_with("entry 3 (line 3): its content does not match its hash"),
        "{link}"
    );
    let (_, plain) = common::console::run(&h.endpoint, VIEWER, &["evidence", "verify"]).await;
    assert!(plain.contains("first broken link: entry 3"), "{plain}");
    h.cp.shutdown().await;
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap()
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x01;
    std::fs::write(path, b).unwrap();
}
