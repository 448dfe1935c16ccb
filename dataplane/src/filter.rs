//! Capture filters: a BPF expression in tcpdump's language (`not port 22`, `tcp port 80 or
//! udp port 53`) compiled once by libpcap for the frames' link type and run on every frame
//! before it is decoded. A frame the filter rejects is counted (`filter.rejected`, per worker
//! and per port) and not inspected; inline it is forwarded as it came.
//!
//! Where the EAL runs, the program is converted to eBPF and loaded into DPDK's `rte_bpf`
//! ([`crate::dpdk::Bpf`]), and its x86-64 JIT runs it where it compiles the program. Otherwise
//! libpcap's own interpreter (`pcap_offline_filter`) runs it: it costs about half of what
//! `rte_bpf`'s interpreter does (`cargo bench -p dataplane --bench filter`), which is kept
//! for comparison ([`CaptureFilter::use_engine`]). [`CaptureFilter::engine`] says which runs.
//! None of them allocates or makes a system call per frame.

use crate::counters::CounterSet;
use crate::decode::LinkType;
use crate::dpdk::{Bpf, ClassicInsn, Eal};

/// What runs a filter's program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterEngine {
    /// DPDK's eBPF JIT (native code).
    Jit,
    /// DPDK's eBPF interpreter.
    Interpreter,
    /// libpcap's classic BPF interpreter.
    Libpcap,
}

impl FilterEngine {
    /// The engine's name in logs and status: `rte_bpf-jit`, `rte_bpf-interpreter`, `libpcap`.
    pub fn name(self) -> &'static str {
        match self {
            FilterEngine::Jit => "rte_bpf-jit",
            FilterEngine::Interpreter => "rte_bpf-interpreter",
            FilterEngine::Libpcap => "libpcap",
        }
    }
}

impl std::fmt::Display for FilterEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A compiled filter.
pub struct CaptureFilter {
    expr: String,
    prog: pcap::BpfProgram,
    /// The same program in `rte_bpf`, when loaded.
    bpf: Option<Bpf>,
    engine: FilterEngine,
}

impl std::fmt::Debug for CaptureFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CaptureFilter({:?}, {})", self.expr, self.engine)
    }
}

/// An expression libpcap could not compile, with libpcap's reason and, where a leading part
/// of it compiles, where the rest starts (libpcap's messages give no position).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("capture filter {expr:?}: {reason}{}", at_suffix(.expr, *.at))]
pub struct FilterError {
    pub expr: String,
    pub reason: String,
    /// Byte offset of the first word after the longest leading run of words that compiles.
    pub at: Option<usize>,
}

fn at_suffix(expr: &str, at: Option<usize>) -> String {
    match at {
        Some(at) => {
            let word = expr[at..].split_whitespace().next().unwrap_or("");
            format!(" (valid up to column {}; fails from {word:?})", at + 1)
        }
        None => String::new(),
    }
}

/// Where `expr` stops compiling: the offset of the word after the longest leading run of
/// whitespace-separated words that `compiles`, if some run does (checked at start only).
fn failing_word(expr: &str, compiles: impl Fn(&str) -> bool) -> Option<usize> {
    let starts: Vec<usize> = expr
        .char_indices()
        .filter(|&(i, c)| {
            !c.is_whitespace() && (i == 0 || expr[..i].ends_with(char::is_whitespace))
        })
        .map(|(i, _)| i)
        .collect();
    starts
        .iter()
        .skip(1)
        .rev()
        .find(|&&next| compiles(expr[..next].trim_end()))
        .copied()
}

/// The pcap link type libpcap compiles for (the `DLT_` value of `pcap_open_dead`).
fn dlt(link: LinkType) -> i32 {
    match link {
        LinkType::Ethernet => 1,
        LinkType::Null => 0,
        LinkType::Loop => 108,
        // DLT_RAW as Linux's libpcap numbers it.
        LinkType::Raw => 12,
        LinkType::Ipv4 => 228,
        LinkType::Ipv6 => 229,
        LinkType::LinuxSll => 113,
    }
}

