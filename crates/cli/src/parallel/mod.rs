//! The parallel engine: N assembler workers sharded by the symmetric flow
//! hash, decoding together what one reading thread cuts, with byte-identical
//! output whatever N is.
//!
//! # Pipeline
//! The calling thread reads frames (zero copy from the memory map when there
//! is one mapped input; otherwise from the timestamp-merged readers, copying
//! each frame into the batch), applies the BPF filter, and collects up to
//! [`BATCH`] frames into a batch together with the housekeeping ticks that
//! fall between them. Every worker gets every batch. The workers decode it
//! together, a slice of [`SLICE`] frames at a time, and the IP fragments in it
//! are then defragmented in frame order by one shared defragmenter (the
//! `batch` module says how this stays equal to one decoder of every frame).
//! Worker `w` then takes the segments with `FlowKey::shard(N) == w`, in frame
//! order, running each tick just before the first of its segments that
//! follows it.
//! The workers own an [`Assembler`](reassembly::Assembler) each (no locks on
//! the per-packet path) and hash every delivered byte. What happens to the
//! bytes depends on the sink:
//!
//! - **Direct mode**, when the sink [splits](Sink::split) (the files layout
//!   with default names, or no output at all): each worker calls its own part
//!   of the sink, so files are written on the workers' threads and the calling
//!   thread only reads. At most [`AHEAD`] batches wait per worker; while a
//!   worker's queue is full, the calling thread decodes slices of the queued
//!   batches instead of waiting. With one worker there is no worker thread:
//!   the calling thread reads a batch, then decodes and assembles it
//!   (`--threads 1` uses one CPU).
//! - **Replay mode**, for sinks that need one global order (the packed
//!   `streams.bin`, tcpflow's clash-numbered names, the conflicts file): the
//!   workers record what the sink must be told as `Event`s; while they work,
//!   the calling thread reads the next batch, then replays their events into
//!   the real [`Sink`] and hands out the next batch. At most two batches are
//!   alive at once.
//!
//! Either way memory follows the batch size, the page caps and the number of
//! concurrent flows, not the capture length: the flow records kept for the
//! manifest go to temporary files past a budget ([`crate::records`]).
//!
//! # Determinism
//! A flow's events depend only on its own packets and on the ticks, which are
//! taken from packet timestamps at fixed boundaries, so they do not depend on
//! which worker runs it or on its neighbours. Events are replayed in the order
//! of (position, flow id), where the position is the frame that caused them (a
//! tick counts just before its frame, the end of input after everything); a
//! flow's own events keep their order. That order is a function of the input
//! alone, so the sink sees the same calls — the same files, the same packed
//! `streams.bin` — for `--threads 1` and `--threads 16`. In the direct mode
//! there is no global order, and none is needed: each part writes only its
//! own flows' files, whose bytes depend on those flows alone, and the flow
//! records are sorted by id at the end. (The one exception is
//! the assembler's total page cap, which is per worker: with it hit, which
//! holes are skipped can depend on the neighbours; the default cap is far above
//! what the per-connection caps allow for a handful of flows.)

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use pcapread::{DecodeStats, Frame, MergedReader};
use reassembly::{AssemblerStats, Conflict, Dir};

mod batch;

use batch::{with_payload, Batch, Decoding, Defrag, Spares, Tick};
pub use batch::{BATCH, SLICE};

use crate::engine::{
    error_file, open_inputs, prepare_filter, problem, total_bytes, EngineOptions, InputReport,
    Inputs, Problem, Shared, Summary, Worker,
};
use crate::filter::BpfFilter;
use crate::flow::{FlowHead, FlowId, FlowRecord};
use crate::progress::Progress;
use crate::records::RecordStore;
use crate::sink::Sink;

/// Most worker threads (more are not useful and each holds an assembler).
pub const MAX_WORKERS: usize = 256;

/// A message to a worker.
enum Job<'m> {
    Batch(Arc<Batch<'m>>),
    /// End of input: complete every flow.
    Finish,
}

/// What the sink must be told, as recorded by a worker.
#[derive(Debug)]
enum What {
    Open(Box<FlowHead>),
    /// Bytes copied into the worker's log (queued data, zero fill).
    Write(Dir, Range<usize>),
    /// Bytes still in the memory-mapped capture (in-order data, no copy).
    WriteMapped(Dir, Range<usize>),
    /// Bytes in the round's batch arena (in-order data of streamed input).
    WriteArena(Dir, Range<usize>),
    EndDir(Dir),
    Conflict(Box<Conflict>),
    Close(Box<FlowRecord>),
}

