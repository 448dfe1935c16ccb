//! SMTP transactions: one per mail (Suricata's model): the envelope (`MAIL FROM`, `RCPT TO`),
//! the message's [`Email`] fields and its attachments' decoded content for `file.data`.

use crate::app::mime::Email;

/// Recipients kept per transaction.
pub const MAX_RCPT: usize = 64;
/// Attachments per transaction whose content `file.data` inspects.
pub const MAX_FILE_DATA: usize = 8;
/// Bytes of one attachment kept for `file.data`.
pub const FILE_DATA_MAX: usize = 256 * 1024;

/// One mail transaction.
#[derive(Debug, Default)]
pub struct SmtpTx {
    /// Transaction id within the flow (EVE `tx_id`).
    pub id: u64,
    /// `MAIL FROM` parameter (the reverse path with its angle brackets).
    pub mail_from: Vec<u8>,
    rcpt: Vec<Vec<u8>>,
    nrcpt: usize,
    /// A message was sent (`DATA` or `BDAT`): [`SmtpTx::email`] is meaningful.
    pub has_message: bool,
    /// The message's header fields, attachments and URLs (while the message is being
    /// received they are the parser's: see [`super::SmtpState::email`]).
    pub email: Email,
    files: Vec<Vec<u8>>,
    nfiles: usize,
    /// The open attachment's content is being kept.
    collecting: bool,
    /// The transaction ended (message terminator, `RSET`, TLS started).
    pub done: bool,
    /// Not yet inspected by the detection stage.
    pub changed: bool,
    /// Its EVE record was taken.
    pub logged: bool,
}

impl SmtpTx {
    /// Makes a recycled transaction new.
    pub(super) fn reset(&mut self, id: u64) {
        self.id = id;
        self.mail_from.clear();
        self.nrcpt = 0;
        self.has_message = false;
        self.nfiles = 0;
        self.collecting = false;
        self.done = false;
        self.changed = true;
        self.logged = false;
    }

    /// `RCPT TO` parameters, in order.
    pub fn rcpt_to(&self) -> impl Iterator<Item = &[u8]> {
        self.rcpt[..self.nrcpt].iter().map(Vec::as_slice)
    }

    /// Recipient `i`.
    pub fn rcpt(&self, i: usize) -> Option<&[u8]> {
        (i < self.nrcpt).then(|| self.rcpt[i].as_slice())
    }

    pub(super) fn add_rcpt(&mut self, v: &[u8]) {
        if self.nrcpt == MAX_RCPT {
            return;
        }
        if self.rcpt.len() == self.nrcpt {
            self.rcpt.push(Vec::new());
        }
        let r = &mut self.rcpt[self.nrcpt];
        r.clear();
        r.extend_from_slice(v);
        self.nrcpt += 1;
    }

    /// Decoded content of attachment `i` (up to [`FILE_DATA_MAX`] bytes).
    pub fn file_data(&self, i: usize) -> Option<&[u8]> {
        (i < self.nfiles).then(|| self.files[i].as_slice())
    }

    pub(super) fn open_file_data(&mut self) {
        self.collecting = self.nfiles < MAX_FILE_DATA;
        if !self.collecting {
            return;
        }
        if self.files.len() == self.nfiles {
            self.files.push(Vec::new());
        }
        self.files[self.nfiles].clear();
        self.nfiles += 1;
    }

    pub(super) fn append_file_data(&mut self, b: &[u8]) {
        if !self.collecting {
            return;
        }
        let f = &mut self.files[self.nfiles - 1];
        let room = FILE_DATA_MAX.saturating_sub(f.len()).min(b.len());
        f.extend_from_slice(&b[..room]);
        self.changed = true;
    }
}
