//! SMTP (RFC 5321) with pipelining (RFC 2920), `BDAT` chunks (RFC 3030) and `STARTTLS`
//! (RFC 3207); messages go through the shared [`crate::app::mime`] parser.
//!
//! ```text
//! client: EHLO h / MAIL FROM:<a> / RCPT TO:<b> / DATA / message lines / "." / QUIT
//! server: 220 banner / 250-ext / 250 ok / 354 go ahead / 250 queued / 221 bye
//! ```
//!
//! Both directions are framed into lines ([`line`]). Client lines are commands, or message
//! lines while in `DATA` (dot-unstuffed, ended by a lone `.`) or `BDAT` (counted bytes).
//! Server lines are replies (`NNN-` continues, `NNN ` ends one); each final reply answers
//! the oldest pipelined command. A transaction ([`tx::SmtpTx`]) is one mail: it starts
//! with the first command after the previous mail ended, as Suricata's does. After a `220`
//! answer to `STARTTLS` the flow belongs to TLS ([`SmtpState::tls_accepted`]).
//!
//! Bounds: lines are cut at [`line::MAX_LINE`] (`TRUNCATED_LINE`), at most
//! [`MAX_PENDING_CMDS`] unanswered commands are remembered and [`MAX_TXS`] transactions
//! kept; attachments are tracked through [`crate::files`].

pub mod eve;
pub mod line;
pub mod tx;

use std::collections::VecDeque;

use super::mime::{Email, MimeLimits, MimeParser, MimeSink};
use super::{AppConfig, AppCounters, AppEvent, Direction, EventSet, Progress};
use crate::files::{FileCounters, FileLimits, FileSet, FileState};
use crate::time::Timestamp;
use line::LineReader;
use tx::SmtpTx;

/// Transactions kept per flow; older ones are recycled (counted if never logged).
pub const MAX_TXS: usize = 16;
/// Unanswered commands remembered for reply matching.
pub const MAX_PENDING_CMDS: usize = 64;

/// A command a reply answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    Data,
    Bdat,
    StartTls,
    Other,
}

/// What client lines are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Mode {
    #[default]
    Command,
    /// Message lines up to a lone `.`.
    Data,
    /// `remaining` bytes of a `BDAT` chunk; `last` ends the message.
    Bdat { remaining: u64, last: bool },
}

/// The SMTP state of one flow.
#[derive(Debug, Default)]
pub struct SmtpState {
    lines: [LineReader; 2],
    /// Message lines inside `BDAT` chunks (a line may span chunks; commands come between).
    bdat_lines: LineReader,
    mode: Mode,
    pending: VecDeque<Cmd>,
    greeted: bool,
    /// `EHLO`/`HELO` parameter (the session's, shown in every transaction).
    pub helo: Vec<u8>,
    txs: VecDeque<SmtpTx>,
    pool: Vec<SmtpTx>,
    next_id: u64,
    mime: MimeParser,
    /// The message being received got a body line (a rejected `DATA` before any is undone).
    body_seen: bool,
    files: FileSet,
    file_limits: FileLimits,
    tls: bool,
    /// Directions that ended (both: every transaction is complete).
    ended: [bool; 2],
    /// Transactions recycled before their EVE record was written.
    pub unlogged_recycled: u64,
}

/// Attachments into the flow's files and the transaction's `file.data`.
struct Sink<'a> {
    files: &'a mut FileSet,
    limits: &'a FileLimits,
    ctr: &'a mut FileCounters,
    tx: &'a mut SmtpTx,
    events: &'a mut EventSet,
}

impl MimeSink for Sink<'_> {
    fn file_open(&mut self, name: &[u8]) {
        self.files.open(name, self.tx.id, self.limits, self.ctr);
        self.tx.open_file_data();
        self.tx.changed = true;
    }
    fn file_data(&mut self, data: &[u8]) {
        self.files.append(data, self.ctr);
        self.tx.append_file_data(data);
    }
    fn file_close(&mut self, complete: bool) {
        let state = if complete {
            FileState::Closed
        } else {
            FileState::Truncated
        };
        self.files.close(state, self.ctr);
        self.tx.changed = true;
    }
    fn event(&mut self, e: AppEvent) {
        self.events.push(e);
    }
}

