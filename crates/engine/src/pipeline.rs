//! The entry points: [`Engine`] (with its shorthands [`run_streams`],
//! [`run_sink`] and [`collect`]) opens the input, builds the workers and
//! drives them (the private `run` module), and builds the [`Summary`].

use std::sync::atomic::AtomicBool;

use reassembly::{AssemblerStats, StreamFactory};

use crate::batch::Batch;
use crate::flow::FlowRecord;
use crate::handoff::{consume, EachRecord};
use crate::input::{FrameSource, Input, Opened, Progress, Reading, ReadingEnd};
use crate::options::EngineOptions;
use crate::replay::{EventLog, Replay};
use crate::run::{cpus, drive, drive_inline, workers, Driven, StreamLane};
use crate::sink::{Collector, Sink};
use crate::sink_stream::{Out, Released, SinkLane};
use crate::spill::RecordStore;
use crate::summary::{Counts, Summary};

/// What a Stream-level run gives back: the summary, and every worker's
/// factory (worker 0 first) with whatever its streams put there.
#[derive(Debug)]
pub struct StreamRun<F> {
    /// Counts and input reports (no flow records: the factories hold what
    /// the streams kept).
    pub summary: Summary,
    /// One factory per worker, in worker order.
    pub factories: Vec<F>,
    /// Each worker's assembler counters (high-water marks are per worker),
    /// in worker order; [`Summary::assembler`] is their sum.
    pub assemblers: Vec<AssemblerStats>,
}

/// One run over one input, with options and an optional progress observer.
pub struct Engine<'a> {
    opts: &'a EngineOptions,
    input: Input<'a>,
    progress: Option<&'a mut dyn Progress>,
    interrupt: Option<&'a AtomicBool>,
    each: Option<&'a mut EachRecord<'a>>,
}

