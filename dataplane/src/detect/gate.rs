//! Dense per-rule header summaries: the first check a candidate rule meets.
//!
//! Most candidates of an inspection (rules without a prefilter pattern in the packet's groups,
//! prefilter hits on common literals) fail on their header: wrong direction, wrong address
//! class, wrong port, wrong inspection kind. A [`Gate`] holds those facts as bits in a small
//! `Copy` struct kept in one contiguous array indexed by rule, so rejecting a candidate reads
//! 16 bytes instead of the rule's IR and its auxiliary data.
//!
//! Address sets are interned per engine (a ruleset uses few distinct ones: `$HOME_NET`,
//! `$EXTERNAL_NET`, `any`, some lists); a [`PacketGate`] memoises the packet's membership of
//! the most used sets as bits, so each set is searched at most once per address and
//! inspection. A gate is exact for what it covers (protocol, addresses, ports, `flow`
//! direction/state/stream, inspection kind); the rest of a rule's packet keywords are checked
//! by [`super::header::rest_ok`] when [`Gate::rest`] says there are any.

use super::header::{in_addrs, in_ports};
use super::{InspectKind, PacketView, Scope};
use crate::decode::L4;
use hashbrown::HashMap;
use rules::ast::Arrow;
use rules::ir::{self, IpSet, PortSet, Proto};
use std::net::IpAddr;
use vocab::Direction;

// Inspection kinds (`Gate::kinds`, any of).
/// A packet inspection.
const K_PKT: u8 = 1;
/// A packet inspection whose payload rules run on it (not a reassembled TCP flow).
const K_PKT_PAYLOAD: u8 = 2;
/// A stream chunk.
const K_STREAM: u8 = 4;
/// App-layer buffers.
const K_APP: u8 = 8;

// Packet classes (`Gate::protos`, any of).
const P_TCP: u8 = 1;
const P_UDP: u8 = 2;
const P_ICMP4: u8 = 4;
const P_ICMP6: u8 = 8;
const P_SCTP: u8 = 16;
const P_OTHER: u8 = 32;
const P_ALL: u8 = 63;

// Flow facts (`Gate::need`, all of).
const F_TOSERVER: u8 = 1;
const F_TOCLIENT: u8 = 2;
const F_EST: u8 = 4;
const F_NOT_EST: u8 = 8;
const F_STREAM: u8 = 16;
const F_NOT_STREAM: u8 = 32;

// `Gate::flags`.
/// `<>`: the reversed orientation may match too.
const G_BOTH: u8 = 1;
/// Packet keywords beyond the gate (`dsize`, `stream_size`, `flow` fragments, IP/TCP/ICMP
/// header keywords): [`super::header::rest_ok`] must run.
const G_REST: u8 = 2;
/// Source ports are a list: `sp` is an index into [`Gates::ports`].
const G_SP_SET: u8 = 4;
/// Destination ports are a list: `dp` is an index into [`Gates::ports`].
const G_DP_SET: u8 = 8;
/// The summary could not be built (too many distinct sets): run the full header check.
const G_FULL: u8 = 16;

/// Address set id meaning "any address".
const ANY: u16 = 0;
/// Sets with an id below this are memoised per inspection in a 64-bit mask.
const MEMO: u16 = 64;

/// One rule's header summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Gate {
    kinds: u8,
    protos: u8,
    need: u8,
    flags: u8,
    src: u16,
    dst: u16,
    /// Source port range, or (index into [`Gates::ports`], 0) with [`G_SP_SET`].
    sp: (u16, u16),
    /// Destination port range, or (index, 0) with [`G_DP_SET`].
    dp: (u16, u16),
}

impl Gate {
    /// Other packet keywords remain to be checked after the gate passed.
    pub(super) fn rest(&self) -> bool {
        self.flags & G_REST != 0
    }

    /// The gate does not cover the header: run [`super::header::header_ok`].
    pub(super) fn full(&self) -> bool {
        self.flags & G_FULL != 0
    }
}

/// The summaries of an engine's rules and the interned sets they refer to.
#[derive(Debug, Default)]
pub(super) struct Gates {
    pub(super) gates: Vec<Gate>,
    addrs: Vec<IpSet>,
    ports: Vec<PortSet>,
}

/// Facts about one rule the gate needs from the detector's derivation.
pub(super) struct RuleFacts {
    pub(super) scope: Scope,
    pub(super) unsupported: bool,
}

