//! Capture filters: `osprey replay --filter` and `filter` on a configured port. A BPF
//! expression compiled by libpcap keeps what it names; the rest is counted as
//! `filter.rejected` and not inspected (inline: forwarded as it came); a bad expression stops
//! the run at start with libpcap's reason. DPDK's `rte_bpf` (JIT and interpreter) gives the
//! same answer as libpcap on every frame of real captures.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    one_error_line, osprey, read_json, run, sample, signal, spawn, wait_for_addresses, wait_within,
    write_pcap, ETHERNET,
};
use dataplane::decode::LinkType;
use dataplane::filter::{CaptureFilter, FilterEngine};
use dataplane::io::pcap::PcapSource;

/// TCP SYNs to or from port 80 in a classic pcap of Ethernet frames, counted by reading the
/// headers here (independently of libpcap).
fn port_80_syns(pcap: &[u8]) -> u64 {
    let mut off = 24;
    let mut n = 0;
    while off + 16 <= pcap.len() {
        let cap = u32::from_le_bytes(pcap[off + 8..off + 12].try_into().unwrap()) as usize;
        let f = &pcap[off + 16..off + 16 + cap];
        off += 16 + cap;
        if f.len() < 34 || f[12..14] != [0x08, 0x00] || f[23] != 6 {
            continue;
        }
        let t = 14 + usize::from(f[14] & 15) * 4;
        let sport = u16::from_be_bytes([f[t], f[t + 1]]);
        let dport = u16::from_be_bytes([f[t + 2], f[t + 3]]);
        if (sport == 80 || dport == 80) && f[t + 13] & 2 != 0 {
            n += 1;
        }
    }
    n
}

#[test]
fn replay_filter_keeps_what_it_names_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = sample("demo.pcap");
    let expect = port_80_syns(&std::fs::read(&pcap).unwrap());
    assert!(expect > 0);
    let stats = dir.path().join("stats.json");
    let out = run(osprey()
        .args(["replay", "--pcap"])
        .arg(&pcap)
        .args([
            "--filter",
            "tcp port 80 and tcp[tcpflags] & tcp-syn != 0",
            "--stats-json",
        ])
        .arg(&stats));
    assert!(out.status.success());
    let v = read_json(&stats);
    let packets = v["packets"].as_u64().unwrap();
    let c = &v["per_worker"][0]["counters"];
    assert_eq!(
        c["decoder.pkts"].as_u64(),
        Some(expect),
        "only the SYNs are decoded"
    );
    assert_eq!(c["filter.rejected"].as_u64(), Some(packets - expect));
}

#[test]
fn a_bad_filter_is_refused_at_start_with_the_reason() {
    let out = run(osprey()
        .args(["replay", "--pcap"])
        .arg(sample("demo.pcap"))
        .args(["--filter", "tcp prot 80"]));
    assert!(!out.status.success());
    let line = one_error_line(&out);
    assert!(line.contains("capture filter \"tcp prot 80\""), "{line}");
    assert!(line.contains("syntax error"), "{line}");
}

/// Every frame of a capture, in order.
fn frames(path: &Path) -> Vec<Vec<u8>> {
    let mut src = PcapSource::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        out.push(f.data.to_vec());
    }
    out
}

