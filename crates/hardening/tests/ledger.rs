//! The byte ledger adds up for every flow of every capture in testdata/
//! (design invariant 2), under the default settings and under caps so tiny
//! that every capture hits them.
//!
//! For each connection direction, at completion: every captured payload byte
//! is in exactly one bucket (`Ledger::balanced`), nothing is still buffered,
//! `delivered` equals the bytes the stream received, `captured` equals the
//! payload of the packets the stream took, the listed gaps add up to
//! `missing` (when none went unlisted) and the conflicts counted equal those
//! reported (checked by `hardening::record`). Over the whole capture, the
//! segments decoded are the segments the engine's assemblers took and offered
//! to their streams, and the payload bytes the streams took equal the bytes
//! the ledgers captured (checked by `hardening::pipeline`). Cap hits are
//! counted, never silent.
//!
//! Each capture file goes through the engine as the file (the engine opens,
//! maps or decompresses it) and as bytes in memory (`hardening::source`),
//! each on one worker and on three: all four give the same flows.

#![allow(clippy::unwrap_used)]

use hardening::pipeline::{extract_file, extract_slice, Extraction, Settings};
use hardening::seeds::{captures, load, testdata};

fn check(x: &Extraction, label: &str) -> (u64, u64) {
    let mut captured = 0;
    let mut cap_hits = 0;
    for f in &x.flows {
        let c = f.completion.as_ref().unwrap();
        for l in [&c.c2s, &c.s2c] {
            assert!(l.balanced(), "{label}: {l:?}");
            assert_eq!(l.buffered, 0, "{label}: {l:?}");
            captured += l.captured;
            cap_hits += l.cap_flushes + l.evicted;
        }
    }
    assert_eq!(captured, x.payload_taken, "{label}");
    (captured, cap_hits + x.assembler.evicted_connections)
}

#[test]
fn ledger_adds_up_for_every_flow_of_every_capture() {
    let paths = captures(&testdata());
    assert!(paths.len() > 100, "expected the captures of testdata/");
    let (mut flows, mut bytes, mut tiny_hits) = (0, 0, 0);
    let (mut compared, mut tiny_compared) = (0, 0);
    for p in &paths {
        let data = load(p).unwrap();
        let name = p.display().to_string();
        let x = extract_file(p, Settings::default());
        assert!(x.error.is_none(), "{name}: {:?}", x.error);
        let (captured, _) = check(&x, &format!("{name} (default)"));
        let mem = extract_slice(&data, &name, Settings::default().with_workers(&[1]));
        assert_eq!(mem.frames, x.frames, "{name}: frames, file vs memory");
        assert_eq!(mem.flows, x.flows, "{name}: flows, file vs memory");
        compared += usize::from(x.compared == [3]);
        flows += x.flows.len();
        bytes += captured;
        let t = extract_slice(&data, &name, Settings::tiny());
        let (tiny_captured, hits) = check(&t, &format!("{name} (tiny caps)"));
        tiny_compared += usize::from(t.compared == [3]);
        // Assembler caps change where bytes go, never which bytes were
        // captured (unless the tiny decoder limits dropped a segment).
        let segments = |x: &Extraction| x.decode.tcp_segments + x.decode.udp_datagrams;
        if segments(&t) == segments(&x) {
            assert_eq!(tiny_captured, captured, "{name}");
        }
        tiny_hits += hits;
    }
    assert!(
        flows > 500 && bytes > 1_000_000,
        "{flows} flows, {bytes} bytes"
    );
    assert!(tiny_hits > 100, "tiny caps were hit {tiny_hits} times");
    // One and three workers gave the same flows, flow by flow: with the
    // default caps for every capture, with tiny caps where no shared cap
    // decided anything.
    assert_eq!(
        compared,
        paths.len(),
        "default caps: runs compared flow by flow"
    );
    assert!(
        tiny_compared > 100,
        "tiny caps: {tiny_compared} runs compared flow by flow"
    );
}
