//! Keyword semantics: AST options → typed, validated [`ir::Rule`](crate::ir::Rule).
//!
//! Grouped by family like Suricata's keyword table: [`meta`], [`payload`] (content and its
//! modifiers, pcre, byte keywords), [`flow`], [`header`], [`threshold`], transforms and
//! sticky buffers (through [`crate::ir::Buffer`]), app-layer state. A keyword not
//! implemented here makes [`lower`] fail with [`LowerErrorKind::Unsupported`], so a rule is
//! never loaded with part of its meaning silently dropped.

pub mod file;
pub mod flow;
pub mod header;
pub mod meta;
pub mod payload;
pub mod threshold;
pub mod uint;

use crate::ast::{self, RuleOption};
use crate::config::Classifications;
use crate::ir::{
    self, AppMatch, Buffer, BufferList, Content, FastPattern, Match, Meta, Proto, Tag, Transform,
    Value,
};
use crate::span::Span;
use crate::vars::Vars;
use thiserror::Error;

/// Result of one keyword's value parser.
pub type KwResult<T> = Result<T, String>;

/// Why a parsed rule cannot be loaded.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{kind}")]
pub struct LowerError {
    /// Offending part of the rule text.
    pub span: Span,
    /// What is wrong.
    pub kind: LowerErrorKind,
}

/// Skipped (a keyword we do not implement) vs failed (the rule is wrong).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum LowerErrorKind {
    /// A keyword this engine does not implement; the rule is skipped.
    #[error("unsupported keyword `{0}`")]
    Unsupported(String),
    /// The rule is invalid.
    #[error("{0}")]
    Invalid(String),
}

/// What lowering needs besides the rule.
#[derive(Clone, Copy, Debug)]
pub struct LowerCtx<'a> {
    /// Address and port groups.
    pub vars: &'a Vars,
    /// `classification.config`, when loaded: classtypes are checked and give priorities.
    pub classes: Option<&'a Classifications>,
    /// The rules are validated, not run: `pcre` expressions are compiled without PCRE2's JIT
    /// (whose machine code is most of a compiled expression's memory) and not kept.
    pub validate_only: bool,
    /// Directory of the rule file: relative paths of keyword files (`filemd5` lists) start
    /// there; `None`: the working directory.
    pub rule_dir: Option<&'a std::path::Path>,
}

/// Splits a keyword value on commas, trimming each part.
pub fn split_args(v: &str) -> Vec<&str> {
    v.split(',').map(str::trim).collect()
}

/// Strips quotes and unescapes `\"`, `\;`, `\\`, `\:` (values such as `msg`).
pub fn unquote(v: &str) -> KwResult<String> {
    let v = v.trim();
    let inner = v
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| v.len() >= 2)
        .ok_or_else(|| format!("`{v}` must be quoted"))?;
    let mut out = String::with_capacity(inner.len());
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some(e) => out.push(e),
                None => return Err("value ends with a lone `\\`".into()),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Keywords accepted for compatibility that change nothing in this engine's matching.
const NO_OP: &[&str] = &["rawbytes"];

struct Lowering<'a> {
    rule: ir::Rule,
    /// Index in `rule.lists` of the active sticky buffer, `None` for the payload.
    cur: Option<usize>,
    /// `(list, match)` of the last content, for its modifiers.
    last_content: Option<(usize, usize)>,
    /// byte_extract/byte_math variables defined so far.
    vars: Vec<String>,
    fast_pattern_seen: bool,
    sid: Option<u32>,
    priority: Option<u8>,
    ctx: LowerCtx<'a>,
}

