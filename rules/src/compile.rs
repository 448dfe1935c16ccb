//! Compilation: loaded rules → rule groups → per group and buffer a Hyperscan prefilter
//! database, plus the per-rule verification data the workers need.
//!
//! - **Groups**: by transport (TCP, UDP, ICMP, other IP), flow direction (to server / to
//!   client; a rule without direction joins both) and the service-side port set (destination
//!   ports for to-server, source ports for to-client). Rules whose service port is `any` form
//!   the group's `any` port group; a packet is inspected by its port's group and the `any`
//!   group. Port groups with fewer than [`MIN_PORT_GROUP`] rules join the `any` group. A
//!   group's candidates are therefore a superset: the worker verifies each candidate's full
//!   header (addresses, ports, protocol, flow) before its payload matches.
//! - **Port sets** ([`PortSet`], Suricata's per-port-group MPM): the distinct group lists a
//!   service port selects (its port groups, the `any` group, the `ip` groups) each get one
//!   prefilter per buffer over the union of their groups' literals, so an inspection scans
//!   each buffer once rather than once per group. Sets whose union for a buffer is the same
//!   share its database, so the `any` group's literals are compiled once per distinct union.
//! - **Fast pattern** ([`select_fast_pattern`]): Suricata's rule — the explicit
//!   `fast_pattern` (chopped when asked), else the longest positive content of the
//!   highest-priority buffer. Rules without one are "always" rules of the group.
//! - **Literals** are deduplicated per database: one Hyperscan expression per distinct
//!   (bytes, nocase), mapped back to every rule that selected it.
//! - **Modes**: block mode for packets and buffers. TCP streams use the same block databases
//!   over reassembled chunks: the caller keeps [`BufferDb::max_len`]` - 1` bytes of overlap,
//!   which avoids a second (streaming) compile of every payload database.
//! - **Cache**: every database's serialized bytes are stored in one file named by the
//!   SHA-256 of everything Hyperscan sees (expressions, flags, ids, mode, library version),
//!   so an unchanged restart or reload deserializes instead of compiling.
//!
//! [`Engine`] is immutable and `Send + Sync`: build it off the hot path, share it in an
//! `Arc`, and swap it between bursts; each worker allocates its own [`Scratch`] from it.

use crate::ir::{self, Buffer, Match, Proto, Transform};
use crate::load::LoadedRule;
use hyperscan::prelude::{BlockDatabase, Builder, Matching, Pattern, Patterns};
use hyperscan::BlockMode as Block;
use hyperscan::{PatternFlags as Flags, SerializedDatabase};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use thiserror::Error;

pub use hyperscan::Scratch;

/// Transport class of a rule group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// TCP (and the app-layer protocols on it).
    Tcp,
    /// UDP.
    Udp,
    /// ICMP v4/v6.
    Icmp,
    /// Any IP packet (`ip` rules).
    Ip,
}

/// Flow direction of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupDir {
    /// Client → server.
    ToServer,
    /// Server → client.
    ToClient,
}

/// Index of a rule in [`Engine::rules`].
pub type RuleIdx = u32;

/// A literal of a prefilter database.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Literal {
    /// Bytes.
    pub bytes: Vec<u8>,
    /// Case-insensitive.
    pub nocase: bool,
}

/// One buffer's prefilter of a group.
pub struct BufferDb {
    /// The buffer scanned.
    pub buffer: Buffer,
    /// Transforms applied to the buffer before scanning (usually none).
    pub transforms: Vec<Transform>,
    /// Deduplicated literals; Hyperscan's match id is the index.
    pub literals: Vec<Literal>,
    /// Rules each literal selects.
    pub rules_of: Vec<Vec<RuleIdx>>,
    /// Longest literal (stream overlap is `max_len - 1`).
    pub max_len: usize,
    /// A port set's second payload prefilter, scanned on stream windows after the first
    /// instead of the full one: only the literals of [`stream_prefiltered`] rules.
    pub stream: bool,
    /// The compiled database: set on the port sets' prefilters ([`Engine::port_set`]), which
    /// are the ones scanned; a group's own [`RuleGroup::buffers`] describe its literals only.
    /// Identical literal sets of several port sets share one database.
    db: Option<Arc<BlockDatabase>>,
}

impl std::fmt::Debug for BufferDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferDb")
            .field("buffer", &self.buffer)
            .field("literals", &self.literals.len())
            .finish()
    }
}

impl BufferDb {
    /// Size of the compiled database in bytes.
    pub fn db_size(&self) -> usize {
        self.db.as_ref().and_then(|d| d.size().ok()).unwrap_or(0)
    }

    /// Scans `data`, calling `on_rule` for every candidate rule. Each literal is reported at
    /// most once per scan (single-match), and a rule has one literal in the engine, so each
    /// candidate is reported once. No allocation; the worker's scratch is reused.
    pub fn scan(
        &self,
        data: &[u8],
        scratch: &Scratch,
        mut on_rule: impl FnMut(RuleIdx),
    ) -> Result<(), ScanError> {
        let Some(db) = &self.db else { return Ok(()) };
        db.scan(data, scratch, |id, _from, _to, _flags| {
            if let Some(rs) = self.rules_of.get(id as usize) {
                rs.iter().for_each(|&r| on_rule(r));
            }
            Matching::Continue
        })
        .map_err(|_| ScanError::Hyperscan)
    }

    /// Bytes a stream scanner keeps from the end of one reassembled chunk and prepends to
    /// the next, so a literal spanning the boundary is still found (the stream strategy
    /// over block databases).
    pub fn stream_overlap(&self) -> usize {
        self.max_len.saturating_sub(1)
    }
}

/// A prefilter scan failed (scratch not from this engine, or Hyperscan internal error); the
/// data plane counts it and treats the buffer as unscanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ScanError {
    /// Hyperscan returned an error.
    #[error("hyperscan scan failed")]
    Hyperscan,
}

/// Rules sharing transport, direction and service-port set.
#[derive(Debug)]
pub struct RuleGroup {
    /// Transport.
    pub transport: Transport,
    /// Direction.
    pub dir: GroupDir,
    /// Service-side ports (`any` for the port-independent group).
    pub ports: ir::PortSet,
    /// Every rule of the group, in evaluation order.
    pub rules: Vec<RuleIdx>,
    /// Rules without a fast pattern: evaluated for every packet of the group.
    pub always: Vec<RuleIdx>,
    /// Prefilters by buffer.
    pub buffers: Vec<BufferDb>,
}

impl RuleGroup {
    /// The prefilter of the untransformed `buffer`, if any rule of the group uses it.
    pub fn buffer(&self, buffer: Buffer) -> Option<&BufferDb> {
        self.buffers
            .iter()
            .find(|b| b.buffer == buffer && b.transforms.is_empty())
    }

    /// Every prefilter over `buffer`: untransformed and transformed instances.
    pub fn buffers_of(&self, buffer: Buffer) -> impl Iterator<Item = &BufferDb> {
        self.buffers.iter().filter(move |b| b.buffer == buffer)
    }
}

