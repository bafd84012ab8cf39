//! IPv4 and IPv6 fragment reassembly in bounded memory.
//!
//! Fragments are grouped by [`FragKey`] (IP version, source, destination,
//! identification and protocol: RFC 791 section 3.2, RFC 8200 section 4.5) and
//! their bytes are kept in etherparse's [`IpDefragBuf`]. etherparse's own pool
//! grows without limit, so the table here is ours:
//!
//! - at most [`DefragConfig::max_datagrams`] datagrams and
//!   [`DefragConfig::max_bytes`] bytes of buffers are pending; making room evicts
//!   the oldest pending datagram first (counted in [`DefragStats`]);
//! - a datagram whose first fragment is older than [`DefragConfig::timeout_ns`]
//!   of packet time (never the wall clock) is dropped (counted);
//! - fragments may come in any order and interleaved with other datagrams.
//!
//! Overlaps: **first wins**. Bytes already received are never overwritten; a
//! later fragment only fills the holes it covers (counted as an overlap, and as
//! a conflicting overlap when its bytes differ). A fragment that contradicts the
//! datagram's end (a second last fragment with another end, data beyond the
//! end) is dropped and the datagram keeps what it had. RFC 5722 asks IPv6 hosts
//! to discard the whole datagram instead; a capture analyser sees what was sent,
//! and keeping the first copy is what Wireshark shows, so both versions behave
//! the same here.
//!
//! Invariants: `bytes` equals the sum of the pending buffers' lengths and never
//! exceeds `max_bytes`; `table.len() <= max_datagrams`; the table's order is the
//! order datagrams were first seen (an `IndexMap`, so eviction and timeout order
//! never depend on hashing).

use std::net::IpAddr;

use etherparse::defrag::IpDefragBuf;
use etherparse::{IpFragOffset, IpNumber};
use indexmap::IndexMap;

/// Limits of the defragmenter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefragConfig {
    /// Most datagrams pending at once.
    pub max_datagrams: usize,
    /// Most bytes of pending reassembly buffers at once.
    pub max_bytes: usize,
    /// A datagram not complete this long (packet time, nanoseconds) after its
    /// first fragment is dropped.
    pub timeout_ns: u64,
}

impl Default for DefragConfig {
    /// 1024 datagrams, 4 MiB, 30 s (Linux's `ipfrag_high_thresh` and `ipfrag_time`).
    fn default() -> Self {
        DefragConfig {
            max_datagrams: 1024,
            max_bytes: 4 << 20,
            timeout_ns: 30_000_000_000,
        }
    }
}

/// Which datagram a fragment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FragKey {
    /// IP version (4 or 6).
    pub version: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// Protocol of the reassembled payload (IPv4 protocol, or the IPv6 fragment
    /// header's next header).
    pub proto: u8,
}

/// One fragment's place in its datagram and its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// Offset of `payload` in the datagram, in bytes.
    pub offset: u32,
    /// More fragments follow (not the last one).
    pub more: bool,
    /// The fragment's data.
    pub payload: &'a [u8],
}

/// Why a fragment was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// A fragment other than the last whose length is not a multiple of 8.
    Unaligned,
    /// The datagram would be longer than 65535 bytes, or than the byte limit.
    TooBig,
    /// The fragment contradicts the datagram's end.
    Conflict,
}

/// What adding a fragment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored; the datagram is still incomplete.
    Held,
    /// Not stored.
    Dropped(DropReason),
    /// The datagram is complete: its payload (everything after the fragment
    /// header / IPv4 header) and protocol.
    Complete {
        /// The reassembled payload.
        data: Vec<u8>,
        /// Its IP protocol number.
        proto: u8,
    },
}

/// Counters of the defragmenter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefragStats {
    /// Fragments offered.
    pub fragments: u64,
    /// Datagrams completed.
    pub completed: u64,
    /// Fragments dropped as unaligned.
    pub dropped_unaligned: u64,
    /// Fragments dropped as too big.
    pub dropped_too_big: u64,
    /// Fragments dropped as contradicting the datagram's end.
    pub dropped_conflict: u64,
    /// Fragments that overlapped bytes already held (first copy kept).
    pub overlapping: u64,
    /// Of those, fragments whose overlapping bytes differed from the held ones.
    pub overlapping_conflicting: u64,
    /// Datagrams evicted to respect the limits.
    pub evicted: u64,
    /// Buffer bytes freed by those evictions.
    pub evicted_bytes: u64,
    /// Datagrams dropped because they timed out.
    pub timed_out: u64,
    /// Buffer bytes freed by timeouts.
    pub timed_out_bytes: u64,
}

