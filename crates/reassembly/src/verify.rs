//! The verify window: a copy of the last bytes one direction delivered, so a
//! retransmission of bytes that were already delivered can still be compared.
//!
//! In-order bytes are handed to the stream straight from packet memory and are
//! not retained, so without a copy a retransmission of delivered bytes can only
//! be counted as a duplicate. With [`AssemblerConfig::verify_window`] set, each
//! direction keeps the last `verify_window` delivered bytes in a ring, with the
//! frame each one came from; a retransmission that contradicts them is a
//! [`Conflict`](crate::Conflict) with reason
//! [`Delivered`](crate::ConflictReason::Delivered) (the delivered version stays:
//! it cannot change). This is how an injected segment that raced the real one
//! shows up (Zeek's `rexmit_inconsistency`; the NSA "Quantum Insert" attack,
//! where the forged response arrives first and is delivered).
//!
//! Invariants:
//! - bytes `[start, end)` are valid at ring position `offset % buf.len()`,
//!   except ranges whose origin is [`NO_FRAME`] (skipped bytes, never delivered);
//! - `end - start <= buf.len() <= cap`;
//! - `origins` is in offset order, its first entry starts at or before `start`,
//!   and it holds at most `max_origins` entries: when more packets than that
//!   fall in the window, the oldest bytes stop being comparable (`start` moves
//!   up), so the frame records stay bounded too;
//! - `accounted` is the memory last reported to the assembler's counter.
//!
//! Memory per direction: the ring (it grows by doubling up to `cap` bytes, so a
//! short flow does not pay for the whole window) plus the origin records (16
//! bytes each, at most one per [`BYTES_PER_ORIGIN`] bytes of window, and at
//! least [`MIN_ORIGINS`]): at most `1.25 * cap + 256` bytes.
//!
//! [`AssemblerConfig::verify_window`]: crate::AssemblerConfig::verify_window

use std::collections::VecDeque;

use crate::conflict::{Excerpt, EXCERPT_MAX};

/// Origin of bytes that were skipped (a gap), not delivered.
const NO_FRAME: u64 = u64::MAX;

/// The window keeps one origin record per this many bytes of capacity (at
/// least [`MIN_ORIGINS`]); past that, the oldest records and their bytes go.
pub(crate) const BYTES_PER_ORIGIN: usize = 64;

/// The fewest origin records a window keeps.
const MIN_ORIGINS: usize = 16;

/// Smallest ring allocated.
const MIN_RING: usize = 256;

/// Bytes the verify windows of one assembler hold, now and at most.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct VerifyMem {
    pub(crate) in_use: usize,
    pub(crate) high_water: usize,
}

impl VerifyMem {
    fn set(&mut self, old: usize, new: usize) {
        self.in_use = self.in_use - old + new;
        self.high_water = self.high_water.max(self.in_use);
    }
}

/// The last delivered bytes of one direction (see the module docs).
#[derive(Debug)]
pub(crate) struct VerifyWindow {
    buf: Vec<u8>,
    cap: usize,
    start: u64,
    end: u64,
    /// (absolute offset of the first byte, frame), in offset order.
    origins: VecDeque<(u64, u64)>,
    max_origins: usize,
    accounted: usize,
}

/// A range of delivered bytes with one origin, inside the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Held {
    pub(crate) from: u64,
    pub(crate) to: u64,
    pub(crate) frame: u64,
}

impl VerifyWindow {
    /// An empty window of at most `cap` bytes (`cap > 0`) whose first byte will be at `off`.
    pub(crate) fn new(cap: usize, off: u64) -> VerifyWindow {
        VerifyWindow {
            buf: Vec::new(),
            cap,
            start: off,
            end: off,
            origins: VecDeque::new(),
            max_origins: (cap / BYTES_PER_ORIGIN).max(MIN_ORIGINS),
            accounted: 0,
        }
    }

    /// Oldest comparable offset.
    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    /// Offset just past the newest byte.
    #[cfg(test)]
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Memory held: ring and origin records.
    fn memory(&self) -> usize {
        self.buf.capacity() + self.origins.capacity() * std::mem::size_of::<(u64, u64)>()
    }

    /// Report the memory change to `mem`.
    fn account(&mut self, mem: &mut VerifyMem) {
        let now = self.memory();
        mem.set(self.accounted, now);
        self.accounted = now;
    }

    /// Give back the memory (the direction is gone).
    pub(crate) fn release(mut self, mem: &mut VerifyMem) {
        self.buf = Vec::new();
        self.origins = VecDeque::new();
        self.account(mem);
    }

