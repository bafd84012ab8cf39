//! End to end: a TCP connection quiet for 400 s of packet time (past the
//! 300 s idle timeout) that carries on where it stopped is one flow — one
//! manifest entry with `idle_resumptions` and `longest_idle_ns`, one file per
//! direction (or one range of `streams.bin` each) holding all its bytes —
//! in both layouts, and `flows` and `follow` show one flow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use capgen::script::{write_conversations, Conversation, Seg};
use common::{code, manifest, run, stderr, stdout};

const S: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000 * S;

const C2S: &[u8] = b"GET /topic/a\nGET /topic/b\n";
const S2C: &[u8] = b"value a\nvalue b\n";

/// A Kafka-like session: a request and its answer, 400 s of silence, the
/// next request and answer, FIN both ways.
fn capture(path: &Path) {
    let conv = Conversation {
        client: "10.1.0.1:51000".parse().unwrap(),
        server: "10.1.0.2:9092".parse().unwrap(),
        segs: vec![
            Seg::client(T0, 1000, 0).syn(),
            Seg::server(T0 + 1, 5000, 1001).syn(),
            Seg::client(T0 + 2, 1001, 5001),
            Seg::client(T0 + S, 1001, 5001).data(&C2S[..13]),
            Seg::server(T0 + 2 * S, 5001, 1014).data(&S2C[..8]),
            Seg::client(T0 + 402 * S, 1014, 5009).data(&C2S[13..]),
            Seg::server(T0 + 403 * S, 5009, 1027).data(&S2C[8..]),
            Seg::client(T0 + 404 * S, 1027, 5017).fin(),
            Seg::server(T0 + 404 * S + 1, 5017, 1028).fin(),
            Seg::client(T0 + 404 * S + 2, 1028, 5018),
        ],
    };
    write_conversations(&[conv], std::fs::File::create(path).unwrap()).unwrap();
}

#[test]
fn a_quiet_connection_that_carries_on_is_one_flow_in_both_layouts() {
    let tmp = tempfile::tempdir().unwrap();
    let cap = tmp.path().join("quiet.pcap");
    capture(&cap);
    let cap = cap.to_str().unwrap();
    for layout in ["files", "packed"] {
        for threads in ["1", "2"] {
            let out = tmp.path().join(format!("out-{layout}-{threads}"));
            let o = run(&[
                "extract",
                cap,
                "-o",
                out.to_str().unwrap(),
                "--layout",
                layout,
                "-t",
                threads,
                "-q",
            ]);
            assert_eq!(code(&o), 0, "{}", stderr(&o));
            let m = manifest(&out);
            let flows = m["flows"].as_array().unwrap();
            assert_eq!(flows.len(), 1, "{layout}: {flows:?}");
            let f = &flows[0];
            assert_eq!(f["end_reason"], "fin");
            assert_eq!(f["idle_resumptions"], 1);
            assert_eq!(f["longest_idle_ns"], 400 * S);
            assert_eq!(f["last_ts"], T0 + 404 * S + 2);
            for (dir, want) in [("c2s", C2S), ("s2c", S2C)] {
                let d = &f[dir];
                assert_eq!(d["bytes"], want.len());
                assert_eq!(d["ledger"]["missing"], 0);
                let file = out.join(d["file"].as_str().unwrap());
                let all = std::fs::read(&file).unwrap();
                let got = match layout {
                    "files" => &all[..],
                    _ => {
                        let at = d["offset"].as_u64().unwrap() as usize;
                        &all[at..at + d["length"].as_u64().unwrap() as usize]
                    }
                };
                assert_eq!(got, want, "{layout} {dir}");
            }
            let files: Vec<String> = std::fs::read_dir(&out)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            // The manifest, flows.jsonl, run.json and the streams.
            let expect = if layout == "files" { 5 } else { 4 };
            assert_eq!(files.len(), expect, "{layout}: {files:?} (no spill left)");
        }
    }
    let o = run(&["flows", cap, "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let flows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0]["idle_resumptions"], 1);
    let o = run(&["follow", cap]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert_eq!(text.matches("Flow: ").count(), 1, "{text}");
    assert!(text.contains("Flow: 1 (end: fin)"), "{text}");
    let requests: Vec<&str> = text.lines().filter(|l| l.starts_with("GET")).collect();
    assert_eq!(requests, ["GET /topic/a", "GET /topic/b"]);
}
