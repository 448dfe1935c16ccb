//! Per-worker detection: the compiled ruleset ([`rules::Engine`]) run over packets, reassembled
//! stream chunks and app-layer buffers.
//!
//! One [`Detector`] per worker owns everything mutable detection needs: the Hyperscan scratch,
//! the per-burst [`bumpalo::Bump`] arena (candidate lists, transformed and decoded buffers),
//! threshold state and counters. Per-flow state ([`FlowDetectState`]: flowbits, flowints,
//! stream de-duplication, the pass mark) is embedded by the flow table and lent to each call.
//!
//! An inspection goes: pick the port set of the packet's transport, direction and service
//! port (one table lookup in the engine: the groups the port selects and one prefilter per
//! buffer merging their literals); scan that prefilter once per buffer with the worker's
//! scratch; collect candidate rule indices
//! in the arena, add the group's rules without a prefilter pattern and the IP-only rules found
//! through the address index ([`iponly`]); sort (rule index order is the engine's evaluation
//! order: action order, then priority) and verify each candidate: first its dense header
//! summary (`gate`: kind, protocol, addresses, ports, flow state from one 16-byte entry),
//! then its options ([`content`] for buffer lists, [`header`] for the other packet keywords). Matches apply flowbits/flowints, thresholds and
//! the action, and alerts go to the caller's sink as fixed-size [`AlertEvent`]s.
//!
//! Nothing here allocates outside the arena, takes a lock or reads a clock: `now` comes in.
//! Work per call is bounded: candidates per inspection, alerts per inspection, backtracking
//! per rule and instances per multi-buffer are capped and counted.

pub mod content;
mod gate;
pub mod header;
pub mod iponly;
pub mod threshold;
pub mod transform;

#[cfg(test)]
pub(crate) mod tests;

use crate::counters::CounterSet;
use crate::decode::{DecodeEvent, Packet, L4};
use crate::time::Timestamp;
use bumpalo::collections::Vec as BVec;
use bumpalo::Bump;
use content::{Walk, WalkLimit};
use hashbrown::HashMap;
use rules::ast::Action;
use rules::compile::{GroupDir, RuleIdx, Scratch, Transport};
use rules::ir::{self, AppMatch, BitCmd, Buffer, FlowintOp, Proto, Value};
use rules::Engine;
use std::sync::Arc;
use threshold::{Thresholds, Tracked};
use vocab::{AppProto, Direction};

/// Flowbits one flow can hold at once (more are counted in `detect.flowbits_overflow`).
pub const MAX_FLOWBITS: usize = 16;
/// Flowints one flow can hold at once.
pub const MAX_FLOWINTS: usize = 4;
/// Instances of a multi-buffer (`dns.query` per query, `tls.certs`, ...) inspected per call.
pub const MAX_BUFFER_INSTANCES: usize = 64;

/// What the worker should do with the packet, with Suricata's semantics: `drop` drops the
/// packet (and the pipeline every later packet of its flow), the `reject` family drops it and
/// answers with a TCP RST or an ICMP unreachable. IDS mode enforces nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verdict {
    /// Forward (IDS always forwards).
    #[default]
    Accept,
    /// A `drop` rule matched (or the flow was dropped): the inline mode drops the packet.
    Drop,
    /// A `reject`, `rejectsrc`, `rejectdst` or `rejectboth` rule matched: the packet is
    /// dropped and the side(s) named are answered.
    Reject(RejectTo),
}

/// Which side of a rejected packet is answered: `reject` and `rejectsrc` answer its sender,
/// `rejectdst` its receiver, `rejectboth` both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectTo {
    /// The packet's sender.
    Src,
    /// The packet's receiver.
    Dst,
    /// Both.
    Both,
}

impl RejectTo {
    /// Answers to both the sides `self` and `other` name.
    pub fn union(self, other: RejectTo) -> RejectTo {
        if self == other {
            self
        } else {
            RejectTo::Both
        }
    }

    /// The sender is answered.
    pub fn src(self) -> bool {
        matches!(self, RejectTo::Src | RejectTo::Both)
    }

    /// The receiver is answered.
    pub fn dst(self) -> bool {
        matches!(self, RejectTo::Dst | RejectTo::Both)
    }
}

impl Verdict {
    /// The verdict a matching rule of action `a` asks for.
    pub fn of(a: Action) -> Verdict {
        match a {
            Action::Alert | Action::Pass => Verdict::Accept,
            Action::Drop => Verdict::Drop,
            Action::Reject | Action::RejectSrc => Verdict::Reject(RejectTo::Src),
            Action::RejectDst => Verdict::Reject(RejectTo::Dst),
            Action::RejectBoth => Verdict::Reject(RejectTo::Both),
        }
    }

    /// Both verdicts at once: a drop beats an accept, a reject beats a drop (it drops too),
    /// and rejects answer every side either names.
    pub fn merge(self, other: Verdict) -> Verdict {
        use Verdict::{Accept, Drop, Reject};
        match (self, other) {
            (Reject(a), Reject(b)) => Reject(a.union(b)),
            (Reject(a), _) | (_, Reject(a)) => Reject(a),
            (Drop, _) | (_, Drop) => Drop,
            (Accept, Accept) => Accept,
        }
    }

    /// The packet is not forwarded.
    pub fn blocks(self) -> bool {
        self != Verdict::Accept
    }
}

/// The `alert.action` field of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertAction {
    /// The packet was let through.
    Allowed,
    /// The packet was dropped (inline mode, `drop`/`reject` rule).
    Blocked,
}

impl AlertAction {
    /// EVE spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertAction::Allowed => "allowed",
            AlertAction::Blocked => "blocked",
        }
    }
}

/// Which data produced an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectKind {
    /// The packet itself (headers and payload).
    Packet,
    /// A reassembled stream chunk.
    Stream,
    /// An app-layer transaction buffer.
    AppBuffer(Buffer),
}

/// One alert as the detector raises it, fixed size and `Copy`, handed to the caller's callback
/// by value: the rule's side (rule, action, time, direction) and where in the inspected data it
/// matched, in the rule engine's own types. It exists so the detector needs nothing of the
/// packet's context (flow id, packet number, VLANs, transaction): the pipeline stamps it at
/// once onto the one record that crosses to the control plane, `vocab::AlertRecord`, whose
/// packet side it fills at an inspection's first alert. Msg, classtype and metadata stay in the engine
/// (`engine.rules[rule]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertEvent {
    /// Index in `Engine::rules`.
    pub rule: RuleIdx,
    /// Generator id.
    pub gid: u32,
    /// Signature id.
    pub sid: u32,
    /// Revision.
    pub rev: u32,
    /// The rule's action (after `rate_filter`).
    pub rule_action: Action,
    /// What happened to the packet.
    pub action: AlertAction,
    /// Packet time.
    pub ts: Timestamp,
    /// Flow direction of the packet, if it has a flow.
    pub dir: Option<Direction>,
    /// Application protocol of the flow, if known.
    pub app_proto: Option<AppProto>,
    /// What was inspected.
    pub kind: InspectKind,
    /// Instance of a multi-buffer (0 otherwise).
    pub instance: u16,
    /// Stream offset of the inspected chunk's first byte (0 for packets and buffers).
    pub stream_offset: u64,
    /// Offset of the last matching content in the inspected data (payload excerpt start).
    pub match_offset: u32,
    /// Length of that match (0 when the rule has no content/pcre).
    pub match_len: u32,
}

