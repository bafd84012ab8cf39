//! `extract --shard K/N` on every K, then `merge`, writes the directory one
//! `extract` writes, byte for byte: for every capture of `testdata/` and for
//! several inputs at once, N = 1..4, both layouts, UDP and the conflicts
//! file included. And `merge` refuses shards that do not belong together,
//! with exit status 2 and nothing written.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use streamcut::extract::{self, ExtractOptions};
use streamcut::files::Layout;
use streamcut::job::Job;
use streamcut::merge::{self, MergeOptions};
use streamcut::naming::Naming;

use common::{code, corpus, run, stderr, tree};

/// Extract `inputs` into `out` (UDP too, conflicts in `out/conflicts.jsonl`),
/// as shard `shard` when given.
fn extract_into(
    inputs: &[PathBuf],
    out: &Path,
    layout: Layout,
    naming: Naming,
    shard: Option<engine::Shard>,
    threads: usize,
) {
    let mut job = Job::new(inputs.to_vec());
    job.engine.udp = true;
    job.engine.threads = threads;
    job.engine.shard = shard;
    job.conflicts = Some(out.join("conflicts.jsonl"));
    let mut opts = ExtractOptions::new(job, out);
    opts.output.layout = layout;
    opts.output.naming = naming;
    extract::run(&opts).unwrap();
}

/// How many conflict lines the single runs wrote (the test must cover some).
fn check_split_and_merge(inputs: &[PathBuf], layout: Layout, naming: Naming) -> usize {
    let tmp = tempfile::tempdir().unwrap();
    let single = tmp.path().join("single");
    extract_into(inputs, &single, layout, naming, None, 2);
    let want = tree(&single);
    for n in 1..=4u32 {
        let dirs: Vec<PathBuf> = (0..n)
            .map(|k| {
                let d = tmp.path().join(format!("shard-{n}-{k}"));
                let shard = engine::Shard::new(k, n).unwrap();
                // Any thread count gives the same shard.
                extract_into(
                    inputs,
                    &d,
                    layout,
                    naming,
                    Some(shard),
                    1 + (k as usize % 3),
                );
                d
            })
            .collect();
        let merged = tmp.path().join(format!("merged-{n}"));
        // Shards given in reverse order: the order does not matter.
        merge::run(&MergeOptions {
            shards: dirs.iter().rev().cloned().collect(),
            output: merged.clone(),
            move_files: n == 3,
        })
        .unwrap();
        let got = tree(&merged);
        if got != want {
            let names = |t: &BTreeMap<PathBuf, Vec<u8>>| t.keys().cloned().collect::<Vec<_>>();
            let differ: Vec<&PathBuf> = want
                .iter()
                .filter(|(k, v)| got.get(*k) != Some(v))
                .map(|(k, _)| k)
                .collect();
            panic!(
                "{inputs:?} {layout:?} {naming:?}, {n} shards: merged output differs from one run \
                 (differing: {differ:?}; single {:?}; merged {:?})",
                names(&want),
                names(&got)
            );
        }
    }
    want.get(Path::new("conflicts.jsonl"))
        .map_or(0, |c| c.iter().filter(|&&b| b == b'\n').count())
}

#[test]
fn every_capture_split_and_merged_equals_one_run() {
    let captures: Vec<PathBuf> = common::captures()
        .iter()
        .map(|c| common::root().join(corpus(c)))
        .collect();
    assert!(captures.len() > 100, "the corpus is there");
    let mut conflicts = 0;
    for c in &captures {
        for layout in [Layout::Files, Layout::Packed] {
            conflicts += check_split_and_merge(std::slice::from_ref(c), layout, Naming::Default);
        }
    }
    assert!(conflicts > 0, "some capture has overlap conflicts");
}

#[test]
fn several_inputs_at_once_split_and_merged_equal_one_run() {
    let captures: Vec<PathBuf> = common::captures()
        .iter()
        .map(|c| common::root().join(corpus(c)))
        .collect();
    // Groups of neighbours (often captures of one project), and tcpflow
    // names (reused tuples numbered in flow id order) on some.
    for (i, group) in captures.chunks(7).enumerate() {
        let naming = if i % 2 == 0 {
            Naming::Default
        } else {
            Naming::Tcpflow
        };
        for layout in [Layout::Files, Layout::Packed] {
            check_split_and_merge(group, layout, naming);
        }
    }
}

// ---- merge refuses shards that do not belong together ----

const A: &str = "arkime/tcp-reassembly-synthetic.pcap";
const B: &str = "dnscap/frags.pcap";

