//! The whole pipeline (decode → flows → app layer → detection → EVE alert records) over
//! captures from suricata-verify (`../shared/data/suricata-verify`, public material; the
//! tests skip with a note when it is absent).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::decode::LinkType;
use crate::detect::AlertEvent;
use crate::flow::FlowRecord;
use crate::io::pcap::PcapSource;
use crate::pipeline::{AlertContext, EventSink, Pipeline, PipelineConfig};

fn sv(test: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/suricata-verify/tests")
        .join(test);
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: {} is absent", p.display());
        None
    }
}

fn engine(rules: &str) -> Arc<rules::Engine> {
    crate::detect::tests::engine(rules)
}

#[derive(Default)]
struct Collect {
    alerts: Vec<(AlertEvent, AlertContext)>,
    lines: Vec<serde_json::Value>,
    flows: Vec<FlowRecord>,
}

impl EventSink for Collect {
    fn flow_end(&mut self, rec: &FlowRecord) {
        self.flows.push(*rec);
    }
    fn alert(&mut self, ev: &AlertEvent, ctx: &AlertContext) {
        self.alerts.push((*ev, *ctx));
    }
    fn eve_line(&mut self, line: &[u8]) {
        self.lines
            .push(serde_json::from_slice(line).expect("EVE record is valid JSON"));
    }
    fn wants_eve_alerts(&self) -> bool {
        true
    }
}

fn run(pcap: &Path, rules: &str, inline: bool) -> Collect {
    let mut src = PcapSource::open(pcap).expect("pcap opens");
    let link = LinkType::try_from(src.link_type()).expect("link type");
    let mut cfg = PipelineConfig {
        engine: Some(engine(rules)),
        ..PipelineConfig::default()
    };
    cfg.decode.checksum_validation = false;
    cfg.flow.stream.inline = inline;
    let mut p = Pipeline::new(link, &cfg).expect("pipeline");
    let mut out = Collect::default();
    let mut last = crate::time::Timestamp(0);
    while let Some(f) = src.next_frame().expect("frame") {
        last = f.ts;
        p.process(f.data, f.ts, &mut out);
        p.end_burst();
    }
    p.finish(last, &mut out);
    out
}

#[test]
fn dns_alerts_once_per_transaction_with_metadata() {
    let Some(dir) = sv("dns/dns-query/dns-detect-query-02") else {
        return;
    };
    let out = run(
        &dir.join("input.pcap"),
        concat!(
            "alert dns any any -> any any (msg:\"q com\"; dns.query; content:\"google.com\"; nocase; sid:1;)\n",
            "alert dns any any -> any any (msg:\"q net\"; dns.query; content:\"google.net\"; nocase; sid:2;)\n",
            "alert dns any any -> any any (msg:\"nx\"; dns.rcode:0; flow:to_client; sid:3;)\n",
        ),
        false,
    );
    let got: Vec<(u32, u64)> = out
        .alerts
        .iter()
        .map(|(e, c)| (e.sid, c.pcap_cnt))
        .collect();
    // The query (packet 1) alerts, its response (packet 2) does not alert again for sid 1;
    // the second query (packet 3) alerts for sid 2; the response matches the rcode rule.
    assert_eq!(got, vec![(1, 1), (3, 2), (2, 3)]);
    assert_eq!(out.lines.len(), 3);
    let first = &out.lines[0];
    assert_eq!(first["event_type"], "alert");
    assert_eq!(first["direction"], "to_server");
    assert_eq!(first["alert"]["signature"], "q com");
    assert_eq!(first["app_proto"], "dns");
    assert!(first["flow_id"].as_u64().unwrap() > 0);
    assert_eq!(first["flow"]["pkts_toserver"], 1);
    assert_eq!(first["flow"]["pkts_toclient"], 0);
    assert!(first.get("dns").is_some(), "transaction metadata: {first}");
    assert_eq!(out.lines[1]["direction"], "to_client");
    assert_eq!(out.lines[1]["flow"]["pkts_toclient"], 1);
    assert_eq!(out.flows.len(), 1);
    assert!(out.flows[0].alerted);
}

#[test]
fn http_uri_alerts_on_the_packet_completing_each_request() {
    let Some(dir) = sv("detect-http-uri/UriTestSig01") else {
        return;
    };
    let out = run(
        &dir.join("test.fpc.pcap"),
        "alert tcp any any -> any any (msg:\"one\"; uricontent:\"one\"; sid:1;)\n",
        true,
    );
    let got: Vec<u64> = out.alerts.iter().map(|(_, c)| c.pcap_cnt).collect();
    // Inline mode: two requests in the capture, each alerting once, on the packets that
    // complete them (4 and 5).
    assert_eq!(got, vec![4, 5]);
    for l in &out.lines {
        assert_eq!(l["app_proto"], "http");
        assert!(l["http"]["url"].as_str().unwrap().contains("one"), "{l}");
    }
}
