//! Address and port expressions of the rule header.

use super::{ParseError, MAX_NESTING};
use crate::ast::{AddrExpr, PortExpr};
use crate::span::Span;
use std::net::{IpAddr, Ipv4Addr};

/// Parses an address expression `tok` found at byte `base` of the rule text.
pub fn parse_addr(tok: &str, base: usize) -> Result<AddrExpr, ParseError> {
    let mut p = ListParser {
        s: tok,
        pos: 0,
        base,
    };
    let e = p.addr(0)?;
    p.skip_ws();
    if p.pos != tok.len() {
        return Err(p.err(p.pos, tok.len(), "unexpected text in address"));
    }
    Ok(e)
}

/// Parses a port expression `tok` found at byte `base` of the rule text.
pub fn parse_port(tok: &str, base: usize) -> Result<PortExpr, ParseError> {
    let mut p = ListParser {
        s: tok,
        pos: 0,
        base,
    };
    let e = p.port(0)?;
    p.skip_ws();
    if p.pos != tok.len() {
        return Err(p.err(p.pos, tok.len(), "unexpected text in port"));
    }
    Ok(e)
}

struct ListParser<'a> {
    s: &'a str,
    pos: usize,
    base: usize,
}

impl<'a> ListParser<'a> {
    fn span(&self, a: usize, b: usize) -> Span {
        Span::new(self.base + a, self.base + b)
    }

    /// An error over `a..b`, clamped to the token (at least one byte when the token has one).
    fn err(&self, a: usize, b: usize, m: impl Into<String>) -> ParseError {
        let len = self.s.len();
        let a = a.min(len);
        let mut b = b.clamp(a, len);
        if a == b && a < len {
            b = a + 1;
        }
        ParseError::new(self.span(a, b), m)
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// An atom: up to `,`, `]`, whitespace or end.
    fn atom(&mut self) -> (usize, &'a str) {
        let s: &'a str = self.s;
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| !matches!(c, b',' | b']' | b'[') && !c.is_ascii_whitespace())
        {
            self.pos += 1;
        }
        (start, &s[start..self.pos])
    }

