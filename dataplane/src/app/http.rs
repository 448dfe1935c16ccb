//! HTTP/1.x over reassembled streams, both directions, lenient like libhtp (Suricata's HTTP
//! parser), because rule buffers must hold exactly what Suricata inspects.
//!
//! Each direction runs a small state machine: the request/response line and header block are
//! collected in a reused per-direction buffer (capped at
//! [`AppConfig::http_max_header_bytes`]) until the empty line, then parsed at once — so a header
//! split across stream chunks parses identically. Bodies stream through [`body`] (Content-Length,
//! chunked, until close; gzip/deflate for responses) into capped per-transaction buffers.
//!
//! Requests open transactions in order (pipelining); responses attach to the oldest transaction
//! without a response. A `101` answering `Upgrade: websocket` switches both directions to
//! [`websocket`](super::websocket) frames.
//!
//! Header parsing is hand-written rather than `httparse`: libhtp accepts folding, missing
//! colons, bare LF and odd whitespace that `httparse` rejects, and buffers need raw offsets.
//!
//! Transactions come from a per-flow pool and are recycled; at most
//! [`AppConfig::http_max_txs`] are open at once (the oldest is recycled and counted past that).

pub mod body;
mod message;
pub mod uri;

use message::*;

use std::collections::VecDeque;
use std::ops::Range;

use self::body::{BodyDecoder, Coding, Decompressor, Framing, Inflate};
use super::websocket::WsParser;
use super::{AppConfig, AppCounters, AppError, AppEvent, Direction, EventSet, Progress};
use crate::files::multipart::{self, Multipart};
use crate::files::{FileSet, FileState};
use crate::time::Timestamp;

pub(crate) fn uri_hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Bits of [`HttpTx::changes`]: what changed since the detection stage last looked.
pub mod change {
    /// Request line parsed (headers may still be arriving).
    pub const REQUEST_LINE: u32 = 64;
    /// Response status line parsed.
    pub const RESPONSE_LINE: u32 = 128;
    /// Request line and headers parsed.
    pub const REQUEST_HEADERS: u32 = 1;
    /// Request body grew.
    pub const REQUEST_BODY: u32 = 2;
    /// Request complete.
    pub const REQUEST_COMPLETE: u32 = 4;
    /// Response line and headers parsed.
    pub const RESPONSE_HEADERS: u32 = 8;
    /// Response body grew.
    pub const RESPONSE_BODY: u32 = 16;
    /// Response complete.
    pub const RESPONSE_COMPLETE: u32 = 32;
}

/// How far one side of a transaction got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum MsgProgress {
    /// Nothing seen.
    #[default]
    None,
    /// Request or status line parsed; headers still arriving.
    Line,
    /// Line and headers parsed; body in progress.
    Headers,
    /// Message complete.
    Complete,
}

/// Bytes looked at to judge a possible message start while resynchronising (a method plus a
/// space, or `HTTP/`, after optional blank lines).
const RESYNC_WINDOW: usize = 32;

/// Body capacity a recycled message keeps for reuse.
const RETAIN_BODY: usize = 16 * 1024;

/// One header after folding and merging of duplicates (values joined with `", "`, as libhtp).
#[derive(Clone, Debug)]
struct Field {
    /// Name as sent, in `raw_headers`.
    name: Range<u32>,
    /// Value (trimmed, unfolded, merged) in `values`.
    value: Range<u32>,
}

/// A request or a response: line, headers and body, with the derived rule buffers.
#[derive(Debug, Default)]
pub struct HttpMessage {
    line: Vec<u8>,
    parts: [Range<u32>; 3],
    raw_headers: Vec<u8>,
    fields: Vec<Field>,
    values: Vec<u8>,
    header_norm: Vec<u8>,
    header_names: Vec<u8>,
    start: Vec<u8>,
    body: Vec<u8>,
    body_len: u64,
    message_len: u64,
    /// Progress of this side.
    pub progress: MsgProgress,
    /// Body bytes beyond the configured depth were not kept.
    pub body_truncated: bool,
    /// Content-Length value when valid.
    pub content_length: Option<u64>,
}

impl HttpMessage {
    fn reset(&mut self) {
        // Recycled messages keep their buffers, but not a large body's: pooled transactions
        // would otherwise pin up to the body limits each.
        if self.body.capacity() > RETAIN_BODY {
            self.body = Vec::new();
        }
        self.line.clear();
        self.parts = [0..0, 0..0, 0..0];
        self.raw_headers.clear();
        self.fields.clear();
        self.values.clear();
        self.header_norm.clear();
        self.header_names.clear();
        self.start.clear();
        self.body.clear();
        self.body_len = 0;
        self.message_len = 0;
        self.progress = MsgProgress::None;
        self.body_truncated = false;
        self.content_length = None;
    }

