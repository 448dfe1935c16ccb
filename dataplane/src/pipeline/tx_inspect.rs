//! Transaction inspection: the app-layer transactions whose buffers changed are inspected
//! (once per direction and change), then marked inspected.

use crate::app::{self, http};
use crate::decode::Packet;
use crate::detect::{FlowDetectState, PacketView, TxAlerts};
use crate::flow;
use vocab::AlertRecord;

use super::alerts::{collect, packet_side};
use super::context::{rules_app_proto, seq_space, At, Detection};
use super::flow_state::AppSlot;
use super::tx_buffers::{HeaderLines, TxBuffers, TxRef};
use super::views::turned;

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

/// One pass over a flow's transactions.
#[derive(Clone, Copy, Debug)]
pub(super) struct TxPass {
    /// Direction of the packet being processed (client → server for a flow-end pseudo packet).
    pub(super) dir: flow::Direction,
    /// The flow counts as established for the transactions' rules.
    pub(super) established: bool,
    /// The flow ended: incomplete transactions are inspected too, in both directions.
    pub(super) flush: bool,
}

impl TxPass {
    /// True when transactions of direction `d` are inspected in this pass: on a packet of
    /// that direction, or at flow end.
    fn covers(&self, d: app::Direction) -> bool {
        self.flush || (d == app::Direction::ToServer) == (self.dir == flow::Direction::ToServer)
    }
}

/// Transaction key space: HTTP transactions by id, DNS messages, the TLS handshake and
/// WebSocket frames never collide.
const TX_DNS: u64 = 1 << 62;
const TX_TLS: u64 = 1 << 63;
const TX_WS: u64 = 1 << 61;
const TX_FTP: u64 = 1 << 60;
const TX_FTP_DATA: u64 = 1 << 59;
const TX_SMTP: u64 = 1 << 58;

/// What every inspection of one flow's transactions in one pass shares.
struct TxRun<'r, 'a, 'p> {
    d: &'r mut Detection<'a>,
    detect: &'r mut FlowDetectState,
    tx_alerts: &'r mut TxAlerts,
    pkt: &'r Packet<'p>,
    at: At,
    pass: TxPass,
    /// The protocol rules see (an upgraded WebSocket flow is HTTP).
    app_proto: Option<vocab::AppProto>,
    /// The flow's own protocol, as its alerts name it.
    app: vocab::AppProto,
    stream_bytes: [u64; 2],
    /// A copy (small, fixed size): the transactions borrow the app state mutably.
    app_events: crate::app::EventSet,
}

