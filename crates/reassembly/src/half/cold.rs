//! The parts of a direction that most connections never use, kept out of
//! line in one allocation made on first use: the ledger counters other than
//! the three every delivering direction moves (captured, delivered,
//! buffered), the gap list, ISN candidates, bytes the stream asked to keep
//! and their origins, the end of bytes snaplen cut at the delivery point,
//! and conflicts waiting for the start. A direction that only ever delivers in
//! order never allocates it, so the in-order path stays allocation-free and
//! each direction state stays small.

use crate::conflict::Conflict;
use crate::ledger::Ledger;

use super::{Chunk, Half};

/// The out-of-line part of a [`Half`].
#[derive(Debug, Default)]
pub(super) struct Cold {
    /// The ledger's counters and gaps, except `captured`, `delivered` and
    /// `buffered` (kept inline in the half; always zero here).
    pub(super) ledger: Ledger,
    /// Other ISNs seen in SYNs of this direction while the ISN was not
    /// confirmed (at most [`super::isn::MAX_CANDIDATES`]).
    pub(super) isn_candidates: Vec<u32>,
    /// Delivered bytes the stream asked to keep for its next call.
    pub(super) kept: Option<Chunk>,
    /// Offset just past the kept bytes: `next_off` when they were kept (a
    /// snaplen skip may move the delivery point on before the next delivery).
    pub(super) kept_end: u64,
    /// End of bytes right at the delivery point that snaplen cut off.
    pub(super) truncated_until: Option<u64>,
    /// Where the kept bytes came from: (offset of the first byte, frame), in
    /// offset order; the first entry starts at the first kept byte.
    pub(super) kept_frames: Vec<(u64, u64)>,
    /// Conflicts found before the start was decided, with `stream_offset`
    /// holding the absolute offset until they are reported.
    pub(super) pending_conflicts: Vec<Conflict>,
}

impl Half {
    /// The out-of-line part, allocated on first use.
    pub(super) fn cold(&mut self) -> &mut Cold {
        self.cold.get_or_insert_with(Box::default)
    }

    /// Add `n` to one of the out-of-line ledger counters (nothing is
    /// allocated for 0).
    pub(super) fn count(&mut self, n: u64, counter: impl FnOnce(&mut Ledger) -> &mut u64) {
        if n > 0 {
            *counter(&mut self.cold().ledger) += n;
        }
    }

    /// Record `len` missing bytes at stream offset `offset` (see [`Ledger`]).
    pub(crate) fn add_gap(&mut self, offset: u64, len: u64, max_gaps: usize) {
        if len > 0 {
            self.cold().ledger.add_gap(offset, len, max_gaps);
        }
    }

    /// Forget the holes recorded so far (their offsets no longer hold).
    pub(super) fn clear_gaps(&mut self) {
        if let Some(c) = &mut self.cold {
            c.ledger.missing = 0;
            c.ledger.gaps.clear();
            c.ledger.gaps_unlisted = 0;
        }
    }

    /// Whether the out-of-line part was allocated.
    #[cfg(test)]
    pub(crate) fn has_cold(&self) -> bool {
        self.cold.is_some()
    }

    pub(super) fn kept(&self) -> Option<Chunk> {
        self.cold.as_ref().and_then(|c| c.kept)
    }

    pub(super) fn take_kept(&mut self) -> Option<Chunk> {
        self.cold.as_mut().and_then(|c| c.kept.take())
    }

    pub(super) fn kept_end(&self) -> u64 {
        self.cold.as_ref().map_or(0, |c| c.kept_end)
    }

    pub(super) fn truncated_until(&self) -> Option<u64> {
        self.cold.as_ref().and_then(|c| c.truncated_until)
    }

    pub(super) fn isn_candidates(&self) -> &[u32] {
        self.cold.as_ref().map_or(&[], |c| &c.isn_candidates)
    }

    pub(super) fn kept_frames(&self) -> &[(u64, u64)] {
        self.cold.as_ref().map_or(&[], |c| &c.kept_frames)
    }

    pub(super) fn pending_conflicts(&self) -> &[Conflict] {
        self.cold.as_ref().map_or(&[], |c| &c.pending_conflicts)
    }

    /// This direction's ledger so far.
    pub(crate) fn ledger(&self) -> Ledger {
        let mut l = self
            .cold
            .as_ref()
            .map(|c| c.ledger.clone())
            .unwrap_or_default();
        self.fill_hot(&mut l);
        l
    }

    /// This direction's ledger, taken (the direction is done).
    pub(crate) fn take_ledger(&mut self) -> Ledger {
        let mut l = self
            .cold
            .as_mut()
            .map(|c| std::mem::take(&mut c.ledger))
            .unwrap_or_default();
        self.fill_hot(&mut l);
        l
    }

    fn fill_hot(&self, l: &mut Ledger) {
        l.captured = self.captured;
        l.delivered = self.delivered;
        l.buffered = self.buffered;
    }
}
