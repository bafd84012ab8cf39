//! [`Engine::interrupt`]: a flag set during a run stops the reading where it
//! is; what was read is processed, open flows are completed, and the
//! summary says the run was interrupted (not complete).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};

use engine::{Collector, Engine, EngineOptions, FrameSource, Input, Next};
use pcapread::{Frame, LinkType};

/// Raw IPv4 UDP datagrams, each its own flow (source port = frame number),
/// without end; raises `flag` once `stop_after` frames were handed out.
struct Endless<'a> {
    number: u64,
    stop_after: u64,
    flag: &'a AtomicBool,
    buf: Vec<u8>,
}

impl FrameSource for Endless<'_> {
    fn link_types(&self) -> Vec<LinkType> {
        vec![LinkType::RAW]
    }

    fn next(&mut self) -> anyhow::Result<Next<'_>> {
        self.number += 1;
        if self.number > self.stop_after {
            self.flag.store(true, Ordering::SeqCst);
        }
        let sport = u16::try_from(1000 + self.number % 30_000).unwrap();
        let payload = [0x5a_u8; 12];
        let mut udp = sport.to_be_bytes().to_vec();
        udp.extend_from_slice(&53u16.to_be_bytes());
        udp.extend_from_slice(&u16::try_from(8 + payload.len()).unwrap().to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(&payload);
        let len = u16::try_from(20 + udp.len()).unwrap();
        self.buf = vec![0x45, 0];
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf
            .extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        self.buf.extend_from_slice(&udp);
        Ok(Next::Frame(Frame {
            number: self.number,
            input: 0,
            file_offset: 0,
            ts: 1_000_000_000 + self.number * 1000,
            caplen: u32::try_from(self.buf.len()).unwrap(),
            origlen: u32::try_from(self.buf.len()).unwrap(),
            link_type: LinkType::RAW,
            data: &self.buf,
        }))
    }
}

fn run(threads: usize) {
    let flag = AtomicBool::new(false);
    let mut source = Endless {
        number: 0,
        stop_after: 5000,
        flag: &flag,
        buf: Vec::new(),
    };
    let opts = EngineOptions {
        udp: true,
        threads,
        ..EngineOptions::default()
    };
    let mut collected = Collector::default();
    let summary = Engine::new(&opts, Input::Frames(Box::new(&mut source)))
        .interrupt(&flag)
        .run_sink(&mut collected)
        .unwrap();
    assert!(summary.interrupted);
    assert!(!summary.complete());
    // The flag went up while frame 5001 was handed out: it is the last read.
    assert_eq!(summary.frames, 5001);
    // Every datagram read is in a completed flow.
    let bytes: u64 = summary.records().map(|f| f.unwrap().c2s.bytes).sum();
    assert_eq!(bytes, 5001 * 12);
    assert_eq!(collected.flows.len(), summary.flow_count());
}

#[test]
fn an_interrupt_ends_reading_and_completes_open_flows_inline() {
    run(1);
}

#[test]
fn an_interrupt_ends_reading_and_completes_open_flows_pooled() {
    run(2);
}

#[test]
fn a_flag_never_set_changes_nothing() {
    let flag = AtomicBool::new(false);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/corpus/arkime/tcp-reassembly-synthetic.pcap"
    );
    let opts = EngineOptions::default();
    let summary = Engine::new(&opts, Input::files([path]))
        .interrupt(&flag)
        .run_sink(&mut Collector::default())
        .unwrap();
    assert!(!summary.interrupted);
    assert!(summary.complete());
    assert_eq!(summary.frames, 106);
}
