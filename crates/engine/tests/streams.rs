//! Stream-level runs: the user's streams get the same deliveries, conflicts
//! and completions for any number of workers, see `keep_from` and capture
//! info work across the engine, and agree with a sink run of the same input;
//! a [`FrameSource`] of the same frames gives the same streams as the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use capgen::{ByteRange, EndMix, GenConfig};
use engine::{EngineOptions, FrameSource, Input, Next};
use pcapread::{CaptureReader, Frame, LinkType};
use reassembly::{Completion, Conflict, Dir, ScatterGather, Stream, StreamFactory, StreamInfo};

/// What one flow's stream saw: per direction the lines it cut (with the
/// frame that carried each line's first byte) and the bytes in order, the
/// conflicts, and how it ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Seen {
    lines: [Vec<(u64, Vec<u8>)>; 2],
    bytes: [Vec<u8>; 2],
    skipped: [u64; 2],
    conflicts: usize,
    end: Option<String>,
    calls: usize,
}

/// Per worker: every flow's [`Seen`], by flow id.
#[derive(Default)]
struct Lines {
    flows: BTreeMap<u64, Seen>,
    worker: usize,
    made: usize,
}

struct LineStream {
    id: u64,
    seen: Seen,
}

impl StreamFactory for Lines {
    type Stream = LineStream;
    fn new_stream(&mut self, info: &StreamInfo) -> LineStream {
        self.made += 1;
        LineStream {
            id: info.first_frame,
            seen: Seen::default(),
        }
    }
}

fn ix(dir: Dir) -> usize {
    usize::from(dir == Dir::ServerToClient)
}

impl Stream for LineStream {
    type Context = Lines;

    fn reassembled(&mut self, sg: &mut ScatterGather<'_>, _ctx: &mut Lines) {
        let d = ix(sg.dir());
        self.seen.calls += 1;
        let (len, saved) = sg.lengths();
        let all = sg.fetch(sg.len());
        // Bytes [0, saved) were kept last time; the rest are new.
        self.seen.bytes[d].extend_from_slice(&all[saved..]);
        if let reassembly::Skip::Bytes(n) = sg.skip() {
            self.seen.skipped[d] += n;
        }
        // Cut complete lines; keep the unfinished tail for the next call.
        let mut start = 0;
        for (i, b) in all.iter().enumerate() {
            if *b == b'\n' {
                let frame = sg
                    .capture_info(start)
                    .expect("a byte of this delivery")
                    .frame;
                self.seen.lines[d].push((frame, all[start..i].to_vec()));
                start = i + 1;
            }
        }
        if start < len && start > 0 {
            sg.keep_from(start);
        } else if start == 0 && len > 0 && len < 4096 {
            sg.keep_from(0);
        }
    }

    fn conflict(&mut self, _c: &Conflict, _ctx: &mut Lines) {
        self.seen.conflicts += 1;
    }

    fn complete(&mut self, c: &Completion, ctx: &mut Lines) {
        self.seen.end = Some(c.reason.as_str().to_string());
        ctx.flows.insert(self.id, std::mem::take(&mut self.seen));
    }
}

/// Every flow's [`Seen`] with `threads` workers, and how many workers ran.
fn lines(input: &Path, threads: usize, udp: bool) -> (BTreeMap<u64, Seen>, usize) {
    let opts = EngineOptions {
        udp,
        ..EngineOptions::default().with_threads(threads)
    };
    let run = engine::run_streams(&opts, Input::files([input]), |w| Lines {
        worker: w,
        ..Lines::default()
    })
    .unwrap();
    let workers = run.factories.len();
    let mut all = BTreeMap::new();
    for (w, f) in run.factories.into_iter().enumerate() {
        assert_eq!(f.worker, w, "factories come back in worker order");
        assert_eq!(f.made, f.flows.len(), "worker {w}: every stream completed");
        for (id, seen) in f.flows {
            assert!(all.insert(id, seen).is_none(), "flow {id} on two workers");
        }
    }
    (all, workers)
}

fn generated(seed: u64) -> (tempfile::TempDir, PathBuf) {
    let cfg = GenConfig {
        seed,
        flows: 300,
        concurrency: 48,
        c2s_bytes: ByteRange::between(0, 12_000),
        s2c_bytes: ByteRange::between(0, 40_000),
        ooo_rate: 0.05,
        retrans_rate: 0.03,
        overlap_rate: 0.03,
        wrap_fraction: 0.2,
        ipv6_fraction: 0.3,
        udp_fraction: 0.1,
        end: EndMix {
            fin: 6,
            rst: 2,
            none: 2,
        },
        ..GenConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.pcap");
    let f = std::fs::File::create(&path).unwrap();
    capgen::generate(&cfg, std::io::BufWriter::new(f)).unwrap();
    (dir, path)
}

fn corpus(rel: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/corpus"
    ))
    .join(rel)
}

