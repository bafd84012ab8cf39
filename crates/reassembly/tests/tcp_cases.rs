//! One test per segment case and per state x event, on hand-built segments.
//! Names follow `test_<state>_<event>`.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reassembly::{Accept, AssemblerConfig, Dir, EndReason, Gap};

const C2S: Dir = Dir::ClientToServer;
const S2C: Dir = Dir::ServerToClient;

fn with(mut pkts: Vec<Pkt>, more: Vec<Pkt>) -> Vec<Pkt> {
    pkts.extend(more);
    pkts
}

#[test]
fn test_established_next_expected() {
    let r = run(&with(
        handshake(100, 500),
        vec![c(101, PSH, b"hello "), c(107, PSH, b"world")],
    ));
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"hello world");
    // Two data deliveries, then an empty one marking the end of input.
    assert_eq!(r.deliveries.len(), 3);
    assert!(r.deliveries[0].start && !r.deliveries[1].start);
    assert!(!r.deliveries[1].end && r.deliveries[2].end && r.deliveries[2].bytes.is_empty());
    assert_eq!(r.deliveries[1].offset, 6);
    let l = &r.completion.as_ref().unwrap().c2s;
    assert_eq!((l.captured, l.delivered, l.duplicate), (11, 11, 0));
    assert_eq!(r.info.unwrap().client, client());
    assert!(r.info.unwrap().syn_seen);
}

#[test]
fn test_established_future_then_fill() {
    let r = run(&with(
        handshake(100, 500),
        vec![c(107, PSH, b"world"), c(101, PSH, b"hello ")],
    ));
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"hello world");
    // The hole filler and the queued bytes arrive in one call.
    assert_eq!(
        r.deliveries
            .iter()
            .filter(|d| d.dir == C2S && !d.bytes.is_empty())
            .count(),
        1
    );
    assert_eq!(r.total_skip(C2S), 0);
}

#[test]
fn test_established_overlap_head_first_wins() {
    // stored [5,10) "AAAAA"; new [3,8) "bbbbb": only [3,5) of the new one survives.
    let r = run(&with(
        handshake(0, 500),
        vec![c(6, 0, b"AAAAA"), c(4, 0, b"bbbbb"), c(1, 0, b"xyz")],
    ));
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"xyzbbAAAAA");
    let l = &r.completion.as_ref().unwrap().c2s;
    assert_eq!(l.overlap_lost, 3);
    assert_eq!(l.captured, 13);
}

#[test]
fn test_established_overlap_tail_first_wins() {
    let r = run(&with(
        handshake(0, 500),
        vec![c(4, 0, b"AAAAA"), c(6, 0, b"bbbbb"), c(1, 0, b"xyz")],
    ));
    assert_eq!(r[0].bytes(C2S), b"xyzAAAAAbb");
}

#[test]
fn test_established_overlap_inside_and_covering() {
    // new inside stored: dropped entirely; new covering stored: both ends survive.
    let r = run(&with(
        handshake(0, 500),
        vec![
            c(4, 0, b"AAAAAA"),
            c(5, 0, b"zz"),
            c(12, 0, b"CC"),
            c(11, 0, b"dddd"),
            c(1, 0, b"xyz"),
        ],
    ));
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"xyzAAAAAAdCCd");
    let l = &r.completion.as_ref().unwrap().c2s;
    assert_eq!(l.overlap_lost, 4);
}

#[test]
fn test_established_overlap_last_policy() {
    let cfg = AssemblerConfig {
        overlap_policy: reassembly::OverlapPolicy::Last,
        ..Default::default()
    };
    let r = run_with(
        cfg,
        &with(
            handshake(0, 500),
            vec![c(4, 0, b"AAAAAA"), c(5, 0, b"zz"), c(1, 0, b"xyz")],
        ),
    );
    assert_eq!(r[0].bytes(C2S), b"xyzAzzAAA");
}

