//! # reassembly — TCP/UDP segments in, ordered stream bytes out
//!
//! A gopacket-style [`Assembler`]: one per worker thread, no locks. Feed it
//! decoded [`pcapread::Segment`]s; it keeps a connection table keyed by the
//! canonical [`pcapread::FlowKey`], unwraps sequence numbers into 64-bit stream
//! offsets once, queues out-of-order data in fixed-size pages from its own page
//! cache, resolves overlaps with an [`OverlapPolicy`], and hands each
//! connection's [`Stream`] the next in-order bytes as a [`ScatterGather`] —
//! borrowed straight from the packet when it arrived in order.
//!
//! Every captured payload byte of a direction lands in exactly one bucket of its
//! [`Ledger`]; bytes that were never captured are [`Gap`]s. Overlapping bytes
//! that differ are [`Conflict`]s, reported to the stream as they happen; each
//! direction resolves them with the overlap policy of its receiving host
//! ([`PolicyMap`], default [`AssemblerConfig::overlap_policy`]). Bytes already
//! delivered never change; a retransmission that contradicts them is reported
//! while they are still held, which [`AssemblerConfig::verify_window`] extends
//! to the last N delivered bytes of each direction (see [`policy`]). Memory is bounded by
//! page caps: at a cap the oldest hole is skipped and counted, never silently.
//!
//! ## Stream lifecycle
//! `new_stream` on the first packet; `accept` for every packet; `reassembled`
//! zero or more times per direction in order; `complete` exactly once. See
//! [`stream`] for the details.
//!
//! ## Example
//! ```
//! use reassembly::{Assembler, AssemblerConfig, Completion, ScatterGather, Stream, StreamFactory, StreamInfo};
//! use pcapread::{FiveTuple, Proto, Segment, TcpFlags, TcpInfo, TcpOptions, Transport, EncapPath};
//!
//! #[derive(Default)]
//! struct Collect { bytes: Vec<u8>, done: bool }
//! impl Stream for Collect {
//!     fn reassembled(&mut self, sg: &mut ScatterGather<'_>) {
//!         for chunk in sg.chunks() { self.bytes.extend_from_slice(chunk); }
//!     }
//!     fn complete(&mut self, _c: &Completion) { self.done = true; }
//! }
//! struct Factory(Vec<std::rc::Rc<std::cell::RefCell<Collect>>>);
//! struct Handle(std::rc::Rc<std::cell::RefCell<Collect>>);
//! impl Stream for Handle {
//!     fn reassembled(&mut self, sg: &mut ScatterGather<'_>) { self.0.borrow_mut().reassembled(sg) }
//!     fn complete(&mut self, c: &Completion) { self.0.borrow_mut().complete(c) }
//! }
//! impl StreamFactory for Factory {
//!     type Stream = Handle;
//!     fn new_stream(&mut self, _info: &StreamInfo) -> Handle {
//!         let c = std::rc::Rc::new(std::cell::RefCell::new(Collect::default()));
//!         self.0.push(c.clone());
//!         Handle(c)
//!     }
//! }
//!
//! let tuple = FiveTuple { proto: Proto::Tcp, src: "10.0.0.1:1234".parse().unwrap(), dst: "10.0.0.2:80".parse().unwrap() };
//! let seg = |seq: u32, flags: u8, payload: &'static [u8], frame: u64| Segment {
//!     frame, ts: frame * 1000, tuple, payload, truncated: 0, encap: EncapPath::new(), defragmented: false,
//!     transport: Transport::Tcp(TcpInfo { seq, ack: 0, flags: TcpFlags(flags), window: 65535, urgent: 0, options: TcpOptions::default() }),
//! };
//! let mut asm = Assembler::new(AssemblerConfig::default(), Factory(Vec::new()));
//! asm.assemble(&seg(100, TcpFlags::SYN, b"", 1));
//! asm.assemble(&seg(107, TcpFlags::ACK, b"world", 2));   // out of order: queued
//! asm.assemble(&seg(101, TcpFlags::ACK, b"hello ", 3));  // fills the hole
//! asm.flush_all();
//! let streams = asm.into_factory().0;
//! assert_eq!(streams[0].borrow().bytes, b"hello world");
//! assert!(streams[0].borrow().done);
//! ```
#![warn(missing_docs)]

pub mod assembler;
pub mod config;
pub mod conflict;
mod half;
pub mod ledger;
pub mod page;
pub mod policy;
pub mod policy_map;
mod recency;
pub mod scatter;
pub mod seq;
pub mod stream;
mod verify;

pub use assembler::{Assembler, AssemblerStats};
pub use config::AssemblerConfig;
pub use conflict::{Conflict, ConflictReason, Excerpt, EXCERPT_MAX};
pub use ledger::{Gap, Ledger};
pub use policy::{Overlap, OverlapPolicy, Rel, UnknownPolicy, Winner};
pub use policy_map::{LineProblem, PolicyMap, PolicyMapError};
pub use scatter::{CaptureInfo, Chunks, DeliveryStats, ScatterGather, Skip};
pub use stream::{
    Accept, AcceptInfo, Completion, Dir, EndReason, Stream, StreamFactory, StreamInfo,
};

/// The README's Rust examples compile (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
