//! Regression tests for what the hardening checks (fuzz targets and their CI
//! smoke run in crates/hardening) found in the assembler. Each test names the
//! broken promise and fails without its fix.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reassembly::{AssemblerConfig, Dir};

/// Found by the capture check on gopacket/linux_sll_oversized_addr.pcapng: data
/// queued out of order past a FIN that arrived later was delivered after the
/// delivery that ended the direction. It is after close, as it would have been
/// had the FIN come first.
#[test]
fn test_queued_past_a_later_fin_is_after_close() {
    let pkts = vec![
        c(100, SYN, b""),
        c(115, ACK, b"XYZ"),              // queued beyond a hole
        c(101, ACK | FIN, b"abcdefghij"), // FIN at 111
    ];
    let r = run_with(AssemblerConfig::default(), &pkts);
    let r = &r[0];
    let d: Vec<_> = r
        .deliveries
        .iter()
        .filter(|d| d.dir == Dir::ClientToServer)
        .collect();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].bytes, b"abcdefghij");
    assert!(d[0].end);
    let l = &r.completion.as_ref().unwrap().c2s;
    assert_eq!((l.delivered, l.after_close), (10, 3), "{l:?}");
}

/// The same with a queued chunk that straddles the FIN: its head is stream
/// data, its tail after close, and nothing past the FIN is delivered.
#[test]
fn test_queued_chunk_straddling_a_later_fin_is_cut_at_it() {
    let pkts = vec![
        c(100, SYN, b""),
        c(103, ACK, b"cdefghijkl"),    // [103, 113) queued
        c(101, ACK | FIN, b"abcdefg"), // [101, 108) and FIN at 108
    ];
    let r = run_with(AssemblerConfig::default(), &pkts);
    let r = &r[0];
    assert_eq!(r.bytes(Dir::ClientToServer), b"abcdefg");
    let l = &r.completion.as_ref().unwrap().c2s;
    assert_eq!(
        (l.delivered, l.duplicate, l.after_close),
        (7, 5, 5),
        "{l:?}"
    );
}

/// Found by the assembler check: bytes cut by snaplen at the end of a
/// direction became a gap at completion, but the end notice that followed
/// reported no skip, so its stream offset jumped over bytes nobody was told of.
#[test]
fn test_end_notice_after_trailing_snaplen_gap_reports_the_skip() {
    let pkts = vec![c(100, SYN, b""), c(101, ACK, b"abc").truncated(5)];
    let r = run_with(AssemblerConfig::default(), &pkts);
    let r = &r[0];
    let last = r.deliveries.last().unwrap();
    assert!(last.end);
    assert_eq!((last.offset, last.skip), (8, 5), "{last:?}");
    let l = &r.completion.as_ref().unwrap().c2s;
    assert_eq!(l.missing, 5);
}

/// Found by the capture check on a pcapng-test-generator capture: a UDP
/// datagram cut by snaplen left a gap, but the next datagram's delivery
/// reported no skip while its stream offset jumped over the missing bytes.
/// Also: an empty datagram made an empty call that did not end the direction,
/// which the stream contract rules out.
#[test]
fn test_udp_snaplen_gap_is_reported_as_a_skip_and_empty_datagrams_make_no_call() {
    let mut a = reassembly::Assembler::new(AssemblerConfig::default(), Factory::default());
    a.assemble(&udp_segment(true, b"", 1));
    let mut cut = udp_segment(true, b"ab", 2);
    cut.truncated = 3;
    a.assemble(&cut);
    a.assemble(&udp_segment(true, b"", 3));
    a.assemble(&udp_segment(true, b"cd", 4));
    a.flush_all();
    let f = a.into_factory();
    let r = &f.streams[0];
    let d: Vec<(Vec<u8>, u64, u64, bool)> = r
        .deliveries
        .iter()
        .map(|d| (d.bytes.clone(), d.offset, d.skip, d.start))
        .collect();
    assert_eq!(
        d,
        vec![(b"ab".to_vec(), 0, 0, true), (b"cd".to_vec(), 5, 3, false)]
    );
    let l = &r.completion.as_ref().unwrap().c2s;
    assert_eq!((l.delivered, l.missing), (4, 3));
}

