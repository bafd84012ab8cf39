//! The run: a reading thread cuts batches, a rayon pool decodes each batch in
//! parallel and runs every worker's shard of it, fork-join, while the
//! reading thread reads the next batch (and, for a sink that needs one
//! global order, replays the previous batch's calls).
//!
//! # Workers and shards
//! Worker `w` of `N` owns one [`Assembler`] and takes the segments whose
//! flow key has `FlowKey::shard(N) == w`, in frame order, each housekeeping
//! tick just before the first of its segments that follows it. A flow lives
//! on one worker for its whole life, and what it receives depends only on
//! its own packets and on the ticks (which come from packet time at fixed
//! boundaries), so per-flow results are the same for any `N`. (The one
//! exception is the assembler's total page cap, which is per worker: with it
//! hit, which holes are skipped can depend on the neighbours; the default
//! cap is far above what the per-connection caps allow for a handful of
//! flows.)
//!
//! # Scheduling
//! rayon does it, but for one bounded queue. The calling thread reads
//! batches and sends them to the pool through a queue of [`AHEAD`] batches
//! (reading runs ahead instead of every round waiting for it), decoding each
//! slice it reads while the workers are busy, when the frames are hot in its
//! cache; it also hands over what each finished batch left (a sink's
//! replayed calls). On the pool, one task runs the rounds: each round is a
//! `rayon::scope` that runs every worker's shard of a batch
//! (`Scope::spawn_broadcast`: worker `w` always runs on pool thread `w`, so
//! its assembler stays in one core's caches — letting workers wander
//! between threads cost 5-15% on the 500k-flow capture) and, at the same
//! time, decodes the next batch if it is already read (its slices spread by
//! work stealing over whichever threads are free, filling the time workers
//! would otherwise wait for the slowest shard). The scope's end is the one
//! synchronisation point per batch.
//!
//! With one worker there is no pool: the calling thread reads a batch, then
//! decodes and assembles it (one CPU).
//!
//! Memory follows the batch size, the page caps and the number of
//! concurrent flows, not the capture length: at most `AHEAD` + 3 batches are
//! alive (queued, being decoded, being run, being handed over).

use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};

use pcapread::Segment;
use reassembly::{Assembler, AssemblerConfig, AssemblerStats, StreamFactory};

use crate::batch::{with_payload, Batch, Decoding, Defrag, Dropped};
use crate::housekeeping::Housekeeping;
use crate::input::Reading;
use crate::options::EngineOptions;
use crate::summary::Counts;

/// Most workers (more are not useful and each holds an assembler).
pub const MAX_WORKERS: usize = 256;

/// CPUs this process may use.
pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// The worker count for `threads` (0: `auto`), within `1..=MAX_WORKERS`.
pub(crate) fn workers(threads: usize, auto: usize) -> usize {
    match threads {
        0 => auto,
        n => n,
    }
    .clamp(1, MAX_WORKERS)
}

// Input positions: what caused each step of a worker (a sink that needs
// one global order is replayed by position, see `replay`).

/// Position of a tick (just before its frame's packet).
pub(crate) fn tick_pos(frame: u64) -> u64 {
    frame.saturating_mul(2)
}

/// Position of a frame's packet.
pub(crate) fn packet_pos(frame: u64) -> u64 {
    frame.saturating_mul(2).saturating_add(1)
}

/// Position of the end of input.
pub(crate) const END_POS: u64 = u64::MAX;

/// One worker's state as the driver sees it: an assembler and what its
/// streams feed.
pub(crate) trait Lane {
    /// What a worker leaves for the reading thread after each batch.
    type Harvest: Send;