#[derive(Debug)]
struct Pending {
    buf: IpDefragBuf,
    first_ts: u64,
}

/// The largest reassembled payload (the 16-bit length fields' limit).
const MAX_LEN: u32 = 65535;

/// Bounded IPv4/IPv6 fragment reassembly.
#[derive(Debug)]
pub struct Defragmenter {
    config: DefragConfig,
    table: IndexMap<FragKey, Pending>,
    bytes: usize,
    stats: DefragStats,
}

impl Defragmenter {
    /// An empty defragmenter.
    pub fn new(config: DefragConfig) -> Self {
        Defragmenter {
            config,
            table: IndexMap::new(),
            bytes: 0,
            stats: DefragStats::default(),
        }
    }

    /// Its counters.
    pub fn stats(&self) -> &DefragStats {
        &self.stats
    }

    /// Datagrams pending.
    pub fn pending_datagrams(&self) -> usize {
        self.table.len()
    }

    /// Bytes of pending reassembly buffers.
    pub fn pending_bytes(&self) -> usize {
        self.bytes
    }

    /// Drop the datagrams whose first fragment came more than the timeout before
    /// `now`. Datagrams are checked oldest first and checking stops at the first
    /// one still in time, so a capture whose clock jumps back delays timeouts
    /// (never beyond the memory limits).
    pub fn expire(&mut self, now: u64) {
        while let Some((_, p)) = self.table.first() {
            if p.first_ts.saturating_add(self.config.timeout_ns) >= now {
                break;
            }
            let freed = self.remove_index(0);
            self.stats.timed_out += 1;
            self.stats.timed_out_bytes += freed as u64;
        }
    }

    fn remove_index(&mut self, i: usize) -> usize {
        match self.table.shift_remove_index(i) {
            Some((_, p)) => {
                let len = p.buf.data().len();
                self.bytes = self.bytes.saturating_sub(len);
                len
            }
            None => 0,
        }
    }

    /// Evict the oldest datagram other than `keep`; false when there is none.
    fn evict_one(&mut self, keep: &FragKey) -> bool {
        let i = match self.table.get_index(0) {
            Some((k, _)) if k != keep => 0,
            Some(_) if self.table.len() > 1 => 1,
            _ => return false,
        };
        let freed = self.remove_index(i);
        self.stats.evicted += 1;
        self.stats.evicted_bytes += freed as u64;
        true
    }

    /// Add one fragment seen at packet time `ts`.
    pub fn add(&mut self, key: FragKey, frag: Fragment<'_>, ts: u64) -> Outcome {
        self.stats.fragments += 1;
        self.expire(ts);
        let outcome = self.add_inner(key, frag, ts);
        match outcome {
            Outcome::Dropped(DropReason::Unaligned) => self.stats.dropped_unaligned += 1,
            Outcome::Dropped(DropReason::TooBig) => self.stats.dropped_too_big += 1,
            Outcome::Dropped(DropReason::Conflict) => self.stats.dropped_conflict += 1,
            Outcome::Complete { .. } => self.stats.completed += 1,
            Outcome::Held => {}
        }
        outcome
    }

