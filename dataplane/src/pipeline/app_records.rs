//! EVE records of app-layer transactions (`http`, `dns`, `tls`, `websocket`), written once each
//! transaction is due; the same moment checks the transaction against the indicators (EVE
//! `intel` records).

use super::context::At;
use super::flow_state::AppSlot;
use super::sink::EventSink;

/// Where a flow's due transactions go.
pub(super) struct AppRecords<'a> {
    /// The record is rendered here (reused).
    pub(super) buf: &'a mut Vec<u8>,
    pub(super) opts: &'a crate::app::eve::EveOptions,
    /// The transaction's own record is written (EVE app-layer logging is on).
    pub(super) write: bool,
    pub(super) intel: &'a mut crate::intel::Matcher,
}

/// Writes the EVE records of a flow's transactions that are due (all unlogged ones at the
/// flow's end), in the flow's client → server orientation, each after its intel check.
pub(super) fn log_app_records<E: EventSink>(
    out: AppRecords<'_>,
    events: &mut E,
    slot: &mut AppSlot,
    at: At,
    at_end: bool,
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
    let wants = events.wants_eve();
    loop {
        let next = if at_end {
            app.next_record_at_end()
        } else {
            app.next_record()
        };
        let Some(r) = next else { break };
        if out.intel.is_on() {
            let iat = crate::intel::At {
                tuple: &t,
                flow_id: at.flow_id,
                pcap_cnt: at.pcap_cnt,
                now: at.now,
            };
            out.intel.transaction(iat, app, r, &mut |line: &[u8]| {
                if wants {
                    events.eve_line("intel", line)
                }
            });
        }
        if out.write {
            out.buf.clear();
            if crate::app::eve::write_app_record(out.buf, &env, app, r, out.opts) {
                events.eve_line(r.event_type(), out.buf);
            }
        }
    }
}
