//! Verification of one buffer's match list: `content` with its modifiers and relative
//! chaining, `pcre`, the byte keywords, `isdataat`, `bsize` and `base64_decode`.
//!
//! The walk follows Suricata's content inspection: matches run in rule order over a cursor
//! (the end of the previous match); when a later match that depends on the cursor fails, the
//! previous content or pcre is retried at its next occurrence. Every retry spends one unit of a
//! per-rule budget so hostile buffers cannot make the walk quadratic without bound.

use bumpalo::Bump;
use rules::ir::{ByteOpts, ByteTestOp, Content, Endian, Match, MathOp, NumBase, Pcre, Value};

/// Most `byte_extract`/`byte_math` variables one rule may hold.
pub const MAX_VARS: usize = 8;
/// Retries (content/pcre re-searches) one rule may spend on one buffer.
pub const BACKTRACK_BUDGET: u32 = 1024;

/// Rule-local variables of `byte_extract` and `byte_math`, without allocation.
#[derive(Debug, Clone, Copy)]
pub struct VarTab<'r> {
    names: [&'r str; MAX_VARS],
    vals: [i64; MAX_VARS],
    len: usize,
}

impl Default for VarTab<'_> {
    fn default() -> Self {
        VarTab {
            names: [""; MAX_VARS],
            vals: [0; MAX_VARS],
            len: 0,
        }
    }
}

impl<'r> VarTab<'r> {
    /// Value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<i64> {
        (0..self.len)
            .rev()
            .find(|&i| self.names[i] == name)
            .map(|i| self.vals[i])
    }

    /// Sets `name`; returns false when the table is full.
    pub fn set(&mut self, name: &'r str, v: i64) -> bool {
        if let Some(i) = (0..self.len).find(|&i| self.names[i] == name) {
            self.vals[i] = v;
            return true;
        }
        if self.len == MAX_VARS {
            return false;
        }
        self.names[self.len] = name;
        self.vals[self.len] = v;
        self.len += 1;
        true
    }

    fn value(&self, v: &Value) -> Option<i64> {
        match v {
            Value::Lit(n) => Some(*n),
            Value::Var(name) => self.get(name),
        }
    }
}

/// Why a walk stopped early; each becomes a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkLimit {
    /// The backtracking budget ran out.
    Backtrack,
    /// PCRE hit its match limit or failed.
    Pcre,
    /// More variables than [`MAX_VARS`].
    Vars,
}

/// The state of one rule's walk over its buffers.
pub struct Walk<'a, 'r> {
    /// Variables (shared by the rule's lists, in order).
    pub vars: VarTab<'r>,
    /// Remaining retries.
    pub budget: u32,
    /// First limit hit, if any.
    pub limit: Option<WalkLimit>,
    /// End of the last positive content/pcre match of the walk (for excerpts and stream
    /// de-duplication).
    pub last_end: usize,
    /// Start of that match.
    pub last_start: usize,
    /// Output of the latest `base64_decode`.
    pub b64: Option<&'a [u8]>,
    /// Arena for decoded data.
    pub arena: &'a Bump,
}

impl<'a, 'r> Walk<'a, 'r> {
    /// A fresh walk.
    pub fn new(arena: &'a Bump) -> Self {
        Walk {
            vars: VarTab::default(),
            budget: BACKTRACK_BUDGET,
            limit: None,
            last_end: 0,
            last_start: 0,
            b64: None,
            arena,
        }
    }

    fn hit(&mut self, l: WalkLimit) {
        self.limit.get_or_insert(l);
    }

    /// Runs `ms` over `buf`; true when every match holds.
    pub fn run(&mut self, ms: &'r [Match], buf: &[u8]) -> bool {
        self.step(ms, 0, buf, 0)
    }

