//! Sink runs, the bytes-level API the CLI's writers build on:
//! [`engine::run_sink`] and [`engine::collect`] on corpus captures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use engine::{EngineOptions, FlowHead, GapMode, Input, Sink, DIRS};
use reassembly::Dir;
use sha2::{Digest, Sha256};

/// A corpus capture, by its path under `testdata/corpus`.
fn capture(rel: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/corpus"
    ))
    .join(rel)
}

/// `rel` read with the defaults (all cores).
fn collect(rel: &str, opts: &EngineOptions) -> (engine::Summary, engine::Collector) {
    engine::collect(opts, Input::files([capture(rel)])).unwrap()
}

#[test]
fn collected_bytes_match_records() {
    let (summary, collected) = collect(
        "arkime/tcp-reassembly-synthetic.pcap",
        &EngineOptions::default(),
    );
    assert!(summary.complete());
    assert_eq!(summary.frames, 106);
    assert_eq!(summary.flows.len(), 11);
    assert_eq!(collected.flows.len(), 11);
    for r in &summary.flows {
        let c = &collected.flows[&r.head.id];
        for dir in DIRS {
            let d = r.dir(dir);
            assert_eq!(c.bytes(dir).len() as u64, d.bytes);
            assert_eq!(
                Some(<[u8; 32]>::from(Sha256::digest(c.bytes(dir)))),
                d.sha256
            );
            assert!(d.ledger.balanced(), "flow {} {dir:?}", r.head.id);
            assert_eq!(d.ledger.buffered, 0);
            assert_eq!(d.ledger.delivered, d.bytes);
        }
    }
    let ids: Vec<u64> = summary.flows.iter().map(|r| r.head.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn zero_fill_writes_through_the_sink() {
    let o = EngineOptions {
        gaps: GapMode::Zero { cap: 100 },
        ..EngineOptions::default()
    };
    let (summary, collected) = collect(
        "suricata-verify/eve-overlap-payload-05-gap/tcp-simple-gap2.pcap",
        &o,
    );
    let id = summary.flows[0].head.id;
    assert_eq!(collected.flows[&id].c2s, b"VERY\0\0\0\0DATA");
    assert!(collected.flows[&id].ended[0]);
    assert_eq!(summary.flows[0].c2s.zero_filled, 4);
}

#[test]
fn udp_is_opt_in() {
    let rel = "zeek/tunnels/Teredo.pcap";
    let (tcp_only, _) = collect(rel, &EngineOptions::default());
    let o = EngineOptions {
        udp: true,
        ..EngineOptions::default()
    };
    let (both, _) = collect(rel, &o);
    assert!(tcp_only.udp_ignored > 0);
    assert_eq!(both.udp_ignored, 0);
    assert!(both.flows.len() > tcp_only.flows.len());
    assert_eq!(both.decode, tcp_only.decode);
}

/// A sink whose disk fills up after `left` bytes.
struct FullDisk {
    left: usize,
}

impl Sink for FullDisk {
    fn write(&mut self, _h: &FlowHead, _d: Dir, bytes: &[u8]) -> anyhow::Result<()> {
        self.left = self
            .left
            .checked_sub(bytes.len())
            .ok_or_else(|| anyhow::anyhow!("no space left"))?;
        Ok(())
    }
}

#[test]
fn sink_errors_stop_the_run() {
    for threads in [1, 2, 3] {
        let e = engine::run_sink(
            &EngineOptions::default().with_threads(threads),
            Input::files([capture("arkime/tcp-reassembly-synthetic.pcap")]),
            &mut FullDisk { left: 100 },
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("no space left"), "{e:#}");
    }
}

#[test]
fn a_damaged_input_ends_only_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let good = capture("arkime/tcp-reassembly-synthetic.pcap");
    let bytes = std::fs::read(&good).unwrap();
    let bad = tmp.path().join("bad.pcap");
    std::fs::write(&bad, &bytes[..3000]).unwrap();
    let input = Input::files([bad.clone(), PathBuf::from("/nonexistent.pcap"), good]);
    let (summary, _) = engine::collect(&EngineOptions::default(), input).unwrap();
    assert!(!summary.complete());
    let problems: Vec<_> = summary.problems().collect();
    assert_eq!(problems.len(), 2);
    assert_eq!(problems[0].0, bad.as_path());
    assert!(problems[0].1.offset.is_some());
    assert_eq!(problems[1].1.offset, None);
    // The good copy was read whole.
    assert_eq!(summary.inputs[2].frames, 106);
    assert!(summary.inputs[0].frames > 0 && summary.inputs[0].frames < 106);
}

/// A sink that wants deliveries and splits: each part counts the bytes its
/// deliveries carry, and which thread it was called on.
#[derive(Clone, Default)]
struct DeliveryParts {
    seen: std::sync::Arc<std::sync::Mutex<Vec<(std::thread::ThreadId, u64)>>>,
    bytes: u64,
}

impl Sink for DeliveryParts {
    fn wants_deliveries(&self) -> bool {
        true
    }

    fn split(&mut self, parts: usize) -> Option<Vec<Box<dyn Sink + Send>>> {
        Some(
            (0..parts)
                .map(|_| Box::new(self.clone()) as Box<dyn Sink + Send>)
                .collect(),
        )
    }

    fn write(&mut self, _h: &FlowHead, _d: Dir, _bytes: &[u8]) -> anyhow::Result<()> {
        Ok(())
    }

    fn delivery(
        &mut self,
        _h: &FlowHead,
        _d: Dir,
        _gap: u64,
        sg: &reassembly::ScatterGather<'_>,
    ) -> anyhow::Result<()> {
        self.bytes += sg.len() as u64;
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        self.seen
            .lock()
            .unwrap()
            .push((std::thread::current().id(), self.bytes));
        Ok(())
    }
}

#[test]
fn a_sink_that_wants_deliveries_and_splits_runs_on_every_worker() {
    // extract --http is such a sink: it must not be held to one worker.
    let rel = "arkime/tcp-reassembly-synthetic.pcap";
    let (summary, _) = collect(rel, &EngineOptions::default());
    let delivered: u64 = summary
        .flows
        .iter()
        .flat_map(|r| DIRS.map(|d| r.dir(d).ledger.delivered))
        .sum();
    let mut sink = DeliveryParts::default();
    engine::run_sink(
        &EngineOptions::default().with_threads(3),
        Input::files([capture(rel)]),
        &mut sink,
    )
    .unwrap();
    let seen = sink.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "one part per worker, each finished");
    assert_eq!(seen.iter().map(|s| s.1).sum::<u64>(), delivered);
    assert!(seen.iter().filter(|s| s.1 > 0).count() > 1, "{seen:?}");
}
