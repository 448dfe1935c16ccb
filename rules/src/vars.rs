//! Address and port variables (`$HOME_NET`, `$HTTP_PORTS`, ...) and their resolution.
//!
//! Defaults are Suricata's `suricata.yaml` values; the appliance configuration overrides
//! single entries (a TOML `[rules.vars.address]` table deserializes into [`Vars`] and is
//! merged over the defaults).

use crate::ast::{AddrExpr, PortExpr};
use crate::ir::{IpSet, PortSet};
use crate::parse::{parse_addr, parse_port};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Deepest variable-in-variable expansion; also stops cycles (`A: $B`, `B: $A`).
const MAX_VAR_DEPTH: usize = 16;

/// Address and port groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "VarsConfig")]
pub struct Vars {
    /// Address groups by name (without `$`).
    pub address: BTreeMap<String, String>,
    /// Port groups by name (without `$`).
    pub port: BTreeMap<String, String>,
}

/// Configuration form of [`Vars`]: only the overrides.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VarsConfig {
    #[serde(default)]
    address: BTreeMap<String, String>,
    #[serde(default)]
    port: BTreeMap<String, String>,
}

impl From<VarsConfig> for Vars {
    fn from(c: VarsConfig) -> Self {
        let mut v = Vars::default();
        v.address.extend(c.address);
        v.port.extend(c.port);
        v
    }
}

