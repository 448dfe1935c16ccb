//! Plain indicator lists, read into the same [`Indicator`]s a bundle gives (with a pattern
//! written for the value), so every source goes through one path:
//!
//! - one value per line: an address or CIDR prefix, a domain, a URL (`scheme://...`), or a
//!   hash (32, 40 or 64 hex digits: MD5, SHA-1, SHA-256 of a file);
//! - Suricata dataset files: the same, and `type string` values in base64 (a domain or URL
//!   once decoded), with an optional `,data` column that is ignored;
//! - Suricata IP reputation files: `address,category,score` (the score, 0–127, is the
//!   confidence, capped at 100).
//!
//! `#` starts a comment; blank lines are skipped. A line that is none of these is reported
//! with its number, never fatal.

use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::object::Indicator;
use crate::observable::{domain, hex_digest, normalize_url, HashAlg, Prefix};

/// A line that could not be read, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
}

/// Reads a list; `source` names it in the indicators' ids.
pub fn parse_list(source: &str, text: &str) -> (Vec<Indicator>, Vec<BadLine>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        match indicator_of(source, line) {
            Ok(ind) => good.push(ind),
            Err(reason) => bad.push(BadLine {
                line: i + 1,
                reason,
            }),
        }
    }
    (good, bad)
}

fn indicator_of(source: &str, line: &str) -> Result<Indicator, String> {
    let cols: Vec<&str> = line.split(',').map(str::trim).collect();
    let (value, confidence) = match cols.as_slice() {
        [v] => (*v, None),
        // IP reputation: address,category,score.
        [v, cat, score] if Prefix::parse(v).is_some() => {
            cat.parse::<u8>()
                .map_err(|_| format!("bad reputation category {cat:?}"))?;
            let s: u8 = score
                .parse()
                .ok()
                .filter(|s| *s <= 127)
                .ok_or_else(|| format!("bad reputation score {score:?} (0-127)"))?;
            (*v, Some(s.min(100)))
        }
        // Dataset with data: value,data.
        [v, _] => (*v, None),
        _ => return Err(format!("{} columns", cols.len())),
    };
    let pattern = pattern_of(value).ok_or_else(|| format!("not an indicator value: {value:?}"))?;
    Ok(Indicator {
        kind: "indicator".into(),
        id: list_id(source, &pattern),
        name: Some(value.to_string()),
        pattern,
        pattern_type: "stix".into(),
        valid_from: None,
        valid_until: None,
        modified: None,
        revoked: false,
        confidence,
        labels: vec![format!("list:{source}")],
        indicator_types: Vec::new(),
        extra: Default::default(),
    })
}

/// The STIX pattern for one list value.
fn pattern_of(value: &str) -> Option<String> {
    let q = |s: &str| s.replace('\\', "\\\\").replace('\'', "\\'");
    if let Some(p) = Prefix::parse(value) {
        let ty = if p.addr.is_ipv4() {
            "ipv4-addr"
        } else {
            "ipv6-addr"
        };
        return Some(format!("[{ty}:value = '{p}']"));
    }
    if value.contains("://") {
        return normalize_url(value).map(|u| format!("[url:value = '{}']", q(&u)));
    }
    for alg in [HashAlg::Sha256, HashAlg::Sha1, HashAlg::Md5] {
        if let Some(h) = hex_digest(value, alg) {
            return Some(format!("[file:hashes.'{}' = '{h}']", alg.name()));
        }
    }
    if let Some(d) = domain(value).filter(|d| d.contains('.')) {
        return Some(format!("[domain-name:value = '{d}']"));
    }
    // A dataset `type string` value: base64 of a domain or URL.
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())?;
    if decoded.contains("://") || domain(&decoded).is_some_and(|d| d.contains('.')) {
        return pattern_of(&decoded);
    }
    None
}

/// A stable STIX id for a list entry: `indicator--` and a name-based UUID (version 5 layout)
/// of the source and the pattern.
fn list_id(source: &str, pattern: &str) -> String {
    let mut h = Sha1::new();
    h.update(b"osprey-list\0");
    h.update(source.as_bytes());
    h.update(b"\0");
    h.update(pattern.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "indicator--{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_kind_becomes_its_pattern() {
        let text = "\
# a comment
198.51.100.7
203.0.113.0/24   # trailing comment
2001:db8::/48
evil.example
https://Bad.Example/path?x=1
d41d8cd98f00b204e9800998ecf8427e
da39a3ee5e6b4b0d3255bfef95601890afd80709
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
ZXZpbC5leGFtcGxlLm9yZw==
192.0.2.9,1,120
sub.example,somedata

not a value
192.0.2.10,1,200
";
        let (good, bad) = parse_list("feed.txt", text);
        let pats: Vec<&str> = good.iter().map(|i| i.pattern.as_str()).collect();
        assert_eq!(
            pats,
            [
                "[ipv4-addr:value = '198.51.100.7/32']",
                "[ipv4-addr:value = '203.0.113.0/24']",
                "[ipv6-addr:value = '2001:db8::/48']",
                "[domain-name:value = 'evil.example']",
                "[url:value = 'https://bad.example/path?x=1']",
                "[file:hashes.'MD5' = 'd41d8cd98f00b204e9800998ecf8427e']",
                "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']",
                "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
                "[domain-name:value = 'evil.example.org']",
                "[ipv4-addr:value = '192.0.2.9/32']",
                "[domain-name:value = 'sub.example']",
            ]
        );
        assert_eq!(good[9].confidence, Some(100));
        assert_eq!(
            bad.iter().map(|b| b.line).collect::<Vec<_>>(),
            [14, 15],
            "{bad:?}"
        );
        assert!(bad[1].reason.contains("score"), "{bad:?}");
        // Ids are stable and distinct per source and value.
        let (again, _) = parse_list("feed.txt", text);
        assert_eq!(good[0].id, again[0].id);
        assert_ne!(good[0].id, good[1].id);
        assert!(good[0].id.starts_with("indicator--") && good[0].id.len() == 47);
        for g in &good {
            crate::pattern::parse(&g.pattern).unwrap();
        }
    }
}
