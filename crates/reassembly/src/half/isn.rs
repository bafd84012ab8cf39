//! Which initial sequence number is real. A direction may send several SYNs
//! (SYN-ACKs) with different ISNs: a server retrying with a new ISN, a
//! middlebox answering for it, a stray or injected SYN-ACK. The first one
//! seen gives the sequence space; the others are held as candidates (a few)
//! until evidence picks one:
//! - the peer's ACK: an acknowledgment in `[isn + 1, isn + 1 + max_window]`
//!   of exactly one ISN, or the nearest when several fit;
//! - this direction's data starting exactly at `isn + 1`.
//!
//! Once picked, the ISN is confirmed and later SYNs with another ISN change
//! nothing. Picking a candidate re-homes what was queued under the old ISN
//! (nothing of it was delivered: data at the delivery point would have
//! confirmed the old ISN first). Every SYN whose ISN loses is counted in
//! [`Ledger::ignored_syns`](crate::Ledger::ignored_syns).

use super::{Ctx, Half};

/// ISNs held besides the current one while none is confirmed; later ones are
/// ignored (and counted).
pub(crate) const MAX_CANDIDATES: usize = 4;

impl Half {
    /// Whether the peer's `ack` acknowledges this direction's known sequence
    /// space (from its start, or `max_window` before the delivery point, to
    /// `max_window` past it): evidence that a SYN-ACK carrying it belongs to
    /// this connection. True when nothing of this direction is known.
    pub(crate) fn acknowledges_own(&self, ack: u32, max_window: u64) -> bool {
        let Some(sp) = self.space else {
            return true;
        };
        let low = if self.syn_seen {
            0
        } else {
            self.next_off.saturating_sub(max_window)
        };
        sp.offset_of(ack, self.next_off)
            .is_some_and(|o| o >= low && o <= self.next_off.saturating_add(max_window))
    }

    /// A SYN of this direction carries `isn`, not the current ISN.
    pub(super) fn isn_candidate(&mut self, isn: u32) {
        if self.isn_candidates().contains(&isn) {
            return;
        }
        if self.isn_confirmed || self.delivered_any || self.isn_candidates().len() >= MAX_CANDIDATES
        {
            self.count(1, |l| &mut l.ignored_syns);
            return;
        }
        self.cold().isn_candidates.push(isn);
    }

    /// The peer acknowledged `ack`: confirm the ISN it acknowledges, if any.
    pub(super) fn pick_isn_by_ack(&mut self, ack: u32, ctx: &mut Ctx<'_>) {
        let Some(current) = self.space.map(|s| s.base()) else {
            return;
        };
        let window = ctx.max_window;
        let dist = |isn: u32| {
            let d = u64::from(ack.wrapping_sub(isn.wrapping_add(1)));
            (d <= window).then_some(d)
        };
        let mut best = dist(current).map(|d| (d, current));
        for &c in self.isn_candidates() {
            if let Some(d) = dist(c) {
                if best.is_none_or(|(b, _)| d < b) {
                    best = Some((d, c));
                }
            }
        }
        if let Some((_, isn)) = best {
            self.confirm_isn(isn, ctx);
        }
    }

    /// Data of this direction (not a SYN's) starts at `seq`: when it starts
    /// exactly after one of the ISNs while none is confirmed, that one is real.
    pub(crate) fn pick_isn_by_data(&mut self, seq: u32, ctx: &mut Ctx<'_>) {
        if !self.syn_seen || self.isn_confirmed {
            return;
        }
        let start = seq.wrapping_sub(1);
        let current = self.space.map(|s| s.base());
        if current == Some(start) || self.isn_candidates().contains(&start) {
            self.confirm_isn(start, ctx);
        }
    }

    /// `isn` is the real ISN: the other candidates (and the current ISN, if
    /// it is not `isn`) are ignored SYNs; the direction moves to `isn`.
    fn confirm_isn(&mut self, isn: u32, ctx: &mut Ctx<'_>) {
        let current = self.space.map(|s| s.base());
        let losers = self.isn_candidates().iter().filter(|&&c| c != isn).count();
        self.count(losers as u64, |l| &mut l.ignored_syns);
        if let Some(c) = &mut self.cold {
            c.isn_candidates = Vec::new();
        }
        self.isn_confirmed = true;
        if current != Some(isn) {
            self.count(1, |l| &mut l.ignored_syns);
            if !self.delivered_any {
                self.rehome(isn, ctx);
            }
        }
    }
}
