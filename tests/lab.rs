//! The labelled traffic lab (`tests/lab/`, see its README): a short scenario run for real in
//! network namespaces, an interrupted one, and the committed captures, each checked against
//! Osprey's own reading of the capture.
//!
//! The lab needs root, the Debian tools `deploy/install-deps.sh` installs and the project's
//! `.venv` with `dpkt`. Where any is missing the tests say so and check nothing, except under
//! `CI` (`vocab::testing`), where they fail naming what is missing.
//!
//! Every flow Osprey reports (`osprey replay --eve`, `flow` records) must have exactly one
//! row in `labels.csv` with the same protocol, initiator and responder (ports 0 for ICMP),
//! and the other way round. [`TOLERANCE`] allows a few mismatches for flows cut by the
//! capture's ends (a TCP session whose first packets fell before the capture started is seen
//! midstream, and either reading may place its initiator differently).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{
    eve_records, osprey, read_json, root, run, run_within, signal, stdout_lines, wait_within,
};
use vocab::testing::{in_ci, material};

/// Mismatched flows allowed between Osprey's flows and the labels: 2 plus 0.5% of the flows.
const TOLERANCE: (usize, f64) = (2, 0.005);

const BENIGN: [&str; 5] = ["browse", "dns", "ssh", "bulk", "ftp"];
const MALICIOUS: [&str; 6] = [
    "scan",
    "flood",
    "slowloris",
    "bruteforce",
    "dns_tunnel",
    "beacon",
];

/// The lab's runner with the project's Python, when this machine can run it (root, the
/// tools, `dpkt`); `None` with a note otherwise, a panic under `CI`.
fn lab() -> Option<Command> {
    let py = material(root().join(".venv/bin/python"))?;
    let script = root().join("tests/lab/lab.py");
    let check = Command::new(&py)
        .arg(&script)
        .arg("check")
        .output()
        .unwrap();
    if !check.status.success() {
        let why = String::from_utf8_lossy(&check.stderr);
        assert!(!in_ci(), "the traffic lab cannot run under CI: {why}");
        eprintln!(
            "note: the traffic lab cannot run here ({}); this test checked nothing",
            why.trim()
        );
        return None;
    }
    let mut cmd = Command::new(py);
    cmd.arg(script);
    Some(cmd)
}

/// A run id unique to this test process and `what` (namespace names stay short).
fn run_id(what: &str) -> String {
    format!("t{}{what}", std::process::id() % 100_000)
}

/// What a run left on the machine: namespaces or links named after it, processes whose
/// command line names it, its work directory.
fn leftovers(run_id: &str) -> Vec<String> {
    let prefix = format!("olab{run_id}");
    let mut found = Vec::new();
    let ip = |args: &[&str]| {
        let o = Command::new("ip").args(args).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    for line in ip(&["netns", "list"])
        .lines()
        .chain(ip(&["-o", "link"]).lines())
    {
        if line.contains(&prefix) {
            found.push(line.to_string());
        }
    }
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&prefix) {
            found.push(format!(
                "process {}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    for entry in std::fs::read_dir(std::env::temp_dir()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("{prefix}-")) {
            found.push(format!("work directory {}", entry.path().display()));
        }
    }
    found
}

/// A flow as both readings name it: protocol, initiator address and port, responder address
/// and port.
type FlowKey = (String, String, u16, String, u16);

/// The rows of `labels.csv`: flow key → (label, family) of each row with that key.
fn labels(path: &Path) -> BTreeMap<FlowKey, Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("proto,src_ip,src_port,dst_ip,dst_port,first_ts,label,family")
    );
    let mut rows: BTreeMap<FlowKey, Vec<(String, String)>> = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 8, "{line}");
        let ts: f64 = f[5].parse().unwrap_or_else(|_| panic!("first_ts: {line}"));
        assert!(
            ts > 0.0 && f[5].split('.').nth(1).map(str::len) == Some(6),
            "{line}"
        );
        let key = (
            f[0].to_string(),
            f[1].to_string(),
            f[2].parse().unwrap(),
            f[3].to_string(),
            f[4].parse().unwrap(),
        );
        rows.entry(key)
            .or_default()
            .push((f[6].to_string(), f[7].to_string()));
    }
    rows
}

