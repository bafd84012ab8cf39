//! Delivery: the scatter-gather of kept bytes, packet bytes and the queued
//! chunks contiguous after them handed to the stream, the bytes it asks to
//! keep copied, holes skipped (flushes, snaplen cuts) and the end signalled.

use crate::page::{PageCache, PageRun};
use crate::scatter::{Piece, ScatterGather, Skipped, Source};
use crate::stream::Dir;
use crate::verify::VerifyWindow;

use super::{Calls, Chunk, Ctx, Half, Pkt};

impl Half {
    /// A segment starting at `a` arrived: if bytes cut by snaplen sit between the
    /// delivery point and `a`, they are missing — skip them.
    pub(super) fn skip_truncated<S: Calls>(
        &mut self,
        a: u64,
        dir: Dir,
        ctx: &mut Ctx<'_>,
        stream: &mut S,
    ) {
        let Some(t) = self.truncated_until() else {
            return;
        };
        if t <= self.next_off {
            self.cold().truncated_until = None;
            return;
        }
        if a > self.next_off {
            // Never past queued bytes: a chunk inside the cut range arrived
            // (a retransmission) and is delivered, not skipped.
            let first_queued = self.queue.keys().next().copied().unwrap_or(u64::MAX);
            let to = a.min(t).min(first_queued);
            let gap = to - self.next_off;
            self.add_gap(self.stream_off(self.next_off), gap, ctx.max_gaps);
            self.next_off = to;
            self.pending_skip += gap;
            self.cold().truncated_until = None;
            self.deliver_queued(dir, ctx, stream);
        }
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
    pub(super) fn flush_one_hole<S: Calls>(
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
            self.add_gap(self.stream_off(self.next_off), gap, ctx.max_gaps);
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
        if let Some(t) = self.cold.as_mut().and_then(|c| c.truncated_until.take()) {
            if self.started && t > self.next_off && self.queue.is_empty() {
                let gap = t - self.next_off;
                self.add_gap(self.stream_off(self.next_off), gap, ctx.max_gaps);
                self.next_off = t;
                // The end notice that follows reports the skip like any delivery.
                self.pending_skip += gap;
            }
        }
        if let Some(f) = self.fin_off {
            if self.started && f > self.next_off && !self.closed {
                // Bytes between the last delivered byte and the FIN never arrived.
                let gap = f - self.next_off;
                self.add_gap(self.stream_off(self.next_off), gap, ctx.max_gaps);
                self.next_off = f;
                self.pending_skip += gap;
            }
        }
        // Conflicts of a direction that never started (nothing to deliver).
        if !self.pending_conflicts().is_empty() {
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
    pub(super) fn check_fin<S: Calls>(&mut self, dir: Dir, ctx: &mut Ctx<'_>, stream: &mut S) {
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
        if self.delivered_any || self.kept().is_some() {
            let empty = Pkt {
                payload: &[],
                frame: 0,
                ts: 0,
            };
            self.deliver(None, empty, true, dir, ctx, stream);
        }
        self.end_signalled = true;
        if let Some(c) = &mut self.cold {
            c.kept_frames.clear();
        }
        if let Some(k) = self.take_kept() {
            self.pages -= k.run.pages() as usize;
            ctx.cache.release(k.run);
        }
    }

    /// Hand the stream: kept bytes, then packet bytes `[from, to)` at `next_off`
    /// (if any), then queued chunks contiguous after them.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn deliver<S: Calls>(
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
        let kept_piece = usize::from(self.kept().is_some());
        if let Some(k) = self.kept() {
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
            self.buffered -= len as u64;
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
        self.delivered += new_bytes;
        self.delivered_any = true;
        self.pending_skip = 0;
        self.next_off = cursor;
        if end {
            self.end_signalled = true;
        }
        // Keep bytes [keep, total) for the next call: copy them into a new run.
        let old_kept = self.take_kept();
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
                            let kept_end = self.kept_end();
                            let first_abs = kept_end - saved as u64 + lo as u64;
                            let kept_frames = self.kept_frames();
                            for (j, &(o, fr)) in kept_frames.iter().enumerate() {
                                let end = kept_frames.get(j + 1).map_or(kept_end, |n| n.0);
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
                        let cold = self.cold();
                        cold.kept_end = cursor;
                        cold.kept = Some(Chunk {
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
        if self.kept().is_none() {
            frames.clear();
        }
        // Nothing to allocate for when no bytes are kept and none were.
        if !frames.is_empty() {
            std::mem::swap(&mut self.cold().kept_frames, &mut frames);
        } else if let Some(c) = &mut self.cold {
            std::mem::swap(&mut c.kept_frames, &mut frames);
        }
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
