//! Application-layer parsers over reassembled, in-order stream data (HTTP, DNS, TLS, WebSocket).
//!
//! The flow layer owns one [`AppLayer`] per flow and calls it sans-I/O:
//! - TCP: [`AppLayer::on_stream`] with in-order chunks per [`Direction`], [`AppLayer::on_gap`]
//!   when reassembly skipped bytes, [`AppLayer::on_end`] when a direction closed;
//! - UDP: [`AppLayer::on_datagram`] with each whole payload.
//!
//! The first bytes of a flow go through protocol detection ([`probe`]); once a protocol is
//! known, its parser ([`http`], [`dns`], [`tls`], and [`websocket`] after an HTTP upgrade)
//! builds transactions whose fields are the rule buffers ([`buffers`]). Parser anomalies become
//! [`AppEvent`]s (Suricata's `app-layer-event` names) and counters ([`AppCounters`]); nothing
//! panics on hostile bytes, every buffer has a cap, and loops driven by packet bytes are
//! bounded. EVE records (`http`, `dns`, `tls`, `websocket`, alert metadata) are written by
//! [`eve`] straight into the worker's reused output buffer.
//!
//! Contract with the detection stage (per flow, after each call above):
//! - [`AppLayer::proto`] / [`AppLayer::original_proto`] answer `app-layer-protocol`;
//!   [`AppLayer::events`] answers `app-layer-event` (cleared by the caller once inspected).
//! - [`AppState::Http`]: iterate `txs_mut()`, inspect a transaction when
//!   [`http::HttpTx::take_changes`] is non-zero (line, headers, body, completion bits), read
//!   buffers with [`BufferId::http`] / [`BufferId::http_multi`]; inspected, complete
//!   transactions are recycled by the parser when it needs room.
//! - [`AppState::Dns`]: each message is a transaction with a `changed` flag;
//!   [`BufferId::dns`] gives `dns.query` instances.
//! - [`AppState::Tls`]: one [`tls::TlsInfo`] per flow with a `changed` flag; [`BufferId::tls`].
//! - WebSocket frames: [`http::HttpState::websocket_mut`], [`BufferId::websocket`].
//!
//! Contract with EVE output (with [`AppConfig::eve_logging`] on):
//! - after each packet of the flow (after detection): `while let Some(r) = app.next_record()`
//!   → [`eve::write_app_record`] with the flow's client → server [`crate::eve::Envelope`];
//! - when the flow ends (after [`AppLayer::on_end`] for both directions): the same with
//!   [`AppLayer::next_record_at_end`], which also yields what never completed;
//! - transactions are recycled only once logged, so records are never lost to retirement.

pub mod buffers;
pub mod dns;
pub mod eve;
pub mod ftp;
pub mod http;
pub mod mime;
pub mod pop3;
pub mod probe;
pub mod smtp;
pub mod tls;
pub mod websocket;

use crate::counters::CounterSet;
use crate::time::Timestamp;

pub use buffers::BufferId;

/// Direction of a chunk relative to the flow's initiator (the one type the workspace uses).
pub use vocab::Direction;

/// Transport carrying the application protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP stream (in-order chunks).
    Tcp,
    /// UDP datagrams.
    Udp,
}

/// Application protocol of a flow, with Suricata's names (the workspace's one table).
pub use vocab::AppProto;

/// Outcome of feeding bytes to a parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// All bytes consumed; at least one unit (message, record, transaction) completed.
    Done,
    /// All bytes consumed; the current unit needs more bytes.
    NeedMore,
    /// The bytes are not this protocol or broke its framing; the parser skips to a resync point
    /// (or stops parsing this direction) and an anomaly was recorded.
    Error(AppError),
}

/// Why a parser gave up on bytes (hot path: a small `Copy` enum that becomes a counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AppError {
    /// Framing or syntax the parser cannot follow.
    Malformed,
    /// A configured cap (header bytes, transactions, records) was exceeded.
    LimitExceeded,
    /// The direction stopped being parsed after an unrecoverable error or gap.
    Abandoned,
}

macro_rules! app_events {
    ($( $variant:ident => $name:literal, )*) => {
        /// Parser anomalies, named as Suricata's `app-layer-event:<proto>.<event>` keyword names
        /// them (from its `rules/*-events.rules`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum AppEvent { $( #[doc = $name] $variant, )* }

        impl AppEvent {
            /// Every event, for counters and name lookups.
            pub const ALL: &'static [AppEvent] = &[ $( AppEvent::$variant, )* ];
            /// `proto.event_name` as the `app-layer-event` keyword spells it.
            pub const fn name(self) -> &'static str {
                match self { $( AppEvent::$variant => $name, )* }
            }
        }
    };
}

