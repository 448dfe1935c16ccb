//! `osprey run` on the embedded default serves the web console: its address is in the
//! address file (key `console`), the REST API answers the local (anonymous, loopback)
//! administrator with the alerts the demo capture raises, and Prometheus counts the
//! console's requests. Plain HTTP/1.1 over a socket: the client is as simple as curl.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{osprey_run, signal, spawn, wait_for_addresses};

/// `GET path` on `addr`: the status code and the body.
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    let status = r
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = r.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

#[test]
fn osprey_run_serves_the_console_and_its_api() {
    let dir = tempfile::tempdir().unwrap();
    let addr_file = dir.path().join("addrs.json");
    let mut child = spawn(
        osprey_run(&dir.path().join("db"))
            .args(["--seconds", "60", "--addr-file"])
            .arg(&addr_file),
    );
    let addrs = wait_for_addresses(&mut child, &addr_file);
    let console = addrs["console"]
        .as_str()
        .expect("console address")
        .to_owned();
    let metrics = addrs["metrics"].as_str().unwrap().to_owned();

    let (code, body) = get(&console, "/api/v1/status");
    assert_eq!(code, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        status["version"].as_str().is_some_and(|v| !v.is_empty()),
        "{status}"
    );
    assert_eq!(status["mode"], "replay", "{status}");

    // The demo capture raises alerts; they reach the REST API.
    let deadline = Instant::now() + Duration::from_secs(60);
    let page = loop {
        let (code, body) = get(&console, "/api/v1/alerts?page_size=5");
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if !v["items"].as_array().unwrap().is_empty() {
            break v;
        }
        assert!(Instant::now() < deadline, "no alerts: {v}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(page["items"][0]["sid"].as_u64().unwrap() > 0, "{page}");
    let (code, body) = get(&console, "/api/v1/alerts?page_size=100000");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("\"field\":\"page_size\""), "{body}");
    let (code, body) = get(&console, "/");
    assert_eq!(code, 200, "{body}");

    let (_, m) = get(&metrics, "/metrics");
    assert!(
        m.contains("osprey_console_requests_total{route=\"/api/v1/alerts\",status=\"200\"}"),
        "{m}"
    );
    assert!(m.contains("osprey_console_ws_clients 0"), "{m}");

    assert!(signal(&child, "-TERM"));
    let st = child.wait().unwrap();
    assert!(st.success(), "exit {st:?}");
}
