//! IPv4 (RFC 791 §3.1) and its options.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |Type of Service|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! [`Ipv4Packet::check_len`] checks the fixed header and that IHL and Total Length are
//! consistent with each other and with the buffer; the decoder does the same checks one by one
//! to tell Suricata's events apart (`hlen_too_small`, `iplen_smaller_than_hlen`, `trunc_pkt`).

use super::{array, be16, byte, need, slice, Field, Result, WireError};

mod field {
    use super::Field;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC: Field = 12..16;
    pub const DST: Field = 16..20;
}

/// Length of the header without options.
pub const MIN_HEADER_LEN: usize = 20;

/// Option type numbers (RFC 791 §3.1, IANA "IP Option Numbers"), copied flag included.
pub mod opt {
    /// End of option list.
    pub const EOL: u8 = 0x00;
    /// No operation (padding).
    pub const NOP: u8 = 0x01;
    /// Record route.
    pub const RR: u8 = 0x07;
    /// Quick-start.
    pub const QS: u8 = 0x19;
    /// Timestamp.
    pub const TS: u8 = 0x44;
    /// Security (RFC 1108).
    pub const SEC: u8 = 0x82;
    /// Loose source route.
    pub const LSRR: u8 = 0x83;
    /// Extended security.
    pub const ESEC: u8 = 0x85;
    /// Commercial security (CIPSO).
    pub const CIPSO: u8 = 0x86;
    /// Stream identifier.
    pub const SID: u8 = 0x88;
    /// Strict source route.
    pub const SSRR: u8 = 0x89;
    /// Router alert (RFC 2113).
    pub const RTRALT: u8 = 0x94;
}

/// A view of an IPv4 packet.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }
    /// Ensures the fixed header is present, IHL ≥ 5, total length ≥ IHL and the buffer holds
    /// the whole datagram as declared.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        need(b, MIN_HEADER_LEN)?;
        let hl = self.header_len();
        if hl < MIN_HEADER_LEN {
            return Err(WireError::Malformed("IPv4 IHL below 5"));
        }
        if usize::from(self.total_len()) < hl {
            return Err(WireError::Malformed(
                "IPv4 total length below header length",
            ));
        }
        need(b, usize::from(self.total_len()))
    }
    /// The version nibble.
    pub fn version(&self) -> u8 {
        byte(self.buffer.as_ref(), field::VER_IHL) >> 4
    }
    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(byte(self.buffer.as_ref(), field::VER_IHL) & 0x0f) * 4
    }
    /// Type of service / DSCP+ECN byte.
    pub fn tos(&self) -> u8 {
        byte(self.buffer.as_ref(), field::TOS)
    }
    /// Total length field.
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }
    /// Identification.
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT.start)
    }
    /// Reserved ("evil") bit.
    pub fn reserved_flag(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF.start) & 0x8000 != 0
    }
    /// Don't fragment.
    pub fn dont_frag(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF.start) & 0x4000 != 0
    }
    /// More fragments.
    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF.start) & 0x2000 != 0
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (be16(self.buffer.as_ref(), field::FLG_OFF.start) & 0x1fff) << 3
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        byte(self.buffer.as_ref(), field::TTL)
    }
    /// Protocol of the payload.
    pub fn protocol(&self) -> u8 {
        byte(self.buffer.as_ref(), field::PROTOCOL)
    }
    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    /// Source address.
    pub fn src_addr(&self) -> [u8; 4] {
        array(self.buffer.as_ref(), field::SRC.start)
    }
    /// Destination address.
    pub fn dst_addr(&self) -> [u8; 4] {
        array(self.buffer.as_ref(), field::DST.start)
    }
    /// The header, options included (clamped to the buffer).
    pub fn header(&self) -> &[u8] {
        slice(self.buffer.as_ref(), 0, self.header_len())
    }
    /// The option bytes (clamped to the buffer).
    pub fn options(&self) -> &[u8] {
        slice(self.buffer.as_ref(), MIN_HEADER_LEN, self.header_len())
    }
    /// True when the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        super::checksum::verify(self.header())
    }
    /// The payload as bounded by total length and the buffer.
    pub fn payload(&self) -> &[u8] {
        slice(
            self.buffer.as_ref(),
            self.header_len(),
            usize::from(self.total_len()),
        )
    }
}

/// One IPv4 option as found on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Option<'a> {
    /// Option type byte.
    pub kind: u8,
    /// Offset of the option inside the options area.
    pub offset: usize,
    /// Option data after type and length (empty for EOL/NOP).
    pub data: &'a [u8],
}

