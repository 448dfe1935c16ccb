//! Files end to end: `osprey replay` over captures written here (HTTP/1 between documentation
//! addresses) with file keywords, checked in the EVE file and `--stats-json`.
//!
//! - `a_listed_file_alerts_and_is_logged_with_its_hashes`: a response body whose MD5 is in a
//!   `filemd5` list alerts, `fileext`/`filesize` rules alert or stay silent as they should,
//!   and the `fileinfo` record carries name, size, state and digests; counters `files.*`.
//! - `a_gap_in_a_body_truncates_the_file`: a lost segment inside a Content-Length body gives a
//!   `TRUNCATED` file with `gaps`, no digests, and no `filemd5` alert.
//! - `multipart_uploads_are_files`: the file part of a `multipart/form-data` POST is a file
//!   named by its part's `Content-Disposition`, travelling client → server.

mod common;

use common::{eve_records, osprey, read_json, run, write_pcap, ETHERNET};
use std::path::Path;

const CLIENT: [u8; 4] = [192, 0, 2, 10];
const SERVER: [u8; 4] = [198, 51, 100, 20];

/// Ethernet + IPv4 + TCP (checksums left 0: replayed with `checksum-off`).
fn frame(to_server: bool, flags: u8, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sp, dp) = if to_server {
        (CLIENT, SERVER, 40000u16, 80u16)
    } else {
        (SERVER, CLIENT, 80, 40000)
    };
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 20 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sp.to_be_bytes());
    f.extend_from_slice(&dp.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[5 << 4, flags]);
    f.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const FIN_ACK: u8 = 0x11;

/// A whole HTTP exchange: handshake, request, the response in `pieces` (each `Some` piece
/// sent, each `None` piece's bytes never sent), acknowledgements, close.
fn exchange(request: &[u8], pieces: &[(&[u8], bool)]) -> Vec<Vec<u8>> {
    let (mut c, mut s) = (1000u32, 5000u32);
    let mut out = vec![
        frame(true, SYN, c, 0, b""),
        frame(false, SYN | ACK, s, c + 1, b""),
    ];
    c += 1;
    s += 1;
    out.push(frame(true, ACK, c, s, b""));
    out.push(frame(true, PSH_ACK, c, s, request));
    c += request.len() as u32;
    out.push(frame(false, ACK, s, c, b""));
    for (bytes, sent) in pieces {
        if *sent {
            out.push(frame(false, PSH_ACK, s, c, bytes));
        }
        s += bytes.len() as u32;
        out.push(frame(true, ACK, c, s, b""));
    }
    out.push(frame(false, FIN_ACK, s, c, b""));
    out.push(frame(true, FIN_ACK, c, s + 1, b""));
    out.push(frame(false, ACK, s + 1, c + 1, b""));
    out
}

fn replay(
    dir: &Path,
    frames: &[Vec<u8>],
    rules: &str,
) -> (Vec<serde_json::Value>, serde_json::Value) {
    let pcap = dir.join("in.pcap");
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    write_pcap(&pcap, ETHERNET, &refs);
    let rules_path = dir.join("t.rules");
    std::fs::write(&rules_path, rules).unwrap();
    let (eve, stats) = (dir.join("eve.json"), dir.join("stats.json"));
    let out = run(osprey()
        .args(["replay", "-q", "--flags", "checksum-off", "--pcap"])
        .arg(&pcap)
        .arg("--rules")
        .arg(&rules_path)
        .arg("--eve")
        .arg(&eve)
        .arg("--stats-json")
        .arg(&stats));
    assert!(out.status.success(), "replay failed");
    (eve_records(&eve), read_json(&stats))
}

fn alerted(recs: &[serde_json::Value], sid: u64) -> usize {
    recs.iter()
        .filter(|r| r["event_type"] == "alert" && r["alert"]["signature_id"] == sid)
        .count()
}

const BODY: &[u8] = b"The quick brown fox jumps over the lazy dog";
const BODY_MD5: &str = "9e107d9d372bb6826bd81d3542a419d6";

const RULES: &str = "\
alert http any any -> any any (msg:\"listed file\"; filemd5:listed.md5; sid:1;)\n\
alert http any any -> any any (msg:\"pdf\"; fileext:\"PDF\"; sid:2;)\n\
alert http any any -> any any (msg:\"not exe\"; fileext:!\"exe\"; sid:3;)\n\
alert http any any -> any any (msg:\"small\"; filesize:<100; sid:4;)\n\
alert http any any -> any any (msg:\"large\"; filesize:>100; sid:5;)\n\
alert http any any -> any any (msg:\"named\"; filename:\"report\"; filestore; sid:6;)\n";

