//! The rule AST: what the text says, with a byte span on every node.
//!
//! The AST is syntax only: option values are kept as written (escapes included) and given
//! meaning by [`crate::keyword`]. `Display` prints a rule back in Suricata syntax, and
//! `parse(print(r))` equals `r` once spans are stripped ([`Rule::strip_spans`]).

use crate::span::Span;
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// What a matching rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Raise an alert.
    Alert,
    /// Stop inspecting the packet (or flow) and let it through.
    Pass,
    /// Drop the packet (IPS) and alert.
    Drop,
    /// Send a reset/ICMP unreachable to the source.
    Reject,
    /// Same as `reject`.
    RejectSrc,
    /// Reject towards the destination.
    RejectDst,
    /// Reject both ways.
    RejectBoth,
}

impl Action {
    /// Parses an action keyword.
    pub fn from_keyword(s: &str) -> Option<Self> {
        Some(match s {
            "alert" => Action::Alert,
            "pass" => Action::Pass,
            "drop" => Action::Drop,
            "reject" => Action::Reject,
            "rejectsrc" => Action::RejectSrc,
            "rejectdst" => Action::RejectDst,
            "rejectboth" => Action::RejectBoth,
            _ => return None,
        })
    }

    /// The keyword as written in rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Alert => "alert",
            Action::Pass => "pass",
            Action::Drop => "drop",
            Action::Reject => "reject",
            Action::RejectSrc => "rejectsrc",
            Action::RejectDst => "rejectdst",
            Action::RejectBoth => "rejectboth",
        }
    }
}

/// The rule header's arrow: `->`, `<>` or `=>` (which way the header's addresses are read;
/// not a flow direction, which is [`vocab::Direction`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Arrow {
    /// `->`: source to destination.
    To,
    /// `<>`: either way.
    Both,
    /// `=>`: a transactional rule (Suricata 8): the source is the client, and its matches
    /// may span both directions of one application-layer transaction.
    Transaction,
}

/// An address expression of the rule header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum AddrExpr {
    /// `any`.
    Any(Span),
    /// `$NAME` (name stored without `$`).
    Var(Span, String),
    /// A network: address and optional prefix length (`1.2.3.0/24`, `::1`; a dotted mask is
    /// turned into its prefix length).
    Net(Span, IpAddr, Option<u8>),
    /// `a-b`: an inclusive address range.
    Range(Span, IpAddr, IpAddr),
    /// `!expr`.
    Not(Span, Box<AddrExpr>),
    /// `[a, b, ...]`.
    List(Span, Vec<AddrExpr>),
}

/// A port expression of the rule header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum PortExpr {
    /// `any`.
    Any(Span),
    /// `$NAME` (name stored without `$`).
    Var(Span, String),
    /// One port.
    Port(Span, u16),
    /// `lo:hi`, `lo:` or `:hi`.
    Range(Span, Option<u16>, Option<u16>),
    /// `!expr`.
    Not(Span, Box<PortExpr>),
    /// `[a, b, ...]`.
    List(Span, Vec<PortExpr>),
}

/// One `name[:value];` of the option list; the value is kept as written, trimmed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleOption {
    /// Span of the whole option, up to (not including) its `;`.
    pub span: Span,
    /// Keyword name.
    pub name: String,
    /// Span of the name.
    pub name_span: Span,
    /// Raw value (escapes kept) and its span.
    pub value: Option<(String, Span)>,
}

/// One rule as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Span of the whole rule in its logical text.
    pub span: Span,
    /// `false` for a commented-out rule (`# alert ...`).
    pub enabled: bool,
    /// Action and its span.
    pub action: (Action, Span),
    /// Protocol keyword as written (`tcp`, `http`, `tcp-pkt`, ...) and its span; checked by
    /// the keyword layer so unknown app-layer names get a proper diagnostic.
    pub proto: (String, Span),
    /// Source addresses.
    pub src: AddrExpr,
    /// Source ports.
    pub src_ports: PortExpr,
    /// Arrow and its span.
    pub direction: (Arrow, Span),
    /// Destination addresses.
    pub dst: AddrExpr,
    /// Destination ports.
    pub dst_ports: PortExpr,
    /// Options in order.
    pub options: Vec<RuleOption>,
}