#[test]
fn test_established_old_retransmission() {
    let r = run(&with(
        handshake(0, 500),
        vec![c(1, 0, b"hello"), c(1, 0, b"hello"), c(3, 0, b"llo world")],
    ));
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"hello world");
    let l = &r.completion.as_ref().unwrap().c2s;
    assert_eq!((l.captured, l.delivered, l.duplicate), (19, 11, 8));
}

#[test]
fn test_established_exact_duplicate_of_queued() {
    let r = run(&with(
        handshake(0, 500),
        vec![c(6, 0, b"world"), c(6, 0, b"world"), c(1, 0, b"hello")],
    ));
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"helloworld");
    let l = &r.completion.as_ref().unwrap().c2s;
    assert_eq!((l.duplicate, l.overlap_lost), (5, 0));
}

#[test]
fn test_established_sequence_wrap() {
    let isn = 0xFFFF_FFFA;
    let r = run(&with(
        handshake(isn, 7),
        vec![
            c(isn.wrapping_add(6), 0, b"6789"),
            c(isn.wrapping_add(1), 0, b"12345"),
            c(isn.wrapping_add(10), FIN, b"AB"),
        ],
    ));
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"123456789AB");
    assert_eq!(r.total_skip(C2S), 0);
}

#[test]
fn test_syn_with_data_tfo() {
    let r = run(&[
        c(100, SYN, b"GET /"),
        s(900, SYN, b"").ack(106),
        c(106, 0, b" HTTP").ack(901),
    ]);
    assert_eq!(r[0].bytes(C2S), b"GET / HTTP");
}

#[test]
fn test_syn_sent_simultaneous_open() {
    let r = run(&[
        c(100, SYN, b""),
        s(900, SYN, b""),
        c(100, SYN, b"").ack(901),
        s(900, SYN, b"").ack(101),
        c(101, 0, b"a"),
        s(901, 0, b"b"),
    ]);
    assert_eq!(r.len(), 1);
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"a");
    assert_eq!(r.bytes(S2C), b"b");
}

#[test]
fn test_synack_first_makes_receiver_client() {
    let r = run(&[
        s(900, SYN, b"").ack(101),
        c(101, 0, b"req").ack(901),
        s(901, 0, b"resp"),
    ]);
    let r = &r[0];
    assert_eq!(r.info.unwrap().client, client());
    assert_eq!(r.bytes(C2S), b"req");
    assert_eq!(r.bytes(S2C), b"resp");
}

#[test]
fn test_midstream_earlier_segment_arrives_late() {
    // No handshake: the first segment seen is not the earliest.
    let r = run(&[
        c(1010, 0, b"klmno"),
        c(1015, 0, b"pq"),
        c(1000, 0, b"abcdefghij"),
    ]);
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"abcdefghijklmnopq");
    assert!(!r.info.unwrap().syn_seen);
}

#[test]
fn test_midstream_window_over_then_old_data_is_before_start() {
    let cfg = AssemblerConfig {
        midstream_window: 2,
        ..Default::default()
    };
    let r = run_with(
        cfg,
        &[
            c(1010, 0, b"klmno"),
            c(1015, 0, b"pq"),
            c(1000, 0, b"abcdefghij"),
        ],
    );
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"klmnopq");
    assert_eq!(r.completion.as_ref().unwrap().c2s.out_of_window, 10);
}

#[test]
fn test_midstream_accept_forces_start() {
    let f = Factory {
        verdicts: vec![(1, Accept::TakeAndStart)],
        ..Default::default()
    };
    let r = run_factory(
        AssemblerConfig::default(),
        f,
        &[c(1010, 0, b"klmno"), c(1000, 0, b"abcdefghij")],
    );
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"klmno");
    assert_eq!(r.deliveries[0].offset, 0);
}

#[test]
fn test_any_state_accept_drop_ignores_packet() {
    let f = Factory {
        verdicts: vec![(4, Accept::Drop)],
        ..Default::default()
    };
    let r = run_factory(
        AssemblerConfig::default(),
        f,
        &with(handshake(0, 9), vec![c(1, 0, b"EVIL"), c(1, 0, b"good")]),
    );
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"good");
    assert_eq!(r.completion.as_ref().unwrap().c2s.captured, 4);
}