/// Found by the assembler check: a SYN arriving after a direction picked up
/// mid-stream had already delivered bytes re-homed the sequence space, so
/// later bytes were delivered again from stream offset 0.
#[test]
fn test_late_syn_after_midstream_delivery_does_not_renumber() {
    let cfg = AssemblerConfig {
        midstream_window: 1,
        ..AssemblerConfig::default()
    };
    // One direction only (its sender counts as the client: it sent first).
    let pkts = vec![
        s(5000, ACK, b"hello"),
        s(9000, SYN | ACK, b""),
        s(5005, ACK, b"world"),
    ];
    let r = run_with(cfg, &pkts);
    let r = &r[0];
    let d: Vec<(u64, Vec<u8>)> = r
        .deliveries
        .iter()
        .filter(|d| !d.bytes.is_empty())
        .map(|d| (d.offset, d.bytes.clone()))
        .collect();
    assert_eq!(d, vec![(0, b"hello".to_vec()), (5, b"world".to_vec())]);
}

/// Found by the assembler fuzz target (a hang): data queued mid-stream, then a
/// late SYN re-homed it; bytes cut by snaplen after the SYN's data made the
/// next segment skip the delivery point past that queued chunk, which then sat
/// before the delivery point, and the cap-flush loop spun on it forever. The
/// skip now stops at queued bytes, and the FIN seen before the SYN moves with
/// the re-homed sequence space.
#[test]
fn test_snaplen_skip_stops_at_queued_bytes_after_a_late_syn() {
    let cfg = AssemblerConfig {
        page_size: 64,
        max_pages_per_conn: 13,
        max_pages_total: 29,
        midstream_window: 3,
        ..AssemblerConfig::default()
    };
    let isn = 0x8000_0000u32 - 7197;
    let pkts = vec![
        // Mid-stream data with a FIN, 1838 bytes after the SYN's data starts.
        c(isn + 1838, ACK | FIN, &[b'b'; 273]).truncated(273),
        // The SYN, with 995 bytes and 995 more cut by snaplen.
        c(isn, SYN | FIN, &[b'a'; 995]).truncated(995),
        // Far ahead: needs pages the cap does not leave.
        c(isn + 11566, ACK | FIN, &[b'c'; 273]).truncated(273),
    ];
    // It used to hang: run it on a thread with a deadline.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = run_with(cfg, &pkts);
        let r = &r[0];
        let l = r.completion.as_ref().unwrap().c2s.clone();
        tx.send((r.bytes(Dir::ClientToServer), l)).unwrap();
    });
    let (got, l) = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the assembler hangs (or panicked)");
    let l = &l;
    // Offsets from the SYN's data (isn + 1): 'a' at [0, 995), its snaplen cut
    // [995, 1990); 'b' at [1837, 2110), its cut [2110, 2383), then its FIN.
    // The queued 'b' chunk is delivered whole (not skipped); the holes before
    // and after it are gaps; 'c', past the FIN, comes after the close.
    let want: Vec<u8> = [vec![b'a'; 995], vec![b'b'; 273]].concat();
    assert_eq!(got, want, "{l:?}");
    let gaps: Vec<(u64, u64)> = l.gaps.iter().map(|g| (g.offset, g.len)).collect();
    assert_eq!(gaps, [(995, 1837 - 995), (2110, 273)], "{l:?}");
    assert_eq!(l.missing, (1837 - 995) + 273, "{l:?}");
    assert_eq!(
        (l.captured, l.delivered, l.after_close),
        (995 + 273 + 273, 995 + 273, 273),
        "{l:?}"
    );
    assert!(l.balanced(), "{l:?}");
}

/// Found by the assembler fuzz target (an arithmetic overflow): bytes kept with
/// `keep_from`, then a snaplen skip moved the delivery point on before the next
/// delivery; a retransmission of the kept bytes was then compared assuming they
/// sat right before the (moved) delivery point, and the offset arithmetic
/// underflowed. Kept bytes now remember where they end.
#[test]
fn test_retransmission_of_kept_bytes_after_a_snaplen_skip() {
    let factory = Factory {
        // Keep the whole first delivery.
        keep_plan: vec![Some(0)],
        ..Factory::default()
    };
    let pkts = vec![
        c(100, SYN, b""),
        c(101, ACK, b"abcdefghijklm").truncated(22), // [1, 14) then 22 bytes cut
        c(140, ACK, b"Z"),                           // past the cut: skip to 36, queue Z
        c(101, ACK, b"abcdefghijkl"),                // old: compared with kept bytes
    ];
    let r = run_factory(AssemblerConfig::default(), factory, &pkts);
    let r = &r[0];
    let l = &r.completion.as_ref().unwrap().c2s;
    assert_eq!(r.bytes(Dir::ClientToServer), b"abcdefghijklmZ");
    // The retransmission matches the kept bytes: duplicates, no conflict.
    assert_eq!(
        (l.duplicate, l.overlap_lost, l.conflicts),
        (12, 0, 0),
        "{l:?}"
    );
    assert_eq!(l.missing, 22 + 4);
}

