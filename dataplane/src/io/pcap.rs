//! Capture files: classic pcap (micro- and nanosecond, both byte orders) and pcapng, read in
//! Rust without the EAL, for unit tests, tools and the pre-flight scan that `osprey replay` does
//! before handing a file to DPDK's `net_pcap`.
//!
//! Reading is lenient where libpcap is: frames cut by the snap length (`caplen < len`) are
//! delivered and counted, a truncated final record ends the capture and is counted. Anything
//! that makes the file unusable (missing, not a capture, unsupported link type) is a
//! [`CaptureError`] naming the problem.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use pcap_file::pcap::RawPcapPacket;
use pcap_file::pcapng::Block;
use pcap_file::{PcapError, TsResolution};
use serde::Serialize;

use crate::time::Timestamp;

/// Largest record we accept (libpcap's own limit for non-D-Bus link types).
pub const MAX_RECORD: u32 = 262_144;

/// A capture file problem that stops it from being read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot open capture {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a pcap or pcapng capture ({why})")]
    NotACapture { path: PathBuf, why: String },
    #[error("{path}: record {index} is corrupt ({why})")]
    Corrupt {
        path: PathBuf,
        index: u64,
        why: String,
    },
    #[error(
        "{path}: record {index} (at byte {offset}) claims {len} captured bytes, more than \
         {MAX_RECORD}: its header is corrupt"
    )]
    RecordLength {
        path: PathBuf,
        index: u64,
        offset: u64,
        len: u32,
    },
    #[error("{path}: cannot write split capture: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Container format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Pcap,
    PcapNg,
}

/// One packet read from a capture.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub ts: Timestamp,
    /// Bytes on the wire (may exceed `data.len()` when the snap length cut the frame).
    pub orig_len: u32,
    pub data: &'a [u8],
}

/// Facts about a capture, from one pass over it.
#[derive(Clone, Debug, Serialize)]
pub struct CaptureInfo {
    pub format: Format,
    /// The pcap link-type number (1 Ethernet, 0 BSD loopback/NULL, 101 raw IP, ...).
    pub link_type: u32,
    pub nanosecond: bool,
    pub snaplen: u32,
    pub packets: u64,
    /// Sum of wire lengths (what `capinfos -d` reports).
    pub bytes: u64,
    /// Sum of captured lengths (what a capture port such as `net_pcap` delivers).
    pub captured_bytes: u64,
    /// Frames whose captured length is below their wire length.
    pub snaplen_cut: u64,
    /// True when the file ends in the middle of a record (libpcap stops there too).
    pub truncated_tail: bool,
    pub largest: u32,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    /// (packet number, wire length) of every snaplen-cut frame.
    #[serde(skip)]
    pub cut_frames: Vec<(u64, u32)>,
}

enum Inner {
    Pcap {
        reader: pcap_file::pcap::PcapReader<BufReader<File>>,
        nano: bool,
        big_endian: bool,
        /// Byte offset of the next record header.
        offset: u64,
    },
    PcapNg {
        reader: pcap_file::pcapng::PcapNgReader<BufReader<File>>,
        /// Interfaces the current section has described so far.
        interfaces: u32,
    },
}

/// Sequential reader over a capture file.
pub struct PcapSource {
    path: PathBuf,
    inner: Inner,
    link_type: u32,
    snaplen: u32,
    buf: Vec<u8>,
    index: u64,
    truncated_tail: bool,
    done: bool,
}

impl std::fmt::Debug for PcapSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PcapSource({})", self.path.display())
    }
}

fn open_file(path: &Path) -> Result<BufReader<File>, CaptureError> {
    let open_err = |source| CaptureError::Open {
        path: path.to_owned(),
        source,
    };
    // Opening a FIFO or a device would block (or never end): only regular files are captures.
    let meta = std::fs::metadata(path).map_err(open_err)?;
    if !meta.is_file() {
        return Err(open_err(std::io::Error::other("not a regular file")));
    }
    let f = File::open(path).map_err(|source| CaptureError::Open {
        path: path.to_owned(),
        source,
    })?;
    Ok(BufReader::with_capacity(1 << 20, f))
}

