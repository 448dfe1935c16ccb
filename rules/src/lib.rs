//! Suricata-compatible rule language.
//!
//! A small compiler: text → AST with spans ([`Display`](std::fmt::Display) prints it back) →
//! validated keyword semantics → compiled rule groups with Hyperscan databases that the data
//! plane's workers run. Nothing here depends on DPDK.
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
