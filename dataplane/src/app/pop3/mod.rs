//! POP3 (RFC 1939, with CAPA from RFC 2449, AUTH from RFC 5034 and STLS from RFC 2595).
//!
//! ```text
//! server: +OK POP3 ready            client: USER alice
//! server: +OK                       client: LIST
//! server: +OK 2 messages / 1 120 / 2 200 / .      (a multi-line response, dot-stuffed)
//! ```
//!
//! Each command and its response is a transaction, the server's greeting one without a
//! command, as Suricata 8 models them; responses answer commands in order (pipelining). A
//! `+OK` to `CAPA`, `LIST`/`UIDL` without argument, `RETR` or `TOP` is followed by data lines
//! up to a lone `.`. During `AUTH`, after a `+ ` continuation the client's lines are SASL data
//! (`<SASL DATA>`). After `+OK` to `STLS` the flow is TLS ([`Pop3State::tls_accepted`]).
//!
//! Bounds: lines are cut at [`line::MAX_LINE`](super::smtp::line::MAX_LINE) bytes; at most
//! [`MAX_TXS`] transactions are kept, [`MAX_ARGS`] arguments per command and
//! [`MAX_DATA_LINES`] / [`MAX_DATA_BYTES`] of a response's data (more is counted in
//! `app_layer.error.pop3.limit` and not kept).

pub mod eve;

use std::collections::VecDeque;

use super::mime::{MimeLimits, MimeParser, MimeSink};
use super::smtp::line::LineReader;
use super::{AppConfig, AppCounters, AppEvent, Direction, EventSet, Progress};
use crate::files::{FileCounters, FileLimits, FileSet, FileState};
use crate::time::Timestamp;

/// Transactions kept per flow.
pub const MAX_TXS: usize = 16;
/// Arguments kept per command.
pub const MAX_ARGS: usize = 8;
/// Data lines kept per response.
pub const MAX_DATA_LINES: usize = 4096;
/// Data bytes kept per response.
pub const MAX_DATA_BYTES: usize = 256 * 1024;

/// A response's status indicator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Status {
    /// `+OK`, or a `+` continuation during AUTH.
    #[default]
    Ok,
    /// `-ERR`.
    Err,
}

/// One command and its response.
#[derive(Debug, Default)]
pub struct Pop3Tx {
    /// Transaction id within the flow.
    pub id: u64,
    /// A command was sent (the greeting has none).
    pub has_request: bool,
    /// The command keyword, upper case (`<SASL DATA>` for SASL lines).
    pub command: Vec<u8>,
    args: Vec<Vec<u8>>,
    nargs: usize,
    /// A response (its status line) arrived.
    pub has_response: bool,
    /// Its status.
    pub status: Status,
    /// The status line's text after the indicator.
    pub header: Vec<u8>,
    data: Vec<Vec<u8>>,
    ndata: usize,
    data_bytes: usize,
    /// The response is complete (its status line, or its data's `.`).
    pub complete: bool,
    /// Not yet inspected.
    pub changed: bool,
    /// Its EVE record was taken.
    pub logged: bool,
}

impl Pop3Tx {
    fn reset(&mut self, id: u64) {
        self.id = id;
        self.has_request = false;
        self.command.clear();
        self.nargs = 0;
        self.has_response = false;
        self.status = Status::Ok;
        self.header.clear();
        self.ndata = 0;
        self.data_bytes = 0;
        self.complete = false;
        self.changed = true;
        self.logged = false;
    }

    /// The command's arguments.
    pub fn args(&self) -> impl Iterator<Item = &[u8]> {
        self.args[..self.nargs].iter().map(Vec::as_slice)
    }

    /// The response's data lines.
    pub fn data(&self) -> impl Iterator<Item = &[u8]> {
        self.data[..self.ndata].iter().map(Vec::as_slice)
    }

    fn push(list: &mut Vec<Vec<u8>>, n: &mut usize, v: &[u8]) {
        if list.len() == *n {
            list.push(Vec::new());
        }
        list[*n].clear();
        list[*n].extend_from_slice(v);
        *n += 1;
    }

    /// The response to this command has data lines when it succeeds.
    fn multiline(&self) -> bool {
        match self.command.as_slice() {
            b"CAPA" | b"RETR" | b"TOP" => true,
            b"LIST" | b"UIDL" => self.nargs == 0,
            _ => false,
        }
    }
}

/// The POP3 state of one flow.
#[derive(Debug, Default)]
pub struct Pop3State {
    lines: [LineReader; 2],
    txs: VecDeque<Pop3Tx>,
    pool: Vec<Pop3Tx>,
    next_id: u64,
    /// Reading the data lines of the oldest unanswered transaction's response.
    in_data: bool,
    /// The server asked for SASL data (`+ ` to AUTH).
    sasl: bool,
    tls: bool,
    ended: [bool; 2],
    /// The data being read is a message (`RETR`, `TOP`): it goes through MIME.
    message: bool,
    mime: MimeParser,
    files: FileSet,
    file_limits: FileLimits,
}

