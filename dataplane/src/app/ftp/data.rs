//! An `ftp-data` flow: a TCP connection the control channel announced (PORT/EPRT/PASV/EPSV)
//! and a transfer command claimed. It is one transaction: the command that opened it, the
//! file it carries (named by a RETR/STOR argument) in the direction the bytes travel, and the
//! first bytes of that content for `file.data`.

use super::parser::Command;
use crate::app::{AppConfig, AppCounters, Direction};
use crate::files::{FileSet, FileState};

/// What the control channel said about a data connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataOrigin {
    /// The command that opened it (RETR, STOR, LIST, ...).
    pub command: Option<Command>,
    /// Its argument (the file name for RETR/STOR), up to the file-name cap.
    pub name: Vec<u8>,
    /// The control flow's id (EVE `flow_id`).
    pub control_flow: u64,
}

/// State of one `ftp-data` flow.
#[derive(Debug)]
pub struct FtpDataState {
    /// Where it came from.
    pub origin: DataOrigin,
    /// Direction the content travels (set by its first byte).
    pub dir: Option<Direction>,
    content: Vec<u8>,
    files: [FileSet; 2],
    /// Inspection is due in a direction (by [`Direction::index`]).
    pub changed: [bool; 2],
    /// The transfer ended (both sides closed, or the flow ended).
    pub done: bool,
    logged: bool,
}

impl FtpDataState {
    /// A data flow opened by `origin`.
    pub fn new(cfg: &AppConfig, origin: DataOrigin) -> FtpDataState {
        FtpDataState {
            origin,
            dir: None,
            content: Vec::new(),
            files: [FileSet::new(cfg.eve_logging), FileSet::new(cfg.eve_logging)],
            changed: [false; 2],
            done: false,
            logged: false,
        }
    }

    /// The content kept for `file.data` in direction `dir` (up to the body limit).
    pub fn content(&self, dir: Direction) -> Option<&[u8]> {
        (self.dir == Some(dir) && !self.content.is_empty()).then_some(&self.content[..])
    }

    /// The files of direction `dir`.
    pub fn files(&self, dir: Direction) -> &FileSet {
        &self.files[dir.index()]
    }

    /// Content bytes of `dir`.
    pub fn parse(&mut self, cfg: &AppConfig, dir: Direction, data: &[u8], ctr: &mut AppCounters) {
        if self.dir.is_none() {
            self.dir = Some(dir);
            let name = file_name(&self.origin);
            if let Some(name) = name {
                self.files[dir.index()].open(name, 0, &cfg.files, &mut ctr.files);
            }
        }
        if self.dir != Some(dir) {
            return;
        }
        let room = cfg
            .http_response_body_limit
            .saturating_sub(self.content.len());
        self.content
            .extend_from_slice(&data[..data.len().min(room)]);
        self.files[dir.index()].append(data, &mut ctr.files);
        self.changed = [true; 2];
    }

    /// Bytes of `dir` were never seen.
    pub fn gap(&mut self, dir: Direction, len: u64) {
        if self.dir == Some(dir) {
            self.files[dir.index()].gap(len);
        }
    }

    /// `dir` closed: the transfer is over when the content's side closed.
    pub fn end(&mut self, dir: Direction, ctr: &mut AppCounters) {
        if self.dir.is_none_or(|d| d == dir) && !self.done {
            self.done = true;
            self.changed = [true; 2];
            self.files[dir.index()].close(FileState::Closed, &mut ctr.files);
        }
    }

    /// The flow's one record is due: once the transfer ended (at flow end in any case).
    pub fn take_due(&mut self, at_end: bool) -> bool {
        let due = !self.logged && (self.done || at_end);
        self.logged |= due;
        due
    }

    /// The next file of either direction whose `fileinfo` record is due.
    pub fn next_unlogged_file(&mut self) -> Option<(Direction, u64)> {
        for d in [Direction::ToServer, Direction::ToClient] {
            if let Some(id) = self.files[d.index()].next_unlogged() {
                return Some((d, id));
            }
        }
        None
    }

    /// Closes a file left open when the flow ends without a FIN (truncated).
    pub fn flush(&mut self, ctr: &mut AppCounters) {
        for f in &mut self.files {
            f.close(FileState::Truncated, &mut ctr.files);
        }
    }
}

/// The file name a data connection carries: the argument of RETR/STOR (and other commands
/// that transfer one file).
fn file_name(o: &DataOrigin) -> Option<&[u8]> {
    match o.command {
        Some(c) if c.transfers_file() && !o.name.is_empty() => Some(&o.name),
        _ => None,
    }
}
