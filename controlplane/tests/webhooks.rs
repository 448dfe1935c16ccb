//! Webhook outputs through the real control plane (RocksDB on disk, gRPC on 127.0.0.1:0,
//! alerts through a worker ring and ingest) to a real HTTP receiver (axum on 127.0.0.1:0)
//! that can answer 200, answer 500, or hang, and to an HTTPS receiver (rustls, a
//! certificate rcgen made) trusted through the configured CA only.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use controlplane::api::auth::Role;
use controlplane::config::{ControlPlaneConfig, WebhookConfig};
use controlplane::model::Alert;
use controlplane::outputs::webhook::{signature, WebhookCounters};
use controlplane::server::ControlPlane;

use common::console::wait_for;
use common::source::{ring, Producer};
use common::tls::ca_and_server;
use common::SimAppliance;

const ADMIN: &str = "admin-token";
const VIEWER: &str = "viewer-token";
const T0: u64 = 1_700_000_000_000_000_000;

const ANSWER_OK: u8 = 0;
const ANSWER_500: u8 = 1;
const ANSWER_HANG: u8 = 2;

/// What the receiver got, and how it answers.
#[derive(Default)]
struct Receiver {
    answer: AtomicU8,
    /// Answer 500 to this many requests first, then `answer`.
    fail_first: AtomicU64,
    requests: AtomicU64,
    accepted: Mutex<Vec<(HeaderMap, serde_json::Value)>>,
}

