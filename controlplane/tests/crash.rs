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
use controlplane::events::{Bus, Event, Interest, Policy};
use controlplane::ingest::{Ingest, SignatureCatalog};
use controlplane::model::Alert;
use controlplane::store::{AlertKey, Store, StoreOptions};

mod common;

const ENV: &str = "OSPREY_CRASH_CHILD_DB";

#[test]
fn crash_child() {
    let Ok(path) = std::env::var(ENV) else { return };
    let store = Arc::new(Store::open(path.as_ref(), &StoreOptions::default()).unwrap());
    let cfg = IngestConfig {
        batch_max: 256,
        ..IngestConfig::default()
    };
    let (producer, source) = common::source::ring("w0", cfg.ring_capacity);
    let bus = Arc::new(Bus::new());
    // The acknowledgement stream: alerts published once their batch is written.
    let mut sub = bus.subscribe("acks", Interest::ALERTS, Policy::Drop, 4096);
    let _ingest =
        Ingest::start(&cfg, vec![source], store, bus, SignatureCatalog::default()).unwrap();
    std::thread::spawn(move || {
        let mut n = 0u64;
        // Bounded, so that a parent that never kills this process cannot fill the disk.
        while n < CHILD_ALERTS {
            let a = Alert {
                ts_nanos: 1_000_000 + n,
                gid: 1,
                sid: 1 + (n % 50) as u32,
                src_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                dst_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                packet_no: n,
                ..Alert::default()
            };
            if producer.push_alert(a) {
                n += 1;
            } else {
                std::thread::yield_now();
            }
        }
    });
    let out = std::io::stdout();
    loop {
        // Printing falling behind drops acknowledgements from this consumer's queue: those
        // alerts are simply not reported (the parent checks the ones it saw).
        let a = match sub.blocking_recv() {
            Some(Event::Alert(a)) => a,
            Some(_) => continue,
            None => return,
        };
        let mut o = out.lock();
        writeln!(o, "ACK {} {}", a.ts_nanos, a.id).unwrap();
        o.flush().unwrap();
    }
}

/// Alerts the child produces at most.
const CHILD_ALERTS: u64 = 5_000_000;

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
        // Lines come through a thread so that a child that stops acknowledging fails the test
        // after a deadline instead of blocking the read forever.
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut acked: Vec<AlertKey> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while acked.len() < 20_000 {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match lines.recv_timeout(left) {
                Ok(line) => line,
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "round {round}: {} acknowledgements, then {e:?}",
                        acked.len()
                    );
                }
            };
            if let Some(rest) = line.strip_prefix("ACK ") {
                let mut it = rest.split(' ');
                let ts = it.next().unwrap().parse().unwrap();
                let id = it.next().unwrap().parse().unwrap();
                acked.push(AlertKey { ts_nanos: ts, id });
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        // Acknowledgements already in the pipe count too.
        for line in lines.try_iter() {
            if let Some(rest) = line.strip_prefix("ACK ") {
                let mut it = rest.split(' ');
                if let (Some(Ok(ts)), Some(Ok(id))) =
                    (it.next().map(str::parse), it.next().map(str::parse))
                {
                    acked.push(AlertKey { ts_nanos: ts, id });
                }
            }
        }
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
