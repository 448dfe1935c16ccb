//! `osprey ctl rules ...`: list, show, add, enable/disable/delete, validate, reload, status.

use std::io::Write;

use serde_json::json;

use super::render::{print_json, read_rule_text, rule_json, table};
use super::{status_err, Clients, RulesCmd};
use crate::proto;
use vocab::calendar::eve_timestamp as format_timestamp;

/// Runs a `rules` command; the exit code is 1 when `validate` finds errors, else 0.
pub(super) async fn run(
    c: &mut Clients,
    cmd: RulesCmd,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
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
            list(c, q, js, out).await?;
        }
        RulesCmd::Show { sid, gid } => show(c, proto::GetRuleRequest { sid, gid }, js, out).await?,
        RulesCmd::Add {
            file,
            text,
            disabled,
            replace,
        } => {
            let text = read_rule_text(&file, &text)?;
            let q = proto::AddRulesRequest {
                text,
                disabled,
                replace,
            };
            add(c, q, js, out).await?;
        }
        RulesCmd::Enable { sid, gid } => {
            change(c, Change::Enable, proto::RuleRef { sid, gid }, js, out).await?
        }
        RulesCmd::Disable { sid, gid } => {
            change(c, Change::Disable, proto::RuleRef { sid, gid }, js, out).await?
        }
        RulesCmd::Delete { sid, gid } => {
            change(c, Change::Delete, proto::RuleRef { sid, gid }, js, out).await?
        }
        RulesCmd::Validate { file, text } => {
            let text = read_rule_text(&file, &text)?;
            return validate(c, text, js, out).await;
        }
        RulesCmd::Reload => reload(c, js, out).await?,
        RulesCmd::Status => status(c, js, out).await?,
    }
    Ok(0)
}

fn print_rules(
    out: &mut (dyn Write + Send),
    rules: &[proto::Rule],
    js: bool,
) -> anyhow::Result<()> {
    if js {
        return print_json(out, &json!(rules.iter().map(rule_json).collect::<Vec<_>>()));
    }
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
    Ok(())
}

async fn list(
    c: &mut Clients,
    q: proto::ListRulesRequest,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let r = c
        .rules
        .list(q)
        .await
        .map_err(|e| status_err("rules list", e))?
        .into_inner();
    print_rules(out, &r.rules, js)?;
    if !js && !r.next_page_token.is_empty() {
        writeln!(out, "\nmore: --page-token {}", r.next_page_token)?;
    }
    Ok(())
}

async fn show(
    c: &mut Clients,
    q: proto::GetRuleRequest,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let r = c
        .rules
        .get(q)
        .await
        .map_err(|e| status_err("rules show", e))?
        .into_inner();
    if js {
        return print_json(out, &rule_json(&r));
    }
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
    Ok(())
}

async fn add(
    c: &mut Clients,
    q: proto::AddRulesRequest,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let r = c
        .rules
        .add(q)
        .await
        .map_err(|e| status_err("rules add", e))?
        .into_inner();
    if js {
        print_rules(out, &r.added, js)
    } else {
        writeln!(
            out,
            "added {} rule(s); run `osprey ctl rules reload` to activate",
            r.added.len()
        )?;
        Ok(())
    }
}

/// What `enable`, `disable` and `delete` do to one rule.
#[derive(Clone, Copy)]
enum Change {
    Enable,
    Disable,
    Delete,
}

async fn change(
    c: &mut Clients,
    what: Change,
    rf: proto::RuleRef,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let (verb, rule) = match what {
        Change::Enable => (
            "enabled",
            c.rules
                .enable(rf)
                .await
                .map_err(|e| status_err("rules enable", e))?
                .into_inner(),
        ),
        Change::Disable => (
            "disabled",
            c.rules
                .disable(rf)
                .await
                .map_err(|e| status_err("rules disable", e))?
                .into_inner(),
        ),
        Change::Delete => (
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
        print_json(out, &json!({"result": verb, "rule": rule_json(&rule)}))
    } else {
        writeln!(out, "{verb} {}:{}", rule.gid, rule.sid)?;
        Ok(())
    }
}

fn severity(d: &proto::Diagnostic) -> &'static str {
    if d.severity == proto::Severity::Warning as i32 {
        "warning"
    } else {
        "error"
    }
}

/// Prints every diagnostic; the exit code is 1 when the text is not valid.
async fn validate(
    c: &mut Clients,
    text: String,
    js: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    let v = c
        .rules
        .validate(proto::ValidateRequest { text })
        .await
        .map_err(|e| status_err("rules validate", e))?
        .into_inner();
    if js {
        let d: Vec<_> = v
            .diagnostics
            .iter()
            .map(|d| {
                json!({"severity": severity(d), "line": d.line, "column": d.column,
                            "message": d.message, "sid": d.sid})
            })
            .collect();
        print_json(
            out,
            &json!({"valid": v.valid, "rules": v.rules, "diagnostics": d}),
        )?;
    } else {
        for d in &v.diagnostics {
            writeln!(
                out,
                "{}:{}: {}: {}",
                d.line,
                d.column,
                severity(d),
                d.message
            )?;
        }
        writeln!(
            out,
            "{} rule(s), {}",
            v.rules,
            if v.valid { "valid" } else { "INVALID" }
        )?;
    }
    Ok(if v.valid { 0 } else { 1 })
}

async fn reload(c: &mut Clients, js: bool, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let r = c
        .rules
        .reload(proto::ReloadRequest {})
        .await
        .map_err(|e| status_err("rules reload", e))?
        .into_inner();
    if js {
        return print_json(
            out,
            &json!({"generation": r.generation, "rules_loaded": r.rules_loaded, "rules_failed": r.rules_failed,
            "ruleset_hash": r.ruleset_hash, "compile_us": r.compile_us, "swap_us": r.swap_us,
            "failures": r.failures.iter().map(|d| json!({"sid": d.sid, "message": d.message})).collect::<Vec<_>>()}),
        );
    }
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
    Ok(())
}

async fn status(c: &mut Clients, js: bool, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let s = c
        .rules
        .status(proto::RulesetStatusRequest {})
        .await
        .map_err(|e| status_err("rules status", e))?
        .into_inner();
    if js {
        return print_json(
            out,
            &json!({"active_generation": s.active_generation, "rules_total": s.rules_total,
            "rules_enabled": s.rules_enabled, "pending_hash": s.pending_hash,
            "history": s.history.iter().map(|h| json!({"generation": h.generation, "time": format_timestamp(h.time_ns),
                "rules_loaded": h.rules_loaded, "rules_failed": h.rules_failed, "ruleset_hash": h.ruleset_hash,
                "compile_us": h.compile_us, "swap_us": h.swap_us, "who": h.who})).collect::<Vec<_>>()}),
        );
    }
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
    Ok(())
}