/// Osprey's flows of `pcap`: flow key → how many; asserts that the replay succeeded without
/// any anomaly of `anomalies` (Osprey's `--anomaly-types`) and returns its stats too.
fn osprey_flows(
    pcap: &Path,
    dir: &Path,
    anomalies: &str,
) -> (BTreeMap<FlowKey, usize>, serde_json::Value) {
    let eve = dir.join("eve.json");
    let stats = dir.join("stats.json");
    let out = run(osprey()
        .args(["replay", "--pcap"])
        .arg(pcap)
        .args([
            "--eve-types",
            "flow,anomaly",
            "--anomaly-types",
            anomalies,
            "--eve",
        ])
        .arg(&eve)
        .arg("--stats-json")
        .arg(&stats));
    assert!(out.status.success(), "osprey replay failed");
    let mut flows = BTreeMap::new();
    for r in eve_records(&eve) {
        assert_eq!(
            r["event_type"], "flow",
            "an anomaly ({anomalies}) in a lab capture: {r}"
        );
        let proto = match r["proto"].as_str().unwrap() {
            "TCP" => "tcp",
            "UDP" => "udp",
            "ICMP" => "icmp",
            "IPv6-ICMP" => "icmp6",
            other => panic!("a flow of protocol {other} in a lab capture: {r}"),
        };
        let port = |f: &str| r[f].as_u64().unwrap_or(0) as u16;
        let key = (
            proto.to_string(),
            r["src_ip"].as_str().unwrap().to_string(),
            port("src_port"),
            r["dest_ip"].as_str().unwrap().to_string(),
            port("dest_port"),
        );
        *flows.entry(key).or_insert(0) += 1;
    }
    (flows, read_json(&stats))
}

/// Whether `ip` lies in 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 or 2001:db8::/32.
fn documentation(ip: &str) -> bool {
    match ip.parse::<std::net::IpAddr>().unwrap() {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            matches!(o[..3], [192, 0, 2] | [198, 51, 100] | [203, 0, 113])
        }
        std::net::IpAddr::V6(v6) => v6.segments()[..2] == [0x2001, 0x0db8],
    }
}

/// Checks a lab output directory: every family present with the right label, only
/// documentation addresses, no anomaly of `anomalies`, and Osprey's flows against the labels
/// within [`TOLERANCE`].
fn check_capture(dir: &Path, scratch: &Path, anomalies: &str) {
    let pcap = dir.join("capture.pcap");
    let rows = labels(&dir.join("labels.csv"));
    let families: BTreeSet<&str> = rows.values().flatten().map(|(_, f)| f.as_str()).collect();
    for (label, set) in [("benign", &BENIGN[..]), ("malicious", &MALICIOUS[..])] {
        for fam in set {
            assert!(families.contains(fam), "no {fam} flow in {}", dir.display());
        }
        for (l, f) in rows.values().flatten() {
            assert!(
                set.contains(&f.as_str()) == (l == label),
                "family {f} labelled {l}"
            );
        }
    }
    let (flows, stats) = osprey_flows(&pcap, scratch, anomalies);
    for (proto, src, _, dst, _) in flows.keys() {
        assert!(
            documentation(src) && documentation(dst),
            "{proto} {src} -> {dst} is not between documentation addresses"
        );
    }
    let counters = &stats["per_worker"][0]["counters"];
    for sum in ["tcp_bad", "udp_bad", "ipv4_bad", "icmpv4_bad", "icmpv6_bad"] {
        let n = counters["decoder"]["csum"][sum].as_u64().unwrap_or(0);
        assert_eq!(
            n, 0,
            "decoder.csum.{sum}: the lab writes frames with checksums"
        );
    }
    let labelled: usize = rows.values().map(Vec::len).sum();
    let seen: usize = flows.values().sum();
    let mut mismatched = 0;
    for key in rows.keys().chain(flows.keys()).collect::<BTreeSet<_>>() {
        let a = rows.get(key).map_or(0, Vec::len);
        let b = flows.get(key).copied().unwrap_or(0);
        if a != b {
            eprintln!("mismatch: {key:?}: {a} labelled, {b} in osprey's flows");
            mismatched += a.abs_diff(b);
        }
    }
    let allowed = TOLERANCE.0 + (TOLERANCE.1 * labelled as f64) as usize;
    eprintln!("{}: {labelled} labelled flows, {seen} osprey flows, {mismatched} mismatched (allowed {allowed})", dir.display());
    assert!(
        mismatched <= allowed,
        "{mismatched} flows differ (allowed {allowed})"
    );
}

