//! The verify window (`AssemblerConfig::verify_window`): retransmissions of
//! bytes already delivered are compared with a copy of the last delivered
//! bytes. Equal ones are duplicates; differing ones are conflicts the
//! delivered version wins, with both versions and both frames. Bytes older
//! than the window, or skipped ones, stay unchecked duplicates. Every run
//! checks that the ledger balances and that each reported conflict is counted
//! (`common::run_factory`).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reassembly::{
    Assembler, AssemblerConfig, Conflict, ConflictReason, Dir, OverlapPolicy, Winner, EXCERPT_MAX,
};

const C2S: Dir = Dir::ClientToServer;
const S2C: Dir = Dir::ServerToClient;

fn cfg(window: usize) -> AssemblerConfig {
    AssemblerConfig {
        verify_window: window,
        ..Default::default()
    }
}

/// Client data at stream offset `off` of a connection whose client ISN is `isn`.
fn at(isn: u32, off: u32, payload: &[u8]) -> Pkt {
    c(isn.wrapping_add(1).wrapping_add(off), 0, payload)
}

/// Server data at stream offset `off` (server ISN `isn`).
fn sat(isn: u32, off: u32, payload: &[u8]) -> Pkt {
    s(isn.wrapping_add(1).wrapping_add(off), 0, payload)
}

/// A conflict's facts: offset, len, old and new frames, old and new bytes.
type Facts = (u64, u64, u64, u64, Vec<u8>, Vec<u8>);

fn facts(r: &Record, dir: Dir) -> Vec<Facts> {
    r.conflicts
        .iter()
        .filter(|(c, _)| c.dir == dir)
        .map(|(c, _)| {
            assert_eq!(c.winner, Winner::Old, "delivered bytes always stay");
            assert_eq!(c.reason, ConflictReason::Delivered);
            (
                c.stream_offset,
                c.len,
                c.old_frame,
                c.new_frame,
                c.old_bytes.to_vec(),
                c.new_bytes.to_vec(),
            )
        })
        .collect()
}

fn ledger(r: &Record, dir: Dir) -> reassembly::Ledger {
    r.completion.as_ref().unwrap().ledger(dir).clone()
}

#[test]
fn test_delivered_equal_retransmission_is_duplicate() {
    let mut pkts = handshake(0, 9);
    pkts.push(at(0, 0, b"hello ")); // frame 4
    pkts.push(at(0, 6, b"world")); // frame 5
    pkts.push(at(0, 0, b"hello world")); // frame 6: same bytes again
    let r = run_with(cfg(1024), &pkts);
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"hello world");
    assert!(r.conflicts.is_empty());
    let l = ledger(r, C2S);
    assert_eq!((l.delivered, l.duplicate, l.overlap_lost), (11, 11, 0));
}

#[test]
fn test_delivered_differing_retransmission_is_a_conflict_per_packet() {
    let mut pkts = handshake(0, 9);
    pkts.push(at(0, 0, b"abc")); // frame 4
    pkts.push(at(0, 3, b"def")); // frame 5
    pkts.push(at(0, 0, b"aXcdYf")); // frame 6: both packets' bytes differ
    pkts.push(at(0, 1, b"bcdZ")); // frame 7: only frame 5's part differs
    pkts.push(at(0, 6, b"ghi")); // frame 8: in order, after the checks
    for &policy in OverlapPolicy::ALL {
        let r = run_with(
            AssemblerConfig {
                overlap_policy: policy,
                ..cfg(64)
            },
            &pkts,
        );
        let r = &r[0];
        assert_eq!(r.bytes(C2S), b"abcdefghi", "{policy}");
        assert_eq!(
            facts(r, C2S),
            vec![
                (0, 3, 4, 6, b"abc".to_vec(), b"aXc".to_vec()),
                (3, 3, 5, 6, b"def".to_vec(), b"dYf".to_vec()),
                (3, 2, 5, 7, b"de".to_vec(), b"dZ".to_vec()),
            ],
            "{policy}"
        );
        assert!(r.conflicts.iter().all(|(c, _)| c.policy == policy));
        let l = ledger(r, C2S);
        assert_eq!(
            (l.delivered, l.duplicate, l.overlap_lost, l.conflicts),
            (9, 2, 8, 3)
        );
    }
}

