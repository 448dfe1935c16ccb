//! What an incident's evidence is: its record with its timeline (`incident`), the EVE
//! records of its stored alerts (`alerts`), and the EVE flow records between its host and
//! its peers up to an hour after its last alert (`flows`, when there are any).

use std::collections::HashSet;

use super::{Evidence, Item};
use crate::error::{Error, Result};
use crate::incidents::persist;
use crate::outputs::eve::{render_alert, render_flow};
use crate::store::{AlertFilter, FlowFilter, Store};

/// Records read per item at most.
pub const MAX_RECORDS: usize = 10_000;
const HOUR_NS: u64 = 3_600 * 1_000_000_000;

/// Collects incident `id`'s evidence as items, logged as collected by `who`.
pub fn incident(ev: &Evidence, store: &Store, id: u64, who: &str) -> Result<Vec<Item>> {
    let inc = persist::get(store, id)?.ok_or_else(|| Error::not_found(format!("incident {id}")))?;
    let members = persist::members(store, id, MAX_RECORDS)?;
    let mut items = Vec::new();
    let record = serde_json::to_vec_pretty(&serde_json::json!({
        "incident": inc,
        "timeline": members,
    }))
    .map_err(|e| Error::internal(e.to_string()))?;
    items.push(ev.add_item(id, "incident", &record, who)?);

    let ids: HashSet<u64> = members.iter().map(|m| m.alert_id).collect();
    let alerts = store.query_alerts(&AlertFilter {
        start_ns: inc.first_ns,
        end_ns: inc.last_ns.saturating_add(1),
        address: Some(inc.key.host),
        limit: MAX_RECORDS,
        ..AlertFilter::default()
    })?;
    let mut lines = Vec::new();
    for a in alerts.items.iter().filter(|a| ids.contains(&a.id)) {
        if a.eve.is_empty() {
            render_alert(a, &mut lines);
        } else {
            lines.extend_from_slice(a.eve.as_bytes());
        }
        lines.push(b'\n');
    }
    items.push(ev.add_item(id, "alerts", &lines, who)?);

    let flows = store.query_flows(&FlowFilter {
        start_ns: inc.first_ns,
        end_ns: inc.last_ns.saturating_add(HOUR_NS),
        address: Some(inc.key.host),
        limit: MAX_RECORDS,
        ..FlowFilter::default()
    })?;
    let mut lines = Vec::new();
    for f in flows.items.iter().filter(|f| {
        let other = if f.src_ip == inc.key.host {
            f.dst_ip
        } else {
            f.src_ip
        };
        inc.hosts.contains(&other) || inc.key.peer == Some(other)
    }) {
        render_flow(f, &mut lines);
        lines.push(b'\n');
    }
    if !lines.is_empty() {
        items.push(ev.add_item(id, "flows", &lines, who)?);
    }
    Ok(items)
}
