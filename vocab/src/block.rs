//! Block-list entries: what the control plane stores and the data plane's block table
//! matches. One entry blocks an address or network on one side of a packet (or either), or
//! one exact 5-tuple in both directions.
//!
//! Text forms (the console, the configuration file and the API all use them):
//! - a network: `192.0.2.7`, `198.51.100.0/24`, `2001:db8::/32` (host bits must be zero);
//! - a 5-tuple: `tcp 192.0.2.1:40000 -> 198.51.100.2:80`, IPv6 addresses in brackets
//!   (`udp [2001:db8::1]:53 -> [2001:db8::2]:5353`); the protocol by name (`tcp`, `udp`,
//!   `sctp`) or number.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// Which address of a packet an entry tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// The packet's source address.
    Src,
    /// The packet's destination address.
    Dst,
    /// Either address (both directions of the host's traffic).
    Either,
}

impl Side {
    /// Every side, in index order.
    pub const ALL: [Side; 3] = [Side::Src, Side::Dst, Side::Either];

    /// The name used in text and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Side::Src => "src",
            Side::Dst => "dst",
            Side::Either => "either",
        }
    }

    /// The side called `name`.
    pub fn from_name(name: &str) -> Option<Side> {
        Side::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Who made an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// A user through the API or `osprey ctl`.
    Api,
    /// An automated response playbook.
    Playbook,
    /// A threat-intelligence feed.
    Intel,
    /// The configuration file's `[blocklist]` entries.
    Config,
}

impl Origin {
    /// Every origin, in index order (counters are kept per origin in this order).
    pub const ALL: [Origin; 4] = [Origin::Api, Origin::Playbook, Origin::Intel, Origin::Config];

    /// The name used in text, JSON and counters.
    pub fn name(self) -> &'static str {
        match self {
            Origin::Api => "api",
            Origin::Playbook => "playbook",
            Origin::Intel => "intel",
            Origin::Config => "config",
        }
    }

    /// The origin called `name`.
    pub fn from_name(name: &str) -> Option<Origin> {
        Origin::ALL.into_iter().find(|o| o.name() == name)
    }

    /// Index in [`Origin::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// An IPv4 or IPv6 network: an address with host bits zero and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    /// The network `addr/len`; refused when `len` is too long or host bits are set.
    pub fn new(addr: IpAddr, len: u8) -> Result<Cidr, ParseError> {
        let max = max_len(addr);
        if len > max {
            return Err(ParseError::PrefixLength { len, max });
        }
        if mask_addr(addr, len) != addr {
            return Err(ParseError::HostBits(format!("{addr}/{len}")));
        }
        Ok(Cidr { addr, len })
    }

    /// The network's first address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// True for a zero-length prefix (every address of its family).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask_addr(ip, self.len) == self.addr
    }

    /// Whether the two networks share an address (one contains the other).
    pub fn overlaps(&self, other: &Cidr) -> bool {
        let shorter = self.len.min(other.len);
        self.addr.is_ipv4() == other.addr.is_ipv4()
            && mask_addr(self.addr, shorter) == mask_addr(other.addr, shorter)
    }
}

fn max_len(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

/// `addr` with every bit past `len` cleared.
fn mask_addr(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.len == max_len(self.addr) {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.len)
        }
    }
}

impl FromStr for Cidr {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Cidr, ParseError> {
        let s = s.trim();
        let (a, len) = match s.split_once('/') {
            Some((a, l)) => (
                a,
                Some(
                    l.parse::<u8>()
                        .map_err(|_| ParseError::Network(s.to_string()))?,
                ),
            ),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| ParseError::Network(s.to_string()))?;
        Cidr::new(addr, len.unwrap_or(max_len(addr)))
    }
}

/// One exact flow, matched in both directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FiveTuple {
    pub proto: u8,
    pub src: IpAddr,
    pub src_port: u16,
    pub dst: IpAddr,
    pub dst_port: u16,
}

impl fmt::Display for FiveTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.proto {
            6 => f.write_str("tcp")?,
            17 => f.write_str("udp")?,
            132 => f.write_str("sctp")?,
            n => write!(f, "{n}")?,
        }
        let src = SocketAddr::new(self.src, self.src_port);
        let dst = SocketAddr::new(self.dst, self.dst_port);
        write!(f, " {src} -> {dst}")
    }
}

impl FromStr for FiveTuple {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<FiveTuple, ParseError> {
        let bad = || ParseError::Tuple(s.to_string());
        let mut words = s.split_whitespace();
        let (Some(p), Some(a), Some("->"), Some(b), None) = (
            words.next(),
            words.next(),
            words.next(),
            words.next(),
            words.next(),
        ) else {
            return Err(bad());
        };
        let proto = match p.to_ascii_lowercase().as_str() {
            "tcp" => 6,
            "udp" => 17,
            "sctp" => 132,
            n => n.parse::<u8>().map_err(|_| bad())?,
        };
        let a: SocketAddr = a.parse().map_err(|_| bad())?;
        let b: SocketAddr = b.parse().map_err(|_| bad())?;
        if a.is_ipv4() != b.is_ipv4() {
            return Err(bad());
        }
        Ok(FiveTuple {
            proto,
            src: a.ip(),
            src_port: a.port(),
            dst: b.ip(),
            dst_port: b.port(),
        })
    }
}

/// What an entry matches. Displays as its text, without the side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlockMatch {
    /// An address or network on one side of the packet, or either.
    Net { net: Cidr, side: Side },
    /// One flow, both directions.
    Tuple(FiveTuple),
}

