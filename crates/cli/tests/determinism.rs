//! The output directory (every file and the manifest) is byte-identical for
//! `--threads` 1, 2, 3 and 4 and across runs, and whether the flow records
//! stay in memory or go through temporary files (`--records-in-memory`): on
//! generated captures with out-of-order, retransmitted and overlapping data
//! over many flows, on corpus captures, in both layouts.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use capgen::{ByteRange, EndMix, GenConfig};
use streamcut::extract::{self, ExtractOptions};
use streamcut::files::Layout;
use streamcut::job::Job;

/// Every file under `dir` (relative path -> bytes).
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "run.json") {
                // Wall times and the command line: differs between runs.
                continue;
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

fn extract_tree(
    input: &Path,
    (threads, records): (usize, usize),
    layout: Layout,
    udp: bool,
) -> BTreeMap<PathBuf, Vec<u8>> {
    let out = tempfile::tempdir().unwrap();
    let mut job = Job::new(vec![input.to_path_buf()]);
    job.engine.threads = threads;
    job.engine.records_in_memory = records;
    job.engine.udp = udp;
    let mut opts = ExtractOptions::new(job, out.path());
    opts.output.layout = layout;
    opts.output.force = true;
    extract::run(&opts).unwrap();
    tree(out.path())
}

fn assert_same_for_all_thread_counts(input: &Path, layout: Layout, udp: bool) {
    let all = engine::options::RECORDS_IN_MEMORY;
    let one = extract_tree(input, (1, all), layout, udp);
    assert!(one.contains_key(Path::new("manifest.json")));
    // (threads, flow records kept in memory per worker before spilling)
    for run in [(2, all), (3, 7), (4, all), (1, all), (1, 1), (2, 3)] {
        let other = extract_tree(input, run, layout, udp);
        assert_eq!(
            one.keys().collect::<Vec<_>>(),
            other.keys().collect::<Vec<_>>(),
            "{run:?}: file names"
        );
        for (name, bytes) in &one {
            assert!(other[name] == *bytes, "{run:?}: {} differs", name.display());
        }
    }
}

fn generated(seed: u64) -> (tempfile::TempDir, PathBuf) {
    let cfg = GenConfig {
        seed,
        flows: 400,
        concurrency: 64,
        c2s_bytes: ByteRange::between(0, 20_000),
        s2c_bytes: ByteRange::between(0, 60_000),
        ooo_rate: 0.05,
        retrans_rate: 0.03,
        overlap_rate: 0.03,
        wrap_fraction: 0.2,
        ipv6_fraction: 0.3,
        udp_fraction: 0.1,
        end: EndMix {
            fin: 6,
            rst: 2,
            none: 2,
        },
        ..GenConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.pcap");
    let f = std::fs::File::create(&path).unwrap();
    capgen::generate(&cfg, std::io::BufWriter::new(f)).unwrap();
    (dir, path)
}

#[test]
fn generated_capture_files_layout() {
    let (_d, p) = generated(21);
    assert_same_for_all_thread_counts(&p, Layout::Files, true);
}

#[test]
fn generated_capture_packed_layout() {
    let (_d, p) = generated(22);
    assert_same_for_all_thread_counts(&p, Layout::Packed, false);
}

#[test]
fn corpus_captures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus");
    for rel in [
        "zeek/tcp/reassembly.pcap",
        "arkime/tcp-reassembly-synthetic.pcap",
        "tcpdump/of13_ericsson.pcapng",
        "zeek/echo-connections.pcap.gz",
        "dnscap/frags.pcap",
        "arkime/socks5-http-302-frag.pcap",
    ] {
        assert_same_for_all_thread_counts(&root.join(rel), Layout::Files, true);
    }
}
