//! The retransmission check: old bytes (before the delivery point) compared
//! with the delivered bytes still held (the verify window, the kept bytes),
//! differing ones reported as conflicts the delivered version wins; and the
//! page-run comparisons the queue's overlap check shares.

use crate::conflict::{Conflict, ConflictReason, Excerpt, EXCERPT_MAX};
use crate::page::{PageCache, PageRun};
use crate::policy::Winner;
use crate::stream::Dir;

use super::{Calls, Ctx, Half};

impl Half {
    /// Compare old (already delivered) bytes at `[a, a+len)` with the delivered
    /// bytes still held: the verify window where it reaches, kept bytes
    /// before it. Differing ones are conflicts the delivered version wins (it
    /// cannot change); equal ones are duplicates, and so are bytes no longer
    /// held (released bytes cannot be compared) or never delivered (skipped).
    pub(super) fn old_bytes<S: Calls>(
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
        self.count(len - compared, |l| &mut l.duplicate);
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
                self.count(n, |l| &mut l.duplicate);
                continue;
            }
            self.count(n, |l| &mut l.overlap_lost);
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
        let Some(k) = self.kept() else {
            return 0;
        };
        let kept_end = self.kept_end();
        let kept_start = kept_end.saturating_sub(u64::from(k.run.len()));
        let mut compared = 0;
        for i in 0..self.kept_frames().len() {
            let (from, old_frame) = self.kept_frames()[i];
            let to = self.kept_frames().get(i + 1).map_or(kept_end, |e| e.0);
            let x = a.max(from).max(kept_start);
            let y = (a + len).min(to).min(kept_end);
            if x >= y {
                continue;
            }
            compared += y - x;
            let new = &data[(x - a) as usize..(y - a) as usize];
            let at = (x - kept_start) as u32;
            if run_equals(ctx.cache, &k.run, at, new) {
                self.count(y - x, |l| &mut l.duplicate);
                continue;
            }
            self.count(y - x, |l| &mut l.overlap_lost);
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
}

/// Whether the `data.len()` bytes of `run` at `from` are `data` (false if the
/// run ends first).
pub(super) fn run_equals(cache: &PageCache, run: &PageRun, from: u32, data: &[u8]) -> bool {
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

/// The first bytes of the `len` bytes of `run` at `from` (at most [`EXCERPT_MAX`]).
pub(super) fn run_excerpt(cache: &PageCache, run: &PageRun, from: u32, len: u64) -> Excerpt {
    let mut buf = [0u8; EXCERPT_MAX];
    let want = len.min(EXCERPT_MAX as u64) as usize;
    let n = cache.read_into(run, from, &mut buf[..want]);
    Excerpt::new(&buf[..n])
}
