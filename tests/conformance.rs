//! Conformance against the public suricata-verify subset (`../shared/data/suricata-verify/`,
//! not in this repository), through the real binary and DPDK `net_pcap`, evaluated by
//! `../shared/tools/sv_run.py`. The floors only go up: raise them as the engine improves; a
//! drop in the pass count fails the build.

mod common;

use common::{root, OSPREY};
use std::path::Path;
use std::process::Command;

/// Tests of `subset.txt` that must pass.
const SUBSET_FLOOR: u32 = 89;
/// Tests of `tier2.txt` (alert checks only) that must pass.
const TIER2_FLOOR: u32 = 30;
/// Tests of `extended.txt` (385 tests Suricata 8 passes, full EVE checks) that must pass.
const EXTENDED_FLOOR: u32 = 103;

fn run_list(list: &str, alert_only: bool) -> Option<(u32, u32, u32)> {
    let runner = vocab::testing::material(root().join("../shared/tools/sv_run.py"))?;
    let list = vocab::testing::shared_data(Path::new("suricata-verify").join(list))?;
    let engine = format!(
        "{OSPREY} replay -q --pcap {{pcap}} --rules {{rules}} --eve {{eve}} --flags {{flags}}"
    );
    let mut cmd = Command::new("python3");
    cmd.arg(&runner).args(["-j", "2", "--list"]).arg(&list);
    if alert_only {
        cmd.arg("--alert-only");
    }
    let out = cmd.args(["--engine", &engine]).output().expect("python3");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let last = text
        .lines()
        .rev()
        .find(|l| l.contains(" passed, "))
        .unwrap_or_else(|| panic!("no summary from sv_run:\n{text}"));
    let nums: Vec<u32> = last
        .split([',', ' '])
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(nums.len(), 3, "{last}");
    eprintln!("{text}");
    Some((nums[0], nums[1], nums[2]))
}

#[test]
fn suricata_verify_subset_floor() {
    if let Some((pass, fail, skip)) = run_list("subset.txt", false) {
        eprintln!("suricata-verify subset: {pass} pass, {fail} fail, {skip} skipped (floor {SUBSET_FLOOR})");
        assert!(pass >= SUBSET_FLOOR, "{pass} < floor {SUBSET_FLOOR}");
    }
}

#[test]
fn suricata_verify_tier2_alert_floor() {
    if let Some((pass, fail, skip)) = run_list("tier2.txt", true) {
        eprintln!("suricata-verify tier2 (alerts): {pass} pass, {fail} fail, {skip} skipped (floor {TIER2_FLOOR})");
        assert!(pass >= TIER2_FLOOR, "{pass} < floor {TIER2_FLOOR}");
    }
}

#[test]
fn suricata_verify_extended_floor() {
    if let Some((pass, fail, skip)) = run_list("extended.txt", false) {
        eprintln!("suricata-verify extended: {pass} pass, {fail} fail, {skip} skipped (floor {EXTENDED_FLOOR})");
        assert!(pass >= EXTENDED_FLOOR, "{pass} < floor {EXTENDED_FLOOR}");
    }
}