#[test]
fn a_listed_file_alerts_and_is_logged_with_its_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("listed.md5"),
        format!("# known bad\n{BODY_MD5}\n"),
    )
    .unwrap();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: {}\r\n\r\n",
        BODY.len()
    );
    let frames = exchange(
        b"GET /docs/Report.pdf?x=1 HTTP/1.1\r\nHost: files.example\r\n\r\n",
        &[
            (head.as_bytes(), true),
            (&BODY[..20], true),
            (&BODY[20..], true),
        ],
    );
    let (recs, stats) = replay(tmp.path(), &frames, RULES);
    for (sid, n) in [(1, 1), (2, 1), (3, 1), (4, 1), (5, 0), (6, 1)] {
        assert_eq!(alerted(&recs, sid), n, "sid {sid}: {recs:#?}");
    }
    let files: Vec<_> = recs
        .iter()
        .filter(|r| r["event_type"] == "fileinfo")
        .collect();
    assert_eq!(files.len(), 1, "{recs:#?}");
    let f = files[0];
    assert_eq!(
        f["src_ip"], "198.51.100.20",
        "the file travelled to the client"
    );
    assert_eq!(f["app_proto"], "http");
    assert_eq!(f["http"]["hostname"], "files.example");
    let fi = &f["fileinfo"];
    assert_eq!(fi["filename"], "/docs/Report.pdf");
    assert_eq!(fi["size"], BODY.len() as u64);
    assert_eq!(
        (fi["state"].as_str(), fi["gaps"].as_bool()),
        (Some("CLOSED"), Some(false))
    );
    assert_eq!(fi["md5"], BODY_MD5);
    assert_eq!(fi["sha1"], "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
    assert_eq!(
        fi["sha256"],
        "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"
    );
    assert_eq!(
        (fi["stored"].as_bool(), fi["tx_id"].as_u64()),
        (Some(false), Some(0))
    );
    let c = &stats["per_worker"][0]["counters"];
    assert_eq!(c["files.open"], 1, "{c:#}");
    assert_eq!(c["files.closed"], 1);
    assert_eq!(c["files.bytes"], BODY.len() as u64);
    assert_eq!(c["files.truncated"], 0);
}

#[test]
fn a_gap_in_a_body_truncates_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("listed.md5"), format!("{BODY_MD5}\n")).unwrap();
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", BODY.len());
    let frames = exchange(
        b"GET /report.pdf HTTP/1.1\r\nHost: files.example\r\n\r\n",
        &[
            (head.as_bytes(), true),
            (&BODY[..10], true),
            (&BODY[10..20], false),
            (&BODY[20..], true),
        ],
    );
    let (recs, stats) = replay(tmp.path(), &frames, RULES);
    assert_eq!(alerted(&recs, 1), 0, "no digest of a file with a hole");
    assert_eq!(alerted(&recs, 4), 1, "its size is known");
    let fi = &recs
        .iter()
        .find(|r| r["event_type"] == "fileinfo")
        .unwrap_or_else(|| panic!("no fileinfo: {recs:#?}"))["fileinfo"];
    assert_eq!(fi["state"], "TRUNCATED");
    assert_eq!(fi["gaps"], true);
    assert_eq!(fi["size"], BODY.len() as u64);
    assert!(
        fi.get("md5").is_none() && fi.get("sha256").is_none(),
        "{fi}"
    );
    let c = &stats["per_worker"][0]["counters"];
    assert_eq!(
        (c["files.truncated"].as_u64(), c["files.closed"].as_u64()),
        (Some(1), Some(0))
    );
}

#[test]
fn multipart_uploads_are_files() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("listed.md5"), format!("{BODY_MD5}\n")).unwrap();
    let mut body = b"--b0undary\r\nContent-Disposition: form-data; name=\"c\"\r\n\r\nfield\r\n\
--b0undary\r\nContent-Disposition: form-data; name=\"f\"; filename=\"up.PDF\"\r\n\
Content-Type: application/pdf\r\n\r\n"
        .to_vec();
    body.extend_from_slice(BODY);
    body.extend_from_slice(b"\r\n--b0undary--\r\n");
    let mut request = format!(
        "POST /upload HTTP/1.1\r\nHost: files.example\r\n\
         Content-Type: multipart/form-data; boundary=b0undary\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let frames = exchange(
        &request,
        &[(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true)],
    );
    let (recs, _) = replay(tmp.path(), &frames, RULES);
    let files: Vec<_> = recs
        .iter()
        .filter(|r| r["event_type"] == "fileinfo")
        .collect();
    assert_eq!(files.len(), 1, "only the part with a filename: {recs:#?}");
    assert_eq!(files[0]["src_ip"], "192.0.2.10", "uploaded by the client");
    let fi = &files[0]["fileinfo"];
    assert_eq!(fi["filename"], "up.PDF");
    assert_eq!(fi["size"], BODY.len() as u64);
    assert_eq!(fi["md5"], BODY_MD5);
    assert_eq!((alerted(&recs, 1), alerted(&recs, 2)), (1, 1));
}
