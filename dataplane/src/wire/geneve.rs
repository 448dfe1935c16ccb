//! Geneve (RFC 8926 §3.4), carried in UDP to port 6081.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        Virtual Network Identifier (VNI)       |    Reserved   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Variable-Length Options                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! The payload follows the options; its type is an EtherType (0x6558: an Ethernet frame).

use super::{be16, be32, byte, need, Result};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 8;
/// IANA-assigned UDP port.
pub const UDP_PORT: u16 = 6081;
/// Protocol type of an encapsulated Ethernet frame (Transparent Ethernet Bridging).
pub const ETHERNET: u16 = 0x6558;

/// A view of a Geneve header.
#[derive(Debug, Clone, Copy)]
pub struct GeneveHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GeneveHeader<T> {
    /// Wraps `buffer` after checking that the fixed header and its options are present.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = GeneveHeader { buffer };
        need(v.buffer.as_ref(), HEADER_LEN)?;
        need(v.buffer.as_ref(), v.header_len())?;
        Ok(v)
    }
    /// Version (0 is the only one defined).
    pub fn version(&self) -> u8 {
        byte(self.buffer.as_ref(), 0) >> 6
    }
    /// Header length including options.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + usize::from(byte(self.buffer.as_ref(), 0) & 0x3f) * 4
    }
    /// EtherType of the payload.
    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }
    /// 24-bit network identifier.
    pub fn vni(&self) -> u32 {
        be32(self.buffer.as_ref(), 4) >> 8
    }
    /// The encapsulated packet.
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(self.header_len()..).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_options() {
        // Version 0, one 4-byte option, Ethernet payload, VNI 0x123456.
        let b = [
            0x01, 0x00, 0x65, 0x58, 0x12, 0x34, 0x56, 0x00, 1, 2, 3, 4, 0xaa,
        ];
        let h = GeneveHeader::new_checked(&b[..]).unwrap();
        assert_eq!(h.version(), 0);
        assert_eq!(h.header_len(), 12);
        assert_eq!(h.protocol(), ETHERNET);
        assert_eq!(h.vni(), 0x123456);
        assert_eq!(h.payload(), &[0xaa]);
        // Options longer than the bytes present.
        assert!(GeneveHeader::new_checked(&b[..10]).is_err());
        assert!(GeneveHeader::new_checked(&b[..7]).is_err());
    }
}
