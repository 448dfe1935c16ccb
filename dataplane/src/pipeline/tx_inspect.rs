//! Transaction inspection: the app-layer transactions whose buffers changed are inspected
//! (once per direction and change), then marked inspected.

use crate::app;
use crate::decode::Packet;
use crate::detect::{Detector, FlowDetectState, PacketView, TxAlerts};
use crate::flow;
use crate::time::Timestamp;

use super::alerts::{alert_context, Pending};
use super::flow_state::AppSlot;
use super::tx_buffers::{HeaderLines, TxBuffers, TxRef};
use super::views::turned;
use super::{rules_app_proto, seq_space};

/// Scratch and settings of transaction inspection.
#[derive(Debug, Default)]
pub(super) struct TxInspect {
    pub(super) lines: HeaderLines,
    /// Some rule reads per-line HTTP header buffers.
    pub(super) want_lines: bool,
    /// Optional EVE content: like Suricata, JA3 fingerprints are computed and logged only
    /// when a loaded rule uses them.
    pub(super) eve_opts: crate::app::eve::EveOptions,
}

/// Transaction key space: HTTP transactions by id, DNS messages, the TLS handshake and
/// WebSocket frames never collide.
const TX_DNS: u64 = 1 << 62;
const TX_TLS: u64 = 1 << 63;
const TX_WS: u64 = 1 << 61;

