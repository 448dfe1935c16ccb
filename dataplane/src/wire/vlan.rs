//! IEEE 802.1Q VLAN tags and 802.1ad (QinQ) stacking.
//!
//! The tag follows the TPID (0x8100, 0x88a8 or the pre-standard 0x9100), which the enclosing
//! header already carried as its EtherType. The view covers the 4 bytes after the TPID:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | PCP |D|        VLAN id        |      Inner EtherType          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{be16, ethertype, need, tail, Field, Result};

mod field {
    use super::Field;
    pub const TCI: Field = 0..2;
    pub const ETHERTYPE: Field = 2..4;
}

/// Length of one tag (after the TPID).
pub const HEADER_LEN: usize = 4;

/// True for the EtherTypes that introduce a VLAN tag.
pub const fn is_vlan_tpid(ethertype: u16) -> bool {
    matches!(
        ethertype,
        ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD
    )
}

/// A view of one VLAN tag.
#[derive(Debug, Clone, Copy)]
pub struct VlanTag<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanTag<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        VlanTag { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }
    /// Ensures the 4-byte tag is present.
    pub fn check_len(&self) -> Result<()> {
        need(self.buffer.as_ref(), HEADER_LEN)
    }
    /// Priority code point (802.1p class of service).
    pub fn pcp(&self) -> u8 {
        (be16(self.buffer.as_ref(), field::TCI.start) >> 13) as u8
    }
    /// Drop eligible indicator.
    pub fn dei(&self) -> bool {
        be16(self.buffer.as_ref(), field::TCI.start) & 0x1000 != 0
    }
    /// 12-bit VLAN identifier.
    pub fn vid(&self) -> u16 {
        be16(self.buffer.as_ref(), field::TCI.start) & 0x0fff
    }
    /// EtherType of what follows the tag.
    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ETHERTYPE.start)
    }
    /// Bytes after the tag.
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_fields() {
        // PCP 5, DEI 1, VID 0xabc, inner IPv4.
        let tag = [0xba, 0xbc, 0x08, 0x00, 0x45];
        let v = VlanTag::new_checked(&tag[..]).unwrap();
        assert_eq!(v.pcp(), 5);
        assert!(v.dei());
        assert_eq!(v.vid(), 0xabc);
        assert_eq!(v.ethertype(), ethertype::IPV4);
        assert_eq!(v.payload(), &[0x45]);
        assert!(VlanTag::new_checked(&tag[..3]).is_err());
        assert!(is_vlan_tpid(0x8100) && is_vlan_tpid(0x88a8) && is_vlan_tpid(0x9100));
        assert!(!is_vlan_tpid(0x0800));
    }
}
