//! One direction of a connection: sequence space, delivery point, the
//! out-of-order queue, kept bytes, FIN, and the ledger.
//!
//! Invariants:
//! - queued chunks never overlap each other and all start after `next_off`;
//! - kept bytes are exactly `[kept_end - kept.len(), kept_end)` and were delivered
//!   once; `kept_end == next_off` unless a snaplen skip moved the delivery point
//!   on since (the next delivery hands them back and reports the skip);
//! - `buffered` (the ledger's) is the number of bytes in queued chunks (kept bytes excluded);
//! - `pages` is the number of cache pages held by queued chunks and kept bytes.
//!
//! Segment cases, by where the new bytes `[a, b)` fall relative to the next
//! expected offset `n` and the queue:
//! - `a == n`: in order — delivered straight from the packet with any queued
//!   chunks that become contiguous (no copy);
//! - `a > n`: future — resolved against queued chunks by the overlap policy, the
//!   surviving pieces copied once into pages;
//! - `b <= n`: old — compared with kept bytes where they overlap, otherwise a
//!   retransmission of released bytes (counted, never delivered again);
//! - `a < n < b`: the old head is counted as above and the rest handled as in order.
//!
//! Overlaps whose bytes differ are [`Conflict`]s, reported to the stream as they
//! happen; while the start of a direction is still undecided they wait in
//! `pending_conflicts` (their stream offsets are not known yet).
//!
//! The work is split by job. This module holds the state, the start of the
//! direction (a SYN, or where a stream picked up midstream starts), the
//! dispatch of each data segment by the cases above, and conflict reporting.
//! Its submodules:
//! - `cold`: what most directions never use (the ledger counters other than
//!   captured, delivered and buffered, the gap list, ISN candidates, kept
//!   bytes and their origins, the snaplen mark, pending conflicts), out of
//!   line and allocated on first use;
//! - `queue`: new bytes at or past the delivery point (`a == n`, `a > n`, the
//!   tail of `a < n < b`) — overlaps with queued chunks resolved under the
//!   policy, in-order ranges handed to delivery, the rest stored in pages
//!   within the memory caps, the queue trimmed at a FIN;
//! - `retransmit`: old bytes (`b <= n`, the head of `a < n < b`) compared with
//!   the delivered bytes still held (the verify window, the kept bytes);
//! - `deliver`: the scatter-gather handed to the stream (kept bytes, packet
//!   bytes, contiguous queued chunks), the bytes it asks to keep, holes
//!   skipped (flushes, snaplen cuts) and the end of the direction;
//! - `isn`: which initial sequence number is real when SYNs of this direction
//!   disagree (candidates picked by the peer's ACK or by this direction's data);
//! - `keepalive`: one-byte keep-alive probes, counted and never delivered;
//! - `park`: a direction whose connection went quiet — delivered past its
//!   holes, memory released, and the sequence number that continues it.
//!
//! The seams are not walls: placing bytes delivers them when they are in order
//! and skips the oldest hole at a memory cap, and delivery drains the queue.

mod cold;
mod deliver;
mod isn;
mod keepalive;
mod park;
mod queue;
mod retransmit;

use std::collections::BTreeMap;

use crate::conflict::Conflict;
use crate::page::{PageCache, PageRun};
use crate::policy::OverlapPolicy;
use crate::scatter::{Piece, ScatterGather};
use crate::seq::SeqSpace;
use crate::stream::{Dir, Stream};
use crate::verify::{VerifyMem, VerifyWindow};

/// Offset given to the first sequence number seen in a direction whose start is
/// not known yet, so earlier segments (up to 1 GiB earlier) still map to offsets.
const MIDSTREAM_MARGIN: u64 = 1 << 30;

/// Conflicts held while a direction's start is undecided; reaching it decides
/// the start (like a memory cap), so the list stays bounded.
const PENDING_CONFLICTS_MAX: usize = 64;

/// A queued run of out-of-order bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chunk {
    pub(crate) run: PageRun,
    pub(crate) frame: u64,
    pub(crate) ts: u64,
}

