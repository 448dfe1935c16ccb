//! The EVE `intel` record of a hit, written with the one EVE writer: the flow's envelope
//! (client → server) and
//!
//! ```json
//! "intel": {"indicator_id": "indicator--…", "pattern": "[domain-name:value = '…']",
//!           "matched_field": "dns.query", "matched_value": "a.evil.example",
//!           "confidence": 80, "labels": ["c2"], "source": "feed.json",
//!           "related": [{"type": "malware", "id": "malware--…", "name": "…"},
//!                       {"type": "attack-pattern", "id": "…", "name": "…", "external_id": "T1071"}]}
//! ```

use super::{At, Field, Table, Value};
use crate::eve::{zone_vlans, Envelope, Json};

/// Appends the record of a hit of indicator `indicator` on `field` = `value` to `out`.
pub fn write_hit(
    out: &mut Vec<u8>,
    at: At<'_>,
    t: &Table,
    indicator: u32,
    field: Field,
    value: Value<'_>,
) {
    let tu = at.tuple;
    let env = Envelope {
        ts: at.now,
        flow_id: at.flow_id,
        pcap_cnt: at.pcap_cnt,
        event_type: "intel",
        src: tu.src,
        src_port: tu.src_port,
        dst: tu.dst,
        dst_port: tu.dst_port,
        proto: tu.proto,
        vlan: zone_vlans(tu.zone),
        icmp: None,
    };
    let info = t.indicator(indicator);
    let mut j = Json::new(out);
    j.envelope(&env);
    j.object("intel")
        .str("indicator_id", &info.id)
        .str("pattern", &info.pattern)
        .str("matched_field", field.name());
    match value {
        Value::Addr(a) => j.ip("matched_value", a),
        Value::Bytes(b) => j.bytes("matched_value", b),
    };
    if let Some(c) = info.confidence {
        j.u64("confidence", u64::from(c));
    }
    j.array("labels");
    for l in &info.labels {
        j.sep().value_bytes(l.as_bytes());
    }
    j.close_array();
    j.str("source", t.source(info.source));
    j.array("related");
    for r in &info.related {
        j.element_object()
            .str("type", &r.kind)
            .str("id", &r.id)
            .str("name", &r.name);
        if let Some(x) = &r.external_id {
            j.str("external_id", x);
        }
        j.close();
    }
    j.close_array();
    j.close();
    j.end();
}
