//! gopacket's reassembly table tests, ported as behaviour: the same segments
//! (seq, flags, payload) go into our Assembler one at a time, and each step
//! checks what the stream received. gopacket's test names are cited above each
//! test. Where our documented semantics differ, the test asserts ours and one
//! comment line says how and why.
//!
//! Differences that apply throughout: we may merge what gopacket hands over in
//! several `reassembled` calls into one (so bytes are compared per step, not
//! per call); a gap is reported as `Skipped::Bytes(n)` with its real size where
//! gopacket reports -1 for "unknown start"; a SYN's payload sits at ISN + 1, as
//! in gopacket.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reassembly::{Assembler, AssemblerConfig, Dir, OverlapPolicy};

const C2S: Dir = Dir::ClientToServer;
const S2C: Dir = Dir::ServerToClient;
const MS: u64 = 1_000_000;

/// Feeds packets one at a time and returns what each step delivered.
struct Stepper {
    a: Assembler<Factory>,
    frame: u64,
    seen: usize,
}

impl Stepper {
    fn new(cfg: AssemblerConfig) -> Self {
        Self::with_factory(cfg, Factory::default())
    }

    fn with_factory(cfg: AssemblerConfig, f: Factory) -> Self {
        Stepper {
            a: Assembler::new(cfg, f),
            frame: 0,
            seen: 0,
        }
    }

    fn new_deliveries(&mut self) -> Vec<Delivery> {
        let Some(r) = self.a.factory().streams.first() else {
            return Vec::new();
        };
        let out = r.deliveries[self.seen..].to_vec();
        self.seen = r.deliveries.len();
        out
    }

    fn feed(&mut self, p: Pkt) -> Vec<Delivery> {
        self.frame += 1;
        self.a.assemble(&segment(&p, self.frame, client()));
        assert!(self.a.factory().streams.len() <= 1, "one connection only");
        self.new_deliveries()
    }

    fn flush_older_than(&mut self, t: u64) -> Vec<Delivery> {
        self.a.flush_older_than(t);
        self.new_deliveries()
    }

    fn finish(mut self) -> Vec<Delivery> {
        self.a.flush_all();
        assert_eq!(self.a.pages_in_use(), 0);
        let out = self.new_deliveries();
        let f = self.a.into_factory();
        for r in &f.streams {
            let c = r.completion.as_ref().unwrap();
            assert!(c.c2s.balanced() && c.s2c.balanced());
        }
        out
    }
}

/// New bytes of one direction in a step (kept bytes left out).
fn data(ds: &[Delivery], dir: Dir) -> Vec<u8> {
    ds.iter()
        .filter(|d| d.dir == dir)
        .flat_map(|d| d.bytes[d.saved..].iter().copied())
        .collect()
}

fn skip(ds: &[Delivery], dir: Dir) -> u64 {
    ds.iter().filter(|d| d.dir == dir).map(|d| d.skip).sum()
}

fn started(ds: &[Delivery]) -> bool {
    ds.iter().any(|d| d.start)
}

fn nothing(ds: &[Delivery]) -> bool {
    ds.iter().all(|d| d.bytes.len() == d.saved && d.skip == 0)
}

fn cfg_pages(n: usize) -> AssemblerConfig {
    AssemblerConfig {
        max_pages_per_conn: n,
        ..AssemblerConfig::default()
    }
}

fn cfg_window(n: u32) -> AssemblerConfig {
    AssemblerConfig {
        midstream_window: n,
        ..AssemblerConfig::default()
    }
}

// gopacket TestReorder
// Differs: gopacket starts delivering when its 4-page cap fills; we start a
// SYN-less direction after `midstream_window` segments (set to 4 here, so the
// same step) at the lowest sequence number, hence no gap at all before 1001.
#[test]
fn gopacket_reorder() {
    let mut st = Stepper::new(cfg_window(4));
    assert!(nothing(&st.feed(c(1001, 0, &[1, 2, 3]))));
    assert!(nothing(&st.feed(c(1004, 0, &[4, 5, 6]))));
    assert!(nothing(&st.feed(c(1010, 0, &[10, 11, 12]))));
    let d = st.feed(c(1007, 0, &[7, 8, 9]));
    assert_eq!(data(&d, C2S), (1..=12).collect::<Vec<u8>>());
    assert_eq!(skip(&d, C2S), 0);
    assert!(nothing(&st.feed(c(1016, 0, &[2, 2, 3]))));
    assert!(nothing(&st.feed(c(1019, 0, &[3, 2, 3]))));
    let d = st.feed(c(1013, 0, &[1, 2, 3]));
    assert_eq!(data(&d, C2S), [1, 2, 3, 2, 2, 3, 3, 2, 3]);
    assert_eq!(skip(&d, C2S), 0);
    assert!(nothing(&st.finish()));
}

