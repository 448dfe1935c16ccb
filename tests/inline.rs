//! The inline (IPS) path through real DPDK: `osprey replay --inline-out` forwards through
//! `net_pcap` (`rx_pcap` in, `tx_pcap` out) what its verdicts let through, and the output is
//! checked against an independent computation of what `drop` and `reject` must remove and
//! add; a peer whose Tx ring is never drained (`net_ring`) is counted, not waited for.
//! Exception policies under tiny reassembly and defrag memcaps, and bypassed flows (the
//! `bypass` rule keyword, `--stream-bypass`), are checked the same way.

mod common;

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;

use common::{eve_records, osprey, read_json, run, sample, write_pcap, ETHERNET};
use dataplane::decode::{DecodeConfig, Decoder, LinkType, L4};
use dataplane::io::pcap::PcapSource;
use dataplane::time::Timestamp;

/// Every frame of a capture, in order.
fn frames(path: &Path) -> Vec<Vec<u8>> {
    let mut src = PcapSource::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        out.push(f.data.to_vec());
    }
    out
}

/// A flow's key, the same from both sides: protocol and the two (address, port) ends,
/// sorted. Parsed here from the bytes (Ethernet, IPv4, TCP/UDP), not by the decoder under
/// test.
type FlowKey = (u8, [(IpAddr, u16); 2]);

fn flow_key(f: &[u8]) -> Option<FlowKey> {
    if f.len() < 34 || f[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &f[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let proto = ip[9];
    let src = IpAddr::from([ip[12], ip[13], ip[14], ip[15]]);
    let dst = IpAddr::from([ip[16], ip[17], ip[18], ip[19]]);
    let l4 = ip.get(ihl..ihl + 4)?;
    let sp = u16::from_be_bytes([l4[0], l4[1]]);
    let dp = u16::from_be_bytes([l4[2], l4[3]]);
    let mut ends = [(src, sp), (dst, dp)];
    ends.sort();
    Some((proto, ends))
}

/// The L4 payload of an Ethernet/IPv4 TCP or UDP frame (by the IP total length).
fn payload(f: &[u8]) -> &[u8] {
    let ip = &f[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]])).min(ip.len());
    let l4 = &ip[ihl..total];
    match ip[9] {
        6 => &l4[usize::from(l4[12] >> 4) * 4..],
        17 => &l4[8..],
        _ => &[],
    }
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

/// Ethernet + IPv4 + TCP (`c` → `s`) with `payload`; checksums left 0 (replayed with
/// `--flags checksum-off`).
fn tcp(
    c: ([u8; 4], u16),
    s: ([u8; 4], u16),
    seq: u32,
    ack: u32,
    flags: u8,
    data: &[u8],
) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 6, 0, 0];
    ip[2..4].copy_from_slice(&((40 + data.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&c.0);
    ip.extend_from_slice(&s.0);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&c.1.to_be_bytes());
    f.extend_from_slice(&s.1.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[5 << 4, flags, 0xfa, 0xf0, 0, 0, 0, 0]);
    f.extend_from_slice(data);
    f
}

/// Ethernet + IPv4 + UDP (`c` → `s`) with `payload`.
fn udp(c: ([u8; 4], u16), s: ([u8; 4], u16), data: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&((28 + data.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&c.0);
    ip.extend_from_slice(&s.0);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&c.1.to_be_bytes());
    f.extend_from_slice(&s.1.to_be_bytes());
    f.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(data);
    f
}

/// One TCP flow's frames: handshake, then the client's `chunks`, each acknowledged.
fn tcp_flow(c: ([u8; 4], u16), s: ([u8; 4], u16), chunks: &[&[u8]]) -> Vec<Vec<u8>> {
    let (mut cs, ss) = (1000u32, 9000u32);
    let mut v = vec![
        tcp(c, s, cs, 0, SYN, b""),
        tcp(s, c, ss, cs + 1, SYN | ACK, b""),
        tcp(c, s, cs + 1, ss + 1, ACK, b""),
    ];
    cs += 1;
    for d in chunks {
        v.push(tcp(c, s, cs, ss + 1, PSH | ACK, d));
        cs += d.len() as u32;
        v.push(tcp(s, c, ss + 1, cs, ACK, b""));
    }
    v
}

/// Four flows interleaved packet by packet: two clean TCP flows, a TCP flow and a UDP flow
/// that carry `bad` part-way through.
fn mixed_capture() -> Vec<Vec<u8>> {
    let a = ([192, 0, 2, 1], 40001);
    let b = ([192, 0, 2, 2], 40002);
    let srv = ([198, 51, 100, 10], 80);
    let dns = ([203, 0, 113, 53], 53);
    let flows = [
        tcp_flow(a, srv, &[b"GET / HTTP/1.0\r\n\r\n", b"fine", b"also fine"]),
        tcp_flow(
            b,
            srv,
            &[b"hello", b"a bad request", b"after the drop", b"more"],
        ),
        vec![
            udp(a, dns, b"query one"),
            udp(dns, a, b"answer one"),
            udp(a, dns, b"bad query"),
            udp(dns, a, b"answer two"),
            udp(a, dns, b"query three"),
        ],
        tcp_flow(([192, 0, 2, 3], 40003), srv, &[b"clean", b"clean again"]),
    ];
    let longest = flows.iter().map(Vec::len).max().unwrap();
    let mut out = Vec::new();
    for i in 0..longest {
        for f in &flows {
            if let Some(p) = f.get(i) {
                out.push(p.clone());
            }
        }
    }
    out
}

