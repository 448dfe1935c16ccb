//! Domain records the control plane stores and serves: alerts, flow records and the stored
//! rules. Worker-side records are fixed-size and copied through the data plane's rings; a
//! `RecordSource` converts them to these enriched, owned forms.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::proto;

/// Rule action that produced an alert (serialized lowercase, as the rule keyword).
pub use vocab::alert::Action;

/// Packet direction relative to the flow's initiator (serialized as EVE spells it).
pub use vocab::Direction;

/// One alert, as stored and served: the worker's [`vocab::AlertRecord`] with the rule's
/// message, category and severity filled in, an id, and owned fields that outlive the rule
/// engine that raised it. It exists beside the record because the record is fixed size for the
/// ring and names its rule only by index into an engine that a reload retires; the packet
/// details only the worker's EVE rendering needs (VLANs, ICMP, transaction) live on in `eve`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// Assigned by ingest; strictly increasing over the life of a database.
    pub id: u64,
    /// Packet time, nanoseconds since the Unix epoch.
    pub ts_nanos: u64,
    pub gid: u32,
    pub sid: u32,
    pub rev: u32,
    pub action: Action,
    pub msg: String,
    pub category: String,
    pub severity: u8,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    /// IP protocol number.
    pub proto: u8,
    pub app_proto: String,
    pub flow_id: u64,
    pub direction: Direction,
    /// Packet number within the capture or since start-up.
    pub packet_no: u64,
    /// A bounded excerpt of the payload that matched.
    pub payload: Vec<u8>,
    /// Name of the worker that raised it.
    pub worker: String,
    /// Ruleset generation of the engine that raised it (0 = unknown).
    pub generation: u64,
    /// The worker's own EVE rendering of the alert (one JSON object: flow counters,
    /// app-layer transaction, rule metadata, as `osprey replay --eve` writes), or empty
    /// when the worker rendered none.
    pub eve: String,
    /// MITRE ATT&CK tactic and technique of the rule, from its metadata or classtype.
    pub attack: Attack,
}

/// MITRE ATT&CK tactic and technique of an alert (ids like `TA0011`, `T1041`; names as
/// the rule spells them, `Command_And_Control`); empty strings when unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Attack {
    pub tactic_id: String,
    pub tactic_name: String,
    pub technique_id: String,
    pub technique_name: String,
}

impl Alert {
    /// The stored form of a worker's record, raised by worker `worker`; message, category
    /// and severity (3) wait for the rule's details, the id for the store.
    pub fn from_record(r: &vocab::AlertRecord, worker: &str) -> Alert {
        Alert {
            id: 0,
            ts_nanos: r.ts_nanos,
            gid: r.gid,
            sid: r.sid,
            rev: r.rev,
            action: r.action,
            msg: String::new(),
            category: String::new(),
            severity: 3,
            src_ip: r.src_ip,
            src_port: r.src_port,
            dst_ip: r.dst_ip,
            dst_port: r.dst_port,
            proto: r.proto,
            app_proto: r.app_proto.eve_name().unwrap_or("").to_owned(),
            flow_id: r.flow_id,
            direction: r.direction.unwrap_or_default(),
            packet_no: r.packet_no,
            payload: r.payload().to_vec(),
            worker: worker.to_owned(),
            generation: r.generation,
            eve: String::new(),
            attack: Attack::default(),
        }
    }
}

impl Default for Alert {
    fn default() -> Self {
        Alert {
            id: 0,
            ts_nanos: 0,
            gid: 1,
            sid: 0,
            rev: 0,
            action: Action::Alert,
            msg: String::new(),
            category: String::new(),
            severity: 3,
            src_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            src_port: 0,
            dst_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst_port: 0,
            proto: 0,
            app_proto: String::new(),
            flow_id: 0,
            direction: Direction::ToServer,
            packet_no: 0,
            payload: Vec::new(),
            worker: String::new(),
            generation: 0,
            eve: String::new(),
            attack: Attack::default(),
        }
    }
}

/// Why a flow record was emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum FlowEndReason {
    #[default]
    Timeout,
    Forced,
    Shutdown,
    TcpReuse,
    Memcap,
}

impl FlowEndReason {
    /// EVE spelling (`flow.reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            FlowEndReason::Timeout => "timeout",
            FlowEndReason::Forced => "forced",
            FlowEndReason::Shutdown => "shutdown",
            FlowEndReason::TcpReuse => "tcp_reuse",
            FlowEndReason::Memcap => "memcap",
        }
    }

    /// Parses the spelling of [`FlowEndReason::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "timeout" => FlowEndReason::Timeout,
            "forced" => FlowEndReason::Forced,
            "shutdown" => FlowEndReason::Shutdown,
            "tcp_reuse" => FlowEndReason::TcpReuse,
            "memcap" => FlowEndReason::Memcap,
            _ => return None,
        })
    }
}

