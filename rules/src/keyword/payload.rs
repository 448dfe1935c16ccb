//! Payload keywords: `content` and its modifiers, `pcre`, the byte keywords, `isdataat`,
//! `base64_decode`.

use super::{split_args, KwResult};
use crate::ir::{
    Buffer, ByteOpts, ByteTestOp, Content, Endian, Match, MathOp, NumBase, Pcre, Value,
};
use std::sync::Arc;

/// Longest content accepted (Suricata's limit is 65535 too).
pub const MAX_CONTENT: usize = u16::MAX as usize;

/// Decodes a `content` value: optional `!`, quotes, `|hex|` runs and `\` escapes.
pub fn content(v: &str) -> KwResult<Content> {
    let (negated, v) = negation(v);
    let inner = v
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| v.len() >= 2)
        .ok_or_else(|| format!("content `{v}` must be quoted"))?;
    let pattern = decode_content(inner)?;
    Ok(plain_content(pattern, negated))
}

/// A leading `!` (negation) and the trimmed rest.
fn negation(v: &str) -> (bool, &str) {
    let v = v.trim();
    match v.strip_prefix('!') {
        Some(r) => (true, r.trim_start()),
        None => (false, v),
    }
}

/// A content without modifiers.
fn plain_content(pattern: Vec<u8>, negated: bool) -> Content {
    Content {
        pattern,
        negated,
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

/// The value of a legacy TLS keyword (`tls.subject:"CN=host"`, `tls.issuerdn`,
/// `tls.fingerprint`): an optionally negated, optionally quoted string matched as a
/// substring of its certificate field, as Suricata does. The text is taken literally (no
/// `|hex|` escapes).
pub fn legacy_string(v: &str) -> KwResult<Content> {
    let (negated, v) = negation(v);
    let inner = match v.strip_prefix('"') {
        Some(r) => r
            .strip_suffix('"')
            .ok_or_else(|| format!("unterminated quote in `{v}`"))?,
        None => v,
    };
    if inner.is_empty() {
        return Err("the value is empty".into());
    }
    Ok(plain_content(inner.as_bytes().to_vec(), negated))
}

/// Decodes the text between the quotes of a content.
pub fn decode_content(s: &str) -> KwResult<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut hex = false;
    let mut nib: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        if hex {
            match c {
                b'|' => {
                    if nib.is_some() {
                        return Err("odd number of hex digits in content".into());
                    }
                    hex = false;
                }
                b' ' | b'\t' => {
                    if nib.is_some() {
                        return Err("space inside a hex byte in content".into());
                    }
                }
                c if c.is_ascii_hexdigit() => {
                    let d = (c as char).to_digit(16).unwrap_or(0) as u8;
                    match nib.take() {
                        Some(h) => out.push(h << 4 | d),
                        None => nib = Some(d),
                    }
                }
                c => return Err(format!("invalid hex character `{}` in content", c as char)),
            }
        } else {
            match c {
                b'|' => hex = true,
                b'\\' => {
                    i += 1;
                    match b.get(i) {
                        Some(&e @ (b'"' | b';' | b'\\' | b':' | b'|')) => out.push(e),
                        Some(&e) => {
                            return Err(format!("invalid escape `\\{}` in content", e as char))
                        }
                        None => return Err("content ends with a lone `\\`".into()),
                    }
                }
                b'"' => return Err("unescaped `\"` in content".into()),
                c => out.push(c),
            }
        }
        i += 1;
    }
    if hex {
        return Err("unterminated `|` hex run in content".into());
    }
    if out.is_empty() {
        return Err("empty content".into());
    }
    if out.len() > MAX_CONTENT {
        return Err(format!("content longer than {MAX_CONTENT} bytes"));
    }
    Ok(out)
}

/// A number or a variable defined earlier in the rule.
pub fn value(v: &str, vars: &[String]) -> KwResult<Value> {
    let v = v.trim();
    if let Ok(n) = parse_i64(v) {
        return Ok(Value::Lit(n));
    }
    if vars.iter().any(|x| x == v) {
        return Ok(Value::Var(v.to_string()));
    }
    Err(format!(
        "`{v}` is neither a number nor a byte_extract/byte_math variable"
    ))
}

