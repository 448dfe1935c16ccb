//! The web console's server, login and REST API against a real control plane: RocksDB on
//! disk, the console on 127.0.0.1:0, alerts through a worker ring and ingest, reqwest with a
//! cookie store as the browser. Addresses are documentation ones.

mod common;

use std::path::Path;
use std::time::Duration;

use controlplane::api::auth::Role;
use controlplane::config::{ConsoleConfig, ControlPlaneConfig};
use controlplane::server::ControlPlane;
use reqwest::StatusCode;
use serde_json::Value;

use common::source::{ring, Producer};
use common::SimAppliance;

const ADMIN: &str = "admin-token";
const OPERATOR: &str = "operator-token";
const VIEWER: &str = "viewer-token";

fn config(db: &Path, console: ConsoleConfig) -> ControlPlaneConfig {
    let mut cfg = ControlPlaneConfig::default();
    cfg.api.listen = "127.0.0.1:0".parse().unwrap();
    cfg.metrics.listen = "127.0.0.1:0".parse().unwrap();
    cfg.storage.path = db.to_path_buf();
    cfg.auth.tokens = common::console::tokens(&[
        ("admin", Role::Admin, ADMIN),
        ("operator", Role::Operator, OPERATOR),
        ("viewer", Role::Viewer, VIEWER),
    ]);
    cfg.console = Some(ConsoleConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..console
    });
    cfg
}

struct Harness {
    _dir: tempfile::TempDir,
    cp: ControlPlane,
    ring: Producer,
    base: String,
}

async fn start_with(console: ConsoleConfig, edit: impl FnOnce(&mut ControlPlaneConfig)) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir.path().join("db"), console);
    edit(&mut cfg);
    let sim = SimAppliance::new(&[]);
    let compiler = sim.compiler(Duration::from_millis(1));
    let (ring, source) = ring("w0", 65_536);
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

async fn start() -> Harness {
    start_with(ConsoleConfig::default(), |_| {}).await
}

/// A browser: cookies kept, redirects not followed (so they can be checked).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl Harness {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A browser logged in with `token`, and its CSRF token.
    async fn login(&self, token: &str) -> (reqwest::Client, String) {
        let b = browser();
        let r = b
            .post(self.url("/login"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let s: Value = b
            .get(self.url("/api/v1/session"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (b, s["csrf_token"].as_str().unwrap().to_owned())
    }

    /// GET with a bearer token: status and JSON body.
    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let r = reqwest::Client::new()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    fn push(&self, at_secs: u64, src: &str, dst: &str, sid: u32) {
        assert!(self
            .ring
            .push_alert(common::alert_at(at_secs, src, dst, sid)));
    }

    async fn stop(self) {
        self.cp.request_shutdown();
        tokio::time::timeout(Duration::from_secs(30), self.cp.wait())
            .await
            .expect("the control plane stops");
    }
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sessions_and_csrf() {
    let h = start().await;
    // Unauthenticated: pages redirect to the login page, the API answers 401 JSON.
    let b = browser();
    let r = b.get(h.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login");
    let r = b.get(h.url("/api/v1/status")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_error(&r.json().await.unwrap(), "unauthenticated");
    let r = b.get(h.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("name=\"token\""));

    // A bad token: 401 with the login page again, and no cookie.
    let r = b
        .post(h.url("/login"))
        .form(&[("token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("set-cookie").is_none());

    // A good one: 303 to / with the cookie's attributes.
    let r = b
        .post(h.url("/login"))
        .form(&[("token", OPERATOR)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("osprey_session="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plaintext: {cookie}");
    let s: Value = b
        .get(h.url("/api/v1/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["identity"], "operator");
    assert_eq!(s["role"], "operator");
    let csrf = s["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(csrf.len(), 64);
    let r = b.get(h.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let st: Value = b
        .get(h.url("/api/v1/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(st["version"].as_str().is_some(), "{st}");

    // A mutating request without the CSRF token: 403; with it, it goes through.
    let rule = common::rule_text(9_000_001, "web test");
    let r = b
        .post(h.url("/api/v1/rules/validate"))
        .json(&serde_json::json!({ "text": rule }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_error(&r.json().await.unwrap(), "permission_denied");
    let r = b
        .post(h.url("/api/v1/rules/validate"))
        .header("x-csrf-token", "00".repeat(32))
        .json(&serde_json::json!({ "text": rule }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = b
        .post(h.url("/api/v1/rules/validate"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "text": rule }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["valid"], true, "{v}");

    // A forged cookie: 401, not the anonymous or any other identity.
    let r = reqwest::Client::new()
        .get(h.url("/api/v1/status"))
        .header("cookie", format!("osprey_session={}", "ab".repeat(32)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Logout ends the session: the cookie no longer works.
    let r = b
        .post(h.url("/logout"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = b.get(h.url("/api/v1/status")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Bearer tokens need no CSRF token.
    let r = reqwest::Client::new()
        .post(h.url("/api/v1/rules/validate"))
        .bearer_auth(VIEWER)
        .json(&serde_json::json!({ "text": rule }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // The counters show it.
    let m = h.cp.ctx.console.values();
    let get = |n: &str| m.iter().find(|(k, _, _)| *k == n).unwrap().1;
    assert_eq!(get("osprey_console_logins_failed_total"), 1);
    assert!(get("osprey_console_csrf_refused_total") >= 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_are_refused() {
    let h = start_with(
        ConsoleConfig {
            session_ttl: "1s".into(),
            ..ConsoleConfig::default()
        },
        |_| {},
    )
    .await;
    let (b, _) = h.login(VIEWER).await;
    assert_eq!(
        b.get(h.url("/api/v1/stats")).send().await.unwrap().status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = b.get(h.url("/api/v1/stats")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_error(&r.json().await.unwrap(), "unauthenticated");
    let r = b.get(h.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    h.stop().await;
}