// gopacket TestReorder with our default window: nothing is lost and nothing is
// delivered before the window fills or the input ends.
#[test]
fn gopacket_reorder_default_window() {
    let mut st = Stepper::new(AssemblerConfig::default());
    for p in [
        c(1001, 0, &[1, 2, 3]),
        c(1004, 0, &[4, 5, 6]),
        c(1010, 0, &[10, 11, 12]),
        c(1007, 0, &[7, 8, 9]),
        c(1016, 0, &[2, 2, 3]),
        c(1019, 0, &[3, 2, 3]),
        c(1013, 0, &[1, 2, 3]),
    ] {
        assert!(nothing(&st.feed(p)));
    }
    let d = st.finish();
    let mut want: Vec<u8> = (1..=12).collect();
    want.extend([1, 2, 3, 2, 2, 3, 3, 2, 3]);
    assert_eq!(data(&d, C2S), want);
    assert_eq!(skip(&d, C2S), 0);
}

// gopacket TestMaxPerSkip
// Differs by one: gopacket's cap of 4 acts when the 4th page fills, ours means
// "may hold 4", so a cap of 3 skips at the same step: the oldest hole (3 bytes)
// is skipped and everything queued after it is delivered.
#[test]
fn gopacket_max_per_skip() {
    let mut st = Stepper::new(cfg_pages(3));
    let d = st.feed(c(1000, SYN, &[1, 2, 3]));
    assert!(started(&d));
    assert_eq!(data(&d, C2S), [1, 2, 3]);
    assert!(nothing(&st.feed(c(1007, 0, &[3, 2, 3]))));
    assert!(nothing(&st.feed(c(1010, 0, &[4, 2, 3]))));
    assert!(nothing(&st.feed(c(1013, 0, &[5, 2, 3]))));
    let d = st.feed(c(1016, 0, &[6, 2, 3]));
    assert_eq!(skip(&d, C2S), 3);
    assert_eq!(data(&d, C2S), [3, 2, 3, 4, 2, 3, 5, 2, 3, 6, 2, 3]);
    assert!(nothing(&st.finish()));
}

// gopacket TestReorderFast
#[test]
fn gopacket_reorder_fast() {
    let mut st = Stepper::new(cfg_pages(4));
    let d = st.feed(c(1000, SYN, &[1, 2, 3]));
    assert!(started(&d));
    assert_eq!(data(&d, C2S), [1, 2, 3]);
    assert!(nothing(&st.feed(c(1007, 0, &[3, 2, 3]))));
    let d = st.feed(c(1004, 0, &[2, 2, 3]));
    assert_eq!(data(&d, C2S), [2, 2, 3, 3, 2, 3]);
    assert_eq!(skip(&d, C2S), 0);
    assert!(nothing(&st.finish()));
}

// gopacket TestOverlap
#[test]
fn gopacket_overlap() {
    let mut st = Stepper::new(cfg_pages(4));
    let d = st.feed(c(1000, SYN, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 0]));
    assert!(started(&d));
    assert_eq!(data(&d, C2S), [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
    let d = st.feed(c(1007, 0, &[7, 8, 9, 0, 1, 2, 3, 4, 5]));
    assert_eq!(data(&d, C2S), [1, 2, 3, 4, 5]);
    let d = st.feed(c(1010, 0, &[0, 1, 2, 3, 4, 5, 6, 7]));
    assert_eq!(data(&d, C2S), [6, 7]);
    assert!(nothing(&st.finish()));
}

// gopacket TestBufferedOverlap1
#[test]
fn gopacket_buffered_overlap1() {
    let mut st = Stepper::new(cfg_pages(4));
    assert!(nothing(&st.feed(c(1007, 0, &[7, 8, 9, 0, 1, 2, 3, 4, 5]))));
    assert!(nothing(&st.feed(c(1010, 0, &[0, 1, 2, 3, 4, 5, 6, 7]))));
    let d = st.feed(c(1000, SYN, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 0]));
    assert!(started(&d));
    assert_eq!(
        data(&d, C2S),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7]
    );
    assert_eq!(skip(&d, C2S), 0);
    assert!(nothing(&st.finish()));
}

