//! Fuzzes `Decoder::decode` over arbitrary bytes and every link type, with time moving
//! forward so defragmentation timeouts run. Invariants checked after every packet:
//! the packet summary is structurally valid (`Packet::validate`), counters add up
//! (packets, bytes, invalid packets, events), fragment memory stays under its cap, and a
//! second decoder with the fast path off (`DecodeConfig::fast_path`) gives the same summary
//! and the same counters.
#![no_main]

use dataplane::decode::{
    DecodeConfig, DefragConfig, Decoder, HwChecksums, HwCsum, LinkType, Packet,
};
use dataplane::time::Timestamp;
use libfuzzer_sys::fuzz_target;

const LINKS: [LinkType; 7] = [
    LinkType::Ethernet,
    LinkType::Null,
    LinkType::Loop,
    LinkType::Raw,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::LinuxSll,
];

/// NIC checksum verdicts, so that both the offloaded and the computed branches run.
const VERDICTS: [HwChecksums; 3] = [
    HwChecksums::UNKNOWN,
    HwChecksums {
        ip: HwCsum::Good,
        l4: HwCsum::Good,
    },
    HwChecksums {
        ip: HwCsum::Bad,
        l4: HwCsum::Unknown,
    },
];

fuzz_target!(|input: &[u8]| {
    // Input: a sequence of records [link and NIC verdicts:1][dt:1][len:2][bytes...], so one
    // run can exercise fragment reassembly across packets; the first byte's low bit also
    // switches checksum validation.
    let memcap = 256 * 1024;
    let cfg = DecodeConfig {
        checksum_validation: input.first().is_some_and(|b| b & 1 == 1),
        defrag: DefragConfig {
            enabled: true,
            memcap,
            max_trackers: 16,
            max_frags: 256,
            timeout_secs: 60,
        },
        ..DecodeConfig::default()
    };
    let mut dec = Decoder::new(cfg).expect("valid config");
    let mut walk = Decoder::new(DecodeConfig {
        fast_path: false,
        ..cfg
    })
    .expect("valid config");
    let mut rest = input;
    let mut now = Timestamp::from_micros(1_000_000, 0);
    let (mut pkts, mut bytes, mut invalid, mut events) = (0u64, 0u64, 0u64, 0u64);
    while rest.len() >= 4 {
        let link = LINKS[usize::from(rest[0]) % LINKS.len()];
        let hw = VERDICTS[usize::from(rest[0] / 16) % VERDICTS.len()];
        now = now.plus_secs(u64::from(rest[1] % 70));
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let body = &rest[4..];
        let frame = &body[..len.min(body.len())];
        rest = &body[frame.len()..];
        let mut pkt = Packet::new(link, frame);
        dec.decode_offloaded(link, frame, now, hw, &mut pkt);
        if let Err(e) = pkt.validate() {
            panic!("invalid packet summary: {e}: {pkt:?}");
        }
        let mut other = Packet::new(link, frame);
        walk.decode_offloaded(link, frame, now, hw, &mut other);
        assert_eq!(pkt, other, "fast path and layer walk differ");
        assert_eq!(pkt.payload.len(), other.payload.len());
        pkts += 1;
        bytes += frame.len() as u64;
        invalid += u64::from(pkt.invalid);
        events += pkt.anomalies.total() as u64;
        let c = dec.counters();
        assert_eq!(c.pkts, pkts);
        assert_eq!(c.bytes, bytes);
        assert_eq!(c.invalid, invalid);
        assert_eq!(c.events_total(), events);
        assert!(dec.defragmenter().memuse() <= memcap);
        assert!(dec.defragmenter().fragments() <= 256);
        assert_eq!(c.defrag.memuse as usize, dec.defragmenter().memuse());
        assert_eq!(c, walk.counters(), "fast path and layer walk count differently");
    }
});