/// `PREFIX[:] param [options]` → `param` (Suricata's `SMTPParseCommandWithParam`: spaces
/// skipped after the prefix and one separator, the value ends at the next space).
fn command_param(line: &[u8], prefix_len: usize) -> &[u8] {
    let rest = line.get(prefix_len + 1..).unwrap_or_default();
    let start = rest.iter().position(|&c| c != b' ').unwrap_or(rest.len());
    let rest = &rest[start..];
    let end = rest.iter().position(|&c| c == b' ').unwrap_or(rest.len());
    &rest[..end]
}

fn starts_nocase(line: &[u8], p: &[u8]) -> bool {
    line.len() >= p.len() && line[..p.len()].eq_ignore_ascii_case(p)
}

impl SmtpState {
    /// A state for a new flow.
    pub fn new(cfg: &AppConfig) -> SmtpState {
        SmtpState {
            files: FileSet::new(cfg.eve_logging),
            file_limits: cfg.files,
            mime: MimeParser::new(MimeLimits {
                max_name: cfg.files.max_name,
                ..MimeLimits::default()
            }),
            ..SmtpState::default()
        }
    }

    /// The server accepted `STARTTLS`: what follows is TLS.
    pub fn tls_accepted(&self) -> bool {
        self.tls
    }

    /// Transactions kept, oldest first.
    pub fn txs(&self) -> impl Iterator<Item = &SmtpTx> {
        self.txs.iter()
    }

    /// Clears transaction `i`'s (oldest first) changed flag, returning it; `None` past the
    /// last transaction.
    pub fn take_changed(&mut self, i: usize) -> Option<bool> {
        self.txs.get_mut(i).map(|t| std::mem::take(&mut t.changed))
    }

    /// The transaction `id`, if kept.
    pub fn tx(&self, id: u64) -> Option<&SmtpTx> {
        self.txs.iter().find(|t| t.id == id)
    }

    /// The attachments.
    pub fn files(&self) -> &FileSet {
        &self.files
    }

    /// The message fields of `tx`: the parser's while it is being received.
    pub fn email<'a>(&'a self, tx: &'a SmtpTx) -> Option<&'a Email> {
        if !tx.has_message {
            None
        } else if !tx.done && self.txs.back().is_some_and(|t| t.id == tx.id) {
            Some(&self.mime.email)
        } else {
            Some(&tx.email)
        }
    }

    /// The oldest transaction due for its record (ended, or any with `at_end`), marked
    /// logged; then the oldest attachment whose `fileinfo` is due.
    pub(crate) fn next_unlogged(&mut self, at_end: bool) -> Option<u64> {
        let t = self
            .txs
            .iter_mut()
            .find(|t| !t.logged && (at_end || t.done))?;
        t.logged = true;
        Some(t.id)
    }

    /// The next attachment whose `fileinfo` record is due.
    pub(crate) fn next_unlogged_file(&mut self) -> Option<u64> {
        self.files.next_unlogged()
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
        if self.tls {
            return Progress::Done;
        }
        let mut pos = 0;
        while pos < data.len() && !self.tls {
            if let (Direction::ToServer, Mode::Bdat { remaining, last }) = (dir, self.mode) {
                pos += self.bdat(&data[pos..], remaining, last, events, ctr);
                continue;
            }
            let d = dir.index();
            let mut lines = std::mem::take(&mut self.lines[d]);
            let line = lines.next(data, &mut pos);
            if let Some(l) = line {
                if l.truncated {
                    events.push(AppEvent::SmtpTruncatedLine);
                }
                match dir {
                    Direction::ToServer => self.client_line(l.bytes, events, ctr),
                    Direction::ToClient => self.reply_line(l.bytes, events, ctr),
                }
            }
            self.lines[d] = lines;
        }
        Progress::Done
    }

    fn client_line(&mut self, line: &[u8], events: &mut EventSet, ctr: &mut AppCounters) {
        if self.mode == Mode::Data {
            if line == b"." {
                self.end_message(true, events, ctr);
                return;
            }
            // RFC 5321 §4.5.2: a leading dot was doubled by the sender.
            let line = line.strip_prefix(b".").unwrap_or(line);
            self.message_line(line, events, ctr);
            return;
        }
        self.command(line, ctr, events);
    }

