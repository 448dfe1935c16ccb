//! The whole pipeline (decode → flows → app layer → detection → EVE alert records) over
//! captures from suricata-verify (`../shared/data/suricata-verify`, public material; the
//! tests skip with a note when it is absent, and fail naming it when `CI` is set).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{EventSink, Pipeline, PipelineConfig};
use crate::decode::LinkType;
use crate::flow::FlowRecord;
use crate::io::pcap::PcapSource;
use vocab::AlertRecord;

fn sv(test: &str) -> Option<PathBuf> {
    vocab::testing::shared_data(Path::new("suricata-verify/tests").join(test))
}

fn engine(rules: &str) -> Arc<rules::Engine> {
    crate::detect::tests::engine(rules)
}

#[derive(Default)]
struct Collect {
    alerts: Vec<AlertRecord>,
    lines: Vec<serde_json::Value>,
    flows: Vec<FlowRecord>,
}

impl EventSink for Collect {
    fn flow_end(&mut self, rec: &FlowRecord) {
        self.flows.push(*rec);
    }
    fn alert(&mut self, rec: &AlertRecord) {
        self.alerts.push(*rec);
    }
    fn eve_line(&mut self, _event_type: &str, line: &[u8]) {
        self.lines
            .push(serde_json::from_slice(line).expect("EVE record is valid JSON"));
    }
    fn wants_eve_alerts(&self) -> bool {
        true
    }
}

fn run(pcap: &Path, rules: &str, inline: bool) -> Collect {
    let mut src = PcapSource::open(pcap).expect("pcap opens");
    let link = LinkType::try_from(src.link_type()).expect("link type");
    let mut cfg = PipelineConfig {
        engine: Some(engine(rules)),
        ..PipelineConfig::default()
    };
    cfg.decode.checksum_validation = false;
    cfg.flow.stream.inline = inline;
    let mut p = Pipeline::new(link, &cfg).expect("pipeline");
    let mut out = Collect::default();
    let mut last = crate::time::Timestamp(0);
    while let Some(f) = src.next_frame().expect("frame") {
        last = f.ts;
        p.process(f.data, f.ts, &mut out);
        p.end_burst();
    }
    p.finish(last, &mut out);
    out
}

#[test]
fn dns_alerts_once_per_transaction_with_metadata() {
    let Some(dir) = sv("dns/dns-query/dns-detect-query-02") else {
        return;
    };
    let out = run(
        &dir.join("input.pcap"),
        concat!(
            "alert dns any any -> any any (msg:\"q com\"; dns.query; content:\"google.com\"; nocase; sid:1;)\n",
            "alert dns any any -> any any (msg:\"q net\"; dns.query; content:\"google.net\"; nocase; sid:2;)\n",
            "alert dns any any -> any any (msg:\"nx\"; dns.rcode:0; flow:to_client; sid:3;)\n",
        ),
        false,
    );
    let got: Vec<(u32, u64)> = out.alerts.iter().map(|a| (a.sid, a.packet_no)).collect();
    // The query (packet 1) alerts, its response (packet 2) does not alert again for sid 1;
    // the second query (packet 3) alerts for sid 2; the response matches the rcode rule.
    assert_eq!(got, vec![(1, 1), (3, 2), (2, 3)]);
    // Transaction alerts name their transaction, and the flow's protocol and direction.
    for a in &out.alerts {
        assert!(a.tx_id.is_some(), "{a:?}");
        assert_eq!(a.app_proto, vocab::AppProto::Dns);
        assert!(a.direction.is_some() && a.flow_id > 0);
    }
    assert_eq!(out.lines.len(), 3);
    let first = &out.lines[0];
    assert_eq!(first["event_type"], "alert");
    assert_eq!(first["direction"], "to_server");
    assert_eq!(first["alert"]["signature"], "q com");
    assert_eq!(first["app_proto"], "dns");
    assert!(first["flow_id"].as_u64().unwrap() > 0);
    assert_eq!(first["flow"]["pkts_toserver"], 1);
    assert_eq!(first["flow"]["pkts_toclient"], 0);
    assert!(first.get("dns").is_some(), "transaction metadata: {first}");
    assert_eq!(out.lines[1]["direction"], "to_client");
    assert_eq!(out.lines[1]["flow"]["pkts_toclient"], 1);
    assert_eq!(out.flows.len(), 1);
    assert!(out.flows[0].alerted);
}

#[test]
fn http_uri_alerts_on_the_packet_completing_each_request() {
    let Some(dir) = sv("detect-http-uri/UriTestSig01") else {
        return;
    };
    let out = run(
        &dir.join("test.fpc.pcap"),
        "alert tcp any any -> any any (msg:\"one\"; uricontent:\"one\"; sid:1;)\n",
        true,
    );
    let got: Vec<u64> = out.alerts.iter().map(|a| a.packet_no).collect();
    // Inline mode: two requests in the capture, each alerting once, on the packets that
    // complete them (4 and 5).
    assert_eq!(got, vec![4, 5]);
    for l in &out.lines {
        assert_eq!(l["app_proto"], "http");
        assert!(l["http"]["url"].as_str().unwrap().contains("one"), "{l}");
    }
}

#[test]
fn a_request_handed_on_by_the_servers_ack_is_inspected_on_the_clients_next_packet() {
    // Request in packet 4, acknowledged by the server's data in packet 5 (IDS mode hands the
    // request to the parser then), client's ACK in packet 6: Suricata inspects request
    // buffers on packets travelling to the server, so the alert is packet 6's, with its
    // `tx_id` and the flow counters as they are then.
    let Some(dir) = sv("bug-78-uricontent") else {
        return;
    };
    let out = run(
        &dir.join("input.pcap"),
        "alert tcp any any -> any any (content:\"blah\"; http_uri; sid:100;)\n",
        false,
    );
    let got: Vec<u64> = out.alerts.iter().map(|a| a.packet_no).collect();
    assert_eq!(got, vec![6]);
    let l = &out.lines[0];
    assert_eq!(
        (l["tx_id"].as_u64(), l["direction"].as_str()),
        (Some(0), Some("to_server"))
    );
    assert_eq!(l["flow"]["pkts_toserver"], 4);
}

