//! The alert record that crosses from a worker to the control plane.
//!
//! An alert has three shapes in the workspace, each for a reason:
//! - the data plane's `detect::AlertEvent`: what the detector found (rule, action, where in
//!   the inspected data), in the rule engine's own types; it never leaves the detector's
//!   callback, where the pipeline stamps it onto an [`AlertRecord`];
//! - [`AlertRecord`] (here): the one alert a worker hands over. The pipeline fills the
//!   packet's side (addresses, flow, packet number, VLANs, ICMP, transaction) at the first
//!   alert of an inspection, and each alert of that inspection copies it with the rule's side
//!   added, straight into a reused vector: one copy per alert, no allocation, and nothing at
//!   all for the many inspections that raise none (the detector's event carrying the packet
//!   side instead would have the pipeline hand it over on every inspection). The worker
//!   renders the alert's EVE record from the record and pushes the same value, `Copy` and
//!   fixed size, through its ring to the control plane;
//! - the control plane's `model::Alert`: the stored and served alert, with the rule's
//!   message and category filled in and owned strings, outliving the engine that raised it.

use std::net::{IpAddr, Ipv4Addr};

use crate::eve::Vlans;
use crate::{AppProto, Direction};

/// The rule action behind an alert, as stored and served (Suricata's reject variants are
/// all `Reject`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum Action {
    /// `alert`.
    #[default]
    Alert,
    /// `drop`.
    Drop,
    /// `reject`, `rejectsrc`, `rejectdst`, `rejectboth`.
    Reject,
    /// `pass`.
    Pass,
}

impl Action {
    /// The rule keyword (`alert.action` in EVE says "allowed"/"blocked" instead).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Alert => "alert",
            Action::Drop => "drop",
            Action::Reject => "reject",
            Action::Pass => "pass",
        }
    }

    /// Parses the spelling of [`Action::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "alert" => Action::Alert,
            "drop" => Action::Drop,
            "reject" => Action::Reject,
            "pass" => Action::Pass,
            _ => return None,
        })
    }
}

/// Bytes of payload an [`AlertRecord`] carries.
pub const PAYLOAD_EXCERPT: usize = 128;

/// One alert as a worker hands it to the control plane, and as the worker renders its EVE
/// record: fixed size, `Copy`, no heap.
///
/// The rule's message, classtype and metadata stay in the rule engine: `rule` indexes the
/// engine of ruleset `generation`, and (`gid`, `sid`) name the signature when that engine is
/// gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertRecord {
    /// Packet time, nanoseconds since the Unix epoch.
    pub ts_nanos: u64,
    /// Generator id.
    pub gid: u32,
    /// Signature id.
    pub sid: u32,
    /// Revision.
    pub rev: u32,
    /// Index of the rule in the engine of `generation`.
    pub rule: u32,
    /// Ruleset generation of the engine that raised it (0: unknown).
    pub generation: u64,
    /// The rule's action.
    pub action: Action,
    /// The packet was dropped (a blocking rule in inline mode): EVE's `alert.action` says
    /// `blocked` instead of `allowed`.
    pub blocked: bool,
    /// Sender of the packet.
    pub src_ip: IpAddr,
    /// Sender's port (0 without ports).
    pub src_port: u16,
    /// Receiver of the packet.
    pub dst_ip: IpAddr,
    /// Receiver's port (0 without ports).
    pub dst_port: u16,
    /// IP protocol number.
    pub proto: u8,
    /// The flow's application protocol ([`AppProto::Unknown`] when none was named).
    pub app_proto: AppProto,
    /// Flow id (0: no flow).
    pub flow_id: u64,
    /// Direction of the packet in its flow, `None` for a packet without flow.
    pub direction: Option<Direction>,
    /// Packet number within the capture or since start-up.
    pub packet_no: u64,
    /// The app-layer transaction the alert is about (its metadata goes into the EVE record).
    pub tx_id: Option<u64>,
    /// The packet's VLAN tags.
    pub vlan: Vlans,
    /// The packet's ICMP type and code, `None` when not ICMP.
    pub icmp: Option<[u8; 2]>,
    /// The worker rendered this alert's EVE record too; it waits in the worker's EVE ring as
    /// the next `alert` record there not claimed by an earlier record.
    pub eve: bool,
    /// Bytes used in `payload`.
    pub payload_len: u16,
    /// A bounded excerpt of the payload that matched (none from the workers today).
    pub payload: [u8; PAYLOAD_EXCERPT],
}

impl Default for AlertRecord {
    fn default() -> Self {
        AlertRecord {
            ts_nanos: 0,
            gid: 1,
            sid: 0,
            rev: 0,
            rule: 0,
            generation: 0,
            action: Action::Alert,
            blocked: false,
            src_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            src_port: 0,
            dst_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst_port: 0,
            proto: 0,
            app_proto: AppProto::Unknown,
            flow_id: 0,
            direction: None,
            packet_no: 0,
            tx_id: None,
            vlan: Vlans::NONE,
            icmp: None,
            eve: false,
            payload_len: 0,
            payload: [0; PAYLOAD_EXCERPT],
        }
    }
}

impl AlertRecord {
    /// Copies up to [`PAYLOAD_EXCERPT`] bytes of `data` into the record.
    pub fn set_payload(&mut self, data: &[u8]) {
        let n = data.len().min(PAYLOAD_EXCERPT);
        self.payload[..n].copy_from_slice(&data[..n]);
        self.payload_len = n as u16;
    }

    /// The payload excerpt.
    pub fn payload(&self) -> &[u8] {
        &self.payload[..usize::from(self.payload_len).min(PAYLOAD_EXCERPT)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_bounded() {
        let mut r = AlertRecord::default();
        r.set_payload(&[7; 300]);
        assert_eq!(r.payload().len(), PAYLOAD_EXCERPT);
        r.set_payload(b"GET /");
        assert_eq!(r.payload(), b"GET /");
    }

    #[test]
    fn actions_round_trip() {
        for a in [Action::Alert, Action::Drop, Action::Reject, Action::Pass] {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(Action::parse("rejectsrc"), None);
    }
}
