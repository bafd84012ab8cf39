//! A TCP connection that closed cleanly (both FINs delivered and
//! acknowledged) completes at once and leaves a tombstone: its state is
//! freed, late packets for it are counted as late rather than opening a new
//! flow, a SYN with a new ISN is a new connection, and the tombstone goes
//! when the linger time passes.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reassembly::{Assembler, AssemblerConfig, Dir, EndReason};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

/// Frame numbers follow the order of `send` calls.
struct Feed {
    a: Assembler<Factory>,
    frame: u64,
}

impl Feed {
    fn new() -> Feed {
        Feed {
            a: Assembler::new(AssemblerConfig::default(), Factory::default()),
            frame: 0,
        }
    }

    fn send(&mut self, p: Pkt) {
        self.frame += 1;
        self.a.assemble(&segment(&p, self.frame, client()));
    }

    /// Handshake, "hello" / "world", and the close handshake up to (not
    /// including) the final ACK of the server's FIN. Client ISN 100, server
    /// ISN 500; everything at `t0 + n ms`.
    fn all_but_last_ack(&mut self, t0: u64) {
        self.send(c(100, SYN, b"").at(t0 + MS));
        self.send(s(500, SYN, b"").ack(101).at(t0 + 2 * MS));
        self.send(c(101, PSH, b"hello").ack(501).at(t0 + 3 * MS));
        self.send(s(501, PSH, b"world").ack(106).at(t0 + 4 * MS));
        self.send(c(106, FIN, b"").ack(506).at(t0 + 5 * MS));
        self.send(s(506, FIN, b"").ack(107).at(t0 + 6 * MS));
    }

    fn last_ack(&mut self, t0: u64) {
        self.send(c(107, 0, b"").ack(507).at(t0 + 7 * MS));
    }
}

#[test]
fn the_final_ack_completes_the_connection_and_frees_it() {
    let mut f = Feed::new();
    f.all_but_last_ack(S);
    // The server's FIN is not acknowledged yet: still tracked in full.
    assert_eq!(f.a.connections(), 1);
    assert!(f.a.factory().streams[0].completion.is_none());
    f.last_ack(S);
    assert_eq!(f.a.connections(), 0, "freed at the final ACK, no linger");
    assert_eq!(f.a.tombstones(), 1);
    let r = &f.a.factory().streams[0];
    let done = r.completion.as_ref().unwrap();
    assert_eq!(done.reason, EndReason::Fin);
    assert_eq!(done.packets, [4, 3]);
    assert_eq!(done.last_frame, 7);
    assert_eq!(r.bytes(Dir::ClientToServer), b"hello");
    assert_eq!(r.bytes(Dir::ServerToClient), b"world");
    assert_eq!(f.a.stats().tombstones_high_water, 1);
}

#[test]
fn late_packets_are_counted_not_a_new_flow() {
    let mut f = Feed::new();
    f.all_but_last_ack(S);
    f.last_ack(S);
    // A duplicated final ACK, a retransmitted FIN, a late data retransmission
    // and a RST, all within the linger time.
    f.send(c(107, 0, b"").ack(507).at(S + 8 * MS));
    f.send(s(506, FIN, b"").ack(107).at(S + 9 * MS));
    f.send(c(101, PSH, b"hello").ack(507).at(2 * S));
    f.send(s(507, RST, b"").at(3 * S));
    assert_eq!(f.a.factory().streams.len(), 1, "no new flow");
    let st = f.a.stats();
    assert_eq!((st.late_packets, st.late_bytes), (4, 5));
    assert_eq!(f.a.connections(), 0);
    f.a.flush_all();
    assert_eq!(f.a.factory().streams.len(), 1);
    assert_eq!(f.a.tombstones(), 0);
}

#[test]
fn a_syn_with_a_new_isn_is_a_new_connection_and_a_retransmitted_one_is_late() {
    let mut f = Feed::new();
    f.all_but_last_ack(S);
    f.last_ack(S);
    // The client's first SYN again (same ISN): late.
    f.send(c(100, SYN, b"").at(S + 20 * MS));
    assert_eq!(f.a.factory().streams.len(), 1);
    assert_eq!(f.a.stats().late_packets, 1);
    // The ports reused with a new ISN: a new connection.
    f.send(c(9000, SYN, b"").at(2 * S));
    f.send(s(7000, SYN, b"").ack(9001).at(2 * S + MS));
    f.send(c(9001, PSH, b"again").ack(7001).at(2 * S + 2 * MS));
    assert_eq!(f.a.factory().streams.len(), 2);
    assert_eq!(
        f.a.tombstones(),
        0,
        "the new connection replaced the tombstone"
    );
    f.a.flush_all();
    let second = &f.a.factory().streams[1];
    assert!(second.info.unwrap().syn_seen);
    assert_eq!(second.bytes(Dir::ClientToServer), b"again");
}

