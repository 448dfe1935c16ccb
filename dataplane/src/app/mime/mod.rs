//! An incremental MIME parser (RFC 2045–2047, RFC 5322 messages), shared by the mail
//! protocols. It is fed a message one line at a time (line breaks removed, any transport
//! stuffing already undone) and reports through a [`MimeSink`]: attachments as files
//! (opened with their name, decoded content, closed at their boundary), anomalies as
//! [`AppEvent`]s. The main header fields EVE `email` shows are kept in [`Email`].
//!
//! ```text
//! headers CRLF CRLF body                          (a leaf part: decoded, a file if named)
//! headers CRLF CRLF preamble --b part --b part --b-- epilogue   (multipart, nested)
//! ```
//!
//! Bounds: multipart nesting past [`MAX_DEPTH`] is not followed (its body is skipped, an
//! anomaly is raised); header values are kept up to [`MimeLimits::max_header_value`] bytes,
//! names up to [`header::MAX_NAME`]; lines longer than [`MAX_LINE`] raise `MIME_LONG_LINE`;
//! at most [`MAX_LIST`] addresses, received lines, attachment names and URLs are kept. All
//! buffers are reused between messages: after the first message of a flow, parsing does
//! not allocate.

pub mod decode;
pub mod header;
pub mod url;

use super::AppEvent;
use decode::{Decoder, Encoding};
use header::FieldBuf;

/// Deepest multipart nesting followed.
pub const MAX_DEPTH: usize = 10;
/// Longest line RFC 5322 allows (998 characters); longer ones are an anomaly.
pub const MAX_LINE: usize = 998;
/// Longest boundary RFC 2046 allows.
pub const MAX_BOUNDARY: usize = 70;
/// Entries kept per list (received, attachments, URLs).
pub const MAX_LIST: usize = 32;

/// Limits of the MIME parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MimeLimits {
    /// Bytes of a header value kept.
    pub max_header_value: usize,
    /// Bytes of a file name kept.
    pub max_name: usize,
}

impl Default for MimeLimits {
    fn default() -> Self {
        MimeLimits {
            max_header_value: 2048,
            max_name: 255,
        }
    }
}

/// Where the parser's findings go.
pub trait MimeSink {
    /// A part named `name` starts carrying a file.
    fn file_open(&mut self, name: &[u8]);
    /// Decoded content of the open file.
    fn file_data(&mut self, data: &[u8]);
    /// The open file ended (`complete`: at its boundary or the message's end).
    fn file_close(&mut self, complete: bool);
    /// An anomaly.
    fn event(&mut self, e: AppEvent);
}

/// How far the message got, as EVE `email.status` names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Status {
    /// Nothing parsed yet.
    #[default]
    Start,
    /// In the main headers.
    Header,
    /// In the body.
    Body,
    /// The message ended.
    Done,
    /// The message was cut off or broke the parser.
    Error,
}

impl Status {
    /// Suricata's name.
    pub const fn name(self) -> &'static str {
        match self {
            Status::Start => "PARSE_START",
            Status::Header => "PARSE_HEADER",
            Status::Body => "PARSE_BODY",
            Status::Done => "PARSE_DONE",
            Status::Error => "PARSE_ERROR",
        }
    }
}

/// The main header fields of a message, as EVE `email` shows them.
#[derive(Clone, Debug, Default)]
pub struct Email {
    /// `From`.
    pub from: Vec<u8>,
    /// `To` (the raw value; EVE splits it at commas outside quotes).
    pub to: Vec<u8>,
    /// `Cc`.
    pub cc: Vec<u8>,
    /// `Subject`.
    pub subject: Vec<u8>,
    /// `Date`.
    pub date: Vec<u8>,
    /// `Message-Id`.
    pub message_id: Vec<u8>,
    /// `X-Mailer`.
    pub x_mailer: Vec<u8>,
    /// Each `Received` field.
    pub received: Vec<Vec<u8>>,
    /// Names of the attachments, in order.
    pub attachments: Vec<Vec<u8>>,
    /// URLs found in text parts, scheme removed, in the order found.
    pub urls: Vec<Vec<u8>>,
    /// How far parsing got.
    pub status: Status,
}

fn push_capped(list: &mut Vec<Vec<u8>>, v: &[u8]) {
    if list.len() < MAX_LIST {
        list.push(v.to_vec());
    }
}

impl Email {
    fn clear(&mut self) {
        for f in [
            &mut self.from,
            &mut self.to,
            &mut self.cc,
            &mut self.subject,
            &mut self.date,
            &mut self.message_id,
            &mut self.x_mailer,
        ] {
            f.clear();
        }
        self.received.clear();
        self.attachments.clear();
        self.urls.clear();
        self.status = Status::Start;
    }

    /// Keeps a main header field EVE shows (the first of each, every `Received`).
    fn set(&mut self, name: &[u8], value: &[u8]) {
        let slot = match name {
            b"from" => &mut self.from,
            b"to" => &mut self.to,
            b"cc" => &mut self.cc,
            b"subject" => &mut self.subject,
            b"date" => &mut self.date,
            b"message-id" => &mut self.message_id,
            b"x-mailer" => &mut self.x_mailer,
            b"received" => return push_capped(&mut self.received, value),
            _ => return,
        };
        if slot.is_empty() {
            slot.extend_from_slice(value);
        }
    }
}

