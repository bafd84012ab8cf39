//! Sequence numbers to stream offsets: the one place TCP's 32-bit wraparound is handled.
//!
//! Every direction keeps a base sequence number; a segment's sequence number becomes
//! a 64-bit offset by reading the signed 32-bit distance from a reference point
//! whose offset is known (RFC 9293 §3.4 sequence arithmetic, RFC 1982 serial
//! numbers). Everything after this module compares plain `u64` offsets.

/// Maps 32-bit sequence numbers of one direction onto 64-bit offsets.
///
/// Invariant: `seq_of(off) == base.wrapping_add(off as u32)` for every offset,
/// and `offset_of(seq_of(r), r) == Some(r)` for every reference `r`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqSpace {
    base: u32,
}

impl SeqSpace {
    /// A space whose offset 0 is sequence number `base`.
    pub fn new(base: u32) -> Self {
        SeqSpace { base }
    }

    /// Sequence number at offset 0.
    pub fn base(&self) -> u32 {
        self.base
    }

    /// The sequence number of offset `off`.
    pub fn seq_of(&self, off: u64) -> u32 {
        self.base.wrapping_add(off as u32)
    }

    /// The offset of `seq`, taking the interpretation within ±2^31 of the
    /// reference offset `near` (usually the next expected offset). `None` when
    /// that lands before offset 0.
    pub fn offset_of(&self, seq: u32, near: u64) -> Option<u64> {
        let near_seq = self.seq_of(near);
        let diff = i64::from(seq.wrapping_sub(near_seq) as i32);
        let off = i128::from(near) + i128::from(diff);
        u64::try_from(off).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn across_the_wrap() {
        let s = SeqSpace::new(0xFFFF_FFF0);
        assert_eq!(s.offset_of(0xFFFF_FFF0, 0), Some(0));
        assert_eq!(s.offset_of(0x0000_0010, 0), Some(0x20));
        assert_eq!(s.offset_of(0x0000_0010, 0x18), Some(0x20));
        assert_eq!(s.seq_of(0x20), 0x10);
    }

    #[test]
    fn before_zero_is_none() {
        let s = SeqSpace::new(1000);
        assert_eq!(s.offset_of(999, 0), None);
        assert_eq!(s.offset_of(999, 5), None);
        assert_eq!(s.offset_of(1001, 5), Some(1));
    }

    #[test]
    fn many_wraps_keep_growing() {
        let s = SeqSpace::new(7);
        let far = 5u64 << 32;
        assert_eq!(s.offset_of(s.seq_of(far + 3), far), Some(far + 3));
        assert_eq!(s.offset_of(s.seq_of(far - 3), far), Some(far - 3));
    }

    proptest! {
        #[test]
        fn roundtrip(base in any::<u32>(), near in 0u64..(1u64 << 40), d in -(1i64 << 31)..(1i64 << 31)) {
            let s = SeqSpace::new(base);
            let target = near as i64 + d;
            let got = s.offset_of(s.seq_of(target.max(0) as u64), near);
            if target >= 0 {
                prop_assert_eq!(got, Some(target as u64));
            }
        }
    }
}
