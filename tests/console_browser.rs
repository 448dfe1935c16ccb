//! The web console in a real browser: `osprey run` looping the bundled demo capture (alerts
//! from the demo rules) with the console on 127.0.0.1:0, and headless Chromium driven over
//! WebDriver. Each step asserts what a person would see and saves a screenshot of the page
//! under `target/console-screenshots/`:
//!
//! - login with a token, then the overview: its packet counter matches `GET /api/v1/stats`
//!   and moves on its own (a live update, the page not reloaded), the generation matches;
//! - the network map draws hosts and conversations;
//! - an alert row opens its details (message, payload excerpt);
//! - a rule disabled from the rules page, then reloaded, is disabled in `GET /api/v1/rules`
//!   and the generation the page shows is the one `GET /api/v1/rules/status` reports;
//! - incidents, threat intelligence, performance and settings pages say what they show
//!   (a saved preference is read back from the API);
//! - an incident opened from the queue is acknowledged, assigned, noted and closed from the
//!   page, each change read back through the gRPC API (`osprey ctl incidents show`);
//! - a feed's indicator hits the demo's traffic, and a hit opened on the intel page shows the
//!   malware and campaign its indicator relates to, as `Related` answers;
//! - a viewer sees the mutating controls disabled, and a forced click is refused with the
//!   API's 403 message.
//!
//! It also records Chromium's first contentful paint of the overview and the alerts page and
//! the bytes of a cold load (`target/console-screenshots/timings.json`).

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::process::{Child, Stdio};
use std::time::Duration;

use browser::Browser;
use common::{osprey, sample, wait_for_addresses};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const ADMIN_TOKEN: &str = "console-test-admin-token";
const VIEWER_TOKEN: &str = "console-test-viewer-token";
/// The exploit-kit server of the demo capture, which the intel feed lists.
const EK_SERVER: &str = "45.32.238.202";

/// The appliance under test and how to reach its console and its gRPC API.
struct Appliance {
    child: Child,
    base: String,
    api: String,
    _dir: tempfile::TempDir,
}

impl Drop for Appliance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn start_appliance() -> Appliance {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("osprey.toml");
    let intel = dir.path().join("intel.json");
    std::fs::write(&intel, related_bundle(EK_SERVER)).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "[capture]\nmode = \"replay\"\npcap = {pcap:?}\nloop = true\nworkers = 1\n\
             [api]\nlisten = \"127.0.0.1:0\"\nallow_plaintext = true\n\
             [[auth.tokens]]\nname = \"admin\"\nrole = \"admin\"\nsha256 = \"{admin}\"\n\
             [[auth.tokens]]\nname = \"viewer\"\nrole = \"viewer\"\nsha256 = \"{viewer}\"\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\n\
             [console]\nenabled = true\nlisten = \"127.0.0.1:0\"\n\
             [storage]\npath = {db:?}\n\
             [eve]\nenabled = true\npath = {eve:?}\nrotate_bytes = 8000000\nkeep = 1\n\
             [[intel.feeds]]\nname = \"analyst\"\npath = {intel:?}\n\
             [rules]\nfiles = [{rules:?}]\n",
            pcap = sample("demo.pcap"),
            admin = sha(ADMIN_TOKEN),
            viewer = sha(VIEWER_TOKEN),
            db = dir.path().join("db"),
            eve = dir.path().join("eve.json"),
            intel = intel,
            rules = sample("demo.rules"),
        ),
    )
    .unwrap();
    let addr_file = dir.path().join("addr.json");
    let mut child = osprey()
        .args(["run", "--seconds", "600", "-c"])
        .arg(&cfg)
        .arg("--addr-file")
        .arg(&addr_file)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let v = wait_for_addresses(&mut child, &addr_file);
    let console = v["console"]
        .as_str()
        .unwrap_or_else(|| panic!("no console address in {v}"))
        .to_owned();
    let api = v["api"]
        .as_str()
        .unwrap_or_else(|| panic!("no API address in {v}"))
        .to_owned();
    Appliance {
        child,
        base: format!("http://{console}"),
        api: format!("http://{api}"),
        _dir: dir,
    }
}