/// Scratch space reused across calls so the hot path does not allocate.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub(crate) pieces: Vec<Piece>,
    pub(crate) keys: Vec<u64>,
    pub(crate) ranges: Vec<(u64, u64)>,
    pub(crate) release: Vec<PageRun>,
    pub(crate) frames: Vec<(u64, u64)>,
}

/// What a half calls back while it works: the connection's stream, with the
/// context its callbacks get.
pub(crate) trait Calls {
    /// [`Stream::conflict`].
    fn conflict(&mut self, c: &Conflict);
    /// [`Stream::reassembled`].
    fn reassembled(&mut self, sg: &mut ScatterGather<'_>);
}

/// A connection's stream and the context of its callbacks (the assembler's
/// factory), borrowed together for the length of one call into a half.
pub(crate) struct StreamCalls<'a, S: Stream> {
    pub(crate) stream: &'a mut S,
    pub(crate) ctx: &'a mut S::Context,
}

impl<S: Stream> Calls for StreamCalls<'_, S> {
    #[inline]
    fn conflict(&mut self, c: &Conflict) {
        self.stream.conflict(c, self.ctx);
    }

    #[inline]
    fn reassembled(&mut self, sg: &mut ScatterGather<'_>) {
        self.stream.reassembled(sg, self.ctx);
    }
}

/// Shared state a half needs while it works.
pub(crate) struct Ctx<'c> {
    pub(crate) cache: &'c mut PageCache,
    pub(crate) scratch: &'c mut Scratch,
    pub(crate) max_pages_per_conn: usize,
    pub(crate) max_gaps: usize,
    pub(crate) max_window: u64,
    pub(crate) midstream_window: u32,
    /// Pages the other direction of the same connection holds.
    pub(crate) other_pages: usize,
    /// Delivered bytes each direction keeps to compare retransmissions with (0: none).
    pub(crate) verify_window: usize,
    /// Memory the verify windows hold.
    pub(crate) verify_mem: &'c mut VerifyMem,
}

/// The packet currently being processed: its payload and capture facts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pkt<'p> {
    pub(crate) payload: &'p [u8],
    pub(crate) frame: u64,
    pub(crate) ts: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Half {
    /// Sequence space; `None` until a SYN or the first data segment.
    space: Option<SeqSpace>,
    /// Whether `space` came from a SYN (the ISN) rather than a guess.
    pub(crate) syn_seen: bool,
    /// Whether the stream start is decided (`next_off` is meaningful).
    started: bool,
    /// Offset of stream byte 0.
    start_off: u64,
    /// Next offset to deliver.
    next_off: u64,
    /// Where the peer's ACKs say this direction starts, before anything of it was seen.
    hint_seq: Option<u32>,
    /// The peer's latest acknowledgment number (of this direction's bytes).
    peer_ack: Option<u32>,
    /// Sequence number just past the highest data byte seen from this direction.
    seen_end: Option<u32>,
    /// The ISN (`space`'s base after a SYN) was confirmed by the peer's ACK or
    /// by data of this direction right after it.
    isn_confirmed: bool,
    queue: BTreeMap<u64, Chunk>,
    /// The last delivered bytes, when the assembler keeps a verify window
    /// (created at the first delivery).
    verify: Option<Box<VerifyWindow>>,
    /// This direction's overlap policy (its receiver's).
    pub(crate) policy: OverlapPolicy,
    fin_off: Option<u64>,
    /// FIN reached (all bytes up to it delivered) or reset/flushed at the end.
    pub(crate) closed: bool,
    /// Every byte up to this direction's FIN was delivered, in order.
    pub(crate) fin_reached: bool,
    /// Whether the end of this direction was signalled to the stream.
    end_signalled: bool,
    /// Bytes skipped since the last delivery (reported with the next one).
    pub(crate) pending_skip: u64,
    /// Data segments queued while the start was pending.
    pending_segments: u32,
    delivered_any: bool,
    /// Ledger counters every delivering direction moves; the others are in `cold`.
    pub(crate) captured: u64,
    pub(crate) delivered: u64,
    pub(crate) buffered: u64,
    /// What most directions never use (see `cold`): allocated on first use.
    cold: Option<Box<cold::Cold>>,
    pub(crate) pages: usize,
    pub(crate) packets: u64,
    /// UDP: bytes of this direction so far (datagrams are delivered as they come).
    pub(crate) udp_offset: u64,
}