impl Default for Vars {
    fn default() -> Self {
        let addr = [
            ("HOME_NET", "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]"),
            ("EXTERNAL_NET", "!$HOME_NET"),
            ("HTTP_SERVERS", "$HOME_NET"),
            ("SMTP_SERVERS", "$HOME_NET"),
            ("SQL_SERVERS", "$HOME_NET"),
            ("DNS_SERVERS", "$HOME_NET"),
            ("TELNET_SERVERS", "$HOME_NET"),
            ("AIM_SERVERS", "$EXTERNAL_NET"),
            ("DC_SERVERS", "$HOME_NET"),
            ("DNP3_SERVER", "$HOME_NET"),
            ("DNP3_CLIENT", "$HOME_NET"),
            ("MODBUS_CLIENT", "$HOME_NET"),
            ("MODBUS_SERVER", "$HOME_NET"),
            ("ENIP_CLIENT", "$HOME_NET"),
            ("ENIP_SERVER", "$HOME_NET"),
        ];
        let port = [
            ("HTTP_PORTS", "80"),
            ("SHELLCODE_PORTS", "!80"),
            ("ORACLE_PORTS", "1521"),
            ("SSH_PORTS", "22"),
            ("DNP3_PORTS", "20000"),
            ("MODBUS_PORTS", "502"),
            ("FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"),
            ("FTP_PORTS", "21"),
            ("GENEVE_PORTS", "6081"),
            ("VXLAN_PORTS", "4789"),
            ("TEREDO_PORTS", "3544"),
        ];
        Vars {
            address: addr
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            port: port
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

impl Vars {
    /// Resolves an address expression into a set.
    pub fn resolve_addr(&self, e: &AddrExpr) -> Result<IpSet, String> {
        self.addr(e, 0)
    }

    /// Resolves a port expression into a set.
    pub fn resolve_port(&self, e: &PortExpr) -> Result<PortSet, String> {
        self.port(e, 0)
    }

    fn addr(&self, e: &AddrExpr, depth: usize) -> Result<IpSet, String> {
        if depth > MAX_VAR_DEPTH {
            return Err("address variables nest too deeply (cycle?)".into());
        }
        Ok(match e {
            AddrExpr::Any(_) => IpSet::any(),
            AddrExpr::Var(_, name) => {
                let v = self
                    .address
                    .get(name)
                    .ok_or_else(|| format!("undefined address variable `${name}`"))?;
                let parsed = parse_addr(v, 0).map_err(|err| format!("in `${name}`: {err}"))?;
                self.addr(&parsed, depth + 1)?
            }
            AddrExpr::Net(_, ip, pfx) => match *ip {
                IpAddr::V4(a) => {
                    let (lo, hi) = cidr_range(u32::from(a) as u128, pfx.unwrap_or(32), 32);
                    IpSet {
                        v4: vec![(lo as u32, hi as u32)],
                        v6: vec![],
                    }
                }
                IpAddr::V6(a) => IpSet {
                    v4: vec![],
                    v6: vec![cidr_range(u128::from(a), pfx.unwrap_or(128), 128)],
                },
            },
            AddrExpr::Range(_, a, b) => match (a, b) {
                (IpAddr::V4(a), IpAddr::V4(b)) => IpSet {
                    v4: vec![(u32::from(*a), u32::from(*b))],
                    v6: vec![],
                },
                (IpAddr::V6(a), IpAddr::V6(b)) => IpSet {
                    v4: vec![],
                    v6: vec![(u128::from(*a), u128::from(*b))],
                },
                _ => return Err("address range mixes IPv4 and IPv6".into()),
            },
            AddrExpr::Not(_, inner) => {
                let s = self.addr(inner, depth + 1)?;
                IpSet {
                    v4: complement(&s.v4, u32::MAX),
                    v6: complement(&s.v6, u128::MAX),
                }
            }
            AddrExpr::List(_, items) => {
                // Suricata: the union of the positive items (all addresses if none) minus the
                // union of the negated ones.
                let (mut pos, mut neg) = (IpSet::default(), IpSet::default());
                let mut any_pos = false;
                for it in items {
                    if let AddrExpr::Not(_, inner) = it {
                        let s = self.addr(inner, depth + 1)?;
                        neg.v4.extend(s.v4);
                        neg.v6.extend(s.v6);
                    } else {
                        any_pos = true;
                        let s = self.addr(it, depth + 1)?;
                        pos.v4.extend(s.v4);
                        pos.v6.extend(s.v6);
                    }
                }
                if !any_pos {
                    pos = IpSet::any();
                }
                IpSet {
                    v4: difference(&merge(pos.v4), &merge(neg.v4), u32::MAX),
                    v6: difference(&merge(pos.v6), &merge(neg.v6), u128::MAX),
                }
            }
        })
        .and_then(|s| {
            let s = IpSet {
                v4: merge(s.v4),
                v6: merge(s.v6),
            };
            if s.is_empty() {
                Err(format!("address `{e}` matches nothing"))
            } else {
                Ok(s)
            }
        })
    }

    fn port(&self, e: &PortExpr, depth: usize) -> Result<PortSet, String> {
        if depth > MAX_VAR_DEPTH {
            return Err("port variables nest too deeply (cycle?)".into());
        }
        let r = match e {
            PortExpr::Any(_) => vec![(0, u16::MAX)],
            PortExpr::Var(_, name) => {
                let v = self
                    .port
                    .get(name)
                    .ok_or_else(|| format!("undefined port variable `${name}`"))?;
                let parsed = parse_port(v, 0).map_err(|err| format!("in `${name}`: {err}"))?;
                self.port(&parsed, depth + 1)?.0
            }
            PortExpr::Port(_, p) => vec![(*p, *p)],
            PortExpr::Range(_, lo, hi) => vec![(lo.unwrap_or(0), hi.unwrap_or(u16::MAX))],
            PortExpr::Not(_, inner) => complement(&self.port(inner, depth + 1)?.0, u16::MAX),
            PortExpr::List(_, items) => {
                let (mut pos, mut neg, mut any_pos) = (Vec::new(), Vec::new(), false);
                for it in items {
                    if let PortExpr::Not(_, inner) = it {
                        neg.extend(self.port(inner, depth + 1)?.0);
                    } else {
                        any_pos = true;
                        pos.extend(self.port(it, depth + 1)?.0);
                    }
                }
                if !any_pos {
                    pos = vec![(0, u16::MAX)];
                }
                difference(&merge(pos), &merge(neg), u16::MAX)
            }
        };
        let r = merge(r);
        if r.is_empty() {
            return Err(format!("port `{e}` matches nothing"));
        }
        Ok(PortSet(r))
    }
}

fn cidr_range(a: u128, pfx: u8, bits: u8) -> (u128, u128) {
    let host = bits.saturating_sub(pfx) as u32;
    let mask: u128 = if host >= 128 {
        u128::MAX
    } else {
        (1u128 << host) - 1
    };
    (a & !mask, a | mask)
}

/// Unsigned integer types usable as range bounds.
trait Bound: Copy + Ord {
    const ZERO: Self;
    fn succ(self) -> Self;
    fn pred(self) -> Self;
}

macro_rules! bound {
    ($($t:ty),*) => {$(
        impl Bound for $t {
            const ZERO: Self = 0;
            fn succ(self) -> Self { self.saturating_add(1) }
            fn pred(self) -> Self { self.saturating_sub(1) }
        }
    )*};
}
bound!(u16, u32, u128);

/// Sorts and merges overlapping or adjacent ranges.
fn merge<T: Bound>(mut v: Vec<(T, T)>) -> Vec<(T, T)> {
    v.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
    for (lo, hi) in v {
        if let Some(last) = out.last_mut() {
            if lo <= last.1.succ() || last.1 == lo {
                if hi > last.1 {
                    last.1 = hi;
                }
                continue;
            }
        }
        out.push((lo, hi));
    }
    out
}

/// Complement of merged ranges within `0..=max`.
fn complement<T: Bound>(v: &[(T, T)], max: T) -> Vec<(T, T)> {
    let v = merge(v.to_vec());
    let mut out = Vec::new();
    let mut next = T::ZERO;
    let mut done = false;
    for &(lo, hi) in &v {
        if lo > next {
            out.push((next, lo.pred()));
        }
        if hi == max {
            done = true;
            break;
        }
        next = hi.succ();
    }
    if !done {
        out.push((next, max));
    }
    out
}

/// `a` minus `b` (both merged).
fn difference<T: Bound>(a: &[(T, T)], b: &[(T, T)], max: T) -> Vec<(T, T)> {
    let nb = complement(b, max);
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < nb.len() {
        let lo = a[i].0.max(nb[j].0);
        let hi = a[i].1.min(nb[j].1);
        if lo <= hi {
            out.push((lo, hi));
        }
        if a[i].1 < nb[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Result<IpSet, String> {
        Vars::default().resolve_addr(&parse_addr(s, 0).map_err(|e| e.message)?)
    }

    #[test]
    fn home_and_external_net() {
        let home = addr("$HOME_NET").expect("home");
        assert!(home.contains("10.1.2.3".parse().expect("ip")));
        assert!(!home.contains("8.8.8.8".parse().expect("ip")));
        let ext = addr("$EXTERNAL_NET").expect("ext");
        assert!(ext.contains("8.8.8.8".parse().expect("ip")));
        assert!(!ext.contains("192.168.1.1".parse().expect("ip")));
        assert!(ext.contains("2001:db8::1".parse().expect("ip")));
        assert!(addr("any").expect("any").is_any());
    }

    #[test]
    fn lists_with_negation() {
        let s = addr("[10.0.0.0/8,!10.1.0.0/16]").expect("set");
        assert!(s.contains("10.2.0.1".parse().expect("ip")));
        assert!(!s.contains("10.1.0.1".parse().expect("ip")));
        assert!(s.v6.is_empty());
        let s = addr("[!1.2.3.4]").expect("set");
        assert!(!s.contains("1.2.3.4".parse().expect("ip")));
        assert!(s.contains("1.2.3.5".parse().expect("ip")));
        assert!(addr("[1.2.3.4,!1.2.3.4]").is_err());
        assert!(addr("$NOPE").is_err());
    }

    #[test]
    fn ports() {
        let v = Vars::default();
        let p = |s: &str| v.resolve_port(&parse_port(s, 0).expect("parse"));
        assert_eq!(
            p("$FILE_DATA_PORTS").expect("p").0,
            vec![(80, 80), (110, 110), (143, 143)]
        );
        assert_eq!(p("!80").expect("p").0, vec![(0, 79), (81, 65535)]);
        assert_eq!(
            p("[1024:,!8080]").expect("p").0,
            vec![(1024, 8079), (8081, 65535)]
        );
        assert!(p("[80,!80]").is_err());
    }

    #[test]
    fn cycles_are_refused() {
        let mut v = Vars::default();
        v.address.insert("A".into(), "$B".into());
        v.address.insert("B".into(), "$A".into());
        assert!(v
            .resolve_addr(&parse_addr("$A", 0).expect("parse"))
            .is_err());
    }

    #[test]
    fn overrides_deserialize_over_defaults() {
        let v: Vars = toml::from_str(
            "[address]\nHOME_NET = \"[1.2.3.0/24]\"\n[port]\nHTTP_PORTS = \"[80,8080]\"\n",
        )
        .expect("toml");
        assert_eq!(v.address["HOME_NET"], "[1.2.3.0/24]");
        assert_eq!(v.address["EXTERNAL_NET"], "!$HOME_NET");
        assert_eq!(v.port["HTTP_PORTS"], "[80,8080]");
        assert!(toml::from_str::<Vars>("bogus = 1").is_err());
    }
}
