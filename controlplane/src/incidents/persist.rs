//! How incidents are kept in the `incidents` column family. Integers big-endian:
//!
//! | key | value |
//! |---|---|
//! | `'i' ‖ id:u64` | [`Incident`] (the header), JSON |
//! | `'m' ‖ id:u64 ‖ index:u64` | [`Member`] (the timeline, in arrival order), [`codec`] (JSON before) |
//! | `'n'` | the next incident id, `u64` |
//!
//! A correlator step is one `WriteBatch`: its members, the headers due and the next id.
//! Members are only appended, in the batch of the correlator step that made them; headers
//! are checkpoints, rewritten at most once per `[incidents] checkpoint_ms` while they change
//! (see [`super::correlate`]). A restart loads each open header and the members stored
//! after it (index ≥ its `members_kept`) and replays them, so it resumes exactly where the
//! last stored step left off.
//!
//! Retention ([`expire_closed`]) deletes a closed incident's header and timeline together,
//! once its last member is older than the oldest alert still stored.

use crate::error::{Error, Kind, Result};
use crate::store::Store;

use super::codec;
use super::correlate::Changes;
use super::incident::{Incident, Member};

const HEADER: u8 = b'i';
const MEMBER: u8 = b'm';
const NEXT_ID: &[u8] = b"n";

/// Headers examined by one listing at most (its page may be short then).
pub const SCAN_BUDGET: usize = 100_000;

fn header_key(id: u64) -> [u8; 9] {
    let mut k = [HEADER; 9];
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

fn member_key(id: u64, index: u64) -> [u8; 17] {
    let mut k = [MEMBER; 17];
    k[1..9].copy_from_slice(&id.to_be_bytes());
    k[9..].copy_from_slice(&index.to_be_bytes());
    k
}

fn json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::internal(format!("encoding an incident: {e}")))
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, v: &[u8]) -> Result<T> {
    serde_json::from_slice(v).map_err(|e| Error::new(Kind::Corrupt, format!("{what}: {e}")))
}

/// Stores one correlator step in one batch.
pub fn write_changes(store: &Store, ch: &Changes) -> Result<()> {
    let mut batch = store.incident_batch()?;
    let mut buf = Vec::with_capacity(256);
    for (id, index, m) in &ch.members {
        codec::encode(m, &mut buf);
        batch.put(&member_key(*id, *index), &buf);
    }
    for h in &ch.headers {
        buf.clear();
        serde_json::to_writer(&mut buf, h)
            .map_err(|e| Error::internal(format!("encoding incident {}: {e}", h.id)))?;
        batch.put(&header_key(h.id), &buf);
    }
    batch.put(NEXT_ID, &ch.next_id.to_be_bytes());
    batch.commit()
}

/// Stores one incident header (a workflow change).
pub fn write_header(store: &Store, inc: &Incident) -> Result<()> {
    let mut batch = store.incident_batch()?;
    batch.put(&header_key(inc.id), &json(inc)?);
    batch.commit()
}

/// What a restart resumes from.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every stored incident that is not closed, oldest first.
    pub open: Vec<Incident>,
    pub next_id: u64,
    /// Members stored after each open header, by incident id.
    pub tails: Vec<(u64, Vec<Member>)>,
    /// Stored incidents by state, in [`super::State::ALL`] order.
    pub by_state: [u64; 6],
}

/// Reads what a restart resumes from.
pub fn load(store: &Store) -> Result<Loaded> {
    let next = match store.get_incident_record(NEXT_ID)? {
        Some(v) => u64::from_be_bytes(
            v.as_slice()
                .try_into()
                .map_err(|_| Error::new(Kind::Corrupt, "incident next id is not 8 bytes"))?,
        ),
        None => 1,
    };
    let mut open = Vec::new();
    let mut by_state = [0u64; 6];
    let mut from = header_key(0).to_vec();
    loop {
        let page = store.scan_incident_records(&[HEADER], &from, false, 4096)?;
        let Some((last, _)) = page.last() else {
            break;
        };
        from = last.clone();
        from.push(0);
        for (_, v) in &page {
            let inc: Incident = parse("incident", v)?;
            by_state[inc.state as usize] += 1;
            if !inc.state.is_closed() {
                open.push(inc);
            }
        }
    }
    let mut tails = Vec::new();
    for inc in &open {
        let tail = members_from(store, inc.id, inc.members_kept, usize::MAX)?;
        if !tail.is_empty() {
            tails.push((inc.id, tail));
        }
    }
    Ok(Loaded {
        open,
        next_id: next,
        tails,
        by_state,
    })
}

