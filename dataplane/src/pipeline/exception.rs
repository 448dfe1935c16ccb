//! Exception policies, Suricata's `exception-policy`: what the pipeline does with a packet or
//! its flow when it loses sight of it, per cause ([`Cause`]): the flow table's memcap (the
//! packet gets no flow), the reassembly memcap (a segment of the packet's flow could not be
//! stored), the defragmenter's memcap (a fragment could not be kept) and an app-layer parser
//! error on the packet's flow.
//!
//! | policy | inline | IDS |
//! |---|---|---|
//! | `auto` | `drop-flow` (`drop-packet` where there is no flow) | `ignore` |
//! | `drop-flow` | the packet and its flow are dropped | `ignore` |
//! | `drop-packet` | the packet is dropped | `ignore` |
//! | `reject` | as `drop-flow`, the sender answered | `ignore` |
//! | `pass-flow` | the flow is no longer inspected (still tracked) | the same |
//! | `bypass` | the flow is bypassed: counted, neither tracked nor inspected | the same |
//! | `pass-packet`, `ignore` | nothing more (the packet is forwarded) | the same |
//!
//! Causes without a flow (flow memcap, defrag memcap) apply flow policies to the packet:
//! `drop-flow` drops the packet, `pass-flow` and `bypass` let it through.
//!
//! Nothing is configured: `ignore` (fail open). Each application is counted per cause
//! (`exception_policy.<cause>`) and per cause and the policy applied
//! (`exception_policy.<cause>.<policy>`, `auto` resolved for the mode), `ignore` included, so
//! that a fail-open box shows what it let through uninspected.

use crate::counters::CounterSet;
use crate::detect::{RejectTo, Verdict};
use crate::flow::FlowHandle;

use super::Stages;

/// One cause's policy. The default is `ignore` (fail open: nothing changes unless a policy
/// is chosen); Suricata's shipped configuration chooses `auto`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExceptionPolicy {
    /// `drop-flow` inline, `ignore` in IDS mode.
    Auto,
    /// Do nothing more (the default).
    #[default]
    Ignore,
    /// Let the packet through.
    PassPacket,
    /// Stop inspecting the flow.
    PassFlow,
    /// Bypass the flow: counted, neither tracked nor inspected (local bypass; no NIC
    /// offload).
    Bypass,
    /// Drop the packet.
    DropPacket,
    /// Drop the packet and the rest of its flow.
    DropFlow,
    /// Drop the flow and answer the sender.
    Reject,
}

impl ExceptionPolicy {
    /// Every policy with its Suricata spelling.
    pub const ALL: [(ExceptionPolicy, &'static str); 8] = [
        (ExceptionPolicy::Auto, "auto"),
        (ExceptionPolicy::Ignore, "ignore"),
        (ExceptionPolicy::PassPacket, "pass-packet"),
        (ExceptionPolicy::PassFlow, "pass-flow"),
        (ExceptionPolicy::Bypass, "bypass"),
        (ExceptionPolicy::DropPacket, "drop-packet"),
        (ExceptionPolicy::DropFlow, "drop-flow"),
        (ExceptionPolicy::Reject, "reject"),
    ];

    /// Parses Suricata's spelling.
    pub fn parse(s: &str) -> Option<ExceptionPolicy> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(p, _)| *p)
    }

    /// Suricata's spelling.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("auto", |(_, n)| n)
    }

    /// What the policy does in this mode: `auto` resolved, drops turned into `ignore` in
    /// IDS mode.
    pub(super) fn effective(self, inline: bool) -> ExceptionPolicy {
        use ExceptionPolicy as P;
        match (self, inline) {
            (P::Auto, true) => P::DropFlow,
            (P::Auto | P::DropPacket | P::DropFlow | P::Reject, false) => P::Ignore,
            (p, _) => p,
        }
    }
}

