//! Doing (or, in dry-run, describing) one playbook action for one incident. Everything here
//! runs on the control plane's tokio runtime or its blocking pool: external commands are
//! child processes awaited there, never on a worker core.

use std::net::IpAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt as _};

use super::record::{ActionRecord, Outcome};
use super::spec::{Acquire, Action, Address, Playbook};
use crate::blocks::{BlockList, NewBlock};
use crate::incidents::Incident;
use crate::outputs::webhook::{Delivery, Webhooks};

/// How a notify target reads in an action's record.
fn describe(target: &str) -> String {
    if target == super::SYSLOG_TARGET {
        "syslog".into()
    } else {
        format!("webhook {target}")
    }
}

/// Bytes of a command's stdout and of its stderr kept in the record.
pub const OUTPUT_CAP: usize = 2048;

/// What actions act on.
#[derive(Debug)]
pub struct Executor {
    pub blocks: Arc<BlockList>,
    pub webhooks: Arc<Webhooks>,
    /// The `[syslog]` output's notice queue, when it runs.
    pub syslog: Option<crate::outputs::syslog::Notifier>,
    pub evidence: Option<Arc<crate::evidence::Evidence>>,
    pub http: reqwest::Client,
}

/// An action's result: its record and the points it adds to the incident's score.
pub struct Done {
    pub record: ActionRecord,
    pub boost: f64,
}

impl Executor {
    /// Does `action` of `pb` for `inc`, or describes it when `dry_run`.
    pub async fn act(&self, pb: &Playbook, action: &Action, inc: &Incident, dry_run: bool) -> Done {
        let name = action.name();
        let rec = |outcome, detail| ActionRecord::new(&pb.name, name, outcome, detail);
        let mut boost = 0.0;
        let record = match action {
            Action::Block {
                address,
                side,
                ttl_secs,
                max_addresses,
            } => {
                let targets = addresses(inc, *address, *max_addresses);
                let what = format!(
                    "block {} (side {}) for {ttl_secs}s",
                    list(&targets),
                    side.name()
                );
                if dry_run {
                    rec(Outcome::DryRun, format!("would {what}"))
                } else {
                    self.block(pb, inc, &targets, side.name(), *ttl_secs, what)
                        .await
                }
            }
            Action::Notify { target } => {
                if dry_run {
                    rec(
                        Outcome::DryRun,
                        format!("would notify {}", describe(target)),
                    )
                } else {
                    self.notify(pb, inc, target)
                }
            }
            Action::RaisePriority { points } => {
                if dry_run {
                    rec(
                        Outcome::DryRun,
                        format!("would raise the priority by {points}"),
                    )
                } else {
                    boost = f64::from(*points);
                    rec(Outcome::Ok, format!("priority raised by {points}"))
                }
            }
            Action::Run {
                command,
                args,
                timeout,
            } => {
                let args = expand(args, pb, inc);
                let what = format!("{} {}", command.display(), args.join(" "));
                if dry_run {
                    rec(Outcome::DryRun, format!("would run {what}"))
                } else {
                    match run(command, &args, *timeout).await {
                        Ok(r) => rec(
                            if r.success {
                                Outcome::Ok
                            } else {
                                Outcome::Error
                            },
                            format!("ran {what}: {}", r.summary()),
                        ),
                        Err(e) => rec(Outcome::Error, format!("{what}: {e}")),
                    }
                }
            }
            Action::AcquireMemory { via, timeout } => {
                if dry_run {
                    rec(
                        Outcome::DryRun,
                        format!(
                            "would ask {} for a memory image of {}",
                            via_name(via),
                            inc.key.host
                        ),
                    )
                } else {
                    self.acquire(pb, inc, via, *timeout).await
                }
            }
            Action::CaptureEvidence => {
                if dry_run {
                    rec(
                        Outcome::DryRun,
                        format!("would collect the evidence of incident {}", inc.id),
                    )
                } else {
                    self.capture(pb, inc).await
                }
            }
            Action::Playbook { name } => rec(
                if dry_run {
                    Outcome::DryRun
                } else {
                    Outcome::Ok
                },
                format!("runs playbook {name}"),
            ),
        };
        Done { record, boost }
    }

