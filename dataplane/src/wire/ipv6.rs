//! IPv6 (RFC 8200 §3) and its extension headers (§4): hop-by-hop and destination options
//! (§4.3, §4.6), routing (§4.4), fragment (§4.5), plus AH's length rule (RFC 4302 §2.2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Source Address (128 bits)                   |
//! |                Destination Address (128 bits)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Extension header (generic):           Fragment header:
//! +---------------+---------------+     +---------------+---------------+
//! |  Next Header  |  Hdr Ext Len  |     |  Next Header  |   Reserved    |
//! +---------------+---------------+     +-------------------------+-+-+-+
//! |  ... (Hdr Ext Len + 1) * 8 ...|     |   Fragment Offset       |Res|M|
//! +-------------------------------+     |         Identification        |
//!                                       +-------------------------------+
//! ```

use super::{array, be16, be32, byte, need, slice, tail, Field, Result};

mod field {
    use super::Field;
    pub const VER_TC_FL: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Field = 8..24;
    pub const DST: Field = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;
/// Length of the fragment extension header.
pub const FRAG_HEADER_LEN: usize = 8;

/// A view of an IPv6 packet.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }
    /// Ensures the fixed header and the declared payload are present.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        need(b, HEADER_LEN)?;
        need(b, HEADER_LEN + usize::from(self.payload_len()))
    }
    /// The version nibble.
    pub fn version(&self) -> u8 {
        byte(self.buffer.as_ref(), 0) >> 4
    }
    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        (be32(self.buffer.as_ref(), field::VER_TC_FL.start) >> 20) as u8
    }
    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VER_TC_FL.start) & 0x000f_ffff
    }
    /// Payload length (extension headers included).
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }
    /// First next-header value.
    pub fn next_header(&self) -> u8 {
        byte(self.buffer.as_ref(), field::NXT_HDR)
    }
    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        byte(self.buffer.as_ref(), field::HOP_LIMIT)
    }
    /// Source address.
    pub fn src_addr(&self) -> [u8; 16] {
        array(self.buffer.as_ref(), field::SRC.start)
    }
    /// Destination address.
    pub fn dst_addr(&self) -> [u8; 16] {
        array(self.buffer.as_ref(), field::DST.start)
    }
    /// Everything after the fixed header, bounded by payload length and the buffer.
    pub fn payload(&self) -> &[u8] {
        slice(
            self.buffer.as_ref(),
            HEADER_LEN,
            HEADER_LEN + usize::from(self.payload_len()),
        )
    }
}

/// A view of a generic extension header (hop-by-hop, routing, destination options, and AH when
/// `ah` is set, whose length unit is 4 bytes).
#[derive(Debug, Clone, Copy)]
pub struct ExtHeader<T: AsRef<[u8]>> {
    buffer: T,
    ah: bool,
}

impl<T: AsRef<[u8]>> ExtHeader<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T, ah: bool) -> Self {
        ExtHeader { buffer, ah }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T, ah: bool) -> Result<Self> {
        let v = Self::new_unchecked(buffer, ah);
        v.check_len()?;
        Ok(v)
    }
    /// Ensures the two leading bytes and the declared length are present.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        need(b, 2)?;
        need(b, self.header_len())
    }
    /// Next header value.
    pub fn next_header(&self) -> u8 {
        byte(self.buffer.as_ref(), 0)
    }
    /// Length of this header in bytes.
    pub fn header_len(&self) -> usize {
        let n = usize::from(byte(self.buffer.as_ref(), 1));
        if self.ah {
            (n + 2) * 4
        } else {
            (n + 1) * 8
        }
    }
    /// The bytes after the two leading bytes (options, routing data, AH fields).
    pub fn data(&self) -> &[u8] {
        slice(self.buffer.as_ref(), 2, self.header_len())
    }
    /// Routing header: routing type (byte 2).
    pub fn routing_type(&self) -> u8 {
        byte(self.buffer.as_ref(), 2)
    }
    /// Routing header: segments left (byte 3).
    pub fn segments_left(&self) -> u8 {
        byte(self.buffer.as_ref(), 3)
    }
    /// AH: the reserved 16 bits (must be zero).
    pub fn ah_reserved(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }
    /// Bytes after this header.
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), self.header_len())
    }
}

/// A view of a fragment header.
#[derive(Debug, Clone, Copy)]
pub struct FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FragmentHeader<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        FragmentHeader { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }
    /// Ensures the 8-byte header is present.
    pub fn check_len(&self) -> Result<()> {
        need(self.buffer.as_ref(), FRAG_HEADER_LEN)
    }
    /// Next header of the fragmentable part.
    pub fn next_header(&self) -> u8 {
        byte(self.buffer.as_ref(), 0)
    }
    /// The 8-bit reserved field.
    pub fn reserved(&self) -> u8 {
        byte(self.buffer.as_ref(), 1)
    }
    /// The 2-bit reserved field next to M.
    pub fn reserved2(&self) -> u8 {
        ((be16(self.buffer.as_ref(), 2) >> 1) & 0x3) as u8
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), 2) & 0xfff8
    }
    /// More fragments.
    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), 2) & 1 != 0
    }
    /// Identification.
    pub fn ident(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }
}

