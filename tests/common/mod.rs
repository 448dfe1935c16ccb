//! Helpers shared by the end-to-end tests under `tests/`: the `osprey` binary as a child
//! process, captures written from frames, EVE and stats files read back.
//!
//! Material outside the repository (captures, ET Open, suricata-verify) is found with
//! `vocab::testing`, as everywhere in the workspace; this module only finds what the
//! repository itself holds ([`root`], [`sample`]).
//!
//! Every test file compiles this module as its own `mod common;` and uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// The `osprey` binary under test.
pub const OSPREY: &str = env!("CARGO_BIN_EXE_osprey");

/// The pcap link type of Ethernet frames (`LINKTYPE_ETHERNET`).
pub const ETHERNET: u32 = 1;

/// The repository's root (the root package's manifest directory).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `name` under `configs/samples/` (the bundled demo capture, rules and classification).
pub fn sample(name: &str) -> PathBuf {
    root().join("configs/samples").join(name)
}

/// The binary under test as a command, without the caller's `OSPREY_LOG`.
pub fn osprey() -> Command {
    let mut c = Command::new(OSPREY);
    c.env_remove("OSPREY_LOG");
    c
}

/// `osprey run` with the control plane on free loopback ports (API, metrics and console on
/// `127.0.0.1:0`) and its store in `data_dir`, so that tests run side by side.
pub fn osprey_run(data_dir: &Path) -> Command {
    let mut c = osprey();
    c.args(["run", "--api-listen", "127.0.0.1:0"])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .args(["--console-listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir);
    c
}

/// Writes at `path` a configuration that replays `pcap` (`[capture] mode = "replay"`),
/// followed by `rest`: more `[capture]` keys, then other tables.
pub fn write_replay_config(path: &Path, pcap: &Path, rest: &str) {
    std::fs::write(
        path,
        format!(
            "[capture]\nmode = \"replay\"\npcap = {:?}\n{rest}",
            pcap.display().to_string()
        ),
    )
    .unwrap();
}

/// Runs `cmd` to completion and copies its stdout and stderr to the test's stderr (shown
/// when the test fails).
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn osprey");
    eprintln!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Spawns `cmd` with its stdout and stderr piped.
pub fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn osprey")
}

/// Waits up to `limit` for `child` to exit; kills it and returns `None` if it has not.
pub fn wait_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` with its output piped; kills it and fails if it has not finished within
/// `limit`.
pub fn run_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = spawn(cmd);
    let finished = wait_within(&mut child, limit).is_some();
    let out = child.wait_with_output().unwrap();
    assert!(
        finished,
        "{cmd:?} still running after {limit:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Waits for `child` to exit, asserts that it succeeded (showing its stderr when it did
/// not), and returns its pid.
pub fn finish(child: Child, what: &str) -> u32 {
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    pid
}

/// Sends `sig` (as `kill(1)` spells it: `-TERM`, `-INT`) to `child`; whether it was
/// delivered (not when the process is gone).
pub fn signal(child: &Child, sig: &str) -> bool {
    Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success()
}

/// The single `osprey: error:` line of a failed run: exit status 1, nothing else on stderr,
/// no panic.
pub fn one_error_line(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit status; stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one error line expected, got {lines:?}");
    assert!(lines[0].starts_with("osprey: error: "), "{}", lines[0]);
    assert!(!err.contains("panicked"), "{err}");
    lines[0].to_string()
}

/// The lines `child` prints on stdout, as they come, read on a thread of their own (the
/// child's stdout must be piped).
pub fn stdout_lines(child: &mut Child) -> Receiver<String> {
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The first `n` live status lines (`... pps ...`) of `osprey run` among `lines`, or fewer
/// when they do not come within `limit` (or stdout closes).
pub fn status_lines(lines: &Receiver<String>, n: usize, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut found = Vec::new();
    while found.len() < n && Instant::now() < deadline {
        match lines.recv_timeout(Duration::from_secs(1)) {
            Ok(line) if line.contains(" pps ") => found.push(line),
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    found
}

/// Writes a classic pcap (microsecond timestamps, snap length 65535) of link type `link`
/// with one record per entry of `frames`, record `i` stamped `1_700_000_000 + i` seconds.
pub fn write_pcap(path: &Path, link: u32, frames: &[&[u8]]) {
    let mut f = std::fs::File::create(path).unwrap();
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&65535u32.to_le_bytes());
    h.extend_from_slice(&link.to_le_bytes());
    f.write_all(&h).unwrap();
    for (i, r) in frames.iter().enumerate() {
        let mut rec = Vec::new();
        rec.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        rec.extend_from_slice(&0u32.to_le_bytes());
        rec.extend_from_slice(&(r.len() as u32).to_le_bytes());
        rec.extend_from_slice(&(r.len() as u32).to_le_bytes());
        f.write_all(&rec).unwrap();
        f.write_all(r).unwrap();
    }
}

/// Ethernet + IPv4 (total length `ip_len`, header checksum filled in) + TCP
/// 10.0.0.1:1234 → 10.0.0.2:80 with `flags` and `seq`, no payload. The TCP checksum is left
/// 0 (replay with `--flags checksum-off` where it matters).
pub fn tcp_frame(ip_len: u16, flags: u8, seq: u32) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    let sum: u32 = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&1234u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    f.extend_from_slice(&tcp);
    f
}

/// Waits (up to two minutes) for `osprey run --addr-file FILE` to write its addresses and
/// returns them; panics if the process exits first.
pub fn wait_for_addresses(child: &mut Child, addr_file: &Path) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !addr_file.exists() {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("osprey run exited early: {st:?}");
        }
        assert!(std::time::Instant::now() < deadline, "no address file");
        std::thread::sleep(Duration::from_millis(50));
    }
    read_json(addr_file)
}

/// A JSON file (`--stats-json`, the address file) parsed.
pub fn read_json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The records of an EVE file, in file order: one JSON object per line.
pub fn eve_records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {l}"))
        })
        .collect()
}

/// The body of `GET /metrics` from the metrics address `addr` (`host:port`).
pub fn scrape_metrics(addr: &str) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).expect("connect to /metrics");
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}
