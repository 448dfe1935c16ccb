//! Splits one capture into N classic pcap files, one per worker, so that every packet between
//! the same two hosts lands in the same file. DPDK's `net_pcap` serves one file per Rx queue;
//! this stands in for the symmetric RSS a real NIC performs.
//!
//! The hash covers the unordered IP address pair only (not ports): IP fragments carry no ports
//! after the first, and they must reach the worker that owns their flow for defragmentation.
//! Frames that are not IP go to worker 0.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::pcap::{CaptureError, PcapSource};

/// Result of a split: the files, and how many packets and bytes each holds.
#[derive(Debug, Clone)]
pub struct Split {
    pub files: Vec<PathBuf>,
    pub packets: Vec<u64>,
    /// Wire bytes per file.
    pub bytes: Vec<u64>,
    /// Snaplen-cut frames per file: (packet number in that file, wire length).
    pub cut_frames: Vec<Vec<(u64, u32)>>,
    /// Time of the first packet of each file.
    pub first_ts: Vec<Option<crate::time::Timestamp>>,
    pub link_type: u32,
    pub truncated_tail: bool,
}

/// Locates the IP header in a frame of link type `link`: returns (offset, version).
fn ip_offset(link: u32, f: &[u8]) -> Option<(usize, u8)> {
    let version_at = |off: usize| -> Option<(usize, u8)> {
        let v = f.get(off)? >> 4;
        (v == 4 || v == 6).then_some((off, v))
    };
    match link {
        // Ethernet: skip up to 4 VLAN/QinQ tags.
        1 => {
            let mut off = 12;
            for _ in 0..5 {
                let et = u16::from_be_bytes([*f.get(off)?, *f.get(off + 1)?]);
                match et {
                    0x8100 | 0x88a8 | 0x9100 => off += 4,
                    0x0800 | 0x86dd => return version_at(off + 2),
                    _ => return None,
                }
            }
            None
        }
        // BSD loopback (host byte order) and OpenBSD loopback (network byte order).
        0 | 108 => version_at(4),
        // Raw IP.
        12 | 14 | 101 | 228 | 229 => version_at(0),
        // Linux cooked capture.
        113 => version_at(16),
        _ => None,
    }
}