/// An Ethernet/IPv4/TCP frame (checksums left zero: the tests turn validation off).
fn tcp(
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (40 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.1.to_be_bytes());
    f.extend_from_slice(&dst.1.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

fn run_frames(frames: &[Vec<u8>], rules: &str, inline: bool) -> Collect {
    let mut cfg = PipelineConfig {
        engine: Some(engine(rules)),
        ..PipelineConfig::default()
    };
    cfg.decode.checksum_validation = false;
    cfg.flow.stream.inline = inline;
    let mut p = Pipeline::new(LinkType::Ethernet, &cfg).expect("pipeline");
    let mut out = Collect::default();
    let mut t = crate::time::Timestamp::from_micros(1_700_000_000, 0);
    for f in frames {
        t = crate::time::Timestamp(t.0 + 1_000_000);
        p.process(f, t, &mut out);
        p.end_burst();
    }
    p.finish(t, &mut out);
    out
}

#[test]
fn stream_matches_patterns_split_across_segments_once() {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PSH: u8 = 0x08;
    let c = ([10, 0, 0, 1], 40000);
    let s = ([10, 0, 0, 2], 4444);
    let frames = vec![
        tcp(c, s, 100, 0, SYN, b""),
        tcp(s, c, 500, 101, SYN | ACK, b""),
        tcp(c, s, 101, 501, ACK, b""),
        tcp(c, s, 101, 501, PSH | ACK, b"xxEVIL"),
        tcp(s, c, 501, 107, ACK, b""),
        tcp(c, s, 107, 501, PSH | ACK, b"PATTERNyy"),
        tcp(s, c, 501, 116, ACK, b""),
    ];
    let rules = concat!(
        "alert tcp any any -> any any (msg:\"split\"; flow:to_server; content:\"EVILPATTERN\"; sid:1;)\n",
        "alert tcp any any -> any any (msg:\"whole\"; flow:to_server; content:\"xxEVIL\"; sid:2;)\n",
        "alert tcp any any -> any any (msg:\"pkt only\"; flow:to_server,no_stream; content:\"EVILPATTERN\"; sid:3;)\n",
    );
    for inline in [false, true] {
        let out = run_frames(&frames, rules, inline);
        let mut sids: Vec<u32> = out.alerts.iter().map(|a| a.sid).collect();
        sids.sort_unstable();
        // The split pattern alerts once (from the stream), the whole one once (from its
        // packet, not again from the stream), the packet-only rule never.
        assert_eq!(sids, vec![1, 2], "inline={inline}");
        let split = out.alerts.iter().find(|a| a.sid == 1).unwrap();
        // Seen from the client, whatever packet handed the data on.
        assert_eq!(split.src_ip, std::net::IpAddr::from([10, 0, 0, 1]));
        assert_eq!(split.dst_port, 4444);
        if inline {
            // Inline mode inspects data at once: the packet completing the pattern.
            assert_eq!(split.packet_no, 6);
        } else {
            // IDS mode inspects acknowledged data: the server's acknowledgement.
            assert_eq!(split.packet_no, 7);
        }
    }
}

#[test]
fn app_records_are_written_once_per_transaction() {
    let Some(dir) = sv("detect-http-uri/UriTestSig01") else {
        return;
    };
    let mut src = PcapSource::open(&dir.join("test.fpc.pcap")).expect("pcap opens");
    let link = LinkType::try_from(src.link_type()).expect("link type");
    let mut cfg = PipelineConfig::default();
    cfg.decode.checksum_validation = false;
    cfg.flow.stream.inline = true;
    cfg.app.eve_logging = true;
    let mut p = Pipeline::new(link, &cfg).expect("pipeline");
    let mut out = Collect::default();
    let mut last = crate::time::Timestamp(0);
    while let Some(f) = src.next_frame().expect("frame") {
        last = f.ts;
        p.process(f.data, f.ts, &mut out);
    }
    p.finish(last, &mut out);
    let http: Vec<&serde_json::Value> = out
        .lines
        .iter()
        .filter(|l| l["event_type"] == "http")
        .collect();
    assert_eq!(http.len(), 2, "{:?}", out.lines);
    for (i, r) in http.iter().enumerate() {
        assert_eq!(r["tx_id"], i as u64);
        assert!(r["http"]["url"].as_str().unwrap().contains("one"), "{r}");
        assert_eq!(r["flow_id"], http[0]["flow_id"]);
        // Client → server orientation, as the flow record has it.
        assert_eq!(r["dest_port"], out.flows[0].tuple.dst_port);
        assert_eq!(r["src_port"], out.flows[0].tuple.src_port);
    }
}

#[test]
fn drop_rules_give_a_drop_verdict_and_blocked_alerts_inline() {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PSH: u8 = 0x08;
    let c = ([10, 0, 0, 1], 40000);
    let s = ([10, 0, 0, 2], 4444);
    let frames = [
        tcp(c, s, 100, 0, SYN, b""),
        tcp(s, c, 500, 101, SYN | ACK, b""),
        tcp(c, s, 101, 501, ACK, b""),
        tcp(c, s, 101, 501, PSH | ACK, b"bad stuff"),
        tcp(s, c, 501, 110, ACK, b""),
    ];
    let mut cfg = PipelineConfig {
        engine: Some(engine(
            "drop tcp any any -> any any (msg:\"bad\"; content:\"bad\"; sid:9;)\n",
        )),
        ..PipelineConfig::default()
    };
    cfg.decode.checksum_validation = false;
    cfg.detect.inline = true;
    let mut p = Pipeline::new(LinkType::Ethernet, &cfg).expect("pipeline");
    let mut out = Collect::default();
    let verdicts: Vec<crate::detect::Verdict> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            p.process(
                f,
                crate::time::Timestamp::from_micros(1_700_000_000 + i as u64, 0),
                &mut out,
            )
        })
        .collect();
    use crate::detect::Verdict::{Accept, Drop};
    // The server's ACK after the drop belongs to the dropped flow: dropped uninspected.
    assert_eq!(verdicts, [Accept, Accept, Accept, Drop, Drop]);
    assert_eq!(out.alerts.len(), 1);
    assert_eq!(out.lines[0]["alert"]["action"], "blocked");
    let c = counters(&p);
    assert_eq!(c["verdict.blocked"], 2);
    assert_eq!(c["verdict.flows_dropped"], 1);
    assert_eq!(c["verdict.dropped_flow_packets"], 1);
}

