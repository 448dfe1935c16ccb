//! UDP (RFC 768).
//!
//! ```text
//!  0      7 8     15 16    23 24    31
//! +--------+--------+--------+--------+
//! |     Source      |   Destination   |
//! |      Port       |      Port       |
//! +--------+--------+--------+--------+
//! |     Length      |    Checksum     |
//! +--------+--------+--------+--------+
//! ```
//! Length counts header and data. A zero checksum over IPv4 means "not computed".

use super::{be16, need, slice, Field, Result, WireError};

mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

/// A view of a UDP datagram.
#[derive(Debug, Clone, Copy)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }
    /// Ensures the header is present, the length field is at least 8 and the buffer holds the
    /// declared datagram.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        need(b, HEADER_LEN)?;
        if usize::from(self.len()) < HEADER_LEN {
            return Err(WireError::Malformed("UDP length below 8"));
        }
        need(b, usize::from(self.len()))
    }
    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT.start)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT.start)
    }
    /// Length field (header + data).
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }
    /// True when the length field says there is no data.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    /// Data bounded by the length field and the buffer.
    pub fn payload(&self) -> &[u8] {
        slice(self.buffer.as_ref(), HEADER_LEN, usize::from(self.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// UDP header of public_mix.pcap packet 17 (172.16.16.128:54043 -> 172.16.16.150:42283,
    /// length 308).
    #[test]
    fn header_from_capture() {
        let mut b = vec![0xd3, 0x1b, 0xa5, 0x2b, 0x01, 0x34, 0xa2, 0x9e];
        b.resize(308, 0x43);
        let u = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(u.src_port(), 54043);
        assert_eq!(u.dst_port(), 42283);
        assert_eq!(u.len(), 308);
        assert_eq!(u.checksum(), 0xa29e);
        assert_eq!(u.payload().len(), 300);
        assert!(UdpPacket::new_checked(&b[..307]).is_err());
        b[5] = 4;
        b[4] = 0;
        assert!(UdpPacket::new_checked(&b[..]).is_err());
    }
}
