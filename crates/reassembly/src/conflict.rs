//! Overlap conflicts: a retransmission whose bytes differ from the bytes held
//! for the same stream offsets.
//!
//! Differing overlaps are how TCP evasion and injection show up on the wire
//! (Ptacek & Newsham 1998; Novak & Sturges 2007): the observer cannot know which
//! copy the receiver kept, so every one is reported — both versions, which
//! packets carried them, and which copy the reassembled stream kept and why.
//! The assembler hands each one to [`Stream::conflict`](crate::Stream::conflict)
//! and counts it in [`Ledger::conflicts`](crate::Ledger::conflicts).

use std::fmt;
use std::ops::Deref;

use crate::policy::{Overlap, OverlapPolicy, Winner};
use crate::stream::Dir;

/// Bytes of each version kept in a [`Conflict`] (the first ones).
pub const EXCERPT_MAX: usize = 64;

/// The first (at most [`EXCERPT_MAX`]) bytes of one version of a conflicting
/// range. Fixed size, so reporting a conflict does not allocate.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Excerpt {
    len: u8,
    buf: [u8; EXCERPT_MAX],
}

impl Excerpt {
    /// The first [`EXCERPT_MAX`] bytes of `bytes`.
    pub fn new(bytes: &[u8]) -> Excerpt {
        let n = bytes.len().min(EXCERPT_MAX);
        let mut buf = [0u8; EXCERPT_MAX];
        buf[..n].copy_from_slice(&bytes[..n]);
        Excerpt { len: n as u8, buf }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl Deref for Excerpt {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.as_bytes().escape_ascii())
    }
}

/// Why the winner of a conflict won.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConflictReason {
    /// Both versions were held (the old one queued out of order) and the
    /// direction's policy decided for an overlap of this shape.
    Policy(Overlap),
    /// The old bytes had been delivered already (and were still held, so they
    /// could be compared: kept with
    /// [`keep_from`](crate::ScatterGather::keep_from), or in the
    /// [verify window](crate::AssemblerConfig::verify_window)): delivered bytes
    /// never change, the old version stays.
    Delivered,
    /// The policy chose the new bytes for an overlap of this shape, but taking
    /// them out of the middle of the stored segment needed a page the memory caps
    /// did not allow: the old version stays.
    MemoryCap(Overlap),
}

impl ConflictReason {
    /// `"policy"`, `"delivered"` or `"memory-cap"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictReason::Policy(_) => "policy",
            ConflictReason::Delivered => "delivered",
            ConflictReason::MemoryCap(_) => "memory-cap",
        }
    }

    /// The overlap shape the policy was asked about, if it was asked.
    pub fn shape(self) -> Option<Overlap> {
        match self {
            ConflictReason::Policy(s) | ConflictReason::MemoryCap(s) => Some(s),
            ConflictReason::Delivered => None,
        }
    }
}

/// One overlap whose two versions differ: the bytes a new segment carries for
/// `[stream_offset, stream_offset + len)` against the bytes held for them
/// (those of one earlier segment).
///
/// A new segment that overlaps several held segments gives one conflict per
/// held segment whose bytes differ; a range where any byte differs is a
/// conflict as a whole, and the winner takes all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict {
    /// Direction of the bytes.
    pub dir: Dir,
    /// Stream offset of the first conflicting byte, counted from the
    /// direction's first byte (missing bytes included), like [`Gap`](crate::Gap).
    pub stream_offset: u64,
    /// Number of conflicting bytes.
    pub len: u64,
    /// Frame number of the packet that carried the old version.
    pub old_frame: u64,
    /// Frame number of the packet that carried the new version.
    pub new_frame: u64,
    /// The old version's first bytes.
    pub old_bytes: Excerpt,
    /// The new version's first bytes.
    pub new_bytes: Excerpt,
    /// Which version the reassembled stream keeps.
    pub winner: Winner,
    /// The direction's overlap policy.
    pub policy: OverlapPolicy,
    /// Why the winner won.
    pub reason: ConflictReason,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_keeps_the_first_bytes() {
        let long: Vec<u8> = (0..200u8).collect();
        let e = Excerpt::new(&long);
        assert_eq!(e.len(), EXCERPT_MAX);
        assert_eq!(&e[..], &long[..EXCERPT_MAX]);
        assert_eq!(Excerpt::new(b"abc").as_bytes(), b"abc");
        assert!(Excerpt::new(b"").is_empty());
        assert_eq!(format!("{:?}", Excerpt::new(b"a\x00\"")), "b\"a\\x00\\\"\"");
    }
}
