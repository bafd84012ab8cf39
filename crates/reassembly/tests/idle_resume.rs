//! A TCP connection that goes quiet past the idle timeout is parked, not
//! completed: when it carries on where it stopped it stays one connection
//! with one continuous stream per direction; any other packet on its
//! addresses completes it and starts a new one. The resume window and the
//! parked cap complete parked connections, and a parked connection holds no
//! pages.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use pcapread::{FiveTuple, Proto};
use reassembly::{Assembler, AssemblerConfig, Dir, EndReason};

const S: u64 = 1_000_000_000;
const C2S: Dir = Dir::ClientToServer;
const S2C: Dir = Dir::ServerToClient;

/// Client ISN 1000 (data from 1001), server ISN 5000 (data from 5001).
fn tuple(port: u16) -> FiveTuple {
    FiveTuple {
        proto: Proto::Tcp,
        src: format!("10.0.0.1:{port}").parse().unwrap(),
        dst: "10.0.0.2:9092".parse().unwrap(),
    }
}

/// Feeds packets with their own frame numbers, running housekeeping (as the
/// engine does) at each packet's time first.
struct Driver {
    a: Assembler<Factory>,
    frame: u64,
}

impl Driver {
    fn new(cfg: AssemblerConfig) -> Driver {
        Driver {
            a: Assembler::new(cfg, Factory::default()),
            frame: 0,
        }
    }

    fn tick(&mut self, now: u64) {
        self.a.flush_older_than(now.saturating_sub(120 * S));
        self.a.expire(now);
    }

    fn send(&mut self, port: u16, p: Pkt) {
        assert!(p.ts > 0, "give every packet a time");
        self.tick(p.ts);
        self.frame += 1;
        self.a.assemble(&segment(&p, self.frame, tuple(port)));
    }

    /// A handshake at `t` seconds.
    fn open(&mut self, port: u16, t: u64) {
        self.send(port, c(1000, SYN, b"").at(t * S));
        self.send(port, s(5000, SYN, b"").ack(1001).at(t * S + 1));
        self.send(port, c(1001, 0, b"").ack(5001).at(t * S + 2));
    }

    fn streams(&self) -> &[Record] {
        &self.a.factory().streams
    }
}

#[test]
fn a_quiet_connection_that_carries_on_is_one_stream() {
    let cfg = AssemblerConfig {
        verify_window: 4096,
        ..AssemblerConfig::default()
    };
    let mut d = Driver::new(cfg);
    d.open(40000, 1);
    d.send(40000, c(1001, PSH, b"produce ").ack(5001).at(2 * S));
    d.send(40000, s(5001, PSH, b"ok ").ack(1009).at(3 * S));
    // Out of order: "later" waits behind a 4-byte hole.
    d.send(40000, c(1013, PSH, b"later").ack(5004).at(4 * S));
    assert!(d.a.pages_in_use() > 0);
    assert!(d.a.verify_bytes_in_use() > 0);
    // 400 s of silence: parked, everything delivered, memory released.
    d.tick(404 * S);
    assert_eq!(d.a.parked(), 1);
    assert_eq!(d.a.connections(), 1);
    assert_eq!(d.a.pages_in_use(), 0, "a parked connection holds no pages");
    assert_eq!(d.a.verify_bytes_in_use(), 0);
    assert_eq!(d.streams()[0].completions, 0);
    assert_eq!(d.streams()[0].bytes(C2S), b"produce later");
    // The client carries on exactly where it stopped.
    d.send(40000, c(1018, PSH, b" more").ack(5004).at(405 * S));
    d.send(40000, s(5004, PSH, b"fine").ack(1023).at(405 * S + 5));
    assert_eq!(d.a.parked(), 0);
    d.send(40000, c(1023, FIN, b"").ack(5008).at(406 * S));
    d.send(40000, s(5008, FIN, b"").ack(1024).at(406 * S + 1));
    d.a.flush_all();
    let st = d.streams();
    assert_eq!(st.len(), 1, "one connection");
    let r = &st[0];
    assert_eq!(r.completions, 1);
    assert_eq!(r.bytes(C2S), b"produce later more");
    assert_eq!(r.bytes(S2C), b"ok fine");
    let comp = r.completion.as_ref().unwrap();
    assert_eq!(comp.reason, EndReason::Fin);
    assert_eq!(comp.idle_resumptions, 1);
    assert_eq!(comp.longest_idle, 405 * S - 4 * S);
    assert_eq!(comp.c2s.missing, 4, "the hole skipped at parking");
    assert_eq!(comp.packets, [6, 4]);
    let stats = d.a.stats();
    assert_eq!((stats.parked, stats.resumed, stats.completed), (1, 1, 1));
}