impl PcapSource {
    /// Opens `path`, detecting pcap or pcapng from its magic number.
    pub fn open(path: &Path) -> Result<PcapSource, CaptureError> {
        let mut probe = open_file(path)?;
        let mut magic = [0u8; 4];
        probe
            .read_exact(&mut magic)
            .map_err(|_| CaptureError::NotACapture {
                path: path.to_owned(),
                why: "shorter than a capture header".into(),
            })?;
        drop(probe);
        let not = |why: String| CaptureError::NotACapture {
            path: path.to_owned(),
            why,
        };
        let file = open_file(path)?;
        match magic {
            [0x0a, 0x0d, 0x0d, 0x0a] => {
                let reader = pcap_file::pcapng::PcapNgReader::new(file)
                    .map_err(|e| not(format!("bad pcapng section header: {e}")))?;
                let mut src = PcapSource {
                    path: path.to_owned(),
                    inner: Inner::PcapNg {
                        reader,
                        interfaces: 0,
                    },
                    link_type: u32::MAX,
                    snaplen: 0,
                    buf: Vec::with_capacity(MAX_RECORD as usize),
                    index: 0,
                    truncated_tail: false,
                    done: false,
                };
                src.pcapng_prime()?;
                Ok(src)
            }
            _ => {
                let reader = pcap_file::pcap::PcapReader::new(file)
                    .map_err(|e| not(format!("bad pcap header: {e}")))?;
                let h = reader.header();
                Ok(PcapSource {
                    path: path.to_owned(),
                    link_type: u32::from(h.datalink),
                    snaplen: h.snaplen,
                    inner: Inner::Pcap {
                        reader,
                        nano: h.ts_resolution == TsResolution::NanoSecond,
                        big_endian: h.endianness == pcap_file::Endianness::Big,
                        offset: PCAP_HEADER_LEN,
                    },
                    buf: Vec::with_capacity(MAX_RECORD as usize),
                    index: 0,
                    truncated_tail: false,
                    done: false,
                })
            }
        }
    }

    /// Reads pcapng blocks up to the first interface description so the link type is known.
    fn pcapng_prime(&mut self) -> Result<(), CaptureError> {
        let Inner::PcapNg { reader, .. } = &mut self.inner else {
            return Ok(());
        };
        if let Some(idb) = reader.interfaces().first() {
            self.link_type = u32::from(idb.linktype);
            self.snaplen = idb.snaplen;
        }
        Ok(())
    }

    /// The container format.
    pub fn format(&self) -> Format {
        match self.inner {
            Inner::Pcap { .. } => Format::Pcap,
            Inner::PcapNg { .. } => Format::PcapNg,
        }
    }

    /// The pcap link-type number (for pcapng, that of the first interface; `u32::MAX` until an
    /// interface description has been read).
    pub fn link_type(&self) -> u32 {
        self.link_type
    }

    /// The header's snap length.
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// True for a classic pcap with nanosecond timestamps.
    pub fn nanosecond(&self) -> bool {
        matches!(self.inner, Inner::Pcap { nano: true, .. })
    }

    /// True once the reader hit a record cut short by the end of the file.
    pub fn truncated_tail(&self) -> bool {
        self.truncated_tail
    }