    fn set_line(&mut self, line: &[u8], request: bool, events: &mut EventSet) {
        self.line.clear();
        self.line.extend_from_slice(line);
        if request {
            parse_request_line(self, events);
        } else {
            parse_status_line(self, events);
        }
    }

    fn part(&self, i: usize) -> &[u8] {
        let r = &self.parts[i];
        &self.line[r.start as usize..r.end as usize]
    }

    /// The request or status line without its line ending.
    pub fn line(&self) -> &[u8] {
        &self.line
    }
    /// Header lines as received, through the empty line (`http.header.raw`).
    pub fn raw_headers(&self) -> &[u8] {
        &self.raw_headers
    }
    /// `Name: value\r\n` per header, cookies excluded (`http.header`).
    pub fn header_buffer(&self) -> &[u8] {
        &self.header_norm
    }
    /// `\r\nName1\r\nName2\r\n\r\n` (`http.header_names`).
    pub fn header_names(&self) -> &[u8] {
        &self.header_names
    }
    /// Line, headers and the empty line (`http.start`).
    pub fn start(&self) -> &[u8] {
        &self.start
    }
    /// Dechunked (and for responses decompressed) body up to the depth.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
    /// Entity bytes seen, including those past the depth.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }
    /// Message-body bytes as they travelled (chunk framing and compression included, gaps
    /// counted): libhtp's `message_len`, EVE's `length`.
    pub fn message_len(&self) -> u64 {
        self.message_len
    }
    /// The value of header `name` (case-insensitive), duplicates merged.
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.fields.iter().find_map(|f| {
            let n = &self.raw_headers[f.name.start as usize..f.name.end as usize];
            n.eq_ignore_ascii_case(name)
                .then(|| &self.values[f.value.start as usize..f.value.end as usize])
        })
    }
    /// Headers in order of first appearance: `(name, merged value)`.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields.iter().map(|f| {
            (
                &self.raw_headers[f.name.start as usize..f.name.end as usize],
                &self.values[f.value.start as usize..f.value.end as usize],
            )
        })
    }
}

/// One request/response exchange.
#[derive(Debug, Default)]
pub struct HttpTx {
    /// Sequence number within the flow (0-based), Suricata's `tx_id`.
    pub id: u64,
    /// The request.
    pub request: HttpMessage,
    /// The response.
    pub response: HttpMessage,
    uri_norm: Vec<u8>,
    host: Vec<u8>,
    host_raw: Vec<u8>,
    /// [`change`] bits not yet seen by the detection stage.
    pub changes: u32,
    /// The request used `HEAD` (its response has no body).
    pub is_head: bool,
    /// Response body bytes decompressed so far exceeded a cap.
    pub decompression_cut: bool,
    /// Already written as an EVE `http` record.
    pub logged: bool,
}