    fn command(&mut self, line: &[u8], ctr: &mut AppCounters, events: &mut EventSet) {
        let keeps_tx = starts_nocase(line, b"STARTTLS") || starts_nocase(line, b"DATA");
        if self.txs.back().is_none_or(|t| t.done && !keeps_tx) {
            self.new_tx(ctr);
        }
        let Some(tx) = self.txs.back_mut() else {
            return;
        };
        tx.changed = true;
        let cmd = if starts_nocase(line, b"HELO") || starts_nocase(line, b"EHLO") {
            // The session's first greeting is kept, as Suricata keeps it.
            if self.helo.is_empty() {
                self.helo.extend_from_slice(command_param(line, 4));
            } else {
                events.push(AppEvent::SmtpDuplicateFields);
            }
            Cmd::Other
        } else if starts_nocase(line, b"MAIL FROM") {
            tx.mail_from.clear();
            tx.mail_from.extend_from_slice(command_param(line, 9));
            Cmd::Other
        } else if starts_nocase(line, b"RCPT TO") {
            tx.add_rcpt(command_param(line, 7));
            Cmd::Other
        } else if starts_nocase(line, b"DATA") {
            self.mode = Mode::Data;
            self.start_message();
            Cmd::Data
        } else if starts_nocase(line, b"BDAT") {
            self.bdat_command(line, events);
            Cmd::Bdat
        } else if starts_nocase(line, b"STARTTLS") {
            Cmd::StartTls
        } else {
            if starts_nocase(line, b"RSET") {
                tx.done = true;
            }
            Cmd::Other
        };
        if self.pending.len() == MAX_PENDING_CMDS {
            self.pending.pop_front();
            events.push(AppEvent::SmtpInvalidPipelinedSequence);
        }
        self.pending.push_back(cmd);
    }

