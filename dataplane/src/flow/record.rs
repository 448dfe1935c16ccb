//! Flow-end records and their EVE `flow` rendering.
//!
//! A [`FlowRecord`] is a plain `Copy` value handed to a [`FlowRecordSink`] when a flow ends
//! (timeout, TCP close, eviction, port reuse) or at shutdown; the worker copies it into its SPSC
//! ring. [`write_eve_flow`] renders one as Suricata's `event_type: "flow"` JSON off the hot path.

use std::io::{self, Write};
use std::net::IpAddr;

use serde::Serialize;

use super::key::{proto, FlowId, FlowTuple};
use super::tcp::{TcpFlags, TcpState};
use crate::time::Timestamp;
use vocab::calendar::eve_timestamp;

/// The flow's application protocol, as the app layer detected it.
pub use vocab::AppProto;

/// Coarse flow state, Suricata's `flow.state`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum FlowState {
    /// One direction seen, or TCP handshake incomplete.
    #[default]
    New,
    /// Both directions seen, or TCP established.
    Established,
    /// TCP closed (FIN/RST).
    Closed,
}

impl FlowState {
    /// Suricata's name.
    pub const fn name(self) -> &'static str {
        match self {
            FlowState::New => "new",
            FlowState::Established => "established",
            FlowState::Closed => "closed",
        }
    }
}

/// Why a flow ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// Idle longer than its state's timeout.
    Timeout,
    /// TCP session closed (FIN/RST) and the closed timeout passed.
    TcpClosed,
    /// Evicted to make room (emergency mode).
    Evicted,
    /// A new SYN reused the tuple of a closed TCP session.
    TcpReuse,
    /// Table drained at shutdown.
    Shutdown,
}

impl EndReason {
    /// Suricata's `flow.reason`: TCP close ends by the closed-state timeout in Suricata too, and
    /// eviction and reuse are its "forced" ends.
    pub const fn eve_name(self) -> &'static str {
        match self {
            EndReason::Timeout | EndReason::TcpClosed => "timeout",
            EndReason::Evicted | EndReason::TcpReuse => "forced",
            EndReason::Shutdown => "shutdown",
        }
    }
}

/// What is left of a flow when it ends; ready to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    /// The flow's id.
    pub id: FlowId,
    /// Tuple oriented client → server.
    pub tuple: FlowTuple,
    /// Packets client → server.
    pub pkts_toserver: u64,
    /// Packets server → client.
    pub pkts_toclient: u64,
    /// Bytes (whole packets as decoded) client → server.
    pub bytes_toserver: u64,
    /// Bytes server → client.
    pub bytes_toclient: u64,
    /// First packet's time.
    pub start: Timestamp,
    /// Last packet's time.
    pub end: Timestamp,
    /// TCP flags seen client → server.
    pub tcp_flags_ts: TcpFlags,
    /// TCP flags seen server → client.
    pub tcp_flags_tc: TcpFlags,
    /// ICMP/ICMPv6 flows: type and code of the first packet each way (client → server
    /// first); zeros for a direction without packets and for other protocols.
    pub icmp: [[u8; 2]; 2],
    /// TCP state at the end (`None` for other protocols).
    pub tcp_state: Option<TcpState>,
    /// Coarse state at the end.
    pub state: FlowState,
    /// Why it ended.
    pub reason: EndReason,
    /// Application protocol.
    pub app_proto: AppProto,
    /// Whether any alert fired on the flow.
    pub alerted: bool,
}

/// Receives flow-end records.
pub trait FlowRecordSink {
    /// Called once per flow, when it ends.
    fn flow_end(&mut self, rec: &FlowRecord);
}

impl<F: FnMut(&FlowRecord)> FlowRecordSink for F {
    fn flow_end(&mut self, rec: &FlowRecord) {
        self(rec)
    }
}

#[derive(Serialize)]
struct EveFlow<'a> {
    timestamp: String,
    flow_id: u64,
    event_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    vlan: Option<[u16; 1]>,
    src_ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_port: Option<u16>,
    dest_ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    dest_port: Option<u16>,
    proto: std::borrow::Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icmp_code: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_icmp_code: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_proto: Option<&'static str>,
    flow: EveFlowBody<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcp: Option<EveTcp>,
}

#[derive(Serialize)]
struct EveFlowBody<'a> {
    pkts_toserver: u64,
    pkts_toclient: u64,
    bytes_toserver: u64,
    bytes_toclient: u64,
    start: String,
    end: String,
    age: u64,
    state: &'a str,
    reason: &'a str,
    alerted: bool,
}

#[derive(Serialize)]
struct EveTcp {
    tcp_flags: String,
    tcp_flags_ts: String,
    tcp_flags_tc: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    syn: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    fin: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    rst: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    psh: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    ack: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    urg: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    ecn: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    cwr: bool,
    state: &'static str,
}