impl HttpTx {
    fn reset(&mut self, id: u64) {
        self.id = id;
        self.request.reset();
        self.response.reset();
        self.uri_norm.clear();
        self.host.clear();
        self.host_raw.clear();
        self.changes = 0;
        self.is_head = false;
        self.decompression_cut = false;
        self.logged = false;
    }
    /// `http.method`.
    pub fn method(&self) -> &[u8] {
        self.request.part(0)
    }
    /// `http.uri.raw`.
    pub fn uri_raw(&self) -> &[u8] {
        self.request.part(1)
    }
    /// `http.uri` (normalized).
    pub fn uri(&self) -> &[u8] {
        &self.uri_norm
    }
    /// `http.protocol` of the request.
    pub fn request_protocol(&self) -> &[u8] {
        self.request.part(2)
    }
    /// `http.protocol` of the response.
    pub fn response_protocol(&self) -> &[u8] {
        self.response.part(0)
    }
    /// `http.stat_code`.
    pub fn status_code(&self) -> &[u8] {
        self.response.part(1)
    }
    /// Status as a number when it is one.
    pub fn status(&self) -> Option<u16> {
        std::str::from_utf8(self.status_code()).ok()?.parse().ok()
    }
    /// `http.stat_msg`.
    pub fn status_msg(&self) -> &[u8] {
        self.response.part(2)
    }
    /// `http.host`: hostname lowercased, without port or userinfo (from an absolute URI or the
    /// Host header).
    pub fn host(&self) -> Option<&[u8]> {
        (!self.host.is_empty() || self.request.header(b"host").is_some())
            .then_some(self.host.as_slice())
    }
    /// `http.host.raw`: the Host header (or absolute URI authority) as sent.
    pub fn host_raw(&self) -> Option<&[u8]> {
        (!self.host_raw.is_empty() || self.request.header(b"host").is_some())
            .then_some(self.host_raw.as_slice())
    }
    /// Takes and clears the change bits (the detection stage calls this once per inspection).
    pub fn take_changes(&mut self) -> u32 {
        core::mem::take(&mut self.changes)
    }
    /// Both sides complete.
    pub fn is_complete(&self) -> bool {
        self.request.progress == MsgProgress::Complete
            && self.response.progress == MsgProgress::Complete
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Collecting a line plus headers.
    Headers,
    /// Header block overflowed: skipping to its end.
    SkipHeaders,
    /// In a body.
    Body,
    /// Lost sync (gap inside framing): looking for the next message start.
    Resync,
    /// WebSocket frames after an upgrade.
    WebSocket,
    /// A tunnel or unrecoverable state: bytes are ignored.
    Dead,
}

#[derive(Debug)]
struct DirParser {
    phase: Phase,
    hdr: Vec<u8>,
    /// Where the search for the end of the header block resumes in `hdr`.
    scan: usize,
    body: BodyDecoder,
    decomp: Option<Decompressor>,
    /// Transaction id this direction's current message belongs to.
    tx: Option<u64>,
    /// Last byte seen (for resync at line starts).
    last: u8,
    /// The current message's line was parsed into transaction `tx` already.
    line_open: bool,
    ws: WsParser,
}

impl DirParser {
    fn new() -> DirParser {
        DirParser {
            phase: Phase::Headers,
            hdr: Vec::new(),
            scan: 0,
            body: BodyDecoder::new(Framing::None),
            decomp: None,
            tx: None,
            last: b'\n',
            line_open: false,
            ws: WsParser::default(),
        }
    }
}

/// Scratch for one header parse: fields before duplicate merging.
#[derive(Debug, Default)]
struct Scratch {
    fields: Vec<(Range<u32>, Range<u32>)>,
    values: Vec<u8>,
}

/// HTTP state of one flow.
#[derive(Debug)]
pub struct HttpState {
    txs: VecDeque<HttpTx>,
    pool: Vec<HttpTx>,
    next_id: u64,
    dirs: [DirParser; 2],
    scratch: Scratch,
    upgraded: bool,
    max_txs: usize,
    /// Transactions must be logged before they are recycled.
    eve_logging: bool,
    /// Id of the next WebSocket frame, either direction.
    ws_next_id: u64,
    /// Files the bodies carry, per direction ([`crate::files`]): every response body with
    /// content, `PUT` request bodies and the file parts of multipart request bodies, as
    /// Suricata tracks them.
    files: [FileSet; 2],
    /// The multipart request body being parsed into files.
    upload: Multipart,
}

impl HttpState {
    /// A new flow's HTTP state.
    pub fn new(cfg: &AppConfig) -> HttpState {
        HttpState {
            txs: VecDeque::new(),
            pool: Vec::new(),
            next_id: 0,
            dirs: [DirParser::new(), DirParser::new()],
            scratch: Scratch::default(),
            upgraded: false,
            max_txs: cfg.http_max_txs.max(1),
            eve_logging: cfg.eve_logging,
            ws_next_id: 0,
            files: [FileSet::new(cfg.eve_logging), FileSet::new(cfg.eve_logging)],
            upload: Multipart::default(),
        }
    }

    /// The files of `dir`.
    pub fn files(&self, dir: Direction) -> &FileSet {
        &self.files[dir.index()]
    }

    /// The oldest closed file of either direction whose `fileinfo` record is due, marked
    /// logged: `(direction, file sequence number)`.
    pub(crate) fn next_unlogged_file(&mut self) -> Option<(Direction, u64)> {
        [Direction::ToServer, Direction::ToClient]
            .into_iter()
            .find_map(|d| self.files[d.index()].next_unlogged().map(|id| (d, id)))
    }

    /// Open transactions, oldest first.
    pub fn txs(&self) -> impl Iterator<Item = &HttpTx> {
        self.txs.iter()
    }

    /// Mutable transactions (to take change bits).
    pub fn txs_mut(&mut self) -> impl Iterator<Item = &mut HttpTx> {
        self.txs.iter_mut()
    }

    /// Mutable transactions beside the files they carry (detection reads both at once).
    pub fn txs_mut_with_files(&mut self) -> (impl Iterator<Item = &mut HttpTx>, &[FileSet; 2]) {
        (self.txs.iter_mut(), &self.files)
    }

    /// The transaction with `id`, if still open.
    pub fn tx(&self, id: u64) -> Option<&HttpTx> {
        self.txs.iter().find(|t| t.id == id)
    }

    /// True once a `101` switched the flow to WebSocket.
    pub fn upgraded_to_websocket(&self) -> bool {
        self.upgraded
    }

    /// WebSocket frame parser of `dir` (frames exist only after an upgrade).
    pub fn websocket(&self, dir: Direction) -> &WsParser {
        &self.dirs[dir.index()].ws
    }

    /// The oldest transaction due for its EVE record, marked logged: both sides complete, as
    /// Suricata's HTTP logger waits for; with `at_end` (the flow is closing) any transaction
    /// not yet logged.
    pub(crate) fn next_unlogged(&mut self, at_end: bool) -> Option<u64> {
        let t = self
            .txs
            .iter_mut()
            .find(|t| !t.logged && (at_end || t.is_complete()))?;
        t.logged = true;
        Some(t.id)
    }