/// One recorded sink call: `pos` orders calls across workers.
#[derive(Debug)]
struct Event {
    pos: u64,
    flow: FlowId,
    what: What,
}

/// Events of one worker for one round, with the bytes their writes refer to.
#[derive(Debug, Default)]
struct Log {
    events: Vec<Event>,
    bytes: Vec<u8>,
}

/// The sink a worker's streams write into: it records, the calling thread replays.
///
/// Bytes that still sit in the capture's memory map, or in the batch arena of
/// the round being processed, are recorded as ranges there (the calling thread
/// writes them straight from there); only bytes from the assembler's pages and
/// zero fill are copied into the log.
struct EventSink {
    log: Rc<RefCell<Log>>,
    pos: Rc<Cell<u64>>,
    /// Address range of the memory-mapped capture, if any.
    map: Option<(usize, usize)>,
    /// Address range of the current batch's arena.
    arena: Rc<Cell<(usize, usize)>>,
}

/// `bytes` as a range of the region starting at `base` with `len` bytes, if inside.
fn within(bytes: &[u8], (base, len): (usize, usize)) -> Option<Range<usize>> {
    let p = bytes.as_ptr() as usize;
    let start = p.checked_sub(base)?;
    let end = start.checked_add(bytes.len())?;
    (end <= len && !bytes.is_empty()).then_some(start..end)
}

impl EventSink {
    fn push(&self, flow: FlowId, what: What) {
        self.log.borrow_mut().events.push(Event {
            pos: self.pos.get(),
            flow,
            what,
        });
    }
}

// `delivery` keeps the trait's no-op: sinks that want deliveries run on the
// sequential engine, so there is nothing to replay.
impl Sink for EventSink {
    fn open(&mut self, head: &FlowHead) -> anyhow::Result<()> {
        self.push(head.id, What::Open(Box::new(head.clone())));
        Ok(())
    }

    fn write(&mut self, head: &FlowHead, dir: Dir, bytes: &[u8]) -> anyhow::Result<()> {
        if let Some(r) = self.map.and_then(|m| within(bytes, m)) {
            self.push(head.id, What::WriteMapped(dir, r));
            return Ok(());
        }
        if let Some(r) = within(bytes, self.arena.get()) {
            self.push(head.id, What::WriteArena(dir, r));
            return Ok(());
        }
        let range = {
            let mut log = self.log.borrow_mut();
            let start = log.bytes.len();
            log.bytes.extend_from_slice(bytes);
            start..log.bytes.len()
        };
        self.push(head.id, What::Write(dir, range));
        Ok(())
    }

    fn end_dir(&mut self, head: &FlowHead, dir: Dir) -> anyhow::Result<()> {
        self.push(head.id, What::EndDir(dir));
        Ok(())
    }

    fn conflict(&mut self, head: &FlowHead, conflict: &Conflict) -> anyhow::Result<()> {
        self.push(head.id, What::Conflict(Box::new(*conflict)));
        Ok(())
    }

    fn close(&mut self, record: &FlowRecord) -> anyhow::Result<()> {
        self.push(record.head.id, What::Close(Box::new(record.clone())));
        Ok(())
    }
}

/// Position of a tick (just before its frame's packet), a packet, and the end.
fn tick_pos(frame: u64) -> u64 {
    frame.saturating_mul(2)
}
fn packet_pos(frame: u64) -> u64 {
    frame.saturating_mul(2).saturating_add(1)
}
const END_POS: u64 = u64::MAX;

/// What a worker decodes with: its own decoder and the run's defragmenter.
struct Lane<'d> {
    w: u32,
    decoding: Decoding,
    defrag: &'d Mutex<Defrag>,
}

impl Lane<'_> {
    /// This worker's decoder counters and UDP datagrams dropped.
    fn counts(&self) -> (DecodeStats, u64) {
        self.decoding.counts()
    }
}