#[test]
fn keep_alives_and_acks_continue_a_parked_connection() {
    let mut d = Driver::new(AssemblerConfig::default());
    d.open(40000, 1);
    d.send(40000, c(1001, PSH, b"hi").ack(5001).at(2 * S));
    // A keep-alive (one before the next byte), 2 hours later.
    d.tick(400 * S);
    assert_eq!(d.a.parked(), 1);
    d.send(40000, c(1002, 0, b"\0").ack(5001).at(7202 * S));
    assert_eq!(d.a.parked(), 0);
    // Quiet again; the server's pure ACK of the client's next byte wakes it.
    d.tick(7600 * S);
    assert_eq!(d.a.parked(), 1);
    d.send(40000, s(5001, 0, b"").ack(1003).at(7700 * S));
    d.send(40000, s(5001, PSH, b"bye").ack(1003).at(7701 * S));
    // Quiet again; the client resumes 100 bytes past where it stopped (the
    // capture lost them): still the same stream, with a gap.
    d.tick(8100 * S);
    d.send(
        40000,
        c(1103, PSH, b"lost before me").ack(5004).at(8200 * S),
    );
    d.a.flush_all();
    let st = d.streams();
    assert_eq!(st.len(), 1);
    let comp = st[0].completion.as_ref().unwrap();
    assert_eq!(comp.reason, EndReason::EndOfInput);
    assert_eq!(comp.idle_resumptions, 3);
    assert_eq!(comp.longest_idle, 7200 * S);
    assert_eq!(comp.c2s.missing, 100);
    assert_eq!(st[0].bytes(C2S), b"hilost before me");
    assert_eq!(st[0].bytes(S2C), b"bye");
}

#[test]
fn a_one_sided_midstream_flow_resumes_by_its_seen_direction_or_the_peer_ack() {
    let mut d = Driver::new(AssemblerConfig::default());
    // Picked up midstream, only the client's side captured.
    d.send(40000, c(70_000, PSH, b"abc").ack(9000).at(S));
    d.send(40000, c(70_003, PSH, b"def").ack(9000).at(2 * S));
    d.tick(310 * S);
    assert_eq!(d.a.parked(), 1);
    assert_eq!(
        d.streams()[0].bytes(C2S),
        b"abcdef",
        "start decided at parking"
    );
    d.send(40000, c(70_006, PSH, b"ghi").ack(9000).at(320 * S));
    d.tick(700 * S);
    // The server, never seen, acknowledges exactly the client's next byte.
    d.send(40000, s(9000, PSH, b"xyz").ack(70_009).at(701 * S));
    d.a.flush_all();
    let st = d.streams();
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].bytes(C2S), b"abcdefghi");
    assert_eq!(st[0].bytes(S2C), b"xyz");
    assert_eq!(st[0].completion.as_ref().unwrap().idle_resumptions, 2);
}

