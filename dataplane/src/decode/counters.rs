//! Decoder and defragmentation counters under Suricata's stats names.
//!
//! Plain `u64` fields owned by one worker; the control plane sums workers by name through
//! [`CounterSet`]. Every decode call counts exactly one packet in `decoder.pkts` and one link
//! type counter (`decoder.ethernet`, `decoder.null`, `decoder.raw`, `decoder.sll`), and every
//! recorded anomaly adds one to its `decoder.event.*` counter.

use super::events::DecodeEvent;
use crate::counters::CounterSet;

/// Per-worker decoder counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeCounters {
    /// `decoder.pkts`: packets handed to the decoder.
    pub pkts: u64,
    /// `decoder.bytes`: their captured bytes.
    pub bytes: u64,
    /// `decoder.invalid`: packets with a layer that could not be decoded.
    pub invalid: u64,
    /// `decoder.ipv4`: IPv4 headers decoded (tunnels and reassembled datagrams count again).
    pub ipv4: u64,
    /// `decoder.ipv6`.
    pub ipv6: u64,
    /// `decoder.ethernet`.
    pub ethernet: u64,
    /// `decoder.raw`: raw IP link type.
    pub raw: u64,
    /// `decoder.null`: loopback link types.
    pub null: u64,
    /// `decoder.sll`: Linux cooked capture.
    pub sll: u64,
    /// `decoder.tcp`.
    pub tcp: u64,
    /// `decoder.udp`.
    pub udp: u64,
    /// `decoder.sctp`.
    pub sctp: u64,
    /// `decoder.esp`.
    pub esp: u64,
    /// `decoder.icmpv4`.
    pub icmpv4: u64,
    /// `decoder.icmpv6`.
    pub icmpv6: u64,
    /// `decoder.ppp`: PPP frames (PPTP/GRE).
    pub ppp: u64,
    /// `decoder.pppoe`: PPPoE session and discovery frames.
    pub pppoe: u64,
    /// `decoder.gre`.
    pub gre: u64,
    /// `decoder.vlan`: frames with at least one VLAN tag.
    pub vlan: u64,
    /// `decoder.vlan_qinq`: frames with two tags.
    pub vlan_qinq: u64,
    /// `decoder.vlan_qinqinq`: frames with three tags.
    pub vlan_qinqinq: u64,
    /// `decoder.vxlan`.
    pub vxlan: u64,
    /// `decoder.geneve`.
    pub geneve: u64,
    /// `decoder.erspan`.
    pub erspan: u64,
    /// `decoder.nsh`.
    pub nsh: u64,
    /// `decoder.mpls`.
    pub mpls: u64,
    /// `decoder.arp`.
    pub arp: u64,
    /// `decoder.ipv4_in_ipv6`.
    pub ipv4_in_ipv6: u64,
    /// `decoder.ipv6_in_ipv6`.
    pub ipv6_in_ipv6: u64,
    /// `decoder.unknown_ethertype`: frames whose EtherType no decoder handles.
    pub unknown_ethertype: u64,
    /// `decoder.too_many_layers`: packets that hit the layer limit.
    pub too_many_layers: u64,
    /// `decoder.max_pkt_size`: largest frame seen.
    pub max_pkt_size: u64,
    /// `decoder.anomalies_dropped`: anomalies counted but not stored in a packet's inline
    /// list because it was full.
    pub anomalies_dropped: u64,
    /// `decoder.csum.ipv4_bad`: IPv4 headers whose checksum failed.
    pub ipv4_csum_bad: u64,
    /// `decoder.csum.tcp_bad` (Suricata's `tcp.invalid_checksum`).
    pub tcp_csum_bad: u64,
    /// `decoder.csum.udp_bad`.
    pub udp_csum_bad: u64,
    /// `decoder.csum.icmpv4_bad`.
    pub icmpv4_csum_bad: u64,
    /// `decoder.csum.icmpv6_bad`.
    pub icmpv6_csum_bad: u64,
    /// `decoder.event.*`, indexed by [`DecodeEvent::index`].
    pub events: [u64; DecodeEvent::COUNT],
    /// `defrag.*`.
    pub defrag: DefragCounters,
}

/// Fragment reassembly counters (`defrag.*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefragCounters {
    /// `defrag.ipv4.fragments`.
    pub ipv4_fragments: u64,
    /// `defrag.ipv4.reassembled`.
    pub ipv4_reassembled: u64,
    /// `defrag.ipv6.fragments`.
    pub ipv6_fragments: u64,
    /// `defrag.ipv6.reassembled`.
    pub ipv6_reassembled: u64,
    /// `defrag.max_trackers_reached`: fragment dropped because every tracker was busy.
    pub max_trackers_reached: u64,
    /// `defrag.max_frag_hits`: fragment dropped because its tracker held the maximum number.
    pub max_frag_hits: u64,
    /// `defrag.memcap_exceeded`: fragment dropped because the buffer pool was exhausted.
    pub memcap_exceeded: u64,
    /// `defrag.timeouts`: trackers freed by timeout before completing.
    pub timeouts: u64,
    /// `defrag.memuse`: bytes of fragment data currently buffered (a gauge).
    pub memuse: u64,
}