/// Attachments of retrieved messages into the flow's files (server → client).
struct Sink<'a> {
    files: &'a mut FileSet,
    limits: &'a FileLimits,
    ctr: &'a mut FileCounters,
    tx_id: u64,
    events: &'a mut EventSet,
}

impl MimeSink for Sink<'_> {
    fn file_open(&mut self, name: &[u8]) {
        self.files.open(name, self.tx_id, self.limits, self.ctr);
    }
    fn file_data(&mut self, data: &[u8]) {
        self.files.append(data, self.ctr);
    }
    fn file_close(&mut self, complete: bool) {
        let state = if complete {
            FileState::Closed
        } else {
            FileState::Truncated
        };
        self.files.close(state, self.ctr);
    }
    fn event(&mut self, e: AppEvent) {
        self.events.push(e);
    }
}

impl Pop3State {
    /// A state for a new flow.
    pub fn new(cfg: &AppConfig) -> Pop3State {
        Pop3State {
            files: FileSet::new(cfg.eve_logging),
            file_limits: cfg.files,
            mime: MimeParser::new(MimeLimits {
                max_name: cfg.files.max_name,
                ..MimeLimits::default()
            }),
            ..Pop3State::default()
        }
    }

    /// Attachments of retrieved messages (server → client).
    pub fn files(&self) -> &FileSet {
        &self.files
    }

    /// The next attachment whose `fileinfo` record is due.
    pub(crate) fn next_unlogged_file(&mut self) -> Option<u64> {
        self.files.next_unlogged()
    }

    /// The server accepted `STLS`: what follows is TLS.
    pub fn tls_accepted(&self) -> bool {
        self.tls
    }

    /// Transactions kept, oldest first.
    pub fn txs(&self) -> impl Iterator<Item = &Pop3Tx> {
        self.txs.iter()
    }

    /// Transactions, for the detection stage to clear `changed`.
    pub fn txs_mut(&mut self) -> impl Iterator<Item = &mut Pop3Tx> {
        self.txs.iter_mut()
    }

    /// The transaction `id`, if kept.
    pub fn tx(&self, id: u64) -> Option<&Pop3Tx> {
        self.txs.iter().find(|t| t.id == id)
    }

    /// The oldest transaction due for its record, marked logged.
    pub(crate) fn next_unlogged(&mut self, at_end: bool) -> Option<u64> {
        let t = self
            .txs
            .iter_mut()
            .find(|t| !t.logged && (at_end || t.complete))?;
        t.logged = true;
        Some(t.id)
    }

    /// Stream bytes of one direction.
    pub fn parse(
        &mut self,
        dir: Direction,
        data: &[u8],
        _now: Timestamp,
        events: &mut EventSet,
        ctr: &mut AppCounters,
    ) -> Progress {
        let mut pos = 0;
        while pos < data.len() && !self.tls {
            let d = dir.index();
            let mut lines = std::mem::take(&mut self.lines[d]);
            if let Some(l) = lines.next(data, &mut pos) {
                if l.truncated {
                    ctr.pop3_limit += 1;
                }
                match dir {
                    Direction::ToServer => self.request(l.bytes, ctr),
                    Direction::ToClient => {
                        let line = l.bytes;
                        if self.in_data {
                            self.data_line(line, events, ctr);
                        } else {
                            self.response(line, events, ctr);
                        }
                    }
                }
            }
            self.lines[d] = lines;
        }
        Progress::Done
    }

    fn new_tx(&mut self, ctr: &mut AppCounters) -> &mut Pop3Tx {
        if self.txs.len() == MAX_TXS {
            if let Some(old) = self.txs.pop_front() {
                if !old.logged {
                    ctr.eve_unlogged += 1;
                }
                self.pool.push(old);
            }
        }
        let mut t = self.pool.pop().unwrap_or_default();
        t.reset(self.next_id);
        self.next_id += 1;
        ctr.tx_pop3 += 1;
        self.txs.push_back(t);
        self.txs.back_mut().expect("just pushed")
    }

    fn request(&mut self, line: &[u8], ctr: &mut AppCounters) {
        let sasl = std::mem::take(&mut self.sasl);
        let t = self.new_tx(ctr);
        t.has_request = true;
        if sasl {
            t.command.extend_from_slice(b"<SASL DATA>");
            return;
        }
        let mut words = line.split(|&c| c == b' ').filter(|w| !w.is_empty());
        if let Some(cmd) = words.next() {
            t.command.extend(cmd.iter().map(u8::to_ascii_uppercase));
        }
        for w in words {
            if t.nargs == MAX_ARGS {
                ctr.pop3_limit += 1;
                break;
            }
            Pop3Tx::push(&mut t.args, &mut t.nargs, w);
        }
    }

