//! The block-list stage: the first thing a decoded packet meets. A packet that an entry of the
//! worker's [`BlockTable`] matches is counted (`blocklist.hits`, by origin) and, inline, dropped
//! before any further work; in IDS mode it goes on as usual. One EVE `drop` record is written
//! per blocked flow and entry (a small per-worker memory of recently reported flows keeps a
//! flood from writing one per packet; a flow is reported again once [`REPORTED`] other blocked
//! flows have pushed it out).

use std::sync::Arc;

use vocab::block::BlockEntry;

use crate::blocklist::{BlockTable, Probe};
use crate::counters::CounterSet;
use crate::decode::Packet;
use crate::eve;

use super::context::At;
use super::sink::EventSink;
use super::views::icmp_of;

/// Blocked flows remembered per worker to write one record each.
const REPORTED: usize = 4096;

/// What a packet's block-list check decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BlockOutcome {
    /// No entry matched.
    Pass,
    /// An entry matched in IDS mode: recorded, inspected as usual.
    Recorded,
    /// An entry matched inline: the packet is dropped, not inspected.
    Drop,
}

/// Counters of the stage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockCounters {
    /// Packets an entry matched.
    pub hits: u64,
    /// Of those, by the entry's origin ([`Origin::ALL`] order).
    pub hits_by_origin: [u64; 4],
    /// EVE `drop` records written.
    pub records: u64,
    /// Entries in the table in use.
    pub entries: u64,
    /// Bytes of the table in use ([`BlockTable::memory_bytes`]; shared by every worker).
    pub table_bytes: u64,
}

impl CounterSet for BlockCounters {
    fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        const BY_ORIGIN: [&str; 4] = [
            "blocklist.hits.api",
            "blocklist.hits.playbook",
            "blocklist.hits.intel",
            "blocklist.hits.config",
        ];
        f("blocklist.hits", self.hits);
        for (name, v) in BY_ORIGIN.iter().zip(self.hits_by_origin) {
            f(name, v);
        }
        f("blocklist.records", self.records);
        f("blocklist.table_entries", self.entries);
        f("blocklist.table_bytes", self.table_bytes);
    }
}

/// The worker's block table and what it remembers of blocked flows.
pub(super) struct Blocks {
    table: Arc<BlockTable>,
    /// Inline mode: a hit drops the packet.
    enforce: bool,
    pub(super) counters: BlockCounters,
    /// Hashes of (entry, flow) recently reported, direct-mapped.
    reported: Box<[u64]>,
}

impl Blocks {
    pub(super) fn new(table: Option<Arc<BlockTable>>, enforce: bool) -> Blocks {
        let table = table.unwrap_or_default();
        Blocks {
            counters: BlockCounters {
                entries: table.len() as u64,
                table_bytes: table.memory_bytes() as u64,
                ..BlockCounters::default()
            },
            table,
            enforce,
            reported: vec![0; REPORTED].into_boxed_slice(),
        }
    }

    /// Swaps in a new table (between bursts).
    pub(super) fn set_table(&mut self, table: Arc<BlockTable>) {
        self.counters.entries = table.len() as u64;
        self.counters.table_bytes = table.memory_bytes() as u64;
        self.table = table;
    }

    /// Checks `pkt` against the table; a hit is counted and reported.
    #[inline]
    pub(super) fn check<E: EventSink>(
        &mut self,
        pkt: &Packet<'_>,
        at: At,
        buf: &mut Vec<u8>,
        events: &mut E,
    ) -> BlockOutcome {
        if self.table.is_empty() {
            return BlockOutcome::Pass;
        }
        let Some(ip) = pkt.ip.as_ref() else {
            return BlockOutcome::Pass;
        };
        let (src_port, dst_port) = pkt.ports();
        let probe = Probe {
            proto: ip.proto,
            src: ip.src,
            src_port,
            dst: ip.dst,
            dst_port,
        };
        let Blocks {
            table,
            enforce,
            counters,
            reported,
        } = self;
        let Some(entry) = table.lookup(&probe) else {
            return BlockOutcome::Pass;
        };
        counters.hits += 1;
        counters.hits_by_origin[entry.origin.index()] += 1;
        if events.wants_eve() && first_of_flow(reported, entry.id, &probe) {
            buf.clear();
            write_drop(buf, entry, pkt, at, *enforce);
            events.eve_line("drop", buf);
            counters.records += 1;
        }
        if *enforce {
            BlockOutcome::Drop
        } else {
            BlockOutcome::Recorded
        }
    }
}

/// Whether this is the first hit of entry `id` on the probe's flow that `reported` remembers
/// (and remembers it now).
#[cold]
fn first_of_flow(reported: &mut [u64], id: u64, p: &Probe) -> bool {
    // Either direction hashes the same: the endpoints in order.
    let a = (p.src, p.src_port);
    let b = (p.dst, p.dst_port);
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let key = FIXED.hash_one((id, p.proto, lo, hi)) | 1;
    let slot = &mut reported[(key as usize) % reported.len()];
    let first = *slot != key;
    *slot = key;
    first
}

/// A fixed hasher: the memory only decides whether a record is repeated, so a crafted
/// collision costs at most an extra record.
const FIXED: ahash::RandomState = ahash::RandomState::with_seeds(1, 2, 3, 4);

/// Suricata's `drop` record (IPS mode) for a block-list hit, with the entry that matched.
/// `action` says whether the packet was really dropped (`blocked`) or only seen (`allowed`,
/// IDS mode).
fn write_drop(buf: &mut Vec<u8>, entry: &BlockEntry, pkt: &Packet<'_>, at: At, enforced: bool) {
    let (src_port, dst_port) = pkt.ports();
    let env = eve::Envelope {
        ts: at.now,
        flow_id: at.flow_id,
        pcap_cnt: at.pcap_cnt,
        event_type: "drop",
        src: pkt.src_addr(),
        src_port,
        dst: pkt.dst_addr(),
        dst_port,
        proto: pkt.ip.as_ref().map_or(0, |i| i.proto),
        vlan: eve::packet_vlans(pkt),
        icmp: icmp_of(pkt),
    };
    let mut j = eve::Json::new(buf);
    j.envelope(&env);
    j.object("drop")
        .u64("len", pkt.data.len() as u64)
        .str("reason", "blocklist")
        .str("action", if enforced { "blocked" } else { "allowed" })
        .close();
    j.object("blocklist")
        .u64("id", entry.id)
        .str_fmt("match", format_args!("{}", entry.matcher))
        .str("side", entry.matcher.side().name())
        .str("origin", entry.origin.name())
        .str("reason", &entry.reason)
        .close();
    j.end();
}
