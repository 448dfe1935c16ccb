//! The REST routes of the gRPC methods a console user acts with, against a real control
//! plane (RocksDB on disk, the console on 127.0.0.1:0, alerts and EVE records through a
//! worker ring): playbooks shown, tested, reloaded and rolled back; evidence collected,
//! exported and verified; indicators imported, hits related, judged, hunted and exported;
//! the WebSocket's intel hits carrying their stored ids; errors in the one JSON shape.
//! Addresses are documentation ones.

mod common;

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use controlplane::api::auth::Role;
use controlplane::config::{ConsoleConfig, ControlPlaneConfig};
use controlplane::server::ControlPlane;
use futures_util::StreamExt as _;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::source::{ring, Producer};
use common::SimAppliance;

const ADMIN: &str = "admin-token";
const OPERATOR: &str = "operator-token";
const VIEWER: &str = "viewer-token";
const HOST: &str = "192.0.2.3";
const C2: &str = "203.0.113.50";

const PLAYBOOKS: &str = r#"
[[playbooks]]
name = "block-c2"
[playbooks.when]
sid = [100]
[[playbooks.actions]]
action = "block"
address = "peers"
ttl_secs = 600
"#;

fn config(dir: &Path) -> ControlPlaneConfig {
    let mut cfg = ControlPlaneConfig::default();
    cfg.api.listen = "127.0.0.1:0".parse().unwrap();
    cfg.metrics.enabled = false;
    cfg.storage.path = dir.join("db");
    cfg.incidents.home_net = vec!["192.0.2.0/24".into()];
    cfg.evidence.path = dir.join("evidence");
    let file = dir.join("playbooks.toml");
    std::fs::write(&file, PLAYBOOKS).unwrap();
    cfg.response.playbooks_file = Some(file);
    cfg.auth.tokens = common::console::tokens(&[
        ("admin", Role::Admin, ADMIN),
        ("operator", Role::Operator, OPERATOR),
        ("viewer", Role::Viewer, VIEWER),
    ]);
    cfg.console = Some(ConsoleConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ConsoleConfig::default()
    });
    cfg
}

struct Harness {
    _dir: tempfile::TempDir,
    cp: ControlPlane,
    ring: Producer,
    base: String,
}

impl Harness {
    async fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let sim = SimAppliance::new(&[]);
        let compiler = sim.compiler(Duration::from_millis(1));
        let (ring, source) = ring("w0", 4096);
        let cp = ControlPlane::start_with_sources(cfg, vec![source], sim, compiler)
            .await
            .unwrap();
        let base = format!("http://{}", cp.console_addr.expect("console address"));
        Harness {
            _dir: dir,
            cp,
            ring,
            base,
        }
    }

    /// `method path` with a bearer token and a JSON body (none for GET): status and JSON.
    async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut req = reqwest::Client::new()
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(token);
        if method != Method::GET {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, token: &str, path: &str) -> Value {
        let (s, v) = self.call(token, Method::GET, path, Value::Null).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
        v
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> Value {
        let (s, v) = self.call(token, Method::POST, path, body).await;
        assert_eq!(s, StatusCode::OK, "POST {path}: {v}");
        v
    }

    async fn stop(self) {
        self.cp.request_shutdown();
        tokio::time::timeout(Duration::from_secs(30), self.cp.wait())
            .await
            .expect("the control plane stops");
    }
}

fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Waits until `GET path` answers something `ok` accepts, and returns it.
async fn until(h: &Harness, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let t = std::time::Instant::now();
    loop {
        let v = h.get(VIEWER, path).await;
        if ok(&v) {
            return v;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{path}: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playbooks_and_evidence_over_rest() {
    let h = Harness::start().await;
    for i in 0..3 {
        assert!(h.ring.push_alert(common::alert_at(10 + i, HOST, C2, 100)));
    }
    let list = until(&h, "/api/v1/incidents", |v| {
        v["items"].as_array().is_some_and(|i| !i.is_empty())
    })
    .await;
    let incident = list["items"][0]["id"].as_u64().unwrap();
    // The playbook blocked the peer.
    until(&h, &format!("/api/v1/blocks?address={C2}"), |v| {
        v["items"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;

    // Show, test (dry run: nothing done), reload (admin only), roll back (operator).
    let text = h.get(VIEWER, "/api/v1/playbooks/block-c2").await;
    assert_eq!(text["name"], "block-c2");
    assert!(
        text["toml"].as_str().unwrap().contains("sid = [100]"),
        "{text}"
    );
    let (s, e) = h
        .call(
            VIEWER,
            Method::GET,
            "/api/v1/playbooks/nothing",
            Value::Null,
        )
        .await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
    let test = h
        .post(
            VIEWER,
            "/api/v1/playbooks/block-c2/test",
            json!({ "incident_id": incident }),
        )
        .await;
    assert_eq!(test["matched"], true, "{test}");
    assert_eq!(test["actions"][0]["outcome"], "dry_run", "{test}");
    let (s, e) = h
        .call(
            OPERATOR,
            Method::POST,
            "/api/v1/playbooks/reload",
            json!({}),
        )
        .await;
    assert_error(s, &e, StatusCode::FORBIDDEN, "permission_denied");
    let reload = h.post(ADMIN, "/api/v1/playbooks/reload", json!({})).await;
    assert_eq!(reload["playbooks"], 1, "{reload}");
    let (s, e) = h
        .call(
            VIEWER,
            Method::POST,
            "/api/v1/playbooks/rollback",
            json!({ "incident_id": incident }),
        )
        .await;
    assert_error(s, &e, StatusCode::FORBIDDEN, "permission_denied");
    let rb = h
        .post(
            OPERATOR,
            "/api/v1/playbooks/rollback",
            json!({ "incident_id": incident }),
        )
        .await;
    assert_eq!(rb["removed"].as_array().unwrap().len(), 1, "{rb}");
    let block = rb["removed"][0].as_u64().unwrap();
    let (s, e) = h
        .call(
            VIEWER,
            Method::GET,
            &format!("/api/v1/blocks/{block}"),
            Value::Null,
        )
        .await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");

    // Evidence: collected for the incident, exported intact, the custody log verified.
    let got = h
        .post(
            OPERATOR,
            "/api/v1/evidence",
            json!({ "incident_id": incident }),
        )
        .await;
    let items = got["items"].as_array().unwrap();
    assert!(!items.is_empty(), "{got}");
    let item = &items[0];
    let id = item["id"].as_u64().unwrap();
    let ex = h
        .post(
            OPERATOR,
            &format!("/api/v1/evidence/{id}/export"),
            json!({ "view": true }),
        )
        .await;
    assert_eq!(ex["intact"], true);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(ex["content"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes.len() as u64, item["size"].as_u64().unwrap());
    let (s, e) = h
        .call(
            VIEWER,
            Method::POST,
            &format!("/api/v1/evidence/{id}/export"),
            json!({}),
        )
        .await;
    assert_error(s, &e, StatusCode::FORBIDDEN, "permission_denied");
    let v = h.post(VIEWER, "/api/v1/evidence/verify", json!({})).await;
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["items"].as_u64().unwrap() >= 1, "{v}");
    let (s, e) = h
        .call(
            OPERATOR,
            Method::POST,
            "/api/v1/evidence/x/export",
            json!({}),
        )
        .await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid_argument");
    assert_eq!(e["error"]["field"], "id", "{e}");
    h.stop().await;
}

/// An EVE `intel` record as a worker renders it.
fn intel_line(at_secs: u64, indicator: &str) -> String {
    let ts = vocab::calendar::eve_timestamp(common::T0 + at_secs * common::SEC);
    json!({
        "timestamp": ts, "flow_id": 7, "event_type": "intel",
        "src_ip": HOST, "src_port": 40000, "dest_ip": C2, "dest_port": 443, "proto": "TCP",
        "intel": {
            "indicator_id": indicator, "pattern": format!("[ipv4-addr:value = '{C2}']"),
            "matched_field": "dest_ip", "matched_value": C2, "confidence": 80,
            "labels": [], "source": "analyst", "related": []
        }
    })
    .to_string()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws(h: &Harness, query: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let url = format!(
        "{}/api/v1/stream?{query}",
        h.base.replace("http://", "ws://")
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {VIEWER}").parse().unwrap());
    let addr: std::net::SocketAddr = h.base.trim_start_matches("http://").parse().unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio_tungstenite::client_async(req, tokio_tungstenite::MaybeTlsStream::Plain(tcp))
        .await
        .unwrap()
        .0
}

/// The next frame of `topic`.
async fn frame(ws: &mut Ws, topic: &str) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a frame")
            .unwrap()
            .unwrap();
        let Ok(text) = m.to_text() else { continue };
        let v: Value = serde_json::from_str(text).unwrap();
        if v["topic"] == topic {
            return v;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intel_over_rest_and_hits_live_with_their_ids() {
    let h = Harness::start().await;
    let list = base64::engine::general_purpose::STANDARD.encode(format!("{C2}\n"));
    let (s, e) = h
        .call(
            VIEWER,
            Method::POST,
            "/api/v1/intel/import",
            json!({ "feed": "analyst", "content": list }),
        )
        .await;
    assert_error(s, &e, StatusCode::FORBIDDEN, "permission_denied");
    let (s, e) = h
        .call(
            OPERATOR,
            Method::POST,
            "/api/v1/intel/import",
            json!({ "content": "not base64!" }),
        )
        .await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid_argument");
    let imported = h
        .post(
            OPERATOR,
            "/api/v1/intel/import",
            json!({ "feed": "analyst", "content": list }),
        )
        .await;
    assert_eq!(imported["indicators"]["active"], 1, "{imported}");
    let ind = h.get(VIEWER, "/api/v1/intel/indicators?feed=analyst").await;
    let indicator = ind["items"][0]["id"].as_str().unwrap().to_owned();

    // A hit arrives live with the id it is stored under.
    let mut live = ws(&h, "topics=intel_hits").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.ring.push_record(intel_line(30, &indicator)));
    assert!(h.ring.push_alert(common::alert_at(31, HOST, C2, 100)));
    let f = frame(&mut live, "intel_hit").await;
    let hits = until(&h, "/api/v1/intel/hits", |v| {
        v["items"].as_array().is_some_and(|i| !i.is_empty())
    })
    .await;
    let hit = hits["items"][0]["id"].as_u64().unwrap();
    assert_ne!(hit, 0);
    assert_eq!(f["data"]["id"], hit, "{f}");
    assert_eq!(f["data"]["indicator_id"], indicator.as_str());

    // What relates to it: the alert of its hosts within the window.
    let rel = h
        .get(
            VIEWER,
            &format!("/api/v1/intel/hits/{hit}/related?window_secs=60&limit=10"),
        )
        .await;
    assert_eq!(rel["hit"]["id"], hit);
    assert_eq!(rel["alerts"].as_array().unwrap().len(), 1, "{rel}");
    let (s, e) = h
        .call(
            VIEWER,
            Method::GET,
            "/api/v1/intel/hits/1/related?window=1",
            Value::Null,
        )
        .await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid_argument");
    assert_eq!(e["error"]["field"], "window", "{e}");

    // A verdict, a hunt and the hunts, the STIX export.
    let v = h
        .post(
            OPERATOR,
            &format!("/api/v1/intel/hits/{hit}/verdict"),
            json!({ "true_positive": true }),
        )
        .await;
    assert_eq!(
        (v["hit"].as_u64(), v["true_positive"].as_bool()),
        (Some(hit), Some(true)),
        "{v}"
    );
    let run = h
        .post(
            OPERATOR,
            "/api/v1/intel/hunts",
            json!({ "feed": "analyst" }),
        )
        .await;
    assert_eq!(run["trigger"], "manual", "{run}");
    let hunts = h.get(VIEWER, "/api/v1/intel/hunts").await;
    assert!(
        hunts["hunts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == run["id"]),
        "{hunts}"
    );
    let ex = h.get(VIEWER, "/api/v1/intel/export?from_ns=0").await;
    assert_eq!(ex["sightings"], 1, "{ex}");
    let bundle = base64::engine::general_purpose::STANDARD
        .decode(ex["bundle"].as_str().unwrap())
        .unwrap();
    let bundle: Value = serde_json::from_slice(&bundle).unwrap();
    assert_eq!(bundle["type"], "bundle");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_the_json_shape() {
    let h = Harness::start().await;
    let client = reqwest::Client::new();
    // A login form without its token: 400 naming the field, not axum's plain 422.
    let r = client
        .post(format!("{}/login", h.base))
        .form(&[("user", "x")])
        .send()
        .await
        .unwrap();
    let (s, e) = (r.status(), r.json::<Value>().await.unwrap());
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid_argument");
    assert_eq!(e["error"]["field"], "token");
    // A method a route does not have; a path segment that is not UTF-8; a body that is not
    // an object; a field of the wrong type.
    let (s, e) = h
        .call(ADMIN, Method::PUT, "/api/v1/status", json!({}))
        .await;
    assert_error(s, &e, StatusCode::METHOD_NOT_ALLOWED, "not_found");
    let (s, e) = h
        .call(ADMIN, Method::GET, "/api/v1/playbooks/%FF", Value::Null)
        .await;
    assert!(s.is_client_error(), "{s}");
    assert_eq!(e["error"]["code"], "invalid_argument", "{e}");
    let (s, e) = h
        .call(ADMIN, Method::POST, "/api/v1/intel/hunts", json!([1]))
        .await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid_argument");
    let (s, e) = h
        .call(
            ADMIN,
            Method::POST,
            "/api/v1/intel/hunts",
            json!({ "since_secs": "soon" }),
        )
        .await;
    assert_error(s, &e, StatusCode::BAD_REQUEST, "invalid_argument");
    h.stop().await;
}
