//! The extraction engine: capture files in, reassembled flows out to a [`Sink`].
//!
//! One pass over the inputs, merged by timestamp ([`MergedReader`]; frames are
//! numbered 1.. in that order):
//! 1. each frame optionally passes the `--filter` BPF program ([`BpfFilter`]);
//! 2. the [`Decoder`] turns it into a TCP segment or UDP datagram (UDP is
//!    dropped unless [`EngineOptions::udp`]);
//! 3. the segment goes to the [`Assembler`] of its shard
//!    (`FlowKey::shard(workers)`); each flow's stream hashes and counts what it
//!    receives and pushes it to the sink;
//! 4. housekeeping runs on packet time only (see [`Housekeeping`]), and
//!    `flush_all` completes every flow at the end.
//!
//! # Determinism
//! Everything that decides the output is a function of the packets: flow ids
//! are frame numbers, housekeeping ticks come from packet timestamps at fixed
//! boundaries (multiples of [`Housekeeping::tick`] since the epoch), and the
//! assembler completes flows in a fixed order. [`run`] hands sinks that do not
//! need live deliveries to the parallel engine ([`crate::parallel`]), which
//! routes each segment to worker `FlowKey::shard(n)`, broadcasts the same ticks
//! to every worker and replays the workers' sink calls in an order fixed by the
//! input, so the output is the same for any `--threads`.
//!
//! # Damaged input
//! A capture error ([`pcapread::Error`]: truncation, impossible lengths, ...)
//! ends that input only. It is recorded as an input [`Problem`] with its byte
//! offset; every frame before it was processed, the other inputs go on, and
//! [`Summary::complete`] turns false (the CLI exits with status 1).

use std::borrow::Cow;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use pcapread::{
    CaptureInfo, CaptureReader, DecodeStats, Decoder, DecoderConfig, Frame, LinkType, MergedReader,
    Proto, Segment, Transport,
};
use reassembly::{
    Accept, AcceptInfo, Assembler, AssemblerConfig, AssemblerStats, Completion, Conflict, Dir,
    ScatterGather, Stream, StreamFactory, StreamInfo,
};
use sha2::{Digest, Sha256};

use crate::filter::BpfFilter;
use crate::flow::{DirRecord, FlowHead, FlowRecord};
use crate::progress::Progress;
use crate::records::{RecordStore, Spilled};
use crate::sink::{Collector, Sink};

/// What goes into a direction's output where bytes are missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GapMode {
    /// Nothing: missing bytes are left out (the manifest lists the gaps).
    #[default]
    Skip,
    /// Zero bytes: each gap is filled with `min(gap length, cap)` zeros.
    Zero {
        /// Most zero bytes written for one gap.
        cap: u64,
    },
}

impl GapMode {
    /// `"skip"` or `"zero"`.
    pub fn name(self) -> &'static str {
        match self {
            GapMode::Skip => "skip",
            GapMode::Zero { .. } => "zero",
        }
    }
}

/// When the engine asks the assembler to give up on holes and idle flows.
///
/// At the first frame whose timestamp reaches the next multiple of `tick`
/// (nanoseconds since the epoch), with `now` that multiple: holes whose data
/// has waited since before `now - flush_after` are skipped
/// ([`Assembler::flush_older_than`]) and idle or ended flows are completed
/// ([`Assembler::expire`], using the idle timeouts of [`AssemblerConfig`]).
/// Only packet timestamps decide when this happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Housekeeping {
    /// Interval between housekeeping rounds (ns of packet time).
    pub tick: u64,
    /// How long out-of-order data may wait for a hole to fill (ns).
    pub flush_after: u64,
}

impl Default for Housekeeping {
    /// Every second of packet time; holes wait up to 120 seconds.
    fn default() -> Self {
        Housekeeping {
            tick: 1_000_000_000,
            flush_after: 120 * 1_000_000_000,
        }
    }
}

