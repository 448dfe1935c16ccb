//! `osprey.v1.RulesService`: the stored ruleset, validation and hot reload.
//!
//! A reload compiles the enabled rules through [`crate::seams::RuleCompiler::compile_and_swap`] on the
//! blocking pool, then waits until [`crate::seams::Appliance::status`] shows every worker on the new
//! generation before it answers: the answer proves the new ruleset is the one inspecting
//! traffic (generation, counts, hash, time to swap). If the workers do not confirm in
//! `api.reload_confirm_timeout_ms`, the call fails with `ABORTED` instead of claiming success.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use crate::api::auth::Role;
use crate::error::{Error, Kind, Result};
use crate::ingest::SignatureCatalog;
use crate::model::{ReloadRecord, StoredRule};
use crate::proto;
use crate::proto::rules_service_server::RulesService;
use crate::seams::{CompileError, Diagnostic, Severity, Validation};

use super::{blocking, decode_rule_token, encode_rule_token, ApiContext};

const SVC: &str = "osprey.v1.RulesService";
/// Diagnostics quoted in an error message; the rest are counted.
const MAX_QUOTED_DIAGNOSTICS: usize = 20;
/// Failures returned in a reload answer.
const MAX_RELOAD_FAILURES: usize = 100;

/// The service; cheap to clone.
#[derive(Clone, Debug)]
pub struct RulesApi {
    pub ctx: Arc<ApiContext>,
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn gid_or_default(gid: u32) -> u32 {
    if gid == 0 {
        1
    } else {
        gid
    }
}

/// SHA-256 over the enabled rules' texts in (gid, sid) order, one per line.
pub fn ruleset_hash(rules: &[StoredRule]) -> String {
    let mut h = Sha256::new();
    for r in rules.iter().filter(|r| r.enabled) {
        h.update(r.text.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

fn diag_to_proto(d: &Diagnostic) -> proto::Diagnostic {
    proto::Diagnostic {
        severity: match d.severity {
            Severity::Error => proto::Severity::Error as i32,
            Severity::Warning => proto::Severity::Warning as i32,
        },
        line: d.line,
        column: d.column,
        message: d.message.clone(),
        sid: d.sid.unwrap_or(0),
    }
}

/// "line 3 column 14: message; ..." for an error status.
fn quote_diagnostics(diags: &[Diagnostic]) -> String {
    let errors: Vec<&Diagnostic> = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    let mut s = errors
        .iter()
        .take(MAX_QUOTED_DIAGNOSTICS)
        .map(|d| format!("line {} column {}: {}", d.line, d.column, d.message))
        .collect::<Vec<_>>()
        .join("; ");
    if errors.len() > MAX_QUOTED_DIAGNOSTICS {
        s.push_str(&format!(
            "; and {} more",
            errors.len() - MAX_QUOTED_DIAGNOSTICS
        ));
    }
    s
}

impl RulesApi {
    /// Validates on a thread of its own, not the shared blocking pool: the parse of a large
    /// text allocates in that thread's allocator arena, which has nothing else in it and is
    /// given back to the system once the call's memory is freed.
    async fn validate_text(&self, text: String) -> Result<Validation> {
        let compiler = self.ctx.compiler.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("osprey-validate".into())
            .spawn(move || {
                let v = compiler.validate(&text);
                drop(text);
                let _ = tx.send(v);
            })
            .map_err(|e| Error::internal(format!("starting a validation thread: {e}")))?;
        rx.await
            .map_err(|_| Error::internal("the validation thread ended without an answer"))
    }

    async fn set_enabled(
        &self,
        request: Request<proto::RuleRef>,
        enabled: bool,
    ) -> Result<Response<proto::Rule>, Status> {
        let ctx = self.ctx.clone();
        let method = format!("{SVC}/{}", if enabled { "Enable" } else { "Disable" });
        let r = *request.get_ref();
        let gid = gid_or_default(r.gid);
        let target = format!("{gid}:{}", r.sid);
        let who = ctx
            .auth
            .authorize(&request, &method, &target, Role::Operator)?;
        let store = ctx.store.clone();
        let res = blocking(move || {
            let mut rule = store.get_rule(gid, r.sid)?.ok_or_else(|| {
                Error::not_found(format!("no rule with sid {} (gid {gid})", r.sid))
            })?;
            rule.enabled = enabled;
            rule.updated_nanos = now_nanos();
            store.put_rules(std::slice::from_ref(&rule))?;
            Ok(rule)
        })
        .await;
        ctx.auth.audit(&who, &method, &target, &res);
        Ok(Response::new(proto::Rule::from(&res?)))
    }

    async fn do_reload(&self, who: &str) -> Result<proto::ReloadResponse> {
        let ctx = self.ctx.clone();
        let _guard = ctx.reload_lock.lock().await;
        let store = ctx.store.clone();
        let (rules, last_gen) =
            blocking(move || Ok((store.all_rules()?, store.generation()?))).await?;
        let enabled: Vec<StoredRule> = rules.into_iter().filter(|r| r.enabled).collect();
        let hash = ruleset_hash(&enabled);
        let generation = last_gen.max(ctx.appliance.status().active_generation()) + 1;
        let compiler = ctx.compiler.clone();
        let to_compile = enabled.clone();
        let started = Instant::now();
        let outcome =
            tokio::task::spawn_blocking(move || compiler.compile_and_swap(generation, &to_compile))
                .await
                .map_err(|e| Error::internal(format!("compile task failed: {e}")))?;
        let compiled_at = Instant::now();
        let outcome = outcome.map_err(|e| match e {
            CompileError::Failed(m) => Error::new(
                Kind::FailedPrecondition,
                format!("ruleset not compiled, the running one stays active: {m}"),
            ),
            CompileError::Busy => Error::new(Kind::Aborted, "a reload is already in progress"),
            CompileError::NotRunning => {
                Error::new(Kind::Unavailable, "the data plane is not running")
            }
        })?;
        if outcome.generation != generation {
            return Err(Error::internal(format!(
                "compiler published generation {} instead of {generation}",
                outcome.generation
            )));
        }
        // Wait for every worker to run the new generation; that is the proof.
        let timeout = Duration::from_millis(ctx.config.reload_confirm_timeout_ms);
        let active = loop {
            let active = ctx.appliance.status().active_generation();
            if active >= generation || compiled_at.elapsed() >= timeout {
                break active;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        if active < generation {
            return Err(Error::new(
                Kind::Aborted,
                format!(
                    "generation {generation} was published but workers still report {active} after {} ms",
                    timeout.as_millis()
                ),
            ));
        }
        let swap = compiled_at.elapsed();
        let compile_us = u64::try_from(outcome.compile_time.max(compiled_at - started).as_micros())
            .unwrap_or(u64::MAX);
        let swap_us = u64::try_from(swap.as_micros()).unwrap_or(u64::MAX);
        let rec = ReloadRecord {
            generation,
            time_nanos: now_nanos(),
            rules_loaded: outcome.rules_loaded,
            rules_failed: outcome.rules_failed,
            ruleset_hash: hash.clone(),
            compile_us,
            swap_us,
            who: who.to_owned(),
        };
        let store = ctx.store.clone();
        let rec2 = rec.clone();
        blocking(move || store.append_reload(&rec2)).await?;
        // Alerts from now on carry the new rules' msg and classtype.
        ctx.ingest
            .set_catalog(SignatureCatalog::from_rules(&enabled));
        Ok(proto::ReloadResponse {
            generation,
            rules_loaded: rec.rules_loaded,
            rules_failed: rec.rules_failed,
            ruleset_hash: hash,
            compile_us,
            swap_us,
            failures: outcome
                .failures
                .iter()
                .take(MAX_RELOAD_FAILURES)
                .map(diag_to_proto)
                .collect(),
        })
    }
}

#[tonic::async_trait]
impl RulesService for RulesApi {
    async fn list(
        &self,
        request: Request<proto::ListRulesRequest>,
    ) -> Result<Response<proto::ListRulesResponse>, Status> {
        let ctx = self.ctx.clone();
        ctx.auth
            .authorize(&request, &format!("{SVC}/List"), "", Role::Viewer)?;
        let q = request.into_inner();
        let limit = ctx.page_size(q.page_size)?;
        let after = decode_rule_token(&q.page_token)?;
        let store = ctx.store.clone();
        let rules = blocking(move || store.all_rules()).await?;
        let needle = q.text_contains.to_lowercase();
        let mut out = Vec::with_capacity(limit);
        let mut next = String::new();
        for r in rules
            .iter()
            .filter(|r| after.is_none_or(|a| (r.gid, r.sid) > a))
            .filter(|r| q.sid.is_none_or(|s| r.sid == s))
            .filter(|r| q.enabled.is_none_or(|e| r.enabled == e))
            .filter(|r| needle.is_empty() || r.text.to_lowercase().contains(&needle))
        {
            if out.len() == limit {
                if let Some(last) = out.last() {
                    let last: &proto::Rule = last;
                    next = encode_rule_token(last.gid, last.sid);
                }
                break;
            }
            out.push(proto::Rule::from(r));
        }
        Ok(Response::new(proto::ListRulesResponse {
            rules: out,
            next_page_token: next,
        }))
    }

    async fn get(
        &self,
        request: Request<proto::GetRuleRequest>,
    ) -> Result<Response<proto::Rule>, Status> {
        let ctx = self.ctx.clone();
        ctx.auth
            .authorize(&request, &format!("{SVC}/Get"), "", Role::Viewer)?;
        let q = request.into_inner();
        let gid = gid_or_default(q.gid);
        let store = ctx.store.clone();
        let rule = blocking(move || store.get_rule(gid, q.sid))
            .await?
            .ok_or_else(|| Error::not_found(format!("no rule with sid {} (gid {gid})", q.sid)))?;
        Ok(Response::new(proto::Rule::from(&rule)))
    }

    async fn add(
        &self,
        request: Request<proto::AddRulesRequest>,
    ) -> Result<Response<proto::AddRulesResponse>, Status> {
        let ctx = self.ctx.clone();
        let method = format!("{SVC}/Add");
        let who = ctx.auth.authorize(&request, &method, "", Role::Operator)?;
        let q = request.into_inner();
        let v = self.validate_text(q.text.clone()).await;
        let res: Result<Vec<StoredRule>> = async {
            let v = v?;
            if !v.is_valid() {
                return Err(Error::invalid(quote_diagnostics(&v.diagnostics)));
            }
            if v.rules.is_empty() {
                return Err(Error::invalid("the text holds no rule"));
            }
            let mut lines: HashMap<(u32, u32), u32> = HashMap::new();
            for m in &v.rules {
                if let Some(first) = lines.insert((m.gid, m.sid), m.line) {
                    return Err(Error::invalid(format!(
                        "sid {} appears on line {first} and line {}",
                        m.sid, m.line
                    )));
                }
            }
            let now = now_nanos();
            let rules: Vec<StoredRule> = v
                .rules
                .iter()
                .map(|m| StoredRule {
                    gid: m.gid,
                    sid: m.sid,
                    rev: m.rev,
                    msg: m.msg.clone(),
                    classtype: m.classtype.clone(),
                    priority: m.priority,
                    text: m.text.clone(),
                    enabled: !q.disabled,
                    updated_nanos: now,
                })
                .collect();
            let store = ctx.store.clone();
            let replace = q.replace;
            let lines2 = lines.clone();
            blocking(move || {
                if !replace {
                    for r in &rules {
                        if store.get_rule(r.gid, r.sid)?.is_some() {
                            return Err(Error::new(
                                Kind::AlreadyExists,
                                format!(
                                    "sid {} (line {}) is already stored; set replace to overwrite it",
                                    r.sid,
                                    lines2.get(&(r.gid, r.sid)).copied().unwrap_or(0)
                                ),
                            ));
                        }
                    }
                }
                store.put_rules(&rules)?;
                Ok(rules)
            })
            .await
        }
        .await;
        let target = match &res {
            Ok(r) => r
                .iter()
                .map(|r| r.sid.to_string())
                .take(50)
                .collect::<Vec<_>>()
                .join(","),
            Err(_) => String::new(),
        };
        ctx.auth.audit(&who, &method, &target, &res);
        let rules = res?;
        Ok(Response::new(proto::AddRulesResponse {
            added: rules.iter().map(proto::Rule::from).collect(),
        }))
    }

    async fn enable(
        &self,
        request: Request<proto::RuleRef>,
    ) -> Result<Response<proto::Rule>, Status> {
        self.set_enabled(request, true).await
    }

    async fn disable(
        &self,
        request: Request<proto::RuleRef>,
    ) -> Result<Response<proto::Rule>, Status> {
        self.set_enabled(request, false).await
    }

    async fn delete(
        &self,
        request: Request<proto::RuleRef>,
    ) -> Result<Response<proto::DeleteRuleResponse>, Status> {
        let ctx = self.ctx.clone();
        let method = format!("{SVC}/Delete");
        let r = *request.get_ref();
        let gid = gid_or_default(r.gid);
        let target = format!("{gid}:{}", r.sid);
        let who = ctx
            .auth
            .authorize(&request, &method, &target, Role::Operator)?;
        let store = ctx.store.clone();
        let res = blocking(move || {
            let rule = store.get_rule(gid, r.sid)?.ok_or_else(|| {
                Error::not_found(format!("no rule with sid {} (gid {gid})", r.sid))
            })?;
            store.delete_rule(gid, r.sid)?;
            Ok(rule)
        })
        .await;
        ctx.auth.audit(&who, &method, &target, &res);
        Ok(Response::new(proto::DeleteRuleResponse {
            deleted: Some(proto::Rule::from(&res?)),
        }))
    }

    async fn validate(
        &self,
        request: Request<proto::ValidateRequest>,
    ) -> Result<Response<proto::ValidateResponse>, Status> {
        self.ctx
            .auth
            .authorize(&request, &format!("{SVC}/Validate"), "", Role::Viewer)?;
        let v = self.validate_text(request.into_inner().text).await?;
        Ok(Response::new(proto::ValidateResponse {
            valid: v.is_valid(),
            rules: u32::try_from(v.rules.len()).unwrap_or(u32::MAX),
            diagnostics: v.diagnostics.iter().map(diag_to_proto).collect(),
        }))
    }

    async fn reload(
        &self,
        request: Request<proto::ReloadRequest>,
    ) -> Result<Response<proto::ReloadResponse>, Status> {
        let ctx = self.ctx.clone();
        let method = format!("{SVC}/Reload");
        let who = ctx.auth.authorize(&request, &method, "", Role::Operator)?;
        let res = self.do_reload(&who.name).await;
        match &res {
            Ok(r) => {
                ctx.counters.reloads.fetch_add(1, Ordering::Relaxed);
                let target = format!("generation {}", r.generation);
                ctx.auth.audit(&who, &method, &target, &res);
            }
            Err(_) => {
                ctx.counters.reload_failures.fetch_add(1, Ordering::Relaxed);
                ctx.auth.audit(&who, &method, "", &res);
            }
        }
        Ok(Response::new(res?))
    }

    async fn status(
        &self,
        request: Request<proto::RulesetStatusRequest>,
    ) -> Result<Response<proto::RulesetStatus>, Status> {
        let ctx = self.ctx.clone();
        ctx.auth
            .authorize(&request, &format!("{SVC}/Status"), "", Role::Viewer)?;
        let store = ctx.store.clone();
        let (rules, history) =
            blocking(move || Ok((store.all_rules()?, store.reload_history(20)?))).await?;
        let enabled: Vec<StoredRule> = rules.iter().filter(|r| r.enabled).cloned().collect();
        Ok(Response::new(proto::RulesetStatus {
            active_generation: ctx.appliance.status().active_generation(),
            rules_total: u32::try_from(rules.len()).unwrap_or(u32::MAX),
            rules_enabled: u32::try_from(enabled.len()).unwrap_or(u32::MAX),
            pending_hash: ruleset_hash(&enabled),
            history: history.iter().map(proto::ReloadRecord::from).collect(),
        }))
    }
}
