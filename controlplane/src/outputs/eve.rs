//! EVE JSON file output behind the ingest stage: one JSON object per line with Suricata's
//! field names, so existing tooling reads it. The file rotates by size: `eve.json` →
//! `eve.json.1` → ... → `eve.json.N` (oldest dropped).
//!
//! Records are written as the workers rendered them (alerts, flows, app-layer transactions,
//! anomalies), with the one EVE writer ([`vocab::eve`]), so `osprey run` writes what
//! `osprey replay --eve` writes. A record that reached the control plane without its worker
//! rendering (an alert whose line a full EVE ring dropped in live mode) is rendered here, with
//! the same writer, from what was stored.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use vocab::eve::{Envelope, Json};

use crate::config::EveConfig;
use crate::error::{Error, Kind, Result};
use crate::model::{Action, Alert, FlowRecord};

/// Standard base64 with padding (EVE's `payload` field).
fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Appends the EVE record of an alert stored without its worker rendering (no newline).
pub fn render_alert(a: &Alert, out: &mut Vec<u8>) {
    let action = match a.action {
        Action::Drop | Action::Reject => "blocked",
        Action::Alert | Action::Pass => "allowed",
    };
    let mut j = Json::new(out);
    j.envelope(Envelope {
        ts_nanos: a.ts_nanos,
        flow_id: a.flow_id,
        pcap_cnt: a.packet_no,
        event_type: "alert",
        src: a.src_ip,
        src_port: a.src_port,
        dst: a.dst_ip,
        dst_port: a.dst_port,
        proto: a.proto,
        vlan: &[],
        icmp: None,
    });
    j.str("direction", a.direction.as_str());
    j.object("alert")
        .str("action", action)
        .u64("gid", u64::from(a.gid))
        .u64("signature_id", u64::from(a.sid))
        .u64("rev", u64::from(a.rev))
        .str("signature", &a.msg)
        .str("category", &a.category)
        .u64("severity", u64::from(a.severity))
        .close();
    if !a.app_proto.is_empty() {
        j.str("app_proto", &a.app_proto);
    }
    if !a.payload.is_empty() {
        j.str("payload", &base64(&a.payload));
    }
    j.end();
}

/// Appends the EVE record of a flow stored without its worker rendering (no newline).
pub fn render_flow(f: &FlowRecord, out: &mut Vec<u8>) {
    let mut j = Json::new(out);
    j.envelope(Envelope {
        ts_nanos: f.end_nanos,
        flow_id: f.flow_id,
        pcap_cnt: 0,
        event_type: "flow",
        src: f.src_ip,
        src_port: f.src_port,
        dst: f.dst_ip,
        dst_port: f.dst_port,
        proto: f.proto,
        vlan: &[],
        icmp: None,
    });
    if !f.app_proto.is_empty() {
        j.str("app_proto", &f.app_proto);
    }
    j.object("flow")
        .u64("pkts_toserver", f.pkts_toserver)
        .u64("pkts_toclient", f.pkts_toclient)
        .u64("bytes_toserver", f.bytes_toserver)
        .u64("bytes_toclient", f.bytes_toclient)
        .timestamp("start", f.start_nanos)
        .timestamp("end", f.end_nanos)
        .u64(
            "age",
            (f.end_nanos / 1_000_000_000).saturating_sub(f.start_nanos / 1_000_000_000),
        )
        .str("state", f.state.as_str())
        .str("reason", f.reason.as_str())
        .bool("alerted", f.alerted)
        .close();
    j.end();
}

/// Appending, rotating EVE writer. Not shared: the ingest thread owns it.
pub struct EveWriter {
    path: PathBuf,
    rotate_bytes: u64,
    keep: u32,
    out: BufWriter<File>,
    written: u64,
    pub rotations: u64,
    /// The line being written (reused).
    line: Vec<u8>,
}

impl std::fmt::Debug for EveWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EveWriter")
            .field("path", &self.path)
            .finish()
    }
}

fn io_err(what: &str, path: &std::path::Path, e: std::io::Error) -> Error {
    Error::new(Kind::Storage, format!("{what} {}: {e}", path.display()))
}

