//! BSD loopback / `DLT_NULL` and `DLT_LOOP` link headers.
//!
//! A 4-byte address family precedes the IP packet. `DLT_NULL` (link type 0) stores it in the
//! capturing host's byte order, so a reader must accept both orders; `DLT_LOOP` (108) stores it
//! big-endian. IPv4 is family 2 everywhere; IPv6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD) or 30
//! (macOS) depending on the capturing OS (see tcpdump's `print-null.c` notes and
//! <https://www.tcpdump.org/linktypes/LINKTYPE_NULL.html>).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        Address family (host or network byte order)            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{array, need, tail, Result};

/// Length of the loopback header.
pub const HEADER_LEN: usize = 4;

/// What the address family value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullFamily {
    /// AF_INET.
    Ipv4,
    /// AF_INET6 of any of the BSD flavours.
    Ipv6,
    /// Anything else, value as read in little-endian order.
    Unknown(u32),
}

/// A view of a loopback header.
#[derive(Debug, Clone, Copy)]
pub struct NullHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NullHeader<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        NullHeader { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }
    /// Ensures the 4-byte header is present.
    pub fn check_len(&self) -> Result<()> {
        need(self.buffer.as_ref(), HEADER_LEN)
    }
    /// The address family, accepting either byte order.
    pub fn family(&self) -> NullFamily {
        let raw: [u8; 4] = array(self.buffer.as_ref(), 0);
        let le = u32::from_le_bytes(raw);
        let be = u32::from_be_bytes(raw);
        match (le, be) {
            (2, _) | (_, 2) => NullFamily::Ipv4,
            (24 | 28 | 30, _) | (_, 24 | 28 | 30) => NullFamily::Ipv6,
            _ => NullFamily::Unknown(le),
        }
    }
    /// The IP packet after the header.
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_byte_orders() {
        // Little-endian AF_INET as in suricata-verify DLT_NULL captures (02 00 00 00).
        let le = [2u8, 0, 0, 0, 0x45];
        assert_eq!(
            NullHeader::new_checked(&le[..]).unwrap().family(),
            NullFamily::Ipv4
        );
        let be = [0u8, 0, 0, 2];
        assert_eq!(
            NullHeader::new_checked(&be[..]).unwrap().family(),
            NullFamily::Ipv4
        );
        for af in [24u32, 28, 30] {
            let h = af.to_le_bytes();
            assert_eq!(NullHeader::new_unchecked(&h[..]).family(), NullFamily::Ipv6);
            let h = af.to_be_bytes();
            assert_eq!(NullHeader::new_unchecked(&h[..]).family(), NullFamily::Ipv6);
        }
        let odd = 7u32.to_le_bytes();
        assert_eq!(
            NullHeader::new_unchecked(&odd[..]).family(),
            NullFamily::Unknown(7)
        );
        assert_eq!(
            NullHeader::new_checked(&le[..4]).unwrap().payload(),
            &[] as &[u8]
        );
        assert!(NullHeader::new_checked(&le[..3]).is_err());
    }
}
