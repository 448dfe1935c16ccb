//! Incidents through the real control plane: RocksDB on disk, the gRPC server on
//! 127.0.0.1:0, alerts through a worker ring and ingest, the correlator on the event stream.
//! Constructed alerts on documentation addresses: a server (critical asset) reached by a web
//! attack and then beaconing to C2, and a printer scanned from outside.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use controlplane::api::auth::Role;
use controlplane::config::{AssetConfig, ControlPlaneConfig};
use controlplane::console::{self as ctl};
use controlplane::model::StoredRule;
use controlplane::proto;
use controlplane::server::ControlPlane;
use controlplane::store::{Store, StoreOptions};
use tonic::Code;

use common::source::{ring, Producer};
use common::SimAppliance;

const ADMIN: &str = "admin-token";
const OPERATOR: &str = "operator-token";
const VIEWER: &str = "viewer-token";

const SERVER: &str = "192.0.2.3";
const PRINTER: &str = "192.0.2.200";
const C2: &str = "203.0.113.50";
const SCANNER: &str = "198.51.100.9";

fn rules() -> Vec<StoredRule> {
    let rule = |sid: u32, classtype: &str, priority: u8, meta: &str| {
        StoredRule {
        gid: 1,
        sid,
        rev: 1,
        msg: format!("test rule {sid}"),
        classtype: classtype.into(),
        priority,
        text: format!(
            "alert tcp any any -> any any (msg:\"test rule {sid}\"; classtype:{classtype}; sid:{sid}; rev:1;{meta})"
        ),
        enabled: true,
        updated_nanos: 0,
    }
    };
    vec![
        rule(
            100,
            "trojan-activity",
            1,
            " metadata:created_at 2020_12_08, mitre_tactic_id TA0011, mitre_tactic_name Command_And_Control, mitre_technique_id T1071, mitre_technique_name Application_Layer_Protocol;",
        ),
        rule(200, "network-scan", 3, ""),
        rule(300, "web-application-attack", 1, ""),
    ]
}

fn config(db: &Path) -> ControlPlaneConfig {
    let mut cfg = ControlPlaneConfig::default();
    cfg.api.listen = "127.0.0.1:0".parse().unwrap();
    cfg.metrics.enabled = false;
    cfg.storage.path = db.to_path_buf();
    cfg.incidents.home_net = vec!["192.0.2.0/24".into()];
    cfg.incidents.window_secs = 600;
    cfg.incidents.assets = vec![
        AssetConfig {
            name: "servers".into(),
            cidrs: vec!["192.0.2.0/28".into()],
            criticality: 10,
        },
        AssetConfig {
            name: "printers".into(),
            cidrs: vec!["192.0.2.128/25".into()],
            criticality: 1,
        },
    ];
    cfg.auth.tokens = common::console::tokens(&[
        ("admin", Role::Admin, ADMIN),
        ("operator", Role::Operator, OPERATOR),
        ("viewer", Role::Viewer, VIEWER),
    ]);
    cfg
}

struct Harness {
    cp: ControlPlane,
    ring: Producer,
    endpoint: String,
}

async fn start(db: &Path) -> Harness {
    let sim = SimAppliance::new(&[]);
    let compiler = sim.compiler(Duration::from_millis(1));
    let (ring, source) = ring("w0", 4096);
    let cp = ControlPlane::start_with_sources(config(db), vec![source], sim, compiler)
        .await
        .unwrap();
    let endpoint = format!("http://{}", cp.grpc_addr);
    Harness { cp, ring, endpoint }
}

impl Harness {
    async fn clients(&self, token: &str) -> ctl::Clients {
        common::console::clients(&self.endpoint, Some(token)).await
    }

    async fn ctl(&self, token: &str, args: &[&str]) -> (anyhow::Result<i32>, String) {
        common::console::run(&self.endpoint, token, args).await
    }

    fn push(&self, at_secs: u64, src: &str, dst: &str, sid: u32) {
        assert!(self
            .ring
            .push_alert(common::alert_at(at_secs, src, dst, sid)));
    }
}