/// Every counter of a pipeline, by name.
fn counters(p: &Pipeline) -> std::collections::BTreeMap<&'static str, u64> {
    let mut m = std::collections::BTreeMap::new();
    p.visit_counters(&mut |n, v| {
        m.insert(n, v);
    });
    m
}

/// A handshake then two data packets from the client, the first carrying `bad`, and the
/// server's answer: the frames and the verdicts of `rule` over them, inline or not.
fn verdicts_of(rule: &str, inline: bool) -> (Vec<crate::detect::Verdict>, Collect, Pipeline) {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PSH: u8 = 0x08;
    let c = ([10, 0, 0, 1], 40000);
    let s = ([10, 0, 0, 2], 4444);
    let frames = [
        tcp(c, s, 100, 0, SYN, b""),
        tcp(s, c, 500, 101, SYN | ACK, b""),
        tcp(c, s, 101, 501, ACK, b""),
        tcp(c, s, 101, 501, PSH | ACK, b"bad stuff"),
        tcp(c, s, 110, 501, PSH | ACK, b"more bad"),
        tcp(s, c, 501, 118, ACK, b""),
    ];
    let mut cfg = PipelineConfig {
        engine: Some(engine(rule)),
        ..PipelineConfig::default()
    };
    cfg.decode.checksum_validation = false;
    cfg.detect.inline = inline;
    let mut p = Pipeline::new(LinkType::Ethernet, &cfg).expect("pipeline");
    let mut out = Collect::default();
    let v = frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            p.process(
                f,
                crate::time::Timestamp::from_micros(1_700_000_000 + i as u64, 0),
                &mut out,
            )
        })
        .collect();
    (v, out, p)
}

/// The reject family asks for answers to the sides it names, drops the flow like `drop`,
/// and the flow's later packets raise no alert.
#[test]
fn reject_rules_name_the_sides_answered_and_drop_the_flow() {
    use crate::detect::RejectTo;
    use crate::detect::Verdict::{Accept, Drop, Reject};
    for (action, to) in [
        ("reject", RejectTo::Src),
        ("rejectsrc", RejectTo::Src),
        ("rejectdst", RejectTo::Dst),
        ("rejectboth", RejectTo::Both),
    ] {
        let rule =
            format!("{action} tcp any any -> any any (msg:\"bad\"; content:\"bad\"; sid:9;)\n");
        let (v, out, p) = verdicts_of(&rule, true);
        assert_eq!(
            v,
            [Accept, Accept, Accept, Reject(to), Drop, Drop],
            "{action}"
        );
        assert_eq!(
            out.alerts.len(),
            1,
            "{action}: later packets are not inspected"
        );
        let c = counters(&p);
        assert_eq!(c["verdict.rejected"], 1);
        assert_eq!(c["verdict.dropped_flow_packets"], 2);
    }
}

/// IDS mode enforces nothing: every packet is accepted, the flow keeps being inspected
/// (both data packets alert) and alerts say `allowed`.
#[test]
fn ids_mode_accepts_every_packet_and_keeps_inspecting() {
    let rule = "drop tcp any any -> any any (msg:\"bad\"; content:\"bad\"; sid:9;)\n";
    let (v, out, p) = verdicts_of(rule, false);
    assert!(
        v.iter().all(|v| *v == crate::detect::Verdict::Accept),
        "{v:?}"
    );
    assert_eq!(out.alerts.len(), 2);
    assert!(out.lines.iter().all(|l| l["alert"]["action"] == "allowed"));
    let c = counters(&p);
    assert_eq!(c["verdict.blocked"], 0);
    assert_eq!(c["verdict.flows_dropped"], 0);
}

/// `pass` stops the flow's inspection: a later `drop` match does not drop anything.
#[test]
fn pass_stops_inspection_of_the_flow() {
    let rules = "pass tcp any any -> any any (content:\"bad stuff\"; sid:1;)\n\
                 drop tcp any any -> any any (content:\"more bad\"; sid:2;)\n";
    let (v, out, _) = verdicts_of(rules, true);
    assert!(
        v.iter().all(|v| *v == crate::detect::Verdict::Accept),
        "{v:?}"
    );
    assert!(out.alerts.is_empty());
}