app_events! {
    HttpRequestLineInvalid => "http.request_line_invalid",
    HttpRequestLineLeadingWhitespace => "http.request_line_leading_whitespace",
    HttpRequestLineMissingProtocol => "http.request_line_missing_protocol",
    HttpMethodDelimNonCompliant => "http.method_delim_non_compliant",
    HttpUriDelimNonCompliant => "http.uri_delim_non_compliant",
    HttpResponseLineInvalid => "http.response_line_invalid",
    HttpInvalidResponseCode => "http.invalid_response_code",
    HttpRequestFieldMissingColon => "http.request_field_missing_colon",
    HttpResponseFieldMissingColon => "http.response_field_missing_colon",
    HttpRequestHeaderInvalid => "http.request_header_invalid",
    HttpResponseHeaderInvalid => "http.response_header_invalid",
    HttpInvalidRequestFieldFolding => "http.invalid_request_field_folding",
    HttpInvalidResponseFieldFolding => "http.invalid_response_field_folding",
    HttpRequestFieldTooLong => "http.request_field_too_long",
    HttpResponseFieldTooLong => "http.response_field_too_long",
    HttpRequestTooManyHeaders => "http.request_too_many_headers",
    HttpResponseTooManyHeaders => "http.response_too_many_headers",
    HttpMissingHostHeader => "http.missing_host_header",
    HttpHostHeaderAmbiguous => "http.host_header_ambiguous",
    HttpInvalidRequestChunkLen => "http.invalid_request_chunk_len",
    HttpInvalidResponseChunkLen => "http.invalid_response_chunk_len",
    HttpInvalidContentLengthRequest => "http.invalid_content_length_field_in_request",
    HttpInvalidContentLengthResponse => "http.invalid_content_length_field_in_response",
    HttpDuplicateContentLengthRequest => "http.duplicate_content_length_field_in_request",
    HttpDuplicateContentLengthResponse => "http.duplicate_content_length_field_in_response",
    HttpInvalidTransferEncodingRequest => "http.invalid_transfer_encoding_value_in_request",
    HttpInvalidTransferEncodingResponse => "http.invalid_transfer_encoding_value_in_response",
    HttpUnableToMatchResponse => "http.unable_to_match_response_to_request",
    HttpGzipDecompressionFailed => "http.gzip_decompression_failed",
    HttpCompressionBomb => "http.compression_bomb",
    HttpTooManyEncodingLayers => "http.too_many_encoding_layers",
    HttpAbnormalCeHeader => "http.abnormal_ce_header",
    HttpResponseChunkExtension => "http.response_chunk_extension",
    HttpRequestTooManyTransactions => "http.too_many_transactions",
    HttpUnknownError => "http.unknown_error",
    DnsMalformedData => "dns.malformed_data",
    DnsNotARequest => "dns.not_a_request",
    DnsNotAResponse => "dns.not_a_response",
    DnsZFlagSet => "dns.z_flag_set",
    DnsInfiniteLoop => "dns.infinite_loop",
    DnsTooManyLabels => "dns.too_many_labels",
    DnsNameTooLong => "dns.name_too_long",
    DnsInvalidAdditionals => "dns.invalid_additionals",
    DnsInvalidAuthorities => "dns.invalid_authorities",
    DnsTooManyRecords => "dns.too_many_records",
    TlsInvalidRecordType => "tls.invalid_record_type",
    TlsInvalidRecordVersion => "tls.invalid_record_version",
    TlsInvalidRecordLength => "tls.invalid_record_length",
    TlsRecordOverflow => "tls.record_overflow",
    TlsInvalidHandshakeMessage => "tls.invalid_handshake_message",
    TlsInvalidCertificate => "tls.invalid_certificate",
    TlsCertificateInvalidLength => "tls.certificate_invalid_length",
    TlsTooManyRecords => "tls.too_many_records",
    WebSocketTooLongPayload => "websocket.too_long_payload",
    WebSocketInvalidOpcode => "websocket.invalid_opcode",
    SmtpInvalidReply => "smtp.INVALID_REPLY",
    SmtpUnableToMatchReplyWithRequest => "smtp.UNABLE_TO_MATCH_REPLY_WITH_REQUEST",
    SmtpInvalidPipelinedSequence => "smtp.INVALID_PIPELINED_SEQUENCE",
    SmtpBdatChunkLenExceeded => "smtp.BDAT_CHUNK_LEN_EXCEEDED",
    SmtpNoServerWelcomeMessage => "smtp.NO_SERVER_WELCOME_MESSAGE",
    SmtpTlsRejected => "smtp.TLS_REJECTED",
    SmtpDataCommandRejected => "smtp.DATA_COMMAND_REJECTED",
    SmtpTruncatedLine => "smtp.TRUNCATED_LINE",
    SmtpDuplicateFields => "smtp.DUPLICATE_FIELDS",
    SmtpMimeParseFailed => "smtp.MIME_PARSE_FAILED",
    SmtpMimeMalformedMsg => "smtp.MIME_MALFORMED_MSG",
    SmtpMimeInvalidBase64 => "smtp.MIME_INVALID_BASE64",
    SmtpMimeInvalidQp => "smtp.MIME_INVALID_QP",
    SmtpMimeLongLine => "smtp.MIME_LONG_LINE",
    SmtpMimeLongHeaderName => "smtp.MIME_LONG_HEADER_NAME",
    SmtpMimeLongHeaderValue => "smtp.MIME_LONG_HEADER_VALUE",
    SmtpMimeLongBoundary => "smtp.MIME_LONG_BOUNDARY",
    SmtpMimeLongFilename => "smtp.MIME_LONG_FILENAME",
    Pop3InvalidResponse => "pop3.invalid_response",
    StreamGap => "applayer.gap",
    FtpRequestCommandTooLong => "ftp.request_command_too_long",
    FtpResponseCommandTooLong => "ftp.response_command_too_long",
    FtpBounce => "ftp.bounce",
}

