//! `osprey ml`: the flow anomaly model on captures.
//!
//! - `osprey ml eval --pcap P --labels L [--train T]`: replays each capture (a child
//!   `osprey replay --flow-features`, one EAL per process) into EVE `flow` records with
//!   features, trains the model on `--train` captures (else online on the same pass: each
//!   flow scored, then learnt, the warm-up window left out), joins the scores with the labels
//!   file and prints ROC AUC, precision at the top 1% and detection per family.
//! - The `ml` EVE record of `osprey replay --eve` ([`OnlineScorer`], [`render_ml`]).

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use controlplane::analytics::eval::{self, Labelled};
use controlplane::analytics::model::KIND;
use controlplane::analytics::{AnomalyModel, FlowSample, Params, Score};
use dataplane::flow::FlowRecord;
use vocab::flow::{FlowFeatures, Moments};

/// Version of an online model that was neither stored nor loaded.
pub(crate) const ONLINE_VERSION: u64 = 1;

#[derive(Subcommand, Debug)]
pub(crate) enum MlCommand {
    /// Evaluate the flow anomaly model on labelled captures.
    Eval(EvalArgs),
}

#[derive(Args, Debug)]
pub(crate) struct EvalArgs {
    /// Captures to score (repeatable); their flows are taken in order of first packet.
    #[arg(long, required = true)]
    pcap: Vec<PathBuf>,
    /// Labels: CSV with header `proto,src_ip,src_port,dst_ip,dst_port,first_ts,label,family`.
    #[arg(long)]
    labels: PathBuf,
    /// Captures to train on first (repeatable); without, the model learns online.
    #[arg(long)]
    train: Vec<PathBuf>,
    /// Flows without a label row: `skip` them or count them `benign` (background traffic).
    #[arg(long, default_value = "skip", value_parser = ["skip", "benign"])]
    unlabelled: String,
    /// Configuration file: `[dpdk]` for the replays, `[analytics]` for the model's shape.
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Engine flags of the replays (as `osprey replay --flags`).
    #[arg(long, default_value = "checksum-off")]
    flags: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_ml(c: MlCommand) -> anyhow::Result<ExitCode> {
    match c {
        MlCommand::Eval(a) => cmd_eval(a),
    }
}

/// A flow as read back from EVE: its tuple, first packet time and sample.
struct EveFlow {
    key: Tuple,
    start: f64,
    sample: FlowSample,
}

type Tuple = (u8, IpAddr, u16, IpAddr, u16);

fn cmd_eval(a: EvalArgs) -> anyhow::Result<ExitCode> {
    let params = match &a.config {
        Some(p) => crate::config::Config::load(Some(p))?.analytics.params(),
        None => Params::default(),
    };
    let labels = Labels::load(&a.labels)?;
    let mut model = AnomalyModel::new(params);
    let train = a.train.is_empty().then_some(()).is_none();
    for p in &a.train {
        for f in replay_flows(&a, p)? {
            let _ = model.learn(&f.sample);
        }
    }
    if train {
        model.finish_training();
    }
    let mut flows = Vec::new();
    for p in &a.pcap {
        flows.extend(replay_flows(&a, p)?);
    }
    flows.sort_by(|x, y| x.start.total_cmp(&y.start));
    let mut counts = Counts::default();
    let mut scored = Vec::with_capacity(flows.len());
    for f in &flows {
        let score = match model.score(&f.sample) {
            Ok(s) => s,
            Err(_) => {
                counts.refused += 1;
                continue;
            }
        };
        if !train {
            let _ = model.learn(&f.sample);
        }
        let Some(score) = score else {
            counts.warmup += 1;
            continue;
        };
        match labels.find(&f.key, f.start) {
            Some((malicious, family)) => scored.push(Labelled {
                score: score.score,
                malicious,
                family: family.to_owned(),
            }),
            None if a.unlabelled == "benign" => {
                counts.unlabelled += 1;
                scored.push(Labelled {
                    score: score.score,
                    malicious: false,
                    family: "unlabelled".into(),
                });
            }
            None => counts.unlabelled += 1,
        }
    }
    let report = eval::evaluate(&scored)?;
    print_report(&a, &report, &counts, params)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Default, serde::Serialize)]
struct Counts {
    warmup: u64,
    unlabelled: u64,
    refused: u64,
}

