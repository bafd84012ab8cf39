//! `run.json`: the command line, wall-clock start and end, and version of
//! a run, kept out of the deterministic `manifest.json`; `merge` writes its
//! own, with the shards'.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use common::{code, corpus, run, stderr};

const SYNTH: &str = "arkime/tcp-reassembly-synthetic.pcap";

fn run_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

fn ok(args: &[&str]) {
    let o = run(args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn extract_writes_run_json_and_the_manifest_stays_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let input = corpus(SYNTH);
    ok(&["extract", "-q", &input, "-o", a.to_str().unwrap()]);
    ok(&[
        "extract",
        "-q",
        "--threads",
        "2",
        &input,
        "-o",
        b.to_str().unwrap(),
    ]);
    let r = run_json(&a);
    assert_eq!(r["tool"]["name"], "streamcut");
    assert_eq!(r["tool"]["version"], env!("CARGO_PKG_VERSION"));
    let argv: Vec<&str> = r["command_line"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(argv[0].ends_with("streamcut"), "{argv:?}");
    assert_eq!(
        &argv[1..],
        ["extract", "-q", &input, "-o", a.to_str().unwrap()]
    );
    let (start, end) = (
        r["start_time"].as_str().unwrap(),
        r["end_time"].as_str().unwrap(),
    );
    // RFC 3339 UTC with nine digits sorts like the time.
    assert_eq!(
        start.len(),
        "2026-01-01T00:00:00.000000000Z".len(),
        "{start}"
    );
    assert!(start.ends_with('Z') && start <= end, "{start} {end}");
    assert!(r["elapsed_ns"].as_u64().unwrap() > 0);
    // Nothing of this is in the manifest, which two runs write the same.
    let ma = fs::read(a.join("manifest.json")).unwrap();
    assert_eq!(ma, fs::read(b.join("manifest.json")).unwrap());
    assert!(!String::from_utf8(ma).unwrap().contains("start_time"));
    assert_ne!(run_json(&b)["command_line"], r["command_line"]);
}

#[test]
fn merge_writes_its_own_run_json_with_the_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let input = corpus(SYNTH);
    let (s0, s1, out) = (
        tmp.path().join("s0"),
        tmp.path().join("s1"),
        tmp.path().join("out"),
    );
    for (d, k) in [(&s0, "0/2"), (&s1, "1/2")] {
        ok(&[
            "extract",
            "-q",
            &input,
            "--shard",
            k,
            "-o",
            d.to_str().unwrap(),
        ]);
    }
    let (s0, s1, out) = (
        s0.to_str().unwrap(),
        s1.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    ok(&["merge", s1, s0, "-o", out]);
    let r = run_json(Path::new(out));
    assert_eq!(r["command_line"][1], "merge");
    let shards = r["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 2);
    assert_eq!(shards[0], run_json(Path::new(s1)));
    assert_eq!(shards[1], run_json(Path::new(s0)));
}