    fn next_is_relative(ms: &[Match], i: usize) -> bool {
        match ms.get(i + 1) {
            Some(Match::Content(c)) => c.is_relative(),
            Some(Match::Pcre(p)) => p.relative,
            Some(Match::ByteTest { opts, .. })
            | Some(Match::ByteJump { opts, .. })
            | Some(Match::ByteExtract { opts, .. })
            | Some(Match::ByteMath { opts, .. }) => opts.relative,
            Some(Match::IsDataAt { relative, .. }) => *relative,
            Some(Match::Base64Decode { relative, .. }) => *relative,
            _ => false,
        }
    }

    fn step(&mut self, ms: &'r [Match], i: usize, buf: &[u8], cur: usize) -> bool {
        let Some(m) = ms.get(i) else { return true };
        match m {
            Match::Content(c) => self.content(ms, i, c, buf, cur),
            Match::Pcre(p) => self.pcre(ms, i, p, buf, cur),
            Match::ByteTest {
                opts,
                negated,
                op,
                value,
            } => {
                let Some((v, _)) = self.read(opts, buf, cur) else {
                    return false;
                };
                let Some(rhs) = self.vars.value(value) else {
                    return false;
                };
                let rhs = rhs as u64;
                let ok = match op {
                    ByteTestOp::Lt => v < rhs,
                    ByteTestOp::Gt => v > rhs,
                    ByteTestOp::Le => v <= rhs,
                    ByteTestOp::Ge => v >= rhs,
                    ByteTestOp::Eq => v == rhs,
                    ByteTestOp::And => v & rhs != 0,
                    ByteTestOp::Or => v | rhs != 0,
                };
                ok != *negated && self.step(ms, i + 1, buf, cur)
            }
            Match::ByteJump {
                opts,
                multiplier,
                align,
                from_beginning,
                from_end,
                post_offset,
            } => {
                let Some((v, after)) = self.read(opts, buf, cur) else {
                    return false;
                };
                let mut jump = (v as i128).saturating_mul(i128::from((*multiplier).max(1)));
                if *align && jump % 4 != 0 {
                    jump += 4 - jump % 4;
                }
                let base: i128 = if *from_beginning {
                    0
                } else if *from_end {
                    buf.len() as i128
                } else {
                    after as i128
                };
                let pos = base + jump + i128::from(*post_offset);
                // Suricata lets a jump land exactly at the end (nothing left), not beyond.
                if pos < 0 || pos > buf.len() as i128 {
                    return false;
                }
                self.step(ms, i + 1, buf, pos as usize)
            }
            Match::ByteExtract {
                opts,
                name,
                multiplier,
                align,
            } => {
                let Some((v, after)) = self.read(opts, buf, cur) else {
                    return false;
                };
                let mut v = (v as i64).saturating_mul(i64::from((*multiplier).max(1)));
                if *align > 1 {
                    let a = i64::from(*align);
                    if v % a != 0 {
                        v += a - v % a;
                    }
                }
                if !self.vars.set(name, v) {
                    self.hit(WalkLimit::Vars);
                    return false;
                }
                self.step(ms, i + 1, buf, after)
            }
            Match::ByteMath {
                opts,
                op,
                rvalue,
                result,
            } => {
                let Some((v, _)) = self.read(opts, buf, cur) else {
                    return false;
                };
                let Some(r) = self.vars.value(rvalue) else {
                    return false;
                };
                let v = v as i64;
                let out = match op {
                    MathOp::Add => v.checked_add(r),
                    MathOp::Sub => v.checked_sub(r),
                    MathOp::Mul => v.checked_mul(r),
                    MathOp::Div => v.checked_div(r),
                    MathOp::Shl => u32::try_from(r).ok().and_then(|s| v.checked_shl(s)),
                    MathOp::Shr => u32::try_from(r).ok().and_then(|s| v.checked_shr(s)),
                };
                let Some(out) = out else { return false };
                if !self.vars.set(result, out) {
                    self.hit(WalkLimit::Vars);
                    return false;
                }
                self.step(ms, i + 1, buf, cur)
            }
            Match::IsDataAt {
                negated,
                offset,
                relative,
            } => {
                let Some(off) = self.vars.value(offset) else {
                    return false;
                };
                // Suricata: absolute `offset < len`; relative `cursor + offset <= len`.
                let has = if *relative {
                    (cur as i64).saturating_add(off) <= buf.len() as i64
                } else {
                    off < buf.len() as i64
                };
                has != *negated && self.step(ms, i + 1, buf, cur)
            }
            Match::Bsize(cmp) => cmp.matches(buf.len() as u64) && self.step(ms, i + 1, buf, cur),
            Match::Base64Decode {
                bytes,
                offset,
                relative,
            } => {
                let start = if *relative { cur } else { 0 }.saturating_add(*offset as usize);
                let src = buf.get(start..).unwrap_or(&[]);
                let src = if *bytes > 0 {
                    &src[..src.len().min(*bytes as usize)]
                } else {
                    src
                };
                let out = base64_decode(src, self.arena);
                self.b64 = Some(out);
                // Suricata's base64_decode fails the rule when nothing decodes.
                !out.is_empty() && self.step(ms, i + 1, buf, cur)
            }
        }
    }

