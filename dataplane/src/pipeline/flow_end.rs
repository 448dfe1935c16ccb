//! Flow end: the flow's last transactions are inspected and logged, its alerts and app-layer
//! anomalies emitted, then its record; its per-flow state goes back to the pool.

use crate::detect::Detector;
use crate::flow::{self, FlowRecord, FlowRecordSink, FlowSnapshot};

use super::alerts::{emit_alerts, Pending};
use super::anomalies::log_app_anomalies;
use super::app_records::log_app_records;
use super::flow_state::AppStates;
use super::sink::EventSink;
use super::tx_inspect::{inspect_txs, TxInspect};
use super::views::pseudo_packet;
use super::{flow_app_proto, PipelineCounters};

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
    /// App-layer events become `anomaly` records.
    pub(super) app_anomalies: bool,
    pub(super) counters: &'a mut PipelineCounters,
}

impl<E: EventSink> FlowRecordSink for EndFlows<'_, E> {
    fn flow_end(&mut self, rec: &FlowRecord) {
        let mut rec = *rec;
        if let Some(mut slot) = self.apps.take_ended(rec.id) {
            if self.app_anomalies && self.events.wants_eve() {
                // Events the flow's end raised (a stream cut short, a transaction left
                // incomplete), on a pseudo packet at the flow's last packet time, as the
                // flow's transactions are logged.
                log_app_anomalies(
                    self.eve_buf,
                    &mut slot,
                    &pseudo_packet(&rec.tuple),
                    rec.id.0,
                    0,
                    rec.end,
                    self.events,
                    self.counters,
                );
            }
            // Transactions the flow's end completed (bodies delimited by close, unanswered
            // requests) are inspected one last time, on a pseudo packet as Suricata does.
            if let Some(det) = self.detector.as_deref_mut() {
                let pseudo = pseudo_packet(&rec.tuple);
                inspect_txs(
                    det,
                    self.txi,
                    &mut slot,
                    &pseudo,
                    flow::Direction::ToServer,
                    rec.id.0,
                    rec.state == flow::FlowState::Established
                        || rec.state == flow::FlowState::Closed,
                    self.pcap_cnt,
                    rec.end,
                    true,
                    self.pending,
                );
                // Alerts of this flow still pending: from its last stream data or the
                // transactions just inspected.
                if self.pending.iter().any(|(_, c)| c.flow_id == rec.id.0) {
                    rec.alerted = true;
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
            if self.eve_logging {
                // What the flow's end completed or cut short, at the flow's last packet time.
                log_app_records(
                    &mut slot,
                    rec.id.0,
                    0,
                    rec.end,
                    true,
                    &self.txi.eve_opts,
                    self.eve_buf,
                    self.events,
                );
            }
            if let Some(app) = slot.app.as_ref() {
                rec.app_proto = flow_app_proto(app.proto());
            }
            self.apps.recycle(slot);
        }
        self.events.flow_end(&rec);
    }
}
