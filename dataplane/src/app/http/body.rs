//! HTTP message bodies: framing (Content-Length, chunked transfer coding, until close) and
//! content decoding (gzip/deflate) into a capped body buffer.
//!
//! Chunked decoding (RFC 9112 §7.1) is a byte-driven state machine, so a chunk-size line or
//! CRLF split across stream chunks decodes identically. Decompression runs through `flate2`
//! with two caps: total output per body and output per input byte (a compression bomb is cut
//! off and counted, never inflated further).

use std::io::Write;

use flate2::write::{DeflateDecoder, GzDecoder, ZlibDecoder};

/// How the body of one message is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes remain.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the connection closes (responses without a length).
    UntilClose,
}

/// Chunked-decoder state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// Reading hex digits of a chunk size.
    Size { value: u64, digits: u8, ext: bool },
    /// Reading the CR/LF ending the size line after its digits.
    SizeEol { value: u64 },
    /// Inside chunk data.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEol { seen_cr: bool },
    /// Trailer section: `line_len` bytes of the current trailer line so far.
    Trailer { line_len: u32 },
    /// The last chunk and its trailers are done.
    Done,
}

/// Result of pushing bytes into a [`BodyDecoder`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BodyStep {
    /// Input bytes consumed (the rest belongs to the next message).
    pub consumed: usize,
    /// The body ended.
    pub complete: bool,
    /// A malformed chunk size was seen (body abandoned).
    pub bad_chunk: bool,
    /// A chunk extension was seen.
    pub chunk_ext: bool,
    /// Of `consumed`, bytes of the trailer section after the last chunk (libhtp parses those
    /// as headers, so they are not part of the message length).
    pub trailer: usize,
}

/// Content coding applied to the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    /// As sent.
    Identity,
    /// `gzip` / `x-gzip`.
    Gzip,
    /// `deflate` (zlib-wrapped, or raw deflate as some servers send it).
    Deflate,
}

/// Parses a `Content-Encoding` value; `layers` counts codings (only one is decoded).
pub fn parse_coding(v: &[u8]) -> (Coding, usize) {
    let mut coding = Coding::Identity;
    let mut layers = 0;
    for tok in v.split(|&c| c == b',').take(16) {
        let t = trim(tok);
        if t.is_empty() {
            continue;
        }
        layers += 1;
        if t.eq_ignore_ascii_case(b"gzip") || t.eq_ignore_ascii_case(b"x-gzip") {
            coding = Coding::Gzip;
        } else if t.eq_ignore_ascii_case(b"deflate") {
            coding = Coding::Deflate;
        }
    }
    (coding, layers)
}

