//! An incident as stored and served: its grouping key, its members' timeline, what the
//! correlator learnt (tactics, breadth, severity), its score and its workflow.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Kind, Result};
use crate::model::{Alert, Attack};

/// Workflow state. `resolved` and `false_positive` close an incident; only a move back to
/// `investigating` reopens it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum State {
    New,
    Acknowledged,
    Investigating,
    Contained,
    Resolved,
    FalsePositive,
}

impl State {
    pub const ALL: [State; 6] = [
        State::New,
        State::Acknowledged,
        State::Investigating,
        State::Contained,
        State::Resolved,
        State::FalsePositive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Acknowledged => "acknowledged",
            State::Investigating => "investigating",
            State::Contained => "contained",
            State::Resolved => "resolved",
            State::FalsePositive => "false_positive",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Closed incidents take no new members.
    pub fn is_closed(self) -> bool {
        matches!(self, State::Resolved | State::FalsePositive)
    }

    /// Whether the workflow allows `self → to`.
    pub fn may_become(self, to: State) -> bool {
        use State::*;
        match self {
            New => matches!(to, Acknowledged | Investigating | Resolved | FalsePositive),
            Acknowledged => matches!(to, Investigating | Contained | Resolved | FalsePositive),
            Investigating => matches!(to, Contained | Resolved | FalsePositive),
            Contained => matches!(to, Investigating | Resolved),
            Resolved | FalsePositive => to == Investigating,
        }
    }
}

/// How the members of an incident were grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Every alert of one internal host.
    Host,
    /// Every alert from one source to one destination.
    Pair,
}

/// The grouping key of an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GroupKey {
    pub by: GroupBy,
    /// The internal host (`host`), or the source (`pair`).
    pub host: IpAddr,
    /// The destination (`pair`); `None` for `host`.
    pub peer: Option<IpAddr>,
}

/// One member event on the timeline. An enum so that intel hits and anomalies can join.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Packet time, nanoseconds since the epoch.
    pub ts_ns: u64,
    pub kind: MemberKind,
    /// The stored alert's id.
    pub alert_id: u64,
    pub sid: u32,
    pub msg: String,
    pub severity: u8,
    pub src_ip: IpAddr,
    pub dst_ip: IpAddr,
    pub attack: Attack,
}

/// What a member is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberKind {
    Alert,
}

impl Member {
    pub fn of_alert(a: &Alert) -> Member {
        Member {
            ts_ns: a.ts_nanos,
            kind: MemberKind::Alert,
            alert_id: a.id,
            sid: a.sid,
            msg: a.msg.clone(),
            severity: a.severity,
            src_ip: a.src_ip,
            dst_ip: a.dst_ip,
            attack: a.attack.clone(),
        }
    }
}

impl Member {
    /// The alert this member stands for, as far as the correlator needs it (replaying a
    /// stored timeline past its incident's last stored header).
    pub fn to_alert(&self) -> Alert {
        Alert {
            id: self.alert_id,
            ts_nanos: self.ts_ns,
            sid: self.sid,
            msg: self.msg.clone(),
            severity: self.severity,
            src_ip: self.src_ip,
            dst_ip: self.dst_ip,
            attack: self.attack.clone(),
            ..Alert::default()
        }
    }
}

/// One analyst note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub time_ns: u64,
    pub who: String,
    pub text: String,
}

/// One line of a score's explanation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    pub factor: String,
    pub detail: String,
    pub points: f64,
}

/// Caps on what one incident remembers besides its timeline.
pub const MAX_HOSTS: usize = 64;
pub const MAX_SIDS: usize = 256;
pub const MAX_NOTES: usize = 256;
pub const MAX_TAGS: usize = 32;
pub const MAX_TECHNIQUES: usize = 64;
pub const MAX_RESPONSES: usize = 1024;
/// Longest note, tag or assignee, in bytes.
pub const MAX_TEXT: usize = 4096;

