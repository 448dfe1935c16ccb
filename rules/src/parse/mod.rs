//! Text → AST: splitting a rules file into logical rules and parsing one rule.
//!
//! Mirrors Suricata's reader: a trailing `\` joins the next line, `#` starts a comment, and a
//! commented line that parses as a rule is a disabled rule. Options are split on `;` not
//! preceded by an escaping `\`; quotes do not protect a `;` (Suricata does the same).

mod header;

use crate::ast::{Action, Arrow, Rule, RuleOption};
use crate::span::{SourceMap, Span};
use thiserror::Error;

pub use header::{parse_addr, parse_port};

/// Longest logical rule accepted; longer lines are refused rather than parsed (Suricata's
/// own limit is 64 KiB too).
pub const MAX_RULE_LEN: usize = 64 * 1024;
/// Deepest `[`/`!` nesting accepted in an address or port expression.
pub const MAX_NESTING: usize = 32;

/// Why a rule's text is not a rule.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{message}")]
pub struct ParseError {
    /// Where in the logical text.
    pub span: Span,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(span: Span, message: impl Into<String>) -> Self {
        ParseError {
            span,
            message: message.into(),
        }
    }
}

/// One logical rule line of a file, before parsing.
#[derive(Clone, Debug)]
pub struct RuleText {
    /// The joined text (continuations removed).
    pub text: String,
    /// Maps offsets of `text` to the file's lines.
    pub map: SourceMap,
    /// The line started with `#`: a disabled rule if it parses, else a plain comment.
    pub commented: bool,
}