/// Flow facts about the packet being inspected, built by the worker from its flow table.
#[derive(Debug, Clone, Copy)]
pub struct PacketView<'a> {
    /// The decoded packet.
    pub pkt: &'a Packet<'a>,
    /// Direction within its flow; `None` for packets without flow (stateless path).
    pub dir: Option<Direction>,
    /// The TCP handshake completed (or the UDP flow saw both directions).
    pub established: bool,
    /// Application protocol detected on the flow.
    pub app_proto: Option<AppProto>,
    /// Flow id (for `by_flow` thresholds; 0 without flow).
    pub flow_id: u64,
    /// The flow is reassembled: TCP payload rules inspect [`Detector::inspect_stream`] chunks
    /// instead of this packet's payload (rules on `tcp-pkt` and `flow:no_stream` still see it).
    pub stream_active: bool,
    /// Bytes seen so far from client and server (for `stream_size`).
    pub stream_bytes: [u64; 2],
    /// Protocol detection finished on this packet: rules made only of `app-layer-protocol`
    /// (and header) conditions match then only, once per flow, as Suricata's
    /// protocol-detection-only rules do.
    pub proto_detected: bool,
}

impl<'a> PacketView<'a> {
    /// A packet without flow.
    pub fn stateless(pkt: &'a Packet<'a>) -> Self {
        PacketView {
            pkt,
            dir: None,
            established: false,
            app_proto: None,
            flow_id: 0,
            stream_active: false,
            stream_bytes: [0; 2],
            proto_detected: false,
        }
    }
}

/// App-layer buffers of the current transaction. `instance` enumerates multi-buffers
/// (`dns.query` per query, `tls.certs` per certificate, header lines): return `None` past the
/// last one; single buffers answer only instance 0.
pub trait BufferSource {
    /// The `instance`-th value of `buffer`, if present.
    fn buffer(&self, buffer: Buffer, instance: usize) -> Option<&[u8]>;
    /// Evaluates an app-layer state keyword (`dns.opcode`, `ssl_state`, `tls.version`, ...)
    /// on the transaction; false when the transaction has no such state.
    fn app_match(&self, _m: &AppMatch) -> bool {
        false
    }
}

impl BufferSource for &[(Buffer, &[u8])] {
    fn buffer(&self, buffer: Buffer, instance: usize) -> Option<&[u8]> {
        self.iter()
            .filter(|(b, _)| *b == buffer)
            .nth(instance)
            .map(|(_, d)| *d)
    }
}

/// Detection state of one flow, embedded in the flow table's entry (size:
/// `size_of::<FlowDetectState>()` = 128 bytes on 64-bit targets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowDetectState {
    /// Engine epoch the indices below refer to; a reload clears the flowbits.
    epoch: u32,
    nbits: u8,
    nints: u8,
    /// A `pass` rule matched: later packets of the flow skip detection.
    pub passed: bool,
    /// IP-only rules were evaluated for (to-server, to-client).
    iponly_done: [bool; 2],
    bits: [u16; MAX_FLOWBITS],
    ints: [(u16, i64); MAX_FLOWINTS],
    /// Stream bytes (to-server, to-client) already inspected: a stream match ending at or
    /// before this offset was already reported.
    stream_seen: [u64; 2],
}

impl FlowDetectState {
    fn sync(&mut self, epoch: u32) {
        if self.epoch != epoch {
            let passed = self.passed;
            *self = FlowDetectState {
                epoch,
                passed,
                stream_seen: self.stream_seen,
                ..FlowDetectState::default()
            };
        }
    }

    /// True when flowbit `i` is set.
    pub fn bit(&self, i: u16) -> bool {
        self.bits[..usize::from(self.nbits)].contains(&i)
    }

    fn set_bit(&mut self, i: u16) -> bool {
        if self.bit(i) {
            return true;
        }
        if usize::from(self.nbits) == MAX_FLOWBITS {
            return false;
        }
        self.bits[usize::from(self.nbits)] = i;
        self.nbits += 1;
        true
    }

    fn unset_bit(&mut self, i: u16) {
        let n = usize::from(self.nbits);
        if let Some(p) = self.bits[..n].iter().position(|&b| b == i) {
            self.bits[p] = self.bits[n - 1];
            self.nbits -= 1;
        }
    }

    /// Value of flowint `i`, if set.
    pub fn int(&self, i: u16) -> Option<i64> {
        self.ints[..usize::from(self.nints)]
            .iter()
            .find(|(k, _)| *k == i)
            .map(|(_, v)| *v)
    }

    fn set_int(&mut self, i: u16, v: i64) -> bool {
        let n = usize::from(self.nints);
        if let Some(e) = self.ints[..n].iter_mut().find(|(k, _)| *k == i) {
            e.1 = v;
            return true;
        }
        if n == MAX_FLOWINTS {
            return false;
        }
        self.ints[n] = (i, v);
        self.nints += 1;
        true
    }
}

/// Detector settings.
#[derive(Debug, Clone, Copy)]
pub struct DetectConfig {
    /// Inline (IPS) mode: `drop`/`reject` alerts are `blocked`.
    pub inline: bool,
    /// Candidate rules verified per inspection (more are counted in `detect.match_limit`).
    pub max_candidates: usize,
    /// Alerts per inspection (Suricata's `packet-alert-max` is 15).
    pub max_alerts: usize,
    /// Threshold table entries.
    pub threshold_entries: usize,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            inline: false,
            max_candidates: 4096,
            max_alerts: 15,
            threshold_entries: threshold::DEFAULT_CAP,
        }
    }
}

/// Detection counters (per worker).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectCounters {
    /// Packets inspected.
    pub packets: u64,
    /// Stream chunks inspected.
    pub stream_chunks: u64,
    /// App-layer inspections.
    pub app_inspections: u64,
    /// Alerts emitted.
    pub alerts: u64,
    /// Candidate rules verified.
    pub candidates: u64,
    /// Candidates rejected by their header summary (protocol, addresses, ports, flow state,
    /// inspection kind) before their options were read.
    pub gate_rejected: u64,
    /// Prefilter database scans.
    pub prefilter_scans: u64,
    /// Inspections whose candidates exceeded the cap.
    pub match_limit: u64,
    /// Rule walks stopped by the backtracking budget.
    pub backtrack_limit: u64,
    /// PCRE errors (match limit).
    pub pcre_errors: u64,
    /// Alerts dropped because an inspection reached `max_alerts`.
    pub alert_limit: u64,
    /// Alerts suppressed by `threshold`/`detection_filter`/`suppress`.
    pub threshold_suppressed: u64,
    /// Threshold events that found the table full.
    pub threshold_table_full: u64,
    /// `pass` rules matched.
    pub pass: u64,
    /// Packets skipped because their flow was passed.
    pub passed_flow_packets: u64,
    /// `drop`/`reject` rules matched.
    pub drop: u64,
    /// Rules with `bypass` matched (their flow is bypassed).
    pub bypass: u64,
    /// Stream matches already reported in an earlier chunk.
    pub stream_duplicates: u64,
    /// App-layer matches on a transaction the rule already alerted on.
    pub tx_duplicates: u64,
    /// Flowbits/flowints not stored because the flow's table was full.
    pub flowvar_overflow: u64,
    /// Hyperscan scan errors.
    pub scan_errors: u64,
    /// Rules using keywords this layer cannot evaluate (never match), per engine.
    pub unsupported_rules: u64,
}

