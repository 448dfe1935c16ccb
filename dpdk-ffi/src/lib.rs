//! Raw DPDK bindings (generated) and the shim.
