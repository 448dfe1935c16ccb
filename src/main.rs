//! `osprey`: the appliance binary.
fn main() {}