impl CounterSet for DetectCounters {
    fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        f("detect.packets", self.packets);
        f("detect.stream_chunks", self.stream_chunks);
        f("detect.app_inspections", self.app_inspections);
        f("detect.alerts", self.alerts);
        f("detect.candidates", self.candidates);
        f("detect.gate_rejected", self.gate_rejected);
        f("detect.prefilter_scans", self.prefilter_scans);
        f("detect.match_limit", self.match_limit);
        f("detect.backtrack_limit", self.backtrack_limit);
        f("detect.pcre_errors", self.pcre_errors);
        f("detect.alert_limit", self.alert_limit);
        f("detect.threshold_suppressed", self.threshold_suppressed);
        f("detect.threshold_table_full", self.threshold_table_full);
        f("detect.pass", self.pass);
        f("detect.passed_flow_packets", self.passed_flow_packets);
        f("detect.drop", self.drop);
        f("detect.bypass", self.bypass);
        f("detect.stream_duplicates", self.stream_duplicates);
        f("detect.tx_duplicates", self.tx_duplicates);
        f("detect.flowvar_overflow", self.flowvar_overflow);
        f("detect.scan_errors", self.scan_errors);
        f("detect.unsupported_rules", self.unsupported_rules);
    }
}

/// Resolved `flowbits` of a rule.
#[derive(Debug, Clone)]
struct BitOp {
    cmd: BitCmd,
    bits: Vec<u16>,
    all: bool,
}

/// Resolved `flowint` of a rule.
#[derive(Debug, Clone)]
struct IntOp {
    var: u16,
    op: FlowintOp,
    value: Option<IntVal>,
}

#[derive(Debug, Clone, Copy)]
enum IntVal {
    Lit(i64),
    Var(u16),
}

/// Where a rule may match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Packet keywords only (no buffer lists).
    Header,
    /// Payload lists: the packet, or the stream when the flow is reassembled.
    Payload,
    /// Payload lists, packet only (`tcp-pkt`, `no_stream`, `dsize`).
    PacketOnly,
    /// Payload lists, stream only (`tcp-stream`, `only_stream`).
    StreamOnly,
    /// App-layer buffer lists.
    App,
}

/// Per-rule facts derived from the engine when it is set.
#[derive(Debug, Clone)]
struct RuleAux {
    scope: Scope,
    ip_only: bool,
    /// Some keyword cannot be evaluated here: the rule never matches.
    unsupported: bool,
    /// `flowbits:set` or `toggle`.
    sets_bits: bool,
    events: Vec<DecodeEvent>,
    bits: Vec<BitOp>,
    ints: Vec<IntOp>,
    /// `app-layer-protocol` as (negated, protocol; `None` = unknown/failed).
    app_protos: Vec<(bool, Option<AppProto>)>,
    /// App-layer state keywords, evaluated on the inspected transaction.
    app_state: Vec<AppMatch>,
    /// Only `app-layer-protocol` beyond the header: matches when detection finishes.
    pd_only: bool,
}

/// The worker's detection engine.
pub struct Detector {
    engine: Arc<Engine>,
    arena: Bump,
    core: Core,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("rules", &self.engine.rules.len())
            .field("counters", &self.core.counters)
            .finish()
    }
}

/// Everything but the engine and the arena, so both can be borrowed beside it.
struct Core {
    scratch: Option<Scratch>,
    aux: Vec<RuleAux>,
    /// Per-rule header summaries, the first check of every candidate.
    gates: gate::Gates,
    /// Per group, its rules without a prefilter pattern that each inspection kind can
    /// evaluate (packet, stream, app buffers), IP-only rules left out: a packet never walks
    /// app-layer rules it cannot match. Entries 3..6 hold the same kinds' rules gated on
    /// `flowbits:isset`, walked only when the flow has a bit set (ET Open has ~1,000 such
    /// rules without content; they cannot match a flow without bits). Each entry carries the
    /// rule's gate, checked as the list is walked: most of these rules fail their header, and
    /// reading the gate beside the index avoids a random access per rule.
    always: Vec<[Vec<(RuleIdx, gate::Gate)>; 6]>,
    iponly: iponly::IpOnly,
    thresholds: Thresholds,
    counters: DetectCounters,
    cfg: DetectConfig,
    epoch: u32,
    /// Flowbit names by index (EVE `metadata.flowbits`).
    bit_names: Vec<Box<str>>,
    /// Verdicts of the inspections since [`Detector::take_verdict`], merged.
    verdict: Verdict,
    /// A rule with `bypass` matched since [`Detector::take_bypass`].
    bypass: bool,
}

/// A failure to set up a detector for an engine.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// Hyperscan scratch allocation failed.
    #[error("scratch allocation: {0}")]
    Scratch(#[from] rules::compile::CompileError),
}

/// Address as u128 (IPv4 as its 32-bit value) and whether it is IPv4.
fn addr_key(a: std::net::IpAddr) -> (u128, bool) {
    match a {
        std::net::IpAddr::V4(v) => (u128::from(u32::from(v)), true),
        std::net::IpAddr::V6(v) => (u128::from(v), false),
    }
}

fn app_matches(want: AppProto, have: Option<AppProto>) -> bool {
    let norm = |p: AppProto| match p {
        AppProto::Http1 => AppProto::Http,
        o => o,
    };
    match have {
        Some(h) => norm(h) == norm(want) || (want == AppProto::Http && h == AppProto::Http2),
        None => false,
    }
}

impl Detector {
    /// A detector for `engine` (allocates the scratch and the derived indices).
    pub fn new(engine: Arc<Engine>, cfg: DetectConfig) -> Result<Self, DetectError> {
        let mut core = Core {
            scratch: None,
            aux: Vec::new(),
            gates: gate::Gates::default(),
            always: Vec::new(),
            iponly: iponly::IpOnly::default(),
            thresholds: Thresholds::new(cfg.threshold_entries),
            counters: DetectCounters::default(),
            cfg,
            epoch: 0,
            bit_names: Vec::new(),
            verdict: Verdict::Accept,
            bypass: false,
        };
        core.rebuild(&engine)?;
        Ok(Detector {
            engine,
            arena: Bump::with_capacity(256 * 1024),
            core,
        })
    }