/// App-layer events raised while a flow ends (here at shutdown: request headers cut short by
/// the end of the capture, an HTTP/1.1 request without `Host`) become `anomaly` records like
/// those raised by a packet, once, on the flow's client → server tuple.
#[test]
fn app_events_raised_at_flow_end_are_rendered_as_anomalies() {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PSH: u8 = 0x08;
    let c = ([10, 0, 0, 1], 40000);
    let s = ([10, 0, 0, 2], 80);
    let frames = [
        tcp(c, s, 100, 0, SYN, b""),
        tcp(s, c, 500, 101, SYN | ACK, b""),
        tcp(c, s, 101, 501, ACK, b""),
        tcp(
            c,
            s,
            101,
            501,
            PSH | ACK,
            b"GET /x HTTP/1.1\r\nUser-Agent: t\r\n",
        ),
        tcp(s, c, 501, 133, ACK, b""),
    ];
    let run = |types: crate::pipeline::AnomalyTypes| {
        let mut cfg = PipelineConfig {
            anomaly: types,
            ..PipelineConfig::default()
        };
        cfg.decode.checksum_validation = false;
        let mut p = Pipeline::new(LinkType::Ethernet, &cfg).expect("pipeline");
        let mut out = Collect::default();
        let mut t = crate::time::Timestamp::from_micros(1_700_000_000, 0);
        for f in &frames {
            t = crate::time::Timestamp(t.0 + 1_000_000);
            p.process(f, t, &mut out);
        }
        let during = out.lines.len();
        let mut logged = 0;
        p.finish(crate::time::Timestamp(t.0 + 5_000_000), &mut out);
        p.visit_counters(&mut |k, v| {
            if k == "eve.anomaly" {
                logged = v;
            }
        });
        (out, during, logged)
    };
    let (out, during, logged) = run(Default::default());
    assert_eq!(during, 0, "nothing raised before the end: {:?}", out.lines);
    let anomalies: Vec<_> = out
        .lines
        .iter()
        .filter(|l| l["event_type"] == "anomaly")
        .collect();
    assert_eq!(anomalies.len(), 1, "{:?}", out.lines);
    let a = anomalies[0];
    assert_eq!(a["anomaly"]["type"], "applayer");
    assert_eq!(a["anomaly"]["event"], "missing_host_header");
    assert_eq!(a["anomaly"]["app_proto"], "http");
    assert_eq!(a["app_proto"], "http");
    assert_eq!(a["src_ip"], "10.0.0.1");
    assert_eq!(a["dest_port"], 80);
    assert_eq!(a["flow_id"], out.flows[0].id.0);
    assert!(a.get("pcap_cnt").is_none(), "no packet raised it: {a}");
    // At the flow's last packet time, not the time of the shutdown.
    assert_eq!(
        a["timestamp"],
        vocab::calendar::eve_timestamp(out.flows[0].end.0).as_str()
    );
    assert_eq!(logged, 1);

    let (out, _, logged) = run(crate::pipeline::AnomalyTypes {
        applayer: false,
        ..Default::default()
    });
    assert!(out.lines.iter().all(|l| l["event_type"] != "anomaly"));
    assert_eq!(logged, 0);
}

#[test]
fn alerts_carry_the_flows_flowbits_and_traffic_tags() {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PSH: u8 = 0x08;
    let c = ([10, 0, 0, 1], 40000);
    let s = ([10, 0, 0, 2], 4444);
    let frames = [
        tcp(c, s, 100, 0, SYN, b""),
        tcp(s, c, 500, 101, SYN | ACK, b""),
        tcp(c, s, 101, 501, ACK, b""),
        tcp(c, s, 101, 501, PSH | ACK, b"hello"),
        tcp(s, c, 501, 106, PSH | ACK, b"world"),
    ];
    let out = run_frames(
        &frames,
        "alert tcp any any -> any any (content:\"hello\"; flowbits:set,seen.hello; flowbits:set,traffic/id/greeter; flowbits:set,traffic/label/chat; flowbits:noalert; sid:1;)\n\
         alert tcp any any -> any any (content:\"world\"; flowbits:isset,seen.hello; sid:2;)\n",
        true,
    );
    assert_eq!(out.lines.len(), 1, "{:?}", out.lines);
    let l = &out.lines[0];
    assert_eq!(l["alert"]["signature_id"], 2);
    assert_eq!(l["metadata"]["flowbits"], serde_json::json!(["seen.hello"]));
    assert_eq!(l["traffic"]["id"], serde_json::json!(["greeter"]));
    assert_eq!(l["traffic"]["label"], serde_json::json!(["chat"]));
}

/// An IPv4/ICMP echo (`kind` 8 request, 0 reply) with id 7, checksums left zero.
fn icmp_echo(src: [u8; 4], dst: [u8; 4], kind: u8) -> Vec<u8> {
    let body = [kind, 0, 0, 0, 0, 7, 0, 1, b'p', b'i', b'n', b'g'];
    let mut f = vec![0x45, 0];
    f.extend_from_slice(&((20 + body.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 1, 0, 0, 64, 1, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&body);
    f
}

/// `ip` in an Ethernet frame with one 802.1Q tag.
fn in_vlan(vlan: u16, ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x81, 0x00]);
    f.extend_from_slice(&vlan.to_be_bytes());
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(ip);
    f
}

