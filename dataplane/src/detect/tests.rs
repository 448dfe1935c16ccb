//! End-to-end tests of the detector: real rule text through the rules crate's loader and
//! compiler, hand-built frames through the decoder, exact sets of sids asserted.

use super::*;
use crate::decode::{DecodeConfig, Decoder, LinkType};
use rules::load::{LoadOptions, Loader};
use rules::CompileOptions;

pub(crate) fn engine(text: &str) -> Arc<Engine> {
    let mut l = Loader::new(LoadOptions::default());
    l.add_str("t.rules", text);
    let rs = l.finish();
    assert_eq!(rs.report.failed + rs.report.skipped, 0, "{}", rs.report);
    Arc::new(Engine::compile(&rs.rules, &CompileOptions::default()).expect("compile"))
}

fn decoder() -> Decoder {
    Decoder::new(DecodeConfig {
        checksum_validation: false,
        ..DecodeConfig::default()
    })
    .expect("decoder")
}

/// Ethernet + IPv4 + L4 frame. `l4` is 6 (TCP, flags given), 17 (UDP) or 1 (ICMP type/code in
/// `flags` high/low byte).
pub(crate) fn frame(
    src: [u8; 4],
    dst: [u8; 4],
    l4: u8,
    sp: u16,
    dp: u16,
    flags: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let l4_hdr: Vec<u8> = match l4 {
        6 => {
            let mut t = Vec::new();
            t.extend_from_slice(&sp.to_be_bytes());
            t.extend_from_slice(&dp.to_be_bytes());
            t.extend_from_slice(&1000u32.to_be_bytes());
            t.extend_from_slice(&2000u32.to_be_bytes());
            t.push(0x50);
            t.push(flags as u8);
            t.extend_from_slice(&[0x20, 0x00, 0, 0, 0, 0]);
            t
        }
        17 => {
            let mut u = Vec::new();
            u.extend_from_slice(&sp.to_be_bytes());
            u.extend_from_slice(&dp.to_be_bytes());
            u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            u.extend_from_slice(&[0, 0]);
            u
        }
        _ => vec![(flags >> 8) as u8, flags as u8, 0, 0, 0, 1, 0, 7],
    };
    let total = 20 + l4_hdr.len() + payload.len();
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        42,
        0x40,
        0,
        64,
        l4,
        0,
        0,
    ]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&l4_hdr);
    f.extend_from_slice(payload);
    f
}

struct Run {
    det: Detector,
    dec: Decoder,
}

impl Run {
    fn new(rules: &str) -> Run {
        Run {
            det: Detector::new(engine(rules), DetectConfig::default()).expect("detector"),
            dec: decoder(),
        }
    }

    fn packet(
        &mut self,
        f: &[u8],
        dir: Option<Direction>,
        flow: Option<&mut FlowDetectState>,
        t: u64,
    ) -> (Vec<u32>, Verdict) {
        let p = self.dec.decode(LinkType::Ethernet, f, Timestamp(t));
        let mut view = PacketView::stateless(&p);
        view.dir = dir;
        view.established = dir.is_some();
        let mut sids = Vec::new();
        let v = self
            .det
            .inspect_packet(&view, flow, Timestamp(t), &mut |a| sids.push(a.sid));
        self.det.end_burst();
        sids.sort_unstable();
        (sids, v)
    }
}

const C: [u8; 4] = [192, 168, 1, 10];
const S: [u8; 4] = [8, 8, 8, 8];

