//! The stored form of an alert (value of the `alerts` column family, since format version 2).
//! Layout 3 adds the ATT&CK fields after `eve`; layout 2 values (without them) still read,
//! with the fields empty.
//!
//! A fixed little-endian header followed by length-prefixed variable fields. It replaced the
//! protobuf value of format version 1, whose encoding formatted both addresses as text and
//! allocated for every string on each write and read: the fixed layout is written with a few
//! copies into one reused buffer and read without parsing text.
//!
//! ```text
//! offset size  field
//!      0    1  layout version (= 3; 2 is read too)
//!      1    1  flags: bit 0 src is IPv6, bit 1 dst is IPv6
//!      2    1  action (Action as u8)     3  1  direction (0 to_server, 1 to_client)
//!      4    1  severity                  5  1  IP protocol
//!      6    2  src_port                  8  2  dst_port
//!     10    4  gid    14  4  sid    18  4  rev
//!     22    8  id     30  8  ts_nanos   38  8  flow_id   46  8  packet_no   54  8  generation
//!     62   16  src address (IPv4 in the first 4 bytes, rest zero)
//!     78   16  dst address
//!     94       then msg, category, app_proto, worker, payload, eve: each u32 length ‖ bytes
//!              then (layout 3) tactic_id, tactic_name, technique_id, technique_name, the same way
//! ```
//!
//! Decoding checks every length against the value's size and every string for UTF-8, and
//! refuses anything else as corrupt: a damaged value is an error, never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::{Action, Alert, Attack, Direction};

/// Layout version byte at offset 0.
pub const LAYOUT: u8 = 3;
/// The layout before the ATT&CK fields, still read.
pub const LAYOUT_2: u8 = 2;
/// Bytes before the variable fields.
pub const HEADER: usize = 94;

/// Why a stored value could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("alert value shorter than its header")]
    Short,
    #[error("alert value has layout {0}, expected 2 or 3")]
    Layout(u8),
    #[error("alert value field {0} runs past the end")]
    Truncated(&'static str),
    #[error("alert value field {0} is not UTF-8")]
    Utf8(&'static str),
    #[error("alert value has an unknown action or direction")]
    Enum,
    #[error("alert value has {0} bytes after its last field")]
    Trailing(usize),
}

fn action_byte(a: Action) -> u8 {
    match a {
        Action::Alert => 0,
        Action::Drop => 1,
        Action::Reject => 2,
        Action::Pass => 3,
    }
}

/// An address as 16 bytes (IPv4 in the first 4) and whether it is IPv6; read back by
/// [`ip_at`]. Also the incident members' layout.
pub(crate) fn ip_bytes(ip: IpAddr) -> ([u8; 16], bool) {
    match ip {
        IpAddr::V4(v4) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.octets());
            (b, false)
        }
        IpAddr::V6(v6) => (v6.octets(), true),
    }
}

fn put_var(buf: &mut Vec<u8>, b: &[u8]) {
    // Fields are bounded far below 4 GiB (payload excerpts, one EVE line); saturate anyway.
    let n = u32::try_from(b.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&n.to_le_bytes());
    buf.extend_from_slice(&b[..n as usize]);
}

/// Appends the stored form of `a` to `buf`.
pub fn encode(a: &Alert, buf: &mut Vec<u8>) {
    let (src, src6) = ip_bytes(a.src_ip);
    let (dst, dst6) = ip_bytes(a.dst_ip);
    buf.reserve(
        HEADER
            + 24
            + a.msg.len()
            + a.category.len()
            + a.app_proto.len()
            + a.worker.len()
            + a.payload.len()
            + a.eve.len()
            + 16
            + a.attack.tactic_id.len()
            + a.attack.tactic_name.len()
            + a.attack.technique_id.len()
            + a.attack.technique_name.len(),
    );
    buf.push(LAYOUT);
    buf.push(u8::from(src6) | (u8::from(dst6) << 1));
    buf.push(action_byte(a.action));
    buf.push(match a.direction {
        Direction::ToServer => 0,
        Direction::ToClient => 1,
    });
    buf.push(a.severity);
    buf.push(a.proto);
    buf.extend_from_slice(&a.src_port.to_le_bytes());
    buf.extend_from_slice(&a.dst_port.to_le_bytes());
    for v in [a.gid, a.sid, a.rev] {
        buf.extend_from_slice(&v.to_le_bytes());
    }
    for v in [a.id, a.ts_nanos, a.flow_id, a.packet_no, a.generation] {
        buf.extend_from_slice(&v.to_le_bytes());
    }
    buf.extend_from_slice(&src);
    buf.extend_from_slice(&dst);
    put_var(buf, a.msg.as_bytes());
    put_var(buf, a.category.as_bytes());
    put_var(buf, a.app_proto.as_bytes());
    put_var(buf, a.worker.as_bytes());
    put_var(buf, &a.payload);
    put_var(buf, a.eve.as_bytes());
    put_var(buf, a.attack.tactic_id.as_bytes());
    put_var(buf, a.attack.tactic_name.as_bytes());
    put_var(buf, a.attack.technique_id.as_bytes());
    put_var(buf, a.attack.technique_name.as_bytes());
}

struct Reader<'a> {
    v: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self
            .v
            .get(self.at..self.at + 4)
            .ok_or(DecodeError::Truncated(field))?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let start = self.at + 4;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= self.v.len())
            .ok_or(DecodeError::Truncated(field))?;
        self.at = end;
        Ok(&self.v[start..end])
    }
    fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let b = self.bytes(field)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| DecodeError::Utf8(field))
    }
}

