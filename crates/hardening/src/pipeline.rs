//! Whole captures through the real engine ([`engine::run_streams`]), with a
//! [`RecordingFactory`] per worker, and the promises checked on what the
//! engine hands back.
//!
//! A capture held in memory goes in as a [`SliceSource`] (a fuzz input, a
//! damaged copy of a test capture), capture files as [`Input::Files`] (the
//! engine opens, maps or decompresses them itself). Every input is run once
//! per entry of [`Settings::workers`] (by default one worker, then three).
//!
//! Checked on every run:
//!
//! - reading makes progress: a capture of `n` bytes yields at most `n + 1`
//!   records (checked in [`SliceSource`]; a hang in file reading is left to
//!   the callers' deadline);
//! - the frames counted: the engine's frame count is the source's, the
//!   decoder saw each frame once (`decode.frames`, and the per-link-type
//!   counts add up to it) and every frame is a TCP segment, a UDP datagram
//!   or a skip with a reason (`tcp_segments + udp_datagrams + skipped ==
//!   frames`); nothing was filtered and no UDP was ignored;
//! - per worker ([`engine::StreamRun::assemblers`]): pages never above
//!   `max_pages_total` (`pages_high_water`), connections never above
//!   `max(1, max_connections)` (`connections_high_water`), the verify
//!   windows never above `2 * (1.25 * verify_window + 256)` bytes per
//!   connection (`verify_bytes_high_water` against `connections_high_water`);
//!   every connection the worker created completed exactly once
//!   ([`RecordingFactory::into_records`]; `completed == connections`), and
//!   lives on the worker its flow hash picks;
//! - segments conservation: the segments the decoder produced are the
//!   segments the assemblers took (`Σ segments == tcp_segments +
//!   udp_datagrams`), and every one of them was offered to the `accept` of
//!   one of the worker's streams (`Σ offered == segments`, `Σ (offered -
//!   taken) == rejected`);
//! - payload bytes conservation: the payload bytes of the packets the
//!   streams took are the bytes the ledgers captured, per direction
//!   (checked by [`crate::record`] at completion, with `packets == taken`)
//!   and in total;
//! - every ledger balances with nothing buffered, and every delivery keeps
//!   the stream contract ([`crate::record`]).
//!
//! Across the runs of one input: the frames, the capture error and the
//! decoder counters are the same, and so (the engine's determinism promise)
//! is every flow's record (bytes delivered, skips, conflicts, completion with
//! its ledgers), flows matched by their first frame. The promise holds
//! unless a cap that a worker's flows share decided something: the table was
//! full (`evicted_connections`) or the total page cap may have refused pages
//! (`pages_high_water + max_pages_per_conn > max_pages_total`). When the run
//! with fewer workers is clear of both, so is the other (each worker then
//! holds a subset of what the single assembler held) and the records must be
//! equal; otherwise only the worker-independent facts are compared.
//! [`Extraction::compared`] says which runs were compared flow by flow.

use std::path::{Path, PathBuf};

use engine::{EngineOptions, Housekeeping, Input, InputReport, Problem, StreamRun};
use pcapread::{DecodeStats, DecoderConfig, DefragConfig};
use reassembly::{AssemblerConfig, AssemblerStats};

use crate::record::{ConnLog, RecordingFactory};
use crate::source::SliceSource;

/// Everything that shapes a run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Assembler options (caps, policy, timeouts).
    pub assembler: AssemblerConfig,
    /// Decoder options (defragmentation limits, tunnel depth).
    pub decoder: DecoderConfig,
    /// The engine's housekeeping by packet time: every `tick` ns the
    /// assemblers skip holes older than `flush_after` and complete idle
    /// flows (this replaces the old driver's "expire every n frames").
    pub housekeeping: Housekeeping,
    /// Streams keep the last `.1` bytes of every `.0`-th delivery (see [`RecordingFactory::keeping`]).
    pub keep: Option<(u64, usize)>,
    /// The worker counts each input is run with (each at least 1); the
    /// first run's records are the ones returned, the others are compared
    /// with it.
    pub workers: Vec<usize>,
}

impl Default for Settings {
    /// The tool's defaults: default assembler, decoder and housekeeping
    /// (a tick every second of packet time, holes given up after 120 s),
    /// no keeping; one worker, then three.
    fn default() -> Self {
        Settings {
            assembler: AssemblerConfig::default(),
            decoder: DecoderConfig::default(),
            housekeeping: Housekeeping::default(),
            keep: None,
            workers: vec![1, 3],
        }
    }
}