#[test]
fn payload_rules_and_ports() {
    let mut r = Run::new(concat!(
        "alert tcp any any -> any 80 (msg:\"a\"; content:\"evil\"; nocase; sid:1;)\n",
        "alert tcp any any -> any any (msg:\"b\"; content:\"GET\"; depth:3; content:\"/x\"; distance:1; within:2; sid:2;)\n",
        "alert tcp $HOME_NET any -> $EXTERNAL_NET any (msg:\"c\"; content:\"zzz\"; sid:3;)\n",
        "alert udp any any -> any 53 (msg:\"d\"; content:\"|00 01|\"; offset:2; depth:2; sid:4;)\n",
        "alert tcp any any -> any any (msg:\"e\"; pcre:\"/^GET \\/[a-z]+\\?q=\\d+/\"; sid:5;)\n",
    ));
    let f = frame(C, S, 6, 1234, 80, 0x18, b"GET /x?q=1 EVIL zzz");
    assert_eq!(r.packet(&f, None, None, 0).0, vec![1, 2, 3, 5]);
    let f = frame(C, S, 6, 1234, 8080, 0x18, b"GET  /x EVIL");
    assert_eq!(r.packet(&f, None, None, 0).0, Vec::<u32>::new());
    // Addresses: reversed, $HOME_NET -> $EXTERNAL_NET no longer holds.
    let f = frame(S, C, 6, 80, 1234, 0x18, b"zzz");
    assert_eq!(r.packet(&f, None, None, 0).0, Vec::<u32>::new());
    let f = frame(C, S, 17, 999, 53, 0, b"\xab\xcd\x00\x01rest");
    assert_eq!(r.packet(&f, None, None, 0).0, vec![4]);
    let f = frame(C, S, 17, 999, 53, 0, b"\x00\x01\xab\xcd");
    assert_eq!(r.packet(&f, None, None, 0).0, Vec::<u32>::new());
    let c = r.det.counters();
    assert!(c.prefilter_scans > 0 && c.candidates > 0 && c.alerts == 5);
}

#[test]
fn header_keywords_and_decoder_events() {
    let mut r = Run::new(concat!(
        "alert icmp any any -> any any (itype:8; icode:0; sid:1;)\n",
        "alert icmp any any -> any any (itype:>8; sid:2;)\n",
        "alert tcp any any -> any any (flags:S; sid:3;)\n",
        "alert tcp any any -> any any (flags:S+; ttl:64; sid:4;)\n",
        "alert ip any any -> any any (ip_proto:17; sid:5;)\n",
        "alert tcp any any -> any any (dsize:>3; sid:6;)\n",
        "alert pkthdr any any -> any any (decode-event:ipv4.trunc_pkt; sid:7;)\n",
        "alert ip any any -> any any (sameip; sid:8;)\n",
    ));
    let f = frame(C, S, 1, 0, 0, 0x0800, b"ping");
    assert_eq!(r.packet(&f, None, None, 0).0, vec![1]);
    let f = frame(C, S, 6, 1, 2, 0x02, b"");
    assert_eq!(r.packet(&f, None, None, 0).0, vec![3, 4]);
    let f = frame(C, S, 6, 1, 2, 0x12, b"abcd");
    assert_eq!(r.packet(&f, None, None, 0).0, vec![4, 6]);
    let f = frame(C, C, 17, 1, 2, 0, b"");
    assert_eq!(r.packet(&f, None, None, 0).0, vec![5, 8]);
    // Truncated IPv4: total length beyond the frame.
    let mut f = frame(C, S, 17, 1, 2, 0, b"abcd");
    f[16] = 0x05;
    assert_eq!(r.packet(&f, None, None, 0).0, vec![7]);
}

#[test]
fn flowbits_flow_and_pass() {
    let mut r = Run::new(concat!(
        "alert tcp any any -> any any (flow:to_server,established; content:\"login\"; flowbits:set,auth; flowbits:noalert; sid:1;)\n",
        "alert tcp any any -> any any (flow:to_client; content:\"secret\"; flowbits:isset,auth; sid:2;)\n",
        "alert tcp any any -> any any (flow:to_client; content:\"secret\"; flowbits:isnotset,auth; sid:3;)\n",
        "pass tcp any any -> any any (flow:to_server; content:\"trusted\"; sid:4;)\n",
        "alert tcp any any -> any any (content:\"trusted\"; sid:5;)\n",
        "drop tcp any any -> any any (content:\"bad\"; sid:6;)\n",
    ));
    let mut st = FlowDetectState::default();
    let up = frame(C, S, 6, 1, 2, 0x18, b"login");
    let down = frame(S, C, 6, 2, 1, 0x18, b"secret");
    assert_eq!(
        r.packet(&down, Some(Direction::ToClient), Some(&mut st), 0)
            .0,
        vec![3]
    );
    assert_eq!(
        r.packet(&up, Some(Direction::ToServer), Some(&mut st), 0).0,
        Vec::<u32>::new()
    );
    assert_eq!(
        r.packet(&down, Some(Direction::ToClient), Some(&mut st), 0)
            .0,
        vec![2]
    );
    // Without a flow the bit is never set and flow:to_client never holds.
    assert_eq!(r.packet(&down, None, None, 0).0, Vec::<u32>::new());
    let bad = frame(C, S, 6, 1, 2, 0x18, b"bad");
    let (s, v) = r.packet(&bad, Some(Direction::ToServer), Some(&mut st), 0);
    assert_eq!((s, v), (vec![6], Verdict::Drop));
    // pass: stops later rules (sid 5) and passes the flow.
    let t = frame(C, S, 6, 1, 2, 0x18, b"trusted bad");
    assert_eq!(
        r.packet(&t, Some(Direction::ToServer), Some(&mut st), 0),
        (vec![], Verdict::Accept)
    );
    assert!(st.passed);
    assert_eq!(
        r.packet(&bad, Some(Direction::ToServer), Some(&mut st), 0)
            .0,
        Vec::<u32>::new()
    );
    assert_eq!(r.det.counters().passed_flow_packets, 1);
    // Stateless: the pass rule needs a flow direction, so sid 5 alerts.
    assert_eq!(r.packet(&t, None, None, 0).0, vec![5, 6]);
}