/// Strips spaces and tabs at both ends.
pub fn trim(mut b: &[u8]) -> &[u8] {
    while let [c, rest @ ..] = b {
        if *c == b' ' || *c == b'\t' {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., c] = b {
        if *c == b' ' || *c == b'\t' || *c == b'\r' || *c == b'\n' {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// Removes framing from a body as it streams in.
#[derive(Clone, Copy, Debug)]
pub struct BodyDecoder {
    framing: Framing,
    chunk: Chunk,
}

/// Longest chunk-size line (digits plus extensions) before it is called malformed.
const MAX_CHUNK_LINE: u8 = 64;
/// Longest trailer line accepted.
const MAX_TRAILER_LINE: u32 = 8192;

impl BodyDecoder {
    /// A decoder for one message body.
    pub fn new(framing: Framing) -> BodyDecoder {
        BodyDecoder {
            framing,
            chunk: Chunk::Size {
                value: 0,
                digits: 0,
                ext: false,
            },
        }
    }

    /// The framing in use.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Consumes body bytes from `data`, calling `out` with each piece of entity data.
    pub fn push(&mut self, data: &[u8], mut out: impl FnMut(&[u8])) -> BodyStep {
        let mut step = BodyStep::default();
        match self.framing {
            Framing::None => step.complete = true,
            Framing::UntilClose => {
                out(data);
                step.consumed = data.len();
            }
            Framing::Length(rem) => {
                let n = (rem.min(data.len() as u64)) as usize;
                if n > 0 {
                    out(&data[..n]);
                }
                step.consumed = n;
                let rem = rem - n as u64;
                self.framing = Framing::Length(rem);
                step.complete = rem == 0;
            }
            Framing::Chunked => self.push_chunked(data, &mut out, &mut step),
        }
        step
    }

    fn push_chunked(&mut self, data: &[u8], out: &mut impl FnMut(&[u8]), step: &mut BodyStep) {
        let mut i = 0;
        while i < data.len() {
            match self.chunk {
                Chunk::Size { value, digits, ext } => {
                    let c = data[i];
                    i += 1;
                    if c == b'\n' {
                        self.end_size_line(value, digits, step);
                        if step.bad_chunk {
                            break;
                        }
                        continue;
                    }
                    if !self.size_line_byte(c, value, digits, ext, step) {
                        break;
                    }
                }
                Chunk::SizeEol { value } => {
                    let c = data[i];
                    i += 1;
                    if c == b'\n' {
                        self.end_size_line(value, 1, step);
                        if step.bad_chunk {
                            break;
                        }
                    } else if c != b'\r' {
                        // Bytes after the size that are not an extension: treat as extension.
                        self.chunk = Chunk::Size {
                            value,
                            digits: 1,
                            ext: true,
                        };
                    }
                }
                Chunk::Data(rem) => {
                    let n = (rem.min((data.len() - i) as u64)) as usize;
                    out(&data[i..i + n]);
                    i += n;
                    let rem = rem - n as u64;
                    self.chunk = if rem == 0 {
                        Chunk::DataEol { seen_cr: false }
                    } else {
                        Chunk::Data(rem)
                    };
                }
                Chunk::DataEol { seen_cr } => {
                    let c = data[i];
                    match c {
                        b'\r' if !seen_cr => {
                            i += 1;
                            self.chunk = Chunk::DataEol { seen_cr: true };
                        }
                        b'\n' => {
                            i += 1;
                            self.chunk = Chunk::Size {
                                value: 0,
                                digits: 0,
                                ext: false,
                            };
                        }
                        // Missing CRLF: lenient, start the next size line here.
                        _ => {
                            self.chunk = Chunk::Size {
                                value: 0,
                                digits: 0,
                                ext: false,
                            }
                        }
                    }
                }
                Chunk::Trailer { line_len } => {
                    let c = data[i];
                    i += 1;
                    step.trailer += 1;
                    if c == b'\n' {
                        if line_len == 0 {
                            self.chunk = Chunk::Done;
                        } else {
                            self.chunk = Chunk::Trailer { line_len: 0 };
                        }
                    } else if c != b'\r' {
                        if line_len >= MAX_TRAILER_LINE {
                            step.bad_chunk = true;
                            break;
                        }
                        self.chunk = Chunk::Trailer {
                            line_len: line_len + 1,
                        };
                    }
                }
                Chunk::Done => break,
            }
            if self.chunk == Chunk::Done {
                break;
            }
        }
        step.consumed = i;
        step.complete = self.chunk == Chunk::Done;
    }

    /// One byte of a chunk-size line other than its LF: a hex digit, whitespace, the start or
    /// a byte of an extension, or the CR. False when the line is malformed
    /// (`step.bad_chunk`).
    #[inline]
    fn size_line_byte(
        &mut self,
        c: u8,
        value: u64,
        digits: u8,
        ext: bool,
        step: &mut BodyStep,
    ) -> bool {
        if digits >= MAX_CHUNK_LINE {
            step.bad_chunk = true;
            return false;
        }
        if ext || c == b'\r' {
            if c == b'\r' {
                self.chunk = Chunk::SizeEol { value };
                if digits == 0 {
                    // A bare CRLF before the size: tolerate as libhtp does.
                    self.chunk = Chunk::Size {
                        value: 0,
                        digits: 0,
                        ext: false,
                    };
                }
            } else {
                self.chunk = Chunk::Size {
                    value,
                    digits: digits + 1,
                    ext,
                };
            }
            return true;
        }
        match c {
            b';' => {
                step.chunk_ext = true;
                self.chunk = Chunk::Size {
                    value,
                    digits: digits.max(1) + 1,
                    ext: true,
                };
                if digits == 0 {
                    step.bad_chunk = true;
                    return false;
                }
            }
            b' ' | b'\t' => {
                self.chunk = Chunk::Size {
                    value,
                    digits: digits + 1,
                    ext,
                }
            }
            _ => match super::uri_hex(c) {
                Some(h) if value >> 56 == 0 => {
                    self.chunk = Chunk::Size {
                        value: value << 4 | h as u64,
                        digits: digits + 1,
                        ext,
                    }
                }
                _ => {
                    step.bad_chunk = true;
                    return false;
                }
            },
        }
        true
    }

    fn end_size_line(&mut self, value: u64, digits: u8, step: &mut BodyStep) {
        if digits == 0 {
            // Empty line where a size was expected: skip it.
            self.chunk = Chunk::Size {
                value: 0,
                digits: 0,
                ext: false,
            };
        } else if value == 0 {
            self.chunk = Chunk::Trailer { line_len: 0 };
        } else {
            self.chunk = Chunk::Data(value);
        }
        let _ = step;
    }
}

/// Collects decompressed output with the caps applied.
#[derive(Debug, Default)]
struct Sink {
    buf: Vec<u8>,
    produced: u64,
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        self.produced += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum Inflater {
    Gzip(GzDecoder<Sink>),
    Zlib(ZlibDecoder<Sink>),
    Raw(DeflateDecoder<Sink>),
}

impl core::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Inflater::Gzip(_) => "Gzip",
            Inflater::Zlib(_) => "Zlib",
            Inflater::Raw(_) => "Raw",
        })
    }
}

/// Outcome of one decompression step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inflate {
    /// Output appended normally.
    Ok,
    /// Corrupt input: decoding stopped.
    Failed,
    /// Ratio or size cap hit: decoding stopped.
    Bomb,
}