#[test]
fn past_the_linger_time_the_tombstone_is_gone() {
    let mut f = Feed::new();
    f.all_but_last_ack(S);
    f.last_ack(S);
    // The linger counts from the end (the second FIN, at 6 ms), as for a
    // connection that lingers in full.
    let linger = AssemblerConfig::default().close_linger;
    f.a.expire(S + 6 * MS + linger);
    assert_eq!(f.a.tombstones(), 1, "still within the linger time");
    f.a.expire(S + 6 * MS + linger + 1);
    assert_eq!(f.a.tombstones(), 0);
    // A stray ACK now is a packet of a connection nobody remembers: as
    // before tombstones existed, it opens a flow (picked up midstream).
    f.send(c(107, 0, b"").ack(507).at(S + 8 * MS + linger));
    assert_eq!(f.a.factory().streams.len(), 2);
    assert_eq!(f.a.stats().late_packets, 0);
}

#[test]
fn a_stray_ack_after_the_linger_is_late_when_it_comes_within_it() {
    // Without housekeeping in between, the packet's own time decides.
    let mut f = Feed::new();
    f.all_but_last_ack(S);
    f.last_ack(S);
    let linger = AssemblerConfig::default().close_linger;
    f.send(c(107, 0, b"").ack(507).at(S + 7 * MS + linger + 1));
    assert_eq!(f.a.factory().streams.len(), 2, "too late: a new flow");
    assert_eq!(f.a.tombstones(), 0);
}

#[test]
fn an_unacknowledged_fin_or_a_rst_keeps_the_full_state() {
    // The final ACK never comes: the connection lingers in full, as before.
    let mut f = Feed::new();
    f.all_but_last_ack(S);
    assert_eq!((f.a.connections(), f.a.tombstones()), (1, 0));
    // Data after a RST is still delivered (the RST may be injected): the
    // connection stays whole.
    let mut g = Feed::new();
    g.send(c(100, SYN, b"").at(S));
    g.send(s(500, SYN, b"").ack(101).at(S + MS));
    g.send(c(101, PSH, b"a").ack(501).at(S + 2 * MS));
    g.send(s(501, RST, b"").at(S + 3 * MS));
    g.send(c(102, PSH, b"b").ack(501).at(S + 4 * MS));
    assert_eq!((g.a.connections(), g.a.tombstones()), (1, 0));
    g.a.flush_all();
    assert_eq!(g.a.factory().streams[0].bytes(Dir::ClientToServer), b"ab");
}

#[test]
fn many_closed_connections_hold_no_state() {
    // Tombstones, not connections, are what remains of 1000 closed ones.
    let mut a = Assembler::new(AssemblerConfig::default(), Factory::default());
    let mut frame = 0;
    for port in 0..1000u16 {
        let mut t = client();
        t.src.set_port(10_000 + port);
        let t0 = S + u64::from(port) * 10 * MS;
        for p in [
            c(100, SYN, b"").at(t0 + MS),
            s(500, SYN, b"").ack(101).at(t0 + 2 * MS),
            c(101, FIN, b"x").ack(501).at(t0 + 3 * MS),
            s(501, FIN, b"").ack(103).at(t0 + 4 * MS),
            c(103, 0, b"").ack(502).at(t0 + 5 * MS),
        ] {
            frame += 1;
            a.assemble(&segment(&p, frame, t));
        }
    }
    assert_eq!(a.connections(), 0);
    assert_eq!(a.tombstones(), 1000);
    assert_eq!(a.factory().streams.len(), 1000);
    assert!(a.factory().streams.iter().all(|r| r.completion.is_some()));
}

#[test]
fn close_older_than_forgets_tombstones_of_connections_that_ended_before() {
    let mut f = Feed::new();
    f.all_but_last_ack(S);
    f.last_ack(S);
    f.a.close_older_than(S + 6 * MS);
    assert_eq!(f.a.tombstones(), 1, "it ended at 6 ms, not before");
    f.a.close_older_than(S + 6 * MS + 1);
    assert_eq!(f.a.tombstones(), 0);
}
