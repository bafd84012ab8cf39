//! One captured record, as read from a capture file: where it came from, when, and its bytes.

use crate::LinkType;

/// A captured frame borrowed from the capture's bytes (the memory map, or the
/// reader's buffer for streamed input).
///
/// Invariant: `data.len() == caplen as usize` and `caplen <= origlen` unless the
/// capture itself claims otherwise (some writers store `origlen < caplen`; we keep
/// both values as written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// 1-based frame number, counted over every packet record of the input set in
    /// the order frames are delivered (the same numbering tshark and Wireshark show
    /// for a single file).
    pub number: u64,
    /// Index of the input file this frame came from (0 for a single input).
    pub input: u16,
    /// Byte offset of the record (its record or block header) in its file; for
    /// compressed input, the offset in the decompressed stream.
    pub file_offset: u64,
    /// Capture timestamp in nanoseconds since the Unix epoch.
    pub ts: u64,
    /// Bytes captured (length of `data`).
    pub caplen: u32,
    /// Length of the packet on the wire.
    pub origlen: u32,
    /// Link-layer type of the interface the frame was captured on.
    pub link_type: LinkType,
    /// The captured bytes, starting at the link-layer header.
    pub data: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Bytes of the packet the capture did not keep (snaplen truncation).
    pub fn truncated_bytes(&self) -> u32 {
        self.origlen.saturating_sub(self.caplen)
    }
}