    fn bdat_command(&mut self, line: &[u8], events: &mut EventSet) {
        let mut args = line[4..].split(|&c| c == b' ').filter(|a| !a.is_empty());
        let size = args
            .next()
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<u64>().ok());
        let last = args.next().is_some_and(|a| a.eq_ignore_ascii_case(b"LAST"));
        let Some(remaining) = size else {
            events.push(AppEvent::SmtpBdatChunkLenExceeded);
            return;
        };
        if !self.txs.back().is_some_and(|t| t.has_message) {
            self.start_message();
        }
        self.mode = Mode::Bdat { remaining, last };
    }

    /// Bytes of a `BDAT` chunk: framed into message lines; returns how many were used.
    fn bdat(
        &mut self,
        data: &[u8],
        remaining: u64,
        last: bool,
        events: &mut EventSet,
        ctr: &mut AppCounters,
    ) -> usize {
        let n = remaining.min(data.len() as u64) as usize;
        let chunk = &data[..n];
        let mut lines = std::mem::take(&mut self.bdat_lines);
        let mut pos = 0;
        while let Some(l) = lines.next(chunk, &mut pos) {
            self.message_line(l.bytes, events, ctr);
        }
        let left = remaining - n as u64;
        self.mode = Mode::Bdat {
            remaining: left,
            last,
        };
        if left == 0 {
            self.mode = Mode::Command;
            if last {
                if lines.held() > 0 {
                    // The message's last line had no line break.
                    let mut p = 0;
                    if let Some(l) = lines.next(b"\n", &mut p) {
                        self.message_line(l.bytes, events, ctr);
                    }
                }
                lines.reset(false);
                self.end_message(true, events, ctr);
            }
        }
        self.bdat_lines = lines;
        n
    }

    fn new_tx(&mut self, ctr: &mut AppCounters) {
        if self.txs.len() == MAX_TXS {
            if let Some(old) = self.txs.pop_front() {
                if !old.logged {
                    self.unlogged_recycled += 1;
                    ctr.eve_unlogged += 1;
                }
                self.pool.push(old);
            }
        }
        let mut t = self.pool.pop().unwrap_or_default();
        t.reset(self.next_id);
        self.next_id += 1;
        ctr.tx_smtp += 1;
        self.txs.push_back(t);
    }

    fn start_message(&mut self) {
        self.mime.start();
        self.body_seen = false;
        if let Some(tx) = self.txs.back_mut() {
            tx.has_message = true;
        }
    }

    fn message_line(&mut self, line: &[u8], events: &mut EventSet, ctr: &mut AppCounters) {
        self.body_seen = true;
        let Some(tx) = self.txs.back_mut() else {
            return;
        };
        let mut sink = Sink {
            files: &mut self.files,
            limits: &self.file_limits,
            ctr: &mut ctr.files,
            tx,
            events,
        };
        self.mime.line(line, &mut sink);
    }

    /// The message ended (`complete`) or was cut off; its transaction is done.
    fn end_message(&mut self, complete: bool, events: &mut EventSet, ctr: &mut AppCounters) {
        self.mode = Mode::Command;
        let Some(tx) = self.txs.back_mut() else {
            return;
        };
        let mut sink = Sink {
            files: &mut self.files,
            limits: &self.file_limits,
            ctr: &mut ctr.files,
            tx,
            events,
        };
        if complete {
            self.mime.end(&mut sink);
        } else {
            self.mime.abort(&mut sink);
        }
        std::mem::swap(&mut tx.email, &mut self.mime.email);
        tx.done = true;
        tx.changed = true;
    }

    fn reply_line(&mut self, line: &[u8], events: &mut EventSet, ctr: &mut AppCounters) {
        let code_ok = line.len() >= 3 && line[..3].iter().all(u8::is_ascii_digit);
        if !code_ok {
            events.push(AppEvent::SmtpInvalidReply);
            ctr.error_smtp += 1;
            return;
        }
        if line.get(3) == Some(&b'-') {
            return;
        }
        let code = &line[..3];
        // The first reply is the server's greeting, whatever the client already sent.
        if !std::mem::replace(&mut self.greeted, true) {
            if code != b"220" {
                events.push(AppEvent::SmtpNoServerWelcomeMessage);
            }
            return;
        }
        let Some(cmd) = self.pending.pop_front() else {
            events.push(AppEvent::SmtpUnableToMatchReplyWithRequest);
            return;
        };
        match cmd {
            Cmd::StartTls if code == b"220" => {
                self.tls = true;
                if let Some(tx) = self.txs.back_mut() {
                    tx.done = true;
                    tx.changed = true;
                }
            }
            Cmd::StartTls => events.push(AppEvent::SmtpTlsRejected),
            Cmd::Data if code != b"354" => {
                events.push(AppEvent::SmtpDataCommandRejected);
                if self.mode == Mode::Data && !self.body_seen {
                    self.mode = Mode::Command;
                    if let Some(tx) = self.txs.back_mut() {
                        tx.has_message = false;
                    }
                }
            }
            _ => {}
        }
    }

    /// Reassembly skipped bytes of `dir`: a message being received is cut off.
    pub fn gap(&mut self, dir: Direction, events: &mut EventSet, ctr: &mut AppCounters) {
        self.lines[dir.index()].reset(true);
        if dir == Direction::ToServer {
            self.bdat_lines.reset(false);
        }
        match dir {
            Direction::ToServer => {
                if self.mode != Mode::Command {
                    self.end_message(false, events, ctr);
                }
            }
            Direction::ToClient => self.pending.clear(),
        }
    }

    /// `dir` closed: a message still being received ends truncated.
    pub fn end(&mut self, dir: Direction, events: &mut EventSet, ctr: &mut AppCounters) {
        if dir == Direction::ToServer && self.mode != Mode::Command {
            self.end_message(false, events, ctr);
        }
        self.ended[dir.index()] = true;
        if self.ended == [true, true] {
            // Nothing more can happen to the open transaction: it is due now, as Suricata
            // completes transactions at the end of the stream.
            for t in self.txs.iter_mut().filter(|t| !t.done) {
                t.done = true;
                t.changed = true;
            }
        }
    }
}

#[cfg(test)]
mod tests;

/// The envelope the mail protocols' record tests render with (client 192.0.2.1:40000).
#[cfg(test)]
pub(crate) fn tests_env() -> crate::eve::Envelope<'static> {
    tests::env()
}
