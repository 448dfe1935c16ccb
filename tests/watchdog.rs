//! The stall watchdog end to end: `osprey run` looping the demo capture with one worker made
//! to stall once (the test-only `OSPREY_TEST_STALL_WORKER`), `[runtime] watchdog = "1s"`.
//! The stall must show in `osprey ctl status` (component `workers`, naming the worker), in
//! `/metrics` (`osprey_worker_stalled`, `osprey_degraded`, `osprey_worker_stalls_total`) and
//! once in the log, and clear when the worker moves again.

mod common;

use common::{osprey, sample, signal, wait_for_addresses, wait_within};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A plain HTTP/1.0 GET; returns the whole response.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The value of metric line `series` (name with labels) in an exposition.
fn metric(body: &str, series: &str) -> Option<u64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

struct Appliance {
    child: Child,
    api: String,
    metrics: String,
}

impl Drop for Appliance {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Appliance {
    fn status(&self) -> serde_json::Value {
        let out = osprey()
            .args([
                "ctl",
                "--endpoint",
                &format!("http://{}", self.api),
                "--json",
                "status",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The `workers` component of the status, if reported.
    fn workers_health(&self) -> Option<serde_json::Value> {
        self.status()["health"]
            .as_array()?
            .iter()
            .find(|h| h["component"] == "workers")
            .cloned()
    }

    /// Polls until `want` holds of the `workers` component, within `limit`.
    fn wait_workers(
        &self,
        limit: Duration,
        want: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(h) = self.workers_health().filter(|h| want(h)) {
                return h;
            }
            assert!(Instant::now() < deadline, "last status: {}", self.status());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn a_stalled_worker_is_reported_once_and_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("osprey.toml");
    std::fs::write(
        &cfg,
        format!(
            "[capture]\nmode = \"replay\"\npcap = {:?}\nloop = true\nworkers = 1\n\
             [runtime]\nwatchdog = \"1s\"\n\
             [api]\nlisten = \"127.0.0.1:0\"\nallow_plaintext = true\n\
             [auth]\nanonymous_role = \"admin\"\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\n\
             [storage]\npath = {:?}\n\
             [rules]\nfiles = [{:?}]\n",
            sample("demo.pcap"),
            dir.path().join("db"),
            sample("demo.rules"),
        ),
    )
    .unwrap();
    let addr_file = dir.path().join("addr.json");
    let log = dir.path().join("stderr.log");
    let child = osprey()
        .env(dataplane::worker::TEST_STALL_ENV, "0:5000")
        .args(["run", "--seconds", "60", "-c"])
        .arg(&cfg)
        .arg("--addr-file")
        .arg(&addr_file)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut app = Appliance {
        child,
        api: String::new(),
        metrics: String::new(),
    };
    let v = wait_for_addresses(&mut app.child, &addr_file);
    app.api = v["api"].as_str().unwrap().to_owned();
    app.metrics = v["metrics"].as_str().unwrap().to_owned();

    let stalled = app.wait_workers(Duration::from_secs(60), |h| h["state"] == "degraded");
    let reason = stalled["reason"].as_str().unwrap();
    assert!(reason.contains("w0 made no progress for"), "{reason}");
    assert!(stalled["since_nanos"].as_u64().unwrap() > 0);
    assert_eq!(app.status()["state"], "degraded");
    let m = http_get(&app.metrics, "/metrics");
    assert_eq!(
        metric(&m, "osprey_worker_stalled{worker=\"w0\"}"),
        Some(1),
        "{m}"
    );
    assert_eq!(
        metric(&m, "osprey_degraded{component=\"workers\"}"),
        Some(1)
    );

    // The worker sleeps 5 s in all: it moves again and the report clears.
    app.wait_workers(Duration::from_secs(30), |h| h["state"] == "ok");
    let m = http_get(&app.metrics, "/metrics");
    assert_eq!(
        metric(&m, "osprey_worker_stalled{worker=\"w0\"}"),
        Some(0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "osprey_degraded{component=\"workers\"}"),
        Some(0)
    );
    assert_eq!(metric(&m, "osprey_worker_stalls_total"), Some(1));

    let _ = signal(&app.child, "-TERM");
    let st = wait_within(&mut app.child, Duration::from_secs(120)).expect("osprey run stops");
    assert!(st.success(), "{st:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("worker stalled").count(), 1, "{text}");
    assert_eq!(text.matches("progressing again").count(), 1, "{text}");
}
