//! The Internet checksum (RFC 1071) and the TCP/UDP/ICMPv6 pseudo-headers (RFC 793 §3.1,
//! RFC 768, RFC 8200 §8.1).
//!
//! Sums are accumulated 32 bits at a time into `u64`s and folded once at the end, which is
//! equivalent to the 16-bit one's complement sum (RFC 1071 §2 (B), byte-order independence).

/// One's complement sum of `data` (not yet folded or inverted), added to `acc`.
///
/// The data is summed as little-endian 32-bit words in eight independent `u64` lanes (no
/// carry chain between them, so the compiler vectorises the loop), folded to 16 bits and
/// byte-swapped: by RFC 1071 §2 (B) the sum of byte-swapped words is the byte-swapped sum, so
/// this equals the big-endian word sum modulo 0xffff, which is all `fold` keeps. The frame
/// checksums are most of the bytes the decoder reads, so this loop runs over every payload.
#[inline]
pub fn sum(acc: u64, data: &[u8]) -> u64 {
    let mut lanes = [0u64; 8];
    let mut blocks = data.chunks_exact(32);
    for b in &mut blocks {
        for (i, lane) in lanes.iter_mut().enumerate() {
            let w = [b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]];
            // Each step adds less than 2^32: a lane cannot overflow below 2^32 blocks.
            *lane += u64::from(u32::from_le_bytes(w));
        }
    }
    // Each lane stays below 2^60 for slices under 8 GiB, so their sum cannot overflow.
    let mut le: u64 = lanes.iter().sum();
    let mut words = blocks.remainder().chunks_exact(4);
    for w in &mut words {
        le += u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    }
    // Odd tail bytes are padded with zeros after them, as RFC 1071 pads the last byte. Built
    // by shifts: copying them into a zeroed array called `memcpy` and stalled the load after it.
    let mut tail = 0u64;
    for (k, &byte) in words.remainder().iter().enumerate() {
        tail |= u64::from(byte) << (8 * k);
    }
    le += tail;
    acc + u64::from(fold(le).swap_bytes())
}

/// Folds a wide sum into 16 bits: 0 only for 0, else the representative in 1..=0xffff of
/// the sum modulo 0xffff. Four fixed steps (2^64 → 2^33 → 2^18 → 0x10003 → 0xffff at most)
/// instead of a loop.
#[inline]
pub fn fold(acc: u64) -> u16 {
    let a = (acc & 0xffff_ffff) + (acc >> 32);
    let a = (a & 0xffff) + (a >> 16);
    let a = (a & 0xffff) + (a >> 16);
    let a = (a & 0xffff) + (a >> 16);
    a as u16
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

    /// The wide sum folds to the same value as the textbook 16-bit sum for every length.
    #[test]
    fn matches_16_bit_reference() {
        let mut x = 0x1234_5678_u32;
        let data: Vec<u8> = (0..600)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        for len in 0..data.len() {
            // Every alignment of the 32-byte blocks against the data, and every length.
            let d = &data[len % 7..len.max(len % 7)];
            let mut r: u32 = 0;
            for c in d.chunks(2) {
                r += u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0));
            }
            while r > 0xffff {
                r = (r & 0xffff) + (r >> 16);
            }
            assert_eq!(fold(sum(0, d)), r as u16, "len {len}");
        }
    }

    /// The fixed-step fold agrees with folding until no carry is left, at the edges too.
    #[test]
    fn fold_matches_carry_loop() {
        let slow = |mut a: u64| {
            while a > 0xffff {
                a = (a & 0xffff) + (a >> 16);
            }
            a as u16
        };
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let edges = [
            0,
            1,
            0xffff,
            0x1_0000,
            0x1_fffe,
            0xffff_ffff,
            0x1_0000_0000,
            u64::MAX,
        ];
        for v in edges.into_iter().chain((0..10_000).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x >> (x % 64)
        })) {
            assert_eq!(fold(v), slow(v), "{v:#x}");
        }
    }

    #[test]
    fn odd_lengths_pad_with_zero() {
        assert_eq!(fold(sum(0, &[0x01])), 0x0100);
        assert_eq!(fold(sum(0, &[0x01, 0x02, 0x03])), 0x0402);
        assert_eq!(fold(sum(0, &[0xff, 0xff, 0xff, 0xff, 0x00, 0x01])), 0x0001);
    }
}
