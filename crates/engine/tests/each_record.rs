//! `Engine::each_record`: every flow's record handed to the consumer once,
//! in id order, the same records as the summary keeps without it, for any
//! number of workers and any in-memory budget; handed while the run goes
//! on; and a consumer's error stops the run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use capgen::{generate, ByteRange, EndMix, GenConfig};
use engine::{
    Collector, Engine, EngineOptions, FlowHead, FlowRecord, Input, NullSink, Sink, Summary,
};
use reassembly::Dir;

/// `flows` short interleaved TCP flows that close by FIN (then their records
/// are final at once); with `open`, a tenth of them are reset (a reset
/// connection lingers in full for 30 s of packet time), a tenth never end,
/// and a tenth of the flows are UDP (complete after their idle timeout):
/// those hold back the records after them to the end of this capture.
fn capture(dir: &Path, flows: u64, open: bool) -> PathBuf {
    let config = GenConfig {
        seed: 18,
        flows,
        concurrency: 40,
        c2s_bytes: ByteRange::between(10, 600),
        s2c_bytes: ByteRange::between(10, 3000),
        ooo_rate: 0.05,
        retrans_rate: 0.02,
        udp_fraction: if open { 0.1 } else { 0.0 },
        end: EndMix {
            fin: 8,
            rst: u32::from(open),
            none: u32::from(open),
        },
        ..GenConfig::default()
    };
    let path = dir.join(format!("flows-{flows}-{open}.pcap"));
    generate(&config, std::fs::File::create(&path).unwrap()).unwrap();
    path
}

fn options(threads: usize, in_memory: usize) -> EngineOptions {
    let mut opts = EngineOptions::default().with_threads(threads);
    opts.udp = true;
    opts.records_in_memory = in_memory;
    opts
}

/// The records of a run into `sink` that keeps them in the summary.
fn kept(path: &Path, opts: &EngineOptions, sink: &mut dyn Sink) -> Vec<FlowRecord> {
    let summary = Engine::new(opts, Input::Files(vec![path.to_path_buf()]))
        .run_sink(sink)
        .unwrap();
    summary.records().map(|r| r.unwrap().into_owned()).collect()
}

/// The records handed to the consumer of a run into `sink`, and its summary.
fn handed(path: &Path, opts: &EngineOptions, sink: &mut dyn Sink) -> (Vec<FlowRecord>, Summary) {
    let mut got = Vec::new();
    let mut each = |r: &FlowRecord| {
        got.push(r.clone());
        Ok(())
    };
    let summary = Engine::new(opts, Input::Files(vec![path.to_path_buf()]))
        .each_record(&mut each)
        .run_sink(sink)
        .unwrap();
    (got, summary)
}

#[test]
fn every_record_once_in_id_order_as_the_summary_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    for open in [false, true] {
        let path = capture(dir.path(), 1500, open);
        let want = kept(&path, &options(1, 4096), &mut NullSink);
        assert_eq!(want.len(), 1500);
        for threads in [1, 2, 3] {
            // 7 in memory: most records of the run go to disk on the way.
            for in_memory in [4096, 7] {
                let opts = options(threads, in_memory);
                let (got, summary) = handed(&path, &opts, &mut NullSink);
                let what = format!("open {open}, {threads} workers, {in_memory} in memory");
                assert!(got == want, "{what}");
                assert_eq!(summary.handed, 1500, "{what}");
                assert_eq!(summary.flow_count(), 1500, "{what}");
                assert!(
                    summary.flows.is_empty() && summary.spilled.is_empty(),
                    "{what}"
                );
            }
            // A sink replayed in one global order keeps its records to the
            // end and hands them then.
            let (got, _) = handed(&path, &options(threads, 4096), &mut Collector::default());
            assert!(got == want, "replayed, open {open}, {threads} workers");
        }
    }
}

/// A sink counting the flows closed so far, over all workers; split per
/// worker, or (`replayed`) called in one global order by the replay.
#[derive(Default, Clone)]
struct Closes {
    closed: Arc<AtomicU64>,
    replayed: bool,
}

impl Sink for Closes {
    fn split(&mut self, parts: usize) -> Option<Vec<Box<dyn Sink + Send>>> {
        (!self.replayed).then(|| (0..parts).map(|_| Box::new(self.clone()) as _).collect())
    }
    fn write(&mut self, _h: &FlowHead, _d: Dir, _bytes: &[u8]) -> anyhow::Result<()> {
        Ok(())
    }
    fn close(&mut self, _record: &FlowRecord) -> anyhow::Result<()> {
        self.closed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[test]
fn records_are_handed_while_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let flows = 6000;
    let path = capture(dir.path(), flows, false);
    for (threads, replayed) in [(1, false), (2, false), (1, true), (3, true)] {
        let closes = Closes {
            replayed,
            ..Closes::default()
        };
        let seen = closes.closed.clone();
        let mut closed_at_first = None;
        let mut each = |_: &FlowRecord| {
            // The run waits for the consumer once a few rounds of records
            // are queued, so when the first record comes, most flows are
            // still to close.
            closed_at_first.get_or_insert(seen.load(Ordering::Relaxed));
            Ok(())
        };
        let opts = options(threads, 4096);
        let summary = Engine::new(&opts, Input::Files(vec![path.clone()]))
            .each_record(&mut each)
            .run_sink(&mut closes.clone())
            .unwrap();
        assert_eq!(summary.handed, flows);
        let first = closed_at_first.unwrap();
        assert!(
            first < flows / 2,
            "{threads} workers, replayed {replayed}: {first} of {flows} flows closed before \
             the first record"
        );
    }
}

#[test]
fn an_error_of_the_consumer_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = capture(dir.path(), 6000, false);
    let all = Engine::new(&options(1, 4096), Input::Files(vec![path.clone()]))
        .run_sink(&mut NullSink)
        .unwrap()
        .frames;
    for (threads, replayed) in [(1, false), (2, false), (3, false), (2, true)] {
        let mut n = 0;
        let mut each = |_: &FlowRecord| {
            n += 1;
            if n == 10 {
                anyhow::bail!("disk full");
            }
            Ok(())
        };
        let opts = options(threads, 4096);
        let (summary, stop) = Engine::new(&opts, Input::Files(vec![path.clone()]))
            .each_record(&mut each)
            .run_sink_partial(&mut Closes {
                replayed,
                ..Closes::default()
            })
            .unwrap();
        let stop = stop.expect("the consumer's error stops the run");
        assert!(format!("{stop:#}").contains("disk full"), "{stop:#}");
        assert_eq!(summary.handed, 9, "{threads} workers");
        assert!(
            summary.frames < all / 2,
            "{threads} workers read {} of {all} frames",
            summary.frames
        );
    }
}