fn parse_i64(v: &str) -> Result<i64, ()> {
    let (neg, body) = match v.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    let n = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).map_err(|_| ())?
    } else {
        body.parse::<i64>().map_err(|_| ())?
    };
    Ok(if neg { -n } else { n })
}

fn num<T: TryFrom<i64>>(v: &str, what: &str) -> KwResult<T> {
    parse_i64(v.trim())
        .ok()
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("invalid {what} `{}`", v.trim()))
}

/// A PCRE buffer flag's buffer.
fn pcre_flag_buffer(f: char) -> Option<Buffer> {
    Some(match f {
        'U' => Buffer::HttpUri,
        'I' => Buffer::HttpUriRaw,
        'P' => Buffer::HttpRequestBody,
        'Q' => Buffer::HttpResponseBody,
        'H' => Buffer::HttpHeader,
        'D' => Buffer::HttpHeaderRaw,
        'M' => Buffer::HttpMethod,
        'C' => Buffer::HttpCookie,
        'S' => Buffer::HttpStatCode,
        'Y' => Buffer::HttpStatMsg,
        'V' => Buffer::HttpUserAgent,
        'W' => Buffer::HttpHost,
        'Z' => Buffer::HttpHostRaw,
        _ => return None,
    })
}

/// Longest regex source accepted.
pub const MAX_PCRE: usize = 8 * 1024;

/// Start-of-pattern limits applied to every rule PCRE (Suricata's `match-limit` 3500 and
/// `match-limit-recursion` 1500).
pub const PCRE_LIMITS: &str = "(*LIMIT_MATCH=3500)(*LIMIT_DEPTH=1500)";

/// Parses and compiles a `pcre` value. Returns the match and the buffer its flags select.
pub fn pcre(v: &str, jit: bool) -> KwResult<(Pcre, Option<Buffer>)> {
    let (negated, v) = negation(v);
    let v = v
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| v.len() >= 2)
        .unwrap_or(v);
    let body = v
        .strip_prefix('/')
        .ok_or_else(|| "pcre must start with `/`".to_string())?;
    let end = body
        .rfind('/')
        .ok_or_else(|| "pcre has no closing `/`".to_string())?;
    let (pattern, after) = (&body[..end], &body[end + 1..]);
    // `/re/flags, pkt:name, flow:name, alert:name`: named captures stored into variables.
    let (flags, captures) = match after.split_once(',') {
        Some((f, c)) => (f.trim(), c),
        None => (after.trim(), ""),
    };
    let captures: Vec<String> = captures
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| match c.split_once(':') {
            Some((scope, name))
                if matches!(scope.trim(), "pkt" | "flow" | "alert") && !name.trim().is_empty() =>
            {
                Ok(format!("{}:{}", scope.trim(), name.trim()))
            }
            _ => Err(format!("invalid pcre capture target `{c}`")),
        })
        .collect::<KwResult<_>>()?;
    if pattern.len() > MAX_PCRE {
        return Err(format!("pcre longer than {MAX_PCRE} bytes"));
    }
    let mut b = pcre2::bytes::RegexBuilder::new();
    b.jit_if_available(jit);
    let mut relative = false;
    let mut buffer = None;
    let mut prefix = String::new();
    let mut anchored = false;
    for f in flags.chars() {
        match f {
            'i' => {
                b.caseless(true);
            }
            's' => {
                b.dotall(true);
            }
            'm' => {
                b.multi_line(true);
            }
            'x' => {
                b.extended(true);
            }
            'A' => anchored = true,
            'G' => prefix.push_str("(?U)"),
            'R' => relative = true,
            'B' | 'O' => {}
            f => match pcre_flag_buffer(f) {
                Some(buf) => {
                    if buffer.is_some_and(|x| x != buf) {
                        return Err("pcre has two buffer flags".into());
                    }
                    buffer = Some(buf);
                }
                None => return Err(format!("unsupported pcre flag `{f}`")),
            },
        }
    }
    // Options the builder has no setter for are expressed in the pattern itself. Match and
    // depth limits bound the cost of hostile input on backtracking patterns (Suricata's
    // defaults); the `O` flag lifts them as in Suricata.
    if !flags.contains('O') {
        prefix.insert_str(0, PCRE_LIMITS);
    }
    let full = if anchored {
        format!("{prefix}\\A(?:{pattern})")
    } else {
        format!("{prefix}{pattern}")
    };
    let regex = b
        .build(&full)
        .map_err(|e| format!("pcre does not compile: {e}"))?;
    Ok((
        Pcre {
            pattern: pattern.to_string(),
            flags: flags.to_string(),
            negated,
            relative,
            captures,
            // Validation only needs to know it compiles.
            regex: jit.then(|| Arc::new(regex)),
        },
        buffer,
    ))
}

