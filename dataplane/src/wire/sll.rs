//! Linux "cooked" capture header, `LINKTYPE_LINUX_SLL` (113).
//!
//! ```text
//! +---------------------------+
//! | Packet type (2)           |  0 to us, 1 broadcast, 2 multicast, 3 other host, 4 outgoing
//! | ARPHRD type (2)           |
//! | Link-layer address len (2)|
//! | Link-layer address (8)    |
//! | Protocol type (2)         |  an EtherType
//! +---------------------------+
//! ```
//! See <https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html>.

use super::{be16, need, slice, tail, Result};

mod field {
    pub const PKTTYPE: usize = 0;
    pub const HATYPE: usize = 2;
    pub const HALEN: usize = 4;
    pub const ADDR: usize = 6;
    pub const PROTOCOL: usize = 14;
}

/// Length of the SLL header.
pub const HEADER_LEN: usize = 16;

/// A view of a Linux cooked capture header.
#[derive(Debug, Clone, Copy)]
pub struct SllHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SllHeader<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        SllHeader { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }
    /// Ensures the 16-byte header is present.
    pub fn check_len(&self) -> Result<()> {
        need(self.buffer.as_ref(), HEADER_LEN)
    }
    /// Packet type (direction relative to the capturing host).
    pub fn packet_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PKTTYPE)
    }
    /// ARPHRD_ hardware type.
    pub fn hardware_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::HATYPE)
    }
    /// The link-layer address (at most 8 bytes are stored).
    pub fn address(&self) -> &[u8] {
        let n = usize::from(be16(self.buffer.as_ref(), field::HALEN)).min(8);
        slice(self.buffer.as_ref(), field::ADDR, field::ADDR + n)
    }
    /// EtherType of the payload.
    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PROTOCOL)
    }
    /// Bytes after the header.
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let h = [0, 4, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00, 0x45];
        let s = SllHeader::new_checked(&h[..]).unwrap();
        assert_eq!(s.packet_type(), 4);
        assert_eq!(s.hardware_type(), 1);
        assert_eq!(s.address(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(s.protocol(), 0x0800);
        assert_eq!(s.payload(), &[0x45]);
        assert!(SllHeader::new_checked(&h[..15]).is_err());
    }
}