    /// Records read so far.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The next frame, `Ok(None)` at the end of the capture (including a truncated tail).
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        let path = &self.path;
        let index = self.index;
        let corrupt = |why: String| CaptureError::Corrupt {
            path: path.clone(),
            index: index + 1,
            why,
        };
        match &mut self.inner {
            Inner::Pcap {
                reader,
                nano,
                big_endian,
                offset,
            } => {
                let too_long = |len: u32| CaptureError::RecordLength {
                    path: path.clone(),
                    index: index + 1,
                    offset: *offset,
                    len,
                };
                let raw: RawPcapPacket<'_> = match reader.next_raw_packet() {
                    None => {
                        self.done = true;
                        return Ok(None);
                    }
                    Some(Err(e)) if is_truncation(&e) => {
                        // A complete record header whose length runs past the end of the file
                        // is a corrupt header, not a capture cut short.
                        if let Some(len) = record_length_at(path, *offset, *big_endian) {
                            if len > MAX_RECORD {
                                return Err(too_long(len));
                            }
                        }
                        self.done = true;
                        self.truncated_tail = true;
                        return Ok(None);
                    }
                    Some(Err(e)) => return Err(corrupt(e.to_string())),
                    Some(Ok(p)) => p,
                };
                if raw.incl_len > MAX_RECORD {
                    return Err(too_long(raw.incl_len));
                }
                *offset += PCAP_RECORD_HEADER_LEN + u64::from(raw.incl_len);
                let frac = if *nano {
                    raw.ts_frac as u64
                } else {
                    raw.ts_frac as u64 * 1_000
                };
                let ts = Timestamp(raw.ts_sec as u64 * 1_000_000_000 + frac);
                self.buf.clear();
                self.buf.extend_from_slice(&raw.data);
                self.index += 1;
                Ok(Some(Frame {
                    ts,
                    orig_len: raw.orig_len.max(raw.incl_len),
                    data: &self.buf,
                }))
            }
            Inner::PcapNg { reader, interfaces } => loop {
                let block = match reader.next_block() {
                    None => {
                        self.done = true;
                        return Ok(None);
                    }
                    Some(Err(e)) if is_truncation(&e) => {
                        self.done = true;
                        self.truncated_tail = true;
                        return Ok(None);
                    }
                    Some(Err(e)) => return Err(corrupt(e.to_string())),
                    Some(Ok(b)) => b,
                };
                let (ts, orig_len, data): (Timestamp, u32, &[u8]) = match &block {
                    Block::EnhancedPacket(p) if p.interface_id >= *interfaces => {
                        return Err(corrupt(format!(
                            "its packet names interface {}, but the section describes {}",
                            p.interface_id, *interfaces
                        )));
                    }
                    Block::EnhancedPacket(p) => (
                        Timestamp(p.timestamp.as_nanos() as u64),
                        p.original_len,
                        &p.data,
                    ),
                    Block::SimplePacket(p) => (Timestamp(0), p.original_len, &p.data),
                    Block::SectionHeader(_) => {
                        // Interface numbers start again in each section.
                        *interfaces = 0;
                        continue;
                    }
                    Block::InterfaceDescription(idb) => {
                        *interfaces += 1;
                        if self.link_type == u32::MAX {
                            self.link_type = u32::from(idb.linktype);
                            self.snaplen = idb.snaplen;
                        }
                        continue;
                    }
                    _ => continue,
                };
                if data.len() > MAX_RECORD as usize {
                    return Err(corrupt(format!(
                        "captured length {} exceeds {MAX_RECORD}",
                        data.len()
                    )));
                }
                self.buf.clear();
                self.buf.extend_from_slice(data);
                self.index += 1;
                return Ok(Some(Frame {
                    ts,
                    orig_len: orig_len.max(self.buf.len() as u32),
                    data: &self.buf,
                }));
            },
        }
    }
}

/// Bytes of a classic pcap file header, and of each record header after it.
const PCAP_HEADER_LEN: u64 = 24;
const PCAP_RECORD_HEADER_LEN: u64 = 16;

/// The captured length in the pcap record header at `offset`, when the file holds the whole
/// header there (read again from the file: the reader has consumed it).
fn record_length_at(path: &Path, offset: u64, big_endian: bool) -> Option<u32> {
    use std::io::{Seek, SeekFrom};
    let mut f = File::open(path).ok()?;
    f.seek(SeekFrom::Start(offset)).ok()?;
    let mut h = [0u8; PCAP_RECORD_HEADER_LEN as usize];
    f.read_exact(&mut h).ok()?;
    let incl = [h[8], h[9], h[10], h[11]];
    Some(if big_endian {
        u32::from_be_bytes(incl)
    } else {
        u32::from_le_bytes(incl)
    })
}

/// A record cut short by the end of the file (libpcap ends the capture there too).
fn is_truncation(e: &PcapError) -> bool {
    match e {
        PcapError::IncompleteBuffer => true,
        PcapError::IoError(io) => io.kind() == std::io::ErrorKind::UnexpectedEof,
        _ => false,
    }
}

