//! PPPoE session stage (RFC 2516 §4) carrying PPP (RFC 1661 §2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  VER  | TYPE  |      CODE     |          SESSION_ID           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            LENGTH             |   PPP protocol (session)      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! LENGTH counts the PPPoE payload, i.e. the PPP protocol field and what follows. Session
//! frames have CODE 0; discovery frames (EtherType 0x8863) use the same 6-byte header with
//! tags instead of PPP.

use super::{be16, byte, need, slice, tail, Result};

mod field {
    pub const VER_TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const SESSION: usize = 2;
    pub const LENGTH: usize = 4;
    pub const PPP_PROTO: usize = 6;
}

/// Length of the PPPoE header without the PPP protocol field.
pub const HEADER_LEN: usize = 6;
/// Length of the session header plus the 2-byte PPP protocol field.
pub const SESSION_HEADER_LEN: usize = 8;

/// PPP protocol numbers (RFC 1661, IANA "PPP DLL Protocol Numbers").
pub mod ppp {
    /// IPv4.
    pub const IPV4: u16 = 0x0021;
    /// IPv6.
    pub const IPV6: u16 = 0x0057;
    /// Van Jacobson compressed TCP/IP.
    pub const VJ_COMP: u16 = 0x002d;
    /// Van Jacobson uncompressed TCP/IP.
    pub const VJ_UNCOMP: u16 = 0x002f;
    /// Link control protocol.
    pub const LCP: u16 = 0xc021;
    /// IP control protocol.
    pub const IPCP: u16 = 0x8021;
    /// IPv6 control protocol.
    pub const IPV6CP: u16 = 0x8057;
    /// Password authentication protocol.
    pub const PAP: u16 = 0xc023;
    /// Challenge handshake authentication protocol.
    pub const CHAP: u16 = 0xc223;
    /// Compression control protocol.
    pub const CCP: u16 = 0x80fd;
}

/// A view of a PPPoE header (session or discovery).
#[derive(Debug, Clone, Copy)]
pub struct PppoeHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> PppoeHeader<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        PppoeHeader { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }
    /// Ensures the 6-byte PPPoE header is present.
    pub fn check_len(&self) -> Result<()> {
        need(self.buffer.as_ref(), HEADER_LEN)
    }
    /// Version (1 per RFC 2516).
    pub fn version(&self) -> u8 {
        byte(self.buffer.as_ref(), field::VER_TYPE) >> 4
    }
    /// Type (1 per RFC 2516).
    pub fn pppoe_type(&self) -> u8 {
        byte(self.buffer.as_ref(), field::VER_TYPE) & 0x0f
    }
    /// Code (0 for session data).
    pub fn code(&self) -> u8 {
        byte(self.buffer.as_ref(), field::CODE)
    }
    /// Session identifier.
    pub fn session_id(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SESSION)
    }
    /// Declared payload length.
    pub fn length(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }
    /// PPP protocol of a session frame (0 if absent).
    pub fn ppp_protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PPP_PROTO)
    }
    /// Bytes after the PPPoE header (the PPP frame for sessions, tags for discovery),
    /// bounded by the declared length.
    pub fn payload(&self) -> &[u8] {
        let end = HEADER_LEN + usize::from(self.length());
        slice(self.buffer.as_ref(), HEADER_LEN, end)
    }
    /// Bytes after the PPP protocol field of a session frame, not bounded by the length.
    pub fn ppp_payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), SESSION_HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes after the two VLAN tags of public_mix.pcap packet 22533 (PPPoE session, IPv6).
    const SESSION: [u8; 10] = [0x11, 0x00, 0x21, 0x75, 0x01, 0x3e, 0x00, 0x57, 0x60, 0x0f];

    #[test]
    fn session_fields_from_capture() {
        let p = PppoeHeader::new_checked(&SESSION[..]).unwrap();
        assert_eq!(p.version(), 1);
        assert_eq!(p.pppoe_type(), 1);
        assert_eq!(p.code(), 0);
        assert_eq!(p.session_id(), 0x2175);
        assert_eq!(p.length(), 0x013e);
        assert_eq!(p.ppp_protocol(), ppp::IPV6);
        assert_eq!(p.ppp_payload(), &[0x60, 0x0f]);
        // The declared length runs past this excerpt: the payload is clamped, not a panic.
        assert_eq!(p.payload().len(), 4);
        assert!(PppoeHeader::new_checked(&SESSION[..5]).is_err());
    }
}
