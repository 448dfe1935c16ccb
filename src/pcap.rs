//! `osprey pcap scan|split`: capture-file tools.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use dataplane::runtime;

#[derive(Subcommand, Debug)]
pub(crate) enum PcapCommand {
    /// Print what a capture holds (format, link type, packets, bytes, cut frames).
    Scan {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Split a capture into one file per worker by a symmetric host hash.
    Split {
        file: PathBuf,
        #[arg(long)]
        workers: usize,
        #[arg(long)]
        out: PathBuf,
    },
}

pub(crate) fn cmd_pcap(c: PcapCommand) -> anyhow::Result<ExitCode> {
    match c {
        PcapCommand::Scan { file, json } => {
            let info = dataplane::io::pcap::scan(&file)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                let link = runtime::SUPPORTED_LINK_TYPES
                    .iter()
                    .find(|(l, _)| *l == info.link_type)
                    .map_or("unsupported", |(_, n)| n);
                println!(
                    "{}: {:?}, link type {} ({link}), {} packets, {} bytes ({} captured), {} cut by snaplen{}",
                    file.display(),
                    info.format,
                    info.link_type,
                    info.packets,
                    info.bytes,
                    info.captured_bytes,
                    info.snaplen_cut,
                    if info.truncated_tail { ", truncated last record" } else { "" }
                );
            }
        }
        PcapCommand::Split { file, workers, out } => {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let s = dataplane::io::split::split(&file, workers, &out)?;
            for ((f, p), b) in s.files.iter().zip(&s.packets).zip(&s.bytes) {
                println!("{}: {p} packets, {b} bytes", f.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