impl EveWriter {
    pub fn open(cfg: &EveConfig) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cfg.path)
            .map_err(|e| io_err("opening EVE output", &cfg.path, e))?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(EveWriter {
            path: cfg.path.clone(),
            rotate_bytes: cfg.rotate_bytes,
            keep: cfg.keep,
            out: BufWriter::with_capacity(1 << 16, file),
            written,
            rotations: 0,
            line: Vec::new(),
        })
    }

    /// Writes an alert: the worker's own rendering when it has one, else [`render_alert`].
    pub fn write_alert(&mut self, a: &Alert) -> Result<()> {
        self.write_record(&a.eve, |out| render_alert(a, out))
    }

    /// Writes a flow: the worker's own rendering when it has one, else [`render_flow`].
    pub fn write_flow(&mut self, f: &FlowRecord) -> Result<()> {
        self.write_record(&f.eve, |out| render_flow(f, out))
    }

    fn write_record(&mut self, rendered: &str, fallback: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let rendered = rendered.trim_end();
        if rendered.is_empty() {
            fallback(&mut line);
        } else {
            line.extend_from_slice(rendered.as_bytes());
        }
        line.push(b'\n');
        let r = self.write_lines(&line);
        self.line = line;
        r
    }

    /// Writes complete, newline-terminated lines as they are (records the workers
    /// rendered), rotating first if the file is full.
    pub fn write_lines(&mut self, lines: &[u8]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        if self.rotate_bytes > 0 && self.written >= self.rotate_bytes {
            self.rotate()?;
        }
        self.out
            .write_all(lines)
            .map_err(|e| io_err("writing EVE output", &self.path, e))?;
        self.written += lines.len() as u64;
        Ok(())
    }

    pub fn flush(&mut self) -> Result<()> {
        self.out
            .flush()
            .map_err(|e| io_err("flushing EVE output", &self.path, e))
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    fn rotate(&mut self) -> Result<()> {
        self.flush()?;
        if self.keep == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            let _ = std::fs::remove_file(self.rotated(self.keep));
            for n in (1..self.keep).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    std::fs::rename(&from, self.rotated(n + 1))
                        .map_err(|e| io_err("rotating EVE output", &from, e))?;
                }
            }
            std::fs::rename(&self.path, self.rotated(1))
                .map_err(|e| io_err("rotating EVE output", &self.path, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| io_err("opening EVE output", &self.path, e))?;
        self.out = BufWriter::with_capacity(1 << 16, file);
        self.written = 0;
        self.rotations += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_renderings_are_written_as_they_are_and_the_rest_rendered() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = EveConfig {
            enabled: true,
            path: dir.path().join("eve.json"),
            rotate_bytes: 0,
            keep: 0,
        };
        let mut w = EveWriter::open(&cfg).unwrap();
        let rendered = r#"{"timestamp":"x","event_type":"alert","flow":{"pkts_toserver":3}}"#;
        let a = Alert {
            sid: 42,
            eve: format!("{rendered}\n"),
            ..Alert::default()
        };
        w.write_alert(&a).unwrap();
        let plain = Alert {
            sid: 43,
            payload: b"GET".to_vec(),
            ..Alert::default()
        };
        w.write_alert(&plain).unwrap();
        w.flush().unwrap();
        let text = std::fs::read_to_string(&cfg.path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], rendered, "the worker's line, unchanged");
        let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(v["alert"]["signature_id"], 43);
        assert_eq!(v["payload"], "R0VU");
        assert!(v.get("osprey").is_none());
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn rotates_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = EveConfig {
            enabled: true,
            path: dir.path().join("eve.json"),
            rotate_bytes: 300,
            keep: 2,
        };
        let mut w = EveWriter::open(&cfg).unwrap();
        let a = Alert {
            sid: 42,
            msg: "test".into(),
            ..Alert::default()
        };
        for _ in 0..20 {
            w.write_alert(&a).unwrap();
        }
        w.flush().unwrap();
        assert!(w.rotations >= 3);
        assert!(dir.path().join("eve.json.1").exists());
        assert!(dir.path().join("eve.json.2").exists());
        assert!(!dir.path().join("eve.json.3").exists());
        let text = std::fs::read_to_string(dir.path().join("eve.json.1")).unwrap();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["event_type"], "alert");
            assert_eq!(v["alert"]["signature_id"], 42);
        }
    }
}
