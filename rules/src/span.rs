//! Byte spans into a rule's logical text and diagnostics that point at them.
//!
//! A rule may span several physical lines (a trailing `\` continues it), so a span is an
//! offset into the joined, logical text; [`SourceMap`] maps it back to `file:line:col`.

use serde::Serialize;
use std::fmt;
use std::ops::Range;

/// Half-open byte range `start..end` into a rule's logical text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// A span from byte offsets (saturating at `u32::MAX`; rules are far shorter).
    pub fn new(start: usize, end: usize) -> Self {
        let c = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Span {
            start: c(start),
            end: c(end.max(start)),
        }
    }

    /// The byte range, for slicing the logical text.
    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// Span shifted right by `by` bytes.
    pub fn shift(self, by: usize) -> Self {
        Span::new(self.start as usize + by, self.end as usize + by)
    }

    /// Smallest span covering both.
    pub fn join(self, other: Span) -> Self {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// Zero-width span at `at`.
    pub fn point(at: usize) -> Self {
        Span::new(at, at)
    }
}

/// Where one logical rule text came from: its file and the physical line each piece starts on.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    /// File name as given by the caller.
    pub file: String,
    /// `(logical offset, physical line (1-based), physical column (1-based))` of each
    /// physical line that makes up the logical text, in order.
    pub pieces: Vec<(usize, usize, usize)>,
}

impl SourceMap {
    /// A single-line source.
    pub fn single(file: &str, line: usize) -> Self {
        SourceMap {
            file: file.to_string(),
            pieces: vec![(0, line, 1)],
        }
    }

    /// Physical `(line, col)` of a logical byte offset (column counted in bytes, 1-based).
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut best = (0, 1, 1);
        for &p in &self.pieces {
            if p.0 <= offset {
                best = p;
            } else {
                break;
            }
        }
        (best.1, best.2 + (offset - best.0))
    }

    /// The first physical line of this source.
    pub fn first_line(&self) -> usize {
        self.pieces.first().map_or(0, |p| p.1)
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The rule was not loaded.
    Error,
    /// The rule was loaded, but something deserves attention (e.g. a duplicate sid).
    Warning,
}

/// A located message about a rule: `file:line:col`, the source line and a caret under the span.
#[derive(Clone, Debug, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// File name.
    pub file: String,
    /// Physical line (1-based).
    pub line: usize,
    /// Byte column (1-based).
    pub col: usize,
    /// What is wrong.
    pub message: String,
    /// The logical rule text the span points into: all of it up to [`MAX_KEPT_SOURCE`] bytes,
    /// otherwise the window a diagnostic prints (a report over many huge rules stays small).
    pub source: String,
    /// The span in `source`.
    #[serde(skip)]
    pub span: Span,
    /// Bytes of the rule text cut before and after `source`.
    #[serde(skip)]
    pub cut: (usize, usize),
    /// The rule's `sid`, when its text names one (read before `source` is cut).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<u32>,
}

impl Diagnostic {
    /// Builds a diagnostic for `span` in `text` located through `map`.
    pub fn new(
        severity: Severity,
        map: &SourceMap,
        text: &str,
        span: Span,
        message: impl Into<String>,
    ) -> Self {
        let (line, col) = map.line_col(span.start as usize);
        let (lo, hi) = if text.len() <= MAX_KEPT_SOURCE {
            (0, text.len())
        } else {
            window(text, span)
        };
        let shift = |i: u32| (i as usize).clamp(lo, hi) - lo;
        Diagnostic {
            severity,
            file: map.file.clone(),
            line,
            col,
            message: message.into(),
            source: text[lo..hi].to_string(),
            span: Span::new(shift(span.start), shift(span.end)),
            cut: (lo, text.len() - hi),
            sid: sid_of(text),
        }
    }
}