/// `streamcut extract` with `args`, into `dir`; must succeed.
fn shard_run(dir: &Path, args: &[&str]) {
    let mut all = vec!["-q", "extract"];
    all.extend_from_slice(args);
    let d = dir.to_str().unwrap();
    all.extend_from_slice(&["-o", d]);
    let o = run(&all);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// `merge dirs -o out` must fail with status 2, an error saying `why`, and
/// leave `out` missing.
fn refused(dirs: &[&Path], out: &Path, why: &str) {
    let mut args: Vec<String> = vec!["merge".into()];
    args.extend(dirs.iter().map(|d| d.to_str().unwrap().to_string()));
    args.extend(["-o".into(), out.to_str().unwrap().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&args);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains(why), "{why:?} not in {}", stderr(&o));
    assert!(!out.exists(), "nothing written to {}", out.display());
}

/// Two shards of `a` (0/2 and 1/2) under `tmp`.
fn two(tmp: &Path) -> (PathBuf, PathBuf, String) {
    let a = corpus(A);
    let (s0, s1) = (tmp.join("s0"), tmp.join("s1"));
    shard_run(&s0, &[&a, "--shard", "0/2"]);
    shard_run(&s1, &[&a, "--shard", "1/2"]);
    (s0, s1, a)
}

#[test]
fn merge_of_the_good_shards_works() {
    let tmp = tempfile::tempdir().unwrap();
    let (s0, s1, _) = two(tmp.path());
    let out = tmp.path().join("out");
    let o = common::merge(&[&s0, &s1], &out);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(out.join("manifest.json").exists());
}

#[test]
fn merge_refuses_mismatched_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let (s0, _, a) = two(tmp.path());
    let other = tmp.path().join("other");
    shard_run(&other, &[&a, &corpus(B), "--shard", "1/2"]);
    refused(
        &[&s0, &other],
        &tmp.path().join("out"),
        "read different inputs",
    );
}

#[test]
fn merge_refuses_an_input_of_another_size() {
    // Same path, other content: the size recorded tells them apart.
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.pcap");
    let original = common::root().join(corpus(A));
    std::fs::copy(&original, &input).unwrap();
    let i = input.to_str().unwrap();
    let (s0, s1) = (tmp.path().join("s0"), tmp.path().join("s1"));
    shard_run(&s0, &[i, "--shard", "0/2"]);
    // The capture grew (a file still being written): its records twice.
    let mut longer = std::fs::read(&original).unwrap();
    longer.extend_from_slice(&std::fs::read(&original).unwrap()[24..]);
    std::fs::write(&input, &longer).unwrap();
    shard_run(&s1, &[i, "--shard", "1/2"]);
    refused(
        &[&s0, &s1],
        &tmp.path().join("out"),
        "read different inputs",
    );
}

#[test]
fn merge_refuses_mismatched_options() {
    let tmp = tempfile::tempdir().unwrap();
    let (s0, _, a) = two(tmp.path());
    let udp = tmp.path().join("udp");
    shard_run(&udp, &[&a, "--udp", "--shard", "1/2"]);
    refused(&[&s0, &udp], &tmp.path().join("out"), "different options");
    // An option the `options` block does not list: the digest catches it.
    let cap = tmp.path().join("cap");
    shard_run(&cap, &[&a, "--no-digest", "--shard", "1/2"]);
    refused(&[&s0, &cap], &tmp.path().join("out"), "different options");
    // A flow selector: shards of different selections are not one run.
    let sel = tmp.path().join("sel");
    shard_run(&sel, &[&a, "--flows", "port 80", "--shard", "1/2"]);
    refused(&[&s0, &sel], &tmp.path().join("out"), "different options");
}

#[test]
fn flow_selector_is_in_the_digest() {
    // Not only the options block: the digest of the other options too.
    let mut job = Job::new(vec![]);
    let plain = streamcut::manifest::options_digest(&job.engine, "files", Naming::Default);
    job.engine.flows = Some(engine::FlowFilter::new("port 80").unwrap());
    let sel = streamcut::manifest::options_digest(&job.engine, "files", Naming::Default);
    assert_ne!(plain, sel);
}