/// One incident (its header; members are stored beside it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: u64,
    pub key: GroupKey,
    pub title: String,
    pub first_ns: u64,
    pub last_ns: u64,
    /// Member events seen, kept or not.
    pub alerts: u64,
    /// Members kept on the timeline (at most `max_members`).
    pub members_kept: u64,
    /// Members beyond the cap, counted only.
    pub members_dropped: u64,
    /// Best (lowest) severity seen.
    pub severity: u8,
    /// Distinct peers of the key's host (capped at [`MAX_HOSTS`]).
    pub hosts: Vec<IpAddr>,
    /// Distinct sids (capped at [`MAX_SIDS`]).
    pub sids: Vec<u32>,
    /// Distinct tactic ids in the order first seen, with the packet time of each.
    pub tactics: Vec<(String, u64)>,
    /// Furthest kill-chain stage reached (0 = none known).
    pub stage: u8,
    /// True when the host went through two or more successive tactics within the
    /// kill-chain window.
    pub kill_chain: bool,
    /// Highest intel confidence (0..=100) of a member; 0 until intel hits join.
    pub intel_confidence: u8,
    pub score: f64,
    pub explanation: Vec<Contribution>,
    pub state: State,
    /// Wall-clock time of the last state change.
    pub state_since_ns: u64,
    /// Wall-clock nanoseconds spent in each state before the current one, by [`State::ALL`].
    pub time_in_state_ns: [u64; 6],
    pub assignee: String,
    pub notes: Vec<Note>,
    pub tags: Vec<String>,
    /// Wall-clock time of the last change of any kind.
    pub updated_ns: u64,
    /// Distinct technique ids of members, in the order first seen (capped at
    /// [`MAX_TECHNIQUES`]).
    #[serde(default)]
    pub techniques: Vec<String>,
    /// What playbooks did about it (or would have, in dry-run), in order (capped at
    /// [`MAX_RESPONSES`]).
    #[serde(default)]
    pub responses: Vec<crate::playbooks::ActionRecord>,
    /// Points playbooks' `raise_priority` added to the score.
    #[serde(default)]
    pub priority_boost: f64,
}

impl Incident {
    /// A new incident around its first member.
    pub fn open(id: u64, key: GroupKey, a: &Alert, now_ns: u64) -> Incident {
        Incident {
            id,
            key,
            title: a.msg.clone(),
            first_ns: a.ts_nanos,
            last_ns: a.ts_nanos,
            alerts: 0,
            members_kept: 0,
            members_dropped: 0,
            severity: a.severity,
            hosts: Vec::new(),
            sids: Vec::new(),
            tactics: Vec::new(),
            stage: 0,
            kill_chain: false,
            intel_confidence: 0,
            score: 0.0,
            explanation: Vec::new(),
            state: State::New,
            state_since_ns: now_ns,
            time_in_state_ns: [0; 6],
            assignee: String::new(),
            notes: Vec::new(),
            tags: Vec::new(),
            updated_ns: now_ns,
            techniques: Vec::new(),
            responses: Vec::new(),
            priority_boost: 0.0,
        }
    }

    /// Moves to `to`, or refuses with FAILED_PRECONDITION naming both states.
    pub fn transition(&mut self, to: State, now_ns: u64) -> Result<()> {
        if !self.state.may_become(to) {
            return Err(Error::new(
                Kind::FailedPrecondition,
                format!(
                    "incident {} is {}: it cannot become {}",
                    self.id,
                    self.state.as_str(),
                    to.as_str()
                ),
            ));
        }
        let spent = now_ns.saturating_sub(self.state_since_ns);
        let slot = &mut self.time_in_state_ns[self.state.index()];
        *slot = slot.saturating_add(spent);
        self.state = to;
        self.state_since_ns = now_ns;
        self.updated_ns = now_ns;
        Ok(())
    }

