//! Where reassembled flows go: the push-model [`Sink`] trait the engine calls,
//! and two simple sinks ([`NullSink`], [`Collector`]).
//!
//! Calls for one flow come in this order: [`Sink::open`] once, then
//! [`Sink::write`] / [`Sink::delivery`] for each delivery and
//! [`Sink::end_dir`] when a direction ends ([`Sink::idle`] when the flow
//! goes quiet for the idle timeout; writes may follow it), then
//! [`Sink::close`] once with the final record. Calls for different flows interleave in packet order (by the
//! frame that caused them, then flow id: the same for any number of worker
//! threads). An error from any call stops the run and is returned by
//! [`run_sink`](crate::run_sink).
//!
//! A sink whose output for one flow depends on that flow alone (one file per
//! flow direction, say) can [`Sink::split`] itself into one part per worker
//! of the parallel engine. Each part then sees only its worker's flows, with
//! no global order between parts, on the worker's own thread; this takes the
//! sink off the reading thread, which is what lets extraction scale with
//! threads.

use std::collections::BTreeMap;

use reassembly::{Conflict, Dir, ScatterGather};

use crate::flow::{FlowHead, FlowId, FlowRecord, Placement};

/// A consumer of reassembled flows.
pub trait Sink {
    /// Whether this sink needs [`Sink::delivery`] calls (with the live
    /// [`ScatterGather`]). Such a sink, unless it [splits](Sink::split), runs
    /// on one worker on the calling thread: calls replayed from several
    /// workers carry no deliveries. (A Stream-level run,
    /// [`run_streams`](crate::run_streams), gets every delivery on every worker.)
    fn wants_deliveries(&self) -> bool {
        false
    }

    /// Split into `parts` sinks, one per parallel worker, when the output of
    /// each flow depends on that flow's calls alone; `None` (the default)
    /// when the sink needs all calls in one global order. Each part receives
    /// every call for the flows of its worker and then [`Sink::finish`].
    fn split(&mut self, _parts: usize) -> Option<Vec<Box<dyn Sink + Send>>> {
        None
    }

    /// No more calls will come: flush what is buffered (called by the
    /// engine on the parts of a split sink; the owner of a sink calls it on
    /// the sink itself).
    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    /// A new flow, before any other call for it. Flows are opened at their
    /// first packet, so in flow id order, except one whose first packet is
    /// a bare SYN: the engine holds it as a compact half-open connection
    /// ([`AssemblerConfig::compact_half_open`](reassembly::AssemblerConfig::compact_half_open))
    /// and opens it at its second packet, or when it ends if it has none
    /// (a SYN scan then costs no sink state per probe).
    fn open(&mut self, _head: &FlowHead) -> anyhow::Result<()> {
        Ok(())
    }

    /// The next bytes of one direction, in stream order: exactly what that
    /// direction's output receives (zero fill for `--gaps zero` included).
    fn write(&mut self, head: &FlowHead, dir: Dir, bytes: &[u8]) -> anyhow::Result<()>;

    /// One delivery with its capture facts (for transcripts), after its
    /// bytes were passed to [`Sink::write`]. `gap` is the number of bytes
    /// missing right before it.
    fn delivery(
        &mut self,
        _head: &FlowHead,
        _dir: Dir,
        _gap: u64,
        _sg: &ScatterGather<'_>,
    ) -> anyhow::Result<()> {
        Ok(())
    }

    /// UDP flows: the bytes just passed to [`Sink::write`] ended with one
    /// whole datagram of `len` bytes, carried by frame `frame` (zero fill
    /// for a truncated datagram comes before the next one, in its own
    /// writes). Lets a sink record message boundaries; replayed like writes.
    fn datagram(
        &mut self,
        _head: &FlowHead,
        _dir: Dir,
        _frame: u64,
        _len: u64,
    ) -> anyhow::Result<()> {
        Ok(())
    }

    /// Retransmitted bytes differed from the bytes held for the same offsets
    /// (see [`reassembly::Conflict`]); called before the winning bytes are written.
    fn conflict(&mut self, _head: &FlowHead, _conflict: &Conflict) -> anyhow::Result<()> {
        Ok(())
    }

    /// The flow went quiet for the idle timeout: it may carry on later
    /// (more [`Sink::write`] calls for the same directions, continuing
    /// them) or close. A good moment to release what it holds (open files,
    /// buffered bytes).
    fn idle(&mut self, _head: &FlowHead) -> anyhow::Result<()> {
        Ok(())
    }

    /// A direction ended: no more bytes will come for it.
    fn end_dir(&mut self, _head: &FlowHead, _dir: Dir) -> anyhow::Result<()> {
        Ok(())
    }

    /// The flow completed; its record is final.
    fn close(&mut self, _record: &FlowRecord) -> anyhow::Result<()> {
        Ok(())
    }