    /// Swaps in a new engine between bursts: the scratch is reallocated and the per-rule data
    /// rebuilt; flows' flowbits are cleared lazily (their indices belong to the old engine).
    pub fn set_engine(&mut self, engine: Arc<Engine>) -> Result<(), DetectError> {
        self.core.rebuild(&engine)?;
        self.engine = engine;
        self.core.thresholds = Thresholds::new(self.core.cfg.threshold_entries);
        Ok(())
    }

    /// The engine in use.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Names of the flowbits set in `state`, in the order they were set (none when the state
    /// predates the current engine).
    pub fn flowbits<'a>(
        &'a self,
        state: &'a FlowDetectState,
    ) -> impl Iterator<Item = &'a str> + Clone + 'a {
        let n = if state.epoch == self.core.epoch {
            usize::from(state.nbits)
        } else {
            0
        };
        state.bits[..n]
            .iter()
            .filter_map(|&i| self.core.bit_names.get(usize::from(i)).map(|b| &**b))
    }

    /// Counters.
    pub fn counters(&self) -> DetectCounters {
        let mut c = self.core.counters;
        c.threshold_table_full = self.core.thresholds.table_full;
        c
    }

    /// The verdict of every inspection since the last call, merged (the pipeline takes it
    /// once per packet instead of plumbing each inspection's), and starts over.
    pub fn take_verdict(&mut self) -> Verdict {
        std::mem::take(&mut self.core.verdict)
    }

    /// Whether a rule with `bypass` matched since the last call (the caller bypasses the
    /// flow of the packet inspected).
    pub fn take_bypass(&mut self) -> bool {
        std::mem::take(&mut self.core.bypass)
    }

    /// Merges `v` into the verdict [`Detector::take_verdict`] returns next (what a caller
    /// took aside for an inspection that must not count towards it).
    pub fn merge_verdict(&mut self, v: Verdict) {
        self.core.verdict = self.core.verdict.merge(v);
    }

    /// Frees the per-burst arena; the worker calls it after each burst.
    pub fn end_burst(&mut self) {
        self.arena.reset();
    }

    /// Inspects a packet: header keywords, decoder events, IP-only rules and (unless the flow
    /// is reassembled) payload rules on the packet's payload.
    pub fn inspect_packet(
        &mut self,
        view: &PacketView<'_>,
        flow: Option<&mut FlowDetectState>,
        now: Timestamp,
        sink: &mut impl FnMut(AlertEvent),
    ) -> Verdict {
        self.inspect_packet_marking(view, None, flow, now, sink)
    }

    /// [`Detector::inspect_packet`], recording every rule that matched (alerted or held back
    /// by a threshold) under `mark`'s key, so the stream inspection of the same direction
    /// does not match the same bytes again.
    pub fn inspect_packet_marking(
        &mut self,
        view: &PacketView<'_>,
        mark: Option<(u64, &mut TxAlerts)>,
        flow: Option<&mut FlowDetectState>,
        now: Timestamp,
        sink: &mut impl FnMut(AlertEvent),
    ) -> Verdict {
        self.core.counters.packets += 1;
        let ctx = Ctx {
            kind: InspectKind::Packet,
            data: view.pkt.payload,
            stream_offset: 0,
            src: None,
            now,
        };
        let st = FlowRefs {
            marks: mark.map(|(k, t)| (k, t, false)),
            flow,
        };
        self.core
            .inspect(&self.engine, &self.arena, view, &ctx, st, sink)
    }

    /// Inspects a reassembled, in-order chunk of one direction's stream (`chunk.data`,
    /// starting at stream offset `chunk.offset`). The caller keeps an overlap of at least the engine's longest
    /// prefilter literal minus one byte between chunks so a pattern split across segments is
    /// seen whole; matches ending inside already inspected bytes are not reported again.
    ///
    /// `done` (a key and the flow's marks) limits each rule to one alert per key: the caller
    /// marks rules that already alerted on the direction's packets so the same bytes do not
    /// alert twice, once per packet and once per stream.
    pub fn inspect_stream(
        &mut self,
        view: &PacketView<'_>,
        chunk: StreamChunk<'_>,
        done: Option<(u64, &mut TxAlerts)>,
        mut flow: Option<&mut FlowDetectState>,
        now: Timestamp,
        sink: &mut impl FnMut(AlertEvent),
    ) -> Verdict {
        self.core.counters.stream_chunks += 1;
        let ctx = Ctx {
            kind: InspectKind::Stream,
            data: chunk.data,
            stream_offset: chunk.offset,
            src: None,
            now,
        };
        let st = FlowRefs {
            marks: done.map(|(k, t)| (k, t, true)),
            flow: flow.as_deref_mut(),
        };
        let v = self
            .core
            .inspect(&self.engine, &self.arena, view, &ctx, st, sink);
        if let (Some(f), Some(d)) = (flow, view.dir) {
            let end = chunk.offset.saturating_add(chunk.data.len() as u64);
            let s = &mut f.stream_seen[usize::from(d == Direction::ToClient)];
            *s = (*s).max(end);
        }
        v
    }

    /// Inspects the app-layer buffers of one transaction (rules with sticky buffers). Each
    /// rule alerts at most once per transaction: `done` (the transaction's key and the flow's
    /// marks) remembers which already did.
    pub fn inspect_buffers(
        &mut self,
        view: &PacketView<'_>,
        src: &dyn BufferSource,
        done: (u64, &mut TxAlerts),
        flow: Option<&mut FlowDetectState>,
        now: Timestamp,
        sink: &mut impl FnMut(AlertEvent),
    ) -> Verdict {
        self.core.counters.app_inspections += 1;
        let ctx = Ctx {
            kind: InspectKind::AppBuffer(Buffer::Payload),
            data: &[],
            stream_offset: 0,
            src: Some(src),
            now,
        };
        let st = FlowRefs {
            marks: Some((done.0, done.1, true)),
            flow,
        };
        self.core
            .inspect(&self.engine, &self.arena, view, &ctx, st, sink)
    }

    /// Longest prefilter literal of the payload databases: a stream caller keeps this minus
    /// one byte of overlap between chunks.
    pub fn stream_overlap(&self) -> usize {
        self.engine
            .groups
            .iter()
            .flat_map(|g| g.buffers_of(Buffer::Payload))
            .map(|b| b.max_len)
            .max()
            .unwrap_or(1)
            .saturating_sub(1)
    }
}

/// What is being inspected, and when.
struct Ctx<'d> {
    kind: InspectKind,
    data: &'d [u8],
    stream_offset: u64,
    src: Option<&'d dyn BufferSource>,
    now: Timestamp,
}

/// A reassembled, in-order chunk of one direction's stream: `data` starts at stream offset
/// `offset`.
#[derive(Clone, Copy, Debug)]
pub struct StreamChunk<'d> {
    pub data: &'d [u8],
    pub offset: u64,
}

