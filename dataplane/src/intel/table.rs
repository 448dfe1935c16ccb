//! The immutable lookup tables a worker matches traffic against, compiled off the hot path
//! from [`stix::Compiled`] and published to workers whole (see [`super::IntelSlot`]).
//!
//! - addresses: per address family, one hash map per prefix length present, probed from the
//!   longest length down (a table of host addresses and a few prefixes costs a few probes);
//! - names: exact byte-string maps for domains (a name is looked up with each of its parent
//!   domains, so `evil.example` also covers `a.evil.example`), URLs, certificate hashes,
//!   JA3, JA3S and JA4.
//!
//! Each key leads to a run of [`Entry`]s (indicator and constraints) in one vector. Keys come
//! from the indicators, not from traffic, so the maps cannot be flooded from the wire; they
//! use a keyed hasher all the same.

use std::net::IpAddr;
use std::ops::Range;

use ahash::RandomState;
use hashbrown::HashMap;
use stix::{Compiled, HashAlg, IndicatorInfo, Observable, Side};

/// One indicator's lookup that a key leads to, with the constraints checked on a hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Index of the indicator in [`Table::indicator`].
    pub indicator: u32,
    pub side: Side,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
}

/// Counts of what a table holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    pub indicators: u64,
    pub addresses: u64,
    pub domains: u64,
    pub urls: u64,
    pub cert_hashes: u64,
    pub fingerprints: u64,
    /// File digests (MD5, SHA-1, SHA-256 of tracked files).
    pub file_hashes: u64,
    /// Lookups no traffic field carries yet (certificate MD5): kept, never hit.
    pub not_on_traffic: u64,
}

/// Address prefixes of one family, keyed by the masked address per length.
#[derive(Debug, Default)]
struct Prefixes {
    /// Lengths present, longest first.
    lens: Vec<u8>,
    /// By length (index = length).
    maps: Vec<HashMap<u128, Range<u32>, RandomState>>,
}

impl Prefixes {
    fn lookup(&self, bits: u128, width: u8) -> impl Iterator<Item = Range<u32>> + '_ {
        self.lens.iter().filter_map(move |&len| {
            let key = if len == 0 {
                0
            } else {
                bits & (u128::MAX << (u32::from(width) - u32::from(len)))
            };
            self.maps[usize::from(len)].get(&key).cloned()
        })
    }
}

/// A name lookup while compiling: map kind ([`ValueKind`] or [`DOMAIN`]) and key.
type NameKey = (u8, Box<[u8]>);

/// Byte-string keys to runs of entries.
type Names = HashMap<Box<[u8]>, Range<u32>, RandomState>;

/// What kind of exact value a [`Table::lookup_value`] looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    Url,
    CertSha1,
    CertSha256,
    Ja3,
    Ja3s,
    Ja4,
    FileMd5,
    FileSha1,
    FileSha256,
}

/// An indicator set compiled for the workers.
#[derive(Debug)]
pub struct Table {
    indicators: Vec<IndicatorInfo>,
    sources: Vec<String>,
    entries: Vec<Entry>,
    v4: Prefixes,
    v6: Prefixes,
    domains: Names,
    values: [Names; VALUE_KINDS],
    stats: TableStats,
}

impl Table {
    /// An empty table (nothing matches).
    pub fn empty() -> Table {
        Table::compile(Compiled::default())
    }

