//! Which SYN-ACK is real when a direction sends several with different
//! initial sequence numbers: the one the peer's ACKs (or that direction's own
//! data) confirm, not the first seen; and when a SYN-ACK starts a new flow on
//! the same addresses and ports.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reassembly::{Completion, Dir, EndReason};

const C2S: Dir = Dir::ClientToServer;
const S2C: Dir = Dir::ServerToClient;

/// Server bytes of `n` segments of 1000 bytes (distinct content per segment).
fn server_bytes(n: usize) -> Vec<u8> {
    (0..n * 1000).map(|i| (i % 251) as u8).collect()
}

fn balanced(c: &Completion) {
    assert!(c.c2s.balanced(), "c2s {:?}", c.c2s);
    assert!(c.s2c.balanced(), "s2c {:?}", c.s2c);
    assert_eq!(c.c2s.buffered + c.s2c.buffered, 0);
}

const ISNS: [u32; 4] = [5_000, 9_000_000, 2_000_000_000, 40_000];

/// No SYN captured; four SYN-ACKs with different ISNs, the client's ACK
/// acknowledges the last one; the server's data follows the last one.
fn four_synacks(data_before_ack: bool) -> (Vec<Pkt>, Vec<u8>) {
    let real = ISNS[3];
    let body = server_bytes(5);
    let mut p: Vec<Pkt> = ISNS.iter().map(|&i| s(i, SYN, b"").ack(101)).collect();
    let seg = |k: usize| {
        s(
            real + 1 + 1000 * k as u32,
            PSH,
            &body[k * 1000..(k + 1) * 1000],
        )
    };
    if data_before_ack {
        // The second segment arrives first: queued under the first ISN.
        p.push(seg(1).ack(121));
    }
    p.push(c(101, 0, b"").ack(real + 1));
    p.push(c(101, PSH, b"GET / HTTP/1.1\r\n\r\n\r\n").ack(real + 1));
    for k in 0..5 {
        if !(data_before_ack && k == 1) {
            p.push(seg(k).ack(121));
        }
    }
    p.push(c(121, FIN, b"").ack(real + 5001));
    p.push(s(real + 5001, FIN, b"").ack(122));
    (p, body)
}

#[test]
fn test_synack_four_isns_client_ack_picks_the_last() {
    let (p, body) = four_synacks(false);
    let r = run(&p);
    assert_eq!(r.len(), 1);
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"GET / HTTP/1.1\r\n\r\n\r\n");
    assert_eq!(r.bytes(S2C), body);
    let done = r.completion.as_ref().unwrap();
    assert_eq!(done.s2c.out_of_window, 0);
    assert_eq!(done.s2c.delivered, 5000);
    assert_eq!(
        done.s2c.ignored_syns, 3,
        "three SYN-ACKs never acknowledged"
    );
    assert_eq!(done.s2c.gaps, vec![]);
    assert_eq!(done.reason, EndReason::Fin);
    balanced(done);
}

#[test]
fn test_synack_data_queued_under_wrong_isn_is_rehomed() {
    // Server data arrives before the client's ACK, beyond the real ISN + 1:
    // it waits under the first ISN and moves when the ACK picks the last one.
    let (p, body) = four_synacks(true);
    let r = run(&p);
    assert_eq!(r.len(), 1);
    let r = &r[0];
    assert_eq!(r.bytes(S2C), body);
    let done = r.completion.as_ref().unwrap();
    assert_eq!(done.s2c.out_of_window, 0);
    assert_eq!(done.s2c.gaps, vec![]);
    assert_eq!(done.s2c.ignored_syns, 3);
    balanced(done);
}

#[test]
fn test_synack_candidates_picked_by_data_without_ack() {
    // The client's ACKs are not captured: the server's data starting right
    // after the third ISN picks it.
    let real = ISNS[2];
    let mut p: Vec<Pkt> = ISNS.iter().map(|&i| s(i, SYN, b"").ack(101)).collect();
    p.push(s(real + 1, PSH, b"banner\r\n"));
    p.push(s(real + 9, PSH, b"more"));
    let r = run(&p);
    assert_eq!(r.len(), 1);
    let r = &r[0];
    assert_eq!(r.bytes(S2C), b"banner\r\nmore");
    let done = r.completion.as_ref().unwrap();
    assert_eq!(done.s2c.out_of_window, 0);
    assert_eq!(done.s2c.ignored_syns, 3);
    balanced(done);
}

