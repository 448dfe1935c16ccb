//! Streaming `multipart/*` bodies (RFC 2046 §5.1; `multipart/form-data`, RFC 7578): each part
//! whose `Content-Disposition` names a file becomes a file of the [`FileSet`], fed as the
//! body arrives in pieces of any size. HTTP uploads use it now; MIME mail will.
//!
//! ```text
//! preamble CRLF --boundary CRLF part-headers CRLF CRLF part-body
//!          CRLF --boundary CRLF part-headers CRLF CRLF part-body
//!          CRLF --boundary-- epilogue
//! ```
//!
//! The delimiter is `CRLF--boundary`; the body is treated as starting with a CRLF so a first
//! boundary at its very start is found too. Bytes that may be the start of a delimiter are
//! held until the next piece (at most the delimiter's length); part headers are collected up
//! to [`MAX_PART_HEADERS`] bytes (a part with longer headers is skipped, not a file). The
//! scratch buffer is reused, so feeding pieces allocates nothing once it has grown.

use super::name::find;
use super::{FileCounters, FileLimits, FileSet, FileState};

/// Longest boundary accepted (RFC 2046: 70 characters).
pub const MAX_BOUNDARY: usize = 70;
/// Bytes of one part's header block kept.
pub const MAX_PART_HEADERS: usize = 4096;

