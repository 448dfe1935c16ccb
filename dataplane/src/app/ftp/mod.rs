//! FTP (RFC 959, RFC 2428): the control channel's commands and replies as transactions, and
//! the data channels they announce.
//!
//! - [`parser`]: line framing (bounded, resumable after gaps), the command table, PORT/EPRT
//!   arguments and PASV/EPSV replies.
//! - [`FtpState`]: one transaction per command, its reply lines attached (multi-line replies
//!   and preliminary `1xx` replies keep it open); a reply with no command waiting (the
//!   server's banner) makes a transaction of its own, as in Suricata.
//! - [`expect`]: the worker's bounded table of announced data connections, filled from
//!   [`FtpState::take_expectation`] and consulted when a TCP flow starts.
//! - [`data`]: an `ftp-data` flow's state: the command that opened it, its file.
//! - [`eve`]: the `ftp` and `ftp_data` EVE objects.
//!
//! Caps: lines are cut at [`crate::app::AppConfig::ftp_max_line`] bytes
//! (`ftp.request_command_too_long` / `ftp.response_command_too_long`), at most
//! [`crate::app::AppConfig::ftp_max_txs`] transactions are kept per flow and
//! [`MAX_REPLY_LINES`] reply lines per transaction (both counted as `ftp.limit`).

pub mod data;
pub mod eve;
pub mod expect;
pub mod parser;

use std::collections::VecDeque;
use std::net::IpAddr;

use super::{AppConfig, AppCounters, AppEvent, Direction, EventSet, Progress};
use parser::{Command, LineReader};

/// Reply lines kept per transaction; more set `reply_truncated` and count `ftp.limit`.
pub const MAX_REPLY_LINES: usize = 64;

/// One command and its reply.
#[derive(Debug, Default)]
pub struct FtpTx {
    /// Transaction id within the flow (EVE `tx_id`).
    pub id: u64,
    /// The command, if the request named a known one (`None`: a reply without a command, or
    /// an unknown command).
    pub command: Option<Command>,
    /// A request line was seen (an unknown command too).
    pub has_request: bool,
    request: Vec<u8>,
    /// The request line was cut at the cap.
    pub request_truncated: bool,
    reply: Vec<u8>,
    /// (start, end) of each reply line in `reply`.
    lines: Vec<(u32, u32)>,
    /// A reply line was cut at the cap, or lines past [`MAX_REPLY_LINES`] were dropped.
    pub reply_truncated: bool,
    /// Data port announced by PORT/EPRT (active) or a 227/229 reply (passive); 0 if none.
    pub dyn_port: u16,
    /// `dyn_port` came from PORT/EPRT.
    pub active: bool,
    /// The address a PORT/EPRT command named.
    pub port_addr: Option<IpAddr>,
    /// The final reply arrived (`reply_received`).
    pub done: bool,
    /// Code of an open multi-line reply.
    multi: Option<[u8; 3]>,
    /// Anomalies of this transaction (Suricata keeps app-layer events per transaction).
    events: [Option<AppEvent>; 3],
    /// Buffers of the direction changed since they were inspected (by [`Direction::index`]).
    pub changed: [bool; 2],
    logged: bool,
}

impl FtpTx {
    /// The request line as received (up to the cap).
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// The command's argument: the request after the command word and one space.
    pub fn command_data(&self) -> &[u8] {
        let n = self.command.map_or(0, |c| c.name().len()) + 1;
        self.request.get(n..).unwrap_or(&[])
    }

    /// Every reply line, codes included.
    pub fn reply_lines(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.lines
            .iter()
            .map(|&(s, e)| &self.reply[s as usize..e as usize])
    }

    /// The `i`-th reply line split into its completion code (if it starts with 3 digits) and
    /// its text after the code and one separator.
    pub fn reply(&self, i: usize) -> Option<(Option<&[u8]>, &[u8])> {
        let line = self.reply_lines().nth(i)?;
        Some(split_code(line))
    }

    /// Reply lines kept.
    pub fn reply_count(&self) -> usize {
        self.lines.len()
    }

    /// True when `e` happened on this transaction.
    pub fn has_event(&self, e: AppEvent) -> bool {
        self.events.contains(&Some(e))
    }

    fn event(&mut self, e: AppEvent, flow: &mut EventSet) {
        flow.push(e);
        if let Some(slot) = self
            .events
            .iter_mut()
            .find(|s| s.is_none() || **s == Some(e))
        {
            *slot = Some(e);
        }
    }

    fn reset(&mut self, id: u64) {
        let (mut request, mut reply, mut lines) = (
            std::mem::take(&mut self.request),
            std::mem::take(&mut self.reply),
            std::mem::take(&mut self.lines),
        );
        request.clear();
        reply.clear();
        lines.clear();
        *self = FtpTx {
            id,
            request,
            reply,
            lines,
            ..FtpTx::default()
        };
    }
}