#[test]
fn a_packet_that_does_not_continue_completes_the_parked_connection() {
    let mut d = Driver::new(AssemblerConfig::default());
    d.open(40000, 1);
    d.send(40000, c(1001, PSH, b"old").ack(5001).at(2 * S));
    d.tick(400 * S);
    // Far from where the client stopped, and not acknowledging the server.
    d.send(40000, c(3_000_000_000, PSH, b"new").ack(77).at(401 * S));
    // A new handshake on the same ports starts a third connection.
    d.tick(800 * S);
    d.send(40000, c(123, SYN, b"").at(801 * S));
    d.a.flush_all();
    let st = d.streams();
    assert_eq!(st.len(), 3);
    let first = st[0].completion.as_ref().unwrap();
    assert_eq!(first.reason, EndReason::IdleTimeout);
    assert_eq!(first.idle_resumptions, 0);
    assert_eq!(first.last_ts, 2 * S, "last packet time as before parking");
    assert_eq!(st[0].bytes(C2S), b"old");
    assert_eq!(st[1].info.unwrap().first_frame, 5);
    assert_eq!(
        st[1].completion.as_ref().unwrap().reason,
        EndReason::IdleTimeout
    );
    assert!(!st[1].info.unwrap().syn_seen);
    assert!(st[2].info.unwrap().syn_seen);
    assert_eq!(d.a.stats().resumed, 0);
}

#[test]
fn the_resume_window_completes_a_parked_connection() {
    let cfg = AssemblerConfig {
        tcp_idle_timeout: 10 * S,
        resume_window: 100 * S,
        ..AssemblerConfig::default()
    };
    let mut d = Driver::new(cfg);
    d.open(40000, 1);
    d.send(40000, c(1001, PSH, b"x").ack(5001).at(2 * S));
    d.tick(13 * S);
    assert_eq!(d.a.parked(), 1);
    d.tick(112 * S);
    assert_eq!(d.a.parked(), 1, "idle 110 s: not past 10 + 100 yet");
    assert_eq!(d.streams()[0].completions, 0);
    d.tick(113 * S);
    assert_eq!(d.a.parked(), 0);
    assert_eq!(d.a.connections(), 0);
    let comp = d.streams()[0].completion.as_ref().unwrap();
    assert_eq!(comp.reason, EndReason::IdleTimeout);
    assert_eq!(comp.last_ts, 2 * S);
    // The continuation comes too late: a new flow.
    d.send(40000, c(1002, PSH, b"y").ack(5001).at(114 * S));
    assert_eq!(d.streams().len(), 2);
}

#[test]
fn the_parked_cap_completes_the_oldest_parked_first() {
    let cfg = AssemblerConfig {
        tcp_idle_timeout: 10 * S,
        max_parked: 2,
        ..AssemblerConfig::default()
    };
    let mut d = Driver::new(cfg);
    for (i, port) in [40001u16, 40002, 40003].into_iter().enumerate() {
        d.open(port, 1 + i as u64);
    }
    // All three go quiet in the same round: the earliest quiet completes.
    d.tick(100 * S);
    assert_eq!(d.a.parked(), 2);
    let done: Vec<(u16, EndReason)> = d
        .streams()
        .iter()
        .filter_map(|r| Some((r.info?.client.src.port(), r.completion.as_ref()?.reason)))
        .collect();
    assert_eq!(done, [(40001, EndReason::IdleTimeout)]);
    assert!(d.a.stats().parked_high_water <= 2);
    // Parked connections complete at the end of input as idle.
    d.a.flush_all();
    assert!(d
        .streams()
        .iter()
        .all(|r| r.completion.as_ref().unwrap().reason == EndReason::IdleTimeout));
}

#[test]
fn parking_off_completes_at_the_idle_timeout_as_before() {
    let cfg = AssemblerConfig {
        resume_window: 0,
        ..AssemblerConfig::default()
    };
    let mut d = Driver::new(cfg);
    d.open(40000, 1);
    d.send(40000, c(1001, PSH, b"a").ack(5001).at(2 * S));
    d.tick(400 * S);
    assert_eq!(d.a.parked(), 0);
    assert_eq!(d.streams()[0].completions, 1);
    d.send(40000, c(1002, PSH, b"b").ack(5001).at(401 * S));
    d.a.flush_all();
    assert_eq!(d.streams().len(), 2);
}