/// Without a window (the default) the same retransmissions are unchecked duplicates.
#[test]
fn test_no_window_counts_duplicates_unchecked() {
    let mut pkts = handshake(0, 9);
    pkts.push(at(0, 0, b"abc"));
    pkts.push(at(0, 0, b"XYZ"));
    let r = run_with(cfg(0), &pkts);
    let r = &r[0];
    assert!(r.conflicts.is_empty());
    let l = ledger(r, C2S);
    assert_eq!((l.delivered, l.duplicate, l.overlap_lost), (3, 3, 0));
}

/// A window of 8 bytes holds only the last 8 delivered bytes: a retransmission
/// reaching further back is compared where the window reaches and counted as an
/// unchecked duplicate before it (even where it differs).
#[test]
fn test_delivered_retransmission_partly_outside_the_window() {
    let mut pkts = handshake(0, 9);
    pkts.push(at(0, 0, b"0123456789abcdef")); // frame 4
    pkts.push(at(0, 0, b"XXXXXXXXXXXXXXXX")); // frame 5: all 16 differ
    let r = run_with(cfg(8), &pkts);
    let r = &r[0];
    assert_eq!(
        facts(r, C2S),
        vec![(8, 8, 4, 5, b"89abcdef".to_vec(), b"XXXXXXXX".to_vec())]
    );
    let l = ledger(r, C2S);
    assert_eq!((l.delivered, l.duplicate, l.overlap_lost), (16, 8, 8));
}

/// Offsets and frames stay right when the sequence numbers wrap past 2^32
/// between the delivered bytes and inside the retransmission.
#[test]
fn test_delivered_conflict_across_the_wrap() {
    let isn = u32::MAX - 4; // stream offset 4 is sequence number 0
    let mut pkts = handshake(isn, 9);
    pkts.push(at(isn, 0, b"abcdef")); // frame 4: seq u32::MAX-3 ..= 2
    pkts.push(at(isn, 6, b"ghij")); // frame 5
    pkts.push(at(isn, 2, b"cdEfgHi")); // frame 6: spans the wrap and both packets
    let r = run_with(cfg(4096), &pkts);
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"abcdefghij");
    assert_eq!(
        facts(r, C2S),
        vec![
            (2, 4, 4, 6, b"cdef".to_vec(), b"cdEf".to_vec()),
            (6, 3, 5, 6, b"ghi".to_vec(), b"gHi".to_vec()),
        ]
    );
    let l = ledger(r, C2S);
    assert_eq!((l.duplicate, l.overlap_lost), (0, 7));
}

/// Bytes delivered from the out-of-order queue are in the window with the
/// frames that carried them; the server direction has its own window.
#[test]
fn test_queued_then_delivered_bytes_keep_their_frames() {
    let mut pkts = handshake(0, 100);
    pkts.push(at(0, 3, b"def")); // frame 4: queued
    pkts.push(sat(100, 0, b"server")); // frame 5
    pkts.push(at(0, 0, b"abc")); // frame 6: delivers 4 from the queue too
    pkts.push(at(0, 2, b"cDe")); // frame 7
    pkts.push(sat(100, 0, b"sErver")); // frame 8
    let r = run_with(cfg(64), &pkts);
    let r = &r[0];
    // Byte 2 (frame 6) is equal; bytes 3-4 came from the queue (frame 4).
    assert_eq!(
        facts(r, C2S),
        vec![(3, 2, 4, 7, b"de".to_vec(), b"De".to_vec())]
    );
    assert_eq!(
        facts(r, S2C),
        vec![(0, 6, 5, 8, b"server".to_vec(), b"sErver".to_vec())]
    );
    let l = ledger(r, C2S);
    assert_eq!((l.duplicate, l.overlap_lost), (1, 2));
}

