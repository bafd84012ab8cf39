//! The packet sequence of a TCP flow (RFC 793): three-way handshake, data in
//! both directions with pure ACKs, held-back (out-of-order), retransmitted and
//! overlapping segments, then FIN both ways, RST, or nothing.
//!
//! Each call to [`Flow::tcp_step`] yields one packet. In the data phase the
//! choice is, in this order:
//! 1. a pure ACK, if one side sent two data packets since the other side sent
//!    anything (delayed ACK, RFC 1122 §4.2.3.2);
//! 2. a queued segment whose wait has run out;
//! 3. a new segment of the direction whose turn it is — which may instead be
//!    queued (held back, so that 1 to 3 later segments overtake it), in which
//!    case the next new segment is produced;
//! 4. when no direction has new bytes, the queued segment with the shortest
//!    wait (so everything is sent before the ending).

use rand::RngExt;

use crate::config::DataOrder;
use crate::expected::FlowEnd;
use crate::flow::{Flow, Pending, PendingKind, Phase};
use crate::frame::{Direction, Emit, TcpFields, L4};

/// What [`Flow::next_source`] says the data phase should send next.
enum Source {
    /// A new segment in this direction.
    New(Direction),
    /// The queued segment at this index of this direction's queue.
    Queued(Direction, usize),
    /// Nothing: the data phase is over.
    Done,
}

impl Flow {
    /// The next packet of a TCP flow, or `None` when it is over.
    pub(crate) fn tcp_step(&mut self, buf: &mut Vec<u8>) -> Option<Emit> {
        loop {
            match self.phase {
                Phase::Syn => {
                    self.phase = Phase::SynAck;
                    let f = TcpFields {
                        seq: self.c2s.isn,
                        syn: true,
                        mss_option: Some(self.mss),
                        ..TcpFields::default()
                    };
                    return Some(self.control(Direction::C2s, f));
                }
                Phase::SynAck => {
                    self.phase = Phase::HandshakeAck;
                    let f = TcpFields {
                        seq: self.s2c.isn,
                        ack: self.c2s.isn.wrapping_add(1),
                        syn: true,
                        ack_flag: true,
                        mss_option: Some(self.mss),
                        ..TcpFields::default()
                    };
                    return Some(self.control(Direction::S2c, f));
                }
                Phase::HandshakeAck => {
                    self.phase = Phase::Data;
                    let f = TcpFields {
                        seq: self.c2s.seq_at(0),
                        ack: self.s2c.seq_at(0),
                        ack_flag: true,
                        ..TcpFields::default()
                    };
                    return Some(self.control(Direction::C2s, f));
                }
                Phase::Data => {
                    if let Some(e) = self.data_step(buf) {
                        return Some(e);
                    }
                    self.phase = match self.end {
                        FlowEnd::Fin => Phase::ClientFin,
                        FlowEnd::Rst => Phase::Rst,
                        FlowEnd::None => Phase::Done,
                    };
                }
                Phase::ClientFin => {
                    self.phase = Phase::ServerFin;
                    let f = TcpFields {
                        seq: self.c2s.seq_at(self.c2s.len),
                        ack: self.s2c.seq_at(self.s2c.len),
                        ack_flag: true,
                        fin: true,
                        ..TcpFields::default()
                    };
                    return Some(self.control(Direction::C2s, f));
                }
                Phase::ServerFin => {
                    self.phase = Phase::LastAck;
                    // The client's FIN takes one sequence number.
                    let f = TcpFields {
                        seq: self.s2c.seq_at(self.s2c.len),
                        ack: self.c2s.seq_at(self.c2s.len).wrapping_add(1),
                        ack_flag: true,
                        fin: true,
                        ..TcpFields::default()
                    };
                    return Some(self.control(Direction::S2c, f));
                }
                Phase::LastAck => {
                    self.phase = Phase::Done;
                    let f = TcpFields {
                        seq: self.c2s.seq_at(self.c2s.len).wrapping_add(1),
                        ack: self.s2c.seq_at(self.s2c.len).wrapping_add(1),
                        ack_flag: true,
                        ..TcpFields::default()
                    };
                    return Some(self.control(Direction::C2s, f));
                }
                Phase::Rst => {
                    self.phase = Phase::Done;
                    let from = self.rst_from;
                    let to = from.other();
                    let seq = {
                        let d = self.dir(from);
                        d.seq_at(d.len)
                    };
                    let ack = {
                        let d = self.dir(to);
                        d.seq_at(d.len)
                    };
                    let f = TcpFields {
                        seq,
                        ack,
                        ack_flag: true,
                        rst: true,
                        ..TcpFields::default()
                    };
                    return Some(self.control(from, f));
                }
                Phase::Done => return None,
            }
        }
    }

    /// A packet without payload from `from`.
    fn control(&mut self, from: Direction, f: TcpFields) -> Emit {
        self.dir(from.other()).unacked = 0;
        let ip_id = self.dir(from).count_packet(0);
        Emit {
            dir: from,
            l4: L4::Tcp(f),
            payload_len: 0,
            ip_id,
        }
    }

    /// A data packet from `from` carrying stream bytes `off..off+len`, which
    /// are already in `buf[..len]`.
    fn data(&mut self, from: Direction, off: u64, len: usize) -> Emit {
        let ack = self.dir(from.other()).ack_point();
        self.dir(from.other()).unacked = 0;
        let d = self.dir(from);
        let f = TcpFields {
            seq: d.seq_at(off),
            ack,
            ack_flag: true,
            psh: off + len as u64 == d.len,
            ..TcpFields::default()
        };
        d.unacked += 1;
        for p in &mut d.pending {
            p.wait = p.wait.saturating_sub(1);
        }
        let ip_id = d.count_packet(len);
        Emit {
            dir: from,
            l4: L4::Tcp(f),
            payload_len: len,
            ip_id,
        }
    }