#[test]
fn inline_drop_is_blocked() {
    let e = engine("drop tcp any any -> any any (content:\"bad\"; sid:6;)\n");
    let mut det = Detector::new(
        e,
        DetectConfig {
            inline: true,
            ..DetectConfig::default()
        },
    )
    .expect("det");
    let mut dec = decoder();
    let f = frame(C, S, 6, 1, 2, 0x18, b"bad");
    let p = dec.decode(LinkType::Ethernet, &f, Timestamp(0));
    let mut got = Vec::new();
    let v = det.inspect_packet(&PacketView::stateless(&p), None, Timestamp(0), &mut |a| {
        got.push(a)
    });
    assert_eq!(v, Verdict::Drop);
    assert_eq!(got[0].action, AlertAction::Blocked);
    assert_eq!((got[0].match_offset, got[0].match_len), (0, 3));
}

#[test]
fn iponly_rules_once_per_flow_direction() {
    let mut r = Run::new(concat!(
        "alert ip 8.8.8.0/24 any -> $HOME_NET any (sid:1;)\n",
        "alert ip [1.1.1.1,8.8.8.8] any <> 192.168.1.10 any (sid:2;)\n",
        "alert ip any any -> any any (sid:3;)\n",
        "alert tcp 9.9.9.9 any -> any any (sid:4;)\n",
    ));
    let down = frame(S, C, 6, 2, 1, 0x18, b"x");
    let up = frame(C, S, 6, 1, 2, 0x18, b"x");
    assert_eq!(r.packet(&down, None, None, 0).0, vec![1, 2, 3]);
    assert_eq!(r.packet(&up, None, None, 0).0, vec![2, 3]);
    let mut st = FlowDetectState::default();
    assert_eq!(
        r.packet(&up, Some(Direction::ToServer), Some(&mut st), 0).0,
        vec![2, 3]
    );
    assert_eq!(
        r.packet(&up, Some(Direction::ToServer), Some(&mut st), 0).0,
        Vec::<u32>::new()
    );
    assert_eq!(
        r.packet(&down, Some(Direction::ToClient), Some(&mut st), 0)
            .0,
        vec![1, 2, 3]
    );
}

#[test]
fn thresholds_by_src() {
    let mut r = Run::new(concat!(
        "alert icmp any any -> any any (itype:8; threshold:type limit, track by_src, count 2, seconds 60; sid:1;)\n",
        "alert icmp any any -> any any (itype:8; detection_filter:track by_src, count 2, seconds 60; sid:2;)\n",
    ));
    let f = frame(C, S, 1, 0, 0, 0x0800, b"");
    let mut got = Vec::new();
    for i in 0..4 {
        got.push(r.packet(&f, None, None, i * 1_000_000_000).0);
    }
    assert_eq!(got, vec![vec![1], vec![1], vec![2], vec![2]]);
    assert_eq!(r.det.counters().threshold_suppressed, 4);
}

