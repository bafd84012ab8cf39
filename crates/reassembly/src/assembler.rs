//! The [`Assembler`]: one per worker, no locks. It owns the connection table,
//! the page cache and the streams, and routes each segment to its connection.
//!
//! Time is the packets' time: the assembler never reads the clock. The driver
//! calls [`Assembler::flush_older_than`] and [`Assembler::close_older_than`] (or
//! [`Assembler::expire`]) as packet time advances, and [`Assembler::flush_all`]
//! at the end of input.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use pcapread::{FlowKey, Proto, Segment, Side, Transport};

use crate::config::AssemblerConfig;
use crate::half::{Ctx, Half, Pkt, Scratch, StreamCalls};
use crate::ledger::Ledger;
use crate::page::PageCache;
use crate::recency::{Recency, MAX_SLOTS};
use crate::scatter::{Piece, ScatterGather, Skipped, Source};
use crate::stream::{
    Accept, AcceptInfo, Completion, Dir, EndReason, Stream, StreamFactory, StreamInfo,
};
use crate::verify::VerifyMem;

mod embryo;
mod parked;
mod tomb;

/// Counters over the assembler's life.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssemblerStats {
    /// Segments given to `assemble`.
    pub segments: u64,
    /// Segments vetoed by `Stream::accept`.
    pub rejected: u64,
    /// Connections created.
    pub connections: u64,
    /// Connections completed.
    pub completed: u64,
    /// Connections evicted because the table was full.
    pub evicted_connections: u64,
    /// RST segments ignored (sender's sequence space unknown, or out of window).
    pub rst_ignored: u64,
    /// Accepted RSTs withdrawn because the connection carried on after them.
    pub rst_overridden: u64,
    /// Highest number of pages in use at once.
    pub pages_high_water: usize,
    /// Highest number of connections tracked at once.
    pub connections_high_water: usize,
    /// Highest number of bytes the verify windows
    /// ([`AssemblerConfig::verify_window`]) held at once, origin records included.
    pub verify_bytes_high_water: usize,
    /// Times a TCP connection went quiet for the idle timeout and was parked.
    pub parked: u64,
    /// Times a parked connection carried on.
    pub resumed: u64,
    /// Highest number of connections parked at once.
    pub parked_high_water: usize,
    /// Packets of connections already complete (closed cleanly, within
    /// [`AssemblerConfig::close_linger`] of the close; see
    /// [`Assembler::tombstones`]): part of no flow.
    pub late_packets: u64,
    /// Payload bytes of those packets.
    pub late_bytes: u64,
    /// Highest number of tombstones held at once.
    pub tombstones_high_water: usize,
}

impl AssemblerStats {
    /// Add another assembler's counters (high-water marks add up too: the
    /// assemblers were alive at the same time).
    pub fn add(&mut self, other: &AssemblerStats) {
        self.segments += other.segments;
        self.rejected += other.rejected;
        self.connections += other.connections;
        self.completed += other.completed;
        self.evicted_connections += other.evicted_connections;
        self.rst_ignored += other.rst_ignored;
        self.rst_overridden += other.rst_overridden;
        self.pages_high_water += other.pages_high_water;
        self.connections_high_water += other.connections_high_water;
        self.verify_bytes_high_water += other.verify_bytes_high_water;
        self.parked += other.parked;
        self.resumed += other.resumed;
        self.parked_high_water += other.parked_high_water;
        self.late_packets += other.late_packets;
        self.late_bytes += other.late_bytes;
        self.tombstones_high_water += other.tombstones_high_water;
    }
}

struct Conn<S> {
    /// The table's key (the rest of the [`StreamInfo`] the stream was made
    /// from is the stream's to keep).
    key: FlowKey,
    /// Timestamp of the first packet (its frame number is in [`Timing`]):
    /// the eviction order among connections equally quiet.
    first_ts: u64,
    /// Which side of the key is the client.
    client: Side,
    halves: [Half; 2],
    stream: S,
    last_frame: u64,
    /// Times it was parked and carried on.
    resumptions: u32,
    /// Longest quiet period before a resumption (ns).
    longest_idle: u64,
}

/// What housekeeping reads of a connection, kept in a dense array beside the
/// slots rather than in the connection: a tick then reads 24 bytes per
/// connection in slot order instead of following a pointer to each one (with
/// hundreds of thousands of connections, mostly ended ones lingering, that
/// pointer chase was most of a tick's cost).
#[derive(Debug, Clone, Copy, Default)]
struct Timing {
    /// Frame number of the first packet (the flow's id in the engine).
    first_frame: u64,
    /// Latest packet time accepted.
    last_ts: u64,
    /// When `ended` was set.
    ended_at: u64,
    /// Set when FIN both ways or an accepted RST ended the connection; it lingers
    /// until `close_linger` passes so late packets are counted against it.
    ended: Option<EndReason>,
    /// The slot holds a connection.
    live: bool,
    tcp: bool,
    /// A half may hold queued bytes or wait for its start: set from the
    /// halves after every TCP segment and every flush of the connection,
    /// the only places either changes.
    waiting: bool,
    /// Quiet for the idle timeout: parked, waiting to carry on (see `parked`).
    parked: bool,
}

impl<S> Conn<S> {
    fn dir_of(&self, side: Side) -> Dir {
        if side == self.client {
            Dir::ClientToServer
        } else {
            Dir::ServerToClient
        }
    }
}