impl AppEvent {
    /// Looks an event up by its `app-layer-event` name (`http.request_line_invalid`),
    /// ignoring case as Suricata does (its C parsers name events in capitals).
    pub fn from_name(name: &str) -> Option<AppEvent> {
        AppEvent::ALL
            .iter()
            .copied()
            .find(|e| e.name().eq_ignore_ascii_case(name))
    }
}

/// Maximum anomaly events kept per flow until the detection stage takes them.
pub const MAX_EVENTS: usize = 16;

/// A bounded set of anomaly events (no allocation): repeated events are kept once, events past
/// [`MAX_EVENTS`] are counted as dropped.
#[derive(Clone, Debug, Default)]
pub struct EventSet {
    events: [Option<AppEvent>; MAX_EVENTS],
    len: usize,
    dropped: u64,
}

impl EventSet {
    /// Records `e` once.
    pub fn push(&mut self, e: AppEvent) {
        if self.contains(e) {
            return;
        }
        if self.len == MAX_EVENTS {
            self.dropped += 1;
            return;
        }
        self.events[self.len] = Some(e);
        self.len += 1;
    }
    /// True if `e` was recorded.
    pub fn contains(&self, e: AppEvent) -> bool {
        self.iter().any(|x| x == e)
    }
    /// The recorded events in order.
    pub fn iter(&self) -> impl Iterator<Item = AppEvent> + '_ {
        self.events[..self.len].iter().flatten().copied()
    }
    /// Number of distinct events recorded.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True if none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Events that did not fit.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
    /// Forgets the events (after the detection stage inspected them).
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// Limits of the app layer (all per flow unless said otherwise).
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// HTTP: max bytes of a request or response line plus headers.
    pub http_max_header_bytes: usize,
    /// HTTP: max header lines per message.
    pub http_max_headers: usize,
    /// HTTP: max open (unanswered or uninspected) transactions per flow.
    pub http_max_txs: usize,
    /// HTTP: request body bytes kept for `http.request_body` (libhtp's request-body-limit).
    pub http_request_body_limit: usize,
    /// HTTP: response body bytes kept for `http.response_body`/`file.data`.
    pub http_response_body_limit: usize,
    /// HTTP: decompressed bytes allowed per compressed input byte before a body is cut off as a
    /// compression bomb.
    pub http_decompress_ratio: usize,
    /// HTTP: decompressed bytes produced per body at most (then cut off and counted).
    pub http_decompress_max: usize,
    /// DNS: max records per message section parsed.
    pub dns_max_records: usize,
    /// TLS: max bytes of one handshake message (certificate chains).
    pub tls_max_handshake: usize,
    /// WebSocket: payload bytes kept per frame for `websocket.payload`.
    pub websocket_max_payload: usize,
    /// Probing: bytes per direction looked at before detection gives up.
    pub probe_max_bytes: usize,
    /// EVE app-layer records are written: a transaction is kept until it was logged
    /// ([`AppLayer::next_record`]), not only until it was inspected.
    pub eve_logging: bool,
    /// TLS records carry JA3/JA3S and JA4 for every handshake, not only when a rule asks
    /// (Suricata's `ja3-fingerprints`/`ja4-fingerprints`; retro-hunting indexes them).
    pub tls_fingerprints: bool,
    /// File tracking caps ([`crate::files`]).
    pub files: crate::files::FileLimits,
    /// FTP: bytes of a command or reply line kept (Suricata's `ftp.max-line-length`).
    pub ftp_max_line: usize,
    /// FTP: transactions kept per control flow.
    pub ftp_max_txs: usize,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            http_max_header_bytes: 18_000,
            http_max_headers: 256,
            http_max_txs: 64,
            http_request_body_limit: 100 * 1024,
            http_response_body_limit: 100 * 1024,
            http_decompress_ratio: 2048,
            http_decompress_max: 1024 * 1024,
            dns_max_records: 256,
            tls_max_handshake: 64 * 1024,
            websocket_max_payload: 64 * 1024,
            probe_max_bytes: 4096,
            eve_logging: false,
            tls_fingerprints: false,
            files: crate::files::FileLimits::default(),
            ftp_max_line: 4096,
            ftp_max_txs: 64,
        }
    }
}

