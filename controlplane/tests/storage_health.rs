//! Storage health with real RocksDB files on disk: a corrupted SST is reported at open, by
//! name, as a degraded store that keeps serving; a stalled write shows as degraded storage.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use controlplane::health::State;
use controlplane::model::Alert;
use controlplane::store::{Store, StoreOptions};

fn alert(i: u64) -> Alert {
    Alert {
        ts_nanos: 1_700_000_000_000_000_000 + i * 1000,
        gid: 1,
        sid: 1000 + (i % 7) as u32,
        src_ip: IpAddr::V4(Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8)),
        dst_ip: IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)),
        msg: format!("alert number {i} with some text to fill a data block"),
        payload: vec![b'x'; 200],
        ..Alert::default()
    }
}

fn fill(store: &Store, n: u64) {
    let mut batch: Vec<Alert> = (0..n).map(alert).collect();
    store.append_alerts(&mut batch).unwrap();
    store.flush().unwrap();
}

/// The SST files of the database, largest first.
fn ssts(db: &Path) -> Vec<PathBuf> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(db)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".sst"))
        .map(|e| (e.metadata().unwrap().len(), e.path()))
        .collect();
    v.sort_by_key(|b| std::cmp::Reverse(b.0));
    v.into_iter().map(|(_, p)| p).collect()
}

#[test]
fn a_healthy_store_is_ok_and_verifies_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    {
        let store = Store::open(&db, &StoreOptions::default()).unwrap();
        fill(&store, 5_000);
    }
    let store = Store::open(&db, &StoreOptions::default()).unwrap();
    assert!(store.verify_newest(u64::MAX).unwrap() > 0);
    let h = store.health();
    assert_eq!(h.state, State::Ok, "{h:?}");
}

#[test]
fn a_corrupted_sst_is_reported_at_open_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    {
        let store = Store::open(&db, &StoreOptions::default()).unwrap();
        fill(&store, 20_000);
    }
    // The alerts' file is the largest; flip bytes in its data blocks (the first third: the
    // index, filter and footer are at the end).
    let victim = ssts(&db).into_iter().next().expect("an SST file");
    let mut bytes = std::fs::read(&victim).unwrap();
    let at = bytes.len() / 4;
    for b in &mut bytes[at..at + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&victim, &bytes).unwrap();
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();

    match Store::open(&db, &StoreOptions::default()) {
        Ok(store) => {
            let h = store.health();
            eprintln!("opened; health: {h:?}");
            assert_eq!(h.state, State::Degraded, "{h:?}");
            assert!(
                h.reason.contains(&name),
                "reason names {name}: {}",
                h.reason
            );
            assert!(h.reason.contains("orrupt"), "{}", h.reason);
            assert!(h.since_nanos > 0);
            // Still serving what it can, and the verification says so again on demand.
            assert!(store.verify_newest(u64::MAX).is_err());
            let counters = &store.counters;
            assert!(
                counters
                    .corruption_errors
                    .load(std::sync::atomic::Ordering::Relaxed)
                    > 0
            );
        }
        Err(e) => {
            // RocksDB may refuse the file outright; then the error names it.
            let msg = e.to_string();
            eprintln!("refused: {msg}");
            assert!(msg.contains(&name), "error names {name}: {msg}");
        }
    }
}

#[test]
fn a_stalled_write_shows_as_degraded_storage() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        std::sync::Arc::new(Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap());
    let pause = store.pause_writes();
    let s2 = store.clone();
    let writer = std::thread::spawn(move || {
        let mut b = vec![alert(1)];
        s2.append_alerts(&mut b).unwrap();
    });
    std::thread::sleep(controlplane::store::STALL_AFTER + Duration::from_millis(300));
    let h = store.health();
    assert_eq!(h.state, State::Degraded, "{h:?}");
    assert!(h.reason.contains("stalled"), "{}", h.reason);
    drop(pause);
    writer.join().unwrap();
    assert_eq!(store.health().state, State::Ok);
}

#[test]
fn damage_behind_an_open_store_is_found_by_the_background_verification() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let store = Store::open(&db, &StoreOptions::default()).unwrap();
    let mut b: Vec<Alert> = (0..20_000).map(alert).collect();
    store.append_alerts(&mut b).unwrap();
    store.flush().unwrap();
    assert_eq!(store.health().state, State::Ok);
    // Damage the alerts' file behind the open database's back (same inode).
    let victim = ssts(&db).into_iter().next().expect("an SST file");
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();
    let mut bytes = std::fs::read(&victim).unwrap();
    let at = bytes.len() / 4;
    for x in &mut bytes[at..at + 64] {
        *x ^= 0x5a;
    }
    {
        use std::io::{Seek, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&victim)
            .unwrap();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.write_all(&bytes).unwrap();
        f.sync_all().unwrap();
    }
    // What the health watch runs every hour.
    let e = store
        .verify_newest(controlplane::store::VERIFY_AT_OPEN_BYTES)
        .unwrap_err();
    assert!(e.to_string().contains(&name), "{e}");
    let h = store.health();
    assert_eq!(h.state, State::Degraded);
    assert!(h.reason.contains(&name), "{}", h.reason);
}

#[test]
fn a_compaction_that_meets_damage_is_a_background_error_in_health() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let store = Store::open(&db, &StoreOptions::default()).unwrap();
    // Interleaved times: the files overlap, so a compaction has to read them (files that do
    // not overlap are moved down a level unread).
    for i in 0..3u64 {
        let mut b: Vec<Alert> = (0..10_000u64).map(|j| alert(j * 3 + i)).collect();
        store.append_alerts(&mut b).unwrap();
        store.flush().unwrap();
    }
    let victim = ssts(&db).into_iter().next().expect("an SST file");
    let mut bytes = std::fs::read(&victim).unwrap();
    let at = bytes.len() / 4;
    for x in &mut bytes[at..at + 64] {
        *x ^= 0x5a;
    }
    {
        use std::io::{Seek, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&victim)
            .unwrap();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.write_all(&bytes).unwrap();
        f.sync_all().unwrap();
    }
    assert_eq!(store.health().state, State::Ok);
    store.compact_all();
    let h = store.health();
    assert_eq!(h.state, State::Degraded, "{h:?}");
    assert!(h.reason.contains("background error"), "{}", h.reason);
    // Writes stop, and say so.
    let mut more = vec![alert(99_999_999)];
    assert!(store.append_alerts(&mut more).is_err());
}