    /// Compiles `c`'s lookups (taking its indicators' context as it is, not a copy).
    pub fn compile(c: Compiled) -> Table {
        let hasher = RandomState::new();
        let mut stats = TableStats {
            indicators: c.indicators.len() as u64,
            ..TableStats::default()
        };
        // Every lookup as (key, entry), grouped by key into runs of one entry vector.
        let mut addrs: Vec<((bool, u8, u128), Entry)> = Vec::new();
        let mut names: Vec<(NameKey, Entry)> = Vec::new();
        for (i, m) in &c.matches {
            let e = Entry {
                indicator: *i,
                side: m.side,
                src_port: m.src_port,
                dst_port: m.dst_port,
            };
            let name = |kind: u8, s: &str| ((kind, s.as_bytes().into()), e);
            match &m.observable {
                Observable::Addr(p) => {
                    stats.addresses += 1;
                    let (v6, bits) = match p.addr {
                        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
                        IpAddr::V6(a) => (true, u128::from(a)),
                    };
                    addrs.push(((v6, p.len, bits), e));
                }
                Observable::Domain(d) => {
                    stats.domains += 1;
                    names.push(name(DOMAIN, d));
                }
                Observable::Url(u) => {
                    stats.urls += 1;
                    names.push(name(ValueKind::Url as u8, u));
                }
                Observable::CertHash(HashAlg::Sha1, h) => {
                    stats.cert_hashes += 1;
                    names.push(name(ValueKind::CertSha1 as u8, h));
                }
                Observable::CertHash(HashAlg::Sha256, h) => {
                    stats.cert_hashes += 1;
                    names.push(name(ValueKind::CertSha256 as u8, h));
                }
                Observable::Ja3(h) => {
                    stats.fingerprints += 1;
                    names.push(name(ValueKind::Ja3 as u8, h));
                }
                Observable::Ja3s(h) => {
                    stats.fingerprints += 1;
                    names.push(name(ValueKind::Ja3s as u8, h));
                }
                Observable::Ja4(h) => {
                    stats.fingerprints += 1;
                    names.push(name(ValueKind::Ja4 as u8, h));
                }
                Observable::FileHash(alg, h) => {
                    stats.file_hashes += 1;
                    let kind = match alg {
                        HashAlg::Md5 => ValueKind::FileMd5,
                        HashAlg::Sha1 => ValueKind::FileSha1,
                        HashAlg::Sha256 => ValueKind::FileSha256,
                    };
                    names.push(name(kind as u8, h));
                }
                Observable::CertHash(HashAlg::Md5, _) => {
                    stats.not_on_traffic += 1;
                }
            }
        }
        addrs.sort_unstable_by_key(|(k, _)| *k);
        names.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        let mut entries = Vec::with_capacity(addrs.len() + names.len());
        let mut v4 = Prefixes::default();
        let mut v6 = Prefixes::default();
        for ((is_v6, len, bits), run) in runs(&addrs, &mut entries) {
            let p = if is_v6 { &mut v6 } else { &mut v4 };
            if p.maps.len() <= usize::from(len) {
                p.maps.resize_with(usize::from(len) + 1, || {
                    HashMap::with_hasher(hasher.clone())
                });
            }
            p.maps[usize::from(len)].insert(bits, run);
        }
        for p in [&mut v4, &mut v6] {
            p.lens = (0..p.maps.len() as u8)
                .rev()
                .filter(|l| !p.maps[usize::from(*l)].is_empty())
                .collect();
        }
        let mut domains = Names::with_hasher(hasher.clone());
        let mut values: [Names; VALUE_KINDS] =
            std::array::from_fn(|_| Names::with_hasher(hasher.clone()));
        for ((kind, key), run) in runs(&names, &mut entries) {
            let map = match kind {
                DOMAIN => &mut domains,
                k => &mut values[usize::from(k)],
            };
            map.insert(key, run);
        }
        Table {
            indicators: c.indicators,
            sources: c.sources,
            entries,
            v4,
            v6,
            domains,
            values,
            stats,
        }
    }

    /// What the table holds.
    pub fn stats(&self) -> TableStats {
        self.stats
    }

    /// Whether nothing can match.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether any certificate SHA-256 lookup exists (the worker hashes certificates only then).
    pub fn wants_cert_sha256(&self) -> bool {
        !self.values[ValueKind::CertSha256 as usize].is_empty()
    }

    /// Indicator `i`'s context.
    pub fn indicator(&self, i: u32) -> &IndicatorInfo {
        &self.indicators[i as usize]
    }

    /// Name of source `i` (file or feed).
    pub fn source(&self, i: u16) -> &str {
        self.sources.get(usize::from(i)).map_or("", String::as_str)
    }

