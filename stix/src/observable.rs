//! What a worker can look up: a pattern's comparisons turned into [`Observable`]s, each with
//! the constraints it carries ([`Match`]), or the reason the pattern cannot be matched on
//! traffic ([`Unsupported`]).
//!
//! A pattern is matchable when it is one observation (or observations joined by `OR`) whose
//! comparison, in disjunctive normal form, has in every conjunction exactly one lookup
//! (address, domain, URL, hash, fingerprint) and otherwise only port equalities. `IN` is a
//! disjunction of `=`. Domains match the name and its subdomains; addresses match by prefix.

use std::net::IpAddr;

use crate::pattern::{Comparison, Literal, Op, Pattern, Step, Test};

/// An address prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// The address with bits past `len` cleared.
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    /// `198.51.100.0/24`, `2001:db8::1` (a host), refusing bits set past the length
    /// (cleared, as most feeds mean) only when the text is not an address at all.
    pub fn parse(s: &str) -> Option<Prefix> {
        let (a, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = len.unwrap_or(max);
        if len > max {
            return None;
        }
        Some(Prefix {
            addr: mask(addr, len),
            len,
        })
    }

    /// Whether `a` is inside this prefix.
    pub fn contains(&self, a: IpAddr) -> bool {
        a.is_ipv4() == self.addr.is_ipv4() && mask(a, self.len) == self.addr
    }
}

/// `a` with the bits past `len` cleared.
pub fn mask(a: IpAddr, len: u8) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            IpAddr::V4((u32::from(v) & m).into())
        }
        IpAddr::V6(v) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            };
            IpAddr::V6((u128::from(v) & m).into())
        }
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A hash algorithm named in `hashes.'...'`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    Md5,
    Sha1,
    Sha256,
}

impl HashAlg {
    fn from_name(n: &str) -> Option<HashAlg> {
        match n.to_ascii_uppercase().replace('_', "-").as_str() {
            "MD5" => Some(HashAlg::Md5),
            "SHA-1" | "SHA1" => Some(HashAlg::Sha1),
            "SHA-256" | "SHA256" => Some(HashAlg::Sha256),
            _ => None,
        }
    }

    /// Hex digits of a digest.
    pub fn hex_len(self) -> usize {
        match self {
            HashAlg::Md5 => 32,
            HashAlg::Sha1 => 40,
            HashAlg::Sha256 => 64,
        }
    }

    /// The STIX name.
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Md5 => "MD5",
            HashAlg::Sha1 => "SHA-1",
            HashAlg::Sha256 => "SHA-256",
        }
    }
}

/// A value a worker looks up. Text values are lowercase; hashes are lowercase hex without
/// separators.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Observable {
    /// An address or prefix (IPv4 or IPv6).
    Addr(Prefix),
    /// A domain name and its subdomains (no trailing dot).
    Domain(String),
    /// A URL, normalised by [`normalize_url`].
    Url(String),
    /// A file's hash.
    FileHash(HashAlg, String),
    /// An X.509 certificate's hash (of its DER encoding).
    CertHash(HashAlg, String),
    /// A TLS client's JA3 hash (MD5, hex).
    Ja3(String),
    /// A TLS server's JA3S hash.
    Ja3s(String),
    /// A TLS client's JA4 fingerprint.
    Ja4(String),
}

/// Which side of a flow an address must be on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Side {
    /// Either (`ipv4-addr:value`).
    #[default]
    Any,
    /// The connection's source (`network-traffic:src_ref`).
    Src,
    /// The connection's destination (`network-traffic:dst_ref`).
    Dst,
}

/// One way a pattern matches: a lookup and the constraints checked once it hits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Match {
    pub observable: Observable,
    pub side: Side,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
}

