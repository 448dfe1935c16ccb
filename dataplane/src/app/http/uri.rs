//! Request-URI normalization for `http.uri`, following libhtp's IDS personality as Suricata
//! configures it by default:
//! - an absolute URI (`http://host/p`) keeps only its path and query (`uri-include-all: no`);
//! - the path is percent-decoded once (`%XX`, and `%uHHHH` best-fit to one byte; invalid
//!   escapes stay as they are), `\` becomes
//!   `/`, repeated separators are compressed, and dot segments are removed (RFC 3986 §5.2.4);
//! - the query (after `?`) is kept raw.
//!
//! The raw URI stays available as `http.uri.raw`.

/// Splits an absolute-form request target (`scheme://authority/path`) into authority and the
/// rest (origin form). Returns `None` for origin-form targets.
pub fn split_absolute(uri: &[u8]) -> Option<(&[u8], &[u8])> {
    let sep = find(uri, b"://")?;
    let scheme = &uri[..sep];
    if scheme.is_empty()
        || !scheme
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+')
    {
        return None;
    }
    let rest = &uri[sep + 3..];
    let end = rest
        .iter()
        .position(|&c| c == b'/' || c == b'?' || c == b'#')
        .unwrap_or(rest.len());
    Some((&rest[..end], &rest[end..]))
}

/// Writes the normalized form of `raw` into `out` (cleared first). `out` is reused, so steady
/// state does not allocate.
pub fn normalize(raw: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let target = match split_absolute(raw) {
        Some((_, rest)) => rest,
        None => raw,
    };
    let qpos = target
        .iter()
        .position(|&c| c == b'?')
        .unwrap_or(target.len());
    let (path, query) = target.split_at(qpos);

    // Decode into `out`, then remove dot segments in place over the decoded path.
    let mut i = 0;
    while i < path.len() {
        let c = path[i];
        // %uHHHH (IIS-style, decoded by libhtp's IDS personality): best fit to one byte.
        if c == b'%' && i + 5 < path.len() && matches!(path[i + 1], b'u' | b'U') {
            let digits = &path[i + 2..i + 6];
            if let [Some(a), Some(b), Some(c2), Some(d)] = [
                hex(digits[0]),
                hex(digits[1]),
                hex(digits[2]),
                hex(digits[3]),
            ] {
                let cp = u16::from(a) << 12 | u16::from(b) << 8 | u16::from(c2) << 4 | u16::from(d);
                let byte = match cp {
                    0..=0xff => cp as u8,
                    // Fullwidth ASCII forms map to ASCII.
                    0xff01..=0xff5e => (cp - 0xfee0) as u8,
                    _ => b'?',
                };
                i += 6;
                let byte = if byte == b'\\' { b'/' } else { byte };
                if byte == b'/' && out.last() == Some(&b'/') {
                    continue;
                }
                out.push(byte);
                continue;
            }
        }
        let b = if c == b'%' && i + 2 < path.len() {
            match (hex(path[i + 1]), hex(path[i + 2])) {
                (Some(h), Some(l)) => {
                    i += 2;
                    h << 4 | l
                }
                _ => c,
            }
        } else {
            c
        };
        i += 1;
        let b = if b == b'\\' { b'/' } else { b };
        if b == b'/' && out.last() == Some(&b'/') {
            continue;
        }
        out.push(b);
    }
    remove_dot_segments(out);
    out.extend_from_slice(query);
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// RFC 3986 §5.2.4 over a path in place: segments are read left to right and written back at
/// a write index that never passes the read index, so no allocation and one bounded pass.
fn remove_dot_segments(p: &mut Vec<u8>) {
    if !p.contains(&b'.') {
        return;
    }
    let len = p.len();
    let absolute = p.first() == Some(&b'/');
    let mut r = usize::from(absolute);
    let mut w = 0usize;
    let mut trailing;
    loop {
        let end = p[r..]
            .iter()
            .position(|&c| c == b'/')
            .map_or(len, |x| r + x);
        let last = end >= len;
        let seg = &p[r..end];
        if seg == b"." {
            trailing = last;
        } else if seg == b".." {
            w = p[..w].iter().rposition(|&c| c == b'/').unwrap_or(0);
            trailing = last;
        } else {
            if absolute || w > 0 {
                p[w] = b'/';
                w += 1;
            }
            p.copy_within(r..end, w);
            w += end - r;
            trailing = false;
        }
        if last {
            break;
        }
        r = end + 1;
    }
    p.truncate(w);
    if trailing || (absolute && w == 0) {
        p.push(b'/');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        let mut o = Vec::new();
        normalize(s.as_bytes(), &mut o);
        String::from_utf8_lossy(&o).into_owned()
    }

    #[test]
    fn decodes_and_removes_dots() {
        assert_eq!(n("/normalized%20uri"), "/normalized uri");
        assert_eq!(n("/../a/b/../c/./d.html"), "/a/c/d.html");
        assert_eq!(n("/a//b\\c"), "/a/b/c");
        assert_eq!(n("/a/b/.."), "/a/");
        assert_eq!(n("/a/."), "/a/");
        assert_eq!(n("/"), "/");
        assert_eq!(n("/%zz%4"), "/%zz%4");
        assert_eq!(n("/p%2e%2e/x?q=%20/../"), "/p../x?q=%20/../");
        assert_eq!(n("/a/%2e%2e/b"), "/b");
        assert_eq!(n("http://Example.com:8080/x/../y?z"), "/y?z");
        assert_eq!(n("/%u0041%uff0f%u4e2d"), "/A/?");
        assert_eq!(n("/%u00zz"), "/%u00zz");
    }

    #[test]
    fn absolute_split() {
        assert_eq!(
            split_absolute(b"http://h:1/p"),
            Some((&b"h:1"[..], &b"/p"[..]))
        );
        assert_eq!(split_absolute(b"/p://x"), None);
    }
}