/// Per-worker app-layer counters (Suricata's stats names).
#[derive(Clone, Debug, Default)]
pub struct AppCounters {
    /// `app_layer.flow.http`.
    pub flow_http: u64,
    /// `app_layer.flow.dns_udp`.
    pub flow_dns_udp: u64,
    /// `app_layer.flow.dns_tcp`.
    pub flow_dns_tcp: u64,
    /// `app_layer.flow.tls`.
    pub flow_tls: u64,
    /// `app_layer.flow.smtp`.
    pub flow_smtp: u64,
    /// `app_layer.flow.ssh`.
    pub flow_ssh: u64,
    /// `app_layer.flow.ftp`.
    pub flow_ftp: u64,
    /// `app_layer.flow.imap` (detected; not parsed).
    pub flow_imap: u64,
    /// `app_layer.flow.pop3` (detected; not parsed).
    pub flow_pop3: u64,
    /// `app_layer.flow.websocket`.
    pub flow_websocket: u64,
    /// `app_layer.flow.failed_tcp`.
    pub flow_failed_tcp: u64,
    /// `app_layer.flow.failed_udp`.
    pub flow_failed_udp: u64,
    /// `app_layer.tx.http`.
    pub tx_http: u64,
    /// `app_layer.tx.dns_udp`.
    pub tx_dns_udp: u64,
    /// `app_layer.tx.dns_tcp`.
    pub tx_dns_tcp: u64,
    /// `app_layer.tx.tls`.
    pub tx_tls: u64,
    /// `app_layer.tx.websocket`.
    pub tx_websocket: u64,
    /// `app_layer.tx.smtp`.
    pub tx_smtp: u64,
    /// `app_layer.error.smtp.parser`.
    pub error_smtp: u64,
    /// `app_layer.tx.pop3`.
    pub tx_pop3: u64,
    /// `app_layer.error.pop3.parser`: response lines that are not POP3.
    pub error_pop3: u64,
    /// `app_layer.error.pop3.limit`: lines cut, arguments or data lines not kept.
    pub pop3_limit: u64,
    /// `app_layer.error.http.parser`.
    pub error_http: u64,
    /// `app_layer.error.dns_udp.parser` + TCP.
    pub error_dns: u64,
    /// `app_layer.error.tls.parser`.
    pub error_tls: u64,
    /// `app_layer.error.websocket.parser`.
    pub error_websocket: u64,
    /// `app_layer.error.*.gap`: gaps handed to a parser.
    pub error_gap: u64,
    /// `app_layer.error.http.limit`: header, transaction and body caps hit.
    pub http_limit: u64,
    /// `http.compression_bomb`: bodies cut off by ratio or size caps.
    pub http_compression_bomb: u64,
    /// `http.decompression_failed`: corrupt gzip/deflate bodies.
    pub http_decompression_failed: u64,
    /// `app_layer.events.dropped`: anomaly events past the per-flow cap.
    pub events_dropped: u64,
    /// `app_layer.eve.unlogged`: transactions recycled (past a per-flow cap) before their EVE
    /// record was written.
    pub eve_unlogged: u64,
    /// `files.*`: files the parsers carried.
    pub files: crate::files::FileCounters,
    /// `app_layer.flow.ftp-data`.
    pub flow_ftp_data: u64,
    /// `app_layer.tx.ftp`.
    pub tx_ftp: u64,
    /// `ftp.limit`: lines cut at the cap, reply lines or transactions past their caps.
    pub ftp_limit: u64,
    /// `ftp.unknown_command`: requests naming no FTP command.
    pub ftp_unknown_command: u64,
    /// `ftp.reply_without_command`: replies no command waited for (banners included).
    pub ftp_reply_without_command: u64,
    /// `ftp.bounce`: PORT/EPRT commands naming another host than the client.
    pub ftp_bounce: u64,
    /// `ftp.expect.*`: the worker's expected data connections.
    pub ftp_expect: ftp::expect::ExpectCounters,
}

impl CounterSet for AppCounters {
    fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        f("app_layer.flow.http", self.flow_http);
        f("app_layer.flow.dns_udp", self.flow_dns_udp);
        f("app_layer.flow.dns_tcp", self.flow_dns_tcp);
        f("app_layer.flow.tls", self.flow_tls);
        f("app_layer.flow.smtp", self.flow_smtp);
        f("app_layer.flow.ssh", self.flow_ssh);
        f("app_layer.flow.ftp", self.flow_ftp);
        f("app_layer.flow.imap", self.flow_imap);
        f("app_layer.flow.pop3", self.flow_pop3);
        f("app_layer.flow.websocket", self.flow_websocket);
        f("app_layer.flow.failed_tcp", self.flow_failed_tcp);
        f("app_layer.flow.failed_udp", self.flow_failed_udp);
        f("app_layer.tx.http", self.tx_http);
        f("app_layer.tx.dns_udp", self.tx_dns_udp);
        f("app_layer.tx.dns_tcp", self.tx_dns_tcp);
        f("app_layer.tx.tls", self.tx_tls);
        f("app_layer.tx.websocket", self.tx_websocket);
        f("app_layer.tx.smtp", self.tx_smtp);
        f("app_layer.error.smtp.parser", self.error_smtp);
        f("app_layer.tx.pop3", self.tx_pop3);
        f("app_layer.error.pop3.parser", self.error_pop3);
        f("app_layer.error.pop3.limit", self.pop3_limit);
        f("app_layer.error.http.parser", self.error_http);
        f("app_layer.error.dns.parser", self.error_dns);
        f("app_layer.error.tls.parser", self.error_tls);
        f("app_layer.error.websocket.parser", self.error_websocket);
        f("app_layer.error.gap", self.error_gap);
        f("app_layer.error.http.limit", self.http_limit);
        f("http.compression_bomb", self.http_compression_bomb);
        f("http.decompression_failed", self.http_decompression_failed);
        f("app_layer.events.dropped", self.events_dropped);
        f("app_layer.eve.unlogged", self.eve_unlogged);
        f("app_layer.flow.ftp-data", self.flow_ftp_data);
        f("app_layer.tx.ftp", self.tx_ftp);
        f("ftp.limit", self.ftp_limit);
        f("ftp.unknown_command", self.ftp_unknown_command);
        f("ftp.reply_without_command", self.ftp_reply_without_command);
        f("ftp.bounce", self.ftp_bounce);
        f("ftp.expect.created", self.ftp_expect.created);
        f("ftp.expect.matched", self.ftp_expect.matched);
        f("ftp.expect.dropped", self.ftp_expect.dropped);
        f("ftp.expect.expired", self.ftp_expect.expired);
        self.files.visit(f);
    }
}