    /// Bytes `data` at absolute offset `off` were delivered, from frame `frame`.
    /// Offsets only grow: a start past `end` leaves the bytes between as not
    /// comparable (skipped), bytes before `end` are ignored.
    pub(crate) fn push(&mut self, off: u64, data: &[u8], frame: u64, mem: &mut VerifyMem) {
        let mut off = off;
        let mut data = data;
        if off < self.end {
            let dup = usize::try_from(self.end - off).map_or(data.len(), |d| d.min(data.len()));
            data = &data[dup..];
            off = self.end;
        }
        if data.is_empty() {
            return;
        }
        if off > self.end {
            if off - self.end >= self.cap as u64 {
                // Nothing before the skip can stay: start afresh.
                self.origins.clear();
                self.start = off;
            } else if self.start < self.end {
                self.add_origin(self.end, NO_FRAME);
            } else {
                self.start = off;
            }
            self.end = off;
        }
        let new_end = off + data.len() as u64;
        self.grow(new_end - self.start, mem);
        let len = self.buf.len();
        // Only the last `len` bytes can stay.
        let keep = data.len().min(len);
        let from = off + (data.len() - keep) as u64;
        self.write(from, &data[data.len() - keep..]);
        self.add_origin(off, frame);
        self.end = new_end;
        self.start = self.start.max(new_end.saturating_sub(len as u64));
        self.trim_origins();
        self.account(mem);
    }

