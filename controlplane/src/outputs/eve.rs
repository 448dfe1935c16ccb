//! EVE JSON file output behind the ingest stage: one JSON object per line with Suricata's
//! field names (`event_type` alert and flow), so existing tooling reads it. The file rotates
//! by size: `eve.json` → `eve.json.1` → ... → `eve.json.N` (oldest dropped).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use serde_json::json;

use crate::config::EveConfig;
use crate::error::{Error, Kind, Result};
use crate::model::{Action, Alert, FlowRecord};
use vocab::calendar::eve_timestamp as format_timestamp;
use vocab::proto::name as proto_name;

/// Standard base64 with padding (EVE's `payload` field).
fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The EVE object for an alert.
pub fn alert_json(a: &Alert) -> serde_json::Value {
    let action = match a.action {
        Action::Drop | Action::Reject => "blocked",
        Action::Alert | Action::Pass => "allowed",
    };
    let mut v = json!({
        "timestamp": format_timestamp(a.ts_nanos),
        "flow_id": a.flow_id,
        "event_type": "alert",
        "src_ip": a.src_ip.to_string(),
        "src_port": a.src_port,
        "dest_ip": a.dst_ip.to_string(),
        "dest_port": a.dst_port,
        "proto": proto_name(a.proto),
        "direction": a.direction.as_str(),
        "pcap_cnt": a.packet_no,
        "alert": {
            "action": action,
            "gid": a.gid,
            "signature_id": a.sid,
            "rev": a.rev,
            "signature": a.msg,
            "category": a.category,
            "severity": a.severity,
        },
        "osprey": { "alert_id": a.id, "worker": a.worker, "ruleset_generation": a.generation },
    });
    if !a.app_proto.is_empty() {
        v["app_proto"] = json!(a.app_proto);
    }
    if !a.payload.is_empty() {
        v["payload"] = json!(base64(&a.payload));
    }
    v
}

/// The EVE object for a finished flow.
pub fn flow_json(f: &FlowRecord) -> serde_json::Value {
    json!({
        "timestamp": format_timestamp(f.end_nanos),
        "flow_id": f.flow_id,
        "event_type": "flow",
        "src_ip": f.src_ip.to_string(),
        "src_port": f.src_port,
        "dest_ip": f.dst_ip.to_string(),
        "dest_port": f.dst_port,
        "proto": proto_name(f.proto),
        "app_proto": if f.app_proto.is_empty() { "failed" } else { f.app_proto.as_str() },
        "flow": {
            "pkts_toserver": f.pkts_toserver,
            "pkts_toclient": f.pkts_toclient,
            "bytes_toserver": f.bytes_toserver,
            "bytes_toclient": f.bytes_toclient,
            "start": format_timestamp(f.start_nanos),
            "end": format_timestamp(f.end_nanos),
            "age": f.end_nanos.saturating_sub(f.start_nanos) / 1_000_000_000,
            "state": f.state.as_str(),
            "reason": f.reason.as_str(),
            "alerted": f.alerted,
        },
    })
}

/// Appending, rotating EVE writer. Not shared: the ingest thread owns it.
pub struct EveWriter {
    path: PathBuf,
    rotate_bytes: u64,
    keep: u32,
    out: BufWriter<File>,
    written: u64,
    pub rotations: u64,
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
        })
    }

    /// Writes one event line, rotating first if the file is full.
    pub fn write_event(&mut self, v: &serde_json::Value) -> Result<()> {
        if self.rotate_bytes > 0 && self.written >= self.rotate_bytes {
            self.rotate()?;
        }
        let mut line = serde_json::to_vec(v).map_err(|e| Error::internal(e.to_string()))?;
        line.push(b'\n');
        self.out
            .write_all(&line)
            .map_err(|e| io_err("writing EVE output", &self.path, e))?;
        self.written += line.len() as u64;
        Ok(())
    }

    /// Writes an alert: the worker's own rendering when it has one (flow counters, the
    /// transaction), with the control plane's `osprey` object added; else [`alert_json`].
    pub fn write_alert(&mut self, a: &Alert) -> Result<()> {
        let line = a.eve.trim_end();
        match line.strip_suffix('}') {
            Some(body) if line.starts_with('{') => {
                let mut out = Vec::with_capacity(line.len() + 96);
                out.extend_from_slice(body.as_bytes());
                let osprey = json!({
                    "alert_id": a.id,
                    "worker": a.worker,
                    "ruleset_generation": a.generation,
                });
                out.extend_from_slice(b",\"osprey\":");
                out.extend_from_slice(osprey.to_string().as_bytes());
                out.extend_from_slice(b"}\n");
                self.write_lines(&out)
            }
            _ => self.write_event(&alert_json(a)),
        }
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
    fn timestamps_format_like_suricata() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000000+0000");
        // 2024-02-29T23:59:59.123456Z, a leap day.
        assert_eq!(
            format_timestamp(1_709_251_199_123_456_000),
            "2024-02-29T23:59:59.123456+0000"
        );
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
            w.write_event(&alert_json(&a)).unwrap();
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
