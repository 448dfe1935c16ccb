//! Fuzzes the detection content walk: arbitrary match lists over arbitrary buffers must not
//! panic, must stay within the backtracking budget, and single contents must agree with a
//! naive search (`dataplane::detect::content::props::check`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = usize::from(data.first().copied().unwrap_or(0)) % 33;
    let (rule, buf) = data.split_at(split.min(data.len()));
    dataplane::detect::content::props::check(rule, buf);
});