/// Streaming gzip/deflate decoder for one body, capped.
#[derive(Debug)]
pub struct Decompressor {
    coding: Coding,
    inner: Option<Inflater>,
    consumed: u64,
    stopped: bool,
    max_out: u64,
    ratio: u64,
}

/// Input fed to the inflater at a time, so a bomb is caught within one step's output
/// (deflate expands at most ~1032:1, so a step yields at most ~1 MiB).
const INFLATE_STEP: usize = 1024;
/// Output always allowed before the ratio cap applies (small bodies compress well).
const RATIO_SLACK: u64 = 64 * 1024;

impl Decompressor {
    /// A decompressor for `coding`, with output caps.
    pub fn new(coding: Coding, max_out: usize, ratio: usize) -> Decompressor {
        Decompressor {
            coding,
            inner: None,
            consumed: 0,
            stopped: false,
            max_out: max_out as u64,
            ratio: ratio as u64,
        }
    }

    /// Decodes `data`, calling `out` with decompressed bytes.
    pub fn push(&mut self, data: &[u8], mut out: impl FnMut(&[u8])) -> Inflate {
        if self.stopped {
            return Inflate::Ok;
        }
        for piece in data.chunks(INFLATE_STEP) {
            if self.inner.is_none() {
                self.inner = Some(match self.coding {
                    Coding::Gzip => Inflater::Gzip(GzDecoder::new(Sink::default())),
                    // zlib header: CM=8 and the 16-bit check value divisible by 31 (RFC 1950).
                    Coding::Deflate
                        if piece.len() >= 2
                            && piece[0] & 0x0f == 8
                            && (u16::from(piece[0]) << 8 | u16::from(piece[1])) % 31 == 0 =>
                    {
                        Inflater::Zlib(ZlibDecoder::new(Sink::default()))
                    }
                    _ => Inflater::Raw(DeflateDecoder::new(Sink::default())),
                });
            }
            let Some(inner) = self.inner.as_mut() else {
                return Inflate::Failed;
            };
            // The write decoders hand output to the sink on the next call; flush pushes it now.
            let (res, sink) = match inner {
                Inflater::Gzip(d) => (d.write_all(piece).and_then(|_| d.flush()), d.get_mut()),
                Inflater::Zlib(d) => (d.write_all(piece).and_then(|_| d.flush()), d.get_mut()),
                Inflater::Raw(d) => (d.write_all(piece).and_then(|_| d.flush()), d.get_mut()),
            };
            self.consumed += piece.len() as u64;
            let produced = sink.produced;
            if !sink.buf.is_empty() {
                out(&sink.buf);
                sink.buf.clear();
            }
            if res.is_err() {
                self.stop();
                return Inflate::Failed;
            }
            if produced > self.max_out
                || produced > RATIO_SLACK + self.consumed.saturating_mul(self.ratio)
            {
                self.stop();
                return Inflate::Bomb;
            }
        }
        Inflate::Ok
    }