/// Polls `List` until `ok` holds for the incidents (newest first).
async fn until(
    c: &mut ctl::Clients,
    what: &str,
    ok: impl Fn(&[proto::Incident]) -> bool,
) -> Vec<proto::Incident> {
    let t = Instant::now();
    loop {
        let l = c
            .incidents
            .list(proto::ListIncidentsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .incidents;
        if ok(&l) {
            return l;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}: {l:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn by_host<'a>(l: &'a [proto::Incident], host: &str) -> &'a proto::Incident {
    l.iter()
        .find(|i| i.host == host)
        .unwrap_or_else(|| panic!("no incident for {host}: {l:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_become_scored_incidents_worked_through_the_workflow_and_kept_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    Store::open(&db, &StoreOptions::default())
        .unwrap()
        .put_rules(&rules())
        .unwrap();

    let h = start(&db).await;
    let mut admin = h.clients(ADMIN).await;
    // The server: a web attack, then C2 beacons; the printer: a scan from outside.
    h.push(10, SCANNER, SERVER, 300);
    for i in 0..3 {
        h.push(20 + i, SERVER, C2, 100);
    }
    for i in 0..5 {
        h.push(30 + i, SCANNER, PRINTER, 200);
    }
    let l = until(&mut admin, "two incidents with every alert", |l| {
        l.len() == 2 && l.iter().map(|i| i.alerts).sum::<u64>() == 9
    })
    .await;

    // ATT&CK on the stored alerts: from metadata (with technique), else the classtype.
    let alerts = admin
        .alerts
        .query(proto::AlertQuery::default())
        .await
        .unwrap()
        .into_inner()
        .alerts;
    let c2 = alerts.iter().find(|a| a.sid == 100).unwrap();
    assert_eq!(
        (c2.tactic_id.as_str(), c2.technique_id.as_str()),
        ("TA0011", "T1071")
    );
    assert_eq!(c2.technique_name, "Application_Layer_Protocol");
    let scan = alerts.iter().find(|a| a.sid == 200).unwrap();
    assert_eq!(
        (scan.tactic_id.as_str(), scan.technique_id.as_str()),
        ("TA0043", "")
    );

    // Grouping by internal host, whichever side it is on; scores and their explanation.
    let server = by_host(&l, SERVER);
    let printer = by_host(&l, PRINTER);
    assert_eq!((server.alerts, printer.alerts), (4, 5));
    let tactics: Vec<&str> = server
        .tactics
        .iter()
        .map(|t| t.tactic_id.as_str())
        .collect();
    assert_eq!(tactics, ["TA0001", "TA0011"]);
    assert!(server.kill_chain && !printer.kill_chain);
    assert!(
        server.score > printer.score + 30.0,
        "{} vs {}",
        server.score,
        printer.score
    );
    let asset = server
        .explanation
        .iter()
        .find(|c| c.factor == "asset")
        .unwrap();
    assert_eq!(asset.points, 30.0);
    let sum: f64 = server.explanation.iter().map(|c| c.points).sum();
    assert!((sum - server.score).abs() < 0.05);
    let ranked = admin
        .incidents
        .list(proto::ListIncidentsRequest {
            by_score: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .incidents;
    assert_eq!(ranked[0].host, SERVER);
    let only_c2 = admin
        .incidents
        .list(proto::ListIncidentsRequest {
            tactic_id: "TA0011".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .incidents;
    assert_eq!(only_c2.len(), 1);

    // The timeline, in arrival order, with each member's ATT&CK.
    let d = admin
        .incidents
        .get(proto::GetIncidentRequest {
            id: server.id,
            max_members: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let sids: Vec<u32> = d.timeline.iter().map(|m| m.sid).collect();
    assert_eq!(sids, [300, 100, 100, 100]);
    assert_eq!(d.timeline[1].technique_id, "T1071");
    let missing = admin
        .incidents
        .get(proto::GetIncidentRequest {
            id: 999,
            max_members: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // Workflow: viewers read, operators change; invalid transitions are refused.
    let mut viewer = h.clients(VIEWER).await;
    let ack = |id| proto::UpdateIncidentRequest {
        id,
        state: "acknowledged".into(),
        ..Default::default()
    };
    let e = viewer.incidents.update(ack(server.id)).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let mut op = h.clients(OPERATOR).await;
    let i = op
        .incidents
        .update(ack(server.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(i.state, "acknowledged");
    let e = op.incidents.update(ack(server.id)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(
        e.message()
            .contains("is acknowledged: it cannot become acknowledged"),
        "{}",
        e.message()
    );
    let e = op
        .incidents
        .update(proto::UpdateIncidentRequest {
            id: server.id,
            state: "closed".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    // The console: assign, note, resolve, list and show, as tables and JSON.
    let id = server.id.to_string();
    let (r, _) = h.ctl(OPERATOR, &["incidents", "assign", &id, "ann"]).await;
    r.unwrap();
    let (r, _) = h
        .ctl(
            OPERATOR,
            &["incidents", "note", &id, "beacon confirmed in proxy logs"],
        )
        .await;
    r.unwrap();
    let (r, out) = h.ctl(OPERATOR, &["incidents", "resolve", &id]).await;
    r.unwrap();
    assert!(out.contains("resolved"), "{out}");
    let (r, out) = h.ctl(VIEWER, &["incidents", "list", "--by-score"]).await;
    r.unwrap();
    assert!(out.starts_with("ID  "), "{out}");
    assert!(
        out.contains(SERVER) && out.contains("TA0001,TA0011"),
        "{out}"
    );
    let (r, out) = h.ctl(VIEWER, &["--json", "incidents", "show", &id]).await;
    r.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["incident"]["assignee"], "ann");
    assert_eq!(v["incident"]["state"], "resolved");
    assert_eq!(v["incident"]["notes"][0]["who"], "operator");
    assert_eq!(v["timeline"].as_array().unwrap().len(), 4);
    let (r, out) = h.ctl(VIEWER, &["incidents", "show", &id]).await;
    r.unwrap();
    assert!(
        out.contains("FACTOR") && out.contains("kill_chain"),
        "{out}"
    );
    let (r, _) = h
        .ctl(OPERATOR, &["incidents", "state", &id, "contained"])
        .await;
    assert!(r.unwrap_err().to_string().contains("FailedPrecondition"));
    let (r, out) = h
        .ctl(VIEWER, &["incidents", "list", "--state", "resolved"])
        .await;
    r.unwrap();
    assert_eq!(out.lines().count(), 2, "{out}");

    // Every change and refusal is in the audit log with the caller's identity.
    let audit = admin
        .audit
        .list(proto::ListAuditRequest {
            method: "IncidentService/Update".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let results: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e.who.as_str(), e.result.as_str()))
        .collect();
    assert!(results.contains(&("operator", "ok")), "{results:?}");
    assert!(
        results.contains(&("operator", "FailedPrecondition")),
        "{results:?}"
    );
    assert!(
        results.contains(&("viewer", "PermissionDenied")),
        "{results:?}"
    );
    assert!(audit.iter().any(|e| e.target.contains("state=resolved")));

    // Watch: a new member of the open printer incident is streamed.
    let mut watch = viewer
        .incidents
        .watch(proto::WatchIncidentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    h.push(40, SCANNER, PRINTER, 200);
    let changed = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!((changed.id, changed.alerts), (printer.id, 6));

    // Counters and Prometheus.
    let m = controlplane::metrics::render(&h.cp.ctx);
    assert!(m.contains("osprey_incidents{state=\"resolved\"} 1"), "{m}");
    assert!(m.contains("osprey_incidents{state=\"new\"} 1"), "{m}");
    assert!(m.contains("osprey_incidents_members 10"), "{m}");
    assert!(m.contains("osprey_incidents_overflow 0"), "{m}");
    drop(watch);
    h.cp.shutdown().await;

    // Restart: the incidents, their workflow and timelines are kept; the printer's open
    // incident takes the next member, the resolved server's does not.
    let h = start(&db).await;
    let mut admin = h.clients(ADMIN).await;
    h.push(50, SCANNER, PRINTER, 200);
    h.push(51, SERVER, C2, 100);
    let l = until(&mut admin, "members after restart", |l| {
        l.len() == 3 && l.iter().map(|i| i.alerts).sum::<u64>() == 12
    })
    .await;
    let again = l.iter().find(|i| i.id == server.id).unwrap();
    assert_eq!(
        (again.state.as_str(), again.assignee.as_str(), again.alerts),
        ("resolved", "ann", 4)
    );
    assert_eq!(l.iter().find(|i| i.id == printer.id).unwrap().alerts, 7);
    let fresh = l.iter().max_by_key(|i| i.id).unwrap();
    assert_eq!(
        (fresh.host.as_str(), fresh.alerts, fresh.state.as_str()),
        (SERVER, 1, "new")
    );
    assert!(fresh.id > printer.id.max(server.id));
    // Recency: served scores are as of the newest packet seen.
    let before = l.iter().find(|i| i.id == printer.id).unwrap().score;
    h.push(3 * 86_400, SCANNER, "192.0.2.77", 200);
    let l = until(&mut admin, "a member three days later", |l| l.len() == 4).await;
    let printer_now = l.iter().find(|i| i.id == printer.id).unwrap();
    let recency = printer_now
        .explanation
        .iter()
        .find(|c| c.factor == "recency")
        .unwrap();
    assert_eq!(recency.points, 0.0);
    assert!(
        (before - printer_now.score - 5.0).abs() < 0.05,
        "{before} → {}",
        printer_now.score
    );
    h.cp.shutdown().await;
}