/// Runs the lab's audit of `pcap`: every address in it is a documentation address and every
/// frame is IP or ARP.
fn audit(lab: &mut Command, pcap: &Path) -> Output {
    let out = run(lab.args(["audit", "--pcap"]).arg(pcap));
    assert!(out.status.success(), "audit of {}", pcap.display());
    out
}

#[test]
fn a_short_scenario_is_labelled_and_leaves_nothing_behind() {
    let Some(mut lab) = lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let id = run_id("s");
    lab.args(["run", "--out"])
        .arg(&out)
        .args([
            "--run-id",
            &id,
            "--seed",
            "7",
            "--duration",
            "40",
            "--think",
            "1",
        ])
        .args([
            "--flood-packets",
            "300",
            "--scan-ports",
            "40",
            "--beacon-interval",
            "3",
        ]);
    let o = run_within(&mut lab, Duration::from_secs(150));
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "the lab run failed");
    assert_eq!(
        leftovers(&id),
        Vec::<String>::new(),
        "the run left these behind"
    );
    audit(&mut self::lab().unwrap(), &out.join("capture.pcap"));
    // A fresh capture: its frames are well formed (a session cut by the scenario's end may
    // leave stream or app-layer events).
    check_capture(&out, dir.path(), "decode");
    let manifest = read_json(&out.join("lab.json"));
    assert_eq!(manifest["seed"], 7);
    assert_eq!(manifest["capture"]["dropped_by_kernel"], 0, "{manifest}");
}

/// Starts a 60-second run named `id` writing into `out`, and returns it once it captures,
/// with its servers, clients and first attacks running.
fn start_run(mut lab: Command, id: &str, out: &Path) -> Child {
    lab.args(["run", "--out"])
        .arg(out)
        .args(["--run-id", id, "--duration", "60"]);
    let mut child = lab
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stdout_lines(&mut child);
    let started = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("the lab did not start capturing");
    assert!(started.contains("capturing"), "{started}");
    std::thread::sleep(Duration::from_secs(8));
    assert!(
        !leftovers(id).is_empty(),
        "a running lab shows its namespaces"
    );
    child
}

