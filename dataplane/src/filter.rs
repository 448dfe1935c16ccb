//! Capture filters: a BPF expression in tcpdump's language (`not port 22`, `tcp port 80 or
//! udp port 53`) compiled once by libpcap for the capture's link type and run on every frame
//! before it is decoded. A frame the filter rejects is counted (`filter.rejected`) and not
//! inspected; inline it is forwarded as it came.
//!
//! The program runs in libpcap's own interpreter (`pcap_offline_filter`: no allocation, no
//! system call per frame). DPDK 22.11's `rte_bpf` JIT is not used yet.

use crate::counters::CounterSet;
use crate::decode::LinkType;

/// A compiled filter.
pub struct CaptureFilter {
    expr: String,
    prog: pcap::BpfProgram,
}

impl std::fmt::Debug for CaptureFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CaptureFilter({:?})", self.expr)
    }
}

/// An expression libpcap could not compile, with libpcap's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("capture filter {expr:?}: {reason}")]
pub struct FilterError {
    pub expr: String,
    pub reason: String,
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

impl CaptureFilter {
    /// Compiles `expr` (optimised) for frames of link type `link`.
    pub fn compile(expr: &str, link: LinkType) -> Result<CaptureFilter, FilterError> {
        let err = |reason: String| FilterError {
            expr: expr.to_owned(),
            reason,
        };
        let dead =
            pcap::Capture::dead(pcap::Linktype(dlt(link))).map_err(|e| err(e.to_string()))?;
        let prog = dead.compile(expr, true).map_err(|e| err(e.to_string()))?;
        Ok(CaptureFilter {
            expr: expr.to_owned(),
            prog,
        })
    }

    /// The expression.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// Whether the filter keeps `frame`.
    #[inline]
    pub fn accepts(&self, frame: &[u8]) -> bool {
        self.prog.filter(frame)
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
        // Link-layer keywords do not apply to raw IP.
        assert!(CaptureFilter::compile("ether host 00:11:22:33:44:55", LinkType::Raw).is_err());
        assert!(CaptureFilter::compile("ip and tcp", LinkType::Raw).is_ok());
    }
}
