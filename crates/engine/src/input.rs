//! Where frames come from, and the reading side of a run.
//!
//! An [`Input`] is a set of capture files (memory-mapped, several merged by
//! timestamp; standard input and gzip/zstd streams read as they come) or any
//! [`FrameSource`] — the live DPDK ingest implements it. The reading thread
//! walks the input, applies the filter, notes where housekeeping ticks fall
//! ([`crate::housekeeping`]) and cuts batches for the workers. Frames of
//! one memory-mapped capture are borrowed from the map (zero copy); frames
//! from anywhere else are copied once into the batch.
//!
//! # Damaged input
//! A capture error ([`pcapread::Error`]: truncation, impossible lengths, ...)
//! ends that input only. It is recorded as an input [`Problem`] with its byte
//! offset; every frame before it was processed, the other inputs go on, and
//! [`Summary::complete`](crate::Summary::complete) turns false.
//!
//! # Interrupts
//! A run given an interrupt flag ([`Engine::interrupt`](crate::Engine::interrupt))
//! checks it before each frame: once it is set, reading ends there as if the
//! input had ended (frames already read are processed, open flows are
//! completed as at the end of input), and
//! [`Summary::interrupted`](crate::Summary::interrupted) is true. A read
//! blocked on a silent pipe sees the flag when its next bytes (or its end)
//! arrive.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pcapread::{CaptureInfo, CaptureReader, Frame, LinkType, MergedReader, SliceReader};

use std::sync::atomic::{AtomicBool, Ordering};

use crate::batch::{Batch, Decoding, Spares, Tick};
use crate::housekeeping::Clock;

/// Where a run's frames come from.
pub enum Input<'a> {
    /// Capture files (pcap or pcapng, optionally gzip or zstd compressed;
    /// `-` is standard input), read as one set merged by timestamp. Frames
    /// are numbered 1.. in that order.
    Files(Vec<PathBuf>),
    /// Frames from anywhere else (a live capture). A source borrowed for
    /// the run is `Box::new(&mut source)`.
    Frames(Box<dyn FrameSource + 'a>),
}

impl std::fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::Files(p) => f.debug_tuple("Files").field(p).finish(),
            Input::Frames(_) => f.write_str("Frames(..)"),
        }
    }
}

impl Input<'_> {
    /// Capture files.
    pub fn files<P: Into<PathBuf>>(paths: impl IntoIterator<Item = P>) -> Input<'static> {
        Input::Files(paths.into_iter().map(Into::into).collect())
    }
}

/// What a [`FrameSource`] has next.
#[derive(Debug)]
pub enum Next<'f> {
    /// A frame. Its `number` must grow by one from frame to frame, from 1;
    /// its bytes need only live until the next call.
    Frame(Frame<'f>),
    /// Nothing for now (a live port with no traffic): the engine hands the
    /// frames it holds to the workers. With `now`, packet time has moved on
    /// to `now` (ns) without packets, which may be due a housekeeping tick.
    Idle {
        /// Packet time now, when the source's times come from a clock.
        now: Option<u64>,
    },
    /// No more frames.
    End,
}

/// Frames from something other than capture files: the live DPDK ingest, a
/// test, a tool's own reader. The engine calls it from the thread that runs
/// the engine; it may block, but should come back with [`Next::Idle`] now
/// and then when no frames come, so held frames do not wait.
pub trait FrameSource {
    /// The link types its frames will have (the filter is compiled for them).
    fn link_types(&self) -> Vec<LinkType>;

    /// The next frame. An error stops the run (it is returned as fatal).
    fn next(&mut self) -> anyhow::Result<Next<'_>>;
}

impl<S: FrameSource + ?Sized> FrameSource for &mut S {
    fn link_types(&self) -> Vec<LinkType> {
        (**self).link_types()
    }
    fn next(&mut self) -> anyhow::Result<Next<'_>> {
        (**self).next()
    }
}

/// Told how far the reading has come, now and then (every 4096 frames).
pub trait Progress {
    /// `frames` read, `bytes` of input behind us.
    fn update(&mut self, frames: u64, bytes: u64);
}

/// Frames between [`Progress::update`] calls.
const PROGRESS_EVERY: u64 = 4096;

/// Something wrong with one input: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Byte offset in the file (in the decompressed stream for compressed
    /// input), when the problem has one.
    pub offset: Option<u64>,
    /// What went wrong (names the file).
    pub message: String,
}