/// Everything the engine needs to know.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Capture files, read as one timestamp-merged set (`-` is standard input).
    pub inputs: Vec<PathBuf>,
    /// Reassemble UDP flows too (default: TCP only).
    pub udp: bool,
    /// A tcpdump filter expression applied to every frame.
    pub filter: Option<String>,
    /// Assembler worker threads (output is identical for any value); 0
    /// picks automatically: one per CPU when the sink splits into one part
    /// per worker, one fewer when the reading thread replays every write.
    /// One worker with a sink that splits runs on the calling thread.
    pub threads: usize,
    /// What to write for missing bytes.
    pub gaps: GapMode,
    /// Reassembly options (overlap policy, caps, timeouts).
    pub assembler: AssemblerConfig,
    /// Decoder options (defragmentation limits, tunnel depth).
    pub decoder: DecoderConfig,
    /// Housekeeping schedule.
    pub housekeeping: Housekeeping,
    /// Show a progress bar on standard error (only when it is a terminal).
    pub progress: bool,
    /// A policy map file (`CIDR POLICY` lines) choosing the overlap policy by
    /// receiving host; loaded by [`run`] into `assembler.policy_map`.
    pub policy_map: Option<PathBuf>,
    /// Write every overlap conflict to this file as JSON lines.
    pub conflicts: Option<PathBuf>,
    /// Compute each direction's SHA-256 (the costliest step of reassembly
    /// without output: `--no-digest` turns it off).
    pub digest: bool,
    /// Flow records each worker holds in memory before writing them to a
    /// temporary file (see [`crate::records`]).
    pub records_in_memory: usize,
    /// Where that temporary file's directory is made (default: the
    /// system's temporary directory; `extract` uses its output directory).
    pub spill_dir: Option<PathBuf>,
}

impl EngineOptions {
    /// Defaults for `inputs`: TCP only, no filter, gaps skipped.
    pub fn new(inputs: Vec<PathBuf>) -> EngineOptions {
        EngineOptions {
            inputs,
            udp: false,
            filter: None,
            threads: 1,
            gaps: GapMode::Skip,
            assembler: AssemblerConfig::default(),
            decoder: DecoderConfig::default(),
            housekeeping: Housekeeping::default(),
            progress: false,
            policy_map: None,
            conflicts: None,
            digest: true,
            records_in_memory: crate::records::SPILL_AT,
            spill_dir: None,
        }
    }
}

/// Something wrong with one input: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Byte offset in the file (in the decompressed stream for compressed
    /// input), when the problem has one.
    pub offset: Option<u64>,
    /// What went wrong (names the file).
    pub message: String,
}

/// What was read from one input.
#[derive(Debug, Clone)]
pub struct InputReport {
    /// The path as given.
    pub path: PathBuf,
    /// Format and interfaces, when the file could be opened.
    pub info: Option<CaptureInfo>,
    /// Frames read from it.
    pub frames: u64,
    /// Problems met (reading stopped at the first one).
    pub problems: Vec<Problem>,
}

impl InputReport {
    /// Distinct link types of the input, in order of appearance.
    pub fn link_types(&self) -> Vec<LinkType> {
        self.info
            .as_ref()
            .map(CaptureInfo::link_types)
            .unwrap_or_default()
    }
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// One report per input, in the order given.
    pub inputs: Vec<InputReport>,
    /// Frames read over all inputs.
    pub frames: u64,
    /// Frames the filter rejected.
    pub filtered_out: u64,
    /// UDP datagrams not reassembled because UDP was not asked for.
    pub udp_ignored: u64,
    /// Decoder counters (frames, link types, skips by reason).
    pub decode: DecodeStats,
    /// Assembler counters.
    pub assembler: AssemblerStats,
    /// The flows whose records stayed in memory, sorted by id: every flow
    /// unless some were written out to disk ([`Self::spilled`]). Read all
    /// of them with [`Self::records`].
    pub flows: Vec<FlowRecord>,
    /// The flows whose records were written out to disk (a run with more
    /// flows than [`EngineOptions::records_in_memory`]).
    pub spilled: Spilled,
}

impl Summary {
    /// Every flow's record, in id order (those in [`Self::flows`] merged
    /// with those spilled to disk). A spill file that cannot be read back
    /// ends the sequence with its error.
    pub fn records(&self) -> impl Iterator<Item = anyhow::Result<Cow<'_, FlowRecord>>> + '_ {
        crate::records::sorted(&self.flows, &self.spilled)
    }

    /// How many flows there are (in memory and spilled).
    pub fn flow_count(&self) -> usize {
        self.flows.len() + self.spilled.len()
    }

    /// Whether every input was read to its end without problems.
    pub fn complete(&self) -> bool {
        self.inputs.iter().all(|i| i.problems.is_empty())
    }

