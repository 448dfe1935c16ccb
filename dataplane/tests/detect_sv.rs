//! Per-packet suricata-verify cases run through the decoder and the detector, compared with
//! the expected alert counts of their `test.yaml` (from `../shared/data/suricata-verify`, the
//! OISF suite; nothing copied). Only tests whose checks are plain per-sid alert counts and
//! that need no flow or app layer are run; a tiny 5-tuple tracker stands in for the flow
//! table (direction by first packet, established after traffic both ways).

use dataplane::decode::{DecodeConfig, Decoder, LinkType};
use dataplane::detect::{DetectConfig, Detector, FlowDetectState, PacketView};
use dataplane::time::Timestamp;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vocab::Direction;

fn sv_root() -> PathBuf {
    vocab::testing::shared_data_root().join("suricata-verify/tests")
}

/// `(sid, count)` checks; `None` when the yaml has checks this harness cannot evaluate.
/// `alert.signature: msg` is mapped to the sid through `msgs`.
fn checks(yaml: &str, msgs: &HashMap<String, u32>) -> Option<Vec<(u32, usize)>> {
    let body = yaml.split("checks:").nth(1)?;
    let mut out = Vec::new();
    for f in body.split("filter:").skip(1) {
        let mut count = None;
        let mut sid = None;
        for line in f.lines() {
            let l = line.trim();
            if let Some(v) = l.strip_prefix("count:") {
                count = v.trim().parse::<usize>().ok();
            } else if let Some(v) = l.strip_prefix("alert.signature_id:") {
                sid = v.trim().parse::<u32>().ok();
            } else if let Some(v) = l.strip_prefix("alert.signature:") {
                sid = msgs.get(v.trim().trim_matches('"')).copied();
            } else if l == "event_type: alert"
                || l == "match:"
                || l.is_empty()
                || l.starts_with('-')
                || l.starts_with('#')
            {
            } else {
                return None;
            }
        }
        // No sid: the count of every alert (sid 0 stands for it).
        out.push((sid.unwrap_or(0), count?));
    }
    (!out.is_empty()).then_some(out)
}

fn pcap_of(dir: &Path, yaml: &str) -> Option<PathBuf> {
    for l in yaml.lines() {
        if let Some(p) = l.strip_prefix("pcap:") {
            return Some(dir.join(p.trim()));
        }
    }
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "pcap"))
}

type Key = (std::net::IpAddr, u16, std::net::IpAddr, u16, u8);

/// Runs one test; returns (expected, got) per checked sid.
fn run_case(name: &str) -> Option<Vec<(u32, usize, usize)>> {
    let dir = sv_root().join(name);
    let yaml = std::fs::read_to_string(dir.join("test.yaml")).ok()?;
    let mut loader = rules::Loader::new(rules::LoadOptions::default());
    loader.add_file(&dir.join("test.rules")).ok()?;
    let rs = loader.finish();
    let msgs = rs
        .rules
        .iter()
        .map(|r| (r.ir.meta.msg.clone(), r.ir.sid))
        .collect();
    let checks = checks(&yaml, &msgs)?;
    let pcap = pcap_of(&dir, &yaml)?;
    let engine = Arc::new(rules::Engine::compile(&rs.rules, &Default::default()).ok()?);
    let mut det = Detector::new(engine, DetectConfig::default()).ok()?;
    let mut dec = Decoder::new(DecodeConfig {
        checksum_validation: false,
        ..DecodeConfig::default()
    })
    .ok()?;
    let mut reader = pcap_file::pcap::PcapReader::new(std::fs::File::open(&pcap).ok()?).ok()?;
    let link = LinkType::try_from(u32::from(reader.header().datalink)).ok()?;
    let mut flows: HashMap<Key, (FlowDetectState, [bool; 2])> = HashMap::new();
    let mut got: HashMap<u32, usize> = HashMap::new();
    while let Some(Ok(pkt)) = reader.next_packet() {
        let now = Timestamp(pkt.timestamp.as_nanos() as u64);
        let p = dec.decode(link, &pkt.data, now);
        let mut view = PacketView::stateless(&p);
        let flow = p.ip.map(|ip| {
            let (sp, dp) = p.ports();
            let k: Key = (ip.src, sp, ip.dst, dp, ip.proto);
            let rev: Key = (ip.dst, dp, ip.src, sp, ip.proto);
            if flows.contains_key(&rev) {
                (rev, Direction::ToClient)
            } else {
                (k, Direction::ToServer)
            }
        });
        let state = match flow {
            Some((k, d)) => {
                let e = flows.entry(k).or_default();
                e.1[usize::from(d == Direction::ToClient)] = true;
                view.dir = Some(d);
                view.established = e.1[0] && e.1[1];
                Some(&mut e.0)
            }
            None => None,
        };
        det.inspect_packet(&view, state, now, &mut |a| {
            *got.entry(a.sid).or_default() += 1
        });
        det.end_burst();
    }
    Some(
        checks
            .into_iter()
            .map(|(sid, want)| {
                let n = if sid == 0 {
                    got.values().sum()
                } else {
                    got.get(&sid).copied().unwrap_or(0)
                };
                (sid, want, n)
            })
            .collect(),
    )
}