/// Flow state when the record was emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum FlowState {
    #[default]
    New,
    Established,
    Closed,
    Bypassed,
}

impl FlowState {
    /// EVE spelling (`flow.state`).
    pub fn as_str(self) -> &'static str {
        match self {
            FlowState::New => "new",
            FlowState::Established => "established",
            FlowState::Closed => "closed",
            FlowState::Bypassed => "bypassed",
        }
    }

    /// Parses the spelling of [`FlowState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "new" => FlowState::New,
            "established" => FlowState::Established,
            "closed" => FlowState::Closed,
            "bypassed" => FlowState::Bypassed,
            _ => return None,
        })
    }
}

/// One finished flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    pub flow_id: u64,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    pub proto: u8,
    pub pkts_toserver: u64,
    pub pkts_toclient: u64,
    pub bytes_toserver: u64,
    pub bytes_toclient: u64,
    pub start_nanos: u64,
    pub end_nanos: u64,
    pub state: FlowState,
    pub reason: FlowEndReason,
    pub app_proto: String,
    pub alerted: bool,
    pub worker: String,
    /// The worker's EVE `flow` record (one JSON object, as `osprey replay --eve` writes it),
    /// or empty when there is none; not stored.
    pub eve: String,
}

/// One rule as stored in the ruleset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRule {
    pub gid: u32,
    pub sid: u32,
    pub rev: u32,
    pub msg: String,
    pub classtype: String,
    /// Priority from the rule or its classtype; alerts take their severity from it.
    pub priority: u8,
    /// The rule's text, one line, without a leading `#`.
    pub text: String,
    pub enabled: bool,
    /// Wall-clock time of the last change, nanoseconds since the epoch.
    pub updated_nanos: u64,
}

/// One completed ruleset reload, kept as history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadRecord {
    pub generation: u64,
    pub time_nanos: u64,
    pub rules_loaded: u32,
    pub rules_failed: u32,
    pub ruleset_hash: String,
    pub compile_us: u64,
    pub swap_us: u64,
    pub who: String,
}

/// Access level, ordered from least to most: what a configured user or certificate holds
/// ([`crate::config`]) and what the API checks ([`crate::api::auth`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// One audited call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub time_nanos: u64,
    /// Principal name (token name or certificate subject), or "anonymous".
    pub who: String,
    /// Role the principal held, or "none".
    pub role: String,
    /// Fully qualified method, e.g. `osprey.v1.RulesService/Add`.
    pub method: String,
    /// What the call acted on (sid, reason, ...).
    pub target: String,
    /// "ok" or the gRPC code name of the refusal or failure.
    pub result: String,
    pub detail: String,
}

