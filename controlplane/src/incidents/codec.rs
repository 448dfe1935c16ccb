//! The stored form of a timeline member: a fixed little-endian header and length-prefixed
//! strings, written into one reused buffer. It replaced JSON (about 250 bytes a member,
//! formatted addresses and field names), which was most of a stored correlator step's cost;
//! JSON members of stores written before still read ([`decode`] tells them by their `{`).
//!
//! ```text
//! offset size  field
//!      0    1  layout version (= 1)
//!      1    1  kind (0 alert)
//!      2    1  flags: bit 0 src is IPv6, bit 1 dst is IPv6
//!      3    1  severity
//!      4    4  sid
//!      8    8  ts_ns           16  8  alert id
//!     24   16  src address (IPv4 in the first 4 bytes, rest zero)
//!     40   16  dst address
//!     56       then msg, tactic_id, tactic_name, technique_id, technique_name:
//!              each u16 length ‖ UTF-8 bytes (cut at a character boundary below 64 KiB)
//! ```
//!
//! Decoding checks every length against the value's size and every string for UTF-8: a
//! damaged value is an error naming the field, never a panic.

use super::incident::{Member, MemberKind};
use crate::model::Attack;
use crate::store::record::{ip_at, ip_bytes};

/// Layout version byte at offset 0 (JSON members start with `{`).
pub const LAYOUT: u8 = 1;
/// Bytes before the strings.
pub const HEADER: usize = 56;

/// Why a stored member could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("member value shorter than its header")]
    Short,
    #[error("member value has layout {0}, expected {LAYOUT} or JSON")]
    Layout(u8),
    #[error("member value has unknown kind {0}")]
    Kind(u8),
    #[error("member value field {0} runs past the end")]
    Truncated(&'static str),
    #[error("member value field {0} is not UTF-8")]
    Utf8(&'static str),
    #[error("member value has {0} bytes after its last field")]
    Trailing(usize),
    #[error("JSON member: {0}")]
    Json(String),
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    let mut n = s.len().min(usize::from(u16::MAX));
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    buf.extend_from_slice(&(n as u16).to_le_bytes());
    buf.extend_from_slice(&s.as_bytes()[..n]);
}

/// Replaces `buf` with the stored form of `m`.
pub fn encode(m: &Member, buf: &mut Vec<u8>) {
    let (src, src6) = ip_bytes(m.src_ip);
    let (dst, dst6) = ip_bytes(m.dst_ip);
    let a = &m.attack;
    buf.clear();
    buf.reserve(
        HEADER
            + 10
            + m.msg.len()
            + a.tactic_id.len()
            + a.tactic_name.len()
            + a.technique_id.len()
            + a.technique_name.len(),
    );
    buf.push(LAYOUT);
    buf.push(match m.kind {
        MemberKind::Alert => 0,
    });
    buf.push(u8::from(src6) | (u8::from(dst6) << 1));
    buf.push(m.severity);
    buf.extend_from_slice(&m.sid.to_le_bytes());
    buf.extend_from_slice(&m.ts_ns.to_le_bytes());
    buf.extend_from_slice(&m.alert_id.to_le_bytes());
    buf.extend_from_slice(&src);
    buf.extend_from_slice(&dst);
    for s in [
        &m.msg,
        &a.tactic_id,
        &a.tactic_name,
        &a.technique_id,
        &a.technique_name,
    ] {
        put_str(buf, s);
    }
}

struct Reader<'a> {
    v: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let len = self
            .v
            .get(self.at..self.at + 2)
            .ok_or(DecodeError::Truncated(field))?;
        let start = self.at + 2;
        let end = start + usize::from(u16::from_le_bytes([len[0], len[1]]));
        let b = self
            .v
            .get(start..end)
            .ok_or(DecodeError::Truncated(field))?;
        self.at = end;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| DecodeError::Utf8(field))
    }
}

fn array<const N: usize>(v: &[u8], at: usize) -> [u8; N] {
    let mut b = [0u8; N];
    b.copy_from_slice(&v[at..at + N]);
    b
}