/// Found by the assembler fuzz target (the check "first delivery at 0 after a
/// skip of 13"): a direction picked up mid-stream from a segment whose bytes
/// were all cut by snaplen started there with nothing delivered; a later
/// segment skipped the cut bytes (a skip waiting for the next delivery, and a
/// gap in the ledger), then a late SYN re-homed the direction at its ISN. The
/// skip and the gap, measured in the provisional sequence space, were reported
/// with the first delivery at stream offset 0, where nothing can have been
/// skipped. A re-homing SYN now drops the skips it makes meaningless; holes of
/// the new space are found again as the delivery point moves.
#[test]
fn test_late_syn_drops_a_skip_measured_before_it() {
    let cfg = AssemblerConfig {
        midstream_window: 1,
        ..AssemblerConfig::default()
    };
    let x = 0x8000_0ddf_u32;
    let pkts = vec![
        // Starts the direction at x (nothing captured, nothing delivered).
        c(x, ACK, b"").truncated(13),
        // Again, now that it started: 13 bytes at x are cut by snaplen.
        c(x, ACK, b"").truncated(13),
        // Past the cut: skip [x, x + 13) (reported with the next delivery), queue this.
        c(x + 100, ACK, b"later"),
        // The SYN, 50 bytes after x: the skipped bytes are before its ISN.
        c(x + 50, SYN | ACK, &[b'a'; 49]),
    ];
    let r = run_with(cfg, &pkts);
    let r = &r[0];
    let d: Vec<(u64, u64, bool, usize)> = r
        .deliveries
        .iter()
        .map(|d| (d.offset, d.skip, d.start, d.bytes.len()))
        .collect();
    // Stream byte 0 is ISN + 1: its 49 bytes and the queued 5 right after, no skip.
    assert_eq!(d[0], (0, 0, true, 54), "{d:?}");
    assert_eq!(r.total_skip(Dir::ClientToServer), 0, "{d:?}");
    let mut want = vec![b'a'; 49];
    want.extend_from_slice(b"later");
    assert_eq!(r.bytes(Dir::ClientToServer), want);
    let l = &r.completion.as_ref().unwrap().c2s;
    assert_eq!((l.missing, l.gaps.len(), l.delivered), (0, 0, 54), "{l:?}");
}

/// The same when the skipped bytes land after the late SYN's ISN: the skip of
/// the provisional space is dropped and the hole of the new space (which holds
/// those bytes) is found again, once, when the end of input flushes it.
#[test]
fn test_late_syn_finds_the_holes_of_its_own_space_again() {
    let cfg = AssemblerConfig {
        midstream_window: 1,
        ..AssemblerConfig::default()
    };
    let x = 5000_u32;
    let pkts = vec![
        c(x, ACK, b"").truncated(13),
        c(x, ACK, b"").truncated(13),
        c(x + 100, ACK, b"later"),
        // ISN x - 10: stream byte 0 is x - 9, the skipped bytes are stream 9..22.
        c(x - 10, SYN | ACK, b"abcde"),
    ];
    let r = run_with(cfg, &pkts);
    let r = &r[0];
    let d: Vec<(u64, u64, Vec<u8>)> = r
        .deliveries
        .iter()
        .filter(|d| !d.bytes.is_empty())
        .map(|d| (d.offset, d.skip, d.bytes.clone()))
        .collect();
    // "later" sits at stream offset 109: one hole [5, 109) before it.
    assert_eq!(
        d,
        vec![(0, 0, b"abcde".to_vec()), (109, 104, b"later".to_vec())]
    );
    let l = &r.completion.as_ref().unwrap().c2s;
    assert_eq!(l.missing, 104, "{l:?}");
    assert_eq!(
        l.gaps,
        vec![reassembly::Gap {
            offset: 5,
            len: 104
        }]
    );
}