/// Decode `batch` with the other workers, then feed this worker its shard
/// of it, each tick just before the first of its segments that follows it;
/// `pos` is set to the position of each step.
fn run_batch(
    lane: &mut Lane<'_>,
    worker: &mut Worker<'_>,
    batch: &Batch<'_>,
    pos: &Cell<u64>,
    flush_after: u64,
) -> anyhow::Result<()> {
    batch.prepare(&mut lane.decoding, lane.defrag)?;
    let mut ticks = batch.ticks.iter().peekable();
    batch.for_shard(lane.w, |item, arena| {
        while let Some(t) = ticks.next_if(|t| t.frame <= item.seg.frame) {
            pos.set(tick_pos(t.frame));
            worker.tick(t.now, flush_after);
        }
        pos.set(packet_pos(item.seg.frame));
        match &item.arena {
            // Payload in the map: the stored segment as it is (no copy).
            None => worker.segment(&item.seg),
            Some(r) => worker.segment(&with_payload(
                &item.seg,
                arena.get(r.clone()).unwrap_or(&[]),
            )),
        }
    });
    for t in ticks {
        pos.set(tick_pos(t.frame));
        worker.tick(t.now, flush_after);
    }
    Ok(())
}

/// What a replay worker sends back after each job: its log, and at the end
/// its assembler's and decoder's counters; or that it stopped.
enum Round {
    Done(u32, Log, Option<Box<(AssemblerStats, (DecodeStats, u64))>>),
    Stopped,
}

/// Says [`Round::Stopped`] when a replay worker ends before its jobs do (an
/// error, or a panic unwinding), so that the calling thread, waiting for every
/// worker's log, does not wait forever.
struct Farewell<'a> {
    done: &'a mpsc::Sender<Round>,
    finished: bool,
}

impl Drop for Farewell<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.done.send(Round::Stopped);
        }
    }
}

/// A worker thread of the replay mode: an assembler fed with its shard of
/// every batch, recording sink calls for the calling thread to replay.
fn worker_loop(
    mut lane: Lane<'_>,
    opts: &EngineOptions,
    map: Option<(usize, usize)>,
    jobs: mpsc::Receiver<Job<'_>>,
    done: mpsc::Sender<Round>,
) {
    let log = Rc::new(RefCell::new(Log::default()));
    let pos = Rc::new(Cell::new(0));
    let arena = Rc::new(Cell::new((0usize, 0usize)));
    let mut sink = EventSink {
        log: Rc::clone(&log),
        pos: Rc::clone(&pos),
        map,
        arena: Rc::clone(&arena),
    };
    let shared = Shared::new(&mut sink, opts);
    // Records are kept by the calling thread from the Close events.
    shared.borrow_mut().records = RecordStore::discarding();
    let mut worker = Worker::new(opts.assembler.clone(), &shared);
    let flush_after = opts.housekeeping.flush_after;
    let mut farewell = Farewell {
        done: &done,
        finished: false,
    };
    for job in jobs {
        let stats = match job {
            Job::Batch(batch) => {
                arena.set((batch.arena.as_ptr() as usize, batch.arena.len()));
                if run_batch(&mut lane, &mut worker, &batch, &pos, flush_after).is_err() {
                    return;
                }
                None
            }
            Job::Finish => {
                arena.set((0, 0));
                pos.set(END_POS);
                worker.asm.flush_all();
                Some(Box::new((worker.asm.stats(), lane.counts())))
            }
        };
        let out = std::mem::take(&mut *log.borrow_mut());
        if done.send(Round::Done(lane.w, out, stats)).is_err() {
            return;
        }
    }
    farewell.finished = true;
}

/// What a worker of the direct mode hands back at the end.
struct Finished {
    stats: AssemblerStats,
    /// Decoder counters and UDP datagrams dropped.
    decode: (DecodeStats, u64),
    records: RecordStore,
    error: Option<anyhow::Error>,
}