/// The protocol state of one flow once detection picked a parser.
#[derive(Debug, Default)]
pub enum AppState {
    /// Still probing, or nothing to parse.
    #[default]
    None,
    /// HTTP/1.x (and WebSocket after an upgrade).
    Http(Box<http::HttpState>),
    /// DNS.
    Dns(Box<dns::DnsState>),
    /// TLS.
    Tls(Box<tls::TlsState>),
    /// FTP control channel.
    Ftp(Box<ftp::FtpState>),
    /// FTP data connection.
    FtpData(Box<ftp::data::FtpDataState>),
    /// SMTP.
    Smtp(Box<smtp::SmtpState>),
    /// POP3.
    Pop3(Box<pop3::Pop3State>),
}

/// App-layer state of one flow: protocol detection, then the chosen parser.
///
/// Boxed parser states are allocated once per flow when the protocol is detected; everything
/// they hold afterwards is reused across transactions.
#[derive(Debug)]
pub struct AppLayer {
    transport: Transport,
    proto: AppProto,
    original: AppProto,
    probe: probe::Prober,
    state: AppState,
    /// The client's address, for protocols that compare it with what they carry (FTP PORT).
    client: Option<std::net::IpAddr>,
    /// Anomalies not yet taken by the detection stage.
    pub events: EventSet,
}

impl AppLayer {
    /// A flow's app layer; `sport`/`dport` are the initiator's ports (used only as a fallback
    /// when probing cannot decide).
    pub fn new(transport: Transport, sport: u16, dport: u16) -> AppLayer {
        AppLayer {
            transport,
            proto: AppProto::Unknown,
            original: AppProto::Unknown,
            probe: probe::Prober::new(transport, sport, dport),
            state: AppState::None,
            client: None,
            events: EventSet::default(),
        }
    }

    /// Tells the app layer the flow's client address (FTP compares PORT addresses with it).
    pub fn set_client(&mut self, client: std::net::IpAddr) {
        self.client = Some(client);
    }

    /// A data connection an FTP control channel announced since the last call.
    pub fn take_ftp_expectation(&mut self) -> Option<ftp::expect::Pending> {
        match &mut self.state {
            AppState::Ftp(s) => s.take_expectation(),
            _ => None,
        }
    }

    /// A TCP flow the FTP control channel announced: `ftp-data` from its first byte.
    pub fn ftp_data(
        cfg: &AppConfig,
        origin: ftp::data::DataOrigin,
        ctr: &mut AppCounters,
    ) -> AppLayer {
        ctr.flow_ftp_data += 1;
        AppLayer {
            transport: Transport::Tcp,
            proto: AppProto::FtpData,
            original: AppProto::FtpData,
            probe: probe::Prober::new(Transport::Tcp, 0, 0),
            state: AppState::FtpData(Box::new(ftp::data::FtpDataState::new(cfg, origin))),
            client: None,
            events: EventSet::default(),
        }
    }

    /// The flow's current protocol (`websocket` after an upgrade).
    pub fn proto(&self) -> AppProto {
        self.proto
    }

    /// The protocol detected first (`http` for an upgraded WebSocket flow).
    pub fn original_proto(&self) -> AppProto {
        self.original
    }

    /// The parser state, for buffer accessors and EVE.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Mutable parser state (the detection stage marks transactions inspected).
    pub fn state_mut(&mut self) -> &mut AppState {
        &mut self.state
    }

    /// The next transaction whose EVE record is due, marked logged so it is returned once:
    /// an HTTP transaction when both its request and response are complete, every DNS message
    /// (requests and responses are separate records), the TLS handshake once it is done (and
    /// only if it showed a certificate or is TLS 1.3), each complete WebSocket frame. Call it
    /// until `None` after every packet of the flow, then render each with
    /// [`eve::write_app_record`].
    pub fn next_record(&mut self) -> Option<eve::TxRef> {
        self.next_due(false)
    }

    /// Like [`AppLayer::next_record`] when the flow ends (close or timeout): also yields what
    /// is still incomplete (an unanswered request, a handshake cut short, a partial frame).
    pub fn next_record_at_end(&mut self) -> Option<eve::TxRef> {
        self.next_due(true)
    }

    /// Calls `f` with every transaction whose record is due now ([`AppLayer::next_record`]).
    pub fn take_completed(&mut self, mut f: impl FnMut(&AppLayer, eve::TxRef)) {
        while let Some(r) = self.next_due(false) {
            f(self, r);
        }
    }

    /// Calls `f` with everything not yet logged, at flow end
    /// ([`AppLayer::next_record_at_end`]).
    pub fn flush(&mut self, mut f: impl FnMut(&AppLayer, eve::TxRef)) {
        while let Some(r) = self.next_due(true) {
            f(self, r);
        }
    }