#[test]
fn test_established_missing_syn_ack_uses_peer_ack_as_start() {
    // The SYN-ACK was not captured, but the client's ACK says where the server starts:
    // the first 3 server bytes are missing and reported as a leading gap.
    let r = run(&[
        c(100, SYN, b""),
        c(101, 0, b"").ack(5001),
        s(5004, 0, b"tail"),
    ]);
    let r = &r[0];
    assert_eq!(r.bytes(S2C), b"tail");
    let l = &r.completion.as_ref().unwrap().s2c;
    assert_eq!(l.gaps, vec![Gap { offset: 0, len: 3 }]);
    assert_eq!(r.deliveries.iter().find(|d| d.dir == S2C).unwrap().skip, 3);
}

#[test]
fn test_established_rst_with_data() {
    let r = run(&with(
        handshake(0, 9),
        vec![c(1, 0, b"abc"), c(4, RST, b"diag")],
    ));
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"abcdiag");
    assert_eq!(r.completion.as_ref().unwrap().reason, EndReason::Rst);
}

#[test]
fn test_established_rst_flushes_queued_past_hole() {
    let r = run(&with(
        handshake(0, 9),
        vec![c(5, 0, b"later"), c(1, RST, b"")],
    ));
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"later");
    let c2s = &r.completion.as_ref().unwrap().c2s;
    assert_eq!(c2s.gaps, vec![Gap { offset: 0, len: 4 }]);
    assert_eq!(r.completion.as_ref().unwrap().reason, EndReason::Rst);
}

#[test]
fn test_syn_sent_injected_rst_from_unknown_side_is_ignored() {
    // RST from the server before its SYN-ACK: its sequence space is unknown.
    let r = run(&[
        c(100, SYN, b""),
        s(77777, RST, b"").ack(101),
        s(900, SYN, b"").ack(101),
        c(101, 0, b"hi").ack(901),
        s(901, 0, b"yo"),
    ]);
    assert_eq!(r.len(), 1);
    let r = &r[0];
    assert_eq!(r.bytes(S2C), b"yo");
    assert_eq!(r.completion.as_ref().unwrap().reason, EndReason::EndOfInput);
}

#[test]
fn test_established_out_of_window_rst_is_ignored() {
    let r = run(&with(
        handshake(0, 9),
        vec![c(1_000_000_000, RST, b""), c(1, 0, b"still")],
    ));
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"still");
    assert_eq!(r.completion.as_ref().unwrap().reason, EndReason::EndOfInput);
}

#[test]
fn test_established_fin_both_ways() {
    let r = run(&with(
        handshake(0, 9),
        vec![
            c(1, FIN, b"req"),
            s(10, FIN, b"resp").ack(5),
            c(5, 0, b"").ack(15),
        ],
    ));
    let r = &r[0];
    let comp = r.completion.as_ref().unwrap();
    assert_eq!(comp.reason, EndReason::Fin);
    assert!(r.deliveries.iter().any(|d| d.dir == C2S && d.end));
    assert!(r.deliveries.iter().any(|d| d.dir == S2C && d.end));
    assert_eq!(comp.packets, [4, 2]);
}

#[test]
fn test_fin_wait_data_after_fin_is_after_close() {
    let r = run(&with(
        handshake(0, 9),
        vec![c(1, FIN, b"req"), c(5, 0, b"junk")],
    ));
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"req");
    assert_eq!(r.completion.as_ref().unwrap().c2s.after_close, 4);
}

#[test]
fn test_closed_late_retransmission_counts_against_lingering_connection() {
    let r = run(&with(
        handshake(0, 9),
        vec![
            c(1, FIN, b"req"),
            s(10, FIN, b"").ack(5),
            c(1, 0, b"req"),
            c(4, 0, b"more"),
        ],
    ));
    assert_eq!(r.len(), 1);
    let comp = r[0].completion.clone().unwrap();
    assert_eq!(
        comp.c2s.duplicate, 3,
        "a retransmission of bytes before the FIN is old"
    );
    assert_eq!(
        comp.c2s.after_close, 4,
        "bytes past the FIN are after close"
    );
    assert_eq!(comp.reason, EndReason::Fin);
}