    fn stop(&mut self) {
        self.stopped = true;
        // Free the inflater window now; the body is done being decoded.
        self.inner = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;

    fn dechunk_split(input: &[u8], split: usize) -> (Vec<u8>, bool, usize) {
        let mut d = BodyDecoder::new(Framing::Chunked);
        let mut out = Vec::new();
        let a = d.push(&input[..split], |b| out.extend_from_slice(b));
        assert!(!a.bad_chunk);
        if a.complete {
            return (out, true, a.consumed);
        }
        assert_eq!(a.consumed, split);
        let b = d.push(&input[split..], |b| out.extend_from_slice(b));
        (out, b.complete, split + b.consumed)
    }

    #[test]
    fn chunked_any_split() {
        let body =
            b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for split in 0..body.len() {
            let (out, complete, consumed) = dechunk_split(body, split);
            assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.", "split {split}");
            assert!(complete);
            assert_eq!(&body[consumed..], b"NEXT");
        }
    }

    #[test]
    fn chunked_bad_size() {
        let mut d = BodyDecoder::new(Framing::Chunked);
        let s = d.push(b"zz\r\n", |_| {});
        assert!(s.bad_chunk);
        let mut d = BodyDecoder::new(Framing::Chunked);
        let s = d.push(b"fffffffffffffffffffff\r\n", |_| {});
        assert!(s.bad_chunk);
    }

    #[test]
    fn gzip_roundtrip_and_bomb() {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(b"hello hello hello").unwrap();
        let gz = e.finish().unwrap();
        let mut d = Decompressor::new(Coding::Gzip, 1 << 20, 100);
        let mut out = Vec::new();
        for b in gz.chunks(3) {
            assert_eq!(d.push(b, |x| out.extend_from_slice(x)), Inflate::Ok);
        }
        assert_eq!(out, b"hello hello hello");

        // 64 MiB of zeros compresses to ~64 KiB: ratio ~1000 > 100.
        let mut e = GzEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            e.write_all(&zeros).unwrap();
        }
        let bomb = e.finish().unwrap();
        let mut d = Decompressor::new(Coding::Gzip, 1 << 30, 100);
        let mut total = 0usize;
        let r = d.push(&bomb, |x| total += x.len());
        assert_eq!(r, Inflate::Bomb);
        assert!(total < 4 << 20, "cut off early, got {total}");
    }

    #[test]
    fn deflate_zlib_and_raw() {
        use flate2::write::{DeflateEncoder, ZlibEncoder};
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(b"zlib body").unwrap();
        let z = z.finish().unwrap();
        let mut r = DeflateEncoder::new(Vec::new(), Compression::default());
        r.write_all(b"raw body").unwrap();
        let r = r.finish().unwrap();
        for (input, want) in [(z, &b"zlib body"[..]), (r, &b"raw body"[..])] {
            let mut d = Decompressor::new(Coding::Deflate, 1 << 20, 100);
            let mut out = Vec::new();
            for piece in input.chunks(2) {
                assert_eq!(d.push(piece, |x| out.extend_from_slice(x)), Inflate::Ok);
            }
            assert_eq!(out, want);
        }
        assert_eq!(parse_coding(b"x-gzip"), (Coding::Gzip, 1));
        assert_eq!(parse_coding(b"gzip, deflate"), (Coding::Deflate, 2));
        assert_eq!(parse_coding(b"br"), (Coding::Identity, 1));
    }

    #[test]
    fn corrupt_gzip_fails() {
        let mut d = Decompressor::new(Coding::Gzip, 1 << 20, 100);
        assert_eq!(
            d.push(b"\x1f\x8b\x08\x00garbagegarbage", |_| {}),
            Inflate::Failed
        );
    }
}