    fn spend(&mut self) -> bool {
        if self.budget == 0 {
            self.hit(WalkLimit::Backtrack);
            return false;
        }
        self.budget -= 1;
        true
    }

    /// A `pcre` option, then the options after it from the match's end (trying later matches
    /// while a relative option after it fails, within the backtracking budget).
    fn pcre(&mut self, ms: &'r [Match], i: usize, p: &Pcre, buf: &[u8], cur: usize) -> bool {
        let Some(re) = &p.regex else { return false };
        // Like Suricata, a relative pcre sees the buffer from the cursor on as its
        // subject, so `^` anchors at the cursor.
        let base = if p.relative { cur.min(buf.len()) } else { 0 };
        let subject = &buf[base..];
        let mut from = 0;
        loop {
            if from > subject.len() {
                return p.negated && self.step(ms, i + 1, buf, cur);
            }
            let found = match re.find_at(subject, from) {
                Ok(f) => f.map(|m| (base + m.start(), base + m.end())),
                Err(_) => {
                    self.hit(WalkLimit::Pcre);
                    return false;
                }
            };
            if p.negated {
                return found.is_none() && self.step(ms, i + 1, buf, cur);
            }
            let Some((s, e)) = found else { return false };
            let (ps, pe) = (self.last_start, self.last_end);
            self.last_start = s;
            self.last_end = e;
            if self.step(ms, i + 1, buf, e) {
                return true;
            }
            self.last_start = ps;
            self.last_end = pe;
            if !Self::next_is_relative(ms, i) || !self.spend() {
                return false;
            }
            from = s + 1 - base;
        }
    }

    fn content(&mut self, ms: &'r [Match], i: usize, c: &Content, buf: &[u8], cur: usize) -> bool {
        let Some((lo, hi)) = self.window(c, buf.len(), cur) else {
            return c.negated && self.step(ms, i + 1, buf, cur);
        };
        let plen = c.pattern.len();
        let mut from = lo;
        loop {
            let found = find(&buf[..hi], from, &c.pattern, c.nocase);
            let found = match found {
                Some(p) if c.endswith && p + plen != buf.len() => {
                    // Only the occurrence that ends the buffer counts.
                    let last = buf.len().checked_sub(plen);
                    match last {
                        Some(l)
                            if l >= from
                                && l + plen <= hi
                                && eq(&buf[l..], &c.pattern, c.nocase) =>
                        {
                            Some(l)
                        }
                        _ => None,
                    }
                }
                f => f,
            };
            if c.negated {
                return found.is_none() && self.step(ms, i + 1, buf, cur);
            }
            let Some(p) = found else { return false };
            let (ps, pe) = (self.last_start, self.last_end);
            self.last_start = p;
            self.last_end = p + plen;
            if self.step(ms, i + 1, buf, p + plen) {
                return true;
            }
            self.last_start = ps;
            self.last_end = pe;
            if !Self::next_is_relative(ms, i) || !self.spend() {
                return false;
            }
            from = p + 1;
        }
    }