/// The member stored as `v`, in this layout or as JSON.
pub fn decode(v: &[u8]) -> Result<Member, DecodeError> {
    match v.first() {
        Some(b'{') => {
            return serde_json::from_slice(v).map_err(|e| DecodeError::Json(e.to_string()))
        }
        Some(&LAYOUT) if v.len() >= HEADER => {}
        Some(&LAYOUT) | None => return Err(DecodeError::Short),
        Some(&other) => return Err(DecodeError::Layout(other)),
    }
    let kind = match v[1] {
        0 => MemberKind::Alert,
        k => return Err(DecodeError::Kind(k)),
    };
    let mut r = Reader { v, at: HEADER };
    let m = Member {
        kind,
        src_ip: ip_at(v, 24, v[2] & 1 != 0),
        dst_ip: ip_at(v, 40, v[2] & 2 != 0),
        severity: v[3],
        sid: u32::from_le_bytes(array(v, 4)),
        ts_ns: u64::from_le_bytes(array(v, 8)),
        alert_id: u64::from_le_bytes(array(v, 16)),
        msg: r.string("msg")?,
        attack: Attack {
            tactic_id: r.string("tactic_id")?,
            tactic_name: r.string("tactic_name")?,
            technique_id: r.string("technique_id")?,
            technique_name: r.string("technique_name")?,
        },
    };
    if r.at != v.len() {
        return Err(DecodeError::Trailing(v.len() - r.at));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn arb_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
            any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        ]
    }

    prop_compose! {
        fn arb_member()(
            nums in any::<(u64, u64, u32, u8)>(),
            src in arb_ip(), dst in arb_ip(),
            strs in any::<(String, String, String, String, String)>(),
        ) -> Member {
            let (ts_ns, alert_id, sid, severity) = nums;
            Member {
                ts_ns, kind: MemberKind::Alert, alert_id, sid, severity,
                src_ip: src, dst_ip: dst, msg: strs.0,
                attack: Attack {
                    tactic_id: strs.1, tactic_name: strs.2,
                    technique_id: strs.3, technique_name: strs.4,
                },
            }
        }
    }

    proptest! {
        #[test]
        fn round_trips_and_json_still_reads(m in arb_member()) {
            let mut buf = vec![9u8; 3];
            encode(&m, &mut buf);
            prop_assert_eq!(decode(&buf).unwrap(), m.clone());
            let json = serde_json::to_vec(&m).unwrap();
            prop_assert_eq!(decode(&json).unwrap(), m);
        }

        /// Damage is an error or another member, never a panic; a value cut short or
        /// with bytes added is always an error.
        #[test]
        fn damaged_values_are_refused(m in arb_member(), cut in any::<prop::sample::Index>(),
                                      flip in any::<(prop::sample::Index, u8)>()) {
            let mut buf = Vec::new();
            encode(&m, &mut buf);
            prop_assert!(decode(&buf[..cut.index(buf.len())]).is_err());
            let mut bad = buf.clone();
            let i = flip.0.index(bad.len());
            bad[i] ^= flip.1 | 1;
            let _ = decode(&bad);
            buf.push(0);
            prop_assert!(decode(&buf).is_err());
        }
    }

    #[test]
    fn long_strings_are_cut_at_a_character_boundary() {
        let m = Member {
            ts_ns: 1,
            kind: MemberKind::Alert,
            alert_id: 2,
            sid: 3,
            severity: 1,
            src_ip: "192.0.2.1".parse().unwrap(),
            dst_ip: "2001:db8::1".parse().unwrap(),
            msg: "é".repeat(40_000),
            attack: Attack::default(),
        };
        let mut buf = Vec::new();
        encode(&m, &mut buf);
        let back = decode(&buf).unwrap();
        assert_eq!(back.msg.len(), 65_534);
        assert!(m.msg.starts_with(&back.msg));
        assert_eq!((back.src_ip, back.dst_ip), (m.src_ip, m.dst_ip));
        assert_eq!(decode(&[2, 0]), Err(DecodeError::Layout(2)));
        assert_eq!(decode(&[]), Err(DecodeError::Short));
    }
}
