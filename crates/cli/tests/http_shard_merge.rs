//! `extract --http --shard K/N` on every K, then `merge`, writes the
//! directory one `extract --http` writes, byte for byte: the stream files,
//! `http/` with every body and `http/objects.jsonl` in the single run's
//! order, and the manifest's `http` block and options; for both
//! `--http-naming` schemes, N = 2 and 3, on real HTTP captures with many
//! flows (files layout: `--http --shard` refuses the packed layout and a
//! conflicts file). And `merge` refuses shards that differ in `--http` or
//! `--http-naming`, or whose object list does not match its files.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use streamcut::extract::{self, ExtractOptions};
use streamcut::job::Job;
use streamcut::merge::{self, MergeOptions};

use common::{code, corpus, run, stderr, tree};

/// Captures with HTTP in many flows: 14 flows of empty bodies (one SHA-256
/// name in every one), 5 flows of 17 bodies, a PDF, a retransmitted page.
const INPUTS: [&str; 4] = [
    "zeek/tunnels/gre-aruba.pcap",
    "zeek/erspan.pcap",
    "suricata-verify/lua-output-streaming/suricata-update-pdf.pcap",
    "arkime/wireshark-retrans.pcap",
];

fn inputs() -> Vec<PathBuf> {
    INPUTS
        .iter()
        .map(|c| common::root().join(corpus(c)))
        .collect()
}

/// Extract `inputs` with `--http` named by `naming` into `out`, as shard
/// `shard` when given.
fn extract_into(
    inputs: &[PathBuf],
    out: &Path,
    naming: http::ObjectNaming,
    shard: Option<engine::Shard>,
    threads: usize,
) {
    let mut job = Job::new(inputs.to_vec());
    job.engine.threads = threads;
    job.engine.shard = shard;
    let mut opts = ExtractOptions::new(job, out);
    opts.output.http = Some(naming);
    extract::run(&opts).unwrap();
}

