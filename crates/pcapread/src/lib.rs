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
//!   count, [`EncapPath`] and the outermost link header's MAC addresses
//!   ([`LinkAddrs`]).
//! - [`FlowKey`]: the canonical, direction-independent key of a flow, and its
//!   symmetric hash for sharding work across threads.
//!
//! Fatal capture damage is an [`Error`] naming the file and byte offset; frames
//! that simply carry no TCP/UDP are a [`Skip`] reason, counted, not an error.
//!
//! Reading: [`CaptureReader`] opens a pcap or pcapng file (memory-mapped, or
//! streamed when compressed or read from standard input) and lends one
//! [`Frame`] at a time; [`SliceReader`] iterates a mapped capture with frames
//! that borrow the map; [`MergedReader`] interleaves the files of a rotated
//! capture set by timestamp; the [`reader`] module lists the formats supported.
//!
//! Decoding: a [`Decoder`] turns each frame into a [`Segment`] or a [`Skip`]
//! reason, walking link layers (Ethernet, 802.1Q/QinQ, PBB, MPLS, PPPoE, PPP,
//! Cisco HDLC, Linux SLL/SLL2, BSD loopback, raw IP, NFLOG, IPoIB, ARCNET,
//! IEEE 802.11 plain, with radiotap or with PPI: data frames, LLC/SNAP,
//! A-MSDU) and tunnels (GRE, ERSPAN, VXLAN, Geneve, Teredo, IP-in-IP, GTPv1-U,
//! GRE in UDP, AYIYA, CAPWAP data, Aruba GRE carrying 802.11), reassembling IP
//! fragments in bounded memory ([`Defragmenter`]) and counting what it skipped
//! ([`DecodeStats`]); see the [`decode`] module.
//!
//! ```
//! use pcapread::{CaptureReader, LinkType};
//!
//! // A little-endian, microsecond pcap with one 4-byte Ethernet frame.
//! let mut pcap = Vec::new();
//! for word in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
//!     pcap.extend_from_slice(&word.to_le_bytes());
//! }
//! for word in [1_700_000_000u32, 250_000, 4, 60] {
//!     pcap.extend_from_slice(&word.to_le_bytes());
//! }
//! pcap.extend_from_slice(b"abcd");
//!
//! // Any `Read` works (here: bytes in memory); `CaptureReader::open(path)` maps files.
//! let mut reader = CaptureReader::from_reader("example.pcap", std::io::Cursor::new(pcap))?;
//! let frame = reader.next_frame()?.expect("one frame");
//! assert_eq!(frame.number, 1);
//! assert_eq!(frame.file_offset, 24);
//! assert_eq!(frame.ts, 1_700_000_000_250_000_000);
//! assert_eq!((frame.caplen, frame.origlen), (4, 60));
//! assert_eq!(frame.link_type, LinkType::ETHERNET);
//! assert_eq!(frame.data, b"abcd");
//! assert!(reader.next_frame()?.is_none());
//! # Ok::<(), pcapread::Error>(())
//! ```
#![warn(missing_docs)]

pub mod decode;
pub mod defrag;
pub mod encap;
pub mod error;
pub mod flow;
pub mod frame;
pub mod info;
mod ip;
mod link;
pub mod link_addr;
pub mod linktype;
pub mod merge;
mod prefetch;
pub mod reader;
mod records;
pub mod segment;
pub mod source;
mod transport;
mod tunnel;
mod wlan;

pub use decode::{DecodeStats, Decoder, DecoderConfig};
pub use defrag::{DefragConfig, DefragStats, Defragmenter};
pub use encap::{EncapPath, Layer};
pub use error::{Error, Skip};
pub use flow::{FiveTuple, FlowKey, Proto, Side};
pub use frame::Frame;
pub use info::{ByteOrder, CaptureInfo, Format, InterfaceInfo, TsResolution};
pub use link_addr::{LinkAddrs, Mac};
pub use linktype::LinkType;
pub use merge::MergedReader;
pub use reader::{CaptureReader, SliceReader};
pub use segment::{Segment, TcpFlags, TcpInfo, TcpOptions, Transport};
pub use source::{Compression, Source, MAX_RECORD_LEN};
