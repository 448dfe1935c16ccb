//! Line framing of SMTP commands, replies and message lines (RFC 5321 §2.3.8: lines end in
//! CRLF; a bare LF is accepted as Suricata does).
//!
//! A line is delivered once its LF arrives, without the line break. A line of
//! [`MAX_LINE`] bytes or more (LF included) is delivered cut to [`MAX_LINE`] bytes with its
//! delimiter kept, flagged truncated, and the rest up to the next LF is discarded: memory
//! per direction stays at [`MAX_LINE`] bytes whatever the peer sends.

/// Longest line kept (Suricata's SMTP line limit).
pub const MAX_LINE: usize = 4096;

/// One direction's partial line.
#[derive(Debug, Default)]
pub struct LineReader {
    buf: Vec<u8>,
    /// Discarding the rest of a line that was already delivered truncated.
    discard: bool,
    /// `buf` holds a line already delivered: cleared on the next call.
    delivered: bool,
}

/// A complete (or cut) line.
#[derive(Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// The bytes, line break removed unless truncated.
    pub bytes: &'a [u8],
    /// The line was longer than [`MAX_LINE`].
    pub truncated: bool,
}

impl LineReader {
    /// Forgets a partial line; with `resync`, bytes up to the next LF are skipped (after a
    /// gap, the next complete line starts after it).
    pub fn reset(&mut self, resync: bool) {
        self.buf.clear();
        self.delivered = false;
        self.discard = resync;
    }

    /// Bytes of a partial line held.
    pub fn held(&self) -> usize {
        if self.delivered {
            0
        } else {
            self.buf.len()
        }
    }

    /// The next line of `data` from `*pos` (advanced past what was used), or `None` when
    /// the rest of `data` was taken into the partial line.
    pub fn next<'a>(&'a mut self, data: &'a [u8], pos: &mut usize) -> Option<Line<'a>> {
        if std::mem::take(&mut self.delivered) {
            self.buf.clear();
        }
        loop {
            let rest = &data[*pos..];
            if rest.is_empty() {
                return None;
            }
            let Some(lf) = rest.iter().position(|&c| c == b'\n') else {
                *pos = data.len();
                if self.discard {
                    return None;
                }
                if self.buf.len() + rest.len() >= MAX_LINE {
                    let take = MAX_LINE - self.buf.len();
                    self.buf.extend_from_slice(&rest[..take]);
                    self.discard = true;
                    self.delivered = true;
                    return Some(Line {
                        bytes: &self.buf,
                        truncated: true,
                    });
                }
                if self.buf.capacity() == 0 {
                    self.buf.reserve(MAX_LINE);
                }
                self.buf.extend_from_slice(rest);
                return None;
            };
            *pos += lf + 1;
            if std::mem::take(&mut self.discard) {
                self.buf.clear();
                continue;
            }
            let seg = &rest[..=lf];
            let whole: &[u8] = if self.buf.is_empty() {
                seg
            } else {
                // Held bytes are fewer than MAX_LINE: at most one byte past it is kept.
                let take = seg.len().min(MAX_LINE + 1 - self.buf.len());
                self.buf.extend_from_slice(&seg[..take]);
                self.delivered = true;
                &self.buf
            };
            let line = if whole.len() > MAX_LINE {
                Line {
                    bytes: &whole[..MAX_LINE],
                    truncated: true,
                }
            } else {
                let b = &whole[..whole.len() - 1];
                Line {
                    bytes: b.strip_suffix(b"\r").unwrap_or(b),
                    truncated: false,
                }
            };
            return Some(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(r: &mut LineReader, data: &[u8]) -> Vec<(Vec<u8>, bool)> {
        let mut pos = 0;
        let mut v = Vec::new();
        while let Some(l) = r.next(data, &mut pos) {
            v.push((l.bytes.to_vec(), l.truncated));
        }
        v
    }

    #[test]
    fn any_split_gives_the_same_lines() {
        let data = b"EHLO a\r\nMAIL FROM:<x>\nQUIT\r\n";
        for split in 0..=data.len() {
            let mut r = LineReader::default();
            let mut got = lines(&mut r, &data[..split]);
            got.extend(lines(&mut r, &data[split..]));
            let names: Vec<_> = got.iter().map(|(b, _)| b.as_slice()).collect();
            assert_eq!(names, vec![&b"EHLO a"[..], b"MAIL FROM:<x>", b"QUIT"]);
        }
    }

    #[test]
    fn long_lines_are_cut_and_the_rest_skipped() {
        let mut r = LineReader::default();
        let mut long = vec![b'A'; MAX_LINE - 1];
        long.extend_from_slice(b"\r\nNEXT\r\n");
        let got = lines(&mut r, &long);
        assert_eq!(got[0].0.len(), MAX_LINE);
        assert!(got[0].1 && got[0].0.ends_with(b"\r"));
        assert_eq!(got[1], (b"NEXT".to_vec(), false));
        // No LF at all: cut once, then discarded up to the LF, in any chunking.
        let mut r = LineReader::default();
        for _ in 0..10 {
            let got = lines(&mut r, &[b'B'; 1000]);
            assert!(got.iter().all(|(b, t)| *t && b.len() == MAX_LINE));
        }
        assert_eq!(lines(&mut r, b"B\nOK\n"), vec![(b"OK".to_vec(), false)]);
        assert!(r.held() == 0);
    }
}
