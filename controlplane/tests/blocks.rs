//! The block list through the real gRPC server (127.0.0.1:0, RocksDB in a temp dir) and
//! `osprey ctl block`: add, list, get, remove, roles, audit, expiry, restart, the cap, the
//! configuration's entries. The data plane side is the workers' real snapshot slots and
//! block tables, each polled by a thread between "bursts" as a worker does, which also looks
//! a probe packet up in the table it runs.

mod common;
use common::console::wait_for;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use controlplane::api::auth::Role;
use controlplane::config::{ControlPlaneConfig, StaticBlockConfig};
use controlplane::console::{self as ctl};
use controlplane::proto;
use controlplane::seams::{Appliance, ApplianceStatus, StatsSnapshot, WorkerStats};
use controlplane::server::ControlPlane;
use dataplane::blocklist::{BlockSlot, BlockTable, Probe};
use dataplane::snapshot::Offer;
use tonic::Code;
use vocab::block::BlockEntry;

const ADMIN: &str = "admin-token";
const OPERATOR: &str = "operator-token";
const VIEWER: &str = "viewer-token";

/// Workers that poll their block slot between bursts and look up one probe per burst.
struct SlotWorkers {
    slots: Vec<Arc<BlockSlot>>,
    /// Per worker: bursts whose probe the table in use matched.
    hits: Vec<Arc<AtomicU64>>,
    probe: Probe,
    stop: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl SlotWorkers {
    fn start(n: usize, probe: Probe) -> Arc<SlotWorkers> {
        let w = Arc::new(SlotWorkers {
            slots: (0..n).map(|_| Arc::new(BlockSlot::new(0))).collect(),
            hits: (0..n).map(|_| Arc::new(AtomicU64::new(0))).collect(),
            probe,
            stop: Arc::new(AtomicBool::new(false)),
            threads: Mutex::new(Vec::new()),
        });
        for i in 0..n {
            let (slot, hits, stop) = (w.slots[i].clone(), w.hits[i].clone(), w.stop.clone());
            let probe = w.probe;
            w.threads.lock().unwrap().push(std::thread::spawn(move || {
                let mut table = Arc::new(BlockTable::default());
                let mut seen = slot.active();
                while !stop.load(Ordering::Relaxed) {
                    if slot.changed(seen) {
                        match slot.take() {
                            Offer::New(g, t) => {
                                table = t;
                                seen = g;
                                slot.confirm(g);
                            }
                            Offer::CatchUp(g) => seen = g,
                            Offer::None => {}
                        }
                    }
                    if table.lookup(&probe).is_some() {
                        hits.fetch_add(1, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
            }));
        }
        w
    }

    fn join(&self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.lock().unwrap().drain(..) {
            t.join().unwrap();
        }
    }

    fn hits(&self) -> u64 {
        self.hits.iter().map(|h| h.load(Ordering::Relaxed)).sum()
    }
}

impl Appliance for SlotWorkers {
    fn status(&self) -> ApplianceStatus {
        ApplianceStatus::default()
    }
    fn stats(&self) -> StatsSnapshot {
        StatsSnapshot {
            workers: vec![WorkerStats {
                worker: "w0".into(),
                counters: vec![("blocklist.hits.api".into(), self.hits())],
            }],
        }
    }
    fn shutdown(&self) {}
    fn publish_blocks(&self, generation: u64, entries: &[BlockEntry]) {
        let t = Arc::new(BlockTable::new(entries.iter().cloned()));
        for s in &self.slots {
            s.publish(generation, t.clone());
        }
    }
    fn block_generations(&self) -> Vec<u64> {
        self.slots.iter().map(|s| s.active()).collect()
    }
}

struct Harness {
    cp: Option<ControlPlane>,
    workers: Arc<SlotWorkers>,
    endpoint: String,
}

fn probe() -> Probe {
    Probe {
        proto: 6,
        src: "192.0.2.10".parse::<IpAddr>().unwrap(),
        src_port: 40000,
        dst: "198.51.100.20".parse::<IpAddr>().unwrap(),
        dst_port: 80,
    }
}

fn config(dir: &std::path::Path) -> ControlPlaneConfig {
    let mut cfg = ControlPlaneConfig::default();
    cfg.api.listen = "127.0.0.1:0".parse().unwrap();
    cfg.api.reload_confirm_timeout_ms = 5000;
    cfg.metrics.listen = "127.0.0.1:0".parse().unwrap();
    cfg.storage.path = dir.join("db");
    cfg.blocklist.expiry_check_ms = 20;
    cfg.auth.tokens = common::console::tokens(&[
        ("admin", Role::Admin, ADMIN),
        ("ops", Role::Operator, OPERATOR),
        ("viewer", Role::Viewer, VIEWER),
    ]);
    cfg
}

impl Harness {
    async fn start(cfg: ControlPlaneConfig) -> Harness {
        let workers = SlotWorkers::start(2, probe());
        let compiler = Arc::new(NoCompiler);
        let cp = ControlPlane::start_with_sources(cfg, Vec::new(), workers.clone(), compiler)
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

    async fn ctl(&self, token: &str, args: &[&str]) -> (anyhow::Result<i32>, String) {
        common::console::run(&self.endpoint, token, args).await
    }

    async fn stop(mut self) {
        if let Some(cp) = self.cp.take() {
            cp.shutdown().await;
        }
        self.workers.join();
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

fn add(target: &str, side: &str) -> proto::AddBlockRequest {
    proto::AddBlockRequest {
        target: target.into(),
        side: side.into(),
        reason: "test".into(),
        ..Default::default()
    }
}

async fn list_all(c: &mut ctl::Clients) -> proto::ListBlocksResponse {
    c.blocks
        .list(proto::ListBlocksRequest::default())
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_list_get_remove_reach_every_worker_and_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(config(dir.path())).await;
    let mut c = h.clients(OPERATOR).await;
    assert_eq!(h.workers.hits(), 0);

    // An add answers once every worker runs the table that holds it: the probe hits at once.
    let r = c
        .blocks
        .add(add("198.51.100.0/24", "dst"))
        .await
        .unwrap()
        .into_inner();
    let e = r.entry.unwrap();
    assert_eq!(
        (e.id, e.target.as_str(), e.side.as_str(), e.origin.as_str()),
        (1, "198.51.100.0/24", "dst", "api")
    );
    assert_eq!(e.created_by, "ops");
    assert!(r.overlaps.is_empty());
    assert!(h
        .workers
        .block_generations()
        .iter()
        .all(|g| *g == r.generation));
    let before = h.workers.hits();
    wait_for("hits", || h.workers.hits() > before).await;

    // Overlapping entries are accepted and named.
    let r2 = c
        .blocks
        .add(add("198.51.100.20", "either"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r2.overlaps, vec![1]);
    let r3 = c
        .blocks
        .add(add("tcp 198.51.100.20:80 -> 192.0.2.10:40000", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r3.overlaps, vec![1, 2]);
    // Not overlapping: the source side of another network.
    let r4 = c
        .blocks
        .add(add("2001:db8::/32", "src"))
        .await
        .unwrap()
        .into_inner();
    assert!(r4.overlaps.is_empty());

    let l = list_all(&mut c).await;
    assert_eq!((l.total, l.entries.len()), (4, 4));
    assert_eq!(l.worker_generations, vec![l.generation; 2]);
    // Filters: by address, by origin; pages.
    let by_addr = c
        .blocks
        .list(proto::ListBlocksRequest {
            address: "198.51.100.20".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        by_addr.entries.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let page = c
        .blocks
        .list(proto::ListBlocksRequest {
            page_size: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.entries.len(), 3);
    let rest = c
        .blocks
        .list(proto::ListBlocksRequest {
            page_size: 3,
            page_token: page.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            rest.entries.len(),
            rest.entries[0].id,
            rest.next_page_token.as_str()
        ),
        (1, 4, "")
    );
    let err = c
        .blocks
        .list(proto::ListBlocksRequest {
            origin: "nobody".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // Bad input is refused with the reason.
    let err = c.blocks.add(add("198.51.100.1/24", "")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("host bits"), "{}", err.message());

    // Remove the three entries the probe matches: the workers stop matching it.
    for id in [1, 2, 3] {
        let r = c
            .blocks
            .remove(proto::BlockRef { id })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.entry.unwrap().id, id);
    }
    let settled = h.workers.hits();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        h.workers.hits(),
        settled,
        "no entry matches the probe any more"
    );
    let err = c
        .blocks
        .remove(proto::BlockRef { id: 1 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(
        c.blocks
            .get(proto::BlockRef { id: 4 })
            .await
            .unwrap()
            .into_inner()
            .target,
        "2001:db8::/32"
    );

    // The console: table and JSON.
    let (r, out) = h
        .ctl(
            OPERATOR,
            &[
                "block",
                "add",
                "203.0.113.9",
                "--side",
                "src",
                "--reason",
                "scanner",
                "--ttl",
                "1h",
            ],
        )
        .await;
    assert_eq!(r.unwrap(), 0);
    assert!(out.contains("added block 5 (src 203.0.113.9)"), "{out}");
    let (r, out) = h.ctl(VIEWER, &["block", "list"]).await;
    assert_eq!(r.unwrap(), 0);
    assert!(
        out.contains("ID") && out.contains("203.0.113.9") && out.contains("scanner"),
        "{out}"
    );
    assert!(out.contains("2 of 2 entries (max 100000)"), "{out}");
    let (r, out) = h
        .ctl(VIEWER, &["--json", "block", "list", "--origin", "api"])
        .await;
    assert_eq!(r.unwrap(), 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["total"], 2);
    assert_eq!(v["entries"][1]["target"], "203.0.113.9");
    assert!(v["entries"][1]["expires_ns"].as_u64().unwrap() > 0);
    let (r, out) = h.ctl(OPERATOR, &["--json", "block", "remove", "5"]).await;
    assert_eq!(r.unwrap(), 0);
    assert!(out.contains("\"id\": 5"), "{out}");

    // Roles: a viewer may list but not change.
    let mut v = h.clients(VIEWER).await;
    assert_eq!(
        v.blocks.add(add("192.0.2.1", "")).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        v.blocks
            .remove(proto::BlockRef { id: 4 })
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(list_all(&mut v).await.total, 1);
    let (r, _) = h.ctl(VIEWER, &["block", "remove", "4"]).await;
    assert!(r.unwrap_err().to_string().contains("PermissionDenied"));

    // Every change and refusal is in the audit log.
    let mut a = h.clients(ADMIN).await;
    let audit = a
        .audit
        .list(proto::ListAuditRequest {
            method: "BlockService".into(),
            page_size: 100,
            oldest_first: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let rows: Vec<(String, String, String)> = audit
        .entries
        .iter()
        .map(|e| {
            (
                e.who.clone(),
                e.method.rsplit('/').next().unwrap().to_owned(),
                e.result.clone(),
            )
        })
        .collect();
    let count = |who: &str, m: &str, res: &str| {
        rows.iter()
            .filter(|r| (r.0.as_str(), r.1.as_str(), r.2.as_str()) == (who, m, res))
            .count()
    };
    assert_eq!(count("ops", "Add", "ok"), 5, "{rows:?}");
    assert_eq!(count("ops", "Add", "InvalidArgument"), 1, "{rows:?}");
    assert_eq!(count("ops", "Remove", "ok"), 4, "{rows:?}");
    assert_eq!(count("ops", "Remove", "NotFound"), 1, "{rows:?}");
    assert_eq!(count("viewer", "Add", "PermissionDenied"), 1, "{rows:?}");
    assert_eq!(count("viewer", "Remove", "PermissionDenied"), 2, "{rows:?}");

    // The metrics.
    let body = reqwest_free_get(h.cp.as_ref().unwrap().metrics_addr.unwrap()).await;
    assert!(body.contains("osprey_blocklist_entries 1\n"), "{body}");
    assert!(
        body.contains("osprey_blocklist_hits_total{origin=\"api\"}"),
        "{body}"
    );
    h.stop().await;
}

/// GET /metrics over a plain TCP connection.
async fn reqwest_free_get(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_expire_by_themselves_and_the_expiry_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(config(dir.path())).await;
    let mut c = h.clients(OPERATOR).await;
    let r = c
        .blocks
        .add(proto::AddBlockRequest {
            ttl_secs: 1,
            ..add("192.0.2.10", "src")
        })
        .await
        .unwrap()
        .into_inner();
    c.blocks.add(add("192.0.2.99", "src")).await.unwrap();
    let before = h.workers.hits();
    wait_for("hits", || h.workers.hits() > before).await;
    let l = list_all(&mut c).await;
    assert_eq!(l.total, 2);
    // Gone within the second plus an expiry pass, without any call; republished.
    let started = Instant::now();
    loop {
        let l = list_all(&mut c).await;
        if l.total == 1 {
            assert_eq!(l.entries[0].target, "192.0.2.99");
            assert!(l.generation > r.generation);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "entry did not expire"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_for("workers on the new list", || {
        h.workers
            .block_generations()
            .iter()
            .all(|g| *g > r.generation)
    })
    .await;
    let settled = h.workers.hits();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(h.workers.hits(), settled);
    let mut a = h.clients(ADMIN).await;
    let audit = a
        .audit
        .list(proto::ListAuditRequest {
            who: "expiry".into(),
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(audit.entries.len(), 1);
    assert!(
        audit.entries[0].target.starts_with("1 src 192.0.2.10"),
        "{:?}",
        audit.entries[0]
    );
    // A past absolute expiry is refused.
    let err = c
        .blocks
        .add(proto::AddBlockRequest {
            expires_ns: 1,
            ..add("192.0.2.1", "")
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_survive_a_restart_and_the_cap_refuses_one_more() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.blocklist.max_entries = 3;
    cfg.blocklist.entries = vec![StaticBlockConfig {
        target: "203.0.113.0/24".into(),
        side: "src".into(),
        reason: "lab".into(),
    }];
    let h = Harness::start(cfg.clone()).await;
    let mut c = h.clients(OPERATOR).await;
    let l = list_all(&mut c).await;
    assert_eq!(l.entries.len(), 1);
    assert_eq!(
        (
            l.entries[0].origin.as_str(),
            l.entries[0].created_by.as_str()
        ),
        ("config", "config")
    );
    c.blocks.add(add("192.0.2.10", "src")).await.unwrap();
    c.blocks
        .add(add("tcp 192.0.2.1:1 -> 192.0.2.2:2", ""))
        .await
        .unwrap();
    let err = c.blocks.add(add("192.0.2.11", "src")).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.message().contains("max_entries"), "{}", err.message());
    h.stop().await;

    // After a restart the entries are back and published; the configured one is not doubled,
    // new ids follow the old ones.
    cfg.blocklist.max_entries = 10;
    let h = Harness::start(cfg.clone()).await;
    let mut c = h.clients(OPERATOR).await;
    let l = list_all(&mut c).await;
    let ids: Vec<u64> = l.entries.iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    wait_for("the stored list in the workers", || h.workers.hits() > 0).await;
    let r = c
        .blocks
        .add(add("192.0.2.12", "dst"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.entry.unwrap().id, 4);
    h.stop().await;

    // A configuration without the entry removes it at start.
    cfg.blocklist.entries.clear();
    let h = Harness::start(cfg).await;
    let mut c = h.clients(VIEWER).await;
    let ids: Vec<u64> = list_all(&mut c)
        .await
        .entries
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, vec![2, 3, 4]);
    h.stop().await;
}
