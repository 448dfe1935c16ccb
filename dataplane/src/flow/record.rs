//! Flow-end records and their EVE `flow` rendering.
//!
//! A [`FlowRecord`] is a plain `Copy` value handed to a [`FlowRecordSink`] when a flow ends
//! (timeout, TCP close, eviction, port reuse) or at shutdown; the worker copies it into its SPSC
//! ring. [`render_eve_flow`] renders one as Suricata's `event_type: "flow"` JSON with the one
//! EVE writer ([`vocab::eve::Json`]), off the hot path.

use super::key::{proto, FlowId, FlowTuple};
use super::tcp::{TcpFlags, TcpState};
use crate::time::Timestamp;
use std::io::{self, Write};
use vocab::FlowFeatures;

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
#[derive(Clone, Copy, Debug, PartialEq)]
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
    /// Whether the flow was bypassed (EVE `flow.bypass: "local"`, state `bypassed`).
    pub bypassed: bool,
    /// What the worker measured about the flow, when flow features are on.
    pub features: Option<FlowFeatures>,
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

/// Appends `rec` as one EVE `flow` record to `out` (one JSON object, no newline), with the
/// one EVE writer: `osprey replay` and `osprey run` both write flows this way.
pub fn render_eve_flow(rec: &FlowRecord, out: &mut Vec<u8>) {
    let t = &rec.tuple;
    // Suricata writes the request's ICMP type and code, and the response's once one was seen.
    let icmp = matches!(t.proto, proto::ICMP | proto::ICMPV6);
    let response = icmp && rec.pkts_toclient > 0;
    let mut j = vocab::eve::Json::new(out);
    write_flow_envelope(&mut j, rec, "flow");
    if response {
        j.u64("response_icmp_type", u64::from(rec.icmp[1][0]))
            .u64("response_icmp_code", u64::from(rec.icmp[1][1]));
    }
    if let Some(name) = rec.app_proto.eve_name() {
        j.str("app_proto", name);
    }
    j.object("flow")
        .u64("pkts_toserver", rec.pkts_toserver)
        .u64("pkts_toclient", rec.pkts_toclient)
        .u64("bytes_toserver", rec.bytes_toserver)
        .u64("bytes_toclient", rec.bytes_toclient)
        .timestamp("start", rec.start.0)
        .timestamp("end", rec.end.0)
        .u64("age", rec.end.secs().saturating_sub(rec.start.secs()))
        .str(
            "state",
            if rec.bypassed {
                "bypassed"
            } else {
                rec.state.name()
            },
        )
        .str("reason", rec.reason.eve_name())
        .bool("alerted", rec.alerted);
    if rec.bypassed {
        // Suricata's local bypass (no capture-level bypass here).
        j.str("bypass", "local");
    }
    j.close();
    if let Some(st) = rec.tcp_state {
        let all = TcpFlags(rec.tcp_flags_ts.0 | rec.tcp_flags_tc.0);
        j.object("tcp")
            .str_fmt("tcp_flags", format_args!("{:02x}", all.0))
            .str_fmt("tcp_flags_ts", format_args!("{:02x}", rec.tcp_flags_ts.0))
            .str_fmt("tcp_flags_tc", format_args!("{:02x}", rec.tcp_flags_tc.0));
        for (flag, name) in [
            (TcpFlags::SYN, "syn"),
            (TcpFlags::FIN, "fin"),
            (TcpFlags::RST, "rst"),
            (TcpFlags::PSH, "psh"),
            (TcpFlags::ACK, "ack"),
            (TcpFlags::URG, "urg"),
            (TcpFlags::ECE, "ecn"),
            (TcpFlags::CWR, "cwr"),
        ] {
            if all.has(flag) {
                j.bool(name, true);
            }
        }
        j.str("state", st.name()).close();
    }
    if let Some(f) = &rec.features {
        super::features::write_eve_features(&mut j, f);
    }
    j.end();
}

/// Writes the EVE envelope of a record about the flow `rec` (at its end, flow id, tuple,
/// VLAN, ICMP type and code): the `flow` record's, and the `ml` record's that scores it.
pub fn write_flow_envelope(j: &mut vocab::eve::Json<'_>, rec: &FlowRecord, event_type: &str) {
    let t = &rec.tuple;
    let icmp = matches!(t.proto, proto::ICMP | proto::ICMPV6);
    let vlan = super::key::zone_vlan(t.zone);
    let vlans = [vlan];
    j.envelope(vocab::eve::Envelope {
        ts_nanos: rec.end.0,
        flow_id: rec.id.0,
        pcap_cnt: 0,
        event_type,
        src: t.src,
        src_port: t.src_port,
        dst: t.dst,
        dst_port: t.dst_port,
        proto: t.proto,
        vlan: if vlan != 0 { &vlans } else { &[] },
        icmp: icmp.then_some(rec.icmp[0]),
    });
}

/// Writes `rec` as one EVE `flow` event (one JSON object followed by a newline).
pub fn write_eve_flow<W: Write>(rec: &FlowRecord, mut w: W) -> io::Result<()> {
    let mut line = Vec::with_capacity(512);
    render_eve_flow(rec, &mut line);
    line.push(b'\n');
    w.write_all(&line)
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
            bypassed: false,
            features: None,
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