/// Where in a part the parser is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// Reading a part's (or the message's) header fields.
    #[default]
    Headers,
    /// A leaf part's body.
    Body,
    /// A multipart's preamble or epilogue, or a body not followed: skipped up to a boundary.
    Skip,
}

/// What a part's header fields said.
#[derive(Debug, Default)]
struct PartInfo {
    encoding: Encoding,
    multipart: bool,
    /// `message/rfc822`: the body is an encapsulated message, parsed as one.
    rfc822: bool,
    /// `text/*` or no type (RFC 2045 §5.2 default): URLs are looked for.
    text: bool,
    boundary: Vec<u8>,
    filename: Vec<u8>,
    has_name: bool,
}

impl PartInfo {
    fn reset(&mut self) {
        self.encoding = Encoding::Identity;
        self.multipart = false;
        self.rfc822 = false;
        self.text = true;
        self.boundary.clear();
        self.filename.clear();
        self.has_name = false;
    }
}

/// The parser of one message at a time (reset per message with [`MimeParser::start`]).
#[derive(Debug, Default)]
pub struct MimeParser {
    limits: MimeLimits,
    phase: Phase,
    /// Header fields being read belong to the message itself (not a part).
    main: bool,
    field: FieldBuf,
    part: PartInfo,
    /// Open multipart boundaries, outermost first.
    boundaries: Vec<Vec<u8>>,
    /// Boundaries that were too deep (not pushed): their parts are skipped.
    too_deep: u32,
    /// `message/rfc822` parts entered.
    encapsulated: usize,
    decoder: Decoder,
    file_open: bool,
    urls: url::UrlScanner,
    scratch: Vec<u8>,
    /// The message's main fields.
    pub email: Email,
}

impl MimeParser {
    /// A parser with `limits`.
    pub fn new(limits: MimeLimits) -> MimeParser {
        MimeParser {
            limits,
            ..MimeParser::default()
        }
    }

    /// Starts a new message (everything of the previous one is forgotten).
    pub fn start(&mut self) {
        self.phase = Phase::Headers;
        self.main = true;
        self.field.active = false;
        self.part.reset();
        self.boundaries.clear();
        self.too_deep = 0;
        self.encapsulated = 0;
        self.decoder = Decoder::default();
        self.file_open = false;
        self.urls.clear();
        self.email.clear();
        self.email.status = Status::Header;
    }

    /// One line of the message, without its line break.
    pub fn line(&mut self, line: &[u8], sink: &mut impl MimeSink) {
        if line.len() > MAX_LINE {
            sink.event(AppEvent::SmtpMimeLongLine);
        }
        if self.phase != Phase::Headers {
            if let Some(closing) = self.boundary_of(line) {
                self.on_boundary(closing, sink);
                return;
            }
        }
        match self.phase {
            Phase::Headers => self.header_line(line, sink),
            Phase::Body => self.body_line(line, sink),
            Phase::Skip => {}
        }
    }

    /// The message ended (its terminator): an open file closes complete.
    pub fn end(&mut self, sink: &mut impl MimeSink) {
        self.finish_part(true, sink);
        self.email.status = Status::Done;
    }

    /// The message was cut off (transport gap, flow end): an open file closes truncated.
    pub fn abort(&mut self, sink: &mut impl MimeSink) {
        self.finish_part(false, sink);
        if self.email.status != Status::Done {
            self.email.status = Status::Error;
        }
    }

