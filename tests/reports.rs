//! Reports end to end: `osprey run` replays the demo capture (paced, looping, with the demo
//! rules) into its store; `osprey ctl report` generates HTML and PDF reports whose top
//! signature and counts match a store query (`osprey ctl alerts query`); a range without
//! data gives the empty-state text; bad ranges are refused with InvalidArgument; a short
//! `[reports] schedule` stores reports that `osprey ctl reports list` shows; the metrics and
//! the audit log count them.
//!
//! The PDF is printed by Debian's headless `chromium` and read back with `pdftotext`
//! (poppler-utils), both installed by deploy/install-deps.sh. Without them the PDF checks
//! are skipped with a note, except under `CI`, where they fail.

mod common;

use std::path::Path;
use std::process::{Child, Output};
use std::time::Duration;

use common::{osprey, sample, spawn, wait_for_addresses, write_replay_config};

const SEC: u64 = 1_000_000_000;

/// Kills `osprey run` when the test ends, whatever happens.
struct Appliance(Child);

impl Drop for Appliance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path) -> (Appliance, String, String) {
    let cfg = dir.join("osprey.toml");
    write_replay_config(
        &cfg,
        &sample("demo-mix.pcap"),
        &format!(
            "loop = true\npace = \"capture\"\nspeed = 40\n[dpdk]\nno_huge = true\nno_pci = true\n\
             [auth]\nanonymous_role = \"admin\"\n\
             [reports]\nschedule = [\"every 3s\"]\nformats = [\"html\"]\nsample_secs = 1\n\
             [rules]\nfiles = [{:?}, {:?}]\n",
            sample("demo.rules").display().to_string(),
            sample("et-demo.rules").display().to_string()
        ),
    );
    let addr_file = dir.join("addr.json");
    let mut child = spawn(
        common::osprey_run(&dir.join("data"))
            .arg("-c")
            .arg(&cfg)
            .arg("--addr-file")
            .arg(&addr_file)
            .args(["--seconds", "120"]),
    );
    let a = wait_for_addresses(&mut child, &addr_file);
    let api = format!("http://{}", a["api"].as_str().unwrap());
    let metrics = a["metrics"].as_str().unwrap().to_owned();
    (Appliance(child), api, metrics)
}