    async fn block(
        &self,
        pb: &Playbook,
        inc: &Incident,
        targets: &[IpAddr],
        side: &str,
        ttl_secs: u64,
        what: String,
    ) -> ActionRecord {
        let mut ids = Vec::new();
        let mut errors = Vec::new();
        for ip in targets {
            let req = NewBlock {
                target: ip.to_string(),
                side: side.to_owned(),
                origin: "playbook".into(),
                reason: format!("playbook {} for incident {}", pb.name, inc.id),
                expires_ns: 0,
                ttl_secs,
            };
            let list = self.blocks.clone();
            let who = format!("playbook:{}", pb.name);
            let r = tokio::task::spawn_blocking(move || {
                list.add(&req, &who, crate::health::now_nanos())
            })
            .await;
            match r {
                Ok(Ok(a)) => ids.push(a.entry.id),
                Ok(Err(e)) => errors.push(format!("{ip}: {e}")),
                Err(e) => errors.push(format!("{ip}: {e}")),
            }
        }
        let (outcome, detail) = if errors.is_empty() {
            (Outcome::Ok, format!("{what}: entries {ids:?}"))
        } else {
            (
                Outcome::Error,
                format!("{what}: entries {ids:?}, refused: {}", errors.join("; ")),
            )
        };
        let mut r = ActionRecord::new(&pb.name, "block", outcome, detail);
        r.block_ids = ids;
        r
    }

    fn notify(&self, pb: &Playbook, inc: &Incident, target: &str) -> ActionRecord {
        let rec = |o, d| ActionRecord::new(&pb.name, "notify", o, d);
        let body = serde_json::to_vec(&serde_json::json!({
            "event_type": "playbook",
            "playbook": pb.name,
            "incident": inc,
        }))
        .unwrap_or_default();
        let queued = if target == super::SYSLOG_TARGET {
            let Some(s) = &self.syslog else {
                return rec(Outcome::Error, "[syslog] is not running".into());
            };
            s.offer(inc.severity, body)
        } else {
            let Some(h) = self.webhooks.get(target) else {
                return rec(Outcome::Error, format!("webhook {target} is not running"));
            };
            h.offer(Delivery {
                kind: "playbook".into(),
                body,
            })
        };
        if queued {
            rec(Outcome::Ok, format!("queued for {}", describe(target)))
        } else {
            rec(Outcome::Error, format!("{}: queue full", describe(target)))
        }
    }

    async fn capture(&self, pb: &Playbook, inc: &Incident) -> ActionRecord {
        let rec = |o, d| ActionRecord::new(&pb.name, "capture_evidence", o, d);
        let Some(ev) = self.evidence.clone() else {
            return rec(Outcome::Error, "[evidence] is disabled".into());
        };
        let (id, who) = (inc.id, format!("playbook:{}", pb.name));
        match tokio::task::spawn_blocking(move || ev.collect_incident(id, &who)).await {
            Ok(Ok(items)) => rec(
                Outcome::Ok,
                format!(
                    "evidence items {}",
                    items
                        .iter()
                        .map(|i| format!("{} ({}, sha256 {})", i.item, i.kind, i.sha256))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Ok(Err(e)) => rec(Outcome::Error, e.to_string()),
            Err(e) => rec(Outcome::Error, e.to_string()),
        }
    }

    /// Logs an acquired artefact's hash in the chain of custody; a note of why not when
    /// it could not be.
    async fn log_artefact(
        &self,
        pb: &Playbook,
        inc: &Incident,
        sha: &str,
        len: u64,
        from: String,
    ) -> String {
        let Some(ev) = self.evidence.clone() else {
            return "; not in the chain of custody ([evidence] is disabled)".into();
        };
        let (id, who, sha) = (inc.id, format!("playbook:{}", pb.name), sha.to_owned());
        let r = tokio::task::spawn_blocking(move || {
            ev.add_artefact(id, "memory_image", &sha, len, &format!("from {from}"), &who)
        })
        .await;
        match r {
            Ok(Ok(item)) => format!("; custody item {}", item.item),
            Ok(Err(e)) => format!("; not in the chain of custody: {e}"),
            Err(e) => format!("; not in the chain of custody: {e}"),
        }
    }

    async fn acquire(
        &self,
        pb: &Playbook,
        inc: &Incident,
        via: &Acquire,
        timeout: Duration,
    ) -> ActionRecord {
        let host = inc.key.host;
        let got = match via {
            Acquire::Http(url) => self.acquire_http(url, pb, inc, timeout).await,
            Acquire::Command(cmd, args) => hash_command(cmd, &expand(args, pb, inc), timeout).await,
        };
        match got {
            Ok((sha, len)) => {
                let custody = self.log_artefact(pb, inc, &sha, len, via_name(via)).await;
                let mut r = ActionRecord::new(
                    &pb.name,
                    "acquire_memory",
                    Outcome::Ok,
                    format!(
                        "memory image of {host} from {}: {len} bytes, sha256 {sha}{custody}",
                        via_name(via)
                    ),
                );
                r.artefact_sha256 = sha;
                r
            }
            Err(e) => ActionRecord::new(
                &pb.name,
                "acquire_memory",
                Outcome::Error,
                format!("memory image of {host} from {}: {e}", via_name(via)),
            ),
        }
    }

    /// Posts `{"host", "incident", "playbook"}` to `url` and hashes the answer's body as it
    /// streams (nothing is kept but the hash and the length).
    async fn acquire_http(
        &self,
        url: &str,
        pb: &Playbook,
        inc: &Incident,
        timeout: Duration,
    ) -> Result<(String, u64), String> {
        let body = serde_json::json!({
            "host": inc.key.host.to_string(),
            "incident": inc.id,
            "playbook": pb.name,
        });
        let fetch = async {
            let mut r = self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("HTTP {}", r.status()));
            }
            let mut h = Sha256::new();
            let mut len = 0u64;
            while let Some(chunk) = r.chunk().await.map_err(|e| e.to_string())? {
                len += chunk.len() as u64;
                h.update(&chunk);
            }
            Ok((hex::encode(h.finalize()), len))
        };
        tokio::time::timeout(timeout, fetch)
            .await
            .map_err(|_| format!("timed out after {timeout:?}"))?
    }
}

