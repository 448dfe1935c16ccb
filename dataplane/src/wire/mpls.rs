//! MPLS label stack entries (RFC 3032 §2.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                Label                  | TC  |S|       TTL     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! MPLS does not name its payload; after the bottom-of-stack entry the decoder looks at the
//! first nibble (4 = IPv4, 6 = IPv6, 0 = pseudowire control word + Ethernet, RFC 4385).

use super::{be32, need, tail, Result};

/// Length of one label stack entry.
pub const HEADER_LEN: usize = 4;

/// Reserved label: IPv4 explicit null (RFC 3032 §2.1).
pub const LABEL_IPV4_EXPLICIT_NULL: u32 = 0;
/// Reserved label: router alert.
pub const LABEL_ROUTER_ALERT: u32 = 1;
/// Reserved label: IPv6 explicit null.
pub const LABEL_IPV6_EXPLICIT_NULL: u32 = 2;
/// Reserved label: implicit null (must never appear on the wire).
pub const LABEL_IMPLICIT_NULL: u32 = 3;
/// Labels below this value are reserved.
pub const LABEL_MAX_RESERVED: u32 = 15;

/// A view of one label stack entry.
#[derive(Debug, Clone, Copy)]
pub struct MplsEntry<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> MplsEntry<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        MplsEntry { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }
    /// Ensures the 4-byte entry is present.
    pub fn check_len(&self) -> Result<()> {
        need(self.buffer.as_ref(), HEADER_LEN)
    }
    fn word(&self) -> u32 {
        be32(self.buffer.as_ref(), 0)
    }
    /// 20-bit label value.
    pub fn label(&self) -> u32 {
        self.word() >> 12
    }
    /// Traffic class (formerly EXP).
    pub fn tc(&self) -> u8 {
        ((self.word() >> 9) & 0x7) as u8
    }
    /// Bottom-of-stack bit.
    pub fn bottom_of_stack(&self) -> bool {
        self.word() & 0x100 != 0
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.word() as u8
    }
    /// Bytes after this entry.
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_fields() {
        // Label 16000 (0x3e80), TC 5, bottom of stack, TTL 64.
        let word: u32 = (16000 << 12) | (5 << 9) | 0x100 | 64;
        let bytes = word.to_be_bytes();
        let e = MplsEntry::new_checked(&bytes[..]).unwrap();
        assert_eq!(e.label(), 16000);
        assert_eq!(e.tc(), 5);
        assert!(e.bottom_of_stack());
        assert_eq!(e.ttl(), 64);
        assert!(MplsEntry::new_checked(&bytes[..2]).is_err());
    }
}
