//! The streams behind a sink run: a [`StreamFactory`] whose streams count,
//! hash and zero-fill what they receive, push the bytes into an [`Out`] (a
//! [`Sink`], or a worker's event log that the reading thread replays), and
//! keep each completed flow's [`FlowRecord`].
//!
//! The factory is the context of every stream callback, so a worker's streams
//! share its output, first error and records without `Rc<RefCell<…>>`.

use pcapread::{Proto, Segment, Transport};
use reassembly::{
    Accept, AcceptInfo, Assembler, AssemblerStats, Completion, Conflict, Dir, ScatterGather,
    Stream, StreamFactory, StreamInfo,
};
use sha2::{Digest, Sha256};

use crate::batch::Batch;
use crate::housekeeping::Housekeeping;
use crate::run::{Lane, END_POS};

use crate::flow::{DirRecord, FlowHead, FlowRecord};
use crate::options::{EngineOptions, GapMode};
use crate::shared_encap::SharedEncaps;
use crate::sink::Sink;
use crate::spill::RecordStore;

/// What a worker's streams write into: a sink, told where in the input each
/// call comes from ([`Out::at`]) and emptied after every batch
/// ([`Out::harvest`]).
pub(crate) trait Out: Sink {
    /// What [`Out::harvest`] hands back.
    type Harvest: Send;

    /// The calls that follow come from input position `pos`.
    fn at(&mut self, _pos: u64) {}

    /// What the batch's calls left for the reading thread.
    fn harvest(&mut self) -> Self::Harvest;

    /// The batch about to be run keeps its copied frames in `arena`.
    fn batch_arena(&mut self, _arena: &[u8]) {}

