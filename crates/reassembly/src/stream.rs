//! The user side: [`StreamFactory`] creates one [`Stream`] per connection, and the
//! assembler calls it through the connection's life.
//!
//! # Context
//! Every callback gets, besides the stream itself, a context `ctx`: the
//! context of every callback is the [`StreamFactory`] that made the stream
//! (`Stream::Context` is the factory type, see [`StreamFactory::Stream`]).
//! There is one factory per [`Assembler`](crate::Assembler), so one per worker
//! when workers run an assembler each: results, counters and output handles
//! shared by a worker's streams live in the factory, reached without
//! `Rc<RefCell<…>>`, and the user takes them back with
//! [`Assembler::factory`](crate::Assembler::factory),
//! [`Assembler::factory_mut`](crate::Assembler::factory_mut) or
//! [`Assembler::into_factory`](crate::Assembler::into_factory).
//!
//! # Lifecycle
//! 1. [`StreamFactory::new_stream`] on the connection's first packet.
//! 2. [`Stream::accept`] for every packet of the connection (either direction);
//!    it may veto the packet, or force a stream that was picked up without its
//!    handshake to start at this packet.
//! 3. [`Stream::reassembled`] zero or more times per direction, in stream order,
//!    with the next in-order bytes (a call may be empty only when it marks the
//!    end of its direction).
//!    [`Stream::conflict`] whenever a segment's bytes differ from bytes held for
//!    the same offsets (before the bytes of that segment are delivered).
//!    [`Stream::parked`] when a TCP connection goes quiet for the idle
//!    timeout; if it later carries on where it stopped, steps 2 and 3 simply
//!    go on (see [`AssemblerConfig::resume_window`](crate::AssemblerConfig::resume_window)).
//! 4. [`Stream::complete`] exactly once, with the reason and both ledgers. No
//!    call follows it: whatever the stream wants to keep must be handed to the
//!    context by then.
//!
//! Steps 2 to 4 each get the factory as `ctx`.

use pcapread::{FiveTuple, FlowKey, Proto, Segment};

use crate::conflict::Conflict;
use crate::ledger::Ledger;
use crate::policy::OverlapPolicy;
use crate::scatter::ScatterGather;

/// Direction of data within a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    /// From the client (the side that sent the SYN, or with no SYN seen, the
    /// first packet) to the server.
    ClientToServer,
    /// From the server to the client.
    ServerToClient,
}

impl Dir {
    /// The opposite direction.
    pub fn reverse(self) -> Dir {
        match self {
            Dir::ClientToServer => Dir::ServerToClient,
            Dir::ServerToClient => Dir::ClientToServer,
        }
    }

    /// `"c2s"` or `"s2c"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dir::ClientToServer => "c2s",
            Dir::ServerToClient => "s2c",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Dir::ClientToServer => 0,
            Dir::ServerToClient => 1,
        }
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum EndReason {
    /// Both directions sent FIN and all data up to it arrived.
    Fin,
    /// A RST was accepted.
    Rst,
    /// No packet for longer than the idle timeout.
    IdleTimeout,
    /// The input ended ([`Assembler::flush_all`](crate::Assembler::flush_all)).
    EndOfInput,
    /// The connection table was full and this connection was the least recently active.
    Evicted,
    /// A new connection reused the same addresses and ports: a SYN with a
    /// new ISN after this connection ended, a pure SYN with a new ISN once
    /// data flowed, or a SYN-ACK whose ACK acknowledges nothing this
    /// connection's client sent. (A SYN-ACK whose ACK fits this connection is
    /// one of its own, chosen or ignored by ACK evidence:
    /// [`Ledger::ignored_syns`](crate::Ledger::ignored_syns).)
    Reused,
}

impl EndReason {
    /// Stable lowercase name (`"fin"`, `"rst"`, `"idle-timeout"`, `"end-of-input"`,
    /// `"evicted"`, `"reused"`).
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Fin => "fin",
            EndReason::Rst => "rst",
            EndReason::IdleTimeout => "idle-timeout",
            EndReason::EndOfInput => "end-of-input",
            EndReason::Evicted => "evicted",
            EndReason::Reused => "reused",
        }
    }
}