fn print_report(a: &EvalArgs, r: &eval::Report, c: &Counts, p: Params) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if a.json {
        let v = serde_json::json!({
            "model": { "kind": KIND, "trees": p.trees, "depth": p.depth, "window": p.window,
                       "seed": p.seed, "trained": if a.train.is_empty() { "online" } else { "capture" } },
            "report": r,
            "warmup": c.warmup,
            "unlabelled": c.unlabelled,
            "unlabelled_as": a.unlabelled,
            "refused": c.refused,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "model: {KIND} trees={} depth={} window={} seed={} ({})",
        p.trees,
        p.depth,
        p.window,
        p.seed,
        if a.train.is_empty() {
            "online"
        } else {
            "trained on capture"
        }
    )?;
    writeln!(
        out,
        "flows: {} evaluated ({} malicious), {} warm-up, {} unlabelled ({}), {} refused",
        r.flows, r.malicious, c.warmup, c.unlabelled, a.unlabelled, c.refused
    )?;
    writeln!(out, "ROC AUC: {:.4}", r.auc)?;
    writeln!(out, "precision at top 1%: {:.4}", r.precision_at_1pct)?;
    writeln!(
        out,
        "threshold (benign 99th percentile): {:.4}",
        r.threshold
    )?;
    writeln!(
        out,
        "{:<14} {:<10} {:>8} {:>9} {:>7} {:>7}",
        "FAMILY", "LABEL", "FLOWS", "DETECTED", "RATE", "AUC"
    )?;
    for f in &r.families {
        writeln!(
            out,
            "{:<14} {:<10} {:>8} {:>9} {:>7.3} {:>7}",
            f.family,
            if f.malicious { "malicious" } else { "benign" },
            f.flows,
            f.detected,
            f.detected as f64 / f.flows.max(1) as f64,
            f.auc.map_or("-".to_owned(), |x| format!("{x:.4}"))
        )?;
    }
    Ok(())
}

/// Replays `pcap` in a child `osprey replay` and reads its flows back.
fn replay_flows(a: &EvalArgs, pcap: &Path) -> anyhow::Result<Vec<EveFlow>> {
    let dir = std::env::temp_dir().join(format!("osprey-ml-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let eve = dir.join("flows.json");
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.arg("replay")
        .arg("--pcap")
        .arg(pcap)
        .arg("--flow-features")
        .args(["--eve-types", "flow", "--quiet", "--flags", &a.flags])
        .arg("--eve")
        .arg(&eve);
    if let Some(c) = &a.config {
        cmd.arg("-c").arg(c);
    }
    let status = cmd.status().context("starting osprey replay")?;
    if !status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        bail!("osprey replay of {} failed ({status})", pcap.display());
    }
    let flows = read_eve_flows(&eve);
    let _ = std::fs::remove_dir_all(&dir);
    flows.with_context(|| format!("reading the flows of {}", pcap.display()))
}

fn read_eve_flows(path: &Path) -> anyhow::Result<Vec<EveFlow>> {
    let f = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut out = Vec::new();
    for (n, line) in f.lines().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(&line?).with_context(|| format!("line {}: not JSON", n + 1))?;
        if v["event_type"] == "flow" {
            out.push(eve_flow(&v).with_context(|| format!("line {}", n + 1))?);
        }
    }
    Ok(out)
}

fn eve_flow(v: &serde_json::Value) -> anyhow::Result<EveFlow> {
    let u = |x: &serde_json::Value| x.as_u64().unwrap_or(0);
    let proto = vocab::proto::number(v["proto"].as_str().unwrap_or(""))
        .with_context(|| format!("unknown proto {}", v["proto"]))?;
    let ip = |k: &str| -> anyhow::Result<IpAddr> {
        v[k].as_str()
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("no address in {k}"))
    };
    let key = (
        proto,
        ip("src_ip")?,
        u(&v["src_port"]) as u16,
        ip("dest_ip")?,
        u(&v["dest_port"]) as u16,
    );
    let fl = &v["flow"];
    let start = eve_time(fl["start"].as_str().context("no flow.start")?)?;
    let end = eve_time(fl["end"].as_str().context("no flow.end")?)?;
    let features = eve_features(&v["features"])
        .context("no flow features (replay without --flow-features?)")?;
    Ok(EveFlow {
        key,
        start,
        sample: FlowSample {
            proto,
            dst_port: key.4,
            duration_us: ((end - start).max(0.0) * 1e6) as u64,
            pkts: [u(&fl["pkts_toserver"]), u(&fl["pkts_toclient"])],
            bytes: [u(&fl["bytes_toserver"]), u(&fl["bytes_toclient"])],
            features,
        },
    })
}

