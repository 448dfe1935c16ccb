//! Full disk: the database lives on a small tmpfs that traffic fills up. Storage errors must
//! become counted errors and a precise gRPC status, the workers must keep running without
//! blocking (their pushes turn into counted ring overflow), and every alert acknowledged
//! before the disk filled must still be readable.
//!
//! Needs root to mount the tmpfs; skips with a note otherwise.

mod common;

use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use controlplane::api::auth::{token_sha256_hex, Role};
use controlplane::config::{ControlPlaneConfig, TokenConfig};
use controlplane::console::Connection;
use controlplane::events::{Event, Interest, Policy};
use controlplane::proto;
use controlplane::server::ControlPlane;
use controlplane::store::AlertKey;
use tonic::Code;

use common::{rule_text, SimAppliance};

struct Mount(std::path::PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_is_a_counted_error_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=24m", "tmpfs"])
        .arg(&mnt)
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("note: cannot mount a tmpfs here (needs root); full-disk test skipped");
        return;
    }
    let _m = Mount(mnt.clone());

    let mut cfg = ControlPlaneConfig::default();
    cfg.api.listen = "127.0.0.1:0".parse().unwrap();
    cfg.metrics.enabled = false;
    cfg.storage.path = mnt.join("db");
    cfg.ingest.subscriber_buffer = 1 << 20;
    cfg.storage.min_free_bytes = 8 << 20;
    cfg.auth.tokens = vec![TokenConfig {
        name: "ops".into(),
        role: Role::Admin,
        sha256: token_sha256_hex("ops"),
    }];
    let names = vec!["w0".to_string(), "w1".to_string()];
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
    // Collect every acknowledgement while traffic fills the disk.
    // A consumer of the event stream that ingest waits for, so it sees every alert stored.
    let mut sub = cp
        .ctx
        .events
        .subscribe("acks", Interest::ALERTS, Policy::Wait, 1 << 20);
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<AlertKey>::new()));
    let acked2 = acked.clone();
    let collector = tokio::spawn(async move {
        while let Some(ev) = sub.recv().await {
            if let Event::Alert(a) = ev {
                acked2.lock().unwrap().push(AlertKey {
                    ts_nanos: a.ts_nanos,
                    id: a.id,
                });
            }
        }
    });
    sim.run_workers(Duration::ZERO);
    c.rules
        .add(proto::AddRulesRequest {
            text: rule_text(1, "fill"),
            ..Default::default()
        })
        .await
        .unwrap();
    c.rules.reload(proto::ReloadRequest {}).await.unwrap();
    let ingest = cp.ctx.ingest.clone();
    let t = Instant::now();
    while ingest.counters.store_errors.load(Ordering::Relaxed) == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the disk never filled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Workers keep running: packets still advance, and the rings overflow (counted) once
    // the retry buffer is full.
    let p0 = sim.workers[0].1.packets.load(Ordering::Relaxed);
    let t = Instant::now();
    while ingest.ring_overflow().iter().map(|r| r.1).sum::<u64>() == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "ring overflow never counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t = Instant::now();
    while sim.workers[0].1.packets.load(Ordering::Relaxed) <= p0 {
        assert!(t.elapsed() < Duration::from_secs(10), "worker stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A mutating call gets a precise status.
    let e = c
        .rules
        .add(proto::AddRulesRequest {
            text: rule_text(2, "late"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    // Reads still work, and every acknowledged alert is there.
    let s = c
        .system
        .stats(proto::StatsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(s
        .control_plane
        .iter()
        .any(|c| c.name == "ingest.store_errors" && c.value > 0));
    sim.join();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let acked: Vec<AlertKey> = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 1000,
        "only {} alerts acknowledged",
        acked.len()
    );
    let store = cp.ctx.store.clone();
    let missing = tokio::task::spawn_blocking(move || {
        acked
            .iter()
            .filter(|k| store.get_alert(**k).unwrap().is_none())
            .count()
    })
    .await
    .unwrap();
    assert_eq!(missing, 0);
    collector.abort();
    cp.request_shutdown();
    tokio::time::timeout(Duration::from_secs(30), cp.wait())
        .await
        .expect("shutdown with a full disk completes");
}
