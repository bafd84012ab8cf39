//! `extract --http` and range responses: the entities in
//! DIR/http/entities.jsonl, on a capture written here (three connections
//! fetching ranges of one file, stitched whole) and on a real one (a
//! YouTube video range in a GTP tunnel: one part, not covered).

#![allow(clippy::unwrap_used)]

mod common;

use capgen::script::{write_conversations, Conversation, Seg};
use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

const GTP: &str = "zeek/tunnels/gtp1_gn_normal_incl_fragmentation.pcap";

fn jsonl(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn hex_sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The file fetched in ranges.
fn whole() -> Vec<u8> {
    (0..90_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect()
}

/// One connection: a GET with a Range, a 206 answering it, FINs.
fn conversation(n: u16, first: usize, last: usize) -> Conversation {
    let whole = whole();
    let req = format!(
        "GET /dl/setup.exe HTTP/1.1\r\nHost: files.example\r\nRange: bytes={first}-{last}\r\n\r\n"
    );
    let mut resp = format!(
        "HTTP/1.1 206 Partial Content\r\nETag: \"abc\"\r\nContent-Range: bytes {first}-{last}/{}\r\nContent-Length: {}\r\n\r\n",
        whole.len(),
        last - first + 1
    )
    .into_bytes();
    resp.extend_from_slice(&whole[first..=last]);
    let t = 1_000_000_000 * u64::from(n);
    let (c, s) = (1000u32, 5000u32);
    let mut segs = vec![
        Seg::client(t, c, 0).syn(),
        Seg::server(t + 1, s, c + 1).syn(),
        Seg::client(t + 2, c + 1, s + 1).data(req.as_bytes()),
    ];
    let c_end = c + 1 + req.len() as u32;
    let mut seq = s + 1;
    for (i, piece) in resp.chunks(1400).enumerate() {
        segs.push(Seg::server(t + 10 + i as u64, seq, c_end).data(piece));
        seq += piece.len() as u32;
    }
    segs.push(Seg::server(t + 900, seq, c_end).fin());
    segs.push(Seg::client(t + 901, c_end, seq + 1).fin());
    Conversation {
        client: format!("10.1.0.1:{}", 40000 + n).parse().unwrap(),
        server: "10.1.0.2:80".parse().unwrap(),
        segs,
    }
}

#[test]
fn ranges_fetched_on_three_connections_are_stitched_the_same_for_any_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let pcap = tmp.path().join("ranges.pcap");
    // The middle range first, an overlapping one, the last range.
    let convs = [
        conversation(1, 30_000, 59_999),
        conversation(2, 0, 35_000),
        conversation(3, 60_000, 89_999),
    ];
    std::fs::write(&pcap, write_conversations(&convs, Vec::new()).unwrap()).unwrap();
    let mut trees = Vec::new();
    for t in ["1", "3"] {
        let out = tmp.path().join(format!("t{t}"));
        let o = run(&[
            "extract",
            pcap.to_str().unwrap(),
            "--http",
            "-t",
            t,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        trees.push(tree(&out));
        if t != "1" {
            continue;
        }
        let manifest = manifest(&out);
        assert_eq!(manifest["http"]["entities_file"], "http/entities.jsonl");
        assert_eq!(manifest["http"]["entities"], 1);
        let es = jsonl(&out.join("http/entities.jsonl"));
        assert_eq!(es.len(), 1);
        let e = &es[0];
        assert_eq!(e["host"], "files.example");
        assert_eq!(e["uri"], "/dl/setup.exe");
        assert_eq!(e["etag"], "\"abc\"");
        assert_eq!(e["length"], 90_000);
        assert_eq!(e["parts"].as_array().unwrap().len(), 3);
        assert_eq!(e["covered"], true);
        assert_eq!(e["missing"], serde_json::json!([]));
        assert_eq!(e["conflicts"], serde_json::json!([]));
        assert_eq!(e["stitched"], true);
        let file = e["file"].as_str().unwrap();
        assert!(file.ends_with("-entity-setup.exe"), "{file}");
        let bytes = std::fs::read(out.join("http").join(file)).unwrap();
        assert!(bytes == whole(), "the stitched file is not the entity");
        assert_eq!(e["sha256"], hex_sha(&bytes));
    }
    assert!(trees[0] == trees[1], "output differs between -t1 and -t3");

    // Named by digest with --http-naming sha256.
    let out = tmp.path().join("sha");
    let o = run(&[
        "extract",
        pcap.to_str().unwrap(),
        "--http",
        "--http-naming",
        "sha256",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let e = &jsonl(&out.join("http/entities.jsonl"))[0];
    assert_eq!(e["file"], hex_sha(&whole()));
    assert!(out.join("http").join(hex_sha(&whole())).is_file());
}

#[test]
fn range_parts_of_several_shards_are_stitched_by_merge() {
    // Each part's flow may land in another shard: no shard can stitch the
    // entity alone, the merge must, and the result is the single run's.
    let tmp = tempfile::tempdir().unwrap();
    let pcap = tmp.path().join("ranges.pcap");
    let convs = [
        conversation(1, 30_000, 59_999),
        conversation(2, 0, 35_000),
        conversation(3, 60_000, 89_999),
    ];
    std::fs::write(&pcap, write_conversations(&convs, Vec::new()).unwrap()).unwrap();
    let pcap = pcap.to_str().unwrap();
    let single = tmp.path().join("single");
    let o = run(&["extract", pcap, "--http", "-o", single.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut spread = false;
    for n in [2, 3] {
        let mut dirs = Vec::new();
        let mut holding = 0;
        for k in 0..n {
            let d = tmp.path().join(format!("s{k}of{n}"));
            let shard = format!("{k}/{n}");
            let o = run(&[
                "extract",
                pcap,
                "--http",
                "--shard",
                &shard,
                "-o",
                d.to_str().unwrap(),
            ]);
            assert_eq!(code(&o), 0, "{}", stderr(&o));
            holding += usize::from(!jsonl(&d.join("http/objects.jsonl")).is_empty());
            dirs.push(d);
        }
        spread |= holding > 1;
        let merged = tmp.path().join(format!("merged{n}"));
        let dirs: Vec<&std::path::Path> = dirs.iter().map(|d| d.as_path()).collect();
        let o = merge(&dirs, &merged);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(
            tree(&merged) == tree(&single),
            "{n} shards merged differ from one run"
        );
    }
    assert!(spread, "the parts never came from more than one shard");
    let e = &jsonl(&single.join("http/entities.jsonl"))[0];
    assert_eq!(e["stitched"], true);
}

#[test]
fn a_single_video_range_in_a_real_capture_is_listed_not_covered() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = run(&[
        "extract",
        &corpus(GTP),
        "--http",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let es = jsonl(&out.join("http/entities.jsonl"));
    assert_eq!(es.len(), 1);
    let e = &es[0];
    assert!(e["uri"].as_str().unwrap().starts_with("/videoplayback?"));
    // The response has no ETag; Last-Modified is its validator.
    assert_eq!(e["etag"], Value::Null);
    assert_eq!(e["last_modified"], "Sun, 20 Jun 2010 03:02:04 GMT");
    assert_eq!(e["length"], 14_740_086);
    let part = &e["parts"][0];
    assert_eq!(part["range"], serde_json::json!([1_190_472, 1_246_791]));
    // The capture lost segments of the body: the bytes before the first
    // loss (28800) are at their offsets.
    assert_eq!(part["short"], "incomplete");
    assert_eq!(part["used"], serde_json::json!([1_190_472, 28_800]));
    assert_eq!(e["covered"], false);
    assert_eq!(
        e["missing"],
        serde_json::json!([[0, 1_190_472], [1_219_272, 13_520_814]])
    );
    assert_eq!(e["file"], Value::Null);
    assert_eq!(e["no_file"], "not-covered");
    // The object itself lists the range and its losses.
    let objs = jsonl(&out.join("http/objects.jsonl"));
    assert_eq!(
        objs[0]["range"],
        serde_json::json!([1_190_472, 1_246_791, 14_740_086])
    );
    assert_eq!(objs[0]["missing"][0], serde_json::json!([28_800, 1440]));
}
