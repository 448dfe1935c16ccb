//! Reports over a real RocksDB store on disk filled with known alerts (with ATT&CK
//! tactics), incidents, intel hits and throughput samples: every section's numbers are the
//! ones put in, the page shows them, a range without data shows the empty state in every
//! section, and stored reports are listed newest first and capped at `keep`.

mod common;

use std::sync::Arc;

use common::{alert_at, SEC, T0};
use controlplane::incidents::incident::{GroupBy, GroupKey, Incident, State};
use controlplane::incidents::persist;
use controlplane::intel::hits::StoredHit;
use controlplane::model::{Alert, Attack};
use controlplane::reports::{html, Context, Format, Range, Reports, Sample, Settings, Summary};
use controlplane::store::{Store, StoreOptions};

fn store(dir: &std::path::Path) -> Arc<Store> {
    let opts = StoreOptions {
        sync_writes: false,
        min_free_bytes: 0,
    };
    Arc::new(Store::open(&dir.join("db"), &opts).unwrap())
}

fn alert(at: u64, sid: u32, msg: &str, tactic: (&str, &str)) -> Alert {
    let mut a = alert_at(at, "192.0.2.10", "198.51.100.7", sid);
    a.msg = msg.into();
    a.gid = 1;
    a.attack = Attack {
        tactic_id: tactic.0.into(),
        tactic_name: tactic.1.into(),
        ..Attack::default()
    };
    a
}

/// Inside [T0, T0 + 100 s): 5 alerts of sid 100 (command and control), 3 of sid 200 (no
/// tactic); 2 of sid 300 after the range. Two incidents opened inside, one resolved after
/// 30 s; one opened before. Intel hits: 2 of one indicator inside, 1 outside. Samples every
/// 10 s with 1,000 then 2,000 packets between them.
fn fill(st: &Store) {
    let mut alerts = Vec::new();
    for i in 0..5 {
        alerts.push(alert(
            10 + i,
            100,
            "C2 <beacon>",
            ("TA0011", "Command_And_Control"),
        ));
    }
    for i in 0..3 {
        alerts.push(alert(20 + i, 200, "Policy", ("", "")));
    }
    for i in 0..2 {
        alerts.push(alert(200 + i, 300, "Later", ("TA0001", "Initial_Access")));
    }
    st.append_alerts(&mut alerts).unwrap();
    let key = GroupKey {
        by: GroupBy::Host,
        host: "192.0.2.10".parse().unwrap(),
        peer: None,
    };
    let mut resolved = Incident::open(1, key, &alerts[0], T0 + 10 * SEC);
    resolved.state = State::Resolved;
    resolved.state_since_ns = T0 + 40 * SEC;
    persist::write_header(st, &resolved).unwrap();
    persist::write_header(st, &Incident::open(2, key, &alerts[5], T0 + 20 * SEC)).unwrap();
    let mut before = Incident::open(3, key, &alerts[0], T0);
    before.first_ns = T0 - 500 * SEC;
    persist::write_header(st, &before).unwrap();
    let hit = |at: u64, value: &str| StoredHit {
        ts_nanos: T0 + at * SEC,
        feed: "lab".into(),
        matched_value: value.into(),
        ..StoredHit::default()
    };
    st.append_intel_hits(
        &mut [
            hit(11, "evil.example"),
            hit(12, "evil.example"),
            hit(300, "x"),
        ],
        1000,
    )
    .unwrap();
    for (at, packets) in [(0, 0), (10, 1_000), (20, 3_000)] {
        let s = Sample {
            ts_ns: T0 + at * SEC,
            packets,
            bytes: packets * 100,
            alerts: packets / 100,
            drops: 0,
        };
        st.put_sample(&s, 0).unwrap();
    }
}

fn range(from_s: u64, to_s: u64) -> Range {
    Range::new(T0 + from_s * SEC, T0 + to_s * SEC, 400).unwrap()
}