impl<'a> Engine<'a> {
    /// A run of `input` with `opts`.
    pub fn new(opts: &'a EngineOptions, input: Input<'a>) -> Engine<'a> {
        Engine {
            opts,
            input,
            progress: None,
            interrupt: None,
            each: None,
        }
    }

    /// Tell `progress` how far the reading has come, now and then.
    pub fn progress(mut self, progress: &'a mut dyn Progress) -> Engine<'a> {
        self.progress = Some(progress);
        self
    }

    /// Stop reading once `flag` is set (by a signal handler, another
    /// thread): the run then ends as at the end of the input — frames
    /// already read are processed and open flows completed — and its
    /// summary says [`Summary::interrupted`]. Checked before every frame.
    pub fn interrupt(mut self, flag: &'a AtomicBool) -> Engine<'a> {
        self.interrupt = Some(flag);
        self
    }

    /// Sink runs: hand every flow's record to `each`, in id order, on a
    /// thread of its own while the run goes on, instead of keeping them in
    /// the [`Summary`] (whose [`Summary::flows`] and [`Summary::spilled`]
    /// are then empty and [`Summary::handed`] counts them). A record is
    /// handed as soon as no flow with a lower id can still complete, so on a
    /// capture of short flows writing them out overlaps the reassembly; a
    /// flow that stays open holds back the records after it (to disk past
    /// [`EngineOptions::records_in_memory`], handed at the end). The records
    /// and their order are those of [`Summary::records`] without it. An
    /// error from `each` stops the run like a sink error (see
    /// [`Self::run_sink_partial`]).
    pub fn each_record(mut self, each: &'a mut EachRecord<'a>) -> Engine<'a> {
        self.each = Some(each);
        self
    }

    /// Run with the user's streams: `make(w)` builds the [`StreamFactory`]
    /// of worker `w` (of [`EngineOptions::threads`], by default one per
    /// CPU). Each flow lives on the worker its symmetric flow hash picks;
    /// its stream gets [`ScatterGather`](reassembly::ScatterGather)s,
    /// conflicts and completion exactly as from one [`Assembler`](reassembly::Assembler),
    /// with housekeeping by packet time done by the engine, and the factory
    /// as the context of every callback. Per-flow results are the same for
    /// any number of workers. Errors are fatal ones only (a filter that does
    /// not compile, a frame source that fails); damaged capture files are
    /// [`Problem`](crate::Problem)s in the summary.
    pub fn run_streams<F, M>(self, mut make: M) -> anyhow::Result<StreamRun<F>>
    where
        F: StreamFactory + Send,
        F::Stream: Send,
        M: FnMut(usize) -> F,
    {
        let opts = self.opts;
        let n = workers(opts.threads, cpus());
        let lanes: Vec<StreamLane<F>> = (0..n)
            .map(|w| StreamLane::new(opts.assembler.clone(), opts.housekeeping, make(w)))
            .collect();
        let (summary, driven) =
            self.read(|reading, _map| drive(reading, lanes, opts, |_, _| Ok(())))?;
        let assemblers = driven.lanes.iter().map(|l| l.asm.stats()).collect();
        Ok(StreamRun {
            summary: summary.with(RecordStore::discarding()),
            factories: driven
                .lanes
                .into_iter()
                .map(|l| l.asm.into_factory())
                .collect(),
            assemblers,
        })
    }

    /// Run into a bytes [`Sink`] (see [`crate::sink`] for the calls it
    /// gets). Errors are fatal ones and sink errors; see
    /// [`Self::run_sink_partial`] to tell them apart.
    pub fn run_sink(self, sink: &mut dyn Sink) -> anyhow::Result<Summary> {
        match self.run_sink_partial(sink)? {
            (summary, None) => Ok(summary),
            (_, Some(e)) => Err(e),
        }
    }

    /// [`Self::run_sink`], telling apart errors before anything was done
    /// (`Err`: a filter that does not compile) from an error that stopped
    /// the run part way (`Ok((summary, Some(error)))`: a sink error such as
    /// a full disk). The summary then covers the frames read so far, and
    /// its flows are those whose [`Sink::close`] returned before the error.
    ///
    /// How the sink is driven: a sink that [splits](Sink::split) gets
    /// one part per worker, called on the worker's thread (one worker per
    /// CPU by default), deliveries included; a sink that wants deliveries
    /// but does not split runs on one worker on the calling thread; any
    /// other sink gets every call on
    /// the calling thread, replayed in input order from the workers' logs
    /// (CPUs − 1 workers by default). The calls are the same whatever the
    /// number of workers.
    pub fn run_sink_partial(
        mut self,
        sink: &mut dyn Sink,
    ) -> anyhow::Result<(Summary, Option<anyhow::Error>)> {
        let opts = self.opts;
        let each = self.each.take();
        let early = each.is_some();
        let spilling = || RecordStore::spilling(opts.records_in_memory, opts.spill_dir.clone());
        // Workers release the records below their floors after each batch
        // when the records go to a consumer.
        fn lane<O: Out>(
            out: O,
            opts: &EngineOptions,
            early: bool,
            records: RecordStore,
        ) -> SinkLane<O> {
            let lane = SinkLane::new(out, opts, records);
            if early {
                lane.releasing()
            } else {
                lane
            }
        }
        let cpus = cpus();
        // A sink that splits: each worker writes its own flows (and gets
        // their deliveries, when it wants them).
        let parts = sink.split(workers(opts.threads, cpus));
        if let Some(parts) = parts {
            let lanes: Vec<SinkLane<Box<dyn Sink + Send>>> = parts
                .into_iter()
                .map(|p| lane(p, opts, early, spilling()))
                .collect();
            return self.run_direct(each, |engine, hand| {
                engine.read(|reading, _map| drive(reading, lanes, opts, |h, _| hand(released(h))))
            });
        }
        // A sink that wants deliveries but does not split: one worker calls
        // it directly.
        if sink.wants_deliveries() {
            let lane: SinkLane<&mut dyn Sink> = lane(sink, opts, early, spilling());
            return self.run_direct(each, |engine, hand| {
                engine.read(|reading, _map| {
                    drive_inline(reading, lane, opts, |h, _| hand(released(h)))
                })
            });
        }
        // Any other sink: workers log, the calling thread replays (and
        // keeps the records, handing them out as the workers release them).
        let n = workers(opts.threads, cpus.saturating_sub(1));
        let run = |engine: Engine<'a>,
                   hand: &mut dyn FnMut(Vec<FlowRecord>) -> anyhow::Result<()>| {
            let mut records = None;
            let read = engine.read(|reading, map| {
                let lanes: Vec<SinkLane<EventLog>> = (0..n)
                    .map(|_| lane(EventLog::new(map), opts, early, RecordStore::discarding()))
                    .collect();
                let mut replay = Replay::new(sink, map, spilling());
                let replayed = |h: Vec<(crate::replay::Log, Released)>, batch: &Batch<'_>| {
                    let below = h.iter().map(|(_, r)| r.below).min().unwrap_or(0);
                    replay.apply(h.into_iter().map(|(log, _)| log).collect(), &batch.arena)?;
                    // Every close below `below` is replayed by now.
                    let below = below.min(replay.records.spilled_floor().unwrap_or(u64::MAX));
                    if below == 0 {
                        return Ok(());
                    }
                    let mut out = Vec::new();
                    replay.records.release_below(below, &mut out);
                    hand(out)
                };
                let driven = drive(reading, lanes, opts, replayed);
                records = Some(replay.records);
                driven
            });
            let records = records.unwrap_or_else(RecordStore::discarding);
            let read = read.map(|(summary, driven)| {
                (summary, driven.stop.map(|e| e.context("writing output")))
            });
            (read, records)
        };
        self.finish_with(each, run)
    }

    /// A run whose workers write directly: `go` reads the input with the
    /// lanes, handing each round's released records to the function it is
    /// given.
    fn run_direct<O: Out>(
        self,
        each: Option<&mut EachRecord<'_>>,
        go: impl FnOnce(
            Engine<'a>,
            &mut dyn FnMut(Vec<FlowRecord>) -> anyhow::Result<()>,
        ) -> anyhow::Result<(Unsummed, Driven<SinkLane<O>>)>,
    ) -> anyhow::Result<(Summary, Option<anyhow::Error>)> {
        self.finish_with(each, |engine, hand| match go(engine, hand) {
            Ok((summary, driven)) => {
                let (records, stop) = direct_end(driven);
                (Ok((summary, stop)), records)
            }
            Err(e) => (Err(e), RecordStore::discarding()),
        })
    }

    /// Run `go`, which reads the input handing the records released on the
    /// way to the function it is given, and gives back the reading's end
    /// (with the error that stopped the output, if one did) and the records
    /// it kept. The records go to `each`, when there is one (released ones
    /// first, then those kept), else into the summary.
    fn finish_with(
        self,
        each: Option<&mut EachRecord<'_>>,
        go: impl FnOnce(
            Engine<'a>,
            &mut dyn FnMut(Vec<FlowRecord>) -> anyhow::Result<()>,
        ) -> (
            anyhow::Result<(Unsummed, Option<anyhow::Error>)>,
            RecordStore,
        ),
    ) -> anyhow::Result<(Summary, Option<anyhow::Error>)> {
        let Some(each) = each else {
            let (read, records) = go(self, &mut |_| Ok(()));
            let (summary, stop) = read?;
            return Ok((summary.with(records), stop));
        };
        let (read, handed, failed) = consume(each, |hand| go(self, hand))?;
        let (summary, stop) = read?;
        let stop = failed.map(|e| e.context("writing output")).or(stop);
        Ok((summary.handed(handed), stop))
    }

    /// Open the input, read it with `drive`, and close the reading: the
    /// summary (waiting for the records) and what `drive` returned.
    fn read<L>(
        self,
        drive: impl FnOnce(&mut Reading<'_, '_>, &[u8]) -> anyhow::Result<Driven<L>>,
    ) -> anyhow::Result<(Unsummed, Driven<L>)> {
        let Engine {
            opts,
            input,
            progress,
            interrupt,
            each: _,
        } = self;
        let (mut opened, source): (Opened, Option<Box<dyn FrameSource + '_>>) = match input {
            Input::Files(paths) => (Opened::open(&paths), None),
            Input::Frames(s) => (Opened::open(&[]), Some(s)),
        };
        let mapped = opened.take_mapped();
        let map: &[u8] = mapped
            .as_ref()
            .and_then(|r| r.mapped_bytes())
            .unwrap_or(&[]);
        let mut reading = Reading::new(opened, mapped.as_ref(), source, opts, progress, interrupt)?;
        let mut driven = drive(&mut reading, map)?;
        let end = reading.end(mapped.as_ref());
        let counts = std::mem::take(&mut driven.counts);
        Ok((Unsummed { end, counts }, driven))
    }
}

