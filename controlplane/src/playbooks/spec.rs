//! Playbooks as written (TOML) and their validation into [`Playbook`]s.
//!
//! ```toml
//! [[playbooks]]
//! name = "contain-c2"
//! dry_run = false
//! [playbooks.when]                 # every clause given must hold
//! min_priority = 60
//! tactic = ["TA0011"]              # any of
//! [[playbooks.actions]]
//! action = "block"
//! address = "peers"                # or "host"
//! ttl_secs = 3600
//! [[playbooks.actions]]
//! action = "notify"
//! target = "soc"                   # a [[webhooks]] name, or "syslog" for [syslog]
//! ```
//!
//! Actions are one flat table with an `action` name (serde loses the line of an unknown key
//! inside a tagged enum); [`validate`] checks that each names a known action and carries
//! the keys it needs and no others, that webhook targets and chained playbooks exist, and
//! that chains have no cycle.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::condition::Condition;

/// `[[playbooks]]` as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybookConfig {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Record what the actions would do, do nothing.
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub when: Condition,
    pub actions: Vec<ActionConfig>,
}

fn yes() -> bool {
    true
}

/// `[[playbooks.actions]]` as written: `action` and the keys of that action.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// `block`, `notify`, `raise_priority`, `run`, `acquire_memory`, `capture_evidence`,
    /// `playbook`.
    pub action: String,
    /// block: `host` (the incident's internal host) or `peers` (the hosts it dealt with).
    pub address: Option<String>,
    /// block: `src`, `dst` or `either` (default).
    pub side: Option<String>,
    /// block: lifetime of the entry.
    pub ttl_secs: Option<u64>,
    /// block: addresses blocked per incident at most (peers; default 8).
    pub max_addresses: Option<usize>,
    /// notify: a `[[webhooks]]` name, or `"syslog"` for the `[syslog]` output.
    pub target: Option<String>,
    /// raise_priority: points added to the score.
    pub points: Option<u32>,
    /// run, acquire_memory: the program (absolute path) ...
    pub command: Option<PathBuf>,
    /// ... and its arguments; `{incident}`, `{host}`, `{peer}`, `{playbook}` are replaced.
    pub args: Option<Vec<String>>,
    /// acquire_memory: an `http(s)://` URL posted `{"host":..., "incident":...}`.
    pub endpoint: Option<String>,
    /// run, acquire_memory: limit (default 30 s).
    pub timeout_ms: Option<u64>,
    /// playbook: run that playbook's actions too.
    pub playbook: Option<String>,
    /// Times this action may act per hour (over every incident); beyond, it is skipped
    /// and counted (`playbooks.rate_limited`). Default: no limit.
    pub max_per_hour: Option<u32>,
}

/// Which addresses a block takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Address {
    Host,
    Peers,
}

/// A validated action.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Block {
        address: Address,
        side: vocab::block::Side,
        ttl_secs: u64,
        max_addresses: usize,
    },
    /// A `[[webhooks]]` name or [`super::SYSLOG_TARGET`].
    Notify {
        target: String,
    },
    RaisePriority {
        points: u32,
    },
    Run {
        command: PathBuf,
        args: Vec<String>,
        timeout: Duration,
    },
    AcquireMemory {
        via: Acquire,
        timeout: Duration,
    },
    /// The incident's evidence, collected with a chain of custody.
    CaptureEvidence,
    Playbook {
        name: String,
    },
}

/// Where `acquire_memory` asks for an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquire {
    Http(String),
    Command(PathBuf, Vec<String>),
}

impl Action {
    /// The action's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Block { .. } => "block",
            Action::Notify { .. } => "notify",
            Action::RaisePriority { .. } => "raise_priority",
            Action::Run { .. } => "run",
            Action::AcquireMemory { .. } => "acquire_memory",
            Action::CaptureEvidence => "capture_evidence",
            Action::Playbook { .. } => "playbook",
        }
    }
}

/// A validated action with its rate limit.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub action: Action,
    pub max_per_hour: Option<u32>,
}

/// A validated playbook.
#[derive(Clone, Debug, PartialEq)]
pub struct Playbook {
    pub name: String,
    pub enabled: bool,
    pub dry_run: bool,
    pub when: Condition,
    pub steps: Vec<Step>,
    /// As written, for `osprey ctl playbooks show`.
    pub source: PlaybookConfig,
}

/// The action names.
pub const ACTIONS: [&str; 7] = [
    "block",
    "notify",
    "raise_priority",
    "run",
    "acquire_memory",
    "capture_evidence",
    "playbook",
];

