//! Assembler options.

use std::net::IpAddr;

use crate::policy::OverlapPolicy;
use crate::policy_map::PolicyMap;

/// Options of an [`Assembler`](crate::Assembler). All times are packet times in
/// nanoseconds; the assembler never reads the clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssemblerConfig {
    /// Which copy wins when overlapping bytes differ, for receivers that no
    /// rule of `policy_map` covers.
    pub overlap_policy: OverlapPolicy,
    /// Overlap policies by receiving host (longest prefix match); each
    /// direction of a connection takes its receiver's policy when the
    /// connection is created.
    pub policy_map: PolicyMap,
    /// Bytes per page of the out-of-order page cache.
    pub page_size: usize,
    /// Pages one connection may hold (both directions); at the cap the oldest hole
    /// is skipped and the data after it delivered.
    pub max_pages_per_conn: usize,
    /// Pages the whole assembler may hold.
    pub max_pages_total: usize,
    /// Connections tracked at once (half-open ones included); past it a
    /// connection is flushed and completed with
    /// [`EndReason::Evicted`](crate::EndReason::Evicted): the oldest one that
    /// has only sent a bare SYN when `compact_half_open` holds any (a SYN
    /// flood goes before connections carrying data), else the least recently
    /// active one (whose last accepted packet came earliest in the input).
    /// At most `u32::MAX - 1`; larger values act as that.
    pub max_connections: usize,
    /// Keep a connection whose only packet is a bare SYN (no ACK, FIN, RST,
    /// URG or payload) as an 80-byte record until its second packet, its
    /// idle timeout or the end of input, instead of a full connection and
    /// stream (about 1.6 KiB with the engine's stream). Its stream is then
    /// created and given the SYN: callbacks and results are those of a
    /// connection created at the SYN, its first callback only comes later.
    /// Default on; see [`Assembler::connections`](crate::Assembler::connections).
    pub compact_half_open: bool,
    /// A TCP direction seen without its SYN waits for this many data segments
    /// before deciding where its stream starts (the lowest sequence number seen),
    /// so an earlier segment arriving a few packets late is not lost.
    pub midstream_window: u32,
    /// Data further than this many bytes beyond the next expected byte is counted
    /// as out of window instead of buffered.
    pub max_window: u64,
    /// How long a TCP connection may be idle before
    /// [`Assembler::expire`](crate::Assembler::expire) parks it (see
    /// `resume_window`): everything it holds is delivered past any holes and
    /// its pages are released, but it keeps its stream, so a connection that
    /// carries on where it stopped stays one flow.
    pub tcp_idle_timeout: u64,
    /// How long a parked TCP connection (one idle for `tcp_idle_timeout`)
    /// waits, beyond that timeout, for a packet that continues it before it
    /// completes with [`EndReason::IdleTimeout`](crate::EndReason::IdleTimeout).
    /// A packet continues it when it is not a SYN and its sequence number is
    /// the next one its direction expects, one before it (a keep-alive) or up
    /// to 4 MiB past it (bytes the capture lost; at most `max_window`), or when it acknowledges exactly the peer's
    /// next sequence number; any other packet on the same addresses and ports
    /// completes the parked connection and starts a new flow.
    ///
    /// Default 2 hours: TCP keep-alives are sent after 2 hours of silence by
    /// default (Linux `tcp_keepalive_time`, Windows `KeepAliveTime`), so an
    /// otherwise quiet connection kept open by them still comes back within
    /// `tcp_idle_timeout + resume_window` (2 h 5 min); application-level
    /// idle limits (Kafka's 10 minutes, XMPP and TLS session pings) are far
    /// shorter. 0 turns parking off: idle connections complete at
    /// `tcp_idle_timeout`.
    pub resume_window: u64,
    /// Parked connections kept at once; past it the one parked longest ago
    /// (earliest last packet) completes first. A parked connection holds no
    /// pages and no verify window (bytes its stream asked to keep stay): it
    /// costs what any idle connection costs — its table entry and two
    /// direction states, about 1 KiB (each listed gap adds 16 bytes, up to
    /// `max_gaps_listed` per direction), plus its [`Stream`](crate::Stream)
    /// (the engine's sink streams: about 0.5 KiB). Parked connections also
    /// count in `max_connections`. Default 65536: at most about 64 MiB of
    /// assembler memory (plus the streams) per assembler for parked
    /// connections. 0 turns parking off.
    pub max_parked: usize,
    /// How long a UDP flow may be idle.
    pub udp_idle_timeout: u64,
    /// How long a connection closed by FIN or RST is remembered, so late
    /// packets are not taken for a new flow.
    ///
    /// A connection that closed cleanly (both FINs delivered in order and
    /// acknowledged) completes at once and is remembered by a tombstone of
    /// about 40 bytes: packets for it within this time are counted in
    /// [`AssemblerStats::late_packets`](crate::AssemblerStats::late_packets)
    /// (part of no flow; a SYN with a new ISN starts a new connection). Any
    /// other ended connection (a RST, which later traffic may withdraw; a FIN
    /// not acknowledged) keeps its full state for this time and late
    /// packets count in its ledger. Tombstones are held up to
    /// `max_connections`.
    pub close_linger: u64,
    /// Gaps listed per direction in the ledger (all are counted in `missing`).
    pub max_gaps_listed: usize,
    /// Delivered bytes each TCP direction keeps to compare retransmissions
    /// with (0, the default: none).
    ///
    /// In-order bytes are delivered straight from the packet and not
    /// retained, so without this a retransmission of bytes already delivered
    /// is counted as `duplicate` without comparing it. With it, each direction
    /// keeps a copy of its last `verify_window` delivered bytes and the frame
    /// each came from: a retransmission that differs from them is a
    /// [`Conflict`](crate::Conflict) with reason
    /// [`Delivered`](crate::ConflictReason::Delivered), counted in
    /// `overlap_lost` (the delivered version stays; it cannot change).
    /// Retransmitted bytes older than the window, or of bytes that were
    /// skipped (never delivered), are still counted as duplicates unchecked.
    ///
    /// Memory: up to about `1.25 * verify_window` bytes per direction (the
    /// copy, allocated at a direction's first delivery and grown as it
    /// delivers, plus one 16-byte frame record per 64 bytes of window), so
    /// about `2.5 * verify_window` per connection, released when the
    /// connection completes; see
    /// [`AssemblerStats::verify_bytes_high_water`](crate::AssemblerStats::verify_bytes_high_water).
    /// When a direction delivers more than `verify_window / 64` packets within
    /// the window (tiny segments), only the newest that many are compared.
    pub verify_window: usize,
}

impl Default for AssemblerConfig {
    fn default() -> Self {
        AssemblerConfig {
            overlap_policy: OverlapPolicy::First,
            policy_map: PolicyMap::new(),
            page_size: 2048,
            max_pages_per_conn: 1024,
            max_pages_total: 16 * 1024,
            max_connections: 1 << 20,
            compact_half_open: true,
            midstream_window: 8,
            max_window: 1 << 30,
            tcp_idle_timeout: 300 * 1_000_000_000,
            resume_window: 2 * 3600 * 1_000_000_000,
            max_parked: 1 << 16,
            udp_idle_timeout: 60 * 1_000_000_000,
            close_linger: 30 * 1_000_000_000,
            max_gaps_listed: 1024,
            verify_window: 0,
        }
    }
}

impl AssemblerConfig {
    /// The overlap policy of a receiving host: its `policy_map` rule, else the default.
    pub fn policy_for(&self, receiver: IpAddr) -> OverlapPolicy {
        self.policy_map
            .lookup(receiver)
            .unwrap_or(self.overlap_policy)
    }
}