/// libpcap's program as plain instructions (read from their `code jt jf k` form, the one
/// view the pcap crate gives of its `bpf_insn`).
fn classic(prog: &pcap::BpfProgram) -> Option<Vec<ClassicInsn>> {
    prog.get_instructions()
        .iter()
        .map(|i| {
            let text = i.to_string();
            let mut f = text.split(' ');
            Some(ClassicInsn {
                code: f.next()?.parse().ok()?,
                jt: f.next()?.parse().ok()?,
                jf: f.next()?.parse().ok()?,
                k: f.next()?.parse().ok()?,
            })
        })
        .collect()
}

impl CaptureFilter {
    /// Compiles `expr` (optimised) for frames of link type `link`, run by libpcap.
    pub fn compile(expr: &str, link: LinkType) -> Result<CaptureFilter, FilterError> {
        let err = |reason: String, at: Option<usize>| FilterError {
            expr: expr.to_owned(),
            reason,
            at,
        };
        let dead =
            pcap::Capture::dead(pcap::Linktype(dlt(link))).map_err(|e| err(e.to_string(), None))?;
        let prog = dead.compile(expr, true).map_err(|e| {
            let at = failing_word(expr, |part| dead.compile(part, true).is_ok());
            err(e.to_string(), at)
        })?;
        Ok(CaptureFilter {
            expr: expr.to_owned(),
            prog,
            bpf: None,
            engine: FilterEngine::Libpcap,
        })
    }

    /// [`CaptureFilter::compile`], then loaded into `rte_bpf`, whose JIT runs it where it
    /// compiles the program; libpcap runs it otherwise (DPDK's refusal is logged).
    pub fn load(expr: &str, link: LinkType, eal: &Eal) -> Result<CaptureFilter, FilterError> {
        let mut f = CaptureFilter::compile(expr, link)?;
        let loaded = classic(&f.prog)
            .ok_or_else(|| "unreadable instruction".to_owned())
            .and_then(|insns| Bpf::load_classic(eal, &insns).map_err(|e| e.to_string()));
        match loaded {
            Ok(bpf) => {
                if bpf.has_jit() {
                    f.engine = FilterEngine::Jit;
                }
                f.bpf = Some(bpf);
            }
            Err(e) => {
                tracing::warn!(filter = expr, error = %e, "rte_bpf could not load the capture filter; libpcap runs it");
            }
        }
        Ok(f)
    }

    /// The expression.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// What runs the program.
    pub fn engine(&self) -> FilterEngine {
        self.engine
    }

    /// Runs the program with `engine` from now on (benchmarks, tests); false, and nothing
    /// changes, when that engine is not available for this filter.
    pub fn use_engine(&mut self, engine: FilterEngine) -> bool {
        let ok = match engine {
            FilterEngine::Libpcap => true,
            FilterEngine::Interpreter => self.bpf.is_some(),
            FilterEngine::Jit => self.bpf.as_ref().is_some_and(Bpf::has_jit),
        };
        if ok {
            self.engine = engine;
        }
        ok
    }

    /// Whether the filter keeps `frame`.
    #[inline]
    pub fn accepts(&self, frame: &[u8]) -> bool {
        match (&self.bpf, self.engine) {
            (Some(b), FilterEngine::Jit) => b.run_jit(frame),
            (Some(b), FilterEngine::Interpreter) => b.run_interpreted(frame),
            _ => self.prog.filter(frame),
        }
    }
}

/// Counters of the filter stage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterCounters {
    /// Frames the filter rejected (not inspected).
    pub rejected: u64,
}

impl CounterSet for FilterCounters {
    fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        f("filter.rejected", self.rejected);
    }
}

