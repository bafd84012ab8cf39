//! `flows.jsonl`: the flow list one object a line, in id order, beside
//! `manifest.json` (`--manifest-flows inline|jsonl|both`, default both).

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use common::{code, corpus, manifest, run, stderr};

/// Many flows, UDP and TCP.
const DNS: &str = "dnscap/dns.pcap";
const SYNTH: &str = "arkime/tcp-reassembly-synthetic.pcap";

fn extract(input: &str, out: &Path, extra: &[&str]) {
    let mut args = vec!["extract", "-q", "--udp", input, "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// The lines of `flows.jsonl`, each parsed.
fn lines(dir: &Path) -> Vec<serde_json::Value> {
    let text = fs::read_to_string(dir.join("flows.jsonl")).unwrap();
    assert!(text.ends_with('\n'));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn both_by_default_the_same_flows_in_id_order() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // Records spilled and merged back from two workers: still in id order.
    extract(
        &corpus(DNS),
        &out,
        &["--threads", "2", "--records-in-memory", "1"],
    );
    let m = manifest(&out);
    assert_eq!(m["flows_file"], "flows.jsonl");
    let inline = m["flows"].as_array().unwrap();
    let listed = lines(&out);
    assert_eq!(listed.len(), 41);
    assert_eq!(&listed, inline, "the same objects, in the same order");
    let ids: Vec<u64> = listed.iter().map(|f| f["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // Each line is the compact form of the typed flow.
    let text = fs::read_to_string(out.join("flows.jsonl")).unwrap();
    for line in text.lines() {
        let typed: streamcut::manifest::Flow = serde_json::from_str(line).unwrap();
        assert_eq!(line, serde_json::to_string(&typed).unwrap());
    }
}

#[test]
fn jsonl_leaves_the_list_out_of_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let (both, jsonl) = (tmp.path().join("both"), tmp.path().join("jsonl"));
    extract(&corpus(DNS), &both, &[]);
    extract(&corpus(DNS), &jsonl, &["--manifest-flows", "jsonl"]);
    let m = manifest(&jsonl);
    assert!(m.get("flows").is_none());
    assert_eq!(m["flows_file"], "flows.jsonl");
    assert_eq!(m["totals"], manifest(&both)["totals"]);
    assert_eq!(
        fs::read(jsonl.join("flows.jsonl")).unwrap(),
        fs::read(both.join("flows.jsonl")).unwrap()
    );
    // The typed manifest reads it back and writes it out the same.
    let text = fs::read_to_string(jsonl.join("manifest.json")).unwrap();
    let typed: streamcut::manifest::Manifest = serde_json::from_str(&text).unwrap();
    assert_eq!(typed.flows, None);
    assert_eq!(serde_json::to_string_pretty(&typed).unwrap() + "\n", text);
}

#[test]
fn inline_writes_no_flow_list_and_force_removes_an_old_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    extract(&corpus(SYNTH), &out, &[]);
    assert!(out.join("flows.jsonl").exists());
    // Rerun into the same directory: the old list must not survive.
    extract(
        &corpus(SYNTH),
        &out,
        &["--force", "--manifest-flows", "inline"],
    );
    assert!(!out.join("flows.jsonl").exists());
    let m = manifest(&out);
    assert!(m.get("flows_file").is_none());
    assert_eq!(m["flows"].as_array().unwrap().len(), 11);
}