impl TxRun<'_, '_, '_> {
    /// One inspection of `tx` in direction `d`, its alerts keyed by `key`.
    fn run(&mut self, lines: &HeaderLines, tx: TxRef<'_>, key: u64, d: app::Direction) {
        self.run_with_files(lines, tx, key, d, None);
    }

    /// [`TxRun::run`] with the files of direction `d` for the file keywords.
    fn run_with_files(
        &mut self,
        lines: &HeaderLines,
        tx: TxRef<'_>,
        key: u64,
        d: app::Direction,
        files: Option<&crate::files::FileSet>,
    ) {
        let same = (d == app::Direction::ToServer) == (self.pass.dir == flow::Direction::ToServer);
        // Only a transaction of the other direction needs the packet turned around.
        let turned_pkt;
        let p = if same {
            self.pkt
        } else {
            turned_pkt = turned(self.pkt);
            &turned_pkt
        };
        let view = PacketView {
            pkt: p,
            dir: Some(d),
            established: self.pass.established,
            app_proto: self.app_proto,
            flow_id: self.at.flow_id,
            stream_active: false,
            stream_bytes: self.stream_bytes,
            proto_detected: false,
        };
        let src = TxBuffers {
            tx,
            dir: d,
            lines,
            payload: p.payload,
            events: &self.app_events,
            files,
        };
        let tx_id = Some(match tx {
            TxRef::Http(t) => t.id,
            TxRef::Dns(t) => t.tx_id,
            TxRef::Tls(_) => 0,
            TxRef::WebSocket(f) => f.id,
            TxRef::Ftp { tx, .. } => tx.id,
            TxRef::FtpData(_) => 0,
            TxRef::Smtp(_, t) => t.id,
        });
        let (at, app) = (self.at, self.app);
        let pending = &mut *self.d.pending;
        self.d.det.inspect_buffers(
            &view,
            &src,
            (key, &mut *self.tx_alerts),
            Some(self.detect),
            self.at.now,
            &mut collect(pending, || AlertRecord {
                tx_id,
                ..packet_side(p, at.flow_id, at.pcap_cnt, app)
            }),
        );
    }

    /// HTTP transactions, then WebSocket frames after an upgrade.
    fn http(&mut self, txi: &mut TxInspect, s: &mut http::HttpState) {
        use http::change;
        const REQ: u32 = change::REQUEST_HEADERS | change::REQUEST_BODY | change::REQUEST_COMPLETE;
        const RESP: u32 =
            change::RESPONSE_HEADERS | change::RESPONSE_BODY | change::RESPONSE_COMPLETE;
        let flush = self.pass.flush;
        // A direction's transaction buffers are inspected on a packet of that direction (or
        // at flow end), as Suricata does: a request handed on by the server's acknowledgement
        // waits for the client's next packet.
        let mut mask = 0;
        if self.pass.covers(app::Direction::ToServer) {
            mask |= REQ | change::REQUEST_LINE;
        }
        if self.pass.covers(app::Direction::ToClient) {
            mask |= RESP | change::RESPONSE_LINE;
        }
        let (txs, files) = s.txs_mut_with_files();
        for tx in txs {
            let ch = tx.changes & mask;
            tx.changes &= !mask;
            if ch == 0 && !flush {
                continue;
            }
            let tx: &http::HttpTx = tx;
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
            for (go, d) in [
                (req, app::Direction::ToServer),
                (resp, app::Direction::ToClient),
            ] {
                if go {
                    let f = Some(&files[d.index()]);
                    self.run_with_files(&txi.lines, TxRef::Http(tx), tx.id, d, f);
                }
            }
        }
        if s.upgraded_to_websocket() {
            for d in [app::Direction::ToServer, app::Direction::ToClient] {
                if !self.pass.covers(d) {
                    continue;
                }
                for f in s.websocket_mut(d).frames_mut() {
                    if !std::mem::take(&mut f.changed) {
                        continue;
                    }
                    let f: &crate::app::websocket::WsFrame = f;
                    let key = TX_WS | (f.id << 1) | u64::from(d == app::Direction::ToClient);
                    self.run(&txi.lines, TxRef::WebSocket(f), key, d);
                }
            }
        }
        s.retire_inspected();
    }

    /// DNS messages.
    fn dns(&mut self, lines: &HeaderLines, s: &mut crate::app::dns::DnsState) {
        for tx in s.txs_mut() {
            if !std::mem::take(&mut tx.changed) {
                continue;
            }
            let tx: &crate::app::dns::DnsTx = tx;
            let d = tx.dir.unwrap_or(match self.pass.dir {
                flow::Direction::ToServer => app::Direction::ToServer,
                flow::Direction::ToClient => app::Direction::ToClient,
            });
            // A query and its response form one transaction, as in Suricata: keyed by the
            // DNS id, so a rule alerts once for the pair.
            self.run(lines, TxRef::Dns(tx), TX_DNS | u64::from(tx.id), d);
        }
    }

    /// FTP commands: each direction's buffers are inspected on a packet of that direction
    /// until the reply completes the transaction (Suricata's FTP progress), each rule
    /// alerting once per transaction and direction.
    fn ftp(&mut self, lines: &HeaderLines, s: &mut crate::app::ftp::FtpState) {
        let client = s.client();
        for tx in s.txs_mut() {
            for d in [app::Direction::ToServer, app::Direction::ToClient] {
                if !self.pass.covers(d) || !std::mem::take(&mut tx.changed[d.index()]) {
                    continue;
                }
                let tx: &crate::app::ftp::FtpTx = tx;
                let bounce = matches!((tx.port_addr, client), (Some(a), Some(c)) if a != c);
                let key = TX_FTP | (tx.id << 1) | u64::from(d == app::Direction::ToClient);
                self.run(lines, TxRef::Ftp { tx, bounce }, key, d);
            }
        }
    }

    /// An FTP data connection: one transaction, inspected in the direction of each packet.
    fn ftp_data(&mut self, lines: &HeaderLines, s: &mut crate::app::ftp::data::FtpDataState) {
        let mut due = [false; 2];
        for d in [app::Direction::ToServer, app::Direction::ToClient] {
            due[d.index()] = self.pass.covers(d) && std::mem::take(&mut s.changed[d.index()]);
        }
        let s: &crate::app::ftp::data::FtpDataState = s;
        for d in [app::Direction::ToServer, app::Direction::ToClient] {
            if due[d.index()] {
                let key = TX_FTP_DATA | u64::from(d == app::Direction::ToClient);
                self.run_with_files(lines, TxRef::FtpData(s), key, d, Some(s.files(d)));
            }
        }
    }

    /// SMTP mails, inspected in the client's direction (every SMTP buffer is the client's).
    fn smtp(&mut self, lines: &HeaderLines, s: &mut crate::app::smtp::SmtpState) {
        if !self.pass.covers(app::Direction::ToServer) {
            return;
        }
        let mut i = 0;
        while let Some(changed) = s.take_changed(i) {
            if changed {
                let s: &crate::app::smtp::SmtpState = s;
                if let Some(tx) = s.txs().nth(i) {
                    let key = TX_SMTP | tx.id;
                    self.run(lines, TxRef::Smtp(s, tx), key, app::Direction::ToServer);
                }
            }
            i += 1;
        }
    }

    /// The TLS handshake.
    fn tls(&mut self, lines: &HeaderLines, s: &mut crate::app::tls::TlsState) {
        if std::mem::take(&mut s.info.changed) {
            // The handshake carries buffers of both sides: each side's rules see it in their
            // direction; every rule still alerts once per flow.
            for d in [app::Direction::ToServer, app::Direction::ToClient] {
                self.run(lines, TxRef::Tls(&s.info), TX_TLS, d);
            }
        }
    }
}

