//! Application-layer parsers over reassembled, in-order stream data (HTTP, DNS, TLS).
