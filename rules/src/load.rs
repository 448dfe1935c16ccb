//! Loading rule files: split → parse → lower, with per-rule diagnostics, duplicate-sid
//! resolution and the action order. The result feeds [`crate::compile`] and the
//! `osprey rules check` report.

use crate::ast::{self, Action};
use crate::config::{Classifications, ThresholdAction, ThresholdEntry};
use crate::ir;
use crate::keyword::{lower, LowerCtx, LowerErrorKind};
use crate::parse::{parse_rule, split_rules};
use crate::span::{Diagnostic, Severity, SourceMap};
use crate::vars::Vars;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A rule that loaded, with where it came from.
#[derive(Clone, Debug)]
pub struct LoadedRule {
    /// Validated meaning.
    pub ir: Arc<ir::Rule>,
    /// The rule's logical text as written (the AST is re-parsed on demand by
    /// [`LoadedRule::ast`] rather than kept: it is only needed for export and costs more
    /// memory than the text).
    pub text: String,
    /// Span of the `sid` option in `text`, for duplicate warnings.
    pub sid_span: crate::Span,
    /// File name.
    pub file: String,
    /// First line.
    pub line: usize,
}

impl LoadedRule {
    /// The rule's AST (parses `text` again; it parsed at load, so this succeeds).
    pub fn ast(&self) -> Result<ast::Rule, crate::ParseError> {
        parse_rule(&self.text)
    }
}

/// Action classes in evaluation order; Suricata's default is pass, drop, reject, alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct ActionOrder(Vec<ActionClass>);

/// Actions as ranked by [`ActionOrder`]; the reject variants share one class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionClass {
    /// `pass`.
    Pass,
    /// `drop`.
    Drop,
    /// `reject*`.
    Reject,
    /// `alert`.
    Alert,
}

impl ActionClass {
    /// Class of an action.
    pub fn of(a: Action) -> Self {
        match a {
            Action::Pass => ActionClass::Pass,
            Action::Drop => ActionClass::Drop,
            Action::Reject | Action::RejectSrc | Action::RejectDst | Action::RejectBoth => {
                ActionClass::Reject
            }
            Action::Alert => ActionClass::Alert,
        }
    }
}

impl Default for ActionOrder {
    fn default() -> Self {
        ActionOrder(vec![
            ActionClass::Pass,
            ActionClass::Drop,
            ActionClass::Reject,
            ActionClass::Alert,
        ])
    }
}

impl TryFrom<Vec<String>> for ActionOrder {
    type Error = String;

    fn try_from(v: Vec<String>) -> Result<Self, String> {
        let mut out = Vec::new();
        for s in &v {
            let c = match s.as_str() {
                "pass" => ActionClass::Pass,
                "drop" => ActionClass::Drop,
                "reject" => ActionClass::Reject,
                "alert" => ActionClass::Alert,
                o => return Err(format!("unknown action `{o}` in action order")),
            };
            if out.contains(&c) {
                return Err(format!("action `{s}` listed twice"));
            }
            out.push(c);
        }
        if out.len() != 4 {
            return Err("action order must list pass, drop, reject and alert".into());
        }
        Ok(ActionOrder(out))
    }
}

impl ActionOrder {
    /// Rank of an action (lower is evaluated first).
    pub fn rank(&self, a: Action) -> usize {
        let c = ActionClass::of(a);
        self.0.iter().position(|x| *x == c).unwrap_or(self.0.len())
    }

    /// Sorts rules as Suricata does: action rank, then flowbits use (rules that only set bits,
    /// then those that set and test, then those that only test, then the rest, so a bit set
    /// by one rule is visible to its testers on the same packet), then priority (1 first),
    /// then gid and sid for a stable, total order.
    pub fn sort(&self, rules: &mut [LoadedRule]) {
        rules.sort_by_key(|r| {
            (
                self.rank(r.ir.action),
                flowbits_rank(&r.ir),
                r.ir.meta.priority,
                r.ir.gid,
                r.ir.sid,
            )
        });
    }
}

/// Suricata's flowbits ordering class of a rule.
fn flowbits_rank(r: &crate::ir::Rule) -> u8 {
    use crate::ir::BitCmd;
    let sets = r
        .flowbits
        .iter()
        .any(|f| matches!(f.cmd, BitCmd::Set | BitCmd::Unset | BitCmd::Toggle));
    let reads = r
        .flowbits
        .iter()
        .any(|f| matches!(f.cmd, BitCmd::IsSet | BitCmd::IsNotSet));
    match (sets, reads) {
        (true, false) => 0,
        (true, true) => 1,
        (false, true) => 2,
        (false, false) => 3,
    }
}