fn buffered_overlap_case6(policy: OverlapPolicy) -> Vec<u8> {
    let mut st = Stepper::new(AssemblerConfig {
        overlap_policy: policy,
        ..cfg_pages(4)
    });
    assert!(nothing(&st.feed(c(1007, 0, &[7, 8, 9, 0, 1, 2, 3, 4, 5]))));
    assert!(nothing(&st.feed(c(1010, 0, &[10, 11, 12, 13, 14]))));
    let d = st.feed(c(1000, SYN, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 0]));
    assert!(started(&d));
    assert_eq!(skip(&d, C2S), 0);
    assert!(nothing(&st.finish()));
    data(&d, C2S)
}

// gopacket TestBufferedOverlapCase6
// Differs: gopacket lets the newer copy win; our default policy `first` keeps
// the bytes that arrived first, and `last` reproduces gopacket exactly.
#[test]
fn gopacket_buffered_overlap_case6() {
    assert_eq!(
        buffered_overlap_case6(OverlapPolicy::First),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5]
    );
    assert_eq!(
        buffered_overlap_case6(OverlapPolicy::Last),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 11, 12, 13, 14, 5]
    );
}

// gopacket TestBufferedOverlapExisting
#[test]
fn gopacket_buffered_overlap_existing() {
    let mut st = Stepper::new(cfg_pages(4));
    let d = st.feed(c(1000, SYN, &[1, 2, 3, 4, 5, 6, 7]));
    assert!(started(&d));
    assert_eq!(data(&d, C2S), [1, 2, 3, 4, 5, 6, 7]);
    let d = st.feed(c(1005, 0, &[5, 6, 7, 8, 9, 10]));
    assert_eq!(data(&d, C2S), [8, 9, 10]);
    assert!(nothing(&st.finish()));
}

// gopacket TestBufferedOverlapReemit
#[test]
fn gopacket_buffered_overlap_reemit() {
    let mut st = Stepper::new(cfg_pages(4));
    let d = st.feed(c(1000, SYN, &[1, 2, 3, 4, 5, 6, 7]));
    assert_eq!(data(&d, C2S), [1, 2, 3, 4, 5, 6, 7]);
    assert!(nothing(&st.feed(c(1003, 0, &[3, 4, 5]))));
    assert!(nothing(&st.finish()));
}

// gopacket TestReorderRetransmission2
// Differs: gopacket delivers at the 5th segment through its page cap; we
// start after `midstream_window` (5 here) segments at the lowest sequence
// number. Both keep the queued copy of 1007..1009 (`first`).
#[test]
fn gopacket_reorder_retransmission2() {
    let mut st = Stepper::new(cfg_window(5));
    assert!(nothing(&st.feed(c(1001, 0, &[1, 2, 3]))));
    assert!(nothing(&st.feed(c(1007, 0, &[2, 2, 3]))));
    assert!(nothing(&st.feed(c(1007, 0, &[2, 2, 3]))));
    assert!(nothing(&st.feed(c(1010, 0, &[10, 11]))));
    let d = st.feed(c(1004, 0, &[6, 6, 6, 2, 2]));
    assert_eq!(data(&d, C2S), [1, 2, 3, 6, 6, 6, 2, 2, 3, 10, 11]);
    assert_eq!(skip(&d, C2S), 0);
    assert!(nothing(&st.finish()));
}

