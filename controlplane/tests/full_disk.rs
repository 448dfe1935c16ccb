//! Full disk: the database lives on a small tmpfs that traffic fills up. Storage errors must
//! become counted errors, a precise gRPC status and a degraded storage state that says why,
//! the workers must keep running without blocking (their pushes turn into counted ring
//! overflow), and every alert acknowledged before the disk filled must still be readable. A
//! restart on the full volume must succeed (read-only if it must) and say what to do.
//!
//! Needs root to mount the tmpfs; skips with a note otherwise (fails when `CI` is set).

mod common;

use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use controlplane::api::auth::{token_sha256_hex, Role};
use controlplane::config::{ControlPlaneConfig, TokenConfig};
use controlplane::console::Connection;
use controlplane::events::{Event, Interest, Policy};
use controlplane::model::Alert;
use controlplane::proto;
use controlplane::server::ControlPlane;
use controlplane::store::{AlertFilter, AlertKey, Store, StoreOptions, FLUSH_HEADROOM_BYTES};
use tonic::Code;

use common::{rule_text, SimAppliance};

struct Mount(std::path::PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Bytes the tmpfs holds beyond the free-space floor: RocksDB's preallocated WAL (the
/// memtable size and a tenth) and manifest, and about 24 MiB that traffic fills before writes
/// are refused.
const FILLABLE: u64 = 128 << 20;

/// Mounts a tmpfs of the floor plus [`FILLABLE`] under `dir`; `None` (with a note) when this
/// machine cannot.
fn small_volume(dir: &std::path::Path) -> Option<(std::path::PathBuf, Mount)> {
    let mnt = dir.join("small");
    std::fs::create_dir(&mnt).unwrap();
    let size = format!("size={}", FLUSH_HEADROOM_BYTES + FILLABLE);
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &size, "tmpfs"])
        .arg(&mnt)
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "cannot mount a tmpfs at {} (needs root)",
            mnt.display()
        );
        eprintln!("note: cannot mount a tmpfs here (needs root); full-disk test skipped");
        return None;
    }
    Some((mnt.clone(), Mount(mnt)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_is_a_counted_error_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let Some((mnt, _m)) = small_volume(dir.path()) else {
        return;
    };

    let mut cfg = ControlPlaneConfig::default();
    cfg.api.listen = "127.0.0.1:0".parse().unwrap();
    cfg.metrics.enabled = false;
    cfg.storage.path = mnt.join("db");
    cfg.ingest.subscriber_buffer = 1 << 20;
    // Raised to the flush headroom by the store.
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
    // Status says storage is degraded, and why.
    let st = c
        .system
        .status(proto::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(st.state, "degraded");
    let h = st.health.iter().find(|h| h.component == "storage").unwrap();
    assert_eq!(h.state, "degraded");
    assert!(h.reason.contains("bytes free"), "{}", h.reason);
    assert!(h.since_nanos > 0);
    // The workers' alerts that found the rings full are lost, and said so with their cause:
    // `storage_refused` once the retry buffer is full; on a loaded machine the simulated
    // workers can outrun ingest before the disk fills, which is `worker_ring`.
    let a = st.health.iter().find(|h| h.component == "alerts").unwrap();
    assert_eq!(a.state, "degraded");
    assert!(
        a.reason.contains("storage_refused") || a.reason.contains("worker_ring"),
        "{}",
        a.reason
    );
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

fn alert(i: u64) -> Alert {
    Alert {
        ts_nanos: 1_700_000_000_000_000_000 + i,
        gid: 1,
        sid: 1 + (i % 5) as u32,
        msg: "fill the volume".into(),
        payload: vec![b'x'; 300],
        ..Alert::default()
    }
}

/// Fills the volume of `path` with a file until it refuses another byte.
fn fill_up(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 << 10];
    while f.write_all(&chunk).is_ok() {}
    let small = [0u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
}

#[test]
fn a_restart_on_a_full_disk_succeeds_read_only_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let Some((mnt, _m)) = small_volume(dir.path()) else {
        return;
    };
    let db = mnt.join("db");
    let opts = StoreOptions {
        min_free_bytes: 1,
        ..StoreOptions::default()
    };
    let mut stored = 0u64;
    {
        let store = Store::open(&db, &opts).unwrap();
        let mut i = 0u64;
        let refusal = loop {
            let mut batch: Vec<Alert> = (i..i + 2000).map(alert).collect();
            match store.append_alerts(&mut batch) {
                Ok(()) => stored += 2000,
                Err(e) => break e.to_string(),
            }
            i += 2000;
            assert!(i < 10_000_000, "writes were never refused");
        };
        assert!(refusal.contains("writes refused"), "{refusal}");
        assert!(stored > 10_000, "only {stored} stored");
        let h = store.health();
        assert!(h.reason.contains("bytes free"), "{h:?}");
    }
    // Another process takes the rest of the volume.
    fill_up(&mnt.join("junk"));

    let store = Store::open(&db, &opts).expect("a restart on a full volume opens");
    let h = store.health();
    assert_eq!(h.state, controlplane::health::State::Degraded, "{h:?}");
    assert!(store.is_read_only(), "{h:?}");
    assert!(h.reason.contains("read-only"), "{}", h.reason);
    assert!(h.reason.contains("Free space"), "{}", h.reason);
    let mut more = vec![alert(u64::MAX / 2)];
    let e = store.append_alerts(&mut more).unwrap_err();
    assert!(e.to_string().contains("read-only"), "{e}");
    // What was stored is there.
    let page = store
        .query_alerts(&AlertFilter {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.items.len(), 10);
    drop(store);

    // Space comes back: the next restart writes again.
    std::fs::remove_file(mnt.join("junk")).unwrap();
    let store = Store::open(&db, &opts).unwrap();
    assert!(!store.is_read_only());
    let page = store
        .query_alerts(&AlertFilter {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.items.len(), 10);
}