/// Why a pattern cannot be matched on traffic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    #[error("pattern type {0:?} (only stix)")]
    PatternType(String),
    #[error("{0}")]
    Syntax(String),
    #[error("{0} needs several observations to be correlated")]
    Correlation(&'static str),
    #[error("qualifier {0}")]
    Qualifier(String),
    #[error("{0} is not observed on traffic")]
    Property(String),
    #[error("operator {op} on {path}")]
    Operator { op: &'static str, path: String },
    #[error("bad value {value} for {path}")]
    Value { path: String, value: String },
    #[error("NOT on {0}")]
    Negation(String),
    #[error("a conjunction needs exactly one looked-up value, found {0}")]
    Lookups(usize),
    #[error("more than {MAX_ALTERNATIVES} alternatives")]
    TooManyAlternatives,
}

/// Most alternatives (DNF conjunctions × `IN` members) one pattern may expand to.
pub const MAX_ALTERNATIVES: usize = 4096;

/// The lookups of a parsed pattern.
pub fn matches_of(p: &Pattern) -> Result<Vec<Match>, Unsupported> {
    let mut out = Vec::new();
    collect(p, &mut out)?;
    if out.len() > 1 {
        let mut seen = std::collections::HashSet::new();
        out.retain(|m| seen.insert(m.clone()));
    }
    Ok(out)
}

fn collect(p: &Pattern, out: &mut Vec<Match>) -> Result<(), Unsupported> {
    match p {
        Pattern::Observation {
            comparison,
            qualifiers,
        } => {
            if let Some(q) = qualifiers.first() {
                return Err(Unsupported::Qualifier(q.to_string()));
            }
            for conj in dnf(comparison)? {
                expand(&conj, out)?;
                if out.len() > MAX_ALTERNATIVES {
                    return Err(Unsupported::TooManyAlternatives);
                }
            }
            Ok(())
        }
        Pattern::Group { qualifiers, .. } => Err(Unsupported::Qualifier(
            qualifiers
                .first()
                .map(|q| q.to_string())
                .unwrap_or_default(),
        )),
        Pattern::Or(parts) => parts.iter().try_for_each(|q| collect(q, out)),
        Pattern::And(_) => Err(Unsupported::Correlation("AND between observations")),
        Pattern::FollowedBy(_) => Err(Unsupported::Correlation("FOLLOWEDBY")),
    }
}

/// The comparison as a disjunction of conjunctions of tests.
fn dnf(c: &Comparison) -> Result<Vec<Vec<&Test>>, Unsupported> {
    match c {
        Comparison::Test(t) => Ok(vec![vec![t]]),
        Comparison::Or(parts) => {
            let mut all = Vec::new();
            for p in parts {
                all.extend(dnf(p)?);
                if all.len() > MAX_ALTERNATIVES {
                    return Err(Unsupported::TooManyAlternatives);
                }
            }
            Ok(all)
        }
        Comparison::And(parts) => {
            let mut acc: Vec<Vec<&Test>> = vec![Vec::new()];
            for p in parts {
                let d = dnf(p)?;
                if acc.len().saturating_mul(d.len()) > MAX_ALTERNATIVES {
                    return Err(Unsupported::TooManyAlternatives);
                }
                acc = acc
                    .iter()
                    .flat_map(|a| {
                        d.iter().map(move |b| {
                            let mut v = a.clone();
                            v.extend(b.iter().copied());
                            v
                        })
                    })
                    .collect();
            }
            Ok(acc)
        }
    }
}

/// What one test contributes to a conjunction.
enum Term {
    /// Alternatives for the looked-up value.
    Lookup(Vec<(Observable, Side)>),
    SrcPort(Vec<u16>),
    DstPort(Vec<u16>),
}

/// One conjunction's matches (several when `IN` lists alternatives).
fn expand(conj: &[&Test], out: &mut Vec<Match>) -> Result<(), Unsupported> {
    let mut lookup = None;
    let mut lookups = 0;
    let mut src_ports: Option<Vec<u16>> = None;
    let mut dst_ports: Option<Vec<u16>> = None;
    for t in conj {
        match term(t)? {
            Term::Lookup(v) => {
                lookups += 1;
                lookup = Some(v);
            }
            Term::SrcPort(p) => src_ports = Some(intersect(src_ports, p)),
            Term::DstPort(p) => dst_ports = Some(intersect(dst_ports, p)),
        }
    }
    let (1, Some(values)) = (lookups, lookup) else {
        return Err(Unsupported::Lookups(lookups));
    };
    let ports = |p: Option<Vec<u16>>| p.map_or(vec![None], |v| v.into_iter().map(Some).collect());
    for (observable, side) in values {
        for sp in ports(src_ports.clone()) {
            for dp in ports(dst_ports.clone()) {
                out.push(Match {
                    observable: observable.clone(),
                    side,
                    src_port: sp,
                    dst_port: dp,
                });
            }
        }
        if out.len() > MAX_ALTERNATIVES {
            return Err(Unsupported::TooManyAlternatives);
        }
    }
    Ok(())
}

fn intersect(prev: Option<Vec<u16>>, new: Vec<u16>) -> Vec<u16> {
    match prev {
        None => new,
        Some(p) => p.into_iter().filter(|x| new.contains(x)).collect(),
    }
}

fn term(t: &Test) -> Result<Term, Unsupported> {
    let path = t.path.to_string();
    if t.negated {
        return Err(Unsupported::Negation(path));
    }
    let ty = t.path.object_type.to_ascii_lowercase();
    let prop = t.path.property();
    let op_err = || Unsupported::Operator {
        op: t.op.as_str(),
        path: path.clone(),
    };
    let equality = matches!(t.op, Op::Eq | Op::In);
    match (ty.as_str(), prop.as_str()) {
        ("ipv4-addr" | "ipv6-addr", "value") => addresses(t, &path, Side::Any),
        ("network-traffic", "src_ref.value") => addresses(t, &path, Side::Src),
        ("network-traffic", "dst_ref.value") => addresses(t, &path, Side::Dst),
        ("network-traffic", "src_port") if equality => Ok(Term::SrcPort(ports(t, &path)?)),
        ("network-traffic", "dst_port") if equality => Ok(Term::DstPort(ports(t, &path)?)),
        ("domain-name", "value") => names(t, &path),
        ("url", "value") if equality => {
            strings(t, &path, |s| Some(Observable::Url(normalize_url(s)?)))
        }
        ("file", p) | ("x509-certificate", p) if p.starts_with("hashes.") && equality => {
            let alg = match t.path.steps.get(1) {
                Some(Step::Key(k)) => HashAlg::from_name(k),
                _ => None,
            }
            .ok_or_else(|| Unsupported::Property(path.clone()))?;
            let file = ty == "file";
            strings(t, &path, |s| {
                let h = hex_digest(s, alg)?;
                Some(if file {
                    Observable::FileHash(alg, h)
                } else {
                    Observable::CertHash(alg, h)
                })
            })
        }
        (ty, _) if ty.contains("ja3") || ty.contains("ja4") => {
            if !equality {
                return Err(op_err());
            }
            let kind = if ty.contains("ja3s") {
                Observable::Ja3s
            } else if ty.contains("ja3") {
                Observable::Ja3
            } else {
                Observable::Ja4
            };
            let ja3 = !ty.contains("ja4");
            strings(t, &path, move |s| {
                let v = s.trim().to_ascii_lowercase();
                let ok = if ja3 {
                    v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit())
                } else {
                    !v.is_empty() && v.len() <= 64
                };
                ok.then(|| kind(v))
            })
        }
        ("url" | "network-traffic" | "file" | "x509-certificate", _) if !equality => Err(op_err()),
        _ => Err(Unsupported::Property(path)),
    }
}

