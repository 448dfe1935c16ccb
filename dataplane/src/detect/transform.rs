//! Buffer transforms (`to_lowercase`, `dotprefix`, `url_decode`, `to_sha256`, ...), applied
//! into the per-burst arena so the original bytes are never copied to the heap.

use bumpalo::Bump;
use md5::Digest as _;
use rules::ir::Transform;

/// Applies `ts` in order to `input`; the result lives in `arena`.
pub fn apply<'a>(ts: &[Transform], input: &'a [u8], arena: &'a Bump) -> &'a [u8] {
    let mut cur: &'a [u8] = input;
    for &t in ts {
        cur = one(t, cur, arena);
    }
    cur
}

fn one<'a>(t: Transform, b: &'a [u8], arena: &'a Bump) -> &'a [u8] {
    match t {
        Transform::ToLowercase | Transform::HeaderLowercase => {
            let o = arena.alloc_slice_copy(b);
            o.make_ascii_lowercase();
            o
        }
        Transform::ToUppercase => {
            let o = arena.alloc_slice_copy(b);
            o.make_ascii_uppercase();
            o
        }
        Transform::Dotprefix => {
            let o = arena.alloc_slice_fill_copy(b.len() + 1, b'.');
            o[1..].copy_from_slice(b);
            o
        }
        Transform::StripWhitespace => {
            let o = arena.alloc_slice_copy(b);
            let mut n = 0;
            for i in 0..o.len() {
                if !o[i].is_ascii_whitespace() {
                    o[n] = o[i];
                    n += 1;
                }
            }
            &o[..n]
        }
        Transform::CompressWhitespace => {
            let o = arena.alloc_slice_copy(b);
            let mut n = 0;
            let mut prev_ws = false;
            for i in 0..o.len() {
                let ws = o[i].is_ascii_whitespace();
                if !(ws && prev_ws) {
                    o[n] = o[i];
                    n += 1;
                }
                prev_ws = ws;
            }
            &o[..n]
        }
        Transform::UrlDecode => {
            let o = arena.alloc_slice_copy(b);
            let (mut r, mut w) = (0, 0);
            while r < o.len() {
                let c = o[r];
                if c == b'%' && r + 2 < o.len() {
                    let h = (o[r + 1] as char).to_digit(16);
                    let l = (o[r + 2] as char).to_digit(16);
                    if let (Some(h), Some(l)) = (h, l) {
                        o[w] = (h * 16 + l) as u8;
                        w += 1;
                        r += 3;
                        continue;
                    }
                }
                o[w] = if c == b'+' { b' ' } else { c };
                w += 1;
                r += 1;
            }
            &o[..w]
        }
        Transform::ToMd5 => arena.alloc_slice_copy(&md5::Md5::digest(b)),
        Transform::ToSha1 => arena.alloc_slice_copy(&sha1::Sha1::digest(b)),
        Transform::ToSha256 => arena.alloc_slice_copy(&sha2::Sha256::digest(b)),
        Transform::StripPseudoHeaders => {
            // HTTP/2 pseudo-headers are lines starting with ':'; drop them.
            let o = arena.alloc_slice_copy(b);
            let mut w = 0;
            for line in b.split_inclusive(|&c| c == b'\n') {
                if line.first() != Some(&b':') {
                    o[w..w + line.len()].copy_from_slice(line);
                    w += line.len();
                }
            }
            &o[..w]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms() {
        let a = Bump::new();
        assert_eq!(apply(&[Transform::ToLowercase], b"AbC", &a), b"abc");
        assert_eq!(apply(&[Transform::Dotprefix], b"x.com", &a), b".x.com");
        assert_eq!(apply(&[Transform::StripWhitespace], b" a b\t", &a), b"ab");
        assert_eq!(apply(&[Transform::CompressWhitespace], b"a  b", &a), b"a b");
        assert_eq!(
            apply(&[Transform::UrlDecode], b"%41+b%zz%4", &a),
            b"A b%zz%4"
        );
        assert_eq!(apply(&[Transform::ToMd5], b"", &a).len(), 16);
        assert_eq!(
            apply(&[Transform::ToSha256, Transform::ToMd5], b"x", &a).len(),
            16
        );
        assert_eq!(
            apply(&[Transform::StripPseudoHeaders], b":path: /\nhost: a\n", &a),
            b"host: a\n"
        );
    }
}