#[test]
fn test_closed_new_syn_reuses_tuple() {
    let mut p = with(
        handshake(0, 9),
        vec![c(1, FIN, b"one"), s(10, FIN, b"").ack(5)],
    );
    p.extend(handshake(5000, 9000));
    p.push(c(5001, 0, b"two"));
    let r = run(&p);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].bytes(C2S), b"one");
    assert_eq!(r[0].completion.as_ref().unwrap().reason, EndReason::Fin);
    assert_eq!(r[1].bytes(C2S), b"two");
}

#[test]
fn test_established_keepalive_probe_not_data() {
    let r = run(&with(
        handshake(0, 9),
        vec![
            c(1, 0, b"ab").ack(10),
            c(2, 0, b"b").ack(10),
            c(2, 0, b"").ack(10),
            c(3, 0, b"cd").ack(10),
        ],
    ));
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"abcd");
    // The one-byte probe re-sends the last byte sent: a keep-alive (it was
    // counted as a duplicate before the ledger had a keep-alive bucket).
    let l = &r.completion.as_ref().unwrap().c2s;
    assert_eq!((l.keep_alive, l.duplicate), (1, 0));
    assert!(l.balanced());
}

#[test]
fn test_established_gap_skipped_at_end() {
    let r = run(&with(handshake(0, 9), vec![c(1, 0, b"ab"), c(6, 0, b"fg")]));
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"abfg");
    assert_eq!(r.total_skip(C2S), 3);
    assert_eq!(
        r.completion.as_ref().unwrap().c2s.gaps,
        vec![Gap { offset: 2, len: 3 }]
    );
    assert_eq!(r.completion.as_ref().unwrap().c2s.missing, 3);
}

#[test]
fn test_established_fin_after_missing_data_reports_gap() {
    let r = run(&with(handshake(0, 9), vec![c(1, 0, b"ab"), c(6, FIN, b"")]));
    let r = &r[0];
    assert_eq!(
        r.completion.as_ref().unwrap().c2s.gaps,
        vec![Gap { offset: 2, len: 3 }]
    );
}

#[test]
fn test_established_snaplen_truncated_is_gap_without_waiting() {
    let r = run(&with(
        handshake(0, 9),
        vec![c(1, 0, b"ab").truncated(3), c(6, 0, b"fg")],
    ));
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"abfg");
    assert_eq!(
        r.completion.as_ref().unwrap().c2s.gaps,
        vec![Gap { offset: 2, len: 3 }]
    );
    // "fg" came straight from its packet: delivered before the end of input.
    assert_eq!(
        r.deliveries
            .iter()
            .filter(|d| d.dir == C2S && !d.bytes.is_empty())
            .count(),
        2
    );
    assert_eq!(r.deliveries[1].skip, 3);
}

#[test]
fn test_established_keep_from_returns_bytes() {
    let f = Factory {
        keep_plan: vec![Some(3), None],
        ..Default::default()
    };
    let r = run_factory(
        AssemblerConfig::default(),
        f,
        &with(handshake(0, 9), vec![c(1, 0, b"abcde"), c(6, 0, b"fgh")]),
    );
    let r = &r[0];
    assert_eq!(r.deliveries[0].bytes, b"abcde");
    assert_eq!(r.deliveries[1].bytes, b"defgh");
    assert_eq!(r.deliveries[1].saved, 2);
    assert_eq!(r.deliveries[1].offset, 3);
    assert_eq!(r.bytes(C2S), b"abcdefgh");
    let l = &r.completion.as_ref().unwrap().c2s;
    assert_eq!(l.delivered, 8);
}

