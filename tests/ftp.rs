//! FTP end to end: `osprey replay` over captures written here (documentation addresses) with
//! FTP rules, checked in the EVE file and `--stats-json`.
//!
//! - `a_passive_download_is_an_ftp_data_flow_with_its_file`: a control channel (banner,
//!   login, PASV, RETR) and the data connection it announced, opened before the RETR: `ftp`
//!   records per command, the data flow tagged `ftp-data` with its `ftp_data` record and a
//!   `fileinfo` record named by the RETR, FTP keywords and file keywords alert, counters.
//! - `a_bounce_and_an_endless_line_are_counted_and_inspection_goes_on`: a PORT naming a third
//!   host, a command longer than the line cap and a data flow nobody announced: `ftpbounce`
//!   and the too-long event alert, later commands are still parsed, the stray flow stays
//!   plain TCP.

mod common;

use common::{eve_records, osprey, read_json, run, write_pcap, ETHERNET};
use std::path::Path;

const CLIENT: [u8; 4] = [192, 0, 2, 10];
const SERVER: [u8; 4] = [198, 51, 100, 20];

/// Ethernet + IPv4 + TCP (checksums left 0: replayed with `checksum-off`).
fn frame(
    to_server: bool,
    ports: (u16, u16),
    flags: u8,
    seq: u32,
    ack: u32,
    payload: &[u8],
) -> Vec<u8> {
    let (src, dst, sp, dp) = if to_server {
        (CLIENT, SERVER, ports.0, ports.1)
    } else {
        (SERVER, CLIENT, ports.1, ports.0)
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

/// One TCP connection (client ports.0 → server ports.1), written step by step.
struct Conn {
    ports: (u16, u16),
    c: u32,
    s: u32,
}

impl Conn {
    fn open(ports: (u16, u16), out: &mut Vec<Vec<u8>>) -> Conn {
        let (c, s) = (1000u32, 5000u32);
        out.push(frame(true, ports, SYN, c, 0, b""));
        out.push(frame(false, ports, SYN | ACK, s, c + 1, b""));
        out.push(frame(true, ports, ACK, c + 1, s + 1, b""));
        Conn {
            ports,
            c: c + 1,
            s: s + 1,
        }
    }
    /// `bytes` from the client (or the server), acknowledged by the other side.
    fn send(&mut self, to_server: bool, bytes: &[u8], out: &mut Vec<Vec<u8>>) {
        if to_server {
            out.push(frame(true, self.ports, PSH_ACK, self.c, self.s, bytes));
            self.c += bytes.len() as u32;
            out.push(frame(false, self.ports, ACK, self.s, self.c, b""));
        } else {
            out.push(frame(false, self.ports, PSH_ACK, self.s, self.c, bytes));
            self.s += bytes.len() as u32;
            out.push(frame(true, self.ports, ACK, self.c, self.s, b""));
        }
    }
    fn close(&self, out: &mut Vec<Vec<u8>>) {
        out.push(frame(false, self.ports, FIN_ACK, self.s, self.c, b""));
        out.push(frame(true, self.ports, FIN_ACK, self.c, self.s + 1, b""));
        out.push(frame(false, self.ports, ACK, self.s + 1, self.c + 1, b""));
    }
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

fn alerts(recs: &[serde_json::Value], sid: u64) -> Vec<&serde_json::Value> {
    recs.iter()
        .filter(|r| r["event_type"] == "alert" && r["alert"]["signature_id"] == sid)
        .collect()
}

fn of_type<'a>(recs: &'a [serde_json::Value], t: &str) -> Vec<&'a serde_json::Value> {
    recs.iter().filter(|r| r["event_type"] == t).collect()
}

const CONTENT: &[u8] = b"The quick brown fox jumps over the lazy dog";
const CONTENT_MD5: &str = "9e107d9d372bb6826bd81d3542a419d6";

const RULES: &str = "\
alert ftp any any -> any any (msg:\"retr\"; flow:to_server; ftp.command; content:\"RETR\"; ftp.command_data; content:\"report\"; sid:1;)\n\
alert ftp any any -> any any (msg:\"passive port\"; flow:to_client; ftp.dynamic_port:49000-50000; ftp.mode:passive; sid:2;)\n\
alert ftp any any -> any any (msg:\"login ok\"; ftp.completion_code; content:\"230\"; ftp.reply; content:\"Login\"; sid:3;)\n\
alert ftp-data any any -> any any (msg:\"retr data\"; flow:to_client; ftpdata_command:retr; sid:4;)\n\
alert ftp-data any any -> any any (msg:\"file\"; file.name; content:\"report.txt\"; fileext:\"txt\"; sid:5;)\n\
alert ftp-data any any -> any any (msg:\"content\"; file.data; content:\"brown fox\"; sid:6;)\n\
alert ftp-data any any -> any any (msg:\"stor\"; ftpdata_command:stor; sid:7;)\n\
alert tcp any any -> any any (msg:\"bounce\"; ftpbounce; sid:8;)\n";

#[test]
fn a_passive_download_is_an_ftp_data_flow_with_its_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut f = Vec::new();
    let mut ctl = Conn::open((40000, 21), &mut f);
    ctl.send(false, b"220 Example FTP server ready\r\n", &mut f);
    ctl.send(true, b"USER anonymous\r\n", &mut f);
    ctl.send(false, b"331 Password please\r\n", &mut f);
    ctl.send(true, b"PASS guest\r\n", &mut f);
    ctl.send(false, b"230-Welcome\r\n230 Login successful.\r\n", &mut f);
    ctl.send(true, b"PASV\r\n", &mut f);
    // 195 * 256 + 80 = 50000: out of sid 2's range; the next PASV is in it.
    ctl.send(
        false,
        b"227 Entering Passive Mode (198,51,100,20,195,80).\r\n",
        &mut f,
    );
    ctl.send(true, b"PASV\r\n", &mut f);
    ctl.send(
        false,
        b"227 Entering Passive Mode (198,51,100,20,194,81).\r\n",
        &mut f,
    );
    // The client connects to 194 * 256 + 81 = 49745 before it sends RETR.
    let mut data = Conn::open((40001, 49745), &mut f);
    ctl.send(true, b"RETR report.txt\r\n", &mut f);
    ctl.send(
        false,
        b"150 Opening BINARY mode data connection\r\n",
        &mut f,
    );
    data.send(false, &CONTENT[..20], &mut f);
    data.send(false, &CONTENT[20..], &mut f);
    data.close(&mut f);
    ctl.send(false, b"226 Transfer complete.\r\n", &mut f);
    ctl.send(true, b"QUIT\r\n", &mut f);
    ctl.send(false, b"221 Goodbye.\r\n", &mut f);
    ctl.close(&mut f);
    let (recs, stats) = replay(tmp.path(), &f, RULES);

    for (sid, n) in [
        (1, 1),
        (2, 1),
        (3, 1),
        (4, 1),
        (5, 1),
        (6, 1),
        (7, 0),
        (8, 0),
    ] {
        assert_eq!(alerts(&recs, sid).len(), n, "sid {sid}: {recs:#?}");
    }
    let passive = alerts(&recs, 2)[0];
    assert_eq!(passive["ftp"]["dynamic_port"], 49745);
    assert_eq!(passive["ftp"]["mode"], "passive");
    let retr = alerts(&recs, 4)[0];
    assert_eq!(retr["app_proto"], "ftp-data");
    assert_eq!(retr["ftp_data"]["filename"], "report.txt");

    let ftp = of_type(&recs, "ftp");
    let commands: Vec<_> = ftp.iter().map(|r| r["ftp"]["command"].as_str()).collect();
    assert_eq!(
        commands,
        [
            None,
            Some("USER"),
            Some("PASS"),
            Some("PASV"),
            Some("PASV"),
            Some("RETR"),
            Some("QUIT")
        ]
    );
    let login = ftp[2];
    assert_eq!(
        login["ftp"]["completion_code"],
        serde_json::json!(["230", "230"])
    );
    assert_eq!(
        login["ftp"]["reply"],
        serde_json::json!(["Welcome", "Login successful."])
    );
    assert_eq!(ftp[5]["ftp"]["reply_received"], "yes");
    assert_eq!(
        ftp[5]["ftp"]["completion_code"],
        serde_json::json!(["150", "226"])
    );

    let fd = of_type(&recs, "ftp_data");
    assert_eq!(fd.len(), 1, "{recs:#?}");
    assert_eq!(
        fd[0]["ftp_data"],
        serde_json::json!({"filename": "report.txt", "command": "RETR"})
    );
    assert_eq!(
        (fd[0]["src_port"].as_u64(), fd[0]["dest_port"].as_u64()),
        (Some(40001), Some(49745))
    );
    let files = of_type(&recs, "fileinfo");
    assert_eq!(files.len(), 1, "{recs:#?}");
    assert_eq!(
        files[0]["src_ip"], "198.51.100.20",
        "the file travelled to the client"
    );
    assert_eq!(files[0]["app_proto"], "ftp-data");
    let fi = &files[0]["fileinfo"];
    assert_eq!(fi["filename"], "report.txt");
    assert_eq!(fi["size"], CONTENT.len() as u64);
    assert_eq!(fi["state"], "CLOSED");
    assert_eq!(fi["md5"], CONTENT_MD5);
    let flows = of_type(&recs, "flow");
    assert!(
        flows.iter().any(|r| r["app_proto"] == "ftp-data"),
        "{flows:#?}"
    );

    let c = &stats["per_worker"][0]["counters"];
    assert_eq!(c["app_layer.flow.ftp"], 1, "{c:#}");
    assert_eq!(c["app_layer.flow.ftp-data"], 1);
    assert_eq!(c["app_layer.tx.ftp"], 7);
    assert_eq!(c["ftp.reply_without_command"], 1);
    assert_eq!(c["ftp.expect.created"], 1);
    assert_eq!(c["ftp.expect.matched"], 1);
    assert_eq!(c["ftp.bounce"], 0);
    assert_eq!(c["files.closed"], 1);
}

