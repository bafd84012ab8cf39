//! `streamcut live -o DIR [options] -- EAL-ARGS...`: capture from a DPDK
//! port into the same output as `extract` (one file per flow direction, or
//! `streams.bin`, and `manifest.json`).
//!
//! Every rx worker owns an [`engine::FramePipeline`] (decoder, filter,
//! assembler), exactly the stages `extract` runs per frame; all pipelines
//! write through one [`FileSink`] behind a mutex, so file naming, packing and
//! placements are the extract code's. When the capture stops, every pipeline
//! is flushed (nothing buffered is lost), the flow records of all workers are
//! merged by id, and the manifest is written as `extract` writes it, with
//! the port in place of the input files.
//!
//! An output error (a full disk) stops the capture as it stops `extract`:
//! no pipeline completes its open flows, the manifest (for which room was
//! kept) is marked incomplete and lists only the flows written in full, and
//! [`run`] returns an [`extract::Stopped`] error.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use pcapread::{DecodeStats, Frame, LinkType};
use reassembly::{AssemblerStats, Conflict, Dir, ScatterGather};

use super::dispatch::{self, Dispatcher};
use super::worker::{FrameSink, QueueRun, WorkerStats};
use super::{LiveOptions, LiveOutcome, PortSummary};
use crate::conflicts::ConflictLine;
use crate::engine::{self, EngineOptions, FramePipeline, PipelineSummary};
use crate::extract::{self, ExtractOptions, Stopped};
use crate::files::FileSink;
use crate::flow::{FlowHead, FlowId, FlowRecord};
use crate::manifest::{self, Flows, Input, ManifestOut, Placement, Tool, Totals};
use crate::naming::Namer;
use crate::sink::Sink;

/// Everything `streamcut live` needs.
#[derive(Debug, Clone)]
pub struct LiveCommand {
    /// Output and reassembly options, as for `extract` (inputs unused).
    pub extract: ExtractOptions,
    /// Port, queues, stop conditions, EAL arguments.
    pub live: LiveOptions,
}

/// What a live capture produced.
#[derive(Debug)]
pub struct LiveReport {
    /// Port, stop reason, port counters, per-worker counters.
    pub outcome: LiveOutcome<()>,
    /// The manifest's totals.
    pub totals: Totals,
    /// Decoder counters summed over workers.
    pub decode: DecodeStats,
}

/// The `--conflicts` file: one JSON line per overlap conflict, in the
/// order the workers meet them.
struct ConflictFile {
    out: BufWriter<File>,
    path: PathBuf,
}

/// What the workers share: the file sink and the conflicts file.
struct Outputs {
    files: Mutex<FileSink>,
    conflicts: Option<Mutex<ConflictFile>>,
    /// Set by the first output error (a full disk): every pipeline then
    /// stops without completing its open flows.
    failed: AtomicBool,
}

/// What a pipeline ended with: its summary, and the output error that
/// stopped it, if one did.
type Ended = (PipelineSummary, Option<anyhow::Error>);

/// A [`Sink`] handle to the shared [`Outputs`].
struct LockedSink<'a>(&'a Outputs);

