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
//! zero or more times per direction in order; `complete` exactly once. A
//! connection whose first packet is a bare SYN is held as an 80-byte record
//! until its second packet, its idle timeout or the end of input
//! ([`AssemblerConfig::compact_half_open`], on by default): `new_stream` and
//! the `accept` of that SYN come then, so a SYN scan costs about 100 bytes
//! per probe, not a stream. Every
//! callback also gets a context `ctx`: the [`StreamFactory`] that made the
//! stream (one per assembler), so results go there and come back with
//! [`Assembler::factory`] or [`Assembler::into_factory`]. See [`stream`] for
//! the details.
//!
//! ## Connections that go quiet
//! A TCP connection without packets for [`AssemblerConfig::tcp_idle_timeout`]
//! (300 s) is *parked* by [`Assembler::expire`], not completed: what it holds
//! is delivered past any holes, its pages and verify window are released,
//! and its stream gets [`Stream::parked`]. A later packet that continues it
//! (the next sequence number of its direction, a keep-alive one before it, a
//! little past it, or an ACK of exactly the peer's next byte) wakes it: the
//! same stream carries on, one continuous byte stream per direction, and
//! [`Completion::idle_resumptions`] / [`Completion::longest_idle`] say so in
//! the end. Any other packet on its addresses and ports completes it
//! ([`EndReason::IdleTimeout`]) and starts a new connection. A connection
//! that never got past one SYN (no payload) has nothing to carry on: it
//! completes at the idle timeout instead of parking. A parked
//! connection completes the same way after a further
//! [`AssemblerConfig::resume_window`] (2 hours), when more than
//! [`AssemblerConfig::max_parked`] are parked (oldest first), or at the end
//! of input. UDP flows are not parked: they complete after
//! [`AssemblerConfig::udp_idle_timeout`], as a datagram carries nothing that
//! tells a continuation from a new exchange on the same ports.
//!
//! ## Example
//! ```
//! use reassembly::{Assembler, AssemblerConfig, Completion, EndReason, ScatterGather, Stream, StreamFactory, StreamInfo};
//! use pcapread::{FiveTuple, Proto, Segment, TcpFlags, TcpInfo, TcpOptions, Transport, EncapPath};
//!
//! /// The factory, and so the context of every stream callback: what the
//! /// streams find ends up here.
//! #[derive(Default)]
//! struct Collector {
//!     /// Per finished connection: its first frame, why it ended, its bytes.
//!     done: Vec<(u64, EndReason, Vec<u8>)>,
//!     /// Bytes delivered so far, all connections together.
//!     delivered: usize,
//! }
//! /// One connection: the bytes delivered so far.
//! struct Collect { first_frame: u64, bytes: Vec<u8> }
//!
//! impl Stream for Collect {
//!     type Context = Collector;
//!     fn reassembled(&mut self, sg: &mut ScatterGather<'_>, ctx: &mut Collector) {
//!         for chunk in sg.chunks() { self.bytes.extend_from_slice(chunk); }
//!         ctx.delivered += sg.len();
//!     }
//!     fn complete(&mut self, c: &Completion, ctx: &mut Collector) {
//!         ctx.done.push((self.first_frame, c.reason, std::mem::take(&mut self.bytes)));
//!     }
//! }
//! impl StreamFactory for Collector {
//!     type Stream = Collect;
//!     fn new_stream(&mut self, info: &StreamInfo) -> Collect {
//!         Collect { first_frame: info.first_frame, bytes: Vec::new() }
//!     }
//! }
//!
//! let tuple = FiveTuple { proto: Proto::Tcp, src: "10.0.0.1:1234".parse().unwrap(), dst: "10.0.0.2:80".parse().unwrap() };
//! let seg = |seq: u32, flags: u8, payload: &'static [u8], frame: u64| Segment {
//!     frame, ts: frame * 1000, tuple, payload, truncated: 0, encap: EncapPath::new(), link: Default::default(), defragmented: false,
//!     transport: Transport::Tcp(TcpInfo { seq, ack: 0, flags: TcpFlags(flags), window: 65535, urgent: 0, options: TcpOptions::default() }),
//! };
//! let mut asm = Assembler::new(AssemblerConfig::default(), Collector::default());
//! asm.assemble(&seg(100, TcpFlags::SYN, b"", 1));
//! asm.assemble(&seg(107, TcpFlags::ACK, b"world", 2));   // out of order: queued
//! assert_eq!(asm.factory().delivered, 0);
//! asm.assemble(&seg(101, TcpFlags::ACK, b"hello ", 3));  // fills the hole
//! assert_eq!(asm.factory().delivered, 11);
//! asm.flush_all();
//! let results = asm.into_factory();
//! assert_eq!(results.done, [(1, EndReason::EndOfInput, b"hello world".to_vec())]);
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
pub use scatter::{Chunks, DeliveryStats, PacketInfo, ScatterGather, Skipped};
pub use stream::{
    Accept, AcceptInfo, Completion, Dir, EndReason, Stream, StreamFactory, StreamInfo,
};
