//! API tests against a real server on 127.0.0.1:0 with RocksDB in a temp dir, through the
//! generated clients and through `ctl::run_with_output`. The data plane and rule compiler are
//! the simulations in `common/` (real parsing and burst-boundary swaps, not canned answers).

mod common;
use common::console::wait_for;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use controlplane::api::auth::{token_sha256_hex, Role};
use controlplane::config::{ControlPlaneConfig, TokenConfig};
use controlplane::console::{self as ctl};
use controlplane::proto;
use controlplane::server::ControlPlane;
use tonic::Code;

use common::{rule_text, SimAppliance};

const ADMIN: &str = "admin-token";
const VIEWER: &str = "viewer-token";

struct Harness {
    _dir: tempfile::TempDir,
    cp: Option<ControlPlane>,
    sim: Arc<SimAppliance>,
    endpoint: String,
}

impl Harness {
    async fn start(workers: usize, burst: Duration) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = ControlPlaneConfig::default();
        cfg.api.listen = "127.0.0.1:0".parse().unwrap();
        cfg.api.reload_confirm_timeout_ms = 5000;
        cfg.metrics.listen = "127.0.0.1:0".parse().unwrap();
        cfg.storage.path = dir.path().join("db");
        cfg.eve.enabled = true;
        cfg.eve.path = dir.path().join("eve.json");
        cfg.auth.tokens = vec![
            TokenConfig {
                name: "admin".into(),
                role: Role::Admin,
                sha256: token_sha256_hex(ADMIN),
            },
            TokenConfig {
                name: "viewer".into(),
                role: Role::Viewer,
                sha256: token_sha256_hex(VIEWER),
            },
        ];
        let names: Vec<String> = (0..workers).map(|i| format!("w{i}")).collect();
        let sim = SimAppliance::new(&names);
        let compiler = sim.compiler(Duration::from_millis(2));
        let cp = ControlPlane::start_with_sources(cfg, sim.sources(), sim.clone(), compiler)
            .await
            .unwrap();
        sim.run_workers(burst);
        let endpoint = format!("http://{}", cp.grpc_addr);
        Harness {
            _dir: dir,
            cp: Some(cp),
            sim,
            endpoint,
        }
    }

    fn cp(&self) -> &ControlPlane {
        self.cp.as_ref().unwrap()
    }

    async fn clients(&self, token: &str) -> ctl::Clients {
        common::console::clients(&self.endpoint, Some(token)).await
    }

    async fn ctl(&self, token: &str, args: &[&str]) -> (anyhow::Result<i32>, String) {
        common::console::run(&self.endpoint, token, args).await
    }

    async fn stop(mut self) {
        self.sim.join();
        if let Some(cp) = self.cp.take() {
            cp.shutdown().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_alerts_flows_status_and_metrics_through_the_generated_client() {
    let h = Harness::start(2, Duration::from_micros(500)).await;
    let mut c = h.clients(ADMIN).await;

    // Validate reports line and column of the problem.
    let v = c
        .rules
        .validate(proto::ValidateRequest {
            text: format!(
                "{}\n\nalert tcp any any => any any (sid:5;)\n",
                rule_text(1, "a")
            ),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!v.valid);
    assert_eq!(v.rules, 1);
    assert_eq!((v.diagnostics[0].line, v.diagnostics[0].column), (3, 19));

    // Add three rules; one uses a keyword the engine cannot compile.
    let text = format!(
        "{}\n{}\nalert tcp any any -> any any (msg:\"odd\"; pcre:\"/x/\"; sid:30; rev:2;)\n",
        rule_text(10, "ten"),
        rule_text(20, "twenty")
    );
    let added = c
        .rules
        .add(proto::AddRulesRequest {
            text: text.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        added.added.iter().map(|r| r.sid).collect::<Vec<_>>(),
        vec![10, 20, 30]
    );
    let e = c
        .rules
        .add(proto::AddRulesRequest {
            text,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
    assert!(e.message().contains("sid 10"), "{}", e.message());

    let r = c
        .rules
        .reload(proto::ReloadRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.generation, 1);
    assert_eq!((r.rules_loaded, r.rules_failed), (2, 1));
    assert_eq!(r.failures[0].sid, 30);
    assert_eq!(r.ruleset_hash.len(), 64);
    // The answer is the proof: every worker runs generation 1 now.
    let st = c
        .system
        .status(proto::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(st.ruleset_generation, 1);
    assert!(st.workers.iter().all(|w| w.ruleset_generation == 1));

    // Live tail sees stored alerts, enriched from the ruleset.
    let mut tail = c
        .alerts
        .tail(proto::TailRequest {
            sid: Some(20),
            address: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let a = tokio::time::timeout(Duration::from_secs(10), tail.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(a.sid, 20);
    assert_eq!(a.msg, "twenty");
    assert_eq!(a.category, "misc-activity");
    assert!(a.id > 0);

    let ingest = h.cp().ctx.ingest.clone();
    wait_for("200 stored alerts", || {
        ingest.counters.alerts_stored.load(Ordering::Relaxed) >= 200
    })
    .await;

    // Query by sid, paged, newest first; pages do not overlap and are ordered.
    let mut seen = Vec::new();
    let mut token = String::new();
    for _ in 0..3 {
        let p = c
            .alerts
            .query(proto::AlertQuery {
                sid: Some(10),
                page_size: 25,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(p.alerts.iter().all(|a| a.sid == 10));
        seen.extend(p.alerts.iter().map(|a| (a.timestamp_ns, a.id)));
        token = p.next_page_token;
        assert!(!token.is_empty());
    }
    assert_eq!(seen.len(), 75);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats"
    );

    // Address filter matches source or destination.
    let p = c
        .alerts
        .query(proto::AlertQuery {
            address: "10.0.1.1".into(),
            page_size: 50,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!p.alerts.is_empty());
    assert!(p
        .alerts
        .iter()
        .all(|a| a.src_ip == "10.0.1.1" && a.worker == "w1"));

    // Flows.
    wait_for("flows", || {
        ingest.counters.flows_stored.load(Ordering::Relaxed) >= 4
    })
    .await;
    let f = c
        .flows
        .query(proto::FlowQuery {
            app_proto: "HTTP".into(),
            page_size: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(f.flows.len(), 3);
    assert!(!f.next_page_token.is_empty());
    assert_eq!(f.flows[0].reason, "timeout");

    // Stats: per worker, totals, control plane; ring overflow is reported per worker.
    let s = c
        .system
        .stats(proto::StatsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.workers.len(), 2);
    let total = |n: &str| s.total.iter().find(|c| c.name == n).map(|c| c.value);
    assert!(total("capture.kernel_packets").unwrap() > 0);
    assert_eq!(total("ingest.alerts_ring_overflow"), Some(0));
    assert!(s.workers[0]
        .counters
        .iter()
        .any(|c| c.name == "decoder.pkts"));
    assert!(s
        .control_plane
        .iter()
        .any(|c| c.name == "ingest.alerts_stored" && c.value > 0));
    // The event stream's consumers, each with its counters: the EVE file gets everything.
    let cp_counter = |n: &str| {
        s.control_plane
            .iter()
            .find(|c| c.name == n)
            .map(|c| c.value)
    };
    assert!(cp_counter("events.eve.delivered") > Some(0));
    assert_eq!(cp_counter("events.eve.dropped"), Some(0));
    assert_eq!(cp_counter("events.eve.subscribers"), Some(1));
    assert!(cp_counter("events.tail.dropped").is_some());

    // Prometheus endpoint.
    let body = http_get(h.cp().metrics_addr.unwrap(), "/metrics").await;
    assert!(
        body.contains("osprey_decoder_pkts{worker=\"w0\"}"),
        "{body}"
    );
    assert!(body.contains("osprey_capture_kernel_packets{worker=\"w1\"}"));
    assert!(body.contains("# TYPE osprey_ingest_alerts_stored counter"));
    assert!(body.contains("osprey_ruleset_generation 1"));
    assert!(body.contains("# TYPE osprey_events_eve_dropped counter"));
    assert!(body.contains("# TYPE osprey_events_eve_subscribers gauge"));

    // grpc.health.v1 and reflection.
    let ch = tonic::transport::Channel::from_shared(h.endpoint.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(ch.clone());
    let hs = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "osprey.v1.RulesService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        hs.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let services = list_services(ch).await;
    for s in [
        "osprey.v1.SystemService",
        "osprey.v1.RulesService",
        "osprey.v1.AlertsService",
        "osprey.v1.FlowsService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            services.iter().any(|x| x == s),
            "{s} missing from {services:?}"
        );
    }

    // EVE output sits behind ingest, fed by the event stream: stored alerts, flow records and
    // the worker's other records as the worker rendered them (no object of the control
    // plane's own: `osprey run` writes what `osprey replay --eve` writes).
    let eve = std::fs::read_to_string(h._dir.path().join("eve.json")).unwrap_or_default();
    let records: Vec<serde_json::Value> = eve
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |t: &'static str| records.iter().filter(move |r| r["event_type"] == t);
    assert!(of("alert").count() > 0, "{eve}");
    assert!(of("alert").all(|a| a.get("osprey").is_none() && a["flow"]["pkts_toserver"] == 3));
    assert!(of("flow").count() > 0 && of("http").count() > 0, "{eve}");

    // Mutations were audited with who and result.
    let audit = h.cp().ctx.store.audit_log(100).unwrap();
    assert!(audit
        .iter()
        .any(|r| r.method.ends_with("RulesService/Reload")
            && r.who == "admin"
            && r.result == "ok"));
    assert!(audit
        .iter()
        .any(|r| r.method.ends_with("RulesService/Add") && r.result == "AlreadyExists"));
    h.stop().await;
}

async fn list_services(ch: tonic::transport::Channel) -> Vec<String> {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let mut c = ServerReflectionClient::new(ch);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut resp = c
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    match resp.message().await.unwrap().unwrap().message_response {
        Some(MessageResponse::ListServicesResponse(l)) => {
            l.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut v = Vec::new();
    s.read_to_end(&mut v).await.unwrap();
    let text = String::from_utf8(v).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_commands_print_tables_and_json() {
    let h = Harness::start(1, Duration::from_millis(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("local.rules");
    std::fs::write(
        &file,
        format!(
            "# local rules\n{}\n{}\n",
            rule_text(100, "hundred"),
            rule_text(200, "two hundred")
        ),
    )
    .unwrap();

    let (r, out) = h
        .ctl(ADMIN, &["rules", "add", file.to_str().unwrap()])
        .await;
    assert_eq!(r.unwrap(), 0);
    assert!(out.contains("added 2 rule(s)"), "{out}");
    let (r, out) = h.ctl(ADMIN, &["rules", "reload"]).await;
    assert_eq!(r.unwrap(), 0);
    assert!(out.contains("generation 1 active on every worker"), "{out}");
    let (r, out) = h.ctl(ADMIN, &["--json", "rules", "list"]).await;
    assert_eq!(r.unwrap(), 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    let (r, out) = h
        .ctl(ADMIN, &["rules", "list", "--contains", "TWO HUNDRED"])
        .await;
    r.unwrap();
    assert!(out.starts_with("GID:SID"));
    assert!(out.contains("1:200") && !out.contains("1:100 "), "{out}");
    let (r, _) = h.ctl(ADMIN, &["rules", "disable", "100"]).await;
    r.unwrap();
    let (_, out) = h.ctl(ADMIN, &["--json", "rules", "show", "100"]).await;
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["enabled"], false);
    let (r, _) = h.ctl(ADMIN, &["rules", "show", "999"]).await;
    assert!(r.unwrap_err().to_string().contains("NotFound"));

    let (r, out) = h
        .ctl(
            ADMIN,
            &[
                "rules",
                "validate",
                "--text",
                "alert tcp any any -> any any (msg:\"x\"; sid:1",
            ],
        )
        .await;
    assert_eq!(r.unwrap(), 1, "invalid rules give exit code 1");
    assert!(out.contains("1:") && out.contains("INVALID"), "{out}");

    let ingest = h.cp().ctx.ingest.clone();
    wait_for("alerts", || {
        ingest.counters.alerts_stored.load(Ordering::Relaxed) >= 5
    })
    .await;
    let (r, out) = h.ctl(VIEWER, &["alerts", "query", "--limit", "3"]).await;
    r.unwrap();
    assert!(out.starts_with("ID"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains("hundred")).count(),
        3,
        "{out}"
    );
    let (r, out) = h
        .ctl(VIEWER, &["--json", "alerts", "tail", "--count", "2"])
        .await;
    r.unwrap();
    assert_eq!(out.lines().count(), 2);
    let (r, out) = h.ctl(VIEWER, &["--json", "status"]).await;
    r.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ruleset_generation"], 1);
    let (r, out) = h.ctl(VIEWER, &["stats", "--workers"]).await;
    r.unwrap();
    assert!(
        out.contains("[w0]") && out.contains("capture.kernel_packets"),
        "{out}"
    );
    let (r, out) = h
        .ctl(VIEWER, &["--json", "flows", "query", "--limit", "1"])
        .await;
    r.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["flows"].as_array().unwrap().len(), 1);
    let (r, out) = h.ctl(VIEWER, &["rules", "status"]).await;
    r.unwrap();
    assert!(out.contains("active generation 1"), "{out}");
    // A viewer may not change rules.
    let (r, _) = h.ctl(VIEWER, &["rules", "delete", "200"]).await;
    assert!(r.unwrap_err().to_string().contains("PermissionDenied"));
    let (r, out) = h.ctl(ADMIN, &["rules", "delete", "200"]).await;
    r.unwrap();
    assert!(out.contains("deleted 1:200"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_reloads_under_traffic_lose_nothing_and_switch_rulesets() {
    let h = Harness::start(2, Duration::from_micros(200)).await;
    let mut c = h.clients(ADMIN).await;
    let set_a: Vec<u32> = (1000..1010).collect();
    let set_b: Vec<u32> = (2000..2010).collect();
    let text: String = set_a
        .iter()
        .chain(&set_b)
        .map(|s| rule_text(*s, "r") + "\n")
        .collect();
    c.rules
        .add(proto::AddRulesRequest {
            text,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut last_gen = 0;
    let mut active: &Vec<u32> = &set_a;
    for i in 0..10 {
        let (on, off) = if i % 2 == 0 {
            (&set_a, &set_b)
        } else {
            (&set_b, &set_a)
        };
        for s in on {
            c.rules
                .enable(proto::RuleRef { sid: *s, gid: 1 })
                .await
                .unwrap();
        }
        for s in off {
            c.rules
                .disable(proto::RuleRef { sid: *s, gid: 1 })
                .await
                .unwrap();
        }
        let r = c
            .rules
            .reload(proto::ReloadRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.generation, last_gen + 1);
        assert_eq!(r.rules_loaded, 10);
        last_gen = r.generation;
        active = on;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Everything a worker produces from now on is from the last ruleset: record each
    // worker's burst counter, then check alerts from later bursts.
    let marks: Vec<u64> = h
        .sim
        .workers
        .iter()
        .map(|(_, s)| s.packets.load(Ordering::SeqCst) / 32)
        .collect();
    let mut tail = c
        .alerts
        .tail(proto::TailRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut checked = 0;
    while checked < 100 {
        let a = tokio::time::timeout(Duration::from_secs(10), tail.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let w: usize = a.worker[1..].parse().unwrap();
        if a.packet_number > marks[w] {
            assert!(
                active.contains(&a.sid),
                "alert for sid {} after the last reload",
                a.sid
            );
            checked += 1;
        }
    }
    let s = c
        .system
        .stats(proto::StatsRequest {})
        .await
        .unwrap()
        .into_inner();
    let total = |n: &str| {
        s.total
            .iter()
            .find(|c| c.name == n)
            .map(|c| c.value)
            .unwrap_or(0)
    };
    assert_eq!(
        total("capture.imissed")
            + total("capture.rx_nombuf")
            + total("ingest.alerts_ring_overflow"),
        0
    );
    assert_eq!(
        h.sim
            .workers
            .iter()
            .map(|(_, s)| s.alerts_not_queued.load(Ordering::SeqCst))
            .sum::<u64>(),
        0
    );
    let st = c
        .rules
        .status(proto::RulesetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(st.history.len(), 10);
    assert_eq!(st.history[0].generation, 10);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_precise_statuses() {
    let h = Harness::start(1, Duration::from_millis(5)).await;
    let mut c = h.clients(ADMIN).await;
    let code = |r: Result<tonic::Response<proto::AlertPage>, tonic::Status>| r.unwrap_err().code();
    assert_eq!(
        code(
            c.alerts
                .query(proto::AlertQuery {
                    page_size: 1_000_000,
                    ..Default::default()
                })
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            c.alerts
                .query(proto::AlertQuery {
                    page_token: "not-a-token".into(),
                    ..Default::default()
                })
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            c.alerts
                .query(proto::AlertQuery {
                    address: "10.0.0.300".into(),
                    ..Default::default()
                })
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            c.alerts
                .query(proto::AlertQuery {
                    start_ns: 10,
                    end_ns: 5,
                    ..Default::default()
                })
                .await
        ),
        Code::InvalidArgument
    );
    let e = c
        .flows
        .query(proto::FlowQuery {
            page_token: common::rule_text(1, "x"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        c.rules
            .get(proto::GetRuleRequest {
                sid: 424242,
                gid: 0
            })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        c.rules
            .enable(proto::RuleRef {
                sid: 424242,
                gid: 1
            })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        c.rules
            .delete(proto::RuleRef {
                sid: 424242,
                gid: 1
            })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    let e = c
        .rules
        .add(proto::AddRulesRequest {
            text: "\n# nothing\n".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = c
        .rules
        .add(proto::AddRulesRequest {
            text: format!(
                "{}\nalert tcp any any -> any any (msg:\"x\"; sid:abc;)\n",
                rule_text(5, "ok")
            ),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("line 2 column 40"), "{}", e.message());
    // Nothing of a refused batch is stored.
    assert_eq!(
        c.rules
            .get(proto::GetRuleRequest { sid: 5, gid: 1 })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    let e = c
        .rules
        .add(proto::AddRulesRequest {
            text: format!("{}\n{}\n", rule_text(6, "a"), rule_text(6, "b")),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("line 1 and line 2"), "{}", e.message());
    // Page size at the cap is fine.
    c.alerts
        .query(proto::AlertQuery {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    h.stop().await;
}

#[tokio::test]
async fn damaged_or_foreign_database_directory_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let names = vec!["w0".to_string()];
    let mk = |path: std::path::PathBuf| {
        let mut cfg = ControlPlaneConfig::default();
        cfg.api.listen = "127.0.0.1:0".parse().unwrap();
        cfg.metrics.enabled = false;
        cfg.storage.path = path;
        cfg
    };
    // A working database first, then damage it.
    {
        let sim = SimAppliance::new(&names);
        let cp = ControlPlane::start_with_sources(
            mk(db.clone()),
            sim.sources(),
            sim.clone(),
            sim.compiler(Duration::ZERO),
        )
        .await
        .unwrap();
        cp.shutdown().await;
    }
    let manifest = std::fs::read_dir(&db)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("MANIFEST"))
        .unwrap()
        .path();
    std::fs::write(&manifest, b"this is not a manifest").unwrap();
    let sim = SimAppliance::new(&names);
    let e = ControlPlane::start_with_sources(
        mk(db.clone()),
        sim.sources(),
        sim.clone(),
        sim.compiler(Duration::ZERO),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, controlplane::error::Kind::Corrupt, "{e}");
    assert!(e.context.contains(db.to_str().unwrap()), "{e}");

    // A file where the directory should be.
    let f = dir.path().join("file");
    std::fs::write(&f, b"x").unwrap();
    let e = ControlPlane::start_with_sources(
        mk(f),
        sim.sources(),
        sim.clone(),
        sim.compiler(Duration::ZERO),
    )
    .await
    .unwrap_err();
    assert!(e.context.contains("not a directory"), "{e}");

    // A missing certificate file names its key.
    let mut cfg = mk(dir.path().join("db3"));
    cfg.api.tls = Some(controlplane::config::TlsConfig {
        cert: dir.path().join("missing.crt"),
        key: dir.path().join("missing.key"),
        client_ca: None,
    });
    let e = ControlPlane::start_with_sources(
        cfg,
        sim.sources(),
        sim.clone(),
        sim.compiler(Duration::ZERO),
    )
    .await
    .unwrap_err();
    assert!(e.context.contains("api.tls.cert"), "{e}");

    // Config errors name the key.
    let mut cfg = mk(dir.path().join("db2"));
    cfg.api.listen = "0.0.0.0:0".parse().unwrap();
    let e = ControlPlane::start_with_sources(
        cfg,
        sim.sources(),
        sim.clone(),
        sim.compiler(Duration::ZERO),
    )
    .await
    .unwrap_err();
    assert!(e.context.contains("api.allow_plaintext"), "{e}");
}