    /// The input position of the calls that follow, for a sink that gets
    /// every call replayed in one global order (one that neither splits nor
    /// wants deliveries): an increasing key of that order, a function of
    /// the input alone: `2 × frame` for housekeeping just before frame
    /// `frame`, `2 × frame + 1` for the packet of that frame, `u64::MAX` for
    /// the end of input. Calls at the same position come in flow id order.
    /// Other sinks are not told. Lets the output of a `--shard` run be
    /// interleaved with the others' into the order one run over everything
    /// would have written.
    fn position(&mut self, _pos: u64) {}

    /// Where the flow `id`, just closed, was put, handed over to be kept
    /// with its record ([`FlowRecord::placed`]) and forgotten here; `None`
    /// when the sink does not keep placements.
    fn take_placement(&mut self, _id: FlowId) -> Option<Box<[Placement; 2]>> {
        None
    }
}

/// A sink behind a pointer is a sink: every call goes to the pointee.
macro_rules! forward_sink {
    ($($ptr:ty),*) => {$(
        impl<S: Sink + ?Sized> Sink for $ptr {
    fn wants_deliveries(&self) -> bool {
        (**self).wants_deliveries()
    }
    fn split(&mut self, parts: usize) -> Option<Vec<Box<dyn Sink + Send>>> {
        (**self).split(parts)
    }
    fn finish(&mut self) -> anyhow::Result<()> {
        (**self).finish()
    }
    fn open(&mut self, head: &FlowHead) -> anyhow::Result<()> {
        (**self).open(head)
    }
    fn write(&mut self, head: &FlowHead, dir: Dir, bytes: &[u8]) -> anyhow::Result<()> {
        (**self).write(head, dir, bytes)
    }
    fn delivery(
        &mut self,
        head: &FlowHead,
        dir: Dir,
        gap: u64,
        sg: &ScatterGather<'_>,
    ) -> anyhow::Result<()> {
        (**self).delivery(head, dir, gap, sg)
    }
    fn datagram(&mut self, head: &FlowHead, dir: Dir, frame: u64, len: u64) -> anyhow::Result<()> {
        (**self).datagram(head, dir, frame, len)
    }
    fn conflict(&mut self, head: &FlowHead, conflict: &Conflict) -> anyhow::Result<()> {
        (**self).conflict(head, conflict)
    }
    fn end_dir(&mut self, head: &FlowHead, dir: Dir) -> anyhow::Result<()> {
        (**self).end_dir(head, dir)
    }
    fn idle(&mut self, head: &FlowHead) -> anyhow::Result<()> {
        (**self).idle(head)
    }
    fn close(&mut self, record: &FlowRecord) -> anyhow::Result<()> {
        (**self).close(record)
    }
    fn position(&mut self, pos: u64) {
        (**self).position(pos)
    }

    fn take_placement(&mut self, id: FlowId) -> Option<Box<[Placement; 2]>> {
        (**self).take_placement(id)
    }
        }
    )*};
}

// Parts of a split sink are boxed; a sink lent to a run is borrowed.
forward_sink!(Box<S>, &mut S);

/// A sink that keeps nothing (`streamcut flows` and `stats`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl Sink for NullSink {
    fn split(&mut self, parts: usize) -> Option<Vec<Box<dyn Sink + Send>>> {
        Some((0..parts).map(|_| Box::new(NullSink) as _).collect())
    }

    fn write(&mut self, _head: &FlowHead, _dir: Dir, _bytes: &[u8]) -> anyhow::Result<()> {
        Ok(())
    }
}

/// One flow's bytes as collected in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectedFlow {
    /// Client-to-server bytes.
    pub c2s: Vec<u8>,
    /// Server-to-client bytes.
    pub s2c: Vec<u8>,
    /// Whether each direction's end was signalled (client-to-server, server-to-client).
    pub ended: [bool; 2],
}

impl CollectedFlow {
    /// The bytes of one direction.
    pub fn bytes(&self, dir: Dir) -> &[u8] {
        match dir {
            Dir::ClientToServer => &self.c2s,
            Dir::ServerToClient => &self.s2c,
        }
    }
}

/// Keeps every flow's bytes in memory, by flow id (for tests and small captures).
#[derive(Debug, Clone, Default)]
pub struct Collector {
    /// Bytes per flow.
    pub flows: BTreeMap<FlowId, CollectedFlow>,
}

impl Sink for Collector {
    fn open(&mut self, head: &FlowHead) -> anyhow::Result<()> {
        self.flows.entry(head.id).or_default();
        Ok(())
    }

    fn write(&mut self, head: &FlowHead, dir: Dir, bytes: &[u8]) -> anyhow::Result<()> {
        let f = self.flows.entry(head.id).or_default();
        match dir {
            Dir::ClientToServer => f.c2s.extend_from_slice(bytes),
            Dir::ServerToClient => f.s2c.extend_from_slice(bytes),
        }
        Ok(())
    }

    fn end_dir(&mut self, head: &FlowHead, dir: Dir) -> anyhow::Result<()> {
        let f = self.flows.entry(head.id).or_default();
        f.ended[usize::from(dir == Dir::ServerToClient)] = true;
        Ok(())
    }
}
