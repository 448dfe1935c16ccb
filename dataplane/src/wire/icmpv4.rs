//! ICMP for IPv4 (RFC 792).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Identifier / unused       |    Sequence / unused          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Data (error messages: the offending IP header + 8 bytes)  |
//! ```

use super::{be16, byte, need, tail, Result};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 8;

/// Message types (IANA "ICMP Type Numbers").
pub mod msg {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DEST_UNREACH: u8 = 3;
    /// Source quench (deprecated).
    pub const SOURCE_QUENCH: u8 = 4;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo request.
    pub const ECHO: u8 = 8;
    /// Router advertisement.
    pub const ROUTER_ADVERT: u8 = 9;
    /// Router solicitation.
    pub const ROUTER_SOLICIT: u8 = 10;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 12;
    /// Timestamp request.
    pub const TIMESTAMP: u8 = 13;
    /// Timestamp reply.
    pub const TIMESTAMP_REPLY: u8 = 14;
    /// Information request.
    pub const INFO_REQUEST: u8 = 15;
    /// Information reply.
    pub const INFO_REPLY: u8 = 16;
    /// Address mask request.
    pub const ADDRESS: u8 = 17;
    /// Address mask reply.
    pub const ADDRESS_REPLY: u8 = 18;
}

/// Highest code Suricata accepts per type (`decode-icmpv4.c`); `None` for unknown types.
pub const fn max_code(kind: u8) -> Option<u8> {
    match kind {
        msg::ECHO_REPLY | msg::SOURCE_QUENCH | msg::ECHO | msg::ROUTER_SOLICIT => Some(0),
        msg::DEST_UNREACH => Some(15),
        msg::REDIRECT => Some(3),
        msg::ROUTER_ADVERT => Some(16),
        msg::TIME_EXCEEDED => Some(1),
        msg::PARAM_PROBLEM => Some(2),
        msg::TIMESTAMP | msg::TIMESTAMP_REPLY => Some(0),
        msg::INFO_REQUEST | msg::INFO_REPLY | msg::ADDRESS | msg::ADDRESS_REPLY => Some(0),
        _ => None,
    }
}

/// True for error messages that quote the offending datagram.
pub const fn is_error(kind: u8) -> bool {
    matches!(
        kind,
        msg::DEST_UNREACH
            | msg::SOURCE_QUENCH
            | msg::REDIRECT
            | msg::TIME_EXCEEDED
            | msg::PARAM_PROBLEM
    )
}

/// True for messages whose second word is identifier + sequence.
pub const fn has_id_seq(kind: u8) -> bool {
    matches!(
        kind,
        msg::ECHO
            | msg::ECHO_REPLY
            | msg::TIMESTAMP
            | msg::TIMESTAMP_REPLY
            | msg::INFO_REQUEST
            | msg::INFO_REPLY
            | msg::ADDRESS
            | msg::ADDRESS_REPLY
    )
}

/// A view of an ICMPv4 message.
#[derive(Debug, Clone, Copy)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }
    /// Ensures the 8-byte header is present.
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
    /// Identifier (echo-like messages).
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }
    /// Sequence number (echo-like messages).
    pub fn seq(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }
    /// Data after the 8-byte header.
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ICMP header of public_mix.pcap packet 13 (echo request, id 0x3de4, seq 0x0127).
    #[test]
    fn echo_from_capture() {
        let b = [0x08, 0x09, 0xb8, 0xeb, 0x3d, 0xe4, 0x01, 0x27, 0x00];
        let i = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(i.msg_type(), msg::ECHO);
        assert_eq!(i.msg_code(), 9);
        assert_eq!(i.checksum(), 0xb8eb);
        assert_eq!(i.ident(), 0x3de4);
        assert_eq!(i.seq(), 0x0127);
        assert_eq!(i.payload(), &[0]);
        assert!(Icmpv4Packet::new_checked(&b[..7]).is_err());
        assert_eq!(max_code(msg::ECHO), Some(0));
        assert_eq!(max_code(200), None);
    }
}