/// A worker thread of the direct mode: an assembler fed with its shard of
/// every batch, calling its own part of a split sink. A sink error stops the
/// work (and, through `failed`, the reading); it is returned at the end.
fn direct_loop<'m>(
    mut lane: Lane<'_>,
    opts: &EngineOptions,
    jobs: impl IntoIterator<Item = Job<'m>>,
    mut part: Box<dyn Sink + Send>,
    failed: &AtomicBool,
) -> Finished {
    let shared = Shared::new(&mut *part, opts);
    let mut worker = Worker::new(opts.assembler.clone(), &shared);
    let flush_after = opts.housekeeping.flush_after;
    let pos = Cell::new(0);
    for job in jobs {
        match job {
            Job::Batch(batch) => {
                if let Err(e) = run_batch(&mut lane, &mut worker, &batch, &pos, flush_after) {
                    shared.borrow_mut().error.get_or_insert(e);
                }
            }
            Job::Finish => {
                worker.asm.flush_all();
                break;
            }
        }
        if shared.borrow().error.is_some() {
            failed.store(true, Ordering::Relaxed);
            break;
        }
    }
    let stats = worker.asm.stats();
    let decode = lane.counts();
    drop(worker);
    let Ok(shared) = Rc::try_unwrap(shared).map(RefCell::into_inner) else {
        return Finished {
            stats,
            decode,
            records: RecordStore::discarding(),
            error: Some(anyhow::anyhow!(
                "worker {}: streams outlived their assembler",
                lane.w
            )),
        };
    };
    let mut error = shared.error;
    let records = shared.records;
    if error.is_none() {
        error = part.finish().err();
    }
    if error.is_some() {
        failed.store(true, Ordering::Relaxed);
    }
    Finished {
        stats,
        decode,
        records,
        error,
    }
}

/// Replays recorded events into the real sink in (position, flow) order and
/// keeps the flow records.
struct Replay<'a, 'm> {
    sink: &'a mut dyn Sink,
    /// The memory-mapped capture (empty when there is none).
    map: &'m [u8],
    heads: HashMap<FlowId, FlowHead>,
    records: RecordStore,
}

impl Replay<'_, '_> {
    /// Replay one round; `arena` is the arena of the round's batch.
    fn apply(&mut self, logs: Vec<Log>, arena: &[u8]) -> anyhow::Result<()> {
        // (position, flow, worker, index within the worker's log): a flow's own
        // events keep their order because a flow lives in one worker.
        let mut order: Vec<(u64, FlowId, usize, usize)> = Vec::new();
        for (w, log) in logs.iter().enumerate() {
            order.extend(
                log.events
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (e.pos, e.flow, w, i)),
            );
        }
        order.sort_unstable();
        let mut logs: Vec<(Vec<Option<Event>>, Vec<u8>)> = logs
            .into_iter()
            .map(|l| (l.events.into_iter().map(Some).collect(), l.bytes))
            .collect();
        for (_, _, w, i) in order {
            let (events, bytes) = &mut logs[w];
            let Some(e) = events[i].take() else { continue };
            match e.what {
                What::Open(head) => {
                    self.sink.open(&head)?;
                    self.heads.insert(head.id, *head);
                }
                What::Write(dir, r) => {
                    if let Some(head) = self.heads.get(&e.flow) {
                        self.sink.write(head, dir, bytes.get(r).unwrap_or(&[]))?;
                    }
                }
                What::WriteMapped(dir, r) => {
                    if let Some(head) = self.heads.get(&e.flow) {
                        self.sink.write(head, dir, self.map.get(r).unwrap_or(&[]))?;
                    }
                }
                What::WriteArena(dir, r) => {
                    if let Some(head) = self.heads.get(&e.flow) {
                        self.sink.write(head, dir, arena.get(r).unwrap_or(&[]))?;
                    }
                }
                What::EndDir(dir) => {
                    if let Some(head) = self.heads.get(&e.flow) {
                        self.sink.end_dir(head, dir)?;
                    }
                }
                What::Conflict(c) => {
                    if let Some(head) = self.heads.get(&e.flow) {
                        self.sink.conflict(head, &c)?;
                    }
                }
                What::Close(mut record) => {
                    self.sink.close(&record)?;
                    self.heads.remove(&e.flow);
                    record.placed = self.sink.take_placement(record.head.id);
                    self.records.push(*record)?;
                }
            }
        }
        Ok(())
    }
}

/// Frames come from here: the zero-copy slice of one mapped capture, or the
/// merged readers (payloads then copied into the batch).
enum Frames<'m> {
    Mapped(pcapread::SliceReader<'m>),
    Merged(MergedReader),
}

/// The reading side: frames in, filtered frames out in batches.
struct Source<'o, 'm> {
    frames: Frames<'m>,
    cut: Cutter,
    progress: Progress,
    reports: Vec<InputReport>,
    report_of: Vec<usize>,
    /// Where each input has been read up to.
    offsets: Vec<u64>,
    mapped_problem: Option<Problem>,
    frames_read: u64,
    /// Options of the run (for the workers' decoders).
    opts: &'o EngineOptions,
    spares: Arc<Spares<'m>>,
}