/// What a retention pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    /// Closed incidents deleted with their timelines.
    pub incidents: u64,
    /// Of those, by state, in [`super::State::ALL`] order.
    pub by_state: [u64; 6],
}

/// Deletes closed incidents (resolved, false positive) whose last member is older than
/// `before_ns` (packet time), each with its timeline, at most `budget` of them. Open
/// incidents stay whatever their age.
pub fn expire_closed(store: &Store, before_ns: u64, budget: usize) -> Result<Expired> {
    let mut out = Expired::default();
    let mut from = header_key(0).to_vec();
    while (out.incidents as usize) < budget {
        let page = store.scan_incident_records(&[HEADER], &from, false, 1024)?;
        let Some((last, _)) = page.last() else {
            break;
        };
        from = last.clone();
        from.push(0);
        let mut batch = store.incident_batch()?;
        for (_, v) in &page {
            let inc: Incident = parse("incident", v)?;
            if !inc.state.is_closed() || inc.last_ns >= before_ns {
                continue;
            }
            if out.incidents as usize >= budget {
                break;
            }
            batch.delete(&header_key(inc.id));
            batch.delete_range(
                &member_key(inc.id, 0),
                &member_key(inc.id.saturating_add(1), 0),
            );
            out.incidents += 1;
            out.by_state[inc.state as usize] += 1;
        }
        batch.commit_deletes()?;
    }
    Ok(out)
}

/// The stored incident `id`.
pub fn get(store: &Store, id: u64) -> Result<Option<Incident>> {
    store
        .get_incident_record(&header_key(id))?
        .map(|v| parse("incident", &v))
        .transpose()
}

/// Up to `limit` members of incident `id`, in arrival order.
pub fn members(store: &Store, id: u64, limit: usize) -> Result<Vec<Member>> {
    members_from(store, id, 0, limit)
}

/// Up to `limit` members of incident `id` from index `from`, in arrival order.
pub fn members_from(store: &Store, id: u64, from: u64, limit: usize) -> Result<Vec<Member>> {
    let mut prefix = vec![MEMBER];
    prefix.extend_from_slice(&id.to_be_bytes());
    store
        .scan_incident_records(&prefix, &member_key(id, from), false, limit)?
        .iter()
        .map(|(k, v)| {
            codec::decode(v).map_err(|e| {
                Error::new(
                    Kind::Corrupt,
                    format!("incident member {}: {e}", hex::encode(k)),
                )
            })
        })
        .collect()
}