fn addresses(t: &Test, path: &str, side: Side) -> Result<Term, Unsupported> {
    if !matches!(t.op, Op::Eq | Op::In | Op::IsSubset) {
        return Err(Unsupported::Operator {
            op: t.op.as_str(),
            path: path.to_string(),
        });
    }
    let v = values(t, path, |s| Prefix::parse(s).map(Observable::Addr))?;
    Ok(Term::Lookup(v.into_iter().map(|o| (o, side)).collect()))
}

fn names(t: &Test, path: &str) -> Result<Term, Unsupported> {
    match t.op {
        Op::Eq | Op::In => strings(t, path, |s| domain(s).map(Observable::Domain)),
        // `LIKE '%.example.com'`: the subdomains, which the domain lookup covers.
        Op::Like => strings(t, path, |s| {
            domain(s.strip_prefix("%.")?).map(Observable::Domain)
        }),
        op => Err(Unsupported::Operator {
            op: op.as_str(),
            path: path.to_string(),
        }),
    }
}

fn strings(
    t: &Test,
    path: &str,
    f: impl Fn(&str) -> Option<Observable>,
) -> Result<Term, Unsupported> {
    let v = values(t, path, f)?;
    Ok(Term::Lookup(
        v.into_iter().map(|o| (o, Side::Any)).collect(),
    ))
}