#[test]
fn every_section_has_the_numbers_put_in() {
    let tmp = tempfile::tempdir().unwrap();
    let st = store(tmp.path());
    fill(&st);
    let ctx = Context {
        max_bytes: 1 << 30,
        max_age_secs: 3600,
    };
    let s = Summary::build(&st, &ctx, range(0, 100), T0 + 100 * SEC).unwrap();
    assert_eq!(s.alerts.total, 8);
    let top: Vec<_> = s
        .alerts
        .top_signatures
        .iter()
        .map(|c| (c.key.as_str(), c.name.as_str(), c.count))
        .collect();
    assert_eq!(
        top,
        vec![("1:100", "C2 <beacon>", 5), ("1:200", "Policy", 3)]
    );
    assert_eq!(s.alerts.tactics.len(), 1);
    assert_eq!(
        (s.alerts.tactics[0].key.as_str(), s.alerts.tactics[0].count),
        ("TA0011", 5)
    );
    assert_eq!((s.incidents.opened, s.incidents.closed), (2, 1));
    assert_eq!(s.incidents.still_open, 1);
    assert_eq!(s.incidents.mean_time_to_resolve_ns, Some(30 * SEC));
    assert_eq!(s.intel.hits, 2);
    assert_eq!(s.intel.top_indicators[0].key, "evil.example");
    assert_eq!((s.traffic.packets, s.traffic.bytes), (3_000, 300_000));
    assert_eq!(s.traffic.intervals, 2);
    assert!((s.traffic.mean_pps - 150.0).abs() < 1e-9);
    assert!((s.traffic.peak_pps - 200.0).abs() < 1e-9);
    assert_eq!(s.storage.max_bytes, 1 << 30);
    assert_eq!(s.storage.state, "ok");

    let page = html::render(&s);
    assert!(page.contains("C2 &lt;beacon&gt;"), "escaped signature");
    assert!(!page.contains("<beacon>"));
    assert!(page.contains("<td class=\"n\">5</td>"));
    assert!(page.contains("Command_And_Control"));
    assert!(page.contains("evil.example"));
    assert!(!page.contains(html::NO_DATA), "every section has data");
    assert!(page.contains("<svg"), "charts are inline SVG");
}

#[test]
fn a_range_without_data_says_so_in_every_section() {
    let tmp = tempfile::tempdir().unwrap();
    let st = store(tmp.path());
    fill(&st);
    let s = Summary::build(&st, &Context::default(), range(1_000, 2_000), T0).unwrap();
    let page = html::render(&s);
    // Traffic, alerts, ATT&CK, incidents, intel, performance; storage always has a state.
    assert_eq!(page.matches(html::NO_DATA).count(), 6, "{page}");
    assert!(!page.contains("<svg"), "no empty charts");
}

#[test]
fn bad_ranges_are_invalid_arguments() {
    use controlplane::error::Kind;
    for (from, to) in [(10, 10), (20, 10)] {
        assert_eq!(
            Range::new(from, to, 400).unwrap_err().kind,
            Kind::InvalidArgument
        );
    }
    let year = 365 * 86_400 * SEC;
    assert!(Range::new(0, year, 400).is_ok());
    assert_eq!(
        Range::new(0, 2 * year, 400).unwrap_err().kind,
        Kind::InvalidArgument
    );
}

#[test]
fn reports_are_stored_with_their_hash_listed_newest_first_and_capped() {
    let tmp = tempfile::tempdir().unwrap();
    let st = store(tmp.path());
    fill(&st);
    let cfg = controlplane::config::ReportsConfig {
        keep: 3,
        ..Default::default()
    };
    let reports = Reports::new(
        st.clone(),
        Settings::from_config(&cfg).unwrap(),
        Context::default(),
    );
    let mut ids = Vec::new();
    for i in 0..5 {
        let (meta, content) = reports
            .generate(range(0, 100 + i), Format::Html, "test", T0 + i)
            .unwrap();
        assert_eq!(meta.size, content.len() as u64);
        ids.push(meta.id);
    }
    assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    let list = st.list_reports(10).unwrap();
    let listed: Vec<u64> = list.iter().map(|m| m.id).collect();
    assert_eq!(
        listed,
        vec![5, 4, 3],
        "newest first, the oldest beyond keep deleted"
    );
    let (meta, content) = st.get_report(4).unwrap().unwrap();
    use sha2::Digest;
    assert_eq!(meta.sha256, hex::encode(sha2::Sha256::digest(&content)));
    assert_eq!(meta.to_ns, T0 + 103 * SEC);
    assert!(st.get_report(1).unwrap().is_none());
    let counted = reports.counters.values();
    assert_eq!(counted[0], ("html", 5, 0));
}

#[test]
fn a_pdf_without_chromium_fails_and_is_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let st = store(tmp.path());
    let cfg = controlplane::config::ReportsConfig {
        chromium: tmp.path().join("no-such-browser"),
        ..Default::default()
    };
    let reports = Reports::new(
        st.clone(),
        Settings::from_config(&cfg).unwrap(),
        Context::default(),
    );
    let e = reports
        .generate(range(0, 100), Format::Pdf, "test", T0)
        .unwrap_err();
    assert!(e.to_string().contains("chromium"), "{e}");
    assert_eq!(reports.counters.values()[1], ("pdf", 0, 1));
    assert!(st.list_reports(10).unwrap().is_empty(), "nothing stored");
}