async fn receive(
    State(r): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    r.requests.fetch_add(1, Ordering::Relaxed);
    let failing = r
        .fail_first
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    match r.answer.load(Ordering::Relaxed) {
        ANSWER_500 => return StatusCode::INTERNAL_SERVER_ERROR,
        ANSWER_HANG => {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        _ => {}
    }
    let json: serde_json::Value = serde_json::from_slice(&body).expect("the body is JSON");
    // The signature is checked here, over the bytes as received.
    let key = headers
        .get("x-osprey-signature")
        .map(|v| v.to_str().unwrap().to_owned());
    if let Some(sig) = key {
        assert_eq!(sig, signature(b"hmac-key", &body));
    }
    r.accepted.lock().unwrap().push((headers, json));
    StatusCode::OK
}

async fn receiver() -> (Arc<Receiver>, String) {
    let r = Arc::new(Receiver::default());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(r.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (r, url)
}

fn webhook(dir: &Path, url: &str, attempts: u32, timeout_ms: u64, queue: usize) -> WebhookConfig {
    let token = dir.join("token");
    let key = dir.join("hmac");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    std::fs::write(&key, "hmac-key").unwrap();
    WebhookConfig {
        name: "soc".into(),
        url: url.into(),
        alerts: true,
        incidents: true,
        timeout_ms,
        attempts,
        backoff_min_ms: 20,
        backoff_max_ms: 80,
        queue,
        ca: None,
        bearer_token_file: Some(token),
        hmac_key_file: Some(key),
    }
}

fn config(dir: &Path, hook: WebhookConfig) -> ControlPlaneConfig {
    let mut cfg = ControlPlaneConfig::default();
    cfg.api.listen = "127.0.0.1:0".parse().unwrap();
    cfg.metrics.enabled = false;
    cfg.storage.path = dir.join("db");
    cfg.incidents.home_net = vec!["192.0.2.0/24".into()];
    cfg.webhooks = vec![hook];
    cfg.auth.tokens = common::console::tokens(&[
        ("admin", Role::Admin, ADMIN),
        ("viewer", Role::Viewer, VIEWER),
    ]);
    cfg
}

async fn start(cfg: ControlPlaneConfig) -> (ControlPlane, Producer, String) {
    let sim = SimAppliance::new(&[]);
    let compiler = sim.compiler(Duration::from_millis(1));
    let (ring, source) = ring("w0", 4096);
    let cp = ControlPlane::start_with_sources(cfg, vec![source], sim, compiler)
        .await
        .unwrap();
    let endpoint = format!("http://{}", cp.grpc_addr);
    (cp, ring, endpoint)
}

fn alert(i: u64) -> Alert {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    Alert {
        ts_nanos: T0 + i * 1_000_000,
        sid: 1000 + u32::try_from(i % 3).unwrap(),
        rev: 1,
        severity: 2,
        src_ip: ip("192.0.2.10"),
        src_port: 40_000,
        dst_ip: ip("203.0.113.5"),
        dst_port: 443,
        proto: 6,
        worker: "w0".into(),
        ..Alert::default()
    }
}

fn counters(cp: &ControlPlane) -> Arc<WebhookCounters> {
    cp.ctx.webhooks.get("soc").unwrap().counters.clone()
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_and_incidents_arrive_signed_and_a_failing_receiver_gets_them_after_retries() {
    let dir = tempfile::tempdir().unwrap();
    let (rx, url) = receiver().await;
    // The first three requests fail: the first delivery needs four attempts.
    rx.fail_first.store(3, Ordering::Relaxed);
    let (cp, ring, _) = start(config(dir.path(), webhook(dir.path(), &url, 5, 2000, 64))).await;
    assert!(ring.push_alert(alert(1)));

    let accepted = |kind: &'static str| {
        let rx = rx.clone();
        move || {
            rx.accepted
                .lock()
                .unwrap()
                .iter()
                .any(|(_, j)| j["event_type"] == kind)
        }
    };
    wait_for("the alert at the receiver", accepted("alert")).await;
    wait_for("the incident at the receiver", accepted("incident")).await;
    {
        let got = rx.accepted.lock().unwrap();
        let (h, a) = got
            .iter()
            .find(|(_, j)| j["event_type"] == "alert")
            .unwrap();
        assert_eq!(a["alert"]["signature_id"], 1001);
        assert_eq!(a["src_ip"], "192.0.2.10");
        assert_eq!(h["authorization"], "Bearer s3cret-token");
        assert_eq!(h["x-osprey-event"], "alert");
        assert!(h.contains_key("x-osprey-signature"));
        let (_, i) = got
            .iter()
            .find(|(_, j)| j["event_type"] == "incident")
            .unwrap();
        assert_eq!(i["incident"]["key"]["host"], "192.0.2.10", "{i}");
    }
    let c = counters(&cp);
    assert_eq!(load(&c.failed_attempts), 3);
    assert_eq!(load(&c.dead_lettered), 0);
    // Incident changes keep arriving: wait until every request the receiver saw is answered.
    wait_for("every request answered", || {
        let delivered = load(&c.delivered);
        delivered == rx.accepted.lock().unwrap().len() as u64 && load(&rx.requests) == delivered + 3
    })
    .await;
    let stats = controlplane::api::system::SystemApi::control_plane_counters(&cp.ctx);
    assert!(stats
        .iter()
        .any(|(n, v)| n == "webhook.soc.failed_attempts" && *v == 3));
    cp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_times_out_into_dead_letters_that_ctl_lists_and_retries() {
    let dir = tempfile::tempdir().unwrap();
    let (rx, url) = receiver().await;
    rx.answer.store(ANSWER_HANG, Ordering::Relaxed);
    let mut hook = webhook(dir.path(), &url, 2, 150, 4);
    hook.incidents = false;
    let (cp, ring, endpoint) = start(config(dir.path(), hook)).await;
    let c = counters(&cp);
    assert!(ring.push_alert(alert(1)));
    wait_for("a dead letter", || load(&c.dead_lettered) == 1).await;
    assert_eq!(load(&c.timeouts), 2);

    // Meanwhile ingest stores everything while the output's queue overflows.
    for i in 2..200 {
        assert!(ring.push_alert(alert(i)));
    }
    wait_for("every alert stored", || {
        cp.ctx.store.counters.alerts_stored.load(Ordering::Relaxed) == 199
    })
    .await;
    // Stored first, then published: the drops show once the last batch is published.
    wait_for("a 4-deep queue behind a hanging receiver to drop", || {
        cp.ctx
            .events
            .consumer("webhook_soc")
            .is_some_and(|k| load(&k.dropped) > 0)
    })
    .await;

    let (r, out) = common::console::run(
        &endpoint,
        VIEWER,
        &["outputs", "deadletter", "list", "--json"],
    )
    .await;
    r.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let first = &v["dead_letters"][0];
    assert_eq!(first["webhook"], "soc");
    assert_eq!(first["kind"], "alert");
    assert_eq!(first["attempts"], 2);
    assert!(
        first["last_error"].as_str().unwrap().contains("timed out"),
        "{first}"
    );
    assert_eq!(first["body"]["alert"]["signature_id"], 1001);
    let id = first["id"].as_u64().unwrap();

    // A viewer may not retry; an admin may, and the receiver (answering again) gets it.
    let (r, _) = common::console::run(
        &endpoint,
        VIEWER,
        &["outputs", "deadletter", "retry", &id.to_string()],
    )
    .await;
    assert!(format!("{:#}", r.unwrap_err()).contains("PermissionDenied"));
    rx.answer.store(ANSWER_OK, Ordering::Relaxed);
    // Wait for the queued deliveries (dead-lettered or not) to drain first.
    let bus_dropped = || {
        cp.ctx
            .events
            .consumer("webhook_soc")
            .map_or(0, |k| load(&k.dropped))
    };
    wait_for("the queue to drain", || {
        load(&c.delivered) + load(&c.dead_lettered) + bus_dropped() >= 199
    })
    .await;
    let before = load(&c.delivered);
    let (r, out) = common::console::run(
        &endpoint,
        ADMIN,
        &["outputs", "deadletter", "retry", &id.to_string(), "--json"],
    )
    .await;
    r.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["retried"], serde_json::json!([id]));
    wait_for("the retried delivery", || load(&c.delivered) == before + 1).await;
    let (r, out) = common::console::run(
        &endpoint,
        ADMIN,
        &["outputs", "deadletter", "retry", &id.to_string(), "--json"],
    )
    .await;
    r.unwrap();
    assert!(out.contains("does not exist"), "{out}");
    let (r, out) =
        common::console::run(&endpoint, VIEWER, &["outputs", "deadletter", "list"]).await;
    r.unwrap();
    assert!(!out.contains(&format!("\n{id} ")), "{out}");
    cp.shutdown().await;
}

#[test]
fn bad_webhook_settings_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(
        dir.path(),
        webhook(dir.path(), "ftp://192.0.2.1/", 1, 10, 1),
    );
    let key = |c: &ControlPlaneConfig| c.validate().unwrap_err().key;
    assert_eq!(key(&cfg), "webhooks[0].url");
    cfg.webhooks[0].url = "http://192.0.2.1/".into();
    cfg.webhooks[0].attempts = 0;
    assert_eq!(key(&cfg), "webhooks[0].attempts");
    cfg.webhooks[0].attempts = 3;
    cfg.webhooks[0].bearer_token_file = Some(dir.path().join("missing"));
    assert_eq!(key(&cfg), "webhooks[0].bearer_token_file");
    cfg.webhooks[0].bearer_token_file = None;
    cfg.webhooks.push(cfg.webhooks[0].clone());
    assert_eq!(key(&cfg), "webhooks[1].name");
    let toml = "[[webhooks]]\nname = \"a\"\nurl = \"http://192.0.2.1/\"\nretries = 3\n";
    let e = toml::from_str::<ControlPlaneConfig>(toml).unwrap_err();
    assert!(e.to_string().contains("unknown field `retries`"), "{e}");
    assert!(e.to_string().contains("line 4"), "{e}");
}

/// An HTTPS receiver on 127.0.0.1:0 (rustls, one request per connection): its URL, its
/// CA's PEM, and the bodies it got.
fn tls_receiver() -> (String, String, Arc<Mutex<Vec<serde_json::Value>>>) {
    use std::io::{BufRead as _, Read as _, Write as _};
    let (ca, cert, key) = ca_and_server();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap(),
    );
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/hook", l.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for sock in l.incoming() {
            let Ok(sock) = sock else { continue };
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = std::io::BufReader::new(rustls::StreamOwned::new(conn, sock));
            let mut len = 0usize;
            let mut line = String::new();
            let mut ok = true;
            loop {
                line.clear();
                if tls.read_line(&mut line).unwrap_or(0) == 0 {
                    ok = false;
                    break;
                }
                let l = line.trim_end().to_ascii_lowercase();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            if !ok {
                continue; // the client refused our certificate
            }
            let mut body = vec![0; len];
            tls.read_exact(&mut body).unwrap();
            g.lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap());
            let s = tls.get_mut();
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = s.flush();
            s.conn.send_close_notify();
            let _ = s.flush();
        }
    });
    (url, ca, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_receiver_is_trusted_through_the_configured_ca_only() {
    let dir = tempfile::tempdir().unwrap();
    let (url, ca, got) = tls_receiver();
    let (other_ca, _, _) = ca_and_server();
    std::fs::write(dir.path().join("ca.pem"), ca).unwrap();
    std::fs::write(dir.path().join("other.pem"), other_ca).unwrap();
    let mut good = webhook(dir.path(), &url, 1, 2000, 16);
    good.incidents = false;
    good.ca = Some(dir.path().join("ca.pem"));
    let mut bad = good.clone();
    bad.name = "wrong-ca".into();
    bad.ca = Some(dir.path().join("other.pem"));
    let mut cfg = config(dir.path(), good);
    cfg.webhooks.push(bad);
    let (cp, ring, _) = start(cfg).await;
    assert!(ring.push_alert(alert(1)));
    let good = counters(&cp);
    let bad = cp.ctx.webhooks.get("wrong-ca").unwrap().counters.clone();
    wait_for("the HTTPS delivery", || load(&good.delivered) == 1).await;
    wait_for("the refused certificate's dead letter", || {
        load(&bad.dead_lettered) == 1
    })
    .await;
    assert_eq!(got.lock().unwrap().len(), 1);
    assert_eq!(got.lock().unwrap()[0]["alert"]["signature_id"], 1001);
    let dl = cp.ctx.store.dead_letters("wrong-ca", 0, 10).unwrap().0;
    assert!(
        dl[0].last_error.contains("certificate"),
        "{}",
        dl[0].last_error
    );
    cp.shutdown().await;
}
