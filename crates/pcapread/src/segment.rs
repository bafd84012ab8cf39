//! The decoded view of one TCP or UDP packet that later stages consume.

use std::net::SocketAddr;

use crate::encap::EncapPath;
use crate::flow::{FiveTuple, Proto};
use crate::link_addr::LinkAddrs;

/// TCP header flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN: no more data from sender.
    pub const FIN: u8 = 0x01;
    /// SYN: synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// RST: reset the connection.
    pub const RST: u8 = 0x04;
    /// PSH: push function.
    pub const PSH: u8 = 0x08;
    /// ACK: the acknowledgment field is significant.
    pub const ACK: u8 = 0x10;
    /// URG: the urgent pointer is significant.
    pub const URG: u8 = 0x20;
    /// ECE: ECN echo.
    pub const ECE: u8 = 0x40;
    /// CWR: congestion window reduced.
    pub const CWR: u8 = 0x80;

    /// Whether FIN is set.
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    /// Whether SYN is set.
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    /// Whether RST is set.
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    /// Whether PSH is set.
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
    /// Whether ACK is set.
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    /// Whether URG is set.
    pub fn urg(self) -> bool {
        self.0 & Self::URG != 0
    }
}

/// The TCP options later stages need, parsed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Maximum segment size (SYN only).
    pub mss: Option<u16>,
    /// Window scale shift (SYN only).
    pub window_scale: Option<u8>,
    /// Timestamps option: (TSval, TSecr).
    pub timestamps: Option<(u32, u32)>,
    /// SACK permitted (SYN only).
    pub sack_permitted: bool,
    /// SACK blocks (left edge, right edge); only the first `sack_len` are valid.
    pub sack: [(u32, u32); 4],
    /// Number of valid entries in `sack`.
    pub sack_len: u8,
}

impl TcpOptions {
    /// The valid SACK blocks.
    pub fn sack_blocks(&self) -> &[(u32, u32)] {
        &self.sack[..usize::from(self.sack_len.min(4))]
    }
}

/// TCP header fields of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful when `flags.ack()`).
    pub ack: u32,
    /// Header flags.
    pub flags: TcpFlags,
    /// Raw (unscaled) receive window.
    pub window: u16,
    /// Urgent pointer (meaningful when `flags.urg()`).
    pub urgent: u16,
    /// Parsed options.
    pub options: TcpOptions,
}

/// Transport-specific part of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A TCP segment.
    Tcp(TcpInfo),
    /// A UDP datagram.
    Udp,
}

/// One decoded TCP segment or UDP datagram, keyed on its innermost five-tuple.
///
/// `payload` borrows from the frame, or from the defragmenter's buffer when the
/// packet was rebuilt from IP fragments (it is valid until the next decode call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Frame number of the packet (for a defragmented datagram: of the fragment
    /// that completed it).
    pub frame: u64,
    /// Packet timestamp, nanoseconds since the Unix epoch.
    pub ts: u64,
    /// Directional five-tuple (innermost headers).
    pub tuple: FiveTuple,
    /// TCP fields, or UDP.
    pub transport: Transport,
    /// The payload bytes that were captured.
    pub payload: &'a [u8],
    /// Payload bytes the IP/transport lengths announce but snaplen cut off;
    /// they follow `payload` in the sender's stream.
    pub truncated: u32,
    /// The encapsulation layers the packet was found in, outermost first.
    pub encap: EncapPath,
    /// MAC addresses of the outermost link header that has them (see
    /// [`link_addr`](crate::link_addr)); empty for raw IP and the like.
    pub link: LinkAddrs,
    /// Whether the packet was rebuilt from IP fragments.
    pub defragmented: bool,
}

/// An empty UDP segment of frame 0 between `0.0.0.0:0` and itself: a slot
/// to decode into ([`Decoder::decode_deferring_into`](crate::Decoder::decode_deferring_into)).
impl Default for Segment<'_> {
    fn default() -> Self {
        let none = SocketAddr::from(([0, 0, 0, 0], 0));
        Segment {
            frame: 0,
            ts: 0,
            tuple: FiveTuple {
                proto: Proto::Udp,
                src: none,
                dst: none,
            },
            transport: Transport::Udp,
            payload: &[],
            truncated: 0,
            encap: EncapPath::new(),
            link: LinkAddrs::default(),
            defragmented: false,
        }
    }
}

impl<'a> Segment<'a> {
    /// The TCP fields, if this is TCP.
    pub fn tcp(&self) -> Option<&TcpInfo> {
        match &self.transport {
            Transport::Tcp(t) => Some(t),
            Transport::Udp => None,
        }
    }

    /// Payload length on the wire: captured bytes plus truncated bytes.
    pub fn wire_len(&self) -> u64 {
        self.payload.len() as u64 + u64::from(self.truncated)
    }
}
