//! `extract --http` on real captures: the bodies in DIR/http/ and their list
//! in DIR/http/objects.jsonl, against tshark's export-objects answer, the
//! same for any thread count.

#![allow(clippy::unwrap_used)]

mod common;

use common::{code, corpus, root, run, stderr, tree};
use sha2::{Digest, Sha256};

const PDF: &str = "suricata-verify/lua-output-streaming/suricata-update-pdf.pcap";

fn objects(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("http/objects.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_pdf_is_extracted_whole_and_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = run(&[
        "extract",
        &corpus(PDF),
        "--http",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let objs = objects(&out);
    assert_eq!(objs.len(), 1);
    // The manifest points to the list and records the option.
    let manifest = common::manifest(&out);
    assert_eq!(manifest["http"]["file"], "http/objects.jsonl");
    assert_eq!(manifest["http"]["objects"], 1);
    assert_eq!(manifest["options"]["http"], "readable");
    let pdf = &objs[0];
    assert_eq!(pdf["file"], "0000000001-001-s2c-suricata-update.pdf");
    assert_eq!(
        pdf["uri"],
        "/pdf/suricata-update/latest/suricata-update.pdf"
    );
    assert_eq!(pdf["host"], "media.readthedocs.org");
    assert_eq!(pdf["status"], 200);
    assert_eq!(pdf["detected_type"], "application/pdf");
    assert_eq!(pdf["complete"], true);
    let bytes = std::fs::read(out.join("http").join(pdf["file"].as_str().unwrap())).unwrap();
    let sha: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(pdf["sha256"], sha);
    // tshark 4.0.17's --export-objects http gives the same bytes.
    let oracle = std::fs::read_to_string(root().join(corpus(&format!(
        "_oracle/tshark-4.0.17/{PDF}/http-objects.tsv"
    ))))
    .unwrap();
    assert!(oracle.contains(&sha), "{oracle}");
    // The body sits in the flow's s2c file at the offsets listed.
    let s2c =
        std::fs::read(out.join("0000000001-tcp-172.16.1.68.58384-162.209.114.75.80.s2c")).unwrap();
    let (from, to) = (
        pdf["body_offset"].as_u64().unwrap() as usize,
        pdf["end_offset"].as_u64().unwrap() as usize,
    );
    assert_eq!(&s2c[from..to], &bytes[..]);
}

#[test]
fn objects_do_not_depend_on_threads_and_sha256_naming_names_by_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let mut trees = Vec::new();
    for t in ["1", "3"] {
        let out = tmp.path().join(format!("t{t}"));
        let o = run(&[
            "extract",
            &corpus("zeek/erspan.pcap"),
            &corpus("arkime/wireshark-retrans.pcap"),
            "--http",
            "-t",
            t,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        trees.push(tree(&out.join("http")));
    }
    assert_eq!(trees[0], trees[1]);
    assert!(trees[0].len() > 10, "{} files", trees[0].len());
    let out = tmp.path().join("sha");
    let o = run(&[
        "extract",
        &corpus("zeek/erspan.pcap"),
        "--http",
        "--http-naming",
        "sha256",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for obj in objects(&out) {
        assert_eq!(obj["file"], obj["sha256"]);
    }
}

#[test]
fn http_naming_needs_http() {
    let o = run(&[
        "extract",
        &corpus(PDF),
        "--http-naming",
        "sha256",
        "-o",
        "/nonexistent/x",
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--http"), "{}", stderr(&o));
}