    /// The transaction a response line belongs to: the oldest without a complete response,
    /// or a new one (the greeting, or a reply nobody asked for).
    fn answering(&mut self, ctr: &mut AppCounters) -> &mut Pop3Tx {
        match self.txs.iter().position(|t| !t.complete) {
            Some(i) => &mut self.txs[i],
            None => self.new_tx(ctr),
        }
    }

    fn response(&mut self, line: &[u8], events: &mut EventSet, ctr: &mut AppCounters) {
        let (status, rest) = if let Some(r) = line.strip_prefix(b"+OK") {
            (Status::Ok, r)
        } else if let Some(r) = line.strip_prefix(b"-ERR") {
            (Status::Err, r)
        } else if let Some(r) = line.strip_prefix(b"+") {
            // A SASL continuation: the client's next line is SASL data.
            self.sasl = true;
            (Status::Ok, r)
        } else {
            events.push(AppEvent::Pop3InvalidResponse);
            ctr.error_pop3 += 1;
            return;
        };
        // Responses answer commands in order; one that answers nothing (the greeting) is a
        // transaction of its own. A capture that starts after the greeting still pairs up.
        let t = self.answering(ctr);
        t.has_response = true;
        t.changed = true;
        t.status = status;
        t.header.clear();
        t.header
            .extend_from_slice(rest.strip_prefix(b" ").unwrap_or(rest));
        let data = status == Status::Ok && t.multiline();
        let stls = status == Status::Ok && t.command == b"STLS";
        let message = matches!(t.command.as_slice(), b"RETR" | b"TOP");
        if !data {
            t.complete = true;
        }
        if data {
            self.in_data = true;
            self.message = message;
            if message {
                self.mime.start();
            }
        }
        if stls {
            self.tls = true;
        }
    }

    fn data_line(&mut self, line: &[u8], events: &mut EventSet, ctr: &mut AppCounters) {
        let Some(t) = self.txs.iter_mut().find(|t| !t.complete) else {
            self.in_data = false;
            return;
        };
        t.changed = true;
        let mut sink = Sink {
            files: &mut self.files,
            limits: &self.file_limits,
            ctr: &mut ctr.files,
            tx_id: t.id,
            events,
        };
        if line == b"." {
            t.complete = true;
            self.in_data = false;
            if std::mem::take(&mut self.message) {
                self.mime.end(&mut sink);
            }
            return;
        }
        // RFC 1939 §3: a leading dot of a data line was doubled.
        let line = line.strip_prefix(b".").unwrap_or(line);
        if self.message {
            self.mime.line(line, &mut sink);
        }
        if t.ndata == MAX_DATA_LINES || t.data_bytes + line.len() > MAX_DATA_BYTES {
            ctr.pop3_limit += 1;
            return;
        }
        t.data_bytes += line.len();
        Pop3Tx::push(&mut t.data, &mut t.ndata, line);
    }

    /// Reassembly skipped bytes of `dir`: the line is lost, data of a response ends.
    pub fn gap(&mut self, dir: Direction, events: &mut EventSet, ctr: &mut AppCounters) {
        self.lines[dir.index()].reset(true);
        if dir == Direction::ToClient && self.in_data {
            self.in_data = false;
            self.abort_message(events, ctr);
            if let Some(t) = self.txs.iter_mut().find(|t| !t.complete) {
                t.complete = true;
            }
        }
    }

    /// `dir` closed; once both did, every transaction is complete.
    pub fn end(&mut self, dir: Direction, events: &mut EventSet, ctr: &mut AppCounters) {
        if dir == Direction::ToClient {
            self.abort_message(events, ctr);
        }
        self.ended[dir.index()] = true;
        if self.ended == [true, true] {
            for t in self.txs.iter_mut().filter(|t| !t.complete) {
                t.complete = true;
                t.changed = true;
            }
        }
    }
}

impl Pop3State {
    /// A message being retrieved was cut off: its open attachment ends truncated.
    fn abort_message(&mut self, events: &mut EventSet, ctr: &mut AppCounters) {
        if !std::mem::take(&mut self.message) {
            return;
        }
        let mut sink = Sink {
            files: &mut self.files,
            limits: &self.file_limits,
            ctr: &mut ctr.files,
            tx_id: 0,
            events,
        };
        self.mime.abort(&mut sink);
    }
}

#[cfg(test)]
mod tests;