#[test]
fn merge_of_jsonl_shards_equals_one_run() {
    // Flows only in flows.jsonl: merge reads the shards' lists and writes
    // the one a single run writes.
    let tmp = tempfile::tempdir().unwrap();
    let d = corpus(B);
    let args = |extra: &[&'static str]| {
        let mut v = vec![d.as_str(), "--udp", "--manifest-flows", "jsonl"];
        v.extend_from_slice(extra);
        v
    };
    let single = tmp.path().join("single");
    shard_run(&single, &args(&[]));
    let (s0, s1) = (tmp.path().join("s0"), tmp.path().join("s1"));
    shard_run(&s0, &args(&["--shard", "0/2"]));
    shard_run(&s1, &args(&["--shard", "1/2"]));
    let out = tmp.path().join("out");
    let o = common::merge(&[&s0, &s1], &out);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let want = tree(&single);
    assert!(want.contains_key(Path::new("flows.jsonl")));
    assert_eq!(tree(&out), want);
    // Shards listing their flows in different places are not merged.
    let both = tmp.path().join("both");
    shard_run(&both, &[&d, "--udp", "--shard", "1/2"]);
    refused(
        &[&s0, &both],
        &tmp.path().join("out2"),
        "--manifest-flows jsonl against both",
    );
}

#[test]
fn merge_refuses_a_different_n() {
    let tmp = tempfile::tempdir().unwrap();
    let (s0, _, a) = two(tmp.path());
    let of3 = tmp.path().join("of3");
    shard_run(&of3, &[&a, "--shard", "1/3"]);
    refused(&[&s0, &of3], &tmp.path().join("out"), "N = 2 against N = 3");
}

#[test]
fn merge_refuses_a_missing_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let (s0, _, _) = two(tmp.path());
    refused(&[&s0], &tmp.path().join("out"), "shards missing: 1/2");
}

#[test]
fn merge_refuses_a_duplicate_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let (s0, s1, a) = two(tmp.path());
    let again = tmp.path().join("again");
    shard_run(&again, &[&a, "--shard", "0/2"]);
    refused(
        &[&s0, &s1, &again],
        &tmp.path().join("out"),
        "is given twice",
    );
}

#[test]
fn merge_refuses_a_directory_that_is_not_a_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let (s0, s1, a) = two(tmp.path());
    let whole = tmp.path().join("whole");
    shard_run(&whole, &[&a]);
    refused(
        &[&s0, &s1, &whole],
        &tmp.path().join("out"),
        "no shard block",
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    refused(
        &[&s0, &empty],
        &tmp.path().join("out"),
        "not a shard output directory",
    );
}

#[test]
fn merge_refuses_a_non_empty_output_and_leaves_it_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let (s0, s1, _) = two(tmp.path());
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep"), b"x").unwrap();
    let o = common::merge(&[&s0, &s1], &out);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("is not empty"), "{}", stderr(&o));
    let names: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn shard_conflicts_file_must_be_inside_the_output() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s0");
    let outside = tmp.path().join("c.jsonl");
    let o = run(&[
        "extract",
        &corpus(A),
        "--shard",
        "0/2",
        "--conflicts",
        outside.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("inside the output directory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn shard_manifest_counts_the_other_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let (s0, s1, _) = two(tmp.path());
    let whole = tmp.path().join("whole");
    shard_run(&whole, &[&corpus(A)]);
    let (m0, m1, w) = (
        common::manifest(&s0),
        common::manifest(&s1),
        common::manifest(&whole),
    );
    let n = |m: &serde_json::Value, k: &str| m["totals"][k].as_u64().unwrap();
    // Per-input totals as in one run; per-flow ones split.
    assert_eq!(n(&m0, "frames"), n(&w, "frames"));
    assert_eq!(n(&m0, "flows") + n(&m1, "flows"), n(&w, "flows"));
    assert_eq!(n(&m0, "packets") + n(&m1, "packets"), n(&w, "packets"));
    let other = |m: &serde_json::Value| m["shard"]["other_shard_packets"].as_u64().unwrap();
    assert!(other(&m0) > 0 && other(&m1) > 0);
    assert_eq!(m0["shard"]["index"], 0);
    assert_eq!(m1["shard"]["count"], 2);
    assert!(w.get("shard").is_none());
}

#[test]
fn bad_shard_arguments_are_usage_errors() {
    for bad in ["2/2", "0/0", "1", "a/b"] {
        let o = run(&[
            "extract",
            &corpus(A),
            "--shard",
            bad,
            "-o",
            "/nonexistent/x",
        ]);
        assert_eq!(code(&o), 2, "{bad}");
        assert!(
            stderr(&o).contains("invalid shard"),
            "{bad}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn flows_lists_only_its_shard() {
    let a = corpus(A);
    let all = common::stdout(&run(&["flows", &a, "--json"]));
    let mut parts: Vec<String> = Vec::new();
    for k in 0..3 {
        let s = format!("{k}/3");
        parts.extend(
            common::stdout(&run(&["flows", &a, "--json", "--shard", &s]))
                .lines()
                .map(str::to_string),
        );
    }
    let mut want: Vec<String> = all.lines().map(str::to_string).collect();
    want.sort();
    parts.sort();
    assert_eq!(parts, want);
    assert!(want.len() > 3);
}
