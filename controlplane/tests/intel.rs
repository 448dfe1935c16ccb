//! Threat intelligence through the real gRPC server (127.0.0.1:0, RocksDB in a temp dir) and
//! `osprey ctl intel`: imports reaching every worker's real indicator table (each worker a
//! thread that takes offers from its snapshot slot and confirms them, as a worker does between
//! bursts), roles, listings, expiry, restart, metrics; and TAXII servers on 127.0.0.1 that
//! misbehave (down, 500, malformed JSON, a huge response, a page loop), each failure counted
//! by cause while the other feeds keep their indicators; confidence scores that analysts'
//! verdicts on hits retrain, explained by their features and kept across a restart.

mod common;
use common::console::wait_for;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use controlplane::api::auth::Role;
use controlplane::config::{ControlPlaneConfig, IntelFeed};
use controlplane::console as ctl;
use controlplane::proto;
use controlplane::seams::{Appliance, ApplianceStatus, StatsSnapshot};
use controlplane::server::ControlPlane;
use dataplane::intel::{IntelSlot, Table};
use dataplane::snapshot::Offer;
use tonic::Code;

const OPERATOR: &str = "operator-token";
const VIEWER: &str = "viewer-token";

/// Workers that take indicator tables from their slots between "bursts".
struct IntelWorkers {
    slots: Vec<Arc<IntelSlot>>,
    tables: Vec<Arc<Mutex<Arc<Table>>>>,
    stop: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl IntelWorkers {
    fn start(n: usize) -> Arc<IntelWorkers> {
        let w = Arc::new(IntelWorkers {
            slots: (0..n).map(|_| Arc::new(IntelSlot::new(0))).collect(),
            tables: (0..n)
                .map(|_| Arc::new(Mutex::new(Arc::new(Table::empty()))))
                .collect(),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Mutex::new(Vec::new()),
        });
        for i in 0..n {
            let (slot, table, stop) = (w.slots[i].clone(), w.tables[i].clone(), w.stop.clone());
            w.threads.lock().unwrap().push(std::thread::spawn(move || {
                let mut seen = slot.active();
                while !stop.load(Ordering::Relaxed) {
                    if slot.changed(seen) {
                        match slot.take() {
                            Offer::New(g, t) => {
                                *table.lock().unwrap() = t;
                                seen = g;
                                slot.confirm(g);
                            }
                            Offer::CatchUp(g) => seen = g,
                            Offer::None => {}
                        }
                    }
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
            }));
        }
        w
    }

    /// The feeds of the indicators `name` hits, per worker's table.
    fn domain_sources_per_worker(&self, name: &str) -> Vec<Vec<String>> {
        self.tables
            .iter()
            .map(|t| {
                let t = t.lock().unwrap().clone();
                let mut v: Vec<String> = t
                    .lookup_domain(name.as_bytes())
                    .map(|e| t.source(t.indicator(e.indicator).source).to_owned())
                    .collect();
                v.sort();
                v
            })
            .collect()
    }

    /// The feeds of the indicators `name` hits in every worker's table (the same in all).
    fn domain_sources(&self, name: &str) -> Vec<String> {
        let per_worker = self.domain_sources_per_worker(name);
        assert!(
            per_worker.windows(2).all(|w| w[0] == w[1]),
            "workers disagree: {per_worker:?}"
        );
        per_worker.into_iter().next().unwrap_or_default()
    }

    fn addr_hits(&self, a: &str) -> usize {
        let t = self.tables[0].lock().unwrap().clone();
        t.lookup_addr(a.parse().unwrap()).count()
    }

    fn join(&self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.lock().unwrap().drain(..) {
            t.join().unwrap();
        }
    }
}

impl Appliance for IntelWorkers {
    fn status(&self) -> ApplianceStatus {
        ApplianceStatus::default()
    }
    fn stats(&self) -> StatsSnapshot {
        StatsSnapshot::default()
    }
    fn shutdown(&self) {}
    fn publish_intel(&self, generation: u64, set: stix::Compiled) {
        let t = Arc::new(Table::compile(set));
        for s in &self.slots {
            s.publish(generation, t.clone());
        }
    }
    fn intel_generations(&self) -> Vec<u64> {
        self.slots.iter().map(|s| s.active()).collect()
    }
}

/// The rule compiler is not part of these tests.
struct NoCompiler;

impl controlplane::seams::RuleCompiler for NoCompiler {
    fn validate(&self, _text: &str) -> controlplane::seams::Validation {
        controlplane::seams::Validation::default()
    }
    fn compile_and_swap(
        &self,
        _generation: u64,
        _rules: &[controlplane::model::StoredRule],
    ) -> Result<controlplane::seams::ReloadOutcome, controlplane::seams::CompileError> {
        Err(controlplane::seams::CompileError::NotRunning)
    }
}

fn config(dir: &std::path::Path, feeds: Vec<IntelFeed>) -> ControlPlaneConfig {
    let mut cfg = ControlPlaneConfig::default();
    cfg.api.listen = "127.0.0.1:0".parse().unwrap();
    cfg.api.reload_confirm_timeout_ms = 5000;
    cfg.metrics.listen = "127.0.0.1:0".parse().unwrap();
    cfg.storage.path = dir.join("db");
    cfg.auth.tokens = common::console::tokens(&[
        ("ops", Role::Operator, OPERATOR),
        ("viewer", Role::Viewer, VIEWER),
    ]);
    cfg.intel.feeds = feeds;
    cfg.intel.expiry_check_ms = 50;
    cfg.intel.max_response_bytes = 64 << 10;
    cfg.intel.read_timeout_secs = 5;
    cfg
}

struct Harness {
    cp: Option<ControlPlane>,
    workers: Arc<IntelWorkers>,
    endpoint: String,
}

impl Harness {
    async fn start(cfg: ControlPlaneConfig) -> Harness {
        let workers = IntelWorkers::start(2);
        let cp = ControlPlane::start_with_sources(
            cfg,
            Vec::new(),
            workers.clone(),
            Arc::new(NoCompiler),
        )
        .await
        .unwrap();
        let endpoint = format!("http://{}", cp.grpc_addr);
        Harness {
            cp: Some(cp),
            workers,
            endpoint,
        }
    }

    async fn clients(&self, token: &str) -> ctl::Clients {
        common::console::clients(&self.endpoint, Some(token)).await
    }

    async fn ctl_json(&self, token: &str, args: &[&str]) -> serde_json::Value {
        let mut argv = vec!["--json"];
        argv.extend_from_slice(args);
        let (r, out) = common::console::run(&self.endpoint, token, &argv).await;
        assert_eq!(r.unwrap(), 0, "{args:?}: {out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    async fn feed(&self, name: &str) -> serde_json::Value {
        let f = self.ctl_json(VIEWER, &["intel", "feeds"]).await;
        f["feeds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no feed {name}: {f}"))
    }

    fn metrics(&self) -> String {
        let addr = self.cp.as_ref().unwrap().metrics_addr.unwrap();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        body
    }

    async fn stop(mut self) {
        if let Some(cp) = self.cp.take() {
            cp.shutdown().await;
        }
        self.workers.join();
    }
}

fn file_feed(name: &str, path: &std::path::Path) -> IntelFeed {
    IntelFeed {
        name: name.into(),
        path: Some(path.to_owned()),
        ..IntelFeed::default()
    }
}

fn taxii_feed(name: &str, url: String) -> IntelFeed {
    IntelFeed {
        name: name.into(),
        url: Some(url),
        poll: Some("200ms".into()),
        ..IntelFeed::default()
    }
}

fn bundle(objects: &[serde_json::Value]) -> String {
    serde_json::json!({"type": "bundle", "id": "bundle--1", "objects": objects}).to_string()
}

fn domain_indicator(id: &str, name: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut v = serde_json::json!({"type": "indicator", "spec_version": "2.1", "id": id,
        "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
        "pattern": format!("[domain-name:value = '{name}']"), "pattern_type": "stix",
        "valid_from": "2020-01-01T00:00:00Z", "confidence": 70});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_reach_every_worker_expire_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let list = d.join("local.txt");
    std::fs::write(&list, "192.0.2.7\n").unwrap();
    // A server that is down: nothing listens on a port just released.
    let down = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let feeds = vec![
        file_feed("local", &list),
        taxii_feed("down", format!("http://{down}/taxii2/")),
    ];
    let h = Harness::start(config(d, feeds.clone())).await;
    assert_eq!(
        h.workers.addr_hits("192.0.2.7"),
        1,
        "the file feed at start"
    );

    // An operator imports a bundle: every worker runs it when the answer comes.
    let file = d.join("analyst.json");
    std::fs::write(
        &file,
        bundle(&[domain_indicator(
            "indicator--a1",
            "c2.evil.example",
            serde_json::json!({}),
        )]),
    )
    .unwrap();
    let r = h
        .ctl_json(
            OPERATOR,
            &[
                "intel",
                "import",
                file.to_str().unwrap(),
                "--feed",
                "analyst",
            ],
        )
        .await;
    assert_eq!(r["indicators"]["active"], 1, "{r}");
    assert_eq!(h.workers.domain_sources("a.c2.evil.example"), ["analyst"]);
    assert_eq!(h.workers.addr_hits("192.0.2.7"), 1, "the other feeds stay");

    // Viewers read and cannot import.
    let mut viewer = h.clients(VIEWER).await;
    let e = viewer
        .intel
        .import(proto::ImportRequest {
            feed: "x".into(),
            content: b"192.0.2.1\n".to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let mut ops = h.clients(OPERATOR).await;
    let e = ops
        .intel
        .import(proto::ImportRequest {
            feed: "analyst".into(),
            content: b"{ not json".to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("not JSON"), "{}", e.message());
    let e = ops
        .intel
        .import(proto::ImportRequest {
            feed: "local".into(),
            content: b"192.0.2.1\n".to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Code::InvalidArgument,
        "a file feed takes no imports"
    );

    // Listings filter by kind, value and feed.
    let l = h
        .ctl_json(VIEWER, &["intel", "indicators", "--type", "domain-name"])
        .await;
    let ids: Vec<&str> = l["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["indicator--a1"]);
    let l = h
        .ctl_json(VIEWER, &["intel", "indicators", "--value", "192.0.2.7"])
        .await;
    assert_eq!(l["indicators"][0]["feed"], "local", "{l}");
    assert_eq!(
        l["indicators"][0]["values"][0], "ipv4-addr 192.0.2.7/32",
        "{l}"
    );

    // The down server: failures counted, retried with back-off, nothing else lost.
    wait_for("two counted failures", || {
        let m = h.metrics();
        m.contains("osprey_intel_feed_errors_total{feed=\"down\",cause=\"unreachable\"} 2")
            || m.contains("osprey_intel_feed_errors_total{feed=\"down\",cause=\"unreachable\"} 3")
    })
    .await;
    let down_feed = h.feed("down").await;
    assert!(
        down_feed["last_error"]
            .as_str()
            .unwrap()
            .starts_with("unreachable"),
        "{down_feed}"
    );
    let m = h.metrics();
    assert!(
        m.contains("osprey_intel_indicators{feed=\"analyst\",state=\"active\"} 1"),
        "{m}"
    );

    // An indicator valid for two more seconds leaves the workers' tables when it expires.
    let until = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
    let until = humantime::format_rfc3339_millis(until).to_string();
    std::fs::write(
        &file,
        bundle(&[domain_indicator(
            "indicator--short",
            "brief.example",
            serde_json::json!({"valid_until": until}),
        )]),
    )
    .unwrap();
    h.ctl_json(
        OPERATOR,
        &[
            "intel",
            "import",
            file.to_str().unwrap(),
            "--feed",
            "analyst",
        ],
    )
    .await;
    assert_eq!(h.workers.domain_sources("brief.example"), ["analyst"]);
    let t = std::time::Instant::now();
    // Workers take the new table each at their own time: wait until none has it.
    while h
        .workers
        .domain_sources_per_worker("brief.example")
        .iter()
        .any(|v| !v.is_empty())
    {
        assert!(t.elapsed().as_secs() < 10, "the expired indicator stayed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let f = h.feed("analyst").await;
    assert_eq!(
        (
            f["indicators"]["active"].as_u64(),
            f["indicators"]["expired"].as_u64()
        ),
        (Some(1), Some(1)),
        "{f}"
    );
    assert_eq!(h.workers.domain_sources("c2.evil.example"), ["analyst"]);
    let stats = h.ctl_json(VIEWER, &["intel", "stats"]).await;
    assert_eq!(stats["feeds"], 3, "{stats}");
    h.stop().await;

    // A restart brings the imported feed back from storage.
    let h = Harness::start(config(d, feeds)).await;
    assert_eq!(h.workers.domain_sources("c2.evil.example"), ["analyst"]);
    assert_eq!(h.workers.addr_hits("192.0.2.7"), 1);
    h.stop().await;
}

/// A TAXII server on 127.0.0.1 that serves an API root per path prefix, each misbehaving
/// its own way on `objects`: `/ok/`, `/e500/`, `/garbage/`, `/huge/`, `/loop/`.
fn bad_server() -> (String, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            if s.load(Ordering::Relaxed) {
                break;
            }
            let Ok(mut c) = conn else { continue };
            std::thread::spawn(move || {
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut line = String::new();
                let _ = r.read_line(&mut line);
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
                let (status, body) = answer(&path);
                let _ = write!(
                    c,
                    "HTTP/1.1 {status}\r\nContent-Type: application/taxii+json;version=2.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = c.write_all(body.as_bytes());
            });
        }
    });
    (addr, stop)
}

fn answer(path: &str) -> (&'static str, String) {
    let mode = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let rest = &path[mode.len() + 1..];
    let ok = "200 OK";
    if rest == "/" {
        return (
            ok,
            r#"{"title": "bad", "versions": ["application/taxii+json;version=2.1"]}"#.into(),
        );
    }
    if rest == "/collections/" {
        return (
            ok,
            r#"{"collections": [{"id": "c1", "title": "c", "can_read": true, "can_write": false}]}"#.into(),
        );
    }
    let ind = r#"{"type": "indicator", "spec_version": "2.1", "id": "indicator--ok1", "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", "pattern": "[ipv4-addr:value = '198.51.100.77']", "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z"}"#;
    match mode {
        "ok" => (ok, format!(r#"{{"more": false, "objects": [{ind}]}}"#)),
        "e500" => ("500 Internal Server Error", "oops".into()),
        "garbage" => (ok, r#"{"more": false, "objects": [{"type": "#.into()),
        "huge" => (
            ok,
            format!(
                r#"{{"more": false, "objects": [], "pad": "{}"}}"#,
                "x".repeat(100 << 10)
            ),
        ),
        "loop" => (
            ok,
            format!(r#"{{"more": true, "next": "1", "objects": [{ind}]}}"#),
        ),
        _ => ("404 Not Found", String::new()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_servers_are_counted_by_cause_and_never_clear_other_feeds() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, stop) = bad_server();
    let feeds = ["ok", "e500", "garbage", "huge", "loop"]
        .iter()
        .map(|m| taxii_feed(m, format!("http://{addr}/{m}/")))
        .collect();
    let h = Harness::start(config(dir.path(), feeds)).await;
    wait_for("the good feed's indicator in the workers", || {
        h.workers.addr_hits("198.51.100.77") == 1
    })
    .await;
    for (feed, cause) in [
        ("e500", "server_error"),
        ("garbage", "malformed"),
        ("huge", "too_large"),
        ("loop", "page_loop"),
    ] {
        let series = format!("osprey_intel_feed_errors_total{{feed=\"{feed}\",cause=\"{cause}\"}}");
        wait_for(&series, || h.metrics().contains(&series)).await;
    }
    let ok = h.feed("ok").await;
    assert_eq!(ok["indicators"]["active"], 1, "{ok}");
    assert!(ok["errors"].as_object().unwrap().is_empty(), "{ok}");
    // The looping feed's first pages are not kept either: a poll is all or nothing.
    assert_eq!(h.feed("loop").await["objects"], 0);
    assert_eq!(h.workers.addr_hits("198.51.100.77"), 1);
    h.stop().await;
    stop.store(true, Ordering::Relaxed);
}

/// An EVE `intel` line as a worker writes it: a hit of `indicator` (`domain`, feed `feed`).
fn intel_line(n: u64, feed: &str, indicator: &str, domain: &str) -> String {
    let v = serde_json::json!({"timestamp": "2024-01-01T00:00:01.000000+0000", "flow_id": n,
        "event_type": "intel", "src_ip": "192.0.2.10", "src_port": 40000 + n,
        "dest_ip": "198.51.100.53", "dest_port": 53, "proto": "UDP",
        "intel": {"indicator_id": indicator, "pattern": format!("[domain-name:value = '{domain}']"),
                  "matched_field": "dns.query", "matched_value": domain, "confidence": 50,
                  "labels": [], "source": feed, "related": []}});
    format!("{v}\n")
}

/// `(score, model_version, factor value of feature)` of indicator `id` as listed.
async fn scored(h: &Harness, id: &str, feature: &str) -> (u64, u64, f64) {
    let l = h
        .ctl_json(VIEWER, &["intel", "indicators", "--feed", "vendor"])
        .await;
    let i = l["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("no {id}: {l}"))
        .clone();
    let s = &i["score"];
    let f = s["factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feature"] == feature)
        .unwrap_or_else(|| panic!("no factor {feature}: {i}"));
    (
        s["score"].as_u64().unwrap(),
        s["model_version"].as_u64().unwrap(),
        f["value"].as_f64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_on_hits_retrain_the_scores_which_explain_themselves_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let vendor = d.join("vendor.json");
    std::fs::write(
        &vendor,
        bundle(&[
            domain_indicator(
                "indicator--loud",
                "loud.example",
                serde_json::json!({"confidence": 95}),
            ),
            domain_indicator(
                "indicator--quiet",
                "quiet.example",
                serde_json::json!({"confidence": 20}),
            ),
        ]),
    )
    .unwrap();
    let second = d.join("second.txt");
    std::fs::write(&second, "loud.example\n").unwrap();
    let mut feeds = vec![file_feed("vendor", &vendor), file_feed("second", &second)];
    feeds[0].reliability = Some(90);
    let cfg = config(d, feeds);
    let h = Harness::start(cfg.clone()).await;

    // The prior: the confident indicator that a second feed lists scores higher.
    let (loud0, v0, loud_feeds) = scored(&h, "indicator--loud", "feeds").await;
    let (quiet0, _, quiet_feeds) = scored(&h, "indicator--quiet", "feeds").await;
    assert_eq!(v0, 0, "the prior before any verdict");
    assert!(loud0 > quiet0 + 20, "{loud0} {quiet0}");
    assert!(
        loud_feeds > 0.0 && quiet_feeds == 0.0,
        "{loud_feeds} {quiet_feeds}"
    );

    // Hits arrive as the workers' EVE records; they count as sightings.
    let events = h.cp.as_ref().unwrap().ctx.events.clone();
    let mut lines = String::new();
    for n in 0..4 {
        lines += &intel_line(n, "vendor", "indicator--loud", "loud.example");
        lines += &intel_line(10 + n, "vendor", "indicator--quiet", "quiet.example");
    }
    events.publish(controlplane::events::Event::Records(Arc::from(
        lines.into_bytes().into_boxed_slice(),
    )));
    let intel = h.cp.as_ref().unwrap().ctx.intel.clone();
    wait_for("8 stored hits", || {
        intel.counters.hits_stored.load(Ordering::Relaxed) == 8
    })
    .await;
    assert!(scored(&h, "indicator--loud", "sightings").await.2 > 0.0);

    // Viewers cannot give verdicts; an unknown hit is refused.
    let mut viewer = h.clients(VIEWER).await;
    let e = viewer
        .intel
        .verdict(proto::VerdictRequest {
            hit: 1,
            true_positive: true,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let mut ops = h.clients(OPERATOR).await;
    let e = ops
        .intel
        .verdict(proto::VerdictRequest {
            hit: 999,
            true_positive: true,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{}", e.message());

    // The loud indicator's hits were false positives, the quiet one's true.
    let hits = h
        .ctl_json(VIEWER, &["intel", "hits", "--limit", "100"])
        .await;
    let mut last = serde_json::Value::Null;
    for hit in hits["hits"].as_array().unwrap() {
        let id = hit["id"].as_u64().unwrap().to_string();
        let v = if hit["indicator_id"] == "indicator--loud" {
            "false-positive"
        } else {
            "true-positive"
        };
        last = h.ctl_json(OPERATOR, &["intel", "verdict", &id, v]).await;
    }
    assert_eq!(last["examples"], 8, "{last}");
    assert_eq!(last["after"]["model_version"], 8, "{last}");
    let (loud1, v1, loud_verdicts) = scored(&h, "indicator--loud", "verdicts").await;
    let (quiet1, _, quiet_verdicts) = scored(&h, "indicator--quiet", "verdicts").await;
    assert_eq!(v1, 8);
    assert!(
        loud1 < loud0,
        "false positives lower it: {loud0} -> {loud1}"
    );
    assert!(
        quiet1 > quiet0,
        "true positives raise it: {quiet0} -> {quiet1}"
    );
    assert!(loud_verdicts < 0.0 && quiet_verdicts > 0.0);
    // Verdicts are counted; the model's version is a gauge.
    let m = h.metrics();
    assert!(m.contains("osprey_intel_verdicts 8"), "{m}");
    assert!(m.contains("osprey_intel_score_model_version 8"), "{m}");
    // A second verdict on a hit replaces the first: still eight examples.
    let again = h
        .ctl_json(OPERATOR, &["intel", "verdict", "1", "true-positive"])
        .await;
    assert_eq!(again["examples"], 8, "{again}");
    assert_eq!(again["after"]["model_version"], 9, "{again}");
    let table = common::console::run(&h.endpoint, VIEWER, &["intel", "indicators"])
        .await
        .1;
    assert!(
        table.contains("SCORE") && table.contains("verdicts"),
        "{table}"
    );

    // The model, the verdicts and the sightings survive a restart.
    let before = scored(&h, "indicator--loud", "verdicts").await;
    drop((intel, events));
    h.stop().await;
    let h = Harness::start(cfg).await;
    assert_eq!(scored(&h, "indicator--loud", "verdicts").await, before);
    h.stop().await;
}

/// EVE `dns`, `tls` and `http` lines as the workers write them, at `secs` after
/// 2024-01-01T00:00:00Z.
fn metadata_lines(secs: u64) -> String {
    let ts = |s: u64| format!("2024-01-01T00:{:02}:{:02}.000000+0000", s / 60, s % 60);
    let dns = serde_json::json!({"timestamp": ts(secs), "flow_id": 101, "event_type": "dns",
        "src_ip": "192.0.2.10", "src_port": 40001, "dest_ip": "198.51.100.53", "dest_port": 53,
        "proto": "UDP", "dns": {"type": "request", "queries": [{"rrname": "c2.evil.example", "rrtype": "A"}]}});
    let tls = serde_json::json!({"timestamp": ts(secs + 1), "flow_id": 102, "event_type": "tls",
        "src_ip": "192.0.2.10", "src_port": 40002, "dest_ip": "198.51.100.80", "dest_port": 443,
        "proto": "TCP", "tls": {"sni": "www.good.example", "fingerprint": "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd"}});
    let http = serde_json::json!({"timestamp": ts(secs + 2), "flow_id": 103, "event_type": "http",
        "src_ip": "192.0.2.11", "src_port": 40003, "dest_ip": "198.51.100.81", "dest_port": 80,
        "proto": "TCP", "http": {"hostname": "files.example", "url": "/payload.bin"}});
    format!("{dns}\n{tls}\n{http}\n")
}

fn flow(flow_id: u64, secs: u64, dst: &str) -> controlplane::model::FlowRecord {
    let start = 1_704_067_200_000_000_000 + secs * 1_000_000_000;
    controlplane::model::FlowRecord {
        flow_id,
        src_ip: "192.0.2.12".parse().unwrap(),
        src_port: 40004,
        dst_ip: dst.parse().unwrap(),
        dst_port: 8443,
        proto: 6,
        pkts_toserver: 1,
        pkts_toclient: 1,
        bytes_toserver: 60,
        bytes_toclient: 60,
        start_nanos: start,
        end_nanos: start + 1_000_000_000,
        state: Default::default(),
        reason: Default::default(),
        app_proto: String::new(),
        alerted: false,
        worker: "w0".into(),
        eve: String::new(),
    }
}

fn indicator(id: &str, pattern: &str) -> serde_json::Value {
    serde_json::json!({"type": "indicator", "spec_version": "2.1", "id": id,
        "created": "2026-12-01T00:00:00.000Z", "modified": "2026-12-01T00:00:00.000Z",
        "pattern": pattern, "pattern_type": "stix", "valid_from": "2026-12-01T00:00:00Z",
        "confidence": 60})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indicators_that_arrive_after_the_traffic_are_hunted_for_in_stored_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(config(dir.path(), Vec::new())).await;
    let ctx = h.cp.as_ref().unwrap().ctx.clone();

    // Traffic first: the workers' records and two stored flows, in 2024.
    ctx.events
        .publish(controlplane::events::Event::Records(Arc::from(
            metadata_lines(10).into_bytes().into_boxed_slice(),
        )));
    for (id, dst) in [(104, "203.0.113.9"), (105, "203.0.113.200")] {
        ctx.events
            .publish(controlplane::events::Event::Flow(Arc::new(flow(
                id, 20, dst,
            ))));
    }
    let indexed = ctx.intel.index_counters.clone();
    wait_for("5 metadata records", || {
        indexed.records.load(Ordering::Relaxed) == 5
    })
    .await;
    let stats = h.ctl_json(VIEWER, &["intel", "stats"]).await;
    assert!(
        stats["metadata_index_bytes"].as_u64().unwrap() > 0,
        "{stats}"
    );

    // Indicators published in December 2026, whose values the traffic had.
    let objects = [
        indicator("indicator--c2", "[domain-name:value = 'evil.example']"),
        indicator(
            "indicator--cert",
            "[x509-certificate:hashes.'SHA-1' = 'AABBCCDDEEFF00112233445566778899AABBCCDD']",
        ),
        indicator(
            "indicator--url",
            "[url:value = 'http://files.example/payload.bin']",
        ),
        indicator("indicator--net", "[ipv4-addr:value = '203.0.113.0/28']"),
        indicator("indicator--none", "[domain-name:value = 'never.example']"),
    ];
    let file = dir.path().join("late.json");
    std::fs::write(&file, bundle(&objects)).unwrap();
    h.ctl_json(OPERATOR, &["intel", "import", file.to_str().unwrap()])
        .await;

    let found = || async {
        h.ctl_json(VIEWER, &["intel", "hits", "--retro"]).await["hits"]
            .as_array()
            .unwrap()
            .clone()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut hits = found().await;
    while hits.len() < 4 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        hits = found().await;
    }
    let mut got: Vec<(String, String, String, u64, u64)> = hits
        .iter()
        .map(|x| {
            assert_eq!(x["retro"], true, "{x}");
            (
                x["indicator_id"].as_str().unwrap().to_owned(),
                x["matched_field"].as_str().unwrap().to_owned(),
                x["matched_value"].as_str().unwrap().to_owned(),
                x["flow_id"].as_u64().unwrap(),
                x["ts_nanos"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    let at = |s: u64| 1_704_067_200_000_000_000 + s * 1_000_000_000;
    let s = |x: &str| x.to_owned();
    assert_eq!(
        got,
        [
            (
                s("indicator--c2"),
                s("dns.query"),
                s("c2.evil.example"),
                101,
                at(10)
            ),
            (
                s("indicator--cert"),
                s("tls.cert_fingerprint"),
                s("aabbccddeeff00112233445566778899aabbccdd"),
                102,
                at(11)
            ),
            (
                s("indicator--net"),
                s("dest_ip"),
                s("203.0.113.9"),
                104,
                at(20)
            ),
            (
                s("indicator--url"),
                s("http.url"),
                s("http://files.example/payload.bin"),
                103,
                at(12)
            ),
        ],
        "the flow to 203.0.113.200 is outside the /28; never.example was not seen"
    );
    // Without `--retro` every hit is listed, these among them.
    let all = h.ctl_json(VIEWER, &["intel", "hits"]).await;
    assert_eq!(all["hits"].as_array().unwrap().len(), 4);
    let eve: serde_json::Value = {
        let mut c = h.clients(VIEWER).await;
        let r = c
            .intel
            .list_hits(proto::ListHitsRequest {
                retro: true,
                indicator_id: "indicator--c2".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        serde_json::from_str(&r.hits[0].eve).unwrap()
    };
    assert_eq!(eve["event_type"], "intel");
    assert_eq!(eve["intel"]["retro"], true);
    assert_eq!(eve["timestamp"], "2024-01-01T00:00:10.000000+0000");
    assert_eq!(eve["src_ip"], "192.0.2.10");

    // Counted per feed, with the hunts.
    let feed = h.feed("import").await;
    assert_eq!(
        (feed["retro_findings"].as_u64(), feed["hits"].as_u64()),
        (Some(4), Some(4))
    );
    let m = h.metrics();
    assert!(
        m.contains("osprey_intel_retro_findings_total{feed=\"import\"} 4"),
        "{m}"
    );
    assert!(m.contains("osprey_intel_hunt_findings 4"), "{m}");

    // Asked for again: the same matches, reported once.
    let again = h.ctl_json(OPERATOR, &["intel", "hunt"]).await;
    assert_eq!(
        (again["findings"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(4)),
        "{again}"
    );
    assert_eq!(again["indicators"], 5, "{again}");
    let none = h
        .ctl_json(
            OPERATOR,
            &["intel", "hunt", "--indicator", "indicator--none"],
        )
        .await;
    assert_eq!(
        (none["indicators"].as_u64(), none["matches"].as_u64()),
        (Some(1), Some(0)),
        "{none}"
    );
    // Only records within 5 s of the newest (at 20 s): the flow, not the DNS query.
    let recent = h
        .ctl_json(OPERATOR, &["intel", "hunt", "--since", "5s"])
        .await;
    assert_eq!(recent["matches"], 1, "{recent}");
    let list = h.ctl_json(VIEWER, &["intel", "hunt", "--list"]).await;
    let triggers: Vec<&str> = list["hunts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(triggers, ["manual", "manual", "manual", "import"], "{list}");
    let table = common::console::run(&h.endpoint, VIEWER, &["intel", "hits", "--retro"])
        .await
        .1;
    assert!(
        table.contains("retro") && table.contains("c2.evil.example"),
        "{table}"
    );

    // Viewers cannot hunt.
    let mut viewer = h.clients(VIEWER).await;
    let e = viewer
        .intel
        .hunt(proto::HuntRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    h.stop().await;
}

fn object(kind: &str, id: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut v = serde_json::json!({"type": kind, "spec_version": "2.1", "id": id,
        "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z"});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn relationship(n: u32, kind: &str, from: &str, to: &str) -> serde_json::Value {
    object(
        "relationship",
        &format!("relationship--{n}"),
        serde_json::json!({"relationship_type": kind, "source_ref": from, "target_ref": to}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hit_answers_what_else_is_related_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(config(dir.path(), Vec::new())).await;
    let ctx = h.cp.as_ref().unwrap().ctx.clone();
    // indicator a → malware ← indicator b; campaign uses the malware, attributed to an
    // intrusion set; indicator c relates to nothing.
    let objects = [
        domain_indicator("indicator--a", "evil.example", serde_json::json!({})),
        domain_indicator("indicator--b", "evil2.example", serde_json::json!({})),
        domain_indicator("indicator--c", "other.example", serde_json::json!({})),
        object(
            "malware",
            "malware--m",
            serde_json::json!({"name": "Evil RAT", "is_family": true}),
        ),
        object(
            "campaign",
            "campaign--c",
            serde_json::json!({"name": "Night Owl"}),
        ),
        object(
            "intrusion-set",
            "intrusion-set--i",
            serde_json::json!({"name": "APT Example"}),
        ),
        relationship(1, "indicates", "indicator--a", "malware--m"),
        relationship(2, "indicates", "indicator--b", "malware--m"),
        relationship(3, "uses", "campaign--c", "malware--m"),
        relationship(4, "attributed-to", "campaign--c", "intrusion-set--i"),
    ];
    let file = dir.path().join("rel.json");
    std::fs::write(&file, bundle(&objects)).unwrap();
    h.ctl_json(OPERATOR, &["intel", "import", file.to_str().unwrap()])
        .await;

    // Hits at 2024-01-01T00:00:01: two of host 192.0.2.10, one of another host.
    let mut lines = intel_line(1, "import", "indicator--a", "c2.evil.example");
    lines += &intel_line(2, "import", "indicator--c", "x.other.example");
    lines += &intel_line(3, "import", "indicator--b", "evil2.example")
        .replace("192.0.2.10", "192.0.2.99")
        .replace("198.51.100.53", "198.51.100.99");
    ctx.events
        .publish(controlplane::events::Event::Records(Arc::from(
            lines.into_bytes().into_boxed_slice(),
        )));
    let intel = ctx.intel.clone();
    wait_for("3 hits", || {
        intel.counters.hits_stored.load(Ordering::Relaxed) == 3
    })
    .await;
    // Alerts and flows around it (the hit is 4,067,201 s after common::T0).
    let at = 4_067_201;
    let mut alerts = vec![
        common::alert_at(at - 600, "192.0.2.10", "203.0.113.5", 1001),
        common::alert_at(at + 60, "203.0.113.6", "198.51.100.53", 1002),
        common::alert_at(at + 7200, "192.0.2.10", "203.0.113.5", 1003),
        common::alert_at(at, "192.0.2.77", "203.0.113.5", 1004),
    ];
    ctx.store.append_alerts(&mut alerts).unwrap();
    let near = |secs: u64, src: &str| controlplane::model::FlowRecord {
        flow_id: secs,
        src_ip: src.parse().unwrap(),
        dst_ip: "203.0.113.5".parse().unwrap(),
        start_nanos: (1_704_067_201 + secs - 300) * 1_000_000_000,
        end_nanos: (1_704_067_201 + secs - 290) * 1_000_000_000,
        ..flow(0, 0, "203.0.113.5")
    };
    ctx.store
        .append_flows(&[
            near(0, "192.0.2.10"),
            near(5000, "192.0.2.10"),
            near(0, "192.0.2.77"),
        ])
        .unwrap();

    let hits = h
        .ctl_json(VIEWER, &["intel", "hits", "--indicator", "indicator--a"])
        .await;
    let id = hits["hits"][0]["id"].as_u64().unwrap().to_string();
    let r = h.ctl_json(VIEWER, &["intel", "related", &id]).await;
    let sids: Vec<u64> = r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["sid"].as_u64().unwrap())
        .collect();
    assert_eq!(sids, [1001, 1002], "its hosts' alerts within the hour: {r}");
    let flows: Vec<u64> = r["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flow_id"].as_u64().unwrap())
        .collect();
    assert_eq!(flows, [0], "{r}");
    let other: Vec<&str> = r["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["indicator_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        other,
        ["indicator--c"],
        "the same host's other hit, not the other host's: {r}"
    );
    let mut objects: Vec<(&str, &str)> = r["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["type"].as_str().unwrap(), o["name"].as_str().unwrap()))
        .collect();
    objects.sort();
    assert_eq!(
        objects,
        [
            ("campaign", "Night Owl"),
            ("intrusion-set", "APT Example"),
            ("malware", "Evil RAT")
        ],
        "{r}"
    );
    let via: Vec<(&str, Vec<&str>)> = r["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let v = i["via"].as_array().unwrap();
            (
                i["id"].as_str().unwrap(),
                v.iter().map(|x| x.as_str().unwrap()).collect(),
            )
        })
        .collect();
    assert_eq!(
        via,
        [(
            "indicator--b",
            vec!["campaign--c", "intrusion-set--i", "malware--m"]
        )],
        "b relates to the same objects, c to none: {r}"
    );
    // A wider window takes the alert two hours later too; an unknown hit is NOT_FOUND.
    let wide = h
        .ctl_json(VIEWER, &["intel", "related", &id, "--window", "3h"])
        .await;
    assert_eq!(wide["alerts"].as_array().unwrap().len(), 3, "{wide}");
    let text = common::console::run(&h.endpoint, VIEWER, &["intel", "related", &id])
        .await
        .1;
    assert!(
        text.contains("Evil RAT") && text.contains("alerts (2)"),
        "{text}"
    );
    let mut c = h.clients(VIEWER).await;
    let e = c
        .intel
        .related(proto::RelatedRequest {
            hit: 999,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // The same range exported as STIX, read back by the stix crate: the appliance's
    // identity, a sighting per indicator hit, an observed-data per alert.
    let out = dir.path().join("export.json");
    let (from, to) = ("1704060000", "1704070000");
    let summary = h
        .ctl_json(
            VIEWER,
            &[
                "intel",
                "export",
                "--from",
                from,
                "--to",
                to,
                "-o",
                out.to_str().unwrap(),
            ],
        )
        .await;
    assert_eq!(
        (summary["sightings"].as_u64(), summary["alerts"].as_u64()),
        (Some(3), Some(3)),
        "{summary}"
    );
    let b = stix::Bundle::from_json(&std::fs::read(&out).unwrap()).unwrap();
    let ids: std::collections::HashSet<&str> = b.objects.iter().map(|o| o.id()).collect();
    let me = b
        .objects
        .iter()
        .find(|o| o.kind() == "identity")
        .expect("the appliance's identity");
    let mut sighted = Vec::new();
    let mut observed = 0;
    for o in &b.objects {
        match o {
            stix::Object::Malformed { error, .. } => panic!("malformed: {error}"),
            stix::Object::Sighting(s) => {
                assert_eq!(s.where_sighted_refs, [me.id()]);
                sighted.push((s.sighting_of_ref.clone(), s.count));
            }
            stix::Object::Other(v) if v["type"] == "observed-data" => {
                observed += 1;
                for r in v["object_refs"].as_array().unwrap() {
                    assert!(ids.contains(r.as_str().unwrap()), "{r} is in the bundle");
                }
                assert!(v["x_osprey_alert"]["sid"].as_u64().is_some());
            }
            _ => {}
        }
    }
    sighted.sort();
    assert_eq!(
        sighted,
        [
            ("indicator--a".to_string(), Some(1)),
            ("indicator--b".to_string(), Some(1)),
            ("indicator--c".to_string(), Some(1))
        ]
    );
    assert_eq!(observed, 3, "the alerts of the range (1003 is after it)");
    h.stop().await;
}

/// The alerts stored with `sid`, oldest first.
async fn alerts_of(h: &Harness, sid: u32) -> Vec<serde_json::Value> {
    let sid = sid.to_string();
    let a = h
        .ctl_json(
            VIEWER,
            &[
                "alerts",
                "query",
                "--sid",
                &sid,
                "--since",
                "0",
                "--oldest-first",
            ],
        )
        .await;
    a["alerts"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retro_findings_raise_alerts_at_the_original_time_unless_configured_off() {
    for alert in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path(), Vec::new());
        cfg.intel.alert_sid = Some(9_100_017);
        cfg.intel.hunt.alert = alert;
        let h = Harness::start(cfg).await;
        let ctx = h.cp.as_ref().unwrap().ctx.clone();
        ctx.events
            .publish(controlplane::events::Event::Records(Arc::from(
                metadata_lines(10).into_bytes().into_boxed_slice(),
            )));
        let indexed = ctx.intel.index_counters.clone();
        wait_for("3 metadata records", || {
            indexed.records.load(Ordering::Relaxed) == 3
        })
        .await;
        let file = dir.path().join("late.json");
        let objects = [indicator(
            "indicator--c2",
            "[domain-name:value = 'evil.example']",
        )];
        std::fs::write(&file, bundle(&objects)).unwrap();
        h.ctl_json(OPERATOR, &["intel", "import", file.to_str().unwrap()])
            .await;
        let intel = ctx.intel.clone();
        wait_for("the finding", || {
            intel.hunt_counters.findings.load(Ordering::Relaxed) == 1
        })
        .await;
        if !alert {
            // Give ingest the time it would take, then expect nothing.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            assert!(alerts_of(&h, 9_100_017).await.is_empty());
            assert_eq!(intel.counters.alerts_raised.load(Ordering::Relaxed), 0);
            h.stop().await;
            continue;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut alerts = alerts_of(&h, 9_100_017).await;
        while alerts.is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            alerts = alerts_of(&h, 9_100_017).await;
        }
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let a = &alerts[0];
        // The DNS query's time (2024-01-01T00:00:10Z) and flow, not the hunt's.
        assert_eq!(a["timestamp_ns"], 1_704_067_210_000_000_000u64, "{a}");
        assert_eq!(
            (a["flow_id"].as_u64(), a["src_ip"].as_str()),
            (Some(101), Some("192.0.2.10"))
        );
        assert!(
            a["msg"].as_str().unwrap().starts_with("OSPREY INTEL RETRO"),
            "{a}"
        );
        assert_eq!(a["eve"]["retro"], true, "{a}");
        assert_eq!(a["eve"]["event_type"], "alert", "{a}");
        assert_eq!(a["eve"]["alert"]["signature_id"], 9_100_017, "{a}");
        assert_eq!(a["eve"]["intel"]["indicator_id"], "indicator--c2", "{a}");
        assert_eq!(a["eve"]["intel"]["matched_value"], "c2.evil.example", "{a}");
        assert_eq!(intel.counters.alerts_raised.load(Ordering::Relaxed), 1);
        h.stop().await;
    }
}

#[allow(dead_code)]
#[path = "../../tests/intel/medallion.rs"]
mod medallion;

/// The sightings (and identities) in the medallion collection, read back with the TAXII
/// client the appliance polls feeds with.
async fn collection_objects(server: &medallion::Medallion) -> Vec<serde_json::Value> {
    use controlplane::intel::taxii::Client;
    let feed = IntelFeed {
        name: "read-back".into(),
        url: Some(server.url()),
        collection: Some(medallion::COLLECTION.into()),
        auth: Some(sharing_auth()),
        ..IntelFeed::default()
    };
    let c = Client::new(&feed, std::time::Duration::from_secs(30), 16 << 20).unwrap();
    let root = c.api_root().await.unwrap();
    let coll = c.collection(&root).await.unwrap();
    c.objects(&root, &coll, None).await.unwrap().objects
}

fn sharing_auth() -> controlplane::config::IntelAuth {
    controlplane::config::IntelAuth {
        username: Some(medallion::USER.into()),
        password: Some(medallion::PASSWORD.into()),
        ..Default::default()
    }
}

/// `indicator -> summed count` of the collection's sightings, and the identities.
fn sighted(objects: &[serde_json::Value]) -> (BTreeMap<String, u64>, Vec<serde_json::Value>) {
    let mut by = BTreeMap::new();
    let mut who = Vec::new();
    for o in objects {
        match o["type"].as_str() {
            Some("sighting") => {
                *by.entry(o["sighting_of_ref"].as_str().unwrap().to_owned())
                    .or_default() += o["count"].as_u64().unwrap();
            }
            Some("identity") => who.push(o.clone()),
            t => panic!("unexpected {t:?}: {o}"),
        }
    }
    (by, who)
}

fn hits_of(feed: &str, plan: &[(&str, u64)]) -> Arc<[u8]> {
    let mut lines = String::new();
    for (n, (ind, at)) in plan.iter().enumerate() {
        let mut l: serde_json::Value =
            serde_json::from_str(&intel_line(n as u64, feed, ind, "shared.example")).unwrap();
        l["timestamp"] = format!("2024-01-01T00:00:{at:02}.000000+0000").into();
        lines += &format!("{l}\n");
    }
    Arc::from(lines.into_bytes().into_boxed_slice())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sightings_are_posted_to_taxii_retried_when_it_is_down_and_never_twice() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(mut server) = medallion::Medallion::start(d, &[], 100) else {
        return;
    };
    let mut cfg = config(d, Vec::new());
    cfg.intel.sharing = Some(controlplane::config::SharingConfig {
        url: server.url(),
        collection: Some(medallion::COLLECTION.into()),
        auth: Some(sharing_auth()),
        interval: "200ms".into(),
        batch_size: 2,
        ..Default::default()
    });
    let h = Harness::start(cfg.clone()).await;
    let intel = h.cp.as_ref().unwrap().ctx.intel.clone();
    let events = h.cp.as_ref().unwrap().ctx.events.clone();
    let c = |i: &controlplane::intel::Intel| {
        let s = i.sharing.as_ref().unwrap();
        (
            s.counters.hits_posted.load(Ordering::Relaxed),
            s.counters.failures.load(Ordering::Relaxed),
        )
    };

    // Six hits of three indicators: sightings with their counts and times.
    let plan = [
        ("indicator--a", 1),
        ("indicator--b", 2),
        ("indicator--a", 3),
        ("indicator--b", 4),
        ("indicator--a", 5),
        ("indicator--c", 6),
    ];
    events.publish(controlplane::events::Event::Records(hits_of(
        "vendor", &plan,
    )));
    wait_for("six hits posted", || c(&intel).0 == 6).await;
    let objects = collection_objects(&server).await;
    let (by, who) = sighted(&objects);
    let want = |v: &[(&str, u64)]| -> BTreeMap<String, u64> {
        v.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    };
    assert_eq!(
        by,
        want(&[
            ("indicator--a", 3),
            ("indicator--b", 2),
            ("indicator--c", 1)
        ])
    );
    assert_eq!(who.len(), 1, "the identity, once: {who:?}");
    assert_eq!(who[0]["identity_class"], "system");
    for s in objects.iter().filter(|o| o["type"] == "sighting") {
        assert_eq!(
            s["where_sighted_refs"],
            serde_json::json!([who[0]["id"]]),
            "{s}"
        );
        assert_eq!(s["created_by_ref"], who[0]["id"], "{s}");
        if s["sighting_of_ref"] == "indicator--a" && s["count"] == 3 {
            assert_eq!(s["first_seen"], "2024-01-01T00:00:01.000Z");
            assert_eq!(s["last_seen"], "2024-01-01T00:00:05.000Z");
        }
        let parsed: stix::Object = serde_json::from_value(s.clone()).unwrap();
        assert!(matches!(parsed, stix::Object::Sighting(_)));
    }
    let status = h.ctl_json(VIEWER, &["intel", "status"]).await;
    let s = &status["sharing"];
    assert_eq!(
        (s["hits_posted"].as_u64(), s["refused"].as_u64()),
        (Some(6), Some(0)),
        "{status}"
    );
    assert!(
        s["posts"].as_u64().unwrap() >= 2,
        "two indicators per post: {status}"
    );
    assert_eq!(s["posted_through"], 6, "{status}");

    // The server goes down: two more hits wait, each attempt fails and is counted.
    server.kill();
    events.publish(controlplane::events::Event::Records(hits_of(
        "vendor",
        &[("indicator--d", 7), ("indicator--d", 8)],
    )));
    wait_for("two failed posts", || c(&intel).1 >= 2).await;
    let status = h.ctl_json(VIEWER, &["intel", "status"]).await;
    let s = &status["sharing"];
    assert_eq!(s["pending"], 2, "{status}");
    assert!(!s["last_error"].as_str().unwrap().is_empty(), "{status}");
    assert!(s["retry_in_ms"].as_u64().unwrap() >= 1000, "{status}");
    let m = h.metrics();
    assert!(m.contains("osprey_intel_sharing_failures "), "{m}");
    assert!(m.contains("osprey_intel_sharing_pending 2"), "{m}");
    let table = common::console::run(&h.endpoint, VIEWER, &["intel", "status"])
        .await
        .1;
    assert!(table.contains("sharing.last_error"), "{table}");

    // It comes back empty on the same port: only what waited is posted, nothing again.
    let port = server.port;
    drop(server);
    let server = medallion::Medallion::start_on(d, &[], 100, port).unwrap();
    wait_for("the waiting hits posted", || c(&intel).0 == 8).await;
    let (by, who) = sighted(&collection_objects(&server).await);
    assert_eq!(by, want(&[("indicator--d", 2)]));
    assert!(who.is_empty(), "the identity was posted before");

    // A restart of the appliance posts nothing it posted before; a new hit goes alone.
    drop((intel, events));
    h.stop().await;
    let h = Harness::start(cfg).await;
    let intel = h.cp.as_ref().unwrap().ctx.intel.clone();
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(c(&intel), (0, 0), "nothing to post after the restart");
    assert_eq!(intel.sharing.as_ref().unwrap().status().posted_through, 8);
    h.cp.as_ref()
        .unwrap()
        .ctx
        .events
        .publish(controlplane::events::Event::Records(hits_of(
            "vendor",
            &[("indicator--e", 9)],
        )));
    wait_for("the new hit posted", || c(&intel).0 == 1).await;
    let (by, _) = sighted(&collection_objects(&server).await);
    assert_eq!(by, want(&[("indicator--d", 2), ("indicator--e", 1)]));
    drop(intel);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fingerprints_and_file_hashes_are_hunted_in_stored_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(config(dir.path(), Vec::new())).await;
    let ctx = h.cp.as_ref().unwrap().ctx.clone();
    let (ja3, ja3s) = (
        "e7d705a3286e19ea42f587b344ee6865",
        "f4febc55ea12b31ae17cfb7e614afda8",
    );
    let ja4 = "t13d1516h2_8daaf6152771_02713d6af862";
    let (md5, sha1) = (
        "900150983cd24fb0d6963f7d28e17f72",
        "a9993e364706816aba3e25717850c26c9cd0d89d",
    );
    let sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    // A handshake and a file as the workers write them while hunting is on.
    let tls = serde_json::json!({"timestamp": "2024-01-01T00:00:30.000000+0000", "flow_id": 201,
        "event_type": "tls", "src_ip": "192.0.2.20", "src_port": 40020,
        "dest_ip": "198.51.100.90", "dest_port": 443, "proto": "TCP",
        "tls": {"sni": "cdn.example", "ja3": {"hash": ja3, "string": "771,4865,0,29,0"},
                "ja3s": {"hash": ja3s, "string": "771,4865,43"}, "ja4": ja4}});
    let file = serde_json::json!({"timestamp": "2024-01-01T00:00:31.000000+0000", "flow_id": 202,
        "event_type": "fileinfo", "src_ip": "198.51.100.91", "src_port": 80,
        "dest_ip": "192.0.2.21", "dest_port": 40021, "proto": "TCP", "app_proto": "http",
        "fileinfo": {"filename": "/abc", "state": "CLOSED", "gaps": false, "size": 3,
                     "md5": md5, "sha1": sha1, "sha256": sha256, "stored": false, "tx_id": 0}});
    ctx.events
        .publish(controlplane::events::Event::Records(Arc::from(
            format!("{tls}\n{file}\n").into_bytes().into_boxed_slice(),
        )));
    let indexed = ctx.intel.index_counters.clone();
    wait_for("2 metadata records", || {
        indexed.records.load(Ordering::Relaxed) == 2
    })
    .await;
    let objects = [
        indicator("indicator--ja3", &format!("[x-ja3-hash:value = '{ja3}']")),
        indicator(
            "indicator--ja3s",
            &format!("[x-ja3s-hash:value = '{ja3s}']"),
        ),
        indicator("indicator--ja4", &format!("[x-ja4:value = '{ja4}']")),
        indicator("indicator--md5", &format!("[file:hashes.'MD5' = '{md5}']")),
        indicator(
            "indicator--sha1",
            &format!("[file:hashes.'SHA-1' = '{}']", sha1.to_ascii_uppercase()),
        ),
        indicator(
            "indicator--sha256",
            &format!("[file:hashes.'SHA-256' = '{sha256}']"),
        ),
        // The SHA-1 under another algorithm's name, and a digest never seen.
        indicator(
            "indicator--wrong",
            &format!("[file:hashes.'SHA-256' = '{}']", "0".repeat(64)),
        ),
    ];
    let bundle_file = dir.path().join("fingerprints.json");
    std::fs::write(&bundle_file, bundle(&objects)).unwrap();
    h.ctl_json(
        OPERATOR,
        &["intel", "import", bundle_file.to_str().unwrap()],
    )
    .await;
    let intel = ctx.intel.clone();
    wait_for("six findings", || {
        intel.hunt_counters.findings.load(Ordering::Relaxed) == 6
    })
    .await;
    let hits = h.ctl_json(VIEWER, &["intel", "hits", "--retro"]).await;
    let mut got: Vec<(String, String, String, u64)> = hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["indicator_id"].as_str().unwrap().to_owned(),
                x["matched_field"].as_str().unwrap().to_owned(),
                x["matched_value"].as_str().unwrap().to_owned(),
                x["flow_id"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    let s = |a: &str, b: &str, c: &str, f: u64| (a.to_owned(), b.to_owned(), c.to_owned(), f);
    assert_eq!(
        got,
        [
            s("indicator--ja3", "ja3.hash", ja3, 201),
            s("indicator--ja3s", "ja3s.hash", ja3s, 201),
            s("indicator--ja4", "ja4.hash", ja4, 201),
            s("indicator--md5", "fileinfo.md5", md5, 202),
            s("indicator--sha1", "fileinfo.sha1", sha1, 202),
            s("indicator--sha256", "fileinfo.sha256", sha256, 202),
        ]
    );
    let runs = h.ctl_json(VIEWER, &["intel", "hunt", "--list"]).await;
    assert_eq!(runs["hunts"][0]["unhuntable"], 0, "{runs}");
    h.stop().await;
}

/// A measurement, not a check (docs/perf/2026-12-07-intel-sharing.md): 10,000 hits of 1,000
/// indicators posted to medallion, 100 sightings per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: cargo test -p controlplane --test intel sharing_rate -- --ignored --nocapture"]
async fn sharing_rate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(server) = medallion::Medallion::start(d, &[], 1000) else {
        return;
    };
    let mut cfg = config(d, Vec::new());
    cfg.intel.sharing = Some(controlplane::config::SharingConfig {
        url: server.url(),
        auth: Some(sharing_auth()),
        interval: "100ms".into(),
        batch_size: 100,
        ..Default::default()
    });
    let h = Harness::start(cfg).await;
    let intel = h.cp.as_ref().unwrap().ctx.intel.clone();
    let mut lines = String::new();
    for n in 0..10_000u64 {
        lines += &intel_line(
            n,
            "vendor",
            &format!("indicator--{:04}", n % 1000),
            "x.example",
        );
    }
    let t = std::time::Instant::now();
    h.cp.as_ref()
        .unwrap()
        .ctx
        .events
        .publish(controlplane::events::Event::Records(Arc::from(
            lines.into_bytes().into_boxed_slice(),
        )));
    let c = &intel.sharing.as_ref().unwrap().counters;
    while c.hits_posted.load(Ordering::Relaxed) < 10_000 {
        assert!(t.elapsed() < std::time::Duration::from_secs(300));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let took = t.elapsed();
    // Not read back: medallion sorts the whole collection per GET (minutes at this size).
    println!(
        "10000 hits -> {} sightings in {} posts, {:.2} s from publish to the last post ({:.1} ms per post), {} refused",
        c.sightings_posted.load(Ordering::Relaxed),
        c.posts.load(Ordering::Relaxed),
        took.as_secs_f64(),
        took.as_secs_f64() * 1e3 / c.posts.load(Ordering::Relaxed) as f64,
        c.refused.load(Ordering::Relaxed)
    );
    drop(intel);
    h.stop().await;
}