impl BlockMatch {
    /// Parses the text form: a 5-tuple when it has a `->`, otherwise a network on `side`.
    pub fn parse(text: &str, side: Side) -> Result<BlockMatch, ParseError> {
        if text.contains("->") {
            Ok(BlockMatch::Tuple(text.parse()?))
        } else {
            Ok(BlockMatch::Net {
                net: text.parse()?,
                side,
            })
        }
    }

    /// The side a network is tested on; a 5-tuple covers both directions (`either`).
    pub fn side(&self) -> Side {
        match self {
            BlockMatch::Net { side, .. } => *side,
            BlockMatch::Tuple(_) => Side::Either,
        }
    }

    /// Whether a packet could match both entries: networks that overlap on a common side, or
    /// a 5-tuple inside a network on a side its addresses take.
    pub fn overlaps(&self, other: &BlockMatch) -> bool {
        let sides_meet = |a: Side, b: Side| a == b || a == Side::Either || b == Side::Either;
        match (self, other) {
            (BlockMatch::Net { net: a, side: sa }, BlockMatch::Net { net: b, side: sb }) => {
                sides_meet(*sa, *sb) && a.overlaps(b)
            }
            (BlockMatch::Tuple(a), BlockMatch::Tuple(b)) => a == b || *a == FiveTuple::reversed(b),
            // A 5-tuple's packets carry each of its addresses on both sides, one way or the
            // other, so any side meets it.
            (BlockMatch::Net { net, .. }, BlockMatch::Tuple(t))
            | (BlockMatch::Tuple(t), BlockMatch::Net { net, .. }) => {
                net.contains(t.src) || net.contains(t.dst)
            }
        }
    }
}

impl fmt::Display for BlockMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockMatch::Net { net, .. } => net.fmt(f),
            BlockMatch::Tuple(t) => t.fmt(f),
        }
    }
}

impl FiveTuple {
    /// The same flow seen from the other side.
    pub fn reversed(t: &FiveTuple) -> FiveTuple {
        FiveTuple {
            proto: t.proto,
            src: t.dst,
            src_port: t.dst_port,
            dst: t.src,
            dst_port: t.src_port,
        }
    }
}

/// One entry as the data plane's table takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockEntry {
    /// The entry's id (unique in the store; EVE records name it).
    pub id: u64,
    pub matcher: BlockMatch,
    pub origin: Origin,
    /// Why it is blocked (free text, shown in EVE records).
    pub reason: String,
}

/// Text that is not a block-list match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Neither an address nor `address/length`.
    Network(String),
    /// A prefix longer than the family's addresses.
    PrefixLength { len: u8, max: u8 },
    /// Bits set past the prefix length.
    HostBits(String),
    /// Not `PROTO SRC:PORT -> DST:PORT`.
    Tuple(String),
}

impl std::error::Error for ParseError {}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Network(s) => write!(
                f,
                "{s:?} is not an address or network (e.g. 192.0.2.7, 198.51.100.0/24, 2001:db8::/32)"
            ),
            ParseError::PrefixLength { len, max } => {
                write!(f, "prefix length /{len} is longer than /{max}")
            }
            ParseError::HostBits(s) => {
                write!(f, "{s} has host bits set past its prefix length")
            }
            ParseError::Tuple(s) => write!(
                f,
                "{s:?} is not a 5-tuple (e.g. \"tcp 192.0.2.1:40000 -> 198.51.100.2:80\")"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_and_print_back() {
        for s in [
            "192.0.2.7",
            "198.51.100.0/24",
            "2001:db8::/32",
            "2001:db8::1",
            "0.0.0.0/0",
        ] {
            assert_eq!(s.parse::<Cidr>().unwrap().to_string(), s);
        }
        assert_eq!(
            "192.0.2.7/32".parse::<Cidr>().unwrap().to_string(),
            "192.0.2.7"
        );
        assert!(matches!(
            "198.51.100.1/24".parse::<Cidr>(),
            Err(ParseError::HostBits(_))
        ));
        assert!(matches!(
            "192.0.2.0/33".parse::<Cidr>(),
            Err(ParseError::PrefixLength { len: 33, max: 32 })
        ));
        assert!(matches!(
            "example".parse::<Cidr>(),
            Err(ParseError::Network(_))
        ));
    }

    #[test]
    fn tuples_parse_and_print_back() {
        for s in [
            "tcp 192.0.2.1:40000 -> 198.51.100.2:80",
            "udp [2001:db8::1]:53 -> [2001:db8::2]:5353",
            "47 192.0.2.1:0 -> 192.0.2.2:0",
        ] {
            assert_eq!(s.parse::<FiveTuple>().unwrap().to_string(), s);
        }
        assert!("tcp 192.0.2.1:1 -> [2001:db8::2]:80"
            .parse::<FiveTuple>()
            .is_err());
        assert!("tcp 192.0.2.1:1 198.51.100.2:80"
            .parse::<FiveTuple>()
            .is_err());
    }

    #[test]
    fn overlap_needs_a_common_side_and_address() {
        let m = |s: &str, side| BlockMatch::parse(s, side).unwrap();
        let wide = m("198.51.100.0/24", Side::Src);
        assert!(wide.overlaps(&m("198.51.100.9", Side::Either)));
        assert!(!wide.overlaps(&m("198.51.100.9", Side::Dst)));
        assert!(!wide.overlaps(&m("192.0.2.0/24", Side::Src)));
        let t = m("tcp 198.51.100.9:1 -> 192.0.2.1:80", Side::Either);
        assert!(t.overlaps(&wide));
        assert!(t.overlaps(&m("tcp 192.0.2.1:80 -> 198.51.100.9:1", Side::Either)));
        assert!(!t.overlaps(&m("2001:db8::/32", Side::Either)));
    }
}