/// The flow's detection state an inspection reads and updates.
struct FlowRefs<'f> {
    /// Alert marks under a key; with `true`, a rule already marked is not reported again.
    marks: Option<(u64, &'f mut TxAlerts, bool)>,
    flow: Option<&'f mut FlowDetectState>,
}

/// A rule considered by one inspection, with what the detector derived from it.
#[derive(Clone, Copy)]
struct Cand<'a, 'x> {
    rule: &'a ir::Rule,
    gate: gate::Gate,
    aux: &'x RuleAux,
}

/// Most (transaction, rule) alert marks one flow keeps; the oldest are forgotten first.
pub const MAX_TX_ALERTS: usize = 256;

/// Which rules alerted on which of a flow's transactions: an app-layer rule alerts once per
/// transaction, as in Suricata, however often the transaction's buffers change. Bounded.
#[derive(Debug, Default, Clone)]
pub struct TxAlerts {
    marks: std::collections::VecDeque<(u64, RuleIdx)>,
    /// Engine epoch the rule indices refer to; a reload forgets the marks.
    epoch: u32,
    /// Marks forgotten to stay under [`MAX_TX_ALERTS`].
    pub forgotten: u64,
}

impl TxAlerts {
    fn sync(&mut self, epoch: u32) {
        if self.epoch != epoch {
            self.marks.clear();
            self.epoch = epoch;
        }
    }

    /// True when `rule` already alerted on transaction `tx`.
    pub fn has(&self, tx: u64, rule: RuleIdx) -> bool {
        self.marks.iter().any(|&m| m == (tx, rule))
    }

    /// Records that `rule` alerted on `tx`.
    pub fn add(&mut self, tx: u64, rule: RuleIdx) {
        if self.marks.len() >= MAX_TX_ALERTS {
            self.marks.pop_front();
            self.forgotten += 1;
        }
        self.marks.push_back((tx, rule));
    }

    /// Marks held.
    pub fn len(&self) -> usize {
        self.marks.len()
    }

    /// True when nothing alerted yet.
    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }

    /// Forgets every mark, keeping the memory (a slot taken by a new flow).
    pub fn clear(&mut self) {
        self.marks.clear();
        self.epoch = 0;
        self.forgotten = 0;
    }
}

impl Core {
    fn rebuild(&mut self, engine: &Engine) -> Result<(), DetectError> {
        self.scratch = engine.alloc_scratch()?;
        self.epoch = self.epoch.wrapping_add(1).max(1);
        let mut bit_names: HashMap<&str, u16> = HashMap::new();
        let mut int_names: HashMap<&str, u16> = HashMap::new();
        let mut aux = Vec::with_capacity(engine.rules.len());
        let mut ip_only = Vec::new();
        let mut unsupported = 0;
        for (i, r) in engine.rules.iter().enumerate() {
            let a = derive(r, &mut bit_names, &mut int_names);
            if a.unsupported {
                unsupported += 1;
            }
            if a.ip_only {
                ip_only.push((
                    i as u32,
                    r.src.clone(),
                    r.dst.clone(),
                    r.direction == rules::ast::Arrow::Both,
                ));
            }
            aux.push(a);
        }
        self.aux = aux;
        let mut names: Vec<(&str, u16)> = bit_names.into_iter().collect();
        names.sort_unstable_by_key(|&(_, i)| i);
        self.bit_names = names.into_iter().map(|(n, _)| n.into()).collect();
        self.gates = gate::Gates::build(engine.rules.iter().zip(&self.aux).map(|(r, a)| {
            (
                &**r,
                gate::RuleFacts {
                    scope: a.scope,
                    unsupported: a.unsupported,
                },
            )
        }));
        self.iponly = iponly::IpOnly::build(ip_only);
        self.always = engine
            .groups
            .iter()
            .map(|g| {
                let mut out: [Vec<(RuleIdx, gate::Gate)>; 6] = Default::default();
                for &r in &g.always {
                    let Some(a) = self.aux.get(r as usize) else {
                        continue;
                    };
                    let e = (r, self.gates.get(r as usize));
                    if a.ip_only || a.unsupported {
                        continue;
                    }
                    let gated = if a.bits.iter().any(|b| b.cmd == BitCmd::IsSet) {
                        3
                    } else {
                        0
                    };
                    match a.scope {
                        Scope::Header | Scope::PacketOnly => out[gated].push(e),
                        Scope::Payload => {
                            out[gated].push(e);
                            out[gated + 1].push(e);
                        }
                        Scope::StreamOnly => out[gated + 1].push(e),
                        Scope::App => out[gated + 2].push(e),
                    }
                }
                out
            })
            .collect();
        self.counters.unsupported_rules = unsupported;
        Ok(())
    }

    /// Runs one inspection: candidate rules from the prefilter, the rules without patterns
    /// and the IP-only rules, each verified, then thresholds and actions; alerts go to `sink`.
    fn inspect(
        &mut self,
        engine: &Engine,
        arena: &Bump,
        view: &PacketView<'_>,
        ctx: &Ctx<'_>,
        mut st: FlowRefs<'_>,
        sink: &mut impl FnMut(AlertEvent),
    ) -> Verdict {
        if let Some((_, done, _)) = st.marks.as_mut() {
            done.sync(self.epoch);
        }
        if let Some(f) = st.flow.as_deref_mut() {
            f.sync(self.epoch);
            if f.passed {
                self.counters.passed_flow_packets += 1;
                return Verdict::Accept;
            }
        }
        let pkt = view.pkt;
        let (cands, mut pg) = self.candidates(engine, arena, view, ctx, st.flow.as_deref_mut());
        let now = ctx.now;
        let mut verdict = Verdict::Accept;
        let mut alerts = 0usize;
        let mut tcache = TransformCache {
            cache: BVec::new_in(arena),
            arena,
        };
        for &r in cands.iter() {
            let g = self.gates.get(r as usize);
            if !pg.pass(&self.gates, g) {
                self.counters.gate_rejected += 1;
                continue;
            }
            let Some(rule) = engine.rules.get(r as usize) else {
                continue;
            };
            let aux = &self.aux[r as usize];
            let cand = Cand { rule, gate: g, aux };
            let Some(m) = Self::verify(
                &mut self.counters,
                cand,
                view,
                ctx,
                st.flow.as_deref(),
                &mut tcache,
            ) else {
                continue;
            };
            if let Some((tx, done, skip)) = st.marks.as_mut() {
                if done.has(*tx, r) {
                    if *skip {
                        self.counters.tx_duplicates += 1;
                        continue;
                    }
                } else {
                    done.add(*tx, r);
                }
            }
            // Stream matches already reported from an earlier chunk's bytes.
            if ctx.kind == InspectKind::Stream {
                if let (Some(f), Some(d)) = (st.flow.as_deref(), view.dir) {
                    let end = ctx.stream_offset + m.end as u64;
                    if m.has_pos && end <= f.stream_seen[usize::from(d == Direction::ToClient)] {
                        self.counters.stream_duplicates += 1;
                        continue;
                    }
                }
            }
            if let Some(f) = st.flow.as_deref_mut() {
                if !apply_post(aux, f) {
                    self.counters.flowvar_overflow += 1;
                }
            }
            if rule.action == Action::Pass {
                self.counters.pass += 1;
                if let Some(f) = st.flow.as_deref_mut() {
                    f.passed = true;
                }
                // A pass rule stops every later rule for this packet.
                break;
            }
            let tracked = Tracked {
                src: addr_key(pkt.src_addr()).0,
                dst: addr_key(pkt.dst_addr()).0,
                flow: view.flow_id,
                sport: pkt.ports().0,
                dport: pkt.ports().1,
            };
            let Some(action) = self.admit(r, rule, tracked, now) else {
                continue;
            };
            if rule.bypass {
                self.counters.bypass += 1;
                self.bypass = true;
            }
            let v = Verdict::of(action);
            let blocks = v.blocks();
            if blocks {
                self.counters.drop += 1;
                verdict = verdict.merge(v);
                self.verdict = self.verdict.merge(v);
            }
            if rule.noalert {
                continue;
            }
            if alerts >= self.cfg.max_alerts {
                self.counters.alert_limit += 1;
                continue;
            }
            alerts += 1;
            self.counters.alerts += 1;
            sink(AlertEvent {
                rule: r,
                gid: rule.gid,
                sid: rule.sid,
                rev: rule.rev,
                rule_action: action,
                action: if blocks && self.cfg.inline {
                    AlertAction::Blocked
                } else {
                    AlertAction::Allowed
                },
                ts: now,
                dir: view.dir,
                app_proto: view.app_proto,
                kind: m.kind,
                instance: m.instance,
                stream_offset: ctx.stream_offset,
                match_offset: m.start as u32,
                match_len: (m.end - m.start) as u32,
            });
        }
        verdict
    }