fn ctl(api: &str, args: &[&str]) -> Output {
    let out = osprey()
        .args(["ctl", "--endpoint", api])
        .args(args)
        .output()
        .expect("osprey ctl");
    eprintln!(
        "ctl {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ctl_json(api: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = ctl(api, &all);
    assert!(out.status.success(), "ctl {args:?} failed");
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// Alerts of `sid` stored in `[from, to)`, counted page by page through the API.
fn stored_alerts(api: &str, sid: &str, from: u64, to: u64) -> u64 {
    let (since, until) = (format!("{from}ns"), format!("{to}ns"));
    let mut n = 0;
    let mut token = String::new();
    loop {
        let mut args = vec![
            "alerts", "query", "--since", &since, "--until", &until, "--sid", sid, "--limit",
            "1000",
        ];
        if !token.is_empty() {
            args.extend_from_slice(&["--page-token", &token]);
        }
        let v = ctl_json(api, &args);
        n += v["alerts"].as_array().unwrap().len() as u64;
        token = v["next_page_token"].as_str().unwrap_or("").to_owned();
        if token.is_empty() {
            return n;
        }
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The (gid:sid, signature, count) rows of the report's top-signatures table.
fn top_rows(html: &str) -> Vec<(String, String, u64)> {
    let table = html
        .split("<th>gid:sid</th>")
        .nth(1)
        .expect("a top-signatures table");
    let table = &table[..table.find("</table>").unwrap()];
    table
        .split("<tr><td>")
        .skip(1)
        .map(|row| {
            let cells: Vec<&str> = row
                .split("</td>")
                .map(|c| c.rsplit('>').next().unwrap_or(c))
                .collect();
            (
                cells[0].to_owned(),
                cells[1].to_owned(),
                cells[2].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn reports_summarise_the_store_and_are_stored_listed_and_scheduled() {
    let tmp = tempfile::tempdir().unwrap();
    let started = now_ns();
    let (_osprey, api, metrics) = start(tmp.path());
    // Two passes of the capture at 40× (8 s each), then a range that ingest has finished.
    std::thread::sleep(Duration::from_secs(12));
    let (from, to) = (started, now_ns() - SEC);
    std::thread::sleep(Duration::from_secs(1));

    let html_path = tmp.path().join("r.html");
    let out = ctl(
        &api,
        &[
            "report",
            "--from",
            &format!("{from}ns"),
            "--to",
            &format!("{to}ns"),
            "--format",
            "html",
            "-o",
            html_path.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && !html.contains("<script"));
    let rows = top_rows(&html);
    assert!(!rows.is_empty(), "no signatures in {html}");
    for w in rows.windows(2) {
        assert!(w[0].2 >= w[1].2, "ordered by count: {rows:?}");
    }
    // The counts are the store's.
    for (key, msg, count) in rows.iter().take(3) {
        let sid = key.split(':').nth(1).unwrap();
        assert_eq!(
            stored_alerts(&api, sid, from, to),
            *count,
            "{msg} ({key}) in the report and in the store"
        );
    }
    let (top_key, top_msg, top_count) = rows[0].clone();
    assert!(top_count > 0);

    pdf_matches(&api, tmp.path(), from, to, &top_msg, top_count);
    empty_and_bad_ranges(&api, tmp.path(), &top_key);
    scheduled_and_counted(&api, &metrics);
}

/// The PDF of the same range has the same top signature and count in its text.
fn pdf_matches(api: &str, dir: &Path, from: u64, to: u64, msg: &str, count: u64) {
    let have = |bin: &str| {
        std::process::Command::new(bin)
            .arg("--version")
            .output()
            .is_ok()
    };
    if !(have("chromium") && have("pdftotext")) {
        let note = "PDF report checks need chromium and pdftotext (deploy/install-deps.sh)";
        assert!(!vocab::testing::in_ci(), "{note}");
        eprintln!("skipped: {note}");
        return;
    }
    let pdf = dir.join("r.pdf");
    let out = ctl(
        api,
        &[
            "report",
            "--from",
            &format!("{from}ns"),
            "--to",
            &format!("{to}ns"),
            "--format",
            "pdf",
            "-o",
            pdf.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "a PDF report");
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF"));
    let text = std::process::Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    // pdftotext may break a long line; compare words.
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let flat = words(&text);
    assert!(
        flat.contains(&words(msg)),
        "{msg} not in the PDF text:\n{text}"
    );
    assert!(
        text.lines().any(|l| l.trim() == count.to_string()),
        "count {count} not in the PDF text:\n{text}"
    );
}

/// A range without data is a report saying so; reversed and absurd ranges are refused.
fn empty_and_bad_ranges(api: &str, dir: &Path, top_key: &str) {
    let empty = dir.join("empty.html");
    let out = ctl(
        api,
        &[
            "report",
            "--from",
            "2030-01-01T00:00:00Z",
            "--to",
            "2030-01-02T00:00:00Z",
            "-o",
            empty.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "an empty range is not an error");
    let html = std::fs::read_to_string(&empty).unwrap();
    assert!(html.contains("No data in this range."));
    assert!(!html.contains(top_key), "no alerts listed");
    for (from, to, what) in [
        (
            "2030-01-02T00:00:00Z",
            "2030-01-01T00:00:00Z",
            "must be before",
        ),
        (
            "2000-01-01T00:00:00Z",
            "2030-01-01T00:00:00Z",
            "longer than",
        ),
    ] {
        let out = ctl(
            api,
            &["report", "--from", from, "--to", to, "-o", "/dev/null"],
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("InvalidArgument") && err.contains(what),
            "{err}"
        );
    }
}

/// Scheduled reports are listed; the metrics and the audit log count what was generated.
fn scheduled_and_counted(api: &str, metrics: &str) {
    let list = ctl_json(api, &["reports", "list"]);
    let reports = list["reports"].as_array().unwrap();
    let scheduled: Vec<_> = reports
        .iter()
        .filter(|r| r["origin"] == "schedule every 3s")
        .collect();
    assert!(!scheduled.is_empty(), "no scheduled report in {list}");
    for r in &scheduled {
        assert_eq!(
            r["to_ns"].as_u64().unwrap() - r["from_ns"].as_u64().unwrap(),
            3 * SEC
        );
        assert_eq!(r["sha256"].as_str().unwrap().len(), 64);
    }
    // A stored report reads back with the SHA-256 it was listed with.
    let id = scheduled[0]["id"].to_string();
    let got = ctl_json(api, &["reports", "get", &id, "-o", "/dev/null"]);
    assert_eq!(got["sha256"], scheduled[0]["sha256"]);

    let body = common::scrape_metrics(metrics);
    let value = |name: &str| -> u64 {
        body.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} not in /metrics"))
            .trim()
            .parse()
            .unwrap()
    };
    let generated = value("osprey_reports_generated_total{format=\"html\"}");
    assert!(generated >= scheduled.len() as u64 + 2, "{generated}");
    assert_eq!(value("osprey_reports_failed_total{format=\"html\"}"), 0);
    let stats = ctl_json(api, &["stats"]).to_string();
    assert!(stats.contains("reports.generated.html"), "{stats}");
    let audit = ctl_json(api, &["audit", "--method", "ReportService/Generate"]);
    assert!(
        audit.to_string().contains("ReportService/Generate"),
        "{audit}"
    );
}
