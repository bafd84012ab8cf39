//! Errors: fatal capture-format errors that name the file and byte offset, and
//! the per-packet reasons a frame yielded no segment.

use std::path::PathBuf;

/// A capture could not be read past some point. Everything before `offset` was
/// delivered; the error says where and why reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening, mapping or reading the file failed.
    #[error("{file}: {source}")]
    Io {
        /// The capture's path (or `-` for standard input).
        file: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The first bytes are no pcap or pcapng magic (nor gzip/zstd around one).
    #[error("{file}: not a pcap or pcapng capture (magic {magic:02x?} at byte offset 0)")]
    BadMagic {
        /// The capture's path.
        file: PathBuf,
        /// The first bytes found.
        magic: Vec<u8>,
    },
    /// The file ends inside a header, record or block.
    #[error("{file}: truncated {what} at byte offset {offset}: need {needed} bytes, {available} available")]
    Truncated {
        /// The capture's path.
        file: PathBuf,
        /// Offset of the record or block that is cut short.
        offset: u64,
        /// What was being read (`"pcap record"`, `"pcapng block"`, ...).
        what: &'static str,
        /// Bytes the structure needs.
        needed: u64,
        /// Bytes left in the file.
        available: u64,
    },
    /// A length field is impossible (beyond a sanity limit, or smaller than its header).
    #[error(
        "{file}: {what} at byte offset {offset} has an impossible length {len} (limit {limit})"
    )]
    BadLength {
        /// The capture's path.
        file: PathBuf,
        /// Offset of the record or block.
        offset: u64,
        /// What the length belongs to.
        what: &'static str,
        /// The length found.
        len: u64,
        /// The limit it broke.
        limit: u64,
    },
    /// The structure at `offset` does not parse.
    #[error("{file}: malformed {what} at byte offset {offset}: {detail}")]
    Malformed {
        /// The capture's path.
        file: PathBuf,
        /// Offset of the damaged structure.
        offset: u64,
        /// What was being read.
        what: &'static str,
        /// Parser detail.
        detail: String,
    },
    /// Decompressing the input failed.
    #[error(
        "{file}: decompression failed at byte offset {offset} of the decompressed stream: {source}"
    )]
    Decompress {
        /// The capture's path.
        file: PathBuf,
        /// Offset in the decompressed stream.
        offset: u64,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The byte offset the error names, if any.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::Io { .. } => None,
            Error::BadMagic { .. } => Some(0),
            Error::Truncated { offset, .. }
            | Error::BadLength { offset, .. }
            | Error::Malformed { offset, .. }
            | Error::Decompress { offset, .. } => Some(*offset),
        }
    }
}

/// Why a frame produced no TCP/UDP segment. Not an error: counted per reason in
/// statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// The link type is not one the decoder knows.
    UnsupportedLinkType(u32),
    /// A known link layer carrying something other than IP (ARP, LLDP, ...).
    NotIp,
    /// An IP packet whose protocol is neither TCP nor UDP (ICMP, ...).
    NotTcpUdp(u8),
    /// A header was cut short by snaplen or the frame length (layer name).
    Truncated(&'static str),
    /// A header is invalid (layer name).
    Malformed(&'static str),
    /// An IP fragment was stored for reassembly; the datagram is not complete yet.
    FragmentHeld,
    /// An IP fragment was dropped (pool full, inconsistent, or too large).
    FragmentDropped,
    /// Tunnels nested deeper than the decoder follows.
    TooDeep,
    /// An IP fragment left for another decoder to defragment
    /// ([`DecoderConfig::defer_fragments`](crate::DecoderConfig::defer_fragments)).
    FragmentDeferred,
    /// A frame that carries no packet by its kind (802.11 management, control
    /// and null-data frames; layer name).
    NotData(&'static str),
    /// An encrypted frame (802.11 with the Protected bit; layer name).
    Protected(&'static str),
    /// A frame of a known kind that the decoder does not decode (an 802.11
    /// MSDU fragment, which cannot be decoded alone).
    Unsupported(&'static str),
}

impl Skip {
    /// A stable short name for reports (`"not-ip"`, `"truncated:tcp"`, ...).
    pub fn name(&self) -> String {
        match self {
            Skip::UnsupportedLinkType(n) => format!("unsupported-linktype:{n}"),
            Skip::NotIp => "not-ip".into(),
            Skip::NotTcpUdp(p) => format!("ip-proto:{p}"),
            Skip::Truncated(l) => format!("truncated:{l}"),
            Skip::Malformed(l) => format!("malformed:{l}"),
            Skip::FragmentHeld => "fragment-held".into(),
            Skip::FragmentDropped => "fragment-dropped".into(),
            Skip::TooDeep => "too-deep".into(),
            Skip::FragmentDeferred => "fragment-deferred".into(),
            Skip::NotData(l) => format!("not-data:{l}"),
            Skip::Protected(l) => format!("protected:{l}"),
            Skip::Unsupported(w) => format!("unsupported:{w}"),
        }
    }
}