/// What loading needs besides the text.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Address and port groups.
    pub vars: Vars,
    /// `classification.config`, if loaded.
    pub classes: Option<Classifications>,
    /// Evaluation order.
    pub action_order: ActionOrder,
    /// The rules are only validated (`osprey rules check`, the API's `Validate`), never run:
    /// `pcre` expressions are compiled without PCRE2's JIT to check them, and not kept.
    pub validate_only: bool,
    /// The rules are only checked (`osprey rules check`): each is dropped once validated and
    /// only its (gid, sid, rev) is kept for duplicate resolution, so memory is bounded by the
    /// files being read, not by the ruleset; [`Ruleset::rules`] comes back empty. Implies
    /// `validate_only`.
    pub check_only: bool,
}

/// Counts and diagnostics of a load (`osprey rules check`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckReport {
    /// Files read.
    pub files: usize,
    /// Enabled rules read (commented-out rules not counted).
    pub read: usize,
    /// Rules loaded (after duplicate resolution).
    pub loaded: usize,
    /// Rules skipped because they use a keyword this engine does not implement.
    pub skipped: usize,
    /// Rules that are wrong (parse or validation errors).
    pub failed: usize,
    /// Commented-out rules that parse.
    pub disabled: usize,
    /// Rules replaced or ignored because of a duplicate (gid, sid).
    pub duplicates: usize,
    /// Skipped rules by the keyword that made them skip.
    pub skipped_by_keyword: BTreeMap<String, usize>,
    /// Errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Loaded rules in evaluation order plus the report.
#[derive(Clone, Debug, Default)]
pub struct Ruleset {
    /// Rules in action order.
    pub rules: Vec<LoadedRule>,
    /// Counts and diagnostics.
    pub report: CheckReport,
}

/// Incremental loader: feed files, then [`Loader::finish`].
#[derive(Debug, Default)]
pub struct Loader {
    opts: LoadOptions,
    rules: Vec<LoadedRule>,
    by_id: HashMap<(u32, u32), Prior>,
    report: CheckReport,
}

/// What duplicate resolution remembers of a loaded rule.
#[derive(Debug)]
struct Prior {
    rev: u32,
    file: Arc<str>,
    line: usize,
    /// Its place in `Loader::rules` (none when rules are only checked).
    index: Option<usize>,
}

/// A rule that loaded, as [`process`] hands it to the loader.
enum Loaded {
    /// Kept whole, with its source map for a duplicate warning.
    Kept(Box<LoadedRule>, SourceMap),
    /// Only checked: its identity and a warning ready to be worded if it is a duplicate.
    Checked {
        id: (u32, u32),
        rev: u32,
        line: usize,
        sid_warning: Box<Diagnostic>,
    },
}

impl Loaded {
    fn id(&self) -> (u32, u32) {
        match self {
            Loaded::Kept(r, _) => (r.ir.gid, r.ir.sid),
            Loaded::Checked { id, .. } => *id,
        }
    }

    fn rev_line(&self) -> (u32, usize) {
        match self {
            Loaded::Kept(r, _) => (r.ir.rev, r.line),
            Loaded::Checked { rev, line, .. } => (*rev, *line),
        }
    }

    /// A warning at the rule's `sid` saying `message`.
    fn warning(&self, message: String) -> Diagnostic {
        match self {
            Loaded::Kept(r, map) => {
                Diagnostic::new(Severity::Warning, map, &r.text, r.sid_span, message)
            }
            Loaded::Checked { sid_warning, .. } => Diagnostic {
                message,
                ..(**sid_warning).clone()
            },
        }
    }
}

impl Loader {
    /// A loader with these options.
    pub fn new(opts: LoadOptions) -> Self {
        Loader {
            opts,
            ..Loader::default()
        }
    }

    /// Reads and loads a file.
    pub fn add_file(&mut self, path: &Path) -> std::io::Result<()> {
        let text = std::fs::read_to_string(path)?;
        self.add_str(&path.display().to_string(), &text);
        Ok(())
    }

    /// Loads rules from text named `file`.
    pub fn add_str(&mut self, file: &str, text: &str) {
        let outcomes = process(file, text, &self.opts);
        self.merge(file, outcomes);
    }