/// Frames to batches: ticks and the filter.
struct Cutter {
    filter: Option<BpfFilter>,
    filtered_out: u64,
    tick: u64,
    next_tick: u64,
}

impl<'m> Source<'_, 'm> {
    /// An empty batch.
    fn batch(&self) -> Batch<'m> {
        Batch::new(&self.spares)
    }

    /// Fill `batch` up to [`BATCH`] frames and seal it; true at the end of
    /// the input.
    fn fill(&mut self, batch: &mut Batch<'m>) -> anyhow::Result<bool> {
        let end = self.fill_frames(batch);
        batch.seal();
        end
    }

    fn fill_frames(&mut self, batch: &mut Batch<'m>) -> anyhow::Result<bool> {
        while !batch.is_full() {
            match &mut self.frames {
                Frames::Mapped(s) => match s.next() {
                    None => return Ok(true),
                    Some(Err(e)) => {
                        self.mapped_problem = Some(problem(&e));
                        return Ok(true);
                    }
                    Some(Ok(frame)) => {
                        self.frames_read += 1;
                        self.offsets[0] = frame.file_offset.saturating_add(u64::from(frame.caplen));
                        self.progress.frame(frame.number, self.offsets[0]);
                        if self.cut.admit(&frame, batch)? {
                            batch.push_mapped(frame);
                        }
                    }
                },
                Frames::Merged(m) => match m.next_frame() {
                    Ok(None) => return Ok(true),
                    Err(e) => {
                        let at = m
                            .inputs()
                            .iter()
                            .position(|r| r.path() == error_file(&e))
                            .and_then(|i| self.report_of.get(i).copied());
                        if let Some(rep) = at.and_then(|i| self.reports.get_mut(i)) {
                            rep.problems.push(problem(&e));
                        }
                    }
                    Ok(Some(frame)) => {
                        self.frames_read += 1;
                        if let Some(o) = self.offsets.get_mut(usize::from(frame.input)) {
                            *o = frame.file_offset.saturating_add(u64::from(frame.caplen));
                        }
                        self.progress.frame(frame.number, self.offsets.iter().sum());
                        if self.cut.admit(&frame, batch)? {
                            batch.push_copied(&frame);
                        }
                    }
                },
            }
        }
        Ok(false)
    }
}

