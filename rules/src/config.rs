//! Suricata's side files: `classification.config`, `reference.config`, `threshold.config`.
//!
//! Each parser keeps going past a bad line and reports it with its line number, like the
//! rule loader does for rules.

use crate::ir::{IpSet, RateFilter, Threshold, ThresholdKind, Track};
use crate::vars::Vars;
use serde::Serialize;
use std::collections::HashMap;

/// A bad line of a configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// One classtype.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// Short name used by `classtype`.
    pub name: String,
    /// Description for alerts.
    pub description: String,
    /// Default priority of rules of this class.
    pub priority: u8,
}

/// `classification.config`: `config classification: name,description,priority`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Classifications(HashMap<String, Classification>);

impl Classifications {
    /// Parses the file text; bad lines are returned, the rest kept.
    pub fn parse(text: &str) -> (Self, Vec<ConfigError>) {
        let mut map = HashMap::new();
        let mut errs = Vec::new();
        for (i, line) in config_lines(text) {
            let r = (|| {
                let body = line
                    .strip_prefix("config classification:")
                    .ok_or("expected `config classification: name,description,priority`")?;
                let mut parts = body.rsplitn(2, ',');
                let prio = parts.next().unwrap_or("").trim();
                let rest = parts.next().ok_or("missing priority")?;
                let (name, desc) = rest.split_once(',').ok_or("missing description")?;
                let priority = prio
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p >= 1)
                    .ok_or("invalid priority")?;
                let name = name.trim();
                if name.is_empty() {
                    return Err("empty class name");
                }
                Ok(Classification {
                    name: name.to_string(),
                    description: desc.trim().to_string(),
                    priority,
                })
            })();
            match r {
                Ok(c) => {
                    map.insert(c.name.clone(), c);
                }
                Err(m) => errs.push(ConfigError {
                    line: i,
                    message: m.to_string(),
                }),
            }
        }
        (Classifications(map), errs)
    }

    /// Looks a classtype up.
    pub fn get(&self, name: &str) -> Option<&Classification> {
        self.0.get(name)
    }

    /// Every classtype.
    pub fn iter(&self) -> impl Iterator<Item = &Classification> {
        self.0.values()
    }

    /// Number of classtypes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `reference.config`: `config reference: system url-prefix`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReferenceSystems(HashMap<String, String>);

impl ReferenceSystems {
    /// Parses the file text.
    pub fn parse(text: &str) -> (Self, Vec<ConfigError>) {
        let mut map = HashMap::new();
        let mut errs = Vec::new();
        for (i, line) in config_lines(text) {
            let parsed = line
                .strip_prefix("config reference:")
                .and_then(|b| b.trim().split_once(char::is_whitespace))
                .map(|(s, u)| (s.trim().to_ascii_lowercase(), u.trim().to_string()))
                .filter(|(s, u)| !s.is_empty() && !u.is_empty());
            match parsed {
                Some((s, u)) => {
                    map.insert(s, u);
                }
                None => errs.push(ConfigError {
                    line: i,
                    message: "expected `config reference: system url`".into(),
                }),
            }
        }
        (ReferenceSystems(map), errs)
    }

    /// URL prefix of a reference system.
    pub fn url(&self, system: &str) -> Option<&str> {
        self.0.get(&system.to_ascii_lowercase()).map(String::as_str)
    }

    /// Number of systems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What a `threshold.config` entry does.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdAction {
    /// `threshold`/`event_filter`: replaces the rule's own threshold.
    Threshold(Threshold),
    /// `suppress`: no alerts, optionally only for `track` + addresses.
    Suppress {
        /// `by_src`/`by_dst`/`by_either` (as `ByBoth`) and the addresses, or `None` for all.
        track: Option<(Track, IpSet)>,
    },
    /// `rate_filter`: switch the action after `count` matches in `seconds`, for `timeout`.
    RateFilter(RateFilter),
}

/// One `threshold.config` entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThresholdEntry {
    /// Generator id (0 = any).
    pub gid: u32,
    /// Signature id (0 = any).
    pub sid: u32,
    /// What to do.
    pub action: ThresholdAction,
    /// Line in the file.
    pub line: usize,
}

/// Parses `threshold.config`.
pub fn parse_threshold_config(text: &str, vars: &Vars) -> (Vec<ThresholdEntry>, Vec<ConfigError>) {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for (i, line) in config_lines(text) {
        match threshold_line(line, vars) {
            Ok((gid, sid, action)) => out.push(ThresholdEntry {
                gid,
                sid,
                action,
                line: i,
            }),
            Err(m) => errs.push(ConfigError {
                line: i,
                message: m,
            }),
        }
    }
    (out, errs)
}

