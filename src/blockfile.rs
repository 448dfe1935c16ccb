//! Block-list files for offline runs (`osprey replay|bench --blocklist FILE`): one entry per
//! line in the syntax `osprey ctl block add` takes (`198.51.100.0/24 --side src --reason
//! scanner`, `"tcp 192.0.2.1:40000 -> 198.51.100.2:80" --origin playbook`), checked by the same
//! rules as the API's; blank lines and lines starting with `#` are skipped. Each entry's id is
//! its line number. Expiry options are accepted and ignored: an offline run applies every
//! entry from its first packet to its last.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use clap::Parser;
use controlplane::blocks::NewBlock;
use controlplane::console::BlockCmd;
use dataplane::blocklist::BlockTable;
use vocab::block::BlockEntry;

/// One line, read as `osprey ctl block add` arguments.
#[derive(Parser, Debug)]
#[command(no_binary_name = true)]
struct Line {
    #[command(subcommand)]
    cmd: BlockCmd,
}

/// The entry of one line (`number` becomes its id).
fn entry(line: &str, number: u64) -> anyhow::Result<BlockEntry> {
    let words = shlex::split(line).ok_or_else(|| anyhow!("unbalanced quotes"))?;
    let parsed =
        Line::try_parse_from(std::iter::once("add".to_owned()).chain(words)).map_err(|e| {
            let text = e.render().to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            anyhow!("{first}")
        })?;
    let BlockCmd::Add {
        target,
        side,
        reason,
        origin,
        ..
    } = parsed.cmd
    else {
        return Err(anyhow!("not an entry"));
    };
    let new = NewBlock {
        target,
        side,
        origin,
        reason: reason.clone(),
        expires_ns: 0,
        ttl_secs: 0,
    };
    let (matcher, origin, _) = new.parse(0).map_err(|e| anyhow!("{}", e.context))?;
    Ok(BlockEntry {
        id: number,
        matcher,
        origin,
        reason,
    })
}

/// The entries of `text` (named `origin` in errors): the first bad line is an error naming
/// its number and why.
pub(crate) fn parse(text: &str, origin: &str) -> anyhow::Result<Vec<BlockEntry>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let number = i as u64 + 1;
        out.push(entry(line, number).with_context(|| format!("{origin}:{number}: {line:?}"))?);
    }
    Ok(out)
}

/// The block table of `file` (`None`: no file given).
pub(crate) fn load(file: Option<&Path>) -> anyhow::Result<Option<Arc<BlockTable>>> {
    let Some(path) = file else {
        return Ok(None);
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let entries = parse(&text, &path.display().to_string())?;
    Ok(Some(Arc::new(BlockTable::new(entries))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vocab::block::{BlockMatch, Origin, Side};

    #[test]
    fn lines_read_as_ctl_block_add_arguments() {
        let text = "# scanners\n\n198.51.100.0/24 --side src --reason \"port scan\"\n\
                    \"tcp 192.0.2.1:40000 -> 198.51.100.2:80\" --origin playbook --ttl 1h\n\
                    2001:db8::7\n";
        let e = parse(text, "f").unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].id, 3, "ids are line numbers");
        assert_eq!(e[0].reason, "port scan");
        assert!(matches!(
            e[0].matcher,
            BlockMatch::Net {
                side: Side::Src,
                ..
            }
        ));
        assert_eq!(e[1].origin, Origin::Playbook);
        assert!(matches!(e[1].matcher, BlockMatch::Tuple(_)));
        assert!(matches!(
            e[2].matcher,
            BlockMatch::Net {
                side: Side::Either,
                ..
            }
        ));
    }

    #[test]
    fn a_bad_line_is_refused_with_its_number_and_reason() {
        for (text, says) in [
            ("192.0.2.0/24\n198.51.100.1/24\n", "f:2:"),
            ("192.0.2.1 --side up\n", "side \"up\""),
            ("192.0.2.1 --color red\n", "--color"),
            ("\"192.0.2.1\n", "unbalanced quotes"),
            ("192.0.2.1 --origin config\n", "reserved"),
        ] {
            let e = format!("{:#}", parse(text, "f").unwrap_err());
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}
