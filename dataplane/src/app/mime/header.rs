//! MIME header fields (RFC 5322 §2.2, RFC 2045 §5): folding, the parameters of
//! `Content-Type` and `Content-Disposition`, and RFC 2231 continuations (`filename*0=`,
//! `filename*1*=`), all over borrowed bytes.

/// Longest header name kept (Suricata's limit); a longer one is an anomaly and is skipped.
pub const MAX_NAME: usize = 75;

/// One header field being collected across folded lines, capped at `max_value` bytes.
#[derive(Debug, Default)]
pub struct FieldBuf {
    name: Vec<u8>,
    value: Vec<u8>,
    /// A field is being collected.
    pub active: bool,
    /// The name was too long: the field is dropped.
    pub bad_name: bool,
    /// The value was cut at the cap.
    pub truncated: bool,
}

impl FieldBuf {
    /// Starts a field from its first line (`Name: value`); `false` when the line has no colon.
    pub fn start(&mut self, line: &[u8], max_value: usize) -> bool {
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            return false;
        };
        let name = line[..colon].trim_ascii();
        self.name.clear();
        self.value.clear();
        self.bad_name = name.len() > MAX_NAME;
        self.truncated = false;
        if !self.bad_name {
            self.name.extend_from_slice(name);
            self.name.make_ascii_lowercase();
        }
        self.active = true;
        self.push_value(line[colon + 1..].trim_ascii_start(), max_value);
        true
    }

    /// A continuation line (starts with SP or HT): unfolded by dropping the line break.
    pub fn fold(&mut self, line: &[u8], max_value: usize) {
        if self.active {
            self.push_value(line, max_value);
        }
    }

    fn push_value(&mut self, v: &[u8], max_value: usize) {
        let room = max_value.saturating_sub(self.value.len());
        if v.len() > room {
            self.truncated = true;
        }
        self.value.extend_from_slice(&v[..v.len().min(room)]);
    }

    /// The lowercase name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The unfolded value, trailing whitespace removed.
    pub fn value(&self) -> &[u8] {
        self.value.trim_ascii_end()
    }
}

/// The `type/subtype` of a `Content-Type` value, lowercase-comparable.
pub fn media_type(v: &[u8]) -> &[u8] {
    let end = v.iter().position(|&c| c == b';').unwrap_or(v.len());
    v[..end].trim_ascii()
}

/// Iterates `name=value` parameters after the first `;` (quotes removed from values).
pub fn params(v: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let start = v.iter().position(|&c| c == b';').map_or(v.len(), |i| i + 1);
    ParamIter { rest: &v[start..] }
}

struct ParamIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let r = self.rest.trim_ascii_start();
            if r.is_empty() {
                return None;
            }
            let eq = r.iter().position(|&c| c == b'=' || c == b';');
            let Some(eq) = eq.filter(|&i| r[i] == b'=') else {
                // A parameter without a value: skip to the next `;`.
                let end = r.iter().position(|&c| c == b';').map_or(r.len(), |i| i + 1);
                self.rest = &r[end..];
                continue;
            };
            let name = r[..eq].trim_ascii();
            let after = r[eq + 1..].trim_ascii_start();
            let (value, used) = if let Some(q) = after.strip_prefix(b"\"") {
                let close = q.iter().position(|&c| c == b'"').unwrap_or(q.len());
                (&q[..close], 1 + (close + 1).min(q.len()))
            } else {
                let end = after.iter().position(|&c| c == b';').unwrap_or(after.len());
                (after[..end].trim_ascii(), end)
            };
            let rest = &after[used.min(after.len())..];
            let next = rest
                .iter()
                .position(|&c| c == b';')
                .map_or(rest.len(), |i| i + 1);
            self.rest = &rest[next..];
            return Some((name, value));
        }
    }
}

