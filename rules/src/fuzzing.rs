//! Invariants shared by the cargo-fuzz target and the proptest suite, so `cargo test` on
//! stable checks what the fuzzer checks.

use crate::keyword::{lower, LowerCtx};
use crate::parse::{parse_rule, split_rules};
use crate::span::{Diagnostic, Severity};
use crate::vars::Vars;

/// Feeds `text` to the reader, the parser, the printer and the keyword layer and checks:
/// no panic; error spans lie inside the text; a parsed rule prints to text that parses to the
/// same rule; diagnostics render.
pub fn check_text(text: &str) -> Result<(), String> {
    let vars = Vars::default();
    for rt in split_rules("fuzz.rules", text) {
        match parse_rule(&rt.text) {
            Err(e) => {
                if e.span.start > e.span.end || e.span.end as usize > rt.text.len() {
                    return Err(format!(
                        "error span {:?} outside {} bytes",
                        e.span,
                        rt.text.len()
                    ));
                }
                // Rendering must not panic on any span (UTF-8 boundaries included).
                let d = Diagnostic::new(Severity::Error, &rt.map, &rt.text, e.span, e.message);
                let _ = d.to_string();
            }
            Ok(mut r) => {
                if r.span.end as usize > rt.text.len() {
                    return Err("rule span outside the text".into());
                }
                let printed = r.to_string();
                let mut again = parse_rule(&printed)
                    .map_err(|e| format!("reprint does not parse: {e}: {printed}"))?;
                r.strip_spans();
                again.strip_spans();
                if r != again {
                    return Err(format!("round trip differs: {printed}"));
                }
                if printed != again.to_string() {
                    return Err("printing is not stable".into());
                }
                if let Err(e) = lower(
                    &r,
                    LowerCtx {
                        vars: &vars,
                        classes: None,
                        validate_only: false,
                    },
                ) {
                    let _ = e.to_string();
                }
            }
        }
    }
    Ok(())
}