// gopacket TestOverrun1: the SYN's ISN is 0xFFFFFFFF, its data wraps to 0.
#[test]
fn gopacket_overrun1() {
    let mut st = Stepper::new(cfg_pages(4));
    let d = st.feed(c(0xFFFF_FFFF, SYN, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 0]));
    assert!(started(&d));
    assert_eq!(data(&d, C2S), [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
    let d = st.feed(c(10, 0, &[1, 2, 3, 4]));
    assert_eq!(data(&d, C2S), [1, 2, 3, 4]);
    assert_eq!(skip(&d, C2S), 0);
    assert!(nothing(&st.finish()));
}

// gopacket TestOverrun2: data past the wrap arrives before the SYN.
#[test]
fn gopacket_overrun2() {
    let mut st = Stepper::new(cfg_pages(4));
    assert!(nothing(&st.feed(c(10, 0, &[1, 2, 3, 4]))));
    let d = st.feed(c(0xFFFF_FFFF, SYN, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 0]));
    assert!(started(&d));
    assert_eq!(data(&d, C2S), [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4]);
    assert_eq!(skip(&d, C2S), 0);
    assert!(nothing(&st.finish()));
}

// gopacket TestCacheLargePacket
// Differs: gopacket hands over an empty start call then one call per page;
// we may deliver the queued bytes in fewer calls (compared as bytes).
#[test]
fn gopacket_cache_large_packet() {
    let page = AssemblerConfig::default().page_size;
    let big: Vec<u8> = (0..page * 3).map(|i| (i % 251) as u8).collect();
    let mut st = Stepper::new(cfg_pages(4));
    assert!(nothing(&st.feed(c(1001, 0, &big))));
    let d = st.feed(c(1000, SYN, &[]));
    assert!(started(&d));
    assert_eq!(data(&d, C2S), big);
    assert_eq!(skip(&d, C2S), 0);
    assert!(nothing(&st.finish()));
}

// Not in gopacket: the regression behind gopacket_cache_large_packet. A bare SYN
// arriving after queued SYN-less data used to leave that data (and everything
// after it) stuck until the end of input.
#[test]
fn bare_syn_after_data_delivers_queue() {
    let mut st = Stepper::new(AssemblerConfig::default());
    assert!(nothing(&st.feed(c(1001, 0, b"abc"))));
    let d = st.feed(c(1000, SYN, &[]));
    assert!(started(&d));
    assert_eq!(data(&d, C2S), b"abc");
    let d = st.feed(c(1004, 0, b"def"));
    assert_eq!(data(&d, C2S), b"def");
    assert!(nothing(&st.finish()));
}

const BASE: u64 = 1_000 * MS;

// gopacket TestFlush, first table row (one direction, flush 40 ms behind).
// Differs: the flushed start has no gap (we start at the lowest sequence seen;
// gopacket reports -1), and the second gap is reported as its 6 missing bytes.
// We call flush_older_than only: gopacket's FlushCloseOlderThan also closes.
#[test]
fn gopacket_flush_one_way() {
    let mut st = Stepper::new(AssemblerConfig::default());
    assert!(nothing(&st.feed(c(1001, 0, &[1, 2, 3]).at(BASE))));
    let d = st.flush_older_than(BASE + 10 * MS);
    assert_eq!(data(&d, C2S), [1, 2, 3]);
    assert_eq!(skip(&d, C2S), 0);
    assert!(nothing(
        &st.feed(c(1010, 0, &[4, 5, 6, 7]).at(BASE + 50 * MS))
    ));
    let d = st.flush_older_than(BASE + 60 * MS);
    assert_eq!(data(&d, C2S), [4, 5, 6, 7]);
    assert_eq!(skip(&d, C2S), 6);
    assert!(nothing(&st.finish()));
}

// gopacket TestFlush, second row (two directions, flush 99 ms behind).
#[test]
fn gopacket_flush_two_way() {
    let mut st = Stepper::new(AssemblerConfig::default());
    assert!(nothing(&st.feed(c(1001, 0, &[1, 2, 3]).at(BASE))));
    assert!(nothing(&st.flush_older_than(BASE - 49 * MS)));
    assert!(nothing(
        &st.feed(s(890, 0, &[11, 22, 33]).at(BASE + 50 * MS))
    ));
    let d = st.flush_older_than(BASE + MS);
    assert_eq!(data(&d, C2S), [1, 2, 3]);
    assert!(data(&d, S2C).is_empty());
    assert!(nothing(
        &st.feed(s(893, 0, &[44, 55, 66, 77]).at(BASE + 100 * MS))
    ));
    let d = st.flush_older_than(BASE + 51 * MS);
    assert_eq!(data(&d, S2C), [11, 22, 33, 44, 55, 66, 77]);
    assert_eq!(skip(&d, S2C), 0);
    let d = st.feed(c(1004, 0, &[8, 9]).at(BASE + 150 * MS));
    assert_eq!(data(&d, C2S), [8, 9]);
    assert_eq!(skip(&d, C2S), 0);
    assert!(nothing(&st.flush_older_than(BASE + 101 * MS)));
    assert!(nothing(&st.finish()));
}