#[test]
fn test_established_retransmission_over_kept_bytes_is_compared() {
    let f = Factory {
        keep_plan: vec![Some(0), Some(0), Some(0)],
        ..Default::default()
    };
    let r = run_factory(
        AssemblerConfig::default(),
        f,
        &with(handshake(0, 9), vec![c(1, 0, b"abcde"), c(1, 0, b"abXde")]),
    );
    let l = r[0].completion.clone().unwrap().c2s;
    assert_eq!(l.overlap_lost, 5);
    assert_eq!(r[0].bytes(C2S), b"abcde");
}

#[test]
fn test_established_flush_older_than_skips_old_hole() {
    let mut a = reassembly::Assembler::new(AssemblerConfig::default(), Factory::default());
    let hs: Vec<Pkt> = handshake(0, 9)
        .into_iter()
        .enumerate()
        .map(|(i, p)| p.at(i as u64 + 1))
        .collect();
    let pk = with(
        hs,
        vec![
            c(1, 0, b"ab").at(10),
            c(6, 0, b"fg").at(20),
            c(12, 0, b"late").at(40),
        ],
    );
    for (i, p) in pk.iter().enumerate() {
        a.assemble(&segment(p, i as u64 + 1, client()));
    }
    a.flush_older_than(30);
    {
        let r = &a.factory().streams[0];
        assert_eq!(
            r.bytes(C2S),
            b"abfg",
            "the hole before ts 20 is skipped, the one before ts 40 is not"
        );
    }
    a.flush_all();
    let r = &a.factory().streams[0];
    assert_eq!(r.bytes(C2S), b"abfglate");
    assert_eq!(
        r.completion.as_ref().unwrap().c2s.gaps,
        vec![Gap { offset: 2, len: 3 }, Gap { offset: 7, len: 4 }]
    );
}

#[test]
fn test_established_close_older_than_is_idle_timeout() {
    let mut a = reassembly::Assembler::new(AssemblerConfig::default(), Factory::default());
    let hs: Vec<Pkt> = handshake(0, 9)
        .into_iter()
        .enumerate()
        .map(|(i, p)| p.at(i as u64 + 1))
        .collect();
    let pk = with(hs, vec![c(1, 0, b"ab").at(10)]);
    for (i, p) in pk.iter().enumerate() {
        a.assemble(&segment(p, i as u64 + 1, client()));
    }
    a.close_older_than(5);
    assert_eq!(a.connections(), 1);
    a.close_older_than(11);
    assert_eq!(a.connections(), 0);
    let r = &a.factory().streams[0];
    assert_eq!(
        r.completion.as_ref().unwrap().reason,
        EndReason::IdleTimeout
    );
}

#[test]
fn test_established_per_connection_cap_skips_oldest_hole() {
    let cfg = AssemblerConfig {
        page_size: 64,
        max_pages_per_conn: 2,
        ..Default::default()
    };
    let mut p = handshake(0, 9);
    // Three future segments of 64 bytes after distinct holes; only two fit.
    p.push(c(101, 0, &[1u8; 64]));
    p.push(c(201, 0, &[2u8; 64]));
    p.push(c(301, 0, &[3u8; 64]));
    let r = run_with(cfg, &p);
    let r = &r[0];
    let l = &r.completion.as_ref().unwrap().c2s;
    assert!(l.cap_flushes >= 1);
    assert_eq!(l.delivered, 192);
    assert_eq!(
        l.gaps,
        vec![
            Gap {
                offset: 0,
                len: 100
            },
            Gap {
                offset: 164,
                len: 36
            },
            Gap {
                offset: 264,
                len: 36
            }
        ]
    );
}

#[test]
fn test_udp_datagrams_in_arrival_order() {
    let mut a = reassembly::Assembler::new(AssemblerConfig::default(), Factory::default());
    a.assemble(&udp_segment(true, b"query", 1));
    a.assemble(&udp_segment(false, b"answer", 2));
    a.assemble(&udp_segment(true, b"q2", 3));
    a.flush_all();
    let r = &a.factory().streams[0];
    assert_eq!(r.bytes(C2S), b"queryq2");
    assert_eq!(r.bytes(S2C), b"answer");
    assert_eq!(r.deliveries.len(), 3);
    assert_eq!(r.completion.as_ref().unwrap().reason, EndReason::EndOfInput);
    assert!(r.completion.as_ref().unwrap().c2s.balanced());
}

