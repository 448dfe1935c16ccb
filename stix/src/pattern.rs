//! The STIX 2.1 patterning language (STIX 2.1, section 9): a lexer and a recursive-descent
//! parser into an AST that prints back ([`std::fmt::Display`]) to an equivalent pattern.
//!
//! ```text
//! pattern      := obs_or ("FOLLOWEDBY" obs_or)*
//! obs_or       := obs_and ("OR" obs_and)*
//! obs_and      := obs_qual ("AND" obs_qual)*
//! obs_qual     := obs qualifier*
//! obs          := "[" comparison "]" | "(" pattern ")"
//! qualifier    := "WITHIN" number "SECONDS" | "REPEATS" int "TIMES" | "START" t'..' "STOP" t'..'
//! comparison   := cmp_and ("OR" cmp_and)*
//! cmp_and      := test ("AND" test)*
//! test         := "(" comparison ")" | "EXISTS" path
//!               | path "NOT"? (op literal | "IN" "(" literal ("," literal)* ")")
//! op           := "=" | "!=" | "<" | "<=" | ">" | ">=" | "LIKE" | "MATCHES" | "ISSUBSET" | "ISSUPERSET"
//! path         := object-type ":" step ("." step | "[" (int | "*") "]")*
//! literal      := 'string' | int | float | true | false | t'timestamp' | h'hex' | b'base64'
//! ```
//!
//! Keywords are matched without regard to case. Bounded: a pattern longer than
//! [`MAX_PATTERN_LEN`] bytes or nested deeper than [`MAX_DEPTH`] is refused.

use std::fmt;

/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 64 * 1024;
/// Deepest nesting of brackets and parentheses accepted.
pub const MAX_DEPTH: usize = 32;

/// A parsed pattern: observation expressions joined by `AND`, `OR`, `FOLLOWEDBY`.
#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    /// `[ comparison ]` with its qualifiers.
    Observation {
        comparison: Comparison,
        qualifiers: Vec<Qualifier>,
    },
    /// A parenthesised pattern with qualifiers applied to it.
    Group {
        inner: Box<Pattern>,
        qualifiers: Vec<Qualifier>,
    },
    And(Vec<Pattern>),
    Or(Vec<Pattern>),
    FollowedBy(Vec<Pattern>),
}

/// A qualifier of an observation expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Qualifier {
    /// `WITHIN n SECONDS` (kept as written).
    Within(String),
    /// `REPEATS n TIMES`.
    Repeats(u64),
    /// `START t'..' STOP t'..'`.
    StartStop(String, String),
}

/// The comparison expression inside one observation's brackets.
#[derive(Clone, Debug, PartialEq)]
pub enum Comparison {
    Test(Test),
    And(Vec<Comparison>),
    Or(Vec<Comparison>),
}

/// One property test: `path [NOT] op value`, or `EXISTS path`.
#[derive(Clone, Debug, PartialEq)]
pub struct Test {
    pub path: ObjectPath,
    pub negated: bool,
    pub op: Op,
    /// The right-hand side (several for `IN`, none for `EXISTS`).
    pub values: Vec<Literal>,
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Like,
    Matches,
    IsSubset,
    IsSuperset,
    Exists,
}

impl Op {
    /// The operator as written in a pattern.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "IN",
            Op::Like => "LIKE",
            Op::Matches => "MATCHES",
            Op::IsSubset => "ISSUBSET",
            Op::IsSuperset => "ISSUPERSET",
            Op::Exists => "EXISTS",
        }
    }
}

/// `object-type:step.step[0]...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectPath {
    pub object_type: String,
    pub steps: Vec<Step>,
}

/// One step of an object path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A property name (quoted or not in the source).
    Key(String),
    /// `[n]`.
    Index(u64),
    /// `[*]`.
    Any,
}

impl ObjectPath {
    /// The property path without the object type, keys joined by `.`, indices as `[n]`/`[*]`:
    /// `hashes.SHA-256`, `dst_ref.value`.
    pub fn property(&self) -> String {
        let mut s = String::new();
        for st in &self.steps {
            match st {
                Step::Key(k) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k);
                }
                Step::Index(i) => s.push_str(&format!("[{i}]")),
                Step::Any => s.push_str("[*]"),
            }
        }
        s
    }
}

/// A literal on the right of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Timestamp(String),
    Hex(String),
    Binary(String),
}