#[test]
fn test_synack_stray_after_handshake_changes_nothing() {
    let mut p = handshake(100, 500);
    p.push(c(101, PSH, b"hello ").ack(501));
    p.push(s(501, PSH, b"HELLO ").ack(107));
    // A SYN-ACK with a new ISN the client never acknowledges.
    p.push(s(3_000_000, SYN, b"").ack(101));
    p.push(c(107, PSH, b"world").ack(507));
    p.push(s(507, PSH, b"WORLD").ack(112));
    p.push(c(112, FIN, b"").ack(512));
    p.push(s(512, FIN, b"").ack(113));
    let r = run(&p);
    assert_eq!(r.len(), 1, "one flow");
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"hello world");
    assert_eq!(r.bytes(S2C), b"HELLO WORLD");
    let done = r.completion.as_ref().unwrap();
    assert_eq!(done.reason, EndReason::Fin);
    assert_eq!(done.s2c.ignored_syns, 1);
    assert_eq!(done.c2s.ignored_syns, 0);
    assert_eq!(done.s2c.out_of_window, 0);
    balanced(done);
}

#[test]
fn test_synack_stray_before_ack_loses_to_the_acknowledged_isn() {
    // Handshake with an extra SYN-ACK between the real one and the client's ACK.
    let p = vec![
        c(100, SYN, b""),
        s(500, SYN, b"").ack(101),
        s(77_000, SYN, b"").ack(101),
        c(101, 0, b"").ack(501),
        c(101, PSH, b"req").ack(501),
        s(501, PSH, b"resp").ack(104),
    ];
    let r = run(&p);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].bytes(S2C), b"resp");
    let done = r[0].completion.as_ref().unwrap();
    assert_eq!(done.s2c.ignored_syns, 1);
    balanced(done);
}

#[test]
fn test_synack_acking_another_client_isn_is_a_new_connection() {
    // The old connection never ended, but this SYN-ACK acknowledges a client
    // ISN outside everything the client sent on it: a new connection whose
    // SYN was not captured.
    let mut p = handshake(100, 500);
    p.push(c(101, PSH, b"one").ack(501));
    p.push(s(3_000_000, SYN, b"").ack(2_000_000_001));
    p.push(c(2_000_000_001, PSH, b"two").ack(3_000_001));
    let r = run(&p);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].bytes(C2S), b"one");
    assert_eq!(r[0].completion.as_ref().unwrap().reason, EndReason::Reused);
    assert_eq!(r[1].bytes(C2S), b"two");
}

#[test]
fn test_synack_new_isn_after_fin_is_a_new_connection() {
    let mut p = handshake(100, 500);
    p.push(c(101, FIN, b"one").ack(501));
    p.push(s(501, FIN, b"").ack(105));
    p.push(c(105, 0, b"").ack(502));
    // Port reuse with the client's SYN not captured, same client ISN + 1 acked.
    p.push(s(9_000, SYN, b"").ack(101));
    p.push(c(101, PSH, b"two").ack(9_001));
    let r = run(&p);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].completion.as_ref().unwrap().reason, EndReason::Fin);
    assert_eq!(r[1].bytes(C2S), b"two");
}

#[test]
fn test_synack_candidates_are_bounded() {
    // Many SYN-ACKs with different ISNs: a few are held, the rest ignored
    // (counted); the acknowledged one among those held still wins.
    let mut p: Vec<Pkt> = (0..50u32)
        .map(|i| s(1_000 + i * 100_000, SYN, b"").ack(101))
        .collect();
    p.push(c(101, 0, b"").ack(1_000 + 3 * 100_000 + 1));
    p.push(s(1_000 + 3 * 100_000 + 1, PSH, b"ok"));
    let r = run(&p);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].bytes(S2C), b"ok");
    let done = r[0].completion.as_ref().unwrap();
    assert_eq!(done.s2c.ignored_syns, 49);
    balanced(done);
}

#[test]
fn test_syn_retried_with_new_isn_server_ack_picks_it() {
    // The client retries its SYN with another ISN; the server answers the
    // second one: the client's data follows it.
    let p = vec![
        c(100, SYN, b""),
        c(5_000, SYN, b""),
        s(900, SYN, b"").ack(5_001),
        c(5_001, PSH, b"hi").ack(901),
        s(901, PSH, b"yo").ack(5_003),
    ];
    let r = run(&p);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].bytes(C2S), b"hi");
    assert_eq!(r[0].bytes(S2C), b"yo");
    let done = r[0].completion.as_ref().unwrap();
    // Under the first ISN "hi" sat 4900 bytes in, after a gap.
    assert_eq!(done.c2s.gaps, vec![]);
    assert_eq!(done.c2s.ignored_syns, 1);
    assert_eq!(done.c2s.out_of_window, 0);
    balanced(done);
}