/// arkime/tcp-reassembly-synthetic.pcap, port 40009: the SYN-ACK opens the
/// flow, the client's data and both FINs follow, and the client's SYN arrives
/// last.
fn late_syn_flow() -> Vec<Pkt> {
    vec![
        s(31000, SYN | ACK, b"").ack(30001),
        c(30001, ACK, b"").ack(31001),
        c(30001, ACK | PSH, b"GET / HTTP/1.1\r\n").ack(31001),
        s(31001, ACK | PSH, b"HTTP/1.1 200 OK\r\n").ack(30017),
        c(30017, ACK | FIN, b"").ack(31018),
        s(31018, ACK | FIN, b"").ack(30018),
        c(30018, ACK, b"").ack(31019),
        c(30000, SYN, b""),
    ]
}

#[test]
fn test_pending_late_syn_moves_fin_too() {
    // The client's start is still pending (midstream window) when its SYN
    // comes: queued bytes and the FIN are re-homed under the real ISN. The FIN
    // used to stay under the provisional base, 2^30 bytes away, and the
    // stream got a 2^30-byte gap before it.
    let r = run(&late_syn_flow());
    assert_eq!(
        r.len(),
        1,
        "the late SYN carries the flow's own ISN: no new flow"
    );
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"GET / HTTP/1.1\r\n");
    assert_eq!(r.bytes(S2C), b"HTTP/1.1 200 OK\r\n");
    let done = r.completion.as_ref().unwrap();
    assert_eq!(done.c2s.gaps, Vec::<Gap>::new());
    assert_eq!(done.c2s.missing, 0);
    assert!(done.c2s.balanced() && done.s2c.balanced());
}

#[test]
fn test_established_late_syn_after_delivery_is_ignored() {
    // The client's first bytes were already delivered (midstream window of one
    // segment) when its SYN arrives: offsets handed out cannot move, so the
    // SYN is ignored instead of re-homing the direction (which restarted the
    // direction at offset 1 and delivered later bytes twice over).
    let cfg = AssemblerConfig {
        midstream_window: 1,
        ..AssemblerConfig::default()
    };
    let r = run_with(
        cfg,
        &[
            s(31000, SYN | ACK, b"").ack(30001),
            c(30001, ACK | PSH, b"GET / HTTP/1.1\r\n").ack(31001),
            c(30000, SYN, b""),
            c(30017, ACK | PSH, b"Host: x\r\n").ack(31001),
            c(30026, ACK | FIN, b"").ack(31001),
            s(31001, ACK | FIN, b"").ack(30027),
        ],
    );
    assert_eq!(r.len(), 1);
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"GET / HTTP/1.1\r\nHost: x\r\n");
    let offsets: Vec<u64> = r
        .deliveries
        .iter()
        .filter(|d| d.dir == C2S)
        .map(|d| d.offset)
        .collect();
    assert_eq!(offsets, [0, 16, 25]);
    let done = r.completion.as_ref().unwrap();
    assert_eq!(done.c2s.gaps, Vec::<Gap>::new());
    assert_eq!(done.reason, EndReason::Fin);
    assert!(done.c2s.balanced() && done.s2c.balanced());
}

#[test]
fn test_midstream_fin_both_ways_ends_with_fin() {
    // No handshake, few segments: the FINs decide the starts, so the connection
    // ends by FIN rather than at the end of input.
    let r = run(&[
        c(1000, 0, b"req"),
        s(5000, 0, b"resp").ack(1003),
        c(1003, FIN, b"").ack(5004),
        s(5004, FIN, b"").ack(1004),
    ]);
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"req");
    assert_eq!(r.bytes(S2C), b"resp");
    assert_eq!(r.completion.as_ref().unwrap().reason, EndReason::Fin);
}
