//! The alerts page over a large store, timed in headless Chromium: first contentful paint and
//! the time until the table shows its first page, on a cold profile, and the REST latency
//! (p50, p99) of the queries the page makes. Ignored by default: it measures a console
//! someone started on a big store, named by `OSPREY_CONSOLE_URL` with the bearer token
//! `OSPREY_CONSOLE_TOKEN` (see `controlplane/examples/console_store.rs`):
//!
//! ```sh
//! OSPREY_CONSOLE_URL=http://127.0.0.1:8443 OSPREY_CONSOLE_TOKEN=scale-token \
//!     nice -n 19 cargo test --test console_scale -- --ignored --nocapture
//! ```
//!
//! Prints one JSON object (`OSPREY_SCALE_ROUNDS` cold loads, default 5, and 50 timed requests
//! of each query).

#[path = "common/browser.rs"]
#[allow(dead_code)] // the helpers this measurement does not need
mod browser;

use std::time::{Duration, Instant};

use browser::Browser;
use serde_json::{json, Value};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// A page to time: its path, what "drawn" means (a script returning true), and the API
/// request whose timing is reported.
struct Page {
    path: &'static str,
    drawn: &'static str,
    query: &'static str,
}

/// The alerts page: drawn when the first page of rows is.
const ALERTS: Page = Page {
    path: "/alerts",
    drawn: "return document.querySelector('#rows tr[data-id]') !== null",
    query: "/api/v1/alerts",
};

/// The overview: drawn when the storage table shows the store's status (path, horizon).
const OVERVIEW: Page = Page {
    path: "/",
    drawn: "return document.querySelector('#storage th') !== null",
    query: "/api/v1/status",
};

/// One cold load of `page`: first contentful paint, its query's end, bytes transferred.
async fn cold_load(base: &str, token: &str, page: &Page) -> Value {
    let b = Browser::start().await;
    b.goto(&format!("{base}/login")).await;
    b.js(
        "const body = new URLSearchParams({ token: arguments[0] }); \
         return fetch('/login', { method: 'POST', body, redirect: 'manual' }).then(r => r.type);",
        vec![json!(token)],
    )
    .await;
    b.goto(&format!("{base}{}", page.path)).await;
    b.until(&format!("{} drawn", page.path), page.drawn).await;
    let t = b
        .js(
            "const p = performance.getEntriesByName('first-contentful-paint')[0]; \
             const n = performance.getEntriesByType('navigation')[0]; \
             const r = performance.getEntriesByType('resource'); \
             const q = r.filter(e => e.name.includes(arguments[0])); \
             return { page: location.pathname, fcp_ms: p ? p.startTime : null, \
                      alerts_query_end_ms: q.length ? q[0].responseEnd : null, \
                      alerts_query_ms: q.length ? q[0].duration : null, \
                      transfer_bytes: n.transferSize + r.reduce((s, e) => s + e.transferSize, 0) };",
            vec![json!(page.query)],
        )
        .await;
    b.close().await;
    t
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// p50 and p99 (ms) of `GET path` over `n` requests.
async fn latency(base: &str, token: &str, path: &str, n: usize) -> Value {
    let client = reqwest::Client::new();
    let mut ms = Vec::with_capacity(n);
    let mut items = 0;
    for _ in 0..n {
        let t = Instant::now();
        let r = client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        let v: Value = r.json().await.unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        items = v["items"].as_array().map_or(0, Vec::len);
    }
    json!({ "path": path, "items": items, "p50_ms": pct(&mut ms, 0.5), "p99_ms": pct(&mut ms, 0.99) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measures a console started on a large store (OSPREY_CONSOLE_URL)"]
async fn alerts_page_over_a_large_store() {
    if !browser::available() {
        return;
    }
    let base = env("OSPREY_CONSOLE_URL");
    let token = env("OSPREY_CONSOLE_TOKEN");
    let rounds: usize = std::env::var("OSPREY_SCALE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut loads = Vec::new();
    for page in [&ALERTS, &OVERVIEW] {
        for _ in 0..rounds {
            loads.push(cold_load(&base, &token, page).await);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        - 3_600_000_000_000;
    let mut queries = Vec::new();
    for path in [
        "/api/v1/session".to_owned(),
        "/api/v1/preferences".to_owned(),
        format!("/api/v1/alerts?page_size=200&from_ns={hour_ago}"),
        "/api/v1/alerts?page_size=200".to_owned(),
        "/api/v1/alerts?page_size=200&sid=2100150".to_owned(),
        "/api/v1/alerts?page_size=200&address=192.0.2.77".to_owned(),
        "/api/v1/alerts?page_size=200&tactic=TA0007".to_owned(),
    ] {
        queries.push(latency(&base, &token, &path, 50).await);
    }
    let fcp: Vec<(String, f64)> = loads
        .iter()
        .filter_map(|l| Some((l["page"].as_str()?.to_owned(), l["fcp_ms"].as_f64()?)))
        .collect();
    println!(
        "{}",
        serde_json::to_string_pretty(
            &json!({ "cold_loads": loads, "fcp_ms": fcp, "queries": queries })
        )
        .unwrap()
    );
}
