//! The one error type of the generator.

/// Why a capture could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// A [`crate::GenConfig`] field is out of range; the message names it.
    #[error("invalid capgen config: {0}")]
    InvalidConfig(String),
    /// A packet's timestamp does not fit the pcap record's 32-bit seconds.
    #[error("timestamp {ns} ns of packet {packet} is past what pcap can store (year 2106)")]
    TimestampOverflow {
        /// Index of the packet in the capture (0-based).
        packet: u64,
        /// Its time in nanoseconds since the Unix epoch.
        ns: u128,
    },
    /// Writing the capture failed.
    #[error("writing the capture failed: {0}")]
    Io(#[from] std::io::Error),
}
