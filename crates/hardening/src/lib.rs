//! # hardening — robustness checks shared by the fuzz targets and the tests
//!
//! Each fuzz target under `fuzz/` is a thin wrapper around one `check_*`
//! function here, so the same checks run in an ordinary `cargo test` (over the
//! seed inputs and a few thousand deterministic random and mutated inputs) with
//! no nightly toolchain and no cargo-fuzz:
//!
//! - [`capture::check_capture`]: pcap/pcapng bytes through the slice reader,
//!   the streaming reader, gzip, a merged set, then through the engine;
//! - [`decode::check_decode`]: frames of every link type through the decoder;
//! - [`defrag::check_defrag`]: a sequence of IP fragments through the defragmenter;
//! - [`assemble::check_assembler`]: an `arbitrary` sequence of segments and
//!   flush/close/expire calls through the assembler;
//! - [`http::check_http`]: deliveries, gaps and ends of both directions of a
//!   connection through the HTTP/1.x reader.
//!
//! A check panics when a promise is broken (that is what a fuzzer reports).
//! [`pipeline`] runs whole captures through the real engine
//! ([`engine::run_streams`], on one worker and on several) and checks what
//! it hands back; [`source`] is the frame source for captures held in memory,
//! [`record`] the stream (and per-worker factory) that checks every delivery,
//! and [`seeds`] and [`mutate`] make inputs from the captures in `testdata/`.
#![warn(missing_docs)]

pub mod assemble;
pub mod capture;
pub mod decode;
pub mod defrag;
pub mod http;
pub mod mutate;
pub mod pipeline;
pub mod record;
pub mod seeds;
pub mod source;
pub mod watchdog;
