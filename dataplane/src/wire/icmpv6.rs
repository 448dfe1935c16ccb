//! ICMPv6 (RFC 4443 §2.1), with neighbour discovery (RFC 4861) and MLD (RFC 2710, RFC 3810)
//! message types.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Message Body                          |
//! ```
//! The checksum covers an IPv6 pseudo-header (RFC 8200 §8.1).

use super::{be16, byte, need, tail, Result};

/// Length of type, code, checksum and the first body word.
pub const HEADER_LEN: usize = 8;

/// Message types (IANA "ICMPv6 Parameters").
pub mod msg {
    /// Destination unreachable.
    pub const DEST_UNREACH: u8 = 1;
    /// Packet too big.
    pub const PKT_TOO_BIG: u8 = 2;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 4;
    /// Private experimentation.
    pub const PRIVATE_EXP_100: u8 = 100;
    /// Private experimentation.
    pub const PRIVATE_EXP_101: u8 = 101;
    /// Reserved for expansion of error messages.
    pub const ERROR_EXPANSION: u8 = 127;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;
    /// MLD query.
    pub const MLD_QUERY: u8 = 130;
    /// MLD report.
    pub const MLD_REPORT: u8 = 131;
    /// MLD done.
    pub const MLD_DONE: u8 = 132;
    /// Router solicitation.
    pub const ROUTER_SOLICIT: u8 = 133;
    /// Router advertisement.
    pub const ROUTER_ADVERT: u8 = 134;
    /// Neighbour solicitation.
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbour advertisement.
    pub const NEIGHBOR_ADVERT: u8 = 136;
    /// Redirect.
    pub const REDIRECT: u8 = 137;
    /// MLDv2 report.
    pub const MLD2_REPORT: u8 = 143;
    /// Private experimentation.
    pub const PRIVATE_EXP_200: u8 = 200;
    /// Private experimentation.
    pub const PRIVATE_EXP_201: u8 = 201;
    /// Reserved for expansion of informational messages.
    pub const INFO_EXPANSION: u8 = 255;
}

/// How a type number is classified (Suricata's `decode-icmpv6.c` follows the IANA registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeClass {
    /// Assigned and understood; carries the highest valid code.
    Known(u8),
    /// Private experimentation (100, 101, 200, 201).
    Experimental,
    /// Unassigned in the registry.
    Unassigned,
}

/// Classifies a message type.
pub const fn classify(kind: u8) -> TypeClass {
    match kind {
        msg::DEST_UNREACH => TypeClass::Known(7),
        msg::PKT_TOO_BIG => TypeClass::Known(0),
        msg::TIME_EXCEEDED => TypeClass::Known(1),
        msg::PARAM_PROBLEM => TypeClass::Known(3),
        msg::ECHO_REQUEST | msg::ECHO_REPLY => TypeClass::Known(0),
        msg::MLD_QUERY | msg::MLD_REPORT | msg::MLD_DONE => TypeClass::Known(0),
        msg::ROUTER_SOLICIT | msg::ROUTER_ADVERT | msg::NEIGHBOR_SOLICIT => TypeClass::Known(0),
        msg::NEIGHBOR_ADVERT | msg::REDIRECT => TypeClass::Known(0),
        138 => TypeClass::Known(255), // router renumbering: codes 0, 1, 255
        139 | 140 => TypeClass::Known(2),
        141..=157 => TypeClass::Known(255),
        158..=161 => TypeClass::Known(255),
        msg::PRIVATE_EXP_100
        | msg::PRIVATE_EXP_101
        | msg::PRIVATE_EXP_200
        | msg::PRIVATE_EXP_201 => TypeClass::Experimental,
        msg::ERROR_EXPANSION | msg::INFO_EXPANSION => TypeClass::Known(255),
        _ => TypeClass::Unassigned,
    }
}

/// True for error messages (type < 128) that quote the offending packet.
pub const fn is_error(kind: u8) -> bool {
    kind < 128
}

/// A view of an ICMPv6 message.
#[derive(Debug, Clone, Copy)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }
    /// Ensures the first 8 bytes are present.
    pub fn check_len(&self) -> Result<()> {
        need(self.buffer.as_ref(), HEADER_LEN)
    }
    /// Message type.
    pub fn msg_type(&self) -> u8 {
        byte(self.buffer.as_ref(), 0)
    }
    /// Message code.
    pub fn msg_code(&self) -> u8 {
        byte(self.buffer.as_ref(), 1)
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }
    /// Identifier (echo messages).
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }
    /// Sequence number (echo messages).
    pub fn seq(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }
    /// Data after the first 8 bytes.
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ICMPv6 echo request of suricata-verify `ipv6-malformed-fragments-2/frag-2.pcap` packet 1
    /// (id 0x68fa, seq 0xceba).
    #[test]
    fn echo_from_capture() {
        let b = [0x80, 0x00, 0x28, 0x68, 0xfa, 0xce, 0xba, 0xbe, 0x41];
        let i = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(i.msg_type(), msg::ECHO_REQUEST);
        assert_eq!(i.msg_code(), 0);
        assert_eq!(i.checksum(), 0x2868);
        assert_eq!(i.ident(), 0xface);
        assert_eq!(i.seq(), 0xbabe);
        assert_eq!(i.payload(), &[0x41]);
        assert!(Icmpv6Packet::new_checked(&b[..7]).is_err());
        assert_eq!(classify(100), TypeClass::Experimental);
        assert_eq!(classify(50), TypeClass::Unassigned);
    }
}