fn via_name(via: &Acquire) -> String {
    match via {
        Acquire::Http(u) => u.clone(),
        Acquire::Command(c, _) => c.display().to_string(),
    }
}

/// The addresses a block takes: the incident's host, or its peers (at most `max`).
pub fn addresses(inc: &Incident, a: Address, max: usize) -> Vec<IpAddr> {
    match a {
        Address::Host => vec![inc.key.host],
        Address::Peers => {
            let mut v: Vec<IpAddr> = inc.key.peer.into_iter().collect();
            for h in &inc.hosts {
                if v.len() < max && !v.contains(h) {
                    v.push(*h);
                }
            }
            v.truncate(max);
            v
        }
    }
}

fn list(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `args` with `{incident}`, `{host}`, `{peer}` (first peer) and `{playbook}` replaced.
pub fn expand(args: &[String], pb: &Playbook, inc: &Incident) -> Vec<String> {
    let peer = addresses(inc, Address::Peers, 1)
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    args.iter()
        .map(|a| {
            a.replace("{incident}", &inc.id.to_string())
                .replace("{host}", &inc.key.host.to_string())
                .replace("{peer}", &peer)
                .replace("{playbook}", &pb.name)
        })
        .collect()
}

/// A finished command: exit status and the first [`OUTPUT_CAP`] bytes of its output.
pub struct Ran {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn summary(&self) -> String {
        let code = self
            .code
            .map_or("killed by a signal".into(), |c| format!("exit {c}"));
        let mut s = code;
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let t = text.trim();
            if !t.is_empty() {
                s.push_str(&format!(", {name}: {t}"));
            }
        }
        s
    }
}

fn spawn(cmd: &Path, args: &[String]) -> std::io::Result<tokio::process::Child> {
    tokio::process::Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
}

/// Reads all of `r`, keeping the first [`OUTPUT_CAP`] bytes.
async fn capped(mut r: impl AsyncRead + Unpin) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = OUTPUT_CAP.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// Runs `cmd args` with a time limit (the child is killed when it is reached).
pub async fn run(cmd: &Path, args: &[String], timeout: Duration) -> Result<Ran, String> {
    let mut child = spawn(cmd, args).map_err(|e| format!("cannot start: {e}"))?;
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let work = async {
        let (stdout, stderr, status) = tokio::join!(
            async {
                match out {
                    Some(o) => capped(o).await,
                    None => String::new(),
                }
            },
            async {
                match err {
                    Some(e) => capped(e).await,
                    None => String::new(),
                }
            },
            child.wait()
        );
        (stdout, stderr, status)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok((stdout, stderr, Ok(st))) => Ok(Ran {
            success: st.success(),
            code: st.code(),
            stdout,
            stderr,
        }),
        Ok((_, _, Err(e))) => Err(format!("waiting for it: {e}")),
        Err(_) => Err(format!("killed after {timeout:?}")),
    }
}

/// Runs an acquisition command and hashes its stdout (the artefact) as it streams.
async fn hash_command(
    cmd: &Path,
    args: &[String],
    timeout: Duration,
) -> Result<(String, u64), String> {
    let mut child = spawn(cmd, args).map_err(|e| format!("cannot start: {e}"))?;
    let mut out = child.stdout.take().ok_or("no stdout")?;
    let work = async {
        let mut h = Sha256::new();
        let mut len = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = out.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            len += n as u64;
            h.update(&buf[..n]);
        }
        let st = child.wait().await.map_err(|e| e.to_string())?;
        if !st.success() {
            return Err(format!("exited with {st}"));
        }
        Ok((hex::encode(h.finalize()), len))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("killed after {timeout:?}"))?
}