    /// Suppression, thresholds, detection filters and rate filters of verified rule `r`: the
    /// action it takes, `None` when it is held back (counted).
    #[inline]
    fn admit(
        &mut self,
        r: RuleIdx,
        rule: &ir::Rule,
        tracked: Tracked,
        now: Timestamp,
    ) -> Option<Action> {
        if suppressed(rule, tracked) {
            self.counters.threshold_suppressed += 1;
            return None;
        }
        let mut ok = true;
        if let Some(th) = &rule.threshold {
            ok &= self.thresholds.check(r, th, tracked, now);
        }
        if let Some(df) = &rule.detection_filter {
            ok &= self.thresholds.check(r, df, tracked, now);
        }
        if !ok {
            self.counters.threshold_suppressed += 1;
            return None;
        }
        let mut action = rule.action;
        if let Some(rf) = &rule.rate_filter {
            if self
                .thresholds
                .rate(r, &rf.threshold, rf.timeout, tracked, now)
            {
                action = rf.new_action;
            }
        }
        Some(action)
    }

    /// The candidate rules of one inspection, sorted and without duplicates, and the
    /// packet's side of the rule gates.
    #[inline]
    fn candidates<'b>(
        &mut self,
        engine: &Engine,
        arena: &'b Bump,
        view: &PacketView<'_>,
        ctx: &Ctx<'_>,
        mut flow: Option<&mut FlowDetectState>,
    ) -> (BVec<'b, RuleIdx>, gate::PacketGate) {
        let pkt = view.pkt;
        let transport = match pkt.l4 {
            L4::Tcp(_) => Transport::Tcp,
            L4::Udp(_) => Transport::Udp,
            L4::Icmpv4(_) | L4::Icmpv6(_) => Transport::Icmp,
            _ => Transport::Ip,
        };
        let gdir = match view.dir {
            Some(Direction::ToClient) => GroupDir::ToClient,
            _ => GroupDir::ToServer,
        };
        let (sp, dp) = pkt.ports();
        let port = if gdir == GroupDir::ToServer { dp } else { sp };
        let mut cands: BVec<'_, RuleIdx> = BVec::with_capacity_in(64, arena);
        let max = self.cfg.max_candidates;
        let mut over = false;
        let scratch = self.scratch.as_ref();
        let has_bits = flow.as_deref().is_some_and(|f| f.nbits > 0);
        let kind = match ctx.kind {
            InspectKind::Packet => 0,
            InspectKind::Stream => 1,
            InspectKind::AppBuffer(_) => 2,
        };
        let mut gated: BVec<'_, u32> = BVec::new_in(arena);
        let mut pg = gate::PacketGate::new(view, ctx.kind);
        let mut gate_rejected = 0u64;
        let set = engine.port_set(transport, gdir, port);
        let mut push = |r: RuleIdx| {
            if cands.len() < max {
                cands.push(r);
            } else {
                over = true;
            }
        };
        for &gi in set.map_or(&[][..], |s| &s.groups) {
            if let Some(a) = self.always.get(gi as usize) {
                for &(r, rg) in &a[kind] {
                    if pg.pass(&self.gates, rg) {
                        push(r);
                    } else {
                        gate_rejected += 1;
                    }
                }
                if !a[kind + 3].is_empty() {
                    gated.push(gi);
                }
            }
        }
        // One scan per buffer instance: the port set's prefilter merges its groups' literals.
        // Stream windows scan the unanchored rules' subset: the anchored ones are looked for
        // in each packet (a later window's start is not the data's), and in the window that
        // starts the stream, whose start is.
        let stream = ctx.kind == InspectKind::Stream && ctx.stream_offset > 0;
        if let (Some(set), Some(scratch)) = (set, scratch) {
            match ctx.kind {
                InspectKind::Packet | InspectKind::Stream => {
                    if !ctx.data.is_empty() {
                        for db in set
                            .buffers
                            .iter()
                            .filter(|b| b.buffer == Buffer::Payload && b.stream == stream)
                        {
                            let data = transform::apply(&db.transforms, ctx.data, arena);
                            self.counters.prefilter_scans += 1;
                            if db.scan(data, scratch, &mut push).is_err() {
                                self.counters.scan_errors += 1;
                            }
                        }
                    }
                }
                InspectKind::AppBuffer(_) => {
                    if let Some(src) = ctx.src {
                        for db in set.buffers.iter().filter(|b| !b.stream) {
                            for inst in 0..MAX_BUFFER_INSTANCES {
                                let Some(b) = src.buffer(db.buffer, inst) else {
                                    break;
                                };
                                let data = transform::apply(&db.transforms, b, arena);
                                self.counters.prefilter_scans += 1;
                                if db.scan(data, scratch, &mut push).is_err() {
                                    self.counters.scan_errors += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        // IP-only rules: once per flow direction (every packet without flow), as Suricata.
        if ctx.kind == InspectKind::Packet && !self.iponly.is_empty() && pkt.ip.is_some() {
            let d = usize::from(view.dir == Some(Direction::ToClient));
            let run = match flow.as_deref_mut() {
                Some(f) if view.dir.is_some() => !std::mem::replace(&mut f.iponly_done[d], true),
                _ => true,
            };
            if run {
                let (s, v4) = addr_key(pkt.src_addr());
                let (dd, _) = addr_key(pkt.dst_addr());
                self.iponly.matches(s, dd, v4, |r| {
                    if cands.len() < max {
                        cands.push(r);
                    } else {
                        over = true;
                    }
                });
            }
        }
        // Rules gated on `flowbits:isset` can match only if the flow has a bit or a candidate
        // of this inspection may set one (setters run first in rule order, as in Suricata).
        if flow.is_some()
            && !gated.is_empty()
            && (has_bits
                || cands
                    .iter()
                    .any(|&r| self.aux.get(r as usize).is_some_and(|a| a.sets_bits)))
        {
            for &gi in gated.iter() {
                if let Some(a) = self.always.get(gi as usize) {
                    for &(r, rg) in &a[kind + 3] {
                        if !pg.pass(&self.gates, rg) {
                            gate_rejected += 1;
                            continue;
                        }
                        if cands.len() < max {
                            cands.push(r);
                        } else {
                            over = true;
                        }
                    }
                }
            }
        }
        if over {
            self.counters.match_limit += 1;
        }
        cands.sort_unstable();
        cands.dedup();
        self.counters.candidates += cands.len() as u64;
        self.counters.gate_rejected += gate_rejected;
        (cands, pg)
    }

    /// Verifies every option of `rule` for this inspection.
    fn verify<'a>(
        counters: &mut DetectCounters,
        cand: Cand<'a, '_>,
        view: &PacketView<'_>,
        ctx: &Ctx<'a>,
        flow: Option<&FlowDetectState>,
        tcache: &mut TransformCache<'a>,
    ) -> Option<Hit> {
        let Cand { rule, gate: g, aux } = cand;
        let arena = tcache.arena;
        // The gate passed: the inspection kind (scope), protocol, addresses, ports and flow
        // state hold unless it could not summarise the header (or the packet has no IP).
        let header = if g.full() || view.pkt.ip.is_none() {
            header::header_ok(rule, view, ctx.kind)
        } else {
            !g.rest() || header::rest_ok(rule, view, ctx.kind)
        };
        if !header {
            return None;
        }
        if !aux.events.iter().all(|&e| view.pkt.has_event(e)) {
            return None;
        }
        if aux.pd_only && !view.proto_detected {
            return None;
        }
        for &(neg, p) in &aux.app_protos {
            let ok = match (p, view.app_proto) {
                // Like Suricata, a negated protocol only holds once detection has named one.
                (Some(p), Some(_)) => app_matches(p, view.app_proto) != neg,
                (Some(_), None) => false,
                (None, have) => have.is_none() != neg,
            };
            if !ok {
                return None;
            }
        }
        if let Proto::App(p) = rule.proto {
            if !app_matches(p, view.app_proto) {
                return None;
            }
        }
        if !flow_conditions(aux, flow) {
            return None;
        }
        if !aux.app_state.is_empty() {
            let src = ctx.src?;
            if !aux.app_state.iter().all(|m| src.app_match(m)) {
                return None;
            }
        }
        // Buffer lists.
        let mut walk = Walk::new(arena);
        let mut hit = Hit {
            kind: ctx.kind,
            instance: 0,
            start: 0,
            end: 0,
            has_pos: false,
        };
        for list in &rule.lists {
            let mut passed = false;
            for inst in 0..MAX_BUFFER_INSTANCES {
                let raw: Option<&[u8]> = match (list.buffer, ctx.kind) {
                    (Buffer::Base64Data, _) => {
                        if inst == 0 {
                            walk.b64
                        } else {
                            None
                        }
                    }
                    (Buffer::Payload, InspectKind::Packet | InspectKind::Stream) => {
                        (inst == 0).then_some(ctx.data)
                    }
                    (b, InspectKind::AppBuffer(_)) => ctx.src.and_then(|s| s.buffer(b, inst)),
                    _ => None,
                };
                let Some(raw) = raw else { break };
                let data = if list.transforms.is_empty() {
                    raw
                } else if list.buffer == Buffer::Base64Data {
                    transform::apply(&list.transforms, raw, arena)
                } else {
                    tcache.get_or_apply(list.buffer, inst, &list.transforms, raw)
                };
                let before = walk.vars;
                if walk.run(&list.matches, data) {
                    passed = true;
                    if walk.last_end > 0 || walk.last_start > 0 {
                        hit.start = walk.last_start;
                        hit.end = walk.last_end;
                        hit.has_pos = true;
                    }
                    if let InspectKind::AppBuffer(_) = ctx.kind {
                        hit.kind = InspectKind::AppBuffer(list.buffer);
                        hit.instance = inst as u16;
                    }
                    break;
                }
                walk.vars = before;
            }
            if let Some(l) = walk.limit.take() {
                match l {
                    WalkLimit::Backtrack => counters.backtrack_limit += 1,
                    WalkLimit::Pcre => counters.pcre_errors += 1,
                    WalkLimit::Vars => counters.flowvar_overflow += 1,
                }
            }
            if !passed {
                return None;
            }
        }
        Some(hit)
    }
}

/// Transformed buffers of one inspection: each (buffer, instance, transform chain) is
/// transformed once, whatever the number of rules inspecting it.
struct TransformCache<'a> {
    cache: BVec<'a, (Buffer, usize, &'a [ir::Transform], &'a [u8])>,
    /// Where transformed buffers are made.
    arena: &'a Bump,
}

/// Distinct transformed buffers cached per inspection; more are recomputed.
const TRANSFORM_CACHE: usize = 32;

impl<'a> TransformCache<'a> {
    fn get_or_apply(
        &mut self,
        b: Buffer,
        inst: usize,
        ts: &'a [ir::Transform],
        raw: &'a [u8],
    ) -> &'a [u8] {
        if let Some(e) = self
            .cache
            .iter()
            .find(|e| e.0 == b && e.1 == inst && e.2 == ts)
        {
            return e.3;
        }
        let d = transform::apply(ts, raw, self.arena);
        if self.cache.len() < TRANSFORM_CACHE {
            self.cache.push((b, inst, ts, d));
        }
        d
    }
}

/// Where a verified rule matched.
#[derive(Debug, Clone, Copy)]
struct Hit {
    kind: InspectKind,
    instance: u16,
    start: usize,
    end: usize,
    has_pos: bool,
}

fn suppressed(rule: &ir::Rule, t: Tracked) -> bool {
    rule.suppress.iter().any(|s| match s {
        None => true,
        Some((track, set)) => {
            let a = match track {
                ir::Track::ByDst => t.dst,
                _ => t.src,
            };
            // Tracked addresses are stored as u128 with IPv4 in the low 32 bits.
            set.v4.iter().any(|&(lo, hi)| {
                u128::from(lo) <= a && a <= u128::from(hi) && a <= u128::from(u32::MAX)
            }) || set.v6.iter().any(|&(lo, hi)| lo <= a && a <= hi)
        }
    })
}

/// `flowbits`/`flowint` conditions (isset, isnotset, comparisons); no flow means unset.
fn flow_conditions(aux: &RuleAux, flow: Option<&FlowDetectState>) -> bool {
    let bit = |b: u16| flow.is_some_and(|f| f.bit(b));
    for op in &aux.bits {
        let ok = match op.cmd {
            BitCmd::IsSet => {
                if op.all {
                    op.bits.iter().all(|&b| bit(b))
                } else {
                    op.bits.iter().any(|&b| bit(b))
                }
            }
            BitCmd::IsNotSet => {
                if op.all {
                    op.bits.iter().all(|&b| !bit(b))
                } else {
                    op.bits.iter().any(|&b| !bit(b))
                }
            }
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    for op in &aux.ints {
        let cur = flow.and_then(|f| f.int(op.var));
        let rhs = match op.value {
            Some(IntVal::Lit(n)) => Some(n),
            Some(IntVal::Var(v)) => flow.and_then(|f| f.int(v)),
            None => None,
        };
        let ok = match op.op {
            FlowintOp::IsSet => cur.is_some(),
            FlowintOp::NotSet => cur.is_none(),
            FlowintOp::Eq => cur.zip(rhs).is_some_and(|(a, b)| a == b),
            FlowintOp::Ne => cur.zip(rhs).is_some_and(|(a, b)| a != b),
            FlowintOp::Lt => cur.zip(rhs).is_some_and(|(a, b)| a < b),
            FlowintOp::Le => cur.zip(rhs).is_some_and(|(a, b)| a <= b),
            FlowintOp::Gt => cur.zip(rhs).is_some_and(|(a, b)| a > b),
            FlowintOp::Ge => cur.zip(rhs).is_some_and(|(a, b)| a >= b),
            FlowintOp::Set | FlowintOp::Add | FlowintOp::Sub => true,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Applies a matched rule's flowbit and flowint changes; false when a table was full.
fn apply_post(aux: &RuleAux, f: &mut FlowDetectState) -> bool {
    let mut ok = true;
    for op in &aux.bits {
        for &b in &op.bits {
            match op.cmd {
                BitCmd::Set => ok &= f.set_bit(b),
                BitCmd::Unset => f.unset_bit(b),
                BitCmd::Toggle => {
                    if f.bit(b) {
                        f.unset_bit(b)
                    } else {
                        ok &= f.set_bit(b)
                    }
                }
                BitCmd::IsSet | BitCmd::IsNotSet => {}
            }
        }
    }
    for op in &aux.ints {
        let rhs = match op.value {
            Some(IntVal::Lit(n)) => Some(n),
            Some(IntVal::Var(v)) => f.int(v),
            None => None,
        };
        let cur = f.int(op.var);
        let new = match op.op {
            FlowintOp::Set => rhs,
            FlowintOp::Add => rhs.map(|r| cur.unwrap_or(0).saturating_add(r)),
            FlowintOp::Sub => rhs.map(|r| cur.unwrap_or(0).saturating_sub(r)),
            _ => None,
        };
        if let Some(v) = new {
            ok &= f.set_int(op.var, v);
        }
    }
    ok
}

fn intern<'r>(names: &mut HashMap<&'r str, u16>, n: &'r str) -> u16 {
    let next = names.len() as u16;
    *names.entry(n).or_insert(next)
}

/// Derives a rule's per-worker facts.
fn derive<'r>(
    r: &'r ir::Rule,
    bit_names: &mut HashMap<&'r str, u16>,
    int_names: &mut HashMap<&'r str, u16>,
) -> RuleAux {
    let mut unsupported = !r.xbits.is_empty();
    let mut events = Vec::new();
    for n in &r.decode_events {
        match n.parse::<DecodeEvent>() {
            Ok(e) => events.push(e),
            // Events of layers this decoder does not produce (app-layer, stream) never fire.
            Err(_) => unsupported = true,
        }
    }
    let mut app_protos = Vec::new();
    let mut app_state = Vec::new();
    for a in &r.app {
        match a {
            AppMatch::Protocol { negated, name } => {
                let p = match Proto::from_name(name) {
                    Some(Proto::App(p)) => Some(p),
                    _ if matches!(name.as_str(), "unknown" | "failed") => None,
                    _ => {
                        unsupported = true;
                        None
                    }
                };
                app_protos.push((*negated, p));
            }
            // State keywords and parser anomalies (`app-layer-event`) are answered by the
            // transaction (see `BufferSource::app_match`).
            other => app_state.push(other.clone()),
        }
    }
    let bits = r
        .flowbits
        .iter()
        .map(|fb| BitOp {
            cmd: fb.cmd,
            bits: fb.names.iter().map(|n| intern(bit_names, n)).collect(),
            all: fb.all,
        })
        .collect();
    let ints = r
        .flowints
        .iter()
        .map(|fi| IntOp {
            var: intern(int_names, &fi.name),
            op: fi.op,
            value: fi.value.as_ref().map(|v| match v {
                Value::Lit(n) => IntVal::Lit(*n),
                Value::Var(n) => IntVal::Var(intern(int_names, n)),
            }),
        })
        .collect();
    let has_app = r
        .lists
        .iter()
        .any(|l| !matches!(l.buffer, Buffer::Payload | Buffer::Base64Data));
    let has_payload = r.lists.iter().any(|l| l.buffer == Buffer::Payload);
    let fl = r.flow.unwrap_or_default();
    let scope = if has_app || !app_state.is_empty() {
        Scope::App
    } else if !has_payload {
        Scope::Header
    } else if r.proto == Proto::TcpPkt || fl.stream == Some(false) || r.dsize.is_some() {
        Scope::PacketOnly
    } else if r.proto == Proto::TcpStream || fl.stream == Some(true) {
        Scope::StreamOnly
    } else {
        Scope::Payload
    };
    let ip_only = r.lists.is_empty()
        && r.dsize.is_none()
        && r.flow.is_none()
        // As in Suricata, setting flowbits keeps a rule IP-only; testing them does not.
        && r
            .flowbits
            .iter()
            .all(|f| matches!(f.cmd, BitCmd::Set | BitCmd::Unset | BitCmd::Toggle))
        && r.flowints.is_empty()
        && r.xbits.is_empty()
        && r.stream_size.is_none()
        && r.header.is_empty()
        && r.decode_events.is_empty()
        && r.app.is_empty()
        && r.src_ports.is_any()
        && r.dst_ports.is_any()
        && !matches!(r.proto, Proto::App(_) | Proto::TcpStream);
    let sets_bits = r
        .flowbits
        .iter()
        .any(|f| matches!(f.cmd, BitCmd::Set | BitCmd::Toggle));
    RuleAux {
        scope,
        ip_only,
        unsupported,
        sets_bits,
        events,
        bits,
        pd_only: !app_protos.is_empty()
            && app_state.is_empty()
            && r.lists.is_empty()
            && r.flowbits.is_empty()
            && r.flowints.is_empty()
            && r.dsize.is_none()
            && r.decode_events.is_empty()
            && r.stream_size.is_none(),
        ints,
        app_protos,
        app_state,
    }
}