impl Settings {
    /// Caps so small that every capture hits them: 64-byte pages, 4 per
    /// connection, 16 in all (per worker), 8 connections (per worker), a
    /// 256-byte verify window, 4 pending fragmented datagrams; housekeeping
    /// every 10 ms of packet time, holes given up after 1 s; every third
    /// delivery keeps its last 5 bytes.
    pub fn tiny() -> Settings {
        Settings {
            assembler: AssemblerConfig {
                page_size: 64,
                max_pages_per_conn: 4,
                max_pages_total: 16,
                max_connections: 8,
                midstream_window: 2,
                max_gaps_listed: 4,
                verify_window: 256,
                ..AssemblerConfig::default()
            },
            decoder: DecoderConfig {
                defrag: DefragConfig {
                    max_datagrams: 4,
                    max_bytes: 8 * 1024,
                    timeout_ns: 5_000_000_000,
                },
                max_tunnel_depth: 2,
                ..DecoderConfig::default()
            },
            housekeeping: Housekeeping {
                tick: 10_000_000,
                flush_after: 1_000_000_000,
            },
            keep: Some((3, 5)),
            workers: vec![1, 3],
        }
    }

    /// These settings run with the given worker counts instead.
    pub fn with_workers(mut self, workers: &[usize]) -> Settings {
        self.workers = workers.to_vec();
        self
    }

    /// The engine options of a run with `threads` workers: these caps,
    /// decoder limits and housekeeping, UDP reassembled too, no filter.
    pub fn options(&self, threads: usize) -> EngineOptions {
        EngineOptions {
            assembler: self.assembler.clone(),
            decoder: self.decoder,
            housekeeping: self.housekeeping,
            udp: true,
            threads,
            ..EngineOptions::default()
        }
    }

    /// One worker's factory.
    fn factory(&self) -> RecordingFactory {
        match self.keep {
            Some((every, len)) => RecordingFactory::new().keeping(every, len),
            None => RecordingFactory::new(),
        }
    }
}

/// What the runs of one input produced (the first run's, checked against the others).
#[derive(Debug)]
pub struct Extraction {
    /// Every connection, completed, sorted by first frame.
    pub flows: Vec<ConnLog>,
    /// Frames read.
    pub frames: u64,
    /// The capture error that ended reading, if any.
    pub error: Option<Problem>,
    /// File inputs: the engine's report of each (none for a capture in memory).
    pub inputs: Vec<InputReport>,
    /// Decoder counters.
    pub decode: DecodeStats,
    /// Assembler counters, summed over the workers.
    pub assembler: AssemblerStats,
    /// Each worker's assembler counters.
    pub workers: Vec<AssemblerStats>,
    /// Payload bytes of the packets the streams took (all there were: they take every packet).
    pub payload_taken: u64,
    /// The worker counts of the other runs whose records were compared flow
    /// by flow with these (see the module docs for when they are not).
    pub compared: Vec<usize>,
}

impl Extraction {
    /// Each connection's client five-tuple and delivered bytes (client to
    /// server, server to client), by first frame.
    pub fn delivered(&self) -> Vec<(pcapread::FiveTuple, [Vec<u8>; 2])> {
        self.flows
            .iter()
            .map(|f| {
                (
                    f.info.client,
                    [f.dirs[0].bytes.clone(), f.dirs[1].bytes.clone()],
                )
            })
            .collect()
    }

    /// Whether no cap shared by a worker's flows decided anything (see the
    /// module docs): then per-flow results cannot depend on the worker count.
    fn clear_of_shared_caps(&self, cfg: &AssemblerConfig) -> bool {
        self.workers.iter().all(|s| {
            s.evicted_connections == 0
                && s.pages_high_water + cfg.max_pages_per_conn <= cfg.max_pages_total
        })
    }
}

/// Where a run's frames come from.
#[derive(Debug, Clone, Copy)]
enum Feed<'a> {
    /// A capture in memory, up to `limit` frames.
    Slice {
        data: &'a [u8],
        name: &'a str,
        limit: Option<u64>,
    },
    /// Capture files.
    Files(&'a [PathBuf]),
}

impl Feed<'_> {
    fn name(&self) -> String {
        match self {
            Feed::Slice { name, .. } => name.to_string(),
            Feed::Files(paths) => format!("{paths:?}"),
        }
    }
}

