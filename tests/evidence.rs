//! Packet evidence end to end: `osprey run` reads a capture through `net_pcap`; a rule alerts
//! in the middle of one flow; the worker's packet ring hands over that flow's packets before
//! the alert and the ones after it; the control plane stores them as a `pcap` evidence item
//! that `osprey ctl evidence list|export|verify` shows, exports and verifies, and a flipped
//! byte in the stored capture is named by `verify`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{osprey, run, signal, spawn, wait_for_addresses, wait_within, write_pcap, ETHERNET};
use dataplane::io::pcap::PcapSource;

/// A UDP frame from 192.0.2.`a`:`sport` to 198.51.100.`b`:53 carrying `data`.
fn udp(a: u8, b: u8, sport: u16, data: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&((28 + data.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[192, 0, 2, a, 198, 51, 100, b]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&53u16.to_be_bytes());
    f.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(data);
    f
}

/// The (source, destination) addresses and ports of a frame built by [`udp`].
fn tuple(f: &[u8]) -> ([u8; 4], [u8; 4], u16, u16) {
    (
        f[26..30].try_into().unwrap(),
        f[30..34].try_into().unwrap(),
        u16::from_be_bytes([f[34], f[35]]),
        u16::from_be_bytes([f[36], f[37]]),
    )
}

fn frames(path: &Path) -> Vec<Vec<u8>> {
    let mut src = PcapSource::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        out.push(f.data.to_vec());
    }
    out
}

/// `osprey ctl --json ARGS` against `api`, with its exit code.
fn ctl(api: &str, args: &[&str]) -> (i32, serde_json::Value) {
    let out = run(osprey()
        .args(["ctl", "--endpoint", &format!("http://{api}"), "--json"])
        .args(args));
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn an_alerting_flow_is_captured_before_and_after_its_alert() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Two flows interleaved, 30 packets each; the 12th packet of flow A alerts.
    let mut input = Vec::new();
    for i in 0..30u16 {
        let a = if i == 11 {
            &b"attack"[..]
        } else {
            &b"query"[..]
        };
        input.push(udp(1, 2, 40_000, a));
        input.push(udp(3, 4, 41_000, b"other"));
    }
    let flow_a: Vec<Vec<u8>> = input.iter().step_by(2).cloned().collect();
    let pcap = d.join("in.pcap");
    let refs: Vec<&[u8]> = input.iter().map(Vec::as_slice).collect();
    write_pcap(&pcap, ETHERNET, &refs);
    let rules = d.join("r.rules");
    std::fs::write(
        &rules,
        "alert udp any any -> any any (msg:\"attack\"; content:\"attack\"; sid:7;)\n",
    )
    .unwrap();
    let cfg = d.join("osprey.toml");
    std::fs::write(
        &cfg,
        format!(
            "[capture]\nmode = \"ports\"\nworkers = 1\n\
             [[capture.ports]]\ndevice = \"net_pcap0\"\nvdev = \"net_pcap0,rx_pcap={}\"\n\
             [api]\nlisten = \"127.0.0.1:0\"\nallow_plaintext = true\n\
             [auth]\nanonymous_role = \"admin\"\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\n\
             [storage]\npath = {:?}\n\
             [rules]\nfiles = [{rules:?}]\n\
             [incidents]\nhome_net = [\"192.0.2.0/24\"]\n\
             [evidence]\nring_bytes = 1048576\ncapture = [7]\nafter_packets = 100\n\
             capture_idle_secs = 1\n",
            pcap.display(),
            d.join("db"),
        ),
    )
    .unwrap();
    let addr_file = d.join("addr.json");
    let mut child = spawn(
        osprey()
            .args(["run", "--seconds", "60", "-c"])
            .arg(&cfg)
            .arg("--addr-file")
            .arg(&addr_file),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let api = wait_for_addresses(&mut child, &addr_file)["api"]
        .as_str()
        .unwrap()
        .to_owned();
    let item = loop {
        let (_, list) = ctl(&api, &["evidence", "list"]);
        let pcap_item = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["kind"] == "pcap")
            .cloned();
        if let Some(i) = pcap_item {
            break i;
        }
        assert!(Instant::now() < deadline, "no pcap item: {list}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_ne!(item["incident_id"], 0, "{item}");
    assert!(
        item["note"].as_str().unwrap().contains("192.0.2.1"),
        "{item}"
    );

    let id = item["id"].as_u64().unwrap().to_string();
    let out = d.join("item.pcap");
    let (code, exported) = ctl(
        &api,
        &["evidence", "export", &id, "--out", out.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{exported}");
    let got = frames(&out);
    assert!(got.iter().all(|f| tuple(f) == tuple(&flow_a[0])));
    // The whole flow: the 12 packets up to the alert were in the ring, the 18 after it
    // fewer than after_packets.
    assert_eq!(got, flow_a);

    let (code, v) = ctl(&api, &["evidence", "verify"]);
    assert_eq!((code, &v["ok"]), (0, &serde_json::Value::Bool(true)), "{v}");

    // A flipped byte in the stored capture is named.
    let stored = d
        .join("db-evidence/items")
        .join(item["file"].as_str().unwrap());
    let mut bytes = std::fs::read(&stored).unwrap();
    bytes[60] ^= 0xff;
    std::fs::write(&stored, &bytes).unwrap();
    let (code, v) = ctl(&api, &["evidence", "verify"]);
    assert_eq!(code, 1, "{v}");
    let altered = v["altered_items"].to_string();
    assert!(altered.contains(&format!("item {id}")), "{v}");

    let (_, stats) = ctl(&api, &["stats"]);
    assert_eq!(
        stats["total"]["evidence.ring_packets"],
        input.len() as u64,
        "{stats}"
    );
    assert_eq!(stats["total"]["evidence.exported"], flow_a.len() as u64);
    assert_eq!(stats["total"]["evidence.export_dropped"], 0);

    let _ = signal(&child, "-TERM");
    let st = wait_within(&mut child, Duration::from_secs(120)).expect("osprey run stops");
    assert!(st.success(), "{st:?}");
}