    fn add_inner(&mut self, key: FragKey, frag: Fragment<'_>, ts: u64) -> Outcome {
        let start = frag.offset;
        let Some(end) = u32::try_from(frag.payload.len())
            .ok()
            .and_then(|l| start.checked_add(l))
        else {
            return Outcome::Dropped(DropReason::TooBig);
        };
        if end > MAX_LEN || start % 8 != 0 {
            return Outcome::Dropped(DropReason::TooBig);
        }
        if frag.more && frag.payload.len() % 8 != 0 {
            return Outcome::Dropped(DropReason::Unaligned);
        }

        // What is already there (nothing for a new datagram).
        let (held_end, mut sections, cur_len) = match self.table.get(&key) {
            Some(p) => (
                p.buf.end().map(u32::from),
                p.buf.sections().clone(),
                p.buf.data().len(),
            ),
            None => (None, Vec::new(), 0),
        };
        sections.sort_unstable();
        let covered_end = sections.iter().map(|s| u32::from(s.end)).max().unwrap_or(0);
        match held_end {
            Some(e) if end > e || (!frag.more && end != e) => {
                return Outcome::Dropped(DropReason::Conflict)
            }
            None if !frag.more && covered_end > end => {
                return Outcome::Dropped(DropReason::Conflict)
            }
            _ => {}
        }

        // The holes this fragment fills (first wins: covered bytes are kept).
        let mut pieces: Vec<(u32, u32)> = Vec::new();
        let mut at = start;
        let mut overlap_differs = false;
        for s in &sections {
            let (s0, s1) = (u32::from(s.start), u32::from(s.end));
            if s1 <= at || s0 >= end {
                continue;
            }
            if s0 > at {
                pieces.push((at, s0));
            }
            let (o0, o1) = (at.max(s0), end.min(s1));
            if o0 < o1 {
                let held = self
                    .table
                    .get(&key)
                    .and_then(|p| p.buf.data().get(o0 as usize..o1 as usize));
                let new = frag
                    .payload
                    .get((o0 - start) as usize..(o1 - start) as usize);
                overlap_differs |= held != new;
            }
            at = at.max(s1);
        }
        if at < end {
            pieces.push((at, end));
        }
        let overlapped = pieces.iter().map(|(a, b)| b - a).sum::<u32>() < end - start;
        if overlapped {
            self.stats.overlapping += 1;
            if overlap_differs {
                self.stats.overlapping_conflicting += 1;
            }
        }
        // A last fragment whose bytes are all held still fixes the end.
        let set_end = !frag.more && held_end.is_none() && pieces.last().is_none_or(|p| p.1 != end);

        // Make room: datagram count, then bytes.
        // Setting the end grows the buffer to it too, even with no bytes to add.
        let new_len = if pieces.is_empty() && !set_end {
            cur_len
        } else {
            cur_len.max(end as usize)
        };
        if new_len > self.config.max_bytes {
            return Outcome::Dropped(DropReason::TooBig);
        }
        if !self.table.contains_key(&key) {
            while self.table.len() >= self.config.max_datagrams.max(1) {
                if !self.evict_one(&key) {
                    break;
                }
            }
        }
        while self.bytes + (new_len - cur_len) > self.config.max_bytes {
            if !self.evict_one(&key) {
                return Outcome::Dropped(DropReason::TooBig);
            }
        }

        let entry = self.table.entry(key).or_insert_with(|| Pending {
            buf: IpDefragBuf::new(IpNumber(key.proto), Vec::new(), Vec::new()),
            first_ts: ts,
        });
        let mut ok = true;
        for &(a, b) in &pieces {
            let last = b == end;
            let data = frag
                .payload
                .get((a - start) as usize..(b - start) as usize)
                .unwrap_or(&[]);
            ok &= add_piece(&mut entry.buf, a, !last || frag.more, data);
        }
        if set_end {
            ok &= add_piece(&mut entry.buf, end, false, &[]);
        }
        let len_after = entry.buf.data().len();
        let complete = entry.buf.is_complete();
        self.bytes = self.bytes - cur_len + len_after;
        if !ok {
            // Only reachable if the checks above missed a case etherparse rejects:
            // give up on the datagram rather than keep an inconsistent buffer.
            if let Some(i) = self.table.get_index_of(&key) {
                self.remove_index(i);
            }
            return Outcome::Dropped(DropReason::Conflict);
        }
        if complete {
            if let Some(p) = self.table.shift_remove(&key) {
                self.bytes = self.bytes.saturating_sub(p.buf.data().len());
                let (data, _) = p.buf.take_bufs();
                return Outcome::Complete {
                    data,
                    proto: key.proto,
                };
            }
        }
        Outcome::Held
    }
}