impl Half {
    /// A direction that resolves overlaps with `policy`.
    pub(crate) fn with_policy(policy: OverlapPolicy) -> Half {
        Half {
            policy,
            ..Half::default()
        }
    }

    /// Report a conflict (offset absolute): now if the start is known, else later.
    fn report<S: Calls>(&mut self, mut c: Conflict, stream: &mut S) {
        if self.started {
            c.stream_offset = self.stream_off(c.stream_offset);
            self.count(1, |l| &mut l.conflicts);
            stream.conflict(&c);
        } else {
            self.cold().pending_conflicts.push(c);
        }
    }

    /// Report the conflicts held while the start was undecided.
    fn report_pending<S: Calls>(&mut self, stream: &mut S) {
        if !self.started || self.pending_conflicts().is_empty() {
            return;
        }
        for mut c in std::mem::take(&mut self.cold().pending_conflicts) {
            c.stream_offset = self.stream_off(c.stream_offset);
            self.count(1, |l| &mut l.conflicts);
            stream.conflict(&c);
        }
    }

    pub(crate) fn start_pending(&self) -> bool {
        !self.started
    }

    pub(crate) fn has_space(&self) -> bool {
        self.space.is_some()
    }

    /// Anything delivered or buffered so far.
    pub(crate) fn has_data(&self) -> bool {
        self.delivered_any || !self.queue.is_empty()
    }

    /// Every byte up to this direction's FIN was delivered in order and the
    /// peer acknowledged the FIN: nothing more can belong to this direction.
    pub(crate) fn fin_acked(&self) -> bool {
        let acked = self.peer_ack.and_then(|a| self.offset_of(a));
        self.fin_reached && matches!((self.fin_off, acked), (Some(f), Some(a)) if a > f)
    }

    pub(crate) fn isn(&self) -> Option<u32> {
        if self.syn_seen {
            self.space.map(|s| s.base())
        } else {
            None
        }
    }

    /// The sequence number the receiver expects next, if known.
    pub(crate) fn next_seq(&self) -> Option<u32> {
        let sp = self.space?;
        self.started.then(|| sp.seq_of(self.next_off))
    }

    /// Offset of `seq` near the delivery point (or the provisional base).
    pub(crate) fn offset_of(&self, seq: u32) -> Option<u64> {
        self.space?.offset_of(seq, self.next_off)
    }

    /// Stream offset (from byte 0) of an absolute offset.
    fn stream_off(&self, off: u64) -> u64 {
        off.saturating_sub(self.start_off)
    }

    /// A SYN with initial sequence number `isn` was seen from this direction.
    /// Returns false when it contradicts a different ISN with data already seen.
    pub(crate) fn on_syn(&mut self, isn: u32, ctx: &mut Ctx<'_>) -> bool {
        if self.syn_seen {
            if self.space.map(|s| s.base()) == Some(isn) {
                return true;
            }
            // Another ISN: a candidate until ACK evidence picks one.
            self.isn_candidate(isn);
            return false;
        }
        if self.delivered_any {
            // A SYN arriving after this direction's bytes were delivered (a
            // late or reordered SYN): offsets already handed to the stream
            // cannot move, so it is too late to re-home the direction.
            return self.space.map(|s| s.seq_of(self.start_off)) == Some(isn.wrapping_add(1));
        }
        self.rehome(isn, ctx);
        true
    }

