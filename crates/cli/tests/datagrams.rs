//! UDP message boundaries: with `--udp`, the files layout writes beside each
//! UDP direction's file an index `<file>.idx` (a header line, then
//! `offset \t length \t frame` per datagram) that splits the file back into
//! its datagrams; the manifest names it in `index`.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use common::{code, corpus, manifest, run, stderr, stdout};

/// A Teredo capture whose DNS flows carry several datagrams each way.
const TEREDO: &str = "zeek/tunnels/Teredo.pcap";

fn extract(out: &Path, extra: &[&str]) {
    let mut args = vec!["extract", "-q", "--udp", "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(TEREDO);
    let c = corpus(TEREDO);
    *args.last_mut().unwrap() = &c;
    let o = run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// (offset, length, frame) of each line of an index file.
fn index(path: &Path) -> Vec<(u64, u64, u64)> {
    let text = fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("offset\tlength\tframe"),
        "{}",
        path.display()
    );
    lines
        .map(|l| {
            let v: Vec<u64> = l.split('\t').map(|x| x.parse().unwrap()).collect();
            assert_eq!(v.len(), 3, "{l}");
            (v[0], v[1], v[2])
        })
        .collect()
}

/// The datagrams of one direction as `follow --udp --as raw` prints them
/// (one hex line per datagram, tab-indented for the server).
fn follow_datagrams(flow: u64, server: bool) -> Vec<Vec<u8>> {
    let id = flow.to_string();
    let o = run(&[
        "follow",
        "--udp",
        "--as",
        "raw",
        "--flow",
        &id,
        &corpus(TEREDO),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.iter().position(|l| l.starts_with("Node 1:")).unwrap() + 1;
    lines[first..]
        .iter()
        .take_while(|l| !l.starts_with("===="))
        .filter_map(|l| match l.strip_prefix('\t') {
            Some(h) => server.then_some(h),
            None => (!server).then_some(*l),
        })
        .map(|h| hex::decode(h).unwrap())
        .collect()
}

/// Check every UDP direction's index in `out` against the manifest and the
/// file; returns the directions checked with more than one datagram.
fn check(out: &Path) -> Vec<(u64, &'static str, Vec<Vec<u8>>)> {
    let m = manifest(out);
    let mut multi = Vec::new();
    for f in m["flows"].as_array().unwrap() {
        for d in ["c2s", "s2c"] {
            let dir = &f[d];
            let Some(file) = dir["file"].as_str() else {
                assert!(dir.get("index").is_none());
                continue;
            };
            if f["proto"] == "tcp" {
                assert!(dir.get("index").is_none(), "{file}");
                assert!(!out.join(format!("{file}.idx")).exists());
                continue;
            }
            assert_eq!(dir["index"], format!("{file}.idx"));
            let idx = index(&out.join(dir["index"].as_str().unwrap()));
            let data = fs::read(out.join(file)).unwrap();
            assert_eq!(idx.len() as u64, dir["packets"].as_u64().unwrap(), "{file}");
            let mut at = 0;
            let mut last_frame = 0;
            for &(offset, len, frame) in &idx {
                assert_eq!(offset, at, "{file}: datagrams follow each other");
                at += len;
                assert!(frame > last_frame, "{file}: frames in order");
                assert!(frame >= f["first_frame"].as_u64().unwrap());
                assert!(frame <= f["last_frame"].as_u64().unwrap());
                last_frame = frame;
            }
            assert_eq!(at, data.len() as u64, "{file}: the index covers the file");
            if idx.len() > 1 {
                let id = f["id"].as_u64().unwrap();
                let split = idx
                    .iter()
                    .map(|&(o, l, _)| data[o as usize..(o + l) as usize].to_vec())
                    .collect();
                multi.push((id, d, split));
            }
        }
    }
    multi
}

#[test]
fn udp_files_have_a_datagram_index() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, extra) in [
        ("default", &["--threads", "2"][..]),
        // tcpflow names: the sink gets its calls replayed from the workers.
        ("tcpflow", &["--threads", "2", "--naming", "tcpflow"][..]),
    ] {
        let out = tmp.path().join(name);
        extract(&out, extra);
        let multi = check(&out);
        assert!(multi.len() >= 4, "{name}: {multi:?}");
        // Split at its boundaries, the file gives back the datagrams
        // `follow --udp` shows.
        for (id, d, datagrams) in multi {
            assert_eq!(
                datagrams,
                follow_datagrams(id, d == "s2c"),
                "{name} flow {id} {d}"
            );
        }
    }
}

#[test]
fn packed_layout_has_no_index_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    extract(&out, &["--layout", "packed"]);
    let m = manifest(&out);
    assert!(m["flows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["c2s"].get("index").is_none() && f["s2c"].get("index").is_none()));
    let names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".idx")), "{names:?}");
}