/// A reply line's completion code and text, as Suricata splits them for EVE and the rule
/// buffers: a line starting with three digits has them as its code and the text from the
/// fifth byte on.
pub fn split_code(line: &[u8]) -> (Option<&[u8]>, &[u8]) {
    if line.len() >= 3 && line[..3].iter().all(u8::is_ascii_digit) {
        (Some(&line[..3]), line.get(4..).unwrap_or(&[]))
    } else {
        (None, line)
    }
}

/// A data connection a transaction announced: the port, the side that will connect, and
/// the command that will use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Announced {
    /// The port the data connection goes to.
    pub port: u16,
    /// PORT/EPRT: the server connects to the client.
    pub active: bool,
}

/// The control channel of one flow.
#[derive(Debug, Default)]
pub struct FtpState {
    readers: [LineReader; 2],
    txs: VecDeque<FtpTx>,
    spare: Vec<FtpTx>,
    next_id: u64,
    /// The data port of the last PORT/EPRT/PASV/EPSV, consumed by the next RETR/STOR/LIST...
    announced: Option<Announced>,
    /// A transfer command claimed the announced port: for the flow layer to take.
    expectation: Option<expect::Pending>,
    /// The client's address (for `ftpbounce`), when the flow layer gave it.
    client: Option<IpAddr>,
    eve_logging: bool,
}

impl FtpState {
    /// A control channel whose client is `client` (PORT commands naming another host are
    /// FTP bounces).
    pub fn new(cfg: &AppConfig, client: Option<IpAddr>) -> FtpState {
        FtpState {
            client,
            eve_logging: cfg.eve_logging,
            ..FtpState::default()
        }
    }

    /// Transactions kept, oldest first.
    pub fn txs(&self) -> impl Iterator<Item = &FtpTx> {
        self.txs.iter()
    }

    /// Transactions kept, for the detection stage to clear their change flags.
    pub fn txs_mut(&mut self) -> impl Iterator<Item = &mut FtpTx> {
        self.txs.iter_mut()
    }

    /// Transaction `id`, if still kept.
    pub fn tx(&self, id: u64) -> Option<&FtpTx> {
        self.txs.iter().find(|t| t.id == id)
    }

    /// The client's address, when known (a PORT/EPRT naming another host is a bounce).
    pub fn client(&self) -> Option<IpAddr> {
        self.client
    }

    /// The next transaction whose EVE record is due (a complete one; at flow end any), marked
    /// logged.
    pub fn next_unlogged(&mut self, at_end: bool) -> Option<u64> {
        let t = self
            .txs
            .iter_mut()
            .find(|t| !t.logged && (t.done || at_end))?;
        t.logged = true;
        Some(t.id)
    }

    /// A data connection announced and claimed by a transfer command since the last call.
    pub fn take_expectation(&mut self) -> Option<expect::Pending> {
        self.expectation.take()
    }

    /// Reassembly skipped bytes of `dir`: the partial line is dropped, parsing resumes at the
    /// next line end.
    pub fn gap(&mut self, dir: Direction) {
        self.readers[dir.index()].gap();
    }

    /// In-order bytes of one direction.
    pub fn parse(
        &mut self,
        cfg: &AppConfig,
        dir: Direction,
        data: &[u8],
        events: &mut EventSet,
        ctr: &mut AppCounters,
    ) -> Progress {
        let mut reader = std::mem::take(&mut self.readers[dir.index()]);
        let before = ctr.tx_ftp;
        reader.feed(data, cfg.ftp_max_line, |line, truncated| {
            if truncated {
                ctr.ftp_limit += 1;
            }
            match dir {
                Direction::ToServer => self.on_request(cfg, line, truncated, events, ctr),
                Direction::ToClient => self.on_reply(cfg, line, truncated, events, ctr),
            }
        });
        self.readers[dir.index()] = reader;
        if ctr.tx_ftp > before {
            Progress::Done
        } else {
            Progress::NeedMore
        }
    }

    fn new_tx(&mut self, cfg: &AppConfig, ctr: &mut AppCounters) -> &mut FtpTx {
        self.retire();
        if self.txs.len() >= cfg.ftp_max_txs.max(1) {
            if let Some(old) = self.txs.pop_front() {
                ctr.ftp_limit += 1;
                if self.eve_logging && !old.logged {
                    ctr.eve_unlogged += 1;
                }
                self.spare.push(old);
            }
        }
        let mut t = self.spare.pop().unwrap_or_default();
        t.reset(self.next_id);
        self.next_id += 1;
        ctr.tx_ftp += 1;
        self.txs.push_back(t);
        self.txs.back_mut().expect("just pushed")
    }