/// Runs `lab.py cleanup --run-id id` and returns its output.
fn cleanup(id: &str) -> String {
    let out = run(lab().unwrap().args(["cleanup", "--run-id", id]));
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_interrupted_run_leaves_nothing_behind() {
    let Some(lab) = lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("i");
    let mut child = start_run(lab, &id, dir.path());
    // A live run is not a leftover.
    assert!(cleanup(&id).contains("removed 0 namespaces"));
    assert!(!leftovers(&id).is_empty(), "cleanup removed a live run");
    assert!(signal(&child, "-INT"));
    let status = wait_within(&mut child, Duration::from_secs(30))
        .expect("the lab did not stop within 30 s of SIGINT");
    assert_eq!(status.code(), Some(130), "exit status after SIGINT");
    assert_eq!(
        leftovers(&id),
        Vec::<String>::new(),
        "the interrupted run left these behind"
    );
    assert!(
        !dir.path().join("labels.csv").exists(),
        "no labels for an interrupted run"
    );
}

#[test]
fn cleanup_removes_what_a_killed_run_left() {
    let Some(lab) = lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("k");
    let mut child = start_run(lab, &id, dir.path());
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let left = leftovers(&id);
    assert!(
        left.iter().any(|l| l.contains(&format!("olab{id}-sw"))),
        "a killed run leaves its namespaces: {left:?}"
    );
    let said = cleanup(&id);
    assert!(said.contains(&format!("olab{id}-web")), "{said}");
    assert_eq!(
        leftovers(&id),
        Vec::<String>::new(),
        "cleanup left these behind"
    );
}

/// The committed captures under `tests/lab/samples/`.
fn samples() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("tests/lab/samples"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("capture.pcap").exists())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn the_committed_captures_match_their_labels() {
    let dirs = samples();
    assert!(
        dirs.len() >= 2,
        "a training and an evaluation capture: {dirs:?}"
    );
    for d in dirs {
        let scratch = tempfile::tempdir().unwrap();
        // The committed captures raise no decoder, stream or app-layer event at all.
        check_capture(&d, scratch.path(), "decode,stream,applayer");
        let size = std::fs::metadata(d.join("capture.pcap")).unwrap().len();
        assert!(
            size <= 8 << 20,
            "{}: {size} bytes, a few MB at most",
            d.display()
        );
    }
}

#[test]
fn the_committed_labels_are_what_the_labeller_derives() {
    let Some(py) = material(root().join(".venv/bin/python")) else {
        return;
    };
    for d in samples() {
        let scratch = tempfile::tempdir().unwrap();
        let relabelled = scratch.path().join("labels.csv");
        let out = run_within(
            Command::new(&py)
                .arg(root().join("tests/lab/lab.py"))
                .args(["label", "--pcap"])
                .arg(d.join("capture.pcap"))
                .arg("--hosts")
                .arg(d.join("hosts.csv"))
                .arg("--out")
                .arg(&relabelled),
            Duration::from_secs(120),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(&relabelled).unwrap(),
            std::fs::read_to_string(d.join("labels.csv")).unwrap(),
            "{}",
            d.display()
        );
        for line in std::fs::read_to_string(d.join("hosts.csv"))
            .unwrap()
            .lines()
            .skip(1)
        {
            let ip = line.split(',').next().unwrap();
            assert!(documentation(ip), "hosts.csv: {line}");
        }
    }
}

/// Ethernet + IPv4 (no options) + `l4`, from `src` to `dst`, IP protocol `proto`.
fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    let len = (20 + l4.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&len.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(l4);
    f
}

fn tcp(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t
}

fn udp(sport: u16, dport: u16) -> Vec<u8> {
    let mut u = vec![0u8; 12];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&12u16.to_be_bytes());
    u
}

fn echo_request(id: u16) -> Vec<u8> {
    let mut e = vec![8, 0, 0, 0, 0, 0, 0, 1];
    e[4..6].copy_from_slice(&id.to_be_bytes());
    e
}

/// A microsecond pcap of Ethernet frames, each stamped `T0 + secs`.
fn write_timed_pcap(path: &Path, frames: &[(u32, Vec<u8>)]) {
    let mut b = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    for (secs, f) in frames {
        for v in [T0 + secs, 0, f.len() as u32, f.len() as u32] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(f);
    }
    std::fs::write(path, b).unwrap();
}

const T0: u32 = 1_800_000_000;
const SYN: u8 = 0x02;
const SYN_ACK: u8 = 0x12;
const ACK: u8 = 0x10;
const FIN_ACK: u8 = 0x11;
const RST: u8 = 0x04;

/// `lab.py label` of `frames` with the committed hosts map.
fn label_frames(frames: &[(u32, Vec<u8>)]) -> Option<(Output, String)> {
    let py = material(root().join(".venv/bin/python"))?;
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("crafted.pcap");
    let out = dir.path().join("labels.csv");
    write_timed_pcap(&pcap, frames);
    let o = run(Command::new(py)
        .arg(root().join("tests/lab/lab.py"))
        .args(["label", "--pcap"])
        .arg(&pcap)
        .arg("--hosts")
        .arg(root().join("tests/lab/samples/train/hosts.csv"))
        .arg("--out")
        .arg(&out));
    let labels = std::fs::read_to_string(&out).unwrap_or_default();
    Some((o, labels))
}

