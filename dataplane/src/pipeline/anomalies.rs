//! EVE `anomaly` records: decoder, stream and app-layer events, each logged once.

use crate::app;
use crate::decode::Packet;
use crate::eve;
use crate::flow;

use super::context::{At, PipelineCounters};
use super::flow_state::AppSlot;
use super::sink::EventSink;
use super::views::icmp_of;

/// Which anomalies become EVE `anomaly` records (Suricata's `anomaly.types`). Suricata's
/// default configuration logs only app-layer anomalies; Osprey's default logs all three.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnomalyTypes {
    /// Decoder events (`"type": "decode"`).
    pub decode: bool,
    /// TCP stream events (`"type": "stream"`).
    pub stream: bool,
    /// App-layer parser events (`"type": "applayer"`).
    pub applayer: bool,
}

impl AnomalyTypes {
    /// Suricata's default configuration (`anomaly.types`): app-layer anomalies only.
    pub const SURICATA_DEFAULT: AnomalyTypes = AnomalyTypes {
        decode: false,
        stream: false,
        applayer: true,
    };

    /// The types named (`decode`, `stream`, `applayer`); the others off. An unknown name is
    /// returned as the error.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, &'a str> {
        let mut t = AnomalyTypes {
            decode: false,
            stream: false,
            applayer: false,
        };
        for n in names {
            match n {
                "decode" => t.decode = true,
                "stream" => t.stream = true,
                "applayer" => t.applayer = true,
                other => return Err(other),
            }
        }
        Ok(t)
    }
}

impl Default for AnomalyTypes {
    fn default() -> Self {
        AnomalyTypes {
            decode: true,
            stream: true,
            applayer: true,
        }
    }
}

/// The EVE envelope of a record about `pkt`.
fn packet_envelope(pkt: &Packet<'_>, at: At) -> eve::Envelope<'static> {
    let (src_port, dst_port) = pkt.ports();
    eve::Envelope {
        ts: at.now,
        flow_id: at.flow_id,
        pcap_cnt: at.pcap_cnt,
        event_type: "anomaly",
        src: pkt.src_addr(),
        src_port,
        dst: pkt.dst_addr(),
        dst_port,
        proto: pkt.ip.as_ref().map_or(0, |i| i.proto),
        vlan: eve::packet_vlans(pkt),
        icmp: icmp_of(pkt),
    }
}

/// Where anomaly records go: the reused record buffer, the sink, the count of records.
pub(super) struct Out<'a, E> {
    pub(super) buf: &'a mut Vec<u8>,
    pub(super) events: &'a mut E,
    pub(super) counters: &'a mut PipelineCounters,
}

/// Renders the packet's decoder and stream events as EVE `anomaly` records (each event once).
pub(super) fn log_packet_anomalies<E: EventSink>(
    out: &mut Out<'_, E>,
    pkt: &Packet<'_>,
    at: At,
    types: AnomalyTypes,
    stream: flow::StreamEvents,
) {
    if (pkt.anomalies.is_empty() || !types.decode) && (stream.is_empty() || !types.stream) {
        return;
    }
    let Out {
        buf,
        events,
        counters,
    } = out;
    let env = packet_envelope(pkt, at);
    let addresses = pkt.ip.is_some();
    if types.decode {
        for (i, a) in pkt.anomalies.iter().enumerate() {
            if pkt.anomalies.iter().take(i).any(|b| b.event == a.event) {
                continue;
            }
            buf.clear();
            eve::write_anomaly(
                buf,
                &env,
                addresses,
                eve::Anomaly::Decode(a.event.full_name()),
            );
            events.eve_line("anomaly", buf);
            counters.anomalies_logged += 1;
        }
    }
    if types.stream {
        for ev in stream.iter() {
            buf.clear();
            eve::write_anomaly(buf, &env, addresses, eve::Anomaly::Stream(ev.name()));
            events.eve_line("anomaly", buf);
            counters.anomalies_logged += 1;
        }
    }
}

/// Renders the app-layer events the flow raised since the last call as EVE `anomaly` records.
pub(super) fn log_app_anomalies<E: EventSink>(
    out: &mut Out<'_, E>,
    slot: &mut AppSlot,
    pkt: &Packet<'_>,
    at: At,
) {
    let Out {
        buf,
        events,
        counters,
    } = out;
    let Some(app) = slot.app.as_ref() else {
        return;
    };
    let held = app.events.len();
    let from = usize::from(slot.events_logged);
    if held <= from {
        return;
    }
    let env = packet_envelope(pkt, at);
    let flow_proto = app.proto();
    for ev in app.events.iter().skip(from) {
        // `http.request_field_too_long`: the parser's protocol, then the event.
        let (proto, event) = ev.name().split_once('.').unwrap_or(("", ev.name()));
        let app_proto = match flow_proto {
            app::AppProto::Unknown | app::AppProto::Failed => proto,
            p => p.name(),
        };
        buf.clear();
        eve::write_anomaly(
            buf,
            &env,
            pkt.ip.is_some(),
            eve::Anomaly::AppLayer { app_proto, event },
        );
        events.eve_line("anomaly", buf);
        counters.anomalies_logged += 1;
    }
    slot.events_logged = held.min(u8::MAX as usize) as u8;
}