/// Bytes skipped over a hole were never delivered: a late segment bringing them
/// is an unchecked duplicate, while the delivered bytes on both sides of the
/// hole are still compared.
#[test]
fn test_skipped_bytes_are_unchecked() {
    let mut pkts = handshake(0, 9);
    pkts.push(at(0, 0, b"abc")); // frame 4
    pkts.push(at(0, 6, b"ghi")); // frame 5: queued after a hole
    let mut a = Assembler::new(cfg(64), Factory::default());
    for (i, p) in pkts.iter().enumerate() {
        a.assemble(&segment(p, i as u64 + 1, client()));
    }
    a.flush_older_than(u64::MAX); // skip the hole [3, 6)
    let late = at(0, 1, b"bXdefgYi"); // frame 6: differs at 2 delivered bytes
    a.assemble(&segment(&late, 6, client()));
    a.flush_all();
    assert_eq!(a.verify_bytes_in_use(), 0, "windows are released");
    let f = a.into_factory();
    let r = &f.streams[0];
    assert_eq!(r.bytes(C2S), b"abcghi");
    assert_eq!(
        facts(r, C2S),
        vec![
            (1, 2, 4, 6, b"bc".to_vec(), b"bX".to_vec()),
            (6, 3, 5, 6, b"ghi".to_vec(), b"gYi".to_vec()),
        ]
    );
    let l = ledger(r, C2S);
    assert_eq!(l.gaps.len(), 1);
    assert_eq!((l.duplicate, l.overlap_lost), (3, 5));
    assert!(l.balanced());
}

/// A retransmission after the FIN closed the direction is still compared with
/// the delivered bytes before the FIN (the rest is after close).
#[test]
fn test_retransmission_after_fin_is_compared() {
    let mut pkts = handshake(0, 9);
    pkts.push(at(0, 0, b"abcd")); // frame 4
    pkts.push(c(5, FIN, b"")); // frame 5
    pkts.push(at(0, 2, b"cDEF")); // frame 6: 2 old bytes, 2 after the FIN
    let r = run_with(cfg(64), &pkts);
    let r = &r[0];
    assert_eq!(
        facts(r, C2S),
        vec![(2, 2, 4, 6, b"cd".to_vec(), b"cD".to_vec())]
    );
    let l = ledger(r, C2S);
    assert_eq!((l.delivered, l.overlap_lost, l.after_close), (4, 2, 2));
}

/// Kept bytes (`keep_from`) older than the window are still compared through
/// the kept copy; the window takes over where it reaches.
#[test]
fn test_kept_bytes_before_the_window() {
    let f = Factory {
        keep_plan: vec![Some(0); 8],
        ..Default::default()
    };
    let mut pkts = handshake(0, 9);
    pkts.push(at(0, 0, b"abcdefgh")); // frame 4
    pkts.push(at(0, 8, b"ijkl")); // frame 5
    pkts.push(at(0, 0, b"Abcdefghijkl")); // frame 6
    pkts.push(at(0, 10, b"kL")); // frame 7
    let r = run_factory(cfg(4), f, &pkts);
    let r = &r[0];
    assert_eq!(
        facts(r, C2S),
        vec![
            // Byte 0 is only in the kept copy; bytes 8.. are in the window.
            (0, 8, 4, 6, b"abcdefgh".to_vec(), b"Abcdefgh".to_vec()),
            (10, 2, 5, 7, b"kl".to_vec(), b"kL".to_vec()),
        ]
    );
}

/// Excerpts are capped like those of queued conflicts; the window memory is
/// counted while connections live and released when they complete.
#[test]
fn test_long_conflict_excerpts_and_memory() {
    let old: Vec<u8> = (0..300u32).map(|i| b'a' + (i % 26) as u8).collect();
    let new: Vec<u8> = old.iter().map(|b| b.to_ascii_uppercase()).collect();
    let mut pkts = handshake(0, 9);
    pkts.push(at(0, 0, &old)); // frame 4
    pkts.push(at(0, 0, &new)); // frame 5
    let mut a = Assembler::new(cfg(1 << 16), Factory::default());
    for (i, p) in pkts.iter().enumerate() {
        a.assemble(&segment(p, i as u64 + 1, client()));
    }
    let held = a.verify_bytes_in_use();
    // The ring grew to 512 bytes for 300 (not the whole 64 KiB), plus records.
    assert!((512..1024).contains(&held), "{held}");
    a.flush_all();
    assert_eq!(a.verify_bytes_in_use(), 0);
    assert_eq!(a.stats().verify_bytes_high_water, held);
    let f = a.into_factory();
    let r = &f.streams[0];
    let (k, _): &(Conflict, usize) = &r.conflicts[0];
    assert_eq!((k.stream_offset, k.len), (0, 300));
    assert_eq!(k.old_bytes.as_bytes(), &old[..EXCERPT_MAX]);
    assert_eq!(k.new_bytes.as_bytes(), &new[..EXCERPT_MAX]);
}