#[test]
fn stream_chunks_match_across_segments_once() {
    let mut r = Run::new(
        "alert tcp any any -> any any (flow:to_server; content:\"splitpattern\"; sid:1;)\n",
    );
    let overlap = r.det.stream_overlap();
    assert_eq!(overlap, "splitpattern".len() - 1);
    let f = frame(C, S, 6, 1, 2, 0x18, b"");
    let p = r.dec.decode(LinkType::Ethernet, &f, Timestamp(0));
    let mut view = PacketView::stateless(&p);
    view.dir = Some(Direction::ToServer);
    view.established = true;
    view.stream_active = true;
    let mut st = FlowDetectState::default();
    let mut n = 0;
    // Segment 1 ends inside the pattern; segment 2 completes it.
    let stream = b"aaaa splitpattern bbbb";
    let c1 = &stream[..10];
    r.det.inspect_stream(
        &view,
        StreamChunk {
            data: c1,
            offset: 0,
        },
        None,
        Some(&mut st),
        Timestamp(0),
        &mut |_| n += 1,
    );
    assert_eq!(n, 0);
    // The caller re-presents the last `overlap` bytes with the new data.
    let start = 10 - overlap.min(10);
    r.det.inspect_stream(
        &view,
        StreamChunk {
            data: &stream[start..],
            offset: start as u64,
        },
        None,
        Some(&mut st),
        Timestamp(0),
        &mut |_| n += 1,
    );
    assert_eq!(n, 1);
    // Re-scanning the same bytes again (e.g. overlap) does not alert twice.
    r.det.inspect_stream(
        &view,
        StreamChunk {
            data: &stream[5..],
            offset: 5,
        },
        None,
        Some(&mut st),
        Timestamp(0),
        &mut |_| n += 1,
    );
    assert_eq!(n, 1);
    assert_eq!(r.det.counters().stream_duplicates, 1);
    // A stream-active flow's packets do not run payload rules.
    let f = frame(C, S, 6, 1, 2, 0x18, b"splitpattern");
    let p = r.dec.decode(LinkType::Ethernet, &f, Timestamp(0));
    let mut view = PacketView::stateless(&p);
    view.dir = Some(Direction::ToServer);
    view.stream_active = true;
    r.det
        .inspect_packet(&view, Some(&mut st), Timestamp(0), &mut |_| n += 1);
    assert_eq!(n, 1);
}

#[test]
fn anchored_rules_match_packets_and_the_stream_start_only() {
    let mut r = Run::new(concat!(
        "alert tcp any any -> any any (flow:to_server; content:\"head\"; depth:4; sid:1;)\n",
        "alert tcp any any -> any any (flow:to_server; content:\"free\"; sid:2;)\n",
    ));
    let f = frame(C, S, 6, 1, 2, 0x18, b"head free");
    let p = r.dec.decode(LinkType::Ethernet, &f, Timestamp(0));
    let mut view = PacketView::stateless(&p);
    view.dir = Some(Direction::ToServer);
    view.established = true;
    let mut sids = Vec::new();
    // A packet: both rules.
    r.det
        .inspect_packet(&view, None, Timestamp(0), &mut |ev| sids.push(ev.sid));
    sids.sort_unstable();
    assert_eq!(sids, vec![1, 2]);
    // The window that starts the stream: its start is the data's, both rules.
    let mut st = FlowDetectState::default();
    sids.clear();
    r.det.inspect_stream(
        &view,
        StreamChunk {
            data: b"head free",
            offset: 0,
        },
        None,
        Some(&mut st),
        Timestamp(0),
        &mut |ev| sids.push(ev.sid),
    );
    sids.sort_unstable();
    assert_eq!(sids, vec![1, 2]);
    // A later window starts at the previous chunk's tail: the anchored rule is not looked for.
    let mut st = FlowDetectState::default();
    sids.clear();
    r.det.inspect_stream(
        &view,
        StreamChunk {
            data: b"head free",
            offset: 100,
        },
        None,
        Some(&mut st),
        Timestamp(0),
        &mut |ev| sids.push(ev.sid),
    );
    assert_eq!(sids, vec![2]);
}