    /// Make the ring hold `span` bytes if the cap allows, keeping the valid ones.
    fn grow(&mut self, span: u64, mem: &mut VerifyMem) {
        let len = self.buf.len();
        if len >= self.cap || span <= len as u64 {
            return;
        }
        let want = usize::try_from(span)
            .unwrap_or(usize::MAX)
            .max(MIN_RING)
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX)
            .min(self.cap);
        let old = std::mem::replace(&mut self.buf, vec![0u8; want]);
        if !old.is_empty() {
            // Valid bytes are [start, end), at most `len` of them: re-place them.
            let mut at = self.start;
            while at < self.end {
                let p = (at % len as u64) as usize;
                let n = ((self.end - at) as usize).min(len - p);
                self.write(at, &old[p..p + n]);
                at += n as u64;
            }
        }
        self.account(mem);
    }

    /// Copy `data` to the ring positions of `[off, off + data.len())` (fits the ring).
    fn write(&mut self, off: u64, data: &[u8]) {
        let len = self.buf.len();
        let mut at = (off % len as u64) as usize;
        let mut rest = data;
        while !rest.is_empty() {
            let n = rest.len().min(len - at);
            self.buf[at..at + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            at = 0;
        }
    }

    /// Record that bytes from `off` on came from `frame`. Past the record
    /// limit the oldest record goes, and its bytes stop being comparable.
    fn add_origin(&mut self, off: u64, frame: u64) {
        if let Some(&(_, f)) = self.origins.back() {
            // Contiguous bytes of the same packet (or of one skip) are one range.
            if f == frame && off == self.end {
                return;
            }
        }
        if self.origins.len() >= self.max_origins {
            self.origins.pop_front();
            if let Some(&(o, _)) = self.origins.front() {
                self.start = self.start.max(o);
            }
        }
        if self.origins.len() == self.origins.capacity() {
            // Grow by doubling, but never past the limit.
            let more = self
                .origins
                .len()
                .max(MIN_ORIGINS)
                .min(self.max_origins - self.origins.len());
            self.origins.reserve_exact(more.max(1));
        }
        self.origins.push_back((off, frame));
    }

    /// Forget origin records wholly before `start`.
    fn trim_origins(&mut self) {
        while self.origins.len() >= 2 && self.origins[1].0 <= self.start {
            self.origins.pop_front();
        }
    }

    /// The delivered ranges (with their frames) that overlap `[x, y)`, clipped
    /// to it, in offset order; skipped ranges are left out.
    pub(crate) fn held(&self, x: u64, y: u64) -> impl Iterator<Item = Held> + '_ {
        let (x, y) = (x.max(self.start), y.min(self.end));
        // The record holding `x`: the last one starting at or before it.
        let first = self
            .origins
            .partition_point(|&(o, _)| o <= x)
            .saturating_sub(1);
        (first..self.origins.len())
            .take_while(move |&i| self.origins[i].0 < y)
            .filter_map(move |i| {
                let (from, frame) = self.origins[i];
                let to = self.origins.get(i + 1).map_or(self.end, |n| n.0);
                let (from, to) = (from.max(x), to.min(y));
                (from < to && frame != NO_FRAME).then_some(Held { from, to, frame })
            })
    }

    /// The ring's bytes of `[off, off + len)` (inside the window) as at most two slices.
    fn slices(&self, off: u64, len: usize) -> (&[u8], &[u8]) {
        let size = self.buf.len();
        let p = (off % size as u64) as usize;
        let first = len.min(size - p);
        (&self.buf[p..p + first], &self.buf[..len - first])
    }

    /// Whether the delivered bytes at `off` equal `data` (inside the window).
    pub(crate) fn equals(&self, off: u64, data: &[u8]) -> bool {
        let (a, b) = self.slices(off, data.len());
        a == &data[..a.len()] && b == &data[a.len()..]
    }

    /// The first delivered bytes of `[off, off + len)` (inside the window).
    pub(crate) fn excerpt(&self, off: u64, len: u64) -> Excerpt {
        let n = len.min(EXCERPT_MAX as u64) as usize;
        let (a, b) = self.slices(off, n);
        let mut buf = [0u8; EXCERPT_MAX];
        buf[..a.len()].copy_from_slice(a);
        buf[a.len()..n].copy_from_slice(b);
        Excerpt::new(&buf[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(w: &VerifyWindow, x: u64, y: u64) -> Vec<(u64, u64, u64)> {
        w.held(x, y).map(|h| (h.from, h.to, h.frame)).collect()
    }

    fn bytes(w: &VerifyWindow, off: u64, len: usize) -> Vec<u8> {
        let (a, b) = w.slices(off, len);
        [a, b].concat()
    }

    #[test]
    fn keeps_the_last_bytes_with_their_frames() {
        let mut mem = VerifyMem::default();
        let mut w = VerifyWindow::new(8, 100);
        w.push(100, b"abcd", 1, &mut mem);
        w.push(104, b"ef", 2, &mut mem);
        assert_eq!(held(&w, 0, 200), vec![(100, 104, 1), (104, 106, 2)]);
        assert_eq!(bytes(&w, 100, 6), b"abcdef");
        w.push(106, b"ghij", 3, &mut mem);
        // Only 8 bytes fit: "cdefghij".
        assert_eq!((w.start(), w.end()), (102, 110));
        assert_eq!(
            held(&w, 0, 200),
            vec![(102, 104, 1), (104, 106, 2), (106, 110, 3)]
        );
        assert_eq!(bytes(&w, 102, 8), b"cdefghij");
        assert!(w.equals(105, b"fgh"));
        assert!(!w.equals(105, b"fgX"));
        assert_eq!(w.excerpt(108, 2).as_bytes(), b"ij");
        assert_eq!(mem.in_use, w.memory());
        w.release(&mut mem);
        assert_eq!(mem.in_use, 0);
        assert!(mem.high_water >= 8);
    }

    #[test]
    fn a_push_longer_than_the_window_keeps_its_end() {
        let mut mem = VerifyMem::default();
        let mut w = VerifyWindow::new(4, 0);
        w.push(0, b"0123456789", 7, &mut mem);
        assert_eq!((w.start(), w.end()), (6, 10));
        assert_eq!(bytes(&w, 6, 4), b"6789");
        assert_eq!(held(&w, 0, 10), vec![(6, 10, 7)]);
    }

    #[test]
    fn skipped_bytes_are_not_comparable() {
        let mut mem = VerifyMem::default();
        let mut w = VerifyWindow::new(1024, 0);
        w.push(0, b"abc", 1, &mut mem);
        w.push(10, b"xyz", 2, &mut mem);
        assert_eq!(held(&w, 0, 13), vec![(0, 3, 1), (10, 13, 2)]);
        assert!(w.equals(10, b"xyz"));
        // A skip longer than the window forgets everything before it.
        w.push(5000, b"q", 3, &mut mem);
        assert_eq!(held(&w, 0, 6000), vec![(5000, 5001, 3)]);
    }

    #[test]
    fn grows_by_doubling_and_keeps_bytes() {
        let mut mem = VerifyMem::default();
        let mut w = VerifyWindow::new(4096, 0);
        let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        for (i, c) in data.chunks(100).enumerate() {
            w.push(i as u64 * 100, c, i as u64, &mut mem);
        }
        assert!(w.buf.len() <= 4096);
        assert_eq!(w.start(), 0);
        assert_eq!(bytes(&w, 0, 3000), data);
        assert_eq!(
            held(&w, 250, 420),
            vec![(250, 300, 2), (300, 400, 3), (400, 420, 4)]
        );
    }

    #[test]
    fn origin_records_are_bounded() {
        let mut mem = VerifyMem::default();
        let mut w = VerifyWindow::new(1024, 0);
        for i in 0..100u64 {
            w.push(i, b"x", i, &mut mem);
        }
        // At most 16 records: the bytes of the newest 16 packets.
        assert_eq!(w.origins.len(), MIN_ORIGINS);
        assert_eq!(w.start(), 100 - MIN_ORIGINS as u64);
        assert_eq!(held(&w, 0, 100).len(), MIN_ORIGINS);
        assert!(w.origins.capacity() <= MIN_ORIGINS);
        assert!(w.memory() <= 1024 + 1024 / 4 + 256);
    }

    #[test]
    fn wraps_around_the_ring() {
        let mut mem = VerifyMem::default();
        let mut w = VerifyWindow::new(256, 0);
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for (i, c) in data.chunks(37).enumerate() {
            w.push(i as u64 * 37, c, i as u64, &mut mem);
        }
        assert_eq!(w.end(), 1000);
        assert_eq!(w.start(), 1000 - 256);
        assert_eq!(bytes(&w, 744, 256), &data[744..]);
        assert!(w.equals(900, &data[900..1000]));
        assert_eq!(
            w.excerpt(744, 256).as_bytes(),
            &data[744..744 + EXCERPT_MAX]
        );
    }
}