    /// Drops complete transactions at the front that were inspected (and logged, when
    /// records are written).
    fn retire(&mut self) {
        while let Some(t) = self.txs.front() {
            let kept = !t.done || t.changed.iter().any(|&c| c) || (self.eve_logging && !t.logged);
            if kept {
                break;
            }
            let t = self.txs.pop_front().expect("front exists");
            self.spare.push(t);
        }
    }

    fn on_request(
        &mut self,
        cfg: &AppConfig,
        line: &[u8],
        truncated: bool,
        events: &mut EventSet,
        ctr: &mut AppCounters,
    ) {
        let req = parser::request(line);
        let command = Command::lookup(req.word);
        if command.is_none() {
            ctr.ftp_unknown_command += 1;
        }
        let client = self.client;
        let announced = self.announced;
        let tx = self.new_tx(cfg, ctr);
        tx.command = command;
        tx.has_request = true;
        tx.request.extend_from_slice(line);
        tx.request_truncated = truncated;
        if truncated {
            tx.event(AppEvent::FtpRequestCommandTooLong, events);
        }
        tx.changed[Direction::ToServer.index()] = true;
        let arg = req.arg.trim_ascii();
        let port = match command {
            Some(Command::Port) => parser::host_port(arg),
            Some(Command::Eprt) => parser::eprt(arg),
            _ => None,
        };
        if let Some((addr, _)) = port {
            tx.port_addr = Some(addr);
            if client.is_some_and(|c| c != addr) {
                ctr.ftp_bounce += 1;
                tx.event(AppEvent::FtpBounce, events);
            }
        }
        let name = match command {
            Some(c) if c.transfers_file() => tx.command_data().trim_ascii(),
            _ => &[],
        };
        match (command, port) {
            (Some(_), Some((_, p))) => {
                self.announced = Some(Announced {
                    port: p,
                    active: true,
                })
            }
            (Some(c), None) if c.opens_data() => {
                let p = announced.map(|a| expect::Pending::new(a.port, c, name));
                self.expectation = p.or(self.expectation);
            }
            _ => {}
        }
    }

    fn on_reply(
        &mut self,
        cfg: &AppConfig,
        line: &[u8],
        truncated: bool,
        events: &mut EventSet,
        ctr: &mut AppCounters,
    ) {
        let code = parser::reply_code(line);
        let i = match self.txs.iter().position(|t| !t.done) {
            Some(i) => i,
            None => {
                ctr.ftp_reply_without_command += 1;
                self.new_tx(cfg, ctr);
                self.txs.len() - 1
            }
        };
        let tx = &mut self.txs[i];
        tx.changed[Direction::ToClient.index()] = true;
        if tx.lines.len() < MAX_REPLY_LINES {
            let s = tx.reply.len() as u32;
            tx.reply.extend_from_slice(line);
            tx.lines.push((s, tx.reply.len() as u32));
        } else {
            ctr.ftp_limit += 1;
            tx.reply_truncated = true;
        }
        tx.reply_truncated |= truncated;
        if truncated {
            tx.event(AppEvent::FtpResponseCommandTooLong, events);
        }
        // RFC 959 §4.2: a multi-line reply ends with a line of the same code and a space.
        let last = match (tx.multi, code) {
            (Some(open), Some((c, false))) if open == c => true,
            (Some(_), _) => false,
            (None, Some((c, true))) => {
                tx.multi = Some(c);
                false
            }
            _ => true,
        };
        if !last {
            return;
        }
        tx.multi = None;
        let (c, text) = split_code(line);
        let announced = match (tx.command, c) {
            (Some(Command::Port | Command::Eprt), _) => {
                // The port the command named (active mode).
                let arg = parser::request(&tx.request).arg.trim_ascii();
                let p = match tx.command {
                    Some(Command::Port) => parser::host_port(arg),
                    _ => parser::eprt(arg),
                };
                p.map(|(_, port)| Announced { port, active: true })
            }
            (Some(Command::Pasv), Some(b"227")) => parser::pasv_reply(text).map(|port| Announced {
                port,
                active: false,
            }),
            (Some(Command::Epsv), Some(b"229")) => parser::epsv_reply(text).map(|port| Announced {
                port,
                active: false,
            }),
            _ => None,
        };
        if let Some(a) = announced {
            tx.dyn_port = a.port;
            tx.active = a.active;
            self.announced = Some(a);
        }
        // A preliminary reply (1yz) keeps the transaction open for its final reply.
        tx.done = !matches!(c, Some([b'1', ..]));
        if tx.done {
            // Both sides' keywords that wait for the reply are due again.
            tx.changed = [true; 2];
        }
    }
}

#[cfg(test)]
mod tests;
