//! The out-of-order queue: new bytes (at or past the delivery point) resolved
//! against queued chunks under the overlap policy, in-order ranges handed to
//! delivery and the rest stored in pages within the memory caps; queued
//! chunks cut by the policy and trimmed at a FIN.

use crate::conflict::{Conflict, ConflictReason, Excerpt};
use crate::policy::{Overlap, Winner};
use crate::stream::Dir;

use super::retransmit::{run_equals, run_excerpt};
use super::{Calls, Chunk, Ctx, Half, Pkt};

impl Half {
    /// The FIN at offset `f` became known: bytes queued at or past it before it
    /// was known are after close, exactly as if the FIN had come first (and
    /// they must never be delivered after the end of the direction).
    pub(super) fn drop_after_fin(&mut self, f: u64, ctx: &mut Ctx<'_>) {
        for (_, c) in self.queue.split_off(&f) {
            let len = u64::from(c.run.len());
            self.buffered -= len;
            self.count(len, |l| &mut l.after_close);
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
                self.buffered -= end - f;
                self.count(end - f, |l| &mut l.after_close);
            }
        }
    }

    /// Insert `data` at offset `a` (>= next_off when started): resolve overlaps
    /// with queued chunks, deliver what is in order, queue the rest.
    pub(super) fn insert<S: Calls>(
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
                    self.count(skip_old as u64, |l| &mut l.duplicate);
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
                    self.buffered += bytes.len() as u64;
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
            self.count(1, |l| &mut l.cap_flushes);
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
            self.add_gap(self.stream_off(self.next_off), gap, ctx.max_gaps);
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
                self.count(y - x, |l| &mut l.duplicate);
                true
            } else {
                self.count(y - x, |l| &mut l.overlap_lost);
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
        self.buffered -= removed;
        true
    }
}
