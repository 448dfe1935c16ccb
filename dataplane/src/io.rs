//! Packet sources behind one interface: DPDK ports and capture files.
