//! Playbooks through the real control plane: alerts through a worker ring and ingest, the
//! correlator, the playbook engine, the block list in RocksDB, a webhook to a real HTTP
//! receiver (axum on 127.0.0.1:0), a real external command, and `osprey ctl`.
//! Documentation addresses: a server (critical) beaconing to C2, a printer scanned.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use controlplane::api::auth::Role;
use controlplane::config::{AssetConfig, ControlPlaneConfig, WebhookConfig};
use controlplane::model::StoredRule;
use controlplane::proto;
use controlplane::server::ControlPlane;
use controlplane::store::{Store, StoreOptions};

use common::console::wait_for;
use common::source::{ring, Producer};
use common::SimAppliance;

const ADMIN: &str = "admin-token";
const VIEWER: &str = "viewer-token";
const SERVER: &str = "192.0.2.3";
const PRINTER: &str = "192.0.2.200";
const C2: &str = "203.0.113.50";
const SCANNER: &str = "198.51.100.9";
use common::SEC;

fn rules() -> Vec<StoredRule> {
    let rule = |sid: u32, classtype: &str, meta: &str| {
        StoredRule {
        gid: 1,
        sid,
        rev: 1,
        msg: format!("test rule {sid}"),
        classtype: classtype.into(),
        priority: 1,
        text: format!(
            "alert tcp any any -> any any (msg:\"test rule {sid}\"; classtype:{classtype}; sid:{sid}; rev:1;{meta})"
        ),
        enabled: true,
        updated_nanos: 0,
    }
    };
    vec![
        rule(
            100,
            "trojan-activity",
            " metadata:mitre_tactic_id TA0011, mitre_tactic_name Command_And_Control, mitre_technique_id T1071, mitre_technique_name Application_Layer_Protocol;",
        ),
        rule(200, "network-scan", ""),
    ]
}

const PLAYBOOKS: &str = r#"
[[playbooks]]
name = "contain-c2"
[playbooks.when]
tactic = ["TA0011"]
technique = ["T1071"]
asset_group = ["servers"]
[[playbooks.actions]]
action = "block"
address = "peers"
side = "either"
ttl_secs = 3600
[[playbooks.actions]]
action = "notify"
target = "soc"
[[playbooks.actions]]
action = "raise_priority"
points = 10
[[playbooks.actions]]
action = "run"
command = "/bin/echo"
args = ["isolate", "{host}", "from", "{peer}", "incident", "{incident}"]
timeout_ms = 5000

[[playbooks]]
name = "scan-watch"
dry_run = true
[playbooks.when]
sid = [200]
[[playbooks.actions]]
action = "block"
address = "peers"
ttl_secs = 600
"#;

#[derive(Default)]
struct Receiver {
    got: Mutex<Vec<serde_json::Value>>,
}

async fn receive(State(r): State<Arc<Receiver>>, body: axum::body::Bytes) -> StatusCode {
    r.got
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    StatusCode::NO_CONTENT
}