/// What an inline box with a `drop` rule on `needle` forwards: every packet of a flow before
/// the first packet carrying `needle`, nothing of it from there on.
fn expected_after_drops(input: &[Vec<u8>], needle: &[u8]) -> Vec<Vec<u8>> {
    let mut dropped: HashSet<FlowKey> = HashSet::new();
    let mut out = Vec::new();
    for f in input {
        let key = flow_key(f).expect("IPv4 TCP/UDP");
        if payload(f).windows(needle.len()).any(|w| w == needle) {
            dropped.insert(key);
        }
        if !dropped.contains(&key) {
            out.push(f.clone());
        }
    }
    out
}

/// `osprey replay` of `frames` with `rules` and `args`; returns the stats and the EVE
/// records (and keeps the directory alive for the caller's files).
fn replay(
    dir: &Path,
    input: &[Vec<u8>],
    rules: &str,
    args: &[&str],
) -> (serde_json::Value, Vec<serde_json::Value>) {
    let pcap = dir.join("in.pcap");
    let refs: Vec<&[u8]> = input.iter().map(Vec::as_slice).collect();
    write_pcap(&pcap, ETHERNET, &refs);
    let rules_file = dir.join("t.rules");
    std::fs::write(&rules_file, rules).unwrap();
    let (stats, eve) = (dir.join("stats.json"), dir.join("eve.json"));
    let out = run(osprey()
        .args(["replay", "--flags", "checksum-off", "--pcap"])
        .arg(&pcap)
        .arg("--rules")
        .arg(&rules_file)
        .arg("--eve")
        .arg(&eve)
        .arg("--stats-json")
        .arg(&stats)
        .args(args));
    assert!(out.status.success(), "replay failed");
    (read_json(&stats), eve_records(&eve))
}

/// A counter summed over the workers of a `--stats-json`.
fn counter(stats: &serde_json::Value, name: &str) -> u64 {
    stats["per_worker"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            w["counters"][name]
                .as_u64()
                .unwrap_or_else(|| panic!("no {name}"))
        })
        .sum()
}

fn alerts(eve: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    eve.iter().filter(|r| r["event_type"] == "alert").collect()
}

#[test]
fn drop_rules_forward_exactly_the_input_minus_the_dropped_flows_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let input = mixed_capture();
    let out = dir.path().join("out.pcap");
    let rules = "drop tcp any any -> any any (msg:\"bad tcp\"; content:\"bad\"; sid:1;)\n\
                 drop udp any any -> any any (msg:\"bad udp\"; content:\"bad\"; sid:2;)\n";
    let (stats, eve) = replay(
        dir.path(),
        &input,
        rules,
        &["--inline-out", out.to_str().unwrap()],
    );
    let expected = expected_after_drops(&input, b"bad");
    assert!(expected.len() < input.len() && !expected.is_empty());
    assert_eq!(frames(&out), expected);
    let dropped = (input.len() - expected.len()) as u64;
    assert_eq!(counter(&stats, "inline.forwarded"), expected.len() as u64);
    assert_eq!(counter(&stats, "inline.dropped"), dropped);
    assert_eq!(counter(&stats, "verdict.flows_dropped"), 2);
    // The triggers raised the alerts; the rest of their flows went uninspected.
    assert_eq!(counter(&stats, "verdict.dropped_flow_packets"), dropped - 2);
    assert_eq!(counter(&stats, "tx.dropped"), 0);
    let a = alerts(&eve);
    assert_eq!(a.len(), 2, "{a:?}");
    assert!(a.iter().all(|r| r["alert"]["action"] == "blocked"), "{a:?}");
}

