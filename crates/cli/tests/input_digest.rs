//! The manifest records each input file's size and SHA-256 (what
//! `sha256sum` prints); `--no-input-digest` keeps only the size; `merge`
//! refuses shards whose inputs' digests differ.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use sha2::{Digest, Sha256};

use common::{code, corpus, manifest, root, run, stderr};

const SYNTH: &str = "arkime/tcp-reassembly-synthetic.pcap";
const GZ: &str = "zeek/echo-connections.pcap.gz";

fn extract(out: &Path, args: &[&str]) {
    let mut all = vec!["extract", "-q", "-o", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = run(&all);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn inputs_have_their_size_and_sha256() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    extract(&out, &[&corpus(SYNTH), &corpus(GZ)]);
    let m = manifest(&out);
    for (i, rel) in [SYNTH, GZ].iter().enumerate() {
        // The file as stored (compressed for the .gz).
        let bytes = fs::read(root().join(corpus(rel))).unwrap();
        let input = &m["inputs"][i];
        assert_eq!(input["size"], bytes.len() as u64, "{rel}");
        assert_eq!(
            input["sha256"],
            hex::encode(Sha256::digest(&bytes)),
            "{rel}"
        );
    }
    let out = tmp.path().join("sizes");
    extract(&out, &["--no-input-digest", &corpus(SYNTH)]);
    let m = manifest(&out);
    let len = fs::metadata(root().join(corpus(SYNTH))).unwrap().len();
    assert_eq!(m["inputs"][0]["size"], len);
    assert!(m["inputs"][0].get("sha256").is_none());
}

#[test]
fn merge_refuses_an_input_of_other_content_and_the_same_size() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.pcap");
    let original = fs::read(root().join(corpus(SYNTH))).unwrap();
    fs::write(&input, &original).unwrap();
    let i = input.to_str().unwrap();
    let (s0, s1) = (tmp.path().join("s0"), tmp.path().join("s1"));
    extract(&s0, &[i, "--shard", "0/2"]);
    // One payload byte of the last frame changed: same size, same frames.
    let mut changed = original.clone();
    let last = changed.len() - 1;
    changed[last] ^= 0xff;
    fs::write(&input, &changed).unwrap();
    extract(&s1, &[i, "--shard", "1/2"]);
    let out = tmp.path().join("out");
    let o = common::merge(&[&s0, &s1], &out);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("read different inputs"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

/// A capture given as a named pipe (`extract <(zcat x.pcap.gz)`) can be read
/// only once: the engine reads it, and the manifest has neither its size nor
/// its digest. (Hashing it too used to take the bytes from the engine, which
/// then found an empty capture.)
#[test]
fn a_named_pipe_is_read_by_the_engine_only() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("in.pcap");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let bytes = fs::read(root().join(corpus(SYNTH))).unwrap();
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            // Blocks until the reader opens the pipe; a reader gone early is
            // the failure the assertions below report.
            let _ = fs::OpenOptions::new()
                .write(true)
                .open(&fifo)
                .and_then(|mut f| f.write_all(&bytes));
        })
    };
    let piped = tmp.path().join("piped");
    extract(&piped, &[fifo.to_str().unwrap()]);
    writer.join().unwrap();
    let regular = tmp.path().join("regular");
    extract(&regular, &[&corpus(SYNTH)]);
    let (p, r) = (manifest(&piped), manifest(&regular));
    assert!(p["inputs"][0]["sha256"].is_null(), "{}", p["inputs"][0]);
    assert!(p["inputs"][0]["size"].is_null(), "{}", p["inputs"][0]);
    assert_eq!(p["inputs"][0]["frames"], r["inputs"][0]["frames"]);
    assert!(r["totals"]["flows"].as_u64().unwrap() > 0);
    assert_eq!(p["totals"], r["totals"]);
    assert_eq!(p["flows"], r["flows"]);
}