/// The object list of an output directory: (flow, file) per line.
fn objects(dir: &Path) -> Vec<(u64, String)> {
    std::fs::read_to_string(dir.join("http/objects.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["flow"].as_u64().unwrap(),
                v["file"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Split into N = 2 and 3 shards and merge; the merged tree must be the
/// single run's. Returns how many body names were held by more than one
/// shard of a split (SHA-256 naming must meet some).
fn check(naming: http::ObjectNaming) -> usize {
    let inputs = inputs();
    let tmp = tempfile::tempdir().unwrap();
    let single = tmp.path().join("single");
    extract_into(&inputs, &single, naming, None, 2);
    let want = tree(&single);
    let objs = objects(&single);
    let flows: BTreeSet<u64> = objs.iter().map(|o| o.0).collect();
    assert!(
        objs.len() > 60 && flows.len() > 15,
        "{} objects in {} flows",
        objs.len(),
        flows.len()
    );
    let manifest = common::manifest(&single);
    assert_eq!(manifest["http"]["objects"], objs.len());
    assert_eq!(manifest["options"]["http"], naming.name());
    let mut shared = 0;
    for n in [2u32, 3] {
        let dirs: Vec<PathBuf> = (0..n)
            .map(|k| {
                let d = tmp.path().join(format!("shard-{n}-{k}"));
                let shard = engine::Shard::new(k, n).unwrap();
                extract_into(&inputs, &d, naming, Some(shard), 1 + (k as usize % 2));
                d
            })
            .collect();
        // Every shard holds objects of its own flows: the split is real.
        let mut holders: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
        for (k, d) in dirs.iter().enumerate() {
            let o = objects(d);
            assert!(!o.is_empty(), "shard {k}/{n} holds no objects");
            for (flow, file) in o {
                if naming == http::ObjectNaming::Readable {
                    // Names begin with the flow id: unique across shards.
                    assert!(file.starts_with(&format!("{flow:010}-")), "{file}");
                }
                holders.entry(file).or_default().insert(k as u32);
            }
        }
        shared += holders.values().filter(|k| k.len() > 1).count();
        let merged = tmp.path().join(format!("merged-{n}"));
        merge::run(&MergeOptions {
            shards: dirs.iter().rev().cloned().collect(),
            output: merged.clone(),
            move_files: n == 3,
        })
        .unwrap();
        let got = tree(&merged);
        let differ: Vec<&PathBuf> = want
            .keys()
            .chain(got.keys())
            .filter(|k| got.get(*k) != want.get(*k))
            .collect();
        assert!(
            differ.is_empty(),
            "{naming:?}, {n} shards: merged output differs from one run: {differ:?}"
        );
    }
    shared
}

#[test]
fn readable_names_split_and_merged_equal_one_run() {
    let shared = check(http::ObjectNaming::Readable);
    assert_eq!(shared, 0, "readable names never meet across shards");
}

#[test]
fn sha256_names_split_and_merged_equal_one_run() {
    // The empty body's digest names a file in several shards: placed once.
    let shared = check(http::ObjectNaming::Sha256);
    assert!(shared > 0, "some digest is held by two shards");
}

// ---- merge refuses --http shards that do not belong together ----

const A: &str = "zeek/erspan.pcap";

/// `streamcut -q extract A args... -o dir`; must succeed.
fn shard_run(dir: &Path, args: &[&str]) {
    let a = corpus(A);
    let mut all = vec!["-q", "extract", a.as_str()];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", dir.to_str().unwrap()]);
    let o = run(&all);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// `merge dirs -o out`: exit status `want`, and when it fails (2) an error
/// saying `why` and `out` left missing.
fn merge_cli(dirs: &[&Path], out: &Path, want: i32, why: &str) {
    let o = common::merge(dirs, out);
    assert_eq!(code(&o), want, "{}", stderr(&o));
    if want != 0 {
        assert!(stderr(&o).contains(why), "{why:?} not in {}", stderr(&o));
        assert!(!out.exists(), "nothing written to {}", out.display());
    }
}

#[test]
fn merge_refuses_shards_with_other_http_options() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    shard_run(&t.join("r0"), &["--http", "--shard", "0/2"]);
    shard_run(&t.join("r1"), &["--http", "--shard", "1/2"]);
    shard_run(
        &t.join("s1"),
        &["--http", "--http-naming", "sha256", "--shard", "1/2"],
    );
    shard_run(&t.join("p1"), &["--shard", "1/2"]);
    merge_cli(
        &[&t.join("r0"), &t.join("s1")],
        &t.join("out"),
        2,
        "different HTTP options: --http --http-naming readable against --http --http-naming sha256",
    );
    merge_cli(
        &[&t.join("r0"), &t.join("p1")],
        &t.join("out"),
        2,
        "different HTTP options: --http --http-naming readable against no --http",
    );
    // The shards that belong together merge (through the command line).
    merge_cli(&[&t.join("r0"), &t.join("r1")], &t.join("out"), 0, "");
    let single = t.join("single");
    shard_run(&single, &["--http"]);
    assert_eq!(tree(&t.join("out")), tree(&single));
}

#[test]
fn http_shards_need_the_files_layout_and_no_conflicts_file() {
    // Those outputs need one global order, which a run reading HTTP writes
    // in the assembler's order, not the flow id order merge rebuilds.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s0");
    let conflicts = out.join("conflicts.jsonl");
    for (extra, why) in [
        (vec!["--layout", "packed"], "needs the files layout"),
        (
            vec!["--conflicts", conflicts.to_str().unwrap()],
            "cannot write a conflicts file",
        ),
    ] {
        let a = corpus(A);
        let mut args = vec!["extract", a.as_str(), "--http", "--shard", "0/2"];
        args.extend_from_slice(&extra);
        args.extend_from_slice(&["-o", out.to_str().unwrap()]);
        let o = run(&args);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert!(stderr(&o).contains(why), "{why:?} not in {}", stderr(&o));
        assert!(!out.exists(), "nothing written");
    }
}

#[test]
fn merge_refuses_an_object_list_that_does_not_match_its_files() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (s0, s1) = (t.join("s0"), t.join("s1"));
    shard_run(&s0, &["--http", "--shard", "0/2"]);
    shard_run(&s1, &["--http", "--shard", "1/2"]);
    // A body file gone from a shard.
    let (_, file) = objects(&s1).into_iter().next().unwrap();
    std::fs::remove_file(s1.join("http").join(&file)).unwrap();
    merge_cli(
        &[&s0, &s1],
        &t.join("out"),
        2,
        "is in the object list but cannot be read",
    );
    // A list shorter than the manifest says.
    let list = s0.join("http/objects.jsonl");
    let text = std::fs::read_to_string(&list).unwrap();
    let first = text.lines().next().unwrap();
    std::fs::write(&list, format!("{first}\n")).unwrap();
    merge_cli(&[&s0, &s1], &t.join("out"), 2, "but its manifest says");
}
