//! TCP/UDP stream reassembly (in progress).