fn values(
    t: &Test,
    path: &str,
    f: impl Fn(&str) -> Option<Observable>,
) -> Result<Vec<Observable>, Unsupported> {
    t.values
        .iter()
        .map(|v| match v {
            Literal::Str(s) => f(s).ok_or_else(|| Unsupported::Value {
                path: path.to_string(),
                value: v.to_string(),
            }),
            other => Err(Unsupported::Value {
                path: path.to_string(),
                value: other.to_string(),
            }),
        })
        .collect()
}

fn ports(t: &Test, path: &str) -> Result<Vec<u16>, Unsupported> {
    t.values
        .iter()
        .map(|v| {
            match v {
                Literal::Int(i) => u16::try_from(*i).ok(),
                _ => None,
            }
            .ok_or_else(|| Unsupported::Value {
                path: path.to_string(),
                value: v.to_string(),
            })
        })
        .collect()
}

/// A domain name as looked up: lowercase, no trailing dot; `None` when it cannot be one.
pub fn domain(s: &str) -> Option<String> {
    let d = s.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*')
        });
    (ok && d.parse::<IpAddr>().is_err()).then_some(d)
}

/// A hash as looked up: lowercase hex of the algorithm's length (`:` separators dropped).
pub fn hex_digest(s: &str, alg: HashAlg) -> Option<String> {
    let h: String = s
        .trim()
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    (h.len() == alg.hex_len() && h.bytes().all(|b| b.is_ascii_hexdigit())).then_some(h)
}

