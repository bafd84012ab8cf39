//! # streamcut — the command-line tool's library half
//!
//! The `streamcut` binary is a thin shell over this library (like ripgrep's
//! `main.rs` over its crates): [`app`] parses arguments and owns the single
//! exit path, and every command is a function here that tests and a later
//! parallel engine call directly.
//!
//! The pieces, in data-flow order:
//! - [`engine`]: capture files in ([`pcapread::MergedReader`], timestamp
//!   merged), frames decoded, optionally kept or dropped by a libpcap
//!   [`filter`], segments fed to a [`reassembly::Assembler`], housekeeping on
//!   packet time, and every flow's bytes and final [`flow::FlowRecord`] pushed
//!   into a [`sink::Sink`].
//! - [`sink`]: the push-model consumer trait, plus [`sink::NullSink`] and the
//!   in-memory [`sink::Collector`] used by tests.
//! - [`extract`]: the `extract` command's sink, writing one file per flow
//!   direction ([`files`], [`naming`]) or one packed `streams.bin`, and
//!   `manifest.json` ([`manifest`]).
//! - [`follow`], [`list`], [`stats`]: the `follow`, `flows` and `stats` commands.
//!
//! The output contract (manifest schema, file names, exit codes) is written
//! down in `docs/cli.md` at the repository root.
//!
//! ```no_run
//! use streamcut::engine::{self, EngineOptions};
//!
//! let opts = EngineOptions::new(vec!["capture.pcap".into()]);
//! let (summary, collected) = engine::collect(&opts)?;
//! for flow in &summary.flows {
//!     let bytes = &collected.flows[&flow.head.id].c2s;
//!     println!("{} {} -> {}: {} bytes", flow.head.id, flow.head.client, flow.head.server, bytes.len());
//! }
//! # Ok::<(), anyhow::Error>(())
//! ```
#![warn(missing_docs)]

pub mod app;
pub mod args;
pub mod blockwrite;
pub mod conflicts;
pub mod engine;
pub mod extract;
pub mod files;
pub mod filter;
pub mod flow;
pub mod follow;
pub mod list;
pub mod manifest;
pub mod naming;
pub mod parallel;
mod progress;
pub mod records;
pub mod sink;
pub mod stats;
#[cfg(test)]
mod testpkt;
pub mod timefmt;

#[cfg(feature = "dpdk")]
pub mod live;