/// The demo capture with its rules turned into `drop`: what the box forwards is the input
/// minus every packet of an alerting flow from its first alert on (the alerts' packet
/// numbers and tuples say which).
#[test]
fn a_real_capture_loses_exactly_its_dropped_flows_from_their_first_alert() {
    let dir = tempfile::tempdir().unwrap();
    let rules = std::fs::read_to_string(sample("demo.rules"))
        .unwrap()
        .replace("\nalert ", "\ndrop ");
    let rules_file = dir.path().join("drop.rules");
    std::fs::write(&rules_file, rules).unwrap();
    let (out, eve, stats) = (
        dir.path().join("out.pcap"),
        dir.path().join("eve.json"),
        dir.path().join("stats.json"),
    );
    let pcap = sample("demo.pcap");
    let o = run(osprey()
        .args(["replay", "--pcap"])
        .arg(&pcap)
        .arg("--rules")
        .arg(&rules_file)
        .arg("--inline-out")
        .arg(&out)
        .arg("--eve")
        .arg(&eve)
        .arg("--stats-json")
        .arg(&stats));
    assert!(o.status.success());
    let input = frames(&pcap);
    let records = eve_records(&eve);
    let a = alerts(&records);
    assert!(!a.is_empty(), "the demo rules alert on the demo capture");
    // First alerting packet of each flow.
    let mut first: std::collections::HashMap<FlowKey, u64> = Default::default();
    for r in &a {
        assert_eq!(r["alert"]["action"], "blocked");
        let n = r["pcap_cnt"].as_u64().unwrap();
        let key = flow_key(&input[n as usize - 1]).unwrap();
        let e = first.entry(key).or_insert(n);
        *e = (*e).min(n);
    }
    let expected: Vec<Vec<u8>> = input
        .iter()
        .enumerate()
        .filter(|(i, f)| match flow_key(f).and_then(|k| first.get(&k)) {
            Some(&n) => (*i as u64 + 1) < n,
            None => true,
        })
        .map(|(_, f)| f.clone())
        .collect();
    assert!(expected.len() < input.len());
    assert_eq!(frames(&out), expected);
    let stats = read_json(&stats);
    assert_eq!(counter(&stats, "verdict.flows_dropped"), first.len() as u64);
}

/// `rejectboth` on TCP answers both sides with a RST right where the packet would have been;
/// `reject` on UDP answers the sender with an ICMP port unreachable quoting the packet.
#[test]
fn reject_writes_rsts_and_icmp_unreachables_in_place_of_the_packet() {
    let dir = tempfile::tempdir().unwrap();
    let input = mixed_capture();
    let out = dir.path().join("out.pcap");
    let rules = "rejectboth tcp any any -> any any (msg:\"bad tcp\"; content:\"bad\"; sid:1;)\n\
                 reject udp any any -> any any (msg:\"bad udp\"; content:\"bad\"; sid:2;)\n";
    let (stats, _) = replay(
        dir.path(),
        &input,
        rules,
        &["--inline-out", out.to_str().unwrap()],
    );
    assert_eq!(counter(&stats, "reject.rst"), 2);
    assert_eq!(counter(&stats, "reject.icmp"), 1);
    let written = frames(&out);
    let expected = expected_after_drops(&input, b"bad");
    assert_eq!(written.len(), expected.len() + 3);
    // Take the answers out: what remains is what `drop` forwards.
    let mut dec = Decoder::new(DecodeConfig::default()).unwrap();
    let mut answers = Vec::new();
    let mut forwarded = Vec::new();
    for (i, f) in written.iter().enumerate() {
        let p = dec.decode(LinkType::Ethernet, f, Timestamp(0));
        let rst = matches!(p.l4, L4::Tcp(t) if t.flags & 0x04 != 0);
        if rst || matches!(p.l4, L4::Icmpv4(_)) {
            assert_eq!(p.csum.l4, dataplane::decode::Csum::Ok, "answer {i}");
            answers.push((i, forwarded.len(), p.ip.unwrap(), p.l4));
        } else {
            forwarded.push(f.clone());
        }
    }
    assert_eq!(forwarded, expected);
    // Each answer stands where its trigger was: after the packets forwarded before it.
    let trigger = |proto: u8| {
        input
            .iter()
            .find(|f| f[23] == proto && payload(f).windows(3).any(|w| w == b"bad"))
            .unwrap()
            .clone()
    };
    let bad_tcp = trigger(6);
    let at = input.iter().position(|f| *f == bad_tcp).unwrap();
    let fwd_before = input[..at].iter().filter(|f| expected.contains(f)).count();
    let tcp_answers: Vec<_> = answers
        .iter()
        .filter(|a| matches!(a.3, L4::Tcp(_)))
        .collect();
    assert_eq!(tcp_answers.len(), 2);
    assert!(
        tcp_answers.iter().all(|a| a.1 == fwd_before),
        "{tcp_answers:?}"
    );
    // To the sender: from the server, acknowledging the bad segment; to the receiver: from
    // the client, continuing its sequence.
    let seq = u32::from_be_bytes(bad_tcp[38..42].try_into().unwrap());
    let ack = u32::from_be_bytes(bad_tcp[42..46].try_into().unwrap());
    let len = payload(&bad_tcp).len() as u32;
    let client: IpAddr = IpAddr::from([192, 0, 2, 2]);
    for a in &tcp_answers {
        let L4::Tcp(t) = a.3 else { unreachable!() };
        if a.2.dst == client {
            assert_eq!((t.seq, t.ack, t.dst_port), (ack, seq + len, 40002));
        } else {
            assert_eq!((t.seq, t.ack, t.src_port), (seq + len, ack, 40002));
        }
    }
    let icmp: Vec<_> = answers
        .iter()
        .filter(|a| matches!(a.3, L4::Icmpv4(_)))
        .collect();
    let L4::Icmpv4(m) = icmp[0].3 else {
        unreachable!()
    };
    assert_eq!((m.kind, m.code), (3, 3));
    assert_eq!(icmp[0].2.dst, IpAddr::from([192, 0, 2, 1]));
    let bad_udp = trigger(17);
    let f = &written[icmp[0].0];
    assert_eq!(&f[14 + 20 + 8..], &bad_udp[14..14 + 28], "the quote");
}

