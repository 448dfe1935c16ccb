//! `osprey ctl`, the management console: clap argument types and [`run`]. The binary only
//! parses [`CtlArgs`] and calls [`run`]; tests call [`run_with_output`] to capture output.
//!
//! Connection details come from flags, else from `--config <file>` (TOML with `endpoint`,
//! `ca`, `cert`, `key`, `token` or `token_file`, `domain`), else the default
//! `http://127.0.0.1:50051`. Output is a readable table, or JSON with `--json`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use serde::Deserialize;
use serde_json::json;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::outputs::eve::{format_timestamp, proto_name};
use crate::proto;
use crate::proto::alerts_service_client::AlertsServiceClient;
use crate::proto::flows_service_client::FlowsServiceClient;
use crate::proto::rules_service_client::RulesServiceClient;
use crate::proto::system_service_client::SystemServiceClient;

/// Endpoint used when neither a flag nor a config file names one.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:50051";

/// `osprey ctl [connection options] <command>`.
#[derive(clap::Args, Debug, Clone)]
pub struct CtlArgs {
    /// API endpoint, `http://host:port` (loopback only) or `https://host:port`.
    #[arg(long, global = true)]
    pub endpoint: Option<String>,
    /// CA certificate (PEM) that signed the server's certificate.
    #[arg(long, global = true)]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for mTLS.
    #[arg(long, global = true)]
    pub cert: Option<PathBuf>,
    /// Client key (PEM) for mTLS.
    #[arg(long, global = true)]
    pub key: Option<PathBuf>,
    /// Bearer token (else `OSPREY_TOKEN`, else the config file).
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// Server name to verify in its certificate, when it differs from the endpoint host.
    #[arg(long, global = true)]
    pub domain: Option<String>,
    /// Console config file (TOML).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// Console commands.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum CtlCommand {
    /// Appliance version, uptime, ports, workers, ruleset generation.
    Status,
    /// Counters: totals, per worker, control plane.
    Stats {
        /// Show per-worker counters too.
        #[arg(long)]
        workers: bool,
    },
    /// The stored ruleset.
    #[command(subcommand)]
    Rules(RulesCmd),
    /// Stored and live alerts.
    #[command(subcommand)]
    Alerts(AlertsCmd),
    /// Stored flow records.
    #[command(subcommand)]
    Flows(FlowsCmd),
}

/// `osprey ctl rules ...`
#[derive(clap::Subcommand, Debug, Clone)]
pub enum RulesCmd {
    List {
        #[arg(long)]
        sid: Option<u32>,
        /// Substring of the rule text (case-insensitive).
        #[arg(long)]
        contains: Option<String>,
        #[arg(long, conflicts_with = "disabled")]
        enabled: bool,
        #[arg(long)]
        disabled: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        page_token: Option<String>,
    },
    Show {
        sid: u32,
        #[arg(long, default_value_t = 1)]
        gid: u32,
    },
    /// Adds rules from a file (`-` for stdin) or `--text`.
    Add {
        file: Option<PathBuf>,
        #[arg(long)]
        text: Option<String>,
        /// Store the rules disabled.
        #[arg(long)]
        disabled: bool,
        /// Overwrite rules with the same sid.
        #[arg(long)]
        replace: bool,
    },
    Enable {
        sid: u32,
        #[arg(long, default_value_t = 1)]
        gid: u32,
    },
    Disable {
        sid: u32,
        #[arg(long, default_value_t = 1)]
        gid: u32,
    },
    Delete {
        sid: u32,
        #[arg(long, default_value_t = 1)]
        gid: u32,
    },
    /// Checks rules without storing them; exit code 1 if any is invalid.
    Validate {
        file: Option<PathBuf>,
        #[arg(long)]
        text: Option<String>,
    },
    /// Compiles the enabled rules and swaps them in; prints the proof.
    Reload,
    /// Active generation and reload history.
    Status,
}