fn threshold_line(line: &str, vars: &Vars) -> Result<(u32, u32, ThresholdAction), String> {
    let (kw, rest) = line
        .split_once(char::is_whitespace)
        .ok_or("expected `threshold|event_filter|suppress|rate_filter ...`")?;
    let mut kv: HashMap<&str, &str> = HashMap::new();
    for part in rest.split(',') {
        let part = part.trim();
        let (k, v) = part
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("expected `key value`, found `{part}`"))?;
        if kv.insert(k, v.trim()).is_some() {
            return Err(format!("duplicate `{k}`"));
        }
    }
    let num = |k: &str| -> Result<u32, String> {
        kv.get(k)
            .ok_or_else(|| format!("missing `{k}`"))?
            .parse::<u32>()
            .map_err(|_| format!("invalid `{k}`"))
    };
    let gid = num("gen_id")?;
    let sid = num("sig_id")?;
    let counting = |kind| -> Result<Threshold, String> {
        Ok(Threshold {
            kind,
            track: Track::parse(kv.get("track").ok_or("missing `track`")?)?,
            count: num("count")?,
            seconds: num("seconds")?,
            unique_on: None,
        })
    };
    let action = match kw {
        "threshold" | "event_filter" => {
            let kind = match *kv.get("type").ok_or("missing `type`")? {
                "limit" => ThresholdKind::Limit,
                "threshold" => ThresholdKind::Threshold,
                "both" => ThresholdKind::Both,
                o => return Err(format!("unknown type `{o}`")),
            };
            ThresholdAction::Threshold(counting(Some(kind))?)
        }
        "suppress" => {
            let track = match (kv.get("track"), kv.get("ip")) {
                (None, None) => None,
                (Some(t), Some(ip)) => {
                    let tr = match *t {
                        "by_src" => Track::BySrc,
                        "by_dst" => Track::ByDst,
                        "by_either" => Track::ByBoth,
                        o => return Err(format!("unknown suppress track `{o}`")),
                    };
                    // Addresses: a variable, a CIDR or a list.
                    let e = crate::parse::parse_addr(ip, 0).map_err(|e| e.message)?;
                    Some((tr, vars.resolve_addr(&e)?))
                }
                _ => return Err("suppress needs both `track` and `ip`, or neither".into()),
            };
            ThresholdAction::Suppress { track }
        }
        "rate_filter" => {
            let new_action = kv.get("new_action").ok_or("missing `new_action`")?;
            if !matches!(*new_action, "alert" | "drop" | "pass" | "reject") {
                return Err(format!("unknown new_action `{new_action}`"));
            }
            ThresholdAction::RateFilter(RateFilter {
                threshold: counting(None)?,
                new_action: crate::ast::Action::from_keyword(new_action)
                    .ok_or_else(|| format!("unknown new_action `{new_action}`"))?,
                timeout: num("timeout")?,
            })
        }
        o => return Err(format!("unknown entry `{o}`")),
    };
    Ok((gid, sid, action))
}

/// Non-empty, non-comment lines with their 1-based numbers.
fn config_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_file() {
        let (c, e) = Classifications::parse(
            "# c\nconfig classification: trojan-activity,A Network Trojan was detected, 1\nconfig classification: bad\nconfig classification: x,y,0\n",
        );
        assert_eq!(c.get("trojan-activity").map(|c| c.priority), Some(1));
        assert_eq!(e.iter().map(|e| e.line).collect::<Vec<_>>(), vec![3, 4]);
    }

    #[test]
    fn et_open_side_files() {
        let Some(path) = vocab::testing::shared_data("et-open/classification.config") else {
            return;
        };
        let text = std::fs::read_to_string(path).unwrap();
        let (c, e) = Classifications::parse(&text);
        assert!(e.is_empty(), "{e:?}");
        assert!(c.len() > 30);
        let (r, e) = ReferenceSystems::parse("config reference: cve http://cve.mitre.org/cgi-bin/cvename.cgi?name=\nconfig reference: url\n");
        assert_eq!(
            r.url("CVE"),
            Some("http://cve.mitre.org/cgi-bin/cvename.cgi?name=")
        );
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn threshold_file() {
        let v = Vars::default();
        let text = "threshold gen_id 1, sig_id 10, type limit, track by_src, count 1, seconds 60\n\
                    suppress gen_id 1, sig_id 11\n\
                    suppress gen_id 1, sig_id 12, track by_src, ip $HOME_NET\n\
                    rate_filter gen_id 1, sig_id 13, track by_rule, count 10, seconds 1, new_action drop, timeout 5\n\
                    event_filter gen_id 1, sig_id 14, type both, track by_dst, count 2, seconds 9\n\
                    suppress gen_id 1, sig_id 15, track by_src\n\
                    threshold gen_id 1, sig_id 16, type sometimes, track by_src, count 1, seconds 1\n\
                    bogus\n";
        let (t, e) = parse_threshold_config(text, &v);
        assert_eq!(t.len(), 5);
        assert_eq!(e.iter().map(|e| e.line).collect::<Vec<_>>(), vec![6, 7, 8]);
        assert!(matches!(
            t[3].action,
            ThresholdAction::RateFilter(RateFilter { timeout: 5, .. })
        ));
    }
}