/// Without `--inline-out` the replay watches: nothing is forwarded or dropped, every packet
/// is inspected (both `bad` packets alert) and alerts say `allowed`.
#[test]
fn ids_mode_forwards_nothing_and_drops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = mixed_capture();
    let rules = "drop tcp any any -> any any (msg:\"bad tcp\"; content:\"bad\"; sid:1;)\n\
                 drop udp any any -> any any (msg:\"bad udp\"; content:\"bad\"; sid:2;)\n";
    let (stats, eve) = replay(dir.path(), &input, rules, &[]);
    for n in [
        "inline.forwarded",
        "inline.dropped",
        "verdict.blocked",
        "verdict.flows_dropped",
        "tx.packets",
    ] {
        assert_eq!(counter(&stats, n), 0, "{n}");
    }
    assert_eq!(
        counter(&stats, "capture.kernel_packets"),
        input.len() as u64
    );
    let a = alerts(&eve);
    assert_eq!(a.len(), 2);
    assert!(a.iter().all(|r| r["alert"]["action"] == "allowed"), "{a:?}");
}

/// `--inline-out` keeps the forwarded order of one worker: more are refused clearly.
#[test]
fn inline_out_with_several_workers_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(osprey()
        .args(["replay", "--workers", "2", "--pcap"])
        .arg(sample("demo.pcap"))
        .arg("--inline-out")
        .arg(dir.path().join("o.pcap")));
    assert!(!o.status.success());
    let e = common::one_error_line(&o);
    assert!(e.contains("one worker"), "{e}");
}

/// A peer whose Tx ring nobody drains (`net_ring`, 1,024 slots): the worker forwards until
/// the ring is full, then counts each burst that found it full and each packet it freed,
/// and keeps receiving to the end of the capture. Runs the data plane in this process (the
/// only test here that starts an EAL itself).
#[test]
fn a_tx_ring_that_stays_full_is_counted_and_the_worker_keeps_going() {
    use dataplane::runtime::{self, Plan, PlanRoute, PortPlan, WorkerPlan};
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("in.pcap");
    let n = 3000usize;
    let frames: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            udp(
                ([192, 0, 2, 1], 1000 + (i % 50) as u16),
                ([198, 51, 100, 2], 53),
                b"x",
            )
        })
        .collect();
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    write_pcap(&pcap, ETHERNET, &refs);
    let mut worker = dataplane::worker::WorkerConfig::default();
    worker.pipeline.decode.checksum_validation = false;
    let plan = Plan {
        eal: runtime::EalConfig::default(),
        ports: vec![
            PortPlan {
                name: "net_pcap0".into(),
                vdev: Some(format!("net_pcap0,rx_pcap={}", pcap.display())),
                rx_queues: 1,
                tx_queues: 1,
                filter: None,
            },
            PortPlan {
                name: "net_ring0".into(),
                vdev: Some("net_ring0".into()),
                rx_queues: 1,
                tx_queues: 1,
                filter: None,
            },
        ],
        workers: vec![WorkerPlan {
            queues: vec![(0, 0)],
            routes: vec![Some(PlanRoute { peer: 1, back: 1 })],
            expected_packets: Some(n as u64),
            wire: Default::default(),
            first_packet: Some(Timestamp::from_micros(1_700_000_000, 0)),
            pace: None,
        }],
        link_type: 1,
        mbufs: 8192,
        memory_mb: 256,
        monotonic_time: false,
        idle_timeout: Some(std::time::Duration::from_secs(5)),
        duration: None,
        stop: Default::default(),
        worker,
        export_flows: false,
        export_alerts: false,
        export_eve: false,
        attach: None,
    };
    let r = runtime::run(&plan, None, None, None, None).expect("run");
    let c = &r.per_worker[0].counters;
    assert_eq!(r.per_worker[0].packets, n as u64, "every packet received");
    assert_eq!(c["inline.forwarded"], n as u64);
    let (sent, dropped, full) = (c["tx.packets"], c["tx.dropped"], c["tx.full"]);
    assert_eq!(sent + dropped, n as u64);
    assert!(sent > 0 && sent < n as u64, "{sent}");
    assert!(dropped > 0);
    assert!(
        full >= dropped / 32,
        "{full} full bursts for {dropped} dropped"
    );
}

