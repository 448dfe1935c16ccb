//! Content-Transfer-Encoding decoders (RFC 2045 §6.7 quoted-printable, §6.8 base64), fed one
//! body line at a time and resumable across lines: base64 quanta may span lines, a
//! quoted-printable soft line break (`=` at the end) joins a line to the next.
//!
//! Decoded bytes go to a caller's closure in chunks of a fixed stack buffer: nothing here
//! allocates.

/// How a part's body is encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    /// `7bit`, `8bit`, `binary` or none: lines as they are, joined by CRLF.
    #[default]
    Identity,
    /// `base64`.
    Base64,
    /// `quoted-printable`.
    QuotedPrintable,
}

impl Encoding {
    /// The encoding a `Content-Transfer-Encoding` value names (unknown ones are identity).
    pub fn from_header(v: &[u8]) -> Encoding {
        let v = v.trim_ascii();
        if v.eq_ignore_ascii_case(b"base64") {
            Encoding::Base64
        } else if v.eq_ignore_ascii_case(b"quoted-printable") {
            Encoding::QuotedPrintable
        } else {
            Encoding::Identity
        }
    }
}

/// What decoding one line found wrong.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeFaults {
    /// A character outside the base64 alphabet (skipped).
    pub bad_base64: bool,
    /// `=` not followed by two hex digits in quoted-printable (kept literally).
    pub bad_qp: bool,
}

const CHUNK: usize = 256;

/// Decoder state of one part.
#[derive(Clone, Copy, Debug, Default)]
pub struct Decoder {
    enc: Encoding,
    quad: [u8; 4],
    nquad: u8,
    /// A line break is owed before the next line (identity and quoted-printable); the break
    /// before a boundary belongs to the boundary (RFC 2046 §5.1.1), so it is written only
    /// when another body line follows.
    crlf_owed: bool,
    /// Base64 padding was seen: the rest of the part is ignored.
    b64_done: bool,
}

fn b64_value(c: u8) -> Option<u8> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    })
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// A fixed buffer that hands full chunks to `out`.
struct Chunker<'f, F: FnMut(&[u8])> {
    buf: [u8; CHUNK],
    len: usize,
    out: &'f mut F,
}