fn keep_run(plan: Vec<Option<usize>>, pkts: Vec<Pkt>) -> Vec<Vec<u8>> {
    let f = Factory {
        keep_plan: plan,
        ..Factory::default()
    };
    let mut st = Stepper::with_factory(cfg_pages(4), f);
    let mut out = Vec::new();
    for p in pkts {
        let d = st.feed(p);
        assert_eq!(d.len(), 1, "one call per in-order segment: {d:?}");
        out.push(d[0].bytes.clone());
    }
    st.finish();
    out
}

// gopacket TestKeepSimpleOnBoundary
#[test]
fn gopacket_keep_simple_on_boundary() {
    let calls = keep_run(
        vec![Some(0)],
        vec![
            c(1000, SYN, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 0]),
            c(1007, 0, &[7, 8, 9, 0, 1, 2, 3, 4, 5]),
        ],
    );
    assert_eq!(calls[1], [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5]);
}

// gopacket TestKeepSimpleNotBoundaryLive
#[test]
fn gopacket_keep_simple_not_boundary_live() {
    let calls = keep_run(
        vec![Some(1)],
        vec![
            c(1000, SYN, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 0]),
            c(1007, 0, &[7, 8, 9, 0, 1, 2, 3, 4, 5]),
        ],
    );
    assert_eq!(calls[1], [2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5]);
}

// gopacket TestKeepSimpleNotBoundaryAlreadyKept
#[test]
fn gopacket_keep_not_boundary_already_kept() {
    let calls = keep_run(
        vec![Some(0), Some(11)],
        vec![
            c(1000, SYN, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 0x10]),
            c(1007, 0, &[7, 8, 9, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15]),
            c(1016, 0, &[0x16, 0x17, 0x18]),
        ],
    );
    assert_eq!(
        calls[1],
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15]
    );
    assert_eq!(calls[2], [0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]);
}

// gopacket TestKeepLonger
#[test]
fn gopacket_keep_longer() {
    let calls = keep_run(
        vec![Some(0), Some(0)],
        vec![
            c(1000, SYN, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
            c(1007, 0, &[7, 8, 9, 10, 11, 12, 13, 14, 15]),
            c(1010, 0, &[10, 11, 12, 13, 14, 15, 16, 17]),
        ],
    );
    assert_eq!(calls[2], (1..=17).collect::<Vec<u8>>());
}

// gopacket TestFlush, third row (a late RST carrying data, flush 50 ms behind
// with 40 ms steps).
// Differs: our RST does not end the direction (no `end` flag; data after it is
// still delivered), and our flush skips the 1-byte hole at 1004 as soon as the
// queued data behind it is old enough, where gopacket closes the half on RST.
#[test]
fn gopacket_flush_late_rst() {
    let mut st = Stepper::new(AssemblerConfig::default());
    assert!(nothing(&st.feed(c(1005, 0, &[5, 6, 7]).at(BASE))));
    assert!(nothing(&st.flush_older_than(BASE - 10 * MS)));
    assert!(nothing(
        &st.feed(c(1001, RST, &[1, 2, 3]).at(BASE + 40 * MS))
    ));
    let d = st.flush_older_than(BASE + 30 * MS);
    assert_eq!(data(&d, C2S), [1, 2, 3, 5, 6, 7]);
    assert_eq!(skip(&d, C2S), 1);
    assert!(d.iter().all(|x| !x.end));
    // The hole before 1010 is skipped only once 1010 itself is older than the
    // flush time (ours is per queued chunk; gopacket flushed it at once).
    assert!(nothing(
        &st.feed(c(1010, 0, &[10, 11, 12]).at(BASE + 80 * MS))
    ));
    assert!(nothing(&st.flush_older_than(BASE + 70 * MS)));
    let d = st.flush_older_than(BASE + 90 * MS);
    assert_eq!(data(&d, C2S), [10, 11, 12]);
    assert_eq!(skip(&d, C2S), 2);
    assert!(d.iter().all(|x| !x.end));
}
