//! One stored block-list entry: what the workers match ([`vocab::block::BlockEntry`]) plus who
//! made it, when, and until when.

use serde::{Deserialize, Serialize};
use vocab::block::{BlockEntry, BlockMatch, Origin, Side};

use crate::error::{Error, Kind, Result};
use crate::proto;

/// An entry as stored (JSON) and served.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBlock {
    pub id: u64,
    /// Address, network or 5-tuple, in the text form of [`vocab::block`].
    pub target: String,
    /// `src`, `dst` or `either`.
    pub side: String,
    /// `api`, `playbook`, `intel` or `config`.
    pub origin: String,
    pub reason: String,
    pub created_by: String,
    /// Nanoseconds since the Unix epoch.
    pub created_ns: u64,
    /// 0: never.
    pub expires_ns: u64,
}

/// A request for a new entry, checked by [`NewBlock::parse`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewBlock {
    pub target: String,
    pub side: String,
    pub origin: String,
    pub reason: String,
    pub expires_ns: u64,
    pub ttl_secs: u64,
}

/// Longest reason kept.
pub const MAX_REASON_BYTES: usize = 1024;

impl NewBlock {
    /// Checks the request: its match, side and origin parse, the expiry is one of the two
    /// forms and in the future. Returns the match, the origin and the expiry (0: none).
    pub fn parse(&self, now_ns: u64) -> Result<(BlockMatch, Origin, u64)> {
        let side = match self.side.trim() {
            "" => Side::Either,
            s => Side::from_name(s)
                .ok_or_else(|| Error::invalid(format!("side {s:?} is not src, dst or either")))?,
        };
        let matcher = BlockMatch::parse(&self.target, side)
            .map_err(|e| Error::invalid(format!("target: {e}")))?;
        if matches!(matcher, BlockMatch::Tuple(_)) && side != Side::Either {
            return Err(Error::invalid(
                "a 5-tuple matches both directions: leave side empty or `either`",
            ));
        }
        let origin = match self.origin.trim() {
            "" => Origin::Api,
            o => Origin::from_name(o).ok_or_else(|| {
                Error::invalid(format!("origin {o:?} is not api, playbook or intel"))
            })?,
        };
        if origin == Origin::Config {
            return Err(Error::invalid(
                "origin `config` is reserved for the configuration file's [blocklist] entries",
            ));
        }
        if self.reason.len() > MAX_REASON_BYTES {
            return Err(Error::invalid(format!(
                "reason is {} bytes, at most {MAX_REASON_BYTES}",
                self.reason.len()
            )));
        }
        let expires = match (self.expires_ns, self.ttl_secs) {
            (0, 0) => 0,
            (e, 0) if e <= now_ns => {
                return Err(Error::invalid("expires_ns is in the past"));
            }
            (e, 0) => e,
            (0, t) => now_ns.saturating_add(t.saturating_mul(1_000_000_000)),
            _ => return Err(Error::invalid("set expires_ns or ttl_secs, not both")),
        };
        Ok((matcher, origin, expires))
    }
}

impl StoredBlock {
    /// The entry as the workers' table takes it.
    pub fn entry(&self) -> Result<BlockEntry> {
        let corrupt =
            |m: String| Error::new(Kind::Corrupt, format!("block-list entry {}: {m}", self.id));
        let side =
            Side::from_name(&self.side).ok_or_else(|| corrupt(format!("side {:?}", self.side)))?;
        let matcher = BlockMatch::parse(&self.target, side).map_err(|e| corrupt(e.to_string()))?;
        let origin = Origin::from_name(&self.origin)
            .ok_or_else(|| corrupt(format!("origin {:?}", self.origin)))?;
        Ok(BlockEntry {
            id: self.id,
            matcher,
            origin,
            reason: self.reason.clone(),
        })
    }

    /// Whether the entry's network holds `ip` or its 5-tuple names it.
    pub fn concerns(&self, m: &BlockMatch, ip: std::net::IpAddr) -> bool {
        match m {
            BlockMatch::Net { net, .. } => net.contains(ip),
            BlockMatch::Tuple(t) => t.src == ip || t.dst == ip,
        }
    }
}

impl From<&StoredBlock> for proto::BlockEntry {
    fn from(b: &StoredBlock) -> Self {
        proto::BlockEntry {
            id: b.id,
            target: b.target.clone(),
            side: b.side.clone(),
            origin: b.origin.clone(),
            reason: b.reason.clone(),
            created_by: b.created_by.clone(),
            created_ns: b.created_ns,
            expires_ns: b.expires_ns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str, side: &str) -> NewBlock {
        NewBlock {
            target: target.into(),
            side: side.into(),
            ..NewBlock::default()
        }
    }

    #[test]
    fn requests_are_checked_with_clear_errors() {
        let now = 1_000_000_000_000;
        let (m, o, e) = req("198.51.100.0/24", "src").parse(now).unwrap();
        assert_eq!(
            (m.to_string(), m.side(), o, e),
            ("198.51.100.0/24".into(), Side::Src, Origin::Api, 0)
        );
        let err = |r: NewBlock| r.parse(now).unwrap_err().context;
        assert!(err(req("198.51.100.1/24", "")).contains("host bits"));
        assert!(err(req("192.0.2.1", "up")).contains("not src, dst or either"));
        assert!(err(req("tcp 192.0.2.1:1 -> 192.0.2.2:2", "src")).contains("both directions"));
        assert!(err(NewBlock {
            origin: "config".into(),
            ..req("192.0.2.1", "")
        })
        .contains("reserved"));
        assert!(err(NewBlock {
            expires_ns: 5,
            ..req("192.0.2.1", "")
        })
        .contains("past"));
        assert!(err(NewBlock {
            expires_ns: now + 5,
            ttl_secs: 5,
            ..req("192.0.2.1", "")
        })
        .contains("not both"));
        let (_, _, e) = NewBlock {
            ttl_secs: 60,
            ..req("192.0.2.1", "")
        }
        .parse(now)
        .unwrap();
        assert_eq!(e, now + 60_000_000_000);
    }
}
