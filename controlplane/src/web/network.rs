//! The network map's data: `GET /api/v1/network/graph?from=&to=&group=&host=` aggregates the
//! stored flow records and alerts of a time range into hosts (internal or external by
//! `[incidents] home_net`, with their asset group) and conversations (one per address pair,
//! both directions together) carrying bytes, flows and alerts.
//!
//! The work is bounded: at most [`Limits::flows`] flow records and [`Limits::alerts`] alerts
//! are read (newest first), and the answer keeps the [`Limits::edges`] conversations with the
//! most bytes and the hosts they touch; what was left out is counted in the answer
//! (`complete`, `edges_dropped`), so the page can say that the map is partial.

use std::collections::HashMap;
use std::net::IpAddr;

use axum::extract::{RawQuery, State};
use axum::http::Method;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::auth::Caller;
use super::error::ApiError;
use super::rest::{param, parse_query, Answer, Kind as ParamKind, Param, Route, St};
use crate::api::{blocking, ApiContext};
use crate::config::IncidentsConfig;
use crate::error::{Error, Result};
use crate::incidents::{Assets, Cidr, Settings};
use crate::model::FlowRecord;
use crate::store::{AlertFilter, FlowFilter, Store};

/// Maps built at once; one more is refused with `resource_exhausted` (each reads up to
/// [`Limits::flows`] + [`Limits::alerts`] records).
const MAX_BUILDING: usize = 2;

const PARAMS: &[Param] = &[
    param("from", ParamKind::U64, "Packet time (ns since the epoch) where the map starts; absent = the oldest stored."),
    param("to", ParamKind::U64, "Packet time where it ends, exclusive; absent = unbounded."),
    param("group", ParamKind::Str, "Only conversations touching this host group: internal, external or an [[incidents.assets]] name."),
    param("host", ParamKind::Str, "Only conversations of this address."),
];

/// `GET /api/v1/network/graph`, in the REST route table.
pub fn routes() -> Vec<Route> {
    vec![Route::new(
        Method::GET,
        "/api/v1/network/graph",
        "Hosts and conversations aggregated from stored flows and alerts (the network map).",
        graph_route,
    )
    .params(PARAMS)
    .answer(Answer::Schema("NetworkGraph"))]
}

/// The OpenAPI schema of [`Graph`].
pub fn schema() -> serde_json::Value {
    let count = serde_json::json!({ "type": "integer", "minimum": 0 });
    let common = |extra: serde_json::Value| {
        let mut props = serde_json::json!({
            "id": { "type": "string" },
            "bytes": count, "flows": count, "alerts": count,
            "worst_severity": { "type": "integer", "description": "Most severe alert (1 is the highest); 0 when none." }
        });
        if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        serde_json::json!({ "type": "object", "properties": props })
    };
    serde_json::json!({
        "type": "object",
        "description": "Hosts and conversations of a time range; `complete` is false when a read cap stopped the scan, `edges_dropped` counts conversations left out.",
        "properties": {
            "from_ns": count, "to_ns": count,
            "nodes": { "type": "array", "items": common(serde_json::json!({
                "internal": { "type": "boolean" },
                "group": { "type": "string", "description": "An asset group's name, else internal or external." }
            })) },
            "edges": { "type": "array", "items": common(serde_json::json!({
                "source": { "type": "string" }, "target": { "type": "string" }
            })) },
            "flows_read": count, "alerts_read": count,
            "complete": { "type": "boolean" },
            "edges_dropped": count
        }
    })
}

async fn graph_route(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> std::result::Result<Json<Graph>, ApiError> {
    static BUILDING: Semaphore = Semaphore::const_new(MAX_BUILDING);
    let q: GraphQuery = parse_query(q.as_deref(), PARAMS)?;
    if c.principal.role.is_none() {
        return Err(ApiError::forbidden(format!(
            "{} has no role: the network map needs viewer",
            c.principal.name
        )));
    }
    let _permit = BUILDING.try_acquire().map_err(|_| {
        ApiError::exhausted(format!(
            "{MAX_BUILDING} network maps are being built; retry in a moment"
        ))
    })?;
    let groups = HostGroups::of(&st.ctx)?;
    let store = st.ctx.store.clone();
    let g = blocking(move || graph(&store, &groups, &q, Limits::default())).await?;
    Ok(Json(g))
}

/// Caps on one graph's work and size.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub flows: usize,
    pub alerts: usize,
    pub edges: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            flows: 50_000,
            alerts: 50_000,
            edges: 500,
        }
    }
}