fn ip_from_str(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

impl From<&Alert> for proto::Alert {
    fn from(a: &Alert) -> Self {
        proto::Alert {
            id: a.id,
            timestamp_ns: a.ts_nanos,
            gid: a.gid,
            sid: a.sid,
            rev: a.rev,
            action: a.action.as_str().to_owned(),
            msg: a.msg.clone(),
            category: a.category.clone(),
            severity: a.severity.into(),
            src_ip: a.src_ip.to_string(),
            src_port: a.src_port.into(),
            dest_ip: a.dst_ip.to_string(),
            dest_port: a.dst_port.into(),
            proto: a.proto.into(),
            app_proto: a.app_proto.clone(),
            flow_id: a.flow_id,
            direction: a.direction.as_str().to_owned(),
            packet_number: a.packet_no,
            payload: a.payload.clone(),
            worker: a.worker.clone(),
            ruleset_generation: a.generation,
            eve_json: a.eve.clone(),
            tactic_id: a.attack.tactic_id.clone(),
            tactic_name: a.attack.tactic_name.clone(),
            technique_id: a.attack.technique_id.clone(),
            technique_name: a.attack.technique_name.clone(),
        }
    }
}

impl From<proto::Alert> for Alert {
    fn from(p: proto::Alert) -> Self {
        Alert {
            id: p.id,
            ts_nanos: p.timestamp_ns,
            gid: p.gid,
            sid: p.sid,
            rev: p.rev,
            action: Action::parse(&p.action).unwrap_or_default(),
            msg: p.msg,
            category: p.category,
            severity: u8::try_from(p.severity).unwrap_or(u8::MAX),
            src_ip: ip_from_str(&p.src_ip),
            src_port: u16::try_from(p.src_port).unwrap_or(0),
            dst_ip: ip_from_str(&p.dest_ip),
            dst_port: u16::try_from(p.dest_port).unwrap_or(0),
            proto: u8::try_from(p.proto).unwrap_or(0),
            app_proto: p.app_proto,
            flow_id: p.flow_id,
            direction: Direction::parse(&p.direction).unwrap_or_default(),
            packet_no: p.packet_number,
            payload: p.payload,
            worker: p.worker,
            generation: p.ruleset_generation,
            eve: p.eve_json,
            attack: Attack {
                tactic_id: p.tactic_id,
                tactic_name: p.tactic_name,
                technique_id: p.technique_id,
                technique_name: p.technique_name,
            },
        }
    }
}

impl From<&FlowRecord> for proto::Flow {
    fn from(f: &FlowRecord) -> Self {
        proto::Flow {
            flow_id: f.flow_id,
            src_ip: f.src_ip.to_string(),
            src_port: f.src_port.into(),
            dest_ip: f.dst_ip.to_string(),
            dest_port: f.dst_port.into(),
            proto: f.proto.into(),
            pkts_toserver: f.pkts_toserver,
            pkts_toclient: f.pkts_toclient,
            bytes_toserver: f.bytes_toserver,
            bytes_toclient: f.bytes_toclient,
            start_ns: f.start_nanos,
            end_ns: f.end_nanos,
            state: f.state.as_str().to_owned(),
            reason: f.reason.as_str().to_owned(),
            app_proto: f.app_proto.clone(),
            alerted: f.alerted,
            worker: f.worker.clone(),
        }
    }
}

impl From<proto::Flow> for FlowRecord {
    fn from(p: proto::Flow) -> Self {
        FlowRecord {
            flow_id: p.flow_id,
            src_ip: ip_from_str(&p.src_ip),
            src_port: u16::try_from(p.src_port).unwrap_or(0),
            dst_ip: ip_from_str(&p.dest_ip),
            dst_port: u16::try_from(p.dest_port).unwrap_or(0),
            proto: u8::try_from(p.proto).unwrap_or(0),
            pkts_toserver: p.pkts_toserver,
            pkts_toclient: p.pkts_toclient,
            bytes_toserver: p.bytes_toserver,
            bytes_toclient: p.bytes_toclient,
            start_nanos: p.start_ns,
            end_nanos: p.end_ns,
            state: FlowState::parse(&p.state).unwrap_or_default(),
            reason: FlowEndReason::parse(&p.reason).unwrap_or_default(),
            app_proto: p.app_proto,
            alerted: p.alerted,
            worker: p.worker,
            eve: String::new(),
        }
    }
}

impl From<&StoredRule> for proto::Rule {
    fn from(r: &StoredRule) -> Self {
        proto::Rule {
            gid: r.gid,
            sid: r.sid,
            rev: r.rev,
            msg: r.msg.clone(),
            classtype: r.classtype.clone(),
            text: r.text.clone(),
            enabled: r.enabled,
            updated_ns: r.updated_nanos,
        }
    }
}

impl From<&ReloadRecord> for proto::ReloadRecord {
    fn from(r: &ReloadRecord) -> Self {
        proto::ReloadRecord {
            generation: r.generation,
            time_ns: r.time_nanos,
            rules_loaded: r.rules_loaded,
            rules_failed: r.rules_failed,
            ruleset_hash: r.ruleset_hash.clone(),
            compile_us: r.compile_us,
            swap_us: r.swap_us,
            who: r.who.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_round_trips_through_proto() {
        let a = Alert {
            id: 7,
            ts_nanos: 1_700_000_000_123_456_789,
            sid: 2_010_935,
            rev: 3,
            action: Action::Drop,
            msg: "ET POLICY x".into(),
            category: "Potential Corporate Privacy Violation".into(),
            severity: 1,
            src_ip: "2001:db8::1".parse().unwrap(),
            src_port: 443,
            dst_ip: "10.0.0.2".parse().unwrap(),
            dst_port: 51000,
            proto: 6,
            app_proto: "tls".into(),
            flow_id: 99,
            direction: Direction::ToClient,
            packet_no: 12,
            payload: b"abc".to_vec(),
            worker: "w0".into(),
            attack: Attack {
                tactic_id: "TA0011".into(),
                tactic_name: "Command_And_Control".into(),
                technique_id: "T1071".into(),
                technique_name: "Application_Layer_Protocol".into(),
            },
            ..Alert::default()
        };
        let p = proto::Alert::from(&a);
        assert_eq!(Alert::from(p), a);
    }
}