const DEFAULT_TIMEOUT_MS: u64 = 30_000;
const DEFAULT_MAX_ADDRESSES: usize = 8;

/// A playbook problem, naming where (`playbooks[i].actions[j].key`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("playbook `{at}`: {message}")]
pub struct SpecError {
    pub at: String,
    pub message: String,
}

fn err(at: String, message: impl Into<String>) -> SpecError {
    SpecError {
        at,
        message: message.into(),
    }
}

/// Checks `list` against the notify targets (webhook names, and `"syslog"` when it runs)
/// and returns the playbooks.
pub fn validate(list: &[PlaybookConfig], webhooks: &[String]) -> Result<Vec<Playbook>, SpecError> {
    let mut out: Vec<Playbook> = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        let at = format!("playbooks[{i}]");
        if p.name.is_empty()
            || p.name.len() > 64
            || !p
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(err(
                format!("{at}.name"),
                "1 to 64 letters, digits, `_` or `-`",
            ));
        }
        if out.iter().any(|o| o.name == p.name) {
            return Err(err(
                format!("{at}.name"),
                format!("{:?} names another playbook", p.name),
            ));
        }
        p.when.check().map_err(|m| err(format!("{at}.when"), m))?;
        if p.actions.is_empty() {
            return Err(err(format!("{at}.actions"), "a playbook needs an action"));
        }
        let steps = p
            .actions
            .iter()
            .enumerate()
            .map(|(j, a)| step(a, webhooks, &format!("{at}.actions[{j}]")))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Playbook {
            name: p.name.clone(),
            enabled: p.enabled,
            dry_run: p.dry_run,
            when: p.when.clone(),
            steps,
            source: p.clone(),
        });
    }
    check_chains(&out)?;
    Ok(out)
}

/// Every chained playbook exists and no chain comes back to where it started.
fn check_chains(list: &[Playbook]) -> Result<(), SpecError> {
    let index: HashMap<&str, usize> = list
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let next = |i: usize| -> Vec<(usize, usize)> {
        list[i]
            .steps
            .iter()
            .enumerate()
            .filter_map(|(j, s)| match &s.action {
                Action::Playbook { name } => index.get(name.as_str()).map(|&k| (j, k)),
                _ => None,
            })
            .collect()
    };
    for (i, p) in list.iter().enumerate() {
        for (j, s) in p.steps.iter().enumerate() {
            if let Action::Playbook { name } = &s.action {
                if !index.contains_key(name.as_str()) {
                    return Err(err(
                        format!("playbooks[{i}].actions[{j}].playbook"),
                        format!("no playbook is called {name:?}"),
                    ));
                }
            }
        }
    }
    // Depth-first from each playbook; a path that meets its start again is a cycle.
    for start in 0..list.len() {
        let mut path = vec![start];
        let mut stack = vec![(start, next(start), 0usize)];
        while let Some((node, edges, k)) = stack.last_mut() {
            if *k == edges.len() {
                stack.pop();
                path.pop();
                continue;
            }
            let (j, to) = edges[*k];
            *k += 1;
            let from = *node;
            if to == start {
                let names: Vec<&str> = path
                    .iter()
                    .chain(std::iter::once(&start))
                    .map(|&n| list[n].name.as_str())
                    .collect();
                return Err(err(
                    format!("playbooks[{from}].actions[{j}].playbook"),
                    format!("cycle: {}", names.join(" → ")),
                ));
            }
            if !path.contains(&to) {
                path.push(to);
                stack.push((to, next(to), 0));
            }
        }
    }
    Ok(())
}