/// The `boundary` parameter of a `multipart/...` Content-Type, quotes removed.
pub fn boundary(content_type: &[u8]) -> Option<&[u8]> {
    let mut parts = content_type.split(|&c| c == b';');
    let media = <[u8]>::trim_ascii(parts.next()?);
    if media.len() < 10 || !media[..10].eq_ignore_ascii_case(b"multipart/") {
        return None;
    }
    parts.find_map(|p| {
        let p = <[u8]>::trim_ascii(p);
        let eq = p.iter().position(|&c| c == b'=')?;
        if !<[u8]>::trim_ascii(&p[..eq]).eq_ignore_ascii_case(b"boundary") {
            return None;
        }
        let v = <[u8]>::trim_ascii(&p[eq + 1..]);
        let v = match v {
            [b'"', inner @ .., b'"'] => inner,
            _ => v,
        };
        (!v.is_empty() && v.len() <= MAX_BOUNDARY).then_some(v)
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the first delimiter.
    Preamble,
    /// Just after a delimiter: `--` ends the body, else the rest of the line is skipped.
    AfterDelimiter,
    /// Skipping to the end of the delimiter's line.
    DelimiterLine,
    /// Collecting a part's headers.
    Headers,
    /// A part's headers were too long: skipping to the next delimiter.
    SkipPart,
    /// In a part's content.
    Body,
    /// After the closing delimiter: nothing more is looked at.
    Epilogue,
}

/// One multipart body being parsed.
#[derive(Debug)]
pub struct Multipart {
    /// `CRLF--boundary`.
    delim: Vec<u8>,
    state: State,
    /// Held bytes: a possible delimiter start, or part headers.
    buf: Vec<u8>,
    /// The current part is a file (open in the set).
    file: bool,
    tx_id: u64,
}

impl Default for Multipart {
    fn default() -> Self {
        Multipart {
            delim: Vec::new(),
            state: State::Epilogue,
            buf: Vec::new(),
            file: false,
            tx_id: 0,
        }
    }
}

impl Multipart {
    /// Starts a body delimited by `boundary`, its files belonging to transaction `tx_id`.
    pub fn start(&mut self, boundary: &[u8], tx_id: u64) {
        self.delim.clear();
        self.delim.extend_from_slice(b"\r\n--");
        self.delim.extend_from_slice(boundary);
        self.buf.clear();
        self.buf.extend_from_slice(b"\r\n");
        self.state = State::Preamble;
        self.file = false;
        self.tx_id = tx_id;
    }

    /// A body is being parsed (its closing delimiter not seen yet).
    pub fn is_active(&self) -> bool {
        self.state != State::Epilogue
    }

    /// The next decoded piece of the body.
    pub fn feed(
        &mut self,
        data: &[u8],
        files: &mut FileSet,
        limits: &FileLimits,
        ctr: &mut FileCounters,
    ) {
        if self.state == State::Epilogue {
            return;
        }
        self.buf.extend_from_slice(data);
        let mut at = 0;
        // Each step consumes bytes or waits for more.
        loop {
            let rest = &self.buf[at..];
            let (used, wait) = match self.state {
                State::Preamble | State::SkipPart => match find(rest, &self.delim) {
                    Some(i) => {
                        self.state = State::AfterDelimiter;
                        (i + self.delim.len(), false)
                    }
                    None => (rest.len().saturating_sub(self.delim.len() - 1), true),
                },
                State::Body => match find(rest, &self.delim) {
                    Some(i) => {
                        if self.file {
                            files.append(&rest[..i], ctr);
                            files.close(FileState::Closed, ctr);
                            self.file = false;
                        }
                        self.state = State::AfterDelimiter;
                        (i + self.delim.len(), false)
                    }
                    None => {
                        let n = rest.len().saturating_sub(self.delim.len() - 1);
                        if self.file {
                            files.append(&rest[..n], ctr);
                        }
                        (n, true)
                    }
                },
                State::AfterDelimiter => {
                    if rest.len() < 2 {
                        (0, true)
                    } else if rest.starts_with(b"--") {
                        self.state = State::Epilogue;
                        (2, true)
                    } else {
                        self.state = State::DelimiterLine;
                        (0, false)
                    }
                }
                State::DelimiterLine => match rest.iter().position(|&c| c == b'\n') {
                    Some(i) => {
                        self.state = State::Headers;
                        (i + 1, false)
                    }
                    None => (rest.len(), true),
                },
                State::Headers => match header_end(rest) {
                    Some((end, body)) => {
                        let name = part_filename(&rest[..end]);
                        if let Some(name) = name {
                            self.file = files.open(name, self.tx_id, limits, ctr);
                        }
                        self.state = State::Body;
                        (body, false)
                    }
                    None if rest.len() > MAX_PART_HEADERS => {
                        self.state = State::SkipPart;
                        (0, false)
                    }
                    None => (0, true),
                },
                State::Epilogue => (rest.len(), true),
            };
            at += used;
            if wait {
                break;
            }
        }
        self.buf.drain(..at);
        if self.state == State::Epilogue {
            self.buf.clear();
        }
    }

    /// The body ended (or was cut off): a part still open is truncated.
    pub fn end(&mut self, files: &mut FileSet, ctr: &mut FileCounters) {
        if self.file {
            files.close(FileState::Truncated, ctr);
            self.file = false;
        }
        self.state = State::Epilogue;
        self.buf.clear();
    }
}

/// End of a header block in `b`: (headers length, offset of the content).
fn header_end(b: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(n) = b[i..].iter().position(|&c| c == b'\n') {
        let nl = i + n;
        let next = &b[nl + 1..];
        if next.starts_with(b"\r\n") {
            return Some((nl + 1, nl + 3));
        }
        if next.starts_with(b"\n") {
            return Some((nl + 1, nl + 2));
        }
        if next.is_empty() || next == b"\r" {
            return None;
        }
        i = nl + 1;
    }
    None
}

/// The `filename` of a part's `Content-Disposition` header.
fn part_filename(headers: &[u8]) -> Option<&[u8]> {
    headers.split(|&c| c == b'\n').find_map(|line| {
        let colon = line.iter().position(|&c| c == b':')?;
        <[u8]>::trim_ascii(&line[..colon])
            .eq_ignore_ascii_case(b"content-disposition")
            .then(|| super::name::content_disposition_filename(&line[colon + 1..]))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"--XyZ\r\n\
Content-Disposition: form-data; name=\"note\"\r\n\r\n\
not a file\r\n\
--XyZ\r\n\
Content-Disposition: form-data; name=\"up\"; filename=\"a.txt\"\r\n\
Content-Type: text/plain\r\n\r\n\
abc\r\n--XyY\r\n\
--XyZ\r\n\
Content-Disposition: form-data; name=\"up2\"; filename=\"b.bin\"\r\n\r\n\
\x00\x01\r\n\
--XyZ--\r\n\
epilogue --XyZ\r\n";

    fn parse_in_pieces(piece: usize) -> Vec<(Vec<u8>, u64, FileState)> {
        let (mut files, mut ctr) = (FileSet::new(true), FileCounters::default());
        let mut m = Multipart::default();
        m.start(b"XyZ", 7);
        for p in BODY.chunks(piece) {
            m.feed(p, &mut files, &FileLimits::default(), &mut ctr);
        }
        m.end(&mut files, &mut ctr);
        files
            .iter()
            .map(|f| (f.name().to_vec(), f.size, f.state))
            .collect()
    }

    #[test]
    fn parts_with_filenames_are_files_whatever_the_piece_size() {
        let want = vec![
            (b"a.txt".to_vec(), 10, FileState::Closed),
            (b"b.bin".to_vec(), 2, FileState::Closed),
        ];
        for piece in [1, 2, 3, 5, 7, 64, BODY.len()] {
            assert_eq!(parse_in_pieces(piece), want, "pieces of {piece}");
        }
    }

    #[test]
    fn a_cut_body_truncates_its_open_part() {
        let (mut files, mut ctr) = (FileSet::new(true), FileCounters::default());
        let mut m = Multipart::default();
        m.start(b"XyZ", 0);
        let cut = BODY.windows(2).position(|w| w == b"\x00\x01").unwrap() + 1;
        m.feed(&BODY[..cut], &mut files, &FileLimits::default(), &mut ctr);
        m.end(&mut files, &mut ctr);
        let last = files.iter().last().unwrap();
        assert_eq!(
            (last.name(), last.state),
            (&b"b.bin"[..], FileState::Truncated)
        );
        assert!(!m.is_active());
    }

    #[test]
    fn boundaries_from_content_types() {
        assert_eq!(
            boundary(b"multipart/form-data; boundary=\"a b\""),
            Some(&b"a b"[..])
        );
        assert_eq!(
            boundary(b"Multipart/Mixed;charset=x; BOUNDARY=q"),
            Some(&b"q"[..])
        );
        assert_eq!(boundary(b"text/plain; boundary=q"), None);
        assert_eq!(boundary(b"multipart/form-data"), None);
        let long = format!("multipart/form-data; boundary={}", "b".repeat(71));
        assert_eq!(boundary(long.as_bytes()), None);
    }

    #[test]
    fn oversized_part_headers_skip_the_part() {
        let mut body = b"--B\r\nX: ".to_vec();
        body.extend(std::iter::repeat_n(b'h', MAX_PART_HEADERS + 10));
        body.extend_from_slice(b"\r\n\r\ndata\r\n--B\r\nContent-Disposition: attachment; filename=f\r\n\r\nok\r\n--B--");
        let (mut files, mut ctr) = (FileSet::new(true), FileCounters::default());
        let mut m = Multipart::default();
        m.start(b"B", 0);
        for p in body.chunks(100) {
            m.feed(p, &mut files, &FileLimits::default(), &mut ctr);
        }
        let names: Vec<_> = files.iter().map(|f| (f.name().to_vec(), f.size)).collect();
        assert_eq!(names, vec![(b"f".to_vec(), 2)]);
    }
}