/// Reassembles TCP connections and UDP flows into ordered byte streams.
///
/// See the crate documentation for the lifecycle and an example.
pub struct Assembler<F: StreamFactory> {
    cfg: AssemblerConfig,
    factory: F,
    cache: PageCache,
    scratch: Scratch,
    verify_mem: VerifyMem,
    /// The slots in use, found by the key of their connection (the key is
    /// kept once, in the connection: the table holds 4-byte slot numbers).
    /// The hasher is seeded per process (hash flooding by crafted captures
    /// stays expensive). Housekeeping walks `timing`, not this table, so no
    /// output depends on the table's order.
    table: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    /// Connections are boxed: a slot table of a million entries then holds
    /// pointers, and growing it never copies (or doubles) whole connections.
    slots: Vec<Option<Box<Conn<F::Stream>>>>,
    /// Per slot, what housekeeping needs (same length as `slots`).
    timing: Vec<Timing>,
    free_slots: Vec<usize>,
    /// The slots in use, least recently active first (the eviction order).
    recency: Recency,
    stats: AssemblerStats,
    clock: u64,
    /// Connections parked right now.
    parked: usize,
    /// Connections closed cleanly, remembered for their linger time.
    tombs: tomb::Tombs,
    /// Half-open connections: only a bare SYN so far (see `embryo`).
    embryos: embryo::Embryos,
}

impl<F: StreamFactory> Assembler<F> {
    /// An assembler with the given options that creates streams with `factory`.
    pub fn new(cfg: AssemblerConfig, factory: F) -> Self {
        let cache = PageCache::new(cfg.page_size, cfg.max_pages_total);
        Assembler {
            cfg,
            factory,
            cache,
            scratch: Scratch::default(),
            verify_mem: VerifyMem::default(),
            table: HashTable::new(),
            hasher: Default::default(),
            slots: Vec::new(),
            timing: Vec::new(),
            free_slots: Vec::new(),
            recency: Recency::default(),
            stats: AssemblerStats::default(),
            clock: 0,
            parked: 0,
            tombs: tomb::Tombs::default(),
            embryos: embryo::Embryos::default(),
        }
    }

    /// The options.
    pub fn config(&self) -> &AssemblerConfig {
        &self.cfg
    }

    /// The factory (for example to read what it collected).
    pub fn factory(&self) -> &F {
        &self.factory
    }

    /// The factory, mutably.
    pub fn factory_mut(&mut self) -> &mut F {
        &mut self.factory
    }

    /// Consume the assembler (call [`flush_all`](Self::flush_all) first) and return the factory.
    pub fn into_factory(self) -> F {
        self.factory
    }

    /// Connections parked right now (quiet for the idle timeout, waiting to
    /// carry on; see [`AssemblerConfig::resume_window`]).
    pub fn parked(&self) -> usize {
        self.parked
    }

    /// Counters.
    pub fn stats(&self) -> AssemblerStats {
        let mut s = self.stats.clone();
        s.pages_high_water = self.cache.high_water();
        s.verify_bytes_high_water = self.verify_mem.high_water;
        s
    }

    /// Bytes the verify windows hold right now (ring buffers and origin
    /// records; 0 unless [`AssemblerConfig::verify_window`] is set).
    pub fn verify_bytes_in_use(&self) -> usize {
        self.verify_mem.in_use
    }

    /// Pages holding data right now.
    pub fn pages_in_use(&self) -> usize {
        self.cache.in_use()
    }

    /// Connections tracked right now (including ended ones that linger with
    /// their state and half-open ones; not the tombstones).
    ///
    /// A connection whose only packet is a bare SYN is held in an 80-byte
    /// record ([`AssemblerConfig::compact_half_open`]) until its second
    /// packet, its idle timeout or the end of input; its stream is created
    /// then.
    pub fn connections(&self) -> usize {
        self.table.len() + self.embryos.len()
    }