/// Why walking the options stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4OptError {
    /// A multi-byte option with no room for its length byte.
    MissingLength {
        /// Offset inside the options area.
        offset: usize,
    },
    /// Length byte below 2 or running past the options area.
    InvalidLength {
        /// Offset inside the options area.
        offset: usize,
        /// The length byte.
        len: u8,
    },
}

/// Iterator over IPv4 options; stops after EOL and yields one error on a bad length, then ends.
/// Each step consumes at least one byte, so the walk is bounded by the 40-byte options area.
#[derive(Debug, Clone)]
pub struct Ipv4Options<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Ipv4Options<'a> {
    /// Walks `data`, the options area of a header.
    pub fn new(data: &'a [u8]) -> Self {
        Ipv4Options {
            data,
            pos: 0,
            done: false,
        }
    }
    /// Bytes left after the walk stopped (non-empty after EOL means trailing padding).
    pub fn remaining(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }
}

impl<'a> Iterator for Ipv4Options<'a> {
    type Item = core::result::Result<Ipv4Option<'a>, Ipv4OptError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.data.len() {
            return None;
        }
        let offset = self.pos;
        let kind = self.data[offset];
        if kind == opt::EOL || kind == opt::NOP {
            self.pos += 1;
            if kind == opt::EOL {
                self.done = true;
            }
            return Some(Ok(Ipv4Option {
                kind,
                offset,
                data: &[],
            }));
        }
        self.done = true;
        let Some(&len) = self.data.get(offset + 1) else {
            return Some(Err(Ipv4OptError::MissingLength { offset }));
        };
        let end = offset + usize::from(len);
        if len < 2 || end > self.data.len() {
            return Some(Err(Ipv4OptError::InvalidLength { offset, len }));
        }
        self.done = false;
        self.pos = end;
        Some(Ok(Ipv4Option {
            kind,
            offset,
            data: &self.data[offset + 2..end],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv4 header of public_mix.pcap packet 4281: IGMP to 224.0.0.252 with the router alert
    /// option (IHL 6), total length 32.
    const RA: [u8; 32] = [
        0x46, 0x00, 0x00, 0x20, 0x0b, 0x3a, 0x00, 0x00, 0x01, 0x02, 0x7b, 0xf7, 0xac, 0x10, 0x10,
        0x9a, 0xe0, 0x00, 0x00, 0xfc, 0x94, 0x04, 0x00, 0x00, 0x16, 0x00, 0x09, 0x03, 0xe0, 0x00,
        0x00, 0xfc,
    ];

    #[test]
    fn header_with_router_alert_from_capture() {
        let p = Ipv4Packet::new_checked(&RA[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.total_len(), 32);
        assert_eq!(p.ident(), 0x0b3a);
        assert!(!p.dont_frag() && !p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 1);
        assert_eq!(p.protocol(), 2);
        assert_eq!(p.src_addr(), [172, 16, 16, 154]);
        assert_eq!(p.dst_addr(), [224, 0, 0, 252]);
        assert!(p.verify_checksum());
        let opts: Vec<_> = Ipv4Options::new(p.options()).collect();
        assert_eq!(
            opts,
            vec![Ok(Ipv4Option {
                kind: opt::RTRALT,
                offset: 0,
                data: &[0, 0]
            })]
        );
        assert_eq!(p.payload().len(), 8);
    }

    #[test]
    fn inconsistent_lengths() {
        let mut b = RA;
        b[0] = 0x44; // IHL 4
        assert!(Ipv4Packet::new_checked(&b[..]).is_err());
        let mut b = RA;
        b[3] = 0x10; // total length 16 < IHL
        assert!(Ipv4Packet::new_checked(&b[..]).is_err());
        assert!(Ipv4Packet::new_checked(&RA[..31]).is_err());
        let p = Ipv4Packet::new_unchecked(&RA[..10]);
        assert!(p.payload().is_empty());
        assert_eq!(p.src_addr(), [0; 4]);
    }

    #[test]
    fn option_walk_errors() {
        let bad = [opt::NOP, opt::RR, 1, 0];
        let v: Vec<_> = Ipv4Options::new(&bad).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1], Err(Ipv4OptError::InvalidLength { offset: 1, len: 1 }));
        let cut = [opt::TS];
        let v: Vec<_> = Ipv4Options::new(&cut).collect();
        assert_eq!(v, vec![Err(Ipv4OptError::MissingLength { offset: 0 })]);
        let eol = [opt::EOL, 0, 0, 0];
        let mut it = Ipv4Options::new(&eol);
        assert_eq!(it.by_ref().count(), 1);
        assert_eq!(it.remaining(), &[0, 0, 0]);
    }
}