    /// Mutable WebSocket frames of `dir`.
    pub fn websocket_mut(&mut self, dir: Direction) -> &mut WsParser {
        &mut self.dirs[dir.index()].ws
    }

    /// Recycles transactions that are complete, inspected (no pending changes) and, when EVE
    /// logging is on, logged.
    pub fn retire_inspected(&mut self) {
        let need_log = self.eve_logging;
        let files = &self.files;
        while self.txs.front().is_some_and(|t| {
            t.is_complete()
                && t.changes == 0
                && (!need_log || (t.logged && !files.iter().any(|f| f.unlogged_of(t.id))))
        }) {
            if let Some(t) = self.txs.pop_front() {
                self.pool.push(t);
            }
        }
    }

    fn tx_mut(&mut self, id: u64) -> Option<&mut HttpTx> {
        self.txs.iter_mut().find(|t| t.id == id)
    }

    fn new_tx(&mut self, events: &mut EventSet, ctr: &mut AppCounters) -> u64 {
        self.retire_inspected();
        if self.txs.len() >= self.max_txs {
            events.push(AppEvent::HttpRequestTooManyTransactions);
            ctr.http_limit += 1;
            if let Some(t) = self.txs.pop_front() {
                if self.eve_logging && !t.logged {
                    ctr.eve_unlogged += 1;
                }
                self.pool.push(t);
            }
        }
        let mut t = self.pool.pop().unwrap_or_default();
        let id = self.next_id;
        self.next_id += 1;
        t.reset(id);
        self.txs.push_back(t);
        ctr.tx_http += 1;
        id
    }

    /// Parses an in-order chunk of `dir`.
    pub fn parse(
        &mut self,
        cfg: &AppConfig,
        dir: Direction,
        mut data: &[u8],
        _now: Timestamp,
        events: &mut EventSet,
        ctr: &mut AppCounters,
    ) -> Progress {
        let mut result = Progress::NeedMore;
        // Every iteration consumes at least one byte or returns.
        while !data.is_empty() {
            let d = &mut self.dirs[dir.index()];
            let before = (data.len(), d.phase);
            match d.phase {
                Phase::Headers => {
                    // Blank lines between messages are skipped (libhtp does the same).
                    if d.hdr.is_empty() {
                        let n = data
                            .iter()
                            .take_while(|&&c| c == b'\r' || c == b'\n')
                            .count();
                        data = &data[n..];
                        if data.is_empty() {
                            break;
                        }
                    }
                    match self.collect_headers(cfg, dir, &mut data) {
                        Collect::NeedMore => {
                            let d = &self.dirs[dir.index()];
                            if !d.line_open && d.hdr.contains(&b'\n') {
                                self.start_line(dir, events, ctr);
                            }
                        }
                        Collect::Block => {
                            if self.headers_done(cfg, dir, events, ctr) {
                                result = Progress::Done;
                            }
                        }
                        Collect::Overflow => {
                            // Keep what fits as the message, then skip to the end of its block.
                            self.headers_done(cfg, dir, events, ctr);
                            let d = &mut self.dirs[dir.index()];
                            if matches!(d.phase, Phase::Headers | Phase::Body) {
                                d.phase = Phase::SkipHeaders;
                                if let Some(id) = d.tx {
                                    self.complete_msg(dir, id);
                                }
                            }
                            events.push(match dir {
                                Direction::ToServer => AppEvent::HttpRequestFieldTooLong,
                                Direction::ToClient => AppEvent::HttpResponseFieldTooLong,
                            });
                            ctr.http_limit += 1;
                            result = Progress::Error(AppError::LimitExceeded);
                        }
                    }
                }
                Phase::SkipHeaders => {
                    // Drop bytes up to the end of the oversized header block.
                    let mut i = 0;
                    let mut found = false;
                    while i < data.len() {
                        let c = data[i];
                        i += 1;
                        if c == b'\n' && (d.last == b'\n') {
                            found = true;
                            break;
                        }
                        if c != b'\r' {
                            d.last = c;
                        }
                    }
                    data = &data[i..];
                    if found {
                        d.phase = Phase::Headers;
                        d.last = b'\n';
                    }
                }
                Phase::Body => {
                    let r = self.body_bytes(cfg, dir, data, events, ctr);
                    data = &data[r..];
                    if self.dirs[dir.index()].phase != Phase::Body {
                        result = Progress::Done;
                    }
                }
                Phase::Resync => {
                    let n = self.resync(dir, data);
                    data = &data[n..];
                }
                Phase::WebSocket => {
                    let recycled = d.ws.unlogged_recycled;
                    // One id space for both directions' frames, in arrival order (Suricata's
                    // WebSocket transaction ids).
                    d.ws.next_id = self.ws_next_id;
                    let n = d.ws.parse(dir, data, cfg.websocket_max_payload, events);
                    self.ws_next_id = d.ws.next_id;
                    ctr.tx_websocket += n as u64;
                    if self.eve_logging {
                        ctr.eve_unlogged += d.ws.unlogged_recycled - recycled;
                    }
                    data = &[];
                    if n > 0 {
                        result = Progress::Done;
                    }
                }
                Phase::Dead => {
                    return Progress::Error(AppError::Abandoned);
                }
            }
            if (data.len(), self.dirs[dir.index()].phase) == before && !data.is_empty() {
                // Every phase consumes a byte or changes phase; stop rather than spin if not.
                break;
            }
        }
        result
    }