    fn next_due(&mut self, at_end: bool) -> Option<eve::TxRef> {
        match &mut self.state {
            AppState::Http(s) => {
                if let Some(id) = s.next_unlogged(at_end) {
                    return Some(eve::TxRef::Http(id));
                }
                for dir in [Direction::ToServer, Direction::ToClient] {
                    if let Some(id) = s.websocket_mut(dir).next_unlogged(at_end) {
                        return Some(eve::TxRef::WebSocket { dir, id });
                    }
                }
                s.next_unlogged_file()
                    .map(|(dir, id)| eve::TxRef::File { dir, id })
            }
            AppState::Dns(s) => s.next_unlogged().map(eve::TxRef::Dns),
            AppState::Tls(s) => s.take_due(at_end).then_some(eve::TxRef::Tls),
            AppState::Ftp(s) => s.next_unlogged(at_end).map(eve::TxRef::Ftp),
            AppState::FtpData(s) => {
                if s.take_due(at_end) {
                    return Some(eve::TxRef::FtpData);
                }
                s.next_unlogged_file()
                    .map(|(dir, id)| eve::TxRef::File { dir, id })
            }
            AppState::Smtp(s) => s.next_unlogged(at_end).map(eve::TxRef::Smtp).or_else(|| {
                s.next_unlogged_file().map(|id| eve::TxRef::File {
                    dir: Direction::ToServer,
                    id,
                })
            }),
            AppState::Pop3(s) => s.next_unlogged(at_end).map(eve::TxRef::Pop3).or_else(|| {
                s.next_unlogged_file().map(|id| eve::TxRef::File {
                    dir: Direction::ToClient,
                    id,
                })
            }),
            AppState::None => None,
        }
    }

    /// An in-order TCP chunk of one direction.
    pub fn on_stream(
        &mut self,
        cfg: &AppConfig,
        dir: Direction,
        data: &[u8],
        now: Timestamp,
        ctr: &mut AppCounters,
    ) -> Progress {
        if data.is_empty() {
            return Progress::NeedMore;
        }
        if matches!(self.proto, AppProto::Unknown) {
            let verdict = self.probe.feed(cfg, dir, data);
            match verdict {
                probe::Verdict::NeedMore => return Progress::NeedMore,
                probe::Verdict::Detected(p) => self.start(cfg, p, ctr),
                probe::Verdict::Failed => {
                    self.proto = AppProto::Failed;
                    self.original = AppProto::Failed;
                    ctr.flow_failed_tcp += 1;
                    return Progress::Done;
                }
            }
            // Replay what probing held (including this chunk) into the parser, requests first.
            let mut pending = core::mem::take(&mut self.probe.pending);
            let mut last = Progress::NeedMore;
            for (d, bytes) in pending.drain() {
                last = self.parse(cfg, d, bytes, now, ctr);
            }
            pending.clear();
            return last;
        }
        self.parse(cfg, dir, data, now, ctr)
    }

    /// A whole UDP payload of one direction.
    pub fn on_datagram(
        &mut self,
        cfg: &AppConfig,
        dir: Direction,
        data: &[u8],
        now: Timestamp,
        ctr: &mut AppCounters,
    ) -> Progress {
        if matches!(self.proto, AppProto::Unknown) {
            match self.probe.probe_datagram(dir, data) {
                probe::Verdict::Detected(p) => self.start(cfg, p, ctr),
                probe::Verdict::NeedMore => return Progress::NeedMore,
                probe::Verdict::Failed => {
                    self.proto = AppProto::Failed;
                    self.original = AppProto::Failed;
                    ctr.flow_failed_udp += 1;
                    return Progress::Done;
                }
            }
        }
        match &mut self.state {
            AppState::Dns(s) => s.parse_datagram(cfg, dir, data, now, &mut self.events, ctr),
            _ => Progress::Done,
        }
    }

    /// Reassembly skipped `len` bytes of `dir`: parsers resynchronise at their next boundary.
    pub fn on_gap(&mut self, dir: Direction, len: u64, ctr: &mut AppCounters) {
        ctr.error_gap += 1;
        self.events.push(AppEvent::StreamGap);
        if matches!(self.proto, AppProto::Unknown) {
            // Probing cannot continue over a hole in the first bytes.
            self.probe.gap(dir);
            return;
        }
        match &mut self.state {
            AppState::Http(s) => s.gap(dir, len, ctr),
            AppState::Dns(s) => s.gap(dir),
            AppState::Tls(s) => s.gap(dir),
            AppState::Ftp(s) => s.gap(dir),
            AppState::FtpData(s) => s.gap(dir, len),
            AppState::Smtp(s) => s.gap(dir, &mut self.events, ctr),
            AppState::Pop3(s) => s.gap(dir, &mut self.events, ctr),
            AppState::None => {}
        }
    }

    /// `dir` closed (FIN/RST or flow timeout): bodies delimited by close complete.
    pub fn on_end(
        &mut self,
        cfg: &AppConfig,
        dir: Direction,
        now: Timestamp,
        ctr: &mut AppCounters,
    ) {
        match &mut self.state {
            AppState::Http(s) => s.end(cfg, dir, now, &mut self.events, ctr),
            AppState::FtpData(s) => s.end(dir, ctr),
            AppState::Smtp(s) => s.end(dir, &mut self.events, ctr),
            AppState::Pop3(s) => s.end(dir, &mut self.events, ctr),
            _ => {}
        }
    }

