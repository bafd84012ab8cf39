//! Read-ahead hints for the record walk over a mapped capture.
//!
//! Each record's length sits in its header, and the next record starts after
//! it, so walking a capture is a chain of loads, each waiting for memory in
//! turn. [`Ahead`] asks the processor for the cache lines a fixed distance
//! ahead of the walk, so that by the time the walk reaches a record its
//! header is already in cache.

/// How far ahead of the walk lines are requested, in bytes.
pub(crate) const DISTANCE: usize = 4 * 1024;

const LINE: usize = 64;

/// Requests every cache line of `data` up to [`DISTANCE`] bytes past the
/// walk's position, each once.
#[derive(Debug, Default)]
pub(crate) struct Ahead {
    /// First byte not yet requested.
    next: usize,
}

impl Ahead {
    /// The walk is at `pos`: request the lines up to `pos + DISTANCE`.
    #[inline]
    pub(crate) fn at(&mut self, data: &[u8], pos: usize) {
        let end = pos.saturating_add(DISTANCE).min(data.len());
        let mut at = self.next.max(pos);
        while at < end {
            hint(data, at);
            at += LINE;
        }
        self.next = self.next.max(at);
    }
}

/// Ask for the cache line holding `data[at]` (`at < data.len()`).
#[inline(always)]
#[allow(unsafe_code)]
fn hint(data: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = data[at..].as_ptr().cast::<i8>();
        // SAFETY: a prefetch is a hint: it reads nothing into the program,
        // never faults, and `p` points into `data`.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, at);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_each_line_once_and_stays_inside_the_data() {
        let data = vec![0u8; 3 * DISTANCE + 100];
        let mut ahead = Ahead::default();
        ahead.at(&data, 0);
        assert_eq!(ahead.next, DISTANCE);
        // A step inside what is already requested asks for the new lines only.
        ahead.at(&data, 100);
        assert_eq!(ahead.next, DISTANCE + 128);
        // A jump past the requested lines starts from the walk's position.
        ahead.at(&data, 2 * DISTANCE + 10);
        assert_eq!(ahead.next, 3 * DISTANCE + 10);
        // Near the end the requests stop at the last line.
        ahead.at(&data, 3 * DISTANCE);
        assert!(ahead.next >= data.len() && ahead.next < data.len() + LINE);
        // At and past the end: nothing to request, and no out-of-bounds access.
        ahead.at(&data, data.len());
        ahead.at(&data, usize::MAX);
        ahead.at(&[], 0);
    }
}