/// A payload rule whose match position is tied to its buffer's start or end (`offset`,
/// `depth`, `startswith`, `endswith`, `pcre` with `^`/`$`, byte and `isdataat` keywords).
/// Such a rule is looked for in each packet and in the window that starts a stream: a later
/// stream window starts at the previous chunk's tail, so the buffer start it would be anchored
/// to is not the data's.
pub fn anchored(rule: &ir::Rule) -> bool {
    let anchored = |m: &Match| match m {
        Match::Content(c) => c.offset.is_some() || c.depth.is_some() || c.startswith || c.endswith,
        Match::Pcre(p) => p.pattern.contains(['^', '$']),
        _ => true,
    };
    rule.lists
        .iter()
        .filter(|l| l.buffer == Buffer::Payload)
        .any(|l| l.matches.iter().any(anchored))
}

/// Payload rules the stream windows' prefilter looks for: the unanchored ones, and those that
/// only inspect the stream (`tcp-stream`, `flow:only_stream`).
pub fn stream_prefiltered(rule: &ir::Rule) -> bool {
    !anchored(rule)
        || rule.proto == Proto::TcpStream
        || rule.flow.as_ref().is_some_and(|f| f.stream == Some(true))
}

/// Everything a packet of one (transport, direction) and service-port interval inspects: the
/// groups the port selects (its port groups, the `any` group, the `ip` groups) and, per
/// buffer instance, one prefilter over the union of their literals, so an inspection makes
/// one Hyperscan scan per buffer instead of one per group (Suricata's per-port-group MPM).
#[derive(Debug)]
pub struct PortSet {
    /// Indices into [`Engine::groups`], in engine order.
    pub groups: Box<[u32]>,
    /// Merged prefilters by buffer instance.
    pub buffers: Vec<BufferDb>,
}

/// Compile statistics.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CompileStats {
    /// Rules in the engine.
    pub rules: usize,
    /// Rule groups.
    pub groups: usize,
    /// Distinct port sets (group lists a service port selects).
    pub port_sets: usize,
    /// Hyperscan databases (distinct merged literal sets).
    pub databases: usize,
    /// Literals before deduplication.
    pub literals_total: usize,
    /// Literals after deduplication.
    pub literals_unique: usize,
    /// Rules with no fast pattern.
    pub always_rules: usize,
    /// Payload literals of the port sets' full prefilters, summed over the sets.
    pub payload_literals: usize,
    /// Of those, literals in the stream windows' prefilters ([`stream_prefiltered`] rules).
    pub stream_literals: usize,
    /// Sum of database sizes.
    pub database_bytes: usize,
    /// Bytes of one worker's scratch.
    pub scratch_bytes: usize,
    /// Databases by buffer: (count, bytes).
    pub by_buffer: BTreeMap<String, (usize, usize)>,
    /// Databases came from the cache.
    pub from_cache: bool,
    /// Cache key (hex SHA-256).
    pub cache_key: String,
    /// Wall time of the Hyperscan step (compile or cache load), milliseconds.
    pub hyperscan_ms: u128,
    /// Literals Hyperscan refused; their rules became "always" rules.
    pub refused_literals: usize,
}

/// Compilation failure.
#[derive(Debug, Error)]
pub enum CompileError {
    /// Hyperscan refused a database (after the per-literal fallback).
    #[error("hyperscan: {0}")]
    Hyperscan(String),
    /// Cache file I/O.
    #[error("cache {path}: {source}")]
    Cache {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// Compilation options.
#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    /// Directory of the serialized-database cache; `None` disables it.
    pub cache_dir: Option<PathBuf>,
    /// Compile threads (0 = available cores).
    pub threads: usize,
    /// Port groups with fewer rules join the any-port group (0 = [`MIN_PORT_GROUP`]; 1 keeps
    /// every port group).
    pub min_port_group_rules: usize,
}

/// Default smallest port group kept on its own.
pub const MIN_PORT_GROUP: usize = 16;

impl CompileOptions {
    fn min_port_group(&self) -> usize {
        if self.min_port_group_rules == 0 {
            MIN_PORT_GROUP
        } else {
            self.min_port_group_rules
        }
    }
}

/// The compiled, immutable detection engine.
#[derive(Debug)]
pub struct Engine {
    /// Rules in evaluation order (action order, then priority).
    pub rules: Vec<Arc<ir::Rule>>,
    /// Groups.
    pub groups: Vec<RuleGroup>,
    /// Each rule's prefilter literal (by [`RuleIdx`]); `None` for always rules. Verification
    /// can skip a `fast_pattern:only` content the prefilter already found.
    pub fast_patterns: Vec<Option<FastPatternChoice>>,
    /// Statistics.
    pub stats: CompileStats,
    /// Port → port set lookup, so per-packet group selection is one index, not a scan.
    port_map: PortMap,
    /// The distinct port sets with their merged prefilters (indexed like `port_map.sets`).
    port_sets: Vec<PortSet>,
    /// Classtype → description (`classification.config`), for the alert's `category`.
    categories: HashMap<String, String>,
}

/// For each (transport, direction), port → index into `sets`, the distinct lists of groups.
#[derive(Debug, Default)]
struct PortMap {
    sets: Vec<Box<[u32]>>,
    by_port: Vec<Box<[u16]>>,
}

const TRANSPORTS: [Transport; 4] = [
    Transport::Tcp,
    Transport::Udp,
    Transport::Icmp,
    Transport::Ip,
];
const DIRS: [GroupDir; 2] = [GroupDir::ToServer, GroupDir::ToClient];

fn slot(t: Transport, d: GroupDir) -> usize {
    let ti = TRANSPORTS.iter().position(|x| *x == t).unwrap_or(0);
    let di = DIRS.iter().position(|x| *x == d).unwrap_or(0);
    ti * DIRS.len() + di
}

impl PortMap {
    /// Builds the table from the groups' port sets; boundaries between port ranges are the
    /// only places the group list can change, so the walk is per range, not per port.
    fn build(groups: &[RuleGroup]) -> Result<PortMap, CompileError> {
        let mut sets: Vec<Box<[u32]>> = Vec::new();
        let mut index: HashMap<Vec<u32>, u16> = HashMap::new();
        let mut by_port = Vec::with_capacity(TRANSPORTS.len() * DIRS.len());
        for t in TRANSPORTS {
            for d in DIRS {
                let members: Vec<u32> = groups
                    .iter()
                    .enumerate()
                    .filter(|(_, g)| {
                        (g.transport == t || g.transport == Transport::Ip) && g.dir == d
                    })
                    .map(|(i, _)| i as u32)
                    .collect();
                let mut cuts: Vec<u32> = vec![0, 65536];
                for &gi in &members {
                    for &(lo, hi) in &groups[gi as usize].ports.0 {
                        cuts.push(u32::from(lo));
                        cuts.push(u32::from(hi) + 1);
                    }
                }
                cuts.sort_unstable();
                cuts.dedup();
                let mut table = vec![0u16; 65536];
                for w in cuts.windows(2) {
                    let (lo, hi) = (w[0], w[1]);
                    if lo >= 65536 {
                        break;
                    }
                    let port = lo as u16;
                    let list: Vec<u32> = members
                        .iter()
                        .copied()
                        .filter(|&gi| groups[gi as usize].ports.contains(port))
                        .collect();
                    let next = sets.len();
                    let id = *index.entry(list.clone()).or_insert_with(|| {
                        sets.push(list.into_boxed_slice());
                        u16::try_from(next).unwrap_or(u16::MAX)
                    });
                    if id == u16::MAX {
                        return Err(CompileError::Hyperscan(
                            "too many distinct port groups".into(),
                        ));
                    }
                    table[lo as usize..hi.min(65536) as usize].fill(id);
                }
                by_port.push(table.into_boxed_slice());
            }
        }
        Ok(PortMap { sets, by_port })
    }

