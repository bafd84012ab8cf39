//! `--conflicts FILE` and `--policy-map FILE` through the real binary.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

fn corpus(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/corpus")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

fn streamcut(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_streamcut"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn conflicts_file_lists_every_conflict_with_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let log = dir.path().join("conflicts.jsonl");
    let cap = corpus("zeek/tcp/reassembly.pcap");
    let o = streamcut(&[
        "extract",
        &cap,
        "-o",
        out.to_str().unwrap(),
        "--conflicts",
        log.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The manifest counts the same conflicts.
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        m["totals"]["conflicts"].as_u64().unwrap(),
        lines.len() as u64
    );
    assert!(!lines.is_empty());
    // The 12 bytes at offset 13366 first came in frame 28, then differently in frame 64;
    // under `first` the frame-28 copy stays (the one Zeek calls the original).
    let l = lines.iter().find(|l| l["stream_offset"] == 13366).unwrap();
    assert_eq!(
        (
            l["old_frame"].as_u64(),
            l["new_frame"].as_u64(),
            l["len"].as_u64()
        ),
        (Some(28), Some(64), Some(12))
    );
    assert_eq!(l["winner"], "old");
    assert_eq!(l["policy"], "first");
    assert_eq!(l["old_bytes"], hex::encode("dgphrodofqhq"));
    assert_eq!(l["new_bytes"], hex::encode("orgmmpelofil"));
    assert_eq!(l["shape"], "before,after");
}

#[test]
fn last_policy_keeps_the_other_copy_and_policy_map_overrides_per_host() {
    let dir = tempfile::tempdir().unwrap();
    let cap = corpus("zeek/tcp/reassembly.pcap");
    let run = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let log = dir.path().join(format!("{name}.jsonl"));
        let mut args = vec![
            "extract",
            &cap,
            "-o",
            out.to_str().unwrap(),
            "--conflicts",
            log.to_str().unwrap(),
            "-q",
        ];
        args.extend_from_slice(extra);
        let o = streamcut(&args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let line = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|l| l["stream_offset"] == 13366)
            .unwrap();
        (
            line["winner"].as_str().unwrap().to_string(),
            line["policy"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        run("last", &["--overlap-policy", "last"]),
        ("new".into(), "last".into())
    );
    // The server (receiver of the client's bytes) is 128.3.97.175.
    let map = dir.path().join("hosts.txt");
    std::fs::write(&map, "# receiving hosts\n128.3.97.0/24 last\n").unwrap();
    assert_eq!(
        run("mapped", &["--policy-map", map.to_str().unwrap()]),
        ("new".into(), "last".into())
    );
    std::fs::write(&map, "10.0.0.0/8 last\n").unwrap();
    assert_eq!(
        run("unmapped", &["--policy-map", map.to_str().unwrap()]),
        ("old".into(), "first".into())
    );
}

#[test]
fn bad_policy_map_is_a_usage_error_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("hosts.txt");
    std::fs::write(&map, "10.0.0.0/8 first\n10.1.0.0/16 no-such-os\n").unwrap();
    let o = streamcut(&[
        "flows",
        &corpus("zeek/tcp/reassembly.pcap"),
        "--policy-map",
        map.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 2") || err.contains(":2"), "{err}");
}

/// Zeek's Quantum Insert capture: the forged response (frame 5) is delivered
/// before the real one (frame 9) arrives at the same sequence number. Only
/// with `--verify-window` is the real one compared with the delivered bytes:
/// one `delivered` conflict, also counted in the manifest, which records the
/// window; for `flows` and `follow` the same flag is accepted.
#[test]
fn verify_window_reports_retransmissions_of_delivered_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let cap = corpus("zeek/tcp/qi_internet_SYNACK_curl_jsonip.pcap");
    let run = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let log = dir.path().join(format!("{name}.jsonl"));
        let mut args = vec![
            "extract",
            &cap,
            "-o",
            out.to_str().unwrap(),
            "--conflicts",
            log.to_str().unwrap(),
            "-q",
        ];
        args.extend_from_slice(extra);
        let o = streamcut(&args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        (lines, m)
    };
    let (lines, m) = run("off", &[]);
    assert!(lines.is_empty());
    assert!(m["options"].get("verify_window").is_none());
    assert_eq!(m["flows"][0]["s2c"]["ledger"]["duplicate"], 43);

    let (lines, m) = run("on", &["--verify-window", "65536"]);
    assert_eq!(m["options"]["verify_window"], 65536);
    assert_eq!(m["totals"]["conflicts"], 1);
    assert_eq!(m["flows"][0]["s2c"]["ledger"]["overlap_lost"], 43);
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert_eq!(
        (
            l["dir"].as_str(),
            l["stream_offset"].as_u64(),
            l["len"].as_u64()
        ),
        (Some("s2c"), Some(0), Some(43))
    );
    assert_eq!(
        (l["old_frame"].as_u64(), l["new_frame"].as_u64()),
        (Some(5), Some(9))
    );
    assert_eq!(
        l["old_bytes"],
        hex::encode("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nBANG!")
    );
    assert_eq!(
        l["new_bytes"],
        hex::encode("HTTP/1.1 200 OK\r\nServer: nginx/1.4.4\r\nDate:")
    );
    assert_eq!(
        (l["winner"].as_str(), l["reason"].as_str()),
        (Some("old"), Some("delivered"))
    );
    assert!(l.get("shape").is_none());

    for cmd in ["flows", "follow"] {
        let log = dir.path().join(format!("{cmd}.jsonl"));
        let o = streamcut(&[
            cmd,
            &cap,
            "--verify-window",
            "4096",
            "--conflicts",
            log.to_str().unwrap(),
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(&log).unwrap().lines().count(),
            1,
            "{cmd}"
        );
    }
}