#[test]
fn per_flow_results_are_the_same_for_any_worker_count() {
    let (_d, gen) = generated(31);
    let inputs = [
        gen,
        corpus("zeek/tcp/reassembly.pcap"),
        corpus("dnscap/frags.pcap"),
        corpus("zeek/echo-connections.pcap.gz"),
    ];
    for input in &inputs {
        let (one, workers) = lines(input, 1, true);
        assert_eq!(workers, 1);
        assert!(!one.is_empty(), "{}", input.display());
        for threads in [2, 3, 4] {
            let (many, workers) = lines(input, threads, true);
            assert_eq!(workers, threads);
            assert_eq!(
                one.keys().collect::<Vec<_>>(),
                many.keys().collect::<Vec<_>>()
            );
            for (id, seen) in &one {
                assert_eq!(
                    seen,
                    &many[id],
                    "{} flow {id}, {threads} workers",
                    input.display()
                );
            }
        }
    }
}

#[test]
fn streams_see_what_a_sink_run_writes() {
    let (_d, gen) = generated(32);
    let (seen, _) = lines(&gen, 0, true);
    let opts = EngineOptions {
        udp: true,
        ..EngineOptions::default()
    };
    let (summary, collected) = engine::collect(&opts, Input::files([&gen])).unwrap();
    assert_eq!(summary.flows.len(), seen.len());
    let mut kept_lines = 0;
    for r in &summary.flows {
        let s = &seen[&r.head.id];
        let c = &collected.flows[&r.head.id];
        for dir in engine::DIRS {
            assert_eq!(s.bytes[ix(dir)], c.bytes(dir), "flow {} {dir:?}", r.head.id);
            kept_lines += s.lines[ix(dir)].len();
        }
        assert_eq!(s.end.as_deref(), Some(r.end.as_str()));
        assert_eq!(
            s.conflicts as u64,
            r.c2s.ledger.conflicts + r.s2c.ledger.conflicts
        );
    }
    // capgen's payloads hold newlines: lines were cut, many across calls.
    assert!(kept_lines > 0);
}

/// The frames of a capture file, handed out one by one as a live source
/// would, with idle polls in between.
struct Replayed {
    frames: Vec<(u64, u64, Vec<u8>)>,
    at: usize,
    idle: bool,
}

impl FrameSource for Replayed {
    fn link_types(&self) -> Vec<LinkType> {
        vec![LinkType::ETHERNET]
    }

    fn next(&mut self) -> anyhow::Result<Next<'_>> {
        // Every 37th call says there is nothing for now.
        self.idle = !self.idle && self.at % 37 == 5;
        if self.idle {
            return Ok(Next::Idle { now: None });
        }
        let Some((number, ts, data)) = self.frames.get(self.at) else {
            return Ok(Next::End);
        };
        self.at += 1;
        let caplen = data.len() as u32;
        Ok(Next::Frame(Frame {
            number: *number,
            input: 0,
            file_offset: 0,
            ts: *ts,
            caplen,
            origlen: caplen,
            link_type: LinkType::ETHERNET,
            data,
        }))
    }
}

#[test]
fn a_frame_source_gives_the_streams_of_the_file() {
    let (_d, gen) = generated(33);
    let mut reader = CaptureReader::open(&gen).unwrap();
    let mut frames = Vec::new();
    while let Some(f) = reader.next_frame().unwrap() {
        assert_eq!(f.link_type, LinkType::ETHERNET);
        frames.push((f.number, f.ts, f.data.to_vec()));
    }
    let (from_file, _) = lines(&gen, 2, true);
    for threads in [1, 2] {
        let opts = EngineOptions {
            udp: true,
            ..EngineOptions::default().with_threads(threads)
        };
        let mut source = Replayed {
            frames: frames.clone(),
            at: 0,
            idle: false,
        };
        let run = engine::run_streams(&opts, Input::Frames(Box::new(&mut source)), |_| {
            Lines::default()
        })
        .unwrap();
        assert_eq!(run.summary.frames, frames.len() as u64);
        assert!(run.summary.inputs.is_empty());
        let live: BTreeMap<u64, Seen> = run.factories.into_iter().flat_map(|f| f.flows).collect();
        assert_eq!(live, from_file, "{threads} workers");
    }
}
