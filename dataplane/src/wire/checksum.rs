//! The Internet checksum (RFC 1071) and the TCP/UDP/ICMPv6 pseudo-headers (RFC 793 §3.1,
//! RFC 768, RFC 8200 §8.1).
//!
//! Sums are accumulated 32 bits at a time into a `u64` and folded once at the end, which is
//! equivalent to the 16-bit one's complement sum (RFC 1071 §2 (B), byte-order independence).

/// One's complement sum of `data` (not yet folded or inverted), added to `acc`.
#[inline]
pub fn sum(mut acc: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut buf = [0u8; 4];
    buf[..rest.len()].copy_from_slice(rest);
    acc + u64::from(u32::from_be_bytes(buf))
}

/// Folds a wide sum into 16 bits.
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum field value for `data` (the inverted folded sum).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(0, data))
}

/// True when `data`, checksum field included, sums to all ones (i.e. the checksum verifies).
#[inline]
pub fn verify(data: &[u8]) -> bool {
    fold(sum(0, data)) == 0xffff
}

/// Pseudo-header sum for IPv4 (RFC 793 §3.1): addresses, protocol, upper-layer length.
#[inline]
pub fn pseudo_v4(src: [u8; 4], dst: [u8; 4], proto: u8, len: u32) -> u64 {
    sum(sum(0, &src), &dst) + u64::from(proto) + u64::from(len)
}

/// Pseudo-header sum for IPv6 (RFC 8200 §8.1): addresses, upper-layer length, next header.
#[inline]
pub fn pseudo_v6(src: [u8; 16], dst: [u8; 16], proto: u8, len: u32) -> u64 {
    sum(sum(0, &src), &dst) + u64::from(proto) + u64::from(len)
}

/// True when an upper-layer segment verifies against a pseudo-header sum.
#[inline]
pub fn verify_with(pseudo: u64, segment: &[u8]) -> bool {
    fold(sum(pseudo, segment)) == 0xffff
}

/// Checksum field value for `segment` (its checksum bytes zeroed) under a pseudo-header sum.
#[inline]
pub fn compute_with(pseudo: u64, segment: &[u8]) -> u16 {
    !fold(sum(pseudo, segment))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Header from RFC 1071's worked example style: a real IPv4 header whose checksum is b1e6
    /// (the classic example header 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7).
    #[test]
    fn ipv4_header_example() {
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert!(verify(&hdr));
        let mut zeroed = hdr;
        zeroed[10] = 0;
        zeroed[11] = 0;
        assert_eq!(checksum(&zeroed), 0xb861);
        zeroed[10] = 0x12;
        assert!(!verify(&zeroed));
    }

    #[test]
    fn odd_lengths_pad_with_zero() {
        assert_eq!(fold(sum(0, &[0x01])), 0x0100);
        assert_eq!(fold(sum(0, &[0x01, 0x02, 0x03])), 0x0402);
        assert_eq!(fold(sum(0, &[0xff, 0xff, 0xff, 0xff, 0x00, 0x01])), 0x0001);
    }
}
