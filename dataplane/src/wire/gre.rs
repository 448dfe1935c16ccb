//! GRE: version 0 (RFC 2784 with the RFC 2890 key and sequence extensions, RFC 1701 routing)
//! and version 1, the enhanced GRE of PPTP (RFC 2637 §4.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |C|R|K|S|s|Recur|A| Flags | Ver |         Protocol Type         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Checksum (optional)      |       Offset (optional)       |  if C or R
//! |                         Key (optional)                        |  if K (v1: len + call id)
//! |                 Sequence Number (optional)                    |  if S
//! |             Acknowledgment Number (optional, v1)              |  if A
//! |                    Routing (optional, v0)                     |  if R: SRE list
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{be16, be32, byte, need, tail, Result, WireError};

/// Length of the mandatory part.
pub const BASE_LEN: usize = 4;
/// Upper bound on source route entries walked (each is at least 4 bytes; this caps the loop
/// regardless of packet size).
pub const MAX_SRE: usize = 64;

/// Flag bits of the first 16-bit word.
pub mod flags {
    /// Checksum present.
    pub const CHECKSUM: u16 = 0x8000;
    /// Routing present.
    pub const ROUTING: u16 = 0x4000;
    /// Key present.
    pub const KEY: u16 = 0x2000;
    /// Sequence number present.
    pub const SEQ: u16 = 0x1000;
    /// Strict source route.
    pub const STRICT: u16 = 0x0800;
    /// Recursion control (3 bits).
    pub const RECUR: u16 = 0x0700;
    /// Acknowledgment present (version 1).
    pub const ACK: u16 = 0x0080;
    /// Reserved flag bits.
    pub const RESERVED: u16 = 0x0078;
    /// Version (3 bits).
    pub const VERSION: u16 = 0x0007;
}

/// PPTP's protocol type in enhanced GRE (PPP).
pub const PROTO_PPP: u16 = 0x880b;

/// A view of a GRE header.
#[derive(Debug, Clone, Copy)]
pub struct GrePacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GrePacket<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        GrePacket { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }
    /// Ensures the mandatory part and every optional field the flags announce are present,
    /// including a well-formed routing list.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        need(b, BASE_LEN)?;
        let len = self.header_len()?;
        need(b, len)
    }
    /// First 16-bit word: flags, recursion and version.
    pub fn flags_version(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }
    /// GRE version (0 standard, 1 PPTP).
    pub fn version(&self) -> u8 {
        (self.flags_version() & flags::VERSION) as u8
    }
    /// Recursion control value.
    pub fn recursion(&self) -> u8 {
        ((self.flags_version() & flags::RECUR) >> 8) as u8
    }
    /// True when `flag` (one of [`flags`]) is set.
    pub fn has(&self, flag: u16) -> bool {
        self.flags_version() & flag != 0
    }
    /// EtherType of the payload.
    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }
    fn key_offset(&self) -> usize {
        let mut off = BASE_LEN;
        if self.has(flags::CHECKSUM) || self.has(flags::ROUTING) {
            off += 4;
        }
        off
    }
    /// Key (version 0) or payload length << 16 | call id (version 1), if present.
    pub fn key(&self) -> Option<u32> {
        self.has(flags::KEY)
            .then(|| be32(self.buffer.as_ref(), self.key_offset()))
    }
    /// Sequence number, if present.
    pub fn sequence(&self) -> Option<u32> {
        let off = self.key_offset() + if self.has(flags::KEY) { 4 } else { 0 };
        self.has(flags::SEQ)
            .then(|| be32(self.buffer.as_ref(), off))
    }
    /// Header length including optional fields and the routing list; errors when the routing
    /// list runs past the buffer or exceeds [`MAX_SRE`] entries.
    pub fn header_len(&self) -> Result<usize> {
        let b = self.buffer.as_ref();
        let mut len = self.key_offset();
        if self.has(flags::KEY) {
            len += 4;
        }
        if self.has(flags::SEQ) {
            len += 4;
        }
        if self.version() == 1 && self.has(flags::ACK) {
            len += 4;
        }
        if self.version() == 0 && self.has(flags::ROUTING) {
            // RFC 1701 §2.2: SREs of (af:2, offset:1, length:1, data), ended by length 0.
            let mut n = 0;
            loop {
                need(b, len + 4)?;
                let sre_len = usize::from(byte(b, len + 3));
                len += 4 + sre_len;
                if sre_len == 0 {
                    break;
                }
                n += 1;
                if n >= MAX_SRE {
                    return Err(WireError::Malformed("too many GRE source route entries"));
                }
            }
        }
        Ok(len)
    }
    /// Bytes after the header (empty when the header is malformed).
    pub fn payload(&self) -> &[u8] {
        match self.header_len() {
            Ok(l) => tail(self.buffer.as_ref(), l),
            Err(_) => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Enhanced GRE (PPTP) header from public_mix.pcap packet 42256: K, S and A set,
    /// version 1, protocol PPP, then PPP address/control and IPv4.
    const PPTP: [u8; 20] = [
        0x30, 0x81, 0x88, 0x0b, 0x01, 0x4a, 0x98, 0x50, 0x00, 0x00, 0x00, 0x6a, 0x00, 0x00, 0x00,
        0x8c, 0xff, 0x03, 0x00, 0x21,
    ];

    #[test]
    fn pptp_from_capture() {
        let g = GrePacket::new_checked(&PPTP[..]).unwrap();
        assert_eq!(g.version(), 1);
        assert_eq!(g.protocol(), PROTO_PPP);
        assert!(g.has(flags::KEY) && g.has(flags::SEQ) && g.has(flags::ACK));
        assert_eq!(g.key(), Some(0x014a_9850));
        assert_eq!(g.sequence(), Some(0x6a));
        assert_eq!(g.header_len(), Ok(16));
        assert_eq!(g.payload(), &[0xff, 0x03, 0x00, 0x21]);
        assert!(GrePacket::new_checked(&PPTP[..15]).is_err());
    }

    #[test]
    fn routing_list_is_bounded() {
        // Version 0 with R set: checksum/offset word, then SREs of length 4 that never end.
        let mut buf = vec![0x40, 0x00, 0x08, 0x00, 0, 0, 0, 0];
        for _ in 0..100 {
            buf.extend_from_slice(&[0, 0, 0, 4, 1, 2, 3, 4]);
        }
        assert!(GrePacket::new_checked(&buf[..]).is_err());
        // A terminated list is accepted.
        let ok = [
            0x40, 0x00, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 2, 9, 9, 0, 0, 0, 0, 0x45,
        ];
        let g = GrePacket::new_checked(&ok[..]).unwrap();
        assert_eq!(g.header_len(), Ok(18));
        assert_eq!(g.payload(), &[0x45]);
    }
}
