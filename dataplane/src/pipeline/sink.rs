//! What leaves the pipeline besides counters: the [`EventSink`] and the records handed to it.

use std::net::IpAddr;

use crate::detect::AlertEvent;
use crate::flow::FlowRecord;

/// Where an alert happened: the packet's addresses (sender first), its flow and number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertContext {
    pub flow_id: u64,
    pub pcap_cnt: u64,
    pub proto: u8,
    pub src: IpAddr,
    pub src_port: u16,
    pub dst: IpAddr,
    pub dst_port: u16,
    /// The flow's application protocol (Suricata's name), `None` when not known.
    pub app_proto: Option<&'static str>,
    /// The app-layer transaction the alert is about (its metadata goes into the record).
    pub tx_id: Option<u64>,
    /// The packet's VLAN tags.
    pub vlan: crate::eve::Vlans,
    /// The packet's ICMP type and code.
    pub icmp: Option<[u8; 2]>,
}

/// What leaves the pipeline besides counters.
pub trait EventSink {
    /// A flow ended (timeout, close, eviction, shutdown).
    fn flow_end(&mut self, rec: &FlowRecord);
    /// A rule matched.
    fn alert(&mut self, _ev: &AlertEvent, _ctx: &AlertContext) {}
    /// One whole EVE record (a JSON object without trailing newline) the worker rendered with
    /// [`crate::eve::Json`]: app-layer transactions, anomalies. `event_type` is the record's
    /// `event_type` field (consumers filter on it without parsing). The bytes live in reused
    /// memory; copy them out before returning.
    fn eve_line(&mut self, _event_type: &str, _line: &[u8]) {}
    /// Whether [`EventSink::eve_line`] records are wanted; when false the pipeline does not
    /// render them at all.
    fn wants_eve(&self) -> bool {
        true
    }
    /// True when the sink also wants each alert as a rendered EVE record through
    /// [`EventSink::eve_line`] (with flow counters and transaction metadata, which only the
    /// worker has), besides [`EventSink::alert`].
    fn wants_eve_alerts(&self) -> bool {
        false
    }
}

/// A sink that keeps nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullEvents;

impl EventSink for NullEvents {
    fn flow_end(&mut self, _: &FlowRecord) {}
    fn wants_eve(&self) -> bool {
        false
    }
}

impl<F: FnMut(&FlowRecord)> EventSink for F {
    fn flow_end(&mut self, rec: &FlowRecord) {
        self(rec)
    }
    fn wants_eve(&self) -> bool {
        false
    }
}