/// What the factory learns about a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamInfo {
    /// Canonical key of the connection.
    pub key: FlowKey,
    /// Transport protocol.
    pub proto: Proto,
    /// Client to server five-tuple.
    pub client: FiveTuple,
    /// Frame number of the first packet.
    pub first_frame: u64,
    /// Timestamp of the first packet (ns).
    pub first_ts: u64,
    /// Whether the first packet was a SYN (without ACK): the handshake was seen from its start.
    pub syn_seen: bool,
    /// Overlap policy of each direction (client-to-server, server-to-client):
    /// that of its receiving host (see [`PolicyMap`](crate::PolicyMap)).
    pub policies: [OverlapPolicy; 2],
}

impl StreamInfo {
    /// The overlap policy of one direction (its receiver's).
    pub fn policy(&self, dir: Dir) -> OverlapPolicy {
        self.policies[dir.index()]
    }
}

/// Packet-level facts offered to [`Stream::accept`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptInfo {
    /// Direction of the packet.
    pub dir: Dir,
    /// Whether this direction's start is still undecided (no handshake seen and
    /// the midstream window not yet over).
    pub start_pending: bool,
}

/// What [`Stream::accept`] decides for a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// Process the packet.
    Take,
    /// Ignore the packet entirely (not counted in the ledger).
    Drop,
    /// Process the packet, and if its direction's start is still undecided,
    /// start the stream at this packet now.
    TakeAndStart,
}

/// Final facts handed to [`Stream::complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Why the connection ended.
    pub reason: EndReason,
    /// Ledger of the client-to-server direction.
    pub c2s: Ledger,
    /// Ledger of the server-to-client direction.
    pub s2c: Ledger,
    /// Packets per direction (client-to-server, server-to-client).
    pub packets: [u64; 2],
    /// Frame number and timestamp of the last packet.
    pub last_frame: u64,
    /// Timestamp of the last packet (ns).
    pub last_ts: u64,
    /// Times the connection went quiet past the idle timeout, was parked and
    /// then carried on (see [`AssemblerConfig::resume_window`](crate::AssemblerConfig::resume_window)).
    pub idle_resumptions: u32,
    /// The longest of those quiet periods (ns of packet time between the last
    /// packet before it and the packet that resumed the connection); 0 when
    /// it never resumed.
    pub longest_idle: u64,
}

impl Completion {
    /// The ledger of one direction.
    pub fn ledger(&self, dir: Dir) -> &Ledger {
        match dir {
            Dir::ClientToServer => &self.c2s,
            Dir::ServerToClient => &self.s2c,
        }
    }
}

/// One connection's consumer.
///
/// The context of every callback is the [`StreamFactory`] that made the
/// stream: `ctx` is the assembler's factory, borrowed mutably for the call, so
/// a stream hands its results to it directly (see the [module docs](self)).
pub trait Stream {
    /// The type of `ctx` in every callback: the [`StreamFactory`] that makes
    /// this stream (its `Stream` type names this one with `Context = Self`).
    type Context;

    /// Called for every packet before it is processed. The default takes it.
    fn accept(
        &mut self,
        _segment: &Segment<'_>,
        _info: &AcceptInfo,
        _ctx: &mut Self::Context,
    ) -> Accept {
        Accept::Take
    }

    /// The next in-order bytes of one direction.
    fn reassembled(&mut self, sg: &mut ScatterGather<'_>, ctx: &mut Self::Context);

    /// A segment's bytes differ from the bytes held for the same offsets; the
    /// conflict says which version the stream keeps. Called before the bytes
    /// of that segment are delivered. The default ignores it.
    fn conflict(&mut self, _conflict: &Conflict, _ctx: &mut Self::Context) {}

    /// The connection went quiet for the idle timeout and is parked: every
    /// byte it held was delivered (past any holes), its pages are released,
    /// and it waits for a packet that continues it (then `reassembled`
    /// carries on where it stopped, one continuous stream) or for its
    /// completion. A good moment to release what the stream holds for output
    /// (open files, buffers). The default does nothing.
    fn parked(&mut self, _ctx: &mut Self::Context) {}

    /// The connection ended; called exactly once, last.
    fn complete(&mut self, completion: &Completion, ctx: &mut Self::Context);
}

/// Creates a [`Stream`] for each new connection, and is the context of
/// every callback of the streams it made.
pub trait StreamFactory: Sized {
    /// The stream type. Its callbacks get this factory as their context.
    type Stream: Stream<Context = Self>;

    /// A new connection was seen.
    fn new_stream(&mut self, info: &StreamInfo) -> Self::Stream;
}
