//! Safe Rust wrappers over the few DPDK calls that streamcut's live mode
//! (`streamcut live`) needs: initialising the EAL, querying, starting,
//! polling and closing an ethernet port, and reading and freeing the received
//! mbufs.
//!
//! Package `streamcut-dpdk`, library `dpdk`: the package name keeps clear of
//! the unrelated `dpdk*` crates on crates.io, the library name is what code
//! writes (`dpdk::Eal`).
//!
//! # What it wraps
//!
//! A small C shim (`src/shim.c`) does the DPDK calls: DPDK's fast path
//! (`rte_eth_rx_burst`, `rte_pktmbuf_mtod`, `rte_pktmbuf_free`,
//! `rte_pktmbuf_read`, `rte_errno`) is `static inline` C or macros that Rust
//! cannot link to, and the configuration structs (`rte_eth_conf`,
//! `rte_eth_dev_info`, `rte_mbuf`) change layout between DPDK releases, so
//! every layout-dependent step stays in C, compiled against the installed
//! headers. Rust sees opaque pointers and a handful of `sc_*` functions with
//! plain C structs of its own, declared again in the private `ffi` module.
//!
//! The safe types encode DPDK's rules in ownership:
//! - [`Eal`] exists at most once per process (EAL can be initialised only once,
//!   even after cleanup) and must outlive everything else here.
//! - A started [`Port`] is shared by reference between threads (its stats and
//!   close are thread-safe in DPDK); each of its rx queues is handed out once as
//!   an [`RxQueue`], so only one thread ever polls a queue (DPDK's rx functions
//!   are not thread-safe per queue).
//! - A received [`Mbuf`] owns its buffer and frees it on drop; bytes borrowed
//!   from it cannot outlive it, so no frame ever points into a freed buffer.
//!   It borrows the port (not its queue), so a reader may keep a packet
//!   while it polls again.
//! - [`Port::close`] takes the port by value: it can only run after every
//!   [`RxQueue`] (which borrows the port) is gone, so no queue is polled while
//!   the port stops, and every mbuf is back in the pool when the pool is freed
//!   (mbufs borrow the port too).
//!
//! # Unsafe code
//!
//! This crate is the only crate of the workspace allowed `unsafe`: the
//! workspace lints deny `unsafe_code` and this crate alone allows it, at its
//! root (elsewhere two single functions of `pcapread` allow it: mapping a
//! capture file, and a prefetch hint). Every `unsafe` block says which
//! invariant makes it sound; the public API is safe.
//!
//! # Building
//!
//! Everything is behind the feature `ffi` (the CLI's `dpdk` feature turns it
//! on). Without it the crate is empty and its build script does nothing, so
//! `cargo build --workspace` needs neither DPDK nor pkg-config nor a C
//! compiler. With it, the build script compiles `src/shim.c` with the full
//! `pkg-config --cflags libdpdk` (which carries `-march=...` and
//! `-include rte_config.h`) and links DPDK's shared libraries from
//! `pkg-config --libs libdpdk`; EAL then loads its drivers (NIC drivers,
//! `net_pcap`, `net_tap`, the mempool handler) from its plugin directory at
//! run time. For another DPDK install, point `PKG_CONFIG_PATH` at its
//! `libdpdk.pc`. The package declares `links = "dpdk"`, so no other package
//! in a build can link DPDK beside it.
//!
//! Tested with DPDK 22.11 (Debian 12 bookworm's `libdpdk-dev`, 22.11.11),
//! through the `net_pcap` virtual device: see `crates/cli/tests/live.rs` and
//! `docs/live.md`.

// The FFI needs `unsafe`; the workspace lints deny it everywhere else.
#![allow(unsafe_code)]
// Without `ffi` the items the docs above link to do not exist.
#![cfg_attr(not(feature = "ffi"), allow(rustdoc::broken_intra_doc_links))]

#[cfg(feature = "ffi")]
mod binding;

#[cfg(feature = "ffi")]
pub use binding::{
    Burst, DpdkError, Eal, LcoreRegistration, Mbuf, MbufData, Port, PortInfo, PortSetup, PortStats,
    RssMode, RxQueue, TimestampField, BURST,
};
