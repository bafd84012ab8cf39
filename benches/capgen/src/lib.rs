//! Deterministic synthetic captures with an exactly known answer, for
//! streamcut's tests and benchmarks.
//!
//! [`generate`] writes a classic little-endian pcap (Ethernet, IPv4/IPv6,
//! TCP/UDP) of many interleaved flows and returns [`Expected`]: for every flow
//! its endpoints, how it ended, and per direction the length and SHA-256 of
//! the byte stream the receiver should reassemble, with packet and byte
//! counts (and, with [`GenConfig::http`], every HTTP message body the flow
//! carries, decoded size and SHA-256). TCP flows have a three-way handshake, data both ways, pure ACKs,
//! and optionally out-of-order, retransmitted and overlapping segments
//! (always with identical bytes, so the stream is unambiguous under every
//! overlap policy), sequence numbers that wrap past 2^32, and FIN, RST or no
//! ending. Everything is decided by [`GenConfig`]; the same config (seed
//! included) gives the same file bytes.
//!
//! This crate deliberately does not use streamcut's own reader: it is an
//! independent model to test the reader and the reassembler against.
//!
//! Generation streams: the capture is never held in memory, payload bytes are
//! a stateless function of (flow key, offset) (so resends regenerate them),
//! and each direction is hashed once, in stream order, as its bytes are first
//! produced. A 2 GB bulk capture takes a few seconds.
//!
//! # Example
//!
//! ```
//! use capgen::{generate, ByteRange, EndMix, FlowEnd, GenConfig};
//!
//! let config = GenConfig {
//!     seed: 7,
//!     flows: 10,
//!     c2s_bytes: ByteRange::fixed(3000),
//!     s2c_bytes: ByteRange::between(0, 50_000),
//!     ooo_rate: 0.05,
//!     retrans_rate: 0.02,
//!     ipv6_fraction: 0.5,
//!     end: EndMix::RST,
//!     ..GenConfig::default()
//! };
//! let mut pcap = Vec::new();
//! let expected = generate(&config, &mut pcap)?;
//!
//! assert_eq!(expected.flows.len(), 10);
//! assert_eq!(expected.totals.pcap_bytes, pcap.len() as u64);
//! assert!(expected.flows.iter().all(|f| f.c2s.bytes == 3000 && f.end == FlowEnd::Rst));
//! // The answer travels as JSON next to the capture.
//! let json = serde_json::to_string(&expected)?;
//! assert!(json.contains("\"sha256\""));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Command line
//!
//! The `capgen` binary wraps [`generate`]:
//!
//! ```text
//! capgen --out cap.pcap --expected cap.json --flows 1000 --bytes 1000..100000 \
//!        --ooo-rate 0.02 --retrans-rate 0.01 --ipv6 0.3 --wrap 0.1 --seed 42
//! capgen --preset bulk --total-bytes 2000000000 --out bulk.pcap --expected bulk.json
//! capgen --preset short --out short.pcap --expected short.json
//! capgen --preset http --total-bytes 1000000000 --out http.pcap --expected http.json
//! ```
//!
//! A preset sets the base config ([`GenConfig::bulk`], [`GenConfig::short`],
//! [`GenConfig::http`]: keep-alive HTTP/1.1 conversations, see [`http`]);
//! other flags override single fields. `capgen --help` lists them all.

#![deny(missing_docs)]

mod config;
mod error;
mod expected;
mod flow;
mod frame;
mod generate;
pub mod http;
pub mod payload;
mod pcap;
pub mod script;
mod tcp;
mod udp;

pub use config::{
    ByteRange, DataOrder, EndMix, GenConfig, TsPrecision, MAX_DIRECTION_BYTES, MAX_FLOWS, MAX_MSS,
};
pub use error::GenError;
pub use expected::{DirExpected, Endpoint, Expected, FlowEnd, FlowExpected, Proto, Totals};
pub use generate::{generate, generate_to_vec};
pub use pcap::{PcapWriter, LINKTYPE_ETHERNET, SNAPLEN};