#[test]
fn app_buffers_with_transforms_and_instances() {
    let mut r = Run::new(concat!(
        "alert http any any -> any any (flow:to_server; http.uri; content:\"/admin\"; http.method; content:\"POST\"; sid:1;)\n",
        "alert dns any any -> any any (dns.query; dotprefix; content:\".evil.com\"; endswith; sid:2;)\n",
        "alert http any any -> any any (http.user_agent; to_lowercase; content:\"curl\"; sid:3;)\n",
        "alert http any any -> any any (http.uri; urilen:>100; sid:4;)\n",
    ));
    let f = frame(C, S, 6, 1, 80, 0x18, b"");
    let p = r.dec.decode(LinkType::Ethernet, &f, Timestamp(0));
    let mut view = PacketView::stateless(&p);
    view.dir = Some(Direction::ToServer);
    view.app_proto = Some(AppProto::Http);
    let bufs: &[(Buffer, &[u8])] = &[
        (Buffer::HttpUri, b"/admin/x"),
        (Buffer::HttpMethod, b"POST"),
        (Buffer::HttpUserAgent, b"CURL/8"),
    ];
    let mut got = Vec::new();
    let mut done = TxAlerts::default();
    r.det
        .inspect_buffers(&view, &bufs, (0, &mut done), None, Timestamp(0), &mut |a| {
            got.push((a.sid, a.kind))
        });
    got.sort_unstable_by_key(|g| g.0);
    assert_eq!(
        got,
        vec![
            (1, InspectKind::AppBuffer(Buffer::HttpMethod)),
            (3, InspectKind::AppBuffer(Buffer::HttpUserAgent))
        ]
    );
    // The same transaction inspected again (its buffers changed): no second alert; the next
    // transaction alerts again.
    let mut n = 0;
    r.det.inspect_buffers(
        &view,
        &bufs,
        (0, &mut done),
        None,
        Timestamp(0),
        &mut |_| n += 1,
    );
    assert_eq!(n, 0);
    r.det.inspect_buffers(
        &view,
        &bufs,
        (1, &mut done),
        None,
        Timestamp(0),
        &mut |_| n += 1,
    );
    assert_eq!(n, 2);
    assert_eq!(done.len(), 4);
    // DNS: the second query matches; the app proto must be dns.
    let f = frame(C, S, 17, 1, 53, 0, b"");
    let p = r.dec.decode(LinkType::Ethernet, &f, Timestamp(0));
    let mut view = PacketView::stateless(&p);
    view.dir = Some(Direction::ToServer);
    view.app_proto = Some(AppProto::Dns);
    let bufs: &[(Buffer, &[u8])] = &[
        (Buffer::DnsQuery, b"good.org"),
        (Buffer::DnsQuery, b"evil.com"),
    ];
    let mut got = Vec::new();
    let mut done = TxAlerts::default();
    r.det
        .inspect_buffers(&view, &bufs, (0, &mut done), None, Timestamp(0), &mut |a| {
            got.push((a.sid, a.instance))
        });
    assert_eq!(got, vec![(2, 1)]);
    view.app_proto = Some(AppProto::Http);
    let mut got = Vec::new();
    r.det
        .inspect_buffers(&view, &bufs, (1, &mut done), None, Timestamp(0), &mut |a| {
            got.push(a.sid)
        });
    assert!(got.is_empty());
}

#[test]
fn alert_flood_is_capped() {
    let mut text = String::new();
    for i in 1..=40 {
        text.push_str(&format!(
            "alert tcp any any -> any any (content:\"a\"; sid:{i};)\n"
        ));
    }
    let mut r = Run::new(&text);
    let f = frame(C, S, 6, 1, 2, 0x18, &[b'a'; 1400]);
    assert_eq!(r.packet(&f, None, None, 0).0.len(), 15);
    assert_eq!(r.det.counters().alert_limit, 25);
}

#[test]
fn engine_swap_resets_flowbits() {
    let mut r = Run::new(concat!(
        "alert tcp any any -> any any (content:\"a\"; flowbits:set,x; flowbits:noalert; sid:1;)\n",
        "alert tcp any any -> any any (content:\"b\"; flowbits:isset,x; sid:2;)\n",
    ));
    let mut st = FlowDetectState::default();
    let a = frame(C, S, 6, 1, 2, 0x18, b"a");
    let b = frame(C, S, 6, 1, 2, 0x18, b"b");
    r.packet(&a, Some(Direction::ToServer), Some(&mut st), 0);
    assert_eq!(
        r.packet(&b, Some(Direction::ToServer), Some(&mut st), 0).0,
        vec![2]
    );
    let e2 = engine("alert tcp any any -> any any (content:\"b\"; flowbits:isset,x; sid:2;)\n");
    r.det.set_engine(e2).expect("swap");
    assert_eq!(
        r.packet(&b, Some(Direction::ToServer), Some(&mut st), 0).0,
        Vec::<u32>::new()
    );
}

