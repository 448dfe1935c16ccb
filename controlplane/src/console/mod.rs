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
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::proto::alerts_service_client::AlertsServiceClient;
use crate::proto::audit_service_client::AuditServiceClient;
use crate::proto::block_service_client::BlockServiceClient;
use crate::proto::evidence_service_client::EvidenceServiceClient;
use crate::proto::flows_service_client::FlowsServiceClient;
use crate::proto::incident_service_client::IncidentServiceClient;
use crate::proto::intel_service_client::IntelServiceClient;
use crate::proto::output_service_client::OutputServiceClient;
use crate::proto::playbook_service_client::PlaybookServiceClient;
use crate::proto::report_service_client::ReportServiceClient;
use crate::proto::rules_service_client::RulesServiceClient;
use crate::proto::system_service_client::SystemServiceClient;

mod audit;
mod block;
pub use block::BlockCmd;
mod evidence;
mod incidents;
mod intel;
mod outputs;
mod playbooks;
mod records;
mod render;
mod reports;
mod rules;
mod system;

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
    /// The audit log (who called what, when, with what result), newest first. Admin only.
    Audit(audit::AuditArgs),
    /// The dynamic block list: add, list, get, remove entries.
    #[command(subcommand)]
    Block(block::BlockCmd),
    /// Incidents: correlated alerts, scored, and their workflow.
    #[command(subcommand)]
    Incidents(incidents::IncidentsCmd),
    /// Outputs to other tools: the webhooks' dead letters.
    #[command(subcommand)]
    Outputs(outputs::OutputsCmd),
    /// Playbooks: list, show, test on an incident (dry-run), reload, roll back an
    /// incident's blocks.
    #[command(subcommand)]
    Playbooks(playbooks::PlaybooksCmd),
    /// Incident evidence and its signed chain of custody.
    #[command(subcommand)]
    Evidence(evidence::EvidenceCmd),
    /// Threat intelligence: feeds, indicators, hits, imports.
    #[command(subcommand)]
    Intel(intel::IntelCmd),
    /// Generate an executive-summary report of a time range (HTML or PDF); it is stored too.
    Report(reports::ReportArgs),
    /// Stored reports (on demand and scheduled): list, get.
    #[command(subcommand)]
    Reports(reports::ReportsCmd),
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
    pub audit: AuditServiceClient<Svc>,
    pub blocks: BlockServiceClient<Svc>,
    pub incidents: IncidentServiceClient<Svc>,
    pub outputs: OutputServiceClient<Svc>,
    pub playbooks: PlaybookServiceClient<Svc>,
    pub evidence: EvidenceServiceClient<Svc>,
    pub intel: IntelServiceClient<Svc>,
    pub reports: ReportServiceClient<Svc>,
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
            flows: FlowsServiceClient::with_interceptor(channel.clone(), auth.clone()),
            audit: AuditServiceClient::with_interceptor(channel.clone(), auth.clone()),
            blocks: BlockServiceClient::with_interceptor(channel.clone(), auth.clone()),
            incidents: IncidentServiceClient::with_interceptor(channel.clone(), auth.clone()),
            outputs: OutputServiceClient::with_interceptor(channel.clone(), auth.clone()),
            playbooks: PlaybookServiceClient::with_interceptor(channel.clone(), auth.clone()),
            evidence: EvidenceServiceClient::with_interceptor(channel.clone(), auth.clone()),
            reports: ReportServiceClient::with_interceptor(channel.clone(), auth.clone())
                .max_decoding_message_size(big),
            intel: IntelServiceClient::with_interceptor(channel, auth)
                .max_encoding_message_size(big),
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

/// Parses `--since`/`--until`: unix seconds, `<n>ns`, or an age as humantime spells it
/// (`30s`, `15m`, `2h`, `7d`, `1h 30m`).
pub fn parse_time(s: &str, now_ns: u64) -> anyhow::Result<u64> {
    let s = s.trim();
    if let Some(n) = s.strip_suffix("ns") {
        return n.parse().with_context(|| format!("time `{s}`"));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = s
            .parse()
            .with_context(|| format!("time `{s}`: unix seconds, <n>ns, or an age like 15m"))?;
        return secs
            .checked_mul(1_000_000_000)
            .ok_or_else(|| anyhow!("time `{s}` is too large"));
    }
    let age = humantime::parse_duration(s)
        .with_context(|| format!("time `{s}`: unix seconds, <n>ns, or an age like 15m"))?;
    Ok(now_ns.saturating_sub(u64::try_from(age.as_nanos()).unwrap_or(u64::MAX)))
}

/// Runs a console command, printing to `out`. Returns the process exit code: 0, or 1
/// when `rules validate` finds errors or `evidence verify` finds damage. Server refusals are errors naming the gRPC code.
pub async fn run_with_output(args: CtlArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<i32> {
    let conn = Connection::resolve(&args)?;
    let mut c = conn.connect().await?;
    let js = args.json;
    match args.command {
        CtlCommand::Status => system::status(&mut c, js, out).await?,
        CtlCommand::Stats { workers } => system::stats(&mut c, workers, js, out).await?,
        CtlCommand::Rules(cmd) => return rules::run(&mut c, cmd, js, out).await,
        CtlCommand::Alerts(cmd) => records::alerts(&mut c, cmd, js, out).await?,
        CtlCommand::Flows(cmd) => records::flows(&mut c, cmd, js, out).await?,
        CtlCommand::Audit(a) => audit::run(&mut c, a, js, out).await?,
        CtlCommand::Block(cmd) => block::run(&mut c, cmd, js, out).await?,
        CtlCommand::Intel(cmd) => intel::run(&mut c, cmd, js, out).await?,
        CtlCommand::Incidents(cmd) => incidents::run(&mut c, cmd, js, out).await?,
        CtlCommand::Outputs(cmd) => outputs::run(&mut c, cmd, js, out).await?,
        CtlCommand::Playbooks(cmd) => playbooks::run(&mut c, cmd, js, out).await?,
        CtlCommand::Evidence(cmd) => return evidence::run(&mut c, cmd, js, out).await,
        CtlCommand::Report(a) => reports::generate(&mut c, a, js, out).await?,
        CtlCommand::Reports(cmd) => reports::run(&mut c, cmd, js, out).await?,
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::render::table;
    use super::*;

    #[test]
    fn times_parse() {
        let now = 10_000 * 1_000_000_000;
        assert_eq!(parse_time("5ns", now).unwrap(), 5);
        assert_eq!(parse_time("100", now).unwrap(), 100_000_000_000);
        assert_eq!(parse_time("1h", now).unwrap(), now - 3600 * 1_000_000_000);
        assert!(parse_time("yesterday", now).is_err());
        assert_eq!(parse_time("15m", now).unwrap(), now - 900 * 1_000_000_000);
        assert_eq!(
            parse_time("1h 30m", now).unwrap(),
            now - 5400 * 1_000_000_000
        );
        assert_eq!(parse_time("30000d", now).unwrap(), 0);
        assert!(parse_time("", now).is_err());
        assert!(parse_time("5x", now).is_err());
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
        let c = Cli::try_parse_from([
            "ctl", "audit", "--since", "1h", "--who", "ops", "--method", "Shutdown", "--limit", "5",
        ])
        .unwrap();
        let CtlCommand::Audit(a) = c.ctl.command else {
            panic!("not audit: {:?}", c.ctl.command);
        };
        assert_eq!(
            (
                a.since.as_deref(),
                a.who.as_deref(),
                a.method.as_deref(),
                a.limit
            ),
            (Some("1h"), Some("ops"), Some("Shutdown"), 5)
        );
    }
}