    /// The lowest first-frame number among the connections still tracked
    /// (half-open ones held as a bare SYN included), `None` when there are
    /// none: every connection whose first frame is below it has completed.
    /// A run that numbers frames in input order can hand out the records of
    /// flows below it (and below the next frame to come) in id order while
    /// it goes on. O(connections): one pass over a dense array.
    pub fn oldest_open_frame(&self) -> Option<u64> {
        let slots = self
            .timing
            .iter()
            .filter(|t| t.live)
            .map(|t| t.first_frame)
            .min();
        match (slots, self.embryos.oldest_frame()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Half-open connections held as a bare SYN right now (included in
    /// [`Assembler::connections`]).
    pub fn half_open(&self) -> usize {
        self.embryos.len()
    }

    /// Connections that closed cleanly (both FINs delivered and
    /// acknowledged) and completed, remembered by a 40-byte tombstone until
    /// their linger time passes so that late packets are counted
    /// ([`AssemblerStats::late_packets`]) instead of opening a new flow.
    pub fn tombstones(&self) -> usize {
        self.tombs.len()
    }

    /// The latest packet time seen.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// Process one segment.
    pub fn assemble(&mut self, seg: &Segment<'_>) {
        self.stats.segments += 1;
        self.clock = self.clock.max(seg.ts);
        let (key, side) = seg.tuple.canonical();
        let idx = match self.slot_of(&key) {
            Some(i) => i,
            None => match self.embryos.take(&key) {
                Some(syn) => self.hatch(&syn),
                None if self.late(&key, side, seg) => return,
                None if self.conceive(&key, side, seg) => return,
                None => self.create(key, side, seg),
            },
        };
        self.go_on(idx, key, side, seg);
    }

    /// Hold a bare SYN for a new connection as an embryo, if it is one and
    /// compact half-open connections are on. Counted as a connection.
    fn conceive(&mut self, key: &FlowKey, side: Side, seg: &Segment<'_>) -> bool {
        if !self.cfg.compact_half_open {
            return false;
        }
        let Some(e) = embryo::Embryo::of(key, side, seg) else {
            return false;
        };
        self.make_room();
        if !self.embryos.insert(e, (seg.encap, seg.link)) {
            return false;
        }
        self.stats.connections += 1;
        self.stats.connections_high_water =
            self.stats.connections_high_water.max(self.connections());
        true
    }

    /// Turn an embryo's SYN (taken out of `embryos`) into a full connection
    /// that has seen it; returns its slot.
    fn hatch(&mut self, syn: &Segment<'static>) -> usize {
        let (key, side) = syn.tuple.canonical();
        let idx = self.create_slot(key, side, syn);
        self.tcp(idx, side, syn);
        idx
    }

    /// The rest of `assemble` once the packet's connection is known.
    fn go_on(&mut self, idx: usize, key: FlowKey, side: Side, seg: &Segment<'_>) {
        let idx = self.wake(idx, key, side, seg);
        let ended = self.timing[idx].ended;
        let reuse = match (&seg.transport, self.slots[idx].as_ref()) {
            (Transport::Tcp(t), Some(conn)) if t.flags.syn() => {
                let dir = conn.dir_of(side);
                let h = &conn.halves[dir.index()];
                let new_isn = h.isn().is_some_and(|isn| isn != t.seq);
                let pure_syn = !t.flags.ack();
                let established = conn.halves.iter().any(|h| h.has_data());
                // A SYN-ACK on a live connection whose ACK acknowledges the
                // peer's known bytes belongs to this connection (a stray or
                // retried SYN-ACK): ACK evidence, not the new ISN, decides.
                let peer = &conn.halves[dir.reverse().index()];
                let other_conn = pure_syn || !peer.acknowledges_own(t.ack, self.cfg.max_window);
                (ended.is_some() && (new_isn || (pure_syn && h.isn().is_none())))
                    || (new_isn && established && other_conn)
            }
            _ => false,
        };
        let idx = if reuse {
            let reason = ended.unwrap_or(EndReason::Reused);
            self.complete(idx, reason);
            self.create(key, side, seg)
        } else {
            idx
        };
        match seg.transport {
            Transport::Tcp(_) => {
                self.tcp(idx, side, seg);
                self.bury_if_closed(idx);
            }
            Transport::Udp => self.udp(idx, side, seg),
        }
    }

    fn create(&mut self, key: FlowKey, side: Side, seg: &Segment<'_>) -> usize {
        self.make_room();
        self.stats.connections += 1;
        let idx = self.create_slot(key, side, seg);
        self.stats.connections_high_water =
            self.stats.connections_high_water.max(self.connections());
        idx
    }

    /// The slot of the connection with `key`, if one is tracked.
    fn slot_of(&self, key: &FlowKey) -> Option<usize> {
        let slots = &self.slots;
        self.table
            .find(self.hasher.hash_one(key), |&i| {
                slots[i as usize].as_ref().is_some_and(|c| c.key == *key)
            })
            .map(|&i| i as usize)
    }

    /// Evict a connection if the table is full.
    fn make_room(&mut self) {
        if self.connections() >= self.cfg.max_connections.clamp(1, MAX_SLOTS) {
            self.evict_one();
        }
    }

    /// A connection for `seg` in a slot (not counted in the stats).
    fn create_slot(&mut self, key: FlowKey, side: Side, seg: &Segment<'_>) -> usize {
        let (client, syn_seen) = match &seg.transport {
            Transport::Tcp(t) if t.flags.syn() && t.flags.ack() => (side.flip(), false),
            Transport::Tcp(t) if t.flags.syn() => (side, true),
            _ => (side, false),
        };
        let tuple = key.tuple(client);
        // Each direction is resolved the way its receiver would resolve it.
        let policies = [
            self.cfg.policy_for(tuple.dst.ip()),
            self.cfg.policy_for(tuple.src.ip()),
        ];
        let info = StreamInfo {
            key,
            proto: key.proto,
            client: tuple,
            first_frame: seg.frame,
            first_ts: seg.ts,
            syn_seen,
            policies,
        };
        let stream = self.factory.new_stream(&info);
        let conn = Conn {
            key,
            first_ts: seg.ts,
            client,
            halves: policies.map(Half::with_policy),
            stream,
            last_frame: seg.frame,
            resumptions: 0,
            longest_idle: 0,
        };
        let timing = Timing {
            first_frame: seg.frame,
            last_ts: seg.ts,
            live: true,
            tcp: key.proto == Proto::Tcp,
            ..Timing::default()
        };
        let idx = if let Some(i) = self.free_slots.pop() {
            self.slots[i] = Some(Box::new(conn));
            self.timing[i] = timing;
            i
        } else {
            self.slots.push(Some(Box::new(conn)));
            self.timing.push(timing);
            self.slots.len() - 1
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.table
            .insert_unique(hasher.hash_one(key), idx as u32, |&i| {
                slots[i as usize]
                    .as_ref()
                    .map_or(0, |c| hasher.hash_one(c.key))
            });
        self.recency.push(idx);
        idx
    }

    /// Evict the oldest half-open connection held as a bare SYN, if any;
    /// else the least recently active connection: the one whose last
    /// accepted packet came earliest in the input (arrival order, which is
    /// also packet-time order unless timestamps go backwards; see
    /// [`Recency`]). O(1) to find.
    fn evict_one(&mut self) {
        if let Some(e) = self.embryos.oldest() {
            self.stats.evicted_connections += 1;
            self.complete_embryo(e, EndReason::Evicted);
        } else if let Some(i) = self.recency.oldest() {
            self.stats.evicted_connections += 1;
            self.complete(i, EndReason::Evicted);
        }
    }

    fn ctx<'c>(
        cache: &'c mut PageCache,
        scratch: &'c mut Scratch,
        verify_mem: &'c mut VerifyMem,
        cfg: &AssemblerConfig,
        other_pages: usize,
    ) -> Ctx<'c> {
        Ctx {
            cache,
            scratch,
            max_pages_per_conn: cfg.max_pages_per_conn,
            max_gaps: cfg.max_gaps_listed,
            max_window: cfg.max_window,
            midstream_window: cfg.midstream_window.max(1),
            other_pages,
            verify_window: cfg.verify_window,
            verify_mem,
        }
    }

    /// Run `f` on each half of `conn` (client to server first) with the
    /// context and stream calls a half works with.
    fn each_half(
        (cache, scratch, verify_mem): (&mut PageCache, &mut Scratch, &mut VerifyMem),
        cfg: &AssemblerConfig,
        factory: &mut F,
        conn: &mut Conn<F::Stream>,
        mut f: impl FnMut(&mut Half, Dir, &mut Ctx<'_>, &mut StreamCalls<'_, F::Stream>),
    ) {
        for d in [Dir::ClientToServer, Dir::ServerToClient] {
            let (a, b) = split_halves(&mut conn.halves, d.index());
            let mut ctx = Self::ctx(cache, scratch, verify_mem, cfg, b.pages);
            let mut calls = StreamCalls {
                stream: &mut conn.stream,
                ctx: factory,
            };
            f(a, d, &mut ctx, &mut calls);
        }
    }

    fn tcp(&mut self, idx: usize, side: Side, seg: &Segment<'_>) {
        let Transport::Tcp(t) = seg.transport else {
            return;
        };
        let Some(conn) = self.slots[idx].as_mut() else {
            return;
        };
        let dir = conn.dir_of(side);
        let d = dir.index();
        let info = AcceptInfo {
            dir,
            start_pending: conn.halves[d].start_pending(),
        };
        let verdict = conn.stream.accept(seg, &info, &mut self.factory);
        if verdict == Accept::Drop {
            self.stats.rejected += 1;
            return;
        }
        let tm = &mut self.timing[idx];
        tm.last_ts = tm.last_ts.max(seg.ts);
        conn.last_frame = seg.frame;
        self.recency.touch(idx);
        let (h, peer) = split_halves(&mut conn.halves, d);
        h.packets += 1;
        let carries =
            !seg.payload.is_empty() || seg.truncated > 0 || t.flags.syn() || t.flags.fin();
        if tm.ended == Some(EndReason::Rst) && carries && !t.flags.rst() && !h.closed {
            // Traffic goes on after the RST: it was not final (injected, or refused
            // by a host still in SYN-SENT). Keep the connection open.
            tm.ended = None;
            self.stats.rst_overridden += 1;
        }
        let mut ctx = Self::ctx(
            &mut self.cache,
            &mut self.scratch,
            &mut self.verify_mem,
            &self.cfg,
            peer.pages,
        );
        let mut calls = StreamCalls {
            stream: &mut conn.stream,
            ctx: &mut self.factory,
        };
        if t.flags.syn() {
            h.on_syn(t.seq, &mut ctx);
        }
        if t.flags.ack() {
            peer.on_peer_ack(t.ack, &mut ctx);
        }
        let rst_ok = t.flags.rst() && rst_acceptable(h, t.seq);
        let data_seq = if t.flags.syn() {
            t.seq.wrapping_add(1)
        } else {
            t.seq
        };
        let has_payload = !seg.payload.is_empty() || seg.truncated > 0;
        if has_payload && !t.flags.syn() {
            h.pick_isn_by_data(t.seq, &mut ctx);
        }
        let probe = seg.payload.len() == 1
            && seg.truncated == 0
            && t.flags.ack()
            && !t.flags.syn()
            && !t.flags.fin()
            && !t.flags.rst();
        if probe && h.keep_alive(t.seq, &mut ctx) {
            // Counted as a keep-alive; not data.
        } else if has_payload || t.flags.fin() {
            let pkt = Pkt {
                payload: seg.payload,
                frame: seg.frame,
                ts: seg.ts,
            };
            h.on_data(
                data_seq,
                pkt,
                u64::from(seg.truncated),
                t.flags.fin(),
                verdict == Accept::TakeAndStart,
                dir,
                &mut ctx,
                &mut calls,
            );
        }
        if t.flags.syn() {
            // A SYN arriving after SYN-less data re-homes the queue at ISN + 1:
            // deliver what now sits at the delivery point instead of stalling.
            h.deliver_queued(dir, &mut ctx, &mut calls);
        }
        if t.flags.rst() {
            if rst_ok {
                // The streams are not cut here: data that follows a RST is still
                // delivered (a RST can be injected; tshark and Zeek keep it too).
                // The connection completes after `close_linger` unless traffic
                // goes on, which withdraws the RST.
                if tm.ended.is_none() {
                    tm.ended = Some(EndReason::Rst);
                    tm.ended_at = seg.ts;
                }
            } else {
                self.stats.rst_ignored += 1;
            }
        } else if tm.ended.is_none() && conn.halves.iter().all(|h| h.closed) {
            tm.ended = Some(EndReason::Fin);
            tm.ended_at = seg.ts;
        }
        tm.waiting = waiting(&conn.halves);
    }

    fn udp(&mut self, idx: usize, side: Side, seg: &Segment<'_>) {
        let Some(conn) = self.slots[idx].as_mut() else {
            return;
        };
        let dir = conn.dir_of(side);
        let d = dir.index();
        let info = AcceptInfo {
            dir,
            start_pending: false,
        };
        if conn.stream.accept(seg, &info, &mut self.factory) == Accept::Drop {
            self.stats.rejected += 1;
            return;
        }
        let tm = &mut self.timing[idx];
        tm.last_ts = tm.last_ts.max(seg.ts);
        conn.last_frame = seg.frame;
        self.recency.touch(idx);
        let h = &mut conn.halves[d];
        h.packets += 1;
        let n = seg.payload.len() as u64;
        h.captured += n;
        let first = h.delivered == 0;
        h.delivered += n;
        let skipped = std::mem::take(&mut h.pending_skip);
        if seg.truncated > 0 {
            let off = h.udp_offset + n;
            h.add_gap(off, u64::from(seg.truncated), self.cfg.max_gaps_listed);
            // Reported with the next delivery, like a TCP gap.
            h.pending_skip = u64::from(seg.truncated);
        }
        let offset = h.udp_offset;
        h.udp_offset += n + u64::from(seg.truncated);
        if n == 0 {
            // Nothing to deliver (a call may be empty only to end a direction);
            // a skip before it waits for the next delivery.
            h.pending_skip += skipped;
            return;
        }
        let pieces = [Piece {
            src: Source::Packet {
                from: 0,
                to: seg.payload.len(),
            },
            len: seg.payload.len(),
            frame: seg.frame,
            ts: seg.ts,
        }];
        let mut sg = ScatterGather {
            pieces: &pieces,
            packet: seg.payload,
            pages: &self.cache,
            dir,
            start: first,
            end: false,
            skip: if skipped > 0 {
                Skipped::Bytes(skipped)
            } else {
                Skipped::None
            },
            saved: 0,
            len: seg.payload.len(),
            stream_offset: offset,
            keep: None,
        };
        conn.stream.reassembled(&mut sg, &mut self.factory);
    }

    /// Deliver past holes in every connection whose oldest queued data arrived
    /// before `t` (packet time, ns).
    pub fn flush_older_than(&mut self, t: u64) {
        for i in 0..self.slots.len() {
            let tm = &mut self.timing[i];
            if !tm.waiting {
                continue;
            }
            let Some(conn) = self.slots[i].as_mut() else {
                continue;
            };
            Self::each_half(
                (&mut self.cache, &mut self.scratch, &mut self.verify_mem),
                &self.cfg,
                &mut self.factory,
                conn,
                |a, d, ctx, calls| a.flush(Some(t), d, ctx, calls),
            );
            if tm.ended.is_none() && conn.halves.iter().all(|h| h.closed) {
                tm.ended = Some(EndReason::Fin);
                tm.ended_at = tm.last_ts;
            }
            tm.waiting = waiting(&conn.halves);
        }
    }

    /// Close connections with no packet since before `t` (parked ones
    /// included: this is an explicit close, it does not park), and forget
    /// ended connections whose linger time has passed by `t`. Each gets
    /// `complete`. Tombstones of connections that ended before `t` are
    /// forgotten.
    pub fn close_older_than(&mut self, t: u64) {
        // Tombstones of connections that ended before `t` are quiet too.
        self.forget_tombs_before(t);
        let linger = self.cfg.close_linger;
        self.complete_matching(|c| match c.ended {
            Some(r) if c.ended_at.saturating_add(linger) < t || c.last_ts < t => Some(r),
            None if c.last_ts < t => Some(EndReason::IdleTimeout),
            _ => None,
        });
    }

    /// Apply the idle timeouts at packet time `now`: TCP connections idle for
    /// `tcp_idle_timeout` are parked, and complete once idle for
    /// `tcp_idle_timeout + resume_window` (or sooner, past `max_parked`);
    /// UDP flows idle for `udp_idle_timeout` and ended connections past
    /// `close_linger` complete.
    pub fn expire(&mut self, now: u64) {
        let (tcp, udp, linger) = (
            self.cfg.tcp_idle_timeout,
            self.cfg.udp_idle_timeout,
            self.cfg.close_linger,
        );
        // TCP connections quiet for the idle timeout are parked first (see
        // `parked`) and complete once the resume window has passed too.
        let tcp_done = tcp.saturating_add(self.resume_window());
        self.complete_matching(|c| {
            let idle = if c.tcp { tcp_done } else { udp };
            match c.ended {
                Some(r) if c.ended_at.saturating_add(linger) < now => Some(r),
                None if c.last_ts.saturating_add(idle) < now => Some(EndReason::IdleTimeout),
                _ => None,
            }
        });
        self.park_idle(now);
        self.expire_tombs(now);
    }

    /// End of input: deliver everything past every hole and complete every
    /// connection (reason `EndOfInput`, or how it already ended).
    pub fn flush_all(&mut self) {
        self.clear_tombs();
        self.complete_matching(|c| match c.ended {
            Some(r) => Some(r),
            None if c.parked => Some(EndReason::IdleTimeout),
            None => Some(EndReason::EndOfInput),
        });
    }

    /// Complete every connection `pick` names a reason for, in order of first
    /// packet (so the order of `complete` calls does not depend on the table).
    /// Half-open connections held as a bare SYN are asked with their SYN's
    /// time as the last packet's.
    fn complete_matching(&mut self, pick: impl Fn(&Timing) -> Option<EndReason>) {
        let mut victims: Vec<(u64, u64, usize)> = Vec::new();
        for (i, tm) in self.timing.iter().enumerate() {
            if !tm.live || pick(tm).is_none() {
                continue;
            }
            if let Some(c) = self.slots[i].as_ref() {
                victims.push((tm.first_frame, c.first_ts, i));
            }
        }
        let embryos = self
            .embryos
            .picked_in_order(|e| pick(&Timing::of_embryo(e.ts)).is_some());
        self.in_packet_order(victims, embryos, |asm, who| match who {
            Who::Slot(i) => {
                if let Some(r) = pick(&asm.timing[i]) {
                    asm.complete(i, r);
                }
            }
            Who::Embryo(e) => {
                let ts = asm.embryos.get(e).ts;
                if let Some(r) = pick(&Timing::of_embryo(ts)) {
                    asm.complete_embryo(e, r);
                }
            }
        });
    }

    /// Run `act` on the connections in slots `slots` (first frame, first
    /// time, slot) and the embryos `embryos` (in order of first packet,
    /// [`embryo::Embryos::picked_in_order`]), all in order of first packet.
    /// `act` may complete the connection it is given, nothing else.
    fn in_packet_order(
        &mut self,
        mut slots: Vec<(u64, u64, usize)>,
        embryos: Vec<u32>,
        mut act: impl FnMut(&mut Self, Who),
    ) {
        slots.sort_unstable();
        let mut slots = slots.into_iter().peekable();
        let mut embryos = embryos.into_iter().peekable();
        loop {
            let who = match (slots.peek(), embryos.peek()) {
                (Some(&(frame, ts, i)), Some(&e)) => {
                    let em = self.embryos.get(e);
                    if (frame, ts) <= (em.frame, em.ts) {
                        slots.next();
                        Who::Slot(i)
                    } else {
                        embryos.next();
                        Who::Embryo(e)
                    }
                }
                (Some(&(_, _, i)), None) => {
                    slots.next();
                    Who::Slot(i)
                }
                (None, Some(&e)) => {
                    embryos.next();
                    Who::Embryo(e)
                }
                (None, None) => return,
            };
            act(self, who);
        }
    }

    /// Complete the half-open connection in embryo slot `e`: its stream is
    /// created, given the SYN and completed.
    fn complete_embryo(&mut self, e: u32, reason: EndReason) {
        if let Some(syn) = self.embryos.take_at(e) {
            let idx = self.hatch(&syn);
            self.complete(idx, reason);
        }
    }

    /// Finish a connection: deliver everything, call `complete`, free its slot.
    fn complete(&mut self, idx: usize, reason: EndReason) {
        let Some(mut conn) = self.slots[idx].take() else {
            return;
        };
        let tcp = conn.key.proto == Proto::Tcp;
        Self::each_half(
            (&mut self.cache, &mut self.scratch, &mut self.verify_mem),
            &self.cfg,
            &mut self.factory,
            &mut conn,
            |a, d, ctx, calls| {
                if tcp {
                    a.finish(d, ctx, calls);
                }
                a.release_all(ctx);
            },
        );
        // A connection completed at the end of input or when idle whose two
        // directions both reached their FIN in order (a midstream pickup decides
        // its start late) ended by FIN.
        let reason = match reason {
            EndReason::EndOfInput | EndReason::IdleTimeout
                if conn.key.proto == Proto::Tcp && conn.halves.iter().all(|h| h.fin_reached) =>
            {
                EndReason::Fin
            }
            r => r,
        };
        let [mut c2s, mut s2c] = std::mem::take(&mut conn.halves);
        let completion = Completion {
            reason,
            packets: [c2s.packets, s2c.packets],
            c2s: c2s.take_ledger(),
            s2c: s2c.take_ledger(),
            last_frame: conn.last_frame,
            last_ts: self.timing[idx].last_ts,
            idle_resumptions: conn.resumptions,
            longest_idle: conn.longest_idle,
        };
        if self.timing[idx].parked {
            self.parked -= 1;
        }
        self.timing[idx] = Timing::default();
        conn.stream.complete(&completion, &mut self.factory);
        if let Ok(e) = self
            .table
            .find_entry(self.hasher.hash_one(conn.key), |&i| i as usize == idx)
        {
            e.remove();
        }
        self.recency.remove(idx);
        self.free_slots.push(idx);
        self.stats.completed += 1;
    }

    /// The ledgers of a connection still tracked (client-to-server,
    /// server-to-client); `None` for one held as a bare SYN (whose ledgers
    /// are empty).
    pub fn ledgers(&self, key: &FlowKey) -> Option<(Ledger, Ledger)> {
        let conn = self.slots[self.slot_of(key)?].as_ref()?;
        Some((conn.halves[0].ledger(), conn.halves[1].ledger()))
    }
}

/// A connection housekeeping acts on: in a slot, or held as a bare SYN in
/// the embryo slab.
#[derive(Debug, Clone, Copy)]
enum Who {
    Slot(usize),
    Embryo(u32),
}

impl Timing {
    /// What housekeeping reads of a half-open connection held as a bare SYN
    /// that arrived at `ts`.
    fn of_embryo(ts: u64) -> Timing {
        Timing {
            last_ts: ts,
            live: true,
            tcp: true,
            waiting: true,
            ..Timing::default()
        }
    }
}

/// Whether a half holds queued bytes or waits for its start.
fn waiting(halves: &[Half; 2]) -> bool {
    halves
        .iter()
        .any(|h| h.queued_bytes() > 0 || h.start_pending())
}

fn split_halves(h: &mut [Half; 2], d: usize) -> (&mut Half, &mut Half) {
    let (a, b) = h.split_at_mut(1);
    if d == 0 {
        (&mut a[0], &mut b[0])
    } else {
        (&mut b[0], &mut a[0])
    }
}

/// How far past the next expected byte a RST's sequence number may lie.
const RST_WINDOW: i64 = 1 << 22;

/// RFC 5961 §3.2 in spirit: a RST is taken only when its sequence number lies
/// in the sender's known sequence space, within [`RST_WINDOW`] of the next
/// expected byte (we do not track receive windows). A RST from a direction whose
/// sequence space is unknown (no SYN, no data) is ignored: it cannot be told
/// apart from an injected one (Zeek's rst-inject-rae case).
fn rst_acceptable(h: &Half, seq: u32) -> bool {
    let Some(next) = h.next_seq() else {
        return h.has_space();
    };
    let d = i64::from(seq.wrapping_sub(next) as i32);
    (-1..=RST_WINDOW).contains(&d)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::SocketAddr;

    use pcapread::{EncapPath, FiveTuple};

    use super::*;

    struct Rec {
        port: u16,
    }
    impl Stream for Rec {
        type Context = Recs;
        fn accept(&mut self, seg: &Segment<'_>, _: &AcceptInfo, _: &mut Recs) -> Accept {
            if seg.payload == b"drop" {
                Accept::Drop
            } else {
                Accept::Take
            }
        }
        fn reassembled(&mut self, _: &mut ScatterGather<'_>, _: &mut Recs) {}
        fn complete(&mut self, c: &Completion, log: &mut Recs) {
            log.0.push((self.port, c.reason));
        }
    }
    /// Client ports of the flows completed, in order, with their reasons.
    #[derive(Default)]
    struct Recs(Vec<(u16, EndReason)>);
    impl StreamFactory for Recs {
        type Stream = Rec;
        fn new_stream(&mut self, info: &StreamInfo) -> Rec {
            Rec {
                port: info.client.src.port(),
            }
        }
    }

    /// A UDP datagram of flow `port` at time `ts`.
    fn udp(port: u16, ts: u64, frame: u64, payload: &[u8]) -> Segment<'_> {
        Segment {
            frame,
            ts,
            tuple: FiveTuple {
                proto: Proto::Udp,
                src: SocketAddr::from(([10, 0, 0, 1], port)),
                dst: SocketAddr::from(([10, 0, 0, 2], 53)),
            },
            transport: Transport::Udp,
            payload,
            truncated: 0,
            encap: EncapPath::new(),
            link: Default::default(),
            defragmented: false,
        }
    }

    /// Feed `(flow, ts, payload)` with a table of `max` connections; the
    /// evicted flows in order.
    fn evictions(max: usize, pkts: &[(u16, u64, &[u8])]) -> Vec<u16> {
        let cfg = AssemblerConfig {
            max_connections: max,
            ..AssemblerConfig::default()
        };
        let mut asm = Assembler::new(cfg, Recs::default());
        for (n, &(port, ts, payload)) in pkts.iter().enumerate() {
            asm.assemble(&udp(port, ts, n as u64 + 1, payload));
            assert!(asm.connections() <= max.max(1));
        }
        let evicted: Vec<u16> = asm
            .factory()
            .0
            .iter()
            .filter(|(_, r)| *r == EndReason::Evicted)
            .map(|&(p, _)| p)
            .collect();
        assert_eq!(asm.stats().evicted_connections, evicted.len() as u64);
        asm.flush_all();
        evicted
    }

    #[test]
    fn eviction_picks_the_least_recently_active() {
        let got = evictions(
            3,
            &[
                (1, 10, b"a"),
                (2, 20, b"b"),
                (3, 30, b"c"),
                (1, 40, b"a"), // 1 active again: 2 is now the oldest
                (4, 50, b"d"), // evicts 2
                (3, 60, b"c"), // order: 1, 4, 3
                (5, 70, b"e"), // evicts 1
                (6, 80, b"f"), // evicts 4
            ],
        );
        assert_eq!(got, [2, 1, 4]);
    }

    #[test]
    fn eviction_of_a_table_of_one_replaces_the_only_connection() {
        let got = evictions(0, &[(1, 1, b"a"), (1, 2, b"a"), (2, 3, b"b"), (3, 4, b"c")]);
        assert_eq!(got, [1, 2]);
    }

    #[test]
    fn eviction_follows_arrival_when_time_goes_backwards() {
        // Flow 2's packet arrives after flow 1's with an earlier timestamp:
        // flow 1 arrived first, so it goes first (arrival order, not time).
        let got = evictions(2, &[(1, 100, b"a"), (2, 50, b"b"), (3, 200, b"c")]);
        assert_eq!(got, [1]);
    }

    #[test]
    fn dropped_packets_are_not_activity() {
        // Flow 1's second packet is vetoed by its stream: it does not make
        // flow 1 recent, so flow 1 is still the oldest.
        let got = evictions(
            2,
            &[
                (1, 10, b"a"),
                (2, 20, b"b"),
                (1, 30, b"drop"),
                (3, 40, b"c"),
            ],
        );
        assert_eq!(got, [1]);
    }

    /// A TCP segment from `src` to `dst` (ports on 10.0.0.1 / 10.0.0.2).
    fn tcp(src: u16, dst: u16, ts: u64, seq: u32, flags: u8, payload: &[u8]) -> Segment<'_> {
        let ip = |port: u16| {
            let host = if port == 80 { 2 } else { 1 };
            SocketAddr::from(([10, 0, 0, host], port))
        };
        Segment {
            frame: ts + 1,
            ts,
            tuple: FiveTuple {
                proto: Proto::Tcp,
                src: ip(src),
                dst: ip(dst),
            },
            transport: Transport::Tcp(pcapread::TcpInfo {
                seq,
                ack: 0,
                flags: pcapread::TcpFlags(flags),
                window: 0,
                urgent: 0,
                options: pcapread::TcpOptions::default(),
            }),
            payload,
            truncated: 0,
            encap: EncapPath::new(),
            link: Default::default(),
            defragmented: false,
        }
    }

    #[test]
    fn housekeeping_follows_each_slot_through_reuse() {
        use pcapread::TcpFlags as F;
        let cfg = AssemblerConfig {
            tcp_idle_timeout: 1000,
            close_linger: 100,
            // Idle connections complete at the timeout (no parking): this
            // test follows slots through completion and reuse.
            resume_window: 0,
            ..AssemblerConfig::default()
        };
        let mut asm = Assembler::new(cfg, Recs::default());
        let log = |asm: &Assembler<Recs>| asm.factory().0.clone();
        let delivered = |asm: &Assembler<Recs>, port: u16| {
            let key = tcp(port, 80, 0, 0, 0, b"").tuple.canonical().0;
            asm.ledgers(&key)
                .map(|(c2s, _)| (c2s.delivered, c2s.missing))
        };
        // Flow 1 waits behind a hole, then goes idle: completed, its slot freed.
        asm.assemble(&tcp(1, 80, 0, 100, F::SYN, b""));
        asm.assemble(&tcp(1, 80, 1, 106, F::ACK, b"world"));
        assert_eq!(delivered(&asm, 1), Some((0, 0)));
        asm.close_older_than(5);
        assert_eq!(log(&asm), [(1, EndReason::IdleTimeout)]);
        // Flow 2 takes the freed slot and waits behind a hole too: the flush
        // must find it there.
        asm.assemble(&tcp(2, 80, 10, 500, F::SYN, b""));
        asm.assemble(&tcp(2, 80, 11, 506, F::ACK, b"later"));
        asm.flush_older_than(11);
        assert_eq!(delivered(&asm, 2), Some((0, 0)), "queued at 11, not before");
        asm.flush_older_than(12);
        assert_eq!(delivered(&asm, 2), Some((5, 5)));
        // Flow 3 ends by FIN both ways at 23 and lingers for 100.
        asm.assemble(&tcp(3, 80, 20, 1000, F::SYN, b""));
        asm.assemble(&tcp(80, 3, 21, 9000, F::SYN | F::ACK, b""));
        asm.assemble(&tcp(3, 80, 22, 1001, F::ACK | F::FIN, b"ab"));
        asm.assemble(&tcp(80, 3, 23, 9001, F::ACK | F::FIN, b""));
        asm.expire(123);
        assert_eq!(log(&asm).len(), 1, "still lingering at 123");
        asm.expire(124);
        assert_eq!(log(&asm)[1], (3, EndReason::Fin));
        // Flow 2 is idle since 11: gone once 1000 more have passed.
        asm.expire(1011);
        assert_eq!(log(&asm).len(), 2);
        asm.expire(1012);
        assert_eq!(log(&asm)[2], (2, EndReason::IdleTimeout));
        assert_eq!(asm.connections(), 0);
    }

    #[test]
    fn oldest_open_frame_follows_creation_and_completion() {
        use pcapread::TcpFlags as F;
        let mut asm = Assembler::new(AssemblerConfig::default(), Recs::default());
        assert_eq!(asm.oldest_open_frame(), None);
        asm.assemble(&udp(1, 0, 1, b"a"));
        asm.assemble(&udp(2, 10, 2, b"b"));
        // A later packet of an older flow changes nothing.
        asm.assemble(&udp(2, 21, 3, b"c"));
        // A bare SYN is held as a half-open connection: frame 23.
        asm.assemble(&tcp(5, 80, 22, 100, F::SYN, b""));
        assert_eq!(asm.half_open(), 1);
        assert_eq!(asm.oldest_open_frame(), Some(1));
        asm.close_older_than(5);
        assert_eq!(asm.factory().0, [(1, EndReason::IdleTimeout)]);
        assert_eq!(asm.oldest_open_frame(), Some(2));
        // A new flow takes flow 1's slot: it is still the newest.
        asm.assemble(&udp(3, 23, 24, b"d"));
        asm.close_older_than(22);
        assert_eq!(asm.factory().0.len(), 2, "flow 2, last seen at 21");
        assert_eq!(asm.oldest_open_frame(), Some(23), "the half-open one");
        asm.close_older_than(24);
        assert_eq!(asm.oldest_open_frame(), None);
    }

    #[test]
    fn slots_are_reused_and_stay_in_order() {
        // Completed (evicted) slots are reused by new flows, which join the
        // order as the most recent.
        let pkts: Vec<(u16, u64, &[u8])> = (0..50u16)
            .map(|i| (i + 1, u64::from(i) * 10, b"x".as_slice()))
            .collect();
        let got = evictions(4, &pkts);
        assert_eq!(got, (1..=46).collect::<Vec<u16>>());
    }

    /// Bytes per tracked connection (issue #18): the connection without its
    /// stream (two direction states, key, first time, counters) is at most
    /// 456 bytes; it was 1016 with the whole `StreamInfo` and the direction
    /// states' rarely used parts inline. Its first frame is in the dense
    /// housekeeping record, at most 32 bytes.
    #[test]
    fn connection_state_stays_small() {
        let size = std::mem::size_of::<Conn<()>>();
        assert!(size <= 456, "Conn is {size} bytes, budget 456");
        let size = std::mem::size_of::<Timing>();
        assert!(size <= 32, "Timing is {size} bytes, budget 32");
    }

    /// The table finding a connection by its key costs a few bytes per
    /// connection (a slot number and a control byte, at most half empty):
    /// the key is kept once, in the connection. (An `IndexMap` from key to
    /// slot cost about 100 to 190 bytes.)
    #[test]
    fn connection_table_costs_a_few_bytes_per_connection() {
        let mut asm = Assembler::new(AssemblerConfig::default(), Recs::default());
        let n = 20_000u64;
        for i in 0..n {
            let port = 1000 + (i % 60_000) as u16;
            let mut seg = udp(port, i, i + 1, b"x");
            seg.tuple.src = SocketAddr::from(([10, 1, (i >> 16) as u8, (i >> 8) as u8], port));
            asm.assemble(&seg);
        }
        assert_eq!(asm.connections() as u64, n);
        let per_conn = asm.table.allocation_size() as u64 / n;
        assert!(per_conn <= 16, "{per_conn} table bytes per connection");
        // Every connection is still found by its key.
        for i in [0, n / 2, n - 1] {
            let port = 1000 + (i % 60_000) as u16;
            let mut seg = udp(port, i, i + 1, b"x");
            seg.tuple.src = SocketAddr::from(([10, 1, (i >> 16) as u8, (i >> 8) as u8], port));
            assert!(asm.slot_of(&seg.tuple.canonical().0).is_some());
        }
        asm.flush_all();
        assert_eq!(asm.factory().0.len() as u64, n);
        assert!(asm.table.is_empty());
    }

    /// A connection that only delivers in order keeps no out-of-line part;
    /// the first retransmission allocates it and the ledger counts it.
    #[test]
    fn in_order_directions_keep_nothing_out_of_line() {
        use pcapread::TcpFlags as F;
        let mut asm = Assembler::new(AssemblerConfig::default(), Recs::default());
        asm.assemble(&tcp(1, 80, 0, 100, F::SYN, b""));
        asm.assemble(&tcp(80, 1, 1, 500, F::SYN | F::ACK, b""));
        asm.assemble(&tcp(1, 80, 2, 101, F::ACK, b"hello"));
        asm.assemble(&tcp(80, 1, 3, 501, F::ACK, b"world!"));
        asm.assemble(&tcp(1, 80, 4, 106, F::ACK, b" there"));
        let key = tcp(1, 80, 0, 0, 0, b"").tuple.canonical().0;
        let idx = asm.slot_of(&key).unwrap();
        let conn = asm.slots[idx].as_ref().unwrap();
        assert!(conn.halves.iter().all(|h| !h.has_cold()));
        let (c2s, s2c) = asm.ledgers(&key).unwrap();
        assert_eq!((c2s.captured, c2s.delivered, s2c.delivered), (11, 11, 6));
        // A retransmission of delivered bytes: counted in the out-of-line part.
        asm.assemble(&tcp(1, 80, 5, 101, F::ACK, b"hello"));
        let conn = asm.slots[idx].as_ref().unwrap();
        assert!(conn.halves[Dir::ClientToServer.index()].has_cold());
        assert!(!conn.halves[Dir::ServerToClient.index()].has_cold());
        let (c2s, _) = asm.ledgers(&key).unwrap();
        assert_eq!((c2s.captured, c2s.duplicate), (16, 5));
        assert!(c2s.balanced());
        asm.flush_all();
    }
}