    /// Every problem with its input.
    pub fn problems(&self) -> impl Iterator<Item = (&Path, &Problem)> {
        self.inputs
            .iter()
            .flat_map(|i| i.problems.iter().map(move |p| (i.path.as_path(), p)))
    }
}

/// Run the engine over `opts.inputs`, pushing every flow into `sink`.
///
/// Errors are fatal ones only: a filter that does not compile, or a sink
/// error (a full disk). Damaged or unreadable inputs are [`Problem`]s in the
/// summary instead.
pub fn run(opts: &EngineOptions, sink: &mut dyn Sink) -> anyhow::Result<Summary> {
    let (summary, stop) = run_partial(opts, sink)?;
    match stop {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// [`run`], telling apart errors before anything was done (`Err`: a filter
/// that does not compile, an unreadable policy map) from an error that
/// stopped the run part way (`Ok((summary, Some(error)))`: a sink error such
/// as a full disk). Then the summary covers the frames read so far, and its
/// flows are those whose [`Sink::close`] returned before the error. (The
/// sequential engine, used for sinks that want deliveries, reports such an
/// error as `Err`.)
pub fn run_partial(
    opts: &EngineOptions,
    sink: &mut dyn Sink,
) -> anyhow::Result<(Summary, Option<anyhow::Error>)> {
    let mut owned;
    let mut opts = opts;
    if let Some(path) = &opts.policy_map {
        owned = opts.clone();
        owned.assembler.policy_map = reassembly::PolicyMap::from_file(path)?;
        owned.policy_map = None;
        opts = &owned;
    }
    match &opts.conflicts {
        Some(path) => {
            let mut tee = crate::conflicts::ConflictTee::create(path, sink)?;
            let (summary, stop) = dispatch(opts, &mut tee)?;
            let stop = stop.or_else(|| tee.finish().err());
            Ok((summary, stop))
        }
        None => dispatch(opts, sink),
    }
}

fn dispatch(
    opts: &EngineOptions,
    sink: &mut dyn Sink,
) -> anyhow::Result<(Summary, Option<anyhow::Error>)> {
    if sink.wants_deliveries() {
        Ok((run_sequential(opts, sink)?, None))
    } else {
        crate::parallel::run_partial(opts, sink)
    }
}

/// The inputs opened: a report per input (in the order given), the readers
/// of those that opened, and for each reader the index of its report.
pub(crate) struct Inputs {
    pub(crate) reports: Vec<InputReport>,
    pub(crate) readers: Vec<CaptureReader>,
    pub(crate) report_of: Vec<usize>,
}

/// Open every input; one that cannot be opened becomes a problem in its report.
pub(crate) fn open_inputs(opts: &EngineOptions) -> Inputs {
    let mut inputs = Inputs {
        reports: Vec::with_capacity(opts.inputs.len()),
        readers: Vec::new(),
        report_of: Vec::new(),
    };
    for path in &opts.inputs {
        match CaptureReader::open(path) {
            Ok(r) => {
                inputs.report_of.push(inputs.reports.len());
                inputs.reports.push(InputReport {
                    path: path.clone(),
                    info: Some(r.info().clone()),
                    frames: 0,
                    problems: Vec::new(),
                });
                inputs.readers.push(r);
            }
            Err(e) => inputs.reports.push(InputReport {
                path: path.clone(),
                info: None,
                frames: 0,
                problems: vec![problem(&e)],
            }),
        }
    }
    inputs
}

/// Compile `--filter` for every link type the inputs announce (and check its
/// syntax even when there is none).
pub(crate) fn prepare_filter(
    opts: &EngineOptions,
    readers: &[CaptureReader],
) -> anyhow::Result<Option<BpfFilter>> {
    let mut filter = opts.filter.as_deref().map(BpfFilter::new);
    if let Some(f) = &mut filter {
        let mut known: Vec<LinkType> = readers.iter().flat_map(|r| r.info().link_types()).collect();
        if known.is_empty() {
            known.push(LinkType::ETHERNET);
        }
        for lt in known {
            f.prepare(lt)?;
        }
    }
    Ok(filter)
}

/// Bytes of the input files (for the progress bar).
pub(crate) fn total_bytes(opts: &EngineOptions) -> u64 {
    opts.inputs
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// The single-threaded engine: one assembler, every sink call made as the
/// assembler produces it (with the live [`ScatterGather`] for
/// [`Sink::delivery`]). [`run`] uses it for sinks that want deliveries
/// (transcripts); everything else goes through [`crate::parallel`].
pub fn run_sequential(opts: &EngineOptions, sink: &mut dyn Sink) -> anyhow::Result<Summary> {
    let Inputs {
        mut reports,
        readers,
        report_of,
    } = open_inputs(opts);
    let mut filter = prepare_filter(opts, &readers)?;
    let mut progress = Progress::new(opts.progress, total_bytes(opts));
    let mut merged = MergedReader::new(readers);
    let mut decoder = Decoder::new(opts.decoder);
    let shared = Shared::new(sink, opts);
    let mut worker = Worker::new(opts.assembler.clone(), &shared);
    let hk = opts.housekeeping;
    let tick = hk.tick.max(1);
    let mut next_tick = 0u64;
    let mut filtered_out = 0u64;
    let mut udp_ignored = 0u64;
    let mut offsets = vec![0u64; merged.inputs().len()];

    loop {
        let frame = match merged.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                let at = merged
                    .inputs()
                    .iter()
                    .position(|r| r.path() == error_file(&e))
                    .and_then(|i| report_of.get(i).copied());
                if let Some(rep) = at.and_then(|i| reports.get_mut(i)) {
                    rep.problems.push(problem(&e));
                }
                continue;
            }
        };
        if let Some(o) = offsets.get_mut(usize::from(frame.input)) {
            *o = frame.file_offset.saturating_add(u64::from(frame.caplen));
        }
        progress.frame(frame.number, offsets.iter().sum());

        if frame.ts >= next_tick {
            let now = frame.ts - frame.ts % tick;
            worker.tick(now, hk.flush_after);
            next_tick = now.saturating_add(tick);
        }
        if let Some(f) = &mut filter {
            if !f.matches(frame.link_type, frame.data)? {
                filtered_out += 1;
                continue;
            }
        }
        let Ok(seg) = decoder.decode(&frame) else {
            continue;
        };
        if !opts.udp && seg.tuple.proto == Proto::Udp {
            udp_ignored += 1;
            continue;
        }
        worker.segment(&seg);
        take_error(&shared)?;
    }
    worker.asm.flush_all();
    take_error(&shared)?;
    progress.finish();

    let frames = merged.frames_read();
    for (i, r) in merged.inputs().iter().enumerate() {
        if let Some(rep) = report_of.get(i).and_then(|&k| reports.get_mut(k)) {
            rep.frames = r.frames_read();
            rep.info = Some(r.info().clone());
        }
    }
    let assembler = worker.asm.stats();
    drop(worker);
    let records = std::mem::replace(&mut shared.borrow_mut().records, RecordStore::discarding());
    let (flows, spilled) = records.finish();
    Ok(Summary {
        inputs: reports,
        frames,
        filtered_out,
        udp_ignored,
        decode: decoder.stats(),
        assembler,
        flows,
        spilled,
    })
}

/// The engine's per-frame stages (filter, decode, UDP choice, assembler,
/// housekeeping on packet time) for frames that come from somewhere other
/// than capture files: the live DPDK mode feeds one pipeline per rx worker.
///
/// It makes the same calls in the same order as [`run`] does for each frame,
/// so the same frames give the same flows, bytes and records.
pub struct FramePipeline<'s> {
    decoder: Decoder,
    filter: Option<BpfFilter>,
    shared: Rc<RefCell<Shared<'s>>>,
    worker: Worker<'s>,
    udp: bool,
    housekeeping: Housekeeping,
    /// Whether frame timestamps drive housekeeping (else only [`Self::tick`]).
    auto_tick: bool,
    next_tick: u64,
    frames: u64,
    filtered_out: u64,
    udp_ignored: u64,
}

