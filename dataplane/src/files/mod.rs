//! File tracking, for every protocol that carries files (HTTP/1 bodies today; mail
//! attachments, FTP data, SMB and NFS reads and writes plug in the same way).
//!
//! A parser owns one [`FileSet`] per flow direction and drives it sans-I/O as it decodes:
//! [`FileSet::open`] when a message starts carrying a file (name, transaction),
//! [`FileSet::append`] with each piece of decoded content (after de-chunking and
//! decompression), [`FileSet::gap`] when bytes of it were never seen, and [`FileSet::close`]
//! when the protocol says it ended (or was cut off). Each file keeps its name, size, gaps,
//! state and running MD5/SHA-1/SHA-256 inline, so appending never allocates; closed files wait
//! in the set until their EVE `fileinfo` record is taken ([`FileSet::next_unlogged`]) and are
//! then recycled for the next file of the direction.
//!
//! Caps: at most [`FileLimits::max_open`] files are open per worker at once (the worker's
//! [`FileCounters::open_now`]); a file past it is not tracked and counts `files.dropped_cap`.
//! Per direction at most [`MAX_PENDING`] closed files wait for logging; past that the oldest
//! is dropped unlogged and counted the same way. Names are kept up to
//! [`FileLimits::max_name`] bytes.

pub mod hash;
pub mod multipart;
pub mod name;

use std::collections::VecDeque;

pub use hash::{Digests, Hashers};
pub use vocab::eve::FileState;

use crate::counters::CounterSet;

/// Closed files per flow direction kept until their record is taken.
pub const MAX_PENDING: usize = 8;

/// Limits of file tracking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileLimits {
    /// Files open at once per worker; more are not tracked (`files.dropped_cap`).
    pub max_open: u64,
    /// Bytes of a file name kept.
    pub max_name: usize,
    /// Digests are computed: something reads them (EVE `fileinfo`, a `filemd5`-style rule,
    /// file-hash indicators). Set by the pipeline; a file keeps what it was opened with.
    pub hash: bool,
}

impl Default for FileLimits {
    fn default() -> Self {
        FileLimits {
            max_open: 65_536,
            max_name: 1024,
            hash: true,
        }
    }
}

/// Per-worker file counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct FileCounters {
    /// `files.open`: files opened (tracked).
    pub opened: u64,
    /// `files.closed`: files that ended complete.
    pub closed: u64,
    /// `files.truncated`: files cut short (gap, flow end, error).
    pub truncated: u64,
    /// `files.bytes`: file bytes seen (gaps not counted).
    pub bytes: u64,
    /// `files.dropped_cap`: files not tracked, or dropped unlogged, because a cap was reached.
    pub dropped_cap: u64,
    /// Files open now (a gauge the cap is checked against).
    pub open_now: u64,
}

impl CounterSet for FileCounters {
    fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        f("files.open", self.opened);
        f("files.closed", self.closed);
        f("files.truncated", self.truncated);
        f("files.bytes", self.bytes);
        f("files.dropped_cap", self.dropped_cap);
    }
}

/// One file seen in a flow direction.
#[derive(Clone, Debug, Default)]
pub struct TrackedFile {
    /// Sequence number within the flow direction.
    pub id: u64,
    /// Transaction of the carrying protocol.
    pub tx_id: u64,
    name: Vec<u8>,
    /// Bytes tracked, gaps included.
    pub size: u64,
    /// Some bytes were never seen.
    pub gaps: bool,
    /// How far it got.
    pub state: FileState,
    hashers: Hashers,
    /// Digests are computed for this file.
    hashing: bool,
    digests: Option<Digests>,
    /// Its `fileinfo` record was taken.
    pub logged: bool,
}

impl TrackedFile {
    /// The name (capped).
    pub fn name(&self) -> &[u8] {
        &self.name
    }
    /// Digests once the file ended without gaps (hashes of a file with holes mean nothing),
    /// when they were computed ([`FileLimits::hash`]).
    pub fn digests(&self) -> Option<&Digests> {
        self.digests.as_ref()
    }
    /// The record's content.
    pub fn info(&self) -> vocab::eve::FileInfo<'_> {
        let d = self.digests.as_ref();
        vocab::eve::FileInfo {
            filename: &self.name,
            gaps: self.gaps,
            state: self.state,
            md5: d.map(|d| &d.md5),
            sha1: d.map(|d| &d.sha1),
            sha256: d.map(|d| &d.sha256),
            stored: false,
            size: self.size,
            tx_id: self.tx_id,
        }
    }
}

/// The files of one flow direction: at most one open (the last), closed ones until logged.
#[derive(Debug, Default)]
pub struct FileSet {
    files: VecDeque<TrackedFile>,
    spare: Vec<TrackedFile>,
    next_id: u64,
    open: bool,
    /// Closed files wait for their `fileinfo` record (EVE logging is on).
    records: bool,
}