/// `inner` (an Ethernet frame) in VXLAN with `vni`, over IPv4/UDP in an untagged frame.
fn in_vxlan(vni: u32, inner: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&((20 + 8 + 8 + inner.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    f.extend_from_slice(&[0xc0, 0x00, 0x12, 0xb5]); // ports 49152 → 4789
    f.extend_from_slice(&((8 + 8 + inner.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&[0x08, 0, 0, 0]);
    f.extend_from_slice(&(vni << 8).to_be_bytes());
    f.extend_from_slice(inner);
    f
}

fn eve_flow(rec: &FlowRecord) -> serde_json::Value {
    let mut out = Vec::new();
    crate::flow::write_eve_flow(rec, &mut out).expect("in memory");
    serde_json::from_slice(&out).expect("flow record is valid JSON")
}

#[test]
fn icmp_records_carry_the_vlan_and_the_icmp_type_and_code() {
    let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let frames = [
        in_vlan(23, &icmp_echo(a, b, 8)),
        in_vlan(23, &icmp_echo(b, a, 0)),
    ];
    let out = run_frames(
        &frames,
        "alert icmp any any -> any any (itype:8; sid:2;)\n\
         alert icmp any any -> any any (itype:0; sid:1;)\n",
        false,
    );
    assert_eq!(out.lines.len(), 2, "{:?}", out.lines);
    for (l, kind) in out.lines.iter().zip([8, 0]) {
        assert_eq!(l["vlan"], serde_json::json!([23]), "{l}");
        assert_eq!(l["icmp_type"], kind, "{l}");
        assert_eq!(l["icmp_code"], 0, "{l}");
        assert_eq!(l["alert"]["signature_id"], if kind == 8 { 2 } else { 1 });
    }
    // The record that crosses to the control plane carries the same packet side.
    for (a, kind) in out.alerts.iter().zip([8u8, 0]) {
        assert_eq!(a.vlan.ids(), [23], "{a:?}");
        assert_eq!(a.icmp, Some([kind, 0]), "{a:?}");
        assert_eq!(a.tx_id, None);
    }
    assert_eq!(out.flows.len(), 1);
    let f = eve_flow(&out.flows[0]);
    assert_eq!(f["vlan"], serde_json::json!([23]), "{f}");
    assert_eq!(f["icmp_type"], 8, "{f}");
    assert_eq!(f["icmp_code"], 0, "{f}");
    assert_eq!(f["response_icmp_type"], 0, "{f}");
    assert_eq!(f["response_icmp_code"], 0, "{f}");
    // A request without an answer has no response fields, and TCP flows no ICMP fields.
    let out = run_frames(&frames[..1], "", false);
    let f = eve_flow(&out.flows[0]);
    assert_eq!(f["icmp_type"], 8, "{f}");
    assert!(f.get("response_icmp_type").is_none(), "{f}");
    let c = ([10, 0, 0, 1], 40000);
    let s = ([10, 0, 0, 2], 80);
    let out = run_frames(&[tcp(c, s, 1, 0, 0x02, b"")], "", false);
    let f = eve_flow(&out.flows[0]);
    assert!(
        f.get("icmp_type").is_none() && f.get("vlan").is_none(),
        "{f}"
    );
}

#[test]
fn tunnelled_flows_count_the_bytes_after_the_tunnel_header() {
    let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let inner = in_vlan(23, &icmp_echo(a, b, 8));
    let frame = in_vxlan(0x00ab_cdef, &inner);
    let out = run_frames(&[frame.clone(), frame.clone()], "", false);
    assert_eq!(out.flows.len(), 1);
    let rec = &out.flows[0];
    // Outer Ethernet, IPv4, UDP and VXLAN headers are not the flow's bytes.
    assert_eq!(rec.bytes_toserver, 2 * inner.len() as u64);
    assert_eq!(rec.bytes_toserver, 2 * (frame.len() - 50) as u64);
    // The VLAN is the inner frame's, whatever the VNI.
    assert_eq!(eve_flow(rec)["vlan"], serde_json::json!([23]));
    // The same packet outside the tunnel is another flow, counted whole.
    let out = run_frames(&[frame, inner.clone()], "", false);
    assert_eq!(out.flows.len(), 2);
    assert!(out
        .flows
        .iter()
        .all(|f| f.bytes_toserver == inner.len() as u64));
}

/// A flow-table slot freed by one flow and taken by the next never shows the earlier flow's
/// state: flow A sets a flowbit and ends; its state is kept for reuse, lands in the slot of a
/// second flow that ends, and that slot goes to flow B, whose rule tests the flowbit.
#[test]
fn a_reused_flow_slot_starts_with_fresh_state() {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PSH: u8 = 0x08;
    let rules = "alert tcp any any -> any any (content:\"hello\"; flowbits:set,seen.hello; flowbits:noalert; sid:1;)\n\
                 alert tcp any any -> any any (content:\"world\"; flowbits:isset,seen.hello; sid:2;)\n";
    let mut cfg = PipelineConfig {
        engine: Some(engine(rules)),
        ..PipelineConfig::default()
    };
    cfg.decode.checksum_validation = false;
    cfg.flow.stream.inline = true;
    let mut p = Pipeline::new(LinkType::Ethernet, &cfg).expect("pipeline");
    let mut out = Collect::default();
    let at = |s: u64| crate::time::Timestamp::from_micros(1_700_000_000 + s, 0);
    let s = ([10, 0, 0, 2], 4444);
    let session = |c: ([u8; 4], u16), data: &[u8]| {
        vec![
            tcp(c, s, 100, 0, SYN, b""),
            tcp(s, c, 500, 101, SYN | ACK, b""),
            tcp(c, s, 101, 501, ACK, b""),
            tcp(c, s, 101, 501, PSH | ACK, b"hello"),
            tcp(s, c, 501, 106, PSH | ACK, data),
        ]
    };
    // Flow A (slot 0): sets the flowbit, and alerts on its own "world".
    for (i, f) in session(([10, 0, 0, 1], 40000), b"world").iter().enumerate() {
        p.process(f, at(i as u64), &mut out);
    }
    // Flow C (slot 1), then A times out; its state is kept for reuse.
    let mut echo = vec![0u8; 12];
    echo.extend_from_slice(&[0x08, 0x00]);
    echo.extend_from_slice(&icmp_echo([10, 0, 0, 3], [10, 0, 0, 4], 8));
    p.process(&echo, at(700), &mut out);
    p.sweep(at(700), usize::MAX, &mut out);
    assert_eq!(out.flows.len(), 1);
    // C times out: A's old state takes C's slot, which flow B gets next.
    p.sweep(at(800), usize::MAX, &mut out);
    assert_eq!(out.flows.len(), 2);
    let c = ([10, 0, 0, 5], 40001);
    let b = [
        tcp(c, s, 100, 0, SYN, b""),
        tcp(s, c, 500, 101, SYN | ACK, b""),
        tcp(c, s, 101, 501, ACK, b""),
        tcp(s, c, 501, 101, PSH | ACK, b"world"),
    ];
    for (i, f) in b.iter().enumerate() {
        p.process(f, at(801 + i as u64), &mut out);
    }
    p.finish(at(900), &mut out);
    let a_id = out.flows[0].id.0;
    let sids: Vec<(u32, u64)> = out.alerts.iter().map(|a| (a.sid, a.flow_id)).collect();
    assert_eq!(sids, vec![(2, a_id)], "only flow A has the flowbit");
}

/// Anomaly records as the pipeline renders them (decoder and stream events, the types
/// configured, null sinks).
mod anomaly_records {
    use crate::time::Timestamp;

    /// Collects worker-rendered records.
    #[derive(Default)]
    struct Lines(Vec<(String, serde_json::Value)>);

    impl super::super::EventSink for Lines {
        fn flow_end(&mut self, _: &crate::flow::FlowRecord) {}
        fn eve_line(&mut self, event_type: &str, line: &[u8]) {
            let v = serde_json::from_slice(line).expect("a record is one JSON object");
            self.0.push((event_type.to_string(), v));
        }
    }

    /// Ethernet + IPv4 (total length `ip_len`) + TCP header from 10.0.0.1:1234 to
    /// 10.0.0.2:80 with `flags`, `seq`, `ack`.
    fn tcp_frame(ip_len: u16, flags: u8, seq: u32, ack: u32) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
        f.extend_from_slice(&ip);
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&1234u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&ack.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = flags;
        tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
        f.extend_from_slice(&tcp);
        f
    }

    fn pipeline(anomaly: super::super::AnomalyTypes) -> super::super::Pipeline {
        let mut cfg = super::super::PipelineConfig::default();
        cfg.decode.checksum_validation = false;
        cfg.anomaly = anomaly;
        super::super::Pipeline::new(crate::decode::LinkType::Ethernet, &cfg).unwrap()
    }

    #[test]
    fn pipeline_renders_decoder_and_stream_anomalies_once_each() {
        let mut p = pipeline(Default::default());
        let mut sink = Lines::default();
        let t = Timestamp::from_micros(1_700_000_000, 0);
        // IPv4 says 100 bytes, 40 captured: decoder.ipv4.trunc_pkt, no flow.
        p.process(&tcp_frame(100, 0x02, 1, 0), t, &mut sink);
        assert_eq!(sink.0.len(), 1, "{:?}", sink.0);
        let (ty, v) = &sink.0[0];
        assert_eq!(ty, "anomaly");
        assert_eq!(v["anomaly"]["type"], "decode");
        assert_eq!(v["anomaly"]["event"], "decoder.ipv4.trunc_pkt");
        assert_eq!(v["pcap_cnt"], 1);
        // The IPv4 layer did not decode: no addresses, as Suricata writes it.
        assert!(v.get("src_ip").is_none());
        // A well-formed SYN raises nothing.
        p.process(&tcp_frame(40, 0x02, 1000, 0), t, &mut sink);
        assert_eq!(sink.0.len(), 1);
        // The client resends its SYN with another sequence number: a stream event.
        p.process(&tcp_frame(40, 0x02, 2000, 0), t, &mut sink);
        let stream: Vec<_> = sink.0[1..].iter().map(|(_, v)| v).collect();
        assert_eq!(stream.len(), 1, "{stream:?}");
        assert_eq!(
            stream[0]["anomaly"]["event"],
            "stream.3whs_syn_resend_diff_seq"
        );
        for v in &stream {
            assert_eq!(v["anomaly"]["type"], "stream");
            assert!(v["anomaly"]["event"]
                .as_str()
                .unwrap()
                .starts_with("stream."));
            assert!(v["flow_id"].as_u64().unwrap() > 0);
            assert_eq!(v["pcap_cnt"], 3);
            assert_eq!(v["src_ip"], "10.0.0.1");
            assert_eq!(v["dest_port"], 80);
        }
        let mut logged = 0;
        p.visit_counters(&mut |n, v| {
            if n == "eve.anomaly" {
                logged = v;
            }
        });
        assert_eq!(logged, sink.0.len() as u64);
    }

    #[test]
    fn anomaly_types_narrow_and_null_sinks_render_nothing() {
        let t = Timestamp::from_micros(1_700_000_000, 0);
        let mut p = pipeline(super::super::AnomalyTypes {
            decode: false,
            stream: true,
            applayer: true,
        });
        let mut sink = Lines::default();
        p.process(&tcp_frame(100, 0x02, 1, 0), t, &mut sink);
        assert!(sink.0.is_empty());
        let mut p = pipeline(Default::default());
        p.process(
            &tcp_frame(100, 0x02, 1, 0),
            t,
            &mut super::super::NullEvents,
        );
        let mut logged = 1;
        p.visit_counters(&mut |n, v| {
            if n == "eve.anomaly" {
                logged = v;
            }
        });
        assert_eq!(logged, 0);
    }

    proptest::proptest! {
        /// Any frames through a pipeline: every worker-rendered record is one valid JSON
        /// object of its announced type, and the count matches `eve.anomaly`.
        #[test]
        fn any_frames_render_valid_anomaly_records(
            frames in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..80), 1..40),
        ) {
            let mut p = pipeline(Default::default());
            let mut sink = Lines::default();
            let t = Timestamp::from_micros(1_700_000_000, 0);
            for mut f in frames {
                // Mostly IPv4 over Ethernet, so decoding gets past the first layer.
                if f.len() > 14 {
                    f[12] = 0x08;
                    f[13] = 0x00;
                    f[14] = 0x45;
                }
                p.process(&f, t, &mut sink);
            }
            for (ty, v) in &sink.0 {
                proptest::prop_assert_eq!(ty.as_str(), "anomaly");
                proptest::prop_assert_eq!(&v["event_type"], "anomaly");
                let kind = v["anomaly"]["type"].as_str().unwrap_or("");
                proptest::prop_assert!(matches!(kind, "decode" | "stream" | "applayer"), "{}", v);
            }
            let mut logged = 0;
            p.visit_counters(&mut |n, v| {
                if n == "eve.anomaly" {
                    logged = v;
                }
            });
            proptest::prop_assert_eq!(logged, sink.0.len() as u64);
        }
    }
}

/// A packet the flow table refused (its emergency eviction found nothing to evict) follows
/// the flow-memcap exception policy, counted: `ignore` fails open, `drop-packet` and `auto`
/// drop the packet inline (there is no flow to drop), IDS mode ignores drops.
#[test]
fn flow_memcap_exception_policies_fail_open_or_closed() {
    use super::{ExceptionPolicies, ExceptionPolicy as P};
    use crate::detect::{RejectTo, Verdict};
    let settle = |policy: P, inline: bool| {
        let mut cfg = PipelineConfig::default();
        cfg.detect.inline = inline;
        cfg.exceptions = ExceptionPolicies::all(policy);
        let mut p = Pipeline::new(LinkType::Ethernet, &cfg).expect("pipeline");
        p.st.packet_exception(super::Cause::FlowMemcap);
        let v = p.st.settle(None);
        // The next packet starts afresh.
        assert_eq!(p.st.settle(None), Verdict::Accept);
        let c = counters(&p);
        let applied = format!(
            "exception_policy.flow_memcap.{}",
            policy.effective(inline).as_str().replace('-', "_")
        );
        assert_eq!(c[applied.as_str()], c["exception_policy.flow_memcap"]);
        (v, c["exception_policy.flow_memcap"])
    };
    assert_eq!(settle(P::Ignore, true), (Verdict::Accept, 1));
    assert_eq!(settle(P::PassFlow, true), (Verdict::Accept, 1));
    assert_eq!(settle(P::DropPacket, true), (Verdict::Drop, 1));
    assert_eq!(settle(P::DropFlow, true), (Verdict::Drop, 1));
    assert_eq!(settle(P::Auto, true), (Verdict::Drop, 1));
    assert_eq!(settle(P::Reject, true), (Verdict::Reject(RejectTo::Src), 1));
    assert_eq!(settle(P::Auto, false), (Verdict::Accept, 1));
    assert_eq!(settle(P::DropPacket, false), (Verdict::Accept, 1));
}

/// `drop-packet` on an app-layer error drops the packet and keeps the flow; `drop-flow`
/// drops the flow's later packets too; `pass-flow` stops its inspection.
#[test]
fn app_layer_error_policies_act_on_the_packet_or_its_flow() {
    use super::{ExceptionPolicies, ExceptionPolicy as P};
    use crate::detect::Verdict::{Accept, Drop};
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    let c = ([10, 0, 0, 1], 40000);
    let s = ([10, 0, 0, 2], 4444);
    let syn = tcp(c, s, 100, 0, SYN, b"");
    let later = tcp(s, c, 500, 101, SYN | ACK, b"");
    let run = |policy: P| {
        let mut cfg = PipelineConfig {
            engine: Some(engine(
                "alert tcp any any -> any any (msg:\"any\"; sid:1;)\n",
            )),
            ..PipelineConfig::default()
        };
        cfg.decode.checksum_validation = false;
        cfg.detect.inline = true;
        cfg.exceptions = ExceptionPolicies::all(policy);
        let mut p = Pipeline::new(LinkType::Ethernet, &cfg).expect("pipeline");
        let mut out = Collect::default();
        let t = crate::time::Timestamp::from_micros(1_700_000_000, 0);
        // The first packet as `process` runs it, with an app-layer error on its flow.
        let Pipeline {
            link, decoder, st, ..
        } = &mut p;
        let mut slot = None;
        let pkt = decoder.decode_offloaded_in(*link, &syn, t, Default::default(), &mut slot);
        let h = st.packet(pkt, t, &mut out).expect("a flow");
        st.flow_exception(super::Cause::AppLayerError, h);
        let first = st.settle(Some(h));
        let second = p.process(&later, t, &mut out);
        (first, second, out.alerts.len())
    };
    assert_eq!(run(P::DropPacket), (Drop, Accept, 2));
    assert_eq!(run(P::DropFlow), (Drop, Drop, 1));
    assert_eq!(run(P::PassFlow), (Accept, Accept, 1));
    assert_eq!(run(P::Ignore), (Accept, Accept, 2));
}

/// A rule with `bypass` that matches the first data packet bypasses its flow: it alerts, and
/// the flow's later packets are counted, not inspected (a `drop` rule matching the second
/// data packet neither alerts nor drops); the flow record says `bypass: "local"`.
#[test]
fn a_bypass_rule_stops_inspection_of_the_flows_later_packets() {
    use crate::detect::Verdict::Accept;
    let rules =
        "alert tcp any any -> any any (msg:\"first\"; content:\"bad stuff\"; bypass; sid:1;)\n\
                 drop tcp any any -> any any (msg:\"later\"; content:\"more bad\"; sid:2;)\n";
    let (v, mut out, mut p) = verdicts_of(rules, true);
    assert_eq!(v, [Accept; 6]);
    let sids: Vec<u32> = out.alerts.iter().map(|a| a.sid).collect();
    assert_eq!(sids, [1]);
    let c = counters(&p);
    assert_eq!(c["detect.bypass"], 1);
    assert_eq!(c["flow.bypassed"], 1);
    assert_eq!(c["flow.bypassed_depth"], 0);
    // The second data packet and the server's ACK.
    assert_eq!(c["flow.bypassed_packets"], 2);
    assert_eq!(c["flow.bypassed_bytes"], (14 + 40 + 8) + (14 + 40));
    assert_eq!(c["verdict.blocked"], 0);
    p.finish(
        crate::time::Timestamp::from_micros(1_700_000_010, 0),
        &mut out,
    );
    let flow = eve_flow(&out.flows[0]);
    assert_eq!(flow["flow"]["bypass"], "local");
    assert_eq!(flow["flow"]["state"], "bypassed");
    // Without `bypass`, the same rules drop the flow at its second data packet.
    let (v, out, _) = verdicts_of(&rules.replace(" bypass;", ""), true);
    assert_eq!(v[4], crate::detect::Verdict::Drop);
    assert_eq!(out.alerts.len(), 2);
}

/// A flow dropped inline stays dropped when a `bypass` rule matched the same packet.
#[test]
fn a_dropped_flow_stays_dropped_when_bypassed() {
    use crate::detect::Verdict::{Accept, Drop};
    let rules =
        "drop tcp any any -> any any (msg:\"bad\"; content:\"bad stuff\"; bypass; sid:1;)\n";
    let (v, _, p) = verdicts_of(rules, true);
    assert_eq!(v, [Accept, Accept, Accept, Drop, Drop, Drop]);
    assert_eq!(counters(&p)["verdict.dropped_flow_packets"], 2);
}

/// `stream.bypass`: once the client's stream reached the reassembly depth (and was handed on
/// up to it), the flow's later packets are bypassed: a pattern within the depth alerts, one
/// sent after it does not, and nothing more is reassembled.
#[test]
fn flows_past_the_reassembly_depth_are_bypassed_with_stream_bypass() {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PSH: u8 = 0x08;
    let c = ([10, 0, 0, 1], 40000);
    let s = ([10, 0, 0, 2], 4444);
    let rules = "alert tcp any any -> any any (msg:\"early\"; content:\"early-marker\"; sid:1;)\n\
                 alert tcp any any -> any any (msg:\"late\"; content:\"late-marker\"; sid:2;)\n";
    let chunk = |tag: &[u8]| {
        let mut d = vec![b'x'; 1000];
        d[100..100 + tag.len()].copy_from_slice(tag);
        d
    };
    let mut frames = vec![
        tcp(c, s, 100, 0, SYN, b""),
        tcp(s, c, 500, 101, SYN | ACK, b""),
        tcp(c, s, 101, 501, ACK, b""),
    ];
    let mut seq = 101u32;
    for i in 0..6 {
        let d = chunk(if i == 0 {
            b"early-marker"
        } else {
            b"late-marker"
        });
        frames.push(tcp(c, s, seq, 501, PSH | ACK, &d));
        seq += d.len() as u32;
        frames.push(tcp(s, c, 501, seq, ACK, b""));
    }
    let run = |bypass: bool| {
        let mut cfg = PipelineConfig {
            engine: Some(engine(rules)),
            ..PipelineConfig::default()
        };
        cfg.decode.checksum_validation = false;
        cfg.flow.stream.depth = 2000;
        cfg.flow.stream.bypass = bypass;
        let mut p = Pipeline::new(LinkType::Ethernet, &cfg).expect("pipeline");
        let mut out = Collect::default();
        let mut t = crate::time::Timestamp::from_micros(1_700_000_000, 0);
        for f in &frames {
            t = crate::time::Timestamp(t.0 + 1_000);
            p.process(f, t, &mut out);
        }
        p.finish(t, &mut out);
        let mut sids: Vec<u32> = out.alerts.iter().map(|a| a.sid).collect();
        sids.sort();
        sids.dedup();
        (sids, counters(&p), eve_flow(&out.flows[0]))
    };
    let (sids, c, flow) = run(true);
    // The late marker at 1,100 lies within the depth: it alerts before the bypass.
    assert_eq!(sids, [1, 2]);
    assert_eq!(c["flow.bypassed"], 1);
    assert_eq!(c["flow.bypassed_depth"], 1);
    assert!(
        c["flow.bypassed_packets"] >= 6,
        "{}",
        c["flow.bypassed_packets"]
    );
    assert_eq!(flow["flow"]["bypass"], "local");
    let (_, without, flow) = run(false);
    assert_eq!(without["flow.bypassed"], 0);
    assert_eq!(without["flow.bypassed_packets"], 0);
    assert!(flow["flow"].get("bypass").is_none());
    // Packet inspection stops with the bypass: fewer packets inspected.
    assert!(c["detect.packets"] < without["detect.packets"]);
}

#[test]
fn tls_records_carry_ja3_and_ja4_for_every_handshake_when_fingerprints_are_on() {
    let Some(dir) = sv("tls/tls-fingerprint-alert") else {
        return;
    };
    let tls_of = |fingerprints: bool| {
        let mut src = PcapSource::open(&dir.join("input.pcap")).expect("pcap opens");
        let link = LinkType::try_from(src.link_type()).expect("link type");
        let mut cfg = PipelineConfig::default();
        cfg.decode.checksum_validation = false;
        cfg.app.eve_logging = true;
        cfg.app.tls_fingerprints = fingerprints;
        let mut p = Pipeline::new(link, &cfg).expect("pipeline");
        let mut out = Collect::default();
        let mut last = crate::time::Timestamp(0);
        while let Some(f) = src.next_frame().expect("frame") {
            last = f.ts;
            p.process(f.data, f.ts, &mut out);
        }
        p.finish(last, &mut out);
        out.lines
            .into_iter()
            .filter(|l| l["event_type"] == "tls")
            .collect::<Vec<_>>()
    };
    let on = tls_of(true);
    assert!(!on.is_empty(), "the capture has a handshake");
    for r in &on {
        let t = &r["tls"];
        let ja3 = t["ja3"]["hash"].as_str().unwrap_or_default();
        assert_eq!(ja3.len(), 32, "{r}");
        assert!(t["ja4"].as_str().is_some_and(|j| j.starts_with('t')), "{r}");
    }
    // Without a rule that asks, Suricata's default: none.
    for r in tls_of(false) {
        assert!(
            r["tls"].get("ja3").is_none() && r["tls"].get("ja4").is_none(),
            "{r}"
        );
    }
}
