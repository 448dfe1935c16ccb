//! `threshold` and `detection_filter`.

use super::{split_args, KwResult};
use crate::ir::{Threshold, ThresholdKind, Track, UniqueOn};

/// Parses `threshold` (`with_kind`) or `detection_filter`.
pub fn threshold(v: &str, with_kind: bool) -> KwResult<Threshold> {
    let (mut kind, mut tr, mut count, mut seconds) = (None, None, None, None);
    let mut unique_on = None;
    for a in split_args(v) {
        let mut it = a.split_whitespace();
        let (k, val) = (it.next().unwrap_or(""), it.next().unwrap_or(""));
        if it.next().is_some() {
            return Err(format!("unexpected `{}`", a.trim()));
        }
        match k {
            "type" if with_kind => {
                kind = Some(match val {
                    "limit" => ThresholdKind::Limit,
                    "threshold" => ThresholdKind::Threshold,
                    "both" => ThresholdKind::Both,
                    o => return Err(format!("unknown threshold type `{o}`")),
                })
            }
            "track" => tr = Some(Track::parse(val)?),
            "unique_on" if !with_kind => {
                unique_on = Some(match val {
                    "src_port" => UniqueOn::SrcPort,
                    "dst_port" => UniqueOn::DstPort,
                    o => return Err(format!("unknown unique_on `{o}`")),
                })
            }
            "count" => {
                count = Some(
                    val.parse::<u32>()
                        .map_err(|_| format!("invalid count `{val}`"))?,
                )
            }
            "seconds" => {
                seconds = Some(
                    val.parse::<u32>()
                        .map_err(|_| format!("invalid seconds `{val}`"))?,
                )
            }
            o => return Err(format!("unknown option `{o}`")),
        }
    }
    if with_kind && kind.is_none() {
        return Err("threshold needs `type`".into());
    }
    let count = count.ok_or("needs `count`")?;
    if count == 0 {
        return Err("count must be at least 1".into());
    }
    Ok(Threshold {
        kind,
        track: tr.ok_or("needs `track`")?,
        count,
        seconds: seconds.ok_or("needs `seconds`")?,
        unique_on,
    })
}
