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
                        rule_dir: None,
                    },
                ) {
                    let _ = e.to_string();
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_text;

    /// Found by the fuzzer: an unterminated list at the end of the token gave a span one byte
    /// past the text.
    #[test]
    fn unterminated_list_holds_the_invariants() {
        let text = "alert tcp $EXTERNAL_NET any -> [[[[\n\0\0[[[[[[[[\x14\x1d$MODBUS_PORTS\x1d13;)";
        assert!(check_text(text).is_ok());
    }

    /// Found by the fuzzer: a value ending in `\` + space lost the space when trimmed, and
    /// the printed `\;` then escaped the terminator.
    #[test]
    fn escaped_semicolon_after_spaces_holds_the_invariants() {
        assert!(
            check_text(r"alert udp any 53 -> any any (byte_test:1,!&,8,3  \; flow:x; sid:1;)")
                .is_ok()
        );
    }

    /// The fuzzer's input for the case above (`byte_test` then `\;` after spaces; a mutated ET Open rule, sid 2022531; ET Open is BSD
    /// licensed).
    #[test]
    fn fuzz_crash_escaped_semicolon_after_spaces() {
        let text = concat!(
            r#"alert udp any 53 -> $HOME_NET any (msg:"ET EXPLOIT Possible CVE-2015-7547 Long Response to A lookup"; flow:from_server; revcon; byte_test:1,!&,16,2; byte_test:1,!&,8,byte_tset:1,!&,16,2; byte_test:1,!&,8,2; byte_tes3; byte_test:1,!&,8,3"#,
            "\x01\x00\x00",
            r#"\; flow:"/^.{6},!&,1,3; b:1,!&,8,2; byte_tes3; byte_test:1,!&,8,3"#,
            "\x01\x00\x00",
            r#"\ ;flow:"/^.{6},!&,1,3; byte_test:1,!&,2,3; byte_test:1,!&,4,3; byte_test:1,!&,8,3"#,
            "\x01\x00\x00",
            r#"\; pcre:"/^.{6}[^\x00]+/Rs"; content:"|00 00 01 00 01|"; within:5; reference:cve,2015-754nt:"|00 00 01 00 01|"; within:5; reference:cve,2015-7547; class:peytattempted-us1; metadata:cryte_test:1,!&,2,3; byte_7test:1,!&,4,3; byte_test:1,!&,8,3"#,
            "\x01\x00\x00",
            r#"\; pcre:"/^.{6}[^\x00]+/Rs"; content:"|00 00 01 00 01|"; within:5; reference:cve,2015-754nt:"|00 00 01 00 01|"; within:5; reference:cve,2015-7547; class:peytattempted-us1; metadata:created_at 2016_02_18, cve CVE_2015_7547, updated_at 2019_07_26;)"#,
            "\n"
        );
        assert!(check_text(text).is_ok(), "{:?}", check_text(text));
    }
}