/// `rte_bpf`'s JIT and interpreter keep exactly the frames libpcap keeps, for typical and
/// edge expressions (length, payload bytes, IPv6, VLAN), over the bundled demo capture and,
/// when present, `public_mix.pcap`. Runs an EAL in this process (the only test here that does).
#[test]
fn rte_bpf_keeps_exactly_what_libpcap_keeps() {
    let args = dataplane::runtime::EalConfig::default().args(0, &[], 128);
    let eal = dataplane::dpdk::Eal::init(&args).expect("EAL");
    let mut captures = vec![frames(&sample("demo.pcap"))];
    if let Some(p) = vocab::testing::shared_data("pcaps/public_mix.pcap") {
        captures.push(frames(&p));
    }
    let exprs = [
        "tcp and not port 22 and net 192.0.2.0/24",
        "tcp port 80 or udp port 53",
        "not ip",
        "greater 1000",
        "ip6 or vlan",
        "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
        "udp and ip[8] < 64",
        "ether[0] & 1 = 1",
    ];
    for expr in exprs {
        let mut f = CaptureFilter::load(expr, LinkType::Ethernet, &eal).unwrap();
        // DPDK 22.11's JIT miscompiles a one-byte `jset` mask: libpcap runs those.
        if cfg!(target_arch = "x86_64") {
            let want = if expr.contains("tcpflags") {
                FilterEngine::Libpcap
            } else {
                FilterEngine::Jit
            };
            assert_eq!(f.engine(), want, "{expr}");
        }
        assert!(
            f.use_engine(FilterEngine::Interpreter),
            "{expr}: rte_bpf loaded it"
        );
        let mut engines = vec![FilterEngine::Libpcap, FilterEngine::Interpreter];
        if f.use_engine(FilterEngine::Jit) {
            engines.push(FilterEngine::Jit);
        }
        for frames in &captures {
            let kept = |f: &mut CaptureFilter, e| {
                assert!(f.use_engine(e));
                frames.iter().map(|fr| f.accepts(fr)).collect::<Vec<bool>>()
            };
            let want = kept(&mut f, FilterEngine::Libpcap);
            for &e in &engines[1..] {
                let got = kept(&mut f, e);
                let differ = want.iter().zip(&got).position(|(a, b)| a != b);
                assert_eq!(differ, None, "{expr}: {e} and libpcap differ at frame");
            }
            eprintln!(
                "{expr:?}: {} of {} frames kept by every engine",
                want.iter().filter(|k| **k).count(),
                frames.len()
            );
        }
    }
}

