//! ERSPAN (Cisco Encapsulated Remote SPAN), carried in GRE with protocol type 0x88BE.
//!
//! Type I has no header of its own (the GRE header carries no sequence number and the payload
//! is the mirrored Ethernet frame). Type II (GRE with a sequence number) puts this 8-byte
//! header in front of the frame:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Ver  |          VLAN         | COS | En|T|    Session ID     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Reserved         |                  Index                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! (draft-foschiano-erspan §4.1; version 1 means type II.)

use super::{be16, be32, need, tail, Result};

/// GRE protocol type of ERSPAN types I and II.
pub const GRE_PROTO: u16 = 0x88be;
/// Length of the type II header.
pub const HEADER_LEN: usize = 8;
/// `Ver` of a type II header.
pub const VERSION_TYPE2: u8 = 1;

/// A view of an ERSPAN type II header.
#[derive(Debug, Clone, Copy)]
pub struct ErspanHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ErspanHeader<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        ErspanHeader { buffer }
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
    /// Header version (1 = type II).
    pub fn version(&self) -> u8 {
        (be16(self.buffer.as_ref(), 0) >> 12) as u8
    }
    /// VLAN id of the mirrored frame (0 = none).
    pub fn vlan(&self) -> u16 {
        be16(self.buffer.as_ref(), 0) & 0x0fff
    }
    /// Mirror session id (10 bits).
    pub fn session_id(&self) -> u16 {
        be16(self.buffer.as_ref(), 2) & 0x03ff
    }
    /// Port index (20 bits).
    pub fn index(&self) -> u32 {
        be32(self.buffer.as_ref(), 4) & 0x000f_ffff
    }
    /// The mirrored Ethernet frame.
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ERSPAN type II header of the first frame of suricata-verify's
    /// `decode-erspan-typeII-01` capture (version 1, VLAN 23, session 100, index 0), then a
    /// made-up index.
    #[test]
    fn fields() {
        let h = [0x10, 0x17, 0x08, 0x64, 0x00, 0x00, 0x00, 0x00, 0x01];
        let v = ErspanHeader::new_checked(&h[..]).unwrap();
        assert_eq!(v.version(), VERSION_TYPE2);
        assert_eq!(v.vlan(), 23);
        assert_eq!(v.session_id(), 100);
        assert_eq!(v.index(), 0);
        assert_eq!(v.payload(), &[0x01]);
        let h = [0x10, 0x00, 0x00, 0x01, 0xff, 0xf1, 0x23, 0x45];
        assert_eq!(ErspanHeader::new_checked(&h[..]).unwrap().index(), 0x1_2345);
        assert!(ErspanHeader::new_checked(&h[..7]).is_err());
    }
}
