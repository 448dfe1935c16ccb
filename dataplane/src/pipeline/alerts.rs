//! Alert emission: each alert an inspection raises becomes the workspace's one alert record,
//! [`AlertRecord`], at once (the packet's side, filled at the inspection's first alert, plus
//! the rule's side of the detector's event); once the inspection is over the records go to the sink, with
//! EVE `alert` records as Suricata 8 writes them, rendered here from the same record (only the
//! worker has the flow's counters and the transaction the alert is about) with
//! [`crate::eve::Json`].

use std::net::{IpAddr, Ipv4Addr};

use vocab::alert::Action;
use vocab::eve::Envelope;
use vocab::{AlertRecord, AppProto};

use crate::app::AppLayer;
use crate::decode::Packet;
use crate::detect::{AlertAction, AlertEvent, Detector};
use crate::eve::Json;
use crate::flow::FlowSnapshot;

use super::flow_state::AppSlot;
use super::sink::EventSink;
use super::views::icmp_of;

/// Alerts raised during one inspection, waiting for it to finish (the vector is reused: no
/// allocation once it has grown to the most alerts one inspection raises).
pub(super) type Pending = Vec<AlertRecord>;

/// Hands the collected alerts to the sink, rendered as EVE records too when it wants them.
/// `flow` and `app` describe flow `current` (`None`: whichever flow each alert names); alerts
/// of other flows are rendered without them.
pub(super) fn emit_alerts<E: EventSink>(
    pending: &mut Pending,
    buf: &mut Vec<u8>,
    det: &Detector,
    current: Option<u64>,
    flow: Option<&FlowSnapshot>,
    slot: Option<&AppSlot>,
    events: &mut E,
) {
    let eve = events.wants_eve() && events.wants_eve_alerts();
    for rec in pending.drain(..) {
        events.alert(&rec);
        if eve {
            buf.clear();
            let mine = current.is_none_or(|c| c == rec.flow_id);
            let (flow, slot) = if mine { (flow, slot) } else { (None, None) };
            let app = slot.and_then(|s| s.app.as_ref());
            let bits = slot.map(|s| det.flowbits(&s.detect)).into_iter().flatten();
            write_eve_alert(buf, det.engine(), &rec, flow, app, bits);
            events.eve_line("alert", buf);
        }
    }
}

/// The detector's callback for one inspection: each alert becomes its record in `pending`,
/// the packet's side of which `side` builds at the inspection's first alert and every later
/// alert of the inspection copies (most inspections raise none, and build nothing).
#[inline]
pub(super) fn collect<'a>(
    pending: &'a mut Pending,
    side: impl Fn() -> AlertRecord + 'a,
) -> impl FnMut(AlertEvent) + 'a {
    let mut filled: Option<AlertRecord> = None;
    move |ev| {
        let side = filled.get_or_insert_with(&side);
        pending.push(raised(side, &ev));
    }
}

/// The packet's side of every alert an inspection of `pkt` raises: addresses (sender first),
/// flow, packet number, the flow's protocol ([`AppProto::Unknown`]: none named), VLANs and
/// ICMP. [`raised`] adds each alert's rule side.
pub(super) fn packet_side(
    pkt: &Packet<'_>,
    flow_id: u64,
    pcap_cnt: u64,
    app_proto: AppProto,
) -> AlertRecord {
    let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let (src_port, dst_port) = pkt.ports();
    AlertRecord {
        flow_id,
        packet_no: pcap_cnt,
        proto: pkt.ip.as_ref().map_or(0, |i| i.proto),
        src_ip: pkt.ip.as_ref().map_or(unspecified, |i| i.src),
        src_port,
        dst_ip: pkt.ip.as_ref().map_or(unspecified, |i| i.dst),
        dst_port,
        app_proto,
        vlan: crate::eve::packet_vlans(pkt),
        icmp: icmp_of(pkt),
        ..AlertRecord::default()
    }
}

/// The record of alert `ev`: the packet's side `side` with the rule's side added. The
/// engine's generation is the worker's to stamp.
#[inline]
fn raised(side: &AlertRecord, ev: &AlertEvent) -> AlertRecord {
    use rules::ast::Action as A;
    AlertRecord {
        ts_nanos: ev.ts.0,
        gid: ev.gid,
        sid: ev.sid,
        rev: ev.rev,
        rule: ev.rule,
        action: match ev.rule_action {
            A::Alert => Action::Alert,
            A::Pass => Action::Pass,
            A::Drop => Action::Drop,
            _ => Action::Reject,
        },
        blocked: ev.action == AlertAction::Blocked,
        direction: ev.dir,
        ..*side
    }
}

