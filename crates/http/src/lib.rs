//! HTTP/1.x messages out of reassembled TCP streams.
//!
//! An [`HttpFlow`] reads both directions of one connection as the reassembler
//! delivers them and hands out every message through the [`Objects`] trait:
//! its head ([`Message`]: method, target, `Host`, status, the request a
//! response answers, stream offsets, first frame), its body de-chunked and
//! decoded (gzip, deflate raw or zlib-wrapped, br, zstd, stacked in any
//! order), and how the body ended ([`Outcome`]: wire, encoded and decoded
//! sizes, SHA-256, the type its bytes look like, the byte ranges never
//! captured, and why it is incomplete if it is).
//!
//! Rules, after RFC 9112: requests pair with responses in order (keep-alive
//! and pipelining); no body for `HEAD` responses, 1xx, 204 and 304; `100
//! Continue` is interim; a successful `CONNECT` and `101 Switching Protocols`
//! end the reading of the flow (counted in [`FlowStats::stopped`]); a
//! direction that does not start with an HTTP/1.x head (a connection picked
//! up midstream) is searched for one, and one with none in its first
//! [`HttpConfig::max_search`] bytes (HTTP/0.9, TLS, garbage) is not HTTP:
//! counted, never a panic. A gap (bytes never
//! captured) inside a body makes the message incomplete with the missing
//! ranges listed ([`Outcome::missing`]); it is never silently spliced over: an
//! identity body reports it with [`Objects::gap`], an encoded body stops
//! decoding there. After a gap outside a body the reader looks for the next
//! head. Memory is bounded per flow: heads and chunk lines are capped
//! ([`HttpConfig`]), bodies stream through, decompression has a size and
//! ratio cap ([`DecodeLimits`]; a gzip bomb is stopped and reported as
//! [`Incomplete::LimitExceeded`]).
//!
//! ```
//! use http::{HttpConfig, HttpFlow, Message, Objects, Outcome};
//! use reassembly::Dir;
//!
//! #[derive(Default)]
//! struct Bodies(Vec<(String, Vec<u8>)>);
//! impl Objects for Bodies {
//!     fn begin(&mut self, msg: &Message) {
//!         let uri = msg.request.as_ref().map(|r| r.uri.clone()).unwrap_or_default();
//!         self.0.push((uri, Vec::new()));
//!     }
//!     fn data(&mut self, _msg: &Message, bytes: &[u8]) {
//!         if let Some(last) = self.0.last_mut() {
//!             last.1.extend_from_slice(bytes);
//!         }
//!     }
//!     fn end(&mut self, _msg: &Message, _outcome: &Outcome) {}
//! }
//!
//! let mut flow = HttpFlow::new(HttpConfig::default());
//! let mut bodies = Bodies::default();
//! flow.feed(Dir::ClientToServer, b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", 1, &mut bodies);
//! flow.feed(
//!     Dir::ServerToClient,
//!     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
//!     2,
//!     &mut bodies,
//! );
//! flow.finish(&mut bodies);
//! // The request (no body) and the response, paired.
//! assert_eq!(bodies.0[1], ("/hello.txt".to_string(), b"hello".to_vec()));
//! ```
//!
//! # Ranges
//!
//! `206 Partial Content` bodies are objects like any other, with their
//! `Content-Range` in [`ObjectRecord::range`]. After a run, [`entities`]
//! groups the range responses of one resource (host, target, `ETag`,
//! `Last-Modified`, codings) and says whether their ranges cover it, and
//! [`stitch_entities`] checks overlapping parts for bytes that differ and
//! writes the whole entity from the parts' files through a fixed buffer
//! (identity bodies only: a range counts encoded bytes). See [`entity`].
//!
//! With the reassembler, call [`feed_delivery`] from
//! [`reassembly::Stream::reassembled`]; with the engine, run one `HttpFlow`
//! per connection in a `StreamFactory` on every worker.
//!
//! # More protocols
//!
//! The extension point for other application protocols (SMTP/IMAP MIME
//! attachments, FTP-DATA, SMB2 file reads) is the same shape: a per-flow
//! reader fed by [`feed_delivery`]-style calls that reports objects through a
//! trait like [`Objects`], with [`coding`] for content decoding. A protocol
//! gets its own module here (or its own crate) and the CLI its own output
//! folder; nothing in the reassembler or engine changes.

pub mod coding;
mod delivery;
pub mod entity;
mod flow;
mod head;
mod message;
pub mod stitch;
pub mod store;

pub use coding::{Coding, DecodeError, DecodeLimits};
pub use delivery::{feed_bytes, feed_delivery};
pub use entity::{entities, Entity, Part, RangeConflict};
pub use flow::{FlowStats, HttpConfig, HttpFlow, Stop};
pub use head::{ContentRange, Head, StartLine};
pub use message::{Incomplete, Message, Objects, Outcome, RequestLine};
pub use stitch::{stitch, stitch_entities};
pub use store::{ObjectNaming, ObjectRecord, ObjectStore, OpenBodies, OPEN_FILES};