/// `osprey run` with an inline pair of two `net_pcap` ports forwards what `osprey replay
/// --inline-out` writes for the same capture and rules: side A replays the demo capture,
/// side B transmits into a file.
#[test]
fn osprey_run_forwards_between_an_inline_pair_as_the_replay_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rules = std::fs::read_to_string(sample("demo.rules"))
        .unwrap()
        .replace("\nalert ", "\ndrop ");
    let rules_file = d.join("drop.rules");
    std::fs::write(&rules_file, rules).unwrap();
    let pcap = sample("demo.pcap");
    let replayed = d.join("replayed.pcap");
    let o = run(osprey()
        .args(["replay", "--quiet", "--pcap"])
        .arg(&pcap)
        .arg("--rules")
        .arg(&rules_file)
        .arg("--inline-out")
        .arg(&replayed));
    assert!(o.status.success());
    let empty = d.join("empty.pcap");
    write_pcap(&empty, ETHERNET, &[]);
    let (out_a, out_b) = (d.join("a.pcap"), d.join("b.pcap"));
    let cfg = d.join("osprey.toml");
    std::fs::write(
        &cfg,
        format!(
            "[capture]\nmode = \"ports\"\nworkers = 1\n\
             [[capture.ports]]\ndevice = \"net_pcap0\"\nvdev = \"net_pcap0,rx_pcap={},tx_pcap={}\"\n\
             [[capture.ports]]\ndevice = \"net_pcap1\"\nvdev = \"net_pcap1,rx_pcap={},tx_pcap={}\"\n\
             [[capture.inline]]\nports = [\"net_pcap0\", \"net_pcap1\"]\n\
             [api]\nlisten = \"127.0.0.1:0\"\nallow_plaintext = true\n\
             [metrics]\nenabled = false\n\
             [storage]\npath = {:?}\n\
             [rules]\nfiles = [{rules_file:?}]\n",
            pcap.display(),
            out_a.display(),
            empty.display(),
            out_b.display(),
            d.join("db"),
        ),
    )
    .unwrap();
    let o = common::run_within(
        osprey().args(["run", "--seconds", "4", "-c"]).arg(&cfg),
        std::time::Duration::from_secs(120),
    );
    eprintln!(
        "run stdout:\n{}\nrun stderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "osprey run failed: {:?}", o.status);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("| forwarded ") && l.contains(" blocked ")),
        "the status line shows what was forwarded and blocked"
    );
    let forwarded = frames(&out_b);
    assert!(!forwarded.is_empty());
    assert_eq!(forwarded, frames(&replayed));
    assert!(frames(&out_a).is_empty(), "nothing came in on side B");
}

/// A policy or cause that does not exist is refused at the command line, naming the choices.
#[test]
fn unknown_exception_policies_are_refused_with_the_choices() {
    for (arg, says) in [
        ("flow-memcap=drop_it", "known: auto, ignore, pass-packet"),
        (
            "tcp-memcap=ignore",
            "known: flow-memcap, stream-memcap, defrag-memcap, app-layer-error",
        ),
    ] {
        let o = run(osprey()
            .args(["replay", "--pcap"])
            .arg(sample("demo.pcap"))
            .args(["--exception-policy", arg]));
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{err}");
    }
}

/// Text sent to port 53 is no DNS: an app-layer error on that flow. By default the box fails
/// open (everything forwarded, the exception counted); `app-layer-error=drop-flow` drops the
/// flow from its first packet on and nothing else.
#[test]
fn app_layer_errors_fail_open_by_default_and_close_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let input = mixed_capture();
    let out = dir.path().join("out.pcap");
    let rules = "alert tcp any any -> any any (msg:\"never\"; content:\"zzz-not-there\"; sid:1;)\n";
    let args = ["--inline-out", out.to_str().unwrap()];
    let (stats, _) = replay(dir.path(), &input, rules, &args);
    assert_eq!(frames(&out), input, "fail open");
    let errors = counter(&stats, "exception_policy.app_layer_error");
    assert!(errors >= 1);
    let closed = [
        &args[..],
        &["--exception-policy", "app-layer-error=drop-flow"],
    ]
    .concat();
    let (stats, _) = replay(dir.path(), &input, rules, &closed);
    let is_dns = |f: &Vec<u8>| flow_key(f).is_some_and(|(p, _)| p == 17);
    let expected: Vec<Vec<u8>> = input.iter().filter(|f| !is_dns(f)).cloned().collect();
    assert_eq!(frames(&out), expected);
    assert_eq!(counter(&stats, "verdict.flows_dropped"), 1);
    assert_eq!(counter(&stats, "exception_policy.app_layer_error"), 1);
}

/// What an inline box forwards when every TCP packet carrying data is dropped (`flow`: with
/// the rest of its flow from there on).
fn expected_after_tcp_data_drops(input: &[Vec<u8>], flow: bool) -> Vec<Vec<u8>> {
    let mut dropped: HashSet<FlowKey> = HashSet::new();
    let mut out = Vec::new();
    for f in input {
        let key = flow_key(f).expect("IPv4 TCP/UDP");
        let data = key.0 == 6 && !payload(f).is_empty();
        if data && flow {
            dropped.insert(key);
        }
        if !dropped.contains(&key) && !data {
            out.push(f.clone());
        }
    }
    out
}