/// Add bytes at byte offset `at` (a multiple of 8) to the buffer.
fn add_piece(buf: &mut IpDefragBuf, at: u32, more: bool, data: &[u8]) -> bool {
    let Some(off) = u16::try_from(at / 8)
        .ok()
        .and_then(|o| IpFragOffset::try_new(o).ok())
    else {
        return false;
    };
    buf.add(off, more, data).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(id: u32) -> FragKey {
        FragKey {
            version: 4,
            src: IpAddr::from([10, 0, 0, 1]),
            dst: IpAddr::from([10, 0, 0, 2]),
            id,
            proto: 17,
        }
    }

    fn frag(offset: u32, more: bool, payload: &[u8]) -> Fragment<'_> {
        Fragment {
            offset,
            more,
            payload,
        }
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + 3) as u8).collect()
    }

    /// Split `d` into pieces of `size` (a multiple of 8) as (offset, more, bytes).
    fn split(d: &[u8], size: usize) -> Vec<(u32, bool, &[u8])> {
        let n = d.len().div_ceil(size);
        d.chunks(size)
            .enumerate()
            .map(|(i, c)| ((i * size) as u32, i + 1 < n, c))
            .collect()
    }

    fn complete(o: Outcome) -> Vec<u8> {
        match o {
            Outcome::Complete { data, proto } => {
                assert_eq!(proto, 17);
                data
            }
            other => panic!("not complete: {other:?}"),
        }
    }

    #[test]
    fn in_order() {
        let d = data(100);
        let mut df = Defragmenter::new(DefragConfig::default());
        let parts = split(&d, 32);
        for &(o, m, p) in &parts[..parts.len() - 1] {
            assert_eq!(df.add(key(1), frag(o, m, p), 0), Outcome::Held);
        }
        let (o, m, p) = parts[parts.len() - 1];
        assert_eq!(complete(df.add(key(1), frag(o, m, p), 0)), d);
        assert_eq!((df.pending_datagrams(), df.pending_bytes()), (0, 0));
    }

    #[test]
    fn reverse_order() {
        let d = data(77);
        let mut df = Defragmenter::new(DefragConfig::default());
        let mut parts = split(&d, 16);
        parts.reverse();
        let last = parts.pop().expect("parts");
        for (o, m, p) in parts {
            assert_eq!(df.add(key(1), frag(o, m, p), 0), Outcome::Held);
        }
        assert_eq!(complete(df.add(key(1), frag(last.0, last.1, last.2), 0)), d);
    }

    #[test]
    fn interleaved_datagrams() {
        let (a, b) = (
            data(48),
            data(40).into_iter().map(|x| !x).collect::<Vec<_>>(),
        );
        let mut df = Defragmenter::new(DefragConfig::default());
        let (pa, pb) = (split(&a, 16), split(&b, 16));
        assert_eq!(
            df.add(key(1), frag(pa[0].0, pa[0].1, pa[0].2), 0),
            Outcome::Held
        );
        assert_eq!(
            df.add(key(2), frag(pb[2].0, pb[2].1, pb[2].2), 0),
            Outcome::Held
        );
        assert_eq!(
            df.add(key(1), frag(pa[2].0, pa[2].1, pa[2].2), 0),
            Outcome::Held
        );
        assert_eq!(
            df.add(key(2), frag(pb[0].0, pb[0].1, pb[0].2), 0),
            Outcome::Held
        );
        assert_eq!(
            complete(df.add(key(2), frag(pb[1].0, pb[1].1, pb[1].2), 0)),
            b
        );
        assert_eq!(
            complete(df.add(key(1), frag(pa[1].0, pa[1].1, pa[1].2), 0)),
            a
        );
    }

    #[test]
    fn duplicate_fragment_is_harmless() {
        let d = data(24);
        let mut df = Defragmenter::new(DefragConfig::default());
        assert_eq!(df.add(key(1), frag(0, true, &d[..16]), 0), Outcome::Held);
        assert_eq!(df.add(key(1), frag(0, true, &d[..16]), 0), Outcome::Held);
        assert_eq!(df.stats().overlapping, 1);
        assert_eq!(df.stats().overlapping_conflicting, 0);
        assert_eq!(complete(df.add(key(1), frag(16, false, &d[16..]), 0)), d);
        // a duplicate of the last fragment after completion starts a new datagram
        assert_eq!(df.add(key(1), frag(16, false, &d[16..]), 0), Outcome::Held);
    }

    #[test]
    fn overlap_first_wins() {
        let mut df = Defragmenter::new(DefragConfig::default());
        assert_eq!(df.add(key(1), frag(8, true, &[b'A'; 16]), 0), Outcome::Held);
        // covers [0, 32): only [0, 8) and [24, 32) are new
        assert_eq!(df.add(key(1), frag(0, true, &[b'B'; 32]), 0), Outcome::Held);
        assert_eq!(df.stats().overlapping_conflicting, 1);
        let out = complete(df.add(key(1), frag(32, false, b"end"), 0));
        let mut want = vec![b'B'; 8];
        want.extend_from_slice(&[b'A'; 16]);
        want.extend_from_slice(&[b'B'; 8]);
        want.extend_from_slice(b"end");
        assert_eq!(out, want);
    }

    #[test]
    fn last_fragment_covered_by_earlier_data_still_ends_datagram() {
        let mut df = Defragmenter::new(DefragConfig::default());
        assert_eq!(df.add(key(1), frag(0, true, &[1; 24]), 0), Outcome::Held);
        assert_eq!(
            complete(df.add(key(1), frag(16, false, &[2; 8]), 0)),
            vec![1; 24]
        );
    }

    #[test]
    fn conflicting_ends_are_dropped() {
        let mut df = Defragmenter::new(DefragConfig::default());
        assert_eq!(df.add(key(1), frag(16, false, &[1; 4]), 0), Outcome::Held);
        assert_eq!(
            df.add(key(1), frag(16, false, &[1; 8]), 0),
            Outcome::Dropped(DropReason::Conflict)
        );
        assert_eq!(
            df.add(key(1), frag(24, true, &[1; 8]), 0),
            Outcome::Dropped(DropReason::Conflict)
        );
        assert_eq!(
            df.add(key(1), frag(0, true, &[1; 7]), 0),
            Outcome::Dropped(DropReason::Unaligned)
        );
        assert_eq!(
            df.add(key(1), frag(65528, false, &[1; 8]), 0),
            Outcome::Dropped(DropReason::TooBig)
        );
        // data beyond a last fragment that comes later
        assert_eq!(df.add(key(2), frag(0, true, &[1; 32]), 0), Outcome::Held);
        assert_eq!(
            df.add(key(2), frag(8, false, &[1; 4]), 0),
            Outcome::Dropped(DropReason::Conflict)
        );
        assert_eq!(
            complete(df.add(key(1), frag(0, true, &[3; 16]), 0)).len(),
            20
        );
        assert_eq!(df.stats().dropped_conflict, 3);
    }

    #[test]
    fn timeout_by_packet_time() {
        let cfg = DefragConfig {
            timeout_ns: 1000,
            ..DefragConfig::default()
        };
        let mut df = Defragmenter::new(cfg);
        assert_eq!(df.add(key(1), frag(0, true, &[0; 8]), 100), Outcome::Held);
        assert_eq!(df.add(key(2), frag(0, true, &[0; 8]), 600), Outcome::Held);
        df.expire(1100);
        assert_eq!(df.pending_datagrams(), 2);
        df.expire(1101);
        assert_eq!(df.pending_datagrams(), 1);
        // the last fragment of 1 arrives too late: 1 starts anew and stays held
        assert_eq!(df.add(key(1), frag(8, false, &[0; 8]), 1601), Outcome::Held);
        assert_eq!(df.stats().timed_out, 2);
        assert_eq!(df.pending_datagrams(), 1);
        assert_eq!(df.pending_bytes(), 16);
    }

    #[test]
    fn pool_full_evicts_oldest() {
        let cfg = DefragConfig {
            max_datagrams: 2,
            max_bytes: 64,
            timeout_ns: u64::MAX,
        };
        let mut df = Defragmenter::new(cfg);
        assert_eq!(df.add(key(1), frag(0, true, &[1; 8]), 0), Outcome::Held);
        assert_eq!(df.add(key(2), frag(0, true, &[2; 8]), 0), Outcome::Held);
        assert_eq!(df.add(key(3), frag(0, true, &[3; 8]), 0), Outcome::Held);
        assert_eq!(df.stats().evicted, 1);
        // datagram 1 was evicted: its last fragment does not complete it
        assert_eq!(df.add(key(1), frag(8, false, &[1; 8]), 0), Outcome::Held);
        assert_eq!(df.stats().evicted, 2);
        // bytes: datagram 3 growing to 56 bytes evicts 1 (16 bytes) to fit 64
        assert_eq!(df.add(key(3), frag(48, true, &[3; 8]), 0), Outcome::Held);
        assert_eq!(df.pending_bytes(), 56);
        assert_eq!(df.pending_datagrams(), 1);
        // one datagram bigger than the byte limit is refused outright
        assert_eq!(
            df.add(key(9), frag(64, true, &[3; 8]), 0),
            Outcome::Dropped(DropReason::TooBig)
        );
        assert_eq!(df.pending_bytes(), 56);
    }

    #[test]
    fn never_completing_flood_stays_under_limits() {
        let cfg = DefragConfig {
            max_datagrams: 100,
            max_bytes: 200_000,
            timeout_ns: 5_000,
        };
        let mut df = Defragmenter::new(cfg);
        let payload = [0xab; 1480];
        for i in 0..20_000u32 {
            // only non-first fragments, far into the datagram, never completing
            let off = 8 * (1 + (i % 8000));
            let _ = df.add(key(i), frag(off, true, &payload), u64::from(i));
            assert!(df.pending_datagrams() <= 100);
            assert!(df.pending_bytes() <= 200_000);
        }
        let s = df.stats();
        assert!(
            s.evicted + s.timed_out + s.dropped_too_big > 19_000,
            "{s:?}"
        );
    }

    proptest! {
        /// Against a naive model: a byte array where the first write to each
        /// byte wins, complete when every byte up to the last fragment's end is
        /// written.
        #[test]
        fn first_wins_matches_model(
            len in 1usize..200,
            cuts in proptest::collection::vec((0usize..25, 1usize..6), 1..12),
            order_seed in any::<u64>(),
        ) {
            let end = len;
            // fragments: aligned starts, aligned lengths except at the end
            let mut frags: Vec<(u32, bool, Vec<u8>)> = Vec::new();
            for (i, &(s, l)) in cuts.iter().enumerate() {
                let a = (s * 8).min(end - 1) / 8 * 8;
                let b = (a + l * 8).min(end);
                let more = b < end;
                let bytes: Vec<u8> = (a..b).map(|x| (x as u8) ^ (i as u8)).collect();
                frags.push((a as u32, more, bytes));
            }
            // a full cover so the datagram can complete
            let full: Vec<u8> = (0..end).map(|x| x as u8 ^ 0x55).collect();
            for (o, m, p) in split(&full, 8) {
                frags.push((o, m, p.to_vec()));
            }
            // shuffle deterministically
            let mut seed = order_seed;
            for i in (1..frags.len()).rev() {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                frags.swap(i, (seed >> 33) as usize % (i + 1));
            }
            let mut model: Vec<Option<u8>> = vec![None; end];
            let mut df = Defragmenter::new(DefragConfig::default());
            let mut done = None;
            for (o, m, p) in &frags {
                for (i, b) in p.iter().enumerate() {
                    let slot = &mut model[*o as usize + i];
                    if slot.is_none() { *slot = Some(*b); }
                }
                match df.add(key(1), frag(*o, *m, p), 0) {
                    Outcome::Complete { data, .. } => { done = Some(data); break; }
                    Outcome::Held => {}
                    Outcome::Dropped(r) => prop_assert!(false, "dropped {r:?}"),
                }
            }
            let got = done.expect("full cover completes");
            let want: Vec<u8> = model.iter().map(|b| b.expect("all written")).collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(df.pending_bytes(), 0);
        }
    }

    /// Regression (decode fuzz check): an empty last fragment at a large offset
    /// grew its datagram's buffer to that offset without counting it against
    /// `max_bytes`.
    #[test]
    fn an_empty_last_fragment_counts_the_buffer_it_implies() {
        let cfg = DefragConfig {
            max_datagrams: 8,
            max_bytes: 16 * 1024,
            timeout_ns: u64::MAX,
        };
        let mut d = Defragmenter::new(cfg);
        d.add(key(1), frag(0, true, &data(16)), 0);
        assert_eq!(
            d.add(key(2), frag(26_632, false, &[]), 0),
            Outcome::Dropped(DropReason::TooBig)
        );
        assert!(d.pending_bytes() <= cfg.max_bytes);
        // Within the limit it is held, and counted.
        assert_eq!(d.add(key(3), frag(8_000, false, &[]), 0), Outcome::Held);
        assert_eq!(d.pending_bytes(), 16 + 8_000);
    }
}