/// Validates one action.
fn step(a: &ActionConfig, webhooks: &[String], at: &str) -> Result<Step, SpecError> {
    let key = |k: &str| format!("{at}.{k}");
    let allowed: &[&str] = match a.action.as_str() {
        "block" => &["address", "side", "ttl_secs", "max_addresses"],
        "notify" => &["target"],
        "raise_priority" => &["points"],
        "run" => &["command", "args", "timeout_ms"],
        "acquire_memory" => &["command", "args", "endpoint", "timeout_ms"],
        "playbook" => &["playbook"],
        "capture_evidence" => &[],
        other => {
            return Err(err(
                key("action"),
                format!("unknown action {other:?}; one of {}", ACTIONS.join(", ")),
            ))
        }
    };
    if let Some(k) = a.present().into_iter().find(|k| !allowed.contains(k)) {
        return Err(err(
            key(k),
            format!("is not a key of action {:?}", a.action),
        ));
    }
    let timeout = Duration::from_millis(a.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS));
    if timeout.is_zero() {
        return Err(err(key("timeout_ms"), "must be > 0"));
    }
    let action = match a.action.as_str() {
        "block" => block(a, at)?,
        "notify" => {
            let t = a.target.clone().ok_or_else(|| {
                err(
                    key("target"),
                    "notify needs a target (a [[webhooks]] name, or \"syslog\")",
                )
            })?;
            if !webhooks.contains(&t) {
                return Err(err(
                    key("target"),
                    format!("no webhook is called {t:?} and it is not a running \"syslog\" (notify targets: {webhooks:?})"),
                ));
            }
            Action::Notify { target: t }
        }
        "raise_priority" => Action::RaisePriority {
            points: a
                .points
                .filter(|p| (1..=100).contains(p))
                .ok_or_else(|| err(key("points"), "raise_priority needs points within 1..=100"))?,
        },
        "run" => Action::Run {
            command: command(a, at)?.ok_or_else(|| err(key("command"), "run needs a command"))?,
            args: a.args.clone().unwrap_or_default(),
            timeout,
        },
        "acquire_memory" => {
            let via = match (command(a, at)?, &a.endpoint) {
                (Some(c), None) => Acquire::Command(c, a.args.clone().unwrap_or_default()),
                (None, Some(u)) => {
                    let ok = reqwest::Url::parse(u)
                        .is_ok_and(|url| matches!(url.scheme(), "http" | "https"));
                    if !ok {
                        return Err(err(key("endpoint"), format!("{u:?} is not an http(s) URL")));
                    }
                    Acquire::Http(u.clone())
                }
                _ => {
                    return Err(err(
                        key("endpoint"),
                        "acquire_memory needs either an endpoint or a command",
                    ))
                }
            };
            Action::AcquireMemory { via, timeout }
        }
        "capture_evidence" => Action::CaptureEvidence,
        "playbook" => Action::Playbook {
            name: a
                .playbook
                .clone()
                .ok_or_else(|| err(key("playbook"), "names the playbook to run"))?,
        },
        _ => unreachable!("action names are checked above"),
    };
    if a.max_per_hour == Some(0) {
        return Err(err(
            key("max_per_hour"),
            "must be > 0 (leave it out for no limit)",
        ));
    }
    Ok(Step {
        action,
        max_per_hour: a.max_per_hour,
    })
}

fn block(a: &ActionConfig, at: &str) -> Result<Action, SpecError> {
    let key = |k: &str| format!("{at}.{k}");
    let address = match a.address.as_deref() {
        Some("host") => Address::Host,
        Some("peers") => Address::Peers,
        other => {
            return Err(err(
                key("address"),
                format!("{other:?}: block needs address = \"host\" or \"peers\""),
            ))
        }
    };
    let side = match a.side.as_deref() {
        None => vocab::block::Side::Either,
        Some(s) => vocab::block::Side::from_name(s)
            .ok_or_else(|| err(key("side"), format!("{s:?} is not src, dst or either")))?,
    };
    let ttl_secs = a
        .ttl_secs
        .filter(|t| *t > 0)
        .ok_or_else(|| err(key("ttl_secs"), "block needs a time to live > 0"))?;
    let max_addresses = a.max_addresses.unwrap_or(DEFAULT_MAX_ADDRESSES);
    if max_addresses == 0 {
        return Err(err(key("max_addresses"), "must be > 0"));
    }
    Ok(Action::Block {
        address,
        side,
        ttl_secs,
        max_addresses,
    })
}

fn command(a: &ActionConfig, at: &str) -> Result<Option<PathBuf>, SpecError> {
    match &a.command {
        Some(c) if !c.is_absolute() => Err(err(
            format!("{at}.command"),
            format!("{} must be an absolute path", c.display()),
        )),
        c => Ok(c.clone()),
    }
}

impl ActionConfig {
    /// The keys given besides `action`.
    fn present(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        let mut has = |name: &'static str, set: bool| {
            if set {
                k.push(name);
            }
        };
        has("address", self.address.is_some());
        has("side", self.side.is_some());
        has("ttl_secs", self.ttl_secs.is_some());
        has("max_addresses", self.max_addresses.is_some());
        has("target", self.target.is_some());
        has("points", self.points.is_some());
        has("command", self.command.is_some());
        has("args", self.args.is_some());
        has("endpoint", self.endpoint.is_some());
        has("timeout_ms", self.timeout_ms.is_some());
        has("playbook", self.playbook.is_some());
        k
    }
}