/// The query string: times in nanoseconds (packet time, `to` exclusive, absent = unbounded),
/// a host group (`internal`, `external` or an asset group's name) and one address.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphQuery {
    pub from: Option<u64>,
    pub to: Option<u64>,
    pub group: Option<String>,
    pub host: Option<String>,
}

/// How hosts are told apart: the home networks and the asset groups of `[incidents]`.
#[derive(Clone, Debug, Default)]
pub struct HostGroups {
    home_net: Vec<Cidr>,
    assets: Assets,
}

impl HostGroups {
    pub fn new(settings: &Settings) -> Self {
        HostGroups {
            home_net: settings.home_net.clone(),
            assets: settings.assets.clone(),
        }
    }

    /// The running correlator's settings; with `[incidents]` off, its defaults (Suricata's
    /// `HOME_NET`, no asset groups).
    fn of(ctx: &ApiContext) -> Result<Self> {
        match &ctx.incidents {
            Some(i) => Ok(HostGroups::new(&i.settings())),
            None => {
                let s = IncidentsConfig::default()
                    .settings()
                    .map_err(|e| Error::internal(e.to_string()))?;
                Ok(HostGroups::new(&s))
            }
        }
    }

    fn internal(&self, ip: IpAddr) -> bool {
        self.home_net.iter().any(|c| c.contains(ip))
    }

    /// The asset group's name, else `internal` or `external`.
    fn group(&self, ip: IpAddr) -> &str {
        match self.assets.of(ip) {
            Some(a) => &a.name,
            None if self.internal(ip) => "internal",
            None => "external",
        }
    }

    fn in_group(&self, ip: IpAddr, group: &str) -> bool {
        match group {
            "internal" => self.internal(ip),
            "external" => !self.internal(ip),
            name => self.assets.of(ip).is_some_and(|a| a.name == name),
        }
    }

    fn known(&self, group: &str) -> bool {
        matches!(group, "internal" | "external") || self.assets.0.iter().any(|a| a.name == group)
    }
}

/// One host of the map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Node {
    pub id: String,
    pub internal: bool,
    pub group: String,
    pub bytes: u64,
    pub flows: u64,
    pub alerts: u64,
    /// The most severe alert's severity (1 is the highest), 0 when none.
    pub worst_severity: u8,
}

/// One conversation: every flow and alert between two addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub id: String,
    pub source: String,
    pub target: String,
    pub bytes: u64,
    pub flows: u64,
    pub alerts: u64,
    pub worst_severity: u8,
}

/// The answer.
#[derive(Clone, Debug, Serialize)]
pub struct Graph {
    pub from_ns: u64,
    pub to_ns: u64,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub flows_read: u64,
    pub alerts_read: u64,
    /// False when a read cap stopped the scan before the range's end.
    pub complete: bool,
    /// Conversations left out by [`Limits::edges`].
    pub edges_dropped: u64,
}

#[derive(Default)]
struct Conv {
    bytes: u64,
    flows: u64,
    alerts: u64,
    worst: u8,
}

fn worse(a: u8, b: u8) -> u8 {
    match (a, b) {
        (0, x) | (x, 0) => x,
        (x, y) => x.min(y),
    }
}

/// Accumulates flows and alerts into conversations.
struct Builder<'a> {
    groups: &'a HostGroups,
    group: Option<&'a str>,
    convs: HashMap<(IpAddr, IpAddr), Conv>,
}