    /// Loads several named texts, parsing and validating them on `threads` threads (0 = all
    /// cores); results are merged in the given order, so the outcome equals sequential
    /// loading.
    pub fn add_many(&mut self, files: &[(String, String)], threads: usize) {
        let outcomes = in_parallel(files.len(), threads, |i| {
            let (name, text) = &files[i];
            process(name, text, &self.opts)
        });
        for ((name, _), out) in files.iter().zip(outcomes) {
            self.merge(name, out);
        }
    }

    /// Reads and loads files on `threads` threads (0 = all cores): each file's text is read by
    /// the thread that processes it and dropped when it is done, so a check holds no more
    /// than one file per thread. Results are merged in the given order; the first file that
    /// cannot be read is the error.
    pub fn add_files<P: AsRef<Path> + Sync>(
        &mut self,
        paths: &[P],
        threads: usize,
    ) -> Result<(), LoadError> {
        let outcomes = in_parallel(paths.len(), threads, |i| {
            let p = paths[i].as_ref();
            let name = p.display().to_string();
            let text = std::fs::read_to_string(p).map_err(|e| LoadError {
                path: name.clone(),
                source: e,
            })?;
            Ok(process(&name, &text, &self.opts))
        });
        let mut merged = Vec::with_capacity(paths.len());
        for (p, out) in paths.iter().zip(outcomes) {
            merged.push((p.as_ref().display().to_string(), out?));
        }
        for (name, out) in merged {
            self.merge(&name, out);
        }
        Ok(())
    }

    fn merge(&mut self, file: &str, outcomes: Vec<Outcome>) {
        self.report.files += 1;
        let file: Arc<str> = Arc::from(file);
        for o in outcomes {
            match o {
                Outcome::Disabled => self.report.disabled += 1,
                Outcome::Failed(d) => {
                    self.report.read += 1;
                    self.report.failed += 1;
                    self.report.diagnostics.push(d);
                }
                Outcome::Skipped(k, d) => {
                    self.report.read += 1;
                    self.report.skipped += 1;
                    *self.report.skipped_by_keyword.entry(k).or_default() += 1;
                    self.report.diagnostics.push(d);
                }
                Outcome::Loaded(r) => {
                    self.report.read += 1;
                    self.insert(&file, r);
                }
            }
        }
    }

    /// Duplicate (gid, sid): a higher `rev` replaces the earlier rule, otherwise the earlier
    /// one stays; either way with a warning.
    fn insert(&mut self, file: &Arc<str>, r: Loaded) {
        let key = r.id();
        let (rev, line) = r.rev_line();
        let Some(old) = self.by_id.get_mut(&key) else {
            let index = match r {
                Loaded::Kept(rule, _) => {
                    self.rules.push(*rule);
                    Some(self.rules.len() - 1)
                }
                Loaded::Checked { .. } => None,
            };
            let file = file.clone();
            self.by_id.insert(
                key,
                Prior {
                    rev,
                    file,
                    line,
                    index,
                },
            );
            return;
        };
        self.report.duplicates += 1;
        let (old_rev, old_file, old_line) = (old.rev, old.file.clone(), old.line);
        let replaces = rev > old_rev;
        let message = if replaces {
            format!(
                "duplicate sid {}: rev {rev} replaces rev {old_rev} from {old_file}:{old_line}",
                key.1
            )
        } else {
            format!(
                "duplicate sid {}: rev {rev} ignored, rev {old_rev} from {old_file}:{old_line} kept",
                key.1
            )
        };
        self.report.diagnostics.push(r.warning(message));
        if replaces {
            (old.rev, old.file, old.line) = (rev, file.clone(), line);
            if let (Some(i), Loaded::Kept(rule, _)) = (old.index, r) {
                self.rules[i] = *rule;
            }
        }
    }

    /// Orders the rules and returns them with the report.
    pub fn finish(mut self) -> Ruleset {
        self.opts.action_order.sort(&mut self.rules);
        self.report.loaded = self.by_id.len();
        Ruleset {
            rules: self.rules,
            report: self.report,
        }
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{d}")?;
        }
        let pct = |n: usize| {
            if self.read == 0 {
                0.0
            } else {
                n as f64 * 100.0 / self.read as f64
            }
        };
        writeln!(
            f,
            "{} files: {} rules read, {} loaded ({:.2}%), {} skipped, {} failed, {} duplicates; {} commented out",
            self.files,
            self.read,
            self.loaded,
            pct(self.loaded),
            self.skipped,
            self.failed,
            self.duplicates,
            self.disabled
        )?;
        if !self.skipped_by_keyword.is_empty() {
            writeln!(f, "skipped by keyword:")?;
            let mut v: Vec<_> = self.skipped_by_keyword.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (k, n) in v {
                writeln!(f, "  {k:<24} {n}")?;
            }
        }
        Ok(())
    }
}

