//! Rule reader/parser/printer/keyword layer on arbitrary text; asserts the invariants of
//! `rules::fuzzing::check_text` (spans in bounds, print/parse round trip, no panic).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = rules::fuzzing::check_text(text) {
            panic!("invariant broken: {e}");
        }
    }
});