/// What a [`FramePipeline`] produced: a [`Summary`] without inputs.
#[derive(Debug, Clone)]
pub struct PipelineSummary {
    /// Frames fed.
    pub frames: u64,
    /// Frames the filter rejected.
    pub filtered_out: u64,
    /// UDP datagrams not reassembled because UDP was not asked for.
    pub udp_ignored: u64,
    /// Decoder counters.
    pub decode: DecodeStats,
    /// Assembler counters.
    pub assembler: AssemblerStats,
    /// The flows whose records stayed in memory, sorted by id (see
    /// [`Summary::flows`]).
    pub flows: Vec<FlowRecord>,
    /// The flows whose records were written out to disk.
    pub spilled: Spilled,
}

impl<'s> FramePipeline<'s> {
    /// A pipeline with `opts` (its `inputs` are not used) writing to `sink`;
    /// frames will have link type `link_type` (the filter is compiled for it).
    pub fn new(
        opts: &EngineOptions,
        link_type: LinkType,
        sink: &'s mut dyn Sink,
    ) -> anyhow::Result<FramePipeline<'s>> {
        let mut filter = opts.filter.as_deref().map(BpfFilter::new);
        if let Some(f) = &mut filter {
            f.prepare(link_type)?;
        }
        let shared = Shared::new(sink, opts);
        let worker = Worker::new(opts.assembler.clone(), &shared);
        Ok(FramePipeline {
            decoder: Decoder::new(opts.decoder),
            filter,
            shared,
            worker,
            udp: opts.udp,
            housekeeping: opts.housekeeping,
            auto_tick: true,
            next_tick: 0,
            frames: 0,
            filtered_out: 0,
            udp_ignored: 0,
        })
    }

    /// A pipeline whose housekeeping runs only when [`Self::tick`] is
    /// called: for a dispatcher that sees every frame and sends the same
    /// ticks, at the same places in the frame sequence, to every shard.
    pub fn with_external_ticks(mut self) -> Self {
        self.auto_tick = false;
        self
    }

    /// Housekeeping when packet time reaches the next tick boundary.
    pub fn advance(&mut self, ts: u64) {
        if let Some(now) = tick_due(ts, &mut self.next_tick, self.housekeeping.tick) {
            self.tick(now);
        }
    }

    /// One housekeeping round at tick boundary `now`.
    pub fn tick(&mut self, now: u64) {
        self.worker.tick(now, self.housekeeping.flush_after);
    }

    /// One frame. Errors are fatal ones (filter, sink).
    pub fn frame(&mut self, frame: &Frame<'_>) -> anyhow::Result<()> {
        self.frames += 1;
        if self.auto_tick {
            self.advance(frame.ts);
        }
        if let Some(f) = &mut self.filter {
            if !f.matches(frame.link_type, frame.data)? {
                self.filtered_out += 1;
                return Ok(());
            }
        }
        let Ok(seg) = self.decoder.decode(frame) else {
            return Ok(());
        };
        Self::assemble(
            &mut self.worker,
            &self.shared,
            self.udp,
            &mut self.udp_ignored,
            &seg,
        )
    }

    /// A segment decoded elsewhere (a datagram a dispatcher defragmented).
    pub fn segment(&mut self, seg: &Segment<'_>) -> anyhow::Result<()> {
        Self::assemble(
            &mut self.worker,
            &self.shared,
            self.udp,
            &mut self.udp_ignored,
            seg,
        )
    }

    fn assemble(
        worker: &mut Worker<'s>,
        shared: &Rc<RefCell<Shared<'s>>>,
        udp: bool,
        udp_ignored: &mut u64,
        seg: &Segment<'_>,
    ) -> anyhow::Result<()> {
        if !udp && seg.tuple.proto == Proto::Udp {
            *udp_ignored += 1;
            return Ok(());
        }
        worker.segment(seg);
        take_error(shared)
    }

    /// End of input: complete every flow and return the counts and records.
    pub fn finish(self) -> anyhow::Result<PipelineSummary> {
        match self.finish_partial() {
            (summary, None) => Ok(summary),
            (_, Some(e)) => Err(e),
        }
    }

    /// [`Self::finish`], with an output error met while completing the
    /// flows returned beside the summary, whose records are then those of
    /// the flows closed before it.
    pub fn finish_partial(mut self) -> (PipelineSummary, Option<anyhow::Error>) {
        self.worker.asm.flush_all();
        let error = take_error(&self.shared).err();
        (self.abandon(), error)
    }

    /// Stop after an output error (here or in a pipeline sharing the sink):
    /// the counts, and the records of the flows closed before it. Flows
    /// still open are not completed (their output was cut short).
    pub fn abandon(self) -> PipelineSummary {
        let assembler = self.worker.asm.stats();
        drop(self.worker);
        let records = std::mem::replace(
            &mut self.shared.borrow_mut().records,
            RecordStore::discarding(),
        );
        let (flows, spilled) = records.finish();
        PipelineSummary {
            frames: self.frames,
            filtered_out: self.filtered_out,
            udp_ignored: self.udp_ignored,
            decode: self.decoder.stats(),
            assembler,
            flows,
            spilled,
        }
    }
}