/// Reads the whole capture once and reports what it holds.
pub fn scan(path: &Path) -> Result<CaptureInfo, CaptureError> {
    let mut src = PcapSource::open(path)?;
    let mut info = CaptureInfo {
        format: src.format(),
        link_type: src.link_type(),
        nanosecond: src.nanosecond(),
        snaplen: src.snaplen(),
        packets: 0,
        bytes: 0,
        captured_bytes: 0,
        snaplen_cut: 0,
        truncated_tail: false,
        largest: 0,
        first_ts: None,
        last_ts: None,
        cut_frames: Vec::new(),
    };
    while let Some(f) = src.next_frame()? {
        info.packets += 1;
        info.bytes += f.orig_len as u64;
        info.captured_bytes += f.data.len() as u64;
        info.largest = info.largest.max(f.data.len() as u32);
        if (f.data.len() as u32) < f.orig_len {
            info.snaplen_cut += 1;
            info.cut_frames.push((info.packets, f.orig_len));
        }
        info.first_ts.get_or_insert(f.ts);
        info.last_ts = Some(f.ts);
    }
    info.truncated_tail = src.truncated_tail();
    info.link_type = src.link_type();
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_pcap(dir: &Path, name: &str, link: u32, records: &[(u32, u32, &[u8])]) -> PathBuf {
        let p = dir.join(name);
        let mut f = File::create(&p).unwrap();
        f.write_all(&0xa1b2c3d4u32.to_le_bytes()).unwrap();
        f.write_all(&2u16.to_le_bytes()).unwrap();
        f.write_all(&4u16.to_le_bytes()).unwrap();
        f.write_all(&0u32.to_le_bytes()).unwrap();
        f.write_all(&0u32.to_le_bytes()).unwrap();
        f.write_all(&65535u32.to_le_bytes()).unwrap();
        f.write_all(&link.to_le_bytes()).unwrap();
        for (sec, orig, data) in records {
            f.write_all(&sec.to_le_bytes()).unwrap();
            f.write_all(&7u32.to_le_bytes()).unwrap();
            f.write_all(&(data.len() as u32).to_le_bytes()).unwrap();
            f.write_all(&orig.to_le_bytes()).unwrap();
            f.write_all(data).unwrap();
        }
        p
    }

    #[test]
    fn scans_counts_bytes_and_snaplen_cut_frames() {
        let d = tempfile::tempdir().unwrap();
        let p = write_pcap(
            d.path(),
            "a.pcap",
            1,
            &[(1, 4, b"abcd"), (2, 100, b"xy"), (3, 3, b"123")],
        );
        let i = scan(&p).unwrap();
        assert_eq!(i.packets, 3);
        assert_eq!(i.bytes, 107);
        assert_eq!(i.captured_bytes, 9);
        assert_eq!(i.snaplen_cut, 1);
        assert_eq!(i.link_type, 1);
        assert!(!i.truncated_tail);
        assert_eq!(i.first_ts, Some(Timestamp(1_000_007_000)));
    }

    #[test]
    fn truncated_last_record_is_reported_not_fatal() {
        let d = tempfile::tempdir().unwrap();
        let p = write_pcap(d.path(), "t.pcap", 0, &[(1, 4, b"abcd"), (2, 4, b"efgh")]);
        let len = std::fs::metadata(&p).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(len - 2).unwrap();
        let i = scan(&p).unwrap();
        assert_eq!(i.packets, 1);
        assert!(i.truncated_tail);
    }

    #[test]
    fn rejects_missing_and_non_capture_files() {
        let d = tempfile::tempdir().unwrap();
        let missing = scan(&d.path().join("nope.pcap")).unwrap_err();
        assert!(matches!(missing, CaptureError::Open { .. }), "{missing}");
        let junk = d.path().join("junk.pcap");
        std::fs::write(&junk, b"this is not a capture file at all").unwrap();
        let e = scan(&junk).unwrap_err();
        assert!(matches!(e, CaptureError::NotACapture { .. }), "{e}");
        let tiny = d.path().join("tiny.pcap");
        std::fs::write(&tiny, b"ab").unwrap();
        assert!(matches!(
            scan(&tiny).unwrap_err(),
            CaptureError::NotACapture { .. }
        ));
    }

    /// A FIFO would block the open (and the signal that should stop it): refused at once.
    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo.pcap");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let e = scan(&fifo).unwrap_err();
        assert!(matches!(e, CaptureError::Open { .. }), "{e}");
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let e = scan(d.path()).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    /// Sets the captured length of the record header at `offset`.
    fn set_caplen(p: &Path, offset: u64, caplen: u32) {
        use std::io::{Seek, SeekFrom};
        let mut f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
        f.seek(SeekFrom::Start(offset + 8)).unwrap();
        f.write_all(&caplen.to_le_bytes()).unwrap();
    }

    #[test]
    fn impossible_captured_length_names_the_record_and_its_offset() {
        let d = tempfile::tempdir().unwrap();
        let p = write_pcap(d.path(), "a.pcap", 1, &[(1, 4, b"abcd"), (2, 4, b"efgh")]);
        // The second record starts after the file header and the first record (16 + 4).
        set_caplen(&p, 44, u32::MAX);
        let e = scan(&p).unwrap_err();
        match &e {
            CaptureError::RecordLength {
                index, offset, len, ..
            } => assert_eq!((*index, *offset, *len), (2, 44, u32::MAX)),
            other => panic!("{other}"),
        }
        assert!(e.to_string().contains("record 2 (at byte 44)"), "{e}");
        // On the first record: not "holds no packets".
        let p = write_pcap(d.path(), "b.pcap", 1, &[(1, 4, b"abcd")]);
        set_caplen(&p, 24, u32::MAX);
        let e = scan(&p).unwrap_err();
        assert!(e.to_string().contains("record 1 (at byte 24)"), "{e}");
        // Within the limit but past the end of the file: a truncated tail, as before.
        let p = write_pcap(d.path(), "c.pcap", 1, &[(1, 4, b"abcd"), (2, 4, b"efgh")]);
        set_caplen(&p, 44, 1000);
        let i = scan(&p).unwrap();
        assert_eq!(i.packets, 1);
        assert!(i.truncated_tail);
    }

    /// pcapng: a section header, one Ethernet interface, then enhanced packets on the given
    /// interface ids.
    fn write_pcapng(p: &Path, packet_interfaces: &[u32]) {
        let mut b = Vec::new();
        let mut block = |kind: u32, body: &[u8]| {
            let len = 12 + body.len() as u32;
            b.extend_from_slice(&kind.to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(body);
            b.extend_from_slice(&len.to_le_bytes());
        };
        let mut shb = Vec::new();
        shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&u64::MAX.to_le_bytes());
        block(0x0A0D_0D0A, &shb);
        let mut idb = Vec::new();
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&65535u32.to_le_bytes());
        block(1, &idb);
        for &iface in packet_interfaces {
            let mut epb = Vec::new();
            epb.extend_from_slice(&iface.to_le_bytes());
            epb.extend_from_slice(&0u32.to_le_bytes());
            epb.extend_from_slice(&1_000_000u32.to_le_bytes());
            epb.extend_from_slice(&4u32.to_le_bytes());
            epb.extend_from_slice(&4u32.to_le_bytes());
            epb.extend_from_slice(b"abcd");
            block(6, &epb);
        }
        std::fs::write(p, b).unwrap();
    }

    #[test]
    fn pcapng_packet_on_an_undescribed_interface_names_the_record() {
        let d = tempfile::tempdir().unwrap();
        let good = d.path().join("good.pcapng");
        write_pcapng(&good, &[0, 0]);
        let i = scan(&good).unwrap();
        assert_eq!((i.packets, i.link_type), (2, 1));
        let bad = d.path().join("bad.pcapng");
        write_pcapng(&bad, &[0, 3]);
        let e = scan(&bad).unwrap_err();
        assert!(matches!(e, CaptureError::Corrupt { index: 2, .. }), "{e}");
        assert!(e.to_string().contains("interface 3"), "{e}");
    }

    #[test]
    fn public_mix_matches_capinfos() {
        let Some(p) = vocab::testing::shared_data("pcaps/public_mix.pcap") else {
            return;
        };
        let i = scan(&p).unwrap();
        // `capinfos -c -d public_mix.pcap`
        assert_eq!(i.packets, 272_826);
        assert_eq!(i.bytes, 73_149_407);
        assert_eq!(i.captured_bytes, 72_136_787);
        assert_eq!(i.snaplen_cut, 787);
        assert_eq!(i.link_type, 1);
    }
}
