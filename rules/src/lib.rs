//! Suricata-compatible rule language.
//!
//! A small compiler: text → AST with spans ([`Display`](std::fmt::Display) prints it back) →
//! validated keyword semantics → compiled rule groups with Hyperscan databases that the data
//! plane's workers run. Nothing here depends on DPDK.
//!
//! | layer | module | entry points |
//! |---|---|---|
//! | reader, parser, printer | [`parse`], [`ast`], [`span`] | [`split_rules`], [`parse_rule`], `Display for ast::Rule`, [`Diagnostic`] |
//! | variables | [`vars`] | [`Vars`] (Suricata defaults, serde overrides) |
//! | keyword semantics | [`keyword`], [`ir`] | [`lower`] → [`ir::Rule`], [`ir::Buffer`] |
//! | side files | [`config`] | `Classifications`, `ReferenceSystems`, `parse_threshold_config` |
//! | loading | [`load`] | [`Loader`], [`load_files`] → [`Ruleset`] with a [`CheckReport`]; [`ActionOrder`]; `apply_thresholds` |
//! | compilation | [`compile`] | [`Engine::compile`], `Engine::groups_for`, `BufferDb::scan`, `Engine::alloc_scratch` |
//! | command line | [`cli`] | `cli::RulesArgs`, `cli::run` (`osprey rules check/compile/export`) |
//!
//! ```no_run
//! use rules::{CompileOptions, Engine, LoadOptions};
//! let rs = rules::load_files(&["suricata.rules"], LoadOptions::default())?;
//! print!("{}", rs.report); // read / loaded / skipped / failed, diagnostics with carets
//! let engine = std::sync::Arc::new(Engine::compile(&rs.rules, &CompileOptions::default())?);
//! let scratch = engine.alloc_scratch()?; // one per worker
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod ast;
pub mod cli;
pub mod compile;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod ir;
pub mod keyword;
pub mod load;
pub mod parse;
pub mod span;
pub mod vars;

pub use ast::Rule as AstRule;
pub use compile::{CompileOptions, Engine};
pub use keyword::{lower, LowerCtx, LowerError, LowerErrorKind};
pub use load::{load_files, ActionOrder, CheckReport, LoadOptions, LoadedRule, Loader, Ruleset};
pub use parse::{parse_rule, split_rules, ParseError, RuleText};
pub use span::{Diagnostic, Severity, SourceMap, Span};
pub use vars::Vars;