    /// Make `isn` this direction's ISN (nothing of it delivered yet): queued
    /// bytes, a known FIN and pending conflicts move from the old sequence
    /// space (a provisional midstream base, or an ISN the peer did not
    /// confirm) to the new one; what falls before it is out of window.
    fn rehome(&mut self, isn: u32, ctx: &mut Ctx<'_>) {
        let new_space = SeqSpace::new(isn);
        // Re-home anything queued under a provisional base.
        if let Some(old) = self.space {
            let queued: Vec<(u64, Chunk)> = std::mem::take(&mut self.queue).into_iter().collect();
            for (off, c) in queued {
                let seq = old.seq_of(off);
                match new_space.offset_of(seq, 1) {
                    Some(n) if n >= 1 => {
                        self.queue.insert(n, c);
                    }
                    _ => {
                        let len = u64::from(c.run.len());
                        self.count(len, |l| &mut l.out_of_window);
                        self.buffered -= len;
                        self.pages -= c.run.pages() as usize;
                        ctx.cache.release(c.run);
                    }
                }
            }
        }
        if let (Some(old), Some(cold)) = (self.space, &mut self.cold) {
            for c in cold.pending_conflicts.iter_mut() {
                let seq = old.seq_of(c.stream_offset);
                c.stream_offset = new_space.offset_of(seq, 1).unwrap_or(0);
            }
        }
        // A FIN (or snaplen-cut end) seen under the provisional base moves with the data.
        if let Some(old) = self.space {
            let rehome = |off: u64| new_space.offset_of(old.seq_of(off), 1).filter(|&n| n >= 1);
            self.fin_off = self.fin_off.and_then(rehome);
            if let Some(c) = &mut self.cold {
                c.truncated_until = c.truncated_until.and_then(rehome);
            }
        }
        // Holes skipped under the provisional start (a snaplen cut, a memory
        // cap) were measured from it. Nothing was delivered, so every gap of
        // the ledger is one of them and all of them still wait in
        // `pending_skip` for the next delivery. Their bytes may sit before the
        // ISN or inside a hole of the new space: drop them, and let the holes
        // of the new space be found (and counted) as the delivery point moves.
        self.pending_skip = 0;
        self.clear_gaps();
        self.space = Some(new_space);
        self.syn_seen = true;
        self.started = true;
        self.start_off = 1;
        self.next_off = 1;
    }

    /// The peer acknowledged `ack`: if nothing of this direction has been seen,
    /// remember where it must start; if this direction's ISN is not
    /// confirmed yet, the ACK may confirm it or pick another candidate.
    pub(crate) fn on_peer_ack(&mut self, ack: u32, ctx: &mut Ctx<'_>) {
        if self.space.is_none() && self.hint_seq.is_none() {
            self.hint_seq = Some(ack);
        }
        self.peer_ack = Some(ack);
        if self.syn_seen && !self.isn_confirmed {
            self.pick_isn_by_ack(ack, ctx);
        }
    }