impl Cutter {
    /// Queue the tick due before `frame`; whether the filter lets it through.
    fn admit(&mut self, frame: &Frame<'_>, batch: &mut Batch<'_>) -> anyhow::Result<bool> {
        if frame.ts >= self.next_tick {
            let now = frame.ts - frame.ts % self.tick;
            batch.push_tick(Tick {
                frame: frame.number,
                now,
            });
            self.next_tick = now.saturating_add(self.tick);
        }
        if let Some(f) = &mut self.filter {
            if !f.matches(frame.link_type, frame.data)? {
                self.filtered_out += 1;
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Run the engine with `opts.threads` assembler workers (at least one);
/// output is identical for any number of workers (see the module docs). An
/// error that stops the run part way (a sink error) is returned beside the
/// summary of what was done; see [`crate::engine::run_partial`], which calls
/// this. The summary's flows are those closed in the sink before the error;
/// flows still open then are not completed.
pub fn run_partial(
    opts: &EngineOptions,
    sink: &mut dyn Sink,
) -> anyhow::Result<(Summary, Option<anyhow::Error>)> {
    let Inputs {
        reports,
        mut readers,
        report_of,
    } = open_inputs(opts);
    let filter = prepare_filter(opts, &readers)?;
    // Automatic: one worker per CPU when the workers write (the reading
    // thread has little else to do), one fewer when the reading thread
    // replays every write itself.
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let (workers, parts) = match opts.threads {
        0 => match sink.split(cpus.clamp(1, MAX_WORKERS)) {
            Some(parts) => (parts.len(), Some(parts)),
            None => (cpus.saturating_sub(1).clamp(1, MAX_WORKERS), None),
        },
        n => {
            let n = n.clamp(1, MAX_WORKERS);
            (n, sink.split(n))
        }
    };

    // One mapped input: frames borrow the map for the whole run.
    let single_mapped = readers.len() == 1 && readers[0].mapped_bytes().is_some();
    let mapped_reader = if single_mapped { readers.pop() } else { None };
    let frames = match &mapped_reader {
        Some(r) => match r.slice_reader() {
            Some(s) => Frames::Mapped(s.with_input(0)),
            None => Frames::Merged(MergedReader::new(Vec::new())),
        },
        None => Frames::Merged(MergedReader::new(readers)),
    };
    let map: &[u8] = mapped_reader
        .as_ref()
        .and_then(|r| r.mapped_bytes())
        .unwrap_or(&[]);
    let mut source = Source {
        frames,
        cut: Cutter {
            filter,
            filtered_out: 0,
            tick: opts.housekeeping.tick.max(1),
            next_tick: 0,
        },
        progress: Progress::new(opts.progress, total_bytes(opts)),
        reports,
        report_of,
        offsets: vec![0u64; opts.inputs.len().max(1)],
        mapped_problem: None,
        frames_read: 0,
        opts,
        spares: Arc::default(),
    };
    let defrag = Mutex::new(Defrag::new(opts.decoder, workers, opts.udp));
    let mut counts = Counts {
        assembler: AssemblerStats::default(),
        decode: Vec::with_capacity(workers),
    };
    let (records, stop) = match parts {
        Some(parts) => run_direct(parts, &mut source, &defrag, &mut counts)?,
        None => run_replay(workers, map, sink, &mut source, &defrag, &mut counts)?,
    };
    source.progress.finish();

    let Source {
        frames,
        cut,
        mut reports,
        report_of,
        mapped_problem,
        frames_read,
        ..
    } = source;
    match (&frames, &mapped_reader) {
        (Frames::Merged(m), _) => {
            for (i, r) in m.inputs().iter().enumerate() {
                if let Some(rep) = report_of.get(i).and_then(|&k| reports.get_mut(k)) {
                    rep.frames = r.frames_read();
                    rep.info = Some(r.info().clone());
                }
            }
        }
        (Frames::Mapped(s), Some(_)) => {
            if let Some(rep) = report_of.first().and_then(|&k| reports.get_mut(k)) {
                rep.frames = frames_read;
                rep.info = Some(s.info().clone());
                if let Some(p) = mapped_problem {
                    rep.problems.push(p);
                }
            }
        }
        _ => {}
    }
    let (flows, spilled) = records.finish();
    let defrag = defrag
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a worker thread panicked"))?;
    let (decode, udp_ignored) = defrag.total(&counts.decode);
    let summary = Summary {
        inputs: reports,
        frames: frames_read,
        filtered_out: cut.filtered_out,
        udp_ignored,
        decode,
        assembler: counts.assembler,
        flows,
        spilled,
    };
    Ok((summary, stop))
}

/// Flow records, and the error that stopped the run part way, if any.
type Outcome = (RecordStore, Option<anyhow::Error>);

/// The workers' counters: assemblers, and decoders with the UDP datagrams
/// they dropped.
struct Counts {
    assembler: AssemblerStats,
    decode: Vec<(DecodeStats, u64)>,
}

impl Counts {
    fn add(&mut self, assembler: &AssemblerStats, decode: (DecodeStats, u64)) {
        self.assembler.add(assembler);
        self.decode.push(decode);
    }
}

/// The lane of worker `w` of `workers`.
fn lane<'d>(w: usize, opts: &EngineOptions, workers: usize, defrag: &'d Mutex<Defrag>) -> Lane<'d> {
    Lane {
        w: w as u32,
        decoding: Decoding::new(opts.decoder, workers, opts.udp),
        defrag,
    }
}

/// Batches a reader may be ahead of a worker in the direct mode.
pub const AHEAD: usize = 4;

/// The direct mode: each worker drives its own part of the split sink; the
/// calling thread only reads and decodes. Returns the flow records (after a
/// sink error, those closed before it: the workers are not asked to complete
/// their open flows).
fn run_direct<'m>(
    parts: Vec<Box<dyn Sink + Send>>,
    source: &mut Source<'_, 'm>,
    defrag: &Mutex<Defrag>,
    counts: &mut Counts,
) -> anyhow::Result<Outcome> {
    let failed = AtomicBool::new(false);
    if parts.len() == 1 {
        return run_inline(parts, source, defrag, counts, &failed);
    }
    let opts = source.opts;
    let workers = parts.len();
    std::thread::scope(|scope| -> anyhow::Result<Outcome> {
        let mut job_txs = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for (w, part) in parts.into_iter().enumerate() {
            let (tx, rx) = mpsc::sync_channel::<Job<'m>>(AHEAD);
            job_txs.push(tx);
            let failed = &failed;
            let lane = lane(w, opts, workers, defrag);
            handles.push(
                std::thread::Builder::new()
                    .name(format!("streamcut-worker-{w}"))
                    .spawn_scoped(scope, move || direct_loop(lane, opts, rx, part, failed))?,
            );
        }
        let mut finished = false;
        // The reading thread decodes for the workers while they are behind.
        let mut helper = Decoding::new(opts.decoder, workers, opts.udp);
        let mut queued: VecDeque<Arc<Batch<'m>>> = VecDeque::with_capacity(AHEAD + 2);
        while !finished && !failed.load(Ordering::Relaxed) {
            let mut batch = source.batch();
            finished = source.fill(&mut batch)?;
            let b = Arc::new(batch);
            // Batches every worker is done with go back to the pool now.
            queued.retain(|q| Arc::strong_count(q) > 1);
            queued.push_back(Arc::clone(&b));
            for tx in &job_txs {
                hand_out(tx, Job::Batch(Arc::clone(&b)), &queued, &mut helper);
            }
        }
        counts.decode.push(helper.counts());
        if finished {
            for tx in &job_txs {
                let _ = tx.send(Job::Finish);
            }
        }
        drop(job_txs);
        let mut records = RecordStore::in_memory();
        let mut first_error = None;
        for h in handles {
            let done = h
                .join()
                .map_err(|_| anyhow::anyhow!("a worker thread panicked"))?;
            counts.add(&done.stats, done.decode);
            records.append(done.records);
            if first_error.is_none() {
                first_error = done.error;
            }
        }
        Ok((records, first_error.map(|e| e.context("writing output"))))
    })
}

/// Send `job` to a worker; while its queue is full, decode slices of the
/// `queued` batches nobody has claimed yet, and only when there are none,
/// wait. A send fails only when the worker stopped on an error, which it
/// reports when joined.
fn hand_out<'m>(
    tx: &mpsc::SyncSender<Job<'m>>,
    mut job: Job<'m>,
    queued: &VecDeque<Arc<Batch<'m>>>,
    helper: &mut Decoding,
) {
    loop {
        match tx.try_send(job) {
            Err(mpsc::TrySendError::Full(j)) => {
                if !queued.iter().any(|b| b.decode_one(helper)) {
                    let _ = tx.send(j);
                    return;
                }
                job = j;
            }
            Ok(()) | Err(mpsc::TrySendError::Disconnected(_)) => return,
        }
    }
}