impl Builder<'_> {
    fn conv(&mut self, a: IpAddr, b: IpAddr) -> Option<&mut Conv> {
        if let Some(g) = self.group {
            if !self.groups.in_group(a, g) && !self.groups.in_group(b, g) {
                return None;
            }
        }
        let key = if a <= b { (a, b) } else { (b, a) };
        Some(self.convs.entry(key).or_default())
    }

    fn flow(&mut self, src: IpAddr, dst: IpAddr, bytes: u64) {
        if let Some(c) = self.conv(src, dst) {
            c.flows += 1;
            c.bytes = c.bytes.saturating_add(bytes);
        }
    }

    fn alert(&mut self, src: IpAddr, dst: IpAddr, severity: u8) {
        if let Some(c) = self.conv(src, dst) {
            c.alerts += 1;
            c.worst = worse(c.worst, severity);
        }
    }

    /// Keeps the conversations with the most bytes (then alerts) and the hosts they touch.
    fn finish(self, limits: Limits) -> (Vec<Node>, Vec<Edge>, u64) {
        let mut convs: Vec<_> = self.convs.into_iter().collect();
        convs.sort_by(|(ka, a), (kb, b)| (b.bytes, b.alerts, ka).cmp(&(a.bytes, a.alerts, kb)));
        let dropped = convs.len().saturating_sub(limits.edges) as u64;
        convs.truncate(limits.edges);
        let mut nodes: HashMap<IpAddr, Node> = HashMap::new();
        let mut edges = Vec::with_capacity(convs.len());
        for ((a, b), c) in convs {
            for ip in [a, b] {
                let n = nodes.entry(ip).or_insert_with(|| Node {
                    id: ip.to_string(),
                    internal: self.groups.internal(ip),
                    group: self.groups.group(ip).to_owned(),
                    bytes: 0,
                    flows: 0,
                    alerts: 0,
                    worst_severity: 0,
                });
                n.bytes = n.bytes.saturating_add(c.bytes);
                n.flows += c.flows;
                n.alerts += c.alerts;
                n.worst_severity = worse(n.worst_severity, c.worst);
            }
            edges.push(Edge {
                id: format!("{a}-{b}"),
                source: a.to_string(),
                target: b.to_string(),
                bytes: c.bytes,
                flows: c.flows,
                alerts: c.alerts,
                worst_severity: c.worst,
            });
        }
        let mut nodes: Vec<Node> = nodes.into_values().collect();
        nodes.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.id.cmp(&b.id)));
        (nodes, edges, dropped)
    }
}

fn flow_bytes(f: &FlowRecord) -> u64 {
    f.bytes_toserver.saturating_add(f.bytes_toclient)
}

/// Checks the query: an ordered range, a known group, an address.
fn parse(q: &GraphQuery, groups: &HostGroups) -> Result<(u64, u64, Option<IpAddr>)> {
    let from = q.from.unwrap_or(0);
    let to = q.to.unwrap_or(0);
    if to != 0 && from >= to {
        return Err(Error::invalid(format!(
            "from ({from}) must be before to ({to})"
        )));
    }
    if let Some(g) = q.group.as_deref() {
        if !groups.known(g) {
            return Err(Error::invalid(format!(
                "group `{g}` is not internal, external or an asset group of [incidents]"
            )));
        }
    }
    let host = match q.host.as_deref().filter(|h| !h.is_empty()) {
        None => None,
        Some(h) => Some(
            h.parse::<IpAddr>()
                .map_err(|_| Error::invalid(format!("host `{h}` is not an address")))?,
        ),
    };
    Ok((from, to, host))
}