impl DefragCounters {
    /// Fragments refused for want of room: memcap, trackers or fragments.
    pub fn refusals(&self) -> u64 {
        self.memcap_exceeded + self.max_trackers_reached + self.max_frag_hits
    }
}

impl Default for DecodeCounters {
    fn default() -> Self {
        DecodeCounters {
            pkts: 0,
            bytes: 0,
            invalid: 0,
            ipv4: 0,
            ipv6: 0,
            ethernet: 0,
            raw: 0,
            null: 0,
            sll: 0,
            tcp: 0,
            udp: 0,
            sctp: 0,
            esp: 0,
            icmpv4: 0,
            icmpv6: 0,
            ppp: 0,
            pppoe: 0,
            gre: 0,
            vlan: 0,
            vlan_qinq: 0,
            vlan_qinqinq: 0,
            vxlan: 0,
            geneve: 0,
            erspan: 0,
            nsh: 0,
            mpls: 0,
            arp: 0,
            ipv4_in_ipv6: 0,
            ipv6_in_ipv6: 0,
            unknown_ethertype: 0,
            too_many_layers: 0,
            max_pkt_size: 0,
            anomalies_dropped: 0,
            ipv4_csum_bad: 0,
            tcp_csum_bad: 0,
            udp_csum_bad: 0,
            icmpv4_csum_bad: 0,
            icmpv6_csum_bad: 0,
            events: [0; DecodeEvent::COUNT],
            defrag: DefragCounters::default(),
        }
    }
}

impl DecodeCounters {
    /// Count of one decoder event.
    pub fn event(&self, e: DecodeEvent) -> u64 {
        self.events[e.index()]
    }
    /// Sum of all decoder event counters.
    pub fn events_total(&self) -> u64 {
        self.events.iter().sum()
    }
    /// `decoder.avg_pkt_size`, derived.
    pub fn avg_pkt_size(&self) -> u64 {
        self.bytes.checked_div(self.pkts).unwrap_or(0)
    }
}

impl CounterSet for DecodeCounters {
    fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        f("decoder.pkts", self.pkts);
        f("decoder.bytes", self.bytes);
        f("decoder.invalid", self.invalid);
        f("decoder.ipv4", self.ipv4);
        f("decoder.ipv6", self.ipv6);
        f("decoder.ethernet", self.ethernet);
        f("decoder.raw", self.raw);
        f("decoder.null", self.null);
        f("decoder.sll", self.sll);
        f("decoder.tcp", self.tcp);
        f("decoder.udp", self.udp);
        f("decoder.sctp", self.sctp);
        f("decoder.esp", self.esp);
        f("decoder.icmpv4", self.icmpv4);
        f("decoder.icmpv6", self.icmpv6);
        f("decoder.ppp", self.ppp);
        f("decoder.pppoe", self.pppoe);
        f("decoder.gre", self.gre);
        f("decoder.vlan", self.vlan);
        f("decoder.vlan_qinq", self.vlan_qinq);
        f("decoder.vlan_qinqinq", self.vlan_qinqinq);
        f("decoder.vxlan", self.vxlan);
        f("decoder.geneve", self.geneve);
        f("decoder.erspan", self.erspan);
        f("decoder.nsh", self.nsh);
        f("decoder.mpls", self.mpls);
        f("decoder.arp", self.arp);
        f("decoder.ipv4_in_ipv6", self.ipv4_in_ipv6);
        f("decoder.ipv6_in_ipv6", self.ipv6_in_ipv6);
        f("decoder.unknown_ethertype", self.unknown_ethertype);
        f("decoder.too_many_layers", self.too_many_layers);
        f("decoder.avg_pkt_size", self.avg_pkt_size());
        f("decoder.max_pkt_size", self.max_pkt_size);
        f("decoder.anomalies_dropped", self.anomalies_dropped);
        f("decoder.csum.ipv4_bad", self.ipv4_csum_bad);
        f("decoder.csum.tcp_bad", self.tcp_csum_bad);
        f("decoder.csum.udp_bad", self.udp_csum_bad);
        f("decoder.csum.icmpv4_bad", self.icmpv4_csum_bad);
        f("decoder.csum.icmpv6_bad", self.icmpv6_csum_bad);
        for &e in DecodeEvent::ALL {
            f(e.counter_name(), self.events[e.index()]);
        }
        let d = &self.defrag;
        f("defrag.ipv4.fragments", d.ipv4_fragments);
        f("defrag.ipv4.reassembled", d.ipv4_reassembled);
        f("defrag.ipv6.fragments", d.ipv6_fragments);
        f("defrag.ipv6.reassembled", d.ipv6_reassembled);
        f("defrag.max_trackers_reached", d.max_trackers_reached);
        f("defrag.max_frag_hits", d.max_frag_hits);
        f("defrag.memcap_exceeded", d.memcap_exceeded);
        f("defrag.timeouts", d.timeouts);
        f("defrag.memuse", d.memuse);
    }
}
