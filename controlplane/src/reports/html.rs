//! The report as one self-contained HTML page: inline CSS, inline SVG charts, no script and
//! nothing fetched, so it opens offline and prints as it shows. A section without data says
//! "No data in this range." instead of drawing an empty chart.

use std::fmt::Write as _;

use super::chart::{self, escape, si};
use super::summary::{Count, Summary};

/// What an empty section says (tests and other interfaces look for it).
pub const NO_DATA: &str = "No data in this range.";

const STYLE: &str = "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:24px;\
color:#1b1b1b;max-width:760px}h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;\
border-bottom:2px solid #1f5f9e;padding-bottom:2px;margin:22px 0 8px;page-break-after:avoid}\
.meta{color:#555;font-size:12px}.kpis{display:flex;flex-wrap:wrap;gap:8px}.kpi{border:1px \
solid #ccd;border-radius:4px;padding:6px 10px;min-width:120px}.kpi b{display:block;\
font-size:18px}.kpi span{font-size:11px;color:#555}table{border-collapse:collapse;width:100%;\
font-size:12px}th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #e3e3e3}\
td.n,th.n{text-align:right}.empty{color:#8a5a00;background:#fff6e0;padding:6px 10px;\
border-radius:4px;font-size:13px}.chart{width:100%;height:auto}.warn{color:#8a1f1f}\
section{page-break-inside:avoid}@page{size:A4;margin:14mm}";

/// `2026-12-07 16:50:51 UTC`.
pub fn time(ns: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns);
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace('T', " ")
        .replace('Z', " UTC")
}

/// `3h 12m`, `45s`.
fn duration(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    humantime::format_duration(std::time::Duration::from_secs(secs.max(1))).to_string()
}

fn bytes(b: u64) -> String {
    let s = si(b as f64);
    if s.ends_with(char::is_alphabetic) {
        format!("{s}B")
    } else {
        format!("{s} B")
    }
}

fn kpi(out: &mut String, value: &str, label: &str) {
    let _ = write!(
        out,
        "<div class=\"kpi\"><b>{}</b><span>{}</span></div>",
        escape(value),
        escape(label)
    );
}

fn empty(out: &mut String) {
    let _ = write!(out, "<p class=\"empty\">{NO_DATA}</p>");
}

fn count_table(out: &mut String, head: [&str; 3], rows: &[Count]) {
    let _ = write!(
        out,
        "<table><tr><th>{}</th><th>{}</th><th class=\"n\">{}</th></tr>",
        head[0], head[1], head[2]
    );
    for r in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            escape(&r.key),
            escape(&r.name),
            r.count
        );
    }
    out.push_str("</table>");
}

/// The whole page.
pub fn render(s: &Summary) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Osprey report \
         {from} – {to}</title><style>{STYLE}</style></head><body><h1>Osprey executive summary</h1>\
         <p class=\"meta\">{from} – {to} ({span}) · generated {gen}</p>",
        from = time(s.range.from_ns),
        to = time(s.range.to_ns),
        span = duration(s.range.span_ns()),
        gen = time(s.generated_ns),
    );
    traffic(&mut out, s);
    alerts(&mut out, s);
    tactics(&mut out, s);
    incidents(&mut out, s);
    intel(&mut out, s);
    performance(&mut out, s);
    storage(&mut out, s);
    out.push_str("</body></html>\n");
    out
}

fn traffic(out: &mut String, s: &Summary) {
    out.push_str("<section id=\"traffic\"><h2>Traffic volume</h2>");
    let t = &s.traffic;
    if t.intervals == 0 {
        empty(out);
    } else {
        out.push_str("<div class=\"kpis\">");
        kpi(out, &si(t.packets as f64), "packets");
        kpi(out, &bytes(t.bytes), "bytes");
        kpi(out, &si(t.alerts as f64), "alerts raised");
        kpi(out, &si(t.drops as f64), "packets dropped");
        out.push_str("</div>");
        if t.drops > 0 {
            let _ = write!(
                out,
                "<p class=\"warn\">{} packets were dropped before inspection.</p>",
                t.drops
            );
        }
    }
    out.push_str("</section>");
}

