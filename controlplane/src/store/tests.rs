//! Storage tests: ids, filters and paging against a model, postings, retention, formats.

use super::*;
use crate::model::{AuditRecord, StoredRule};

fn alert(ts: u64, sid: u32, src: &str, dst: &str) -> Alert {
    Alert {
        ts_nanos: ts,
        sid,
        src_ip: src.parse().unwrap(),
        dst_ip: dst.parse().unwrap(),
        msg: format!("sid {sid}"),
        ..Alert::default()
    }
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
    (dir, s)
}

#[test]
fn ids_are_assigned_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("db");
    {
        let s = Store::open(&p, &StoreOptions::default()).unwrap();
        let mut a = vec![
            alert(10, 1, "10.0.0.1", "10.0.0.2"),
            alert(5, 2, "10.0.0.1", "10.0.0.3"),
        ];
        s.append_alerts(&mut a).unwrap();
        assert_eq!((a[0].id, a[1].id), (1, 2));
    }
    let s = Store::open(&p, &StoreOptions::default()).unwrap();
    let mut b = vec![alert(1, 1, "10.0.0.1", "10.0.0.2")];
    s.append_alerts(&mut b).unwrap();
    assert_eq!(b[0].id, 3);
    let page = s
        .query_alerts(&AlertFilter {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    let ids: Vec<u64> = page.items.iter().map(|a| a.id).collect();
    assert_eq!(ids, vec![1, 2, 3], "newest packet time first");
}

#[test]
fn filters_and_paging() {
    let (_d, s) = open();
    let mut v = Vec::new();
    for i in 0..250u64 {
        let sid = if i % 3 == 0 { 100 } else { 200 };
        let src = if i % 5 == 0 {
            "192.168.1.5"
        } else {
            "10.1.1.1"
        };
        v.push(alert(1000 + i, sid, src, "2001:db8::9"));
    }
    s.append_alerts(&mut v).unwrap();
    // sid filter, paged oldest first in pages of 7.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let p = s
            .query_alerts(&AlertFilter {
                sid: Some(100),
                order: Order::OldestFirst,
                after,
                limit: 7,
                ..Default::default()
            })
            .unwrap();
        seen.extend(p.items.iter().map(|a| a.ts_nanos));
        match p.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let want: Vec<u64> = (0..250u64)
        .filter(|i| i % 3 == 0)
        .map(|i| 1000 + i)
        .collect();
    assert_eq!(seen, want);
    // address as source or destination, newest first, within a time range.
    let p = s
        .query_alerts(&AlertFilter {
            address: Some("192.168.1.5".parse().unwrap()),
            start_ns: 1100,
            end_ns: 1200,
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    let want: Vec<u64> = (100..200u64)
        .rev()
        .filter(|i| i % 5 == 0)
        .map(|i| 1000 + i)
        .collect();
    assert_eq!(p.items.iter().map(|a| a.ts_nanos).collect::<Vec<_>>(), want);
    assert!(p.next.is_none());
    let p = s
        .query_alerts(&AlertFilter {
            address: Some("2001:db8::9".parse().unwrap()),
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p.items.len(), 250);
    // sid and address together.
    let p = s
        .query_alerts(&AlertFilter {
            sid: Some(100),
            address: Some("192.168.1.5".parse().unwrap()),
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p.items.len(), (0..250).filter(|i| i % 15 == 0).count());
}

#[test]
fn src_equal_dst_is_returned_once() {
    let (_d, s) = open();
    let mut v = vec![alert(1, 1, "10.0.0.1", "10.0.0.1")];
    s.append_alerts(&mut v).unwrap();
    let p = s
        .query_alerts(&AlertFilter {
            address: Some("10.0.0.1".parse().unwrap()),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p.items.len(), 1);
}

#[test]
fn retention_by_age_removes_alerts_and_index_entries() {
    let (_d, s) = open();
    let mut v: Vec<Alert> = (0..100u64)
        .map(|i| alert(i * 1_000_000_000, 7, "10.0.0.1", "10.0.0.2"))
        .collect();
    s.append_alerts(&mut v).unwrap();
    // Keep the last 10 seconds before the newest (ts 99 s): ts >= 89 s.
    let r = s.enforce_retention(10_000_000_000, 0, 1_000_000).unwrap();
    assert_eq!(r.alerts_deleted, 89);
    let p = s
        .query_alerts(&AlertFilter {
            sid: Some(7),
            limit: 1000,
            order: Order::OldestFirst,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p.items.len(), 11);
    assert_eq!(p.items[0].ts_nanos, 89_000_000_000);
}

/// The model a query must agree with: filter by brute force, order by (ts, id).
fn expected(all: &[Alert], f: &AlertFilter) -> Vec<u64> {
    let mut v: Vec<&Alert> = all
        .iter()
        .filter(|a| a.ts_nanos >= f.start_ns && (f.end_ns == 0 || a.ts_nanos < f.end_ns))
        .filter(|a| f.sid.is_none_or(|s| a.sid == s))
        .filter(|a| f.address.is_none_or(|ip| a.src_ip == ip || a.dst_ip == ip))
        .collect();
    v.sort_by_key(|a| (a.ts_nanos, a.id));
    if f.order == Order::NewestFirst {
        v.reverse();
    }
    v.iter().map(|a| a.id).collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Paging through any filter returns exactly the matching alerts, in order, once.
    #[test]
    fn paged_queries_match_a_brute_force_model(
        rows in proptest::collection::vec((0u64..50, 0u32..4, 0u8..4, 0u8..4), 0..80),
        start in 0u64..50, len in 0u64..60, sid in proptest::option::of(0u32..4),
        addr in proptest::option::of(0u8..4), oldest in proptest::bool::ANY, page in 1usize..9,
    ) {
        let (_d, s) = open();
        let mut all: Vec<Alert> = rows
            .iter()
            .map(|(ts, sid, src, dst)| alert(*ts, *sid, &format!("10.0.0.{src}"), &format!("10.0.0.{dst}")))
            .collect();
        s.append_alerts(&mut all).unwrap();
        let mut f = AlertFilter {
            start_ns: start,
            end_ns: if len == 0 { 0 } else { start + len },
            sid,
            address: addr.map(|a| format!("10.0.0.{a}").parse().unwrap()),
            order: if oldest { Order::OldestFirst } else { Order::NewestFirst },
            after: None,
            limit: page,
        };
        let want = expected(&all, &f);
        let mut got = Vec::new();
        for _ in 0..200 {
            let p = s.query_alerts(&f).unwrap();
            proptest::prop_assert!(p.items.len() <= page);
            got.extend(p.items.iter().map(|a| a.id));
            match p.next {
                Some(n) => f.after = Some(n),
                None => break,
            }
        }
        proptest::prop_assert_eq!(got, want);
    }
}

/// Keys in one column family (index postings here).
fn count_keys(s: &Store, cf: &str) -> usize {
    let mut it = s.db.raw_iterator_cf(s.cf(cf).unwrap());
    it.seek_to_first();
    let mut n = 0;
    while it.valid() {
        n += 1;
        it.next();
    }
    it.status().unwrap();
    n
}

/// Every posting's key names a stored alert of its prefix (postings never outlive the
/// alert that ends them), and its keys decode.
fn assert_postings_consistent(s: &Store) {
    for (cf, plen) in [(CF_IDX_SID, 4), (CF_IDX_SRC, 16), (CF_IDX_DST, 16)] {
        let mut it = s.db.raw_iterator_cf(s.cf(cf).unwrap());
        it.seek_to_first();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let max = AlertKey::parse(&k[plen..]).unwrap();
            let a = s
                .get_alert(max)
                .unwrap()
                .expect("posting outlived its alert");
            let prefix = match cf {
                CF_IDX_SID => a.sid.to_be_bytes().to_vec(),
                CF_IDX_SRC => ip16(a.src_ip).to_vec(),
                _ => ip16(a.dst_ip).to_vec(),
            };
            assert_eq!(&k[..plen], prefix.as_slice(), "{cf}");
            posting::decode(max.to_u128(), v, &mut Vec::new()).unwrap();
            it.next();
        }
    }
}

/// Pages through `f` to the end; the ids in order.
fn page_all(s: &Store, mut f: AlertFilter) -> Vec<u64> {
    let mut got = Vec::new();
    for _ in 0..100_000 {
        let p = s.query_alerts(&f).unwrap();
        assert!(p.items.len() <= f.limit.max(1));
        got.extend(p.items.iter().map(|a| a.id));
        match p.next {
            Some(n) => f.after = Some(n),
            None => return got,
        }
    }
    panic!("paging did not end");
}

const B: u64 = 1 << posting::BUCKET_SHIFT;

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
    /// Postings from many batches whose times overlap and cross bucket boundaries: paging
    /// by sid or address, any time range, either order, returns exactly the brute-force
    /// answer over all stored alerts. Then retention by age or size, and again.
    #[test]
    fn postings_over_many_batches_match_a_brute_force_model(
        batches in proptest::collection::vec(
            proptest::collection::vec((0u64..4, 0u64..40, 0u32..3, 0u8..5, 0u8..3), 1..40),
            1..8,
        ),
        start in (0u64..4, 0u64..40), len in 0u64..(3 * B),
        sid in proptest::option::of(0u32..3), addr in 0u8..5,
        oldest in proptest::bool::ANY, page in 1usize..12,
        keep_age in 0u64..(4 * B), by_size in proptest::bool::ANY,
    ) {
        let (_d, s) = open();
        let mut all: Vec<Alert> = Vec::new();
        for rows in &batches {
            // Near the end of a bucket, so runs cross into the next one.
            let mut v: Vec<Alert> = rows
                .iter()
                .map(|(b, off, sid, src, dst)| {
                    // Destinations 10.0.0.0 and .1 are sources too: one address in both
                    // indices, and an alert with src == dst returned once.
                    let dst = if *dst < 2 { format!("10.0.0.{dst}") } else { format!("10.0.1.{dst}") };
                    alert(b * B + B - 20 + off, *sid, &format!("10.0.0.{src}"), &dst)
                })
                .collect();
            s.append_alerts(&mut v).unwrap();
            all.extend(v);
        }
        let run = |s: &Store, all: &[Alert]| -> std::result::Result<(), proptest::test_runner::TestCaseError> {
            let start_ns = start.0 * B + B - 20 + start.1;
            for (sid, address) in [
                (sid, None),
                (None, Some(format!("10.0.0.{addr}").parse().unwrap())),
                (None, Some(format!("10.0.1.{}", addr % 3).parse().unwrap())),
                (sid, Some(format!("10.0.0.{addr}").parse().unwrap())),
            ] {
                if sid.is_none() && address.is_none() {
                    continue;
                }
                let f = AlertFilter {
                    start_ns,
                    end_ns: if len == 0 { 0 } else { start_ns + len },
                    sid,
                    address,
                    order: if oldest { Order::OldestFirst } else { Order::NewestFirst },
                    after: None,
                    limit: page,
                };
                proptest::prop_assert_eq!(page_all(s, f.clone()), expected(all, &f));
            }
            Ok(())
        };
        run(&s, &all)?;
        // Retention: what stays is the brute-force model's input, and no posting dangles.
        let postings_before = count_keys(&s, CF_IDX_SID);
        let deleted = if by_size {
            s.delete_oldest_alerts(None, all.len() / 2).unwrap()
        } else {
            s.enforce_retention(keep_age.max(1), 0, 1_000_000).unwrap().alerts_deleted
        };
        all.sort_by_key(|a| (a.ts_nanos, a.id));
        all.drain(..deleted as usize);
        assert_postings_consistent(&s);
        proptest::prop_assert!(count_keys(&s, CF_IDX_SID) <= postings_before);
        if all.is_empty() {
            for cf in [CF_IDX_SID, CF_IDX_SRC, CF_IDX_DST] {
                proptest::prop_assert_eq!(count_keys(&s, cf), 0);
            }
        }
        run(&s, &all)?;
    }
}

#[test]
fn a_batch_of_one_sid_is_one_posting() {
    let (_d, s) = open();
    let mut v: Vec<Alert> = (0..16_384u64)
        .map(|i| alert(5_000 + i * 7 % 1000, 42, "10.0.0.1", "10.0.0.2"))
        .collect();
    s.append_alerts(&mut v).unwrap();
    for cf in [CF_IDX_SID, CF_IDX_SRC, CF_IDX_DST] {
        assert_eq!(count_keys(&s, cf), 1, "{cf}");
    }
    let f = AlertFilter {
        sid: Some(42),
        limit: 100,
        ..Default::default()
    };
    let got = page_all(&s, f.clone());
    assert_eq!(got.len(), 16_384);
    assert_eq!(got, expected(&v, &f));
    // A second batch of the same sid, earlier in time, interleaves correctly.
    let mut w: Vec<Alert> = (0..1000u64)
        .map(|i| alert(4_500 + i, 42, "10.0.0.3", "10.0.0.2"))
        .collect();
    s.append_alerts(&mut w).unwrap();
    v.extend(w);
    assert_eq!(count_keys(&s, CF_IDX_SID), 2);
    for order in [Order::NewestFirst, Order::OldestFirst] {
        let f = AlertFilter {
            sid: Some(42),
            start_ns: 4_900,
            end_ns: 5_100,
            order,
            limit: 33,
            ..Default::default()
        };
        let got = page_all(&s, f.clone());
        assert!(!got.is_empty());
        assert_eq!(got, expected(&v, &f), "{order:?}");
    }
}

#[test]
fn sid_within_a_time_range_across_buckets() {
    let (_d, s) = open();
    let mut all = Vec::new();
    // Ten batches, each spanning three buckets, times interleaved between batches.
    for b in 0..10u64 {
        let mut v: Vec<Alert> = (0..300u64)
            .map(|i| alert(i * B / 100 + b, (i % 4) as u32, "10.0.0.1", "10.0.0.2"))
            .collect();
        s.append_alerts(&mut v).unwrap();
        all.extend(v);
    }
    for (start_ns, end_ns) in [(B / 2, B + B / 2), (B - 1, B + 1), (0, 0), (2 * B, 3 * B)] {
        for order in [Order::NewestFirst, Order::OldestFirst] {
            let f = AlertFilter {
                sid: Some(1),
                start_ns,
                end_ns,
                order,
                limit: 17,
                ..Default::default()
            };
            assert_eq!(
                page_all(&s, f.clone()),
                expected(&all, &f),
                "{start_ns}..{end_ns} {order:?}"
            );
        }
    }
}

#[test]
fn retention_removes_postings_and_leaves_nothing_dangling() {
    let (_d, s) = open();
    let mut all = Vec::new();
    for b in 0..20u64 {
        let mut v: Vec<Alert> = (0..500u64)
            .map(|i| {
                alert(
                    b * 1_000_000_000 + i * 1000,
                    (i % 5) as u32,
                    &format!("10.0.0.{}", i % 7),
                    "10.0.1.1",
                )
            })
            .collect();
        s.append_alerts(&mut v).unwrap();
        all.extend(v);
    }
    let counts = |s: &Store| [CF_IDX_SID, CF_IDX_SRC, CF_IDX_DST].map(|cf| count_keys(s, cf));
    let before = counts(&s);
    // Keep the newest 5 s of packet time.
    let r = s.enforce_retention(5_000_000_000, 0, 1_000_000).unwrap();
    assert_eq!(r.alerts_deleted, 14 * 500 + 499);
    let after = counts(&s);
    for i in 0..3 {
        assert!(after[i] < before[i], "{before:?} -> {after:?}");
    }
    assert_postings_consistent(&s);
    all.retain(|a| a.ts_nanos >= 14_000_000_000 + 499 * 1000);
    for f in [
        AlertFilter {
            sid: Some(3),
            limit: 50,
            ..Default::default()
        },
        AlertFilter {
            address: Some("10.0.0.4".parse().unwrap()),
            limit: 50,
            ..Default::default()
        },
        AlertFilter {
            address: Some("10.0.1.1".parse().unwrap()),
            order: Order::OldestFirst,
            limit: 50,
            ..Default::default()
        },
    ] {
        assert_eq!(page_all(&s, f.clone()), expected(&all, &f));
    }
    // Everything goes: no index entry is left behind.
    let n = s.delete_oldest_alerts(None, usize::MAX).unwrap();
    assert_eq!(n as usize, all.len());
    assert_eq!(counts(&s), [0, 0, 0]);
}

#[test]
fn retention_keeps_postings_of_alerts_stored_after_its_chunk_was_read() {
    let (_d, s) = open();
    let mut first = vec![
        alert(10, 1, "10.0.0.1", "10.0.0.2"),
        alert(30, 1, "10.0.0.1", "10.0.0.2"),
    ];
    s.append_alerts(&mut first).unwrap();
    // Stored after retention read its chunk (10 and 30): an alert between them.
    let mut late = vec![alert(20, 1, "10.0.0.3", "10.0.0.4")];
    s.append_alerts(&mut late).unwrap();
    let key = |a: &Alert| {
        AlertKey {
            ts_nanos: a.ts_nanos,
            id: a.id,
        }
        .to_u128()
    };
    let mut run = [
        (1u32.to_be_bytes(), key(&first[0])),
        (1u32.to_be_bytes(), key(&first[1])),
    ];
    let mut batch = WriteBatch::default();
    s.delete_postings(&mut batch, s.cf(CF_IDX_SID).unwrap(), &mut run)
        .unwrap();
    assert_eq!(batch.len(), 1, "only the posting ending at 30");
    s.write_deletes(batch, "test").unwrap();
    let p = s
        .query_alerts(&AlertFilter {
            sid: Some(1),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p.items.iter().map(|a| a.ts_nanos).collect::<Vec<_>>(), [20]);
}

#[test]
fn a_version_2_database_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("db");
    {
        let s = Store::open(&p, &StoreOptions::default()).unwrap();
        let mut v = vec![alert(1, 1, "10.0.0.1", "10.0.0.2")];
        s.append_alerts(&mut v).unwrap();
        s.db.put_cf(s.cf(CF_META).unwrap(), META_FORMAT, 2u32.to_be_bytes())
            .unwrap();
    }
    let e = Store::open(&p, &StoreOptions::default()).unwrap_err();
    assert_eq!(e.kind, Kind::Corrupt);
    for want in [
        "format version 2",
        "reads version 3",
        "no in-place upgrade",
        "storage.path",
    ] {
        assert!(e.context.contains(want), "{want:?} not in {e}");
    }
    // Refusing changed nothing: still version 2.
    let e2 = Store::open(&p, &StoreOptions::default()).unwrap_err();
    assert_eq!(e2.context, e.context);
}

#[test]
fn a_damaged_posting_is_an_error_not_a_wrong_page() {
    let (_d, s) = open();
    let mut v = vec![
        alert(10, 1, "10.0.0.1", "10.0.0.2"),
        alert(11, 1, "10.0.0.1", "10.0.0.2"),
    ];
    s.append_alerts(&mut v).unwrap();
    let mut k = 1u32.to_be_bytes().to_vec();
    k.extend_from_slice(
        &AlertKey {
            ts_nanos: 11,
            id: v[1].id,
        }
        .bytes(),
    );
    s.db.put_cf(s.cf(CF_IDX_SID).unwrap(), &k, [0x80]).unwrap();
    let e = s
        .query_alerts(&AlertFilter {
            sid: Some(1),
            limit: 10,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.kind, Kind::Corrupt);
}

#[test]
fn flows_page_by_end_time_with_filters() {
    let (_d, s) = open();
    let flows: Vec<FlowRecord> = (0..50u64)
        .map(|i| FlowRecord {
            flow_id: i,
            src_ip: "10.0.0.1".parse().unwrap(),
            src_port: 1000,
            dst_ip: if i % 2 == 0 { "10.0.0.2" } else { "10.0.0.3" }
                .parse()
                .unwrap(),
            dst_port: 80,
            proto: 6,
            pkts_toserver: i,
            pkts_toclient: 0,
            bytes_toserver: 0,
            bytes_toclient: 0,
            start_nanos: i,
            end_nanos: 100 + i,
            state: crate::model::FlowState::Closed,
            reason: crate::model::FlowEndReason::Timeout,
            app_proto: if i % 5 == 0 { "dns" } else { "http" }.into(),
            alerted: false,
            worker: "w0".into(),
            eve: String::new(),
        })
        .collect();
    s.append_flows(&flows).unwrap();
    for order in [Order::NewestFirst, Order::OldestFirst] {
        let mut f = FlowFilter {
            address: Some("10.0.0.2".parse().unwrap()),
            app_proto: Some("HTTP".into()),
            order,
            limit: 4,
            ..Default::default()
        };
        let mut got = Vec::new();
        loop {
            let p = s.query_flows(&f).unwrap();
            got.extend(p.items.iter().map(|r| r.flow_id));
            match p.next {
                Some(n) => f.after = Some(n),
                None => break,
            }
        }
        let mut want: Vec<u64> = (0..50).filter(|i| i % 2 == 0 && i % 5 != 0).collect();
        if order == Order::NewestFirst {
            want.reverse();
        }
        assert_eq!(got, want, "{order:?}");
    }
}

#[test]
fn retention_by_size_deletes_oldest_until_under_the_cap() {
    let (_d, s) = open();
    for chunk in 0..10u64 {
        let mut v: Vec<Alert> = (0..2000u64)
            .map(|i| Alert {
                payload: vec![i as u8; 300],
                ..alert(chunk * 2000 + i, (i % 7) as u32, "10.0.0.1", "10.0.0.2")
            })
            .collect();
        s.append_alerts(&mut v).unwrap();
    }
    s.flush().unwrap();
    let before = s.size_bytes();
    assert!(before > 1_000_000, "{before}");
    let cap = before / 3;
    let mut deleted = 0;
    for _ in 0..10 {
        deleted += s
            .enforce_retention(0, cap, 1_000_000)
            .unwrap()
            .alerts_deleted;
        if s.size_bytes() <= cap {
            break;
        }
    }
    assert!(s.size_bytes() <= cap, "{} > {cap}", s.size_bytes());
    assert!(deleted > 0 && deleted < 20_000);
    // What remains is the newest, and the indices agree with it.
    let p = s
        .query_alerts(&AlertFilter {
            order: Order::OldestFirst,
            limit: 1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p.items[0].ts_nanos, deleted);
    let p = s
        .query_alerts(&AlertFilter {
            sid: Some(3),
            order: Order::OldestFirst,
            limit: 1,
            ..Default::default()
        })
        .unwrap();
    assert!(p.items[0].ts_nanos >= deleted);
}

#[test]
fn unknown_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("db");
    {
        let s = Store::open(&p, &StoreOptions::default()).unwrap();
        s.db.put_cf(s.cf(CF_META).unwrap(), META_FORMAT, 9u32.to_be_bytes())
            .unwrap();
    }
    let e = Store::open(&p, &StoreOptions::default()).unwrap_err();
    assert_eq!(e.kind, Kind::Corrupt);
    assert!(e.context.contains("format version 9"), "{e}");
}

#[test]
fn audit_and_rules_round_trip() {
    let (_d, s) = open();
    for i in 0..3 {
        s.append_audit(&AuditRecord {
            time_nanos: 5,
            who: format!("u{i}"),
            role: "admin".into(),
            method: "m".into(),
            target: String::new(),
            result: "ok".into(),
            detail: String::new(),
        })
        .unwrap();
    }
    let log = s.audit_log(10).unwrap();
    assert_eq!(
        log.iter().map(|r| r.who.as_str()).collect::<Vec<_>>(),
        ["u2", "u1", "u0"]
    );
    let r = StoredRule {
        gid: 1,
        sid: 9,
        rev: 1,
        msg: "m".into(),
        classtype: String::new(),
        priority: 3,
        text: "alert ip any any -> any any (sid:9;)".into(),
        enabled: true,
        updated_nanos: 1,
    };
    s.put_rules(std::slice::from_ref(&r)).unwrap();
    assert_eq!(s.get_rule(1, 9).unwrap(), Some(r));
    s.delete_rule(1, 9).unwrap();
    assert!(s.all_rules().unwrap().is_empty());
}
