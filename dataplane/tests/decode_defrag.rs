//! Defragmentation through the decoder: a flood of never-completing fragments from spoofed
//! sources stays inside the caps, is counted, and does not stop a legitimate datagram from
//! being rebuilt once timeouts free trackers; IPv4 overlaps follow the BSD policy.

use dataplane::decode::{DecodeConfig, DecodeEvent, Decoder, DefragConfig, LinkType, L4};
use dataplane::time::Timestamp;
use dataplane::wire::checksum;

/// IPv4 fragment of a UDP datagram from `src`.
fn frag(src: [u8; 4], id: u16, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&((20 + data.len()) as u16).to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    let fo = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
    h.extend_from_slice(&fo.to_be_bytes());
    h.extend_from_slice(&[64, 17, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&[192, 0, 2, 1]);
    let c = checksum::checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(data);
    h
}

fn udp(payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0x30, 0x39, 0x00, 0x35];
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]); // no checksum
    u.extend_from_slice(payload);
    u
}

#[test]
fn spoofed_fragment_flood_stays_under_caps() {
    let cfg = DecodeConfig {
        defrag: DefragConfig {
            memcap: 1 << 20,
            max_trackers: 256,
            max_frags: 4096,
            ..DefragConfig::default()
        },
        ..DecodeConfig::default()
    };
    let mut d = Decoder::new(cfg).unwrap();
    let t0 = Timestamp::from_micros(1_700_000_000, 0);
    let junk = [0xaa; 1000];
    for i in 0..100_000u32 {
        let src = (0x0a00_0000 | i).to_be_bytes();
        let f = frag(src, i as u16, 8, true, &junk);
        let p = d.decode(LinkType::Ipv4, &f, t0);
        assert!(p.validate().is_ok());
        assert!(d.defragmenter().memuse() <= 1 << 20);
        assert!(d.defragmenter().active() <= 256);
    }
    let c = d.counters().defrag;
    assert_eq!(c.ipv4_fragments, 100_000);
    assert_eq!(c.max_trackers_reached, 100_000 - 256);
    assert_eq!(
        d.counters().event(DecodeEvent::Ipv4FragIgnored),
        100_000 - 256
    );
    // After the 60 s timeout the flood's trackers are gone and a real datagram rebuilds.
    let later = t0.plus_secs(61);
    let body = udp(b"hello, reassembled world!");
    let (a, b) = body.split_at(16);
    let src = [198, 51, 100, 7];
    assert!(
        !d.decode(LinkType::Ipv4, &frag(src, 9, 16, false, b), later)
            .reassembled
    );
    let first = frag(src, 9, 0, true, a);
    let p = d.decode(LinkType::Ipv4, &first, later);
    assert!(p.reassembled);
    assert_eq!(p.payload, b"hello, reassembled world!");
    assert!(matches!(p.l4, L4::Udp(u) if u.dst_port == 53));
    assert_eq!(d.counters().defrag.timeouts, 256);
    assert_eq!(d.defragmenter().memuse(), 0);
}

#[test]
fn ipv4_overlap_raises_event_and_first_offset_wins() {
    let mut d = Decoder::new(DecodeConfig::default()).unwrap();
    let now = Timestamp(0);
    let src = [10, 9, 8, 7];
    let body = udp(&[b'A'; 24]); // 32 bytes
                                 // 0..16 original, 8..24 overlapping with different bytes, 16..32 last.
    let (f1, f2, f3) = (
        frag(src, 1, 0, true, &body[..16]),
        frag(src, 1, 8, true, &[b'Z'; 16]),
        frag(src, 1, 16, false, &body[16..]),
    );
    let p = d.decode(LinkType::Ipv4, &f1, now);
    assert!(!p.has_event(DecodeEvent::Ipv4FragOverlap));
    let p = d.decode(LinkType::Ipv4, &f2, now);
    assert!(p.has_event(DecodeEvent::Ipv4FragOverlap));
    let p = d.decode(LinkType::Ipv4, &f3, now);
    assert!(p.reassembled);
    // Per byte the fragment with the lowest offset wins: 8..16 keep the first fragment's
    // bytes, 16..24 the overlapping 'Z' fragment's (offset 8 beats the last one's 16).
    assert_eq!(&p.data[20..28], &body[..8]);
    assert_eq!(&p.data[28..36], &body[8..16]);
    assert_eq!(&p.data[36..44], &[b'Z'; 8]);
    assert_eq!(&p.data[44..52], &body[24..32]);
}

/// A fragment that completes a datagram when no layer is left to decode it with (Ethernet,
/// EtherType, IPv4 and the fragment take all four of `max_layers`) stops at the fragment: the
/// summary keeps describing the frame, `too_many_layers` is raised, and its slices stay inside
/// its data.
#[test]
fn completing_fragment_at_the_layer_limit_describes_the_fragment() {
    let mut d = Decoder::new(DecodeConfig {
        max_layers: 4,
        ..DecodeConfig::default()
    })
    .unwrap();
    let body = udp(b"sixteen byte msg");
    let (a, b) = body.split_at(16);
    let src = [198, 51, 100, 8];
    let eth = |ip: Vec<u8>| [&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0][..], &ip].concat();
    let t = Timestamp(1);
    let tail = eth(frag(src, 3, 16, false, b));
    let p = d.decode(LinkType::Ethernet, &tail, t);
    assert!(!p.reassembled && p.validate().is_ok());
    let last = eth(frag(src, 3, 0, true, a));
    let p = d.decode(LinkType::Ethernet, &last, t);
    assert!(!p.reassembled);
    assert!(core::ptr::eq(p.data, p.frame));
    assert_eq!(p.validate(), Ok(()));
    assert!(p.has_event(DecodeEvent::TooManyLayers));
    assert_eq!(p.payload, a);
    assert_eq!(d.counters().too_many_layers, 1);
    assert_eq!(d.counters().defrag.ipv4_reassembled, 1);
}
