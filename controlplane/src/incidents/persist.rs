//! How incidents are kept in the `incidents` column family. Integers big-endian, values JSON:
//!
//! | key | value |
//! |---|---|
//! | `'i' ‖ id:u64` | [`Incident`] (the header) |
//! | `'m' ‖ id:u64 ‖ index:u64` | [`Member`] (the timeline, in arrival order) |
//! | `'n'` | the next incident id, `u64` |
//!
//! Members are only appended, in the batch of the correlator step that made them; headers
//! are checkpoints, rewritten at most once per `[incidents] checkpoint_ms` while they change
//! (see [`super::correlate`]). A restart loads each open header and the members stored
//! after it (index ≥ its `members_kept`) and replays them, so it resumes exactly where the
//! last stored step left off.

use crate::error::{Error, Kind, Result};
use crate::store::Store;

use super::correlate::Changes;
use super::incident::{Incident, Member};

const HEADER: u8 = b'i';
const MEMBER: u8 = b'm';
const NEXT_ID: &[u8] = b"n";

/// Headers examined by one listing at most (its page may be short then).
pub const SCAN_BUDGET: usize = 100_000;

fn header_key(id: u64) -> Vec<u8> {
    let mut k = vec![HEADER];
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn member_key(id: u64, index: u64) -> Vec<u8> {
    let mut k = vec![MEMBER];
    k.extend_from_slice(&id.to_be_bytes());
    k.extend_from_slice(&index.to_be_bytes());
    k
}

fn json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::internal(format!("encoding an incident: {e}")))
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, v: &[u8]) -> Result<T> {
    serde_json::from_slice(v).map_err(|e| Error::new(Kind::Corrupt, format!("{what}: {e}")))
}

/// Stores one correlator step.
pub fn write_changes(store: &Store, ch: &Changes) -> Result<()> {
    let mut puts = Vec::with_capacity(ch.headers.len() + ch.members.len() + 1);
    for (id, index, m) in &ch.members {
        puts.push((member_key(*id, *index), json(m)?));
    }
    for h in &ch.headers {
        puts.push((header_key(h.id), json(h)?));
    }
    puts.push((NEXT_ID.to_vec(), ch.next_id.to_be_bytes().to_vec()));
    store.put_incident_records(&puts)
}

/// Stores one incident header (a workflow change).
pub fn write_header(store: &Store, inc: &Incident) -> Result<()> {
    store.put_incident_records(&[(header_key(inc.id), json(inc)?)])
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
    let mut from = header_key(0);
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
        .map(|(_, v)| parse("incident member", v))
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
}