/// Seconds since the epoch of an EVE timestamp (`2024-01-01T00:00:03.500000+0000`).
fn eve_time(s: &str) -> anyhow::Result<f64> {
    let t = humantime::parse_rfc3339(&format!("{}Z", &s[..s.len().min(26)]))
        .with_context(|| format!("bad timestamp {s:?}"))?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)?.as_secs_f64())
}

fn eve_features(v: &serde_json::Value) -> Option<FlowFeatures> {
    if !v.is_object() {
        return None;
    }
    let f64_of = |x: &serde_json::Value| x.as_f64().unwrap_or(0.0);
    let moments = |m: &serde_json::Value| {
        let n = m["n"].as_u64().unwrap_or(0) as u32;
        Moments {
            n,
            mean: f64_of(&m["mean"]),
            m2: f64_of(&m["var"]) * f64::from(n.saturating_sub(1)),
            min: f64_of(&m["min"]),
            max: f64_of(&m["max"]),
        }
    };
    let mut f = FlowFeatures::default();
    for (d, side) in ["toserver", "toclient"].iter().enumerate() {
        f.iat_us[d] = moments(&v["iat_us"][side]);
        f.payload[d] = moments(&v["payload"][side]);
        for (i, name) in vocab::flow::TCP_FLAG_NAMES.iter().enumerate() {
            f.tcp_flags[d][i] = v["tcp_flags"][side][name].as_u64().unwrap_or(0) as u32;
        }
        f.entropy[d] = f64_of(&v["entropy"][side]) as f32;
    }
    f.rtt_syn_synack_us = v["rtt_us"]["syn_synack"].as_u64().unwrap_or(0) as u32;
    f.rtt_synack_ack_us = v["rtt_us"]["synack_ack"].as_u64().unwrap_or(0) as u32;
    f.app.dns_qname_len = v["dns"]["qname_len"].as_u64().unwrap_or(0) as u16;
    f.app.dns_qname_entropy = f64_of(&v["dns"]["qname_entropy"]) as f32;
    f.app.http_status_class = v["http"]["status_class"].as_u64().unwrap_or(0) as u8;
    if let Some(m) = v["http"]["method"].as_str() {
        f.app.http_method = vocab::flow::HttpMethod::from_bytes(m.as_bytes());
    }
    f.app.tls_version = v["tls"]["version"].as_u64().unwrap_or(0) as u16;
    Some(f)
}

/// Ground truth by flow tuple (initiator first) and first packet time.
struct Labels {
    by_tuple: HashMap<Tuple, Vec<(f64, bool, String)>>,
}

/// Label rows further than this from a flow's first packet do not name it, seconds.
const LABEL_SLACK_SECS: f64 = 2.0;

impl Labels {
    fn load(path: &Path) -> anyhow::Result<Labels> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut lines = text.lines();
        let header = lines.next().unwrap_or("");
        let want = "proto,src_ip,src_port,dst_ip,dst_port,first_ts,label,family";
        if header.trim() != want {
            bail!("{}: the header must be `{want}`", path.display());
        }
        let mut by_tuple: HashMap<Tuple, Vec<(f64, bool, String)>> = HashMap::new();
        for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let row =
                parse_row(line).with_context(|| format!("{} line {}", path.display(), n + 2))?;
            by_tuple
                .entry(row.0)
                .or_default()
                .push((row.1, row.2, row.3));
        }
        Ok(Labels { by_tuple })
    }

    /// The label of the flow `key` that started at `start`: the nearest row in time of the
    /// tuple (either way round).
    fn find(&self, key: &Tuple, start: f64) -> Option<(bool, &str)> {
        let rev = (key.0, key.3, key.4, key.1, key.2);
        [key, &rev]
            .into_iter()
            .filter_map(|k| self.by_tuple.get(k))
            .flatten()
            .map(|(ts, m, fam)| ((ts - start).abs(), *m, fam.as_str()))
            .filter(|(d, _, _)| *d <= LABEL_SLACK_SECS)
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, m, fam)| (m, fam))
    }
}