/// The tick boundary `ts` reaches, if it reaches the next one: the rule
/// [`run`] applies to every frame (boundaries are multiples of `tick` ns).
pub fn tick_due(ts: u64, next_tick: &mut u64, tick: u64) -> Option<u64> {
    if ts < *next_tick {
        return None;
    }
    let tick = tick.max(1);
    let now = ts - ts % tick;
    *next_tick = now.saturating_add(tick);
    Some(now)
}

/// Run the engine into an in-memory [`Collector`]: every flow's bytes by id.
pub fn collect(opts: &EngineOptions) -> anyhow::Result<(Summary, Collector)> {
    let mut c = Collector::default();
    let summary = run(opts, &mut c)?;
    Ok((summary, c))
}

pub(crate) fn problem(e: &pcapread::Error) -> Problem {
    Problem {
        offset: e.offset(),
        message: e.to_string(),
    }
}

/// The file a capture error names.
pub(crate) fn error_file(e: &pcapread::Error) -> &Path {
    use pcapread::Error as E;
    match e {
        E::Io { file, .. }
        | E::BadMagic { file, .. }
        | E::Truncated { file, .. }
        | E::BadLength { file, .. }
        | E::Malformed { file, .. }
        | E::Decompress { file, .. } => file,
    }
}

pub(crate) fn take_error(shared: &Rc<RefCell<Shared<'_>>>) -> anyhow::Result<()> {
    match shared.borrow_mut().error.take() {
        Some(e) => Err(e.context("writing output")),
        None => Ok(()),
    }
}