/// A UDP frame from 192.0.2.1:`sport` to 198.51.100.2:`dport` carrying `data`.
fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&((28 + data.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[192, 0, 2, 1, 198, 51, 100, 2]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(data);
    f
}

/// `osprey ctl --json ARGS` against `api`.
fn ctl(api: &str, args: &[&str]) -> serde_json::Value {
    let out = run(osprey()
        .args(["ctl", "--endpoint", &format!("http://{api}"), "--json"])
        .args(args));
    assert!(out.status.success(), "ctl {args:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The metrics page at `addr`.
fn metrics(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    page
}

/// `osprey run` with an inline pair of two `net_pcap` ports, a `drop` rule matching every
/// packet of the input and `filter = "not port 22"` on the receiving port: the port-22
/// packets the filter rejects are forwarded uninspected (the rule would drop them), the others
/// are dropped; the port's rejections show in `osprey ctl stats`, the metrics and the filter
/// with its engine in `osprey ctl status`.
#[test]
fn a_port_filter_forwards_what_it_rejects_uninspected() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input: Vec<Vec<u8>> = (0..60u16)
        .map(|i| {
            let dport = if i % 3 == 0 { 22 } else { 53 };
            udp(40_000 + i % 7, dport, b"attack payload")
        })
        .collect();
    let ssh: Vec<Vec<u8>> = input.iter().step_by(3).cloned().collect();
    let pcap = d.join("in.pcap");
    let refs: Vec<&[u8]> = input.iter().map(Vec::as_slice).collect();
    write_pcap(&pcap, ETHERNET, &refs);
    let empty = d.join("empty.pcap");
    write_pcap(&empty, ETHERNET, &[]);
    let rules = d.join("drop.rules");
    std::fs::write(
        &rules,
        "drop udp any any -> any any (msg:\"attack\"; content:\"attack\"; sid:1;)\n",
    )
    .unwrap();
    let (out_a, out_b) = (d.join("a.pcap"), d.join("b.pcap"));
    let cfg = d.join("osprey.toml");
    std::fs::write(
        &cfg,
        format!(
            "[capture]\nmode = \"ports\"\nworkers = 1\n\
             [[capture.ports]]\ndevice = \"net_pcap0\"\nvdev = \"net_pcap0,rx_pcap={},tx_pcap={}\"\n\
             filter = \"not port 22\"\n\
             [[capture.ports]]\ndevice = \"net_pcap1\"\nvdev = \"net_pcap1,rx_pcap={},tx_pcap={}\"\n\
             [[capture.inline]]\nports = [\"net_pcap0\", \"net_pcap1\"]\n\
             [api]\nlisten = \"127.0.0.1:0\"\nallow_plaintext = true\n\
             [auth]\nanonymous_role = \"admin\"\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\n\
             [storage]\npath = {:?}\n\
             [rules]\nfiles = [{rules:?}]\n",
            pcap.display(),
            out_a.display(),
            empty.display(),
            out_b.display(),
            d.join("db"),
        ),
    )
    .unwrap();
    let addr_file = d.join("addr.json");
    let mut child = spawn(
        osprey()
            .args(["run", "--seconds", "20", "-c"])
            .arg(&cfg)
            .arg("--addr-file")
            .arg(&addr_file),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let addrs = wait_for_addresses(&mut child, &addr_file);
    let (api, metrics_addr) = (
        addrs["api"].as_str().unwrap().to_owned(),
        addrs["metrics"].as_str().unwrap().to_owned(),
    );
    let port_rejected = |api: &str| {
        ctl(api, &["stats", "--workers"])["workers"]["port:net_pcap0"]["filter.port_rejected"]
            .as_u64()
    };
    while port_rejected(&api) != Some(ssh.len() as u64) {
        assert!(Instant::now() < deadline, "{:?}", port_rejected(&api));
        std::thread::sleep(Duration::from_millis(200));
    }
    let st = ctl(&api, &["status"]);
    let p0 = &st["ports"][0];
    assert_eq!(p0["filter"], "not port 22", "{st}");
    assert!(
        ["rte_bpf-jit", "libpcap"].contains(&p0["filter_engine"].as_str().unwrap()),
        "{st}"
    );
    assert_eq!(st["ports"][1]["filter"], "", "{st}");
    let page = metrics(&metrics_addr);
    let line = format!(
        "osprey_filter_port_rejected{{worker=\"port:net_pcap0\"}} {}",
        ssh.len()
    );
    assert!(page.contains(&line), "{line} not in\n{page}");
    let stats = ctl(&api, &["stats"]);
    assert_eq!(stats["total"]["filter.rejected"], ssh.len() as u64);
    assert_eq!(
        stats["total"]["inline.dropped"],
        (input.len() - ssh.len()) as u64
    );
    let _ = signal(&child, "-TERM");
    let st = wait_within(&mut child, Duration::from_secs(120)).expect("osprey run stops");
    assert!(st.success(), "{st:?}");
    assert_eq!(
        frames(&out_b),
        ssh,
        "exactly the filtered packets, in order"
    );
}

/// A configured port filter libpcap cannot compile stops `osprey run` before it starts, with
/// libpcap's reason and the port.
#[test]
fn a_bad_port_filter_is_refused_naming_the_port() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("osprey.toml");
    std::fs::write(
        &cfg,
        "[capture]\nmode = \"ports\"\n[[capture.ports]]\ndevice = \"net_null0\"\n\
         vdev = \"net_null0\"\nfilter = \"port 22 and\"\n",
    )
    .unwrap();
    let out = run(osprey().args(["run", "-c"]).arg(&cfg));
    assert!(!out.status.success());
    let line = one_error_line(&out);
    assert!(
        line.contains("capture.ports[0].filter (device \"net_null0\")")
            && line.contains("capture filter \"port 22 and\"")
            && line.contains("syntax error"),
        "{line}"
    );
}