/// Gives meaning to every option of `r`.
pub fn lower(r: &ast::Rule, ctx: LowerCtx<'_>) -> Result<ir::Rule, LowerError> {
    let invalid = |span, m: String| LowerError {
        span,
        kind: LowerErrorKind::Invalid(m),
    };
    let proto = Proto::from_name(&r.proto.0)
        .ok_or_else(|| invalid(r.proto.1, format!("unknown protocol `{}`", r.proto.0)))?;
    let src = ctx
        .vars
        .resolve_addr(&r.src)
        .map_err(|m| invalid(r.src.span(), m))?;
    let dst = ctx
        .vars
        .resolve_addr(&r.dst)
        .map_err(|m| invalid(r.dst.span(), m))?;
    let src_ports = ctx
        .vars
        .resolve_port(&r.src_ports)
        .map_err(|m| invalid(r.src_ports.span(), m))?;
    let dst_ports = ctx
        .vars
        .resolve_port(&r.dst_ports)
        .map_err(|m| invalid(r.dst_ports.span(), m))?;
    let mut l = Lowering {
        rule: ir::Rule {
            gid: 1,
            sid: 0,
            rev: 0,
            action: r.action.0,
            proto,
            src,
            src_ports,
            direction: r.direction.0,
            dst,
            dst_ports,
            meta: Meta::default(),
            lists: Vec::new(),
            dsize: None,
            flow: None,
            flowbits: Vec::new(),
            xbits: Vec::new(),
            flowints: Vec::new(),
            stream_size: None,
            header: Vec::new(),
            threshold: None,
            detection_filter: None,
            decode_events: Vec::new(),
            app: Vec::new(),
            tags: Vec::new(),
            noalert: false,
            bypass: false,
            prefilter_hint: false,
            suppress: Vec::new(),
            rate_filter: None,
        },
        cur: None,
        last_content: None,
        vars: Vec::new(),
        fast_pattern_seen: false,
        sid: None,
        priority: None,
        ctx,
    };
    for o in &r.options {
        l.option(o)
            .map_err(|kind| LowerError { span: o.span, kind })?;
    }
    l.finish(r)
}

/// One option of a rule: its keyword and value, with the checks every keyword shares.
#[derive(Clone, Copy)]
struct Opt<'a> {
    name: &'a str,
    v: Option<&'a str>,
}

impl<'a> Opt<'a> {
    /// The value, which the keyword requires.
    fn need(self) -> Result<&'a str, LowerErrorKind> {
        self.v
            .ok_or_else(|| inv(format!("`{}` needs a value", self.name)))
    }

    /// Refuses a value the keyword does not take.
    fn no_value(self) -> Result<(), LowerErrorKind> {
        match self.v {
            Some(_) => Err(inv(format!("`{}` takes no value", self.name))),
            None => Ok(()),
        }
    }
}

fn inv(m: String) -> LowerErrorKind {
    LowerErrorKind::Invalid(m)
}