/// What made the pipeline lose sight of a packet or its flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The flow table refused the packet (memcap, no slot).
    FlowMemcap,
    /// The reassembly memcap (or the per-direction cap) kept a segment of the packet's flow
    /// from being stored.
    StreamMemcap,
    /// The defragmenter had no room for the fragment (memcap, trackers, fragments).
    DefragMemcap,
    /// The packet's flow hit an app-layer parser error.
    AppLayerError,
}

impl Cause {
    /// Every cause with its Suricata-style spelling (command line) and counter key.
    pub const ALL: [(Cause, &'static str, &'static str); 4] = [
        (Cause::FlowMemcap, "flow-memcap", "flow_memcap"),
        (Cause::StreamMemcap, "stream-memcap", "stream_memcap"),
        (Cause::DefragMemcap, "defrag-memcap", "defrag_memcap"),
        (Cause::AppLayerError, "app-layer-error", "app_layer_error"),
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// The policy of each cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExceptionPolicies {
    /// The flow table refused the packet (memcap, no slot).
    pub flow_memcap: ExceptionPolicy,
    /// The reassembly memcap refused a segment of the packet's flow.
    pub stream_memcap: ExceptionPolicy,
    /// The defragmenter refused a fragment for want of room.
    pub defrag_memcap: ExceptionPolicy,
    /// The packet's flow hit an app-layer parser error.
    pub app_layer_error: ExceptionPolicy,
}

impl ExceptionPolicies {
    /// Every cause set to `p` (Suricata's master switch).
    pub fn all(p: ExceptionPolicy) -> ExceptionPolicies {
        ExceptionPolicies {
            flow_memcap: p,
            stream_memcap: p,
            defrag_memcap: p,
            app_layer_error: p,
        }
    }

    /// The policy of `cause`.
    pub fn get(&self, cause: Cause) -> ExceptionPolicy {
        match cause {
            Cause::FlowMemcap => self.flow_memcap,
            Cause::StreamMemcap => self.stream_memcap,
            Cause::DefragMemcap => self.defrag_memcap,
            Cause::AppLayerError => self.app_layer_error,
        }
    }

    fn slot(&mut self, cause: Cause) -> &mut ExceptionPolicy {
        match cause {
            Cause::FlowMemcap => &mut self.flow_memcap,
            Cause::StreamMemcap => &mut self.stream_memcap,
            Cause::DefragMemcap => &mut self.defrag_memcap,
            Cause::AppLayerError => &mut self.app_layer_error,
        }
    }

    /// Sets cause `name` (`flow-memcap`, `stream-memcap`, `defrag-memcap`,
    /// `app-layer-error`, or the same with `_`) to `p`; false for another name.
    pub fn set(&mut self, name: &str, p: ExceptionPolicy) -> bool {
        match Cause::ALL.iter().find(|(_, n, k)| *n == name || *k == name) {
            Some((c, _, _)) => {
                *self.slot(*c) = p;
                true
            }
            None => false,
        }
    }