impl FileSet {
    /// An empty set; with `records`, closed files are kept until their record is taken.
    pub fn new(records: bool) -> FileSet {
        FileSet {
            records,
            ..FileSet::default()
        }
    }

    /// Starts a file of transaction `tx_id` named `name`; an open one is closed truncated
    /// first. Returns `false` (and counts `files.dropped_cap`) when the worker's cap is full.
    pub fn open(
        &mut self,
        name: &[u8],
        tx_id: u64,
        limits: &FileLimits,
        ctr: &mut FileCounters,
    ) -> bool {
        if self.open {
            self.close(FileState::Truncated, ctr);
        }
        if ctr.open_now >= limits.max_open {
            ctr.dropped_cap += 1;
            return false;
        }
        if self.files.len() >= MAX_PENDING {
            if let Some(old) = self.files.pop_front() {
                if !old.logged {
                    ctr.dropped_cap += 1;
                }
                self.spare.push(old);
            }
        }
        let mut f = self.spare.pop().unwrap_or_default();
        f.id = self.next_id;
        self.next_id += 1;
        f.tx_id = tx_id;
        f.name.clear();
        f.name
            .extend_from_slice(&name[..name.len().min(limits.max_name)]);
        f.size = 0;
        f.gaps = false;
        f.state = FileState::Open;
        f.hashers.reset();
        f.hashing = limits.hash;
        f.digests = None;
        f.logged = false;
        self.files.push_back(f);
        self.open = true;
        ctr.opened += 1;
        ctr.open_now += 1;
        true
    }

    /// A file is open.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The open file's next bytes.
    pub fn append(&mut self, bytes: &[u8], ctr: &mut FileCounters) {
        if let Some(f) = self.current() {
            f.size += bytes.len() as u64;
            ctr.bytes += bytes.len() as u64;
            if f.hashing && !f.gaps {
                f.hashers.update(bytes);
            }
        }
    }

    /// `len` bytes of the open file were never seen.
    pub fn gap(&mut self, len: u64) {
        if let Some(f) = self.current() {
            f.size += len;
            f.gaps = true;
        }
    }

    /// Ends the open file: `Closed` when the protocol delimited it (a file with gaps ends
    /// `Truncated` all the same), `Truncated` or `Error` otherwise.
    pub fn close(&mut self, state: FileState, ctr: &mut FileCounters) {
        if !self.open {
            return;
        }
        self.open = false;
        ctr.open_now = ctr.open_now.saturating_sub(1);
        let Some(f) = self.files.back_mut() else {
            return;
        };
        f.state = if f.gaps && state == FileState::Closed {
            FileState::Truncated
        } else {
            state
        };
        match f.state {
            FileState::Closed => ctr.closed += 1,
            _ => ctr.truncated += 1,
        }
        if f.hashing && !f.gaps {
            f.digests = Some(f.hashers.finish());
        }
        f.logged = !self.records;
    }

    /// Forgets the open file without a record (it carried no byte: HTTP opens a file only
    /// for a body that has content).
    pub fn forget_empty(&mut self, ctr: &mut FileCounters) -> bool {
        let empty = self.open && self.files.back().is_some_and(|f| f.size == 0);
        if empty {
            self.open = false;
            ctr.opened -= 1;
            ctr.open_now = ctr.open_now.saturating_sub(1);
            if let Some(f) = self.files.pop_back() {
                self.spare.push(f);
            }
            self.next_id -= 1;
        }
        empty
    }

    /// The sequence number of the oldest closed file whose record was not taken, marked
    /// logged.
    pub fn next_unlogged(&mut self) -> Option<u64> {
        // The open file (the last) is not due.
        let closed = self.files.len() - usize::from(self.open);
        let i = self.files.iter().take(closed).position(|f| !f.logged)?;
        let f = &mut self.files[i];
        f.logged = true;
        Some(f.id)
    }

    /// Files of transaction `tx_id` whose records were not taken yet.
    pub fn unlogged_of(&self, tx_id: u64) -> bool {
        self.files.iter().any(|f| f.tx_id == tx_id && !f.logged)
    }

    /// Every file still kept, oldest first (the open one last).
    pub fn iter(&self) -> impl Iterator<Item = &TrackedFile> {
        self.files.iter()
    }

    /// The file with sequence number `id`, if still kept.
    pub fn get(&self, id: u64) -> Option<&TrackedFile> {
        self.files.iter().find(|f| f.id == id)
    }

    fn current(&mut self) -> Option<&mut TrackedFile> {
        if self.open {
            self.files.back_mut()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests;
