//! Flow end: the flow's last transactions are inspected and logged, its alerts and app-layer
//! anomalies emitted, then its record; its per-flow state goes back to the pool.

use crate::detect::Detector;
use crate::flow::{self, FlowRecord, FlowRecordSink, FlowSnapshot};

use super::alerts::{emit_alerts, Pending};
use super::anomalies::{log_app_anomalies, Out};
use super::app_records::{log_app_records, AppRecords};
use super::context::{flow_app_proto, At, Detection, PipelineCounters};
use super::flow_state::{AppSlot, AppStates};
use super::sink::EventSink;
use super::tx_inspect::{inspect_txs, TxInspect, TxPass};
use super::views::pseudo_packet;

/// Ends flows: records out, app states released.
pub(super) struct EndFlows<'a, E: EventSink> {
    pub(super) apps: &'a mut AppStates,
    pub(super) events: &'a mut E,
    pub(super) detector: Option<&'a mut Detector>,
    pub(super) txi: &'a mut TxInspect,
    pub(super) pcap_cnt: u64,
    pub(super) pending: &'a mut Pending,
    pub(super) eve_buf: &'a mut Vec<u8>,
    /// EVE app-layer records are written.
    pub(super) eve_logging: bool,
    /// Transactions are checked against indicators as their records fall due.
    pub(super) intel: &'a mut crate::intel::Matcher,
    /// App-layer events become `anomaly` records.
    pub(super) app_anomalies: bool,
    pub(super) counters: &'a mut PipelineCounters,
}

impl<E: EventSink> FlowRecordSink for EndFlows<'_, E> {
    fn flow_end(&mut self, rec: &FlowRecord) {
        let mut rec = *rec;
        if let Some(mut slot) = self.apps.take_ended(rec.id) {
            // Records of the flow's end carry no packet number, at the flow's last packet time.
            let at_end = At {
                flow_id: rec.id.0,
                pcap_cnt: 0,
                now: rec.end,
            };
            if self.app_anomalies && self.events.wants_eve() {
                // Events the flow's end raised (a stream cut short, a transaction left
                // incomplete), on a pseudo packet, as the flow's transactions are logged.
                let out = &mut Out {
                    buf: self.eve_buf,
                    events: self.events,
                    counters: self.counters,
                };
                log_app_anomalies(out, &mut slot, &pseudo_packet(&rec.tuple), at_end);
            }
            if let Some(det) = self.detector.as_deref_mut() {
                let mut d = Detection {
                    det,
                    pending: self.pending,
                };
                let packets = d.det.take_verdict();
                rec.alerted |= last_inspection(&mut d, self.txi, &mut slot, &rec, self.pcap_cnt);
                // A flow's end drops no packet: its alerts blocked nothing, and its verdict is
                // not that of the packet being processed (if any).
                d.det.take_verdict();
                d.det.merge_verdict(packets);
                for a in d.pending.iter_mut().filter(|a| a.flow_id == rec.id.0) {
                    a.blocked = false;
                }
                let snap = FlowSnapshot {
                    tuple: rec.tuple,
                    pkts: [rec.pkts_toserver, rec.pkts_toclient],
                    bytes: [rec.bytes_toserver, rec.bytes_toclient],
                    start: rec.start,
                };
                emit_alerts(
                    self.pending,
                    self.eve_buf,
                    det,
                    Some(rec.id.0),
                    Some(&snap),
                    Some(&slot),
                    self.events,
                );
            }
            if self.eve_logging || self.intel.is_on() {
                // What the flow's end completed or cut short.
                let out = AppRecords {
                    buf: self.eve_buf,
                    opts: &self.txi.eve_opts,
                    write: self.eve_logging,
                    intel: self.intel,
                };
                log_app_records(out, self.events, &mut slot, at_end, true);
            }
            if let Some(app) = slot.app.as_ref() {
                rec.app_proto = flow_app_proto(app.proto());
            }
            self.apps.recycle(slot);
        }
        self.events.flow_end(&rec);
    }
}

/// Transactions the flow's end completed (bodies delimited by close, unanswered requests) are
/// inspected one last time, on a pseudo packet as Suricata does. True when alerts of the flow
/// are pending: from its last stream data or the transactions just inspected.
fn last_inspection(
    d: &mut Detection<'_>,
    txi: &mut TxInspect,
    slot: &mut AppSlot,
    rec: &FlowRecord,
    pcap_cnt: u64,
) -> bool {
    let pseudo = pseudo_packet(&rec.tuple);
    let at = At {
        flow_id: rec.id.0,
        pcap_cnt,
        now: rec.end,
    };
    let pass = TxPass {
        dir: flow::Direction::ToServer,
        established: rec.state == flow::FlowState::Established
            || rec.state == flow::FlowState::Closed,
        flush: true,
    };
    inspect_txs(d, txi, slot, &pseudo, at, pass);
    d.pending.iter().any(|a| a.flow_id == rec.id.0)
}
