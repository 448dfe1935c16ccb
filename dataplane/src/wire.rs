//! Zero-copy typed views of protocol headers, one module per protocol.
