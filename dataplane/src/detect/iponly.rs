//! IP-only rules (addresses and nothing else that depends on the packet) matched through an
//! elementary-interval index instead of a loop over rules.
//!
//! Each rule is indexed on one side: the address set covering fewer addresses (the narrower,
//! e.g. the external list of an intel rule rather than `$HOME_NET`), never on an `any` side,
//! so a packet's lookup finds few rules to confirm. The boundaries of every indexed
//! range cut the address line into elementary intervals; each interval lists the rules whose
//! indexed range covers it (CSR layout: `starts` + `offsets` + `rules`). A lookup is one binary
//! search per side and family; the other side of each hit is then checked with a binary search
//! over that rule's ranges. Rules whose both sides are `any` are kept in a plain list.

use rules::ir::IpSet;

/// Which side of the packet an index entry was built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Src,
    Dst,
}

/// A rule and the ranges of its indexed side.
type Entry = (u32, Vec<(u128, u128)>);

#[derive(Debug, Default)]
struct Index {
    /// Interval start points, ascending; interval `i` is `[starts[i], starts[i+1])`.
    starts: Vec<u128>,
    /// `rules[offsets[i]..offsets[i+1]]` cover interval `i`.
    offsets: Vec<u32>,
    rules: Vec<u32>,
}

