//! Tombstones: what the assembler remembers of a TCP connection that closed
//! cleanly, so that packets arriving for it afterwards neither reopen it as
//! a new flow nor keep its full state alive.
//!
//! A connection is buried when both directions reached their FIN in order
//! (every byte up to it delivered) and each FIN was acknowledged by the
//! peer: the close handshake is over and nothing further can belong to the
//! connection's streams. It completes at once (reason `fin`; its record is
//! final), its state and stream are freed, and a 40-byte tombstone, keyed
//! by the flow key's 128-bit fingerprint ([`FlowKey::fingerprint`]), stays
//! for [`close_linger`](crate::AssemblerConfig::close_linger). Until then a
//! packet with the same addresses and ports is *late*: counted in
//! [`AssemblerStats::late_packets`](super::AssemblerStats::late_packets)
//! and `late_bytes` and otherwise dropped; a SYN with an initial sequence
//! number other than the one its side used is a new connection (the
//! addresses and ports were reused) and removes the tombstone.
//!
//! Connections that ended otherwise (a RST, which traffic may withdraw; a FIN
//! not yet acknowledged; holes flushed past) keep their full state for the
//! linger time, as before.

use std::collections::HashMap;

use pcapread::{FlowKey, Segment, Side, Transport};

use super::Assembler;
use crate::stream::{EndReason, StreamFactory};

/// A closed connection's remains.
#[derive(Debug, Clone, Copy)]
struct Tomb {
    /// Packet time of the close (ns).
    ended_at: u64,
    /// The ISN each side used, indexed by [`Side`] (lower endpoint first);
    /// bit `i` of `known` says whether side `i` sent a SYN.
    isn: [u32; 2],
    known: u8,
}

/// The tombstones of one assembler.
#[derive(Debug, Default)]
pub(super) struct Tombs {
    map: HashMap<u128, Tomb, foldhash::fast::RandomState>,
    /// No tombstone is older than this (packet time of its close, ns).
    oldest: u64,
}

fn side_index(side: Side) -> usize {
    match side {
        Side::Lo => 0,
        Side::Hi => 1,
    }
}

impl Tombs {
    /// Tombstones held.
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// Forget every tombstone whose linger ended before `t`.
    fn expire(&mut self, t: u64, linger: u64) {
        if self.map.is_empty() || self.oldest.saturating_add(linger) >= t {
            return;
        }
        let mut oldest = u64::MAX;
        self.map.retain(|_, tomb| {
            let keep = tomb.ended_at.saturating_add(linger) >= t;
            if keep {
                oldest = oldest.min(tomb.ended_at);
            }
            keep
        });
        self.oldest = oldest;
    }
}

impl<F: StreamFactory> Assembler<F> {
    /// Connection `idx` closed cleanly (both FINs delivered and
    /// acknowledged, nothing queued): complete it now and keep a tombstone.
    pub(super) fn bury_if_closed(&mut self, idx: usize) {
        let closed = self.timing[idx].ended == Some(EndReason::Fin)
            && !self.timing[idx].waiting
            && self.slots[idx]
                .as_ref()
                .is_some_and(|c| c.halves.iter().all(|h| h.fin_acked()));
        if !closed {
            return;
        }
        let Some(conn) = self.slots[idx].as_ref() else {
            return;
        };
        let mut tomb = Tomb {
            ended_at: self.timing[idx].ended_at,
            isn: [0; 2],
            known: 0,
        };
        for side in [Side::Lo, Side::Hi] {
            if let Some(isn) = conn.halves[conn.dir_of(side).index()].isn() {
                tomb.isn[side_index(side)] = isn;
                tomb.known |= 1 << side_index(side);
            }
        }
        let fingerprint = conn.key.fingerprint();
        self.complete(idx, EndReason::Fin);
        if self.tombs.map.len() >= self.cfg.max_connections.max(1) {
            // Full: the connection is forgotten as if its linger had passed.
            return;
        }
        if self.tombs.map.is_empty() {
            self.tombs.oldest = tomb.ended_at;
        }
        self.tombs.oldest = self.tombs.oldest.min(tomb.ended_at);
        self.tombs.map.insert(fingerprint, tomb);
        self.stats.tombstones_high_water = self.stats.tombstones_high_water.max(self.tombs.len());
    }

    /// A packet of no tracked connection: if it is a late packet of a
    /// buried one, count it and return true (it goes no further).
    pub(super) fn late(&mut self, key: &FlowKey, side: Side, seg: &Segment<'_>) -> bool {
        if self.tombs.map.is_empty() {
            return false;
        }
        let fingerprint = key.fingerprint();
        let Some(tomb) = self.tombs.map.get(&fingerprint) else {
            return false;
        };
        let expired = tomb.ended_at.saturating_add(self.cfg.close_linger) < seg.ts;
        let reused = match &seg.transport {
            Transport::Tcp(t) if t.flags.syn() => {
                let i = side_index(side);
                tomb.known & (1 << i) == 0 || tomb.isn[i] != t.seq
            }
            Transport::Tcp(_) => false,
            // A tombstone is TCP's; the key names the protocol.
            Transport::Udp => true,
        };
        if expired || reused {
            self.tombs.map.remove(&fingerprint);
            return false;
        }
        self.stats.late_packets += 1;
        self.stats.late_bytes += seg.payload.len() as u64;
        true
    }

    /// Forget the tombstones whose linger ended before `t`.
    pub(super) fn expire_tombs(&mut self, t: u64) {
        self.tombs.expire(t, self.cfg.close_linger);
    }

    /// Forget the tombstones of connections that ended before `t`.
    pub(super) fn forget_tombs_before(&mut self, t: u64) {
        self.tombs.expire(t, 0);
    }

    /// Forget every tombstone (end of input).
    pub(super) fn clear_tombs(&mut self) {
        self.tombs.map.clear();
        self.tombs.oldest = 0;
    }
}