impl<F: FnMut(&[u8])> Chunker<'_, F> {
    fn push(&mut self, b: u8) {
        if self.len == CHUNK {
            (self.out)(&self.buf);
            self.len = 0;
        }
        self.buf[self.len] = b;
        self.len += 1;
    }
    fn extend(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.push(b);
        }
    }
    fn flush(&mut self) {
        if self.len > 0 {
            (self.out)(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Decoder {
    /// A decoder for a new part.
    pub fn new(enc: Encoding) -> Decoder {
        Decoder {
            enc,
            ..Decoder::default()
        }
    }

    /// The part's encoding.
    pub fn encoding(&self) -> Encoding {
        self.enc
    }

    /// Decodes one body line (without its line break), calling `out` with the decoded bytes.
    pub fn line(&mut self, line: &[u8], out: &mut impl FnMut(&[u8])) -> DecodeFaults {
        let mut faults = DecodeFaults::default();
        let mut c = Chunker {
            buf: [0; CHUNK],
            len: 0,
            out,
        };
        match self.enc {
            Encoding::Identity => {
                if std::mem::replace(&mut self.crlf_owed, true) {
                    c.extend(b"\r\n");
                }
                c.extend(line);
            }
            Encoding::Base64 => self.base64(line, &mut c, &mut faults),
            Encoding::QuotedPrintable => {
                if std::mem::take(&mut self.crlf_owed) {
                    c.extend(b"\r\n");
                }
                let line = line.trim_ascii_end();
                let (body, soft) = match line.strip_suffix(b"=") {
                    Some(b) => (b, true),
                    None => (line, false),
                };
                let mut i = 0;
                while i < body.len() {
                    let b = body[i];
                    if b == b'=' {
                        if let (Some(h), Some(l)) = (
                            body.get(i + 1).copied().and_then(hex),
                            body.get(i + 2).copied().and_then(hex),
                        ) {
                            c.push(h << 4 | l);
                            i += 3;
                            continue;
                        }
                        faults.bad_qp = true;
                    }
                    c.push(b);
                    i += 1;
                }
                self.crlf_owed = !soft;
            }
        }
        c.flush();
        faults
    }

    fn base64<F: FnMut(&[u8])>(
        &mut self,
        line: &[u8],
        c: &mut Chunker<'_, F>,
        faults: &mut DecodeFaults,
    ) {
        for &b in line {
            if self.b64_done || b.is_ascii_whitespace() {
                continue;
            }
            if b == b'=' {
                self.finish_quad(c);
                self.b64_done = true;
                continue;
            }
            let Some(v) = b64_value(b) else {
                faults.bad_base64 = true;
                continue;
            };
            self.quad[usize::from(self.nquad)] = v;
            self.nquad += 1;
            if self.nquad == 4 {
                let q = self.quad;
                c.push(q[0] << 2 | q[1] >> 4);
                c.push(q[1] << 4 | q[2] >> 2);
                c.push(q[2] << 6 | q[3]);
                self.nquad = 0;
            }
        }
    }

    /// Writes what a partial base64 quantum holds (at padding or the part's end).
    fn finish_quad<F: FnMut(&[u8])>(&mut self, c: &mut Chunker<'_, F>) {
        let q = self.quad;
        if self.nquad >= 2 {
            c.push(q[0] << 2 | q[1] >> 4);
        }
        if self.nquad >= 3 {
            c.push(q[1] << 4 | q[2] >> 2);
        }
        self.nquad = 0;
    }

    /// The part ended: flushes a partial base64 quantum.
    pub fn finish(&mut self, out: &mut impl FnMut(&[u8])) {
        let mut c = Chunker {
            buf: [0; CHUNK],
            len: 0,
            out,
        };
        if self.enc == Encoding::Base64 {
            self.finish_quad(&mut c);
        }
        c.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(enc: Encoding, lines: &[&[u8]]) -> (Vec<u8>, DecodeFaults) {
        let mut d = Decoder::new(enc);
        let mut out = Vec::new();
        let mut f = DecodeFaults::default();
        for l in lines {
            let g = d.line(l, &mut |b: &[u8]| out.extend_from_slice(b));
            f.bad_base64 |= g.bad_base64;
            f.bad_qp |= g.bad_qp;
        }
        d.finish(&mut |b: &[u8]| out.extend_from_slice(b));
        (out, f)
    }

    #[test]
    fn base64_across_lines_and_padding() {
        let (out, f) = decode(Encoding::Base64, &[b"SGVsbG8s", b"IHdvcmxk", b"IQ=="]);
        assert_eq!(out, b"Hello, world!");
        assert_eq!(f, DecodeFaults::default());
        // Quanta split over lines, no padding.
        let (out, _) = decode(Encoding::Base64, &[b"SGV", b"sbG8"]);
        assert_eq!(out, b"Hello");
        let (out, f) = decode(Encoding::Base64, &[b"SG*Vs bG8"]);
        assert_eq!(out, b"Hello");
        assert!(f.bad_base64);
        // A long line goes out in several chunks.
        let long = "QUFB".repeat(200);
        let (out, _) = decode(Encoding::Base64, &[long.as_bytes()]);
        assert_eq!(out, vec![b'A'; 600]);
    }

    #[test]
    fn quoted_printable_soft_breaks() {
        let (out, f) = decode(Encoding::QuotedPrintable, &[b"a=3Db =", b"c", b"d=ZZ"]);
        assert_eq!(out, b"a=b c\r\nd=ZZ");
        assert!(f.bad_qp);
    }

    #[test]
    fn identity_line_breaks_between_lines_only() {
        let (out, _) = decode(Encoding::Identity, &[b"one", b"", b"two"]);
        assert_eq!(out, b"one\r\n\r\ntwo");
        assert_eq!(Encoding::from_header(b" BASE64 "), Encoding::Base64);
        assert_eq!(Encoding::from_header(b"7bit"), Encoding::Identity);
    }
}
