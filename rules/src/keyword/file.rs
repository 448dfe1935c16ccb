//! File keywords, named as Suricata 8 names them: `filename` (`file.name` as a legacy
//! keyword), `fileext`, `filesize`, `filemd5`/`filesha1`/`filesha256` with hash-list files,
//! `filestore` (accepted; contents are not stored). `filemagic`/`file.magic` need libmagic's
//! descriptions and are refused as unsupported, so no rule loads with them silently dropped.
//!
//! Hash lists are read when the rule is compiled: a relative path is taken from the
//! directory of the rule file, as Suricata does; one hex digest per line, blank lines and
//! lines starting with `#` or whitespace skipped, anything after the digest's first
//! whitespace ignored; a bad line refuses the rule with `FILE:LINE`.

use std::path::Path;
use std::sync::Arc;

use super::uint::parse_cmp;
use super::{unquote, KwResult};
use crate::ir::{FileMatch, HashKind, HashList};

/// `[!]"text"` → (negated, text bytes).
fn negatable_string(v: &str) -> KwResult<(bool, Vec<u8>)> {
    let v = v.trim();
    let (negated, rest) = match v.strip_prefix('!') {
        Some(r) => (true, r.trim_start()),
        None => (false, v),
    };
    let text = if rest.starts_with('"') {
        unquote(rest)?
    } else {
        rest.to_string()
    };
    if text.is_empty() {
        return Err("empty value".into());
    }
    Ok((negated, text.into_bytes()))
}

/// `filename:[!]"name"`.
pub fn filename(v: &str) -> KwResult<FileMatch> {
    let (negated, pattern) = negatable_string(v)?;
    Ok(FileMatch::Name { pattern, negated })
}

/// `fileext:[!]"ext"` (a leading dot is not part of it).
pub fn fileext(v: &str) -> KwResult<FileMatch> {
    let (negated, ext) = negatable_string(v)?;
    if ext.contains(&b'.') {
        return Err(format!(
            "`fileext` takes an extension without dots, not `{}`",
            String::from_utf8_lossy(&ext)
        ));
    }
    Ok(FileMatch::Ext { ext, negated })
}

/// `filesize:N`, `<N`, `>N`, `A<>B`, ... (sizes in bytes; units are not accepted).
pub fn filesize(v: &str) -> KwResult<FileMatch> {
    parse_cmp(v, u64::MAX).map(FileMatch::Size)
}

/// `filemd5`/`filesha1`/`filesha256:[!]path`: reads the list (relative paths from
/// `rule_dir`).
pub fn filehash(v: &str, kind: HashKind, rule_dir: Option<&Path>) -> KwResult<FileMatch> {
    let v = v.trim();
    let (negated, name) = match v.strip_prefix('!') {
        Some(r) => (true, r.trim()),
        None => (false, v),
    };
    let name = name.trim_matches('"');
    if name.is_empty() {
        return Err("a hash-list file is needed".into());
    }
    let path = match rule_dir {
        Some(d) if Path::new(name).is_relative() => d.join(name),
        _ => Path::new(name).to_path_buf(),
    };
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{shown}: {e}"))?;
    let list = parse_hash_list(&shown, &text, kind)?;
    Ok(FileMatch::Hash {
        negated,
        list: Arc::new(list),
    })
}

/// The digests of a hash-list file's text; errors name `FILE:LINE`.
pub fn parse_hash_list(file: &str, text: &str, kind: HashKind) -> KwResult<HashList> {
    let mut digests = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with(['#', ' ', '\t', '\r']) {
            continue;
        }
        let word = line.split_whitespace().next().unwrap_or("");
        let d = hex_digest(word, kind.digest_len()).ok_or_else(|| {
            format!(
                "{file}:{}: `{word}` is not a {}-character hex digest",
                i + 1,
                kind.digest_len() * 2
            )
        })?;
        digests.push(d);
    }
    if digests.is_empty() {
        return Err(format!("{file}: no digest in the list"));
    }
    Ok(HashList::new(file.to_string(), kind, digests))
}

fn hex_digest(w: &str, len: usize) -> Option<Vec<u8>> {
    if w.len() != len * 2 || !w.is_ascii() {
        return None;
    }
    (0..len)
        .map(|i| u8::from_str_radix(&w[2 * i..2 * i + 2], 16).ok())
        .collect()
}