/// Why a pattern does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("pattern: {what} at byte {at}")]
pub struct ParseError {
    /// Byte offset in the pattern.
    pub at: usize,
    pub what: String,
}

/// Parses a STIX 2.1 pattern.
pub fn parse(src: &str) -> Result<Pattern, ParseError> {
    if src.len() > MAX_PATTERN_LEN {
        return Err(ParseError {
            at: MAX_PATTERN_LEN,
            what: format!("longer than {MAX_PATTERN_LEN} bytes"),
        });
    }
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        end: src.len(),
    };
    let pat = p.pattern()?;
    match p.peek() {
        None => Ok(pat),
        Some(t) => Err(p.error_at(t.at, format!("unexpected {}", t.tok))),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Colon,
    Dot,
    Star,
    Op(&'static str),
    Word(String),
    Str(String),
    Int(i64),
    Float(f64),
    Typed(char, String),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::LBracket => f.write_str("'['"),
            Tok::RBracket => f.write_str("']'"),
            Tok::LParen => f.write_str("'('"),
            Tok::RParen => f.write_str("')'"),
            Tok::Comma => f.write_str("','"),
            Tok::Colon => f.write_str("':'"),
            Tok::Dot => f.write_str("'.'"),
            Tok::Star => f.write_str("'*'"),
            Tok::Op(o) => write!(f, "'{o}'"),
            Tok::Word(w) => write!(f, "{w:?}"),
            Tok::Str(s) => write!(f, "string '{s}'"),
            Tok::Int(i) => write!(f, "number {i}"),
            Tok::Float(x) => write!(f, "number {x}"),
            Tok::Typed(c, s) => write!(f, "{c}'{s}'"),
        }
    }
}

#[derive(Clone, Debug)]
struct Spanned {
    tok: Tok,
    at: usize,
}

fn lex(src: &str) -> Result<Vec<Spanned>, ParseError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let at = i;
        let single = match c {
            b'[' => Some(Tok::LBracket),
            b']' => Some(Tok::RBracket),
            b'(' => Some(Tok::LParen),
            b')' => Some(Tok::RParen),
            b',' => Some(Tok::Comma),
            b':' => Some(Tok::Colon),
            b'.' => Some(Tok::Dot),
            b'*' => Some(Tok::Star),
            _ => None,
        };
        if let Some(t) = single {
            out.push(Spanned { tok: t, at });
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let two = b.get(i..i + 2);
        let op = match (c, two) {
            (_, Some(b"!=")) => Some(("!=", 2)),
            (_, Some(b"<=")) => Some(("<=", 2)),
            (_, Some(b">=")) => Some((">=", 2)),
            (_, Some(b"<>")) => Some(("!=", 2)),
            (b'=', _) => Some(("=", 1)),
            (b'<', _) => Some(("<", 1)),
            (b'>', _) => Some((">", 1)),
            _ => None,
        };
        if let Some((o, n)) = op {
            out.push(Spanned {
                tok: Tok::Op(o),
                at,
            });
            i += n;
            continue;
        }
        if c == b'\'' {
            let (s, next) = quoted(src, i)?;
            out.push(Spanned {
                tok: Tok::Str(s),
                at,
            });
            i = next;
            continue;
        }
        if matches!(c, b't' | b'h' | b'b') && b.get(i + 1) == Some(&b'\'') {
            let (s, next) = quoted(src, i + 1)?;
            out.push(Spanned {
                tok: Tok::Typed(c as char, s),
                at,
            });
            i = next;
            continue;
        }
        if c.is_ascii_digit() || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let mut j = i + 1;
            while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
                j += 1;
            }
            let text = &src[i..j];
            let tok = if text.contains('.') {
                Tok::Float(text.parse().map_err(|_| ParseError {
                    at,
                    what: format!("bad number {text:?}"),
                })?)
            } else {
                Tok::Int(text.parse().map_err(|_| ParseError {
                    at,
                    what: format!("bad number {text:?}"),
                })?)
            };
            out.push(Spanned { tok, at });
            i = j;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let mut j = i + 1;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'-') {
                j += 1;
            }
            out.push(Spanned {
                tok: Tok::Word(src[i..j].to_string()),
                at,
            });
            i = j;
            continue;
        }
        return Err(ParseError {
            at,
            what: format!("unexpected character {:?}", src[i..].chars().next()),
        });
    }
    Ok(out)
}