/// A run's summary but for its records.
struct Unsummed {
    end: ReadingEnd,
    counts: Counts,
}

impl Unsummed {
    fn with(self, records: RecordStore) -> Summary {
        Summary::new(self.end, self.counts, records)
    }

    /// The summary of a run that handed `handed` records to a consumer.
    fn handed(self, handed: u64) -> Summary {
        let mut summary = self.with(RecordStore::discarding());
        summary.handed = handed;
        summary
    }
}

/// The end of a run whose workers wrote directly: their records (combined
/// into one store), and the first output error.
fn direct_end<O: Out>(driven: Driven<SinkLane<O>>) -> (RecordStore, Option<anyhow::Error>) {
    let mut records = RecordStore::in_memory();
    let mut first_error = driven.stop;
    for lane in driven.lanes {
        let streams = lane.into_streams();
        records.append(streams.records);
        if first_error.is_none() {
            first_error = streams.error;
        }
    }
    if let Err(e) = records.bound_runs() {
        first_error.get_or_insert(e);
    }
    (records, first_error.map(|e| e.context("writing output")))
}

/// The records the workers released in a round, in id order.
fn released<H>(harvests: Vec<(H, Released)>) -> Vec<FlowRecord> {
    let mut all: Vec<FlowRecord> = harvests.into_iter().flat_map(|(_, r)| r.records).collect();
    all.sort_unstable_by_key(|r| r.head.id);
    all
}

/// [`Engine::run_streams`] without progress.
pub fn run_streams<'a, F, M>(
    opts: &'a EngineOptions,
    input: Input<'a>,
    make: M,
) -> anyhow::Result<StreamRun<F>>
where
    F: StreamFactory + Send,
    F::Stream: Send,
    M: FnMut(usize) -> F,
{
    Engine::new(opts, input).run_streams(make)
}

/// [`Engine::run_sink`] without progress.
pub fn run_sink<'a>(
    opts: &'a EngineOptions,
    input: Input<'a>,
    sink: &mut dyn Sink,
) -> anyhow::Result<Summary> {
    Engine::new(opts, input).run_sink(sink)
}

/// Run into an in-memory [`Collector`]: every flow's bytes by id.
pub fn collect<'a>(
    opts: &'a EngineOptions,
    input: Input<'a>,
) -> anyhow::Result<(Summary, Collector)> {
    let mut c = Collector::default();
    let summary = run_sink(opts, input, &mut c)?;
    Ok((summary, c))
}