/// A playbooks file: `[[playbooks]]` tables only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybooksFile {
    #[serde(default)]
    pub playbooks: Vec<PlaybookConfig>,
}

/// Parses a playbooks file; errors name the line (TOML's own message).
pub fn parse_file(text: &str) -> Result<Vec<PlaybookConfig>, String> {
    toml::from_str::<PlaybooksFile>(text)
        .map(|f| f.playbooks)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Playbook>, String> {
        let list = parse_file(text)?;
        validate(&list, &["soc".to_owned()]).map_err(|e| e.to_string())
    }

    const GOOD: &str = r#"
[[playbooks]]
name = "contain"
[playbooks.when]
tactic = ["TA0011"]
min_priority = 40
[[playbooks.actions]]
action = "block"
address = "peers"
ttl_secs = 3600
[[playbooks.actions]]
action = "notify"
target = "soc"
"#;

    #[test]
    fn a_good_playbook_validates_into_its_steps() {
        let p = parse(GOOD).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].when.tactic, ["TA0011"]);
        assert!(matches!(
            p[0].steps[0].action,
            Action::Block {
                address: Address::Peers,
                ttl_secs: 3600,
                ..
            }
        ));
        assert_eq!(p[0].steps[1].action.name(), "notify");
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_line() {
        let e =
            parse(&GOOD.replace("ttl_secs = 3600", "ttl_secs = 3600\nttl_hours = 1")).unwrap_err();
        assert!(e.contains("unknown field `ttl_hours`"), "{e}");
        assert!(e.contains("line 11"), "{e}");
        let e = parse(&GOOD.replace("min_priority", "max_priority")).unwrap_err();
        assert!(e.contains("unknown field `max_priority`"), "{e}");
    }

    #[test]
    fn unknown_actions_targets_and_misplaced_keys_are_refused() {
        let e = parse(&GOOD.replace("\"notify\"", "\"page\"")).unwrap_err();
        assert!(e.contains("playbooks[0].actions[1].action"), "{e}");
        assert!(e.contains("unknown action \"page\""), "{e}");
        let e = parse(&GOOD.replace("\"soc\"", "\"noc\"")).unwrap_err();
        assert!(
            e.contains("actions[1].target") && e.contains("no webhook"),
            "{e}"
        );
        let e =
            parse(&GOOD.replace("target = \"soc\"", "target = \"soc\"\nttl_secs = 5")).unwrap_err();
        assert!(
            e.contains("actions[1].ttl_secs") && e.contains("not a key"),
            "{e}"
        );
        let e = parse(&GOOD.replace("ttl_secs = 3600", "")).unwrap_err();
        assert!(e.contains("actions[0].ttl_secs"), "{e}");
        let e = parse(&GOOD.replace(
            "action = \"notify\"\ntarget = \"soc\"",
            "action = \"run\"\ncommand = \"isolate\"",
        ))
        .unwrap_err();
        assert!(e.contains("absolute path"), "{e}");
        let e = parse(&GOOD.replace(
            "action = \"notify\"\ntarget = \"soc\"",
            "action = \"capture_evidence\"\nttl_secs = 1",
        ))
        .unwrap_err();
        assert!(e.contains("actions[1].ttl_secs"), "{e}");
    }

    #[test]
    fn chains_must_exist_and_have_no_cycle() {
        let chain = |a: &str, b: &str| {
            format!(
                "[[playbooks]]\nname = \"{a}\"\n[[playbooks.actions]]\naction = \"playbook\"\nplaybook = \"{b}\"\n"
            )
        };
        let ok = format!("{}{}", chain("a", "b"), GOOD.replace("contain", "b"));
        assert_eq!(parse(&ok).unwrap().len(), 2);
        let e = parse(&chain("a", "missing")).unwrap_err();
        assert!(e.contains("no playbook is called \"missing\""), "{e}");
        let cycle = format!("{}{}{}", chain("a", "b"), chain("b", "c"), chain("c", "a"));
        let e = parse(&cycle).unwrap_err();
        assert!(e.contains("cycle: a → b → c → a"), "{e}");
        let e = parse(&chain("self", "self")).unwrap_err();
        assert!(e.contains("cycle: self → self"), "{e}");
        let dup = format!("{GOOD}{GOOD}");
        assert!(parse(&dup).unwrap_err().contains("names another playbook"));
    }
}
