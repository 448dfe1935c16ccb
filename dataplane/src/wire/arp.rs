//! ARP (RFC 826) over Ethernet.
//!
//! ```text
//! +-------------------------------+-------------------------------+
//! |     Hardware type (HTYPE)     |     Protocol type (PTYPE)     |
//! +---------------+---------------+-------------------------------+
//! |  HLEN (octets)|  PLEN (octets)|        Operation (OPER)       |
//! +---------------+---------------+-------------------------------+
//! | Sender hardware address (HLEN) | Sender protocol address (PLEN)
//! | Target hardware address (HLEN) | Target protocol address (PLEN)
//! +---------------------------------------------------------------+
//! ```
//! Addresses have variable lengths; [`ArpPacket::check_len`] verifies the buffer holds all four
//! as declared, and the typed getters read the Ethernet/IPv4 case (HLEN 6, PLEN 4).

use super::{array, be16, byte, need, slice, Result};

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const ADDRS: usize = 8;
}

/// Length of the fixed part.
pub const HEADER_LEN: usize = 8;

/// A view of an ARP packet.
#[derive(Debug, Clone, Copy)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }
    /// Ensures the fixed part and the four declared addresses are present.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        need(b, HEADER_LEN)?;
        need(b, self.total_len())
    }
    /// Length of fixed part plus addresses, as declared by HLEN/PLEN.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + 2 * (usize::from(self.hlen()) + usize::from(self.plen()))
    }
    /// Hardware type (1 = Ethernet).
    pub fn htype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::HTYPE)
    }
    /// Protocol type (an EtherType; 0x0800 for IPv4).
    pub fn ptype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PTYPE)
    }
    /// Hardware address length.
    pub fn hlen(&self) -> u8 {
        byte(self.buffer.as_ref(), field::HLEN)
    }
    /// Protocol address length.
    pub fn plen(&self) -> u8 {
        byte(self.buffer.as_ref(), field::PLEN)
    }
    /// Operation (1 request, 2 reply).
    pub fn oper(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OPER)
    }
    fn addr(&self, index: usize) -> &[u8] {
        let h = usize::from(self.hlen());
        let p = usize::from(self.plen());
        let start = field::ADDRS
            + match index {
                0 => 0,
                1 => h,
                2 => h + p,
                _ => 2 * h + p,
            };
        let len = if index % 2 == 0 { h } else { p };
        slice(self.buffer.as_ref(), start, start + len)
    }
    /// Sender hardware address bytes.
    pub fn sender_hw(&self) -> &[u8] {
        self.addr(0)
    }
    /// Sender protocol address bytes.
    pub fn sender_proto(&self) -> &[u8] {
        self.addr(1)
    }
    /// Target hardware address bytes.
    pub fn target_hw(&self) -> &[u8] {
        self.addr(2)
    }
    /// Target protocol address bytes.
    pub fn target_proto(&self) -> &[u8] {
        self.addr(3)
    }
    /// Sender IPv4 address for Ethernet/IPv4 ARP (zeroes otherwise).
    pub fn sender_ipv4(&self) -> [u8; 4] {
        if self.hlen() == 6 && self.plen() == 4 {
            array(self.buffer.as_ref(), field::ADDRS + 6)
        } else {
            [0; 4]
        }
    }
    /// Target IPv4 address for Ethernet/IPv4 ARP (zeroes otherwise).
    pub fn target_ipv4(&self) -> [u8; 4] {
        if self.hlen() == 6 && self.plen() == 4 {
            array(self.buffer.as_ref(), field::ADDRS + 16)
        } else {
            [0; 4]
        }
    }
}