impl Problem {
    fn of(e: &pcapread::Error) -> Problem {
        Problem {
            offset: e.offset(),
            message: e.to_string(),
        }
    }
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

/// The file a capture error names.
fn error_file(e: &pcapread::Error) -> &Path {
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

/// Capture files opened: a report per path (in the order given), the
/// readers of those that opened, and for each reader the index of its report.
pub(crate) struct Opened {
    reports: Vec<InputReport>,
    readers: Vec<CaptureReader>,
    report_of: Vec<usize>,
}

impl Opened {
    /// Open every path; one that cannot be opened becomes a problem in its report.
    pub(crate) fn open(paths: &[PathBuf]) -> Opened {
        let mut o = Opened {
            reports: Vec::with_capacity(paths.len()),
            readers: Vec::new(),
            report_of: Vec::new(),
        };
        for path in paths {
            match CaptureReader::open(path) {
                Ok(r) => {
                    o.report_of.push(o.reports.len());
                    o.reports.push(InputReport {
                        path: path.clone(),
                        info: Some(r.info().clone()),
                        frames: 0,
                        problems: Vec::new(),
                    });
                    o.readers.push(r);
                }
                Err(e) => o.reports.push(InputReport {
                    path: path.clone(),
                    info: None,
                    frames: 0,
                    problems: vec![Problem::of(&e)],
                }),
            }
        }
        o
    }

    /// The one memory-mapped reader, when the files are exactly that: its
    /// frames can be borrowed from the map for the whole run.
    pub(crate) fn take_mapped(&mut self) -> Option<CaptureReader> {
        if self.readers.len() == 1 && self.readers[0].mapped_bytes().is_some() {
            self.readers.pop()
        } else {
            None
        }
    }

    /// Link types the readers announce (Ethernet when none does).
    pub(crate) fn link_types(&self, mapped: Option<&CaptureReader>) -> Vec<LinkType> {
        let mut known: Vec<LinkType> = self
            .readers
            .iter()
            .chain(mapped)
            .flat_map(|r| r.info().link_types())
            .collect();
        if known.is_empty() {
            known.push(LinkType::ETHERNET);
        }
        known
    }
}

/// Frames come from here.
enum Frames<'a, 'm> {
    /// The zero-copy slice of one mapped capture.
    Mapped(SliceReader<'m>),
    /// Timestamp-merged readers (payloads copied into the batch).
    Merged(MergedReader),
    /// Anything else (payloads copied into the batch).
    Source(Box<dyn FrameSource + 'a>),
}

/// The reading side of a run: frames in, filtered frames out in batches.
pub(crate) struct Reading<'a, 'm> {
    frames: Frames<'a, 'm>,
    gate: Gate<'a>,
    reports: Vec<InputReport>,
    report_of: Vec<usize>,
    /// Where each input has been read up to.
    offsets: Vec<u64>,
    mapped_problem: Option<Problem>,
    spares: Arc<Spares<'m>>,
    /// Reading stops (as at the end of input) once this is set.
    interrupt: Option<&'a AtomicBool>,
    /// Whether it did.
    interrupted: bool,
}

/// What every frame read passes through before it joins a batch: counted,
/// the housekeeping tick due before it queued, progress told, filtered.
struct Gate<'a> {
    #[cfg(feature = "bpf")]
    filter: Option<crate::filter::BpfFilter>,
    filtered_out: u64,
    clock: Clock,
    tick: u64,
    progress: Option<&'a mut dyn Progress>,
    frames_read: u64,
    /// Number of the last frame read.
    last_frame: u64,
}

impl Gate<'_> {
    /// Count `frame` (`bytes` of input behind us), queue the tick due
    /// before it, report progress; whether the filter lets it through.
    fn admit(
        &mut self,
        frame: &Frame<'_>,
        batch: &mut Batch<'_>,
        bytes: u64,
    ) -> anyhow::Result<bool> {
        self.frames_read += 1;
        self.last_frame = frame.number;
        if let Some(p) = &mut self.progress {
            if frame.number % PROGRESS_EVERY == 0 {
                p.update(frame.number, bytes);
            }
        }
        if let Some(now) = self.clock.due(frame.ts, self.tick) {
            batch.push_tick(Tick {
                frame: frame.number,
                now,
            });
        }
        #[cfg(feature = "bpf")]
        if let Some(f) = &mut self.filter {
            if !f.matches(frame.link_type, frame.data)? {
                self.filtered_out += 1;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Packet time reached `now` without a frame: queue the tick due then,
    /// before the next frame.
    fn idle(&mut self, now: u64, batch: &mut Batch<'_>) {
        if let Some(at) = self.clock.due(now, self.tick) {
            batch.push_tick(Tick {
                frame: self.last_frame.saturating_add(1),
                now: at,
            });
        }
    }
}

/// What the reading side tells the summary.
pub(crate) struct ReadingEnd {
    pub(crate) inputs: Vec<InputReport>,
    pub(crate) frames: u64,
    pub(crate) filtered_out: u64,
    pub(crate) interrupted: bool,
}

impl<'a, 'm> Reading<'a, 'm> {
    /// Reading `opened` (with its one mapped reader taken out as `mapped`,
    /// if any) or `source`.
    pub(crate) fn new(
        opened: Opened,
        mapped: Option<&'m CaptureReader>,
        source: Option<Box<dyn FrameSource + 'a>>,
        opts: &crate::EngineOptions,
        progress: Option<&'a mut dyn Progress>,
        interrupt: Option<&'a AtomicBool>,
    ) -> anyhow::Result<Reading<'a, 'm>> {
        let known = match &source {
            Some(s) => s.link_types(),
            None => opened.link_types(mapped),
        };
        let Opened {
            reports,
            readers,
            report_of,
        } = opened;
        #[cfg(feature = "bpf")]
        let filter = {
            let mut filter = opts.filter.clone();
            if let Some(f) = &mut filter {
                for lt in known {
                    f.prepare(lt)?;
                }
            }
            filter
        };
        #[cfg(not(feature = "bpf"))]
        let _ = (known, opts);
        let n = reports.len().max(1);
        let frames = match (source, mapped) {
            (Some(s), _) => Frames::Source(s),
            (None, Some(r)) => match r.slice_reader() {
                Some(s) => Frames::Mapped(s.with_input(0)),
                None => Frames::Merged(MergedReader::new(Vec::new())),
            },
            (None, None) => Frames::Merged(MergedReader::new(readers)),
        };
        Ok(Reading {
            frames,
            gate: Gate {
                #[cfg(feature = "bpf")]
                filter,
                filtered_out: 0,
                clock: Clock::default(),
                tick: opts.housekeeping.tick.max(1),
                progress,
                frames_read: 0,
                last_frame: 0,
            },
            reports,
            report_of,
            offsets: vec![0u64; n],
            mapped_problem: None,
            spares: Arc::default(),
            interrupt,
            interrupted: false,
        })
    }

    /// An empty batch.
    pub(crate) fn batch(&self) -> Batch<'m> {
        Batch::new(&self.spares)
    }

    /// Fill `batch` up to its size; true at the end of the input. An error
    /// is fatal (a filter that fails, a frame source that fails).
    pub(crate) fn fill(&mut self, batch: &mut Batch<'m>) -> anyhow::Result<bool> {
        self.fill_helping(batch, None)
    }

    /// [`Self::fill`], decoding each slice as soon as it is read with `help`'s
    /// decoder for as long as its flag says the workers are busy.
    pub(crate) fn fill_helping(
        &mut self,
        batch: &mut Batch<'m>,
        mut help: Option<(&mut Decoding, &AtomicBool)>,
    ) -> anyhow::Result<bool> {
        while !batch.is_full() {
            if self.interrupt.is_some_and(|i| i.load(Ordering::Relaxed)) {
                self.interrupted = true;
                return Ok(true);
            }
            if let Some((dec, busy)) = &mut help {
                if busy.load(Ordering::Relaxed) {
                    batch.decode_read(dec);
                } else {
                    help = None;
                }
            }
            match &mut self.frames {
                Frames::Mapped(s) => match s.next() {
                    None => return Ok(true),
                    Some(Err(e)) => {
                        self.mapped_problem = Some(Problem::of(&e));
                        return Ok(true);
                    }
                    Some(Ok(frame)) => {
                        self.offsets[0] = frame.file_offset.saturating_add(u64::from(frame.caplen));
                        let bytes = self.offsets[0];
                        if self.gate.admit(&frame, batch, bytes)? {
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
                            rep.problems.push(Problem::of(&e));
                        }
                    }
                    Ok(Some(frame)) => {
                        if let Some(o) = self.offsets.get_mut(usize::from(frame.input)) {
                            *o = frame.file_offset.saturating_add(u64::from(frame.caplen));
                        }
                        let bytes = self.offsets.iter().sum();
                        // The frame borrows the reader: the other fields one by one.
                        let admitted = self.gate.admit(&frame, batch, bytes)?;
                        if admitted {
                            batch.push_copied(&frame);
                        }
                    }
                },
                Frames::Source(src) => match src.next()? {
                    Next::End => return Ok(true),
                    Next::Idle { now } => {
                        if let Some(now) = now {
                            self.gate.idle(now, batch);
                        }
                        if !batch.is_empty() {
                            return Ok(false);
                        }
                    }
                    Next::Frame(frame) => {
                        let bytes = 0;
                        let admitted = self.gate.admit(&frame, batch, bytes)?;
                        if admitted {
                            batch.push_copied(&frame);
                        }
                    }
                },
            }
        }
        Ok(false)
    }

    /// Done reading: the input reports, completed from the readers.
    pub(crate) fn end(self, mapped: Option<&CaptureReader>) -> ReadingEnd {
        let Reading {
            frames,
            gate,
            mut reports,
            report_of,
            mapped_problem,
            interrupted,
            ..
        } = self;
        let Gate {
            frames_read,
            filtered_out,
            ..
        } = gate;
        match (&frames, mapped) {
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
        ReadingEnd {
            inputs: reports,
            frames: frames_read,
            filtered_out,
            interrupted,
        }
    }
}
