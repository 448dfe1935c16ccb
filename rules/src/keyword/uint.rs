//! One numeric-comparison parser for every integer keyword (`dsize`, `bsize`, `urilen`,
//! `ttl`, `itype`, ...), like Suricata's `uint.rs`.
//!
//! Forms: `N`, `=N`, `!N`, `!=N`, `<N`, `<=N`, `>N`, `>=N`, `A-B`, `A<>B`, `!A-B`
//! (ranges are exclusive: `A < x < B`).

use crate::ir::{CmpOp, NumCmp};

/// Parses a comparison whose operands must not exceed `max`.
pub fn parse_cmp(s: &str, max: u64) -> Result<NumCmp, String> {
    let t = s.trim();
    let num = |v: &str| -> Result<u64, String> {
        let v = v.trim();
        let n = if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
            u64::from_str_radix(h, 16)
        } else {
            v.parse::<u64>()
        }
        .map_err(|_| format!("invalid number `{v}`"))?;
        if n > max {
            return Err(format!("{n} exceeds the maximum {max}"));
        }
        Ok(n)
    };
    let (neg, body) = match t.strip_prefix('!') {
        Some(r) => (true, r.strip_prefix('=').unwrap_or(r).trim()),
        None => (false, t),
    };
    let range = |a: &str, b: &str| -> Result<NumCmp, String> {
        let (a, b) = (num(a)?, num(b)?);
        if a >= b {
            return Err(format!("empty range {a}-{b}"));
        }
        Ok(NumCmp {
            op: if neg { CmpOp::NotRange } else { CmpOp::Range },
            a,
            b,
        })
    };
    if let Some((a, b)) = body.split_once("<>") {
        return range(a, b);
    }
    if let Some((a, b)) = body.split_once('-').filter(|(a, _)| !a.trim().is_empty()) {
        return range(a, b);
    }
    let (op, rest) = if let Some(r) = body.strip_prefix("<=") {
        (CmpOp::Le, r)
    } else if let Some(r) = body.strip_prefix(">=") {
        (CmpOp::Ge, r)
    } else if let Some(r) = body.strip_prefix('<') {
        (CmpOp::Lt, r)
    } else if let Some(r) = body.strip_prefix('>') {
        (CmpOp::Gt, r)
    } else if let Some(r) = body.strip_prefix('=') {
        (CmpOp::Eq, r)
    } else {
        (CmpOp::Eq, body)
    };
    let a = num(rest)?;
    let op = match (neg, op) {
        (false, op) => op,
        (true, CmpOp::Eq) => CmpOp::Ne,
        (true, _) => return Err(format!("`!` cannot negate `{body}`")),
    };
    Ok(NumCmp { op, a, b: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let c = |s| parse_cmp(s, 65535).expect(s);
        assert_eq!(
            c("10"),
            NumCmp {
                op: CmpOp::Eq,
                a: 10,
                b: 0
            }
        );
        assert_eq!(c(" >= 3").op, CmpOp::Ge);
        assert_eq!(c("<3").op, CmpOp::Lt);
        assert_eq!(c("!5").op, CmpOp::Ne);
        assert_eq!(c("!=5").op, CmpOp::Ne);
        assert_eq!(
            c("1<>9"),
            NumCmp {
                op: CmpOp::Range,
                a: 1,
                b: 9
            }
        );
        assert_eq!(c("1-9").op, CmpOp::Range);
        assert_eq!(c("!1-9").op, CmpOp::NotRange);
        assert_eq!(c("0x10").a, 16);
        assert!(c("1<>9").matches(5) && !c("1<>9").matches(9));
        for bad in ["", "x", "9-1", "70000", "!<3", "-1"] {
            assert!(parse_cmp(bad, 65535).is_err(), "{bad}");
        }
    }
}