impl Rule {
    /// Sets every span to the empty default so two parses of different texts compare by
    /// meaning only.
    pub fn strip_spans(&mut self) {
        self.span = Span::default();
        self.action.1 = Span::default();
        self.proto.1 = Span::default();
        self.direction.1 = Span::default();
        self.src.strip_spans();
        self.dst.strip_spans();
        self.src_ports.strip_spans();
        self.dst_ports.strip_spans();
        for o in &mut self.options {
            o.span = Span::default();
            o.name_span = Span::default();
            if let Some(v) = &mut o.value {
                v.1 = Span::default();
            }
        }
    }

    /// The first option named `name`.
    pub fn option(&self, name: &str) -> Option<&RuleOption> {
        self.options.iter().find(|o| o.name == name)
    }

    /// The `sid` option's value as a number, if present and numeric.
    pub fn sid(&self) -> Option<u32> {
        self.option("sid")?.value.as_ref()?.0.trim().parse().ok()
    }
}

impl AddrExpr {
    /// The node's span.
    pub fn span(&self) -> Span {
        match self {
            AddrExpr::Any(s)
            | AddrExpr::Var(s, _)
            | AddrExpr::Net(s, _, _)
            | AddrExpr::Range(s, _, _)
            | AddrExpr::Not(s, _)
            | AddrExpr::List(s, _) => *s,
        }
    }

    fn strip_spans(&mut self) {
        match self {
            AddrExpr::Any(s)
            | AddrExpr::Var(s, _)
            | AddrExpr::Net(s, _, _)
            | AddrExpr::Range(s, _, _) => *s = Span::default(),
            AddrExpr::Not(s, e) => {
                *s = Span::default();
                e.strip_spans();
            }
            AddrExpr::List(s, l) => {
                *s = Span::default();
                l.iter_mut().for_each(AddrExpr::strip_spans);
            }
        }
    }
}

impl PortExpr {
    /// The node's span.
    pub fn span(&self) -> Span {
        match self {
            PortExpr::Any(s)
            | PortExpr::Var(s, _)
            | PortExpr::Port(s, _)
            | PortExpr::Range(s, _, _)
            | PortExpr::Not(s, _)
            | PortExpr::List(s, _) => *s,
        }
    }

    fn strip_spans(&mut self) {
        match self {
            PortExpr::Any(s)
            | PortExpr::Var(s, _)
            | PortExpr::Port(s, _)
            | PortExpr::Range(s, _, _) => *s = Span::default(),
            PortExpr::Not(s, e) => {
                *s = Span::default();
                e.strip_spans();
            }
            PortExpr::List(s, l) => {
                *s = Span::default();
                l.iter_mut().for_each(PortExpr::strip_spans);
            }
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Arrow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arrow::To => "->",
            Arrow::Both => "<>",
            Arrow::Transaction => "=>",
        })
    }
}

impl fmt::Display for AddrExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrExpr::Any(_) => f.write_str("any"),
            AddrExpr::Var(_, v) => write!(f, "${v}"),
            AddrExpr::Net(_, a, None) => write!(f, "{a}"),
            AddrExpr::Net(_, a, Some(p)) => write!(f, "{a}/{p}"),
            AddrExpr::Range(_, a, b) => write!(f, "{a}-{b}"),
            AddrExpr::Not(_, e) => write!(f, "!{e}"),
            AddrExpr::List(_, l) => {
                f.write_str("[")?;
                for (i, e) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl fmt::Display for PortExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortExpr::Any(_) => f.write_str("any"),
            PortExpr::Var(_, v) => write!(f, "${v}"),
            PortExpr::Port(_, p) => write!(f, "{p}"),
            PortExpr::Range(_, lo, hi) => {
                if let Some(lo) = lo {
                    write!(f, "{lo}")?;
                }
                f.write_str(":")?;
                if let Some(hi) = hi {
                    write!(f, "{hi}")?;
                }
                Ok(())
            }
            PortExpr::Not(_, e) => write!(f, "!{e}"),
            PortExpr::List(_, l) => {
                f.write_str("[")?;
                for (i, e) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl fmt::Display for RuleOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some((v, _)) => write!(f, "{}:{};", self.name, v),
            None => write!(f, "{};", self.name),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.enabled {
            f.write_str("# ")?;
        }
        write!(
            f,
            "{} {} {} {} {} {} {} (",
            self.action.0,
            self.proto.0,
            self.src,
            self.src_ports,
            self.direction.0,
            self.dst,
            self.dst_ports
        )?;
        for (i, o) in self.options.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{o}")?;
        }
        f.write_str(")")
    }
}
