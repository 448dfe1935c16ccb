//! The web console over TLS with the API's certificate settings: certificates made with
//! rcgen for each run; the session cookie is `Secure`; a client certificate is an identity
//! with its configured role, whose mutating requests still need the CSRF token.

mod common;

use std::path::Path;
use std::time::Duration;

use controlplane::api::auth::Role;
use controlplane::config::{ClientCertConfig, ConsoleConfig, ControlPlaneConfig, TlsConfig};
use controlplane::server::ControlPlane;
use reqwest::StatusCode;
use serde_json::Value;

use common::tls::Ca;
use common::SimAppliance;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_over_tls_with_tokens_and_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server_ca = Ca::new("osprey server CA");
    let client_ca = Ca::new("osprey clients CA");
    let (scert, skey) = server_ca.leaf("osprey", &["localhost"]);
    let (acert, akey) = client_ca.leaf("alice", &[]);

    let mut cfg = ControlPlaneConfig::default();
    cfg.api.listen = "127.0.0.1:0".parse().unwrap();
    cfg.api.allow_plaintext = false;
    cfg.api.tls = Some(TlsConfig {
        cert: write(d, "server.crt", &scert),
        key: write(d, "server.key", &skey),
        client_ca: Some(write(d, "clients-ca.crt", &client_ca.pem)),
    });
    cfg.metrics.enabled = false;
    cfg.storage.path = d.join("db");
    cfg.auth.tokens = common::console::tokens(&[("watcher", Role::Viewer, "view-only")]);
    cfg.auth.clients = vec![ClientCertConfig {
        subject: "alice".into(),
        role: Role::Operator,
    }];
    cfg.console = Some(ConsoleConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ConsoleConfig::default()
    });
    let sim = SimAppliance::new(&[]);
    let compiler = sim.compiler(Duration::ZERO);
    let cp = ControlPlane::start_with_sources(cfg, vec![], sim, compiler)
        .await
        .unwrap();
    let addr = cp.console_addr.unwrap();
    let url = |p: &str| format!("https://localhost:{}{p}", addr.port());
    let root = reqwest::Certificate::from_pem(server_ca.pem.as_bytes()).unwrap();
    let client = |identity: Option<reqwest::Identity>| {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(root.clone())
            .resolve("localhost", addr)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(i) = identity {
            b = b.identity(i);
        }
        b.build().unwrap()
    };

    // Plain HTTP to the TLS port is not served.
    let plain = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/status"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != StatusCode::OK);

    // No credentials: 401; a login: a Secure cookie.
    let b = client(None);
    let r = b.get(url("/api/v1/status")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = b
        .post(url("/login"))
        .form(&[("token", "view-only")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let s: Value = b
        .get(url("/api/v1/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&s["identity"], &s["role"]),
        (&Value::from("watcher"), &Value::from("viewer"))
    );

    // A client certificate: operator alice; mutating requests need the CSRF token.
    let pem = format!("{acert}{akey}");
    let alice = client(Some(reqwest::Identity::from_pem(pem.as_bytes()).unwrap()));
    let s: Value = alice
        .get(url("/api/v1/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&s["identity"], &s["role"]),
        (&Value::from("cert:alice"), &Value::from("operator"))
    );
    let csrf = s["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(csrf.len(), 64);
    let body = serde_json::json!({ "target": "203.0.113.99", "reason": "tls test" });
    let r = alice
        .post(url("/api/v1/blocks"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = alice
        .post(url("/api/v1/blocks"))
        .header("x-csrf-token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());

    cp.request_shutdown();
    tokio::time::timeout(Duration::from_secs(30), cp.wait())
        .await
        .expect("the control plane stops");
}