/// Option types of hop-by-hop and destination options headers (IANA "Destination Options and
/// Hop-by-Hop Options").
pub mod opt {
    /// One byte of padding.
    pub const PAD1: u8 = 0x00;
    /// N bytes of padding.
    pub const PADN: u8 = 0x01;
    /// Tunnel encapsulation limit (RFC 2473).
    pub const TUNNEL_LIMIT: u8 = 0x04;
    /// Router alert (RFC 2711).
    pub const ROUTER_ALERT: u8 = 0x05;
    /// Jumbo payload (RFC 2675).
    pub const JUMBO: u8 = 0xc2;
    /// Home address (RFC 6275).
    pub const HOME_ADDRESS: u8 = 0xc9;
}

/// One TLV of an options header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Option<'a> {
    /// Option type.
    pub kind: u8,
    /// Offset inside the options area.
    pub offset: usize,
    /// Option data (empty for Pad1).
    pub data: &'a [u8],
}

/// An option whose length runs past the header (carries its offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6OptError {
    /// Offset inside the options area.
    pub offset: usize,
}

/// Iterator over the TLVs of a hop-by-hop or destination options header. Each step consumes at
/// least one byte; after an error the walk ends.
#[derive(Debug, Clone)]
pub struct Ipv6Options<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Ipv6Options<'a> {
    /// Walks the options area (the header's bytes after next header and length).
    pub fn new(data: &'a [u8]) -> Self {
        Ipv6Options {
            data,
            pos: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for Ipv6Options<'a> {
    type Item = core::result::Result<Ipv6Option<'a>, Ipv6OptError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.data.len() {
            return None;
        }
        let offset = self.pos;
        let kind = self.data[offset];
        if kind == opt::PAD1 {
            self.pos += 1;
            return Some(Ok(Ipv6Option {
                kind,
                offset,
                data: &[],
            }));
        }
        let end = self
            .data
            .get(offset + 1)
            .map(|&l| offset + 2 + usize::from(l));
        match end {
            Some(end) if end <= self.data.len() => {
                self.pos = end;
                Some(Ok(Ipv6Option {
                    kind,
                    offset,
                    data: &self.data[offset + 2..end],
                }))
            }
            _ => {
                self.done = true;
                Some(Err(Ipv6OptError { offset }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv6 header + fragment header of packet 5 of suricata-verify
    /// `ipv6-evasion/ipv6-malformed-fragments-2/frag-2.pcap` (first fragment of an echo request,
    /// id 2, M set).
    const FRAG: [u8; 48] = [
        0x60, 0x00, 0x00, 0x00, 0x01, 0xa0, 0x2c, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x3a, 0x00, 0x00, 0x01, 0x00,
        0x00, 0x00, 0x02,
    ];

    #[test]
    fn fragment_from_capture() {
        let p = Ipv6Packet::new_unchecked(&FRAG[..]);
        assert!(p.check_len().is_err(), "payload runs past this excerpt");
        assert_eq!(p.version(), 6);
        assert_eq!(p.payload_len(), 0x1a0);
        assert_eq!(p.next_header(), crate::wire::ipproto::FRAGMENT);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr()[15], 2);
        assert_eq!(p.dst_addr()[15], 1);
        let f = FragmentHeader::new_checked(&FRAG[40..]).unwrap();
        assert_eq!(f.next_header(), crate::wire::ipproto::ICMPV6);
        assert_eq!(f.frag_offset(), 0);
        assert!(f.more_frags());
        assert_eq!(f.ident(), 2);
        assert_eq!(f.reserved(), 0);
        assert_eq!(f.reserved2(), 0);
    }

    /// Destination options header from public_mix.pcap packet 107802: next header TCP, one
    /// 24-byte header holding a PadN of 2 and a home address option (bytes `06 02 01 02 00 00 c9 10`
    /// then the 16-byte address).
    #[test]
    fn options_walk_from_capture() {
        let hdr = [
            0x06, 0x02, 0x01, 0x02, 0x00, 0x00, 0xc9, 0x10, 0x20, 0x01, 0x00, 0x78, 0x00, 0x01,
            0x00, 0x32, 0, 0, 0, 0, 0, 0, 0, 0x01,
        ];
        let e = ExtHeader::new_checked(&hdr[..], false).unwrap();
        assert_eq!(e.next_header(), 6);
        assert_eq!(e.header_len(), 24);
        let opts: Vec<_> = Ipv6Options::new(e.data())
            .map(|o| o.unwrap().kind)
            .collect();
        assert_eq!(opts, vec![opt::PADN, opt::HOME_ADDRESS]);
        let bad = [opt::PADN, 9, 0];
        let v: Vec<_> = Ipv6Options::new(&bad).collect();
        assert_eq!(v, vec![Err(Ipv6OptError { offset: 0 })]);
        assert!(ExtHeader::new_checked(&hdr[..20], false).is_err());
        // AH counts 4-byte units plus 2.
        let ah = [6u8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            ExtHeader::new_checked(&ah[..], true).unwrap().header_len(),
            12
        );
    }
}
