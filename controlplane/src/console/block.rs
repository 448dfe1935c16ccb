//! `osprey ctl block add|list|get|remove`: the dynamic block list.

use std::io::Write;

use serde_json::json;

use super::render::{print_json, table};
use super::{now_ns, status_err, Clients};
use crate::proto;
use vocab::calendar::eve_timestamp as format_timestamp;

/// `osprey ctl block ...`
#[derive(clap::Subcommand, Debug, Clone)]
pub enum BlockCmd {
    /// Adds an entry: an address or network, or a 5-tuple in quotes
    /// (`"tcp 192.0.2.1:40000 -> 198.51.100.2:80"`, both directions).
    Add {
        target: String,
        /// Which address of a packet a network is tested on: src, dst or either.
        #[arg(long, default_value = "either")]
        side: String,
        #[arg(long, default_value = "")]
        reason: String,
        /// api (default), playbook or intel.
        #[arg(long, default_value = "api")]
        origin: String,
        /// Lifetime, e.g. `30m`, `2h`, `7d`.
        #[arg(long, conflicts_with = "until")]
        ttl: Option<humantime::Duration>,
        /// Absolute expiry: unix seconds or `<n>ns`.
        #[arg(long)]
        until: Option<String>,
    },
    /// Lists entries, oldest first.
    List {
        /// Entries whose network holds this address or whose 5-tuple names it.
        #[arg(long)]
        address: Option<String>,
        /// Only this origin: api, playbook, intel, config.
        #[arg(long)]
        origin: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        page_token: Option<String>,
    },
    /// One entry.
    Get { id: u64 },
    /// Removes an entry.
    Remove { id: u64 },
}

fn entry_json(e: &proto::BlockEntry) -> serde_json::Value {
    json!({"id": e.id, "target": e.target, "side": e.side, "origin": e.origin,
           "reason": e.reason, "created_by": e.created_by, "created_ns": e.created_ns,
           "expires_ns": e.expires_ns})
}

fn expires(ns: u64) -> String {
    match ns {
        0 => "never".into(),
        n => format_timestamp(n),
    }
}

fn row(e: &proto::BlockEntry) -> Vec<String> {
    vec![
        e.id.to_string(),
        e.target.clone(),
        e.side.clone(),
        e.origin.clone(),
        expires(e.expires_ns),
        e.created_by.clone(),
        e.reason.clone(),
    ]
}

const HEADER: [&str; 7] = ["ID", "TARGET", "SIDE", "ORIGIN", "EXPIRES", "BY", "REASON"];

/// Runs a block command.
pub(super) async fn run(
    c: &mut Clients,
    cmd: BlockCmd,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    match cmd {
        BlockCmd::Add {
            target,
            side,
            reason,
            origin,
            ttl,
            until,
        } => {
            let expires_ns = until
                .as_deref()
                .map(|u| super::parse_time(u, now_ns()))
                .transpose()?
                .unwrap_or(0);
            let req = proto::AddBlockRequest {
                target,
                side,
                reason,
                origin,
                expires_ns,
                ttl_secs: ttl.map_or(0, |t| std::time::Duration::from(t).as_secs().max(1)),
            };
            let r = c
                .blocks
                .add(req)
                .await
                .map_err(|e| status_err("block add", e))?
                .into_inner();
            let e = r.entry.unwrap_or_default();
            if js {
                return print_json(
                    out,
                    &json!({"entry": entry_json(&e), "overlaps": r.overlaps,
                            "generation": r.generation}),
                );
            }
            writeln!(
                out,
                "added block {} ({} {}), generation {} running in every worker",
                e.id, e.side, e.target, r.generation
            )?;
            if !r.overlaps.is_empty() {
                writeln!(out, "overlaps entries {:?}", r.overlaps)?;
            }
        }
        BlockCmd::List {
            address,
            origin,
            limit,
            page_token,
        } => {
            let q = proto::ListBlocksRequest {
                address: address.unwrap_or_default(),
                origin: origin.unwrap_or_default(),
                page_size: limit,
                page_token: page_token.unwrap_or_default(),
            };
            let p = c
                .blocks
                .list(q)
                .await
                .map_err(|e| status_err("block list", e))?
                .into_inner();
            if js {
                return print_json(
                    out,
                    &json!({"entries": p.entries.iter().map(entry_json).collect::<Vec<_>>(),
                            "next_page_token": p.next_page_token, "total": p.total,
                            "max_entries": p.max_entries, "generation": p.generation,
                            "worker_generations": p.worker_generations}),
                );
            }
            let rows: Vec<Vec<String>> = p.entries.iter().map(row).collect();
            table(out, &HEADER, &rows)?;
            writeln!(
                out,
                "\n{} of {} entries (max {}), generation {}, workers {:?}",
                p.entries.len(),
                p.total,
                p.max_entries,
                p.generation,
                p.worker_generations
            )?;
            if !p.next_page_token.is_empty() {
                writeln!(out, "more: --page-token {}", p.next_page_token)?;
            }
        }
        BlockCmd::Get { id } => {
            let e = c
                .blocks
                .get(proto::BlockRef { id })
                .await
                .map_err(|e| status_err("block get", e))?
                .into_inner();
            if js {
                return print_json(out, &entry_json(&e));
            }
            table(out, &HEADER, &[row(&e)])?;
        }
        BlockCmd::Remove { id } => {
            let r = c
                .blocks
                .remove(proto::BlockRef { id })
                .await
                .map_err(|e| status_err("block remove", e))?
                .into_inner();
            let e = r.entry.unwrap_or_default();
            if js {
                return print_json(
                    out,
                    &json!({"entry": entry_json(&e), "generation": r.generation}),
                );
            }
            writeln!(
                out,
                "removed block {} ({} {}), generation {} running in every worker",
                e.id, e.side, e.target, r.generation
            )?;
        }
    }
    Ok(())
}