impl Index {
    fn build(entries: &[Entry]) -> Index {
        let mut cuts: Vec<u128> = vec![0];
        for (_, rs) in entries {
            for &(lo, hi) in rs {
                cuts.push(lo);
                if let Some(n) = hi.checked_add(1) {
                    cuts.push(n);
                }
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        let n = cuts.len();
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (r, rs) in entries {
            for &(lo, hi) in rs {
                let a = cuts.partition_point(|&c| c < lo);
                let b = match hi.checked_add(1) {
                    Some(e) => cuts.partition_point(|&c| c < e),
                    None => n,
                };
                for l in &mut lists[a..b] {
                    l.push(*r);
                }
            }
        }
        let mut offsets = Vec::with_capacity(n + 1);
        let mut rules = Vec::new();
        offsets.push(0);
        for mut l in lists {
            l.sort_unstable();
            l.dedup();
            rules.extend(l);
            offsets.push(rules.len() as u32);
        }
        Index {
            starts: cuts,
            offsets,
            rules,
        }
    }

    fn lookup(&self, a: u128) -> &[u32] {
        if self.starts.is_empty() {
            return &[];
        }
        let i = self.starts.partition_point(|&s| s <= a).saturating_sub(1);
        let (s, e) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
        &self.rules[s..e]
    }
}

/// The IP-only rules of an engine.
#[derive(Debug, Default)]
pub struct IpOnly {
    v4: [Index; 2],
    v6: [Index; 2],
    /// Rules with `any` on both sides (checked for every packet).
    any: Vec<u32>,
    /// Every rule's sets, indexed by position in `rules`.
    sets: Vec<(u32, IpSet, IpSet, bool)>,
    /// Rule index → position in `sets`.
    pos: hashbrown::HashMap<u32, u32>,
}

fn contains(ranges: &[(u128, u128)], a: u128) -> bool {
    let i = ranges.partition_point(|&(lo, _)| lo <= a);
    i > 0 && ranges[i - 1].1 >= a
}

fn contains4(ranges: &[(u32, u32)], a: u32) -> bool {
    let i = ranges.partition_point(|&(lo, _)| lo <= a);
    i > 0 && ranges[i - 1].1 >= a
}

/// Addresses a set covers, IPv4 and IPv6 counts added (saturating); only used to compare the
/// two sides of one rule.
fn coverage(s: &IpSet) -> u128 {
    let v4: u128 = s.v4.iter().map(|&(lo, hi)| u128::from(hi - lo) + 1).sum();
    s.v6.iter().fold(v4, |acc, &(lo, hi)| {
        acc.saturating_add((hi - lo).saturating_add(1))
    })
}

fn in_set(s: &IpSet, a: u128, v4: bool) -> bool {
    if v4 {
        contains4(&s.v4, a as u32)
    } else {
        contains(&s.v6, a)
    }
}

impl IpOnly {
    /// Builds the index over `(rule, src, dst, bidirectional)`.
    pub fn build(rules: Vec<(u32, IpSet, IpSet, bool)>) -> IpOnly {
        let mut ent: [[Vec<Entry>; 2]; 2] = Default::default();
        let mut any = Vec::new();
        for (r, src, dst, _) in &rules {
            let (sa, da) = (src.is_any(), dst.is_any());
            if sa && da {
                any.push(*r);
                continue;
            }
            let side = if sa {
                Side::Dst
            } else if da || coverage(src) <= coverage(dst) {
                Side::Src
            } else {
                Side::Dst
            };
            let set = if side == Side::Src { src } else { dst };
            let si = side as usize;
            let v4: Vec<(u128, u128)> = set
                .v4
                .iter()
                .map(|&(a, b)| (u128::from(a), u128::from(b)))
                .collect();
            if !v4.is_empty() {
                ent[0][si].push((*r, v4));
            }
            if !set.v6.is_empty() {
                ent[1][si].push((*r, set.v6.clone()));
            }
        }
        let [e4, e6] = ent;
        let [s4, d4] = e4;
        let [s6, d6] = e6;
        let pos = rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.0, i as u32))
            .collect();
        any.sort_unstable();
        IpOnly {
            v4: [Index::build(&s4), Index::build(&d4)],
            v6: [Index::build(&s6), Index::build(&d6)],
            any,
            sets: rules,
            pos,
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// True when there are no IP-only rules.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    fn full_match(&self, r: u32, src: u128, dst: u128, v4: bool) -> bool {
        let Some(&p) = self.pos.get(&r) else {
            return false;
        };
        let (_, s, d, bidir) = &self.sets[p as usize];
        (in_set(s, src, v4) && in_set(d, dst, v4))
            || (*bidir && in_set(s, dst, v4) && in_set(d, src, v4))
    }

    /// Calls `f` for every rule (possibly more than once) whose addresses hold for the packet.
    pub fn matches(&self, src: u128, dst: u128, v4: bool, mut f: impl FnMut(u32)) {
        let idx = if v4 { &self.v4 } else { &self.v6 };
        for &r in &self.any {
            f(r);
        }
        // A rule indexed on its source side is found by the packet's source, or, when
        // bidirectional, by its destination; likewise for the destination side.
        for (side, addrs) in [(0usize, [src, dst]), (1usize, [dst, src])] {
            for (k, &a) in addrs.iter().enumerate() {
                for &r in idx[side].lookup(a) {
                    let bidir = self
                        .pos
                        .get(&r)
                        .and_then(|&p| self.sets.get(p as usize))
                        .is_some_and(|s| s.3);
                    if k == 1 && !bidir {
                        continue;
                    }
                    if self.full_match(r, src, dst, v4) {
                        f(r);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set4(r: &[(u32, u32)]) -> IpSet {
        IpSet {
            v4: r.to_vec(),
            v6: Vec::new(),
        }
    }

    #[test]
    fn index_agrees_with_linear_check() {
        let rules = vec![
            (0, set4(&[(10, 20)]), IpSet::any(), false),
            (1, IpSet::any(), set4(&[(15, 15), (100, 200)]), false),
            (2, set4(&[(0, 5)]), set4(&[(150, 160)]), true),
            (3, IpSet::any(), IpSet::any(), false),
        ];
        let ix = IpOnly::build(rules.clone());
        for src in 0..220u32 {
            for dst in (0..220u32).step_by(7) {
                let mut got = Vec::new();
                ix.matches(u128::from(src), u128::from(dst), true, |r| got.push(r));
                got.sort_unstable();
                got.dedup();
                let want: Vec<u32> = rules
                    .iter()
                    .filter(|(_, s, d, b)| {
                        (contains4(&s.v4, src) && contains4(&d.v4, dst))
                            || (*b && contains4(&s.v4, dst) && contains4(&d.v4, src))
                    })
                    .map(|r| r.0)
                    .collect();
                assert_eq!(got, want, "src {src} dst {dst}");
            }
        }
    }
}