#[test]
fn flow_state_is_small() {
    // The documented size (mod.rs): the flow table embeds one per flow.
    assert_eq!(std::mem::size_of::<FlowDetectState>(), 128);
}

#[test]
fn app_layer_protocol_negation_waits_for_detection() {
    let mut r = Run::new(
        "alert tcp any any -> any 80 (app-layer-protocol:!http; sid:1;)\nalert tcp any any -> any 80 (app-layer-protocol:tls; sid:2;)\n",
    );
    let f = frame(C, S, 6, 1, 80, 0x18, b"x");
    let p = r.dec.decode(LinkType::Ethernet, &f, Timestamp(0));
    let mut sids = Vec::new();
    let mut view = PacketView::stateless(&p);
    // These rules are protocol-detection-only: evaluated on the packet where detection ends.
    view.proto_detected = true;
    r.det
        .inspect_packet(&view, None, Timestamp(0), &mut |a| sids.push(a.sid));
    assert!(sids.is_empty());
    view.app_proto = Some(AppProto::Http);
    r.det
        .inspect_packet(&view, None, Timestamp(0), &mut |a| sids.push(a.sid));
    assert!(sids.is_empty());
    view.app_proto = Some(AppProto::Tls);
    r.det
        .inspect_packet(&view, None, Timestamp(0), &mut |a| sids.push(a.sid));
    sids.sort_unstable();
    assert_eq!(sids, vec![1, 2]);
}

mod stream_props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// However a stream is cut into chunks (re-presenting the caller's overlap), a pattern
        /// alerts at least once when present, never when absent, and never more often than it
        /// occurs.
        #[test]
        fn stream_chunking_alerts_per_position(
            parts in proptest::collection::vec(prop_oneof![Just(&b"needle"[..]), Just(&b"nee"[..]), Just(&b"dle"[..]), Just(&b"xx"[..])], 0..12),
            cuts in proptest::collection::vec(1usize..9, 1..10),
        ) {
            let stream: Vec<u8> = parts.concat();
            let occurrences = stream.windows(6).filter(|w| w == b"needle").count();
            let mut r = Run::new("alert tcp any any -> any any (flow:to_server; content:\"needle\"; sid:1;)\n");
            let overlap = r.det.stream_overlap();
            let f = frame(C, S, 6, 1, 2, 0x18, b"");
            let p = r.dec.decode(LinkType::Ethernet, &f, Timestamp(0));
            let mut view = PacketView::stateless(&p);
            view.dir = Some(Direction::ToServer);
            view.stream_active = true;
            let mut st = FlowDetectState::default();
            let mut n = 0usize;
            let mut done = 0usize;
            let mut ci = 0;
            while done < stream.len() {
                let end = (done + cuts[ci % cuts.len()]).min(stream.len());
                ci += 1;
                let start = done.saturating_sub(overlap);
                r.det.inspect_stream(&view, StreamChunk { data: &stream[start..end], offset: start as u64 }, None, Some(&mut st), Timestamp(0), &mut |_| n += 1);
                r.det.end_burst();
                done = end;
            }
            prop_assert!(n <= occurrences);
            prop_assert_eq!(n == 0, occurrences == 0);
        }
    }
}

#[test]
fn port_set_agrees_with_group_filter() {
    let e = engine(concat!(
        "alert tcp any any -> any 80 (content:\"a\"; sid:1;)\n",
        "alert tcp any any -> any [80:90,443] (content:\"b\"; sid:2;)\n",
        "alert tcp any any -> any !22 (content:\"c\"; sid:3;)\n",
        "alert tcp any any -> any any (content:\"d\"; sid:4;)\n",
        "alert ip any any -> any any (content:\"e\"; sid:5;)\n",
        "alert udp any any -> any 53 (content:\"f\"; sid:6;)\n",
    ));
    for tr in [Transport::Tcp, Transport::Udp, Transport::Ip] {
        for port in (0..=u16::MAX).step_by(1) {
            let set = e.port_set(tr, GroupDir::ToServer, port).expect("set");
            let got: Vec<u32> = set.groups.to_vec();
            let want: Vec<u32> = e
                .groups
                .iter()
                .enumerate()
                .filter(|(_, g)| {
                    (g.transport == tr || g.transport == Transport::Ip)
                        && g.dir == GroupDir::ToServer
                        && g.ports.contains(port)
                })
                .map(|(i, _)| i as u32)
                .collect();
            assert_eq!(got, want, "transport {tr:?} port {port}");
            // The set's one payload prefilter selects exactly its groups' rules per literal.
            let mut merged: Vec<(Vec<u8>, u32)> = set
                .buffers
                .iter()
                .filter(|b| b.buffer == Buffer::Payload && !b.stream)
                .flat_map(|b| {
                    b.literals
                        .iter()
                        .zip(&b.rules_of)
                        .flat_map(|(l, rs)| rs.iter().map(move |&r| (l.bytes.clone(), r)))
                })
                .collect();
            let mut union: Vec<(Vec<u8>, u32)> = want
                .iter()
                .flat_map(|&g| e.groups[g as usize].buffers_of(Buffer::Payload))
                .flat_map(|b| {
                    b.literals
                        .iter()
                        .zip(&b.rules_of)
                        .flat_map(|(l, rs)| rs.iter().map(move |&r| (l.bytes.clone(), r)))
                })
                .collect();
            merged.sort_unstable();
            union.sort_unstable();
            assert_eq!(merged, union, "transport {tr:?} port {port}");
        }
    }
}