/// Reads the range's flows and alerts from the store and builds the map.
pub fn graph(store: &Store, groups: &HostGroups, q: &GraphQuery, limits: Limits) -> Result<Graph> {
    let (from, to, host) = parse(q, groups)?;
    let mut b = Builder {
        groups,
        group: q.group.as_deref(),
        convs: HashMap::new(),
    };
    let mut complete = true;
    let mut flows_read = 0u64;
    let mut ff = FlowFilter {
        start_ns: from,
        end_ns: to,
        address: host,
        limit: 1000,
        ..FlowFilter::default()
    };
    loop {
        let page = store.query_flows(&ff)?;
        for f in &page.items {
            b.flow(f.src_ip, f.dst_ip, flow_bytes(f));
        }
        flows_read += page.items.len() as u64;
        match page.next {
            Some(_) if flows_read as usize >= limits.flows => {
                complete = false;
                break;
            }
            Some(next) => ff.after = Some(next),
            None => break,
        }
    }
    let mut alerts_read = 0u64;
    let mut af = AlertFilter {
        start_ns: from,
        end_ns: to,
        address: host,
        limit: 1000,
        ..AlertFilter::default()
    };
    loop {
        let page = store.query_alerts(&af)?;
        for a in &page.items {
            b.alert(a.src_ip, a.dst_ip, a.severity);
        }
        alerts_read += page.items.len() as u64;
        match page.next {
            Some(_) if alerts_read as usize >= limits.alerts => {
                complete = false;
                break;
            }
            Some(next) => af.after = Some(next),
            None => break,
        }
    }
    let (nodes, edges, edges_dropped) = b.finish(limits);
    Ok(Graph {
        from_ns: from,
        to_ns: to,
        nodes,
        edges,
        flows_read,
        alerts_read,
        complete,
        edges_dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incidents::Asset;

    fn groups() -> HostGroups {
        HostGroups {
            home_net: vec![Cidr::parse("192.0.2.0/24").unwrap()],
            assets: Assets(vec![Asset {
                name: "servers".into(),
                cidrs: vec![Cidr::parse("192.0.2.10/31").unwrap()],
                criticality: 8,
            }]),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn build(g: &HostGroups, group: Option<&str>, edges: usize) -> (Vec<Node>, Vec<Edge>, u64) {
        let mut b = Builder {
            groups: g,
            group,
            convs: HashMap::new(),
        };
        b.flow(ip("192.0.2.5"), ip("203.0.113.9"), 101);
        b.flow(ip("203.0.113.9"), ip("192.0.2.5"), 51);
        b.flow(ip("192.0.2.10"), ip("192.0.2.5"), 10);
        b.flow(ip("198.51.100.1"), ip("203.0.113.9"), 5);
        b.alert(ip("203.0.113.9"), ip("192.0.2.5"), 2);
        b.alert(ip("192.0.2.5"), ip("203.0.113.9"), 1);
        b.finish(Limits {
            edges,
            ..Limits::default()
        })
    }

    #[test]
    fn both_directions_make_one_conversation_with_its_alerts() {
        let (nodes, edges, dropped) = build(&groups(), None, 10);
        assert_eq!(dropped, 0);
        assert_eq!(edges.len(), 3);
        let top = &edges[0];
        assert_eq!((top.bytes, top.flows, top.alerts), (152, 2, 2));
        assert_eq!(top.worst_severity, 1);
        let host = nodes.iter().find(|n| n.id == "192.0.2.5").unwrap();
        assert!(host.internal);
        assert_eq!(host.group, "internal");
        assert_eq!((host.flows, host.alerts), (3, 2));
        let server = nodes.iter().find(|n| n.id == "192.0.2.10").unwrap();
        assert_eq!(server.group, "servers");
        let outside = nodes.iter().find(|n| n.id == "198.51.100.1").unwrap();
        assert!(!outside.internal);
        assert_eq!(outside.worst_severity, 0);
    }

    #[test]
    fn a_group_keeps_conversations_touching_it() {
        let (nodes, edges, _) = build(&groups(), Some("servers"), 10);
        assert_eq!(edges.len(), 1);
        assert_eq!(nodes.len(), 2);
        let (_, ext, _) = build(&groups(), Some("external"), 10);
        assert_eq!(ext.len(), 2);
    }

    #[test]
    fn the_edge_cap_keeps_the_largest_and_counts_the_rest() {
        let (nodes, edges, dropped) = build(&groups(), None, 1);
        assert_eq!(dropped, 2);
        assert_eq!(edges[0].bytes, 152);
        assert_eq!(nodes.len(), 2);
    }

    #[test]
    fn bad_queries_are_refused_with_the_reason() {
        let g = groups();
        let q = |from, to, group: &str, host: &str| GraphQuery {
            from,
            to,
            group: Some(group.to_owned()).filter(|s| !s.is_empty()),
            host: Some(host.to_owned()),
        };
        let e = parse(&q(Some(5), Some(5), "", ""), &g).unwrap_err();
        assert!(e.context.contains("before"), "{e}");
        let e = parse(&q(None, None, "printers", ""), &g).unwrap_err();
        assert!(e.context.contains("printers"), "{e}");
        let e = parse(&q(None, None, "", "host-a"), &g).unwrap_err();
        assert!(e.context.contains("host-a"), "{e}");
        let ok = parse(&q(Some(1), None, "servers", "192.0.2.5"), &g).unwrap();
        assert_eq!(ok, (1, 0, Some("192.0.2.5".parse().unwrap())));
    }
}