impl Gates {
    /// Summarises `rules` (with their derived scope) for fast rejection.
    pub(super) fn build<'r>(
        rules: impl Iterator<Item = (&'r ir::Rule, RuleFacts)> + Clone,
    ) -> Gates {
        // Intern address sets, most used first so the memoised ids cover most rules.
        let any = IpSet::any();
        let mut count: HashMap<&IpSet, usize> = HashMap::new();
        for (r, _) in rules.clone() {
            for s in [&r.src, &r.dst] {
                if *s != any {
                    *count.entry(s).or_default() += 1;
                }
            }
        }
        let mut by_use: Vec<(&IpSet, usize)> = count.into_iter().collect();
        by_use.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.v4.cmp(&b.0.v4)));
        let mut addrs = vec![any.clone()];
        let mut addr_id: HashMap<&IpSet, u16> = HashMap::new();
        for (s, _) in by_use {
            let Ok(id) = u16::try_from(addrs.len()) else {
                break;
            };
            addr_id.insert(s, id);
            addrs.push(s.clone());
        }
        let mut ports: Vec<PortSet> = Vec::new();
        let mut port_id: HashMap<&PortSet, u16> = HashMap::new();
        let mut gates = Vec::new();
        for (r, facts) in rules {
            let mut flags = 0u8;
            let addr = |s: &IpSet| {
                if *s == any {
                    Some(ANY)
                } else {
                    addr_id.get(s).copied()
                }
            };
            let (src, dst) = match (addr(&r.src), addr(&r.dst)) {
                (Some(s), Some(d)) => (s, d),
                _ => {
                    flags |= G_FULL;
                    (ANY, ANY)
                }
            };
            let mut port = |ps: &'r PortSet, set_flag: u8| -> (u16, u16) {
                if let [(lo, hi)] = ps.0[..] {
                    return (lo, hi);
                }
                let next = ports.len();
                let id = *port_id.entry(ps).or_insert_with(|| {
                    ports.push(ps.clone());
                    u16::try_from(next).unwrap_or(u16::MAX)
                });
                if id == u16::MAX {
                    flags |= G_FULL;
                }
                flags |= set_flag;
                (id, 0)
            };
            let sp = port(&r.src_ports, G_SP_SET);
            let dp = port(&r.dst_ports, G_DP_SET);
            if r.direction == Arrow::Both {
                flags |= G_BOTH;
            }
            let fl = r.flow.unwrap_or_default();
            let mut need = 0u8;
            match fl.dir {
                Some(Direction::ToServer) => need |= F_TOSERVER,
                Some(Direction::ToClient) => need |= F_TOCLIENT,
                None => {}
            }
            match fl.established {
                Some(true) => need |= F_EST,
                Some(false) => need |= F_NOT_EST,
                None => {}
            }
            match fl.stream {
                Some(true) => need |= F_STREAM,
                Some(false) => need |= F_NOT_STREAM,
                None => {}
            }
            if fl.frag.is_some()
                || r.dsize.is_some()
                || r.stream_size.is_some()
                || !r.header.is_empty()
            {
                flags |= G_REST;
            }
            let kinds = if facts.unsupported {
                0
            } else {
                match facts.scope {
                    Scope::Header | Scope::PacketOnly => K_PKT,
                    Scope::Payload => K_PKT_PAYLOAD | K_STREAM,
                    Scope::StreamOnly => K_STREAM,
                    Scope::App => K_APP,
                }
            };
            let protos = match r.proto {
                Proto::Ip => P_ALL,
                Proto::Tcp | Proto::TcpPkt | Proto::TcpStream => P_TCP,
                Proto::Udp => P_UDP,
                Proto::Icmp => P_ICMP4 | P_ICMP6,
                Proto::Icmpv4 => P_ICMP4,
                Proto::Icmpv6 => P_ICMP6,
                Proto::Sctp => P_SCTP,
                Proto::App(_) => P_TCP | P_UDP,
            };
            gates.push(Gate {
                kinds,
                protos,
                need,
                flags,
                src,
                dst,
                sp,
                dp,
            });
        }
        Gates {
            gates,
            addrs,
            ports,
        }
    }

    /// Rule `r`'s gate; a rule outside the table gets one that rejects everything.
    pub(super) fn get(&self, r: usize) -> Gate {
        self.gates.get(r).copied().unwrap_or_default()
    }

    /// Distinct address sets (including `any`).
    #[cfg(test)]
    pub(super) fn address_sets(&self) -> usize {
        self.addrs.len()
    }
}

/// The inspected packet's side of the gates, computed once per inspection.
pub(super) struct PacketGate {
    ip: bool,
    kind: u8,
    proto: u8,
    have: u8,
    has_ports: bool,
    sp: u16,
    dp: u16,
    addr: [IpAddr; 2],
    /// Per address (source, destination): memoised set ids, and their membership.
    known: [u64; 2],
    member: [u64; 2],
}

