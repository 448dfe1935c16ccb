//! TCP (RFC 9293 §3.1) and its options: MSS (RFC 9293 §3.2), window scale and timestamps
//! (RFC 7323), SACK-permitted and SACK (RFC 2018), TCP Fast Open cookie (RFC 7413).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Acknowledgment Number                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data |     |A|C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsvd|E|W|C|R|C|S|S|Y|I|            Window             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |         Urgent Pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{be16, be32, byte, need, slice, tail, Field, Result, WireError};

mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ: Field = 4..8;
    pub const ACK: Field = 8..12;
    pub const OFF_FLAGS: Field = 12..14;
    pub const WINDOW: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

/// Length of the header without options.
pub const MIN_HEADER_LEN: usize = 20;

/// Flag bits (low 9 bits of the offset/flags word; bit 8 is the former NS/AE bit).
pub mod flags {
    /// FIN.
    pub const FIN: u16 = 0x001;
    /// SYN.
    pub const SYN: u16 = 0x002;
    /// RST.
    pub const RST: u16 = 0x004;
    /// PSH.
    pub const PSH: u16 = 0x008;
    /// ACK.
    pub const ACK: u16 = 0x010;
    /// URG.
    pub const URG: u16 = 0x020;
    /// ECE.
    pub const ECE: u16 = 0x040;
    /// CWR.
    pub const CWR: u16 = 0x080;
    /// AE (formerly NS, RFC 3540).
    pub const AE: u16 = 0x100;
}

/// Option kinds (IANA "TCP Option Kind Numbers").
pub mod opt {
    /// End of option list.
    pub const EOL: u8 = 0;
    /// No operation.
    pub const NOP: u8 = 1;
    /// Maximum segment size.
    pub const MSS: u8 = 2;
    /// Window scale.
    pub const WSCALE: u8 = 3;
    /// SACK permitted.
    pub const SACK_PERM: u8 = 4;
    /// SACK blocks.
    pub const SACK: u8 = 5;
    /// Timestamps.
    pub const TIMESTAMP: u8 = 8;
    /// TCP Fast Open cookie.
    pub const TFO: u8 = 34;
    /// TCP-AO / MD5 signature (RFC 2385).
    pub const MD5: u8 = 19;
    /// Multipath TCP.
    pub const MPTCP: u8 = 30;
}

/// A view of a TCP segment.
#[derive(Debug, Clone, Copy)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }
    /// Ensures the fixed header is present, the data offset is at least 5 and the buffer holds
    /// the options it announces.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        need(b, MIN_HEADER_LEN)?;
        if self.header_len() < MIN_HEADER_LEN {
            return Err(WireError::Malformed("TCP data offset below 5"));
        }
        need(b, self.header_len())
    }
    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT.start)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT.start)
    }
    /// Sequence number.
    pub fn seq(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQ.start)
    }
    /// Acknowledgment number.
    pub fn ack(&self) -> u32 {
        be32(self.buffer.as_ref(), field::ACK.start)
    }
    /// Header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        usize::from(byte(self.buffer.as_ref(), field::OFF_FLAGS.start) >> 4) * 4
    }
    /// The nine flag bits (see [`flags`]).
    pub fn flags(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OFF_FLAGS.start) & 0x01ff
    }
    /// The three reserved bits between data offset and flags.
    pub fn reserved(&self) -> u8 {
        (byte(self.buffer.as_ref(), field::OFF_FLAGS.start) >> 1) & 0x7
    }
    /// Advertised window (unscaled).
    pub fn window(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WINDOW.start)
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        be16(self.buffer.as_ref(), field::URGENT.start)
    }
    /// Option bytes (clamped to the buffer).
    pub fn options(&self) -> &[u8] {
        slice(self.buffer.as_ref(), MIN_HEADER_LEN, self.header_len())
    }
    /// Segment data after the header.
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), self.header_len().max(MIN_HEADER_LEN))
    }
}

/// One TCP option as found on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOptionRaw<'a> {
    /// Option kind.
    pub kind: u8,
    /// Offset inside the options area.
    pub offset: usize,
    /// Data after kind and length (empty for EOL/NOP).
    pub data: &'a [u8],
}

/// An option with a missing, short or overlong length byte (carries its offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOptError {
    /// Offset inside the options area.
    pub offset: usize,
    /// The option kind.
    pub kind: u8,
}