/// `osprey ctl alerts ...`
#[derive(clap::Subcommand, Debug, Clone)]
pub enum AlertsCmd {
    Query {
        /// Start: unix seconds, `<n>ns`, or an age like `15m`, `2h`, `7d`.
        #[arg(long)]
        since: Option<String>,
        /// End (exclusive), same forms.
        #[arg(long)]
        until: Option<String>,
        #[arg(long)]
        sid: Option<u32>,
        /// Source or destination address.
        #[arg(long)]
        address: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        page_token: Option<String>,
        #[arg(long)]
        oldest_first: bool,
    },
    /// Streams alerts as they are stored.
    Tail {
        #[arg(long)]
        sid: Option<u32>,
        #[arg(long)]
        address: Option<String>,
        /// Stop after this many alerts.
        #[arg(long)]
        count: Option<u64>,
    },
}

/// `osprey ctl flows ...`
#[derive(clap::Subcommand, Debug, Clone)]
pub enum FlowsCmd {
    Query {
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        app_proto: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        page_token: Option<String>,
        #[arg(long)]
        oldest_first: bool,
    },
}

/// The console config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtlConfig {
    pub endpoint: Option<String>,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub domain: Option<String>,
}

/// Adds `authorization: Bearer <token>` to every call when a token is set.
#[derive(Clone, Debug)]
pub struct BearerAuth(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for BearerAuth {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

type Svc = InterceptedService<Channel, BearerAuth>;

/// Connected clients of every service.
#[derive(Clone, Debug)]
pub struct Clients {
    pub system: SystemServiceClient<Svc>,
    pub rules: RulesServiceClient<Svc>,
    pub alerts: AlertsServiceClient<Svc>,
    pub flows: FlowsServiceClient<Svc>,
}

/// Resolved connection settings.
#[derive(Clone, Debug, Default)]
pub struct Connection {
    pub endpoint: String,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub token: Option<String>,
    pub domain: Option<String>,
}

impl Connection {
    /// Flags first, then the config file, then defaults.
    pub fn resolve(args: &CtlArgs) -> anyhow::Result<Connection> {
        let file = match &args.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading console config {}", p.display()))?;
                toml::from_str::<CtlConfig>(&text)
                    .with_context(|| format!("console config {}", p.display()))?
            }
            None => CtlConfig::default(),
        };
        let env_token = std::env::var("OSPREY_TOKEN").ok().filter(|t| !t.is_empty());
        let token = match (
            &args.token.clone().or(env_token),
            &file.token,
            &file.token_file,
        ) {
            (Some(t), _, _) => Some(t.clone()),
            (None, Some(t), _) => Some(t.clone()),
            (None, None, Some(p)) => Some(
                std::fs::read_to_string(p)
                    .with_context(|| format!("reading token_file {}", p.display()))?
                    .trim()
                    .to_owned(),
            ),
            _ => None,
        };
        Ok(Connection {
            endpoint: args
                .endpoint
                .clone()
                .or(file.endpoint)
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned()),
            ca: args.ca.clone().or(file.ca),
            cert: args.cert.clone().or(file.cert),
            key: args.key.clone().or(file.key),
            token,
            domain: args.domain.clone().or(file.domain),
        })
    }

    /// Connects and builds the clients.
    pub async fn connect(&self) -> anyhow::Result<Clients> {
        let read = |what: &str, p: &Path| {
            std::fs::read(p).with_context(|| format!("reading {what} {}", p.display()))
        };
        let mut ep = Channel::from_shared(self.endpoint.clone())
            .with_context(|| format!("endpoint `{}`", self.endpoint))?;
        if self.endpoint.starts_with("https://") {
            let mut tls = ClientTlsConfig::new();
            if let Some(ca) = &self.ca {
                tls = tls.ca_certificate(Certificate::from_pem(read("CA", ca)?));
            }
            match (&self.cert, &self.key) {
                (Some(c), Some(k)) => {
                    tls =
                        tls.identity(Identity::from_pem(read("certificate", c)?, read("key", k)?));
                }
                (None, None) => {}
                _ => bail!("--cert and --key go together"),
            }
            if let Some(d) = &self.domain {
                tls = tls.domain_name(d.clone());
            }
            ep = ep.tls_config(tls).context("TLS settings")?;
        } else if self.cert.is_some() || self.ca.is_some() {
            bail!("--ca/--cert need an https:// endpoint");
        }
        let channel = ep
            .connect()
            .await
            .with_context(|| format!("connecting to {}", self.endpoint))?;
        let auth = BearerAuth(match &self.token {
            Some(t) => Some(
                format!("Bearer {t}")
                    .parse()
                    .map_err(|_| anyhow!("the token holds characters a header cannot carry"))?,
            ),
            None => None,
        });
        let big = 64 << 20;
        Ok(Clients {
            system: SystemServiceClient::with_interceptor(channel.clone(), auth.clone()),
            rules: RulesServiceClient::with_interceptor(channel.clone(), auth.clone())
                .max_encoding_message_size(big),
            alerts: AlertsServiceClient::with_interceptor(channel.clone(), auth.clone()),
            flows: FlowsServiceClient::with_interceptor(channel, auth),
        })
    }
}

