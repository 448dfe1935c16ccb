//! Incremental MD5, SHA-1 and SHA-256 of a file's bytes (RustCrypto), kept inline in the
//! tracked file so hashing a piece never allocates.

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The three running hashes of one file.
#[derive(Clone, Debug, Default)]
pub struct Hashers {
    md5: Md5,
    sha1: Sha1,
    sha256: Sha256,
}

/// Final digests of a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Digests {
    /// MD5.
    pub md5: [u8; 16],
    /// SHA-1.
    pub sha1: [u8; 20],
    /// SHA-256.
    pub sha256: [u8; 32],
}

impl Hashers {
    /// Feeds the next bytes of the file.
    pub fn update(&mut self, bytes: &[u8]) {
        self.md5.update(bytes);
        self.sha1.update(bytes);
        self.sha256.update(bytes);
    }

    /// The digests of everything fed; the hashers start over.
    pub fn finish(&mut self) -> Digests {
        Digests {
            md5: self.md5.finalize_reset().into(),
            sha1: self.sha1.finalize_reset().into(),
            sha256: self.sha256.finalize_reset().into(),
        }
    }

    /// Forgets what was fed.
    pub fn reset(&mut self) {
        Digest::reset(&mut self.md5);
        Digest::reset(&mut self.sha1);
        Digest::reset(&mut self.sha256);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn pieces_hash_like_the_whole() {
        let mut h = Hashers::default();
        h.update(b"ab");
        h.update(b"c");
        let d = h.finish();
        // RFC 1321, FIPS 180 test vectors for "abc".
        assert_eq!(hex(&d.md5), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(hex(&d.sha1), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            hex(&d.sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // Reused for the next file: starts over.
        h.update(b"abc");
        assert_eq!(h.finish(), d);
    }
}
