//! Bad input to the binary, each refused at once with one line that names it: captures that
//! are not regular files or hold corrupt records, worker counts `net_pcap` cannot serve, CPUs
//! that do not exist, and output pipes closed by their reader. None of these needs the
//! material under `../shared/data`.

mod common;

use common::{
    one_error_line, osprey, run_within, spawn, write_pcap, write_replay_config, ETHERNET,
};
use std::process::Command;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn a_fifo_is_refused_not_waited_on() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("in.pcap");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let out = run_within(osprey().args(["replay", "--pcap"]).arg(&fifo), LIMIT);
    let e = one_error_line(&out);
    assert!(
        e.contains("in.pcap") && e.contains("not a regular file"),
        "{e}"
    );
}

#[test]
fn corrupt_records_are_named() {
    let d = tempfile::tempdir().unwrap();
    // A captured length of 0xFFFFFFFF in the only record: not "holds no packets".
    let p = d.path().join("caplen.pcap");
    write_pcap(&p, ETHERNET, &[&[0u8; 60]]);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[24 + 8..24 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&p, bytes).unwrap();
    let e = one_error_line(&run_within(
        osprey().args(["replay", "--pcap"]).arg(&p),
        LIMIT,
    ));
    assert!(e.contains("record 1 (at byte 24)"), "{e}");
    assert!(!e.contains("no packets"), "{e}");

    // pcapng: an enhanced packet on interface 1 of a section that describes only 0.
    let p = d.path().join("iface.pcapng");
    let mut b = Vec::new();
    let mut block = |kind: u32, body: &[u8]| {
        let len = 12 + body.len() as u32;
        b.extend_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.extend_from_slice(&len.to_le_bytes());
    };
    let shb = [&0x1A2B_3C4Du32.to_le_bytes()[..], &[1, 0, 0, 0], &[0xff; 8]].concat();
    block(0x0A0D_0D0A, &shb);
    block(1, &[1, 0, 0, 0, 0xff, 0xff, 0, 0]);
    let epb = |iface: u32| {
        let mut e = Vec::new();
        for v in [iface, 0, 1, 60, 60] {
            e.extend_from_slice(&v.to_le_bytes());
        }
        e.extend_from_slice(&[0u8; 60]);
        e
    };
    block(6, &epb(0));
    block(6, &epb(1));
    std::fs::write(&p, b).unwrap();
    let t = Instant::now();
    let e = one_error_line(&run_within(
        osprey().args(["replay", "--pcap"]).arg(&p),
        LIMIT,
    ));
    assert!(e.contains("record 2") && e.contains("interface 1"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn replay_workers_beyond_net_pcaps_queues_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("a.pcap");
    write_pcap(&p, ETHERNET, &[&[0u8; 60]]);
    let out = run_within(
        osprey()
            .args(["replay", "--workers", "17", "--pcap"])
            .arg(&p),
        LIMIT,
    );
    let e = one_error_line(&out);
    assert!(e.contains("1 to 16") && !e.contains("net_pcap0"), "{e}");
    let cfg = d.path().join("w.toml");
    write_replay_config(&cfg, &p, "workers = 17\n");
    let e = one_error_line(&run_within(osprey().args(["run", "-c"]).arg(&cfg), LIMIT));
    assert!(e.contains("capture.workers") && e.contains("16"), "{e}");
}

#[test]
fn management_cores_that_do_not_exist_are_a_config_error() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("a.pcap");
    write_pcap(&p, ETHERNET, &[&[0u8; 60]]);
    let cfg = d.path().join("cores.toml");
    write_replay_config(&cfg, &p, "[management]\ncores = [1024]\n");
    let out = run_within(
        osprey()
            .args(["run", "--seconds", "1", "--data-dir"])
            .arg(d.path().join("db"))
            .arg("-c")
            .arg(&cfg),
        LIMIT,
    );
    let e = one_error_line(&out);
    assert!(e.contains("management.cores") && e.contains("1024"), "{e}");
}

/// `osprey ... | head`: the reader closes the pipe. The command ends quietly (status 141, as
/// if killed by SIGPIPE), or with its own error when it had one, never with a panic.
#[test]
fn closed_output_pipes_end_commands_quietly() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("a.pcap");
    write_pcap(&p, ETHERNET, &[&[0u8; 60]]);
    let spawn_closed = |cmd: &mut Command, close_stderr: bool| {
        let mut child = spawn(cmd);
        drop(child.stdout.take());
        if close_stderr {
            drop(child.stderr.take());
        }
        child.wait_with_output().unwrap()
    };
    // println! in the binary.
    let out = spawn_closed(osprey().args(["pcap", "scan"]).arg(&p), false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert!(err.is_empty(), "{err}");
    // writeln! in a library, the error travelling back to main.
    let rules = d.path().join("a.rules");
    std::fs::write(
        &rules,
        "alert tcp any any -> any 80 (msg:\"x\"; content:\"GET\"; sid:1;)\n",
    )
    .unwrap();
    let out = spawn_closed(osprey().args(["rules", "export"]).arg(&rules), false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert!(err.is_empty(), "{err}");
    // `2>&1 | head` with no appliance: the error line itself meets the closed pipe.
    let out = spawn_closed(
        osprey().args(["ctl", "--endpoint", "http://127.0.0.1:1", "status"]),
        true,
    );
    assert_eq!(out.status.code(), Some(1), "{:?}", out.status);
}