/// A single-quoted string starting at `start` (the quote); `\'` and `\\` are escapes.
fn quoted(src: &str, start: usize) -> Result<(String, usize), ParseError> {
    let mut s = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((k, ch)) = chars.next() {
        match ch {
            '\'' => return Ok((s, start + 1 + k + 1)),
            '\\' => match chars.next() {
                Some((_, e @ ('\'' | '\\'))) => s.push(e),
                _ => {
                    return Err(ParseError {
                        at: start + 1 + k,
                        what: "bad escape in string (only \\' and \\\\)".into(),
                    })
                }
            },
            c => s.push(c),
        }
    }
    Err(ParseError {
        at: start,
        what: "unterminated string".into(),
    })
}

struct Parser {
    toks: Vec<Spanned>,
    pos: usize,
    depth: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Spanned> {
        self.toks.get(self.pos)
    }

    fn here(&self) -> usize {
        self.peek().map_or(self.end, |t| t.at)
    }

    fn error_at(&self, at: usize, what: String) -> ParseError {
        ParseError { at, what }
    }

    fn error(&self, what: impl Into<String>) -> ParseError {
        let found = self
            .peek()
            .map_or("end of pattern".to_string(), |t| t.tok.to_string());
        ParseError {
            at: self.here(),
            what: format!("expected {}, found {found}", what.into()),
        }
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|s| s.tok.clone());
        self.pos += 1;
        t
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek().is_some_and(|s| &s.tok == t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: Tok) -> Result<(), ParseError> {
        if self.eat(&t) {
            Ok(())
        } else {
            Err(self.error(t.to_string()))
        }
    }