/// The number after the first `sid:` in a rule's text (a text that failed to parse has no
/// AST to ask).
fn sid_of(text: &str) -> Option<u32> {
    let i = text.find("sid:")?;
    let rest = text[i + 4..].trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The part of `text` a diagnostic on `span` prints: 60 bytes either side of the span, and at
/// most [`MAX_SHOWN_SPAN`] bytes of the span itself.
fn window(text: &str, span: Span) -> (usize, usize) {
    let start = span.start as usize;
    let end = (span.end as usize).max(start + 1);
    let lo = floor_char(text, start.saturating_sub(60));
    let hi = if end - start > MAX_SHOWN_SPAN {
        floor_char(text, start + MAX_SHOWN_SPAN)
    } else {
        floor_char(text, (end + 60).min(text.len()))
    };
    (lo, hi)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.col, sev, self.message
        )?;
        // Show a window of the logical text around the span so long rules stay readable; a
        // span longer than MAX_SHOWN_SPAN (a whole multi-megabyte rule) is cut, with a marker.
        let (start, end) = (self.span.start as usize, self.span.end as usize);
        let (lo, hi) = window(&self.source, self.span);
        let end = end.max(start + 1);
        // A span that ran past a kept window was cut when the diagnostic was made.
        let cut = end - start > MAX_SHOWN_SPAN || (self.cut.1 > 0 && end >= self.source.len());
        let window = &self.source[lo..hi];
        let prefix = if lo + self.cut.0 > 0 { "..." } else { "" };
        let pad = prefix.len()
            + self.source[lo..floor_char(&self.source, start.min(hi))]
                .chars()
                .count();
        let carets = self.source
            [floor_char(&self.source, start.min(hi))..floor_char(&self.source, end.min(hi))]
            .chars()
            .count()
            .max(1);
        if cut {
            let more = self.source.len() - hi + self.cut.1;
            writeln!(f, "  | {prefix}{window}... [{more} more bytes not shown]")?;
        } else {
            writeln!(f, "  | {prefix}{window}")?;
        }
        write!(f, "  | {}{}", " ".repeat(pad), "^".repeat(carets))
    }
}

/// Longest part of a span a diagnostic prints (and underlines).
const MAX_SHOWN_SPAN: usize = 200;

/// Longest rule text a diagnostic keeps whole; a longer one keeps the printed window only.
pub const MAX_KEPT_SOURCE: usize = 4096;

fn floor_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str, span: Span) -> String {
        let map = SourceMap::single("t.rules", 1);
        Diagnostic::new(Severity::Error, &map, text, span, "too long").to_string()
    }

    /// A diagnostic over a whole 20 MB rule prints a short window with a marker, not the rule
    /// twice (text and carets).
    #[test]
    fn a_long_span_is_cut_with_a_marker() {
        let text = format!(
            "alert tcp any any -> any any (content:\"{}\";)",
            "A".repeat(20 << 20)
        );
        let out = render(&text, Span::new(0, text.len()));
        assert!(out.len() < 1_000, "{} bytes", out.len());
        let more = text.len() - MAX_SHOWN_SPAN;
        assert!(
            out.contains(&format!("... [{more} more bytes not shown]")),
            "{out}"
        );
        assert_eq!(out.matches('^').count(), MAX_SHOWN_SPAN);
        // A short span is shown whole, without a marker.
        let out = render(&text[..60], Span::new(6, 9));
        assert!(
            out.contains("alert tcp") && !out.contains("not shown"),
            "{out}"
        );
        assert_eq!(out.matches('^').count(), 3);
    }

    /// A diagnostic on a huge rule keeps only the window it prints, and prints the same.
    #[test]
    fn a_long_rule_keeps_only_the_printed_window() {
        let text = format!(
            "alert tcp any any -> any any (content:\"{}\"; sid:1;)",
            "A".repeat(1 << 20)
        );
        let map = SourceMap::single("t.rules", 1);
        let whole = Span::new(0, text.len());
        let d = Diagnostic::new(Severity::Error, &map, &text, whole, "m");
        assert!(d.source.len() < 400, "{} bytes kept", d.source.len());
        let more = text.len() - MAX_SHOWN_SPAN;
        assert!(d
            .to_string()
            .contains(&format!("[{more} more bytes not shown]")));
        let at = text.find("sid").unwrap();
        let d = Diagnostic::new(Severity::Error, &map, &text, Span::new(at, at + 3), "m");
        assert!(d.source.len() < 200, "{} bytes kept", d.source.len());
        let out = d.to_string();
        assert!(out.contains("...AAA") && out.contains("sid:1;)"), "{out}");
        assert_eq!(out.matches('^').count(), 3);
        assert!(!out.contains("not shown"), "{out}");
    }
}