/// Writes one alert record into `out` (appending; no trailing newline). `flowbits` are the
/// names of the flow's flowbits after the alerting packet.
pub(super) fn write_eve_alert<'b>(
    out: &mut Vec<u8>,
    engine: &rules::Engine,
    rec: &AlertRecord,
    flow: Option<&FlowSnapshot>,
    app: Option<&AppLayer>,
    flowbits: impl Iterator<Item = &'b str> + Clone,
) {
    let rule = engine.rules.get(rec.rule as usize);
    let mut j = Json::new(out);
    j.envelope(Envelope {
        ts_nanos: rec.ts_nanos,
        flow_id: rec.flow_id,
        pcap_cnt: rec.packet_no,
        event_type: "alert",
        src: rec.src_ip,
        src_port: rec.src_port,
        dst: rec.dst_ip,
        dst_port: rec.dst_port,
        proto: rec.proto,
        vlan: rec.vlan.ids(),
        icmp: rec.icmp,
    });
    if let Some(d) = rec.direction {
        j.str("direction", d.as_str());
    }
    let action = if rec.blocked {
        AlertAction::Blocked
    } else {
        AlertAction::Allowed
    };
    j.object("alert");
    j.str("action", action.as_str())
        .u64("gid", u64::from(rec.gid))
        .u64("signature_id", u64::from(rec.sid))
        .u64("rev", u64::from(rec.rev));
    let (msg, class, prio) = match rule {
        Some(r) => (r.meta.msg.as_str(), engine.category(r), r.meta.priority),
        None => ("", "", 0),
    };
    j.str("signature", msg)
        .str("category", class)
        .u64("severity", u64::from(if prio == 0 { 3 } else { prio }));
    if let Some(r) = rule {
        if !r.meta.metadata.is_empty() {
            // Suricata groups metadata values by key, in first-seen key order.
            j.object("metadata");
            let md = &r.meta.metadata;
            for (i, (k, _)) in md.iter().enumerate() {
                if md[..i].iter().any(|(k2, _)| k2 == k) {
                    continue;
                }
                j.array(k);
                for (_, v) in md[i..].iter().filter(|(k2, _)| k2 == k) {
                    j.sep().value_bytes(v.as_bytes());
                }
                j.close_array();
            }
            j.close();
        }
    }
    j.close();
    if let Some(a) = rec.app_proto.eve_name() {
        j.str("app_proto", a);
    }
    if let Some(app) = app {
        crate::app::eve::write_alert_app_metadata(&mut j, app, rec.tx_id);
    }
    write_flowbits(&mut j, flowbits);
    if let Some(f) = flow {
        let t = &f.tuple;
        j.object("flow")
            .u64("pkts_toserver", f.pkts[0])
            .u64("pkts_toclient", f.pkts[1])
            .u64("bytes_toserver", f.bytes[0])
            .u64("bytes_toclient", f.bytes[1])
            .timestamp("start", f.start);
        flow_endpoints(&mut j, t.src, t.src_port, t.dst, t.dst_port, t.proto);
        j.close();
    }
    j.end();
}

/// Flowbit names in EVE as Suricata writes them with its default `metadata: yes`: bits named
/// `traffic/id/X` and `traffic/label/X` as `traffic {id: [X], label: [X]}`, the others as
/// `metadata {flowbits: [...]}`.
fn write_flowbits<'b>(j: &mut Json<'_>, bits: impl Iterator<Item = &'b str> + Clone) {
    const ID: &str = "traffic/id/";
    const LABEL: &str = "traffic/label/";
    let plain = bits
        .clone()
        .filter(|b| !b.starts_with(ID) && !b.starts_with(LABEL));
    if plain.clone().next().is_some() {
        j.object("metadata");
        string_array(j, "flowbits", plain);
        j.close();
    }
    let ids = bits.clone().filter_map(|b| b.strip_prefix(ID));
    let labels = bits.filter_map(|b| b.strip_prefix(LABEL));
    if ids.clone().next().is_none() && labels.clone().next().is_none() {
        return;
    }
    j.object("traffic");
    string_array(j, "id", ids);
    string_array(j, "label", labels);
    j.close();
}

/// `"key": [..]` of `items`, left out when there are none.
fn string_array<'b>(j: &mut Json<'_>, key: &str, items: impl Iterator<Item = &'b str>) {
    let mut items = items.peekable();
    if items.peek().is_none() {
        return;
    }
    j.array(key);
    for n in items {
        j.sep().value_bytes(n.as_bytes());
    }
    j.close_array();
}

fn flow_endpoints(j: &mut Json<'_>, src: IpAddr, sp: u16, dst: IpAddr, dp: u16, proto: u8) {
    j.ip("src_ip", src).ip("dest_ip", dst);
    if matches!(proto, 6 | 17 | 132) {
        j.u64("src_port", u64::from(sp))
            .u64("dest_port", u64::from(dp));
    }
}