/// The direct mode with one worker, run on the calling thread: it reads a
/// batch, then assembles it, so `--threads 1` uses one CPU. Same batches, same
/// calls in the same order as with a worker thread.
fn run_inline<'m>(
    parts: Vec<Box<dyn Sink + Send>>,
    source: &mut Source<'_, 'm>,
    defrag: &Mutex<Defrag>,
    counts: &mut Counts,
    failed: &AtomicBool,
) -> anyhow::Result<Outcome> {
    let Some(part) = parts.into_iter().next() else {
        return Ok((RecordStore::in_memory(), None));
    };
    let opts = source.opts;
    let lane = lane(0, opts, 1, defrag);
    let mut read_error = None;
    // Batches until the end of input, then `Finish`; a read error ends the
    // jobs without `Finish`, as a closed channel does for a worker thread.
    let mut end = false;
    let mut done = false;
    let jobs = std::iter::from_fn(|| {
        if done {
            return None;
        }
        if end {
            done = true;
            return Some(Job::Finish);
        }
        let mut batch = source.batch();
        match source.fill(&mut batch) {
            Ok(last) => {
                end = last;
                Some(Job::Batch(Arc::new(batch)))
            }
            Err(e) => {
                read_error = Some(e);
                done = true;
                None
            }
        }
    });
    let finished = direct_loop(lane, opts, jobs, part, failed);
    if let Some(e) = read_error {
        return Err(e);
    }
    counts.add(&finished.stats, finished.decode);
    Ok((
        finished.records,
        finished.error.map(|e| e.context("writing output")),
    ))
}

