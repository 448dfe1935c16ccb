//! IP/TCP/ICMP header keywords.

use super::{uint::parse_cmp, KwResult};
use crate::ir::{Fragbits, HeaderMatch, NumCmp, TcpFlags};

fn u<T: TryFrom<u64>>(v: &str, what: &str) -> KwResult<T> {
    let v = v.trim();
    let n = if let Some(h) = v.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else {
        v.parse::<u64>().ok()
    };
    n.and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("invalid {what} `{v}`"))
}

/// Parses a header keyword by name; `None` when `name` is not one.
pub fn header(name: &str, v: Option<&str>) -> Option<KwResult<HeaderMatch>> {
    let val = || v.ok_or_else(|| format!("`{name}` needs a value"));
    let cmp = |max| val().and_then(|v| parse_cmp(v, max));
    Some(match name {
        "ttl" => cmp(255).map(HeaderMatch::Ttl),
        "ip_proto" => val().and_then(ip_proto).map(HeaderMatch::IpProto),
        "ipopts" => val().and_then(|v| {
            let v = v.trim();
            if matches!(
                v,
                "rr" | "eol"
                    | "nop"
                    | "ts"
                    | "sec"
                    | "esec"
                    | "lsrr"
                    | "lsrre"
                    | "ssrr"
                    | "satid"
                    | "any"
            ) {
                Ok(HeaderMatch::Ipopts(v.to_string()))
            } else {
                Err(format!("unknown ipopts `{v}`"))
            }
        }),
        "fragbits" => val().and_then(fragbits).map(HeaderMatch::Fragbits),
        "fragoffset" => cmp(8191).map(HeaderMatch::Fragoffset),
        "flags" => val().and_then(tcp_flags).map(HeaderMatch::Flags),
        "seq" => val().and_then(|v| u(v, "seq")).map(HeaderMatch::Seq),
        "ack" => val().and_then(|v| u(v, "ack")).map(HeaderMatch::Ack),
        "window" => val().and_then(|v| {
            let v = v.trim();
            let (negated, n) = v.strip_prefix('!').map_or((false, v), |r| (true, r));
            Ok(HeaderMatch::Window {
                negated,
                value: u(n, "window")?,
            })
        }),
        "itype" => cmp(255).map(HeaderMatch::Itype),
        "icode" => cmp(255).map(HeaderMatch::Icode),
        "icmp_id" => val().and_then(|v| u(v, "icmp_id")).map(HeaderMatch::IcmpId),
        "icmp_seq" => val()
            .and_then(|v| u(v, "icmp_seq"))
            .map(HeaderMatch::IcmpSeq),
        "tos" => val().and_then(|v| {
            let v = v.trim();
            let (negated, n) = v.strip_prefix('!').map_or((false, v), |r| (true, r));
            Ok(HeaderMatch::Tos {
                negated,
                value: u(n, "tos")?,
            })
        }),
        "id" => val().and_then(|v| u(v, "id")).map(HeaderMatch::Id),
        "sameip" => {
            if v.is_some() {
                Err("sameip takes no value".into())
            } else {
                Ok(HeaderMatch::Sameip)
            }
        }
        _ => return None,
    })
}

fn ip_proto(v: &str) -> KwResult<NumCmp> {
    let v = v.trim();
    let (prefix, body) = match v.as_bytes().first() {
        Some(b'!' | b'<' | b'>') => v.split_at(1),
        _ => ("", v),
    };
    let num = match body.trim() {
        "tcp" | "TCP" => "6".to_string(),
        "udp" | "UDP" => "17".to_string(),
        "icmp" | "ICMP" => "1".to_string(),
        "ipv6-icmp" | "icmpv6" => "58".to_string(),
        "igmp" | "IGMP" => "2".to_string(),
        "gre" | "GRE" => "47".to_string(),
        "esp" | "ESP" => "50".to_string(),
        "ah" | "AH" => "51".to_string(),
        "sctp" | "SCTP" => "132".to_string(),
        "pim" | "PIM" => "103".to_string(),
        "ipv6" => "41".to_string(),
        o => o.to_string(),
    };
    parse_cmp(&format!("{prefix}{num}"), 255)
}

/// Returns `(bits, modifier, rest)`.
fn flag_chars(v: &str, map: &dyn Fn(char) -> Option<u8>) -> KwResult<(u8, Option<char>)> {
    let mut bits = 0u8;
    let mut modifier = None;
    for c in v.trim().chars() {
        match c {
            '+' | '*' | '!' => {
                if modifier.is_some() {
                    return Err("two flag modifiers".into());
                }
                modifier = Some(c)
            }
            c => bits |= map(c).ok_or_else(|| format!("unknown flag `{c}`"))?,
        }
    }
    Ok((bits, modifier))
}

fn tcp_flags(v: &str) -> KwResult<TcpFlags> {
    let (set, ignore) = v.split_once(',').unwrap_or((v, ""));
    let map = |c: char| {
        Some(match c.to_ascii_uppercase() {
            'F' => 0x01,
            'S' => 0x02,
            'R' => 0x04,
            'P' => 0x08,
            'A' => 0x10,
            'U' => 0x20,
            'E' | '2' => 0x40,
            'C' | '1' => 0x80,
            '0' => 0,
            _ => return None,
        })
    };
    let (bits, modifier) = flag_chars(set, &map)?;
    let (ignore, m2) = flag_chars(ignore, &map)?;
    if m2.is_some() {
        return Err("modifier in the ignore mask".into());
    }
    Ok(TcpFlags {
        set: bits,
        modifier,
        ignore,
    })
}

fn fragbits(v: &str) -> KwResult<Fragbits> {
    let map = |c: char| {
        Some(match c.to_ascii_uppercase() {
            'M' => 1,
            'D' => 2,
            'R' => 4,
            _ => return None,
        })
    };
    let (bits, modifier) = flag_chars(v, &map)?;
    Ok(Fragbits { bits, modifier })
}