/// Incidents newest (highest id) first, below `before` (0 = from the newest), that pass
/// `keep`: at most `limit`, and the id to continue from when there may be more.
pub fn list(
    store: &Store,
    before: u64,
    limit: usize,
    keep: impl Fn(&Incident) -> bool,
) -> Result<(Vec<Incident>, Option<u64>)> {
    let mut from = header_key(if before == 0 { u64::MAX } else { before - 1 });
    let mut out = Vec::new();
    let mut seen = 0;
    loop {
        let page = store.scan_incident_records(&[HEADER], &from, true, 1024)?;
        let Some((last, _)) = page.last() else {
            return Ok((out, None));
        };
        for (_, v) in &page {
            let inc: Incident = parse("incident", v)?;
            seen += 1;
            let id = inc.id;
            if keep(&inc) {
                out.push(inc);
            }
            if out.len() >= limit || seen >= SCAN_BUDGET {
                return Ok((out, (id > 1).then_some(id)));
            }
        }
        let id = u64::from_be_bytes(last[1..9].try_into().unwrap_or([0; 8]));
        if id <= 1 {
            return Ok((out, None));
        }
        from = header_key(id - 1);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::incidents::{Assets, Cidr, Correlator, GroupBy, Input, Settings};
    use crate::model::Alert;
    use crate::store::StoreOptions;

    const SEC: u64 = 1_000_000_000;

    fn settings() -> Settings {
        Settings {
            group_by: GroupBy::Host,
            window_ns: 600 * SEC,
            killchain_window_ns: 3600 * SEC,
            home_net: vec![Cidr::parse("192.0.2.0/24").unwrap()],
            max_open: 10,
            max_members: 100,
            assets: Assets::default(),
            checkpoint_ns: 3600 * SEC,
        }
    }

    fn alert(id: u64, sid: u32) -> Input {
        Input::Alert(Arc::new(Alert {
            id,
            ts_nanos: id * SEC,
            sid,
            severity: 2,
            msg: format!("sid {sid}"),
            src_ip: "192.0.2.9".parse().unwrap(),
            dst_ip: format!("198.51.100.{id}").parse().unwrap(),
            ..Alert::default()
        }))
    }

    #[test]
    fn a_stop_between_checkpoints_loses_no_member() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        let mut c = Correlator::new(settings(), Vec::new(), 1);
        for id in 1..=5 {
            c.observe(&alert(id, id as u32), id * SEC);
            write_changes(&store, &c.take_due(id * SEC)).unwrap();
        }
        // Stopped here without the final checkpoint: the stored header has one member.
        assert_eq!(get(&store, 1).unwrap().unwrap().alerts, 1);
        drop(c);
        let loaded = load(&store).unwrap();
        assert_eq!(loaded.tails.len(), 1);
        assert_eq!(loaded.tails[0].1.len(), 4);
        let mut resumed = Correlator::resume(settings(), loaded.open, loaded.tails, loaded.next_id);
        let inc = &resumed.take_changes().headers[0];
        assert_eq!((inc.alerts, inc.members_kept), (5, 5));
        assert_eq!(inc.sids, vec![1, 2, 3, 4, 5]);
        assert_eq!(inc.hosts.len(), 5);
        // The next member continues the stored timeline.
        resumed.observe(&alert(6, 6), 6 * SEC);
        let ch = resumed.take_changes();
        assert_eq!(ch.members[0].1, 5);
    }

    #[test]
    fn a_store_with_json_members_still_opens_and_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        let mut c = Correlator::new(settings(), Vec::new(), 1);
        for id in 1..=3 {
            c.observe(&alert(id, id as u32), id * SEC);
        }
        let ch = c.take_due(SEC);
        // Members as builds before the binary layout stored them; headers are JSON still.
        let mut batch = store.incident_batch().unwrap();
        for (id, index, m) in &ch.members {
            batch.put(&member_key(*id, *index), &serde_json::to_vec(m).unwrap());
        }
        batch.put(&header_key(1), &json(&ch.headers[0]).unwrap());
        batch.commit().unwrap();
        // The header says one member was kept: the two after it are replayed at start.
        let mut header = ch.headers[0].clone();
        header.members_kept = 1;
        write_header(&store, &header).unwrap();
        let loaded = load(&store).unwrap();
        assert_eq!(
            loaded.tails[0].1,
            vec![ch.members[1].2.clone(), ch.members[2].2.clone()]
        );
        // New members are binary beside the old ones; the timeline reads both.
        let mut resumed = Correlator::resume(settings(), loaded.open, loaded.tails, loaded.next_id);
        resumed.observe(&alert(4, 4), 4 * SEC);
        write_changes(&store, &resumed.take_changes()).unwrap();
        let raw = store
            .get_incident_record(&member_key(1, 3))
            .unwrap()
            .unwrap();
        assert_eq!(raw[0], codec::LAYOUT);
        let all = members(&store, 1, 10).unwrap();
        assert_eq!(
            all.iter().map(|m| m.alert_id).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        // A damaged member is an error naming its key, not a panic.
        let mut batch = store.incident_batch().unwrap();
        batch.put(&member_key(1, 1), b"\x07garbage");
        batch.commit().unwrap();
        let e = members(&store, 1, 10).unwrap_err();
        assert!(e.to_string().contains("incident member 6d"), "{e}");
    }
}