/// A worker's filters, one per Rx queue it polls (the filter of the queue's port, if any),
/// with what each rejected.
#[derive(Debug, Default)]
pub struct QueueFilters {
    by_queue: Vec<Option<CaptureFilter>>,
    rejected: Vec<u64>,
    counters: FilterCounters,
}

impl QueueFilters {
    /// Filters for queues in poll order (`None`: that queue keeps everything).
    pub fn new(by_queue: Vec<Option<CaptureFilter>>) -> QueueFilters {
        QueueFilters {
            rejected: vec![0; by_queue.len()],
            by_queue,
            counters: FilterCounters::default(),
        }
    }

    /// True when queue `queue`'s filter rejects `frame` (counted).
    #[inline]
    pub fn rejects(&mut self, queue: usize, frame: &[u8]) -> bool {
        let Some(Some(f)) = self.by_queue.get(queue) else {
            return false;
        };
        if f.accepts(frame) {
            return false;
        }
        self.counters.rejected += 1;
        if let Some(r) = self.rejected.get_mut(queue) {
            *r += 1;
        }
        true
    }

    /// Frames queue `queue`'s filter rejected.
    pub fn rejected(&self, queue: usize) -> u64 {
        self.rejected.get(queue).copied().unwrap_or(0)
    }

    /// Whether any queue has a filter.
    pub fn any(&self) -> bool {
        self.by_queue.iter().any(Option::is_some)
    }

    /// The worker's counters (`filter.rejected`, every queue).
    pub fn counters(&self) -> &FilterCounters {
        &self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet + IPv4 + TCP or UDP from 192.0.2.1:`sport` to 198.51.100.2:`dport`.
    fn frame(proto: u8, sport: u16, dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let l4 = if proto == 6 { 20 } else { 8 };
        let total = (20 + l4) as u16;
        f.extend_from_slice(&[
            0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2,
        ]);
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.resize(14 + usize::from(total), 0);
        if proto == 6 {
            f[14 + 20 + 12] = 5 << 4;
        }
        f
    }

    #[test]
    fn a_typical_expression_keeps_what_it_names() {
        let f = CaptureFilter::compile("tcp port 80 or udp port 53", LinkType::Ethernet).unwrap();
        assert!(f.accepts(&frame(6, 40000, 80)));
        assert!(f.accepts(&frame(6, 80, 40000)));
        assert!(f.accepts(&frame(17, 5353, 53)));
        assert!(!f.accepts(&frame(17, 40000, 80)));
        assert!(!f.accepts(&frame(6, 40000, 443)));
        assert!(
            !f.accepts(&[0u8; 10]),
            "a runt frame is rejected, not read past"
        );
        let f = CaptureFilter::compile("not port 22", LinkType::Ethernet).unwrap();
        assert!(!f.accepts(&frame(6, 22, 5000)));
        assert!(f.accepts(&frame(6, 23, 5000)));
    }

    #[test]
    fn bad_expressions_are_refused_with_libpcaps_reason() {
        let e = CaptureFilter::compile("tcp prot 80", LinkType::Ethernet).unwrap_err();
        assert_eq!(e.expr, "tcp prot 80");
        assert!(e.to_string().contains("syntax error"), "{e}");
        assert_eq!(e.at, Some(4), "{e}");
        assert!(
            e.to_string()
                .contains("(valid up to column 5; fails from \"prot\")"),
            "{e}"
        );
        let e = CaptureFilter::compile("tcp and port 80 and", LinkType::Ethernet).unwrap_err();
        assert_eq!(e.at, Some(16), "{e}");
        // Nothing leading compiles: libpcap's reason alone.
        let e = CaptureFilter::compile("frobnicate", LinkType::Ethernet).unwrap_err();
        assert_eq!(e.at, None, "{e}");
        // Link-layer keywords do not apply to raw IP.
        assert!(CaptureFilter::compile("ether host 00:11:22:33:44:55", LinkType::Raw).is_err());
        assert!(CaptureFilter::compile("ip and tcp", LinkType::Raw).is_ok());
    }
}
