//! Property tests against a naive byte-array model: random streams cut into
//! segments, shuffled, duplicated and partly re-sent, across the 2^32 wrap;
//! overlapping segments with different bytes under every overlap policy,
//! compared with a byte array that applies its own statement of each policy's
//! rule (not the library's decision table).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;
use reassembly::{Assembler, AssemblerConfig, Dir, Overlap, OverlapPolicy, Winner};

const C2S: Dir = Dir::ClientToServer;
const S2C: Dir = Dir::ServerToClient;

/// Cut `len` bytes into segments of 1..=max bytes: (offset, len).
fn cuts(len: usize, sizes: &[usize]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < len {
        let n = sizes[i % sizes.len()].max(1).min(len - at);
        out.push((at, n));
        at += n;
        i += 1;
    }
    out
}

/// Move each element by at most `max_disp` positions (deterministic from `swaps`).
fn shuffle_bounded<T>(v: &mut [T], swaps: &[(usize, usize)], max_disp: usize) {
    if v.len() < 2 {
        return;
    }
    for &(i, d) in swaps {
        let i = i % v.len();
        let j = (i + 1 + d % max_disp.max(1)).min(v.len() - 1);
        v.swap(i, j);
    }
}

#[derive(Debug, Clone)]
struct Case {
    isn_c: u32,
    isn_s: u32,
    data_c: Vec<u8>,
    data_s: Vec<u8>,
    sizes: Vec<usize>,
    swaps: Vec<(usize, usize)>,
    dups: Vec<usize>,
    resends: Vec<(usize, usize)>,
    handshake: bool,
    fin: bool,
}

fn isn() -> impl Strategy<Value = u32> {
    prop_oneof![any::<u32>(), (0u32..3000).prop_map(|d| u32::MAX - d)]
}

fn case() -> impl Strategy<Value = Case> {
    (
        isn(),
        isn(),
        proptest::collection::vec(any::<u8>(), 0..3000),
        proptest::collection::vec(any::<u8>(), 0..1500),
        proptest::collection::vec(1usize..300, 1..8),
        proptest::collection::vec((any::<usize>(), any::<usize>()), 0..30),
        proptest::collection::vec(any::<usize>(), 0..10),
        proptest::collection::vec((any::<usize>(), 1usize..400), 0..10),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(isn_c, isn_s, data_c, data_s, sizes, swaps, dups, resends, handshake, fin)| Case {
                isn_c,
                isn_s,
                data_c,
                data_s,
                sizes,
                swaps,
                dups,
                resends,
                handshake,
                fin,
            },
        )
}

