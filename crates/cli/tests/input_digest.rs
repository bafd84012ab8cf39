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