    /// Search window `[lo, hi)` of a content; `None` when it is empty or unresolvable.
    fn window(&self, c: &Content, len: usize, cur: usize) -> Option<(usize, usize)> {
        let plen = c.pattern.len() as i64;
        let len_i = len as i64;
        let (mut lo, mut hi): (i64, i64);
        if c.startswith {
            lo = 0;
            hi = plen;
        } else if c.is_relative() {
            let dist = match &c.distance {
                Some(v) => self.vars.value(v)?,
                None => 0,
            };
            lo = cur as i64 + dist;
            hi = match &c.within {
                Some(v) => cur as i64 + dist + self.vars.value(v)?,
                None => len_i,
            };
            if let Some(d) = &c.depth {
                hi = hi.min(cur as i64 + self.vars.value(d)?);
            }
        } else {
            lo = match &c.offset {
                Some(v) => self.vars.value(v)?,
                None => 0,
            };
            hi = match &c.depth {
                Some(v) => lo + self.vars.value(v)?,
                None => len_i,
            };
        }
        lo = lo.max(0);
        hi = hi.min(len_i);
        (hi - lo >= plen && plen > 0).then_some((lo as usize, hi as usize))
    }

    /// Reads the value of a byte keyword; returns it with the position after the bytes read.
    fn read(&mut self, o: &ByteOpts, buf: &[u8], cur: usize) -> Option<(u64, usize)> {
        let off = self.vars.value(&o.offset)?;
        let base = if o.relative { cur as i64 } else { 0 };
        let start = usize::try_from(base.checked_add(off)?).ok()?;
        // Byte counts may come from a `byte_extract` variable; Suricata caps them at 10 (string)
        // or 8 (binary) bytes, and anything outside 1..=10 matches nothing.
        let n = usize::try_from(self.vars.value(&o.nbytes)?).ok()?;
        if !(1..=10).contains(&n) {
            return None;
        }
        let bytes = buf.get(start..start.checked_add(n)?)?;
        let mut v = read_value(bytes, o.endian, o.string)?;
        if let Some(mask) = o.bitmask {
            v &= mask;
            if mask != 0 {
                v >>= mask.trailing_zeros();
            }
        }
        Some((v, start + n))
    }
}

/// Decodes a byte keyword's bytes.
pub fn read_value(bytes: &[u8], endian: Endian, string: Option<NumBase>) -> Option<u64> {
    match string {
        Some(base) => {
            let radix = match base {
                NumBase::Dec => 10,
                NumBase::Hex => 16,
                NumBase::Oct => 8,
            };
            let mut v: u64 = 0;
            let mut any = false;
            for &b in bytes {
                let Some(d) = (b as char).to_digit(radix) else {
                    break;
                };
                v = v.checked_mul(u64::from(radix))?.checked_add(u64::from(d))?;
                any = true;
            }
            any.then_some(v)
        }
        None => {
            if bytes.len() > 8 {
                return None;
            }
            let mut v: u64 = 0;
            match endian {
                Endian::Little => {
                    for &b in bytes.iter().rev() {
                        v = (v << 8) | u64::from(b);
                    }
                }
                // DCE/RPC endianness comes from the DCE header, which this layer does not see;
                // Suricata also treats it as big-endian without the DCE state.
                Endian::Big | Endian::Dce => {
                    for &b in bytes {
                        v = (v << 8) | u64::from(b);
                    }
                }
            }
            Some(v)
        }
    }
}

fn eq(hay: &[u8], pat: &[u8], nocase: bool) -> bool {
    hay.len() >= pat.len()
        && if nocase {
            hay[..pat.len()].eq_ignore_ascii_case(pat)
        } else {
            &hay[..pat.len()] == pat
        }
}