    fn index(&self, t: Transport, d: GroupDir, port: u16) -> Option<usize> {
        self.by_port
            .get(slot(t, d))
            .and_then(|tab| tab.get(port as usize))
            .map(|&i| usize::from(i))
    }

    fn get(&self, t: Transport, d: GroupDir, port: u16) -> &[u32] {
        self.index(t, d, port)
            .and_then(|i| self.sets.get(i))
            .map_or(&[], |s| s)
    }
}

/// Selected prefilter literal of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FastPatternChoice {
    /// Buffer of the content.
    pub buffer: Buffer,
    /// Transforms of the buffer instance the content inspects.
    pub transforms: Vec<Transform>,
    /// Literal (chopped if asked).
    pub literal: Literal,
    /// `fast_pattern:only`.
    pub only: bool,
}

/// Pattern strength, Suricata's tie-breaker between equally long candidates: bytes not seen
/// before in the pattern score by rarity (letters 3; other printable, 0x00, 0x01, 0xff 4;
/// anything else 6), repeated bytes score 1.
pub fn pattern_strength(p: &[u8]) -> u32 {
    let mut seen = [false; 256];
    p.iter()
        .map(|&b| {
            if std::mem::replace(&mut seen[b as usize], true) {
                1
            } else if b.is_ascii_alphabetic() {
                3
            } else if b.is_ascii_graphic() || b == b' ' || matches!(b, 0x00 | 0x01 | 0xff) {
                4
            } else {
                6
            }
        })
        .sum()
}

/// Picks a rule's prefilter literal as Suricata does: the explicit `fast_pattern`; else,
/// among positive contents, the best buffer priority, then the longest, then the strongest
/// ([`pattern_strength`]), then the first written.
pub fn select_fast_pattern(rule: &ir::Rule) -> Option<FastPatternChoice> {
    let mk = |b: Buffer, t: &[Transform], c: &ir::Content| {
        let fp = c.fast_pattern.unwrap_or(ir::FastPattern {
            only: false,
            chop: None,
        });
        let mut bytes = match fp.chop {
            Some((o, l)) => {
                c.pattern[o as usize..(o as usize + l as usize).min(c.pattern.len())].to_vec()
            }
            None => c.pattern.clone(),
        };
        // Caseless literals are stored lowercased so `EVIL` and `evil` share one expression.
        if c.nocase {
            bytes.make_ascii_lowercase();
        }
        FastPatternChoice {
            buffer: b,
            transforms: t.to_vec(),
            literal: Literal {
                bytes,
                nocase: c.nocase,
            },
            only: fp.only,
        }
    };
    let contents = || {
        rule.lists.iter().flat_map(|l| {
            l.matches.iter().filter_map(move |m| match m {
                Match::Content(c) => Some((l, c)),
                _ => None,
            })
        })
    };
    if let Some((l, c)) = contents().find(|(_, c)| c.fast_pattern.is_some()) {
        // An explicit fast pattern on a negated content cannot select candidates.
        return (!c.negated).then(|| mk(l.buffer, &l.transforms, c));
    }
    type Key = (std::cmp::Reverse<u8>, usize, u32);
    let mut best: Option<(Key, &ir::BufferList, &ir::Content)> = None;
    for (l, c) in contents() {
        if c.negated {
            continue;
        }
        let key = (
            std::cmp::Reverse(l.buffer.fast_pattern_priority()),
            c.pattern.len(),
            pattern_strength(&c.pattern),
        );
        if best.is_none_or(|(k, _, _)| key > k) {
            best = Some((key, l, c));
        }
    }
    best.map(|(_, l, c)| mk(l.buffer, &l.transforms, c))
}

fn transport_of(p: Proto) -> Vec<Transport> {
    use vocab::AppProto::*;
    match p {
        Proto::Ip => vec![Transport::Ip],
        Proto::Tcp | Proto::TcpPkt | Proto::TcpStream => vec![Transport::Tcp],
        Proto::Udp => vec![Transport::Udp],
        Proto::Icmp | Proto::Icmpv4 | Proto::Icmpv6 => vec![Transport::Icmp],
        Proto::Sctp => vec![Transport::Ip],
        Proto::App(a) => match a {
            Dns | Ike => vec![Transport::Tcp, Transport::Udp],
            Dhcp | Snmp | Sip | Ntp | Tftp | Quic | Krb5 | Nfs | BittorrentDht => {
                vec![Transport::Udp, Transport::Tcp]
            }
            _ => vec![Transport::Tcp],
        },
    }
}

fn dirs_of(r: &ir::Rule) -> Vec<GroupDir> {
    // A transactional rule's matches can come from either direction.
    if r.direction == crate::ast::Arrow::Transaction {
        return vec![GroupDir::ToServer, GroupDir::ToClient];
    }
    match r.flow.and_then(|f| f.dir) {
        Some(vocab::Direction::ToServer) => vec![GroupDir::ToServer],
        Some(vocab::Direction::ToClient) => vec![GroupDir::ToClient],
        None => vec![GroupDir::ToServer, GroupDir::ToClient],
    }
}

/// One database to build: its literals in id order.
struct DbPlan {
    buffer: Buffer,
    transforms: Vec<Transform>,
    literals: Vec<Literal>,
}

/// A built database and the literal ids Hyperscan refused.
type Built = (Option<BlockDatabase>, Vec<usize>);

/// Per buffer while planning: literal → id, literals, rules per literal.
type BufPlan = (HashMap<Literal, usize>, Vec<Literal>, Vec<Vec<RuleIdx>>);