fn alerts(out: &mut String, s: &Summary) {
    out.push_str("<section id=\"alerts\"><h2>Top alerts</h2>");
    let a = &s.alerts;
    if a.total == 0 {
        empty(out);
        out.push_str("</section>");
        return;
    }
    out.push_str("<div class=\"kpis\">");
    kpi(out, &a.total.to_string(), "alerts stored");
    kpi(
        out,
        &a.top_signatures.len().to_string(),
        "top signatures shown",
    );
    out.push_str("</div>");
    if a.capped {
        let _ = write!(
            out,
            "<p class=\"warn\">More than {} alerts in this range: counts are of the first ones.</p>",
            super::summary::MAX_ALERTS_SCANNED
        );
    }
    out.push_str(&chart::series(
        "Alerts over time",
        &a.series,
        s.range.from_ns,
        s.range.to_ns,
        &time,
    ));
    let rows: Vec<(String, u64)> = a
        .top_signatures
        .iter()
        .map(|c| (c.name.clone(), c.count))
        .collect();
    out.push_str(&chart::bars("Top signatures", &rows));
    count_table(out, ["gid:sid", "signature", "alerts"], &a.top_signatures);
    out.push_str("</section>");
}

fn tactics(out: &mut String, s: &Summary) {
    out.push_str("<section id=\"attack\"><h2>ATT&amp;CK tactics and techniques</h2>");
    let a = &s.alerts;
    if a.tactics.is_empty() && a.techniques.is_empty() {
        empty(out);
    } else {
        if !a.tactics.is_empty() {
            count_table(out, ["tactic", "name", "alerts"], &a.tactics);
        }
        if !a.techniques.is_empty() {
            out.push_str("<p></p>");
            count_table(out, ["technique", "name", "alerts"], &a.techniques);
        }
    }
    out.push_str("</section>");
}

fn incidents(out: &mut String, s: &Summary) {
    out.push_str("<section id=\"incidents\"><h2>Incidents</h2>");
    let i = &s.incidents;
    if i.opened == 0 && i.closed == 0 {
        empty(out);
    } else {
        out.push_str("<div class=\"kpis\">");
        kpi(out, &i.opened.to_string(), "opened");
        kpi(out, &i.closed.to_string(), "closed");
        kpi(
            out,
            &i.still_open.to_string(),
            "of those opened, still open",
        );
        let mttr = i.mean_time_to_resolve_ns.map_or("–".to_owned(), duration);
        kpi(out, &mttr, "mean time to resolve");
        out.push_str("</div>");
    }
    out.push_str("</section>");
}

fn intel(out: &mut String, s: &Summary) {
    out.push_str("<section id=\"intel\"><h2>Threat-intelligence hits</h2>");
    let i = &s.intel;
    if i.hits == 0 {
        empty(out);
    } else {
        out.push_str("<div class=\"kpis\">");
        kpi(out, &i.hits.to_string(), "indicator hits");
        out.push_str("</div>");
        count_table(out, ["indicator", "feed", "hits"], &i.top_indicators);
    }
    out.push_str("</section>");
}

fn performance(out: &mut String, s: &Summary) {
    out.push_str("<section id=\"performance\"><h2>Performance trend</h2>");
    let t = &s.traffic;
    if t.pps.is_empty() {
        empty(out);
    } else {
        out.push_str("<div class=\"kpis\">");
        kpi(out, &format!("{} pps", si(t.mean_pps)), "mean packet rate");
        kpi(out, &format!("{} pps", si(t.peak_pps)), "peak packet rate");
        kpi(out, &format!("{}bit/s", si(t.mean_bps)), "mean bit rate");
        out.push_str("</div>");
        out.push_str(&chart::series(
            "Packets per second",
            &t.pps,
            s.range.from_ns,
            s.range.to_ns,
            &time,
        ));
    }
    out.push_str("</section>");
}

fn storage(out: &mut String, s: &Summary) {
    let st = &s.storage;
    out.push_str("<section id=\"storage\"><h2>Storage health</h2><div class=\"kpis\">");
    kpi(out, &st.state, "storage");
    kpi(out, &bytes(st.size_bytes), "database size");
    let cap = if st.max_bytes > 0 {
        format!(
            "{} ({:.0}% used)",
            bytes(st.max_bytes),
            st.size_bytes as f64 * 100.0 / st.max_bytes as f64
        )
    } else {
        "none".to_owned()
    };
    kpi(out, &cap, "size cap");
    kpi(
        out,
        &si(st.alerts_stored as f64),
        "alerts stored (estimate)",
    );
    let horizon = st.oldest_alert_ns.map_or("–".to_owned(), time);
    kpi(out, &horizon, "oldest stored alert");
    out.push_str("</div>");
    if !st.reason.is_empty() {
        let _ = write!(out, "<p class=\"warn\">{}</p>", escape(&st.reason));
    }
    out.push_str("</section>");
}