#[test]
fn a_bounce_and_an_endless_line_are_counted_and_inspection_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = format!(
        "{RULES}alert ftp any any -> any any (msg:\"too long\"; flow:to_server; app-layer-event:ftp.request_command_too_long; sid:9;)\n\
         alert ftp any any -> any any (msg:\"noop\"; ftp.command; content:\"NOOP\"; sid:10;)\n"
    );
    let mut f = Vec::new();
    let mut ctl = Conn::open((40000, 21), &mut f);
    ctl.send(false, b"220 Example FTP server ready\r\n", &mut f);
    // PORT naming 203.0.113.5:80, another host than the client.
    ctl.send(true, b"PORT 203,0,113,5,0,80\r\n", &mut f);
    ctl.send(false, b"200 PORT command successful.\r\n", &mut f);
    let mut long = b"RETR ".to_vec();
    long.extend_from_slice(&[b'x'; 10_000]);
    for piece in long.chunks(1400) {
        ctl.send(true, piece, &mut f);
    }
    ctl.send(true, b"\r\n", &mut f);
    ctl.send(false, b"550 No such file.\r\n", &mut f);
    ctl.send(true, b"NOOP\r\n", &mut f);
    ctl.send(false, b"200 NOOP ok.\r\n", &mut f);
    // A data-looking flow nobody announced stays plain TCP.
    let mut stray = Conn::open((40002, 60000), &mut f);
    stray.send(false, CONTENT, &mut f);
    stray.close(&mut f);
    ctl.close(&mut f);
    let (recs, stats) = replay(tmp.path(), &f, &rules);

    for (sid, n) in [(8, 1), (9, 1), (10, 1), (4, 0), (6, 0)] {
        assert_eq!(alerts(&recs, sid).len(), n, "sid {sid}: {recs:#?}");
    }
    assert_eq!(alerts(&recs, 8)[0]["ftp"]["command"], "PORT");
    let retr = of_type(&recs, "ftp")
        .into_iter()
        .find(|r| r["ftp"]["command"] == "RETR")
        .expect("the long RETR is a transaction");
    assert_eq!(retr["ftp"]["command_truncated"], true);
    assert_eq!(
        retr["ftp"]["command_data"].as_str().map(str::len),
        Some(4096 - 5)
    );
    assert!(
        of_type(&recs, "anomaly")
            .iter()
            .any(|r| r["anomaly"]["event"] == "request_command_too_long"),
        "{recs:#?}"
    );
    assert!(of_type(&recs, "ftp_data").is_empty());
    let c = &stats["per_worker"][0]["counters"];
    assert_eq!(c["ftp.bounce"], 1, "{c:#}");
    assert_eq!(c["ftp.limit"], 1);
    assert_eq!(c["app_layer.flow.ftp-data"], 0);
    assert_eq!(c["ftp.expect.matched"], 0);
}