/// Hyperscan expression for a literal: every byte escaped so the expression is exact.
fn expression(l: &Literal) -> String {
    let mut s = String::with_capacity(l.bytes.len() * 4);
    for &b in &l.bytes {
        if b.is_ascii_alphanumeric() {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

fn flags(l: &Literal) -> Flags {
    let mut f = Flags::SINGLEMATCH;
    if l.nocase {
        f |= Flags::CASELESS;
    }
    f
}

impl Engine {
    /// Adds the classtype descriptions alerts report as their `category`.
    pub fn with_classifications(mut self, c: &crate::config::Classifications) -> Engine {
        self.categories = c
            .iter()
            .map(|cl| (cl.name.clone(), cl.description.clone()))
            .collect();
        self
    }

    /// The alert `category` of a rule: its classtype's description, or the classtype itself
    /// when no description is known; empty without classtype.
    pub fn category<'a>(&'a self, rule: &'a ir::Rule) -> &'a str {
        match rule.meta.classtype.as_deref() {
            Some(c) => self.categories.get(c).map_or(c, String::as_str),
            None => "",
        }
    }

    /// Compiles loaded rules: rules are grouped by transport, direction and service ports,
    /// each port set gets one prefilter database per inspected buffer over its groups' fast
    /// patterns, and the databases are built (or read from the cache) and attached.
    pub fn compile(rules: &[LoadedRule], opts: &CompileOptions) -> Result<Engine, CompileError> {
        let rules: Vec<Arc<ir::Rule>> = rules.iter().map(|r| r.ir.clone()).collect();
        let mut stats = CompileStats {
            rules: rules.len(),
            ..CompileStats::default()
        };
        let mut choices: Vec<Option<FastPatternChoice>> =
            rules.iter().map(|r| select_fast_pattern(r)).collect();
        let mut groups = form_groups(group_members(&rules), opts.min_port_group());
        describe_group_literals(&mut groups, &choices, &mut stats);
        stats.always_rules = choices.iter().filter(|c| c.is_none()).count();
        let port_map = PortMap::build(&groups)?;
        let SetPlans {
            mut port_sets,
            plans,
            uses,
        } = plan_port_sets(&port_map, &groups, &rules, &mut stats);
        let dbs = build_databases(&plans, opts, &mut stats)?;
        let shared = share_databases(&plans, dbs, &mut stats);
        attach_databases(&shared, &uses, &mut port_sets, &mut groups, &mut choices);
        stats.groups = groups.len();
        stats.port_sets = port_sets.len();
        stats.databases = plans.len();
        let engine = Engine {
            rules,
            groups,
            fast_patterns: choices,
            stats,
            port_map,
            port_sets,
            categories: HashMap::new(),
        };
        let scratch_bytes = engine
            .alloc_scratch()
            .ok()
            .flatten()
            .and_then(|s| s.size().ok())
            .unwrap_or(0);
        let mut engine = engine;
        engine.stats.scratch_bytes = scratch_bytes;
        Ok(engine)
    }

    /// One worker's scratch, valid for every database of the engine (`None` when the engine
    /// has no database).
    pub fn alloc_scratch(&self) -> Result<Option<Scratch>, CompileError> {
        let mut scratch: Option<Scratch> = None;
        for db in self
            .port_sets
            .iter()
            .flat_map(|g| g.buffers.iter())
            .filter_map(|b| b.db.as_deref())
        {
            match &mut scratch {
                None => {
                    scratch = Some(
                        db.alloc_scratch()
                            .map_err(|e| CompileError::Hyperscan(e.to_string()))?,
                    )
                }
                Some(s) => {
                    db.realloc_scratch(s)
                        .map_err(|e| CompileError::Hyperscan(e.to_string()))?;
                }
            }
        }
        Ok(scratch)
    }

    /// Groups that inspect a packet of `transport` in direction `dir` whose service port is
    /// `port`: the port's own groups, the `any` groups and the `ip` groups. One table lookup;
    /// no allocation.
    pub fn groups_for(
        &self,
        transport: Transport,
        dir: GroupDir,
        port: u16,
    ) -> impl Iterator<Item = &RuleGroup> {
        self.port_map
            .get(transport, dir, port)
            .iter()
            .filter_map(move |&i| self.groups.get(i as usize))
    }

    /// The port set a packet of `transport` in direction `dir` whose service port is `port`
    /// inspects: its groups and their merged prefilters. One table lookup; no allocation.
    pub fn port_set(&self, transport: Transport, dir: GroupDir, port: u16) -> Option<&PortSet> {
        self.port_map
            .index(transport, dir, port)
            .and_then(|i| self.port_sets.get(i))
    }

    /// Every port set (each merged prefilter is scanned through one of them).
    pub fn port_sets(&self) -> &[PortSet] {
        &self.port_sets
    }

    /// Approximate heap bytes of the engine: databases plus rule IR.
    pub fn memory_bytes(&self) -> usize {
        let ir: usize = self
            .rules
            .iter()
            .map(|r| {
                std::mem::size_of::<ir::Rule>()
                    + r.meta.msg.len()
                    + r.lists
                        .iter()
                        .flat_map(|l| l.matches.iter())
                        .map(|m| match m {
                            Match::Content(c) => c.pattern.len() + 64,
                            _ => 96,
                        })
                        .sum::<usize>()
            })
            .sum();
        let lits: usize = self
            .groups
            .iter()
            .flat_map(|g| g.buffers.iter())
            .chain(self.port_sets.iter().flat_map(|s| s.buffers.iter()))
            .map(|b| {
                b.literals.iter().map(|l| l.bytes.len() + 32).sum::<usize>()
                    + b.rules_of.iter().map(|r| r.len() * 4 + 24).sum::<usize>()
            })
            .sum();
        let ports = self.port_map.by_port.len() * 65536 * 2
            + self
                .port_map
                .sets
                .iter()
                .map(|s| s.len() * 4 + 16)
                .sum::<usize>();
        self.stats.database_bytes + ir + lits + ports
    }
}

/// A rule's place in grouping: (transport, direction, service ports, rule).
type Member = (Transport, GroupDir, ir::PortSet, RuleIdx);

/// Every (transport, direction, service ports) a rule is inspected under, per rule.
fn group_members(rules: &[Arc<ir::Rule>]) -> Vec<Member> {
    let mut members: Vec<Member> = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        for t in transport_of(r.proto) {
            for d in dirs_of(r) {
                let ports = match (t, d) {
                    // `<>` rules may see the service on either side.
                    _ if r.direction != crate::ast::Arrow::To => ir::PortSet::any(),
                    (Transport::Tcp | Transport::Udp, GroupDir::ToServer) => r.dst_ports.clone(),
                    (Transport::Tcp | Transport::Udp, GroupDir::ToClient) => r.src_ports.clone(),
                    _ => ir::PortSet::any(),
                };
                members.push((t, d, ports, i as RuleIdx));
            }
        }
    }
    members
}

/// Rule groups from their members; port groups smaller than `min_port_group` join the
/// any-port group of their transport and direction.
fn form_groups(members: Vec<Member>, min_port_group: usize) -> Vec<RuleGroup> {
    // Small port groups join their any-port group: each database costs a fixed amount
    // of compile time and scratch, and a few extra candidates cost less (the header's
    // ports are verified per candidate anyway).
    let mut sizes: HashMap<(Transport, GroupDir, &ir::PortSet), usize> = HashMap::new();
    for (t, d, p, _) in &members {
        *sizes.entry((*t, *d, p)).or_default() += 1;
    }
    let small: std::collections::HashSet<(Transport, GroupDir, ir::PortSet)> = sizes
        .into_iter()
        .filter(|(_, n)| *n < min_port_group)
        .map(|((t, d, p), _)| (t, d, p.clone()))
        .collect();
    let mut key_of: HashMap<(Transport, GroupDir, ir::PortSet), usize> = HashMap::new();
    let mut groups: Vec<RuleGroup> = Vec::new();
    for (t, d, mut ports, ri) in members {
        if small.contains(&(t, d, ports.clone())) {
            ports = ir::PortSet::any();
        }
        let gi = *key_of.entry((t, d, ports.clone())).or_insert_with(|| {
            groups.push(RuleGroup {
                transport: t,
                dir: d,
                ports,
                rules: Vec::new(),
                always: Vec::new(),
                buffers: Vec::new(),
            });
            groups.len() - 1
        });
        groups[gi].rules.push(ri);
    }
    groups
}

/// Each group's fast-pattern literals per buffer instance, deduplicated; rules without a
/// fast pattern become the group's always-inspected rules.
fn describe_group_literals(
    groups: &mut [RuleGroup],
    choices: &[Option<FastPatternChoice>],
    stats: &mut CompileStats,
) {
    // Each group's literals per buffer instance, deduplicated (the group's description;
    // the scanned databases are the port sets' below).
    for g in groups.iter_mut() {
        let mut per_buf: BTreeMap<(Buffer, Vec<Transform>), BufPlan> = BTreeMap::new();
        for &ri in &g.rules {
            match &choices[ri as usize] {
                Some(c) => {
                    stats.literals_total += 1;
                    let e = per_buf.entry((c.buffer, c.transforms.clone())).or_default();
                    let id = *e.0.entry(c.literal.clone()).or_insert_with(|| {
                        e.1.push(c.literal.clone());
                        e.2.push(Vec::new());
                        e.1.len() - 1
                    });
                    e.2[id].push(ri);
                }
                None => g.always.push(ri),
            }
        }
        for ((buffer, transforms), (_, lits, rules_of)) in per_buf {
            stats.literals_unique += lits.len();
            g.buffers.push(BufferDb {
                buffer,
                transforms,
                max_len: lits.iter().map(|l| l.bytes.len()).max().unwrap_or(0),
                literals: lits,
                rules_of,
                stream: false,
                db: None,
            });
        }
    }
}

/// The prefilter plan of every port set: its buffers, the distinct databases they need, and
/// which buffer uses which database.
struct SetPlans {
    port_sets: Vec<PortSet>,
    plans: Vec<DbPlan>,
    /// (port set, buffer index in it, plan).
    uses: Vec<(usize, usize, usize)>,
}

/// Plans the prefilters of every port set.
fn plan_port_sets(
    port_map: &PortMap,
    groups: &[RuleGroup],
    rules: &[Arc<ir::Rule>],
    stats: &mut CompileStats,
) -> SetPlans {
    // One prefilter per port set and buffer instance over the union of its groups'
    // literals; identical unions (sets that differ only in groups without that buffer)
    // share one database.
    let mut port_sets: Vec<PortSet> = Vec::with_capacity(port_map.sets.len());
    let mut plans: Vec<DbPlan> = Vec::new();
    let mut plan_of: HashMap<(Buffer, Vec<Transform>, Vec<Literal>), usize> = HashMap::new();
    // (port set, buffer index) → plan.
    let mut uses: Vec<(usize, usize, usize)> = Vec::new();
    for (si, set) in port_map.sets.iter().enumerate() {
        let mut per_buf: BTreeMap<(Buffer, Vec<Transform>), BufPlan> = BTreeMap::new();
        for &gi in set.iter() {
            for b in &groups[gi as usize].buffers {
                let e = per_buf.entry((b.buffer, b.transforms.clone())).or_default();
                for (l, rs) in b.literals.iter().zip(&b.rules_of) {
                    let id = *e.0.entry(l.clone()).or_insert_with(|| {
                        e.1.push(l.clone());
                        e.2.push(Vec::new());
                        e.1.len() - 1
                    });
                    e.2[id].extend_from_slice(rs);
                }
            }
        }
        // The payload's stream subset, scanned on stream windows.
        let mut subsets: Vec<((Buffer, Vec<Transform>), BufPlan, bool)> = Vec::new();
        for ((buffer, transforms), (index, lits, rules_of)) in per_buf {
            if buffer == Buffer::Payload {
                let mut sub = BufPlan::default();
                for (l, rs) in lits.iter().zip(&rules_of) {
                    let keep: Vec<RuleIdx> = rs
                        .iter()
                        .copied()
                        .filter(|&r| stream_prefiltered(&rules[r as usize]))
                        .collect();
                    if !keep.is_empty() {
                        sub.0.insert(l.clone(), sub.1.len());
                        sub.1.push(l.clone());
                        sub.2.push(keep);
                    }
                }
                stats.stream_literals += sub.1.len();
                stats.payload_literals += lits.len();
                subsets.push(((buffer, transforms.clone()), sub, true));
            }
            subsets.push(((buffer, transforms), (index, lits, rules_of), false));
        }
        let mut buffers = Vec::with_capacity(subsets.len());
        for ((buffer, transforms), (_, lits, mut rules_of), stream) in subsets {
            for rs in &mut rules_of {
                rs.sort_unstable();
                rs.dedup();
            }
            let key = (buffer, transforms.clone(), lits.clone());
            let pi = *plan_of.entry(key).or_insert_with(|| {
                plans.push(DbPlan {
                    buffer,
                    transforms: transforms.clone(),
                    literals: lits.clone(),
                });
                plans.len() - 1
            });
            uses.push((si, buffers.len(), pi));
            buffers.push(BufferDb {
                buffer,
                transforms,
                max_len: lits.iter().map(|l| l.bytes.len()).max().unwrap_or(0),
                literals: lits,
                rules_of,
                stream,
                db: None,
            });
        }
        port_sets.push(PortSet {
            groups: set.clone(),
            buffers,
        });
    }
    SetPlans {
        port_sets,
        plans,
        uses,
    }
}

/// Builds the planned databases, or reads them from the cache (keyed by everything
/// Hyperscan sees) when it holds them.
fn build_databases(
    plans: &[DbPlan],
    opts: &CompileOptions,
    stats: &mut CompileStats,
) -> Result<Vec<Built>, CompileError> {
    // Cache key over everything Hyperscan sees.
    let mut h = Sha256::new();
    h.update(b"osprey-rules-hsdb-v2\0");
    h.update(hyperscan::version_str().to_bytes());
    for (i, p) in plans.iter().enumerate() {
        h.update(format!("db {i} {:?} {:?}\n", p.buffer, p.transforms).as_bytes());
        for l in &p.literals {
            h.update(expression(l).as_bytes());
            h.update([0, l.nocase as u8]);
        }
    }
    let key: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    stats.cache_key = key.clone();
    let t0 = Instant::now();
    let cache_path = opts
        .cache_dir
        .as_ref()
        .map(|d| d.join(format!("{key}.hsdb")));
    let cached = cache_path
        .as_deref()
        .and_then(|p| read_cache(p, plans.len()));
    let dbs: Vec<Built> = match cached {
        Some(dbs) => {
            stats.from_cache = true;
            dbs.into_iter().map(|d| (Some(d), Vec::new())).collect()
        }
        None => {
            let built = build_all(plans, opts.threads)?;
            if let Some(p) = &cache_path {
                // A cache that cannot be written only costs the next start its speed.
                let _ = write_cache(p, &built);
            }
            built
        }
    };
    stats.hyperscan_ms = t0.elapsed().as_millis();
    Ok(dbs)
}

/// A built database (shared by the port sets whose plans are equal) and the literals it
/// refused.
type Shared = (Option<Arc<BlockDatabase>>, Vec<usize>);

/// Shares each built database and accounts its size.
fn share_databases(plans: &[DbPlan], dbs: Vec<Built>, stats: &mut CompileStats) -> Vec<Shared> {
    let mut shared: Vec<Shared> = Vec::new();
    for (plan, (db, refused)) in plans.iter().zip(dbs) {
        let size = db.as_ref().and_then(|d| d.size().ok()).unwrap_or(0);
        stats.database_bytes += size;
        let e = stats
            .by_buffer
            .entry(plan.buffer.keyword().to_string())
            .or_default();
        e.0 += 1;
        e.1 += size;
        stats.refused_literals += refused.len();
        shared.push((db.map(Arc::new), refused));
    }
    shared
}

/// Attaches the databases to their port sets' buffers; refused literals turn their rules
/// into always rules of every group that holds them.
fn attach_databases(
    shared: &[Shared],
    uses: &[(usize, usize, usize)],
    port_sets: &mut [PortSet],
    groups: &mut [RuleGroup],
    choices: &mut [Option<FastPatternChoice>],
) {
    for &(si, bi, pi) in uses {
        let Some((db, refused)) = shared.get(pi) else {
            continue;
        };
        let set = &mut port_sets[si];
        for &li in refused {
            let rs = std::mem::take(&mut set.buffers[bi].rules_of[li]);
            for &r in &rs {
                choices[r as usize] = None;
                for &gi in set.groups.iter() {
                    let g = &mut groups[gi as usize];
                    if g.rules.binary_search(&r).is_ok() {
                        g.always.push(r);
                    }
                }
            }
        }
        set.buffers[bi].db = db.clone();
    }
    for g in groups.iter_mut() {
        g.always.sort_unstable();
        g.always.dedup();
    }
}

/// Compiles every planned database, on `threads` threads.
fn build_all(plans: &[DbPlan], threads: usize) -> Result<Vec<Built>, CompileError> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    // Largest first so the threads finish together.
    let mut order: Vec<usize> = (0..plans.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(plans[i].literals.len()));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<Result<Built, CompileError>>>> =
        std::sync::Mutex::new((0..plans.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads.min(plans.len()).max(1) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&i) = order.get(k) else { break };
                let r = build_one(&plans[i].literals);
                if let Ok(mut g) = results.lock() {
                    g[i] = Some(r);
                }
            });
        }
    });
    let results = results
        .into_inner()
        .map_err(|_| CompileError::Hyperscan("compile thread panicked".into()))?;
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(CompileError::Hyperscan("database not built".into()))))
        .collect()
}

