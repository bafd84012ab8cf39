//! UDP message boundaries: with `--udp`, the files layout writes beside each
//! UDP direction's file an index `<file>.idx` (a header line, then
//! `offset \t length \t frame` per datagram) that splits the file back into
//! its datagrams; the packed layout writes the same lines, prefixed with
//! `flow \t dir`, to one `datagrams.idx`. The manifest names the index in
//! `index`.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use std::collections::BTreeMap;

use common::{code, corpus, manifest, merge, run, stderr, stdout, tree};

/// A Teredo capture whose DNS flows carry several datagrams each way.
const TEREDO: &str = "zeek/tunnels/Teredo.pcap";

/// dnscap's DNS capture: 41 UDP flows, a query and an answer each.
const DNS: &str = "dnscap/dns.pcap";

fn extract(out: &Path, extra: &[&str]) {
    extract_from(TEREDO, out, extra);
}

fn extract_from(capture: &str, out: &Path, extra: &[&str]) {
    let c = corpus(capture);
    let mut args = vec!["extract", "-q", "--udp", "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(&c);
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
    follow_datagrams_of(TEREDO, flow, server)
}

fn follow_datagrams_of(capture: &str, flow: u64, server: bool) -> Vec<Vec<u8>> {
    let id = flow.to_string();
    let o = run(&[
        "follow",
        "--udp",
        "--as",
        "raw",
        "--flow",
        &id,
        &corpus(capture),
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

/// A direction's datagrams: (length, frame, bytes) each.
type Datagrams = Vec<(u64, u64, Vec<u8>)>;

/// Files layout: every UDP direction's datagrams, split by its `.idx`.
fn split_files(out: &Path) -> BTreeMap<(u64, String), Datagrams> {
    let m = manifest(out);
    let mut all = BTreeMap::new();
    for f in m["flows"].as_array().unwrap() {
        for d in ["c2s", "s2c"] {
            let Some(idx) = f[d]["index"].as_str() else {
                continue;
            };
            let data = fs::read(out.join(f[d]["file"].as_str().unwrap())).unwrap();
            let split = index(&out.join(idx))
                .into_iter()
                .map(|(o, l, fr)| (l, fr, data[o as usize..(o + l) as usize].to_vec()))
                .collect();
            all.insert((f["id"].as_u64().unwrap(), d.to_string()), split);
        }
    }
    all
}

/// Packed layout: every UDP direction's datagrams, split by
/// `datagrams.idx`, checking that each direction's lines are consecutive,
/// the directions in `streams.bin` order, the offsets contiguous, and the
/// manifest names the index.
fn split_packed(out: &Path) -> BTreeMap<(u64, String), Datagrams> {
    let m = manifest(out);
    let bin = fs::read(out.join("streams.bin")).unwrap();
    let mut ranges = BTreeMap::new();
    for f in m["flows"].as_array().unwrap() {
        for d in ["c2s", "s2c"] {
            let dir = &f[d];
            let key = (f["id"].as_u64().unwrap(), d.to_string());
            if f["proto"] == "udp" && dir["length"].as_u64().is_some() {
                assert_eq!(dir["index"], "datagrams.idx", "{key:?}");
                ranges.insert(
                    key,
                    (
                        dir["offset"].as_u64().unwrap(),
                        dir["length"].as_u64().unwrap(),
                    ),
                );
            } else {
                assert!(dir.get("index").is_none(), "{key:?}");
            }
        }
    }
    let text = fs::read_to_string(out.join("datagrams.idx")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("flow\tdir\toffset\tlength\tframe"));
    let mut all: BTreeMap<(u64, String), Datagrams> = BTreeMap::new();
    let mut order: Vec<(u64, String)> = Vec::new();
    for l in lines {
        let v: Vec<&str> = l.split('\t').collect();
        assert_eq!(v.len(), 5, "{l}");
        let key = (v[0].parse::<u64>().unwrap(), v[1].to_string());
        let [o, len, frame] = [v[2], v[3], v[4]].map(|x| x.parse::<u64>().unwrap());
        if order.last() != Some(&key) {
            assert!(!order.contains(&key), "{key:?}: its lines are consecutive");
            order.push(key.clone());
        }
        let (start, dir_len) = ranges[&key];
        let split = all.entry(key.clone()).or_default();
        let at: u64 = split.iter().map(|d| d.0).sum();
        assert_eq!(o, at, "{key:?}: datagrams follow each other");
        assert!(o + len <= dir_len, "{key:?}: inside its range");
        let b = (start + o) as usize;
        split.push((len, frame, bin[b..b + len as usize].to_vec()));
    }
    let starts: Vec<u64> = order.iter().map(|k| ranges[k].0).collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "streams.bin order");
    for (key, (_, len)) in &ranges {
        let covered: u64 = all.get(key).map_or(0, |s| s.iter().map(|d| d.0).sum());
        assert_eq!(covered, *len, "{key:?}: the index covers the range");
    }
    all
}

#[test]
fn packed_layout_has_a_datagram_index() {
    let tmp = tempfile::tempdir().unwrap();
    for capture in [DNS, TEREDO] {
        let name = capture.replace('/', "_");
        let files = tmp.path().join(format!("{name}-files"));
        extract_from(capture, &files, &[]);
        let want = split_files(&files);
        assert!(want.len() >= 4, "{capture}: {}", want.len());
        let mut runs = Vec::new();
        for threads in ["1", "3"] {
            let out = tmp.path().join(format!("{name}-packed-{threads}"));
            extract_from(capture, &out, &["--layout", "packed", "--threads", threads]);
            // The same datagrams, bytes and frames as the files layout's.
            assert_eq!(split_packed(&out), want, "{capture} -t{threads}");
            runs.push(tree(&out));
        }
        assert_eq!(runs[0], runs[1], "{capture}: -t1 and -t3 write the same");
        // And as `follow --udp` shows them.
        let multi: Vec<_> = want.iter().filter(|(_, d)| d.len() > 1).collect();
        assert_eq!(multi.is_empty(), capture == DNS, "{capture}");
        for ((id, d), datagrams) in multi.into_iter().chain(want.iter().take(3)) {
            let bytes: Vec<Vec<u8>> = datagrams.iter().map(|x| x.2.clone()).collect();
            assert_eq!(
                bytes,
                follow_datagrams_of(capture, *id, d == "s2c"),
                "{capture} flow {id} {d}"
            );
        }
    }
}

#[test]
fn packed_datagram_index_survives_shard_and_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let one = tmp.path().join("one");
    extract(&one, &["--layout", "packed"]);
    let (s0, s1, out) = (
        tmp.path().join("s0"),
        tmp.path().join("s1"),
        tmp.path().join("out"),
    );
    extract(&s0, &["--layout", "packed", "--shard", "0/2"]);
    extract(&s1, &["--layout", "packed", "--shard", "1/2"]);
    for s in [&s0, &s1] {
        assert!(s.join("datagrams.idx").exists(), "{}", s.display());
    }
    let o = merge(&[&s0, &s1], &out);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(out.join("datagrams.idx")).unwrap(),
        fs::read_to_string(one.join("datagrams.idx")).unwrap()
    );
    assert_eq!(split_packed(&out), split_packed(&one));
}