impl Lowering<'_> {
    /// The untransformed list of `buffer`, created on first use.
    fn list(&mut self, buffer: Buffer) -> usize {
        self.list_dir(buffer, None)
    }

    /// The untransformed list of `buffer` restricted to `dir` (transactional rules).
    fn list_dir(&mut self, buffer: Buffer, dir: Option<vocab::Direction>) -> usize {
        if let Some(i) = self
            .rule
            .lists
            .iter()
            .position(|l| l.buffer == buffer && l.transforms.is_empty() && l.dir == dir)
        {
            return i;
        }
        self.rule.lists.push(BufferList {
            buffer,
            transforms: Vec::new(),
            dir,
            matches: Vec::new(),
        });
        self.rule.lists.len() - 1
    }

    fn cur_list(&mut self) -> usize {
        match self.cur {
            Some(i) => i,
            None => self.list(Buffer::Payload),
        }
    }

    fn push(&mut self, m: Match) -> (usize, usize) {
        // Like Suricata, a relative keyword without an active sticky buffer follows the
        // previous content into the list a legacy modifier (`http_uri`, ...) moved it to.
        let relative = match &m {
            Match::Pcre(p) => p.relative,
            Match::ByteTest { opts, .. }
            | Match::ByteJump { opts, .. }
            | Match::ByteExtract { opts, .. }
            | Match::ByteMath { opts, .. } => opts.relative,
            Match::IsDataAt { relative, .. } => *relative,
            _ => false,
        };
        let li = match (self.cur, self.last_content) {
            (None, Some((li, _))) if relative => li,
            _ => self.cur_list(),
        };
        self.rule.lists[li].matches.push(m);
        (li, self.rule.lists[li].matches.len() - 1)
    }

    fn last_content(&mut self, kw: &str) -> Result<&mut Content, String> {
        let (li, mi) = self
            .last_content
            .ok_or_else(|| format!("`{kw}` needs a preceding content"))?;
        match &mut self.rule.lists[li].matches[mi] {
            Match::Content(c) => Ok(c),
            _ => Err(format!("`{kw}` needs a preceding content")),
        }
    }

    fn option(&mut self, o: &RuleOption) -> Result<(), LowerErrorKind> {
        let o = Opt {
            name: o.name.as_str(),
            v: o.value.as_ref().map(|v| v.0.as_str()),
        };
        // Each group answers `false` for a keyword it does not know; every keyword belongs to
        // one group only, so the order matters for the catch-alls at the end alone.
        if self.meta_option(o)?
            || self.content_option(o)?
            || self.payload_option(o)?
            || self.flow_option(o)?
            || self.app_option(o)?
        {
            return Ok(());
        }
        if NO_OP.contains(&o.name) {
            if o.name == "rawbytes" {
                self.last_content(o.name).map_err(inv)?.rawbytes = true;
            }
            return Ok(());
        }
        self.buffer_option(o)
    }

    /// Meta keywords (`msg`, `sid`, `classtype`, ...); `false` when `o` is none of them.
    fn meta_option(&mut self, o: Opt<'_>) -> Result<bool, LowerErrorKind> {
        let Opt { name, .. } = o;
        match name {
            "msg" => self.rule.meta.msg = meta::msg(o.need()?).map_err(inv)?,
            "sid" => {
                if self.sid.is_some() {
                    return Err(inv("duplicate `sid`".into()));
                }
                let s = meta::id(o.need()?, "sid").map_err(inv)?;
                if s == 0 {
                    return Err(inv("sid 0 is reserved".into()));
                }
                self.sid = Some(s);
            }
            "rev" => self.rule.rev = meta::id(o.need()?, "rev").map_err(inv)?,
            "gid" => self.rule.gid = meta::id(o.need()?, "gid").map_err(inv)?,
            "classtype" => {
                let c = meta::classtype(o.need()?).map_err(inv)?;
                if let Some(classes) = self.ctx.classes {
                    if classes.get(&c).is_none() {
                        return Err(inv(format!("unknown classtype `{c}`")));
                    }
                }
                self.rule.meta.classtype = Some(c);
            }
            "priority" => self.priority = Some(meta::priority(o.need()?).map_err(inv)?),
            "reference" => self
                .rule
                .meta
                .references
                .push(meta::reference(o.need()?).map_err(inv)?),
            "metadata" => self
                .rule
                .meta
                .metadata
                .extend(meta::metadata(o.need()?).map_err(inv)?),
            "target" => self.rule.meta.target = Some(meta::target(o.need()?).map_err(inv)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `content` and its modifiers, and the legacy TLS strings; `false` when `o` is none of them.
    fn content_option(&mut self, o: Opt<'_>) -> Result<bool, LowerErrorKind> {
        let Opt { name, v } = o;
        match name {
            "content" | "uricontent" => {
                let c = payload::content(o.need()?).map_err(inv)?;
                if name == "uricontent" {
                    let saved = self.cur;
                    self.cur = Some(self.list(Buffer::HttpUri));
                    self.last_content = Some(self.push(Match::Content(c)));
                    self.cur = saved;
                } else {
                    self.last_content = Some(self.push(Match::Content(c)));
                }
            }
            // Legacy TLS keywords: a substring of one certificate field, in its own buffer
            // (not a content: `nocase` and friends do not apply to it).
            "tls.subject" | "tls.issuerdn" | "tls.fingerprint" => {
                let c = payload::legacy_string(o.need()?).map_err(inv)?;
                let buffer = match name {
                    "tls.subject" => Buffer::TlsCertSubject,
                    "tls.issuerdn" => Buffer::TlsCertIssuer,
                    _ => Buffer::TlsCertFingerprint,
                };
                let saved = self.cur;
                self.cur = Some(self.list(buffer));
                self.push(Match::Content(c));
                self.cur = saved;
                self.last_content = None;
            }
            "nocase" => {
                o.no_value()?;
                let c = self.last_content(name).map_err(inv)?;
                if c.nocase {
                    return Err(inv("duplicate `nocase`".into()));
                }
                c.nocase = true;
            }
            "offset" | "depth" | "distance" | "within" => {
                let val = payload::modifier_value(o.need()?, &self.vars, name == "distance")
                    .map_err(inv)?;
                let c = self.last_content(name).map_err(inv)?;
                let slot = match name {
                    "offset" => &mut c.offset,
                    "depth" => &mut c.depth,
                    "distance" => &mut c.distance,
                    _ => &mut c.within,
                };
                if slot.is_some() {
                    return Err(inv(format!("duplicate `{name}`")));
                }
                *slot = Some(val.clone());
                if (c.offset.is_some() || c.depth.is_some()) && c.is_relative() {
                    return Err(inv(
                        "a content cannot mix absolute (offset/depth) and relative (distance/within) modifiers".into(),
                    ));
                }
                if c.startswith && name != "depth" {
                    return Err(inv(format!("`{name}` conflicts with `startswith`")));
                }
                let len = c.pattern.len() as i64;
                if let Value::Lit(n) = val {
                    if (name == "depth" || name == "within") && n < len {
                        return Err(inv(format!(
                            "`{name}:{n}` is shorter than the content ({len} bytes)"
                        )));
                    }
                }
            }
            "startswith" | "endswith" => {
                o.no_value()?;
                let c = self.last_content(name).map_err(inv)?;
                if name == "startswith" {
                    if c.offset.is_some() || c.depth.is_some() || c.is_relative() {
                        return Err(inv(
                            "`startswith` conflicts with offset/depth/distance/within".into(),
                        ));
                    }
                    c.startswith = true;
                } else {
                    c.endswith = true;
                }
            }
            "fast_pattern" => {
                if self.fast_pattern_seen {
                    return Err(inv("`fast_pattern` used on two contents".into()));
                }
                self.fast_pattern_seen = true;
                let fp = match v.map(str::trim) {
                    None => FastPattern {
                        only: false,
                        chop: None,
                    },
                    Some("only") => FastPattern {
                        only: true,
                        chop: None,
                    },
                    Some(x) => {
                        let (a, b) = x
                            .split_once(',')
                            .ok_or_else(|| inv(format!("invalid fast_pattern `{x}`")))?;
                        let p = |s: &str| {
                            s.trim()
                                .parse::<u16>()
                                .map_err(|_| inv(format!("invalid fast_pattern `{x}`")))
                        };
                        FastPattern {
                            only: false,
                            chop: Some((p(a)?, p(b)?)),
                        }
                    }
                };
                let c = self.last_content(name).map_err(inv)?;
                if let Some((off, len)) = fp.chop {
                    if len == 0 || usize::from(off) + usize::from(len) > c.pattern.len() {
                        return Err(inv("fast_pattern chop is outside the content".into()));
                    }
                }
                if fp.only
                    && (c.negated || c.is_relative() || c.offset.is_some() || c.depth.is_some())
                {
                    return Err(inv(
                        "fast_pattern:only on a negated or positioned content".into()
                    ));
                }
                c.fast_pattern = Some(fp);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Payload keywords other than `content` (`pcre`, the byte keywords, sizes); `false` when `o` is none of them.
    fn payload_option(&mut self, o: Opt<'_>) -> Result<bool, LowerErrorKind> {
        let Opt { name, v } = o;
        match name {
            "pcre" => {
                let (p, buf) = payload::pcre(o.need()?, !self.ctx.validate_only).map_err(|m| {
                    if let Some(f) = m.strip_prefix("unsupported pcre flag `") {
                        LowerErrorKind::Unsupported(format!("pcre:{}", f.trim_end_matches('`')))
                    } else {
                        inv(m)
                    }
                })?;
                match buf {
                    Some(b) => {
                        // Like Suricata: a buffer flag must agree with the active sticky buffer.
                        if let Some(ci) = self.cur {
                            let active = self.rule.lists[ci].buffer;
                            // `Q` (server body) also fits `file.data`, which is the response
                            // body in HTTP.
                            let compatible = active == b
                                || (b == Buffer::HttpResponseBody && active == Buffer::FileData);
                            if !compatible {
                                return Err(inv(format!(
                                    "pcre buffer flag selects `{}` while `{}` is active",
                                    b.keyword(),
                                    self.rule.lists[ci].buffer.keyword()
                                )));
                            }
                            self.rule.lists[ci].matches.push(Match::Pcre(p));
                        } else {
                            let li = self.list(b);
                            self.rule.lists[li].matches.push(Match::Pcre(p));
                        }
                    }
                    None => {
                        self.push(Match::Pcre(p));
                    }
                }
            }
            "byte_test" => {
                let m = payload::byte_test(o.need()?, &self.vars).map_err(inv)?;
                self.push(m);
            }
            "byte_jump" => {
                let m = payload::byte_jump(o.need()?, &self.vars).map_err(inv)?;
                self.push(m);
            }
            "byte_extract" | "byte_math" => {
                let m = if name == "byte_extract" {
                    payload::byte_extract(o.need()?, &self.vars)
                } else {
                    payload::byte_math(o.need()?, &self.vars)
                }
                .map_err(inv)?;
                let var = match &m {
                    Match::ByteExtract { name, .. } => name.clone(),
                    Match::ByteMath { result, .. } => result.clone(),
                    _ => String::new(),
                };
                if self.vars.contains(&var) {
                    return Err(inv(format!("variable `{var}` defined twice")));
                }
                self.vars.push(var);
                self.push(m);
            }
            "isdataat" => {
                let m = payload::isdataat(o.need()?, &self.vars).map_err(inv)?;
                self.push(m);
            }
            "dsize" => {
                if self.rule.dsize.is_some() {
                    return Err(inv("duplicate `dsize`".into()));
                }
                self.rule.dsize = Some(uint::parse_cmp(o.need()?, 65535).map_err(inv)?);
            }
            "bsize" => {
                let cmp = uint::parse_cmp(o.need()?, u64::from(u32::MAX)).map_err(inv)?;
                let li = self
                    .cur
                    .ok_or_else(|| inv("`bsize` needs a sticky buffer".into()))?;
                self.rule.lists[li].matches.push(Match::Bsize(cmp));
            }
            "urilen" => {
                let val = o.need()?;
                let (n, kind) = val.split_once(',').unwrap_or((val, "norm"));
                let buf = match kind.trim() {
                    "norm" => Buffer::HttpUri,
                    "raw" => Buffer::HttpUriRaw,
                    o => return Err(inv(format!("unknown urilen option `{o}`"))),
                };
                let cmp = uint::parse_cmp(n, 65535).map_err(inv)?;
                let li = self.list(buf);
                self.rule.lists[li].matches.push(Match::Bsize(cmp));
            }
            "base64_decode" => {
                let m = payload::base64_decode(v).map_err(inv)?;
                self.push(m);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Flow state, DNS header fields and thresholds; `false` when `o` is none of them.
    fn flow_option(&mut self, o: Opt<'_>) -> Result<bool, LowerErrorKind> {
        let Opt { name, .. } = o;
        match name {
            "flow" => {
                if self.rule.flow.is_some() {
                    return Err(inv("duplicate `flow`".into()));
                }
                self.rule.flow = Some(flow::flow(o.need()?).map_err(inv)?);
            }
            "flowbits" => match flow::flowbits(o.need()?).map_err(inv)? {
                Some(fb) => self.rule.flowbits.push(fb),
                None => self.rule.noalert = true,
            },
            "xbits" => self.rule.xbits.push(flow::xbits(o.need()?).map_err(inv)?),
            "flowint" => self
                .rule
                .flowints
                .push(flow::flowint(o.need()?).map_err(inv)?),
            "stream_size" => {
                self.rule.stream_size = Some(flow::stream_size(o.need()?).map_err(inv)?)
            }
            "noalert" => {
                o.no_value()?;
                self.rule.noalert = true;
            }
            "prefilter" => {
                o.no_value()?;
                self.rule.prefilter_hint = true;
            }
            "bypass" => {
                o.no_value()?;
                self.rule.bypass = true;
            }
            "dns.opcode" => self.rule.app.push(AppMatch::DnsOpcode(
                uint::parse_cmp(o.need()?, 15).map_err(inv)?,
            )),
            "dns.rcode" => self.rule.app.push(AppMatch::DnsRcode(
                uint::parse_cmp(o.need()?, 4095).map_err(inv)?,
            )),
            "dns.rrtype" => {
                let val = o.need()?;
                let (t, idx) = val.split_once(',').unwrap_or((val, "all"));
                let index = match idx.trim() {
                    "all" => None,
                    i => Some(
                        i.parse::<i32>()
                            .map_err(|_| inv(format!("invalid dns.rrtype index `{i}`")))?,
                    ),
                };
                self.rule.app.push(AppMatch::DnsRrtype {
                    cmp: uint::parse_cmp(t, 65535).map_err(inv)?,
                    index,
                });
            }

            // ---- thresholds
            "threshold" => {
                self.rule.threshold = Some(threshold::threshold(o.need()?, true).map_err(inv)?)
            }
            "detection_filter" => {
                self.rule.detection_filter =
                    Some(threshold::threshold(o.need()?, false).map_err(inv)?)
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Decoder and app-layer events, app-layer protocol and TLS state, `tag`; `false` when `o` is none of them.
    fn app_option(&mut self, o: Opt<'_>) -> Result<bool, LowerErrorKind> {
        let Opt { name, .. } = o;
        match name {
            "decode-event" => {
                let e = o.need()?.trim();
                if !e.contains('.') || e.contains(char::is_whitespace) {
                    return Err(inv(format!("invalid decode-event `{e}`")));
                }
                self.rule.decode_events.push(e.to_string());
            }
            "filename" => {
                let m = file::filename(o.need()?).map_err(inv)?;
                self.rule.app.push(AppMatch::File(m));
            }
            "fileext" => {
                let m = file::fileext(o.need()?).map_err(inv)?;
                self.rule.app.push(AppMatch::File(m));
            }
            "filesize" => {
                let m = file::filesize(o.need()?).map_err(inv)?;
                self.rule.app.push(AppMatch::File(m));
            }
            "filemd5" | "filesha1" | "filesha256" => {
                let kind = match name {
                    "filemd5" => ir::HashKind::Md5,
                    "filesha1" => ir::HashKind::Sha1,
                    _ => ir::HashKind::Sha256,
                };
                let m = file::filehash(o.need()?, kind, self.ctx.rule_dir).map_err(inv)?;
                self.rule.app.push(AppMatch::File(m));
            }
            "filestore" => {
                // `filestore[:dir,scope]`: accepted; contents are not stored.
                self.rule.app.push(AppMatch::File(ir::FileMatch::Store));
            }
            "app-layer-event" => {
                let e = o.need()?.trim();
                if !e.contains('.') || e.contains(char::is_whitespace) {
                    return Err(inv(format!("invalid app-layer-event `{e}`")));
                }
                self.rule.app.push(AppMatch::Event(e.to_string()));
            }
            "app-layer-protocol" => {
                let val = o.need()?.trim();
                let first = split_args(val)[0];
                let (negated, p) = first
                    .strip_prefix('!')
                    .map_or((false, first), |r| (true, r));
                if Proto::from_name(p).is_none() && !matches!(p, "failed" | "unknown") {
                    return Err(inv(format!("unknown app-layer protocol `{p}`")));
                }
                self.rule.app.push(AppMatch::Protocol {
                    negated,
                    name: p.to_string(),
                });
            }
            "ssl_version" => {
                let vs: Vec<String> = split_args(o.need()?)
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                for s in &vs {
                    let s = s.trim_start_matches('!');
                    if !matches!(
                        s,
                        "sslv2" | "sslv3" | "tls1.0" | "tls1.1" | "tls1.2" | "tls1.3"
                    ) {
                        return Err(inv(format!("unknown ssl_version `{s}`")));
                    }
                }
                self.rule.app.push(AppMatch::SslVersion(vs));
            }
            "ssl_state" => {
                let s = o.need()?.trim();
                for part in s.split([',', '|']) {
                    let p = part.trim().trim_start_matches('!');
                    if !matches!(
                        p,
                        "client_hello" | "server_hello" | "client_keyx" | "server_keyx" | "unknown"
                    ) {
                        return Err(inv(format!("unknown ssl_state `{p}`")));
                    }
                }
                self.rule.app.push(AppMatch::SslState(s.to_string()));
            }
            "tls.version" => {
                let s = o.need()?.trim().trim_matches('"');
                if !matches!(
                    s,
                    "1.0" | "1.1" | "1.2" | "1.3" | "1" | "0x0303" | "0x0302" | "0x0301" | "0x0300"
                ) {
                    return Err(inv(format!("unknown tls.version `{s}`")));
                }
                self.rule.app.push(AppMatch::TlsVersion(s.to_string()));
            }
            "ftp.dynamic_port" => self.rule.app.push(AppMatch::FtpDynamicPort(
                uint::parse_cmp(o.need()?, 65535).map_err(inv)?,
            )),
            "ftp.mode" => {
                let active = match o.need()?.trim() {
                    "active" => true,
                    "passive" => false,
                    m => return Err(inv(format!("ftp.mode is `active` or `passive`, not `{m}`"))),
                };
                self.rule.app.push(AppMatch::FtpMode { active });
            }
            "ftp.reply_received" => {
                let yes = match o.need()?.trim() {
                    "yes" | "on" | "true" => true,
                    "no" | "off" | "false" => false,
                    v => {
                        return Err(inv(format!(
                            "ftp.reply_received is `yes` or `no`, not `{v}`"
                        )))
                    }
                };
                self.rule.app.push(AppMatch::FtpReplyReceived(yes));
            }
            "ftpdata_command" => {
                let stor = match o.need()?.trim() {
                    c if c.eq_ignore_ascii_case("stor") => true,
                    c if c.eq_ignore_ascii_case("retr") => false,
                    c => {
                        return Err(inv(format!(
                            "ftpdata_command is `retr` or `stor`, not `{c}`"
                        )))
                    }
                };
                self.rule.app.push(AppMatch::FtpdataCommand { stor });
            }
            "ftpbounce" => {
                o.no_value()?;
                self.rule.app.push(AppMatch::FtpBounce);
            }
            "tag" => {
                let a = split_args(o.need()?);
                let kind = a[0];
                if !matches!(kind, "session" | "host") {
                    return Err(inv(format!("unknown tag type `{kind}`")));
                }
                let count = a
                    .get(1)
                    .map_or(Ok(256), |c| c.parse::<u32>())
                    .map_err(|_| inv("invalid tag count".into()))?;
                let metric = a.get(2).copied().unwrap_or("packets");
                if !matches!(metric, "packets" | "seconds" | "bytes") {
                    return Err(inv(format!("unknown tag metric `{metric}`")));
                }
                self.rule.tags.push(Tag {
                    kind: kind.to_string(),
                    count,
                    metric: metric.to_string(),
                });
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Everything else: header keywords, transforms, sticky buffers and legacy content
    /// modifiers; unsupported when none of them.
    fn buffer_option(&mut self, o: Opt<'_>) -> Result<(), LowerErrorKind> {
        let Opt { name, v } = o;
        if let Some(h) = header::header(name, v) {
            self.rule.header.push(h.map_err(inv)?);
        } else if let Some(t) = Transform::from_keyword(name) {
            o.no_value()?;
            let li = self
                .cur
                .filter(|&i| self.rule.lists[i].buffer != Buffer::Payload)
                .ok_or_else(|| inv(format!("transform `{name}` needs a sticky buffer")))?;
            if self.rule.lists[li].matches.is_empty() {
                self.rule.lists[li].transforms.push(t);
            } else {
                // A transform after matches starts a new instance of the buffer: the
                // earlier matches keep inspecting the untransformed data.
                let mut transforms = self.rule.lists[li].transforms.clone();
                transforms.push(t);
                let buffer = self.rule.lists[li].buffer;
                let dir = self.rule.lists[li].dir;
                self.rule.lists.push(BufferList {
                    buffer,
                    transforms,
                    dir,
                    matches: Vec::new(),
                });
                self.cur = Some(self.rule.lists.len() - 1);
            }
        } else if let Some(b) = Buffer::from_sticky(name) {
            // Suricata 8: `buffer: to_client` picks one direction of a transaction.
            let dir = match v.map(str::trim) {
                None => None,
                Some(d) => Some(vocab::Direction::parse(d).ok_or_else(|| {
                    inv(format!(
                        "`{name}` takes no value or `to_client`/`to_server`, not `{d}`"
                    ))
                })?),
            };
            if b == Buffer::Payload {
                self.cur = None;
            } else {
                let li = self.list_dir(b, dir);
                // Transforms apply per use of the buffer; reusing a transformed
                // buffer later would need a second list.
                self.cur = Some(li);
            }
        } else if let Some(b) = Buffer::from_modifier(name) {
            o.no_value()?;
            if self.cur.is_some() {
                return Err(inv(format!(
                    "content modifier `{name}` after a sticky buffer"
                )));
            }
            let (li, mi) = self
                .last_content
                .ok_or_else(|| inv(format!("`{name}` needs a preceding content")))?;
            if self.rule.lists[li].buffer != Buffer::Payload
                || mi + 1 != self.rule.lists[li].matches.len()
            {
                return Err(inv(format!(
                    "`{name}` must directly follow a payload content"
                )));
            }
            let m = self.rule.lists[li].matches.remove(mi);
            if self.rule.lists[li].matches.is_empty() {
                self.rule.lists.remove(li);
            }
            let target = self.list(b);
            self.rule.lists[target].matches.push(m);
            self.last_content = Some((target, self.rule.lists[target].matches.len() - 1));
        } else {
            return Err(LowerErrorKind::Unsupported(name.to_string()));
        }
        Ok(())
    }

    fn finish(mut self, r: &ast::Rule) -> Result<ir::Rule, LowerError> {
        let invalid = |m: String| LowerError {
            span: r.span,
            kind: LowerErrorKind::Invalid(m),
        };
        self.rule.sid = self
            .sid
            .ok_or_else(|| invalid("rule has no `sid`".into()))?;
        self.rule.meta.priority = self
            .priority
            .or_else(|| {
                let c = self.rule.meta.classtype.as_deref()?;
                self.ctx.classes?.get(c).map(|c| c.priority)
            })
            .unwrap_or(3);
        // An empty sticky buffer inspects nothing: Suricata refuses such rules.
        if let Some(l) = self.rule.lists.iter().find(|l| l.matches.is_empty()) {
            return Err(invalid(format!(
                "buffer `{}` has no match",
                l.buffer.keyword()
            )));
        }
        // Buffers of one app-layer protocol only, and it must agree with the header.
        let mut app = match self.rule.proto {
            Proto::App(a) => Some(a),
            _ => None,
        };
        for l in &self.rule.lists {
            if let Some(p) = l.buffer.app_proto() {
                let same = |a: vocab::AppProto| {
                    a == p
                        || (p == vocab::AppProto::Http
                            && matches!(a, vocab::AppProto::Http1 | vocab::AppProto::Http2))
                };
                match app {
                    Some(a) if !same(a) => {
                        return Err(invalid(format!(
                            "buffer `{}` does not belong to protocol `{}`",
                            l.buffer.keyword(),
                            r.proto.0
                        )))
                    }
                    _ => app = Some(app.unwrap_or(p)),
                }
            }
        }
        Ok(self.rule)
    }
}

#[cfg(test)]
mod tests;