/// Flags common to byte keywords; returns the unconsumed words.
struct ByteFlags {
    relative: bool,
    endian: Endian,
    string: Option<NumBase>,
    bitmask: Option<u64>,
    string_seen: bool,
}

fn byte_flags<'a>(
    args: &[&'a str],
    extra: &mut dyn FnMut(&'a str) -> KwResult<bool>,
) -> KwResult<ByteFlags> {
    let mut f = ByteFlags {
        relative: false,
        endian: Endian::Big,
        string: None,
        bitmask: None,
        string_seen: false,
    };
    for &a in args {
        let mut words = a.split_whitespace();
        let w = words.next().unwrap_or("");
        match w {
            "relative" => f.relative = true,
            "big" => f.endian = Endian::Big,
            "little" => f.endian = Endian::Little,
            "dce" => f.endian = Endian::Dce,
            "string" => f.string_seen = true,
            "hex" => f.string = Some(NumBase::Hex),
            "dec" => f.string = Some(NumBase::Dec),
            "oct" => f.string = Some(NumBase::Oct),
            "bitmask" => {
                let m = words.next().ok_or("bitmask needs a value")?;
                let m = parse_i64(m)
                    .ok()
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| format!("invalid bitmask `{m}`"))?;
                if m == 0 {
                    return Err("bitmask 0 never matches".into());
                }
                f.bitmask = Some(m);
            }
            _ => {
                if !extra(a)? {
                    return Err(format!("unknown byte keyword option `{a}`"));
                }
            }
        }
    }
    if f.string_seen && f.string.is_none() {
        f.string = Some(NumBase::Dec);
    }
    if !f.string_seen && f.string.is_some() {
        return Err("hex/dec/oct need `string`".into());
    }
    Ok(f)
}

fn nbytes(v: &str, string: bool) -> KwResult<Value> {
    let n: u8 = num(v, "byte count")?;
    let max = if string { 23 } else { 8 };
    // `0` with `string` reads the whole (short) buffer, e.g. `http.content_len`.
    if (n == 0 && !string) || n > max {
        return Err(format!("byte count {n} out of range 1-{max}"));
    }
    Ok(Value::Lit(i64::from(n)))
}

/// `byte_test:bytes,[!]op,value,offset[,flags]`.
pub fn byte_test(v: &str, vars: &[String]) -> KwResult<Match> {
    let a = split_args(v);
    if a.len() < 4 {
        return Err("byte_test needs bytes, operator, value, offset".into());
    }
    let f = byte_flags(&a[4..], &mut |_| Ok(false))?;
    let op_s = a[1].trim();
    let (negated, op_s) = match op_s.strip_prefix('!') {
        Some(r) => (true, r.trim()),
        None => (false, op_s),
    };
    let op = match op_s {
        "<" => ByteTestOp::Lt,
        ">" => ByteTestOp::Gt,
        "<=" => ByteTestOp::Le,
        ">=" => ByteTestOp::Ge,
        "=" => ByteTestOp::Eq,
        // Bare `!` is "not equal".
        "" if negated => ByteTestOp::Eq,
        "&" => ByteTestOp::And,
        "^" => ByteTestOp::Or,
        o => return Err(format!("invalid byte_test operator `{o}`")),
    };
    Ok(Match::ByteTest {
        opts: ByteOpts {
            // byte_test may take its byte count from a variable.
            nbytes: match nbytes(a[0], f.string.is_some()) {
                Ok(n) => n,
                Err(e) => match value(a[0], vars) {
                    Ok(v @ Value::Var(_)) => v,
                    _ => return Err(e),
                },
            },
            offset: value(a[3], vars)?,
            relative: f.relative,
            endian: f.endian,
            string: f.string,
            bitmask: f.bitmask,
        },
        negated,
        op,
        value: value(a[2], vars)?,
    })
}