/// Inspects the transactions of one flow whose buffers changed, then marks them inspected.
/// `pkt` is the packet being processed (direction `pkt_dir`), or a pseudo packet oriented
/// client → server at flow end (`flush`: incomplete transactions are inspected too).
#[allow(clippy::too_many_arguments)]
pub(super) fn inspect_txs(
    det: &mut Detector,
    txi: &mut TxInspect,
    slot: &mut AppSlot,
    pkt: &Packet<'_>,
    pkt_dir: flow::Direction,
    flow_id: u64,
    established: bool,
    pcap_cnt: u64,
    now: Timestamp,
    flush: bool,
    pending: &mut Pending,
) {
    use crate::app::http::change;
    let AppSlot {
        app,
        detect,
        tx_alerts,
        bytes,
        ..
    } = slot;
    let stream_bytes = seq_space(bytes);
    let Some(app) = app.as_mut() else {
        return;
    };
    let proto = app.proto();
    let app_proto = rules_app_proto(proto);
    let app_name = Some(proto.name());
    // A copy (small, fixed size): the transactions below borrow the app state mutably.
    let app_events = app.events.clone();
    // One inspection of `tx` in direction `d`.
    let mut run = |det: &mut Detector,
                   detect: &mut FlowDetectState,
                   tx_alerts: &mut TxAlerts,
                   lines: &HeaderLines,
                   tx: TxRef<'_>,
                   key: u64,
                   d: app::Direction| {
        let same = (d == app::Direction::ToServer) == (pkt_dir == flow::Direction::ToServer);
        // Only a transaction of the other direction needs the packet turned around.
        let turned_pkt;
        let p = if same {
            pkt
        } else {
            turned_pkt = turned(pkt);
            &turned_pkt
        };
        let view = PacketView {
            pkt: p,
            dir: Some(match d {
                app::Direction::ToServer => rules::ir::FlowDir::ToServer,
                app::Direction::ToClient => rules::ir::FlowDir::ToClient,
            }),
            established,
            app_proto,
            flow_id,
            stream_active: false,
            stream_bytes,
            proto_detected: false,
        };
        let src = TxBuffers {
            tx,
            dir: d,
            lines,
            payload: p.payload,
            events: &app_events,
        };
        let mut ctx = alert_context(p, flow_id, pcap_cnt, app_name);
        ctx.tx_id = Some(match tx {
            TxRef::Http(t) => t.id,
            TxRef::Dns(t) => t.tx_id,
            TxRef::Tls(_) => 0,
            TxRef::WebSocket(f) => f.id,
        });
        det.inspect_buffers(&view, &src, key, tx_alerts, Some(detect), now, &mut |ev| {
            pending.push((ev, ctx))
        });
    };
    match app.state_mut() {
        app::AppState::Http(s) => {
            const REQ: u32 =
                change::REQUEST_HEADERS | change::REQUEST_BODY | change::REQUEST_COMPLETE;
            const RESP: u32 =
                change::RESPONSE_HEADERS | change::RESPONSE_BODY | change::RESPONSE_COMPLETE;
            // A direction's transaction buffers are inspected on a packet of that direction
            // (or at flow end), as Suricata does: a request handed on by the server's
            // acknowledgement waits for the client's next packet.
            let mut mask = 0;
            if flush || pkt_dir == flow::Direction::ToServer {
                mask |= REQ | change::REQUEST_LINE;
            }
            if flush || pkt_dir == flow::Direction::ToClient {
                mask |= RESP | change::RESPONSE_LINE;
            }
            for tx in s.txs_mut() {
                let ch = tx.changes & mask;
                tx.changes &= !mask;
                if ch == 0 && !flush {
                    continue;
                }
                let tx: &crate::app::http::HttpTx = tx;
                let req = ch & REQ != 0 || (flush && ch & change::REQUEST_LINE != 0);
                let resp = ch & RESP != 0 || (flush && ch & change::RESPONSE_LINE != 0);
                if !(req || resp) {
                    continue;
                }
                if txi.want_lines {
                    txi.lines.fill(tx);
                } else {
                    txi.lines.clear();
                }
                if req {
                    run(
                        det,
                        detect,
                        tx_alerts,
                        &txi.lines,
                        TxRef::Http(tx),
                        tx.id,
                        app::Direction::ToServer,
                    );
                }
                if resp {
                    run(
                        det,
                        detect,
                        tx_alerts,
                        &txi.lines,
                        TxRef::Http(tx),
                        tx.id,
                        app::Direction::ToClient,
                    );
                }
            }
            if s.upgraded_to_websocket() {
                for d in [app::Direction::ToServer, app::Direction::ToClient] {
                    if !flush
                        && (d == app::Direction::ToServer) != (pkt_dir == flow::Direction::ToServer)
                    {
                        continue;
                    }
                    for f in s.websocket_mut(d).frames_mut() {
                        if !std::mem::take(&mut f.changed) {
                            continue;
                        }
                        let f: &crate::app::websocket::WsFrame = f;
                        let key = TX_WS | (f.id << 1) | u64::from(d == app::Direction::ToClient);
                        run(
                            det,
                            detect,
                            tx_alerts,
                            &txi.lines,
                            TxRef::WebSocket(f),
                            key,
                            d,
                        );
                    }
                }
            }
            s.retire_inspected();
        }
        app::AppState::Dns(s) => {
            for tx in s.txs_mut() {
                if !std::mem::take(&mut tx.changed) {
                    continue;
                }
                let tx: &crate::app::dns::DnsTx = tx;
                let d = tx.dir.unwrap_or(match pkt_dir {
                    flow::Direction::ToServer => app::Direction::ToServer,
                    flow::Direction::ToClient => app::Direction::ToClient,
                });
                run(
                    det,
                    detect,
                    tx_alerts,
                    &txi.lines,
                    TxRef::Dns(tx),
                    // A query and its response form one transaction, as in Suricata: keyed
                    // by the DNS id, so a rule alerts once for the pair.
                    TX_DNS | u64::from(tx.id),
                    d,
                );
            }
        }
        app::AppState::Tls(s) => {
            if std::mem::take(&mut s.info.changed) {
                // The handshake carries buffers of both sides: each side's rules see it in
                // their direction; every rule still alerts once per flow.
                for d in [app::Direction::ToServer, app::Direction::ToClient] {
                    run(
                        det,
                        detect,
                        tx_alerts,
                        &txi.lines,
                        TxRef::Tls(&s.info),
                        TX_TLS,
                        d,
                    );
                }
            }
        }
        app::AppState::None => {}
    }
}