/// Most literals one database may refuse before the whole set is given up (bounded retries).
const MAX_REFUSED: usize = 64;

/// Compiles one literal set. A literal Hyperscan refuses is dropped (its rules become always
/// rules) and the set retried, at most [`MAX_REFUSED`] times.
fn build_one(lits: &[Literal]) -> Result<Built, CompileError> {
    let mut refused: Vec<usize> = Vec::new();
    loop {
        let pats: Vec<Pattern> = lits
            .iter()
            .enumerate()
            .filter(|(i, _)| !refused.contains(i))
            .map(|(i, l)| Pattern {
                expression: expression(l),
                flags: flags(l),
                id: Some(i),
                ext: Default::default(),
                som: None,
            })
            .collect();
        if pats.is_empty() {
            return Ok((None, refused));
        }
        match Patterns(pats.clone()).build::<Block>() {
            Ok(db) => return Ok((Some(db), refused)),
            Err(e) => {
                let bad = match &e {
                    hyperscan::Error::Hyperscan(hyperscan::HsError::CompileError(ce)) => {
                        ce.expression()
                    }
                    _ => None,
                };
                match bad.and_then(|b| pats.get(b)).and_then(|p| p.id) {
                    Some(id) if refused.len() < MAX_REFUSED => refused.push(id),
                    _ => return Err(CompileError::Hyperscan(e.to_string())),
                }
            }
        }
    }
}