    /// The causes' names.
    pub const CAUSES: [&'static str; 4] = [
        "flow-memcap",
        "stream-memcap",
        "defrag-memcap",
        "app-layer-error",
    ];
}

/// `exception_policy.<cause>.<policy>` for one cause, in [`ExceptionPolicy::ALL`]'s order.
macro_rules! policy_counters {
    ($cause:literal) => {
        [
            concat!("exception_policy.", $cause, ".auto"),
            concat!("exception_policy.", $cause, ".ignore"),
            concat!("exception_policy.", $cause, ".pass_packet"),
            concat!("exception_policy.", $cause, ".pass_flow"),
            concat!("exception_policy.", $cause, ".bypass"),
            concat!("exception_policy.", $cause, ".drop_packet"),
            concat!("exception_policy.", $cause, ".drop_flow"),
            concat!("exception_policy.", $cause, ".reject"),
        ]
    };
}

/// Counter names by cause (in [`Cause::ALL`]'s order), then policy.
const POLICY_COUNTERS: [[&str; 8]; 4] = [
    policy_counters!("flow_memcap"),
    policy_counters!("stream_memcap"),
    policy_counters!("defrag_memcap"),
    policy_counters!("app_layer_error"),
];

/// Counter names of the causes' totals.
const CAUSE_COUNTERS: [&str; 4] = [
    "exception_policy.flow_memcap",
    "exception_policy.stream_memcap",
    "exception_policy.defrag_memcap",
    "exception_policy.app_layer_error",
];

/// The policies in effect (resolved for the mode once) and how often each cause applied.
#[derive(Clone, Debug)]
pub(super) struct Exceptions {
    effective: [ExceptionPolicy; 4],
    applied: [u64; 4],
}

impl Exceptions {
    pub(super) fn new(p: &ExceptionPolicies, inline: bool) -> Exceptions {
        Exceptions {
            effective: Cause::ALL.map(|(c, _, _)| p.get(c).effective(inline)),
            applied: [0; 4],
        }
    }

    /// Counts one application of `cause`'s policy and returns it.
    #[inline]
    fn apply(&mut self, cause: Cause) -> ExceptionPolicy {
        self.applied[cause.index()] += 1;
        self.effective[cause.index()]
    }
}

impl CounterSet for Exceptions {
    fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        for (i, n) in self.applied.iter().enumerate() {
            f(CAUSE_COUNTERS[i], *n);
            let p = ExceptionPolicy::ALL
                .iter()
                .position(|(p, _)| *p == self.effective[i])
                .unwrap_or(0);
            f(POLICY_COUNTERS[i][p], *n);
        }
    }
}

/// App-layer parser errors so far (compared around a packet to see whether it hit one).
#[inline]
pub(super) fn parser_errors(c: &crate::app::AppCounters) -> u64 {
    c.error_http + c.error_dns + c.error_tls + c.error_websocket
}

impl Stages {
    /// A cause without a flow (`FlowMemcap`, `DefragMemcap`) hit the packet: its policy,
    /// counted, applied to the packet.
    pub(super) fn packet_exception(&mut self, cause: Cause) {
        use ExceptionPolicy as P;
        match self.exceptions.apply(cause) {
            P::DropPacket | P::DropFlow => self.block_packet(Verdict::Drop),
            P::Reject => self.block_packet(Verdict::Reject(RejectTo::Src)),
            _ => {}
        }
    }

    /// Flow `h` hit `cause` on this packet: its policy, counted. A flow already dropped is
    /// decided: nothing more is counted or done.
    pub(super) fn flow_exception(&mut self, cause: Cause, h: FlowHandle) {
        use ExceptionPolicy as P;
        if self.apps.get(h).is_some_and(|s| s.dropped) {
            return;
        }
        match self.exceptions.apply(cause) {
            P::DropPacket => self.block_packet(Verdict::Drop),
            P::DropFlow => self.block(Verdict::Drop),
            P::Reject => self.block(Verdict::Reject(RejectTo::Src)),
            P::PassFlow => {
                if let Some(s) = self.apps.get_mut(h) {
                    s.detect.passed = true;
                }
            }
            P::Bypass => {
                self.flows.set_bypassed(h);
            }
            P::Auto | P::Ignore | P::PassPacket => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ExceptionPolicy as P;

    #[test]
    fn spellings_round_trip_and_auto_depends_on_the_mode() {
        for (p, n) in P::ALL {
            assert_eq!(P::parse(n), Some(p));
            assert_eq!(p.as_str(), n);
        }
        assert_eq!(P::parse("drop_flow"), None);
        assert_eq!(P::Auto.effective(true), P::DropFlow);
        assert_eq!(P::Auto.effective(false), P::Ignore);
        assert_eq!(P::DropPacket.effective(false), P::Ignore);
        assert_eq!(P::PassFlow.effective(false), P::PassFlow);
    }
}