    /// Appends header-block bytes to the direction's buffer; finds the empty line ending it.
    fn collect_headers(&mut self, cfg: &AppConfig, dir: Direction, data: &mut &[u8]) -> Collect {
        let d = &mut self.dirs[dir.index()];
        let old = d.hdr.len();
        let room = cfg.http_max_header_bytes.saturating_sub(old);
        let take = data.len().min(room.max(1));
        d.hdr.extend_from_slice(&data[..take]);
        let from = d.scan;
        let end = find_block_end(&d.hdr, from, dir == Direction::ToServer);
        match end {
            Some(e) => {
                *data = &data[e - old..];
                d.hdr.truncate(e);
                d.scan = 0;
                Collect::Block
            }
            None => {
                *data = &data[take..];
                d.scan = d.hdr.len().saturating_sub(2);
                if d.hdr.len() >= cfg.http_max_header_bytes {
                    d.last = d.hdr.last().copied().unwrap_or(0);
                    Collect::Overflow
                } else {
                    Collect::NeedMore
                }
            }
        }
    }

    /// The header block in `dirs[dir].hdr` is complete: parse it into a transaction.
    /// Returns true if a message completed.
    fn headers_done(
        &mut self,
        cfg: &AppConfig,
        dir: Direction,
        events: &mut EventSet,
        ctr: &mut AppCounters,
    ) -> bool {
        let id = self.select_tx(dir, events, ctr);
        self.dirs[dir.index()].line_open = false;
        self.dirs[dir.index()].scan = 0;
        let mut hdr = core::mem::take(&mut self.dirs[dir.index()].hdr);
        let Some(pos) = self.txs.iter().position(|t| t.id == id) else {
            self.dirs[dir.index()].hdr = hdr;
            return false;
        };
        self.headers_into(cfg, dir, id, pos, &mut hdr, events, ctr)
    }

    /// The transaction the message starting in `dir` belongs to: the one its line opened, a
    /// new one for a request, or the oldest without a response.
    fn select_tx(&mut self, dir: Direction, events: &mut EventSet, ctr: &mut AppCounters) -> u64 {
        let d = &self.dirs[dir.index()];
        if d.line_open {
            if let Some(id) = d.tx.filter(|id| self.tx(*id).is_some()) {
                return id;
            }
        }
        match dir {
            Direction::ToServer => self.new_tx(events, ctr),
            Direction::ToClient => match self.dirs[1].tx.filter(|id| {
                self.tx(*id)
                    .is_some_and(|t| t.response.progress == MsgProgress::None)
            }) {
                Some(id) => id,
                None => match self
                    .txs
                    .iter()
                    .find(|t| t.response.progress == MsgProgress::None)
                {
                    Some(t) => t.id,
                    None => {
                        events.push(AppEvent::HttpUnableToMatchResponse);
                        self.new_tx(events, ctr)
                    }
                },
            },
        }
    }