    /// Data bytes `data` at sequence number `seq` (already past the SYN) arrived.
    /// `fin` marks a FIN after them; `force_start` starts a pending stream here.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_data<S: Calls>(
        &mut self,
        seq: u32,
        pkt: Pkt<'_>,
        truncated: u64,
        fin: bool,
        force_start: bool,
        dir: Dir,
        ctx: &mut Ctx<'_>,
        stream: &mut S,
    ) {
        self.report_pending(stream);
        let n = pkt.payload.len() as u64;
        self.captured += n;
        if self.space.is_none() {
            let base = match self.hint_seq {
                Some(h) if SeqSpace::new(h).offset_of(seq, 0).is_some() => h,
                _ => seq,
            };
            self.space = Some(SeqSpace::new(base.wrapping_sub(MIDSTREAM_MARGIN as u32)));
            self.next_off = MIDSTREAM_MARGIN;
            if base != seq {
                // The hint is the earliest start we know of.
                self.start_off = MIDSTREAM_MARGIN;
            } else {
                self.start_off = u64::MAX;
            }
        }
        self.note_seen(seq, n + truncated);
        let Some(a) = self.offset_of(seq) else {
            self.count(n, |l| &mut l.out_of_window);
            return;
        };
        if self.closed {
            // Retransmissions of bytes before the FIN are old; the rest is after close.
            let before_fin = match self.fin_off {
                Some(f) if self.started => f.min(self.next_off).saturating_sub(a).min(n),
                _ => 0,
            };
            if before_fin > 0 {
                let old = &pkt.payload[..before_fin as usize];
                self.old_bytes(a, old, pkt.frame, dir, ctx, stream);
            }
            self.count(n - before_fin, |l| &mut l.after_close);
            return;
        }
        let mut data = pkt.payload;
        let mut a = a;
        // Bytes past a known FIN are after close.
        if let Some(f) = self.fin_off {
            let end = a + n;
            if end > f {
                let cut = (end - f).min(n);
                self.count(cut, |l| &mut l.after_close);
                data = &data[..(n - cut) as usize];
            }
        }
        let total_len = data.len() as u64 + truncated;
        if fin && self.fin_off.is_none() {
            self.fin_off = Some(a + total_len);
            self.drop_after_fin(a + total_len, ctx);
        }
        if self.started {
            self.skip_truncated(a, dir, ctx, stream);
            // Before the start.
            if a < self.start_off {
                let cut = (self.start_off - a).min(data.len() as u64);
                self.count(cut, |l| &mut l.out_of_window);
                data = &data[cut as usize..];
                a += cut;
            }
            if a > self.next_off.saturating_add(ctx.max_window) {
                self.count(data.len() as u64, |l| &mut l.out_of_window);
                data = &[];
            }
            // Old bytes: before the delivery point.
            if a < self.next_off && !data.is_empty() {
                let old = (self.next_off - a).min(data.len() as u64) as usize;
                self.old_bytes(a, &data[..old], pkt.frame, dir, ctx, stream);
                data = &data[old..];
                a += old as u64;
            }
        } else if a < self.start_off && self.start_off != u64::MAX {
            // While pending, the provisional start only moves earlier.
            self.start_off = a;
        }
        if !data.is_empty() {
            self.insert(a, data, pkt, dir, ctx, stream);
        }
        if truncated > 0 && self.started {
            // Snaplen cut bytes right after this data. If the data reached the
            // delivery point, remember them: unless a later segment brings them
            // (a retransmission), they are missing, and the next segment beyond
            // them is delivered at once instead of waiting behind a hole.
            let captured_end = a + data.len() as u64;
            if self.next_off == captured_end {
                self.cold().truncated_until = Some(captured_end + truncated);
            }
        }
        if !self.started {
            self.pending_segments += 1;
            let conflicts_full = self.pending_conflicts().len() >= PENDING_CONFLICTS_MAX;
            if conflicts_full {
                self.count(1, |l| &mut l.cap_flushes);
            }
            if force_start || conflicts_full || self.pending_segments >= ctx.midstream_window {
                self.decide_start(dir, ctx, stream);
            }
        }
        self.check_fin(dir, ctx, stream);
    }

    /// Decide where a stream picked up without its handshake starts: at the
    /// lowest offset seen (or the peer's ACK, if earlier).
    fn decide_start<S: Calls>(&mut self, dir: Dir, ctx: &mut Ctx<'_>, stream: &mut S) {
        if self.started {
            return;
        }
        let first = self.queue.keys().next().copied();
        let start = match (first, self.start_off) {
            (Some(f), u64::MAX) => f,
            (Some(f), s) => f.min(s),
            (None, u64::MAX) => self.next_off,
            (None, s) => s,
        };
        self.started = true;
        self.start_off = start;
        self.next_off = start;
        self.report_pending(stream);
        self.deliver_queued(dir, ctx, stream);
    }

    /// Release every page (the connection is gone).
    pub(crate) fn release_all(&mut self, ctx: &mut Ctx<'_>) {
        for (_, c) in std::mem::take(&mut self.queue) {
            let len = u64::from(c.run.len());
            self.buffered -= len;
            self.count(len, |l| &mut l.evicted);
            ctx.cache.release(c.run);
        }
        if let Some(k) = self.take_kept() {
            ctx.cache.release(k.run);
        }
        if let Some(w) = self.verify.take() {
            w.release(ctx.verify_mem);
        }
        if let Some(c) = &mut self.cold {
            c.kept_frames.clear();
        }
        self.pages = 0;
    }

    /// Bytes queued.
    pub(crate) fn queued_bytes(&self) -> u64 {
        self.buffered
    }
}

#[cfg(test)]
mod tests {
    use super::Half;

    /// Bytes per direction state (issue #18): at most 176 (it was 416 with
    /// the whole ledger, ISN candidates, kept bytes and their origins, the
    /// snaplen mark and pending conflicts inline; those now live in `cold`,
    /// allocated on first use).
    #[test]
    fn direction_state_stays_small() {
        let size = std::mem::size_of::<Half>();
        assert!(size <= 176, "Half is {size} bytes, budget 176");
    }
}