/// `GET /api/v1/<path>` as the administrator (bearer token).
async fn api(base: &str, path: &str) -> Value {
    let res = reqwest::Client::new()
        .get(format!("{base}/api/v1/{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// `osprey ctl --json <args>` against the gRPC API as the administrator.
fn ctl(app: &Appliance, args: &[&str]) -> Value {
    let out = osprey()
        .env("OSPREY_TOKEN", ADMIN_TOKEN)
        .args(["ctl", "--endpoint", &app.api, "--json"])
        .args(args)
        .output()
        .expect("osprey ctl");
    assert!(
        out.status.success(),
        "ctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "ctl {args:?}: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn counter(list: &Value, name: &str) -> f64 {
    list.as_array()
        .and_then(|l| l.iter().find(|c| c["name"] == name))
        .and_then(|c| c["value"].as_f64())
        .unwrap_or(0.0)
}

async fn login(b: &Browser, base: &str, token: &str) {
    b.goto(&format!("{base}/")).await;
    assert!(
        b.url().await.ends_with("/login"),
        "an unauthenticated page request goes to the login page, not {}",
        b.url().await
    );
    b.find("#token").await.send_keys(token).await.unwrap();
    b.find("#sign-in").await.click().await.unwrap();
    b.until(
        "the overview after login",
        "return location.pathname === '/' && document.querySelector('nav.top') !== null",
    )
    .await;
}

/// Numbers that match the API and update without a reload.
async fn overview(b: &Browser, base: &str) {
    // The workers publish their counters every 4,096 packets: the first frame may say 0.
    let seen = b
        .until(
            "packets counted on the page",
            "const e = document.getElementById('packets-total'); \
             return e && Number(e.dataset.value) > 0 ? e.dataset.value : null;",
        )
        .await;
    let seen: f64 = seen
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("a number");
    let stats = api(base, "stats").await;
    let api_packets = counter(&stats["total"], "capture.kernel_packets");
    assert!(
        seen > 0.0 && seen <= api_packets,
        "the page shows {seen} packets, the API counted {api_packets} after it"
    );
    b.js("window.__notReloaded = true; return null;", vec![])
        .await;
    let later = b
        .until(
            "the packet counter passing the API's",
            &format!(
                "const e = document.getElementById('packets-total'); \
                 return window.__notReloaded && Number(e.dataset.value) >= {api_packets} ? e.dataset.value : null;"
            ),
        )
        .await;
    assert!(later.as_str().unwrap().parse::<f64>().unwrap() >= api_packets);
    let workers = stats["workers"].as_array().expect("workers");
    let gen = counter(&workers[0]["counters"], "detect.engine_generation");
    assert_eq!(b.value("#generation").await, gen, "ruleset generation");
    b.value("#pps-total").await;
    let banner = b.text("#stream-state").await;
    assert!(banner.starts_with("Live"), "stream banner: {banner}");
    b.until(
        "component health rows",
        "return document.querySelectorAll('#health tr').length",
    )
    .await;
    b.until(
        "the rate chart drawn from two updates",
        "const e = document.getElementById('rate-chart'); \
         return e.className === 'chart' && Number(e.dataset.points) >= 2 && e.querySelector('canvas') !== null;",
    )
    .await;
    b.screenshot("overview").await;
}

async fn network(b: &Browser, base: &str) {
    b.goto(&format!("{base}/network?range=all")).await;
    let nodes = b
        .until(
            "graph nodes",
            "return Number(document.getElementById('graph').dataset.nodes || 0)",
        )
        .await;
    let graph = api(base, "network/graph").await;
    assert_eq!(
        nodes.as_f64().unwrap() as usize,
        graph["nodes"].as_array().unwrap().len(),
        "nodes drawn and nodes the API answers"
    );
    for (query, field) in [
        ("from=5&to=5", "from"),
        ("group=printers", "group"),
        ("host=nowhere", "host"),
    ] {
        let res = reqwest::Client::new()
            .get(format!("{base}/api/v1/network/graph?{query}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{query}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_argument", "{query}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{query}: {message}");
    }
    b.screenshot("network").await;
}

async fn alerts(b: &Browser, base: &str) {
    b.goto(&format!("{base}/alerts")).await;
    b.find("#rows tr[data-id]").await;
    // One script picks and clicks the row: live alerts may redraw the table in between.
    let id = b
        .js(
            "const r = document.querySelector('#rows tr[data-id]'); r.click(); return r.dataset.id;",
            vec![],
        )
        .await;
    let id = id.as_str().expect("an alert id").to_owned();
    let shown = b.text("#detail-msg").await;
    let stored = api(base, &format!("alerts/{id}")).await;
    assert_eq!(
        shown,
        stored["msg"].as_str().unwrap(),
        "the details of alert {id}"
    );
    let payload = b.text("#detail-payload").await;
    if stored["payload"].as_str().unwrap_or("").is_empty() {
        assert_eq!(payload, "No payload recorded.");
    } else {
        assert!(
            payload.starts_with("0000  "),
            "a payload excerpt: {payload}"
        );
    }
    b.until(
        "the alert's flow looked up",
        "const e = document.getElementById('detail-flow'); return e && !e.textContent.startsWith('Looking') ? e.textContent : null;",
    )
    .await;
    b.screenshot("alerts").await;
}

/// Disables the demo's request rule from the page, reloads, and checks the API agrees.
async fn rules(b: &Browser, base: &str) {
    b.goto(&format!("{base}/rules")).await;
    let toggle = b
        .find("tr[data-rule='1:9000001'] button[data-act='disable']")
        .await;
    toggle.click().await.unwrap();
    b.until(
        "the rule shown disabled",
        "const c = document.querySelector(\"tr[data-rule='1:9000001'] td[data-enabled]\"); return c && c.dataset.enabled === 'false';",
    )
    .await;
    b.until(
        "the page saying a reload is pending",
        "return document.getElementById('ruleset-state').textContent.startsWith('Changes are waiting')",
    )
    .await;
    b.find("#reload").await.click().await.unwrap();
    let generation: f64 = b.text("#reload-generation").await.parse().unwrap();
    let status = api(base, "rules/status").await;
    assert_eq!(status["active_generation"].as_f64(), Some(generation));
    let listed = api(base, "rules?query=OSPREY%20DEMO%20HTTP%20request").await;
    let rule = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["sid"] == 9000001)
        .expect("rule 9000001 listed");
    assert_eq!(rule["enabled"], false, "{rule}");
    b.until(
        "the page saying the workers run the stored ruleset",
        "return document.getElementById('ruleset-state').textContent.startsWith('The workers run')",
    )
    .await;
    b.screenshot("rules").await;
}

/// Pages whose content depends on optional capabilities: each says in words what it shows.
async fn other_pages(b: &Browser, base: &str) {
    for (path, banner, name) in [
        ("/incidents", "#stream-state", "incidents"),
        ("/intel", "#stream-state", "intel"),
        ("/performance", "#analytics-state", "performance"),
    ] {
        b.goto(&format!("{base}{path}")).await;
        let text = b
            .until(
                &format!("{path}: a banner in words"),
                &format!(
                    "const e = document.querySelector('{banner}'); \
                     return e && !e.hidden && !/^(Reading|Waiting|Connecting)/.test(e.textContent) ? e.textContent : null;"
                ),
            )
            .await;
        assert!(!text.as_str().unwrap().trim().is_empty());
        b.screenshot(name).await;
    }
    // Reports: none stored yet says so; generating one from the page lists it, linked to its
    // document.
    b.goto(&format!("{base}/reports")).await;
    b.until(
        "reports: an empty state in words",
        "const e = document.getElementById('reports-state'); \
         return e.dataset.state === 'empty' ? e.textContent : null;",
    )
    .await;
    b.find("#generate button[type='submit']")
        .await
        .click()
        .await
        .unwrap();
    let made = b
        .until(
            "a report generated from the page",
            "const e = document.getElementById('reports-state'); \
             return e.textContent.startsWith('Report ') ? e.textContent : null;",
        )
        .await;
    let links = b
        .until(
            "the new report listed with its link",
            "const a = document.querySelectorAll('#reports a[href^=\"/api/v1/reports/\"]'); \
             return a.length ? a.length : null;",
        )
        .await;
    assert_eq!(links.as_u64(), Some(1), "{made}");
    b.screenshot("reports").await;
    b.goto(&format!("{base}/settings")).await;
    b.until(
        "preferences read",
        "return document.getElementById('prefs-state').dataset.state === 'live'",
    )
    .await;
    let field = b.find("input[name='refresh_seconds']").await;
    field.clear().await.unwrap();
    field.send_keys("7").await.unwrap();
    b.find("#save").await.click().await.unwrap();
    b.until(
        "saved",
        "return document.getElementById('prefs-state').textContent.startsWith('Saved')",
    )
    .await;
    b.screenshot("settings").await;
}

/// One workflow step from the incident panel: set the form's fields, apply, wait for the
/// page to say it is done, and return the incident as the gRPC API then has it.
async fn workflow_step(b: &Browser, app: &Appliance, id: &str, fields: &[(&str, &str)]) -> Value {
    let set: Vec<Value> = fields.iter().map(|(k, v)| json!([k, v])).collect();
    b.js(
        "const f = document.getElementById('workflow').elements; \
         for (const [k, v] of arguments[0]) f[k].value = v; \
         document.getElementById('workflow-state').textContent = ''; \
         document.querySelector('#workflow button[type=submit]').click(); return null;",
        vec![json!(set)],
    )
    .await;
    let said = b
        .until(
            "the workflow step confirmed",
            "const e = document.getElementById('workflow-state'); \
             return e.textContent.startsWith('Incident #') || e.dataset.state === 'error' ? e.textContent : null;",
        )
        .await;
    assert!(
        said.as_str()
            .unwrap()
            .starts_with(&format!("Incident #{id} ")),
        "{said}"
    );
    ctl(app, &["incidents", "show", id])["incident"].clone()
}

/// An incident opened from the queue, acknowledged, assigned, noted and closed from the
/// page; each change read back through the gRPC API (`osprey ctl`) and seen on the page.
async fn incidents_workflow(b: &Browser, app: &Appliance) {
    b.goto(&format!("{}/incidents", app.base)).await;
    b.find("#queue tr[data-id]").await;
    let id = b
        .js(
            "const r = document.querySelector('#queue tr[data-id]'); r.click(); return r.dataset.id;",
            vec![],
        )
        .await;
    let id = id.as_str().expect("an incident id").to_owned();
    b.until(
        "the incident opened",
        &format!(
            "return document.getElementById('incident-title').textContent.startsWith('#{id} ')"
        ),
    )
    .await;
    let before = ctl(app, &["incidents", "show", &id])["incident"].clone();
    assert_eq!(before["state"], "new", "{before}");

    let i = workflow_step(b, app, &id, &[("state", "acknowledged")]).await;
    assert_eq!(i["state"], "acknowledged", "{i}");
    let i = workflow_step(b, app, &id, &[("assignee", "alice")]).await;
    assert_eq!(
        (i["state"].as_str(), i["assignee"].as_str()),
        (Some("acknowledged"), Some("alice")),
        "{i}"
    );
    b.until(
        "the assignee shown",
        "return document.getElementById('incident-assignee').textContent === 'alice'",
    )
    .await;
    let note = "beacon to the exploit kit confirmed in the proxy log";
    let i = workflow_step(b, app, &id, &[("note", note)]).await;
    let notes = i["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n["text"] == note && n["who"] == "admin"),
        "{i}"
    );
    b.until(
        "the note shown",
        &format!("return [...document.querySelectorAll('#incident-notes .note-text')].some(e => e.textContent === {note:?})"),
    )
    .await;
    let i = workflow_step(b, app, &id, &[("state", "resolved")]).await;
    assert_eq!(i["state"], "resolved", "{i}");
    assert_eq!(i["assignee"], "alice", "{i}");
    b.until(
        "the state shown",
        "return document.getElementById('incident-state').textContent === 'resolved'",
    )
    .await;
    b.screenshot("incidents-workflow").await;
}

/// A STIX bundle: an indicator of `address`, the malware it indicates and the campaign
/// that uses that malware.
fn related_bundle(address: &str) -> String {
    let t = "2026-01-01T00:00:00.000Z";
    json!({
        "type": "bundle", "id": "bundle--6f1a3b8e-1111-4a4a-9b9b-000000000001",
        "objects": [
            { "type": "indicator", "spec_version": "2.1", "id": "indicator--6f1a3b8e-1111-4a4a-9b9b-000000000002",
              "created": t, "modified": t, "name": "exploit kit server", "pattern_type": "stix",
              "pattern": format!("[ipv4-addr:value = '{address}']"), "valid_from": t },
            { "type": "malware", "spec_version": "2.1", "id": "malware--6f1a3b8e-1111-4a4a-9b9b-000000000003",
              "created": t, "modified": t, "name": "CryptoWall", "is_family": true },
            { "type": "campaign", "spec_version": "2.1", "id": "campaign--6f1a3b8e-1111-4a4a-9b9b-000000000004",
              "created": t, "modified": t, "name": "Angler exploit kit wave" },
            { "type": "relationship", "spec_version": "2.1", "id": "relationship--6f1a3b8e-1111-4a4a-9b9b-000000000005",
              "created": t, "modified": t, "relationship_type": "indicates",
              "source_ref": "indicator--6f1a3b8e-1111-4a4a-9b9b-000000000002",
              "target_ref": "malware--6f1a3b8e-1111-4a4a-9b9b-000000000003" },
            { "type": "relationship", "spec_version": "2.1", "id": "relationship--6f1a3b8e-1111-4a4a-9b9b-000000000006",
              "created": t, "modified": t, "relationship_type": "uses",
              "source_ref": "campaign--6f1a3b8e-1111-4a4a-9b9b-000000000004",
              "target_ref": "malware--6f1a3b8e-1111-4a4a-9b9b-000000000003" }
        ]
    })
    .to_string()
}

/// The feed's indicator of the demo's exploit-kit server hits; a hit opened on the intel page
/// shows the malware and campaign its indicator relates to, as `Related` has them.
async fn intel_related(b: &Browser, base: &str) {
    b.goto(&format!("{base}/intel")).await;
    let hit = b
        .until(
            "a hit listed",
            "const r = document.querySelector('#recent tr[data-hit]'); if (!r) { return null; } r.click(); return r.dataset.hit;",
        )
        .await;
    let hit = hit.as_str().unwrap().to_owned();
    let names = b
        .until(
            "what relates to the hit",
            &format!(
                "const box = document.getElementById('related'); \
                 if (box.hidden || box.dataset.hit !== '{hit}') return null; \
                 return [...document.querySelectorAll('#related-objects tr[data-type]')].map(r => r.dataset.type + ':' + r.querySelector('.related-name').textContent).sort().join(',');"
            ),
        )
        .await;
    let related = api(
        base,
        &format!("intel/hits/{hit}/related?window_secs=3600&limit=50"),
    )
    .await;
    let mut want: Vec<String> = related["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "{}:{}",
                o["type"].as_str().unwrap(),
                o["name"].as_str().unwrap()
            )
        })
        .collect();
    want.sort();
    assert_eq!(names.as_str().unwrap(), want.join(","));
    assert!(want.contains(&"malware:CryptoWall".to_owned()), "{want:?}");
    assert!(
        want.contains(&"campaign:Angler exploit kit wave".to_owned()),
        "{want:?}"
    );
    b.screenshot("intel-related").await;
}

/// A viewer sees disabled controls; a forced click gets the API's refusal in words.
async fn viewer(base: &str) {
    let b = Browser::start().await;
    login(&b, base, VIEWER_TOKEN).await;
    b.goto(&format!("{base}/rules")).await;
    let toggle = b.find("tr[data-rule='1:9000002'] button[data-act]").await;
    assert_eq!(
        toggle.attr("disabled").await.unwrap().as_deref(),
        Some("true"),
        "a viewer's toggle is disabled"
    );
    assert!(
        b.js("return document.getElementById('reload').disabled", vec![])
            .await
            .as_bool()
            .unwrap(),
        "a viewer's reload button is disabled"
    );
    b.js(
        "const t = document.querySelector(\"tr[data-rule='1:9000002'] button[data-act]\"); t.disabled = false; t.click(); return null;",
        vec![],
    )
    .await;
    let refusal = b
        .until(
            "the refusal shown",
            "const e = document.getElementById('action-state'); return e && !e.hidden ? e.textContent : null;",
        )
        .await;
    let refusal = refusal.as_str().unwrap();
    assert!(
        refusal.starts_with("Refused:") && refusal.contains("viewer"),
        "{refusal}"
    );
    b.screenshot("viewer-refused").await;
    b.close().await;
}

/// First contentful paint and bytes of a cold load of one page: a fresh profile signs in
/// from the login page (which loads nothing else), then opens the page with nothing cached.
async fn timing(base: &str, path: &str) -> Value {
    let b = Browser::start().await;
    b.goto(&format!("{base}/login")).await;
    b.js(
        "const body = new URLSearchParams({ token: arguments[0] }); \
         return fetch('/login', { method: 'POST', body, redirect: 'manual' }).then(r => r.type);",
        vec![json!(ADMIN_TOKEN)],
    )
    .await;
    b.goto(&format!("{base}{path}")).await;
    b.until(
        "the page drawn",
        "return document.querySelector('nav.top') !== null",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t = b
        .js(
            "const p = performance.getEntriesByName('first-contentful-paint')[0]; \
             const n = performance.getEntriesByType('navigation')[0]; \
             const r = performance.getEntriesByType('resource'); \
             return { fcp_ms: p ? p.startTime : null, \
                      transfer_bytes: n.transferSize + r.reduce((s, e) => s + e.transferSize, 0), \
                      decoded_bytes: n.decodedBodySize + r.reduce((s, e) => s + e.decodedBodySize, 0), \
                      requests: r.length + 1 };",
            vec![],
        )
        .await;
    b.close().await;
    assert!(
        t["fcp_ms"].is_number(),
        "{path}: no first contentful paint: {t}"
    );
    json!({ "page": path, "timing": t })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_real_browser() {
    if !browser::available() {
        return;
    }
    let app = start_appliance();
    let base = app.base.clone();
    let b = Browser::start().await;
    login(&b, &base, ADMIN_TOKEN).await;
    overview(&b, &base).await;
    network(&b, &base).await;
    alerts(&b, &base).await;
    rules(&b, &base).await;
    other_pages(&b, &base).await;
    incidents_workflow(&b, &app).await;
    intel_related(&b, &base).await;
    let prefs = api(&base, "preferences").await;
    assert_eq!(prefs["refresh_seconds"], 7, "{prefs}");
    b.close().await;
    viewer(&base).await;
    let timings = json!([timing(&base, "/").await, timing(&base, "/alerts").await]);
    eprintln!("console timings: {timings}");
    std::fs::write(
        browser::screenshot_dir().join("timings.json"),
        serde_json::to_vec_pretty(&timings).unwrap(),
    )
    .unwrap();
}