/// Run a capture held in memory through the engine (see the module docs).
pub fn extract_slice(data: &[u8], name: &str, settings: Settings) -> Extraction {
    extract(
        Feed::Slice {
            data,
            name,
            limit: None,
        },
        &settings,
    )
}

/// Like [`extract_slice`], with only the first `frames` frames of the capture.
pub fn extract_slice_prefix(
    data: &[u8],
    name: &str,
    frames: u64,
    settings: Settings,
) -> Extraction {
    extract(
        Feed::Slice {
            data,
            name,
            limit: Some(frames),
        },
        &settings,
    )
}

/// Run a capture file (pcap or pcapng, maybe gzip or zstd compressed) through
/// the engine, which opens and reads it (see the module docs).
pub fn extract_file(path: &Path, settings: Settings) -> Extraction {
    extract(Feed::Files(&[path.to_path_buf()]), &settings)
}

fn extract(feed: Feed<'_>, settings: &Settings) -> Extraction {
    let Some((&first, others)) = settings.workers.split_first() else {
        panic!("Settings::workers is empty");
    };
    let cfg = &settings.assembler;
    let mut x = run_once(feed, settings, first);
    for &threads in others {
        let y = run_once(feed, settings, threads);
        let label = format!("{}: {first} vs {threads} workers", feed.name());
        assert_eq!(x.frames, y.frames, "{label}: frames");
        assert_eq!(x.error, y.error, "{label}: capture error");
        assert_eq!(x.decode, y.decode, "{label}: decoder counters");
        assert_eq!(
            x.assembler.segments, y.assembler.segments,
            "{label}: segments"
        );
        let (few, many) = if first <= threads { (&x, &y) } else { (&y, &x) };
        if few.clear_of_shared_caps(cfg) {
            assert!(
                many.clear_of_shared_caps(cfg),
                "{label}: more workers hit a shared cap the fewer did not: {:?} vs {:?}",
                few.workers,
                many.workers
            );
        }
        if x.clear_of_shared_caps(cfg) && y.clear_of_shared_caps(cfg) {
            assert_eq!(x.flows.len(), y.flows.len(), "{label}: connections");
            for (a, b) in x.flows.iter().zip(&y.flows) {
                assert_eq!(
                    a, b,
                    "{label}: flow of frame {} differs",
                    a.info.first_frame
                );
            }
            x.compared.push(threads);
        }
    }
    x
}

/// One engine run of `feed` with `threads` workers, checked.
fn run_once(feed: Feed<'_>, settings: &Settings, threads: usize) -> Extraction {
    assert!(threads >= 1, "a run needs a worker count of at least 1");
    let opts = settings.options(threads);
    let make = |_worker: usize| settings.factory();
    let name = feed.name();
    let (run, read, error): (StreamRun<RecordingFactory>, u64, Option<Problem>) = match feed {
        Feed::Slice { data, name, limit } => {
            let mut source = SliceSource::new(data, name);
            if let Some(n) = limit {
                source = source.limit(n);
            }
            let run = engine::run_streams(&opts, Input::Frames(Box::new(&mut source)), make)
                .unwrap_or_else(|e| panic!("{name}: the engine failed: {e:#}"));
            assert!(run.summary.inputs.is_empty(), "{name}: input reports");
            let read = source.frames();
            let error = source.into_error().map(|e| Problem {
                offset: e.offset(),
                message: e.to_string(),
            });
            (run, read, error)
        }
        Feed::Files(paths) => {
            let run = engine::run_streams(&opts, Input::Files(paths.to_vec()), make)
                .unwrap_or_else(|e| panic!("{name}: the engine failed: {e:#}"));
            let inputs = &run.summary.inputs;
            assert_eq!(inputs.len(), paths.len(), "{name}: input reports");
            for i in inputs {
                assert!(
                    i.problems.len() <= 1,
                    "{name}: reading goes on after a problem"
                );
            }
            let read = inputs.iter().map(|i| i.frames).sum();
            let error = inputs.iter().find_map(|i| i.problems.first().cloned());
            assert_eq!(run.summary.complete(), error.is_none(), "{name}: complete");
            (run, read, error)
        }
    };
    check(&name, settings, threads, run, read, error)
}