/// Build the packet list of a case. Retransmissions carry identical bytes.
fn packets(k: &Case) -> Vec<Pkt> {
    let mut data_pkts: Vec<Pkt> = Vec::new();
    for (c2s, data, isn) in [(true, &k.data_c, k.isn_c), (false, &k.data_s, k.isn_s)] {
        let base = isn.wrapping_add(1);
        let mk = |off: usize, n: usize| {
            let seq = base.wrapping_add(off as u32);
            if c2s {
                c(seq, 0, &data[off..off + n])
            } else {
                s(seq, 0, &data[off..off + n])
            }
        };
        let segs = cuts(data.len(), &k.sizes);
        let mut list: Vec<Pkt> = segs.iter().map(|&(o, n)| mk(o, n)).collect();
        for &d in &k.dups {
            if !segs.is_empty() {
                let (o, n) = segs[d % segs.len()];
                list.push(mk(o, n));
            }
        }
        for &(o, n) in &k.resends {
            if !data.is_empty() {
                let o = o % data.len();
                let n = n.min(data.len() - o);
                list.push(mk(o, n));
            }
        }
        if k.fin {
            let seq = base.wrapping_add(data.len() as u32);
            list.push(if c2s {
                c(seq, FIN, b"")
            } else {
                s(seq, FIN, b"")
            });
        }
        data_pkts.extend(list);
    }
    shuffle_bounded(&mut data_pkts, &k.swaps, 6);
    let mut pkts = if k.handshake {
        handshake(k.isn_c, k.isn_s)
    } else {
        Vec::new()
    };
    pkts.extend(data_pkts);
    pkts
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Identical retransmissions in any order: the output is the original stream.
    #[test]
    fn output_equals_original(k in case(), window in prop_oneof![Just(0usize), 1usize..200, Just(1 << 16)]) {
        let pkts = packets(&k);
        // Without a handshake the start is decided after the window: make it
        // cover the whole input so the lowest offset is always seen first.
        // Identical retransmissions are duplicates whatever the verify window.
        let cfg = AssemblerConfig {
            midstream_window: if k.handshake { 8 } else { 100_000 },
            verify_window: window,
            ..Default::default()
        };
        let r = run_with(cfg, &pkts);
        if k.data_c.is_empty() && k.data_s.is_empty() && !k.handshake && !k.fin {
            prop_assert!(r.is_empty());
            return Ok(());
        }
        prop_assert_eq!(r.len(), 1);
        let r = &r[0];
        // Without a handshake the first packet's sender is the client.
        let (dc, ds) = if k.handshake || pkts[0].c2s { (&k.data_c, &k.data_s) } else { (&k.data_s, &k.data_c) };
        prop_assert_eq!(&r.bytes(C2S), dc);
        prop_assert_eq!(&r.bytes(S2C), ds);
        prop_assert!(r.conflicts.is_empty());
        let comp = r.completion.as_ref().unwrap();
        for (l, data) in [(&comp.c2s, dc), (&comp.s2c, ds)] {
            prop_assert_eq!(l.delivered, data.len() as u64);
            prop_assert_eq!(l.captured, l.delivered + l.duplicate);
            prop_assert_eq!(l.overlap_lost, 0);
            prop_assert!(l.gaps.is_empty());
        }
    }
}

/// A segment with possibly different bytes: (offset, bytes).
fn overlap_case() -> impl Strategy<Value = (u32, usize, Vec<(usize, Vec<u8>)>)> {
    (isn(), 1usize..400).prop_flat_map(|(isn, len)| {
        let seg = (0..len, 1usize..120).prop_flat_map(move |(o, n)| {
            let n = n.min(len - o);
            proptest::collection::vec(any::<u8>(), n).prop_map(move |b| (o, b))
        });
        (Just(isn), Just(len), proptest::collection::vec(seg, 1..40))
    })
}

/// The simplest model, for first and last only: apply segments in arrival order
/// to a byte array; a byte is final once every byte before it is known
/// (delivery point), and final bytes never change. First: a known byte never
/// changes. Last: a non-final byte is overwritten.
fn simple_model(policy: OverlapPolicy, len: usize, segs: &[(usize, Vec<u8>)]) -> Vec<Option<u8>> {
    let mut bytes: Vec<Option<u8>> = vec![None; len];
    let mut fin = 0usize;
    for (o, b) in segs {
        for (i, v) in b.iter().enumerate() {
            let at = o + i;
            if at < fin {
                continue;
            }
            match policy {
                OverlapPolicy::First => {
                    if bytes[at].is_none() {
                        bytes[at] = Some(*v);
                    }
                }
                _ => bytes[at] = Some(*v),
            }
        }
        while fin < len && bytes[fin].is_some() {
            fin += 1;
        }
    }
    bytes
}