/// Inspects the transactions of one flow whose buffers changed, then marks them inspected.
/// `pkt` is the packet being processed (direction `pass.dir`), or a pseudo packet oriented
/// client → server at flow end (`pass.flush`: incomplete transactions are inspected too).
pub(super) fn inspect_txs(
    d: &mut Detection<'_>,
    txi: &mut TxInspect,
    slot: &mut AppSlot,
    pkt: &Packet<'_>,
    at: At,
    pass: TxPass,
) {
    let AppSlot {
        app,
        detect,
        tx_alerts,
        bytes,
        ..
    } = slot;
    let Some(app) = app.as_mut() else {
        return;
    };
    let proto = app.proto();
    let mut run = TxRun {
        d,
        detect,
        tx_alerts,
        pkt,
        at,
        pass,
        app_proto: rules_app_proto(proto),
        app: proto,
        stream_bytes: seq_space(bytes),
        app_events: app.events.clone(),
    };
    match app.state_mut() {
        app::AppState::Http(s) => run.http(txi, s),
        app::AppState::Dns(s) => run.dns(&txi.lines, s),
        app::AppState::Tls(s) => run.tls(&txi.lines, s),
        app::AppState::Ftp(s) => run.ftp(&txi.lines, s),
        app::AppState::FtpData(s) => run.ftp_data(&txi.lines, s),
        app::AppState::Smtp(s) => run.smtp(&txi.lines, s),
        // POP3 has no rule buffers yet: its transactions are logged, not inspected.
        app::AppState::Pop3(s) => s.txs_mut().for_each(|t| t.changed = false),
        app::AppState::None => {}
    }
}