    /// Time spent in each state, the current one counted up to `now_ns`.
    pub fn time_in_states(&self, now_ns: u64) -> [u64; 6] {
        let mut t = self.time_in_state_ns;
        let cur = &mut t[self.state.index()];
        *cur = cur.saturating_add(now_ns.saturating_sub(self.state_since_ns));
        t
    }

    pub fn add_note(&mut self, who: &str, text: &str, now_ns: u64) -> Result<()> {
        check_text("note", text)?;
        if self.notes.len() >= MAX_NOTES {
            return Err(Error::new(
                Kind::FailedPrecondition,
                format!(
                    "incident {} has {MAX_NOTES} notes, the most it keeps",
                    self.id
                ),
            ));
        }
        self.notes.push(Note {
            time_ns: now_ns,
            who: who.to_owned(),
            text: text.to_owned(),
        });
        self.updated_ns = now_ns;
        Ok(())
    }

    pub fn add_tag(&mut self, tag: &str, now_ns: u64) -> Result<()> {
        check_text("tag", tag)?;
        if !self.tags.iter().any(|t| t == tag) {
            if self.tags.len() >= MAX_TAGS {
                return Err(Error::new(
                    Kind::FailedPrecondition,
                    format!(
                        "incident {} has {MAX_TAGS} tags, the most it keeps",
                        self.id
                    ),
                ));
            }
            self.tags.push(tag.to_owned());
        }
        self.updated_ns = now_ns;
        Ok(())
    }

    pub fn assign(&mut self, who: &str, now_ns: u64) -> Result<()> {
        if who.len() > MAX_TEXT {
            return Err(Error::invalid(format!(
                "assignee longer than {MAX_TEXT} bytes"
            )));
        }
        who.clone_into(&mut self.assignee);
        self.updated_ns = now_ns;
        Ok(())
    }
}

fn check_text(what: &str, t: &str) -> Result<()> {
    if t.trim().is_empty() {
        return Err(Error::invalid(format!("{what} must not be empty")));
    }
    if t.len() > MAX_TEXT {
        return Err(Error::invalid(format!(
            "{what} longer than {MAX_TEXT} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident() -> Incident {
        let key = GroupKey {
            by: GroupBy::Host,
            host: "192.0.2.1".parse().unwrap(),
            peer: None,
        };
        Incident::open(1, key, &Alert::default(), 100)
    }

    #[test]
    fn the_workflow_refuses_what_it_does_not_allow_and_times_each_state() {
        let mut i = incident();
        i.transition(State::Acknowledged, 150).unwrap();
        let e = i.transition(State::New, 160).unwrap_err();
        assert_eq!(e.kind, Kind::FailedPrecondition);
        assert!(
            e.context.contains("is acknowledged: it cannot become new"),
            "{}",
            e.context
        );
        i.transition(State::Investigating, 200).unwrap();
        i.transition(State::Contained, 260).unwrap();
        i.transition(State::Resolved, 300).unwrap();
        assert!(i.transition(State::Contained, 310).is_err());
        assert!(i.transition(State::Resolved, 310).is_err());
        let t = i.time_in_states(400);
        assert_eq!(t, [50, 50, 60, 40, 100, 0]);
        i.transition(State::Investigating, 400).unwrap();
    }

    #[test]
    fn every_state_round_trips_its_name() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
            assert!(!s.may_become(s), "{s:?} to itself");
        }
        assert_eq!(State::parse("closed"), None);
    }

    #[test]
    fn notes_and_tags_are_checked() {
        let mut i = incident();
        assert_eq!(
            i.add_note("ann", " ", 1).unwrap_err().kind,
            Kind::InvalidArgument
        );
        i.add_note("ann", "looked at it", 1).unwrap();
        i.add_tag("c2", 2).unwrap();
        i.add_tag("c2", 3).unwrap();
        assert_eq!(i.tags, vec!["c2".to_string()]);
        assert_eq!(i.notes[0].who, "ann");
    }
}