    /// A batch is about to be run.
    fn begin(&mut self, _batch: &Batch<'_>) {}

    /// One segment of this worker's shard, at input position `pos`.
    fn segment(&mut self, pos: u64, seg: &Segment<'_>);

    /// One housekeeping round at tick boundary `now`, at input position `pos`.
    fn tick(&mut self, pos: u64, now: u64);

    /// End of input: complete every flow.
    fn finish(&mut self);

    /// The run stopped early: let go of the output without completing flows.
    fn abandon(&mut self) {}

    /// What the batch left for the reading thread.
    fn harvest(&mut self) -> Self::Harvest;

    /// The lowest flow id this worker may still complete a flow of: every
    /// flow of its shard with a lower id has completed (a lower bound is
    /// fine). 0, the default, for a worker that hands out no records during
    /// the run.
    fn floor(&mut self) -> u64 {
        0
    }

    /// Hand out, with the next harvest, the records of the flows below
    /// `below` (no worker's [`Self::floor`] is lower).
    fn release(&mut self, _below: u64) {}

    /// Whether this worker's output failed (the run then stops).
    fn failed(&self) -> bool {
        false
    }

    /// The assembler's counters.
    fn stats(&self) -> AssemblerStats;
}

/// A worker of a Stream-level run: the user's factory in an assembler.
pub(crate) struct StreamLane<F: StreamFactory> {
    pub(crate) asm: Assembler<F>,
    housekeeping: Housekeeping,
}

impl<F: StreamFactory> StreamLane<F> {
    pub(crate) fn new(cfg: AssemblerConfig, hk: Housekeeping, factory: F) -> Self {
        StreamLane {
            asm: Assembler::new(cfg, factory),
            housekeeping: hk,
        }
    }
}

impl<F: StreamFactory> Lane for StreamLane<F> {
    type Harvest = ();

    fn segment(&mut self, _pos: u64, seg: &Segment<'_>) {
        self.asm.assemble(seg);
    }

    fn tick(&mut self, _pos: u64, now: u64) {
        self.housekeeping.run(&mut self.asm, now);
    }

    fn finish(&mut self) {
        self.asm.flush_all();
    }

    fn harvest(&mut self) {}

    fn stats(&self) -> AssemblerStats {
        self.asm.stats()
    }
}

/// Run worker `w`'s shard of `batch` on `lane`: each tick just before the
/// first of its segments that follows it, the rest after them.
fn run_shard<L: Lane>(lane: &mut L, w: u32, batch: &Batch<'_>) {
    lane.begin(batch);
    let mut ticks = batch.ticks.iter().peekable();
    batch.for_shard(w, |item, arena| {
        while let Some(t) = ticks.next_if(|t| t.frame <= item.seg.frame) {
            lane.tick(tick_pos(t.frame), t.now);
        }
        let pos = packet_pos(item.seg.frame);
        match &item.arena {
            // Payload in the map: the stored segment as it is (no copy).
            None => lane.segment(pos, &item.seg),
            Some(r) => {
                let payload = arena
                    .get(r.clone())
                    .expect("a decoded payload lies in the arena it was cut from");
                lane.segment(pos, &with_payload(&item.seg, payload));
            }
        }
    });
    for t in ticks {
        lane.tick(tick_pos(t.frame), t.now);
    }
}

/// Let every worker hand out, with its next harvest, the records below the
/// lowest of their floors: no worker can still complete a flow below it, so
/// the records handed out over the harvests come in id order, round after
/// round, whatever the number of workers.
fn release<L: Lane>(lanes: &mut [&mut L]) {
    let below = lanes.iter_mut().map(|l| l.floor()).min().unwrap_or(0);
    if below > 0 {
        for l in lanes.iter_mut() {
            l.release(below);
        }
    }
}

/// A worker's lane between batches (no pool thread holds it then).
fn lane_of<L>(slot: &mut Mutex<L>) -> &mut L {
    slot.get_mut()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The workers' side of a pooled run: rounds of one batch each.
struct Rounds<'r, L> {
    slots: &'r mut Vec<Mutex<L>>,
    decoders: &'r [Mutex<Decoding>],
    defrag: &'r mut Defrag,
    busy: &'r AtomicBool,
    abort: &'r AtomicBool,
}

impl<L: Lane + Send> Rounds<'_, L> {
    /// Run every batch `batches` brings, sending each back with its
    /// harvests once the workers are done with it; true when the batches
    /// ended without an error (then the lanes may be finished).
    fn run<'m>(
        self,
        batches: mpsc::Receiver<Batch<'m>>,
        done: mpsc::Sender<(Batch<'m>, Vec<L::Harvest>)>,
    ) -> bool {
        let Rounds {
            slots,
            decoders,
            defrag,
            busy,
            abort,
        } = self;
        let mut ready = batches.recv().ok().map(|mut b| {
            b.prepare_parallel(decoders, defrag);
            b
        });
        while let Some(work) = ready.take() {
            if abort.load(Ordering::Relaxed) {
                return false;
            }
            // The next batch, if read already, is decoded while the workers
            // run this one (by whichever threads are free).
            let mut next = batches.try_recv().ok();
            busy.store(true, Ordering::Relaxed);
            rayon::scope(|s| {
                let (work, lanes) = (&work, &*slots);
                // Worker w runs on pool thread w, batch after batch, so its
                // assembler's memory stays in that core's caches.
                s.spawn_broadcast(move |_, ctx| {
                    let w = ctx.index();
                    let mut lane = lanes[w]
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    run_shard(&mut *lane, w as u32, work);
                });
                if let Some(b) = &mut next {
                    let defrag = &mut *defrag;
                    s.spawn(move |_| b.prepare_parallel(decoders, defrag));
                }
            });
            busy.store(false, Ordering::Relaxed);
            let mut lanes: Vec<&mut L> = slots.iter_mut().map(lane_of).collect();
            release(&mut lanes);
            let mut harvests = Vec::with_capacity(lanes.len());
            let mut failed = false;
            for lane in lanes {
                failed |= lane.failed();
                harvests.push(lane.harvest());
            }
            if done.send((work, harvests)).is_err() || failed {
                abort.store(true, Ordering::Relaxed);
                return false;
            }
            ready = next.or_else(|| {
                batches.recv().ok().map(|mut b| {
                    b.prepare_parallel(decoders, defrag);
                    b
                })
            });
        }
        !abort.load(Ordering::Relaxed)
    }
}

/// How a driven run ended.
pub(crate) struct Driven<L> {
    pub(crate) lanes: Vec<L>,
    /// Decoder counters and UDP datagrams dropped (assembler counters are
    /// the lanes').
    pub(crate) counts: Counts,
    /// An error of `on_harvest` that stopped the run part way.
    pub(crate) stop: Option<anyhow::Error>,
}

impl<L: Lane> Driven<L> {
    fn new(lanes: Vec<L>, decoders: &[(pcapread::DecodeStats, Dropped)], defrag: &Defrag) -> Self {
        let (decode, dropped) = defrag.total(decoders);
        let mut assembler = AssemblerStats::default();
        for l in &lanes {
            assembler.add(&l.stats());
        }
        Driven {
            lanes,
            counts: Counts {
                assembler,
                decode,
                udp_ignored: dropped.udp_ignored,
                deselected: dropped.deselected,
                other_shard: dropped.other_shard,
            },
            stop: None,
        }
    }
}

/// A decoder of a run with `opts` for `workers` shards.
fn decoding(opts: &EngineOptions, workers: usize) -> Decoding {
    let d = Decoding::new(opts.decoder, workers, opts.udp).with_shard(opts.shard);
    #[cfg(feature = "bpf")]
    let d = d.selecting(opts.flows.clone());
    d
}

/// The defragmenter of a run with `opts` for `workers` shards.
fn defragmenting(opts: &EngineOptions, workers: usize) -> Defrag {
    let d = Defrag::new(opts.decoder, workers, opts.udp).with_shard(opts.shard);
    #[cfg(feature = "bpf")]
    let d = d.selecting(opts.flows.clone());
    d
}

/// Drive `lanes`: one on the calling thread ([`drive_inline`]), several
/// on a pool ([`drive_pooled`]).
pub(crate) fn drive<'m, L, H>(
    reading: &mut Reading<'_, 'm>,
    mut lanes: Vec<L>,
    opts: &EngineOptions,
    on_harvest: H,
) -> anyhow::Result<Driven<L>>
where
    L: Lane + Send,
    H: FnMut(Vec<L::Harvest>, &Batch<'m>) -> anyhow::Result<()>,
{
    if lanes.len() == 1 {
        let lane = lanes.pop().expect("a vector of one lane has one to pop");
        drive_inline(reading, lane, opts, on_harvest)
    } else {
        drive_pooled(reading, lanes, opts, on_harvest)
    }
}

/// Drive one lane on the calling thread: read a batch, decode it, run it,
/// hand its harvest to `on_harvest`; until the end of input (then finish
/// the lane) or a stop. A read error is fatal (`Err`).
pub(crate) fn drive_inline<'m, L, H>(
    reading: &mut Reading<'_, 'm>,
    mut lane: L,
    opts: &EngineOptions,
    mut on_harvest: H,
) -> anyhow::Result<Driven<L>>
where
    L: Lane,
    H: FnMut(Vec<L::Harvest>, &Batch<'m>) -> anyhow::Result<()>,
{
    let mut dec = decoding(opts, 1);
    let mut defrag = defragmenting(opts, 1);
    let mut stop = None;
    let mut finished = false;
    loop {
        let mut batch = reading.batch();
        let end = reading.fill(&mut batch)?;
        batch.prepare(&mut dec, &mut defrag);
        run_shard(&mut lane, 0, &batch);
        if lane.failed() {
            break;
        }
        release(&mut [&mut lane]);
        if let Err(e) = on_harvest(vec![lane.harvest()], &batch) {
            stop = Some(e);
            break;
        }
        if end {
            finished = true;
            break;
        }
    }
    if finished {
        lane.finish();
        if !lane.failed() {
            release(&mut [&mut lane]);
            let last = reading.batch();
            if let Err(e) = on_harvest(vec![lane.harvest()], &last) {
                stop = Some(e);
            }
        }
    } else {
        lane.abandon();
    }
    let mut driven = Driven::new(vec![lane], &[dec.counts()], &defrag);
    driven.stop = stop;
    Ok(driven)
}

/// Batches the reading thread may be ahead of the workers. With every
/// batch handed from the reading thread to the workers in one fork-join
/// round that also waited for the reading, two workers on two cores ran
/// 2-18% slower than the threads-and-queues engine before this crate (bulk
/// `flows --no-digest -t2` 1.06 s against 0.90 s); a bounded queue lets the
/// reading run ahead, and lets a round start as soon as the last ends.
pub const AHEAD: usize = 4;

/// Drive `lanes` (one per worker, at least two) on a rayon pool of as many
/// threads: the calling thread reads up to [`AHEAD`] batches ahead and hands
/// each batch's harvests to `on_harvest` as the workers finish it. A read
/// error is fatal (`Err`).
fn drive_pooled<'m, L, H>(
    reading: &mut Reading<'_, 'm>,
    lanes: Vec<L>,
    opts: &EngineOptions,
    mut on_harvest: H,
) -> anyhow::Result<Driven<L>>
where
    L: Lane + Send,
    H: FnMut(Vec<L::Harvest>, &Batch<'m>) -> anyhow::Result<()>,
{
    let n = lanes.len();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("streamcut-worker-{i}"))
        .build()?;
    let decoders: Vec<Mutex<Decoding>> = (0..n).map(|_| Mutex::new(decoding(opts, n))).collect();
    let mut defrag = defragmenting(opts, n);
    let mut reader_dec = decoding(opts, n);
    let mut slots: Vec<Mutex<L>> = lanes.into_iter().map(Mutex::new).collect();
    // Set while the workers run a round: the reading thread then decodes
    // what it reads (while it is hot in its core's caches).
    let busy = AtomicBool::new(false);
    // Set when the run stops early (a read or output error).
    let abort = AtomicBool::new(false);
    let mut finished = false;
    let mut read_error = None;
    let mut stop = None;
    let (to_pool, from_reader) = mpsc::sync_channel::<Batch<'m>>(AHEAD);
    let (to_reader, from_pool) = mpsc::channel::<(Batch<'m>, Vec<L::Harvest>)>();
    pool.in_place_scope(|s| {
        let round = Rounds {
            slots: &mut slots,
            decoders: &decoders,
            defrag: &mut defrag,
            busy: &busy,
            abort: &abort,
        };
        let finished = &mut finished;
        s.spawn(move |_| *finished = round.run(from_reader, to_reader));
        // The calling thread reads, and hands over what the workers finish.
        let mut hand = |(b, h): (Batch<'m>, Vec<L::Harvest>)| {
            if stop.is_none() {
                if let Err(e) = on_harvest(h, &b) {
                    stop = Some(e);
                    abort.store(true, Ordering::Relaxed);
                }
            }
        };
        loop {
            let mut b = reading.batch();
            let end = match reading.fill_helping(&mut b, Some((&mut reader_dec, &busy))) {
                Ok(end) => end,
                Err(e) => {
                    read_error = Some(e);
                    abort.store(true, Ordering::Relaxed);
                    break;
                }
            };
            // A send fails only when the workers stopped (an output error).
            if to_pool.send(b).is_err() {
                break;
            }
            while let Ok(done) = from_pool.try_recv() {
                hand(done);
            }
            if end || abort.load(Ordering::Relaxed) {
                break;
            }
        }
        drop(to_pool);
        for done in from_pool.iter() {
            hand(done);
        }
    });
    if let Some(e) = read_error {
        return Err(e);
    }
    let mut lanes: Vec<L> = slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        })
        .collect();
    if finished && stop.is_none() {
        pool.install(|| lanes.par_iter_mut().for_each(Lane::finish));
        if !lanes.iter().any(Lane::failed) {
            release(&mut lanes.iter_mut().collect::<Vec<_>>());
            let last: Vec<L::Harvest> = lanes.iter_mut().map(Lane::harvest).collect();
            let empty = reading.batch();
            if let Err(e) = on_harvest(last, &empty) {
                stop = Some(e);
            }
        }
    } else {
        lanes.iter_mut().for_each(Lane::abandon);
    }
    let counts: Vec<_> = decoders
        .into_iter()
        .chain([Mutex::new(reader_dec)])
        .map(|d| {
            d.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        })
        .map(|d| d.counts())
        .collect();
    let mut driven = Driven::new(lanes, &counts, &defrag);
    driven.stop = stop;
    Ok(driven)
}
