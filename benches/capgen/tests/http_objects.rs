//! A capture of HTTP conversations (`GenConfig::http`) read by `streamcut
//! extract --http` gives exactly the objects capgen says it generated: the
//! same count, and for each message body (matched by request target and
//! direction) the same decoded size and SHA-256, chunking and content
//! coding, complete; with segments out of order, retransmitted and
//! overlapping on the way.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use capgen::http::HttpMix;
use capgen::{generate, ByteRange, GenConfig};
use streamcut::extract::{self, ExtractOptions};
use streamcut::job::Job;

fn config() -> GenConfig {
    GenConfig {
        seed: 19,
        flows: 12,
        concurrency: 4,
        ooo_rate: 0.05,
        retrans_rate: 0.03,
        overlap_rate: 0.02,
        ipv6_fraction: 0.3,
        wrap_fraction: 0.2,
        http: Some(HttpMix {
            exchanges: ByteRange::between(1, 5),
            body: ByteRange::between(200, 600_000),
            request_body: ByteRange::between(100, 20_000),
            post: 0.3,
            chunked: 0.5,
            gzip: 0.4,
        }),
        ..GenConfig::default()
    }
}

#[test]
fn extract_http_finds_exactly_the_generated_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let pcap = tmp.path().join("http.pcap");
    let expected = generate(&config(), std::fs::File::create(&pcap).unwrap()).unwrap();
    // What capgen generated: (uri, dir) -> object.
    let mut want = BTreeMap::new();
    for f in &expected.flows {
        for o in &f.http {
            assert!(want.insert((o.uri.clone(), o.dir.clone()), o).is_none());
        }
    }
    let all: Vec<_> = want.values().collect();
    assert!(all.len() > 30, "{} objects", all.len());
    assert!(all.iter().any(|o| o.chunked) && all.iter().any(|o| !o.chunked));
    assert!(all.iter().any(|o| o.codings == ["gzip"]));
    assert!(all.iter().any(|o| o.dir == "c2s"));
    assert!(all.iter().any(|o| o.decoded_bytes > 100_000));
    let exchanges = expected.flows.iter().map(|f| f.http.len()).max().unwrap();
    assert!(exchanges > 3, "keep-alive connections carry several");

    let out = tmp.path().join("out");
    let mut job = Job::new(vec![pcap]);
    job.engine.threads = 2;
    let mut opts = ExtractOptions::new(job, &out);
    opts.output.http = Some(http::ObjectNaming::Readable);
    extract::run(&opts).unwrap();
    let got: Vec<serde_json::Value> = std::fs::read_to_string(out.join("http/objects.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), want.len(), "object count");
    for g in &got {
        let key = (
            g["uri"].as_str().unwrap().to_string(),
            g["dir"].as_str().unwrap().to_string(),
        );
        let w = want
            .get(&key)
            .unwrap_or_else(|| panic!("not generated: {key:?}"));
        assert_eq!(g["complete"], true, "{key:?}: {g}");
        assert_eq!(g["sha256"], w.sha256.as_str(), "{key:?}");
        assert_eq!(g["decoded_bytes"], w.decoded_bytes, "{key:?}");
        // Content-coded bytes: after the chunk framing is taken off.
        assert_eq!(g["encoded_bytes"], w.wire_bytes, "{key:?}");
        assert_eq!(g["chunked"], w.chunked, "{key:?}");
        assert_eq!(g["codings"], serde_json::json!(w.codings), "{key:?}");
        assert_eq!(g["exchange"], w.exchange, "{key:?}");
        assert_eq!(g["method"], w.method.as_str(), "{key:?}");
        // The file holds the decoded body.
        let body = std::fs::read(out.join("http").join(g["file"].as_str().unwrap())).unwrap();
        assert_eq!(body.len() as u64, w.decoded_bytes);
    }
}

#[test]
fn the_naive_model_reassembles_http_streams_to_the_answer() {
    // Resent and overlapping segments regenerate the same HTTP bytes.
    let (exp, _, _) = common::check(&config());
    assert!(exp.flows.iter().all(|f| !f.http.is_empty()));
}

#[test]
fn http_captures_are_deterministic_and_streams_match_the_answer() {
    let (a, ea) = capgen::generate_to_vec(&config()).unwrap();
    let (b, eb) = capgen::generate_to_vec(&config()).unwrap();
    assert_eq!(a, b);
    assert_eq!(ea, eb);
    // Another seed, other bytes.
    let (c, _) = capgen::generate_to_vec(&GenConfig {
        seed: 20,
        ..config()
    })
    .unwrap();
    assert_ne!(a, c);
}
