//! Crash test: a child process ingests alerts and prints each one the moment it is
//! acknowledged (published after its batch is written); the parent kills it with SIGKILL
//! mid-stream, reopens the database and checks every acknowledged alert is there.
//!
//! The child is this same test binary, re-run with `OSPREY_CRASH_CHILD_DB` set so that
//! `crash_child` does the writing; in a normal run `crash_child` returns at once.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlplane::config::IngestConfig;
use controlplane::ingest::{AlertEvent, Ingest, SignatureCatalog};
use controlplane::store::{AlertKey, Store, StoreOptions};

const ENV: &str = "OSPREY_CRASH_CHILD_DB";

#[test]
fn crash_child() {
    let Ok(path) = std::env::var(ENV) else { return };
    let store = Arc::new(Store::open(path.as_ref(), &StoreOptions::default()).unwrap());
    let cfg = IngestConfig {
        batch_max: 256,
        ..IngestConfig::default()
    };
    let (ingest, mut eps) = Ingest::start(
        &cfg,
        &["w0".into()],
        store,
        None,
        SignatureCatalog::default(),
    )
    .unwrap();
    let mut rx = ingest.shared.subscribe();
    let mut ep = eps.pop().unwrap();
    std::thread::spawn(move || {
        let mut n = 0u64;
        loop {
            let ev = AlertEvent {
                ts_nanos: 1_000_000 + n,
                sid: 1 + (n % 50) as u32,
                src_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                dst_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                packet_no: n,
                ..AlertEvent::default()
            };
            if ep.push_alert(ev) {
                n += 1;
            } else {
                std::thread::yield_now();
            }
        }
    });
    let out = std::io::stdout();
    loop {
        let a = rx.blocking_recv().unwrap();
        let mut o = out.lock();
        writeln!(o, "ACK {} {}", a.ts_nanos, a.id).unwrap();
        o.flush().unwrap();
    }
}

#[test]
fn every_acknowledged_alert_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let exe = std::env::current_exe().unwrap();
    for round in 0..2 {
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(ENV, &db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut acked: Vec<AlertKey> = Vec::new();
        let t = Instant::now();
        while acked.len() < 20_000 {
            assert!(t.elapsed() < Duration::from_secs(120), "child too slow");
            let Some(line) = lines.next() else {
                panic!("child exited early")
            };
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("ACK ") {
                let mut it = rest.split(' ');
                let ts = it.next().unwrap().parse().unwrap();
                let id = it.next().unwrap().parse().unwrap();
                acked.push(AlertKey { ts_nanos: ts, id });
            }
        }
        child.kill().unwrap(); // SIGKILL
                               // Acknowledgements already in the pipe count too.
        for line in lines.map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("ACK ") {
                let mut it = rest.split(' ');
                if let (Some(Ok(ts)), Some(Ok(id))) =
                    (it.next().map(str::parse), it.next().map(str::parse))
                {
                    acked.push(AlertKey { ts_nanos: ts, id });
                }
            }
        }
        child.wait().unwrap();
        let store = Store::open(&db, &StoreOptions::default()).unwrap();
        let missing: Vec<_> = acked
            .iter()
            .filter(|k| store.get_alert(**k).unwrap().is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} of {} acknowledged alerts lost, e.g. {:?}",
            missing.len(),
            acked.len(),
            missing.first()
        );
        // Ids keep increasing across the crash: no id is handed out twice.
        let mut ids: Vec<u64> = acked.iter().map(|k| k.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), acked.len());
    }
}
