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

/// Pushes `n` alerts (seconds `from..from+n` after T0, sids cycling over 2001..=2003, half to
/// 192.0.2.10) and waits until ingest has stored them all.
async fn push_stored(h: &Harness, from: u64, n: u64) {
    let stored = || {
        h.cp.ctx
            .ingest
            .counters
            .alerts_stored
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let before = stored();
    for i in from..from + n {
        let dst = if i % 2 == 0 {
            "192.0.2.10"
        } else {
            "198.51.100.20"
        };
        h.push(i, "203.0.113.5", dst, 2001 + (i % 3) as u32);
    }
    common::console::wait_for("alerts stored", || stored() >= before + n).await;
}

/// Every GET route of the document without a path parameter answers 200 with the
/// documented shape, or 404 `failed_precondition` for a capability that is off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_get_route_answers_its_shape() {
    let h = start_with(ConsoleConfig::default(), |c| c.evidence.enabled = false).await;
    push_stored(&h, 0, 12).await;
    let (_, doc) = h.get(ADMIN, "/api/v1/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    let mut checked = 0;
    for (path, ops) in paths {
        let Some(op) = ops.get("get") else { continue };
        if path.contains('{') || path == "/api/v1/stream" {
            continue;
        }
        let (status, body) = h.get(ADMIN, path).await;
        checked += 1;
        if path == "/api/v1/evidence" {
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
            assert_eq!(body["error"]["code"], "failed_precondition");
            assert_eq!(body["error"]["message"], "evidence is not enabled");
            continue;
        }
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
        if schema["properties"]["items"].is_object() {
            assert!(body["items"].is_array(), "{path}: {body}");
            assert!(body["next_page_token"].is_string(), "{path}: {body}");
        } else {
            assert!(body.is_object(), "{path}: {body}");
        }
    }
    assert!(checked >= 17, "only {checked} GET routes");

    // The stored alerts, with proto field names; one of them by its key.
    let (_, page) = h.get(VIEWER, "/api/v1/alerts?sid=2001").await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{page}");
    let a = &items[0];
    assert_eq!(a["sid"], 2001);
    assert_eq!(a["src_ip"], "203.0.113.5");
    let key = format!("{}-{}", a["timestamp_ns"], a["id"]);
    let (s, one) = h.get(VIEWER, &format!("/api/v1/alerts/{key}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(&one, a);
    let (s, e) = h.get(VIEWER, "/api/v1/alerts/1-999999").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    assert_error(&e, "not_found");
    let (_, page) = h
        .get(VIEWER, "/api/v1/alerts?address=192.0.2.10&page_size=100")
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 6);

    // Incidents from those alerts, and one by id; a disabled capability elsewhere.
    let (_, rules) = h.get(VIEWER, "/api/v1/rules/status").await;
    assert!(rules["active_generation"].is_number(), "{rules}");
    h.stop().await;

    let h = start_with(ConsoleConfig::default(), |c| c.incidents.enabled = false).await;
    for path in [
        "/api/v1/incidents",
        "/api/v1/incidents/1",
        "/api/v1/playbooks",
    ] {
        let (s, e) = h.get(ADMIN, path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {e}");
        assert_error(&e, "failed_precondition");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_and_bad_queries() {
    let h = start().await;
    push_stored(&h, 0, 25).await;
    let mut token = String::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut pages = 0;
    loop {
        let (s, p) = h
            .get(
                VIEWER,
                &format!("/api/v1/alerts?page_size=10&page_token={token}"),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{p}");
        pages += 1;
        for a in p["items"].as_array().unwrap() {
            assert!(seen.insert(a["id"].as_u64().unwrap()), "{a} twice");
        }
        token = p["next_page_token"].as_str().unwrap().to_owned();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!((seen.len(), pages), (25, 3));
    // A range that holds 5 of them: seconds 10..15.
    let t0 = common::T0;
    let (_, p) = h
        .get(
            VIEWER,
            &format!(
                "/api/v1/alerts?from_ns={}&to_ns={}",
                t0 + 10 * common::SEC,
                t0 + 15 * common::SEC
            ),
        )
        .await;
    assert_eq!(p["items"].as_array().unwrap().len(), 5, "{p}");

    for (q, field) in [
        ("page_size=5000", "page_size"),
        ("from_ns=10&to_ns=5", "from_ns"),
        ("from_ns=yesterday", "from_ns"),
        ("to_ns=-1", "to_ns"),
        ("address=not-an-ip", "address"),
        ("page_token=zz", "page_token"),
        ("colour=red", "colour"),
    ] {
        let (s, e) = h.get(VIEWER, &format!("/api/v1/alerts?{q}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {e}");
        assert_error(&e, "invalid_argument");
        assert_eq!(e["error"]["field"], field, "{q}: {e}");
    }
    let (s, e) = h.get(VIEWER, "/api/v1/nothing-here").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error(&e, "not_found");
    // A body over api.max_request_bytes: 413 with the error body.
    let big = serde_json::json!({ "target": "198.51.100.1", "reason": "x".repeat(100_000) });
    let r = reqwest::Client::new()
        .post(h.url("/api/v1/blocks"))
        .bearer_auth(OPERATOR)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&r.json().await.unwrap(), "resource_exhausted");
    // Not JSON: 400 naming the body.
    let r = reqwest::Client::new()
        .post(h.url("/api/v1/blocks"))
        .bearer_auth(OPERATOR)
        .body("target=198.51.100.1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"].as_str().unwrap().starts_with("body:"),
        "{e}"
    );
    // The stream without a WebSocket upgrade.
    let (s, e) = h.get(VIEWER, "/api/v1/stream").await;
    assert!(s.is_client_error(), "{s}");
    assert_error(&e, "invalid_argument");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_audit_and_preferences() {
    let h = start().await;
    let rule = common::rule_text(9_000_002, "web role test");
    // A viewer may not add rules: 403, and the refusal is in the audit log.
    let (b, csrf) = h.login(VIEWER).await;
    let r = b
        .post(h.url("/api/v1/rules"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "text": rule }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_error(&r.json().await.unwrap(), "permission_denied");
    // An operator may, and disable it.
    let (b, csrf) = h.login(OPERATOR).await;
    let post = |path: &str| b.post(h.url(path)).header("x-csrf-token", &csrf);
    let r = post("/api/v1/rules")
        .json(&serde_json::json!({ "text": rule }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = post("/api/v1/rules/1/9000002/disable")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["enabled"], false);
    let r = post("/api/v1/rules")
        .json(&serde_json::json!({ "text": "alert tcp any any -> any any (sid:1;" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (s, one) = h.get(VIEWER, "/api/v1/rules/1/9000002").await;
    assert_eq!((s, &one["enabled"]), (StatusCode::OK, &Value::Bool(false)));
    // Blocks: add one on a documentation address, remove it.
    let r = post("/api/v1/blocks")
        .json(&serde_json::json!({ "target": "198.51.100.77", "reason": "web test", "ttl_secs": 600 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let added: Value = r.json().await.unwrap();
    let id = added["entry"]["id"].as_u64().unwrap();
    let r = b
        .delete(h.url(&format!("/api/v1/blocks/{id}")))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Preferences are per identity, checked, audited.
    let (s, p) = h.get(OPERATOR, "/api/v1/preferences").await;
    assert_eq!(
        (s, &p["refresh_seconds"]),
        (StatusCode::OK, &Value::from(5))
    );
    let want = serde_json::json!({ "time_zone": "Europe/Paris", "refresh_seconds": 10, "default_range": "24h" });
    let r = b
        .put(h.url("/api/v1/preferences"))
        .header("x-csrf-token", &csrf)
        .json(&want)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h.get(OPERATOR, "/api/v1/preferences").await.1, want);
    assert_eq!(
        h.get(VIEWER, "/api/v1/preferences").await.1["time_zone"],
        "local"
    );
    let r = b
        .put(h.url("/api/v1/preferences"))
        .header("x-csrf-token", &csrf)
        .json(
            &serde_json::json!({ "time_zone": "UTC", "refresh_seconds": 0, "default_range": "1h" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["field"],
        "refresh_seconds"
    );

    // The audit log (admin only) holds the refusal, the changes and the logins.
    let (s, _) = h.get(OPERATOR, "/api/v1/audit").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, log) = h.get(ADMIN, "/api/v1/audit?page_size=100").await;
    assert_eq!(s, StatusCode::OK);
    let entries = log["items"].as_array().unwrap();
    let has = |who: &str, method: &str, result: &str| {
        entries
            .iter()
            .any(|e| e["who"] == who && e["method"] == method && e["result"] == result)
    };
    assert!(
        has("viewer", "osprey.v1.RulesService/Add", "PermissionDenied"),
        "{log}"
    );
    assert!(has("operator", "osprey.v1.RulesService/Add", "ok"), "{log}");
    assert!(
        has("operator", "osprey.v1.RulesService/Disable", "ok"),
        "{log}"
    );
    assert!(has("operator", "console/Preferences", "ok"), "{log}");
    assert!(has("operator", "console/Login", "ok"), "{log}");
    h.stop().await;
}

/// The document and the router are one table: every documented operation is routed (its
/// answer is not the router's "no route"), and the documented set is the contract's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_matches_the_routes() {
    let h = start().await;
    let (_, doc) = h.get(ADMIN, "/api/v1/openapi.json").await;
    assert_eq!(doc["openapi"], "3.0.3");
    let mut documented = std::collections::BTreeSet::new();
    let client = reqwest::Client::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
            let concrete = path
                .replace("{gid}", "1")
                .replace("{sid}", "1")
                .replace("{id}", "1")
                .replace("{hit}", "1")
                .replace("{name}", "none");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // A viewer may not shut the appliance down: routed, refused, still running.
            let token = if path == "/api/v1/shutdown" {
                VIEWER
            } else {
                ADMIN
            };
            let r = client
                .request(m, h.url(&concrete))
                .bearer_auth(token)
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let unrouted = status == StatusCode::METHOD_NOT_ALLOWED
                || body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("no route"));
            assert!(
                !unrouted,
                "{method} {path} is documented but not routed: {status} {body}"
            );
        }
    }
    let contract = [
        "GET /api/v1/status",
        "GET /api/v1/stats",
        "POST /api/v1/shutdown",
        "GET /api/v1/session",
        "GET /api/v1/alerts",
        "GET /api/v1/alerts/{id}",
        "GET /api/v1/flows",
        "GET /api/v1/rules",
        "GET /api/v1/rules/{gid}/{sid}",
        "POST /api/v1/rules",
        "POST /api/v1/rules/{gid}/{sid}/enable",
        "POST /api/v1/rules/{gid}/{sid}/disable",
        "DELETE /api/v1/rules/{gid}/{sid}",
        "POST /api/v1/rules/validate",
        "POST /api/v1/rules/reload",
        "GET /api/v1/rules/status",
        "GET /api/v1/incidents",
        "GET /api/v1/incidents/{id}",
        "PATCH /api/v1/incidents/{id}",
        "GET /api/v1/intel/feeds",
        "GET /api/v1/intel/indicators",
        "GET /api/v1/intel/hits",
        "GET /api/v1/intel/stats",
        "GET /api/v1/intel/hits/{hit}/related",
        "POST /api/v1/intel/hits/{hit}/verdict",
        "POST /api/v1/intel/import",
        "GET /api/v1/intel/hunts",
        "POST /api/v1/intel/hunts",
        "GET /api/v1/intel/export",
        "GET /api/v1/blocks/{id}",
        "GET /api/v1/blocks",
        "POST /api/v1/blocks",
        "DELETE /api/v1/blocks/{id}",
        "GET /api/v1/audit",
        "GET /api/v1/playbooks",
        "POST /api/v1/playbooks/reload",
        "POST /api/v1/playbooks/rollback",
        "GET /api/v1/playbooks/{name}",
        "POST /api/v1/playbooks/{name}/test",
        "GET /api/v1/evidence",
        "POST /api/v1/evidence",
        "POST /api/v1/evidence/verify",
        "POST /api/v1/evidence/{id}/export",
        "GET /api/v1/outputs/deadletters",
        "POST /api/v1/outputs/deadletters/retry",
        "GET /api/v1/preferences",
        "PUT /api/v1/preferences",
        "GET /api/v1/reports",
        "POST /api/v1/reports",
        "GET /api/v1/reports/{id}",
        "GET /api/v1/openapi.json",
        "GET /api/v1/stream",
        "GET /api/v1/network/graph",
    ];
    let contract: std::collections::BTreeSet<String> =
        contract.iter().map(|s| s.to_string()).collect();
    assert_eq!(documented, contract);
    h.stop().await;
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket on `/api/v1/stream?{query}` with a bearer token; `small_buffer` makes the
/// client's socket buffer small so that a client that does not read backs up quickly.
async fn ws(h: &Harness, query: &str, token: &str, small_buffer: bool) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let url = format!(
        "{}/api/v1/stream?{query}",
        h.base.replace("http://", "ws://")
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let addr: std::net::SocketAddr = h.base.trim_start_matches("http://").parse().unwrap();
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    if small_buffer {
        sock.set_recv_buffer_size(4096).unwrap();
    }
    let tcp = sock.connect(addr).await.unwrap();
    let (ws, resp) =
        tokio_tungstenite::client_async(req, tokio_tungstenite::MaybeTlsStream::Plain(tcp))
            .await
            .unwrap();
    assert_eq!(resp.status(), 101);
    ws
}

/// The next JSON frame, within 20 s.
async fn next_frame(ws: &mut Ws) -> Value {
    use futures_util::StreamExt as _;
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a frame within 20 s")
            .expect("the stream is open")
            .expect("a frame");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_streams_alerts_and_stats_with_filters() {
    let h = start().await;
    let mut all = ws(&h, "topics=alerts,stats", VIEWER, false).await;
    let mut one_sid = ws(&h, "topics=alerts&sid=2002", VIEWER, false).await;
    push_stored(&h, 0, 3).await;
    let (mut alerts, mut stats) = (Vec::new(), 0);
    while alerts.len() < 3 || stats == 0 {
        let f = next_frame(&mut all).await;
        match f["topic"].as_str().unwrap() {
            "alert" => alerts.push(f["data"]["sid"].as_u64().unwrap()),
            "stats" => {
                assert!(f["data"]["control_plane"].is_array(), "{f}");
                stats += 1;
            }
            other => panic!("unexpected {other}: {f}"),
        }
    }
    assert_eq!(alerts, [2001, 2002, 2003]);
    let f = next_frame(&mut one_sid).await;
    assert_eq!(
        (&f["topic"], &f["data"]["sid"]),
        (&Value::from("alert"), &Value::from(2002))
    );
    assert!(
        f["data"]["id"].as_u64().unwrap() > 0,
        "stored alerts carry their id: {f}"
    );

    // Bad subscriptions are refused before the upgrade, with the error body.
    let r = reqwest::Client::new()
        .get(h.url("/api/v1/stream?topics=weather"))
        .bearer_auth(VIEWER)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "topics");
    let r = reqwest::Client::new()
        .get(h.url("/api/v1/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        h.cp.ctx
            .console
            .values()
            .iter()
            .find(|v| v.0 == "osprey_console_ws_clients")
            .unwrap()
            .1,
        2
    );
    h.stop().await;
}

/// A client that does not read misses events (and is told how many once it reads) while
/// another client gets every alert and ingest stores every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_websocket_client_misses_only_its_own_events() {
    const BATCH: u64 = 1000;
    const BATCHES: u64 = 30;
    let h = start_with(
        ConsoleConfig {
            ws_queue: BATCH as usize,
            ..ConsoleConfig::default()
        },
        |_| {},
    )
    .await;
    let mut fast = ws(&h, "topics=alerts", VIEWER, false).await;
    let mut slow = ws(&h, "topics=alerts", VIEWER, true).await;
    let mut got = std::collections::BTreeSet::new();
    for b in 0..BATCHES {
        push_stored(&h, b * BATCH, BATCH).await;
        while (got.len() as u64) < (b + 1) * BATCH {
            let f = next_frame(&mut fast).await;
            assert_eq!(f["topic"], "alert", "the fast client misses nothing: {f}");
            assert!(got.insert(f["data"]["id"].as_u64().unwrap()));
        }
    }
    assert_eq!(got.len() as u64, BATCH * BATCHES);
    // Now the slow one reads: what it got plus what it was told it missed is everything.
    let (mut alerts, mut missed) = (0u64, 0u64);
    while alerts + missed < BATCH * BATCHES {
        let f = next_frame(&mut slow).await;
        match f["topic"].as_str().unwrap() {
            "alert" => alerts += 1,
            "missed" => missed += f["data"]["count"].as_u64().unwrap(),
            other => panic!("unexpected {other}: {f}"),
        }
    }
    assert!(
        missed > 0,
        "the slow client missed nothing ({alerts} alerts)"
    );
    assert_eq!(alerts + missed, BATCH * BATCHES);
    let c = &h.cp.ctx.ingest.counters;
    assert_eq!(
        c.alerts_stored.load(std::sync::atomic::Ordering::Relaxed),
        BATCH * BATCHES
    );
    assert!(
        h.cp.ctx.ingest.alert_drops().iter().all(|(_, n)| *n == 0),
        "{:?}",
        h.cp.ctx.ingest.alert_drops()
    );
    let m = h.cp.ctx.console.values();
    assert_eq!(
        m.iter()
            .find(|v| v.0 == "osprey_console_ws_missed_total")
            .unwrap()
            .1,
        missed
    );
    h.stop().await;
}

/// Reports over REST: an operator generates one, anyone lists it and opens the document
/// with its own content type and the SHA-256 the description names; a viewer may not
/// generate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_generated_listed_and_opened() {
    use sha2::Digest as _;
    let h = start().await;
    push_stored(&h, 0, 12).await;
    let range = serde_json::json!({
        "from_ns": common::T0 - 3600 * common::SEC,
        "to_ns": common::T0 + 3600 * common::SEC,
        "format": "html",
    });
    let (b, csrf) = h.login(VIEWER).await;
    let r = b
        .post(h.url("/api/v1/reports"))
        .header("x-csrf-token", &csrf)
        .json(&range)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (b, csrf) = h.login(OPERATOR).await;
    let r = b
        .post(h.url("/api/v1/reports"))
        .header("x-csrf-token", &csrf)
        .json(&range)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let info: Value = r.json().await.unwrap();
    let id = info["id"].as_u64().unwrap();
    assert_eq!(info["format"], "html");
    let (s, list) = h.get(VIEWER, "/api/v1/reports").await;
    assert_eq!(s, StatusCode::OK);
    assert!(list["reports"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == id));
    let r = reqwest::Client::new()
        .get(h.url(&format!("/api/v1/reports/{id}")))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len() as u64, info["size"].as_u64().unwrap());
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&body)),
        info["sha256"].as_str().unwrap()
    );
    assert!(String::from_utf8_lossy(&body).contains("<html"));
    // An unknown report is 404 with the error body; a bad range 400.
    let (s, e) = h.get(VIEWER, "/api/v1/reports/999999").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error(&e, "not_found");
    let r = b
        .post(h.url("/api/v1/reports"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "from_ns": 10, "to_ns": 5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    h.stop().await;
}