    /// `Some(closing)` when `line` is a delimiter of an open multipart (`--b` or `--b--`);
    /// inner boundaries are popped when an outer one appears.
    fn boundary_of(&mut self, line: &[u8]) -> Option<bool> {
        let rest = line.strip_prefix(b"--")?;
        let rest = rest.trim_ascii_end();
        let (i, closing) = self
            .boundaries
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, b)| {
                let tail = rest.strip_prefix(b.as_slice())?;
                match tail {
                    b"" => Some((i, false)),
                    b"--" => Some((i, true)),
                    _ => None,
                }
            })?;
        self.boundaries.truncate(i + 1);
        self.too_deep = 0;
        Some(closing)
    }

    fn on_boundary(&mut self, closing: bool, sink: &mut impl MimeSink) {
        self.finish_part(true, sink);
        if closing {
            self.boundaries.pop();
            self.phase = Phase::Skip;
        } else {
            self.phase = Phase::Headers;
            self.main = false;
            self.part.reset();
        }
    }

    fn finish_part(&mut self, complete: bool, sink: &mut impl MimeSink) {
        if self.phase == Phase::Headers && self.field.active {
            self.field_done(sink);
        }
        let file_open = self.file_open;
        let text = self.part.text && self.phase == Phase::Body;
        let (urls, email) = (&mut self.urls, &mut self.email);
        self.decoder.finish(&mut |b: &[u8]| {
            if file_open {
                sink.file_data(b);
            }
            if text {
                urls.feed(b, &mut email.urls);
            }
        });
        self.urls.flush(&mut self.email.urls);
        if std::mem::take(&mut self.file_open) {
            sink.file_close(complete);
        }
        self.decoder = Decoder::default();
    }

    fn header_line(&mut self, line: &[u8], sink: &mut impl MimeSink) {
        if line.is_empty() {
            if self.field.active {
                self.field_done(sink);
            }
            self.headers_done(sink);
            return;
        }
        if matches!(line[0], b' ' | b'\t') {
            self.field.fold(line, self.limits.max_header_value);
            return;
        }
        if self.field.active {
            self.field_done(sink);
        }
        if !self.field.start(line, self.limits.max_header_value) {
            sink.event(AppEvent::SmtpMimeMalformedMsg);
        }
    }

    fn field_done(&mut self, sink: &mut impl MimeSink) {
        self.field.active = false;
        if self.field.bad_name {
            sink.event(AppEvent::SmtpMimeLongHeaderName);
            return;
        }
        if self.field.truncated {
            sink.event(AppEvent::SmtpMimeLongHeaderValue);
        }
        let (name, value) = (self.field.name(), self.field.value());
        if self.main {
            self.email.set(name, value);
        }
        match name {
            b"content-transfer-encoding" => self.part.encoding = Encoding::from_header(value),
            b"content-type" => {
                let t = header::media_type(value);
                self.part.multipart = t.len() >= 10 && t[..10].eq_ignore_ascii_case(b"multipart/");
                self.part.text = t.len() >= 5 && t[..5].eq_ignore_ascii_case(b"text/");
                self.part.rfc822 = t.eq_ignore_ascii_case(b"message/rfc822");
                let (_, cut) = header::param_into(
                    value,
                    b"boundary",
                    &mut self.part.boundary,
                    MAX_BOUNDARY + 1,
                );
                if cut || self.part.boundary.len() > MAX_BOUNDARY {
                    sink.event(AppEvent::SmtpMimeLongBoundary);
                }
                if !self.part.has_name {
                    take_name(
                        &mut self.part,
                        &mut self.scratch,
                        self.limits.max_name,
                        value,
                        b"name",
                        sink,
                    );
                }
            }
            // The disposition's file name wins over the type's `name`.
            b"content-disposition" => take_name(
                &mut self.part,
                &mut self.scratch,
                self.limits.max_name,
                value,
                b"filename",
                sink,
            ),
            _ => {}
        }
    }

    fn headers_done(&mut self, sink: &mut impl MimeSink) {
        if self.main {
            self.email.status = Status::Body;
        }
        if self.part.multipart && !self.part.boundary.is_empty() {
            if self.boundaries.len() < MAX_DEPTH {
                self.boundaries
                    .push(std::mem::take(&mut self.part.boundary));
            } else {
                self.too_deep += 1;
                sink.event(AppEvent::SmtpMimeParseFailed);
            }
            self.phase = Phase::Skip;
            return;
        }
        if self.part.rfc822 {
            // RFC 2046 §5.2.1: an encapsulated message is not encoded (any transfer encoding
            // declared for it is ignored); its own header fields start now.
            if self.encapsulated < MAX_DEPTH {
                self.encapsulated += 1;
                self.main = false;
                self.part.reset();
                return;
            }
            sink.event(AppEvent::SmtpMimeParseFailed);
        }
        self.phase = Phase::Body;
        self.decoder = Decoder::new(self.part.encoding);
        if self.part.has_name {
            push_capped(&mut self.email.attachments, &self.part.filename);
            sink.file_open(&self.part.filename);
            self.file_open = true;
        }
    }

    fn body_line(&mut self, line: &[u8], sink: &mut impl MimeSink) {
        let file_open = self.file_open;
        let text = self.part.text;
        let (urls, email) = (&mut self.urls, &mut self.email);
        let faults = self.decoder.line(line, &mut |b: &[u8]| {
            if file_open {
                sink.file_data(b);
            }
            if text {
                urls.feed(b, &mut email.urls);
            }
        });
        if text && self.decoder.encoding() == Encoding::Identity {
            // Lines of a text part end URLs.
            self.urls.flush(&mut self.email.urls);
        }
        if faults.bad_base64 {
            sink.event(AppEvent::SmtpMimeInvalidBase64);
        }
        if faults.bad_qp {
            sink.event(AppEvent::SmtpMimeInvalidQp);
        }
    }
}

/// Takes the file name parameter `param` of a header value into the part.
fn take_name(
    part: &mut PartInfo,
    scratch: &mut Vec<u8>,
    max: usize,
    value: &[u8],
    param: &[u8],
    sink: &mut impl MimeSink,
) {
    let (found, cut) = header::param_into(value, param, scratch, max);
    if found && !scratch.is_empty() {
        if cut {
            sink.event(AppEvent::SmtpMimeLongFilename);
        }
        part.filename.clear();
        part.filename.extend_from_slice(scratch);
        part.has_name = true;
    }
}

#[cfg(test)]
mod tests;