    fn start(&mut self, cfg: &AppConfig, p: AppProto, ctr: &mut AppCounters) {
        self.proto = p;
        self.original = p;
        match (p, self.transport) {
            (AppProto::Http, _) => {
                ctr.flow_http += 1;
                self.state = AppState::Http(Box::new(http::HttpState::new(cfg)));
            }
            (AppProto::Dns, Transport::Udp) => {
                ctr.flow_dns_udp += 1;
                self.state = AppState::Dns(Box::new(dns::DnsState::new(Transport::Udp)));
            }
            (AppProto::Dns, Transport::Tcp) => {
                ctr.flow_dns_tcp += 1;
                self.state = AppState::Dns(Box::new(dns::DnsState::new(Transport::Tcp)));
            }
            (AppProto::Tls, _) => {
                ctr.flow_tls += 1;
                self.state = AppState::Tls(Box::new(tls::TlsState::new()));
            }
            (AppProto::Smtp, Transport::Tcp) => {
                ctr.flow_smtp += 1;
                self.state = AppState::Smtp(Box::new(smtp::SmtpState::new(cfg)));
            }
            (AppProto::Ssh, _) => ctr.flow_ssh += 1,
            (AppProto::Ftp, _) => {
                ctr.flow_ftp += 1;
                self.state = AppState::Ftp(Box::new(ftp::FtpState::new(cfg, self.client)));
            }
            (AppProto::Imap, _) => ctr.flow_imap += 1,
            (AppProto::Pop3, Transport::Tcp) => {
                ctr.flow_pop3 += 1;
                self.state = AppState::Pop3(Box::new(pop3::Pop3State::new(cfg)));
            }
            _ => {}
        }
    }

    fn parse(
        &mut self,
        cfg: &AppConfig,
        dir: Direction,
        data: &[u8],
        now: Timestamp,
        ctr: &mut AppCounters,
    ) -> Progress {
        let before = self.events.dropped();
        let r = match &mut self.state {
            AppState::Http(s) => {
                let r = s.parse(cfg, dir, data, now, &mut self.events, ctr);
                if s.upgraded_to_websocket() && self.proto == AppProto::Http {
                    self.proto = AppProto::WebSocket;
                    ctr.flow_websocket += 1;
                }
                r
            }
            AppState::Dns(s) => s.parse_stream(cfg, dir, data, now, &mut self.events, ctr),
            AppState::Tls(s) => s.parse(cfg, dir, data, now, &mut self.events, ctr),
            AppState::Ftp(s) => s.parse(cfg, dir, data, &mut self.events, ctr),
            AppState::FtpData(s) => {
                s.parse(cfg, dir, data, ctr);
                Progress::Done
            }
            AppState::Smtp(s) if s.tls_accepted() => self.start_tls(cfg, dir, data, now, ctr),
            AppState::Pop3(s) if s.tls_accepted() => self.start_tls(cfg, dir, data, now, ctr),
            AppState::Smtp(s) => s.parse(dir, data, now, &mut self.events, ctr),
            AppState::Pop3(s) => s.parse(dir, data, now, &mut self.events, ctr),
            AppState::None => Progress::Done,
        };
        ctr.events_dropped += self.events.dropped() - before;
        r
    }
}

impl AppLayer {
    /// A mail protocol's `STARTTLS`/`STLS` was accepted, and its transactions were logged
    /// after the packet that accepted it: the flow is TLS from these bytes on.
    fn start_tls(
        &mut self,
        cfg: &AppConfig,
        dir: Direction,
        data: &[u8],
        now: Timestamp,
        ctr: &mut AppCounters,
    ) -> Progress {
        ctr.flow_tls += 1;
        self.proto = AppProto::Tls;
        let mut tls = Box::new(tls::TlsState::new());
        let r = tls.parse(cfg, dir, data, now, &mut self.events, ctr);
        self.state = AppState::Tls(tls);
        r
    }
}

#[cfg(test)]
pub(crate) mod testpcap;