/// A reassembly memcap that holds nothing: every TCP segment with data is the
/// `stream-memcap` exception. Failing open forwards everything and counts each; `drop-packet`
/// drops those segments only; `drop-flow` their flows from there on; `bypass` forwards
/// everything and bypasses the flows (their later packets counted, not inspected).
#[test]
fn stream_memcap_exceptions_forward_or_drop_as_configured() {
    let dir = tempfile::tempdir().unwrap();
    let input = mixed_capture();
    let out = dir.path().join("out.pcap");
    let rules = "alert tcp any any -> any any (msg:\"never\"; content:\"zzz-not-there\"; sid:1;)\n";
    let tcp_data = input
        .iter()
        .filter(|f| flow_key(f).unwrap().0 == 6 && !payload(f).is_empty())
        .count() as u64;
    let tcp_flows_with_data = 3;
    let run = |policy: &str| {
        let args = [
            "--inline-out",
            out.to_str().unwrap(),
            "--stream-memcap",
            "0",
            "--exception-policy",
            policy,
        ];
        let (stats, eve) = replay(dir.path(), &input, rules, &args);
        (stats, eve, frames(&out))
    };
    let (stats, _, forwarded) = run("stream-memcap=ignore");
    assert_eq!(forwarded, input, "fail open");
    assert_eq!(counter(&stats, "tcp.segment_memcap_drop"), tcp_data);
    assert_eq!(counter(&stats, "exception_policy.stream_memcap"), tcp_data);
    assert_eq!(
        counter(&stats, "exception_policy.stream_memcap.ignore"),
        tcp_data
    );

    let (stats, _, forwarded) = run("stream-memcap=drop-packet");
    assert_eq!(forwarded, expected_after_tcp_data_drops(&input, false));
    assert_eq!(
        counter(&stats, "exception_policy.stream_memcap.drop_packet"),
        tcp_data
    );
    assert_eq!(counter(&stats, "verdict.flows_dropped"), 0);

    let (stats, _, forwarded) = run("stream-memcap=drop-flow");
    assert_eq!(forwarded, expected_after_tcp_data_drops(&input, true));
    assert_eq!(
        counter(&stats, "verdict.flows_dropped"),
        tcp_flows_with_data
    );
    // Only each flow's first data packet meets the memcap: the rest are dropped with it.
    assert_eq!(
        counter(&stats, "exception_policy.stream_memcap.drop_flow"),
        tcp_flows_with_data
    );

    let (stats, eve, forwarded) = run("stream-memcap=bypass");
    assert_eq!(forwarded, input);
    assert_eq!(counter(&stats, "flow.bypassed"), tcp_flows_with_data);
    assert_eq!(
        counter(&stats, "exception_policy.stream_memcap.bypass"),
        tcp_flows_with_data
    );
    // Every TCP packet after a flow's first data packet.
    let after_first_data: u64 = {
        let mut bypassed: HashSet<FlowKey> = HashSet::new();
        let mut n = 0;
        for f in &input {
            let key = flow_key(f).unwrap();
            if bypassed.contains(&key) {
                n += 1;
            } else if key.0 == 6 && !payload(f).is_empty() {
                bypassed.insert(key);
            }
        }
        n
    };
    assert_eq!(counter(&stats, "flow.bypassed_packets"), after_first_data);
    let bypass_records = eve
        .iter()
        .filter(|r| r["event_type"] == "flow" && r["flow"]["bypass"] == "local")
        .count() as u64;
    assert_eq!(bypass_records, tcp_flows_with_data);
    // In IDS mode the drops are ignored: nothing changes but the count.
    let ids = replay(
        dir.path(),
        &input,
        rules,
        &["--stream-memcap", "0", "--exception-policy", "drop-flow"],
    )
    .0;
    assert_eq!(
        counter(&ids, "exception_policy.stream_memcap.ignore"),
        tcp_data
    );
    assert_eq!(counter(&ids, "verdict.blocked"), 0);
}