fn parse_row(line: &str) -> anyhow::Result<(Tuple, f64, bool, String)> {
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() != 8 {
        bail!("expected 8 fields, found {}", f.len());
    }
    let proto = f[0]
        .parse::<u8>()
        .ok()
        .or_else(|| vocab::proto::number(f[0]))
        .with_context(|| format!("unknown proto {:?}", f[0]))?;
    let ip = |s: &str| {
        s.parse::<IpAddr>()
            .with_context(|| format!("bad address {s:?}"))
    };
    let port = |s: &str| s.parse::<u16>().with_context(|| format!("bad port {s:?}"));
    let ts: f64 = f[5]
        .parse()
        .with_context(|| format!("bad first_ts {:?}", f[5]))?;
    let malicious = match f[6] {
        "malicious" => true,
        "benign" => false,
        other => bail!("label {other:?} is neither benign nor malicious"),
    };
    let key = (proto, ip(f[1])?, port(f[2])?, ip(f[3])?, port(f[4])?);
    Ok((key, ts, malicious, f[7].to_owned()))
}

/// The model of `osprey replay --eve`: scores each flow, then learns it.
pub(crate) struct OnlineScorer {
    model: AnomalyModel,
    /// Flows refused (a feature not finite).
    pub refused: u64,
}

impl OnlineScorer {
    pub(crate) fn new(params: Params) -> OnlineScorer {
        OnlineScorer {
            model: AnomalyModel::new(params),
            refused: 0,
        }
    }

    /// The flow's score (`None` without features, while warming up, or refused).
    pub(crate) fn score(&mut self, rec: &FlowRecord) -> Option<Score> {
        let s = sample(rec)?;
        match self.model.score(&s) {
            Ok(score) => {
                let _ = self.model.learn(&s);
                score
            }
            Err(_) => {
                self.refused += 1;
                None
            }
        }
    }
}

/// The model's view of a flow record with features.
pub(crate) fn sample(rec: &FlowRecord) -> Option<FlowSample> {
    Some(FlowSample {
        proto: rec.tuple.proto,
        dst_port: rec.tuple.dst_port,
        duration_us: rec.end.saturating_since(rec.start) / 1_000,
        pkts: [rec.pkts_toserver, rec.pkts_toclient],
        bytes: [rec.bytes_toserver, rec.bytes_toclient],
        features: rec.features?,
    })
}

/// Appends the EVE `ml` record of a scored flow: the flow's envelope and
/// `ml { score, model, version, top_features }`.
pub(crate) fn render_ml(rec: &FlowRecord, s: &Score, out: &mut Vec<u8>) {
    let mut j = vocab::eve::Json::new(out);
    dataplane::flow::write_flow_envelope(&mut j, rec, "ml");
    j.object("ml")
        .f64("score", s.score)
        .str("model", KIND)
        .u64("version", ONLINE_VERSION)
        .array("top_features");
    for (name, share) in s.top.iter().filter(|t| t.1 > 0.0) {
        j.element_object()
            .str("name", name)
            .f64("share", *share)
            .close();
    }
    j.close_array().close();
    j.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_rows_parse_and_match_either_way_round() {
        let row = parse_row("tcp,192.0.2.1,40000,198.51.100.2,80,1704067200.250000,malicious,scan")
            .unwrap();
        let mut by_tuple = HashMap::new();
        by_tuple.insert(row.0, vec![(row.1, row.2, row.3)]);
        let l = Labels { by_tuple };
        let fwd = row.0;
        assert_eq!(l.find(&fwd, 1704067201.0), Some((true, "scan")));
        let rev = (6, fwd.3, fwd.4, fwd.1, fwd.2);
        assert_eq!(l.find(&rev, 1704067200.0), Some((true, "scan")));
        assert_eq!(l.find(&fwd, 1704067300.0), None);
        assert!(parse_row("tcp,192.0.2.1,1,192.0.2.2,2,0.0,evil,scan").is_err());
        assert!(parse_row("17,192.0.2.1,1,192.0.2.2,2,0.0,benign,dns").is_ok());
    }

    #[test]
    fn eve_timestamps_read_back() {
        let t = eve_time("2024-01-01T00:00:03.500000+0000").unwrap();
        assert!((t - 1_704_067_203.5).abs() < 1e-6);
    }
}