/// The model's own statement of each policy, written from the target-based
/// reassembly semantics (Novak & Sturges 2007, as Suricata implements them),
/// not from the library's table: does the receiver keep the new copy of the
/// bytes a new segment `[ns, ne)` shares with a stored segment `[os, oe)`?
/// (The winner keeps every shared byte of that pair.)
///
/// - first, vista: never; what the receiver holds stays.
/// - last: always.
/// - bsd and the stacks that behave like it (hpux10, irix, macos, windows,
///   windows2k3; `bsd-right` is Suricata's other name for bsd): only a segment
///   that begins earlier than the stored one replaces it.
/// - linux: as bsd; also a segment that begins at the same byte and reaches
///   further than the stored one.
/// - old-linux: as linux; also one that begins and ends with the stored one.
/// - solaris (and hpux11; `old-solaris` is Suricata's other name for it): a
///   segment that reaches further than the stored one, or ends at the same
///   byte and begins no later.
fn receiver_keeps_new(policy: OverlapPolicy, ns: usize, ne: usize, os: usize, oe: usize) -> bool {
    use OverlapPolicy::*;
    match policy {
        First | Vista => false,
        Last => true,
        Bsd | BsdRight | Hpux10 | Irix | Macos | Windows | Windows2k3 => ns < os,
        Linux => ns < os || (ns == os && ne > oe),
        OldLinux => ns < os || (ns == os && ne >= oe),
        Solaris | OldSolaris | Hpux11 => ne > oe || (ne == oe && ns <= os),
    }
}

/// A conflict as the model sees it: (offset, len, old frame, new frame,
/// winner, shape); no shape when the old bytes had been delivered.
type ModelConflict = (u64, u64, u64, u64, Winner, Option<Overlap>);