async fn receiver() -> (Arc<Receiver>, String) {
    let r = Arc::new(Receiver::default());
    let app = Router::new()
        .route("/", post(receive))
        .with_state(r.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (r, url)
}

fn config(dir: &Path, url: &str) -> ControlPlaneConfig {
    let mut cfg = ControlPlaneConfig::default();
    cfg.api.listen = "127.0.0.1:0".parse().unwrap();
    cfg.metrics.enabled = false;
    cfg.storage.path = dir.join("db");
    cfg.incidents.home_net = vec!["192.0.2.0/24".into()];
    cfg.incidents.assets = vec![AssetConfig {
        name: "servers".into(),
        cidrs: vec!["192.0.2.0/28".into()],
        criticality: 10,
    }];
    cfg.webhooks = vec![WebhookConfig {
        name: "soc".into(),
        url: url.into(),
        alerts: false,
        incidents: false,
        timeout_ms: 2000,
        attempts: 3,
        backoff_min_ms: 20,
        backoff_max_ms: 100,
        queue: 64,
        ca: None,
        bearer_token_file: None,
        hmac_key_file: None,
    }];
    let file = dir.join("playbooks.toml");
    std::fs::write(&file, PLAYBOOKS).unwrap();
    cfg.response.playbooks_file = Some(file);
    cfg.response.reload_interval_ms = 50;
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
            .put_rules(&rules())
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

    fn push(&self, at_secs: u64, src: &str, dst: &str, sid: u32) {
        assert!(self
            .ring
            .push_alert(common::alert_at(at_secs, src, dst, sid)));
    }

    async fn ctl_json(&self, token: &str, args: &[&str]) -> serde_json::Value {
        let mut argv = args.to_vec();
        argv.push("--json");
        let (r, out) = common::console::run(&self.endpoint, token, &argv).await;
        r.unwrap_or_else(|e| panic!("{args:?}: {e:#}"));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// The incident of `host` once `ok` holds for it.
    async fn incident(
        &self,
        host: &str,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let t = std::time::Instant::now();
        loop {
            let l = self.ctl_json(VIEWER, &["incidents", "list"]).await;
            if let Some(i) = l["incidents"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["host"] == host)
            {
                let id = i["id"].as_u64().unwrap().to_string();
                let d = self.ctl_json(VIEWER, &["incidents", "show", &id]).await;
                if ok(&d["incident"]) {
                    return d["incident"].clone();
                }
            }
            assert!(t.elapsed() < Duration::from_secs(20), "incident of {host}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn blocks(&self) -> Vec<serde_json::Value> {
        self.ctl_json(VIEWER, &["block", "list"]).await["entries"]
            .as_array()
            .unwrap()
            .clone()
    }
}

fn responses(i: &serde_json::Value) -> Vec<serde_json::Value> {
    i["responses"].as_array().cloned().unwrap_or_default()
}

fn action<'a>(rs: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    rs.iter()
        .find(|r| r["action"] == name)
        .unwrap_or_else(|| panic!("no {name} in {rs:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playbook_blocks_the_c2_peer_notifies_runs_and_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let (rx, url) = receiver().await;
    let mut cfg = config(dir.path(), &url);
    // contain-c2 also notifies the [syslog] output: a UDP receiver on loopback.
    let siem = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    siem.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    cfg.syslog.enabled = true;
    cfg.syslog.transport = controlplane::outputs::syslog::Transport::Udp;
    cfg.syslog.server = siem.local_addr().unwrap();
    let with_syslog = PLAYBOOKS.replacen(
        "[[playbooks.actions]]\naction = \"raise_priority\"",
        "[[playbooks.actions]]\naction = \"notify\"\ntarget = \"syslog\"\n[[playbooks.actions]]\naction = \"raise_priority\"",
        1,
    );
    assert_ne!(with_syslog, PLAYBOOKS);
    std::fs::write(dir.path().join("playbooks.toml"), with_syslog).unwrap();
    let h = Harness::start(cfg).await;
    for i in 0..3 {
        h.push(10 + i, SERVER, C2, 100);
    }
    for i in 0..4 {
        h.push(20 + i, SCANNER, PRINTER, 200);
    }

    // contain-c2 acted on the server's incident, every action recorded with its result.
    let server = h.incident(SERVER, |i| responses(i).len() >= 5).await;
    let rs = responses(&server);
    let block = action(&rs, "block");
    assert_eq!(block["playbook"], "contain-c2");
    assert_eq!(block["outcome"], "ok", "{block}");
    let block_id = block["block_ids"][0].as_u64().unwrap();
    let notes: Vec<_> = rs.iter().filter(|r| r["action"] == "notify").collect();
    assert_eq!(notes.len(), 2, "{rs:?}");
    assert!(notes.iter().all(|n| n["outcome"] == "ok"), "{notes:?}");
    assert!(notes[1]["detail"].as_str().unwrap().contains("syslog"));
    assert_eq!(action(&rs, "raise_priority")["outcome"], "ok");
    let run = action(&rs, "run");
    assert_eq!(run["outcome"], "ok", "{run}");
    let id = server["id"].as_u64().unwrap();
    assert!(
        run["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("isolate {SERVER} from {C2} incident {id}")),
        "{run}"
    );
    assert!(server["explanation"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["factor"] == "playbook" && c["points"] == 10.0));

    // The block: the C2 address, origin playbook, with its time to live.
    let entries = h.blocks().await;
    let e = entries.iter().find(|e| e["id"] == block_id).unwrap();
    assert_eq!(
        (e["target"].as_str(), e["origin"].as_str()),
        (Some(C2), Some("playbook"))
    );
    assert_eq!(e["created_by"], "playbook:contain-c2");
    let ttl = e["expires_ns"].as_u64().unwrap() - e["created_ns"].as_u64().unwrap();
    assert_eq!(ttl, 3600 * SEC);

    // The notification at the receiver.
    wait_for("the playbook notification", || {
        rx.got
            .lock()
            .unwrap()
            .iter()
            .any(|j| j["event_type"] == "playbook" && j["incident"]["id"] == id)
    })
    .await;

    // The syslog notice: RFC 5424 with MSGID playbook, the incident as JSON.
    let notice = tokio::task::spawn_blocking(move || {
        let mut buf = [0u8; 65536];
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < until {
            let Ok(n) = siem.recv(&mut buf) else { continue };
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            if let Some((head, json)) = m.split_once(" osprey - playbook - ") {
                return Some((head.to_owned(), json.to_owned()));
            }
        }
        None
    })
    .await
    .unwrap()
    .expect("a playbook notice at the syslog receiver");
    assert!(notice.0.starts_with('<'), "{notice:?}");
    let j: serde_json::Value = serde_json::from_str(&notice.1).unwrap();
    assert_eq!(
        (&j["playbook"], &j["incident"]["id"]),
        (&"contain-c2".into(), &id.into())
    );

    // The dry-run playbook recorded what it would do and added nothing.
    let printer = h.incident(PRINTER, |i| !responses(i).is_empty()).await;
    let would = action(&responses(&printer), "block").clone();
    assert_eq!(would["outcome"], "dry_run");
    assert!(
        would["detail"].as_str().unwrap().contains(SCANNER),
        "{would}"
    );
    assert_eq!(h.blocks().await.len(), 1, "dry-run added no block");

    // Each action is in the audit log.
    let audit = h
        .ctl_json(ADMIN, &["audit", "--who", "playbook:contain-c2"])
        .await;
    let methods: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["method"].as_str().unwrap())
        .collect();
    for m in ["playbook.block", "playbook.notify", "playbook.run"] {
        assert!(methods.contains(&m), "{methods:?}");
    }

    // A viewer may not roll back; an admin may: the block goes, the incident says so.
    let (r, _) = common::console::run(
        &h.endpoint,
        VIEWER,
        &["playbooks", "rollback", &id.to_string()],
    )
    .await;
    assert!(format!("{:#}", r.unwrap_err()).contains("PermissionDenied"));
    let rb = h
        .ctl_json(ADMIN, &["playbooks", "rollback", &id.to_string()])
        .await;
    assert_eq!(rb["removed"], serde_json::json!([block_id]));
    assert!(h.blocks().await.is_empty());
    let server = h
        .incident(SERVER, |i| {
            responses(i).iter().any(|r| r["action"] == "rollback")
        })
        .await;
    assert_eq!(action(&responses(&server), "block")["rolled_back"], true);
    let (r, _) = common::console::run(
        &h.endpoint,
        ADMIN,
        &["playbooks", "rollback", &id.to_string()],
    )
    .await;
    assert!(format!("{:#}", r.unwrap_err()).contains("FailedPrecondition"));

    // New alerts of the same incident do not fire the playbook again.
    h.push(40, SERVER, C2, 100);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let server = h.incident(SERVER, |i| i["alerts"] == 4).await;
    assert_eq!(
        responses(&server)
            .iter()
            .filter(|r| r["action"] == "block")
            .count(),
        1
    );
    let stats = controlplane::api::system::SystemApi::control_plane_counters(&h.cp.ctx);
    let get = |n: &str| stats.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
    assert_eq!(get("playbooks.fired"), Some(2));
    assert_eq!(get("playbooks.dry_run"), Some(1));
    assert_eq!(get("playbooks.actions_ok"), Some(5));
    h.cp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_lists_shows_and_tests_playbooks_and_a_bad_reload_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let (_rx, url) = receiver().await;
    let cfg = config(dir.path(), &url);
    let file = cfg.response.playbooks_file.clone().unwrap();
    // Dry-run everywhere: test evaluates without acting.
    let mut cfg = cfg;
    cfg.response.dry_run = true;
    let h = Harness::start(cfg).await;
    h.push(10, SERVER, C2, 100);
    let server = h.incident(SERVER, |i| !responses(i).is_empty()).await;
    assert!(responses(&server).iter().all(|r| r["outcome"] == "dry_run"));
    assert!(h.blocks().await.is_empty());

    let l = h.ctl_json(VIEWER, &["playbooks", "list"]).await;
    assert_eq!(l["dry_run"], true);
    let names: Vec<&str> = l["playbooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["contain-c2", "scan-watch"]);
    let s = h
        .ctl_json(VIEWER, &["playbooks", "show", "contain-c2"])
        .await;
    assert!(
        s["toml"].as_str().unwrap().contains("ttl_secs = 3600"),
        "{s}"
    );

    let id = server["id"].as_u64().unwrap().to_string();
    let t = h
        .ctl_json(VIEWER, &["playbooks", "test", "contain-c2", &id])
        .await;
    assert_eq!(t["matched"], true, "{t}");
    assert_eq!(t["actions"].as_array().unwrap().len(), 4);
    assert!(t["actions"][0]["detail"]
        .as_str()
        .unwrap()
        .starts_with(&format!("would block {C2}")));
    let t = h
        .ctl_json(VIEWER, &["playbooks", "test", "scan-watch", &id])
        .await;
    assert_eq!(t["matched"], false);
    assert!(
        t["reasons"][0]
            .as_str()
            .unwrap()
            .contains("no sid of [200]"),
        "{t}"
    );
    let (r, _) =
        common::console::run(&h.endpoint, VIEWER, &["playbooks", "test", "nope", &id]).await;
    assert!(format!("{:#}", r.unwrap_err()).contains("NotFound"));

    // A broken file is refused with its line; the playbooks in force stay.
    std::fs::write(
        &file,
        PLAYBOOKS.replace("ttl_secs = 600", "ttl_secs = 600\nttl = 1"),
    )
    .unwrap();
    let shared = h.cp.ctx.playbooks.clone().unwrap();
    wait_for("the failed reload", || {
        shared
            .counters
            .reload_errors
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
    })
    .await;
    let l = h.ctl_json(VIEWER, &["playbooks", "list"]).await;
    assert_eq!(l["playbooks"].as_array().unwrap().len(), 2);
    let err = l["reload_error"].as_str().unwrap();
    assert!(
        err.contains("unknown field `ttl`") && err.contains("line"),
        "{err}"
    );
    // A good one is taken.
    let one = PLAYBOOKS
        .split("\n[[playbooks]]\nname = \"scan-watch\"")
        .next()
        .unwrap();
    std::fs::write(&file, one).unwrap();
    wait_for("the reload", || shared.current().len() == 1).await;
    let l = h.ctl_json(VIEWER, &["playbooks", "list"]).await;
    assert_eq!(l["reload_error"], "");
    h.cp.shutdown().await;
}

#[test]
fn a_config_with_a_bad_playbook_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), "http://127.0.0.1:9/");
    std::fs::write(
        cfg.response.playbooks_file.as_ref().unwrap(),
        PLAYBOOKS.replace("target = \"soc\"", "target = \"pager\""),
    )
    .unwrap();
    let e = cfg.validate().unwrap_err();
    assert_eq!(e.key, "playbooks");
    assert!(e.message.contains("no webhook is called \"pager\""), "{e}");
    cfg.incidents.enabled = false;
    assert!(cfg.validate().unwrap_err().message.contains("[incidents]"));
    let _ = proto::RollbackRequest::default();
}