#[cfg(test)]
mod svtests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_unique_and_found() {
        for (i, e) in AppEvent::ALL.iter().enumerate() {
            assert_eq!(AppEvent::from_name(e.name()), Some(*e));
            assert!(AppEvent::ALL[i + 1..].iter().all(|o| o.name() != e.name()));
        }
    }

    fn feed(app: &mut AppLayer, ctr: &mut AppCounters, dir: Direction, b: &[u8]) -> Progress {
        app.on_stream(&AppConfig::default(), dir, b, Timestamp(0), ctr)
    }

    #[test]
    fn detection_replays_held_bytes_into_the_parser() {
        let mut ctr = AppCounters::default();
        let mut app = AppLayer::new(Transport::Tcp, 40000, 8080);
        assert_eq!(
            feed(&mut app, &mut ctr, Direction::ToServer, b"GE"),
            Progress::NeedMore
        );
        assert_eq!(app.proto(), AppProto::Unknown);
        feed(
            &mut app,
            &mut ctr,
            Direction::ToServer,
            b"T /x HTTP/1.1\r\nHost: h\r\n\r\n",
        );
        assert_eq!(app.proto(), AppProto::Http);
        feed(
            &mut app,
            &mut ctr,
            Direction::ToClient,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        );
        let AppState::Http(s) = app.state() else {
            panic!("not http")
        };
        let tx = s.txs().next().unwrap();
        assert_eq!(tx.uri(), b"/x");
        assert_eq!(tx.response.body(), b"ok");
        assert_eq!(ctr.flow_http, 1);
        assert_eq!(ctr.tx_http, 1);
    }

    #[test]
    fn server_speaks_first_and_failures() {
        let mut ctr = AppCounters::default();
        let mut app = AppLayer::new(Transport::Tcp, 40000, 2222);
        feed(
            &mut app,
            &mut ctr,
            Direction::ToClient,
            b"SSH-2.0-OpenSSH_9.6\r\n",
        );
        assert_eq!(app.proto(), AppProto::Ssh);

        let mut app = AppLayer::new(Transport::Tcp, 40000, 80);
        feed(
            &mut app,
            &mut ctr,
            Direction::ToServer,
            b"\x00\x03\x00junk junk junk",
        );
        assert_eq!(app.proto(), AppProto::Unknown);
        feed(
            &mut app,
            &mut ctr,
            Direction::ToClient,
            b"\x00\x04\x00more junk",
        );
        assert_eq!(app.proto(), AppProto::Failed);
        assert_eq!(ctr.flow_failed_tcp, 1);

        // A gap before detection: that direction can no longer be probed.
        let mut app = AppLayer::new(Transport::Tcp, 40000, 443);
        app.on_gap(Direction::ToServer, 100, &mut ctr);
        feed(
            &mut app,
            &mut ctr,
            Direction::ToClient,
            &[0x16, 3, 3, 0, 1, 2],
        );
        assert_eq!(app.proto(), AppProto::Tls);
        assert!(app.events.contains(AppEvent::StreamGap));
    }

    #[test]
    fn udp_dns_and_port_fallback() {
        let cfg = AppConfig::default();
        let mut ctr = AppCounters::default();
        let q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01";
        let mut app = AppLayer::new(Transport::Udp, 5353, 53);
        app.on_datagram(&cfg, Direction::ToServer, q, Timestamp(0), &mut ctr);
        assert_eq!(app.proto(), AppProto::Dns);
        // A DNS-shaped datagram off port 53 is not DNS (Suricata's detection ports: QUIC on
        // 443 often looks like one).
        let mut app = AppLayer::new(Transport::Udp, 40000, 443);
        app.on_datagram(&cfg, Direction::ToServer, q, Timestamp(0), &mut ctr);
        app.on_datagram(&cfg, Direction::ToClient, q, Timestamp(0), &mut ctr);
        assert_eq!(app.proto(), AppProto::Failed);
        // Malformed on port 53: still DNS, with an anomaly.
        let mut app = AppLayer::new(Transport::Udp, 5353, 53);
        app.on_datagram(
            &cfg,
            Direction::ToServer,
            b"\x00\x01",
            Timestamp(0),
            &mut ctr,
        );
        assert_eq!(app.proto(), AppProto::Dns);
        assert!(app.events.contains(AppEvent::DnsMalformedData));
        // Not DNS anywhere else.
        let mut app = AppLayer::new(Transport::Udp, 5000, 6000);
        app.on_datagram(&cfg, Direction::ToServer, b"hello", Timestamp(0), &mut ctr);
        app.on_datagram(&cfg, Direction::ToClient, b"world", Timestamp(0), &mut ctr);
        assert_eq!(app.proto(), AppProto::Failed);
        assert_eq!(ctr.tx_dns_udp, 2);
    }

    #[test]
    fn websocket_upgrade_keeps_original_proto() {
        let mut ctr = AppCounters::default();
        let mut app = AppLayer::new(Transport::Tcp, 40000, 80);
        feed(
            &mut app,
            &mut ctr,
            Direction::ToServer,
            b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
        );
        feed(
            &mut app,
            &mut ctr,
            Direction::ToClient,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x82\x01\xff",
        );
        assert_eq!(app.proto(), AppProto::WebSocket);
        assert_eq!(app.original_proto(), AppProto::Http);
        let AppState::Http(s) = app.state() else {
            panic!("not http")
        };
        let f = s.websocket(Direction::ToClient).frames().next().unwrap();
        assert_eq!(BufferId::WebSocketPayload.websocket(f), Some(&[0xff][..]));
        assert_eq!(f.opcode, 2);
        assert_eq!(ctr.flow_websocket, 1);
    }

    #[test]
    fn counters_have_suricata_names() {
        let mut names = Vec::new();
        AppCounters::default().visit(&mut |n, _| names.push(n));
        assert!(names.contains(&"app_layer.flow.http"));
        assert!(names.contains(&"app_layer.tx.dns_udp"));
        assert!(names.contains(&"http.compression_bomb"));
    }

    #[test]
    fn event_set_is_bounded() {
        let mut s = EventSet::default();
        for e in AppEvent::ALL.iter().cycle().take(100) {
            s.push(*e);
        }
        assert_eq!(s.len(), MAX_EVENTS);
        assert!(s.dropped() > 0);
        s.clear();
        assert!(s.is_empty());
    }
}
