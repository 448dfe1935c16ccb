//! Nothing left behind: an `osprey` process that needs no secondary DPDK process creates no
//! shared runtime files, and removes its runtime directory at exit, also when stopped by
//! SIGTERM. Each test runs the binary on a small capture it writes itself and then looks for
//! the directory DPDK names after the process (`osprey-<pid>-<n>`, from the unique
//! `--file-prefix`) under the runtime root (`/var/run/dpdk` as root).
//!
//! Other processes may run DPDK on the machine at the same time, so the tests look only for
//! entries named after the processes they started, and that those processes created or
//! changed.

mod common;

use common::{
    finish, osprey, osprey_run, signal, spawn, status_lines, stdout_lines, write_pcap,
    write_replay_config, ETHERNET,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// DPDK's runtime root (`eal_get_baseruntime_dir`): `/var/run/dpdk` for root, else
/// `$XDG_RUNTIME_DIR/dpdk` or `/tmp/dpdk`.
fn runtime_root() -> PathBuf {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        == Some("0");
    if root {
        return PathBuf::from("/var/run/dpdk");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) => Path::new(&d).join("dpdk"),
        None => PathBuf::from("/tmp/dpdk"),
    }
}

/// One entry of the runtime root: its bytes and the latest modification time of the
/// directory and its files.
#[derive(Debug, PartialEq)]
struct Entry {
    bytes: u64,
    modified: Option<std::time::SystemTime>,
}

/// Every entry of the runtime root by name.
fn snapshot() -> BTreeMap<String, Entry> {
    let Ok(dir) = std::fs::read_dir(runtime_root()) else {
        return BTreeMap::new();
    };
    dir.filter_map(Result::ok)
        .map(|e| {
            let mut entry = Entry {
                bytes: 0,
                modified: e.metadata().and_then(|m| m.modified()).ok(),
            };
            for m in std::fs::read_dir(e.path())
                .into_iter()
                .flatten()
                .filter_map(|f| f.ok()?.metadata().ok())
            {
                entry.bytes += m.len();
                entry.modified = entry.modified.max(m.modified().ok());
            }
            (e.file_name().to_string_lossy().into_owned(), entry)
        })
        .collect()
}

/// Asserts that process `pid` left nothing: no entry named after it that was not in `before`,
/// or that it changed. (Pids are reused: a process of another build may have left an entry
/// under the same name earlier.)
fn assert_nothing_left(before: &BTreeMap<String, Entry>, pid: u32, what: &str) {
    let prefix = format!("osprey-{pid}-");
    let left: Vec<_> = snapshot()
        .into_iter()
        .filter(|(name, e)| name.starts_with(&prefix) && before.get(name) != Some(e))
        .collect();
    assert!(
        left.is_empty(),
        "{what} left runtime files under {}: {left:?}",
        runtime_root().display()
    );
}

/// A pcap of `n` small Ethernet/IPv4/UDP frames.
fn small_capture(path: &Path, n: usize) {
    let mut frame = vec![0u8; 12];
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
    frame.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    frame.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 8, 0, 0]);
    write_pcap(path, ETHERNET, &vec![frame.as_slice(); n]);
}

#[test]
fn replay_leaves_no_runtime_files() {
    let d = tempfile::tempdir().unwrap();
    let pcap = d.path().join("small.pcap");
    small_capture(&pcap, 20);
    for workers in ["1", "2"] {
        let before = snapshot();
        let child = spawn(
            osprey()
                .args(["replay", "-q", "--workers", workers, "--pcap"])
                .arg(&pcap),
        );
        let pid = finish(child, "replay");
        assert_nothing_left(&before, pid, &format!("replay --workers {workers}"));
    }
}

#[test]
fn bench_leaves_no_runtime_files() {
    let d = tempfile::tempdir().unwrap();
    let pcap = d.path().join("small.pcap");
    small_capture(&pcap, 20);
    let before = snapshot();
    let child = spawn(
        osprey()
            .args(["bench", "--seconds", "1", "--json", "--pcap"])
            .arg(&pcap),
    );
    let pid = finish(child, "bench");
    assert_nothing_left(&before, pid, "bench");
}

/// Starts `osprey run` looping a small capture and waits for its first status line.
fn start_run(d: &Path) -> (Child, Receiver<String>) {
    let pcap = d.join("small.pcap");
    small_capture(&pcap, 20);
    let cfg = d.join("loop.toml");
    write_replay_config(&cfg, &pcap, "loop = true\n");
    let mut child = spawn(osprey_run(&d.join("db")).arg("-c").arg(&cfg));
    let rx = stdout_lines(&mut child);
    // The data plane is up once the first status line is printed.
    let up = status_lines(&rx, 1, Duration::from_secs(60));
    assert!(!up.is_empty(), "no status line from osprey run");
    (child, rx)
}

/// A second signal ends the process at once (exit 130) without waiting for the shutdown;
/// the runtime directory goes with it.
#[test]
fn run_stopped_by_two_signals_leaves_no_runtime_files() {
    let d = tempfile::tempdir().unwrap();
    let before = snapshot();
    let (mut child, _lines) = start_run(d.path());
    assert!(signal(&child, "-INT"));
    assert!(signal(&child, "-INT"));
    let status = child.wait().unwrap();
    // The normal path may have finished between the two signals.
    assert!(matches!(status.code(), Some(130 | 0)), "{status:?}");
    assert_nothing_left(&before, child.id(), "run stopped by two signals");
}

/// `osprey run` stopped by SIGTERM returns through the normal path, so the EAL is cleaned up.
#[test]
fn run_stopped_by_sigterm_leaves_no_runtime_files() {
    let d = tempfile::tempdir().unwrap();
    let before = snapshot();
    let (child, rx) = start_run(d.path());
    assert!(signal(&child, "-TERM"));
    let pid = finish(child, "run");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(
        rest.iter().any(|l| l.starts_with("stopped: ")),
        "run did not stop through its normal path: {rest:?}"
    );
    assert_nothing_left(&before, pid, "run stopped by SIGTERM");
}

/// A process killed before it could clean up (SIGKILL) leaves an empty directory; the next
/// process removes those of dead processes (and only empty ones).
#[test]
fn a_killed_processs_empty_directory_is_swept_by_the_next() {
    let d = tempfile::tempdir().unwrap();
    let pcap = d.path().join("small.pcap");
    small_capture(&pcap, 20);
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let root = runtime_root();
    std::fs::create_dir_all(&root).unwrap();
    let stale = root.join(format!("osprey-{}-0", gone.id()));
    std::fs::create_dir(&stale).unwrap();
    let child = spawn(osprey().args(["replay", "-q", "--pcap"]).arg(&pcap));
    finish(child, "replay");
    let left = stale.exists();
    let _ = std::fs::remove_dir(&stale);
    assert!(!left, "{} was not swept", stale.display());
}