#[test]
fn the_labeller_splits_flows_by_timeout_and_reuse_and_labels_them_by_their_client() {
    let (client, web) = ([198, 51, 100, 11], [192, 0, 2, 10]);
    let (brute, sshd) = ([203, 0, 113, 41], [192, 0, 2, 22]);
    let (dig, dns, flood) = ([198, 51, 100, 21], [192, 0, 2, 53], [203, 0, 113, 22]);
    let frames = vec![
        (0, ipv4(client, web, 6, &tcp(40000, 80, SYN))),
        (1, ipv4(web, client, 6, &tcp(80, 40000, SYN_ACK))),
        (2, ipv4(client, web, 6, &tcp(40000, 80, ACK))),
        (3, ipv4(client, web, 6, &tcp(40000, 80, FIN_ACK))),
        (4, ipv4(web, client, 6, &tcp(80, 40000, RST))),
        // The same tuple after FIN and RST: a new flow.
        (5, ipv4(client, web, 6, &tcp(40000, 80, SYN))),
        // First seen at the SYN-ACK: its receiver initiated the flow.
        (6, ipv4(sshd, brute, 6, &tcp(22, 50000, SYN_ACK))),
        (7, ipv4(dig, dns, 17, &udp(5353, 53))),
        // 43 s later, past UDP's 30 s timeout for a flow that never got an answer.
        (50, ipv4(dig, dns, 17, &udp(5353, 53))),
        // Two echo ids: two flows, ports written as 0.
        (8, ipv4(flood, dns, 1, &echo_request(7))),
        (9, ipv4(flood, dns, 1, &echo_request(9))),
    ];
    let Some((out, labels)) = label_frames(&frames) else {
        return;
    };
    assert!(out.status.success());
    let t = |s: u32| format!("{}.000000", T0 + s);
    let want = [
        "proto,src_ip,src_port,dst_ip,dst_port,first_ts,label,family".to_string(),
        format!(
            "tcp,198.51.100.11,40000,192.0.2.10,80,{},benign,browse",
            t(0)
        ),
        format!(
            "tcp,198.51.100.11,40000,192.0.2.10,80,{},benign,browse",
            t(5)
        ),
        format!(
            "tcp,203.0.113.41,50000,192.0.2.22,22,{},malicious,bruteforce",
            t(6)
        ),
        format!("udp,198.51.100.21,5353,192.0.2.53,53,{},benign,dns", t(7)),
        format!("icmp,203.0.113.22,0,192.0.2.53,0,{},malicious,flood", t(8)),
        format!("icmp,203.0.113.22,0,192.0.2.53,0,{},malicious,flood", t(9)),
        format!("udp,198.51.100.21,5353,192.0.2.53,53,{},benign,dns", t(50)),
    ];
    assert_eq!(labels.lines().collect::<Vec<_>>(), want);
}

#[test]
fn the_labeller_refuses_flows_it_cannot_label() {
    for (frame, named) in [
        // Two clients.
        (
            ipv4([198, 51, 100, 11], [203, 0, 113, 11], 6, &tcp(1, 2, SYN)),
            "tcp 198.51.100.11:1 -> 203.0.113.11:2",
        ),
        // Two servers.
        (
            ipv4([192, 0, 2, 10], [192, 0, 2, 22], 17, &udp(3, 4)),
            "udp 192.0.2.10:3 -> 192.0.2.22:4",
        ),
        // An address the lab does not know.
        (
            ipv4([198, 51, 100, 11], [192, 0, 2, 200], 6, &tcp(5, 6, SYN)),
            "tcp 198.51.100.11:5 -> 192.0.2.200:6",
        ),
    ] {
        let Some((out, labels)) = label_frames(&[(0, frame)]) else {
            return;
        };
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.starts_with("lab: error: 1 flows without exactly one lab client"),
            "{err}"
        );
        assert!(err.contains(named), "{err}");
        assert!(labels.is_empty(), "no labels for a capture it refuses");
    }
}