    fn list_items<T>(
        &mut self,
        depth: usize,
        mut item: impl FnMut(&mut Self, usize) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        let open = self.pos;
        self.pos += 1; // '['
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            items.push(item(self, depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(items);
                }
                _ => return Err(self.err(open, self.pos, "unterminated `[` list")),
            }
        }
    }

    fn addr(&mut self, depth: usize) -> Result<AddrExpr, ParseError> {
        if depth > MAX_NESTING {
            return Err(self.err(self.pos, self.pos + 1, "address nested too deeply"));
        }
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some(b'!') => {
                self.pos += 1;
                let inner = self.addr(depth + 1)?;
                Ok(AddrExpr::Not(self.span(start, self.pos), Box::new(inner)))
            }
            Some(b'[') => {
                let items = self.list_items(depth, |p, d| p.addr(d))?;
                Ok(AddrExpr::List(self.span(start, self.pos), items))
            }
            _ => {
                let (a, t) = self.atom();
                let span = self.span(a, self.pos);
                if t.is_empty() {
                    return Err(self.err(a, a + 1, "expected an address"));
                }
                if t == "any" {
                    return Ok(AddrExpr::Any(span));
                }
                if let Some(v) = t.strip_prefix('$') {
                    if !valid_var(v) {
                        return Err(self.err(a, self.pos, format!("invalid variable `{t}`")));
                    }
                    return Ok(AddrExpr::Var(span, v.to_string()));
                }
                parse_net(t)
                    .map(|n| match n {
                        Net::Cidr(ip, p) => AddrExpr::Net(span, ip, p),
                        Net::Range(x, y) => AddrExpr::Range(span, x, y),
                    })
                    .map_err(|m| self.err(a, self.pos, m))
            }
        }
    }

    fn port(&mut self, depth: usize) -> Result<PortExpr, ParseError> {
        if depth > MAX_NESTING {
            return Err(self.err(self.pos, self.pos + 1, "port nested too deeply"));
        }
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some(b'!') => {
                self.pos += 1;
                let inner = self.port(depth + 1)?;
                Ok(PortExpr::Not(self.span(start, self.pos), Box::new(inner)))
            }
            Some(b'[') => {
                let items = self.list_items(depth, |p, d| p.port(d))?;
                Ok(PortExpr::List(self.span(start, self.pos), items))
            }
            _ => {
                let (a, t) = self.atom();
                let span = self.span(a, self.pos);
                if t.is_empty() {
                    return Err(self.err(a, a + 1, "expected a port"));
                }
                if t == "any" {
                    return Ok(PortExpr::Any(span));
                }
                if let Some(v) = t.strip_prefix('$') {
                    if !valid_var(v) {
                        return Err(self.err(a, self.pos, format!("invalid variable `{t}`")));
                    }
                    return Ok(PortExpr::Var(span, v.to_string()));
                }
                let num = |s: &str| -> Result<Option<u16>, String> {
                    if s.is_empty() {
                        return Ok(None);
                    }
                    s.parse::<u16>()
                        .map(Some)
                        .map_err(|_| format!("invalid port `{s}` (0-65535)"))
                };
                if let Some((lo, hi)) = t.split_once(':') {
                    let (lo, hi) = (num(lo), num(hi));
                    let (lo, hi) = (
                        lo.map_err(|m| self.err(a, self.pos, m))?,
                        hi.map_err(|m| self.err(a, self.pos, m))?,
                    );
                    if lo.is_none() && hi.is_none() {
                        return Err(self.err(a, self.pos, "empty port range `:`"));
                    }
                    if let (Some(l), Some(h)) = (lo, hi) {
                        if l > h {
                            return Err(self.err(
                                a,
                                self.pos,
                                format!("port range `{t}` is reversed"),
                            ));
                        }
                    }
                    Ok(PortExpr::Range(span, lo, hi))
                } else {
                    match num(t).map_err(|m| self.err(a, self.pos, m))? {
                        Some(p) => Ok(PortExpr::Port(span, p)),
                        None => Err(self.err(a, self.pos, "expected a port")),
                    }
                }
            }
        }
    }
}

fn valid_var(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

enum Net {
    Cidr(IpAddr, Option<u8>),
    Range(IpAddr, IpAddr),
}

fn parse_net(t: &str) -> Result<Net, String> {
    if let Some((ip, pfx)) = t.split_once('/') {
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("invalid IP address `{ip}`"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if let Ok(p) = pfx.parse::<u8>() {
            if p > max {
                return Err(format!("prefix length {p} exceeds {max}"));
            }
            return Ok(Net::Cidr(ip, Some(p)));
        }
        // Dotted netmask, IPv4 only.
        if let (IpAddr::V4(_), Ok(mask)) = (ip, pfx.parse::<Ipv4Addr>()) {
            let m = u32::from(mask);
            if m.leading_ones() + m.trailing_zeros() == 32 {
                return Ok(Net::Cidr(ip, Some(m.leading_ones() as u8)));
            }
            return Err(format!("netmask `{pfx}` is not contiguous"));
        }
        return Err(format!("invalid prefix length `{pfx}`"));
    }
    if let Some((a, b)) = t.split_once('-') {
        let a: IpAddr = a.parse().map_err(|_| format!("invalid IP address `{a}`"))?;
        let b: IpAddr = b.parse().map_err(|_| format!("invalid IP address `{b}`"))?;
        if a.is_ipv4() != b.is_ipv4() || a > b {
            return Err(format!("invalid address range `{t}`"));
        }
        return Ok(Net::Range(a, b));
    }
    t.parse::<IpAddr>()
        .map(|ip| Net::Cidr(ip, None))
        .map_err(|_| format!("invalid address `{t}`"))
}
