//! Flow table → TCP tracking → reassembly with arbitrary segment sequences; the invariants
//! (ordered, correctly placed delivery, caps, counters) are asserted in
//! `dataplane::flow::fuzz_driver`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dataplane::flow::fuzz_driver::run(data);
});
