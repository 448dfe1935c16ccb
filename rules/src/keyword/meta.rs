//! Meta keywords: `msg`, `sid`, `rev`, `gid`, `classtype`, `priority`, `reference`,
//! `metadata`, `target`.

use super::{unquote, KwResult};
use crate::ir::{Reference, Target};

/// `msg:"..."`: quotes removed, `\"`, `\;`, `\\` unescaped.
pub fn msg(v: &str) -> KwResult<String> {
    unquote(v)
}

/// `sid`/`rev`/`gid`: a positive 32-bit number.
pub fn id(v: &str, what: &str) -> KwResult<u32> {
    v.trim()
        .parse::<u32>()
        .map_err(|_| format!("invalid {what} `{v}`"))
}

/// `priority:1..=255`.
pub fn priority(v: &str) -> KwResult<u8> {
    match v.trim().parse::<u8>() {
        Ok(p) if p >= 1 => Ok(p),
        _ => Err(format!("invalid priority `{v}` (1-255)")),
    }
}

/// `classtype:name`.
pub fn classtype(v: &str) -> KwResult<String> {
    let v = v.trim();
    if v.is_empty()
        || !v
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    {
        return Err(format!("invalid classtype `{v}`"));
    }
    Ok(v.to_string())
}

/// `reference:system,id`.
pub fn reference(v: &str) -> KwResult<Reference> {
    let (sys, id) = v
        .split_once(',')
        .ok_or_else(|| format!("reference `{v}` needs `system,id`"))?;
    let (sys, id) = (sys.trim(), id.trim());
    if sys.is_empty() || id.is_empty() {
        return Err(format!("reference `{v}` needs `system,id`"));
    }
    Ok(Reference {
        system: sys.to_string(),
        id: id.to_string(),
    })
}

/// `metadata:key value, key value`.
pub fn metadata(v: &str) -> KwResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for item in v.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (k, val) = item.split_once(' ').unwrap_or((item, ""));
        out.push((k.trim().to_string(), val.trim().to_string()));
    }
    Ok(out)
}

/// `target:src_ip|dest_ip`.
pub fn target(v: &str) -> KwResult<Target> {
    match v.trim() {
        "src_ip" => Ok(Target::SrcIp),
        "dest_ip" => Ok(Target::DestIp),
        o => Err(format!("invalid target `{o}` (src_ip or dest_ip)")),
    }
}
