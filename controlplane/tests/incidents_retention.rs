//! Retention of incidents on a real RocksDB store: closed incidents and their timelines go
//! once the alerts they were made of are gone (by age or by the size cap); open incidents
//! stay whatever their age.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use controlplane::events::{Bus, Event};
use controlplane::incidents::{
    persist, Assets, Cidr, GroupBy, Incidents, IncidentsShared, Settings, State,
};
use controlplane::model::Alert;
use controlplane::store::{Store, StoreOptions};

const SEC: u64 = 1_000_000_000;

fn settings() -> Settings {
    Settings {
        group_by: GroupBy::Host,
        window_ns: 600 * SEC,
        killchain_window_ns: 3600 * SEC,
        home_net: vec![Cidr::parse("192.0.2.0/24").unwrap()],
        max_open: 100,
        max_members: 100_000,
        assets: Assets::default(),
        checkpoint_ns: 0,
    }
}

fn alert(ts: u64, host: &str, payload: usize) -> Alert {
    Alert {
        ts_nanos: ts,
        sid: 7,
        severity: 2,
        msg: "sid 7".into(),
        src_ip: host.parse().unwrap(),
        dst_ip: "198.51.100.1".parse().unwrap(),
        payload: vec![7; payload],
        ..Alert::default()
    }
}

/// Stores `alerts` and runs them through a correlator until it has stored every change.
fn correlate(store: &Arc<Store>, mut alerts: Vec<Alert>) -> Arc<IncidentsShared> {
    let bus = Bus::new();
    let mut inc = Incidents::start(settings(), 1 << 20, store.clone(), &bus).unwrap();
    for chunk in alerts.chunks_mut(4096) {
        store.append_alerts(chunk).unwrap();
        for a in chunk.iter() {
            bus.publish(Event::Alert(Arc::new(a.clone())));
        }
    }
    bus.close();
    inc.join();
    inc.shared.clone()
}

fn id_of(shared: &IncidentsShared, host: &str) -> u64 {
    let (all, _) = persist::list(&shared.store, 0, usize::MAX, |i| {
        i.key.host.to_string() == host
    })
    .unwrap();
    assert_eq!(all.len(), 1, "{host}: {all:?}");
    all[0].id
}

fn resolve(shared: &IncidentsShared, id: u64) {
    shared
        .update(id, |i| i.transition(State::Resolved, 1))
        .unwrap();
}

fn gauge(shared: &IncidentsShared, s: State) -> u64 {
    shared.by_state[s as usize].load(Ordering::Relaxed)
}

#[test]
fn closed_incidents_age_out_with_their_alerts_and_open_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap());
    let mut alerts = Vec::new();
    for t in 1..=3 {
        alerts.push(alert(t * SEC, "192.0.2.1", 0)); // resolved, old: goes
        alerts.push(alert(t * SEC, "192.0.2.2", 0)); // open, old: stays
    }
    alerts.push(alert(100 * SEC, "192.0.2.3", 0)); // resolved, recent: stays
    let shared = correlate(&store, alerts);
    let (old, open, recent) = (
        id_of(&shared, "192.0.2.1"),
        id_of(&shared, "192.0.2.2"),
        id_of(&shared, "192.0.2.3"),
    );
    resolve(&shared, old);
    resolve(&shared, recent);
    assert_eq!(persist::members(&store, old, 100).unwrap().len(), 3);

    // Nothing aged out yet: the oldest stored alert is the resolved incident's own.
    let rep = store.enforce_retention(3600 * SEC, 0, 1000).unwrap();
    assert_eq!(
        shared
            .enforce_retention(rep.horizon_ns, 1000, false)
            .unwrap(),
        0
    );

    // Alerts older than 50 s before the newest go, and the closed incident made of them.
    let rep = store.enforce_retention(50 * SEC, 0, 1000).unwrap();
    assert_eq!((rep.alerts_deleted, rep.horizon_ns), (6, 100 * SEC));
    assert_eq!(
        shared
            .enforce_retention(rep.horizon_ns, 1000, false)
            .unwrap(),
        1
    );
    assert!(persist::get(&store, old).unwrap().is_none());
    assert!(persist::members(&store, old, 100).unwrap().is_empty());
    assert_eq!(
        persist::get(&store, open).unwrap().unwrap().state,
        State::New
    );
    assert_eq!(persist::members(&store, open, 100).unwrap().len(), 3);
    assert_eq!(persist::members(&store, recent, 100).unwrap().len(), 1);
    assert_eq!(gauge(&shared, State::Resolved), 1);
    assert_eq!(gauge(&shared, State::New), 1);
    let counters = shared.counter_values();
    assert!(counters.contains(&("incidents.retention_deleted".into(), 1)));

    // A restart counts what is left.
    drop(shared);
    let again = correlate(&store, Vec::new());
    assert_eq!(
        (gauge(&again, State::Resolved), gauge(&again, State::New)),
        (1, 1)
    );
}

#[test]
fn the_size_cap_trims_closed_incidents_with_the_oldest_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap());
    let mut alerts = Vec::new();
    for i in 0..6000u64 {
        alerts.push(alert((1 + i) * SEC / 10, "192.0.2.1", 300));
    }
    for i in 0..6000u64 {
        alerts.push(alert((10_000 + i) * SEC / 10, "192.0.2.2", 300));
    }
    let shared = correlate(&store, alerts);
    let (old, open) = (id_of(&shared, "192.0.2.1"), id_of(&shared, "192.0.2.2"));
    resolve(&shared, old);
    store.flush().unwrap();
    let before = store.size_bytes();
    // A third: more than the resolved incident's alerts (the older half) must go.
    let cap = before / 3;
    let mut deleted = 0;
    for _ in 0..10 {
        let rep = store.enforce_retention(0, cap, 1_000_000).unwrap();
        deleted += shared
            .enforce_retention(rep.horizon_ns, 1_000_000, rep.trimmed)
            .unwrap();
        if store.size_bytes() <= cap && persist::get(&store, old).unwrap().is_none() {
            break;
        }
    }
    assert_eq!(deleted, 1);
    assert!(persist::get(&store, old).unwrap().is_none());
    assert!(persist::members(&store, old, 1).unwrap().is_empty());
    let kept = persist::get(&store, open).unwrap().unwrap();
    assert_eq!(kept.members_kept, 6000);
    assert!(store.size_bytes() <= cap, "{} > {cap}", store.size_bytes());
}