/// Iterator over TCP options; ends after EOL or after yielding one error. Each step consumes at
/// least one byte of the (at most 40-byte) options area.
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> TcpOptions<'a> {
    /// Walks `data`, the options area of a header.
    pub fn new(data: &'a [u8]) -> Self {
        TcpOptions {
            data,
            pos: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = core::result::Result<TcpOptionRaw<'a>, TcpOptError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.data.len() {
            return None;
        }
        let offset = self.pos;
        let kind = self.data[offset];
        if kind == opt::EOL || kind == opt::NOP {
            self.pos += 1;
            self.done = kind == opt::EOL;
            return Some(Ok(TcpOptionRaw {
                kind,
                offset,
                data: &[],
            }));
        }
        match self.data.get(offset + 1) {
            Some(&len) if len >= 2 && offset + usize::from(len) <= self.data.len() => {
                let end = offset + usize::from(len);
                self.pos = end;
                Some(Ok(TcpOptionRaw {
                    kind,
                    offset,
                    data: &self.data[offset + 2..end],
                }))
            }
            _ => {
                self.done = true;
                Some(Err(TcpOptError { offset, kind }))
            }
        }
    }
}

/// The timestamp value and echo reply of an options area that is exactly NOP, NOP,
/// Timestamps (RFC 7323 Appendix A's layout, which most stacks send on every segment after the
/// handshake); `None` for any other options area.
#[inline]
pub fn nop_nop_timestamp(opts: &[u8]) -> Option<(u32, u32)> {
    let o: &[u8; 12] = opts.try_into().ok()?;
    if o[..4] != [opt::NOP, opt::NOP, opt::TIMESTAMP, 10] {
        return None;
    }
    Some((
        u32::from_be_bytes([o[4], o[5], o[6], o[7]]),
        u32::from_be_bytes([o[8], o[9], o[10], o[11]]),
    ))
}

/// Required total length (kind + len + data) of options with a fixed size; `None` when the size
/// varies or is unknown.
pub const fn fixed_option_len(kind: u8) -> Option<usize> {
    match kind {
        opt::MSS => Some(4),
        opt::WSCALE => Some(3),
        opt::SACK_PERM => Some(2),
        opt::TIMESTAMP => Some(10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TCP header of public_mix.pcap packet 1 (SYN 172.16.16.128:53936 -> 172.16.16.150:135 with
    /// window scale 10, NOP, MSS 1460, timestamps and SACK-permitted).
    const SYN: [u8; 40] = [
        0xd2, 0xb0, 0x00, 0x87, 0x97, 0x4c, 0x9b, 0x17, 0x42, 0x1d, 0x04, 0x06, 0xa0, 0x02, 0x00,
        0x01, 0x7a, 0x0f, 0x00, 0x00, 0x03, 0x03, 0x0a, 0x01, 0x02, 0x04, 0x05, 0xb4, 0x08, 0x0a,
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x04, 0x02,
    ];

    #[test]
    fn syn_from_capture() {
        let t = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!(t.src_port(), 53936);
        assert_eq!(t.dst_port(), 135);
        assert_eq!(t.seq(), 0x974c9b17);
        assert_eq!(t.ack(), 0x421d0406);
        assert_eq!(t.header_len(), 40);
        assert_eq!(t.flags(), flags::SYN);
        assert_eq!(t.window(), 1);
        let kinds: Vec<_> = TcpOptions::new(t.options())
            .map(|o| o.unwrap().kind)
            .collect();
        assert_eq!(
            kinds,
            vec![
                opt::WSCALE,
                opt::NOP,
                opt::MSS,
                opt::TIMESTAMP,
                opt::SACK_PERM
            ]
        );
        assert!(t.payload().is_empty());
    }

    #[test]
    fn bad_lengths() {
        let mut b = SYN;
        b[12] = 0x40; // data offset 4
        assert!(TcpPacket::new_checked(&b[..]).is_err());
        assert!(TcpPacket::new_checked(&SYN[..39]).is_err());
        let opts = [opt::MSS, 1];
        let v: Vec<_> = TcpOptions::new(&opts).collect();
        assert_eq!(
            v,
            vec![Err(TcpOptError {
                offset: 0,
                kind: opt::MSS
            })]
        );
        let opts = [opt::NOP, opt::SACK, 12, 0];
        let v: Vec<_> = TcpOptions::new(&opts).collect();
        assert_eq!(
            v[1],
            Err(TcpOptError {
                offset: 1,
                kind: opt::SACK
            })
        );
    }
}
