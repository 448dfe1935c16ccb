//! URLs in the text of a message, as Suricata's SMTP `extract-urls` finds them: each
//! occurrence of a scheme (`http://` by default) up to the next whitespace, quote or angle
//! bracket, kept without the scheme. Text is scanned a line at a time from a capped buffer,
//! so a URL split across decoded chunks is still found.

/// Schemes looked for (Suricata's default `extract-urls-schemes`).
pub const SCHEMES: &[&[u8]] = &[b"http://"];
/// Bytes of a line scanned; a longer line is scanned in pieces.
pub const MAX_SCAN: usize = 4096;
/// Longest URL kept.
pub const MAX_URL: usize = 1024;

fn ends_url(c: u8) -> bool {
    c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'<' | b'>')
}

/// Collects decoded text and reports the URLs of each line.
#[derive(Debug, Default)]
pub struct UrlScanner {
    line: Vec<u8>,
}

impl UrlScanner {
    /// Forgets buffered text.
    pub fn clear(&mut self) {
        self.line.clear();
    }

    /// Decoded text; complete lines are scanned into `urls`.
    pub fn feed(&mut self, mut text: &[u8], urls: &mut Vec<Vec<u8>>) {
        while !text.is_empty() {
            let room = MAX_SCAN - self.line.len();
            let nl = text.iter().position(|&c| c == b'\n');
            let take = nl.map_or(text.len(), |i| i + 1).min(room);
            self.line.extend_from_slice(&text[..take]);
            text = &text[take..];
            if self.line.len() == MAX_SCAN || self.line.last() == Some(&b'\n') {
                self.flush(urls);
            }
        }
    }

    /// Scans what is buffered (end of a line or of the part).
    pub fn flush(&mut self, urls: &mut Vec<Vec<u8>>) {
        extract(&self.line, urls);
        self.line.clear();
    }
}

/// Appends the URLs of `text` to `urls` (each once, at most [`super::MAX_LIST`]).
pub fn extract(text: &[u8], urls: &mut Vec<Vec<u8>>) {
    for scheme in SCHEMES {
        let mut rest = text;
        while let Some(at) = find_nocase(rest, scheme) {
            let start = at + scheme.len();
            let len = rest[start..]
                .iter()
                .position(|&c| ends_url(c))
                .unwrap_or(rest.len() - start);
            let url = &rest[start..start + len.min(MAX_URL)];
            if !url.is_empty() && urls.len() < super::MAX_LIST && !urls.iter().any(|u| u == url) {
                urls.push(url.to_vec());
            }
            rest = &rest[start + len..];
        }
    }
}

fn find_nocase(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_order_found_without_scheme() {
        let mut urls = Vec::new();
        let mut s = UrlScanner::default();
        s.feed(
            b"see http://google.com and HTTP://test-site.org/blah/123/ ",
            &mut urls,
        );
        s.feed(
            b"or https://x.io, \"http://google.com\"\r\nnext http://a.b/",
            &mut urls,
        );
        assert_eq!(urls.len(), 2);
        s.feed(b"c>", &mut urls);
        s.flush(&mut urls);
        assert_eq!(
            urls,
            vec![
                b"google.com".to_vec(),
                b"test-site.org/blah/123/".to_vec(),
                b"a.b/c".to_vec()
            ]
        );
    }

    #[test]
    fn long_text_is_bounded() {
        let mut urls = Vec::new();
        let mut s = UrlScanner::default();
        let text = "http://x".repeat(5000);
        s.feed(text.as_bytes(), &mut urls);
        s.flush(&mut urls);
        assert!(urls.len() <= crate::app::mime::MAX_LIST);
    }
}
