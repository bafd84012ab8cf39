//! # engine — streamcut's one pipeline, as a library
//!
//! Frames in (capture files, or any [`FrameSource`] such as the live DPDK
//! ingest), reassembled flows out, on all cores, with the output of
//! `streamcut` whatever the number of workers:
//!
//! ```text
//! Input ──read, filter, ticks──▶ Batch ──decode (rayon, in parallel)──▶ segments
//!   ──defragment (in frame order)──▶ shard = FlowKey::shard(N)
//!   ──▶ worker w: Assembler + your StreamFactory ──▶ Stream callbacks
//!                                  or the engine's ──▶ bytes Sink
//! ```
//!
//! - [`input`]: where frames come from ([`Input`], [`FrameSource`]) and the
//!   reading side: filter, housekeeping ticks, batches.
//! - `batch` (private): batches of frames decoded in parallel and
//!   defragmented in order.
//! - [`housekeeping`]: the one rule for giving up on holes and idle flows by
//!   packet time; the engine runs it, a library user never calls a tick.
//! - `run` (private): the workers on a rayon pool, fork-join per batch.
//! - [`pipeline`]: the entry points, [`Engine`], [`run_streams`],
//!   [`run_sink`], [`collect`].
//! - Sink runs: [`sink`] (the bytes [`Sink`] trait output writers
//!   implement), the streams that feed it (`sink_stream`, private; they
//!   count, hash and zero-fill), `replay` (private; one global call order
//!   for sinks that need it), [`flow`] (the [`FlowRecord`] of each flow) and
//!   [`spill`] (records past a memory budget go to disk), or [`handoff`]
//!   (records handed to a consumer in id order while the run goes on,
//!   [`Engine::each_record`]).
//! - [`shard`]: `--shard K/N`, the part of the flows one run of a job
//!   split over machines reassembles.
//! - [`summary`]: what a run reports.
//!
//! ## Two ways in
//!
//! **Stream level**, gopacket's habit: hand the engine a function that makes
//! one [`StreamFactory`](reassembly::StreamFactory) per worker. Every flow lives on the worker its
//! symmetric flow hash picks, and its [`Stream`](reassembly::Stream) gets
//! [`ScatterGather`](reassembly::ScatterGather)s (with `keep_from` and capture
//! info), conflicts and completion exactly as from a single
//! [`Assembler`](reassembly::Assembler). The factory is the context of every
//! callback, so results need no `Rc<RefCell<…>>`: they stay in the factory,
//! and [`StreamRun::factories`] hands them back.
//!
//! **Bytes level**: [`run_sink`] into a [`Sink`] (what the CLI's writers
//! implement): every flow's bytes, the end of each direction and a final
//! [`FlowRecord`] with counts, SHA-256 and the byte ledger.
//!
//! ## Example: the first line each client sent, on all cores
//!
//! ```
//! use engine::{EngineOptions, Input};
//! use reassembly::{Completion, Dir, ScatterGather, Stream, StreamFactory, StreamInfo};
//!
//! /// Per worker: (flow id, first client line) of every TCP connection.
//! #[derive(Default)]
//! struct FirstLines(Vec<(u64, String)>);
//!
//! struct Conn { id: u64, line: Vec<u8>, done: bool }
//!
//! impl StreamFactory for FirstLines {
//!     type Stream = Conn;
//!     fn new_stream(&mut self, info: &StreamInfo) -> Conn {
//!         Conn { id: info.first_frame, line: Vec::new(), done: false }
//!     }
//! }
//!
//! impl Stream for Conn {
//!     type Context = FirstLines;
//!     fn reassembled(&mut self, sg: &mut ScatterGather<'_>, _ctx: &mut FirstLines) {
//!         if sg.dir() != Dir::ClientToServer || self.done {
//!             return;
//!         }
//!         for chunk in sg.chunks() {
//!             match chunk.iter().position(|&b| b == b'\n') {
//!                 Some(end) => {
//!                     self.line.extend_from_slice(&chunk[..end]);
//!                     self.done = true;
//!                     break;
//!                 }
//!                 None => self.line.extend_from_slice(chunk),
//!             }
//!         }
//!     }
//!     fn complete(&mut self, _c: &Completion, ctx: &mut FirstLines) {
//!         if !self.line.is_empty() {
//!             let line = String::from_utf8_lossy(&self.line).trim_end().to_string();
//!             ctx.0.push((self.id, line));
//!         }
//!     }
//! }
//!
//! let capture = concat!(env!("CARGO_MANIFEST_DIR"),
//!     "/../../testdata/corpus/suricata-verify/lua-output-streaming/suricata-update-pdf.pcap");
//! let first_lines = |threads: usize| -> anyhow::Result<Vec<(u64, String)>> {
//!     let opts = EngineOptions::new().with_threads(threads); // 0: all cores
//!     let run = engine::run_streams(&opts, Input::files([capture]), |_worker| FirstLines::default())?;
//!     let mut lines: Vec<_> = run.factories.into_iter().flat_map(|f| f.0).collect();
//!     lines.sort();
//!     Ok(lines)
//! };
//! let all_cores = first_lines(0)?;
//! for (id, line) in &all_cores {
//!     println!("{id}: {line}");
//! }
//! assert_eq!(all_cores, first_lines(1)?);
//! assert!(all_cores.iter().any(|(_, l)| l.starts_with("GET ")));
//! # Ok::<(), anyhow::Error>(())
//! ```
#![warn(missing_docs)]

mod batch;
#[cfg(feature = "bpf")]
pub mod filter;
pub mod flow;
#[cfg(feature = "bpf")]
pub mod flow_filter;
pub mod handoff;
pub mod housekeeping;
pub mod input;
pub mod options;
pub mod pipeline;
mod replay;
mod run;
pub mod shard;
mod shared_encap;
pub mod sink;
mod sink_stream;
pub mod spill;
pub mod summary;
#[cfg(test)]
mod testpkt;

pub use batch::{BATCH, BATCH_BYTES, SLICE};
#[cfg(feature = "bpf")]
pub use filter::{BpfFilter, FilterError};
pub use flow::{DirRecord, FlowHead, FlowId, FlowRecord, Placement, DIRS};
#[cfg(feature = "bpf")]
pub use flow_filter::FlowFilter;
pub use handoff::EachRecord;
pub use housekeeping::Housekeeping;
pub use input::{FrameSource, Input, InputReport, Next, Problem, Progress};
pub use options::{EngineOptions, GapMode};
pub use pipeline::{collect, run_sink, run_streams, Engine, StreamRun};
pub use run::MAX_WORKERS;
pub use shard::{Shard, ShardError};
pub use sink::{CollectedFlow, Collector, NullSink, Sink};
pub use summary::Summary;

/// The README's Rust examples compile (`cargo test --doc -p engine`).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
