//! What a call may cost, against a real server on 127.0.0.1:0 with RocksDB in a temp dir:
//! request sizes by method and role, concurrency by role, unauthenticated floods refused
//! cheaply and audited as one summary, capped audit fields, audit retention, and reading the
//! audit log through `AuditService` and `osprey ctl audit`.

mod common;
use common::console::wait_for;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use controlplane::api::auth::Role;
use controlplane::api::guard::Class;
use controlplane::config::ControlPlaneConfig;
use controlplane::console::{self as ctl};
use controlplane::proto;
use controlplane::server::ControlPlane;
use tonic::Code;

use common::{rule_text, SimAppliance};

const ADMIN: &str = "admin-token";
const OPERATOR: &str = "operator-token";
const VIEWER: &str = "viewer-token";

struct Harness {
    _dir: tempfile::TempDir,
    cp: Option<ControlPlane>,
    sim: Arc<SimAppliance>,
    endpoint: String,
}

impl Harness {
    async fn start(tune: impl FnOnce(&mut ControlPlaneConfig), compile: Duration) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = ControlPlaneConfig::default();
        cfg.api.listen = "127.0.0.1:0".parse().unwrap();
        cfg.api.reload_confirm_timeout_ms = 5000;
        cfg.metrics.listen = "127.0.0.1:0".parse().unwrap();
        cfg.storage.path = dir.path().join("db");
        cfg.auth.tokens = common::console::tokens(&[
            ("admin", Role::Admin, ADMIN),
            ("operator", Role::Operator, OPERATOR),
            ("viewer", Role::Viewer, VIEWER),
        ]);
        tune(&mut cfg);
        let sim = SimAppliance::new(&["w0".to_owned()]);
        let compiler = sim.compiler(compile);
        let cp = ControlPlane::start_with_sources(cfg, sim.sources(), sim.clone(), compiler)
            .await
            .unwrap();
        sim.run_workers(Duration::from_millis(1));
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

    async fn clients(&self, token: Option<&str>) -> ctl::Clients {
        common::console::clients(&self.endpoint, token).await
    }

    async fn ctl(&self, token: &str, args: &[&str]) -> (anyhow::Result<i32>, String) {
        common::console::run(&self.endpoint, token, args).await
    }

    fn refused(&self, cause: &str) -> u64 {
        self.cp()
            .ctx
            .admission
            .refusals()
            .iter()
            .find(|(c, _)| *c == cause)
            .map_or(0, |(_, n)| *n)
    }

    async fn stop(mut self) {
        self.sim.join();
        if let Some(cp) = self.cp.take() {
            cp.shutdown().await;
        }
    }
}

/// Valid rule text of about `bytes` bytes.
fn rules_of(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 200);
    let mut sid = 1_000_000;
    while s.len() < bytes {
        s.push_str(&rule_text(sid, "sized"));
        s.push('\n');
        sid += 1;
    }
    s
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut v = Vec::new();
    s.read_to_end(&mut v).await.unwrap();
    String::from_utf8(v).unwrap()
}