    /// End of input for a part of a split sink: finish it.
    fn finish_part(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A part of a split sink: each worker writes its own flows.
impl Out for Box<dyn Sink + Send> {
    type Harvest = ();
    fn harvest(&mut self) {}
    fn finish_part(&mut self) -> anyhow::Result<()> {
        self.finish()
    }
}

/// The whole sink, on the calling thread (one worker; its owner finishes it).
impl Out for &mut dyn Sink {
    type Harvest = ();
    fn harvest(&mut self) {}
}

/// A worker of a sink run: the sink streams in an assembler.
pub(crate) struct SinkLane<O: Out> {
    pub(crate) asm: Assembler<SinkStreams<O>>,
    housekeeping: Housekeeping,
    /// Set when the worker hands out its records during the run.
    early: Option<Early>,
}

/// Fewest completions between two looks for the floor (see
/// [`Early::rescan_at`]).
const RESCAN_MIN: usize = 64;

/// A worker handing out the records of its completed flows as the run goes
/// ([`Lane::floor`], [`Lane::release`]) rather than keeping them to the end.
#[derive(Default)]
struct Early {
    /// The floor as last computed.
    floor: u64,
    /// Flows completed at which the floor is computed again: it costs a
    /// pass over the connections, so it waits for an eighth of their number
    /// of completions (at least [`RESCAN_MIN`]).
    rescan_at: u64,
    /// One past the last frame of the batches run so far (`u64::MAX` at
    /// the end of input): no flow of this worker below it is yet to come.
    next_frame: u64,
    /// What the next harvest hands out.
    released: Released,
}

/// What a worker hands out with a harvest: the records below `below` that
/// it kept (none when its records are kept elsewhere, by the replay), and
/// `below` (0: none released).
#[derive(Default)]
pub(crate) struct Released {
    pub(crate) records: Vec<FlowRecord>,
    pub(crate) below: u64,
}

impl<O: Out> SinkLane<O> {
    /// A worker writing into `out`, keeping records in `records`.
    pub(crate) fn new(out: O, opts: &EngineOptions, records: RecordStore) -> SinkLane<O> {
        SinkLane {
            asm: Assembler::new(opts.assembler.clone(), SinkStreams::new(out, opts, records)),
            housekeeping: opts.housekeeping,
            early: None,
        }
    }

    /// Hand out the records of completed flows with the harvests, in id
    /// order over the workers, as soon as no worker can still complete a
    /// flow with a lower id (see [`Lane::floor`]).
    pub(crate) fn releasing(mut self) -> SinkLane<O> {
        self.early = Some(Early::default());
        self
    }

    /// The worker's streams (output, error, records).
    pub(crate) fn into_streams(self) -> SinkStreams<O> {
        self.asm.into_factory()
    }

    /// Finish a split sink's part unless its output already failed.
    fn finish_part(&mut self) {
        let s = self.asm.factory_mut();
        if s.error.is_none() {
            if let Err(e) = s.out.finish_part() {
                s.error = Some(e);
            }
        }
    }
}

impl<O: Out> Lane for SinkLane<O> {
    /// The output's harvest, and what was released.
    type Harvest = (O::Harvest, Released);

    fn begin(&mut self, batch: &Batch<'_>) {
        self.asm.factory_mut().out.batch_arena(&batch.arena);
        if let (Some(e), Some(last)) = (&mut self.early, batch.last_frame()) {
            e.next_frame = e.next_frame.max(last.saturating_add(1));
        }
    }

    fn segment(&mut self, pos: u64, seg: &Segment<'_>) {
        self.asm.factory_mut().out.at(pos);
        self.asm.assemble(seg);
    }

    fn tick(&mut self, pos: u64, now: u64) {
        self.asm.factory_mut().out.at(pos);
        self.housekeeping.run(&mut self.asm, now);
    }

    fn finish(&mut self) {
        let out = &mut self.asm.factory_mut().out;
        out.at(END_POS);
        out.batch_arena(&[]);
        self.asm.flush_all();
        self.finish_part();
        if let Some(e) = &mut self.early {
            e.next_frame = u64::MAX;
            e.rescan_at = 0;
        }
    }

    fn abandon(&mut self) {
        self.finish_part();
    }

    fn harvest(&mut self) -> Self::Harvest {
        let released = self
            .early
            .as_mut()
            .map(|e| std::mem::take(&mut e.released))
            .unwrap_or_default();
        (self.asm.factory_mut().out.harvest(), released)
    }

    fn floor(&mut self) -> u64 {
        let Some(e) = &mut self.early else { return 0 };
        let streams = self.asm.factory();
        if streams.completed >= e.rescan_at {
            let open = self.asm.oldest_open_frame().unwrap_or(u64::MAX);
            e.floor = open.min(e.next_frame);
            let wait = (self.asm.connections() / 8).max(RESCAN_MIN) as u64;
            e.rescan_at = streams.completed.saturating_add(wait);
        }
        // Records written out to disk are read back at the end, so the
        // records handed out stop below the first of them.
        e.floor
            .min(streams.records.spilled_floor().unwrap_or(u64::MAX))
    }

    fn release(&mut self, below: u64) {
        let Some(e) = &mut self.early else { return };
        let records = &mut self.asm.factory_mut().records;
        records.release_below(below, &mut e.released.records);
        e.released.below = below;
    }

    fn failed(&self) -> bool {
        self.asm.factory().error.is_some()
    }

    fn stats(&self) -> AssemblerStats {
        self.asm.stats()
    }
}

/// The factory: a worker's output, its first error and its flow records.
pub(crate) struct SinkStreams<O> {
    pub(crate) out: O,
    /// The first error of a sink call; no call is made after it.
    pub(crate) error: Option<anyhow::Error>,
    pub(crate) records: RecordStore,
    /// Flows completed so far.
    completed: u64,
    gaps: GapMode,
    digest: bool,
    /// The flows' encapsulation paths, one copy per distinct path.
    encaps: SharedEncaps,
}

impl<O: Out> SinkStreams<O> {
    /// Streams of one worker writing into `out`, keeping records in `records`.
    pub(crate) fn new(out: O, opts: &EngineOptions, records: RecordStore) -> SinkStreams<O> {
        SinkStreams {
            out,
            error: None,
            records,
            completed: 0,
            gaps: opts.gaps,
            digest: opts.digest,
            encaps: SharedEncaps::default(),
        }
    }

    /// Call the sink unless an earlier call failed; keep the first error.
    fn call(&mut self, f: impl FnOnce(&mut O) -> anyhow::Result<()>) {
        if self.error.is_none() {
            if let Err(e) = f(&mut self.out) {
                self.error = Some(e);
            }
        }
    }

    /// Keep a completed flow's record, with where the sink put it; after a
    /// sink error only the flows closed before it are kept.
    fn keep(&mut self, mut record: FlowRecord) {
        self.completed += 1;
        if self.error.is_none() {
            record.placed = self.out.take_placement(record.head.id);
            if let Err(e) = self.records.push(record) {
                self.error = Some(e);
            }
        }
    }
}

impl<O: Out> StreamFactory for SinkStreams<O> {
    type Stream = FlowStream<O>;

    fn new_stream(&mut self, info: &StreamInfo) -> FlowStream<O> {
        FlowStream {
            head: FlowHead {
                id: info.first_frame,
                proto: info.proto,
                client: info.client.src,
                server: info.client.dst,
                first_ts: info.first_ts,
                syn_seen: info.syn_seen,
                encap: self.encaps.empty(),
                client_mac: None,
                server_mac: None,
            },
            opened: false,
            dirs: Default::default(),
            _out: std::marker::PhantomData,
        }
    }
}

/// Per-direction running totals.
#[derive(Default)]
struct DirState {
    /// The running digest: `None` when digests are off, and until the
    /// direction's first delivery (boxed: many flows have an empty
    /// direction, and its digest state is 112 bytes).
    hasher: Option<Box<Sha256>>,
    bytes: u64,
    zero_filled: u64,
    /// Stream offset just past the last byte delivered.
    next_off: u64,
}

/// Zeros for gap filling, written in slices of this buffer.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// One flow of a sink run.
pub(crate) struct FlowStream<O> {
    head: FlowHead,
    opened: bool,
    dirs: [DirState; 2],
    _out: std::marker::PhantomData<fn() -> O>,
}

fn dir_index(dir: Dir) -> usize {
    match dir {
        Dir::ClientToServer => 0,
        Dir::ServerToClient => 1,
    }
}

impl<O: Out> Stream for FlowStream<O> {
    type Context = SinkStreams<O>;

    fn accept(
        &mut self,
        seg: &Segment<'_>,
        _info: &AcceptInfo,
        ctx: &mut SinkStreams<O>,
    ) -> Accept {
        if !self.opened {
            // The first packet of the flow: its encapsulation names the flow.
            self.opened = true;
            self.head.encap = ctx.encaps.get(&seg.encap);
            self.head.set_macs(seg.tuple.src, seg.link);
            debug_assert!(matches!(
                (seg.transport, self.head.proto),
                (Transport::Tcp(_), Proto::Tcp) | (Transport::Udp, Proto::Udp)
            ));
            let head = &self.head;
            ctx.call(|s| s.open(head));
        }
        Accept::Take
    }

    fn reassembled(&mut self, sg: &mut ScatterGather<'_>, ctx: &mut SinkStreams<O>) {
        let dir = sg.dir();
        let st = &mut self.dirs[dir_index(dir)];
        let head = &self.head;
        if ctx.digest && st.hasher.is_none() {
            st.hasher = Some(Box::new(Sha256::new()));
        }
        // We never call keep_from, so every byte of `sg` is new.
        let off = sg.stream_offset();
        let gap = off.saturating_sub(st.next_off);
        if let GapMode::Zero { cap } = ctx.gaps {
            let mut left = gap.min(cap);
            st.zero_filled += left;
            while left > 0 {
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(ZEROS.len());
                let z = &ZEROS[..n];
                if let Some(h) = &mut st.hasher {
                    h.update(z);
                }
                st.bytes += n as u64;
                ctx.call(|s| s.write(head, dir, z));
                left -= n as u64;
            }
        }
        for chunk in sg.chunks() {
            if let Some(h) = &mut st.hasher {
                h.update(chunk);
            }
            st.bytes += chunk.len() as u64;
            ctx.call(|s| s.write(head, dir, chunk));
        }
        ctx.call(|s| s.delivery(head, dir, gap, sg));
        if head.proto == Proto::Udp {
            // One reassembled call per datagram: its boundary.
            let frame = sg.capture_info(0).map_or(0, |c| c.frame);
            let len = sg.len() as u64;
            ctx.call(|s| s.datagram(head, dir, frame, len));
        }
        st.next_off = st.next_off.max(off.saturating_add(sg.len() as u64));
        if sg.end() {
            ctx.call(|s| s.end_dir(head, dir));
        }
    }

    fn conflict(&mut self, c: &Conflict, ctx: &mut SinkStreams<O>) {
        let head = &self.head;
        ctx.call(|s| s.conflict(head, c));
    }

    fn parked(&mut self, ctx: &mut SinkStreams<O>) {
        let head = &self.head;
        ctx.call(|s| s.idle(head));
    }

    fn complete(&mut self, c: &Completion, ctx: &mut SinkStreams<O>) {
        let digest = ctx.digest;
        let mut dirs = std::mem::take(&mut self.dirs).map(Some);
        let mut dir_record = |dir: Dir| {
            let st = dirs[dir_index(dir)].take().unwrap_or_default();
            DirRecord {
                bytes: st.bytes,
                packets: c.packets[dir_index(dir)],
                sha256: digest
                    .then(|| st.hasher.map_or_else(Sha256::new, |h| *h).finalize().into()),
                zero_filled: st.zero_filled,
                ledger: c.ledger(dir).clone(),
            }
        };
        let record = FlowRecord {
            head: self.head.clone(),
            last_frame: c.last_frame,
            last_ts: c.last_ts,
            end: c.reason,
            idle_resumptions: c.idle_resumptions,
            longest_idle: c.longest_idle,
            c2s: dir_record(Dir::ClientToServer),
            s2c: dir_record(Dir::ServerToClient),
            placed: None,
        };
        ctx.call(|s| s.close(&record));
        ctx.keep(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes per tracked connection (issue #18): a flow's stream is at most
    /// 176 bytes inline (it was 528, with the encapsulation path and both
    /// digest states inline); a direction's digest state (112 bytes) is
    /// allocated at its first delivery, and the path is shared.
    #[test]
    fn flow_stream_stays_small() {
        let size = std::mem::size_of::<FlowStream<Box<dyn Sink + Send>>>();
        assert!(size <= 176, "FlowStream is {size} bytes, budget 176");
    }
}