#[test]
fn per_packet_cases() {
    if vocab::testing::material(sv_root()).is_none() {
        return;
    }
    // Per-packet groups of the subset: header-only, decoder events, IP-only, ICMP/UDP content,
    // byte ops, thresholds.
    let list = std::fs::read_to_string(sv_root().join("../subset.txt")).unwrap_or_default();
    let from_list: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let cases = [
        "detect-itype",
        "detect-bytetest-01",
        "detect-bytejump-01",
        "byte-extract-01",
        "ipv6-evasion/ipv6-rsmurf",
        "threshold/detection_filter-rule-hostsrc",
        "ipv4-truncated",
        "iponly-midstream-01",
        "detect-icmp-id-01",
        "bug-5633-gre-01",
        "issue-8031-01-isdataat",
        "ipv6-evasion/ipv6-malformed-fragments-2",
        "ipv6-evasion/ipv6-covert-dstopts",
    ];
    let mut passed = Vec::new();
    let mut failed = Vec::new();
    let mut all: Vec<&str> = cases.to_vec();
    all.extend(from_list.iter().filter(|c| !cases.contains(c)));
    for c in all {
        match run_case(c) {
            Some(res) if res.iter().all(|(_, w, g)| w == g) => passed.push(c),
            Some(res) => failed.push(format!("{c}: {res:?}")),
            None => println!("skipped {c} (no simple checks or material)"),
        }
    }
    println!("passed {}: {passed:?}", passed.len());
    println!("failed {}: {failed:#?}", failed.len());
    // The named per-packet cases must all pass; the rest of the subset needs flows, streams
    // and app-layer parsers and is reported only.
    for c in cases {
        assert!(passed.contains(&c) || run_case(c).is_none(), "{c} failed");
    }
    // Floor: raise as more cases pass.
    assert!(passed.len() >= FLOOR, "only {} passed", passed.len());
}

const FLOOR: usize = 39;

/// Diagnosis aid (run with `--ignored --nocapture`): which ET Open rules are verified most
/// often on the first packets of public_mix.pcap.
#[test]
#[ignore]
fn et_open_candidate_profile() {
    let Some(et_open) = vocab::testing::shared_data("et-open") else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(et_open)
        .expect("et-open reads")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.retain(|p| p.extension().is_some_and(|x| x == "rules"));
    files.sort();
    let rs = rules::load_files(&files, rules::LoadOptions::default()).expect("load");
    let opts = rules::CompileOptions {
        cache_dir: Some(std::env::temp_dir().join("osprey-hscache")),
        threads: 1,
        ..Default::default()
    };
    let e = rules::Engine::compile(&rs.rules, &opts).expect("compile");
    let mut always: HashMap<u32, usize> = HashMap::new();
    for g in &e.groups {
        for &r in &g.always {
            *always.entry(r).or_default() += 1;
        }
    }
    let mut by_proto: HashMap<String, usize> = HashMap::new();
    for r in always.keys() {
        let ir = &e.rules[*r as usize];
        let k = format!(
            "{:?} lists={} flowbits={:?} header={} app={} flow={:?}",
            ir.proto,
            ir.lists.len(),
            ir.flowbits.iter().map(|f| f.cmd).collect::<Vec<_>>(),
            ir.header.len(),
            ir.app.len(),
            ir.flow.map(|f| f.dir),
        );
        *by_proto.entry(k).or_default() += 1;
    }
    let mut v: Vec<_> = by_proto.into_iter().collect();
    v.sort_by_key(|x| std::cmp::Reverse(x.1));
    // Payload literals selecting the most rules: each hit makes all of them candidates.
    let mut lits: Vec<(usize, String)> = e
        .groups
        .iter()
        .flat_map(|g| g.buffers_of(rules::ir::Buffer::Payload))
        .flat_map(|b| {
            b.literals
                .iter()
                .zip(&b.rules_of)
                .map(|(l, r)| (r.len(), String::from_utf8_lossy(&l.bytes).into_owned()))
        })
        .collect();
    lits.sort_by_key(|x| std::cmp::Reverse(x.0));
    for (n, l) in lits.iter().take(10) {
        println!("literal {l:?}: {n} rules");
    }
    println!("always rules: {}", always.len());
    for (k, n) in v.iter().take(15) {
        println!("{n:6} {k}");
    }
}
