//! EVE records the workers render (alerts, app-layer transactions, anomalies) with the one
//! EVE writer, [`vocab::eve::Json`]: this module adds what only the data plane knows, the
//! packet's or flow's [`Envelope`] (packet time, VLAN tags) and the `anomaly` record. The
//! result is one JSON object without a trailing newline, which the pipeline hands to
//! [`crate::pipeline::EventSink::eve_line`].

use std::net::IpAddr;

pub use vocab::eve::Json;

use crate::time::Timestamp;

/// The VLAN ids an EVE record lists in `vlan`.
pub use vocab::eve::Vlans;

/// The tags a packet carried (as many as the decoder kept).
pub fn packet_vlans(p: &crate::decode::Packet<'_>) -> Vlans {
    Vlans::new(&p.vlan[..usize::from(p.vlan_len).min(p.vlan.len())])
}

/// The VLAN a flow was keyed by (its innermost tag).
pub fn zone_vlans(zone: u32) -> Vlans {
    match crate::flow::zone_vlan(zone) {
        0 => Vlans::NONE,
        v => Vlans::new(&[v]),
    }
}

/// The common fields at the start of every EVE record, in the data plane's terms (packet time,
/// the decoder's VLAN tags); [`Json::envelope`] takes it as a [`vocab::eve::Envelope`].
#[derive(Clone, Copy, Debug)]
pub struct Envelope<'a> {
    /// Packet time of the event.
    pub ts: Timestamp,
    /// Flow id (0: no flow, the field is left out).
    pub flow_id: u64,
    /// Packet number in the capture (0: left out).
    pub pcap_cnt: u64,
    /// `event_type`.
    pub event_type: &'a str,
    /// Source address (the packet's sender, or the flow's client for transaction records).
    pub src: IpAddr,
    /// Source port (left out when the protocol has no ports).
    pub src_port: u16,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port.
    pub dst_port: u16,
    /// IP protocol number.
    pub proto: u8,
    /// VLAN tags (`vlan`).
    pub vlan: Vlans,
    /// ICMP type and code of the packet (`icmp_type`, `icmp_code`), `None` when not ICMP.
    pub icmp: Option<[u8; 2]>,
}

impl<'a> From<&'a Envelope<'_>> for vocab::eve::Envelope<'a> {
    fn from(e: &'a Envelope<'_>) -> Self {
        vocab::eve::Envelope {
            ts_nanos: e.ts.0,
            flow_id: e.flow_id,
            pcap_cnt: e.pcap_cnt,
            event_type: e.event_type,
            src: e.src,
            src_port: e.src_port,
            dst: e.dst,
            dst_port: e.dst_port,
            proto: e.proto,
            vlan: e.vlan.ids(),
            icmp: e.icmp,
        }
    }
}

/// Packet time as [`Json::timestamp`] takes it: nanoseconds since the epoch.
impl From<Timestamp> for u64 {
    fn from(ts: Timestamp) -> u64 {
        ts.0
    }
}

/// What an `anomaly` record reports, as Suricata's anomaly logger types it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anomaly<'a> {
    /// A decoder event (`decoder.ipv4.trunc_pkt`).
    Decode(&'a str),
    /// A TCP stream event (`stream.3whs_ack_in_wrong_dir`).
    Stream(&'a str),
    /// An app-layer parser event: the parser's protocol and the event's name without the
    /// protocol prefix (`request_field_too_long`).
    AppLayer { app_proto: &'a str, event: &'a str },
}

/// Appends one `anomaly` record to `out` (no newline). `env.event_type` is ignored
/// (`anomaly` is written); with `addresses` false the packet's addresses are left out (a
/// frame without a decodable IP header). App-layer records also carry the flow's
/// `app_proto` at the top level, as Suricata's do.
pub fn write_anomaly(out: &mut Vec<u8>, env: &Envelope<'_>, addresses: bool, a: Anomaly<'_>) {
    let env = Envelope {
        event_type: "anomaly",
        ..*env
    };
    let mut j = Json::new(out);
    if addresses {
        j.envelope(&env);
    } else {
        j.envelope_without_addresses(&env);
    }
    if let Anomaly::AppLayer { app_proto, .. } = a {
        j.str("app_proto", app_proto);
    }
    j.object("anomaly");
    match a {
        Anomaly::Decode(event) => {
            j.str("type", "decode").str("event", event);
        }
        Anomaly::Stream(event) => {
            j.str("type", "stream").str("event", event);
        }
        Anomaly::AppLayer { app_proto, event } => {
            j.str("app_proto", app_proto)
                .str("type", "applayer")
                .str("event", event)
                .str("layer", "proto_parser");
        }
    }
    j.close();
    j.end();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn env(proto: u8) -> Envelope<'static> {
        Envelope {
            ts: Timestamp::from_micros(1_709_210_096, 789_012),
            flow_id: 42,
            pcap_cnt: 7,
            event_type: "http",
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            src_port: 1234,
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            dst_port: 80,
            proto,
            vlan: crate::eve::Vlans::NONE,
            icmp: None,
        }
    }

    // The writer itself is tested in `vocab::eve`; here, what the data plane hands it: packet
    // time, VLAN tags and the addresses of its own envelope.
    #[test]
    fn the_data_planes_envelope_reaches_the_writer() {
        let mut buf = Vec::new();
        let mut j = Json::new(&mut buf);
        j.envelope(&Envelope {
            vlan: Vlans::new(&[10, 20]),
            ..env(6)
        });
        j.end();
        let v: serde_json::Value = serde_json::from_slice(&buf).expect("valid JSON");
        assert_eq!(v["timestamp"], "2024-02-29T12:34:56.789012+0000");
        assert_eq!(
            (v["flow_id"].as_u64(), v["pcap_cnt"].as_u64()),
            (Some(42), Some(7))
        );
        assert_eq!(v["vlan"], serde_json::json!([10, 20]));
        assert_eq!(
            (v["src_ip"].as_str(), v["dest_port"].as_u64()),
            (Some("10.0.0.1"), Some(80))
        );
        assert_eq!(zone_vlans(0), Vlans::NONE);
    }

    #[test]
    fn anomaly_records_have_suricatas_shape() {
        let mut buf = Vec::new();
        write_anomaly(
            &mut buf,
            &env(6),
            true,
            Anomaly::Decode("decoder.ipv4.trunc_pkt"),
        );
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["event_type"], "anomaly");
        assert_eq!(v["src_ip"], "10.0.0.1");
        assert_eq!(v["anomaly"]["type"], "decode");
        assert_eq!(v["anomaly"]["event"], "decoder.ipv4.trunc_pkt");

        buf.clear();
        write_anomaly(
            &mut buf,
            &env(6),
            false,
            Anomaly::Stream("stream.pkt_after_close"),
        );
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert!(v.get("src_ip").is_none() && v.get("proto").is_none());
        assert_eq!(v["pcap_cnt"], 7);
        assert_eq!(v["anomaly"]["type"], "stream");

        buf.clear();
        let a = Anomaly::AppLayer {
            app_proto: "http",
            event: "request_field_too_long",
        };
        write_anomaly(&mut buf, &env(6), true, a);
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["app_proto"], "http");
        assert_eq!(v["anomaly"]["app_proto"], "http");
        assert_eq!(v["anomaly"]["type"], "applayer");
        assert_eq!(v["anomaly"]["event"], "request_field_too_long");
        assert_eq!(v["anomaly"]["layer"], "proto_parser");
    }
}