/// Ethernet + IPv4 fragment (`c` → `s`, UDP) of datagram `id`: `data` at `offset` (a
/// multiple of 8), more fragments to come or not.
fn ipv4_fragment(
    c: [u8; 4],
    s: [u8; 4],
    id: u16,
    offset: usize,
    more: bool,
    data: &[u8],
) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let flags_off = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
    let mut ip = vec![0x45, 0, 0, 0];
    ip[2..4].copy_from_slice(&((20 + data.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&id.to_be_bytes());
    ip.extend_from_slice(&flags_off.to_be_bytes());
    ip.extend_from_slice(&[64, 17, 0, 0]);
    ip.extend_from_slice(&c);
    ip.extend_from_slice(&s);
    f.extend_from_slice(&ip);
    f.extend_from_slice(data);
    f
}

/// Data bytes of each fragment of [`fragmented_capture`].
const FRAGMENT_DATA: usize = 1400;

/// First fragments (more to come, never sent) of 50 UDP datagrams, between two whole UDP
/// packets: each fragment stays buffered, so a small defrag memcap runs out part-way.
fn fragmented_capture() -> Vec<Vec<u8>> {
    let (c, s) = ([192, 0, 2, 7], [198, 51, 100, 7]);
    let mut v = vec![udp((c, 5000), (s, 6000), b"whole before")];
    for id in 1..=50u16 {
        let mut first = Vec::new();
        first.extend_from_slice(&5000u16.to_be_bytes());
        first.extend_from_slice(&6000u16.to_be_bytes());
        first.extend_from_slice(&3000u16.to_be_bytes());
        first.extend_from_slice(&[0, 0]);
        first.resize(FRAGMENT_DATA, b'f');
        v.push(ipv4_fragment(c, s, id, 0, true, &first));
    }
    v.push(udp((c, 5000), (s, 6000), b"whole after"));
    v
}

/// The smallest defrag memcap (64 KiB) holds a few dozen buffered fragments: the rest are
/// refused, the `defrag-memcap` exception. Failing open forwards every fragment;
/// `drop-packet` (and `drop-flow`, there being no flow) drops the refused ones and nothing
/// else. With the default memcap no fragment is refused.
#[test]
fn defrag_memcap_exceptions_forward_or_drop_the_fragments() {
    use dataplane::decode::defrag::BLOCK_SIZE;
    let dir = tempfile::tempdir().unwrap();
    let input = fragmented_capture();
    let out = dir.path().join("out.pcap");
    let rules = "alert udp any any -> any any (msg:\"never\"; content:\"zzz-not-there\"; sid:1;)\n";
    let is_fragment = |f: &Vec<u8>| f[20..22] != [0, 0];
    let fragments = input.iter().filter(|f| is_fragment(f)).count();
    // Each fragment takes whole blocks of the pool; the memcap holds this many.
    let held = 65_536 / BLOCK_SIZE / FRAGMENT_DATA.div_ceil(BLOCK_SIZE);
    let refused = (fragments - held) as u64;
    assert!(refused > 0 && held > 0);
    let run = |extra: &[&str]| {
        let args = [&["--inline-out", out.to_str().unwrap()][..], extra].concat();
        let (stats, _) = replay(dir.path(), &input, rules, &args);
        (stats, frames(&out))
    };
    let (stats, forwarded) = run(&[]);
    assert_eq!(forwarded, input);
    assert_eq!(counter(&stats, "exception_policy.defrag_memcap"), 0);

    let (stats, forwarded) = run(&["--defrag-memcap", "65536"]);
    assert_eq!(forwarded, input, "fail open");
    assert_eq!(counter(&stats, "defrag.memcap_exceeded"), refused);
    assert_eq!(
        counter(&stats, "exception_policy.defrag_memcap.ignore"),
        refused
    );

    // The fragments that came once the pool was full are dropped.
    let mut kept = 0;
    let expected: Vec<Vec<u8>> = input
        .iter()
        .filter(|f| {
            if !is_fragment(f) {
                return true;
            }
            kept += 1;
            kept <= held
        })
        .cloned()
        .collect();
    for policy in ["drop-packet", "drop-flow"] {
        let p = format!("defrag-memcap={policy}");
        let (stats, forwarded) = run(&["--defrag-memcap", "65536", "--exception-policy", &p]);
        assert_eq!(forwarded, expected, "{policy}");
        let applied = format!(
            "exception_policy.defrag_memcap.{}",
            policy.replace('-', "_")
        );
        assert_eq!(counter(&stats, &applied), refused, "{policy}");
        assert_eq!(counter(&stats, "verdict.blocked"), refused, "{policy}");
    }
}

/// A rule with `bypass` matching a flow's first data packet bypasses the flow: it alerts,
/// and a `drop` rule that matches the flow's later data neither alerts nor drops; the flow's
/// later packets are counted as bypassed and forwarded. Other flows are still inspected.
#[test]
fn a_bypass_rule_forwards_the_rest_of_its_flow_uninspected() {
    let dir = tempfile::tempdir().unwrap();
    let input = mixed_capture();
    let out = dir.path().join("out.pcap");
    let rules = "alert tcp any any -> any any (msg:\"hello\"; content:\"hello\"; bypass; sid:1;)\n\
                 drop tcp any any -> any any (msg:\"bad tcp\"; content:\"bad\"; sid:2;)\n\
                 drop udp any any -> any any (msg:\"bad udp\"; content:\"bad\"; sid:3;)\n";
    let (stats, eve) = replay(
        dir.path(),
        &input,
        rules,
        &["--inline-out", out.to_str().unwrap()],
    );
    // Only the UDP flow is dropped; the TCP flow that says hello is bypassed first.
    let is_udp = |f: &Vec<u8>| flow_key(f).is_some_and(|(p, _)| p == 17);
    let udp: Vec<Vec<u8>> = input.iter().filter(|f| is_udp(f)).cloned().collect();
    let expected_udp = expected_after_drops(&udp, b"bad");
    let expected: Vec<Vec<u8>> = input
        .iter()
        .filter(|f| !is_udp(f) || expected_udp.contains(f))
        .cloned()
        .collect();
    assert_eq!(frames(&out), expected);
    let mut sids: Vec<u64> = alerts(&eve)
        .iter()
        .map(|a| a["alert"]["signature_id"].as_u64().unwrap())
        .collect();
    sids.sort();
    assert_eq!(sids, [1, 3]);
    let hello = input
        .iter()
        .find(|f| payload(f) == b"hello")
        .and_then(|f| flow_key(f))
        .unwrap();
    let at = input.iter().position(|f| payload(f) == b"hello").unwrap();
    let later = input[at + 1..]
        .iter()
        .filter(|f| flow_key(f) == Some(hello))
        .count() as u64;
    assert_eq!(counter(&stats, "detect.bypass"), 1);
    assert_eq!(counter(&stats, "flow.bypassed"), 1);
    assert_eq!(counter(&stats, "flow.bypassed_packets"), later);
    let bytes: u64 = input[at + 1..]
        .iter()
        .filter(|f| flow_key(f) == Some(hello))
        .map(|f| f.len() as u64)
        .sum();
    assert_eq!(counter(&stats, "flow.bypassed_bytes"), bytes);
    let bypassed: Vec<_> = eve
        .iter()
        .filter(|r| r["event_type"] == "flow" && r["flow"]["bypass"] == "local")
        .collect();
    assert_eq!(bypassed.len(), 1);
    assert_eq!(bypassed[0]["src_port"], 40002);
}

/// One long TCP transfer: the client sends `segments` segments of 1,000 bytes, each
/// acknowledged; `early-marker` is in the first, `late-marker` in the last.
fn long_transfer(segments: u32) -> Vec<Vec<u8>> {
    let c = ([192, 0, 2, 9], 40009);
    let s = ([198, 51, 100, 9], 8080);
    let chunks: Vec<Vec<u8>> = (0..segments)
        .map(|i| {
            let mut d = vec![b'.'; 1000];
            let tag: &[u8] = match i {
                0 => b"early-marker",
                i if i + 1 == segments => b"late-marker",
                _ => b"",
            };
            d[200..200 + tag.len()].copy_from_slice(tag);
            d
        })
        .collect();
    let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
    tcp_flow(c, s, &refs)
}

/// `--stream-bypass`: once the client's stream was reassembled up to the depth, the flow is
/// bypassed. The early marker alerts, the late one (past the depth, in a packet of its own)
/// does not, and every packet after the server acknowledged the depth is bypassed. Without
/// the bypass, packet inspection still finds the late marker.
#[test]
fn flows_past_the_reassembly_depth_are_bypassed() {
    let dir = tempfile::tempdir().unwrap();
    let input = long_transfer(200);
    let depth = 65_536u32;
    let rules = "alert tcp any any -> any any (msg:\"early\"; content:\"early-marker\"; sid:1;)\n\
                 alert tcp any any -> any any (msg:\"late\"; content:\"late-marker\"; sid:2;)\n";
    let sids = |eve: &[serde_json::Value]| {
        let mut v: Vec<u64> = alerts(eve)
            .iter()
            .map(|a| a["alert"]["signature_id"].as_u64().unwrap())
            .collect();
        v.sort();
        v
    };
    let depth_arg = depth.to_string();
    let (stats, eve) = replay(
        dir.path(),
        &input,
        rules,
        &["--stream-depth", &depth_arg, "--stream-bypass"],
    );
    assert_eq!(sids(&eve), [1]);
    // IDS reassembly hands data on once acknowledged: the server's ACK of the depth's last
    // byte ends the stream, and the flow is bypassed from the next packet on. The client's
    // first sequence number is 1001 (see `tcp_flow`).
    let ack_of = |f: &Vec<u8>| u32::from_be_bytes([f[42], f[43], f[44], f[45]]);
    let from_server = |f: &Vec<u8>| f[34..36] == 8080u16.to_be_bytes();
    let at = input
        .iter()
        .position(|f| from_server(f) && ack_of(f).wrapping_sub(1001) >= depth)
        .unwrap();
    let later = (input.len() - at - 1) as u64;
    assert_eq!(counter(&stats, "flow.bypassed_depth"), 1);
    assert_eq!(counter(&stats, "flow.bypassed_packets"), later);
    let flow = eve.iter().find(|r| r["event_type"] == "flow").unwrap();
    assert_eq!(flow["flow"]["bypass"], "local");
    assert_eq!(
        flow["flow"]["pkts_toserver"].as_u64().unwrap()
            + flow["flow"]["pkts_toclient"].as_u64().unwrap(),
        input.len() as u64
    );

    let (stats, eve) = replay(dir.path(), &input, rules, &["--stream-depth", &depth_arg]);
    assert_eq!(sids(&eve), [1, 2]);
    assert_eq!(counter(&stats, "flow.bypassed"), 0);
    let flow = eve.iter().find(|r| r["event_type"] == "flow").unwrap();
    assert!(flow["flow"].get("bypass").is_none());
}
