//! # streamcut — the command-line tool's library half
//!
//! The `streamcut` binary is a thin shell over this library (like ripgrep's
//! `main.rs` over its crates): [`app`] parses arguments and owns the single
//! exit path, and every command is a function here that tests call directly.
//!
//! The pipeline itself — reading, decoding, sharding on rayon workers,
//! reassembly, housekeeping, the bytes [`engine::Sink`] interface and the
//! flow records — is the [`engine`] crate; this crate holds what the
//! commands add around it:
//! - [`args`] and [`app`]: arguments, the commands, the single exit path;
//! - [`examples`] (the examples of `--help`) and [`manpage`] (`streamcut
//!   man [COMMAND]`);
//! - [`job`]: one command's run of the engine (inputs, options, the
//!   conflicts file, the progress bar, the interrupt flag);
//! - [`interrupt`]: SIGINT/SIGTERM (a clean stop, then an exit at once);
//! - [`verbose`]: what `-v`/`-vv` print;
//! - output writers: [`output`] (the output directory of `extract` and
//!   `live`: files, then the manifest), [`files`] (one file per flow
//!   direction, or one packed `streams.bin`; [`naming`], `blockwrite`,
//!   [`packed_index`]),
//!   [`manifest`] (the JSON manifest; [`flow_json`] writes each flow's
//!   JSON text straight from its record), [`conflicts`] (the conflicts file);
//! - the commands: [`extract`] (with [`http_objects`] for `--http`),
//!   [`list`] (`flows`), [`follow`], [`stats`], [`merge`] (with
//!   [`merge_http`] for `--http` shards), and `live` (feature `dpdk`).
//!
//! The output contract (manifest schema, file names, exit codes) is written
//! down in `docs/cli.md` at the repository root.
//!
//! ```no_run
//! use streamcut::job::Job;
//!
//! let job = Job::new(vec!["capture.pcap".into()]);
//! let mut collected = engine::Collector::default();
//! let summary = job.run(&mut collected)?;
//! for flow in &summary.flows {
//!     let bytes = &collected.flows[&flow.head.id].c2s;
//!     println!("{} {} -> {}: {} bytes", flow.head.id, flow.head.client, flow.head.server, bytes.len());
//! }
//! # Ok::<(), anyhow::Error>(())
//! ```
#![warn(missing_docs)]

pub mod app;
pub mod args;
pub(crate) mod blockwrite;
pub mod conflicts;
pub mod examples;
pub mod extract;
pub mod files;
pub mod flow_json;
pub mod flow_select;
pub mod follow;
pub mod http_objects;
pub mod input_digest;
pub mod interrupt;
pub mod job;
pub mod list;
pub mod manifest;
pub mod manpage;
pub mod merge;
pub mod merge_http;
pub mod naming;
pub mod output;
pub mod packed_index;
mod progress;
pub mod run_info;
pub mod shard;
pub mod stats;
pub(crate) mod timefmt;
pub mod verbose;

#[cfg(feature = "dpdk")]
pub mod live;
