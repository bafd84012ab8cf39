//! Connections that went quiet: parked at the TCP idle timeout instead of
//! completed, woken by a packet that continues them, and completed when the
//! resume window passes or too many are parked.
//!
//! A parked connection has delivered everything it held (past any holes, as
//! a flush does) and released its pages and verify window; it keeps its
//! [`Stream`](crate::Stream), its flow identity and each direction's delivery
//! point, so when the connection carries on its stream sees one continuous
//! byte stream. See [`AssemblerConfig::resume_window`](crate::AssemblerConfig::resume_window)
//! for what continues a connection.

use pcapread::{FlowKey, Segment, Side, TcpInfo, Transport};

use super::{waiting, Assembler, Conn, Who};
use crate::stream::{EndReason, Stream, StreamFactory};

impl<F: StreamFactory> Assembler<F> {
    /// How long a parked connection waits beyond the idle timeout (0 when
    /// parking is off).
    pub(super) fn resume_window(&self) -> u64 {
        if self.cfg.max_parked == 0 {
            0
        } else {
            self.cfg.resume_window
        }
    }

    /// Park every TCP connection quiet since before `now - tcp_idle_timeout`
    /// that neither ended nor is parked already, in order of first packet
    /// (the order of their deliveries); then hold the parked count to
    /// `max_parked`. A connection that has seen no payload and at most one
    /// SYN (a SYN never answered) has nothing to carry on: it completes
    /// instead.
    pub(super) fn park_idle(&mut self, now: u64) {
        if self.resume_window() == 0 {
            return;
        }
        let idle = self.cfg.tcp_idle_timeout;
        let mut quiet: Vec<(u64, u64, usize)> = Vec::new();
        for (i, tm) in self.timing.iter().enumerate() {
            let due = tm.live
                && tm.tcp
                && !tm.parked
                && tm.ended.is_none()
                && tm.last_ts.saturating_add(idle) < now;
            if let (true, Some(c)) = (due, self.slots[i].as_ref()) {
                quiet.push((tm.first_frame, c.first_ts, i));
            }
        }
        let embryos = self
            .embryos
            .picked_in_order(|e| e.ts.saturating_add(idle) < now);
        self.in_packet_order(quiet, embryos, |asm, who| match who {
            Who::Slot(i) if asm.slots[i].as_deref().is_some_and(only_a_syn) => {
                asm.complete(i, EndReason::IdleTimeout)
            }
            Who::Slot(i) => asm.park(i),
            Who::Embryo(e) => asm.complete_embryo(e, EndReason::IdleTimeout),
        });
        self.complete_excess_parked();
        self.stats.parked_high_water = self.stats.parked_high_water.max(self.parked);
    }

    /// Deliver everything connection `idx` holds, release its memory and
    /// park it; one whose two directions reach their FIN by that delivery
    /// has ended instead (it lingers like any other).
    fn park(&mut self, idx: usize) {
        let Some(conn) = self.slots[idx].as_mut() else {
            return;
        };
        Self::each_half(
            (&mut self.cache, &mut self.scratch, &mut self.verify_mem),
            &self.cfg,
            &mut self.factory,
            conn,
            |a, d, ctx, calls| a.park(d, ctx, calls),
        );
        let tm = &mut self.timing[idx];
        tm.waiting = waiting(&conn.halves);
        if conn.halves.iter().all(|h| h.closed) {
            tm.ended = Some(EndReason::Fin);
            tm.ended_at = tm.last_ts;
            return;
        }
        tm.parked = true;
        self.parked += 1;
        self.stats.parked += 1;
        conn.stream.parked(&mut self.factory);
    }

    /// Past `max_parked`, complete the connections parked longest ago
    /// (earliest last packet, then first packet), in order of first packet.
    fn complete_excess_parked(&mut self) {
        let excess = self.parked.saturating_sub(self.cfg.max_parked);
        if excess == 0 {
            return;
        }
        let mut parked: Vec<(u64, u64, usize)> = Vec::with_capacity(self.parked);
        for (i, tm) in self.timing.iter().enumerate() {
            if tm.live && tm.parked && self.slots[i].is_some() {
                parked.push((tm.last_ts, tm.first_frame, i));
            }
        }
        parked.sort_unstable();
        let mut victims: Vec<(u64, usize)> = parked[..excess.min(parked.len())]
            .iter()
            .map(|&(_, frame, i)| (frame, i))
            .collect();
        victims.sort_unstable();
        for (_, i) in victims {
            self.complete(i, EndReason::IdleTimeout);
        }
    }

    /// A packet for connection `idx` arrived: if the connection is parked,
    /// wake it when the packet continues it, else complete it and open a new
    /// connection for the packet. Returns the connection the packet belongs to.
    pub(super) fn wake(
        &mut self,
        idx: usize,
        key: FlowKey,
        side: Side,
        seg: &Segment<'_>,
    ) -> usize {
        if !self.timing[idx].parked {
            return idx;
        }
        let Some(conn) = self.slots[idx].as_mut() else {
            return idx;
        };
        let resumes = match &seg.transport {
            Transport::Tcp(t) => continues(conn, side, t, self.cfg.max_window),
            Transport::Udp => false,
        };
        if !resumes {
            self.complete(idx, EndReason::IdleTimeout);
            return self.create(key, side, seg);
        }
        let tm = &mut self.timing[idx];
        tm.parked = false;
        self.parked -= 1;
        self.stats.resumed += 1;
        conn.resumptions = conn.resumptions.saturating_add(1);
        conn.longest_idle = conn.longest_idle.max(seg.ts.saturating_sub(tm.last_ts));
        idx
    }
}

/// Whether `conn` has taken no payload and at most one packet, a SYN (what
/// an embryo holds, or a SYN-ACK alone): nothing to carry on after the idle
/// timeout.
fn only_a_syn<S>(conn: &Conn<S>) -> bool {
    let packets: u64 = conn.halves.iter().map(|h| h.packets).sum();
    let no_data = conn
        .halves
        .iter()
        .all(|h| !h.has_data() && h.captured == 0 && !h.closed);
    no_data && (packets == 0 || (packets == 1 && conn.halves.iter().any(|h| h.syn_seen)))
}

/// How far past the next expected byte a packet that continues a parked
/// connection may start (4 MiB, as for a RST: receive windows are not
/// tracked). A new connection on the same ports, with a random initial
/// sequence number, falls inside it once in 1024 times; `max_window` (1 GiB
/// by default) would let one in four through.
const RESUME_WINDOW: i64 = 1 << 22;

/// Whether TCP segment `t` from `side` continues the parked connection
/// `conn`: not a SYN, and either its sequence number lies from one before
/// (a keep-alive) to [`RESUME_WINDOW`] (at most `max_window`) past the next one its direction expects,
/// or it acknowledges exactly the next sequence number the peer's direction
/// expects. A direction never seen expects what the peer's ACKs said; a
/// connection with neither direction's sequence space known is never
/// continued.
fn continues<S>(conn: &Conn<S>, side: Side, t: &TcpInfo, max_window: u64) -> bool {
    if t.flags.syn() {
        return false;
    }
    let d = conn.dir_of(side).index();
    let (h, peer) = (&conn.halves[d], &conn.halves[1 - d]);
    let window = i64::try_from(max_window)
        .unwrap_or(i64::MAX)
        .min(RESUME_WINDOW);
    let in_sequence = h
        .expected_seq()
        .is_some_and(|next| (-1..=window).contains(&i64::from(t.seq.wrapping_sub(next) as i32)));
    let acks_peer = t.flags.ack() && peer.expected_seq() == Some(t.ack);
    in_sequence || acks_peer
}
