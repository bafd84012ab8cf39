//! End to end through `streamcut extract` on a capture written here, packet
//! by packet: several SYN-ACKs with different ISNs (the acknowledged one
//! wins), a stray SYN-ACK after the handshake (one flow, nothing split), and
//! keep-alive probes opening a flow picked up while idle (never written).

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use capgen::{PcapWriter, TsPrecision};
use common::*;
use etherparse::PacketBuilder;
use serde_json::Value;

const CLIENT: [u8; 4] = [10, 9, 0, 1];
const SERVER: [u8; 4] = [10, 9, 0, 2];

/// One TCP packet: `c2s` from the client port to server port 80.
struct P {
    port: u16,
    c2s: bool,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    fin: bool,
    payload: Vec<u8>,
}

fn p(port: u16, c2s: bool, seq: u32, ack: Option<u32>, payload: &[u8]) -> P {
    P {
        port,
        c2s,
        seq,
        ack,
        syn: false,
        fin: false,
        payload: payload.to_vec(),
    }
}

fn synack(port: u16, isn: u32, ack: u32) -> P {
    P {
        syn: true,
        ..p(port, false, isn, Some(ack), b"")
    }
}

fn fin(mut x: P) -> P {
    x.fin = true;
    x
}

fn write_pcap(path: &Path, pkts: &[P]) {
    let f = fs::File::create(path).unwrap();
    let mut w = PcapWriter::new(f, TsPrecision::Micro).unwrap();
    for (i, x) in pkts.iter().enumerate() {
        let (src, dst, sp, dp) = if x.c2s {
            (CLIENT, SERVER, x.port, 80)
        } else {
            (SERVER, CLIENT, 80, x.port)
        };
        let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src, dst, 64)
            .tcp(sp, dp, x.seq, 65535);
        if x.syn {
            b = b.syn();
        }
        if x.fin {
            b = b.fin();
        }
        if let Some(a) = x.ack {
            b = b.ack(a);
        }
        let mut frame = Vec::with_capacity(b.size(x.payload.len()));
        b.write(&mut frame, &x.payload).unwrap();
        let ts = 1_700_000_000_000_000_000u128 + i as u128 * 1_000_000;
        w.record(ts, &frame, &[]).unwrap();
    }
    w.finish().unwrap();
}

fn flow_of(m: &Value, port: u16) -> Vec<&Value> {
    m["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["client"]["port"] == port)
        .collect()
}

fn file_bytes(out: &Path, dir: &Value) -> Vec<u8> {
    match dir["file"].as_str() {
        Some(name) => fs::read(out.join(name)).unwrap(),
        None => Vec::new(),
    }
}

fn assert_balanced(dir: &Value) {
    let l = &dir["ledger"];
    let sum: u64 = [
        "delivered",
        "duplicate",
        "overlap_lost",
        "out_of_window",
        "after_close",
        "evicted",
        "keep_alive",
    ]
    .iter()
    .map(|k| l[*k].as_u64().unwrap())
    .sum();
    assert_eq!(l["captured"].as_u64().unwrap(), sum, "{l}");
}

#[test]
fn extract_chooses_acknowledged_synack_and_drops_keepalives() {
    let tmp = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..4000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut pkts = Vec::new();
    // Flow 40001: no SYN; four SYN-ACKs; the client acknowledges the last.
    let isns = [1_000u32, 50_000_000, 3_000_000_000, 700_000];
    for isn in isns {
        pkts.push(synack(40001, isn, 101));
    }
    let real = isns[3];
    pkts.push(p(40001, true, 101, Some(real + 1), b""));
    pkts.push(p(
        40001,
        true,
        101,
        Some(real + 1),
        b"GET /big HTTP/1.0\r\n\r\n",
    ));
    for k in 0..4u32 {
        let chunk = &body[k as usize * 1000..(k as usize + 1) * 1000];
        pkts.push(p(40001, false, real + 1 + k * 1000, Some(122), chunk));
    }
    pkts.push(fin(p(40001, true, 122, Some(real + 4001), b"")));
    pkts.push(fin(p(40001, false, real + 4001, Some(123), b"")));
    pkts.push(p(40001, true, 123, Some(real + 4002), b""));
    // Flow 40002: handshake, data, a stray SYN-ACK, more data.
    pkts.push(P {
        syn: true,
        ..p(40002, true, 500, None, b"")
    });
    pkts.push(synack(40002, 9_000, 501));
    pkts.push(p(40002, true, 501, Some(9_001), b""));
    pkts.push(p(40002, true, 501, Some(9_001), b"hello "));
    pkts.push(p(40002, false, 9_001, Some(507), b"HELLO "));
    pkts.push(synack(40002, 123_456_789, 501));
    pkts.push(p(40002, true, 507, Some(9_007), b"world"));
    pkts.push(p(40002, false, 9_007, Some(512), b"WORLD"));
    // Flow 40003: picked up while idle: Windows keep-alives (one garbage
    // byte) answered by ACKs, then data.
    for _ in 0..3 {
        pkts.push(p(40003, true, 77_000, Some(3_000), b"\0"));
        pkts.push(p(40003, false, 3_000, Some(77_001), b""));
    }
    pkts.push(p(40003, true, 77_001, Some(3_000), b"ping"));
    pkts.push(p(40003, false, 3_000, Some(77_005), b"pong"));
    let cap = tmp.path().join("tcpstate.pcap");
    write_pcap(&cap, &pkts);
    let out = tmp.path().join("out");
    let o = run(&[
        "extract",
        cap.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let m = manifest(&out);

    let f1 = flow_of(&m, 40001);
    assert_eq!(f1.len(), 1);
    assert_eq!(
        file_bytes(&out, &f1[0]["c2s"]),
        b"GET /big HTTP/1.0\r\n\r\n"
    );
    assert_eq!(file_bytes(&out, &f1[0]["s2c"]), body);
    // Under the first ISN the server's bytes sat 699000 bytes in: a gap.
    assert_eq!(f1[0]["s2c"]["gaps"], serde_json::json!([]));
    assert_eq!(f1[0]["s2c"]["ledger"]["out_of_window"], 0);
    assert_eq!(f1[0]["s2c"]["ledger"]["ignored_syns"], 3);
    assert_eq!(f1[0]["end_reason"], "fin");

    let f2 = flow_of(&m, 40002);
    assert_eq!(f2.len(), 1, "the stray SYN-ACK does not split the flow");
    assert_eq!(file_bytes(&out, &f2[0]["c2s"]), b"hello world");
    assert_eq!(file_bytes(&out, &f2[0]["s2c"]), b"HELLO WORLD");
    assert_eq!(f2[0]["s2c"]["ledger"]["ignored_syns"], 1);

    let f3 = flow_of(&m, 40003);
    assert_eq!(f3.len(), 1);
    assert_eq!(file_bytes(&out, &f3[0]["c2s"]), b"ping");
    assert_eq!(file_bytes(&out, &f3[0]["s2c"]), b"pong");
    assert_eq!(f3[0]["c2s"]["ledger"]["keep_alive"], 3);
    assert_eq!(f3[0]["c2s"]["gaps"], serde_json::json!([]));

    assert_eq!(m["flows"].as_array().unwrap().len(), 3);
    for f in m["flows"].as_array().unwrap() {
        assert_balanced(&f["c2s"]);
        assert_balanced(&f["s2c"]);
    }
    let totals = &m["totals"]["ledger"];
    assert_eq!(totals["keep_alive"], 3);
    assert_eq!(totals["ignored_syns"], 4);
}
