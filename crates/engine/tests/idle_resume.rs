//! A connection that goes quiet for longer than the TCP idle timeout and then
//! carries on is one flow through the engine: one record, its bytes in one
//! stream per direction, the sink told when it went quiet, the same calls in
//! the same order for any number of workers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use capgen::script::{write_conversations, Conversation, Seg};
use engine::{EngineOptions, FlowHead, FlowRecord, Input, Sink};
use reassembly::{Dir, EndReason};

const S: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000 * S;

/// Connection A (client port 40000) is quiet from 1.1 s to 401 s and carries
/// on; B (40001) is quiet from 2 s and at 500 s a packet that does not
/// continue it arrives (a new flow); C (40002) talks every 10 s throughout.
fn capture(path: &Path) {
    let server = "10.0.0.2:9092".parse().unwrap();
    let a = Conversation {
        client: "10.0.0.1:40000".parse().unwrap(),
        server,
        segs: vec![
            Seg::client(T0, 1000, 0).syn(),
            Seg::server(T0 + 1, 5000, 1001).syn(),
            Seg::client(T0 + 2, 1001, 5001),
            Seg::client(T0 + S, 1001, 5001).data(b"produce 1\n"),
            Seg::server(T0 + S + S / 10, 5001, 1011).data(b"ack 1\n"),
            Seg::client(T0 + 401 * S, 1011, 5007).data(b"produce 2\n"),
            Seg::server(T0 + 401 * S + S / 10, 5007, 1021).data(b"ack 2\n"),
            Seg::client(T0 + 402 * S, 1021, 5013).fin(),
            Seg::server(T0 + 402 * S + 1, 5013, 1022).fin(),
            Seg::client(T0 + 402 * S + 2, 1022, 5014),
        ],
    };
    let b = Conversation {
        client: "10.0.0.3:40001".parse().unwrap(),
        server,
        segs: vec![
            Seg::client(T0 + 2 * S, 7000, 0).syn(),
            Seg::server(T0 + 2 * S + 1, 9000, 7001).syn(),
            Seg::client(T0 + 2 * S + 2, 7001, 9001).data(b"old"),
            Seg::client(T0 + 500 * S, 2_000_000_000, 12345).data(b"new"),
        ],
    };
    let mut c_segs = vec![
        Seg::client(T0 + 3 * S, 100, 0).syn(),
        Seg::server(T0 + 3 * S + 1, 300, 101).syn(),
    ];
    for i in 0..60u32 {
        c_segs.push(Seg::client(T0 + u64::from(4 + 10 * i) * S, 101 + 4 * i, 301).data(b"tick"));
    }
    let c = Conversation {
        client: "10.0.0.4:40002".parse().unwrap(),
        server,
        segs: c_segs,
    };
    let file = std::fs::File::create(path).unwrap();
    write_conversations(&[a, b, c], file).unwrap();
}

/// Every sink call in order, and each flow's bytes.
#[derive(Default)]
struct Calls {
    log: Vec<String>,
    bytes: BTreeMap<(u64, usize), Vec<u8>>,
}

impl Sink for Calls {
    fn open(&mut self, head: &FlowHead) -> anyhow::Result<()> {
        self.log.push(format!("open {}", head.id));
        Ok(())
    }
    fn write(&mut self, head: &FlowHead, dir: Dir, bytes: &[u8]) -> anyhow::Result<()> {
        self.log.push(format!(
            "write {} {} {}",
            head.id,
            dir.as_str(),
            bytes.len()
        ));
        let d = usize::from(dir == Dir::ServerToClient);
        self.bytes
            .entry((head.id, d))
            .or_default()
            .extend_from_slice(bytes);
        Ok(())
    }
    fn idle(&mut self, head: &FlowHead) -> anyhow::Result<()> {
        self.log.push(format!("idle {}", head.id));
        Ok(())
    }
    fn end_dir(&mut self, head: &FlowHead, dir: Dir) -> anyhow::Result<()> {
        self.log.push(format!("end {} {}", head.id, dir.as_str()));
        Ok(())
    }
    fn close(&mut self, record: &FlowRecord) -> anyhow::Result<()> {
        self.log.push(format!("close {}", record.head.id));
        Ok(())
    }
}

fn run(path: &Path, threads: usize) -> (Vec<FlowRecord>, Calls) {
    let opts = EngineOptions::default().with_threads(threads);
    let mut calls = Calls::default();
    let summary = engine::run_sink(&opts, Input::files([path]), &mut calls).unwrap();
    let records = summary.records().map(|r| r.unwrap().into_owned()).collect();
    (records, calls)
}

#[test]
fn a_connection_quiet_for_400_s_stays_one_flow_with_any_worker_count() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("quiet.pcap");
    capture(&path);
    let (records, calls) = run(&path, 1);
    let ids: Vec<u64> = records.iter().map(|r| r.head.id).collect();
    // A, B, C, and the flow B's non-continuing packet starts.
    assert_eq!(ids.len(), 4, "{ids:?}");
    let a = &records[0];
    assert_eq!(a.head.client.port(), 40000);
    assert_eq!(a.end, EndReason::Fin);
    assert_eq!(a.idle_resumptions, 1);
    assert_eq!(a.longest_idle, 400 * S - S / 10);
    assert_eq!(calls.bytes[&(a.head.id, 0)], b"produce 1\nproduce 2\n");
    assert_eq!(calls.bytes[&(a.head.id, 1)], b"ack 1\nack 2\n");
    assert_eq!((a.c2s.packets, a.s2c.packets), (6, 4));
    let idle_a = format!("idle {}", a.head.id);
    assert_eq!(calls.log.iter().filter(|l| **l == idle_a).count(), 1);
    let b: Vec<&FlowRecord> = records
        .iter()
        .filter(|r| r.head.client.port() == 40001)
        .collect();
    assert_eq!(
        b.len(),
        2,
        "B's packet that does not continue it is a new flow"
    );
    assert_eq!(
        (b[0].end, b[0].idle_resumptions),
        (EndReason::IdleTimeout, 0)
    );
    assert_eq!(b[0].last_ts, T0 + 2 * S + 2);
    assert_eq!(calls.bytes[&(b[1].head.id, 0)], b"new");
    let c = records
        .iter()
        .find(|r| r.head.client.port() == 40002)
        .unwrap();
    assert_eq!(c.idle_resumptions, 0);
    assert_eq!(c.c2s.bytes, 240);
    // Three workers: the same records and the same sink calls in the same order.
    let (records3, calls3) = run(&path, 3);
    assert_eq!(records3, records);
    assert_eq!(calls3.log, calls.log);
    assert_eq!(calls3.bytes, calls.bytes);
}