#[test]
fn flowbit_gated_rules_without_content() {
    let mut r = Run::new(concat!(
        "alert tcp any any -> any any (content:\"a\"; flowbits:set,x; flowbits:noalert; sid:1;)\n",
        "alert tcp any any -> any any (flowbits:isset,x; sid:2;)\n",
        "alert tcp any any -> any any (flowbits:isnotset,x; sid:3;)\n",
    ));
    let mut st = FlowDetectState::default();
    let b = frame(C, S, 6, 1, 2, 0x18, b"b");
    let a = frame(C, S, 6, 1, 2, 0x18, b"a");
    let d = Some(Direction::ToServer);
    assert_eq!(r.packet(&b, d, Some(&mut st), 0).0, vec![3]);
    assert_eq!(r.packet(&b, None, None, 0).0, vec![3]);
    // The setter matches first in rule order; sid 2 on the same packet sees the bit.
    assert_eq!(r.packet(&a, d, Some(&mut st), 0).0, vec![2]);
    assert_eq!(r.packet(&b, d, Some(&mut st), 0).0, vec![2]);
}

#[test]
fn iponly_rules_may_set_flowbits() {
    let mut r = Run::new(concat!(
        "alert tcp 8.8.8.8 any -> $HOME_NET any (flowbits:set,bad; flowbits:noalert; sid:1;)\n",
        "alert tcp any any -> any any (content:\"x\"; flowbits:isset,bad; sid:2;)\n",
    ));
    assert_eq!(r.det.core.iponly.len(), 1);
    let mut st = FlowDetectState::default();
    let down = frame(S, C, 6, 2, 1, 0x18, b"x");
    assert_eq!(
        r.packet(&down, Some(Direction::ToClient), Some(&mut st), 0)
            .0,
        vec![2]
    );
    let mut st = FlowDetectState::default();
    let up = frame(C, S, 6, 1, 2, 0x18, b"x");
    assert_eq!(
        r.packet(&up, Some(Direction::ToServer), Some(&mut st), 0).0,
        Vec::<u32>::new()
    );
}

#[test]
fn protocol_detection_only_rules_match_when_detection_finishes() {
    let mut r = Run::new(concat!(
        "alert tcp any any -> any any (app-layer-protocol:tls; sid:1;)\n",
        "alert tcp any any -> any any (app-layer-protocol:tls; content:\"x\"; sid:2;)\n",
    ));
    let f = frame(C, S, 6, 1, 443, 0x18, b"x");
    let p = r.dec.decode(LinkType::Ethernet, &f, Timestamp(0));
    let mut view = PacketView::stateless(&p);
    view.dir = Some(Direction::ToServer);
    view.app_proto = Some(AppProto::Tls);
    let mut st = FlowDetectState::default();
    let mut got = Vec::new();
    r.det
        .inspect_packet(&view, Some(&mut st), Timestamp(0), &mut |a| got.push(a.sid));
    // Later packets of a TLS flow: only the rule with content matches.
    assert_eq!(got, vec![2]);
    view.proto_detected = true;
    let mut got = Vec::new();
    r.det
        .inspect_packet(&view, Some(&mut st), Timestamp(0), &mut |a| got.push(a.sid));
    got.sort_unstable();
    assert_eq!(got, vec![1, 2]);
}
