//! Safe wrappers over `dpdk-ffi`. The only module of this crate that may use `unsafe`.
#![allow(unsafe_code)]