/// The replay mode: workers record sink calls, the calling thread replays
/// them into `sink` in (position, flow) order. Returns the flow records
/// (after a sink error, those closed before it).
fn run_replay<'m>(
    workers: usize,
    map: &'m [u8],
    sink: &mut dyn Sink,
    source: &mut Source<'_, 'm>,
    defrag: &Mutex<Defrag>,
    counts: &mut Counts,
) -> anyhow::Result<Outcome> {
    let opts = source.opts;
    let map_range = (!map.is_empty()).then_some((map.as_ptr() as usize, map.len()));
    let mut replay = Replay {
        sink,
        map,
        heads: HashMap::new(),
        records: RecordStore::spilling(opts.records_in_memory, opts.spill_dir.clone()),
    };
    let outcome = std::thread::scope(|scope| -> anyhow::Result<()> {
        let (done_tx, done_rx) = mpsc::channel();
        let mut job_txs = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = mpsc::channel::<Job<'_>>();
            job_txs.push(tx);
            let done = done_tx.clone();
            let lane = lane(w, opts, workers, defrag);
            std::thread::Builder::new()
                .name(format!("streamcut-worker-{w}"))
                .spawn_scoped(scope, move || worker_loop(lane, opts, map_range, rx, done))?;
        }
        drop(done_tx);
        let mut pending: Option<Arc<Batch<'_>>> = None;
        let mut finished = false;
        while !finished {
            // Fill the next batch while the workers run the previous one.
            let mut batch = source.batch();
            finished = source.fill(&mut batch)?;
            // Collect the previous round, then start this one.
            if let Some(prev) = pending.take() {
                let logs = collect(&done_rx, workers, counts)?;
                replay.apply(logs, &prev.arena)?;
            }
            let b = Arc::new(batch);
            for tx in &job_txs {
                tx.send(Job::Batch(Arc::clone(&b)))
                    .map_err(|_| anyhow::anyhow!("a worker thread stopped"))?;
            }
            pending = Some(b);
        }
        if let Some(prev) = pending.take() {
            let logs = collect(&done_rx, workers, counts)?;
            replay.apply(logs, &prev.arena)?;
        }
        for tx in &job_txs {
            tx.send(Job::Finish)
                .map_err(|_| anyhow::anyhow!("a worker thread stopped"))?;
        }
        let logs = collect(&done_rx, workers, counts)?;
        replay.apply(logs, &[])?;
        drop(job_txs);
        Ok(())
    });
    Ok((replay.records, outcome.err()))
}

/// Wait for every worker's log of one round, in worker order.
fn collect(
    done: &mpsc::Receiver<Round>,
    workers: usize,
    counts: &mut Counts,
) -> anyhow::Result<Vec<Log>> {
    let mut logs: Vec<Option<Log>> = (0..workers).map(|_| None).collect();
    for _ in 0..workers {
        let Ok(Round::Done(w, log, stats)) = done.recv() else {
            anyhow::bail!("a worker thread stopped");
        };
        if let Some((assembler, decode)) = stats.map(|b| *b) {
            counts.add(&assembler, decode);
        }
        if let Some(slot) = logs.get_mut(w as usize) {
            *slot = Some(log);
        }
    }
    Ok(logs.into_iter().map(Option::unwrap_or_default).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A replay worker that panics (or stops on an error) tells the calling
    /// thread, which would otherwise wait for its log while the other
    /// workers wait for their next job.
    #[test]
    fn a_stopped_replay_worker_does_not_leave_the_reader_waiting() {
        let (done_tx, done_rx) = mpsc::channel();
        // A worker still alive, waiting for its next job.
        let idle = done_tx.clone();
        let dying = std::thread::spawn(move || {
            let _farewell = Farewell {
                done: &done_tx,
                finished: false,
            };
            panic!("a bug in a worker");
        });
        assert!(dying.join().is_err());
        let (out_tx, out_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut counts = Counts {
                assembler: AssemblerStats::default(),
                decode: Vec::new(),
            };
            let _ = out_tx.send(collect(&done_rx, 2, &mut counts).is_err());
        });
        let stopped = out_rx.recv_timeout(Duration::from_secs(30));
        assert_eq!(stopped, Ok(true), "the round must end with an error");
        drop(idle);
    }
}