    /// One packet of the data phase, or `None` when it is over.
    fn data_step(&mut self, buf: &mut Vec<u8>) -> Option<Emit> {
        // 1. owed ACK
        for d in [Direction::C2s, Direction::S2c] {
            if self.dir(d).unacked >= 2 {
                let from = d.other();
                let f = TcpFields {
                    seq: {
                        let s = self.dir(from);
                        s.seq_at(s.next_new)
                    },
                    ack: self.dir(d).ack_point(),
                    ack_flag: true,
                    ..TcpFields::default()
                };
                return Some(self.control(from, f));
            }
        }
        // 2. a queued segment whose wait ran out
        for d in [Direction::C2s, Direction::S2c] {
            if let Some(i) = self.dir(d).pending.iter().position(|p| p.wait == 0) {
                return Some(self.send_queued(d, i, buf));
            }
        }
        // 3. and 4.
        loop {
            match self.next_source() {
                Source::Done => return None,
                Source::Queued(d, i) => return Some(self.send_queued(d, i, buf)),
                Source::New(d) => {
                    let mss = usize::from(self.mss);
                    let st = self.dir(d);
                    // remaining <= 2^31, and mss fits usize
                    let len = (st.len - st.next_new).min(mss as u64) as usize;
                    let off = st.produce(len, buf);
                    let more = st.has_new();
                    self.queue_resends(d, off, len);
                    if more && self.rng.random_bool(self.rates.ooo) {
                        let wait = self.rng.random_range(1..=3);
                        self.dir(d).pending.push(Pending {
                            off,
                            len: len as u16,
                            wait,
                            kind: PendingKind::Delayed,
                        });
                        continue;
                    }
                    return Some(self.data(d, off, len));
                }
            }
        }
    }

    /// Draws whether the new segment `off..off+len` of `d` is later resent
    /// whole, and whether an overlapping range around its start is.
    fn queue_resends(&mut self, d: Direction, off: u64, len: usize) {
        // The segment's own send counts down one step, so a wait of 2..=5
        // means 1 to 4 further data packets come between.
        if self.rng.random_bool(self.rates.retrans) {
            let wait = self.rng.random_range(2..=5);
            self.dir(d).pending.push(Pending {
                off,
                len: len as u16,
                wait,
                kind: PendingKind::Retransmit,
            });
        }
        // Up to half an MSS before and after the boundary at `off`: the
        // previous segment is a full MSS, so this covers part of it and part
        // (or all, when short) of this one, and is at most one MSS. An MSS of
        // 1 leaves no room for that.
        let half = u64::from(self.mss / 2);
        if off > 0 && len > 0 && half > 0 && self.rng.random_bool(self.rates.overlap) {
            let back = self.rng.random_range(1..=off.min(half));
            let fwd = self.rng.random_range(1..=(len as u64).min(half));
            let wait = self.rng.random_range(2..=5);
            self.dir(d).pending.push(Pending {
                off: off - back,
                // back + fwd <= 2 * (mss / 2) <= mss
                len: (back + fwd) as u16,
                wait,
                kind: PendingKind::Overlap,
            });
        }
    }

    /// Sends and removes the queued segment `i` of direction `d`.
    fn send_queued(&mut self, d: Direction, i: usize, buf: &mut Vec<u8>) -> Emit {
        let st = self.dir(d);
        let p = st.pending.remove(i);
        let len = usize::from(p.len);
        st.regen(p.off, len, buf);
        match p.kind {
            PendingKind::Delayed => st.counters.out_of_order += 1,
            PendingKind::Retransmit => st.counters.retransmissions += 1,
            PendingKind::Overlap => st.counters.overlaps += 1,
        }
        self.data(d, p.off, len)
    }

    /// Decides between a new segment, a forced queued one, and the end of
    /// the data phase.
    fn next_source(&mut self) -> Source {
        let (c_new, s_new) = (self.c2s.has_new(), self.s2c.has_new());
        match self.order {
            DataOrder::RequestResponse => {
                if c_new {
                    Source::New(Direction::C2s)
                } else if let Some(i) = shortest_wait(&self.c2s.pending) {
                    Source::Queued(Direction::C2s, i)
                } else if s_new {
                    Source::New(Direction::S2c)
                } else if let Some(i) = shortest_wait(&self.s2c.pending) {
                    Source::Queued(Direction::S2c, i)
                } else {
                    Source::Done
                }
            }
            DataOrder::Interleaved => match (c_new, s_new) {
                (true, true) => {
                    if self.rng.random_bool(0.5) {
                        Source::New(Direction::C2s)
                    } else {
                        Source::New(Direction::S2c)
                    }
                }
                (true, false) => Source::New(Direction::C2s),
                (false, true) => Source::New(Direction::S2c),
                (false, false) => {
                    let c = shortest_wait(&self.c2s.pending);
                    let s = shortest_wait(&self.s2c.pending);
                    match (c, s) {
                        (Some(ci), Some(si)) => {
                            if self.c2s.pending[ci].wait <= self.s2c.pending[si].wait {
                                Source::Queued(Direction::C2s, ci)
                            } else {
                                Source::Queued(Direction::S2c, si)
                            }
                        }
                        (Some(ci), None) => Source::Queued(Direction::C2s, ci),
                        (None, Some(si)) => Source::Queued(Direction::S2c, si),
                        (None, None) => Source::Done,
                    }
                }
            },
        }
    }
}

/// Index of the queued segment with the shortest wait (the first of equals).
fn shortest_wait(q: &[Pending]) -> Option<usize> {
    q.iter()
        .enumerate()
        .min_by_key(|(i, p)| (p.wait, *i))
        .map(|(i, _)| i)
}