const CACHE_MAGIC: &[u8; 8] = b"OSPHSDB1";

fn write_cache(
    path: &Path,
    dbs: &[(Option<BlockDatabase>, Vec<usize>)],
) -> Result<(), CompileError> {
    let io = |source| CompileError::Cache {
        path: path.to_path_buf(),
        source,
    };
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(io)?;
    }
    // Refused literals would not be reproduced from the cache: keep such builds uncached.
    if dbs.iter().any(|(_, r)| !r.is_empty()) {
        return Ok(());
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
    f.write_all(CACHE_MAGIC).map_err(io)?;
    f.write_all(&(dbs.len() as u64).to_le_bytes()).map_err(io)?;
    for (db, _) in dbs {
        let bytes = match db {
            Some(db) => db
                .serialize()
                .map_err(|e| CompileError::Hyperscan(e.to_string()))?
                .to_vec(),
            None => Vec::new(),
        };
        f.write_all(&(bytes.len() as u64).to_le_bytes())
            .map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
    }
    f.flush().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads a cache file; any mismatch or corruption means "not cached".
fn read_cache(path: &Path, expect: usize) -> Option<Vec<BlockDatabase>> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    let mut rest = buf.strip_prefix(CACHE_MAGIC)?;
    let mut take = |n: usize| -> Option<&[u8]> {
        if rest.len() < n {
            return None;
        }
        let (a, b) = rest.split_at(n);
        rest = b;
        Some(a)
    };
    let count = u64::from_le_bytes(take(8)?.try_into().ok()?) as usize;
    if count != expect {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let n = u64::from_le_bytes(take(8)?.try_into().ok()?) as usize;
        let bytes = take(n)?;
        if bytes.is_empty() {
            return None;
        }
        out.push(bytes.deserialize().ok()?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{LoadOptions, Loader};

    fn load(text: &str) -> Vec<LoadedRule> {
        let mut l = Loader::new(LoadOptions::default());
        l.add_str("t.rules", text);
        let rs = l.finish();
        assert_eq!(rs.report.failed + rs.report.skipped, 0, "{}", rs.report);
        rs.rules
    }

    const KEEP_PORT_GROUPS: CompileOptions = CompileOptions {
        cache_dir: None,
        threads: 1,
        min_port_group_rules: 1,
    };

    #[test]
    fn small_port_groups_merge_into_any() {
        let rules = load(concat!(
            "alert tcp any any -> any 80 (flow:to_server; content:\"a\"; sid:1;)\n",
            "alert tcp any any -> any any (flow:to_server; content:\"b\"; sid:2;)\n",
        ));
        let e = Engine::compile(&rules, &CompileOptions::default()).expect("compile");
        assert_eq!(e.groups.len(), 1);
        assert!(e.groups[0].ports.is_any());
        let e = Engine::compile(&rules, &KEEP_PORT_GROUPS).expect("compile");
        assert_eq!(e.groups.len(), 2);
    }

    fn first_ir(text: &str) -> Arc<ir::Rule> {
        load(text).remove(0).ir
    }

    #[test]
    fn fast_pattern_selection() {
        // Longest positive content wins.
        let r = first_ir(
            r#"alert tcp any any -> any any (content:"ab"; content:!"negatedlong"; content:"abcd"; sid:1;)"#,
        );
        assert_eq!(select_fast_pattern(&r).expect("fp").literal.bytes, b"abcd");
        // Explicit fast_pattern beats length; chop takes a slice.
        let r = first_ir(
            r#"alert tcp any any -> any any (content:"abcdef"; content:"xy"; fast_pattern; sid:1;)"#,
        );
        assert_eq!(select_fast_pattern(&r).expect("fp").literal.bytes, b"xy");
        let r = first_ir(
            r#"alert tcp any any -> any any (content:"abcdef"; nocase; fast_pattern:2,3; sid:1;)"#,
        );
        let fp = select_fast_pattern(&r).expect("fp");
        assert_eq!(
            fp.literal,
            Literal {
                bytes: b"cde".to_vec(),
                nocase: true
            }
        );
        let r = first_ir(r#"alert tcp any any -> any any (content:"ABCdef"; nocase; sid:1;)"#);
        assert_eq!(
            select_fast_pattern(&r).expect("fp").literal.bytes,
            b"abcdef"
        );
        // App buffers rank above the payload, even when shorter; http.method ranks with it.
        let r = first_ir(
            r#"alert http any any -> any any (content:"a very long payload"; http.uri; content:"/x"; sid:1;)"#,
        );
        assert_eq!(select_fast_pattern(&r).expect("fp").buffer, Buffer::HttpUri);
        let r = first_ir(
            r#"alert http any any -> any any (http.method; content:"POST"; pkt_data; content:"abc"; sid:1;)"#,
        );
        assert_eq!(select_fast_pattern(&r).expect("fp").literal.bytes, b"POST");
        let r = first_ir(
            r#"alert http any any -> any any (http.method; content:"GET"; pkt_data; content:"abcd"; sid:1;)"#,
        );
        assert_eq!(select_fast_pattern(&r).expect("fp").buffer, Buffer::Payload);
        // Equal length: the more diverse pattern wins.
        let r = first_ir(
            r#"alert tcp any any -> any any (content:"aaaa"; content:"a|00|b|ff|"; sid:1;)"#,
        );
        assert_eq!(
            select_fast_pattern(&r).expect("fp").literal.bytes,
            b"a\x00b\xff"
        );
        assert_eq!(pattern_strength(b"aaaa"), 6);
        assert_eq!(pattern_strength(b"a\x00b\x02"), 3 + 4 + 3 + 6);
        // Only negated contents: no prefilter.
        let r = first_ir(r#"alert tcp any any -> any any (content:!"x"; sid:1;)"#);
        assert!(select_fast_pattern(&r).is_none());
    }

    #[test]
    fn groups_scan_and_dedup() {
        let rules = load(concat!(
            "alert tcp any any -> any 80 (msg:\"a\"; flow:to_server; content:\"evil\"; nocase; sid:1;)\n",
            "alert tcp any any -> any 80 (msg:\"b\"; flow:to_server; content:\"EVIL\"; nocase; sid:2;)\n",
            "alert tcp any any -> any any (msg:\"c\"; flow:to_server; content:\"bad|00|stuff\"; sid:3;)\n",
            "alert tcp any any -> any any (msg:\"d\"; flow:to_server; dsize:>10; sid:4;)\n",
            "alert http any any -> any any (msg:\"e\"; flow:to_server; http.uri; content:\"/x.php\"; sid:5;)\n",
            "alert udp any any -> any 53 (msg:\"f\"; content:\"zz\"; sid:6;)\n",
        ));
        let e = Engine::compile(&rules, &KEEP_PORT_GROUPS).expect("compile");
        assert_eq!(e.stats.rules, 6);
        assert_eq!(e.fast_patterns.len(), e.rules.len());
        for (i, r) in e.rules.iter().enumerate() {
            // sid 4 has no content, every other rule has a fast pattern.
            assert_eq!(e.fast_patterns[i].is_none(), r.sid == 4, "sid {}", r.sid);
        }
        // sid 1 and 2 share one caseless literal.
        assert!(e.stats.literals_unique < e.stats.literals_total);
        let scratch = e.alloc_scratch().expect("scratch").expect("some db");
        let sid = |i: RuleIdx| e.rules[i as usize].sid;
        // Port 80's set: its port group and the `any` group in one payload database.
        let set = e
            .port_set(Transport::Tcp, GroupDir::ToServer, 80)
            .expect("set");
        let payload: Vec<&BufferDb> = set
            .buffers
            .iter()
            .filter(|b| b.buffer == Buffer::Payload && !b.stream)
            .collect();
        assert_eq!(payload.len(), 1);
        assert_eq!(set.groups.len(), 2);
        let mut hits = Vec::new();
        payload[0]
            .scan(b"xx EvIl and bad\0stuff", &scratch, |r| hits.push(sid(r)))
            .expect("scan");
        hits.sort_unstable();
        assert_eq!(hits, vec![1, 2, 3]);
        // The groups' own descriptions are not scanned: they carry no database.
        let mut none = Vec::new();
        for g in e.groups_for(Transport::Tcp, GroupDir::ToServer, 80) {
            if let Some(b) = g.buffer(Buffer::Payload) {
                b.scan(b"evil bad", &scratch, |r| none.push(r))
                    .expect("scan");
            }
        }
        assert!(none.is_empty());
        // Port 8080 sees only the `any` group.
        let mut hits = Vec::new();
        let set = e
            .port_set(Transport::Tcp, GroupDir::ToServer, 8080)
            .expect("set");
        assert_eq!(set.groups.len(), 1);
        for b in set
            .buffers
            .iter()
            .filter(|b| b.buffer == Buffer::Payload && !b.stream)
        {
            b.scan(b"evil bad\0stuff", &scratch, |r| hits.push(sid(r)))
                .expect("scan");
        }
        assert_eq!(hits, vec![3]);
        // Rule without content is an always rule; the http rule has a URI database.
        let any_tcp: Vec<&RuleGroup> = e
            .groups_for(Transport::Tcp, GroupDir::ToServer, 1)
            .collect();
        assert!(any_tcp
            .iter()
            .any(|g| g.always.iter().any(|&r| sid(r) == 4)));
        assert!(any_tcp.iter().any(|g| g.buffer(Buffer::HttpUri).is_some()));
        // A rule without flow direction is a candidate both ways (its header ports are verified
        // later), like Suricata's toserver/toclient groups.
        assert!(e
            .groups_for(Transport::Udp, GroupDir::ToClient, 53)
            .any(|g| g.rules.iter().any(|&r| sid(r) == 6)));
    }

    #[test]
    fn stream_prefilter_leaves_anchored_rules_out() {
        let rules = load(concat!(
            "alert tcp any any -> any any (flow:to_server; content:\"free\"; sid:1;)\n",
            "alert tcp any any -> any any (flow:to_server; content:\"head\"; depth:4; sid:2;)\n",
            "alert tcp any any -> any any (flow:to_server; content:\"x\"; content:\"tail\"; endswith; sid:3;)\n",
            "alert tcp any any -> any any (flow:to_server; content:\"pcre\"; pcre:\"/^pcre/\"; sid:4;)\n",
            "alert tcp any any -> any any (flow:to_server,only_stream; content:\"only\"; depth:4; sid:5;)\n",
            "alert tcp any any -> any any (flow:to_server; content:\"rel\"; content:\"ative\"; distance:0; within:9; sid:6;)\n",
        ));
        let e = Engine::compile(&rules, &KEEP_PORT_GROUPS).expect("compile");
        let set = e
            .port_set(Transport::Tcp, GroupDir::ToServer, 80)
            .expect("set");
        let scratch = e.alloc_scratch().expect("scratch").expect("db");
        let scan = |stream: bool| {
            let mut hits = Vec::new();
            for b in set
                .buffers
                .iter()
                .filter(|b| b.buffer == Buffer::Payload && b.stream == stream)
            {
                b.scan(b"free head tail pcre only relative", &scratch, |r| {
                    hits.push(e.rules[r as usize].sid)
                })
                .expect("scan");
            }
            hits.sort_unstable();
            hits
        };
        assert_eq!(scan(false), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(scan(true), vec![1, 5, 6]);
        assert_eq!(e.stats.payload_literals, 6);
        assert_eq!(e.stats.stream_literals, 3);
    }

    #[test]
    fn cache_round_trip() {
        let dir = tempfile::tempdir().expect("tmp");
        let rules = load(concat!(
            "alert tcp any any -> any any (content:\"hello\"; sid:1;)\n",
            "alert tcp any any -> any any (content:\"world\"; nocase; sid:2;)\n",
        ));
        let opts = CompileOptions {
            cache_dir: Some(dir.path().to_path_buf()),
            threads: 1,
            ..CompileOptions::default()
        };
        let a = Engine::compile(&rules, &opts).expect("cold");
        assert!(!a.stats.from_cache);
        let b = Engine::compile(&rules, &opts).expect("warm");
        assert!(b.stats.from_cache);
        assert_eq!(a.stats.cache_key, b.stats.cache_key);
        let s = b.alloc_scratch().expect("scratch").expect("db");
        let mut hits = Vec::new();
        let set = b
            .port_set(Transport::Tcp, GroupDir::ToServer, 1)
            .expect("set");
        for db in set.buffers.iter().filter(|b| !b.stream) {
            db.scan(b"WORLD hello", &s, |r| hits.push(r)).expect("scan");
        }
        hits.sort_unstable();
        assert_eq!(hits.len(), 2);
        // A corrupt cache file is ignored, not trusted.
        let f = dir.path().join(format!("{}.hsdb", a.stats.cache_key));
        std::fs::write(&f, b"OSPHSDB1garbage").expect("write");
        let c = Engine::compile(&rules, &opts).expect("recompile");
        assert!(!c.stats.from_cache);
        // A different ruleset has a different key.
        let other = load("alert tcp any any -> any any (content:\"other\"; sid:3;)\n");
        assert_ne!(
            Engine::compile(&other, &opts).expect("o").stats.cache_key,
            a.stats.cache_key
        );
    }

    #[test]
    fn transformed_buffers_get_their_own_database() {
        let rules = load(concat!(
            "alert dns any any -> any any (flow:to_server; dns.query; content:\"evil.com\"; sid:1;)\n",
            "alert dns any any -> any any (flow:to_server; dns.query; dotprefix; content:\".evil.com\"; endswith; sid:2;)\n",
        ));
        let r2 = &rules.iter().find(|r| r.ir.sid == 2).expect("sid 2").ir;
        assert_eq!(
            select_fast_pattern(r2).expect("fp").transforms,
            vec![Transform::Dotprefix]
        );
        let e = Engine::compile(&rules, &CompileOptions::default()).expect("compile");
        let g = e
            .groups_for(Transport::Udp, GroupDir::ToServer, 53)
            .find(|g| g.buffer(Buffer::DnsQuery).is_some())
            .expect("dns group");
        assert_eq!(g.buffers_of(Buffer::DnsQuery).count(), 2);
        assert_eq!(g.buffer(Buffer::DnsQuery).expect("plain").literals.len(), 1);
    }

    #[test]
    fn port_map_matches_a_scan() {
        let rules = load(concat!(
            "alert tcp any any -> any [80,8080] (flow:to_server; content:\"a\"; sid:1;)\n",
            "alert tcp any any -> any 1024: (flow:to_server; content:\"b\"; sid:2;)\n",
            "alert tcp any any -> any !443 (flow:to_server; content:\"c\"; sid:3;)\n",
            "alert tcp any [21,22] -> any any (flow:to_client; content:\"d\"; sid:4;)\n",
            "alert ip any any -> any any (content:\"e\"; sid:5;)\n",
            "alert udp any any -> any 53 (content:\"f\"; sid:6;)\n",
        ));
        let e = Engine::compile(&rules, &KEEP_PORT_GROUPS).expect("compile");
        for t in TRANSPORTS {
            for d in DIRS {
                for port in [0u16, 21, 22, 53, 79, 80, 443, 1023, 1024, 8080, 65535] {
                    let mut fast: Vec<usize> = e
                        .groups_for(t, d, port)
                        .map(|g| g as *const RuleGroup as usize)
                        .collect();
                    let mut slow: Vec<usize> = e
                        .groups
                        .iter()
                        .filter(|g| {
                            (g.transport == t || g.transport == Transport::Ip)
                                && g.dir == d
                                && g.ports.contains(port)
                        })
                        .map(|g| g as *const RuleGroup as usize)
                        .collect();
                    fast.sort_unstable();
                    slow.sort_unstable();
                    assert_eq!(fast, slow, "{t:?} {d:?} {port}");
                }
            }
        }
    }

    #[test]
    fn engine_is_shareable() {
        fn check<T: Send + Sync>() {}
        check::<Engine>();
    }

    #[test]
    fn huge_literal_sets_compile() {
        let mut text = String::new();
        for i in 0..2000 {
            text.push_str(&format!(
                "alert tcp any any -> any any (flow:to_server; content:\"pattern-{i:05}-xyz\"; sid:{};)\n",
                i + 1
            ));
        }
        let e = Engine::compile(&load(&text), &CompileOptions::default()).expect("compile");
        assert_eq!(e.stats.literals_unique, 2000);
        assert!(e.stats.database_bytes > 0);
        let g = &e.groups[0];
        let db = g.buffer(Buffer::Payload).expect("payload db");
        assert_eq!(db.stream_overlap(), "pattern-00000-xyz".len() - 1);
    }
}