/// `byte_jump:bytes,offset[,flags]`.
pub fn byte_jump(v: &str, vars: &[String]) -> KwResult<Match> {
    let a = split_args(v);
    if a.len() < 2 {
        return Err("byte_jump needs bytes, offset".into());
    }
    let (mut multiplier, mut align, mut fb, mut fe, mut post) = (1u32, false, false, false, 0i32);
    let f = byte_flags(&a[2..], &mut |w| {
        let mut it = w.split_whitespace();
        match it.next().unwrap_or("") {
            "multiplier" => multiplier = num(it.next().unwrap_or(""), "multiplier")?,
            "align" => align = true,
            "from_beginning" => fb = true,
            "from_end" => fe = true,
            "post_offset" => post = num(it.next().unwrap_or(""), "post_offset")?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if fb && fe {
        return Err("from_beginning and from_end exclude each other".into());
    }
    if multiplier == 0 {
        return Err("multiplier 0".into());
    }
    Ok(Match::ByteJump {
        opts: ByteOpts {
            nbytes: nbytes(a[0], f.string.is_some())?,
            offset: value(a[1], vars)?,
            relative: f.relative,
            endian: f.endian,
            string: f.string,
            bitmask: f.bitmask,
        },
        multiplier,
        align,
        from_beginning: fb,
        from_end: fe,
        post_offset: post,
    })
}

/// `byte_extract:bytes,offset,name[,flags]`; returns the match (the caller records the name).
pub fn byte_extract(v: &str, vars: &[String]) -> KwResult<Match> {
    let a = split_args(v);
    if a.len() < 3 {
        return Err("byte_extract needs bytes, offset, name".into());
    }
    let (mut multiplier, mut align) = (1u32, 0u8);
    let f = byte_flags(&a[3..], &mut |w| {
        let mut it = w.split_whitespace();
        match it.next().unwrap_or("") {
            "multiplier" => multiplier = num(it.next().unwrap_or(""), "multiplier")?,
            "align" => {
                align = num(it.next().unwrap_or(""), "align")?;
                if align != 2 && align != 4 {
                    return Err("align must be 2 or 4".into());
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let name = var_name(a[2])?;
    Ok(Match::ByteExtract {
        opts: ByteOpts {
            nbytes: nbytes(a[0], f.string.is_some())?,
            offset: value(a[1], vars)?,
            relative: f.relative,
            endian: f.endian,
            string: f.string,
            bitmask: f.bitmask,
        },
        name,
        multiplier,
        align,
    })
}

fn var_name(s: &str) -> KwResult<String> {
    let s = s.trim();
    if s.is_empty()
        || s.as_bytes()[0].is_ascii_digit()
        || !s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
    {
        return Err(format!("invalid variable name `{s}`"));
    }
    Ok(s.to_string())
}

/// `byte_math:bytes N, offset N, oper OP, rvalue V, result NAME[, flags]`.
pub fn byte_math(v: &str, vars: &[String]) -> KwResult<Match> {
    let (mut nb, mut off, mut op, mut rv, mut res) = (None, None, None, None, None);
    let mut rest = Vec::new();
    for a in split_args(v) {
        let mut it = a.splitn(2, char::is_whitespace);
        let (k, val) = (it.next().unwrap_or(""), it.next().unwrap_or("").trim());
        match k {
            "bytes" => nb = Some(val),
            "offset" => off = Some(val),
            "oper" => {
                op = Some(match val {
                    "+" => MathOp::Add,
                    "-" => MathOp::Sub,
                    "*" => MathOp::Mul,
                    "/" => MathOp::Div,
                    "<<" => MathOp::Shl,
                    ">>" => MathOp::Shr,
                    o => return Err(format!("invalid byte_math oper `{o}`")),
                })
            }
            "rvalue" => rv = Some(val),
            "result" => res = Some(val),
            "endian" => rest.push(val),
            "string" => rest.push(match val {
                "hex" => "string hex",
                "dec" => "string dec",
                "oct" => "string oct",
                _ => return Err(format!("invalid byte_math string `{val}`")),
            }),
            _ => rest.push(a),
        }
    }
    let mut expanded: Vec<&str> = Vec::new();
    for r in rest {
        expanded.extend(r.split_whitespace().filter(|w| *w != "string"));
        if r.starts_with("string") {
            expanded.push("string");
        }
    }
    let f = byte_flags(&expanded, &mut |_| Ok(false))?;
    fn need<'a>(o: Option<&'a str>, k: &str) -> KwResult<&'a str> {
        o.ok_or_else(|| format!("byte_math needs `{k}`"))
    }
    let rvalue = value(need(rv, "rvalue")?, vars)?;
    if rvalue == Value::Lit(0) && op == Some(MathOp::Div) {
        return Err("byte_math divides by zero".into());
    }
    let nbv = need(nb, "bytes")?;
    let nbytes_v: u8 = num(nbv, "byte count")?;
    if nbytes_v == 0 || nbytes_v > if f.string.is_some() { 10 } else { 4 } {
        return Err(format!("byte_math bytes {nbytes_v} out of range"));
    }
    Ok(Match::ByteMath {
        opts: ByteOpts {
            nbytes: Value::Lit(i64::from(nbytes_v)),
            offset: value(need(off, "offset")?, vars)?,
            relative: f.relative,
            endian: f.endian,
            string: f.string,
            bitmask: f.bitmask,
        },
        op: op.ok_or("byte_math needs `oper`")?,
        rvalue,
        result: var_name(need(res, "result")?)?,
    })
}

/// `isdataat:[!]N[,relative][,rawbytes]`.
pub fn isdataat(v: &str, vars: &[String]) -> KwResult<Match> {
    let a = split_args(v);
    let first = a.first().copied().unwrap_or("").trim();
    let (negated, n) = match first.strip_prefix('!') {
        Some(r) => (true, r),
        None => (false, first),
    };
    let mut relative = false;
    for f in &a[1..] {
        match f.trim() {
            "relative" => relative = true,
            "rawbytes" => {}
            o => return Err(format!("unknown isdataat option `{o}`")),
        }
    }
    let offset = value(n, vars)?;
    if let Value::Lit(x) = offset {
        if x < 0 {
            return Err("isdataat offset is negative".into());
        }
    }
    Ok(Match::IsDataAt {
        negated,
        offset,
        relative,
    })
}

/// `base64_decode[:bytes N, offset N, relative]`.
pub fn base64_decode(v: Option<&str>) -> KwResult<Match> {
    let (mut bytes, mut offset, mut relative) = (0u32, 0u32, false);
    if let Some(v) = v {
        for a in split_args(v) {
            let mut it = a.split_whitespace();
            match it.next().unwrap_or("") {
                "bytes" => bytes = num(it.next().unwrap_or(""), "bytes")?,
                "offset" => offset = num(it.next().unwrap_or(""), "offset")?,
                "relative" => relative = true,
                o => return Err(format!("unknown base64_decode option `{o}`")),
            }
        }
    }
    Ok(Match::Base64Decode {
        bytes,
        offset,
        relative,
    })
}

/// Numeric content modifier (`offset`, `depth`, `distance`, `within`).
pub fn modifier_value(v: &str, vars: &[String], signed: bool) -> KwResult<Value> {
    let val = value(v, vars)?;
    if let Value::Lit(n) = val {
        if !signed && n < 0 {
            return Err(format!("negative value `{n}`"));
        }
        if n.unsigned_abs() > u64::from(u32::MAX) {
            return Err(format!("value `{n}` out of range"));
        }
    }
    Ok(val)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_decoding() {
        assert_eq!(decode_content("a|00 ff|b").expect("ok"), b"a\x00\xffb");
        assert_eq!(decode_content(r#"x\;y\"z\\"#).expect("ok"), b"x;y\"z\\");
        assert_eq!(decode_content("|4142|").expect("ok"), b"AB");
        for bad in ["", "|0|", "|zz|", "|00", r"\q", "a\"b", "|0 0|"] {
            assert!(decode_content(bad).is_err(), "{bad}");
        }
        let c = content("!\"abc\"").expect("ok");
        assert!(c.negated);
        assert!(content("abc").is_err());
    }

    #[test]
    fn validation_only_checks_the_expression_and_keeps_no_code() {
        for v in [
            r#""/^GET\s+\/a/Ui""#,
            r#""/ab/A""#,
            r#""/(/""#,
            r#""/x/E""#,
            r#""/(a{60000}){60000}/""#,
        ] {
            let (run, check) = (pcre(v, true), pcre(v, false));
            assert_eq!(run.is_ok(), check.is_ok(), "{v}");
            if let (Ok((r, _)), Ok((c, _))) = (run, check) {
                assert!(r.regex.is_some() && c.regex.is_none(), "{v}");
                assert_eq!(r, c, "{v}");
            }
        }
    }

    #[test]
    fn pcre_flags() {
        let (p, b) = pcre(r#""/^GET\s+\/a/Ui""#, true).expect("ok");
        assert!(p.regex.is_some());
        assert_eq!(b, Some(Buffer::HttpUri));
        let re = p.regex.expect("regex");
        assert!(re.is_match(b"get  /a").expect("match"));
        let (p, _) = pcre(r#"!"/x/R""#, true).expect("ok");
        assert!(p.negated && p.relative);
        assert!(pcre(r#""/(/""#, true).is_err());
        assert!(pcre(r#""/x/E""#, true).is_err());
        assert!(pcre(r#""/x/UH""#, true).is_err());
        let (p, _) = pcre(r#""/^(?P<a>x)(y)/i,alert:ua, flow:f""#, true).expect("captures");
        assert_eq!(p.captures, vec!["alert:ua", "flow:f"]);
        assert!(pcre(r#""/x/,bogus""#, true).is_err());
        // Catastrophic backtracking stops at the match limit instead of hanging.
        let (p, _) = pcre(r#""/^(a+)+$/""#, true).expect("ok");
        let mut hostile = vec![b'a'; 5000];
        hostile.push(b'b');
        assert!(p.regex.expect("re").is_match(&hostile).is_err());
        // Huge repetition counts are refused at load.
        assert!(pcre(r#""/(a{60000}){60000}/""#, true).is_err());
        let (p, _) = pcre(r#""/ab/A""#, true).expect("ok");
        assert!(!p.regex.expect("re").is_match(b"xab").expect("m"));
    }

    #[test]
    fn byte_keywords() {
        let m = byte_test("4,>,1000,0,relative,little", &[]).expect("ok");
        assert!(matches!(
            m,
            Match::ByteTest {
                op: ByteTestOp::Gt,
                negated: false,
                ..
            }
        ));
        let m = byte_test("2,!&,0x8000,0", &[]).expect("ok");
        assert!(matches!(
            m,
            Match::ByteTest {
                op: ByteTestOp::And,
                negated: true,
                ..
            }
        ));
        assert!(byte_test("9,=,1,0", &[]).is_err());
        assert!(byte_test("10,=,1,0,string,dec", &[]).is_ok());
        assert!(byte_test("4,=,var,0", &[]).is_err());
        assert!(byte_test("4,=,var,0", &["var".into()]).is_ok());
        let m = byte_test("n,=,1,5, bitmask 0xFF", &["n".into()]).expect("var count");
        assert!(matches!(
            m,
            Match::ByteTest {
                opts: ByteOpts {
                    nbytes: Value::Var(_),
                    ..
                },
                ..
            }
        ));
        assert!(byte_test("n,=,1,5", &[]).is_err());
        assert!(byte_jump("4,0,relative,multiplier 2,post_offset -4", &[]).is_ok());
        assert!(byte_jump("4,0,from_beginning,from_end", &[]).is_err());
        assert!(byte_extract("2,0,len,relative", &[]).is_ok());
        assert!(byte_extract("2,0,1len", &[]).is_err());
        let m = byte_math(
            "bytes 2, offset 0, oper +, rvalue 4, result sum, relative",
            &[],
        )
        .expect("ok");
        assert!(matches!(
            m,
            Match::ByteMath {
                op: MathOp::Add,
                ..
            }
        ));
        assert!(byte_math("bytes 2, offset 0, oper /, rvalue 0, result x", &[]).is_err());
        assert!(isdataat("!1,relative", &[]).is_ok());
        assert!(isdataat("x", &[]).is_err());
    }
}