/// Locks `m`; a worker that panicked mid-write poisons the lock, its panic
/// is reported by the capture, and the state is still good enough to close.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LockedSink<'_> {
    fn lock(&self) -> MutexGuard<'_, FileSink> {
        lock(&self.0.files)
    }

    /// `r`, noting an error in [`Outputs::failed`].
    fn noted(&self, r: anyhow::Result<()>) -> anyhow::Result<()> {
        if r.is_err() {
            self.0.failed.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl Sink for LockedSink<'_> {
    fn open(&mut self, head: &FlowHead) -> anyhow::Result<()> {
        let r = self.lock().open(head);
        self.noted(r)
    }

    fn write(&mut self, head: &FlowHead, dir: Dir, bytes: &[u8]) -> anyhow::Result<()> {
        let r = self.lock().write(head, dir, bytes);
        self.noted(r)
    }

    fn delivery(
        &mut self,
        head: &FlowHead,
        dir: Dir,
        gap: u64,
        sg: &ScatterGather<'_>,
    ) -> anyhow::Result<()> {
        let r = self.lock().delivery(head, dir, gap, sg);
        self.noted(r)
    }

    fn conflict(&mut self, head: &FlowHead, conflict: &Conflict) -> anyhow::Result<()> {
        let r = self.lock().conflict(head, conflict).and_then(|()| {
            if let Some(file) = &self.0.conflicts {
                let mut file = lock(file);
                let line = serde_json::to_string(&ConflictLine::new(head, conflict))?;
                let path = file.path.display().to_string();
                writeln!(file.out, "{line}").with_context(|| format!("writing {path}"))?;
            }
            Ok(())
        });
        self.noted(r)
    }

    fn end_dir(&mut self, head: &FlowHead, dir: Dir) -> anyhow::Result<()> {
        let r = self.lock().end_dir(head, dir);
        self.noted(r)
    }

    fn close(&mut self, record: &FlowRecord) -> anyhow::Result<()> {
        let r = self.lock().close(record);
        self.noted(r)
    }

    fn take_placement(&mut self, id: FlowId) -> Option<Box<[Placement; 2]>> {
        self.lock().take_placement(id)
    }
}

/// Frames from a queue into an engine pipeline.
struct Feed<'p, 's>(&'p mut FramePipeline<'s>);

impl FrameSink for Feed<'_, '_> {
    fn frame(&mut self, frame: &Frame<'_>) -> anyhow::Result<()> {
        self.0.frame(frame)
    }

    fn advance(&mut self, now: u64) -> anyhow::Result<()> {
        self.0.advance(now);
        Ok(())
    }
}

/// Runs `streamcut live`.
pub fn run(cmd: &LiveCommand, quiet: bool) -> anyhow::Result<LiveReport> {
    let mut x = cmd.extract.clone();
    if let Some(path) = x.engine.policy_map.take() {
        // As `engine::run` does: the file becomes the assembler's map.
        x.engine.assembler.policy_map = reassembly::PolicyMap::from_file(&path)?;
    }
    // Flow records past the in-memory budget go beside the output.
    x.engine.spill_dir.get_or_insert_with(|| x.out_dir.clone());
    let x = &x;
    extract::prepare_dir(&x.out_dir, x.force)?;
    let conflicts = match &x.engine.conflicts {
        Some(path) => {
            let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
            Some(Mutex::new(ConflictFile {
                out: BufWriter::new(f),
                path: path.clone(),
            }))
        }
        None => None,
    };
    let reserve = extract::Reserve::create(&x.out_dir)?;
    let sink = Outputs {
        files: Mutex::new(FileSink::new(
            &x.out_dir,
            x.layout,
            Namer::new(x.naming),
            x.max_open_files,
        )?),
        conflicts,
        failed: AtomicBool::new(false),
    };
    let signal = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // The first signal asks for a clean stop; a second one, while the
        // flush is running, exits at once with status 130 (the shell's code
        // for an interrupted command).
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&signal))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&signal)))
            .context("installing the SIGINT/SIGTERM handler")?;
    }
    let shards = usize::from(cmd.live.queues);
    let started = |p: &PortSummary| {
        if !quiet {
            let spread = if p.rss {
                " with RSS".to_string()
            } else if shards > 1 {
                format!(", software hashing to {shards} workers")
            } else {
                String::new()
            };
            eprintln!(
                "streamcut live: capturing on port {} ({}, {}), {} rx queue(s){spread}, times from {}",
                p.port,
                p.name,
                p.driver,
                p.rx_queues,
                if p.driver_timestamps {
                    "the driver"
                } else {
                    "the clock"
                },
            );
        }
    };
    let outcome = super::capture(&cmd.live, signal, started, |run| {
        if run.port_queues() == 1 && shards > 1 {
            return software_hashing(run, &x.engine, shards, &sink);
        }
        let mut locked = LockedSink(&sink);
        let mut pipeline = FramePipeline::new(&x.engine, LinkType::ETHERNET, &mut locked)?;
        let polled = run.run(&mut Feed(&mut pipeline));
        if sink.failed.load(Ordering::Relaxed) {
            // An output error here (then `polled` is it) or in another
            // queue's pipeline: keep what was closed before it.
            let stats = polled.as_ref().copied().unwrap_or_default();
            return Ok(((pipeline.abandon(), polled.err()), stats));
        }
        let stats = polled?;
        Ok((pipeline.finish_partial(), stats))
    })?;
    // The first output error stops the run; the output is then partial.
    let mut stop = None;
    let mut summaries = Vec::with_capacity(outcome.workers.len());
    let mut worker_stats = Vec::with_capacity(outcome.workers.len());
    for ((summary, error), stats) in outcome.workers {
        summaries.push(summary);
        worker_stats.push(stats);
        stop = stop.or(error);
    }
    if let Some(file) = sink.conflicts {
        let mut file = file.into_inner().unwrap_or_else(|e| e.into_inner());
        let path = file.path.display().to_string();
        let flushed = file.out.flush().with_context(|| format!("writing {path}"));
        stop = stop.or(flushed.err());
    }
    let mut sink = sink.files.into_inner().unwrap_or_else(|e| e.into_inner());
    // Flush everything; after an error too, keeping what fits.
    let finished = sink.finish();
    stop = stop.or(finished.err());

    let merged = merge(summaries);
    let summary = engine::Summary {
        inputs: Vec::new(),
        frames: merged.frames,
        filtered_out: merged.filtered_out,
        udp_ignored: merged.udp_ignored,
        decode: merged.decode,
        assembler: merged.assembler,
        flows: merged.flows,
        spilled: merged.spilled,
    };
    let keep = extract::listed(&x.out_dir, &sink, stop.is_some());
    let keep: &dyn Fn(&FlowRecord) -> bool = &keep;
    let totals = manifest::record_totals(&summary, keep)?;
    let port = &outcome.port;
    let mut manifest = ManifestOut {
        tool: Tool::this(),
        inputs: vec![Input {
            path: format!("dpdk:{}", port.name),
            format: "dpdk".to_string(),
            compression: "none".to_string(),
            link_types: vec![LinkType::ETHERNET.name()],
            frames: summary.frames,
            problems: Vec::new(),
        }],
        options: manifest::options(&x.engine, x.layout.name(), x.naming),
        complete: stop.is_none(),
        error: stop.as_ref().map(|e| format!("{e:#}")),
        totals,
        flows: Flows {
            summary: &summary,
            keep,
            place: |r: &FlowRecord, dir: Dir| sink.placement(r, dir),
        },
    };
    if let Some((error, written)) = extract::write_final(&x.out_dir, &mut manifest, reserve, stop) {
        return Err(Stopped {
            error,
            manifest: written,
            path: x.out_dir.join(extract::MANIFEST),
            summary: Box::new(summary),
        }
        .into());
    }
    let totals = manifest.totals;
    let workers = worker_stats.into_iter().map(|w| ((), w)).collect();
    Ok(LiveReport {
        outcome: LiveOutcome {
            port: outcome.port,
            reason: outcome.reason,
            stats: outcome.stats,
            frames: outcome.frames,
            workers,
        },
        totals,
        decode: summary.decode,
    })
}

