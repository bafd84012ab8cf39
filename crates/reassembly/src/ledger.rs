//! The byte ledger: where every captured payload byte of one direction went.
//!
//! Invariant (checked by [`Ledger::balanced`]): once nothing is buffered,
//! `captured == delivered + duplicate + overlap_lost + out_of_window + after_close + evicted + keep_alive`.
//! While data is queued, the difference is exactly the buffered bytes.
//! Missing bytes (never captured) are not in `captured`; they are the [`Gap`]s.
//! `conflicts` counts differing overlaps and `ignored_syns` SYNs whose initial
//! sequence number the peer never confirmed (events, not bytes): neither is in
//! the balance.

/// A range of the sender's byte stream that was never delivered because it was
/// not captured. `offset` counts from the stream's first byte, missing bytes included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Gap {
    /// Stream offset of the first missing byte.
    pub offset: u64,
    /// Number of missing bytes.
    pub len: u64,
}

/// Per-direction payload accounting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Ledger {
    /// Payload bytes in packets the assembler took (after `accept`).
    pub captured: u64,
    /// Bytes handed to the stream in order (each byte once).
    pub delivered: u64,
    /// Bytes that arrived again with the same content as the copy held, or
    /// that arrived again after their first copy was delivered and no longer
    /// held (not compared; see
    /// [`AssemblerConfig::verify_window`](crate::AssemblerConfig::verify_window)).
    pub duplicate: u64,
    /// Bytes that arrived again with different content and lost under the
    /// overlap policy (or contradicted bytes already delivered).
    pub overlap_lost: u64,
    /// Bytes before the stream's start or too far beyond the expected window.
    pub out_of_window: u64,
    /// Bytes after the stream ended (past FIN, after RST).
    pub after_close: u64,
    /// Bytes thrown away to respect a memory cap.
    pub evicted: u64,
    /// Bytes of keep-alive probes: one-byte segments that re-send the last
    /// byte the sender already sent (Wireshark's "TCP Keep-Alive": sequence
    /// number one before the next, no SYN/FIN/RST), or, while the start of a
    /// direction picked up midstream is undecided, that re-send a byte the
    /// peer's latest ACK already covered. Counted, never delivered.
    pub keep_alive: u64,
    /// Total bytes missing (sum of all gaps, including those past `max_gaps`).
    pub missing: u64,
    /// Gaps in stream order (at most the configured number; `missing` counts all).
    pub gaps: Vec<Gap>,
    /// Gaps not listed in `gaps` because the list was full.
    pub gaps_unlisted: u64,
    /// Times a memory cap forced delivery past a hole.
    pub cap_flushes: u64,
    /// Bytes buffered right now (queued out of order, not yet delivered or discarded).
    pub buffered: u64,
    /// Overlaps whose two versions differed, each reported once through
    /// [`Stream::conflict`](crate::Stream::conflict). A count of events, not
    /// bytes: not part of the balance (their bytes are in `overlap_lost`).
    pub conflicts: u64,
    /// SYNs (or SYN-ACKs) of this direction ignored because their initial
    /// sequence number was not the one the peer's ACKs (or this direction's
    /// own data) confirmed: a retrying server's or a middlebox's extra
    /// SYN-ACKs, a stray SYN-ACK after the handshake. A count of events, not
    /// bytes: not part of the balance.
    pub ignored_syns: u64,
}

impl Ledger {
    /// Whether every captured byte is in exactly one bucket (buffered counts as a
    /// bucket while the stream is open).
    pub fn balanced(&self) -> bool {
        self.captured
            == self.delivered
                + self.duplicate
                + self.overlap_lost
                + self.out_of_window
                + self.after_close
                + self.evicted
                + self.keep_alive
                + self.buffered
    }

    pub(crate) fn add_gap(&mut self, offset: u64, len: u64, max_gaps: usize) {
        if len == 0 {
            return;
        }
        self.missing += len;
        if let Some(last) = self.gaps.last_mut() {
            if last.offset + last.len == offset {
                last.len += len;
                return;
            }
        }
        if self.gaps.len() < max_gaps {
            self.gaps.push(Gap { offset, len });
        } else {
            self.gaps_unlisted += 1;
        }
    }
}
