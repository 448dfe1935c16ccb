//! Exception policies, Suricata's `exception-policy`: what the pipeline does with a packet or
//! its flow when it loses sight of it, per cause. Two causes are covered: the flow table's
//! memcap (the packet gets no flow) and an app-layer parser error on the packet's flow.
//!
//! | policy | inline | IDS |
//! |---|---|---|
//! | `auto` | `drop-flow` (`drop-packet` where there is no flow) | `ignore` |
//! | `drop-flow` | the packet and its flow are dropped | `ignore` |
//! | `drop-packet` | the packet is dropped | `ignore` |
//! | `reject` | as `drop-flow`, the sender answered | `ignore` |
//! | `pass-flow`, `bypass` | the flow is no longer inspected | the same |
//! | `pass-packet`, `ignore` | nothing more (the packet is forwarded) | the same |
//!
//! Nothing is configured: `ignore` (fail open). Each application is counted (`exception_policy.<cause>`), `ignore` included, so that a
//! fail-open box shows what it let through uninspected.

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
    /// Stop inspecting the flow (no NIC offload here: as `pass-flow`).
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
    fn effective(self, inline: bool) -> ExceptionPolicy {
        use ExceptionPolicy as P;
        match (self, inline) {
            (P::Auto, true) => P::DropFlow,
            (P::Auto | P::DropPacket | P::DropFlow | P::Reject, false) => P::Ignore,
            (p, _) => p,
        }
    }
}

/// The policy of each cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExceptionPolicies {
    /// The flow table refused the packet (memcap, no slot).
    pub flow_memcap: ExceptionPolicy,
    /// The packet's flow hit an app-layer parser error.
    pub app_layer_error: ExceptionPolicy,
}

impl ExceptionPolicies {
    /// Every cause set to `p` (Suricata's master switch).
    pub fn all(p: ExceptionPolicy) -> ExceptionPolicies {
        ExceptionPolicies {
            flow_memcap: p,
            app_layer_error: p,
        }
    }

    /// Sets cause `name` (`flow-memcap`, `app-layer-error`) to `p`; false for another name.
    pub fn set(&mut self, name: &str, p: ExceptionPolicy) -> bool {
        match name {
            "flow-memcap" => self.flow_memcap = p,
            "app-layer-error" => self.app_layer_error = p,
            _ => return false,
        }
        true
    }

    /// The causes' names.
    pub const CAUSES: [&'static str; 2] = ["flow-memcap", "app-layer-error"];
}

/// App-layer parser errors so far (compared around a packet to see whether it hit one).
#[inline]
pub(super) fn parser_errors(c: &crate::app::AppCounters) -> u64 {
    c.error_http + c.error_dns + c.error_tls + c.error_websocket
}

impl Stages {
    /// The flow table refused the packet: its policy, counted.
    pub(super) fn flow_memcap_exception(&mut self) {
        self.counters.exception_flow_memcap += 1;
        use ExceptionPolicy as P;
        match self.exceptions.flow_memcap.effective(self.enforce) {
            // Without a flow there is nothing but the packet to drop.
            P::DropPacket | P::DropFlow => self.block_packet(Verdict::Drop),
            P::Reject => self.block_packet(Verdict::Reject(RejectTo::Src)),
            _ => {}
        }
    }

    /// Flow `h` hit an app-layer parser error on this packet: its policy, counted.
    pub(super) fn app_layer_exception(&mut self, h: FlowHandle) {
        self.counters.exception_app_layer_error += 1;
        use ExceptionPolicy as P;
        match self.exceptions.app_layer_error.effective(self.enforce) {
            P::DropPacket => self.block_packet(Verdict::Drop),
            P::DropFlow => self.block(Verdict::Drop),
            P::Reject => self.block(Verdict::Reject(RejectTo::Src)),
            P::PassFlow | P::Bypass => {
                if let Some(s) = self.apps.get_mut(h) {
                    s.detect.passed = true;
                }
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