/// One assembler and its streams (a parallel engine runs one per thread).
pub(crate) struct Worker<'s> {
    pub(crate) asm: Assembler<Factory<'s>>,
}

impl<'s> Worker<'s> {
    pub(crate) fn new(cfg: AssemblerConfig, shared: &Rc<RefCell<Shared<'s>>>) -> Worker<'s> {
        Worker {
            asm: Assembler::new(
                cfg,
                Factory {
                    shared: Rc::clone(shared),
                },
            ),
        }
    }

    pub(crate) fn segment(&mut self, seg: &Segment<'_>) {
        self.asm.assemble(seg);
    }

    pub(crate) fn tick(&mut self, now: u64, flush_after: u64) {
        self.asm.flush_older_than(now.saturating_sub(flush_after));
        self.asm.expire(now);
    }
}

/// State shared by a worker's streams: the sink, the first sink error, and
/// the records of completed flows.
pub(crate) struct Shared<'s> {
    pub(crate) sink: &'s mut dyn Sink,
    pub(crate) error: Option<anyhow::Error>,
    pub(crate) records: RecordStore,
    pub(crate) gaps: GapMode,
    pub(crate) digest: bool,
}

impl<'s> Shared<'s> {
    /// Fresh shared state for the streams of one worker feeding `sink`.
    pub(crate) fn new(sink: &'s mut dyn Sink, opts: &EngineOptions) -> Rc<RefCell<Shared<'s>>> {
        Rc::new(RefCell::new(Shared {
            sink,
            error: None,
            records: RecordStore::spilling(opts.records_in_memory, opts.spill_dir.clone()),
            gaps: opts.gaps,
            digest: opts.digest,
        }))
    }

    /// Call the sink unless an earlier call failed; keep the first error.
    fn call(&mut self, f: impl FnOnce(&mut dyn Sink) -> anyhow::Result<()>) {
        if self.error.is_none() {
            if let Err(e) = f(&mut *self.sink) {
                self.error = Some(e);
            }
        }
    }
}

pub(crate) struct Factory<'s> {
    shared: Rc<RefCell<Shared<'s>>>,
}

impl<'s> StreamFactory for Factory<'s> {
    type Stream = FlowStream<'s>;

    fn new_stream(&mut self, info: &StreamInfo) -> FlowStream<'s> {
        FlowStream {
            shared: Rc::clone(&self.shared),
            head: FlowHead {
                id: info.first_frame,
                proto: info.proto,
                client: info.client.src,
                server: info.client.dst,
                first_ts: info.first_ts,
                syn_seen: info.syn_seen,
                encap: Default::default(),
            },
            opened: false,
            dirs: Default::default(),
        }
    }
}

