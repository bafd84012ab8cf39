//! # pcapread — capture bytes in, decoded TCP/UDP segments out
//!
//! `pcapread` reads pcap and pcapng captures (memory-mapped, or streamed from
//! standard input and gzip/zstd files) and decodes each frame through its link
//! layer, VLAN/MPLS/PPPoE stacks and tunnels down to the innermost TCP or UDP
//! header, defragmenting IP on the way. It keeps no TCP state: that is the job of
//! the `reassembly` crate.
//!
//! The pieces, in data-flow order:
//! - [`Frame`]: one captured record (number, file offset, nanosecond timestamp,
//!   caplen/origlen, link type, bytes borrowed from the capture).
//! - [`Segment`]: one decoded TCP segment or UDP datagram with its
//!   [`FiveTuple`], TCP fields and options, payload slice, snaplen-truncated byte
//!   count and [`EncapPath`].
//! - [`FlowKey`]: the canonical, direction-independent key of a flow, and its
//!   symmetric hash for sharding work across threads.
//!
//! Fatal capture damage is an [`Error`] naming the file and byte offset; frames
//! that simply carry no TCP/UDP are a [`Skip`] reason, counted, not an error.
#![warn(missing_docs)]

pub mod encap;
pub mod error;
pub mod flow;
pub mod frame;
pub mod linktype;
pub mod segment;

pub use encap::{EncapPath, Layer};
pub use error::{Error, Skip};
pub use flow::{FiveTuple, FlowKey, Proto, Side};
pub use frame::Frame;
pub use linktype::LinkType;
pub use segment::{Segment, TcpFlags, TcpInfo, TcpOptions, Transport};
