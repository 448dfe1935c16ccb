//! File names as the carrying protocols give them, as Suricata takes them: the `filename`
//! parameter of a `Content-Disposition` header (HTTP, MIME parts), else the path of the
//! request URI (HTTP).

/// The `filename` parameter of a `Content-Disposition` value (`attachment;
/// filename="a.txt"`), quotes removed. Parameters are `;`-separated; the name is matched
/// without regard to case; an empty name counts as absent.
pub fn content_disposition_filename(value: &[u8]) -> Option<&[u8]> {
    value.split(|&c| c == b';').find_map(|part| {
        let part = <[u8]>::trim_ascii(part);
        let eq = part.iter().position(|&c| c == b'=')?;
        if !<[u8]>::trim_ascii(&part[..eq]).eq_ignore_ascii_case(b"filename") {
            return None;
        }
        let v = <[u8]>::trim_ascii(&part[eq + 1..]);
        let v = match v {
            [b'"', inner @ .., b'"'] => inner,
            _ => v,
        };
        (!v.is_empty()).then_some(v)
    })
}

/// The path of a request URI as sent: the query and fragment cut off, an absolute URI's
/// scheme and authority skipped.
pub fn uri_path(uri: &[u8]) -> &[u8] {
    let mut rest = uri;
    if let Some(p) = find(rest, b"://") {
        let scheme = &rest[..p];
        if !scheme.is_empty()
            && scheme
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(c))
        {
            rest = &rest[p + 3..];
            rest = &rest[rest.iter().position(|&c| c == b'/').unwrap_or(rest.len())..];
        }
    }
    let end = rest
        .iter()
        .position(|&c| c == b'?' || c == b'#')
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The extension of `name` (after its last `.`, past its last `/`), if any.
pub fn extension(name: &[u8]) -> Option<&[u8]> {
    let base = &name[name.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1)..];
    let dot = base.iter().rposition(|&c| c == b'.')?;
    Some(&base[dot + 1..])
}

/// The first position of `n` in `h`.
pub(super) fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    memchr::memmem::find(h, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition() {
        let f = content_disposition_filename;
        assert_eq!(
            f(b"attachment; filename=\"eicar.txt\""),
            Some(&b"eicar.txt"[..])
        );
        assert_eq!(f(b"inline;FileName=a.pdf ; size=3"), Some(&b"a.pdf"[..]));
        assert_eq!(f(b"attachment"), None);
        assert_eq!(f(b"attachment; filename=\"\""), None);
        assert_eq!(f(b"attachment; name=x"), None);
    }

    #[test]
    fn paths_and_extensions() {
        assert_eq!(uri_path(b"/a/b.pdf?x=1#f"), b"/a/b.pdf");
        assert_eq!(uri_path(b"http://h:80/r.pdf?q"), b"/r.pdf");
        assert_eq!(uri_path(b"http://h"), b"");
        assert_eq!(uri_path(b"/x://y"), b"/x://y");
        assert_eq!(extension(b"/dir.d/r.PDF"), Some(&b"PDF"[..]));
        assert_eq!(extension(b"/dir.d/readme"), None);
        assert_eq!(extension(b"a."), Some(&b""[..]));
    }
}