/// Runs a console command, printing to stdout. Returns the process exit code.
pub async fn run(args: CtlArgs) -> anyhow::Result<i32> {
    let mut out = std::io::stdout();
    run_with_output(args, &mut out).await
}

fn status_err(what: &str, s: tonic::Status) -> anyhow::Error {
    anyhow!("{what}: {:?}: {}", s.code(), s.message())
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Parses `--since`/`--until`: unix seconds, `<n>ns`, or an age (`30s`, `15m`, `2h`, `7d`).
pub fn parse_time(s: &str, now_ns: u64) -> anyhow::Result<u64> {
    let s = s.trim();
    if let Some(n) = s.strip_suffix("ns") {
        return n.parse().with_context(|| format!("time `{s}`"));
    }
    let unit = match s.chars().last() {
        Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3600,
        Some('d') => 86_400,
        _ => {
            let secs: u64 = s
                .parse()
                .with_context(|| format!("time `{s}`: unix seconds, <n>ns, or an age like 15m"))?;
            return secs
                .checked_mul(1_000_000_000)
                .ok_or_else(|| anyhow!("time `{s}` is too large"));
        }
    };
    let n: u64 = s[..s.len() - 1]
        .parse()
        .with_context(|| format!("age `{s}`"))?;
    Ok(now_ns.saturating_sub(n.saturating_mul(unit).saturating_mul(1_000_000_000)))
}

/// Prints rows as an aligned table.
fn table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < w.len() {
                w[i] = w[i].max(c.chars().count());
            }
        }
    }
    let line = |out: &mut dyn Write, cells: Vec<&str>| -> std::io::Result<()> {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, header.to_vec())?;
    for r in rows {
        line(out, r.iter().map(String::as_str).collect())?;
    }
    Ok(())
}

fn rule_json(r: &proto::Rule) -> serde_json::Value {
    json!({"gid": r.gid, "sid": r.sid, "rev": r.rev, "msg": r.msg, "classtype": r.classtype,
           "enabled": r.enabled, "text": r.text, "updated_ns": r.updated_ns})
}

fn alert_json(a: &proto::Alert) -> serde_json::Value {
    // The worker's rendering (flow counters, the transaction), as an object when it parses.
    let eve =
        serde_json::from_str::<serde_json::Value>(&a.eve_json).unwrap_or(serde_json::Value::Null);
    json!({"eve": eve,"id": a.id, "timestamp": format_timestamp(a.timestamp_ns), "timestamp_ns": a.timestamp_ns,
           "gid": a.gid, "sid": a.sid, "rev": a.rev, "action": a.action, "msg": a.msg,
           "category": a.category, "severity": a.severity, "src_ip": a.src_ip, "src_port": a.src_port,
           "dest_ip": a.dest_ip, "dest_port": a.dest_port, "proto": proto_name(u8::try_from(a.proto).unwrap_or(0)),
           "app_proto": a.app_proto, "flow_id": a.flow_id, "direction": a.direction,
           "packet_number": a.packet_number, "worker": a.worker,
           "ruleset_generation": a.ruleset_generation})
}

fn alert_row(a: &proto::Alert) -> Vec<String> {
    vec![
        a.id.to_string(),
        format_timestamp(a.timestamp_ns),
        a.sid.to_string(),
        a.severity.to_string(),
        format!("{}:{}", a.src_ip, a.src_port),
        format!("{}:{}", a.dest_ip, a.dest_port),
        proto_name(u8::try_from(a.proto).unwrap_or(0)),
        a.msg.clone(),
    ]
}

const ALERT_HEADER: [&str; 8] = ["ID", "TIME", "SID", "SEV", "SRC", "DST", "PROTO", "MSG"];

