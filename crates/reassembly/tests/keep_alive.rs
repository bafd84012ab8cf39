//! Keep-alive probes are counted, never delivered: one-byte segments that
//! re-send the last byte already sent, and, in a direction picked up
//! midstream, one-byte segments whose byte the peer already acknowledged.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reassembly::{AssemblerConfig, Completion, Dir};

const C2S: Dir = Dir::ClientToServer;
const S2C: Dir = Dir::ServerToClient;

fn balanced(c: &Completion) {
    assert!(c.c2s.balanced(), "c2s {:?}", c.c2s);
    assert!(c.s2c.balanced(), "s2c {:?}", c.s2c);
}

#[test]
fn test_established_windows_keepalive_garbage_byte_is_no_conflict() {
    // Windows re-sends the last byte as garbage (0x00): with a verify window
    // it used to be an overlap loser and a conflict.
    let cfg = AssemblerConfig {
        verify_window: 1 << 16,
        ..AssemblerConfig::default()
    };
    let mut p = handshake(0, 9);
    p.push(c(1, PSH, b"abc").ack(10));
    p.push(c(3, 0, b"\0").ack(10));
    p.push(c(3, 0, b"\0").ack(10));
    p.push(c(4, PSH, b"def").ack(10));
    let r = run_with(cfg, &p);
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"abcdef");
    assert!(r.conflicts.is_empty(), "{:?}", r.conflicts);
    let done = r.completion.as_ref().unwrap();
    assert_eq!(done.c2s.keep_alive, 2);
    assert_eq!((done.c2s.overlap_lost, done.c2s.duplicate), (0, 0));
    balanced(done);
}

/// A connection picked up while idle: the client probes at S (Windows: one
/// garbage byte), the server acknowledges S + 1, twice; then data resumes.
fn idle_pickup(s0: u32, p0: u32) -> Vec<Pkt> {
    vec![
        c(s0, 0, b"\0").ack(p0),
        s(p0, 0, b"").ack(s0 + 1),
        c(s0, 0, b"\0").ack(p0),
        s(p0, 0, b"").ack(s0 + 1),
        c(s0, 0, b"\0").ack(p0),
        s(p0, 0, b"").ack(s0 + 1),
        c(s0 + 1, PSH, b"hello").ack(p0),
        s(p0, PSH, b"world").ack(s0 + 6),
    ]
}

#[test]
fn test_midstream_keepalives_opening_the_flow_are_not_data() {
    let r = run(&idle_pickup(70_000, 900));
    assert_eq!(r.len(), 1);
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"hello");
    assert_eq!(r.bytes(S2C), b"world");
    let done = r.completion.as_ref().unwrap();
    assert_eq!(done.c2s.keep_alive, 3, "the first probe too");
    assert_eq!(done.c2s.delivered, 5);
    assert_eq!(done.c2s.gaps, vec![], "the stream starts after the probes");
    balanced(done);
}

#[test]
fn test_midstream_keepalive_after_peer_ack_is_not_data() {
    // The server's ACK of S + 1 is seen before the client's only probe.
    let p = vec![
        c(5_001, 0, b"").ack(900),
        s(900, PSH, b"tick").ack(5_001),
        c(5_000, 0, b"\0").ack(904),
        c(5_001, PSH, b"tock").ack(904),
    ];
    let r = run(&p);
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"tock");
    let done = r.completion.as_ref().unwrap();
    assert_eq!(done.c2s.keep_alive, 1);
    assert_eq!(done.c2s.out_of_window, 0);
    assert_eq!(done.c2s.gaps, vec![]);
    balanced(done);
}

#[test]
fn test_midstream_keepalive_resending_last_byte_is_not_data() {
    // Picked up midstream (start pending): data, then a probe on its last byte.
    let p = vec![
        c(7_000, PSH, b"abc").ack(100),
        c(7_002, 0, b"x").ack(100),
        c(7_003, PSH, b"de").ack(100),
    ];
    let r = run(&p);
    let r = &r[0];
    assert_eq!(r.bytes(C2S), b"abcde");
    assert!(r.conflicts.is_empty());
    let done = r.completion.as_ref().unwrap();
    assert_eq!(done.c2s.keep_alive, 1);
    assert_eq!(done.c2s.overlap_lost, 0);
    balanced(done);
}

#[test]
fn test_midstream_single_byte_before_any_ack_is_data() {
    // One byte then data right after it, no ACK seen in between: the byte
    // cannot be told from the first byte of that data, so it is delivered.
    let p = vec![
        c(7_000, PSH, b"G").ack(100),
        c(7_001, PSH, b"ET /").ack(100),
    ];
    let r = run(&p);
    assert_eq!(r[0].bytes(C2S), b"GET /");
    assert_eq!(r[0].completion.as_ref().unwrap().c2s.keep_alive, 0);
}

#[test]
fn test_established_one_byte_at_next_without_ack_flag_is_data() {
    // New byte at the delivery point: data, not a probe.
    let mut p = handshake(0, 9);
    p.push(c(1, PSH, b"a").ack(10));
    p.push(c(2, PSH, b"b").ack(10));
    let r = run(&p);
    assert_eq!(r[0].bytes(C2S), b"ab");
    assert_eq!(r[0].completion.as_ref().unwrap().c2s.keep_alive, 0);
}

#[test]
fn test_after_fin_one_byte_is_not_a_keepalive() {
    let mut p = handshake(0, 9);
    p.push(c(1, PSH, b"abc").ack(10));
    p.push(c(4, FIN, b"").ack(10));
    p.push(c(3, 0, b"c").ack(10));
    let r = run(&p);
    let done = r[0].completion.as_ref().unwrap();
    assert_eq!(done.c2s.keep_alive, 0);
    assert_eq!(done.c2s.duplicate, 1);
    balanced(done);
}