/// Issue 21, finding 4: a viewer's `Validate` took any request up to 64 MB. Now the rule text
/// of any call is capped at `api.max_rules_bytes`, a viewer's other calls (an `Add` it may
/// not make included) at `api.max_request_bytes`, each refused before the body is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_sizes_are_limited_by_method_and_role() {
    let h = Harness::start(|_| {}, Duration::from_millis(1)).await;
    let mut viewer = h.clients(Some(VIEWER)).await;
    let mut operator = h.clients(Some(OPERATOR)).await;
    let max = 8 << 20;

    // The reported call: 50 MB of rule text from a viewer.
    let e = viewer
        .rules
        .validate(proto::ValidateRequest {
            text: "x".repeat(50 << 20),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(
        e.message()
            .contains(&format!("api.max_rules_bytes = {max}")),
        "{}",
        e.message()
    );
    assert_eq!(h.refused("too_large"), 1);

    // Just under the limit, the same viewer's text is validated.
    let text = rules_of(max - 300);
    let v = viewer
        .rules
        .validate(proto::ValidateRequest { text: text.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(v.valid && v.rules > 40_000, "{} rules", v.rules);

    // An operator may add a file that large, but not a larger one.
    let e = operator
        .rules
        .add(proto::AddRulesRequest {
            text: rules_of(max + 10),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    let added = operator
        .rules
        .add(proto::AddRulesRequest {
            text: rules_of(100_000),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(added.added.len() > 400);

    // A viewer's Add is held to the small limit: refused for its size, before its role.
    let e = viewer
        .rules
        .add(proto::AddRulesRequest {
            text: rules_of(100_000),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(
        e.message().contains("api.max_request_bytes"),
        "{}",
        e.message()
    );
    // Small requests of every service too.
    let e = viewer
        .alerts
        .query(proto::AlertQuery {
            address: "1".repeat(100_000),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert_eq!(h.refused("too_large"), 4);

    // The connection survives the refusals.
    viewer.system.status(proto::StatusRequest {}).await.unwrap();
    let m = http_get(h.cp().metrics_addr.unwrap(), "/metrics").await;
    assert!(
        m.contains("osprey_api_refused_total{cause=\"too_large\"} 4"),
        "{m}"
    );
    h.stop().await;
}

/// Expensive calls in progress at once are limited per role and method; one more is refused
/// with RESOURCE_EXHAUSTED naming the key, and counted; another role is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_limited_per_role_and_method() {
    let h = Harness::start(
        |c| {
            c.api.concurrency.operator = 1;
        },
        Duration::from_millis(1500),
    )
    .await;
    let mut op = h.clients(Some(OPERATOR)).await;
    op.rules
        .add(proto::AddRulesRequest {
            text: rule_text(7, "seven"),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut op2 = op.clone();
    let first = tokio::spawn(async move { op2.rules.reload(proto::ReloadRequest {}).await });
    let adm = h.cp().ctx.admission.clone();
    wait_for("the first reload to hold its permit", || {
        adm.available(Class::Reload, Role::Operator) == 0
    })
    .await;
    let e = op.rules.reload(proto::ReloadRequest {}).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(
        e.message().contains("api.concurrency.operator = 1"),
        "{}",
        e.message()
    );
    // Another method of the same role has its own permits.
    op.rules
        .validate(proto::ValidateRequest {
            text: rule_text(8, "eight"),
        })
        .await
        .unwrap();
    // Another role is not held up by the operator's limit (it waits for the reload lock).
    let mut admin = h.clients(Some(ADMIN)).await;
    let second = admin.rules.reload(proto::ReloadRequest {}).await.unwrap();
    let first = first.await.unwrap().unwrap().into_inner();
    assert!(second.into_inner().generation > first.generation);
    assert_eq!(h.refused("concurrency"), 1);
    // Once the permit is back, the operator reloads again.
    op.rules.reload(proto::ReloadRequest {}).await.unwrap();
    h.stop().await;
}

/// Issue 21, finding 5: 25 refused unauthenticated `Shutdown` calls with a 1 MB reason added
/// 100 MB to the audit log. Now they are refused before the body is read, rate-limited per
/// peer, and audited as one summary record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_flood_is_rate_limited_and_summarised() {
    let h = Harness::start(
        |c| {
            c.api.refusals_burst = 5;
            c.api.refusals_per_sec = 1;
            c.api.refusal_summary_secs = 1;
        },
        Duration::from_millis(1),
    )
    .await;
    let store = h.cp().ctx.store.clone();
    let audit_bytes = || -> usize {
        store
            .audit_log(100_000)
            .unwrap()
            .iter()
            .map(|r| serde_json::to_vec(r).unwrap().len())
            .sum()
    };
    let before = audit_bytes();
    let reason = "r".repeat(1 << 20);
    let mut anon = h.clients(None).await;
    let mut wrong = h.clients(Some("not-a-token")).await;
    let mut codes = Vec::new();
    for i in 0..25 {
        let c = if i % 2 == 0 { &mut anon } else { &mut wrong };
        let e = c
            .system
            .shutdown(proto::ShutdownRequest {
                reason: reason.clone(),
            })
            .await
            .unwrap_err();
        codes.push(e.code());
    }
    let unauth = codes
        .iter()
        .filter(|c| **c == Code::Unauthenticated)
        .count();
    let limited = codes
        .iter()
        .filter(|c| **c == Code::ResourceExhausted)
        .count();
    // The bucket holds 5 and refills one a second: a few more may pass in slow runs.
    assert!((5..=8).contains(&unauth), "{codes:?}");
    assert_eq!(unauth + limited, 25, "{codes:?}");
    assert_eq!(h.sim.shutdown_calls.load(Ordering::SeqCst), 0);
    assert_eq!(h.refused("unauthenticated"), unauth as u64);
    assert_eq!(h.refused("rate_limited"), limited as u64);
    // A known caller from the same address is refused while the bucket is empty (not
    // counted in the summary), and served again once it refills.
    let mut admin = h.clients(Some(ADMIN)).await;
    let e = admin
        .system
        .status(proto::StatusRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    admin.system.status(proto::StatusRequest {}).await.unwrap();

    // Summed up in one record per interval (the flood may straddle two), a few hundred
    // bytes each: 25 calls and the known caller's.
    let summed = || -> (u64, usize) {
        let log = store.audit_log(100).unwrap();
        let s: Vec<_> = log
            .iter()
            .filter(|r| r.method == "unauthenticated")
            .collect();
        let n = s
            .iter()
            .map(|r| {
                let first = r.detail.split(' ').next().unwrap();
                first.parse::<u64>().unwrap()
            })
            .sum();
        (n, s.len())
    };
    wait_for("the refusal summary", || summed().0 == 26).await;
    let records = summed().1;
    assert!((1..=3).contains(&records), "{records} summary records");
    let log = store.audit_log(100).unwrap();
    let first = log
        .iter()
        .rev()
        .find(|r| r.method == "unauthenticated")
        .unwrap();
    assert!(
        first.detail.contains("calls refused before authentication")
            && first.detail.contains("osprey.v1.SystemService/Shutdown x"),
        "{first:?}"
    );
    assert!(first.target.starts_with("peers: 127.0.0.1 x"), "{first:?}");
    let added = audit_bytes() - before;
    assert!(added < 4096, "the audit log grew by {added} bytes");

    let m = http_get(h.cp().metrics_addr.unwrap(), "/metrics").await;
    assert!(
        m.contains(&format!(
            "osprey_api_refused_total{{cause=\"unauthenticated\"}} {unauth}"
        )),
        "{m}"
    );
    h.stop().await;
}

/// Known callers' refusals are audited one by one, with capped fields; the audit log is
/// read through `AuditService` (admin only) and `osprey ctl audit`, and retention keeps at
/// most `storage.audit_max_records`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_is_capped_listed_and_retained() {
    let h = Harness::start(
        |c| {
            c.storage.audit_max_records = 12;
            c.storage.retention_interval_secs = 1;
        },
        Duration::from_millis(1),
    )
    .await;
    let mut viewer = h.clients(Some(VIEWER)).await;
    let reason = "why ".repeat(15_000);
    let e = viewer
        .system
        .shutdown(proto::ShutdownRequest {
            reason: reason.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    let mut admin = h.clients(Some(ADMIN)).await;
    let page = admin
        .audit
        .list(proto::ListAuditRequest {
            who: "viewer".into(),
            method: "shutdown".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.entries.len(), 1, "{page:?}");
    let e0 = &page.entries[0];
    assert_eq!(e0.result, "PermissionDenied");
    assert_eq!(
        e0.target,
        format!("{}…[+{} bytes]", &reason[..256], reason.len() - 256)
    );
    // Viewers may not read the audit log.
    let e = viewer
        .audit
        .list(proto::ListAuditRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    // `osprey ctl audit`, table and JSON.
    let (r, out) = h
        .ctl(ADMIN, &["audit", "--who", "viewer", "--since", "1h"])
        .await;
    assert_eq!(r.unwrap(), 0);
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("TIME"), "{out}");
    assert!(
        out.contains("osprey.v1.SystemService/Shutdown") && out.contains("PermissionDenied"),
        "{out}"
    );
    let (r, out) = h
        .ctl(
            ADMIN,
            &[
                "--json",
                "audit",
                "--method",
                "AuditService",
                "--limit",
                "1",
            ],
        )
        .await;
    assert_eq!(r.unwrap(), 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{out}");
    assert_eq!(entries[0]["who"], "viewer");
    assert_eq!(entries[0]["result"], "PermissionDenied");
    let (r, _) = h.ctl(VIEWER, &["audit"]).await;
    assert!(format!("{:#}", r.unwrap_err()).contains("PermissionDenied"));

    // Retention: 20 more audited calls, at most 12 stay, the newest.
    for sid in 0..20 {
        let e = viewer
            .rules
            .delete(proto::RuleRef { gid: 1, sid })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
    }
    let store = h.cp().ctx.store.clone();
    wait_for("audit retention", || {
        store.audit_log(1000).unwrap().len() <= 12
    })
    .await;
    let log = store.audit_log(1000).unwrap();
    assert_eq!(log[0].target, "1:19", "{log:#?}");
    h.stop().await;
}