/// First occurrence of `pat` in `hay` at or after `from`.
pub fn find(hay: &[u8], from: usize, pat: &[u8], nocase: bool) -> Option<usize> {
    if pat.is_empty() || from >= hay.len() || hay.len() - from < pat.len() {
        return None;
    }
    let h = &hay[from..];
    if !nocase {
        return memchr::memmem::find(h, pat).map(|p| p + from);
    }
    let first = pat[0];
    let (a, b) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let last_start = h.len() - pat.len();
    let mut i = 0;
    while i <= last_start {
        let p = memchr::memchr2(a, b, &h[i..=last_start])?;
        let at = i + p;
        if h[at..at + pat.len()].eq_ignore_ascii_case(pat) {
            return Some(at + from);
        }
        i = at + 1;
    }
    None
}

/// RFC 4648 base64 decoding, lenient like Suricata's (stops at the first invalid byte),
/// into the arena.
pub fn base64_decode<'a>(src: &[u8], arena: &'a Bump) -> &'a [u8] {
    fn val(b: u8) -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => u32::from(b - b'A'),
            b'a'..=b'z' => u32::from(b - b'a') + 26,
            b'0'..=b'9' => u32::from(b - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    }
    let out = arena.alloc_slice_fill_copy(src.len() / 4 * 3 + 3, 0u8);
    let (mut acc, mut bits, mut n) = (0u32, 0u32, 0usize);
    for &b in src {
        if b == b'=' {
            break;
        }
        if b == b'\r' || b == b'\n' || b == b' ' {
            continue;
        }
        let Some(v) = val(b) else { break };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if n < out.len() {
                out[n] = (acc >> bits) as u8;
                n += 1;
            }
            acc &= (1 << bits) - 1;
        }
    }
    &out[..n]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::ir::{CmpOp, NumCmp};

    fn c(p: &str) -> Content {
        Content {
            pattern: p.as_bytes().to_vec(),
            negated: false,
            nocase: false,
            offset: None,
            depth: None,
            distance: None,
            within: None,
            startswith: false,
            endswith: false,
            fast_pattern: None,
            rawbytes: false,
        }
    }

    fn run(ms: &[Match], buf: &[u8]) -> bool {
        let bump = Bump::new();
        Walk::new(&bump).run(ms, buf)
    }

    fn lit(n: i64) -> Option<Value> {
        Some(Value::Lit(n))
    }

    #[test]
    fn content_modifiers() {
        let mut a = c("abc");
        assert!(run(&[Match::Content(a.clone())], b"xxabcxx"));
        a.offset = lit(3);
        assert!(!run(&[Match::Content(a.clone())], b"xxabcxx"));
        a.offset = lit(2);
        a.depth = lit(3);
        assert!(run(&[Match::Content(a.clone())], b"xxabcxx"));
        a.depth = lit(2);
        assert!(!run(&[Match::Content(a.clone())], b"xxabcxx"));
        let mut n = c("ABC");
        n.nocase = true;
        assert!(run(&[Match::Content(n.clone())], b"xxaBcxx"));
        n.negated = true;
        assert!(!run(&[Match::Content(n.clone())], b"xxaBcxx"));
        assert!(run(&[Match::Content(n)], b"xxaBxx"));
        let mut s = c("ab");
        s.startswith = true;
        assert!(run(&[Match::Content(s.clone())], b"abc"));
        assert!(!run(&[Match::Content(s)], b"cab"));
        let mut e = c("ab");
        e.endswith = true;
        assert!(run(&[Match::Content(e.clone())], b"ab ab"));
        assert!(!run(&[Match::Content(e)], b"ab abc"));
    }

    #[test]
    fn relative_backtracks_to_next_occurrence() {
        // The first "a" is followed by "x" too far away; the second is right.
        let a = c("a");
        let mut b = c("x");
        b.distance = lit(0);
        b.within = lit(1);
        let ms = [Match::Content(a.clone()), Match::Content(b.clone())];
        assert!(run(&ms, b"a...ax"));
        assert!(!run(&ms, b"a...a.x"));
        // distance can be negative: "x" may start one byte before the end of "ab".
        let ab = c("ab");
        let mut bx = c("bx");
        bx.distance = lit(-1);
        bx.within = lit(2);
        assert!(run(&[Match::Content(ab), Match::Content(bx)], b"..abx"));
    }

    #[test]
    fn relative_pcre_anchors_at_the_cursor() {
        // ET's "*.top domain": `.top` then `^(:port)?$` right after it; the first `.top` is
        // inside the name, the second ends it.
        let (p, _) = rules::keyword::payload::pcre(r#""/^(\x3a\d{1,5})?$/R""#, true).expect("pcre");
        let ms = [Match::Content(c(".top")), Match::Pcre(p.clone())];
        assert!(run(&ms, b"xktzjm.topcentc.top"));
        assert!(run(&ms, b"a.top:8080"));
        assert!(!run(&ms, b"a.topx"));
        // Not relative: `^` is the buffer start.
        let (q, _) = rules::keyword::payload::pcre(r#""/^a/""#, true).expect("pcre");
        assert!(run(&[Match::Content(c("b")), Match::Pcre(q)], b"ab"));
    }

    #[test]
    fn byte_keywords_and_isdataat() {
        let opts = |n: i64, off, rel| ByteOpts {
            nbytes: Value::Lit(n),
            offset: Value::Lit(off),
            relative: rel,
            endian: Endian::Big,
            string: None,
            bitmask: None,
        };
        let buf = [0u8, 4, b'h', b'e', b'l', b'l', b'o', b'!'];
        // byte_jump over a 2-byte length, then "o!" right after the jumped region.
        let mut o = c("o!");
        o.distance = lit(2);
        o.within = lit(2);
        let ms = [
            Match::ByteJump {
                opts: opts(2, 0, false),
                multiplier: 1,
                align: false,
                from_beginning: false,
                from_end: false,
                post_offset: 0,
            },
            Match::Content(o),
        ];
        // cursor after jump = 2 + 4 = 6; "o!" at 6..8 with distance 2 would start at 8: fails.
        assert!(!run(&ms, &buf));
        let ms2 = [
            Match::ByteExtract {
                opts: opts(2, 0, false),
                name: "len".into(),
                multiplier: 1,
                align: 0,
            },
            Match::ByteTest {
                opts: opts(1, 2, false),
                negated: false,
                op: ByteTestOp::Eq,
                value: Value::Lit(i64::from(b'h')),
            },
            Match::IsDataAt {
                negated: false,
                offset: Value::Var("len".into()),
                relative: true,
            },
        ];
        // After extracting 2 bytes the cursor is 2; 2 + 4 <= 8.
        assert!(run(&ms2, &buf));
        assert!(!run(&ms2, &buf[..5]));
        let s = read_value(b"0x1f", Endian::Big, Some(NumBase::Dec));
        assert_eq!(s, Some(0));
        assert_eq!(read_value(b"1f", Endian::Big, Some(NumBase::Hex)), Some(31));
        assert_eq!(read_value(&[1, 2], Endian::Little, None), Some(0x0201));
        let bs = Match::Bsize(NumCmp {
            op: CmpOp::Gt,
            a: 3,
            b: 0,
        });
        assert!(run(std::slice::from_ref(&bs), b"abcd"));
        assert!(!run(&[bs], b"abc"));
    }

    #[test]
    fn base64() {
        let bump = Bump::new();
        assert_eq!(base64_decode(b"aGVsbG8=", &bump), b"hello");
        assert_eq!(base64_decode(b"aGVs\r\nbG8", &bump), b"hello");
        assert_eq!(base64_decode(b"!!", &bump), b"");
    }

    #[test]
    fn nocase_find() {
        assert_eq!(find(b"xxHeLLo", 0, b"hello", true), Some(2));
        assert_eq!(find(b"xxHeLLo", 3, b"hello", true), None);
        assert_eq!(find(b"hel", 0, b"hello", true), None);
    }
}

/// Property checks shared with the fuzz target: the walk agrees with a naive search for single
/// contents and never panics (nor exceeds its budget) on arbitrary match lists.
#[doc(hidden)]
pub mod props {
    use super::*;

    /// Naive reference: `pat` occurs in `buf` starting within `[lo, hi - len]`.
    pub fn naive(buf: &[u8], pat: &[u8], nocase: bool, lo: usize, hi: usize) -> bool {
        let hi = hi.min(buf.len());
        if pat.is_empty() || lo > hi || hi - lo < pat.len() {
            return false;
        }
        (lo..=hi - pat.len()).any(|p| eq(&buf[p..], pat, nocase))
    }

    /// Builds a match list from fuzz bytes: contents (some relative), byte keywords, isdataat.
    pub fn matches_from(bytes: &[u8]) -> Vec<Match> {
        let mut out = Vec::new();
        for ch in bytes.chunks(4).take(8) {
            let k = ch[0] % 5;
            let a = i64::from(*ch.get(1).unwrap_or(&0) % 16);
            let b = i64::from(*ch.get(2).unwrap_or(&1) % 16);
            let pat = vec![*ch.get(3).unwrap_or(&b'a') % 4 + b'a'; (a as usize % 3) + 1];
            let opts = ByteOpts {
                nbytes: Value::Lit((a % 4) + 1),
                offset: Value::Lit(b - 4),
                relative: a % 2 == 0,
                endian: if b % 2 == 0 {
                    Endian::Big
                } else {
                    Endian::Little
                },
                string: None,
                bitmask: None,
            };
            out.push(match k {
                0 => Match::Content(Content {
                    pattern: pat,
                    negated: b == 3,
                    nocase: b % 3 == 0,
                    offset: None,
                    depth: None,
                    distance: (a % 2 == 1).then_some(Value::Lit(b - 8)),
                    within: (a % 4 == 1).then_some(Value::Lit(a + 2)),
                    startswith: false,
                    endswith: b == 5,
                    fast_pattern: None,
                    rawbytes: false,
                }),
                1 => Match::ByteJump {
                    opts,
                    multiplier: 1,
                    align: b % 2 == 0,
                    from_beginning: b == 1,
                    from_end: b == 2,
                    post_offset: (a - 8) as i32,
                },
                2 => Match::ByteTest {
                    opts,
                    negated: b % 2 == 0,
                    op: ByteTestOp::Gt,
                    value: Value::Lit(a),
                },
                3 => Match::IsDataAt {
                    negated: b % 2 == 0,
                    offset: Value::Lit(a),
                    relative: b % 3 == 0,
                },
                _ => Match::ByteExtract {
                    opts,
                    name: "v".into(),
                    multiplier: 1,
                    align: 0,
                },
            });
        }
        out
    }

    /// Runs the invariants; panics (assert) on a violation.
    pub fn check(bytes: &[u8], buf: &[u8]) {
        let bump = Bump::new();
        let ms = matches_from(bytes);
        let mut w = Walk::new(&bump);
        let ok = w.run(&ms, buf);
        assert!(w.budget <= BACKTRACK_BUDGET);
        if ok {
            assert!(w.last_start <= w.last_end && w.last_end <= buf.len());
        }
        // Single absolute content with offset/depth agrees with the naive search.
        if let (Some(&o), Some(&d), Some(&p)) = (bytes.first(), bytes.get(1), bytes.get(2)) {
            let pat = vec![p % 3 + b'a'; usize::from(d % 3) + 1];
            let (off, dep) = (usize::from(o % 20), usize::from(d % 20));
            let c = Content {
                pattern: pat.clone(),
                negated: false,
                nocase: o % 2 == 0,
                offset: Some(Value::Lit(off as i64)),
                depth: Some(Value::Lit(dep as i64)),
                distance: None,
                within: None,
                startswith: false,
                endswith: false,
                fast_pattern: None,
                rawbytes: false,
            };
            let got = Walk::new(&bump).run(std::slice::from_ref(&Match::Content(c)), buf);
            assert_eq!(got, naive(buf, &pat, o % 2 == 0, off, off + dep));
        }
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn walk_invariants(rule in proptest::collection::vec(any::<u8>(), 0..32),
                           buf in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'A'), any::<u8>()], 0..64)) {
            super::props::check(&rule, &buf);
        }
    }
}
