//! File keywords (`filename`, `fileext`, `filesize`, `filemd5`/`filesha1`/`filesha256`,
//! `filestore`) against one tracked file.

use rules::ir::{FileMatch, HashKind};

use crate::files::{FileState, TrackedFile};

/// `m` holds for file `f`. Size and digests are known once the file ended (digests only for
/// a file without gaps); the name from its start.
pub(super) fn matches(m: &FileMatch, f: &TrackedFile) -> bool {
    match m {
        FileMatch::Name { pattern, negated } => contains_nocase(f.name(), pattern) != *negated,
        FileMatch::Ext { ext, negated } => {
            crate::files::name::extension(f.name()).is_some_and(|e| e.eq_ignore_ascii_case(ext))
                != *negated
        }
        FileMatch::Size(cmp) => f.state != FileState::Open && cmp.matches(f.size),
        FileMatch::Hash { negated, list } => f.digests().is_some_and(|d| {
            let digest: &[u8] = match list.kind {
                HashKind::Md5 => &d.md5,
                HashKind::Sha1 => &d.sha1,
                HashKind::Sha256 => &d.sha256,
            };
            list.contains(digest) != *negated
        }),
        FileMatch::Store => true,
    }
}

fn contains_nocase(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{FileCounters, FileLimits, FileSet};
    use rules::ir::HashList;
    use std::sync::Arc;

    fn file(name: &[u8], body: &[u8]) -> FileSet {
        let mut c = FileCounters::default();
        let mut s = FileSet::new(false);
        s.open(name, 0, &FileLimits::default(), &mut c);
        s.append(body, &mut c);
        s.close(FileState::Closed, &mut c);
        s
    }

    #[test]
    fn names_extensions_sizes_and_hashes() {
        let s = file(b"/docs/R.pdf", b"abc");
        let f = s.iter().next().unwrap();
        let name = |p: &[u8], negated| FileMatch::Name {
            pattern: p.to_vec(),
            negated,
        };
        assert!(matches(&name(b"r.PDF", false), f));
        assert!(!matches(&name(b"s.pdf", false), f));
        assert!(matches(&name(b"s.pdf", true), f));
        let ext = |e: &[u8], negated| FileMatch::Ext {
            ext: e.to_vec(),
            negated,
        };
        assert!(matches(&ext(b"PDF", false), f));
        assert!(!matches(&ext(b"pd", false), f));
        assert!(matches(&ext(b"doc", true), f));
        let size = |s| FileMatch::Size(rules::keyword::uint::parse_cmp(s, u64::MAX).unwrap());
        assert!(matches(&size("<4"), f) && matches(&size("3"), f) && !matches(&size(">3"), f));
        let md5 = hex::decode("900150983cd24fb0d6963f7d28e17f72").unwrap();
        let list = Arc::new(HashList::new("l".into(), HashKind::Md5, vec![md5]));
        let hash = |negated| FileMatch::Hash {
            negated,
            list: list.clone(),
        };
        assert!(matches(&hash(false), f) && !matches(&hash(true), f));
        let other = file(b"x", b"abd");
        let g = other.iter().next().unwrap();
        assert!(!matches(&hash(false), g) && matches(&hash(true), g));
    }
}