/// Splits a rules file into logical rule texts: skips blank lines, joins `\` continuations,
/// and marks `#` lines whose text after the `#` starts with an action keyword.
pub fn split_rules(file: &str, text: &str) -> Vec<RuleText> {
    let mut out = Vec::new();
    let mut cur: Option<RuleText> = None;
    for (idx, raw) in text.split('\n').enumerate() {
        let line_no = idx + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(mut rt) = cur.take() {
            // Continuation of the previous line.
            let off = rt.text.len();
            rt.map.pieces.push((off, line_no, 1));
            if let Some(stripped) = line.strip_suffix('\\') {
                rt.text.push_str(stripped);
                cur = Some(rt);
            } else {
                rt.text.push_str(line);
                out.push(rt);
            }
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        let lead = line.len() - trimmed.len();
        if trimmed.starts_with('#') {
            let body = trimmed.trim_start_matches('#');
            let body_t = body.trim_start();
            let word = body_t
                .split(|c: char| c.is_ascii_whitespace())
                .next()
                .unwrap_or("");
            if Action::from_keyword(word).is_some() {
                out.push(RuleText {
                    text: line.to_string(),
                    map: SourceMap::single(file, line_no),
                    commented: true,
                });
            }
            continue;
        }
        let mut map = SourceMap::single(file, line_no);
        map.pieces[0].2 = 1;
        let _ = lead;
        if let Some(stripped) = line.strip_suffix('\\') {
            cur = Some(RuleText {
                text: stripped.to_string(),
                map,
                commented: false,
            });
        } else {
            out.push(RuleText {
                text: line.to_string(),
                map,
                commented: false,
            });
        }
    }
    if let Some(rt) = cur {
        out.push(rt);
    }
    out
}

/// Parses one rule. A leading `#` (possibly repeated) marks it disabled.
pub fn parse_rule(text: &str) -> Result<Rule, ParseError> {
    if text.len() > MAX_RULE_LEN {
        return Err(ParseError::new(
            Span::new(0, text.len()),
            format!("rule longer than {MAX_RULE_LEN} bytes"),
        ));
    }
    let mut c = Cursor { s: text, pos: 0 };
    c.skip_ws();
    let mut enabled = true;
    if c.peek() == Some(b'#') {
        enabled = false;
        while c.peek() == Some(b'#') {
            c.pos += 1;
        }
        c.skip_ws();
    }
    let start = c.pos;
    let (word, wspan) = c.word();
    let action = Action::from_keyword(word).ok_or_else(|| {
        ParseError::new(
            wspan,
            if word.is_empty() {
                "expected an action (alert, pass, drop, reject, ...)".to_string()
            } else {
                format!("unknown action `{word}`")
            },
        )
    })?;
    let (proto, pspan) = c.header_token("protocol")?;
    if proto.contains(['[', '!', '$']) {
        return Err(ParseError::new(
            pspan,
            format!("invalid protocol `{proto}`"),
        ));
    }
    let (t, s) = c.header_token("source address")?;
    let src = header::parse_addr(t, s.start as usize)?;
    let (t, s) = c.header_token("source port")?;
    let src_ports = header::parse_port(t, s.start as usize)?;
    let (t, dspan) = c.header_token("direction")?;
    let direction = match t {
        "->" => Arrow::To,
        "<>" => Arrow::Both,
        "=>" => Arrow::Transaction,
        "<-" => {
            return Err(ParseError::new(
                dspan,
                "`<-` is not a valid direction; use `->` with swapped sides",
            ))
        }
        _ => {
            return Err(ParseError::new(
                dspan,
                format!("expected `->`, `<>` or `=>`, found `{t}`"),
            ))
        }
    };
    let (t, s) = c.header_token("destination address")?;
    let dst = header::parse_addr(t, s.start as usize)?;
    let (t, s) = c.header_token("destination port")?;
    let dst_ports = header::parse_port(t, s.start as usize)?;
    c.skip_ws();
    if c.peek() != Some(b'(') {
        let (w, s) = c.word();
        return Err(ParseError::new(
            s,
            format!("expected `(` to open the options, found `{w}`"),
        ));
    }
    let open = c.pos;
    let close = text.rfind(')').filter(|&p| p > open).ok_or_else(|| {
        ParseError::new(Span::new(open, open + 1), "options are not closed by `)`")
    })?;
    if !text[close + 1..].trim().is_empty() {
        return Err(ParseError::new(
            Span::new(close + 1, text.trim_end().len()),
            "unexpected text after the closing `)`",
        ));
    }
    let options = parse_options(text, open + 1, close)?;
    Ok(Rule {
        span: Span::new(start, close + 1),
        enabled,
        action: (action, wspan),
        proto: (proto.to_string(), pspan),
        src,
        src_ports,
        direction: (direction, dspan),
        dst,
        dst_ports,
        options,
    })
}

/// Splits `text[from..to]` into options on unescaped `;`.
fn parse_options(text: &str, from: usize, to: usize) -> Result<Vec<RuleOption>, ParseError> {
    let b = text.as_bytes();
    let mut opts = Vec::new();
    let mut i = from;
    loop {
        while i < to && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= to {
            break;
        }
        let opt_start = i;
        // Name: up to `:` or `;` (whitespace inside a name is an error below).
        while i < to && b[i] != b':' && b[i] != b';' {
            i += 1;
        }
        let name_raw = &text[opt_start..i];
        let name = name_raw.trim_end();
        let name_span = Span::new(opt_start, opt_start + name.len());
        if name.is_empty() {
            return Err(ParseError::new(
                Span::new(opt_start, i + 1),
                "empty option name",
            ));
        }
        if let Some(bad) = name
            .bytes()
            .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')))
        {
            return Err(ParseError::new(
                Span::new(opt_start + bad, opt_start + name.len()),
                format!("invalid option name `{name}` (missing `;`?)"),
            ));
        }
        if i >= to {
            return Err(ParseError::new(
                Span::new(opt_start, to),
                format!("option `{name}` is not terminated by `;`"),
            ));
        }
        let mut value = None;
        if b[i] == b':' {
            i += 1;
            let vstart = i;
            let mut escaped = false;
            while i < to {
                match b[i] {
                    b'\\' if !escaped => escaped = true,
                    b';' if !escaped => break,
                    _ => escaped = false,
                }
                i += 1;
            }
            if i >= to {
                return Err(ParseError::new(
                    Span::new(opt_start, to),
                    format!("option `{name}` is not terminated by `;`"),
                ));
            }
            let raw = &text[vstart..i];
            let lead = raw.len() - raw.trim_start().len();
            let mut v = raw.trim();
            // Whitespace escaped by a trailing `\` belongs to the value: trimming it would
            // leave a `\` that escapes the `;` when the rule is printed back.
            let trailing_bs = v.bytes().rev().take_while(|&c| c == b'\\').count();
            if trailing_bs % 2 == 1 && v.len() < raw.len() - lead {
                let end = lead + v.len();
                let next = raw[end..].chars().next().map_or(0, char::len_utf8);
                v = &raw[lead..end + next];
            }
            let vs = Span::new(vstart + lead, vstart + lead + v.len());
            value = Some((v.to_string(), vs));
        }
        // b[i] == b';'
        opts.push(RuleOption {
            span: Span::new(opt_start, i),
            name: name.to_string(),
            name_span,
            value,
        });
        i += 1;
    }
    Ok(opts)
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// A whitespace-delimited word.
    fn word(&mut self) -> (&'a str, Span) {
        self.skip_ws();
        let start = self.pos;
        while self.peek().is_some_and(|c| !c.is_ascii_whitespace()) {
            self.pos += 1;
        }
        (&self.s[start..self.pos], Span::new(start, self.pos))
    }

    /// A header token: whitespace inside `[...]` does not end it, and `(` does.
    fn header_token(&mut self, what: &str) -> Result<(&'a str, Span), ParseError> {
        self.skip_ws();
        let start = self.pos;
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                b'[' => depth += 1,
                b']' => depth = depth.saturating_sub(1),
                b'(' => break,
                c if c.is_ascii_whitespace() && depth == 0 => break,
                _ => {}
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(ParseError::new(
                Span::point(start),
                format!("expected {what}"),
            ));
        }
        Ok((&self.s[start..self.pos], Span::new(start, self.pos)))
    }
}

#[cfg(test)]
mod tests;
