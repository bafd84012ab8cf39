//! Keep-alive probes: one-byte segments that carry no new data. A TCP
//! keep-alive is sent at sequence number `next - 1` with zero or one byte
//! (Windows sends one garbage byte) so that the peer answers with an ACK.
//! Zero-byte probes carry nothing to count; a one-byte probe (ACK set; no
//! SYN, FIN or RST) goes to [`Ledger::keep_alive`](crate::Ledger::keep_alive)
//! and is never delivered when:
//! - its byte is the last byte this direction already sent: its sequence
//!   number is one before the highest sequence number seen (Wireshark's
//!   "TCP Keep-Alive" rule, with "next" the highest byte seen plus one);
//! - or, while the start of a direction picked up midstream is undecided
//!   (a connection picked up while idle, or resumed after the idle timeout),
//!   nothing beyond its byte was seen and the peer's latest ACK already
//!   covers its byte (acknowledges `seq + 1`): data the peer holds is not
//!   sent again, except as a probe. A one-byte segment at the same place
//!   still queued from before that ACK was the first probe of the series
//!   and moves from the queue to the keep-alive count too, and the
//!   direction starts no earlier than `seq + 1`.
//!
//! A single one-byte segment seen before any ACK for it, followed by data at
//! `seq + 1`, is indistinguishable from the first byte of that data and is
//! delivered. After this direction's FIN nothing is a probe.

use super::{Ctx, Half};

impl Half {
    /// Data of this direction was seen up to `seq + len` (sequence numbers).
    pub(super) fn note_seen(&mut self, seq: u32, len: u64) {
        if len == 0 {
            return;
        }
        let end = seq.wrapping_add(len as u32);
        match self.seen_end {
            Some(e) if (end.wrapping_sub(e) as i32) <= 0 => {}
            _ => self.seen_end = Some(end),
        }
    }

    /// A one-byte segment (ACK set, no SYN/FIN/RST) at `seq`: if it is a
    /// keep-alive probe, count it and return true (the caller does not
    /// process it as data).
    pub(crate) fn keep_alive(&mut self, seq: u32, ctx: &mut Ctx<'_>) -> bool {
        if self.fin_off.is_some() || self.closed {
            return false;
        }
        let after = seq.wrapping_add(1);
        let resent = self.seen_end == Some(after);
        let acked = !self.started
            && self.peer_ack == Some(after)
            && self.seen_end.is_none_or(|e| e == after);
        if !resent && !acked {
            return false;
        }
        self.captured += 1;
        self.count(1, |l| &mut l.keep_alive);
        if acked {
            if let Some(a) = self.offset_of(seq) {
                self.first_probe_was_keep_alive(a, ctx);
                if self.start_off == u64::MAX && self.queue.range(..=a).next().is_none() {
                    self.start_off = a + 1;
                }
            }
        }
        true
    }

    /// The one-byte chunk queued at `a` (if any) was an earlier probe.
    fn first_probe_was_keep_alive(&mut self, a: u64, ctx: &mut Ctx<'_>) {
        let Some(c) = self.queue.get(&a).copied() else {
            return;
        };
        if c.run.len() != 1 {
            return;
        }
        self.queue.remove(&a);
        self.buffered -= 1;
        self.count(1, |l| &mut l.keep_alive);
        self.pages -= c.run.pages() as usize;
        ctx.cache.release(c.run);
        self.pending_segments = self.pending_segments.saturating_sub(1);
    }
}