/// The value of parameter `want` (case-insensitive), joining RFC 2231 continuations
/// (`want*0`, `want*1*`, ...) and percent-decoding extended (`*`) values; written into
/// `out` up to `max` bytes. Returns whether the parameter was present and whether it was cut.
pub fn param_into(v: &[u8], want: &[u8], out: &mut Vec<u8>, max: usize) -> (bool, bool) {
    out.clear();
    let mut found = false;
    let mut cut = false;
    let mut push = |out: &mut Vec<u8>, b: &[u8]| {
        let room = max.saturating_sub(out.len());
        cut |= b.len() > room;
        out.extend_from_slice(&b[..b.len().min(room)]);
    };
    // A plain parameter wins; continuations are joined in the order they appear (senders
    // write them in order).
    for (n, val) in params(v) {
        if n.eq_ignore_ascii_case(want) {
            push(out, val);
            return (true, cut);
        }
    }
    for (n, val) in params(v) {
        let Some(rest) = strip_prefix_nocase(n, want).and_then(|r| r.strip_prefix(b"*")) else {
            continue;
        };
        let extended = rest.ends_with(b"*") || rest.is_empty();
        let section = rest.strip_suffix(b"*").unwrap_or(rest);
        if !section.iter().all(u8::is_ascii_digit) {
            continue;
        }
        found = true;
        if extended {
            // `charset'language'percent-encoded` on the first section.
            let val = match val.iter().filter(|&&c| c == b'\'').count() {
                2 if section.is_empty() || section == b"0" => {
                    let second = val.iter().rposition(|&c| c == b'\'').unwrap_or(0);
                    &val[second + 1..]
                }
                _ => val,
            };
            let mut i = 0;
            while i < val.len() {
                if val[i] == b'%' && i + 2 < val.len() + 1 {
                    let h = val.get(i + 1).and_then(|&c| (c as char).to_digit(16));
                    let l = val.get(i + 2).and_then(|&c| (c as char).to_digit(16));
                    if let (Some(h), Some(l)) = (h, l) {
                        push(out, &[(h * 16 + l) as u8]);
                        i += 3;
                        continue;
                    }
                }
                push(out, &val[i..i + 1]);
                i += 1;
            }
        } else {
            push(out, val);
        }
    }
    (found, cut)
}

fn strip_prefix_nocase<'a>(b: &'a [u8], p: &[u8]) -> Option<&'a [u8]> {
    (b.len() >= p.len() && b[..p.len()].eq_ignore_ascii_case(p)).then(|| &b[p.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_and_caps() {
        let mut f = FieldBuf::default();
        assert!(f.start(b"Content-Type: multipart/mixed;", 64));
        f.fold(b"\tboundary=\"b1\"", 64);
        assert_eq!(f.name(), b"content-type");
        assert_eq!(f.value(), b"multipart/mixed;\tboundary=\"b1\"");
        assert!(!f.start(b"no colon here", 64));
        f.start(b"Subject: 0123456789", 5);
        assert!(f.truncated);
        assert_eq!(f.value(), b"01234");
        f.start(
            &[b'x'; 80].iter().chain(b": v").copied().collect::<Vec<_>>(),
            5,
        );
        assert!(f.bad_name);
    }

    #[test]
    fn parameters_and_rfc2231() {
        let v = b"multipart/mixed; boundary=\"----=_Next;Part\"; charset=us-ascii";
        assert_eq!(media_type(v), b"multipart/mixed");
        let p: Vec<_> = params(v).collect();
        assert_eq!(
            p,
            vec![
                (&b"boundary"[..], &b"----=_Next;Part"[..]),
                (&b"charset"[..], &b"us-ascii"[..])
            ]
        );
        let mut out = Vec::new();
        let cd = b"attachment;\r\n filename*0=smtptest-aa;\r\n filename*1=bb..zip";
        assert_eq!(param_into(cd, b"filename", &mut out, 255), (true, false));
        assert_eq!(out, b"smtptest-aabb..zip");
        let cd = b"attachment; filename*=UTF-8''na%20me.txt";
        param_into(cd, b"filename", &mut out, 255);
        assert_eq!(out, b"na me.txt");
        assert_eq!(
            param_into(b"inline", b"filename", &mut out, 9),
            (false, false)
        );
        assert_eq!(
            param_into(b"a; name=\"0123456789\"", b"name", &mut out, 4),
            (true, true)
        );
        assert_eq!(out, b"0123");
    }
}
