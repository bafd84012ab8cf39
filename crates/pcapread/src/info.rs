//! What a capture input is: its file format, compression and interfaces, as
//! learned while reading it (pcapng interfaces appear as their blocks are read).

use crate::source::Compression;
use crate::LinkType;

/// Byte order of a capture's headers (pcap files and pcapng sections are written
/// in the writer's native order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Least significant byte first.
    Little,
    /// Most significant byte first.
    Big,
}

/// Resolution of classic pcap timestamps, given by the file's magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TsResolution {
    /// Microseconds (magic `a1b2c3d4`, and the modified format `a1b2cd34`).
    Micro,
    /// Nanoseconds (magic `a1b23c4d`).
    Nano,
}

/// The container format of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Not known yet: the file header has not been read.
    Unknown,
    /// Classic libpcap format.
    Pcap {
        /// Byte order of the headers.
        byte_order: ByteOrder,
        /// Timestamp resolution.
        resolution: TsResolution,
        /// Kuznetzov's modified format (magic `a1b2cd34`, 24-byte record headers).
        modified: bool,
    },
    /// pcapng (one or more sections, each with its own byte order).
    PcapNg,
}

/// One capture interface: the only one of a pcap file, or one IDB of a pcapng section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InterfaceInfo {
    /// pcapng section number (0-based; always 0 for pcap).
    pub section: u32,
    /// Interface id within its section (the EPB's interface id; 0 for pcap).
    pub id: u32,
    /// Link type of frames captured on this interface.
    pub link_type: LinkType,
    /// Snapshot length (0 means no limit).
    pub snaplen: u32,
    /// Timestamp units per second (`if_tsresol`; 10^6 by default, 10^9 for
    /// nanosecond pcap).
    pub ts_units_per_sec: u64,
    /// Seconds added to every timestamp (`if_tsoffset`; 0 for pcap).
    pub ts_offset_secs: i64,
}

/// Description of one capture input, filled in as it is read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CaptureInfo {
    /// Container format.
    pub format: Format,
    /// Compression around the container.
    pub compression: Compression,
    /// Number of pcapng sections read so far (0 for pcap).
    pub sections: u32,
    /// Byte order of the pcap file or of the current pcapng section.
    pub byte_order: Option<ByteOrder>,
    /// Interfaces seen so far, in file order.
    pub interfaces: Vec<InterfaceInfo>,
}

impl CaptureInfo {
    /// Info for an input whose header has not been read yet.
    pub fn new(compression: Compression) -> CaptureInfo {
        CaptureInfo {
            format: Format::Unknown,
            compression,
            sections: 0,
            byte_order: None,
            interfaces: Vec::new(),
        }
    }

    /// The distinct link types seen so far, in order of first appearance.
    pub fn link_types(&self) -> Vec<LinkType> {
        let mut out: Vec<LinkType> = Vec::new();
        for i in &self.interfaces {
            if !out.contains(&i.link_type) {
                out.push(i.link_type);
            }
        }
        out
    }
}