/// Writes `rec` as one EVE `flow` event (one JSON object followed by a newline).
pub fn write_eve_flow<W: Write>(rec: &FlowRecord, mut w: W) -> io::Result<()> {
    let t = &rec.tuple;
    let has_ports = matches!(t.proto, proto::TCP | proto::UDP | proto::SCTP);
    let tcp = rec.tcp_state.map(|st| {
        let all = TcpFlags(rec.tcp_flags_ts.0 | rec.tcp_flags_tc.0);
        EveTcp {
            tcp_flags: format!("{:02x}", all.0),
            tcp_flags_ts: format!("{:02x}", rec.tcp_flags_ts.0),
            tcp_flags_tc: format!("{:02x}", rec.tcp_flags_tc.0),
            syn: all.has(TcpFlags::SYN),
            fin: all.has(TcpFlags::FIN),
            rst: all.has(TcpFlags::RST),
            psh: all.has(TcpFlags::PSH),
            ack: all.has(TcpFlags::ACK),
            urg: all.has(TcpFlags::URG),
            ecn: all.has(TcpFlags::ECE),
            cwr: all.has(TcpFlags::CWR),
            state: st.name(),
        }
    });
    // Suricata writes the request's ICMP type and code, and the response's once one was seen.
    let icmp = matches!(t.proto, proto::ICMP | proto::ICMPV6);
    let response = icmp && rec.pkts_toclient > 0;
    let vlan = super::key::zone_vlan(t.zone);
    let ev = EveFlow {
        timestamp: eve_timestamp(rec.end.0),
        flow_id: rec.id.0,
        event_type: "flow",
        vlan: (vlan != 0).then_some([vlan]),
        src_ip: t.src,
        src_port: has_ports.then_some(t.src_port),
        dest_ip: t.dst,
        dest_port: has_ports.then_some(t.dst_port),
        proto: vocab::proto::name(t.proto),
        icmp_type: icmp.then_some(rec.icmp[0][0]),
        icmp_code: icmp.then_some(rec.icmp[0][1]),
        response_icmp_type: response.then_some(rec.icmp[1][0]),
        response_icmp_code: response.then_some(rec.icmp[1][1]),
        app_proto: rec.app_proto.eve_name(),
        flow: EveFlowBody {
            pkts_toserver: rec.pkts_toserver,
            pkts_toclient: rec.pkts_toclient,
            bytes_toserver: rec.bytes_toserver,
            bytes_toclient: rec.bytes_toclient,
            start: eve_timestamp(rec.start.0),
            end: eve_timestamp(rec.end.0),
            age: rec.end.secs().saturating_sub(rec.start.secs()),
            state: rec.state.name(),
            reason: rec.reason.eve_name(),
            alerted: rec.alerted,
        },
        tcp,
    };
    serde_json::to_writer(&mut w, &ev)?;
    w.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eve_flow_fields() {
        let rec = FlowRecord {
            id: FlowId::new(1, 7),
            tuple: FlowTuple {
                zone: 0,
                proto: proto::TCP,
                src: "10.0.0.1".parse().unwrap(),
                src_port: 40000,
                dst: "10.0.0.2".parse().unwrap(),
                dst_port: 80,
            },
            pkts_toserver: 5,
            pkts_toclient: 4,
            bytes_toserver: 500,
            bytes_toclient: 4000,
            start: Timestamp::from_micros(1_704_067_200, 0),
            end: Timestamp::from_micros(1_704_067_203, 500_000),
            tcp_flags_ts: TcpFlags(0x1b),
            tcp_flags_tc: TcpFlags(0x1b),
            icmp: [[0; 2]; 2],
            tcp_state: Some(TcpState::Closed),
            state: FlowState::Closed,
            reason: EndReason::TcpClosed,
            app_proto: AppProto::Http,
            alerted: false,
        };
        let mut out = Vec::new();
        write_eve_flow(&rec, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with('\n'));
        assert!(text.starts_with("{\"timestamp\":\"2024-01-01T00:00:03.500000+0000\",\"flow_id\":"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["event_type"], "flow");
        assert_eq!(v["flow_id"], (1u64 << 44) | 7);
        assert_eq!(v["proto"], "TCP");
        assert_eq!(v["app_proto"], "http");
        assert_eq!(v["dest_port"], 80);
        assert_eq!(v["flow"]["age"], 3);
        assert_eq!(v["flow"]["state"], "closed");
        assert_eq!(v["flow"]["reason"], "timeout");
        assert_eq!(v["flow"]["start"], "2024-01-01T00:00:00.000000+0000");
        assert_eq!(v["tcp"]["tcp_flags"], "1b");
        assert_eq!(v["tcp"]["syn"], true);
        assert!(v["tcp"].get("rst").is_none());
        assert_eq!(v["tcp"]["state"], "closed");
    }
}