/// What became of one rule text.
enum Outcome {
    Disabled,
    Failed(Diagnostic),
    Skipped(String, Diagnostic),
    Loaded(Loaded),
}

/// Parses and validates one file's text; independent of other files so files can be
/// processed in parallel.
fn process(file: &str, text: &str, opts: &LoadOptions) -> Vec<Outcome> {
    let mut out = Vec::new();
    let ctx = LowerCtx {
        vars: &opts.vars,
        classes: opts.classes.as_ref(),
        validate_only: opts.validate_only || opts.check_only,
        rule_dir: Path::new(file)
            .parent()
            .filter(|d| !d.as_os_str().is_empty()),
    };
    for rt in split_rules(file, text) {
        let ast = match parse_rule(&rt.text) {
            Ok(a) => a,
            Err(e) => {
                if !rt.commented {
                    out.push(Outcome::Failed(Diagnostic::new(
                        Severity::Error,
                        &rt.map,
                        &rt.text,
                        e.span,
                        e.message,
                    )));
                }
                continue;
            }
        };
        if !ast.enabled {
            out.push(Outcome::Disabled);
            continue;
        }
        match lower(&ast, ctx) {
            Ok(ir) => {
                let line = rt.map.first_line();
                let sid_span = ast.option("sid").map_or(ast.span, |o| o.span);
                let loaded = if opts.check_only {
                    let w = Diagnostic::new(Severity::Warning, &rt.map, &rt.text, sid_span, "");
                    Loaded::Checked {
                        id: (ir.gid, ir.sid),
                        rev: ir.rev,
                        line,
                        sid_warning: Box::new(w),
                    }
                } else {
                    let rule = LoadedRule {
                        ir: Arc::new(ir),
                        text: rt.text,
                        sid_span,
                        file: file.to_string(),
                        line,
                    };
                    Loaded::Kept(Box::new(rule), rt.map)
                };
                out.push(Outcome::Loaded(loaded));
            }
            Err(e) => {
                let sid = ast.sid().map(|s| format!(" (sid {s})")).unwrap_or_default();
                let d = Diagnostic::new(
                    Severity::Error,
                    &rt.map,
                    &rt.text,
                    e.span,
                    format!("{}{sid}", e.kind),
                );
                out.push(match e.kind {
                    LowerErrorKind::Unsupported(k) => Outcome::Skipped(k, d),
                    LowerErrorKind::Invalid(_) => Outcome::Failed(d),
                });
            }
        }
    }
    out
}

/// Loads files with `opts`; I/O errors name the file.
pub fn load_files<P: AsRef<Path> + Sync>(
    paths: &[P],
    opts: LoadOptions,
) -> Result<Ruleset, LoadError> {
    let mut l = Loader::new(opts);
    l.add_files(paths, 0)?;
    Ok(l.finish())
}

/// Runs `job(0..n)` on `threads` threads (0 = all cores), results in index order.
fn in_parallel<T: Send>(n: usize, threads: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<T>>> =
        (0..n).map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads.min(n).max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let out = job(i);
                if let Ok(mut slot) = slots[i].lock() {
                    *slot = Some(out);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|s| s.into_inner().ok().flatten().expect("every index ran"))
        .collect()
}

/// A rules file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct LoadError {
    /// File.
    pub path: String,
    /// Cause.
    #[source]
    pub source: std::io::Error,
}

