//! One direction of a connection: sequence space, delivery point, the
//! out-of-order queue, kept bytes, FIN, and the ledger.
//!
//! Invariants:
//! - queued chunks never overlap each other and all start after `next_off`;
//! - kept bytes are exactly `[kept_end - kept.len(), kept_end)` and were delivered
//!   once; `kept_end == next_off` unless a snaplen skip moved the delivery point
//!   on since (the next delivery hands them back and reports the skip);
//! - `ledger.buffered` is the number of bytes in queued chunks (kept bytes excluded);
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

use std::collections::BTreeMap;

use crate::conflict::{Conflict, ConflictReason, Excerpt, EXCERPT_MAX};
use crate::ledger::Ledger;
use crate::page::{PageCache, PageRun};
use crate::policy::{Overlap, OverlapPolicy, Winner};
use crate::scatter::{Piece, ScatterGather, Skipped, Source};
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
    queue: BTreeMap<u64, Chunk>,
    kept: Option<Chunk>,
    /// Offset just past the kept bytes: `next_off` when they were kept (a
    /// snaplen skip may move the delivery point on before the next delivery).
    kept_end: u64,
    /// Where the kept bytes came from: (offset of the first byte, frame), in
    /// offset order; the first entry starts at the first kept byte.
    kept_frames: Vec<(u64, u64)>,
    /// The last delivered bytes, when the assembler keeps a verify window
    /// (created at the first delivery).
    verify: Option<Box<VerifyWindow>>,
    /// This direction's overlap policy (its receiver's).
    pub(crate) policy: OverlapPolicy,
    /// Conflicts found before the start was decided, with `stream_offset`
    /// holding the absolute offset until they are reported.
    pending_conflicts: Vec<Conflict>,
    fin_off: Option<u64>,
    /// FIN reached (all bytes up to it delivered) or reset/flushed at the end.
    pub(crate) closed: bool,
    /// Every byte up to this direction's FIN was delivered, in order.
    pub(crate) fin_reached: bool,
    /// Whether the end of this direction was signalled to the stream.
    end_signalled: bool,
    /// Bytes skipped since the last delivery (reported with the next one).
    pub(crate) pending_skip: u64,
    /// End of bytes right at the delivery point that snaplen cut off.
    truncated_until: Option<u64>,
    /// Data segments queued while the start was pending.
    pending_segments: u32,
    delivered_any: bool,
    pub(crate) ledger: Ledger,
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
            self.ledger.conflicts += 1;
            stream.conflict(&c);
        } else {
            self.pending_conflicts.push(c);
        }
    }

    /// Report the conflicts held while the start was undecided.
    fn report_pending<S: Calls>(&mut self, stream: &mut S) {
        if !self.started || self.pending_conflicts.is_empty() {
            return;
        }
        for mut c in std::mem::take(&mut self.pending_conflicts) {
            c.stream_offset = self.stream_off(c.stream_offset);
            self.ledger.conflicts += 1;
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
            return self.space.map(|s| s.base()) == Some(isn) || !self.has_data();
        }
        if self.delivered_any {
            // A SYN arriving after this direction's bytes were delivered (a
            // late or reordered SYN): offsets already handed to the stream
            // cannot move, so it is too late to re-home the direction.
            return self.space.map(|s| s.seq_of(self.start_off)) == Some(isn.wrapping_add(1));
        }
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
                        self.ledger.out_of_window += len;
                        self.ledger.buffered -= len;
                        self.pages -= c.run.pages() as usize;
                        ctx.cache.release(c.run);
                    }
                }
            }
        }
        if let Some(old) = self.space {
            for c in self.pending_conflicts.iter_mut() {
                let seq = old.seq_of(c.stream_offset);
                c.stream_offset = new_space.offset_of(seq, 1).unwrap_or(0);
            }
        }
        // A FIN (or snaplen-cut end) seen under the provisional base moves with the data.
        if let Some(old) = self.space {
            let rehome = |off: u64| new_space.offset_of(old.seq_of(off), 1).filter(|&n| n >= 1);
            self.fin_off = self.fin_off.and_then(rehome);
            self.truncated_until = self.truncated_until.and_then(rehome);
        }
        // Holes skipped under the provisional start (a snaplen cut, a memory
        // cap) were measured from it. Nothing was delivered, so every gap of
        // the ledger is one of them and all of them still wait in
        // `pending_skip` for the next delivery. Their bytes may sit before the
        // ISN or inside a hole of the new space: drop them, and let the holes
        // of the new space be found (and counted) as the delivery point moves.
        self.pending_skip = 0;
        self.ledger.missing = 0;
        self.ledger.gaps.clear();
        self.ledger.gaps_unlisted = 0;
        self.space = Some(new_space);
        self.syn_seen = true;
        self.started = true;
        self.start_off = 1;
        self.next_off = 1;
        true
    }

    /// The peer acknowledged `ack`: if nothing of this direction has been seen,
    /// remember where it must start.
    pub(crate) fn on_peer_ack(&mut self, ack: u32) {
        if self.space.is_none() && self.hint_seq.is_none() {
            self.hint_seq = Some(ack);
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
        self.ledger.captured += n;
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
        let Some(a) = self.offset_of(seq) else {
            self.ledger.out_of_window += n;
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
            self.ledger.after_close += n - before_fin;
            return;
        }
        let mut data = pkt.payload;
        let mut a = a;
        // Bytes past a known FIN are after close.
        if let Some(f) = self.fin_off {
            let end = a + n;
            if end > f {
                let cut = (end - f).min(n);
                self.ledger.after_close += cut;
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
                self.ledger.out_of_window += cut;
                data = &data[cut as usize..];
                a += cut;
            }
            if a > self.next_off.saturating_add(ctx.max_window) {
                self.ledger.out_of_window += data.len() as u64;
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
                self.truncated_until = Some(captured_end + truncated);
            }
        }
        if !self.started {
            self.pending_segments += 1;
            let conflicts_full = self.pending_conflicts.len() >= PENDING_CONFLICTS_MAX;
            if conflicts_full {
                self.ledger.cap_flushes += 1;
            }
            if force_start || conflicts_full || self.pending_segments >= ctx.midstream_window {
                self.decide_start(dir, ctx, stream);
            }
        }
        self.check_fin(dir, ctx, stream);
    }

    /// The FIN at offset `f` became known: bytes queued at or past it before it
    /// was known are after close, exactly as if the FIN had come first (and
    /// they must never be delivered after the end of the direction).
    fn drop_after_fin(&mut self, f: u64, ctx: &mut Ctx<'_>) {
        for (_, c) in self.queue.split_off(&f) {
            let len = u64::from(c.run.len());
            self.ledger.buffered -= len;
            self.ledger.after_close += len;
            self.pages -= c.run.pages() as usize;
            ctx.cache.release(c.run);
        }
        if let Some(mut e) = self.queue.last_entry() {
            let k = *e.key();
            let c = e.get_mut();
            let end = k + u64::from(c.run.len());
            if end > f {
                let before = c.run.pages() as usize;
                ctx.cache.truncate(&mut c.run, (f - k) as u32);
                self.pages = self.pages - before + c.run.pages() as usize;
                self.ledger.buffered -= end - f;
                self.ledger.after_close += end - f;
            }
        }
    }

    /// A segment starting at `a` arrived: if bytes cut by snaplen sit between the
    /// delivery point and `a`, they are missing — skip them.
    fn skip_truncated<S: Calls>(&mut self, a: u64, dir: Dir, ctx: &mut Ctx<'_>, stream: &mut S) {
        let Some(t) = self.truncated_until else {
            return;
        };
        if t <= self.next_off {
            self.truncated_until = None;
            return;
        }
        if a > self.next_off {
            // Never past queued bytes: a chunk inside the cut range arrived
            // (a retransmission) and is delivered, not skipped.
            let first_queued = self.queue.keys().next().copied().unwrap_or(u64::MAX);
            let to = a.min(t).min(first_queued);
            let gap = to - self.next_off;
            self.ledger
                .add_gap(self.stream_off(self.next_off), gap, ctx.max_gaps);
            self.next_off = to;
            self.pending_skip += gap;
            self.truncated_until = None;
            self.deliver_queued(dir, ctx, stream);
        }
    }

    /// Compare old (already delivered) bytes at `[a, a+len)` with the delivered
    /// bytes still held: the verify window where it reaches, kept bytes
    /// before it. Differing ones are conflicts the delivered version wins (it
    /// cannot change); equal ones are duplicates, and so are bytes no longer
    /// held (released bytes cannot be compared) or never delivered (skipped).
    fn old_bytes<S: Calls>(
        &mut self,
        a: u64,
        data: &[u8],
        frame: u64,
        dir: Dir,
        ctx: &mut Ctx<'_>,
        stream: &mut S,
    ) {
        let len = data.len() as u64;
        let b = a + len;
        // Offsets from here on are the window's to compare (kept bytes there
        // are a copy of the same delivered bytes).
        let window_start = self.verify.as_ref().map_or(b, |w| w.start().max(a).min(b));
        let mut compared = 0;
        if window_start > a {
            let below = &data[..(window_start - a) as usize];
            compared += self.compare_kept(a, below, frame, dir, ctx, stream);
        }
        if window_start < b {
            let rest = &data[(window_start - a) as usize..];
            compared += self.compare_window(window_start, rest, frame, dir, stream);
        }
        self.ledger.duplicate += len - compared;
    }

    /// Compare old bytes at `[a, a+len)` with the verify window, one delivered
    /// packet's bytes at a time. Returns the number of bytes compared (the
    /// ledger counts them).
    fn compare_window<S: Calls>(
        &mut self,
        a: u64,
        data: &[u8],
        frame: u64,
        dir: Dir,
        stream: &mut S,
    ) -> u64 {
        let Some(w) = self.verify.take() else {
            return 0;
        };
        let b = a + data.len() as u64;
        let mut compared = 0;
        for h in w.held(a, b) {
            let n = h.to - h.from;
            compared += n;
            let new = &data[(h.from - a) as usize..(h.to - a) as usize];
            if w.equals(h.from, new) {
                self.ledger.duplicate += n;
                continue;
            }
            self.ledger.overlap_lost += n;
            let c = Conflict {
                dir,
                stream_offset: h.from,
                len: n,
                old_frame: h.frame,
                new_frame: frame,
                old_bytes: w.excerpt(h.from, n),
                new_bytes: Excerpt::new(new),
                winner: Winner::Old,
                policy: self.policy,
                reason: ConflictReason::Delivered,
            };
            self.report(c, stream);
        }
        self.verify = Some(w);
        compared
    }

    /// Compare old bytes at `[a, a+len)` with the kept bytes where they
    /// overlap, one kept packet's bytes at a time. Returns the number of bytes
    /// compared (the ledger counts them).
    fn compare_kept<S: Calls>(
        &mut self,
        a: u64,
        data: &[u8],
        frame: u64,
        dir: Dir,
        ctx: &mut Ctx<'_>,
        stream: &mut S,
    ) -> u64 {
        let len = data.len() as u64;
        let Some(k) = self.kept else {
            return 0;
        };
        let kept_end = self.kept_end;
        let kept_start = kept_end.saturating_sub(u64::from(k.run.len()));
        let mut compared = 0;
        for i in 0..self.kept_frames.len() {
            let (from, old_frame) = self.kept_frames[i];
            let to = self.kept_frames.get(i + 1).map_or(kept_end, |e| e.0);
            let x = a.max(from).max(kept_start);
            let y = (a + len).min(to).min(kept_end);
            if x >= y {
                continue;
            }
            compared += y - x;
            let new = &data[(x - a) as usize..(y - a) as usize];
            let at = (x - kept_start) as u32;
            if run_equals(ctx.cache, &k.run, at, new) {
                self.ledger.duplicate += y - x;
                continue;
            }
            self.ledger.overlap_lost += y - x;
            let c = Conflict {
                dir,
                stream_offset: x,
                len: y - x,
                old_frame,
                new_frame: frame,
                old_bytes: run_excerpt(ctx.cache, &k.run, at, y - x),
                new_bytes: Excerpt::new(new),
                winner: Winner::Old,
                policy: self.policy,
                reason: ConflictReason::Delivered,
            };
            self.report(c, stream);
        }
        compared
    }

    /// Insert `data` at offset `a` (>= next_off when started): resolve overlaps
    /// with queued chunks, deliver what is in order, queue the rest.
    fn insert<S: Calls>(
        &mut self,
        a: u64,
        data: &[u8],
        pkt: Pkt<'_>,
        dir: Dir,
        ctx: &mut Ctx<'_>,
        stream: &mut S,
    ) {
        let mut ranges = std::mem::take(&mut ctx.scratch.ranges);
        self.resolve(a, data, pkt.frame, dir, ctx, stream, &mut ranges);
        let base_in_packet = (data.as_ptr() as usize).wrapping_sub(pkt.payload.as_ptr() as usize);
        for &(p, q) in ranges.iter() {
            let from = base_in_packet + (p - a) as usize;
            let to = base_in_packet + (q - a) as usize;
            self.place(p, q, from, to, pkt, dir, ctx, stream);
        }
        ranges.clear();
        ctx.scratch.ranges = ranges;
    }

    /// Put packet bytes `[from, to)` (stream offsets `[p, q)`) in order or in the queue.
    #[allow(clippy::too_many_arguments)]
    fn place<S: Calls>(
        &mut self,
        p: u64,
        q: u64,
        from: usize,
        to: usize,
        pkt: Pkt<'_>,
        dir: Dir,
        ctx: &mut Ctx<'_>,
        stream: &mut S,
    ) {
        loop {
            if self.started && p <= self.next_off {
                // In order (p < next_off only if a flush delivered past p; then
                // the bytes up to next_off are old).
                let skip_old = (self.next_off.min(q) - p) as usize;
                if skip_old > 0 {
                    self.ledger.duplicate += skip_old as u64;
                }
                if from + skip_old < to {
                    self.deliver(Some((from + skip_old, to)), pkt, false, dir, ctx, stream);
                }
                return;
            }
            let bytes = &pkt.payload[from..to];
            let need = ctx.cache.pages_for(bytes.len()).max(1);
            let room_conn = ctx
                .max_pages_per_conn
                .saturating_sub(self.pages + ctx.other_pages);
            if need <= room_conn && need <= ctx.cache.available() {
                if let Some(run) = ctx.cache.store(bytes) {
                    self.pages += run.pages() as usize;
                    self.ledger.buffered += bytes.len() as u64;
                    self.queue.insert(
                        p,
                        Chunk {
                            run,
                            frame: pkt.frame,
                            ts: pkt.ts,
                        },
                    );
                    return;
                }
            }
            // A memory cap: make room by skipping the oldest hole.
            self.ledger.cap_flushes += 1;
            if !self.started {
                self.decide_start(dir, ctx, stream);
                continue;
            }
            if let Some((&k, _)) = self.queue.iter().next() {
                if k < p {
                    self.flush_one_hole(pkt, dir, ctx, stream);
                    continue;
                }
            }
            // Nothing older is queued: skip the hole before these bytes and deliver them.
            let gap = p - self.next_off;
            self.ledger
                .add_gap(self.stream_off(self.next_off), gap, ctx.max_gaps);
            self.next_off = p;
            self.pending_skip += gap;
            self.deliver(Some((from, to)), pkt, false, dir, ctx, stream);
            return;
        }
    }

    /// Resolve `[a, a+len)` against queued chunks under the policy, reporting
    /// differing overlaps. Pushes the surviving ranges of the new bytes into `out`.
    #[allow(clippy::too_many_arguments)]
    fn resolve<S: Calls>(
        &mut self,
        a: u64,
        data: &[u8],
        frame: u64,
        dir: Dir,
        ctx: &mut Ctx<'_>,
        stream: &mut S,
        out: &mut Vec<(u64, u64)>,
    ) {
        out.clear();
        let b = a + data.len() as u64;
        let mut keys = std::mem::take(&mut ctx.scratch.keys);
        keys.clear();
        if let Some((&k, c)) = self.queue.range(..=a).next_back() {
            if k + u64::from(c.run.len()) > a {
                keys.push(k);
            }
        }
        if a + 1 < b {
            keys.extend(self.queue.range(a + 1..b).map(|(&k, _)| k));
        }
        let mut cursor = a;
        for &k in keys.iter() {
            let Some(chunk) = self.queue.get(&k).copied() else {
                continue;
            };
            let c = k;
            let d = k + u64::from(chunk.run.len());
            let x = a.max(c);
            let y = b.min(d);
            if x >= y {
                continue;
            }
            let new_bytes = &data[(x - a) as usize..(y - a) as usize];
            let at = (x - c) as u32;
            let drop_new = if run_equals(ctx.cache, &chunk.run, at, new_bytes) {
                self.ledger.duplicate += y - x;
                true
            } else {
                self.ledger.overlap_lost += y - x;
                let shape = Overlap::of(a, b, c, d);
                // Read the old version before the policy may release its pages.
                let old_bytes = run_excerpt(ctx.cache, &chunk.run, at, y - x);
                let (winner, reason) = match self.policy.decide(shape) {
                    Winner::Old => (Winner::Old, ConflictReason::Policy(shape)),
                    Winner::New if self.cut_chunk(k, chunk, x, y, ctx) => {
                        (Winner::New, ConflictReason::Policy(shape))
                    }
                    Winner::New => (Winner::Old, ConflictReason::MemoryCap(shape)),
                };
                let conflict = Conflict {
                    dir,
                    stream_offset: x,
                    len: y - x,
                    old_frame: chunk.frame,
                    new_frame: frame,
                    old_bytes,
                    new_bytes: Excerpt::new(new_bytes),
                    winner,
                    policy: self.policy,
                    reason,
                };
                self.report(conflict, stream);
                winner == Winner::Old
            };
            if drop_new {
                if x > cursor {
                    out.push((cursor, x));
                }
                cursor = y;
            }
        }
        if cursor < b {
            out.push((cursor, b));
        }
        ctx.scratch.keys = keys;
    }

    /// Remove `[x, y)` from the queued chunk at `k`. False when it cannot (cap).
    fn cut_chunk(&mut self, k: u64, chunk: Chunk, x: u64, y: u64, ctx: &mut Ctx<'_>) -> bool {
        let d = k + u64::from(chunk.run.len());
        let removed = y - x;
        let mut run = chunk.run;
        let before = run.pages() as usize;
        if x == k && y == d {
            self.queue.remove(&k);
            ctx.cache.release(run);
            self.pages -= before;
        } else if x == k {
            self.queue.remove(&k);
            ctx.cache.trim_front(&mut run, (y - k) as u32);
            self.pages = self.pages - before + run.pages() as usize;
            self.queue.insert(y, Chunk { run, ..chunk });
        } else if y == d {
            ctx.cache.truncate(&mut run, (x - k) as u32);
            self.pages = self.pages - before + run.pages() as usize;
            self.queue.insert(k, Chunk { run, ..chunk });
        } else {
            let Some(right) = ctx.cache.copy_range(&run, (y - k) as u32, (d - y) as u32) else {
                return false;
            };
            ctx.cache.truncate(&mut run, (x - k) as u32);
            self.pages = self.pages - before + run.pages() as usize + right.pages() as usize;
            self.queue.insert(k, Chunk { run, ..chunk });
            self.queue.insert(
                y,
                Chunk {
                    run: right,
                    ..chunk
                },
            );
        }
        self.ledger.buffered -= removed;
        true
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

    /// Deliver queued chunks that are contiguous with `next_off`.
    pub(crate) fn deliver_queued<S: Calls>(&mut self, dir: Dir, ctx: &mut Ctx<'_>, stream: &mut S) {
        if self.queue.keys().next() == Some(&self.next_off) {
            let empty = Pkt {
                payload: &[],
                frame: 0,
                ts: 0,
            };
            self.deliver(None, empty, false, dir, ctx, stream);
        }
    }

    /// Skip the hole before the first queued chunk and deliver what follows it.
    fn flush_one_hole<S: Calls>(
        &mut self,
        _pkt: Pkt<'_>,
        dir: Dir,
        ctx: &mut Ctx<'_>,
        stream: &mut S,
    ) {
        let Some(&k) = self.queue.keys().next() else {
            return;
        };
        let gap = k.saturating_sub(self.next_off);
        if gap > 0 {
            self.ledger
                .add_gap(self.stream_off(self.next_off), gap, ctx.max_gaps);
            self.next_off = k;
            self.pending_skip += gap;
        }
        self.deliver_queued(dir, ctx, stream);
    }

    /// Deliver past holes whose first queued chunk arrived before `older_than`
    /// (all holes when `None`).
    pub(crate) fn flush<S: Calls>(
        &mut self,
        older_than: Option<u64>,
        dir: Dir,
        ctx: &mut Ctx<'_>,
        stream: &mut S,
    ) {
        self.report_pending(stream);
        if !self.started {
            let old_enough = match older_than {
                None => true,
                Some(t) => self.queue.values().any(|c| c.ts < t),
            };
            if !old_enough || self.queue.is_empty() {
                return;
            }
            self.decide_start(dir, ctx, stream);
        }
        while let Some((_, c)) = self.queue.iter().next() {
            if let Some(t) = older_than {
                if c.ts >= t {
                    break;
                }
            }
            let empty = Pkt {
                payload: &[],
                frame: 0,
                ts: 0,
            };
            self.flush_one_hole(empty, dir, ctx, stream);
        }
        self.check_fin(dir, ctx, stream);
    }

    /// The connection ends: deliver everything, release pages, signal the end.
    pub(crate) fn finish<S: Calls>(&mut self, dir: Dir, ctx: &mut Ctx<'_>, stream: &mut S) {
        self.flush(None, dir, ctx, stream);
        if let Some(t) = self.truncated_until.take() {
            if self.started && t > self.next_off && self.queue.is_empty() {
                let gap = t - self.next_off;
                self.ledger
                    .add_gap(self.stream_off(self.next_off), gap, ctx.max_gaps);
                self.next_off = t;
                // The end notice that follows reports the skip like any delivery.
                self.pending_skip += gap;
            }
        }
        if let Some(f) = self.fin_off {
            if self.started && f > self.next_off && !self.closed {
                // Bytes between the last delivered byte and the FIN never arrived.
                let gap = f - self.next_off;
                self.ledger
                    .add_gap(self.stream_off(self.next_off), gap, ctx.max_gaps);
                self.next_off = f;
                self.pending_skip += gap;
            }
        }
        // Conflicts of a direction that never started (nothing to deliver).
        if !self.pending_conflicts.is_empty() {
            self.started = true;
            if self.start_off == u64::MAX {
                self.start_off = self.next_off;
            }
            self.report_pending(stream);
        }
        self.closed = true;
        self.signal_end(dir, ctx, stream);
    }

    /// FIN reached in order: close the direction.
    fn check_fin<S: Calls>(&mut self, dir: Dir, ctx: &mut Ctx<'_>, stream: &mut S) {
        if let Some(f) = self.fin_off {
            if self.started && !self.closed && self.next_off >= f {
                self.closed = true;
                self.fin_reached = true;
                self.signal_end(dir, ctx, stream);
            }
        }
    }

    fn signal_end<S: Calls>(&mut self, dir: Dir, ctx: &mut Ctx<'_>, stream: &mut S) {
        if self.end_signalled {
            return;
        }
        if self.delivered_any || self.kept.is_some() {
            let empty = Pkt {
                payload: &[],
                frame: 0,
                ts: 0,
            };
            self.deliver(None, empty, true, dir, ctx, stream);
        }
        self.end_signalled = true;
        self.kept_frames.clear();
        if let Some(k) = self.kept.take() {
            self.pages -= k.run.pages() as usize;
            ctx.cache.release(k.run);
        }
    }

    /// Hand the stream: kept bytes, then packet bytes `[from, to)` at `next_off`
    /// (if any), then queued chunks contiguous after them.
    #[allow(clippy::too_many_arguments)]
    fn deliver<S: Calls>(
        &mut self,
        packet: Option<(usize, usize)>,
        pkt: Pkt<'_>,
        end: bool,
        dir: Dir,
        ctx: &mut Ctx<'_>,
        stream: &mut S,
    ) {
        let mut pieces = std::mem::take(&mut ctx.scratch.pieces);
        pieces.clear();
        let mut saved = 0usize;
        let kept_piece = usize::from(self.kept.is_some());
        if let Some(k) = &self.kept {
            saved = k.run.len() as usize;
            pieces.push(Piece {
                src: Source::Run(k.run),
                len: saved,
                frame: k.frame,
                ts: k.ts,
            });
        }
        let first_new_off = self.next_off;
        let mut cursor = self.next_off;
        if let Some((from, to)) = packet {
            pieces.push(Piece {
                src: Source::Packet { from, to },
                len: to - from,
                frame: pkt.frame,
                ts: pkt.ts,
            });
            cursor += (to - from) as u64;
        }
        let mut released = std::mem::take(&mut ctx.scratch.release);
        released.clear();
        while let Some(entry) = self.queue.first_entry() {
            if *entry.key() != cursor {
                break;
            }
            let c = entry.remove();
            let len = c.run.len() as usize;
            self.ledger.buffered -= len as u64;
            pieces.push(Piece {
                src: Source::Run(c.run),
                len,
                frame: c.frame,
                ts: c.ts,
            });
            released.push(c.run);
            cursor += len as u64;
        }
        let new_bytes = cursor - first_new_off;
        let end = end || self.fin_off.is_some_and(|f| cursor >= f);
        if new_bytes == 0 && saved == 0 && !end {
            ctx.scratch.pieces = pieces;
            ctx.scratch.release = released;
            return;
        }
        let total = saved + new_bytes as usize;
        let mut sg = ScatterGather {
            pieces: &pieces,
            packet: pkt.payload,
            pages: ctx.cache,
            dir,
            start: !self.delivered_any,
            end,
            skip: if self.pending_skip > 0 {
                Skipped::Bytes(self.pending_skip)
            } else {
                Skipped::None
            },
            saved,
            len: total,
            stream_offset: self.stream_off(first_new_off) - saved as u64,
            keep: None,
        };
        stream.reassembled(&mut sg);
        let keep = if end { None } else { sg.keep };
        if ctx.verify_window > 0 && new_bytes > 0 {
            // Copy the new bytes into the verify window (before queued pages go).
            let w = self.verify.get_or_insert_with(|| {
                Box::new(VerifyWindow::new(ctx.verify_window, first_new_off))
            });
            let mut at = first_new_off;
            for p in pieces.iter().skip(kept_piece) {
                match p.src {
                    Source::Packet { from, to } => {
                        w.push(at, &pkt.payload[from..to], p.frame, ctx.verify_mem);
                    }
                    Source::Run(r) => {
                        let mut o = at;
                        for s in ctx.cache.slices(&r) {
                            w.push(o, s, p.frame, ctx.verify_mem);
                            o += s.len() as u64;
                        }
                    }
                }
                at += p.len as u64;
            }
        }
        self.ledger.delivered += new_bytes;
        self.delivered_any = true;
        self.pending_skip = 0;
        self.next_off = cursor;
        if end {
            self.end_signalled = true;
        }
        // Keep bytes [keep, total) for the next call: copy them into a new run.
        let old_kept = self.kept.take();
        // Where the new kept bytes came from, by absolute offset.
        let base = first_new_off - saved as u64;
        let mut frames = std::mem::take(&mut ctx.scratch.frames);
        frames.clear();
        if let Some(from) = keep {
            let want = total - from;
            let need = ctx.cache.pages_for(want).max(1);
            let room = ctx
                .max_pages_per_conn
                .saturating_sub(self.pages + ctx.other_pages);
            if need <= room {
                if let Some(mut run) = ctx.cache.store(&[]) {
                    let mut at = 0usize;
                    let mut ok = true;
                    let mut last = (0, 0);
                    for (i, p) in pieces.iter().enumerate() {
                        let (s, e) = (at, at + p.len);
                        at = e;
                        if e <= from {
                            continue;
                        }
                        let lo = from.saturating_sub(s);
                        last = (p.frame, p.ts);
                        let first_abs = base + (s + lo) as u64;
                        if i == 0 && saved > 0 {
                            // The previously kept bytes (before any skip): keep
                            // their own origins.
                            let first_abs = self.kept_end - saved as u64 + lo as u64;
                            for (j, &(o, fr)) in self.kept_frames.iter().enumerate() {
                                let end =
                                    self.kept_frames.get(j + 1).map_or(self.kept_end, |n| n.0);
                                if end > first_abs {
                                    frames.push((o.max(first_abs), fr));
                                }
                            }
                        } else {
                            frames.push((first_abs, p.frame));
                        }
                        ok &= match p.src {
                            Source::Packet { from: f, .. } => ctx
                                .cache
                                .append(&mut run, &pkt.payload[f + lo..f + p.len])
                                .is_some(),
                            Source::Run(r) => {
                                append_run(ctx.cache, &mut run, &r, lo as u32).is_some()
                            }
                        };
                    }
                    if ok {
                        self.pages += run.pages() as usize;
                        self.kept_end = cursor;
                        self.kept = Some(Chunk {
                            run,
                            frame: last.0,
                            ts: last.1,
                        });
                    } else {
                        ctx.cache.release(run);
                    }
                }
            }
        }
        if self.kept.is_none() {
            frames.clear();
        }
        std::mem::swap(&mut self.kept_frames, &mut frames);
        ctx.scratch.frames = frames;
        if let Some(k) = old_kept {
            self.pages -= k.run.pages() as usize;
            ctx.cache.release(k.run);
        }
        for r in released.drain(..) {
            self.pages -= r.pages() as usize;
            ctx.cache.release(r);
        }
        pieces.clear();
        ctx.scratch.pieces = pieces;
        ctx.scratch.release = released;
    }

    /// Release every page (the connection is gone).
    pub(crate) fn release_all(&mut self, ctx: &mut Ctx<'_>) {
        for (_, c) in std::mem::take(&mut self.queue) {
            let len = u64::from(c.run.len());
            self.ledger.buffered -= len;
            self.ledger.evicted += len;
            ctx.cache.release(c.run);
        }
        if let Some(k) = self.kept.take() {
            ctx.cache.release(k.run);
        }
        if let Some(w) = self.verify.take() {
            w.release(ctx.verify_mem);
        }
        self.kept_frames.clear();
        self.pages = 0;
    }

    /// Bytes queued.
    pub(crate) fn queued_bytes(&self) -> u64 {
        self.ledger.buffered
    }
}

fn run_equals(cache: &PageCache, run: &PageRun, from: u32, data: &[u8]) -> bool {
    let mut skip = from as usize;
    let mut rest = data;
    for s in cache.slices(run) {
        if rest.is_empty() {
            break;
        }
        if skip >= s.len() {
            skip -= s.len();
            continue;
        }
        let s = &s[skip..];
        skip = 0;
        let n = s.len().min(rest.len());
        if s[..n] != rest[..n] {
            return false;
        }
        rest = &rest[n..];
    }
    rest.is_empty()
}

fn append_run(cache: &mut PageCache, dst: &mut PageRun, src: &PageRun, from: u32) -> Option<()> {
    let mut tmp = [0u8; 512];
    let mut at = from;
    loop {
        let n = cache.read_into(src, at, &mut tmp);
        if n == 0 {
            return Some(());
        }
        cache.append(dst, &tmp[..n])?;
        at += n as u32;
    }
}

/// The first bytes of the `len` bytes of `run` at `from` (at most [`EXCERPT_MAX`]).
fn run_excerpt(cache: &PageCache, run: &PageRun, from: u32, len: u64) -> Excerpt {
    let mut buf = [0u8; EXCERPT_MAX];
    let want = len.min(EXCERPT_MAX as u64) as usize;
    let n = cache.read_into(run, from, &mut buf[..want]);
    Excerpt::new(&buf[..n])
}