/// Symmetric hash of the IP address pair; `None` for non-IP frames.
pub fn symmetric_host_hash(link: u32, frame: &[u8]) -> Option<u64> {
    let (off, v) = ip_offset(link, frame)?;
    let (a, b) = match v {
        4 => (
            frame.get(off + 12..off + 16)?,
            frame.get(off + 16..off + 20)?,
        ),
        _ => (
            frame.get(off + 8..off + 24)?,
            frame.get(off + 24..off + 40)?,
        ),
    };
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    // FNV-1a over the ordered pair: stable across runs and machines, so a split is repeatable.
    let mut h: u64 = 0xcbf29ce484222325;
    for &x in lo.iter().chain(hi.iter()) {
        h ^= x as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    Some(h)
}

/// Writes `workers` pcap files named `<stem>.wN.pcap` into `out_dir`.
pub fn split(input: &Path, workers: usize, out_dir: &Path) -> Result<Split, CaptureError> {
    split_snapped(input, workers, out_dir, None)
}

/// As [`split`], cutting every frame to at most `cut_to` captured bytes (the wire length is
/// kept in the record, as a capture with that snap length would have it).
pub fn split_snapped(
    input: &Path,
    workers: usize,
    out_dir: &Path,
    cut_to: Option<u32>,
) -> Result<Split, CaptureError> {
    let workers = workers.max(1);
    let mut src = PcapSource::open(input)?;
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "capture".into());
    let werr = |path: &Path, source: std::io::Error| CaptureError::Write {
        path: path.to_owned(),
        source,
    };
    let mut files = Vec::with_capacity(workers);
    let mut outs = Vec::with_capacity(workers);
    // Peek the first frame so a pcapng's link type is known before writing headers.
    let mut pending: Option<(u64, u32, Vec<u8>)> = src
        .next_frame()?
        .map(|f| (f.ts.0, f.orig_len, f.data.to_vec()));
    let link = src.link_type();
    let snaplen = src.snaplen().max(super::pcap::MAX_RECORD);
    for w in 0..workers {
        let p = out_dir.join(format!("{stem}.w{w}.pcap"));
        let f = File::create(&p).map_err(|e| werr(&p, e))?;
        let mut bw = BufWriter::with_capacity(1 << 20, f);
        // Classic pcap, nanosecond resolution, little endian.
        let mut hdr = Vec::with_capacity(24);
        hdr.extend_from_slice(&0xa1b23c4du32.to_le_bytes());
        hdr.extend_from_slice(&2u16.to_le_bytes());
        hdr.extend_from_slice(&4u16.to_le_bytes());
        hdr.extend_from_slice(&0u32.to_le_bytes());
        hdr.extend_from_slice(&0u32.to_le_bytes());
        hdr.extend_from_slice(&snaplen.to_le_bytes());
        hdr.extend_from_slice(&link.to_le_bytes());
        bw.write_all(&hdr).map_err(|e| werr(&p, e))?;
        outs.push(bw);
        files.push(p);
    }
    let mut packets = vec![0u64; workers];
    let mut bytes = vec![0u64; workers];
    let mut cut_frames = vec![Vec::new(); workers];
    let mut first_ts = vec![None; workers];
    let cut = cut_to.map_or(usize::MAX, |s| s.max(64) as usize);
    let mut write = |ts: u64, orig: u32, data: &[u8]| -> Result<(), CaptureError> {
        let orig = orig.max(data.len() as u32);
        let data = &data[..data.len().min(cut)];
        let w = symmetric_host_hash(link, data).map_or(0, |h| (h % workers as u64) as usize);
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&((ts / 1_000_000_000) as u32).to_le_bytes());
        rec[4..8].copy_from_slice(&((ts % 1_000_000_000) as u32).to_le_bytes());
        rec[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        rec[12..16].copy_from_slice(&orig.to_le_bytes());
        let out = &mut outs[w];
        out.write_all(&rec)
            .and_then(|_| out.write_all(data))
            .map_err(|e| werr(&files[w], e))?;
        packets[w] += 1;
        first_ts[w].get_or_insert(crate::time::Timestamp(ts));
        bytes[w] += orig.max(data.len() as u32) as u64;
        if (data.len() as u32) < orig {
            cut_frames[w].push((packets[w], orig));
        }
        Ok(())
    };
    if let Some((ts, orig, data)) = pending.take() {
        write(ts, orig, &data)?;
    }
    while let Some(f) = src.next_frame()? {
        write(f.ts.0, f.orig_len, f.data)?;
    }
    for (o, p) in outs.iter_mut().zip(&files) {
        o.flush().map_err(|e| werr(p, e))?;
    }
    Ok(Split {
        files,
        packets,
        bytes,
        cut_frames,
        first_ts,
        link_type: link,
        truncated_tail: src.truncated_tail(),
    })
}

/// Convenience: the totals of a split equal the source's scan.
pub fn totals(s: &Split) -> (u64, u64) {
    (s.packets.iter().sum(), s.bytes.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_symmetric_and_finds_ip_behind_vlan() {
        let mut a = vec![0u8; 12];
        a.extend_from_slice(&[0x81, 0x00, 0, 5, 0x08, 0x00]);
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let mut fwd = a.clone();
        fwd.extend_from_slice(&ip);
        ip[12..16].copy_from_slice(&[10, 0, 0, 2]);
        ip[16..20].copy_from_slice(&[10, 0, 0, 1]);
        let mut rev = a;
        rev.extend_from_slice(&ip);
        let h1 = symmetric_host_hash(1, &fwd).unwrap();
        assert_eq!(Some(h1), symmetric_host_hash(1, &rev));
        assert_eq!(symmetric_host_hash(1, &fwd[..20]), None);
        assert_eq!(symmetric_host_hash(147, &fwd), None);
    }

    #[test]
    fn split_keeps_every_packet() {
        let Some(p) = vocab::testing::shared_data("pcaps/public_mix.pcap") else {
            return;
        };
        let d = tempfile::tempdir().unwrap();
        let s = split(&p, 2, d.path()).unwrap();
        assert_eq!(totals(&s), (272_826, 73_149_407));
        assert!(s.packets.iter().all(|&n| n > 10_000), "{:?}", s.packets);
        for (f, &n) in s.files.iter().zip(&s.packets) {
            assert_eq!(super::super::pcap::scan(f).unwrap().packets, n);
        }
    }
}