    /// The first line of a message arrived before its headers completed: open the
    /// transaction now so line buffers (`http.uri`, `http.method`, ...) can be inspected.
    fn start_line(&mut self, dir: Direction, events: &mut EventSet, ctr: &mut AppCounters) {
        let id = self.select_tx(dir, events, ctr);
        let d = &mut self.dirs[dir.index()];
        let Some(eol) = d.hdr.iter().position(|&c| c == b'\n') else {
            return;
        };
        d.line_open = true;
        d.tx = Some(id);
        let line = strip_cr(&d.hdr[..eol]);
        let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) else {
            return;
        };
        // Line anomalies are reported once, when the whole block is parsed.
        let mut line_events = EventSet::default();
        match dir {
            Direction::ToServer => {
                tx.request.set_line(line, true, &mut line_events);
                tx.request.progress = MsgProgress::Line;
                finish_request(tx, &mut line_events);
                tx.changes |= change::REQUEST_LINE;
            }
            Direction::ToClient => {
                tx.response.set_line(line, false, &mut line_events);
                tx.response.progress = MsgProgress::Line;
                tx.changes |= change::RESPONSE_LINE;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn headers_into(
        &mut self,
        cfg: &AppConfig,
        dir: Direction,
        id: u64,
        pos: usize,
        hdr: &mut Vec<u8>,
        events: &mut EventSet,
        ctr: &mut AppCounters,
    ) -> bool {
        let tx = &mut self.txs[pos];
        let framing;
        match dir {
            Direction::ToServer => {
                parse_block(hdr, &mut tx.request, true, cfg, &mut self.scratch, events);
                finish_request(tx, events);
                tx.changes |= change::REQUEST_HEADERS;
                framing = message_framing(&mut tx.request, true, events).unwrap_or(Framing::None);
            }
            Direction::ToClient => {
                parse_block(hdr, &mut tx.response, false, cfg, &mut self.scratch, events);
                let code = tx.status().unwrap_or(0);
                if (100..200).contains(&code) && code != 101 {
                    // Interim response: the final one replaces it.
                    tx.response.reset();
                    hdr.clear();
                    self.dirs[1].hdr = core::mem::take(hdr);
                    self.dirs[1].line_open = false;
                    self.dirs[1].tx = Some(id);
                    return false;
                }
                tx.changes |= change::RESPONSE_HEADERS;
                if code == 101 && is_ws_upgrade(tx) {
                    tx.response.progress = MsgProgress::Complete;
                    tx.request.progress = MsgProgress::Complete;
                    tx.changes |= change::RESPONSE_COMPLETE | change::REQUEST_COMPLETE;
                    self.upgraded = true;
                    for d in &mut self.dirs {
                        d.phase = Phase::WebSocket;
                    }
                    hdr.clear();
                    self.dirs[1].hdr = core::mem::take(hdr);
                    return true;
                }
                framing = response_framing(tx, code, events);
            }
        }
        hdr.clear();
        let d = &mut self.dirs[dir.index()];
        d.hdr = core::mem::take(hdr);
        d.tx = Some(id);
        d.decomp = None;
        if dir == Direction::ToClient && framing != Framing::None {
            let (coding, layers) = self.txs[pos]
                .response
                .header(b"content-encoding")
                .map(body::parse_coding)
                .unwrap_or((Coding::Identity, 0));
            if layers > 1 {
                events.push(AppEvent::HttpTooManyEncodingLayers);
            }
            if coding != Coding::Identity {
                self.dirs[1].decomp = Some(Decompressor::new(
                    coding,
                    cfg.http_decompress_max,
                    cfg.http_decompress_ratio,
                ));
            }
        }
        let d = &mut self.dirs[dir.index()];
        if framing == Framing::None {
            d.phase = Phase::Headers;
            self.complete_msg(dir, id);
            true
        } else {
            d.body = BodyDecoder::new(framing);
            d.phase = Phase::Body;
            self.open_file(cfg, dir, pos, ctr);
            false
        }
    }

    /// A body starts: a response's, or a `PUT` request's, is a file named by its
    /// `Content-Disposition` or else the path of the normalized request URI (libhtp's
    /// `parsed_uri->path`, percent-decoded).
    fn open_file(&mut self, cfg: &AppConfig, dir: Direction, pos: usize, ctr: &mut AppCounters) {
        let tx = &self.txs[pos];
        let msg = match dir {
            Direction::ToServer if tx.method().eq_ignore_ascii_case(b"PUT") => &tx.request,
            Direction::ToServer => {
                // Other request bodies carry files only as multipart parts.
                let b = tx
                    .request
                    .header(b"content-type")
                    .and_then(multipart::boundary);
                if let Some(b) = b {
                    self.upload.start(b, tx.id);
                }
                return;
            }
            Direction::ToClient => &tx.response,
        };
        let name = msg
            .header(b"content-disposition")
            .and_then(crate::files::name::content_disposition_filename)
            .unwrap_or_else(|| crate::files::name::uri_path(tx.uri()));
        self.files[dir.index()].open(name, tx.id, &cfg.files, &mut ctr.files);
    }

    /// Ends `dir`'s file, if one is open: `state` unless it carried nothing.
    fn close_file(&mut self, dir: Direction, state: FileState, ctr: &mut AppCounters) {
        let f = &mut self.files[dir.index()];
        if dir == Direction::ToServer {
            // A part the body's end left open was cut short.
            self.upload.end(f, &mut ctr.files);
        }
        if !f.forget_empty(&mut ctr.files) {
            f.close(state, &mut ctr.files);
        }
    }

    fn complete_msg(&mut self, dir: Direction, id: u64) {
        let connect_ok = self.tx_mut(id).is_some_and(|tx| {
            match dir {
                Direction::ToServer => {
                    tx.request.progress = MsgProgress::Complete;
                    tx.changes |= change::REQUEST_COMPLETE;
                }
                Direction::ToClient => {
                    tx.response.progress = MsgProgress::Complete;
                    tx.changes |= change::RESPONSE_COMPLETE;
                }
            }
            dir == Direction::ToClient
                && tx.method().eq_ignore_ascii_case(b"CONNECT")
                && tx.status().is_some_and(|c| (200..300).contains(&c))
        });
        if connect_ok {
            // A tunnel: whatever follows is not HTTP.
            for d in &mut self.dirs {
                d.phase = Phase::Dead;
            }
        }
    }

    /// Feeds body bytes; returns how many were consumed.
    fn body_bytes(
        &mut self,
        cfg: &AppConfig,
        dir: Direction,
        data: &[u8],
        events: &mut EventSet,
        ctr: &mut AppCounters,
    ) -> usize {
        let d = &mut self.dirs[dir.index()];
        let id = d.tx.unwrap_or(u64::MAX);
        let pos = self.txs.iter().position(|t| t.id == id);
        let mut decoder = d.body;
        let mut decomp = d.decomp.take();
        let mut inflate = Inflate::Ok;
        let file = &mut self.files[dir.index()];
        let file_ctr = &mut ctr.files;
        let mut upload =
            (dir == Direction::ToServer && self.upload.is_active()).then_some(&mut self.upload);
        let limits = &cfg.files;
        let step = {
            let mut msg = pos.map(|p| {
                let tx = &mut self.txs[p];
                match dir {
                    Direction::ToServer => (&mut tx.request, cfg.http_request_body_limit),
                    Direction::ToClient => (&mut tx.response, cfg.http_response_body_limit),
                }
            });
            decoder.push(data, |piece| {
                let Some((m, limit)) = msg.as_mut() else {
                    return;
                };
                let mut store = |bytes: &[u8]| {
                    match upload.as_deref_mut() {
                        Some(u) => u.feed(bytes, file, limits, file_ctr),
                        None => file.append(bytes, file_ctr),
                    }
                    m.body_len += bytes.len() as u64;
                    let room = limit.saturating_sub(m.body.len());
                    if bytes.len() > room {
                        m.body_truncated = true;
                    }
                    m.body.extend_from_slice(&bytes[..bytes.len().min(room)]);
                };
                match decomp.as_mut() {
                    Some(z) => {
                        let r = z.push(piece, &mut store);
                        if r != Inflate::Ok {
                            inflate = r;
                        }
                    }
                    None => store(piece),
                }
            })
        };
        match inflate {
            Inflate::Ok => {}
            Inflate::Failed => {
                events.push(AppEvent::HttpGzipDecompressionFailed);
                ctr.http_decompression_failed += 1;
            }
            Inflate::Bomb => {
                events.push(AppEvent::HttpCompressionBomb);
                ctr.http_compression_bomb += 1;
                if let Some(p) = pos {
                    self.txs[p].decompression_cut = true;
                }
            }
        }
        if let Some(p) = pos {
            let tx = &mut self.txs[p];
            let wire = (step.consumed - step.trailer.min(step.consumed)) as u64;
            match dir {
                Direction::ToServer => tx.request.message_len += wire,
                Direction::ToClient => tx.response.message_len += wire,
            }
            if step.consumed > 0 {
                self.txs[p].changes |= match dir {
                    Direction::ToServer => change::REQUEST_BODY,
                    Direction::ToClient => change::RESPONSE_BODY,
                };
            }
        }
        if step.chunk_ext && dir == Direction::ToClient {
            events.push(AppEvent::HttpResponseChunkExtension);
        }
        let d = &mut self.dirs[dir.index()];
        d.body = decoder;
        d.decomp = decomp;
        if step.bad_chunk {
            events.push(match dir {
                Direction::ToServer => AppEvent::HttpInvalidRequestChunkLen,
                Direction::ToClient => AppEvent::HttpInvalidResponseChunkLen,
            });
            ctr.error_http += 1;
            d.phase = Phase::Resync;
            d.decomp = None;
            // Resync scans on from the bad byte, so where chunks end does not matter.
            d.last = data[..step.consumed].last().copied().unwrap_or(d.last);
            self.close_file(dir, FileState::Truncated, ctr);
            self.complete_msg(dir, id);
            return step.consumed;
        }
        if step.complete {
            d.phase = Phase::Headers;
            d.decomp = None;
            self.close_file(dir, FileState::Closed, ctr);
            self.complete_msg(dir, id);
        }
        step.consumed
    }

    /// Skips to the start of a line that begins a message again.
    fn resync(&mut self, dir: Direction, data: &[u8]) -> usize {
        use super::probe::{probe_http, Probe};
        let d = &mut self.dirs[dir.index()];
        // A possible message start held from the previous chunk, too short to judge then. Every
        // line start inside it is tried against it plus the new bytes, so the outcome does not
        // depend on where the chunk ended.
        if !d.hdr.is_empty() {
            let mut held = core::mem::take(&mut d.hdr);
            for start in 0..held.len() {
                if start > 0 && held[start - 1] != b'\n' {
                    continue;
                }
                let mut buf = [0u8; RESYNC_WINDOW];
                let n = (held.len() - start).min(RESYNC_WINDOW);
                buf[..n].copy_from_slice(&held[start..start + n]);
                let m = (RESYNC_WINDOW - n).min(data.len());
                buf[n..n + m].copy_from_slice(&data[..m]);
                match probe_http(dir, &buf[..n + m]) {
                    Probe::Match => {
                        // Blank lines before a message are skipped by the header collector.
                        let blank = held[start..]
                            .iter()
                            .take_while(|&&c| c == b'\r' || c == b'\n')
                            .count();
                        held.drain(..start + blank);
                        d.hdr = held;
                        d.phase = Phase::Headers;
                        d.scan = 0;
                        return 0;
                    }
                    Probe::NeedMore if n + m < RESYNC_WINDOW => {
                        held.drain(..start);
                        held.extend_from_slice(data);
                        d.hdr = held;
                        return data.len();
                    }
                    _ => {}
                }
            }
            d.last = held.last().copied().unwrap_or(d.last);
            held.clear();
            d.hdr = held;
        }
        let mut prev = d.last;
        for (i, &c) in data.iter().enumerate() {
            if prev == b'\n' {
                match probe_http(dir, &data[i..]) {
                    Probe::Match => {
                        d.phase = Phase::Headers;
                        d.hdr.clear();
                        d.scan = 0;
                        return i;
                    }
                    Probe::NeedMore if data.len() - i < RESYNC_WINDOW => {
                        // The tail may start a message: hold it for the next chunk.
                        d.hdr.clear();
                        d.hdr.extend_from_slice(&data[i..]);
                        return data.len();
                    }
                    _ => {}
                }
            }
            prev = c;
        }
        d.last = prev;
        data.len()
    }

    /// Reassembly skipped `len` bytes of `dir`.
    pub fn gap(&mut self, dir: Direction, len: u64, ctr: &mut AppCounters) {
        let d = &mut self.dirs[dir.index()];
        match d.phase {
            Phase::Body => {
                if let Framing::Length(rem) = d.body.framing() {
                    if len < rem {
                        // The body continues after the hole; keep its framing.
                        d.body = BodyDecoder::new(Framing::Length(rem - len));
                        d.decomp = None;
                        self.files[dir.index()].gap(len);
                        let id = d.tx;
                        if let Some(tx) = id.and_then(|id| self.tx_mut(id)) {
                            let m = match dir {
                                Direction::ToServer => &mut tx.request,
                                Direction::ToClient => &mut tx.response,
                            };
                            m.body_truncated = true;
                            m.body_len += len;
                            m.message_len += len;
                        }
                        return;
                    }
                }
                if d.body.framing() == Framing::UntilClose {
                    d.decomp = None;
                    self.files[dir.index()].gap(len);
                    return;
                }
                // The file ends where its framing said; a longer hole reaches past it.
                let in_file = match d.body.framing() {
                    Framing::Length(rem) => len.min(rem),
                    _ => len,
                };
                let id = d.tx;
                d.phase = Phase::Resync;
                d.decomp = None;
                d.last = 0;
                let f = &mut self.files[dir.index()];
                f.gap(in_file);
                f.close(FileState::Truncated, &mut ctr.files);
                if dir == Direction::ToServer {
                    self.upload.end(f, &mut ctr.files);
                }
                if let Some(id) = id {
                    self.complete_msg(dir, id);
                }
            }
            Phase::WebSocket | Phase::Dead => {
                d.phase = Phase::Dead;
            }
            _ => {
                d.hdr.clear();
                d.scan = 0;
                d.phase = Phase::Resync;
                d.last = 0;
            }
        }
        ctr.error_http += 1;
    }

    /// `dir` closed: a body delimited by close is complete.
    pub fn end(
        &mut self,
        cfg: &AppConfig,
        dir: Direction,
        _now: Timestamp,
        events: &mut EventSet,
        ctr: &mut AppCounters,
    ) {
        let d = &self.dirs[dir.index()];
        if d.phase == Phase::Headers && d.hdr.iter().any(|&c| !matches!(c, b'\r' | b'\n')) {
            // Headers cut short by the close: keep what arrived, as libhtp does.
            self.headers_done(cfg, dir, events, ctr);
        }
        let d = &mut self.dirs[dir.index()];
        if d.phase == Phase::Body {
            if let Some(id) = d.tx {
                // Only a body delimited by the close is complete at the close.
                let state = match d.body.framing() {
                    Framing::UntilClose => FileState::Closed,
                    _ => FileState::Truncated,
                };
                d.phase = Phase::Headers;
                d.decomp = None;
                self.close_file(dir, state, ctr);
                self.complete_msg(dir, id);
            }
        }
        // Whatever is still open ends with the flow.
        self.close_file(dir, FileState::Truncated, ctr);
    }
}

enum Collect {
    NeedMore,
    Block,
    Overflow,
}

#[cfg(test)]
mod tests;