/// Per-direction running totals.
#[derive(Default)]
struct DirState {
    /// The running digest (`None` when digests are off).
    hasher: Option<Sha256>,
    bytes: u64,
    zero_filled: u64,
    /// Stream offset just past the last byte delivered.
    next_off: u64,
}

/// Zeros for gap filling, written in slices of this buffer.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

pub(crate) struct FlowStream<'s> {
    shared: Rc<RefCell<Shared<'s>>>,
    head: FlowHead,
    opened: bool,
    dirs: [DirState; 2],
}

fn dir_index(dir: Dir) -> usize {
    match dir {
        Dir::ClientToServer => 0,
        Dir::ServerToClient => 1,
    }
}

impl<'s> Stream for FlowStream<'s> {
    type Context = Factory<'s>;

    fn accept(&mut self, seg: &Segment<'_>, _info: &AcceptInfo, _ctx: &mut Factory<'s>) -> Accept {
        if !self.opened {
            // The first packet of the flow: its encapsulation names the flow.
            self.opened = true;
            self.head.encap = seg.encap;
            debug_assert!(matches!(
                (seg.transport, self.head.proto),
                (Transport::Tcp(_), Proto::Tcp) | (Transport::Udp, Proto::Udp)
            ));
            let head = &self.head;
            self.shared.borrow_mut().call(|s| s.open(head));
        }
        Accept::Take
    }

    fn reassembled(&mut self, sg: &mut ScatterGather<'_>, _ctx: &mut Factory<'s>) {
        let dir = sg.dir();
        let st = &mut self.dirs[dir_index(dir)];
        let head = &self.head;
        let mut shared = self.shared.borrow_mut();
        if shared.digest && st.hasher.is_none() {
            st.hasher = Some(Sha256::new());
        }
        // We never call keep_from, so every byte of `sg` is new.
        let off = sg.stream_offset();
        let gap = off.saturating_sub(st.next_off);
        if let GapMode::Zero { cap } = shared.gaps {
            let mut left = gap.min(cap);
            st.zero_filled += left;
            while left > 0 {
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(ZEROS.len());
                let z = &ZEROS[..n];
                if let Some(h) = &mut st.hasher {
                    h.update(z);
                }
                st.bytes += n as u64;
                shared.call(|s| s.write(head, dir, z));
                left -= n as u64;
            }
        }
        for chunk in sg.chunks() {
            if let Some(h) = &mut st.hasher {
                h.update(chunk);
            }
            st.bytes += chunk.len() as u64;
            shared.call(|s| s.write(head, dir, chunk));
        }
        shared.call(|s| s.delivery(head, dir, gap, sg));
        st.next_off = st.next_off.max(off.saturating_add(sg.len() as u64));
        if sg.end() {
            shared.call(|s| s.end_dir(head, dir));
        }
    }

    fn conflict(&mut self, c: &Conflict, _ctx: &mut Factory<'s>) {
        let head = &self.head;
        self.shared.borrow_mut().call(|s| s.conflict(head, c));
    }

    fn complete(&mut self, c: &Completion, _ctx: &mut Factory<'s>) {
        let digest = self.shared.borrow().digest;
        let mut dirs = std::mem::take(&mut self.dirs).map(Some);
        let mut dir_record = |dir: Dir| {
            let st = dirs[dir_index(dir)].take().unwrap_or_default();
            DirRecord {
                bytes: st.bytes,
                packets: c.packets[dir_index(dir)],
                sha256: digest.then(|| st.hasher.unwrap_or_default().finalize().into()),
                zero_filled: st.zero_filled,
                ledger: c.ledger(dir).clone(),
            }
        };
        let mut record = FlowRecord {
            head: self.head.clone(),
            last_frame: c.last_frame,
            last_ts: c.last_ts,
            end: c.reason,
            c2s: dir_record(Dir::ClientToServer),
            s2c: dir_record(Dir::ServerToClient),
            placed: None,
        };
        let mut shared = self.shared.borrow_mut();
        shared.call(|s| s.close(&record));
        // After a sink error, records are kept only of the flows closed
        // before it (a run stopped part way lists those).
        if shared.error.is_none() {
            record.placed = shared.sink.take_placement(record.head.id);
            if let Err(e) = shared.records.push(record) {
                shared.error = Some(e);
            }
        }
    }
}
