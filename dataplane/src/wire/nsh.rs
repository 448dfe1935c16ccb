//! NSH, the Network Service Header of service function chaining (RFC 8300), EtherType 0x894F.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Ver|O|U|    TTL    |   Length  |U|U|U|U|MD Type| Next Protocol |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Service Path Identifier (SPI)        | Service Index |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Context headers (MD type 1: 16 bytes)        |
//! ```
//! `Length` counts the whole header in 4-byte words (6 for MD type 1).

use super::{be16, be32, byte, need, Result};

/// Base header plus service path header.
pub const BASE_LEN: usize = 8;
/// Header length of MD type 1 (fixed-length context).
pub const MD1_LEN: usize = 24;

/// Next protocol values (RFC 8300 §11.2.5).
pub mod next {
    /// IPv4.
    pub const IPV4: u8 = 1;
    /// IPv6.
    pub const IPV6: u8 = 2;
    /// Ethernet.
    pub const ETHERNET: u8 = 3;
    /// NSH.
    pub const NSH: u8 = 4;
    /// MPLS.
    pub const MPLS: u8 = 5;
}

/// A view of an NSH header.
#[derive(Debug, Clone, Copy)]
pub struct NshHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NshHeader<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        NshHeader { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }
    /// Ensures the base and service path headers are present (not the context headers: see
    /// [`header_len`](Self::header_len)).
    pub fn check_len(&self) -> Result<()> {
        need(self.buffer.as_ref(), BASE_LEN)
    }
    /// Version (0 is the only one defined).
    pub fn version(&self) -> u8 {
        byte(self.buffer.as_ref(), 0) >> 6
    }
    /// Time to live (6 bits).
    pub fn ttl(&self) -> u8 {
        ((be16(self.buffer.as_ref(), 0) >> 6) & 0x3f) as u8
    }
    /// Whole header length in bytes, from the `Length` field.
    pub fn header_len(&self) -> usize {
        usize::from(byte(self.buffer.as_ref(), 1) & 0x3f) * 4
    }
    /// Metadata type (1 fixed, 2 variable; 0 and 0xF reserved).
    pub fn md_type(&self) -> u8 {
        byte(self.buffer.as_ref(), 2) & 0x0f
    }
    /// Protocol of what follows the header.
    pub fn next_protocol(&self) -> u8 {
        byte(self.buffer.as_ref(), 3)
    }
    /// Service path identifier (24 bits).
    pub fn spi(&self) -> u32 {
        be32(self.buffer.as_ref(), 4) >> 8
    }
    /// Service index.
    pub fn si(&self) -> u8 {
        byte(self.buffer.as_ref(), 7)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The NSH header of suricata-verify's `decode-nsh-type1` capture (MD type 1, IPv4 next,
    /// SPI 1, SI 2), then a made-up MD type 2 header with TTL 63.
    #[test]
    fn fields() {
        let h = [0x00, 0x06, 0x01, 0x01, 0x00, 0x00, 0x01, 0x02];
        let v = NshHeader::new_checked(&h[..]).unwrap();
        assert_eq!(v.version(), 0);
        assert_eq!(v.header_len(), MD1_LEN);
        assert_eq!(v.md_type(), 1);
        assert_eq!(v.next_protocol(), next::IPV4);
        assert_eq!(v.spi(), 1);
        assert_eq!(v.si(), 2);
        let h = [0x0f, 0xc2, 0x02, 0x03, 0, 0, 0, 0];
        let v = NshHeader::new_checked(&h[..]).unwrap();
        assert_eq!(v.ttl(), 63);
        assert_eq!(v.header_len(), 8);
        assert_eq!(v.md_type(), 2);
        assert_eq!(v.next_protocol(), next::ETHERNET);
        assert!(NshHeader::new_checked(&h[..7]).is_err());
    }
}