/// Applies `threshold.config` entries to loaded rules (gid/sid 0 match every rule, as in
/// Suricata): `threshold`/`event_filter` replace the rule's own threshold, `suppress` and
/// `rate_filter` attach to it. Returns how many entries matched at least one rule.
pub fn apply_thresholds(rules: &mut [LoadedRule], entries: &[ThresholdEntry]) -> usize {
    let mut used = 0;
    for e in entries {
        let mut hit = false;
        for r in rules.iter_mut() {
            let (gid, sid) = (r.ir.gid, r.ir.sid);
            if (e.gid != 0 && e.gid != gid) || (e.sid != 0 && e.sid != sid) {
                continue;
            }
            hit = true;
            let ir = Arc::make_mut(&mut r.ir);
            match &e.action {
                ThresholdAction::Threshold(t) => ir.threshold = Some(*t),
                ThresholdAction::Suppress { track } => ir.suppress.push(track.clone()),
                ThresholdAction::RateFilter(f) => ir.rate_filter = Some(*f),
            }
        }
        used += usize::from(hit);
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Ruleset {
        let mut l = Loader::new(LoadOptions::default());
        l.add_str("t.rules", text);
        l.finish()
    }

    #[test]
    fn hash_lists_are_read_beside_the_rule_file_and_bad_lines_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let md5 = "900150983cd24fb0d6963f7d28e17f72";
        std::fs::write(
            dir.path().join("good.md5"),
            format!("# list\n\n{md5} abc\n"),
        )
        .unwrap();
        std::fs::write(dir.path().join("bad.md5"), format!("{md5}\nnot-a-digest\n")).unwrap();
        let rules = dir.path().join("t.rules");
        std::fs::write(
            &rules,
            concat!(
                "alert http any any -> any any (filemd5:good.md5; filestore; sid:1;)\n",
                "alert http any any -> any any (msg:\"x\"; filemd5:!bad.md5; sid:2;)\n",
                "alert http any any -> any any (filesha256:missing.sha256; sid:3;)\n",
            ),
        )
        .unwrap();
        let rs = load_files(&[&rules], LoadOptions::default()).expect("loads");
        assert_eq!((rs.report.loaded, rs.report.failed), (1, 2));
        let d = &rs.report.diagnostics[0];
        let text = d.to_string();
        assert_eq!((d.line, d.col), (2, 41), "{text}");
        assert!(
            text.contains("bad.md5:2: `not-a-digest` is not a 32-character hex digest"),
            "{text}"
        );
        let text = rs.report.diagnostics[1].to_string();
        assert!(text.contains("missing.sha256"), "{text}");
        let ir::AppMatch::File(ir::FileMatch::Hash { negated, list }) = &rs.rules[0].ir.app[0]
        else {
            panic!("no hash match: {:?}", rs.rules[0].ir.app)
        };
        assert!(!negated && list.len() == 1 && list.contains(&hex_bytes(md5)));
    }

    fn hex_bytes(h: &str) -> Vec<u8> {
        (0..h.len() / 2)
            .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn counts_and_diagnostics() {
        let rs = load(concat!(
            "alert tcp any any -> any any (msg:\"ok\"; content:\"a\"; sid:1;)\n",
            "alert tcp any any -> any any (msg:\"bad\"; content:\"a\"; depth:0; sid:2;)\n",
            "alert tcp any any -> any any (msg:\"skip\"; asn1:oversize_length 1; sid:3;)\n",
            "alert tcp any any >> any any (sid:4;)\n",
            "#alert tcp any any -> any any (sid:5;)\n",
            "# just a comment\n",
        ));
        let r = &rs.report;
        assert_eq!(
            (r.read, r.loaded, r.skipped, r.failed, r.disabled),
            (4, 1, 1, 2, 1)
        );
        assert_eq!(r.skipped_by_keyword.get("asn1"), Some(&1));
        let d = &r.diagnostics[2];
        assert_eq!((d.line, d.col), (4, 19));
        let text = d.to_string();
        assert!(
            text.starts_with("t.rules:4:19: error: expected `->`"),
            "{text}"
        );
        assert!(text.contains("\n  |                   ^^"), "{text}");
        let json = serde_json::to_value(r).expect("json");
        for k in ["read", "loaded", "skipped", "failed", "skipped_by_keyword"] {
            assert!(json.get(k).is_some(), "{k}");
        }
    }

    #[test]
    fn parallel_load_equals_sequential() {
        let files: Vec<(String, String)> = (0..7)
            .map(|i| {
                (
                    format!("f{i}.rules"),
                    format!(
                        "alert tcp any any -> any any (msg:\"{i}\"; content:\"x{i}\"; sid:{};)\n\
                         alert tcp any any -> any any (sid:1; rev:{i};)\nbroken {i}\n",
                        i + 10
                    ),
                )
            })
            .collect();
        let mut seq = Loader::new(LoadOptions::default());
        for (n, t) in &files {
            seq.add_str(n, t);
        }
        let seq = seq.finish();
        let mut par = Loader::new(LoadOptions::default());
        par.add_many(&files, 3);
        let par = par.finish();
        let sids = |r: &Ruleset| {
            r.rules
                .iter()
                .map(|r| (r.ir.sid, r.ir.rev))
                .collect::<Vec<_>>()
        };
        assert_eq!(sids(&seq), sids(&par));
        assert_eq!(seq.report.files, 7);
        assert_eq!(
            serde_json::to_string(&seq.report).expect("json"),
            serde_json::to_string(&par.report).expect("json")
        );
        assert!(par.rules.iter().any(|r| r.ir.sid == 1 && r.ir.rev == 6));
    }

    #[test]
    fn duplicate_sid_later_rev_wins() {
        let rs = load(concat!(
            "alert tcp any any -> any any (msg:\"old\"; sid:1; rev:1;)\n",
            "alert tcp any any -> any any (msg:\"new\"; sid:1; rev:2;)\n",
            "alert tcp any any -> any any (msg:\"stale\"; sid:1; rev:1;)\n",
        ));
        assert_eq!(rs.rules.len(), 1);
        assert_eq!(rs.rules[0].ir.meta.msg, "new");
        assert_eq!(rs.report.duplicates, 2);
        assert!(rs
            .report
            .diagnostics
            .iter()
            .all(|d| d.severity == Severity::Warning));
    }

    #[test]
    fn action_order() {
        let rs = load(concat!(
            "alert tcp any any -> any any (sid:1; priority:1;)\n",
            "alert tcp any any -> any any (sid:2; priority:3;)\n",
            "drop tcp any any -> any any (sid:3; priority:3;)\n",
            "pass tcp any any -> any any (sid:4; priority:4;)\n",
            "rejectsrc tcp any any -> any any (sid:5;)\n",
        ));
        let sids: Vec<u32> = rs.rules.iter().map(|r| r.ir.sid).collect();
        assert_eq!(sids, vec![4, 3, 5, 1, 2]);
        let order: ActionOrder =
            serde_json::from_str(r#"["alert","pass","drop","reject"]"#).expect("order");
        let mut rules = rs.rules.clone();
        order.sort(&mut rules);
        assert_eq!(
            rules.iter().map(|r| r.ir.sid).collect::<Vec<_>>(),
            vec![1, 2, 4, 3, 5]
        );
        assert!(
            serde_json::from_str::<ActionOrder>(r#"["alert","alert","drop","reject"]"#).is_err()
        );
    }

    #[test]
    fn flowbit_setters_come_before_testers() {
        let rs = load(concat!(
            "alert tcp any any -> any any (flowbits:isset,a; sid:1; priority:1;)\n",
            "alert tcp any any -> any any (sid:2; priority:1;)\n",
            "alert tcp any any -> any any (flowbits:isset,a; flowbits:set,b; sid:3; priority:2;)\n",
            "alert tcp any any -> any any (flowbits:set,a; sid:4; priority:3;)\n",
        ));
        let sids: Vec<u32> = rs.rules.iter().map(|r| r.ir.sid).collect();
        assert_eq!(sids, vec![4, 3, 1, 2]);
    }

    #[test]
    fn threshold_config_entries_attach_to_rules() {
        let text = "threshold gen_id 1, sig_id 10, type limit, track by_src, count 1, seconds 60\n\
                    suppress gen_id 1, sig_id 12, track by_src, ip $HOME_NET\n\
                    rate_filter gen_id 1, sig_id 13, track by_rule, count 10, seconds 1, new_action drop, timeout 5\n\
                    suppress gen_id 1, sig_id 99\n";
        let (t, e) = crate::config::parse_threshold_config(text, &Vars::default());
        assert!(e.is_empty(), "{e:?}");
        let mut l = Loader::new(LoadOptions::default());
        l.add_str(
            "t.rules",
            "alert tcp any any -> any any (sid:10; threshold:type threshold, track by_dst, count 9, seconds 9;)\n\
             alert tcp any any -> any any (sid:12;)\nalert tcp any any -> any any (sid:13;)\n",
        );
        let mut rules = l.finish().rules;
        // sid 99 names no rule.
        assert_eq!(apply_thresholds(&mut rules, &t), 3);
        let by_sid = |s: u32| {
            rules
                .iter()
                .find(|r| r.ir.sid == s)
                .expect("rule")
                .ir
                .clone()
        };
        assert_eq!(by_sid(10).threshold.map(|t| t.count), Some(1));
        let sup = &by_sid(12).suppress;
        assert_eq!(sup.len(), 1);
        let (track, set) = sup[0].as_ref().expect("tracked");
        assert_eq!(*track, ir::Track::BySrc);
        assert!(set.contains("10.0.0.1".parse().expect("ip")));
        assert!(by_sid(13).rate_filter.is_some());
    }
}
