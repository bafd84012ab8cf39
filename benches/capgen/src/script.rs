//! Hand-written TCP conversations: each segment given explicitly (time,
//! direction, sequence and acknowledgment numbers, flags, payload) and
//! written as a pcap in the generator's frame format, for timing cases the
//! flow model does not produce (a connection quiet for minutes, then
//! carrying on).
//!
//! ```
//! use capgen::script::{write_conversations, Conversation, Seg};
//!
//! let s = 1_000_000_000;
//! let conv = Conversation {
//!     client: "10.0.0.1:40000".parse()?,
//!     server: "10.0.0.2:9092".parse()?,
//!     segs: vec![
//!         Seg::client(s, 100, 0).syn(),
//!         Seg::server(s + 1, 500, 101).syn(),
//!         Seg::client(s + 2, 101, 501).data(b"hello"),
//!     ],
//! };
//! let pcap = write_conversations(&[conv], Vec::new())?;
//! assert_eq!(pcap.len(), 24 + 3 * 16 + 3 * 54 + 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Write;
use std::net::SocketAddr;

use crate::config::TsPrecision;
use crate::error::GenError;
use crate::expected::Endpoint;
use crate::frame::{build_headers, Direction, Emit, TcpFields, L4};
use crate::pcap::PcapWriter;

/// One TCP segment of a conversation. Every segment but a bare SYN carries
/// the ACK flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seg {
    /// Time, ns after the Unix epoch.
    pub ts_ns: u64,
    /// Sent by the client (else by the server).
    pub from_client: bool,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// SYN flag (with ACK from the server: a SYN-ACK).
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// Payload.
    pub payload: Vec<u8>,
}

impl Seg {
    /// A segment from the client at `ts_ns`.
    pub fn client(ts_ns: u64, seq: u32, ack: u32) -> Seg {
        Seg {
            ts_ns,
            from_client: true,
            seq,
            ack,
            syn: false,
            fin: false,
            rst: false,
            payload: Vec::new(),
        }
    }

    /// A segment from the server at `ts_ns`.
    pub fn server(ts_ns: u64, seq: u32, ack: u32) -> Seg {
        Seg {
            from_client: false,
            ..Seg::client(ts_ns, seq, ack)
        }
    }

    /// With the SYN flag.
    pub fn syn(mut self) -> Seg {
        self.syn = true;
        self
    }

    /// With the FIN flag.
    pub fn fin(mut self) -> Seg {
        self.fin = true;
        self
    }

    /// With the RST flag.
    pub fn rst(mut self) -> Seg {
        self.rst = true;
        self
    }

    /// With `payload`.
    pub fn data(mut self, payload: &[u8]) -> Seg {
        self.payload = payload.to_vec();
        self
    }
}

/// One TCP connection: its endpoints (same IP family) and its segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    /// The client's address and port.
    pub client: SocketAddr,
    /// The server's address and port.
    pub server: SocketAddr,
    /// The segments, each with its own time.
    pub segs: Vec<Seg>,
}

/// Write the segments of `convs` as one nanosecond pcap (Ethernet, valid
/// checksums) to `out`, in time order (ties: conversation order, then
/// segment order), and return it.
pub fn write_conversations<W: Write>(convs: &[Conversation], out: W) -> Result<W, GenError> {
    let mut order: Vec<(u64, usize, usize)> = convs
        .iter()
        .enumerate()
        .flat_map(|(c, conv)| {
            conv.segs
                .iter()
                .enumerate()
                .map(move |(i, s)| (s.ts_ns, c, i))
        })
        .collect();
    order.sort_unstable();
    let mut pcap = PcapWriter::new(out, TsPrecision::Nano)?;
    let mut hdr = Vec::new();
    for (n, &(_, c, i)) in order.iter().enumerate() {
        let conv = &convs[c];
        let s = &conv.segs[i];
        let [client, server] = [conv.client, conv.server].map(|a| Endpoint {
            ip: a.ip(),
            port: a.port(),
        });
        let emit = Emit {
            dir: if s.from_client {
                Direction::C2s
            } else {
                Direction::S2c
            },
            l4: L4::Tcp(TcpFields {
                seq: s.seq,
                ack: s.ack,
                syn: s.syn,
                ack_flag: !(s.syn && s.from_client),
                fin: s.fin,
                rst: s.rst,
                psh: !s.payload.is_empty(),
                mss_option: None,
            }),
            payload_len: s.payload.len(),
            ip_id: n as u16,
        };
        build_headers(&mut hdr, &client, &server, &emit, &s.payload, true)?;
        pcap.record(u128::from(s.ts_ns), &hdr, &s.payload)?;
    }
    pcap.finish()
}
