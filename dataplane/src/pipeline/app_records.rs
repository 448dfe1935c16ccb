//! EVE records of app-layer transactions (`http`, `dns`, `tls`, `websocket`), written once each
//! transaction is due.

use super::context::At;
use super::flow_state::AppSlot;
use super::sink::EventSink;

/// Writes the EVE records of a flow's transactions that are due (all unlogged ones at the
/// flow's end), in the flow's client → server orientation.
pub(super) fn log_app_records<E: EventSink>(
    buf: &mut Vec<u8>,
    events: &mut E,
    slot: &mut AppSlot,
    at: At,
    at_end: bool,
    opts: &crate::app::eve::EveOptions,
) {
    let t = slot.tuple;
    let Some(app) = slot.app.as_mut() else {
        return;
    };
    let env = crate::eve::Envelope {
        ts: at.now,
        flow_id: at.flow_id,
        pcap_cnt: at.pcap_cnt,
        event_type: "",
        src: t.src,
        src_port: t.src_port,
        dst: t.dst,
        dst_port: t.dst_port,
        proto: t.proto,
        vlan: crate::eve::zone_vlans(t.zone),
        icmp: None,
    };
    loop {
        let next = if at_end {
            app.next_record_at_end()
        } else {
            app.next_record()
        };
        let Some(r) = next else { break };
        buf.clear();
        if crate::app::eve::write_app_record(buf, &env, app, r, opts) {
            events.eve_line(r.event_type(), buf);
        }
    }
}
