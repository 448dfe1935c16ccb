//! VXLAN (RFC 7348 §5), carried in UDP to port 4789.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |R|R|R|R|I|R|R|R|            Reserved                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                VXLAN Network Identifier (VNI) |   Reserved    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! The payload is an Ethernet frame.

use super::{be32, byte, need, tail, Result};

/// Length of the VXLAN header.
pub const HEADER_LEN: usize = 8;
/// IANA-assigned UDP port.
pub const UDP_PORT: u16 = 4789;

/// A view of a VXLAN header.
#[derive(Debug, Clone, Copy)]
pub struct VxlanHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VxlanHeader<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        VxlanHeader { buffer }
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
    /// The flags byte; bit 3 ("I") must be set for a valid VNI.
    pub fn flags(&self) -> u8 {
        byte(self.buffer.as_ref(), 0)
    }
    /// True when the I flag says the VNI is valid.
    pub fn vni_valid(&self) -> bool {
        self.flags() & 0x08 != 0
    }
    /// 24-bit network identifier.
    pub fn vni(&self) -> u32 {
        be32(self.buffer.as_ref(), 4) >> 8
    }
    /// The encapsulated Ethernet frame.
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// VXLAN header from public_mix.pcap packet 96216 (UDP 60887 -> 4789, VNI 1111).
    #[test]
    fn fields_from_capture() {
        let h = [0x08, 0, 0, 0, 0x00, 0x04, 0x57, 0x00, 0x66, 0x7a];
        let v = VxlanHeader::new_checked(&h[..]).unwrap();
        assert!(v.vni_valid());
        assert_eq!(v.vni(), 1111);
        assert_eq!(v.payload(), &[0x66, 0x7a]);
        assert!(VxlanHeader::new_checked(&h[..7]).is_err());
    }
}