/// The naive model of every policy. A byte array where each byte not yet
/// final remembers the arrival it came from; a stored segment is a maximal run
/// of such bytes from one arrival. Each arrival, in order: bytes before the
/// delivery point are old and ignored; for every stored segment it overlaps
/// whose overlapping bytes differ, the model's own rule
/// ([`receiver_keeps_new`]) decides who takes all of them (a conflict); bytes
/// over no stored byte are taken. Then the delivery
/// point moves past every known byte. Arrival `j` is frame `first_frame + j`.
///
/// With `verify` (an unbounded verify window), bytes before the delivery point
/// are compared too: for every maximal run of final bytes from one arrival
/// that the old part overlaps, differing bytes are a conflict the delivered
/// version wins (no shape: the policy is not asked).
fn model(
    policy: OverlapPolicy,
    len: usize,
    segs: &[(usize, Vec<u8>)],
    first_frame: u64,
    verify: bool,
) -> (Vec<Option<u8>>, Vec<ModelConflict>) {
    let mut bytes: Vec<Option<(u8, usize)>> = vec![None; len];
    let mut fin = 0usize;
    let mut conflicts = Vec::new();
    for (j, (a, data)) in segs.iter().enumerate() {
        let (a, e) = (*a, a + data.len());
        if verify {
            let mut p = a;
            while p < e.min(fin) {
                let k = bytes[p].map(|b| b.1);
                let mut q = p;
                while q < e.min(fin) && bytes[q].map(|b| b.1) == k {
                    q += 1;
                }
                if (p..q).any(|i| bytes[i].map(|b| b.0) != Some(data[i - a])) {
                    conflicts.push((
                        p as u64,
                        (q - p) as u64,
                        first_frame + k.unwrap() as u64,
                        first_frame + j as u64,
                        Winner::Old,
                        None,
                    ));
                }
                p = q;
            }
        }
        let from = a.max(fin);
        // The stored segments this arrival overlaps, with their full extents.
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        let mut p = from;
        while p < e {
            let Some((_, k)) = bytes[p] else {
                p += 1;
                continue;
            };
            let mut c = p;
            while c > fin && matches!(bytes[c - 1], Some((_, o)) if o == k) {
                c -= 1;
            }
            let mut d = p;
            while d < len && matches!(bytes[d], Some((_, o)) if o == k) {
                d += 1;
            }
            runs.push((c, d, k));
            p = d;
        }
        let mut taken = vec![true; e.saturating_sub(from)];
        for &(c, d, k) in &runs {
            let (x, y) = (from.max(c), e.min(d));
            let differ = (x..y).any(|q| bytes[q].map(|b| b.0) != Some(data[q - a]));
            let winner = if differ {
                let shape = Overlap::of(a as u64, e as u64, c as u64, d as u64);
                let w = if receiver_keeps_new(policy, a, e, c, d) {
                    Winner::New
                } else {
                    Winner::Old
                };
                conflicts.push((
                    x as u64,
                    (y - x) as u64,
                    first_frame + k as u64,
                    first_frame + j as u64,
                    w,
                    Some(shape),
                ));
                w
            } else {
                Winner::Old
            };
            if winner == Winner::Old {
                for q in x..y {
                    taken[q - from] = false;
                }
            }
        }
        for q in from..e {
            if taken[q - from] {
                bytes[q] = Some((data[q - a], j));
            }
        }
        while fin < len && bytes[fin].is_some() {
            fin += 1;
        }
    }
    (bytes.iter().map(|b| b.map(|b| b.0)).collect(), conflicts)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Overlapping segments with different bytes, under every policy, equal the
    /// model: the stream, every conflict (offsets, frames, winner, shape), the
    /// ledger; holes at the end become gaps. With an unbounded verify window,
    /// every re-sent byte range that differs from delivered bytes is reported
    /// too; without one, none is.
    #[test]
    fn overlaps_follow_the_model((isn, len, segs) in overlap_case(), pick in 0usize..15, verify in any::<bool>()) {
        let policy = OverlapPolicy::ALL[pick % OverlapPolicy::ALL.len()];
        let mut pkts = handshake(isn, 1);
        for (o, b) in &segs {
            pkts.push(c(isn.wrapping_add(1).wrapping_add(*o as u32), 0, b));
        }
        // The handshake is frames 1-3.
        let (want, want_conflicts) = model(policy, len, &segs, 4, verify);
        if matches!(policy, OverlapPolicy::First | OverlapPolicy::Last) {
            prop_assert_eq!(&want, &simple_model(policy, len, &segs), "the two models agree");
        }
        // The stream holds at most 400 bytes: this window never forgets.
        let verify_window = if verify { 1 << 20 } else { 0 };
        let cfg = AssemblerConfig { overlap_policy: policy, verify_window, ..Default::default() };
        let r = run_with(cfg, &pkts);
        let r = &r[0];
        let got = r.placed(C2S);
        let known_end = want.iter().rposition(|b| b.is_some()).map_or(0, |p| p + 1);
        prop_assert_eq!(&got[..], &want[..known_end]);
        let l = &r.completion.as_ref().unwrap().c2s;
        let captured: usize = segs.iter().map(|(_, b)| b.len()).sum();
        prop_assert_eq!(l.captured, captured as u64);
        prop_assert_eq!(l.delivered, want.iter().filter(|b| b.is_some()).count() as u64);
        prop_assert_eq!(l.missing, want[..known_end].iter().filter(|b| b.is_none()).count() as u64);
        let got_conflicts: Vec<ModelConflict> = r
            .conflicts
            .iter()
            .map(|(k, _)| {
                (k.stream_offset, k.len, k.old_frame, k.new_frame, k.winner, k.reason.shape())
            })
            .collect();
        prop_assert_eq!(&got_conflicts, &want_conflicts);
        prop_assert_eq!(l.conflicts, want_conflicts.len() as u64);
        prop_assert!(r.conflicts.iter().all(|(k, _)| k.policy == policy && k.dir == C2S));
        let lost: u64 = want_conflicts.iter().map(|k| k.1).sum();
        prop_assert_eq!(l.overlap_lost, lost);
    }

    /// A small verify window (its ring and its frame records both bounded)
    /// reports only what an unbounded one would: queued conflicts exactly, and
    /// each delivered-bytes conflict inside one the model reports, with the
    /// same two frames. The stream and the ledger buckets other than
    /// duplicate/overlap_lost do not change.
    #[test]
    fn small_windows_report_within_the_model((isn, len, segs) in overlap_case(), pick in 0usize..15, window in 1usize..80) {
        let policy = OverlapPolicy::ALL[pick % OverlapPolicy::ALL.len()];
        let mut pkts = handshake(isn, 1);
        for (o, b) in &segs {
            pkts.push(c(isn.wrapping_add(1).wrapping_add(*o as u32), 0, b));
        }
        let (want, want_conflicts) = model(policy, len, &segs, 4, true);
        let cfg = AssemblerConfig { overlap_policy: policy, verify_window: window, ..Default::default() };
        let r = run_with(cfg, &pkts);
        let r = &r[0];
        let known_end = want.iter().rposition(|b| b.is_some()).map_or(0, |p| p + 1);
        prop_assert_eq!(&r.placed(C2S)[..], &want[..known_end]);
        let (queued, delivered): (Vec<_>, Vec<_>) =
            r.conflicts.iter().map(|(k, _)| *k).partition(|k| k.reason.shape().is_some());
        let want_queued: Vec<ModelConflict> =
            want_conflicts.iter().copied().filter(|k| k.5.is_some()).collect();
        let got_queued: Vec<ModelConflict> = queued
            .iter()
            .map(|k| (k.stream_offset, k.len, k.old_frame, k.new_frame, k.winner, k.reason.shape()))
            .collect();
        prop_assert_eq!(got_queued, want_queued);
        for k in &delivered {
            prop_assert!(k.len <= window as u64);
            prop_assert!(
                want_conflicts.iter().any(|m| m.5.is_none()
                    && (m.2, m.3) == (k.old_frame, k.new_frame)
                    && m.0 <= k.stream_offset
                    && k.stream_offset + k.len <= m.0 + m.1),
                "{:?} is not inside a conflict of the model", k
            );
        }
        let l = &r.completion.as_ref().unwrap().c2s;
        let lost: u64 = r.conflicts.iter().map(|(k, _)| k.len).sum();
        prop_assert_eq!(l.overlap_lost, lost);
    }

    /// With tiny caps, buffered pages never exceed them; every delivered byte is
    /// the original byte at its offset; the ledger adds up.
    #[test]
    fn caps_bound_memory(k in case(), per_conn in 1usize..6, total in 1usize..8, window in 0usize..5000) {
        let mut k = k;
        k.handshake = true;
        let cfg = AssemblerConfig {
            page_size: 64,
            max_pages_per_conn: per_conn,
            max_pages_total: total,
            verify_window: window,
            ..Default::default()
        };
        let mut pkts = packets(&k);
        // Lose every 7th data packet so holes persist.
        let mut i = 0;
        pkts.retain(|p| { i += 1; i <= 3 || p.payload.is_empty() || i % 7 != 0 });
        let mut a = Assembler::new(cfg, Factory::default());
        for (i, p) in pkts.iter().enumerate() {
            a.assemble(&segment(p, i as u64 + 1, client()));
            prop_assert!(a.pages_in_use() <= total);
            // Two directions, each at most 1.25 * window + 256 bytes.
            prop_assert!(a.verify_bytes_in_use() <= 2 * (window + window / 4 + 256));
        }
        a.flush_all();
        prop_assert_eq!(a.pages_in_use(), 0);
        prop_assert_eq!(a.verify_bytes_in_use(), 0);
        prop_assert!(a.stats().pages_high_water <= total);
        let f = a.into_factory();
        let r = &f.streams[0];
        for (dir, data) in [(C2S, &k.data_c), (S2C, &k.data_s)] {
            let got = r.placed(dir);
            prop_assert!(got.len() <= data.len());
            for (i, b) in got.iter().enumerate() {
                if let Some(b) = b {
                    prop_assert_eq!(*b, data[i], "byte {} of {:?}", i, dir);
                }
            }
            let l = r.completion.as_ref().unwrap().ledger(dir);
            prop_assert!(l.balanced());
            prop_assert_eq!(l.overlap_lost, 0);
        }
    }
}
