//! Loss is loud: a storage stall while simulated workers keep raising alerts makes their
//! rings overflow; the lost alerts are counted by cause and shown by `Status` (degraded, with
//! the reason), by `osprey ctl status`, in the Stats counters and in Prometheus.

mod common;

use std::time::{Duration, Instant};

use clap::Parser;
use controlplane::api::auth::{token_sha256_hex, Role};
use controlplane::config::{ControlPlaneConfig, TokenConfig};
use controlplane::console::{self as ctl, Connection, CtlArgs};
use controlplane::proto;
use controlplane::server::ControlPlane;

use common::{rule_text, SimAppliance};

fn health<'a>(s: &'a proto::StatusResponse, component: &str) -> &'a proto::ComponentHealth {
    s.health
        .iter()
        .find(|h| h.component == component)
        .unwrap_or_else(|| panic!("no {component} in {:?}", s.health))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_stall_shows_lost_alerts_in_status_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ControlPlaneConfig::default();
    cfg.api.listen = "127.0.0.1:0".parse().unwrap();
    cfg.metrics.enabled = false;
    cfg.storage.path = dir.path().join("db");
    cfg.storage.min_free_bytes = 0;
    // A small retry buffer (16 batches): the worker ring fills soon after storage stalls.
    cfg.ingest.batch_max = 64;
    cfg.auth.tokens = vec![TokenConfig {
        name: "ops".into(),
        role: Role::Admin,
        sha256: token_sha256_hex("ops"),
    }];
    let names = vec!["w0".to_string()];
    let sim = SimAppliance::new(&names);
    let cp = ControlPlane::start_with_sources(
        cfg,
        sim.sources(),
        sim.clone(),
        sim.compiler(Duration::ZERO),
    )
    .await
    .unwrap();
    let mut c = Connection {
        endpoint: format!("http://{}", cp.grpc_addr),
        token: Some("ops".into()),
        ..Default::default()
    }
    .connect()
    .await
    .unwrap();
    // Paced so that ingest keeps up while storage does.
    sim.run_workers(Duration::from_micros(50));
    c.rules
        .add(proto::AddRulesRequest {
            text: rule_text(1, "stall"),
            ..Default::default()
        })
        .await
        .unwrap();
    c.rules.reload(proto::ReloadRequest {}).await.unwrap();

    // Healthy before anything goes wrong.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s = c
        .system
        .status(proto::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.state, "ok", "{:?}", s.health);
    assert_eq!(health(&s, "alerts").state, "ok");
    assert_eq!(health(&s, "storage").state, "ok");

    let store = cp.ctx.store.clone();
    let ingest = cp.ctx.ingest.clone();
    // Storage stalls: a thread holds every write until told to let go.
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (paused, is_paused) = std::sync::mpsc::channel::<()>();
    let holder = {
        let store = store.clone();
        std::thread::spawn(move || {
            let _pause = store.pause_writes();
            paused.send(()).unwrap();
            let _ = released.recv();
        })
    };
    is_paused.recv().unwrap();
    let t = Instant::now();
    loop {
        let drops = ingest.alert_drops();
        if drops[2].1 > 0 {
            assert_eq!(drops[2].0, "storage_stalled");
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no alert counted as lost to the stall: {drops:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // While storage is still stalled: Status says so, with the reasons.
    let s = c
        .system
        .status(proto::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.state, "degraded");
    let st = health(&s, "storage");
    assert_eq!(st.state, "degraded");
    assert!(st.reason.contains("stalled"), "{}", st.reason);
    let al = health(&s, "alerts");
    assert_eq!(al.state, "degraded");
    assert!(al.reason.contains("storage_stalled"), "{}", al.reason);
    assert!(al.since_nanos > 0);

    // Stats and Prometheus carry the counts by cause.
    let stats = c
        .system
        .stats(proto::StatsRequest {})
        .await
        .unwrap()
        .into_inner();
    let counter = |n: &str| {
        stats
            .control_plane
            .iter()
            .find(|c| c.name == n)
            .map(|c| c.value)
    };
    let stalled = counter("ingest.alerts_dropped.storage_stalled").unwrap();
    assert!(stalled > 0);
    assert!(counter("ingest.alerts_dropped").unwrap() >= stalled);
    let ctx = cp.ctx.clone();
    let text = tokio::task::spawn_blocking(move || controlplane::metrics::render(&ctx))
        .await
        .unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("osprey_alerts_dropped{cause=\"storage_stalled\"}"))
        .expect("labelled metric");
    let v: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(v > 0, "{line}");
    assert!(text.contains("osprey_degraded{component=\"alerts\"} 1"));
    assert!(text.contains("osprey_degraded{component=\"storage\"} 1"));

    // `osprey ctl status` prints the degraded components.
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        ctl: CtlArgs,
    }
    let endpoint = format!("http://{}", cp.grpc_addr);
    let cli =
        Cli::try_parse_from(["ctl", "--endpoint", &endpoint, "--token", "ops", "status"]).unwrap();
    let mut out: Vec<u8> = Vec::new();
    let code = ctl::run_with_output(cli.ctl, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("state              degraded"), "{text}");
    assert!(text.contains("alerts degraded since"), "{text}");
    assert!(text.contains("storage degraded since"), "{text}");

    // The stall ends: storage recovers, the loss stays on record.
    release.send(()).unwrap();
    holder.join().unwrap();
    sim.join();
    let t = Instant::now();
    loop {
        let s = c
            .system
            .status(proto::StatusRequest {})
            .await
            .unwrap()
            .into_inner();
        if health(&s, "storage").state == "ok" {
            assert_eq!(health(&s, "alerts").state, "degraded");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "{:?}", s.health);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cp.request_shutdown();
    tokio::time::timeout(Duration::from_secs(30), cp.wait())
        .await
        .expect("shutdown completes");
}
