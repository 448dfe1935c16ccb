//! Lenient layered decoding: link type → L2 → L3 → L4 into a packet summary, with every
//! malformed layer recorded as a counted anomaly.