fn read_rule_text(file: &Option<PathBuf>, text: &Option<String>) -> anyhow::Result<String> {
    match (file, text) {
        (_, Some(t)) => Ok(t.clone()),
        (Some(p), None) if p.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
            Ok(s)
        }
        (Some(p), None) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
        }
        (None, None) => bail!("give a rule file (or `-` for stdin) or --text"),
    }
}

fn print_json(out: &mut dyn Write, v: &serde_json::Value) -> anyhow::Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(v)?)?;
    Ok(())
}

/// Runs a console command, printing to `out`. Returns the process exit code: 0, or 1
/// when `rules validate` finds errors. Server refusals are errors naming the gRPC code.
pub async fn run_with_output(args: CtlArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<i32> {
    let conn = Connection::resolve(&args)?;
    let mut c = conn.connect().await?;
    let js = args.json;
    match args.command {
        CtlCommand::Status => {
            let s = c
                .system
                .status(proto::StatusRequest {})
                .await
                .map_err(|e| status_err("status", e))?
                .into_inner();
            if js {
                print_json(
                    out,
                    &json!({
                        "version": s.version, "uptime_secs": s.uptime_secs, "mode": s.mode,
                        "ruleset_generation": s.ruleset_generation, "alerts_stored": s.alerts_stored,
                        "storage_path": s.storage_path,
                        "ports": s.ports.iter().map(|p| json!({"port_id": p.port_id, "name": p.name, "link_up": p.link_up, "speed_mbps": p.speed_mbps, "driver": p.driver})).collect::<Vec<_>>(),
                        "workers": s.workers.iter().map(|w| json!({"name": w.name, "lcore": w.lcore, "running": w.running, "ruleset_generation": w.ruleset_generation})).collect::<Vec<_>>(),
                    }),
                )?;
            } else {
                writeln!(out, "version            {}", s.version)?;
                writeln!(out, "mode               {}", s.mode)?;
                writeln!(out, "uptime             {}s", s.uptime_secs)?;
                writeln!(out, "ruleset generation {}", s.ruleset_generation)?;
                writeln!(out, "alerts stored      ~{}", s.alerts_stored)?;
                writeln!(out, "storage            {}", s.storage_path)?;
                writeln!(out)?;
                let rows: Vec<Vec<String>> = s
                    .ports
                    .iter()
                    .map(|p| {
                        vec![
                            p.port_id.to_string(),
                            p.name.clone(),
                            if p.link_up {
                                "up".into()
                            } else {
                                "down".into()
                            },
                            p.speed_mbps.to_string(),
                            p.driver.clone(),
                        ]
                    })
                    .collect();
                table(out, &["PORT", "NAME", "LINK", "MBPS", "DRIVER"], &rows)?;
                writeln!(out)?;
                let rows: Vec<Vec<String>> = s
                    .workers
                    .iter()
                    .map(|w| {
                        vec![
                            w.name.clone(),
                            w.lcore.to_string(),
                            if w.running {
                                "running".into()
                            } else {
                                "stopped".into()
                            },
                            w.ruleset_generation.to_string(),
                        ]
                    })
                    .collect();
                table(out, &["WORKER", "LCORE", "STATE", "GENERATION"], &rows)?;
            }
        }
        CtlCommand::Stats { workers } => {
            let s = c
                .system
                .stats(proto::StatsRequest {})
                .await
                .map_err(|e| status_err("stats", e))?
                .into_inner();
            let m = |v: &[proto::Counter]| -> serde_json::Map<String, serde_json::Value> {
                v.iter().map(|c| (c.name.clone(), json!(c.value))).collect()
            };
            if js {
                let w: serde_json::Map<String, serde_json::Value> = s
                    .workers
                    .iter()
                    .map(|w| (w.worker.clone(), serde_json::Value::Object(m(&w.counters))))
                    .collect();
                print_json(
                    out,
                    &json!({"total": m(&s.total), "workers": w, "control_plane": m(&s.control_plane)}),
                )?;
            } else {
                let rows: Vec<Vec<String>> = s
                    .total
                    .iter()
                    .map(|c| vec![c.name.clone(), c.value.to_string()])
                    .collect();
                table(out, &["COUNTER", "TOTAL"], &rows)?;
                if workers {
                    for w in &s.workers {
                        writeln!(out, "\n[{}]", w.worker)?;
                        let rows: Vec<Vec<String>> = w
                            .counters
                            .iter()
                            .map(|c| vec![c.name.clone(), c.value.to_string()])
                            .collect();
                        table(out, &["COUNTER", "VALUE"], &rows)?;
                    }
                }
                writeln!(out)?;
                let rows: Vec<Vec<String>> = s
                    .control_plane
                    .iter()
                    .map(|c| vec![c.name.clone(), c.value.to_string()])
                    .collect();
                table(out, &["CONTROL PLANE", "VALUE"], &rows)?;
            }
        }
        CtlCommand::Rules(cmd) => return rules_cmd(&mut c, cmd, js, out).await,
        CtlCommand::Alerts(AlertsCmd::Query {
            since,
            until,
            sid,
            address,
            limit,
            page_token,
            oldest_first,
        }) => {
            let now = now_ns();
            let q = proto::AlertQuery {
                start_ns: since
                    .as_deref()
                    .map(|s| parse_time(s, now))
                    .transpose()?
                    .unwrap_or(0),
                end_ns: until
                    .as_deref()
                    .map(|s| parse_time(s, now))
                    .transpose()?
                    .unwrap_or(0),
                sid,
                address: address.unwrap_or_default(),
                page_size: limit,
                page_token: page_token.unwrap_or_default(),
                oldest_first,
            };
            let p = c
                .alerts
                .query(q)
                .await
                .map_err(|e| status_err("alerts query", e))?
                .into_inner();
            if js {
                print_json(
                    out,
                    &json!({"alerts": p.alerts.iter().map(alert_json).collect::<Vec<_>>(), "next_page_token": p.next_page_token}),
                )?;
            } else {
                let rows: Vec<Vec<String>> = p.alerts.iter().map(alert_row).collect();
                table(out, &ALERT_HEADER, &rows)?;
                if !p.next_page_token.is_empty() {
                    writeln!(out, "\nmore: --page-token {}", p.next_page_token)?;
                }
            }
        }
        CtlCommand::Alerts(AlertsCmd::Tail {
            sid,
            address,
            count,
        }) => {
            let mut stream = c
                .alerts
                .tail(proto::TailRequest {
                    sid,
                    address: address.unwrap_or_default(),
                })
                .await
                .map_err(|e| status_err("alerts tail", e))?
                .into_inner();
            if !js {
                table(out, &ALERT_HEADER, &[])?;
            }
            let mut n = 0u64;
            while count.is_none_or(|m| n < m) {
                let Some(a) = stream
                    .message()
                    .await
                    .map_err(|e| status_err("alerts tail", e))?
                else {
                    break;
                };
                n += 1;
                if js {
                    writeln!(out, "{}", alert_json(&a))?;
                } else {
                    writeln!(out, "{}", alert_row(&a).join("  "))?;
                }
                out.flush()?;
            }
        }
        CtlCommand::Flows(FlowsCmd::Query {
            since,
            until,
            address,
            app_proto,
            limit,
            page_token,
            oldest_first,
        }) => {
            let now = now_ns();
            let q = proto::FlowQuery {
                start_ns: since
                    .as_deref()
                    .map(|s| parse_time(s, now))
                    .transpose()?
                    .unwrap_or(0),
                end_ns: until
                    .as_deref()
                    .map(|s| parse_time(s, now))
                    .transpose()?
                    .unwrap_or(0),
                address: address.unwrap_or_default(),
                app_proto: app_proto.unwrap_or_default(),
                page_size: limit,
                page_token: page_token.unwrap_or_default(),
                oldest_first,
            };
            let p = c
                .flows
                .query(q)
                .await
                .map_err(|e| status_err("flows query", e))?
                .into_inner();
            if js {
                let v: Vec<_> = p.flows.iter().map(|f| json!({
                    "flow_id": f.flow_id, "src_ip": f.src_ip, "src_port": f.src_port, "dest_ip": f.dest_ip,
                    "dest_port": f.dest_port, "proto": proto_name(u8::try_from(f.proto).unwrap_or(0)), "app_proto": f.app_proto,
                    "pkts_toserver": f.pkts_toserver, "pkts_toclient": f.pkts_toclient,
                    "bytes_toserver": f.bytes_toserver, "bytes_toclient": f.bytes_toclient,
                    "start": format_timestamp(f.start_ns), "end": format_timestamp(f.end_ns),
                    "state": f.state, "reason": f.reason, "alerted": f.alerted, "worker": f.worker})).collect();
                print_json(
                    out,
                    &json!({"flows": v, "next_page_token": p.next_page_token}),
                )?;
            } else {
                let rows: Vec<Vec<String>> = p
                    .flows
                    .iter()
                    .map(|f| {
                        vec![
                            f.flow_id.to_string(),
                            format_timestamp(f.end_ns),
                            format!("{}:{}", f.src_ip, f.src_port),
                            format!("{}:{}", f.dest_ip, f.dest_port),
                            proto_name(u8::try_from(f.proto).unwrap_or(0)),
                            f.app_proto.clone(),
                            format!("{}/{}", f.pkts_toserver, f.pkts_toclient),
                            format!("{}/{}", f.bytes_toserver, f.bytes_toclient),
                            f.state.clone(),
                            f.reason.clone(),
                        ]
                    })
                    .collect();
                table(
                    out,
                    &[
                        "FLOW", "END", "SRC", "DST", "PROTO", "APP", "PKTS", "BYTES", "STATE",
                        "REASON",
                    ],
                    &rows,
                )?;
                if !p.next_page_token.is_empty() {
                    writeln!(out, "\nmore: --page-token {}", p.next_page_token)?;
                }
            }
        }
    }
    Ok(0)
}

async fn rules_cmd(
    c: &mut Clients,
    cmd: RulesCmd,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    let print_rules = |out: &mut (dyn Write + Send), rules: &[proto::Rule]| -> anyhow::Result<()> {
        if js {
            print_json(out, &json!(rules.iter().map(rule_json).collect::<Vec<_>>()))?;
        } else {
            let rows: Vec<Vec<String>> = rules
                .iter()
                .map(|r| {
                    vec![
                        format!("{}:{}", r.gid, r.sid),
                        r.rev.to_string(),
                        if r.enabled { "yes".into() } else { "no".into() },
                        r.msg.clone(),
                    ]
                })
                .collect();
            table(out, &["GID:SID", "REV", "ENABLED", "MSG"], &rows)?;
        }
        Ok(())
    };
    match cmd {
        RulesCmd::List {
            sid,
            contains,
            enabled,
            disabled,
            limit,
            page_token,
        } => {
            let q = proto::ListRulesRequest {
                sid,
                text_contains: contains.unwrap_or_default(),
                enabled: if enabled {
                    Some(true)
                } else if disabled {
                    Some(false)
                } else {
                    None
                },
                page_size: limit,
                page_token: page_token.unwrap_or_default(),
            };
            let r = c
                .rules
                .list(q)
                .await
                .map_err(|e| status_err("rules list", e))?
                .into_inner();
            print_rules(out, &r.rules)?;
            if !js && !r.next_page_token.is_empty() {
                writeln!(out, "\nmore: --page-token {}", r.next_page_token)?;
            }
        }
        RulesCmd::Show { sid, gid } => {
            let r = c
                .rules
                .get(proto::GetRuleRequest { sid, gid })
                .await
                .map_err(|e| status_err("rules show", e))?
                .into_inner();
            if js {
                print_json(out, &rule_json(&r))?;
            } else {
                writeln!(
                    out,
                    "{}:{} rev {} ({})",
                    r.gid,
                    r.sid,
                    r.rev,
                    if r.enabled { "enabled" } else { "disabled" }
                )?;
                writeln!(out, "msg       {}", r.msg)?;
                writeln!(out, "classtype {}", r.classtype)?;
                writeln!(out, "{}", r.text)?;
            }
        }
        RulesCmd::Add {
            file,
            text,
            disabled,
            replace,
        } => {
            let text = read_rule_text(&file, &text)?;
            let r = c
                .rules
                .add(proto::AddRulesRequest {
                    text,
                    disabled,
                    replace,
                })
                .await
                .map_err(|e| status_err("rules add", e))?
                .into_inner();
            if js {
                print_rules(out, &r.added)?;
            } else {
                writeln!(
                    out,
                    "added {} rule(s); run `osprey ctl rules reload` to activate",
                    r.added.len()
                )?;
            }
        }
        RulesCmd::Enable { sid, gid }
        | RulesCmd::Disable { sid, gid }
        | RulesCmd::Delete { sid, gid } => {
            let rf = proto::RuleRef { sid, gid };
            let (verb, rule) = match cmd {
                RulesCmd::Enable { .. } => (
                    "enabled",
                    c.rules
                        .enable(rf)
                        .await
                        .map_err(|e| status_err("rules enable", e))?
                        .into_inner(),
                ),
                RulesCmd::Disable { .. } => (
                    "disabled",
                    c.rules
                        .disable(rf)
                        .await
                        .map_err(|e| status_err("rules disable", e))?
                        .into_inner(),
                ),
                _ => (
                    "deleted",
                    c.rules
                        .delete(rf)
                        .await
                        .map_err(|e| status_err("rules delete", e))?
                        .into_inner()
                        .deleted
                        .unwrap_or_default(),
                ),
            };
            if js {
                print_json(out, &json!({"result": verb, "rule": rule_json(&rule)}))?;
            } else {
                writeln!(out, "{verb} {}:{}", rule.gid, rule.sid)?;
            }
        }
        RulesCmd::Validate { file, text } => {
            let text = read_rule_text(&file, &text)?;
            let v = c
                .rules
                .validate(proto::ValidateRequest { text })
                .await
                .map_err(|e| status_err("rules validate", e))?
                .into_inner();
            if js {
                let d: Vec<_> = v.diagnostics.iter().map(|d| json!({
                    "severity": if d.severity == proto::Severity::Warning as i32 { "warning" } else { "error" },
                    "line": d.line, "column": d.column, "message": d.message, "sid": d.sid})).collect();
                print_json(
                    out,
                    &json!({"valid": v.valid, "rules": v.rules, "diagnostics": d}),
                )?;
            } else {
                for d in &v.diagnostics {
                    let sev = if d.severity == proto::Severity::Warning as i32 {
                        "warning"
                    } else {
                        "error"
                    };
                    writeln!(out, "{}:{}: {sev}: {}", d.line, d.column, d.message)?;
                }
                writeln!(
                    out,
                    "{} rule(s), {}",
                    v.rules,
                    if v.valid { "valid" } else { "INVALID" }
                )?;
            }
            return Ok(if v.valid { 0 } else { 1 });
        }
        RulesCmd::Reload => {
            let r = c
                .rules
                .reload(proto::ReloadRequest {})
                .await
                .map_err(|e| status_err("rules reload", e))?
                .into_inner();
            if js {
                print_json(
                    out,
                    &json!({"generation": r.generation, "rules_loaded": r.rules_loaded, "rules_failed": r.rules_failed,
                    "ruleset_hash": r.ruleset_hash, "compile_us": r.compile_us, "swap_us": r.swap_us,
                    "failures": r.failures.iter().map(|d| json!({"sid": d.sid, "message": d.message})).collect::<Vec<_>>()}),
                )?;
            } else {
                writeln!(out, "generation {} active on every worker", r.generation)?;
                writeln!(
                    out,
                    "rules loaded {}, failed {}",
                    r.rules_loaded, r.rules_failed
                )?;
                writeln!(out, "hash {}", r.ruleset_hash)?;
                writeln!(
                    out,
                    "compile {:.1} ms, swap {:.1} ms",
                    r.compile_us as f64 / 1000.0,
                    r.swap_us as f64 / 1000.0
                )?;
                for d in &r.failures {
                    writeln!(out, "  sid {}: {}", d.sid, d.message)?;
                }
            }
        }
        RulesCmd::Status => {
            let s = c
                .rules
                .status(proto::RulesetStatusRequest {})
                .await
                .map_err(|e| status_err("rules status", e))?
                .into_inner();
            if js {
                print_json(
                    out,
                    &json!({"active_generation": s.active_generation, "rules_total": s.rules_total,
                    "rules_enabled": s.rules_enabled, "pending_hash": s.pending_hash,
                    "history": s.history.iter().map(|h| json!({"generation": h.generation, "time": format_timestamp(h.time_ns),
                        "rules_loaded": h.rules_loaded, "rules_failed": h.rules_failed, "ruleset_hash": h.ruleset_hash,
                        "compile_us": h.compile_us, "swap_us": h.swap_us, "who": h.who})).collect::<Vec<_>>()}),
                )?;
            } else {
                writeln!(out, "active generation {}", s.active_generation)?;
                writeln!(
                    out,
                    "rules {} ({} enabled), pending hash {}",
                    s.rules_total, s.rules_enabled, s.pending_hash
                )?;
                writeln!(out)?;
                let rows: Vec<Vec<String>> = s
                    .history
                    .iter()
                    .map(|h| {
                        vec![
                            h.generation.to_string(),
                            format_timestamp(h.time_ns),
                            h.rules_loaded.to_string(),
                            h.rules_failed.to_string(),
                            format!("{:.1}", h.swap_us as f64 / 1000.0),
                            h.who.clone(),
                            h.ruleset_hash.chars().take(12).collect(),
                        ]
                    })
                    .collect();
                table(
                    out,
                    &["GEN", "TIME", "LOADED", "FAILED", "SWAP_MS", "WHO", "HASH"],
                    &rows,
                )?;
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        let now = 10_000 * 1_000_000_000;
        assert_eq!(parse_time("5ns", now).unwrap(), 5);
        assert_eq!(parse_time("100", now).unwrap(), 100_000_000_000);
        assert_eq!(parse_time("1h", now).unwrap(), now - 3600 * 1_000_000_000);
        assert!(parse_time("yesterday", now).is_err());
    }

    #[test]
    fn table_aligns() {
        let mut v = Vec::new();
        table(&mut v, &["A", "BB"], &[vec!["xxx".into(), "y".into()]]).unwrap();
        assert_eq!(String::from_utf8(v).unwrap(), "A    BB\nxxx  y\n");
    }

    #[test]
    fn connection_flags_override_the_config_file() {
        #[derive(clap::Parser, Debug)]
        struct Cli {
            #[command(flatten)]
            ctl: CtlArgs,
        }
        use clap::Parser;
        let dir = tempfile::tempdir().unwrap();
        let tok = dir.path().join("token");
        std::fs::write(&tok, "s3cret\n").unwrap();
        let cfg = dir.path().join("ctl.toml");
        std::fs::write(
            &cfg,
            format!(
                "endpoint = \"https://osprey.example:50051\"\nca = \"/etc/osprey/ca.pem\"\ntoken_file = \"{}\"\ndomain = \"osprey\"\n",
                tok.display()
            ),
        )
        .unwrap();
        let c = Cli::try_parse_from(["ctl", "--config", cfg.to_str().unwrap(), "status"]).unwrap();
        let conn = Connection::resolve(&c.ctl).unwrap();
        assert_eq!(conn.endpoint, "https://osprey.example:50051");
        assert_eq!(conn.token.as_deref(), Some("s3cret"));
        assert_eq!(conn.domain.as_deref(), Some("osprey"));
        let c = Cli::try_parse_from([
            "ctl",
            "--config",
            cfg.to_str().unwrap(),
            "--endpoint",
            "http://127.0.0.1:1",
            "--token",
            "flag",
            "status",
        ])
        .unwrap();
        let conn = Connection::resolve(&c.ctl).unwrap();
        assert_eq!(conn.endpoint, "http://127.0.0.1:1");
        assert_eq!(conn.token.as_deref(), Some("flag"));
        std::fs::write(&cfg, "endpoint = 5\n").unwrap();
        let c = Cli::try_parse_from(["ctl", "--config", cfg.to_str().unwrap(), "status"]).unwrap();
        assert!(format!("{:#}", Connection::resolve(&c.ctl).unwrap_err()).contains("ctl.toml"));
    }

    #[test]
    fn args_parse() {
        #[derive(clap::Parser, Debug)]
        struct Cli {
            #[command(flatten)]
            ctl: CtlArgs,
        }
        use clap::Parser;
        let c = Cli::try_parse_from(["ctl", "--json", "rules", "show", "2010935"]).unwrap();
        assert!(c.ctl.json);
        assert!(matches!(
            c.ctl.command,
            CtlCommand::Rules(RulesCmd::Show {
                sid: 2_010_935,
                gid: 1
            })
        ));
        assert!(Cli::try_parse_from(["ctl", "rules", "frobnicate"]).is_err());
    }
}