    fn keyword(&mut self, kw: &str) -> bool {
        match self.peek() {
            Some(Spanned {
                tok: Tok::Word(w), ..
            }) if w.eq_ignore_ascii_case(kw) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    fn nest(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(self.here(), format!("nested deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }

    fn pattern(&mut self) -> Result<Pattern, ParseError> {
        let mut parts = vec![self.obs_or()?];
        while self.keyword("FOLLOWEDBY") {
            parts.push(self.obs_or()?);
        }
        Ok(one_or(parts, Pattern::FollowedBy))
    }

    fn obs_or(&mut self) -> Result<Pattern, ParseError> {
        let mut parts = vec![self.obs_and()?];
        while self.keyword("OR") {
            parts.push(self.obs_and()?);
        }
        Ok(one_or(parts, Pattern::Or))
    }

    fn obs_and(&mut self) -> Result<Pattern, ParseError> {
        let mut parts = vec![self.obs_qualified()?];
        while self.keyword("AND") {
            parts.push(self.obs_qualified()?);
        }
        Ok(one_or(parts, Pattern::And))
    }

    fn obs_qualified(&mut self) -> Result<Pattern, ParseError> {
        self.nest()?;
        let mut obs = if self.eat(&Tok::LBracket) {
            let comparison = self.comparison()?;
            self.expect(Tok::RBracket)?;
            Pattern::Observation {
                comparison,
                qualifiers: Vec::new(),
            }
        } else if self.eat(&Tok::LParen) {
            let inner = self.pattern()?;
            self.expect(Tok::RParen)?;
            Pattern::Group {
                inner: Box::new(inner),
                qualifiers: Vec::new(),
            }
        } else {
            return Err(self.error("'[' or '('"));
        };
        self.depth -= 1;
        while let Some(q) = self.qualifier()? {
            match &mut obs {
                Pattern::Observation { qualifiers, .. } | Pattern::Group { qualifiers, .. } => {
                    qualifiers.push(q)
                }
                _ => unreachable!("only observations and groups are built here"),
            }
        }
        // Parentheses without qualifiers only group: the tree keeps what they grouped.
        match obs {
            Pattern::Group { inner, qualifiers } if qualifiers.is_empty() => Ok(*inner),
            obs => Ok(obs),
        }
    }

    fn qualifier(&mut self) -> Result<Option<Qualifier>, ParseError> {
        if self.keyword("WITHIN") {
            let n = match self.next() {
                Some(Tok::Int(i)) if i > 0 => i.to_string(),
                Some(Tok::Float(x)) if x > 0.0 => x.to_string(),
                _ => {
                    self.pos -= 1;
                    return Err(self.error("a positive number of seconds"));
                }
            };
            if !self.keyword("SECONDS") {
                return Err(self.error("SECONDS"));
            }
            return Ok(Some(Qualifier::Within(n)));
        }
        if self.keyword("REPEATS") {
            let n = match self.next() {
                Some(Tok::Int(i)) if i > 0 => i as u64,
                _ => {
                    self.pos -= 1;
                    return Err(self.error("a positive count"));
                }
            };
            if !self.keyword("TIMES") {
                return Err(self.error("TIMES"));
            }
            return Ok(Some(Qualifier::Repeats(n)));
        }
        if self.keyword("START") {
            let a = self.timestamp()?;
            if !self.keyword("STOP") {
                return Err(self.error("STOP"));
            }
            let b = self.timestamp()?;
            return Ok(Some(Qualifier::StartStop(a, b)));
        }
        Ok(None)
    }

    fn timestamp(&mut self) -> Result<String, ParseError> {
        match self.next() {
            Some(Tok::Typed('t', s)) => Ok(s),
            _ => {
                self.pos -= 1;
                Err(self.error("a timestamp t'...'"))
            }
        }
    }

    fn comparison(&mut self) -> Result<Comparison, ParseError> {
        let mut parts = vec![self.cmp_and()?];
        while self.keyword("OR") {
            parts.push(self.cmp_and()?);
        }
        Ok(one_or(parts, Comparison::Or))
    }

    fn cmp_and(&mut self) -> Result<Comparison, ParseError> {
        let mut parts = vec![self.test()?];
        while self.keyword("AND") {
            parts.push(self.test()?);
        }
        Ok(one_or(parts, Comparison::And))
    }

    fn test(&mut self) -> Result<Comparison, ParseError> {
        if self.eat(&Tok::LParen) {
            self.nest()?;
            let c = self.comparison()?;
            self.expect(Tok::RParen)?;
            self.depth -= 1;
            return Ok(c);
        }
        if self.keyword("EXISTS") {
            let path = self.path()?;
            return Ok(Comparison::Test(Test {
                path,
                negated: false,
                op: Op::Exists,
                values: Vec::new(),
            }));
        }
        let path = self.path()?;
        let negated = self.keyword("NOT");
        let op = self.op()?;
        let values = if op == Op::In {
            self.set()?
        } else {
            vec![self.literal()?]
        };
        Ok(Comparison::Test(Test {
            path,
            negated,
            op,
            values,
        }))
    }

    fn op(&mut self) -> Result<Op, ParseError> {
        if let Some(Spanned {
            tok: Tok::Op(o), ..
        }) = self.peek()
        {
            let op = match *o {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            };
            self.pos += 1;
            return Ok(op);
        }
        for (kw, op) in [
            ("IN", Op::In),
            ("LIKE", Op::Like),
            ("MATCHES", Op::Matches),
            ("ISSUBSET", Op::IsSubset),
            ("ISSUPERSET", Op::IsSuperset),
        ] {
            if self.keyword(kw) {
                return Ok(op);
            }
        }
        Err(self.error("a comparison operator"))
    }

    fn set(&mut self) -> Result<Vec<Literal>, ParseError> {
        self.expect(Tok::LParen)?;
        let mut v = vec![self.literal()?];
        while self.eat(&Tok::Comma) {
            v.push(self.literal()?);
        }
        self.expect(Tok::RParen)?;
        Ok(v)
    }

    fn literal(&mut self) -> Result<Literal, ParseError> {
        let lit = match self.next() {
            Some(Tok::Str(s)) => Literal::Str(s),
            Some(Tok::Int(i)) => Literal::Int(i),
            Some(Tok::Float(x)) => Literal::Float(x),
            Some(Tok::Typed('t', s)) => Literal::Timestamp(s),
            Some(Tok::Typed('h', s)) => Literal::Hex(s),
            Some(Tok::Typed(_, s)) => Literal::Binary(s),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            _ => {
                self.pos -= 1;
                return Err(self.error("a literal"));
            }
        };
        Ok(lit)
    }

    fn path(&mut self) -> Result<ObjectPath, ParseError> {
        let object_type = match self.next() {
            Some(Tok::Word(w)) => w,
            _ => {
                self.pos -= 1;
                return Err(self.error("an object type"));
            }
        };
        self.expect(Tok::Colon)?;
        let mut steps = vec![self.key()?];
        loop {
            if self.eat(&Tok::Dot) {
                steps.push(self.key()?);
            } else if self.eat(&Tok::LBracket) {
                let s = match self.next() {
                    Some(Tok::Int(i)) if i >= 0 => Step::Index(i as u64),
                    Some(Tok::Star) => Step::Any,
                    _ => {
                        self.pos -= 1;
                        return Err(self.error("an index or '*'"));
                    }
                };
                self.expect(Tok::RBracket)?;
                steps.push(s);
            } else {
                break;
            }
        }
        Ok(ObjectPath { object_type, steps })
    }

    fn key(&mut self) -> Result<Step, ParseError> {
        match self.next() {
            Some(Tok::Word(w)) | Some(Tok::Str(w)) => Ok(Step::Key(w)),
            _ => {
                self.pos -= 1;
                Err(self.error("a property name"))
            }
        }
    }
}

fn one_or<T>(mut parts: Vec<T>, many: fn(Vec<T>) -> T) -> T {
    if parts.len() == 1 {
        parts.pop().expect("one part")
    } else {
        many(parts)
    }
}

fn write_str_lit(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("'")?;
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("'")
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => write_str_lit(f, s),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => write!(f, "{x:?}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Timestamp(s) => write!(f, "t'{s}'"),
            Literal::Hex(s) => write!(f, "h'{s}'"),
            Literal::Binary(s) => write!(f, "b'{s}'"),
        }
    }
}

fn is_plain_key(k: &str) -> bool {
    let mut c = k.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.object_type)?;
        for (i, s) in self.steps.iter().enumerate() {
            match s {
                Step::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_plain_key(k) {
                        f.write_str(k)?;
                    } else {
                        write_str_lit(f, k)?;
                    }
                }
                Step::Index(n) => write!(f, "[{n}]")?,
                Step::Any => f.write_str("[*]")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, parts: &[Comparison], kw: &str| {
            f.write_str("(")?;
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    write!(f, " {kw} ")?;
                }
                write!(f, "{p}")?;
            }
            f.write_str(")")
        };
        match self {
            Comparison::Test(t) => write!(f, "{t}"),
            Comparison::And(p) => join(f, p, "AND"),
            Comparison::Or(p) => join(f, p, "OR"),
        }
    }
}

impl fmt::Display for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op == Op::Exists {
            return write!(f, "EXISTS {}", self.path);
        }
        write!(f, "{}", self.path)?;
        if self.negated {
            f.write_str(" NOT")?;
        }
        write!(f, " {} ", self.op.as_str())?;
        if self.op == Op::In {
            f.write_str("(")?;
            for (i, v) in self.values.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{v}")?;
            }
            f.write_str(")")
        } else {
            write!(f, "{}", self.values[0])
        }
    }
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Qualifier::Within(n) => write!(f, "WITHIN {n} SECONDS"),
            Qualifier::Repeats(n) => write!(f, "REPEATS {n} TIMES"),
            Qualifier::StartStop(a, b) => write!(f, "START t'{a}' STOP t'{b}'"),
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, parts: &[Pattern], kw: &str| {
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    write!(f, " {kw} ")?;
                }
                match p {
                    Pattern::Observation { .. } | Pattern::Group { .. } => write!(f, "{p}")?,
                    _ => write!(f, "({p})")?,
                }
            }
            Ok(())
        };
        let quals = |f: &mut fmt::Formatter<'_>, q: &[Qualifier]| {
            q.iter().try_for_each(|q| write!(f, " {q}"))
        };
        match self {
            Pattern::Observation {
                comparison,
                qualifiers,
            } => {
                write!(f, "[{comparison}]")?;
                quals(f, qualifiers)
            }
            Pattern::Group { inner, qualifiers } => {
                write!(f, "({inner})")?;
                quals(f, qualifiers)
            }
            Pattern::And(p) => join(f, p, "AND"),
            Pattern::Or(p) => join(f, p, "OR"),
            Pattern::FollowedBy(p) => join(f, p, "FOLLOWEDBY"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(src: &str) -> Pattern {
        let p = parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        let printed = p.to_string();
        let again = parse(&printed).unwrap_or_else(|e| panic!("{printed}: {e}"));
        assert_eq!(p, again, "{src} printed as {printed}");
        p
    }

    /// Examples from STIX 2.1 section 9.
    #[test]
    fn spec_examples_parse_and_print_back() {
        for src in [
            "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
            "[ipv4-addr:value = '198.51.100.1/32' OR ipv4-addr:value = '203.0.113.33/32' OR ipv6-addr:value = '2001:0db8:dead:beef:dead:beef:dead:0001/128']",
            "[domain-name:value = 'www.5z8.info' AND domain-name:resolves_to_refs[*].value = '198.51.100.1/32']",
            "[url:value = 'http://example.com/foo' OR url:value = 'http://example.com/bar']",
            "[x509-certificate:issuer = 'CN=WEBMAIL' AND x509-certificate:serial_number = '4c:0b:1d:19:74:86:a7:66:b4:1a:bf:40:27:21:76:28']",
            "[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\System\\\\Foo\\\\Bar']",
            "[file:name = 'foo.dll' AND file:parent_directory_ref.path = 'C:\\\\Windows\\\\System32'] FOLLOWEDBY [file:name = 'bar.exe']",
            "([file:hashes.MD5 = '79054025255fb1a26e4bc422aef54eb4'] FOLLOWEDBY [windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\foo\\\\bar']) WITHIN 300 SECONDS",
            "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.33/32'] REPEATS 5 TIMES WITHIN 180 SECONDS",
            "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
            "[network-traffic:dst_port IN (80, 443, 8080)]",
            "[file:size > 1024 AND file:name NOT LIKE '%.exe']",
            "[file:created > t'2016-01-01T00:00:00Z'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'",
            "[artifact:payload_bin MATCHES '^\\\\x4d\\\\x5a' AND artifact:mime_type = 'application/x-dosexec']",
            "[user-account:is_privileged = true] AND [process:pid = 4]",
            "[EXISTS windows-registry-key:values]",
            "[file:hashes.'SHA-1' = h'ab12'] OR ([x-ja3:hash = 'e7d705a3286e19ea42f587b344ee6865'])",
        ] {
            round_trip(src);
        }
    }

    #[test]
    fn structure_follows_precedence() {
        let p = round_trip("[a:x = 1 OR a:y = 2 AND a:z = 3]");
        let Pattern::Observation { comparison, .. } = p else {
            panic!("one observation")
        };
        let Comparison::Or(parts) = comparison else {
            panic!("OR binds looser than AND: {comparison:?}")
        };
        assert!(matches!(parts[1], Comparison::And(_)));
        let p = round_trip("[a:x = 1] OR [a:y = 2] AND [a:z = 3] FOLLOWEDBY [a:w = 4]");
        let Pattern::FollowedBy(parts) = p else {
            panic!("FOLLOWEDBY binds loosest")
        };
        assert!(matches!(&parts[0], Pattern::Or(o) if matches!(o[1], Pattern::And(_))));
    }

    #[test]
    fn errors_say_what_and_where() {
        for (src, at, needle) in [
            ("[ipv4-addr:value = '1.2.3.4'", 28, "expected ']'"),
            ("[ipv4-addr:value '1.2.3.4']", 17, "comparison operator"),
            ("[ipv4-addr value = 'x']", 11, "expected ':'"),
            ("[ipv4-addr:value = 'x]", 19, "unterminated string"),
            ("ipv4-addr:value = 'x'", 0, "'[' or '('"),
            ("[a:b = 'x'] WITHIN -1 SECONDS", 19, "positive number"),
            ("[a:b = 'x'] [a:c = 'y']", 12, "unexpected"),
            ("[a:b = 'x\\n']", 9, "bad escape"),
            ("[a:b = 'x'] REPEATS 2", 21, "TIMES"),
            ("", 0, "'[' or '('"),
        ] {
            let e = parse(src).expect_err(src);
            assert_eq!(e.at, at, "{src}: {e}");
            assert!(e.what.contains(needle), "{src}: {e}");
        }
    }

    #[test]
    fn hostile_sizes_are_refused_not_recursed() {
        let deep = format!("{}[a:b = 1]{}", "(".repeat(1000), ")".repeat(1000));
        assert!(parse(&deep).unwrap_err().what.contains("nested deeper"));
        let long = format!("[a:b = '{}']", "x".repeat(MAX_PATTERN_LEN));
        assert!(parse(&long).unwrap_err().what.contains("longer than"));
    }

    proptest::proptest! {
        /// Whatever the bytes, the parser returns; what it accepts prints back to itself.
        #[test]
        fn never_panics_and_round_trips(s in "[\\[\\]() a-z:=',.0-9*ANDORIN-]{0,60}") {
            if let Ok(p) = parse(&s) {
                let printed = p.to_string();
                let again = parse(&printed);
                proptest::prop_assert_eq!(again, Ok(p));
            }
        }
    }
}