/// The checks of one run (see the module docs).
fn check(
    name: &str,
    settings: &Settings,
    threads: usize,
    run: StreamRun<RecordingFactory>,
    read: u64,
    error: Option<Problem>,
) -> Extraction {
    let label = format!("{name} ({threads} workers)");
    let StreamRun {
        summary,
        factories,
        assemblers,
    } = run;
    assert_eq!(factories.len(), threads, "{label}: factories");
    assert_eq!(assemblers.len(), threads, "{label}: assembler counters");
    assert_eq!(summary.frames, read, "{label}: frames the engine counted");
    assert_eq!(summary.filtered_out, 0, "{label}: frames filtered out");
    assert_eq!(summary.udp_ignored, 0, "{label}: UDP ignored");
    let d = &summary.decode;
    assert_eq!(d.frames, read, "{label}: frames decoded");
    assert_eq!(
        d.link_types.values().sum::<u64>(),
        d.frames,
        "{label}: frames per link type"
    );
    let skipped: u64 = d.skipped.values().sum();
    assert_eq!(
        d.tcp_segments + d.udp_datagrams + skipped,
        d.frames,
        "{label}: decoder counters do not add up: {d:?}"
    );

    let cfg = &settings.assembler;
    let mut total = AssemblerStats::default();
    let mut flows = Vec::new();
    let (mut taken_payload, mut captured) = (0u64, 0u64);
    for (w, (stats, factory)) in assemblers.iter().zip(factories).enumerate() {
        let label = format!("{label} worker {w}");
        check_worker(cfg, stats, &label);
        let records = factory.into_records();
        assert_eq!(
            records.len() as u64,
            stats.connections,
            "{label}: connections created"
        );
        assert_eq!(
            stats.completed, stats.connections,
            "{label}: connections completed"
        );
        let (mut offered, mut taken) = (0u64, 0u64);
        for r in &records {
            assert_eq!(
                r.info.key.shard(threads),
                w,
                "{label}: flow {} on the wrong worker",
                r.info.key
            );
            let c = r
                .completion
                .as_ref()
                .expect("a record is made at completion");
            for (dir, l) in r.dirs.iter().zip([&c.c2s, &c.s2c]) {
                offered += dir.offered;
                taken += dir.taken;
                taken_payload += dir.taken_payload;
                captured += l.captured;
            }
        }
        // Late packets of a connection already complete (a tombstone took
        // them) reach no stream; every other segment is offered to one.
        assert_eq!(
            offered + stats.late_packets,
            stats.segments,
            "{label}: segments taken by the assembler vs offered to its streams"
        );
        assert_eq!(
            offered - taken,
            stats.rejected,
            "{label}: segments rejected"
        );
        total.add(stats);
        flows.extend(records);
    }
    assert_eq!(
        total, summary.assembler,
        "{label}: summed assembler counters"
    );
    assert_eq!(
        total.segments,
        d.tcp_segments + d.udp_datagrams,
        "{label}: segments decoded vs segments the assemblers took"
    );
    assert_eq!(
        captured, taken_payload,
        "{label}: payload bytes the streams took vs captured in the ledgers"
    );
    flows.sort_by_key(|f| f.info.first_frame);
    for w in flows.windows(2) {
        assert!(
            w[0].info.first_frame < w[1].info.first_frame,
            "{label}: two connections start at frame {}",
            w[1].info.first_frame
        );
    }
    Extraction {
        flows,
        frames: read,
        error,
        inputs: summary.inputs,
        decode: summary.decode,
        assembler: total,
        workers: assemblers,
        payload_taken: taken_payload,
        compared: Vec::new(),
    }
}

/// One worker's caps, from its high-water marks.
fn check_worker(cfg: &AssemblerConfig, s: &AssemblerStats, label: &str) {
    assert!(
        s.pages_high_water <= cfg.max_pages_total,
        "{label}: {} pages in use at once, cap {}",
        s.pages_high_water,
        cfg.max_pages_total
    );
    assert!(
        s.connections_high_water <= cfg.max_connections.max(1),
        "{label}: {} connections at once, cap {}",
        s.connections_high_water,
        cfg.max_connections
    );
    // Each direction's verify window: at most 1.25 * window + 256 bytes.
    let w = cfg.verify_window;
    let bound = s.connections_high_water * 2 * (w + w / 4 + 256) * usize::from(w > 0);
    assert!(
        s.verify_bytes_high_water <= bound,
        "{label}: verify windows held {} bytes at once, bound {bound} for {} connections",
        s.verify_bytes_high_water,
        s.connections_high_water
    );
}
