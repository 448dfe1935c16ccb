//! Packets the workers hand over for evidence (their packet rings' copies of an alerting
//! flow, before and after the alert), gathered per flow and stored as a `pcap` item once the
//! flow has been quiet for a while.
//!
//! Bounded: at most [`MAX_FLOWS`] flows and [`MAX_PACKETS`] packets a flow are held; what
//! does not fit is counted in `dropped`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::pcap::{addresses, savefile, Packet};
use super::{Evidence, Item};
use crate::error::Result;
use crate::incidents::persist;
use crate::store::Store;

/// Flows gathered at once.
pub const MAX_FLOWS: usize = 1_024;
/// Packets kept a flow.
pub const MAX_PACKETS: usize = 20_000;
/// Who the custody log names for captures.
pub const WHO: &str = "dataplane";

#[derive(Debug)]
struct Flow {
    packets: Vec<Packet>,
    last: Instant,
}

/// Packets being gathered, by (worker, flow id).
#[derive(Debug, Default)]
pub struct Captures {
    flows: Mutex<HashMap<(usize, u64), Flow>>,
    /// Packets refused (too many flows or packets).
    pub dropped: AtomicU64,
    /// Captures stored as items.
    pub stored: AtomicU64,
}

impl Captures {
    /// Adds one packet of worker `worker`'s flow `flow`.
    pub fn packet(&self, worker: usize, flow: u64, p: Packet) {
        let mut g = self.flows.lock().unwrap_or_else(|p| p.into_inner());
        let full = g.len() >= MAX_FLOWS;
        let f = match g.get_mut(&(worker, flow)) {
            Some(f) => f,
            None if full => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            None => g.entry((worker, flow)).or_insert_with(|| Flow {
                packets: Vec::new(),
                last: Instant::now(),
            }),
        };
        f.last = Instant::now();
        if f.packets.len() >= MAX_PACKETS {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        f.packets.push(p);
    }

    /// Counts a packet that arrived malformed.
    pub fn malformed(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Flows being gathered.
    pub fn pending(&self) -> usize {
        self.flows.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Stores every flow quiet for `idle` (all of them when `idle` is zero) as a `pcap`
    /// item, linked to the newest incident of either of its addresses.
    pub fn flush(&self, ev: &Evidence, store: &Store, idle: Duration) -> Result<Vec<Item>> {
        let ready: Vec<((usize, u64), Flow)> = {
            let mut g = self.flows.lock().unwrap_or_else(|p| p.into_inner());
            let keys: Vec<_> = g
                .iter()
                .filter(|(_, f)| idle.is_zero() || f.last.elapsed() >= idle)
                .map(|(k, _)| *k)
                .collect();
            keys.into_iter()
                .filter_map(|k| g.remove(&k).map(|f| (k, f)))
                .collect()
        };
        let mut items = Vec::new();
        for ((worker, flow), mut f) in ready {
            let started = Instant::now();
            f.packets.sort_by_key(|p| p.ts_ns);
            let hosts = f.packets.first().and_then(|p| addresses(&p.data));
            let incident = match hosts {
                Some((a, b)) => incident_of(store, a, b)?,
                None => 0,
            };
            let snaplen = f.packets.iter().map(|p| p.data.len()).max().unwrap_or(0);
            let bytes = savefile(&f.packets, snaplen.max(1) as u32);
            let note = match hosts {
                Some((a, b)) => format!(
                    "flow {flow} of worker {worker}: {a} <-> {b}, {} packets",
                    f.packets.len()
                ),
                None => format!(
                    "flow {flow} of worker {worker}, {} packets",
                    f.packets.len()
                ),
            };
            let item = ev.add_capture(incident, &bytes, &note, WHO)?;
            tracing::info!(
                item = item.item,
                incident,
                packets = f.packets.len(),
                bytes = bytes.len(),
                took = ?started.elapsed(),
                "stored a packet capture"
            );
            items.push(item);
            self.stored.fetch_add(1, Ordering::Relaxed);
        }
        Ok(items)
    }
}

/// The newest incident whose host is `a` or `b`; 0 when there is none.
fn incident_of(store: &Store, a: IpAddr, b: IpAddr) -> Result<u64> {
    let (found, _) = persist::list(store, 0, 1, |i| {
        i.key.host == a || i.key.host == b || i.hosts.contains(&a) || i.hosts.contains(&b)
    })?;
    Ok(found.first().map_or(0, |i| i.id))
}

/// Stores quiet captured flows every half second until shutdown.
pub fn spawn_flusher(
    captures: std::sync::Arc<Captures>,
    ev: std::sync::Arc<Evidence>,
    store: std::sync::Arc<Store>,
    idle: Duration,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    crate::api::spawn_periodic(Duration::from_millis(500), shutdown, move || {
        if captures.pending() == 0 {
            return;
        }
        if let Err(e) = captures.flush(&ev, &store, idle) {
            tracing::error!(error = %e, "storing a packet capture failed");
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::StoreOptions;

    fn frame(last: u8) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        f[14] = 0x45;
        f[26..30].copy_from_slice(&[192, 0, 2, 1]);
        f[30..34].copy_from_slice(&[198, 51, 100, 2]);
        f[59] = last;
        f
    }

    #[test]
    fn flows_become_pcap_items_in_packet_order_and_bounds_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap());
        let ev = Evidence::open(&dir.path().join("ev"), store.clone()).unwrap();
        let c = Captures::default();
        for (ts, last) in [(3u64, 3u8), (1, 1), (2, 2)] {
            let data = frame(last);
            c.packet(
                0,
                42,
                Packet {
                    ts_ns: ts * 1_000_000_000,
                    orig_len: 60,
                    data,
                },
            );
        }
        c.packet(
            1,
            42,
            Packet {
                ts_ns: 5,
                orig_len: 60,
                data: frame(9),
            },
        );
        // Not quiet for an hour yet: nothing stored.
        assert!(c
            .flush(&ev, &store, Duration::from_secs(3600))
            .unwrap()
            .is_empty());
        let items = c.flush(&ev, &store, Duration::ZERO).unwrap();
        assert_eq!(items.len(), 2, "one item per worker and flow");
        assert_eq!(c.pending(), 0);
        let mine = items.iter().find(|i| i.note.contains("worker 0")).unwrap();
        assert_eq!((mine.kind.as_str(), mine.incident), ("pcap", 0));
        assert!(mine.file.ends_with("-pcap.pcap"), "{}", mine.file);
        let (_, bytes, intact) = ev
            .read_item(mine.item, super::super::Act::Exported, "t")
            .unwrap();
        assert!(intact);
        // Packet order, whatever the arrival order: the last byte of each record's frame.
        let lasts: Vec<u8> = (0..3).map(|k| bytes[24 + k * 76 + 75]).collect();
        assert_eq!(lasts, vec![1, 2, 3]);

        for flow in 0..MAX_FLOWS as u64 + 2 {
            c.packet(
                0,
                flow,
                Packet {
                    ts_ns: 1,
                    orig_len: 60,
                    data: frame(0),
                },
            );
        }
        assert_eq!(c.pending(), MAX_FLOWS);
        assert_eq!(c.dropped.load(Ordering::Relaxed), 2);
    }
}