impl PacketGate {
    /// The gate side of `view` for an inspection of `kind`.
    pub(super) fn new(view: &PacketView<'_>, kind: InspectKind) -> Self {
        let pkt = view.pkt;
        let is_tcp = matches!(pkt.l4, L4::Tcp(_));
        let kind = match kind {
            InspectKind::Packet if view.stream_active && is_tcp => K_PKT,
            InspectKind::Packet => K_PKT | K_PKT_PAYLOAD,
            InspectKind::Stream => K_STREAM,
            InspectKind::AppBuffer(_) => K_APP,
        };
        let mut proto = match pkt.l4 {
            L4::Tcp(_) => P_TCP,
            L4::Udp(_) => P_UDP,
            L4::Icmpv4(_) => P_ICMP4,
            L4::Icmpv6(_) => P_ICMP6,
            L4::None | L4::Other(_) => P_OTHER,
        };
        if pkt.ip.is_some_and(|i| i.proto == 132) {
            proto |= P_SCTP;
        }
        let mut have = 0;
        match view.dir {
            Some(Direction::ToServer) => have |= F_TOSERVER,
            Some(Direction::ToClient) => have |= F_TOCLIENT,
            None => {}
        }
        if view.dir.is_some() {
            have |= if view.established { F_EST } else { F_NOT_EST };
        }
        have |= if kind == K_STREAM {
            F_STREAM
        } else {
            F_NOT_STREAM
        };
        let (sp, dp) = pkt.ports();
        PacketGate {
            ip: pkt.ip.is_some(),
            kind,
            proto,
            have,
            has_ports: matches!(pkt.l4, L4::Tcp(_) | L4::Udp(_)),
            sp,
            dp,
            addr: [pkt.src_addr(), pkt.dst_addr()],
            known: [0; 2],
            member: [0; 2],
        }
    }

    /// Inspection kind, protocol and flow state.
    #[inline]
    pub(super) fn basic(&self, g: Gate) -> bool {
        g.kinds & self.kind != 0 && g.protos & self.proto != 0 && g.need & !self.have == 0
    }

    /// Whether the packet passes `g` (kind, protocol, flow, addresses and ports; with
    /// [`Gate::full`] only the kind, the caller runs the full header check).
    pub(super) fn pass(&mut self, gs: &Gates, g: Gate) -> bool {
        if g.full() || !self.ip {
            // Non-IP packets and odd rules take the full check; only the kind is decided here.
            return g.kinds & self.kind != 0;
        }
        if !self.basic(g) {
            return false;
        }
        if self.oriented(gs, g, 0, 1) {
            return true;
        }
        g.flags & G_BOTH != 0 && self.oriented(gs, g, 1, 0)
    }

    /// Rule source = address `s`, rule destination = address `d` (0 = packet source).
    fn oriented(&mut self, gs: &Gates, g: Gate, s: usize, d: usize) -> bool {
        if self.has_ports {
            let (ps, pd) = if s == 0 {
                (self.sp, self.dp)
            } else {
                (self.dp, self.sp)
            };
            if !port_in(gs, g.sp, g.flags & G_SP_SET != 0, ps)
                || !port_in(gs, g.dp, g.flags & G_DP_SET != 0, pd)
            {
                return false;
            }
        }
        self.addr_in(gs, g.src, s) && self.addr_in(gs, g.dst, d)
    }

    fn addr_in(&mut self, gs: &Gates, id: u16, which: usize) -> bool {
        if id == ANY {
            return true;
        }
        let Some(set) = gs.addrs.get(usize::from(id)) else {
            return false;
        };
        if id >= MEMO {
            return in_addrs(set, self.addr[which]);
        }
        let bit = 1u64 << id;
        if self.known[which] & bit == 0 {
            self.known[which] |= bit;
            if in_addrs(set, self.addr[which]) {
                self.member[which] |= bit;
            }
        }
        self.member[which] & bit != 0
    }
}