    /// Entries for every prefix containing `a`, longest prefix first.
    pub fn lookup_addr(&self, a: IpAddr) -> impl Iterator<Item = &Entry> + '_ {
        let (p, bits, width) = match a {
            IpAddr::V4(v) => (&self.v4, u128::from(u32::from(v)), 32),
            IpAddr::V6(v) => (&self.v6, u128::from(v), 128),
        };
        p.lookup(bits, width)
            .flat_map(move |r| &self.entries[r.start as usize..r.end as usize])
    }

    /// Entries for a lowercase domain name and each of its parent domains.
    pub fn lookup_domain<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = &'a Entry> + 'a {
        let mut rest = Some(name);
        std::iter::from_fn(move || {
            while let Some(n) = rest {
                rest = memchr::memchr(b'.', n).map(|i| &n[i + 1..]);
                if let Some(r) = self.domains.get(n) {
                    return Some(&self.entries[r.start as usize..r.end as usize]);
                }
            }
            None
        })
        .flatten()
    }

    /// Entries for an exact value (lowercase).
    pub fn lookup_value(&self, kind: ValueKind, v: &[u8]) -> &[Entry] {
        match self.values[kind as usize].get(v) {
            Some(r) => &self.entries[r.start as usize..r.end as usize],
            None => &[],
        }
    }

    /// Approximate bytes the table occupies.
    pub fn memory(&self) -> usize {
        use std::mem::size_of;
        let infos: usize = self
            .indicators
            .iter()
            .map(|i| {
                size_of::<IndicatorInfo>()
                    + i.id.capacity()
                    + i.pattern.capacity()
                    + i.labels.iter().map(|l| l.capacity() + 24).sum::<usize>()
                    + i.related
                        .iter()
                        .map(|r| 100 + r.id.len() + r.name.len())
                        .sum::<usize>()
            })
            .sum();
        let names = |m: &Names| {
            m.capacity() * (size_of::<(Box<[u8]>, Range<u32>)>() + 1)
                + m.keys().map(|k| k.len()).sum::<usize>()
        };
        let prefixes = |p: &Prefixes| {
            p.maps
                .iter()
                .map(|m| m.capacity() * (size_of::<(u128, Range<u32>)>() + 1))
                .sum::<usize>()
        };
        infos
            + self.entries.capacity() * size_of::<Entry>()
            + prefixes(&self.v4)
            + prefixes(&self.v6)
            + names(&self.domains)
            + self.values.iter().map(names).sum::<usize>()
    }
}

/// Number of [`ValueKind`]s.
const VALUE_KINDS: usize = 9;

/// Map kind of domains beside the [`ValueKind`]s.
const DOMAIN: u8 = VALUE_KINDS as u8;

/// Groups sorted `(key, entry)` pairs: appends each group's entries to `entries` and yields
/// the key with its run.
fn runs<'a, K: PartialEq + Clone>(
    sorted: &'a [(K, Entry)],
    entries: &'a mut Vec<Entry>,
) -> impl Iterator<Item = (K, Range<u32>)> + 'a {
    let mut i = 0;
    std::iter::from_fn(move || {
        let (key, _) = sorted.get(i)?;
        let start = entries.len() as u32;
        while let Some((k, e)) = sorted.get(i) {
            if k != key {
                break;
            }
            entries.push(*e);
            i += 1;
        }
        Some((key.clone(), start..entries.len() as u32))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(lines: &str) -> Table {
        let mut s = stix::IntelSet::new();
        s.add_text("t.txt", lines.as_bytes()).unwrap();
        Table::compile(s.compile(0))
    }

    fn ids(t: &Table, it: impl Iterator<Item = Entry>) -> Vec<String> {
        it.map(|e| t.indicator(e.indicator).pattern.clone())
            .collect()
    }

    #[test]
    fn addresses_match_by_prefix_longest_first() {
        let t = table("198.51.100.0/24\n198.51.100.7\n2001:db8::/32\n0.0.0.0/0\n");
        let hit = |a: &str| ids(&t, t.lookup_addr(a.parse().unwrap()).copied());
        assert_eq!(
            hit("198.51.100.7"),
            [
                "[ipv4-addr:value = '198.51.100.7/32']",
                "[ipv4-addr:value = '198.51.100.0/24']",
                "[ipv4-addr:value = '0.0.0.0/0']"
            ]
        );
        assert_eq!(hit("198.51.101.7"), ["[ipv4-addr:value = '0.0.0.0/0']"]);
        assert_eq!(
            hit("2001:db8:1::5"),
            ["[ipv6-addr:value = '2001:db8::/32']"]
        );
        assert!(hit("2001:db9::5").is_empty());
        assert_eq!(t.stats().addresses, 4);
    }

    #[test]
    fn domains_cover_subdomains_and_values_match_exactly() {
        let t = table("evil.example\nhttp://x.example/a\n");
        let hit = |d: &str| ids(&t, t.lookup_domain(d.as_bytes()).copied()).len();
        assert_eq!(hit("evil.example"), 1);
        assert_eq!(hit("a.b.evil.example"), 1);
        assert_eq!(hit("notevil.example"), 0);
        assert_eq!(hit("example"), 0);
        assert_eq!(
            t.lookup_value(ValueKind::Url, b"http://x.example/a").len(),
            1
        );
        assert!(t
            .lookup_value(ValueKind::Url, b"http://x.example/b")
            .is_empty());
        assert!(t.memory() > 0);
    }
}