fn u16_at(v: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([v[at], v[at + 1]])
}
fn u32_at(v: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&v[at..at + 4]);
    u32::from_le_bytes(b)
}
fn u64_at(v: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&v[at..at + 8]);
    u64::from_le_bytes(b)
}
/// The address [`ip_bytes`] wrote at `at`.
pub(crate) fn ip_at(v: &[u8], at: usize, v6: bool) -> IpAddr {
    let mut b = [0u8; 16];
    b.copy_from_slice(&v[at..at + 16]);
    if v6 {
        IpAddr::V6(Ipv6Addr::from(b))
    } else {
        IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    }
}

/// The alert stored as `v`.
pub fn decode(v: &[u8]) -> Result<Alert, DecodeError> {
    if v.len() < HEADER {
        return Err(DecodeError::Short);
    }
    if v[0] != LAYOUT && v[0] != LAYOUT_2 {
        return Err(DecodeError::Layout(v[0]));
    }
    let flags = v[1];
    let action = match v[2] {
        0 => Action::Alert,
        1 => Action::Drop,
        2 => Action::Reject,
        3 => Action::Pass,
        _ => return Err(DecodeError::Enum),
    };
    let direction = match v[3] {
        0 => Direction::ToServer,
        1 => Direction::ToClient,
        _ => return Err(DecodeError::Enum),
    };
    let mut r = Reader { v, at: HEADER };
    let mut a = Alert {
        action,
        direction,
        severity: v[4],
        proto: v[5],
        src_port: u16_at(v, 6),
        dst_port: u16_at(v, 8),
        gid: u32_at(v, 10),
        sid: u32_at(v, 14),
        rev: u32_at(v, 18),
        id: u64_at(v, 22),
        ts_nanos: u64_at(v, 30),
        flow_id: u64_at(v, 38),
        packet_no: u64_at(v, 46),
        generation: u64_at(v, 54),
        src_ip: ip_at(v, 62, flags & 1 != 0),
        dst_ip: ip_at(v, 78, flags & 2 != 0),
        msg: r.string("msg")?,
        category: r.string("category")?,
        app_proto: r.string("app_proto")?,
        worker: r.string("worker")?,
        payload: r.bytes("payload")?.to_vec(),
        eve: r.string("eve")?,
        attack: Attack::default(),
    };
    if v[0] == LAYOUT {
        a.attack = Attack {
            tactic_id: r.string("tactic_id")?,
            tactic_name: r.string("tactic_name")?,
            technique_id: r.string("technique_id")?,
            technique_name: r.string("technique_name")?,
        };
    }
    if r.at != v.len() {
        return Err(DecodeError::Trailing(v.len() - r.at));
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
            any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        ]
    }

    prop_compose! {
        fn arb_alert()(
            nums in any::<(u64, u64, u32, u32, u32, u8)>(),
            more in any::<(u8, u16, u16, u64, u64, u64)>(),
            action in 0u8..4, to_client in any::<bool>(),
            src in arb_ip(), dst in arb_ip(),
            strs in any::<(String, String, String, String, String)>(),
            tactic in any::<(String, String)>(),
            payload in proptest::collection::vec(any::<u8>(), 0..200),
        ) -> Alert {
            let (id, ts, gid, sid, rev, sev) = nums;
            let (proto, sp, dp, flow, pkt, generation) = more;
            Alert {
                id, ts_nanos: ts, gid, sid, rev, severity: sev, proto,
                src_port: sp, dst_port: dp, flow_id: flow, packet_no: pkt, generation,
                action: [Action::Alert, Action::Drop, Action::Reject, Action::Pass][action as usize],
                direction: if to_client { Direction::ToClient } else { Direction::ToServer },
                src_ip: src, dst_ip: dst,
                msg: strs.0, category: strs.1, app_proto: strs.2, worker: strs.3,
                payload, eve: strs.4,
                attack: Attack {
                    tactic_id: tactic.0, tactic_name: "n".into(),
                    technique_id: tactic.1, technique_name: String::new(),
                },
            }
        }
    }

    proptest! {
        #[test]
        fn round_trips(a in arb_alert()) {
            let mut buf = Vec::new();
            encode(&a, &mut buf);
            prop_assert_eq!(decode(&buf).unwrap(), a);
        }

        /// Any damage is an error or another alert, never a panic; cutting a value short
        /// is always an error.
        #[test]
        fn damaged_values_are_refused(a in arb_alert(), cut in any::<prop::sample::Index>(),
                                      flip in any::<(prop::sample::Index, u8)>()) {
            let mut buf = Vec::new();
            encode(&a, &mut buf);
            let n = cut.index(buf.len());
            prop_assert!(decode(&buf[..n]).is_err());
            let mut bad = buf.clone();
            let i = flip.0.index(bad.len());
            bad[i] ^= flip.1 | 1;
            let _ = decode(&bad);
            buf.push(0);
            prop_assert!(decode(&buf).is_err());
        }
    }

    #[test]
    fn header_size_matches_the_layout() {
        let mut buf = Vec::new();
        encode(&Alert::default(), &mut buf);
        assert_eq!(buf.len(), HEADER + 10 * 4);
        assert_eq!(decode(&buf).unwrap(), Alert::default());
        assert_eq!(decode(&buf[..10]), Err(DecodeError::Short));
        // A layout 2 value (no ATT&CK fields) still reads.
        let mut old = buf[..HEADER + 6 * 4].to_vec();
        old[0] = LAYOUT_2;
        assert_eq!(decode(&old).unwrap(), Alert::default());
        buf[0] = 1;
        assert_eq!(decode(&buf), Err(DecodeError::Layout(1)));
    }
}
