//! The inline (IPS) path's own pieces: answers to rejected packets ([`reject`], sans-I/O
//! bytes), the worker's Tx side ([`forward`]: accepted packets to the peer port of their
//! pair from the same mbuf, dropped ones freed, answers transmitted) and the counters of
//! forwarding and answering ([`InlineCounters`]).

pub mod forward;
pub mod reject;

use crate::counters::CounterSet;
use crate::decode::LinkType;
use crate::detect::RejectTo;

pub use forward::{InlineIo, Route, RouteError, TX_RETRIES};
pub use reject::{RejectError, ReplyKind, Side, MAX_REPLY};

/// Counters of one worker's inline path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InlineCounters {
    /// Packets handed to the peer port's Tx queue and accepted by it.
    pub forwarded: u64,
    /// Packets not forwarded because their verdict blocked them.
    pub dropped: u64,
    /// Packets (forwarded and answers) the Tx queues accepted.
    pub tx_packets: u64,
    /// Tx bursts that left packets unsent (the queue was full); the rest is retried.
    pub tx_full: u64,
    /// Packets freed unsent after the retries (counted, never waited for).
    pub tx_dropped: u64,
    /// Answers to rejected packets queued for transmission: TCP RSTs.
    pub reject_rst: u64,
    /// Answers to rejected packets that were not TCP: ICMP/ICMPv6 port unreachable.
    pub reject_icmp: u64,
    /// Rejected packets too short to answer.
    pub reject_too_short: u64,
    /// Rejected packets not answered for another reason (not IP, link type, ICMP error,
    /// too many VLAN tags).
    pub reject_unanswerable: u64,
    /// Answers lost for want of an mbuf.
    pub reject_nombuf: u64,
}

impl CounterSet for InlineCounters {
    fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        f("inline.forwarded", self.forwarded);
        f("inline.dropped", self.dropped);
        f("tx.packets", self.tx_packets);
        f("tx.full", self.tx_full);
        f("tx.dropped", self.tx_dropped);
        f("reject.rst", self.reject_rst);
        f("reject.icmp", self.reject_icmp);
        f("reject.too_short", self.reject_too_short);
        f("reject.unanswerable", self.reject_unanswerable);
        f("reject.nombuf", self.reject_nombuf);
    }
}

impl InlineCounters {
    /// Builds the answers a reject asks for (`to`) to `frame` into `buf`, counting each, and
    /// hands every built one with its side to `send`; `send` returns false when it had no
    /// mbuf for it.
    pub fn answer(
        &mut self,
        link: LinkType,
        frame: &[u8],
        to: RejectTo,
        buf: &mut [u8; MAX_REPLY],
        mut send: impl FnMut(Side, &[u8]) -> bool,
    ) {
        for side in [Side::Src, Side::Dst] {
            let wanted = match side {
                Side::Src => to.src(),
                Side::Dst => to.dst(),
            };
            if !wanted {
                continue;
            }
            match reject::build(link, frame, side, buf) {
                Ok((n, kind)) => {
                    if !send(side, &buf[..n]) {
                        self.reject_nombuf += 1;
                        continue;
                    }
                    match kind {
                        ReplyKind::TcpRst => self.reject_rst += 1,
                        ReplyKind::IcmpUnreachable => self.reject_icmp += 1,
                    }
                }
                Err(RejectError::TooShort) => self.reject_too_short += 1,
                Err(_) => self.reject_unanswerable += 1,
            }
        }
    }
}