fn port_in(gs: &Gates, r: (u16, u16), set: bool, p: u16) -> bool {
    if !set {
        return r.0 <= p && p <= r.1;
    }
    gs.ports
        .get(usize::from(r.0))
        .is_some_and(|ps| in_ports(ps, p))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{engine, frame};
    use super::super::{DetectConfig, Detector, InspectKind, PacketView, Scope};
    use super::*;
    use crate::decode::{DecodeConfig, Decoder, LinkType};
    use crate::time::Timestamp;
    use proptest::prelude::*;

    /// Rule headers and options covering every part of a gate.
    const RULES: &str = r#"
alert tcp $HOME_NET any -> $EXTERNAL_NET 80 (msg:"a"; flow:established,to_server; content:"x"; sid:1;)
alert tcp $EXTERNAL_NET 80 -> $HOME_NET any (msg:"b"; flow:to_client; content:"y"; sid:2;)
alert udp any any <> 10.0.0.0/8 [53,5353] (msg:"c"; content:"z"; sid:3;)
alert ip [1.2.3.4,10.1.0.0/16] any -> any any (msg:"d"; ttl:64; sid:4;)
alert icmp any any -> $HOME_NET any (msg:"e"; itype:8; sid:5;)
alert tcp any [1024:,!8080] -> any ![22,23] (msg:"f"; flow:not_established; dsize:>2; content:"x"; sid:6;)
alert tcp-pkt any any -> any 80 (msg:"g"; content:"x"; sid:7;)
alert tcp-stream any any -> any 80 (msg:"h"; flow:only_stream; content:"x"; sid:8;)
alert http any any -> any any (msg:"i"; http.uri; content:"x"; sid:9;)
alert tcp !$HOME_NET any <> $HOME_NET 1:1024 (msg:"j"; flow:no_stream,stateless; sid:10;)
alert tcp any any -> any any (msg:"k"; stream_size:client,>,5; sid:11;)
alert tcp any any -> 192.168.1.0/24 any (msg:"l"; flags:S; sid:12;)
"#;

    const ADDRS: [[u8; 4]; 5] = [
        [10, 1, 2, 3],
        [192, 168, 1, 9],
        [8, 8, 8, 8],
        [1, 2, 3, 4],
        [172, 16, 0, 1],
    ];
    const PORTS: [u16; 8] = [80, 53, 5353, 22, 8080, 40000, 1024, 1];

    /// The scope rule before the gate existed: which inspections may evaluate a rule.
    fn scope_ok(scope: Scope, unsupported: bool, kind: InspectKind, view: &PacketView<'_>) -> bool {
        if unsupported {
            return false;
        }
        match (kind, scope) {
            (InspectKind::Packet, Scope::Header | Scope::PacketOnly) => true,
            (InspectKind::Packet, Scope::Payload) => {
                !(view.stream_active && matches!(view.pkt.l4, L4::Tcp(_)))
            }
            (InspectKind::Stream, Scope::Payload | Scope::StreamOnly) => true,
            (InspectKind::AppBuffer(_), Scope::App) => true,
            _ => false,
        }
    }

    #[test]
    fn address_sets_are_interned() {
        let d = Detector::new(engine(RULES), DetectConfig::default()).expect("detector");
        // any, $HOME_NET, $EXTERNAL_NET, 10/8, the ip list, 192.168.1/24.
        assert_eq!(d.core.gates.address_sets(), 6);
        assert_eq!(d.core.gates.gates.len(), 12);
        assert!(d.core.gates.gates.iter().all(|g| !g.full()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Gate, then the remaining keywords, decide exactly what the scope and the full
        /// header check decide, for every rule, packet, flow state and inspection kind.
        #[test]
        fn gate_agrees_with_full_header_check(
            s in 0usize..5, d in 0usize..5, sp in 0usize..8, dp in 0usize..8,
            l4 in prop_oneof![Just(6u8), Just(17u8), Just(1u8)],
            flags in prop_oneof![Just(0x02u16), Just(0x10u16), Just(0x0800u16)],
            payload in proptest::collection::vec(any::<u8>(), 0..6),
            dir in 0u8..3, established: bool, stream_active: bool, kind in 0u8..3,
            bytes in 0u64..10,
        ) {
            let det = Detector::new(engine(RULES), DetectConfig::default()).expect("detector");
            let mut dec = Decoder::new(DecodeConfig {
                checksum_validation: false,
                ..DecodeConfig::default()
            })
            .expect("decoder");
            let f = frame(ADDRS[s], ADDRS[d], l4, PORTS[sp], PORTS[dp], flags, &payload);
            let pkt = dec.decode(LinkType::Ethernet, &f, Timestamp(1));
            let view = PacketView {
                pkt: &pkt,
                dir: match dir {
                    0 => None,
                    1 => Some(Direction::ToServer),
                    _ => Some(Direction::ToClient),
                },
                established,
                app_proto: None,
                flow_id: 1,
                stream_active,
                stream_bytes: [bytes, bytes],
                proto_detected: false,
            };
            let kind = match kind {
                0 => InspectKind::Packet,
                1 => InspectKind::Stream,
                _ => InspectKind::AppBuffer(ir::Buffer::HttpUri),
            };
            let mut pg = PacketGate::new(&view, kind);
            for (i, rule) in det.engine().rules.iter().enumerate() {
                let aux = &det.core.aux[i];
                let want = scope_ok(aux.scope, aux.unsupported, kind, &view)
                    && super::super::header::header_ok(rule, &view, kind);
                let g = det.core.gates.get(i);
                let got = pg.pass(&det.core.gates, g)
                    && if g.full() || pkt.ip.is_none() {
                        super::super::header::header_ok(rule, &view, kind)
                    } else {
                        !g.rest() || super::super::header::rest_ok(rule, &view, kind)
                    };
                prop_assert_eq!(got, want, "sid {}", rule.sid);
            }
        }
    }
}
