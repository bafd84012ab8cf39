//! Flow files carry their flow's last packet time as their modification
//! time (files layout), after `extract` and after `merge`.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{code, corpus, manifest, run, stderr};

const SYNTH: &str = "arkime/tcp-reassembly-synthetic.pcap";

fn ok(args: &[&str]) {
    let o = run(args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

fn mtime(p: &Path) -> SystemTime {
    fs::metadata(p).unwrap().modified().unwrap()
}

/// Every listed file in `dir` has its flow's `last_ts` as mtime; returns
/// how many files were checked.
fn check_times(dir: &Path) -> usize {
    let m = manifest(dir);
    let mut n = 0;
    for f in m["flows"].as_array().unwrap() {
        let last = UNIX_EPOCH + Duration::from_nanos(f["last_ts"].as_u64().unwrap());
        for d in ["c2s", "s2c"] {
            if let Some(name) = f[d]["file"].as_str() {
                assert_eq!(mtime(&dir.join(name)), last, "{name}");
                n += 1;
            }
        }
    }
    n
}

#[test]
fn extract_sets_each_file_to_its_last_packet_time() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    ok(&["extract", "-q", &corpus(SYNTH), "-o", out.to_str().unwrap()]);
    assert!(check_times(&out) > 10);
    // Different flows end at different times: `ls -lt` sorts by them.
    let m = manifest(&out);
    let first = m["flows"][0]["last_ts"].as_u64().unwrap();
    assert!(m["flows"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["last_ts"].as_u64().unwrap() != first));
}

/// A file closed to stay under the open-file bound, and reopened, still
/// gets its time when its flow ends (set through its path then), with any
/// number of workers and tcpflow's names too.
#[test]
fn files_closed_to_make_room_get_their_time_too() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, extra) in [
        &["--max-open-files", "1"][..],
        &["--max-open-files", "2", "--threads", "3"],
        &["--max-open-files", "1", "--naming", "tcpflow"],
    ]
    .into_iter()
    .enumerate()
    {
        let out = tmp.path().join(format!("out{i}"));
        let mut args = vec!["extract", "-q", "-o", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let capture = corpus(SYNTH);
        args.push(&capture);
        ok(&args);
        assert!(check_times(&out) > 10, "{extra:?}");
    }
}

#[test]
fn merge_keeps_the_times() {
    let tmp = tempfile::tempdir().unwrap();
    let a = corpus(SYNTH);
    let (s0, s1, out) = (
        tmp.path().join("s0"),
        tmp.path().join("s1"),
        tmp.path().join("out"),
    );
    for (dir, k) in [(&s0, "0/2"), (&s1, "1/2")] {
        ok(&[
            "extract",
            "-q",
            &a,
            "--shard",
            k,
            "-o",
            dir.to_str().unwrap(),
        ]);
    }
    ok(&[
        "merge",
        "--move",
        s0.to_str().unwrap(),
        s1.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(check_times(&out) > 10);
}