/// A URL as looked up: scheme and host lowercase, the scheme's default port dropped, an
/// empty path as `/`; the path and query as given. `None` without `scheme://host`.
pub fn normalize_url(s: &str) -> Option<String> {
    let s = s.trim();
    let (scheme, rest) = s.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let host = authority.rsplit('@').next()?.to_ascii_lowercase();
    let host = match (scheme.as_str(), host.rsplit_once(':')) {
        ("http", Some((h, "80"))) | ("https", Some((h, "443"))) => h.to_string(),
        _ => host,
    };
    if host.is_empty() {
        return None;
    }
    let path = if path.is_empty() || path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Some(format!("{scheme}://{host}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::parse;

    fn m(src: &str) -> Result<Vec<Match>, Unsupported> {
        matches_of(&parse(src).unwrap())
    }

    fn one(o: Observable) -> Match {
        Match {
            observable: o,
            side: Side::Any,
            src_port: None,
            dst_port: None,
        }
    }

    fn addr(s: &str) -> Observable {
        Observable::Addr(Prefix::parse(s).unwrap())
    }

    #[test]
    fn each_supported_property_becomes_its_lookup() {
        let sha = "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f";
        for (src, want) in [
            ("[ipv4-addr:value = '198.51.100.7']", addr("198.51.100.7/32")),
            ("[ipv4-addr:value ISSUBSET '198.51.100.0/24']", addr("198.51.100.0/24")),
            ("[ipv6-addr:value = '2001:DB8::/32']", addr("2001:db8::/32")),
            ("[domain-name:value = 'Evil.Example.']", Observable::Domain("evil.example".into())),
            ("[domain-name:value LIKE '%.example.org']", Observable::Domain("example.org".into())),
            ("[url:value = 'HTTP://WWW.Example.com:80']", Observable::Url("http://www.example.com/".into())),
            (&format!("[file:hashes.'SHA-256' = '{}']", sha.to_uppercase()), Observable::FileHash(HashAlg::Sha256, sha.into())),
            ("[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']", Observable::FileHash(HashAlg::Md5, "d41d8cd98f00b204e9800998ecf8427e".into())),
            ("[x509-certificate:hashes.'SHA-1' = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01']", Observable::CertHash(HashAlg::Sha1, "abcdef0123456789abcdef0123456789abcdef01".into())),
            ("[x-ja3-hash:value = 'E7D705A3286E19EA42F587B344EE6865']", Observable::Ja3("e7d705a3286e19ea42f587b344ee6865".into())),
            ("[x-ja3s:hash = 'e7d705a3286e19ea42f587b344ee6865']", Observable::Ja3s("e7d705a3286e19ea42f587b344ee6865".into())),
            ("[x-ja4:fingerprint = 't13d1516h2_8daaf6152771_b186095e22b6']", Observable::Ja4("t13d1516h2_8daaf6152771_b186095e22b6".into())),
        ] {
            assert_eq!(m(src), Ok(vec![one(want)]), "{src}");
        }
    }

    #[test]
    fn ports_and_sides_constrain_the_lookup() {
        let got = m("[network-traffic:dst_ref.value = '203.0.113.5' AND network-traffic:dst_port IN (443, 8443) AND network-traffic:src_port = 1234]").unwrap();
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|g| g.side == Side::Dst
            && g.src_port == Some(1234)
            && g.observable == addr("203.0.113.5")));
        let mut dports: Vec<_> = got.iter().map(|g| g.dst_port).collect();
        dports.sort();
        assert_eq!(dports, [Some(443), Some(8443)]);
    }

    #[test]
    fn or_and_in_give_one_match_per_alternative() {
        let got = m("[domain-name:value IN ('a.example', 'b.example') OR url:value = 'http://c.example/x'] OR [ipv4-addr:value = '192.0.2.1']").unwrap();
        assert_eq!(got.len(), 4);
        // AND distributes over OR: (a OR b) AND port → two matches with the port.
        let got = m("[(ipv4-addr:value = '192.0.2.1' OR ipv4-addr:value = '192.0.2.2') AND network-traffic:dst_port = 53]").unwrap();
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|g| g.dst_port == Some(53)));
    }

    #[test]
    fn what_cannot_be_matched_says_why() {
        for (src, why) in [
            (
                "[ipv4-addr:value = '192.0.2.1'] AND [domain-name:value = 'x.example']",
                "correlated",
            ),
            (
                "[ipv4-addr:value = '192.0.2.1'] FOLLOWEDBY [ipv4-addr:value = '192.0.2.2']",
                "FOLLOWEDBY",
            ),
            (
                "[ipv4-addr:value = '192.0.2.1'] REPEATS 5 TIMES",
                "qualifier REPEATS",
            ),
            ("[file:name = 'x.exe']", "file:name is not observed"),
            ("[ipv4-addr:value NOT = '192.0.2.1']", "NOT on"),
            ("[ipv4-addr:value = 'not-an-ip']", "bad value"),
            ("[domain-name:value MATCHES '^x']", "operator MATCHES"),
            (
                "[network-traffic:dst_port = 80]",
                "exactly one looked-up value, found 0",
            ),
            (
                "[ipv4-addr:value = '192.0.2.1' AND domain-name:value = 'x.example']",
                "found 2",
            ),
            ("[file:hashes.MD5 = 'abc']", "bad value"),
            (
                "[network-traffic:dst_port = 70000 AND ipv4-addr:value = '192.0.2.1']",
                "bad value",
            ),
        ] {
            let e = m(src).expect_err(src).to_string();
            assert!(e.contains(why), "{src}: {e}");
        }
    }

    #[test]
    fn alternatives_are_bounded() {
        let set: Vec<String> = (0..100).map(|i| format!("'192.0.2.{i}'")).collect();
        let ports: Vec<String> = (1..100).map(|i| i.to_string()).collect();
        let src = format!(
            "[ipv4-addr:value IN ({}) AND network-traffic:dst_port IN ({})]",
            set.join(","),
            ports.join(",")
        );
        assert_eq!(m(&src), Err(Unsupported::TooManyAlternatives));
    }

    #[test]
    fn prefixes_and_urls_normalise() {
        let p = Prefix::parse("198.51.100.77/24").unwrap();
        assert_eq!(p.to_string(), "198.51.100.0/24");
        assert!(p.contains("198.51.100.1".parse().unwrap()));
        assert!(!p.contains("198.51.101.1".parse().unwrap()));
        assert!(!p.contains("2001:db8::1".parse().unwrap()));
        assert!(Prefix::parse("198.51.100.0/33").is_none());
        assert_eq!(
            normalize_url("https://User@Host.Example:443?q=1").as_deref(),
            Some("https://host.example/?q=1")
        );
        assert_eq!(normalize_url("host.example/x"), None);
    }
}