/// The port's one queue feeds a [`Dispatcher`] that hashes flows to
/// `shards` assembler threads (see [`super::dispatch`]).
fn software_hashing(
    run: QueueRun<'_, '_>,
    engine: &EngineOptions,
    shards: usize,
    sink: &Outputs,
) -> anyhow::Result<(Ended, WorkerStats)> {
    let (mut dispatcher, receivers) = Dispatcher::new(engine, shards)?;
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(shards);
        for (i, rx) in receivers.into_iter().enumerate() {
            let handle = std::thread::Builder::new()
                .name(format!("shard-{i}"))
                .spawn_scoped(scope, move || {
                    let mut locked = LockedSink(sink);
                    dispatch::shard(engine, &mut locked, rx, &sink.failed)
                })
                .context("starting an assembler worker")?;
            handles.push(handle);
        }
        let polled = run.run(&mut dispatcher);
        // Closing the channels ends the shards, also after an error.
        let counts = dispatcher.finish();
        let mut parts = Vec::with_capacity(shards);
        let mut stop = None;
        for h in handles {
            let (part, error) = h
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("an assembler worker panicked")))?;
            parts.push(part);
            stop = stop.or(error);
        }
        // After a shard's output error the dispatcher stopped on its closed
        // channel: that error is the shard's.
        let stats = match polled {
            Ok(stats) => stats,
            Err(_) if sink.failed.load(Ordering::Relaxed) => WorkerStats::default(),
            Err(e) => return Err(e),
        };
        let mut all = merge(parts);
        // Shards decoded only what was routed to them: the dispatcher's
        // counts are the ones that cover every frame.
        all.frames = counts.frames;
        all.filtered_out = counts.filtered_out;
        all.decode = counts.decode;
        Ok(((all, stop), stats))
    })
}

/// Sums the workers' counters and merges their flows by id.
fn merge(parts: Vec<PipelineSummary>) -> PipelineSummary {
    let mut parts = parts.into_iter();
    let Some(mut all) = parts.next() else {
        return PipelineSummary {
            frames: 0,
            filtered_out: 0,
            udp_ignored: 0,
            decode: DecodeStats::default(),
            assembler: Default::default(),
            flows: Vec::new(),
            spilled: Default::default(),
        };
    };
    for p in parts {
        all.frames += p.frames;
        all.filtered_out += p.filtered_out;
        all.udp_ignored += p.udp_ignored;
        all.decode.add(&p.decode);
        AssemblerStats::add(&mut all.assembler, &p.assembler);
        all.flows.extend(p.flows);
        all.spilled.append(p.spilled);
    }
    all.flows.sort_by_key(|r| r.head.id);
    all
}

/// Prints the end-of-capture summary (port counters included) to stderr.
pub fn print_summary(report: &LiveReport, out_dir: &std::path::Path) {
    let o = &report.outcome;
    let t = &report.totals;
    eprintln!(
        "streamcut live: port {} ({}) stopped by {}",
        o.port.port,
        o.port.name,
        o.reason.as_str()
    );
    eprintln!(
        "streamcut live: port statistics: received {}, missed {}, errors {}, no mbuf {}",
        o.stats.received, o.stats.missed, o.stats.errors, o.stats.no_mbuf
    );
    let chained: u64 = o.workers.iter().map(|(_, w)| w.chained).sum();
    let dropped: u64 = o.workers.iter().map(|(_, w)| w.dropped).sum();
    let frames: u64 = o.workers.iter().map(|(_, w)| w.frames).sum();
    let active = o
        .workers
        .iter()
        .map(|(_, w)| w.active)
        .max()
        .unwrap_or_default();
    eprintln!(
        "streamcut live: {frames} frames processed ({chained} chained, {dropped} past --count), {} flows, {} bytes written to {}",
        t.flows,
        t.bytes,
        out_dir.display()
    );
    if frames > 0 && !active.is_zero() {
        eprintln!(
            "streamcut live: {:.3} s from first to last packet, {:.0} frames/s",
            active.as_secs_f64(),
            frames as f64 / active.as_secs_f64()
        );
    }
}
