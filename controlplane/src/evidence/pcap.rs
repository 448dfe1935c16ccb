//! Packet captures as evidence items: libpcap savefiles (microsecond stamps, Ethernet),
//! written whole in memory off the workers, and the addresses of a frame to link a capture
//! to its incident.
//!
//! ```text
//!  global header (24 bytes): magic a1b2c3d4, version 2.4, zone 0, sigfigs 0, snaplen, link 1
//!  per packet (16 bytes):    seconds, microseconds, captured length, original length
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One captured packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub ts_ns: u64,
    /// Its length on the wire.
    pub orig_len: u32,
    /// Its first bytes.
    pub data: Vec<u8>,
}

const MAGIC_US: u32 = 0xa1b2_c3d4;
const LINKTYPE_ETHERNET: u32 = 1;

/// A savefile of `packets` in their order, `snaplen` its snap length.
pub fn savefile(packets: &[Packet], snaplen: u32) -> Vec<u8> {
    let body: usize = packets.iter().map(|p| 16 + p.data.len()).sum();
    let mut out = Vec::with_capacity(24 + body);
    for w in [MAGIC_US, 0x0004_0002, 0, 0, snaplen, LINKTYPE_ETHERNET] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    // The version is two u16 (2, 4) and the zone an i32: rewrite them as such.
    out[4..6].copy_from_slice(&2u16.to_le_bytes());
    out[6..8].copy_from_slice(&4u16.to_le_bytes());
    for p in packets {
        let secs = (p.ts_ns / 1_000_000_000) as u32;
        let micros = (p.ts_ns % 1_000_000_000 / 1_000) as u32;
        for w in [secs, micros, p.data.len() as u32, p.orig_len] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&p.data);
    }
    out
}

/// The source and destination addresses of an Ethernet frame (VLAN tags skipped), if it
/// carries IPv4 or IPv6.
pub fn addresses(frame: &[u8]) -> Option<(IpAddr, IpAddr)> {
    let mut at = 12;
    let mut ethertype = u16::from_be_bytes(frame.get(at..at + 2)?.try_into().ok()?);
    while matches!(ethertype, 0x8100 | 0x88a8) {
        at += 4;
        ethertype = u16::from_be_bytes(frame.get(at..at + 2)?.try_into().ok()?);
    }
    let ip = frame.get(at + 2..)?;
    match ethertype {
        0x0800 => {
            let a: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let b: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            Some((Ipv4Addr::from(a).into(), Ipv4Addr::from(b).into()))
        }
        0x86dd => {
            let a: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let b: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            Some((Ipv6Addr::from(a).into(), Ipv6Addr::from(b).into()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_frame(src: [u8; 4], dst: [u8; 4], len: usize) -> Vec<u8> {
        let mut f = vec![0u8; len.max(34)];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        f[14] = 0x45;
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&dst);
        f
    }

    #[test]
    fn savefile_layout_and_addresses() {
        let f = ipv4_frame([192, 0, 2, 1], [198, 51, 100, 2], 60);
        let pkts = vec![
            Packet {
                ts_ns: 1_700_000_000_123_456_789,
                orig_len: 1500,
                data: f.clone(),
            },
            Packet {
                ts_ns: 1_700_000_001_000_000_000,
                orig_len: 60,
                data: f.clone(),
            },
        ];
        let b = savefile(&pkts, 1518);
        assert_eq!(b.len(), 24 + 2 * (16 + 60));
        assert_eq!(&b[0..4], &MAGIC_US.to_le_bytes());
        assert_eq!(&b[16..20], &1518u32.to_le_bytes());
        assert_eq!(&b[24..28], &1_700_000_000u32.to_le_bytes());
        assert_eq!(&b[28..32], &123_456u32.to_le_bytes());
        assert_eq!(&b[32..36], &60u32.to_le_bytes());
        assert_eq!(&b[36..40], &1500u32.to_le_bytes());
        assert_eq!(&b[40..100], &f[..]);
        assert_eq!(
            addresses(&f),
            Some((
                IpAddr::from([192, 0, 2, 1]),
                IpAddr::from([198, 51, 100, 2])
            ))
        );
        assert_eq!(addresses(&f[..20]), None);
    }

    /// The cost of a 10,000-packet evidence capture (printed; run with `--nocapture`).
    #[test]
    fn ten_thousand_packets() {
        let f = ipv4_frame([192, 0, 2, 1], [198, 51, 100, 2], 800);
        let pkts: Vec<Packet> = (0..10_000u64)
            .map(|i| Packet {
                ts_ns: i * 1_000,
                orig_len: 800,
                data: f.clone(),
            })
            .collect();
        let t = std::time::Instant::now();
        let b = savefile(&pkts, 1518);
        let hashed = {
            use sha2::Digest as _;
            sha2::Sha256::digest(&b)
        };
        let el = t.elapsed();
        assert_eq!(b.len(), 24 + 10_000 * (16 + 800));
        assert_eq!(hashed.len(), 32);
        println!(
            "10k-packet evidence pcap: {} bytes, written and hashed in {el:?}",
            b.len()
        );
    }
}
